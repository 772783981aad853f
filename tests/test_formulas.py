"""keep_level_order makes formulae code factors like R: the first category is the reference."""

import formulae
import pandas as pd

from lmmteach.data import load_ciproxifan
from lmmteach.formulas import keep_level_order


def _columns(frame):
    return list(formulae.design_matrices("WAKE ~ Treatment * Genotype", frame).common.as_dataframe().columns)


def test_formulae_alone_makes_ko_the_reference():
    """The pitfall itself: if formulae ever stops sorting levels, this test says the helper is no longer needed."""
    assert "Genotype[wt]" in _columns(load_ciproxifan())


def test_keep_level_order_keeps_wt_as_the_reference():
    assert _columns(keep_level_order(load_ciproxifan())) == ["Intercept", "Treatment", "Genotype[ko]", "Treatment:Genotype[ko]"]


def test_unused_levels_are_dropped_and_the_input_is_untouched():
    frame = pd.DataFrame({"g": pd.Categorical(["b", "b", "c"], categories=["a", "b", "c"]), "y": [1.0, 2.0, 3.0]})
    out = keep_level_order(frame)
    assert list(out["g"].cat.categories) == ["b", "c"] and out["g"].cat.ordered
    assert not frame["g"].cat.ordered and list(frame["g"].cat.categories) == ["a", "b", "c"]
