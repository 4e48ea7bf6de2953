"""engine.linalg: the sampler's Cholesky factors and triangular solves agree with
NumPy's, and vmapped on several CPU devices at once they return (jaxlib's batched CPU
LAPACK kernels hang there in jax 0.10)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from scalinglaws.engine.linalg import cho_solve, cholesky, solve_triangular
from scalinglaws.model import enable_x64


def _spd(rng, batch: int, n: int) -> np.ndarray:
    x = rng.normal(size=(batch, n, n))
    return x @ np.swapaxes(x, 1, 2) + n * np.eye(n)


def test_factors_and_solves_equal_numpys_alone_and_vmapped():
    enable_x64()
    rng = np.random.default_rng(0)
    a = _spd(rng, 3, 5)
    b = rng.normal(size=(3, 5, 2))
    chol = np.linalg.cholesky(a)
    np.testing.assert_allclose(jax.vmap(cholesky)(a), chol, rtol=1e-12)
    np.testing.assert_allclose(cholesky(a[0]), chol[0], rtol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.vmap(cholesky)))(a[None]), chol[None],
                               rtol=1e-12)
    np.testing.assert_allclose(jax.vmap(cho_solve)(chol, b), np.linalg.solve(a, b),
                               rtol=1e-10)
    upper = jax.vmap(lambda c, y: solve_triangular(c, y, lower=True, trans=1))(chol, b)
    np.testing.assert_allclose(upper, np.linalg.solve(np.swapaxes(chol, 1, 2), b),
                               rtol=1e-10)
    # one matrix batched against a batch of right-hand sides
    shared = jax.vmap(solve_triangular, in_axes=(None, 0))(chol[0], b)
    np.testing.assert_allclose(shared, np.linalg.solve(chol[0], b), rtol=1e-10)
    # not positive definite: NaN in the factor, as jnp.linalg.cholesky gives
    bad = jnp.stack([-jnp.eye(2), jnp.eye(2)])
    np.testing.assert_array_equal(jax.vmap(cholesky)(bad), jnp.linalg.cholesky(bad))
    assert np.isnan(np.asarray(cholesky(bad[0]))).any()


def test_vmapped_on_two_cpu_devices_at_once_returns():
    # each device factors a batch of matrices at the same time as the other; with
    # jnp.linalg.cholesky and jax.scipy's solve_triangular this program never returns
    script = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        import scalinglaws
        from scalinglaws.engine.linalg import cholesky, solve_triangular
        from scalinglaws.model import enable_x64
        enable_x64()
        assert jax.device_count() == 2
        n = 101
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("b",))
        spec = jax.sharding.PartitionSpec("b")
        x = np.random.default_rng(0).normal(size=(8, n, n))
        a = x @ np.swapaxes(x, 1, 2) + n * np.eye(n)
        for op in (cholesky, lambda m: solve_triangular(m, jnp.eye(n))):
            def per_device(a):
                def body(i, acc):
                    return acc + jax.vmap(op)(a + i * 1e-3 * jnp.eye(n))
                return jax.lax.fori_loop(0, 50, body, jnp.zeros_like(a))
            run = jax.jit(jax.shard_map(per_device, mesh=mesh, in_specs=spec,
                                        out_specs=spec))
            for _ in range(20):
                out = np.asarray(run(a))
            assert np.isfinite(out).all()
        print("returned")
    """)
    env = {**os.environ, "SCALINGLAWS_CPU_DEVICES": "2"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "returned" in done.stdout
