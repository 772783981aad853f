"""The instructor grader: every fault costs only its own submission, and the CSV is always complete.

One grading run over the small notebooks in tests/grader_cases/ (a good one, one
that viewed a solution, one that raises, loops forever, crashes its kernel, is
not JSON, and tampers with the results file and a protected file).
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lmmteach.tools import grade

CASES = Path(__file__).parent / "grader_cases"
TIMEOUT = 12  # seconds per notebook: the looping case costs exactly this


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    submissions = tmp / "submissions"
    shutil.copytree(CASES, submissions, ignore=shutil.ignore_patterns("conftest.py", "__pycache__"))
    protected = tmp / "protected"
    protected.mkdir()
    target = protected / "grade.py"
    target.write_text("original")
    out = tmp / "grades.csv"
    old = os.environ.get("LMMTEACH_TEST_TAMPER_TARGET")
    os.environ["LMMTEACH_TEST_TAMPER_TARGET"] = str(target)
    try:
        rows = grade.grade(submissions, out, timeout=TIMEOUT, protected=[protected])
    finally:
        if old is None:
            os.environ.pop("LMMTEACH_TEST_TAMPER_TARGET", None)
        else:
            os.environ["LMMTEACH_TEST_TAMPER_TARGET"] = old
    with open(out, newline="") as fh:
        table = {r["file"]: r for r in csv.DictReader(fh)}
    return {r.file: r for r in rows}, table, protected, submissions


def test_csv_has_one_complete_row_per_submission(graded):
    rows, table, _, submissions = graded
    assert set(table) == {p.name for p in submissions.glob("*.ipynb")} == set(rows)
    for name, r in table.items():
        if name != "not_json.ipynb":
            assert r["max"] == "7", name
            assert all(r[f"ex01.q{i}"] in ("0", "1") for i in range(1, 8)), name


def test_good_submission_scores_its_correct_answers(graded):
    rows, table, _, _ = graded
    assert table["good.ipynb"]["ex01.q7"] == "1"
    assert table["good.ipynb"]["ex01.q3"] == "0"  # the variance instead of the SD: a known mistake
    assert table["good.ipynb"]["total"] == "1"
    assert table["good.ipynb"]["errors"] == ""


def test_viewing_the_solution_scores_zero(graded):
    _, table, _, _ = graded
    assert table["peeked.ipynb"]["ex01.q7"] == "0"
    assert "solution() viewed" in table["peeked.ipynb"]["errors"]


def test_raising_cell_costs_only_that_cell(graded):
    _, table, _, _ = graded
    r = table["raises.ipynb"]
    assert r["ex01.q7"] == "1" and r["total"] == "1"
    assert "RuntimeError" in r["errors"] and "NameError" in r["errors"]


def test_infinite_loop_is_stopped_and_keeps_earlier_points(graded):
    rows, table, _, _ = graded
    assert table["loops.ipynb"]["ex01.q7"] == "1"
    assert "timeout" in table["loops.ipynb"]["errors"]
    assert rows["loops.ipynb"].seconds < TIMEOUT + 30


def test_kernel_crash_keeps_earlier_points(graded):
    _, table, _, _ = graded
    assert table["crashes.ipynb"]["ex01.q7"] == "1"
    assert "kernel died" in table["crashes.ipynb"]["errors"]


def test_invalid_json_scores_zero(graded):
    _, table, _, _ = graded
    assert table["not_json.ipynb"]["total"] == "0"
    assert "not a valid notebook" in table["not_json.ipynb"]["errors"]


def test_forged_results_and_edited_files_are_caught_and_restored(graded):
    _, table, protected, _ = graded
    r = table["tampers.ipynb"]
    assert r["total"] == "0"
    assert "ignored 8 unsigned or invalid result line(s)" in r["errors"]
    assert "modified the grader's files" in r["errors"]
    assert (protected / "grade.py").read_text() == "original"
    assert not (protected / "planted.py").exists()


def test_command_line_writes_csv_and_summary(tmp_path):
    submissions = tmp_path / "subs"
    submissions.mkdir()
    shutil.copy(CASES / "good.ipynb", submissions / "alice.ipynb")
    shutil.copy(CASES / "not_json.ipynb", submissions / "bob.ipynb")
    out = tmp_path / "grades.csv"
    (tmp_path / "guarded").mkdir()
    proc = subprocess.run([sys.executable, "-m", "lmmteach.tools.grade", str(submissions), "--out", str(out),
                           "--timeout", "60", "--protect", str(tmp_path / "guarded")],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "[2/2]" in proc.stderr and "graded 2 notebook(s)" in proc.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("file,sets,ex01.q1,") and lines[0].endswith(",total,max,errors")
    assert len(lines) == 3
