"""exercises/ is generated from solutions/: the markers, and the sync check."""

import shutil
from pathlib import Path

import pytest

from lmmteach.tools import make_exercises as mk

ROOT = Path(__file__).resolve().parent.parent


def test_exercises_are_in_sync_with_solutions(capsys):
    assert mk.main(["--check"]) == 0, capsys.readouterr().err


def test_check_fails_when_an_exercise_is_hand_edited_or_missing(tmp_path, capsys):
    solutions, exercises = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(ROOT / "solutions", solutions)
    assert mk.main(["--solutions", str(solutions), "--exercises", str(exercises)]) == 0
    args = ["--solutions", str(solutions), "--exercises", str(exercises), "--check"]
    assert mk.main(args) == 0
    first = sorted(exercises.glob("*.ipynb"))[0]
    first.write_text(first.read_text().replace("YOUR CODE HERE", "my answer"))
    assert mk.main(args) == 1
    assert "differs" in capsys.readouterr().err
    first.unlink()
    assert mk.main(args) == 1
    (exercises / "99_orphan.ipynb").write_text("{}")
    assert mk.main(args) == 1
    assert "no solution notebook" in capsys.readouterr().err


def test_block_becomes_placeholders_for_the_names_it_defines():
    source = ("import numpy as np\n# BEGIN SOLUTION\nimport scipy\nX = np.ones(3)\na, b = 1, 2\n"
              "def f(x, y=2):\n    \"\"\"Doc.\"\"\"\n    return x + y\nprint(a)\n# END SOLUTION\nex.q1.check(f)")
    assert mk.strip_code(source) == ("import numpy as np\n# YOUR CODE HERE\nimport scipy\nX = ...\na = ...\nb = ...\n"
                                     "def f(x, y=2):\n    \"\"\"Doc.\"\"\"\n    ...\nex.q1.check(f)")


def test_indented_block_and_one_line_marker():
    source = "for i in range(2):\n    # BEGIN SOLUTION\n    total = i\n    # END SOLUTION\nanswer = 'b'  # SOLUTION"
    assert mk.strip_code(source) == "for i in range(2):\n    # YOUR CODE HERE\n    total = ...\nanswer = ..."


@pytest.mark.parametrize("source", ["# BEGIN SOLUTION\nx = 1", "x = 1\n# END SOLUTION",
                                    "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION"])
def test_unbalanced_markers_are_errors(source):
    with pytest.raises(mk.MarkerError):
        mk.strip_code(source)


def test_generated_notebooks_have_no_solutions_and_no_outputs():
    import nbformat

    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            assert "BEGIN SOLUTION" not in cell.source and "# SOLUTION" not in cell.source, path
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path
