"""lmmteach: the helper package of lmm-course.

The package root holds what the lessons import, one idea per module, in the
order the course meets them (CONTRIBUTING.md has the full map):

* ``data`` -- the course's data sets, validated; ``ciproxifan`` -- the study's
  design and names; ``reconstruct`` -- how its data were rebuilt;
* ``formulas`` -- formula + frame -> checked design; ``ols`` -- least squares;
  ``plots`` -- static figures; ``pooling`` -- complete, no and partial pooling;
* ``reml`` -- linear mixed models by ML and REML from scratch (lme4's method);
  ``inference`` -- p-values, F tests, LRTs and intervals for its fits (lmerTest,
  pbkrtest, lme4's confint); ``batched`` -- one random-intercept design refitted
  to many responses at once; ``power`` -- power by simulation;
* ``models`` -- the course's PyMC and Bambi models; ``crossval`` -- PSIS-LOO,
  exact refits and K-fold CV; ``tables`` -- Table 1 and the prediction table;
* ``gibbs`` -- the Gibbs sampler of lessons 9-10 (a package); ``sbc`` --
  simulation-based calibration; ``explorers`` -- the interactive widgets;
* ``exercises`` -- self-checking exercise questions (a package);
  ``versions`` -- the watermark cell at the end of every notebook; ``checks``
  -- the argument checks the modules share.

``lmmteach.tools`` holds what lessons never import: the notebook runner, the
exercise generator, the grader and the data rebuild command.
"""

import warnings as _warnings

__version__ = "0.1.0"

# PyTensor warns, the first time it compiles, that a pip-installed stack has no
# BLAS library to link against; it then uses NumPy's C-API BLAS. For the small
# models of this course the speed difference is negligible, so the
# warning is silenced deliberately rather than sent to students' screens.
_warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS", category=UserWarning)
