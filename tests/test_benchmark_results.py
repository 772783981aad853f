"""The sampler benchmark's results file, which lesson 5 reads instead of typed-in numbers."""

import importlib.util
import json
from pathlib import Path

import pytest

from lmmteach import models

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "samplers.json"


@pytest.fixture(scope="module")
def samplers_script():
    spec = importlib.util.spec_from_file_location("bench_samplers", ROOT / "benchmarks" / "samplers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_file_is_where_the_script_writes_it(samplers_script):
    assert samplers_script.RESULTS == RESULTS
    assert RESULTS.exists(), "run benchmarks/samplers.py and commit benchmarks/results/samplers.json"


def test_results_cover_both_samplers_for_every_model():
    runs = json.loads(RESULTS.read_text())["runs"]
    by_model = {}
    for run in runs:
        by_model.setdefault(run["model"], set()).add(run["sampler"])
    assert by_model and all(samplers == set(models.SAMPLERS) for samplers in by_model.values())


def test_a_run_that_diverged_has_no_rate():
    for run in json.loads(RESULTS.read_text())["runs"]:
        assert (run["ess_per_s"] is None) == (run["divergences"] > 0), run
        assert run["warm_s"] > 0 and run["min_bulk_ess"] > 0


def test_summarise_drops_the_rate_when_any_warm_run_diverged(samplers_script):
    cold = {"wall": 5.0, "ess": 900.0, "divergences": 0}
    clean = [{"wall": 2.0, "ess": 1000.0, "divergences": 0}, {"wall": 4.0, "ess": 1000.0, "divergences": 0}]
    row = samplers_script.summarise("m", "nutpie", cold, clean)
    assert row["ess_per_s"] == pytest.approx(375.0)  # median of 500 and 250
    assert row["warm_s"] == pytest.approx(3.0) and row["divergences"] == 0
    diverged = clean[:1] + [{"wall": 4.0, "ess": 1000.0, "divergences": 3}]
    row = samplers_script.summarise("m", "pymc", cold, diverged)
    assert row["ess_per_s"] is None and row["divergences"] == 3
