"""Fit, the posterior that :class:`~scalinglaws.ScalingModel` returns.

A :class:`Fit` is a value: print its :meth:`~Fit.summary`, :meth:`~Fit.predict`
new runs, :meth:`~Fit.plot` it, :meth:`~Fit.save` it to netCDF and read it back exactly
with :func:`scalinglaws.load`.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import jax
import numpy as np
import pandas as pd
import xarray as xr

from ._checks import check_interval, check_predict_settings, check_unwritten, unfitted_levels
from ._precision import enable_x64
from .data import (
    Design,
    as_frame,
    decades_outside,
    make_design,
    target_values,
)
from .discrepancy import check_discrepancy
from .display import fit_html
from .engine import dataset_convergence, posterior_draws
from .errors import ScalingLawError, ScalingLawWarning
from .model import (
    RUN_SITE,
    auxiliary,
    law_params,
    noise_scale,
    observation,
    transform_target,
    with_measurement_error,
)
from .netcdf import write_fit_file
from .plotting import plot_fit
from .prediction import (
    PREDICT_PARTS,
    block_key,
    interval_columns,
    predict_draws,
    written_columns,
)
from .protocol import Pointwise

#: Version of the saved-file layout; files of another format are rejected.
FILE_FORMAT = 1


#: How many decades beyond the fitted range of a law variable :meth:`Fit.predict` warns.
EXTRAPOLATION_DECADES = 3.0


class Deferred:
    """A value given as the function that builds it: a :class:`Fit` built with
    ``idata=Deferred(build)`` calls ``build()`` the first time its ``idata`` is read
    (:meth:`ScalingModel.fit_many <scalinglaws.ScalingModel.fit_many>` defers each fit's
    InferenceData so that a batch of a thousand fits is not held up building them).

    >>> calls = []
    >>> value = Deferred(lambda: calls.append(1) or "built")
    >>> value(), value(), len(calls)
    ('built', 'built', 1)
    """

    def __init__(self, build):
        self._build, self._value = build, None

    def __call__(self):
        if self._build is not None:
            self._value, self._build = self._build(), None
        return self._value


class _DeferredField:
    """A dataclass field that may be set to a :class:`Deferred` and reads as its value."""

    def __set_name__(self, owner, name: str) -> None:
        self._slot = f"_{name}"

    def __get__(self, obj, owner=None):
        if obj is None:  # the dataclass asks for a default: there is none
            raise AttributeError(self._slot[1:])
        value = obj.__dict__[self._slot]
        return value() if isinstance(value, Deferred) else value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self._slot] = value


@dataclass(frozen=True)
class Fit:
    """The result of :meth:`ScalingModel.fit <scalinglaws.ScalingModel.fit>`.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior``, ``sample_stats``, ``log_likelihood``, ``observed_data`` (the target
        on the likelihood scale) and ``constant_data`` (inputs, target, factor codes).
    spec : ScalingModel
        The model that was fitted.
    design : Design
        The encoded data.
    warnings : tuple of str
        Sampler diagnostics in plain words; empty when every check passed.
    """

    idata: az.InferenceData = _DeferredField()  # a descriptor: no default
    spec: object
    design: Design
    warnings: tuple[str, ...] = ()

    #: The fit type, as :class:`~scalinglaws.protocol.FitLike` names it and
    #: :func:`scalinglaws.load` returns it.
    kind: ClassVar[str] = "scaling_law"

    # --- reading the posterior -----------------------------------------------------------

    def draws(self) -> dict[str, np.ndarray]:
        """Posterior draws of every site, chains flattened: ``{name: (draws, ...)}``,
        read-only views of the posterior (``.copy()`` one to edit it)."""
        return posterior_draws(self.idata)

    def summary(self, interval: float = 0.9, *, sites: bool = False) -> pd.DataFrame:
        """The posterior of the law's parameters in natural units, per group.

        One row per quantity: mean, sd, median, the equal-tailed ``interval``, bulk and
        tail ESS, and R-hat. The rows come in this order:

        - each law parameter, in the law's order and in its own units (``A`` as in
          ``A N^-alpha``, whatever scale it was sampled on): one row (``alpha``) when it
          is shared, and one per fitted group when it varies, named after the columns
          the model varies it by (``E[dataset=web]``, or ``E[dataset=web, seed=1]``
          when it varies by two factors). A coefficient sampled at a reference scale
          varies in natural units with what its conversion reads: a shared ``A`` with
          ``alpha`` varying by dataset is ``A[dataset=web]``, ... (``A = A_ref
          N_ref^alpha``);
        - the noise: ``sigma`` (per group when it varies), ``nu`` for Student-t noise,
          ``run_sd`` with a run factor;
        - for each varying parameter with partial pooling, its population value in
          natural units (``E``: the value of a typical, unseen level) and the
          between-level standard deviation on the sampling scale (``E_sd[dataset]``,
          of log E for a positive parameter).

        ``sites=True`` returns the sampler's own sites instead (``A_ref_dataset[web]``,
        ``E_sd_dataset``, ...), as ArviZ names them, without the standard-normal
        offsets.

        >>> fit.summary().loc["alpha", ["mean", "lower", "upper", "r_hat"]]  # doctest: +SKIP
        >>> fit.summary().loc["A[dataset=web]", "median"]  # doctest: +SKIP
        """
        lo, hi = check_interval(interval)
        if not isinstance(sites, bool):
            raise ScalingLawError(f"sites must be True or False, got {sites!r}")
        post = self.idata.posterior
        if sites:
            names = [v for v in post.data_vars if not auxiliary(v) and "_offset" not in v]
            table = _summary_table(post[names], lo, hi)
        else:
            table = _summary_table(self._natural(), lo, hi)
        table.attrs["interval"] = interval
        return table

    def _natural(self) -> xr.Dataset:
        """The quantities of :meth:`summary` as ``(chain, draw)`` variables named by row."""
        post, spec, design = self.idata.posterior, self.spec, self.design
        shape = (post.sizes["chain"], post.sizes["draw"])
        enable_x64()
        flat = self.draws()
        draws = {k: jax.numpy.asarray(v) for k, v in flat.items()}
        own = {name: design.vary.get(name, ()) for name in
               [*(p.name for p in spec.law.params), "sigma"]}
        # a coefficient sampled at a reference scale is, in natural units, one value per
        # level of what its conversion reads (A = A_ref N_ref^alpha varies as alpha does)
        reads = reference_inputs(spec.law, design.log_reference)
        varying = {name: tuple(f for f in design.factors if f in fs or any(
                       f in own[q] for q in reads.get(name, ())))
                   for name, fs in own.items()}
        first = {}  # per parameter: each fitted combination of levels -> its first row
        for name, fs in varying.items():
            codes = np.stack([design.factors[f].codes for f in fs], axis=1) if fs else \
                np.zeros((design.n_rows, 0), dtype=np.int32)
            combos, rows = np.unique(codes, axis=0, return_index=True)
            first[name] = {tuple(int(c) for c in combo): int(i)
                           for combo, i in zip(combos, rows, strict=True)}
        keep = sorted({i for seen in first.values() for i in seen.values()})
        sub = design.take(np.asarray(keep))
        position = {i: k for k, i in enumerate(keep)}
        params, scale = jax.vmap(lambda d: (law_params(spec, sub, d),
                                            noise_scale(spec, sub, d)))(draws)
        out: dict[str, np.ndarray] = {}
        for name, fs in varying.items():
            values = np.asarray(scale if name == "sigma" else params[name])
            values = np.broadcast_to(values.reshape(len(values), -1), (len(values), len(keep)))
            for combo, i in first[name].items():  # in level order
                label = name if not fs else name + "[" + ", ".join(
                    f"{f}={design.factors[f].levels[c]}" for f, c in zip(fs, combo,
                                                                          strict=True)) + "]"
                out[label] = values[:, position[i]]
        for name in ("nu", f"{RUN_SITE}_sd"):
            if name in post:
                out[name] = flat[name]
        if spec.pooling == "partial":
            for name, fs in own.items():
                if not fs:
                    continue
                population = name if name in post and name != "sigma" else None
                if population is not None and post[population].ndim == 2:
                    out[name] = flat[population]
                for f in fs:
                    site = next((s for s in (f"{name}_sd_{f}", f"{name}_ref_sd_{f}")
                                 if s in post), None)
                    if site is not None:
                        out[f"{name}_sd[{f}]"] = flat[site]
        data = {label: (("chain", "draw"), np.asarray(v).reshape(shape))
                for label, v in out.items()}
        return xr.Dataset(data, coords={"chain": post["chain"], "draw": post["draw"]},
                          attrs=dict(post.attrs))

    # --- predicting ---------------------------------------------------------------------

    def predict(self, data, interval: float = 0.9, seed: int = 0,
                discrepancy=None) -> pd.DataFrame:
        """Posterior predictions for new rows, with credible and predictive intervals.

        Parameters
        ----------
        data : DataFrame, dict or list of dicts
            Columns for the law's inputs and the factors the model varies by. A level
            never seen in fitting is predicted from the population (wider interval).
        interval : float
            Probability mass of both intervals.
        seed : int
            Seed for new-level offsets and observation noise.
        discrepancy : scalinglaws.validate.Discrepancy, optional
            The extrapolation error measured by a backtest
            (:meth:`Extrapolation.discrepancy
            <scalinglaws.validate.Extrapolation.discrepancy>`): shifts the law by its
            bias and widens the predictive interval by its spread.

        Returns
        -------
        DataFrame
            The input columns plus ``mean``, ``median``, ``lower``, ``upper`` (credible
            interval of the noise-free law) and ``pred_lower``, ``pred_upper``
            (posterior-predictive interval of a new observation, with noise and, for
            models with a run factor, a new run's offset). For a model with
            ``measurement_se``, rows that give that column also get ``meas_lower``,
            ``meas_upper``: the predictive interval of a measurement with that known
            error added (``pred_*`` leave it out).

        Many rows are predicted in blocks (:func:`scalinglaws.prediction.row_blocks`, at
        most :data:`~scalinglaws.prediction.BLOCK_VALUES` draws x rows at once), so memory
        stays bounded: a new level's offsets are the same draws in every block, and each
        block draws its own observation noise.

        Examples
        --------
        >>> fit.predict({"N": [7e9], "D": [1.4e11], "dataset": ["web"]})  # doctest: +SKIP
        """
        lo, hi = check_predict_settings(interval=interval, seed=seed)
        check_discrepancy(discrepancy, self.spec.scale, repr(self.spec.target))
        frame = as_frame(data)
        check_unwritten(frame.columns, written_columns(PREDICT_PARTS))
        design = make_design(self.spec, frame, fitted=self.design)
        for message in self._design_notes(design):
            warnings.warn(message, ScalingLawWarning, stacklevel=2)
        posterior = self.draws()
        n_draws = len(next(iter(posterior.values())))
        columns = interval_columns(
            lambda rows, block: self._design_draws(design.take(rows), posterior, seed,
                                                   discrepancy, block),
            design.n_rows, n_draws, PREDICT_PARTS, lo, hi)
        out = frame.copy()
        for name, values in columns.items():
            out[name] = values
        out.attrs["interval"] = interval
        return out

    def predict_draws(self, data, seed: int = 0, discrepancy=None) -> dict:
        """Raw posterior draws behind :meth:`predict`, each of shape (draws, rows).

        Returns ``{"law": ..., "observed": ..., "params": {name: ...}}``: the noise-free
        law, new observations, and the natural law parameters of every row (a coefficient
        such as ``A`` in its original units, whatever scale it was sampled on). With a
        ``discrepancy``, ``law`` and ``observed`` include it (see :meth:`predict`). It
        does not warn: :meth:`predict` warns what :meth:`prediction_notes` says.
        """
        check_discrepancy(discrepancy, self.spec.scale, repr(self.spec.target))
        check_predict_settings(seed=seed)
        design = make_design(self.spec, as_frame(data), fitted=self.design)
        return self._design_draws(design, self.draws(), seed, discrepancy)

    def _design_draws(self, design: Design, posterior: Mapping, seed: int, discrepancy,
                      block: int = 0) -> dict:
        """:meth:`predict_draws` of an encoded design, as block ``block`` of a
        prediction in blocks of rows (:func:`~scalinglaws.prediction.interval_columns`)."""
        key = jax.random.PRNGKey(seed)
        out = predict_draws(self.spec, design, posterior, key, block_key(key, block))
        out = jax.tree_util.tree_map(np.asarray, out)
        if discrepancy is not None:
            out["law"], out["observed"] = discrepancy.apply(out["law"], out["observed"],
                                                            seed, block)
        return out

    def prediction_notes(self, data) -> list[str]:
        """What a prediction of ``data``'s rows should be read with (what :meth:`predict`
        warns): factor levels the fit never saw and law variables more than
        :data:`EXTRAPOLATION_DECADES` decades outside the fitted range.

        >>> fit.prediction_notes({"N": [7e13], "D": [1.4e15], "dataset": ["web"]})  # doctest: +SKIP
        ['N = 7e+13 is 4.8 decades above the largest fitted N (1e+09); ...']
        """
        return self._design_notes(make_design(self.spec, as_frame(data), fitted=self.design))

    def _design_notes(self, design: Design) -> list[str]:
        """:meth:`prediction_notes` of rows encoded against this fit."""
        return [*self.unfitted_level_notes(design), *far_notes(self.design, design)]

    def unfitted_level_notes(self, design: Design) -> list[str]:
        """What to say of the factor levels in ``design`` (rows encoded against this fit)
        that the fit never saw (:func:`level_notes`)."""
        return level_notes(self.spec, self.design, design)

    def data(self) -> pd.DataFrame:
        """The fitted rows as a frame: inputs, target and factor levels."""
        out = pd.DataFrame({self.spec.inputs[v]: x for v, x in self.design.variables.items()})
        out[self.spec.target] = self.design.y
        if self.design.se is not None:
            out[self.spec.measurement_se] = self.design.se
        for name, factor in self.design.factors.items():
            out[name] = np.asarray(factor.levels, dtype=object)[factor.codes]
        return out

    def levels(self) -> dict[str, tuple[str, ...]]:
        """The fitted levels of each factor: ``{factor: levels}``."""
        return self.design.levels()

    def pointwise(self) -> Pointwise:
        """The pointwise log likelihood's terms: one per fitted row (see :class:`Pointwise`)."""
        if "log_likelihood" not in self.idata.groups() or "y" not in self.idata.log_likelihood:
            raise ScalingLawError(
                "this fit has no pointwise log likelihood of 'y' (idata.log_likelihood); it "
                "was not made by ScalingModel.fit or lost that group: refit it")
        index = pd.Index(self.design.index)
        return Pointwise(var="y", units=tuple(str(i) for i in index),
                         observed=pd.DataFrame({self.spec.target: self.design.y}, index=index),
                         scale=self.spec.scale)

    def log_density(self, data, seed: int = 0) -> np.ndarray:
        """``log p(y_i | theta_s)`` of observed rows under each posterior draw.

        The density is that of the model's own observation noise on the likelihood scale
        (``log y`` for losses), with the law, run offsets and noise scale exactly as
        :meth:`predict_draws` has them: offsets of levels and runs never fitted are drawn
        fresh from the population per draw, so averaging ``exp`` over draws estimates
        the predictive density with them integrated out.

        Parameters
        ----------
        data : DataFrame, dict or list of dicts
            Rows with the law's inputs, the factors and the observed target.
        seed : int
            Seed for the fresh offsets of new levels and new runs.

        Returns
        -------
        ndarray, shape (draws, rows)

        Examples
        --------
        >>> ll = fit.log_density(held_out)  # doctest: +SKIP
        >>> lpd = scipy.special.logsumexp(ll, axis=0) - np.log(len(ll))  # doctest: +SKIP
        """
        check_predict_settings(seed=seed)
        frame = as_frame(data)
        y = target_values(self.spec, frame)
        design = make_design(self.spec, frame, fitted=self.design)
        draws = predict_draws(self.spec, design, self.draws(), jax.random.PRNGKey(seed))
        loc = transform_target(self.spec, draws["law"]) + draws["shift"]
        noise = {"nu": np.asarray(draws["nu"])[:, None]} if "nu" in draws else {}
        scale = with_measurement_error(self.spec, design, draws["scale"], y)
        return np.asarray(observation(self.spec, loc, scale, noise).log_prob(
            transform_target(self.spec, y)))

    def plot(self, **kwargs):
        """Data, posterior median and band, and the extrapolation region, per group.

        Returns a matplotlib Figure (never shows it); see
        :func:`scalinglaws.plotting.plot_fit` for options.
        """
        return plot_fit(self, **kwargs)

    # --- display ------------------------------------------------------------------------

    def __repr__(self) -> str:
        post = self.idata.posterior
        status = "no sampler warnings" if not self.warnings else f"{len(self.warnings)} warnings"
        return (f"<Fit {self.spec.law.name} on {self.design.n_rows} rows, "
                f"{post.sizes['chain']} chains x {post.sizes['draw']} draws, {status}>")

    def _repr_html_(self) -> str:
        """Jupyter view: the law, hierarchy, priors, diagnostics and parameter table."""
        return fit_html(self)

    # --- files --------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file (no pickle); :func:`load` reads it back exactly.

        >>> fit.save("fit.nc")  # doctest: +SKIP
        """
        return write_fit_file(self.idata, path, {
            "scalinglaws_format": FILE_FORMAT,
            "scalinglaws_kind": self.kind,
            "scalinglaws_spec": self.spec.to_json(),
            "scalinglaws_warnings": json.dumps(list(self.warnings)),
            "scalinglaws_vary": json.dumps({k: list(v) for k, v in self.design.vary.items()}),
            "scalinglaws_log_reference": json.dumps(self.design.log_reference),
        })


def reference_inputs(law, log_reference: Mapping[str, float]) -> dict[str, set[str]]:
    """For each parameter of ``law`` sampled at a reference scale, the other parameters its
    natural value reads (``law.from_reference``), found by moving each in turn.

    >>> import scalinglaws as sl
    >>> reference_inputs(sl.laws.get("chinchilla"), {"N": 20.0, "D": 23.0})
    {'A': {'alpha'}, 'B': {'beta'}}
    """
    ref = [p.name for p in law.params if p.reference]
    others = [p.name for p in law.params if not p.reference]
    if not ref:
        return {}
    logref = {k: 1.7 for k in log_reference}
    at_ref = {k: 0.3 for k in ref}
    base = {k: 0.45 for k in others}
    here = law.from_reference(at_ref, base, logref)
    out: dict[str, set[str]] = {k: set() for k in ref}
    for q in others:
        moved = law.from_reference(at_ref, {**base, q: 0.9}, logref)
        for k in ref:
            if not np.allclose(np.asarray(moved[k]), np.asarray(here[k])):
                out[k].add(q)
    return out


def level_notes(spec, fitted: Design, design: Design) -> list[str]:
    """What to say of the factor levels in ``design`` (rows encoded against ``fitted``, the
    design ``spec`` was fitted on) that the fit never saw: predicted from the population
    of levels, so with wider intervals, or, for a factor the fit could not vary by (its
    data held one level), as that one level."""
    notes = (level_note(spec, fitted.vary, name, factor.new_levels,
                        factor.levels[:factor.n_fitted])
             for name, factor in design.factors.items() if factor.new_levels)
    return [note for note in notes if note is not None]


def level_note(spec, vary: Mapping[str, Any] | None, factor: str, new: Sequence[Any],
               fitted: Sequence[Any]) -> str | None:
    """What to say of levels ``new`` of ``factor`` that a fit of ``spec`` never saw (it
    saw ``fitted``; ``vary``: the factors its parameters varied by, None where every factor
    of the spec did): drawn from the population of levels where the fit varied by the
    factor, predicted as the one fitted level where its data held one level (so it could
    not vary by it), nothing where the model pools every parameter."""
    if vary is None or any(factor in fs for fs in vary.values()):
        return unfitted_levels(factor, new, fitted)
    if factor in spec.factors and spec.pooling != "complete":
        return unfitted_levels(factor, new, fitted, varies=False)
    return None


def far_notes(fitted: Design, design: Design, names: Mapping[str, str] | None = None
              ) -> list[str]:
    """A note per law variable of ``design`` more than :data:`EXTRAPOLATION_DECADES`
    decades outside its range in ``fitted`` (``names``: what to call each variable, by
    default its own name)."""
    notes = []
    for var, values in design.variables.items():
        name = (names or {}).get(var, var)
        range_ = fitted.variables[var]
        beyond = decades_outside(range_, values)
        worst = int(np.argmax(beyond))
        if beyond[worst] > EXTRAPOLATION_DECADES:
            above = values[worst] > range_.max()
            side = "above the largest" if above else "below the smallest"
            edge = range_.max() if above else range_.min()
            notes.append(
                f"{name} = {values[worst]:.3g} is {beyond[worst]:.1f} decades {side} "
                f"fitted {name} ({edge:.3g}); a prediction that far from the data rests "
                f"on the law's form alone, so treat it with care")
    return notes


def _summary_table(post: xr.Dataset, lo: float, hi: float) -> pd.DataFrame:
    """Mean, sd, median, interval, ESS and R-hat of every variable of ``post`` (dims
    ``chain``, ``draw`` and at most one more, whose coordinates name the rows)."""
    names = list(post.data_vars)
    stacked = post.stack(sample=("chain", "draw"))
    quantities = dataset_convergence(post)
    rows = []
    for name in names:
        values = stacked[name]
        other = [d for d in values.dims if d != "sample"]
        flat = values.transpose(*other, "sample").values.reshape(-1, values.sizes["sample"])
        labels = [name] if not other else [
            f"{name}[{level}]" for level in values[other[0]].values.astype(str)
        ] if len(other) == 1 else [f"{name}[{i}]" for i in range(flat.shape[0])]
        for i, label in enumerate(labels):
            sample = flat[i]
            rows.append({
                "parameter": label,
                "mean": sample.mean(), "sd": sample.std(ddof=1),
                "median": np.median(sample),
                "lower": np.quantile(sample, lo), "upper": np.quantile(sample, hi),
                **{stat: float(np.ravel(values)[i])
                   for stat, values in quantities[name].items()},
            })
    return pd.DataFrame(rows).set_index("parameter")
