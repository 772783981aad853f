"""Time lmmteach.reml.fit against lme4's lmer on the same data, in one run.

Run from the repository root (by hand; ``make test`` never runs it; needs R with lme4):

    python benchmarks/reml_vs_lme4.py                 # all cases
    python benchmarks/reml_vs_lme4.py --case crossed_200x300 --repeat 3

For each case the data are simulated with a fixed seed, written to a temporary
CSV, fitted by REML with ``reml.fit`` here and with ``lmer`` in an ``Rscript``
child process (its time is measured inside R, around ``lmer`` alone, so R's
start-up and reading the CSV are not counted; likewise only ``reml.fit`` is
timed here). The table gives both times, their ratio and the relative
difference of the REML criteria (goal: below 1e-8, and lmmteach no slower);
a run of all cases also writes it to ``benchmarks/results/reml_vs_lme4.json``
with the machine's load average (the timings depend on it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from lmmteach import reml

R_CODE = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
for (g in strsplit(args[3], ",")[[1]]) d[[g]] <- factor(d[[g]])
elapsed <- system.time(fit <- lmer(as.formula(args[2]), data = d, REML = TRUE))[["elapsed"]]
cat(sprintf("%.6f %.12f\n", elapsed, REMLcrit(fit)))
"""


def one_factor(rows: int = 50_000, groups: int = 2_000, seed: int = 1) -> pd.DataFrame:
    """y = 2 + 0.5 x + a_g + s_g x + e: correlated intercept and slope (SDs 1, 0.5, corr 0.4), residual SD 1.5."""
    rng = np.random.default_rng(seed)
    g = rng.integers(0, groups, size=rows)
    x = rng.normal(size=rows)
    cov = np.array([[1.0, 0.2], [0.2, 0.25]])
    effects = rng.multivariate_normal([0.0, 0.0], cov, size=groups)
    y = 2.0 + 0.5 * x + effects[g, 0] + effects[g, 1] * x + rng.normal(scale=1.5, size=rows)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def crossed(levels_a: int, levels_b: int, rows: int, seed: int = 2) -> pd.DataFrame:
    """y = 1 + 0.5 x + a_i + b_j + e with every row a random (i, j) pair: SDs 1.0, 0.7, residual 1.0."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, levels_a, size=rows), rng.integers(0, levels_b, size=rows)
    x = rng.normal(size=rows)
    y = 1.0 + 0.5 * x + rng.normal(size=levels_a)[a] + rng.normal(scale=0.7, size=levels_b)[b] + rng.normal(size=rows)
    return pd.DataFrame({"y": y, "x": x, "a": a, "b": b})


def nested(batches: int, casks: int, rows: int, seed: int = 3) -> pd.DataFrame:
    """y = 1 + 0.5 x + a_batch + c_cask + e with `casks` casks inside each batch (labels 0..casks-1 repeat): SDs 1.0, 0.5, residual 1.0."""
    rng = np.random.default_rng(seed)
    batch, cask = rng.integers(0, batches, size=rows), rng.integers(0, casks, size=rows)
    x = rng.normal(size=rows)
    y = (1.0 + 0.5 * x + rng.normal(size=batches)[batch] + rng.normal(scale=0.5, size=(batches, casks))[batch, cask]
         + rng.normal(size=rows))
    return pd.DataFrame({"y": y, "x": x, "batch": batch, "cask": cask})


CASES = {
    "one_factor_50k": ("y ~ x + (x | g)", ["g"], lambda: one_factor()),
    "crossed_200x300": ("y ~ x + (1 | a) + (1 | b)", ["a", "b"], lambda: crossed(200, 300, 10_000)),
    "crossed_1000x1500": ("y ~ x + (1 | a) + (1 | b)", ["a", "b"], lambda: crossed(1000, 1500, 100_000)),
    "crossed_2000x3000": ("y ~ x + (1 | a) + (1 | b)", ["a", "b"], lambda: crossed(2000, 3000, 100_000)),
    "nested_500x10": ("y ~ x + (1 | batch/cask)", ["batch", "cask"], lambda: nested(500, 10, 50_000)),
}
RESULTS = Path(__file__).parent / "results" / "reml_vs_lme4.json"


def time_lme4(csv: Path, formula: str, factors: list[str]) -> tuple[float, float]:
    """Seconds inside lmer, and lme4's REML criterion."""
    out = subprocess.run(["Rscript", "-e", R_CODE, str(csv), formula, ",".join(factors)],
                         capture_output=True, text=True, check=True)
    elapsed, criterion = out.stdout.split()[-2:]
    return float(elapsed), float(criterion)


def time_lmmteach(data: pd.DataFrame, formula: str, factors: list[str]) -> tuple[float, float]:
    """Seconds inside reml.fit, and its REML criterion (the data read back from the same CSV as lme4)."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reml.SingularFitWarning)
        fit = reml.fit(formula, data)
    return time.perf_counter() - start, fit.criterion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), action="append", help="run only these cases")
    parser.add_argument("--repeat", type=int, default=1, help="fits per library and case; the fastest counts")
    args = parser.parse_args()
    rows = []
    for name in args.case or CASES:
        formula, factors, make = CASES[name]
        data = make()
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / f"{name}.csv"
            data.to_csv(csv, index=False)
            data = pd.read_csv(csv)  # both libraries see the same rounded numbers
            for f in factors:
                data[f] = pd.Categorical(data[f])
            ours = [time_lmmteach(data, formula, factors) for _ in range(args.repeat)]
            theirs = [time_lme4(csv, formula, factors) for _ in range(args.repeat)]
        t_ours, c_ours = min(ours)
        t_lme4, c_lme4 = min(theirs)
        rows.append({"case": name, "rows": len(data), "formula": formula, "lmmteach_s": t_ours, "lme4_s": t_lme4,
                     "lme4/lmmteach": t_lme4 / t_ours, "criterion": c_ours,
                     "rel_diff": abs(c_ours - c_lme4) / abs(c_lme4), "lmmteach_lower": c_ours <= c_lme4})
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.4g}"), flush=True)
    print()
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.case is None:  # a full run is the one recorded
        load = os.getloadavg()
        RESULTS.write_text(json.dumps({"load_average_1_5_15_min_at_end": [round(v, 2) for v in load],
                                       "cpus": os.cpu_count(), "repeat": args.repeat,
                                       "cases": table.to_dict(orient="records")}, indent=1) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
