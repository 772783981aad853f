"""Tests of the lmmteach.gibbs package: the conditionals, the fast engine, the published variant, the scenarios."""

import arviz as az
import numpy as np
import pytest
from scipy import stats

from lmmteach import gibbs


@pytest.fixture(scope="module")
def w2():
    return gibbs.simulate(2)


# --- the X_i conditional, against a brute-force normalisation of the joint density

@pytest.mark.parametrize("m,sx,se,mu", [(2, 5.0, 3.0, 0.0), (2, 100.0, 1.0, 0.0), (3, 1.0, 100.0, 4.0), (5, 2.0, 0.5, -1.0)])
def test_corrected_x_conditional_matches_numeric_normalisation(m, sx, se, mu):
    w_row = np.linspace(-2.0, 3.0, m) + mu
    exact = gibbs.x_conditional(w_row, sx, se, mu)
    numeric = gibbs.x_conditional_numeric(w_row, sx, se, mu)
    np.testing.assert_allclose(exact, numeric, rtol=1e-6, atol=1e-9)


def test_published_x_conditional_is_the_swapped_one():
    w_row = np.array([9.0, 11.0])
    mean_pub, var_pub = gibbs.x_conditional(w_row, 100.0, 1.0, variant="published")
    mean_num, var_num = gibbs.x_conditional_numeric(w_row, 100.0, 1.0)
    assert var_pub == pytest.approx(1 / (2 / 100 + 1 / 1))
    assert mean_pub == pytest.approx(20.0 / (2 / 100 + 1))
    assert var_pub > 1.9 * var_num          # about twice too wide when sigma2_x >> sigma2_e
    assert abs(mean_pub - mean_num) > 9.0   # and centred at twice the row mean


# --- the fast engine draws from the textbook conditionals

@pytest.mark.parametrize("variant,mean,burn", [("corrected", None, 0), ("corrected", "flat", 300), ("published", None, 37)])
def test_stored_draws_follow_the_full_conditionals(w2, variant, mean, burn):
    """Recompute every conditional from the stored X and variances; the implied random numbers must be iid N(0,1) / Gamma."""
    n, m = w2.shape
    a_x, b_x = 0.1, 1.0
    a_e, b_e = 0.1, 1.0
    idata = gibbs.sample(w2, draws=1500 + burn, burn=burn, chains=1, seed=11, mean=mean, variant=variant)
    post = idata.posterior
    X = post["X"].values[0]
    sx = post["sigma2_x"].values[0]
    se = post["sigma2_e"].values[0]
    mu = post["mu"].values[0] if mean else np.zeros_like(sx)
    # sigma2_x_t = rate_t / Gamma(a_x + n/2): the implied gamma variates
    g_x = (b_x + 0.5 * ((X - mu[:, None]) ** 2).sum(axis=1)) / sx
    g_e = (b_e + 0.5 * ((w2[None] - X[:, :, None]) ** 2).sum(axis=(1, 2))) / se
    assert stats.kstest(g_x, stats.gamma(a_x + n / 2).cdf).pvalue > 1e-3
    assert stats.kstest(g_e, stats.gamma(a_e + n * m / 2).cdf).pvalue > 1e-3
    # X_t given the variances (and mu) of draw t - 1
    means, sds = [], []
    for t in range(1, 1500):
        if variant == "published":
            prec = m / sx[t - 1] + 1 / se[t - 1]
            means.append(w2.sum(axis=1) / se[t - 1] / prec)
        else:
            prec = 1 / sx[t - 1] + m / se[t - 1]
            means.append((w2.sum(axis=1) / se[t - 1] + mu[t - 1] / sx[t - 1]) / prec)
        sds.append(prec ** -0.5)
    z = (X[1:] - np.array(means)) / np.array(sds)[:, None]
    assert abs(z.mean()) < 0.01
    assert z.var() == pytest.approx(1.0, abs=0.01)
    assert stats.kstest(z[::7].ravel(), "norm").pvalue > 1e-3


def test_corrected_sampler_matches_exact_grid_posterior(w2):
    s = gibbs.SCENARIOS[2]
    _, mean_x, mean_e = gibbs.grid_posterior(
        w2, prior_x=s.prior_x, prior_e=s.prior_e,
        sigma2_x_grid=np.linspace(30, 250, 500), sigma2_e_grid=np.linspace(0.4, 2.2, 500))
    idata = gibbs.sample(w2, draws=6000, burn=500, chains=4, seed=5, prior_x=s.prior_x, prior_e=s.prior_e, keep_x=False)
    mcse = az.mcse(idata)
    for name, exact in (("sigma2_x", mean_x), ("sigma2_e", mean_e)):
        got = float(idata.posterior[name].mean())
        assert abs(got - exact) < 4 * float(mcse[name]) + 1e-3 * exact, (name, got, exact)


def test_published_sampler_does_not(w2):
    s = gibbs.SCENARIOS[2]
    _, mean_x, _ = gibbs.grid_posterior(
        w2, prior_x=s.prior_x, prior_e=s.prior_e,
        sigma2_x_grid=np.linspace(30, 250, 500), sigma2_e_grid=np.linspace(0.4, 2.2, 500))
    idata = gibbs.sample(w2, draws=3000, burn=500, chains=2, seed=5, variant="published", keep_x=False)
    assert float(idata.posterior["sigma2_x"].mean()) > 1.5 * mean_x
    assert float(idata.posterior["sigma2_e"].mean()) > 20 * s.sigma2_e


def test_many_chains_take_the_vectorised_path_and_agree(w2):
    """More than 16 chains run as NumPy arrays instead of Python floats: same posterior."""
    few = gibbs.sample(w2, draws=2500, burn=500, chains=4, seed=1, keep_x=False)
    many = gibbs.sample(w2, draws=700, burn=500, chains=40, seed=2, keep_x=False)
    table = gibbs.agreement(few, many)
    assert (table["z"].abs() < 4).all(), table


# --- the published variant: the note's starting values

def test_initial_values_are_the_notes():
    W = np.array([[1.0, 3.0], [2.0, 2.0], [0.0, 6.0]])
    init = gibbs.initial_values(W)
    assert init["sigma2_e"] == pytest.approx(np.mean([2.0, 0.0, 18.0]))   # R: mean(apply(W, 1, var))
    assert init["sigma2_x"] == pytest.approx(np.var([2.0, 2.0, 3.0], ddof=1))
    np.testing.assert_allclose(init["X"], [2.0, 2.0, 3.0])


def test_published_first_draw_starts_from_the_notes_values(w2):
    """The first X draw of the published sampler is centred where the note's start puts it."""
    m = w2.shape[1]
    init = gibbs.initial_values(w2)
    prec = m / init["sigma2_x"] + 1 / init["sigma2_e"]
    centre = w2.sum(axis=1) / init["sigma2_e"] / prec
    idata = gibbs.sample(w2, draws=1, burn=0, chains=200, seed=0, variant="published")
    z = (idata.posterior["X"].values[:, 0, :] - centre) * np.sqrt(prec)
    assert abs(z.mean()) < 0.02 and z.std() == pytest.approx(1.0, abs=0.02)


# --- output structure

def test_inference_data_layout(w2):
    idata = gibbs.sample(w2, draws=300, burn=100, chains=3, seed=0, mean=(0.0, 10.0))
    post = idata.posterior
    assert set(post.data_vars) == {"sigma2_x", "sigma2_e", "X", "mu"}
    assert post["X"].dims == ("chain", "draw", "obs")
    assert post["X"].shape == (3, 200, 100)
    assert post["sigma2_x"].shape == (3, 200)
    assert idata.posterior.attrs["variant"] == "corrected"
    assert "mu" not in gibbs.sample(w2, draws=20, burn=10, chains=1, seed=0).posterior


def test_same_seed_same_draws_different_seed_different_draws(w2):
    a = gibbs.sample(w2, draws=50, burn=0, chains=2, seed=3)
    b = gibbs.sample(w2, draws=50, burn=0, chains=2, seed=3)
    c = gibbs.sample(w2, draws=50, burn=0, chains=2, seed=4)
    np.testing.assert_array_equal(a.posterior["X"].values, b.posterior["X"].values)
    assert not np.allclose(a.posterior["sigma2_x"].values, c.posterior["sigma2_x"].values)


def test_thinning_keeps_every_kth_draw(w2):
    full = gibbs.sample(w2, draws=400, burn=100, chains=1, seed=9, keep_x=False)
    thinned = gibbs.sample(w2, draws=400, burn=100, chains=1, seed=9, keep_x=False, thin=3)
    np.testing.assert_array_equal(thinned.posterior["sigma2_x"].values[0], full.posterior["sigma2_x"].values[0, ::3])


# --- scenarios

def test_eight_scenarios_as_in_the_note():
    table = gibbs.scenario_table()
    assert list(table.index) == list(range(1, 9))
    assert (table["seed"] == 47403).all()
    assert table.loc[1, ["sigma2_x", "sigma2_e", "n"]].tolist() == [5.0, 3.0, 100]
    assert table.loc[3, "n"] == 1000 and table.loc[5, "n"] == 1000
    assert table.loc[5, "prior_x"] == (2.0, 200.0) and table.loc[5, "prior_e"] == (2.0, 2.0)
    assert table.loc[6, "prior_x"] == (2.0, 2.0) and table.loc[6, "prior_e"] == (2.0, 200.0)
    assert table.loc[7, "x_mean"] == 50.0 and table.loc[8, "x_mean"] == 1000.0


def test_simulate_is_deterministic_and_has_the_design():
    W = gibbs.simulate(7)
    np.testing.assert_array_equal(W, gibbs.simulate(7))
    assert W.shape == (100, 2)
    assert W.mean() == pytest.approx(50.0, abs=3.0)
    # same seed: scenario 7 is scenario 6 shifted by the mean of X
    np.testing.assert_allclose(W - gibbs.simulate(6), 50.0)
    with pytest.raises(ValueError, match="unknown scenario"):
        gibbs.simulate(9)


def test_mean_parameter_fixes_scenario_7():
    s = gibbs.SCENARIOS[7]
    W = gibbs.simulate(7)
    without = gibbs.sample(W, draws=3000, burn=500, chains=2, seed=1, prior_x=s.prior_x, prior_e=s.prior_e, keep_x=False)
    with_mu = gibbs.sample(W, draws=3000, burn=500, chains=2, seed=1, prior_x=s.prior_x, prior_e=s.prior_e,
                           mean="flat", keep_x=False)
    assert float(without.posterior["sigma2_x"].mean()) > 1000           # absorbs mu^2 = 2500
    assert float(with_mu.posterior["sigma2_x"].mean()) < 20
    assert float(with_mu.posterior["mu"].mean()) == pytest.approx(50.0, abs=3.0)
    assert float(with_mu.posterior["sigma2_e"].mean()) == pytest.approx(100.0, rel=0.3)


# --- bad input

@pytest.mark.parametrize("kwargs,match", [
    (dict(W=np.array([[1.0, np.nan], [2.0, 3.0]])), "NaN"),
    (dict(W=np.ones((5, 1))), "at least two columns"),
    (dict(W=np.ones(5)), "2-d"),
    (dict(prior_x=(0.0, 1.0)), "prior_x"),
    (dict(prior_e=(1.0, -2.0)), "prior_e"),
    (dict(prior_e=1.0), "prior_e"),
    (dict(draws=100, burn=100), "draws"),
    (dict(chains=0), "chains"),
    (dict(variant="fixed"), "variant"),
    (dict(mean="normal"), "mean"),
    (dict(mean=(0.0, 0.0)), "sd"),
    (dict(variant="published", mean="flat"), "published"),
    (dict(inits={"sigma2_x": -1.0}), "inits"),
    (dict(inits={"sigma2_x": [1.0, 2.0]}), "one per chain"),
    (dict(inits={"tau": 1.0}), "inits must be a dict"),
])
def test_bad_input_raises_clear_errors(w2, kwargs, match):
    args = dict(W=w2, draws=20, burn=5, chains=1, seed=0)
    args.update(kwargs)
    W = args.pop("W")
    with pytest.raises(ValueError, match=match):
        gibbs.sample(W, **args)


# --- comparison helpers and the PyMC model

def test_agreement_and_ess_per_second(w2):
    a = gibbs.sample(w2, draws=1500, burn=300, chains=2, seed=1, keep_x=False)
    b = gibbs.sample(w2, draws=1500, burn=300, chains=2, seed=2, variant="published", keep_x=False)
    same = gibbs.agreement(a, gibbs.sample(w2, draws=1500, burn=300, chains=2, seed=3, keep_x=False))
    different = gibbs.agreement(a, b)
    assert (same["z"].abs() < 4).all()
    assert different.loc["sigma2_e", "z"] < -20
    assert {"q05_a", "q50_b", "q95_b"} <= set(same.columns)
    rate = gibbs.ess_per_second(a, 2.0)
    assert rate["sigma2_x"] == pytest.approx(float(az.ess(a)["sigma2_x"]) / 2.0)
    with pytest.raises(ValueError, match="seconds"):
        gibbs.ess_per_second(a, 0.0)


def test_pymc_model_has_the_same_joint_density():
    """Differences of the PyMC log density between two points equal those of the model written by hand."""
    W = gibbs.simulate(1)[:10]
    model = gibbs.pymc_model(W, prior_x=(2.0, 3.0), prior_e=(2.5, 1.5))
    logp = model.compile_logp(jacobian=False)

    def by_hand(sx, se, X):
        return (stats.invgamma(2.0, scale=3.0).logpdf(sx) + stats.invgamma(2.5, scale=1.5).logpdf(se)
                + stats.norm(0, np.sqrt(sx)).logpdf(X).sum() + stats.norm(X[:, None], np.sqrt(se)).logpdf(W).sum())

    def point(sx, se, X):
        return {"sigma2_x_log__": np.log(sx), "sigma2_e_log__": np.log(se), "X": X}

    X1, X2 = W.mean(axis=1), W.mean(axis=1) * 0.5
    diff_pymc = logp(point(4.0, 2.0, X1)) - logp(point(1.5, 5.0, X2))
    assert diff_pymc == pytest.approx(by_hand(4.0, 2.0, X1) - by_hand(1.5, 5.0, X2), rel=1e-8)


# --- one engine: sample_many (what SBC runs), the table of variants, no threads at import

def test_sample_many_runs_the_same_chain_as_sample(w2):
    one = gibbs.sample(w2, draws=400, burn=100, chains=1, seed=3, keep_x=False, variant="published")
    alone = gibbs.sample_many(w2[None], draws=400, burn=100, seed=3, variant="published")
    np.testing.assert_array_equal(alone["sigma2_x"][0], one.posterior["sigma2_x"].values[0])
    many = gibbs.sample_many(np.stack([w2, 3 * w2]), draws=400, burn=100, seed=3, keep_x=True)
    assert many["sigma2_x"].shape == many["sigma2_e"].shape == (2, 300) and many["X"].shape == (2, 300, 100)
    assert many["sigma2_e"][1].mean() > 4 * many["sigma2_e"][0].mean()   # each chain sees its own data set
    with pytest.raises(ValueError, match="3-d"):
        gibbs.sample_many(w2, draws=10, burn=0)
    with pytest.raises(ValueError, match="variant"):
        gibbs.sample_many(w2[None], draws=10, burn=0, variant="fixed")


def test_x_conditional_uses_the_variant_table():
    for name, rule in gibbs.VARIANTS.items():
        _, var = gibbs.x_conditional(np.array([1.0, 2.0, 4.0]), 7.0, 0.5, variant=name)
        assert var == pytest.approx(1 / rule.precision(7.0, 0.5, 3))
    with pytest.raises(ValueError, match="variant"):
        gibbs.x_conditional(np.array([1.0, 2.0]), 1.0, 1.0, variant="fixed")


def test_importing_the_sampler_starts_no_threads():
    import subprocess
    import sys

    code = ("import threading, lmmteach.gibbs as g; from lmmteach.gibbs import sampler; "
            "assert threading.active_count() == 1, threading.enumerate(); "
            "assert sampler._normal_pool.cache_info().currsize == 0")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- starting values chosen by the caller

def test_inits_set_where_each_chain_starts(w2):
    """The first sigma2_x draw follows from the first X draw, which is centred by the chain's own start."""
    starts = np.array([1e-3, 1e3])
    idata = gibbs.sample(w2, draws=1, burn=0, chains=2, seed=0, variant="published", inits={"sigma2_x": starts})
    first = idata.posterior["sigma2_x"].values[:, 0]
    assert first[0] < 0.1 < 10 < first[1]
    one = gibbs.sample(w2, draws=50, burn=0, chains=3, seed=0, inits={"sigma2_x": 4.0, "sigma2_e": 2.0})
    assert one.posterior["sigma2_x"].shape == (3, 50)


# --- where the samplers settle: the expected update and its fixed points

@pytest.mark.parametrize("variant,start", [("published", (50.0, 5.0)), ("published", (0.05, 80.0)), ("corrected", (50.0, 5.0))])
def test_expected_update_is_the_mean_of_one_sweep(w2, variant, start):
    """Many chains started at the same values: their first draws average to the expected update."""
    idata = gibbs.sample(w2, draws=1, burn=0, chains=4000, seed=3, variant=variant, keep_x=False,
                         inits={"sigma2_x": start[0], "sigma2_e": start[1]})
    expected = gibbs.expected_update(w2, *start, variant=variant)
    for name, value in zip(["sigma2_x", "sigma2_e"], expected):
        draws = idata.posterior[name].values.ravel()
        assert abs(draws.mean() - value) < 4 * draws.std() / np.sqrt(draws.size), (name, draws.mean(), value)


def test_published_fixed_points_predict_the_chains_and_the_formulas():
    s = gibbs.SCENARIOS[7]
    W = gibbs.simulate(7)
    inflated = gibbs.fixed_point(W, prior_x=s.prior_x, prior_e=s.prior_e)
    collapsed = gibbs.fixed_point(W, start=(1e-3, 100.0), prior_x=s.prior_x, prior_e=s.prior_e)
    assert collapsed[0] == pytest.approx(gibbs.collapse_point(100, s.prior_x), rel=0.01)
    assert collapsed[1] == pytest.approx(np.mean(W**2), rel=0.03)
    idata = gibbs.sample(W, draws=1500, burn=100, chains=2, seed=0, variant="published", prior_x=s.prior_x,
                         prior_e=s.prior_e, keep_x=False, inits={"sigma2_x": [1e-2, 100.0]})
    chain_means = idata.posterior["sigma2_x"].mean("draw").values
    assert chain_means[0] == pytest.approx(collapsed[0], rel=0.03)
    assert chain_means[1] == pytest.approx(inflated[0], rel=0.03)


def test_collapse_does_not_depend_on_the_data():
    s = gibbs.SCENARIOS[6]
    points = [gibbs.fixed_point(gibbs.simulate(gibbs.Scenario(6, 100, truth, 100.0, 0.0, s.prior_x, s.prior_e)),
                                prior_x=s.prior_x, prior_e=s.prior_e)[0] for truth in [1.0, 20.0]]
    assert points == pytest.approx([2 / 26] * 2, rel=0.01)


def test_inflation_factor_does_not_depend_on_n():
    """sigma2_x ~ k/(1-k) * mean squared row mean, k = (7 + sqrt 17)/16, at n = 100 and n = 2000."""
    k = (7 + np.sqrt(17)) / 16
    for n in [100, 2000]:
        W = gibbs.simulate(gibbs.Scenario(2, n, 1000.0, 1.0, 0.0, (0.1, 1.0), (0.1, 1.0)))
        sx, se = gibbs.fixed_point(W)
        B = np.mean(W.mean(axis=1) ** 2)
        assert sx / B == pytest.approx(k / (1 - k), rel=0.03) and se / B == pytest.approx(0.5, rel=0.03)


def test_corrected_fixed_point_is_near_the_exact_posterior_mean(w2):
    sx, se = gibbs.fixed_point(w2, variant="corrected")
    _, exact_x, exact_e = gibbs.grid_posterior(w2, sigma2_x_grid=np.linspace(40, 160, 400),
                                               sigma2_e_grid=np.linspace(0.5, 2.0, 300))
    assert sx == pytest.approx(exact_x, rel=0.03) and se == pytest.approx(exact_e, rel=0.03)


def test_fixed_point_bad_input(w2):
    with pytest.raises(ValueError, match="positive"):
        gibbs.expected_update(w2, 0.0, 1.0)
    with pytest.raises(ValueError, match="variant"):
        gibbs.expected_update(w2, 1.0, 1.0, variant="other")
    with pytest.raises(ValueError, match="collapse"):
        gibbs.collapse_point(2, (0.1, 1.0))
    with pytest.raises(RuntimeError, match="no fixed point"):
        gibbs.fixed_point(w2, max_iter=1)


def test_the_other_root_is_the_unstable_boundary_between_the_states():
    """k = (7 - sqrt 17)/16 is a fixed point too; a nudge up ends inflated, a nudge down collapses."""
    W = gibbs.simulate(gibbs.Scenario(2, 1000, 1000.0, 1.0, 0.0, (0.1, 1.0), (0.1, 1.0)))
    B = np.mean(W.mean(axis=1) ** 2)
    k = (7 - np.sqrt(17)) / 16
    a, b = k / (1 - k) * B, 0.5 * B
    assert gibbs.expected_update(W, a, b)[0] == pytest.approx(a, rel=0.01)
    assert gibbs.fixed_point(W, start=(1.001 * a, b))[0] / B == pytest.approx((7 + np.sqrt(17)) / (9 - np.sqrt(17)), rel=0.01)
    assert gibbs.fixed_point(W, start=(0.999 * a, b))[0] / B < 1e-3


# --- exact at any offset and scale, bad input

def _small_W(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(30, 1)) + rng.normal(scale=0.5, size=(30, 4))


@pytest.mark.parametrize("offset", [1e4, 1e7, 1e8, -1e8])
def test_draws_with_a_mean_are_equivariant_under_adding_a_constant(offset):
    """Was: W + 1e7 shifted the draws by about 2 %, W + 1e8 failed with a complex-number TypeError.

    Adding c rounds W by |c| * 1.1e-16: the draws agree to 1e-7 relative (sigma2) and 1e-6 absolute (mu, X).
    """
    W = _small_W()
    base = gibbs.sample(W, mean="flat", draws=300, burn=50, chains=2, seed=3).posterior
    moved = gibbs.sample(W + offset, mean="flat", draws=300, burn=50, chains=2, seed=3).posterior
    for name in ("sigma2_x", "sigma2_e"):
        np.testing.assert_allclose(moved[name], base[name], rtol=1e-7)
    np.testing.assert_allclose(moved["mu"] - offset, base["mu"], atol=1e-6)
    np.testing.assert_allclose(moved["X"] - offset, base["X"], atol=1e-6)


@pytest.mark.parametrize("scale", [1e-8, 1e8])
def test_draws_are_equivariant_under_scaling_with_the_prior_rates(scale):
    """The inverse-gamma prior has a scale: scaling W by s matches scaling the prior rates by s^2 (to 1e-12)."""
    W = _small_W()
    a, b = gibbs.DEFAULT_PRIOR
    base = gibbs.sample(W, mean="flat", draws=300, burn=50, chains=2, seed=3).posterior
    scaled = gibbs.sample(W * scale, mean="flat", draws=300, burn=50, chains=2, seed=3,
                          prior_x=(a, b * scale**2), prior_e=(a, b * scale**2)).posterior
    np.testing.assert_allclose(scaled["sigma2_x"] / scale**2, base["sigma2_x"], rtol=1e-12)
    np.testing.assert_allclose(scaled["mu"] / scale, base["mu"], rtol=1e-12, atol=1e-12)


def test_zero_mean_model_with_a_large_offset_keeps_a_positive_residual_variance():
    post = gibbs.sample(_small_W() + 1e8, draws=300, burn=50, chains=2, seed=3).posterior
    assert np.all(post["sigma2_e"] > 0) and np.all(np.isfinite(post["X"]))


def test_more_replicates_than_observations_warns_about_the_orientation():
    with pytest.warns(UserWarning, match="did you mean W.T"):
        gibbs.sample(_small_W().T, draws=60, burn=10, chains=1)


@pytest.mark.parametrize("sx, se", [(1.0, -1.0), (0.0, 1.0), (np.nan, 1.0)])
def test_x_conditional_refuses_a_non_positive_variance(sx, se):
    with pytest.raises(ValueError, match="must be a positive finite variance"):
        gibbs.x_conditional(np.array([0.1, 0.2]), sx, se)


@pytest.mark.parametrize("grid", [[0.0, 1.0], [-1.0, 1.0], [1.0]])
def test_grid_posterior_refuses_a_bad_grid(grid):
    with pytest.raises(ValueError, match="sigma2_x_grid must be a 1-d grid of at least two positive"):
        gibbs.grid_posterior(_small_W(), sigma2_x_grid=grid, sigma2_e_grid=[0.5, 1.0])


@pytest.mark.parametrize("conditional", [gibbs.x_conditional, gibbs.x_conditional_numeric])
@pytest.mark.parametrize(
    "args, error, words",
    [
        ((1.0, -1.0), ValueError, "sigma2_e must be a positive finite variance, got -1"),
        ((0.0, 1.0), ValueError, "sigma2_x must be a positive finite variance, got 0"),
        (("1", 1.0), TypeError, "sigma2_x must hold numbers"),
        ((np.ones(2), 1.0), TypeError, "sigma2_x must be a single number"),
        ((1.0, 1.0, np.nan), ValueError, "mu must be finite"),
    ],
)
def test_both_x_conditionals_refuse_a_bad_variance_or_mean(conditional, args, error, words):
    """Before: the brute-force conditional returned a mean and variance for a negative variance, and NaN for mu=NaN."""
    with pytest.raises(error, match=words):
        conditional(np.array([0.1, 0.2]), *args)


@pytest.mark.parametrize("sx, se", [(-1.0, 1.0), (1.0, 0.0), (np.array([1.0, -2.0]), 1.0)])
def test_log_marginal_posterior_refuses_a_non_positive_variance(sx, se):
    """Before: NaN (the log of a negative number) with only NumPy's RuntimeWarning."""
    with pytest.raises(ValueError, match="must be a positive finite variance"):
        gibbs.log_marginal_posterior(_small_W(), sx, se)


@pytest.mark.parametrize("seed, error, words", [(-1, ValueError, "seed must be an integer >= 0"),
                                                ("a", TypeError, "seed must be an integer, got str")])
def test_sample_names_a_bad_seed(seed, error, words):
    with pytest.raises(error, match=words):
        gibbs.sample(_small_W(), draws=20, burn=5, chains=1, seed=seed)


def test_data_that_is_text_is_named():
    with pytest.raises(TypeError, match="W must hold numbers"):
        gibbs.sample([["a", "b"], ["c", "d"]], draws=20, burn=5, chains=1)
