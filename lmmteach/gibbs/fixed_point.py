"""Where a Gibbs sampler of the variances settles: its expected update and the fixed point of that update.

One sweep maps the current (sigma2_x, sigma2_e) to new draws. Given the
current values, X_i | rest is normal with mean c * rowmean_i and variance v
(c and v follow from the variant's precision), so the expected sums the
variance updates see are

    E sum_i X_i^2             = c^2 sum_i rowmean_i^2 + n v
    E sum_ij (W_ij - X_i)^2   = SSW + m (1 - c)^2 sum_i rowmean_i^2 + m n v

(SSW is the within-row sum of squares), and the inverse-gamma draws have means
(b + sum / 2) / (a + shape - 1). Iterating this deterministic map predicts
where a chain spends its time. For the published sampler it has two stable
fixed points: an inflated one (both variances too large by factors that do not
shrink with n) and a collapsed one, sigma2_x ~ b_x / (a_x + n/4 - 1), set by
the prior alone. Lesson 10 derives both.
"""

from __future__ import annotations

import numpy as np

from lmmteach.gibbs.checks import check_data, check_prior
from lmmteach.gibbs.note import DEFAULT_PRIOR, initial_values
from lmmteach.gibbs.sampler import _variant_rule

__all__ = ["expected_update", "fixed_point", "collapse_point"]


def expected_update(W, sigma2_x, sigma2_e, *, prior_x=DEFAULT_PRIOR, prior_e=DEFAULT_PRIOR,
                    variant: str = "published") -> tuple[float, float]:
    """Means of the next draws of (sigma2_x, sigma2_e) given the current values (zero-mean model)."""
    W = check_data(W)
    a_x, b_x = check_prior(prior_x, "prior_x")
    a_e, b_e = check_prior(prior_e, "prior_e")
    rule = _variant_rule(variant)
    if not (sigma2_x > 0 and sigma2_e > 0):
        raise ValueError(f"the current variances must be positive, got ({sigma2_x}, {sigma2_e})")
    n, m = W.shape
    row_means = W.mean(axis=1)
    ss_means = float(row_means @ row_means)
    ss_within = float(((W - row_means[:, None]) ** 2).sum())
    precision = rule.precision(sigma2_x, sigma2_e, m)
    c = (m / sigma2_e) / precision          # E(X_i | rest) = c * rowmean_i
    v = 1.0 / precision                     # Var(X_i | rest)
    sum_x2 = c * c * ss_means + n * v
    sum_res2 = ss_within + m * (1 - c) ** 2 * ss_means + m * n * v
    return ((b_x + sum_x2 / 2) / (a_x + n / 2 - 1),
            (b_e + sum_res2 / 2) / (a_e + n * m / 2 - 1))


def fixed_point(W, *, start=None, prior_x=DEFAULT_PRIOR, prior_e=DEFAULT_PRIOR, variant: str = "published",
                tol: float = 1e-10, max_iter: int = 100_000) -> tuple[float, float]:
    """Iterate :func:`expected_update` from ``start`` (default: the note's starting values) until it settles."""
    if start is None:
        init = initial_values(check_data(W))
        start = (float(init["sigma2_x"]), float(init["sigma2_e"]))
    sx, se = (float(v) for v in start)
    for _ in range(max_iter):
        new_x, new_e = expected_update(W, sx, se, prior_x=prior_x, prior_e=prior_e, variant=variant)
        if abs(new_x - sx) <= tol * sx and abs(new_e - se) <= tol * se:
            return new_x, new_e
        sx, se = new_x, new_e
    raise RuntimeError(f"no fixed point within {max_iter} iterations (last values {sx:.4g}, {se:.4g})")


def collapse_point(n: int, prior_x) -> float:
    """The published sampler's collapsed sigma2_x, b_x / (a_x + n/4 - 1): the prior and n, no data."""
    a_x, b_x = check_prior(prior_x, "prior_x")
    if a_x + n / 4 - 1 <= 0:
        raise ValueError(f"no collapse point: a_x + n/4 - 1 = {a_x + n / 4 - 1} is not positive")
    return b_x / (a_x + n / 4 - 1)
