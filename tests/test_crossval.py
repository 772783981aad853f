"""Tests of lmmteach.crossval, mostly on the exact normal model of tests/normal_model.py."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
from normal_model import exact_loo_normal, fit_normal, idata_normal, log_lik_normal, small_frame
from scipy.stats import norm

from lmmteach import crossval


@pytest.fixture
def small():
    return small_frame()


# ------------------------------------------------------------------ K-fold
def test_kfold_with_one_row_per_fold_is_exact_loo(small):
    result = crossval.kfold(small, fit_normal, log_lik_normal, k=len(small), seed=0)
    exact = exact_loo_normal(small["y"].to_numpy())
    np.testing.assert_allclose(result.pointwise, exact, atol=0.01)
    assert result.elpd == pytest.approx(exact.sum(), abs=0.05)
    assert result.se == pytest.approx(np.sqrt(len(exact) * np.var(exact)), rel=0.02)


def test_kfold_held_out_rows_score_worse_than_in_sample(small):
    res = crossval.kfold(small, fit_normal, log_lik_normal, k=3, seed=5)
    in_sample = crossval.pointwise_elpd(log_lik_normal(fit_normal(small), small)).sum()
    assert res.elpd < in_sample
    assert res.k == 3 and not res.grouped


def test_kfold_split_is_seeded_balanced_and_keeps_groups_together(small):
    a = crossval.kfold_split(12, 4, seed=3)
    assert np.array_equal(a, crossval.kfold_split(12, 4, seed=3))
    assert not np.array_equal(a, crossval.kfold_split(12, 4, seed=4))
    assert sorted(np.bincount(a)) == [3, 3, 3, 3]
    folds = crossval.kfold_split(12, 3, seed=3, groups=small["g"])
    per_group = pd.Series(folds).groupby(small["g"].to_numpy()).nunique()
    assert (per_group == 1).all()  # a mouse is never split across folds
    assert sorted(np.bincount(folds)) == [4, 4, 4]


def test_grouped_kfold_passes_training_data_without_the_held_out_groups(small):
    seen = []

    def fit(train):
        seen.append(set(train["g"].cat.categories))
        return fit_normal(train)

    res = crossval.kfold(small, fit, log_lik_normal, k=3, seed=0, group="g")
    assert res.grouped and len(seen) == 3
    for f, cats in enumerate(seen):
        held_out = set(small.loc[res.folds == f, "g"])
        assert cats.isdisjoint(held_out)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"k": 1}, "k .*>= 2"), ({"k": 13}, "13 folds"), ({"k": 7, "group": "g"}, "6 groups"), ({"group": "mouse"}, "'mouse'")],
)
def test_kfold_bad_input(small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        crossval.kfold(small, fit_normal, log_lik_normal, **kwargs)


def test_kfold_rejects_wrongly_shaped_log_lik(small):
    with pytest.raises(ValueError, match="expected \\(draws, rows\\)"):
        crossval.kfold(small, fit_normal, lambda fitted, test: fitted, k=3)


# ------------------------------------------------------------------ reloo
def test_reloo_refitting_every_row_gives_exact_loo_and_agrees_with_psis(small):
    y = small["y"].to_numpy()
    loo = az.loo(idata_normal(y), pointwise=True)
    refit = crossval.reloo(loo, small, fit_normal, log_lik_normal, threshold=-np.inf)
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
    refit = crossval.reloo(loo, data, fit_normal, log_lik_normal)
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
        crossval.reloo(az.loo(idata_normal(y), pointwise=False), small, fit_normal, log_lik_normal)
    with pytest.raises(ValueError, match="12 observations but data has 11"):
        crossval.reloo(az.loo(idata_normal(y), pointwise=True), small.iloc[:11], fit_normal, log_lik_normal)


def test_pareto_k_table_counts():
    fake = pd.Series({"pareto_k": np.array([0.1, 0.69, 0.71, 0.9, 1.3]), "good_k": 0.7})
    table = crossval.pareto_k_table(fake)
    assert table["count"].tolist() == [2, 2, 1]
    assert table["percent"].sum() == pytest.approx(100)


# ------------------------------------------------------------------ pointwise pieces
def test_pointwise_elpd_is_log_of_mean_likelihood_without_underflow():
    ll = np.log(np.array([[0.2, 1e-300], [0.4, 1e-300]]))
    np.testing.assert_allclose(crossval.pointwise_elpd(ll), np.log([0.3, 1e-300]))
    ll = np.array([[-2000.0], [-2001.0]])  # exp underflows to 0 in float64
    assert crossval.pointwise_elpd(ll)[0] == pytest.approx(-2000 + np.log((1 + np.exp(-1)) / 2))
    with pytest.raises(ValueError, match="NaN"):
        crossval.pointwise_elpd(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        crossval.pointwise_elpd(np.zeros(3))


def test_gaussian_log_lik_integrates_out_an_unseen_group_intercept():
    rng = np.random.default_rng(0)
    draws = 200_000
    sigma, tau, y = 2.0, 3.0, np.array([1.5, -4.0])
    mu = np.zeros((1, 2))
    u = np.array([[0.5, np.nan]])  # row 0: known group; row 1: a new group
    ll = crossval.gaussian_log_lik(mu, y, np.array([sigma]), u, sigma_u=tau)
    assert ll[0, 0] == pytest.approx(norm.logpdf(1.5, 0.5, sigma))
    mc = np.log(np.mean(norm.pdf(-4.0, rng.normal(0, tau, draws), sigma)))
    assert ll[0, 1] == pytest.approx(mc, abs=0.01)
    with pytest.raises(ValueError, match="sigma_u"):
        crossval.gaussian_log_lik(mu, y, np.array([sigma]), u)


def test_compare_pointwise_uses_paired_differences():
    rng = np.random.default_rng(0)
    shared = rng.normal(-3, 1, 40)
    table = crossval.compare_pointwise({"a": shared + 0.1, "b": shared})
    assert list(table.index) == ["a", "b"]
    assert table.loc["b", "elpd_diff"] == pytest.approx(-4.0)
    assert table.loc["b", "dse"] == pytest.approx(0.0, abs=1e-9)  # identical errors: the difference is certain
    assert table.loc["b", "se"] > 1
    with pytest.raises(ValueError, match="different numbers of rows"):
        crossval.compare_pointwise({"a": shared, "b": shared[:5]})




def test_mse_checks_shapes():
    assert crossval.mse([1.0, 2.0], [1.0, 4.0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shape"):
        crossval.mse(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        crossval.mse([1.0, np.nan], [1.0, 2.0])


def test_one_pareto_k_threshold_when_loo_does_not_give_one():
    k_hat = np.array([0.1, 0.69, crossval.GOOD_K + 0.01, 0.9, 1.3])
    without = pd.Series({"pareto_k": k_hat})
    assert crossval.good_k(without) == crossval.GOOD_K == 0.7
    assert crossval.pareto_k_table(without)["count"].tolist() == [2, 2, 1]
    assert crossval.good_k(pd.Series({"pareto_k": k_hat, "good_k": 0.6})) == 0.6


def test_compare_pointwise_reads_loo_results_and_kfold_results(small):
    y = small["y"].to_numpy()
    loo = az.loo(idata_normal(y), pointwise=True)
    kf = crossval.kfold(small, fit_normal, log_lik_normal, k=3, seed=0)
    table = crossval.compare_pointwise({"loo": loo, "kfold": kf, "array": kf.pointwise})
    assert table.loc["loo", "elpd"] == pytest.approx(loo["elpd_loo"])
    assert table.loc["kfold", "elpd"] == pytest.approx(kf.elpd)
    assert table.loc["array", "elpd"] == pytest.approx(kf.elpd)


def test_kfold_counts_distinct_fold_labels(small):
    folds = np.where(np.arange(len(small)) % 2 == 0, 0, 5)  # labels {0, 5}: two folds, not six
    result = crossval.kfold(small, fit_normal, log_lik_normal, folds=folds)
    assert result.k == 2 and "2-fold CV" in repr(result)


def test_kfold_refuses_a_single_fold_label(small):
    with pytest.raises(ValueError, match="single label.*nothing to train on"):
        crossval.kfold(small, fit_normal, log_lik_normal, folds=np.zeros(len(small), dtype=int))


@pytest.mark.parametrize("sigma", [0.0, -1.0, np.nan])
def test_gaussian_log_lik_refuses_a_non_positive_sigma(sigma):
    with pytest.raises(ValueError, match="sigma must be positive and finite"):
        crossval.gaussian_log_lik(np.zeros((2, 3)), np.zeros(3), np.array([1.0, sigma]))


def test_gaussian_log_lik_refuses_a_negative_sigma_u():
    u = np.array([[np.nan, 0.0, 0.0]] * 2)
    with pytest.raises(ValueError, match="sigma_u must be >= 0"):
        crossval.gaussian_log_lik(np.zeros((2, 3)), np.zeros(3), np.ones(2), u=u, sigma_u=-1.0)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"k": "5"}, TypeError, "k \\(the number of folds\\) must be an integer, got str"),
        ({"k": 5.0}, TypeError, "k \\(the number of folds\\) must be an integer, got float"),
        ({"seed": "a"}, TypeError, "seed must be an integer, got str"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be an integer, got float"),
        ({"group": ["g"]}, TypeError, "group must be the name of one column"),
        ({"folds": np.r_[np.nan, np.arange(11) % 3]}, ValueError, "folds has 1 missing label"),
    ],
)
def test_kfold_names_a_bad_argument(small, kwargs, error, words):
    """Before: NumPy's SeedSequence errors, pandas' 'unhashable type', or (NaN fold) a silent elpd of NaN."""
    with pytest.raises(error, match=words):
        crossval.kfold(small, fit_normal, log_lik_normal, **kwargs)


@pytest.mark.parametrize("which", ["fit", "log_lik"])
def test_kfold_needs_functions(small, which):
    functions = {"fit": fit_normal, "log_lik": log_lik_normal, which: "normal"}
    with pytest.raises(TypeError, match=f"{which} must be a function, got str"):
        crossval.kfold(small, **functions)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: crossval.kfold_split("12", 3, 0), TypeError, "n \\(the number of rows\\) must be an integer"),
        (lambda: crossval.gaussian_log_lik(np.zeros((2, 3)), np.zeros(3), "1"), TypeError, "sigma must hold numbers"),
        (lambda: crossval.gaussian_log_lik(np.zeros((2, 3)), np.zeros(3), np.ones(2), np.full((2, 3), np.nan), sigma_u="a"),
         TypeError, "sigma_u must hold numbers"),
        (lambda: crossval.pareto_k_table({"pareto_k": np.array([0.1, 0.8])}, threshold="0.7"), TypeError,
         "threshold must be a number, got str"),
        (lambda: crossval.pareto_k_table({"pareto_k": np.array([0.1, 0.8])}, threshold=np.array([0.5, 0.7])), TypeError,
         "threshold must be a number, got ndarray"),
        (lambda: crossval.compare_pointwise([np.zeros(3), np.ones(3)]), TypeError, "scores must be a dict from labels"),
        (lambda: crossval.compare_pointwise({"a": "abc", "b": "def"}), TypeError, "scores\\['a'\\] must hold numbers"),
        (lambda: crossval.mse("abc", "abd"), TypeError, "y must hold numbers"),
    ],
)
def test_strings_and_lists_where_numbers_or_dicts_belong_are_named(call, error, words):
    with pytest.raises(error, match=words):
        call()
