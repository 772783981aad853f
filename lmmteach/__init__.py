"""lmmteach: the helper package of lmm-course.

One idea per module: ``data`` (the course's data sets), ``reconstruct`` (how
the ciproxifan data were rebuilt from published summaries), ``versions`` (the
watermark cell), ``notebooks`` (re-executing notebooks in place).
"""

import warnings as _warnings

__version__ = "0.1.0"

# PyTensor warns, the first time it compiles, that a pip-installed stack has no
# BLAS library to link against; it then uses NumPy's C-API BLAS. For the small
# models of this course the speed difference is negligible, so the
# warning is silenced deliberately rather than sent to students' screens.
_warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
