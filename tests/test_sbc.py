"""Tests of lmmteach.sbc (and its plot, lmmteach.plots.rank_histograms): the corrected sampler is calibrated, the published one is not."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from lmmteach import plots, sbc


@pytest.fixture(scope="module")
def corrected():
    return sbc.run("corrected", n_sims=400, seed=1)


@pytest.fixture(scope="module")
def published():
    return sbc.run("published", n_sims=400, seed=1)


def test_ranks_are_counts_in_range(corrected):
    assert corrected.ranks.shape == (400, 2)
    assert corrected.ranks.min().min() >= 0 and corrected.ranks.max().max() <= corrected.L
    assert corrected.truth.shape == (400, 2) and (corrected.truth > 0).all().all()


def test_corrected_sampler_passes(corrected):
    table = corrected.uniformity()
    assert (table["p_value"] > 1e-3).all(), table
    # and the ranks are spread over the whole range, not piled up
    assert corrected.ranks["sigma2_e"].between(0, 9).mean() == pytest.approx(0.1, abs=0.05)


def test_published_sampler_fails_visibly(published):
    table = published.uniformity()
    assert (table["p_value"] < 1e-6).all(), table


def test_uniformity_test_detects_piles_and_accepts_flat():
    L = 99
    flat = pd.DataFrame({"a": np.tile(np.arange(L + 1), 5)})
    piled = pd.DataFrame({"a": np.r_[np.zeros(300, int), np.arange(L + 1)]})
    assert sbc.uniformity_test(flat, L).loc["a", "p_value"] == pytest.approx(1.0)
    assert sbc.uniformity_test(piled, L).loc["a", "p_value"] < 1e-10
    with pytest.raises(ValueError, match="bins"):
        sbc.uniformity_test(flat, L, bins=7)
    with pytest.raises(ValueError, match="0..99"):
        sbc.uniformity_test(pd.DataFrame({"a": [0, 100]}), L)


def test_same_seed_same_ranks():
    a = sbc.run("corrected", n_sims=50, seed=3)
    b = sbc.run("corrected", n_sims=50, seed=3)
    pd.testing.assert_frame_equal(a.ranks, b.ranks)


@pytest.mark.parametrize("kwargs,match", [
    (dict(variant="other"), "variant"), (dict(n_sims=1), "n_sims"), (dict(m=1), "m must"),
    (dict(prior_x=(0, 1)), "prior_x"), (dict(thin=0), "thin"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sbc.run(**kwargs)


def test_rank_histograms(corrected):
    axes = plots.rank_histograms(corrected)
    assert len(axes) == 2
    heights = [p.get_height() for p in axes[0].patches if hasattr(p, "get_height")]
    assert sum(heights) >= 400


def test_rank_histogram_band_is_simultaneous():
    """All 20 bins of a uniform histogram stay inside the drawn band at least 95 % of the time."""
    result = sbc.SBCResult(ranks=pd.DataFrame({"a": np.arange(400) % 100}), truth=pd.DataFrame(), L=99, variant="test")
    axes = plots.rank_histograms(result)
    band = [p for p in axes[0].patches if p.get_label().startswith("95%")][0]
    lo, hi = band.get_y(), band.get_y() + band.get_height()
    counts = np.random.default_rng(0).multinomial(400, np.full(20, 1 / 20), size=4000)
    inside = ((counts >= lo) & (counts <= hi)).all(axis=1).mean()
    assert 0.95 <= inside < 0.99


# --- the ECDF test of Säilynoja, Bürkner and Vehtari (2022)

def test_ecdf_difference_of_exactly_uniform_ranks_is_zero():
    ranks = pd.DataFrame({"a": np.tile(np.arange(100), 3)})
    diff = sbc.ecdf_difference(ranks, 99)
    assert diff.shape == (99, 1) and np.allclose(diff["a"], 0.0)


def test_ecdf_band_matches_arviz_optimised_band():
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    z = np.arange(1, 20) / 20
    lower, upper = ecdf_confidence_band(100, z, z, prob=0.95, method="optimized")
    band = sbc.ecdf_band(100, 19, prob=0.95)
    assert np.abs(band["lower"].to_numpy() - (lower - z)).max() <= 0.011   # one count in 100
    assert np.abs(band["upper"].to_numpy() - (upper - z)).max() <= 0.011


def test_ecdf_test_holds_its_level_for_uniform_ranks():
    rng = np.random.default_rng(5)
    ranks = pd.DataFrame({f"r{i}": rng.integers(0, 100, 300) for i in range(400)})
    table = sbc.ecdf_test(ranks, 99)
    assert table["inside band"].mean() == pytest.approx(0.95, abs=0.03)
    assert (table["p_value"] < 0.05).mean() == pytest.approx(0.05, abs=0.03)


def test_ecdf_test_passes_corrected_and_rejects_published(corrected, published):
    assert corrected.ecdf_test()["p_value"].min() > 1e-3
    table = published.ecdf_test()
    assert not table["inside band"].any() and (table["p_value"] < 1e-3).all()


def test_ecdf_bad_input():
    with pytest.raises(ValueError, match="0..9"):
        sbc.ecdf_difference(pd.DataFrame({"a": [0, 10]}), 9)
    with pytest.raises(ValueError, match="integers"):
        sbc.ecdf_test(pd.DataFrame({"a": [0.5, 1.0]}), 9)
    with pytest.raises(ValueError, match="prob"):
        sbc.ecdf_band(100, 9, prob=1.5)


def test_sbc_ecdf_difference_plot(corrected):
    axes = plots.sbc_ecdf_difference(corrected)
    assert len(axes) == 2 and axes[0].get_ylabel() == "F(z) - z"
    assert len(axes[0].collections) == 1 and len(axes[0].lines) == 2   # the band; the zero line and the curve
