"""lmmteach.plots: what can be checked without looking at the figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from lmmteach import ols, plots
from lmmteach.data import load_ciproxifan


@pytest.fixture(scope="module")
def result():
    return ols.fit("WAKE ~ Treatment * Genotype", load_ciproxifan())


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_four_labelled_panels(result):
    fig = plots.regression_diagnostics(result)
    assert len(fig.axes) == 4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Residuals vs Fitted", "Normal Q-Q", "Scale-Location", "Residuals vs Leverage"]
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel()


def test_points_are_the_model_quantities(result):
    fig = plots.regression_diagnostics(result)
    ax_rf, ax_qq, ax_sl, ax_rl = fig.axes
    np.testing.assert_allclose(ax_rf.collections[0].get_offsets(), np.column_stack([result.fittedvalues, result.resid]))
    qq = ax_qq.collections[0].get_offsets()
    np.testing.assert_allclose(qq[:, 1], np.sort(result.std_resid))
    np.testing.assert_allclose(qq[:, 0], stats.norm.ppf((np.arange(1, 34) - 0.5) / 33))
    np.testing.assert_allclose(ax_sl.collections[0].get_offsets()[:, 1], np.sqrt(np.abs(result.std_resid)))
    np.testing.assert_allclose(ax_rl.collections[0].get_offsets(), np.column_stack([result.hat, result.std_resid]))


def test_smoothers_and_cooks_contours(result):
    fig = plots.regression_diagnostics(result)
    ax_rf, _, ax_sl, ax_rl = fig.axes
    for ax in (ax_rf, ax_sl, ax_rl):
        assert any(line.get_label() == "lowess smoother" for line in ax.get_lines())
    gids = [line.get_gid() for line in ax_rl.get_lines()]
    assert gids.count("cook-0.5") == 2 and gids.count("cook-1") == 2   # upper and lower branch each
    # the contour really is Cook's distance 0.5: D computed from its points equals 0.5
    upper = next(line for line in ax_rl.get_lines() if line.get_gid() == "cook-0.5")
    h, r = upper.get_data()
    np.testing.assert_allclose(r**2 * h / ((1 - h) * result.n_params), 0.5)


def test_largest_points_are_labelled(result):
    fig = plots.regression_diagnostics(result, n_label=2)
    ax_rf = fig.axes[0]
    texts = sorted(t.get_text() for t in ax_rf.texts)
    expected = sorted(str(i + 1) for i in np.argsort(-np.abs(result.resid))[:2])
    assert texts == expected


def test_accepts_statsmodels_results(result):
    fit = smf.ols("WAKE ~ Treatment * Genotype", load_ciproxifan()).fit()
    fig = plots.regression_diagnostics(fit)
    np.testing.assert_allclose(fig.axes[3].collections[0].get_offsets(), np.column_stack([result.hat, result.std_resid]))


def test_diagnostics_bad_input(result):
    with pytest.raises(ValueError, match="fitted linear model"):
        plots.regression_diagnostics([1, 2, 3])
    with pytest.raises(ValueError, match="labels"):
        plots.regression_diagnostics(result, labels=["a", "b"])


def test_shrinkage_plot_draws_inputs():
    no_pool = pd.Series([1.0, 3.0, -2.0, 0.5], index=list("abcd"))
    partial = pd.Series([0.8, 2.0, -0.5, 0.5], index=list("abcd"))
    sizes = pd.Series([20, 3, 1, 8], index=list("abcd"))
    ax = plots.shrinkage_plot(no_pool, partial.iloc[::-1], sizes, pooled=0.4)   # reversed: aligned on the index
    raw = next(c for c in ax.collections if c.get_gid() == "no-pooling")
    shrunk = next(c for c in ax.collections if c.get_gid() == "partial-pooling")
    np.testing.assert_allclose(raw.get_offsets(), np.column_stack([sizes, no_pool]))
    np.testing.assert_allclose(shrunk.get_offsets(), np.column_stack([sizes, partial]))
    # point area grows with group size
    assert np.all(np.diff(raw.get_sizes()[np.argsort(sizes.to_numpy())]) > 0)
    line = next(l for l in ax.get_lines() if l.get_gid() == "complete-pooling")
    assert np.all(np.asarray(line.get_ydata()) == 0.4)
    assert len(ax.texts) == 3            # one arrow per group that moved (d did not)
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert ax.get_xscale() == "log"      # sizes span a factor 20


def test_shrinkage_plot_order_axis():
    ax = plots.shrinkage_plot([3.0, 1.0, 2.0], [2.0, 1.5, 1.8], [1, 2, 3], pooled=1.7, x="order")
    raw = next(c for c in ax.collections if c.get_gid() == "no-pooling")
    np.testing.assert_allclose(raw.get_offsets()[:, 0], [3, 1, 2])


def test_shrinkage_plot_bad_input():
    with pytest.raises(ValueError, match="same length"):
        plots.shrinkage_plot([1.0, 2.0], [1.0], [1, 2], pooled=0.0)
    with pytest.raises(ValueError, match="sizes must be > 0"):
        plots.shrinkage_plot([1.0, 2.0], [1.0, 2.0], [0, 2], pooled=0.0)
    with pytest.raises(ValueError, match="finite"):
        plots.shrinkage_plot(pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0], index=["a"]), [1, 2], pooled=0.0)
    with pytest.raises(ValueError, match="x must be"):
        plots.shrinkage_plot([1.0], [1.0], [1], pooled=0.0, x="rank")


def test_shrinkage_plot_draws_the_shrinkage_target():
    no_pool = pd.Series([1.0, 3.0, -2.0], index=list("abc"))
    ax = plots.shrinkage_plot(no_pool, no_pool / 2 + 0.6, [5, 2, 1], pooled=0.4, target=1.2)
    target = next(l for l in ax.get_lines() if l.get_gid() == "shrinkage-target")
    assert np.all(np.asarray(target.get_ydata()) == 1.2)
    assert any("1.2" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(ValueError, match="target"):
        plots.shrinkage_plot(no_pool, no_pool, [5, 2, 1], pooled=0.4, target=float("nan"))


def test_labels_of_neighbouring_points_do_not_overprint(result):
    fig = plots.regression_diagnostics(result, n_label=3)
    for ax in fig.axes:
        fig.canvas.draw()
        boxes = [t.get_window_extent() for t in ax.texts if t.get_text().isdigit()]
        for i, a in enumerate(boxes):
            assert not any(a.overlaps(b) for b in boxes[i + 1:]), ax.get_title()


def test_legend_lists_only_visible_cooks_contours(result):
    ax_rl = plots.regression_diagnostics(result).axes[3]
    y_lo, y_hi = ax_rl.get_ylim()
    legend = [t.get_text() for t in ax_rl.get_legend().get_texts()]
    for line in ax_rl.get_lines():
        if str(line.get_gid()).startswith("cook-"):
            h, r = line.get_data()
            shown = bool(np.any((r > y_lo) & (r < y_hi) & (h <= ax_rl.get_xlim()[1])))
            assert (f"Cook's distance {line.get_gid()[5:]}" in legend) == shown
    assert "Cook's distance 1" not in legend       # never reaches the plotted range for these data
    assert any("beyond the plotted range" in t.get_text() for t in ax_rl.texts)


def test_units_label_the_response_axes(result):
    ax_rf, ax_qq, ax_sl, _ = plots.regression_diagnostics(result, units="% of recording").axes
    assert ax_rf.get_xlabel() == "fitted values (% of recording)" and ax_rf.get_ylabel() == "residuals (% of recording)"
    assert ax_sl.get_xlabel() == "fitted values (% of recording)" and "%" not in ax_qq.get_ylabel()


def test_a_one_row_factor_level_has_leverage_one_and_is_named():
    """The only row of a level is fitted exactly: leverage 0.9999999999999998 in floating point, not 1."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"y": rng.normal(size=12), "x": rng.normal(size=12), "g": ["a"] * 6 + ["b"] * 5 + ["c"]})
    fit = ols.fit("y ~ x + g", frame)
    assert fit.hat[-1] == pytest.approx(1.0, abs=1e-12) and np.isnan(fit.std_resid[-1]) and np.isnan(fit.cooks_distance[-1])
    with pytest.raises(ValueError, match=r"observation\(s\) \[11\] have leverage 1"):
        plots.regression_diagnostics(fit)
