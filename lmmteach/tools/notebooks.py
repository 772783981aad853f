"""Run the course's notebooks top to bottom in a fresh kernel of this environment.

    python -m lmmteach.tools.notebooks execute lessons/*.ipynb   # rewrite outputs in place
    python -m lmmteach.tools.notebooks time lessons/*.ipynb      # wall time each, write nothing
    python -m lmmteach.tools.notebooks time --cold lessons/*.ipynb  # ... with an empty PyTensor cache

The kernel is always this interpreter (like nbval's ``--nbval-current-env``),
whatever kernels the machine has registered, so the stored outputs are what
``make test`` will compare against.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

__all__ = ["KERNELSPEC", "CurrentEnvKernelManager", "CurrentEnvKernelSpecs", "main", "run"]

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class CurrentEnvKernelSpecs(KernelSpecManager):
    """Every kernel name resolves to an ipykernel running this interpreter."""

    def get_kernel_spec(self, kernel_name):
        return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict())


class CurrentEnvKernelManager(AsyncKernelManager):
    """A kernel manager that always starts this interpreter's ipykernel.

    Passed to nbclient as ``kernel_manager_class`` (not as a ready ``km``), so
    that nbclient owns the kernel and shuts it down when the notebook is done.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_spec_manager", CurrentEnvKernelSpecs())
        super().__init__(**kwargs)


def run(path: Path, timeout: int = 1800) -> tuple[nbformat.NotebookNode, float]:
    """Execute one notebook in its own folder; return it and the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = KERNELSPEC
    client = NotebookClient(
        nb, kernel_manager_class=CurrentEnvKernelManager, kernel_name="python3", timeout=timeout, record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute(stderr=subprocess.DEVNULL)  # the kernel process's own log lines, not cell output
    return nb, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Execute or time the course notebooks.")
    parser.add_argument("action", choices=["execute", "time"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--cold", action="store_true", help="use an empty PyTensor compile cache")
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)

    paths = [p for p in args.notebooks if p.suffix == ".ipynb" and p.exists()]
    if not paths:
        print("no notebooks to run", file=sys.stderr)
        return 0
    if args.cold:
        cache = tempfile.mkdtemp(prefix="pytensor-cold-")
        os.environ["PYTENSOR_FLAGS"] = ",".join(filter(None, [os.environ.get("PYTENSOR_FLAGS"), f"compiledir={cache}"]))

    failures, total = 0, 0.0
    for path in paths:
        try:
            nb, seconds = run(path, args.timeout)
        except Exception as err:  # report and go on with the other notebooks
            failures += 1
            print(f"{path}: FAILED ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})", flush=True)
            continue
        total += seconds
        if args.action == "execute":
            nbformat.write(nb, path)
        print(f"{seconds:8.1f} s  {path}", flush=True)
    print(f"{total:8.1f} s  total for {len(paths) - failures} notebook(s)" + (f", {failures} failed" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
