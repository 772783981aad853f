"""Grade submitted exercise notebooks: one fresh kernel each, one CSV row each.

    python -m lmmteach.tools.grade SUBMISSIONS_DIR --out grades.csv [--timeout 300]
    lmmteach-grade SUBMISSIONS_DIR --out grades.csv      # the same, as installed by pip

For each ``*.ipynb`` in SUBMISSIONS_DIR the grader runs the notebook top to
bottom in its own kernel process (this environment's Python), in a fresh
temporary working directory, with a wall-time budget for the whole notebook.
A cell that raises does not stop the run (later questions still count). Each
``ex.qN.check(...)`` call in the kernel appends a signed line to a results
file the grader names through an environment variable (see
:mod:`lmmteach.exercises.protocol`); a question earns its points when its last
check was correct and ``solution()`` was not called for it. Unsigned or
forged lines are ignored.

Faults cost only the affected student: an infinite loop is stopped at the
timeout (questions checked before it still count), a kernel crash keeps the
results written before it, a file that is not a notebook scores zero. All
submissions are read into memory before any runs, the CSV is written by the
grader at the end, and files the grader depends on (the ``lmmteach`` package
and the data sets) are snapshotted and restored if a notebook changes them --
that student's row then scores zero and says why. The CSV always has one row
per submission.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import re
import secrets
import subprocess
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from lmmteach.exercises.protocol import RESULTS_VAR, TOKEN_VAR, sign
from lmmteach.tools.notebooks import KERNELSPEC, CurrentEnvKernelManager

__all__ = ["Row", "grade", "grade_one", "main", "write_csv"]

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the lmmteach package
DEFAULT_PROTECTED = [PACKAGE_DIR, PACKAGE_DIR.parent / "datasets"]
SET_PATTERN = re.compile(r"lmmteach\.exercises(?:\.|\s+import\s+)(ex\d\d)\b")


@dataclass
class Row:
    """One submission's line of the CSV: points per question, and what went wrong."""

    file: str
    sets: list[str] = field(default_factory=list)
    points: dict[str, float] = field(default_factory=dict)
    max_points: float = 0.0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.points.values())


def _questions(set_name: str) -> dict[str, float]:
    module = importlib.import_module(f"lmmteach.exercises.{set_name}")
    return {q.qid: q.points for q in module.QUESTIONS}


def _snapshot(paths) -> dict[Path, bytes]:
    files = {}
    for root in paths:
        root = Path(root)
        candidates = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            if "__pycache__" in path.parts:
                continue
            try:
                files[path] = path.read_bytes()
            except OSError:
                pass
    return files


def _restore(snapshot: dict[Path, bytes], paths) -> list[str]:
    """Put back every protected file a notebook changed or deleted; name them."""
    changed = []
    for path, data in snapshot.items():
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if not same:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(str(path))
    now = _snapshot(paths)
    for path in set(now) - set(snapshot):  # files a notebook added to the package
        path.unlink(missing_ok=True)
        changed.append(str(path))
    return sorted(changed)


def _read_results(path: Path, key: bytes) -> tuple[dict, set, int]:
    """Last signed check per question, the questions whose solution was viewed, and the forged-line count."""
    last, viewed, bad = {}, set(), 0
    if not path.exists():
        return last, viewed, bad
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            ok = isinstance(entry, dict) and secrets.compare_digest(str(entry.get("sig", "")), sign(entry, key))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            bad += 1
        elif entry.get("event") == "solution":
            viewed.add(entry["question"])
        elif entry.get("event") == "check":
            last[entry["question"]] = entry
    return last, viewed, bad


def _cell_errors(nb) -> list[str]:
    errors = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"code cell {number} raised {out.get('ename')}: {str(out.get('evalue'))[:80]}")
    return errors


def grade_one(name: str, text: str, timeout: float, protected=DEFAULT_PROTECTED) -> Row:
    """Run one submission (its file contents in ``text``) and score it."""
    row = Row(name)
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as err:
        row.errors.append(f"not a valid notebook ({type(err).__name__})")
        return row
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    row.sets = sorted(set(SET_PATTERN.findall(source)))
    expected = {}
    for set_name in row.sets:
        try:
            expected.update(_questions(set_name))
        except ImportError:
            row.errors.append(f"unknown exercise set {set_name}")
    row.points = {qid: 0.0 for qid in expected}
    row.max_points = sum(expected.values())
    if not expected:
        row.errors.append("no exercise set imported (from lmmteach.exercises import exNN)")

    nb.metadata["kernelspec"] = KERNELSPEC
    key = secrets.token_hex(32)
    snapshot = _snapshot(protected)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lmmteach-grade-") as tmp:
        work, results = Path(tmp) / "work", Path(tmp) / "results" / f"{secrets.token_hex(8)}.jsonl"
        work.mkdir()
        results.parent.mkdir()
        env = dict(os.environ, **{RESULTS_VAR: str(results), TOKEN_VAR: key}, MPLBACKEND="Agg")
        deadline = time.monotonic() + timeout
        client = NotebookClient(
            nb, kernel_manager_class=CurrentEnvKernelManager, kernel_name="python3",
            timeout=int(timeout), timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
            allow_errors=True, record_timing=False, startup_timeout=60,
            resources={"metadata": {"path": str(work)}},
        )
        try:
            client.execute(env=env, stderr=subprocess.DEVNULL)  # the kernel process's own log lines
        except CellTimeoutError:
            row.errors.append(f"timeout: stopped after {timeout:g} s (questions checked before it still count)")
        except DeadKernelError:
            row.errors.append("the kernel died (questions checked before it still count)")
        except Exception as err:
            row.errors.append(f"execution failed: {type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else ''}")
        row.errors.extend(_cell_errors(nb))
        last, viewed, bad = _read_results(results, key.encode())
    row.seconds = time.perf_counter() - start

    for qid in row.points:
        entry = last.get(qid)
        if entry and entry.get("status") == "correct":
            row.points[qid] = float(expected[qid]) if qid not in viewed else 0.0
    for qid in sorted(viewed & set(row.points)):
        row.errors.append(f"{qid}: solution() viewed, no points")
    if bad:
        row.errors.append(f"ignored {bad} unsigned or invalid result line(s)")
    changed = _restore(snapshot, protected)
    if changed:
        row.points = {qid: 0.0 for qid in row.points}
        row.errors.append(f"modified the grader's files (restored, score set to 0): {', '.join(changed)[:200]}")
    return row


def write_csv(rows: list[Row], out: Path) -> list[str]:
    qids = []
    for row in rows:
        qids.extend(q for q in row.points if q not in qids)
    header = ["file", "sets", *qids, "total", "max", "errors"]
    tmp = Path(out).with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.file, " ".join(row.sets),
                             *[f"{row.points[q]:g}" if q in row.points else "" for q in qids],
                             f"{row.total:g}", f"{row.max_points:g}", "; ".join(row.errors)])
    os.replace(tmp, out)
    return header


def grade(submissions: Path, out: Path, timeout: float = 300, protected=None, stream=sys.stderr) -> list[Row]:
    """Grade every ``*.ipynb`` in ``submissions``; write ``out``; return the rows."""
    paths = sorted(Path(submissions).glob("*.ipynb"))
    texts = {}
    for path in paths:  # read everything first: a submission cannot change another one
        try:
            texts[path.name] = path.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            texts[path.name] = f"unreadable: {err}"
    protected = list(DEFAULT_PROTECTED if protected is None else protected) + [Path(out).resolve().parent / Path(out).name]
    protected = [p for p in protected if Path(p).exists()]
    rows, start = [], time.perf_counter()
    for i, (name, text) in enumerate(texts.items(), 1):
        stream.write(f"\r[{i}/{len(texts)}] {'#' * (20 * (i - 1) // len(texts)):<20} grading {name[:40]:<40}")
        stream.flush()
        try:
            row = grade_one(name, text, timeout, protected)
        except Exception as err:  # never lose a row
            row = Row(name, errors=[f"grader error: {type(err).__name__}: {err}"])
        rows.append(row)
        write_csv(rows, out)  # the CSV is complete for what has run so far
    write_csv(rows, out)
    stream.write(f"\r[{len(texts)}/{len(texts)}] {'#' * 20} done{' ' * 45}\n")
    full = sum(1 for r in rows if r.max_points and r.total == r.max_points)
    with_errors = sum(1 for r in rows if r.errors)
    mean = sum(r.total for r in rows) / len(rows) if rows else 0.0
    stream.write(f"graded {len(rows)} notebook(s) in {time.perf_counter() - start:.0f} s: mean score {mean:.2f}, "
                 f"{full} full mark(s), {with_errors} with errors -> {out}\n")
    for row in rows:
        if row.errors:
            stream.write(f"  {row.file}: {row.errors[0]}\n")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Grade submitted exercise notebooks into a CSV file.")
    parser.add_argument("submissions", type=Path, help="folder of submitted .ipynb files")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV file to write")
    parser.add_argument("--timeout", type=float, default=300, help="wall-time budget per notebook, seconds")
    parser.add_argument("--protect", type=Path, action="append",
                        help="file or folder restored if a notebook changes it (default: the lmmteach package "
                             "and datasets/); repeatable")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    grade(args.submissions, args.out, args.timeout, protected=args.protect)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
