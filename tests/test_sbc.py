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
