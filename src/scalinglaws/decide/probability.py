"""Probabilities of outcomes: that one configuration (a dataset, a tokenizer, a second
fit) reaches lower loss than another at a given scale (:func:`prob_better`, with an
optional region of practical equivalence), and that a run reaches a target
(:func:`prob_target`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._checks import (
    check_flag,
    check_interval,
    check_unwritten,
    factor_labels,
    is_finite_number,
)
from ..data import as_frame
from ..errors import ScalingLawError
from .common import check_complete, check_fit, check_numbers, members, target_of

__all__ = ["BETTER_COLUMNS", "TARGET_COLUMNS", "prob_better", "prob_target"]

#: The columns :func:`prob_better` adds to ``at``.
BETTER_COLUMNS = ("median_a", "median_b", "diff_median", "diff_lower", "diff_upper",
                  "p_a_better", "p_equivalent", "p_b_better")
#: The columns :func:`prob_target` adds to ``at``.
TARGET_COLUMNS = ("target", "median", "lower", "upper", "p_reach")


def _model_columns(fit: Any) -> set[str]:
    return {c for m in members(fit) for c in m.spec.columns} - {target_of(fit)}


def _check_config(fit: Any, config: Mapping[str, Any], what: str) -> dict:
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ScalingLawError(
            f"{what} must be a dict of columns, e.g. {{'dataset': 'rpj'}}, got {config!r}"
        )
    unknown = [k for k in config if k not in _model_columns(fit)]
    if unknown:
        raise ScalingLawError(
            f"{what} names {unknown}, which the model does not read; it reads "
            f"{sorted(_model_columns(fit))}"
        )
    return dict(config)


def _same(fit: Any, frame_a: pd.DataFrame, frame_b: pd.DataFrame, keys: Any) -> bool:
    """Whether two configurations (``at`` with ``a``, and with ``b``) agree in every
    column ``keys`` that ``a`` or ``b`` sets; factor levels compared as fits read them."""
    factors = {f for m in members(fit) for f in (*m.spec.factors, getattr(m.spec, "run", None))}
    for column in keys:
        if column not in frame_a.columns or column not in frame_b.columns:
            return False
        x, y = frame_a[column].tolist(), frame_b[column].tolist()
        if column in factors:
            x, y = factor_labels(x, column).tolist(), factor_labels(y, column).tolist()
        if x != y:
            return False
    return True


def _draws_of(fit: Any, frame: pd.DataFrame, predictive: bool, seed: int) -> np.ndarray:
    out = fit.predict_draws(frame, seed=seed)
    return out["observed"] if predictive else out["law"]


def prob_better(fit: Any, a: Mapping[str, Any] | None = None,
                b: Mapping[str, Any] | None = None, *, at: Any, rope: float = 0.0,
                fit_b: Any = None, predictive: bool = False, higher_is_better: bool = False,
                interval: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """P(configuration ``a`` reaches lower loss than ``b``) at the scales in ``at``.

    Within one fit the comparison is paired: both configurations are predicted from the
    same posterior draws, so what they share cancels. With ``fit_b`` (a second fit of
    the same target, e.g. another law or another dataset's fit), ``a`` is predicted from
    ``fit`` and ``b`` from ``fit_b``, and their independent draws are paired at random.

    Parameters
    ----------
    fit : Fit, LossToLossFit or Stack
        The fitted model (of ``a``, and of ``b`` unless ``fit_b`` is given). A
        loss-to-loss fit predicts its output loss; ``at`` may give the observed input
        loss ``x``, which the latent input loss is conditioned on. A
        :class:`~scalinglaws.compare.Stack` decides under the uncertainty of which of
        its models is right too: each draw comes from one model, by its weight.
    a, b : dict, optional
        Columns that make each configuration, e.g. ``{"dataset": "rpj"}`` (levels of any
        factor; a level never fitted is drawn from the population). They override ``at``.
    at : dict or DataFrame
        The scale(s): the inputs, e.g. ``{"N": 7e9, "D": 1.4e11}``, and any factor levels
        both share; lists give several scales.
    rope : float
        Half-width of the region of practical equivalence, in target units: differences
        within ±rope count as equivalent.
    fit_b : Fit, LossToLossFit or Stack, optional
        A second fit of the same target for ``b``.
    predictive : bool
        Compare single runs' observed losses (with noise) instead of the noise-free law.
    higher_is_better : bool
        For targets such as accuracy.
    interval : float
        Mass of the interval of the difference.
    seed : int
        Seed for new levels, noise and the pairing of two fits' draws.

    Returns
    -------
    DataFrame
        The ``at`` columns, then ``median_a``, ``median_b``, ``diff_median``,
        ``diff_lower``, ``diff_upper`` (of a − b), ``p_a_better``, ``p_equivalent``,
        ``p_b_better`` (summing to 1).

    Examples
    --------
    >>> prob_better(fit, {"dataset": "rpj"}, {"dataset": "c4_original"},
    ...             at={"N": 7e9, "D": 1.4e11}, rope=0.01)  # doctest: +SKIP
    """
    check_fit(fit, stack=True)
    other = fit if fit_b is None else fit_b
    if fit_b is not None:
        check_fit(fit_b, "fit_b", stack=True)
        if target_of(fit_b) != target_of(fit):
            raise ScalingLawError(
                f"fit predicts {target_of(fit)!r} but fit_b predicts {target_of(fit_b)!r}; "
                f"compare fits of the same target"
            )
    if not is_finite_number(rope) or rope < 0:
        raise ScalingLawError(f"rope must be a number >= 0 (in target units), got {rope!r}")
    predictive = check_flag(predictive, "predictive")
    higher_is_better = check_flag(higher_is_better, "higher_is_better")
    lo, hi = check_interval(interval)
    a_cfg = _check_config(fit, a, "a")
    b_cfg = _check_config(other, b, "b")
    scales = as_frame(at, "at")
    check_unwritten(scales.columns, BETTER_COLUMNS, "at", "prob_better")
    frame_a = scales.assign(**a_cfg)
    frame_b = scales.assign(**b_cfg)
    if fit_b is None and _same(fit, frame_a, frame_b, {*a_cfg, *b_cfg}):
        raise ScalingLawError(
            f"a and b are the same configuration {a_cfg or b_cfg} once at= is applied; "
            f"give two different ones (e.g. {{'dataset': 'x'}} and {{'dataset': 'y'}}) or "
            f"a second fit with fit_b="
        )
    check_complete(fit, frame_a, "a with at")
    check_complete(other, frame_b, "b with at")
    n = len(scales)
    if fit_b is None:
        both = _draws_of(fit, pd.concat([frame_a, frame_b], ignore_index=True), predictive,
                         seed)
        draws_a, draws_b = both[:, :n], both[:, n:]
    else:
        draws_a = _draws_of(fit, frame_a, predictive, seed)
        draws_b = _draws_of(fit_b, frame_b, predictive, seed + 1)
        m = min(len(draws_a), len(draws_b))
        rng = np.random.default_rng(seed)
        draws_a = draws_a[rng.permutation(len(draws_a))[:m]]
        draws_b = draws_b[rng.permutation(len(draws_b))[:m]]
    diff = draws_a - draws_b
    better = -diff if not higher_is_better else diff   # > 0 where a is better
    out = scales.copy()
    out["median_a"] = np.median(draws_a, axis=0)
    out["median_b"] = np.median(draws_b, axis=0)
    out["diff_median"] = np.median(diff, axis=0)
    out["diff_lower"] = np.quantile(diff, lo, axis=0)
    out["diff_upper"] = np.quantile(diff, hi, axis=0)
    n_a, n_b = (better > rope).sum(axis=0), (better < -rope).sum(axis=0)
    out["p_a_better"] = n_a / len(diff)
    out["p_b_better"] = n_b / len(diff)
    out["p_equivalent"] = (len(diff) - n_a - n_b) / len(diff)
    out = out[[*scales.columns, "median_a", "median_b", "diff_median", "diff_lower",
               "diff_upper", "p_a_better", "p_equivalent", "p_b_better"]]
    out.attrs.update({"a": a_cfg, "b": b_cfg, "rope": rope, "interval": interval,
                      "predictive": predictive})
    return out


def prob_target(fit: Any, target: float | Sequence[float], at: Any, *,
                predictive: bool = True, higher_is_better: bool = False,
                interval: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """P(a run at ``at`` reaches ``target``): loss at or below it (or error, accuracy).

    Parameters
    ----------
    fit : Fit, LossToLossFit or Stack
        The fitted model; its target may be a loss or a downstream error (a
        loss-to-loss fit's output). A :class:`~scalinglaws.compare.Stack` averages
        its models by their weights.
    target : float or list of float
        The value to reach, one for all rows or one per row of ``at``.
    at : dict or DataFrame
        The runs: the inputs and a level of each factor, e.g.
        ``{"N": 7e9, "D": 1.4e11, "dataset": "rpj"}``; lists give several rows.
    predictive : bool
        True (default): a single run's observed value, with observation noise (and, for
        models with a run factor, a new run's offset). False: the noise-free law.
    higher_is_better : bool
        Reach means "at or above" (e.g. accuracy).
    interval : float
        Mass of the reported interval.
    seed : int
        Seed for new levels and noise.

    Returns
    -------
    DataFrame
        The ``at`` columns plus ``target``, ``median``, ``lower``, ``upper`` and
        ``p_reach``.

    Examples
    --------
    >>> prob_target(fit, target=2.3, at={"N": 7e9, "D": 1.4e11, "dataset": "rpj"})  # doctest: +SKIP
    """
    check_fit(fit, stack=True)
    predictive = check_flag(predictive, "predictive")
    higher_is_better = check_flag(higher_is_better, "higher_is_better")
    lo, hi = check_interval(interval)
    rows = as_frame(at, "at")
    check_unwritten(rows.columns, TARGET_COLUMNS, "at", "prob_target")
    goal = check_numbers(target, "target", rows, "at", "target=2.3")
    check_complete(fit, rows, "at")
    draws = _draws_of(fit, rows, predictive, seed)
    reach = draws >= goal if higher_is_better else draws <= goal
    out = rows.copy()
    out["target"] = goal
    out["median"] = np.median(draws, axis=0)
    out["lower"] = np.quantile(draws, lo, axis=0)
    out["upper"] = np.quantile(draws, hi, axis=0)
    out["p_reach"] = reach.mean(axis=0)
    out.attrs.update({"interval": interval, "predictive": predictive})
    return out

