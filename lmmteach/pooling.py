"""Complete, no and partial pooling of group means in a varying-intercept model.

The model is y_ij = mu + u_j + e_ij with u_j ~ N(0, sigma_u^2) and
e_ij ~ N(0, sigma_e^2). Three ways to estimate group j's mean:

* complete pooling ignores the groups: every group gets one common mean;
* no pooling uses each group's own sample mean ybar_j;
* partial pooling takes a precision-weighted average of the two,

      estimate_j = w_j * ybar_j + (1 - w_j) * mu,
      w_j = (n_j / sigma_e^2) / (n_j / sigma_e^2 + 1 / sigma_u^2),

  so a group with few observations (little precision n_j / sigma_e^2 in its
  own mean) is pulled strongly towards mu. Given the variances these are the
  conditional modes ("BLUPs") of a mixed model, with mu its GLS estimate.

The shrinkage explorer of lesson 2 is in :mod:`lmmteach.explorers`, the
shrinkage plot in :mod:`lmmteach.plots`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmmteach import checks

__all__ = [
    "group_summary", "complete_pooling", "no_pooling", "shrinkage_weight", "shrink", "gls_mean",
    "partial_pooling", "random_intercepts", "pooling_table",
]


def _check_variances(sigma_e2, sigma_u2) -> tuple[float, float]:
    """The two variances as floats: sigma_e2 > 0 (residual), sigma_u2 >= 0 (between groups)."""
    return (checks.real_number(sigma_e2, "sigma_e2 (the residual variance)", low=0),
            checks.real_number(sigma_u2, "sigma_u2 (the between-group variance)", low=0, strict=False))


def _as_frame(y, groups) -> pd.DataFrame:
    for name, values in (("y", y), ("groups", groups)):
        if values is None or np.ndim(values) != 1:
            raise ValueError(f"{name} must be a 1-d sequence with one value per observation, got {values!r}")
    y = pd.Series(np.asarray(y)) if not isinstance(y, pd.Series) else y.reset_index(drop=True)
    groups = pd.Series(groups).reset_index(drop=True) if not isinstance(groups, pd.Series) else groups.reset_index(drop=True)
    if len(y) != len(groups):
        raise ValueError(f"y has {len(y)} values but groups has {len(groups)}")
    if len(y) == 0:
        raise ValueError("no observations")
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        raise ValueError(f"y must be numeric, got dtype {y.dtype}")
    if y.isna().any() or not np.all(np.isfinite(y.to_numpy(dtype=float))):
        raise ValueError("y has NaN or infinite values")
    if groups.isna().any():
        raise ValueError("groups has missing values")
    if groups.nunique() < 2:
        raise ValueError("need at least two groups to pool across groups; found one")
    return pd.DataFrame({"y": y.astype(float), "group": groups})


def group_summary(y, groups) -> pd.DataFrame:
    """Size ``n`` and sample mean ``mean`` of each group (groups in category order)."""
    frame = _as_frame(y, groups)
    out = frame.groupby("group", observed=True, sort=True)["y"].agg(n="size", mean="mean")
    out.index.name = getattr(groups, "name", None) or "group"
    return out


def complete_pooling(y, groups=None) -> float:
    """The single mean that complete pooling gives every group: the grand mean."""
    y = checks.float_array(y, "y")
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("y must be a non-empty array of finite numbers")
    return float(y.mean())


def no_pooling(y, groups) -> pd.Series:
    """Each group's own sample mean."""
    return group_summary(y, groups)["mean"].rename("no_pooling")


def shrinkage_weight(n, sigma_e2, sigma_u2):
    """Weight w on the group's own mean: n/sigma_e^2 / (n/sigma_e^2 + 1/sigma_u^2).

    Written as n sigma_u^2 / (n sigma_u^2 + sigma_e^2) so that sigma_u^2 = 0
    (no between-group variance: pool completely) gives w = 0.
    """
    sigma_e2, sigma_u2 = _check_variances(sigma_e2, sigma_u2)
    n = checks.float_array(n, "n (the group sizes)")
    if np.any(n < 0):
        raise ValueError("group sizes must be >= 0")
    return n * sigma_u2 / (n * sigma_u2 + sigma_e2)


def shrink(own_mean, mu, weight):
    """The partial-pooling estimate w * own_mean + (1 - w) * mu, written mu + w (own_mean - mu)."""
    return mu + weight * (own_mean - mu)


def gls_mean(y, groups, sigma_e2, sigma_u2) -> float:
    """The population mean's GLS estimate: group means weighted by 1/(sigma_u^2 + sigma_e^2/n_j)."""
    sigma_e2, sigma_u2 = _check_variances(sigma_e2, sigma_u2)
    summary = group_summary(y, groups)
    precision = 1.0 / (sigma_u2 + sigma_e2 / summary["n"].to_numpy())
    return float(np.sum(precision * summary["mean"].to_numpy()) / np.sum(precision))


def partial_pooling(y, groups, sigma_e2, sigma_u2, mu=None) -> pd.Series:
    """Partial-pooling estimate of each group mean, shrunk towards ``mu`` (default: the GLS mean)."""
    summary = group_summary(y, groups)
    if mu is None:
        mu = gls_mean(y, groups, sigma_e2, sigma_u2)
    else:
        mu = checks.real_number(mu, "mu (the value to shrink towards)")
    w = shrinkage_weight(summary["n"].to_numpy(), sigma_e2, sigma_u2)
    return pd.Series(shrink(summary["mean"].to_numpy(), mu, w), index=summary.index, name="partial_pooling")


def random_intercepts(resid, groups, sigma_e2, sigma_u2) -> pd.Series:
    """Conditional modes u_j of the random intercepts from residuals y - X beta.

    With covariates, the same shrinkage applies to the group means of the
    residuals (shrunk towards 0): u_j = w_j * mean_j(y - X beta).
    """
    return (partial_pooling(resid, groups, sigma_e2, sigma_u2, mu=0.0)).rename("u")


def pooling_table(y, groups, sigma_e2, sigma_u2) -> pd.DataFrame:
    """One row per group: n, no-pooling mean, weight, partial-pooling and complete-pooling estimates."""
    summary = group_summary(y, groups)
    mu = gls_mean(y, groups, sigma_e2, sigma_u2)
    w = shrinkage_weight(summary["n"].to_numpy(), sigma_e2, sigma_u2)
    return pd.DataFrame(
        {
            "n": summary["n"],
            "no_pooling": summary["mean"],
            "weight": w,
            "partial_pooling": shrink(summary["mean"], mu, w),
            "complete_pooling": complete_pooling(y),
        },
        index=summary.index,
    )

