"""Tests of the Gibbs explorer: its compute function without a browser, and that the widget builds."""

import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest

from lmmteach import gibbs_explorer


def test_compute_recovers_the_truth_with_the_corrected_sampler():
    result = gibbs_explorer.compute(n=300, sigma2_x=100.0, sigma2_e=1.0, variants=("corrected", "published"))
    summary = result["summary"]
    assert summary.loc[("corrected", "sigma2_x"), "covers_truth"]
    assert summary.loc[("corrected", "sigma2_e"), "covers_truth"]
    assert not summary.loc[("published", "sigma2_e"), "covers_truth"]
    assert summary.loc[("published", "sigma2_e"), "mean"] > 10
    assert result["W"].shape == (300, 2)
    assert len(result["draws"]["corrected"]["sigma2_x"]) == 1800


def test_compute_with_a_mean_fixes_a_shifted_effect():
    plain = gibbs_explorer.compute(sigma2_x=1.0, sigma2_e=100.0, x_mean=50.0, prior_x=(2, 2), prior_e=(2, 200))
    fixed = gibbs_explorer.compute(sigma2_x=1.0, sigma2_e=100.0, x_mean=50.0, prior_x=(2, 2), prior_e=(2, 200),
                                   fit_mean=True)
    assert plain["summary"].loc[("corrected", "sigma2_x"), "mean"] > 1000
    assert fixed["summary"].loc[("corrected", "mu"), "covers_truth"]
    assert fixed["summary"].loc[("corrected", "sigma2_x"), "mean"] < 20


def test_compute_is_fast_enough_for_a_slider():
    gibbs_explorer.compute(n=50)  # warm up
    start = time.perf_counter()
    gibbs_explorer.compute(n=1000, variants=("corrected", "published"), fit_mean=True)
    assert time.perf_counter() - start < 0.5


def test_compute_rejects_bad_settings():
    with pytest.raises(ValueError, match="sigma2_x"):
        gibbs_explorer.compute(sigma2_x=0.0)
    with pytest.raises(ValueError, match="variant"):
        gibbs_explorer.compute(variants=())
    with pytest.raises(ValueError, match="prior_e"):
        gibbs_explorer.compute(prior_e=(1.0, 0.0))


def test_figure_marks_the_truth_in_every_panel():
    result = gibbs_explorer.compute(n=50, variants=("corrected", "published"), fit_mean=True)
    fig = gibbs_explorer.figure(result)
    axes = fig.axes
    assert len(axes) == 12  # (3 parameters x 2 variants) rows, trace and density columns
    red = [ax for ax in axes if any(line.get_color() == "red" for line in ax.get_lines())]
    assert len(red) == 10   # every panel except the published sampler's missing mu (trace and density)
    plt.close(fig)


def test_explorer_builds_and_redraws_without_a_browser(monkeypatch):
    calls = []
    real_compute = gibbs_explorer.compute

    def counting_compute(**kwargs):
        calls.append(kwargs)
        return real_compute(**kwargs)

    monkeypatch.setattr(gibbs_explorer, "compute", counting_compute)
    ui = gibbs_explorer.explorer()
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


def test_figure_is_quick_enough_for_a_slider():
    result = gibbs_explorer.compute(n=500, variants=("corrected", "published"))
    start = time.perf_counter()
    fig = gibbs_explorer.figure(result)
    fig.canvas.draw()
    assert time.perf_counter() - start < 1.5
    plt.close(fig)
