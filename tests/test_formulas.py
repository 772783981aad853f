"""lmmteach.formulas: factors coded like R, checked designs, named aliased columns, lme4's bars."""

import formulae
import numpy as np
import pandas as pd
import pytest

from lmmteach.data import load_ciproxifan
from lmmteach.formulas import aliased_columns, check_full_rank, design, keep_level_order, split_random_terms, variables


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


# -------------------------------------------------------------- design and checks


def test_design_returns_response_matrix_and_names():
    cipro = load_ciproxifan()
    fixed = design("WAKE ~ Treatment * Genotype", cipro)
    assert fixed.response == "WAKE" and fixed.names == ["Intercept", "Treatment", "Genotype[ko]", "Treatment:Genotype[ko]"]
    np.testing.assert_array_equal(fixed.y, cipro["WAKE"].to_numpy(float))
    np.testing.assert_array_equal(fixed.X[:, 1], cipro["Treatment"].to_numpy(float))
    np.testing.assert_array_equal(fixed.X[:, 2], (cipro["Genotype"] == "ko").to_numpy(float))


@pytest.mark.parametrize(
    "formula, frame, words",
    [
        ("y ~ x + w", pd.DataFrame({"y": [1.0, 2.0], "x": [1.0, 2.0]}), "'w'.*not in the data"),
        ("y ~ x", pd.DataFrame({"y": [1.0, np.nan, 3.0], "x": [1.0, 2.0, 3.0]}), "NaN.*'y'.*1 missing.*rows \\[1\\]"),
        ("y ~ x", pd.DataFrame({"y": ["a", "b"], "x": [1.0, 2.0]}), "response column 'y' must be numeric"),
        ("y ~ x", pd.DataFrame({"y": [True, False], "x": [1.0, 2.0]}), "response column 'y' must be numeric"),
        ("y x", pd.DataFrame({"y": [1.0], "x": [1.0]}), "formula must be"),
        ("y ~ x", [[1.0, 2.0]], "DataFrame"),
    ],
)
def test_design_names_the_problem(formula, frame, words):
    with pytest.raises(ValueError, match=words):
        design(formula, frame)


def test_variables_lists_response_and_columns():
    assert variables("WAKE ~ Treatment * Genotype + np.log(NREM)") == ({"WAKE"}, {"WAKE", "Treatment", "Genotype", "NREM"})


def test_full_rank_design_has_no_aliased_columns():
    X = np.random.default_rng(1).normal(size=(30, 5))
    assert aliased_columns(X, list("abcde")) == []
    check_full_rank(X, list("abcde"))


def test_the_later_of_two_proportional_columns_is_named():
    """Pivoting would put the larger column first; the name must still be the later one, as R's lm reports."""
    x = np.random.default_rng(2).normal(size=20)
    X = np.column_stack([np.ones(20), x, 100 * x])
    assert aliased_columns(X, ["Intercept", "x", "x100"]) == ["x100"]
    X = np.column_stack([np.ones(20), 100 * x, x])
    assert aliased_columns(X, ["Intercept", "x100", "x"]) == ["x"]


def test_every_aliased_column_is_named_including_an_all_zero_one():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 40))
    X = np.column_stack([np.ones(40), a, np.zeros(40), b, a + b, rng.normal(size=40), 2 - a])
    names = ["Intercept", "a", "zero", "b", "a+b", "c", "2-a"]
    assert aliased_columns(X, names) == ["zero", "a+b", "2-a"]
    with pytest.raises(ValueError, match="rank deficient.*columns 'zero', 'a\\+b', '2-a' are linear combinations"):
        check_full_rank(X, names)


def test_aliased_column_is_named_in_a_large_factor_design():
    """200 levels and 20 000 rows: one pivoted QR (one SVD per column took 12 s here) names the duplicate."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"g": pd.Categorical(rng.integers(0, 200, size=20_000)), "x": rng.normal(size=20_000)})
    frame["x_copy"] = 3 * frame["x"]
    frame["y"] = frame["x"] + rng.normal(size=20_000)
    fixed = design("y ~ g + x + x_copy", frame)
    assert fixed.X.shape == (20_000, 202)
    assert aliased_columns(fixed.X, fixed.names) == ["x_copy"]
    with pytest.raises(ValueError, match="rank-deficient.*'x_copy' is a linear combination"):
        check_full_rank(fixed.X, fixed.names)


def test_too_few_rows():
    with pytest.raises(ValueError, match="more observations than coefficients: 2 rows, 2 columns"):
        check_full_rank(np.eye(2), ["a", "b"])


# -------------------------------------------------------------- lme4 bars


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("y ~ x + (1 | g)", ("y", "x", [("1", "g")])),
        ("y ~ (x | g) + z", ("y", "z", [("x", "g")])),
        ("y ~ 1 + (1 | a/b)", ("y", "1", [("1", "a"), ("1", "a:b")])),
        ("y ~ (1 | a) + (0 + x | b)", ("y", "1", [("1", "a"), ("0 + x", "b")])),
    ],
)
def test_split_random_terms(formula, expected):
    assert split_random_terms(formula) == expected


@pytest.mark.parametrize(
    "formula, words",
    [("y ~ x", "no random-effect term"), ("y ~ x + (1 | g", "unbalanced"), ("y ~ x + 1 | g)", "unbalanced"),
     ("~ x + (1 | g)", "no response"), ("y ~ (| g)", "cannot read"), ("y ~ (1 | a | b)", "cannot read")],
)
def test_split_random_terms_names_the_problem(formula, words):
    with pytest.raises(ValueError, match=words):
        split_random_terms(formula)
