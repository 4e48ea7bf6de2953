"""How much faster batched demo fits could be on this CPU, at best.

A batched program (``ScalingModel.fit_many``) can save a fit's per-call overheads and
the sampler's bookkeeping, but not the likelihood's arithmetic: every leapfrog step of
every chain evaluates the gradient once. This script measures

- a warm ``fit`` of the demo model (the sequential cost per fit, compiled program
  reused), with its leapfrog steps after warm-up (``n_steps``; the warm-up's steps are
  not recorded and are counted as the draws' rate, which undercounts them), and
- the demo model's gradient alone, vectorised over ``C`` chains (default 128: K = 64
  fits of 4 chains on 2 devices) in a compiled loop: seconds per chain-gradient, and the
  fused kernels XLA runs one after another for one gradient call (each dispatched on its
  own: at two chains the dispatches, not the arithmetic, are most of the cost).

The bound is the gradients a fit needs times that cost, spread over the devices: no
batched program on this machine can take less per fit, so the sequential time over it is
the largest speed-up batching can give.

    python benchmarks/batch_bound.py [--chains 128]
"""

from __future__ import annotations

import argparse
import os
import re
import time

import jax
import jax.numpy as jnp
from numpyro.infer.util import potential_energy

import scalinglaws as sl
from scalinglaws.data import make_design
from scalinglaws.engine.program import Settings, program
from scalinglaws.model import pad, structure_of

WARMUP, DRAWS, CHAINS = 500, 1000, 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=128)
    args = parser.parse_args()
    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                            parameterization="centred")
    runs = sl.synthetic.sweep(seed=0)
    model.fit(runs, seed=0, chains=CHAINS, warmup=WARMUP, draws=DRAWS, progress=False)
    started = time.perf_counter()
    fit = model.fit(runs.iloc[:-1], seed=1, chains=CHAINS, warmup=WARMUP, draws=DRAWS,
                    progress=False)
    per_fit = time.perf_counter() - started
    steps = fit.idata.sample_stats["n_steps"].values
    gradients = float(steps.sum()) * (WARMUP + DRAWS) / DRAWS

    design = make_design(model, runs)
    structure = structure_of([design])
    data = pad(design, structure)
    prog = program(model, structure, Settings(chains=CHAINS, draws=DRAWS, max_tree_depth=10,
                                              dense_mass=True, n_starts=32), data)
    grad = jax.grad(lambda x: potential_energy(prog.model, (data,), {}, prog.unravel(x)))
    x0 = jnp.full((args.chains, prog.dim), 0.1)  # the cost does not depend on where
    loops = 2000

    @jax.jit
    def loop(x):
        return jax.lax.fori_loop(0, loops, lambda _, x: x - 1e-9 * jax.vmap(grad)(x), x)

    jax.block_until_ready(loop(x0))
    started = time.perf_counter()
    jax.block_until_ready(loop(x0))
    per_gradient = (time.perf_counter() - started) / (loops * args.chains)
    compiled = jax.jit(jax.vmap(grad)).lower(x0).compile().as_text()
    kernels = len(re.findall(r"= \S+ fusion\(", compiled[compiled.index("ENTRY"):]))
    devices = jax.device_count()
    bound = gradients * per_gradient / devices
    print(f"warm fit: {per_fit:.2f} s, {gradients:,.0f} gradients ({steps.mean():.1f} "
          f"leapfrog steps per draw)")
    print(f"gradient vectorised over {args.chains} chains: {per_gradient * 1e6:.2f} us per "
          f"chain ({kernels} fused kernels per call); on {devices} devices a fit's gradients "
          f"take at least {bound:.3f} s")
    print(f"batched fits can be at most {per_fit / bound:.1f}x the throughput of "
          f"sequential fits here ({os.cpu_count()} CPU cores, jax {jax.__version__})")


if __name__ == "__main__":
    main()
