"""Build the student release for graded work: exercise notebooks and a package without answers.

    lmmteach-release OUT_DIR            # or: python -m lmmteach.tools.release OUT_DIR; make release

``OUT_DIR`` receives ``exercises/`` (the generated notebooks, set stamped in
their metadata), ``lmmteach/`` and ``datasets/``. In the package, every
exercise set module is replaced by a public one: the same questions, prompts,
hints and points as :class:`~lmmteach.exercises.questions.PublicQuestion`
(``check`` says only whether an answer has the right form -- a number, an
array of the right shape, one of the letters, a function), the set's public
helpers (``ex03.chains``, ``ex05.simulate``) and the plain data they read
(by value). Not in the release: ``solutions/``, ``_reference.py``, any expected
value, test input, tolerance, known mistake or solution text.

Students install the release (``pip install -e OUT_DIR`` after copying
``pyproject.toml``, or ``PYTHONPATH=OUT_DIR``) and work in
``OUT_DIR/exercises``. The grader gives every submission's kernel this same
public package, never the full one (:mod:`lmmteach.tools.grade_worker`).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import shutil
import sys
from pathlib import Path

import numpy as np

from lmmteach.exercises import SETS
from lmmteach.exercises.questions import (ArrayQuestion, ChoiceQuestion, FunctionQuestion, NumericQuestion,
                                          ObjectQuestion)

__all__ = ["build_package", "main", "public_module"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
ROOT = PACKAGE_DIR.parent
PRIVATE = {"_reference.py", *(f"{name}.py" for name in SETS)}


def _question_source(q) -> str:
    args = [repr(q.set_name), repr(q.name), repr(q.prompt)]
    kw = {"hints": q.hints, "points": q.points}
    if isinstance(q, NumericQuestion):
        kw["kind"] = "number"
    elif isinstance(q, ArrayQuestion):
        kw["kind"], kw["shape"] = "array", tuple(int(n) for n in np.shape(q.expected()))
    elif isinstance(q, ChoiceQuestion):
        kw["kind"], kw["options"] = "choice", dict(q.options)
    elif isinstance(q, FunctionQuestion):
        kw["kind"] = "function"
    elif isinstance(q, ObjectQuestion):
        kw["kind"], kw["expected_kind"] = "object", q.expected_kind
    else:
        raise TypeError(f"{q.qid}: no public form for {type(q).__name__}")
    return f"{q.name} = PublicQuestion(\n    " + ", ".join(args) + ",\n    " + ",\n    ".join(
        f"{k}={v!r}" for k, v in kw.items()) + ",\n)\n"


def _names_read_by(function) -> set[str]:
    """Global names a function reads, in its body or its default arguments (the source is copied as text)."""
    source = inspect.getsource(function)
    in_source = {node.id for node in ast.walk(ast.parse(source.lstrip())) if isinstance(node, ast.Name)}
    return set(inspect.getclosurevars(inspect.unwrap(function)).globals) | in_source


def _data_source(name: str, value) -> str:
    """``name = value`` as source; a sampling prescription's ``progressbar`` is decided where the release runs.

    The bar is no part of the prescription: it follows :mod:`lmmteach.progress` (on for a student at a
    notebook, off in the grader's kernels), not the setting of the machine that built the release.
    """
    if isinstance(value, dict) and "progressbar" in value:
        items = "".join(f"{k!r}: {v!r}, " for k, v in value.items() if k != "progressbar")
        return f"{name} = {{{items}'progressbar': progress.enabled()}}"
    return f"{name} = {value!r}"


def _helpers(module) -> tuple[list[str], list[str], list[str]]:
    """(imports, constants, function sources) of the set's public helpers.

    Only what the public helpers and notebooks need is copied: the names in
    ``__all__`` that are plain data, and the upper-case module data a public
    helper reads, both by value. Other module constants (tolerances, seeds of
    the reference answers) stay private.
    """
    tree = ast.parse(inspect.getsource(module))
    helpers = [n for n in getattr(module, "__all__", []) if not n.startswith("q") and n != "QUESTIONS"]
    imports = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            origin = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if origin and not origin.startswith("lmmteach.exercises"):
                imports.append(ast.unparse(node))
    functions = [name for name in helpers if callable(getattr(module, name))]
    copied = {}
    for name in helpers:
        value = getattr(module, name)
        if name in functions:
            continue
        try:  # public data the notebooks use (a sampling prescription, a power-curve set-up): copied by value
            ast.literal_eval(repr(value))
        except (ValueError, SyntaxError):
            raise TypeError(f"{module.__name__}.{name} is neither a function nor plain data: the release cannot copy it")
        copied[name] = value
    for name in functions:  # the upper-case data a helper reads (CHAINS = SAMPLING["chains"]), by value
        for var in sorted(_names_read_by(getattr(module, name))):
            value = getattr(module, var, None)
            if var.isupper() and var not in copied and var != "QUESTIONS" and value is not None \
                    and not callable(value) and not inspect.ismodule(value):
                ast.literal_eval(repr(value))  # plain data only
                copied[var] = value
    constants = [_data_source(name, value) for name, value in copied.items()]
    sources = [inspect.getsource(getattr(module, name)) for name in functions]
    return imports, constants, sources


def public_module(set_name: str) -> str:
    """The source of the release's ``lmmteach/exercises/<set_name>.py``."""
    module = importlib.import_module(f"lmmteach.exercises.{set_name}")
    imports, constants, helpers = _helpers(module)
    if any("progress.enabled()" in line for line in constants):
        imports.append("from lmmteach import progress")
    names = [q.name for q in module.QUESTIONS] + [n for n in module.__all__ if not n.startswith("q")]
    parts = [f'"""Exercise set {set_name} (student release): checks say whether an answer has the expected form;\n'
             'the grader holds the answers and judges them after submission."""\n',
             *imports, "from lmmteach.exercises.questions import Progress, PublicQuestion, collect_questions, progress_summary",
             "",
             f"__all__ = {sorted(set(names))!r}", "", *constants, "", *helpers,
             *(_question_source(q) for q in module.QUESTIONS), "QUESTIONS = collect_questions(globals())", ""]
    return "\n".join(parts)


def build_package(dest: Path) -> Path:
    """Write the public package (``dest/lmmteach``) and the data sets (``dest/datasets``)."""
    dest = Path(dest)
    shutil.copytree(PACKAGE_DIR, dest / "lmmteach",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *PRIVATE))
    for set_name in SETS:
        (dest / "lmmteach" / "exercises" / f"{set_name}.py").write_text(public_module(set_name), encoding="utf-8")
    shutil.copytree(ROOT / "datasets", dest / "datasets")
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Build the student release (exercises + package without answers).")
    parser.add_argument("out", type=Path, help="folder to create")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} exists and is not empty")
    build_package(args.out)
    shutil.copytree(ROOT / "exercises", args.out / "exercises")
    for name in ("pyproject.toml", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, args.out / name)
    print(f"student release in {args.out}: exercises/, lmmteach/ (no references), datasets/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
