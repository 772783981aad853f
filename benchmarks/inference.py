"""Time simulate -> refit -> Satterthwaite coefficient table on the ciproxifan design, against R.

Run from the repository root:  python benchmarks/inference.py [--cycles 200] [--no-r]

The work of a simulation study (simr, a parametric bootstrap): simulate a
response from the REML fit of ``WAKE ~ Treatment * Genotype + (1 | id)``,
refit, and compute lmerTest's Satterthwaite table. Three timings in one run:

* lmmteach, batched: all cycles at once (``lmmteach.batched``: the path that
  ``inference.parametric_bootstrap`` and ``power.simulate`` use);
* lmmteach, one at a time: ``fit.refit(y)`` then ``inference.coef_table``;
* R: lme4's ``simulate`` + ``refit`` + lmerTest's ``summary(ddf = "Satterthwaite")``
  in a loop, timed inside R (Rscript, started by this script; skipped without R).

It also prints the time of the full power curve of lesson 13.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

R_SCRIPT = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest)})
d <- read.csv("datasets/ciproxifan.csv")
d$Genotype <- factor(d$Genotype, levels = c("wt", "ko")); d$id <- factor(d$id)
fit <- lmer(WAKE ~ Treatment * Genotype + (1 | id), data = d)
ys <- simulate(fit, nsim = CYCLES, seed = 1)
invisible(summary(refit(fit, ys[[1]]), ddf = "Satterthwaite"))  # warm up
start <- proc.time()[["elapsed"]]
for (i in seq_len(CYCLES)) {
  tab <- suppressMessages(summary(refit(fit, ys[[i]]), ddf = "Satterthwaite"))$coefficients
}
cat(proc.time()[["elapsed"]] - start, "\n")
"""


def time_r(cycles: int) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as handle:
        handle.write(R_SCRIPT.replace("CYCLES", str(cycles)))
    out = subprocess.run(["Rscript", handle.name], capture_output=True, text=True, check=True)
    Path(handle.name).unlink()
    return float(out.stdout.split()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--no-r", action="store_true", help="skip the R timing")
    args = parser.parse_args(argv)

    from lmmteach import batched, inference, power, reml
    from lmmteach.data import load_ciproxifan

    fit = reml.fit("WAKE ~ Treatment * Genotype + (1 | id)", load_ciproxifan())
    L = np.eye(len(fit.fe_params))
    batch = batched.RandomIntercept(fit.model)
    batch.t_tests(batch.fit(inference.simulate(fit, 5, seed=0)), inference.simulate(fit, 5, seed=0), L)  # warm up

    start = time.perf_counter()
    ys = inference.simulate(fit, args.cycles, seed=1)
    fits = batch.fit(ys)
    tables = batch.t_tests(fits, ys, L)
    t_batched = time.perf_counter() - start

    one_at_a_time = min(args.cycles, 20)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reml.SingularFitWarning)
        for y in ys[:one_at_a_time]:
            inference.coef_table(fit.refit(y))
    t_single = (time.perf_counter() - start) / one_at_a_time * args.cycles

    print(f"{args.cycles} cycles of simulate -> refit -> Satterthwaite table on ciproxifan (33 rows, 18 mice)")
    print(f"  lmmteach, batched:        {t_batched:7.3f} s  ({1000 * t_batched / args.cycles:.2f} ms per cycle)")
    print(f"  lmmteach, one at a time:  {t_single:7.3f} s  (extrapolated from {one_at_a_time} cycles)")
    print(f"  (df of the first cycle: {np.round(tables['df'][0], 3).tolist()})")
    t_r = None if args.no_r else time_r(args.cycles)
    if t_r is not None:
        print(f"  R (lme4 refit + lmerTest summary): {t_r:7.3f} s  ({1000 * t_r / args.cycles:.2f} ms per cycle)")
        print(f"  ratio R / lmmteach batched: {t_r / t_batched:.1f}x; R / one at a time: {t_r / t_single:.2f}x")

    start = time.perf_counter()
    power.curve("WAKE ~ Treatment * Genotype + (1 | subject)", "Treatment:Genotype[ko]",
                beta={"Intercept": 44, "Treatment": 3.1, "Treatment:Genotype[ko]": -1.0}, sd=3.2, sigma=7.6,
                subjects=[4, 6, 8, 10, 12, 16, 20], recordings=[1, 2], between={"Genotype": ["wt", "ko"]},
                within={"Treatment": [0, 3, 10]}, n=500, seed=1)
    print(f"power curve (7 x 2 designs x 500 simulations): {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
