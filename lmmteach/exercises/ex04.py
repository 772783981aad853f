"""Exercise set 04: the Bayesian varying-intercept model and PSIS-LOO (ciproxifan).

The hierarchical model WAKE ~ Treatment * Genotype + (1 | id) with beta ~
Normal(0, 100), sigma, sigma_u ~ HalfNormal(10) integrates to y ~ N(0, sigma^2
I + sigma_u^2 Z Z' + 100^2 X X'), so a 2-D grid over (sigma_u, sigma) gives its
exact posterior (:func:`lmmteach.exercises._reference.exact_posterior`). The same
grid gives the exact leave-one-out elpd: p(y_i | y_-i) = 1 / E_post[1 / p(y_i |
y_-i, theta)] with p(y_i | y_-i, theta) normal. PSIS-LOO estimates it; on the
fixed-effects model (all Pareto k good) repeated correct runs of 4 x 300 draws
scatter about 0.1 around the exact value, so the tolerance there is 0.5. On
these 33 rows the hierarchical-minus-fixed difference is smaller than both its
standard error and the PSIS error of the hierarchical model (whose k are
partly bad), so it is asked as a reasoning question rather than a number.
"""

from __future__ import annotations

import numpy as np

from lmmteach.ciproxifan import BETA_SD, SIGMA_SD, SIGMA_U_SD
from lmmteach.exercises._reference import (check_prior, exact_elpd_loo, joint_logp, rv_distribution, rv_size,
                                           sigma_u_moments)
from lmmteach.exercises.questions import ChoiceQuestion, Mistake, NumericQuestion, ObjectQuestion, collect_questions

__all__ = ["QUESTIONS", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex04"
N_SUBJECTS = 18
MIN_ESS_U = 200  # a correct non-centred run of 4 x 300 draws has at least this bulk ESS for sigma_u
ELPD_TOL = 0.5  # about 5 times the spread of PSIS-LOO over repeated correct runs of the fixed-effects model


def _depends_on(var, target) -> bool:
    from pytensor.graph.traversal import ancestors

    return any(a is target for a in ancestors(var.owner.inputs))


def _validate_noncentred(model):
    import pymc as pm

    if not isinstance(model, pm.Model):
        return "wrong_type", "expected a PyMC model (the object bound by `with pm.Model() as model:`)."
    per_subject = [rv for rv in model.free_RVs if rv_size(model, rv) == N_SUBJECTS]
    names = {rv.name for rv in model.free_RVs}
    if "sigma_u" not in names:
        if per_subject and per_subject[0].owner.op.name == "normal":
            return "known_mistake", ("the subject intercepts have a fixed prior scale (the report's u ~ Normal(0, 10)): "
                                     "nothing learns how much the mice differ, so there is no partial pooling learnt "
                                     "from the data. Add sigma_u ~ HalfNormal(10).")
        return "incorrect", "expected a free variable 'sigma_u' (the between-mouse SD)."
    if len(per_subject) != 1:
        return "incorrect", f"expected one free variable with {N_SUBJECTS} values (the offsets), got {len(per_subject)}."
    offset = per_subject[0]
    if _depends_on(offset, model["sigma_u"]):
        return "known_mistake", ("this is the centred parameterisation (u ~ Normal(0, sigma_u) sampled directly): "
                                 "sample offset ~ Normal(0, 1) and set u = offset * sigma_u.")
    if offset.owner.op.name != "normal" or not np.allclose(rv_distribution(offset)[1], [0, 1]):
        return "incorrect", f"the offsets '{offset.name}' should be standard normal, Normal(0, 1)."
    if names != {"beta", "sigma", "sigma_u", offset.name}:
        return "incorrect", f"expected free variables beta, sigma, sigma_u and the offsets; got {sorted(names)}."
    for problem in (check_prior(model, "beta", ("normal", (0, BETA_SD)), 4),
                    check_prior(model, "sigma", ("halfnormal", (0, SIGMA_SD)), 1),
                    check_prior(model, "sigma_u", ("halfnormal", (0, SIGMA_U_SD)), 1)):
        if problem:
            return problem
    logp = model.compile_logp(jacobian=False)
    point = model.initial_point()
    rng = np.random.default_rng(404)
    for beta, sigma, sigma_u in ((np.array([44.0, 3.0, -0.5, -0.1]), 7.5, 3.0), (np.array([40.0, 2.0, 1.0, 0.5]), 9.0, 6.0)):
        z = rng.normal(size=N_SUBJECTS)
        point.update({"beta": beta, model.rvs_to_values[offset].name: z,
                      model.rvs_to_values[model["sigma"]].name: np.log(sigma),
                      model.rvs_to_values[model["sigma_u"]].name: np.log(sigma_u)})
        if not np.isclose(float(logp(point)), joint_logp(beta, sigma, sigma_u, z), rtol=1e-6, atol=1e-6):
            return "incorrect", ("the priors are right but the likelihood is not WAKE ~ Normal(X @ beta + u[id], sigma) "
                                 "with u = offset * sigma_u, X = [1, dose, ko, dose * ko], id = df['id'].cat.codes.")
    return "correct", ""


q1 = ObjectQuestion(
    SET, "q1",
    "Write the hierarchical model WAKE ~ Treatment * Genotype + (1 | id) in PyMC, non-centred: beta ~ Normal(0, 100) "
    "(a vector 'beta' of 4), sigma ~ HalfNormal(10), sigma_u ~ HalfNormal(10), an offset per mouse ~ Normal(0, 1) "
    "and u = offset * sigma_u. Give the model.",
    _validate_noncentred, expected_kind="a PyMC model",
    hints=["The offsets are the only variable with 18 values that NUTS samples; u is a pm.Deterministic.",
           "mu = pm.math.dot(X, beta) + u[idx] with idx = df['id'].cat.codes.to_numpy()."],
    solution="with pm.Model() as hier:\n    beta = pm.Normal('beta', 0, 100, shape=4)\n"
             "    sigma = pm.HalfNormal('sigma', 10)\n    sigma_u = pm.HalfNormal('sigma_u', 10)\n"
             "    offset = pm.Normal('u_offset', 0, 1, shape=18)\n    u = pm.Deterministic('u', offset * sigma_u)\n"
             "    pm.Normal('y', pm.math.dot(X, beta) + u[idx], sigma, observed=y)",
)


def _sigma_u_tolerance():
    """Four Monte Carlo standard errors of a posterior mean from MIN_ESS_U effective draws."""
    return 4 * sigma_u_moments()[1] / np.sqrt(MIN_ESS_U)


q2 = NumericQuestion(
    SET, "q2", "Sample the q1 model (4 chains x 300 draws, tune=300) and give the posterior mean of sigma_u.",
    lambda: sigma_u_moments()[0], tol=_sigma_u_tolerance, close_factor=3.0,
    hints=["pm.sample(300, tune=300, chains=4, cores=1, random_seed=..., progressbar=False, "
           "idata_kwargs={'log_likelihood': True})",
           "float(idata_hier.posterior['sigma_u'].mean())"],
    solution="sigma_u_mean = float(idata_hier.posterior['sigma_u'].mean())",
    mistakes=[Mistake("that is a variance (the mean of sigma_u**2): sigma_u is a standard deviation.",
                      value=lambda: sigma_u_moments()[2], rtol=0.1),
              Mistake("that is the posterior mean of sigma, the residual SD; the question asks for sigma_u.",
                      value=lambda: sigma_u_moments()[3], rtol=0.05),
              Mistake("10 is the prior scale of the report's fixed u ~ Normal(0, 10), not an estimate.",
                      value=10.0, rtol=0.001)],
)


def _elpd_fixed():
    return exact_elpd_loo(beta_sd=BETA_SD)


q3 = NumericQuestion(
    SET, "q3",
    "Sample the fixed-effects model of exercise 3 (beta ~ Normal(0, 100), sigma ~ HalfNormal(10); 4 x 300 draws, "
    "log-likelihood kept) and give its elpd_loo from az.loo.",
    _elpd_fixed, tol=ELPD_TOL, close_factor=3.0,
    hints=["az.loo(idata_fixed) returns an object with elpd_loo, se, p_loo and pareto_k.",
           "elpd is a sum of log densities over the 33 rows: a negative number here."],
    solution="loo_fixed = az.loo(idata_fixed)\nelpd_fixed = loo_fixed.elpd_loo",
    mistakes=[Mistake("that is on the deviance scale (looic = -2 x elpd_loo, lower is better); elpd_loo is the log "
                      "predictive density itself (higher is better).", value=lambda: -2 * _elpd_fixed(), rtol=0.01),
              Mistake("the sign is off: elpd_loo is a sum of log densities, negative here; higher (less negative) "
                      "is better.", value=lambda: -_elpd_fixed(), rtol=0.01)],
)

q4 = ChoiceQuestion(
    SET, "q4",
    "az.compare({'fixed': idata_fixed, 'hier': idata_hier}) puts the two models within about 1 elpd of each other, "
    "with a standard error of the difference (dse) of the same size. What do you conclude?",
    {"a": "The model ranked first is clearly better.",
     "b": "The data cannot tell the two apart on predictive accuracy; choose on design grounds (repeated measures "
          "on the same mice call for the varying intercept) and report the difference with its SE.",
     "c": "Compare looic instead: it is more sensitive.",
     "d": "The fixed model is better because it has fewer parameters."},
    "b",
    feedback={"a": "a difference smaller than about 2 dse is within the noise of 33 observations.",
              "c": "looic = -2 x elpd_loo: the same information on another scale (and there lower is better).",
              "d": "elpd_loo already pays for flexibility out of sample; fewer parameters is not a criterion by itself."},
    hints=["Look at elpd_diff next to dse."],
)

q5 = ChoiceQuestion(
    SET, "q5", "The report prefers the mixed model because its in-sample MSE is lower. Why can in-sample MSE not "
               "rank models?",
    {"a": "MSE ignores the units of WAKE.",
     "b": "A more flexible model always fits the data it was fitted to at least as well; in-sample error measures "
          "fit, not prediction of new data. Use out-of-sample measures: LOO or K-fold.",
     "c": "MSE is fine if the models have the same number of fixed effects.",
     "d": "MSE should be computed on the log scale."},
    "b",
    feedback={"a": "both models are on the same scale; units are not the issue.",
              "c": "the mixed model adds 18 intercepts: flexibility, not fixed effects, drives in-sample error down.",
              "d": "a transformation does not turn in-sample fit into predictive accuracy."},
    hints=["Give each mouse its own free intercept: what happens to in-sample MSE? And to a new mouse's prediction?"],
)

q6 = ChoiceQuestion(
    SET, "q6", "az.loo warns that some observations have Pareto k > 0.7. What should you do?",
    {"a": "Ignore the warning: the elpd estimate is still fine.",
     "b": "Delete those observations and recompute LOO.",
     "c": "Treat those PSIS estimates as unreliable: refit the model without each of them (exact LOO for those "
          "points) or use K-fold cross-validation, and look at why they are influential.",
     "d": "Use the in-sample log-likelihood instead."},
    "c",
    feedback={"a": "with k > 0.7 the importance weights have too heavy a tail: the estimate can be badly off.",
              "b": "dropping data because a diagnostic complains changes the question and biases the answer.",
              "d": "in-sample measures are optimistic, the very thing LOO corrects."},
    hints=["Pareto k measures how far the full posterior is from the leave-one-out posterior for that point."],
)

q7 = ChoiceQuestion(
    SET, "q7", "The report's 'Bayesian LMM' sets u ~ Normal(0, 10) for the mouse intercepts. What is wrong with it?",
    {"a": "Nothing: 10 is weakly informative.",
     "b": "The scale of the intercepts is fixed, not estimated: the data cannot say how similar the mice are, so "
          "there is no partial pooling learnt from the data (the intercepts are barely shrunk). Estimate sigma_u.",
     "c": "The prior should be Normal(0, 100) like beta's.",
     "d": "Intercepts should have a uniform prior."},
    "b",
    feedback={"a": "weakly informative or not, a fixed scale decides the shrinkage by assumption instead of from the data.",
              "c": "a wider fixed scale makes it worse: even less pooling, closer to a separate intercept per mouse.",
              "d": "any fixed prior has the same problem: it is the missing hyperparameter that matters."},
    hints=["In a hierarchical model, what sets how strongly each mouse's intercept is pulled towards the mean?"],
)

QUESTIONS = collect_questions(globals())
