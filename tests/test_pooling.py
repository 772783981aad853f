"""lmmteach.pooling: the shrinkage formula against statsmodels MixedLM's conditional modes."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from lmmteach import pooling
from lmmteach.data import load_ciproxifan, load_radon


def mixedlm(formula, data, group):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm(formula, data, groups=data[group]).fit(reml=True, method="bfgs", gtol=1e-10)


def modes(fit, index):
    return np.array([fit.random_effects[k].iloc[0] for k in index])


def test_radon_partial_pooling_equals_mixedlm_blups():
    radon = load_radon()
    fit = mixedlm("log_radon ~ 1", radon, "county")
    s2e, s2u = fit.scale, float(fit.cov_re.iloc[0, 0])
    assert pooling.gls_mean(radon["log_radon"], radon["county"], s2e, s2u) == pytest.approx(fit.fe_params.iloc[0], abs=1e-10)
    est = pooling.partial_pooling(radon["log_radon"], radon["county"], s2e, s2u)
    np.testing.assert_allclose(est.to_numpy(), fit.fe_params.iloc[0] + modes(fit, est.index), atol=1e-10)


def test_ciproxifan_random_intercepts_with_covariates_equal_mixedlm():
    cipro = load_ciproxifan()
    fit = mixedlm("WAKE ~ Treatment * Genotype", cipro, "id")
    resid = cipro["WAKE"] - fit.model.exog @ fit.fe_params.to_numpy()
    u = pooling.random_intercepts(resid, cipro["id"], fit.scale, float(fit.cov_re.iloc[0, 0]))
    np.testing.assert_allclose(u.to_numpy(), modes(fit, u.index), atol=1e-10)


def test_unbalanced_random_design_equals_mixedlm():
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 15, size=25)
    g = np.repeat(np.arange(25), sizes)
    y = 3 + rng.normal(0, 1.5, 25)[g] + rng.normal(0, 2, g.size)
    frame = pd.DataFrame({"y": y, "g": pd.Categorical(g)})
    fit = mixedlm("y ~ 1", frame, "g")
    est = pooling.partial_pooling(frame["y"], frame["g"], fit.scale, float(fit.cov_re.iloc[0, 0]))
    np.testing.assert_allclose(est.to_numpy(), fit.fe_params.iloc[0] + modes(fit, est.index), atol=1e-9)


def test_weight_is_precision_ratio_and_limits():
    n = np.array([1, 4, 100])
    w = pooling.shrinkage_weight(n, sigma_e2=4.0, sigma_u2=1.0)
    np.testing.assert_allclose(w, (n / 4.0) / (n / 4.0 + 1.0))
    assert np.all(np.diff(w) > 0)                          # bigger groups shrink less
    assert np.all(pooling.shrinkage_weight(n, 1.0, 0.0) == 0)  # no between-group variance: pool completely
    assert pooling.shrinkage_weight(10**9, 1.0, 1.0) == pytest.approx(1.0)


def test_complete_and_no_pooling_and_table():
    y = pd.Series([1.0, 3.0, 10.0, 12.0, 11.0])
    g = pd.Series(pd.Categorical(["a", "a", "b", "b", "b"]))
    assert pooling.complete_pooling(y) == pytest.approx(7.4)
    np.testing.assert_allclose(pooling.no_pooling(y, g), [2.0, 11.0])
    table = pooling.pooling_table(y, g, sigma_e2=1.0, sigma_u2=1.0)
    assert list(table.columns) == ["n", "no_pooling", "weight", "partial_pooling", "complete_pooling"]
    np.testing.assert_allclose(table["weight"], [2 / 3, 3 / 4])
    mu = pooling.gls_mean(y, g, 1.0, 1.0)
    np.testing.assert_allclose(table["partial_pooling"], mu + table["weight"] * (table["no_pooling"] - mu))
    # every partial-pooling estimate lies between its own mean and mu
    lo = np.minimum(table["no_pooling"], mu)
    hi = np.maximum(table["no_pooling"], mu)
    assert np.all((table["partial_pooling"] >= lo) & (table["partial_pooling"] <= hi))
    assert pooling.shrink(3.0, 1.0, 0.25) == pytest.approx(1.5) and pooling.shrink(3.0, 1.0, 0.0) == 1.0


def test_bad_input():
    y, g = [1.0, 2.0, 3.0], ["a", "b", "b"]
    with pytest.raises(ValueError, match="two groups"):
        pooling.no_pooling(y, ["a", "a", "a"])
    with pytest.raises(ValueError, match="NaN"):
        pooling.no_pooling([1.0, np.nan, 3.0], g)
    with pytest.raises(ValueError, match="values but groups"):
        pooling.no_pooling(y, ["a", "b"])
    with pytest.raises(ValueError, match="sigma_u2"):
        pooling.partial_pooling(y, g, 1.0, -1.0)
    with pytest.raises(ValueError, match="sigma_e2"):
        pooling.shrinkage_weight(3, 0.0, 1.0)
    with pytest.raises(ValueError, match="numeric"):
        pooling.no_pooling(["x", "y", "z"], g)



@pytest.mark.parametrize("mu, error, words", [(np.nan, ValueError, "must be finite"), (np.inf, ValueError, "must be finite"),
                                              ("0", TypeError, "must be a number"), (np.zeros(2), TypeError, "must be a number")])
def test_partial_pooling_refuses_a_bad_mu(mu, error, words):
    y, groups = np.array([1.0, 2.0, 3.0, 4.0]), np.array(["a", "a", "b", "b"])
    with pytest.raises(error, match=words):
        pooling.partial_pooling(y, groups, 1.0, 1.0, mu=mu)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda y, g: pooling.partial_pooling(y, g, "1", 1.0), TypeError, "sigma_e2 \\(the residual variance\\) must be a number, got str"),
        (lambda y, g: pooling.partial_pooling(y, g, 1.0, None), TypeError, "sigma_u2 .* must be a number, got NoneType"),
        (lambda y, g: pooling.partial_pooling(y, g, 1.0, np.array([1.0, 2.0])), TypeError, "sigma_u2 .* must be a number, got ndarray"),
        (lambda y, g: pooling.pooling_table(y, g, 1.0, [1.0]), TypeError, "sigma_u2 .* must be a number, got list"),
        (lambda y, g: pooling.gls_mean(y, g, np.nan, 1.0), ValueError, "sigma_e2 .* must be finite"),
        (lambda y, g: pooling.shrinkage_weight(3, True, 1.0), TypeError, "sigma_e2 .* must be a number, got bool"),
        (lambda y, g: pooling.shrinkage_weight("3", 1.0, 1.0), TypeError, "n \\(the group sizes\\) must hold numbers"),
        (lambda y, g: pooling.complete_pooling("abc"), TypeError, "y must hold numbers"),
        (lambda y, g: pooling.complete_pooling([True, False]), TypeError, "y must hold numbers.*bool"),
        (lambda y, g: pooling.no_pooling(None, g), ValueError, "y must be a 1-d sequence"),
        (lambda y, g: pooling.no_pooling(3.0, g), ValueError, "y must be a 1-d sequence"),
        (lambda y, g: pooling.no_pooling(y, "ab"), ValueError, "groups must be a 1-d sequence"),
    ],
)
def test_strings_arrays_and_none_where_a_number_belongs_are_named(call, error, words):
    """Before: NumPy's casting errors ('ufunc isfinite not supported'), or a silent answer for '3' and True."""
    with pytest.raises(error, match=words):
        call(np.array([1.0, 2.0, 3.0, 4.0]), np.array(["a", "a", "b", "b"]))
