"""Generate the student notebooks in ``exercises/`` from ``solutions/``.

    python -m lmmteach.tools.make_exercises            # write exercises/*.ipynb
    python -m lmmteach.tools.make_exercises --check    # exit 1 if exercises/ is out of date

Markers in a solution's code cells (the pattern of otter-grader's ``assign``
and nbgrader):

* a block between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` is replaced by
  ``# YOUR CODE HERE`` and a placeholder for each name it defines:
  ``name = ...`` for an assignment, ``def f(args):`` with its docstring and a
  ``...`` body for a function; imports are kept; everything else goes;
* a line ending in ``# SOLUTION`` becomes ``target = ...``;
* a cell tagged ``solution-only`` is dropped.

Markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` is
dropped. ``check`` calls stay, so an untouched exercise reports "not attempted".
Outputs and execution counts are cleared.

The set is stamped into the notebook's metadata (``metadata["lmmteach"]``):
its name (from :data:`lmmteach.exercises.SETS`, by file name), its maximum
points (the sum of its questions' points) and, per question, the answer
expression (the argument of ``ex.qN.check(...)``) the grader asks the kernel
for. The grader takes all three from its own copy of ``exercises/``, never from
a submission.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path

import nbformat

__all__ = ["MarkerError", "answer_expressions", "main", "make_exercise", "render", "set_stamp", "strip_code"]

ROOT = Path(__file__).resolve().parents[2]  # the course repository
BEGIN, END = re.compile(r"^\s*#\s*BEGIN SOLUTION\s*$"), re.compile(r"^\s*#\s*END SOLUTION\s*$")
ONE_LINE = re.compile(r"^(\s*)([A-Za-z_][\w\s,\[\]\.]*?)\s*=(?!=).*#\s*SOLUTION\s*$")
MD_BLOCK = re.compile(r"<!--\s*BEGIN SOLUTION\s*-->.*?<!--\s*END SOLUTION\s*-->\n?", re.S)
HEADER = ("*This notebook is generated from `solutions/{name}` by `python -m lmmteach.tools.make_exercises`; "
          "edit the solution, not this file.*")


class MarkerError(ValueError):
    """Unbalanced or malformed solution markers."""


def _placeholders(block: str) -> list[str]:
    """What replaces a solution block: a stub for each name it defines."""
    code = textwrap.dedent(block)
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise MarkerError(f"solution block is not valid Python on its own: {err}") from None
    out = ["# YOUR CODE HERE"]
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(ast.get_source_segment(code, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            header = ast.get_source_segment(code, node).splitlines()
            sig_end = next(i for i, line in enumerate(header) if line.rstrip().endswith(":"))
            out.extend(header[: sig_end + 1])
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                out.append(f"    {ast.get_source_segment(code, node.body[0])}")
            out.append("    ...")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                parts = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
                for part in parts:  # `a, b = ...` would fail to unpack: one placeholder per name
                    text = ast.get_source_segment(code, part)
                    if f"{text} = ..." not in out:
                        out.append(f"{text} = ...")
    return out


def strip_code(source: str) -> str:
    """The exercise version of one code cell."""
    lines, out, block, indent = source.split("\n"), [], None, ""
    for number, line in enumerate(lines, 1):
        if BEGIN.match(line):
            if block is not None:
                raise MarkerError(f"line {number}: nested # BEGIN SOLUTION")
            block, indent = [], line[: len(line) - len(line.lstrip())]
        elif END.match(line):
            if block is None:
                raise MarkerError(f"line {number}: # END SOLUTION without # BEGIN SOLUTION")
            out.extend(indent + p if p else p for p in "\n".join(_placeholders("\n".join(block))).split("\n"))
            block = None
        elif block is not None:
            block.append(line)
        else:
            match = ONE_LINE.match(line)
            out.append(f"{match.group(1)}{match.group(2).strip()} = ..." if match else line)
    if block is not None:
        raise MarkerError("# BEGIN SOLUTION without # END SOLUTION")
    return "\n".join(out)


def answer_expressions(nb: nbformat.NotebookNode) -> dict[str, str]:
    """``{"qN": source of the argument}`` for every ``<anything>.qN.check(argument)`` call in the code cells."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
                    and isinstance(node.func.value, ast.Attribute) and re.fullmatch(r"q\d+", node.func.value.attr)
                    and node.args):
                found[node.func.value.attr] = ast.get_source_segment(cell.source, node.args[0])
    return found


def set_stamp(solution: nbformat.NotebookNode, name: str) -> dict | None:
    """The ``metadata["lmmteach"]`` of the exercise notebook ``name``, or None if no set uses that file."""
    import importlib

    from lmmteach.exercises import SETS

    set_name = next((s for s, (file, _) in SETS.items() if file == name), None)
    if set_name is None:
        return None
    questions = importlib.import_module(f"lmmteach.exercises.{set_name}").QUESTIONS
    answers = answer_expressions(solution)
    missing = [q.name for q in questions if q.name not in answers]
    if missing:
        raise MarkerError(f"{name}: no `ex.<q>.check(answer)` call for {', '.join(missing)}")
    return {"set": set_name, "max_points": sum(q.points for q in questions),
            "points": {q.name: q.points for q in questions}, "answers": {q.name: answers[q.name] for q in questions}}


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student notebook for one solution notebook (outputs cleared, the set stamped in its metadata)."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": solution.metadata.get("kernelspec", {}),
                                            "language_info": {"name": "python"}})
    stamp = set_stamp(solution, name)
    if stamp:
        nb.metadata["lmmteach"] = stamp
    nb.cells.append(nbformat.v4.new_markdown_cell(HEADER.format(name=name)))
    for cell in solution.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution-only" in tags:
            continue
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(strip_code(cell.source))
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(MD_BLOCK.sub("", cell.source))
        else:
            new = nbformat.v4.new_raw_cell(cell.source)
        if tags:
            new.metadata["tags"] = list(tags)
        new.pop("id", None)
        nb.cells.append(new)
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating changes nothing
        cell["id"] = f"cell-{i:02d}"
    return nb


def render(path: Path) -> str:
    """The text ``exercises/`` should hold for the solution notebook at ``path``."""
    nb = make_exercise(nbformat.read(path, as_version=4), path.name)
    return nbformat.writes(nb) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate exercises/ from solutions/.")
    parser.add_argument("--solutions", type=Path, default=ROOT / "solutions")
    parser.add_argument("--exercises", type=Path, default=ROOT / "exercises")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises/ is out of date")
    args = parser.parse_args(argv)

    sources = sorted(args.solutions.glob("*.ipynb"))
    expected = {args.exercises / p.name: render(p) for p in sources}
    stale = sorted(set(args.exercises.glob("*.ipynb")) - set(expected))
    if args.check:
        problems = [f"{p}: missing" for p, text in expected.items() if not p.exists()]
        problems += [f"{p}: differs from what solutions/{p.name} generates"
                     for p, text in expected.items() if p.exists() and p.read_text(encoding="utf-8") != text]
        problems += [f"{p}: has no solution notebook" for p in stale]
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("exercises/ is out of date: run `python -m lmmteach.tools.make_exercises`", file=sys.stderr)
            return 1
        print(f"exercises/ is up to date ({len(expected)} notebook(s))")
        return 0
    args.exercises.mkdir(parents=True, exist_ok=True)
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    for path in stale:
        path.unlink()
        print(f"removed {path} (no solution notebook)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
