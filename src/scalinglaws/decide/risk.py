"""Decision rules under a fixed budget: choose N by expected loss, a quantile of loss or
the probability of missing a target, with the regret of the choice against the per-draw
optimum beside the same for the point-estimate choice (:func:`choose_size`,
:class:`Decision`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._checks import (
    check_budgets,
    check_choice,
    check_count,
    check_fraction,
    check_interval,
    is_finite_number,
)
from ..errors import ScalingLawError, ScalingLawWarning
from .allocation import evaluate_law, golden_section, optimum
from .common import check_fit, group_levels, param_draws, require_nd_law

__all__ = ["Decision", "choose_size"]

_RULES = ("expected", "quantile", "target")
_POINTS = ("median", "mean", "map")


@dataclass(frozen=True)
class Decision:
    """The result of :func:`choose_size`: a choice of N under a budget, with its risk.

    Attributes
    ----------
    table : DataFrame
        One row per choice (the rule's, then the point estimate's): ``N``, ``D``,
        ``tokens_per_param``, ``expected_loss``, ``loss_lower``/``loss_upper`` (interval
        of the loss reached), ``loss_quantile`` (the rule's quantile), ``p_miss``
        (P(loss > target), NaN without a target), ``regret_mean``, ``regret_median``,
        ``regret_upper`` (upper end of the interval) and ``regret_rel_mean`` (mean
        regret relative to the per-draw optimal loss).
    loss : dict of str to ndarray
        Per-draw loss reached by each choice (keyed like the table's index).
    regret : dict of str to ndarray
        Per-draw regret: loss reached minus the per-draw optimal loss (>= 0).
    optimum : dict of str to ndarray
        Per-draw optimum: ``"N"``, ``"D"``, ``"loss"``.
    compute : float
        The budget.
    group : dict
        The factor levels decided for.
    rule : str
        The rule's description.

    Examples
    --------
    >>> d = choose_size(fit, compute=1e23, group={"dataset": "rpj"})  # doctest: +SKIP
    >>> d.chosen.N, d.cost_of_ignoring_uncertainty  # doctest: +SKIP
    >>> np.quantile(d.regret["point estimate (median)"], 0.9)  # doctest: +SKIP
    """

    table: pd.DataFrame
    loss: dict[str, np.ndarray] = field(repr=False)
    regret: dict[str, np.ndarray] = field(repr=False)
    optimum: dict[str, np.ndarray] = field(repr=False)
    compute: float = 0.0
    group: dict[str, str] = field(default_factory=dict)
    rule: str = ""

    @property
    def chosen(self) -> pd.Series:
        """The rule's choice (the table's first row)."""
        return self.table.iloc[0]

    @property
    def cost_of_ignoring_uncertainty(self) -> float:
        """Expected loss of the point-estimate choice minus that of the rule's choice."""
        return float(self.table["expected_loss"].iloc[1] - self.table["expected_loss"].iloc[0])

    def __repr__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.group.items())
        with pd.option_context("display.width", 160, "display.max_columns", 20,
                               "display.float_format", lambda x: f"{x:.4g}"):
            body = self.table.to_string()
        return (f"<Decision at C={self.compute:.3g} FLOPs{' (' + where + ')' if where else ''}"
                f", rule: {self.rule}>\n{body}")

    def _repr_html_(self) -> str:
        return (f"<p><b>Decision</b> at C = {self.compute:.3g} FLOPs, rule: {self.rule}</p>"
                f"{self.table.to_html(float_format=lambda x: f'{x:.4g}')}")


def _point_params(fit: Any, params: Mapping[str, np.ndarray], point: str) -> dict:
    if point == "median":
        return {k: np.median(v, axis=0) for k, v in params.items()}
    if point == "mean":
        return {k: np.mean(v, axis=0) for k, v in params.items()}
    stats = fit.idata.sample_stats
    if "lp" not in stats:
        raise ScalingLawError("point='map' needs the log density of each draw (sample_stats.lp), "
                              "which this fit lacks; use point='median'")
    best = int(np.argmax(stats["lp"].values.reshape(-1)))
    return {k: v[best] for k, v in params.items()}


def choose_size(fit: Any, compute: float, group: Mapping[str, Any] | None = None,
                rule: str = "expected", quantile: float = 0.9, target: float | None = None,
                point: str = "median", interval: float = 0.9, n_grid: int = 400,
                seed: int = 0) -> Decision:
    """Choose the model size N for a fixed budget C = 6ND under posterior uncertainty.

    Every candidate N (a log grid spanning the posterior of N*, four times wider each
    side) is scored on the per-draw losses L_s(N, C/(6N)) of the noise-free law:

    - ``rule="expected"``: minimise the posterior expected loss (the Bayes choice);
    - ``rule="quantile"``: minimise the ``quantile`` of the loss (risk-averse for
      ``quantile`` > 0.5);
    - ``rule="target"``: minimise P(loss > ``target``); ties go to the lower expected loss.

    The chosen N is refined by golden-section search for the first two rules. Its regret
    per draw is L_s(N) − min over N of L_s (the loss lost against the optimum that draw
    would pick). The same is reported for the point-estimate choice: the optimum of the
    law at a single parameter value (``point``), which ignores uncertainty.

    Parameters
    ----------
    fit : Fit or LossToLossFit
        A fit of a law of N and D (for a loss-to-loss fit, its output loss of a run on
        the compute law, ``fit.spec.target_law``).
    compute : float
        The FLOP budget.
    group : dict, optional
        Factor -> level; needed when the model varies by a factor with several levels.
    rule : {"expected", "quantile", "target"}
        The decision rule.
    quantile : float
        The loss quantile for ``rule="quantile"`` (reported for every rule).
    target : float, optional
        Target loss; needed for ``rule="target"``, and gives ``p_miss`` for any rule.
    point : {"median", "mean", "map"}
        The point estimate: posterior median or mean of each parameter, or the draw with
        the highest log posterior density (close to what a least-squares fit gives).
    interval : float
        Mass of the reported intervals.
    n_grid : int
        Grid points over N.
    seed : int
        Seed for the offsets of new levels.

    Returns
    -------
    Decision
        Printable; ``.table`` has one row per choice, ``.regret`` and ``.loss`` the draws.

    Examples
    --------
    >>> d = choose_size(fit, compute=1e23, group={"dataset": "rpj"}, rule="quantile",
    ...                 quantile=0.95)  # doctest: +SKIP
    >>> d.table[["N", "expected_loss", "regret_mean"]]  # doctest: +SKIP
    """
    check_fit(fit)
    require_nd_law(fit.spec.target_law, "choose_size")
    budget = check_budgets(compute)
    if budget.size != 1:
        raise ScalingLawError(
            f"choose_size decides for one budget, got {budget.size}; call it once per budget "
            f"(compute_optimal takes several)"
        )
    c = float(budget[0])
    check_choice(rule, _RULES, "rule")
    check_choice(point, _POINTS, "point")
    check_fraction(quantile, "quantile")
    if rule == "target" and target is None:
        raise ScalingLawError("rule='target' needs target=<the loss to reach>, e.g. target=2.1")
    if target is not None and not is_finite_number(target):
        raise ScalingLawError(f"target must be a finite number (a loss), got {target!r}")
    if target is not None and fit.spec.scale == "log" and target <= 0:
        raise ScalingLawError(f"target must be positive: {fit.spec.target!r} is modelled on "
                              f"the log scale, so every run's value is above 0; got {target!r}")
    check_count(n_grid, "n_grid", 10)
    lo, hi = check_interval(interval)
    groups = group_levels(fit, group)
    if len(groups) != 1:
        raise ScalingLawError(
            f"choose_size decides for one group, but the model varies by "
            f"{list(fit.spec.factors)} and {len(groups)} combinations are open; pass group= "
            f"with one level each, e.g. {groups[0]}"
        )
    law = fit.spec.target_law
    params = {k: v[:, 0] for k, v in param_draws(fit, groups, seed).items()}
    best = optimum(law, params, c)
    log_k = np.log(c / 6.0)

    log_opt = np.log(best["N"])
    low = np.quantile(log_opt, 0.001) - np.log(4.0)
    high = np.quantile(log_opt, 0.999) + np.log(4.0)
    grid = np.linspace(low, high, n_grid)
    expanded = {k: v[:, None] for k, v in params.items()}

    def losses(log_n: np.ndarray) -> np.ndarray:
        return evaluate_law(law, expanded, log_n[None, :], log_k - log_n[None, :])

    on_grid = losses(grid)                                          # (draws, grid)

    def score(values: np.ndarray) -> np.ndarray:
        if rule == "expected":
            return values.mean(axis=0)
        if rule == "quantile":
            return np.quantile(values, quantile, axis=0)
        return (values > target).mean(axis=0)

    scores = score(on_grid)
    if rule == "target":
        if scores.min() == scores.max():
            warnings.warn(
                f"P(loss > {target:g}) is {scores.min():g} at every size searched, so the "
                f"target rule cannot choose: the smallest expected loss breaks the tie. "
                f"Choose a target the posterior puts within reach at this budget",
                ScalingLawWarning, stacklevel=2)
        ties = np.flatnonzero(scores == scores.min())
        k = int(ties[np.argmin(on_grid[:, ties].mean(axis=0))])
        log_choice = grid[k]
    else:
        k = int(np.argmin(scores))
        a, b = grid[max(k - 1, 0)], grid[min(k + 1, n_grid - 1)]
        log_choice = float(golden_section(lambda x: np.array([score(losses(np.atleast_1d(x)))[0]]),
                                   np.array([a]), np.array([b]))[0])
    if k in (0, n_grid - 1):
        warnings.warn("the chosen N lies at the edge of the searched range; the rule's "
                      "optimum may lie outside it", ScalingLawWarning, stacklevel=2)

    point_params = _point_params(fit, params, point)
    log_point = float(np.log(optimum(law, point_params, c)["N"]))
    labels = {"expected": "expected loss",
              "quantile": f"{quantile:g} quantile of loss",
              "target": f"P(loss > {target:g})" if target is not None else ""}
    names = [f"rule: {labels[rule]}", f"point estimate ({point})"]
    rows, loss_by, regret_by = [], {}, {}
    for name, log_n in zip(names, (log_choice, log_point), strict=True):
        reached = losses(np.atleast_1d(log_n))[:, 0]
        regret = np.maximum(reached - best["loss"], 0.0)
        loss_by[name], regret_by[name] = reached, regret
        n = float(np.exp(log_n))
        rows.append({
            "choice": name, "N": n, "D": c / (6 * n), "tokens_per_param": c / (6 * n * n),
            "expected_loss": reached.mean(), "loss_lower": np.quantile(reached, lo),
            "loss_upper": np.quantile(reached, hi),
            "loss_quantile": np.quantile(reached, quantile),
            "p_miss": (reached > target).mean() if target is not None else np.nan,
            "regret_mean": regret.mean(), "regret_median": np.median(regret),
            "regret_upper": np.quantile(regret, hi),
            "regret_rel_mean": (regret / best["loss"]).mean(),
        })
    table = pd.DataFrame(rows).set_index("choice")
    table.attrs.update({"interval": interval, "quantile": quantile, "target": target})
    return Decision(table=table, loss=loss_by, regret=regret_by,
                    optimum={k: best[k] for k in ("N", "D", "loss")}, compute=c,
                    group=groups[0], rule=labels[rule])

