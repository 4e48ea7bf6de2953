"""Validate a DataFrame and encode it into a :class:`Design` (float64 arrays, codes).

Every input error a user can make with data is raised here, before anything is
compiled, as a :class:`~scalinglaws.errors.ScalingLawError` naming the column and rows
at fault and what to do. The user's DataFrame is never modified.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ._checks import factor_labels
from .errors import ScalingLawError, ScalingLawWarning


@dataclass(frozen=True)
class Factor:
    """A grouping column encoded as integer codes into ``levels``.

    ``n_fitted`` levels were seen when fitting; levels after those are new (prediction
    for them draws from the population).
    """

    codes: np.ndarray
    levels: tuple[str, ...]
    n_fitted: int

    @property
    def new_levels(self) -> tuple[str, ...]:
        return self.levels[self.n_fitted:]


@dataclass(frozen=True)
class Design:
    """Everything the model needs from the data, as arrays.

    Attributes
    ----------
    variables : dict of str to ndarray
        Law variable -> float64 values (natural units).
    y : ndarray or None
        Target values (None when predicting).
    factors : dict of str to Factor
        Grouping columns the hierarchy uses (varying parameters, ``sigma``, ``run``).
    vary : dict
        Parameter -> factors it actually varies by (single-level factors dropped).
    log_reference : dict of str to float
        log of the reference value of each variable.
    index : pandas.Index
        The rows' index in the user's frame.
    se : ndarray or None
        Known measurement standard error of each row's target, in the target's units
        (``spec.measurement_se``); None without that column.
    """

    variables: dict[str, np.ndarray]
    y: np.ndarray | None
    factors: dict[str, Factor]
    vary: dict[str, tuple[str, ...]]
    log_reference: dict[str, float]
    index: pd.Index = field(repr=False)
    se: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        return len(self.index)

    def levels(self) -> dict[str, tuple[str, ...]]:
        """The fitted levels of each factor (what prediction needs to encode new rows)."""
        return {name: f.levels[: f.n_fitted] for name, f in self.factors.items()}

    def take(self, rows: slice | np.ndarray) -> Design:
        """The design of ``rows`` alone (a slice or row positions), with every factor's
        levels (new ones included) as they are, so a level keeps its code in every part
        of a design.

        >>> import scalinglaws as sl
        >>> spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
        >>> design = make_design(spec, sl.synthetic.sweep(seed=0))
        >>> part = design.take(slice(80, 90))
        >>> part.n_rows, part.factors["dataset"].levels == design.factors["dataset"].levels
        (10, True)
        """
        return replace(
            self,
            variables={k: v[rows] for k, v in self.variables.items()},
            y=None if self.y is None else self.y[rows],
            factors={k: replace(f, codes=f.codes[rows]) for k, f in self.factors.items()},
            index=self.index[rows],
            se=None if self.se is None else self.se[rows])


# --- a design as a dataset (a fit's constant_data) ------------------------------------------

#: Suffix of a factor's codes in a design's dataset (``dataset__code``).
CODE_SUFFIX = "__code"


def design_coords(design: Design) -> dict[str, Sequence]:
    """Coordinates of a design's dataset: ``row`` and each factor's levels."""
    coords: dict[str, Sequence] = {"row": np.arange(design.n_rows)}
    for name, factor in design.factors.items():
        coords[name] = list(factor.levels)
    return coords


def design_dataset(design: Design) -> xr.Dataset:
    """The design as a dataset, a fit's ``constant_data``: inputs, target, known errors,
    factor codes (:data:`CODE_SUFFIX`) and levels, row labels; the reference scales and
    the varying parameters as attributes. :func:`design_from_dataset` reads it back."""
    data = {var: ("row", values) for var, values in design.variables.items()}
    data["target"] = ("row", design.y)
    if design.se is not None:
        data["measurement_se"] = ("row", design.se)
    for name, factor in design.factors.items():
        data[f"{name}{CODE_SUFFIX}"] = ("row", factor.codes)
    data["row_label"] = ("row", np.asarray([str(i) for i in design.index]))
    ds = xr.Dataset(data, coords=design_coords(design))
    ds.attrs.update({f"log_reference_{k}": v for k, v in design.log_reference.items()})
    ds.attrs["vary"] = str({k: list(v) for k, v in design.vary.items()})
    return ds


def dataset_factors(ds: xr.Dataset) -> list[str]:
    """The factor columns of a design's dataset."""
    return [v[: -len(CODE_SUFFIX)] for v in ds.data_vars if v.endswith(CODE_SUFFIX)]


def design_from_dataset(ds: xr.Dataset, variables: Sequence[str],
                        vary: Mapping[str, Sequence[str]],
                        log_reference: Mapping[str, float]) -> Design:
    """The :class:`Design` that :func:`design_dataset` wrote, with the law's ``variables``.

    Every level in the dataset was fitted. Missing parts raise ``KeyError``.
    """
    factors = {}
    for name in dataset_factors(ds):
        levels = tuple(str(v) for v in ds[name].values)
        factors[name] = Factor(codes=ds[f"{name}{CODE_SUFFIX}"].values.astype(np.int32),
                               levels=levels, n_fitted=len(levels))
    return Design(
        variables={v: ds[v].values.astype(np.float64) for v in variables},
        y=ds["target"].values.astype(np.float64),
        factors=factors,
        vary={k: tuple(v) for k, v in vary.items()},
        log_reference=dict(log_reference),
        index=pd.Index(ds["row_label"].values.astype(str)),
        se=ds["measurement_se"].values.astype(np.float64) if "measurement_se" in ds else None,
    )


def _rows(mask: np.ndarray, index: pd.Index, limit: int = 5) -> str:
    bad = list(index[mask][:limit])
    more = int(mask.sum()) - len(bad)
    return f"{bad}" + (f" and {more} more" if more > 0 else "")


def numeric_column(frame: pd.DataFrame, column: str, role: str,
                   missing_ok: bool = False) -> np.ndarray:
    """``frame[column]`` as float64, or a :class:`ScalingLawError` naming the column, its
    ``role`` and the rows: dates, complex numbers, text that is not a number, infinite
    values, True/False values, and missing values (NaN) unless ``missing_ok`` are refused.

    >>> numeric_column(pd.DataFrame({"N": ["1e8", 2e8]}), "N", "law variable N")
    array([1.e+08, 2.e+08])
    """
    series = frame[column]
    if isinstance(series, pd.DataFrame):
        raise ScalingLawError(f"column {column!r} ({role}) appears more than once in the data")
    if (pd.api.types.is_datetime64_any_dtype(series)
            or pd.api.types.is_timedelta64_dtype(series)):
        raise ScalingLawError(
            f"column {column!r} ({role}) holds {series.dtype} values, not numbers; give "
            f"sizes and losses as numbers")
    if pd.api.types.is_complex_dtype(series):  # float64 would silently drop the imaginary part
        raise ScalingLawError(
            f"column {column!r} ({role}) holds {series.dtype} values, not real numbers; "
            f"give its real part (data[{column!r}].to_numpy().real) if that is what you "
            f"meant")
    truth = (np.ones(len(series), dtype=bool) if pd.api.types.is_bool_dtype(series)
             else series.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
             if series.dtype == object else None)
    if truth is not None and truth.any():
        raise ScalingLawError(
            f"column {column!r} ({role}) holds True/False values, not numbers, in rows "
            f"{_rows(truth, frame.index)}; give the numbers it stands for (a True/False "
            f"column can group runs as a factor of vary=, but is not a size, loss or "
            f"standard error)")
    huge = (series.map(lambda v: isinstance(v, int) and abs(v) > sys.float_info.max)
            .to_numpy(dtype=bool) if series.dtype == object else None)
    if huge is not None and huge.any():  # Python integers no float holds
        raise ScalingLawError(
            f"column {column!r} ({role}) holds numbers too large for a float (above about "
            f"1.8e308) in rows {_rows(huge, frame.index)}; give values a float holds")
    if not pd.api.types.is_numeric_dtype(series):
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna().to_numpy() & series.notna().to_numpy()
        if bad.any():
            raise ScalingLawError(
                f"column {column!r} ({role}) has non-numeric values in rows "
                f"{_rows(bad, frame.index)} (e.g. {series[bad].iloc[0]!r}); convert it with "
                f"pd.to_numeric or drop those rows"
            )
        series = converted
    values = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    bad = np.isinf(values) if missing_ok else ~np.isfinite(values)
    if bad.any():
        raise ScalingLawError(
            f"column {column!r} ({role}) has {'infinite' if missing_ok else 'NaN or infinite'}"
            f" values in rows {_rows(bad, frame.index)}; drop or fill those rows (e.g. "
            f"data.dropna(subset=[{column!r}]))"
        )
    return values


def check_positive(values: np.ndarray, frame: pd.DataFrame, column: str, role: str) -> None:
    """A :class:`ScalingLawError` naming the rows of ``values`` (``frame[column]``, read by
    :func:`numeric_column`) that are not positive or too small to be read as positive
    (subnormal); missing values (NaN) pass."""
    bad = values <= 0
    if bad.any():
        raise ScalingLawError(
            f"column {column!r} ({role}) must be positive, but rows {_rows(bad, frame.index)} "
            f"are <= 0 (e.g. {float(values[bad][0])!r}); scaling laws take positive sizes and "
            f"losses: check units or drop those rows"
        )
    # subnormal numbers: the compiled programs flush them to 0, whose log is -inf
    bad = values < np.finfo(np.float64).tiny
    if bad.any():
        raise ScalingLawError(
            f"column {column!r} ({role}) has values below 2.2e-308, the smallest normal "
            f"float64, in rows {_rows(bad, frame.index)} (e.g. {float(values[bad][0])!r}), which "
            f"compiled programs read as 0: check units or drop those rows"
        )


def _encode(frame: pd.DataFrame, column: str, fitted: Sequence[str] | None) -> Factor:
    series = frame[column]
    if series.isna().any():
        raise ScalingLawError(
            f"factor column {column!r} has missing values in rows "
            f"{_rows(series.isna().to_numpy(), frame.index)}; fill them (e.g. with 'unknown')"
        )
    labels = factor_labels(series.to_numpy(), column).tolist()  # str, not NumPy's np.str_
    if fitted is None:
        levels = tuple(sorted(set(labels)))
        n_fitted = len(levels)
    else:
        new = sorted(set(labels) - set(fitted))
        levels = tuple(fitted) + tuple(new)
        n_fitted = len(fitted)
    lookup = {level: i for i, level in enumerate(levels)}
    codes = np.fromiter((lookup[v] for v in labels), dtype=np.int32, count=len(labels))
    return Factor(codes=codes, levels=levels, n_fitted=n_fitted)


def _count_free(spec, vary: Mapping[str, tuple[str, ...]], factors: Mapping[str, Factor]) -> int:
    n = len(spec.law.params) + 1  # law parameters and the noise scale
    if spec.pooling == "none":
        for fs in vary.values():
            n += len(factors[fs[0]].levels) - 1
    return n


def target_values(spec, frame: pd.DataFrame) -> np.ndarray:
    """The observed target of each row (``spec.target``), checked: numbers, finite, and
    positive when the likelihood is on the log scale (``spec.scale``).

    Scoring rows (held-out densities, coverage) needs their observed values; any spec
    with ``target`` and ``scale`` (a scaling-law or a loss-to-loss model) is read alike.

    >>> import scalinglaws as sl
    >>> spec = sl.ScalingModel("chinchilla", target="loss")
    >>> target_values(spec, pd.DataFrame({"loss": [2.5, 3.0]}))
    array([2.5, 3. ])
    """
    if spec.target not in frame.columns:
        raise ScalingLawError(
            f"data has no target column {spec.target!r}; scoring rows needs their observed "
            f"values")
    values = numeric_column(frame, spec.target, "target")
    if spec.scale == "log":
        check_positive(values, frame, spec.target, "target")
    return values


def decades_outside(fitted: Any, values: Any) -> np.ndarray:
    """How many decades each of ``values`` lies outside the range of ``fitted`` (0 inside;
    NaN in ``fitted`` ignored).

    >>> decades_outside([1e8, 1e10], [1e9, 1e12, 1e7]).tolist()
    [0.0, 2.0, 1.0]
    """
    fitted = np.asarray(fitted, dtype=np.float64)
    low, high = np.log10(np.nanmin(fitted)), np.log10(np.nanmax(fitted))
    logs = np.log10(np.asarray(values, dtype=np.float64))
    return np.maximum(0.0, np.maximum(logs - high, low - logs))


def as_frame(data: Any, what: str = "data") -> pd.DataFrame:
    """``data`` as a DataFrame: a frame as it is (not copied); a dict of columns as a new
    frame, where a scalar is one value repeated on every row (so ``{"N": 7e9, "D":
    [1e11, 2e11]}`` is two rows, and a dict of scalars is one row); a list of dicts as
    one row each. Anything else, no rows, or lists of different lengths is an error
    naming ``what``.

    >>> as_frame({"N": 1e9, "D": 2e10, "dataset": "web"}).shape
    (1, 3)
    >>> as_frame({"N": 7e9, "D": [1e11, 2e11]}).shape
    (2, 2)
    >>> as_frame([{"N": 7e9, "D": 1e11}, {"N": 7e9, "D": 2e11}]).shape
    (2, 2)
    """
    if isinstance(data, pd.DataFrame):
        if len(data) == 0:
            raise ScalingLawError(f"{what} has no rows")
        if isinstance(data.columns, pd.MultiIndex):
            raise ScalingLawError(
                f"{what} has columns of {data.columns.nlevels} levels (a MultiIndex); give "
                f"one level of column names, e.g. data.columns = ['_'.join(map(str, c)) "
                f"for c in data.columns]")
        return data
    if isinstance(data, Mapping):
        if not data:
            raise ScalingLawError(
                f"{what} is empty; give columns such as {{'N': 7e9, 'D': 1.4e11}}")
        items = {k: (list(v) if isinstance(v, (Sequence, np.ndarray, pd.Series, pd.Index))
                     and not isinstance(v, str) else [v]) for k, v in data.items()}
        lengths = {len(v) for v in items.values()}
        if 0 in lengths:
            raise ScalingLawError(f"{what} has an empty column; give at least one value")
        if len(lengths - {1}) > 1:
            raise ScalingLawError(
                f"{what} has columns of different lengths {sorted(lengths)}; give one value "
                f"(for every row) or lists of one common length")
        n = max(lengths)
        return pd.DataFrame({k: v * n if len(v) == 1 else v for k, v in items.items()})
    if (isinstance(data, (list, tuple)) and data
            and all(isinstance(row, Mapping) for row in data)):
        columns = list(dict.fromkeys(k for row in data for k in row))
        for i, row in enumerate(data):
            if missing := [k for k in columns if k not in row]:
                raise ScalingLawError(
                    f"{what}: row {i} (a dict of the list) has no {missing}; every dict "
                    f"gives the same columns {columns}")
        return pd.DataFrame.from_records(list(data))
    raise ScalingLawError(
        f"{what} must be a pandas DataFrame, a dict of columns (e.g. {{'N': 7e9, "
        f"'D': 1.4e11}}) or a list of such dicts, one row per run; got "
        f"{type(data).__name__}")


def duplicated_rows(spec, data: pd.DataFrame) -> None:
    """Warn when rows repeat in every column the model reads.

    Repeated rows count one measurement twice, so the posterior is as confident as if
    it had been measured twice (with two copies of every row the 90% interval narrows
    by about a third). They may also be honest repeats (seeds that reported the same
    rounded loss), so this is a :class:`~scalinglaws.errors.ScalingLawWarning`, not an
    error.
    """
    columns = [c for c in spec.columns if c in data.columns]
    repeated = data.duplicated(subset=columns, keep="first").to_numpy()
    if repeated.any():
        warnings.warn(
            f"data has {int(repeated.sum())} row(s) identical to an earlier row in every "
            f"column the model reads ({columns}): rows {_rows(repeated, data.index)}. Each "
            f"copy counts as a new measurement and narrows the intervals; drop them with "
            f"data.drop_duplicates(subset={columns}) unless they are true repeats",
            ScalingLawWarning, stacklevel=4)


def check_start(spec, design: Design, n_starts: int = 64) -> None:
    """Raise when a law written as an expression has no valid value where the sampler
    starts: a finite prediction (a positive one, with noise on the log scale) at every
    row for some of ``n_starts`` random parameter values.

    The sampler's starting points are uniform within +-2 on each parameter's
    unconstrained scale: about 0.14 to 7.4 for a positive parameter, 0.12 to 0.88 for a
    unit-interval one, -2 to 2 for a real one. When none of them is valid the sampler
    cannot start; this says so before anything is compiled. Laws from the registry are
    positive by construction and are not checked.

    >>> import scalinglaws as sl
    >>> spec = sl.ScalingModel("E + A*N**-alpha - 10", target="loss")
    >>> make_design(spec, sl.synthetic.sweep(seed=0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: law 'E + A*N**-alpha - 10' gives no positive ...
    """
    law = spec.law
    if law.expression is None:
        return
    rng = np.random.default_rng(0)
    params = {}
    for p in law.params:
        u = rng.uniform(-2.0, 2.0, size=(n_starts, 1))
        params[p.name] = {"positive": np.exp(u), "unit": 1 / (1 + np.exp(-u))}.get(
            p.constraint, u)
    variables = {v: x[None, :] for v, x in design.variables.items()}
    import jax

    jax.config.update("jax_enable_x64", True)  # as every model the package builds
    with np.errstate(all="ignore"):
        value = np.asarray(law.fn(variables, params), dtype=np.float64)
        value = np.broadcast_to(value, (n_starts, design.n_rows))
        ok = np.isfinite(value) & ((value > 0) if spec.scale == "log" else True)
    if ok.all(axis=1).any():
        return
    row = int(np.argmin(ok[0]))
    what = "positive" if spec.scale == "log" else "finite"
    why = " (noise is on the log scale, so the law must be positive)" if what == "positive" else ""
    raise ScalingLawError(
        f"law {law.name!r} gives no {what} prediction at every row for any of {n_starts} "
        f"parameter values where the sampler starts (0.14 to 7.4 for positive parameters, "
        f"-2 to 2 for real ones); e.g. at row {design.index[row]!r} it gives "
        f"{value[0, row]:.3g}{why}. Write the expression so that parameters of order 1 "
        f"give valid values (move constants into parameters), or check the data's units")


def make_design(spec, data: pd.DataFrame, *, fitted: Design | None = None) -> Design:
    """Validate ``data`` against ``spec`` and encode it.

    Parameters
    ----------
    spec : ScalingModel
        The model.
    data : pandas.DataFrame
        One row per observation (a run or a checkpoint).
    fitted : Design, optional
        The design the model was fitted on, given when encoding rows to predict: the
        target is then not needed, levels never seen in fitting are marked new, and the
        fitted reference values and varying parameters are kept.

    Examples
    --------
    >>> import pandas as pd, scalinglaws as sl
    >>> frame = sl.synthetic.sweep(seed=0)
    >>> design = make_design(sl.ScalingModel("chinchilla", target="loss"), frame)
    >>> design.n_rows, design.y.dtype
    (90, dtype('float64'))
    """
    predicting = fitted is not None
    levels = fitted.levels() if predicting else None
    log_reference = fitted.log_reference if predicting else None
    data = as_frame(data)
    if len(data) == 0:
        raise ScalingLawError("data has no rows; pass a DataFrame with one row per run")
    needed = [*spec.inputs.values(), *spec.factors]
    if not predicting:
        needed.append(spec.target)
        if spec.measurement_se:
            needed.append(spec.measurement_se)
        if spec.run:
            needed.append(spec.run)
    missing = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing:
        what = ", ".join(repr(c) for c in missing)
        in_index = [c for c in missing if c in data.index.names]
        hint = (f" {in_index[0]!r} is the frame's index: data.reset_index() makes it a "
                f"column." if in_index else "")
        factors = [c for c in missing if c in spec.factors]
        if predicting and factors and not in_index:
            hint = (f" To predict for a group never fitted, give it a new level, e.g. "
                    f"{factors[0]}='new': it is drawn from the population.")
        raise ScalingLawError(
            f"data has no column {what}; it has {list(data.columns)[:20]}.{hint} Rename the "
            f"column or map it in the model (inputs={{...}}, target=..., vary={{...}}, "
            f"run=...)"
        )

    variables = {}
    for var, column in spec.inputs.items():
        values = numeric_column(data, column, f"law variable {var}")
        check_positive(values, data, column, f"law variable {var}")
        variables[var] = values
    for message, bad in spec.law.problems(variables, fitting=not predicting):
        raise ScalingLawError(f"law {spec.law.name!r}: {message}; rows {_rows(bad, data.index)} "
                              f"(columns {dict(spec.inputs)})")

    y = None
    if not predicting:
        y = numeric_column(data, spec.target, "target")
        if spec.scale == "log":
            check_positive(y, data, spec.target, "target, modelled on the log scale")
    se = None
    if spec.measurement_se and (not predicting or spec.measurement_se in data.columns):
        se = numeric_column(data, spec.measurement_se, "measurement standard error")
        if (se <= 0).any():
            raise ScalingLawError(
                f"column {spec.measurement_se!r} (measurement_se) must be standard errors > 0; "
                f"rows {_rows(se <= 0, data.index)} are zero or negative (a zero claims an "
                f"exact measurement: a binomial sqrt(e (1 - e) / n) at e = 0 or 1, for "
                f"example; give such rows a positive error, e.g. from e = 0.5 / n, or drop "
                f"them)")

    factor_columns = list(spec.factors)
    if spec.run and (not predicting or spec.run in data.columns):
        factor_columns.append(spec.run)
    factors = {}
    for column in dict.fromkeys(factor_columns):
        known = None if levels is None else levels.get(column, ())
        factors[column] = _encode(data, column, known)

    vary = dict(spec.vary)
    if not predicting and spec.pooling != "complete":
        single = [c for c in spec.factors if len(factors[c].levels) < 2]
        if single:
            warnings.warn(
                f"factor(s) {single} have a single level in the data, so nothing can vary "
                f"by them; fitting those parameters as shared instead (pass more levels or "
                f"drop them from vary=)", ScalingLawWarning, stacklevel=3,
            )
            vary = {k: tuple(f for f in v if f not in single) for k, v in vary.items()}
            vary = {k: v for k, v in vary.items() if v}
    if spec.pooling == "complete":
        vary = {}
    if predicting:  # what the fit varied (a single-level factor was dropped there)
        vary = dict(fitted.vary)

    if log_reference is None:
        log_reference = {var: float(np.mean(np.log(v))) for var, v in variables.items()}
        for var, value in (spec.reference or {}).items():
            log_reference[var] = float(np.log(value))

    if not predicting:
        duplicated_rows(spec, data)
        by_run = sorted(p for p, f in vary.items() if spec.run in f)
        if by_run:
            warnings.warn(
                f"run={spec.run!r} is also a factor of vary ({by_run} vary by it): each "
                f"run then has its own {by_run} and a run offset, which its rows can barely "
                f"tell apart. The run offset is meant for checkpoints of one run; vary "
                f"by the runs' group (their dataset or family) instead, or drop run=",
                ScalingLawWarning, stacklevel=3)
        n_free = _count_free(spec, vary, factors)
        if len(data) < n_free:
            raise ScalingLawError(
                f"data has {len(data)} rows but the model has {n_free} free parameters; add "
                f"runs, share more parameters (vary=), or use a law with fewer parameters"
            )

    design = Design(variables=variables, y=y, factors=factors, vary=vary,
                    log_reference=dict(log_reference), index=data.index.copy(), se=se)
    if not predicting:
        check_start(spec, design)
    return design
