"""Reference computations the exercise sets check answers against (shared by the sets, not for students).

The ciproxifan data and design arrays; the exact posteriors of the report's
Bayesian models (ex03, ex04); the exact leave-one-out elpd; and what a checker
needs to read a student's PyMC model (a variable's distribution and size, the
prior check, the model's joint log density written out with scipy).

Exact posteriors. With beta ~ Normal(0, BETA_SD) and sigma ~ HalfNormal(SIGMA_SD),
the model WAKE ~ Treatment * Genotype has an exact posterior up to one
dimension: given sigma, beta is normal, and integrating beta out gives y ~ N(0,
sigma^2 I + BETA_SD^2 X X'). With varying intercepts u = sigma_u z, z ~ N(0, 1),
and sigma_u ~ HalfNormal(SIGMA_U_SD), integrating u out adds sigma_u^2 Z Z'. A
fine grid over sigma (and sigma_u) therefore gives the exact posterior moments
that a student's NUTS run estimates, with no sampler run of ours involved.

One sampling prescription, :data:`SAMPLING`, for every NUTS run of ex03 and
ex04: the questions print it, the solutions pass it, and its Monte Carlo error
sets their tolerances. It passes its own diagnostics on both models (R-hat at
most 1.01, bulk ESS above 1800 for every parameter, no divergences over seeds 1-3).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from lmmteach import progress
from lmmteach.ciproxifan import BETA_SD, SIGMA_SD, SIGMA_U_SD, design

__all__ = [
    "SAMPLING", "SAMPLING_TEXT", "beta_moments", "check_prior", "ciproxifan_data", "design_arrays", "exact_elpd_loo",
    "exact_posterior", "flat_sigma_mean", "joint_logp", "ols_beta", "rv_distribution", "rv_size", "sigma_moments",
    "sigma_u_moments",
]


SAMPLING = {"draws": 2000, "tune": 1000, "chains": 4, "target_accept": 0.95, "cores": 1,
            "progressbar": progress.enabled()}
"""The keyword arguments of ``pm.sample`` for every NUTS run the exercises ask for (plus a seed).

The prescription is draws, tune, chains and target_accept; ``progressbar`` only
says whether to draw a bar and follows :mod:`lmmteach.progress` when the set is
imported: on for a person at a notebook, off under tests, ``make execute`` and the
grader (which set LMMTEACH_PROGRESS=0), so stored outputs stay comparable.
"""

SAMPLING_TEXT = (f"pm.sample(**ex.SAMPLING, random_seed=...): {SAMPLING['chains']} chains x {SAMPLING['draws']} draws "
                 f"after {SAMPLING['tune']} tuning steps, target_accept {SAMPLING['target_accept']}")


@lru_cache(maxsize=None)
def ciproxifan_data() -> pd.DataFrame:
    """The ciproxifan data, exactly as the student loads them (read once)."""
    from lmmteach.data import load_ciproxifan

    return load_ciproxifan()


def design_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X with columns [1, dose, ko, dose * ko], y = WAKE, and the mouse index (0..17) of each row."""
    d = design(ciproxifan_data(), needs_id=True)
    return d.X, d.y, d.id_index


def ols_beta() -> np.ndarray:
    """The least-squares coefficients of WAKE ~ Treatment * Genotype (the MAP under flat priors)."""
    X, y, _ = design_arrays()
    return np.linalg.lstsq(X, y, rcond=None)[0]


def flat_sigma_mean() -> float:
    """Posterior mean of sigma under flat priors (beta ~ Flat, sigma ~ HalfFlat): sqrt(RSS/2) G((k-2)/2) / G((k-1)/2).

    With k = n - p, p(sigma | y) is proportional to sigma^-k exp(-RSS / (2 sigma^2)).
    """
    from scipy.special import gammaln

    X, y, _ = design_arrays()
    k = len(y) - X.shape[1]
    rss = float(np.sum((y - X @ ols_beta()) ** 2))
    return float(np.sqrt(rss / 2) * np.exp(gammaln((k - 2) / 2) - gammaln((k - 1) / 2)))


def _grid(n, hi):
    return (np.arange(n) + 0.5) * hi / n


@lru_cache(maxsize=None)
def exact_posterior(beta_sd=BETA_SD, hierarchical=False, sigma_u_fixed=0.0, n=400):
    """Exact posterior on a grid: (sigma_u grid, sigma grid, normalised weights, log p(y_i | y_-i, grid)).

    y ~ N(0, sigma^2 I + sigma_u^2 Z Z' + beta_sd^2 X X') after integrating beta and u out; sigma and
    sigma_u have HalfNormal priors (sigma_u only when ``hierarchical``, else it is fixed).
    """
    from scipy.special import logsumexp

    X, y, idx = design_arrays()
    Z = np.eye(idx.max() + 1)[idx]
    sig = _grid(n, 25.0)
    sig_u = _grid(n // 2, 40.0) if hierarchical else np.array([sigma_u_fixed])
    logw, logpi = [], []
    for su in sig_u:
        lam, Q = np.linalg.eigh(beta_sd**2 * X @ X.T + su**2 * Z @ Z.T)
        qy = Q.T @ y
        d = lam[None, :] + sig[:, None] ** 2
        loglik = -0.5 * (len(y) * np.log(2 * np.pi) + np.log(d).sum(1) + (qy**2 / d).sum(1))
        prior = -0.5 * (sig / SIGMA_SD) ** 2 - (0.5 * (su / SIGMA_U_SD) ** 2 if hierarchical else 0.0)
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
    X, y, _ = design_arrays()
    _, sig, w, _ = exact_posterior(beta_sd)
    mean, second = np.zeros(4), np.zeros((4, 4))
    for s, wk in zip(sig, w[0]):
        V = np.linalg.inv(X.T @ X / s**2 + np.eye(4) / beta_sd**2)
        m = V @ X.T @ y / s**2
        mean += wk * m
        second += wk * (V + np.outer(m, m))
    return mean, np.sqrt(np.diag(second) - mean**2)


def sigma_u_moments():
    """Exact posterior mean and sd of sigma_u, E[sigma_u^2], and the posterior mean of sigma (varying intercepts)."""
    sig_u, sig, w, _ = exact_posterior(hierarchical=True)
    mean = float(np.sum(w * sig_u[:, None]))
    second = float(np.sum(w * sig_u[:, None] ** 2))
    return mean, float(np.sqrt(second - mean**2)), second, float(np.sum(w * sig[None, :]))


def exact_elpd_loo(**kw):
    """Exact leave-one-out elpd: p(y_i | y_-i) = 1 / E_post[1 / p(y_i | y_-i, theta)] on the grid."""
    from scipy.special import logsumexp

    _, _, w, logpi = exact_posterior(**kw)
    return float(-np.sum(logsumexp(-logpi, axis=(0, 1), b=w[..., None])))


def rv_distribution(rv):
    """(name, [parameter values]) of a PyMC random variable with constant parameters."""
    op = rv.owner.op
    return op.name, [float(np.asarray(p.eval()).reshape(-1)[0]) for p in op.dist_params(rv.owner)]


def rv_size(model, rv) -> int:
    """How many values the free variable ``rv`` of ``model`` has."""
    return int(np.size(model.initial_point()[model.rvs_to_values[rv].name]))


def check_prior(model, name, expect, size):
    """None when ``name`` is a free variable with distribution ``expect`` = (op name, params) and ``size``.

    Otherwise the ``(status, message)`` a validator returns, naming what differs.
    """
    if name not in model.named_vars or model[name] not in model.free_RVs:
        return "incorrect", f"expected a free random variable named '{name}'."
    kind, params = rv_distribution(model[name])
    if kind != expect[0]:
        return "incorrect", f"'{name}' has a {kind} prior; expected {expect[0]}."
    if rv_size(model, model[name]) != size:
        return "incorrect", f"'{name}' should have {size} value(s), has {rv_size(model, model[name])}."
    if not np.allclose(params, expect[1]):
        return "incorrect", f"'{name}' has prior parameters {params}; expected {list(expect[1])}."
    return None


def joint_logp(beta, sigma, sigma_u=None, z=None) -> float:
    """Log density of the report's model at a point, without Jacobian terms, written out with scipy.

    Fixed effects only when ``sigma_u`` is None; otherwise the non-centred varying
    intercepts u = sigma_u * z with z ~ Normal(0, 1), one per mouse.
    """
    from scipy import stats

    X, y, idx = design_arrays()
    logp = stats.norm.logpdf(beta, 0, BETA_SD).sum() + stats.halfnorm.logpdf(sigma, scale=SIGMA_SD)
    mu = X @ beta
    if sigma_u is not None:
        logp += stats.halfnorm.logpdf(sigma_u, scale=SIGMA_U_SD) + stats.norm.logpdf(z).sum()
        mu = mu + sigma_u * z[idx]
    return float(logp + stats.norm.logpdf(y, mu, sigma).sum())
