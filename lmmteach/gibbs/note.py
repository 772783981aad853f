"""The Gibbs note's set-up: its eight scenarios, its simulator, its seed, prior and starting values.

Lessons 9 and 10 replay the note (seed 003 of the course). Everything the note
fixes -- the seed it sets before every simulation, the vague inverse-gamma
prior (0.1, 1.0), the eight designs and where its chains start -- is defined
here once; the sampler, the exact posterior and the PyMC twin use these values
as their defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["SEED", "DEFAULT_PRIOR", "Scenario", "SCENARIOS", "scenario_table", "simulate", "initial_values"]

SEED = 47403  # the seed the note sets before every simulation
DEFAULT_PRIOR = (0.1, 1.0)  # the note's vague inverse-gamma (shape, rate) prior on both variances


@dataclass(frozen=True)
class Scenario:
    """One simulation of the note: the truth, the sample size and the priors."""

    number: int
    n: int
    sigma2_x: float
    sigma2_e: float
    x_mean: float
    prior_x: tuple[float, float]
    prior_e: tuple[float, float]
    m: int = 2
    seed: int = SEED

    def as_dict(self) -> dict:
        return asdict(self)


SCENARIOS: dict[int, Scenario] = {
    s.number: s
    for s in (
        Scenario(1, 100, 5.0, 3.0, 0.0, DEFAULT_PRIOR, DEFAULT_PRIOR),
        Scenario(2, 100, 100.0, 1.0, 0.0, DEFAULT_PRIOR, DEFAULT_PRIOR),
        Scenario(3, 1000, 100.0, 1.0, 0.0, DEFAULT_PRIOR, DEFAULT_PRIOR),
        Scenario(4, 100, 100.0, 1.0, 0.0, (2.0, 200.0), (2.0, 2.0)),
        Scenario(5, 1000, 100.0, 1.0, 0.0, (2.0, 200.0), (2.0, 2.0)),
        Scenario(6, 100, 1.0, 100.0, 0.0, (2.0, 2.0), (2.0, 200.0)),
        Scenario(7, 100, 1.0, 100.0, 50.0, (2.0, 2.0), (2.0, 200.0)),
        Scenario(8, 100, 1.0, 100.0, 1000.0, (2.0, 2.0), (2.0, 200.0)),
    )
}


def scenario_table() -> pd.DataFrame:
    """The eight scenarios as a table, one row each."""
    rows = [s.as_dict() for s in SCENARIOS.values()]
    return pd.DataFrame(rows).set_index("number")


def simulate(scenario, seed: int | None = None) -> np.ndarray:
    """W (n x m) for a scenario (its number or a :class:`Scenario`), deterministic for a given seed.

    Like the note: first the noise E, then the effects X, then W = X + E. The
    note used R's generator, which NumPy cannot reproduce, so the data are not
    the note's numbers, only its design: NumPy's default generator with the
    note's seed 47403.
    """
    if not isinstance(scenario, Scenario):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; the note has scenarios 1 to 8")
        scenario = SCENARIOS[scenario]
    rng = np.random.default_rng(scenario.seed if seed is None else seed)
    E = rng.normal(0.0, np.sqrt(scenario.sigma2_e), size=(scenario.n, scenario.m))
    X = rng.normal(scenario.x_mean, np.sqrt(scenario.sigma2_x), size=scenario.n)
    return X[:, None] + E


def initial_values(W) -> dict[str, np.ndarray]:
    """The note's starting point: sigma2_e = mean row variance, sigma2_x = variance of the row means, X = row means.

    ``W`` may be one data set (n, m) or a stack (K, n, m); variances use n - 1
    (and m - 1) in the denominator, as R's ``var`` does.
    """
    W = np.asarray(W, dtype=float)
    row_means = W.mean(axis=-1)
    return {
        "sigma2_e": W.var(axis=-1, ddof=1).mean(axis=-1),
        "sigma2_x": row_means.var(axis=-1, ddof=1),
        "X": row_means,
    }
