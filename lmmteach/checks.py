"""Argument checks the modules share, so every bad argument is refused the same way.

Each check returns the value in the form its callers use (a float, an int, a
float array, the dict itself) or raises a ``TypeError`` for the wrong kind of
value (a string where a number belongs, a list where a dict belongs) and a
``ValueError`` for the wrong value (a negative scale, NaN), naming the argument.
Without these, such values surface later as a NumPy casting error, a format
error or a traceback from inside a sampler.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["real_number", "whole_number", "seed", "float_array", "mapping"]


def real_number(value, name: str, *, low: float | None = None, strict: bool = True, infinite: bool = False) -> float:
    """``value`` as a float, finite unless ``infinite``; above ``low`` (``strict``) or at least ``low`` if given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if np.isnan(value) or (not infinite and np.isinf(value)):
        raise ValueError(f"{name} must be {'a number, not NaN' if infinite else 'finite'}, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low:g}, got {value!r}")
    return value


def whole_number(value, name: str, *, low: int | None = None) -> int:
    """``value`` as an int (a Python or NumPy integer, not a bool or a float), at least ``low``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def seed(value, name: str = "seed") -> int:
    """A random seed: an integer >= 0 (what ``np.random.default_rng`` and PyMC accept)."""
    return whole_number(value, name, low=0)


def float_array(value, name: str) -> np.ndarray:
    """``value`` (numbers: a scalar, list, array or Series) as a float array; text and booleans are refused."""
    array = np.asarray(value)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold numbers, got {type(value).__name__} of dtype {array.dtype}")
    return array.astype(float)


def mapping(value, name: str, example: str) -> dict:
    """``value`` itself when it is a dict (label -> thing); ``example`` shows the expected form in the message."""
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict from labels to results, like {example}; got {type(value).__name__}")
    return value
