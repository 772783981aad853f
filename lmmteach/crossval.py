"""Cross-validation for any model that gives posterior draws: how well does it predict new data?

PSIS-LOO (``az.loo``) estimates the expected log predictive density (elpd) of
each row from one fit, and says through its Pareto k where that estimate is not
to be trusted. This module does the rest: exact refits for those rows
(:func:`reloo`), K-fold cross-validation that can hold out whole mice
(:func:`kfold`), a table of the Pareto k (:func:`pareto_k_table`) and a ranking
by paired pointwise differences (:func:`compare_pointwise`).

It knows nothing about a particular model: it takes a ``fit(train)`` function
that returns posterior draws and a ``log_lik(fitted, test)`` function that
returns the held-out rows' log-likelihood, one row per draw.
:func:`gaussian_log_lik` does the second job for Gaussian linear models,
including groups that the training data never saw (their intercept is
integrated out); :func:`lmmteach.models.course_log_lik` uses it for the
course's models.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm

from lmmteach import checks, progress

__all__ = [
    "GOOD_K", "KFoldResult", "compare_pointwise", "gaussian_log_lik", "good_k", "kfold", "kfold_split", "mse",
    "pareto_k_table", "pointwise_elpd", "reloo",
]

#: Pareto k above which PSIS is unreliable when ``az.loo`` does not say (ArviZ's
#: threshold depends on the number of draws and is 0.7 at most).
GOOD_K = 0.7


def good_k(loo) -> float:
    """The Pareto k threshold for an ``az.loo`` result: its own ``good_k``, else :data:`GOOD_K`."""
    return float(loo.get("good_k", GOOD_K))


def pointwise_elpd(log_lik) -> np.ndarray:
    """log of the posterior-mean likelihood of each row: ``log(1/S sum_s p(y_i | theta_s))``.

    ``log_lik`` has one row per posterior draw and one column per observation
    (shape ``(S, n)``); the average is done on the log scale with logsumexp so
    that tiny likelihoods do not underflow.
    """
    log_lik = np.asarray(log_lik, dtype=float)
    if log_lik.ndim != 2 or log_lik.shape[0] < 1:
        raise ValueError(f"log_lik must have shape (draws, observations); got {log_lik.shape}")
    if not np.all(np.isfinite(log_lik)):
        raise ValueError("log_lik has NaN or infinite values")
    return logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])


def _elpd_se(pointwise: np.ndarray) -> float:
    """Standard error of a sum of n pointwise terms (as in loo and ArviZ)."""
    return float(np.sqrt(len(pointwise) * np.var(pointwise)))


def gaussian_log_lik(
    mu_fixed: np.ndarray,
    y: np.ndarray,
    sigma: np.ndarray,
    u: np.ndarray | None = None,
    sigma_u=None,
) -> np.ndarray:
    """Log-likelihood of held-out rows under ``y = mu_fixed + u[group] + e`` for every draw.

    ``mu_fixed`` is ``(S, n)`` (the fixed-effects part for each draw), ``sigma``
    ``(S,)``. ``u`` is ``(S, n)`` holding each row's group intercept, with NaN
    for rows whose group the training data never saw: their intercept is
    integrated out, ``y ~ Normal(mu_fixed, sqrt(sigma**2 + sigma_u**2))``, which
    needs ``sigma_u`` (a number, e.g. the report's fixed 10, or ``(S,)`` draws).
    """
    mu_fixed = checks.float_array(mu_fixed, "mu_fixed")
    y = checks.float_array(y, "y")
    sigma = checks.float_array(sigma, "sigma").reshape(-1, 1)
    if not np.all(np.isfinite(sigma) & (sigma > 0)):
        raise ValueError(f"sigma must be positive and finite in every draw, got min {np.nanmin(sigma):g} "
                         f"({int(np.sum(~(sigma > 0)))} draw(s) <= 0 or NaN)")
    if sigma_u is not None and not np.all(checks.float_array(sigma_u, "sigma_u") >= 0):
        raise ValueError(f"sigma_u must be >= 0 (a standard deviation), got {sigma_u!r}")
    if mu_fixed.ndim != 2 or mu_fixed.shape[1] != y.shape[0] or sigma.shape[0] != mu_fixed.shape[0]:
        raise ValueError(f"shape mismatch: mu_fixed {mu_fixed.shape}, y {y.shape}, sigma {sigma.shape}")
    if u is None:
        return norm.logpdf(y, mu_fixed, sigma)
    u = checks.float_array(u, "u")
    new = np.isnan(u)
    out = norm.logpdf(y, mu_fixed + np.where(new, 0.0, u), sigma)
    if new.any():
        if sigma_u is None:
            raise ValueError("some rows belong to groups unseen in training: pass sigma_u to integrate their intercept out")
        tau = np.broadcast_to(np.asarray(sigma_u, float).reshape(-1, 1), sigma.shape)
        marginal = norm.logpdf(y, mu_fixed, np.sqrt(sigma**2 + tau**2))
        out = np.where(new, marginal, out)
    return out


def _held_out_elpd(log_lik: Callable, fitted, test: pd.DataFrame) -> np.ndarray:
    """Pointwise elpd of ``test`` under ``fitted``, after checking ``log_lik`` gave (draws, rows)."""
    ll = np.asarray(log_lik(fitted, test))
    if ll.ndim != 2 or ll.shape[1] != len(test):
        raise ValueError(f"log_lik returned shape {ll.shape} for {len(test)} held-out rows; expected (draws, rows)")
    return pointwise_elpd(ll)


def kfold_split(n: int, k: int, seed: int, groups=None) -> np.ndarray:
    """Fold number (0..k-1) of each of ``n`` rows, shuffled with ``seed``.

    With ``groups`` (one label per row) whole groups go to the same fold, so a
    fold's test rows come from mice the training rows never saw. Folds are
    balanced in number of groups (or rows).
    """
    n = checks.whole_number(n, "n (the number of rows)", low=1)
    k = checks.whole_number(k, "k (the number of folds)", low=2)
    rng = np.random.default_rng(checks.seed(seed))
    if groups is None:
        if k > n:
            raise ValueError(f"cannot split {n} rows into {k} folds")
        folds = np.arange(n) % k
        return rng.permutation(folds)
    groups = pd.Series(np.asarray(groups))
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} labels for {n} rows")
    if groups.isna().any():
        raise ValueError("groups has missing labels")
    levels = pd.unique(groups)
    if k > len(levels):
        raise ValueError(f"cannot split {len(levels)} groups into {k} folds")
    fold_of_level = dict(zip(rng.permutation(levels), np.arange(len(levels)) % k))
    return groups.map(fold_of_level).to_numpy().astype(int)


@dataclass
class KFoldResult:
    """K-fold estimate of the expected log predictive density (elpd)."""

    elpd: float
    se: float
    pointwise: np.ndarray  # elpd contribution of each row
    folds: np.ndarray  # fold of each row
    grouped: bool

    @property
    def k(self) -> int:
        """The number of folds: distinct labels, whatever they are (folds {0, 5} are 2 folds)."""
        return len(np.unique(self.folds))

    def __repr__(self):
        kind = "grouped " if self.grouped else ""
        return f"{kind}{self.k}-fold CV: elpd {self.elpd:.1f} (SE {self.se:.1f}), {len(self.pointwise)} rows"


def kfold(
    data: pd.DataFrame,
    fit: Callable[[pd.DataFrame], object],
    log_lik: Callable[[object, pd.DataFrame], np.ndarray],
    k: int = 5,
    seed: int = 0,
    group: str | None = None,
    folds=None,
) -> KFoldResult:
    """K-fold cross-validation: refit without each fold, score the fold's rows.

    ``fit(train)`` returns anything ``log_lik(fitted, test)`` understands;
    ``log_lik`` returns the held-out rows' log-likelihood, shape
    ``(draws, len(test))``. Each row's contribution is
    ``log mean_s p(y_i | theta_s)`` over the draws of the fit that did not see
    it. ``group`` names a column whose groups are held out whole (a new mouse,
    not a new recording of a known mouse). ``folds`` overrides the split.
    """
    if not isinstance(data, pd.DataFrame) or len(data) == 0:
        raise ValueError("kfold needs a non-empty DataFrame")
    for name, function in (("fit", fit), ("log_lik", log_lik)):
        if not callable(function):
            raise TypeError(f"{name} must be a function, got {type(function).__name__}")
    if group is not None and not isinstance(group, str):
        raise TypeError(f"group must be the name of one column, got {group!r}")
    if group is not None and group not in data.columns:
        raise ValueError(f"group column {group!r} not in the data (columns: {list(data.columns)})")
    if folds is None:
        folds = kfold_split(len(data), k, seed, None if group is None else data[group])
    folds = np.asarray(folds)
    if folds.shape != (len(data),):
        raise ValueError(f"folds must give one fold per row ({len(data)}), got shape {folds.shape}")
    if pd.isna(folds).any():
        raise ValueError(f"folds has {int(pd.isna(folds).sum())} missing label(s): give every row a fold")
    if len(np.unique(folds)) < 2:
        raise ValueError(f"folds has a single label ({folds[0]!r}): every row would be held out at once, "
                         "leaving nothing to train on; K-fold needs at least 2 distinct fold labels")
    pointwise = np.full(len(data), np.nan)
    for f in progress.track(np.unique(folds), f"{len(np.unique(folds))}-fold refits"):
        test_mask = folds == f
        train, test = data.loc[~test_mask], data.loc[test_mask]
        if group is not None and isinstance(data[group].dtype, pd.CategoricalDtype):
            train = train.assign(**{group: train[group].cat.remove_unused_categories()})
        pointwise[test_mask] = _held_out_elpd(log_lik, fit(train), test)
    return KFoldResult(float(pointwise.sum()), _elpd_se(pointwise), pointwise, folds, group is not None)


def reloo(
    loo,
    data: pd.DataFrame,
    fit: Callable[[pd.DataFrame], object],
    log_lik: Callable[[object, pd.DataFrame], np.ndarray],
    threshold: float | None = None,
):
    """Replace the PSIS estimate of each row with Pareto k above ``threshold`` by an exact refit.

    For such a row the importance weights cannot be trusted, so we do what
    PSIS approximates: fit the model without the row and compute
    ``log mean_s p(y_i | theta_s)`` from that fit. ``loo`` is the pointwise
    result of ``az.loo(idata, pointwise=True)`` (log scale). Returns a copy in
    which those rows' ``loo_i`` are exact, their ``pareto_k`` set to 0, and
    ``elpd_loo``, ``se`` and ``p_loo`` recomputed; its ``refitted`` entry lists
    the refitted row positions. The result can go to ``az.compare``.
    Default threshold: :func:`good_k` of ``loo``.
    """
    for key in ("loo_i", "pareto_k", "elpd_loo", "p_loo"):
        if key not in loo:
            raise ValueError(f"reloo needs az.loo(..., pointwise=True) output; {key!r} is missing")
    if loo["scale"] != "log":
        raise ValueError(f"reloo works on the log scale; this loo used scale={loo['scale']!r}")
    k_hat = np.asarray(loo["pareto_k"]).ravel()
    if len(k_hat) != len(data):
        raise ValueError(f"loo has {len(k_hat)} observations but data has {len(data)} rows")
    threshold = good_k(loo) if threshold is None else checks.real_number(threshold, "threshold", infinite=True)
    bad = np.flatnonzero(k_hat > threshold)

    out = deepcopy(loo)
    loo_i = out["loo_i"].values.ravel().copy()
    lppd = float(loo["p_loo"] + loo["elpd_loo"])  # unchanged by refits
    for i in progress.track(bad, f"exact refits of {len(bad)} rows"):
        train, test = data.drop(index=data.index[i]), data.iloc[[i]]
        loo_i[i] = _held_out_elpd(log_lik, fit(train), test)[0]
    out["loo_i"] = out["loo_i"].copy(data=loo_i.reshape(out["loo_i"].shape))
    k_new = k_hat.copy()
    k_new[bad] = 0.0
    out["pareto_k"] = out["pareto_k"].copy(data=k_new.reshape(out["pareto_k"].shape))
    out["elpd_loo"] = float(loo_i.sum())
    out["se"] = _elpd_se(loo_i)
    out["p_loo"] = lppd - out["elpd_loo"]
    out["warning"] = bool(np.any(k_new > threshold))
    out["refitted"] = [int(i) for i in bad]
    return out


def pareto_k_table(loo, threshold: float | None = None) -> pd.DataFrame:
    """Counts of Pareto k in the classic bins, with :func:`good_k` (or ``threshold``) for 'bad'."""
    if "pareto_k" not in loo:
        raise ValueError("pareto_k_table needs az.loo(..., pointwise=True) output")
    k_hat = np.asarray(loo["pareto_k"]).ravel()
    cut = good_k(loo) if threshold is None else checks.real_number(threshold, "threshold", infinite=True)
    bins = [
        (f"(-Inf, {cut:.2f}]  good", k_hat <= cut),
        (f"({cut:.2f}, 1]  bad", (k_hat > cut) & (k_hat <= 1)),
        ("(1, Inf)  very bad", k_hat > 1),
    ]
    table = pd.DataFrame({"count": [int(m.sum()) for _, m in bins]}, index=[b for b, _ in bins])
    table["percent"] = (100 * table["count"] / len(k_hat)).round(1)
    return table


def mse(y, yhat) -> float:
    """Mean squared error of point predictions (in-sample when yhat came from a fit to y)."""
    y, yhat = checks.float_array(y, "y"), checks.float_array(yhat, "predictions")
    if y.shape != yhat.shape:
        raise ValueError(f"y has shape {y.shape} but predictions have shape {yhat.shape}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(yhat))):
        raise ValueError("y or predictions contain NaN or infinite values")
    return float(np.mean((y - yhat) ** 2))


def compare_pointwise(scores: dict) -> pd.DataFrame:
    """Rank models by summed pointwise elpd, with the SE of each difference from the best.

    ``scores`` maps a label to a :class:`KFoldResult`, an ``az.loo`` result or a
    1-d array of pointwise elpd over the same rows. The difference's SE is
    computed from paired pointwise differences (as ``az.compare`` does), which
    is much smaller than combining the two SEs when the models err on the same
    rows.
    """
    checks.mapping(scores, "scores", "{'model A': kfold_a, 'model B': kfold_b}")
    if len(scores) < 2:
        raise ValueError("compare_pointwise needs at least two models")
    pw = {}
    for label, s in scores.items():
        if isinstance(s, KFoldResult):
            pw[label] = s.pointwise
        elif isinstance(s, pd.Series) and "loo_i" in s:
            pw[label] = np.asarray(s["loo_i"]).ravel()
        else:
            pw[label] = checks.float_array(s, f"scores[{label!r}]").ravel()
    lengths = {len(v) for v in pw.values()}
    if len(lengths) != 1:
        raise ValueError(f"models were scored on different numbers of rows: { {k: len(v) for k, v in pw.items()} }")
    elpd = {k: v.sum() for k, v in pw.items()}
    best = max(elpd, key=elpd.get)
    rows = []
    for label in sorted(elpd, key=elpd.get, reverse=True):
        diff = pw[label] - pw[best]
        rows.append({"model": label, "elpd": elpd[label], "se": _elpd_se(pw[label]),
                     "elpd_diff": diff.sum(), "dse": _elpd_se(diff)})
    return pd.DataFrame(rows).set_index("model")
