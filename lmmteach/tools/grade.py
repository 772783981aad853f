"""Grade a class's exercise notebooks: isolated, judged by the grader, in parallel, one row per file.

    lmmteach-grade SUBMISSIONS --out grades.csv [--timeout 300] [-j N] [--set ex01]
                   [--roster students.csv] [--feedback DIR] [--lms lms.csv] [--memory 4096]
    python -m lmmteach.tools.grade ...          # the same

SUBMISSIONS is a folder (searched recursively) or a ``.zip``; a notebook's
student id is its first folder below SUBMISSIONS (``alice/ex01.ipynb``) or,
at the top level, its file name (``alice.ipynb``). Every file gets a row: a
notebook its marks, anything else (``.py``, ``.pdf``, a checkpoint copy) a row
that says why it was not graded. With ``--roster`` (a CSV whose first column,
or column ``id``, lists the students) a student without a submission gets a
row too.

Which set, and out of how much, comes from the grader, not from the notebook's
code: ``--set``, or else the set stamped into the notebook's metadata by
:mod:`lmmteach.tools.make_exercises`; a notebook stamped for another set than
``--set`` is an error row scored out of ``--set``'s maximum. Points per
question come from the set's definition; every row has ``points``, ``max`` and
``percent``.

Marks never come from the student's kernel. Each submission is graded by its
own worker process (:mod:`lmmteach.tools.grade_worker`): the notebook runs in
a sandboxed kernel (:mod:`lmmteach.tools.sandbox`) that holds only the
student release of the package (no solutions, no reference values); the worker
then asks that kernel for the answers as plain data and judges them against
the full set in its own process. What a kernel prints, records, patches or
forges is worth nothing; reading the package's references is impossible
because the kernel does not have them.

Isolation, as root (the strong mode, used when ``unshare`` is available): a
PID namespace (no process of a submission outlives its grading), a network
namespace with no interface up (the kernel talks to the grader over Unix
sockets in its work folder, so it reaches no network at all), a mount
namespace hiding the course checkout, its git folder, the submissions, the
grader's output folder and the instructor's home, private ``/tmp``, a user id
per submission, a minimal environment, a fresh read-only copy of the package
(so no bytecode or edit reaches another run), and limits on memory, CPU time,
processes/threads, file size and output. Not protected: other readable
copies of the course elsewhere on the machine (hide them with ``--hide``); a
grader run as an ordinary user gets the limits and a
session kill only (each row then says "weak isolation").

Faults cost only their own row: a worker the submission kills, a timeout, a
crash, a flood. The gradebook is rewritten (atomically) after every row, and
re-grading merges into it: rows of other students are kept, a re-graded
student's rows are replaced. One Markdown feedback file per student goes to
``--feedback`` and an LMS CSV (id, points, max, percent) to ``--lms``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from lmmteach.exercises import SETS

__all__ = ["DEFAULT_LIMITS", "Row", "Submission", "collect", "grade", "main", "read_roster", "set_definition"]

ROOT = Path(__file__).resolve().parents[2]
MiB = 2**20
DEFAULT_LIMITS = {
    "memory": 4096 * MiB,  # address space: a PyMC kernel of the course maps about 1.5 GB; 6 GB floods are stopped
    "nproc": 1024,  # processes and threads of the submission's user id (BLAS, ZMQ, PyTensor threads fit)
    "fsize": 256 * MiB,  # bytes per file written
    "output": 20 * MiB,  # notebook output kept per submission (a solution with its figures is about 3 MB)
}
MAX_FILE_BYTES = 50 * MiB  # a submission larger than this is not run
WORKER_MARGIN = 240  # seconds beyond --timeout for kernel start-up, the answers and clean-up
SYSTEM_FOLDERS = {"/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/var", "/opt", "/proc", "/sys", "/dev", "/tmp",
                  "/run"}  # never hidden whole, even when the checkout lives under one
FIELDS = ["id", "file", "set", "points", "max", "percent", "seconds", "errors"]


@dataclass
class Submission:
    """One file found in the submissions: its student id, its name as shown, and its bytes (or why not)."""

    student: str
    name: str
    data: bytes | None = None
    reason: str = ""


@dataclass
class Row:
    """One line of the gradebook."""

    student: str
    file: str
    set_name: str = ""
    points: dict[str, float] = field(default_factory=dict)
    max_points: float = 0.0
    errors: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def percent(self) -> float:
        return 100.0 * self.total / self.max_points if self.max_points else 0.0

    def as_dict(self) -> dict:
        out = {"id": self.student, "file": self.file, "set": self.set_name, "points": f"{self.total:g}",
               "max": f"{self.max_points:g}", "percent": f"{self.percent:.1f}", "seconds": f"{self.seconds:.1f}",
               "errors": "; ".join(self.errors)}
        out.update({f"{self.set_name}.{q}": f"{p:g}" for q, p in self.points.items()})
        return out


@functools.lru_cache(maxsize=None)
def set_definition(set_name: str) -> dict:
    """The set's stamp (answers, points, max) from the grader's own solution notebook."""
    from lmmteach.tools.make_exercises import set_stamp

    if set_name not in SETS:
        raise ValueError(f"unknown exercise set {set_name!r}; known: {', '.join(SETS)}")
    path = ROOT / "solutions" / SETS[set_name][0]
    return set_stamp(nbformat.read(path, as_version=4), path.name)


def _student_id(relative: Path) -> str:
    parts = [p for p in relative.parts if p != ".ipynb_checkpoints"]
    return parts[0] if len(parts) > 1 else Path(parts[-1]).stem.removesuffix("-checkpoint")


def _classify(student: str, name: str, data: bytes) -> Submission:
    base = name.rsplit("/", 1)[-1]
    if ".ipynb_checkpoints" in name or base.startswith("."):
        return Submission(student, name, reason="skipped: hidden file or checkpoint copy")
    if not base.lower().endswith(".ipynb"):
        return Submission(student, name, reason=f"not a notebook ({Path(base).suffix or 'no extension'}): not graded")
    if len(data) > MAX_FILE_BYTES:
        return Submission(student, name, reason=f"larger than {MAX_FILE_BYTES // MiB} MB: not graded")
    return Submission(student, name, data)


def _from_zip(path: Path, label: str) -> list[Submission]:
    found = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            relative = Path(info.filename)
            student = _student_id(relative)
            if info.file_size > MAX_FILE_BYTES:
                found.append(Submission(student, f"{label}:{info.filename}", reason="too large: not graded"))
                continue
            found.append(_classify(student, f"{label}:{info.filename}", archive.read(info)))
    return found


def collect(source: Path) -> list[Submission]:
    """Every file under ``source`` (a folder, searched recursively, or a zip), read into memory now."""
    source = Path(source)
    if source.is_file() and zipfile.is_zipfile(source):
        return _from_zip(source, source.name)
    found = []
    for path in sorted(p for p in source.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(source)
        if path.is_symlink():
            found.append(Submission(_student_id(relative), str(relative), reason="a symbolic link: not graded"))
        elif path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            found.extend(_from_zip(path, str(relative)))
        else:
            try:
                found.append(_classify(_student_id(relative), str(relative), path.read_bytes()))
            except OSError as err:
                found.append(Submission(_student_id(relative), str(relative), reason=f"unreadable: {err}"))
    return found


def read_roster(path: Path) -> list[str]:
    """Student ids from a CSV: the column ``id`` if there is one, else the first column."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [r for r in csv.reader(fh) if r and r[0].strip()]
    if not rows:
        raise ValueError(f"{path}: the roster is empty")
    header = [c.strip().lower() for c in rows[0]]
    column = header.index("id") if "id" in header else 0
    body = rows[1:] if "id" in header or header[0] in ("student", "name", "login") else rows
    return [r[column].strip() for r in body if len(r) > column and r[column].strip()]


def _stamped_set(nb) -> str | None:
    stamp = nb.metadata.get("lmmteach", {})
    return stamp.get("set") if isinstance(stamp, dict) else None


def _hide_paths(submissions: Path, out: Path, extra) -> list[str]:
    """Folders a kernel must not see: homes, the top folder holding the course checkout, its git folder,
    the submissions, the output folder and ``extra`` (the interpreter and its packages are bound back in)."""
    top = str(Path(ROOT.parts[0], ROOT.parts[1]))
    paths = {"/home", "/root", "/srv", "/mnt", "/media"} | ({top} - SYSTEM_FOLDERS)
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if common:
            paths.add(common)
    except (OSError, subprocess.SubprocessError):
        pass
    for p in [ROOT, submissions if submissions.is_dir() else submissions.parent, out.resolve().parent, Path.home(),
              *extra]:
        paths.add(str(Path(p).resolve()))
    return sorted(paths)


def _run_worker(job: dict, limit: float) -> dict:
    """Run one worker; its signed result, or an error result when it died, lied or overran."""
    key = secrets.token_hex(32)
    proc = subprocess.Popen([sys.executable, "-m", "lmmteach.tools.grade_worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        out, _ = proc.communicate(json.dumps({**job, "key": key}).encode(), timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"errors": [f"grading did not finish within {limit:g} s: stopped, no marks"]}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # anything the worker left in its session
        except OSError:
            pass
    try:
        result = json.loads(out)
        from lmmteach.tools.grade_worker import sign_result

        if not hmac.compare_digest(str(result.get("sig", "")), sign_result(result, key)):
            raise ValueError("bad signature")
    except (ValueError, TypeError, AttributeError):
        code = proc.returncode
        return {"errors": [f"the grading worker ended without a valid result (exit status {code}): no marks"]}
    return result


def _grade_one(sub: Submission, forced: str | None, options: dict, index: int) -> Row:
    row = Row(sub.student, sub.name)
    if sub.data is None:
        row.errors.append(sub.reason)
        if forced:
            row.set_name, row.max_points = forced, set_definition(forced)["max_points"]
        return row
    try:
        text = sub.data.decode("utf-8")
        nb = nbformat.reads(text, as_version=4)
    except Exception as err:
        row.errors.append(f"not a valid notebook ({type(err).__name__})")
        nb = None
    stamped = _stamped_set(nb) if nb is not None else None
    set_name = forced or stamped
    if set_name not in SETS:
        if nb is not None:
            row.errors.append("no exercise set: the notebook carries no set in its metadata; pass --set")
        return row
    definition = set_definition(set_name)
    row.set_name, row.max_points = set_name, float(definition["max_points"])
    row.points = {q: 0.0 for q in definition["points"]}
    if nb is None:
        return row
    if forced and stamped and stamped != forced:
        row.errors.append(f"this notebook is exercise set {stamped}, not {forced}: not graded")
        return row
    job = {"text": text, "set": set_name, "answers": definition["answers"], "timeout": options["timeout"],
           "limits": options["limits"], "hide": options["hide"], "release": options["release"],
           "uid": options["uid_base"] + index, "scratch": options.get("scratch"), "weak": options.get("weak")}
    start = time.monotonic()
    result = _run_worker(job, options["timeout"] + WORKER_MARGIN)
    row.seconds = time.monotonic() - start
    row.errors.extend(result.get("errors", []))
    row.errors.extend(result.get("notes", []))
    for q in row.points:
        row.points[q] = float(result.get("points", {}).get(q, 0.0)) if q in definition["points"] else 0.0
        row.points[q] = min(row.points[q], float(definition["points"][q]))
    row.messages = {q: f"{result.get('status', {}).get(q, '')}: {result.get('messages', {}).get(q, '')}".strip(": ")
                    for q in row.points}
    return row


def _read_gradebook(out: Path) -> list[dict]:
    if not out.exists():
        return []
    with open(out, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write_gradebook(out: Path, old: list[dict], rows: list[Row], replaced: set[str]) -> None:
    """Old rows of students not re-graded, then this run's rows; written atomically."""
    records = [r for r in old if r.get("id") not in replaced] + [r.as_dict() for r in rows]
    qids = []
    for r in records:
        qids.extend(k for k in r if k not in FIELDS and k not in qids)
    header = FIELDS[:3] + sorted(qids) + FIELDS[3:]
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(sorted(records, key=lambda r: (r.get("id", ""), r.get("file", ""))))
    os.replace(tmp, out)


def _write_lms(path: Path, out_rows: list[dict]) -> None:
    """One line per student: their best row (id, points, max, percent)."""
    best = {}
    for r in out_rows:
        current = best.get(r["id"])
        if current is None or float(r["percent"] or 0) > float(current["percent"] or 0):
            best[r["id"]] = r
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "points", "max", "percent"])
        for sid in sorted(best):
            writer.writerow([sid, best[sid]["points"], best[sid]["max"], best[sid]["percent"]])


def _feedback(folder: Path, student: str, rows: list[Row]) -> None:
    lines = [f"# Feedback for {student}", ""]
    for row in rows:
        lines += [f"## {row.file}" + (f" (exercise set {row.set_name})" if row.set_name else ""), "",
                  f"**{row.total:g} / {row.max_points:g} points ({row.percent:.0f} %)**", ""]
        if row.points:
            lines += ["| question | points | feedback |", "|---|---|---|"]
            definition = set_definition(row.set_name) if row.set_name in SETS else {"points": {}}
            for q, p in row.points.items():
                message = row.messages.get(q, "").replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {q} | {p:g} / {definition['points'].get(q, 0):g} | {message} |")
            lines.append("")
        if row.errors:
            lines += ["Problems:", ""] + [f"- {e}" for e in row.errors] + [""]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in student) or "unknown"
    (folder / f"{safe}.md").write_text("\n".join(lines), encoding="utf-8")


def grade(submissions: Path, out: Path, timeout: float = 300, *, jobs: int | None = None, set_name: str | None = None,
          roster: Path | None = None, feedback: Path | None = None, lms: Path | None = None,
          limits: dict | None = None, hide=(), stream=sys.stderr, weak: bool = False,
          scratch: Path | None = None) -> list[Row]:
    """Grade everything in ``submissions``; merge into the gradebook ``out``; return this run's rows.

    ``scratch``: a new folder to hold the submissions' scratch folders (default: one under
    /var/lib/lmmteach-grade as root, else under the system's temporary folder); removed when empty.
    """
    submissions, out = Path(submissions), Path(out)
    if set_name is not None and set_name not in SETS:
        raise ValueError(f"unknown exercise set {set_name!r}; known: {', '.join(SETS)}")
    found = collect(submissions)
    out.resolve().parent.mkdir(parents=True, exist_ok=True)
    roster_ids = read_roster(roster) if roster else []
    limits = {**DEFAULT_LIMITS, "cpu": int(timeout) + 60, **(limits or {})}
    old = _read_gradebook(out)
    work = Path(tempfile.mkdtemp(prefix="lmmteach-release-"))
    from lmmteach.tools.release import build_package

    release = build_package(work / "release")
    for root, dirs, files in os.walk(work):
        os.chmod(root, 0o755)
    if scratch is None:  # as root, outside /tmp (which each kernel gets privately)
        base = Path("/var/lib/lmmteach-grade") if os.geteuid() == 0 else Path(tempfile.gettempdir())
        base.mkdir(mode=0o711, exist_ok=True)
        scratch = base / f"run-{os.getpid()}-{secrets.token_hex(4)}"
    scratch = Path(scratch)
    scratch.mkdir(mode=0o711, parents=True)
    options = {"scratch": str(scratch), "timeout": timeout, "limits": limits,
               "hide": _hide_paths(submissions, out, hide),
               "release": str(release), "uid_base": 200_000 + (os.getpid() % 1000) * 10_000, "weak": weak}
    rows: list[Row] = []
    lock = threading.Lock()
    start = time.monotonic()
    stream.write(f"grading {len(found)} file(s) from {submissions} with {jobs or os.cpu_count()} worker(s)\n")
    try:
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            futures = {pool.submit(_grade_one, sub, set_name, options, i): sub for i, sub in enumerate(found)}
            for future in as_completed(futures):
                sub = futures[future]
                try:
                    row = future.result()
                except Exception as err:  # never lose a row
                    row = Row(sub.student, sub.name, errors=[f"grader error: {type(err).__name__}: {err}"])
                with lock:
                    rows.append(row)
                    _write_gradebook(out, old, rows, {r.student for r in rows})
                stream.write(f"[{len(rows)}/{len(found)}] {row.student}: {row.file}: {row.total:g}/{row.max_points:g}"
                             f"{' (' + str(len(row.errors)) + ' problem(s))' if row.errors else ''}\n")
                stream.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:
            scratch.rmdir()  # each worker removed its own folder: anything left is a fault to report
        except OSError:
            stream.write(f"warning: scratch folders left in {scratch}\n")
    seen = {r.student for r in rows}
    for student in roster_ids:
        if student not in seen:
            missing = Row(student, "", errors=["no submission"])
            if set_name:
                missing.set_name, missing.max_points = set_name, float(set_definition(set_name)["max_points"])
                missing.points = {q: 0.0 for q in set_definition(set_name)["points"]}
            rows.append(missing)
    for row in rows:
        if roster_ids and row.student not in roster_ids:
            row.errors.append("not on the roster")
    _write_gradebook(out, old, rows, {r.student for r in rows})
    merged = _read_gradebook(out)
    _write_lms(Path(lms) if lms else out.with_name(out.stem + "_lms.csv"), merged)
    folder = Path(feedback) if feedback else out.with_name(out.stem + "_feedback")
    folder.mkdir(parents=True, exist_ok=True)
    for student in sorted({r.student for r in rows}):
        _feedback(folder, student, [r for r in rows if r.student == student])
    graded = [r for r in rows if r.max_points]
    mean = sum(r.percent for r in graded) / len(graded) if graded else 0.0
    stream.write(f"graded {len(rows)} row(s) in {time.monotonic() - start:.0f} s: mean {mean:.1f} %, "
                 f"{sum(1 for r in rows if r.errors)} with problems -> {out}\n")
    for row in sorted(rows, key=lambda r: (r.student, r.file)):
        for error in row.errors:
            stream.write(f"  {row.student} {row.file}: {error}\n")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Grade submitted exercise notebooks into a gradebook CSV.")
    parser.add_argument("submissions", type=Path, help="folder (searched recursively) or .zip of submissions")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"), help="gradebook CSV (merged on re-grading)")
    parser.add_argument("--timeout", type=float, default=300, help="wall-time budget per notebook, seconds")
    parser.add_argument("-j", "--jobs", type=int, default=None, help="submissions graded at once (default: cores)")
    parser.add_argument("--set", dest="set_name", choices=sorted(SETS), help="the set every submission must be")
    parser.add_argument("--roster", type=Path, help="CSV of student ids (column 'id' or the first column)")
    parser.add_argument("--feedback", type=Path, help="folder for one Markdown feedback file per student")
    parser.add_argument("--lms", type=Path, help="CSV for an LMS: id, points, max, percent")
    parser.add_argument("--memory", type=int, default=DEFAULT_LIMITS["memory"] // MiB,
                        help="memory (address space) per kernel, MiB")
    parser.add_argument("--cpu", type=int, help="CPU seconds per kernel (default: timeout + 60)")
    parser.add_argument("--hide", type=Path, action="append", default=[],
                        help="another folder a kernel must not see (repeatable)")
    args = parser.parse_args(argv)
    if not args.submissions.exists():
        parser.error(f"{args.submissions} does not exist")
    limits = {"memory": args.memory * MiB, **({"cpu": args.cpu} if args.cpu else {})}
    grade(args.submissions, args.out, args.timeout, jobs=args.jobs, set_name=args.set_name, roster=args.roster,
          feedback=args.feedback, lms=args.lms, limits=limits, hide=args.hide)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
