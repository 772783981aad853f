"""Exercise set 01: OLS with an interaction and regression diagnostics (ciproxifan).

Expected answers are computed here with NumPy and statsmodels from
:func:`lmmteach.data.load_ciproxifan`, the data the student loads, and the
course's one design builder (:func:`lmmteach.ciproxifan.design`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmmteach.ciproxifan import FORMULA
from lmmteach.exercises._reference import ciproxifan_data, design_arrays, ols_beta
from lmmteach.exercises.questions import (ArrayQuestion, ChoiceQuestion, FunctionQuestion, Mistake, NumericQuestion,
                                          ObjectQuestion, Progress, collect_questions, progress_summary)

__all__ = ["QUESTIONS", "check_all", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex01"


@lru_cache(maxsize=None)
def _ols(formula=FORMULA):
    import statsmodels.formula.api as smf

    return smf.ols(formula, ciproxifan_data()).fit()


def _beta_additive():
    X, y, _ = design_arrays()
    return np.linalg.lstsq(X[:, :3], y, rcond=None)[0]


q1 = ArrayQuestion(
    SET, "q1",
    "OLS coefficients of WAKE ~ Treatment * Genotype by the normal equations, in the order "
    "[intercept, Treatment, ko, Treatment:ko] (wt is the reference genotype).",
    ols_beta, rtol=1e-6, atol=1e-6, order="[intercept, Treatment, ko, Treatment:ko]",
    hints=["Build X with columns 1, dose, ko (0/1) and dose * ko; then solve (X'X) b = X'y.",
           "np.linalg.solve(X.T @ X, X.T @ y) solves the normal equations without an explicit inverse."],
    solution="ko = (df['Genotype'] == 'ko').to_numpy(float)\ndose = df['Treatment'].to_numpy(float)\n"
             "X = np.column_stack([np.ones(len(df)), dose, ko, dose * ko])\ny = df['WAKE'].to_numpy()\n"
             "beta = np.linalg.solve(X.T @ X, X.T @ y)",
    mistakes=[Mistake("you have 3 coefficients: you forgot the interaction column dose * ko.",
                      when=lambda a: a.shape == (3,)),
              Mistake("these are the coefficients of the additive model: you forgot the interaction.",
                      value=lambda: np.append(_beta_additive(), 0.0))],
    why="every regression program solves these equations; knowing them tells you what an estimate depends on "
        "and why an aliased column makes it undefined.",
)


def _validate_fit(fit):
    params = fit.params
    names = list(params.index)
    if not any(":" in n for n in names):
        return "known_mistake", "your model has no interaction term: use Treatment * Genotype, not Treatment + Genotype."
    if not hasattr(fit, "rsquared"):
        return "wrong_type", "expected a fitted OLS result (smf.ols(...).fit()), not a mixed model or a model object."
    if int(fit.nobs) != 33:
        return "incorrect", f"your model used {int(fit.nobs)} rows; the data have 33."
    ref = _ols()
    if sorted(names) != sorted(ref.params.index):
        return "incorrect", f"expected the terms of {FORMULA} (Treatment numeric, Genotype categorical)."
    if not np.allclose(params[ref.params.index], ref.params, rtol=1e-6, atol=1e-6):
        return "incorrect", "the coefficients differ from the OLS fit of WAKE on the ciproxifan data."
    return "correct", ""


q2 = ObjectQuestion(
    SET, "q2", f"Fit `{FORMULA}` with statsmodels' formula API and give the fitted result.",
    _validate_fit, expected_kind="a fitted statsmodels OLS result",
    hints=["import statsmodels.formula.api as smf; smf.ols(formula, data).fit()",
           "`a * b` in a formula means a + b + a:b."],
    solution=f"import statsmodels.formula.api as smf\nfit = smf.ols('{FORMULA}', df).fit()",
    mistakes=[Mistake("that is the model specification, not the fitted result: call .fit().",
                      when=lambda a: hasattr(a, "fit") and not hasattr(a, "params"))],
    why="the formula API builds the same design matrix as your q1 by hand, and the fitted result carries "
        "everything the next questions need (covariances, influence, predictions).",
)


def _ko_effect_contrast():
    """The weights c with c @ beta = effect of 10 mg/kg in ko mice, in the order of q1."""
    return np.array([0.0, 10.0, 0.0, 10.0])


def _effect_and_se(c):
    fit = _ols()
    order = ["Intercept", "Treatment", "Genotype[T.ko]", "Treatment:Genotype[T.ko]"]
    beta, cov = fit.params[order].to_numpy(), fit.cov_params().loc[order, order].to_numpy()
    return np.array([c @ beta, np.sqrt(c @ cov @ c)])


def _ko_effect():
    return _effect_and_se(_ko_effect_contrast())


def _ko_effect_no_covariance():
    fit = _ols()
    cov = fit.cov_params()
    names = ["Treatment", "Treatment:Genotype[T.ko]"]
    return np.array([_ko_effect()[0], 10 * np.sqrt(cov.loc[names[0], names[0]] + cov.loc[names[1], names[1]])])


q3 = ArrayQuestion(
    SET, "q3",
    "The estimated effect of 10 mg/kg ciproxifan on WAKE in knockout mice, and its standard error, as "
    "[estimate, standard error].",
    _ko_effect, rtol=1e-6, atol=1e-6, order="[estimate, standard error]",
    hints=["In ko mice the dose slope is Treatment + Treatment:ko; the effect of 10 mg/kg is 10 times it: "
           "c @ beta with c = [0, 10, 0, 10].",
           "Var(c @ beta) = c' V c with V = fit.cov_params() (in the same order as c): it includes the "
           "covariance of the two coefficients. Or: fit.t_test('10 * Treatment + 10 * Treatment:Genotype[T.ko] = 0')."],
    solution="names = ['Intercept', 'Treatment', 'Genotype[T.ko]', 'Treatment:Genotype[T.ko]']\n"
             "c = np.array([0, 10, 0, 10])\nV = fit.cov_params().loc[names, names].to_numpy()\n"
             "ko_effect = [c @ fit.params[names].to_numpy(), np.sqrt(c @ V @ c)]",
    mistakes=[Mistake("that is the effect in wild-type mice (10 x Treatment): in knockout mice the interaction "
                      "adds to the dose slope.", value=lambda: _effect_and_se(np.array([0.0, 10, 0, 0]))),
              Mistake("that is the effect of 1 mg/kg: the question asks for 10 mg/kg (multiply the slope, and "
                      "its standard error, by 10).", value=lambda: _ko_effect() / 10),
              Mistake("the standard error leaves out the covariance of the two coefficients: "
                      "Var(a + b) = Var(a) + Var(b) + 2 Cov(a, b), so use c' V c with the full covariance matrix.",
                      value=_ko_effect_no_covariance)],
    why="a question about a subgroup is a contrast of coefficients, and its uncertainty needs their covariance, "
        "not just the standard errors the table prints.",
)


def _influence():
    return _ols().get_influence()


def _refit_change(row):
    """Change of the Treatment:ko coefficient when ``row`` is left out (refit minus full fit)."""
    import statsmodels.formula.api as smf

    data = ciproxifan_data()
    refit = smf.ols(FORMULA, data.drop(index=data.index[row])).fit()
    name = "Treatment:Genotype[T.ko]"
    return float(refit.params[name] - _ols().params[name])


q4 = NumericQuestion(
    SET, "q4",
    "Find the observation with the largest Cook's distance, refit the model without it, and give the change "
    "of the Treatment:ko coefficient (refit minus full fit).",
    lambda: _refit_change(int(np.argmax(_influence().cooks_distance[0]))), rtol=1e-4,
    hints=["fit.get_influence().cooks_distance[0] has one distance per row; np.argmax finds the largest.",
           "Refit on df.drop(index=df.index[i]) and subtract the two 'Treatment:Genotype[T.ko]' coefficients."],
    solution="i = np.argmax(fit.get_influence().cooks_distance[0])\n"
             "refit = smf.ols('WAKE ~ Treatment * Genotype', df.drop(index=df.index[i])).fit()\n"
             "change = refit.params['Treatment:Genotype[T.ko]'] - fit.params['Treatment:Genotype[T.ko]']",
    mistakes=[Mistake("the sign is reversed: the question asks for refit minus full fit.",
                      value=lambda: -_refit_change(int(np.argmax(_influence().cooks_distance[0])))),
              Mistake("you left out the observation with the largest leverage (hat value), not the largest Cook's "
                      "distance: leverage is only the potential to pull the fit; Cook's distance combines it with "
                      "the residual.", value=lambda: _refit_change(int(np.argmax(_influence().hat_matrix_diag))),
                      rtol=2e-3)],
    why="Cook's distance is a prediction of exactly this: how far the fit moves when one observation goes; "
        "refitting shows whether a conclusion rests on one mouse-recording.",
)


def _new_ko_mouse():
    import pandas as pd

    return pd.DataFrame({"Treatment": [3.0], "Genotype": ["ko"]})


def _interval(kind="obs", alpha=0.05):
    frame = _ols().get_prediction(_new_ko_mouse()).summary_frame(alpha=alpha)
    return frame[[f"{kind}_ci_lower", f"{kind}_ci_upper"]].to_numpy().reshape(-1)


def _interval_normal():
    fit = _ols()
    prediction = fit.get_prediction(_new_ko_mouse())
    mean, se = float(prediction.predicted_mean[0]), float(np.sqrt(prediction.se_mean[0] ** 2 + fit.scale))
    return np.array([mean - 1.959964 * se, mean + 1.959964 * se])


q5 = ArrayQuestion(
    SET, "q5",
    "A new recording of a knockout mouse at 3 mg/kg: under this model, the 95% interval in which its WAKE should "
    "fall, as [lower, upper].",
    _interval, rtol=1e-5, atol=1e-5, order="[lower, upper]",
    hints=["fit.get_prediction(new).summary_frame(alpha=0.05) with new = "
           "pd.DataFrame({'Treatment': [3.0], 'Genotype': ['ko']}).",
           "There are two intervals in that frame: one for the mean WAKE of such recordings, one for a single "
           "new recording. Which one is asked for?"],
    solution="import pandas as pd\nnew = pd.DataFrame({'Treatment': [3.0], 'Genotype': ['ko']})\n"
             "frame = fit.get_prediction(new).summary_frame(alpha=0.05)\n"
             "interval = frame[['obs_ci_lower', 'obs_ci_upper']].to_numpy().ravel()",
    mistakes=[Mistake("that is the confidence interval of the mean WAKE at that dose and genotype; a single new "
                      "recording also varies around that mean by the residual SD, so its interval is wider "
                      "(obs_ci_lower/obs_ci_upper).", value=lambda: _interval("mean")),
              Mistake("that interval uses the normal quantile 1.96; with 29 residual degrees of freedom use the "
                      "t quantile (scipy.stats.t.ppf(0.975, 29)).", value=_interval_normal),
              Mistake("that is the 90% interval (alpha=0.1); the question asks for 95% (alpha=0.05).",
                      value=lambda: _interval("obs", 0.1))],
    why="a prediction interval answers 'what will the next recording show', the question a reader of a dose "
        "table usually has; the confidence interval of the mean is far narrower and answers another question.",
)


def _hat_reference(X):
    q, _ = np.linalg.qr(X)
    return np.sum(q**2, axis=1)


def _hat_cases():
    rng = np.random.default_rng(101)
    cases = [(design_arrays()[0],)]
    for n, p in [(10, 2), (25, 5)]:
        cases.append((np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))]),))
    return cases


q6 = FunctionQuestion(
    SET, "q6", "Write `leverage(X)`: the diagonal of the hat matrix H = X (X'X)^-1 X' for a full-rank design X.",
    _hat_reference, _hat_cases, rtol=1e-8, atol=1e-10,
    hints=["Leverage h_i is the i-th diagonal element of H; the values sum to the number of columns.",
           "With X = QR (np.linalg.qr), H = Q Q', so h_i is the sum of squares of row i of Q."],
    solution="def leverage(X):\n    q, _ = np.linalg.qr(X)\n    return (q ** 2).sum(axis=1)",
    mistakes=[Mistake("you returned the diagonal of I - H (the residual-maker); leverage is the diagonal of H.",
                      value=lambda X: 1 - _hat_reference(X))],
    why="a QR factorisation gives leverage without forming the n x n hat matrix or an inverse: stable, and "
        "cheap even for large n.",
)

q7 = ChoiceQuestion(
    SET, "q7",
    "In the scale-location plot, the square root of |standardised residual| rises steadily with the fitted "
    "value. What does that suggest?",
    {"a": "The errors are not normally distributed, as the Q-Q plot would show.",
     "b": "The residual variance grows with the mean (heteroscedasticity).",
     "c": "One observation has high leverage and pulls the fit.",
     "d": "The model is missing a term, such as an interaction."},
    "b",
    feedback={"a": "normality is judged from the Q-Q plot, not from the spread of the residuals.",
              "c": "leverage is read from the residuals-vs-leverage plot with Cook's distance contours.",
              "d": "a missing term shows as a pattern in the mean of the residuals (residuals vs fitted), "
                   "not in their spread."},
    hints=["The scale-location plot shows the size of the residuals against the fitted values."],
    why="unequal variance leaves the estimates unbiased but makes their standard errors wrong; a transformation, "
        "weights or robust standard errors are the usual remedies.",
)

QUESTIONS = collect_questions(globals())


def check_all() -> Progress:
    """Where this set stands: the latest check of every question, and the points so far."""
    return progress_summary(QUESTIONS)
