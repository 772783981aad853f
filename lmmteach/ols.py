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

Design matrices and input checks come from :mod:`lmmteach.formulas`
(formulae, Bambi's formula engine): a pandas categorical column uses its
*first* category as the reference level, as in R and statsmodels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats

from lmmteach.formulas import check_full_rank, design

__all__ = ["OLSResult", "fit", "normal_equations_solve"]


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


def _check_arrays(X, y, names):
    """X as a 2-D float array, y as a 1-D float array and the column names, after checking them."""
    try:
        X = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"X (the design matrix) must hold numbers, got {type(X).__name__} with a non-numeric value; "
                        "for a formula pass fit('y ~ x', data)") from None
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
    if np.ptp(y) == 0:
        raise ValueError(f"y (the response) has the same value ({y[0]:g}) in every row: nothing to fit")
    if isinstance(names, str):
        raise TypeError(f"names must be a list with one name per column of X, got the string {names!r}")
    names = [f"x{j}" for j in range(X.shape[1])] if names is None else list(names)
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} names given for {X.shape[1]} columns of X")
    check_full_rank(X, names)
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
        fixed = design(formula, data_or_y)
        X, y, names, response = fixed.X, fixed.y, fixed.names, fixed.response
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
    at_one = hat > 1 - 1e-8  # leverage 1 up to rounding: the fit passes through the point, 0/0 below (R: NaN)
    with np.errstate(divide="ignore", invalid="ignore"):
        std_resid = np.where(at_one, np.nan, resid / np.sqrt(sigma2 * (1 - hat)))
        cooks = np.where(at_one, np.nan, std_resid**2 * hat / ((1 - hat) * p))

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
