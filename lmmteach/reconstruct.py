"""Rebuild the ciproxifan data set from the report's published summaries.

The study's raw measurements are not public. What the report does publish is
the design (which mouse got which doses) and the fitted outputs of two models:

* Listing 1, ``lm(WAKE ~ Treatment * Genotype)``: estimates, standard errors,
  residual standard error 8.224 on 29 df, R-squared 0.7195;
* Listing 4, ``lmer(WAKE ~ Treatment * Genotype + (1 | id))`` by REML: fixed
  effects, the variances 9.926 (id) and 58.145 (residual), REML criterion 221.3;

Write the response as ``y = X b + r`` where ``X`` is the fixed-effects design
and ``b`` the Listing 1 estimates. The OLS fit then reproduces Listing 1
exactly whenever the residual ``r`` is orthogonal to the columns of ``X`` and
``|r|^2 = 29 * 8.224^2`` (the standard errors, R-squared and F follow from the
design). The REML fit reproduces Listing 4 when, at the published variances,
``r`` also satisfies four linear equations (the generalised-least-squares
estimates) and two quadratic ones (the REML score equations): 8 linear and 3
quadratic conditions on 33 numbers. We start from a realistic simulation of the study and move it the
shortest distance that satisfies every condition (Gauss-Newton with minimum
norm steps). REM is simulated as a small share of sleep and NREM completes the
percentages to 100.

The room left is smaller than the count suggests: in this nearly balanced
design the OLS residual sum of squares is almost implied by the two REML
variances (within-mouse and between-mouse sums of squares), so only the few
unbalanced directions carry the slack. That is why the five rows printed in
the report's Figure 4 cannot be imposed as well: with them the conditions have
no solution. The id numbers are ours.

``python -m lmmteach.tools.make_data --write`` rebuilds
``datasets/ciproxifan.csv`` with :func:`reconstruct_ciproxifan` and
:func:`to_csv_text`; ``--check`` compares with the shipped file.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from lmmteach import ciproxifan

__all__ = [
    "OLS_ESTIMATES", "OLS_RESIDUAL_DF", "OLS_RESIDUAL_SE", "REML_FIXED_EFFECTS", "REML_VAR_ID", "REML_VAR_RESIDUAL",
    "SEED", "reconstruct_ciproxifan", "to_csv_text",
]

SEED = 20220202  # the report's date: any fixed integer would do

# Listing 1 (lm) and Listing 4 (lmer, REML). Listing 1 prints 2.9591 and 8.224;
# the values below round to those and are chosen inside the rounding so that
# every other number Listing 1 prints (standard errors, t values, p-values,
# R-squared, F and its p-value 3.745e-08) also comes out to its last digit.
OLS_ESTIMATES = np.array([44.5675, 2.95914, -0.5100, -0.0925])
OLS_RESIDUAL_SE = 8.22402
OLS_RESIDUAL_DF = 29
REML_FIXED_EFFECTS = np.array([44.1194, 3.0834, -0.3840, -0.1707])
REML_VAR_ID = 9.926
REML_VAR_RESIDUAL = 58.145

DECIMALS = 6
COLUMNS = ["id", "part", "Genotype", "Treatment", "WAKE", "NREM", "REM"]


def _solve_residual(X, Z, r_start, tol=1e-10, max_iter=100):
    """Smallest move from ``r_start`` that satisfies every published condition."""
    n, p = X.shape
    V = REML_VAR_RESIDUAL * np.eye(n) + REML_VAR_ID * Z @ Z.T
    Vinv_X = np.linalg.solve(V, X)
    XtVX = X.T @ Vinv_X
    # P maps y to V^-1 (y - X beta_gls): the REML "residual-maker" at the published variances.
    P = np.linalg.inv(V) - Vinv_X @ np.linalg.solve(XtVX, Vinv_X.T)
    ZZ = Z @ Z.T
    A = np.vstack([X.T, Vinv_X.T])
    c = np.concatenate([np.zeros(p), XtVX @ (REML_FIXED_EFFECTS - OLS_ESTIMATES)])
    rss = OLS_RESIDUAL_DF * OLS_RESIDUAL_SE**2
    score_target = np.trace(P @ ZZ)

    def conditions(r):
        Pr = P @ r
        return np.concatenate([A @ r - c, [r @ r - rss, r @ Pr - (n - p), Pr @ ZZ @ Pr - score_target]])

    def jacobian(r):
        Pr = P @ r
        return np.vstack([A, 2 * r, 2 * Pr, 2 * P @ ZZ @ Pr])

    r = r_start.copy()
    for _ in range(max_iter):
        g = conditions(r)
        if np.max(np.abs(g)) < tol:
            return r
        r = r - np.linalg.lstsq(jacobian(r), g, rcond=None)[0]
    raise RuntimeError("the reconstruction did not converge; the published summaries may be inconsistent")


def reconstruct_ciproxifan(seed: int = SEED) -> pd.DataFrame:
    """The reconstructed ciproxifan data, deterministic for a given seed.

    Columns: id, part, Genotype ('wt'/'ko'), Treatment (mg/kg), WAKE, NREM, REM
    (percent of the recording, summing to 100). Plain dtypes, as written to CSV.
    """
    frame = ciproxifan.recordings()
    X = ciproxifan.design(frame.assign(WAKE=0.0)).X
    ids = frame["id"].to_numpy()
    groups = np.unique(ids)
    Z = (ids[:, None] == groups[None, :]).astype(float)
    rng = np.random.default_rng(seed)

    # A realistic start: subject intercepts and recording noise at the published variances.
    u = rng.normal(0.0, np.sqrt(REML_VAR_ID), len(groups))
    e = rng.normal(0.0, np.sqrt(REML_VAR_RESIDUAL), len(frame))
    r_start = Z @ u + e

    wake = np.round(X @ OLS_ESTIMATES + _solve_residual(X, Z, r_start), DECIMALS)

    # REM: a few percent of the time asleep; NREM is the rest of the recording.
    rem = np.round((100.0 - wake) * rng.beta(2.0, 50.0, len(frame)), DECIMALS)
    nrem = np.round(100.0 - wake - rem, DECIMALS)

    frame["WAKE"], frame["NREM"], frame["REM"] = wake, nrem, rem
    return frame[COLUMNS]


def to_csv_text(frame: pd.DataFrame) -> str:
    """The exact text shipped in datasets/ciproxifan.csv."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format=f"%.{DECIMALS}f", lineterminator="\n")
    return buffer.getvalue()
