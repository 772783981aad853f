"""Exercise set 04: the Bayesian varying-intercept model and PSIS-LOO (ciproxifan).

The hierarchical model WAKE ~ Treatment * Genotype + (1 | id) with beta ~
Normal(0, 100), sigma, sigma_u ~ HalfNormal(10) integrates to y ~ N(0, sigma^2
I + sigma_u^2 Z Z' + 100^2 X X'), so a 2-D grid over (sigma_u, sigma) gives its
exact posterior (:func:`lmmteach.exercises._reference.exact_posterior`). The same
grid gives the exact leave-one-out elpd: p(y_i | y_-i) = 1 / E_post[1 / p(y_i |
y_-i, theta)] with p(y_i | y_-i, theta) normal.

Every number asked for needs the intended method: q2 asks for a posterior
probability about sigma_u (REML gives only a point), q3 for the whole
``az.loo`` result (its p_loo tells the fixed-effects model from the
hierarchical one, and WAIC has no Pareto k). Tolerances are Monte Carlo
errors of a run of the course's prescription ``SAMPLING``. On these 33 rows
the hierarchical-minus-fixed difference is smaller than both its standard
error and the PSIS error of the hierarchical model (whose k are partly bad),
so it is asked as a reasoning question rather than a number.
"""

from __future__ import annotations

import numpy as np

from lmmteach.ciproxifan import BETA_SD, SIGMA_SD, SIGMA_U_SD
from lmmteach.exercises._reference import (SAMPLING, SAMPLING_TEXT, check_prior, exact_elpd_loo, exact_posterior,
                                           joint_logp, rv_distribution, rv_size, sigma_u_moments)
from lmmteach.exercises.questions import (ChoiceQuestion, Mistake, NumericQuestion, ObjectQuestion, Progress,
                                          collect_questions, progress_summary)

__all__ = ["QUESTIONS", "SAMPLING", "check_all", "q1", "q2", "q3", "q4", "q5", "q6", "q7"]

SET = "ex04"
N_SUBJECTS = 18
MIN_ESS_U = 1500  # a non-centred run of SAMPLING has at least this bulk ESS (measured, seeds 1-3: 1889-2248)
ELPD_TOL = 0.3  # PSIS-LOO of runs of SAMPLING on the fixed-effects model lands within 0.07 of the exact value
P_LOO_FIXED_MAX = 7.0  # p_loo of the fixed-effects model (5 parameters) is about 4.9, of the hierarchical one about 9


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
    why="sampling standard-normal offsets removes the funnel between sigma_u and the intercepts, the geometry "
        "that makes NUTS diverge when sigma_u is small.",
)


def _elpd_fixed():
    return exact_elpd_loo(beta_sd=BETA_SD)


SIGMA_U_THRESHOLD = 2.0  # percentage points of WAKE


def _p_sigma_u_above(threshold=SIGMA_U_THRESHOLD):
    """Exact posterior probability that sigma_u exceeds ``threshold`` (the grid's cells are 0.2 wide, edges at 2)."""
    sig_u, _, w, _ = exact_posterior(hierarchical=True)
    return float(w[sig_u > threshold].sum())


def _p_tolerance():
    """Four Monte Carlo standard errors of a probability estimated from MIN_ESS_U effective draws."""
    p = _p_sigma_u_above()
    return 4 * np.sqrt(p * (1 - p) / MIN_ESS_U)


def _prior_p_above():
    from scipy import stats

    return float(stats.halfnorm.sf(SIGMA_U_THRESHOLD, scale=SIGMA_U_SD))


def _reml_sigma_u():
    """The REML estimate of sigma_u (lme4's Listing 4: variance 9.926)."""
    from lmmteach import reml
    from lmmteach.ciproxifan import FORMULA
    from lmmteach.exercises._reference import ciproxifan_data

    components = reml.fit(f"{FORMULA} + (1 | id)", ciproxifan_data()).var_components
    return float(np.sqrt(components.loc[components["group"] == "id", "vcov"].iloc[0]))


q2 = NumericQuestion(
    SET, "q2",
    f"Sample the q1 model ({SAMPLING_TEXT}, log-likelihood kept). How sure can we be that the mice really differ: "
    f"give the posterior probability that sigma_u > {SIGMA_U_THRESHOLD:g} (percentage points of WAKE).",
    _p_sigma_u_above, tol=_p_tolerance, close_factor=2.0,
    hints=[f"pm.sample(**ex.SAMPLING, random_seed=4, model=hier, idata_kwargs={{'log_likelihood': True}})",
           f"A posterior probability is the share of draws for which the statement holds: "
           f"float((idata_hier.posterior['sigma_u'] > {SIGMA_U_THRESHOLD:g}).mean())"],
    solution="idata_hier = pm.sample(**ex.SAMPLING, random_seed=4, model=hier, idata_kwargs={'log_likelihood': True})\n"
             f"p_differ = float((idata_hier.posterior['sigma_u'] > {SIGMA_U_THRESHOLD:g}).mean())",
    mistakes=[Mistake(f"that is P(sigma_u < {SIGMA_U_THRESHOLD:g}), the complement.",
                      value=lambda: 1 - _p_sigma_u_above(), rtol=0.0, atol=0.06),
              Mistake("that is the prior probability under HalfNormal(10), before seeing the data: use the "
                      "posterior draws.", value=_prior_p_above, rtol=0.0, atol=0.01),
              Mistake("that is REML's point estimate of sigma_u, which says nothing about how sure we are; the "
                      "posterior draws give a probability.", value=_reml_sigma_u, rtol=0.02),
              Mistake("that is the posterior mean of sigma_u; the question asks for a probability.",
                      value=lambda: sigma_u_moments()[0], rtol=0.1),
              Mistake("a probability lies between 0 and 1.", when=lambda v: not 0 <= v <= 1)],
    why="REML gives sigma_u = 3.15 and nothing about its uncertainty; the posterior says that with 18 mice a "
        "between-mouse SD below 2 points is still quite plausible.",
)


def _validate_loo(loo):
    from arviz import ELPDData

    if not isinstance(loo, ELPDData):
        return "wrong_type", ("expected the whole result of az.loo(idata_fixed) (an ELPDData), not "
                              "just a number: the check reads its p_loo and Pareto k as well.")
    if "elpd_waic" in loo.index:
        return "known_mistake", ("that is WAIC (az.waic), not PSIS-LOO: WAIC has no Pareto-k diagnostic to "
                                 "warn when it fails. Use az.loo.")
    if loo.get("scale", "log") != "log":
        return "known_mistake", ("that LOO is on the deviance or negative-log scale; use az.loo's default "
                                 "scale='log', where elpd_loo is the log predictive density and higher is better.")
    if int(loo["n_data_points"]) != 33:
        return "incorrect", f"expected LOO over the 33 recordings, got {int(loo['n_data_points'])} points."
    if int(loo["n_samples"]) < SAMPLING["chains"] * SAMPLING["draws"]:
        return "incorrect", (f"LOO from {int(loo['n_samples'])} draws: sample with ex.SAMPLING "
                             f"({SAMPLING['chains']} x {SAMPLING['draws']}).")
    if float(loo["p_loo"]) > P_LOO_FIXED_MAX:
        return "known_mistake", (f"p_loo is {float(loo['p_loo']):.1f}: this is the LOO of a model with many more "
                                 "effective parameters than the fixed-effects model's 5 (the hierarchical one?).")
    if abs(float(loo["elpd_loo"]) - _elpd_fixed()) <= ELPD_TOL:
        return "correct", ""
    return "incorrect", "elpd_loo is not that of the fixed-effects model of exercise 3: check the model and priors."


q3 = ObjectQuestion(
    SET, "q3",
    f"Sample the fixed-effects model of exercise 3 (beta ~ Normal(0, 100), sigma ~ HalfNormal(10); {SAMPLING_TEXT}, "
    "log-likelihood kept) and give its PSIS-LOO: the result of az.loo.",
    _validate_loo, expected_kind="the result of az.loo",
    hints=["az.loo(idata_fixed) returns an object with elpd_loo, se, p_loo and pareto_k.",
           "Keep the log-likelihood when sampling: idata_kwargs={'log_likelihood': True}."],
    solution="idata_fixed = pm.sample(**ex.SAMPLING, random_seed=5, model=fixed,\n"
             "                        idata_kwargs={'log_likelihood': True})\n"
             "loo_fixed = az.loo(idata_fixed)",
    why="PSIS-LOO estimates out-of-sample accuracy from one fit, and its Pareto k says when that estimate can be "
        "trusted, which WAIC cannot tell you.",
)

q4 = ChoiceQuestion(
    SET, "q4",
    "az.compare({'fixed': idata_fixed, 'hier': idata_hier}) puts the two models within about 1 elpd of each other, "
    "with a standard error of the difference (dse) at least as large. What do you conclude?",
    {"a": "The model ranked first predicts better, so report it as the better of the two models.",
     "b": "Compare looic instead: on the deviance scale the difference is clearer.",
     "c": "The data cannot separate them; choose on design grounds and report the SE.",
     "d": "The fixed model is better because it has fewer parameters to estimate."},
    "c",
    feedback={"a": "a difference smaller than about 2 dse is within the noise of 33 observations.",
              "b": "looic = -2 x elpd_loo: the same information on another scale (and there lower is better).",
              "d": "elpd_loo already pays for flexibility out of sample; fewer parameters is not a criterion by itself."},
    hints=["Look at elpd_diff next to dse."],
    why="a ranking is not a verdict: repeated measures on the same mice call for the varying intercept whatever a "
        "tie in elpd says, and the honest report gives the difference with its SE.",
)

q5 = ChoiceQuestion(
    SET, "q5", "The report prefers the mixed model because its in-sample MSE is lower. Why can in-sample MSE not "
               "rank models?",
    {"a": "A more flexible model always fits its own data better; that is not prediction.",
     "b": "MSE ignores the units of WAKE, so models on other scales are not comparable.",
     "c": "MSE is fine as long as the two models have equally many fixed effects to estimate.",
     "d": "MSE should have been computed on the log scale, where errors are symmetric."},
    "a",
    feedback={"b": "both models are on the same scale; units are not the issue.",
              "c": "the mixed model adds 18 intercepts: flexibility, not fixed effects, drives in-sample error down.",
              "d": "a transformation does not turn in-sample fit into predictive accuracy."},
    hints=["Give each mouse its own free intercept: what happens to in-sample MSE? And to a new mouse's prediction?"],
    why="in-sample error rewards memorising the data; LOO and K-fold ask the question a reader cares about, how "
        "well new data are predicted.",
)

q6 = ChoiceQuestion(
    SET, "q6", "az.loo warns that some observations have Pareto k > 0.7. What should you do?",
    {"a": "Ignore the warning: the elpd estimate is robust to a few large k values.",
     "b": "Delete those observations from the data and recompute LOO without them.",
     "c": "Use the in-sample log-likelihood instead, which has no such diagnostic.",
     "d": "Refit without each of them (exact LOO) or use K-fold, and ask why they matter."},
    "d",
    feedback={"a": "with k > 0.7 the importance weights have too heavy a tail: the estimate can be badly off.",
              "b": "dropping data because a diagnostic complains changes the question and biases the answer.",
              "c": "in-sample measures are optimistic, the very thing LOO corrects."},
    hints=["Pareto k measures how far the full posterior is from the leave-one-out posterior for that point."],
    why="a bad k marks an observation the posterior leans on; exact refits for those few points cost seconds and "
        "show how optimistic PSIS was.",
)

q7 = ChoiceQuestion(
    SET, "q7", "The report's 'Bayesian LMM' sets u ~ Normal(0, 10) for the mouse intercepts. What is wrong with it?",
    {"a": "Nothing: a scale of 10 is weakly informative on the scale of WAKE.",
     "b": "The scale is fixed, not estimated: the data cannot set how much to pool.",
     "c": "The prior should be Normal(0, 100), the same as the prior on beta.",
     "d": "Intercepts need a uniform prior so that no mouse is favoured over another."},
    "b",
    feedback={"a": "weakly informative or not, a fixed scale decides the shrinkage by assumption instead of from the data.",
              "c": "a wider fixed scale makes it worse: even less pooling, closer to a separate intercept per mouse.",
              "d": "any fixed prior has the same problem: it is the missing hyperparameter that matters."},
    hints=["In a hierarchical model, what sets how strongly each mouse's intercept is pulled towards the mean?"],
    why="estimating sigma_u is what makes a model hierarchical: the mice tell the model how alike they are, and "
        "the shrinkage follows from that.",
)

QUESTIONS = collect_questions(globals())


def check_all() -> Progress:
    """Where this set stands: the latest check of every question, and the points so far."""
    return progress_summary(QUESTIONS)
