"""Laws in training compute alone: a power law, and a smoothly broken power law
(Caballero et al. 2023)."""

from __future__ import annotations

import jax.numpy as jnp

from ..priors import Prior
from .expr import log_of, log_sum_exp
from .law import COEFFICIENT_PRIOR, EXPONENT_PRIOR, IRREDUCIBLE, Law, Param, exp_of


def _compute_log(v, p):
    return log_sum_exp(log_of(p, "E"), log_of(p, "A") - p["alpha"] * jnp.log(v["C"]))


COMPUTE = Law(
    name="compute",
    variables=("C",),
    params=(
        IRREDUCIBLE,
        Param("A", "positive", COEFFICIENT_PRIOR, reference=True,
              description="coefficient (sampled as A_ref, the C-term at C_ref)"),
        Param("alpha", "positive", EXPONENT_PRIOR, group_scale=0.2, description="compute exponent"),
    ),
    fn=exp_of(_compute_log),
    log_fn=_compute_log,
    from_reference=lambda ref, p, logref: {"A": ref["A"] + p["alpha"] * logref["C"]},
    latex=r"L(C) = E + A C^{-\alpha}",
    citation="Kaplan et al. 2020; Hoffmann et al. 2022 (compute-optimal frontier)",
    description="Loss against training compute alone.",
)



def _broken_log(v, p):
    logc = jnp.log(v["C"])
    # softplus((log C - log d) / f) = log(1 + (C/d)^(1/f)), stable in both tails
    bend = jnp.logaddexp(0.0, (logc - log_of(p, "d")) / p["f"])
    return log_sum_exp(log_of(p, "E"),
                log_of(p, "A") - p["alpha"] * logc - p["c1"] * p["f"] * bend)


def _broken_from_ref(ref, p, logref):
    return {"A": ref["A"] + p["alpha"] * logref["C"], "d": ref["d"] + logref["C"]}


BROKEN_POWER = Law(
    name="broken_power",
    variables=("C",),
    params=(
        IRREDUCIBLE,
        Param("A", "positive", COEFFICIENT_PRIOR, reference=True,
              description="coefficient (sampled as A_ref, the term at C_ref before the bend)"),
        Param("alpha", "positive", EXPONENT_PRIOR, group_scale=0.2,
              description="exponent before the break"),
        Param("c1", "real", Prior("Normal", 0.0, 0.5), group_scale=0.2,
              description="change of exponent after the break"),
        Param("d", "positive", Prior("LogNormal", 0.0, 3.0), reference=True,
              description="break location (sampled as d_ref = d / C_ref)"),
        Param("f", "positive", Prior("LogNormal", -1.0, 1.0), group_scale=0.3,
              description="sharpness of the break"),
    ),
    fn=exp_of(_broken_log),
    log_fn=_broken_log,
    from_reference=_broken_from_ref,
    latex=r"L(C) = E + A C^{-\alpha}\left(1 + (C/d)^{1/f}\right)^{-c_1 f}",
    citation="Caballero et al. 2023, Broken Neural Scaling Laws (one break)",
    description="A power law in compute whose exponent changes from alpha to alpha + c1 "
                "around C = d.",
)
