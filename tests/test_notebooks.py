"""Notebook hygiene: what nbval relies on and what the course promises every notebook has.

nbval itself (run by `make test` with --nbval) re-executes every notebook and
compares outputs; these checks catch what it cannot: cells saved out of order,
stored errors, a missing versions cell, a sampler call without a seed.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "lessons").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))


def code_cells(path):
    nb = json.loads(path.read_text())
    return nb, [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_lessons():
    assert (ROOT / "lessons" / "00_course_map.ipynb").exists()


def test_lesson_names_are_numbered():
    for path in (ROOT / "lessons").glob("*.ipynb"):
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_executed_top_to_bottom_without_errors(path):
    nb, cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "re-run it with `make execute NOTEBOOKS=...`"
    errors = [o for c in cells for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"stored error output: {errors[0].get('ename')}"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_ends_with_the_versions_cell(path):
    _, cells = code_cells(path)
    last = "".join(cells[-1]["source"])
    assert "lmmteach.versions" in last and "show()" in last


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_samplers_are_seeded_and_quiet(path):
    """Every sampler call is seeded; a direct pm.sample/.fit says how it decides on a progress bar.

    ``models.sample`` asks ``lmmteach.progress`` itself, so it needs no progressbar argument.
    """
    _, cells = code_cells(path)
    for cell in cells:
        src = "".join(cell["source"])
        for call in re.finditer(r"\b(pm\.sample|\.fit|models\.sample)\(", src):
            if src[: call.start()].rstrip().endswith("def"):
                continue
            args = src[call.end(): call.end() + 400]
            if call.group(1) == ".fit" and "draws" not in args:
                continue
            assert "random_seed" in args or "seed" in args, f"unseeded sampler call: {src[call.start():][:80]}"
            if call.group(1) != "models.sample" and "**ex.SAMPLING" not in args:  # SAMPLING: test below
                assert re.search(r"progressbar=(False|progress\.enabled\(\))", args), \
                    f"sampler call without progressbar=False or progress.enabled(): {src[call.start():][:80]}"


def _sampling_in_fresh_process(env_setting, public=False):
    """ex03.SAMPLING (or the student release's) as imported by a new Python with LMMTEACH_PROGRESS set as given."""
    import os
    import subprocess
    import sys

    from lmmteach import progress

    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_CURRENT_TEST", progress.ENV_VAR)}
    if env_setting is not None:
        env[progress.ENV_VAR] = env_setting
    code = ("from lmmteach.tools.release import public_module; ns = {}; exec(public_module('ex03'), ns); "
            "S = ns['SAMPLING']") if public else "from lmmteach.exercises.ex03 import SAMPLING as S"
    out = subprocess.run([sys.executable, "-c", f"import json; {code}; print(json.dumps(S))"], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_exercise_sampling_prescription_shows_progress_only_to_a_person():
    """**ex.SAMPLING draws a bar by hand, none under tests, make execute or the grader; the prescription is the same."""
    from lmmteach.exercises import _reference
    from lmmteach.tools.grade_worker import _kernel_env

    assert _reference.SAMPLING["progressbar"] is False  # this test session: nbval compares outputs
    by_hand, quiet = _sampling_in_fresh_process(None), _sampling_in_fresh_process("0")
    assert by_hand["progressbar"] is True and quiet["progressbar"] is False
    assert {k: v for k, v in by_hand.items() if k != "progressbar"} == \
        {k: v for k, v in _reference.SAMPLING.items() if k != "progressbar"}
    public_by_hand, public_quiet = _sampling_in_fresh_process(None, True), _sampling_in_fresh_process("0", True)
    assert public_by_hand == by_hand and public_quiet == quiet  # the release decides where it runs, not when built
    assert _kernel_env(ROOT, ROOT, ROOT)["LMMTEACH_PROGRESS"] == "0"  # the grader's kernels


# stderr a lesson may store, because its prose discusses that very message:
# {notebook name: [a substring of the allowed stderr text, ...]}. Each entry needs a comment saying why.
STDERR_ALLOWED: dict[str, list[str]] = {
    # Exercise set 4: the comparison cell prints ArviZ's Pareto-k warning on purpose; the markdown beside it
    # says so, and question 6 asks what to do about it.
    "04_bayesian_lmm_loo.ipynb": ["Estimated shape parameter of Pareto distribution is greater than 0.70"],
}


def stderr_outputs(path):
    _, cells = code_cells(path)
    return [(i, "".join(o["text"])) for i, c in enumerate(cells, 1) for o in c["outputs"]
            if o["output_type"] == "stream" and o["name"] == "stderr"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_stored_warnings_or_log_noise(path):
    """Stored stderr (warnings, sampler logs) only where the allow-list names it and the lesson discusses it."""
    allowed = STDERR_ALLOWED.get(path.name, [])
    noise = [(i, text) for i, text in stderr_outputs(path) if not any(a in text for a in allowed)]
    assert not noise, (f"{len(noise)} stderr output(s) stored, first in code cell {noise[0][0]}: "
                       f"{noise[0][1][:200]!r}; remove the cause or add a commented entry to STDERR_ALLOWED")
