"""Unit tests of lmmteach.models: input checks, model structure, MAP = OLS, sampling, the adapters for crossval."""

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
import statsmodels.formula.api as smf
from scipy.stats import norm

from lmmteach import crossval, models
from lmmteach.data import load_ciproxifan


@pytest.fixture(scope="module")
def wake():
    return load_ciproxifan()


def test_design_matrix_codes_ko_as_one(wake):
    d = models.design(wake, needs_id=True)
    assert d.X.shape == (33, 4)
    ko = (wake["Genotype"] == "ko").to_numpy()
    np.testing.assert_array_equal(d.X[:, 2], ko.astype(float))
    np.testing.assert_allclose(d.X[:, 3], wake["Treatment"].to_numpy() * ko)
    assert len(d.id_levels) == 18 and d.id_index.max() == 17


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns="WAKE"), "missing column"),
        (lambda f: f.drop(columns="id"), "missing column"),
        (lambda f: f.assign(WAKE=np.where(np.arange(len(f)) == 3, np.nan, f["WAKE"])), "missing value"),
        (lambda f: f.assign(id=f["id"].astype(int)), "must be a pandas category"),
        (lambda f: f.assign(Genotype=f["Genotype"].astype(str).replace("ko", "KO")), "'wt' or 'ko'"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
)
@pytest.mark.parametrize("builder", [models.report_mixed, models.hierarchical, models.bambi_hierarchical])
def test_bad_input_raises_before_compiling(wake, change, message, builder):
    with pytest.raises(ValueError, match=message):
        builder(change(wake.copy()))


def test_fixed_effects_needs_no_id_and_rejects_bad_priors(wake):
    model = models.fixed_effects(wake.drop(columns="id"))
    assert set(model.named_vars) >= {"beta", "sigma", "WAKE"}
    with pytest.raises(ValueError, match="priors"):
        models.fixed_effects(wake, priors="vague")
    with pytest.raises(ValueError, match="sigma_u_prior"):
        models.hierarchical(wake, sigma_u_prior="lognormal")


def test_flat_prior_map_is_ols(wake):
    ols = smf.ols(models.FORMULA, wake).fit()
    with models.fixed_effects(wake, priors="flat"):
        estimate = pm.find_MAP(progressbar=False, seed=1)
    expected = ols.params[["Intercept", "Treatment", "Genotype[T.ko]", "Treatment:Genotype[T.ko]"]].to_numpy()
    np.testing.assert_allclose(estimate["beta"], expected, atol=1e-4)
    np.testing.assert_allclose(estimate["sigma"], np.sqrt(ols.ssr / len(wake)), atol=1e-4)


def test_model_coordinates_are_named(wake):
    model = models.hierarchical(wake)
    assert list(model.coords["coef"]) == list(models.COEFS)
    assert list(model.coords["id"]) == [str(i) for i in range(1, 19)]
    assert "z_u" in model.named_vars and "u" in model.named_vars
    centred = models.hierarchical(wake, centered=True)
    assert "z_u" not in centred.named_vars


def test_report_mixed_fixes_the_intercept_scale(wake):
    model = models.report_mixed(wake, u_sd=10.0)
    assert "sigma_u" not in model.named_vars
    u_draws = pm.draw(model["u"], draws=4000, random_seed=3)
    assert abs(u_draws.std() - 10.0) < 0.3
    with pytest.raises(ValueError, match="u_sd"):
        models.report_mixed(wake, u_sd=0)


def test_every_sigma_u_prior_builds_a_positive_scale(wake):
    for name in models.SIGMA_U_PRIORS:
        model = models.hierarchical(wake, sigma_u_prior=name)
        logp = model.compile_logp()(model.initial_point())
        assert np.isfinite(logp), name


def test_show_progress(monkeypatch):
    monkeypatch.delenv("LMMTEACH_PROGRESS", raising=False)   # conftest switches progress off for the whole session
    assert models.show_progress(True) is True and models.show_progress(False) is False
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "x")
    assert models.show_progress(None) is False
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.delenv("CI", raising=False)
    assert models.show_progress(None) is True
    monkeypatch.setenv("CI", "true")
    assert models.show_progress(None) is False


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"seed": None}, TypeError, "seed is required"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0, got -1"),
        ({"seed": 1.5}, TypeError, "seed must be an integer, got float"),
        ({"seed": "1"}, TypeError, "seed must be an integer, got str"),
        ({"seed": True}, TypeError, "seed must be an integer, got bool"),
        ({"seed": 1, "sampler": "gibbs"}, ValueError, "sampler must be one of"),
        ({"seed": 1, "draws": 0}, ValueError, "draws must be an integer >= 1"),
        ({"seed": 1, "tune": 10.0}, TypeError, "tune must be an integer"),
        ({"seed": 1, "target_accept": "0.9"}, TypeError, "target_accept must be a number, got str"),
        ({"seed": 1, "target_accept": 1.5}, ValueError, "target_accept must lie strictly between 0 and 1"),
        ({"seed": 1, "target_accept": 0}, ValueError, "target_accept must lie strictly between 0 and 1"),
        ({"seed": 1, "target_accept": np.nan}, ValueError, "target_accept must be finite"),
    ],
)
def test_sample_names_a_bad_argument_before_sampling(wake, kwargs, error, words):
    with pytest.raises(error, match=words):
        models.sample(models.fixed_effects(wake), **kwargs)


def test_sample_refuses_something_that_is_not_a_model():
    with pytest.raises(TypeError, match="model must be a PyMC model or a Bambi model.*got NoneType"):
        models.sample(None, seed=1)


@pytest.mark.parametrize(
    "build, argument",
    [
        (lambda data, value: models.report_mixed(data, u_sd=value), "u_sd"),
        (lambda data, value: models.bambi_hierarchical(data, sigma_u_prior_sd=value), "sigma_u_prior_sd"),
    ],
)
@pytest.mark.parametrize(
    "value, error, words",
    [(0, ValueError, "must be > 0"), (-10.0, ValueError, "must be > 0"), (np.inf, ValueError, "must be finite"),
     ("10", TypeError, "must be a number, got str"), (None, TypeError, "must be a number, got NoneType")],
)
def test_a_bad_prior_scale_is_refused_when_the_model_is_built(wake, build, argument, value, error, words):
    """Before: these built silently and failed later inside nutpie with a Rust backtrace (or sampled nonsense)."""
    with pytest.raises(error, match=f"{argument}.*{words}"):
        build(wake, value)


def test_course_log_lik_refuses_a_bad_new_mouse_scale():
    post = {"beta": np.zeros((1, 2, 4)), "sigma": np.ones((1, 2)), "u": np.zeros((1, 2, 1))}
    idata = az.from_dict(posterior=post, coords={"coef": list(models.COEFS), "id": ["1"]}, dims={"beta": ["coef"], "u": ["id"]})
    test = pd.DataFrame({"WAKE": [40.0], "Treatment": [0.0], "Genotype": ["wt"], "id": pd.Categorical(["2"])})
    with pytest.raises(TypeError, match="u_sd .*must be a number, got str"):
        models.course_log_lik(idata, test, u_sd="10")


def test_centered_must_be_true_or_false(wake):
    with pytest.raises(TypeError, match="centered must be True or False, got 'yes'"):
        models.hierarchical(wake, centered="yes")


@pytest.mark.parametrize("coding", [lambda g: (g == "ko").astype(int), lambda g: g == "ko", lambda g: (g == "ko") * 1.0])
def test_a_numeric_genotype_is_read_as_zero_wt_one_ko_by_every_builder(wake, coding):
    """ciproxifan.design documents a 0/1 Genotype (0 = wt, 1 = ko); Bambi's formula used to fail on it."""
    numeric = wake.assign(Genotype=coding(wake["Genotype"]))
    np.testing.assert_array_equal(models.design(numeric).X, models.design(wake).X)
    labelled, coded = models.bambi_hierarchical(wake), models.bambi_hierarchical(numeric)
    for part in ("common", "group"):
        expected = getattr(labelled.components["mu"].design, part)
        got = getattr(coded.components["mu"].design, part)
        assert got.as_dataframe().columns.tolist() == expected.as_dataframe().columns.tolist()
        np.testing.assert_array_equal(np.asarray(got.as_dataframe()), np.asarray(expected.as_dataframe()))
    assert "Genotype[ko]" in labelled.components["mu"].design.common.as_dataframe().columns


def test_a_genotype_coded_other_than_zero_one_is_named(wake):
    with pytest.raises(models.ModelDataError, match="must be 0 \\(wt\\) or 1 \\(ko\\); found \\[2.0\\]"):
        models.bambi_hierarchical(wake.assign(Genotype=(wake["Genotype"] == "ko").astype(int) * 2))


@pytest.mark.parametrize("sampler", models.SAMPLERS)
def test_sample_is_reproducible_and_stores_log_likelihood(wake, sampler):
    model = models.report_mixed(wake)
    runs = [models.sample(model, seed=7, draws=50, tune=50, chains=2, sampler=sampler, progressbar=False) for _ in range(2)]
    first, second = runs
    np.testing.assert_array_equal(first.posterior["beta"].values, second.posterior["beta"].values)
    assert first.log_likelihood["WAKE"].shape == (2, 50, 33)
    assert list(first.posterior["u"].coords["id"].values) == [str(i) for i in range(1, 19)]


def test_bambi_model_matches_pymc_priors_and_names(wake):
    model = models.bambi_hierarchical(wake)
    idata = models.sample(model, seed=11, draws=50, tune=50, chains=2, progressbar=False)
    post = models.course_posterior(idata)
    assert list(post["beta"].coords["coef"].values) == list(models.COEFS)
    assert post["u"].sizes["id"] == 18 and "sigma_u" in post
    assert idata.log_likelihood["WAKE"].shape == (2, 50, 33)
    priors = {name: term.prior for name, term in model.components["mu"].common_terms.items()}
    assert priors["Genotype"].args["sigma"] == models.BETA_SD
    assert model.components["mu"].intercept_term.prior.args["sigma"] == models.BETA_SD


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
    elpd = crossval.pointwise_elpd(models.course_log_lik(idata, test))
    # mu = 40 + 3*3 = 49; mouse 1 (+5) is predicted at 54, mouse 2 (-5) at 44, unseen mouse 9 at 49 with sd ~ sqrt(8^2+3^2)
    assert elpd[0] == pytest.approx(norm.logpdf(48, 54, 8), abs=0.03)
    assert elpd[1] == pytest.approx(norm.logpdf(48, 44, 8), abs=0.03)
    assert elpd[2] == pytest.approx(norm.logpdf(48, 49, np.sqrt(64 + 9)), abs=0.03)
    fitted = models.course_fitted_mean(idata, test.iloc[:2])
    np.testing.assert_allclose(fitted, [54, 44], atol=0.05)
    with pytest.raises(ValueError, match="no intercept for mouse"):
        models.course_fitted_mean(idata, test)
    with pytest.raises(ValueError, match="missing column"):
        models.course_log_lik(idata, test.drop(columns="Treatment"))


def _student_t_predictive(wake, folds):
    """The exact log predictive density of each held-out row under the flat-prior regression fitted to its fold's complement."""
    from scipy.stats import t as student_t

    expected = np.empty(len(wake))
    for f in np.unique(folds):
        train, test = models.design(wake[folds != f]), models.design(wake[folds == f])
        b, rss, *_ = np.linalg.lstsq(train.X, train.y, rcond=None)
        nu = len(train.y) - train.X.shape[1] - 1
        lev = np.einsum("ij,jk,ik->i", test.X, np.linalg.inv(train.X.T @ train.X), test.X)
        expected[folds == f] = student_t.logpdf(test.y, nu, test.X @ b, np.sqrt(rss[0] / nu * (1 + lev)))
    return expected


def test_kfold_of_the_flat_prior_regression_matches_the_student_t_predictive(wake):
    """End to end with PyMC: models.fixed_effects + models.sample + course_log_lik + kfold.

    With flat priors on beta and sigma, the predictive density of a held-out row is a
    Student t with n - p - 1 degrees of freedom, location x'b and scale
    sqrt(RSS / (n - p - 1) * (1 + x'(X'X)^-1 x)), b the least-squares fit to the training rows.
    """
    def fit(train):
        return models.sample(models.fixed_effects(train, priors="flat"), seed=4, draws=1500, tune=300,
                             chains=1, sampler="pymc", progressbar=False)

    result = crossval.kfold(wake, fit, models.course_log_lik, k=3, seed=1, group="id")
    expected = _student_t_predictive(wake, result.folds)
    # Monte Carlo error: ~0.02 for typical rows, up to ~0.1 for rows in the tail of their predictive
    np.testing.assert_allclose(result.pointwise, expected, atol=0.25)
    assert np.median(np.abs(result.pointwise - expected)) < 0.05
    assert result.elpd == pytest.approx(expected.sum(), abs=0.6)


@pytest.mark.parametrize("builder", [lambda d, **o: models.fixed_effects(d, priors="weak", **o), models.report_mixed,
                                     models.hierarchical])
def test_weight_zero_gives_the_log_density_of_the_data_without_those_rows(wake, builder):
    """The weighted model's log density, held-out rows at weight 0, equals the model built without them (same point)."""
    keep = np.ones(len(wake), bool)
    keep[[0, 5, 6]] = False
    weighted, full = builder(wake, weighted=True), builder(wake)
    subset = builder(wake[keep])  # keeps every mouse's intercept: id stays a category with all levels
    point = full.initial_point()
    point = {name: value + 0.3 for name, value in point.items()}  # away from the prior's centre
    logp_all = weighted.compile_logp()(point)
    assert logp_all == pytest.approx(full.compile_logp()(point))
    weighted.set_data("weight", keep.astype(float))
    assert weighted.compile_logp()(point) == pytest.approx(subset.compile_logp()(point))
    assert "WAKE" not in weighted.named_vars and "WAKE" in full.named_vars


@pytest.fixture(scope="module")
def weighted_flat(wake):
    return models.WeightedModel(models.fixed_effects(wake, priors="flat", weighted=True), wake)


def test_weighted_model_checks_its_input(wake, weighted_flat):
    with pytest.raises(ValueError, match="weighted=True"):
        models.WeightedModel(models.fixed_effects(wake), wake)
    with pytest.raises(ValueError, match="33 rows"):
        models.WeightedModel(models.fixed_effects(wake, weighted=True), wake.iloc[:10])
    with pytest.raises(ValueError, match="unknown or repeated"):
        weighted_flat.sample(wake.set_axis(wake.index + 100), seed=1)
    changed = wake.assign(WAKE=wake["WAKE"] + 1)
    with pytest.raises(ValueError, match="differs"):
        weighted_flat.sample(changed, seed=1)
    with pytest.raises(TypeError, match="seed is required"):
        weighted_flat.sample(wake, seed=None)
    with pytest.raises(ValueError, match="target_accept"):
        weighted_flat.sample(wake, seed=1, target_accept=1.5)


def test_weighted_kfold_of_the_flat_prior_regression_matches_the_student_t_predictive(wake, weighted_flat):
    """Refits by weight, one compiled model: the same exact predictive as refits on the subsets (test above)."""
    fit = weighted_flat.refitter(4, draws=1500, tune=300, chains=1)
    result = crossval.kfold(wake, fit, models.course_log_lik, k=3, seed=1, group="id")
    expected = _student_t_predictive(wake, result.folds)
    np.testing.assert_allclose(result.pointwise, expected, atol=0.25)
    assert np.median(np.abs(result.pointwise - expected)) < 0.05
    assert result.elpd == pytest.approx(expected.sum(), abs=0.6)


def test_weighted_refit_keeps_the_intercepts_of_mice_in_train_and_drops_new_ones(wake):
    model = models.WeightedModel(models.report_mixed(wake, weighted=True), wake)
    runs = [model.sample(seed=3, draws=100, tune=100, chains=2, progressbar=False) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].posterior["beta"].values, runs[1].posterior["beta"].values)
    assert runs[0].log_likelihood["WAKE"].shape == (2, 100, 33)
    mouse_1 = wake["id"].astype(str) == "1"
    one_recording_out = wake.drop(index=wake.index[mouse_1][:1])  # reloo: the mouse keeps its category
    kept = model.sample(one_recording_out, seed=3, draws=100, tune=100, chains=2, progressbar=False)
    assert kept.posterior["u"].sizes["id"] == 18
    assert list(kept.log_likelihood["WAKE"].coords["obs"].values) == list(np.flatnonzero(wake.index.isin(one_recording_out.index)))
    mouse_out = wake[~mouse_1].assign(id=lambda d: d["id"].cat.remove_unused_categories())  # kfold by mouse
    dropped = model.sample(mouse_out, seed=3, draws=100, tune=100, chains=2, progressbar=False)
    assert "1" not in dropped.posterior["u"].coords["id"].values and dropped.posterior["u"].sizes["id"] == 17
    elpd = crossval.pointwise_elpd(models.course_log_lik(dropped, wake[mouse_1]))
    assert np.all(np.isfinite(elpd))


@pytest.mark.parametrize("name", sorted(models.SIGMA_U_LOG_DENSITIES))
def test_a_prior_switch_has_the_posterior_of_the_named_prior(wake, name):
    """Switched to prior k, the one compiled model has the log posterior of hierarchical(sigma_u_prior=name), up to
    a constant (the inverse-gamma priors are declared on the variance there: a constant Jacobian log 2 apart)."""
    names = sorted(models.SIGMA_U_LOG_DENSITIES)
    switch = models.hierarchical(wake, sigma_u_prior=models.sigma_u_prior_switch(names))
    switch.set_data(models.PRIOR_CHOICE, np.eye(len(names))[names.index(name)])
    named = models.hierarchical(wake, sigma_u_prior=name)
    switch_logp, named_logp = switch.compile_logp(), named.compile_logp()
    rng = np.random.default_rng(3)
    differences = []
    for _ in range(4):
        log_sigma_u = rng.normal(1.0, 1.0)
        point = {"beta": rng.normal(0, 5, size=len(models.COEFS)), "sigma_log__": np.log(8.0) + rng.normal(0, 0.2),
                 "z_u": rng.normal(size=wake["id"].nunique())}
        named_point = dict(point)
        if name.startswith("invgamma"):
            named_point["sigma_u_sq_log__"] = 2 * log_sigma_u
        else:
            named_point["sigma_u_log__"] = log_sigma_u
        differences.append(switch_logp({**point, "sigma_u_log__": log_sigma_u}) - named_logp(named_point))
    assert np.ptp(differences) < 1e-8, differences


def test_a_prior_switch_refuses_unknown_names():
    with pytest.raises(ValueError, match="names must be"):
        models.sigma_u_prior_switch(["halfnormal", "flat"])
    with pytest.raises(ValueError, match="names must be"):
        models.sigma_u_prior_switch([])
