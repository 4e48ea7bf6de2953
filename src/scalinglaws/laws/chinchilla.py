"""Laws in model size N and data D: Chinchilla (Hoffmann et al. 2022) and Kaplan et al. 2020."""

from __future__ import annotations

import jax.numpy as jnp

from .expr import log_of, log_sum_exp
from .law import COEFFICIENT_PRIOR, EXPONENT_PRIOR, IRREDUCIBLE, Law, Param, exp_of


def _chinchilla_log(v, p):
    return log_sum_exp(log_of(p, "E"),
                log_of(p, "A") - p["alpha"] * jnp.log(v["N"]),
                log_of(p, "B") - p["beta"] * jnp.log(v["D"]))


def chinchilla_from_reference(ref, p, logref):
    return {"A": ref["A"] + p["alpha"] * logref["N"], "B": ref["B"] + p["beta"] * logref["D"]}


CHINCHILLA = Law(
    name="chinchilla",
    variables=("N", "D"),
    params=(
        IRREDUCIBLE,
        Param("A", "positive", COEFFICIENT_PRIOR, reference=True,
              description="coefficient of the parameter term (sampled as A_ref, the "
                          "N-term at N_ref)"),
        Param("B", "positive", COEFFICIENT_PRIOR, reference=True,
              description="coefficient of the data term (sampled as B_ref, the D-term "
                          "at D_ref)"),
        Param("alpha", "positive", EXPONENT_PRIOR, group_scale=0.2,
              description="parameter exponent"),
        Param("beta", "positive", EXPONENT_PRIOR, group_scale=0.2, description="data exponent"),
    ),
    fn=exp_of(_chinchilla_log),
    log_fn=_chinchilla_log,
    from_reference=chinchilla_from_reference,
    latex=r"L(N, D) = E + A N^{-\alpha} + B D^{-\beta}",
    citation="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models",
    description="Loss as an irreducible term plus power laws in parameters N and "
                "training tokens D.",
    level_terms=("E", "A", "B"),
    # alpha A_ref / V and beta B_ref / V are the slopes in log N and log D at the
    # reference point, which the data fix (Law.share_scaled)
    share_scaled=(("alpha", "A"), ("beta", "B")),
)


def _kaplan_log(v, p):
    inner = log_sum_exp((p["alpha"] / p["beta"]) * (log_of(p, "A") - jnp.log(v["N"])),
                 log_of(p, "B") - jnp.log(v["D"]))
    return log_sum_exp(log_of(p, "E"), p["beta"] * inner)


def _kaplan_from_ref(ref, p, logref):
    # A_ref = (A / N_ref)^(alpha/beta), B_ref = B / D_ref: both terms are O(1) at the reference.
    return {"A": logref["N"] + (p["beta"] / p["alpha"]) * ref["A"], "B": logref["D"] + ref["B"]}


KAPLAN = Law(
    name="kaplan",
    variables=("N", "D"),
    params=(
        IRREDUCIBLE,
        Param("A", "positive", COEFFICIENT_PRIOR, reference=True,
              description="critical parameter count N_c (sampled as A_ref = "
                          "(A/N_ref)^(alpha/beta))"),
        Param("B", "positive", COEFFICIENT_PRIOR, reference=True,
              description="critical token count D_c (sampled as B_ref = B/D_ref)"),
        Param("alpha", "positive", EXPONENT_PRIOR, group_scale=0.2,
              description="parameter exponent"),
        Param("beta", "positive", EXPONENT_PRIOR, group_scale=0.2, description="data exponent"),
    ),
    fn=exp_of(_kaplan_log),
    log_fn=_kaplan_log,
    from_reference=_kaplan_from_ref,
    latex=(r"L(N, D) = E + \left(\left(\frac{A}{N}\right)^{\alpha/\beta}"
           r" + \frac{B}{D}\right)^{\beta}"),
    citation="Kaplan et al. 2020, Scaling Laws for Neural Language Models "
             "(with an offset E, as used by Brandfonbrener et al. 2025)",
    description="Kaplan's joint law in N and D, with an irreducible loss E.",
)
