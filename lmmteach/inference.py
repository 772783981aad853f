"""p-values and intervals for linear mixed models, from scratch on :mod:`lmmteach.reml`.

lme4 prints no p-values: for an unbalanced mixed model the t statistic of a
fixed effect has no exact t distribution, and the question is which
denominator degrees of freedom to use. This module gives the answers R users
reach for, checked against R (``tests/fixtures/inference_reference.json``):

* :func:`coef_table` -- lmerTest's ``summary`` table with ``ddf="satterthwaite"``
  (lmerTest's construction, derived in :func:`satterthwaite_df`), ``"kenward-roger"``
  (pbkrtest's adjusted covariance and df), ``"residual"`` (n - p, as ``lm``) or
  ``"wald"`` (normal, infinite df);
* :func:`estimate` (any linear combinations with intervals, emmeans-style),
  :func:`contrast` (F test of a set of contrasts) and :func:`anova` (lmerTest's
  type III table);
* :func:`lrt` (likelihood ratio test; ML refits when the fixed effects differ,
  the 50:50 chi-square mixture for a variance component on the boundary) and
  :func:`parametric_bootstrap` (pbkrtest's ``PBmodcomp`` idea) built on
  :func:`simulate` and ``MixedLMResult.refit``;
* :func:`profile_ci` (lme4's ``confint(method = "profile")``) and :func:`wald_ci`.

Accuracy against R (lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2) on eight
designs (tests/test_inference.py): Satterthwaite and Kenward-Roger df agree to
a relative 2e-6 (Kenward-Roger to 1e-7), their p-values to 6e-5 (the largest
gap is for p ~ 1e-14), type III F statistics to 5e-7, LRT statistics to 1e-12
(they are differences of deviances of about 200), profile interval limits to
4e-4 relative (lme4 interpolates its profile with a spline; here each limit is
a root of the profiled deviance).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from lmmteach.batched import RandomIntercept
from lmmteach.progress import enabled
from lmmteach.reml import MixedLMResult, SingularFitWarning

__all__ = [
    "DDF_METHODS",
    "coef_table",
    "estimate",
    "contrast",
    "anova",
    "type3_contrasts",
    "satterthwaite_df",
    "kenward_roger",
    "LRTResult",
    "lrt",
    "simulate",
    "simulate_model",
    "BootstrapResult",
    "parametric_bootstrap",
    "profile_ci",
    "wald_ci",
]

DDF_METHODS = ("satterthwaite", "kenward-roger", "residual", "wald")


# -- checks ---------------------------------------------------------------


def _checked_fit(fit, what="fit") -> MixedLMResult:
    if not isinstance(fit, MixedLMResult):
        raise TypeError(f"{what} must be a result of lmmteach.reml.fit, got {type(fit).__name__}")
    if fit.model is None:
        raise ValueError(f"{what} does not carry its model; fit it with lmmteach.reml.fit")
    return fit


def _checked_ddf(ddf: str) -> str:
    method = str(ddf).lower().replace("_", "-").replace(" ", "-")
    method = {"kr": "kenward-roger", "kenward-roger": "kenward-roger", "satterthwaite": "satterthwaite",
              "residual": "residual", "wald": "wald", "normal": "wald"}.get(method)
    if method is None:
        raise ValueError(f"ddf must be one of {', '.join(DDF_METHODS)}; got {ddf!r}")
    return method


def _contrast_matrix(fit: MixedLMResult, L) -> np.ndarray:
    """L as a (q, p) array; a Series or DataFrame is aligned on the fixed-effect names."""
    names = list(fit.fe_params.index)
    if isinstance(L, (pd.Series, pd.DataFrame)):
        labels = L.index if isinstance(L, pd.Series) else L.columns
        unknown = [str(c) for c in labels if c not in names]
        if unknown:
            raise ValueError(f"contrast names {unknown} are not fixed effects of the model ({', '.join(names)})")
        L = L.reindex(names, fill_value=0.0) if isinstance(L, pd.Series) else L.reindex(columns=names, fill_value=0.0)
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.ndim != 2 or L.shape[1] != len(names):
        raise ValueError(
            f"a contrast needs one weight per fixed effect ({len(names)}: {', '.join(names)}); got shape {L.shape}"
        )
    if not np.all(np.isfinite(L)) or L.shape[0] == 0 or np.all(L == 0):
        raise ValueError("a contrast must have finite weights, at least one row and one non-zero weight")
    return L


# -- Satterthwaite --------------------------------------------------------


def _varpar_deviance(model, varpar: np.ndarray) -> float:
    """The (restricted) deviance as a function of (theta, sigma), not profiled over sigma.

    ``-2 l_R(theta, sigma) = log|L|^2 + log|R_X|^2 + (n - p) log(2 pi sigma^2) + r2(theta) / sigma^2``
    (ML: no ``log|R_X|^2`` and n instead of n - p); minimising over sigma gives
    sigma^2 = r2 / (n - p) and the profiled criterion of :mod:`lmmteach.reml`.
    """
    theta, sigma = varpar[:-1], varpar[-1]
    solution = model.solve(theta)  # its r2 comes from the residual itself: no cancellation
    value = solution.pieces.logdet_L + model.dof * np.log(2 * np.pi * sigma**2) + solution.r2 / sigma**2
    if model.method == "REML":
        value += 2.0 * np.log(np.abs(np.diag(solution.RX))).sum()
    return float(value)


def _covbeta(model, theta: np.ndarray, sigma: float) -> np.ndarray:
    """sigma^2 (R_X' R_X)^-1: the covariance of the fixed effects at (theta, sigma)."""
    RX = model.solve(theta).RX
    RX_inv = linalg.solve_triangular(RX, np.eye(RX.shape[0]))
    return sigma**2 * RX_inv @ RX_inv.T


def _steps(x: np.ndarray, relative: float) -> np.ndarray:
    return relative * np.maximum(np.abs(x), 0.1)


def _hessian(f, x: np.ndarray, relative: float = 3e-4) -> np.ndarray:
    """Central-difference Hessian (second-order accurate) of a smooth scalar function."""
    h = _steps(x, relative)
    k = len(x)
    f0 = f(x)
    H = np.empty((k, k))
    E = np.diag(h)
    for i in range(k):
        H[i, i] = (f(x + E[i]) - 2 * f0 + f(x - E[i])) / h[i] ** 2
        for j in range(i):
            H[i, j] = H[j, i] = (
                f(x + E[i] + E[j]) - f(x + E[i] - E[j]) - f(x - E[i] + E[j]) + f(x - E[i] - E[j])
            ) / (4 * h[i] * h[j])
    return H


@dataclass
class _Satterthwaite:
    """What Satterthwaite's df need once per fit: A = 2 H^-1 and the Jacobian of Cov(beta-hat)."""

    vcov_varpar: np.ndarray  # (k, k) asymptotic covariance of (theta, sigma)
    jacobian: np.ndarray  # (k, p, p) d Cov(beta-hat) / d varpar_i


def _satterthwaite_parts(fit: MixedLMResult) -> _Satterthwaite:
    model = fit.model
    varpar = np.append(fit.theta, fit.sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        H = _hessian(lambda v: _varpar_deviance(model, v), varpar)
    values, vectors = np.linalg.eigh(H)
    keep = values > 1e-8  # lmerTest: a pseudo-inverse over the positive eigenvalues
    vcov_varpar = 2 * (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    # Jacobian: sigma enters as sigma^2 (analytic); theta by central differences.
    base = _covbeta(model, fit.theta, 1.0)
    jac = []
    h = _steps(fit.theta, 1e-4)
    for i in range(len(fit.theta)):
        e = np.zeros_like(fit.theta)
        e[i] = h[i]
        jac.append(fit.sigma**2 * (_covbeta(model, fit.theta + e, 1.0) - _covbeta(model, fit.theta - e, 1.0)) / (2 * h[i]))
    jac.append(2 * fit.sigma * base)
    return _Satterthwaite(vcov_varpar, np.array(jac))


def satterthwaite_df(fit: MixedLMResult, L, parts: _Satterthwaite | None = None) -> np.ndarray:
    """Satterthwaite's denominator df of each row l of L for the contrast l'beta-hat (lmerTest's construction).

    The t statistic ``t = l'beta-hat / sqrt(v)`` uses the estimated variance
    ``v(phi-hat) = l' C(phi-hat) l``, where ``C(phi) = sigma^2 (X' V_theta^-1 X)^-1``
    is the covariance of beta-hat and ``phi = (theta, sigma)`` are the variance
    parameters. Satterthwaite (1946) matches ``v(phi-hat)`` with a scaled
    chi-square: if ``nu v(phi-hat) / v ~ chi2_nu`` then ``Var(v-hat) = 2 v^2 / nu``,
    so ``nu = 2 v^2 / Var(v-hat)``. By the delta method
    ``Var(v-hat) ~ g' A g`` with ``g = d v / d phi`` (g_i = l' (dC/dphi_i) l) and
    ``A`` the asymptotic covariance of phi-hat, the inverse of the observed
    information: ``A = 2 H^-1`` with H the Hessian of the REML deviance
    ``-2 l_R(theta, sigma)`` at the estimate. So

        nu = 2 (l' C l)^2 / (g' A g).

    Here H comes from central differences of the deviance (not profiled over
    sigma), dC/dsigma = 2 C / sigma exactly and dC/dtheta by central differences
    of ``sigma^2 (R_X' R_X)^-1``; steps of 1e-4 relative give df that agree with
    lmerTest's (Richardson-extrapolated numDeriv) to a relative 1e-6 on the
    course's designs. As in lmerTest, H is inverted over its positive eigenvalues
    (a variance parameter on the boundary contributes nothing).
    """
    fit = _checked_fit(fit)
    L = _contrast_matrix(fit, L)
    parts = parts or _satterthwaite_parts(fit)
    C = fit.cov_fe.to_numpy()
    v = np.einsum("qi,ij,qj->q", L, C, L)
    g = np.einsum("qi,kij,qj->qk", L, parts.jacobian, L)
    return 2 * v**2 / np.einsum("qk,kl,ql->q", g, parts.vcov_varpar, g)


# -- Kenward-Roger --------------------------------------------------------


@dataclass
class _KenwardRoger:
    """pbkrtest's vcovAdj: the adjusted covariance Phi_A with the pieces P and W its df need."""

    vcov: np.ndarray  # Phi_A
    P: list  # P_i = -X' V^-1 G_i V^-1 X
    W: np.ndarray  # 2 x inverse expected information of the covariance parameters


def _covariance_structure(fit: MixedLMResult):
    """V = sum_i gamma_i G_i (pbkrtest's parametrisation: variances, covariances, residual variance)."""
    model = fit.model
    n = model.n
    G, gamma = [], []
    for term, T in zip(model.terms, model.relative_factors(fit.theta)):
        Sigma = fit.sigma**2 * T @ T.T
        Zcols = []
        for a in range(term.k):
            Za = np.zeros((n, term.m))
            Za[np.arange(n), term.codes] = term.X[:, a]
            Zcols.append(Za)
        for b in range(term.k):  # lower triangle column by column, as lme4 and pbkrtest order them
            for a in range(b, term.k):
                G.append(Zcols[a] @ Zcols[a].T if a == b else Zcols[a] @ Zcols[b].T + Zcols[b] @ Zcols[a].T)
                gamma.append(Sigma[a, b])
    G.append(np.eye(n))
    gamma.append(fit.sigma**2)
    return G, np.array(gamma)


def kenward_roger(fit: MixedLMResult) -> _KenwardRoger:
    """Kenward & Roger's (1997) adjusted covariance of beta-hat, following pbkrtest's ``vcovAdj``.

    ``Phi_A = Phi + 2 Phi [sum_ij W_ij (Q_ij - P_i Phi P_j)] Phi`` with Phi the
    usual covariance, ``P_i = -X' V^-1 G_i V^-1 X``, ``Q_ij = X' V^-1 G_i V^-1 G_j V^-1 X``
    and W twice the inverse of the expected REML information
    ``tr(P G_i P G_j)`` of the (linear) covariance parameters.
    """
    fit = _checked_fit(fit)
    if fit.method != "REML":
        raise ValueError("Kenward-Roger's method needs a REML fit (as in pbkrtest); refit with method='REML'")
    X = fit.model.X
    G, gamma = _covariance_structure(fit)
    V = sum(g * Gi for g, Gi in zip(gamma, G))
    Vinv = linalg.cho_solve(linalg.cho_factor(V), np.eye(len(V)))
    Phi = fit.cov_fe.to_numpy()
    TT = Vinv @ X
    HH = [Gi @ Vinv for Gi in G]
    OO = [Hi @ X for Hi in HH]
    P = [-(O.T @ TT + (O.T @ TT).T) / 2 for O in OO]
    k = len(G)
    Q = {(r, s): OO[r].T @ Vinv @ OO[s] for r in range(k) for s in range(r, k)}
    IE2 = np.empty((k, k))
    for r in range(k):
        for s in range(r, k):
            IE2[r, s] = IE2[s, r] = (
                np.sum(HH[r].T * HH[s]) - 2 * np.sum(Phi * Q[r, s]) + np.sum((Phi @ P[r]) * (P[s] @ Phi))
            )
    W = 2 * (np.linalg.inv(IE2) if np.min(np.abs(np.linalg.eigvalsh(IE2))) > 1e-10 else np.linalg.pinv(IE2))
    U = np.zeros_like(Phi)
    for r in range(k):
        for s in range(r, k):
            term = W[r, s] * (Q[r, s] - P[r] @ Phi @ P[s])
            U += term if r == s else term + term.T
    return _KenwardRoger(Phi + 2 * Phi @ U @ Phi, P, W)


def _kr_df(L: np.ndarray, Phi: np.ndarray, kr: _KenwardRoger) -> tuple[float, float]:
    """pbkrtest's denominator df and F scaling for the hypothesis L beta = 0 (``.KR_adjust``)."""
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    TP = Theta @ Phi
    u = [TP @ Pi @ Phi for Pi in kr.P]
    A1 = A2 = 0.0
    for i in range(len(u)):
        for j in range(i, len(u)):
            e = 1 if i == j else 2
            A1 += e * kr.W[i, j] * np.trace(u[i]) * np.trace(u[j])
            A2 += e * kr.W[i, j] * np.sum(u[i] * u[j].T)
    q = np.linalg.matrix_rank(L)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1, c2, c3 = (np.array([g, q - g, q + 2 - g]) / (3 * q + 2 * (1 - g)))
    V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    ratio = 1.0 if abs(1 - A2 / q) < 1e-14 and abs(V1) < 1e-14 else (1 - A2 / q) / V1
    rho = ratio**2 * V0 / V2 / q
    df = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df - 2) < 0.01 else df * (1 - A2 / q) / (df - 2)
    return float(df), float(scaling)


# -- tables ---------------------------------------------------------------


def estimate(fit: MixedLMResult, L, ddf: str = "satterthwaite", level: float | None = 0.95) -> pd.DataFrame:
    """Each row of L as a linear combination l'beta: estimate, se, df, t, p (and a confidence interval).

    ``ddf`` picks the denominator degrees of freedom (see :data:`DDF_METHODS`);
    Kenward-Roger also replaces the covariance by its adjusted one. A Series or
    DataFrame L keeps its row labels.
    """
    fit = _checked_fit(fit)
    method = _checked_ddf(ddf)
    labels = L.index if isinstance(L, pd.DataFrame) else None
    L = _contrast_matrix(fit, L)
    beta = fit.fe_params.to_numpy()
    C = fit.cov_fe.to_numpy()
    if method == "satterthwaite":
        df = satterthwaite_df(fit, L)
    elif method == "kenward-roger":
        kr = kenward_roger(fit)
        C = kr.vcov
        df = np.array([_kr_df(row[None, :], fit.cov_fe.to_numpy(), kr)[0] for row in L])
    elif method == "residual":
        df = np.full(len(L), float(fit.nobs - len(beta)))
    else:
        df = np.full(len(L), np.inf)
    est = L @ beta
    se = np.sqrt(np.einsum("qi,ij,qj->q", L, C, L))
    t = est / se
    table = pd.DataFrame({"estimate": est, "se": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df)})
    if level is not None:
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level}")
        half = stats.t.ppf(0.5 + level / 2, df) * se
        table["lower"], table["upper"] = est - half, est + half
    if labels is not None:
        table.index = labels
    return table


def coef_table(fit: MixedLMResult, ddf: str = "satterthwaite") -> pd.DataFrame:
    """lmerTest's coefficient table: estimate, se, df, t, p per fixed effect, in formula order."""
    fit = _checked_fit(fit)
    table = estimate(fit, np.eye(len(fit.fe_params)), ddf=ddf, level=None)
    table.index = fit.fe_params.index
    return table


def contrast(fit: MixedLMResult, L, ddf: str = "satterthwaite") -> pd.Series:
    """F test of L beta = 0 for one or several contrasts (rows of L): lmerTest's ``contest``.

    Returns sum_sq, mean_sq, num_df, den_df, F and p (sums of squares on the
    residual scale, as lmerTest prints them).
    """
    fit = _checked_fit(fit)
    method = _checked_ddf(ddf)
    L = _contrast_matrix(fit, L)
    beta = fit.fe_params.to_numpy()
    C = fit.cov_fe.to_numpy()
    sigma2 = fit.sigma**2
    if method == "kenward-roger":
        kr = kenward_roger(fit)
        den_df, scaling = _kr_df(L, C, kr)
        q = np.linalg.matrix_rank(L)
        Lb = L @ beta
        F_unscaled = Lb @ np.linalg.solve(L @ kr.vcov @ L.T, Lb) / q
        return _f_row(F_unscaled * sigma2, q, den_df, F_unscaled * scaling)
    # Satterthwaite / residual / wald: rotate L onto the eigenvectors of L C L' (lmerTest's contestMD)
    values, vectors = np.linalg.eigh(L @ C @ L.T)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    keep = values > max(np.sqrt(np.finfo(float).eps) * values[0], 0)
    q = int(keep.sum())
    PL = (vectors.T @ L)[keep]
    F = float(np.sum((PL @ beta) ** 2 / values[keep]) / q)
    if method == "satterthwaite":
        nu = satterthwaite_df(fit, PL)
        den_df = _combined_df(nu)
    elif method == "residual":
        den_df = float(fit.nobs - len(beta))
    else:
        den_df = np.inf
    return _f_row(F * sigma2, q, den_df, F)


def _combined_df(nu: np.ndarray, tol: float = 1e-8) -> float:
    """One denominator df from per-direction Satterthwaite df (lmerTest's get_Fstat_ddf)."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = np.sum(nu / (nu - 2))
    return float(2 * E / (E - len(nu)))


def _f_row(mean_sq, q, den_df, F) -> pd.Series:
    p = stats.f.sf(F, q, den_df) if np.isfinite(den_df) else stats.chi2.sf(F * q, q)
    return pd.Series({"sum_sq": mean_sq * q, "mean_sq": mean_sq, "num_df": q, "den_df": den_df, "F": F, "p": p})


_LEVEL = re.compile(r"^(?P<var>[^\[\]]+?)(\[(?P<level>.*)\])?$")


def _column_parts(name: str) -> tuple[tuple[str, str | None], ...]:
    """formulae's column name -> ((variable, level or None), ...), e.g. dose[3]:Genotype[ko]."""
    parts = []
    for piece in name.split(":"):
        match = _LEVEL.match(piece)
        parts.append((match["var"], match["level"]))
    return tuple(parts)


def type3_contrasts(fit: MixedLMResult) -> dict[str, np.ndarray]:
    """lmerTest's type III hypotheses, one L per model term (intercept excluded).

    For treatment coding they are the term's columns plus, for every higher-order
    term that contains it (more factors, the same numeric variables), those
    columns averaged over the levels of the extra factors: the effect of a factor
    averaged over the other factors' levels, as SAS and lmerTest define type III.
    """
    fit = _checked_fit(fit)
    names = list(fit.fe_params.index)
    parts = [_column_parts(n) for n in names]
    n_levels: dict[str, int] = {}
    for pieces in parts:
        for var, level in pieces:
            if level is not None:
                n_levels.setdefault(var, set()).add(level)
    n_levels = {var: len(levels) + 1 for var, levels in n_levels.items()}  # + the reference level
    terms: dict[str, list[int]] = {}
    for j, pieces in enumerate(parts):
        if names[j] != "Intercept":
            terms.setdefault(":".join(v for v, _ in pieces), []).append(j)
    contrasts = {}
    for term, columns in terms.items():
        L = np.zeros((len(columns), len(names)))
        for row, j in enumerate(columns):
            mine = dict(parts[j])
            L[row, j] = 1.0
            for c, pieces in enumerate(parts):
                other = dict(pieces)
                extra = set(other) - set(mine)
                if c == j or not extra or any(other.get(v, "?") != lvl for v, lvl in mine.items()):
                    continue
                if any(other[v] is None for v in extra):  # a numeric variable more: not contained
                    continue
                L[row, c] = 1.0 / np.prod([n_levels[v] for v in extra])
        contrasts[term] = L
    return contrasts


def anova(fit: MixedLMResult, ddf: str = "satterthwaite", terms=None) -> pd.DataFrame:
    """lmerTest's type III anova table: one F test per model term (see :func:`type3_contrasts`).

    ``terms`` picks some of them by name (as in the index of the full table).
    """
    fit = _checked_fit(fit)
    _checked_ddf(ddf)
    hypotheses = type3_contrasts(fit)
    if terms is not None:
        terms = [terms] if isinstance(terms, str) else list(terms)
        unknown = [t for t in terms if t not in hypotheses]
        if unknown:
            raise ValueError(f"term(s) {unknown} are not in the model; its terms are: {', '.join(hypotheses) or 'none'}")
        hypotheses = {t: hypotheses[t] for t in terms}
    rows = {term: contrast(fit, L, ddf=ddf) for term, L in hypotheses.items()}
    columns = ["sum_sq", "mean_sq", "num_df", "den_df", "F", "p"]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns) if rows else pd.DataFrame(columns=columns)
    table["num_df"] = table["num_df"].astype(int)
    return table


def wald_ci(fit: MixedLMResult, level: float = 0.95) -> pd.DataFrame:
    """lme4's ``confint(method = "Wald")`` for the fixed effects: estimate +- z se."""
    fit = _checked_fit(fit)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame({"lower": fit.fe_params - z * fit.bse, "upper": fit.fe_params + z * fit.bse})


# -- likelihood ratio tests -------------------------------------------------


@dataclass(frozen=True)
class LRTResult:
    """A likelihood ratio test: statistic, df, p and how it was computed (``note``)."""

    statistic: float  # deviance(small) - deviance(big)
    df: int  # difference in the number of parameters
    p: float
    deviance_small: float
    deviance_big: float
    method: str  # "ML" or "REML": which likelihood was compared
    boundary: bool  # p from the 50:50 mixture of chi2(df - 1) and chi2(df)
    p_naive: float  # the plain chi2(df) p-value, for comparison
    note: str

    def __str__(self) -> str:
        return (f"LRT ({self.method}): chisq = {self.statistic:.4f} on {self.df} df, p = {self.p:.4g}"
                f"{'  [' + self.note + ']' if self.note else ''}")


def _ols_parts(small, big: MixedLMResult):
    """An lmmteach.ols fit as the model without random effects: its X is the big model's."""
    names_small = list(small.params.index)
    if names_small != list(big.fe_params.index):
        raise ValueError(
            "an OLS fit can stand for 'no random effects' only with the same fixed effects as the mixed model "
            f"({', '.join(names_small)} vs {', '.join(big.fe_params.index)})"
        )
    return big.model.X


def _same_data(small, big: MixedLMResult) -> None:
    y_small = small.model.y if isinstance(small, MixedLMResult) else small.fittedvalues + small.resid
    if len(y_small) != big.nobs or not np.allclose(y_small, big.model.y, rtol=1e-12, atol=1e-12):
        raise ValueError(
            f"the two models were fitted to different data ({len(y_small)} and {big.nobs} rows, or different "
            "responses); a likelihood ratio test compares two models of the same observations"
        )


def _nested_columns(X_small: np.ndarray, X_big: np.ndarray) -> bool:
    """Is every column of X_small in the column space of X_big?"""
    coef, *_ = np.linalg.lstsq(X_big, X_small, rcond=None)
    return bool(np.allclose(X_big @ coef, X_small, atol=1e-8 * max(1.0, np.abs(X_small).max())))


def _random_terms(fit: MixedLMResult) -> list[tuple[str, set]]:
    return [(t.factor, set(t.columns)) for t in fit.model.terms]


def _check_nested(small, big: MixedLMResult) -> None:
    if isinstance(small, MixedLMResult):
        X_small = small.model.X
        unmatched = list(_random_terms(big))
        for factor, columns in _random_terms(small):
            match = next((i for i, (f, c) in enumerate(unmatched) if f == factor and columns <= c), None)
            if match is None:
                raise ValueError(
                    f"the models are not nested: the small model's random term ({' + '.join(sorted(columns))} | "
                    f"{factor}) is not part of the big model's random effects"
                )
            unmatched.pop(match)
    else:
        X_small = _ols_parts(small, big)
    if not _nested_columns(X_small, big.model.X):
        raise ValueError(
            "the models are not nested: the small model's fixed effects are not contained in the big model's "
            "(compare nested models, or use information criteria for non-nested ones)"
        )


def _n_params(fit) -> int:
    if isinstance(fit, MixedLMResult):
        return fit.n_params
    return len(fit.params) + 1


def _ml_deviance(fit) -> float:
    """The ML deviance of a reml fit (refitted by ML when it was fitted by REML) or of an OLS fit."""
    if isinstance(fit, MixedLMResult):
        if fit.method == "ML":
            return fit.criterion
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitWarning)
            return fit.model.updated(method="ML").fit().criterion
    n = len(fit.resid)
    return float(n * (1 + np.log(2 * np.pi * np.sum(fit.resid**2) / n)))


def _reml_deviance(fit, X: np.ndarray) -> float:
    """The REML criterion of a reml fit, or of an OLS fit (theta = 0: log|X'X| + (n - p)(1 + log 2 pi s^2))."""
    if isinstance(fit, MixedLMResult):
        return fit.criterion
    n, p = X.shape
    rss = float(np.sum(fit.resid**2))
    return float(np.linalg.slogdet(X.T @ X)[1] + (n - p) * (1 + np.log(2 * np.pi * rss / (n - p))))


def lrt(small, big: MixedLMResult, boundary: bool = False) -> LRTResult:
    """Likelihood ratio test of a small model against a big one that contains it.

    ``small`` is a reml fit, or an ``lmmteach.ols`` fit with the same fixed
    effects (the model without random effects). When the fixed effects differ,
    both models are refitted by ML, as lme4's ``anova`` does (REML criteria of
    models with different fixed effects are not comparable); when only the
    random effects differ, the REML criteria are compared (lmerTest's ``ranova``).

    ``boundary=True``: the hypothesis puts a variance on the edge of its range
    (sigma_u = 0), where the statistic is not chi2(df) but, for one variance, a
    50:50 mixture of chi2(0) and chi2(1) (Self & Liang 1987; Stram & Lee 1994):
    the p-value is half the naive one.
    """
    big = _checked_fit(big, "big")
    if isinstance(small, MixedLMResult):
        _checked_fit(small, "small")
    elif not hasattr(small, "params") or not hasattr(small, "resid"):
        raise TypeError(f"small must be a reml or an ols fit, got {type(small).__name__}")
    _same_data(small, big)
    _check_nested(small, big)
    df = _n_params(big) - _n_params(small)
    if df <= 0:
        raise ValueError(f"the big model must have more parameters than the small one ({_n_params(big)} vs "
                         f"{_n_params(small)}); are the arguments swapped?")
    X_small = small.model.X if isinstance(small, MixedLMResult) else big.model.X
    same_fixed = X_small.shape == big.model.X.shape and _nested_columns(big.model.X, X_small)
    if same_fixed and big.method == "REML" and getattr(small, "method", "REML") == "REML":
        method, dev_small, dev_big = "REML", _reml_deviance(small, X_small), big.criterion
    else:
        method, dev_small, dev_big = "ML", _ml_deviance(small), _ml_deviance(big)
    statistic = max(dev_small - dev_big, 0.0)
    p_naive = float(stats.chi2.sf(statistic, df))
    if boundary:
        lower = stats.chi2.sf(statistic, df - 1) if df > 1 else float(statistic <= 0)
        p = float(0.5 * p_naive + 0.5 * lower)
        note = f"variance on the boundary: 50:50 mixture of chi2({df - 1}) and chi2({df})"
    else:
        p, note = p_naive, ("fixed effects differ: both models refitted by ML" if method == "ML" else "")
    return LRTResult(statistic, df, p, dev_small, dev_big, method, boundary, p_naive, note)


# -- simulation and the parametric bootstrap ---------------------------------


def simulate(fit: MixedLMResult, n: int = 1, seed: int | None = None, *, beta=None, theta=None,
             sigma: float | None = None) -> np.ndarray:
    """n new responses from the fitted model (lme4's ``simulate``): an (n, nobs) array.

    y = X beta + Z Lambda_theta u + e with u ~ N(0, sigma^2 I), e ~ N(0, sigma^2 I);
    ``beta``, ``theta`` and ``sigma`` default to the fit's estimates (give them to
    simulate from stated values on the same design).
    """
    fit = _checked_fit(fit)
    beta = fit.fe_params.to_numpy() if beta is None else beta
    theta = fit.theta if theta is None else theta
    sigma = fit.sigma if sigma is None else sigma
    return simulate_model(fit.model, beta, theta, sigma, n, seed)


def simulate_model(model, beta, theta, sigma: float, n: int = 1, seed: int | None = None) -> np.ndarray:
    """n responses (an (n, nobs) array) from a reml.MixedModel's design with the given parameters."""
    n = _checked_count(n, "n")
    beta, theta, sigma = np.asarray(beta, dtype=float), np.asarray(theta, dtype=float), float(sigma)
    n_theta = sum(t.n_theta for t in model.terms)
    if beta.shape != (model.p,) or theta.shape != (n_theta,) or not sigma > 0:
        raise ValueError(f"need beta of length {model.p}, theta of length {n_theta} and sigma > 0")
    rng = np.random.default_rng(seed)
    y = np.tile(model.X @ beta, (n, 1)) + sigma * rng.standard_normal((n, model.n))
    for term, T in zip(model.terms, model.relative_factors(theta)):
        b = sigma * rng.standard_normal((n, term.m, term.k)) @ T.T  # (n, levels, k)
        y += np.einsum("nk,snk->sn", term.X, b[:, term.codes, :])
    return y


def _checked_count(n, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
        raise ValueError(f"{what} must be a positive whole number of simulations, got {n!r}")
    return int(n)


def _tracked(chunks, progress: bool | None):
    """The bootstrap's chunks, with a progress bar when lmmteach.progress says so (or ``progress`` forces it)."""
    if not enabled(progress):
        return chunks
    from rich.progress import track

    return track(chunks, description="parametric bootstrap", transient=True)


@dataclass(frozen=True)
class BootstrapResult:
    """A parametric bootstrap LRT: the p-value with its Monte Carlo standard error."""

    statistic: float  # the observed LRT statistic
    p: float  # (1 + #{simulated >= observed}) / (n + 1)
    mc_se: float  # Monte Carlo standard error of p: sqrt(p (1 - p) / n)
    n: int
    simulated: np.ndarray  # the n simulated statistics
    lrt: LRTResult  # the asymptotic test on the observed data

    def __str__(self) -> str:
        return (f"parametric bootstrap LRT: chisq = {self.statistic:.4f}, p = {self.p:.4f} "
                f"(Monte Carlo SE {self.mc_se:.4f}, {self.n} simulations)")


def _batched(fit_or_model):
    """The batched random-intercept path for this fit's (or model's) design, or None when it does not apply."""
    try:
        return RandomIntercept(getattr(fit_or_model, "model", None) or fit_or_model)
    except ValueError:
        return None


def _small_deviances(small, big: MixedLMResult, method: str, Y: np.ndarray) -> np.ndarray:
    """The small model's criterion (``method``) for each row of Y."""
    if isinstance(small, MixedLMResult):
        batch = _batched(small)
        if batch is not None:
            return batch.fit(Y, method).criterion
        model = small.model.updated(method=method)
        return np.array([model.updated(y=y).fit().criterion for y in Y])
    X = big.model.X  # an OLS small model: closed form
    n, p = X.shape
    Q, _ = np.linalg.qr(X)
    rss = np.einsum("rn,rn->r", Y, Y) - np.sum((Y @ Q) ** 2, axis=1)
    if method == "ML":
        return n * (1 + np.log(2 * np.pi * rss / n))
    return np.linalg.slogdet(X.T @ X)[1] + (n - p) * (1 + np.log(2 * np.pi * rss / (n - p)))


def _lrt_statistics(small, big: MixedLMResult, method: str, Y: np.ndarray) -> np.ndarray:
    """The LRT statistic for each simulated response (rows of Y), refitting both models."""
    batch = _batched(big)
    if batch is not None:
        big_deviance = batch.fit(Y, method).criterion
    else:
        model = big.model.updated(method=method)
        big_deviance = np.array([model.updated(y=y).fit().criterion for y in Y])
    return np.maximum(_small_deviances(small, big, method, Y) - big_deviance, 0.0)


def parametric_bootstrap(small, big: MixedLMResult, n: int = 1000, seed: int | None = None,
                         progress: bool | None = None) -> BootstrapResult:
    """p-value of the LRT by simulation from the small model (pbkrtest's ``PBmodcomp``).

    Simulate ``n`` responses from the fitted small model (the null hypothesis),
    refit both models to each, and count how often the simulated statistic
    reaches the observed one: ``p = (1 + #{T* >= T}) / (n + 1)``, with Monte
    Carlo standard error ``sqrt(p (1 - p) / n)``. No chi-square approximation and
    no boundary argument are needed. A single random intercept is refitted for
    all simulations at once (:mod:`lmmteach.batched`), anything else one
    ``refit`` at a time. ``progress`` defaults to on for people and off under
    tests and CI.
    """
    n = _checked_count(n, "n")
    observed = lrt(small, big)
    if isinstance(small, MixedLMResult):
        ys = simulate(small, n, seed)
    else:
        rng = np.random.default_rng(seed)
        ys = small.fittedvalues + small.sigma * rng.standard_normal((n, big.nobs))
    chunks = np.array_split(np.arange(n), min(n, 20))
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)  # many null data sets give sigma_u = 0
        for chunk in _tracked(chunks, progress):
            parts.append(_lrt_statistics(small, big, observed.method, ys[chunk]))
    simulated = np.concatenate(parts)
    p = (1 + np.sum(simulated >= observed.statistic - 1e-10)) / (n + 1)
    return BootstrapResult(observed.statistic, float(p), float(np.sqrt(p * (1 - p) / n)), n, simulated, observed)


# -- profile-likelihood intervals ---------------------------------------------


def _psd_cholesky(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (a zero pivot gives a zero column)."""
    k = len(S)
    L = np.zeros_like(S)
    for j in range(k):
        d = S[j, j] - L[j, :j] @ L[j, :j]
        L[j, j] = np.sqrt(d) if d > 0 else 0.0
        for i in range(j + 1, k):
            L[i, j] = (S[i, j] - L[i, :j] @ L[j, :j]) / L[j, j] if L[j, j] > 0 else 0.0
    return L


class _VarianceProfile:
    """The ML deviance as a function of lme4's profile parameters: each term's SDs and correlations, then sigma."""

    def __init__(self, model):
        self.model = model
        self.names, self.kinds, self.slices = [], [], []
        labels, seen = [], {}
        for term in model.terms:
            count = seen.get(term.factor, 0)
            labels.append(term.factor if count == 0 else f"{term.factor}.{count}")
            seen[term.factor] = count + 1
        start = 0
        for term, label in zip(model.terms, labels):
            for b in range(term.k):  # the lower triangle column by column, as lme4's confint lists it
                for a in range(b, term.k):
                    if a == b:
                        self.names.append(f"sd_{term.columns[a]}|{label}")
                        self.kinds.append("sd")
                    else:
                        self.names.append(f"cor_{term.columns[a]}.{term.columns[b]}|{label}")
                        self.kinds.append("cor")
            self.slices.append(slice(start, start + term.n_theta))
            start += term.n_theta
        self.names.append("sigma")
        self.kinds.append("sigma")

    def from_theta(self, theta: np.ndarray, sigma: float) -> np.ndarray:
        values = []
        for term, T in zip(self.model.terms, self.model.relative_factors(theta)):
            Sigma = sigma**2 * T @ T.T
            sd = np.sqrt(np.diag(Sigma))
            for b in range(term.k):
                for a in range(b, term.k):
                    values.append(sd[a] if a == b else (Sigma[a, b] / (sd[a] * sd[b]) if sd[a] * sd[b] > 0 else 0.0))
        return np.array(values + [sigma])

    def to_theta(self, values: np.ndarray) -> tuple[np.ndarray, float]:
        sigma = values[-1]
        theta = []
        for term, part in zip(self.model.terms, self.slices):
            v = values[part]
            sd, R, i = np.zeros(term.k), np.eye(term.k), 0
            for b in range(term.k):
                for a in range(b, term.k):
                    if a == b:
                        sd[a] = v[i]
                    else:
                        R[a, b] = R[b, a] = v[i]
                    i += 1
            T = _psd_cholesky(sd[:, None] * R * sd[None, :]) / sigma
            rows, cols = np.tril_indices(term.k)
            order = np.lexsort((rows, cols))
            theta.extend(T[rows[order], cols[order]])
        return np.array(theta), sigma

    def deviance(self, values: np.ndarray) -> float:
        theta, sigma = self.to_theta(values)
        try:
            return _varpar_deviance(self.model, np.append(theta, sigma))
        except (np.linalg.LinAlgError, ValueError):
            return np.inf

    def bounds(self):
        return [(-1.0, 1.0) if k == "cor" else (1e-10 if k == "sigma" else 0.0, None) for k in self.kinds]


def _minimum_with(profile: _VarianceProfile, j: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
    """The deviance minimised over every parameter but the j-th, which is held at ``value``."""
    free = [i for i in range(len(start)) if i != j]

    def full(x):
        values = start.copy()
        values[free] = x
        values[j] = value
        return values

    bounds = [profile.bounds()[i] for i in free]
    with np.errstate(divide="ignore", invalid="ignore"):
        if len(free) == 1:  # one free parameter (a single random intercept): Brent's method on a bracket
            low, high = bounds[0][0], bounds[0][1] if bounds[0][1] is not None else 10 * (abs(start[free[0]]) + 1)
            best = optimize.minimize_scalar(lambda x: profile.deviance(full(np.array([x]))), bounds=(low, high),
                                            method="bounded", options={"xatol": 1e-9 * (abs(start[free[0]]) + 1)})
            return float(best.fun), full(np.array([best.x]))
        best = optimize.minimize(lambda x: profile.deviance(full(x)), start[free], method="L-BFGS-B", bounds=bounds,
                                 jac="3-point", options={"ftol": 1e-14, "gtol": 1e-10, "maxiter": 2000})
    return float(best.fun), full(best.x)


def _limit(excess, inside: float, outside: float) -> float:
    """The root of excess(v) = 0 between a point inside the interval and one outside it."""
    return float(optimize.brentq(excess, inside, outside, xtol=1e-9, rtol=1e-9))


def _outside(excess, start: float, step: float, direction: int, floor=None, ceiling=None) -> float | None:
    """Step away from the estimate until excess(v) > 0; None if a bound of the parameter comes first."""
    for _ in range(60):
        v = start + direction * step
        if floor is not None and v <= floor:
            return None
        if ceiling is not None and v >= ceiling:
            return None
        if excess(v) > 0:
            return v
        step *= 2
    raise RuntimeError("the profile did not reach the confidence limit; is the model identifiable?")


def profile_ci(fit: MixedLMResult, level: float = 0.95) -> pd.DataFrame:
    """Profile-likelihood confidence intervals (lme4's ``confint(method = "profile", oldNames = FALSE)``).

    Rows in lme4's order: each random-effect term's SDs and correlations, sigma,
    then the fixed effects. As in lme4 the profile is of the ML deviance (a REML
    fit is refitted by ML first): a limit is where the deviance, minimised over
    all other parameters, rises by the chi2(1) quantile above its minimum. When
    even SD = 0 stays within that rise, the lower limit is reported as 0 (the
    data are compatible with no variation between groups); a correlation
    limit that does not exist within [-1, 1] is reported as -1 or 1.
    """
    fit = _checked_fit(fit)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    critical = stats.chi2.ppf(level, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        ml_fit = fit.model.updated(method="ML").fit()
        ml = ml_fit.model
        profile = _VarianceProfile(ml)
        best = profile.from_theta(ml_fit.theta, ml_fit.sigma)
        minimum = ml_fit.criterion
        rows = []
        for j, (name, kind) in enumerate(zip(profile.names, profile.kinds)):
            def excess(v, j=j):
                return _minimum_with(profile, j, v, best)[0] - minimum - critical

            scale = max(best[j], 0.1 * ml_fit.sigma) if kind != "cor" else 0.2
            floor, ceiling = {"sd": (0.0, None), "sigma": (0.0, None), "cor": (-1.0, 1.0)}[kind]
            limits = []
            for direction in (-1, 1):
                outside = _outside(excess, best[j], 0.25 * scale, direction, floor, ceiling)
                if outside is None:
                    edge = floor if direction < 0 else ceiling
                    limits.append(edge if excess(edge) <= 0 else _limit(excess, best[j], edge))
                else:
                    limits.append(_limit(excess, best[j], outside))
            rows.append((name, *limits))
        X = ml.X
        for j, name in enumerate(ml.fe_names):
            others = [c for c in range(ml.p) if c != j]

            def excess(b, j=j, others=others):
                reduced = ml.updated(y=ml.y - b * X[:, j], X=X[:, others], fe_names=[ml.fe_names[c] for c in others])
                batch = _batched(reduced) if others else None
                deviance = batch.fit(reduced.y, "ML").criterion[0] if batch else reduced.fit().criterion
                return deviance - minimum - critical

            estimate, se = ml_fit.fe_params.iloc[j], ml_fit.bse.iloc[j]
            rows.append((name, *(_limit(excess, estimate, _outside(excess, estimate, se, d)) for d in (-1, 1))))
    return pd.DataFrame(rows, columns=["name", "lower", "upper"]).set_index("name")
