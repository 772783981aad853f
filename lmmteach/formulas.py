"""Give formulae (Bambi's formula engine) factors coded the way R codes them.

formulae sorts the levels of an unordered pandas ``category`` alphabetically, so
in ``WAKE ~ Genotype`` the knockout ``ko`` would become the reference level and
``wt`` the coefficient -- the opposite of the data's declared order and of R.
Marking the column *ordered* makes formulae keep the declared order, so the first
category is the reference, as in R's treatment contrasts.
"""

from __future__ import annotations

import pandas as pd


def keep_level_order(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose categorical columns keep their level order in formulae.

    Unused levels are dropped as well: they would otherwise become all-zero columns.
    """
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype) and not column.cat.ordered:
            frame[name] = column.cat.remove_unused_categories().cat.as_ordered()
    return frame
