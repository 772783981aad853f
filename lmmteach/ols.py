"""Ordinary least squares from the normal equations, with an R-style summary.

The normal equations X'X b = X'y are solved through the QR decomposition
X = QR (then R b = Q'y, a triangular solve): it gives the same answer as
inverting X'X without squaring the condition number of X. Everything a
first regression course needs comes out of the same factorisation: standard
errors from R, leverages (hat values) as the row sums of Q squared, and
Cook's distances from the residuals and the leverages.

    >>> from lmmteach.data import load_ciproxifan
    >>> from lmmteach import ols
    >>> result = ols.fit("WAKE ~ Treatment * Genotype", load_ciproxifan())
    >>> print(result.summary())            # shaped like R's summary(lm(...))

Design matrices come from ``formulae`` (Bambi's formula engine). A pandas
categorical column uses its *first* category as the reference level, as in R
and statsmodels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats

from lmmteach.formulas import keep_level_order

__all__ = ["OLSResult", "fit", "design", "normal_equations_solve"]


@dataclass(frozen=True)
class OLSResult:
    """A fitted linear model: estimates, inference and per-observation diagnostics."""

    params: pd.Series          # coefficient estimates
    bse: pd.Series             # standard errors
    tvalues: pd.Series         # estimate / standard error
    pvalues: pd.Series         # two-sided, t distribution with df_resid degrees of freedom
    cov_params: pd.DataFrame   # sigma^2 (X'X)^-1
    sigma: float               # residual standard error, sqrt(RSS / df_resid)
    df_resid: int
    df_model: int              # number of coefficients, minus one if there is an intercept
    rsquared: float
    rsquared_adj: float
    fvalue: float              # overall F test against the intercept-only (or empty) model
    f_pvalue: float
    fittedvalues: np.ndarray
    resid: np.ndarray
    hat: np.ndarray            # leverages, the diagonal of X (X'X)^-1 X'
    std_resid: np.ndarray      # internally studentised residuals, resid / (sigma sqrt(1 - h))
    cooks_distance: np.ndarray
    response: str = "y"
    formula: str | None = None

    @property
    def nobs(self) -> int:
        return len(self.resid)

    @property
    def n_params(self) -> int:
        return len(self.params)

    def coef_table(self) -> pd.DataFrame:
        """The coefficient table: Estimate, Std. Error, t value, Pr(>|t|)."""
        return pd.DataFrame(
            {"Estimate": self.params, "Std. Error": self.bse, "t value": self.tvalues, "Pr(>|t|)": self.pvalues}
        )

    def summary(self) -> str:
        """A text summary laid out like R's ``summary(lm(...))``."""
        lines = []
        if self.formula:
            lines += [f"Formula: {self.formula}", ""]
        q = np.quantile(self.resid, [0, 0.25, 0.5, 0.75, 1])
        lines += ["Residuals:", "     Min       1Q   Median       3Q      Max",
                  " ".join(f"{v:8.4f}" for v in q), "", "Coefficients:"]
        width = max(len(n) for n in self.params.index)
        lines.append(f"{'':<{width}} {'Estimate':>10} {'Std. Error':>10} {'t value':>8} {'Pr(>|t|)':>10}")
        for name in self.params.index:
            p = self.pvalues[name]
            lines.append(
                f"{name:<{width}} {self.params[name]:10.4f} {self.bse[name]:10.4f} "
                f"{self.tvalues[name]:8.3f} {p:10.3g} {_stars(p)}".rstrip()
            )
        lines += [
            "---",
            "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1",
            "",
            f"Residual standard error: {self.sigma:.4g} on {self.df_resid} degrees of freedom",
            f"Multiple R-squared:  {self.rsquared:.4g},\tAdjusted R-squared:  {self.rsquared_adj:.4g}",
        ]
        if self.df_model > 0:
            lines.append(
                f"F-statistic: {self.fvalue:.4g} on {self.df_model} and {self.df_resid} DF,  p-value: {self.f_pvalue:.4g}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _stars(p: float) -> str:
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def design(formula: str, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Response vector, design matrix, column names and response name for ``formula``.

    Checks the input first so that errors name the problem: a missing column,
    a missing value in a used column, a non-numeric response.
    """
    import formulae

    if not isinstance(formula, str) or "~" not in formula:
        raise ValueError(f"formula must be a string like 'y ~ x', got {formula!r}")
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    description = formulae.model_description(formula)
    if description.response is None:
        raise ValueError(f"formula {formula!r} has no response (left-hand side)")
    used = sorted(description.var_names)
    missing = [name for name in used if name not in data.columns]
    if missing:
        raise ValueError(f"column(s) {missing} used in {formula!r} not found in data; available: {list(data.columns)}")
    for name in used:
        if data[name].isna().any():
            rows = list(data.index[data[name].isna()][:5])
            raise ValueError(f"column {name!r} has missing values (NaN) at rows {rows}; drop or impute them first")
    response_vars = sorted(description.response.var_names)
    for name in response_vars:
        if not pd.api.types.is_numeric_dtype(data[name]) or pd.api.types.is_bool_dtype(data[name]):
            raise ValueError(f"response column {name!r} must be numeric, found dtype {data[name].dtype}")

    frame = keep_level_order(data[used])  # first category = reference level, as in R
    matrices = formulae.design_matrices(formula, frame, na_action="error")
    X_frame = matrices.common.as_dataframe()
    y = np.asarray(matrices.response.design_matrix, dtype=float)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise ValueError(f"response of {formula!r} must be a single numeric column")
        y = y[:, 0]
    return np.asarray(X_frame, dtype=float), y, list(X_frame.columns), matrices.response.name


def _check_arrays(X, y, names):
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array, got shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
        raise ValueError(f"y (the response) must be numeric, got dtype {y.dtype}")
    y = y.astype(float)
    if len(y) != X.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but y has {len(y)} values")
    if not np.all(np.isfinite(X)):
        raise ValueError("X has NaN or infinite values")
    if not np.all(np.isfinite(y)):
        raise ValueError("y has NaN or infinite values")
    if names is None:
        names = [f"x{j}" for j in range(X.shape[1])]
    names = list(names)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names given for {X.shape[1]} columns of X")
    n, p = X.shape
    if n <= p:
        raise ValueError(f"need more observations than coefficients: {n} rows, {p} columns")
    rank = np.linalg.matrix_rank(X)
    if rank < p:
        # name the first column that is a linear combination of the ones before it
        aliased = next(j for j in range(1, p + 1) if np.linalg.matrix_rank(X[:, :j]) < j) - 1
        raise ValueError(
            f"design matrix is rank deficient (rank {rank} < {p} columns): "
            f"column {names[aliased]!r} is a linear combination of the columns before it"
        )
    return X, y, names


def normal_equations_solve(X, y):
    """Solve X'X b = X'y through X = QR: R b = Q'y. Returns (b, Q, R)."""
    Q, R = np.linalg.qr(X, mode="reduced")
    b = linalg.solve_triangular(R, Q.T @ y, lower=False)
    return b, Q, R


def fit(formula_or_X, data_or_y, *, names=None, response: str = "y") -> OLSResult:
    """Fit a linear model by least squares.

    ``fit("y ~ x * g", frame)`` builds the design with formulae;
    ``fit(X, y, names=[...])`` takes a design matrix and a response directly.
    """
    formula = None
    if isinstance(formula_or_X, str):
        formula = formula_or_X
        X, y, names, response = design(formula, data_or_y)
    else:
        X, y = formula_or_X, data_or_y
        if isinstance(X, pd.DataFrame) and names is None:
            names = list(X.columns)
    X, y, names = _check_arrays(X, y, names)

    n, p = X.shape
    b, Q, R = normal_equations_solve(X, y)
    fitted = X @ b
    resid = y - fitted
    df_resid = n - p
    rss = float(resid @ resid)
    sigma2 = rss / df_resid

    R_inv = linalg.solve_triangular(R, np.eye(p), lower=False)   # (X'X)^-1 = R^-1 R^-T
    cov = sigma2 * (R_inv @ R_inv.T)
    se = np.sqrt(np.diag(cov))
    t = b / se
    pvals = 2 * stats.t.sf(np.abs(t), df_resid)

    hat = np.sum(Q**2, axis=1)
    std_resid = resid / np.sqrt(sigma2 * (1 - hat))
    cooks = std_resid**2 * hat / ((1 - hat) * p)

    has_intercept = bool(np.any(np.all(X == X[:1], axis=0) & (X[0] != 0)))
    tss = float(np.sum((y - y.mean()) ** 2)) if has_intercept else float(y @ y)
    df_model = p - 1 if has_intercept else p
    r2 = 1 - rss / tss
    r2_adj = 1 - (1 - r2) * (n - has_intercept) / df_resid
    if df_model > 0:
        fvalue = ((tss - rss) / df_model) / sigma2
        f_p = float(stats.f.sf(fvalue, df_model, df_resid))
    else:
        fvalue, f_p = float("nan"), float("nan")

    index = pd.Index(names)
    return OLSResult(
        params=pd.Series(b, index=index, name="Estimate"),
        bse=pd.Series(se, index=index, name="Std. Error"),
        tvalues=pd.Series(t, index=index, name="t value"),
        pvalues=pd.Series(pvals, index=index, name="Pr(>|t|)"),
        cov_params=pd.DataFrame(cov, index=index, columns=index),
        sigma=float(np.sqrt(sigma2)),
        df_resid=int(df_resid),
        df_model=int(df_model),
        rsquared=float(r2),
        rsquared_adj=float(r2_adj),
        fvalue=float(fvalue),
        f_pvalue=f_p,
        fittedvalues=fitted,
        resid=resid,
        hat=hat,
        std_resid=std_resid,
        cooks_distance=cooks,
        response=response,
        formula=formula,
    )
