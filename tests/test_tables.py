"""Tests of lmmteach.tables: Table 1 from each kind of fit, and the prediction table."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from normal_model import fit_normal, idata_normal, log_lik_normal, small_frame

from lmmteach import crossval, ols, tables
from lmmteach.ciproxifan import COEFS, FORMULA
from lmmteach.data import load_ciproxifan
from lmmteach.reml import fit as fit_lmm


@pytest.fixture
def small():
    return small_frame()


@pytest.fixture(scope="module")
def cipro():
    return load_ciproxifan()


def test_parameter_table_reproduces_the_published_ols_and_reml_numbers(cipro):
    ols = smf.ols("WAKE ~ Treatment * Genotype", cipro).fit()
    reml = fit_lmm("WAKE ~ Treatment * Genotype + (1 | id)", cipro)
    tidy = tables.parameter_table({"Fixed+OLS": ols, "Mixed+REML": reml}).set_index(["model", "parameter"])
    # report, Listing 1 (lm) and Listing 4 (lmer)
    assert tidy.loc[("Fixed+OLS", "Intercept"), "estimate"] == pytest.approx(44.5675, abs=1e-3)
    assert tidy.loc[("Fixed+OLS", "Treatment:Genotype[ko]"), "se"] == pytest.approx(0.6759, abs=1e-3)
    assert tidy.loc[("Fixed+OLS", "sigma"), "estimate"] == pytest.approx(8.224, abs=1e-3)
    assert tidy.loc[("Mixed+REML", "Treatment"), "estimate"] == pytest.approx(3.0834, abs=1e-3)
    for name, se in [("Intercept", 2.7813), ("Treatment", 0.4606), ("Genotype[ko]", 3.9456), ("Treatment:Genotype[ko]", 0.6499)]:
        assert tidy.loc[("Mixed+REML", name), "se"] == pytest.approx(se, abs=2e-3)  # lme4's standard errors
    assert tidy.loc[("Mixed+REML", "sigma_u"), "estimate"] == pytest.approx(np.sqrt(9.926), abs=2e-3)
    assert tidy.loc[("Mixed+REML", "sigma"), "estimate"] == pytest.approx(np.sqrt(58.145), abs=2e-3)
    assert ("Fixed+OLS", "sigma_u") not in tidy.index
    wide = tables.table1(tidy.reset_index())
    assert wide.loc["Intercept", "Fixed+OLS"] == "44.57 ± 2.70"
    assert wide.loc["sigma_u", "Fixed+OLS"] == "—"
    assert list(wide.columns) == ["Fixed+OLS", "Mixed+REML"]


def test_parameter_table_refuses_statsmodels_mixedlm_and_says_why(cipro):
    sm = smf.mixedlm("WAKE ~ Treatment * Genotype", cipro, groups=cipro["id"]).fit(reml=True)
    with pytest.raises(ValueError, match="lmmteach.reml.fit"):
        tables.parameter_table({"Mixed+REML": sm})


def test_parameter_table_reads_labelled_posterior_vectors():
    rng = np.random.default_rng(0)
    beta = rng.normal([1.0, 2.0], [0.1, 0.2], size=(2, 3000, 2))
    idata = az.from_dict(
        posterior={"beta": beta, "sigma": np.abs(rng.normal(5, 0.5, (2, 3000))), "u": rng.normal(size=(2, 3000, 4))},
        coords={"coef": ["Intercept", "Treatment"], "mouse": list("abcd")},
        dims={"beta": ["coef"], "u": ["mouse"]},
    )
    tidy = tables.parameter_table({"Bayes": idata}).set_index("parameter")
    assert list(tidy.index) == ["Intercept", "Treatment", "sigma"]  # u's per-mouse values are not parameters of Table 1
    assert tidy.loc["Treatment", "estimate"] == pytest.approx(2.0, abs=0.02)
    assert tidy.loc["Treatment", "se"] == pytest.approx(0.2, rel=0.05)
    assert tidy.loc["sigma", "estimate"] == pytest.approx(5.0, abs=0.05)


def test_parameter_table_reads_a_bambi_fit_under_the_course_names():
    rng = np.random.default_rng(1)
    c, s = 2, 2000
    beta = rng.normal([40.0, 3.0, -2.0, 1.0], [2.0, 0.5, 3.0, 0.6], size=(c, s, 4))
    sigma, sigma_u, u = np.abs(rng.normal(8, 1, (c, s))), np.abs(rng.normal(3, 1, (c, s))), rng.normal(size=(c, s, 3))
    pymc_names = az.from_dict(
        posterior={"beta": beta, "sigma": sigma, "sigma_u": sigma_u, "u": u},
        coords={"coef": list(COEFS), "id": ["1", "2", "3"]}, dims={"beta": ["coef"], "u": ["id"]},
    )
    bambi_names = az.from_dict(
        posterior={"Intercept": beta[..., 0], "Treatment": beta[..., 1], "Genotype": beta[..., 2:3],
                   "Treatment:Genotype": beta[..., 3:4], "sigma": sigma, "1|id_sigma": sigma_u, "1|id": u},
        coords={"Genotype_dim": ["ko"], "Treatment:Genotype_dim": ["ko"], "id__factor_dim": ["1", "2", "3"]},
        dims={"Genotype": ["Genotype_dim"], "Treatment:Genotype": ["Treatment:Genotype_dim"], "1|id": ["id__factor_dim"]},
    )
    tidy = tables.parameter_table({"PyMC": pymc_names, "Bambi": bambi_names})
    by_model = tidy.set_index(["model", "parameter"])
    assert list(tidy.loc[tidy["model"] == "Bambi", "parameter"]) == [*COEFS, "sigma", "sigma_u"]
    np.testing.assert_array_equal(by_model.loc["Bambi"].to_numpy(), by_model.loc["PyMC"].to_numpy())
    assert by_model.loc[("Bambi", "Genotype[ko]"), "se"] == pytest.approx(3.0, rel=0.05)


def test_parameter_table_reads_the_course_ols_fit_as_statsmodels_ols(cipro):
    course = ols.fit(FORMULA, cipro)
    statsmodels_ols = smf.ols(FORMULA, cipro).fit()
    tidy = tables.parameter_table({"course": course, "statsmodels": statsmodels_ols}).set_index(["model", "parameter"])
    assert list(tidy.loc["course"].index) == [*COEFS, "sigma"]
    np.testing.assert_allclose(tidy.loc["course"].to_numpy(), tidy.loc["statsmodels"].to_numpy(), rtol=1e-9)
    assert tables.table1(tidy.reset_index()).loc["Intercept", "course"] == "44.57 ± 2.70"  # report, Listing 1


def test_parameter_table_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        tables.parameter_table({})
    with pytest.raises(ValueError, match="cannot read estimates from a dict"):
        tables.parameter_table({"x": {"a": 1}})
    with pytest.raises(ValueError, match="no posterior group"):
        tables.parameter_table({"x": az.InferenceData()})
    with pytest.raises(ValueError, match="missing column"):
        tables.table1(pd.DataFrame({"model": []}))


def test_prediction_table(small):
    y = small["y"].to_numpy()
    loo = az.loo(idata_normal(y), pointwise=True)
    kf = crossval.kfold(small, fit_normal, log_lik_normal, k=3, seed=0)
    table = tables.prediction_table(
        y, {"mean": np.full_like(y, y.mean()), "perfect": y}, loo={"mean": loo}, kfold_results={"kfold": {"mean": kf}}
    )
    assert table.loc["perfect", "mse_in_sample"] == 0
    assert table.loc["mean", "mse_in_sample"] == pytest.approx(np.var(y))
    assert table.loc["mean", "elpd_loo"] == pytest.approx(loo["elpd_loo"])
    assert table.loc["mean", "elpd_kfold"] == pytest.approx(kf.elpd)
    assert table.loc["mean", "n_bad_k"] == 0
    assert np.isnan(table.loc["perfect", "elpd_loo"])
    with pytest.raises(ValueError, match="without predictions"):
        tables.prediction_table(y, {"a": y}, loo={"b": loo})
    with pytest.raises(ValueError, match="shape"):
        crossval.mse(y, y[:3])




@pytest.fixture(scope="module")
def course_ols(cipro):
    return ols.fit(FORMULA, cipro)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda fit: tables.parameter_table([fit]), TypeError, "fits must be a dict from labels to results.*got list"),
        (lambda fit: tables.parameter_table(fit), TypeError, "fits must be a dict from labels to results.*got OLSResult"),
        (lambda fit: tables.parameter_table(None), ValueError, "at least one fitted model"),
        (lambda fit: tables.table1([1, 2]), TypeError, "table1 needs the DataFrame that parameter_table returns"),
        (lambda fit: tables.table1(tables.parameter_table({"ols": fit}), digits="2"), TypeError, "digits must be an integer"),
        (lambda fit: tables.table1(tables.parameter_table({"ols": fit}), digits=2.5), TypeError, "digits must be an integer"),
        (lambda fit: tables.table1(tables.parameter_table({"ols": fit}), digits=-1), ValueError, "digits must be an integer >= 0"),
        (lambda fit: tables.prediction_table(fit.fittedvalues, [fit.fittedvalues]), TypeError, "predictions must be a dict"),
        (lambda fit: tables.prediction_table(fit.fittedvalues, {"a": fit.fittedvalues}, loo=["a"]), TypeError, "loo must be a dict"),
        (lambda fit: tables.prediction_table(fit.fittedvalues, {"a": fit.fittedvalues}, kfold_results=["a"]), TypeError,
         "kfold_results must be a dict"),
        (lambda fit: tables.prediction_table(fit.fittedvalues, {"a": fit.fittedvalues}, kfold_results={"kf": ["a"]}),
         TypeError, "kfold_results\\['kf'\\] must be a dict"),
        (lambda fit: tables.prediction_table("abc", {"a": fit.fittedvalues}), TypeError, "y must hold numbers"),
        (lambda fit: tables.prediction_table(fit.fittedvalues, {"a": "abc"}), TypeError, "predictions must hold numbers"),
    ],
)
def test_lists_strings_and_bad_digits_are_named(course_ols, call, error, words):
    """Before: AttributeError ('list' object has no attribute 'items'), format-spec errors, NumPy casting errors."""
    with pytest.raises(error, match=words):
        call(course_ols)
