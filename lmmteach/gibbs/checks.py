"""Input checks shared by the sampler, the exact posterior, the PyMC twin and SBC.

Each check returns the value in the form the callers use (floats, a float
array) or raises a ``ValueError`` that names the argument and the problem.
"""

from __future__ import annotations

import warnings

import numpy as np

from lmmteach import checks

__all__ = ["check_prior", "check_mean", "check_data", "check_counts", "check_variances"]


def check_prior(prior, name: str) -> tuple[float, float]:
    """An inverse-gamma prior as (shape, rate), both positive and finite."""
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (shape, rate) of positive numbers, got {prior!r}") from None
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"{name} must have a positive shape and a positive rate, got ({a}, {b})")
    return a, b


def check_mean(mean):
    """None (mu = 0), 'flat', or (m0, s0) for a Normal(m0, s0^2) prior on mu."""
    if mean is None or (isinstance(mean, str) and mean == "flat"):
        return mean
    if isinstance(mean, str):
        raise ValueError(f"mean must be None, 'flat' or a pair (m0, s0); got {mean!r}")
    try:
        m0, s0 = (float(v) for v in mean)
    except (TypeError, ValueError):
        raise ValueError(f"mean must be None, 'flat' or a pair (m0, s0); got {mean!r}") from None
    if not (np.isfinite(m0) and np.isfinite(s0) and s0 > 0):
        raise ValueError(f"the normal prior on mu needs a finite mean and a positive sd, got ({m0}, {s0})")
    return (m0, s0)


def check_data(W, *, stacked: bool = False) -> np.ndarray:
    """W as a float array: n x m (or K x n x m when ``stacked``), m >= 2 replicates, n >= 2 rows, all finite."""
    W = checks.float_array(W, "W")
    ndim = 3 if stacked else 2
    if W.ndim != ndim:
        shape = "(data sets x n observations x m replicates)" if stacked else "(n observations x m replicates)"
        raise ValueError(f"W must be a {ndim}-d array {shape}, got {W.ndim} dimension(s)")
    n, m = W.shape[-2:]
    if m < 2:
        raise ValueError(f"W needs at least two columns (replicates) per row to separate sigma2_x from sigma2_e; got {m}")
    if n < 2:
        raise ValueError(f"W needs at least two rows, got {n}")
    if not np.all(np.isfinite(W)):
        bad = int(np.sum(~np.isfinite(W)))
        raise ValueError(f"W contains {bad} NaN or infinite value(s); remove or impute them first")
    if m > n:
        warnings.warn(
            f"W has more replicates (columns, m = {m}) than observations (rows, n = {n}): rows are the "
            "observations X_i and columns their repeated measurements; did you mean W.T?",
            UserWarning, stacklevel=3,
        )
    return W


def check_variances(sigma2_x, sigma2_e, mu=0.0, *, scalar: bool = False):
    """sigma2_x and sigma2_e as float arrays of positive finite variances (single numbers if ``scalar``), a finite mu."""
    out = []
    for name, value in (("sigma2_x", sigma2_x), ("sigma2_e", sigma2_e)):
        value = checks.float_array(value, name)
        if scalar and value.ndim:
            raise TypeError(f"{name} must be a single number, got an array of shape {value.shape}")
        if not np.all(np.isfinite(value) & (value > 0)):
            got = f"{float(value):g}" if value.ndim == 0 else f"values down to {np.nanmin(value):g}"
            raise ValueError(f"{name} must be a positive finite variance, got {got}")
        out.append(value)
    return out[0], out[1], checks.real_number(mu, "mu")


def check_counts(draws, burn, chains=1, thin=1) -> None:
    """Integer iteration counts: draws > burn >= 0, at least one chain, thinning by a positive integer."""
    for name, value in (("draws", draws), ("burn", burn), ("chains", chains), ("thin", thin)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if chains < 1:
        raise ValueError(f"chains must be at least 1, got {chains}")
    if thin < 1:
        raise ValueError(f"thin must be a positive integer, got {thin!r}")
    if burn < 0:
        raise ValueError(f"burn must be non-negative, got {burn}")
    if draws <= burn:
        raise ValueError(f"draws ({draws}) must be larger than burn ({burn}): draws counts every iteration, burn-in included")
