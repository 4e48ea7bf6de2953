"""The one place where a (spec, design) pair becomes a NumPyro model.

For parameter θ and row i, on θ's unconstrained scale (log, logit or identity)::

    θ_i = μ_θ + Σ_f σ_{θ,f} · z_{θ,f,level_f(i)},   z ~ Normal(0, 1)   (non-centred)

or, with ``parameterization="centred"`` (for all or per parameter), the same offsets
sampled centred (``offset ~ Normal(0, σ)``, ``z = offset / σ`` recorded); see
:func:`centred_sites`.

Coefficients marked ``reference`` in the law are sampled at the reference scale and
converted back with the law's ``from_reference``. With ``coordinates="level"`` the law's
additive terms are sampled as its level and the terms' shares
(:func:`sample_level_coordinates`), with the same density. The observation model is Normal or
Student-t noise on log y (or y), with an optional per-run offset; its scale may vary by a
factor and, where the law defines one, by the law's own noise factor (:func:`row_noise`).
With Normal noise the run offsets are integrated out exactly
(:func:`integrated_run_offsets`): NUTS samples the law's parameters from their marginal
posterior and each run's offset comes from its exact conditional posterior, so the
hundreds of offsets of a sweep add no funnel.

The same functions assemble parameters inside the model and in
:func:`scalinglaws.prediction.predict_draws`, so fitting and prediction cannot disagree.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.reparam import Reparam

from ._precision import enable_x64
from .data import Design, Factor
from .errors import ScalingLawError
from .laws.expr import LOG_KEY
from .priors import Prior
from .spec import is_centred, per_factor


class Tracing:
    """Held while a NumPyro model is traced: a re-entrant lock that also turns NumPyro's
    validation of distributions off for as long as it is held, then back as it was.

    NumPyro's effect handlers are one stack for the whole process, so two threads tracing
    models at once would push their sites onto each other's traces. Every trace in the
    package (building a program's layout, lowering a program, reading a model's sites)
    holds this lock (:data:`TRACING`, or :func:`traced` for a function given to
    ``jax.jit``); compiled programs run outside it, so fits and predictions in several
    threads are correct, and sample side by side.

    With validation on, every ``log_prob`` of a traced model is also masked by its
    distribution's support, which changes the compiled program (and so, through its
    rounding, the draws) without changing any density the package evaluates: the
    package's data and parameters lie in their supports by construction. Validation is a
    process-wide setting, on by default from NumPyro 0.22 and off before, and
    ``numpyro.validation_enabled`` (which NumPyro 0.21 leaves on when it exits) changes
    it. Traced without it, a program and its draws are the same whatever the setting, and
    the demo's first fit takes 0.94 times as long (3.64 s against 3.88 s with validation
    on; ``benchmarks/compile_modes.py``, ``docs/modeling.md``).

    >>> import numpyro.distributions as dist
    >>> with TRACING:
    ...     dist.Distribution._validate_args
    False
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._depth = 0
        self._validation = None

    def __enter__(self) -> Tracing:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            self._validation = dist.Distribution._validate_args
            dist.Distribution.set_default_validate_args(False)
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if self._depth == 0:
            dist.Distribution.set_default_validate_args(self._validation)
        self._lock.release()


#: The process's one :class:`Tracing`.
TRACING = Tracing()


def traced(fn: Callable) -> Callable:
    """``fn`` run holding :data:`TRACING`: for a function given to ``jax.jit``, whose body
    runs only while JAX traces it (the compiled program runs without the lock).

    >>> import jax
    >>> jax.jit(traced(lambda x: x + 1.0))(1.0).item()
    2.0
    """

    @functools.wraps(fn)
    def holding(*args, **kwargs):
        with TRACING:
            return fn(*args, **kwargs)

    return holding

RUN_SITE = "run"


@dataclass(frozen=True)
class LevelSite:
    """A sampled vector with one entry per level of a factor."""

    name: str
    factor: str
    prior: Prior | None  # None: standard-normal z of a non-centred offset


#: JAX settings that change the program traced from the same code: the random keys'
#: implementation and how Threefry lays out its bits (so the draws of a seed), and the
#: default precision of matrix products.
TRACED_SETTINGS = ("jax_default_prng_impl", "jax_threefry_partitionable",
                   "jax_default_matmul_precision")


def traced_settings() -> tuple[str, ...]:
    """The values of :data:`TRACED_SETTINGS` in this process, as text: part of every
    program's key, in the process (:class:`ProgramCache`) and in the persistent cache, so
    that a program traced under other settings is never reused.

    >>> traced_settings()[0]
    'threefry2x32'
    """
    return tuple(str(getattr(jax.config, name, None)) for name in TRACED_SETTINGS)


class ProgramCache:
    """The compiled programs of a process, one per (spec, key), least recently used
    dropped beyond ``limit``.

    A spec whose JSON says all there is to it (``spec.portable``) is keyed by that text
    (an equal spec built again reuses its programs); a spec with a law built in Python,
    registered or not, by the object, which the cache keeps alive so that its id stays
    unique.

    >>> import scalinglaws as sl
    >>> cache = ProgramCache(limit=2)
    >>> cache.get(sl.ScalingModel("chinchilla", target="loss"), "rows=96", lambda: "made")
    'made'
    >>> cache.get(sl.ScalingModel("chinchilla", target="loss"), "rows=96", lambda: "again")
    'made'
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._items: OrderedDict = OrderedDict()

    def get(self, spec, key, make: Callable[[], Any]) -> Any:
        """The program of (``spec``, ``key``) under JAX's present settings
        (:func:`traced_settings`), made by ``make()`` the first time."""
        full = (spec.to_json() if spec.portable else ("object", id(spec)), key,
                traced_settings())
        if full in self._items:
            self._items.move_to_end(full)
        else:
            self._items[full] = (make(), spec)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
        return self._items[full][0]


def _to_unconstrained(constraint: str, x):
    if constraint == "positive":
        return jnp.log(x)
    if constraint == "unit":
        return jnp.log(x) - jnp.log1p(-x)
    return x


def _from_unconstrained(constraint: str, u):
    if constraint == "positive":
        return jnp.exp(u)
    if constraint == "unit":
        return jax.nn.sigmoid(u)
    return u


def _varying(spec, design: Design, name: str) -> tuple[str, ...]:
    return design.vary.get(name, ())


def level_sites(spec, design: Design) -> list[LevelSite]:
    """Every per-level sampled vector of the model, in sampling order."""
    sites = []
    for p in spec.law.params:
        factors = _varying(spec, design, p.name)
        if spec.pooling == "none" and factors:
            sites.append(LevelSite(f"{p.sampled_name}_{factors[0]}", factors[0],
                                   spec.prior(p.name)))
        else:
            sites.extend(LevelSite(f"{p.name}_z_{f}", f, None) for f in factors)
    sigma_factors = _varying(spec, design, "sigma")
    if spec.pooling == "none" and sigma_factors:
        sites.append(LevelSite(f"sigma_{sigma_factors[0]}", sigma_factors[0],
                               spec.prior("sigma")))
    else:
        sites.extend(LevelSite(f"sigma_z_{f}", f, None) for f in sigma_factors)
    if spec.run and spec.run in design.factors:
        sites.append(LevelSite(f"{RUN_SITE}_z", spec.run, None))
        if integrates_runs(spec, design):
            sites.append(LevelSite(f"{RUN_SITE}_eps", spec.run, None))
    return sites


def centred_sites(spec, design: Design) -> frozenset[tuple[str, str]]:
    """(parameter, factor) pairs whose offsets are sampled centred, ``Normal(0, sd)``.

    Non-centred offsets (``sd * z``, the default) suit parameters whose levels differ
    little or have little data (Gadre's A and B across three datasets); centred offsets
    suit parameters whose every level is well measured and clearly different (the demo's
    E, A and B). ``parameterization`` chooses for all (a string), per parameter (a
    dict; ``"sigma"`` and ``"run"`` are keys too) or per parameter and factor (a dict
    key ``"E[seed]"``).
    """
    return frozenset((n, f) for n, f in _offset_pairs(spec, design)
                     if is_centred(spec.parameterization, n, f))


def _offset_pairs(spec, design: Design) -> list[tuple[str, str]]:
    """(parameter, factor) pairs that have per-level offsets: each varying parameter (or
    ``"sigma"``) by each of its factors, and the runs (``"run"``) by the run factor."""
    pairs = [(name, f) for name, factors in design.vary.items() for f in factors]
    if spec.run and spec.run in design.factors:
        pairs.append((RUN_SITE, spec.run))
    return pairs


def pooled_offsets(spec, design: Design) -> dict[str, str]:
    """Each partially pooled parameter of a fit (``"sigma"`` and ``"run"`` included) and
    how its offsets are sampled, ``"centred"`` or ``"noncentred"`` (:func:`centred_sites`);
    empty without a hierarchy. The advice of the divergence, tree-depth and energy
    warnings follows it (:func:`scalinglaws.engine.diagnostics.hierarchy_advice`).

    >>> from scalinglaws import ScalingModel
    >>> from scalinglaws.data import make_design
    >>> from scalinglaws.synthetic import sweep
    >>> model = ScalingModel("chinchilla", vary={"E": "dataset", "A": "dataset"},
    ...                      parameterization={"E": "centred"})
    >>> pooled_offsets(model, make_design(model, sweep(seed=0)))
    {'E': 'centred', 'A': 'noncentred'}

    A parameter whose factors are sampled differently is named per factor, as
    ``parameterization`` takes it:

    >>> model = ScalingModel("chinchilla", vary={"E": ["dataset", "seed"]},
    ...                      parameterization={"E[dataset]": "centred"})
    >>> runs = sweep(seed=0)
    >>> pooled_offsets(model, make_design(model, runs.assign(seed=runs.index % 3)))
    {'E[dataset]': 'centred', 'E[seed]': 'noncentred'}
    """
    centred = centred_sites(spec, design)
    hows: dict[str, dict[str, str]] = {}
    for n, f in _offset_pairs(spec, design):
        if n == RUN_SITE or spec.pooling != "none":
            hows.setdefault(n, {})[f] = "centred" if (n, f) in centred else "noncentred"
    out = {}
    for n, by in hows.items():
        if len(set(by.values())) == 1:
            out[n] = next(iter(by.values()))
        else:
            out.update({per_factor(n, f): how for f, how in by.items()})
    return out


def centred_name(name: str) -> str:
    """The site a centred offset is sampled as, for the non-centred ``z`` site ``name``
    (which the model then records as deterministic).

    >>> centred_name("sigma_z_family"), centred_name("run_z")
    ('sigma_offset_family', 'run_offset')
    """
    return name.replace("_z", "_offset", 1)


def sampled_as(name: str, sampled) -> str | None:
    """The site that ``name`` is sampled as in a model that samples the sites
    ``sampled``: ``name`` itself, or for a partially pooled parameter's offsets the other
    form's site (the centred offsets for a non-centred ``z``, :func:`centred_name`, and
    back); None where neither is sampled.

    >>> sampled = ["E_offset_family", "sigma_z_family"]
    >>> [sampled_as(n, sampled) for n in ("E_z_family", "sigma_offset_family", "E", "Q")]
    ['E_offset_family', 'sigma_z_family', None, None]
    """
    if name in sampled:
        return name
    for other in (centred_name(name), name.replace("_offset", "_z", 1)):
        if other != name and other in sampled:
            return other
    return None


def check_dense_mass(spec, design: Design, dense_mass) -> None:
    """A ``dense_mass`` given as blocks of site names must name sites the model samples:
    else a :class:`ScalingLawError` naming them and the sampled sites, before anything is
    compiled. A pooled parameter's offsets may be named in either form (``E_z_family``,
    ``E_offset_family``): the block holds whichever the fit samples, so blocks written
    for one parameterisation serve another and ``parameterization="auto"``.

    >>> import scalinglaws as sl
    >>> from scalinglaws.data import make_design
    >>> spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    >>> design = make_design(spec, sl.synthetic.sweep(seed=0))
    >>> check_dense_mass(spec, design, [("E", "E_offset_dataset", "A_ref")])
    >>> check_dense_mass(spec, design, [("E", "A")])
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: dense_mass names ['A'], which this model does ...

    Blocks must not share a site (the mass matrix is block-diagonal).
    """
    if isinstance(dense_mass, (bool, np.bool_)):
        return
    sampled = sampled_sites(spec, design)
    unknown = [n for block in dense_mass for n in block if sampled_as(n, sampled) is None]
    if unknown:
        raise ScalingLawError(
            f"dense_mass names {unknown}, which this model does not sample; it samples "
            f"{sampled} (a pooled parameter's offsets as '<name>_z_<factor>' or "
            f"'<name>_offset_<factor>', whichever its parameterization samples)")
    seen: dict[str, int] = {}
    for k, block in enumerate(dense_mass):
        for name in block:
            site = sampled_as(name, sampled)
            if seen.get(site, k) != k:
                raise ScalingLawError(
                    f"dense_mass names {name!r} in blocks {seen[site]} and {k}: blocks must "
                    f"not share a site (a shared site would tie the blocks together, and "
                    f"the mass matrix need not be positive definite); put the sites that "
                    f"move together in one block")
            seen[site] = k


def offset_sites(name: str, factor: str) -> tuple[str, str, str]:
    """The sites of a partially pooled parameter's offsets by ``factor`` (``"run"``: the
    run effects): its population scale, its non-centred ``z`` and its centred offsets
    (:func:`centred_name`); offset = sd * z.

    >>> offset_sites("E", "dataset"), offset_sites("run", "seed")
    (('E_sd_dataset', 'E_z_dataset', 'E_offset_dataset'), ('run_sd', 'run_z', 'run_offset'))
    """
    sd, z = ((f"{RUN_SITE}_sd", f"{RUN_SITE}_z") if name == RUN_SITE else
             (f"{name}_sd_{factor}", f"{name}_z_{factor}"))
    return sd, z, centred_name(z)


def sampled_sites(spec, design: Design) -> list[str]:
    """The sites NUTS samples for ``spec`` on ``design``, in the model's order: every
    latent ``sample`` site of the model given its data (so level coordinates, not the
    terms they give, and ``run_eps`` where run offsets are integrated out).

    >>> import scalinglaws as sl
    >>> from scalinglaws.data import make_design
    >>> spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    >>> sampled_sites(spec, make_design(spec, sl.synthetic.sweep(seed=0)))
    ['E', 'E_sd_dataset', 'E_z_dataset', 'A_ref', 'B_ref', 'alpha', 'beta', 'sigma']
    """
    names: list[str] = []

    def read_sites():
        model = numpyro.handlers.substitute(
            numpyro.handlers.seed(build_model(spec, design), 0), substitute_fn=init_to_uniform())
        trace = numpyro.handlers.trace(model).get_trace(y=design.y)
        names.extend(name for name, site in trace.items()
                     if site["type"] == "sample" and not site["is_observed"])
        return jnp.zeros(())

    with TRACING:  # abstractly (jax.eval_shape): an eager trace compiles dozens of programs
        jax.eval_shape(read_sites)
    return names


def _offset(values: Mapping, design: Design, name: str, factors: tuple[str, ...]):
    total = 0.0
    for f in factors:
        total = total + values[f"{name}_sd_{f}"] * values[f"{name}_z_{f}"][design.factors[f].codes]
    return total


def law_params(spec, design: Design, values: Mapping, logs: bool = False) -> dict:
    """Natural-scale law parameters per row, from one draw of the sampled sites.

    With ``logs``, the mapping also holds the log of each positive parameter under
    ``"log:<name>"`` (what :func:`~scalinglaws.laws.expr.log_of` reads), taken from the
    log scale on which it is built: the likelihood's laws then need no exponential and
    logarithm per row, nor their derivatives.
    """
    law = spec.law
    sampled, logged = {}, {}
    for p in law.params:
        factors = _varying(spec, design, p.name)
        positive = logs and p.constraint == "positive"
        if spec.pooling == "none" and factors:
            f = factors[0]
            levels, codes = values[f"{p.sampled_name}_{f}"], design.factors[f].codes
            sampled[p.name] = levels[codes]
            if positive:
                logged[p.name] = jnp.log(levels)[codes]
        else:
            u = _to_unconstrained(p.constraint, values[p.sampled_name])
            u = u + _offset(values, design, p.name, factors)
            sampled[p.name] = _from_unconstrained(p.constraint, u)
            if positive:
                logged[p.name] = u
    natural, logged = _natural(law, sampled, design.log_reference, logged)
    return {**natural, **{LOG_KEY + k: v for k, v in logged.items()}}


def _natural(law, sampled: Mapping, log_reference: Mapping[str, float],
             logged: Mapping | None = None) -> tuple[dict, dict]:
    """Convert reference-scale coefficients to natural ones (others pass through), with
    the logs in ``logged`` (by parameter) converted alike."""
    ref = [p.name for p in law.params if p.reference]
    out, out_logs = dict(sampled), dict(logged or {})
    if ref:
        natural = {k: v for k, v in sampled.items() if k not in ref}
        logs = law.from_reference({k: out_logs[k] if k in out_logs else jnp.log(sampled[k])
                                   for k in ref}, natural, log_reference)
        out.update({k: jnp.exp(v) for k, v in logs.items()})
        out_logs.update({k: v for k, v in logs.items() if k in out_logs})
    return out, out_logs


def location(spec, design: Design, params: Mapping):
    """The noise-free law on the likelihood scale (log y or y) per row."""
    variables = {k: jnp.asarray(v) for k, v in design.variables.items()}
    if spec.scale == "log":
        return spec.law.log(variables, params)
    return spec.law.fn(variables, params)


def noise_scale(spec, design: Design, values: Mapping):
    """Observation noise standard deviation per row (on the likelihood scale).

    A noise scale varying by a factor is ``sigma * exp(sd * z_level)`` (partial pooling)
    or, with ``pooling="none"``, one independent ``sigma_<factor>`` per level.
    """
    factors = _varying(spec, design, "sigma")
    if spec.pooling == "none" and factors:
        return values[f"sigma_{factors[0]}"][design.factors[factors[0]].codes]
    return values["sigma"] * jnp.exp(_offset(values, design, "sigma", factors))


def row_noise(spec, design: Design, values: Mapping, params: Mapping):
    """The model's observation noise scale per row: :func:`noise_scale` times the law's
    own noise factor where the law defines one (:attr:`Law.log_noise_factor`, a function
    of the law's variables, natural parameters ``params`` and the design's log
    reference); :func:`noise_scale` alone otherwise. Fitting and prediction both call it.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> law = SimpleNamespace(log_noise_factor=lambda v, p, ref: p["tau"] * np.abs(v["x"]))
    >>> spec = SimpleNamespace(law=law, pooling="partial")
    >>> design = SimpleNamespace(vary={}, variables={"x": np.array([0.0, 1.0])},
    ...                          log_reference={})
    >>> [round(float(s), 4) for s in row_noise(spec, design, {"sigma": 0.1},
    ...                                        {"tau": np.log(2.0)})]
    [0.1, 0.2]
    """
    scale = noise_scale(spec, design, values)
    factor = getattr(spec.law, "log_noise_factor", None)
    if factor is None:
        return scale
    variables = {k: jnp.asarray(v) for k, v in design.variables.items()}
    return scale * jnp.exp(factor(variables, params, design.log_reference))


def with_measurement_error(spec, design: Design, scale, level):
    """The noise of an observed row: the model's ``scale`` and the row's known measurement
    error (:attr:`Design.se`) in quadrature, on the likelihood scale.

    A standard error ``se`` of a target modelled on the log scale is ``se / level`` there
    (the delta method), where ``level`` is the target (observed, or the law's value when
    predicting) in natural units. Without a measurement error column: ``scale``.

    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> spec, design = SimpleNamespace(scale="log"), SimpleNamespace(se=np.array([0.03]))
    >>> float(with_measurement_error(spec, design, np.array([0.04]), np.array([1.0]))[0])
    0.05
    """
    if design.se is None:
        return scale
    se = jnp.asarray(design.se)
    if spec.scale == "log":
        se = se / level
    return jnp.sqrt(scale**2 + se**2)


def run_offset(spec, design: Design, values: Mapping):
    """Per-run offset on the likelihood scale per row (0 without a run factor)."""
    if not spec.run or spec.run not in design.factors:
        return 0.0
    return values[f"{RUN_SITE}_sd"] * values[f"{RUN_SITE}_z"][design.factors[spec.run].codes]


def integrates_runs(spec, design: Design) -> bool:
    """Whether the model integrates its run offsets out (a run factor and Normal noise)."""
    return bool(spec.run) and spec.run in design.factors and spec.likelihood == "normal"


def integrated_run_offsets(design: Design, run_factor: str, residual, scale, run_sd, eps,
                           mask=None):
    """Run offsets drawn from their exact conditional posterior, and the density correction.

    With Normal noise, a run's offset ``u ~ Normal(0, run_sd)`` and its rows' residuals
    ``r_i = t_i - law_i`` (likelihood scale, noise ``scale_i``) give ``u | r ~ Normal(m, v)``
    with ``v = run_sd^2 / (1 + run_sd^2 S0)``, ``m = v S1``, ``S0 = sum 1/scale_i^2`` and
    ``S1 = sum r_i/scale_i^2`` over the run's rows. For any ``u``,
    ``p(r) = p(r | u) p(u) / p(u | r)``, so observing the rows at ``u = m + sqrt(v) eps``
    (``eps ~ Normal(0, 1)``) and adding ``log p(u) - log p(u | r)`` leaves exactly the
    marginal density of the law's parameters; ``u`` then has its exact posterior.

    Returns the per-run offsets ``u`` and the correction ``log p(u) - log p(u | r)``.
    Rows where ``mask`` is false (padding) carry no weight; a run without rows keeps its
    prior, and its correction is 0.

    >>> import jax.numpy as jnp
    >>> from types import SimpleNamespace
    >>> design = SimpleNamespace(factors={"run": SimpleNamespace(codes=jnp.array([0, 0]),
    ...                                                          levels=("a",))})
    >>> u, correction = integrated_run_offsets(design, "run", jnp.array([0.1, 0.3]),
    ...                                        jnp.array([1.0, 1.0]), 1.0, jnp.zeros(1))
    >>> round(float(u[0]), 6)  # m = 0.4 / 3
    0.133333
    """
    codes = design.factors[run_factor].codes
    n_runs = len(design.factors[run_factor].levels)
    weight = jnp.broadcast_to(1.0 / scale**2, jnp.shape(residual))
    if mask is not None:
        weight = jnp.where(mask, weight, 0.0)
    s0 = jax.ops.segment_sum(weight, codes, num_segments=n_runs)
    s1 = jax.ops.segment_sum(weight * residual, codes, num_segments=n_runs)
    variance = run_sd**2 / (1.0 + run_sd**2 * s0)
    mean = variance * s1
    u = mean + jnp.sqrt(variance) * eps
    correction = (dist.Normal(0.0, run_sd).log_prob(u)
                  - dist.Normal(mean, jnp.sqrt(variance)).log_prob(u)).sum()
    return u, correction


def auxiliary(name: str) -> bool:
    """Whether a posterior site is a sampler device (a standard-normal offset ``*_z*``,
    the ``run_eps`` of integrated run offsets or a level coordinate) rather than a
    quantity to report."""
    return ("_z_" in name or name.endswith("_z") or name == f"{RUN_SITE}_eps"
            or name.startswith(LEVEL_COORDINATE_PREFIXES))


# --- the law's terms in level coordinates ------------------------------------------------

#: Site names of the level coordinates: ``log_level``, ``logit_share_<term>`` and
#: ``log_scaled_<param>``.
LEVEL_COORDINATE_PREFIXES = ("log_level", "logit_share_", "log_scaled_")


class GivenValue(Reparam):
    """A site whose value is already computed (from other coordinates): recorded as
    deterministic, with the density of its prior on the log scale added to the joint."""

    def __init__(self, log_value):
        self.log_value = log_value

    def __call__(self, name, fn, obs):
        if obs is not None:
            raise ScalingLawError(f"{name} is observed; it cannot also be computed from "
                                  f"other coordinates")
        value = jnp.exp(self.log_value)
        numpyro.factor(f"{name}.log_prior", fn.log_prob(value).sum() + self.log_value.sum())
        return None, value


def level_to_terms(log_level, logits) -> list:
    """The log of each term from the log of their sum and stick-breaking share logits.

    The first term is ``sigmoid(logits[0])`` of the level, the next ``sigmoid(logits[1])``
    of the rest, and the last term what remains. The map from ``(log_level, *logits)`` to
    the terms' logs has Jacobian determinant ±1, so flat coordinates plus each term's
    prior density on the log scale are exactly the terms' prior.

    >>> out = level_to_terms(jnp.log(4.0), [0.0, 0.0])
    >>> [round(float(jnp.exp(v)), 6) for v in out]
    [2.0, 1.0, 1.0]
    """
    out, rest = [], log_level
    for logit in logits:
        out.append(rest + jax.nn.log_sigmoid(logit))
        rest = rest + jax.nn.log_sigmoid(-logit)
    return [*out, rest]


def terms_to_level(logs) -> tuple:
    """The inverse of :func:`level_to_terms`: ``(log_level, logits)`` from the terms' logs.

    >>> import numpy as np
    >>> log_level, logits = terms_to_level([np.log(2.0), 0.0, 0.0])
    >>> round(float(np.exp(log_level)), 6), [round(float(v), 6) for v in logits]
    (4.0, [0.0, 0.0])
    """
    logs = list(logs)
    rests = [jax.nn.logsumexp(jnp.stack(logs[i:]), axis=0) for i in range(1, len(logs))]
    return (jnp.logaddexp(logs[0], rests[0]),
            [logs[i] - rests[i] for i in range(len(logs) - 1)])


def level_coordinate_names(spec, factor: str = "") -> list[str]:
    """The sites of ``spec``'s level coordinates (suffixed by ``factor`` when they vary)."""
    terms = spec.law.level_terms
    names = ["log_level", *(f"logit_share_{t}" for t in terms[:-1])]
    return [f"{n}_{factor}" if factor else n for n in names]


def level_factor(spec, design: Design) -> str:
    """The factor the level terms vary by in ``design`` ("" when they are shared)."""
    factors = {design.vary.get(t, ()) for t in spec.law.level_terms}
    if len(factors) != 1:  # the spec checks this; a design can only drop a factor from all
        raise ScalingLawError(f"the level terms {spec.law.level_terms} vary differently "
                              f"in this design: {factors}; use coordinates='natural'")
    (shared,) = factors
    return shared[0] if shared else ""


def share_scaled_params(spec, design: Design) -> list[tuple[str, tuple[str, ...]]]:
    """The law's ``(param, terms)`` pairs (``Law.share_scaled``) whose parameter
    :func:`sample_level_coordinates` samples scaled by the terms' share in ``design``: in
    level coordinates, those that vary as the level terms do (not at all, or by the same
    factor with ``pooling="none"``); a parameter partially pooled, or varying otherwise,
    keeps its own coordinate.

    >>> import scalinglaws as sl
    >>> from scalinglaws.data import make_design
    >>> spec = sl.ScalingModel("isoflop", inputs={"N": "N", "C": "C"}, target="loss",
    ...                        coordinates="level")
    >>> runs = pd.DataFrame({"N": [1e7, 2e7, 4e7] * 3, "C": np.repeat([1e17, 1e18, 1e19], 3),
    ...                      "loss": [3.3, 3.2, 3.25, 3.0, 2.9, 2.95, 2.8, 2.7, 2.75]})
    >>> share_scaled_params(spec, make_design(spec, runs))
    [('gamma', ('K',))]
    """
    if spec.coordinates != "level":
        return []
    factor = level_factor(spec, design)
    if factor and spec.pooling != "none":
        return []
    like_terms = (factor,) if factor else ()
    return [(q, terms) for q, terms in spec.law.scaled_terms
            if _varying(spec, design, q) == like_terms]


def share_scaled_names(spec, design: Design) -> list[str]:
    """The sites of the parameters :func:`share_scaled_params` scales (suffixed by the
    level terms' factor when they vary)."""
    factor = level_factor(spec, design)
    return [f"log_scaled_{q}_{factor}" if factor else f"log_scaled_{q}"
            for q, _ in share_scaled_params(spec, design)]


def sample_level_coordinates(spec, design: Design) -> dict:
    """Sample the law's level and the terms' shares; return the ``handlers.reparam``
    config that gives the terms' own sites (``E``, ``A_ref``, ``B_ref``) their values.

    For chinchilla at the reference point, ``V = E + A_ref + B_ref``, ``E = s V`` and
    ``A_ref = (1 - s) w V``; the sites are ``log_level`` (log V), ``logit_share_E``
    (logit s) and ``logit_share_A`` (logit w), flat (``ImproperUniform``), each term then
    adding its stated prior (:class:`GivenValue`): with ``pooling="none"`` each level's
    own prior, with partial pooling the population's ``LogNormal(log E, E_sd)`` (the
    centred hierarchy; ``_body`` records the offsets). The density is the natural
    parameterisation's; the geometry differs: the data fix the level whatever the split,
    so a weakly identified E moves along one axis instead of a curved ridge with alpha.

    A parameter the law scales by terms' share (``Law.share_scaled``, e.g. isoflop's
    ``gamma`` with ``K``; :func:`share_scaled_params` says where) is sampled as
    ``log_scaled_gamma = log(gamma K_ref / V)``, the optimum's slope in log C at the
    reference, which the data fix whatever E's share; ``gamma`` is then given (its prior
    on the log scale added). The map to ``log gamma`` moves it by ``log V - log K_ref``,
    a function of the level coordinates only, so the Jacobian determinant stays ±1 and
    the density is the same. On the isoFLOP study's 19 sweeps (seed 0) it cut the
    leapfrog steps per draw on Marin's ladders from up to 974 to about 60, and the
    divergences from 11 to none (``docs/studies/isoflop.md``).
    """
    factor = level_factor(spec, design)
    shape = (len(design.factors[factor].levels),) if factor else ()
    flat = dist.ImproperUniform(dist.constraints.real, (), event_shape=shape)
    coords = [numpyro.sample(n, flat) for n in level_coordinate_names(spec, factor)]
    logs = level_to_terms(coords[0], coords[1:])
    sites = [spec.law.param(t).sampled_name for t in spec.law.level_terms]
    config = {f"{n}_{factor}" if factor else n: GivenValue(v) for n, v in zip(sites, logs,
                                                                            strict=True)}
    for (name, terms), site in zip(share_scaled_params(spec, design),
                                   share_scaled_names(spec, design), strict=True):
        log_share = jax.nn.logsumexp(jnp.stack(
            [logs[spec.law.level_terms.index(t)] for t in terms]), axis=0) - coords[0]
        sampled = spec.law.param(name).sampled_name
        config[f"{sampled}_{factor}" if factor else sampled] = GivenValue(
            numpyro.sample(site, flat) - log_share)
    return config


def observation(spec, loc, scale, values: Mapping) -> dist.Distribution:
    """The noise distribution of observations on the likelihood scale."""
    if spec.likelihood == "student_t":
        return dist.StudentT(values["nu"], loc, scale)
    return dist.Normal(loc, scale)


def transform_target(spec, y):
    """The observed target on the likelihood scale."""
    return jnp.log(y) if spec.scale == "log" else y


def untransform(spec, t):
    """Inverse of :func:`transform_target`."""
    return jnp.exp(t) if spec.scale == "log" else t


def build_model(spec, design: Design) -> Callable[..., None]:
    """The NumPyro model function for ``spec`` on ``design``, closed over its data.

    The returned function takes ``y`` (the target; ``None`` samples it) and records,
    besides the sampled sites, per-level parameter values (``E_dataset``) and natural
    population values of reference-scale coefficients (``A``) as deterministic sites.
    Fitting uses :func:`data_model` instead, which takes the data as an argument so that
    one compiled program serves every data set of a structure; both run the same code.

    >>> import scalinglaws as sl
    >>> from scalinglaws.data import make_design
    >>> runs = sl.synthetic.sweep(seed=0)
    >>> spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    >>> design = make_design(spec, runs)
    >>> model = build_model(spec, design)
    >>> trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace()
    >>> trace["E_z_dataset"]["value"].shape
    (3,)
    """
    enable_x64()

    def model(y=None):
        _model(spec, design, y, None)

    return model


# --- data as arguments: one compiled program per structure ------------------------------


@dataclass(frozen=True)
class Structure:
    """What fixes the shapes of a model's compiled program, apart from the spec.

    Rows are padded to ``rows`` and each factor's levels to its count in ``levels``
    (:func:`bucket`); padded rows are masked out of the likelihood, padded levels are
    draws from the population that no row uses, and both are cut from the results.
    Two designs with the same structure share one compiled mode search and sampler.
    """

    vary: tuple[tuple[str, tuple[str, ...]], ...]
    levels: tuple[tuple[str, int], ...]
    rows: int


def bucket(n: int, *, exact_up_to: int = 0, minimum: int = 1) -> int:
    """The padded size for ``n``: ``n`` itself up to ``exact_up_to``, else the next of
    ``minimum``-or-more sizes 2^k x (1, 1.25, 1.5, 1.75), so at most a quarter is padding.

    >>> [bucket(n, minimum=16) for n in (1, 16, 17, 90, 100, 12691)]
    [16, 16, 20, 96, 112, 14336]
    >>> bucket(3, exact_up_to=8)
    3
    """
    if n <= exact_up_to:
        return n
    n, power = max(n, minimum), 1
    while True:
        for step in (power, power * 5 // 4, power * 3 // 2, power * 7 // 4):
            if step >= n:
                return step
        power *= 2


#: Row buckets start at this size; factors with at most this many levels are not padded.
MIN_ROWS = 16
EXACT_LEVELS = 8


def structure_of(designs, pad_levels: bool = True) -> Structure:
    """The smallest structure that holds every design of ``designs`` (one vary each);
    ``pad_levels=False`` keeps each factor's level count as it is (prediction, where
    levels beyond the fitted ones are drawn from the population one by one)."""
    designs = list(designs)
    first = designs[0]
    vary = tuple(sorted((k, tuple(v)) for k, v in first.vary.items()))
    levels = tuple(
        (name, bucket(max(len(d.factors[name].levels) for d in designs),
                      exact_up_to=EXACT_LEVELS if pad_levels else np.inf))
        for name in first.factors)
    rows = bucket(max(d.n_rows for d in designs), minimum=MIN_ROWS)
    return Structure(vary=vary, levels=levels, rows=rows)


def pad(design: Design, structure: Structure) -> dict:
    """``design``'s arrays padded to ``structure``: the argument of :func:`data_model`.

    Padded rows repeat the first row (finite values, so no NaN reaches a gradient) and
    carry ``mask`` 0; padded codes point at level 0. A design without a target (rows to
    predict) gets ``y`` None.
    """
    n, rows = design.n_rows, structure.rows

    def fill(values, dtype):
        values = np.asarray(values, dtype=dtype)
        return np.concatenate([values, np.repeat(values[:1], rows - n)])

    data = {
        "x": {k: fill(v, np.float64) for k, v in design.variables.items()},
        "y": None if design.y is None else fill(design.y, np.float64),
        "mask": np.arange(rows) < n,
        "codes": {k: fill(f.codes, np.int32) for k, f in design.factors.items()},
        "log_ref": {k: np.float64(v) for k, v in design.log_reference.items()},
    }
    if design.se is not None:
        data["se"] = fill(design.se, np.float64)
    return data


def view(structure: Structure, data: Mapping) -> Design:
    """A :class:`Design` over (possibly traced) padded arrays, for the model's code."""
    factors = {name: Factor(codes=data["codes"][name], levels=("",) * count, n_fitted=count)
               for name, count in structure.levels}
    return Design(variables=dict(data["x"]), y=data["y"], factors=factors,
                  vary=dict(structure.vary), log_reference=dict(data["log_ref"]),
                  index=pd.RangeIndex(structure.rows), se=data.get("se"))


def data_model(spec, structure: Structure) -> Callable[[Mapping], None]:
    """The NumPyro model of ``spec`` whose data (:func:`pad`) is its one argument.

    Compiled once per (spec, structure), it serves every data set of that structure.

    >>> import scalinglaws as sl
    >>> from scalinglaws.data import make_design
    >>> spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    >>> design = make_design(spec, sl.synthetic.sweep(seed=0))
    >>> structure = structure_of([design])
    >>> structure.rows, structure.levels
    (96, (('dataset', 3),))
    >>> model = data_model(spec, structure)
    >>> trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(
    ...     pad(design, structure))
    >>> trace["y"]["value"].shape
    (96,)
    """
    enable_x64()

    def model(data):
        _model(spec, view(structure, data), data["y"], data["mask"])

    return model


def _model(spec, design: Design, y, mask) -> None:
    # Level coordinates are flat, so they need data: without it (prior predictive)
    # the terms are sampled from their priors directly, the same distribution.
    if spec.coordinates == "level" and y is not None:
        with numpyro.handlers.reparam(config=sample_level_coordinates(spec, design)):
            return _body(spec, design, y, mask)
    return _body(spec, design, y, mask)


def _body(spec, design: Design, y, mask) -> None:
    law = spec.law
    sites = {s.name: s for s in level_sites(spec, design)}
    centred = centred_sites(spec, design)

    def sample_levels(name: str):
        site = sites[name]
        n = len(design.factors[site.factor].levels)
        base = dist.Normal(0.0, 1.0) if site.prior is None else site.prior.to_numpyro()
        return numpyro.sample(name, base.expand([n]).to_event(1))

    def sample_z(name: str, pair: tuple[str, str], sd):
        if pair not in centred:
            return sample_levels(name)
        n = len(design.factors[pair[1]].levels)
        offset = numpyro.sample(centred_name(name),
                                dist.Normal(0.0, sd).expand([n]).to_event(1))
        return numpyro.deterministic(name, offset / sd)

    def sample_sd(values: dict, name: str, factor: str):
        values[f"{name}_sd_{factor}"] = numpyro.sample(
            f"{name}_sd_{factor}", spec.prior(f"{name}_sd").to_numpyro())
        return values[f"{name}_sd_{factor}"]

    def sample_offsets(values: dict, name: str, factors: tuple[str, ...]) -> None:
        for f in factors:
            sd = sample_sd(values, name, f)
            values[f"{name}_z_{f}"] = sample_z(f"{name}_z_{f}", (name, f), sd)

    def sample_level_term(values: dict, p, factor: str) -> None:
        # A partially pooled term in level coordinates: each level's value is a site of
        # its own, centred on the population on the log scale; with data it is computed
        # from the level coordinates (sample_level_coordinates), which adds this density.
        sd = sample_sd(values, p.name, factor)
        centre = jnp.log(values[p.sampled_name])
        n = len(design.factors[factor].levels)
        per_level = numpyro.sample(f"{p.sampled_name}_{factor}",
                                   dist.LogNormal(centre, sd).expand([n]).to_event(1))
        offset = numpyro.deterministic(f"{p.name}_offset_{factor}",
                                       jnp.log(per_level) - centre)
        values[f"{p.name}_z_{factor}"] = numpyro.deterministic(f"{p.name}_z_{factor}",
                                                               offset / sd)

    level_terms = law.level_terms if spec.coordinates == "level" else ()
    values: dict = {}
    population: dict = {}
    for p in law.params:
        factors = _varying(spec, design, p.name)
        if spec.pooling == "none" and factors:
            name = f"{p.sampled_name}_{factors[0]}"
            values[name] = sample_levels(name)
            continue
        values[p.sampled_name] = population[p.name] = numpyro.sample(
            p.sampled_name, spec.prior(p.name).to_numpyro())
        if p.name in level_terms and factors:
            sample_level_term(values, p, factors[0])
            continue
        sample_offsets(values, p.name, factors)
        for f in factors:
            u = _to_unconstrained(p.constraint, values[p.sampled_name])
            numpyro.deterministic(
                f"{p.sampled_name}_{f}",
                _from_unconstrained(p.constraint,
                                    u + values[f"{p.name}_sd_{f}"] * values[f"{p.name}_z_{f}"]))
    if len(population) == len(law.params):
        natural, _ = _natural(law, population, design.log_reference)
        for p in law.params:
            if p.reference:
                numpyro.deterministic(p.name, natural[p.name])

    sigma_factors = _varying(spec, design, "sigma")
    if spec.pooling == "none" and sigma_factors:
        name = f"sigma_{sigma_factors[0]}"
        values[name] = sample_levels(name)
    else:
        values["sigma"] = numpyro.sample("sigma", spec.prior("sigma").to_numpyro())
        sample_offsets(values, "sigma", sigma_factors)
    if spec.likelihood == "student_t":
        values["nu"] = numpyro.sample("nu", spec.prior("nu").to_numpyro())
    integrate = integrates_runs(spec, design) and y is not None
    if spec.run and spec.run in design.factors:
        sd = values[f"{RUN_SITE}_sd"] = numpyro.sample(f"{RUN_SITE}_sd",
                                                       spec.prior("run_sd").to_numpyro())
        if not integrate:
            values[f"{RUN_SITE}_z"] = sample_z(f"{RUN_SITE}_z", (RUN_SITE, spec.run), sd)

    params = law_params(spec, design, values, logs=True)
    curve = location(spec, design, params)
    level = untransform(spec, curve) if y is None else jnp.asarray(y)
    scale = with_measurement_error(spec, design, row_noise(spec, design, values, params),
                                   level)
    obs = None if y is None else transform_target(spec, jnp.asarray(y))
    if integrate:
        eps = sample_levels(f"{RUN_SITE}_eps")
        u, correction = integrated_run_offsets(design, spec.run, obs - curve, scale,
                                               values[f"{RUN_SITE}_sd"], eps, mask=mask)
        numpyro.factor(f"{RUN_SITE}_integrated", correction)
        values[f"{RUN_SITE}_z"] = numpyro.deterministic(f"{RUN_SITE}_z",
                                                        u / values[f"{RUN_SITE}_sd"])
    loc = curve + run_offset(spec, design, values)
    noise = observation(spec, loc, scale, values)
    with numpyro.plate("row", design.n_rows):
        numpyro.sample("y", noise if mask is None else noise.mask(mask), obs=obs)
