"""float64 in JAX, switched on by the package wherever it builds or evaluates a model.

JAX computes in float32 unless ``jax_enable_x64`` is set. The package sets it where its
own code first needs numbers (building a model or its data, evaluating a law through
:meth:`scalinglaws.laws.Law.__call__`, reading draws), not when it is imported, so that
importing it changes nothing in a process until it is used.

>>> enable_x64()
>>> import jax.numpy as jnp
>>> jnp.asarray(1.0).dtype
dtype('float64')
"""

from __future__ import annotations

import jax


def enable_x64() -> None:
    """Use float64 in JAX from here on, in this process."""
    jax.config.update("jax_enable_x64", True)
