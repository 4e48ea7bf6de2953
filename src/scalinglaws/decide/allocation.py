"""Compute-optimal allocation: the N and D = C/(6N) that minimise the law at a budget.

:func:`optimum` on parameter arrays (closed form for Chinchilla and the over-training
law, a grid refined by golden-section search for any law of N and D);
:func:`optimal_draws` and :func:`compute_optimal` per posterior draw of a fit (and in
closed form for an ``isoflop`` fit); :func:`plot_frontier` draws the frontier with bands.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import laws as _laws
from .._checks import check_budgets, check_choice, check_interval
from ..compare import Stack
from ..errors import ScalingLawError, ScalingLawWarning
from .common import (
    check_fit,
    group_levels,
    is_numeric,
    param_draws,
    require_nd_law,
    summarise,
    use_x64,
)

__all__ = [
    "GOLDEN_ITERATIONS",
    "GRID_POINTS",
    "RATIO_RANGE",
    "compute_optimal",
    "evaluate_law",
    "golden_section",
    "optimal_draws",
    "optimum",
    "plot_frontier",
]

#: Search range of the numerical optimum, in tokens per parameter D/N.
RATIO_RANGE = (1e-4, 1e8)
#: Grid points of the numerical optimum before golden-section refinement.
GRID_POINTS = 256
#: Golden-section iterations (the bracket shrinks by 0.618 per iteration).
GOLDEN_ITERATIONS = 60
_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0
_METHODS = ("auto", "closed", "numerical")


def _has_closed_form(law: Any) -> bool:
    return law in (_laws.get("chinchilla"), _laws.get("overtraining"))


def _as_chinchilla(law: Any, params: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """``log A, alpha, log B, beta`` of a law that is Chinchilla in (N, D), else None."""
    if not _has_closed_form(law):
        return None
    if law == _laws.get("chinchilla"):
        return {"logA": np.log(params["A"]), "alpha": np.asarray(params["alpha"]),
                "logB": np.log(params["B"]), "beta": np.asarray(params["beta"])}
    if law == _laws.get("overtraining"):
        # a 6^-eta N^-2eta + b 6^-eta D^-2eta: Chinchilla with alpha = beta = 2 eta
        eta = np.asarray(params["eta"])
        log6 = np.log(6.0)
        return {"logA": np.log(params["a"]) - eta * log6, "alpha": 2 * eta,
                "logB": np.log(params["b"]) - eta * log6, "beta": 2 * eta}
    return None


@functools.lru_cache(maxsize=32)
def _compiled(law: Any, log: bool) -> Callable:
    """The law (or its log) at log N, log D as one jitted function: one compilation per
    input shape instead of one per operation."""
    import jax
    import jax.numpy as jnp

    def value(params, log_n, log_d):
        variables = {"N": jnp.exp(log_n), "D": jnp.exp(log_d)}
        return law.log(variables, params) if log else law.fn(variables, params)

    return jax.jit(value)


def evaluate_law(law: Any, params: Mapping[str, Any], log_n: Any, log_d: Any,
              log: bool = False) -> np.ndarray:
    """The law (or its log, for positive laws) at N = exp(log_n), D = exp(log_d)."""
    use_x64()
    shape = np.broadcast_shapes(np.shape(log_n), np.shape(log_d),
                                *(np.shape(v) for v in params.values()))
    fn = _compiled(law, bool(log and law.output == "positive"))
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    out = fn(p, np.asarray(log_n, dtype=np.float64), np.asarray(log_d, dtype=np.float64))
    return np.broadcast_to(np.asarray(out), shape)


def golden_section(objective: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
            iterations: int = GOLDEN_ITERATIONS) -> np.ndarray:
    """Vectorised golden-section search for a minimum of ``objective`` in [a, b]."""
    c = b - _INVPHI * (b - a)
    d = a + _INVPHI * (b - a)
    fc, fd = objective(c), objective(d)
    for _ in range(iterations):
        left = fc < fd
        a = np.where(left, a, c)
        b = np.where(left, d, b)
        c_new = np.where(left, b - _INVPHI * (b - a), d)
        d_new = np.where(left, c, a + _INVPHI * (b - a))
        fx = objective(np.where(left, c_new, d_new))
        fc, fd = np.where(left, fx, fd), np.where(left, fc, fx)
        c, d = c_new, d_new
    return np.where(fc < fd, c, d)


def _clean(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, np.inf)


def optimum(law: Any, params: Mapping[str, Any], compute: float | np.ndarray,
            method: str = "auto") -> dict[str, np.ndarray]:
    """Loss-minimising N and D for budget C = 6ND, per set of parameter values.

    Parameters
    ----------
    law : str or Law
        A law of ``N`` and ``D``.
    params : dict of str to array
        Natural law parameters, arrays of one common shape (e.g. one value per
        posterior draw).
    compute : float or array
        FLOP budget(s), broadcast against the parameters.
    method : {"auto", "closed", "numerical"}
        ``"closed"``: N* = G (C/6)^(β/(α+β)), G = (αA/(βB))^(1/(α+β)), for Chinchilla and
        the over-training law (Chinchilla with α = β = 2η). ``"numerical"``: a grid over
        log N (D/N from 1e-4 to 1e8) refined by golden-section search, for any law of
        N and D. ``"auto"`` takes the closed form where there is one.

    Returns
    -------
    dict
        ``"N"``, ``"D"``, ``"ratio"`` (D/N), ``"loss"`` (the law at the optimum) and
        ``"at_edge"`` (True where the numerical optimum hit the edge of the search
        range: no interior optimum there), each of the broadcast shape.

    Examples
    --------
    >>> out = optimum("chinchilla", {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34,
    ...                              "beta": 0.28}, compute=5.76e23)
    >>> f"{float(out['N']):.3g}", f"{float(out['D']):.3g}"
    ('3.22e+10', '2.98e+12')
    >>> num = optimum("chinchilla", {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34,
    ...                              "beta": 0.28}, compute=5.76e23, method="numerical")
    >>> bool(abs(num["N"] / out["N"] - 1) < 1e-6)
    True
    """
    use_x64()
    law = _laws.resolve(law)
    require_nd_law(law, "optimum")
    check_choice(method, _METHODS, "method")
    missing = [p for p in law.param_names if p not in params]
    if missing:
        raise ScalingLawError(
            f"params lacks {missing} of law {law.name!r}; give every parameter "
            f"{list(law.param_names)}"
        )
    budget = np.asarray(compute, dtype=np.float64) if is_numeric(compute) else None
    if budget is None or budget.size == 0 or not (np.isfinite(budget) & (budget > 0)).all():
        raise ScalingLawError(
            f"compute must be positive, finite FLOP counts (C = 6ND), got {compute!r}"
        )
    arrays = {k: np.asarray(params[k], dtype=np.float64) for k in law.param_names}
    shape = np.broadcast_shapes(np.shape(budget), *(a.shape for a in arrays.values()))
    arrays = {k: np.broadcast_to(v, shape) for k, v in arrays.items()}
    log_k = np.broadcast_to(np.log(np.asarray(budget) / 6.0), shape)

    closed = _as_chinchilla(law, arrays)
    if method == "closed" and closed is None:
        raise ScalingLawError(
            f"law {law.name!r} has no closed-form optimum here (only chinchilla and "
            f"overtraining do); use method='numerical' or 'auto'"
        )
    if closed is not None and method != "numerical":
        a, b = closed["alpha"], closed["beta"]
        log_g = (np.log(a) + closed["logA"] - np.log(b) - closed["logB"]) / (a + b)
        log_n = log_g + b / (a + b) * log_k
        at_edge = np.zeros(shape, dtype=bool)
    else:
        lo = (log_k - np.log(RATIO_RANGE[1])) / 2
        hi = (log_k - np.log(RATIO_RANGE[0])) / 2
        t = np.linspace(0.0, 1.0, GRID_POINTS)
        grid = lo[..., None] + (hi - lo)[..., None] * t           # (*shape, G)
        expanded = {k: v[..., None] for k, v in arrays.items()}
        values = _clean(evaluate_law(law, expanded, grid, log_k[..., None] - grid, log=True))
        i = np.argmin(values, axis=-1)
        at_edge = (i == 0) | (i == GRID_POINTS - 1)
        step = (hi - lo) / (GRID_POINTS - 1)
        left = np.take_along_axis(grid, np.clip(i - 1, 0, GRID_POINTS - 1)[..., None], -1)[..., 0]
        right = left + 2 * step

        def objective(x: np.ndarray) -> np.ndarray:
            return _clean(evaluate_law(law, arrays, x, log_k - x, log=True))

        log_n = golden_section(objective, left, right)
    log_d = log_k - log_n
    loss = evaluate_law(law, arrays, log_n, log_d)
    return {"N": np.exp(log_n), "D": np.exp(log_d), "ratio": np.exp(log_d - log_n),
            "loss": loss, "at_edge": at_edge}


def optimal_draws(fit: Any, compute: float | Sequence[float],
                  group: Mapping[str, Any] | None = None, method: str = "auto",
                  seed: int = 0) -> dict[str, Any]:
    """Per-draw compute-optimal allocation behind :func:`compute_optimal`.

    Parameters
    ----------
    fit : Fit, LossToLossFit or Stack
        A fit of a law of N and D (for a loss-to-loss fit, its output loss of a run on
        the compute law, ``fit.spec.target_law``), or a
        :class:`~scalinglaws.compare.Stack` of such fits: each fit's per-draw optima
        mixed by its weight (each draw one fit's whole draw, named in ``"model"``; no
        ``"params"``, since the fits' laws differ).
    compute : float or list of float
        FLOP budget(s) C = 6ND.
    group : dict, optional
        Factor -> level (or list of levels); default every fitted level of every factor.
        A level not seen in fitting is predicted from the population.
    method : {"auto", "closed", "numerical"}
        See :func:`optimum`.
    seed : int
        Seed for the offsets of new levels.

    Returns
    -------
    dict
        ``"rows"``: a DataFrame with one row per (budget, group) combination (columns
        ``compute`` and the factors); ``"N"``, ``"D"``, ``"ratio"``, ``"loss"``,
        ``"at_edge"``: arrays of shape (draws, rows); ``"params"``: the natural law
        parameters, (draws, rows).

    Examples
    --------
    >>> out = optimal_draws(fit, compute=[1e21, 1e23])  # doctest: +SKIP
    >>> out["N"].shape  # doctest: +SKIP
    (600, 6)
    """
    check_fit(fit, stack=True)
    if isinstance(fit, Stack):
        return _stacked_draws(fit, compute, group, method, seed)
    law = fit.spec.target_law
    if _laws.is_isoflop(law):
        return _isoflop_draws(fit, check_budgets(compute), group, seed)
    require_nd_law(law, "compute_optimal")
    budgets = check_budgets(compute)
    groups = group_levels(fit, group)
    params = param_draws(fit, groups, seed)
    rows = pd.DataFrame([{"compute": c, **g} for c in budgets for g in groups])
    n_groups = len(groups)
    tiled = {k: np.tile(v, (1, len(budgets))) for k, v in params.items()}
    column = np.repeat(budgets, n_groups)[None, :]
    out = optimum(law, tiled, column, method=method)
    edge = out["at_edge"]
    if edge.any():
        warnings.warn(
            f"for {edge.mean():.1%} of draws the loss keeps falling towards the edge of the "
            f"searched range (D/N from {RATIO_RANGE[0]:g} to {RATIO_RANGE[1]:g}): those draws "
            f"have no interior optimum and their N* is the edge value",
            ScalingLawWarning, stacklevel=2,
        )
    return {"rows": rows, **out, "params": tiled}


#: What :func:`optimal_draws` gives per draw and row (the keys a stack mixes).
PER_DRAW = ("N", "D", "ratio", "loss", "at_edge")


def _stacked_draws(stack: Stack, compute: Any, group: Mapping[str, Any] | None,
                   method: str, seed: int) -> dict[str, Any]:
    """:func:`optimal_draws` of each fit of ``stack``, mixed by its weights; the fits
    must allocate for the same budgets and groups (the same factors)."""
    outs = stack.each(lambda member: optimal_draws(member, compute, group=group,
                                                   method=method, seed=seed))
    first, *others = (out["rows"] for out in outs.values())
    if any(list(t.columns) != list(first.columns) or not t.equals(first) for t in others):
        factors = {name: list(out["rows"].columns[1:]) for name, out in outs.items()}
        raise ScalingLawError(
            f"the stack's fits allocate for different groups (their factors: {factors}); "
            f"stack fits that vary by the same factors, or call compute_optimal with each "
            f"of stack.fits")
    return {"rows": first, **stack.mix(outs, PER_DRAW, seed)}


def _isoflop_draws(fit: Any, budgets: np.ndarray, group: Mapping[str, Any] | None,
                   seed: int) -> dict[str, Any]:
    """:func:`optimal_draws` for the ``isoflop`` law, in closed form: N* = G C^a on the
    population line (``group=None``) or with a group's offsets (``{"budget": "new"}``
    draws a new budget's vertex offset from the population)."""
    use_x64()
    if group is None:
        post = fit.idata.posterior
        params = {p: post[p].to_numpy().reshape(-1, 1) for p in fit.spec.law.param_names}
        rows = pd.DataFrame({"compute": budgets})
    else:
        groups = group_levels(fit, group)
        params = param_draws(fit, groups, seed)
        rows = pd.DataFrame([{"compute": c, **g} for c in budgets for g in groups])
        params = {k: np.tile(np.asarray(v), (1, len(budgets))) for k, v in params.items()}
    column = np.repeat(budgets, len(rows) // len(budgets))[None, :]
    tiled = {k: np.broadcast_to(np.asarray(v), (np.shape(v)[0], column.shape[1]))
             for k, v in params.items()}
    out = {k: np.asarray(v) for k, v in _laws.isoflop_optimum(tiled, column).items()}
    return {"rows": rows, **out, "at_edge": np.zeros(out["N"].shape, dtype=bool),
            "params": tiled}


def compute_optimal(fit: Any, compute: float | Sequence[float],
                    group: Mapping[str, Any] | None = None, interval: float = 0.9,
                    method: str = "auto", seed: int = 0) -> pd.DataFrame:
    """The posterior of the compute-optimal allocation for one or more FLOP budgets.

    For each posterior draw, the N and D = C/(6N) that minimise the law at budget C
    (closed form for Chinchilla and the over-training law, numerical otherwise; see
    :func:`optimum`); the table summarises those per-draw optima. For a loss-to-loss fit
    the law is its output loss of a run on the compute law (``fit.spec.target_law``,
    numerically): the links are increasing in the input loss, so N* and D* are the
    compute law's and ``loss`` is the output loss there.

    Parameters
    ----------
    fit : Fit, LossToLossFit or Stack
        A fit of a law of N and D, or of the ``isoflop`` law (N* = G C^a in closed form:
        the population line by default, a budget's offsets with ``group={"budget":
        ...}``). A :class:`~scalinglaws.compare.Stack` of such fits (varying by the same
        factors) gives the model-averaged posterior of the optimum: each fit's per-draw
        optima in proportion to its weight.
    compute : float or list of float
        FLOP budget(s) C = 6ND; several give the compute-optimal frontier.
    group : dict, optional
        Factor -> level or list of levels (e.g. ``{"dataset": "rpj"}``); default every
        fitted level of every factor the model varies by.
    interval : float
        Mass of the equal-tailed intervals.
    method : {"auto", "closed", "numerical"}
        See :func:`optimum`.
    seed : int
        Seed for the offsets of new levels.

    Returns
    -------
    DataFrame
        One row per budget and group: ``compute``, the factor columns, then for each of
        ``N``, ``D``, ``tokens_per_param`` (D*/N*) and ``loss`` (the law at the optimum)
        its ``_median``, ``_lower`` and ``_upper``; ``loss_mean``; ``method`` (for a
        stack, each fit's). ``attrs["interval"]`` holds the interval mass, and for a
        stack ``attrs["weights"]`` its weights.

    Examples
    --------
    >>> compute_optimal(fit, compute=[1e21, 1e23, 1e25], group={"dataset": "rpj"})  # doctest: +SKIP
       compute dataset  N_median   N_lower   N_upper  ...
    """
    lo, hi = check_interval(interval)
    out = optimal_draws(fit, compute, group=group, method=method, seed=seed)
    table = out["rows"].copy()
    named = {"N": out["N"], "D": out["D"], "tokens_per_param": out["ratio"],
             "loss": out["loss"]}
    for name, draws in named.items():
        for stat, values in summarise(draws, lo, hi).items():
            table[f"{name}_{stat}"] = values
    table["loss_mean"] = out["loss"].mean(axis=0)
    if isinstance(fit, Stack):
        methods = fit.each(lambda member: _method(member.spec.target_law, method))
        table["method"] = "; ".join(f"{name}: {how}" for name, how in methods.items())
        table.attrs["weights"] = dict(fit.weights)
    else:
        table["method"] = _method(fit.spec.target_law, method)
    table.attrs["interval"] = interval
    return table


def _method(law: Any, method: str) -> str:
    """How :func:`optimum` finds the optimum of ``law`` with ``method``."""
    closed = _has_closed_form(law) and method != "numerical" or _laws.is_isoflop(law)
    return "closed form" if closed else "numerical"


def plot_frontier(fit: Any, compute: Sequence[float] | None = None,
                  group: Mapping[str, Any] | None = None, interval: float = 0.9,
                  seed: int = 0):
    """The compute-optimal frontier with posterior bands: N*, D*/N* and loss against C.

    Parameters
    ----------
    fit : Fit or LossToLossFit
        A fit of a law of N and D (see :func:`compute_optimal`).
    compute : list of float, optional
        Budgets; default 40 from the smallest fitted run's compute to 10^4 times the
        largest.
    group : dict, optional
        As in :func:`compute_optimal`; one line and band per combination.
    interval : float
        Mass of the bands.
    seed : int
        Seed for the offsets of new levels.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels; never shown. The shaded region is beyond the largest fitted run.

    Examples
    --------
    >>> fig = plot_frontier(fit, group={"dataset": "rpj"})  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    check_fit(fit)
    require_nd_law(fit.spec.target_law, "plot_frontier")
    fitted = fit.data()
    fitted_c = (6 * fitted[fit.spec.inputs["N"]] * fitted[fit.spec.inputs["D"]]).to_numpy(float)
    if compute is None:
        compute = np.geomspace(fitted_c.min(), 1e4 * fitted_c.max(), 40)
    budgets = check_budgets(compute)
    table = compute_optimal(fit, budgets, group=group, interval=interval, seed=seed)
    factors = list(fit.spec.factors)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.9), constrained_layout=True)
    keys = [()] if not factors else list(table[factors].drop_duplicates().itertuples(
        index=False, name=None))
    panels = (("N", "compute-optimal N*"), ("tokens_per_param", "D*/N*"),
              ("loss", f"{fit.spec.target} at the optimum"))
    for i, key in enumerate(keys):
        part = table
        for f, level in zip(factors, key, strict=False):
            part = part[part[f] == level]
        label = ", ".join(f"{f}={lv}" for f, lv in zip(factors, key, strict=False)) or None
        for ax, (name, ylabel) in zip(axes, panels, strict=True):
            ax.fill_between(part["compute"], part[f"{name}_lower"], part[f"{name}_upper"],
                            color=f"C{i}", alpha=0.25, lw=0)
            ax.plot(part["compute"], part[f"{name}_median"], color=f"C{i}", lw=1.5,
                    label=label)
            ax.set_ylabel(ylabel)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compute C = 6ND (FLOPs)")
        if budgets.max() > fitted_c.max():
            ax.axvspan(fitted_c.max(), budgets.max(), color="0.9", zorder=0)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    if factors:
        axes[0].legend(fontsize=7)
    fig.suptitle(f"{fit.spec.target_law.name}: compute-optimal frontier, median and "
                 f"{interval:.0%} interval (shaded: beyond the fitted runs)", fontsize=10)
    return fig

