"""The instructor grader, run for real on the submission notebooks in tests/grader_cases/.

Three grading runs: a class of ex01 submissions with every attack we know of
(one run, ``--set ex01``, a roster), the solution and the untouched exercise of
every set (marks are right), and a re-grade of one student through the command
line. Each attack notebook would score marks if it worked (it answers from a
leaked reference or secret, or forges a verdict); it must score 0 and leave
every other row, and every file outside its scratch folder, as it was.

The attacks need the strong isolation (root, ``unshare``): without it some of
them (deleting everything reachable) would be dangerous, so the module is
skipped.
"""

import csv
import glob
import hashlib
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from lmmteach.exercises import SETS
from lmmteach.tools import grade
from lmmteach.tools.make_exercises import set_stamp

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).parent / "grader_cases"
TIMEOUT = 20  # seconds per notebook: the looping case costs this
NETWORK_PORT = 47123  # tests/grader_cases/network.ipynb tries to connect here
SECRET = "lmmteach-test-secret"
ATTACKS = ["monkeypatched", "read_reference", "forged", "package_edit", "planted_bytecode", "daemon", "kills_parent",
           "env_secrets"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"),
                                reason="the attack cases need the grader's strong isolation (root and unshare)")


def _digest(folders) -> dict:
    out = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _daemons() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"lmmteach-test-daemon" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _table(path: Path) -> dict:
    with open(path, newline="") as fh:
        return {(r["id"], r["file"]): r for r in csv.DictReader(fh)}


def _stamped_solution(set_name: str, dest: Path) -> None:
    name = SETS[set_name][0]
    nb = nbformat.read(ROOT / "solutions" / name, as_version=4)
    nb.metadata["lmmteach"] = set_stamp(nb, name)
    nbformat.write(nb, dest)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    subs = tmp / "class"
    shutil.copytree(CASES, subs, ignore=shutil.ignore_patterns("conftest.py", "__pycache__"))
    (subs / "notes.py").write_text("beta = 1\n")
    (subs / "report.PDF").write_bytes(b"%PDF-1.4\n")
    shutil.copy(CASES / "good.ipynb", subs / "upper.IPYNB")
    (subs / ".ipynb_checkpoints").mkdir()
    shutil.copy(CASES / "good.ipynb", subs / ".ipynb_checkpoints" / "good-checkpoint.ipynb")
    (subs / "dave" / "ex01").mkdir(parents=True)
    shutil.copy(CASES / "good.ipynb", subs / "dave" / "ex01" / "work.ipynb")
    with zipfile.ZipFile(subs / "late.zip", "w") as archive:
        archive.write(CASES / "good.ipynb", "erin/ex01.ipynb")
    shutil.copy(ROOT / "exercises" / SETS["ex05"][0], subs / "wrong_set.ipynb")
    _stamped_solution("ex01", subs / "solution.ipynb")
    roster = tmp / "roster.csv"
    roster.write_text("id,name\ngood,G\ndave,D\nerin,E\nzoe,Z (submitted nothing)\n")
    out = tmp / "grades.csv"
    scratch = Path("/var/lib/lmmteach-grade") / f"test-{os.getpid()}"
    guarded = [ROOT / "lmmteach", ROOT / "solutions", ROOT / "exercises", ROOT / "datasets", CASES]
    before = _digest(guarded)
    os.environ["LMMTEACH_TEST_SECRET"] = SECRET
    listener, received = _listen(NETWORK_PORT)
    try:
        rows = grade.grade(subs, out, timeout=TIMEOUT, jobs=2, set_name="ex01", roster=roster, scratch=scratch,
                           hide=_other_course_copies())
    finally:
        os.environ.pop("LMMTEACH_TEST_SECRET", None)
        listener.close()
    daemons = _daemons()
    for pid in daemons:  # leave the machine clean even when the test fails
        os.kill(pid, 9)
    return {"rows": rows, "table": _table(out), "out": out, "tmp": tmp, "changed": before != _digest(guarded),
            "daemons": daemons, "subs": subs, "scratch_left": scratch.exists(), "connections": received}


def _listen(port: int):
    """A TCP server on this machine's loopback that records every connection (the network case must reach none)."""
    listener = socket.create_server(("127.0.0.1", port))
    received = []

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed
            received.append(conn.recv(100))
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener, received


def _other_course_copies() -> list[Path]:
    """Other checkouts of the course on this machine (a developer's working copies): an instructor hides them with
    --hide, as the README says; the read_reference attack searches the same places for them."""
    copies = set()
    for root in ("/work", "/root", "/home", "/srv", "/opt"):
        for found in glob.glob(root + "/*/lmmteach/exercises/_reference.py") + glob.glob(root + "/*/*/lmmteach/exercises/_reference.py"):
            checkout = Path(found).parents[2]
            if checkout.resolve() != ROOT.resolve():
                copies.add(checkout)
    return sorted(copies)


def _row(graded, student, file=None):
    matches = [r for (sid, f), r in graded["table"].items() if sid == student and (file is None or f == file)]
    assert len(matches) == 1, (student, file, list(graded["table"]))
    return matches[0]


def test_every_file_gets_a_row_or_a_reason(graded):
    table = graded["table"]
    files = {f for _, f in table}
    for case in CASES.glob("*.ipynb"):
        assert case.name in files
    for name in ("notes.py", "report.PDF", ".ipynb_checkpoints/good-checkpoint.ipynb"):
        row = next(r for (_, f), r in table.items() if f == name)
        assert row["points"] == "0" and ("not a notebook" in row["errors"] or "checkpoint" in row["errors"])
    assert _row(graded, "upper")["points"] == "1"  # upper-case extension: still a notebook
    for r in table.values():
        assert r["max"] in ("7", "0") and r["percent"] != ""


def test_nested_folders_zip_and_roster(graded):
    assert _row(graded, "dave")["file"] == "dave/ex01/work.ipynb" and _row(graded, "dave")["points"] == "1"
    assert _row(graded, "erin")["file"] == "late.zip:erin/ex01.ipynb" and _row(graded, "erin")["points"] == "1"
    zoe = _row(graded, "zoe")
    assert zoe["points"] == "0" and zoe["max"] == "7" and "no submission" in zoe["errors"]
    assert "not on the roster" in _row(graded, "monkeypatched")["errors"]


def test_answers_are_judged_by_the_grader(graded):
    good = _row(graded, "good", "good.ipynb")
    assert good["ex01.q7"] == "1" and good["ex01.q3"] == "0" and good["points"] == "1"
    assert good["percent"] == f"{100 / 7:.1f}" and good["errors"] == ""
    assert _row(graded, "solution")["points"] == "7"
    assert _row(graded, "no_stamp")["points"] == "1"  # no stamp: graded as --set says


def test_another_set_is_an_error_row(graded):
    row = _row(graded, "wrong_set")
    assert row["points"] == "0" and row["max"] == "7" and "exercise set ex05, not ex01" in row["errors"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_every_attack_scores_zero(graded, attack):
    row = _row(graded, attack)
    assert row["points"] == "0", row
    assert row["max"] == "7"


def test_attacks_change_nothing_outside_their_scratch(graded):
    assert not graded["changed"], "a submission changed the package, the solutions, the data or the cases"
    assert graded["daemons"] == [], "a submission's daemon outlived its grading"
    assert not graded["scratch_left"], "scratch folders left behind"


def test_the_kernel_has_no_network(graded):
    row = _row(graded, "network")
    assert row["ex01.q7"] == "1", row  # the notebook ran
    assert "OSError" in row["errors"] or "Network is unreachable" in row["errors"], row["errors"]
    assert graded["connections"] == [], "a submission reached a server on the grading machine"


def test_faults_cost_only_their_own_row(graded):
    assert _row(graded, "raises")["ex01.q7"] == "1"
    assert "RuntimeError" in _row(graded, "raises")["errors"] and "NameError" in _row(graded, "raises")["errors"]
    assert _row(graded, "loops")["ex01.q7"] == "1" and "timeout" in _row(graded, "loops")["errors"]
    assert _row(graded, "crashes")["ex01.q7"] == "1" and "kernel died" in _row(graded, "crashes")["errors"]
    assert _row(graded, "deletes_everything")["ex01.q7"] == "1"
    flood = _row(graded, "memory_flood")
    assert flood["ex01.q7"] == "1" and "MemoryError" in flood["errors"]
    output = _row(graded, "output_flood")
    assert output["ex01.q7"] == "1" and "output over" in output["errors"]
    assert "not a valid notebook" in _row(graded, "not_json")["errors"]


def test_feedback_and_lms_files(graded):
    out, tmp = graded["out"], graded["tmp"]
    feedback = (tmp / "grades_feedback" / "good.md").read_text()
    assert "| q3 | 0 / 1 | known_mistake:" in feedback and "| q7 | 1 / 1 |" in feedback
    with open(tmp / "grades_lms.csv", newline="") as fh:
        lms = {r["id"]: r for r in csv.DictReader(fh)}
    assert lms["solution"] == {"id": "solution", "points": "7", "max": "7", "percent": "100.0"}
    assert lms["zoe"]["points"] == "0"


def test_regrading_one_student_updates_the_gradebook(graded, tmp_path):
    before = _table(graded["out"])
    subs = tmp_path / "regrade"
    (subs / "good").mkdir(parents=True)
    _stamped_solution("ex01", subs / "good" / "good.ipynb")
    proc = subprocess.run([sys.executable, "-m", "lmmteach.tools.grade", str(subs), "--out", str(graded["out"]),
                           "--timeout", "60", "--set", "ex01"], capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr
    after = _table(graded["out"])
    assert after[("good", "good/good.ipynb")]["points"] == "7"
    assert ("good", "good.ipynb") not in after  # the student's old row is replaced
    others = {k: v for k, v in before.items() if k[0] != "good"}
    assert {k: v for k, v in after.items() if k[0] != "good"} == others
    assert "[1/1] good" in proc.stderr


def test_each_sets_solution_scores_full_marks_and_the_exercise_zero(tmp_path):
    subs = tmp_path / "sets"
    subs.mkdir()
    for set_name, (name, _) in SETS.items():
        _stamped_solution(set_name, subs / f"solution_{set_name}.ipynb")
        shutil.copy(ROOT / "exercises" / name, subs / f"untouched_{set_name}.ipynb")
    rows = {r.student: r for r in grade.grade(subs, tmp_path / "sets.csv", timeout=600, jobs=2)}
    for set_name in SETS:
        solution, untouched = rows[f"solution_{set_name}"], rows[f"untouched_{set_name}"]
        assert solution.set_name == set_name and solution.total == solution.max_points > 0, solution
        assert untouched.total == 0 and untouched.max_points == solution.max_points


def test_bad_options_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown exercise set"):
        grade.grade(tmp_path, tmp_path / "g.csv", set_name="ex99")
    (tmp_path / "roster.csv").write_text("")
    with pytest.raises(ValueError, match="roster is empty"):
        grade.read_roster(tmp_path / "roster.csv")


def test_release_has_no_answers_and_checks_form_only(tmp_path):
    from lmmteach.tools.release import build_package

    release = build_package(tmp_path / "release")
    exercises = release / "lmmteach" / "exercises"
    assert not (exercises / "_reference.py").exists()
    text = "\n".join(p.read_text() for p in exercises.glob("ex0*.py"))
    for secret in ("solution=", "Mistake(", "feedback=", "ols_beta", "_reference", ".expected(", "answer="):
        assert secret not in text, secret
    from lmmteach.exercises import SETS

    for set_name in SETS:  # a set's private module constants (tolerances such as ex04.ELPD_TOL) stay private
        module = importlib.import_module(f"lmmteach.exercises.{set_name}")
        public = (exercises / f"{set_name}.py").read_text()
        for name in vars(module):
            if name.isupper() and name.endswith("_TOL"):
                assert f"{name} =" not in public, (set_name, name)
    from lmmteach.exercises import ex01

    for q in (ex01.q3, ex01.q4, ex01.q5):  # no reference value, in any common rounding
        for value in np.ravel(q.expected()):
            assert f"{value:.3f}"[:-1] not in text, (q.name, value)
    proc = subprocess.run([sys.executable, "-c",
                           "from lmmteach.exercises import ex01 as ex\n"
                           "print(ex.q1.check([1.0, 2.0, 3.0, 4.0], quiet=True).status)\n"
                           "print(ex.q1.check([1.0, 2.0], quiet=True).status)\n"
                           "print(ex.q7.check('z', quiet=True).status)\n"
                           "print(hasattr(ex.q7, 'answer'), ex.q1.check(..., quiet=True).status)"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(release),
                               "LMMTEACH_DATA_DIR": str(release / "datasets")})
    assert proc.stdout.split() == ["recorded", "wrong_type", "wrong_type", "False", "not_attempted"], proc.stderr


def test_validate_lists_what_the_grader_will_read(capsys):
    from lmmteach.tools import validate

    assert validate.main([str(CASES / "good.ipynb"), "--timeout", "60"]) == 1  # answers are missing
    out = capsys.readouterr().out
    assert "q3: a list of 2 item(s)" in out and "q7: str 'b'" in out
    assert "q1: MISSING: NameError" in out and "2 of 7 answers will be read" in out


def test_answer_data_round_trip_and_judging_without_a_kernel():
    """What the kernel sends is plain data; the judge decodes it without running code and uses the set's check."""
    import numpy as np

    from lmmteach.exercises import ex01
    from lmmteach.exercises.protocol import from_data, to_data
    from lmmteach.tools.judge import judge

    data = json.loads(json.dumps(to_data((1, np.array([[1.5, np.nan], [np.inf, 2]]), "b", None))))
    number, array, letter, missing = from_data(data)
    assert number == 1.0 and letter == "b" and missing is None
    assert array.shape == (2, 2) and np.isnan(array[0, 1]) and np.isinf(array[1, 0])
    assert judge(ex01.q7, {"answer": to_data("b")}) == ("correct", "")
    assert judge(ex01.q1, {"answer": to_data(ex01.q1.expected())})[0] == "correct"
    assert judge(ex01.q1, {"answer": {"t": "verdict", "status": "correct"}})[0] == "wrong_type"
    assert judge(ex01.q1, {"answer": {"t": "array", "shape": [4], "values": "garbage"}})[0] == "incorrect"
    assert judge(ex01.q3, None)[0] == "not_attempted"
    cases = ex01.q6.cases()
    right = [to_data(np.sum(np.linalg.qr(X)[0] ** 2, axis=1)) for (X,) in cases]
    assert judge(ex01.q6, {"outputs": right})[0] == "correct"
    assert judge(ex01.q6, {"outputs": [{"t": "error", "value": "ValueError: no"}] * len(cases)})[0] == "incorrect"
