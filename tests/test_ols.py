"""lmmteach.ols against statsmodels, on the ciproxifan data and on random designs."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from lmmteach import ols
from lmmteach.data import load_ciproxifan

TOL = 1e-8


def assert_same_as_statsmodels(ours, theirs):
    """Every number of the summary and every per-row diagnostic, to TOL."""
    np.testing.assert_allclose(ours.params.to_numpy(), np.asarray(theirs.params), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.bse.to_numpy(), np.asarray(theirs.bse), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.tvalues.to_numpy(), np.asarray(theirs.tvalues), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.pvalues.to_numpy(), np.asarray(theirs.pvalues), rtol=1e-6, atol=TOL)
    np.testing.assert_allclose(ours.cov_params.to_numpy(), np.asarray(theirs.cov_params()), rtol=TOL, atol=TOL)
    assert ours.sigma == pytest.approx(np.sqrt(theirs.scale), rel=TOL)
    assert ours.df_resid == theirs.df_resid
    assert ours.df_model == theirs.df_model
    assert ours.rsquared == pytest.approx(theirs.rsquared, rel=TOL)
    assert ours.rsquared_adj == pytest.approx(theirs.rsquared_adj, rel=TOL)
    assert ours.fvalue == pytest.approx(theirs.fvalue, rel=TOL)
    assert ours.f_pvalue == pytest.approx(theirs.f_pvalue, rel=1e-6, abs=1e-300)
    np.testing.assert_allclose(ours.fittedvalues, np.asarray(theirs.fittedvalues), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.resid, np.asarray(theirs.resid), rtol=TOL, atol=TOL)
    influence = theirs.get_influence()
    np.testing.assert_allclose(ours.hat, influence.hat_matrix_diag, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.std_resid, influence.resid_studentized_internal, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(ours.cooks_distance, influence.cooks_distance[0], rtol=TOL, atol=TOL)


@pytest.fixture(scope="module")
def cipro():
    return load_ciproxifan()


def test_ciproxifan_interaction_matches_statsmodels(cipro):
    ours = ols.fit("WAKE ~ Treatment * Genotype", cipro)
    theirs = smf.ols("WAKE ~ Treatment * Genotype", cipro).fit()
    # statsmodels orders the columns differently; align by the coefficient meaning
    order = ["Intercept", "Treatment", "Genotype[T.ko]", "Treatment:Genotype[T.ko]"]
    assert list(ours.params.index) == ["Intercept", "Treatment", "Genotype[ko]", "Treatment:Genotype[ko]"]
    theirs = sm.OLS(theirs.model.endog, theirs.model.exog[:, [theirs.model.exog_names.index(n) for n in order]]).fit()
    assert_same_as_statsmodels(ours, theirs)


def test_ciproxifan_reproduces_listing_1(cipro):
    r = ols.fit("WAKE ~ Treatment * Genotype", cipro)
    np.testing.assert_allclose(r.params, [44.5675, 2.9591, -0.5100, -0.0925], atol=5e-5)  # to the 4 decimals printed
    np.testing.assert_allclose(r.bse, [2.7044, 0.4776, 3.8697, 0.6759], atol=5e-5)
    assert round(r.sigma, 3) == 8.224 and r.df_resid == 29
    assert round(r.rsquared, 4) == 0.7195 and round(r.rsquared_adj, 4) == 0.6905
    assert round(r.fvalue, 2) == 24.79


def test_reference_level_is_first_category(cipro):
    flipped = cipro.assign(Genotype=cipro["Genotype"].cat.reorder_categories(["ko", "wt"]))
    r = ols.fit("WAKE ~ Treatment * Genotype", flipped)
    assert "Genotype[wt]" in r.params.index
    # the wt intercept is the ko intercept minus the ko effect
    base = ols.fit("WAKE ~ Treatment * Genotype", cipro)
    assert r.params["Intercept"] == pytest.approx(base.params["Intercept"] + base.params["Genotype[ko]"])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_random_arrays_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    n, p = rng.integers(8, 80), rng.integers(1, 6)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p)) * rng.uniform(0.1, 100, size=p)])
    y = X @ rng.normal(size=p + 1) + rng.standard_t(4, size=n) * rng.uniform(0.1, 10)
    assert_same_as_statsmodels(ols.fit(X, y), sm.OLS(y, X).fit())


def test_random_formula_with_factor_matches_statsmodels():
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"x": rng.normal(size=40), "g": pd.Categorical(rng.choice(["a", "b", "c"], 40))})
    frame["y"] = 1 + 2 * frame["x"] + frame["g"].cat.codes + rng.normal(size=40)
    ours = ols.fit("y ~ x + g", frame)
    theirs = smf.ols("y ~ x + g", frame).fit()
    assert list(ours.params.index) == ["Intercept", "x", "g[b]", "g[c]"]
    theirs = sm.OLS(theirs.model.endog, theirs.model.exog[:, [0, 3, 1, 2]]).fit()
    assert_same_as_statsmodels(ours, theirs)


def test_no_intercept_model_matches_statsmodels():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 2))
    y = X @ [1.0, -2.0] + rng.normal(size=30)
    assert_same_as_statsmodels(ols.fit(X, y), sm.OLS(y, X).fit())


def test_qr_solve_keeps_accuracy_with_badly_scaled_columns():
    # columns on scales 1e-4 and 1e4: forming and inverting X'X would lose digits, QR does not
    rng = np.random.default_rng(2)
    X = np.column_stack([np.ones(50), rng.normal(size=50) * 1e-4, rng.normal(size=50) * 1e4])
    beta = np.array([1.0, 3e4, -2e-4])
    b, Q, R = ols.normal_equations_solve(X, X @ beta)
    np.testing.assert_allclose(b, beta, rtol=1e-9)
    np.testing.assert_allclose(Q @ R, X, rtol=1e-12, atol=1e-12)


def test_summary_text_has_r_layout(cipro):
    text = ols.fit("WAKE ~ Treatment * Genotype", cipro).summary()
    assert "Residual standard error: 8.224 on 29 degrees of freedom" in text
    assert "Multiple R-squared:  0.7195" in text
    assert "F-statistic: 24.79 on 3 and 29 DF" in text
    assert "***" in text  # the intercept and the dose are significant


def test_missing_column(cipro):
    with pytest.raises(ValueError, match="Dose"):
        ols.fit("WAKE ~ Dose", cipro)


def test_nan_in_used_column(cipro):
    bad = cipro.copy()
    bad.loc[3, "Treatment"] = np.nan
    with pytest.raises(ValueError, match="Treatment.*missing"):
        ols.fit("WAKE ~ Treatment", bad)


def test_non_numeric_response(cipro):
    with pytest.raises(ValueError, match="Genotype.*numeric"):
        ols.fit("Genotype ~ Treatment", cipro)


def test_rank_deficient_design_names_the_column(cipro):
    doubled = cipro.assign(Dose2=2 * cipro["Treatment"])
    with pytest.raises(ValueError, match="rank deficient.*Dose2"):
        ols.fit("WAKE ~ Treatment + Dose2", doubled)


def test_bad_arrays():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="rows"):
        ols.fit(np.ones((5, 1)), np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        ols.fit(np.column_stack([np.ones(5), [1, 2, np.nan, 4, 5]]), np.arange(5.0))
    with pytest.raises(ValueError, match="rank deficient"):
        ols.fit(X, np.arange(5.0))
    with pytest.raises(ValueError, match="more observations"):
        ols.fit(np.eye(3), np.arange(3.0))
    with pytest.raises(ValueError, match="numeric"):
        ols.fit(np.ones((3, 1)), np.array(["a", "b", "c"]))
    with pytest.raises(TypeError, match="X \\(the design matrix\\) must hold numbers"):
        ols.fit(np.array([["1", "a"]] * 5), np.arange(5.0))
    with pytest.raises(TypeError, match="names must be a list with one name per column of X, got the string 'ab'"):
        ols.fit(np.column_stack([np.ones(5), np.arange(5.0)]), np.arange(5.0) ** 2, names="ab")


def test_formula_without_intercept_matches_statsmodels():
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"x": rng.normal(size=25), "z": rng.normal(size=25)})
    frame["y"] = 2 * frame["x"] - frame["z"] + rng.normal(size=25)
    ours = ols.fit("y ~ 0 + x + z", frame)
    assert list(ours.params.index) == ["x", "z"] and ours.df_model == 2
    assert_same_as_statsmodels(ours, smf.ols("y ~ 0 + x + z", frame).fit())


def test_dataframe_design_keeps_column_names():
    rng = np.random.default_rng(9)
    X = pd.DataFrame({"const": 1.0, "dose": rng.normal(size=20)})
    y = 1 + X["dose"] + rng.normal(size=20)
    r = ols.fit(X, y.to_numpy())
    assert list(r.params.index) == ["const", "dose"]
    assert_same_as_statsmodels(r, sm.OLS(y.to_numpy(), X.to_numpy()).fit())


# Bad input through ols.fit: the shared checks of lmmteach.formulas (tested in
# tests/test_formulas.py) and the array path's own.

@pytest.mark.parametrize(
    "formula, change, error, words",
    [
        ("WAKE ~ Treatment", {"WAKE": 1.0}, ValueError, "'WAKE' has the same value \\(1\\) in every row"),
        ("WAKE ~ Treatment +", {}, ValueError, "operator with no term"),
        ("WAKE ~ (Treatment", {}, ValueError, "unbalanced parentheses"),
        ("~ Treatment", {}, ValueError, "no response"),
        ("WAKE ~ code", {"code": lambda f: f["Treatment"].astype(str)}, ValueError, "'code' holds numbers stored as text"),
        ("WAKE ~ Treatment", {"WAKE": lambda f: f["WAKE"] > 0}, ValueError, "'WAKE' must be numeric.*bool"),
    ],
)
def test_bad_formula_input_is_named(cipro, formula, change, error, words):
    with pytest.raises(error, match=words):
        ols.fit(formula, cipro.assign(**change))


@pytest.mark.parametrize("data, error, words", [(None, TypeError, "DataFrame"), (pd.DataFrame(), ValueError, "no rows")])
def test_missing_data_is_named(data, error, words):
    with pytest.raises(error, match=words):
        ols.fit("WAKE ~ Treatment", data)


def test_constant_response_array_is_refused():
    with pytest.raises(ValueError, match="y \\(the response\\) has the same value \\(2\\) in every row"):
        ols.fit(np.column_stack([np.ones(5), np.arange(5.0)]), np.full(5, 2.0))


def test_transformed_terms_match_statsmodels(cipro):
    ours = ols.fit("np.log(WAKE + 1) ~ {Treatment**2} + I(Treatment**3)", cipro.assign(Treatment=cipro["Treatment"] + 1.0))
    data = cipro.assign(Treatment=cipro["Treatment"] + 1.0)
    theirs = smf.ols("np.log(WAKE + 1) ~ I(Treatment**2) + I(Treatment**3)", data).fit()
    np.testing.assert_allclose(ours.params.to_numpy(), theirs.params.to_numpy(), rtol=1e-8)
