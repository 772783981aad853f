"""Comparing two samplers' output: do their posteriors agree, and how many effective draws per second.

Used to hold the Gibbs sampler against a textbook loop, against NUTS, and the
corrected variant against the published one.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd

__all__ = ["agreement", "ess_per_second"]


def agreement(idata_a, idata_b, var_names=("sigma2_x", "sigma2_e"), quantiles=(0.05, 0.5, 0.95)):
    """Compare two posteriors: mean and quantiles of each, their difference in Monte Carlo standard errors.

    ``z`` is the difference of the means over the combined MCSE (az.mcse) of
    the two; for samplers that agree |z| is rarely above 3.
    """
    rows = []
    for name in var_names:
        a = idata_a.posterior[name].values.ravel()
        b = idata_b.posterior[name].values.ravel()
        se_a = float(az.mcse(idata_a, var_names=[name])[name])
        se_b = float(az.mcse(idata_b, var_names=[name])[name])
        row = {"parameter": name, "mean_a": a.mean(), "mean_b": b.mean(),
               "mcse": float(np.hypot(se_a, se_b))}
        row["z"] = (row["mean_a"] - row["mean_b"]) / row["mcse"]
        for q in quantiles:
            row[f"q{int(round(q * 100)):02d}_a"] = float(np.quantile(a, q))
            row[f"q{int(round(q * 100)):02d}_b"] = float(np.quantile(b, q))
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter")


def ess_per_second(idata, seconds: float, var_names=("sigma2_x", "sigma2_e")) -> pd.Series:
    """Bulk ESS (az.ess) of each parameter divided by the sampling time."""
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    ess = az.ess(idata, var_names=list(var_names))
    return pd.Series({name: float(ess[name]) / seconds for name in var_names}, name="ess_per_s")
