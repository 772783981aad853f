"""The course's two comparison tables: what each model says, and how well it predicts.

* :func:`parameter_table` / :func:`table1` -- estimates with their standard
  error (OLS, REML) or posterior standard deviation (Bayesian fits), one tidy
  row per model and parameter: the course's version of the report's Table 1,
  with the parameters of :data:`lmmteach.ciproxifan.PARAMETERS`.
* :func:`prediction_table` -- in-sample mean squared error next to the
  out-of-sample scores of :mod:`lmmteach.crossval` and ``az.loo``.

Table 1 reads each kind of fit with one small reader, found by the fit's type:
the course's own :func:`lmmteach.ols.fit` and :func:`lmmteach.reml.fit`
results, ArviZ InferenceData from any :mod:`lmmteach.models` builder (through
:func:`lmmteach.models.course_posterior`, so Bambi's names need no mapping),
and statsmodels' OLS for compatibility. statsmodels' MixedLM is refused: its
standard errors differ from lme4's on unbalanced data (lesson 3).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import RegressionResultsWrapper
from statsmodels.regression.mixed_linear_model import MixedLMResultsWrapper

from lmmteach import checks
from lmmteach.ciproxifan import PARAMETERS
from lmmteach.crossval import good_k, mse
from lmmteach.models import course_posterior
from lmmteach.ols import OLSResult
from lmmteach.reml import MixedLMResult

__all__ = ["parameter_table", "prediction_table", "table1"]

Row = tuple[str, float, float]  # (parameter, estimate, standard error or posterior SD)


def _from_ols(result: OLSResult) -> list[Row]:
    """lmmteach.ols: the coefficients with their standard errors, then the residual SD."""
    rows = [(name, float(result.params[name]), float(result.bse[name])) for name in result.params.index]
    return rows + [("sigma", float(result.sigma), np.nan)]


def _from_reml(result: MixedLMResult) -> list[Row]:
    """lmmteach.reml: lme4's estimates and standard errors; a single random intercept only."""
    vc = result.var_components
    intercepts = vc[(vc["group"] != "Residual") & (vc["term1"] == "Intercept") & vc["term2"].isna()]
    if len(vc) != 2 or len(intercepts) != 1:
        raise ValueError("parameter_table handles a single random intercept, e.g. WAKE ~ ... + (1 | id)")
    rows = [(name, float(result.fe_params[name]), float(result.bse[name])) for name in result.fe_params.index]
    return rows + [("sigma", float(result.sigma), np.nan), ("sigma_u", float(intercepts["sdcor"].iloc[0]), np.nan)]


def _from_posterior(idata: az.InferenceData) -> list[Row]:
    """Posterior mean and SD of ``beta`` (one row per coefficient), ``sigma`` and ``sigma_u``."""
    if "posterior" not in idata.groups():
        raise ValueError("the InferenceData has no posterior group: sample the model first")
    post = course_posterior(idata)
    beta = post["beta"]
    if set(beta.dims) != {"chain", "draw", "coef"}:
        raise ValueError(f"posterior 'beta' must have the dimensions chain, draw, coef; it has {beta.dims}")
    rows = [_mean_and_sd(str(coef), beta.sel(coef=coef)) for coef in beta["coef"].values]
    return rows + [_mean_and_sd(name, post[name]) for name in ("sigma", "sigma_u") if name in post]


def _mean_and_sd(name: str, draws) -> Row:
    values = np.asarray(draws).ravel()
    return name, float(values.mean()), float(values.std(ddof=1))


def _from_statsmodels_ols(result: RegressionResultsWrapper) -> list[Row]:
    """statsmodels OLS, its ``Genotype[T.ko]`` written ``Genotype[ko]`` as formulae and R name it."""
    rows = [(str(name).replace("[T.", "["), float(result.params[name]), float(result.bse[name]))
            for name in result.params.index]
    return rows + [("sigma", float(np.sqrt(result.scale)), np.nan)]


def _refuse_statsmodels_mixedlm(result: MixedLMResultsWrapper) -> list[Row]:
    raise ValueError(
        "for the REML mixed model pass lmmteach.reml.fit('WAKE ~ ... + (1 | id)', data): statsmodels' "
        "MixedLM standard errors (bse_fe) differ from lme4's on unbalanced data (lesson 3)"
    )


#: one reader per kind of fit, the course's own first
_READERS = (
    (OLSResult, _from_ols),
    (MixedLMResult, _from_reml),
    (az.InferenceData, _from_posterior),
    (MixedLMResultsWrapper, _refuse_statsmodels_mixedlm),
    (RegressionResultsWrapper, _from_statsmodels_ols),
)


def _rows(fit) -> list[Row]:
    for kind, reader in _READERS:
        if isinstance(fit, kind):
            return [row for row in reader(fit) if row[0] in PARAMETERS]
    raise ValueError(
        f"cannot read estimates from a {type(fit).__name__}: expected an lmmteach.ols or lmmteach.reml fit, "
        "InferenceData from lmmteach.models or a statsmodels OLS result"
    )


def parameter_table(fits: dict) -> pd.DataFrame:
    """One tidy row per (model, parameter): ``model, parameter, estimate, se``.

    ``fits`` maps a model label to a fit (see the module docstring). For
    OLS/REML ``se`` is the standard error (lme4's, for REML; NaN for the
    variance parameters, reported without one); for Bayesian fits
    ``estimate`` is the posterior mean and ``se`` the posterior SD.
    """
    if fits is None or (isinstance(fits, dict) and not fits):
        raise ValueError("parameter_table needs at least one fitted model")
    checks.mapping(fits, "fits", "{'OLS': ols.fit(...), 'REML': reml.fit(...)}")
    records = []
    for label, fit in fits.items():
        rows = _rows(fit)
        if not rows:
            raise ValueError(f"model {label!r}: no parameter matched {PARAMETERS}")
        records += [{"model": label, "parameter": p, "estimate": e, "se": s} for p, e, s in rows]
    table = pd.DataFrame(records)
    table["model"] = pd.Categorical(table["model"], categories=list(fits))
    table["parameter"] = pd.Categorical(table["parameter"], categories=list(PARAMETERS))
    return table.sort_values(["model", "parameter"]).reset_index(drop=True)


def table1(tidy: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The wide, printable form of :func:`parameter_table`: ``"44.57 ± 2.70"`` per cell."""
    if not isinstance(tidy, pd.DataFrame):
        raise TypeError(f"table1 needs the DataFrame that parameter_table returns, got {type(tidy).__name__}")
    digits = checks.whole_number(digits, "digits", low=0)
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
    if predictions is None or (isinstance(predictions, dict) and not predictions):
        raise ValueError("prediction_table needs at least one model's predictions")
    checks.mapping(predictions, "predictions", "{'OLS': fit.fittedvalues}")
    loo = {} if loo is None else checks.mapping(loo, "loo", "{'hierarchical': az.loo(idata, pointwise=True)}")
    kfold_results = ({} if kfold_results is None
                     else checks.mapping(kfold_results, "kfold_results", "{'kfold_mouse': {'hierarchical': kfold_result}}"))
    for prefix, by_model in kfold_results.items():
        checks.mapping(by_model, f"kfold_results[{prefix!r}]", "{'hierarchical': kfold_result}")
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
                       n_bad_k=int(np.sum(np.asarray(res["pareto_k"]) > good_k(res))))
        for prefix, by_model in kfold_results.items():
            if label in by_model:
                row[f"elpd_{prefix}"] = by_model[label].elpd
                row[f"se_{prefix}"] = by_model[label].se
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
