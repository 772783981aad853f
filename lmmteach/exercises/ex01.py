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
                                          ObjectQuestion, collect_questions)

__all__ = ["QUESTIONS", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

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
    ols_beta, rtol=1e-6, atol=1e-6,
    hints=["Build X with columns 1, dose, ko (0/1) and dose * ko; then solve (X'X) b = X'y.",
           "np.linalg.solve(X.T @ X, X.T @ y) solves the normal equations without an explicit inverse."],
    solution="ko = (df['Genotype'] == 'ko').to_numpy(float)\ndose = df['Treatment'].to_numpy(float)\n"
             "X = np.column_stack([np.ones(len(df)), dose, ko, dose * ko])\ny = df['WAKE'].to_numpy()\n"
             "beta = np.linalg.solve(X.T @ X, X.T @ y)",
    mistakes=[Mistake("you have 3 coefficients: you forgot the interaction column dose * ko.",
                      when=lambda a: a.shape == (3,)),
              Mistake("these are the coefficients of the additive model: you forgot the interaction.",
                      value=lambda: np.append(_beta_additive(), 0.0))],
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
)


def _sigma():
    return float(np.sqrt(_ols().scale))


def _sigma_ml():
    fit = _ols()
    return float(np.sqrt(fit.ssr / fit.nobs))


q3 = NumericQuestion(
    SET, "q3", "The residual standard error of that fit (R's 'Residual standard error').",
    _sigma, rtol=1e-4,
    hints=["It is the square root of RSS / (n - p), with p = 4 coefficients.",
           "statsmodels: np.sqrt(fit.scale), or np.sqrt(fit.mse_resid)."],
    solution="sigma = np.sqrt(fit.ssr / fit.df_resid)",
    mistakes=[Mistake("that is the residual variance; the residual standard error is its square root.",
                      value=lambda: _sigma() ** 2),
              Mistake("you divided the RSS by n; the unbiased estimate divides by n - p (the residual df).",
                      value=_sigma_ml)],
)

q4 = NumericQuestion(
    SET, "q4", "The R-squared of the interaction model.",
    lambda: float(_ols().rsquared), rtol=1e-4,
    hints=["1 - RSS / TSS, with TSS the sum of squares of WAKE about its mean."],
    solution="r2 = fit.rsquared",
    mistakes=[Mistake("that is the adjusted R-squared; the question asks for R-squared.",
                      value=lambda: float(_ols().rsquared_adj)),
              Mistake("that is the R-squared of the additive model: you forgot the interaction.",
                      value=lambda: float(_ols("WAKE ~ Treatment + Genotype").rsquared))],
)


def _cooks():
    return _ols().get_influence().cooks_distance[0]


q5 = NumericQuestion(
    SET, "q5", "The largest Cook's distance among the 33 observations.",
    lambda: float(_cooks().max()), rtol=1e-4,
    hints=["fit.get_influence() has the influence measures.",
           "fit.get_influence().cooks_distance is a tuple: (distances, p-values)."],
    solution="cooks = fit.get_influence().cooks_distance[0]\nmax_cook = cooks.max()",
    mistakes=[Mistake("that is the largest leverage (hat value), not Cook's distance.",
                      value=lambda: float(_ols().get_influence().hat_matrix_diag.max()))],
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
)

q7 = ChoiceQuestion(
    SET, "q7",
    "In the scale-location plot, the square root of |standardised residual| rises steadily with the fitted "
    "value. What does that suggest?",
    {"a": "The errors are not normally distributed.",
     "b": "The residual variance grows with the mean (heteroscedasticity).",
     "c": "An observation has high leverage.",
     "d": "The model is missing an interaction."},
    "b",
    feedback={"a": "normality is judged from the Q-Q plot, not from the spread of the residuals.",
              "c": "leverage is read from the residuals-vs-leverage plot with Cook's distance contours.",
              "d": "a missing term shows as a pattern in the mean of the residuals (residuals vs fitted), "
                   "not in their spread."},
    hints=["The scale-location plot shows the size of the residuals against the fitted values."],
)

QUESTIONS = collect_questions(globals())
