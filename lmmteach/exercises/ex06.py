"""Exercise set 06: p-values, intervals and power for mixed models (lessons 12-13).

Expected answers come from :mod:`lmmteach.inference` and :mod:`lmmteach.power`
on the ciproxifan data (each checked against lmerTest / lme4 in
tests/test_inference.py) and, for the balanced design of q2, from the
classical ANOVA df (groups - 1). The known mistakes are the ones lesson 12 and
13 warn about: the naive chi2(1) for a boundary test, a Wald z with 18 mice,
recordings counted as if they were mice.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

from lmmteach.ciproxifan import FORMULA
from lmmteach.exercises._reference import ciproxifan_data
from lmmteach.exercises.questions import (ChoiceQuestion, Mistake, NumericQuestion, Progress, collect_questions,
                                          progress_summary)

__all__ = ["QUESTIONS", "check_all", "q1", "q2", "q3", "q4", "q5", "q6", "GROUPS", "PER_GROUP", "CURVE"]

SET = "ex06"
GROUPS, PER_GROUP = 12, 5  # q2: a balanced one-way design, 12 groups (mice) x 5 recordings
# q6: the power curve every student computes (the same seed gives the same curve)
CURVE = dict(formula="WAKE ~ Treatment * Genotype + (1 | subject)", test="Treatment:Genotype[ko]",
             beta={"Intercept": 44.0, "Treatment": 3.0, "Treatment:Genotype[ko]": -1.5}, sd=3.2, sigma=7.6,
             subjects=[4, 5, 6, 7, 8, 9, 10, 11, 12], recordings=[1], between={"Genotype": ["wt", "ko"]},
             within={"Treatment": [0, 3, 10]}, n=300, seed=606)


@lru_cache(maxsize=None)
def _fit():
    from lmmteach import reml

    return reml.fit(f"{FORMULA} + (1 | id)", ciproxifan_data())


@lru_cache(maxsize=None)
def _table(ddf):
    from lmmteach import inference

    return inference.coef_table(_fit(), ddf=ddf)


q1 = NumericQuestion(
    SET, "q1", "The Satterthwaite denominator df of the Treatment coefficient (the dose slope in wild types).",
    lambda: _table("satterthwaite").loc["Treatment", "df"], rtol=1e-4,
    hints=["inference.coef_table(fit, ddf='satterthwaite') has a df column.",
           "fit = reml.fit('WAKE ~ Treatment * Genotype + (1 | id)', df)"],
    solution="fit = reml.fit('WAKE ~ Treatment * Genotype + (1 | id)', df)\n"
             "df_treatment = inference.coef_table(fit, ddf='satterthwaite').loc['Treatment', 'df']",
    mistakes=[Mistake("that is n - p = 33 - 4, the df of lm: as if the 33 recordings came from 33 independent mice.",
                      value=29.0, rtol=1e-9),
              Mistake("that is the Kenward-Roger df; the question asks for Satterthwaite's.",
                      value=lambda: _table("kenward-roger").loc["Treatment", "df"], rtol=1e-5),
              Mistake("that is 18 - 2, the between-mouse df; dose varies within mice, so its df are larger.",
                      value=16.0, rtol=1e-9)],
    why="the df decide how wide a t interval is and how small a p-value gets: with 18 mice the 29 of lm would overstate the evidence, and Satterthwaite's df follow from how much each estimate borrows from the between-mouse variance."
)

q2 = NumericQuestion(
    SET, "q2",
    f"By hand: a balanced one-way design, y ~ 1 + (1 | mouse), with {GROUPS} mice and {PER_GROUP} recordings per "
    "mouse (and a positive estimate of sigma_u). What are the Satterthwaite df of the intercept?",
    lambda: float(GROUPS - 1), rtol=1e-9,
    hints=["The intercept is the grand mean; its standard error comes from the between-mouse mean square.",
           "In a balanced design Satterthwaite's df equal the classical ANOVA df of that mean square."],
    solution=f"df_by_hand = {GROUPS} - 1  # mice - 1: the between-mouse mean square's df",
    mistakes=[Mistake("you counted recordings: the grand mean of a random-intercept model is only as precise as "
                      "the number of mice allows.", value=float(GROUPS * PER_GROUP - 1), rtol=1e-9),
              Mistake("you counted recordings minus mice: that is the within-mouse (residual) df.",
                      value=float(GROUPS * PER_GROUP - GROUPS), rtol=1e-9),
              Mistake("almost: one df goes to the estimated mean.", value=float(GROUPS), rtol=1e-9)],
    why='counting the right units is the whole of mixed-model inference: a grand mean is only as precise as the number of mice, however many recordings each gives.'
)

q3 = ChoiceQuestion(
    SET, "q3", "Which test of H0: sigma_u = 0 (no variation between mice) has the right size?",
    {"a": "The likelihood-ratio statistic against chi2 with 1 df.",
     "b": "The likelihood-ratio statistic against a 50:50 mixture of chi2(0) and chi2(1), or a parametric bootstrap.",
     "c": "A Wald z test: the estimate of sigma_u divided by its standard error.",
     "d": "An F test of the mouse factor as a fixed effect with 17 numerator df."},
    "b",
    feedback={"a": "sigma_u = 0 is on the boundary of the parameter space: half the null data sets give a statistic "
                   "of exactly 0, so chi2(1) makes the p-value twice too large.",
              "c": "a Wald z needs a symmetric, normal sampling distribution; near 0 the estimate of sigma_u has "
                   "neither (and with 18 mice the normal reference is poor anyway).",
              "d": "that tests whether these 18 mice differ, not whether the population of mice varies; "
                   "it also spends 17 df."},
    hints=["Where does sigma_u = 0 lie in the set of possible values of sigma_u?"],
    why='a variance cannot be negative, so its null value sits on the edge of the parameter space and the naive chi-square(1) p-value is too large: the 50:50 mixture (or a bootstrap) has the right size.'
)


@lru_cache(maxsize=None)
def _sigma_u_lrt():
    from lmmteach import inference, ols

    return inference.lrt(ols.fit(FORMULA, ciproxifan_data()), _fit(), boundary=True)


q4 = NumericQuestion(
    SET, "q4", "The correct p-value of the likelihood-ratio test of sigma_u = 0 for the ciproxifan model.",
    lambda: _sigma_u_lrt().p, rtol=1e-4,
    hints=["The model without the random intercept is ols.fit('WAKE ~ Treatment * Genotype', df).",
           "inference.lrt(small, big, boundary=True)"],
    solution="small = ols.fit('WAKE ~ Treatment * Genotype', df)\n"
             "p_sigma_u = inference.lrt(small, fit, boundary=True).p",
    mistakes=[Mistake("that is the naive chi2(1) p-value; sigma_u = 0 is on the boundary, where the 50:50 mixture "
                      "halves it.", value=lambda: _sigma_u_lrt().p_naive, rtol=1e-4),
              Mistake("that is the likelihood-ratio statistic, not its p-value.",
                      value=lambda: _sigma_u_lrt().statistic, rtol=1e-4)],
    why="this is the p-value to report for 'do mice differ?': halving the naive one is what the boundary of the parameter space demands."
)


@lru_cache(maxsize=None)
def _profile():
    from lmmteach import inference

    return inference.profile_ci(_fit())


q5 = NumericQuestion(
    SET, "q5", "The upper limit of the 95 % profile interval for sigma_u (the between-mouse SD).",
    lambda: _profile().loc["sd_Intercept|id", "upper"], rtol=1e-3,
    hints=["inference.profile_ci(fit) has one row per parameter, in lme4's order.",
           "The row for sigma_u is 'sd_Intercept|id'."],
    solution="upper_sigma_u = inference.profile_ci(fit).loc['sd_Intercept|id', 'upper']",
    mistakes=[Mistake("that is the upper limit for sigma, the residual SD; sigma_u is the 'sd_Intercept|id' row.",
                      value=lambda: _profile().loc["sigma", "upper"], rtol=1e-3),
              Mistake("that is a variance (the square of the limit); the interval is for the SD.",
                      value=lambda: _profile().loc["sd_Intercept|id", "upper"] ** 2, rtol=1e-3)],
    why='a profile interval follows the likelihood instead of assuming a symmetric normal shape, so it can reach zero for a variance the data barely inform, as here.'
)


@lru_cache(maxsize=None)
def _curve():
    from lmmteach import power

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return power.curve(**CURVE)


def _first(column="subjects"):
    table = _curve()
    return float(table.loc[table["power"] >= 0.8, column].min())


q6 = NumericQuestion(
    SET, "q6", "Run power.curve(**ex.CURVE) (one recording per dose). What is the smallest number of mice per "
    "genotype whose estimated power is at least 0.8?",
    _first, rtol=1e-9,
    hints=["The table has columns subjects, recordings, observations, power, lower, upper.",
           "Keep the rows with power >= 0.8 and take the smallest 'subjects'."],
    solution="curve = power.curve(**ex.CURVE)\nmice = curve.loc[curve['power'] >= 0.8, 'subjects'].min()",
    mistakes=[Mistake("that is the number of recordings (observations) of that design, not the number of mice.",
                      value=lambda: _first("observations"), rtol=1e-9),
              Mistake("that counts the mice of both genotypes; the curve's 'subjects' are per genotype.",
                      value=lambda: 2 * _first(), rtol=1e-9)],
    why='reading a simulated power curve is how you plan the next study: the smallest design that reaches 80 % power, with its Monte Carlo uncertainty in mind.'
)

QUESTIONS = collect_questions(globals())


def check_all() -> Progress:
    """Where this set stands: the latest check of every question, and the points so far."""
    return progress_summary(QUESTIONS)
