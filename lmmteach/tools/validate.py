"""A student's check before submitting: run the notebook as the grader will and say what it will read.

    lmmteach-validate NOTEBOOK [--timeout 600]
    python -m lmmteach.tools.validate NOTEBOOK

Runs the notebook top to bottom in a fresh kernel (the grader's own worker,
with a copy of the package this environment has), then asks the kernel for
each question's answer exactly as the grader does -- the variable named in the
question's ``check`` cell -- and lists what it found: a number, an array of
some shape, a letter, a function, a model, or MISSING (still ``...``, never
defined, or the notebook stopped before it). It also lists every cell that
raised. It gives no verdict: in the graded release the references are not on
the student's machine. Exit status 1 when an answer is missing or a cell raised.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import nbformat

__all__ = ["main", "validate"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def validate(path: Path, timeout: float = 600) -> dict:
    """The worker's description of the notebook at ``path``: ``answers`` (question -> words) and ``errors``."""
    from lmmteach.data import DATA_DIR
    from lmmteach.tools.grade import DEFAULT_LIMITS, _run_worker

    text = Path(path).read_text(encoding="utf-8")
    stamp = nbformat.reads(text, as_version=4).metadata.get("lmmteach")
    if not isinstance(stamp, dict) or "set" not in stamp or "answers" not in stamp:
        raise ValueError(f"{path}: no exercise set in the notebook's metadata (is it one of the course's exercises?)")
    with tempfile.TemporaryDirectory(prefix="lmmteach-validate-") as tmp:
        copy = Path(tmp) / "release"
        shutil.copytree(PACKAGE_DIR, copy / "lmmteach", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(DATA_DIR, copy / "datasets")
        job = {"text": text, "set": stamp["set"], "answers": stamp["answers"], "timeout": timeout,
               "limits": {**DEFAULT_LIMITS, "cpu": int(timeout) + 60}, "hide": [], "release": str(copy),
               "uid": None, "weak": True, "describe": True}  # the student's own machine and user
        return _run_worker(job, timeout + 240)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run an exercise notebook as the grader will; list what it reads.")
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--timeout", type=float, default=600, help="wall-time budget, seconds")
    args = parser.parse_args(argv)
    if not args.notebook.is_file():
        parser.error(f"{args.notebook} is not a file")
    try:
        result = validate(args.notebook, args.timeout)
    except (ValueError, json.JSONDecodeError) as err:
        parser.error(str(err))
    answers = result.get("answers", {})
    for name, words in answers.items():
        print(f"{name}: {words}")
    for error in result.get("errors", []):
        print(f"problem: {error}")
    missing = [n for n, w in answers.items() if w.startswith("MISSING")]
    print(f"{len(answers) - len(missing)} of {len(answers)} answers will be read by the grader"
          + (f"; missing: {', '.join(missing)}" if missing else ""))
    return 1 if missing or result.get("errors") or not answers else 0


if __name__ == "__main__":
    raise SystemExit(main())
