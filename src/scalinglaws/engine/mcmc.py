"""NUTS on a NumPyro model whose data are its arguments: the loss-to-loss fits' sampler.

The core fits run through the compiled programs of :mod:`.program`, whose models take
their padded data as one argument. The joint and cut loss-to-loss models
(:func:`scalinglaws.losstoloss.model.build`) take their padded data as keyword
arguments; :class:`ModeSearch` searches their mode, and from there :class:`WhitenedNUTS`
samples them with the engine's NUTS (:func:`.sampler.nuts_chain`) in the coordinates of
the Laplace approximation at that mode, or in the model's own (for partially pooled
models, whose mode sits at a funnel's neck). Each compiles one program for every call
on data of the same shapes.
"""

from __future__ import annotations

import math
from functools import partial

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P
from numpyro import handlers
from numpyro.infer.util import constrain_fn, potential_energy

from .._precision import enable_x64
from ..model import TRACING
from .linalg import cholesky, solve_triangular
from .program import (
    START_JITTER,
    START_RADIUS,
    Executables,
    Unravel,
    best_start,
    bfgs,
    finite_objective,
    finite_starts,
    over_entries,
    shard_map,
    sites_layout,
)
from .sampler import (
    STAN_REGULARIZATION,
    block_mask,
    hessian,
    nuts_chain,
    sample_stats,
    start_noise,
)


class ModeSearch:
    """The posterior mode of ``model`` on the unconstrained scale from ``n_starts`` BFGS
    runs (:func:`.program.bfgs`, the compiled fits' optimiser) started uniformly in
    (-2, 2) on every coordinate, split across the devices
    (:func:`split_runs`); compiled once, for every call on keyword data of one shape
    (``example``: data of that shape, whose site shapes it reads).

    A call returns the best point (a dict of unconstrained site values) and the
    potential energy (negative log density) at every start's optimum, sorted.

    >>> import numpyro, numpyro.distributions as dist
    >>> def model(y=None):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
    >>> search = ModeSearch(model, {"y": jnp.ones(4)}, n_starts=4)
    >>> mode, energies = search(jax.random.PRNGKey(0), y=jnp.full(4, 2.0))
    >>> round(float(mode["mu"]), 3)
    1.995
    """

    def __init__(self, model, example: dict, n_starts: int = 32, max_iter: int = 500):
        enable_x64()
        unravel = self.unravel = sites_layout(model, **example)

        def solve_all(key, data):
            def solve(x0):
                return bfgs(jax.value_and_grad(lambda x: finite_objective(
                    potential_energy(model, (), data, unravel(x)))), x0, max_iter)

            starts = jax.random.uniform(key, (n_starts, unravel.size),
                                        minval=-START_RADIUS, maxval=START_RADIUS)
            return split_runs(solve, n_starts)(starts)

        self._program = Executables(jax.jit(solve_all).lower, brief=True)

    def __call__(self, rng_key, **data) -> tuple[dict, np.ndarray]:
        xs, energies = self._program(rng_key, data)(rng_key, data)
        xs, energies = np.asarray(xs), np.asarray(energies)
        return self.unravel(xs[best_start(energies)]), np.sort(energies[finite_starts(energies)])


def split_mesh(count: int) -> Mesh | None:
    """The devices that ``count`` independent runs (chains, optimiser starts) split across
    evenly, as a mesh with one axis ``batch``: as many devices as divide ``count`` (two
    chains on a 2-core CPU run one per core, as the core fits' do); None for one.

    >>> split_mesh(1) is None
    True
    """
    devices = jax.local_devices()
    used = math.gcd(count, len(devices))
    return None if used == 1 else Mesh(np.array(devices[:used]), ("batch",))


def split_runs(fn, count: int):
    """``fn`` over a leading axis of ``count`` independent runs (chains, optimiser
    starts), the runs split evenly across the devices (:func:`split_mesh`) and, on each,
    looped over on a CPU and vectorised elsewhere (:func:`.program.over_entries`); for
    use inside ``jax.jit``."""
    mesh = split_mesh(count)
    if mesh is None:
        return over_entries(fn)
    return shard_map(over_entries(fn), mesh=mesh, in_specs=P("batch"), out_specs=P("batch"))


class WhitenedNUTS:
    """NUTS chains of ``model`` started from the Laplace approximation at a mode, in its
    whitened coordinates; compiled once, for every call on keyword data of one shape,
    the sampler in the background while the first call refines its mode, and the
    chains split across the devices (:func:`split_runs`: one per core of a 2-core CPU).

    Each call finds the mode from the given point (BFGS, when ``refine``), takes the
    potential's Hessian H there and samples z with x = mode + C^-T z (H = C C^T), so
    that the chains see the posterior at about unit scale and start at a draw from the
    Laplace approximation. The Laplace covariance is the dense part of the mass matrix;
    warm-up adapts a diagonal on top of it, each window's estimate shrunk towards the
    identity (Stan shrinks towards 1e-3 of the identity,
    :data:`.sampler.STAN_REGULARIZATION`). The change of variables is linear, so the
    posterior is exactly the model's. Where H is not positive definite the chains start
    at the mode plus N(0, 0.1^2) noise in the model's own coordinates, with a dense
    (``dense_mass``) or diagonal mass matrix and Stan's regularisation, as the core
    sampler does.

    Why (Brandfonbrener's FineWeb-Edu loss-to-loss fits, ``benchmarks/losstoloss_sampler.py``):
    in the model's own coordinates Stan's regularisation swamped parameters known to
    1e-4 (a test loss's link level beside a barely identified floor) and NUTS ran to its
    maximum tree depth; in whitened ones a dense estimate from the first short window
    (25 draws in 46 dimensions) left the directions it had not explored at 1e-4 of
    their variance, with the same result. Shrunk towards the identity, a dense
    adaptation samples too; on the train-to-train model it gave a smallest bulk ESS of
    115 against the diagonal's 232 (seed 1) and 98 against 89-100 (seed 0).

    ``model`` takes its data as keyword arguments; ``mode`` is a dict of unconstrained
    site values (:class:`ModeSearch`'s). ``refine=False`` when ``mode`` is that of another
    density (a noise scale held while it was searched): the chains then start there.
    ``whiten=False`` samples in the model's own coordinates from the given point (plus
    N(0, 0.1^2) noise), for partially pooled models, whose mode sits at a funnel's neck
    where the Laplace approximation is a poor metric: on the synthetic web -> {code,
    books} model with the links pooled by output (``tests/test_losstoloss.py``'s
    ``hub_fit``, 2 x (250 + 250)), whitened chains gave a smallest bulk ESS of 41-51
    (seeds 0, 1), and these chains 210 and 176 against 178 and 156 for NumPyro's NUTS
    in the same coordinates (``benchmarks/losstoloss_pooled.py``).

    >>> import numpyro, numpyro.distributions as dist
    >>> def model(y=None):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)
    >>> nuts = WhitenedNUTS(model, {"mu": jnp.zeros(())}, chains=2, warmup=100, draws=100,
    ...                     target_accept=0.8, dense_mass=True, max_tree_depth=6)
    >>> idata = nuts({"mu": jnp.zeros(())}, jax.random.PRNGKey(0), y=jnp.ones(4))
    >>> idata.posterior["mu"].shape, idata.sample_stats.attrs["coordinates"]
    ((2, 100), 'whitened')
    """

    def __init__(self, model, mode: dict, *, chains: int, warmup: int, draws: int,
                 target_accept: float, dense_mass: bool, max_tree_depth: int,
                 refine: bool = True, whiten: bool = True):
        enable_x64()
        self.model, self.whiten = model, whiten
        unravel = self.unravel = Unravel({k: np.shape(v) for k, v in mode.items()})
        dim = unravel.size
        eye = np.eye(dim)

        # jitted, so that the model is traced and differentiated once per program (the
        # optimiser, the Hessian and NUTS call it from several places)
        @jax.jit
        def value_and_grad(x, data):
            return jax.value_and_grad(
                lambda x: potential_energy(model, (), data, unravel(x)))(x)

        def prepare(x0, data):
            """The mode (refined from ``x0``), the whitening map C^-T and whether the
            Hessian there was positive definite (else the map is the identity)."""
            if refine:
                def objective(x):
                    value, grad = value_and_grad(x, data)
                    return finite_objective(value), grad

                mode, value = bfgs(objective, x0, 500)
                mode = jnp.where(value <= objective(x0)[0], mode, x0)
            else:
                mode = x0
            chol = cholesky(hessian(lambda x: value_and_grad(x, data)[1], mode))
            to_x = solve_triangular(chol, eye, lower=True, trans=1)  # C^-T
            usable = jnp.all(jnp.isfinite(to_x))
            return mode, jnp.where(usable, to_x, eye), usable

        def run(key, mode, to_x, data, whitened: bool):
            def potential(z):
                value, grad = value_and_grad(mode + to_x @ z, data)
                return value, to_x.T @ grad

            def chain(key):
                noise = start_noise(key, dim).astype(mode.dtype)
                return nuts_chain(
                    potential, key, noise if whitened else START_JITTER * noise,
                    warmup=warmup, draws=draws, target_accept=target_accept,
                    max_tree_depth=max_tree_depth,
                    mask=block_mask(dim, None) if dense_mass and not whitened else None,
                    regularization=1.0 if whitened else STAN_REGULARIZATION)

            records = split_runs(chain, chains)(jax.random.split(key, chains))
            return mode + records.z @ to_x.T, records

        def values(xs, data):
            return jax.vmap(jax.vmap(lambda x: constrain_fn(
                model, (), data, unravel(x), return_deterministic=True)))(xs)

        # the refinement and post-processing run once per call: compiled briefly
        self._programs = {
            "prepare": Executables(jax.jit(prepare).lower, brief=True),
            "values": Executables(jax.jit(values).lower, brief=True),
            "whitened": Executables(jax.jit(partial(run, whitened=True)).lower),
            "own": Executables(jax.jit(partial(run, whitened=False)).lower)}
        self._shape = (chains, draws, dim)
        self._log_lik = None

    def __call__(self, start: dict, rng_key, *, coords: dict | None = None,
                 dims: dict | None = None, **data) -> az.InferenceData:
        """The chains from ``start`` on ``data`` (the model's keyword arguments), as
        InferenceData with ``coords`` and ``dims``: the sampled and deterministic sites,
        ``sample_stats`` (as ``az.from_numpyro`` names them), and the observed sites'
        pointwise log likelihood and values (factors are not observations)."""
        x0 = self.unravel.ravel(start)
        dim = x0.shape[0]
        floats = partial(jax.ShapeDtypeStruct, dtype=x0.dtype)
        # the sampler and the post-processing compile in the background (on the first
        # call) while the mode is refined
        programs = self._programs
        programs["whitened" if self.whiten else "own"].ahead(
            rng_key, floats((dim,)), floats((dim, dim)), data)
        programs["values"].ahead(floats(self._shape), data)
        if self.whiten:
            mode, to_x, usable = programs["prepare"](x0, data)(x0, data)
        else:
            mode, to_x, usable = x0, np.eye(dim), False
        run = programs["whitened" if usable else "own"]
        xs, records = run(rng_key, mode, to_x, data)(rng_key, mode, to_x, data)
        xs = np.asarray(xs)  # from the chains' devices
        posterior = jax.tree_util.tree_map(np.asarray, programs["values"](xs, data)(xs, data))
        stats = sample_stats(records)
        stats["tree_depth"] = np.log2(stats["n_steps"]).astype(int) + 1
        log_lik, observed = self._observed(posterior, data)
        idata = az.from_dict(posterior=posterior, sample_stats=stats, log_likelihood=log_lik,
                             observed_data=observed, coords=coords or {}, dims=dims or {})
        # where the chains ran: a whitened sampler falls back to the model's own
        # coordinates where the Hessian at the mode is not positive definite
        idata.sample_stats.attrs["coordinates"] = "whitened" if bool(usable) else "own"
        return idata

    def _observed(self, posterior: dict, data: dict) -> tuple[dict, dict]:
        """Pointwise log likelihood of every observed site (not factors) at every draw,
        and the observed values; the program is compiled on the first call."""
        with TRACING:  # traces the model (here and on the program's first call)
            return self._observed_traced(posterior, data)

    def _observed_traced(self, posterior: dict, data: dict) -> tuple[dict, dict]:
        if self._log_lik is None:
            trace = handlers.trace(handlers.substitute(
                handlers.seed(self.model, 0),
                data={k: v[0, 0] for k, v in posterior.items()})).get_trace(**data)
            names = [n for n, site in trace.items() if site["type"] == "sample"
                     and site["is_observed"] and not isinstance(site["fn"], dist.Unit)]

            def log_lik(posterior, data):
                def sites(sample):
                    return handlers.trace(handlers.substitute(self.model, data=sample)
                                          ).get_trace(**data)

                def one(sample):
                    traced = sites(sample)
                    return {n: traced[n]["fn"].log_prob(traced[n]["value"]) for n in names}

                first = sites(jax.tree_util.tree_map(lambda v: v[0, 0], posterior))
                return jax.vmap(jax.vmap(one))(posterior), {n: first[n]["value"]
                                                            for n in names}

            self._log_lik = Executables(jax.jit(log_lik).lower, brief=True)
        log_lik, observed = self._log_lik(posterior, data)(posterior, data)
        return ({n: np.asarray(v) for n, v in log_lik.items()},
                {n: np.asarray(v) for n, v in observed.items()})


__all__ = ["ModeSearch", "WhitenedNUTS", "split_mesh", "split_runs"]
