"""Answers without sampling: the exact posterior of the two variances, and the X conditional by brute force.

The samplers are checked against these. ``log_marginal_posterior`` integrates
X out analytically and ``grid_posterior`` normalises it on a grid, so a
sampler's posterior means can be compared with exact ones;
``x_conditional_numeric`` normalises the joint density of one X_i on a fine
grid, with no algebra, to test the closed-form conditional the samplers use.
"""

from __future__ import annotations

import numpy as np

from lmmteach.gibbs.checks import check_prior, check_variances
from lmmteach.gibbs.note import DEFAULT_PRIOR

__all__ = ["log_marginal_posterior", "grid_posterior", "x_conditional_numeric"]


def log_marginal_posterior(W, sigma2_x, sigma2_e, *, prior_x=DEFAULT_PRIOR, prior_e=DEFAULT_PRIOR, mu=0.0):
    """log p(sigma2_x, sigma2_e | W) up to a constant, with X integrated out analytically.

    Row means are Normal(mu, sigma2_x + sigma2_e / m); the within-row sum of
    squares is sigma2_e times a chi-square with n (m - 1) degrees of freedom;
    the two are independent. Works for m = 1 too, where only the sum
    sigma2_x + sigma2_e enters the likelihood. ``sigma2_x`` and ``sigma2_e``
    broadcast against each other (pass a grid).
    """
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or not np.all(np.isfinite(W)):
        raise ValueError("W must be a 2-d array of finite numbers")
    a_x, b_x = check_prior(prior_x, "prior_x")
    a_e, b_e = check_prior(prior_e, "prior_e")
    n, m = W.shape
    sx, se, mu = check_variances(sigma2_x, sigma2_e, mu)
    row_means = W.mean(axis=1)
    ss_between = float(((row_means - mu) ** 2).sum())
    ss_within = float(((W - row_means[:, None]) ** 2).sum())
    v = sx + se / m
    loglik = -0.5 * n * np.log(v) - 0.5 * ss_between / v
    if m > 1:
        loglik = loglik - 0.5 * n * (m - 1) * np.log(se) - 0.5 * ss_within / se
    log_prior = -(a_x + 1) * np.log(sx) - b_x / sx - (a_e + 1) * np.log(se) - b_e / se
    return loglik + log_prior


def grid_posterior(W, *, prior_x=DEFAULT_PRIOR, prior_e=DEFAULT_PRIOR, sigma2_x_grid, sigma2_e_grid, mu=0.0):
    """Normalised posterior on a (sigma2_x x sigma2_e) grid and the two marginal means.

    Returns (probabilities of shape (len(sigma2_x_grid), len(sigma2_e_grid)),
    posterior mean of sigma2_x, posterior mean of sigma2_e). The grids should
    be evenly spaced and wide enough to hold the posterior.
    """
    gx = np.asarray(sigma2_x_grid, dtype=float)
    ge = np.asarray(sigma2_e_grid, dtype=float)
    for name, grid in (("sigma2_x_grid", gx), ("sigma2_e_grid", ge)):
        if grid.ndim != 1 or grid.size < 2 or not np.all(np.isfinite(grid) & (grid > 0)):
            raise ValueError(f"{name} must be a 1-d grid of at least two positive finite variances, "
                             f"got {grid.size} value(s) with min {np.min(grid) if grid.size else float('nan'):g}")
    logp = log_marginal_posterior(W, gx[:, None], ge[None, :], prior_x=prior_x, prior_e=prior_e, mu=mu)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return p, float((p.sum(axis=1) * gx).sum()), float((p.sum(axis=0) * ge).sum())


def x_conditional_numeric(w_row, sigma2_x, sigma2_e, mu=0.0, grid_size=20001, width=12.0):
    """Mean and variance of X_i | W_i., sigma2_x, sigma2_e by normalising the joint density on a grid.

    No algebra: evaluate log p(X_i) + sum_j log p(W_ij | X_i) on a fine grid,
    normalise numerically and take moments.
    """
    w_row = np.asarray(w_row, dtype=float)
    sigma2_x, sigma2_e, mu = (float(v) for v in check_variances(sigma2_x, sigma2_e, mu, scalar=True))
    centre = (w_row.mean() + mu) / 2
    half = width * np.sqrt(sigma2_x + sigma2_e) + abs(w_row.mean() - mu)
    x = np.linspace(centre - half, centre + half, grid_size)
    logp = -0.5 * (x - mu) ** 2 / sigma2_x - 0.5 * ((w_row[None, :] - x[:, None]) ** 2).sum(axis=1) / sigma2_e
    p = np.exp(logp - logp.max())
    p /= p.sum()
    m1 = float((p * x).sum())
    return m1, float((p * (x - m1) ** 2).sum())
