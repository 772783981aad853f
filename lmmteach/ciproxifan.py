"""The ciproxifan study: its design, the course's model of it and the names every table uses.

The report's mouse study (18 mice, 33 recordings) appears in most lessons. Its
design (which mouse got which doses), the fixed-effects design matrix of
``WAKE ~ Treatment * Genotype`` (genotype ``ko`` coded 1, wild type ``wt`` the
reference, as R codes it), the coefficient and parameter names and the
report's prior scales live here once, so that :mod:`lmmteach.models`,
:mod:`lmmteach.reconstruct`, the tables and the exercise sets agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "BAMBI_FORMULA", "BETA_SD", "COEFS", "Design", "FORMULA", "MICE", "ModelDataError", "PARAMETERS", "RESPONSE",
    "SIGMA_SD", "SIGMA_U_SD", "design", "recordings",
]

# (id, Genotype, dose in part 1, dose in part 2 or None when the mouse was excluded)
# Dose combinations as published: 0+3 wt 4, ko 2; 10+3 wt 1, ko 2; 10+0 wt 3, ko 3;
# 0+NA ko 2; 10+NA wt 1.
MICE = [
    (1, "wt", 0, 3), (2, "wt", 0, 3), (3, "wt", 0, 3), (12, "wt", 0, 3),
    (4, "wt", 10, 3),
    (5, "wt", 10, 0), (6, "wt", 10, 0), (9, "wt", 10, 0),
    (7, "wt", 10, None),
    (10, "ko", 0, 3), (16, "ko", 0, 3),
    (11, "ko", 10, 3), (17, "ko", 10, 3),
    (13, "ko", 10, 0), (14, "ko", 10, 0), (18, "ko", 10, 0),
    (8, "ko", 0, None), (15, "ko", 0, None),
]

RESPONSE = "WAKE"
FORMULA = "WAKE ~ Treatment * Genotype"
BAMBI_FORMULA = "WAKE ~ Treatment * Genotype + (1 | id)"
COEFS = ("Intercept", "Treatment", "Genotype[ko]", "Treatment:Genotype[ko]")
#: the parameters of the course's Table 1, in table order: the coefficients, then the two SDs
PARAMETERS = (*COEFS, "sigma", "sigma_u")

BETA_SD = 100.0  # beta ~ Normal(0, 100), the report's weakly informative prior
SIGMA_SD = 10.0  # sigma ~ HalfNormal(10)
SIGMA_U_SD = 10.0  # the report's fixed u ~ Normal(0, 10); also the default HalfNormal scale of sigma_u


class ModelDataError(ValueError):
    """The data frame cannot be used by a course model (missing column, NaN, ...)."""


@dataclass(frozen=True)
class Design:
    """The numbers a model needs, checked: design matrix, response, subject index."""

    X: np.ndarray  # (n, 4): 1, Treatment, ko, Treatment * ko
    y: np.ndarray  # (n,)
    id_index: np.ndarray | None  # (n,) integer codes into id_levels
    id_levels: tuple | None
    coefs: tuple = COEFS


def _genotype_ko(column: pd.Series) -> np.ndarray:
    """1.0 for knock-out mice, 0.0 for wild type, from labels or a 0/1 column.

    The rule for a numeric (or boolean) column is the design matrix's own
    coding: 0 (False) is the wild type ``wt``, the reference; 1 (True) is ``ko``.
    """
    if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object or pd.api.types.is_string_dtype(column):
        values = column.astype(str)
        unknown = sorted(set(values) - {"wt", "ko"})
        if unknown:
            raise ModelDataError(f"column 'Genotype' must hold 'wt' or 'ko'; found {unknown}")
        return (values == "ko").to_numpy(dtype=float)
    values = pd.to_numeric(column, errors="raise").to_numpy(dtype=float)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ModelDataError(f"numeric column 'Genotype' must be 0 (wt) or 1 (ko); found {sorted({float(v) for v in values} - {0.0, 1.0})}")
    return values


def design(data: pd.DataFrame, *, needs_id: bool = False) -> Design:
    """Check ``data`` and return the design matrix, response and subject index.

    Raises :class:`ModelDataError` naming the problem: not a DataFrame, no
    rows, a missing column, a missing value, a non-numeric ``Treatment`` or
    ``WAKE``, an unknown genotype, or (when ``needs_id``) an ``id`` column
    that is not a pandas ``category``. ``Genotype`` holds the labels
    ``wt``/``ko`` or the numbers 0 (wt) / 1 (ko).
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelDataError(f"expected a pandas DataFrame, got {type(data).__name__}")
    needed = [RESPONSE, "Treatment", "Genotype"] + (["id"] if needs_id else [])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise ModelDataError(f"data is missing column(s) {missing}; the model needs {needed}")
    if len(data) == 0:
        raise ModelDataError("data has no rows")
    for name in needed:
        n_nan = int(data[name].isna().sum())
        if n_nan:
            raise ModelDataError(f"column {name!r} has {n_nan} missing value(s) (NaN); drop or impute them first")
    for name in (RESPONSE, "Treatment"):
        if not pd.api.types.is_numeric_dtype(data[name]):
            raise ModelDataError(f"column {name!r} must be numeric, got dtype {data[name].dtype}")
        if not np.isfinite(data[name].to_numpy(dtype=float)).all():
            raise ModelDataError(f"column {name!r} has infinite values")
    treatment = data["Treatment"].to_numpy(dtype=float)
    ko = _genotype_ko(data["Genotype"])
    X = np.column_stack([np.ones(len(data)), treatment, ko, treatment * ko])
    id_index = id_levels = None
    if needs_id:
        if not isinstance(data["id"].dtype, pd.CategoricalDtype):
            raise ModelDataError(
                f"column 'id' must be a pandas category (the subject factor), got dtype {data['id'].dtype}; "
                "use data['id'] = data['id'].astype('category')"
            )
        id_index = data["id"].cat.codes.to_numpy(dtype=int)
        id_levels = tuple(data["id"].cat.categories)
    return Design(X=X, y=data[RESPONSE].to_numpy(dtype=float), id_index=id_index, id_levels=id_levels)


def recordings() -> pd.DataFrame:
    """One row per recording: id, part (1 or 2), Genotype, Treatment (mg/kg)."""
    rows = []
    for mouse, genotype, dose1, dose2 in MICE:
        rows.append((mouse, 1, genotype, float(dose1)))
        if dose2 is not None:
            rows.append((mouse, 2, genotype, float(dose2)))
    frame = pd.DataFrame(rows, columns=["id", "part", "Genotype", "Treatment"])
    return frame.sort_values(["id", "part"], ignore_index=True)
