"""Formula handling for the course's own fitters (``ols`` and ``reml``), in one place.

A formula and a data frame go in; checked data, the response vector and the
fixed-effects design matrix with its column names come out, or a ValueError
that names the problem (a missing column, a NaN, a non-numeric response, a
column that is a linear combination of the columns before it).

Design matrices come from ``formulae`` (Bambi's formula engine), with one
correction: formulae sorts the levels of an unordered pandas ``category``
alphabetically, so in ``WAKE ~ Genotype`` the knockout ``ko`` would become the
reference level and ``wt`` the coefficient -- the opposite of the data's
declared order and of R. :func:`keep_level_order` marks such columns *ordered*,
which makes formulae keep the declared order: the first category is the
reference, as in R's treatment contrasts.

lme4's random-effect bars ``(expr | factor)`` are split off by
:func:`split_random_terms`; each side is then an ordinary formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg

__all__ = [
    "Design",
    "keep_level_order",
    "variables",
    "checked_frame",
    "model_matrix",
    "design",
    "aliased_columns",
    "check_full_rank",
    "split_random_terms",
]


@dataclass(frozen=True)
class Design:
    """A response vector and a design matrix with its column names."""

    y: np.ndarray        # (n,)
    X: np.ndarray        # (n, p)
    names: list[str]     # the p column names, formulae's: Intercept, Treatment, Genotype[ko], ...
    response: str        # the response's name


def keep_level_order(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose categorical columns keep their level order in formulae.

    Unused levels are dropped as well: they would otherwise become all-zero columns.
    """
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) and not column.cat.ordered:
            frame[name] = column.cat.remove_unused_categories().cat.as_ordered()
    return frame


def _description(formula: str):
    import formulae

    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string like 'y ~ x', got {formula!r}")
    try:
        return formulae.model_description(formula)
    except Exception as err:  # formulae raises several types for bad syntax
        raise ValueError(f"cannot parse formula {formula!r}: {err}") from err


def variables(formula: str) -> tuple[set[str], set[str]]:
    """The data columns of a formula's response, and every data column it uses (bars excluded)."""
    description = _description(formula)
    if description.response is None:
        raise ValueError(f"formula {formula!r} has no response (left-hand side)")
    return set(description.response.var_names), set(description.var_names)


def checked_frame(data: pd.DataFrame, columns, response, formula: str) -> pd.DataFrame:
    """The used ``columns`` of ``data`` (in data order), ready for formulae.

    Raises a ValueError naming a column that is missing, has a NaN, or -- for
    the ``response`` columns -- is not numeric.
    """
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    columns = set(columns)
    missing = sorted(c for c in columns if c not in data.columns)
    if missing:
        raise ValueError(
            f"column(s) {', '.join(map(repr, missing))} used in formula {formula!r} are not in the data "
            f"(columns: {', '.join(map(str, data.columns))})"
        )
    used = [c for c in data.columns if c in columns]
    with_nan = [c for c in used if data[c].isna().any()]
    if with_nan:
        counts = ", ".join(
            f"{c!r} ({int(data[c].isna().sum())} missing, rows {list(data.index[data[c].isna()][:5])})" for c in with_nan
        )
        raise ValueError(f"NaN in column(s) used by the formula: {counts}; drop or impute those rows first")
    for name in sorted(response):
        column = data[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise ValueError(f"response column {name!r} must be numeric, found dtype {column.dtype}")
    return keep_level_order(data[used])  # first category = reference level, as in R


def model_matrix(formula: str, frame: pd.DataFrame) -> Design:
    """Response and model matrix of a formula without bars, on a :func:`checked_frame`."""
    import formulae

    matrices = formulae.design_matrices(formula, frame, na_action="error")
    common = matrices.common.as_dataframe()
    y = np.asarray(matrices.response.design_matrix, dtype=float)
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"response of {formula!r} must be a single numeric column")
    return Design(y.ravel(), common.to_numpy(dtype=float), list(common.columns), matrices.response.name)


def design(formula: str, data: pd.DataFrame) -> Design:
    """Checked response and fixed-effects design matrix of ``formula`` (no random-effect bars)."""
    response, used = variables(formula)
    return model_matrix(formula, checked_frame(data, used, response, formula))


def aliased_columns(X: np.ndarray, names) -> list[str]:
    """Names of the columns that are linear combinations of the columns before them.

    These are the coefficients R's ``lm`` reports as ``NA``. One QR decomposition
    with column pivoting finds the rank r and the null space of X (pivoted
    coordinates ``[-R11^-1 R12; I]``); column j is aliased exactly when some null
    vector ends at j, that is when row j of the null basis is independent of the
    rows after it.
    """
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    if p == 0:
        return []
    scale = np.linalg.norm(X, axis=0)
    R, perm = linalg.qr(X / np.where(scale > 0, scale, 1.0), mode="r", pivoting=True)
    diagonal = np.abs(np.diag(R))
    tol = max(n, p) * np.finfo(float).eps * diagonal[0]
    rank = int(np.sum(diagonal > tol))
    if rank == p:
        return []
    null = np.zeros((p, p - rank))
    null[perm[:rank]] = -linalg.solve_triangular(R[:rank, :rank], R[:rank, rank:p])
    null[perm[rank:]] = np.eye(p - rank)
    null /= np.abs(null).max(axis=0)
    aliased, basis = [], np.zeros((0, p - rank))  # orthonormal basis of the rows seen so far
    for j in reversed(range(p)):
        row = null[j] - basis.T @ (basis @ null[j])
        if np.linalg.norm(row) > 1e-8:
            aliased.append(j)
            basis = np.vstack([basis, row / np.linalg.norm(row)])
            if len(aliased) == p - rank:
                break
    return [list(names)[j] for j in sorted(aliased)]


def check_full_rank(X: np.ndarray, names) -> None:
    """Raise a ValueError when X has no more rows than columns or a column is aliased (named)."""
    n, p = X.shape
    if n <= p:
        raise ValueError(f"need more observations than coefficients: {n} rows, {p} columns ({', '.join(names)})")
    aliased = aliased_columns(X, names)
    if aliased:
        which = ", ".join(map(repr, aliased))
        raise ValueError(
            f"the design matrix is rank deficient (rank {p - len(aliased)} < {p} columns; a rank-deficient design "
            f"has no unique estimates): {'column' if len(aliased) == 1 else 'columns'} {which} "
            f"{'is a linear combination' if len(aliased) == 1 else 'are linear combinations'} of the columns "
            f"before {'it' if len(aliased) == 1 else 'them'} ({', '.join(names)}); remove or recode that term"
        )


def split_random_terms(formula: str) -> tuple[str, str, list[tuple[str, str]]]:
    """Split ``y ~ fixed + (expr | factor)`` into (response, fixed rhs, [(expr, factor), ...]).

    A nested factor is expanded as lme4 does: ``(expr | a/b)`` = ``(expr | a) + (expr | a:b)``.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise ValueError(f"formula must be a string 'response ~ terms', got {formula!r}")
    response, rhs = (part.strip() for part in formula.split("~"))
    if not response:
        raise ValueError(f"formula {formula!r} has no response on the left of '~'")
    # Scan for top-level parentheses that contain a bar; what is left is the fixed part.
    bars, kept, depth, start, chunk_start = [], [], 0, 0, 0
    for i, ch in enumerate(rhs):
        if ch == "(":
            start = i if depth == 0 else start
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in formula {formula!r}")
            inner = rhs[start + 1 : i]
            if depth == 0 and "|" in inner:
                expr, factor = (part.strip() for part in inner.split("|", 1))
                if not expr or not factor or "|" in factor:
                    raise ValueError(f"cannot read random-effect term '({inner})' in {formula!r}")
                bars.append((expr, factor))
                kept.append(rhs[chunk_start:start])
                chunk_start = i + 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in formula {formula!r}")
    kept.append(rhs[chunk_start:])
    pieces = [p.strip() for p in " ".join(kept).split("+")]
    fixed = " + ".join(p for p in pieces if p) or "1"
    if not bars:
        raise ValueError(f"formula {formula!r} has no random-effect term like (1 | group); use lmmteach.ols for OLS")
    nested = []
    for expr, factor in bars:
        parts = [p.strip() for p in factor.split("/")]
        nested += [(expr, ":".join(parts[: j + 1])) for j in range(len(parts))]
    return response, fixed, nested
