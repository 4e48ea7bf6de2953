"""Which run to train next: candidate runs ranked by the expected reduction of uncertainty
at a target scale per unit of compute, by simulating each candidate's outcome from the
posterior and re-weighting the draws (:func:`next_run`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .._checks import (
    check_choice,
    check_count,
    check_flag,
    check_interval,
    check_unwritten,
    factor_labels,
)
from ..data import Design, as_frame, make_design
from ..errors import ScalingLawError, ScalingLawWarning
from ..model import transform_target, untransform, with_measurement_error
from .common import check_complete, check_fit, use_x64
from .reweight import logpdf, noise_scale, weighted_spread

__all__ = ["ESS_WARN", "next_run"]

#: Mean effective sample size below which :func:`next_run` warns.
ESS_WARN = 30.0
_MEASURES = ("width", "variance")
#: The columns :func:`next_run` adds to the candidates.
WRITTEN = ("cost", "uncertainty_now", "uncertainty_after", "reduction", "reduction_se",
           "reduction_frac", "score", "ess_mean", "ess_min", "rank")


def _check_unwritten(candidates: pd.DataFrame, cost: Any) -> None:
    """Refuse candidates holding a column next_run writes (``cost`` is theirs when
    ``cost="cost"``)."""
    own_cost = isinstance(cost, str) and cost == "cost"
    if "cost" in candidates.columns and cost is None:
        raise ScalingLawError(
            "candidates already has a column 'cost', which next_run writes (by default "
            "the compute 6ND); to rank by your column pass cost='cost', or rename or drop "
            "it first")
    check_unwritten(candidates.columns, [c for c in WRITTEN if not (own_cost and c == "cost")],
                    "candidates", "next_run")


def _by_label(values: pd.Series, candidates: pd.DataFrame) -> np.ndarray:
    """A cost Series read by the candidates' index labels."""
    labels = candidates.index
    missing = [v for v in labels if v not in values.index]
    extra = [v for v in values.index if v not in labels]
    if missing or extra:
        raise ScalingLawError(
            f"cost is a Series read by the candidates' index labels, but it lacks labels "
            f"{missing[:10]} and has labels {extra[:10]} that candidates do not; index it "
            f"as candidates (e.g. a column of candidates) or pass an array, read by "
            f"position"[:400])
    if values.index.equals(labels):
        return values.to_numpy()
    if not (labels.is_unique and values.index.is_unique):
        raise ScalingLawError(
            "cost is a Series and candidates or cost repeat index labels, so its values "
            "cannot be matched to the candidates; give candidates a unique index "
            "(candidates.reset_index(drop=True)) or pass an array, read by position")
    return values.reindex(labels).to_numpy()


def _costs(fit: Any, candidates: pd.DataFrame, cost: Any) -> np.ndarray:
    spec = fit.spec
    if cost is None:
        if set(spec.inputs) != {"N", "D"}:
            raise ScalingLawError(
                f"the default cost is the compute 6ND, but law {spec.target_law.name!r} takes "
                f"{list(spec.inputs)}; pass cost= (a column name, an array or a "
                f"function of the candidates frame)"
            )
        values = 6.0 * candidates[spec.inputs["N"]].to_numpy(float) \
            * candidates[spec.inputs["D"]].to_numpy(float)
    elif isinstance(cost, str):
        if cost not in candidates.columns:
            raise ScalingLawError(f"cost names column {cost!r}, which candidates lacks; it has "
                                  f"{list(candidates.columns)}")
        values = candidates[cost].to_numpy()
    elif callable(cost):
        values = cost(candidates)
    else:
        values = cost
    if isinstance(values, pd.Series):
        values = _by_label(values, candidates)
    try:
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), (len(candidates),))
    except (TypeError, ValueError):
        raise ScalingLawError(
            f"cost must give one positive number per candidate ({len(candidates)}); got "
            f"{cost!r}"
        ) from None
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ScalingLawError(f"cost must be positive and finite; candidates "
                              f"{np.flatnonzero(bad).tolist()} have {values[bad].tolist()}")
    return np.array(values)


def _joint(fit: Any, goal: pd.DataFrame, cands: pd.DataFrame) -> pd.DataFrame:
    """The target rows, then the candidates, in the model's columns a prediction reads.

    The measurement error is left out (it is the candidates' own, :func:`_measured`); a
    run column only one side gives makes each row of the other side a new run, as
    leaving it out does; any other column only one side gives is an error.
    """
    spec = fit.spec
    run = getattr(spec, "run", None)
    skip = {spec.target, getattr(spec, "measurement_se", None)}
    columns = [c for c in spec.columns if c not in skip
               and (c in goal.columns or c in cands.columns)]
    sides = {"target": goal, "candidates": cands}
    parts = {name: frame[[c for c in columns if c in frame.columns]].reset_index(drop=True)
             for name, frame in sides.items()}
    for column in columns:
        lacking = [name for name, frame in sides.items() if column not in frame.columns]
        if not lacking:
            continue
        [name] = lacking
        if column != run:
            giver = "candidates" if name == "target" else "target"
            raise ScalingLawError(
                f"{giver} gives column {column!r} but {name} does not; give it in both or "
                f"in neither")
        parts[name][column] = [f"<new run: {name} row {i}>" for i in range(len(parts[name]))]
    return pd.concat([parts["target"], parts["candidates"]], ignore_index=True)


def _fitted_runs(fit: Any, cands: pd.DataFrame) -> np.ndarray:
    """Which candidates continue a run the fit has (their ``run`` level a fitted one)."""
    run = getattr(fit.spec, "run", None)
    if not run or run not in cands.columns:
        return np.zeros(len(cands), dtype=bool)
    fitted = set(fit.levels().get(run, ()))
    return np.isin(factor_labels(cands[run], run), list(fitted))


def _measured(fit: Any, cands: pd.DataFrame) -> Design | None:
    """The candidates' design when they give the model's measurement error column."""
    column = getattr(fit.spec, "measurement_se", None)
    design = getattr(fit, "design", None)
    if not column or column not in cands.columns or not isinstance(design, Design):
        return None
    return make_design(fit.spec, cands, fitted=fit.design)


def next_run(fit: Any, candidates: Any, target: Any, *, cost: Any = None,
             measure: str = "width", interval: float = 0.9, n_sim: int = 256,
             predictive: bool = False, seed: int = 0) -> pd.DataFrame:
    """Rank candidate training runs by expected uncertainty reduction at the target per cost.

    For each candidate, ``n_sim`` outcomes are simulated from the posterior predictive
    (a random draw, then the fit's own noise model: Normal or Student-t on log y or y,
    with the draw's σ and ν, and a new run's offset when the model has a run factor).
    A candidate that gives the model's ``measurement_se`` column is measured with that
    known error too, in quadrature with the model's noise on the likelihood scale, as the
    fit's own rows are; without the column, the model's noise alone. Each simulated
    outcome re-weights the posterior draws by its likelihood under each draw (importance
    sampling: no refit), and the spread of the target prediction under those weights is
    what the posterior would look like after training that run. The
    expected reduction is the current spread minus the average re-weighted spread; the
    score divides it by the candidate's cost. All candidates share the simulated draws
    and noise (common random numbers), so their differences are not Monte Carlo noise.

    A loss-to-loss fit's candidate outcome is its output loss, simulated with the run's
    latent input loss (the compute law plus the run-to-run deviation ``tau``); each draw's
    weight is the likelihood at one latent draw, an unbiased estimate of its likelihood
    with the latent integrated out. The input loss the run would also give is not used,
    so the reduction is conservative; the target's spread keeps ``tau``, which no run
    reduces.

    The re-weighted posteriors rest on the existing draws: ``ess_mean`` and ``ess_min``
    (effective sample size of the weights, mean and 10% quantile over simulations) say
    how many. A very informative candidate collapses the weights onto few draws; below
    :data:`ESS_WARN` a warning says to refit with more draws.

    Parameters
    ----------
    fit : Fit or LossToLossFit
        The fitted model.
    candidates : DataFrame or dict
        One row per candidate run: the inputs (e.g. ``N``, ``D``) and a level of each
        factor, optionally each run's measurement error (the model's ``measurement_se``
        column); extra columns are kept, but none may be one that the result adds.
    target : dict or DataFrame
        The configuration(s) to predict well, e.g. ``{"N": 7e9, "D": 1.4e11,
        "dataset": "rpj"}``; with several rows their spreads are averaged. Its
        measurement error column, if any, is not used. A run column (the model's
        ``run``) that only one of ``target`` and ``candidates`` gives makes each row of
        the other a new run, as leaving it out of both does; a candidate whose run is a
        fitted run continues it (its outcome at that run's offset in each draw).
    cost : str, array, Series, callable or None
        Cost of each candidate: a column of ``candidates``, one number per candidate (an
        array by position, a Series by the candidates' index labels), or a function of
        the candidates frame returning either. Default: compute 6ND (then candidates
        must not have a ``cost`` column: pass ``cost="cost"`` to use it).
    measure : {"width", "variance"}
        Spread of the target prediction: width of the central ``interval``, or variance.
    interval : float
        Mass of the interval whose width is the measure.
    n_sim : int
        Simulated outcomes per candidate.
    predictive : bool
        Measure the spread of a new run's observed value at the target (noise included,
        which no run can reduce) instead of the noise-free law.
    seed : int
        Seed for the simulations and new levels.

    Returns
    -------
    DataFrame
        The candidates, ranked best first, with ``cost``, ``uncertainty_now``,
        ``uncertainty_after`` (expected), ``reduction``, ``reduction_se`` (its Monte Carlo
        standard error over the simulated outcomes), ``reduction_frac``, ``score``
        (reduction per unit cost), ``ess_mean``, ``ess_min`` and ``rank``.
        ``attrs`` record the measure, interval and number of draws.

    Examples
    --------
    >>> cands = {"N": [1e9, 2e9, 4e9], "D": [4e10, 2e10, 1e10], "dataset": "rpj"}
    >>> next_run(fit, cands, target={"N": 7e9, "D": 1.4e11, "dataset": "rpj"})  # doctest: +SKIP
    """
    check_fit(fit)
    check_choice(measure, _MEASURES, "measure")
    predictive = check_flag(predictive, "predictive")
    check_count(n_sim, "n_sim", 10)
    lo, hi = check_interval(interval)
    cands = as_frame(candidates, "candidates")
    goal = as_frame(target, "target")
    _check_unwritten(cands, cost)
    check_complete(fit, cands, "candidates")
    check_complete(fit, goal, "target")
    costs = _costs(fit, cands, cost)
    # one prediction call, so that a new level shared by target and candidates is one draw
    joint = _joint(fit, goal, cands)
    measured = _measured(fit, cands)

    use_x64()
    spec = fit.spec
    n_goal = len(goal)
    out = fit.predict_draws(joint, seed=seed)
    quantity = (out["observed"] if predictive else out["law"])[:, :n_goal]      # (S, T)
    law = out["law"][:, n_goal:]
    loc = np.asarray(transform_target(spec, law))                             # (S, C)
    rng = np.random.default_rng(seed)
    scale, nu = noise_scale(fit, out, slice(n_goal, None))
    known = _fitted_runs(fit, cands)
    if known.any():  # a fitted run trained on: its offset is the posterior's, not a new one
        loc = loc + np.where(known, np.asarray(out["shift"])[:, n_goal:], 0.0)
        scale = np.where(known, np.asarray(out["scale"])[:, n_goal:], scale)
    # a candidate's outcome is measured with its known error, as the fit's rows were
    total = scale if measured is None else np.asarray(
        with_measurement_error(spec, measured, scale, law))
    n_draws = loc.shape[0]

    pick = rng.integers(n_draws, size=n_sim)
    eps = rng.standard_normal(n_sim)
    if nu is not None:
        eps = eps / np.sqrt(rng.chisquare(nu[pick]) / nu[pick])
    nu_row = None if nu is None else nu[None, :]

    uniform = np.full((1, n_draws), 1.0 / n_draws)
    now = np.mean([weighted_spread(quantity[:, t], uniform, measure, lo, hi)[0]
                   for t in range(n_goal)])
    after, se, ess_mean, ess_min = (np.empty(len(cands)) for _ in range(4))
    for c in range(len(cands)):
        y = loc[pick, c] + total[pick, c] * eps                               # (J,)
        noise = scale[None, :, c] if measured is None else np.asarray(with_measurement_error(
            spec, measured.take(slice(c, c + 1)), scale[None, :, c],
            np.asarray(untransform(spec, y))[:, None]))                       # (J, S)
        logw = logpdf(y[:, None], loc[None, :, c], noise, nu_row)             # (J, S)
        # an outcome whose error is infinite under every draw tells nothing
        logw[~np.isfinite(logw).any(axis=1)] = 0.0
        logw -= logw.max(axis=1, keepdims=True)
        w = np.exp(logw)
        w /= w.sum(axis=1, keepdims=True)
        ess = 1.0 / (w**2).sum(axis=1)
        spread = np.mean([weighted_spread(quantity[:, t], w, measure, lo, hi)
                          for t in range(n_goal)], axis=0)                    # (J,)
        after[c], se[c] = spread.mean(), spread.std(ddof=1) / np.sqrt(n_sim)
        ess_mean[c], ess_min[c] = ess.mean(), np.quantile(ess, 0.1)

    table = cands.copy()
    table["cost"] = costs
    table["uncertainty_now"] = now
    table["uncertainty_after"] = after
    table["reduction"] = now - after
    table["reduction_se"] = se
    table["reduction_frac"] = (now - after) / now if now > 0 else 0.0
    table["score"] = table["reduction"] / costs
    table["ess_mean"] = ess_mean
    table["ess_min"] = ess_min
    table = table.sort_values("score", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    table.attrs.update({"measure": measure, "interval": interval, "draws": n_draws,
                        "n_sim": n_sim, "predictive": predictive})
    weak = table.index[table["ess_mean"] < ESS_WARN].tolist()
    if weak:
        warnings.warn(
            f"next_run: for candidates {weak[:5]}{' ...' if len(weak) > 5 else ''} the "
            f"re-weighted posterior rests on fewer than {ESS_WARN:g} effective draws on "
            f"average (of {n_draws}); their expected reduction is unreliable (usually too "
            f"optimistic). Refit with more draws.", ScalingLawWarning, stacklevel=2,
        )
    return table

