"""Power by simulation for a mixed design (simr's idea: Green & MacLeod 2016), on the course's REML engine.

Power is the probability that the planned test rejects when the effect is
real. For a mixed model it has no simple formula in general, so simulate it:
state the design (how many subjects, how many recordings each), the fixed
effects and the variance components; simulate many data sets from them; refit
the model to each; test; count the rejections. The count is binomial, so the
power estimate comes with a binomial (Clopper-Pearson) confidence interval
that says how many simulations are enough.

* :func:`design` builds a balanced design: subjects in the cells of the
  between-subject factors, each subject recorded at every level of the
  within-subject factors, ``recordings`` times;
* :func:`simulate` estimates the power of one design;
* :func:`curve` does it over a grid of numbers of subjects and recordings;
* :func:`t_power` is the analytic answer for a balanced design (non-central t),
  which simulation must reproduce.

A single random intercept is refitted for all simulations at once
(:mod:`lmmteach.batched`): a whole curve takes seconds.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from lmmteach import inference
from lmmteach.batched import RandomIntercept
from lmmteach.formulas import split_random_terms
from lmmteach.reml import MixedLMResult, MixedModel, SingularFitWarning

__all__ = ["design", "PowerResult", "simulate", "curve", "t_power", "values_from"]

_SUBJECT = "subject"


def design(subjects: int, recordings: int = 1, between: dict | None = None, within: dict | None = None,
           response: str = "y") -> pd.DataFrame:
    """A balanced design: ``subjects`` per cell of ``between``, each seen ``recordings`` times per ``within`` cell.

    ``between`` and ``within`` map a column name to its levels (strings become
    categories in that order, numbers stay numeric, e.g. doses). The subject
    column is ``subject`` (a category); the response column holds a
    placeholder (0, 1, ..., 6 repeating) so that a model can be built on the
    design (a constant response is refused); simulations replace it.
    """
    for value, what in ((subjects, "subjects"), (recordings, "recordings")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{what} must be a whole number >= 1, got {value!r}")
    between, within = dict(between or {}), dict(within or {})
    for name, levels in {**between, **within}.items():
        if len(levels) < 1:
            raise ValueError(f"factor {name!r} needs at least one level")
    rows, subject = [], 0
    for cell in itertools.product(*between.values()):
        for _ in range(subjects):
            subject += 1
            for inner in itertools.product(*within.values()):
                for _ in range(recordings):
                    rows.append((f"s{subject:03d}", *cell, *inner))
    frame = pd.DataFrame(rows, columns=[_SUBJECT, *between, *within])
    frame[_SUBJECT] = pd.Categorical(frame[_SUBJECT], categories=list(dict.fromkeys(frame[_SUBJECT])))
    for name, levels in {**between, **within}.items():
        if not all(isinstance(v, (int, float, np.number)) for v in levels):
            frame[name] = pd.Categorical(frame[name], categories=list(levels))
    frame[response] = np.arange(len(frame), dtype=float) % 7
    return frame


def values_from(fit: MixedLMResult) -> dict:
    """A fit's estimates as keyword arguments of :func:`simulate`: beta, sd (per grouping factor), sigma."""
    vc = fit.var_components
    intercepts = vc[(vc["term1"] == "Intercept") & vc["term2"].isna()]
    return {"beta": dict(fit.fe_params), "sd": dict(zip(intercepts["group"], intercepts["sdcor"])), "sigma": fit.sigma}


@dataclass(frozen=True)
class PowerResult:
    """Estimated power with its binomial confidence interval."""

    power: float
    lower: float
    upper: float
    rejections: int
    n: int
    alpha: float
    test: str

    def __str__(self) -> str:
        return (f"power {self.power:.3f} (95% CI {self.lower:.3f} to {self.upper:.3f}; "
                f"{self.rejections} of {self.n} simulations rejected at alpha = {self.alpha}; {self.test})")


def _model(formula: str, data: pd.DataFrame) -> MixedModel:
    """The model's design; its response is a placeholder (every simulation replaces it via ``updated``).

    A column of zeros would be refused as a constant response, so the placeholder
    is a fixed non-constant sequence when the design's response is constant.
    """
    response = split_random_terms(formula)[0]
    if response in data.columns and data[response].nunique() < 2:
        data = data.assign(**{response: np.arange(len(data), dtype=float) % 7})
    return MixedModel(formula, data)


def _parameters(model: MixedModel, beta, sd, sigma):
    """beta (a dict by name, missing names = 0) and SDs (per grouping factor) as reml's beta and theta."""
    if not sigma or not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"sigma (the residual SD) must be a positive number, got {sigma!r}")
    beta = dict(beta or {})
    unknown = [k for k in beta if k not in model.fe_names]
    if unknown:
        raise ValueError(f"beta names {unknown} are not fixed effects of the model ({', '.join(model.fe_names)})")
    b = np.array([float(beta.get(name, 0.0)) for name in model.fe_names])
    if any(t.k != 1 for t in model.terms):
        raise ValueError("stated values support random intercepts only, e.g. (1 | subject); simulate from a fit instead")
    if not isinstance(sd, dict):
        if len(model.terms) != 1:
            raise ValueError("give sd as a dict {grouping factor: SD} when the model has several random terms")
        sd = {model.terms[0].factor: sd}
    missing = [t.factor for t in model.terms if t.factor not in sd]
    if missing:
        raise ValueError(f"no SD given for grouping factor(s) {missing}")
    if any(not np.isfinite(sd[t.factor]) or sd[t.factor] < 0 for t in model.terms):
        raise ValueError(f"random-effect SDs must be >= 0, got {sd}")
    return b, np.array([sd[t.factor] / sigma for t in model.terms])


def _contrast(model: MixedModel, test) -> tuple[np.ndarray, str]:
    """The tested combination: a fixed-effect name, or weights (a dict by name or a vector)."""
    if isinstance(test, str):
        if test not in model.fe_names:
            raise ValueError(f"term {test!r} is not a fixed effect of the model ({', '.join(model.fe_names)})")
        return np.eye(model.p)[model.fe_names.index(test)], test
    if isinstance(test, dict):
        unknown = [k for k in test if k not in model.fe_names]
        if unknown:
            raise ValueError(f"contrast names {unknown} are not fixed effects of the model ({', '.join(model.fe_names)})")
        L = np.array([float(test.get(n, 0.0)) for n in model.fe_names])
    else:
        L = np.asarray(test, dtype=float).ravel()
        if L.shape != (model.p,):
            raise ValueError(f"a contrast needs one weight per fixed effect ({model.p}: {', '.join(model.fe_names)})")
    label = " + ".join(f"{w:g}*{n}" for w, n in zip(L, model.fe_names) if w != 0)
    return L, label


def _p_values(model: MixedModel, L: np.ndarray, Y: np.ndarray, ddf: str) -> np.ndarray:
    """Two-sided p-value of L beta = 0 for each simulated response (rows of Y)."""
    method = inference._checked_ddf(ddf)
    try:
        batch = RandomIntercept(model)
    except ValueError:
        batch = None
    if batch is not None and method != "kenward-roger":
        fits = batch.fit(Y)
        if method == "satterthwaite":
            return batch.t_tests(fits, Y, L)["p"][:, 0]
        est, se = fits.beta @ L, np.sqrt(np.einsum("i,rij,j->r", L, fits.cov, L))
        df = model.n - model.p if method == "residual" else np.inf
        return 2 * stats.t.sf(np.abs(est / se), df)
    p = np.empty(len(Y))
    for i, y in enumerate(Y):
        fit = model.updated(y=y).fit()
        p[i] = inference.estimate(fit, L, ddf=method, level=None)["p"].iloc[0]
    return p


def _binomial(rejections: int, n: int, level: float = 0.95) -> tuple[float, float]:
    ci = stats.binomtest(int(rejections), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def simulate(formula: str, data: pd.DataFrame, test, beta: dict, sd, sigma: float, n: int = 500,
             seed: int | None = None, alpha: float = 0.05, ddf: str = "satterthwaite") -> PowerResult:
    """Power of the t test of ``test`` (a fixed-effect name or contrast weights) for the design ``data``.

    Simulate ``n`` data sets from the stated fixed effects ``beta`` (dict by
    name; names not given are 0), random-intercept SDs ``sd`` (a number, or a
    dict by grouping factor) and residual SD ``sigma``; refit the model to each;
    reject when the two-sided p-value (``ddf`` as in
    :func:`lmmteach.inference.coef_table`) is below ``alpha``.
    """
    n = inference._checked_count(n, "n")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    model = _model(formula, data)
    b, theta = _parameters(model, beta, sd, sigma)
    L, label = _contrast(model, test)
    Y = inference.simulate_model(model, b, theta, sigma, n, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularFitWarning)
        p = _p_values(model, L, Y, ddf)
    rejections = int(np.sum(p < alpha))
    return PowerResult(rejections / n, *_binomial(rejections, n), rejections, n, alpha, f"{label} ({ddf})")


def curve(formula: str, test, beta: dict, sd, sigma: float, subjects, recordings=(1,), between=None,
          within=None, n: int = 500, seed: int = 0, alpha: float = 0.05, ddf: str = "satterthwaite") -> pd.DataFrame:
    """Power over a grid of ``subjects`` (per between cell) and ``recordings`` (per subject and within cell).

    One row per combination: subjects, recordings, observations, power and its
    95 % binomial interval (lower, upper). Each design gets its own seed
    (``seed`` + its position), so the curve is reproducible.
    """
    rows = []
    for i, (s, r) in enumerate(itertools.product(subjects, recordings)):
        data = design(s, r, between, within, response=formula.split("~")[0].strip())
        result = simulate(formula, data, test, beta, sd, sigma, n=n, seed=seed + i, alpha=alpha, ddf=ddf)
        rows.append((s, r, len(data), result.power, result.lower, result.upper))
    return pd.DataFrame(rows, columns=["subjects", "recordings", "observations", "power", "lower", "upper"])


def t_power(effect: float, se: float, df: float, alpha: float = 0.05) -> float:
    """Power of a two-sided t test: P(|T| > t_crit) for T non-central t with ncp = effect / se."""
    critical = stats.t.ppf(1 - alpha / 2, df)
    ncp = effect / se
    return float(stats.nct.sf(critical, df, ncp) + stats.nct.cdf(-critical, df, ncp))
