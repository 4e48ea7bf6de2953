"""Data-constrained scaling (Muennighoff et al. 2023): repeated tokens and repeated
parameters are worth less than fresh ones."""

from __future__ import annotations

import jax.numpy as jnp

from ..priors import Prior
from .chinchilla import CHINCHILLA, chinchilla_from_reference
from .expr import log_of, log_sum_exp
from .law import Array, Law, Param, exp_of

# --- data-constrained scaling (Muennighoff et al. 2023) ----------------------------------


def _log_effective(log_unique: Array, log_total: Array, half_life: Array) -> Array:
    """log U' for U' = U + U R* (1 - exp(-R/R*)), R = total/U - 1 repetitions.

    ``log1p``/``expm1`` keep it exact when R is tiny (one epoch: U' = U) and finite at
    1e12 parameters; ``total >= unique`` is the law's input condition.
    """
    repeats = jnp.expm1(log_total - log_unique)
    return log_unique + jnp.log1p(-half_life * jnp.expm1(-repeats / half_life))


def _data_constrained_log(v, p):
    log_n = _log_effective(jnp.log(v["U_N"]), jnp.log(v["N"]), p["RN_star"])
    log_d = _log_effective(jnp.log(v["U_D"]), jnp.log(v["D"]), p["RD_star"])
    return log_sum_exp(log_of(p, "E"),
                log_of(p, "A") - p["alpha"] * log_n,
                log_of(p, "B") - p["beta"] * log_d)


def _data_constrained_check(v, fitting):
    return [
        ("unique tokens U_D exceed the total tokens D (fewer than one epoch); U_D must be "
         "at most D", v["U_D"] > v["D"]),
        ("unique parameters U_N exceed the parameters N; U_N must be at most N (U_N = N "
         "when no parameters are in excess)", v["U_N"] > v["N"]),
    ]


DATA_CONSTRAINED = Law(
    name="data_constrained",
    variables=("N", "D", "U_D", "U_N"),
    params=(
        *CHINCHILLA.params,  # E, A, B, alpha, beta: the terms of N' and D' as Chinchilla's
        Param("RD_star", "positive", Prior("LogNormal", 2.5, 1.0), group_scale=0.3,
              description="half-life of repeated data, in repetitions (R_D^*)"),
        Param("RN_star", "positive", Prior("LogNormal", 2.5, 1.0), group_scale=0.3,
              description="half-life of excess parameters, in multiples of U_N (R_N^*)"),
    ),
    fn=exp_of(_data_constrained_log),
    log_fn=_data_constrained_log,
    from_reference=chinchilla_from_reference,
    latex=(r"L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}},\quad "
           r"D' = U_D + U_D R_D^* \left(1 - e^{-R_D/R_D^*}\right),\ R_D = D/U_D - 1,\quad "
           r"N' = U_N + U_N R_N^* \left(1 - e^{-R_N/R_N^*}\right),\ R_N = N/U_N - 1"),
    citation="Muennighoff et al. 2023, Scaling Data-Constrained Language Models",
    description="Chinchilla with repeated tokens and excess parameters worth less: D' and "
                "N' are the effective data and parameters, saturating at (1 + R*) times "
                "the unique amount. U_N = N switches the parameter decay off.",
    check=_data_constrained_check,
)
