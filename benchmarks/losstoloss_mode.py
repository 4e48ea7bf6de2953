"""Loss-to-loss mode search: the package's BFGS (`engine.program.bfgs`, used by
`engine.mcmc.ModeSearch`) against `jax.scipy.optimize.minimize(method="BFGS")`, on the
synthetic web -> {code, books} fit of the test suite (chinchilla compute law, links
varying by output set, marginal latent input losses; 8 starts each).

    python benchmarks/losstoloss_mode.py

Prints, per optimiser, the wall time of the mode search (compilation included, fresh
compile each: the persistent cache is off) and the three lowest potential energies
(negative log density) its starts reached. Lower is better; starts that agree found
the same optimum.
"""

from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("SCALINGLAWS_CACHE_DIR", "off")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.scipy.optimize import minimize  # noqa: E402

from scalinglaws import losstoloss as ltl  # noqa: E402
from scalinglaws.engine.mcmc import ModeSearch  # noqa: E402
from scalinglaws.losstoloss.layout import Layout  # noqa: E402
from scalinglaws.losstoloss.model import build  # noqa: E402


def scipy_bfgs(model, data, rng_key, n_starts: int = 32, max_iter: int = 500):
    """`mcmc.ModeSearch` with jax.scipy's BFGS in place of the package's (and NumPyro's
    `init_to_uniform(radius=2)` starts)."""
    from jax.flatten_util import ravel_pytree
    from numpyro.infer import init_to_uniform
    from numpyro.infer.util import initialize_model

    keys = jax.random.split(rng_key, n_starts)
    info = initialize_model(keys, model, model_kwargs=data,
                            init_strategy=init_to_uniform(radius=2.0))
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda x: x[0], info.param_info.z))
    flat_starts = jax.vmap(lambda z: ravel_pytree(z)[0])(info.param_info.z)

    def objective(x):
        value = info.potential_fn(unravel(x))
        return jnp.where(jnp.isfinite(value), value, 1e30)

    def solve(x0):
        result = minimize(objective, x0, method="BFGS", options={"maxiter": max_iter})
        return result.x, objective(result.x)

    xs, energies = jax.jit(jax.vmap(solve))(flat_starts)
    energies = np.asarray(energies)
    return unravel(xs[int(np.argmin(energies))]), np.sort(energies)


def hub_pairs():
    """The test suite's synthetic web -> {code, books} pairs (`hub_pairs`)."""
    runs = ltl.simulate(seed=1, sizes=(1e7, 3e7, 1e8, 3e8, 1e9, 3e9), multipliers=(5, 20, 80),
                        sigma={"web": 0.02, "code": 0.003, "books": 0.003})
    return ltl.pair_train_to_train(runs, x="web", y=["code", "books"], loss="loss")


def main() -> None:
    warnings.simplefilter("ignore")
    pairs = hub_pairs()
    model = ltl.LossToLossModel("chinchilla", parameterization="centred",
                                vary={"kappa": "dataset_y", "K": "dataset_y",
                                      "E_y": "dataset_y"})
    layout = Layout.build(model, pairs)
    data = {"arrays": layout.arrays(model)}
    joint = build(model, layout.shapes, model.latent)
    key = jax.random.PRNGKey(0)
    rows = []
    for name, optimiser in (
            ("jax.scipy BFGS", lambda: scipy_bfgs(joint, data, key, n_starts=8)),
            ("scalinglaws BFGS", lambda: ModeSearch(joint, data, n_starts=8)(key, **data))):
        started = time.perf_counter()
        _, energies = optimiser()
        rows.append((name, time.perf_counter() - started, energies[:3]))
    print(f"jax {jax.__version__}, {jax.device_count()} device(s)")
    for name, seconds, energies in rows:
        print(f"{name:18s} {seconds:6.1f} s   lowest energies "
              + ", ".join(f"{e:.3f}" for e in energies))


if __name__ == "__main__":
    main()
