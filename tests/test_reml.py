"""Tests of lmmteach.reml against lme4 (recorded fixtures) and statsmodels MixedLM.

The lme4 numbers come from tests/fixtures/make_lme4_fixtures.R (run once with
R; the tests never call R). The data sets lme4 saw are copied next to them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statsmodels.regression import linear_model as sm_ols
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from lmmteach import ols, reml
from lmmteach.data import load_ciproxifan, load_sleepstudy

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = json.loads((FIXTURES / "lme4_reference.json").read_text())["fits"]
RTOL = 1e-5  # the bar: relative agreement with lme4


def fixture_data(name: str) -> pd.DataFrame:
    """The data set a fixture was fitted on, with factor columns as pandas category."""
    if name == "sleepstudy":
        return load_sleepstudy()
    if name == "sleepstudy+1e6":
        return load_sleepstudy().assign(Reaction=lambda s: s["Reaction"] + 1e6)
    frame = pd.read_csv(FIXTURES / name)
    if name == "ciproxifan.csv":
        frame["Genotype"] = pd.Categorical(frame["Genotype"], categories=["wt", "ko"])
        frame["id"] = pd.Categorical(frame["id"])
    for col in ("plate", "sample", "batch", "cask", "g"):
        if col in frame:
            frame[col] = pd.Categorical(frame[col])
    return frame


def formulae_name(lme4_name: str) -> str:
    """lme4's coefficient names -> formulae's: (Intercept) -> Intercept, Genotypeko -> Genotype[ko]."""
    return lme4_name.replace("(Intercept)", "Intercept").replace("Genotypeko", "Genotype[ko]")


_FITS: dict = {}


def fitted(key: str) -> reml.MixedLMResult:
    """Fit each reference model once per test session."""
    if key not in _FITS:
        ref = REFERENCE[key]
        with warnings.catch_warnings():
            # a singular fit warns exactly when lme4's is singular
            warnings.simplefilter("ignore" if ref["singular"] else "error", reml.SingularFitWarning)
            _FITS[key] = reml.fit(ref["formula"], fixture_data(ref["data"]), method=ref["method"])
    return _FITS[key]


# --------------------------------------------------------------------------
# lme4 fixtures: every model, REML and ML
# --------------------------------------------------------------------------

KEYS = sorted(REFERENCE)


@pytest.mark.parametrize("key", KEYS)
def test_criterion_and_fixed_effects_match_lme4(key):
    ref, res = REFERENCE[key], fitted(key)
    assert res.converged and res.singular == ref["singular"]
    assert res.method == ref["method"]
    assert res.criterion == pytest.approx(ref["criterion"], rel=RTOL)
    assert res.llf == pytest.approx(-ref["criterion"] / 2, rel=RTOL)
    names = [formulae_name(n) for n in ref["fixef"]]
    assert list(res.fe_params.index) == names == list(res.bse.index)
    np.testing.assert_allclose(res.fe_params.to_numpy(), list(ref["fixef"].values()), rtol=RTOL)
    np.testing.assert_allclose(res.bse.to_numpy(), list(ref["se"].values()), rtol=RTOL)
    np.testing.assert_allclose(res.cov_fe.to_numpy(), np.array(ref["vcov"], ndmin=2), rtol=RTOL,
                               atol=RTOL * np.abs(ref["vcov"]).max())
    assert res.sigma == pytest.approx(ref["sigma"], rel=RTOL)


@pytest.mark.parametrize("key", KEYS)
def test_variance_components_theta_and_ranef_match_lme4(key):
    ref, res = REFERENCE[key], fitted(key)
    if not ref["singular"]:  # on the boundary theta is not identified: T's zero column can rotate the others
        np.testing.assert_allclose(res.theta, np.array(ref["theta"], ndmin=1), rtol=RTOL, atol=1e-6)

    vc = res.var_components
    assert len(vc) == len(ref["varcorr"]) and vc["group"].iloc[-1] == "Residual"
    for (_, row), want in zip(vc.iterrows(), ref["varcorr"]):
        assert row["group"] == want["grp"]  # a factor in two terms: "Subject", then "Subject.1"
        assert (row["term1"] if isinstance(row["term1"], str) else None) == (
            formulae_name(want["var1"]) if want["var1"] else None
        )
        assert (row["term2"] if isinstance(row["term2"], str) else None) == (
            formulae_name(want["var2"]) if want["var2"] else None
        )
        assert row["vcov"] == pytest.approx(want["vcov"], rel=RTOL, abs=1e-10)
        assert row["sdcor"] == pytest.approx(float(want["sdcor"]), rel=RTOL,  # JSON writes NaN as "NaN"
                                             abs=1e-10, nan_ok=True)  # a correlation with a zero variance: NaN

    ranef = res.ranef
    for group, want in ref["ranef"].items():
        if not isinstance(ranef.index, pd.MultiIndex):
            part = ranef
        else:  # lme4 joins the terms of one factor ("Subject", "Subject.1") into one table
            mine = ranef.index.get_level_values("group")
            rows = (mine == group) | mine.str.startswith(group + ".")
            part = ranef[rows].groupby(level="level", sort=False).first()
        columns = [want["columns"]] if isinstance(want["columns"], str) else want["columns"]  # JSON unboxed
        got = part.loc[want["levels"], [formulae_name(c) for c in columns]].to_numpy()
        scale = np.abs(want["values"]).max()
        np.testing.assert_allclose(got, np.array(want["values"]), rtol=RTOL, atol=RTOL * scale)


def test_published_lmer_output_is_reproduced_on_the_shipped_reconstruction():
    """Listing 4 of the report (REML): the numbers printed there, to the digits printed."""
    res = reml.fit("WAKE ~ Treatment * Genotype + (1 | id)", load_ciproxifan())
    published = {"Intercept": (44.1194, 2.7813), "Treatment": (3.0834, 0.4606),
                 "Genotype[ko]": (-0.3840, 3.9456), "Treatment:Genotype[ko]": (-0.1707, 0.6499)}
    for name, (estimate, se) in published.items():
        assert res.fe_params[name] == pytest.approx(estimate, abs=5e-5)
        assert res.bse[name] == pytest.approx(se, abs=5e-5)
    vc = res.var_components.set_index("group")["vcov"]
    assert vc["id"] == pytest.approx(9.926, abs=5e-4)
    assert vc["Residual"] == pytest.approx(58.145, abs=5e-4)
    assert res.criterion == pytest.approx(221.28, abs=5e-3)
    assert res.nobs == 33 and res.ngroups == {"id": 18}


def test_summary_is_shaped_like_lmer():
    res = fitted("sleepstudy_slope_REML")
    text = str(res)
    assert text == res.summary()
    assert "Linear mixed model fit by REML" in text
    assert "Formula: Reaction ~ Days + (Days | Subject)" in text
    assert "REML criterion at convergence: 1743.6283" in text
    assert "Random effects:" in text and "Fixed effects:" in text
    assert "Number of obs: 180, groups:  Subject, 18" in text
    assert "0.07" in text  # the intercept-slope correlation, as lmer prints it
    ml = str(fitted("sleepstudy_slope_ML"))
    assert "maximum likelihood" in ml and "AIC" in ml and "1751.9" in ml


def test_nested_slash_syntax_equals_explicit_terms():
    data = fixture_data("pastes.csv")
    slash = reml.fit("strength ~ 1 + (1 | batch/cask)", data)
    explicit = fitted("pastes_nested_REML")
    assert slash.criterion == pytest.approx(explicit.criterion, rel=1e-10)
    assert slash.ngroups == {"batch:cask": 30, "batch": 10}


def test_one_factor_fast_path_equals_the_general_dense_path():
    """The batched per-group algebra gives the same criterion as one big q x q Cholesky."""
    model = reml.MixedModel("Reaction ~ Days + (Days | Subject)", load_sleepstudy())
    dense = reml.MixedModel("Reaction ~ Days + (Days | Subject)", load_sleepstudy(), solver="dense")
    assert isinstance(model.structure, reml._OneFactor) and isinstance(dense.structure, reml._Dense)
    rng = np.random.default_rng(3)
    for theta in rng.uniform([0.01, -1, 0.01], [2, 1, 2], size=(5, 3)):
        assert model.profiled_deviance(theta) == pytest.approx(dense.profiled_deviance(theta), rel=1e-12)
        np.testing.assert_allclose(model.gradient(theta), dense.gradient(theta), rtol=1e-9, atol=1e-9)
    res = model.fit()
    dense_res = dense.fit()
    np.testing.assert_allclose(res.ranef.to_numpy(), dense_res.ranef.to_numpy(), rtol=1e-6, atol=1e-6)


def _several_terms_designs():
    """Crossed, nested, unbalanced with empty cells, and random slopes in block 1 or in block 2 of _BlockSchur."""
    sleep = load_sleepstudy()
    week = pd.Categorical(np.arange(len(sleep)) % 7)  # 7 levels: fewer than the 18 subjects
    ward = pd.Categorical(np.arange(len(sleep)) % 40)  # 40 levels: more than the 18 subjects
    penicillin = fixture_data("penicillin.csv")
    return {
        "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin),
        "nested": ("strength ~ 1 + (1 | batch/cask)", fixture_data("pastes.csv")),
        "unbalanced": ("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin.sample(frac=0.7, random_state=1)),
        "slope_in_block_1": ("Reaction ~ Days + (Days | Subject) + (1 | week)", sleep.assign(week=week)),
        "slope_in_block_2": ("Reaction ~ Days + (1 | ward) + (Days | Subject)", sleep.assign(ward=ward)),
        "same_factor_twice": ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep),
    }


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("design", sorted(_several_terms_designs()))
def test_block_path_equals_the_dense_path(design, method):
    """_BlockSchur (block Cholesky with a Schur complement) and one dense q x q factor: same numbers everywhere."""
    formula, data = _several_terms_designs()[design]
    block = reml.MixedModel(formula, data, method=method, solver="block")
    dense = reml.MixedModel(formula, data, method=method, solver="dense")
    assert isinstance(block.structure, reml._BlockSchur) and isinstance(dense.structure, reml._Dense)
    rng = np.random.default_rng(5)
    start, diagonal = block.theta_start(), block.diagonal_mask()
    thetas = [start * rng.uniform(0.2, 1.5, size=len(start)) + 0.1 * ~diagonal for _ in range(3)]
    for zero in np.flatnonzero(diagonal):  # boundary points: each diagonal element of T at 0 in turn (T singular)
        thetas.append(np.where(np.arange(len(start)) == zero, 0.0, thetas[0]))
    for theta in thetas:
        assert block.profiled_deviance(theta) == pytest.approx(dense.profiled_deviance(theta), rel=1e-12)
        np.testing.assert_allclose(block.gradient(theta), dense.gradient(theta), rtol=1e-9, atol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reml.SingularFitWarning)
        ours, reference = block.fit(), dense.fit()
    assert ours.converged and ours.singular == reference.singular
    assert ours.criterion == pytest.approx(reference.criterion, rel=1e-12)
    np.testing.assert_allclose(ours.theta, reference.theta, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.fe_params, reference.fe_params, rtol=1e-8)
    np.testing.assert_allclose(ours.bse, reference.bse, rtol=1e-7)
    np.testing.assert_allclose(ours.ranef.to_numpy(), reference.ranef.to_numpy(), rtol=1e-6, atol=1e-6)


def test_block_path_at_a_boundary_fit_equals_the_dense_path():
    """Crossed factors, one of them without any variance: both paths land on the same singular fit."""
    rng = np.random.default_rng(8)
    a, b = rng.integers(0, 40, size=600), rng.integers(0, 25, size=600)
    data = pd.DataFrame({"y": rng.normal(size=40)[a] + rng.normal(size=600), "a": pd.Categorical(a),
                         "b": pd.Categorical(b)})
    fits = {}
    for solver in ("block", "dense"):
        with pytest.warns(reml.SingularFitWarning):
            fits[solver] = reml.MixedModel("y ~ 1 + (1 | a) + (1 | b)", data, solver=solver).fit()
    assert fits["block"].singular and fits["block"].theta[1] == 0.0 == fits["dense"].theta[1]
    assert fits["block"].criterion == pytest.approx(fits["dense"].criterion, rel=1e-12)
    np.testing.assert_allclose(fits["block"].theta, fits["dense"].theta, rtol=1e-6)
    np.testing.assert_allclose(fits["block"].bse, fits["dense"].bse, rtol=1e-7)


@pytest.mark.parametrize("key", [k for k in KEYS if k.startswith(("penicillin_crossed", "pastes_nested"))])
def test_block_path_matches_lme4(key):
    """The crossed and nested lme4 fixtures, fitted through _BlockSchur (auto picks the dense factor for so few levels)."""
    ref = REFERENCE[key]
    model = reml.MixedModel(ref["formula"], fixture_data(ref["data"]), method=ref["method"], solver="block")
    res = model.fit()
    assert res.converged and not res.singular
    assert res.criterion == pytest.approx(ref["criterion"], rel=RTOL)
    np.testing.assert_allclose(res.theta, np.array(ref["theta"]), rtol=RTOL)
    np.testing.assert_allclose(res.fe_params.to_numpy(), list(ref["fixef"].values()), rtol=RTOL)
    np.testing.assert_allclose(res.bse.to_numpy(), list(ref["se"].values()), rtol=RTOL)


def test_auto_solver_picks_the_path_by_structure():
    sleep, penicillin = load_sleepstudy(), fixture_data("penicillin.csv")
    assert isinstance(reml.MixedModel("Reaction ~ Days + (Days | Subject)", sleep).structure, reml._OneFactor)
    assert isinstance(reml.MixedModel("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin).structure, reml._Dense)
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 300, size=3000), rng.integers(0, 200, size=3000)
    data = pd.DataFrame({"y": rng.normal(size=3000), "a": pd.Categorical(a), "b": pd.Categorical(b)})
    assert reml.DENSE_UP_TO < 500
    assert isinstance(reml.MixedModel("y ~ 1 + (1 | a) + (1 | b)", data).structure, reml._BlockSchur)


def test_many_nested_levels_fit_without_a_dense_q_by_q_matrix():
    """5000 casks in 500 batches: the dense path would need q x q = 5500^2 doubles (242 MB); blocks need q2 = 500."""
    import tracemalloc

    rng = np.random.default_rng(12)
    batches, casks_per_batch, per_cask = 500, 10, 3
    batch = np.repeat(np.arange(batches), casks_per_batch * per_cask)
    cask = np.tile(np.repeat(np.arange(casks_per_batch), per_cask), batches)
    y = rng.normal(size=batches)[batch] + 0.5 * rng.normal(size=(batches, casks_per_batch))[batch, cask]
    data = pd.DataFrame({"y": y + rng.normal(size=len(batch)), "batch": pd.Categorical(batch), "cask": cask})
    tracemalloc.start()
    try:
        model = reml.MixedModel("y ~ 1 + (1 | batch/cask)", data)
        fit = model.fit()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    q = 500 + 5000
    assert isinstance(model.structure, reml._BlockSchur) and model.structure.q == q
    assert model.structure.q1 == 5000  # the casks are eliminated level by level; the Schur complement is 500 x 500
    assert peak < q * q * 8 / 10, f"peak {peak / 1e6:.0f} MB: something of size q x q was allocated"
    assert fit.converged and fit.ngroups == {"batch:cask": 5000, "batch": 500}
    assert fit.var_components["vcov"].iloc[1] == pytest.approx(1.0, rel=0.3)  # batch variance, 500 batches


def test_unknown_solver_is_named(sleep):
    with pytest.raises(ValueError, match="'auto', 'one_factor', 'block' or 'dense'.*'sparse'"):
        reml.MixedModel("Reaction ~ Days + (Days | Subject)", sleep, solver="sparse")
    with pytest.raises(ValueError, match="solver='block' needs several random-effect terms"):
        reml.MixedModel("Reaction ~ Days + (Days | Subject)", sleep, solver="block")


def test_category_order_sets_the_reference_level():
    data = fixture_data("ciproxifan.csv")
    data["Genotype"] = data["Genotype"].cat.reorder_categories(["ko", "wt"])
    res = reml.fit("WAKE ~ Treatment * Genotype + (1 | id)", data)
    assert list(res.fe_params.index) == ["Intercept", "Treatment", "Genotype[wt]", "Treatment:Genotype[wt]"]
    ref = fitted("ciproxifan_intercept_REML")
    assert res.criterion == pytest.approx(ref.criterion, rel=1e-8)  # same model, other coding


# --------------------------------------------------------------------------
# statsmodels MixedLM
# --------------------------------------------------------------------------


def statsmodels_fit(formula, data, groups, re_formula=None, reml_=True):
    """MixedLM with tight optimiser settings; its default stops too early to agree to 1e-6."""
    model = MixedLM.from_formula(formula, data, groups=groups, re_formula=re_formula)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model, model.fit(reml=reml_, method="bfgs", gtol=1e-10)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("re_formula", [None, "~Days"])
def test_sleepstudy_matches_statsmodels(method, re_formula):
    data = load_sleepstudy()
    formula = "Reaction ~ Days + (Days | Subject)" if re_formula else "Reaction ~ Days + (1 | Subject)"
    ours = reml.fit(formula, data, method=method)
    _, sm = statsmodels_fit("Reaction ~ Days", data, "Subject", re_formula, reml_=method == "REML")
    assert ours.criterion == pytest.approx(-2 * sm.llf, rel=1e-8)  # lme4's criterion is -2 llf
    np.testing.assert_allclose(ours.fe_params.to_numpy(), sm.fe_params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.sigma**2, sm.scale, rtol=1e-5)
    k = 2 if re_formula else 1
    vc = ours.var_components
    ours_cov = np.zeros((k, k))
    for _, row in vc[vc["group"] == "Subject"].iterrows():
        a = ["Intercept", "Days"].index(row["term1"])
        b = a if not isinstance(row["term2"], str) else ["Intercept", "Days"].index(row["term2"])
        ours_cov[a, b] = ours_cov[b, a] = row["vcov"]
    np.testing.assert_allclose(ours_cov, np.asarray(sm.cov_re), rtol=1e-5)
    # Balanced design: statsmodels' standard errors agree with lme4's as well.
    np.testing.assert_allclose(ours.bse.to_numpy(), sm.bse_fe.to_numpy(), rtol=1e-5)


def test_statsmodels_bse_fe_differs_on_unbalanced_data_and_why():
    """statsmodels' bse_fe is not lme4's sigma^2 (X'V^-1X)^-1 on an unbalanced design.

    MixedLM.fit inverts the whole observed Hessian of the (restricted)
    log-likelihood in (beta, covariance parameters), so its fixed-effect
    variances include the beta x variance-parameter cross block, which is not
    zero at the optimum when groups are unbalanced. lme4 (and lmmteach) use the
    fixed-effect block alone, whose inverse is sigma^2 (X'V^-1X)^-1: the
    expected information is block diagonal. Inverting only statsmodels' own
    fixed-effect block reproduces lme4's standard errors.
    """
    data = fixture_data("ciproxifan.csv")
    data["ko"] = (data["Genotype"] == "ko").astype(float)
    ours = fitted("ciproxifan_intercept_REML")
    model, sm = statsmodels_fit("WAKE ~ Treatment * ko", data, "id")
    assert ours.criterion == pytest.approx(-2 * sm.llf, rel=1e-8)
    np.testing.assert_allclose(ours.fe_params.to_numpy(), sm.fe_params.to_numpy(), rtol=1e-6)
    ratio = sm.bse_fe.to_numpy() / ours.bse.to_numpy()
    assert ratio.max() > 1.10  # Treatment: about 13 % larger in statsmodels
    hessian, _ = model.hessian(sm.params_object)
    p = model.k_fe
    assert np.abs(hessian[p:, :p]).max() > 1  # the cross block that makes the difference
    fe_block_se = np.sqrt(np.diag(np.linalg.inv(-hessian[:p, :p])))
    np.testing.assert_allclose(fe_block_se, ours.bse.to_numpy(), rtol=1e-6)


@st.composite
def random_intercept_data(draw, balanced: bool):
    n_groups = draw(st.integers(3, 12))
    sizes = [draw(st.integers(2, 6))] * n_groups if balanced else draw(
        st.lists(st.integers(1, 8), min_size=n_groups, max_size=n_groups).filter(lambda s: sum(s) >= n_groups + 4)
    )
    seed = draw(st.integers(0, 2**32 - 1))
    sd_group = draw(st.sampled_from([0.3, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), sizes)
    x = rng.normal(size=len(g))
    y = 1.0 + 0.5 * x + rng.normal(scale=sd_group, size=n_groups)[g] + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


def statsmodels_profile_minimum(model) -> tuple[float, float]:
    """Minimise statsmodels' own REML criterion of a random-intercept model over theta, robustly.

    MixedLM.fit sometimes stops early on these tiny data sets (its optimiser works on the
    square root of the variance and can stall), so the reference is statsmodels'
    likelihood function itself, profiled over the fixed effects and the residual
    variance (``profile_fe=True``), minimised over a grid and then by Brent's method.
    statsmodels' cov_re parameter is relative to the residual variance: theta^2.
    """
    p = model.k_fe

    def criterion(log_theta):
        params = MixedLMParams.from_components(np.zeros(p), cov_re=np.array([[np.exp(2 * log_theta)]]))
        return -2 * model.loglike(params, profile_fe=True)

    grid = np.linspace(-12, 4, 161)
    values = [criterion(v) for v in grid]
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    best = optimize.minimize_scalar(criterion, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10})
    return min(best.fun, values[i]), float(np.exp(best.x))


def _compare_with_statsmodels(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reml.SingularFitWarning)
        ours = reml.fit("y ~ x + (1 | g)", data)
    model, sm = statsmodels_fit("y ~ x", data, "g")
    sm_minimum, sm_theta = statsmodels_profile_minimum(model)
    # Ours is the optimum of statsmodels' objective, and never worse than where MixedLM.fit stopped.
    assert ours.criterion == pytest.approx(sm_minimum, rel=1e-6, abs=1e-6)
    assert ours.criterion <= -2 * sm.llf + 1e-8 * abs(sm.llf)
    if ours.singular:
        # Zero group variance: the fixed effects are the OLS estimates.
        X = np.column_stack([np.ones(len(data)), data["x"]])
        sm_fe = sm_ols.OLS(data["y"].to_numpy(), X).fit().params
    else:
        # statsmodels' GLS estimate at our variance ratio, and the same optimum.
        sm_fe, _ = model.get_fe_params(np.array([[ours.theta[0] ** 2]]), np.array([]))
        assert ours.theta[0] == pytest.approx(sm_theta, rel=1e-3, abs=1e-4)
    np.testing.assert_allclose(ours.fe_params.to_numpy(), sm_fe, rtol=1e-6, atol=1e-8)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_intercept_data(balanced=True))
def test_property_balanced_random_intercept_matches_statsmodels(data):
    _compare_with_statsmodels(data)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_intercept_data(balanced=False))
def test_property_unbalanced_random_intercept_matches_statsmodels(data):
    _compare_with_statsmodels(data)


# --------------------------------------------------------------------------
# Exact at any offset and scale; the exact gradient
# --------------------------------------------------------------------------

# Tolerances of the equivariance properties. Adding c to y rounds each value by
# up to |c| * 1.1e-16, which for c = 1e8 and a response SD of 1 is 1e-8 of the
# noise: the fit of y + c matches the fit of y to 1e-6 relative (theta,
# variance components, standard errors, random effects) and the criterion to
# 1e-6 absolute. Scaling y by 10^k loses nothing: 1e-8 relative.
OFFSET_RTOL, SCALE_RTOL = 1e-6, 1e-8


@st.composite
def slope_data(draw):
    """A random intercept and slope model, 6-14 groups of 4-9 rows, with a seed for the values."""
    n_groups, size = draw(st.integers(6, 14)), draw(st.integers(4, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    g = np.repeat(np.arange(n_groups), size)
    x = rng.uniform(0, 5, size=g.size)
    effects = rng.normal(size=(n_groups, 2)) * [draw(st.sampled_from([0.5, 2.0])), draw(st.sampled_from([0.2, 1.0]))]
    y = 3.0 + 0.5 * x + effects[g, 0] + effects[g, 1] * x + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


def quiet_fit(formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reml.SingularFitWarning)
        return reml.fit(formula, data, **kwargs)


def assert_same_fit(fit, base, rtol, offset=0.0, scale=1.0):
    """fit is the fit of scale * y + offset, base the fit of y."""
    np.testing.assert_allclose(fit.theta, base.theta, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(fit.var_components["vcov"], scale**2 * base.var_components["vcov"], rtol=rtol,
                               atol=rtol * scale**2 * base.sigma**2)
    np.testing.assert_allclose(fit.bse, scale * base.bse, rtol=rtol)
    np.testing.assert_allclose(fit.fe_params - [offset, 0.0], scale * base.fe_params, rtol=rtol,
                               atol=rtol * scale * base.bse.max())
    np.testing.assert_allclose(fit.ranef, scale * base.ranef, rtol=rtol, atol=rtol * scale * base.sigma)
    assert fit.singular == base.singular


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slope_data(), st.integers(-8, 8))
def test_property_fit_is_equivariant_under_adding_a_constant_to_the_response(data, exponent):
    offset = float(10.0**exponent) * (1 if exponent % 2 else -1)
    base = quiet_fit("y ~ x + (x | g)", data)
    fit = quiet_fit("y ~ x + (x | g)", data.assign(y=data["y"] + offset))
    assert_same_fit(fit, base, OFFSET_RTOL, offset=offset)
    assert fit.criterion == pytest.approx(base.criterion, abs=OFFSET_RTOL)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(slope_data(), st.integers(-8, 8))
def test_property_fit_is_equivariant_under_scaling_the_response(data, exponent):
    scale = float(10.0**exponent)
    base = quiet_fit("y ~ x + (x | g)", data)
    fit = quiet_fit("y ~ x + (x | g)", data.assign(y=data["y"] * scale))
    assert_same_fit(fit, base, SCALE_RTOL, scale=scale)
    # sigma^2 scales by scale^2: the criterion moves by dof * log(scale^2), exactly.
    assert fit.criterion == pytest.approx(base.criterion + (len(data) - 2) * np.log(scale**2), abs=1e-7)


def test_sleepstudy_with_an_offset_of_a_million_matches_the_plain_fit(sleep):
    """Was: variance components off by 135 %, standard errors by 5 %, criterion by 0.16, converged=True."""
    base = reml.fit("Reaction ~ Days + (Days | Subject)", sleep)
    fit = reml.fit("Reaction ~ Days + (Days | Subject)", sleep.assign(Reaction=sleep["Reaction"] + 1e6))
    assert_same_fit(fit, base, 1e-9, offset=1e6)
    assert fit.criterion == pytest.approx(base.criterion, abs=1e-8)


def test_rescaling_a_predictor_rescales_its_random_slope(sleep):
    """Was: Days * 1e-8 left the slope variance at its starting value."""
    base = reml.fit("Reaction ~ Days + (Days | Subject)", sleep)
    fit = reml.fit("Reaction ~ Days + (Days | Subject)", sleep.assign(Days=sleep["Days"] * 1e-8))
    np.testing.assert_allclose(fit.theta, base.theta * [1, 1e8, 1e8], rtol=1e-8)
    np.testing.assert_allclose(fit.fe_params, base.fe_params * [1, 1e8], rtol=1e-8)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize(
    "formula, data_name, solver",
    [("Reaction ~ Days + (Days | Subject)", "sleepstudy", "auto"),
     ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin.csv", "auto"),
     ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin.csv", "block"),
     ("strength ~ 1 + (1 | batch/cask)", "pastes.csv", "auto"), ("strength ~ 1 + (1 | batch/cask)", "pastes.csv", "block"),
     ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy", "block")],
)
def test_gradient_equals_central_differences_of_the_criterion(formula, data_name, method, solver):
    model = reml.MixedModel(formula, fixture_data(data_name), method=method, solver=solver)
    rng = np.random.default_rng(11)
    for i in range(4):
        theta = model.theta_start() * rng.uniform(0.2, 1.5, size=len(model.theta_start())) + 0.1 * ~model.diagonal_mask()
        if i == 3:  # a boundary point: the first diagonal element of T at 0
            theta[0] = 0.0
        h = 1e-5 * np.maximum(np.abs(theta), 0.1)
        central = [(model.profiled_deviance(theta + e) - model.profiled_deviance(theta - e)) / (2 * e.max())
                   for e in np.diag(h)]
        np.testing.assert_allclose(model.gradient(theta), central, rtol=1e-6, atol=1e-6)


def test_boundary_random_slope_fit_lands_on_the_boundary_like_lme4():
    """Intercept variance exactly 0 at the optimum: singular, and a criterion no higher than lme4's."""
    for method in ("REML", "ML"):
        ref, res = REFERENCE[f"boundary_slope_{method}"], fitted(f"boundary_slope_{method}")
        assert res.singular and ref["singular"] and res.theta[0] == 0.0
        assert res.criterion <= ref["criterion"] + 1e-9 * abs(ref["criterion"])


def test_a_first_step_landing_exactly_on_zero_does_not_stop_the_fit():
    """From theta = 1 L-BFGS-B's unit first step lands on 0, where the gradient vanishes; lme4's optimum is inside."""
    ref = REFERENCE["ciproxifan_intercept_ML"]
    fit = fitted("ciproxifan_intercept_ML")
    assert not fit.singular
    assert fit.theta[0] == pytest.approx(ref["theta"], rel=1e-5)


# --------------------------------------------------------------------------
# Boundary fits and bad input
# --------------------------------------------------------------------------


def test_no_between_group_variation_gives_a_singular_fit_with_a_warning():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(8), 5)
    noise = rng.normal(size=g.size)
    noise -= pd.Series(noise).groupby(g).transform("mean").to_numpy()  # identical group means
    data = pd.DataFrame({"y": 10 + noise, "g": pd.Categorical(g)})
    with pytest.warns(reml.SingularFitWarning, match="singular"):
        res = reml.fit("y ~ 1 + (1 | g)", data)
    assert res.singular and res.converged
    assert res.theta[0] < reml.SINGULAR_TOL
    assert res.var_components.loc[0, "vcov"] == pytest.approx(0, abs=1e-6)
    # At theta = 0 the REML criterion is that of the ordinary regression y ~ 1.
    n, rss = g.size, np.sum((data["y"] - data["y"].mean()) ** 2)
    ols_reml = (n - 1) * (1 + np.log(2 * np.pi * rss / (n - 1))) + np.log(n)
    assert res.criterion == pytest.approx(ols_reml, rel=1e-8)
    assert "singular" in str(res)


@pytest.fixture
def sleep():
    return load_sleepstudy()


@pytest.mark.parametrize(
    "formula, word",
    [
        ("Reaction ~ Dayz + (1 | Subject)", "Dayz"),
        ("Reaction ~ Days + (1 | Subjekt)", "Subjekt"),
        ("Reaction ~ Days + (Hours | Subject)", "Hours"),
        ("Reactions ~ Days + (1 | Subject)", "Reactions"),
    ],
)
def test_unknown_columns_are_named(sleep, formula, word):
    with pytest.raises(ValueError, match=word):
        reml.fit(formula, sleep)


@pytest.mark.parametrize("column", ["Reaction", "Days", "Subject"])
def test_nan_in_a_used_column_is_named(sleep, column):
    sleep.loc[5, column] = np.nan
    with pytest.raises(ValueError, match=f"NaN.*{column}"):
        reml.fit("Reaction ~ Days + (Days | Subject)", sleep)


def test_nan_in_an_unused_column_is_fine(sleep):
    sleep["unused"] = np.nan
    assert reml.fit("Reaction ~ Days + (1 | Subject)", sleep).converged


def test_grouping_factor_with_one_level(sleep):
    sleep["one"] = pd.Categorical(["all"] * len(sleep))
    with pytest.raises(ValueError, match="'one' has a single level"):
        reml.fit("Reaction ~ Days + (1 | one)", sleep)


def test_random_slope_on_a_constant_column(sleep):
    sleep["dose"] = 2.0
    with pytest.raises(ValueError, match="'dose' is constant"):
        reml.fit("Reaction ~ Days + (dose | Subject)", sleep)


def test_rank_deficient_fixed_design(sleep):
    sleep["Weeks"] = sleep["Days"] / 7
    with pytest.raises(ValueError, match="rank-deficient.*'Weeks'"):
        reml.fit("Reaction ~ Days + Weeks + (1 | Subject)", sleep)


def test_one_group_per_observation_is_refused_as_in_lme4(sleep):
    sleep["obs"] = pd.Categorical(range(len(sleep)))
    with pytest.raises(ValueError, match="'obs' has 180 levels for 180 observations.*residual"):
        reml.fit("Reaction ~ Days + (1 | obs)", sleep)


def test_as_many_random_effects_as_observations_is_refused(sleep):
    sleep["pair"] = pd.Categorical(np.arange(len(sleep)) // 2)  # 90 levels x 2 columns = 180 random effects
    with pytest.raises(ValueError, match="90 x 2 = 180 random effects for 180 observations"):
        reml.fit("Reaction ~ Days + (Days | pair)", sleep)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (1 | Subject) + (1 | Subject)",
                                     "Reaction ~ Days + (Days | Subject) + (1 | Subject)"])
def test_a_column_repeated_for_one_factor_is_refused(sleep, formula):
    with pytest.raises(ValueError, match=r"\['Intercept'\].*same factor 'Subject'.*cannot be told apart"):
        reml.fit(formula, sleep)


def test_uncorrelated_intercept_and_slope_for_one_factor_is_fine(sleep):
    fit = reml.fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", sleep)
    assert fit.converged and list(fit.var_components["group"][:2]) == ["Subject", "Subject.1"]


def test_two_names_for_the_same_grouping_warn_that_the_criterion_is_flat(sleep):
    """(1 | Subject) + (1 | Copy): only the sum of the two variances is identified."""
    sleep["Copy"] = pd.Categorical("copy of " + sleep["Subject"].astype(str))
    with pytest.warns(reml.UnidentifiableWarning, match="flat in some direction"):
        fit = reml.fit("Reaction ~ Days + (1 | Subject) + (1 | Copy)", sleep)
    alone = reml.fit("Reaction ~ Days + (1 | Subject)", sleep)
    assert fit.criterion == pytest.approx(alone.criterion, abs=1e-8)
    assert fit.var_components["vcov"][:2].sum() == pytest.approx(alone.var_components["vcov"][0], rel=1e-6)


@pytest.mark.parametrize(
    "response, words",
    [(lambda s: 0 * s["Days"] + 3.0, "'Reaction' has the same value \\(3\\) in every row"),
     (lambda s: 2.0 + 3.0 * s["Days"], "'Reaction' is constant, or an exact linear function of the fixed effects")],
)
def test_response_without_residual_variation_is_refused(sleep, response, words):
    with pytest.raises(ValueError, match=words):
        reml.fit("Reaction ~ Days + (1 | Subject)", sleep.assign(Reaction=response(sleep)))


@pytest.mark.parametrize(
    "formula, word",
    [("Reaction ~ Days", "no random-effect term"), ("Reaction ~ Days + (1 | Subject", "unbalanced"),
     ("Reaction Days", "formula must be")],
)
def test_malformed_formulas(sleep, formula, word):
    with pytest.raises(ValueError, match=word):
        reml.fit(formula, sleep)


def test_unknown_method(sleep):
    with pytest.raises(ValueError, match="method"):
        reml.fit("Reaction ~ Days + (1 | Subject)", sleep, method="OLS")


def test_lme4_fixture_was_fitted_on_the_shipped_ciproxifan_data():
    """If the reconstruction changes, re-run tests/fixtures/make_lme4_fixtures.R."""
    fixture = fixture_data("ciproxifan.csv")
    shipped = load_ciproxifan()
    for column in ["id", "part", "Treatment", "WAKE", "NREM", "REM"]:
        np.testing.assert_array_equal(np.asarray(fixture[column], float), np.asarray(shipped[column], float), err_msg=column)
    assert list(fixture["Genotype"].astype(str)) == list(shipped["Genotype"].astype(str))


# Bad input through reml.fit: the shared checks of lmmteach.formulas (tested in
# tests/test_formulas.py) plus the random-effect terms' own.

@pytest.mark.parametrize(
    "formula, change, words",
    [
        ("Reaction ~ Days + (0 | Subject)", {}, "\\(0 \\| Subject\\) has no columns"),
        ("Reaction ~ Days + (1 | Subject) +", {}, "operator with no term"),
        ("Reaction ~ Days + (1 | mixed)", {"mixed": lambda s: [1, "a"] * 90}, "'mixed' mixes types"),
        ("Reaction ~ when + (1 | Subject)", {"when": lambda s: pd.Timestamp("2024-01-01") + pd.to_timedelta(s["Days"], unit="D")},
         "'when' holds dates"),
        ("Reaction ~ log(Days) + (1 | Subject)", {}, "'log\\(Days\\)'.*NaN or infinite in 18 row"),
        ("Reaction ~ Days + (1 | Subject)", {"Reaction": lambda s: s["Reaction"].astype(str)}, "'Reaction' must be numeric"),
        ("Reaction ~ Days + (1 | Subject)", {"Reaction": lambda s: s["Reaction"] > 300}, "'Reaction' must be numeric.*bool"),
        ("Reaction ~ Days + (1 | Subject)", {"Reaction": lambda s: pd.Categorical(s["Reaction"].round())}, "must be numeric"),
        ("Reaction ~ Days + (1 | Subject)", {"Reaction": lambda s: s["Reaction"].where(s.index != 7, np.inf)},
         "'Reaction' has infinite values \\(rows \\[7\\]\\)"),
        ("Reaction ~ Days + (1 | Subject)", {"Reaction": 250.0}, "'Reaction' has the same value \\(250\\) in every row"),
    ],
)
def test_bad_input_is_named(sleep, formula, change, words):
    with pytest.raises(ValueError, match=words):
        reml.fit(formula, sleep.assign(**change))


def test_labels_of_a_grouping_factor_may_be_dates_or_numbers_as_text(sleep):
    base = reml.fit("Reaction ~ Days + (1 | Subject)", sleep)
    as_text = reml.fit("Reaction ~ Days + (1 | Subject)", sleep.assign(Subject=sleep["Subject"].astype(str)))
    as_dates = reml.fit("Reaction ~ Days + (1 | Subject)",
                        sleep.assign(Subject=pd.Timestamp("2024-01-01") + pd.to_timedelta(sleep["Subject"].cat.codes, unit="D")))
    assert as_text.criterion == pytest.approx(base.criterion, rel=1e-12)
    assert as_dates.criterion == pytest.approx(base.criterion, rel=1e-12)


def test_nullable_integer_response_is_fitted_as_float(sleep):
    rounded = sleep.assign(Reaction=sleep["Reaction"].round())
    as_float = reml.fit("Reaction ~ Days + (1 | Subject)", rounded)
    as_int = reml.fit("Reaction ~ Days + (1 | Subject)", rounded.assign(Reaction=rounded["Reaction"].astype("Int64")))
    assert as_int.criterion == pytest.approx(as_float.criterion, rel=1e-12)


def test_transformed_terms_are_supported(sleep):
    fit = reml.fit("log(Reaction) ~ Days + {Days**2} + (1 | Subject)", sleep)
    by_hand = reml.fit("logR ~ Days + Days2 + (1 | Subject)",
                       sleep.assign(logR=np.log(sleep["Reaction"]), Days2=sleep["Days"] ** 2))
    assert fit.criterion == pytest.approx(by_hand.criterion, rel=1e-10)
    np.testing.assert_allclose(fit.fe_params.to_numpy(), by_hand.fe_params.to_numpy(), rtol=1e-8)


def test_boolean_response_is_refused_by_ols_and_reml_alike(sleep):
    data = sleep.assign(Reaction=sleep["Reaction"] > 300)
    messages = []
    for fit in (lambda: ols.fit("Reaction ~ Days", data), lambda: reml.fit("Reaction ~ Days + (1 | Subject)", data)):
        with pytest.raises(ValueError) as err:
            fit()
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    "data, error, words",
    [
        (lambda s: None, TypeError, "data must be a pandas DataFrame, got NoneType"),
        (lambda s: s.iloc[:0], ValueError, "data has no rows"),
        (lambda s: s.assign(Days=s["Days"].where(s.index != 3, np.inf)), ValueError, "'Days' .*NaN or infinite in 1 row.*\\[3\\]"),
        (lambda s: s.assign(Days=s["Days"].astype(str)), ValueError, "'Days' holds numbers stored as text"),
        (lambda s: s.assign(Reaction=pd.array(s["Reaction"].round().where(s.index != 4), dtype="Int64")), ValueError,
         "NaN.*'Reaction'.*rows \\[4\\]"),
        (lambda s: s.assign(Subject=[1, "a", 2.5] * 60), ValueError, "'Subject' mixes types"),
    ],
)
def test_the_data_checks_of_formulas_apply_to_reml(sleep, data, error, words):
    """The shared checks (tests/test_formulas.py) reach reml.fit too: None, an empty frame, inf, text, a nullable NA."""
    with pytest.raises(error, match=words):
        reml.fit("Reaction ~ Days + (1 | Subject)", data(sleep))


@pytest.mark.parametrize("formula, words", [("~ Days + (1 | Subject)", "no response"),
                                            ("Reaction ~ Days + + (1 | Subject)", "empty term")])
def test_a_formula_without_response_or_with_an_empty_term_is_named(sleep, formula, words):
    with pytest.raises(ValueError, match=words):
        reml.fit(formula, sleep)
