"""Memory of long loops running on several CPU devices at once.

jaxlib 0.10 runs a YNNPACK fusion over more than 128 KB (2^14 float64 values) as tasks
on XLA's thread pool, and while two device programs run at once it keeps memory for
every loop iteration of such a fusion until the program ends: a fit of 20,000 rows
passed 22 GB. The package
compiles its CPU programs without those fusions (``engine.program.NO_YNN_FUSIONS``;
``benchmarks/large_fit.py`` measures whole fits).
"""

from __future__ import annotations

import sys

import pytest

SCRIPT = """
    import importlib, json, threading, time
    import scalinglaws  # two CPU devices (SCALINGLAWS_CPU_DEVICES) before JAX starts
    import jax, jax.numpy as jnp, numpy as np
    program = importlib.import_module("scalinglaws.engine.program")
    jax.config.update("jax_enable_x64", True)  # as every fit runs
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("b",))
    spec = jax.sharding.PartitionSpec("b")
    v = np.stack([np.random.default_rng(0).uniform(16, 23, 8300)] * 4)  # 2 x 8,300 values

    def loss(x, v):  # a Chinchilla-like law's squared residuals
        law = jnp.exp(x[0]) + jnp.exp(x[1] - x[2] * v) + jnp.exp(x[3] - 0.3 * 1.1 * v)
        return jnp.sum(((jnp.log(law) - 1.0) / 0.05) ** 2)

    def loop(x, v):  # a sampler's shape: 20,000 gradient steps, 2 chains per device
        step = jax.vmap(jax.grad(loss))
        return jax.lax.fori_loop(0, 20000, lambda _, x: x - 1e-9 * step(x, v), x)

    x = jnp.full((4, 4), 0.1)
    lowered = jax.jit(program.shard_map(loop, mesh=mesh, in_specs=spec,
                                        out_specs=spec)).lower(x, v)
    run = program.compile_lowered(lowered, brief=False)

    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    most, running = [resident()], True

    def watch():
        while running:
            most.append(resident())
            time.sleep(0.01)

    before, watcher = resident(), threading.Thread(target=watch)
    watcher.start()
    run(x, v).block_until_ready()
    running = False
    watcher.join()
    print(json.dumps({"devices": jax.device_count(), "kept_mb": (max(most) - before) / 1e6}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_a_long_loop_on_two_cpu_devices_keeps_no_memory_per_iteration(run_on_cpu_devices):
    out = run_on_cpu_devices(SCRIPT, 2)
    assert out["devices"] == 2
    # compiled with YNNPACK fusions, jaxlib 0.10 kept 412 MB here (about 20 KB per step)
    assert out["kept_mb"] < 150, out
