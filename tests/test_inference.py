"""lmmteach.inference against lmerTest, pbkrtest and lme4 (fixtures recorded by make_inference_fixtures.R)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from inference_designs import DESIGNS, REFERENCE, as_list, ciproxifan_frame, fitted
from lmmteach import batched, inference, ols, reml

pytestmark = pytest.mark.filterwarnings("ignore::lmmteach.reml.SingularFitWarning")

WITH_TERMS = [name for name in DESIGNS if as_list(REFERENCE["designs"][name]["anova_satterthwaite"]["terms"])]


def relative(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return np.max(np.abs(a / b - 1))


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger")])
@pytest.mark.parametrize("name", DESIGNS)
def test_coef_table_matches_lmertest(name, ddf, key):
    table = inference.coef_table(fitted(name), ddf=ddf)
    expected = REFERENCE["designs"][name][key]
    assert list(table.columns) == ["estimate", "se", "df", "t", "p"]
    assert list(table.index) == list(fitted(name).fe_params.index)  # formula order, as lme4
    assert len(table) == len(as_list(expected["names"]))
    for column in ("estimate", "se", "t"):
        assert relative(table[column], as_list(expected[column])) < 1e-5, column
    assert relative(table["df"], as_list(expected["df"])) < 1e-5
    assert relative(table["p"], as_list(expected["p"])) < 1e-4


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "anova_satterthwaite"), ("kenward-roger", "anova_kenward_roger")])
@pytest.mark.parametrize("name", WITH_TERMS)
def test_type3_anova_matches_lmertest(name, ddf, key):
    table = inference.anova(fitted(name), ddf=ddf)
    expected = REFERENCE["designs"][name][key]
    assert len(table) == len(as_list(expected["terms"]))
    assert list(table["num_df"]) == as_list(expected["num_df"])
    for column in ("sum_sq", "mean_sq", "F"):
        assert relative(table[column], as_list(expected[column])) < 1e-5, column
    assert relative(table["den_df"], as_list(expected["den_df"])) < 1e-5
    assert relative(table["p"], as_list(expected["p"])) < 1e-4


def test_kenward_roger_f_test_of_the_interaction_matches_pbkrtest():
    expected = REFERENCE["kenward_roger_interaction"]
    row = inference.contrast(fitted("ciproxifan"), [0, 0, 0, 1], ddf="kenward-roger")
    assert row["num_df"] == expected["ndf"]
    assert relative(row["F"], expected["F"]) < 1e-5
    assert relative(row["den_df"], expected["ddf"]) < 1e-5
    assert relative(row["p"], expected["p"]) < 1e-5


@pytest.mark.parametrize("ddf, key", [("satterthwaite", "ko_slope_satterthwaite"),
                                      ("kenward-roger", "ko_slope_kenward_roger")])
def test_one_contrast_matches_contest1d(ddf, key):
    expected = REFERENCE["contrasts"][key]
    row = inference.estimate(fitted("ciproxifan"), REFERENCE["contrasts"]["L"], ddf=ddf).iloc[0]
    assert relative(row["estimate"], expected["Estimate"]) < 1e-6
    assert relative(row["se"], expected["Std. Error"]) < 1e-5
    assert relative(row["df"], expected["df"]) < 1e-5
    assert relative(row["p"], expected["Pr(>|t|)"]) < 1e-4
    assert row["lower"] < row["estimate"] < row["upper"]


def test_a_contrast_by_name_equals_the_same_contrast_by_position():
    fit = fitted("ciproxifan")
    by_name = inference.estimate(fit, pd.Series({"Treatment": 1.0, "Treatment:Genotype[ko]": 1.0}))
    by_position = inference.estimate(fit, [0, 1, 0, 1])
    pd.testing.assert_frame_equal(by_name, by_position)


@pytest.mark.parametrize("name", DESIGNS)
def test_wald_ci_matches_lme4(name):
    ci = inference.wald_ci(fitted(name))
    expected = REFERENCE["designs"][name]["wald_ci"]
    assert np.allclose(ci["lower"], as_list(expected["lower"]), rtol=1e-5)
    assert np.allclose(ci["upper"], as_list(expected["upper"]), rtol=1e-5)


@pytest.mark.parametrize("name", ["ciproxifan", "pastes_nested", "within", "sleepstudy_slope"])
def test_profile_ci_matches_lme4(name):
    ci = inference.profile_ci(fitted(name))
    expected = REFERENCE["designs"][name]["profile_ci"]
    assert len(ci) == len(expected["names"])
    for ours, theirs in zip(ci.index, expected["names"]):  # the same rows in lme4's order
        assert ours.split("|")[-1] == theirs.split("|")[-1] or theirs in ("sigma",) or "|" not in theirs
    for column in ("lower", "upper"):
        wanted = np.array(as_list(expected[column]))
        assert np.all(np.abs(ci[column].to_numpy() - wanted) <= 1e-3 * np.maximum(1, np.abs(wanted))), column


def test_profile_interval_of_sigma_u_reaches_zero_for_ciproxifan():
    ci = inference.profile_ci(fitted("ciproxifan"))
    assert ci.loc["sd_Intercept|id", "lower"] == 0.0
    assert ci.loc["sd_Intercept|id", "upper"] > 0


def test_likelihood_ratio_tests_match_lme4():
    data = ciproxifan_frame()
    full, by_dose = fitted("ciproxifan"), fitted("ciproxifan_dose_factor")
    additive = reml.fit("WAKE ~ Treatment + Genotype + (1 | id)", data)
    expected = REFERENCE["lrt"]
    interaction = inference.lrt(additive, full)
    assert interaction.method == "ML" and interaction.df == 1
    assert interaction.statistic == pytest.approx(expected["interaction"]["chisq"], abs=1e-8)
    assert [interaction.deviance_small, interaction.deviance_big] == pytest.approx(expected["interaction"]["deviance"])
    assert interaction.p == pytest.approx(expected["interaction"]["p"], rel=1e-7)
    dose = inference.lrt(full, by_dose)
    assert dose.df == 2 and dose.statistic == pytest.approx(expected["dose_factor_vs_linear"]["chisq"], abs=1e-8)


def test_variance_component_lrt_matches_ranova_and_halves_the_p_value_on_the_boundary():
    full = fitted("ciproxifan")
    no_random = ols.fit("WAKE ~ Treatment * Genotype", ciproxifan_frame())
    expected = REFERENCE["lrt"]["sigma_u"]
    naive = inference.lrt(no_random, full)
    mixture = inference.lrt(no_random, full, boundary=True)
    assert naive.method == "REML"
    assert naive.statistic == pytest.approx(expected["lrt"], abs=1e-8)
    assert naive.p == pytest.approx(expected["p_naive"], rel=1e-7)
    assert mixture.p == pytest.approx(naive.p / 2, rel=1e-12)
    assert "mixture" in mixture.note


def test_satterthwaite_df_of_a_balanced_one_way_design_are_the_classical_anova_df():
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        groups, reps = 9, 4
        g = np.repeat(np.arange(groups), reps)
        data = pd.DataFrame({"g": pd.Categorical(g.astype(str)),
                             "y": 5 + rng.normal(0, 2, groups)[g] + rng.normal(0, 1, groups * reps)})
        fit = reml.fit("y ~ 1 + (1 | g)", data)
        assert not fit.singular
        df = inference.coef_table(fit)["df"].iloc[0]
        assert df == pytest.approx(groups - 1, rel=1e-5)  # the between-group mean square's df


def test_residual_and_wald_ddf():
    fit = fitted("ciproxifan")
    residual = inference.coef_table(fit, ddf="residual")
    wald = inference.coef_table(fit, ddf="wald")
    assert np.all(residual["df"] == fit.nobs - 4)
    assert np.all(np.isinf(wald["df"]))
    assert np.all(wald["p"] < residual["p"])  # the normal reference is the most liberal


def test_refit_equals_a_fresh_fit_of_the_new_response():
    fit = fitted("ciproxifan")
    y = inference.simulate(fit, 1, seed=4)[0]
    data = ciproxifan_frame().assign(WAKE=y)
    fresh = reml.fit(fit.formula, data)
    again = fit.refit(y)
    assert again.criterion == pytest.approx(fresh.criterion, abs=1e-8)
    assert np.allclose(again.fe_params, fresh.fe_params, rtol=1e-6)
    with pytest.raises(ValueError, match="33 finite numbers"):
        fit.refit(y[:-1])


@pytest.mark.parametrize("name", ["ciproxifan", "between_unbalanced", "within"])
def test_batched_fits_agree_with_reml_and_lmertest(name):
    fit = fitted(name)
    batch = batched.RandomIntercept(fit.model)
    ys = np.vstack([fit.model.y, inference.simulate(fit, 5, seed=2)])
    fits = batch.fit(ys)
    for i, y in enumerate(ys):
        one = fit.refit(y)
        assert fits.criterion[i] == pytest.approx(one.criterion, abs=1e-7)
        assert np.allclose(fits.beta[i], one.fe_params, rtol=1e-5, atol=1e-6)
    tests = batch.t_tests(fits, ys, np.eye(fit.model.p))
    expected = REFERENCE["designs"][name]["satterthwaite"]
    assert relative(tests["df"][0], as_list(expected["df"])) < 1e-5
    assert relative(tests["p"][0], as_list(expected["p"])) < 1e-4


def test_parametric_bootstrap_is_reproducible_and_its_null_has_an_atom_at_zero():
    full = fitted("ciproxifan")
    no_random = ols.fit("WAKE ~ Treatment * Genotype", ciproxifan_frame())
    result = inference.parametric_bootstrap(no_random, full, n=400, seed=11)
    again = inference.parametric_bootstrap(no_random, full, n=400, seed=11)
    assert np.array_equal(result.simulated, again.simulated)
    assert np.all(result.simulated >= 0)
    # sigma_u = 0 is the truth of these simulations: about half (or more) of the statistics are exactly 0
    assert 0.4 < np.mean(result.simulated < 1e-8) < 0.8
    assert result.mc_se == pytest.approx(np.sqrt(result.p * (1 - result.p) / 400))
    # the bootstrap p-value agrees with the 50:50 mixture, not with the naive chi2(1)
    mixture = inference.lrt(no_random, full, boundary=True).p
    assert abs(result.p - mixture) < 4 * result.mc_se + 0.03
    assert result.p < inference.lrt(no_random, full).p


def test_parametric_bootstrap_for_a_fixed_effect_refits_by_ml():
    data = ciproxifan_frame()
    full = fitted("ciproxifan")
    additive = reml.fit("WAKE ~ Treatment + Genotype + (1 | id)", data)
    result = inference.parametric_bootstrap(additive, full, n=100, seed=3)
    assert result.lrt.method == "ML"
    assert 0 < result.p <= 1 and result.n == 100


def test_clear_errors():
    fit = fitted("ciproxifan")
    with pytest.raises(ValueError, match="one weight per fixed effect"):
        inference.contrast(fit, [1, 0, 0])
    with pytest.raises(ValueError, match="not fixed effects"):
        inference.estimate(fit, pd.Series({"Dose": 1.0}))
    with pytest.raises(ValueError, match="not in the model"):
        inference.anova(fit, terms=["Dose"])
    with pytest.raises(ValueError, match="ddf must be one of"):
        inference.coef_table(fit, ddf="containment")
    with pytest.raises(ValueError, match="not nested"):
        inference.lrt(fitted("ciproxifan_dose_factor"), fit)
    with pytest.raises(ValueError, match="different data"):
        inference.lrt(fitted("within"), fit)
    with pytest.raises(ValueError, match="positive whole number"):
        inference.parametric_bootstrap(reml.fit("WAKE ~ Treatment + Genotype + (1 | id)", ciproxifan_frame()), fit, n=0)
    with pytest.raises(ValueError, match="REML fit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inference.kenward_roger(reml.fit(fit.formula, ciproxifan_frame(), method="ML"))
    with pytest.raises(TypeError, match="reml.fit"):
        inference.coef_table(ols.fit("WAKE ~ Treatment", ciproxifan_frame()))


def test_bootstrap_progress_follows_the_course_switch(monkeypatch):
    """Under tests the bootstrap draws no bar; forced on, it wraps the chunks in a progress bar."""
    chunks = [1, 2, 3]
    assert inference._tracked(chunks, None) is chunks
    assert list(inference._tracked(chunks, True)) == chunks
