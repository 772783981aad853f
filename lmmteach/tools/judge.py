"""Judge a student's answer given as plain data, in the grader's process, against the full set.

The data come from :func:`lmmteach.exercises.protocol.to_data` in the
student's kernel; this module turns them back into values the question's own
check understands and runs that check here, where the references live:

* numbers, arrays, strings and choices go to the question's check unchanged;
* a function's outputs on the grader's test inputs are replayed to the check
  (a stand-in function returns them in order);
* a statsmodels fit becomes a stand-in with its parameters and scalars, an
  InferenceData is rebuilt from its arrays -- both then go to the question's
  own validator;
* a PyMC model is compared with the reference model built here from the
  question's solution: the same free variables (name or size, distribution,
  prior parameters, which variables each depends on), one observed Normal,
  and the same log density at points the grader chose.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from lmmteach.exercises.protocol import from_data
from lmmteach.exercises.questions import FunctionQuestion, ObjectQuestion, Question

__all__ = ["judge", "model_points", "request_for"]

N_POINTS = 2


def model_points(seed: int = 2024) -> list[dict]:
    """The points at which a PyMC answer's log density is compared (keys: names shared by the sets, or sizes)."""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(N_POINTS):
        points.append({"beta": (rng.normal([44, 3, -1, 0], [4, 1, 1, 0.5])).tolist(),
                       "sigma": float(np.log(rng.uniform(6, 10))), "sigma_u": float(np.log(rng.uniform(2, 6))),
                       "size:18": rng.normal(size=18).tolist()})
    return points


def request_for(question: Question, expr: str) -> dict:
    """What the grader asks the kernel about one question."""
    from lmmteach.exercises.protocol import encode_arguments

    request = {"expr": expr}
    if isinstance(question, FunctionQuestion):
        request["cases"] = [encode_arguments(args) for args in question.cases()]
    if isinstance(question, ObjectQuestion):
        request["points"] = model_points()
    return request


def _replay(outputs):
    """A stand-in for the student's function: returns (or raises) the recorded outputs in order."""
    queue = list(outputs)

    def student_function(*args):
        item = queue.pop(0) if queue else {"t": "error", "value": "called more often than recorded"}
        if isinstance(item, dict) and item.get("t") == "error":
            raise RuntimeError(item.get("value", "error"))
        return from_data(item)

    return student_function


def _series(block):
    return pd.Series(from_data(block["values"]), index=block["index"])


def _statsmodels_standin(data):
    fit = SimpleNamespace(**{k: v for k, v in data.items() if k in ("nobs", "rsquared", "rsquared_adj", "scale",
                                                                      "reml", "converged", "llf")})
    for name in ("params", "fe_params"):
        if name in data:
            setattr(fit, name, _series(data[name]))
    if "cov_re" in data:
        fit.cov_re = from_data(data["cov_re"])
        fit.random_effects = dict.fromkeys(range(int(data.get("n_groups", 0))))
    return fit


def _inference_data(data):
    import arviz as az
    import xarray as xr

    groups = {}
    for group, variables in data["groups"].items():
        groups[group] = xr.Dataset({name: (var["dims"], from_data(var["values"])) for name, var in variables.items()})
    return az.InferenceData(**groups)


def _reference_model_data(question):
    """The solution's PyMC model, built here, reduced to the same data as the student's."""
    import pymc as pm

    from lmmteach.exercises._reference import design_arrays
    from lmmteach.exercises.protocol import to_data

    X, y, idx = design_arrays()
    namespace = {"pm": pm, "np": np, "X": X, "y": y, "idx": idx}
    exec(question.solution_code, namespace)  # the set's own solution text, not a student's
    model = next(v for v in namespace.values() if isinstance(v, pm.Model))
    return to_data(model, model_points())


def _model_key(item):
    return item["name"] if item["name"] in ("beta", "sigma", "sigma_u") else f"size:{item['size']}"


def _compare_models(student, reference) -> tuple[str, str]:
    got = {_model_key(v): v for v in student.get("free", [])}
    want = {_model_key(v): v for v in reference["free"]}
    if sorted(got) != sorted(want):
        return "incorrect", (f"expected free variables {sorted(want)} (a key size:N is a variable of N values), "
                             f"got {sorted(got)}.")
    names = {v["name"]: _model_key(v) for v in student["free"]}
    ref_names = {v["name"]: _model_key(v) for v in reference["free"]}
    for key, ref in want.items():
        item = got[key]
        if item["op"] != ref["op"] or item["size"] != ref["size"]:
            return "incorrect", f"'{item['name']}' is a {item['op']} of {item['size']} value(s); expected {ref['op']}."
        if ref["params"] is not None and (item["params"] is None or not np.allclose(item["params"], ref["params"])):
            return "incorrect", f"'{item['name']}' has prior parameters {item['params']}; expected {ref['params']}."
        if sorted(names.get(p, p) for p in item["parents"]) != sorted(ref_names[p] for p in ref["parents"]):
            return "incorrect", f"'{item['name']}' depends on {item['parents']}: not the expected parameterisation."
    if [o["op"] for o in student.get("observed", [])] != [o["op"] for o in reference["observed"]]:
        return "incorrect", "expected one observed Normal likelihood for WAKE."
    if not np.allclose(student.get("logp", []), reference["logp"], rtol=1e-6, atol=1e-6):
        return "incorrect", "the priors are right but the log density differs from the expected model's."
    return "correct", ""


def judge(question: Question, reply: dict | None) -> tuple[str, str]:
    """(status, message) for one question, from the kernel's reply about it."""
    if not reply:
        return "not_attempted", "no answer was found (the notebook stopped before this question, or never defined it)."
    if "error" in reply:
        return "not_attempted", f"the answer could not be read: {reply['error']}"
    try:
        if "outputs" in reply:
            return question._check(_replay(reply["outputs"]))
        data = reply["answer"]
        answer = from_data(data)
        if answer is None:
            return "not_attempted", "the answer is still `...`."
        if isinstance(answer, dict):
            kind = answer.get("t")
            if kind == "statsmodels":
                answer = _statsmodels_standin(answer)
            elif kind == "idata":
                answer = _inference_data(answer)
            elif kind == "elpd":
                answer = _elpd_data(answer)
            elif kind == "pymc_model":
                return _compare_models(answer, _reference_model_data(question))
            elif kind == "function":
                return "wrong_type", "expected a value, got a function."
            else:
                return "wrong_type", f"an answer of type {answer.get('type', kind)} cannot be judged."
        return question._check(answer)
    except Exception as err:  # a malformed reply is the student's answer being wrong, never a grader crash
        return "incorrect", f"your answer could not be judged ({type(err).__name__}: {str(err)[:120]})."


def _elpd_data(data: dict):
    """An ArviZ ELPDData (the result of az.loo or az.waic) rebuilt from its fields, arrays as NumPy arrays."""
    from arviz import ELPDData

    fields = {name: from_data(value) for name, value in data["fields"].items()}
    return ELPDData(data=list(fields.values()), index=list(fields))
