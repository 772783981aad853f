"""Exercise checks: solutions print Correct, fresh exercises say Not attempted, wrong answers get the intended message."""

import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from lmmteach.exercises import SETS, _reference, ex01, ex02, ex03, ex04, ex05, questions
from lmmteach.tools.notebooks import run

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"ex01": ex01, "ex02": ex02, "ex03": ex03, "ex04": ex04, "ex05": ex05}


def _check_outputs(nb):
    """(cell source, plain-text output) for every cell that calls a check."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code" and ".check(" in cell.source:
            text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            errors = [o for o in cell.outputs if o.output_type == "error"]
            found.append((cell.source, text, errors))
    return found


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_every_question_is_checked_once_in_its_notebook(set_name):
    nb = nbformat.read(ROOT / "solutions" / SETS[set_name][0], as_version=4)
    checked = [src.split(".check(")[0].rsplit("ex.", 1)[1] for src, _, _ in _check_outputs(nb)]
    assert checked == [q.name for q in MODULES[set_name].QUESTIONS]
    assert 4 <= len(checked) <= 8


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_stored_solution_outputs_are_all_correct(set_name):
    nb = nbformat.read(ROOT / "solutions" / SETS[set_name][0], as_version=4)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    for source, text, errors in _check_outputs(nb):
        assert not errors and text.rstrip().endswith("- Correct"), (source, text)


@pytest.mark.parametrize("set_name", sorted(SETS))
def test_fresh_exercise_runs_and_reports_not_attempted(set_name, tmp_path):
    path = tmp_path / SETS[set_name][0]
    shutil.copy(ROOT / "exercises" / path.name, path)
    nb, seconds = run(path, timeout=120)
    results = _check_outputs(nb)
    assert len(results) == len(MODULES[set_name].QUESTIONS)
    for source, text, errors in results:
        assert not errors and "Not attempted yet" in text, (source, text)
    assert seconds < 120


def status(question, answer):
    result = question.check(answer, quiet=True)
    return result.status, result.message


def test_correct_answers_computed_independently():
    import statsmodels.formula.api as smf
    from lmmteach.data import load_ciproxifan

    df = load_ciproxifan()
    fit = smf.ols("WAKE ~ Treatment * Genotype", df).fit()
    assert ex01.q3.check(8.224, quiet=True).correct  # Listing 1, as printed
    assert ex01.q4.check(0.7195, quiet=True).correct
    assert ex01.q2.check(fit, quiet=True).correct
    assert ex02.q4.check(9.926, quiet=True).correct  # Listing 4
    assert ex02.q3.check(smf.mixedlm("WAKE ~ Treatment * Genotype", df, groups="id")
                         .fit(reml=True, method="bfgs", gtol=1e-10), quiet=True).correct


def _published(W, s2x, s2e):
    var = 1 / (2 / s2x + 1 / s2e)
    return var * W.sum(axis=1) / s2e, var


def _ml_mixed():
    import statsmodels.formula.api as smf
    from lmmteach.data import load_ciproxifan

    return smf.mixedlm("WAKE ~ Treatment * Genotype", load_ciproxifan(), groups="id").fit(reml=False, method="bfgs")


def _additive_ols():
    import statsmodels.formula.api as smf
    from lmmteach.data import load_ciproxifan

    return smf.ols("WAKE ~ Treatment + Genotype", load_ciproxifan()).fit()


def _pymc_model(kind):
    """Small PyMC models with known mistakes (built, never sampled)."""
    import pymc as pm

    X, y, idx = _reference.design_arrays()
    with pm.Model() as model:
        beta = pm.Normal("beta", 0, 10 if kind == "sd10" else 100, shape=3 if kind == "additive" else 4)
        sigma = pm.HalfNormal("sigma", 10)
        mu = pm.math.dot(X[:, :3], beta) if kind == "additive" else pm.math.dot(X, beta)
        if kind == "swapped":
            mu = pm.math.dot(X[:, [0, 2, 1, 3]], beta)
        if kind == "centred":
            sigma_u = pm.HalfNormal("sigma_u", 10)
            mu = mu + pm.Normal("u", 0, sigma_u, shape=18)[idx]
        if kind == "report":
            mu = mu + pm.Normal("u", 0, 10, shape=18)[idx]
        pm.Normal("y", mu, sigma, observed=y)
    return model


def _idata(groups=("posterior", "log_likelihood"), chains=4):
    import arviz as az

    mean, sd = _reference.beta_moments()
    rng = np.random.default_rng(1)
    beta = mean + sd * rng.normal(size=(chains, 300, 4))
    data = {"posterior": {"beta": beta, "sigma": rng.normal(8.5, 1, (chains, 300))},
            "log_likelihood": {"y": rng.normal(-3.6, 0.1, (chains, 300, 33))}}
    return az.from_dict(**{g: data[g] for g in groups})


MODEL_ANSWERS = {"additive": lambda: _pymc_model("additive"), "sd10": lambda: _pymc_model("sd10"),
                 "swapped": lambda: _pymc_model("swapped"), "centred": lambda: _pymc_model("centred"),
                 "report": lambda: _pymc_model("report"), "no_loglik": lambda: _idata(("posterior",)),
                 "2chains": lambda: _idata(chains=2)}


# (question, wrong answer, expected status, a phrase of the intended message)
WRONG = [
    (ex01.q1, np.zeros(3), "known_mistake", "forgot the interaction"),
    (ex01.q1, np.zeros((2, 2)), "wrong_shape", "expected shape (4,)"),
    (ex01.q1, "beta", "wrong_type", "array of numbers"),
    (ex01.q1, np.ones(4), "incorrect", "not the expected"),
    (ex01.q2, _additive_ols, "known_mistake", "no interaction"),
    (ex01.q2, 42, "wrong_type", "fitted statsmodels OLS"),
    (ex01.q3, 8.2239**2, "known_mistake", "variance"),
    (ex01.q3, 8.2239 * np.sqrt(29 / 33), "known_mistake", "n - p"),
    (ex01.q3, 8.228, "close", "close"),
    (ex01.q3, [8.2, 8.3], "wrong_type", "single number"),
    (ex01.q3, float("nan"), "incorrect", "finite"),
    (ex01.q4, 0.6905, "known_mistake", "adjusted"),
    (ex01.q6, lambda X: 1 - np.sum(np.linalg.qr(X)[0] ** 2, axis=1), "known_mistake", "I - H"),
    (ex01.q6, lambda X: 1 / 0, "incorrect", "ZeroDivisionError"),
    (ex01.q6, np.ones(3), "wrong_type", "a function"),
    (ex01.q7, "a", "known_mistake", "Q-Q"),
    (ex01.q7, "z", "wrong_type", "not an option"),
    (ex02.q1, 1.26, "incorrect", "not the expected"),
    (ex02.q2, lambda ybar, n, mu, sy, sa: (n / sy * ybar + mu / sa) / (n / sy + 1 / sa), "known_mistake", "1/SD"),
    (ex02.q3, _ml_mixed, "known_mistake", "maximum-likelihood"),
    (ex02.q3, _additive_ols, "wrong_type", "MixedLM"),
    (ex02.q4, 9.926**0.5, "known_mistake", "standard deviation"),
    (ex02.q4, 6.56, "known_mistake", "ML estimate"),
    (ex02.q4, 58.145, "known_mistake", "residual variance"),
    (ex02.q5, -110.6418, "known_mistake", "log-likelihood"),
    (ex02.q5, 228.328, "known_mistake", "ML deviance"),
    (ex02.q6, 3.1506 / (3.1506 + 7.6253), "known_mistake", "standard deviations"),
    (ex02.q7, "c", "known_mistake", "both include"),
    (ex03.q1, np.zeros(3), "known_mistake", "forgot the interaction"),
    (ex03.q1, np.ones(4), "incorrect", "not the expected"),
    (ex03.q2, "additive", "known_mistake", "forgot the interaction"),
    (ex03.q2, "sd10", "known_mistake", "Normal(0, 100)"),
    (ex03.q2, "swapped", "incorrect", "likelihood"),
    (ex03.q2, 42, "wrong_type", "PyMC model"),
    (ex03.q3, "no_loglik", "known_mistake", "log_likelihood"),
    (ex03.q3, "2chains", "incorrect", "4 chains"),
    (ex03.q3, {"beta": 1}, "wrong_type", "InferenceData"),
    (ex03.q4, 73.2, "known_mistake", "variance"),
    (ex03.q4, 1.15, "known_mistake", "posterior sd"),
    (ex03.q4, 9.2, "close", "close"),
    (ex03.q4, 20.0, "incorrect", "not the expected"),
    (ex03.q5, ex03._ess() / 4, "known_mistake", "per chain"),
    (ex03.q5, ex03._ess() * 4, "known_mistake", "do not multiply"),
    (ex03.q5, ex03._ess("tail"), "known_mistake", "tail ESS"),
    (ex03.q5, 2000, "known_mistake", "number of draws"),
    (ex03.q6, "a", "known_mistake", "between-chain"),
    (ex03.q7, "c", "known_mistake", "still biased"),
    (ex04.q1, "centred", "known_mistake", "centred parameterisation"),
    (ex04.q1, "report", "known_mistake", "no partial pooling"),
    (ex04.q1, "sd10", "incorrect", "sigma_u"),
    (ex04.q2, 16.7, "known_mistake", "variance"),
    (ex04.q2, 7.85, "known_mistake", "residual SD"),
    (ex04.q2, 10.0, "known_mistake", "prior scale"),
    (ex04.q3, 239.47, "known_mistake", "looic"),
    (ex04.q3, 119.73, "known_mistake", "sign"),
    (ex04.q3, -122.4, "incorrect", "not the expected"),
    (ex04.q4, "c", "known_mistake", "same information"),
    (ex04.q5, "c", "known_mistake", "flexibility"),
    (ex04.q6, "b", "known_mistake", "biases"),
    (ex04.q7, "a", "known_mistake", "by assumption"),
    (ex05.q1, _published, "known_mistake", "published conditional"),
    (ex05.q1, lambda W, a, b: (ex05._x_conditional(W, a, b)[0], np.full(len(W), ex05._x_conditional(W, a, b)[1])),
     "wrong_shape", "expected shape ()"),
    (ex05.q2, lambda X, a, b: (a + X.size, b + np.sum(X**2) / 2), "known_mistake", "shape grows by 1/2"),
    (ex05.q3, 0.05, "known_mistake", "published sampler"),
    (ex05.q3, 3.15, "known_mistake", "sigma2_e"),
    (ex05.q3, 6.0, "incorrect", "not the expected"),
    (ex05.q3, 4.9, "close", "close"),
    (ex05.q4, "a", "known_mistake", "correct sampler recovers"),
    (ex05.q5, "d", "known_mistake", "misspecification"),
]


@pytest.mark.parametrize("question, answer, expected, phrase", WRONG,
                         ids=[f"{q.qid}-{i}" for i, (q, *_) in enumerate(WRONG)])
def test_wrong_answers_get_the_intended_message(question, answer, expected, phrase):
    if callable(answer) and answer in (_ml_mixed, _additive_ols):
        answer = answer()
    if isinstance(answer, str) and answer in MODEL_ANSWERS:
        answer = MODEL_ANSWERS[answer]()
    got, message = status(question, answer)
    assert got == expected, message
    assert phrase in message


def test_messages_never_reveal_the_expected_value():
    for module in MODULES.values():
        for q in module.QUESTIONS:
            if isinstance(q, questions.NumericQuestion):
                expected = float(q.expected())
                for wrong in (expected * 1.5, expected * 1.001 + 1e-3, -1.0):
                    message = q.check(wrong, quiet=True).message
                    assert f"{expected:.3g}" not in message and f"{expected:.2f}" not in message


@pytest.mark.parametrize("answer", [..., None])
def test_not_attempted_and_hints_and_solution_never_raise(answer, capsys):
    for module in MODULES.values():
        for q in module.QUESTIONS:
            assert q.check(answer).status == "not_attempted"
            q.hint()
            q.hint(99)
            q.solution()
    out = capsys.readouterr().out
    assert "Not attempted yet" in out and "choose a hint from 1 to" in out and "Solution" in out


def test_stub_function_counts_as_not_attempted():
    def x_conditional(W, sigma2_x, sigma2_e):
        ...

    assert ex05.q1.check(x_conditional, quiet=True).status == "not_attempted"


def test_q3_tolerance_is_monte_carlo_error_and_accepts_a_correct_short_run():
    tol = ex05.q3.tolerance(0.0)
    sd = ex05._posterior_moments("x")[1]
    assert tol == pytest.approx(4 * sd / np.sqrt(ex05.MIN_ESS))
    W = ex05.simulate()
    rng = np.random.default_rng(7)
    s2x, s2e, keep = 1.0, 1.0, []
    for s in range(ex05.DRAWS + ex05.BURN):
        mean, var = ex05._x_conditional(W, s2x, s2e)
        X = rng.normal(mean, np.sqrt(var))
        shape, rate = ex05._s2x_conditional(X, *ex05.PRIOR)
        s2x = 1 / rng.gamma(shape, 1 / rate)
        s2e = 1 / rng.gamma(ex05.PRIOR[0] + X.size, 1 / (ex05.PRIOR[1] + np.sum((W - X[:, None]) ** 2) / 2))
        if s >= ex05.BURN:
            keep.append(s2x)
    assert ex05.q3.check(np.mean(keep), quiet=True).correct


def test_exact_posteriors_agree_with_the_report_and_a_long_iid_check():
    """The grid posterior behind ex03/ex04 matches Listing 3 (within its MC error) and the flat-prior t posterior."""
    mean, sd = _reference.beta_moments()
    assert np.allclose(mean, [44.44, 2.97, -0.42, -0.10], atol=3 * np.array([0.07, 0.01, 0.10, 0.02]) + 0.15)
    assert np.allclose(sd, [2.85, 0.51, 4.05, 0.73], rtol=0.05)
    assert _reference.sigma_moments()[0] == pytest.approx(8.51, abs=0.06)  # Listing 3: 8.51, se_mean 0.02
    assert 0 < _reference.sigma_u_moments()[0] < 10 and _reference.sigma_u_moments()[1] > 1
    assert ex04._elpd_fixed() == pytest.approx(-119.3, abs=0.6)  # Listing 6 (Stan, PSIS): -119.3
