"""lmmteach.power: simulated power against the non-central t answer, the design builder, clear errors."""

import numpy as np
import pytest

from lmmteach import power

BETWEEN = {"group": ["a", "b"]}
FORMULA = "y ~ group + (1 | subject)"


def analytic(subjects, recordings, effect, sd, sigma):
    """Balanced two-group design: the group difference has se^2 = 2 (sd^2 + sigma^2 / r) / s on 2s - 2 df."""
    se = np.sqrt(2 * (sd**2 + sigma**2 / recordings) / subjects)
    return power.t_power(effect, se, 2 * subjects - 2)


def test_design_is_balanced_and_categorical():
    data = power.design(3, 2, between={"Genotype": ["wt", "ko"]}, within={"Treatment": [0, 3, 10]}, response="WAKE")
    assert len(data) == 2 * 3 * 3 * 2
    assert data["subject"].nunique() == 6
    assert list(data["Genotype"].cat.categories) == ["wt", "ko"]  # the first level stays the reference
    assert data["Treatment"].dtype.kind == "f" or data["Treatment"].dtype.kind == "i"
    assert (data.groupby("subject", observed=True).size() == 6).all()
    assert data["WAKE"].nunique() > 1  # a placeholder a model can be built on; simulations replace it


@pytest.mark.parametrize("subjects, recordings, seed", [(6, 2, 1), (10, 4, 2)])
def test_simulated_power_agrees_with_the_noncentral_t(subjects, recordings, seed):
    effect, sd, sigma, n = 1.8, 1.2, 2.0, 1500
    result = power.simulate(FORMULA, power.design(subjects, recordings, between=BETWEEN), "group[b]",
                            beta={"group[b]": effect}, sd=sd, sigma=sigma, n=n, seed=seed)
    expected = analytic(subjects, recordings, effect, sd, sigma)
    assert abs(result.power - expected) < 4 * np.sqrt(expected * (1 - expected) / n)
    assert result.lower <= result.power <= result.upper


def test_without_an_effect_the_rejection_rate_is_alpha():
    result = power.simulate(FORMULA, power.design(8, 3, between=BETWEEN), "group[b]", beta={}, sd=1.0, sigma=1.0,
                            n=2000, seed=5)
    assert abs(result.power - 0.05) < 4 * np.sqrt(0.05 * 0.95 / 2000)


def test_wald_z_rejects_too_often_with_few_subjects():
    common = dict(beta={}, sd=2.0, sigma=1.0, n=2000, seed=7)
    data = power.design(4, 2, between=BETWEEN)
    wald = power.simulate(FORMULA, data, "group[b]", ddf="wald", **common)
    satterthwaite = power.simulate(FORMULA, data, "group[b]", **common)
    assert wald.power > 0.08 > satterthwaite.power  # 8 subjects: the normal reference is anti-conservative


def test_curve_rows_and_growth():
    table = power.curve(FORMULA, "group[b]", beta={"group[b]": 1.5}, sd=1.0, sigma=1.0, subjects=[3, 15],
                        recordings=[2, 3], between=BETWEEN, n=400, seed=3)
    assert list(table.columns) == ["subjects", "recordings", "observations", "power", "lower", "upper"]
    assert len(table) == 4
    assert table["observations"].tolist() == [12, 18, 60, 90]
    small = table.query("subjects == 3 and recordings == 2")["power"].item()
    large = table.query("subjects == 15 and recordings == 3")["power"].item()
    assert large > small + 0.3


def test_values_from_a_fit_round_trip():
    from lmmteach import reml
    from lmmteach.data import load_ciproxifan

    fit = reml.fit("WAKE ~ Treatment * Genotype + (1 | id)", load_ciproxifan())
    values = power.values_from(fit)
    assert values["beta"]["Treatment"] == pytest.approx(fit.fe_params["Treatment"])
    assert values["sd"]["id"] ** 2 == pytest.approx(fit.var_components["vcov"].iloc[0])
    assert values["sigma"] == pytest.approx(fit.sigma)


def test_one_recording_per_subject_is_refused_clearly():
    """With one observation per subject a random intercept is not identified (lme4 refuses it too)."""
    with pytest.raises(ValueError, match="levels for 6 observations"):
        power.curve(FORMULA, "group[b]", beta={"group[b]": 1.5}, sd=1.0, sigma=1.0, subjects=[3], recordings=[1],
                    between=BETWEEN, n=10, seed=3)


def test_clear_errors():
    data = power.design(4, 2, between=BETWEEN)
    with pytest.raises(ValueError, match="positive whole number"):
        power.simulate(FORMULA, data, "group[b]", beta={}, sd=1, sigma=1, n=0)
    with pytest.raises(ValueError, match="not a fixed effect"):
        power.simulate(FORMULA, data, "dose", beta={}, sd=1, sigma=1, n=10)
    with pytest.raises(ValueError, match="not fixed effects"):
        power.simulate(FORMULA, data, "group[b]", beta={"dose": 1}, sd=1, sigma=1, n=10)
    with pytest.raises(ValueError, match="one weight per fixed effect"):
        power.simulate(FORMULA, data, [0, 1, 0], beta={}, sd=1, sigma=1, n=10)
    with pytest.raises(ValueError, match="sigma"):
        power.simulate(FORMULA, data, "group[b]", beta={}, sd=1, sigma=0, n=10)
    with pytest.raises(ValueError, match="subjects must be"):
        power.design(0, 2)
