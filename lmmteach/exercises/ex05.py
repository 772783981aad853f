"""Exercise set 05: a Gibbs sampler for W_ij = X_i + E_ij, and what identifiability is.

The model (m = 2 recordings per unit): X_i ~ N(0, s2x), E_ij ~ N(0, s2e),
s2x ~ InvGamma(a_x, b_x), s2e ~ InvGamma(a_e, b_e). The correct full
conditional of X_i has precision 1/s2x + 2/s2e; the published note swapped the
two (2/s2x + 1/s2e). The exact posterior answers used to check a sampler's
output (the mean of s2x, the probability that s2x > s2e) are computed by
quadrature: the sums S_i = W_i1 + W_i2 ~ N(0, 4 s2x + 2 s2e)
and differences D_i = W_i1 - W_i2 ~ N(0, 2 s2e) are independent given the
variances, so the marginal posterior of (s2x, s2e) is a 2-D density.

Deliberately independent of :mod:`lmmteach.gibbs`: the note's seed, prior,
simulator and conditionals are written out again here rather than imported.
This set is the grading reference, and it must not share a bug with the
course's sampler: if it imported from ``gibbs``, a mistake there (a precision
swapped back, say) would move the expected answers with it, and a student who
copied the course's sampler would be marked correct for the same mistake.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from lmmteach.exercises.questions import (ArrayQuestion, ChoiceQuestion, FunctionQuestion, Mistake, Progress,
                                          collect_questions, progress_summary)

__all__ = ["BURN", "DRAWS", "QUESTIONS", "check_all", "q1", "q2", "q3", "q4", "q5", "q6", "simulate"]

SET = "ex05"
SEED, N, S2X_TRUE, S2E_TRUE = 47403, 100, 5.0, 3.0
PRIOR = (0.1, 1.0)  # inverse-gamma (shape, rate) for both variances, as in the note
DRAWS, BURN = 4000, 500  # the one prescription: question, solution and notebook use these
MIN_ESS = 800  # a correct sampler of DRAWS draws has at least this bulk ESS here (measured, seeds 1-4: s2x 1117-1326,
               # the indicator s2x > s2e 1391-1653)


def simulate(seed: int = SEED, n: int = N, s2x: float = S2X_TRUE, s2e: float = S2E_TRUE) -> np.ndarray:
    """W (n x 2) from the model, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, np.sqrt(s2x), n)
    return x[:, None] + rng.normal(0.0, np.sqrt(s2e), (n, 2))


def _x_conditional(W, sigma2_x, sigma2_e):
    var = 1.0 / (1.0 / sigma2_x + W.shape[1] / sigma2_e)
    return var * W.sum(axis=1) / sigma2_e, float(var)


def _x_conditional_published(W, sigma2_x, sigma2_e):
    var = 1.0 / (W.shape[1] / sigma2_x + 1.0 / sigma2_e)
    return var * W.sum(axis=1) / sigma2_e, float(var)


def _x_conditional_mean_of_w(W, sigma2_x, sigma2_e):
    var = 1.0 / (1.0 / sigma2_x + W.shape[1] / sigma2_e)
    return var * W.mean(axis=1) / sigma2_e, float(var)


def _x_cases():
    rng = np.random.default_rng(505)
    return [(simulate(), 5.0, 3.0), (rng.normal(0, 3, (7, 2)), 0.5, 4.0), (rng.normal(2, 1, (5, 2)), 10.0, 0.2)]


q1 = FunctionQuestion(
    SET, "q1",
    "Write `x_conditional(W, sigma2_x, sigma2_e)` returning (mean, var) of the full conditional of X_i "
    "given W and both variances: mean an array of shape (n,), var a float (W has shape (n, 2)).",
    _x_conditional, _x_cases, rtol=1e-8, atol=1e-10,
    hints=["Combine the prior N(0, sigma2_x) with two measurements W_i1, W_i2, each N(X_i, sigma2_e).",
           "Precisions add: the prior contributes 1/sigma2_x, each of the 2 measurements 1/sigma2_e.",
           "var = 1 / (1/sigma2_x + 2/sigma2_e); mean = var * (W_i1 + W_i2) / sigma2_e."],
    solution="def x_conditional(W, sigma2_x, sigma2_e):\n"
             "    var = 1 / (1 / sigma2_x + W.shape[1] / sigma2_e)\n"
             "    return var * W.sum(axis=1) / sigma2_e, float(var)",
    mistakes=[Mistake("that is the published conditional, with the precisions swapped (2/sigma2_x + 1/sigma2_e). "
                      "The prior on X_i counts once; each of the two measurements adds 1/sigma2_e.",
                      value=_x_conditional_published),
              Mistake("the mean uses the average of W_i1 and W_i2; the precision-weighted mean needs their sum "
                      "(each measurement contributes W_ij / sigma2_e).", value=_x_conditional_mean_of_w)],
    why="this is the line the note got wrong: precisions add, one from the prior and one from each measurement, "
        "and every later result depends on it.",
)


def _s2x_conditional(X, a, b):
    return a + X.size / 2, b + float(np.sum(X**2)) / 2


def _s2x_no_half_shape(X, a, b):
    return a + X.size, b + float(np.sum(X**2)) / 2


def _s2x_no_half_rate(X, a, b):
    return a + X.size / 2, b + float(np.sum(X**2))


def _s2x_cases():
    rng = np.random.default_rng(506)
    return [(rng.normal(0, 2, 100), 0.1, 1.0), (rng.normal(0, 1, 7), 2.0, 200.0)]


q2 = FunctionQuestion(
    SET, "q2",
    "Write `sigma2_x_conditional(X, a, b)` returning (shape, rate) of the inverse-gamma full conditional "
    "of sigma2_x given X (prior InvGamma(a, b)).",
    _s2x_conditional, _s2x_cases,
    hints=["Multiply the InvGamma(a, b) density by the n normal densities of X_i.",
           "Each X_i adds 1/2 to the shape and X_i**2 / 2 to the rate."],
    solution="def sigma2_x_conditional(X, a, b):\n    return a + X.size / 2, b + np.sum(X**2) / 2",
    mistakes=[Mistake("the shape grows by 1/2 per X_i, not by 1 (n/2 in total).", value=_s2x_no_half_shape),
              Mistake("the rate grows by X_i**2 / 2: you forgot the 1/2.", value=_s2x_no_half_rate)],
    why="conjugate updates are bookkeeping: each observation adds 1/2 to the shape and half its square to the rate, "
        "which is why Gibbs sampling is fast for this model.",
)


@lru_cache(maxsize=None)
def _posterior_grid(seed=SEED):
    """Exact marginal posterior of (s2x, s2e) on a log grid: (grid_x, grid_e, weights)."""
    W = simulate(seed)
    S, D = W.sum(axis=1), W[:, 0] - W[:, 1]
    a, b = PRIOR
    gx = np.exp(np.linspace(np.log(0.2), np.log(60.0), 700))
    ge = np.exp(np.linspace(np.log(0.2), np.log(30.0), 700))
    sx, se = np.meshgrid(gx, ge, indexing="ij")
    vs, vd = 4 * sx + 2 * se, 2 * se
    logp = (-0.5 * len(S) * np.log(vs) - 0.5 * np.sum(S**2) / vs - 0.5 * len(D) * np.log(vd)
            - 0.5 * np.sum(D**2) / vd)
    logp += -(a + 1) * np.log(sx) - b / sx - (a + 1) * np.log(se) - b / se
    logp += np.log(sx) + np.log(se)  # Jacobian of the log grid
    w = np.exp(logp - logp.max())
    return gx, ge, w / w.sum()


def _posterior_moments(which="x"):
    gx, ge, w = _posterior_grid()
    values = gx[:, None] if which == "x" else ge[None, :]
    mean = float(np.sum(w * values))
    return mean, float(np.sqrt(np.sum(w * (values - mean) ** 2)))


def _posterior_answer(which="x"):
    """Exact [posterior mean of s2x, P(s2x > s2e | W)] (or of s2e and P(s2e > s2x) for ``which="e"``)."""
    gx, ge, w = _posterior_grid()
    p_x_above = float(w[gx[:, None] > ge[None, :]].sum())
    if which == "x":
        return np.array([_posterior_moments("x")[0], p_x_above])
    return np.array([_posterior_moments("e")[0], 1 - p_x_above])


@lru_cache(maxsize=None)
def _published_sampler_answer(draws=20000, burn=1000, seed=1):
    """[mean of s2x, share of draws with s2x > s2e] from the note's sampler (swapped precision), run long."""
    rng = np.random.default_rng(seed)
    W = simulate()
    a, b = PRIOR
    n = W.shape[0]
    s2e, s2x = float(np.mean(np.var(W, axis=1, ddof=1))), float(np.var(W.mean(axis=1), ddof=1))
    keep = []
    for s in range(draws):
        var = 1 / (1 / s2e + 2 / s2x)
        X = rng.normal(var * W.sum(axis=1) / s2e, np.sqrt(var))
        s2x = 1 / rng.gamma(n / 2 + a, 1 / (b + np.sum(X**2) / 2))
        s2e = 1 / rng.gamma(n + a, 1 / (b + np.sum((W - X[:, None]) ** 2) / 2))
        if s >= burn:
            keep.append((s2x, s2x > s2e))
    return np.array(keep, dtype=float).mean(axis=0)


def _tolerance():
    """Four Monte Carlo standard errors of each answer for a run with at least MIN_ESS effective draws."""
    p = _posterior_answer()[1]
    return 4 * np.array([_posterior_moments("x")[1], np.sqrt(p * (1 - p))]) / np.sqrt(MIN_ESS)


q3 = ArrayQuestion(
    SET, "q3",
    f"Run your corrected Gibbs sampler on W = ex.simulate() (ex.DRAWS = {DRAWS} draws after ex.BURN = {BURN} "
    f"burn-in, priors InvGamma{PRIOR} on both variances) and give [posterior mean of sigma2_x, posterior "
    "probability that sigma2_x > sigma2_e].",
    _posterior_answer, tol=_tolerance, close_factor=3.0, order="[posterior mean of sigma2_x, P(sigma2_x > sigma2_e)]",
    hints=["Loop over draws: X from x_conditional, then sigma2_x and sigma2_e from their inverse-gamma "
           "conditionals. An InvGamma(shape, rate) draw is 1 / rng.gamma(shape, 1 / rate).",
           "sigma2_e | X, W ~ InvGamma(a + n, b + sum((W - X[:, None])**2) / 2): 2n measurements add n to the shape.",
           "Keep both variances after burn-in; the probability is the share of kept draws with sigma2_x > sigma2_e."],
    solution="rng = np.random.default_rng(1)\ns2x, s2e = 1.0, 1.0\nkeep = []\n"
             "for s in range(ex.DRAWS + ex.BURN):\n    mean, var = x_conditional(W, s2x, s2e)\n"
             "    X = rng.normal(mean, np.sqrt(var))\n    shape, rate = sigma2_x_conditional(X, 0.1, 1.0)\n"
             "    s2x = 1 / rng.gamma(shape, 1 / rate)\n"
             "    s2e = 1 / rng.gamma(0.1 + X.size, 1 / (1.0 + np.sum((W - X[:, None])**2) / 2))\n"
             "    if s >= ex.BURN:\n        keep.append((s2x, s2e))\n"
             "draws = np.array(keep)\nanswer = [draws[:, 0].mean(), np.mean(draws[:, 0] > draws[:, 1])]",
    mistakes=[Mistake("give two values, [posterior mean of sigma2_x, P(sigma2_x > sigma2_e)]. A moment estimate "
                      "of sigma2_x is no substitute: only the sampler's draws give the probability.",
                      when=lambda a: a.size == 1),
              Mistake("that is what the published sampler (swapped precision in the X_i conditional) gives: "
                      "fix the conditional of q1 and rerun.", value=_published_sampler_answer),
              Mistake("these are for sigma2_e: its posterior mean and P(sigma2_e > sigma2_x).",
                      value=lambda: _posterior_answer("e")),
              Mistake("the probability is the wrong way round: the question asks for P(sigma2_x > sigma2_e).",
                      value=lambda: np.array([_posterior_answer()[0], 1 - _posterior_answer()[1]])),
              Mistake("a probability lies between 0 and 1.", when=lambda a: a.shape == (2,) and not 0 <= a[1] <= 1)],
    why="with two measurements per unit a correct sampler separates the two variances, and the draws answer "
        "questions no point estimate can, such as how sure we are which one is larger.",
)

q4 = ChoiceQuestion(
    SET, "q4",
    "The note finds the posterior draws of sigma2_x and sigma2_e 'bounce towards the other parameter's "
    "value' and calls it identifiability. What explains most of it?",
    {"a": "With two measurements per unit the two variances cannot be told apart.",
     "b": "The priors InvGamma(0.1, 1) are too vague for a sampler to handle.",
     "c": "The X_i conditional has its precisions swapped: it samples another posterior.",
     "d": "n = 100 units is too few for the variances to be estimated separately."},
    "c",
    feedback={"a": "with m = 2 the within-unit differences identify sigma2_e and the unit means then identify "
                   "sigma2_x: a correct sampler recovers both.",
              "b": "the note tried informative priors and the problem stayed; the priors are not the cause.",
              "d": "the note's n = 1000 run made the bias worse, not better: more data cannot fix a wrong sampler."},
    hints=["Run the sampler with the published conditional and with yours on the same W and compare with the "
           "true values."],
    why="a sampler can be wrong while looking well-mixed: checking it against a case with a known answer "
        "(an exact posterior, or SBC) is what exposes the swapped precision.",
)

q5 = ChoiceQuestion(
    SET, "q5",
    "In scenarios 7-8 the X_i are simulated with a large non-zero mean, but the model says X_i ~ N(0, sigma2_x). "
    "What is the right fix?",
    {"a": "Add a mean parameter mu, X_i ~ N(mu, sigma2_x), and sample it too.",
     "b": "Use stronger, more informative priors on both of the variance parameters.",
     "c": "Run the sampler for much longer so that the chains can converge.",
     "d": "Nothing: this is non-identifiability, which no model can repair."},
    "a",
    feedback={"b": "priors cannot repair a model that leaves out the mean: sigma2_x absorbs mu**2.",
              "c": "longer runs converge to the posterior of the wrong model.",
              "d": "this is misspecification, not non-identifiability: the data identify a mean perfectly well."},
    hints=["What does sum(X_i**2) / n estimate when the X_i have mean mu?"],
    why="a model that leaves out a feature of the data does not fail loudly: its other parameters absorb it, so "
        "misspecification can masquerade as an identifiability problem.",
)

q6 = ChoiceQuestion(
    SET, "q6", "With one measurement per unit (m = 1), W_i = X_i + E_i. What can the data identify?",
    {"a": "sigma2_x and sigma2_e separately, as with two measurements per unit.",
     "b": "Only sigma2_e, because the measurement noise is all the data show.",
     "c": "Nothing at all: without repeated measurements no parameter is identified.",
     "d": "Only the sum sigma2_x + sigma2_e: the posterior has a ridge along it."},
    "d",
    feedback={"a": "with m = 1 each W_i is N(0, sigma2_x + sigma2_e): the likelihood depends on the sum only.",
              "b": "without repeated measurements nothing separates noise from signal.",
              "c": "the total variance is estimated well; only its split is not."},
    hints=["Write the distribution of W_i after integrating X_i out."],
    why="this is what non-identifiability really looks like: a ridge in the likelihood that only a design with "
        "repeated measurements, or a prior, can break.",
)

QUESTIONS = collect_questions(globals())


def check_all() -> Progress:
    """Where this set stands: the latest check of every question, and the points so far."""
    return progress_summary(QUESTIONS)
