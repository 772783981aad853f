"""The Gibbs sampler of lessons 9 and 10, the note it corrects, and the checks that hold it to account.

* ``sampler`` -- the engine: :func:`sample` (one data set), :func:`sample_many`
  (one chain per data set, for SBC), the table of variants (corrected and as
  published) and the closed-form X conditional each variant uses;
* ``note`` -- the Gibbs note's eight scenarios, simulator, seed, default prior
  and starting values;
* ``exact`` -- the exact posterior of the variances on a grid, and the X
  conditional by brute-force normalisation;
* ``pymc`` -- the same model in PyMC, for NUTS;
* ``comparison`` -- do two samplers agree, and effective draws per second;
* ``checks`` -- the input checks they share.

Lessons use the names re-exported here: ``from lmmteach import gibbs; gibbs.sample(...)``.
"""

from lmmteach.gibbs.comparison import agreement, ess_per_second
from lmmteach.gibbs.exact import grid_posterior, log_marginal_posterior, x_conditional_numeric
from lmmteach.gibbs.note import DEFAULT_PRIOR, SCENARIOS, SEED, Scenario, initial_values, scenario_table, simulate
from lmmteach.gibbs.pymc import pymc_model
from lmmteach.gibbs.sampler import VARIANTS, Variant, sample, sample_many, x_conditional

__all__ = [
    "sample", "sample_many", "x_conditional", "Variant", "VARIANTS",
    "SEED", "DEFAULT_PRIOR", "Scenario", "SCENARIOS", "scenario_table", "simulate", "initial_values",
    "log_marginal_posterior", "grid_posterior", "x_conditional_numeric",
    "pymc_model", "agreement", "ess_per_second",
]
