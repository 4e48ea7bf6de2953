"""Memory and time of a fit with many rows on several CPU devices, with and without
XLA's YNNPACK fusions.

jaxlib 0.10 runs a YNNPACK fusion over more than 2^14 values as tasks on XLA's thread
pool, and while two device programs run at once (a fit's chains split across the CPU
devices, one per core) it keeps memory for every loop iteration of such a fusion until
the program ends. The package compiles every CPU program without them
(``engine.program.NO_YNN_FUSIONS``). This script first runs a bare JAX loop (no
scalinglaws: 20,000 gradient steps of an exp/log sum over 2 x n values on each of two
devices at once) compiled both ways, then fits synthetic sweeps of ``--rows`` rows
(hierarchical Chinchilla, E by dataset, centred; 4 chains of ``--warmup`` +
``--draws``), each in a fresh process with the persistent cache off, as the package
compiles them, with XLA's YNNPACK fusions, and (``--vectorised``) with each device's
chains vectorised rather than looped over (``engine.program.LOOPED_ENTRIES``), and prints
the wall time of the fit, the peak resident memory of the process, the sampler's mean
leapfrog steps per draw and the posterior mean of alpha with its Monte Carlo standard
error.

    python benchmarks/large_fit.py [--rows 5000 10000] [--warmup 300] [--draws 200]
                                   [--package-only] [--vectorised] [--skip-bare]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

#: One fit in a fresh process: ``argv`` = rows, warm-up, draws, "ynn" or "package".
CHILD = r"""
import importlib, json, resource, sys, time, warnings
import numpy as np, pandas as pd
import scalinglaws as sl
prog = importlib.import_module("scalinglaws.engine.program")
rows, warmup, draws, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if mode == "ynn":  # XLA's own fusions: the package's options less NO_YNN_FUSIONS
    for name in ("BRIEF_CPU_OPTIONS", "SAMPLER_CPU_OPTIONS"):
        setattr(prog, name, {k: v for k, v in getattr(prog, name).items()
                             if k not in prog.NO_YNN_FUSIONS})
if mode == "vectorised":  # each device's chains and starts vectorised, not looped
    prog.LOOPED_ENTRIES = False
rng = np.random.default_rng(0)
n_ = np.exp(rng.uniform(np.log(1e7), np.log(1e10), rows))
d_ = np.exp(rng.uniform(np.log(1e9), np.log(1e12), rows))
dataset = rng.choice(["a", "b", "c", "d"], rows)
floor = pd.Series(dataset).map({"a": 1.7, "b": 1.8, "c": 1.9, "d": 2.0}).to_numpy()
loss = (floor + 400 * n_ ** -0.34 + 410 * d_ ** -0.28) * np.exp(rng.normal(0, 0.01, rows))
frame = pd.DataFrame({"N": n_, "D": d_, "dataset": dataset, "loss": loss})
model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                        parameterization="centred")
started = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = model.fit(frame, seed=0, warmup=warmup, draws=draws, progress=False)
seconds = time.perf_counter() - started
row = fit.summary().loc["alpha"]
print("RESULT " + json.dumps({
    "seconds": seconds, "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
    "steps": float(fit.idata.sample_stats["n_steps"].mean()),
    "alpha": float(row["mean"]), "mcse": float(row["sd"]) / float(row["ess_bulk"]) ** 0.5}))
"""

#: The growth without the package: ``argv`` = values per row (two rows per device) and
#: whether to compile without YNNPACK fusions.
BARE = r"""
import os, resource, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
n = int(sys.argv[1])
mesh = jax.sharding.Mesh(np.array(jax.devices()), ("b",))
spec = jax.sharding.PartitionSpec("b")
u = np.stack([np.random.default_rng(0).uniform(16, 23, n)] * 4)  # 2 rows per device

def loss(x, v):
    return jnp.sum((jnp.log(jnp.exp(x[0]) + jnp.exp(x[1] - x[2] * v)) - 1.0) ** 2)

def loop(x, v):
    step = jax.vmap(jax.grad(loss))
    return jax.lax.fori_loop(0, 20000, lambda _, x: x - 1e-9 * step(x, v), x)

x = jnp.full((4, 3), 0.1)
lowered = jax.jit(jax.shard_map(loop, mesh=mesh, in_specs=spec, out_specs=spec)).lower(x, u)
f = lowered.compile({"xla_cpu_experimental_ynn_fusion_type": ""} if sys.argv[2] == "1"
                    else {})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
f(x, u).block_until_ready()
print(f"RESULT {(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1e3:.0f}")
"""


def run(code: str, args: list[str], env: dict | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"child failed:\n{done.stderr[-2000:]}")
    return lines[-1][len("RESULT "):]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--package-only", action="store_true",
                        help="skip the YNNPACK runs (which need 22 GB and more at 20,000 rows)")
    parser.add_argument("--vectorised", action="store_true",
                        help="also fit with each device's chains vectorised "
                             "(engine.program.LOOPED_ENTRIES = False)")
    parser.add_argument("--skip-bare", action="store_true", help="skip the bare JAX loop")
    args = parser.parse_args()
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    if not args.skip_bare:
        print("bare JAX loop, 2 x n values per operation on each of two devices at once, "
              "20,000 steps: memory kept while it ran")
        for n in (8192, 8300):
            for off, label in (("0", "XLA's defaults"), ("1", "no YNNPACK fusions")):
                print(f"  n = {n}, {label:<18}: {run(BARE, [str(n), off])} MB")
    print(f"\nfits, 4 chains x ({args.warmup} + {args.draws}); fresh process each")
    print(f"{'rows':>6}  {'chains':<18} {'fit s':>7} {'peak GB':>8} {'steps':>6}  alpha (MCSE)")
    for rows in args.rows:
        modes = [("package", "as the package runs")]
        modes += [] if args.package_only else [("ynn", "YNNPACK fusions")]
        modes += [("vectorised", "chains vectorised")] if args.vectorised else []
        for mode, label in modes:
            out = json.loads(run(CHILD, [str(rows), str(args.warmup), str(args.draws), mode],
                                 env))
            print(f"{rows:>6}  {label:<18} {out['seconds']:>7.1f} {out['peak_gb']:>8.2f} "
                  f"{out['steps']:>6.1f}  {out['alpha']:.5f} ({out['mcse']:.1g})", flush=True)


if __name__ == "__main__":
    main()
