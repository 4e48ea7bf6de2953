"""Repeated data: with a data-constrained law, the loss of a run whose tokens repeat k
epochs of fewer unique tokens against the same run on fresh data, per draw: how many
epochs a budget can afford at a given loss penalty (:func:`epochs_worth_it`).
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._checks import (
    check_fraction,
    check_interval,
    check_positive_numbers,
    is_finite_number,
    require_columns,
)
from ..data import as_frame
from ..errors import ScalingLawError
from .common import check_complete, check_fit, law_draws, members, summarise

__all__ = ["epochs_worth_it"]


def epochs_worth_it(fit: Any, at: Mapping[str, Any],
                    epochs: Sequence[float] = (1, 2, 4, 8, 16, 32, 64),
                    tolerance: float = 0.01, confidence: float = 0.9, interval: float = 0.9,
                    unique_params: Callable[[np.ndarray], np.ndarray] | None = None,
                    seed: int = 0) -> pd.DataFrame:
    """How many epochs of repeated data a run can afford: loss with k epochs vs fresh data.

    For one run (``at``: its model size, total tokens D and any factor levels), each k in
    ``epochs`` trains on U_D = D/k unique tokens repeated k times. Per posterior draw the
    law's loss is compared with k = 1 (D fresh tokens): the penalty is
    ``loss_k / loss_1 - 1``.

    Parameters
    ----------
    fit : Fit, LossToLossFit or Stack
        A fit of a law with variables ``D`` and ``U_D`` (``data_constrained``; for a
        loss-to-loss fit, its compute law, and the loss compared is the output loss).
        A :class:`~scalinglaws.compare.Stack` with at least one such fit averages the
        models by their weights: a law that reads only total tokens (``chinchilla``)
        counts repeated tokens as fresh ones, a penalty of 0 in each of its draws.
    at : dict
        One value per model column except the unique-token column (which is set to
        D/k), e.g. ``{"N": 1e9, "D": 1e11, "U_N": 1e9}``.
    epochs : sequence of float
        Epochs k >= 1 to compare; 1 (fresh data) is added when absent.
    tolerance : float
        Relative loss penalty that is acceptable (0.01: 1%).
    confidence : float
        Probability with which the penalty must stay within ``tolerance``.
    interval : float
        Mass of the equal-tailed intervals.
    unique_params : callable, optional
        U_D -> U_N, when the unique-parameter column depends on the unique tokens (as in
        Muennighoff et al., U_N = min(N, N_opt(U_D))); default: ``at``'s value for all k.
    seed : int
        Seed for new levels' offsets.

    Returns
    -------
    DataFrame
        One row per k: ``epochs``, ``unique_tokens``, ``loss_median/_lower/_upper``,
        ``penalty_%_median/_lower/_upper`` and ``prob_within`` (P(penalty <= tolerance)).
        ``attrs["worth_it"]`` is the largest k whose ``prob_within >= confidence``.

    Examples
    --------
    >>> table = epochs_worth_it(fit, {"N": 1e9, "D": 1e11, "U_N": 1e9})  # doctest: +SKIP
    >>> table.attrs["worth_it"]  # doctest: +SKIP
    4.0
    """
    check_fit(fit, stack=True)
    lo, hi = check_interval(interval)
    inputs = _token_columns(fit)
    try:
        cells = np.asarray(epochs, dtype=object).ravel().tolist()
    except (TypeError, ValueError):
        cells = [None]
    if not all(is_finite_number(v) for v in cells):
        ks = np.array([np.nan])
    else:
        ks = np.unique(np.concatenate([[1.0], np.asarray(cells, dtype=float)]))
    if not np.all(np.isfinite(ks)) or ks.min() < 1:
        raise ScalingLawError(f"epochs must be finite numbers >= 1 (fewer than one epoch "
                              f"means more unique tokens than tokens); got {epochs!r}")
    check_fraction(tolerance, "tolerance", "0.01 for 1%")
    check_fraction(confidence, "confidence")
    if unique_params is not None and not callable(unique_params):
        raise ScalingLawError(f"unique_params must be a function of the unique tokens "
                              f"(U_D -> U_N), got {unique_params!r}"[:300])
    row = as_frame(at, "at")
    require_columns(row, [inputs["D"]], "at", "Give the run's total tokens.")
    if len(row) != 1 or inputs["U_D"] in row.columns:
        raise ScalingLawError(f"at must describe one run without the unique-token column "
                              f"{inputs['U_D']!r} (it is set to D/k); got columns "
                              f"{list(row.columns)} and {len(row)} rows")
    if not is_finite_number(row[inputs["D"]].iloc[0]):
        raise ScalingLawError(f"at[{inputs['D']!r}] must be a positive number of tokens (e.g. "
                              f"5.5e10), got {reprlib.repr(row[inputs['D']].iloc[0])}")
    total = check_positive_numbers(row[inputs["D"]].tolist(), f"at[{inputs['D']!r}]",
                                   "5.5e10 tokens")
    # the run itself, on fresh data: its inputs and levels checked as at's one row
    check_complete(fit, row.assign(**{inputs["U_D"]: total}), "at")
    frame = row.loc[row.index.repeat(len(ks))].reset_index(drop=True)
    unique = total / ks
    frame[inputs["U_D"]] = unique
    if unique_params is not None and "U_N" in inputs:
        given = np.asarray(unique_params(unique), dtype=float)
        if given.shape != unique.shape:
            raise ScalingLawError(f"unique_params must return one U_N per value of U_D "
                                  f"({unique.shape}), got shape {given.shape}")
        frame[inputs["U_N"]] = given
    try:
        law = law_draws(fit, frame, seed)
    except ScalingLawError as err:  # only the U_N of unique_params is new here
        raise ScalingLawError(f"at with the U_N that unique_params gives for epochs "
                              f"{ks.tolist()}: {err}") from None
    penalty = 100.0 * (law / law[:, :1] - 1.0)
    table = pd.DataFrame({"epochs": ks, "unique_tokens": unique})
    for name, draws in (("loss", law), ("penalty_%", penalty)):
        for stat, values in summarise(draws, lo, hi).items():
            table[f"{name}_{stat}"] = values
    table["prob_within"] = (penalty <= 100.0 * tolerance).mean(axis=0)
    ok = table.loc[table["prob_within"] >= confidence, "epochs"]
    table.attrs.update(interval=interval, tolerance=tolerance, confidence=confidence,
                       worth_it=float(ok.max()) if len(ok) else float("nan"))
    return table


def _token_columns(fit: Any) -> dict[str, str]:
    """The columns of the law variables ``D``, ``U_D`` (and ``U_N``) that ``fit`` reads;
    a stack's fits must read each from the same column, and one of them ``U_D``."""
    specs = [member.spec for member in members(fit)]
    if not any({"D", "U_D"} <= set(s.inputs) for s in specs):
        laws = ", ".join(f"{s.target_law.name!r} has {list(s.inputs)}" for s in specs)
        raise ScalingLawError(f"epochs_worth_it needs a law with variables D and U_D (the "
                              f"data_constrained law); {laws}")
    columns = {v: sorted({s.inputs[v] for s in specs if v in s.inputs})
               for v in ("D", "U_D", "U_N")}
    split = {v: cols for v, cols in columns.items() if len(cols) > 1}
    if split:
        raise ScalingLawError(f"the stack's fits read the law variables from different "
                              f"columns {split}; stack fits of the same runs' columns")
    return {v: cols[0] for v, cols in columns.items() if cols}

