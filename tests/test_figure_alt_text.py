"""Every figure a notebook stores has alt text that says what it shows (the site's <img alt>).

MyST-NB reads it from the figure cell's metadata, ``{"mystnb": {"image": {"alt": "..."}}}``,
so the description travels with the cell that draws the figure.
"""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("lessons/*.ipynb")) + sorted(ROOT.glob("exercises/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
GENERIC = {"figure", "plot", "image", "chart", "graph", "output", "png", "untitled"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")


def figure_cells(path):
    cells = json.loads(path.read_text())["cells"]
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code" and any(
            kind in output.get("data", {}) for output in cell.get("outputs", []) for kind in IMAGE_TYPES
        ):
            yield index, cell


def alt_text(cell):
    return cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")


def test_the_lessons_have_figures():
    assert sum(1 for path in NOTEBOOKS for _ in figure_cells(path)) >= 30


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_figure_has_descriptive_alt_text(path):
    missing, generic = [], []
    for index, cell in figure_cells(path):
        alt = alt_text(cell).strip()
        if not alt:
            missing.append(index)
        elif len(alt.split()) < 8 or alt.lower().strip(" .") in GENERIC:
            generic.append((index, alt))
    assert not missing, f"figure cells without mystnb.image.alt metadata (cell indices): {missing}"
    assert not generic, f"alt text too short or generic to say what the figure shows: {generic}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_two_figures_of_a_notebook_share_a_description(path):
    alts = [alt_text(cell) for _, cell in figure_cells(path)]
    assert len(alts) == len(set(alts)), "copied alt text: each figure needs its own description"
