"""Exercise set 02: complete, no and partial pooling; ML and REML (radon, ciproxifan).

Expected answers come from pandas on the radon data and from the course's own
REML engine, :func:`lmmteach.reml.fit` (lme4's method, Listing 4 of the report
on the ciproxifan reconstruction: variances 9.926 and 58.145). The student
fits the same model with statsmodels' MixedLM, so q3 validates a MixedLM
result; ``fit(reml=True, method="bfgs", gtol=1e-10)`` reproduces lme4's numbers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmmteach.ciproxifan import FORMULA
from lmmteach.exercises._reference import ciproxifan_data
from lmmteach.exercises.questions import (ChoiceQuestion, FunctionQuestion, Mistake, NumericQuestion, ObjectQuestion,
                                          collect_questions)

__all__ = ["QUESTIONS", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex02"
COUNTY = "LAC QUI PARLE"  # 2 homes: the no-pooling estimate is extreme and shrinks a lot


@lru_cache(maxsize=None)
def _radon():
    from lmmteach.data import load_radon

    return load_radon()


def _county_mean():
    frame = _radon()
    return float(frame.loc[frame["county"] == COUNTY, "log_radon"].mean())


q1 = NumericQuestion(
    SET, "q1", f"No pooling: the mean log_radon of the homes in {COUNTY} county (radon data).",
    _county_mean, rtol=1e-6,
    hints=["Select the rows of that county and average log_radon.",
           "radon.groupby('county', observed=True)['log_radon'].mean() gives every county at once."],
    solution=f"no_pool = radon.loc[radon['county'] == '{COUNTY}', 'log_radon'].mean()",
    mistakes=[Mistake("that is complete pooling (the mean of all homes); no pooling uses only this county.",
                      value=lambda: float(_radon()["log_radon"].mean())),
              Mistake("that is the mean of the county means; the question asks for this county alone.",
                      value=lambda: float(_radon().groupby("county", observed=True)["log_radon"].mean().mean()))],
)


def _partial_pool(ybar, n, mu, sigma_y, sigma_a):
    w_data = n / sigma_y**2
    w_prior = 1 / sigma_a**2
    return (w_data * ybar + w_prior * mu) / (w_data + w_prior)


def _partial_pool_sd(ybar, n, mu, sigma_y, sigma_a):  # standard deviations used as if they were variances
    return (n / sigma_y * ybar + mu / sigma_a) / (n / sigma_y + 1 / sigma_a)


def _partial_pool_swapped(ybar, n, mu, sigma_y, sigma_a):
    w_data = n / sigma_y**2
    w_prior = 1 / sigma_a**2
    return (w_prior * ybar + w_data * mu) / (w_data + w_prior)


def _pool_cases():
    rng = np.random.default_rng(202)
    cases = [(np.array([1.9, 0.9, 1.3]), np.array([2, 10, 50]), 1.3, 0.8, 0.3)]
    for _ in range(3):
        k = int(rng.integers(2, 8))
        cases.append((rng.normal(1, 1, k), rng.integers(1, 40, k).astype(float), float(rng.normal()),
                      float(rng.uniform(0.3, 2)), float(rng.uniform(0.1, 1.5))))
    return cases


q2 = FunctionQuestion(
    SET, "q2",
    "Write `partial_pool(ybar, n, mu, sigma_y, sigma_a)`: the partial-pooling estimate of each group mean, "
    "the precision-weighted average of the group mean ybar (n observations, residual SD sigma_y) and the "
    "population mean mu (between-group SD sigma_a). ybar and n are arrays.",
    _partial_pool, _pool_cases, rtol=1e-8, atol=1e-10,
    hints=["A precision is 1 / variance. The group mean's precision is n / sigma_y**2; the population's "
           "is 1 / sigma_a**2.",
           "estimate = (w_data * ybar + w_pop * mu) / (w_data + w_pop)"],
    solution="def partial_pool(ybar, n, mu, sigma_y, sigma_a):\n"
             "    w_data = n / sigma_y**2\n    w_pop = 1 / sigma_a**2\n"
             "    return (w_data * ybar + w_pop * mu) / (w_data + w_pop)",
    mistakes=[Mistake("you weighted by 1/SD instead of 1/variance: precisions use squared SDs.",
                      value=_partial_pool_sd),
              Mistake("the weights are swapped: a group with many observations should stay near its own mean.",
                      value=_partial_pool_swapped)],
)


@lru_cache(maxsize=None)
def _reml(method="REML"):
    """The varying-intercept model fitted by the course's engine (``method`` "REML" or "ML")."""
    from lmmteach import reml

    return reml.fit(f"{FORMULA} + (1 | id)", ciproxifan_data(), method=method)


def _var_id(method="REML"):
    components = _reml(method).var_components
    return float(components.loc[components["group"] == "id", "vcov"].iloc[0])


def _var_residual():
    return _reml().sigma ** 2


def _validate_mixed(fit):
    if not hasattr(fit, "cov_re"):
        return "wrong_type", "expected a fitted statsmodels MixedLM result (smf.mixedlm(...).fit(...))."
    if not any(":" in n for n in fit.fe_params.index):
        return "known_mistake", "your model has no interaction: use Treatment * Genotype."
    if int(fit.nobs) != 33 or len(fit.random_effects) != 18:
        return "incorrect", "expected 33 rows grouped by the 18 mice (groups='id')."
    var_id = float(np.asarray(fit.cov_re)[0, 0])
    if not fit.reml:
        return "known_mistake", "this is a maximum-likelihood fit (reml=False); REML is the default and what lme4 reports."
    if abs(var_id - _var_id()) > 1e-3 * _var_id():
        return "close", ("REML, but the optimiser stopped early: use method='bfgs' and a small gtol "
                         "(e.g. gtol=1e-10) and check fit.converged.")
    return "correct", ""


q3 = ObjectQuestion(
    SET, "q3", f"Fit `{FORMULA} + (1 | id)` by REML with statsmodels MixedLM (groups='id') and give the result.",
    _validate_mixed, expected_kind="a fitted MixedLM result",
    hints=["smf.mixedlm(formula, data, groups='id').fit(...)",
           "Use .fit(reml=True, method='bfgs', gtol=1e-10): the default optimiser stops a little early here."],
    solution=f"import statsmodels.formula.api as smf\nmixed = smf.mixedlm('{FORMULA}', df, groups='id')"
             ".fit(reml=True, method='bfgs', gtol=1e-10)",
)

q4 = NumericQuestion(
    SET, "q4", "The REML estimate of the between-mouse variance (the id variance).",
    _var_id, rtol=1e-3,
    hints=["fit.cov_re holds the random-effect covariance matrix.", "Compare with Listing 4 of the report."],
    solution="var_id = mixed.cov_re.iloc[0, 0]",
    mistakes=[Mistake("that is the standard deviation; the question asks for the variance.",
                      value=lambda: _var_id() ** 0.5),
              Mistake("that is the ML estimate: fit with reml=True.", value=lambda: _var_id("ML"), rtol=0.01),
              Mistake("that is the residual variance (fit.scale); the question asks for the id variance.",
                      value=_var_residual)],
)

q5 = NumericQuestion(
    SET, "q5", "The REML criterion at convergence (lme4's number, -2 times the restricted log-likelihood).",
    lambda: _reml().criterion, rtol=1e-5,
    hints=["statsmodels reports the log-likelihood fit.llf; the criterion is -2 times it."],
    solution="criterion = -2 * mixed.llf",
    mistakes=[Mistake("that is the log-likelihood; the criterion is -2 * llf.", value=lambda: -_reml().criterion / 2),
              Mistake("that is the ML deviance (-2 llf of the ML fit); the question asks for REML.",
                      value=lambda: _reml("ML").criterion, rtol=1e-4)],
)


def _icc():
    return _var_id() / (_var_id() + _var_residual())


def _icc_sd():
    return _var_id() ** 0.5 / (_var_id() ** 0.5 + _var_residual() ** 0.5)


q6 = NumericQuestion(
    SET, "q6",
    "The intraclass correlation: the correlation between two recordings of the same mouse, from the REML fit.",
    _icc, rtol=1e-3,
    hints=["It is the share of the total variance that is between mice.",
           "var_id / (var_id + residual variance)"],
    solution="icc = var_id / (var_id + mixed.scale)",
    mistakes=[Mistake("you used standard deviations; the intraclass correlation is a ratio of variances.",
                      value=_icc_sd),
              Mistake("that is the ratio var_id / residual variance; divide by the total variance.",
                      value=lambda: _var_id() / _var_residual())],
)

q7 = ChoiceQuestion(
    SET, "q7", "Why does ML underestimate variance components, and what does REML do about it?",
    {"a": "ML uses a poor optimiser; REML uses a better one.",
     "b": "ML treats the estimated fixed effects as known, ignoring the degrees of freedom they use; "
          "REML maximises the likelihood of residual contrasts free of the fixed effects.",
     "c": "ML ignores the random effects; REML includes them.",
     "d": "ML is biased only with unbalanced data; REML reweights the groups."},
    "b",
    feedback={"a": "both are criteria, not optimisers: the bias is there at the exact maximum.",
              "c": "both include the random effects in the marginal likelihood.",
              "d": "the bias is there with balanced data too (like dividing by n instead of n - p)."},
    hints=["Think of the sample variance: dividing by n instead of n - 1 and why."],
)

QUESTIONS = collect_questions(globals())
