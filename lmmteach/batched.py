"""Many responses, one design: a random-intercept model fitted to all of them at once.

Simulation studies (parametric bootstrap, power) refit the same design to
hundreds of simulated responses. With a single random intercept ``(1 | g)``
every quantity of lme4's profiled criterion is a sum over groups of scalars,
so the criterion of R responses is a handful of array operations, and the
one-dimensional search over theta = sigma_u / sigma runs for all responses
together (a grid, then golden-section steps, each a vector operation).

For theta, with w_j = theta^2 / (1 + theta^2 n_j) and group sums S_X, S_y:

* ``log|L|^2 = sum_j log(1 + theta^2 n_j)``;
* ``X'V^-1 X = X'X - S_X' diag(w) S_X`` (V = I + theta^2 Z Z', relative to sigma^2);
* beta-hat solves ``(X'V^-1 X) beta = X'y - S_X' diag(w) S_y``;
* ``r2 = |r|^2 - sum_j w_j (sum of r in group j)^2`` with r = y - X beta-hat
  (the penalised residual sum of squares, from the residual);

and the REML criterion is ``log|L|^2 + log|X'V^-1 X| + (n - p)(1 + log(2 pi r2 / (n - p)))``
(ML: no log-determinant of X'V^-1 X and n instead of n - p), exactly the
criterion of :mod:`lmmteach.reml`, which a test checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["RandomIntercept", "BatchFit"]

_GOLDEN = (np.sqrt(5) - 1) / 2


@dataclass
class BatchFit:
    """Fits of R responses: one entry (or row) per response."""

    theta: np.ndarray  # (R,) sigma_u / sigma
    sigma: np.ndarray  # (R,)
    beta: np.ndarray  # (R, p)
    criterion: np.ndarray  # (R,) REML criterion or ML deviance
    cov: np.ndarray  # (R, p, p) sigma^2 (X'V^-1 X)^-1
    method: str

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diagonal(self.cov, axis1=1, axis2=2))


class RandomIntercept:
    """The design of a reml model with one ``(1 | g)`` term, ready for many responses."""

    def __init__(self, model):
        if len(model.terms) != 1 or model.terms[0].k != 1 or not np.allclose(model.terms[0].X, 1.0):
            raise ValueError("the batched path needs a model with a single random intercept (1 | g)")
        term = model.terms[0]
        self.X, self.codes, self.m = model.X, term.codes, term.m
        self.n, self.p = model.X.shape
        self.counts = np.bincount(self.codes, minlength=self.m).astype(float)
        self.Sx = np.array([np.bincount(self.codes, weights=col, minlength=self.m) for col in self.X.T]).T  # (m, p)
        self.XtX = self.X.T @ self.X

    def _group_sums(self, Y: np.ndarray) -> np.ndarray:
        """(R, n) -> (R, m): the sum of each response within each group."""
        onehot = np.zeros((self.n, self.m))
        onehot[np.arange(self.n), self.codes] = 1.0
        return Y @ onehot

    def _solve(self, theta: np.ndarray, Y: np.ndarray, Sy: np.ndarray):
        """beta-hat, X'V^-1X, r2 and log|L|^2 for each response at its own theta."""
        t2 = theta[:, None] ** 2
        w = t2 / (1 + t2 * self.counts)  # (R, m)
        M = self.XtX - np.einsum("rm,mp,mq->rpq", w, self.Sx, self.Sx)
        rhs = Y @ self.X - np.einsum("rm,mp,rm->rp", w, self.Sx, Sy)
        beta = np.linalg.solve(M, rhs[..., None])[..., 0]
        r = Y - beta @ self.X.T
        r_groups = Sy - beta @ self.Sx.T
        r2 = np.einsum("rn,rn->r", r, r) - np.einsum("rm,rm->r", w, r_groups**2)
        logdet_L = np.log1p(t2 * self.counts).sum(axis=1)
        return beta, M, r2, logdet_L

    def criterion(self, theta, Y, method: str = "REML") -> np.ndarray:
        """The profiled criterion of each response at its theta (lme4's, as reml.MixedModel.profiled_deviance)."""
        Y = np.atleast_2d(Y)
        theta = np.broadcast_to(np.asarray(theta, dtype=float), (len(Y),))
        _, M, r2, logdet_L = self._solve(theta, Y, self._group_sums(Y))
        return self._profiled(M, r2, logdet_L, method)

    def _profiled(self, M, r2, logdet_L, method):
        dof = self.n - self.p if method == "REML" else self.n
        value = logdet_L + dof * (1 + np.log(2 * np.pi * r2 / dof))
        if method == "REML":
            value = value + np.linalg.slogdet(M)[1]
        return value

    def fit(self, Y, method: str = "REML", theta_max: float = 100.0, steps: int = 45) -> BatchFit:
        """Fit every row of Y: a grid over theta, then golden-section steps inside each row's bracket."""
        if method not in ("REML", "ML"):
            raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        if Y.shape[1] != self.n:
            raise ValueError(f"each response needs {self.n} values, got {Y.shape[1]}")
        R = len(Y)
        Sy = self._group_sums(Y)

        def value(theta):
            _, M, r2, logdet_L = self._solve(theta, Y, Sy)
            return self._profiled(M, r2, logdet_L, method)

        grid = np.concatenate([[0.0], np.geomspace(1e-3, theta_max, 60)])
        values = np.array([value(np.full(R, g)) for g in grid])  # (G, R)
        best = np.argmin(values, axis=0)
        low = grid[np.maximum(best - 1, 0)]
        high = grid[np.minimum(best + 1, len(grid) - 1)]
        a, b = low + (1 - _GOLDEN) * (high - low), low + _GOLDEN * (high - low)
        fa, fb = value(a), value(b)
        for _ in range(steps):
            left = fa < fb  # the minimum lies in [low, b]
            high = np.where(left, b, high)
            low = np.where(left, low, a)
            a_new = np.where(left, low + (1 - _GOLDEN) * (high - low), b)
            b_new = np.where(left, a, low + _GOLDEN * (high - low))
            fa_new = np.where(left, np.nan, fb)
            fb_new = np.where(left, fa, np.nan)
            need_a, need_b = np.isnan(fa_new), np.isnan(fb_new)
            a, b = a_new, b_new
            fa = np.where(need_a, value(a), fa_new)
            fb = np.where(need_b, value(b), fb_new)
        theta = np.where(fa < fb, a, b)
        at_zero = values[0] <= np.minimum(fa, fb)  # the boundary itself is the minimum
        theta = np.where(at_zero, 0.0, theta)
        beta, M, r2, logdet_L = self._solve(theta, Y, Sy)
        dof = self.n - self.p if method == "REML" else self.n
        sigma2 = r2 / dof
        cov = sigma2[:, None, None] * np.linalg.inv(M)
        return BatchFit(theta, np.sqrt(sigma2), beta, self._profiled(M, r2, logdet_L, method), cov, method)

    # -- Satterthwaite for many fits ------------------------------------

    def _varpar_deviance(self, theta, sigma, Y, Sy, method):
        _, M, r2, logdet_L = self._solve(theta, Y, Sy)
        dof = self.n - self.p if method == "REML" else self.n
        value = logdet_L + dof * np.log(2 * np.pi * sigma**2) + r2 / sigma**2
        return value + np.linalg.slogdet(M)[1] if method == "REML" else value

    def satterthwaite_df(self, fits: BatchFit, Y, L) -> np.ndarray:
        """Satterthwaite df (R, q) of each row of L for each fit; see lmmteach.inference.satterthwaite_df.

        The Hessian of the deviance in (theta, sigma) by central differences for
        all fits at once; the Jacobian of Cov(beta-hat) analytically:
        dC/dtheta = sigma^2 M^-1 S_X' diag(2 theta / (1 + theta^2 n_j)^2) S_X M^-1,
        dC/dsigma = 2 C / sigma.
        """
        Y = np.atleast_2d(np.asarray(Y, dtype=float))
        L = np.atleast_2d(np.asarray(L, dtype=float))
        Sy = self._group_sums(Y)
        x = np.stack([fits.theta, fits.sigma], axis=1)  # (R, 2)
        h = 3e-4 * np.maximum(np.abs(x), 0.1)

        def f(shift):
            y = x + shift
            return self._varpar_deviance(y[:, 0], y[:, 1], Y, Sy, fits.method)

        e0, e1 = np.zeros_like(x), np.zeros_like(x)
        e0[:, 0], e1[:, 1] = h[:, 0], h[:, 1]
        f0 = f(0.0)
        H = np.empty((len(x), 2, 2))
        H[:, 0, 0] = (f(e0) - 2 * f0 + f(-e0)) / h[:, 0] ** 2
        H[:, 1, 1] = (f(e1) - 2 * f0 + f(-e1)) / h[:, 1] ** 2
        H[:, 0, 1] = H[:, 1, 0] = (f(e0 + e1) - f(e0 - e1) - f(-e0 + e1) + f(-e0 - e1)) / (4 * h[:, 0] * h[:, 1])
        values, vectors = np.linalg.eigh(H)
        inverse = np.where(values > 1e-8, 1 / np.where(values > 1e-8, values, 1.0), 0.0)
        A = 2 * np.einsum("rij,rj,rkj->rik", vectors, inverse, vectors)
        t2 = fits.theta[:, None] ** 2
        Minv = fits.cov / (fits.sigma**2)[:, None, None]
        dw = 2 * fits.theta[:, None] / (1 + t2 * self.counts) ** 2
        dM = -np.einsum("rm,mp,mq->rpq", dw, self.Sx, self.Sx)
        J_theta = -(fits.sigma**2)[:, None, None] * Minv @ dM @ Minv
        J_sigma = 2 * fits.cov / fits.sigma[:, None, None]
        v = np.einsum("qi,rij,qj->rq", L, fits.cov, L)
        g = np.stack([np.einsum("qi,rij,qj->rq", L, J, L) for J in (J_theta, J_sigma)], axis=2)  # (R, q, 2)
        return 2 * v**2 / np.einsum("rqk,rkl,rql->rq", g, A, g)

    def t_tests(self, fits: BatchFit, Y, L) -> dict:
        """Estimate, se, Satterthwaite df, t and two-sided p of each row of L for each fit, as (R, q) arrays."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        est = fits.beta @ L.T
        se = np.sqrt(np.einsum("qi,rij,qj->rq", L, fits.cov, L))
        df = self.satterthwaite_df(fits, Y, L)
        t = est / se
        return {"estimate": est, "se": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df)}
