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
from lmmteach.exercises.questions import (ArrayQuestion, ChoiceQuestion, FunctionQuestion, Mistake, NumericQuestion,
                                          ObjectQuestion, Progress, collect_questions, progress_summary)

__all__ = ["QUESTIONS", "check_all", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex02"


@lru_cache(maxsize=None)
def _radon():
    from lmmteach.data import load_radon

    return load_radon()


def _county_means(statistic="mean"):
    """One value per county, in the order of the county categories (alphabetical)."""
    return _radon().groupby("county", observed=True)["log_radon"].agg(statistic).to_numpy()


q1 = ArrayQuestion(
    SET, "q1",
    "No pooling: the mean log_radon of each county's homes, one value per county, in the order of "
    "radon['county'].cat.categories (alphabetical; 85 values).",
    _county_means, rtol=1e-8, atol=1e-10, order="of radon['county'].cat.categories (alphabetical)",
    hints=["Group the homes by county and average log_radon within each group.",
           "radon.groupby('county', observed=True)['log_radon'].mean() gives every county at once, in category order."],
    solution="no_pool = radon.groupby('county', observed=True)['log_radon'].mean().to_numpy()",
    mistakes=[Mistake("these are the county medians; the no-pooling estimate of a county's mean is the mean of "
                      "its homes (they differ wherever a county has 3 or more homes).",
                      value=lambda: _county_means("median")),
              Mistake("every county has the same value: that is complete pooling (the mean of all homes); no "
                      "pooling uses each county's homes only.",
                      when=lambda a: a.size > 1 and np.ptp(a) < 1e-12)],
    why="no pooling trusts every county's own mean, however few homes it has: the counties with one or two homes "
        "give the most extreme values, which is what partial pooling will correct.",
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
    why="this one weighted average is all of partial pooling: a group's estimate leans on its own data in "
        "proportion to how precise they are.",
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
    why="an optimiser's default stopping rule is not the optimum: checking convergence is what makes a fit "
        "reproduce lme4's published numbers.",
)

def _own_mean_weight(n=2, method="REML"):
    """Weight of a mouse's own mean in its predicted intercept: n var_id / (n var_id + residual variance)."""
    var_id, var_res = _var_id(method), _reml(method).sigma ** 2
    return n * var_id / (n * var_id + var_res)


q4 = NumericQuestion(
    SET, "q4",
    "Partial pooling in the REML fit: a mouse with 2 recordings. What weight does its own mean residual get "
    "in its predicted intercept (the rest goes to the population value 0)? Use the REML variance components.",
    _own_mean_weight, rtol=1e-3,
    hints=["It is your q2's precision weighting: the mouse's mean of 2 recordings has precision 2 / sigma^2, the "
           "population 1 / sigma_u^2.",
           "weight = 2 var_id / (2 var_id + residual variance), with var_id = mixed.cov_re.iloc[0, 0] and the "
           "residual variance mixed.scale."],
    solution="var_id, var_res = mixed.cov_re.iloc[0, 0], mixed.scale\nweight = 2 * var_id / (2 * var_id + var_res)",
    mistakes=[Mistake("that is the weight of the population value (1 minus the answer): the mouse's own mean "
                      "gets the share of its precision.", value=lambda: 1 - _own_mean_weight()),
              Mistake("that is the weight for a mouse with a single recording (it equals the intraclass "
                      "correlation); this mouse has 2, and its mean of 2 recordings is twice as precise.",
                      value=lambda: _own_mean_weight(1)),
              Mistake("you used the ML variance components; the question asks for the REML fit.",
                      value=lambda: _own_mean_weight(2, "ML")),
              Mistake("you weighted with standard deviations; precisions are inverse variances.",
                      value=lambda: 2 * _var_id() ** 0.5 / (2 * _var_id() ** 0.5 + _var_residual() ** 0.5))],
    why="with only 2 recordings a mouse keeps about a quarter of its own deviation: most of what a single mouse "
        "seems to show is noise, and the mixed model says how much from the data.",
)


def _ml_ratio():
    return _var_id("ML") / _var_id("REML")


q5 = NumericQuestion(
    SET, "q5",
    "Refit the model by maximum likelihood and give the ratio of the between-mouse variances, ML / REML.",
    _ml_ratio, rtol=1e-3,
    hints=["smf.mixedlm(...).fit(reml=False, method='bfgs') is the ML fit.",
           "Divide the ML fit's cov_re.iloc[0, 0] by the REML one."],
    solution="ml = smf.mixedlm('WAKE ~ Treatment * Genotype', df, groups='id').fit(reml=False, method='bfgs')\n"
             "ratio = ml.cov_re.iloc[0, 0] / mixed.cov_re.iloc[0, 0]",
    mistakes=[Mistake("the ratio is the wrong way up: ML / REML, the ML variance on top.", value=lambda: 1 / _ml_ratio()),
              Mistake("a ratio of 1: both fits are REML. Pass reml=False for the ML fit.", value=1.0, rtol=1e-4),
              Mistake("that is the ratio of the residual variances; the question asks for the between-mouse (id) "
                      "variances.", value=lambda: _reml("ML").sigma ** 2 / _var_residual())],
    why="ML treats the four estimated fixed effects as known and shrinks the between-mouse variance by about a "
        "third here; with 18 mice that bias is no detail, which is why lme4 defaults to REML.",
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
    why="the intraclass correlation says how far from independent the 33 recordings are, and so why an OLS fit "
        "that treats them as independent overstates the information in them.",
)

q7 = ChoiceQuestion(
    SET, "q7", "Why does ML underestimate variance components, and what does REML do about it?",
    {"a": "ML relies on a poor optimiser that stops early; REML uses a better one and converges.",
     "b": "ML leaves the random effects out of the likelihood; REML puts them back in.",
     "c": "ML treats the fixed effects as known; REML uses contrasts free of them (as n - p does).",
     "d": "ML is biased only when the groups are unbalanced; REML reweights the groups."},
    "c",
    feedback={"a": "both are criteria, not optimisers: the bias is there at the exact maximum.",
              "b": "both include the random effects in the marginal likelihood.",
              "d": "the bias is there with balanced data too (like dividing by n instead of n - p)."},
    hints=["Think of the sample variance: dividing by n instead of n - 1 and why."],
    why="the same reasoning explains n - 1 in the sample variance; it matters most with few groups and many "
        "fixed effects, the usual situation in animal studies.",
)

QUESTIONS = collect_questions(globals())


def check_all() -> Progress:
    """Where this set stands: the latest check of every question, and the points so far."""
    return progress_summary(QUESTIONS)
