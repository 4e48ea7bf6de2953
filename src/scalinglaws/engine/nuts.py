"""NUTS for scaling-law models: designs in, InferenceData and plain-words warnings out.

Scaling-law posteriors are multimodal and badly scaled, which is where naive fits fail.
:func:`run_nuts_many` pads every design to one structure and runs one compiled program
(:mod:`.program`): a batched multi-start BFGS finds each fit's posterior mode on the
unconstrained scale, and its chains start from the Laplace approximation there
(:func:`.sampler.laplace_start`). The draws become ArviZ
InferenceData, checked by :func:`.diagnostics.diagnose`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from functools import partial
from typing import Any

import arviz as az
import numpy as np
from numpyro.distributions import biject_to, constraints

from .._checks import check_sampler_settings
from .._precision import enable_x64
from ..data import Design, design_coords, design_dataset
from ..errors import ScalingLawWarning
from ..model import (
    Structure,
    auxiliary,
    centred_sites,
    level_coordinate_names,
    level_factor,
    level_sites,
    offset_sites,
    pad,
    pooled_offsets,
    share_scaled_names,
    structure_of,
)
from ..spec import factor_key, per_factor
from .convergence import convergence_by_name
from .diagnostics import advised_parameterization, keep_separation
from .diagnostics import problems as diagnosis
from .program import Settings, best_start, program, stack

#: Reports, at DEBUG level, how long each phase of a batched fit took (``phases: ...``).
log = logging.getLogger(__name__)


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
        dims.update({name: [factor] for name in (*level_coordinate_names(spec, factor),
                                                 *share_scaled_names(spec, design))})
    return dims


def run_nuts(spec, design: Design, *, seed: int = 0, chains: int = 4, warmup: int = 500,
             draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
             max_tree_depth: int = 10, dense_mass: bool = True,
             n_starts: int = 32,
             search: Search | None = None) -> tuple[az.InferenceData, list[str]]:
    """Sample the posterior of ``spec`` on ``design`` and check it.

    Returns the InferenceData (posterior, sample_stats, log_likelihood, observed_data,
    constant_data) and the list of diagnostic warnings, each also issued as a
    :class:`~scalinglaws.errors.ScalingLawWarning`. It is :func:`run_nuts_many` for one
    design: the same compiled program, so the same seed gives the same draws.
    """
    [(idata, problems)] = run_nuts_many(
        spec, [design], seeds=[seed], chains=chains, warmup=warmup, draws=draws,
        target_accept=target_accept, progress=progress, max_tree_depth=max_tree_depth,
        dense_mass=dense_mass, n_starts=n_starts, stacklevel=4, search=search)
    return idata, problems


def run_nuts_many(spec, designs: Sequence[Design], *, seeds: Sequence[int], chains: int = 4,
                  warmup: int = 500, draws: int = 1000, target_accept: float = 0.9,
                  progress: bool | None = None, max_tree_depth: int = 10,
                  dense_mass: bool = True, n_starts: int = 32,
                  labels: Sequence[str] | None = None, stacklevel: int = 3,
                  defer: bool = False,
                  search: Search | None = None) -> list[tuple[az.InferenceData, list[str]]]:
    """Sample the posteriors of ``spec`` on several designs of one structure at once.

    All designs are padded to one :class:`~scalinglaws.model.Structure` and run through
    one compiled program (:mod:`scalinglaws.engine`): a multi-start BFGS mode search
    over every fit's starts, then ``len(designs) x chains`` NUTS chains, each started
    from the Laplace approximation at its fit's mode. Fit ``k`` draws only from
    ``seeds[k]``, so a design fitted alone with that seed, in the same padded structure,
    gets the same draws. Returns one
    ``(InferenceData, warnings)`` per design, in order; ``labels`` name the designs in
    warnings and errors. With ``defer``, each InferenceData comes as the function that
    builds it (for a thousand fits, building them all costs more than sampling them).
    ``search``: these designs' mode searches, already done (:func:`auto_parameterization`
    gives them); used where they searched this program's model with its settings and
    padding (:meth:`Search.serves`), else the modes are searched again.
    """
    for seed in seeds:
        check_sampler_settings(seed=seed, chains=chains, warmup=warmup, draws=draws,
                               target_accept=target_accept, max_tree_depth=max_tree_depth,
                               dense_mass=dense_mass, n_starts=n_starts, progress=progress)
    designs, labels, structure, datas = _padded(designs, labels)
    if progress is None:
        progress = sys.stderr.isatty()
    settings = _settings(chains, draws, max_tree_depth, dense_mass, n_starts)
    started = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = time.perf_counter() - started - sum(phases.values())

    prog = program(spec, structure, settings, datas[0])
    per_fit, per_chain = stack(datas, 1), stack(datas, chains)
    # the sampler, the longest to compile, starts compiling before the seeds' small
    # program: it needs only the shape of the chains' keys
    prog.compile_ahead(prog.keys_like(len(seeds)), per_fit, per_chain)
    seeded = [prog.seeded(seed) for seed in seeds]
    chain_keys = np.concatenate([keys for keys, _ in seeded])
    phase("setup")
    if search is not None and search.serves(prog, seeds):
        optima = search.optima
    else:
        optima = _optima(prog, seeded, datas, labels, n_starts)
    phase("mode search")
    if progress:
        print(f"scalinglaws: mode search done ({time.perf_counter() - started:.1f} s); "
              f"sampling {len(designs)} x {chains} chains of {warmup} + {draws}",
              file=sys.stderr)
    modes, hessians, separations = _curvature(spec, prog, designs, optima, per_fit)
    phase("curvature")
    out = prog.sample(chain_keys, np.repeat(modes, chains, axis=0),
                      np.repeat(hessians, chains, axis=0), per_chain, warmup=warmup,
                      target_accept=float(target_accept))
    phase("sampling")
    sites, loglik = prog.constrained(out.pop("x"), per_chain)
    phase("constraining")
    if progress:
        print(f"scalinglaws: sampled in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    quantities = _convergence_of_fits(sites, len(designs), chains)
    phase("diagnostics")
    results = []
    level_coordinates = spec.could_use_level_coordinates
    for k, (design, label) in enumerate(zip(designs, labels, strict=True)):
        own = slice(k * chains, (k + 1) * chains)
        dims = _dims(spec, design)
        idata = partial(_inference_data, spec, design, dims, separations[k],
                        {n: v[own] for n, v in sites.items()}, loglik[own],
                        {n: v[own] for n, v in out.items()})
        problems = diagnosis(
            diverging=out["diverging"][own], n_steps=out["n_steps"][own],
            energy=out["energy"][own], max_tree_depth=max_tree_depth,
            quantities={name: {stat: _own_levels(values[k], name, dims, design, 0)
                               for stat, values in stats.items()}
                        for name, stats in quantities.items()},
            factors=sorted(design.factors, key=len, reverse=True), chains_per_group=chains,
            log_density=out["lp"][own], pooled=pooled_offsets(spec, design),
            separation=separations[k],
            level_coordinates=level_coordinates)
        for message in problems:
            warnings.warn(f"{label}: {message}" if label else message, ScalingLawWarning,
                          stacklevel=stacklevel)
        results.append((idata if defer else idata(), problems))
    phase("InferenceData" if not defer else "warnings")
    log.debug("phases of %d fits x %d chains: %s", len(designs), chains,
              ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items()))
    return results


def _padded(designs: Sequence[Design], labels: Sequence[str] | None):
    """The designs as a list, their labels (empty by default), the structure they share
    and each one's data padded to it; float64 on."""
    enable_x64()
    designs = list(designs)
    labels = list(labels) if labels is not None else [""] * len(designs)
    structure = structure_of(designs)
    return designs, labels, structure, [pad(d, structure) for d in designs]


def _curvature(spec, prog, designs: list[Design], optima, per_fit) -> tuple:
    """Each fit's mode and Hessian in the sampler's coordinates, from the optima of its
    mode search, and the :func:`level_separation` they give."""
    modes, hessians = prog.curvature(np.stack(optima), per_fit)
    separations = [level_separation(spec, design, prog.unravel, mode, hess)
                   for design, mode, hess in zip(designs, modes, hessians, strict=True)]
    return modes, hessians, separations


def _settings(chains: int, draws: int, max_tree_depth: int, dense_mass,
              n_starts: int) -> Settings:
    return Settings(chains=chains, draws=draws, max_tree_depth=max_tree_depth,
                    dense_mass=(dense_mass if isinstance(dense_mass, bool) else
                                tuple(tuple(block) for block in dense_mass)),
                    n_starts=n_starts)


def _optima(prog, seeded: list, datas: list[dict], labels: list[str],
            n_starts: int) -> tuple[np.ndarray, ...]:
    """Each fit's posterior mode, in the coordinates of the model searched: the best of
    its ``n_starts`` BFGS runs from the starts its seed drew (``seeded``:
    :meth:`.program.Program.seeded` per fit)."""
    starts = np.concatenate([starts for _, starts in seeded])
    xs, energies = prog.find_modes(starts, stack(datas, n_starts))
    optima = []
    for k, label in enumerate(labels):
        own = slice(k * n_starts, (k + 1) * n_starts)
        optima.append(xs[own][best_start(energies[own], label)])
    return tuple(optima)


@dataclasses.dataclass(frozen=True)
class Search:
    """Mode searches done once, for another program that searches the same model:
    ``optima[k]``, the k-th design's best optimum from ``seeds[k]``, found in the model
    of ``spec`` (:attr:`.program.Program.search_spec`) with ``settings``, the designs
    padded to ``structure``."""

    spec: Any
    structure: Structure
    settings: Settings
    seeds: tuple[int, ...]
    optima: tuple[np.ndarray, ...]

    def take(self, indices: Sequence[int]) -> Search:
        """The searches of the designs at ``indices``, in that order."""
        return dataclasses.replace(self, seeds=tuple(self.seeds[k] for k in indices),
                                   optima=tuple(self.optima[k] for k in indices))

    def serves(self, prog, seeds: Sequence[int]) -> bool:
        """Whether ``prog`` with ``seeds`` would search for exactly these optima."""
        return (self.spec == prog.search_spec and self.structure == prog.structure
                and tuple(seeds) == self.seeds
                and (self.settings.n_starts, self.settings.max_iter)
                == (prog.settings.n_starts, prog.settings.max_iter))


def auto_parameterization(spec, designs: Sequence[Design], *, seeds: Sequence[int],
                          chains: int = 4, draws: int = 1000, max_tree_depth: int = 10,
                          dense_mass: bool = True, n_starts: int = 32,
                          labels: Sequence[str] | None = None,
                          ) -> tuple[list[str | dict], Search]:
    """What ``parameterization="auto"`` samples for each design: each pooled parameter
    centred where its groups' :func:`level_separation` at the posterior mode (found in
    the non-centred model, as every fit's mode is) reaches
    :data:`.diagnostics.WELL_SEPARATED`, non-centred elsewhere, and per factor
    (``"E[seed]"``) where a parameter's factors fall on both sides of that line;
    ``"centred"`` or ``"noncentred"`` where all agree, else a dict. The mode search and
    curvature are those of the non-centred model with the fit's settings, so a design
    that stays non-centred samples with programs this compiled. Returns the choices and the
    :class:`Search` behind them, which :func:`run_nuts_many` takes instead of searching
    again: each choice's program searches this same non-centred model.
    """
    designs, labels, structure, datas = _padded(designs, labels)
    plain = dataclasses.replace(spec, parameterization="noncentred")
    settings = _settings(chains, draws, max_tree_depth, dense_mass, n_starts)
    prog = program(plain, structure, settings, datas[0])
    optima = _optima(prog, [prog.seeded(seed) for seed in seeds], datas, labels, n_starts)
    *_, separations = _curvature(plain, prog, designs, optima, stack(datas, 1))
    out = [advised_parameterization(pooled_offsets(plain, design), separation)
           for design, separation in zip(designs, separations, strict=True)]
    return out, Search(prog.search_spec, structure, settings, tuple(seeds), optima)


def level_separation(spec, design: Design, unravel, mode: np.ndarray,
                     hessian: np.ndarray) -> dict[str, float]:
    """How clearly the data tell each pooled parameter's groups apart, at the posterior
    mode: the spread (sd) of the groups' estimated offsets over their own standard
    errors, each error read from the curvature of the log likelihood along that offset
    with the rest held at the mode (the Hessian of the potential less the offset's prior
    curvature); ``{name: ratio}``, the smallest over the parameter's factors, and for a
    parameter that varies by several factors each one's as ``"name[factor]"`` too.

    Far above 1 (the demo's E, A and B: 70, 25, 33), every group is well measured and
    the groups clearly differ, which centred offsets sample best; a few or below
    (Gadre's E, A and B across three datasets: 4.7, 1.6, 0.9), the population scale is
    barely identified and non-centred offsets avoid its funnel
    (:data:`.diagnostics.WELL_SEPARATED` draws the line). It phrases the hierarchy advice
    of the sampler's warnings (:func:`.diagnostics.hierarchy_advice`); level-coordinate
    terms, which have no offset sites, are left out.
    """
    index = unravel(np.arange(unravel.size))
    values = unravel(np.asarray(mode))
    curvature = np.diag(np.asarray(hessian))
    out: dict[str, float] = {}
    centred = centred_sites(spec, design)
    for name in dict.fromkeys(factor_key(key)[0] for key in pooled_offsets(spec, design)):
        factors = [spec.run] if name == "run" else design.vary.get(name, ())
        by_factor = {}
        for factor in factors:
            sd, z, offset = offset_sites(name, factor)
            n = len(design.factors[factor].levels)
            how = "centred" if (name, factor) in centred else "noncentred"
            if how == "centred" and offset in index and sd in index:
                # offset ~ Normal(0, sd): the prior's curvature is 1 / sd^2
                prior = spec.prior("run_sd" if name == "run" else f"{name}_sd").to_numpyro()
                scale = _constrained(prior.support, float(np.ravel(values[sd])[0]))
                estimate = np.ravel(values[offset])[:n]
                precision = curvature[np.ravel(index[offset])[:n]] - scale ** -2
            elif how != "centred" and z in index:
                # z ~ Normal(0, 1), offset = sd * z: sd cancels from the ratio
                estimate = np.ravel(values[z])[:n]
                precision = curvature[np.ravel(index[z])[:n]] - 1.0
            else:
                continue
            by_factor[factor] = float(
                np.sqrt(np.var(estimate) * np.mean(np.maximum(precision, 0.0))))
        if by_factor:
            out[name] = min(by_factor.values())
        if len(by_factor) > 1:
            out.update({per_factor(name, factor): r for factor, r in by_factor.items()})
    return out


def _constrained(support, u: float) -> float:
    """``biject_to(support)(u)`` for one number: in NumPy for a positive support (a group
    scale's), since an eager JAX call compiles a program, which a cold fit waits for.

    >>> _constrained(constraints.positive, 0.0), _constrained(constraints.unit_interval, 0.0)
    (1.0, 0.5)
    """
    if support is constraints.positive:
        return float(np.exp(u))
    return float(biject_to(support)(u))


def _convergence_of_fits(sites: dict, fits: int, chains: int) -> dict[str, dict]:
    """R-hat, bulk and tail ESS of every reported site of every fit, in one call:
    ``{name: {stat: (fits, *site shape)}}`` from ``sites`` of shape
    ``(fits * chains, draws, *site shape)``."""
    values = {}
    for name, array in sites.items():
        if not auxiliary(name):
            per_fit = array.reshape(fits, chains, *array.shape[1:])
            values[name] = np.moveaxis(per_fit, (1, 2), (-2, -1))
    return convergence_by_name(values, lead=1)


def _own_levels(values: np.ndarray, name: str, dims: dict, design: Design,
                axis: int) -> np.ndarray:
    """A site's values cut to the design's own levels along ``axis``, where the site is
    indexed by a factor (whose levels were padded to the batch's structure)."""
    if name in dims and dims[name] != ["row"]:
        count = len(design.factors[dims[name][0]].levels)
        return values[(slice(None),) * axis + (slice(0, count),)]
    return values


def _inference_data(spec, design: Design, dims: dict, separation: dict, sites: dict,
                    loglik: np.ndarray, stats: dict) -> az.InferenceData:
    """One fit's InferenceData from its chains' padded results (padding cut off), with
    its :func:`level_separation` in the sample statistics' attributes (``diagnose``
    reads it back, so a saved fit gives the same advice)."""
    posterior = {name: _own_levels(values, name, dims, design, 2)
                 for name, values in sites.items()}
    stats = dict(stats)
    stats["tree_depth"] = np.log2(stats["n_steps"]).astype(int) + 1
    n = design.n_rows
    observed = np.log(design.y) if spec.scale == "log" else np.asarray(design.y)
    idata = az.from_dict(posterior=posterior, sample_stats=stats,
                         log_likelihood={"y": loglik[:, :, :n]}, observed_data={"y": observed},
                         coords=design_coords(design), dims=dims)
    idata.add_groups(constant_data=design_dataset(design))
    keep_separation(idata, separation)
    return idata


__all__ = ["Search", "auto_parameterization", "level_separation", "run_nuts",
           "run_nuts_many"]
