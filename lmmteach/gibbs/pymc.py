"""The Gibbs note's model written in PyMC, so NUTS can sample what the Gibbs sampler samples.

Variables are named as in :func:`lmmteach.gibbs.sample` (``sigma2_x``,
``sigma2_e``, ``X``, ``mu``), so the two posteriors compare name by name.
"""

from __future__ import annotations

import numpy as np

from lmmteach.gibbs.checks import check_data, check_mean, check_prior
from lmmteach.gibbs.note import DEFAULT_PRIOR

__all__ = ["pymc_model"]


def pymc_model(W, *, prior_x=DEFAULT_PRIOR, prior_e=DEFAULT_PRIOR, mean=None, noncentered=False):
    """The variance-components model for the data ``W`` (n x m) as a ``pm.Model``; ``mean`` as in ``sample``."""
    import pymc as pm

    W = check_data(W)
    prior_x = check_prior(prior_x, "prior_x")
    prior_e = check_prior(prior_e, "prior_e")
    mean = check_mean(mean)
    n, m = W.shape
    with pm.Model(coords={"obs": np.arange(n), "rep": np.arange(m)}) as model:
        sigma2_x = pm.InverseGamma("sigma2_x", alpha=prior_x[0], beta=prior_x[1])
        sigma2_e = pm.InverseGamma("sigma2_e", alpha=prior_e[0], beta=prior_e[1])
        if mean is None:
            mu = 0.0
        elif mean == "flat":
            mu = pm.Flat("mu")
        else:
            mu = pm.Normal("mu", mean[0], mean[1])
        if noncentered:
            x_raw = pm.Normal("x_raw", 0.0, 1.0, dims="obs")
            X = pm.Deterministic("X", mu + pm.math.sqrt(sigma2_x) * x_raw, dims="obs")
        else:
            X = pm.Normal("X", mu, pm.math.sqrt(sigma2_x), dims="obs")
        pm.Normal("W", X[:, None], pm.math.sqrt(sigma2_e), observed=W, dims=("obs", "rep"))
    return model
