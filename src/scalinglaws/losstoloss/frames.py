"""Reading the user's frames and arguments: the checks and column helpers that the
loss-to-loss modules share (levels, match keys, loss columns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import check_names
from ..data import check_positive, numeric_column
from ..errors import ScalingLawError


def level_list(value: str | Sequence[str] | None, available: Sequence[str], role: str,
               column: str) -> list[str]:
    if value is None:
        return list(available)
    values = check_names(value, role, "'web'", noun=f"level of {column!r}")
    if not values:
        raise ScalingLawError(f"{role} must name at least one level of {column!r}, got "
                              f"{value!r}")
    unknown = [v for v in values if v not in available]
    if unknown:
        raise ScalingLawError(f"{role} names {unknown}, which are not levels of column "
                              f"{column!r}; its levels are {list(available)}")
    return list(dict.fromkeys(values))


def match_key(frame: pd.DataFrame, on: Sequence[str]) -> pd.Series:
    """Row keys for matching on ``on``: numbers rounded to 7 significant digits."""
    parts = []
    for col in on:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts.append(values.map(lambda v: f"{v:.7g}"))
        else:
            parts.append(values.astype(str))
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    return key


def loss_column(frame: pd.DataFrame, column: str, role: str, positive: bool) -> np.ndarray:
    """A loss column as float64, missing values (NaN) kept: the checks of a core fit's
    columns (:func:`scalinglaws.data.numeric_column`, and
    :func:`scalinglaws.data.check_positive` where ``positive``)."""
    values = numeric_column(frame, column, role, missing_ok=True)
    if positive:
        check_positive(values, frame, column, f"{role}, modelled on the log scale")
    return values
