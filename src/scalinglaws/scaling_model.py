"""ScalingModel, the model that fits: a :class:`~scalinglaws.spec.ModelSpec` with the
verbs :meth:`~ScalingModel.fit` and :meth:`~ScalingModel.fit_many`, which run the
compiled engine and return :class:`~scalinglaws.Fit` values; and :func:`read_fit`, which
reads a saved fit back with its model.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import as_path, check_sampler_settings, did_you_mean
from ._warnings import filtered
from .data import design_from_dataset, make_design
from .engine import run_nuts, run_nuts_many
from .engine.nuts import auto_parameterization
from .errors import ScalingLawError
from .fit import FILE_FORMAT, Deferred, Fit
from .model import check_dense_mass
from .netcdf import read_fit_file
from .spec import AUTO, SAMPLER_KEYS, SPEC_KEYS, ModelSpec


class ScalingModel(ModelSpec):
    """A Bayesian scaling-law model: a law, its data columns, a hierarchy and priors.

    Parameters
    ----------
    law : str or Law
        A registry name (``sl.laws.names()``), a :class:`~scalinglaws.laws.Law`, or an
        expression such as ``"E + A*N**-alpha"``.
    inputs : dict
        Law variable -> column, e.g. ``{"N": "params", "D": "tokens"}``. Defaults to the
        variable names themselves.
    target : str
        Column of the quantity the law predicts (a loss, an error rate).
    vary : dict
        Parameter -> factor column(s) it varies by, e.g. ``{"E": "dataset"}`` or
        ``{"E": ["dataset", "tokenizer"]}`` (crossed, additive on the unconstrained
        scale). ``"sigma"`` may vary too. Parameters not named are shared.
    priors : dict
        Overrides by name: a law parameter (its population value, at the reference scale
        for ``A``-like coefficients), ``"sigma"``, ``"nu"`` (with
        ``likelihood="student_t"``), ``"run_sd"`` (with ``run``) or ``"<param>_sd"`` (its
        between-level standard deviation).
    pooling : {"partial", "none", "complete"}
        Partial pooling (non-centred hierarchy), independent levels, or one shared value.
    likelihood : {"normal", "student_t"}
        Observation noise on the likelihood scale; Student-t is the robust choice.
    scale : {"log", "identity"}, optional
        Where the noise acts. Defaults to ``"log"`` for laws with positive output
        (losses) and ``"identity"`` otherwise (error rates).
    run : str, optional
        Column identifying a training run; adds a per-run offset so that checkpoints of
        one run are not treated as independent.
    reference : dict, optional
        Fixed reference value per variable for reference-scale coefficients; by default
        the geometric mean of the fitted data.
    parameterization : {"noncentred", "centred", "auto"} or dict
        How group offsets are sampled: ``sd * z`` with ``z ~ Normal(0, 1)`` (robust when
        levels differ little or have few rows), or ``offset ~ Normal(0, sd)`` (better
        when every level is well measured and levels clearly differ). A dict chooses per
        parameter, e.g. ``{"E": "centred"}`` (others non-centred; ``"sigma"`` and
        ``"run"`` are keys too; with Normal noise the run offsets are integrated out, so
        ``"run"`` matters only with Student-t), or per parameter and factor,
        ``{"E[dataset]": "centred"}`` (E's other factors as ``"E"`` says). See
        :func:`scalinglaws.model.centred_sites`. ``"auto"`` lets each fit choose per
        parameter (per factor where its factors disagree) from its data at the posterior
        mode (:func:`scalinglaws.engine.nuts.auto_parameterization`); the fit's
        ``spec.parameterization`` says what it sampled.
    coordinates : {"natural", "level"}
        Where NUTS samples the law's additive terms. ``"level"`` (laws with
        ``level_terms``, such as chinchilla) samples the law's value at the reference
        point, ``V = E + A_ref + B_ref``, and the terms' shares of it instead of E,
        A_ref and B_ref. The priors and the posterior are the same (the change of
        variables has unit Jacobian). The geometry is straighter when the data fix the
        level but not how it splits, for example two model sizes, where E trades against
        alpha. The terms must vary alike: not at all, or by one factor, either with
        ``pooling="none"`` or partially pooled and centred (each level's terms then get
        the population's density on the log scale). An exponent that varies as the
        terms do (chinchilla's alpha and beta) is sampled as the law's slope at the
        reference point, ``alpha A_ref / V`` (``Law.share_scaled``). See
        :func:`scalinglaws.model.sample_level_coordinates`.
    measurement_se : str, optional
        Column of each row's known measurement standard error, in the target's units
        (e.g. the binomial standard error ``sqrt(p (1 - p) / n)`` of an accuracy measured
        on ``n`` questions). It is added to the model's own noise in quadrature on the
        likelihood scale (``se / y`` for a log-scale target, the delta method), so rows
        measured less precisely weigh less. :meth:`Fit.predict` gives the predictive
        interval of a new run without measurement error (``pred_lower``,
        ``pred_upper``) and, where the rows to predict carry the column, with it
        (``meas_lower``, ``meas_upper``).

    Examples
    --------
    >>> import scalinglaws as sl
    >>> model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    >>> model.vary
    {'E': ('dataset',)}
    >>> sl.ScalingModel.from_dict(model.to_dict()) == model
    True
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ScalingModel:
        """Name an argument the model does not have (Python's own error would name the
        dataclass behind it); the arguments themselves are read by ``__init__``."""
        for key in kwargs:
            if key not in SPEC_KEYS:
                hint = did_you_mean(key, SPEC_KEYS)
                if key in (*SAMPLER_KEYS, "progress"):
                    hint = f" ({key} is a sampler setting: pass it to fit())"
                elif not hint and ("noise" in key or "error" in key or key == "se"
                                   or key.startswith("se_") or key.endswith("_se")):
                    hint = " (a column of known standard errors is measurement_se)"
                raise ScalingLawError(
                    f"ScalingModel has no argument {key!r}{hint}; its arguments are "
                    f"{list(SPEC_KEYS)}")
        return super().__new__(cls)

    __signature__ = inspect.signature(ModelSpec)

    def fit(self, data, *, seed: int = 0, chains: int = 4, warmup: int = 500,
            draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
            max_tree_depth: int = 10, dense_mass: bool = True, n_starts: int = 32):
        """Fit the model to a DataFrame with NUTS and return a :class:`~scalinglaws.Fit`.

        Input errors are raised before anything is compiled; ``data`` is not modified.
        See :func:`scalinglaws.engine.run_nuts` for the sampler settings; ``n_starts`` is
        the number of starting points of the mode search that starts the chains.

        >>> import scalinglaws as sl
        >>> runs = sl.synthetic.sweep(seed=0)
        >>> model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
        >>> fit = model.fit(runs, chains=2, warmup=300, draws=300)  # doctest: +SKIP
        >>> fit.summary().loc["alpha", "r_hat"] < 1.05  # doctest: +SKIP
        True
        """
        check_sampler_settings(seed=seed, chains=chains, warmup=warmup, draws=draws,
                               target_accept=target_accept, max_tree_depth=max_tree_depth,
                               dense_mass=dense_mass, n_starts=n_starts, progress=progress)
        design = make_design(self, data)
        check_dense_mass(self, design, dense_mass)
        [spec], search = self._resolved([design], [seed], chains=chains, draws=draws,
                                        max_tree_depth=max_tree_depth,
                                        dense_mass=dense_mass, n_starts=n_starts)
        idata, warnings_ = run_nuts(
            spec, design, seed=seed, chains=chains, warmup=warmup, draws=draws,
            target_accept=target_accept, progress=progress, max_tree_depth=max_tree_depth,
            dense_mass=dense_mass, n_starts=n_starts, search=search,
        )
        return Fit(idata=idata, spec=spec, design=design, warnings=tuple(warnings_))

    def _resolved(self, designs: list, seeds: list[int], **settings):
        """The spec each design is sampled with: this one, or with
        ``parameterization="auto"`` the choice its data make
        (:func:`scalinglaws.engine.nuts.auto_parameterization`), and that choice's mode
        searches for the sampler to reuse (None without ``"auto"``)."""
        if self.parameterization != AUTO:
            return [self] * len(designs), None
        choices, search = auto_parameterization(self, designs, seeds=seeds, **settings)
        return [dataclasses.replace(self, parameterization=c) for c in choices], search

    def fit_many(self, frames, *, seed=0, chains: int = 4, warmup: int = 500,
                 draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
                 max_tree_depth: int = 10, dense_mass: bool = True, n_starts: int = 32):
        """Fit the model to several DataFrames at once, as one compiled batched program.

        ``frames`` is a list (or dict) of DataFrames of one structure: the same columns
        for the law and factors, and the same parameters varying (their level sets may
        differ). All ``len(frames) x chains`` chains run as one compiled program, every
        chain vectorised on a GPU, the fits looped over inside it on a CPU (where the
        arithmetic is the cost), split across devices where there are several
        (:mod:`scalinglaws.engine`).
        Returns a list (or dict with the same keys) of :class:`~scalinglaws.Fit`, each
        with its own diagnostics and warnings (all fits checked at once); each fit's
        ``idata`` is built when it is first read.

        Every frame is checked before anything is compiled; an error or a warning about
        a frame's data names the frame (``frames['c']: ...``).
        ``seed`` is one seed for every frame or one per frame; a frame's fit depends
        only on its own seed, so ``fit(frame, seed=s)`` gives the same posterior (the
        same draws when both pad the frame to the same shapes, see
        :func:`scalinglaws.model.structure_of`; otherwise equal within Monte Carlo error).

        >>> import scalinglaws as sl
        >>> model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
        >>> sweeps = {s: sl.synthetic.sweep(seed=s) for s in range(8)}
        >>> fits = model.fit_many(sweeps, chains=2, warmup=300, draws=300)  # doctest: +SKIP
        >>> fits[3].summary().loc["alpha", "median"]  # doctest: +SKIP
        """
        keys, labels, items = batch_frames(frames)
        seeds = batch_seeds(seed, len(items))
        for one in seeds:
            check_sampler_settings(seed=one, chains=chains, warmup=warmup, draws=draws,
                                   target_accept=target_accept,
                                   max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                                   n_starts=n_starts, progress=progress)
        designs = build_each(labels, items, lambda frame, label: make_design(self, frame))
        first = designs[0]
        for label, design in zip(labels[1:], designs[1:], strict=True):
            if design.vary != first.vary or set(design.factors) != set(first.factors):
                raise ScalingLawError(
                    f"{label} has another structure than {labels[0]}: parameters vary by "
                    f"{ {k: list(v) for k, v in design.vary.items()} } there and by "
                    f"{ {k: list(v) for k, v in first.vary.items()} } in {labels[0]} (a "
                    f"factor with one level in a frame cannot vary); fit such frames "
                    f"separately or give every frame two or more levels of each factor")
        check_dense_mass(self, first, dense_mass)
        specs, search = self._resolved(designs, seeds, chains=chains, draws=draws,
                                       max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                                       n_starts=n_starts)
        fits: list = [None] * len(designs)
        batches: dict[str, list[int]] = {}  # one batched program per choice
        for k, spec in enumerate(specs):
            batches.setdefault(json.dumps(spec.parameterization, sort_keys=True), []).append(k)
        for own in batches.values():
            spec = specs[own[0]]
            results = run_nuts_many(
                spec, [designs[k] for k in own], seeds=[seeds[k] for k in own],
                chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
                progress=progress, max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                n_starts=n_starts, labels=[labels[k] for k in own], defer=True,
                search=None if search is None else search.take(own))
            for k, (idata, problems) in zip(own, results, strict=True):
                fits[k] = Fit(idata=Deferred(idata), spec=spec, design=designs[k],
                              warnings=tuple(problems))
        return fits if keys is None else dict(zip(keys, fits, strict=True))


def batch_frames(frames) -> tuple[list | None, list[str], list]:
    """Keys (None for a list), labels for messages, and the frames of ``fit_many``."""
    if isinstance(frames, Mapping):
        keys = list(frames)
        labels = [f"frames[{k!r}]" for k in keys]
        items = [frames[k] for k in keys]
    elif isinstance(frames, (list, tuple)):
        keys, items = None, list(frames)
        labels = [f"frames[{i}]" for i in range(len(items))]
    else:
        raise ScalingLawError(f"fit_many takes a list or a dict of DataFrames, got "
                              f"{type(frames).__name__}; for one frame use fit()")
    if not items:
        raise ScalingLawError("fit_many got no frames; pass a non-empty list or dict of "
                              "DataFrames")
    return keys, labels, items


def build_each(labels: list[str], items: list, build: Callable[[Any, str], Any]) -> list:
    """``build(frame, label)`` for every frame of ``fit_many``, all before any is fitted.

    An error names the frame it came from, and so does each warning: every distinct
    warning is issued once, ``"<label>: <message>"``, at the line that called
    ``fit_many``.
    """
    built = []
    for label, frame in zip(labels, items, strict=True):
        error = None
        with filtered(("always", Warning), record=True) as caught:
            try:
                built.append(build(frame, label))
            except ScalingLawError as err:
                error = err
        for message, category in dict.fromkeys((str(w.message), w.category)
                                               for w in caught):
            warnings.warn(f"{label}: {message}", category, stacklevel=3)
        if error is not None:
            raise ScalingLawError(f"{label}: {error}") from None
    return built


def batch_seeds(seed, n: int) -> list[int]:
    """One seed per frame from an int or a sequence of ints."""
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed)] * n
    if (isinstance(seed, (list, tuple)) and len(seed) == n
            and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                    for s in seed)):
        return [int(s) for s in seed]
    raise ScalingLawError(f"seed must be an integer or a list of {n} integers (one per "
                          f"frame), got {seed!r}")


def read_fit(path: str | Path) -> Fit:
    """Read a Fit written by :meth:`Fit.save` (:func:`scalinglaws.load` reads every kind).

    A file that is not a scalinglaws fit, was written in another file format, is
    damaged, or whose stored spec no longer matches its posterior raises a
    :class:`~scalinglaws.errors.ScalingLawError`; nothing is half-loaded. The file is
    read fully into memory and closed, so the fit can be saved over it. The sampler's
    warnings stay on ``fit.warnings`` (they are not issued again).

    >>> fit = read_fit("fit.nc")  # doctest: +SKIP
    """
    path = as_path(path, "fit file")
    idata, attrs = read_fit_file(
        path, "scalinglaws_format", FILE_FORMAT, "a fit written by scalinglaws (Fit.save)",
        "an ArviZ file is read with arviz.from_netcdf")
    try:
        spec = ScalingModel.from_json(attrs["scalinglaws_spec"])
        design = design_from_dataset(
            idata.constant_data, spec.law.variables,
            vary=json.loads(attrs["scalinglaws_vary"]),
            log_reference=json.loads(attrs["scalinglaws_log_reference"]))
        warnings_ = tuple(str(w) for w in json.loads(attrs.get("scalinglaws_warnings", "[]")))
    except ScalingLawError as err:
        raise ScalingLawError(f"{path}: the model spec stored in the file is not valid: "
                              f"{err}") from None
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ScalingLawError(f"{path} is a scalinglaws file with missing or damaged parts "
                              f"({type(err).__name__}: {err}); save the fit again") from None
    return Fit(idata=idata, spec=spec, design=design, warnings=warnings_)
