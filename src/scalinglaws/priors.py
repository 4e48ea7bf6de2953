"""Priors as value objects: ``Prior("Normal", loc=0, scale=1)``.

A :class:`Prior` names a NumPyro distribution and its arguments. It is immutable,
compares by value, round-trips through a plain dict (and so JSON and TOML), and turns
into a ``numpyro.distributions.Distribution`` only when a model is built.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ._checks import _is_real, is_finite_number
from .errors import ScalingLawError

#: Distribution names a Prior may use, with their positional argument names.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("loc", "scale"),
    "LogNormal": ("loc", "scale"),
    "HalfNormal": ("scale",),
    "HalfCauchy": ("scale",),
    "StudentT": ("df", "loc", "scale"),
    "Cauchy": ("loc", "scale"),
    "Exponential": ("rate",),
    "Gamma": ("concentration", "rate"),
    "InverseGamma": ("concentration", "rate"),
    "Beta": ("concentration1", "concentration0"),
    "Uniform": ("low", "high"),
    "TruncatedNormal": ("loc", "scale", "low", "high"),
}

#: Which constraint each family's support satisfies (checked against a law parameter).
_POSITIVE_SUPPORTS = ("LogNormal", "HalfNormal", "HalfCauchy", "Exponential", "Gamma",
                      "InverseGamma")


@dataclass(frozen=True)
class Prior:
    """A prior distribution by name, e.g. ``Prior("Beta", 2, 4)``.

    Parameters
    ----------
    name : str
        A NumPyro distribution name from :data:`DISTRIBUTIONS`.
    *args, **kwargs : float
        Its parameters, positionally in NumPyro's order or by keyword.

    Examples
    --------
    >>> p = Prior("Normal", loc=0.0, scale=2.0)
    >>> p.to_dict()
    {'name': 'Normal', 'loc': 0.0, 'scale': 2.0}
    >>> Prior.from_dict(p.to_dict()) == p
    True
    >>> Prior("Beta", 2, 4)
    Prior('Beta', concentration1=2.0, concentration0=4.0)
    """

    name: str
    params: tuple[tuple[str, float], ...] = field(default=())

    def __init__(self, name: str, *args: float, **kwargs: float) -> None:
        if not isinstance(name, str) or name not in DISTRIBUTIONS:
            raise ScalingLawError(
                f"unknown prior distribution {name!r}; use one of {sorted(DISTRIBUTIONS)}"
            )
        argnames = DISTRIBUTIONS[name]
        if len(args) > len(argnames):
            raise ScalingLawError(
                f"Prior({name!r}) takes at most {len(argnames)} arguments {argnames}, "
                f"got {len(args)}"
            )
        values = dict(zip(argnames, args, strict=False))
        for key, value in kwargs.items():
            if key not in argnames:
                raise ScalingLawError(
                    f"Prior({name!r}) has no argument {key!r}; its arguments are {argnames}"
                )
            if key in values:
                raise ScalingLawError(f"Prior({name!r}) got {key!r} twice")
            values[key] = value
        missing = [a for a in argnames if a not in values]
        if missing:
            raise ScalingLawError(f"Prior({name!r}) needs {missing}; e.g. Prior({name!r}, ...)")
        checked = []
        for key in argnames:
            value = values[key]
            if not is_finite_number(value):
                kind = ("True/False" if isinstance(value, bool | np.bool_) else
                        "text" if isinstance(value, str) else None)
                if kind is None and _is_real(value):
                    raise ScalingLawError(f"Prior({name!r}) argument {key} must be finite "
                                          f"and in float64's range, got {value!r}"[:300])
                what = f"not a number but {kind}" if kind else "not a number"
                raise ScalingLawError(f"Prior({name!r}) argument {key}={value!r} is {what}; "
                                      f"give a number, e.g. {key}=1.0"[:300])
            checked.append((key, float(value)))
        bounds = dict(checked)
        if "low" in bounds and not bounds["low"] < bounds["high"]:
            raise ScalingLawError(
                f"Prior({name!r}) needs low < high, got low={bounds['low']!r}, "
                f"high={bounds['high']!r}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "params", tuple(checked))
        try:
            self.to_numpyro(validate=True)
        except ValueError as err:
            raise ScalingLawError(f"{self!r} is not a valid distribution: {err}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"Prior({self.name!r}, {args})"

    @property
    def kwargs(self) -> dict[str, float]:
        """The distribution's arguments by name."""
        return dict(self.params)

    def to_numpyro(self, validate: bool = False) -> dist.Distribution:
        """The NumPyro distribution this prior names.

        >>> Prior("HalfNormal", 0.5).to_numpyro().scale
        0.5
        """
        cls = getattr(dist, self.name)
        if "validate_args" in inspect.signature(cls).parameters:
            return cls(**self.kwargs, validate_args=validate)
        return cls(**self.kwargs)

    def support_fits(self, constraint: str) -> bool:
        """Whether this prior only puts mass where a parameter of ``constraint`` lives.

        ``constraint`` is ``"positive"``, ``"unit"`` or ``"real"``.

        >>> Prior("Normal", 0, 1).support_fits("positive")
        False
        >>> Prior("Beta", 2, 2).support_fits("positive")
        True
        """
        if constraint == "real":
            return True
        support = self.to_numpyro().support
        low = high = None
        if self.name in _POSITIVE_SUPPORTS:
            low, high = 0.0, float("inf")
        elif self.name == "Beta":
            low, high = 0.0, 1.0
        elif self.name == "Uniform":
            low, high = self.kwargs["low"], self.kwargs["high"]
        elif self.name == "TruncatedNormal":
            low, high = self.kwargs["low"], self.kwargs["high"]
        elif support is constraints.positive:  # pragma: no cover - covered by the list
            low, high = 0.0, float("inf")
        if low is None:
            return False
        if constraint == "positive":
            return low >= 0.0
        return low >= 0.0 and high <= 1.0

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON/TOML-ready): ``{"name": ..., <arg>: value, ...}``."""
        return {"name": self.name, **self.kwargs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prior:
        """Inverse of :meth:`to_dict`.

        >>> Prior.from_dict({"name": "Gamma", "concentration": 2, "rate": 0.1})
        Prior('Gamma', concentration=2.0, rate=0.1)
        """
        if not isinstance(data, dict) or "name" not in data:
            raise ScalingLawError(
                f"a prior must be a dict with a 'name' key, e.g. "
                f"{{'name': 'Normal', 'loc': 0, 'scale': 1}}; got {data!r}"
            )
        rest = {k: v for k, v in data.items() if k != "name"}
        if not all(isinstance(k, str) for k in rest):
            raise ScalingLawError(f"a prior's arguments are named by text, got {list(rest)}")
        return cls(data["name"], **rest)
