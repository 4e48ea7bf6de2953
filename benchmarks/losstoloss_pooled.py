"""A partially pooled loss-to-loss model: NumPyro's NUTS against the engine's NUTS in the
model's own coordinates (`engine.mcmc.WhitenedNUTS(whiten=False)`) and in the Laplace
approximation's whitened ones (`whiten=True, refine=False`, what a centred fit with
`whiten=True` uses), side by side.

The synthetic web -> {code, books} model of the test suite's `hub_fit` (chinchilla
compute law, link parameters partially pooled by output, centred), 2 chains x
(250 + 250) at a target acceptance of 0.8 with a dense mass matrix, all from the same
mode (`losstoloss.sampling`'s search, in the non-centred twin), seeds 0 and 1. Prints
per sampler: wall seconds (compilation included; the persistent cache is off), the
smallest bulk and tail ESS and largest R-hat over the scalar quantities, divergences,
leapfrog steps per draw; and per seed the largest difference of posterior means in
combined Monte Carlo standard errors between NumPyro's and each of the engine's.

    python benchmarks/losstoloss_pooled.py [--chains 4 --warmup 1000 --draws 1000
                                            --target-accept 0.9]

(the options replace those settings; the last four are a fit's defaults).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("SCALINGLAWS_CACHE_DIR", "off")

import arviz as az  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from losstoloss_mode import hub_pairs  # noqa: E402
from losstoloss_sampler import numpyro_nuts  # noqa: E402

import scalinglaws.losstoloss as ltl  # noqa: E402
from scalinglaws.engine.mcmc import WhitenedNUTS  # noqa: E402
from scalinglaws.losstoloss import sampling  # noqa: E402
from scalinglaws.losstoloss.layout import Layout  # noqa: E402
from scalinglaws.losstoloss.model import dims_coords, unpad  # noqa: E402

SETTINGS = dict(chains=2, warmup=250, draws=250, target_accept=0.8, dense_mass=True,
                max_tree_depth=10)


def numpyro(model, mode, key, *, coords, dims, **data):
    """NumPyro's NUTS (`losstoloss_sampler.numpyro_nuts`) at :data:`SETTINGS`."""
    return numpyro_nuts(model, mode, key, chains=SETTINGS["chains"], warmup=SETTINGS["warmup"],
                        draws=SETTINGS["draws"], coords=coords, dims=dims, settings=SETTINGS,
                        **data)


def own(model, mode, key, *, coords, dims, **data):
    """The engine's NUTS in the model's own coordinates at :data:`SETTINGS`."""
    return WhitenedNUTS(model, mode, whiten=False, **SETTINGS)(mode, key, coords=coords,
                                                               dims=dims, **data)


def whitened(model, mode, key, *, coords, dims, **data):
    """The engine's NUTS in the whitened coordinates at :data:`SETTINGS`, from the mode."""
    return WhitenedNUTS(model, mode, refine=False, **SETTINGS)(mode, key, coords=coords,
                                                               dims=dims, **data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("chains", "warmup", "draws"):
        parser.add_argument(f"--{name}", type=int, default=SETTINGS[name])
    parser.add_argument("--target-accept", type=float, default=SETTINGS["target_accept"])
    args = parser.parse_args()
    SETTINGS.update(chains=args.chains, warmup=args.warmup, draws=args.draws,
                    target_accept=args.target_accept)
    warnings.simplefilter("ignore")
    pairs = hub_pairs()
    spec = ltl.LossToLossModel("chinchilla", parameterization="centred",
                               vary={"kappa": "dataset_y", "K": "dataset_y", "E_y": "dataset_y"})
    layout = Layout.build(spec, pairs)
    dims, coords = dims_coords(spec, layout)
    data = {"arrays": layout.arrays(spec)}
    model = sampling._model(spec, layout.shapes, "joint")
    print(f"jax {jax.__version__}, {jax.device_count()} device(s); {SETTINGS['chains']} "
          f"chains x ({SETTINGS['warmup']} + {SETTINGS['draws']}), target accept "
          f"{SETTINGS['target_accept']}")
    for seed in (0, 1):
        key_mode, key = jax.random.split(jax.random.PRNGKey(seed))
        mode = sampling._mode(spec, layout, "joint", data, key_mode, 8)
        posteriors = []
        for name, sampler in (("NumPyro NUTS", numpyro), ("engine, own coords", own),
                              ("engine, whitened", whitened)):
            started = time.perf_counter()
            idata = unpad(sampler(model, mode, key, coords=coords, dims=dims, **data), layout)
            wall = time.perf_counter() - started
            names = [v for v in idata.posterior.data_vars if v != "log_lik"]
            table = az.summary(idata.posterior[names], kind="diagnostics")
            posteriors.append(idata.posterior[names])
            print(f"seed {seed}  {name:18s} {wall:6.1f} s  bulk ESS {table['ess_bulk'].min():5.0f}"
                  f"  tail ESS {table['ess_tail'].min():5.0f}  R-hat {table['r_hat'].max():.3f}"
                  f"  divergences {int(idata.sample_stats['diverging'].values.sum())}"
                  f"  steps/draw {idata.sample_stats['n_steps'].values.mean():.0f}")
        for name, other in (("own coords", posteriors[1]), ("whitened", posteriors[2])):
            worst = 0.0
            for v in other.data_vars:
                pair = (posteriors[0], other)
                means = [p[v].mean(("chain", "draw")).values for p in pair]
                mcse = [az.mcse(p[[v]])[v].values for p in pair]
                worst = max(worst, float(np.max(np.abs(means[0] - means[1]) / np.hypot(*mcse))))
            print(f"seed {seed}  NumPyro against {name}: largest difference of means "
                  f"{worst:.2f} combined MCSE")


if __name__ == "__main__":
    main()
