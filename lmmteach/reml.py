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
* that function is minimised with scipy's L-BFGS-B using its exact gradient
  (:meth:`MixedModel.gradient`), followed by a boundary check: a variance near
  zero is compared with the fit that sets it to zero, as lme4 checks its
  boundary, and ``singular`` is read off the optimum;
* the penalised residual sum of squares is computed from the residual itself
  and on a centred, scaled working response, so the fit is the same (to
  rounding) for ``y``, ``y + 1e8`` and ``1e8 * y``.

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

How step 1 of the criterion (the Cholesky factor of ``Lambda'Z'Z Lambda + I``,
q x q for q random effects) is computed depends on the structure:

* one grouping factor (one ``( ... | g)`` term): group by group in batched
  numpy (:class:`_OneFactor`; cost linear in the number of rows, nothing of
  size n inside the optimiser);
* several terms, crossed or nested: in blocks (:class:`_BlockSchur`): the
  term with the most levels is eliminated level by level and only the Schur
  complement of the other terms is dense, as CHOLMOD's fill-reducing ordering
  does in lme4; 100,000 rows with 1000 x 1500 or 2000 x 3000 crossed levels,
  or 5000 casks nested in 500 batches, fit in seconds;
* up to ``DENSE_UP_TO`` random effects, one dense q x q factor
  (:class:`_Dense`, the paper's algebra written out), which is as fast there.

``MixedModel(..., solver=...)`` forces one path; the tests check that they agree.
"""

from __future__ import annotations

import copy
import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, sparse
from scipy.linalg import lapack

from lmmteach.formulas import check_full_rank, checked_frame, model_matrix, split_random_terms, variables

__all__ = ["fit", "MixedModel", "MixedLMResult", "SingularFitWarning", "UnidentifiableWarning"]

SINGULAR_TOL = 1e-4  # lme4's isSingular() tolerance on diagonal elements of theta (here on the columns' scale)
BOUNDARY_CHECK = 0.1  # a scaled diagonal element of theta below this is compared with the fit that sets it to 0
DENSE_UP_TO = 300  # with several terms and at most this many random effects, one dense factor is as fast (measured)
FLAT_TOL = 1e-6  # smallest / largest Hessian eigenvalue below this: the criterion is flat in some direction


class SingularFitWarning(UserWarning):
    """A variance component was estimated at the boundary (zero)."""


class UnidentifiableWarning(UserWarning):
    """The criterion is flat in some direction at the optimum: a variance parameter is not identified."""


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


def _term_slices(terms: list[RandomTerm]) -> list[slice]:
    """Where each term's rows sit in the q random-effect coordinates (term by term, level by level, column by column)."""
    bounds = np.cumsum([0] + [t.m * t.k for t in terms])
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _apply_Lambda(terms, factors, V: np.ndarray) -> np.ndarray:
    """Lambda_theta V for V of shape (q,) or (q, c): each level's k rows multiplied by its term's T."""
    out = np.empty_like(V, dtype=float)
    for t, T, rows in zip(terms, factors, _term_slices(terms)):
        block = V[rows].reshape(t.m, t.k, -1)
        out[rows] = np.tensordot(block, T, axes=([1], [1])).transpose(0, 2, 1).reshape(V[rows].shape)
    return out


def _level_block_sums(terms, F: np.ndarray, G: np.ndarray) -> list[np.ndarray]:
    """For each term, the k x k sum over its levels l of F_l G_l' (F_l, G_l: the level's k rows of F and G)."""
    sums = []
    for t, rows in zip(terms, _term_slices(terms)):
        f, g = F[rows].reshape(t.m, t.k, -1), G[rows].reshape(t.m, t.k, -1)
        sums.append(np.tensordot(f, g, axes=([0, 2], [0, 2])))
    return sums


# --------------------------------------------------------------------------
# The ways to solve the penalised least-squares system for a given theta
# --------------------------------------------------------------------------


@dataclass
class _Pieces:
    """What the criterion needs from the random-effects block for one theta."""

    logdet_L: float  # log |L_theta|^2
    cu: np.ndarray  # (q,)   c_u = L^-1 Lambda' Z' y
    RZX: np.ndarray  # (q, p) R_ZX = L^-1 Lambda' Z' X
    solve_Lt: object  # V -> L'^-1 V: the conditional modes u, and A^-1 Lambda' Z' X for the gradient
    CLambdaAinv: object  # () -> per term, the sum over levels of the diagonal blocks of Z'Z Lambda A^-1 (gradient)


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


def _level_cholesky(T: np.ndarray, ZtZ: np.ndarray) -> np.ndarray:
    """Cholesky factors of A_j = T' Z_j'Z_j T + I for every level j at once (ZtZ[a, b, level], batched layout)."""
    k, m = T.shape[0], ZtZ.shape[2]
    # vec(T' M T) = (T kron T)' vec(M): all levels in one product
    A = (np.kron(T, T).T @ ZtZ.reshape(k * k, m)).reshape(k, k, m) + np.eye(k)[:, :, None]
    return _batched_cholesky(A)


def _batched_inverse_lower(L: np.ndarray) -> np.ndarray:
    """L_j^-1 for every level j (batched layout)."""
    k, m = L.shape[0], L.shape[2]
    return _batched_forward(L, np.repeat(np.eye(k)[:, :, None], m, axis=2))


def _block_diagonal(B: np.ndarray) -> sparse.csr_matrix:
    """The m blocks B[:, :, level] (k x k, batched layout) as one sparse block-diagonal matrix, level by level."""
    k, _, m = B.shape
    i, j, level = np.meshgrid(np.arange(k), np.arange(k), np.arange(m), indexing="ij")
    rows, cols = (level * k + i).ravel(), (level * k + j).ravel()
    return sparse.csr_matrix((B.ravel(), (rows, cols)), shape=(m * k, m * k))


class _OneFactor:
    """Single grouping factor: Lambda' Z'Z Lambda + I is block diagonal, one k x k block per group.

    The per-group cross products are summed once; each evaluation of the
    criterion works on arrays of shape (k, k, groups), and only the residual
    (for the penalised residual sum of squares) is of size n.
    """

    def __init__(self, term: RandomTerm, X: np.ndarray, y: np.ndarray):
        self.term = term
        m, k, g, Zx = term.m, term.k, term.codes, term.X
        Xy = np.column_stack([X, y])
        within = lambda w: np.bincount(g, weights=w, minlength=m)  # noqa: E731  sum of w within each group
        # Z_j'Z_j as ZtZ[a, b, j] and [Z_j'X_j  Z_j'y_j] as ZtXy[a, column, j].
        self.ZtZ = np.array([[within(Zx[:, a] * Zx[:, b]) for b in range(k)] for a in range(k)])
        self.ZtXy = np.array([[within(Zx[:, a] * col) for col in Xy.T] for a in range(k)])
        self.ZtX = self.ZtXy[:, :-1, :].transpose(2, 0, 1).reshape(m * k, -1)  # rows group by group
        self._rows_of_b = [g * k + a for a in range(k)]  # where Z's column a of row i sits in b

    def Z_times(self, b: np.ndarray) -> np.ndarray:
        """Z b for b of length q (level by level, column by column)."""
        return sum(self.term.X[:, a] * b.take(rows) for a, rows in enumerate(self._rows_of_b))

    def Zt_times(self, r: np.ndarray) -> np.ndarray:
        """Z' r for r of length n."""
        t = self.term
        return np.array([np.bincount(t.codes, weights=t.X[:, a] * r, minlength=t.m) for a in range(t.k)]).T.ravel()

    def ZtZ_times(self, V: np.ndarray) -> np.ndarray:
        """Z'Z V for V of shape (q, c): one k x k product per group."""
        m, k = self.term.m, self.term.k
        blocks, out = V.reshape(m, k, -1), np.zeros((m, k, V.reshape(m, k, -1).shape[2]))
        for a in range(k):
            for b in range(k):
                out[:, a, :] += self.ZtZ[a, b][:, None] * blocks[:, b, :]
        return out.reshape(V.shape)

    def pieces(self, theta: np.ndarray) -> _Pieces:
        term = self.term
        m, k = term.m, term.k
        T = term.relative_factor(theta)
        L = _level_cholesky(T, self.ZtZ)  # L_theta, one k x k block per group: L_j L_j' = T' Z_j'Z_j T + I
        rhs = (T.T @ self.ZtXy.reshape(k, -1)).reshape(self.ZtXy.shape)  # T' [Z_j'X_j  Z_j'y_j]
        sol = _batched_forward(L, rhs)  # L_j^-1 T' [Z_j'X_j  Z_j'y_j]
        RZX = sol[:, :-1, :].transpose(2, 0, 1).reshape(m * k, -1)  # rows ordered group by group
        cu = sol[:, -1, :].T.ravel()
        logdet_L = 2.0 * sum(np.log(L[j, j]).sum() for j in range(k))

        def solve_Lt(V):
            B = V.reshape(m, k, -1).transpose(1, 2, 0)  # B[i, column, group]
            return _batched_backward(L, B).transpose(2, 0, 1).reshape(V.shape)

        def CLambdaAinv():
            Linv = _batched_inverse_lower(L)
            Ainv = np.einsum("cam,cbm->abm", Linv, Linv)  # A_j^-1 = L_j'^-1 L_j^-1
            return [np.einsum("abm,bc,cdm->ad", self.ZtZ, T, Ainv)]

        return _Pieces(logdet_L, cu, RZX, solve_Lt, CLambdaAinv)


class _SparseZ:
    """Several terms: Z and Z'Z as sparse matrices, and Lambda_theta; what the two paths below share."""

    def __init__(self, terms: list[RandomTerm], X: np.ndarray, y: np.ndarray):
        self.terms = terms
        self.q = sum(t.m * t.k for t in terms)
        self.Z = _sparse_Z(terms, len(y))
        self.ZtZ = (self.Z.T @ self.Z).tocsr()
        self.ZtX = np.asarray(self.Z.T @ X)
        self.Zty = np.asarray(self.Z.T @ y).ravel()

    def Z_times(self, b: np.ndarray) -> np.ndarray:
        return self.Z @ b

    def Zt_times(self, r: np.ndarray) -> np.ndarray:
        return self.Z.T @ r

    def ZtZ_times(self, V: np.ndarray) -> np.ndarray:
        return self.ZtZ @ V

    def Lambda_matrix(self, theta: np.ndarray) -> sparse.csr_matrix:
        """Lambda_theta: block diagonal, the term's T repeated once per level of its factor (sparse).

        As lme4's ``Lind``: entry i of the pattern holds ``theta[Lind[i]]``.
        """
        rows, cols, Lind = self._Lambda_pattern
        return sparse.csr_matrix((np.asarray(theta, dtype=float)[Lind], (rows, cols)), shape=(self.q, self.q))

    @functools.cached_property
    def _Lambda_pattern(self):
        rows, cols, Lind, offset, first = [], [], [], 0, 0
        for t in self.terms:
            r, c = t._tril
            levels = np.arange(t.m)[:, None] * t.k + offset
            rows.append((levels + r).ravel())
            cols.append((levels + c).ravel())
            Lind.append(np.tile(first + np.arange(t.n_theta), t.m))
            offset, first = offset + t.m * t.k, first + t.n_theta
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(Lind)


class _Dense(_SparseZ):
    """Several terms (crossed or nested factors): one dense q x q Cholesky factor, as written in the paper.

    Memory q^2 and time q^3 per evaluation: fine for course-size data, and the
    reference the faster :class:`_BlockSchur` is tested against.
    """

    def __init__(self, terms: list[RandomTerm], X: np.ndarray, y: np.ndarray):
        super().__init__(terms, X, y)
        self.ZtZ_dense = self.ZtZ.toarray()

    def pieces(self, theta: np.ndarray) -> _Pieces:
        """Step 1 of the criterion with a dense q x q Cholesky factor."""
        Lam = self.Lambda_matrix(theta)
        if all(t.k == 1 for t in self.terms):  # Lambda is diagonal: scale rows and columns
            lam = np.asarray(theta, dtype=float)[self._Lambda_pattern[2]]
            LamT_ZtZ = lam[:, None] * self.ZtZ_dense
            A = LamT_ZtZ * lam[None, :]
        else:
            LamT_ZtZ = Lam.T @ self.ZtZ_dense  # sparse times dense: cost q^2 k, not q^3
            A = (Lam.T @ LamT_ZtZ.T).T
        A[np.diag_indices(self.q)] += 1.0
        L = linalg.cholesky(A, lower=True, overwrite_a=True, check_finite=False)
        cu = linalg.solve_triangular(L, Lam.T @ self.Zty, lower=True)
        RZX = linalg.solve_triangular(L, Lam.T @ self.ZtX, lower=True)
        logdet_L = 2.0 * np.log(np.diag(L)).sum()

        def CLambdaAinv():
            Linv = lapack.dtrtri(L, lower=1)[0]  # L^-1, so that A^-1 = L^-T L^-1
            factors = _relative_factors(self.terms, theta)
            if all(np.linalg.cond(T) < 1e6 for T in factors):
                # Z'Z Lambda = Lambda'^-1 (A - I), so Z'Z Lambda A^-1 = Lambda'^-1 (I - A^-1): only the
                # diagonal blocks of A^-1 are needed, each a sum of products of two columns of L^-1.
                sums = []
                for t, T, rows in zip(self.terms, factors, _term_slices(self.terms)):
                    cols = Linv[:, rows]
                    Ainv_sum = np.array([[np.sum(cols[:, a::t.k] * cols[:, b::t.k]) for b in range(t.k)]
                                         for a in range(t.k)])
                    sums.append(linalg.solve(T.T, t.m * np.eye(t.k) - Ainv_sum))
                return sums
            Ainv = Linv.T @ Linv  # a T on the boundary is singular: the full product
            return _level_block_sums(self.terms, LamT_ZtZ.T, Ainv)  # Ainv is symmetric: row l = column l

        return _Pieces(logdet_L, cu, RZX, lambda V: linalg.solve_triangular(L, V, lower=True, trans="T"), CLambdaAinv)


class _BlockSchur(_SparseZ):
    """Several terms: a block Cholesky factor of A = Lambda'Z'Z Lambda + I; dense only for the smaller terms.

    The coordinates split into block 1, the term with the most levels (the
    first: terms are sorted by levels), and block 2, all the other terms::

        A = [A11 A12]    L = [L11  0 ]    L11 L11' = A11, block diagonal: one k x k block per level
            [A21 A22]        [L21 L22]    L21 = A21 L11'^-1, sparse (the pattern of Z2'Z1)
                                          L22 L22' = S = A22 - L21 L21', dense (q2 x q2)

    This is the factor CHOLMOD finds with a fill-reducing ordering for two
    factors (lme4's route): the many levels of block 1 are eliminated level by
    level, and only the Schur complement S of the other terms is dense. An
    evaluation costs O(q2^3) for q2 = the size of block 2 (the casks of
    (1 | batch) + (1 | batch:cask) are block 1: q2 = the number of batches),
    and no q x q matrix is ever formed.
    """

    def __init__(self, terms: list[RandomTerm], X: np.ndarray, y: np.ndarray):
        super().__init__(terms, X, y)
        first, q1 = terms[0], terms[0].m * terms[0].k
        self.q1 = q1
        # Z1'Z1 level by level in the batched layout [a, b, level] (it is block diagonal), and the other blocks
        self.ZtZ_levels = np.array([[self.ZtZ[a:q1:first.k, b:q1:first.k].diagonal() for b in range(first.k)]
                                    for a in range(first.k)])
        self.ZtZ11, self.ZtZ12 = self.ZtZ[:q1, :q1], self.ZtZ[:q1, q1:]
        self.ZtZ21, self.ZtZ22 = self.ZtZ[q1:, :q1], self.ZtZ[q1:, q1:]

    def pieces(self, theta: np.ndarray) -> _Pieces:
        """Step 1 of the criterion: L_theta in blocks, then c_u and R_ZX by block forward substitution."""
        q1, first = self.q1, self.terms[0]
        Lam = self.Lambda_matrix(theta)
        Lam1, Lam2 = Lam[:q1, :q1], Lam[q1:, q1:]
        L11 = _level_cholesky(first.relative_factor(theta[: first.n_theta]), self.ZtZ_levels)
        L11_inv = _block_diagonal(_batched_inverse_lower(L11))  # sparse, one k x k block per level
        L21 = Lam2.T @ self.ZtZ21 @ Lam1 @ L11_inv.T  # A21 L11'^-1
        S = (Lam2.T @ self.ZtZ22 @ Lam2).toarray() - _cross(L21, L21) + np.eye(self.q - q1)
        L22 = linalg.cholesky(S, lower=True, overwrite_a=True, check_finite=False)
        logdet_L = 2.0 * (sum(np.log(L11[a, a]).sum() for a in range(first.k)) + np.log(np.diag(L22)).sum())

        # L [x1; x2] = Lambda' Z' [X y]: x1 = L11^-1 rhs1, x2 = L22^-1 (rhs2 - L21 x1)
        rhs = Lam.T @ np.column_stack([self.ZtX, self.Zty])
        x1 = L11_inv @ rhs[:q1]
        x2 = linalg.solve_triangular(L22, rhs[q1:] - L21 @ x1, lower=True, check_finite=False)
        solved = np.concatenate([x1, x2])
        RZX, cu = solved[:, :-1], solved[:, -1]

        def solve_Lt(V):
            """L' [x1; x2] = [v1; v2]: x2 = L22'^-1 v2, x1 = L11'^-1 (v1 - L21' x2)."""
            x2 = linalg.solve_triangular(L22, V[q1:], lower=True, trans="T", check_finite=False)
            return np.concatenate([L11_inv.T @ (V[:q1] - L21.T @ x2), x2])

        def CLambdaAinv():
            """Diagonal blocks of C = Z'Z Lambda A^-1 summed over levels, from A^-1 in blocks.

            With M = A21 A11^-1 = L21 L11^-1: A^-1 = [[A11^-1 + M'S^-1 M, -M'S^-1], [-S^-1 M, S^-1]].
            Nothing of size q x q (or q1 x q2) is dense.
            """
            S_inv = lapack.dpotri(L22, lower=1)[0]  # the lower triangle of S^-1
            S_inv = S_inv + np.tril(S_inv, -1).T
            M = L21 @ L11_inv
            k1, slices = first.k, _term_slices(self.terms[1:])
            factors = _relative_factors(self.terms, theta)
            if all(np.linalg.cond(T) < 1e6 for T in factors):
                # as in _Dense: C = Lambda'^-1 (I - A^-1), so only the diagonal blocks of A^-1 are needed.
                # Block 1: sum over levels l of (M'S^-1 M)[(l, a), (l, b)] = sum_ij S^-1_ij (M_a M_b')_ij,
                # M_a = M's columns for coordinate a of the term.
                sums = [_level_trace(L11_inv.T @ L11_inv, k1)
                        + np.array([[np.sum(S_inv * _cross(M[:, a::k1], M[:, b::k1])) for b in range(k1)]
                                    for a in range(k1)])]
                sums += [_level_trace(S_inv[rows, rows], t.k) for t, rows in zip(self.terms[1:], slices)]
                return [linalg.solve(T.T, t.m * np.eye(t.k) - A) for t, T, A in zip(self.terms, factors, sums)]
            # Some T is singular (a boundary point): C = Z'Z Lambda A^-1 itself. With G = Z'Z Lambda in blocks,
            # C11 = G11 A11^-1 + (G11 M' - G12) S^-1 M and C22 = (G22 - G21 M') S^-1.
            G11, G12, G21, G22 = self.ZtZ11 @ Lam1, self.ZtZ12 @ Lam2, self.ZtZ21 @ Lam1, self.ZtZ22 @ Lam2
            R = G11 @ M.T - G12
            # sum over levels of (R S^-1 M)[(l, a), (l, b)] = sum_ij S^-1_ij (M_b R_a)_ji
            sums = [_level_trace(G11 @ L11_inv.T @ L11_inv, k1)  # G11 A11^-1 is block diagonal
                    + np.array([[np.sum(S_inv * _cross(M[:, b::k1], R[a::k1].T)) for b in range(k1)]
                                for a in range(k1)])]
            P = G22.toarray() - _cross(G21, M)  # C22 = P S^-1
            for t, rows in zip(self.terms[1:], slices):
                P_t, S_t = P[rows], S_inv[rows]
                sums.append(np.array([[np.sum(P_t[a::t.k] * S_t[b::t.k]) for b in range(t.k)] for a in range(t.k)]))
            return sums

        return _Pieces(logdet_L, cu, RZX, solve_Lt, CLambdaAinv)


def _cross(B: sparse.csr_matrix, C: sparse.csr_matrix) -> np.ndarray:
    """B C' as a dense array: through BLAS while B and C are small, else as a sparse product.

    The sparse product costs the sum over the columns of the squared number
    of entries per column (small for many levels with few rows each); the
    dense one costs rows(B) rows(C) columns, cheaper below about a million entries.
    """
    if max(B.shape[0], C.shape[0]) * B.shape[1] <= 1_000_000:
        return B.toarray() @ C.toarray().T
    return (B @ C.T).toarray()


def _level_trace(D: np.ndarray, k: int) -> np.ndarray:
    """The k x k sum over levels of the diagonal blocks of D (rows and columns level by level, column by column)."""
    return np.array([[D[a::k, b::k].diagonal().sum() for b in range(k)] for a in range(k)])


def _sparse_Z(terms: list[RandomTerm], n: int) -> sparse.csr_matrix:
    """Z: n x q, the terms' columns term by term, level by level, column by column."""
    data, rows, cols, offset = [], [], [], 0
    for t in terms:
        data.append(t.X.ravel())
        rows.append(np.repeat(np.arange(n), t.k))
        cols.append((offset + t.codes[:, None] * t.k + np.arange(t.k)).ravel())
        offset += t.m * t.k
    q = offset
    return sparse.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, q))


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------


@dataclass
class _Solution:
    """The penalised least-squares solution for one theta (original units of y)."""

    pieces: _Pieces
    RX: np.ndarray  # (p, p) upper-triangular R_X
    beta: np.ndarray  # (p,) fixed effects
    u: np.ndarray  # (q,) spherical random effects; b = Lambda u
    resid: np.ndarray  # (n,) y - X beta - Z Lambda u
    r2: float  # penalised residual sum of squares |resid|^2 + |u|^2


class MixedModel:
    """A linear mixed model y = X beta + Z Lambda_theta u + e, built from an lme4-style formula.

    Internally the model works on the *working response*: y minus its
    least-squares fit on X, divided by the root mean square of that residual.
    Adding a multiple of a column of X to y, or scaling y, then changes nothing
    inside the optimiser (the fit is equivariant to rounding error), and large
    offsets such as ``y + 1e8`` cannot cancel; :meth:`solve` maps the solution
    back to the units of y.
    """

    def __init__(self, formula: str, data: pd.DataFrame, method: str = "REML", solver: str = "auto"):
        if method not in ("REML", "ML"):
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        self.formula, self.method, self.solver = formula, method, solver
        response, fixed, bars = split_random_terms(formula)
        response_columns, used = variables(f"{response} ~ {fixed}")
        for expr, factor in bars:
            used |= variables(f"{response} ~ {expr}")[1] | {f.strip() for f in factor.split(":")}
        factors = {f.strip() for _, factor in bars for f in factor.split(":")}
        frame = checked_frame(data, used, response_columns, formula, factors=factors)

        fixed_design = model_matrix(f"{response} ~ {fixed}", frame)
        self.y, self.X, self.fe_names = fixed_design.y, fixed_design.X, fixed_design.names
        check_full_rank(self.X, self.fe_names)
        terms = [_random_term(expr, factor, response, frame) for expr, factor in bars]
        self.terms = sorted(terms, key=lambda t: -t.m)  # lme4's order: most levels first
        self.n, self.p = self.X.shape
        _check_identifiable(self.terms, self.n)

        self.beta_ls, self.y_scale, self.y_work = _working_response(self.X, self.y, response)
        self.structure = self._structure(solver)
        self.XtX, self.Xty = self.X.T @ self.X, self.X.T @ self.y_work

    def _structure(self, solver: str):
        """How step 1 is solved: per group for one factor; for several terms one dense factor while q is small,
        else in blocks (:class:`_BlockSchur`). ``solver`` forces one path ('one_factor', 'block', 'dense')."""
        if solver not in ("auto", "one_factor", "block", "dense"):
            raise ValueError(f"solver must be 'auto', 'one_factor', 'block' or 'dense', got {solver!r}")
        if solver == "one_factor" or (solver == "auto" and len(self.terms) == 1):
            if len(self.terms) != 1:
                raise ValueError(f"solver='one_factor' needs a single random-effect term, the formula has {len(self.terms)}")
            return _OneFactor(self.terms[0], self.X, self.y_work)
        if solver == "block" and len(self.terms) == 1:
            raise ValueError("solver='block' needs several random-effect terms; use 'one_factor' (or 'auto')")
        if solver == "dense" or (solver == "auto" and sum(t.m * t.k for t in self.terms) <= DENSE_UP_TO):
            return _Dense(self.terms, self.X, self.y_work)
        return _BlockSchur(self.terms, self.X, self.y_work)

    @property
    def dof(self) -> int:
        """Degrees of freedom of the residual variance: n for ML, n - p for REML."""
        return self.n if self.method == "ML" else self.n - self.p

    # -- the criterion ---------------------------------------------------

    def solve(self, theta) -> _Solution:
        """Steps 1-4 of :meth:`profiled_deviance`: penalised least squares for a given theta."""
        theta = np.asarray(theta, dtype=float)
        # (1) L_theta, c_u and R_ZX (per group, or one dense matrix; see _OneFactor and _Dense)
        pieces = self.structure.pieces(theta)
        # (2) R_X' R_X = X'X - R_ZX' R_ZX
        RX = linalg.cholesky(self.XtX - pieces.RZX.T @ pieces.RZX, lower=False)
        # (3) c_beta = R_X'^-1 (X'y - R_ZX' c_u); beta-hat solves R_X beta = c_beta, u-hat solves L' u = c_u - R_ZX beta
        c_beta = linalg.solve_triangular(RX, self.Xty - pieces.RZX.T @ pieces.cu, trans="T")
        beta = linalg.solve_triangular(RX, c_beta)
        u = pieces.solve_Lt(pieces.cu - pieces.RZX @ beta)
        # (4) penalised residual sum of squares, from the residual itself (as lme4 does)
        b = _apply_Lambda(self.terms, self.relative_factors(theta), u)
        resid = self.y_work - self.X @ beta - self.structure.Z_times(b)
        r2 = resid @ resid + u @ u
        s = self.y_scale  # back from the working response to the units of y
        return _Solution(pieces, RX, self.beta_ls + s * beta, s * u, s * resid, s**2 * r2)

    def profiled_deviance(self, theta, solution: _Solution | None = None) -> float:
        """-2 log-likelihood (ML) or -2 restricted log-likelihood (REML), profiled to a function of theta.

        Bates et al. (2015), section 3, line by line (in :meth:`solve`):

        1. ``pieces``: the Cholesky factor ``L_theta`` with
           ``L L' = Lambda' Z' Z Lambda + I`` (lme4 also permutes the rows for
           sparsity; that changes nothing here), and the first block row of the
           blocked factorisation, ``c_u = L^-1 Lambda' Z' y`` and
           ``R_ZX = L^-1 Lambda' Z' X`` (sections 3.2-3.3);
        2. ``RX``: ``R_X' R_X = X'X - R_ZX' R_ZX``, the Cholesky factor for the
           fixed effects;
        3. ``c_beta = R_X'^-1 (X'y - R_ZX' c_u)``; beta-hat solves ``R_X beta = c_beta``
           and the spherical random effects u-hat solve ``L' u = c_u - R_ZX beta``;
        4. ``r2``: the penalised residual sum of squares at its minimum,
           ``r2_theta = |y - X beta - Z Lambda u|^2 + |u|^2`` (on paper also
           ``|y|^2 - |c_u|^2 - |c_beta|^2``, but that difference of large numbers
           cancels catastrophically when y has a large mean);
        5. ML, sigma^2 profiled out as r2/n:
           ``-2 l(theta) = log|L_theta|^2 + n (1 + log(2 pi r2 / n))``;
           REML, sigma^2 as r2/(n - p), plus the determinant of the fixed-effect
           block: ``log|L_theta|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r2 / (n - p)))``.

        ``y`` in steps 1-4 is the working response (see the class docstring);
        ``solve`` returns beta and r2 in the units of y. Pass ``solution`` when
        :meth:`solve` has already been called for this theta.
        """
        if solution is None:
            solution = self.solve(theta)  # steps 1-4
        # (5) the profiled criterion; REML adds log |R_X|^2 and has n - p degrees of freedom
        logdet_RX = 2.0 * np.log(np.abs(np.diag(solution.RX))).sum() if self.method == "REML" else 0.0
        dof = self.dof
        return solution.pieces.logdet_L + logdet_RX + dof * (1 + np.log(2 * np.pi * solution.r2 / dof))

    def gradient(self, theta, solution: _Solution | None = None) -> np.ndarray:
        """The exact gradient of :meth:`profiled_deviance` with respect to theta.

        With ``A = Lambda'Z'Z Lambda + I``, ``W = A^-1 Lambda'Z'X`` and
        ``S = (R_X'R_X)^-1``, the derivative with respect to Lambda is
        ``2 Z'Z Lambda A^-1`` (from log|L|^2), ``+ 2 (Z'Z Lambda W - Z'X) S W'``
        (from log|R_X|^2, REML only) and ``- 2 dof/r2 Z'r u'`` (from r2: by the
        envelope theorem only its explicit dependence on Lambda counts). The
        derivative with respect to an element of a term's T sums the diagonal
        blocks of these q x q matrices over the term's levels.
        """
        theta = np.asarray(theta, dtype=float)
        if solution is None:
            solution = self.solve(theta)
        pieces, factors = solution.pieces, self.relative_factors(theta)
        blocks = [2.0 * G for G in pieces.CLambdaAinv()]
        if self.method == "REML":
            W = pieces.solve_Lt(pieces.RZX)
            RX_inv = linalg.solve_triangular(solution.RX, np.eye(self.p))
            F = self.structure.ZtZ_times(_apply_Lambda(self.terms, factors, W)) - self.structure.ZtX
            blocks = [G + 2.0 * H for G, H in zip(blocks, _level_block_sums(self.terms, F, W @ RX_inv @ RX_inv.T))]
        Ztr = self.structure.Zt_times(solution.resid)
        r2_part = _level_block_sums(self.terms, Ztr[:, None], solution.u[:, None])
        blocks = [G - 2.0 * self.dof / solution.r2 * H for G, H in zip(blocks, r2_part)]
        return np.concatenate([G[t._tril] for t, G in zip(self.terms, blocks)])

    def relative_factors(self, theta) -> list[np.ndarray]:
        """Each term's relative Cholesky factor T, filled from its part of theta."""
        return _relative_factors(self.terms, theta)

    def is_singular(self, theta) -> bool:
        """lme4's isSingular(): some diagonal element of some T is (nearly) zero, on the columns' scale."""
        scaled = np.asarray(theta) * self.theta_scale()
        return bool(np.any(scaled[self.diagonal_mask()] < SINGULAR_TOL))

    # -- optimisation -----------------------------------------------------

    def diagonal_mask(self) -> np.ndarray:
        """True for the entries of theta that are diagonal elements of some T."""
        return np.concatenate([t.diagonal_positions() for t in self.terms])

    def theta_scale(self) -> np.ndarray:
        """Root mean square of the term column that each entry of theta multiplies (its row of T).

        The optimiser works on ``theta * theta_scale()``, so rescaling a predictor
        (days to seconds) does not change its path.
        """
        scales = []
        for t in self.terms:
            rms = np.sqrt(np.mean(t.X**2, axis=0))
            scales.append(rms[t._tril[0]])
        return np.concatenate(scales)

    def theta_bounds(self):
        """Diagonal elements of each T >= 0 (a standard deviation ratio); off-diagonals free."""
        return [(0.0, None) if d else (None, None) for d in self.diagonal_mask()]

    def theta_start(self):
        """Every T diagonal with entries 1 / (RMS of its column): each random-effect term as large as the noise."""
        return self.diagonal_mask() / self.theta_scale()

    def fit(self) -> "MixedLMResult":
        """Minimise the profiled criterion over theta: L-BFGS-B with the exact gradient, then a boundary check.

        The optimiser works on ``theta * theta_scale()`` without bounds: negating
        a column of T leaves T T' and so the criterion unchanged, and without a
        bound at 0 it cannot stop there merely because the gradient vanishes
        (the criterion depends on a zero diagonal element through its square).
        Columns with a negative diagonal element are flipped at the end.
        """
        scale, unpinned = self.theta_scale(), np.zeros(len(self.theta_start()), dtype=bool)
        best = self._minimise(self.theta_start() * scale, scale, unpinned)
        best = self._leave_zero(best, scale, unpinned)
        best.x = self._positive_diagonal(best.x)
        best = self._polish(self._check_boundary(best, scale), scale)
        converged = bool(np.isfinite(best.fun) and (best.success or self._stationary(best, scale)))
        result = MixedLMResult._from_model(self, best.x / scale, converged)
        result.model = self  # for refit (and lmmteach.inference): the design, nothing parsed again
        return result

    def _leave_zero(self, best, scale, unpinned):
        """Restart beside a diagonal element that ended at (or within 1e-6 of) 0 if the criterion is lower there.

        At 0 the gradient vanishes whether or not 0 is a minimum, and a step or
        an interpolation that is symmetric about 0 (the criterion is even in
        each column of T) can land exactly there. A one-dimensional search
        along that element tells which it is.
        """
        for i in np.flatnonzero((np.abs(best.x) < 1e-6) & self.diagonal_mask()):
            def along(value):
                x = best.x.copy()
                x[i] = value
                try:
                    return self.profiled_deviance(x / scale)
                except (np.linalg.LinAlgError, ValueError):
                    return np.inf

            line = optimize.minimize_scalar(along, bounds=(0.0, 4.0), method="bounded")
            if line.fun < best.fun:
                start = best.x.copy()
                start[i] = line.x
                again = self._minimise(start, scale, unpinned)
                best = again if again.fun < best.fun else best
        return best

    def _positive_diagonal(self, theta) -> np.ndarray:
        """theta with each column of each T negated where its diagonal element is negative (same T T')."""
        theta, first = np.array(theta, dtype=float), 0
        for t in self.terms:
            rows, cols = t._tril
            for a in range(t.k):
                column = first + np.flatnonzero(cols == a)
                if theta[first + np.flatnonzero((rows == a) & (cols == a))[0]] < 0:
                    theta[column] = -theta[column]
            first += t.n_theta
        return theta

    def _minimise(self, start, scale, pinned):
        """L-BFGS-B over the scaled theta with the exact gradient; ``pinned`` entries held at 0."""
        def value_and_gradient(scaled_theta):
            theta = scaled_theta / scale
            try:
                solution = self.solve(theta)
                value, grad = self.profiled_deviance(theta, solution), self.gradient(theta, solution) / scale
            except (np.linalg.LinAlgError, FloatingPointError, ValueError):
                return np.inf, np.zeros_like(theta)
            return (value, grad) if np.isfinite(value) and np.all(np.isfinite(grad)) else (np.inf, np.zeros_like(theta))

        bounds = [(0.0, 0.0) if p else (None, None) for p in pinned]
        start = np.where(pinned, 0.0, start)
        with np.errstate(divide="ignore", invalid="ignore"):
            return optimize.minimize(
                value_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds,
                options={"ftol": 1e-13, "gtol": 1e-6, "maxiter": 5000, "maxcor": 20},
            )

    def _check_boundary(self, best, scale):
        """Compare with the fit that sets a small variance to zero; keep whichever criterion is lower.

        At a zero diagonal element of T the criterion depends on it only through
        its square, so a gradient method can stop short of the boundary. A
        pinned column of T (its diagonal and the entries below it) is 0:
        that random-effect column has zero variance and no correlations.
        """
        bounds = np.cumsum([0] + [t.n_theta for t in self.terms])
        for t, first in zip(self.terms, bounds[:-1]):
            rows, cols = t._tril
            for a in range(t.k):
                position = first + np.flatnonzero((rows == a) & (cols == a))[0]
                pinned = np.zeros(len(scale), dtype=bool)
                pinned[first + np.flatnonzero(cols == a)] = True
                if abs(best.x[position]) >= BOUNDARY_CHECK or not np.any(best.x[pinned]):
                    continue  # clearly inside, or that column is already zero
                candidate = self._minimise(best.x, scale, pinned)
                if candidate.fun <= best.fun + 1e-10 * max(1.0, abs(best.fun)):
                    best = candidate
                    best.x = self._positive_diagonal(best.x)
        return best

    def _stationary(self, best, scale) -> bool:
        """Gradient of the free entries (on the scaled theta) below 1e-4: an optimum even if L-BFGS-B ended its line search early."""
        grad = self.gradient(best.x / scale) / scale
        free = best.x != 0  # pinned entries are exactly 0
        return bool(np.max(np.abs(grad[free]), initial=0.0) < 1e-4)

    def _polish(self, best, scale):
        """Newton steps with a difference Hessian of the exact gradient; warn when the criterion is flat.

        L-BFGS-B stops when the criterion stops decreasing in its last digits,
        which along a weakly curved direction can leave theta off by 1e-6; a
        Newton step on the free entries (those not exactly 0) takes it to
        where the gradient vanishes. A Hessian eigenvalue near 0 means the
        criterion is flat in that direction: a parameter the data do not identify.
        """
        free = np.flatnonzero(best.x != 0)  # entries on the boundary, or pinned there, stay put
        if free.size == 0:
            return best
        gradient = lambda x: self.gradient(x / scale) / scale  # noqa: E731  on the scaled theta
        h, hessian = 1e-4, np.empty((free.size, free.size))
        for column, i in enumerate(free):
            step = np.zeros(len(scale))
            step[i] = h
            hessian[:, column] = (gradient(best.x + step) - gradient(best.x - step))[free] / (2 * h)
        hessian = (hessian + hessian.T) / 2
        eigenvalues = np.linalg.eigvalsh(hessian)
        if eigenvalues[0] < FLAT_TOL * max(1.0, eigenvalues[-1]):
            warnings.warn(
                f"the REML/ML criterion is flat in some direction at the optimum (Hessian eigenvalues "
                f"{np.round(eigenvalues, 8).tolist()} on the scaled theta): some variance parameters are not "
                "identified by these data; simplify the random-effects structure",
                UnidentifiableWarning, stacklevel=3,
            )
            return best
        for _ in range(2):
            step = np.linalg.solve(hessian, gradient(best.x)[free])
            if np.max(np.abs(step)) < 1e-12:
                break
            x = best.x.copy()
            x[free] -= step
            value = self.profiled_deviance(x / scale)
            if not value <= best.fun + 1e-12 * abs(best.fun):
                break
            best.x, best.fun = x, value
        return best

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
            model.beta_ls, model.y_scale, model.y_work = _working_response(model.X, model.y, "the response")
            model.structure = model._structure(self.solver)
            model.XtX, model.Xty = model.X.T @ model.X, model.X.T @ model.y_work
        return model


def _working_response(X, y, response: str):
    """Least-squares coefficients of y on X, the RMS s of their residual, and that residual / s."""
    Q, R = np.linalg.qr(X)
    beta_ls = linalg.solve_triangular(R, Q.T @ y)
    resid = y - X @ beta_ls
    resid = resid - Q @ (Q.T @ resid)  # one refinement step: the residual is orthogonal to X to rounding
    scale = float(np.sqrt(np.mean(resid**2)))
    if not scale > 1e-12 * float(np.sqrt(np.mean(y**2))):
        raise ValueError(
            f"the response {response!r} is constant, or an exact linear function of the fixed effects: "
            "there is no residual variation to split into variance components"
        )
    return beta_ls, scale, resid / scale


def _check_identifiable(terms: list[RandomTerm], n: int) -> None:
    """lme4's checks: fewer levels (times columns) than observations; no column repeated for one factor."""
    for t in terms:
        if t.m >= n:
            raise ValueError(
                f"grouping factor {t.factor!r} has {t.m} levels for {n} observations: with (nearly) one "
                "observation per group a random effect cannot be told apart from the residual error; "
                "lme4 refuses this too (number of levels of each grouping factor must be < number of observations)"
            )
        if t.m * t.k >= n:
            raise ValueError(
                f"term ({' + '.join(t.columns)} | {t.factor}) has {t.m} x {t.k} = {t.m * t.k} random effects for "
                f"{n} observations: the random-effect variances and the residual variance are not identifiable"
            )
    seen: dict[str, set] = {}
    for t in terms:
        shared = seen.setdefault(t.factor, set()) & set(t.columns)
        if shared:
            raise ValueError(
                f"column(s) {sorted(shared)} appear in two random-effect terms for the same factor {t.factor!r} "
                f"(like (1 | {t.factor}) + (1 | {t.factor})): their variances cannot be told apart; "
                "write each column once per factor"
            )
        seen[t.factor] |= set(t.columns)


def _random_term(expr, factor, response, frame) -> RandomTerm:
    """Evaluate one ``(expr | factor)`` term: its columns with formulae, its factor's levels with pandas."""
    if expr.replace(" ", "") in ("0", "-1"):
        raise ValueError(f"random-effect term ({expr} | {factor}) has no columns: write (1 | {factor}) for a random "
                         f"intercept or (0 + x | {factor}) for a random slope only")
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
        solution = model.solve(theta)
        sigma2 = solution.r2 / model.dof
        factors = model.relative_factors(theta)
        modes = _conditional_modes(model.terms, factors, solution.u)
        fitted = model.y - solution.resid  # X beta + Z b
        labels = _group_labels(model.terms)
        fe_params, bse, cov_fe = _fixed_effects(model.fe_names, solution.beta, solution.RX, sigma2)
        result = cls(
            formula=model.formula, method=model.method, fe_params=fe_params, bse=bse, cov_fe=cov_fe,
            var_components=_variance_components(model.terms, labels, factors, sigma2),
            ranef=_ranef_table(model.terms, labels, modes),
            criterion=float(model.profiled_deviance(theta, solution)), converged=converged,
            singular=model.is_singular(theta), theta=theta, sigma=float(np.sqrt(sigma2)), nobs=model.n,
            ngroups={t.factor: t.m for t in model.terms}, fitted=fitted, resid=solution.resid,
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
