"""Fits side by side: named, checked to score the same quantity on the same rows, and
the data they share (what compare, validate and the report read)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ScalingLawError
from .protocol import FitLike, Pointwise


def comparable_fits(fits: Any) -> dict[str, Any]:
    """``{name: fit}`` from one fit or a dict of them, each with a pointwise log likelihood.

    Any fit type (:class:`~scalinglaws.protocol.FitLike`) is accepted; one fit is named by its
    law.
    """
    if isinstance(fits, FitLike):
        fits = {fits.spec.law.name: fits}
    if not isinstance(fits, Mapping):
        raise ScalingLawError(
            f"compare takes a dict of named fits, e.g. {{'chinchilla': fit1, 'kaplan': fit2}}; "
            f"got {type(fits).__name__}"
        )
    if not fits:
        raise ScalingLawError("compare got no fits; pass {'name': fit, ...}")
    out = {}
    for name, fit in fits.items():
        if not isinstance(name, str) or not name:
            raise ScalingLawError(f"fit names must be non-empty strings, got {name!r}")
        if not isinstance(fit, FitLike):
            hint = " (load it first with sl.load(path))" if isinstance(fit, (str, Path)) else ""
            raise ScalingLawError(
                f"compare: {name!r} is a {type(fit).__name__}, not a scalinglaws fit{hint}"
            )
        try:
            fit.pointwise()
        except ScalingLawError as err:
            raise ScalingLawError(f"fit {name!r}: {err}") from None
        out[name] = fit
    return out


def check_comparable(fits: Mapping[str, Any]) -> None:
    """Raise unless every fit scores the same target, on the same scale, for the same rows.

    Log predictive densities of different quantities (another target column, ``log y``
    against ``y``, other rows, a scaling-law fit's rows against a loss-to-loss fit's
    input models) are not comparable: their difference says nothing about which model
    is better. What each fit scores is its :meth:`pointwise
    <scalinglaws.protocol.FitLike>` (:class:`~scalinglaws.protocol.Pointwise`).

    >>> check_comparable({"a": fit_a, "b": fit_b})  # doctest: +SKIP
    """
    fits = comparable_fits(fits)
    names = list(fits)
    first = fits[names[0]].pointwise()
    for name in names[1:]:
        this = fits[name].pointwise()
        pair = f"fits {names[0]!r} and {name!r}"
        kinds = fits[name].kind != fits[names[0]].kind
        if list(this.observed.columns) != list(first.observed.columns) or kinds:
            raise ScalingLawError(
                f"{pair} model different targets ({_scored(fits[names[0]], first, kinds)} "
                f"vs {_scored(fits[name], this, kinds)}): their log likelihoods are densities of "
                f"different quantities and cannot be compared. Fit both to the same target "
                f"column."
            )
        if this.scale != first.scale:
            raise ScalingLawError(
                f"{pair} put the noise on different scales (scale={first.scale!r} vs "
                f"{this.scale!r}): a density of log y and a density of y differ by a "
                f"Jacobian, not by model quality. Refit with the same scale=."
            )
        if len(this.observed) != len(first.observed):
            raise ScalingLawError(
                f"{pair} were fitted to different data ({len(first.observed)} vs "
                f"{len(this.observed)} rows): LOO sums over rows, so both must see the same "
                f"rows. Fit both to the same DataFrame."
            )
        labels_a = np.asarray([str(i) for i in first.observed.index])
        labels_b = np.asarray([str(i) for i in this.observed.index])
        values_a = first.observed.to_numpy(dtype=np.float64)
        values_b = this.observed.to_numpy(dtype=np.float64)
        close = np.isclose(values_a, values_b, rtol=1e-12, atol=0.0, equal_nan=True).all(axis=1)
        if not close.all() or not np.array_equal(labels_a, labels_b):
            if np.array_equal(labels_a, labels_b):
                bad = np.flatnonzero(~close)
                why = (f"the same rows with different target values (first difference at "
                       f"row {str(labels_a[bad[0]])!r}, position {int(bad[0])})")
            elif sorted(labels_a) == sorted(labels_b):
                why = "the same rows in a different order"
            else:
                bad = np.flatnonzero(labels_a != labels_b)
                why = (f"different rows (first difference at position {int(bad[0])}: "
                       f"{str(labels_a[bad[0]])!r} vs {str(labels_b[bad[0]])!r})")
            raise ScalingLawError(
                f"{pair} were fitted to {why}: pointwise LOO differences pair row i of one "
                f"fit with row i of the other. Fit both to the same DataFrame (same rows, "
                f"same order)."
            )
        if this.units != first.units:
            raise ScalingLawError(
                f"{pair} group the rows into different units of the log likelihood "
                f"({len(first.units)} vs {len(this.units)}; e.g. input models told apart by "
                f"another x_run): LOO pairs unit i of one fit with unit i of the other. Fit "
                f"both with the same grouping."
            )


def _scored(fit: Any, pointwise: Pointwise, kind: bool) -> str:
    """What a fit's log likelihood is a density of, in words (and of which kind of fit)."""
    columns = ", ".join(repr(c) for c in pointwise.observed.columns)
    return f"{columns} of a {fit.kind.replace('_', '-')} fit" if kind else columns


def combined_data(fits: Mapping[str, Any]) -> pd.DataFrame:
    """One frame with every column any of ``fits`` read (their rows must be the same).

    Used to refit models with different inputs (e.g. ``C`` and ``N, D``) on the same
    rows.

    >>> combined_data({"a": fit_a, "b": fit_b}).columns  # doctest: +SKIP
    """
    fits = comparable_fits(fits)
    frames = [fit.data() for fit in fits.values()]
    out = frames[0].copy()
    for frame in frames[1:]:
        if len(frame) != len(out):
            raise ScalingLawError(
                f"fits have different numbers of rows ({len(out)} vs {len(frame)}); pass the "
                f"data explicitly"
            )
        for column in frame.columns:
            if column not in out.columns:
                out[column] = frame[column].to_numpy()
    first = next(iter(fits.values()))
    out.index = pd.Index(first.pointwise().observed.index)
    return out
