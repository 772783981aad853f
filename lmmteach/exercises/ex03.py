"""Exercise set 03: Bayesian regression in PyMC and its diagnostics (ciproxifan).

No answer here depends on a sampler run of ours. The model WAKE ~ Treatment *
Genotype with beta ~ Normal(0, 100) and sigma ~ HalfNormal(10) has an exact
posterior up to one dimension (:mod:`lmmteach.exercises._reference`), so the
expected posterior moments are exact; the tolerances are four Monte Carlo
standard errors of a run with at least ``MIN_ESS`` effective draws. The
diagnostics questions use chains simulated here (``chains()``), so their
answers are exact too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmmteach.ciproxifan import BETA_SD, SIGMA_SD
from lmmteach.exercises._reference import (beta_moments, check_prior, joint_logp, ols_beta, rv_distribution, rv_size,
                                           sigma_moments)
from lmmteach.exercises.questions import (ArrayQuestion, ChoiceQuestion, Mistake, NumericQuestion, ObjectQuestion,
                                          collect_questions)

__all__ = ["QUESTIONS", "chains", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex03"
DRAWS, TUNE, CHAINS = 300, 300, 4  # what the notebook asks for
MIN_ESS = 300  # a correct run of 4 x 300 draws has at least this bulk ESS for sigma (measured: about 700)


q1 = ArrayQuestion(
    SET, "q1",
    "With flat priors (beta ~ Flat, sigma ~ HalfFlat), find the MAP of beta with pm.find_MAP, in the order "
    "[intercept, Treatment, ko, Treatment:ko] (wt is the reference genotype).",
    ols_beta, rtol=1e-3, atol=1e-3,
    hints=["pm.Flat('beta', shape=4) and pm.HalfFlat('sigma'); mu = X @ beta with X = [1, dose, ko, dose * ko].",
           "map_estimate = pm.find_MAP(progressbar=False); map_estimate['beta']. Compare with the OLS estimates."],
    solution="with pm.Model() as flat:\n    beta = pm.Flat('beta', shape=4)\n    sigma = pm.HalfFlat('sigma')\n"
             "    pm.Normal('y', pm.math.dot(X, beta), sigma, observed=y)\n"
             "    beta_map = pm.find_MAP(progressbar=False)['beta']",
    mistakes=[Mistake("you have 3 coefficients: you forgot the interaction column dose * ko.",
                      when=lambda a: a.shape == (3,))],
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
)


def _validate_idata(idata):
    import arviz as az

    if not isinstance(idata, az.InferenceData):
        return "wrong_type", "expected an arviz.InferenceData (what pm.sample returns)."
    if "posterior" not in idata.groups() or not {"beta", "sigma"} <= set(idata.posterior.data_vars):
        return "incorrect", "expected a posterior with the variables beta and sigma (the model of q2)."
    n_chains = idata.posterior.sizes["chain"]
    if n_chains != CHAINS:
        return "incorrect", f"expected {CHAINS} chains (chains=4), got {n_chains}: R-hat needs several chains."
    if "log_likelihood" not in idata.groups():
        return "known_mistake", ("there is no log_likelihood group, so LOO cannot be computed: sample with "
                                 "idata_kwargs={'log_likelihood': True} (or call pm.compute_log_likelihood(idata)).")
    if idata.posterior.sizes["draw"] < DRAWS:
        return "incorrect", f"expected at least {DRAWS} draws per chain."
    mean, sd = beta_moments()
    got = idata.posterior["beta"].mean(("chain", "draw")).to_numpy()
    if got.shape != (4,) or np.any(np.abs(got - mean) > 5 * sd / np.sqrt(100)):
        return "incorrect", "the posterior means of beta are far from the posterior of the q2 model: check the model."
    return "correct", ""


q3 = ObjectQuestion(
    SET, "q3",
    f"Sample the q2 model with NUTS: {CHAINS} chains, {DRAWS} draws, tune={TUNE}, cores=1, a random_seed, "
    "progressbar=False, keeping the pointwise log-likelihood. Give the InferenceData.",
    _validate_idata, expected_kind="an arviz.InferenceData",
    hints=["pm.sample(draws, tune=..., chains=..., ...) inside `with weak:`.",
           "idata_kwargs={'log_likelihood': True} stores the log-likelihood that az.loo needs."],
    solution="with weak:\n    idata = pm.sample(300, tune=300, chains=4, cores=1, random_seed=3, progressbar=False,\n"
             "                      idata_kwargs={'log_likelihood': True})",
)


def _sigma_tolerance():
    """Four Monte Carlo standard errors of a posterior mean from MIN_ESS effective draws."""
    return 4 * sigma_moments()[1] / np.sqrt(MIN_ESS)


q4 = NumericQuestion(
    SET, "q4", "The posterior mean of sigma (the residual SD) from your q3 run.",
    lambda: sigma_moments()[0], tol=_sigma_tolerance, close_factor=3.0,
    hints=["idata.posterior['sigma'] has dimensions (chain, draw): average over both.",
           "float(idata.posterior['sigma'].mean()) or az.summary(idata)['mean']."],
    solution="sigma_mean = float(idata.posterior['sigma'].mean())",
    mistakes=[Mistake("that is a variance (the mean of sigma**2): sigma is a standard deviation.",
                      value=lambda: sigma_moments()[2], rtol=0.03),
              Mistake("that is the posterior sd of sigma; the question asks for its posterior mean.",
                      value=lambda: sigma_moments()[1], rtol=0.15)],
)

CHAIN_SEED, CHAIN_DRAWS, PHI = 3004, 500, 0.7


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


def _ess(method="bulk"):
    import arviz as az

    return float(az.ess(chains(), var_names=["theta"], method=method)["theta"])


q5 = NumericQuestion(
    SET, "q5", "idata_sim = ex.chains() holds 4 simulated chains. Give the total bulk ESS of theta (as az.summary "
                "reports it).",
    _ess, rtol=0.01,
    hints=["az.summary(idata_sim) has a column ess_bulk.", "The draws are autocorrelated: ESS < 4 x 500."],
    solution="ess_theta = az.summary(idata_sim).loc['theta', 'ess_bulk']",
    mistakes=[Mistake("that is the ESS per chain: az.summary's ess_bulk is already the total over the 4 chains.",
                      value=lambda: _ess() / CHAINS, rtol=0.02),
              Mistake("az.summary's ess_bulk is already the total over all 4 chains: do not multiply by 4.",
                      value=lambda: _ess() * CHAINS, rtol=0.02),
              Mistake("that is the tail ESS (ess_tail); the question asks for the bulk ESS.",
                      value=lambda: _ess("tail"), rtol=0.005),
              Mistake("that is the number of draws; the effective number is smaller because the draws are "
                      "autocorrelated.", value=CHAINS * CHAIN_DRAWS, rtol=0.001)],
)

q6 = ChoiceQuestion(
    SET, "q6", "In az.summary(ex.chains()), mu has r_hat above 1.01. What does that tell you?",
    {"a": "About 1 % of the draws of mu are bad and can be dropped.",
     "b": "The chains do not agree with each other (one sits elsewhere): they have not converged to a common "
          "distribution, so the summaries of mu cannot be trusted; look at trace/rank plots, run longer or fix the model.",
     "c": "mu's posterior is bimodal, which is fine.",
     "d": "The ESS of mu is too high."},
    "b",
    feedback={"a": "R-hat compares between-chain with within-chain variance; it says nothing about a share of draws.",
              "c": "a multimodal posterior that every chain explores gives R-hat near 1; here the chains disagree.",
              "d": "R-hat and ESS are different diagnostics; disagreeing chains lower the ESS, not raise it."},
    hints=["R-hat is about sqrt((between-chain + within-chain variance) / within-chain variance).",
           "az.plot_rank(idata_sim, var_names=['mu']): are the rank histograms flat for every chain?"],
)

q7 = ChoiceQuestion(
    SET, "q7", "pm.sample reports divergent transitions. What do they signal?",
    {"a": "A harmless numerical warning: ignore it if R-hat is fine.",
     "b": "NUTS met a region of high curvature (a funnel, say) that it cannot explore with its step size; the "
          "draws may be biased. Reparametrise (non-centred) or raise target_accept, and check again.",
     "c": "The chain ran off to infinity: drop the divergent draws and keep the rest.",
     "d": "There are too few draws: double them."},
    "b",
    feedback={"a": "divergences are a bias warning that R-hat can miss: the sampler avoids the hard region in every chain.",
              "c": "dropping them leaves the hard region unexplored, so the remaining draws are still biased.",
              "d": "more draws of a sampler that cannot enter a region do not reach it."},
    hints=["Think of the funnel of a hierarchical model when the group SD is small."],
)

QUESTIONS = collect_questions(globals())
