"""Scaling laws as data, and the registry of built-in laws.

A :class:`Law` is a pure ``jax.numpy`` function plus metadata (:mod:`.law`); custom
laws come from a formula string through the safe parser (:mod:`.expr`); each family of
built-in laws is a module of its own, and this package is their registry.

Examples
--------
>>> import scalinglaws as sl
>>> law = sl.laws.get("chinchilla")
>>> law.variables
('N', 'D')
>>> hoffmann = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
>>> round(float(law.fn({"N": 1e9, "D": 2e10}, hoffmann)), 4)
2.58
"""

from __future__ import annotations

from ..errors import ScalingLawError
from .chinchilla import CHINCHILLA, KAPLAN
from .compute import BROKEN_POWER, COMPUTE
from .data_constrained import DATA_CONSTRAINED
from .isoflop import (
    ISOFLOP,
    ISOFLOP_PARABOLA,
    ISOFLOP_PARABOLA_BUDGET_NOISE,
    ISOFLOP_PARABOLA_SPREAD,
    ISOFLOP_SPREAD,
    ISOFLOP_SPREAD_MEASURED,
    ISOFLOP_SPREAD_QUADRATIC,
    is_isoflop,
    isoflop_optimum,
)
from .law import CONSTRAINTS, GROUP_SCALE, Law, Param, noise_power
from .overtraining import OVERTRAINING
from .transfer import DOWNSTREAM_EXP, SHIFTED_POWER

__all__ = ["BROKEN_POWER", "CHINCHILLA", "COMPUTE", "CONSTRAINTS", "DATA_CONSTRAINED",
           "DOWNSTREAM_EXP", "GROUP_SCALE", "ISOFLOP", "ISOFLOP_PARABOLA",
           "ISOFLOP_PARABOLA_BUDGET_NOISE", "ISOFLOP_PARABOLA_SPREAD", "ISOFLOP_SPREAD",
           "ISOFLOP_SPREAD_MEASURED", "ISOFLOP_SPREAD_QUADRATIC", "KAPLAN", "OVERTRAINING",
           "SHIFTED_POWER", "Law", "Param", "get", "is_isoflop", "isoflop_optimum", "names",
           "noise_power", "resolve"]

_REGISTRY: dict[str, Law] = {
    law.name: law
    for law in (CHINCHILLA, KAPLAN, OVERTRAINING, COMPUTE, SHIFTED_POWER, DOWNSTREAM_EXP,
                BROKEN_POWER, DATA_CONSTRAINED, ISOFLOP, ISOFLOP_SPREAD,
                ISOFLOP_SPREAD_QUADRATIC, ISOFLOP_SPREAD_MEASURED, ISOFLOP_PARABOLA,
                ISOFLOP_PARABOLA_SPREAD, ISOFLOP_PARABOLA_BUDGET_NOISE)
}


def names() -> list[str]:
    """Names of the built-in laws.

    >>> names()[:3]
    ['broken_power', 'chinchilla', 'compute']
    """
    return sorted(_REGISTRY)


def get(name: str | Law) -> Law:
    """The built-in law called ``name`` (a :class:`Law` is returned as is).

    >>> get("kaplan").params[0].name
    'E'
    """
    if isinstance(name, Law):
        return name
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ScalingLawError(
            f"unknown law {name!r}; use one of {names()}, a Law, or an expression string "
            f"such as 'E + A*N**-alpha'"
        )
    return _REGISTRY[name]


def resolve(law: str | Law) -> Law:
    """A registry name, a :class:`Law`, or an expression string, as a :class:`Law`.

    >>> resolve("E + A*C**-alpha").variables
    ('C',)
    """
    if isinstance(law, Law):
        return law
    if isinstance(law, str) and law in _REGISTRY:
        return _REGISTRY[law]
    if isinstance(law, str) and any(ch in law for ch in "+-*/("):
        return Law.from_expression(law)
    return get(law)
