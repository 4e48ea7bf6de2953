"""Scaling laws as data, and the registry of laws known by name.

A :class:`Law` is a pure ``jax.numpy`` function plus metadata (:mod:`.law`); custom
laws come from a formula string through the safe parser (:mod:`.expr`) or are built in
Python and named with :func:`register`; each family of built-in laws is a module of its
own, and this package is their registry.

Examples
--------
>>> import scalinglaws as sl
>>> law = sl.laws.get("chinchilla")
>>> law.variables
('N', 'D')
>>> hoffmann = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
>>> round(float(law({"N": 1e9, "D": 2e10}, hoffmann)), 4)  # computed in float64
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

__all__ = ["BROKEN_POWER", "BUILTIN", "CHINCHILLA", "COMPUTE", "CONSTRAINTS", "DATA_CONSTRAINED",
           "DOWNSTREAM_EXP", "GROUP_SCALE", "ISOFLOP", "ISOFLOP_PARABOLA",
           "ISOFLOP_PARABOLA_BUDGET_NOISE", "ISOFLOP_PARABOLA_SPREAD", "ISOFLOP_SPREAD",
           "ISOFLOP_SPREAD_MEASURED", "ISOFLOP_SPREAD_QUADRATIC", "KAPLAN", "OVERTRAINING",
           "SHIFTED_POWER", "Law", "Param", "get", "is_isoflop", "isoflop_optimum", "names",
           "noise_power", "portable", "register", "resolve", "unregister"]

_REGISTRY: dict[str, Law] = {
    law.name: law
    for law in (CHINCHILLA, KAPLAN, OVERTRAINING, COMPUTE, SHIFTED_POWER, DOWNSTREAM_EXP,
                BROKEN_POWER, DATA_CONSTRAINED, ISOFLOP, ISOFLOP_SPREAD,
                ISOFLOP_SPREAD_QUADRATIC, ISOFLOP_SPREAD_MEASURED, ISOFLOP_PARABOLA,
                ISOFLOP_PARABOLA_SPREAD, ISOFLOP_PARABOLA_BUDGET_NOISE)
}
#: The names of the laws that ship with the package (:func:`register` adds others).
BUILTIN = frozenset(_REGISTRY)


def names() -> list[str]:
    """Names of the laws known by name: the built-in ones and those :func:`register`
    added in this process.

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
            f"such as 'E + A*N**-alpha' (a law built in Python is known by name once "
            f"sl.laws.register(law) has run in this process)"
        )
    return _REGISTRY[name]


def register(law: Law, *, replace: bool = False) -> Law:
    """Make ``law`` known by its name in this process, as the built-in laws are: a
    :class:`~scalinglaws.ScalingModel`, a spec file (``law = "name"``) and a saved fit
    can then name it. Returns ``law``.

    A law built in Python (its own ``fn``, a ``log_fn`` or a ``check``) has no text form,
    so a spec or fit that uses it is written with its name, and a process reading one
    back must register the same law first. A law from an expression is written with its
    expression wherever it was registered. A built-in name cannot be taken, and a name
    registered for another law only with ``replace=True``.

    >>> from scalinglaws.priors import Prior
    >>> power = Law(name="my_power", variables=("C",), latex="E C^{-\\alpha}",
    ...             params=(Param("E", "positive", Prior("LogNormal", 0.0, 1.0)),
    ...                     Param("alpha", "positive", Prior("LogNormal", -1.0, 0.5))),
    ...             fn=lambda v, p: p["E"] * v["C"] ** -p["alpha"])
    >>> register(power) is power, get("my_power") is power, portable(power)
    (True, True, False)
    >>> unregister("my_power")
    >>> register(Law.from_expression("E + A*N**-alpha", name="chinchilla"))
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: 'chinchilla' is a built-in law; give yours another \
name (Law(name=...) or Law.from_expression(..., name=...))
    """
    if not isinstance(law, Law):
        raise ScalingLawError(f"register takes a Law (Law(...) or Law.from_expression(...)), "
                              f"got {type(law).__name__}")
    name = law.name
    if not isinstance(name, str) or not name.isidentifier():
        raise ScalingLawError(f"a registered law's name must be a word of letters, digits "
                              f"and underscores (it is written in spec files), got {name!r}")
    if name in BUILTIN:
        raise ScalingLawError(f"{name!r} is a built-in law; give yours another name "
                              f"(Law(name=...) or Law.from_expression(..., name=...))")
    if name in _REGISTRY and _REGISTRY[name] != law and not replace:
        raise ScalingLawError(f"another law is registered as {name!r}; pass replace=True "
                              f"to put this one in its place, or give it another name")
    _REGISTRY[name] = law
    return law


def unregister(name: str) -> None:
    """Forget the law :func:`register` added as ``name`` (built-in laws stay)."""
    if name in BUILTIN:
        raise ScalingLawError(f"{name!r} is a built-in law; only registered laws can be "
                              f"unregistered")
    if name not in _REGISTRY:
        raise ScalingLawError(f"no law is registered as {name!r}; registered: "
                              f"{sorted(set(_REGISTRY) - BUILTIN)}")
    del _REGISTRY[name]


def portable(law: Law) -> bool:
    """Whether ``law`` is the same wherever its written form is read: a built-in law, one
    from an expression, or :func:`noise_power` of a portable law. A law built in Python
    and registered by name is not (another process may register another law under that
    name), so the compiled programs of a model using it are kept in its process only.

    >>> portable(get("chinchilla")), portable(Law.from_expression("E + A*N**-alpha"))
    (True, True)
    """
    if law.noise_power_of is not None:
        return portable(law.noise_power_of[0])
    return law.expression is not None or (law.name in BUILTIN and _REGISTRY[law.name] == law)


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
