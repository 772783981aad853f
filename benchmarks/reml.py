"""Time lmmteach.reml.fit against statsmodels MixedLM on one large REML fit.

Run from the repository root:  python benchmarks/reml.py [--rows 50000] [--groups 2000]

Simulates a correlated random intercept and slope (fixed seed), fits
``y ~ x + (x | g)`` by REML with both libraries in the same run, and prints
both times, the ratio and both REML criteria with their relative difference.
statsmodels gets tight optimiser settings (BFGS, gtol 1e-10) so that both land
on the same optimum; its REML criterion is -2 * llf.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def simulate(rows: int = 50_000, groups: int = 2_000, seed: int = 20240611) -> pd.DataFrame:
    """y = 2 + 0.5 x + (a_g + s_g x) + e with corr(a, s) = 0.4, SDs 1.0 and 0.5, residual SD 1.5."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, size=rows)
    x = rng.normal(size=rows)
    sd = np.array([1.0, 0.5])
    corr = np.array([[1.0, 0.4], [0.4, 1.0]])
    effects = rng.multivariate_normal([0.0, 0.0], corr * np.outer(sd, sd), size=groups)
    y = 2.0 + 0.5 * x + effects[g, 0] + effects[g, 1] * x + rng.normal(scale=1.5, size=rows)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=2_000)
    args = parser.parse_args(argv)

    from statsmodels.regression.mixed_linear_model import MixedLM

    from lmmteach import reml

    data = simulate(args.rows, args.groups)
    print(f"data: {len(data)} rows, {data['g'].nunique()} groups, y ~ x + (x | g), REML")

    start = time.perf_counter()
    ours = reml.fit("y ~ x + (x | g)", data, method="REML")
    t_ours = time.perf_counter() - start

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = MixedLM.from_formula("y ~ x", data, groups="g", re_formula="~x").fit(
            reml=True, method="bfgs", gtol=1e-10
        )
    t_sm = time.perf_counter() - start

    crit_sm = -2 * theirs.llf
    rel = abs(ours.criterion - crit_sm) / abs(crit_sm)
    print(f"lmmteach.reml.fit : {t_ours:7.3f} s   REML criterion {ours.criterion:.8f}  (converged={ours.converged})")
    print(f"statsmodels MixedLM: {t_sm:7.3f} s   REML criterion {crit_sm:.8f}  (converged={theirs.converged})")
    print(f"speed-up (statsmodels / lmmteach): {t_sm / t_ours:.1f}x")
    print(f"relative difference of the criteria: {rel:.2e}")
    print(f"lmmteach fixed effects: {ours.fe_params.round(6).to_dict()}")
    print(f"statsmodels fixed effects: {theirs.fe_params.round(6).to_dict()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
