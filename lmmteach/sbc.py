"""Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman, 2018) for the Gibbs samplers.

The idea: draw parameters from the prior, simulate a data set from them, run
the sampler on that data set, and record the rank of the true value among L
(thinned, nearly independent) posterior draws. If the sampler draws from the
right posterior, the true value is just one more draw from it, so its rank is
uniform on 0..L whatever the prior. A sampler that is too wide gives ranks
piled in the middle, one that is too narrow piles them at both ends, one that
is biased piles them at one end.

All simulated data sets run at once: :func:`lmmteach.gibbs._run` treats each
as its own chain, so a calibration study takes a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from lmmteach import gibbs

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
    if variant not in gibbs.VARIANTS:
        raise ValueError(f"variant must be one of {gibbs.VARIANTS}, got {variant!r}")
    for name, value, low in (("n_sims", n_sims, 2), ("n", n, 2), ("m", m, 2), ("L", L, 1), ("thin", thin, 1), ("burn", burn, 0)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    prior_x = gibbs._check_prior(prior_x, "prior_x")
    prior_e = gibbs._check_prior(prior_e, "prior_e")

    rng = np.random.default_rng(seed)
    W, truth = simulate_datasets(n_sims, n, m, prior_x, prior_e, rng)
    init = gibbs.initial_values(W)
    out = gibbs._run(W, draws=burn + L * thin, burn=burn, thin=thin, prior_x=prior_x, prior_e=prior_e,
                     mean=None, variant=variant, rng=rng, keep_x=False,
                     init_sigma2_x=np.maximum(init["sigma2_x"], 1e-8),
                     init_sigma2_e=np.maximum(init["sigma2_e"], 1e-8))
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


def plot_ranks(result: SBCResult, bins: int = 20, axes=None, color="C0"):
    """Rank histograms, one panel per parameter, with the 99 % band of counts expected under uniformity."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(result.ranks.columns), figsize=(4 * len(result.ranks.columns), 3), sharey=True)
    axes = np.atleast_1d(axes)
    n_sims = len(result.ranks)
    lo, hi = stats.binom(n_sims, 1 / bins).ppf([0.005, 0.995])
    edges = np.linspace(0, result.L + 1, bins + 1)
    for ax, name in zip(axes, result.ranks.columns):
        ax.axhspan(lo, hi, color="0.85", label="99 % band if uniform")
        ax.axhline(n_sims / bins, color="0.5", lw=1)
        ax.hist(result.ranks[name], bins=edges, color=color, edgecolor="white")
        ax.set_title(f"{name} ({result.variant})")
        ax.set_xlabel(f"rank of the true value among {result.L} draws")
    axes[0].set_ylabel("data sets")
    axes[0].legend(loc="upper center", fontsize=8)
    return axes
