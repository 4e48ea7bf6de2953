"""Laws from one loss to another quantity: shifted power (loss-to-loss) and downstream error."""

from __future__ import annotations

import jax.numpy as jnp

from ..priors import Prior
from .expr import log_of, log_sum_exp
from .law import Law, Param, exp_of


def _shifted_log(v, p):
    return log_sum_exp(log_of(p, "K") + p["kappa"] * jnp.log(v["L"] - p["E_x"]), log_of(p, "E_y"))


SHIFTED_POWER = Law(
    name="shifted_power",
    variables=("L",),
    params=(
        Param("K", "positive", Prior("LogNormal", 0.0, 1.0), group_scale=0.3,
              description="scale of the link"),
        Param("kappa", "positive", Prior("LogNormal", 0.0, 0.5), group_scale=0.2,
              description="exponent of the link"),
        Param("E_x", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
              description="irreducible loss of the input loss L_x"),
        Param("E_y", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
              description="irreducible loss of the output loss L_y"),
    ),
    fn=exp_of(_shifted_log),
    log_fn=_shifted_log,
    latex=r"L_y = K \left(L_x - E_x\right)^{\kappa} + E_y",
    citation="Brandfonbrener et al. 2025, Loss-to-Loss Prediction; Mayilvahanan et al. "
             "2025, LLMs on the Line",
    description="Loss-to-loss link: one loss L (= L_x) mapped to another. Defined for "
                "L > E_x.",
)


DOWNSTREAM_EXP = Law(
    name="downstream_exp",
    variables=("L",),
    params=(
        Param("epsilon", "unit", Prior("Beta", 8.0, 2.0), group_scale=0.3,
              description="error at infinite loss (chance level)"),
        Param("k", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
              description="scale of the decay"),
        Param("gamma", "positive", Prior("LogNormal", -0.5, 0.7), group_scale=0.2,
              description="rate of the decay in loss"),
    ),
    fn=lambda v, p: p["epsilon"] - p["k"] * jnp.exp(-p["gamma"] * v["L"]),
    output="real",
    latex=r"\mathrm{Err}(L) = \epsilon - k\, e^{-\gamma L}",
    citation="Gadre et al. 2024",
    description="Average downstream top-1 error as a function of loss L.",
)
