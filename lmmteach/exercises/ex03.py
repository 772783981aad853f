"""Exercise set 03: Bayesian regression in PyMC and its diagnostics (ciproxifan).

No answer here depends on a sampler run of ours. The model WAKE ~ Treatment *
Genotype with beta ~ Normal(0, 100) and sigma ~ HalfNormal(10) has an exact
posterior up to one dimension: given sigma, beta is normal, and integrating beta
out gives y ~ N(0, sigma^2 I + 100^2 X X'). A fine grid over sigma therefore
gives the exact posterior moments that a student's NUTS run estimates; the
tolerances are four Monte Carlo standard errors of a run with at least
``MIN_ESS`` effective draws. The same machinery (with a second grid over
sigma_u) serves :mod:`lmmteach.exercises.ex04`. The diagnostics questions use
chains simulated here (``chains()``), so their answers are exact too.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmmteach.exercises.core import (ArrayQuestion, ChoiceQuestion, Mistake, NumericQuestion, ObjectQuestion,
                                     questions)

SET = "ex03"
BETA_SD, SIGMA_SD = 100.0, 10.0  # the report's weakly informative priors (Listing 3)
DRAWS, TUNE, CHAINS = 300, 300, 4  # what the notebook asks for
MIN_ESS = 300  # a correct run of 4 x 300 draws has at least this bulk ESS for sigma (measured: about 700)


@lru_cache(maxsize=None)
def _data():
    from lmmteach.data import load_ciproxifan

    return load_ciproxifan()


def design(frame=None):
    """X with columns [1, dose, ko, dose * ko], y = WAKE, and the subject index (0..17)."""
    from lmmteach.models import design as course_design

    d = course_design(_data() if frame is None else frame, needs_id=True)
    return d.X, d.y, d.id_index


def _ols():
    X, y, _ = design()
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _grid(n, hi):
    return (np.arange(n) + 0.5) * hi / n


@lru_cache(maxsize=None)
def exact_posterior(beta_sd=BETA_SD, hierarchical=False, sigma_u_fixed=0.0, n=400):
    """Exact posterior on a grid: (sigma_u grid, sigma grid, normalised weights, log p(y_i | y_-i, grid)).

    y ~ N(0, sigma^2 I + sigma_u^2 Z Z' + beta_sd^2 X X') after integrating beta and u out; sigma and
    sigma_u have HalfNormal(10) priors (sigma_u only when ``hierarchical``, else it is fixed).
    """
    from scipy.special import logsumexp

    X, y, idx = design()
    Z = np.eye(idx.max() + 1)[idx]
    sig = _grid(n, 25.0)
    sig_u = _grid(n // 2, 40.0) if hierarchical else np.array([sigma_u_fixed])
    logw, logpi = [], []
    for su in sig_u:
        lam, Q = np.linalg.eigh(beta_sd**2 * X @ X.T + su**2 * Z @ Z.T)
        qy = Q.T @ y
        d = lam[None, :] + sig[:, None] ** 2
        loglik = -0.5 * (len(y) * np.log(2 * np.pi) + np.log(d).sum(1) + (qy**2 / d).sum(1))
        prior = -0.5 * (sig / SIGMA_SD) ** 2 - (0.5 * (su / SIGMA_SD) ** 2 if hierarchical else 0.0)
        logw.append(loglik + prior)
        pdiag, b = (1 / d) @ (Q.T**2), (qy / d) @ Q.T  # diag of Sigma^-1 and Sigma^-1 y
        logpi.append(-0.5 * np.log(2 * np.pi) + 0.5 * np.log(pdiag) - 0.5 * b**2 / pdiag)
    logw = np.array(logw)
    return sig_u, sig, np.exp(logw - logsumexp(logw)), np.array(logpi)


def sigma_moments(beta_sd=BETA_SD):
    """Exact posterior mean and sd of sigma, and E[sigma^2], for the fixed-effects model."""
    _, sig, w, _ = exact_posterior(beta_sd)
    w = w[0]
    mean = float(np.sum(w * sig))
    return mean, float(np.sqrt(np.sum(w * sig**2) - mean**2)), float(np.sum(w * sig**2))


def beta_moments(beta_sd=BETA_SD):
    """Exact posterior mean and sd of beta: mix the normal beta | sigma, y over the sigma grid."""
    X, y, _ = design()
    _, sig, w, _ = exact_posterior(beta_sd)
    mean, second = np.zeros(4), np.zeros((4, 4))
    for s, wk in zip(sig, w[0]):
        V = np.linalg.inv(X.T @ X / s**2 + np.eye(4) / beta_sd**2)
        m = V @ X.T @ y / s**2
        mean += wk * m
        second += wk * (V + np.outer(m, m))
    return mean, np.sqrt(np.diag(second) - mean**2)


def exact_elpd_loo(**kw):
    """Exact leave-one-out elpd: p(y_i | y_-i) = 1 / E_post[1 / p(y_i | y_-i, theta)] on the grid."""
    from scipy.special import logsumexp

    _, _, w, logpi = exact_posterior(**kw)
    return float(-np.sum(logsumexp(-logpi, axis=(0, 1), b=w[..., None])))


q1 = ArrayQuestion(
    SET, "q1",
    "With flat priors (beta ~ Flat, sigma ~ HalfFlat), find the MAP of beta with pm.find_MAP, in the order "
    "[intercept, Treatment, ko, Treatment:ko] (wt is the reference genotype).",
    _ols, rtol=1e-3, atol=1e-3,
    hints=["pm.Flat('beta', shape=4) and pm.HalfFlat('sigma'); mu = X @ beta with X = [1, dose, ko, dose * ko].",
           "map_estimate = pm.find_MAP(progressbar=False); map_estimate['beta']. Compare with the OLS estimates."],
    solution="with pm.Model() as flat:\n    beta = pm.Flat('beta', shape=4)\n    sigma = pm.HalfFlat('sigma')\n"
             "    pm.Normal('y', pm.math.dot(X, beta), sigma, observed=y)\n"
             "    beta_map = pm.find_MAP(progressbar=False)['beta']",
    mistakes=[Mistake("you have 3 coefficients: you forgot the interaction column dose * ko.",
                      when=lambda a: a.shape == (3,))],
)


def _dist(rv):
    """(name, [parameter values]) of a PyMC random variable with constant parameters."""
    op = rv.owner.op
    return op.name, [float(np.asarray(p.eval()).reshape(-1)[0]) for p in op.dist_params(rv.owner)]


def _rv_size(model, rv):
    return int(np.size(model.initial_point()[model.rvs_to_values[rv].name]))


def _reference_logp(X, y, beta, sigma, beta_sd=BETA_SD):
    from scipy import stats

    return float(stats.norm.logpdf(beta, 0, beta_sd).sum() + stats.halfnorm.logpdf(sigma, scale=SIGMA_SD)
                 + stats.norm.logpdf(y, X @ beta, sigma).sum())


def _check_priors(model, name, expect, size):
    """None when ``name`` is a free variable with distribution ``expect`` = (op name, params) and ``size``."""
    if name not in model.named_vars or model[name] not in model.free_RVs:
        return "incorrect", f"expected a free random variable named '{name}'."
    kind, params = _dist(model[name])
    if kind != expect[0]:
        return "incorrect", f"'{name}' has a {kind} prior; expected {expect[0]}."
    if _rv_size(model, model[name]) != size:
        return "incorrect", f"'{name}' should have {size} value(s), has {_rv_size(model, model[name])}."
    if not np.allclose(params, expect[1]):
        return "incorrect", f"'{name}' has prior parameters {params}; expected {list(expect[1])}."
    return None


def _validate_model(model):
    import pymc as pm

    if not isinstance(model, pm.Model):
        return "wrong_type", "expected a PyMC model (the object bound by `with pm.Model() as model:`)."
    names = sorted(v.name for v in model.free_RVs)
    if "beta" in names and _rv_size(model, model["beta"]) == 3:
        return "known_mistake", "beta has 3 values: you forgot the interaction (4 coefficients with dose * ko)."
    if "beta" in names and model["beta"].owner.op.name == "normal" and np.allclose(_dist(model["beta"])[1], [0, 10]):
        return "known_mistake", "beta ~ Normal(0, 10): the report's prior is Normal(0, 100). With sd 10 the prior " \
                                "pulls the intercept (about 44) towards 0."
    if names != ["beta", "sigma"]:
        return "incorrect", f"expected exactly two free variables, beta and sigma; got {names}."
    for problem in (_check_priors(model, "beta", ("normal", (0, BETA_SD)), 4),
                    _check_priors(model, "sigma", ("halfnormal", (0, SIGMA_SD)), 1)):
        if problem:
            return problem
    if len(model.observed_RVs) != 1 or model.observed_RVs[0].owner.op.name != "normal":
        return "incorrect", "expected one observed Normal likelihood for WAKE."
    X, y, _ = design()
    logp = model.compile_logp(jacobian=False)
    point = model.initial_point()
    for beta, sigma in ((_ols(), 8.0), (np.array([40.0, 2.0, 1.0, 0.5]), 12.0)):
        point["beta"] = beta
        point[model.rvs_to_values[model["sigma"]].name] = np.log(sigma)
        if not np.isclose(float(logp(point)), _reference_logp(X, y, beta, sigma), rtol=1e-6, atol=1e-6):
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

QUESTIONS = questions(globals())
