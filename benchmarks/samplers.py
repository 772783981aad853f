"""Effective samples per second: PyMC's NUTS against nutpie on the course's models.

    .venv/bin/python benchmarks/samplers.py            # all models, both samplers; writes the results file
    .venv/bin/python benchmarks/samplers.py --repeat 3 --out /tmp/samplers.json

Each model is sampled as the lessons sample it (``lmmteach.models.sample``:
4 chains of 1000 draws after 1000 tuning steps, one core / one thread, since
two notebooks share the course's two cores under test). A first run warms the
compile caches (PyTensor for both samplers, numba for nutpie) and is reported
as "cold"; the next ``--repeat`` runs are timed warm. Wall time includes
compiling the model's functions, which is what a student waits for. ESS is the
smallest bulk ESS over all parameters, so ESS/s is the rate of the
slowest-mixing parameter.

A run with divergent transitions has not sampled its posterior correctly, so
its ESS per second is meaningless: it is written as ``null`` and lesson 5 does
not compare it. The results go to ``benchmarks/results/samplers.json``
(committed), which lesson 5 reads; rerun this script to refresh them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

import arviz as az
import pymc  # noqa: F401  (imported before its logger is quietened: importing pymc resets the level)

from lmmteach import models
from lmmteach.data import load_ciproxifan

RESULTS = Path(__file__).resolve().parent / "results" / "samplers.json"

BUILDERS = {
    "fixed (weak priors)": lambda df: models.fixed_effects(df, priors="weak"),
    "report mixed (u ~ N(0,10))": models.report_mixed,
    "hierarchical non-centred": lambda df: models.hierarchical(df, centered=False),
    "hierarchical centred": lambda df: models.hierarchical(df, centered=True),
    "Bambi hierarchical": models.bambi_hierarchical,
}
DEFAULT_MODELS = ["fixed (weak priors)", "report mixed (u ~ N(0,10))", "hierarchical non-centred", "hierarchical centred"]


def measure(name: str, sampler: str, seed: int) -> dict:
    """Build, sample and time one model once; return wall time, min bulk ESS and divergences."""
    df = load_ciproxifan()
    start = time.perf_counter()
    idata = models.sample(BUILDERS[name](df), seed=seed, sampler=sampler, progressbar=False)
    wall = time.perf_counter() - start
    ess = float(az.ess(idata, method="bulk").to_array().min())
    return {"wall": wall, "ess": ess, "divergences": int(idata.sample_stats["diverging"].sum())}


def summarise(name: str, sampler: str, cold: dict, warm: list[dict]) -> dict:
    """One row of the results file; ESS per second only when no warm run diverged."""
    wall = statistics.median(r["wall"] for r in warm)
    ess = statistics.median(r["ess"] for r in warm)
    divergences = max(r["divergences"] for r in warm)
    rate = statistics.median(r["ess"] / r["wall"] for r in warm)
    return {
        "model": name, "sampler": sampler, "cold_s": round(cold["wall"], 2), "warm_s": round(wall, 2),
        "min_bulk_ess": round(ess), "divergences": divergences,
        "ess_per_s": None if divergences else round(rate, 1),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="warm runs per model and sampler")
    parser.add_argument("--models", nargs="*", default=DEFAULT_MODELS, choices=list(BUILDERS))
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file to write (default {RESULTS})")
    args = parser.parse_args(argv)
    # The samplers' INFO lines and tuning-phase RuntimeWarnings would drown the table; nothing here reads them.
    logging.getLogger("pymc").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    print(f"{'model':<28}{'sampler':<8}{'cold s':>8}{'warm s':>8}{'min ESS':>9}{'ESS/s':>8}{'div':>5}")
    load_before = os.getloadavg()[0]
    rows = []
    for name in args.models:
        for sampler in models.SAMPLERS:
            cold = measure(name, sampler, seed=0)
            warm = [measure(name, sampler, seed=1 + i) for i in range(args.repeat)]
            row = summarise(name, sampler, cold, warm)
            rows.append(row)
            rate = "-" if row["ess_per_s"] is None else f"{row['ess_per_s']:.0f}"
            print(f"{name:<28}{sampler:<8}{row['cold_s']:8.1f}{row['warm_s']:8.1f}{row['min_bulk_ess']:9d}"
                  f"{rate:>8}{row['divergences']:5d}", flush=True)
    result = {
        "measured": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],  # 1-min load before and after: others' jobs slow every run
        "settings": {"draws": 1000, "tune": 1000, "chains": 4, "cores": 1, "warm_runs": args.repeat},
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
