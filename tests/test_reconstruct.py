"""The reconstructed ciproxifan data have the published design and reproduce Listings 1 and 4."""

import warnings

import numpy as np
import pytest
import statsmodels.formula.api as smf
from scipy.optimize import minimize_scalar

from lmmteach import reconstruct
from lmmteach.tools import make_data
from lmmteach.data import DATA_DIR, load_ciproxifan


@pytest.fixture(scope="module")
def df():
    return load_ciproxifan()


def test_generator_regenerates_the_shipped_csv_byte_for_byte():
    text = reconstruct.to_csv_text(reconstruct.reconstruct_ciproxifan())
    assert text == (DATA_DIR / "ciproxifan.csv").read_text()


def test_another_seed_gives_other_data_with_the_same_published_fits():
    other = reconstruct.reconstruct_ciproxifan(seed=7)
    assert not np.allclose(other["WAKE"], load_ciproxifan()["WAKE"])
    fit = smf.ols("WAKE ~ Treatment * Genotype", other.assign(Genotype=other["Genotype"].map({"wt": 0, "ko": 1}))).fit()
    estimates = fit.params[["Intercept", "Treatment", "Genotype", "Treatment:Genotype"]]
    np.testing.assert_allclose(estimates, reconstruct.OLS_ESTIMATES, atol=5e-5)


def test_published_design(df):
    assert len(df) == 33 and df["id"].nunique() == 18
    doses = df.pivot(index="id", columns="part", values="Treatment")
    genotype = df.groupby("id", observed=True)["Genotype"].first()
    combos = doses[1].astype(int).astype(str) + "+" + doses[2].map(lambda d: "NA" if np.isnan(d) else str(int(d)))
    counts = combos.groupby([combos, genotype]).size().to_dict()
    assert counts == {
        ("0+3", "wt"): 4, ("0+3", "ko"): 2,
        ("10+3", "wt"): 1, ("10+3", "ko"): 2,
        ("10+0", "wt"): 3, ("10+0", "ko"): 3,
        ("0+NA", "ko"): 2,
        ("10+NA", "wt"): 1,
    }
    assert set(df.loc[df["part"] == 1, "Treatment"]) == {0.0, 10.0}
    assert set(df.loc[df["part"] == 2, "Treatment"]) == {0.0, 3.0}


def test_ols_reproduces_listing_1(df):
    fit = smf.ols("WAKE ~ Treatment * Genotype", df).fit()
    names = ["Intercept", "Treatment", "Genotype[T.ko]", "Treatment:Genotype[T.ko]"]
    assert fit.params[names].round(4).tolist() == [44.5675, 2.9591, -0.5100, -0.0925]
    assert fit.bse[names].round(4).tolist() == [2.7044, 0.4776, 3.8697, 0.6759]
    assert fit.tvalues[names].round(3).tolist() == [16.480, 6.195, -0.132, -0.137]
    assert [f"{p:.2e}" for p in fit.pvalues[names][:2]] == ["2.90e-16", "9.33e-07"]
    assert fit.pvalues[names][2:].round(3).tolist() == [0.896, 0.892]
    assert round(np.sqrt(fit.scale), 3) == 8.224 and fit.df_resid == 29
    assert round(fit.rsquared, 4) == 0.7195
    assert round(fit.rsquared_adj, 4) == 0.6905
    assert round(fit.fvalue, 2) == 24.79
    assert f"{fit.f_pvalue:.3e}" == "3.745e-08"


def _reml_fit(df):
    model = smf.mixedlm("WAKE ~ Treatment * Genotype", df, groups=df["id"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True, method="bfgs", gtol=1e-10)


def test_reml_reproduces_listing_4(df):
    fit = _reml_fit(df)
    names = ["Intercept", "Treatment", "Genotype[T.ko]", "Treatment:Genotype[T.ko]"]
    assert fit.converged
    assert fit.fe_params[names].round(4).tolist() == [44.1194, 3.0834, -0.3840, -0.1707]
    assert round(float(fit.cov_re.iloc[0, 0]), 3) == 9.926
    assert round(fit.scale, 3) == 58.145
    assert round(-2 * fit.llf, 1) == 221.3  # lme4's "REML criterion at convergence"


def test_reml_standard_errors_match_listing_4(df):
    """lme4's standard errors are sqrt(diag((X' V^-1 X)^-1)) at the REML variances."""
    X = np.column_stack([np.ones(33), df["Treatment"], df["Genotype"] == "ko", df["Treatment"] * (df["Genotype"] == "ko")]).astype(float)
    Z = (df["id"].to_numpy()[:, None] == df["id"].cat.categories.to_numpy()[None, :]).astype(float)
    V = 58.145 * np.eye(33) + 9.926 * Z @ Z.T
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ np.linalg.solve(V, X))))
    assert se.round(4).tolist() == [2.7813, 0.4606, 3.9456, 0.6499]


def test_published_variances_are_the_global_reml_optimum(df):
    """Profile the REML criterion over the variance ratio: one minimum, at 9.926 / 58.145."""
    X = np.column_stack([np.ones(33), df["Treatment"], df["Genotype"] == "ko", df["Treatment"] * (df["Genotype"] == "ko")]).astype(float)
    Z = (df["id"].to_numpy()[:, None] == df["id"].cat.categories.to_numpy()[None, :]).astype(float)
    y = df["WAKE"].to_numpy()
    n, p = X.shape

    def criterion(ratio):
        H = np.eye(n) + ratio * Z @ Z.T
        HX = np.linalg.solve(H, X)
        beta = np.linalg.solve(X.T @ HX, HX.T @ y)
        resid = y - X @ beta
        sigma2 = resid @ np.linalg.solve(H, resid) / (n - p)
        return np.linalg.slogdet(H)[1] + np.linalg.slogdet(X.T @ HX)[1] + (n - p) * (1 + np.log(2 * np.pi * sigma2))

    grid = np.linspace(0, 5, 501)
    values = np.array([criterion(r) for r in grid])
    assert np.all(np.diff(np.sign(np.diff(values))) >= 0)  # decreasing, then increasing: unimodal
    best = minimize_scalar(criterion, bounds=(0.01, 2), method="bounded", options={"xatol": 1e-10})
    assert best.x == pytest.approx(9.926 / 58.145, rel=1e-4)
    assert best.fun == pytest.approx(221.2836, abs=1e-4)


def test_check_command_reports_identical(capsys):
    assert make_data.main(["--check"]) == 0
    assert "identical" in capsys.readouterr().out
