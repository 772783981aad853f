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
    ],
)
def test_design_names_the_problem(formula, frame, words):
    with pytest.raises(ValueError, match=words):
        design(formula, frame)


@pytest.mark.parametrize("data", [[[1.0, 2.0]], None, {"y": [1.0, 2.0]}])
def test_data_that_is_not_a_data_frame_is_a_type_error(data):
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        design("y ~ x", data)


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


# --------------------------------------------------------------------------
# Bad input that used to end in a traceback from formulae, NumPy or SciPy;
# lmmteach.ols and lmmteach.reml share these checks (tests/test_ols.py and
# tests/test_reml.py check that each passes them on).
# --------------------------------------------------------------------------

def small_frame(**columns) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"y": rng.normal(10, 1, 12), "x": np.arange(12.0), "g": pd.Categorical(np.arange(12) % 3)})
    return frame.assign(**columns)


@pytest.mark.parametrize(
    "formula, words",
    [
        ("y ~ x +", "operator with no term on one side"),
        ("y ~ + x", "operator with no term on one side"),
        ("y ~ x + + g", "empty term"),
        ("y ~ (x", r"unbalanced parentheses.*1 '\(' and 0 '\)'"),
        ("y ~ {x**2", "unbalanced parentheses"),
        ("~ x", "no response"),
        ("y ~ ", "nothing on the right"),
        ("y ~ x ~ g", "one '~'"),
        ("y ~ x + unknown_function(x)", "unknown function or name.*supported"),
        ("y ~ 0", "no columns on the right"),
    ],
)
def test_malformed_formulas_say_what_is_wrong(formula, words):
    with pytest.raises(ValueError, match=words):
        design(formula, small_frame())


def test_formula_that_is_not_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="formula must be a string"):
        design(["y ~ x"], small_frame())


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("y ~ {x**2}", lambda f: f["x"] ** 2),
        ("y ~ I(x**2)", lambda f: f["x"] ** 2),
        ("y ~ log(x + 1)", lambda f: np.log(f["x"] + 1)),
        ("y ~ sqrt(x)", lambda f: np.sqrt(f["x"])),
    ],
)
def test_transformed_predictors_are_supported(formula, expected):
    frame = small_frame()
    fixed = design(formula, frame)
    np.testing.assert_allclose(fixed.X[:, 1], expected(frame))


def test_transformed_response_is_supported():
    frame = small_frame()
    fixed = design("log(y) ~ x", frame)
    np.testing.assert_allclose(fixed.y, np.log(frame["y"]))


@pytest.mark.parametrize(
    "columns, formula, words",
    [
        ({"y": 3.0}, "y ~ x", "response column 'y' has the same value \\(3\\) in every row"),
        ({"y": np.r_[np.inf, np.ones(11)]}, "y ~ x", "response column 'y' has infinite values \\(rows \\[0\\]\\)"),
        ({"y": [str(v) for v in range(12)]}, "y ~ x", "response column 'y' must be numeric.*str"),
        ({"y": pd.Categorical(range(12))}, "y ~ x", "response column 'y' must be numeric.*category"),
        ({"y": np.arange(12) % 2 == 0}, "y ~ x", "response column 'y' must be numeric.*bool.*astype\\(float\\)"),
        ({"x": np.r_[np.inf, np.arange(11.0)]}, "y ~ x", "'x' in 'y ~ x' is NaN or infinite in 1 row.*rows \\[0\\]"),
        ({"x": np.arange(12.0) - 5}, "y ~ log(x)", "'log\\(x\\)'.*NaN or infinite in 6 row.*log/sqrt of a non-positive"),
        ({"x": [str(v) for v in range(12)]}, "y ~ x", "'x' holds numbers stored as text.*12 levels.*pd.to_numeric"),
        ({"x": pd.date_range("2024-01-01", periods=12)}, "y ~ x", "'x' holds dates.*days since"),
        ({"x": [1, "a"] * 6}, "y ~ x", "'x' mixes types \\(int, str\\)"),
    ],
)
def test_bad_columns_are_named_with_the_problem(columns, formula, words):
    with pytest.raises(ValueError, match=words):
        design(formula, small_frame(**columns))


def test_empty_frame_is_refused():
    with pytest.raises(ValueError, match="data has no rows"):
        design("y ~ x", small_frame().iloc[:0])


def test_nullable_integer_response_without_missing_values_is_used_as_float():
    frame = small_frame(y=pd.array(np.arange(12) * 3 % 7, dtype="Int64"))
    fixed = design("y ~ x", frame)
    assert fixed.y.dtype == float
    np.testing.assert_array_equal(fixed.y, np.arange(12) * 3 % 7)


def test_nullable_integer_response_with_a_missing_value_names_the_row():
    frame = small_frame(y=pd.array([1, 2, None] + list(range(9)), dtype="Int64"))
    with pytest.raises(ValueError, match="NaN.*'y'.*rows \\[2\\]"):
        design("y ~ x", frame)


def test_text_categories_are_still_factors():
    fixed = design("y ~ g", small_frame(g=["a", "b", "c"] * 4))
    assert fixed.names == ["Intercept", "g[b]", "g[c]"]


def test_a_category_with_numeric_labels_is_a_declared_factor():
    """pd.Categorical(["0", "3", "10"]) is a factor on purpose (dose as a factor), not numbers stored as text."""
    frame = pd.DataFrame({"y": np.arange(12.0) % 5, "dose": pd.Categorical(["0", "3", "10"] * 4, categories=["0", "3", "10"])})
    d = design("y ~ dose", frame)
    assert d.names == ["Intercept", "dose[3]", "dose[10]"]
