"""Fits side by side: named, checked to score the same quantity on the same rows, and
the data they share (what compare, validate and the report read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_fit_kind
from .errors import ScalingLawError
from .fit import Fit


def comparable_fits(fits: Any) -> dict[str, Any]:
    """``{name: Fit}`` from one Fit or a dict of them, each with a pointwise log likelihood."""
    if isinstance(fits, Fit):
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
        check_fit_kind(fit, ("scaling_law",), f"compare ({name!r})",
                       "compare ranks fits by PSIS-LOO over the rows of one target, which "
                       "only a scaling-law fit records; compare loss-to-loss fits by their "
                       "held-out predictions (fit.predict) instead.")
        if not isinstance(fit, Fit):
            hint = " (load it first with sl.load(path))" if isinstance(fit, str) else ""
            raise ScalingLawError(
                f"compare: {name!r} is a {type(fit).__name__}, not a scalinglaws Fit{hint}"
            )
        if "log_likelihood" not in fit.idata.groups() or "y" not in fit.idata.log_likelihood:
            raise ScalingLawError(
                f"fit {name!r} has no pointwise log likelihood of 'y' (idata.log_likelihood); "
                f"it was not made by ScalingModel.fit or lost that group: refit it"
            )
        out[name] = fit
    return out


def check_comparable(fits: Mapping[str, Any]) -> None:
    """Raise unless every fit scores the same target, on the same scale, for the same rows.

    Log predictive densities of different quantities (another target column, ``log y``
    against ``y``, other rows) are not comparable: their difference says nothing about
    which model is better.

    >>> check_comparable({"a": fit_a, "b": fit_b})  # doctest: +SKIP
    """
    fits = comparable_fits(fits)
    names = list(fits)
    first = fits[names[0]]
    for name in names[1:]:
        fit = fits[name]
        pair = f"fits {names[0]!r} and {name!r}"
        if fit.spec.target != first.spec.target:
            raise ScalingLawError(
                f"{pair} model different targets ({first.spec.target!r} vs "
                f"{fit.spec.target!r}): their log likelihoods are densities of different "
                f"quantities and cannot be compared. Fit both to the same target column."
            )
        if fit.spec.scale != first.spec.scale:
            raise ScalingLawError(
                f"{pair} put the noise on different scales (scale={first.spec.scale!r} vs "
                f"{fit.spec.scale!r}): a density of log y and a density of y differ by a "
                f"Jacobian, not by model quality. Refit with the same scale=."
            )
        if fit.design.n_rows != first.design.n_rows:
            raise ScalingLawError(
                f"{pair} were fitted to different data ({first.design.n_rows} vs "
                f"{fit.design.n_rows} rows): LOO sums over rows, so both must see the same "
                f"rows. Fit both to the same DataFrame."
            )
        labels_a = np.asarray([str(i) for i in first.design.index])
        labels_b = np.asarray([str(i) for i in fit.design.index])
        same_y = np.allclose(first.design.y, fit.design.y, rtol=1e-12, atol=0.0)
        if not same_y or not np.array_equal(labels_a, labels_b):
            if np.array_equal(labels_a, labels_b):
                bad = np.flatnonzero(~np.isclose(first.design.y, fit.design.y, rtol=1e-12,
                                                 atol=0.0))
                why = (f"the same rows with different target values (first difference at "
                       f"row {labels_a[bad[0]]!r}, position {int(bad[0])})")
            elif sorted(labels_a) == sorted(labels_b):
                why = "the same rows in a different order"
            else:
                bad = np.flatnonzero(labels_a != labels_b)
                why = (f"different rows (first difference at position {int(bad[0])}: "
                       f"{labels_a[bad[0]]!r} vs {labels_b[bad[0]]!r})")
            raise ScalingLawError(
                f"{pair} were fitted to {why}: pointwise LOO differences pair row i of one "
                f"fit with row i of the other. Fit both to the same DataFrame (same rows, "
                f"same order)."
            )


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
    out.index = pd.Index(first.design.index)
    return out
