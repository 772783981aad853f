"""Linear mixed models fitted by ML and REML, written from scratch for teaching.

The method is lme4's (Bates, Maechler, Bolker & Walker 2015, "Fitting Linear
Mixed-Effects Models Using lme4", J. Stat. Softw. 67(1), section 3):

* the random effects are ``b = Lambda_theta u`` with spherical ``u ~ N(0, sigma^2 I)``;
  ``Lambda_theta`` is block diagonal, one lower-triangular *relative Cholesky
  factor* ``T`` (k x k, relative to sigma) per random-effect term and group;
* for a given ``theta`` (the free elements of the ``T`` matrices) the fixed
  effects and the conditional modes come from one penalised least-squares
  problem, and sigma has a closed form, so the (restricted) likelihood is
  *profiled* down to a function of ``theta`` alone
  (:meth:`MixedModel.profiled_deviance`, readable line by line);
* that function is minimised with scipy's bounded L-BFGS-B (diagonal elements of
  ``T`` >= 0).

Usage::

    from lmmteach.data import load_ciproxifan, load_sleepstudy
    from lmmteach import reml

    result = reml.fit("Reaction ~ Days + (Days | Subject)", load_sleepstudy())
    print(result)                 # shaped like lme4's summary(lmer(...))
    result.criterion              # 1743.628, lme4's "REML criterion at convergence"
    result.fe_params, result.bse  # pandas Series: Intercept, Days
    result.var_components         # tidy VarCorr: group, term1, term2, vcov, sdcor
    result.ranef                  # conditional modes, one row per Subject

    reml.fit("WAKE ~ Treatment * Genotype + (1 | id)", load_ciproxifan(), method="ML")

Formulas follow lme4: ``(1 | g)`` random intercept, ``(x | g)`` correlated
intercept and slope, ``(0 + x | g)`` slope only, ``(1 | a) + (1 | b)`` crossed or
nested factors, ``(1 | a:b)`` interaction of factors, ``(1 | a/b)`` = ``(1 | a) +
(1 | a:b)``. The fixed part and each term's left-hand side are evaluated by
``formulae`` (Bambi's formula engine), so fixed-effect names are formulae's:
``Intercept``, ``Treatment``, ``Genotype[ko]``, ``Treatment:Genotype[ko]``.
A pandas ``category`` column keeps its level order and its first level is the
reference, as in R (formulae alone would sort unordered levels alphabetically).

With a single grouping factor (one ``( ... | g)`` term) the model is solved
group by group in batched numpy (cost linear in the number of rows, nothing
of size n inside the optimiser); with several terms the q x q system is
solved as one dense matrix, which is fine for course-size data.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse

from lmmteach.formulas import check_full_rank, checked_frame, model_matrix, split_random_terms, variables

__all__ = ["fit", "MixedModel", "MixedLMResult", "SingularFitWarning"]

SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on diagonal elements of theta


class SingularFitWarning(UserWarning):
    """A variance component was estimated at the boundary (zero)."""


@dataclass
class RandomTerm:
    """One ``(expr | factor)`` term: k columns, m levels, one k x k factor T."""

    factor: str  # grouping factor as written, e.g. "Subject" or "batch:cask"
    columns: list[str]  # names of the k columns, e.g. ["Intercept", "Days"]
    X: np.ndarray  # (n, k) the term's model matrix
    codes: np.ndarray  # (n,) level index of each row
    levels: list[str]  # the m level labels

    @property
    def k(self) -> int:
        return len(self.columns)

    @property
    def m(self) -> int:
        return len(self.levels)

    @property
    def n_theta(self) -> int:
        return self.k * (self.k + 1) // 2

    def __post_init__(self):
        rows, cols = np.tril_indices(self.k)
        order = np.lexsort((rows, cols))  # lme4 fills the lower triangle column by column
        self._tril = (rows[order], cols[order])

    def relative_factor(self, theta_t: np.ndarray) -> np.ndarray:
        """The lower-triangular k x k factor T of this term, filled from its part of theta."""
        T = np.zeros((self.k, self.k))
        T[self._tril] = theta_t
        return T

    def diagonal_positions(self) -> np.ndarray:
        """Which entries of this term's theta sit on the diagonal of T."""
        return self._tril[0] == self._tril[1]


def _relative_factors(terms: list[RandomTerm], theta) -> list[np.ndarray]:
    """Split theta term by term into the relative factors T."""
    bounds = np.cumsum([0] + [t.n_theta for t in terms])
    return [t.relative_factor(theta[a:b]) for t, a, b in zip(terms, bounds[:-1], bounds[1:])]


# --------------------------------------------------------------------------
# The two ways to solve the penalised least-squares system for a given theta
# --------------------------------------------------------------------------


@dataclass
class _Pieces:
    """What the criterion needs from the random-effects block for one theta."""

    logdet_L: float  # log |L_theta|^2
    cu: np.ndarray  # (q,)   c_u = L^-1 Lambda' Z' y
    RZX: np.ndarray  # (q, p) R_ZX = L^-1 Lambda' Z' X
    solve_Lt: object  # v -> L'^-1 v, used once at the end for the conditional modes


# Small dense linear algebra for many groups at once. Arrays keep the groups on
# the LAST axis, so that entry (i, j) of every group's k x k matrix is one
# contiguous vector of length m; the Python loops run over i, j < k (k = 1 or 2
# for a random intercept or an intercept and slope), never over groups.


def _batched_cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors L_j (L_j L_j' = A_j) of m small SPD matrices stored as A[i, j, group]."""
    k = A.shape[0]
    L = np.zeros_like(A)
    for j in range(k):
        L[j, j] = np.sqrt(A[j, j] - sum(L[j, l] ** 2 for l in range(j)))
        for i in range(j + 1, k):
            L[i, j] = (A[i, j] - sum(L[i, l] * L[j, l] for l in range(j))) / L[j, j]
    return L


def _batched_forward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve L_j X_j = B_j for every group j: L[i, j, group], right-hand sides B[i, column, group]."""
    X = np.empty_like(B)
    for i in range(L.shape[0]):
        X[i] = (B[i] - sum(L[i, j] * X[j] for j in range(i))) / L[i, i]
    return X


def _batched_backward(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Solve L_j' X_j = B_j for every group j (same layout as :func:`_batched_forward`)."""
    k = L.shape[0]
    X = np.empty_like(B)
    for i in reversed(range(k)):
        X[i] = (B[i] - sum(L[j, i] * X[j] for j in range(i + 1, k))) / L[i, i]
    return X


class _OneFactor:
    """Single grouping factor: Lambda' Z'Z Lambda + I is block diagonal, one k x k block per group.

    Nothing here is of size n: the per-group cross products are summed once,
    and each evaluation works on arrays of shape (k, k, groups).
    """

    def __init__(self, term: RandomTerm, X: np.ndarray, y: np.ndarray):
        self.term = term
        m, k, g, Zx = term.m, term.k, term.codes, term.X
        Xy = np.column_stack([X, y])
        within = lambda w: np.bincount(g, weights=w, minlength=m)  # noqa: E731  sum of w within each group
        # Z_j'Z_j as ZtZ[a, b, j] and [Z_j'X_j  Z_j'y_j] as ZtXy[a, column, j].
        self.ZtZ = np.array([[within(Zx[:, a] * Zx[:, b]) for b in range(k)] for a in range(k)])
        self.ZtXy = np.array([[within(Zx[:, a] * col) for col in Xy.T] for a in range(k)])

    def pieces(self, theta: np.ndarray) -> _Pieces:
        term = self.term
        m, k = term.m, term.k
        T = term.relative_factor(theta)
        # A_j = T' Z_j'Z_j T + I for all groups in one product: vec(T' M T) = (T kron T)' vec(M).
        A = (np.kron(T, T).T @ self.ZtZ.reshape(k * k, m)).reshape(k, k, m) + np.eye(k)[:, :, None]
        L = _batched_cholesky(A)  # L_theta, one k x k block per group
        rhs = (T.T @ self.ZtXy.reshape(k, -1)).reshape(self.ZtXy.shape)  # T' [Z_j'X_j  Z_j'y_j]
        sol = _batched_forward(L, rhs)  # L_j^-1 T' [Z_j'X_j  Z_j'y_j]
        RZX = sol[:, :-1, :].transpose(2, 0, 1).reshape(m * k, -1)  # rows ordered group by group
        cu = sol[:, -1, :].T.ravel()
        logdet_L = 2.0 * sum(np.log(L[j, j]).sum() for j in range(k))

        def solve_Lt(v):
            return _batched_backward(L, v.reshape(m, k).T[:, None, :])[:, 0, :].T.ravel()

        return _Pieces(logdet_L, cu, RZX, solve_Lt)


class _Dense:
    """Several terms (crossed or nested factors): one dense q x q Cholesky factor."""

    def __init__(self, terms: list[RandomTerm], X: np.ndarray, y: np.ndarray):
        self.terms = terms
        self.q = sum(t.m * t.k for t in terms)
        data, rows, cols, offset = [], [], [], 0
        for t in terms:  # Z's columns: term by term, level by level, column by column
            data.append(t.X.ravel())
            rows.append(np.repeat(np.arange(len(y)), t.k))
            cols.append((offset + t.codes[:, None] * t.k + np.arange(t.k)).ravel())
            offset += t.m * t.k
        Z = sparse.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(len(y), self.q))
        self.ZtZ = (Z.T @ Z).toarray()
        self.ZtX = np.asarray(Z.T @ X)
        self.Zty = np.asarray(Z.T @ y).ravel()

    def Lambda_matrix(self, theta: np.ndarray) -> np.ndarray:
        """Lambda_theta: block diagonal, the term's T repeated once per level of its factor."""
        factors = _relative_factors(self.terms, theta)
        return linalg.block_diag(*(np.kron(np.eye(t.m), T) for t, T in zip(self.terms, factors)))

    def pieces(self, theta: np.ndarray) -> _Pieces:
        """Step 1 of the criterion with dense q x q matrices, exactly as written in the paper."""
        Lam = self.Lambda_matrix(theta)
        L = linalg.cholesky(Lam.T @ self.ZtZ @ Lam + np.eye(self.q), lower=True)
        cu = linalg.solve_triangular(L, Lam.T @ self.Zty, lower=True)
        RZX = linalg.solve_triangular(L, Lam.T @ self.ZtX, lower=True)
        logdet_L = 2.0 * np.log(np.diag(L)).sum()
        return _Pieces(logdet_L, cu, RZX, lambda v: linalg.solve_triangular(L, v, lower=True, trans="T"))


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


class MixedModel:
    """A linear mixed model y = X beta + Z Lambda_theta u + e, built from an lme4-style formula."""

    def __init__(self, formula: str, data: pd.DataFrame, method: str = "REML"):
        if method not in ("REML", "ML"):
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        self.formula, self.method = formula, method
        response, fixed, bars = split_random_terms(formula)
        response_columns, used = variables(f"{response} ~ {fixed}")
        for expr, factor in bars:
            used |= variables(f"{response} ~ {expr}")[1] | {f.strip() for f in factor.split(":")}
        frame = checked_frame(data, used, response_columns, formula)

        fixed_design = model_matrix(f"{response} ~ {fixed}", frame)
        self.y, self.X, self.fe_names = fixed_design.y, fixed_design.X, fixed_design.names
        check_full_rank(self.X, self.fe_names)
        terms = [_random_term(expr, factor, response, frame) for expr, factor in bars]
        self.terms = sorted(terms, key=lambda t: -t.m)  # lme4's order: most levels first
        self.n, self.p = self.X.shape
        if len(self.terms) == 1:
            self.structure = _OneFactor(self.terms[0], self.X, self.y)
        else:
            self.structure = _Dense(self.terms, self.X, self.y)
        self.XtX, self.Xty, self.yty = self.X.T @ self.X, self.X.T @ self.y, self.y @ self.y

    @property
    def dof(self) -> int:
        """Degrees of freedom of the residual variance: n for ML, n - p for REML."""
        return self.n if self.method == "ML" else self.n - self.p

    # -- the criterion ---------------------------------------------------

    def solve(self, theta):
        """Steps 1-4 of :meth:`profiled_deviance`: penalised least squares for a given theta."""
        # (1) L_theta, c_u and R_ZX (per group, or one dense matrix; see _OneFactor and _Dense)
        pieces = self.structure.pieces(np.asarray(theta, dtype=float))
        # (2) R_X' R_X = X'X - R_ZX' R_ZX
        RX = linalg.cholesky(self.XtX - pieces.RZX.T @ pieces.RZX, lower=False)
        # (3) c_beta = R_X'^-1 (X'y - R_ZX' c_u), then beta-hat = R_X^-1 c_beta
        c_beta = linalg.solve_triangular(RX, self.Xty - pieces.RZX.T @ pieces.cu, trans="T")
        beta = linalg.solve_triangular(RX, c_beta)
        # (4) penalised residual sum of squares at (beta-hat, u-hat)
        r2 = self.yty - pieces.cu @ pieces.cu - c_beta @ c_beta
        return pieces, RX, beta, r2

    def profiled_deviance(self, theta) -> float:
        """-2 log-likelihood (ML) or -2 restricted log-likelihood (REML), profiled to a function of theta.

        Bates et al. (2015), section 3, line by line:

        1. ``pieces``: the Cholesky factor ``L_theta`` with
           ``L L' = Lambda' Z' Z Lambda + I`` (lme4 also permutes the rows for
           sparsity; that changes nothing here), and the first block row of the
           blocked factorisation, ``c_u = L^-1 Lambda' Z' y`` and
           ``R_ZX = L^-1 Lambda' Z' X`` (sections 3.2-3.3);
        2. ``RX``: ``R_X' R_X = X'X - R_ZX' R_ZX``, the Cholesky factor for the
           fixed effects;
        3. ``c_beta = R_X'^-1 (X'y - R_ZX' c_u)``; beta-hat solves ``R_X beta = c_beta``;
        4. ``r2``: the penalised residual sum of squares at its minimum,
           ``r2_theta = min over (beta, u) of |y - X beta - Z Lambda u|^2 + |u|^2
           = |y|^2 - |c_u|^2 - |c_beta|^2``;
        5. ML, sigma^2 profiled out as r2/n:
           ``-2 l(theta) = log|L_theta|^2 + n (1 + log(2 pi r2 / n))``;
           REML, sigma^2 as r2/(n - p), plus the determinant of the fixed-effect
           block: ``log|L_theta|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r2 / (n - p)))``.
        """
        pieces, RX, beta, r2 = self.solve(theta)  # steps 1-4
        # (5) the profiled criterion; REML adds log |R_X|^2 and has n - p degrees of freedom
        logdet_RX = 2.0 * np.log(np.abs(np.diag(RX))).sum() if self.method == "REML" else 0.0
        dof = self.dof
        return pieces.logdet_L + logdet_RX + dof * (1 + np.log(2 * np.pi * r2 / dof))

    def relative_factors(self, theta) -> list[np.ndarray]:
        """Each term's relative Cholesky factor T, filled from its part of theta."""
        return _relative_factors(self.terms, theta)

    def is_singular(self, theta) -> bool:
        """lme4's isSingular(): some diagonal element of some T is (nearly) zero."""
        return bool(np.any(np.asarray(theta)[self.diagonal_mask()] < SINGULAR_TOL))

    # -- optimisation -----------------------------------------------------

    def diagonal_mask(self) -> np.ndarray:
        """True for the entries of theta that are diagonal elements of some T."""
        return np.concatenate([t.diagonal_positions() for t in self.terms])

    def theta_bounds(self):
        """Diagonal elements of each T >= 0 (a standard deviation ratio); off-diagonals free."""
        return [(0.0, None) if d else (None, None) for d in self.diagonal_mask()]

    def theta_start(self):
        """lme4's start: every T = identity (random-effect SD equal to the residual SD)."""
        return np.concatenate([t.diagonal_positions().astype(float) for t in self.terms])

    def fit(self) -> "MixedLMResult":
        """Minimise the profiled criterion over theta with bounded L-BFGS-B (deterministic)."""
        def objective(theta):
            try:
                value = self.profiled_deviance(theta)
            except (np.linalg.LinAlgError, FloatingPointError):
                return np.inf
            return value if np.isfinite(value) else np.inf

        with np.errstate(divide="ignore", invalid="ignore"):
            # Central differences (3-point) give gradients accurate enough for ~1e-7 agreement with lme4.
            best = optimize.minimize(
                objective, self.theta_start(), method="L-BFGS-B", jac="3-point", bounds=self.theta_bounds(),
                options={"ftol": 1e-12, "gtol": 1e-9, "maxiter": 5000, "maxcor": 20},
            )
            # A variance parameter at 0 is a stationary point of the criterion (it depends on theta
            # through theta^2 there), where a gradient method can stop too early. So when L-BFGS-B
            # ends on the boundary, or fails, confirm with a derivative-free search from the start.
            if self.is_singular(best.x) or not best.success:
                polished = optimize.minimize(
                    objective, self.theta_start(), method="Powell", bounds=self.theta_bounds(),
                    options={"xtol": 1e-10, "ftol": 1e-15, "maxiter": 20000},
                )
                if polished.fun < best.fun or not best.success:
                    best = polished
        converged = bool(np.isfinite(best.fun) and best.success)
        result = MixedLMResult._from_model(self, np.asarray(best.x, dtype=float), converged)
        result.model = self  # for refit (and lmmteach.inference): the design, nothing parsed again
        return result

    # -- same design, new data (refit; lmmteach.inference and lmmteach.power) --

    def updated(self, y=None, X=None, fe_names=None, method=None) -> "MixedModel":
        """A copy with a new response, fixed-effects design or method; the random-effects design is kept.

        Nothing is parsed again, so this is cheap: simulation studies (parametric
        bootstrap, power) and profiling call it many times.
        """
        model = copy.copy(self)
        if method is not None:
            if method not in ("REML", "ML"):
                raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
            model.method = method
        if X is not None:
            model.X = np.asarray(X, dtype=float).reshape(self.n, -1)
            model.fe_names = list(fe_names) if fe_names is not None else [f"x{j}" for j in range(model.X.shape[1])]
            model.p = model.X.shape[1]
        if y is not None:
            y = np.asarray(y, dtype=float)
            if y.shape != (self.n,) or not np.all(np.isfinite(y)):
                raise ValueError(f"the new response must be {self.n} finite numbers, got shape {y.shape}")
            model.y = y
        if X is not None or y is not None:
            if len(model.terms) == 1:
                model.structure = _OneFactor(model.terms[0], model.X, model.y)
            else:
                model.structure = _Dense(model.terms, model.X, model.y)
            model.XtX, model.Xty, model.yty = model.X.T @ model.X, model.X.T @ model.y, model.y @ model.y
        return model


def _random_term(expr, factor, response, frame) -> RandomTerm:
    """Evaluate one ``(expr | factor)`` term: its columns with formulae, its factor's levels with pandas."""
    term = model_matrix(f"{response} ~ {expr}", frame)
    columns, Xt = term.names, term.X
    for name, col in zip(columns, Xt.T):
        if name != "Intercept" and np.ptp(col) == 0:
            raise ValueError(
                f"random-effect term ({expr} | {factor}): column {name!r} is constant, so its random slope "
                f"cannot be told apart from a random intercept; drop it from the term"
            )
    parts = [f.strip() for f in factor.split(":")]
    if len(parts) == 1:
        labels = frame[parts[0]]
    else:
        labels = frame[parts[0]].astype(str)
        for p in parts[1:]:
            labels = labels + ":" + frame[p].astype(str)
    cat = pd.Categorical(labels)
    cat = cat.remove_unused_categories()
    if len(cat.categories) < 2:
        raise ValueError(
            f"grouping factor {factor!r} has a single level ({cat.categories[0]!r}); a random effect needs "
            f"at least two groups"
        )
    return RandomTerm(factor, columns, Xt, np.asarray(cat.codes, dtype=np.intp), [str(v) for v in cat.categories])


def _group_labels(terms) -> list[str]:
    """Each term's grouping factor; a factor used by several terms gets .1, .2, ... as in lme4."""
    labels, seen = [], {}
    for t in terms:
        n = seen.get(t.factor, 0)
        labels.append(t.factor if n == 0 else f"{t.factor}.{n}")
        seen[t.factor] = n + 1
    return labels


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


@dataclass
class MixedLMResult:
    """A fitted linear mixed model; ``print(result)`` shows an lmer-style summary.

    Attributes: ``fe_params`` and ``bse`` (Series by fixed-effect name),
    ``cov_fe`` (sigma^2 (X' V^-1 X)^-1 = sigma^2 (R_X'R_X)^-1, as lme4's vcov),
    ``var_components`` (columns group, term1, term2, vcov, sdcor, like lme4's
    ``as.data.frame(VarCorr(fit))``: a variance row has term2 missing and
    sdcor the SD; a covariance row names both terms and sdcor is the
    correlation; the residual row is last; a factor used by two terms is
    labelled "g" then "g.1"), ``ranef`` (conditional modes b = Lambda u, one
    row per level and one column per term column; with several terms the index
    is (group, level)), ``llf``, ``criterion`` (= -2 llf: the REML
    criterion or the ML deviance), ``converged``, ``singular``, ``theta``,
    ``sigma``, ``nobs``, ``ngroups`` (dict factor -> number of levels),
    ``fitted`` and ``resid``.
    """

    formula: str
    method: str
    fe_params: pd.Series
    bse: pd.Series
    cov_fe: pd.DataFrame
    var_components: pd.DataFrame
    ranef: pd.DataFrame
    criterion: float
    converged: bool
    singular: bool
    theta: np.ndarray
    sigma: float
    nobs: int
    ngroups: dict
    fitted: np.ndarray = field(repr=False)
    resid: np.ndarray = field(repr=False)
    model: "MixedModel | None" = field(default=None, repr=False, compare=False)  # set by MixedModel.fit

    def refit(self, y) -> "MixedLMResult":
        """The same model fitted to a new response ``y`` (lme4's ``refit``): same design, nothing parsed again."""
        if self.model is None:
            raise ValueError("this result does not carry its model; fit it with reml.fit or MixedModel.fit")
        return self.model.updated(y=y).fit()

    @property
    def llf(self) -> float:
        return -0.5 * self.criterion

    @property
    def n_params(self) -> int:
        return len(self.fe_params) + len(self.theta) + 1

    @property
    def aic(self) -> float:
        return self.criterion + 2 * self.n_params

    @property
    def bic(self) -> float:
        return self.criterion + np.log(self.nobs) * self.n_params

    @property
    def tvalues(self) -> pd.Series:
        return self.fe_params / self.bse

    @classmethod
    def _from_model(cls, model: MixedModel, theta: np.ndarray, converged: bool) -> "MixedLMResult":
        """The result at the optimum theta; warns about a singular or unconverged fit."""
        pieces, RX, beta, r2 = model.solve(theta)
        sigma2 = r2 / model.dof
        factors = model.relative_factors(theta)
        modes = _conditional_modes(model.terms, factors, pieces.solve_Lt(pieces.cu - pieces.RZX @ beta))
        fitted = model.X @ beta
        for t, b in zip(model.terms, modes):  # plus Z b, term by term
            fitted = fitted + np.einsum("nk,nk->n", t.X, b[t.codes])
        labels = _group_labels(model.terms)
        fe_params, bse, cov_fe = _fixed_effects(model.fe_names, beta, RX, sigma2)
        result = cls(
            formula=model.formula, method=model.method, fe_params=fe_params, bse=bse, cov_fe=cov_fe,
            var_components=_variance_components(model.terms, labels, factors, sigma2),
            ranef=_ranef_table(model.terms, labels, modes),
            criterion=float(model.profiled_deviance(theta)), converged=converged,
            singular=model.is_singular(theta), theta=theta, sigma=float(np.sqrt(sigma2)), nobs=model.n,
            ngroups={t.factor: t.m for t in model.terms}, fitted=fitted, resid=model.y - fitted,
        )
        if result.singular:
            warnings.warn(
                "boundary (singular) fit: a random-effect variance is estimated as (nearly) zero "
                f"(theta = {np.round(theta, 6).tolist()}); the data show no variation between groups "
                "beyond the residual noise for that term",
                SingularFitWarning, stacklevel=4,
            )
        if not converged:
            warnings.warn("the optimiser did not report convergence; check the fit", RuntimeWarning, stacklevel=4)
        return result

    def summary(self) -> str:
        """The fit as text, laid out like lme4's summary(lmer(...))."""
        title = "REML" if self.method == "REML" else "maximum likelihood"
        lines = [f"Linear mixed model fit by {title} (lmmteach.reml)", f"Formula: {self.formula}", ""]
        if self.method == "REML":
            lines.append(f"REML criterion at convergence: {self.criterion:.4f}")
        else:
            lines.append(f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'deviance':>10}{'df.resid':>10}")
            lines.append(f"{self.aic:>10.1f}{self.bic:>10.1f}{self.llf:>10.1f}{self.criterion:>10.1f}"
                         f"{self.nobs - self.n_params:>10d}")
        q = np.quantile(self.resid / self.sigma, [0, 0.25, 0.5, 0.75, 1])
        lines += ["", "Scaled residuals:", "".join(f"{h:>9}" for h in ("Min", "1Q", "Median", "3Q", "Max")),
                  "".join(f"{v:>9.4f}" for v in q), "", "Random effects:"]
        lines.append(f" {'Groups':<10} {'Name':<14} {'Variance':>10} {'Std.Dev.':>9}  Corr")
        vc = self.var_components
        variances = vc[vc["term2"].isna()]
        last_group = None
        for _, row in variances.iterrows():
            group = "" if row["group"] == last_group else row["group"]
            name = row["term1"] if isinstance(row["term1"], str) else ""
            corrs = vc[(vc["group"] == row["group"]) & (vc["term2"] == row["term1"])]["sdcor"]
            corr_text = " ".join(f"{c:5.2f}" for c in corrs)
            lines.append(f" {group:<10} {name:<14} {row['vcov']:>10.4f} {row['sdcor']:>9.4f}  {corr_text}".rstrip())
            last_group = row["group"]
        groups = ", ".join(f"{g}, {m}" for g, m in self.ngroups.items())
        lines += [f"Number of obs: {self.nobs}, groups:  {groups}", "", "Fixed effects:"]
        table = pd.DataFrame({"Estimate": self.fe_params, "Std. Error": self.bse, "t value": self.tvalues})
        lines.append(table.to_string(float_format=lambda v: f"{v:.4f}"))
        if self.singular:
            lines += ["", "boundary (singular) fit: see help('isSingular') in lme4"]
        if not self.converged:
            lines += ["", "WARNING: the optimiser did not converge"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _fixed_effects(names, beta, RX, sigma2) -> tuple[pd.Series, pd.Series, pd.DataFrame]:
    """Estimates, standard errors and their covariance sigma^2 (R_X' R_X)^-1 (lme4's vcov)."""
    RX_inv = linalg.solve_triangular(RX, np.eye(len(beta)))
    cov = sigma2 * RX_inv @ RX_inv.T
    return (
        pd.Series(beta, index=names, name="estimate"),
        pd.Series(np.sqrt(np.diag(cov)), index=names, name="std_error"),
        pd.DataFrame(cov, index=names, columns=names),
    )


def _conditional_modes(terms, factors, u) -> list[np.ndarray]:
    """Each term's conditional modes b = T u, one (m, k) array per term, from the spherical u."""
    bounds = np.cumsum([0] + [t.m * t.k for t in terms])
    return [u[a:b].reshape(t.m, t.k) @ T.T for t, T, a, b in zip(terms, factors, bounds[:-1], bounds[1:])]


def _variance_components(terms, labels, factors, sigma2) -> pd.DataFrame:
    """lme4's as.data.frame(VarCorr(fit)): variances with SDs, covariances with correlations, residual last."""
    rows = []
    for t, label, T in zip(terms, labels, factors):
        Sigma = sigma2 * T @ T.T
        sd = np.sqrt(np.diag(Sigma))
        rows += [(label, t.columns[a], None, Sigma[a, a], sd[a]) for a in range(t.k)]
        for a in range(t.k):
            for c in range(a + 1, t.k):
                corr = Sigma[a, c] / (sd[a] * sd[c]) if sd[a] > 0 and sd[c] > 0 else np.nan
                rows.append((label, t.columns[a], t.columns[c], Sigma[a, c], corr))
    rows.append(("Residual", None, None, sigma2, np.sqrt(sigma2)))
    return pd.DataFrame(rows, columns=["group", "term1", "term2", "vcov", "sdcor"])


def _ranef_table(terms, labels, modes) -> pd.DataFrame:
    """The conditional modes as a table: one row per level; indexed (group, level) when there are several terms."""
    parts = [pd.DataFrame(b, index=pd.Index(t.levels, name=t.factor), columns=t.columns) for t, b in zip(terms, modes)]
    if len(parts) == 1:
        return parts[0]
    return pd.concat(dict(zip(labels, parts)), names=["group", "level"])


def fit(formula: str, data: pd.DataFrame, method: str = "REML") -> MixedLMResult:
    """Fit an lme4-style linear mixed model by REML (default) or ML; see the module docstring."""
    return MixedModel(formula, data, method).fit()
