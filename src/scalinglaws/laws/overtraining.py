"""The over-training law of Gadre et al. 2024: loss in compute and tokens per parameter."""

from __future__ import annotations

import jax.numpy as jnp

from ..priors import Prior
from .expr import log_of, log_sum_exp
from .law import COEFFICIENT_PRIOR, IRREDUCIBLE, Law, Param, exp_of


def _overtraining_log(v, p):
    # a M^eta C^-eta = a 6^-eta N^-2eta and b M^-eta C^-eta = b 6^-eta D^-2eta,
    # with C = 6 N D and M = D / N.
    log6 = jnp.log(6.0)
    return log_sum_exp(log_of(p, "E"),
                log_of(p, "a") - p["eta"] * (log6 + 2.0 * jnp.log(v["N"])),
                log_of(p, "b") - p["eta"] * (log6 + 2.0 * jnp.log(v["D"])))


def _overtraining_from_ref(ref, p, logref):
    log6 = jnp.log(6.0)
    return {"a": ref["a"] + p["eta"] * (log6 + 2.0 * logref["N"]),
            "b": ref["b"] + p["eta"] * (log6 + 2.0 * logref["D"])}


OVERTRAINING = Law(
    name="overtraining",
    variables=("N", "D"),
    params=(
        IRREDUCIBLE,
        Param("a", "positive", COEFFICIENT_PRIOR, reference=True,
              description="coefficient of M^eta (sampled as a_ref, the N-term at N_ref)"),
        Param("b", "positive", COEFFICIENT_PRIOR, reference=True,
              description="coefficient of M^-eta (sampled as b_ref, the D-term at D_ref)"),
        Param("eta", "positive", Prior("LogNormal", -2.0, 0.8), group_scale=0.2,
              description="compute exponent"),
    ),
    fn=exp_of(_overtraining_log),
    log_fn=_overtraining_log,
    from_reference=_overtraining_from_ref,
    level_terms=("E", "a", "b"),
    # 2 eta (a_ref + b_ref) / V is the slope in log C at the reference point (Law.share_scaled)
    share_scaled=(("eta", ("a", "b")),),
    latex=r"L(N, M) = E + \left(a M^{\eta} + b M^{-\eta}\right) C^{-\eta},"
          r"\quad C = 6 N D,\ M = D / N",
    citation="Gadre et al. 2024, Language models scale reliably with over-training and on "
             "downstream tasks",
    description="Loss against compute C and token multiplier M; Chinchilla with one shared "
                "exponent 2*eta.",
)
