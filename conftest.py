"""pytest configuration shared by the unit tests and the notebook tests.

nbval compares every stored output of a notebook with a fresh run. Warnings
and progress messages go to stderr, and they differ between runs and machines
(library deprecations, PyTensor's compile messages), so the course does not
compare stderr: a notebook's story lives in its stdout, results and plots.
"""

import os

from lmmteach.progress import ENV_VAR

# nbval's kernels inherit this environment: no progress bars in compared outputs
os.environ.setdefault(ENV_VAR, "0")

try:
    from nbval.plugin import IPyNbCell
except ImportError:  # nbval not installed: unit tests still run
    IPyNbCell = None

if IPyNbCell is not None:
    _compare_outputs = IPyNbCell.compare_outputs

    def _without_stderr(outputs):
        return [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]

    def compare_outputs(self, test, ref, skip_compare=None):
        return _compare_outputs(self, _without_stderr(test), _without_stderr(ref), skip_compare)

    IPyNbCell.compare_outputs = compare_outputs
