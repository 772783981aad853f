"""The course's Bayesian models of the ciproxifan data, built one way everywhere.

Lessons 5-8 and 11 fit the same regression, ``WAKE ~ Treatment * Genotype``,
first without and then with mouse intercepts. Building every model here, from
one checked design (:func:`lmmteach.ciproxifan.design`, which raises
:class:`ModelDataError` naming the missing column, the NaN or the
non-categorical ``id`` before anything compiles), gives every fit the same
variable names, so tables, plots and cross-validation read them alike:

* the models: :func:`fixed_effects` (the report's Listings 2 and 3, flat or
  weak priors), :func:`report_mixed` (its "Bayesian LMM", Listing 5: mouse
  intercepts with a FIXED scale, nothing learnt about how much mice differ),
  :func:`hierarchical` (the scale ``sigma_u`` estimated: partial pooling
  learnt from the data; centred or not, any prior of :data:`SIGMA_U_PRIORS`)
  and :func:`bambi_hierarchical` (the same model as a Bambi formula, priors
  stated explicitly);
* :func:`sample`: a seeded sampler run that also stores the pointwise
  log-likelihood PSIS-LOO needs, for PyMC and Bambi models alike;
* :class:`WeightedModel`: a model built with ``weighted=True`` and compiled
  once (nutpie), then fitted to any subset of its rows by 0/1 weights, so
  that cross-validation's many refits never compile again;
* :func:`course_posterior`: any of these fits' posterior under the PyMC
  models' names, Bambi's included;
* :func:`course_log_lik` and :func:`course_fitted_mean`: held-out
  log-likelihood and fitted means, the two things :mod:`lmmteach.crossval`
  and :mod:`lmmteach.tables` need from a fit.

The PyMC models' variables: ``beta`` (dim ``coef``, the names
:data:`COEFS`), ``sigma``, ``u`` (dim ``id``, every level of the ``id``
category, so a mouse left out of a subset keeps its intercept), ``sigma_u``
(hierarchical), ``z_u`` (non-centred), the observed ``WAKE`` (dim ``obs``) and
the data ``X`` (design matrix) and ``id_index``; a weighted model has the data
``weight`` (dim ``obs``) and the potential ``WAKE_loglik`` instead of ``WAKE``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from lmmteach.ciproxifan import (BAMBI_FORMULA, BETA_SD, COEFS, FORMULA, RESPONSE, SIGMA_SD, SIGMA_U_SD, Design,
                                 ModelDataError, design)
from lmmteach import checks, progress
from lmmteach.crossval import gaussian_log_lik

__all__ = [
    "BAMBI_FORMULA", "COEFS", "DEFAULT_SAMPLER", "Design", "FORMULA", "ModelDataError", "SAMPLERS", "SIGMA_U_PRIORS",
    "SIGMA_U_LOG_DENSITIES", "WeightedModel",
    "bambi_hierarchical", "course_fitted_mean", "course_log_lik", "course_posterior", "design", "fixed_effects",
    "hierarchical", "report_mixed", "sample", "sample_each_prior", "show_progress", "sigma_u_prior_switch",
]

# nutpie gave more effective samples per second than PyMC's NUTS, compilation
# included, on every course model where both ran without divergences: 1.3-1.6
# times on a heavily loaded machine (benchmarks/results/samplers.json, written by
# benchmarks/samplers.py and read by lesson 5), 1.7-1.8 times on a quiet one in an
# earlier run. "pymc" is kept for comparison (lesson 7 samples with it) and for
# models nutpie cannot compile; many refits of one model use WeightedModel.
DEFAULT_SAMPLER = "nutpie"
SAMPLERS = ("nutpie", "pymc")


def _coords(d: Design) -> dict:
    coords = {"coef": list(d.coefs), "obs": np.arange(len(d.y))}
    if d.id_levels is not None:
        coords["id"] = [str(level) for level in d.id_levels]
    return coords


def _mean_and_likelihood(pm, d: Design, beta, sigma, u=None, weighted: bool = False):
    X = pm.Data("X", d.X, dims=("obs", "coef"))
    mu = X @ beta
    if u is not None:
        id_index = pm.Data("id_index", d.id_index, dims="obs")
        mu = mu + u[id_index]
    if not weighted:
        pm.Normal(RESPONSE, mu=mu, sigma=sigma, observed=d.y, dims="obs")
        return
    # Each row's log-likelihood times its weight: a weight of 0 removes the row exactly as deleting it would,
    # while every shape stays the same, so one compiled model serves every subset of the rows.
    weight = pm.Data("weight", np.ones(len(d.y)), dims="obs")
    pm.Potential(f"{RESPONSE}_loglik", (weight * pm.logp(pm.Normal.dist(mu=mu, sigma=sigma), d.y)).sum())


def fixed_effects(data: pd.DataFrame, *, priors: str = "weak", weighted: bool = False):
    """WAKE ~ Treatment * Genotype with ``priors`` "flat" (Listing 2) or "weak" (Listing 3).

    ``weighted=True`` (every builder has it) gives each row's likelihood a 0/1 weight, for :class:`WeightedModel`.
    """
    if priors not in ("flat", "weak"):
        raise ValueError(f"priors must be 'flat' or 'weak', got {priors!r}")
    d = design(data)
    import pymc as pm

    with pm.Model(coords=_coords(d)) as model:
        if priors == "flat":
            beta = pm.Flat("beta", dims="coef")
            sigma = pm.HalfFlat("sigma")
        else:
            beta = pm.Normal("beta", 0.0, BETA_SD, dims="coef")
            sigma = pm.HalfNormal("sigma", SIGMA_SD)
        _mean_and_likelihood(pm, d, beta, sigma, weighted=weighted)
    return model


def report_mixed(data: pd.DataFrame, *, u_sd: float = SIGMA_U_SD, weighted: bool = False):
    """The report's mixed model (Listing 5): u_j ~ Normal(0, u_sd) with the scale FIXED."""
    u_sd = checks.real_number(u_sd, "u_sd (the fixed scale of the mouse intercepts)", low=0)
    d = design(data, needs_id=True)
    import pymc as pm

    with pm.Model(coords=_coords(d)) as model:
        beta = pm.Normal("beta", 0.0, BETA_SD, dims="coef")
        sigma = pm.HalfNormal("sigma", SIGMA_SD)
        u = pm.Normal("u", 0.0, u_sd, dims="id")
        _mean_and_likelihood(pm, d, beta, sigma, u, weighted=weighted)
    return model


def _halfnormal(name):
    import pymc as pm

    return pm.HalfNormal(name, SIGMA_U_SD)


def _halfstudentt(name):
    import pymc as pm

    return pm.HalfStudentT(name, nu=3, sigma=SIGMA_U_SD)


def _halfcauchy(name):
    import pymc as pm

    return pm.HalfCauchy(name, beta=SIGMA_U_SD)


def _inverse_gamma(alpha, beta):
    def prior(name):
        import pymc as pm

        variance = pm.InverseGamma(f"{name}_sq", alpha=alpha, beta=beta)
        return pm.Deterministic(name, pm.math.sqrt(variance))

    return prior


def _uniform(name):
    import pymc as pm

    return pm.Uniform(name, 0.0, 100.0)


#: Priors for sigma_u by name; each ``f(name)`` creates the variable ``name``
#: (inverse-gamma priors are on the variance ``name_sq``, as in Gelman 2006).
SIGMA_U_PRIORS: dict[str, Callable] = {
    "halfnormal": _halfnormal,  # HalfNormal(10)
    "halfstudentt": _halfstudentt,  # HalfStudentT(nu=3, sigma=10)
    "halfcauchy": _halfcauchy,  # HalfCauchy(10)
    "invgamma": _inverse_gamma(1.0, 1.0),  # sigma_u^2 ~ InverseGamma(1, 1)
    "invgamma_0.001": _inverse_gamma(0.001, 0.001),  # the classic "vague" choice Gelman 2006 warns against
    "uniform": _uniform,  # Uniform(0, 100) on sigma_u
}


def _inverse_gamma_on_sd(pm, sigma_u, alpha, beta):
    """log density of sigma_u when sigma_u^2 ~ InverseGamma(alpha, beta): change of variables, d(s^2)/ds = 2 s."""
    return pm.logp(pm.InverseGamma.dist(alpha=alpha, beta=beta), sigma_u**2) + pm.math.log(2 * sigma_u)


#: The log density of sigma_u under each named prior of :data:`SIGMA_U_PRIORS` (the inverse-gamma ones moved
#: from the variance to sigma_u), for :func:`sigma_u_prior_switch`; a test checks each against its named prior.
SIGMA_U_LOG_DENSITIES: dict[str, Callable] = {
    "halfnormal": lambda pm, s: pm.logp(pm.HalfNormal.dist(SIGMA_U_SD), s),
    "halfstudentt": lambda pm, s: pm.logp(pm.HalfStudentT.dist(nu=3, sigma=SIGMA_U_SD), s),
    "halfcauchy": lambda pm, s: pm.logp(pm.HalfCauchy.dist(beta=SIGMA_U_SD), s),
    "invgamma": lambda pm, s: _inverse_gamma_on_sd(pm, s, 1.0, 1.0),
    "invgamma_0.001": lambda pm, s: _inverse_gamma_on_sd(pm, s, 0.001, 0.001),
}
PRIOR_CHOICE = "sigma_u_prior_choice"  # the data vector that selects the prior in a switch model


def sigma_u_prior_switch(names: list[str]) -> Callable:
    """A ``sigma_u_prior`` for :func:`hierarchical` that is chosen when sampling, among ``names``.

    sigma_u is declared flat on (0, inf) (sampled on the log scale, like every
    named prior) and the log density of the chosen prior is added as a
    potential, weighted by the 0/1 data vector ``sigma_u_prior_choice`` (one
    entry per name). With the k-th entry 1 the posterior is exactly that of
    ``hierarchical(..., sigma_u_prior=names[k])``: one compiled model serves
    every prior (:func:`sample_each_prior`).
    """
    names = list(names)
    unknown = [n for n in names if n not in SIGMA_U_LOG_DENSITIES]
    if not names or unknown:
        raise ValueError(f"names must be a non-empty list from {sorted(SIGMA_U_LOG_DENSITIES)}, got {names!r}")

    def prior(name):
        import pymc as pm

        choice = pm.Data(PRIOR_CHOICE, np.eye(len(names))[0])
        sigma_u = pm.HalfFlat(name)
        log_densities = pm.math.stack([SIGMA_U_LOG_DENSITIES[n](pm, sigma_u) for n in names])
        pm.Potential(f"{name}_prior", (choice * log_densities).sum())
        return sigma_u

    return prior


def sample_each_prior(data: pd.DataFrame, names: list[str], *, seed: int, draws: int = 1000, tune: int = 1000,
                      chains: int = 4, target_accept: float | None = None, progressbar: bool | None = None) -> dict:
    """The hierarchical model fitted once under each named sigma_u prior, compiled once (nutpie).

    Returns ``{name: InferenceData}`` (posterior and sampler statistics; no
    log-likelihood). Each run uses the same ``seed``. Compiling a course model
    costs about 8 s and sampling it about 1 s, so four priors take about 12 s
    instead of about 40 s when each is built as its own model.
    """
    _check_run(seed, draws, tune, chains)  # bad settings are named before the 8-s compilation
    if target_accept is not None:
        _checked_target_accept(target_accept)
    names = list(names)
    import nutpie

    compiled = nutpie.compile_pymc_model(hierarchical(data, sigma_u_prior=sigma_u_prior_switch(names)))
    return {name: _run_compiled(compiled.with_data(**{PRIOR_CHOICE: np.eye(len(names))[k]}), seed=seed, draws=draws,
                                tune=tune, chains=chains, target_accept=target_accept, progressbar=progressbar)
            for k, name in enumerate(names)}


def hierarchical(data: pd.DataFrame, *, centered: bool = False, sigma_u_prior: str | Callable = "halfnormal",
                 weighted: bool = False):
    """Varying intercepts whose scale sigma_u is estimated: u_j ~ Normal(0, sigma_u).

    ``centered=True`` samples u directly (a funnel when sigma_u is small);
    ``centered=False`` samples z_u ~ Normal(0, 1) and sets u = sigma_u * z_u.
    """
    if not isinstance(centered, (bool, np.bool_)):
        raise TypeError(f"centered must be True or False, got {centered!r}")
    if isinstance(sigma_u_prior, str):
        if sigma_u_prior not in SIGMA_U_PRIORS:
            raise ValueError(f"unknown sigma_u_prior {sigma_u_prior!r}; choose one of {sorted(SIGMA_U_PRIORS)} or pass a callable")
        make_sigma_u = SIGMA_U_PRIORS[sigma_u_prior]
    elif callable(sigma_u_prior):
        make_sigma_u = sigma_u_prior
    else:
        raise ValueError("sigma_u_prior must be a name in SIGMA_U_PRIORS or a callable f(name) -> tensor")
    d = design(data, needs_id=True)
    import pymc as pm

    with pm.Model(coords=_coords(d)) as model:
        beta = pm.Normal("beta", 0.0, BETA_SD, dims="coef")
        sigma = pm.HalfNormal("sigma", SIGMA_SD)
        sigma_u = make_sigma_u("sigma_u")
        if centered:
            u = pm.Normal("u", 0.0, sigma_u, dims="id")
        else:
            z_u = pm.Normal("z_u", 0.0, 1.0, dims="id")
            u = pm.Deterministic("u", sigma_u * z_u, dims="id")
        _mean_and_likelihood(pm, d, beta, sigma, u, weighted=weighted)
    return model


def bambi_hierarchical(data: pd.DataFrame, *, sigma_u_prior_sd: float = SIGMA_U_SD):
    """The hierarchical model as ``WAKE ~ Treatment * Genotype + (1 | id)`` in Bambi.

    Priors as in :func:`hierarchical` with its default: every coefficient
    Normal(0, 100) (predictors not centred, so the intercept prior means the
    same), sigma HalfNormal(10), 1|id ~ Normal(0, sigma_u), sigma_u
    HalfNormal(``sigma_u_prior_sd``). Bambi samples it non-centred. ``Genotype``
    may be labels or 0/1 as :func:`~lmmteach.ciproxifan.design` reads it; Bambi
    gets the labels wt/ko either way, so its coefficient is ``Genotype[ko]``.
    """
    sigma_u_prior_sd = checks.real_number(sigma_u_prior_sd, "sigma_u_prior_sd (the HalfNormal scale of sigma_u)", low=0)
    d = design(data, needs_id=True)  # checks the frame; Bambi builds its own design from it
    import bambi as bmb

    frame = data[[RESPONSE, "Treatment", "Genotype", "id"]].copy()
    ko = d.X[:, COEFS.index("Genotype[ko]")] == 1
    frame["Genotype"] = pd.Categorical(np.where(ko, "ko", "wt"), categories=["wt", "ko"], ordered=True)  # formulae sorts unordered levels
    frame["id"] = frame["id"].cat.remove_unused_categories()
    priors = {
        "Intercept": bmb.Prior("Normal", mu=0.0, sigma=BETA_SD),
        "common": bmb.Prior("Normal", mu=0.0, sigma=BETA_SD),
        "1|id": bmb.Prior("Normal", mu=0.0, sigma=bmb.Prior("HalfNormal", sigma=sigma_u_prior_sd)),
        "sigma": bmb.Prior("HalfNormal", sigma=SIGMA_SD),
    }
    return bmb.Model(BAMBI_FORMULA, frame, priors=priors, center_predictors=False)


def show_progress(progressbar: bool | None = None) -> bool:
    """Whether to draw a progress bar: ``progressbar`` if given, else the course's one switch."""
    return progress.enabled(progressbar)


def _check_run(seed, draws, tune, chains) -> tuple[int, int, int, int]:
    """A seeded run's settings: an integer seed >= 0, draws >= 1, tune >= 0, chains >= 1 (each named if wrong)."""
    if seed is None:
        raise TypeError("seed is required (an integer >= 0), so that the run can be reproduced")
    seed = checks.seed(seed)
    draws, tune, chains = (checks.whole_number(value, name, low=low)
                           for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)))
    return seed, draws, tune, chains


def _checked_target_accept(target_accept) -> float:
    """NUTS's target acceptance rate, a number strictly between 0 and 1."""
    target_accept = checks.real_number(target_accept, "target_accept")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie strictly between 0 and 1 (e.g. 0.9), got {target_accept!r}")
    return target_accept


def _run_compiled(compiled, *, seed, draws, tune, chains, target_accept, progressbar):
    """One checked, seeded nutpie run of an already compiled model (chains one after another, on one core)."""
    seed, draws, tune, chains = _check_run(seed, draws, tune, chains)
    options = {} if target_accept is None else {"target_accept": _checked_target_accept(target_accept)}
    import nutpie

    return nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, cores=1, seed=seed, save_warmup=False,
                         progress_bar=show_progress(progressbar), **options)


def sample(model, *, seed: int, draws: int = 1000, tune: int = 1000, chains: int = 4,
           progressbar: bool | None = None, sampler: str | None = None, target_accept: float | None = None):
    """Sample a course model (PyMC or Bambi) and store the pointwise log-likelihood.

    ``seed`` is required (an integer >= 0), so every run is reproducible.
    Chains run one after another on one core (nutpie: one thread): the
    course's machines run two notebooks at once on two cores, and these
    models are tiny.
    """
    import pymc as pm

    if not (isinstance(model, pm.Model) or _is_bambi(model)):
        raise TypeError(f"model must be a PyMC model or a Bambi model from lmmteach.models, got {type(model).__name__}")
    seed, draws, tune, chains = _check_run(seed, draws, tune, chains)
    sampler = DEFAULT_SAMPLER if sampler is None else sampler
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
    if target_accept is not None:
        target_accept = _checked_target_accept(target_accept)

    progress = show_progress(progressbar)
    kwargs = dict(draws=draws, tune=tune, chains=chains, random_seed=seed, progressbar=progress)
    if target_accept is not None:
        kwargs["target_accept"] = target_accept
    if sampler == "nutpie":
        kwargs["nuts_sampler_kwargs"] = {"cores": 1}
    else:
        kwargs["cores"] = 1
        kwargs["compute_convergence_checks"] = False

    if _is_bambi(model):
        idata = model.fit(inference_method=sampler, **kwargs)
        model.compute_log_likelihood(idata)
        return idata
    with model:
        idata = pm.sample(nuts_sampler=sampler, **kwargs)
        pm.compute_log_likelihood(idata, model=model, progressbar=False)
    return idata


class WeightedModel:
    """A course model built with ``weighted=True``, compiled once with nutpie, fitted to any subset of its rows.

    Cross-validation fits a model again and again without some rows. Building it anew for each subset changes the
    data's shape, so every refit compiles again (seconds each, the bulk of the work). Here a row left out gets
    weight 0 instead, which leaves exactly the posterior of the model without that row; only the weights change
    between fits (nutpie's ``with_data``), never the compiled code. :meth:`refitter` gives the ``fit(train)`` that
    :func:`lmmteach.crossval.reloo` and :func:`lmmteach.crossval.kfold` take.
    """

    def __init__(self, model, data: pd.DataFrame):
        if "weight" not in model.named_vars:
            raise ValueError("the model has no 'weight' data: build it with weighted=True")
        n_rows = len(model["weight"].get_value())
        if not isinstance(data, pd.DataFrame) or len(data) != n_rows:
            raise ValueError(f"data must be the DataFrame the model was built from ({n_rows} rows)")
        if not data.index.is_unique:
            raise ValueError("data's index has repeated labels: training rows are recognised by their index")
        import nutpie

        self.data = data
        self.has_intercepts = "u" in model.named_vars
        self.compiled = nutpie.compile_pymc_model(model)

    def _weights(self, train: pd.DataFrame) -> np.ndarray:
        """1 for each row of the data that ``train`` holds (by index and unchanged), 0 for the rest."""
        if not isinstance(train, pd.DataFrame):
            raise ValueError(f"train must be a DataFrame of the model's rows, got {type(train).__name__}")
        unknown = train.index.difference(self.data.index)
        if len(unknown) or not train.index.is_unique:
            raise ValueError(f"train must hold rows of the model's data, each once; unknown or repeated index labels: "
                             f"{list(unknown[:5]) or list(train.index[train.index.duplicated()][:5])}")
        original = self.data.loc[train.index, RESPONSE].to_numpy(float)
        if not np.array_equal(train[RESPONSE].to_numpy(float), original):
            raise ValueError(f"train's {RESPONSE} differs from the model's data on the same rows")
        return self.data.index.isin(train.index).astype(float)

    def sample(self, train: pd.DataFrame | None = None, *, seed: int, draws: int = 1000, tune: int = 1000,
               chains: int = 4, target_accept: float | None = None, progressbar: bool | None = None):
        """The posterior given the rows of ``train`` (default: all), with their pointwise log-likelihood stored.

        A mouse missing from ``train``'s ``id`` categories (:func:`lmmteach.crossval.kfold` drops a held-out
        mouse's) loses its intercept from the result, exactly as if the model had been built on ``train``: its
        intercept had no data and followed its prior, and :func:`course_log_lik` integrates it out instead.
        """
        train = self.data if train is None else train
        idata = _run_compiled(self.compiled.with_data(weight=self._weights(train)), seed=seed, draws=draws, tune=tune,
                              chains=chains, target_accept=target_accept, progressbar=progressbar)
        if self.has_intercepts:
            idata.posterior = idata.posterior.sel(id=[str(level) for level in train["id"].cat.categories])
        log_lik = course_log_lik(idata, train).reshape(int(chains), int(draws), len(train))
        rows = np.flatnonzero(self.data.index.isin(train.index))
        idata.add_groups(log_likelihood={RESPONSE: log_lik}, coords={"obs": rows}, dims={RESPONSE: ["obs"]})
        return idata

    def refitter(self, seed: int, **settings) -> Callable[[pd.DataFrame], object]:
        """``fit(train)`` for cross-validation: :meth:`sample` of ``train`` with ``seed`` and ``settings``.

        Without a bar per refit: the cross-validation loop draws one over the refits.
        """
        settings.setdefault("progressbar", False)
        return lambda train: self.sample(train, seed=seed, **settings)


def course_posterior(idata):
    """The posterior under the PyMC models' names, for PyMC and Bambi fits alike.

    ``beta`` over ``coef``, ``sigma``, ``sigma_u`` and ``u`` over ``id`` (those
    the fit has). A Bambi fit names them ``Intercept``, ``Treatment``,
    ``Genotype``, ``Treatment:Genotype``, ``sigma``, ``1|id_sigma`` and
    ``1|id``; they are renamed here once, so no table or plot needs a mapping.
    """
    import xarray as xr

    post = idata.posterior
    if "beta" in post:
        keep = [name for name in ("beta", "sigma", "sigma_u", "u") if name in post]
        return post[keep]
    parts = []
    for name in ("Intercept", "Treatment", "Genotype", "Treatment:Genotype"):
        if name not in post:
            raise ValueError(f"posterior has no variable {name!r}: not a course model fit")
        parts.append(post[name].squeeze(_non_sample_dims(post[name]), drop=True))
    beta = xr.concat(parts, dim="coef").assign_coords(coef=list(COEFS)).transpose("chain", "draw", "coef")
    out = xr.Dataset({"beta": beta, "sigma": post["sigma"]})
    if "1|id_sigma" in post:
        out["sigma_u"] = post["1|id_sigma"]
    if "1|id" in post:
        u = post["1|id"]
        factor_dim = _non_sample_dims(u)[0]
        out["u"] = u.rename({factor_dim: "id"}).assign_coords(id=[str(level) for level in u[factor_dim].values])
    return out


def _is_bambi(model) -> bool:
    return type(model).__module__.startswith("bambi")


def _non_sample_dims(draws) -> list[str]:
    """The dimensions of a posterior variable other than chain and draw."""
    return [dim for dim in draws.dims if dim not in ("chain", "draw")]


def _draws(post, name: str) -> np.ndarray:
    """Draws of ``name`` with chains and draws flattened into the first axis."""
    if name not in post:
        raise ValueError(f"the posterior has no variable {name!r}; it has {list(post.data_vars)}")
    return post[name].stack(__s__=("chain", "draw")).transpose("__s__", *_non_sample_dims(post[name])).values


def _fixed_part(post, data: pd.DataFrame) -> tuple[Design, np.ndarray]:
    """The checked design of ``data`` and the draws of ``X beta``, shape ``(draws, rows)``."""
    d = design(data, needs_id="u" in post)
    coefs = [str(c) for c in post["beta"].coords["coef"].values]
    if coefs != list(d.coefs):
        raise ValueError(f"posterior coefficients {coefs} do not match the design {list(d.coefs)}")
    return d, _draws(post, "beta") @ d.X.T


def _intercept_columns(post, ids) -> list[int | None]:
    """The column of ``u`` holding each row's mouse intercept; None for a mouse the fit never saw."""
    column = {str(label): j for j, label in enumerate(post["u"].coords["id"].values)}
    return [column.get(str(label)) for label in ids]


def course_log_lik(idata, test: pd.DataFrame, u_sd: float | None = None) -> np.ndarray:
    """Held-out log-likelihood of ``test``, shape ``(draws, len(test))``, under a fit of this module's models.

    The ``log_lik`` that :func:`lmmteach.crossval.kfold` and
    :func:`lmmteach.crossval.reloo` need. A test mouse the fit has no
    intercept for gets its intercept integrated out: with scale ``sigma_u``
    (hierarchical model) or the fixed ``u_sd`` (the report's model; default
    :data:`~lmmteach.ciproxifan.SIGMA_U_SD`, its prior).
    """
    post = course_posterior(idata)
    d, mu = _fixed_part(post, test)
    sigma = _draws(post, "sigma")
    if "u" not in post:
        return gaussian_log_lik(mu, d.y, sigma)
    u_draws = _draws(post, "u")
    columns = _intercept_columns(post, test["id"])
    u = np.column_stack([u_draws[:, j] if j is not None else np.full(len(sigma), np.nan) for j in columns])
    if "sigma_u" in post:
        scale = _draws(post, "sigma_u")
    else:
        scale = SIGMA_U_SD if u_sd is None else checks.real_number(u_sd, "u_sd (the scale of a new mouse's intercept)", low=0)
    return gaussian_log_lik(mu, d.y, sigma, u, sigma_u=scale)


def course_fitted_mean(idata, data: pd.DataFrame) -> np.ndarray:
    """Posterior mean of ``mu`` for each row of ``data``: the fixed part plus the mouse's intercept."""
    post = course_posterior(idata)
    _, mu = _fixed_part(post, data)
    if "u" in post:
        columns = _intercept_columns(post, data["id"])
        missing = sorted({str(label) for label, j in zip(data["id"], columns) if j is None})
        if missing:
            raise ValueError(f"the fit has no intercept for mouse/mice {missing}")
        mu = mu + _draws(post, "u")[:, columns]
    return mu.mean(axis=0)
