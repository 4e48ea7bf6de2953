"""Predictions at the researcher's targets, per model and group, for the report.

A target is a row of law variables (``at=``: ``{"N": 7e9, "D": 1.4e11}``, optionally a
level of each factor) or a FLOP budget (``compute=``). Each model takes it as far as its
law allows: C = 6ND is derived from N and D (and either of N, D from C and the other);
a budget is split into N and D for a law of N and D, at the compute-optimal split
(:func:`scalinglaws.decide.compute_optimal`, posterior median N*, D = C / (6 N*)) or at
a stated ``tokens_per_param`` D/N. A target a model cannot take gives that model no row
and a note saying why, never an error. Without a level, a target is predicted for every
fitted level (and combination) of the factors the model varies by. A loss-to-loss fit
reads the variables of its compute law.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._checks import check_budgets, check_interval, did_you_mean, factor_labels
from .._warnings import filtered
from ..compare import stacked_predict
from ..data import decades_outside
from ..decide import compute_optimal
from ..display import Note
from ..errors import ScalingLawError
from ..plotting import plain_number

#: Law variables linked by C = 6 N D: any two give the third.
SCALES = ("N", "D", "C")
#: Columns of the predictions table after the inputs.
VALUES = ("median", "lower", "upper", "pred_lower", "pred_upper", "decades_beyond")
#: The ``model`` of the stacked rows of the predictions table.
STACKED = "(stacked)"


def target_rows(at: Any) -> list[dict[str, Any]]:
    """``at`` as a list of rows (dicts), empty entries dropped.

    ``at`` is a dict (one row, or columns of equal length), a DataFrame, or a list of
    dicts (the rows may name different keys).

    >>> target_rows({"N": 7e9, "D": 1.4e11})
    [{'N': 7000000000.0, 'D': 140000000000.0}]
    >>> target_rows([{"C": 1e23}, {"N": 1e9, "D": 2e10, "dataset": "web"}])[0]
    {'C': 1e+23}
    """
    if isinstance(at, pd.DataFrame):
        frame = at
    elif isinstance(at, Mapping):
        frame = pd.DataFrame({k: (list(v) if isinstance(v, (Sequence, np.ndarray, pd.Series))
                                  and not isinstance(v, str) else [v]) for k, v in at.items()})
    elif isinstance(at, Sequence) and not isinstance(at, str) and all(
            isinstance(row, Mapping) for row in at):
        frame = pd.DataFrame(list(at))
    else:
        raise ScalingLawError(
            f"at must be a dict such as {{'N': 7e9, 'D': 1.4e11}}, a list of them or a "
            f"DataFrame of target rows; got {type(at).__name__}")
    rows = [{k: v for k, v in row.items() if not (v is None or pd.isna(v))}
            for row in frame.to_dict("records")]
    if not rows or not all(rows):
        raise ScalingLawError("at has a row with no values; give each target's law "
                              "variables, e.g. {'N': 7e9, 'D': 1.4e11}")
    return rows


def _positive(value: Any) -> float | None:
    """``value`` as a positive finite float, or None when it is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _ratio(tokens_per_param: Any) -> float | None:
    if tokens_per_param is None:
        return None
    value = _positive(tokens_per_param)
    if value is None:
        raise ScalingLawError(f"tokens_per_param is D/N, a positive number (e.g. 20), got "
                              f"{tokens_per_param!r}")
    return value


def _derive(known: dict[str, float]) -> dict[str, float]:
    """Complete N, D and C from any two of them (C = 6 N D)."""
    out = dict(known)
    if "C" not in out and {"N", "D"} <= out.keys():
        out["C"] = 6 * out["N"] * out["D"]
    elif "D" not in out and {"N", "C"} <= out.keys():
        out["D"] = out["C"] / (6 * out["N"])
    elif "N" not in out and {"D", "C"} <= out.keys():
        out["N"] = out["C"] / (6 * out["D"])
    return out


def _check_keys(rows: list[dict[str, Any]], fits: Mapping[str, Any]) -> set[str]:
    """The factor names among the targets' keys; an unknown key is an error."""
    variables = set(SCALES)
    factors: set[str] = set()
    for fit in fits.values():
        variables |= set(fit.spec.law.variables) | set(fit.spec.inputs.values())
        factors |= set(fit.spec.factors)
    for i, row in enumerate(rows, 1):
        for key, value in row.items():
            if key in factors:
                continue
            if key not in variables:
                raise ScalingLawError(
                    f"target {i} names {key!r}{did_you_mean(key, variables | factors)}, which "
                    f"no model reads; give law variables {sorted(variables)} and levels of "
                    f"the factors {sorted(factors)}")
            if _positive(value) is None:
                raise ScalingLawError(f"target {i}: {key} must be a positive number, got "
                                      f"{value!r}")
    return factors


def _known(fit, row: Mapping[str, Any]) -> dict[str, float]:
    """The law variables a target row gives a model (by variable or column name)."""
    spec = fit.spec
    known = {k: float(row[k]) for k in (*SCALES, *spec.law.variables) if k in row}
    for var, column in spec.inputs.items():
        if column in row and var not in known:
            known[var] = float(row[column])
    return _derive(known)


def _fitted_levels(fit, factor: str) -> list[str]:
    """The levels of ``factor`` the fit was fitted on."""
    found = list(fit.levels().get(factor, ()))
    if not found:
        data = fit.data()
        found = sorted(map(str, data[factor].unique())) if factor in data else []
    return found


def _combinations(choices: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Every combination of one level per factor, in the order the factors are given."""
    combos: list[dict[str, str]] = [{}]
    for f, options in choices.items():
        combos = [{**c, f: o} for c in combos for o in options]
    return combos


def _groups(fit, levels: Mapping[str, str]) -> list[dict[str, str]]:
    """Every combination of the model's factor levels: the given one, else each fitted."""
    return _combinations({f: [levels[f]] if f in levels else _fitted_levels(fit, f)
                          for f in fit.spec.factors})


def _label(values: Mapping[str, float], keys: Sequence[str]) -> str:
    return ", ".join(f"{k}={plain_number(values[k])}" for k in keys)


def _decades_beyond(spec, fitted: pd.DataFrame, known: Mapping[str, float]) -> float:
    """How far ``known`` lies outside the fitted rows' law variables, in decades."""
    return float(max(decades_outside(pd.to_numeric(fitted[spec.inputs[var]], errors="coerce"),
                                     [known[var]])[0] for var in spec.law.variables))


def _compute_rows(name: str, fit, budgets: list[float], ratio: float | None, seed: int,
                  notes: list[Note]) -> list[tuple[str, dict, dict]]:
    """``(label, variables, levels)`` per budget and group for one model."""
    law = fit.spec.law
    needed = set(law.variables)
    out: list[tuple[str, dict, dict]] = []
    if not needed <= set(SCALES):
        notes.append(Note(
            f"{name}: no rows for compute= budgets: its law {law.name!r} takes "
            f"{list(law.variables)}, which a FLOP budget does not give.", "error"))
        return out
    if needed <= {"C"}:
        for c in budgets:
            for group in _groups(fit, {}):
                out.append((f"C={plain_number(c)}", {"C": c}, group))
        return out
    if ratio is not None:
        for c in budgets:
            n = math.sqrt(c / (6 * ratio))
            for group in _groups(fit, {}):
                out.append((f"C={plain_number(c)} (D/N={plain_number(ratio)})",
                            {"N": n, "D": ratio * n, "C": c}, group))
        return out
    if needed != {"N", "D"}:
        notes.append(Note(
            f"{name}: no rows for compute= budgets: the compute-optimal split needs a law "
            f"of N and D, and {law.name!r} takes {list(law.variables)}; give "
            f"tokens_per_param= (D/N) to split the budgets.", "error"))
        return out
    with filtered(("always", Warning), record=True) as caught:
        try:
            optimal = compute_optimal(fit, budgets, seed=seed)
        except ScalingLawError as err:
            notes.append(Note(f"{name}: no rows for compute= budgets: the compute-optimal "
                              f"split failed ({str(err).rstrip('.')}); give "
                              f"tokens_per_param= (D/N) to split the budgets at a stated "
                              f"ratio.", "error"))
            return out
    notes.extend(Note(f"{name}, compute-optimal split: {w.message}.", "warn")
                 for w in caught if issubclass(w.category, UserWarning))
    factors = list(fit.spec.factors)
    for row in optimal.to_dict("records"):
        c, n = float(row["compute"]), float(row["N_median"])
        group = {f: str(row[f]) for f in factors}
        out.append((f"C={plain_number(c)} (compute-optimal)",
                    {"N": n, "D": c / (6 * n), "C": c}, group))
    return out


def _at_rows(name: str, fit, rows: list[dict[str, Any]], factors: set[str],
             notes: list[Note]) -> list[tuple[str, dict, dict]]:
    law = fit.spec.law
    out: list[tuple[str, dict, dict]] = []
    ignored: set[str] = set()
    for i, row in enumerate(rows, 1):
        given = [k for k in row if k not in factors]
        label = ", ".join(f"{k}={plain_number(float(row[k]))}" for k in given)
        known = _known(fit, row)
        missing = [v for v in law.variables if v not in known]
        if missing:
            hint = ""
            if set(missing) <= {"N", "D"} and "C" in known:
                hint = (" A budget alone is split into N and D by compute= (the "
                        "compute-optimal split, or tokens_per_param=).")
            notes.append(Note(
                f"{name}: no row for target {i} ({label}): its law {law.name!r} takes "
                f"{list(law.variables)} and the target does not give {missing}.{hint}",
                "error"))
            continue
        levels = {}
        for f in factors & row.keys():
            if f in fit.spec.factors:
                levels[f] = str(factor_labels([row[f]], f)[0])
            else:
                ignored.add(f)
        shown = {v: known[v] for v in (*SCALES, *law.variables) if v in known}
        for group in _groups(fit, levels):
            out.append((label, shown, group))
    if ignored:
        notes.append(Note(
            f"{name} does not vary by {', '.join(sorted(ignored))}: its rows hold for every "
            f"level.", "info"))
    return out


def _stacked_rows(fits: Mapping[str, Any], rows: list[dict[str, Any]], factors: set[str],
                  weights: Mapping[str, float], interval: float, seed: int,
                  notes: list[Note]) -> pd.DataFrame | None:
    """The ``at`` targets predicted by the fits stacked by ``weights``
    (:func:`scalinglaws.compare.stacked_predict`), each target that gives every model its
    law's variables: at the levels it names, and for a factor it names no level of, at
    each level the models were fitted on."""
    needed = sorted({f for fit in fits.values() for f in fit.spec.factors})
    # comparable fits were fitted to the same rows: each factor's levels are the same in
    # every model that varies by it
    fitted = {f: _fitted_levels(next(fit for fit in fits.values() if f in fit.spec.factors), f)
              for f in needed}
    wanted, skipped = [], []
    for i, row in enumerate(rows, 1):
        knowns = {name: _known(fit, row) for name, fit in fits.items()}
        if any(v not in knowns[name] for name, fit in fits.items()
               for v in fit.spec.law.variables):
            skipped.append(i)
            continue
        choices = {f: [str(factor_labels([row[f]], f)[0])] if f in row else fitted[f]
                   for f in needed}
        target = ", ".join(f"{k}={plain_number(float(row[k]))}" for k in row if k not in factors)
        wanted += [{"target": target, "levels": levels, "knowns": knowns}
                   for levels in _combinations(choices)]
    if skipped:
        notes.append(Note(
            f"{STACKED}: no stacked row for target(s) {skipped}: a stacked prediction needs "
            f"every model's law variables.", "info"))
    if not wanted:
        return None
    inputs = pd.DataFrame([
        {fit.spec.inputs[v]: w["knowns"][name][v] for name, fit in fits.items()
         for v in fit.spec.law.variables} | w["levels"] for w in wanted])
    with filtered(("ignore", Warning)):
        pred = stacked_predict(fits, inputs, weights=weights, interval=interval, seed=seed)
    out = pd.DataFrame({"model": STACKED, "target": [w["target"] for w in wanted],
                        "group": [", ".join(f"{f}={lv}" for f, lv in w["levels"].items())
                                  or "all" for w in wanted]})
    for f in needed:
        out[f] = [w["levels"][f] for w in wanted]
    scales = [{v: x for known in w["knowns"].values() for v, x in known.items()
               if v in SCALES} for w in wanted]
    for v in SCALES:
        if any(v in row for row in scales):
            out[v] = [row.get(v, np.nan) for row in scales]
    if {"N", "D"} <= set(out.columns):
        out["tokens_per_param"] = out["D"] / out["N"]
    for column in VALUES[:-1]:
        out[column] = pred[column].to_numpy()
    fitted = {name: fit.data() for name, fit in fits.items()}
    out["decades_beyond"] = [max(_decades_beyond(fit.spec, fitted[name], w["knowns"][name])
                                 for name, fit in fits.items()) for w in wanted]
    out.attrs["weights"] = pred.attrs["weights"]  # normalised by stacked_predict
    return out


def predictions(fits: Mapping[str, Any], at: Any = None, compute: Any = None,
                tokens_per_param: float | None = None, interval: float = 0.9,
                seed: int = 0, weights: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Median, credible and predictive intervals of every model at the given targets.

    Parameters
    ----------
    fits : dict of str to fit
        The models, by name: any fit type (a loss-to-loss fit predicts its target ``y``
        from the inputs of its compute law, the latent input loss drawn from that law).
    at : dict, list of dict or DataFrame, optional
        Target rows: law variables (``N`` and ``D``, ``C``, or what the law takes; by
        variable or input-column name) and optionally a level of each factor. Without a
        level, every fitted level of the factors the model varies by gets a row.
    compute : float or list of float, optional
        FLOP budgets C = 6ND. A law of C takes them as they are; a law of N and D at the
        compute-optimal split (posterior median N* of
        :func:`scalinglaws.decide.compute_optimal` for that group, D = C / (6 N*)), or at
        ``tokens_per_param``. A loss-to-loss fit's compute-optimal split is that of its
        output loss of a run on the compute law (``fit.spec.target_law``).
    tokens_per_param : float, optional
        D/N of the split of every budget: N = sqrt(C / (6 r)), D = r N.
    interval : float
        Mass of the credible and predictive intervals.
    seed : int
        Seed of each fit's ``predict`` (new levels, noise).
    weights : dict, optional
        Stacking weights of the fits (comparable ones, :func:`scalinglaws.compare`'s
        ``weight``): the ``at`` targets are also predicted by the fits stacked by them
        (:func:`scalinglaws.compare.stacked_predict`), as rows of the model
        ``"(stacked)"``: at a target's levels, and for a factor it names no level of, at
        each level every model varying by that factor was fitted on.

    Returns
    -------
    DataFrame
        One row per model, target and group: ``model``, ``target`` (what was asked),
        ``group`` (the factor levels, ``"all"`` for a model without factors), the factor
        columns, ``N``, ``D``, ``C``, ``tokens_per_param`` (and any other law variable)
        where the law takes or derives them, then ``median``, ``lower``, ``upper``
        (credible interval of the law), ``pred_lower``, ``pred_upper`` (predictive
        interval of a new run), as the fit's ``predict`` gives them for the model's
        rows, and ``decades_beyond`` (how far the target lies
        outside the fitted range, in decades of its furthest variable; 0 inside).
        ``attrs["notes"]`` lists :class:`~scalinglaws.display.Note` s: targets a model
        cannot take (``"error"``), predictions far beyond the data or for unfitted
        levels (``"warn"``); ``attrs["interval"]`` the mass.

    Examples
    --------
    >>> table = predictions({"chinchilla": fit}, at={"N": 7e9, "D": 1.4e11},
    ...                     compute=[1e23])  # doctest: +SKIP
    >>> table[["model", "target", "group", "median", "pred_lower", "pred_upper"]]  # doctest: +SKIP
    """
    check_interval(interval)
    if at is None and compute is None:
        raise ScalingLawError("predictions need targets: give at= (law variables such as "
                              "{'N': 7e9, 'D': 1.4e11}) or compute= (FLOP budgets)")
    ratio = _ratio(tokens_per_param)
    if ratio is not None and compute is None:
        raise ScalingLawError("tokens_per_param splits compute= budgets into N and D; give "
                              "compute= as well (at= rows state N and D themselves)")
    rows = target_rows(at) if at is not None else []
    factors = _check_keys(rows, fits) if rows else set()
    budgets = check_budgets(compute).tolist() if compute is not None else []
    notes: list[Note] = []
    frames = []
    for name, fit in fits.items():
        wanted = _at_rows(name, fit, rows, factors, notes) if rows else []
        if budgets:
            wanted += _compute_rows(name, fit, budgets, ratio, seed, notes)
        if not wanted:
            continue
        frame = _predict(name, fit, wanted, interval, seed, notes)
        if frame is not None:
            frames.append(frame)
    stacked = None
    if weights is not None and rows and len(fits) > 1:
        stacked = _stacked_rows(fits, rows, factors, weights, interval, seed, notes)
        if stacked is not None:
            frames.append(stacked)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["model", "target", "group", *VALUES])
    first = ["model", "target", "group", *dict.fromkeys(f for fit in fits.values()
                                                        for f in fit.spec.factors)]
    inputs = [c for c in (*SCALES, "tokens_per_param") if c in table]
    rest = [c for c in table if c not in (*first, *inputs, *VALUES)]
    table = table[[c for c in first if c in table] + inputs + rest + list(VALUES)]
    table.attrs["notes"] = notes
    table.attrs["interval"] = interval
    if stacked is not None:
        table.attrs["weights"] = stacked.attrs["weights"]
    return table


def _predict(name: str, fit, wanted: list[tuple[str, dict, dict]], interval: float, seed: int,
             notes: list[Note]) -> pd.DataFrame | None:
    """One model's rows, predicted in one call of ``fit.predict``."""
    spec = fit.spec
    inputs = pd.DataFrame([{spec.inputs[v]: values[v] for v in spec.law.variables} | group
                           for _, values, group in wanted])
    with filtered(("always", Warning), record=True) as caught:
        try:
            pred = fit.predict(inputs, interval=interval, seed=seed)
        except ScalingLawError as err:
            notes.append(Note(f"{name}: no rows: the model cannot predict these targets "
                              f"({err}).", "error"))
            return None
    notes.extend(Note(f"{name}: {w.message}.", "warn") for w in caught
                 if issubclass(w.category, UserWarning))
    out = pd.DataFrame({
        "model": name,
        "target": [label for label, _, _ in wanted],
        "group": [", ".join(f"{f}={lv}" for f, lv in group.items()) or "all"
                  for _, _, group in wanted]})
    for f in spec.factors:
        out[f] = [group.get(f) for _, _, group in wanted]
    variables = list(dict.fromkeys([v for _, values, _ in wanted for v in values]))
    for v in (*SCALES, *variables):
        if v in out:
            continue
        if any(v in values for _, values, _ in wanted):
            out[v] = [values.get(v, np.nan) for _, values, _ in wanted]
        if v == "C" and {"N", "D"} <= set(out.columns):
            out["tokens_per_param"] = out["D"] / out["N"]
    for column in VALUES[:-1]:
        out[column] = pred[column].to_numpy()
    fitted = fit.data()
    out["decades_beyond"] = [_decades_beyond(spec, fitted, values) for _, values, _ in wanted]
    return out
