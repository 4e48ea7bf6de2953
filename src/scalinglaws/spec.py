"""The immutable description of a model: law, columns, hierarchy, priors.

:class:`ModelSpec` holds no data and no samples, and nothing here fits:
:class:`~scalinglaws.ScalingModel` (in :mod:`scalinglaws.scaling_model`) adds ``fit`` and
``fit_many`` on top of the engine. Specs round-trip through plain dicts, JSON and TOML
(``models/*.toml``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._checks import (
    as_path,
    check_choice,
    check_input_file,
    check_keys,
    check_mapping,
    did_you_mean,
)
from .errors import ScalingLawError
from .laws import BUILTIN, GROUP_SCALE, Law, names, noise_power, portable, resolve
from .priors import Prior

POOLINGS = ("partial", "none", "complete")
LIKELIHOODS = ("normal", "student_t")
SCALES = ("log", "identity")
PARAMETERIZATIONS = ("noncentred", "centred")
#: ``parameterization="auto"``: each fit chooses per pooled parameter from its data
#: (:func:`scalinglaws.engine.nuts.auto_parameterization`).
AUTO = "auto"
COORDINATES = ("natural", "level")
#: The keys of a spec (``to_dict``, TOML files); any other key is an error in ``from_dict``.
SPEC_KEYS = ("law", "inputs", "target", "vary", "priors", "pooling", "likelihood", "scale",
             "run", "reference", "parameterization", "coordinates", "measurement_se")

#: Tables a TOML spec file may hold besides the spec's own keys (read by other code).
TOML_EXTRA_KEYS = ("study",)
#: Sampler settings, which belong to ``fit`` and not in a spec file.
SAMPLER_KEYS = ("sampler", "seed", "chains", "warmup", "draws", "target_accept", "n_starts",
                "max_tree_depth", "dense_mass")
#: The keys of a ``[law]`` table (a law written as an expression).
LAW_KEYS = ("expression", "name", "output", "params", "variables")
#: The keys of a ``[law]`` table that extends a law with a noise power (``noise_power``).
NOISE_POWER_KEYS = ("noise_power", "base", "name", "prior", "description")

#: Priors of the quantities every model has besides the law's parameters.
NOISE_PRIORS = {
    "sigma": Prior("HalfNormal", 0.1),
    "nu": Prior("Gamma", 2.0, 0.1),
    "run_sd": Prior("HalfNormal", 0.05),
}
#: The between-level standard deviation of ``sigma`` when it varies by a factor.
SIGMA_GROUP_SCALE = 0.5
#: Sites every model may create whatever its law (:mod:`scalinglaws.model`), and what
#: each is: a law parameter may not take one of these names.
MODEL_SITES = {
    "sigma": "the noise scale",
    "nu": "the degrees of freedom of Student-t noise",
    "y": "the observed target",
    "row": "the plate of the data's rows",
    "run_sd": "the scale of per-run offsets",
    "run_z": "the per-run offsets",
    "run_offset": "the per-run offsets",
    "run_eps": "the per-run offsets",
    "run_integrated": "the per-run offsets",
    "log_level": "the law's level in level coordinates",
    "sigma_sd": "the between-level standard deviation of sigma",
}
#: Prefixes of the level coordinates' sites (``logit_share_<term>``, ``log_scaled_<p>``).
MODEL_SITE_PREFIXES = ("log_level_", "logit_share_", "log_scaled_")


def model_site_names(law: Law, vary: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Every name a model of ``law`` varying as ``vary`` gives its own sites and priors,
    besides the law parameters' own names, with what each is (:data:`MODEL_SITES`, a
    reference-scale parameter's ``<p>_ref``, ``<p>_sd``, and per factor ``<p>_<factor>``,
    ``<p>_sd_<factor>``, ``<p>_z_<factor>`` and ``<p>_offset_<factor>``).

    >>> names = model_site_names(resolve("chinchilla"), {"E": ("dataset",)})
    >>> names["A_ref"], names["E_dataset"]
    ('A sampled at the reference scale', "E's value per level of dataset")
    """
    names = dict(MODEL_SITES)
    for p in law.params:
        if p.reference:
            names[p.sampled_name] = f"{p.name} sampled at the reference scale"
        names[f"{p.name}_sd"] = f"the between-level standard deviation of {p.name}"
    for key, factors in vary.items():
        sampled = key if key == "sigma" else law.param(key).sampled_name
        for f in factors:
            names[f"{sampled}_{f}"] = f"{key}'s value per level of {f}"
            names[f"{key}_sd_{f}"] = f"the standard deviation of {key} between levels of {f}"
            for kind in ("z", "offset"):
                names[f"{key}_{kind}_{f}"] = f"the offsets of {key} per level of {f}"
    return names


def _check_param_names(law: Law, vary: Mapping[str, tuple[str, ...]]) -> None:
    """Refuse a law parameter named as one of the model's own sites or priors
    (:func:`model_site_names`): NumPyro would find the name twice, or the parameter
    would get the other quantity's prior."""
    taken = model_site_names(law, vary)
    own = set(law.param_names)

    def what(name: str) -> str | None:
        if name in taken:
            return taken[name]
        if name.startswith(MODEL_SITE_PREFIXES):
            return "a level coordinate's site"
        return None

    for name in law.param_names:
        reason = what(name)
        if reason is None:
            continue
        options = [f"{name}2", f"{name.replace('_', '')}2", f"{name.replace('_', '')}_"]
        rename = next(n for n in options if n not in own and what(n) is None)
        raise ScalingLawError(
            f"law {law.name!r} has a parameter named {name!r}, which is the model's name "
            f"for {reason}; rename the parameter (e.g. {rename!r}) in the law's expression "
            f"or params")


def is_centred(parameterization: str | Mapping[str, str], name: str,
               factor: str | None = None) -> bool:
    """Whether ``name``'s offsets (by ``factor``, where given) are sampled centred under
    ``parameterization``: one choice for all, or a dict per parameter (``"E"``) or per
    parameter and factor (``"E[seed]"``, which takes precedence), whose default is
    non-centred; ``"auto"``, before a fit resolves it, counts as non-centred.

    >>> is_centred({"E": "centred"}, "E"), is_centred({"E": "centred"}, "A")
    (True, False)
    >>> choice = {"E": "centred", "E[seed]": "noncentred"}
    >>> is_centred(choice, "E", "dataset"), is_centred(choice, "E", "seed")
    (True, False)
    """
    if isinstance(parameterization, Mapping):
        own = parameterization.get(per_factor(name, factor)) if factor is not None else None
        return (own or parameterization.get(name, "noncentred")) == "centred"
    return parameterization == "centred"


def per_factor(name: str, factor: str) -> str:
    """The key naming ``name``'s offsets by ``factor`` alone, as ``parameterization``
    and a fit's level separations take it (:func:`factor_key` splits it).

    >>> per_factor("E", "seed")
    'E[seed]'
    """
    return f"{name}[{factor}]"


def factor_key(key: str) -> tuple[str, str | None]:
    """A ``parameterization`` key split into its parameter and factor (None for a key
    that names a parameter alone; :func:`per_factor` writes one).

    >>> factor_key("E[seed]"), factor_key("E")
    (('E', 'seed'), ('E', None))
    """
    if key.endswith("]") and "[" in key:
        name, factor = key[:-1].split("[", 1)
        return name, factor
    return key, None


def _as_factors(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            raise ScalingLawError(f"vary[{key!r}] names a factor twice: {list(value)}")
        return tuple(value)
    raise ScalingLawError(
        f"vary[{key!r}] must be a column name or a list of column names, got {value!r}"
    )


@dataclass(frozen=True)
class ModelSpec:
    """What a :class:`~scalinglaws.ScalingModel` is, without the verbs that fit it.

    The fields, their checks and their dict/JSON/TOML forms; the engine and the model
    read a spec through these attributes only. See :class:`~scalinglaws.ScalingModel`
    for each field.
    """

    law: Law | str
    inputs: Mapping[str, str] = field(default_factory=dict)
    target: str = "loss"
    vary: Mapping[str, Any] = field(default_factory=dict)
    priors: Mapping[str, Any] = field(default_factory=dict)
    pooling: str = "partial"
    likelihood: str = "normal"
    scale: str | None = None
    run: str | None = None
    reference: Mapping[str, float] | None = None
    parameterization: str | Mapping[str, str] = "noncentred"
    coordinates: str = "natural"
    measurement_se: str | None = None

    def __post_init__(self) -> None:
        law = resolve(self.law)
        object.__setattr__(self, "law", law)
        for key in ("inputs", "vary", "priors"):
            check_mapping(getattr(self, key), key)
        if self.reference is not None:
            check_mapping(self.reference, "reference")
        inputs = dict(self.inputs) if self.inputs else {v: v for v in law.variables}
        if set(inputs) != set(law.variables):
            raise ScalingLawError(
                f"inputs must map each variable of law {law.name!r} {list(law.variables)} to a "
                f"column; got keys {sorted(inputs)}"
            )
        for var, col in inputs.items():
            if not isinstance(col, str):
                raise ScalingLawError(f"inputs[{var!r}] must be a column name, got {col!r}")
        object.__setattr__(self, "inputs", {v: inputs[v] for v in law.variables})
        if not isinstance(self.target, str) or not self.target:
            raise ScalingLawError(f"target must be a column name, got {self.target!r}")
        for var, col in self.inputs.items():
            if col == self.target:
                raise ScalingLawError(
                    f"inputs[{var!r}] is {col!r}, the target column: map {var!r} to the "
                    f"column of its own values (e.g. inputs={{{var!r}: {var!r}}})")

        vary = {}
        for key, value in dict(self.vary).items():
            if key != "sigma" and key not in law.param_names:
                raise ScalingLawError(
                    f"vary names {key!r}, which is not a parameter of law {law.name!r}"
                    f"{did_you_mean(key, [*law.param_names, 'sigma'])}; use one of "
                    f"{list(law.param_names)} or 'sigma'"
                )
            vary[key] = _as_factors(value, key)
        check_choice(self.pooling, POOLINGS, "pooling")
        if self.pooling == "none":
            crossed = {k: v for k, v in vary.items() if len(v) > 1}
            if crossed:
                raise ScalingLawError(
                    f"pooling='none' gives each level its own independent value, which is "
                    f"not identifiable for crossed factors {crossed}; use pooling='partial'"
                )
        object.__setattr__(self, "vary", vary)

        priors = {}
        allowed = set(law.param_names) | set(NOISE_PRIORS) | {f"{p}_sd" for p in vary}
        for key, value in dict(self.priors).items():
            if key not in allowed:
                raise ScalingLawError(
                    f"priors names {key!r}, which this model does not have"
                    f"{did_you_mean(key, allowed)}; it has {sorted(allowed)}"
                )
            if not isinstance(value, (Prior, Mapping)):
                raise ScalingLawError(
                    f"priors[{key!r}] must be a Prior or a table such as {{ name = "
                    f"\"Normal\", loc = 0, scale = 1 }}, got {value!r}")
            prior = value if isinstance(value, Prior) else Prior.from_dict(dict(value))
            constraint = law.param(key).constraint if key in law.param_names else "positive"
            if not prior.support_fits(constraint):
                raise ScalingLawError(
                    f"priors[{key!r}] = {prior!r} puts mass outside the {constraint} values "
                    f"{key} can take; use a prior on that support (e.g. LogNormal, Beta)"
                )
            priors[key] = prior
        object.__setattr__(self, "priors", priors)

        choice = self.parameterization
        if isinstance(choice, Mapping):
            def known(key: Any) -> bool:
                name, factor = factor_key(key) if isinstance(key, str) else (key, None)
                return ((name in vary and (factor is None or factor in vary[name]))
                        or key == "run")

            bad = {k: v for k, v in choice.items()
                   if not isinstance(v, str) or v not in PARAMETERIZATIONS or not known(k)}
            if bad:
                raise ScalingLawError(
                    f"parameterization maps a varying parameter (or 'run'), or one of its "
                    f"factors as 'E[dataset]', to one of {PARAMETERIZATIONS}; bad entries "
                    f"{bad} (varying: { {k: list(v) for k, v in vary.items()} })"
                )
            object.__setattr__(self, "parameterization", dict(choice))
        elif not isinstance(choice, str) or choice not in (*PARAMETERIZATIONS, AUTO):
            raise ScalingLawError(
                f"parameterization must be one of {(*PARAMETERIZATIONS, AUTO)} or a dict "
                f"per parameter, got {choice!r}"
                f"{did_you_mean(choice, (*PARAMETERIZATIONS, AUTO))}"
            )
        self._check_coordinates(law, vary)
        check_choice(self.likelihood, LIKELIHOODS, "likelihood")
        if self.scale is not None and not isinstance(self.scale, str):
            check_choice(self.scale, SCALES, "scale")
        scale = self.scale or ("log" if law.output == "positive" else "identity")
        check_choice(scale, SCALES, "scale")
        object.__setattr__(self, "scale", scale)
        if self.run is not None and not isinstance(self.run, str):
            raise ScalingLawError(f"run must be a column name, got {self.run!r}")
        self._check_noise_options()
        _check_param_names(law, vary)
        if self.measurement_se is not None and not isinstance(self.measurement_se, str):
            raise ScalingLawError(f"measurement_se must be a column name, got "
                                  f"{self.measurement_se!r}")
        if self.measurement_se is not None and self.measurement_se == self.target:
            raise ScalingLawError("measurement_se must name the column of standard errors, "
                                  "not the target column itself")
        inputs_of = {col: var for var, col in self.inputs.items()}
        if self.measurement_se in inputs_of:
            var = inputs_of[self.measurement_se]
            raise ScalingLawError(
                f"measurement_se is {self.measurement_se!r}, the column of law variable "
                f"{var}: it must name a column of each row's standard error of the target "
                f"(e.g. measurement_se='loss_se'), or leave it out")
        measured = {self.target: "the target", self.measurement_se: "the standard errors"}
        grouped = [(f"vary[{k!r}]", f) for k, fs in vary.items() for f in fs]
        grouped += [("run", self.run)] if self.run is not None else []
        for where, column in grouped:
            if column in measured:
                raise ScalingLawError(
                    f"{where} groups by {column!r}, the column of {measured[column]}: a "
                    f"factor names the groups of runs (a dataset, tokenizer or seed column)")
        if self.reference is not None:
            ref = dict(self.reference)
            bad = [k for k, v in ref.items()
                   if k not in law.variables or not isinstance(v, (int, float))
                   or isinstance(v, bool) or not 0 < v < 1.7e308]
            if bad:
                raise ScalingLawError(
                    f"reference must give a positive number per law variable "
                    f"{list(law.variables)}; bad entries: {bad}"
                )
            object.__setattr__(self, "reference", {k: float(v) for k, v in ref.items()})

    def _check_noise_options(self) -> None:
        """Refuse a prior or parameterization of a part this model does not have: ``nu``
        without Student-t noise, ``run_sd`` or ``"run"`` without a run factor."""
        unused = _unused_noise_options(self.priors, self.parameterization, self.likelihood,
                                       self.run)
        if "nu" in unused:
            raise ScalingLawError(
                "priors names 'nu', the degrees of freedom of Student-t noise, which only "
                "likelihood='student_t' has; add likelihood='student_t' or drop the prior")
        if "run_sd" in unused:
            raise ScalingLawError(
                "priors names 'run_sd', the scale of per-run offsets, which only a model with "
                "a run factor has; add run='<column of run ids>' or drop the prior")
        if "run" in unused:
            raise ScalingLawError(
                "parameterization names 'run', the per-run offsets, which only a model with "
                "a run factor has; add run='<column of run ids>' or drop the entry")

    # --- what the model builder asks --------------------------------------------------

    def prior(self, name: str) -> Prior:
        """The prior in force for ``name`` (override or default).

        >>> ModelSpec("chinchilla").prior("alpha")
        Prior('LogNormal', loc=-1.2, scale=0.8)
        """
        if name in self.priors:
            return self.priors[name]
        if name in self.law.param_names:  # never a noise name (_check_param_names)
            return self.law.param(name).prior
        if name in NOISE_PRIORS:
            return NOISE_PRIORS[name]
        base = name[:-3] if name.endswith("_sd") else None
        if base == "sigma":
            return Prior("HalfNormal", SIGMA_GROUP_SCALE)
        if base in self.law.param_names:
            return Prior("HalfNormal", self.law.param(base).group_scale)
        raise ScalingLawError(
            f"this model has no prior named {name!r}; it has priors for the law's "
            f"parameters {list(self.law.param_names)}, {sorted(NOISE_PRIORS)} and "
            f"'<param>_sd' for varying ones")

    @property
    def factors(self) -> tuple[str, ...]:
        """Every factor column the hierarchy uses, in first-mention order."""
        seen: dict[str, None] = {}
        for factors in self.vary.values():
            seen.update(dict.fromkeys(factors))
        return tuple(seen)

    @property
    def target_law(self) -> Law:
        """The noise-free law of the target over the inputs: :attr:`law` itself. Its
        parameters are the keys of a fit's ``predict_draws(...)["params"]``."""
        return self.law

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this model reads (inputs, target, factors, run, measurement_se)."""
        cols = [*self.inputs.values(), self.target, *self.factors]
        if self.run:
            cols.append(self.run)
        if self.measurement_se:
            cols.append(self.measurement_se)
        return tuple(dict.fromkeys(cols))

    @property
    def could_use_level_coordinates(self) -> bool:
        """Whether this model samples in natural coordinates but could sample in level
        coordinates as it stands (its law declares level terms, and they vary alike as
        ``coordinates="level"`` needs): what a fit's sampler warnings then suggest.

        >>> ModelSpec("chinchilla", target="loss").could_use_level_coordinates
        True
        >>> spec = ModelSpec("chinchilla", target="loss", vary={"E": "dataset"})
        >>> spec.could_use_level_coordinates  # E partially pooled, non-centred
        False
        """
        if self.coordinates != "natural" or not self.law.level_terms:
            return False
        try:
            self._check_coordinates(self.law, self.vary, "level")
        except ScalingLawError:
            return False
        return True

    def _check_coordinates(self, law: Law, vary: Mapping[str, tuple[str, ...]],
                           coordinates: str | None = None) -> None:
        coordinates = self.coordinates if coordinates is None else coordinates
        check_choice(coordinates, COORDINATES, "coordinates")
        if coordinates == "natural":
            return
        if not law.level_terms:
            raise ScalingLawError(
                f"coordinates='level' needs a law whose terms add up to its value at the "
                f"reference point (Law.level_terms, e.g. 'chinchilla'); law {law.name!r} "
                f"declares none; use coordinates='natural'")
        factors = [vary.get(t, ()) for t in law.level_terms]
        shared = factors[0]
        if any(f != shared for f in factors) or len(shared) > 1:
            raise ScalingLawError(
                f"coordinates='level' samples {list(law.level_terms)} together, so they must "
                f"vary alike: not at all, or all by the same one factor; got vary "
                f"{ {t: list(vary.get(t, ())) for t in law.level_terms} }; use "
                f"coordinates='natural'")
        noncentred = [t for t in law.level_terms
                      if not is_centred(self.parameterization, t, *shared[:1])]
        if shared and self.pooling != "none" and self.parameterization == AUTO:
            raise ScalingLawError(
                f"parameterization='auto' chooses per pooled parameter, but "
                f"coordinates='level' with partial pooling samples the level terms "
                f"{list(law.level_terms)} centred by construction; give "
                f"parameterization={ {t: 'centred' for t in law.level_terms} } (with the "
                f"other pooled parameters' choices), or coordinates='natural'")
        if shared and self.pooling != "none" and noncentred:
            raise ScalingLawError(
                f"coordinates='level' with partial pooling samples each level's terms "
                f"{list(law.level_terms)} and gives them the population's density on the "
                f"log scale, which is the centred hierarchy; {noncentred} are non-centred "
                f"here. Set parameterization={ {t: 'centred' for t in law.level_terms} } "
                f"(or 'centred'), pooling='none', or coordinates='natural'")

    # --- serialisation ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON/TOML-ready dict."""
        out: dict[str, Any] = {
            "law": law_to_value(self.law),
            "inputs": dict(self.inputs),
            "target": self.target,
            "vary": {k: list(v) for k, v in self.vary.items()},
            "priors": {k: p.to_dict() for k, p in self.priors.items()},
            "pooling": self.pooling,
            "likelihood": self.likelihood,
            "scale": self.scale,
            "parameterization": (dict(self.parameterization)
                                 if isinstance(self.parameterization, Mapping)
                                 else self.parameterization),
        }
        if self.coordinates != "natural":
            out["coordinates"] = self.coordinates
        if self.run is not None:
            out["run"] = self.run
        if self.measurement_se is not None:
            out["measurement_se"] = self.measurement_se
        if self.reference is not None:
            out["reference"] = dict(self.reference)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys and values of the wrong type are errors.

        >>> ModelSpec.from_dict({"law": "chinchilla", "varry": {"E": "dataset"}})
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        scalinglaws.errors.ScalingLawError: model spec has unknown key 'varry' (did you \
mean 'vary'?); its keys are [...]
        """
        data = check_keys(data, SPEC_KEYS, "model spec")
        if "law" not in data:
            raise ScalingLawError("model spec needs a 'law' (a registry name or an expression)")
        data["law"] = law_from_value(data["law"])
        for key in ("target", "pooling", "likelihood", "coordinates"):
            if key in data and not isinstance(data[key], str):
                raise ScalingLawError(
                    f"model spec: {key} must be text, got {type(data[key]).__name__} "
                    f"{data[key]!r}")
        for key in ("scale", "run", "measurement_se"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ScalingLawError(f"model spec: {key} must be text, got {data[key]!r}")
        return cls(**data)

    def __reduce__(self):
        """Pickled as its :meth:`to_dict` (a law by name or expression), so a spec, and a
        fit that holds one, can cross processes (``multiprocessing``, ``joblib``); a law
        built in Python from functions cannot, with the error :meth:`to_dict` gives.

        >>> import pickle
        >>> spec = ModelSpec("chinchilla", vary={"E": "dataset"})
        >>> pickle.loads(pickle.dumps(spec)) == spec
        True
        """
        return (type(self).from_dict, (self.to_dict(),))

    def to_json(self) -> str:
        """The spec as a JSON string (stored in every saved Fit)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def portable(self) -> bool:
        """Whether :meth:`to_json` says all there is to the model: its law is
        :func:`~scalinglaws.laws.portable` (not a law built in Python and registered by
        name). Only such a spec's compiled programs are keyed by its JSON, in the process
        and in the persistent cache."""
        return portable(self.law)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Inverse of :meth:`to_json`.

        A spec saved before such entries were refused may hold a prior or
        parameterization of a part its model does not have (``nu`` with Normal noise,
        ``run_sd`` or ``"run"`` without ``run``); they never had an effect and are
        dropped, so a fit saved with one still loads.

        >>> old = '{"law": "chinchilla", "priors": {"nu": {"name": "HalfNormal", "scale": 9}}}'
        >>> ModelSpec.from_json(old).priors
        {}
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as err:
            raise ScalingLawError(f"model spec is not valid JSON ({err})") from None
        if isinstance(data, dict):
            data = _without_unused_noise_options(data)
        return cls.from_dict(data)

    def to_toml(self, path: str | Path | None = None) -> str:
        """The spec as TOML text; also written to ``path`` when given."""
        return dump_toml(self.to_dict(), path)

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> ModelSpec:
        """Read a spec from a TOML file (or TOML text).

        A ``[study]`` table (naming which rows fit and which are targets) is left to the
        code that reads it; any other key that is not the spec's is an error, with a
        "did you mean" for a near miss.

        >>> ModelSpec.from_toml('law = "chinchilla"\\n[varry]\\nE = "dataset"\\n')
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        scalinglaws.errors.ScalingLawError: model spec has unknown key 'varry' (did you \
mean 'vary'?); its keys are [...]
        """
        tables = read_toml(path_or_text)
        settings = [k for k in tables if k in SAMPLER_KEYS]
        if settings:
            raise ScalingLawError(
                f"model spec sets {settings}: sampler settings are not part of a spec; pass "
                f"them to fit (fit(chains=4, ...), or --chains on the command line)")
        tables = check_keys(tables, (*SPEC_KEYS, *TOML_EXTRA_KEYS), "model spec")
        return cls.from_dict({k: v for k, v in tables.items() if k in SPEC_KEYS})


def _unused_noise_options(priors: Any, parameterization: Any, likelihood: Any,
                          run: Any) -> list[str]:
    """The entries of ``priors`` (``nu``, ``run_sd``) and ``parameterization`` (``run``)
    for parts a model with this likelihood and run factor does not have."""
    unused = []
    if isinstance(priors, Mapping):
        if "nu" in priors and likelihood != "student_t":
            unused.append("nu")
        if "run_sd" in priors and run is None:
            unused.append("run_sd")
    if isinstance(parameterization, Mapping) and "run" in parameterization and run is None:
        unused.append("run")
    return unused


def _without_unused_noise_options(data: dict[str, Any]) -> dict[str, Any]:
    """A stored spec's dict without the entries :func:`_unused_noise_options` names."""
    unused = _unused_noise_options(data.get("priors"), data.get("parameterization"),
                                   data.get("likelihood", "normal"), data.get("run"))
    if not unused:
        return data
    out = dict(data)
    if isinstance(out.get("priors"), Mapping):
        out["priors"] = {k: v for k, v in out["priors"].items() if k not in unused}
    if "run" in unused:
        out["parameterization"] = {k: v for k, v in out["parameterization"].items()
                                   if k != "run"}
    return out


def read_toml(path_or_text: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """The tables of a TOML spec file (or of TOML text), as a dict; tables already read
    (a mapping) pass through, so the ``from_toml`` methods take them too.

    >>> read_toml('law = "chinchilla"\\ntarget = "loss"\\n')["law"]
    'chinchilla'
    """
    if isinstance(path_or_text, Mapping):
        return dict(path_or_text)
    if not isinstance(path_or_text, (str, Path)):
        raise ScalingLawError(f"a model spec is a .toml path or TOML text, got "
                              f"{type(path_or_text).__name__}")
    text = str(path_or_text)
    if isinstance(path_or_text, Path) or ("\n" not in text and "=" not in text):
        path = check_input_file(path_or_text, "model spec file")
        if path.suffix.lower() != ".toml":
            raise ScalingLawError(f"model spec file {path} should be a .toml file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ScalingLawError(f"model spec file {path} cannot be read as text ({err})"
                                  ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScalingLawError(f"model spec is not valid TOML: {err}") from None


def law_to_value(law: Law) -> Any:
    """``law`` as a spec file writes it: a built-in law's name, a ``[law]`` table with its
    expression, for a :func:`~scalinglaws.laws.noise_power` law a table naming the law it
    extends (``base``, written the same way) and the variable (``noise_power``), or the
    name of a law built in Python and registered (:func:`~scalinglaws.laws.register`);
    :func:`law_from_value` reads each back (a registered name where it is registered).

    >>> from scalinglaws.laws import get, noise_power
    >>> law_to_value(noise_power(get("chinchilla"), "N"))
    {'noise_power': 'N', 'base': 'chinchilla'}
    """
    builtin = resolve(law.name) if law.name in BUILTIN else None
    if builtin is not None and builtin == law:
        return law.name
    if law.noise_power_of is not None:
        base, variable, given = law.noise_power_of
        return {"noise_power": variable, "base": law_to_value(base),
                **{key: v.to_dict() if isinstance(v, Prior) else v for key, v in given}}
    if law.expression is not None:
        return {"expression": law.expression, "name": law.name, "output": law.output,
                "params": {p.name: _param_dict(p) for p in law.params},
                "variables": list(law.variables)}
    if law.name in names() and resolve(law.name) == law:
        return law.name
    raise ScalingLawError(
        f"law {law.name!r} was built in Python and cannot be written to a file; "
        f"register it (sl.laws.register(law)) to write its name, or use a built-in law, "
        f"Law.from_expression or sl.laws.noise_power"
    )


def law_from_value(law: Any) -> Law | str:
    """The ``law`` of a spec file: a registry name (kept as text), a ``[law]`` table
    with an ``expression`` (and optional name, output, params, variables) made a Law, or a
    table with ``noise_power`` and ``base`` (and optional name, prior, description) made
    :func:`~scalinglaws.laws.noise_power` of that base.

    >>> law_from_value({"expression": "E + A*N**-alpha"}).variables
    ('N',)
    >>> law_from_value({"noise_power": "C", "base": "isoflop"}).name
    'isoflop_noise_by_C'
    """
    if isinstance(law, str):
        return law
    if isinstance(law, Mapping) and "noise_power" in law:
        table = check_keys(law, NOISE_POWER_KEYS, "[law]")
        if "base" not in table:
            raise ScalingLawError("a [law] table with noise_power needs the base law it "
                                  "extends, e.g. base = \"chinchilla\"")
        for key in ("noise_power", "name", "description"):
            if key in table and not isinstance(table[key], str):
                raise ScalingLawError(f"[law] {key} must be text, got {table[key]!r}")
        options: dict[str, Any] = {k: table[k] for k in ("name", "description") if k in table}
        if "prior" in table:
            options["prior"] = Prior.from_dict(check_mapping(table["prior"], "[law] prior"))
        return noise_power(resolve(law_from_value(table["base"])), table["noise_power"],
                           **options)
    table = check_keys(law, LAW_KEYS, "[law]")
    if "expression" not in table:
        raise ScalingLawError("a [law] table needs an expression, e.g. expression = "
                              "\"E + A*N**-alpha\" (or give law = \"chinchilla\")")
    for key in ("name", "output"):
        if key in table and not isinstance(table[key], str):
            raise ScalingLawError(f"[law] {key} must be text, got {table[key]!r}")
    variables = table.get("variables")
    if variables is not None and (isinstance(variables, str)
                                  or not isinstance(variables, (list, tuple))
                                  or not all(isinstance(v, str) for v in variables)):
        raise ScalingLawError(f"[law] variables must be a list of names such as [\"N\", "
                              f"\"D\"], got {variables!r}")
    return Law.from_expression(
        table["expression"], name=table.get("name"), output=table.get("output", "positive"),
        variables=tuple(variables) if variables is not None else None,
        params=check_mapping(table.get("params", {}), "[law] params"),
    )


def dump_toml(data: Mapping[str, Any], path: str | Path | None = None) -> str:
    """A spec dict as TOML text, scalars first, then one table per mapping (also written
    to ``path`` when given).

    >>> print(dump_toml({"law": "chinchilla", "vary": {"E": ["dataset"]}}), end="")
    law = "chinchilla"
    <BLANKLINE>
    [vary]
    E = ["dataset"]
    """
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, Mapping)]
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines.append(f"\n[{_toml_key(key)}]")
            lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
    text = "\n".join(lines) + "\n"
    if path is not None:
        as_path(path, "spec file").write_text(text)
    return text


def _param_dict(param) -> dict[str, Any]:
    """A law parameter as written to a spec file: everything ``Law.from_expression`` reads
    back (the group scale and description only where they are set)."""
    out: dict[str, Any] = {"constraint": param.constraint, "prior": param.prior.to_dict()}
    if param.group_scale != GROUP_SCALE:
        out["group_scale"] = param.group_scale
    if param.description:
        out["description"] = param.description
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise ScalingLawError(f"cannot write {value!r} to TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)
