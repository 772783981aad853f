"""Effective samples per second: PyMC's NUTS against nutpie on the course's models.

    .venv/bin/python benchmarks/samplers.py            # all models, both samplers
    .venv/bin/python benchmarks/samplers.py --repeat 3

Each model is sampled as the lessons sample it (``lmmteach.models.sample``:
4 chains of 1000 draws after 1000 tuning steps, one core / one thread, since
two notebooks share the course's two cores under test). A first run warms the
compile caches (PyTensor for both samplers, numba for nutpie) and is reported
as "cold"; the next runs are timed warm. Wall time includes compiling the
model's functions, which is what a student waits for. ESS is the smallest bulk
ESS over all parameters, so ESS/s is the rate of the slowest-mixing parameter.

Measured on the course machine (2 cores, otherwise idle), 21 Nov 2026,
``--repeat 1``, copied into lesson 5:

    model                       sampler   cold s  warm s  min ESS   ESS/s  div
    fixed (weak priors)         nutpie       5.0     2.2     1303     580    0
    fixed (weak priors)         pymc         4.0     3.8     1266     332    0
    report mixed (u ~ N(0,10))  nutpie       3.0     3.0      704     234    0
    report mixed (u ~ N(0,10))  pymc        11.8    10.0     1368     137    0
    hierarchical non-centred    nutpie       3.2     3.2      922     284    0
    hierarchical non-centred    pymc         7.4    11.1      147      13   83

The course uses nutpie (``lmmteach.models.DEFAULT_SAMPLER``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import arviz as az

from lmmteach import models
from lmmteach.data import load_ciproxifan

BUILDERS = {
    "fixed (weak priors)": lambda df: models.fixed_effects(df, priors="weak"),
    "report mixed (u ~ N(0,10))": models.report_mixed,
    "hierarchical non-centred": lambda df: models.hierarchical(df, centered=False),
    "hierarchical centred": lambda df: models.hierarchical(df, centered=True),
    "Bambi hierarchical": models.bambi_hierarchical,
}


def measure(name: str, sampler: str, seed: int) -> dict:
    """Build, sample and time one model once; return wall time, min bulk ESS, ESS/s."""
    df = load_ciproxifan()
    start = time.perf_counter()
    idata = models.sample(BUILDERS[name](df), seed=seed, sampler=sampler, progressbar=False)
    wall = time.perf_counter() - start
    ess = float(az.ess(idata, method="bulk").to_array().min())
    return {"wall": wall, "ess": ess, "ess_per_s": ess / wall, "div": int(idata.sample_stats["diverging"].sum())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="warm runs per model and sampler")
    parser.add_argument("--models", nargs="*", default=list(BUILDERS))
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    print(f"{'model':<28}{'sampler':<8}{'cold s':>8}{'warm s':>8}{'min ESS':>9}{'ESS/s':>8}{'div':>5}")
    for name in args.models:
        for sampler in models.SAMPLERS:
            cold = measure(name, sampler, seed=0)
            warm = [measure(name, sampler, seed=1 + i) for i in range(args.repeat)]
            wall = statistics.median(r["wall"] for r in warm)
            ess = statistics.median(r["ess"] for r in warm)
            rate = statistics.median(r["ess_per_s"] for r in warm)
            div = max(r["div"] for r in warm)
            print(f"{name:<28}{sampler:<8}{cold['wall']:8.1f}{wall:8.1f}{ess:9.0f}{rate:8.0f}{div:5d}", flush=True)


if __name__ == "__main__":
    main()
