"""Fit: a posterior (ArviZ InferenceData) with the spec and data that produced it.

A Fit is a value: print its :meth:`~Fit.summary`, :meth:`~Fit.predict` new runs,
:meth:`~Fit.plot` it, :meth:`~Fit.save` it to netCDF and :func:`load` it back exactly.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pandas as pd
import xarray as xr

from ._checks import check_interval, check_predict_settings, write_atomic
from .data import Design, Factor, as_frame, make_design
from .errors import ScalingLawError, ScalingLawWarning
from .model import auxiliary, predict_draws

#: Version of the saved-file layout; files of another format are rejected.
FILE_FORMAT = 1


#: How many decades beyond the fitted range of a law variable :meth:`Fit.predict` warns.
EXTRAPOLATION_DECADES = 3.0


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

    idata: az.InferenceData
    spec: object
    design: Design
    warnings: tuple[str, ...] = ()

    # --- reading the posterior -----------------------------------------------------------

    def draws(self) -> dict[str, np.ndarray]:
        """Posterior draws of every site, chains flattened: ``{name: (draws, ...)}``."""
        return posterior_draws(self.idata)

    def summary(self, interval: float = 0.9) -> pd.DataFrame:
        """Per parameter and level: mean, sd, median, equal-tailed interval, ESS, R-hat.

        Rows are named like ArviZ's (``alpha``, ``E_dataset[web]``); the raw
        standard-normal offsets ``*_z_*`` are left out.

        >>> fit.summary().loc["alpha", ["mean", "lower", "upper", "r_hat"]]  # doctest: +SKIP
        """
        lo, hi = check_interval(interval)
        post = self.idata.posterior
        names = [v for v in post.data_vars if not auxiliary(v) and "_offset" not in v]
        stacked = post[names].stack(sample=("chain", "draw"))
        groups = chain_groups(post[names])
        multi_chain = groups[0].sizes["chain"] > 1
        rhat = (xr.concat([az.rhat(g) for g in groups], "group").max("group")
                if multi_chain else None)
        ess_bulk = sum(az.ess(g, method="bulk") for g in groups)
        ess_tail = sum(az.ess(g, method="tail") for g in groups)
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
                    "ess_bulk": float(np.ravel(ess_bulk[name].values)[i]),
                    "ess_tail": float(np.ravel(ess_tail[name].values)[i]),
                    "r_hat": float(np.ravel(rhat[name].values)[i]) if multi_chain else np.nan,
                })
        table = pd.DataFrame(rows).set_index("parameter")
        table.attrs["interval"] = interval
        return table

    # --- predicting ---------------------------------------------------------------------

    def predict(self, data, interval: float = 0.9, seed: int = 0,
                discrepancy=None) -> pd.DataFrame:
        """Posterior predictions for new rows, with credible and predictive intervals.

        Parameters
        ----------
        data : DataFrame or dict
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
            models with a run factor, a new run's offset).

        Examples
        --------
        >>> fit.predict({"N": [7e9], "D": [1.4e11], "dataset": ["web"]})  # doctest: +SKIP
        """
        lo, hi = check_predict_settings(interval=interval, seed=seed)
        frame = as_frame(data)
        design = make_design(self.spec, frame, fitted=self.design)
        for message in self._prediction_notes(design):
            warnings.warn(message, ScalingLawWarning, stacklevel=2)
        draws = self.predict_draws(frame, seed=seed, discrepancy=discrepancy)
        law, observed = draws["law"], draws["observed"]
        out = frame.copy()
        out["mean"] = law.mean(axis=0)
        out["median"] = np.median(law, axis=0)
        out["lower"] = np.quantile(law, lo, axis=0)
        out["upper"] = np.quantile(law, hi, axis=0)
        out["pred_lower"] = np.quantile(observed, lo, axis=0)
        out["pred_upper"] = np.quantile(observed, hi, axis=0)
        out.attrs["interval"] = interval
        return out

    def predict_draws(self, data, seed: int = 0, discrepancy=None) -> dict:
        """Raw posterior draws behind :meth:`predict`, each of shape (draws, rows).

        Returns ``{"law": ..., "observed": ..., "params": {name: ...}}``: the noise-free
        law, new observations, and the natural law parameters of every row (a coefficient
        such as ``A`` in its original units, whatever scale it was sampled on). With a
        ``discrepancy``, ``law`` and ``observed`` include it (see :meth:`predict`).
        """
        from .validate import Discrepancy

        if discrepancy is not None:
            if not isinstance(discrepancy, Discrepancy):
                raise ScalingLawError(
                    f"discrepancy must be a scalinglaws.validate.Discrepancy (from "
                    f"Extrapolation.discrepancy()), got {type(discrepancy).__name__}")
            if discrepancy.scale != self.spec.scale:
                raise ScalingLawError(
                    f"the discrepancy was measured on the {discrepancy.scale!r} scale but "
                    f"this model's likelihood is on the {self.spec.scale!r} scale")
        check_predict_settings(seed=seed)
        design = make_design(self.spec, as_frame(data), fitted=self.design)
        out = predict_draws(self.spec, design, self.draws(), jax.random.PRNGKey(seed))
        out = jax.tree_util.tree_map(np.asarray, out)
        if discrepancy is not None:
            out["law"], out["observed"] = discrepancy.apply(out["law"], out["observed"], seed)
        return out

    def _prediction_notes(self, design: Design) -> list[str]:
        """What a prediction for the rows of ``design`` should be read with: levels the
        fit never saw (predicted from the population, so with wider intervals) and law
        variables more than :data:`EXTRAPOLATION_DECADES` decades outside the fitted range.
        """
        notes = []
        for name, factor in design.factors.items():
            new = factor.new_levels
            if new and name in {f for fs in self.design.vary.values() for f in fs}:
                notes.append(
                    f"{name} level(s) {[str(v) for v in new]} were not in the fitted data "
                    f"(levels {[str(v) for v in factor.levels[:factor.n_fitted]]}); they are "
                    f"predicted from the population of levels, so their intervals are wider. "
                    f"Check the spelling if a fitted level was meant")
        for var, values in design.variables.items():
            fitted = self.design.variables[var]
            low, high = np.log10(fitted.min()), np.log10(fitted.max())
            logs = np.log10(values)
            beyond = np.maximum(logs - high, low - logs)
            worst = int(np.argmax(beyond))
            if beyond[worst] > EXTRAPOLATION_DECADES:
                side = "above the largest" if logs[worst] > high else "below the smallest"
                edge = fitted.max() if logs[worst] > high else fitted.min()
                notes.append(
                    f"{var} = {values[worst]:.3g} is {beyond[worst]:.1f} decades {side} "
                    f"fitted {var} ({edge:.3g}); a prediction that far from the data rests "
                    f"on the law's form alone, so treat it with care")
        return notes

    def data(self) -> pd.DataFrame:
        """The fitted rows as a frame: inputs, target and factor levels."""
        out = pd.DataFrame({self.spec.inputs[v]: x for v, x in self.design.variables.items()})
        out[self.spec.target] = self.design.y
        for name, factor in self.design.factors.items():
            out[name] = np.asarray(factor.levels, dtype=object)[factor.codes]
        return out

    def plot(self, **kwargs):
        """Data, posterior median and band, and the extrapolation region, per group.

        Returns a matplotlib Figure (never shows it); see
        :func:`scalinglaws.plotting.plot_fit` for options.
        """
        from .plotting import plot_fit

        return plot_fit(self, **kwargs)

    # --- display ------------------------------------------------------------------------

    def __repr__(self) -> str:
        post = self.idata.posterior
        status = "no sampler warnings" if not self.warnings else f"{len(self.warnings)} warnings"
        return (f"<Fit {self.spec.law.name} on {self.design.n_rows} rows, "
                f"{post.sizes['chain']} chains x {post.sizes['draw']} draws, {status}>")

    def _repr_html_(self) -> str:
        """Jupyter view: the law, hierarchy, priors, diagnostics and parameter table."""
        from .report import fit_html

        return fit_html(self)

    # --- files --------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the fit to a netCDF file (no pickle); :func:`load` reads it back exactly.

        >>> fit.save("fit.nc")  # doctest: +SKIP
        """
        return write_fit_file(self.idata, Path(path), {
            "scalinglaws_format": FILE_FORMAT,
            "scalinglaws_spec": self.spec.to_json(),
            "scalinglaws_warnings": json.dumps(list(self.warnings)),
            "scalinglaws_vary": json.dumps({k: list(v) for k, v in self.design.vary.items()}),
            "scalinglaws_log_reference": json.dumps(self.design.log_reference),
        })


def chain_groups(posterior: xr.Dataset) -> list[xr.Dataset]:
    """The posterior's chains in groups that target one distribution each.

    A cut loss-to-loss fit runs its links' chains given several compute-law draws, one
    group of ``posterior.attrs["chains_per_group"]`` chains per draw; R-hat compares chains
    within a group and ESS adds over groups. Without the attribute: one group.
    """
    size = int(posterior.attrs.get("chains_per_group", posterior.sizes["chain"]))
    return [posterior.isel(chain=slice(i, i + size))
            for i in range(0, posterior.sizes["chain"], size)]


def posterior_draws(idata: az.InferenceData) -> dict[str, np.ndarray]:
    """Every posterior site with its chains flattened: ``{name: (draws, ...)}``."""
    post = idata.posterior
    n = post.sizes["chain"] * post.sizes["draw"]  # explicit: a site may have a size-0 axis
    return {name: post[name].values.reshape(n, *post[name].shape[2:])
            for name in post.data_vars}


def fingerprint(idata: az.InferenceData, attrs: Mapping) -> str:
    """A hash of a fit file's specs (every ``*_spec`` attribute, as parsed JSON) and of
    its posterior's variable names, dimensions and shapes.

    :func:`write_fit_file` stores it; :func:`read_fit_file` rejects a file whose spec or
    posterior no longer gives the stored value (edited after it was saved).

    >>> idata = az.from_dict(posterior={"alpha": np.zeros((2, 10))})
    >>> a = fingerprint(idata, {"scalinglaws_spec": '{"law": "chinchilla"}'})
    >>> a == fingerprint(idata, {"scalinglaws_spec": '{"law": "kaplan"}'})
    False
    >>> len(a)
    64
    """
    specs = {k: json.loads(v) for k, v in sorted(attrs.items()) if k.endswith("_spec")}
    post = idata.posterior
    shapes = {name: [list(post[name].dims), list(post[name].shape)]
              for name in sorted(post.data_vars)}
    text = json.dumps({"specs": specs, "posterior": shapes}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_fit_file(idata: az.InferenceData, path: Path, attrs: dict) -> Path:
    """Write a copy of ``idata`` to netCDF with ``attrs`` (the package version and a
    :func:`fingerprint`) on its posterior; the caller's InferenceData is not changed.

    The file is written beside ``path`` and renamed onto it, so a failure never leaves
    half a file and an existing file survives it.
    """
    from . import __version__

    idata = idata.copy()
    idata.posterior.attrs.update(attrs, scalinglaws_version=__version__,
                                 scalinglaws_fingerprint=fingerprint(idata, attrs))
    return write_atomic(path, lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"),
                        "fit file")


class ForeignFitFile(ScalingLawError):
    """A readable fit file of another kind (raised by :func:`read_fit_file`)."""


def read_fit_file(path: Path, format_key: str, expected: int, kind: str,
                  instead: str) -> tuple[az.InferenceData, dict]:
    """The InferenceData of a netCDF fit file, fully read, and its posterior's attributes.

    ``format_key`` is the attribute holding the file format, which must equal
    ``expected``; ``kind`` names the fit (``"a core fit (Fit.save)"``) and ``instead``
    says how to read a file of another kind. A missing, unreadable or foreign file, or
    one in another format, raises a :class:`~scalinglaws.errors.ScalingLawError`; a
    readable fit of another kind, the subclass :class:`ForeignFitFile`.
    """
    if not path.exists():
        raise ScalingLawError(f"no fit file at {path}")
    if path.is_dir():
        raise ScalingLawError(f"{path} is a folder, not a fit file")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
        idata.load()
        for group in idata.groups():  # all in memory now: let the file be written again
            getattr(idata, group).close()
        attrs = dict(idata.posterior.attrs)
    except Exception as err:  # noqa: BLE001 - any reader failure means a damaged file
        raise ScalingLawError(f"{path} is not a readable netCDF fit file ({err}); it may be "
                              f"damaged or truncated: save the fit again") from None
    if format_key not in attrs:
        raise ForeignFitFile(f"{path} is not {kind}; {instead}")
    try:
        version = int(attrs[format_key])
    except (TypeError, ValueError):
        version = attrs[format_key]
    if version != expected:
        raise ScalingLawError(
            f"{path} is {kind} written by scalinglaws {attrs.get('scalinglaws_version')} in "
            f"file format {attrs[format_key]}; this version reads format {expected}. Refit "
            f"with this version, or install the version that wrote it"
        )
    if "scalinglaws_fingerprint" in attrs:
        try:
            stored_ok = fingerprint(idata, attrs) == attrs["scalinglaws_fingerprint"]
        except (TypeError, ValueError):  # a spec attribute that is not JSON
            stored_ok = False
        if not stored_ok:
            raise ScalingLawError(
                f"{path}: the model spec stored in the file no longer matches its posterior "
                f"(the file was changed after it was saved, e.g. its law, scale or vary); "
                f"refit the model and save it again, or restore the original file")
    return idata, attrs


def load(path: str | Path) -> Fit:
    """Read a Fit written by :meth:`Fit.save`.

    A file that is not a scalinglaws fit, was written in another file format, is
    damaged, or whose stored spec no longer matches its posterior raises a
    :class:`~scalinglaws.errors.ScalingLawError`; nothing is half-loaded. The file is
    read fully into memory and closed, so the fit can be saved over it. The sampler's
    warnings stay on ``fit.warnings`` (they are not issued again).

    >>> fit = load("fit.nc")  # doctest: +SKIP
    """
    from .spec import ScalingModel

    path = Path(path)
    idata, attrs = read_fit_file(
        path, "scalinglaws_format", FILE_FORMAT, "a fit written by scalinglaws (Fit.save)",
        "an ArviZ file is read with arviz.from_netcdf, a loss-to-loss fit with "
        "scalinglaws.losstoloss.load")
    try:
        spec = ScalingModel.from_json(attrs["scalinglaws_spec"])
        const = idata.constant_data
        factors = {}
        for var in const.data_vars:
            if var.endswith("__code"):
                name = var[: -len("__code")]
                levels = tuple(str(v) for v in const[name].values)
                factors[name] = Factor(codes=const[var].values.astype(np.int32),
                                       levels=levels, n_fitted=len(levels))
        design = Design(
            variables={v: const[v].values.astype(np.float64) for v in spec.law.variables},
            y=const["target"].values.astype(np.float64),
            factors=factors,
            vary={k: tuple(v) for k, v in json.loads(attrs["scalinglaws_vary"]).items()},
            log_reference=json.loads(attrs["scalinglaws_log_reference"]),
            index=pd.Index(const["row_label"].values.astype(str)),
        )
        warnings_ = tuple(str(w) for w in json.loads(attrs.get("scalinglaws_warnings", "[]")))
    except ScalingLawError as err:
        raise ScalingLawError(f"{path}: the model spec stored in the file is not valid: "
                              f"{err}") from None
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise ScalingLawError(f"{path} is a scalinglaws file with missing or damaged parts "
                              f"({type(err).__name__}: {err}); save the fit again") from None
    return Fit(idata=idata, spec=spec, design=design, warnings=warnings_)
