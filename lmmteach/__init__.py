"""lmmteach: the helper package of lmm-course.

One idea per module:

* ``data`` -- the course's data sets, validated; ``reconstruct`` -- how the
  ciproxifan data were rebuilt from the report's published fits;
* ``formulas`` -- factors coded for formulae the way R codes them;
  ``ols`` -- least squares by the normal equations with an R-style summary;
  ``plots`` -- static figures: R's four regression diagnostics, the shrinkage
  plot, SBC rank histograms; ``pooling`` -- complete, no and partial pooling;
  ``explorers`` -- the ipywidgets explorers (shrinkage, Gibbs);
* ``reml`` -- linear mixed models by ML and REML from scratch (lme4's method);
* ``models`` -- the course's PyMC and Bambi models and a seeded ``sample``;
  ``compare`` -- the course's Table 1, PSIS-LOO, exact refits and K-fold CV;
* ``gibbs`` -- the Gibbs sampler of lessons 9-10 (corrected and as published),
  the note's scenarios, the exact posterior, the PyMC twin (a package);
  ``sbc`` -- simulation-based calibration of the Gibbs sampler;
* ``exercises`` -- self-checking exercise questions; ``grade`` -- the
  instructor's grader; ``make_exercises`` -- exercises generated from solutions;
* ``notebooks`` -- re-executing and timing notebooks; ``versions`` -- the
  watermark cell at the end of every notebook.
"""

import warnings as _warnings

__version__ = "0.1.0"

# PyTensor warns, the first time it compiles, that a pip-installed stack has no
# BLAS library to link against; it then uses NumPy's C-API BLAS. For the small
# models of this course the speed difference is negligible, so the
# warning is silenced deliberately rather than sent to students' screens.
_warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
