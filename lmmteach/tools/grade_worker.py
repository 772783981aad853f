"""Grade one submission in a worker process: run it sandboxed, read its answers as data, judge them here.

    python -m lmmteach.tools.grade_worker  < job.json  > result.json

:mod:`lmmteach.tools.grade` starts one worker per submission and reads one
JSON result from it, signed with a key the job carried (so nothing but this
worker can produce it). The worker

1. makes the submission's scratch folder: ``pkg/`` a fresh, read-only copy of
   the *student release* of the package (:mod:`lmmteach.tools.release`: no
   solutions, no reference values) with the data sets, and ``work/`` the
   kernel's working folder, owned by the submission's own user id;
2. starts the kernel through :mod:`lmmteach.tools.sandbox` (own PID and mount
   namespaces as root, resource limits, a minimal environment:
   ``PATH``, ``HOME``, ``PYTHONPATH`` to the copy, ``PYTHONDONTWRITEBYTECODE``,
   single-threaded BLAS, a private PyTensor cache -- nothing of the grader's
   environment);
3. runs the cells in order under one wall-time budget, keeping at most
   ``output_limit`` bytes of output;
4. asks the kernel for each question's answer as data
   (:func:`lmmteach.exercises.protocol.request_code`) and judges it in this
   process against the full set (:func:`lmmteach.tools.judge.judge`);
5. kills the kernel's namespace (or process group) and deletes the scratch folder.

The worker makes itself non-dumpable, so a process of the same user cannot
read its memory, environment or open files through ``/proc``.
"""

from __future__ import annotations

import ast
import ctypes
import hashlib
import hmac
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from lmmteach import progress
from lmmteach.exercises.protocol import MAX_ANSWER_BYTES, request_code
from lmmteach.tools.notebooks import KERNELSPEC, CurrentEnvKernelManager
from lmmteach.tools.judge import judge, request_for

__all__ = ["describe", "grade_submission", "main", "sign_result"]

PR_SET_DUMPABLE = 4
CHECKED = re.compile(r"\b(q\d+)\.check\(")
ANSWER_TIMEOUT = 120  # seconds to read the answers (a PyMC model's log density compiles)
AFTER_TIMEOUT = 10  # ... once the notebook overran (a loop may ignore the interrupt)


def sign_result(result: dict, key: str) -> str:
    payload = json.dumps({k: v for k, v in result.items() if k != "sig"}, sort_keys=True)
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _non_dumpable() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


class _LimitedClient(NotebookClient):
    """A notebook client that keeps at most ``output_limit`` bytes of the kernel's output."""

    output_limit = 20 * 2**20
    output_bytes = 0
    output_dropped = False

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        self.output_bytes += size
        if self.output_bytes > self.output_limit:
            self.output_dropped = True
            return None
        return super().output(outs, msg, display_id, cell_index)


def _sandbox_specs(prefix: list[str]):
    import ipykernel.kernelspec

    class SandboxSpecs(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            spec = ipykernel.kernelspec.get_kernel_dict()
            spec["argv"] = prefix + spec["argv"]
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **spec)

    return SandboxSpecs()


def _kernel_env(scratch: Path, package: Path, work: Path) -> dict:
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "PYTHONPATH": str(package),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg", "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTENSOR_FLAGS": f"base_compiledir={work / '.pytensor'}", "MPLCONFIGDIR": str(work / ".matplotlib"),
            "LMMTEACH_DATA_DIR": str(package / "datasets"), "JUPYTER_PLATFORM_DIRS": "1",
            "IPYTHONDIR": str(work / ".ipython"), progress.ENV_VAR: "0"}  # no progress bars in graded runs


def _cell_errors(nb) -> list[str]:
    errors = []
    for number, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), 1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"code cell {number} raised {out.get('ename')}: {str(out.get('evalue'))[:100]}")
    return errors


def describe(reply: dict | None) -> str:
    """What the grader read for one question, in words (for lmmteach-validate)."""
    if not reply:
        return "MISSING: not read (the notebook stopped before it?)"
    if "error" in reply:
        return f"MISSING: {reply['error']}"
    data = reply.get("answer", {})
    kind = data.get("t")
    if kind == "missing":
        return "MISSING: still `...`"
    if kind == "number":
        return f"a number ({data['value']})"
    if kind in ("str", "bool"):
        return f"{kind} {data['value']!r}"
    if kind == "array":
        return f"an array of shape {tuple(data['shape'])}"
    if kind in ("list", "tuple"):
        return f"a {kind} of {len(data['items'])} item(s)"
    if kind == "function":
        return "a function (the grader calls it on its own test inputs)"
    if kind in ("statsmodels", "idata", "pymc_model"):
        return {"statsmodels": "a statsmodels result", "idata": "an InferenceData", "pymc_model": "a PyMC model"}[kind]
    return f"a value the grader cannot judge ({data.get('type', kind)})"


def _reply_text(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "execute_result":
            text = out.get("data", {}).get("text/plain", "")
            if len(text) > MAX_ANSWER_BYTES:
                raise ValueError(f"answers larger than {MAX_ANSWER_BYTES} bytes")
            return ast.literal_eval(text)
    return None


def _copy_warm_cache(work: Path, uid) -> None:
    """A private copy of the grader's compiled PyTensor modules: fast, and nothing flows back."""
    try:
        import pytensor

        source = Path(pytensor.config.compiledir)
    except Exception:
        return
    if source.is_dir():
        shutil.copytree(source, work / ".pytensor" / source.name, symlinks=False,
                        ignore=shutil.ignore_patterns("lock_dir*"), dirs_exist_ok=True)


def _chown_tree(path: Path, uid) -> None:
    if uid is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in files:
            os.chown(os.path.join(root, name), uid, uid)


class _NoReply(Exception):
    """The kernel did not give its answers."""


def _ask(client, nb, requests: dict, timeout: float = ANSWER_TIMEOUT) -> dict:
    """The kernel's answers to ``requests`` (question name -> reply); an empty dict if it gave none."""
    saved = client.timeout_func, client.timeout, client.output_limit
    client.timeout_func, client.timeout = None, int(timeout)
    client.output_limit = 10**12  # the reply is size-checked in _reply_text
    cell = nbformat.v4.new_code_cell(request_code(requests))
    nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(nb.cells) - 1, store_history=False)
        text = _reply_text(cell)
        reply = json.loads(text) if text else {}
    except CellTimeoutError:
        raise _NoReply("the kernel did not give its answers in time") from None
    except (ValueError, SyntaxError):
        reply = {}
    finally:
        nb.cells.remove(cell)
        client.timeout_func, client.timeout, client.output_limit = saved
    return {k: v for k, v in reply.items() if k in requests} if isinstance(reply, dict) else {}


def grade_submission(job: dict) -> dict:
    """Run and judge one submission; the result's ``points``, ``status``, ``messages`` and ``errors``."""
    start = time.monotonic()
    set_name = job["set"]
    module = importlib.import_module(f"lmmteach.exercises.{set_name}")
    questions = {q.name: q for q in module.QUESTIONS if q.name in job["answers"]}
    result = {"points": {n: 0.0 for n in questions}, "status": {}, "messages": {}, "errors": [], "notes": []}
    nb = nbformat.reads(job["text"], as_version=4)
    nb.metadata["kernelspec"] = KERNELSPEC
    strong = (os.geteuid() == 0 and shutil.which("unshare") is not None and shutil.which("setpriv") is not None
              and not job.get("weak"))
    uid = job.get("uid") if strong else None
    scratch = Path(tempfile.mkdtemp(prefix="lmmteach-grade-", dir=job.get("scratch")))
    try:
        os.chmod(scratch, 0o711)
        package, work = scratch / "pkg", scratch / "work"
        shutil.copytree(job["release"], package)
        for root, dirs, files in os.walk(package):  # read-only for everyone, owned by the grader
            os.chmod(root, 0o555)
            for name in files:
                os.chmod(os.path.join(root, name), 0o444)
        work.mkdir(mode=0o700)
        _copy_warm_cache(work, uid)
        _chown_tree(work, uid)
        env = _kernel_env(scratch, package, work)
        limits = job.get("limits", {})
        config = {"work": str(work), "package": str(package), "uid": uid, "env": env, "limits": limits,
                  "namespaces": strong, "hide": job.get("hide", [])}
        prefix = [sys.executable, "-m", "lmmteach.tools.sandbox", json.dumps(config), "--"]
        if strong:
            prefix = ["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--pid", "--fork", "--kill-child", "--mount",
                      "--mount-proc", "--net"] + prefix
        else:
            result["notes"].append("weak isolation (not root or no unshare): limits and a session kill only")
        timeout = float(job["timeout"])
        deadline = time.monotonic() + timeout
        specs = _sandbox_specs(prefix)

        class SandboxKernelManager(CurrentEnvKernelManager):
            def __init__(self, **kwargs):
                kwargs["kernel_spec_manager"] = specs
                if strong:  # no network inside: the kernel talks to us over Unix sockets in its work folder
                    kwargs.update(transport="ipc", ip=str(work / "kernel"))
                super().__init__(**kwargs)

        client = _LimitedClient(
            nb, kernel_manager_class=SandboxKernelManager, kernel_name="python3",
            timeout=int(timeout), timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
            allow_errors=True, record_timing=False, startup_timeout=60,
            resources={"metadata": {"path": str(work)}},
        )
        client.output_limit = int(limits.get("output", client.output_limit))
        answers, kernel_pid = {}, None
        try:
            with client.setup_kernel(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
                kernel_pid = getattr(client.km.provisioner, "pid", None)
                requests = {name: ({"expr": job["answers"][name]} if job.get("describe")
                                   else request_for(q, job["answers"][name]))
                            for name, q in questions.items() if name in job["answers"]}
                for index, cell in enumerate(list(nb.cells)):
                    if cell.cell_type != "code":
                        continue
                    if time.monotonic() >= deadline:
                        result["errors"].append(f"timeout: stopped after {timeout:g} s")
                        break
                    try:
                        client.execute_cell(cell, index)
                    except CellTimeoutError:
                        result["errors"].append(f"timeout: stopped after {timeout:g} s (answers read before "
                                                "it still count)")
                        client.km.interrupt_kernel()
                        time.sleep(1)
                        break
                    asked = {n: requests[n] for n in CHECKED.findall(cell.source) if n in requests}
                    if asked:  # read these answers now, so that a later crash cannot lose them
                        answers.update(_ask(client, nb, asked))
                stopped = any(e.startswith("timeout") for e in result["errors"])
                answers.update(_ask(client, nb, requests, AFTER_TIMEOUT if stopped else ANSWER_TIMEOUT))
        except DeadKernelError:
            result["errors"].append("the kernel died (answers read before it still count)")
        except _NoReply as err:
            result["errors"].append(str(err))
        finally:
            if kernel_pid and not strong:
                try:
                    os.killpg(kernel_pid, signal.SIGKILL)
                except OSError:
                    pass
        if client.output_dropped:
            result["errors"].append(f"output over {client.output_limit} bytes was dropped")
        result["errors"] = _cell_errors(nb) + result["errors"]
        if not answers and not result["errors"]:
            result["errors"].append("the kernel gave no answers")
        if job.get("describe"):  # lmmteach-validate: what the grader will read, no verdict
            result["answers"] = {name: describe(answers.get(name)) for name in questions}
            return result
        for name, question in questions.items():
            status, message = judge(question, answers.get(name))
            result["status"][name] = status
            result["messages"][name] = message
            result["points"][name] = question.points if status == "correct" else 0.0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


def main() -> int:
    _non_dumpable()
    job = json.loads(sys.stdin.read())
    key = job.pop("key")
    try:
        result = grade_submission(job)
    except Exception as err:  # reported, signed, as this submission's error
        result = {"points": {}, "status": {}, "messages": {}, "notes": [],
                  "errors": [f"grader error: {type(err).__name__}: {str(err)[:200]}"]}
    result["sig"] = sign_result(result, key)
    sys.stdout.write(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
