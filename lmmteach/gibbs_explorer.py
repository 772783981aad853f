"""An ipywidgets explorer for the Gibbs note's scenarios: move a slider, watch the posterior move.

``compute`` is plain Python (simulate, sample, summarise) and is what the tests
call; ``figure`` draws its result; ``explorer`` wires both to sliders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmmteach import gibbs

PARAMETERS = ("sigma2_x", "sigma2_e")


def compute(n: int = 100, sigma2_x: float = 5.0, sigma2_e: float = 3.0, x_mean: float = 0.0,
            prior_x=(0.1, 1.0), prior_e=(0.1, 1.0), variants=("corrected",), fit_mean: bool = False,
            m: int = 2, draws: int = 2000, burn: int = 200, seed: int = gibbs.SEED) -> dict:
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
        mean = "flat" if (fit_mean and variant == "corrected") else None
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


def figure(result: dict, fig=None):
    """Traces (left) and histograms of the draws (right) per variant; red lines mark the true values."""
    import matplotlib.pyplot as plt

    variants = list(result["draws"])
    names = [p for p in ("sigma2_x", "sigma2_e", "mu") if any(p in d for d in result["draws"].values())]
    if fig is None:
        fig = plt.figure(figsize=(11, 1.9 * len(names) * len(variants) + 0.6))
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
    fig.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.08, hspace=0.45, wspace=0.12)  # tight_layout is slow
    return fig


def explorer():
    """Sliders for n, the true variances, the mean of X and the priors; redraws on release."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    style = {"description_width": "150px"}
    layout = widgets.Layout(width="420px")
    log_slider = lambda value, lo, hi, label: widgets.FloatLogSlider(
        value=value, base=10, min=lo, max=hi, step=0.05, description=label, continuous_update=False,
        style=style, layout=layout)
    controls = {
        "n": widgets.IntSlider(value=100, min=10, max=1000, step=10, description="n (rows)",
                               continuous_update=False, style=style, layout=layout),
        "sigma2_x": log_slider(5.0, -1, 3, "true sigma2_x"),
        "sigma2_e": log_slider(3.0, -1, 3, "true sigma2_e"),
        "x_mean": widgets.FloatSlider(value=0.0, min=0.0, max=100.0, step=1.0, description="mean of X",
                                      continuous_update=False, style=style, layout=layout),
        "a_x": log_slider(0.1, -1, 1.5, "prior shape a_x"),
        "b_x": log_slider(1.0, -1, 3, "prior rate b_x"),
        "a_e": log_slider(0.1, -1, 1.5, "prior shape a_e"),
        "b_e": log_slider(1.0, -1, 3, "prior rate b_e"),
        "both": widgets.Checkbox(value=True, description="also run the published sampler"),
        "fit_mean": widgets.Checkbox(value=False, description="corrected sampler estimates a mean mu"),
    }

    def show(n, sigma2_x, sigma2_e, x_mean, a_x, b_x, a_e, b_e, both, fit_mean):
        variants = ("corrected", "published") if both else ("corrected",)
        result = compute(n=n, sigma2_x=sigma2_x, sigma2_e=sigma2_e, x_mean=x_mean, prior_x=(a_x, b_x),
                         prior_e=(a_e, b_e), variants=variants, fit_mean=fit_mean)
        figure(result)
        plt.show()
        display(result["summary"].round(2))

    out = widgets.interactive_output(show, controls)
    left = widgets.VBox([controls[k] for k in ("n", "sigma2_x", "sigma2_e", "x_mean", "both", "fit_mean")])
    right = widgets.VBox([controls[k] for k in ("a_x", "b_x", "a_e", "b_e")])
    return widgets.VBox([widgets.HBox([left, right]), out])
