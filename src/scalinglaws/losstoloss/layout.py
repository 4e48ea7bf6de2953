"""The paired frame as the joint model sees it (:class:`Layout`): one row per input
model (its latent loss) and the output observations that point at them, with the two
core designs, padded to a :class:`Shapes` so that fits of one structure share their
compiled programs; and the fitted frame as netCDF-ready columns and back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from .._checks import factor_labels, require_columns
from ..data import Design, check_positive, make_design, numeric_column
from ..errors import ScalingLawError
from ..model import Structure, pad, structure_of, transform_target
from .composed import X_PREFIX
from .frames import loss_column, match_key
from .spec import L_DUMMY, X_TARGET, LossToLossSpec, own_name


@dataclass(frozen=True)
class Shapes:
    """What fixes the shapes of a loss-to-loss fit's compiled programs, apart from its
    spec: the input models padded to ``x.rows`` (:class:`~scalinglaws.model.Structure`
    of the compute law's design) and the output observations to ``link.rows`` (the
    links' design); factor levels are not padded. Fits of one spec and one ``Shapes``
    share their mode search and sampler.
    """

    x: Structure
    link: Structure


@dataclass(frozen=True)
class Layout:
    """The paired frame split into input models (latents) and output observations."""

    data: pd.DataFrame          # the columns the model reads, as fitted
    xruns: pd.DataFrame         # one row per input model
    xrun_of_row: np.ndarray     # per output observation: its input model
    y_rows: np.ndarray          # positions in `data` of rows with an output observation
    x_design: Design
    link_design: Design

    @staticmethod
    def columns(spec: LossToLossSpec, frame: pd.DataFrame) -> list[str]:
        cols = [*spec.inputs.values(), spec.x, spec.y, *spec.x_factors, *spec.link_factors]
        if spec.law_rows:
            cols.append(spec.law_rows)
        run = _x_run_column(spec, frame)
        if run:
            cols.append(run)
        return list(dict.fromkeys(cols))

    @classmethod
    def build(cls, spec: LossToLossSpec, frame: pd.DataFrame) -> Layout:
        if len(frame) == 0:
            raise ScalingLawError("data has no rows; pass the paired frame (pair_losses)")
        hint = ("Pair the losses first (pair_losses gives loss_x, loss_y, dataset_x, "
                "dataset_y, run_x), or map the columns: LossToLossModel(inputs=..., x=..., "
                "y=..., vary=..., x_run=...)")
        if spec.x_run is not None:
            require_columns(frame, [spec.x_run], "data", hint)
        require_columns(frame, cls.columns(spec, frame), "data", hint)
        data = frame[cls.columns(spec, frame)].copy()
        for var, column in spec.inputs.items():  # read before input models are grouped
            check_positive(numeric_column(data, column, f"law variable {var}"), data, column,
                           f"law variable {var}")
        x = loss_column(data, spec.x, "input loss x", positive=True)
        y = loss_column(data, spec.y, "output loss y",
                        positive=spec.link_spec.scale == "log")
        if np.isnan(y).all():
            raise ScalingLawError(f"column {spec.y!r} (output loss) has no values; the link "
                                  f"needs at least some paired rows")
        if np.isnan(x).all():
            raise ScalingLawError(f"column {spec.x!r} (input loss) has no values; the compute "
                                  f"law needs observed input losses")
        if spec.law_rows:
            flags = data[spec.law_rows]
            if not (pd.api.types.is_bool_dtype(flags) or flags.isin([0, 1]).all()):
                raise ScalingLawError(f"law_rows column {spec.law_rows!r} must be boolean "
                                      f"(True: the input model informs the compute law)")
        codes = _xrun_codes(spec, data)
        xruns = _xrun_table(spec, data, codes, x)
        y_rows = np.flatnonzero(~np.isnan(y))
        x_frame = xruns[[*spec.inputs.values(), *spec.x_factors]].copy()
        x_frame[X_TARGET] = np.where(np.isnan(xruns["__x"]), 1.0, xruns["__x"])
        x_design = make_design(spec.x_spec, x_frame)
        link_frame = data.iloc[y_rows][[*spec.link_factors, spec.y]].copy()
        link_frame[L_DUMMY] = 1.0
        link_design = make_design(spec.link_spec, link_frame)
        return cls(data=data, xruns=xruns, xrun_of_row=codes[y_rows], y_rows=y_rows,
                   x_design=x_design, link_design=link_design)

    @property
    def x_observed(self) -> np.ndarray:
        return np.flatnonzero(~np.isnan(self.xruns["__x"].to_numpy()))

    @property
    def loose(self) -> np.ndarray:
        return ~self.xruns["__law"].to_numpy(dtype=bool)

    def run_column(self, spec: LossToLossSpec) -> str | None:
        """The column that identifies input models: ``x_run``, else ``run_x`` when the
        data have it, else None (input models are told apart by inputs and factors)."""
        return _x_run_column(spec, self.data)

    def xrun_labels(self, spec: LossToLossSpec) -> tuple[str, ...]:
        """A label per input model, in the order of :attr:`xruns`: its ``x_run`` value, or
        its inputs and factors (``"N=1e+08, D=2e+09, dataset_x=web"``)."""
        run = self.run_column(spec)
        keys = [run] if run else [*spec.inputs.values(), *spec.x_factors]
        codes = _xrun_codes(spec, self.data)
        _, first = np.unique(codes, return_index=True)
        rows = self.data.iloc[first]
        if run:
            return tuple(str(v) for v in factor_labels(rows[run], run))
        return tuple(", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in zip(keys, row, strict=True))
                     for row in rows[keys].itertuples(index=False))

    @cached_property
    def shapes(self) -> Shapes:
        """The padded shapes of this layout's programs (rows in buckets of
        :func:`~scalinglaws.model.bucket`)."""
        return Shapes(x=structure_of([self.x_design], pad_levels=False),
                      link=structure_of([self.link_design], pad_levels=False))

    def arrays(self, spec: LossToLossSpec) -> dict:
        """The model's data (:func:`scalinglaws.losstoloss.model.build`), padded to
        :attr:`shapes`: the two core designs' arrays (:func:`~scalinglaws.model.pad`;
        their ``mask`` marks the real input models and output rows), the observed input
        losses (log) per input model with ``observed`` marking them, the output losses on
        the likelihood scale per row, each row's input model, and per input model whether
        it is ``loose`` (not informing the compute law) or ``linked`` (has outputs).

        >>> import scalinglaws.losstoloss as ltl
        >>> spec = ltl.LossToLossModel("chinchilla")
        >>> runs = ltl.simulate(seed=0, sizes=(1e7, 3e7, 1e8), multipliers=(5, 20, 80))
        >>> layout = Layout.build(spec, ltl.pair_train_to_train(runs, x="web", y=["code"],
        ...                                                     loss="loss"))
        >>> data = layout.arrays(spec)
        >>> len(layout.xruns), data["observed"].shape, int(data["observed"].sum())
        (9, (16,), 9)
        """
        shapes = self.shapes
        n_x = len(self.xruns)

        def fill(values, size, value):
            values = np.asarray(values)
            return np.concatenate([values, np.full(size - len(values), value,
                                                   dtype=values.dtype)])

        x = self.xruns["__x"].to_numpy(dtype=float)
        observed = ~np.isnan(x)
        y = self.data[spec.y].to_numpy(dtype=float)[self.y_rows]
        linked = np.zeros(n_x, dtype=bool)
        linked[self.xrun_of_row] = True
        return {"x": pad(self.x_design, shapes.x), "link": pad(self.link_design, shapes.link),
                "x_obs": fill(np.log(np.where(observed, x, 1.0)), shapes.x.rows, 0.0),
                "observed": fill(observed, shapes.x.rows, False),
                # transformed once padded (with 1.0): one shape per bucket, one program
                "y_obs": np.asarray(transform_target(spec.link_spec,
                                                     fill(y, shapes.link.rows, 1.0))),
                "xrun_of_row": fill(self.xrun_of_row.astype(np.int32), shapes.link.rows, 0),
                "loose": fill(self.loose, shapes.x.rows, False),
                "linked": fill(linked, shapes.x.rows, False)}


def _x_run_column(spec: LossToLossSpec, frame: pd.DataFrame) -> str | None:
    if spec.x_run is not None:
        return spec.x_run
    return "run_x" if "run_x" in frame.columns else None



def _xrun_codes(spec: LossToLossSpec, data: pd.DataFrame) -> np.ndarray:
    run = _x_run_column(spec, data)
    keys = [run] if run else [*spec.inputs.values(), *spec.x_factors]
    for col in keys:
        if data[col].isna().any():
            raise ScalingLawError(f"column {col!r}, which identifies the input model, has "
                                  f"missing values in rows "
                                  f"{list(data.index[data[col].isna()][:5])}; fill or drop them")
    # an id column is read exactly (as a factor's levels); the inputs and factors that
    # stand in for one match as numbers to 7 significant digits
    key = factor_labels(data[run], run) if run else match_key(data, keys)
    return pd.factorize(key, sort=False)[0].astype(np.int64)


def _xrun_table(spec: LossToLossSpec, data: pd.DataFrame, codes: np.ndarray,
                x: np.ndarray) -> pd.DataFrame:
    """One row per input model; rows of one model must agree on everything about it."""
    cols = [*spec.inputs.values(), *spec.x_factors]
    if spec.law_rows:
        cols.append(spec.law_rows)
    run = _x_run_column(spec, data)
    frame = data[cols].copy()
    frame["__x"] = x
    frame["__code"] = codes
    for col in [*cols, "__x"]:
        distinct = frame.dropna(subset=[col]).groupby("__code")[col].nunique()
        bad = distinct[distinct > 1]
        if len(bad):
            code = int(bad.index[0])
            rows = list(data.index[codes == code][:4])
            what = f"input model {run}={data[run].iloc[np.argmax(codes == code)]!r}" if run \
                else "an input model"
            name = spec.x if col == "__x" else col
            if col in spec.x_factors and col not in spec.inputs.values():
                params = [own_name(X_PREFIX, p) for p, by in spec.x_spec.vary.items()
                          if col in by]
                raise ScalingLawError(
                    f"compute-law parameter(s) {params} vary by {col!r}, which differs "
                    f"between rows of {what} (rows {rows}); the compute law's parameters "
                    f"vary by factors constant within an input model. Vary them by a factor "
                    f"of the input model (e.g. 'dataset_x'), or vary the link's parameters "
                    f"by {col!r} instead; if those rows are different input models, give "
                    f"each its own id in {run!r} (x_run=)"
                )
            raise ScalingLawError(
                f"{what} (rows {rows}) has {int(bad.iloc[0])} different values of {name!r}: "
                f"rows of one input model must agree on its inputs, factors and loss. Give "
                f"each input model its own id in {run or 'run_x'!r} (x_run=), or fix the rows"
            )
    first = frame.groupby("__code", sort=True).first()
    first["__x"] = frame.groupby("__code", sort=True)["__x"].max()
    first["__law"] = (first[spec.law_rows].astype(bool) if spec.law_rows
                      else pd.Series(True, index=first.index))
    return first.reset_index(drop=True)



def constant_data(spec: LossToLossSpec, data: pd.DataFrame) -> xr.Dataset:
    """The fitted frame as netCDF-ready columns (strings as str, numbers as float64) and
    its row labels (as str, as a scaling-law fit stores them)."""
    out = {"row_label": ("fitted_row", np.asarray([str(i) for i in data.index]))}
    for i, col in enumerate(data.columns):
        values = data[col]
        if pd.api.types.is_bool_dtype(values):
            arr = values.to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(values):
            arr = values.to_numpy(dtype=np.float64)
        else:
            arr = values.astype(str).to_numpy().astype(str)
        out[f"col{i}"] = ("fitted_row", arr)
    ds = xr.Dataset(out, coords={"fitted_row": np.arange(len(data))})
    ds.attrs["columns"] = json.dumps(list(data.columns))
    return ds


def frame_from_constant(ds: xr.Dataset) -> pd.DataFrame:
    """The frame :func:`constant_data` wrote, indexed by its row labels (files without
    them: 0, 1, ...)."""
    columns = json.loads(ds.attrs["columns"])
    index = pd.Index(ds["row_label"].values.astype(str)) if "row_label" in ds else None
    return pd.DataFrame({col: ds[f"col{i}"].values for i, col in enumerate(columns)},
                        index=index)
