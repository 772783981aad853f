"""Compare the course's models: one table of estimates, one table of predictive scores.

Two questions, two tables:

* :func:`parameter_table` / :func:`table1` — what does each model say about the
  parameters? Estimates with their standard error (OLS, REML) or posterior
  standard deviation (Bayesian fits), one tidy row per model and parameter, the
  course's version of the report's Table 1.
* :func:`prediction_table` — how well does each model predict? In-sample mean
  squared error next to out-of-sample scores: PSIS-LOO (``az.loo``), exact
  refits where PSIS is unreliable (:func:`reloo`) and K-fold cross-validation
  (:func:`kfold`, optionally grouped so that whole mice are held out).

The cross-validation code is model-agnostic: it takes a ``fit(train)`` function
that returns posterior draws and a ``log_lik(fitted, test)`` function that
returns the log-likelihood of held-out rows, one row per draw. For the course's
Gaussian linear models, :func:`gaussian_log_lik` does the second job, including
mice that the training data never saw (their intercept is integrated out).
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.stats import norm

from lmmteach.ciproxifan import PARAMETERS


# --------------------------------------------------------------------------- #
# Table 1: estimates +- SE / posterior SD
# --------------------------------------------------------------------------- #
def _canonical(name: str) -> str:
    """statsmodels' ``Genotype[T.ko]`` -> ``Genotype[ko]``; other names unchanged."""
    return str(name).replace("[T.", "[")


def _rows_from_fit(result) -> list[tuple[str, float, float]]:
    """(parameter, estimate, SE) from a statsmodels OLS result or an :mod:`lmmteach.reml` fit."""
    if hasattr(result, "var_components"):  # lmmteach.reml: lme4's estimates and standard errors
        vc = result.var_components
        intercepts = vc[(vc["group"] != "Residual") & (vc["term1"] == "Intercept") & vc["term2"].isna()]
        if len(vc) != 2 or len(intercepts) != 1:
            raise ValueError("parameter_table handles a single random intercept, e.g. WAKE ~ ... + (1 | id)")
        rows = [(n, float(result.fe_params[n]), float(result.bse[n])) for n in result.fe_params.index]
        rows.append(("sigma", float(result.sigma), np.nan))
        rows.append(("sigma_u", float(intercepts["sdcor"].iloc[0]), np.nan))
        return rows
    if hasattr(result, "fe_params"):  # statsmodels MixedLM
        raise ValueError(
            "for the REML mixed model pass lmmteach.reml.fit('WAKE ~ ... + (1 | id)', data): statsmodels' "
            "MixedLM standard errors (bse_fe) differ from lme4's on unbalanced data (lesson 3)"
        )
    if hasattr(result, "params") and hasattr(result, "bse") and hasattr(result, "scale"):  # OLS
        rows = [(_canonical(n), float(result.params[n]), float(result.bse[n])) for n in result.params.index]
        rows.append(("sigma", float(np.sqrt(result.scale)), np.nan))
        return rows
    raise ValueError(
        f"cannot read estimates from a {type(result).__name__}: expected a statsmodels OLS result, "
        "an lmmteach.reml fit or InferenceData"
    )


def _rows_from_posterior(idata, rename: dict | None) -> list[tuple[str, float, float]]:
    """(parameter, posterior mean, posterior SD) for every scalar in the posterior.

    A vector variable whose extra dimension has labels (e.g. ``beta`` with
    ``coef = ["Intercept", "Treatment", ...]``) gives one row per label.
    ``rename`` maps posterior names (or labels) to the canonical names; only
    names that end up in :data:`PARAMETERS` are kept.
    """
    if not hasattr(idata, "posterior"):
        raise ValueError("the InferenceData has no posterior group: sample the model first")
    rename = dict(rename or {})
    rows = []
    for var, arr in idata.posterior.data_vars.items():
        extra = [d for d in arr.dims if d not in ("chain", "draw")]
        flat = arr.stack(__s__=("chain", "draw")).transpose(*extra, "__s__")
        if not extra:
            rows.append((rename.get(var, var), float(flat.mean()), float(flat.std(ddof=1))))
        elif len(extra) == 1:
            for label in arr[extra[0]].values:
                vals = flat.sel({extra[0]: label}).values
                key = rename.get((var, label), rename.get(str(label), str(label)))
                rows.append((key, float(vals.mean()), float(vals.std(ddof=1))))
    return [r for r in rows if r[0] in PARAMETERS]


def parameter_table(fits: dict, rename: dict | None = None) -> pd.DataFrame:
    """One tidy row per (model, parameter): ``model, parameter, estimate, se``.

    ``fits`` maps a model label to a statsmodels OLS result, an
    :func:`lmmteach.reml.fit` result or an ArviZ InferenceData. For OLS/REML
    ``se`` is the standard error (lme4's, for REML; NaN for the variance
    parameters, reported without one); for Bayesian
    fits ``estimate`` is the posterior mean and ``se`` the posterior SD.
    ``rename`` maps posterior variable names / coordinate labels to
    :data:`PARAMETERS` (``{"b_treat": "Treatment", ("beta", 1): ...}``).
    """
    if not fits:
        raise ValueError("parameter_table needs at least one fitted model")
    records = []
    for label, fit in fits.items():
        rows = _rows_from_posterior(fit, rename) if hasattr(fit, "posterior") or type(fit).__name__ == "InferenceData" \
            else _rows_from_fit(fit)
        if not rows:
            raise ValueError(f"model {label!r}: no parameter matched {PARAMETERS}; pass rename=")
        names = [r[0] for r in rows]
        if len(set(names)) != len(names):
            raise ValueError(f"model {label!r}: parameter names repeat after renaming: {names}")
        records += [{"model": label, "parameter": p, "estimate": e, "se": s} for p, e, s in rows]
    table = pd.DataFrame(records)
    table["model"] = pd.Categorical(table["model"], categories=list(fits))
    table["parameter"] = pd.Categorical(table["parameter"], categories=list(PARAMETERS))
    return table.sort_values(["model", "parameter"]).reset_index(drop=True)


def table1(tidy: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The wide, printable form of :func:`parameter_table`: ``"44.57 ± 2.70"`` per cell."""
    missing = {"model", "parameter", "estimate", "se"} - set(tidy.columns)
    if missing:
        raise ValueError(f"table1 needs the output of parameter_table; missing column(s) {sorted(missing)}")

    def cell(row):
        if np.isnan(row.estimate):
            return ""
        return f"{row.estimate:.{digits}f}" + ("" if np.isnan(row.se) else f" ± {row.se:.{digits}f}")

    wide = tidy.assign(cell=tidy.apply(cell, axis=1)).pivot(index="parameter", columns="model", values="cell")
    wide = wide.reindex([p for p in PARAMETERS if p in set(tidy["parameter"])])
    wide = wide.fillna("—")
    wide.columns.name = None
    return wide


# --------------------------------------------------------------------------- #
# Pointwise predictive densities
# --------------------------------------------------------------------------- #
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


def _stacked(idata, name: str) -> np.ndarray:
    """Posterior draws of ``name`` with chains and draws flattened into the first axis."""
    if name not in idata.posterior:
        raise ValueError(f"the posterior has no variable {name!r}; it has {list(idata.posterior.data_vars)}")
    arr = idata.posterior[name]
    extra = [d for d in arr.dims if d not in ("chain", "draw")]
    return arr.stack(__s__=("chain", "draw")).transpose("__s__", *extra).values


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
    mu_fixed = np.asarray(mu_fixed, float)
    y = np.asarray(y, float)
    sigma = np.asarray(sigma, float).reshape(-1, 1)
    if mu_fixed.ndim != 2 or mu_fixed.shape[1] != y.shape[0] or sigma.shape[0] != mu_fixed.shape[0]:
        raise ValueError(f"shape mismatch: mu_fixed {mu_fixed.shape}, y {y.shape}, sigma {sigma.shape}")
    if u is None:
        return norm.logpdf(y, mu_fixed, sigma)
    u = np.asarray(u, float)
    new = np.isnan(u)
    out = norm.logpdf(y, mu_fixed + np.where(new, 0.0, u), sigma)
    if new.any():
        if sigma_u is None:
            raise ValueError("some rows belong to groups unseen in training: pass sigma_u to integrate their intercept out")
        tau = np.broadcast_to(np.asarray(sigma_u, float).reshape(-1, 1), sigma.shape)
        marginal = norm.logpdf(y, mu_fixed, np.sqrt(sigma**2 + tau**2))
        out = np.where(new, marginal, out)
    return out


# --------------------------------------------------------------------------- #
# K-fold cross-validation
# --------------------------------------------------------------------------- #
def kfold_split(n: int, k: int, seed: int, groups=None) -> np.ndarray:
    """Fold number (0..k-1) of each of ``n`` rows, shuffled with ``seed``.

    With ``groups`` (one label per row) whole groups go to the same fold, so a
    fold's test rows come from mice the training rows never saw. Folds are
    balanced in number of groups (or rows).
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"K-fold needs k >= 2 folds, got {k!r}")
    rng = np.random.default_rng(seed)
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
        return int(self.folds.max() + 1)

    def __repr__(self):
        kind = "grouped " if self.grouped else ""
        return f"{kind}{self.k}-fold CV: elpd {self.elpd:.1f} (SE {self.se:.1f}), {len(self.pointwise)} rows"


def _elpd_se(pointwise: np.ndarray) -> float:
    """Standard error of a sum of n pointwise terms (as in loo and ArviZ)."""
    return float(np.sqrt(len(pointwise) * np.var(pointwise)))


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
    if group is not None and group not in data.columns:
        raise ValueError(f"group column {group!r} not in the data (columns: {list(data.columns)})")
    if folds is None:
        folds = kfold_split(len(data), k, seed, None if group is None else data[group])
    folds = np.asarray(folds)
    if folds.shape != (len(data),):
        raise ValueError(f"folds must give one fold per row ({len(data)}), got shape {folds.shape}")
    pointwise = np.full(len(data), np.nan)
    for f in np.unique(folds):
        test_mask = folds == f
        train, test = data.loc[~test_mask], data.loc[test_mask]
        if group is not None and isinstance(data[group].dtype, pd.CategoricalDtype):
            train = train.assign(**{group: train[group].cat.remove_unused_categories()})
        ll = np.asarray(log_lik(fit(train), test))
        if ll.ndim != 2 or ll.shape[1] != test_mask.sum():
            raise ValueError(f"log_lik returned shape {ll.shape} for {test_mask.sum()} held-out rows; expected (draws, rows)")
        pointwise[test_mask] = pointwise_elpd(ll)
    return KFoldResult(float(pointwise.sum()), _elpd_se(pointwise), pointwise, folds, group is not None)


# --------------------------------------------------------------------------- #
# Exact refits for observations with bad Pareto k
# --------------------------------------------------------------------------- #
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
    Default threshold: ArviZ's sample-size dependent ``loo.good_k`` (0.7 at most).
    """
    for key in ("loo_i", "pareto_k", "elpd_loo", "p_loo"):
        if key not in loo:
            raise ValueError(f"reloo needs az.loo(..., pointwise=True) output; {key!r} is missing")
    if loo["scale"] != "log":
        raise ValueError(f"reloo works on the log scale; this loo used scale={loo['scale']!r}")
    k_hat = np.asarray(loo["pareto_k"]).ravel()
    if len(k_hat) != len(data):
        raise ValueError(f"loo has {len(k_hat)} observations but data has {len(data)} rows")
    if threshold is None:
        threshold = float(loo.get("good_k", 0.7))
    bad = np.flatnonzero(k_hat > threshold)

    out = deepcopy(loo)
    loo_i = out["loo_i"].values.ravel().copy()
    lppd = float(loo["p_loo"] + loo["elpd_loo"])  # unchanged by refits
    for i in bad:
        train, test = data.drop(index=data.index[i]), data.iloc[[i]]
        ll = np.asarray(log_lik(fit(train), test))
        if ll.ndim != 2 or ll.shape[1] != 1:
            raise ValueError(f"log_lik returned shape {ll.shape} for one held-out row; expected (draws, 1)")
        loo_i[i] = pointwise_elpd(ll)[0]
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
    """Counts of Pareto k in the classic bins, with ArviZ's threshold for 'bad'."""
    if "pareto_k" not in loo:
        raise ValueError("pareto_k_table needs az.loo(..., pointwise=True) output")
    k_hat = np.asarray(loo["pareto_k"]).ravel()
    good_k = float(loo.get("good_k", 0.7)) if threshold is None else threshold
    bins = [
        (f"(-Inf, {good_k:.2f}]  good", k_hat <= good_k),
        (f"({good_k:.2f}, 1]  bad", (k_hat > good_k) & (k_hat <= 1)),
        ("(1, Inf)  very bad", k_hat > 1),
    ]
    table = pd.DataFrame({"count": [int(m.sum()) for _, m in bins]}, index=[b for b, _ in bins])
    table["percent"] = (100 * table["count"] / len(k_hat)).round(1)
    return table


# --------------------------------------------------------------------------- #
# Comparison tables
# --------------------------------------------------------------------------- #
def mse(y, yhat) -> float:
    """Mean squared error of point predictions (in-sample when yhat came from a fit to y)."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
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
    if len(scores) < 2:
        raise ValueError("compare_pointwise needs at least two models")
    pw = {}
    for label, s in scores.items():
        if isinstance(s, KFoldResult):
            pw[label] = s.pointwise
        elif hasattr(s, "index") and "loo_i" in s:
            pw[label] = np.asarray(s["loo_i"]).ravel()
        else:
            pw[label] = np.asarray(s, float).ravel()
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


def prediction_table(
    y,
    predictions: dict,
    loo: dict | None = None,
    kfold_results: dict | None = None,
) -> pd.DataFrame:
    """In-sample MSE next to out-of-sample scores, one row per model.

    ``predictions`` maps a label to in-sample point predictions (for a
    Bayesian model the posterior mean of ``mu``). ``loo`` maps labels to
    ``az.loo`` results (columns ``elpd_loo``, ``se_loo``, ``p_loo``, ``n_bad_k``);
    ``kfold_results`` maps a column prefix to ``{label: KFoldResult}`` (e.g.
    ``{"kfold_mouse": {...}}`` gives ``elpd_kfold_mouse`` and ``se_kfold_mouse``).
    Missing scores are NaN: OLS/REML have no posterior to score.
    """
    if not predictions:
        raise ValueError("prediction_table needs at least one model's predictions")
    loo = loo or {}
    kfold_results = kfold_results or {}
    unknown = set(loo) - set(predictions)
    for by_model in kfold_results.values():
        unknown |= set(by_model) - set(predictions)
    if unknown:
        raise ValueError(f"scores given for models without predictions: {sorted(unknown)}")
    rows = []
    for label, yhat in predictions.items():
        row = {"model": label, "mse_in_sample": mse(y, yhat)}
        if label in loo:
            res = loo[label]
            row.update(elpd_loo=float(res["elpd_loo"]), se_loo=float(res["se"]), p_loo=float(res["p_loo"]),
                       n_bad_k=int(np.sum(np.asarray(res["pareto_k"]) > float(res.get("good_k", 0.7)))))
        for prefix, by_model in kfold_results.items():
            if label in by_model:
                row[f"elpd_{prefix}"] = by_model[label].elpd
                row[f"se_{prefix}"] = by_model[label].se
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


# --------------------------------------------------------------------------- #
# Adapters for the course's models (lmmteach.models)
# --------------------------------------------------------------------------- #
def course_log_lik(idata, test: pd.DataFrame, u_sd: float | None = None) -> np.ndarray:
    """Held-out log-likelihood, shape ``(draws, len(test))``, for a model of :mod:`lmmteach.models`.

    Reads ``beta``, ``sigma`` and, for mixed models, ``u`` (by mouse label) and
    ``sigma_u`` from the posterior. A test mouse the fit has no intercept for
    gets its intercept integrated out: with scale ``sigma_u`` (hierarchical
    model) or the fixed ``u_sd`` (the report's model; default 10, its prior).
    """
    from lmmteach import models

    has_u = "u" in idata.posterior
    d = models.design(test, needs_id=has_u)
    beta = _stacked(idata, "beta")
    coefs = [str(c) for c in idata.posterior["beta"].coords["coef"].values]
    if coefs != list(d.coefs):
        raise ValueError(f"posterior coefficients {coefs} do not match the design {list(d.coefs)}")
    mu = beta @ d.X.T
    sigma = _stacked(idata, "sigma")
    if not has_u:
        return gaussian_log_lik(mu, d.y, sigma)
    u_draws = _stacked(idata, "u")
    labels = {str(label): j for j, label in enumerate(idata.posterior["u"].coords["id"].values)}
    cols = [labels.get(str(label)) for label in test["id"]]
    u = np.column_stack([u_draws[:, j] if j is not None else np.full(len(sigma), np.nan) for j in cols])
    if "sigma_u" in idata.posterior:
        scale = _stacked(idata, "sigma_u")
    else:
        scale = models.SIGMA_U_SD if u_sd is None else u_sd
    return gaussian_log_lik(mu, d.y, sigma, u, sigma_u=scale)


def course_fitted_mean(idata, data: pd.DataFrame) -> np.ndarray:
    """Posterior mean of ``mu`` for each row of ``data`` (fixed part plus the mouse's intercept)."""
    from lmmteach import models

    has_u = "u" in idata.posterior
    d = models.design(data, needs_id=has_u)
    mu = _stacked(idata, "beta") @ d.X.T
    if has_u:
        labels = [str(label) for label in idata.posterior["u"].coords["id"].values]
        missing = sorted(set(map(str, data["id"])) - set(labels))
        if missing:
            raise ValueError(f"the fit has no intercept for mouse/mice {missing}")
        u = _stacked(idata, "u")
        mu = mu + u[:, [labels.index(str(label)) for label in data["id"]]]
    return mu.mean(axis=0)
