"""A loss-to-loss model's description (:class:`LossToLossSpec`): its fields and their
checks, the two core :class:`~scalinglaws.ScalingModel` specs it splits into (compute
law and link), its dict/TOML forms, and the default priors of its own parameters. It
holds no data and no samples; :class:`~scalinglaws.losstoloss.LossToLossModel` adds the
verb that fits it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from .._checks import check_choice, check_mapping
from ..errors import ScalingLawError
from ..laws import Law, portable, resolve
from ..priors import Prior
from ..scaling_model import ScalingModel
from ..spec import (
    AUTO,
    LIKELIHOODS,
    PARAMETERIZATIONS,
    POOLINGS,
    dump_toml,
    factor_key,
    per_factor,
    read_toml,
)
from .composed import LINK_PREFIX, X_PREFIX, link_core, output_law

#: How the latent input losses are handled (see :func:`build`): ``"marginal"`` integrates
#: each one out by adaptive Gauss-Hermite quadrature (no latent parameters for NUTS), and
#: ``"noncentred"`` samples them as ``u = m + tau z`` (slow; a check of the quadrature).
LATENTS = ("marginal", "noncentred")
#: How the links' data bear on the compute law (see :class:`LossToLossModel`): ``"joint"``
#: one posterior of everything; ``"cut"`` the compute law from the input losses alone,
#: the links given its draws.
FEEDBACKS = ("joint", "cut")
#: Default prior of ``tau``, the shared deviation of a run from the compute law (log of
#: the reducible loss).
TAU_PRIOR = Prior("HalfNormal", 0.1)
#: Default priors of the observation noise scales. Away from 0 on purpose: with one output
#: per input model the split of the noise between x and y is only weakly identified, and a
#: prior with mass at 0 (HalfNormal) makes a funnel there. Median 0.5% on log L_x, 1% on
#: log L_y (or 0.01 absolute for error rates).
SIGMA_X_PRIOR = Prior("LogNormal", -5.3, 1.0)
SIGMA_Y_PRIOR = Prior("LogNormal", -4.6, 1.0)
#: Internal column names: the compute law's target and the link's placeholder input.
X_TARGET = "__x_obs"
L_DUMMY = "__L"
#: The model's own names of the core parameters whose names it changes ((core, name) ->
#: own name): the compute law's E and noise, and the link's noise. Every other parameter
#: keeps its core's name. ``vary``, ``priors`` and ``parameterization`` take own names.
OWN_NAMES = {(X_PREFIX, "E"): "E_x", (X_PREFIX, "sigma"): "sigma_x",
             (LINK_PREFIX, "sigma"): "sigma_y"}
_CORE_NAMES = {own: core for core, own in OWN_NAMES.items()}


def own_name(core: str, name: str) -> str:
    """The model's own name of the parameter ``name`` of a core (``"x"``: the compute law,
    ``"link"``), as ``vary``, ``priors`` and ``parameterization`` take it; a per-factor
    key (``"sigma[task]"``) keeps its factor.

    >>> own_name("link", "sigma"), own_name("x", "E"), own_name("link", "kappa")
    ('sigma_y', 'E_x', 'kappa')
    >>> own_name("link", "sigma[task]")
    'sigma_y[task]'
    """
    base, by = factor_key(name)
    own = OWN_NAMES.get((core, base), base)
    return own if by is None else per_factor(own, by)


def _additive_e(law: Law) -> bool:
    """Whether ``law`` is ``E + f(vars)``: raising E by 1 raises the prediction by 1."""
    point = {v: jnp.asarray(1e9) for v in law.variables}
    params = {}
    for p in law.params:
        params[p.name] = jnp.asarray(0.5 if p.constraint == "unit" else 0.3)
    lo = law.fn(point, {**params, "E": jnp.asarray(1.0)})
    hi = law.fn(point, {**params, "E": jnp.asarray(2.0)})
    return bool(jnp.isfinite(lo)) and abs(float(hi - lo) - 1.0) < 1e-6


def _check_loss_columns(spec: LossToLossSpec, law: Law) -> None:
    """Refuse ``x`` or ``y`` naming a column the model reads as something else: a law
    input, a factor it varies by, ``x_run`` or ``law_rows``."""
    inputs = {var: dict(spec.inputs).get(var, var) for var in law.variables}
    factors = {}
    for param, by in dict(spec.vary).items():
        for factor in ([by] if isinstance(by, str) else by if isinstance(by, list | tuple)
                       else ()):
            factors.setdefault(factor, param)
    for name, column in (("x", spec.x), ("y", spec.y)):
        role = "input" if name == "x" else "output"
        fix = (f"name the {role} loss column in {name}= (pair_losses gives "
               f"'loss_{name}')")
        clash = next((var for var, col in inputs.items() if col == column), None)
        if clash is not None:
            raise ScalingLawError(f"{name}={column!r} is the column of the compute law's "
                                  f"input {clash} (inputs[{clash!r}]); {fix}")
        if column in factors:
            raise ScalingLawError(f"{name}={column!r} is a factor the model varies by "
                                  f"(vary[{factors[column]!r}]); {fix}, or vary by another "
                                  f"column")
        for other, what in (("x_run", "that identifies the input models"),
                            ("law_rows", "that marks the input models informing the law")):
            if getattr(spec, other) == column:
                raise ScalingLawError(f"{name}={column!r} is also {other}, the column {what}; "
                                      f"{fix}")


def _law_to_value(law: Law) -> Any:
    """A law as a JSON value (registry name or expression dict), via the core's spec."""
    return ScalingModel(law).to_dict()["law"]


def _law_from_value(value: Any) -> Law:
    return ScalingModel.from_dict({"law": value}).law



@dataclass(frozen=True)
class LossToLossSpec:
    """What a :class:`~scalinglaws.losstoloss.LossToLossModel` is, without the verb that
    fits it.

    The fields, their checks, the two core specs they make (:attr:`x_spec`,
    :attr:`link_spec`) and their dict/TOML forms; the layout and the model read a spec
    through these attributes only. See :class:`~scalinglaws.losstoloss.LossToLossModel`
    for each field.
    """

    law: Law | str = "kaplan"
    link: Law | str = "shifted_power"
    inputs: Mapping[str, str] = field(default_factory=dict)
    x: str = "loss_x"
    y: str = "loss_y"
    x_run: str | None = None
    vary: Mapping[str, Any] = field(default_factory=dict)
    priors: Mapping[str, Any] = field(default_factory=dict)
    pooling: str = "partial"
    likelihood: str = "normal"
    parameterization: str | Mapping[str, str] = "noncentred"
    latent: str = "marginal"
    reference: Mapping[str, float] | None = None
    law_rows: str | None = None
    feedback: str = "joint"

    def __post_init__(self) -> None:
        law = resolve(self.law)
        link = resolve(self.link)
        object.__setattr__(self, "law", law)
        object.__setattr__(self, "link", link)
        if "E" not in law.param_names or law.output != "positive":
            raise ScalingLawError(
                f"the compute law {law.name!r} needs a positive output and an irreducible term "
                f"'E' (it becomes the link's E_x); use 'kaplan', 'chinchilla', 'overtraining' "
                f"or an expression like 'E + A*N**-alpha + B*D**-beta'"
            )
        if not _additive_e(law):
            raise ScalingLawError(
                f"the compute law {law.name!r} must be E plus a positive reducible term so that "
                f"the latent loss minus E_x is the reducible loss; rewrite it as 'E + ...'"
            )
        for role, one in (("compute law", law), ("link", link)):
            if one.log_noise_factor is not None:
                raise ScalingLawError(
                    f"the {role} {one.name!r} has its own per-row noise factor, which the "
                    f"loss-to-loss models do not apply (their noise is one scale per "
                    f"factor level); use the law without it (e.g. 'isoflop' for "
                    f"'isoflop_spread') or fit it with ScalingModel")
        if link.variables != ("L",):
            raise ScalingLawError(
                f"the link {link.name!r} must be a law of one variable 'L' (the input loss), "
                f"got variables {list(link.variables)}; use 'shifted_power' or 'downstream_exp'"
            )
        core_link = link_core(link)
        clash = set(law.param_names) & set(core_link.param_names)
        if clash:
            raise ScalingLawError(
                f"the compute law and the link both have parameters {sorted(clash)}; rename "
                f"them in one of the laws (Law.from_expression with other names)"
            )
        for name, value in (("x", self.x), ("y", self.y)):
            if not isinstance(value, str) or not value:
                raise ScalingLawError(f"{name} must be a column name, got {value!r}")
        if self.x == self.y:
            raise ScalingLawError(f"x and y name the same column {self.x!r}; pair the losses "
                                  f"first (pair_losses) so that each row has both")
        check_choice(self.latent, LATENTS, "latent")
        check_choice(self.feedback, FEEDBACKS, "feedback")
        if not isinstance(self.pooling, str) or not isinstance(self.likelihood, str) \
                or self.pooling not in POOLINGS or self.likelihood not in LIKELIHOODS:
            raise ScalingLawError(
                f"pooling must be one of {POOLINGS} and likelihood one of {LIKELIHOODS}; got "
                f"{self.pooling!r}, {self.likelihood!r}"
            )
        for name in ("x_run", "law_rows"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ScalingLawError(f"{name} must be a column name or None, got {value!r}")
        for name in ("inputs", "vary", "priors"):
            check_mapping(getattr(self, name), name)
        if self.reference is not None:
            check_mapping(self.reference, "reference")
        _check_loss_columns(self, law)

        def route(key: str, what: str) -> tuple[str, str]:
            """(X_PREFIX or LINK_PREFIX, the core's name) of a parameter's own name."""
            if key in _CORE_NAMES:
                return _CORE_NAMES[key]
            if key in law.param_names:
                return X_PREFIX, key
            if key in core_link.param_names:
                return LINK_PREFIX, key
            raise ScalingLawError(
                f"{what} names {key!r}, which this model does not have; use a compute-law "
                f"parameter {list(law.param_names)} (or 'E_x'), a link parameter "
                f"{list(core_link.param_names)}, 'sigma_x' or 'sigma_y'"
            )

        vary_x, vary_l = {}, {}
        for key, value in dict(self.vary).items():
            side, name = route(key, "vary")
            (vary_x if side == X_PREFIX else vary_l)[name] = value
        param_x: str | dict = self.parameterization
        param_l: str | dict = self.parameterization
        if isinstance(self.parameterization, Mapping):
            param_x, param_l = {}, {}
            for key, value in self.parameterization.items():
                base, by = factor_key(key) if isinstance(key, str) else (key, None)
                side, name = route(base, "parameterization")
                (param_x if side == X_PREFIX else param_l)[
                    name if by is None else per_factor(name, by)] = value
        elif not isinstance(self.parameterization, str) \
                or self.parameterization not in (*PARAMETERIZATIONS, AUTO):
            raise ScalingLawError(f"parameterization must be one of {(*PARAMETERIZATIONS, AUTO)} "
                                  f"or a dict per varying parameter (or 'K[factor]' per "
                                  f"factor), got {self.parameterization!r}")
        priors_x, priors_l, tau = {}, {}, TAU_PRIOR
        for key, value in dict(self.priors).items():
            base = key[:-3] if key.endswith("_sd") else key
            suffix = "_sd" if key.endswith("_sd") else ""
            if key == "tau":
                tau = value if isinstance(value, Prior) else Prior.from_dict(value)
                if not tau.support_fits("positive"):
                    raise ScalingLawError(f"priors['tau'] = {tau!r} must be on positive values "
                                          f"(e.g. HalfNormal)")
            elif key == "nu":
                priors_x[key] = priors_l[key] = value
            elif base in _CORE_NAMES or base in law.param_names or base in core_link.param_names:
                side, name = route(base, "priors")
                (priors_x if side == X_PREFIX else priors_l)[name + suffix] = value
            else:
                raise ScalingLawError(
                    f"priors names {key!r}, which this model does not have; it has the "
                    f"compute-law parameters {list(law.param_names)}, the link parameters "
                    f"{list(core_link.param_names)}, 'tau', 'sigma_x', 'sigma_y', 'nu' and "
                    f"'<param>_sd' for varying ones"
                )
        priors_x.setdefault("sigma", SIGMA_X_PRIOR)
        priors_l.setdefault("sigma", SIGMA_Y_PRIOR)
        common = {"pooling": self.pooling, "likelihood": self.likelihood}
        x_spec = ScalingModel(law, inputs=dict(self.inputs), target=X_TARGET, vary=vary_x,
                              priors=priors_x, reference=self.reference,
                              parameterization=param_x, **common)
        link_spec = ScalingModel(core_link, inputs={"L": L_DUMMY}, target=self.y, vary=vary_l,
                                 priors=priors_l, parameterization=param_l, **common)
        if isinstance(self.parameterization, Mapping):
            object.__setattr__(self, "parameterization", dict(self.parameterization))
        object.__setattr__(self, "inputs", dict(x_spec.inputs))
        object.__setattr__(self, "vary", {k: (v,) if isinstance(v, str) else tuple(v)
                                          for k, v in dict(self.vary).items()})
        object.__setattr__(self, "priors", {
            k: v if isinstance(v, Prior) else Prior.from_dict(v)
            for k, v in dict(self.priors).items()})
        object.__setattr__(self, "_x_spec", x_spec)
        object.__setattr__(self, "_link_spec", link_spec)
        object.__setattr__(self, "_tau_prior", tau)
        object.__setattr__(self, "_output_law", output_law(law, link))

    # --- the two core specs --------------------------------------------------------------

    @property
    def x_spec(self) -> ScalingModel:
        """The compute law as a core :class:`~scalinglaws.ScalingModel` (target internal)."""
        return self._x_spec  # type: ignore[attr-defined]

    @property
    def link_spec(self) -> ScalingModel:
        """The link as a core :class:`~scalinglaws.ScalingModel` (``E_x`` removed)."""
        return self._link_spec  # type: ignore[attr-defined]

    @property
    def tau_prior(self) -> Prior:
        """Prior of ``tau``."""
        return self._tau_prior  # type: ignore[attr-defined]

    @property
    def x_factors(self) -> tuple[str, ...]:
        """Factors the compute law varies by (constant within an input model)."""
        return self.x_spec.factors

    @property
    def link_factors(self) -> tuple[str, ...]:
        """Factors the link varies by."""
        return self.link_spec.factors

    @property
    def factors(self) -> tuple[str, ...]:
        """Every factor the model varies by: the compute law's, then the link's."""
        return tuple(dict.fromkeys([*self.x_factors, *self.link_factors]))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this model reads (inputs, x, y, factors, law_rows, x_run)."""
        cols = [*self.inputs.values(), self.x, self.y, *self.factors, self.law_rows,
                self.x_run]
        return tuple(dict.fromkeys(c for c in cols if c))

    @property
    def target(self) -> str:
        """The column a prediction's ``law`` is of: the output loss ``y``."""
        return self.y

    @property
    def scale(self) -> str:
        """The scale of the output's likelihood (``"log"`` for losses)."""
        return self.link_spec.scale

    @property
    def target_law(self) -> Law:
        """The noise-free output loss over the inputs, ``link(law(inputs))``
        (:func:`output_law`): what the decisions search over N and D. Its parameters are
        the keys of a fit's ``predict_draws(...)["params"]``."""
        return self._output_law

    # --- serialisation -------------------------------------------------------------------

    def __reduce__(self):
        """Pickled as its :meth:`to_dict`, as :class:`scalinglaws.spec.ModelSpec` is."""
        return (type(self).from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict; :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {
            "law": _law_to_value(self.law), "link": _law_to_value(self.link),
            "inputs": dict(self.inputs), "x": self.x, "y": self.y,
            "vary": {k: list(v) for k, v in self.vary.items()},
            "priors": {k: p.to_dict() for k, p in self.priors.items()},
            "pooling": self.pooling, "likelihood": self.likelihood,
            "parameterization": (dict(self.parameterization)
                                 if isinstance(self.parameterization, Mapping)
                                 else self.parameterization),
            "latent": self.latent, "feedback": self.feedback,
        }
        for key in ("x_run", "law_rows"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.reference is not None:
            out["reference"] = dict(self.reference)
        return out

    def to_json(self) -> str:
        """The spec as a JSON string (:meth:`to_dict`'s, keys sorted): what keys its
        compiled programs (:class:`scalinglaws.model.ProgramCache`)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def portable(self) -> bool:
        """Whether :meth:`to_json` says all there is to the model: the compute law and
        the link are :func:`~scalinglaws.laws.portable`."""
        return portable(self.law) and portable(self.link)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LossToLossSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        data = dict(data)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ScalingLawError(f"loss-to-loss spec has unknown keys {sorted(unknown)}; known "
                                  f"keys are {sorted(known)}")
        for key in ("law", "link"):
            if key in data and not isinstance(data[key], (str, Law)):
                data[key] = _law_from_value(data[key])
        return cls(**data)

    def to_toml(self, path: str | Path | None = None) -> str:
        """The spec as TOML text (``models/*.toml``); also written to ``path`` when given.

        >>> from scalinglaws.losstoloss import LossToLossModel
        >>> print(LossToLossModel("kaplan", feedback="cut").to_toml().splitlines()[0])
        law = "kaplan"
        """
        return dump_toml(self.to_dict(), path)

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> LossToLossSpec:
        """Read a spec from a TOML file (or TOML text); other tables (``[study]``) are
        ignored, as in :meth:`scalinglaws.ScalingModel.from_toml`.

        >>> from scalinglaws.losstoloss import LossToLossModel
        >>> model = LossToLossModel("kaplan", vary={"kappa": "task"})
        >>> LossToLossModel.from_toml(model.to_toml()) == model
        True
        """
        data = read_toml(path_or_text)
        if "link" not in data:
            raise ScalingLawError("a loss-to-loss spec names its link (link = "
                                  "\"shifted_power\"); this looks like a ScalingModel spec: "
                                  "read it with ScalingModel.from_toml")
        return cls.from_dict({k: v for k, v in data.items()
                              if k in cls.__dataclass_fields__})
