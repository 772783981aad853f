"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman, 2018) for the Gibbs samplers.

The idea: draw parameters from the prior, simulate a data set from them, run
the sampler on that data set, and record the rank of the true value among L
(thinned, nearly independent) posterior draws. If the sampler draws from the
right posterior, the true value is just one more draw from it, so its rank is
uniform on 0..L whatever the prior. A sampler that is too wide gives ranks
piled in the middle, one that is too narrow piles them at both ends, one that
is biased piles them at one end.

All simulated data sets run at once: :func:`lmmteach.gibbs.sample_many` runs
one chain per data set, so a calibration study takes a fraction of a second.
The rank histograms are drawn by :func:`lmmteach.plots.rank_histograms`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from lmmteach.gibbs.checks import check_prior
from lmmteach.gibbs.sampler import sample_many

__all__ = ["PARAMETERS", "SBCResult", "simulate_datasets", "run", "uniformity_test"]

PARAMETERS = ("sigma2_x", "sigma2_e")


@dataclass
class SBCResult:
    """Ranks of the true values (one row per simulated data set) and the settings that produced them."""

    ranks: pd.DataFrame
    truth: pd.DataFrame
    L: int
    variant: str
    settings: dict = field(default_factory=dict)

    def uniformity(self, bins: int = 20) -> pd.DataFrame:
        """Chi-square test of uniform ranks for each parameter: statistic, degrees of freedom, p-value."""
        return uniformity_test(self.ranks, self.L, bins=bins)


def simulate_datasets(n_sims: int, n: int, m: int, prior_x, prior_e, rng) -> tuple[np.ndarray, pd.DataFrame]:
    """Prior draws of (sigma2_x, sigma2_e) and, for each, a data set W (shape n_sims x n x m) with mu = 0."""
    sigma2_x = stats.invgamma(prior_x[0], scale=prior_x[1]).rvs(n_sims, random_state=rng)
    sigma2_e = stats.invgamma(prior_e[0], scale=prior_e[1]).rvs(n_sims, random_state=rng)
    X = rng.standard_normal((n_sims, n)) * np.sqrt(sigma2_x)[:, None]
    E = rng.standard_normal((n_sims, n, m)) * np.sqrt(sigma2_e)[:, None, None]
    truth = pd.DataFrame({"sigma2_x": sigma2_x, "sigma2_e": sigma2_e})
    return X[:, :, None] + E, truth


def run(variant: str = "corrected", *, n_sims: int = 500, n: int = 10, m: int = 2,
        prior_x=(3.0, 6.0), prior_e=(3.0, 4.0), L: int = 99, thin: int = 5, burn: int = 200,
        seed: int = 0) -> SBCResult:
    """Calibrate the sampler ``variant``: ranks of the true variances among L posterior draws, per data set.

    Priors are inverse-gamma (shape, rate), proper, so that they can be drawn
    from. Each data set's chain starts at the note's initial values, runs
    ``burn`` iterations and keeps every ``thin``-th of the next ``L * thin``.
    """
    for name, value, low in (("n_sims", n_sims, 2), ("n", n, 2), ("m", m, 2), ("L", L, 1), ("thin", thin, 1), ("burn", burn, 0)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    prior_x = check_prior(prior_x, "prior_x")   # checked before the prior is drawn from
    prior_e = check_prior(prior_e, "prior_e")

    rng = np.random.default_rng(seed)
    W, truth = simulate_datasets(n_sims, n, m, prior_x, prior_e, rng)
    out = sample_many(W, draws=burn + L * thin, burn=burn, thin=thin, seed=rng, prior_x=prior_x, prior_e=prior_e,
                      variant=variant)
    ranks = pd.DataFrame({p: (out[p] < truth[p].to_numpy()[:, None]).sum(axis=1) for p in PARAMETERS})
    settings = dict(n_sims=n_sims, n=n, m=m, prior_x=prior_x, prior_e=prior_e, thin=thin, burn=burn, seed=seed)
    return SBCResult(ranks=ranks, truth=truth, L=L, variant=variant, settings=settings)


def uniformity_test(ranks: pd.DataFrame, L: int, bins: int = 20) -> pd.DataFrame:
    """Pearson chi-square test that ranks in 0..L are uniform, after grouping them into ``bins`` equal bins."""
    if (L + 1) % bins:
        raise ValueError(f"bins ({bins}) must divide the number of possible ranks L + 1 = {L + 1}")
    rows = []
    for name in ranks.columns:
        r = ranks[name].to_numpy()
        if r.min() < 0 or r.max() > L:
            raise ValueError(f"ranks of {name} must lie in 0..{L}")
        counts = np.bincount(r * bins // (L + 1), minlength=bins)
        chi2, p = stats.chisquare(counts)
        rows.append({"parameter": name, "chi2": float(chi2), "df": bins - 1, "p_value": float(p)})
    return pd.DataFrame(rows).set_index("parameter")

