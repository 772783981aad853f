"""How the grader reads a student's answers: plain data out of the kernel, nothing else.

The grader (:mod:`lmmteach.tools.grade`) never asks a student's kernel whether
an answer is right. After the notebook has run it sends the kernel one request
(:func:`request_code`): evaluate each question's answer expression (the
argument of ``ex.qN.check(...)`` in the set's own notebook, stamped into the
notebook's metadata by :mod:`lmmteach.tools.make_exercises`) and, for a
question that asks for a function, call it on inputs the grader chose. The
kernel replies with one JSON text made by :func:`to_data` -- numbers, arrays,
strings, and for objects that are not data a summary the grader can judge
(a statsmodels fit's parameters, an InferenceData's arrays, a PyMC model's
variables and its log density at points the grader chose). The grader decodes
it with :func:`from_data`, which builds plain values and never runs code, and
judges it in its own process against references the kernel never held
(:mod:`lmmteach.tools.judge`).

What a student's code does to this module in its own kernel changes only the
data that stands for that student's own answers, which are judged like any
other answer. ``record`` is kept as a no-op for the practice checks that still
call it: verdicts printed or written by a kernel count for nothing.
"""

from __future__ import annotations

import json
import math

import numpy as np

__all__ = ["MAX_ANSWER_BYTES", "encode_arguments", "from_data", "record", "request_code", "to_data"]

MAX_ANSWER_BYTES = 32 * 2**20  # the whole reply; an InferenceData of the course's runs is under 3 MB
_MAX_ITEMS = 2_000_000  # values in one array: the prescribed run's log-likelihood alone has 4 x 2000 x 33


def record(entry: dict) -> None:
    """No-op: the grader no longer reads anything a kernel says about its own checks."""


def _array(value) -> dict:
    arr = np.asarray(value)
    if arr.dtype == object or arr.size > _MAX_ITEMS:
        raise ValueError(f"array of dtype {arr.dtype} and size {arr.size} is not answer data")
    if arr.dtype.kind in "biuf":
        flat = [None if not math.isfinite(v) else v for v in arr.astype(float).reshape(-1).tolist()]
        special = {i: repr(float(v)) for i, v in enumerate(arr.astype(float).reshape(-1)) if not math.isfinite(v)}
        return {"t": "array", "shape": list(arr.shape), "values": flat, "special": special}
    return {"t": "strings", "shape": list(arr.shape), "values": [str(v) for v in arr.reshape(-1).tolist()]}


def _statsmodels(fit) -> dict:
    """What a statsmodels result is judged by: its named estimates and a few scalars."""
    out = {"t": "statsmodels", "class": type(fit).__name__}
    for name in ("params", "fe_params"):
        series = getattr(fit, name, None)
        if series is not None and hasattr(series, "index"):
            out[name] = {"index": [str(i) for i in series.index], "values": _array(series.to_numpy(float))}
    for name in ("nobs", "rsquared", "rsquared_adj", "scale", "reml", "converged", "llf"):
        try:
            value = getattr(fit, name)
        except Exception:
            continue
        if isinstance(value, (bool, np.bool_)):
            out[name] = bool(value)
        elif np.ndim(value) == 0:
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                pass
    if hasattr(fit, "cov_re"):
        out["cov_re"] = _array(np.asarray(fit.cov_re, dtype=float))
        out["n_groups"] = len(fit.random_effects)
    return out


def _inference_data(idata) -> dict:
    groups = {}
    for group in idata.groups():
        if group not in ("posterior", "log_likelihood", "sample_stats", "observed_data"):
            continue
        data = getattr(idata, group)
        groups[group] = {name: {"dims": list(var.dims), "values": _array(var.to_numpy())}
                         for name, var in data.data_vars.items()}
    return {"t": "idata", "groups": groups}


def _pymc_model(model, points) -> dict:
    """A PyMC model as data: its free and observed variables and its log density at the grader's points."""
    free = []
    initial = model.initial_point()
    for rv in model.free_RVs:
        value_name = model.rvs_to_values[rv].name
        op = rv.owner.op
        try:
            params = [float(np.asarray(p.eval()).reshape(-1)[0]) for p in op.dist_params(rv.owner)]
        except Exception:
            params = None
        from pytensor.graph.traversal import ancestors

        parents = sorted({a.name for a in ancestors(rv.owner.inputs) if a in model.free_RVs and a is not rv})
        free.append({"name": rv.name, "value": value_name, "op": op.name, "size": int(np.size(initial[value_name])),
                     "params": params, "parents": parents})
    observed = [{"name": rv.name, "op": rv.owner.op.name} for rv in model.observed_RVs]
    logp = model.compile_logp(jacobian=False)
    values = []
    for point in points:  # each maps a variable's name (or "size:N") to unconstrained values
        full = dict(initial)
        for item in free:
            key = item["name"] if item["name"] in point else f"size:{item['size']}"
            if key in point:
                full[item["value"]] = np.asarray(point[key], dtype=float).reshape(np.shape(initial[item["value"]]))
        values.append(float(logp(full)))
    return {"t": "pymc_model", "free": free, "observed": observed, "logp": values}


def to_data(value, points=(), depth=0):
    """``value`` as JSON-able plain data (raises ValueError for what cannot be answer data)."""
    if depth > 6:
        raise ValueError("answer nested too deeply")
    if value is None or value is ...:
        return {"t": "missing"}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "value": bool(value)}
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value)
        return {"t": "number", "value": value if math.isfinite(value) else repr(value)}
    if isinstance(value, str):
        return {"t": "str", "value": value[:10_000]}
    if isinstance(value, (list, tuple)):
        return {"t": "tuple" if isinstance(value, tuple) else "list",
                "items": [to_data(v, points, depth + 1) for v in value[:1000]]}
    module = type(value).__module__ or ""
    if module.startswith("statsmodels"):
        return _statsmodels(value)
    if type(value).__name__ == "InferenceData":
        return _inference_data(value)
    if type(value).__name__ == "ELPDData":  # az.loo / az.waic: a pandas Series of scalars and arrays
        return {"t": "elpd", "fields": {str(k): to_data(np.asarray(v) if hasattr(v, "dims") else v, points, depth + 1)
                                        for k, v in value.items()}}
    if module.startswith("pymc") and type(value).__name__ == "Model":
        return _pymc_model(value, points)
    if callable(value):
        return {"t": "function"}
    if hasattr(value, "to_numpy") or isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        return _array(np.asarray(value))
    return {"t": "other", "type": type(value).__name__}


def request_code(requests: dict) -> str:
    """Source the grader runs in the kernel: the answers to ``requests`` as one JSON text.

    ``requests`` maps a question id to ``{"expr": ..., "cases": [encoded argument tuples] | None,
    "points": [...]}``; the reply maps it to ``{"answer": data}`` or ``{"outputs": [data | error]}``
    or ``{"error": text}``.
    """
    return (
        "def __lmmteach_answers(requests):\n"
        "    import json, numpy as np\n"
        "    from IPython import get_ipython\n"
        "    from lmmteach.exercises.protocol import to_data, from_data\n"
        "    ns, reply = get_ipython().user_ns, {}\n"
        "    for qid, req in requests.items():\n"
        "        try:\n"
        "            value = eval(req['expr'], ns)\n"
        "            if req.get('cases') is not None and callable(value):\n"
        "                outputs = []\n"
        "                for args in req['cases']:\n"
        "                    try:\n"
        "                        outputs.append(to_data(value(*from_data(args))))\n"
        "                    except Exception as err:\n"
        "                        outputs.append({'t': 'error', 'value': f'{type(err).__name__}: {err}'[:300]})\n"
        "                reply[qid] = {'outputs': outputs}\n"
        "            else:\n"
        "                reply[qid] = {'answer': to_data(value, req.get('points', []))}\n"
        "        except Exception as err:\n"
        "            reply[qid] = {'error': f'{type(err).__name__}: {err}'[:300]}\n"
        "    return json.dumps(reply)\n"
        f"__lmmteach_answers(__import__('json').loads({json.dumps(json.dumps(requests))}))"
    )


def from_data(data):
    """Plain Python/NumPy values from :func:`to_data`'s output (builds data only, never runs code)."""
    if isinstance(data, list):  # an argument tuple sent to the kernel
        return tuple(from_data(d) for d in data)
    if not isinstance(data, dict):
        raise ValueError("answer data must be an object")
    kind = data.get("t")
    if kind == "missing":
        return None
    if kind == "bool":
        return bool(data["value"])
    if kind == "number":
        return float(data["value"])  # "nan" and "inf" arrive as text
    if kind == "str":
        return str(data["value"])
    if kind in ("list", "tuple"):
        items = [from_data(d) for d in data["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "array":
        values = [np.nan if v is None else float(v) for v in data["values"]]
        for index, text in data.get("special", {}).items():
            values[int(index)] = float(text)
        return np.asarray(values, dtype=float).reshape([int(s) for s in data["shape"]])
    if kind == "strings":
        return np.asarray([str(v) for v in data["values"]], dtype=object).reshape([int(s) for s in data["shape"]])
    return data  # statsmodels, idata, pymc_model, function, other: judged as data by the grader


def encode_arguments(args) -> list:
    """A test case's argument tuple as data (for the grader's request)."""
    return [to_data(a) for a in args]
