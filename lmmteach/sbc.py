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

Testing uniformity. :func:`ecdf_test` follows Säilynoja, Bürkner and Vehtari
(2022, "Graphical test for discrete uniformity and its applications in
goodness-of-fit evaluation and multiple sample comparison"): at z_k = k/(L+1)
the share of ranks below k, F(z_k), is Binomial(N, z_k)/N when the ranks are
uniform. The statistic is the smallest two-sided binomial tail probability
over all k; its null distribution is simulated (seeded), which gives a
p-value and a **simultaneous** band: a uniform rank ECDF stays inside the
whole band with probability ``prob``. A band drawn per bin or per point is
not a test: 500 uniform ranks in 20 bins leave a 95 % per-bin band somewhere
more than half the time (a 99 % one about 13 % of the time). :func:`uniformity_test` (Pearson's
chi-square on binned ranks) is a valid test too, blind to where the bins lie.
The figures are :func:`lmmteach.plots.sbc_ecdf_difference` and
:func:`lmmteach.plots.rank_histograms`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from lmmteach.gibbs.checks import check_prior
from lmmteach.gibbs.sampler import sample_many

__all__ = ["PARAMETERS", "SBCResult", "simulate_datasets", "run", "uniformity_test",
           "ecdf_difference", "ecdf_band", "ecdf_test"]

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

    def ecdf_test(self, prob: float = 0.95) -> pd.DataFrame:
        """Simultaneous ECDF test of uniform ranks for each parameter (see :func:`ecdf_test`)."""
        return ecdf_test(self.ranks, self.L, prob=prob)


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
    No progress bar: all chains run in one vectorised call (:func:`lmmteach.gibbs.sample_many`),
    about a second for the default 500 data sets, below the few seconds after which the course shows progress.
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



def _check_ranks(ranks: pd.DataFrame, L: int) -> None:
    """Integer ranks in 0..L, at least two per column."""
    if not isinstance(L, (int, np.integer)) or L < 1:
        raise ValueError(f"L must be a positive integer, got {L!r}")
    if len(ranks) < 2:
        raise ValueError("need the ranks of at least two simulated data sets")
    for name in ranks.columns:
        r = ranks[name].to_numpy()
        if not np.issubdtype(r.dtype, np.integer) or r.min() < 0 or r.max() > L:
            raise ValueError(f"ranks of {name} must be integers in 0..{L}")


def ecdf_difference(ranks: pd.DataFrame, L: int) -> pd.DataFrame:
    """F(z_k) - z_k at z_k = k/(L+1), k = 1..L, for each parameter; F(z_k) is the share of ranks below k."""
    _check_ranks(ranks, L)
    k = np.arange(1, L + 1)
    diff = {name: (ranks[name].to_numpy()[None, :] < k[:, None]).mean(axis=1) - k / (L + 1) for name in ranks}
    return pd.DataFrame(diff, index=pd.Index(k / (L + 1), name="z"))


def _smallest_tail(counts: np.ndarray, n_sims: int, z: np.ndarray) -> np.ndarray:
    """For counts (..., L) of ranks below each k: the smallest two-sided binomial tail probability over k."""
    lower = stats.binom.cdf(counts, n_sims, z)
    upper = stats.binom.sf(counts - 1, n_sims, z)
    return np.minimum(lower, upper).min(axis=-1)


@functools.lru_cache(maxsize=16)
def _null_smallest_tails(n_sims: int, L: int, n_null: int, seed: int) -> np.ndarray:
    """The statistic of :func:`ecdf_test` for ``n_null`` sets of ``n_sims`` uniform ranks in 0..L (seeded)."""
    rng = np.random.default_rng(seed)
    cells = rng.multinomial(n_sims, np.full(L + 1, 1 / (L + 1)), size=n_null)
    counts = np.cumsum(cells, axis=1)[:, :-1]
    tails = _smallest_tail(counts, n_sims, np.arange(1, L + 1) / (L + 1))
    tails.flags.writeable = False
    return tails


def _check_prob(prob: float) -> float:
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {prob!r}")
    return float(prob)


def ecdf_band(n_sims: int, L: int, prob: float = 0.95, n_null: int = 4000, seed: int = 0) -> pd.DataFrame:
    """The simultaneous ``prob`` band for F(z_k) - z_k when ``n_sims`` ranks in 0..L are uniform.

    A uniform rank ECDF stays inside the whole band (every k at once) with
    probability ``prob``, up to the Monte Carlo error of ``n_null`` simulations.
    """
    prob = _check_prob(prob)
    gamma = np.quantile(_null_smallest_tails(n_sims, L, n_null, seed), 1 - prob)
    z = np.arange(1, L + 1) / (L + 1)
    c = np.arange(n_sims + 1)[None, :]
    inside = (stats.binom.cdf(c, n_sims, z[:, None]) > gamma) & (stats.binom.sf(c - 1, n_sims, z[:, None]) > gamma)
    lower = inside.argmax(axis=1)
    upper = n_sims - inside[:, ::-1].argmax(axis=1)
    return pd.DataFrame({"lower": lower / n_sims - z, "upper": upper / n_sims - z}, index=pd.Index(z, name="z"))


def ecdf_test(ranks: pd.DataFrame, L: int, prob: float = 0.95, n_null: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Säilynoja et al.'s test of uniform ranks, per parameter.

    Columns: the largest |F(z_k) - z_k|; ``inside band`` (the whole ECDF
    difference lies inside the simultaneous ``prob`` band of :func:`ecdf_band`,
    i.e. the test does not reject at level 1 - prob); and the p-value, the
    share of ``n_null`` simulated uniform rank sets whose smallest tail
    probability is at most ours (never below 1 / (n_null + 1)).
    """
    _check_ranks(ranks, L)
    prob = _check_prob(prob)
    n_sims = len(ranks)
    null = _null_smallest_tails(n_sims, L, n_null, seed)
    gamma = np.quantile(null, 1 - prob)
    k = np.arange(1, L + 1)
    diff = ecdf_difference(ranks, L)
    rows = []
    for name in ranks.columns:
        counts = (ranks[name].to_numpy()[None, :] < k[:, None]).sum(axis=1)
        tail = float(_smallest_tail(counts, n_sims, k / (L + 1)))
        rows.append({"parameter": name, "max |F - z|": float(diff[name].abs().max()),
                     "inside band": bool(tail > gamma), "p_value": (1 + int((null <= tail).sum())) / (n_null + 1)})
    return pd.DataFrame(rows).set_index("parameter")
