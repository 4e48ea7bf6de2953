"""What every decision starts from: the argument checks and the posterior draws.

The fit (or a :class:`~scalinglaws.compare.Stack` of fits, where a decision takes one) is
checked, the budgets, interval and tables read into arrays and frames, the
factor levels asked for expanded and the law's natural parameters drawn per group; one
place each, shared by the modules of :mod:`scalinglaws.decide`.
"""

from __future__ import annotations

import itertools
import reprlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._checks import factor_labels, is_finite_number
from .._precision import enable_x64
from ..compare import Stack
from ..errors import ScalingLawError, ScalingLawWarning
from ..fit import level_note
from ..protocol import FitLike

__all__ = [
    "check_complete",
    "check_fit",
    "check_numbers",
    "group_levels",
    "is_numeric",
    "law_draws",
    "members",
    "param_draws",
    "require_nd_law",
    "summarise",
    "target_of",
    "use_x64",
    "warn_unfitted_levels",
]


def use_x64() -> None:
    """float64 in JAX, as everywhere in the package (a loaded fit may not have set it)."""
    enable_x64()


def check_fit(fit: Any, name: str = "fit", stack: bool = False) -> None:
    """Raise unless ``fit`` is a scalinglaws fit of any kind (or, with ``stack``, a
    :class:`~scalinglaws.compare.Stack`), naming the argument."""
    if isinstance(fit, Stack):
        if stack:
            return
        raise ScalingLawError(
            f"{name} is a Stack (a model average): this decision searches one law's "
            f"parameters, which a stack of laws does not have. Call it with each of "
            f"stack.fits, or use compute_optimal, prob_target, prob_better or "
            f"epochs_worth_it, which take a stack")
    if not isinstance(fit, FitLike):
        raise ScalingLawError(
            f"{name} must be a scalinglaws fit (from ScalingModel.fit, LossToLossModel.fit "
            f"or sl.load){' or a sl.Stack of fits' if stack else ''}, got "
            f"{type(fit).__name__}"
        )


def check_numbers(values: Any, name: str, rows: pd.DataFrame, of: str,
                  example: str) -> np.ndarray:
    """``values`` (one number, or one per row of ``rows``, the caller's ``of``) as
    float64, each a finite real number (not text, a bool or too large for a float); a
    :class:`ScalingLawError` naming ``name`` otherwise.

    >>> at = pd.DataFrame({"N": [1e9, 2e9]})
    >>> check_numbers([2.1, 2.3], "target", at, "at", "2.3").tolist()
    [2.1, 2.3]
    >>> check_numbers("2.3", "target", at, "at", "2.3")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: target must be a finite number or one number per \
row of at (2 rows), e.g. 2.3; got '2.3'
    """
    n = len(rows)
    flat = values.tolist() if isinstance(values, (np.ndarray, pd.Series, pd.Index)) else values
    cells = list(flat) if isinstance(flat, (list, tuple)) else [flat]
    wrong = ScalingLawError(f"{name} must be a finite number or one number per row of {of} "
                            f"({n} rows), e.g. {example}; got {reprlib.repr(values)}")
    if not cells or not all(is_finite_number(v) for v in cells):
        raise wrong
    try:
        return np.broadcast_to(np.asarray(cells, dtype=np.float64).reshape(-1)
                               if len(cells) > 1 else float(cells[0]), (n,))
    except ValueError:
        raise wrong from None


def members(fit: Any) -> list[Any]:
    """The fits behind ``fit``: a stack's fits, or the fit itself."""
    return list(fit.fits.values()) if isinstance(fit, Stack) else [fit]


def target_of(fit: Any) -> str:
    """The column ``fit`` (a fit or a stack) predicts."""
    return fit.target if isinstance(fit, Stack) else fit.spec.target


def law_draws(fit: Any, frame: pd.DataFrame, seed: int) -> np.ndarray:
    """The noise-free target law per draw at the rows of ``frame``: (draws, rows).

    ``fit.spec.target_law`` at each row's inputs and parameters (a loss-to-loss fit's
    output of a run on its compute law, without the run-to-run deviation ``tau``); for a
    :class:`~scalinglaws.compare.Stack`, its fits' law draws mixed by their weights
    (each draw one whole draw of one fit).
    """
    if isinstance(fit, Stack):
        each = fit.each(lambda member: {"law": law_draws(member, frame, seed)})
        return fit.mix(each, ("law",), seed)["law"]
    use_x64()
    spec = fit.spec
    params = fit.predict_draws(frame, seed=seed)["params"]
    variables = {v: np.asarray(pd.to_numeric(frame[c]), dtype=np.float64)[None, :]
                 for v, c in spec.inputs.items()}
    return np.asarray(spec.target_law.fn(variables, params), dtype=np.float64)


def is_numeric(value: Any) -> bool:
    try:
        np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def require_nd_law(law: Any, what: str) -> None:
    if set(law.variables) != {"N", "D"}:
        raise ScalingLawError(
            f"{what} needs a law of model size N and tokens D (chinchilla, kaplan, overtraining "
            f"or an expression in N and D); law {law.name!r} takes {list(law.variables)}"
        )


def warn_unfitted_levels(fit: Any, factor: str, levels: Sequence[str], what: str) -> None:
    fitted = fit.levels().get(factor, ())
    new = [lv for lv in levels if lv not in fitted]
    # a fit whose data held one level of the factor dropped it from vary
    vary = getattr(getattr(fit, "design", None), "vary", None)
    note = level_note(fit.spec, vary, factor, new, fitted) if new else None
    if note is not None:
        warnings.warn(f"{what}: {note}", ScalingLawWarning, stacklevel=3)


def group_levels(fit: Any, group: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Every combination of factor levels asked for (default: all fitted levels)."""
    factors = list(fit.spec.factors)
    fitted = fit.levels()
    if group is None:
        group = {}
    if not isinstance(group, Mapping):
        raise ScalingLawError(
            f"group must be a dict of factor -> level, e.g. {{'dataset': 'rpj'}}, got {group!r}"
        )
    unknown = [k for k in group if k not in factors]
    if unknown:
        raise ScalingLawError(
            f"group names {unknown}, which the model does not vary by; its factors are "
            f"{factors}" + ("" if factors else " (none: leave group out)")
        )
    choices = []
    for f in factors:
        value = group.get(f)
        if value is None:
            levels = list(fitted.get(f, ()))
        elif isinstance(value, (list, tuple, np.ndarray, pd.Series)):
            levels = factor_labels(list(value), f).tolist()
            if not levels:
                raise ScalingLawError(f"group[{f!r}] is an empty list; give at least one level")
        else:
            levels = factor_labels([value], f).tolist()
        warn_unfitted_levels(fit, f, levels, "group")
        choices.append(levels)
    return [dict(zip(factors, combo, strict=True)) for combo in itertools.product(*choices)]


def param_draws(fit: Any, groups: list[dict[str, str]], seed: int) -> dict[str, np.ndarray]:
    """The target law's parameters per draw for each group: ``{name: (draws, groups)}``
    (the keys of ``fit.spec.target_law.param_names``)."""
    columns = list(fit.spec.inputs.values())
    first = fit.data()[columns].iloc[0].to_dict()   # any valid inputs: parameters are per group
    rows = pd.DataFrame([{**first, **g} for g in groups])
    return fit.predict_draws(rows, seed=seed)["params"]


def summarise(draws: np.ndarray, lo: float, hi: float) -> dict[str, np.ndarray]:
    return {"median": np.median(draws, axis=0), "lower": np.quantile(draws, lo, axis=0),
            "upper": np.quantile(draws, hi, axis=0)}


def check_complete(fit: Any, frame: pd.DataFrame, what: str) -> None:
    """Raise unless ``frame`` gives every input and factor that ``fit`` (each fit of a
    stack) reads, with values a prediction takes (as :meth:`scalinglaws.Fit.predict`
    checks them, naming ``what`` and the rows of ``frame``); warn what a prediction of
    those rows would (:meth:`scalinglaws.Fit.prediction_notes`: levels the fit never
    saw, inputs far beyond the data)."""
    inputs = list(dict.fromkeys(c for m in members(fit) for c in m.spec.inputs.values()))
    factors = list(dict.fromkeys(f for m in members(fit) for f in m.spec.factors))
    missing = [c for c in [*inputs, *factors] if c not in frame.columns]
    if missing:
        raise ScalingLawError(
            f"{what} does not say {missing}: give the inputs {inputs} in at= and a level of "
            f"each factor {factors} in at= or in the configurations"
        )
    notes: dict[str, None] = {}
    for member in members(fit):
        try:
            notes.update(dict.fromkeys(member.prediction_notes(frame)))
        except ScalingLawError as err:
            raise ScalingLawError(f"{what}: {err}") from None
    for note in notes:  # a stack's fits read the same rows: each note once
        warnings.warn(f"{what}: {note}", ScalingLawWarning, stacklevel=3)

