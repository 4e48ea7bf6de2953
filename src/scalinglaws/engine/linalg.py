"""Cholesky factors and triangular solves for the compiled programs, safe on several CPU
devices.

On a CPU, jaxlib's LAPACK kernels split a batch of matrices (a vmapped ``cholesky`` or
``solve_triangular``) into tasks on XLA's intra-op thread pool and block until they are
done. When every device runs such a kernel at once, each holds a thread of that pool
while its tasks wait for a free one, and the program never returns (the process idles;
jax 0.10). The engine vmaps over chains on each of several CPU devices, so without this
module a fit with two chains per device and a dense mass matrix of about a hundred
dimensions would never return. Here a vmapped call runs the kernel once per batch entry
(``lax.map``) on a CPU, where each call factors one matrix inline; elsewhere (GPU) the
batched kernel is kept.

>>> import jax, jax.numpy as jnp
>>> a = jnp.array([[[4.0, 2.0], [2.0, 3.0]], [[9.0, 0.0], [0.0, 1.0]]])
>>> [[round(float(v), 6) for v in m.ravel()] for m in jax.vmap(cholesky)(a)]
[[2.0, 0.0, 1.0, 1.414214], [3.0, 0.0, 0.0, 1.0]]
"""

from __future__ import annotations

from functools import cache, partial

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap


def _one_at_a_time(fn):
    """``fn`` (positional array arguments, no batch axis) whose vmap calls it once per
    batch entry, in sequence; nested vmaps nest the loops."""
    wrapped = custom_vmap(fn)

    @wrapped.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = tuple(a if batched else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))
                     for a, batched in zip(args, in_batched, strict=True))
        out = jax.lax.map(lambda xs: wrapped(*xs), args)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return wrapped


_cholesky_cpu = _one_at_a_time(jnp.linalg.cholesky)


@cache
def _solve_cpu(lower: bool, trans: int):
    return _one_at_a_time(partial(jax.scipy.linalg.solve_triangular, lower=lower,
                                  trans=trans))


def cholesky(a: jax.Array) -> jax.Array:
    """The lower Cholesky factor of ``a`` (NaN where ``a`` is not positive definite), as
    ``jnp.linalg.cholesky``."""
    if jax.default_backend() == "cpu":
        return _cholesky_cpu(a)
    return jnp.linalg.cholesky(a)


def solve_triangular(chol: jax.Array, b: jax.Array, *, lower: bool = True,
                     trans: int = 0) -> jax.Array:
    """``jax.scipy.linalg.solve_triangular(chol, b, lower=lower, trans=trans)``."""
    if jax.default_backend() == "cpu":
        return _solve_cpu(lower, trans)(chol, b)
    return jax.scipy.linalg.solve_triangular(chol, b, lower=lower, trans=trans)


def cho_solve(chol: jax.Array, b: jax.Array) -> jax.Array:
    """``A^-1 b`` from the lower Cholesky factor of ``A``, as
    ``jax.scipy.linalg.cho_solve((chol, True), b)``."""
    return solve_triangular(chol, solve_triangular(chol, b, lower=True), lower=True,
                            trans=1)


__all__ = ["cho_solve", "cholesky", "solve_triangular"]
