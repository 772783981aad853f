"""Static figures the lessons share: R's four regression diagnostics, a shrinkage plot, SBC rank histograms.

``regression_diagnostics(result)`` draws, in one figure, what R's
``plot(lm_fit)`` draws: residuals vs fitted (with a lowess smoother), a normal
Q-Q plot of the standardised residuals, scale-location, and residuals vs
leverage with Cook's distance contours at 0.5 and 1. The most extreme points
are labelled with their row number.

``shrinkage_plot(no_pool, partial_pool, sizes, pooled)`` draws each group's
own estimate (open circle), its partial-pooling estimate (filled), an arrow
between them, point areas by group size, and the complete-pooling line.

``rank_histograms(sbc_result)`` draws the ranks of a simulation-based
calibration (:mod:`lmmteach.sbc`) with a simultaneous band (all bins of a
uniform histogram stay in it at least 95 % of the time);
``sbc_ecdf_difference(sbc_result)`` draws the ECDF difference of the ranks
with the simultaneous band of Säilynoja, Bürkner and Vehtari (2022).

The interactive explorers live in :mod:`lmmteach.explorers`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["regression_diagnostics", "shrinkage_plot", "diagnostic_quantities", "rank_histograms",
           "sbc_ecdf_difference"]

LEVERAGE_TOL = 1e-8  # a leverage above 1 - LEVERAGE_TOL is 1 up to rounding

COOK_LEVELS = (0.5, 1.0)


def diagnostic_quantities(result) -> dict:
    """Fitted values, residuals, standardised residuals, leverages, Cook's distances, p.

    Reads the course's own :class:`lmmteach.ols.OLSResult` or a statsmodels OLS
    result, one small reader per type; anything else is a ValueError.
    """
    from lmmteach.ols import OLSResult

    if isinstance(result, OLSResult):
        out = _course_ols_quantities(result)
    elif _is_statsmodels_ols(result):
        out = _statsmodels_ols_quantities(result)
    else:
        raise ValueError(
            f"regression_diagnostics needs a fitted linear model (lmmteach.ols.fit or statsmodels OLS), "
            f"got {type(result).__name__}"
        )
    at_one = np.flatnonzero(~(out["hat"] < 1 - LEVERAGE_TOL) | ~np.isfinite(out["std_resid"]))
    if at_one.size:
        raise ValueError(
            f"observation(s) {at_one[:10].tolist()} have leverage 1 (to {LEVERAGE_TOL:g}): the fit passes through "
            "them exactly (e.g. the only row of a factor level), so their standardised residuals and Cook's "
            "distances are 0/0; drop them or merge that level"
        )
    return out


def _course_ols_quantities(result) -> dict:
    """lmmteach.ols.fit computes every diagnostic itself."""
    return {
        "fitted": np.asarray(result.fittedvalues, dtype=float),
        "resid": np.asarray(result.resid, dtype=float),
        "std_resid": np.asarray(result.std_resid, dtype=float),
        "hat": np.asarray(result.hat, dtype=float),
        "cooks": np.asarray(result.cooks_distance, dtype=float),
        "p": int(result.n_params),
    }


def _is_statsmodels_ols(result) -> bool:
    from statsmodels.regression.linear_model import OLS

    return isinstance(getattr(result, "model", None), OLS)


def _statsmodels_ols_quantities(result) -> dict:
    """statsmodels keeps the leverage-based quantities in its influence object."""
    influence = result.get_influence()
    return {
        "fitted": np.asarray(result.fittedvalues, dtype=float),
        "resid": np.asarray(result.resid, dtype=float),
        "std_resid": np.asarray(influence.resid_studentized_internal, dtype=float),
        "hat": np.asarray(influence.hat_matrix_diag, dtype=float),
        "cooks": np.asarray(influence.cooks_distance[0], dtype=float),
        "p": int(len(result.params)),
    }


def _lowess(ax, x, y, frac=2 / 3):
    from statsmodels.nonparametric.smoothers_lowess import lowess

    smooth = lowess(y, x, frac=frac, it=3, return_sorted=True)
    ax.plot(smooth[:, 0], smooth[:, 1], color="C3", lw=1.5, label="lowess smoother")


def _label_largest(ax, x, y, score, labels, k):
    """Label the k points with the largest score; a label whose point sits next to an already labelled one
    goes to the other side (left, then below), so that two labels never print as one number ("2712")."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    span_x, span_y = np.ptp(x) or 1.0, np.ptp(y) or 1.0
    sides = [((4, 2), "left", "baseline"), ((-4, 2), "right", "baseline"), ((4, -3), "left", "top")]
    placed = []   # (x, y, side) of the labels drawn so far
    for i in np.argsort(-np.asarray(score), kind="stable")[:k]:
        near = {side for px, py, side in placed
                if abs(px - x[i]) < 0.05 * span_x and abs(py - y[i]) < 0.08 * span_y}
        side = next((j for j in range(len(sides)) if j not in near), 0)
        offset, ha, va = sides[side]
        ax.annotate(str(labels[i]), (x[i], y[i]), xytext=offset, textcoords="offset points", fontsize=8,
                    color="0.25", ha=ha, va=va)
        placed.append((x[i], y[i], side))


def regression_diagnostics(result, labels=None, n_label: int = 3, figsize=(10, 8), units: str | None = None):
    """One figure with R's four diagnostic plots of a linear model; returns the figure.

    ``units`` (for example "% of recording") labels the axes that carry the response's units: fitted values
    and raw residuals. Standardised residuals and leverages have no units.
    """
    import matplotlib.pyplot as plt

    q = diagnostic_quantities(result)
    n = len(q["resid"])
    labels = np.arange(1, n + 1) if labels is None else np.asarray(labels)
    if len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} observations")
    if n_label < 0:
        raise ValueError("n_label must be >= 0")
    fitted, resid, std, hat, cooks, p = (q[k] for k in ("fitted", "resid", "std_resid", "hat", "cooks", "p"))
    in_units = f" ({units})" if units else ""

    fig, axes = plt.subplots(2, 2, figsize=figsize)
    ax_rf, ax_qq, ax_sl, ax_rl = axes.ravel()
    point = {"s": 22, "facecolors": "none", "edgecolors": "k", "linewidths": 0.8}

    ax_rf.scatter(fitted, resid, **point)
    ax_rf.axhline(0, color="grey", ls="--", lw=0.8)
    _lowess(ax_rf, fitted, resid)
    _label_largest(ax_rf, fitted, resid, np.abs(resid), labels, n_label)
    ax_rf.set(title="Residuals vs Fitted", xlabel=f"fitted values{in_units}", ylabel=f"residuals{in_units}")

    order = np.argsort(std, kind="stable")
    theoretical = stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n)
    ax_qq.scatter(theoretical, std[order], **point)
    # reference line through the first and third quartiles, like R's qqline
    tq, sq = stats.norm.ppf([0.25, 0.75]), np.quantile(std, [0.25, 0.75])
    slope = (sq[1] - sq[0]) / (tq[1] - tq[0])
    ax_qq.axline((tq[0], sq[0]), slope=slope, color="grey", ls="--", lw=0.8)
    _label_largest(ax_qq, theoretical, std[order], np.abs(std[order]), labels[order], n_label)
    ax_qq.set(title="Normal Q-Q", xlabel="theoretical quantiles", ylabel="standardised residuals")

    root = np.sqrt(np.abs(std))
    ax_sl.scatter(fitted, root, **point)
    _lowess(ax_sl, fitted, root)
    _label_largest(ax_sl, fitted, root, root, labels, n_label)
    ax_sl.set(title="Scale-Location", xlabel=f"fitted values{in_units}", ylabel=r"$\sqrt{|\mathrm{standardised\ residuals}|}$")

    ax_rl.scatter(hat, std, **point)
    _lowess(ax_rl, hat, std)
    ax_rl.axhline(0, color="grey", ls=":", lw=0.8)
    h_max = max(hat.max() * 1.1, 1e-3)
    h = np.linspace(h_max / 200, min(h_max, 0.999), 200)
    # show at least the 0.5 contour at the largest leverage, so the reader sees how far away it is
    reach = np.sqrt(COOK_LEVELS[0] * p * (1 - h[-1]) / h[-1])
    y_max = max(np.abs(std).max(), 2.0)
    y_max = 1.1 * max(y_max, min(reach, 3 * y_max))
    off_plot = []
    for level, style in zip(COOK_LEVELS, ("--", "-.")):
        # Cook's D = std^2 h / (p (1 - h))  =>  std = +/- sqrt(D p (1 - h) / h)
        bound = np.sqrt(level * p * (1 - h) / h)
        visible = bound.min() < y_max
        if not visible:
            off_plot.append(f"{level:g}")
        ax_rl.plot(h, bound, color="C1", ls=style, lw=1, gid=f"cook-{level:g}",
                   label=f"Cook's distance {level:g}" if visible else "_nolegend_")
        ax_rl.plot(h, -bound, color="C1", ls=style, lw=1, gid=f"cook-{level:g}")
        if bound[-1] < y_max:
            for sign in (1, -1):
                ax_rl.annotate(f"{level:g}", (h[-1], sign * bound[-1]), xytext=(2, 0), textcoords="offset points",
                               fontsize=8, color="C1", va="center")
    y_lo, y_hi = -y_max, y_max
    _label_largest(ax_rl, hat, std, cooks, labels, n_label)
    ax_rl.set(title="Residuals vs Leverage", xlabel="leverage (hat value)", ylabel="standardised residuals",
              xlim=(0, h_max), ylim=(y_lo, y_hi))
    if off_plot:   # named in the panel, not in the legend: a legend entry promises a visible line
        ax_rl.text(0.02, 0.98, f"Cook's distance {' and '.join(off_plot)}: beyond the plotted range",
                   transform=ax_rl.transAxes, ha="left", va="top", fontsize=8, color="C1", gid="cook-off-plot")
    ax_rl.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def shrinkage_plot(no_pool, partial_pool, sizes, pooled, *, x="size", ax=None,
                   ylabel="group estimate", title="Partial pooling shrinks group estimates", logx=None,
                   target=None):
    """No-pooling vs partial-pooling estimates per group, with arrows for the shrinkage.

    ``no_pool``, ``partial_pool`` and ``sizes`` are aligned per group (pandas
    Series are aligned on their index); ``pooled`` is the complete-pooling
    estimate, drawn as a dashed horizontal line. ``target``, when given, is the
    value the estimates shrink towards (a mixed model's population mean, which
    need not equal the grand mean), drawn as a solid line. ``x="size"`` puts groups at their
    size (log axis when sizes span more than a factor 10), ``x="order"`` at
    their rank by no-pooling estimate. Returns the axes.
    """
    import matplotlib.pyplot as plt

    if isinstance(no_pool, pd.Series):
        partial_pool = pd.Series(partial_pool, index=no_pool.index) if not isinstance(partial_pool, pd.Series) \
            else partial_pool.reindex(no_pool.index)
        sizes = pd.Series(sizes, index=no_pool.index) if not isinstance(sizes, pd.Series) else sizes.reindex(no_pool.index)
    raw = np.asarray(no_pool, dtype=float)
    shrunk = np.asarray(partial_pool, dtype=float)
    n = np.asarray(sizes, dtype=float)
    if not (raw.shape == shrunk.shape == n.shape) or raw.ndim != 1:
        raise ValueError(f"no_pool, partial_pool and sizes must be 1-D and the same length, got "
                         f"{raw.shape}, {shrunk.shape}, {n.shape}")
    if not (np.all(np.isfinite(raw)) and np.all(np.isfinite(shrunk)) and np.all(np.isfinite(n))):
        raise ValueError("estimates and sizes must be finite (a NaN, or a group missing from one of the inputs?)")
    if np.any(n <= 0):
        raise ValueError("group sizes must be > 0")
    if x not in ("size", "order"):
        raise ValueError(f"x must be 'size' or 'order', got {x!r}")

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.5))
    if x == "size":
        pos = n.copy()
        xlabel = "group size (number of observations)"
        if logx is None:
            logx = n.max() / n.min() > 10
    else:
        pos = np.empty_like(raw)
        pos[np.argsort(raw, kind="stable")] = np.arange(1, len(raw) + 1)
        xlabel = "groups, ordered by their own (no-pooling) estimate"
        logx = False
    area = 15 + 185 * (n / n.max())
    for xi, a, b in zip(pos, raw, shrunk):
        if a != b:
            ax.annotate("", xy=(xi, b), xytext=(xi, a),
                        arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.8, "shrinkA": 2, "shrinkB": 2})
    ax.scatter(pos, raw, s=area, facecolors="none", edgecolors="C0", linewidths=1.2, label="no pooling (own mean)",
               gid="no-pooling", zorder=3)
    ax.scatter(pos, shrunk, s=area, color="C3", alpha=0.8, label="partial pooling", gid="partial-pooling", zorder=4)
    ax.axhline(pooled, color="k", lw=1.2, ls="--", label=f"complete pooling ({pooled:.4g})", gid="complete-pooling")
    if target is not None:
        if not np.isfinite(target):
            raise ValueError(f"target must be a finite number, got {target!r}")
        ax.axhline(target, color="C2", lw=1.5, ls="-", label=f"shrinkage target ({target:.4g})", gid="shrinkage-target")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="best", fontsize=8, markerscale=0.6)
    return ax


def rank_histograms(result, bins: int = 20, axes=None, color="C0", prob: float = 0.95):
    """Rank histograms of an SBC result (:class:`lmmteach.sbc.SBCResult`), one panel per parameter.

    The shaded band is simultaneous: when the ranks are uniform, *all* bins lie
    inside it with probability at least ``prob`` (Bonferroni: each bin gets
    level 1 - (1 - prob) / bins). A band at level ``prob`` for each bin would
    be left by some bin far more often. Returns the axes.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(result.ranks.columns), figsize=(4 * len(result.ranks.columns), 3),
                               sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    n_sims = len(result.ranks)
    alpha = (1 - prob) / bins
    lo, hi = stats.binom(n_sims, 1 / bins).ppf([alpha / 2, 1 - alpha / 2])
    edges = np.linspace(0, result.L + 1, bins + 1)
    for ax, name in zip(axes, result.ranks.columns):
        ax.axhspan(lo, hi, color="0.85", label=f"{prob:.0%} band, all bins at once")
        ax.axhline(n_sims / bins, color="0.5", lw=1)
        ax.hist(result.ranks[name], bins=edges, color=color, edgecolor="white")
        ax.set_title(f"{name} ({result.variant})")
        ax.set_xlabel(f"rank of the truth (of {result.L} draws)")
    axes[0].set_ylabel("data sets")
    axes[0].legend(loc="upper center", fontsize=8)
    return axes


def sbc_ecdf_difference(result, axes=None, color="C0", prob: float = 0.95):
    """ECDF difference F(z) - z of an SBC result's ranks, with the simultaneous ``prob`` band; one panel each.

    Säilynoja, Bürkner and Vehtari (2022): a calibrated sampler's curve stays
    inside the whole band with probability ``prob``; a curve that leaves it
    anywhere rejects uniform ranks at level 1 - prob. Above zero: too many
    small ranks (the sampler overestimates); below: too many large ranks;
    a hump or a trough: too wide or too narrow. Returns the axes.
    """
    import matplotlib.pyplot as plt

    from lmmteach import sbc

    if axes is None:
        _, axes = plt.subplots(1, len(result.ranks.columns), figsize=(4 * len(result.ranks.columns), 3),
                               sharey=True, layout="constrained")
    axes = np.atleast_1d(axes)
    diff = sbc.ecdf_difference(result.ranks, result.L)
    band = sbc.ecdf_band(len(result.ranks), result.L, prob=prob)
    z = diff.index.to_numpy()
    for ax, name in zip(axes, result.ranks.columns):
        ax.fill_between(z, band["lower"], band["upper"], step="mid", color="0.85",
                        label=f"{prob:.0%} simultaneous band")
        ax.axhline(0, color="0.5", lw=1)
        ax.step(z, diff[name], where="mid", color=color, label="ECDF of ranks minus uniform")
        ax.set_title(f"{name} ({result.variant})")
        ax.set_xlabel("fractional rank z")
    axes[0].set_ylabel("F(z) - z")
    axes[0].legend(loc="lower left", fontsize=8)
    return axes
