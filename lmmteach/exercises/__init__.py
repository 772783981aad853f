"""Exercise sets with self-checking questions (Kaggle Learn style).

    from lmmteach.exercises import ex01 as ex
    ex.q1.check(answer); ex.q1.hint(); ex.q1.hint(2); ex.q1.solution()

One module per exercise notebook (``ex01`` ... ``ex06``), each defining its
questions and nothing another set uses. Around them:

* :mod:`~lmmteach.exercises.questions` -- the question types, the check and its display;
* :mod:`~lmmteach.exercises.protocol` -- how the grader reads answers out of a kernel as plain data;
* :mod:`~lmmteach.exercises._reference` -- reference computations several sets check against
  (exact posteriors, PyMC model validators), so that no set imports another.

``SETS`` maps each set to its notebook and lesson(s).
"""

__all__ = ["SETS"]

SETS = {
    "ex01": ("01_ols_diagnostics.ipynb", "OLS with an interaction and regression diagnostics (lesson 1)"),
    "ex02": ("02_pooling_reml.ipynb", "Pooling, shrinkage, ML and REML (lessons 2-3)"),
    "ex03": ("03_bayesian_regression.ipynb", "Bayesian regression in PyMC and its diagnostics (lesson 5)"),
    "ex04": ("04_bayesian_lmm_loo.ipynb", "The Bayesian varying-intercept model and PSIS-LOO (lessons 6-8)"),
    "ex05": ("05_gibbs_identifiability.ipynb", "The Gibbs sampler and identifiability (lessons 9-10)"),
    "ex06": ("06_inference_power.ipynb", "p-values, intervals and power for mixed models (lessons 12-13)"),
}
