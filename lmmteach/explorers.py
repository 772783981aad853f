"""The course's interactive explorers: move a slider, watch the model answer.

Each explorer comes in three parts, so that the part worth testing needs no
browser:

* a compute function, plain Python that returns numbers
  (:func:`shrinkage_state`, lesson 2; :func:`gibbs_state`, lesson 10);
* a figure function that draws one result on a matplotlib figure
  (:func:`shrinkage_figure`, :func:`gibbs_figure`); a lesson's static example
  cell calls it with a pyplot figure;
* the widget (:func:`shrinkage_explorer`, :func:`gibbs_explorer`): sliders
  that recompute and redraw.

The widgets draw on a ``matplotlib.figure.Figure`` that pyplot does not
track and send it to the browser as a PNG image widget. A pyplot figure shown
from a widget callback is also drawn and closed by the kernel's inline
``flush_figures`` hook; in JupyterLab 4.6, where widget messages run
concurrently with that hook, every redraw after the first came out blank. A
figure's own layout engine (ArviZ's styles switch on constrained layout) is
respected: the figure functions arrange the axes themselves only when no
engine does, so no layout warning is raised.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from lmmteach import gibbs
from lmmteach.pooling import shrink, shrinkage_weight

__all__ = [
    "shrinkage_state", "shrinkage_figure", "shrinkage_explorer",
    "gibbs_state", "gibbs_figure", "gibbs_explorer",
]

_LABEL_STYLE = {"description_width": "initial"}  # labels at their full width, never cut off


def _arrange(fig, arrange) -> None:
    """Call ``arrange()`` (tight_layout, subplots_adjust) unless the figure's layout engine places the axes itself."""
    engine = fig.get_layout_engine()
    if engine is None or engine.adjust_compatible:
        arrange()


def _new_figure(figsize):
    """A figure pyplot does not track: the kernel's figure hooks never draw or close it behind a widget's back."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _live(controls: dict, panel, render):
    """The widget: ``panel`` (the controls, laid out) above a picture and a table, redrawn on every change.

    ``render(**values)`` gets the controls' values and returns the figure and
    an HTML table (or ""). The widget is a ``VBox([panel, picture, table])``.
    """
    import ipywidgets as widgets

    picture = widgets.Image(format="png")
    table = widgets.HTML()

    def refresh(_change=None):
        fig, html = render(**{name: control.value for name, control in controls.items()})
        picture.value = _png(fig)
        table.value = html

    for control in controls.values():
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([panel, picture, table])


# the shrinkage explorer (lesson 2)


def shrinkage_state(group_size: int, variance_ratio: float, group_mean: float = 1.0,
                    population_mean: float = 0.0, max_size: int = 50) -> dict:
    """Everything the shrinkage explorer draws, as plain numbers.

    ``variance_ratio`` is sigma_u^2 / sigma_e^2 (sigma_e^2 is fixed at 1).
    Returns the weight on the group's own mean, the partial-pooling estimate of
    a group whose sample mean is ``group_mean``, and the weight curve over
    group sizes 1..``max_size``.
    """
    if int(group_size) != group_size or group_size < 1:
        raise ValueError(f"group_size must be a whole number >= 1, got {group_size}")
    if not np.isfinite(variance_ratio) or variance_ratio <= 0:
        raise ValueError(f"variance_ratio must be > 0, got {variance_ratio}")
    if max_size < group_size:
        raise ValueError(f"max_size ({max_size}) must be at least group_size ({group_size})")
    sizes = np.arange(1, max_size + 1)
    weight = float(shrinkage_weight(group_size, 1.0, variance_ratio))
    return {
        "group_size": int(group_size),
        "variance_ratio": float(variance_ratio),
        "weight": weight,
        "estimate": shrink(group_mean, population_mean, weight),
        "group_mean": float(group_mean),
        "population_mean": float(population_mean),
        "half_weight_size": 1.0 / variance_ratio,  # n at which w = 1/2: n sigma_u^2 = sigma_e^2
        "sizes": sizes,
        "curve": shrinkage_weight(sizes, 1.0, variance_ratio),
    }


def shrinkage_figure(state: dict, fig=None):
    """Draw one :func:`shrinkage_state`: the weight curve, and the shrunk estimate (on a new pyplot figure by default)."""
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(9, 3.6))
    fig.clear()
    ax_curve, ax_est = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    ax_curve.plot(state["sizes"], state["curve"], color="C0")
    ax_curve.plot([state["group_size"]], [state["weight"]], "o", color="C3", markersize=8)
    ax_curve.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax_curve.set(xlabel="group size $n_j$", ylabel="weight on the group's own mean $w_j$", ylim=(0, 1.02),
                 title=f"$\\sigma_u^2/\\sigma_e^2$ = {state['variance_ratio']:.3g}:  w = {state['weight']:.2f}")
    ax_est.axhline(state["population_mean"], color="k", lw=1, label="population mean")
    ax_est.plot([0], [state["group_mean"]], "o", mfc="white", color="C0", markersize=9, label="no pooling")
    ax_est.plot([1], [state["estimate"]], "o", color="C3", markersize=9, label="partial pooling")
    ax_est.annotate("", xy=(1, state["estimate"]), xytext=(0, state["group_mean"]),
                    arrowprops={"arrowstyle": "->", "color": "grey"})
    lo = min(state["population_mean"], state["group_mean"])
    hi = max(state["population_mean"], state["group_mean"])
    pad = 0.15 * (hi - lo or 1)
    ax_est.set(xlim=(-0.5, 1.5), ylim=(lo - pad, hi + pad), xticks=[0, 1],
               xticklabels=["own mean", "shrunk"], ylabel="estimate of the group mean", title="one group")
    ax_est.legend(loc="best", fontsize=8)
    _arrange(fig, fig.tight_layout)
    return fig


def shrinkage_explorer(group_size: int = 5, variance_ratio: float = 0.2):
    """Sliders for the group size and the variance ratio sigma_u^2 / sigma_e^2 (log scale, shown as the ratio)."""
    import ipywidgets as widgets

    layout = widgets.Layout(width="480px")
    controls = {
        "group_size": widgets.IntSlider(value=group_size, min=1, max=50, description="group size n_j",
                                        style=_LABEL_STYLE, layout=layout),
        "variance_ratio": widgets.FloatLogSlider(value=variance_ratio, base=10, min=-2, max=2, step=0.05,
                                                 readout_format=".3g", description="variance ratio σu²/σe²",
                                                 style=_LABEL_STYLE, layout=layout),
    }

    def render(group_size, variance_ratio):
        return shrinkage_figure(shrinkage_state(group_size, variance_ratio), _new_figure((9, 3.6))), ""

    return _live(controls, widgets.VBox(list(controls.values())), render)


# the Gibbs explorer (lesson 10)


def gibbs_state(n: int = 100, sigma2_x: float = 5.0, sigma2_e: float = 3.0, x_mean: float = 0.0,
                prior_x=gibbs.DEFAULT_PRIOR, prior_e=gibbs.DEFAULT_PRIOR, variants=("corrected",),
                fit_mean: bool = False, m: int = 2, draws: int = 2000, burn: int = 200,
                seed: int = gibbs.SEED) -> dict:
    """Simulate one data set with the given truth and run each sampler variant on it (one chain each).

    ``fit_mean`` adds a flat-prior mean mu to the corrected sampler (the
    published one has none). Returns the data, the truth, the kept draws per
    variant and a summary table (posterior mean and 90 % interval).
    """
    if not variants:
        raise ValueError("choose at least one variant")
    for name, value in (("sigma2_x", sigma2_x), ("sigma2_e", sigma2_e)):
        if not value > 0:
            raise ValueError(f"the true {name} must be positive, got {value}")
    scenario = gibbs.Scenario(0, int(n), float(sigma2_x), float(sigma2_e), float(x_mean),
                              tuple(prior_x), tuple(prior_e), m=int(m), seed=int(seed))
    W = gibbs.simulate(scenario)
    draws_by_variant, rows = {}, []
    for variant in variants:
        can_fit_mean = variant in gibbs.VARIANTS and gibbs.VARIANTS[variant].allows_mean
        mean = "flat" if (fit_mean and can_fit_mean) else None
        idata = gibbs.sample(W, draws=draws, burn=burn, chains=1, seed=seed, prior_x=prior_x, prior_e=prior_e,
                             mean=mean, variant=variant, keep_x=False)
        kept = {name: idata.posterior[name].values[0] for name in idata.posterior.data_vars}
        draws_by_variant[variant] = kept
        for name, values in kept.items():
            lo, hi = np.quantile(values, [0.05, 0.95])
            rows.append({"variant": variant, "parameter": name, "mean": values.mean(), "q05": lo, "q95": hi})
    truth = {"sigma2_x": float(sigma2_x), "sigma2_e": float(sigma2_e), "mu": float(x_mean)}
    summary = pd.DataFrame(rows).set_index(["variant", "parameter"])
    summary["truth"] = [truth[p] for _, p in summary.index]
    summary["covers_truth"] = (summary["q05"] <= summary["truth"]) & (summary["truth"] <= summary["q95"])
    return {"W": W, "truth": truth, "draws": draws_by_variant, "summary": summary}


def _gibbs_rows(result: dict) -> tuple[list, list]:
    """The variants and the parameters of a :func:`gibbs_state` result: one figure row per pair."""
    variants = list(result["draws"])
    names = [p for p in ("sigma2_x", "sigma2_e", "mu") if any(p in d for d in result["draws"].values())]
    return variants, names


def _gibbs_figsize(result: dict) -> tuple[float, float]:
    variants, names = _gibbs_rows(result)
    return 11, 1.9 * len(names) * len(variants) + 0.6


def gibbs_figure(result: dict, fig=None):
    """Traces (left) and histograms of the draws (right) per variant; red lines mark the true values."""
    variants, names = _gibbs_rows(result)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=_gibbs_figsize(result))
    axes = fig.subplots(len(names) * len(variants), 2, squeeze=False,
                        gridspec_kw={"width_ratios": [2.2, 1]})
    row = 0
    for v_index, variant in enumerate(variants):
        colour = f"C{v_index}"
        for name in names:
            trace_ax, dens_ax = axes[row]
            values = result["draws"][variant].get(name)
            if values is None:
                trace_ax.text(0.5, 0.5, f"{variant}: no {name} in this model", ha="center", va="center",
                              transform=trace_ax.transAxes)
                dens_ax.set_axis_off()
            else:
                trace_ax.plot(values, color=colour, lw=0.5)
                dens_ax.hist(values, bins=50, density=True, color=colour, alpha=0.7, histtype="stepfilled")
                trace_ax.axhline(result["truth"][name], color="red", lw=1.5)
                dens_ax.axvline(result["truth"][name], color="red", lw=1.5)
            trace_ax.set_ylabel(f"{name}\n({variant})", fontsize=9)
            row += 1
    axes[0, 0].set_title("trace (red: true value)")
    axes[0, 1].set_title("posterior draws")
    axes[-1, 0].set_xlabel("iteration after burn-in")
    # fixed margins: tight_layout is slow for a slider
    _arrange(fig, lambda: fig.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.08, hspace=0.45, wspace=0.12))
    return fig


def gibbs_explorer():
    """Sliders for n, the true variances, the mean of X and the priors; redraws on release."""
    import ipywidgets as widgets

    layout = widgets.Layout(width="440px")

    def log_slider(value, lo, hi, label):  # moves on a log scale, shows the value itself
        return widgets.FloatLogSlider(value=value, base=10, min=lo, max=hi, step=0.05, description=label,
                                      readout_format=".3g", continuous_update=False, style=_LABEL_STYLE,
                                      layout=layout)

    def checkbox(value, label):
        return widgets.Checkbox(value=value, description=label, indent=False, layout=widgets.Layout(width="auto"))

    controls = {
        "n": widgets.IntSlider(value=100, min=10, max=1000, step=10, description="n (rows)",
                               continuous_update=False, style=_LABEL_STYLE, layout=layout),
        "sigma2_x": log_slider(5.0, -1, 3, "true sigma2_x"),
        "sigma2_e": log_slider(3.0, -1, 3, "true sigma2_e"),
        "x_mean": widgets.FloatSlider(value=0.0, min=0.0, max=100.0, step=1.0, description="mean of X",
                                      continuous_update=False, style=_LABEL_STYLE, layout=layout),
        "a_x": log_slider(0.1, -1, 1.5, "prior shape a_x"),
        "b_x": log_slider(1.0, -1, 3, "prior rate b_x"),
        "a_e": log_slider(0.1, -1, 1.5, "prior shape a_e"),
        "b_e": log_slider(1.0, -1, 3, "prior rate b_e"),
        "both": checkbox(True, "also run the published sampler"),
        "fit_mean": checkbox(False, "corrected sampler estimates a mean mu"),
    }

    def render(n, sigma2_x, sigma2_e, x_mean, a_x, b_x, a_e, b_e, both, fit_mean):
        variants = ("corrected", "published") if both else ("corrected",)
        result = gibbs_state(n=n, sigma2_x=sigma2_x, sigma2_e=sigma2_e, x_mean=x_mean, prior_x=(a_x, b_x),
                             prior_e=(a_e, b_e), variants=variants, fit_mean=fit_mean)
        fig = gibbs_figure(result, _new_figure(_gibbs_figsize(result)))
        return fig, result["summary"].round(2).to_html()

    left = widgets.VBox([controls[k] for k in ("n", "sigma2_x", "sigma2_e", "x_mean", "both", "fit_mean")])
    right = widgets.VBox([controls[k] for k in ("a_x", "b_x", "a_e", "b_e")])
    return _live(controls, widgets.HBox([left, right]), render)
