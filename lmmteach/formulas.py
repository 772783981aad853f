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
    "check_syntax",
    "FUNCTIONS",
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


# Functions a formula may call besides formulae's own (C, I, center, scale, ...), as in R: log(y), sqrt(x).
FUNCTIONS = {name: getattr(np, name) for name in ("log", "log2", "log10", "log1p", "exp", "sqrt", "abs")}


def check_syntax(formula: str) -> None:
    """Raise a ValueError that says what is wrong with a formula's shape, before formulae parses it."""
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string like 'y ~ x', got {type(formula).__name__}")
    if formula.count("~") != 1:
        raise ValueError(f"formula must be a string like 'y ~ x' with one '~', got {formula!r}")
    response, rhs = (part.strip() for part in formula.split("~"))
    if not response:
        raise ValueError(f"formula {formula!r} has no response (left-hand side of '~')")
    if not rhs:
        raise ValueError(f"formula {formula!r} has nothing on the right of '~' (write '1' for an intercept only)")
    for opening, closing in ("()", "{}"):
        depth = 0
        for ch in formula:
            depth += (ch == opening) - (ch == closing)
            if depth < 0:
                break
        if depth != 0:
            raise ValueError(f"unbalanced parentheses in formula {formula!r}: "
                             f"{formula.count(opening)} '{opening}' and {formula.count(closing)} '{closing}'")
    compact = "".join(rhs.split())
    if compact.endswith(("+", "*", ":", "-")) or compact.startswith(("+", "*", ":")):
        raise ValueError(f"formula {formula!r} has an operator with no term on one side; remove it or add the term")
    if any(pair in compact for pair in ("++", "+)", "(+", "+*", "+:", "*+", ":+", "|+", "+|")):
        raise ValueError(f"formula {formula!r} has an empty term (two operators in a row); remove one")


def _description(formula: str):
    import formulae

    check_syntax(formula)
    try:
        return formulae.model_description(formula)
    except Exception as err:  # formulae raises several types for bad syntax
        raise ValueError(f"cannot parse formula {formula!r}: {err}") from err


def variables(formula: str) -> tuple[set[str], set[str]]:
    """The data columns of a formula's response, and every data column it uses (bars excluded)."""
    description = _description(formula)
    if description.response is None:
        raise ValueError(f"formula {formula!r} has no response (left-hand side)")
    names = lambda found: {name for name in found if name}  # noqa: E731  formulae lists '' for {x**2} and I(x**2)
    return names(description.response.var_names), names(description.var_names)


def checked_frame(data: pd.DataFrame, columns, response, formula: str, factors=()) -> pd.DataFrame:
    """The used ``columns`` of ``data`` (in data order), ready for formulae.

    Raises a TypeError if data is not a DataFrame, and a ValueError naming a
    column that is missing, has a NaN, mixes types, holds dates or numbers
    stored as text (except the grouping ``factors``, where labels may be
    anything), or -- for the ``response`` columns -- is not numeric, is
    infinite or is constant. A nullable integer or float response (``Int64``)
    without missing values is used as float.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError(f"data has no rows (columns: {', '.join(map(str, data.columns)) or 'none'})")
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
    frame = data[used].copy()
    for name in used:
        if name not in response:  # the response gets its own checks below
            _check_column_type(frame[name], name, is_factor=name in set(factors))
    for name in sorted(response):
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise ValueError(f"response column {name!r} must be numeric (float or integer), found dtype {column.dtype}"
                             + ("; use .astype(float) for a 0/1 response" if pd.api.types.is_bool_dtype(column) else ""))
        values = column.to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            rows = list(frame.index[~np.isfinite(values)][:5])
            raise ValueError(f"response column {name!r} has infinite values (rows {rows})")
        if np.ptp(values) == 0:
            raise ValueError(f"response column {name!r} has the same value ({values[0]:g}) in every row: nothing to fit")
        frame[name] = values
    return keep_level_order(frame)  # first category = reference level, as in R


def _check_column_type(column: pd.Series, name: str, is_factor: bool) -> None:
    """Refuse a column formulae would misread: mixed types, dates, numbers stored as text."""
    if pd.api.types.is_datetime64_any_dtype(column) or isinstance(column.dtype, pd.PeriodDtype):
        if not is_factor:
            raise ValueError(f"column {name!r} holds dates ({column.dtype}); use a number such as days since the "
                             f"start, (column - column.min()).dt.days, or a category")
        return
    if isinstance(column.dtype, pd.CategoricalDtype):
        return  # a declared factor: numeric-looking labels ("0", "3", "10") are meant as levels
    if column.dtype != object and not pd.api.types.is_string_dtype(column):
        return
    kinds = {type(v).__name__ for v in column}
    if len(kinds) > 1:
        raise ValueError(f"column {name!r} mixes types ({', '.join(sorted(kinds))}); convert it to one type, "
                         "e.g. .astype(str) for labels or pd.to_numeric(...) for numbers")
    if is_factor or kinds != {"str"}:
        return
    numbers = pd.to_numeric(column, errors="coerce")
    if numbers.notna().all():
        raise ValueError(
            f"column {name!r} holds numbers stored as text (e.g. {column.iloc[0]!r}); it would become a factor with "
            f"{column.nunique()} levels. Use pd.to_numeric(data[{name!r}]) for a number or "
            f"pd.Categorical(data[{name!r}]) if it really is a factor"
        )


def model_matrix(formula: str, frame: pd.DataFrame) -> Design:
    """Response and model matrix of a formula without bars, on a :func:`checked_frame`."""
    import formulae

    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # log(0), sqrt(-1): named below instead
            matrices = formulae.design_matrices(formula, frame, na_action="error", extra_namespace=FUNCTIONS)
    except (KeyError, NameError) as err:
        raise ValueError(
            f"formula {formula!r} calls an unknown function or name {err}; supported: formulae's own (C, I, center, "
            f"scale, standardize, {{x**2}} for Python expressions) and {', '.join(FUNCTIONS)}"
        ) from err
    except ValueError as err:
        raise ValueError(f"cannot build the design of {formula!r}: {err}") from err
    if matrices.common is None:
        raise ValueError(f"formula {formula!r} has no columns on the right of '~' (no intercept and no predictor)")
    common = matrices.common.as_dataframe()
    y = np.asarray(matrices.response.design_matrix, dtype=float)
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"response of {formula!r} must be a single numeric column")
    for label, values in [(matrices.response.name, y.reshape(len(y), -1)), *common.items()]:
        bad = ~np.isfinite(np.asarray(values, dtype=float).reshape(len(y), -1)).all(axis=1)
        if bad.any():
            raise ValueError(
                f"{label!r} in {formula!r} is NaN or infinite in {int(bad.sum())} row(s) (rows "
                f"{list(frame.index[bad][:5])}): an infinite value in the data, or a log/sqrt of a non-positive number"
            )
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
    check_syntax(formula)
    response, rhs = (part.strip() for part in formula.split("~"))
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
