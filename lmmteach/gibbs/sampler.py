"""The Gibbs sampler for the variance-components model W_ij = X_i + E_ij.

    W_ij = X_i + E_ij,   i = 1..n,  j = 1..m
    X_i ~ Normal(mu, sigma2_x),   E_ij ~ Normal(0, sigma2_e)
    sigma2_x ~ InverseGamma(a_x, b_x),   sigma2_e ~ InverseGamma(a_e, b_e)
    mu = 0 (the note's model), or mu with a flat or a normal prior.

Two variants (the table :data:`VARIANTS`) share one engine:

``"corrected"``
    the exact full conditionals; X_i | rest has precision 1/sigma2_x + m/sigma2_e.
``"published"``
    the sampler of the Gibbs note (seed 003 of the course) reproduced as
    written: X_i | rest gets precision m/sigma2_x + 1/sigma2_e (the two
    precisions swapped), mean (sum_j W_ij / sigma2_e) / precision, the note's
    initial values and its inverse-gamma updates.

:func:`sample` runs chains on one data set and returns ArviZ InferenceData;
:func:`sample_many` runs one chain on each of a stack of data sets (what
simulation-based calibration needs) and returns plain arrays.

Why it is fast. Given the variances, the n conditionals of X_i are independent
normals, and the variance updates see X only through three sums (sum X_i,
sum X_i^2 and sum_i X_i * sum_j W_ij). Writing X_i = a_i + s * z_i with
standard-normal z_i, each sum is a cheap function of the scalars of the current
iteration and of sums of z that can be computed for a whole block of
iterations at once. So the Markov chain itself runs on a handful of scalars per
iteration, and every stored draw of X is rebuilt afterwards in one vectorised
step. The chain has exactly the distribution of the textbook algorithm (only the
order in which random numbers are used differs). Many chains (or many data
sets) run together: every state variable is an array with one entry per chain.

Drawing the standard normals z is most of the work when every draw of X is
stored (10 million numbers for 10,000 iterations of n = 1,000). They are drawn
by two generators, each filling a fixed half of every block, in two threads
(NumPy releases the GIL while it fills an array): the result is the same
whatever the threads' timing, and it is twice as fast on two cores.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import arviz as az
import numpy as np

from lmmteach import checks
from lmmteach.gibbs.checks import check_counts, check_data, check_mean, check_prior, check_variances
from lmmteach.gibbs.note import DEFAULT_PRIOR, initial_values

__all__ = ["Variant", "VARIANTS", "x_conditional", "sample", "sample_many"]


@dataclass(frozen=True)
class Variant:
    """What one sampler variant does differently: the precision of X_i | rest, and how its chains start."""

    precision: Callable  # (sigma2_x, sigma2_e, m) -> precision of X_i | rest
    pulls_to_mu: bool    # the mean of X_i | rest includes mu / sigma2_x (the published sampler has no mu)
    allows_mean: bool    # a population mean mu can be estimated
    spread_starts: bool  # chains start at random multiples of the note's values (else all at the note's values)


VARIANTS: dict[str, Variant] = {
    "corrected": Variant(precision=lambda sigma2_x, sigma2_e, m: 1.0 / sigma2_x + m / sigma2_e,
                         pulls_to_mu=True, allows_mean=True, spread_starts=True),
    # the note's precision: the prior's and the data's precisions swapped
    "published": Variant(precision=lambda sigma2_x, sigma2_e, m: m / sigma2_x + 1.0 / sigma2_e,
                         pulls_to_mu=False, allows_mean=False, spread_starts=False),
}

_MIN_VARIANCE = 1e-8  # a starting variance of 0 (identical rows or replicates) would divide by zero


def _variant_rule(name: str) -> Variant:
    """The entry of :data:`VARIANTS` called ``name``; a clear ValueError for any other name."""
    if not isinstance(name, str) or name not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {name!r}")
    return VARIANTS[name]


def x_conditional(w_row, sigma2_x, sigma2_e, mu=0.0, variant="corrected"):
    """Mean and variance of X_i | rest as each sampler computes it (closed form, from the variant's precision)."""
    rule = _variant_rule(variant)
    w_row = np.asarray(w_row, dtype=float)
    sigma2_x, sigma2_e, mu = (float(v) for v in check_variances(sigma2_x, sigma2_e, mu, scalar=True))
    prec = rule.precision(sigma2_x, sigma2_e, w_row.size)
    pull = mu / sigma2_x if rule.pulls_to_mu else 0.0
    return float((w_row.sum() / sigma2_e + pull) / prec), float(1 / prec)


_NORMAL_THREADS = 2


@functools.cache
def _normal_pool() -> ThreadPoolExecutor:
    """The two threads that draw standard normals, created the first time a large block needs them."""
    return ThreadPoolExecutor(max_workers=_NORMAL_THREADS)


def _fill_standard_normal(out, generators):
    """Fill ``out`` (rows x n) with standard normals: generator g fills its fixed share of the rows."""
    rows = out.shape[0]
    if rows < 2 * len(generators) or out.size < 50_000:  # not worth a thread
        generators[0].standard_normal(out=out)
        return
    pool = _normal_pool()
    bounds = np.linspace(0, rows, len(generators) + 1).astype(int)
    jobs = [pool.submit(g.standard_normal, out=out[lo:hi]) for g, lo, hi in zip(generators, bounds[:-1], bounds[1:])]
    for job in jobs:
        job.result()


def _run(Wk, *, draws, burn, prior_x, prior_e, mean, rule, rng, keep_x=True, thin=1,
         init_sigma2_x=None, init_sigma2_e=None, init_mu=None, block=256):
    """Run one chain per data set in ``Wk`` (shape K x n x m) with checked inputs; kept draws as arrays (K, kept, ...)."""
    K, n, m = Wk.shape
    a_x, b_x = prior_x
    a_e, b_e = prior_e
    precision, pulls_to_mu = rule.precision, rule.pulls_to_mu
    has_mu = mean is not None

    S = Wk.sum(axis=2)                      # row sums, (K, n)
    S_sum = S.sum(axis=1)                   # (K,)
    SS = np.einsum("kn,kn->k", S, S)        # sum of squared row sums
    within = Wk - Wk.mean(axis=2, keepdims=True)
    Q = np.einsum("knm,knm->k", within, within)  # sum of squares about the row means (no cancellation)

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
        prec = precision(sx, se, m)
        c2 = mu / (sx * prec) if pulls_to_mu else 0.0 * mu
        c1 = 1.0 / (se * prec)
        sd = prec ** -0.5
        sum_a2 = c1 * c1 * SS + 2.0 * c1 * c2 * S_sum + n * c2 * c2
        sum_az = c1 * zS_t + c2 * zs_t
        sum_x = c1 * S_sum + n * c2 + sd * zs_t
        sum_x2 = sum_a2 + 2.0 * sd * sum_az + sd * sd * zz_t
        d = c1 - 1.0 / m                    # X_i - mean_i(W) = d * S_i + c2 + sd * z_i
        sum_dev2 = d * d * SS + 2.0 * d * c2 * S_sum + n * c2 * c2 + 2.0 * sd * (d * zS_t + c2 * zs_t) + sd * sd * zz_t
        # 2. sigma2_x | X, mu: inverse gamma
        sx = (b_x + 0.5 * (sum_x2 - 2.0 * mu * sum_x + n * mu * mu)) / gx_t
        # 3. sigma2_e | X, W: inverse gamma; sum_ij (W_ij - X_i)^2 = Q + m sum_i (X_i - mean_i(W))^2
        se = (b_e + 0.5 * (Q + m * sum_dev2)) / ge_t
        # 4. mu | X, sigma2_x: normal (flat prior when prior_prec_mu = 0)
        if has_mu:
            prec_mu = n / sx + prior_prec_mu
            mu = (sum_x / sx + m0 * prior_prec_mu) / prec_mu + zm_t * prec_mu ** -0.5
        return sx, se, mu, c1, c2, sd

    # z is drawn by _NORMAL_THREADS generators, the extra ones seeded from rng (deterministic)
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


def _note_start(W):
    """The note's starting variances for each data set in ``W`` (n x m or K x n x m), kept away from zero."""
    init = initial_values(W)
    return (np.maximum(init["sigma2_x"], _MIN_VARIANCE), np.maximum(init["sigma2_e"], _MIN_VARIANCE),
            init["X"].mean(axis=-1))


def _check_inits(inits, name, default, chains):
    """The starting values of ``name`` for each chain: ``inits[name]`` if given (checked), else ``default``."""
    if not isinstance(inits, dict) or not set(inits) <= {"sigma2_x", "sigma2_e"}:
        raise ValueError(f"inits must be a dict with keys 'sigma2_x' and/or 'sigma2_e', got {inits!r}")
    if name not in inits:
        return default
    values = np.broadcast_to(np.asarray(inits[name], dtype=float), (chains,)) if np.ndim(inits[name]) == 0 \
        else np.asarray(inits[name], dtype=float)
    if values.shape != (chains,) or not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"inits[{name!r}] must be one positive number or {chains} (one per chain), got {inits[name]!r}")
    return values.astype(float).copy()


def sample(W, *, draws: int = 2000, burn: int = 500, chains: int = 4, seed: int = 0,
           prior_x=DEFAULT_PRIOR, prior_e=DEFAULT_PRIOR, mean=None, variant: str = "corrected",
           keep_x: bool = True, thin: int = 1, inits=None) -> az.InferenceData:
    """Gibbs-sample sigma2_x, sigma2_e, X (and mu) for the data ``W`` (n x m, m >= 2).

    ``draws`` counts every iteration (like ``S`` in the note), the first ``burn``
    are dropped. ``prior_x``/``prior_e`` are inverse-gamma (shape, rate).
    ``mean``: None for the note's zero-mean model, ``"flat"`` or ``(m0, s0)``
    for a population mean mu with a flat or Normal(m0, s0^2) prior.
    ``variant="published"`` runs the note's sampler (swapped precision, the
    note's starting values, no mu). The corrected sampler starts each chain at
    the note's values scaled by a random factor, so chains start apart.
    ``inits`` overrides where chains start: a dict with ``"sigma2_x"`` and/or
    ``"sigma2_e"``, each a positive number or one per chain (any variant).
    """
    W = check_data(W)
    check_counts(draws, burn, chains, thin)
    prior_x = check_prior(prior_x, "prior_x")
    prior_e = check_prior(prior_e, "prior_e")
    mean = check_mean(mean)
    rule = _variant_rule(variant)
    if mean is not None and not rule.allows_mean:
        raise ValueError(f"the {variant} sampler has no mean parameter; use variant='corrected' with mean=...")

    # With a mean parameter the model is the same for W and W + c: sample W - c (c = the mean of W) and
    # add c back, so that W + 1e8 loses no digits in the sums of squares.
    shift = float(W.mean()) if mean is not None else 0.0
    observed, W = W, W - shift
    if mean is not None and mean != "flat":
        mean = (mean[0] - shift, mean[1])
    rng = np.random.default_rng(checks.seed(seed))
    sx, se, mu = _note_start(W)
    sx0, se0, mu0 = np.full(chains, float(sx)), np.full(chains, float(se)), np.full(chains, float(mu))
    if rule.spread_starts and chains > 1:
        sx0 = sx0 * np.exp(rng.normal(0.0, 1.0, chains))
        se0 = se0 * np.exp(rng.normal(0.0, 1.0, chains))
        mu0 = mu0 + rng.normal(0.0, 1.0, chains) * np.sqrt(sx0)
    if mean is None:
        mu0 = np.zeros(chains)
    if inits is not None:
        sx0 = _check_inits(inits, "sigma2_x", sx0, chains)
        se0 = _check_inits(inits, "sigma2_e", se0, chains)
    Wk = np.broadcast_to(W, (chains,) + W.shape)
    out = _run(Wk, draws=draws, burn=burn, prior_x=prior_x, prior_e=prior_e, mean=mean,
               rule=rule, rng=rng, keep_x=keep_x, thin=thin,
               init_sigma2_x=sx0, init_sigma2_e=se0, init_mu=mu0)
    if mean is not None:
        out["mu"] += shift
    if keep_x:
        out["X"] += shift
    idata = az.from_dict(
        posterior=out,
        observed_data={"W": observed},
        coords={"obs": np.arange(W.shape[0]), "rep": np.arange(W.shape[1])},
        dims={"X": ["obs"], "W": ["obs", "rep"]},
    )
    idata.posterior.attrs.update(sampler=f"lmmteach.gibbs ({variant})", variant=variant)
    return idata


def sample_many(W, *, draws: int, burn: int, thin: int = 1, seed=0, prior_x=DEFAULT_PRIOR,
                prior_e=DEFAULT_PRIOR, variant: str = "corrected", keep_x: bool = False) -> dict[str, np.ndarray]:
    """One chain for each data set in ``W`` (shape K x n x m, the note's zero-mean model), all run together.

    Each chain starts at its data set's note values. Returns the kept draws as
    arrays of shape (K, kept) (and (K, kept, n) for ``X`` when ``keep_x``).
    ``seed`` may be a NumPy Generator, which is then used (and advanced) as is.
    """
    W = check_data(W, stacked=True)
    check_counts(draws, burn, 1, thin)
    prior_x = check_prior(prior_x, "prior_x")
    prior_e = check_prior(prior_e, "prior_e")
    rule = _variant_rule(variant)
    sx0, se0, _ = _note_start(W)
    return _run(W, draws=draws, burn=burn, thin=thin, prior_x=prior_x, prior_e=prior_e, mean=None, rule=rule,
                rng=np.random.default_rng(seed), keep_x=keep_x, init_sigma2_x=sx0, init_sigma2_e=se0)
