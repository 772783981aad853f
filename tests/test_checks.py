"""lmmteach.checks: the shared argument checks refuse the wrong kind (TypeError) and the wrong value (ValueError)."""

import numpy as np
import pandas as pd
import pytest

from lmmteach import checks


@pytest.mark.parametrize("value", [2, 2.5, np.float32(2.5), np.int64(3)])
def test_real_number_accepts_numbers_and_returns_a_float(value):
    out = checks.real_number(value, "x", low=0)
    assert isinstance(out, float) and out == float(value)


@pytest.mark.parametrize(
    "value, kwargs, error, words",
    [
        ("2", {}, TypeError, "x must be a number, got str"),
        (True, {}, TypeError, "x must be a number, got bool"),
        (None, {}, TypeError, "x must be a number, got NoneType"),
        (np.array([1.0]), {}, TypeError, "x must be a number, got ndarray"),
        (np.nan, {}, ValueError, "x must be finite"),
        (np.inf, {}, ValueError, "x must be finite"),
        (np.nan, {"infinite": True}, ValueError, "x must be a number, not NaN"),
        (0.0, {"low": 0}, ValueError, "x must be > 0"),
        (-1e-300, {"low": 0, "strict": False}, ValueError, "x must be >= 0"),
    ],
)
def test_real_number_refuses(value, kwargs, error, words):
    with pytest.raises(error, match=words):
        checks.real_number(value, "x", **kwargs)


def test_real_number_bounds_and_infinity():
    assert checks.real_number(0.0, "x", low=0, strict=False) == 0.0
    assert checks.real_number(-np.inf, "x", infinite=True) == -np.inf


@pytest.mark.parametrize("value, error", [(1.0, TypeError), ("1", TypeError), (np.bool_(True), TypeError), (-1, ValueError)])
def test_seed_is_a_non_negative_integer(value, error):
    with pytest.raises(error, match="seed must be an integer"):
        checks.seed(value)
    assert checks.seed(np.int64(7)) == 7 and isinstance(checks.seed(np.int64(7)), int)


@pytest.mark.parametrize("value", ["abc", ["1", "2"], [True, False], pd.Series(["a"]), np.array([None, 1.0])])
def test_float_array_refuses_text_booleans_and_objects(value):
    with pytest.raises(TypeError, match="v must hold numbers"):
        checks.float_array(value, "v")


def test_float_array_converts_numbers():
    out = checks.float_array(pd.Series([1, 2]), "v")
    assert out.dtype == float and out.tolist() == [1.0, 2.0]


def test_mapping_names_what_it_got_and_shows_the_expected_form():
    assert checks.mapping({"a": 1}, "fits", "{'A': fit}") == {"a": 1}
    with pytest.raises(TypeError, match="fits must be a dict from labels to results, like \\{'A': fit\\}; got list"):
        checks.mapping([1], "fits", "{'A': fit}")
