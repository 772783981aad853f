"""Exercise set 03: Bayesian regression in PyMC and its diagnostics (ciproxifan).

No answer here depends on a sampler run of ours. The model WAKE ~ Treatment *
Genotype with beta ~ Normal(0, 100) and sigma ~ HalfNormal(10) has an exact
posterior up to one dimension (:mod:`lmmteach.exercises._reference`), so the
expected posterior moments are exact; the tolerances are four Monte Carlo
standard errors of a run of the course's prescription (``SAMPLING``), which
has at least ``MIN_ESS`` effective draws of beta and ``MIN_ESS_SIGMA`` of sigma
(sigma's stops halfway to the flat-prior posterior, see ``_mc_tolerance``); a run
of another model is caught in q3 by its log density. The
diagnostics questions use chains simulated here (``chains()``), so their
answers are exact too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmmteach.ciproxifan import BETA_SD, SIGMA_SD
from lmmteach.exercises._reference import (SAMPLING, SAMPLING_TEXT, beta_moments, check_prior, design_arrays,
                                           flat_sigma_mean, joint_logp, ols_beta, rv_distribution, rv_size,
                                           sigma_moments)
from lmmteach.exercises.questions import (ArrayQuestion, ChoiceQuestion, Mistake, NumericQuestion, ObjectQuestion,
                                          Progress, collect_questions, progress_summary)

__all__ = ["QUESTIONS", "SAMPLING", "chains", "check_all", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex03"
CHAINS = SAMPLING["chains"]
MIN_ESS = 2000  # a run of SAMPLING has at least this bulk ESS for beta (measured: 2595 and more, seeds 1-31)
MIN_ESS_SIGMA = 4000  # ... and at least this for sigma (measured: 4261 and more, seeds 1-31)


q1 = ArrayQuestion(
    SET, "q1",
    "With flat priors (beta ~ Flat, sigma ~ HalfFlat), find the MAP of beta with pm.find_MAP, in the order "
    "[intercept, Treatment, ko, Treatment:ko] (wt is the reference genotype).",
    ols_beta, rtol=1e-3, atol=1e-3, order="[intercept, Treatment, ko, Treatment:ko]",
    hints=["pm.Flat('beta', shape=4) and pm.HalfFlat('sigma'); mu = X @ beta with X = [1, dose, ko, dose * ko].",
           "map_estimate = pm.find_MAP(progressbar=False); map_estimate['beta']. Compare with the OLS estimates."],
    solution="with pm.Model() as flat:\n    beta = pm.Flat('beta', shape=4)\n    sigma = pm.HalfFlat('sigma')\n"
             "    pm.Normal('y', pm.math.dot(X, beta), sigma, observed=y)\n"
             "    beta_map = pm.find_MAP(progressbar=False)['beta']",
    mistakes=[Mistake("you have 3 coefficients: you forgot the interaction column dose * ko.",
                      when=lambda a: a.shape == (3,))],
    why="with flat priors the posterior mode is the least-squares fit: a Bayesian model with vague priors "
        "starts from the familiar estimate, and the priors are what it adds.",
)


def _validate_model(model):
    import pymc as pm

    if not isinstance(model, pm.Model):
        return "wrong_type", "expected a PyMC model (the object bound by `with pm.Model() as model:`)."
    names = sorted(v.name for v in model.free_RVs)
    if "beta" in names and rv_size(model, model["beta"]) == 3:
        return "known_mistake", "beta has 3 values: you forgot the interaction (4 coefficients with dose * ko)."
    if ("beta" in names and model["beta"].owner.op.name == "normal"
            and np.allclose(rv_distribution(model["beta"])[1], [0, 10])):
        return "known_mistake", "beta ~ Normal(0, 10): the report's prior is Normal(0, 100). With sd 10 the prior " \
                                "pulls the intercept (about 44) towards 0."
    if names != ["beta", "sigma"]:
        return "incorrect", f"expected exactly two free variables, beta and sigma; got {names}."
    for problem in (check_prior(model, "beta", ("normal", (0, BETA_SD)), 4),
                    check_prior(model, "sigma", ("halfnormal", (0, SIGMA_SD)), 1)):
        if problem:
            return problem
    if len(model.observed_RVs) != 1 or model.observed_RVs[0].owner.op.name != "normal":
        return "incorrect", "expected one observed Normal likelihood for WAKE."
    logp = model.compile_logp(jacobian=False)
    point = model.initial_point()
    for beta, sigma in ((ols_beta(), 8.0), (np.array([40.0, 2.0, 1.0, 0.5]), 12.0)):
        point["beta"] = beta
        point[model.rvs_to_values[model["sigma"]].name] = np.log(sigma)
        if not np.isclose(float(logp(point)), joint_logp(beta, sigma), rtol=1e-6, atol=1e-6):
            return "incorrect", ("the priors are right but the likelihood is not that of WAKE ~ Treatment * Genotype "
                                 "with mu = X @ beta, X = [1, dose, ko, dose * ko] in that order.")
    return "correct", ""


q2 = ObjectQuestion(
    SET, "q2",
    "Write the report's model (Listing 3) in PyMC: beta ~ Normal(0, 100) (a vector 'beta' of 4, order "
    "[intercept, Treatment, ko, Treatment:ko]), sigma ~ HalfNormal(10) named 'sigma', WAKE ~ Normal(X @ beta, sigma). "
    "Give the model.",
    _validate_model, expected_kind="a PyMC model",
    hints=["Stan's normal(0, 10) on a positive parameter is PyMC's HalfNormal('sigma', 10).",
           "pm.Normal('beta', 0, 100, shape=4); pm.Normal('y', pm.math.dot(X, beta), sigma, observed=y)."],
    solution="with pm.Model() as weak:\n    beta = pm.Normal('beta', 0, 100, shape=4)\n"
             "    sigma = pm.HalfNormal('sigma', 10)\n    pm.Normal('y', pm.math.dot(X, beta), sigma, observed=y)",
    why="Stan's normal(0, 10) on a positive parameter is a half-normal: translating a published model means "
        "reading its constraints as well as its formulas.",
)


def _validate_idata(idata):
    import arviz as az

    if not isinstance(idata, az.InferenceData):
        return "wrong_type", "expected an arviz.InferenceData (what pm.sample returns)."
    if "posterior" not in idata.groups() or not {"beta", "sigma"} <= set(idata.posterior.data_vars):
        return "incorrect", "expected a posterior with the variables beta and sigma (the model of q2)."
    n_chains, n_draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    if n_chains != SAMPLING["chains"] or n_draws < SAMPLING["draws"]:
        return "incorrect", (f"expected {SAMPLING['chains']} chains of at least {SAMPLING['draws']} draws, got "
                             f"{n_chains} x {n_draws}: sample with pm.sample(**ex.SAMPLING, random_seed=...).")
    if "log_likelihood" not in idata.groups():
        return "known_mistake", ("there is no log_likelihood group, so LOO cannot be computed: sample with "
                                 "idata_kwargs={'log_likelihood': True} (or call pm.compute_log_likelihood(idata)).")
    if "sample_stats" in idata.groups() and int(idata.sample_stats.get("diverging", 0).sum()) > 0:
        return "incorrect", "your run has divergent transitions, which this model does not produce: check the model."
    problem = _sampled_density(idata)
    if problem:
        return problem
    mean, sd = beta_moments()
    got = idata.posterior["beta"].mean(("chain", "draw")).to_numpy()
    if got.shape != (4,) or np.any(np.abs(got - mean) > 4 * sd / np.sqrt(MIN_ESS)):
        return "incorrect", "the posterior means of beta are far from the posterior of the q2 model: check the model."
    return "correct", ""


def _sampled_density(idata, n_points=40):
    """None when the run's log density (PyMC's sample_stats.lp) is the q2 model's at its own draws.

    A run of another model (q1's flat priors, say) has posterior means within a few Monte Carlo errors
    of the right ones, but its lp differs by the missing log prior: exact evidence, no tolerance needed.
    Runs without ``lp`` (other samplers) are judged by their means alone.
    """
    from scipy import stats

    if "sample_stats" not in idata.groups() or "lp" not in idata.sample_stats:
        return None
    lp = idata.sample_stats["lp"].to_numpy().reshape(-1)
    beta = idata.posterior["beta"].to_numpy().reshape(-1, 4)
    sigma = idata.posterior["sigma"].to_numpy().reshape(-1)
    if not len(lp) == len(beta) == len(sigma):
        return "incorrect", "sample_stats and posterior hold different numbers of draws: give pm.sample's result as is."
    rows = np.linspace(0, len(lp) - 1, min(n_points, len(lp))).astype(int)
    # PyMC samples log(sigma): its lp adds the Jacobian log(sigma) to the model's log density
    want = np.array([joint_logp(beta[i], sigma[i]) + np.log(sigma[i]) for i in rows])
    if np.allclose(lp[rows], want, rtol=0, atol=1e-4):
        return None
    log_prior = stats.norm.logpdf(beta[rows], 0, BETA_SD).sum(axis=1) + stats.halfnorm.logpdf(sigma[rows], scale=SIGMA_SD)
    if np.allclose(lp[rows], want - log_prior, rtol=0, atol=1e-4):
        return "known_mistake", ("this run sampled flat priors (q1's model, pm.Flat and pm.HalfFlat): its log density "
                                 "has no prior terms. Sample the q2 model, beta ~ Normal(0, 100), sigma ~ HalfNormal(10).")
    return "incorrect", "the run's log density (sample_stats.lp) is not the q2 model's at its draws: sample the q2 model."


q3 = ObjectQuestion(
    SET, "q3",
    f"Sample the q2 model with NUTS using the course's prescription, {SAMPLING_TEXT}, keeping the pointwise "
    "log-likelihood. Give the InferenceData.",
    _validate_idata, expected_kind="an arviz.InferenceData",
    hints=["pm.sample(**ex.SAMPLING, random_seed=3, model=weak, ...): ex.SAMPLING holds draws, tune, chains, "
           "target_accept, cores and progressbar (a bar when you run the notebook by hand).",
           "idata_kwargs={'log_likelihood': True} stores the log-likelihood that az.loo needs."],
    solution="idata = pm.sample(**ex.SAMPLING, random_seed=3, model=weak, idata_kwargs={'log_likelihood': True})",
    why="one prescription that passes its own diagnostics (R-hat, ESS, no divergences) is what lets every number "
        "below be compared with an exact answer within its Monte Carlo error.",
)


def _posterior_means(beta_sd=BETA_SD):
    """Exact posterior means [beta (4), sigma] of the fixed-effects model with beta ~ Normal(0, beta_sd)."""
    return np.append(beta_moments(beta_sd)[0], sigma_moments(beta_sd)[0])


def _mc_tolerance():
    """Four Monte Carlo standard errors of each posterior mean (MIN_ESS effective draws, MIN_ESS_SIGMA for sigma).

    For sigma, at most halfway to its posterior mean under flat priors: the only mean that tells the two
    posteriors apart, 0.12 apart, about 7 Monte Carlo standard errors of the prescribed run. The halfway
    point is 3.4 of them from each (at MIN_ESS_SIGMA; more at a typical run's ESS), so either kind of run
    lands on the wrong side about once in a few thousand.
    """
    sigma_mean, sigma_sd, _ = sigma_moments()
    sigma_tol = min(4 * sigma_sd / np.sqrt(MIN_ESS_SIGMA), abs(flat_sigma_mean() - sigma_mean) / 2)
    return np.append(4 * beta_moments()[1] / np.sqrt(MIN_ESS), sigma_tol)


def _least_squares():
    X, y, _ = design_arrays()
    beta = ols_beta()
    return np.append(beta, np.sqrt(np.sum((y - X @ beta) ** 2) / (len(y) - X.shape[1])))


q4 = ArrayQuestion(
    SET, "q4",
    "The posterior means from your q3 run: [intercept, Treatment, ko, Treatment:ko, sigma] (five values).",
    _posterior_means, tol=_mc_tolerance, close_factor=3.0, order="[intercept, Treatment, ko, Treatment:ko, sigma]",
    hints=["idata.posterior['beta'] has dimensions (chain, draw, beta_dim_0): average over chain and draw.",
           "np.append(idata.posterior['beta'].mean(('chain', 'draw')), idata.posterior['sigma'].mean())"],
    solution="post = idata.posterior\nmeans = np.append(post['beta'].mean(('chain', 'draw')).to_numpy(), "
             "float(post['sigma'].mean()))",
    mistakes=[Mistake("you gave the four coefficients: add the posterior mean of sigma as the fifth value.",
                      when=lambda a: a.shape == (4,)),
              Mistake("these are the least-squares estimates and the residual standard error (8.224), not "
                      "posterior means: the posterior of sigma is right-skewed and its mean is larger.",
                      value=_least_squares),
              Mistake("this is the posterior under flat priors (q1's model): the report's HalfNormal(10) prior on "
                      "sigma pulls its posterior mean down a little; sample the q2 model.",
                      value=lambda: np.append(ols_beta(), flat_sigma_mean())),
              Mistake("this is the posterior under beta ~ Normal(0, 10): the intercept (about 44) is pulled towards "
                      "0. The report's prior is Normal(0, 100).", value=lambda: _posterior_means(10.0)),
              Mistake("the last value looks like a variance (the mean of sigma**2): sigma is a standard deviation.",
                      when=lambda a: a.shape == (5,) and 40 < a[-1] < 120)],
    why="with these priors the posterior means of beta are the least-squares estimates, but sigma's is not: a "
        "posterior averages over the uncertainty a point estimate ignores.",
)

CHAIN_SEED, CHAIN_DRAWS, PHI = 3004, 500, 0.7
MCSE_TARGET = 0.01


@lru_cache(maxsize=None)
def chains():
    """A small InferenceData of 4 simulated chains x 500 draws: `theta` (AR(1), phi 0.7) and `mu` (one chain off)."""
    import arviz as az

    rng = np.random.default_rng(CHAIN_SEED)
    theta = np.zeros((CHAINS, CHAIN_DRAWS))
    eps = rng.normal(0, np.sqrt(1 - PHI**2), (CHAINS, CHAIN_DRAWS))
    theta[:, 0] = rng.normal(size=CHAINS)
    for t in range(1, CHAIN_DRAWS):
        theta[:, t] = PHI * theta[:, t - 1] + eps[:, t]
    mu = rng.normal(size=(CHAINS, CHAIN_DRAWS)) + np.array([0.0, 0.0, 0.0, 0.6])[:, None]
    return az.from_dict(posterior={"theta": theta, "mu": mu})


def _theta_summary():
    """(posterior sd, bulk ESS, tail ESS, mcse_mean) of theta."""
    import arviz as az

    idata = chains()
    theta = idata.posterior["theta"].to_numpy()
    ess = {m: float(az.ess(idata, var_names=["theta"], method=m)["theta"]) for m in ("bulk", "tail")}
    mcse = float(az.mcse(idata, var_names=["theta"])["theta"])
    return float(theta.std(ddof=1)), ess["bulk"], ess["tail"], mcse


def _draws_needed(ess=None, per_chain=True):
    """Draws per chain for an MCSE of MCSE_TARGET, if ESS grows in proportion to the draws."""
    sd, bulk, _, _ = _theta_summary()
    ess_needed = (sd / MCSE_TARGET) ** 2
    total = ess_needed * CHAINS * CHAIN_DRAWS / (bulk if ess is None else ess)
    return total / CHAINS if per_chain else total


q5 = NumericQuestion(
    SET, "q5",
    f"idata_sim = ex.chains() holds {CHAINS} chains of {CHAIN_DRAWS} autocorrelated draws. The Monte Carlo "
    f"standard error of theta's posterior mean is about sd / sqrt(bulk ESS). How many draws per chain would make "
    f"it {MCSE_TARGET}, if the ESS grows in proportion to the number of draws?",
    _draws_needed, rtol=0.025,
    hints=["az.summary(idata_sim) gives theta's sd and ess_bulk. The ESS you need is (sd / 0.01)**2.",
           "The ESS per draw is ess_bulk / (4 x 500); divide the ESS you need by it, then by the 4 chains."],
    solution="s = az.summary(idata_sim).loc['theta']\nper_draw = s['ess_bulk'] / (4 * 500)\n"
             "draws_per_chain = (s['sd'] / 0.01) ** 2 / per_draw / 4",
    mistakes=[Mistake("that is the total over the 4 chains; the question asks for draws per chain.",
                      value=lambda: _draws_needed(per_chain=False), rtol=0.025),
              Mistake("that assumes independent draws (ESS = number of draws); these draws are autocorrelated, so "
                      "each is worth less than one independent draw.",
                      value=lambda: (_theta_summary()[0] / MCSE_TARGET) ** 2 / CHAINS, rtol=0.025),
              Mistake("that is the effective sample size you need, not the number of draws that gives it.",
                      value=lambda: (_theta_summary()[0] / MCSE_TARGET) ** 2, rtol=0.025),
              Mistake("that uses the tail ESS; the MCSE of a mean goes with the bulk ESS.",
                      value=lambda: _draws_needed(_theta_summary()[2]), rtol=0.025),
              Mistake("that starts from az.summary(..., round_to=2)'s mcse_mean of 0.05, rounded to one significant "
                      "digit: (0.05 / 0.01)**2 is off by a quarter. Use sd and ess_bulk unrounded.",
                      value=lambda: CHAIN_DRAWS * (round(_theta_summary()[3], 2) / MCSE_TARGET) ** 2, rtol=0.01)],
    why="ESS turns 'is my run long enough?' into arithmetic: the Monte Carlo error shrinks with the square root "
        "of the effective draws, so halving it costs four times the sampling.",
)

q6 = ChoiceQuestion(
    SET, "q6", "In az.summary(ex.chains()), mu has r_hat above 1.01. What does that tell you?",
    {"a": "About 1 % of the draws of mu are bad, and those draws can simply be dropped from the run.",
     "b": "mu's posterior is bimodal; every chain visits both modes, so all is well.",
     "c": "The ESS of mu is too high, so its Monte Carlo error is underestimated.",
     "d": "The chains disagree (one sits elsewhere): mu's summaries cannot be trusted."},
    "d",
    feedback={"a": "R-hat compares between-chain with within-chain variance; it says nothing about a share of draws.",
              "b": "a multimodal posterior that every chain explores gives R-hat near 1; here the chains disagree.",
              "c": "R-hat and ESS are different diagnostics; disagreeing chains lower the ESS, not raise it."},
    hints=["R-hat is about sqrt((between-chain + within-chain variance) / within-chain variance).",
           "az.plot_rank(idata_sim, var_names=['mu']): are the rank histograms flat for every chain?"],
    why="a chain stuck elsewhere is invisible in one chain's trace: only several chains started apart reveal "
        "it, which is why R-hat needs at least four.",
)

q7 = ChoiceQuestion(
    SET, "q7", "pm.sample reports divergent transitions. What do they signal?",
    {"a": "A harmless numerical warning that can be ignored whenever R-hat is fine.",
     "b": "NUTS met curvature it cannot follow (a funnel, say): the draws may be biased.",
     "c": "Some chains ran off to infinity: drop the divergent draws and keep the rest.",
     "d": "There are too few draws for this posterior: doubling the number of draws will fix it."},
    "b",
    feedback={"a": "divergences are a bias warning that R-hat can miss: the sampler avoids the hard region in every chain.",
              "c": "dropping them leaves the hard region unexplored, so the remaining draws are still biased.",
              "d": "more draws of a sampler that cannot enter a region do not reach it."},
    hints=["Think of the funnel of a hierarchical model when the group SD is small."],
    why="divergences are the one warning that points at bias rather than noise; the cure is a better "
        "parameterisation (non-centred) or a smaller step (target_accept), then checking again.",
)

QUESTIONS = collect_questions(globals())


def check_all() -> Progress:
    """Where this set stands: the latest check of every question, and the points so far."""
    return progress_summary(QUESTIONS)
