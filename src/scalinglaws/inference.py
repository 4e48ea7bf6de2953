"""NUTS for scaling-law models: float64, a robust start, chains, and diagnostics.

Scaling-law posteriors are multimodal and badly scaled, which is where naive fits fail.
Before sampling, a batch of BFGS optimisations from spread-out starts (one ``vmap``) finds
the posterior mode on the unconstrained scale; chains start near it. Chains run
``vectorized`` on one device and ``parallel`` across several (GPUs, or CPU devices made
with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` set before JAX starts).
After sampling, divergences, R-hat, bulk/tail ESS, BFMI and tree-depth saturation are
checked and every problem becomes a plain-words warning on the Fit.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Sequence

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jax.flatten_util import ravel_pytree
from jax.scipy.optimize import minimize
from numpyro.infer import MCMC, NUTS, init_to_uniform
from numpyro.infer.util import initialize_model

from ._checks import check_sampler_settings
from .data import Design
from .engine import START_JITTER, Settings, program, stack
from .errors import ScalingLawError, ScalingLawWarning
from .model import (
    auxiliary,
    centred_sites,
    enable_x64,
    level_coordinate_names,
    level_factor,
    level_sites,
    pad,
    structure_of,
)

#: Thresholds of the post-sampling checks.
RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3


def chain_method(chains: int) -> str:
    """``"parallel"`` when there is one device per chain, else ``"vectorized"``.

    >>> chain_method(1)
    'vectorized'
    """
    return "parallel" if chains > 1 and jax.local_device_count() >= chains else "vectorized"


def find_mode(model, y, rng_key, n_starts: int = 32, max_iter: int = 500):
    """Posterior mode on the unconstrained scale from ``n_starts`` BFGS runs in one vmap.

    Returns the best point (a dict of unconstrained site values) and the potential
    energy (negative log density) at every start's optimum, sorted.
    """
    keys = jax.random.split(rng_key, n_starts)
    info = initialize_model(keys, model, model_kwargs={"y": y},
                            init_strategy=init_to_uniform(radius=2.0))
    starts = info.param_info.z
    potential = info.potential_fn
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda x: x[0], starts))
    flat_starts = jax.vmap(lambda z: ravel_pytree(z)[0])(starts)

    def objective(x):
        value = potential(unravel(x))
        return jnp.where(jnp.isfinite(value), value, 1e30)

    def solve(x0):
        result = minimize(objective, x0, method="BFGS", options={"maxiter": max_iter})
        return result.x, objective(result.x)

    xs, energies = jax.jit(jax.vmap(solve))(flat_starts)
    energies = np.asarray(energies)
    finite = np.isfinite(energies) & (energies < 1e29)
    if not finite.any():
        raise ScalingLawError(
            "no starting point gave a finite log density: the priors put no mass where the "
            "data are (e.g. E above the smallest loss); check the priors and the target column"
        )
    best = int(np.argmin(np.where(finite, energies, np.inf)))
    return unravel(xs[best]), np.sort(energies[finite])


def _dims(spec, design: Design) -> dict[str, list[str]]:
    dims: dict[str, list[str]] = {"y": ["row"]}
    for site in level_sites(spec, design):
        dims[site.name] = [site.factor]
    for name, factor in centred_sites(spec, design):
        dims[f"{name}_offset_{factor}" if name != "run" else "run_offset"] = [factor]
    for p in spec.law.params:
        for f in design.vary.get(p.name, ()):
            dims[f"{p.sampled_name}_{f}"] = [f]
    factor = level_factor(spec, design) if spec.coordinates == "level" else ""
    if factor:
        dims.update({name: [factor] for name in level_coordinate_names(spec, factor)})
    return dims


def _coords(design: Design) -> dict[str, Sequence]:
    coords: dict[str, Sequence] = {"row": np.arange(design.n_rows)}
    for name, factor in design.factors.items():
        coords[name] = list(factor.levels)
    return coords


def constant_data(spec, design: Design) -> xr.Dataset:
    """The data the posterior was conditioned on: inputs, target, factor codes, references."""
    data = {var: ("row", values) for var, values in design.variables.items()}
    data["target"] = ("row", design.y)
    for name, factor in design.factors.items():
        data[f"{name}__code"] = ("row", factor.codes)
    data["row_label"] = ("row", np.asarray([str(i) for i in design.index]))
    ds = xr.Dataset(data, coords=_coords(design))
    ds.attrs.update({f"log_reference_{k}": v for k, v in design.log_reference.items()})
    ds.attrs["vary"] = str({k: list(v) for k, v in design.vary.items()})
    return ds


def diagnose(idata: az.InferenceData, max_tree_depth: int) -> list[str]:
    """Plain-words warnings about a posterior; empty when every check passes.

    R-hat compares chains within each group of :func:`scalinglaws.results.chain_groups`
    (one group unless a cut fit says otherwise) and ESS adds over the groups.
    """
    from .results import chain_groups

    out = []
    stats = idata.sample_stats
    n_draws = stats.sizes["chain"] * stats.sizes["draw"]
    divergent = int(stats["diverging"].sum())
    if divergent:
        out.append(f"{divergent} of {n_draws} draws diverged: the posterior has regions the "
                   f"sampler cannot explore, so intervals may be wrong. Raise target_accept "
                   f"(e.g. 0.95), tighten priors, or share more parameters; in a hierarchy "
                   f"whose groups are each well measured and clearly different, try "
                   f"parameterization='centred'.")
    if "n_steps" in stats:
        saturated = float((stats["n_steps"] >= 2**max_tree_depth - 1).mean())
        if saturated > 0.01:
            out.append(f"{saturated:.0%} of draws hit the maximum tree depth "
                       f"({max_tree_depth}): the posterior is badly scaled or nearly "
                       f"unidentified; sampling is slow and may be incomplete.")
    names = [v for v in idata.posterior.data_vars if not auxiliary(v)]
    groups = chain_groups(idata.posterior[names])
    if groups[0].sizes["chain"] > 1:
        rhats = [az.rhat(g) for g in groups]
        worst = {k: max(float(r[k].max()) for r in rhats) for k in names}
        bad = {k: round(v, 3) for k, v in worst.items() if not v <= RHAT_MAX}
        if bad:
            out.append(f"R-hat above {RHAT_MAX} for {bad}: chains disagree, so the posterior "
                       f"is not reliable. Run more warmup/draws or check for multiple modes.")
    for method in ("bulk", "tail"):
        ess = sum(az.ess(g, method=method) for g in groups)
        low = {k: int(v.min()) for k, v in ess.data_vars.items() if float(v.min()) < ESS_MIN}
        if low:
            out.append(f"{method} ESS below {ESS_MIN} for {low}: too few effective draws for "
                       f"stable {'means' if method == 'bulk' else 'interval ends'}; run more "
                       f"draws.")
    bfmi = np.atleast_1d(az.bfmi(idata))
    if (bfmi < BFMI_MIN).any():
        out.append(f"low energy BFMI {np.round(bfmi, 2).tolist()} (< {BFMI_MIN}): the sampler "
                   f"explores the energy poorly, often a funnel in a hierarchy; consider "
                   f"tighter priors on the group standard deviations.")
    return out


def make_mcmc(model, *, chains: int, warmup: int, draws: int, target_accept: float,
              dense_mass, max_tree_depth: int, progress: bool,
              jit_model_args: bool = False) -> MCMC:
    """A NumPyro MCMC with NUTS and this package's settings (see :func:`sample_from_mode`).

    ``jit_model_args=True`` compiles the model's arguments as inputs, so that running it
    again on arguments of the same shapes (``fixed`` values of a cut model) reuses the
    compiled sampler.
    """
    kernel = NUTS(model, target_accept_prob=target_accept, dense_mass=dense_mass,
                  max_tree_depth=max_tree_depth)
    return MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method=chain_method(chains), progress_bar=progress,
                jit_model_args=jit_model_args)


def run_mcmc(mcmc: MCMC, mode: dict, rng_key, *, coords: dict, dims: dict,
             **model_kwargs) -> az.InferenceData:
    """Run ``mcmc`` with every chain started near ``mode`` (jittered by 0.1 on the
    unconstrained scale); InferenceData with ``n_steps`` in its sample_stats."""
    key_jitter, key_sample = jax.random.split(rng_key)
    chains = mcmc.num_chains
    batch = (chains,) if chains > 1 else ()  # numpyro wants no chain axis for one chain
    keys = jax.random.split(key_jitter, len(mode))
    init = {name: value + 0.1 * jax.random.normal(key, (*batch, *jnp.shape(value)))
            for key, (name, value) in zip(keys, sorted(mode.items()), strict=True)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="There are not enough devices")
        mcmc.run(key_sample, init_params=init,
                 extra_fields=("diverging", "num_steps", "energy", "potential_energy"),
                 **model_kwargs)
    idata = az.from_numpyro(mcmc, coords=coords, dims=dims)
    if "num_steps" in idata.sample_stats:
        idata.sample_stats = idata.sample_stats.rename({"num_steps": "n_steps"})
    return idata


def sample_from_mode(model, y, mode: dict, rng_key, *, chains: int, warmup: int, draws: int,
                     target_accept: float, dense_mass, max_tree_depth: int,
                     progress: bool, coords: dict, dims: dict) -> az.InferenceData:
    """NUTS with every chain started near ``mode`` (jittered by 0.1 on the unconstrained
    scale), as InferenceData with ``n_steps`` in its sample_stats."""
    mcmc = make_mcmc(model, chains=chains, warmup=warmup, draws=draws,
                     target_accept=target_accept, dense_mass=dense_mass,
                     max_tree_depth=max_tree_depth, progress=progress)
    return run_mcmc(mcmc, mode, rng_key, coords=coords, dims=dims, y=y)


def run_nuts(spec, design: Design, *, seed: int = 0, chains: int = 4, warmup: int = 500,
             draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
             max_tree_depth: int = 10, dense_mass: bool = True,
             n_starts: int = 32) -> tuple[az.InferenceData, list[str]]:
    """Sample the posterior of ``spec`` on ``design`` and check it.

    Returns the InferenceData (posterior, sample_stats, log_likelihood, observed_data,
    constant_data) and the list of diagnostic warnings, each also issued as a
    :class:`~scalinglaws.errors.ScalingLawWarning`. It is :func:`run_nuts_many` for one
    design: the same compiled program, so the same seed gives the same draws.
    """
    [(idata, problems)] = run_nuts_many(
        spec, [design], seeds=[seed], chains=chains, warmup=warmup, draws=draws,
        target_accept=target_accept, progress=progress, max_tree_depth=max_tree_depth,
        dense_mass=dense_mass, n_starts=n_starts, stacklevel=4)
    return idata, problems


def run_nuts_many(spec, designs: Sequence[Design], *, seeds: Sequence[int], chains: int = 4,
                  warmup: int = 500, draws: int = 1000, target_accept: float = 0.9,
                  progress: bool | None = None, max_tree_depth: int = 10,
                  dense_mass: bool = True, n_starts: int = 32,
                  labels: Sequence[str] | None = None,
                  stacklevel: int = 3) -> list[tuple[az.InferenceData, list[str]]]:
    """Sample the posteriors of ``spec`` on several designs of one structure at once.

    All designs are padded to one :class:`~scalinglaws.model.Structure` and run through
    one compiled program (:mod:`scalinglaws.engine`): a multi-start BFGS mode search
    over every fit's starts, then ``len(designs) x chains`` NUTS chains, each started
    near its fit's mode. Fit ``k`` draws only from ``seeds[k]``, so a design fitted alone
    with that seed, in the same padded structure, gets the same draws. Returns one
    ``(InferenceData, warnings)`` per design, in order; ``labels`` name the designs in
    warnings and errors.
    """
    for seed in seeds:
        check_sampler_settings(seed=seed, chains=chains, warmup=warmup, draws=draws,
                               target_accept=target_accept, max_tree_depth=max_tree_depth,
                               dense_mass=dense_mass, n_starts=n_starts, progress=progress)
    enable_x64()
    designs = list(designs)
    labels = list(labels) if labels is not None else [""] * len(designs)
    if progress is None:
        progress = sys.stderr.isatty()
    structure = structure_of(designs)
    datas = [pad(d, structure) for d in designs]
    settings = Settings(chains=chains, warmup=warmup, draws=draws,
                        target_accept=float(target_accept), max_tree_depth=max_tree_depth,
                        dense_mass=(dense_mass if isinstance(dense_mass, bool) else
                                    tuple(tuple(block) for block in dense_mass)),
                        n_starts=n_starts)
    started = time.perf_counter()
    prog = program(spec, structure, settings, datas[0])
    keys = [jax.random.split(jax.random.PRNGKey(seed)) for seed in seeds]
    starts = np.concatenate([prog.starts(key_mode, n_starts) for key_mode, _ in keys])
    xs, energies = prog.find_modes(starts, stack(datas, n_starts))
    modes = []
    for k, label in enumerate(labels):
        own = slice(k * n_starts, (k + 1) * n_starts)
        finite = np.isfinite(energies[own]) & (energies[own] < 1e29)
        if not finite.any():
            raise ScalingLawError(
                f"{label + ': ' if label else ''}no starting point gave a finite log density: "
                f"the priors put no mass where the data are (e.g. E above the smallest loss); "
                f"check the priors and the target column")
        modes.append(xs[own][int(np.argmin(np.where(finite, energies[own], np.inf)))])
    if progress:
        print(f"scalinglaws: mode search done ({time.perf_counter() - started:.1f} s); "
              f"sampling {len(designs)} x {chains} chains of {warmup} + {draws}",
              file=sys.stderr)
    chain_keys, inits = [], []
    for (_, key_sample), mode in zip(keys, modes, strict=True):
        key_jitter, key_chains = jax.random.split(key_sample)
        inits.append(mode + START_JITTER * np.asarray(
            jax.random.normal(key_jitter, (chains, prog.dim))))
        chain_keys.append(np.asarray(jax.random.split(key_chains, chains)))
    per_chain = stack(datas, chains)
    out = prog.sample(np.concatenate(chain_keys), np.concatenate(inits), per_chain)
    sites, loglik = prog.constrained(out.pop("x"), per_chain)
    if progress:
        print(f"scalinglaws: sampled in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    results = []
    for k, (design, label) in enumerate(zip(designs, labels, strict=True)):
        own = slice(k * chains, (k + 1) * chains)
        idata = _inference_data(spec, design, {n: v[own] for n, v in sites.items()},
                                loglik[own], {n: v[own] for n, v in out.items()})
        problems = diagnose(idata, max_tree_depth)
        for message in problems:
            warnings.warn(f"{label}: {message}" if label else message, ScalingLawWarning,
                          stacklevel=stacklevel)
        results.append((idata, problems))
    return results


def _inference_data(spec, design: Design, sites: dict, loglik: np.ndarray,
                    stats: dict) -> az.InferenceData:
    """One fit's InferenceData from its chains' padded results (padding cut off)."""
    dims = _dims(spec, design)
    posterior = {}
    for name, values in sites.items():
        if name in dims and dims[name] != ["row"]:
            values = values[:, :, : len(design.factors[dims[name][0]].levels)]
        posterior[name] = values
    stats = dict(stats)
    stats["tree_depth"] = np.log2(stats["n_steps"]).astype(int) + 1
    n = design.n_rows
    observed = np.log(design.y) if spec.scale == "log" else np.asarray(design.y)
    idata = az.from_dict(posterior=posterior, sample_stats=stats,
                         log_likelihood={"y": loglik[:, :, :n]}, observed_data={"y": observed},
                         coords=_coords(design), dims=dims)
    idata.add_groups(constant_data=constant_data(spec, design))
    return idata


__all__ = ["chain_method", "diagnose", "enable_x64", "find_mode", "make_mcmc",
           "run_mcmc", "run_nuts", "run_nuts_many", "sample_from_mode"]
