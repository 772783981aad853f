"""Benchmark: grading a class of 30 exercise-01 submissions with lmmteach-grade at -j 1 and -j 2.

    python benchmarks/grader.py                 # 30 submissions, -j 1 then -j 2
    python benchmarks/grader.py --jobs 2 --class-size 10

The class: a third full solutions, a third half-done notebooks (the exercise
with the multiple-choice answer filled in), a third untouched exercises -- all
of set ex01, each run to the end in its own sandboxed kernel. Reported: wall
time, seconds per submission and submissions per minute for each -j, and the
mean score (a check that grading did happen).

Measured (2 cores shared with other jobs, load average 13 during -j 1, falling
to about 3 during -j 2, so the speed-up is flattered): -j 1 1650 s (55 s per
submission, 1.1 per minute); -j 2 718 s (24 s each, 2.5 per minute); mean 38 %.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from lmmteach.exercises import SETS
from lmmteach.tools import grade
from lmmteach.tools.make_exercises import set_stamp

ROOT = Path(__file__).resolve().parents[1]


def make_class(folder: Path, size: int) -> None:
    name = SETS["ex01"][0]
    solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
    solution.metadata["lmmteach"] = set_stamp(solution, name)
    exercise = nbformat.read(ROOT / "exercises" / name, as_version=4)
    half = nbformat.from_dict(exercise)
    for cell in half.cells:
        if cell.cell_type == "code" and cell.source.startswith("answer_q7 = ..."):
            cell.source = cell.source.replace("answer_q7 = ...", 'answer_q7 = "b"', 1)
    for i in range(size):
        nbformat.write((solution, half, exercise)[i % 3], folder / f"student{i:02d}.ipynb")


def run(size: int, jobs: int, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="lmmteach-bench-") as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        make_class(folder, size)
        start = time.perf_counter()
        rows = grade.grade(folder, Path(tmp) / "grades.csv", timeout, jobs=jobs, set_name="ex01",
                           stream=open("/dev/null", "w"))
        seconds = time.perf_counter() - start
    mean = sum(r.percent for r in rows) / len(rows)
    print(f"-j {jobs}: {size} submissions in {seconds:6.1f} s = {seconds / size:5.1f} s each, "
          f"{60 * size / seconds:5.1f} per minute (mean score {mean:.0f} %)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class-size", type=int, default=30)
    parser.add_argument("--jobs", type=int, action="append", help="repeatable; default: 1 and 2")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    for jobs in args.jobs or [1, 2]:
        run(args.class_size, jobs, args.timeout)


if __name__ == "__main__":
    main()
