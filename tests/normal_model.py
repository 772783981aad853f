"""A model whose leave-one-out predictive distribution is known exactly, for the cross-validation tests.

y_i ~ Normal(mu, 1) with a flat prior on mu, so mu | y ~ Normal(mean(y), 1/n)
and y_i | y_-i ~ Normal(mean(y_-i), 1 + 1/(n-1)). "Fitting" draws from that
posterior, so the tests are fast and exact up to Monte Carlo error, which we
control with the number of draws.
"""

import arviz as az
import numpy as np
import pandas as pd
from scipy.stats import norm

S = 20_000  # posterior draws: Monte Carlo SE of a pointwise elpd ~ 1e-3


def small_frame() -> pd.DataFrame:
    """12 rows of y ~ Normal(3, 1) in six groups of two."""
    y = np.random.default_rng(0).normal(3.0, 1.0, size=12)
    return pd.DataFrame({"y": y, "g": pd.Categorical(np.repeat(list("abcdef"), 2))})


def fit_normal(train, seed=1):
    y = train["y"].to_numpy()
    rng = np.random.default_rng(seed)
    return rng.normal(y.mean(), 1 / np.sqrt(len(y)), size=S)


def log_lik_normal(mu_draws, test):
    return norm.logpdf(test["y"].to_numpy()[None, :], mu_draws[:, None], 1.0)


def exact_loo_normal(y):
    n = len(y)
    loo_means = (y.sum() - y) / (n - 1)
    return norm.logpdf(y, loo_means, np.sqrt(1 + 1 / (n - 1)))


def idata_normal(y, seed=2, chains=4, draws=1000):
    rng = np.random.default_rng(seed)
    mu = rng.normal(y.mean(), 1 / np.sqrt(len(y)), size=(chains, draws))
    ll = norm.logpdf(y[None, None, :], mu[..., None], 1.0)
    return az.from_dict(posterior={"mu": mu}, log_likelihood={"y": ll})
