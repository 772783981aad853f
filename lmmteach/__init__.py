"""lmmteach: the helper package of lmm-course.

One idea per module: ``data`` (the course's data sets), ``reconstruct`` (how
the ciproxifan data were rebuilt from published summaries), ``versions`` (the
watermark cell), ``notebooks`` (re-executing notebooks in place).
"""

__version__ = "0.1.0"
