"""Which run to train next: candidate runs ranked by the expected reduction of uncertainty
at a target scale per unit of compute, by simulating each candidate's outcome from the
posterior and re-weighting the draws (:func:`next_run`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .._checks import check_choice, check_count, check_flag, check_interval
from ..data import as_frame
from ..errors import ScalingLawError, ScalingLawWarning
from ..model import transform_target
from .common import check_complete, check_fit, use_x64
from .reweight import logpdf, noise_scale, weighted_spread

__all__ = ["ESS_WARN", "next_run"]

#: Mean effective sample size below which :func:`next_run` warns.
ESS_WARN = 30.0
_MEASURES = ("width", "variance")


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


def next_run(fit: Any, candidates: Any, target: Any, *, cost: Any = None,
             measure: str = "width", interval: float = 0.9, n_sim: int = 256,
             predictive: bool = False, seed: int = 0) -> pd.DataFrame:
    """Rank candidate training runs by expected uncertainty reduction at the target per cost.

    For each candidate, ``n_sim`` outcomes are simulated from the posterior predictive
    (a random draw, then the fit's own noise model: Normal or Student-t on log y or y,
    with the draw's σ and ν, and a new run's offset when the model has a run factor).
    Each simulated outcome re-weights the posterior draws by its likelihood under each
    draw (importance sampling: no refit), and the spread of the target prediction under
    those weights is what the posterior would look like after training that run. The
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
        factor; extra columns are kept.
    target : dict or DataFrame
        The configuration(s) to predict well, e.g. ``{"N": 7e9, "D": 1.4e11,
        "dataset": "rpj"}``; with several rows their spreads are averaged.
    cost : str, array, callable or None
        Cost of each candidate: a column of ``candidates``, one number per candidate, or
        a function of the candidates frame. Default: compute 6ND.
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
    check_complete(fit, cands, "candidates")
    check_complete(fit, goal, "target")
    costs = _costs(fit, cands, cost)

    use_x64()
    spec = fit.spec
    n_goal = len(goal)
    # one prediction call, so that a new level shared by target and candidates is one draw
    joint = pd.concat([goal, cands], ignore_index=True)
    out = fit.predict_draws(joint, seed=seed)
    quantity = (out["observed"] if predictive else out["law"])[:, :n_goal]      # (S, T)
    loc = np.asarray(transform_target(spec, out["law"][:, n_goal:]))          # (S, C)
    rng = np.random.default_rng(seed)
    scale, nu = noise_scale(fit, out, slice(n_goal, None))
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
        y = loc[pick, c] + scale[pick, c] * eps                               # (J,)
        logw = logpdf(y[:, None], loc[None, :, c], scale[None, :, c], nu_row)  # (J, S)
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

