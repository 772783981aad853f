"""A Gibbs sampler for the variance-components model W_ij = X_i + E_ij.

    W_ij = X_i + E_ij,   i = 1..n,  j = 1..m
    X_i ~ Normal(mu, sigma2_x),   E_ij ~ Normal(0, sigma2_e)
    sigma2_x ~ InverseGamma(a_x, b_x),   sigma2_e ~ InverseGamma(a_e, b_e)
    mu = 0 (the note's model), or mu with a flat or a normal prior.

Two variants share one engine:

``"corrected"``
    the exact full conditionals; X_i | rest has precision 1/sigma2_x + m/sigma2_e.
``"published"``
    the sampler of the Gibbs note (seed 003 of the course) reproduced as
    written: X_i | rest gets precision m/sigma2_x + 1/sigma2_e (the two
    precisions swapped), mean (sum_j W_ij / sigma2_e) / precision, the note's
    initial values and its inverse-gamma updates.

Why it is fast. Given the variances, the n conditionals of X_i are independent
normals, and the variance updates see X only through three sums (sum X_i,
sum X_i^2 and sum_i X_i * sum_j W_ij). Writing X_i = a_i + s * z_i with
standard-normal z_i, each sum is a cheap function of the scalars of the current
iteration and of sums of z that can be computed for a whole block of
iterations at once. So the Markov chain itself runs on a handful of scalars per
iteration, and every stored draw of X is rebuilt afterwards in one vectorised
step. The chain has exactly the distribution of the textbook algorithm (only the
order in which random numbers are used differs).

Many chains (or many simulated data sets, see :mod:`lmmteach.sbc`) run
together: every state variable is an array with one entry per chain.

Drawing the standard normals z is most of the work when every draw of X is
stored (10 million numbers for 10,000 iterations of n = 1,000). They are drawn
by two generators, each filling a fixed half of every block, in two threads
(NumPy releases the GIL while it fills an array): the result is the same
whatever the threads' timing, and it is twice as fast on two cores.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import arviz as az
import numpy as np
import pandas as pd

VARIANTS = ("corrected", "published")
SEED = 47403  # the seed the note sets before every simulation

# ----------------------------------------------------------------------------
# input checks


def _check_prior(prior, name: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (shape, rate) of positive numbers, got {prior!r}") from None
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        raise ValueError(f"{name} must have a positive shape and a positive rate, got ({a}, {b})")
    return a, b


def _check_mean(mean):
    """None (mu = 0), 'flat', or (m0, s0) for a Normal(m0, s0^2) prior on mu."""
    if mean is None or (isinstance(mean, str) and mean == "flat"):
        return mean
    if isinstance(mean, str):
        raise ValueError(f"mean must be None, 'flat' or a pair (m0, s0); got {mean!r}")
    try:
        m0, s0 = (float(v) for v in mean)
    except (TypeError, ValueError):
        raise ValueError(f"mean must be None, 'flat' or a pair (m0, s0); got {mean!r}") from None
    if not (np.isfinite(m0) and np.isfinite(s0) and s0 > 0):
        raise ValueError(f"the normal prior on mu needs a finite mean and a positive sd, got ({m0}, {s0})")
    return (m0, s0)


def _check_data(W) -> np.ndarray:
    W = np.asarray(W, dtype=float)
    if W.ndim != 2:
        raise ValueError(f"W must be a 2-d array (n observations x m replicates), got {W.ndim} dimension(s)")
    n, m = W.shape
    if m < 2:
        raise ValueError(f"W needs at least two columns (replicates) per row to separate sigma2_x from sigma2_e; got {m}")
    if n < 2:
        raise ValueError(f"W needs at least two rows, got {n}")
    if not np.all(np.isfinite(W)):
        bad = int(np.sum(~np.isfinite(W)))
        raise ValueError(f"W contains {bad} NaN or infinite value(s); remove or impute them first")
    return W


def _check_counts(draws, burn, chains):
    for name, value in (("draws", draws), ("burn", burn), ("chains", chains)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if chains < 1:
        raise ValueError(f"chains must be at least 1, got {chains}")
    if burn < 0:
        raise ValueError(f"burn must be non-negative, got {burn}")
    if draws <= burn:
        raise ValueError(f"draws ({draws}) must be larger than burn ({burn}): draws counts every iteration, burn-in included")


# ----------------------------------------------------------------------------
# the engine


def initial_values(W: np.ndarray) -> dict[str, np.ndarray]:
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


_NORMAL_THREADS = 2
_pool = None


def _fill_standard_normal(out, generators):
    """Fill ``out`` (rows x n) with standard normals: generator g fills its fixed share of the rows."""
    global _pool
    rows = out.shape[0]
    if rows < 2 * len(generators) or out.size < 50_000:  # not worth a thread
        generators[0].standard_normal(out=out)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_NORMAL_THREADS)
    bounds = np.linspace(0, rows, len(generators) + 1).astype(int)
    jobs = [_pool.submit(g.standard_normal, out=out[lo:hi]) for g, lo, hi in zip(generators, bounds[:-1], bounds[1:])]
    for job in jobs:
        job.result()


def _run(Wk, *, draws, burn, prior_x, prior_e, mean, variant, rng, keep_x=True, thin=1,
         init_sigma2_x=None, init_sigma2_e=None, init_mu=None, block=256):
    """Run one chain per data set in ``Wk`` (shape K x n x m). Return kept draws as arrays (K, kept, ...)."""
    K, n, m = Wk.shape
    a_x, b_x = prior_x
    a_e, b_e = prior_e
    published = variant == "published"
    has_mu = mean is not None

    S = Wk.sum(axis=2)                      # row sums, (K, n)
    S_sum = S.sum(axis=1)                   # (K,)
    SS = np.einsum("kn,kn->k", S, S)        # sum of squared row sums
    Q = np.einsum("knm,knm->k", Wk, Wk)     # sum of all squared entries

    sx = np.array(init_sigma2_x, dtype=float).copy()
    se = np.array(init_sigma2_e, dtype=float).copy()
    mu = np.zeros(K) if (init_mu is None or not has_mu) else np.array(init_mu, dtype=float).copy()
    if mean is not None and mean != "flat":
        m0, s0 = mean
        prior_prec_mu = 1.0 / s0**2
    else:
        m0, prior_prec_mu = 0.0, 0.0

    def step(sx, se, mu, zs_t, zz_t, zS_t, gx_t, ge_t, zm_t, S_sum, SS, Q):
        """One Gibbs sweep on the scalars (floats, or arrays with one entry per chain)."""
        # 1. X_i | sigma2_x, sigma2_e, mu, W: independent normals, X_i = c1 * S_i + c2 + sd * z_i
        if published:
            prec = m / sx + 1.0 / se          # the note's precision (swapped)
            c2 = 0.0 * mu
        else:
            prec = 1.0 / sx + m / se          # the correct precision
            c2 = mu / (sx * prec)
        c1 = 1.0 / (se * prec)
        sd = prec ** -0.5
        sum_a2 = c1 * c1 * SS + 2.0 * c1 * c2 * S_sum + n * c2 * c2
        sum_az = c1 * zS_t + c2 * zs_t
        sum_x = c1 * S_sum + n * c2 + sd * zs_t
        sum_x2 = sum_a2 + 2.0 * sd * sum_az + sd * sd * zz_t
        sum_xs = c1 * SS + c2 * S_sum + sd * zS_t
        # 2. sigma2_x | X, mu: inverse gamma
        sx = (b_x + 0.5 * (sum_x2 - 2.0 * mu * sum_x + n * mu * mu)) / gx_t
        # 3. sigma2_e | X, W: inverse gamma; sum_ij (W_ij - X_i)^2 = Q - 2 sum_i X_i S_i + m sum_i X_i^2
        se = (b_e + 0.5 * (Q - 2.0 * sum_xs + m * sum_x2)) / ge_t
        # 4. mu | X, sigma2_x: normal (flat prior when prior_prec_mu = 0)
        if has_mu:
            prec_mu = n / sx + prior_prec_mu
            mu = (sum_x / sx + m0 * prior_prec_mu) / prec_mu + zm_t * prec_mu ** -0.5
        return sx, se, mu, c1, c2, sd

    # z is drawn by NORMAL_THREADS generators, the extra ones seeded from rng (deterministic)
    normal_gens = [rng] + [np.random.default_rng(int(seed)) for seed in rng.integers(2**63, size=_NORMAL_THREADS - 1)]

    shape_x = a_x + n / 2
    shape_e = a_e + n * m / 2
    kept_idx = np.arange(burn, draws, thin)
    n_kept = kept_idx.size
    out = {
        "sigma2_x": np.empty((K, n_kept)),
        "sigma2_e": np.empty((K, n_kept)),
    }
    if has_mu:
        out["mu"] = np.empty((K, n_kept))
    if keep_x:
        out["X"] = np.empty((K, n_kept, n))

    n_done = 0
    scalar_path = K <= 16   # few chains: Python floats beat tiny NumPy arrays
    # blocks never straddle the end of burn-in, so a kept block (thin = 1) can draw
    # its normals straight into the output array and be transformed there in place
    starts = list(range(0, burn, block)) + list(range(burn, draws, block))
    ends = starts[1:] + [draws]
    for start, end in zip(starts, ends):
        b = end - start
        in_place = keep_x and thin == 1 and start >= burn
        if in_place:
            z = out["X"][:, n_done:n_done + b]                # (K, b, n) view of the output
        else:
            z = np.empty((K, b, n))
        for k in range(K):
            _fill_standard_normal(z[k], normal_gens)
        z_sum = z.sum(axis=2)                            # (K, b)
        zz = np.einsum("kbn,kbn->kb", z, z)
        zS = np.einsum("kbn,kn->kb", z, S)
        g_x = rng.standard_gamma(shape_x, size=(K, b))
        g_e = rng.standard_gamma(shape_e, size=(K, b))
        z_mu = rng.standard_normal((K, b)) if has_mu else np.zeros((K, b))
        # X = c1 * S + c2 + sd * z, per chain and iteration; and the recorded scalars
        c1, c2, sd, r_sx, r_se, r_mu = (np.empty((K, b)) for _ in range(6))
        if scalar_path:
            for k in range(K):
                sx_k, se_k, mu_k = float(sx[k]), float(se[k]), float(mu[k])
                cols = zip(z_sum[k].tolist(), zz[k].tolist(), zS[k].tolist(),
                           g_x[k].tolist(), g_e[k].tolist(), z_mu[k].tolist())
                rows = []
                for zs_t, zz_t, zS_t, gx_t, ge_t, zm_t in cols:
                    sx_k, se_k, mu_k, c1_t, c2_t, sd_t = step(
                        sx_k, se_k, mu_k, zs_t, zz_t, zS_t, gx_t, ge_t, zm_t,
                        float(S_sum[k]), float(SS[k]), float(Q[k]))
                    rows.append((c1_t, c2_t, sd_t, sx_k, se_k, mu_k))
                c1[k], c2[k], sd[k], r_sx[k], r_se[k], r_mu[k] = np.array(rows).T
                sx[k], se[k], mu[k] = sx_k, se_k, mu_k
        else:
            for t in range(b):
                sx, se, mu, c1[:, t], c2[:, t], sd[:, t] = step(
                    sx, se, mu, z_sum[:, t], zz[:, t], zS[:, t], g_x[:, t], g_e[:, t], z_mu[:, t],
                    S_sum, SS, Q)
                r_sx[:, t], r_se[:, t], r_mu[:, t] = sx, se, mu
        # keep the draws of this block that survive burn-in and thinning
        iters = np.arange(start, start + b)
        sel = np.flatnonzero((iters >= burn) & ((iters - burn) % thin == 0))
        k_sel = sel.size
        if k_sel:
            span = slice(n_done, n_done + k_sel)
            out["sigma2_x"][:, span] = r_sx[:, sel]
            out["sigma2_e"][:, span] = r_se[:, sel]
            if has_mu:
                out["mu"][:, span] = r_mu[:, sel]
            if keep_x:
                X = out["X"][:, span]                       # a view: fill it in place
                if in_place:                                # z already lives in X
                    X *= sd[:, :, None]
                else:
                    np.multiply(z[:, sel], sd[:, sel, None], out=X)
                X += c1[:, sel, None] * S[:, None, :]
                if has_mu:
                    X += c2[:, sel, None]
            n_done += k_sel
    return out


def sample(W, *, draws: int = 2000, burn: int = 500, chains: int = 4, seed: int = 0,
           prior_x=(0.1, 1.0), prior_e=(0.1, 1.0), mean=None, variant: str = "corrected",
           keep_x: bool = True, thin: int = 1) -> az.InferenceData:
    """Gibbs-sample sigma2_x, sigma2_e, X (and mu) for the data ``W`` (n x m, m >= 2).

    ``draws`` counts every iteration (like ``S`` in the note), the first ``burn``
    are dropped. ``prior_x``/``prior_e`` are inverse-gamma (shape, rate).
    ``mean``: None for the note's zero-mean model, ``"flat"`` or ``(m0, s0)``
    for a population mean mu with a flat or Normal(m0, s0^2) prior.
    ``variant="published"`` runs the note's sampler (swapped precision, the
    note's starting values, no mu). The corrected sampler starts each chain at
    the note's values scaled by a random factor, so chains start apart.
    """
    W = _check_data(W)
    _check_counts(draws, burn, chains)
    if not isinstance(thin, (int, np.integer)) or thin < 1:
        raise ValueError(f"thin must be a positive integer, got {thin!r}")
    prior_x = _check_prior(prior_x, "prior_x")
    prior_e = _check_prior(prior_e, "prior_e")
    mean = _check_mean(mean)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    if variant == "published" and mean is not None:
        raise ValueError("the published sampler has no mean parameter; use variant='corrected' with mean=...")

    rng = np.random.default_rng(seed)
    init = initial_values(W)
    sx0 = np.full(chains, max(float(init["sigma2_x"]), 1e-8))
    se0 = np.full(chains, max(float(init["sigma2_e"]), 1e-8))
    mu0 = np.full(chains, float(init["X"].mean()))
    if variant == "corrected" and chains > 1:
        sx0 = sx0 * np.exp(rng.normal(0.0, 1.0, chains))
        se0 = se0 * np.exp(rng.normal(0.0, 1.0, chains))
        mu0 = mu0 + rng.normal(0.0, 1.0, chains) * np.sqrt(sx0)
    if mean is None:
        mu0 = np.zeros(chains)
    Wk = np.broadcast_to(W, (chains,) + W.shape)
    out = _run(Wk, draws=draws, burn=burn, prior_x=prior_x, prior_e=prior_e, mean=mean,
               variant=variant, rng=rng, keep_x=keep_x, thin=thin,
               init_sigma2_x=sx0, init_sigma2_e=se0, init_mu=mu0)
    idata = az.from_dict(
        posterior=out,
        observed_data={"W": W},
        coords={"obs": np.arange(W.shape[0]), "rep": np.arange(W.shape[1])},
        dims={"X": ["obs"], "W": ["obs", "rep"]},
    )
    idata.posterior.attrs.update(sampler=f"lmmteach.gibbs ({variant})", variant=variant)
    return idata


# ----------------------------------------------------------------------------
# the eight scenarios of the note


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


_VAGUE = (0.1, 1.0)
SCENARIOS: dict[int, Scenario] = {
    s.number: s
    for s in (
        Scenario(1, 100, 5.0, 3.0, 0.0, _VAGUE, _VAGUE),
        Scenario(2, 100, 100.0, 1.0, 0.0, _VAGUE, _VAGUE),
        Scenario(3, 1000, 100.0, 1.0, 0.0, _VAGUE, _VAGUE),
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


# ----------------------------------------------------------------------------
# checking a conditional by brute force


def x_conditional_numeric(w_row, sigma2_x, sigma2_e, mu=0.0, grid_size=20001, width=12.0):
    """Mean and variance of X_i | W_i., sigma2_x, sigma2_e by normalising the joint density on a grid.

    No algebra: evaluate log p(X_i) + sum_j log p(W_ij | X_i) on a fine grid,
    normalise numerically and take moments. Used to test the conditional the
    samplers use.
    """
    w_row = np.asarray(w_row, dtype=float)
    centre = (w_row.mean() + mu) / 2
    half = width * np.sqrt(sigma2_x + sigma2_e) + abs(w_row.mean() - mu)
    x = np.linspace(centre - half, centre + half, grid_size)
    logp = -0.5 * (x - mu) ** 2 / sigma2_x - 0.5 * ((w_row[None, :] - x[:, None]) ** 2).sum(axis=1) / sigma2_e
    p = np.exp(logp - logp.max())
    p /= p.sum()
    m1 = float((p * x).sum())
    return m1, float((p * (x - m1) ** 2).sum())


def x_conditional(w_row, sigma2_x, sigma2_e, mu=0.0, variant="corrected"):
    """Mean and variance of X_i | rest as each sampler computes it (closed form)."""
    w_row = np.asarray(w_row, dtype=float)
    m = w_row.size
    if variant == "published":
        prec = m / sigma2_x + 1 / sigma2_e
        return float(w_row.sum() / sigma2_e / prec), float(1 / prec)
    if variant != "corrected":
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    prec = 1 / sigma2_x + m / sigma2_e
    return float((w_row.sum() / sigma2_e + mu / sigma2_x) / prec), float(1 / prec)


# ----------------------------------------------------------------------------
# the same model in PyMC, for NUTS


def pymc_model(W, *, prior_x=(0.1, 1.0), prior_e=(0.1, 1.0), mean=None, noncentered=False):
    """The same model in PyMC (variables named as in :func:`sample`)."""
    import pymc as pm

    W = _check_data(W)
    prior_x = _check_prior(prior_x, "prior_x")
    prior_e = _check_prior(prior_e, "prior_e")
    mean = _check_mean(mean)
    n, m = W.shape
    with pm.Model(coords={"obs": np.arange(n), "rep": np.arange(m)}) as model:
        sigma2_x = pm.InverseGamma("sigma2_x", alpha=prior_x[0], beta=prior_x[1])
        sigma2_e = pm.InverseGamma("sigma2_e", alpha=prior_e[0], beta=prior_e[1])
        if mean is None:
            mu = 0.0
        elif mean == "flat":
            mu = pm.Flat("mu")
        else:
            mu = pm.Normal("mu", mean[0], mean[1])
        if noncentered:
            x_raw = pm.Normal("x_raw", 0.0, 1.0, dims="obs")
            X = pm.Deterministic("X", mu + pm.math.sqrt(sigma2_x) * x_raw, dims="obs")
        else:
            X = pm.Normal("X", mu, pm.math.sqrt(sigma2_x), dims="obs")
        pm.Normal("W", X[:, None], pm.math.sqrt(sigma2_e), observed=W, dims=("obs", "rep"))
    return model


def agreement(idata_a, idata_b, var_names=("sigma2_x", "sigma2_e"), quantiles=(0.05, 0.5, 0.95)):
    """Compare two posteriors: mean and quantiles of each, their difference in Monte Carlo standard errors.

    ``z`` is the difference of the means over the combined MCSE (az.mcse) of
    the two; for samplers that agree |z| is rarely above 3.
    """
    rows = []
    for name in var_names:
        a = idata_a.posterior[name].values.ravel()
        b = idata_b.posterior[name].values.ravel()
        se_a = float(az.mcse(idata_a, var_names=[name])[name])
        se_b = float(az.mcse(idata_b, var_names=[name])[name])
        row = {"parameter": name, "mean_a": a.mean(), "mean_b": b.mean(),
               "mcse": float(np.hypot(se_a, se_b))}
        row["z"] = (row["mean_a"] - row["mean_b"]) / row["mcse"]
        for q in quantiles:
            row[f"q{int(round(q * 100)):02d}_a"] = float(np.quantile(a, q))
            row[f"q{int(round(q * 100)):02d}_b"] = float(np.quantile(b, q))
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter")


def ess_per_second(idata, seconds: float, var_names=("sigma2_x", "sigma2_e")) -> pd.Series:
    """Bulk ESS (az.ess) of each parameter divided by the sampling time."""
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    ess = az.ess(idata, var_names=list(var_names))
    return pd.Series({name: float(ess[name]) / seconds for name in var_names}, name="ess_per_s")


# ----------------------------------------------------------------------------
# the exact marginal posterior of the two variances (no sampling)


def log_marginal_posterior(W, sigma2_x, sigma2_e, *, prior_x=(0.1, 1.0), prior_e=(0.1, 1.0), mu=0.0):
    """log p(sigma2_x, sigma2_e | W) up to a constant, with X integrated out analytically.

    Row means are Normal(mu, sigma2_x + sigma2_e / m); the within-row sum of
    squares is sigma2_e times a chi-square with n (m - 1) degrees of freedom;
    the two are independent. Works for m = 1 too, where only the sum
    sigma2_x + sigma2_e enters the likelihood. ``sigma2_x`` and ``sigma2_e``
    broadcast against each other (pass a grid).
    """
    W = np.asarray(W, dtype=float)
    if W.ndim != 2 or not np.all(np.isfinite(W)):
        raise ValueError("W must be a 2-d array of finite numbers")
    a_x, b_x = _check_prior(prior_x, "prior_x")
    a_e, b_e = _check_prior(prior_e, "prior_e")
    n, m = W.shape
    sx = np.asarray(sigma2_x, dtype=float)
    se = np.asarray(sigma2_e, dtype=float)
    row_means = W.mean(axis=1)
    ss_between = float(((row_means - mu) ** 2).sum())
    ss_within = float(((W - row_means[:, None]) ** 2).sum())
    v = sx + se / m
    loglik = -0.5 * n * np.log(v) - 0.5 * ss_between / v
    if m > 1:
        loglik = loglik - 0.5 * n * (m - 1) * np.log(se) - 0.5 * ss_within / se
    log_prior = -(a_x + 1) * np.log(sx) - b_x / sx - (a_e + 1) * np.log(se) - b_e / se
    return loglik + log_prior


def grid_posterior(W, *, prior_x=(0.1, 1.0), prior_e=(0.1, 1.0), sigma2_x_grid, sigma2_e_grid, mu=0.0):
    """Normalised posterior on a (sigma2_x x sigma2_e) grid and the two marginal means.

    Returns (probabilities of shape (len(sigma2_x_grid), len(sigma2_e_grid)),
    posterior mean of sigma2_x, posterior mean of sigma2_e). The grids should
    be evenly spaced and wide enough to hold the posterior.
    """
    gx = np.asarray(sigma2_x_grid, dtype=float)
    ge = np.asarray(sigma2_e_grid, dtype=float)
    logp = log_marginal_posterior(W, gx[:, None], ge[None, :], prior_x=prior_x, prior_e=prior_e, mu=mu)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return p, float((p.sum(axis=1) * gx).sum()), float((p.sum(axis=0) * ge).sum())
