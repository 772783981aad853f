"""Tests of lmmteach.compare.

Most cross-validation tests use a model whose leave-one-out predictive
distribution is known exactly: y_i ~ Normal(mu, 1) with a flat prior on mu, so
mu | y ~ Normal(mean(y), 1/n) and y_i | y_-i ~ Normal(mean(y_-i), 1 + 1/(n-1)).
"Fitting" draws from that posterior, so the tests are fast and exact up to
Monte Carlo error, which we control with the number of draws.
"""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy.stats import norm

from lmmteach import compare
from lmmteach.data import load_ciproxifan
from lmmteach.reml import fit as fit_lmm

S = 20_000  # posterior draws: Monte Carlo SE of a pointwise elpd ~ 1e-3


def fit_normal(train, seed=1):
    y = train["y"].to_numpy()
    rng = np.random.default_rng(seed)
    return rng.normal(y.mean(), 1 / np.sqrt(len(y)), size=S)


def log_lik_normal(mu_draws, test):
    return norm.logpdf(test["y"].to_numpy()[None, :], mu_draws[:, None], 1.0)


def exact_loo_normal(y):
    n = len(y)
    loo_means = (y.sum() - y) / (n - 1)
    return norm.logpdf(y, loo_means, np.sqrt(1 + 1 / (n - 1)))


def idata_normal(y, seed=2, chains=4, draws=1000):
    rng = np.random.default_rng(seed)
    mu = rng.normal(y.mean(), 1 / np.sqrt(len(y)), size=(chains, draws))
    ll = norm.logpdf(y[None, None, :], mu[..., None], 1.0)
    return az.from_dict(posterior={"mu": mu}, log_likelihood={"y": ll})


@pytest.fixture
def small():
    y = np.random.default_rng(0).normal(3.0, 1.0, size=12)
    return pd.DataFrame({"y": y, "g": pd.Categorical(np.repeat(list("abcdef"), 2))})


# ------------------------------------------------------------------ K-fold
def test_kfold_with_one_row_per_fold_is_exact_loo(small):
    result = compare.kfold(small, fit_normal, log_lik_normal, k=len(small), seed=0)
    exact = exact_loo_normal(small["y"].to_numpy())
    np.testing.assert_allclose(result.pointwise, exact, atol=0.01)
    assert result.elpd == pytest.approx(exact.sum(), abs=0.05)
    assert result.se == pytest.approx(np.sqrt(len(exact) * np.var(exact)), rel=0.02)


def test_kfold_held_out_rows_score_worse_than_in_sample(small):
    res = compare.kfold(small, fit_normal, log_lik_normal, k=3, seed=5)
    in_sample = compare.pointwise_elpd(log_lik_normal(fit_normal(small), small)).sum()
    assert res.elpd < in_sample
    assert res.k == 3 and not res.grouped


def test_kfold_split_is_seeded_balanced_and_keeps_groups_together(small):
    a = compare.kfold_split(12, 4, seed=3)
    assert np.array_equal(a, compare.kfold_split(12, 4, seed=3))
    assert not np.array_equal(a, compare.kfold_split(12, 4, seed=4))
    assert sorted(np.bincount(a)) == [3, 3, 3, 3]
    folds = compare.kfold_split(12, 3, seed=3, groups=small["g"])
    per_group = pd.Series(folds).groupby(small["g"].to_numpy()).nunique()
    assert (per_group == 1).all()  # a mouse is never split across folds
    assert sorted(np.bincount(folds)) == [4, 4, 4]


def test_grouped_kfold_passes_training_data_without_the_held_out_groups(small):
    seen = []

    def fit(train):
        seen.append(set(train["g"].cat.categories))
        return fit_normal(train)

    res = compare.kfold(small, fit, log_lik_normal, k=3, seed=0, group="g")
    assert res.grouped and len(seen) == 3
    for f, cats in enumerate(seen):
        held_out = set(small.loc[res.folds == f, "g"])
        assert cats.isdisjoint(held_out)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"k": 1}, "k >= 2"), ({"k": 13}, "13 folds"), ({"k": 7, "group": "g"}, "6 groups"), ({"group": "mouse"}, "'mouse'")],
)
def test_kfold_bad_input(small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare.kfold(small, fit_normal, log_lik_normal, **kwargs)


def test_kfold_rejects_wrongly_shaped_log_lik(small):
    with pytest.raises(ValueError, match="expected \\(draws, rows\\)"):
        compare.kfold(small, fit_normal, lambda fitted, test: fitted, k=3)


# ------------------------------------------------------------------ reloo
def test_reloo_refitting_every_row_gives_exact_loo_and_agrees_with_psis(small):
    y = small["y"].to_numpy()
    loo = az.loo(idata_normal(y), pointwise=True)
    refit = compare.reloo(loo, small, fit_normal, log_lik_normal, threshold=-np.inf)
    exact = exact_loo_normal(y)
    np.testing.assert_allclose(refit["loo_i"].values, exact, atol=0.01)
    assert refit["refitted"] == list(range(len(y)))
    # with well-behaved k, PSIS was already right: same elpd and p_loo
    assert refit["elpd_loo"] == pytest.approx(loo["elpd_loo"], abs=0.05)
    assert refit["p_loo"] == pytest.approx(loo["p_loo"], abs=0.05)
    assert refit["p_loo"] + refit["elpd_loo"] == pytest.approx(loo["p_loo"] + loo["elpd_loo"])
    assert loo["elpd_loo"] == pytest.approx(exact.sum(), abs=0.05)  # original left untouched by reloo


def test_reloo_fixes_a_bad_k_outlier_and_goes_into_az_compare():
    y = np.r_[np.random.default_rng(1).normal(0, 1, 7), 9.0]  # one wild value, n = 8
    data = pd.DataFrame({"y": y})
    loo = az.loo(idata_normal(y, draws=500), pointwise=True)
    k_hat = loo["pareto_k"].values
    assert k_hat[-1] > loo["good_k"] and k_hat[:-1].max() <= loo["good_k"]
    refit = compare.reloo(loo, data, fit_normal, log_lik_normal)
    assert refit["refitted"] == [7]
    exact = exact_loo_normal(y)
    assert refit["loo_i"].values[-1] == pytest.approx(exact[-1], abs=0.01)
    np.testing.assert_array_equal(refit["loo_i"].values[:-1], loo["loo_i"].values[:-1])
    assert refit["pareto_k"].values[-1] == 0 and not refit["warning"]
    # PSIS was too optimistic about the outlier; the exact value is lower
    assert refit["loo_i"].values[-1] < loo["loo_i"].values[-1]
    table = az.compare({"psis": loo, "reloo": refit})
    assert set(table.index) == {"psis", "reloo"}


def test_reloo_bad_input(small):
    y = small["y"].to_numpy()
    with pytest.raises(ValueError, match="pointwise=True"):
        compare.reloo(az.loo(idata_normal(y), pointwise=False), small, fit_normal, log_lik_normal)
    with pytest.raises(ValueError, match="12 observations but data has 11"):
        compare.reloo(az.loo(idata_normal(y), pointwise=True), small.iloc[:11], fit_normal, log_lik_normal)


def test_pareto_k_table_counts():
    fake = pd.Series({"pareto_k": np.array([0.1, 0.69, 0.71, 0.9, 1.3]), "good_k": 0.7})
    table = compare.pareto_k_table(fake)
    assert table["count"].tolist() == [2, 2, 1]
    assert table["percent"].sum() == pytest.approx(100)


# ------------------------------------------------------------------ pointwise pieces
def test_pointwise_elpd_is_log_of_mean_likelihood_without_underflow():
    ll = np.log(np.array([[0.2, 1e-300], [0.4, 1e-300]]))
    np.testing.assert_allclose(compare.pointwise_elpd(ll), np.log([0.3, 1e-300]))
    ll = np.array([[-2000.0], [-2001.0]])  # exp underflows to 0 in float64
    assert compare.pointwise_elpd(ll)[0] == pytest.approx(-2000 + np.log((1 + np.exp(-1)) / 2))
    with pytest.raises(ValueError, match="NaN"):
        compare.pointwise_elpd(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        compare.pointwise_elpd(np.zeros(3))


def test_gaussian_log_lik_integrates_out_an_unseen_group_intercept():
    rng = np.random.default_rng(0)
    draws = 200_000
    sigma, tau, y = 2.0, 3.0, np.array([1.5, -4.0])
    mu = np.zeros((1, 2))
    u = np.array([[0.5, np.nan]])  # row 0: known group; row 1: a new group
    ll = compare.gaussian_log_lik(mu, y, np.array([sigma]), u, sigma_u=tau)
    assert ll[0, 0] == pytest.approx(norm.logpdf(1.5, 0.5, sigma))
    mc = np.log(np.mean(norm.pdf(-4.0, rng.normal(0, tau, draws), sigma)))
    assert ll[0, 1] == pytest.approx(mc, abs=0.01)
    with pytest.raises(ValueError, match="sigma_u"):
        compare.gaussian_log_lik(mu, y, np.array([sigma]), u)


# ------------------------------------------------------------------ tables
@pytest.fixture(scope="module")
def cipro():
    return load_ciproxifan()


def test_parameter_table_reproduces_the_published_ols_and_reml_numbers(cipro):
    ols = smf.ols("WAKE ~ Treatment * Genotype", cipro).fit()
    reml = fit_lmm("WAKE ~ Treatment * Genotype + (1 | id)", cipro)
    tidy = compare.parameter_table({"Fixed+OLS": ols, "Mixed+REML": reml}).set_index(["model", "parameter"])
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
    wide = compare.table1(tidy.reset_index())
    assert wide.loc["Intercept", "Fixed+OLS"] == "44.57 ± 2.70"
    assert wide.loc["sigma_u", "Fixed+OLS"] == "—"
    assert list(wide.columns) == ["Fixed+OLS", "Mixed+REML"]


def test_parameter_table_refuses_statsmodels_mixedlm_and_says_why(cipro):
    sm = smf.mixedlm("WAKE ~ Treatment * Genotype", cipro, groups=cipro["id"]).fit(reml=True)
    with pytest.raises(ValueError, match="lmmteach.reml.fit"):
        compare.parameter_table({"Mixed+REML": sm})


def test_parameter_table_reads_labelled_posterior_vectors_and_renames():
    rng = np.random.default_rng(0)
    beta = rng.normal([1.0, 2.0], [0.1, 0.2], size=(2, 3000, 2))
    idata = az.from_dict(
        posterior={"beta": beta, "noise": np.abs(rng.normal(5, 0.5, (2, 3000))), "u": rng.normal(size=(2, 3000, 4))},
        coords={"coef": ["Intercept", "Treatment"], "mouse": list("abcd")},
        dims={"beta": ["coef"], "u": ["mouse"]},
    )
    tidy = compare.parameter_table({"Bayes": idata}, rename={"noise": "sigma"}).set_index("parameter")
    assert list(tidy.index) == ["Intercept", "Treatment", "sigma"]  # u's per-mouse values are not parameters of Table 1
    assert tidy.loc["Treatment", "estimate"] == pytest.approx(2.0, abs=0.02)
    assert tidy.loc["Treatment", "se"] == pytest.approx(0.2, rel=0.05)
    assert tidy.loc["sigma", "estimate"] == pytest.approx(5.0, abs=0.05)


def test_parameter_table_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        compare.parameter_table({})
    with pytest.raises(ValueError, match="cannot read estimates from a dict"):
        compare.parameter_table({"x": {"a": 1}})
    with pytest.raises(ValueError, match="missing column"):
        compare.table1(pd.DataFrame({"model": []}))


def test_prediction_table_and_mse(small):
    y = small["y"].to_numpy()
    loo = az.loo(idata_normal(y), pointwise=True)
    kf = compare.kfold(small, fit_normal, log_lik_normal, k=3, seed=0)
    table = compare.prediction_table(
        y, {"mean": np.full_like(y, y.mean()), "perfect": y}, loo={"mean": loo}, kfold_results={"kfold": {"mean": kf}}
    )
    assert table.loc["perfect", "mse_in_sample"] == 0
    assert table.loc["mean", "mse_in_sample"] == pytest.approx(np.var(y))
    assert table.loc["mean", "elpd_loo"] == pytest.approx(loo["elpd_loo"])
    assert table.loc["mean", "elpd_kfold"] == pytest.approx(kf.elpd)
    assert table.loc["mean", "n_bad_k"] == 0
    assert np.isnan(table.loc["perfect", "elpd_loo"])
    with pytest.raises(ValueError, match="without predictions"):
        compare.prediction_table(y, {"a": y}, loo={"b": loo})
    with pytest.raises(ValueError, match="shape"):
        compare.mse(y, y[:3])


def test_compare_pointwise_uses_paired_differences():
    rng = np.random.default_rng(0)
    shared = rng.normal(-3, 1, 40)
    table = compare.compare_pointwise({"a": shared + 0.1, "b": shared})
    assert list(table.index) == ["a", "b"]
    assert table.loc["b", "elpd_diff"] == pytest.approx(-4.0)
    assert table.loc["b", "dse"] == pytest.approx(0.0, abs=1e-9)  # identical errors: the difference is certain
    assert table.loc["b", "se"] > 1
    with pytest.raises(ValueError, match="different numbers of rows"):
        compare.compare_pointwise({"a": shared, "b": shared[:5]})


# ------------------------------------------------------------------ the course's models
def course_idata():
    """A hand-made posterior with the variable names of lmmteach.models (no sampling)."""
    rng = np.random.default_rng(3)
    c, s = 2, 2000
    return az.from_dict(
        posterior={
            "beta": rng.normal([40.0, 3.0, 0.0, 0.0], 0.5, size=(c, s, 4)),
            "sigma": np.abs(rng.normal(8.0, 0.3, (c, s))),
            "sigma_u": np.abs(rng.normal(3.0, 0.3, (c, s))),
            "u": rng.normal([5.0, -5.0], 0.2, size=(c, s, 2)),
        },
        coords={"coef": ["Intercept", "Treatment", "Genotype[ko]", "Treatment:Genotype[ko]"], "id": ["1", "2"]},
        dims={"beta": ["coef"], "u": ["id"]},
    )


def test_course_log_lik_uses_known_intercepts_and_integrates_out_new_mice():
    idata = course_idata()
    test = pd.DataFrame({"WAKE": [48.0, 48.0, 48.0], "Treatment": [3.0, 3.0, 3.0],
                         "Genotype": pd.Categorical(["wt"] * 3, categories=["wt", "ko"]),
                         "id": pd.Categorical(["1", "2", "9"])})
    elpd = compare.pointwise_elpd(compare.course_log_lik(idata, test))
    # mu = 40 + 3*3 = 49; mouse 1 (+5) is predicted at 54, mouse 2 (-5) at 44, unseen mouse 9 at 49 with sd ~ sqrt(8^2+3^2)
    assert elpd[0] == pytest.approx(norm.logpdf(48, 54, 8), abs=0.03)
    assert elpd[1] == pytest.approx(norm.logpdf(48, 44, 8), abs=0.03)
    assert elpd[2] == pytest.approx(norm.logpdf(48, 49, np.sqrt(64 + 9)), abs=0.03)
    fitted = compare.course_fitted_mean(idata, test.iloc[:2])
    np.testing.assert_allclose(fitted, [54, 44], atol=0.05)
    with pytest.raises(ValueError, match="no intercept for mouse"):
        compare.course_fitted_mean(idata, test)
    with pytest.raises(ValueError, match="missing column"):
        compare.course_log_lik(idata, test.drop(columns="Treatment"))


def test_kfold_of_the_flat_prior_regression_matches_the_student_t_predictive(cipro):
    """End to end with PyMC: models.fixed_effects + models.sample + course_log_lik + kfold.

    With flat priors on beta and sigma, the predictive density of a held-out row is a
    Student t with n - p - 1 degrees of freedom, location x'b and scale
    sqrt(RSS / (n - p - 1) * (1 + x'(X'X)^-1 x)), b the least-squares fit to the training rows.
    """
    from scipy.stats import t as student_t

    from lmmteach import models

    def fit(train):
        return models.sample(models.fixed_effects(train, priors="flat"), seed=4, draws=1500, tune=300,
                             chains=1, sampler="pymc", progressbar=False)

    result = compare.kfold(cipro, fit, compare.course_log_lik, k=3, seed=1, group="id")
    expected = np.empty(len(cipro))
    for f in range(3):
        train, test = models.design(cipro[result.folds != f]), models.design(cipro[result.folds == f])
        b, rss, *_ = np.linalg.lstsq(train.X, train.y, rcond=None)
        nu = len(train.y) - train.X.shape[1] - 1
        lev = np.einsum("ij,jk,ik->i", test.X, np.linalg.inv(train.X.T @ train.X), test.X)
        expected[result.folds == f] = student_t.logpdf(test.y, nu, test.X @ b, np.sqrt(rss[0] / nu * (1 + lev)))
    # Monte Carlo error: ~0.02 for typical rows, up to ~0.1 for rows in the tail of their predictive
    np.testing.assert_allclose(result.pointwise, expected, atol=0.25)
    assert np.median(np.abs(result.pointwise - expected)) < 0.05
    assert result.elpd == pytest.approx(expected.sum(), abs=0.6)
