"""Tests of lmmteach.explorers: the compute functions without a browser, the figures, and the widgets' redraws."""

import warnings

import matplotlib

matplotlib.use("Agg")

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from lmmteach import explorers


# --- the shrinkage explorer (lesson 2)

def test_shrinkage_state_is_plain_python():
    state = explorers.shrinkage_state(group_size=4, variance_ratio=0.25, group_mean=2.0, population_mean=1.0)
    assert state["weight"] == pytest.approx(0.5)            # n sigma_u^2 = sigma_e^2 at n = 1/ratio = 4
    assert state["half_weight_size"] == pytest.approx(4.0)
    assert state["estimate"] == pytest.approx(1.5)
    assert len(state["sizes"]) == len(state["curve"]) == 50
    assert state["curve"][3] == pytest.approx(state["weight"])
    assert np.all(np.diff(state["curve"]) > 0)
    with pytest.raises(ValueError, match="group_size"):
        explorers.shrinkage_state(0, 1.0)
    with pytest.raises(ValueError, match="variance_ratio"):
        explorers.shrinkage_state(3, 0.0)


def test_shrinkage_explorer_builds_and_draws():
    import ipywidgets as widgets

    explorer = explorers.shrinkage_explorer(group_size=7, variance_ratio=0.1)
    sliders = {w.description: w for w in explorer.children[0].children}
    assert sliders["group size n_j"].value == 7
    ratio = sliders["variance ratio σu²/σe²"]
    assert isinstance(ratio, widgets.FloatLogSlider)     # moves on a log scale ...
    assert ratio.value == pytest.approx(0.1)             # ... and shows the ratio itself, not its log10
    fig = explorers.shrinkage_figure(explorers.shrinkage_state(7, 0.1))
    assert len(fig.axes) == 2 and "w = 0.41" in fig.axes[0].get_title()
    plt.close("all")


# --- the Gibbs explorer (lesson 10)

def test_compute_recovers_the_truth_with_the_corrected_sampler():
    result = explorers.gibbs_state(n=300, sigma2_x=100.0, sigma2_e=1.0, variants=("corrected", "published"))
    summary = result["summary"]
    assert summary.loc[("corrected", "sigma2_x"), "covers_truth"]
    assert summary.loc[("corrected", "sigma2_e"), "covers_truth"]
    assert not summary.loc[("published", "sigma2_e"), "covers_truth"]
    assert summary.loc[("published", "sigma2_e"), "mean"] > 10
    assert result["W"].shape == (300, 2)
    assert len(result["draws"]["corrected"]["sigma2_x"]) == 1800


def test_compute_with_a_mean_fixes_a_shifted_effect():
    plain = explorers.gibbs_state(sigma2_x=1.0, sigma2_e=100.0, x_mean=50.0, prior_x=(2, 2), prior_e=(2, 200))
    fixed = explorers.gibbs_state(sigma2_x=1.0, sigma2_e=100.0, x_mean=50.0, prior_x=(2, 2), prior_e=(2, 200),
                                  fit_mean=True)
    assert plain["summary"].loc[("corrected", "sigma2_x"), "mean"] > 1000
    assert fixed["summary"].loc[("corrected", "mu"), "covers_truth"]
    assert fixed["summary"].loc[("corrected", "sigma2_x"), "mean"] < 20


def test_compute_rejects_bad_settings():
    with pytest.raises(ValueError, match="sigma2_x"):
        explorers.gibbs_state(sigma2_x=0.0)
    with pytest.raises(ValueError, match="variant"):
        explorers.gibbs_state(variants=())
    with pytest.raises(ValueError, match="prior_e"):
        explorers.gibbs_state(prior_e=(1.0, 0.0))


def test_figure_marks_the_truth_in_every_panel():
    result = explorers.gibbs_state(n=50, variants=("corrected", "published"), fit_mean=True)
    fig = explorers.gibbs_figure(result)
    axes = fig.axes
    assert len(axes) == 12  # (3 parameters x 2 variants) rows, trace and density columns
    red = [ax for ax in axes if any(line.get_color() == "red" for line in ax.get_lines())]
    assert len(red) == 10   # every panel except the published sampler's missing mu (trace and density)
    plt.close(fig)


def test_explorer_builds_and_redraws_without_a_browser(monkeypatch):
    calls = []
    real_compute = explorers.gibbs_state

    def counting_compute(**kwargs):
        calls.append(kwargs)
        return real_compute(**kwargs)

    monkeypatch.setattr(explorers, "gibbs_state", counting_compute)
    ui = explorers.gibbs_explorer()
    sliders = [w for box in ui.children[0].children for w in box.children]
    descriptions = {w.description for w in sliders}
    assert {"n (rows)", "true sigma2_x", "true sigma2_e", "mean of X", "prior shape a_x", "prior rate b_e"} <= descriptions
    assert len(calls) == 1                      # drawn once when built
    n_slider = next(w for w in sliders if w.description == "n (rows)")
    n_slider.value = 40                         # moving a slider recomputes with the new value
    assert len(calls) == 2 and calls[-1]["n"] == 40
    both = next(w for w in sliders if w.description.startswith("also run"))
    both.value = False
    assert calls[-1]["variants"] == ("corrected",)
    plt.close("all")


# --- both widgets: what broke them in JupyterLab 4.6 (issue 14)

@pytest.fixture(params=["default style", "arviz-whitegrid"])
def style(request):
    """The explorers run with matplotlib's defaults (lesson 2) and under ArviZ's style, constrained layout on (lesson 10)."""
    if request.param == "default style":
        yield
        return
    with plt.style.context(az.style.library["arviz-whitegrid"]):
        assert plt.rcParams["figure.constrained_layout.use"]
        yield


def _move_every_control(ui):
    """Change each slider and checkbox once, as a student would."""
    import ipywidgets as widgets

    def controls(widget):
        if isinstance(widget, widgets.Box):
            for child in widget.children:
                yield from controls(child)
        elif isinstance(widget, (widgets.Checkbox, widgets.IntSlider)):
            yield widget
        elif isinstance(widget, (widgets.FloatSlider, widgets.FloatLogSlider)):
            yield widget

    moved = 0
    for control in controls(ui.children[0]):
        if isinstance(control, widgets.Checkbox):
            control.value = not control.value
        elif isinstance(control, widgets.FloatLogSlider):
            control.value = control.base ** ((control.min + control.max) / 2)
        else:
            control.value = control.min + 2 * control.step
        moved += 1
    return moved


@pytest.mark.parametrize("build", [lambda: explorers.shrinkage_explorer(), lambda: explorers.gibbs_explorer()],
                         ids=["shrinkage", "gibbs"])
def test_updates_warn_nothing_and_leave_no_pyplot_figure(style, build):
    import ipywidgets as widgets

    open_before = plt.get_fignums()
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a layout warning (or any other) fails the test
        ui = build()
        picture = next(w for w in ui.children if isinstance(w, widgets.Image))
        first = picture.value
        assert first[:8] == b"\x89PNG\r\n\x1a\n"
        assert _move_every_control(ui) >= 2
    assert picture.value[:8] == b"\x89PNG\r\n\x1a\n" and picture.value != first   # the picture follows the sliders
    assert plt.get_fignums() == open_before     # nothing for the kernel's pyplot hooks to draw or close


def test_labels_are_never_cut_off():
    import ipywidgets as widgets

    for ui in (explorers.shrinkage_explorer(), explorers.gibbs_explorer()):
        boxes = [ui.children[0]]
        controls = []
        while boxes:
            box = boxes.pop()
            for child in box.children:
                (boxes if isinstance(child, widgets.Box) else controls).append(child)
        for control in controls:
            if isinstance(control, widgets.Checkbox):
                assert control.indent is False and control.layout.width == "auto", control.description
            else:
                assert control.style.description_width == "initial", control.description


def test_figure_functions_respect_a_constrained_layout_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for draw, state in ((explorers.gibbs_figure, explorers.gibbs_state(n=30, draws=300, burn=50)),
                            (explorers.shrinkage_figure, explorers.shrinkage_state(3, 0.5))):
            fig = draw(state, Figure(figsize=(8, 4), layout="constrained"))
            fig.canvas.draw()
            assert fig.get_layout_engine().__class__.__name__ == "ConstrainedLayoutEngine"
