"""NumPyro's MCMC on a model closed over its data: the loss-to-loss fits' sampler.

The core fits run through the compiled programs of :mod:`.program`; the joint and cut
loss-to-loss models still build a model closure per fit and sample it here, started
near a multi-start BFGS mode (:func:`find_mode`).
"""

from __future__ import annotations

import warnings

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer import MCMC, NUTS, init_to_uniform
from numpyro.infer.util import initialize_model

from ..errors import ScalingLawError
from .program import bfgs


def chain_method(chains: int) -> str:
    """``"parallel"`` when there is one device per chain, else ``"vectorized"``.

    >>> chain_method(1)
    'vectorized'
    """
    return "parallel" if chains > 1 and jax.local_device_count() >= chains else "vectorized"


def find_mode(model, y, rng_key, n_starts: int = 32, max_iter: int = 500):
    """Posterior mode on the unconstrained scale from ``n_starts`` BFGS runs
    (:func:`.program.bfgs`, the compiled fits' optimiser) in one vmap.

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
        return bfgs(jax.value_and_grad(objective), x0, max_iter)

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
