"""Decisions under uncertainty: what a posterior says about the choices scaling laws inform.

Point fits give one answer and hide how wrong it may be; every function here works per
posterior draw and returns the decision with its risk.

- :func:`compute_optimal`: the loss-minimising model size N*, data D*, tokens per
  parameter D*/N* and loss reached for a FLOP budget C = 6ND, one value per draw,
  summarised with medians and intervals; several budgets give the compute-optimal
  frontier (:func:`plot_frontier` draws it with bands). :func:`optimum` is the same
  calculation on parameter arrays.
- :func:`choose_size`: pick N under a fixed budget by expected loss, a quantile of loss
  (risk-averse) or the probability of missing a target loss, with the regret of that
  choice against the per-draw optimum, beside the same for the point-estimate choice.
- :func:`prob_better`: the probability that one configuration (a dataset, a tokenizer,
  a second fit) reaches lower loss than another at a given scale, with an optional
  region of practical equivalence.
- :func:`prob_target`: the probability that a run reaches a loss (or error) target.
- :func:`epochs_worth_it`: with a data-constrained law, the loss of a run whose tokens
  repeat k epochs of fewer unique tokens against the same run on fresh data, per draw:
  how many epochs a budget can afford at a given loss penalty.
- :func:`next_run`: rank candidate training runs by the expected reduction of
  uncertainty at a target scale per unit of compute, by simulating each candidate's
  outcome from the posterior and re-weighting the draws (no refit).

Examples
--------
>>> import scalinglaws as sl
>>> from scalinglaws import decide
>>> runs = sl.synthetic.sweep(seed=0)
>>> fit = sl.ScalingModel("chinchilla", vary={"E": "dataset"}).fit(
...     runs, chains=2, warmup=300, draws=300, progress=False)  # doctest: +SKIP
>>> decide.compute_optimal(fit, compute=[1e21, 1e23], group={"dataset": "web"})  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import laws as _laws
from ._checks import check_fit_kind, factor_labels
from .errors import ScalingLawError, ScalingLawWarning
from .fit import Fit
from .model import enable_x64, transform_target

__all__ = [
    "Decision",
    "choose_size",
    "compute_optimal",
    "epochs_worth_it",
    "next_run",
    "optimal_draws",
    "optimum",
    "plot_frontier",
    "prob_better",
    "prob_target",
]

#: Search range of the numerical optimum, in tokens per parameter D/N.
RATIO_RANGE = (1e-4, 1e8)
#: Grid points of the numerical optimum before golden-section refinement.
GRID_POINTS = 256
#: Golden-section iterations (the bracket shrinks by 0.618 per iteration).
GOLDEN_ITERATIONS = 60
#: Mean effective sample size below which :func:`next_run` warns.
ESS_WARN = 30.0
_INVPHI = (np.sqrt(5.0) - 1.0) / 2.0
_METHODS = ("auto", "closed", "numerical")
_RULES = ("expected", "quantile", "target")
_POINTS = ("median", "mean", "map")
_MEASURES = ("width", "variance")


# --------------------------------------------------------------------------- validation


def _x64() -> None:
    """float64 in JAX, as everywhere in the package (a loaded fit may not have set it)."""
    enable_x64()


def _check_fit(fit: Any, name: str = "fit") -> None:
    check_fit_kind(fit, ("scaling_law",), f"decide ({name})",
                   "Its rules read a compute law of the fit's own inputs (fit.spec.law, "
                   "fit.design); a loss-to-loss fit's output is predicted with "
                   "fit.predict or fit.predict_draws.")
    if not isinstance(fit, Fit):
        raise ScalingLawError(
            f"{name} must be a scalinglaws Fit (from ScalingModel.fit or sl.load), got "
            f"{type(fit).__name__}"
        )


def _interval(interval: float) -> tuple[float, float]:
    if not isinstance(interval, (int, float)) or not 0 < interval < 1:
        raise ScalingLawError(f"interval must be between 0 and 1 (e.g. 0.9), got {interval!r}")
    return (1 - interval) / 2, (1 + interval) / 2


def _budgets(compute: Any) -> np.ndarray:
    try:
        values = np.atleast_1d(np.asarray(compute, dtype=np.float64))
    except (TypeError, ValueError):
        raise ScalingLawError(
            f"compute must be a FLOP budget or a list of them (e.g. 1e23), got {compute!r}"
        ) from None
    if values.ndim != 1 or values.size == 0:
        raise ScalingLawError(
            f"compute must be a number or a flat list of numbers, got {compute!r}"
        )
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        raise ScalingLawError(
            f"compute must be positive, finite FLOP counts (C = 6ND); got {values[bad].tolist()}"
        )
    return values


def _is_numeric(value: Any) -> bool:
    try:
        np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def _has_closed_form(law: Any) -> bool:
    return law in (_laws.get("chinchilla"), _laws.get("overtraining"))


def _nd_law(law: Any, what: str) -> None:
    if set(law.variables) != {"N", "D"}:
        raise ScalingLawError(
            f"{what} needs a law of model size N and tokens D (chinchilla, kaplan, overtraining "
            f"or an expression in N and D); law {law.name!r} takes {list(law.variables)}"
        )


def _frame(value: Any, what: str) -> pd.DataFrame:
    """A DataFrame from a frame or a mapping of scalars / equal-length lists."""
    if isinstance(value, pd.DataFrame):
        if len(value) == 0:
            raise ScalingLawError(f"{what} has no rows")
        return value.copy()
    if isinstance(value, Mapping):
        if not value:
            raise ScalingLawError(
                f"{what} is empty; give columns such as {{'N': 7e9, 'D': 1.4e11}}"
            )
        items = {k: (list(v) if isinstance(v, (list, tuple, np.ndarray, pd.Series)) else [v])
                 for k, v in value.items()}
        lengths = {len(v) for v in items.values()}
        if len(lengths - {1}) > 1:
            raise ScalingLawError(
                f"{what} has columns of different lengths {sorted(lengths)}; give scalars or "
                f"lists of one common length"
            )
        n = max(lengths)
        return pd.DataFrame({k: v * n if len(v) == 1 else v for k, v in items.items()})
    raise ScalingLawError(
        f"{what} must be a DataFrame or a dict of columns (e.g. {{'N': 7e9, 'D': 1.4e11}}), "
        f"got {type(value).__name__}"
    )


def _levels_known(fit: Any, factor: str, levels: Sequence[str], what: str) -> None:
    fitted = fit.design.levels().get(factor, ())
    new = [lv for lv in levels if lv not in fitted]
    if new:
        warnings.warn(
            f"{what}: level(s) {new} of {factor!r} were not in the fitted data (fitted: "
            f"{list(fitted)}); they are predicted as new levels drawn from the population, "
            f"with wider intervals. Check the spelling if that is not what you meant.",
            ScalingLawWarning, stacklevel=3,
        )


def _groups(fit: Any, group: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Every combination of factor levels asked for (default: all fitted levels)."""
    factors = list(fit.spec.factors)
    fitted = fit.design.levels()
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
        _levels_known(fit, f, levels, "group")
        choices.append(levels)
    return [dict(zip(factors, combo, strict=True)) for combo in itertools.product(*choices)]


def _param_draws(fit: Any, groups: list[dict[str, str]], seed: int) -> dict[str, np.ndarray]:
    """Natural law parameters per draw for each group: ``{name: (draws, groups)}``."""
    spec = fit.spec
    ref = {v: float(np.exp(x)) for v, x in fit.design.log_reference.items()}
    rows = pd.DataFrame([{**{spec.inputs[v]: ref[v] for v in spec.law.variables}, **g}
                         for g in groups])
    return fit.predict_draws(rows, seed=seed)["params"]


# ------------------------------------------------------------------------ the optimum


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


def _evaluate(law: Any, params: Mapping[str, Any], log_n: Any, log_d: Any,
              log: bool = False) -> np.ndarray:
    """The law (or its log, for positive laws) at N = exp(log_n), D = exp(log_d)."""
    _x64()
    shape = np.broadcast_shapes(np.shape(log_n), np.shape(log_d),
                                *(np.shape(v) for v in params.values()))
    fn = _compiled(law, bool(log and law.output == "positive"))
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    out = fn(p, np.asarray(log_n, dtype=np.float64), np.asarray(log_d, dtype=np.float64))
    return np.broadcast_to(np.asarray(out), shape)


def _golden(objective: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray,
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
    _x64()
    law = _laws.resolve(law)
    _nd_law(law, "optimum")
    if method not in _METHODS:
        raise ScalingLawError(f"method must be one of {_METHODS}, got {method!r}")
    missing = [p for p in law.param_names if p not in params]
    if missing:
        raise ScalingLawError(
            f"params lacks {missing} of law {law.name!r}; give every parameter "
            f"{list(law.param_names)}"
        )
    budget = np.asarray(compute, dtype=np.float64) if _is_numeric(compute) else None
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
        values = _clean(_evaluate(law, expanded, grid, log_k[..., None] - grid, log=True))
        i = np.argmin(values, axis=-1)
        at_edge = (i == 0) | (i == GRID_POINTS - 1)
        step = (hi - lo) / (GRID_POINTS - 1)
        left = np.take_along_axis(grid, np.clip(i - 1, 0, GRID_POINTS - 1)[..., None], -1)[..., 0]
        right = left + 2 * step

        def objective(x: np.ndarray) -> np.ndarray:
            return _clean(_evaluate(law, arrays, x, log_k - x, log=True))

        log_n = _golden(objective, left, right)
    log_d = log_k - log_n
    loss = _evaluate(law, arrays, log_n, log_d)
    return {"N": np.exp(log_n), "D": np.exp(log_d), "ratio": np.exp(log_d - log_n),
            "loss": loss, "at_edge": at_edge}


def optimal_draws(fit: Any, compute: float | Sequence[float],
                  group: Mapping[str, Any] | None = None, method: str = "auto",
                  seed: int = 0) -> dict[str, Any]:
    """Per-draw compute-optimal allocation behind :func:`compute_optimal`.

    Parameters
    ----------
    fit : Fit
        A fit of a law of N and D.
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
    _check_fit(fit)
    if fit.spec.law == _laws.get("isoflop"):
        return _isoflop_draws(fit, _budgets(compute), group, seed)
    _nd_law(fit.spec.law, "compute_optimal")
    budgets = _budgets(compute)
    groups = _groups(fit, group)
    params = _param_draws(fit, groups, seed)
    rows = pd.DataFrame([{"compute": c, **g} for c in budgets for g in groups])
    n_groups = len(groups)
    tiled = {k: np.tile(v, (1, len(budgets))) for k, v in params.items()}
    column = np.repeat(budgets, n_groups)[None, :]
    out = optimum(fit.spec.law, tiled, column, method=method)
    edge = out["at_edge"]
    if edge.any():
        warnings.warn(
            f"for {edge.mean():.1%} of draws the loss keeps falling towards the edge of the "
            f"searched range (D/N from {RATIO_RANGE[0]:g} to {RATIO_RANGE[1]:g}): those draws "
            f"have no interior optimum and their N* is the edge value",
            ScalingLawWarning, stacklevel=2,
        )
    return {"rows": rows, **out, "params": tiled}


def _isoflop_draws(fit: Any, budgets: np.ndarray, group: Mapping[str, Any] | None,
                   seed: int) -> dict[str, Any]:
    """:func:`optimal_draws` for the ``isoflop`` law, in closed form: N* = G C^a on the
    population line (``group=None``) or with a group's offsets (``{"budget": "new"}``
    draws a new budget's vertex offset from the population)."""
    _x64()
    if group is None:
        post = fit.idata.posterior
        params = {p: post[p].to_numpy().reshape(-1, 1) for p in fit.spec.law.param_names}
        rows = pd.DataFrame({"compute": budgets})
    else:
        groups = _groups(fit, group)
        params = _param_draws(fit, groups, seed)
        rows = pd.DataFrame([{"compute": c, **g} for c in budgets for g in groups])
        params = {k: np.tile(np.asarray(v), (1, len(budgets))) for k, v in params.items()}
    column = np.repeat(budgets, len(rows) // len(budgets))[None, :]
    tiled = {k: np.broadcast_to(np.asarray(v), (np.shape(v)[0], column.shape[1]))
             for k, v in params.items()}
    out = {k: np.asarray(v) for k, v in _laws.isoflop_optimum(tiled, column).items()}
    return {"rows": rows, **out, "at_edge": np.zeros(out["N"].shape, dtype=bool),
            "params": tiled}


def _summarise(draws: np.ndarray, lo: float, hi: float) -> dict[str, np.ndarray]:
    return {"median": np.median(draws, axis=0), "lower": np.quantile(draws, lo, axis=0),
            "upper": np.quantile(draws, hi, axis=0)}


def compute_optimal(fit: Any, compute: float | Sequence[float],
                    group: Mapping[str, Any] | None = None, interval: float = 0.9,
                    method: str = "auto", seed: int = 0) -> pd.DataFrame:
    """The posterior of the compute-optimal allocation for one or more FLOP budgets.

    For each posterior draw, the N and D = C/(6N) that minimise the law at budget C
    (closed form for Chinchilla and the over-training law, numerical otherwise; see
    :func:`optimum`); the table summarises those per-draw optima.

    Parameters
    ----------
    fit : Fit
        A fit of a law of N and D, or of the ``isoflop`` law (N* = G C^a in closed form:
        the population line by default, a budget's offsets with ``group={"budget":
        ...}``).
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
        its ``_median``, ``_lower`` and ``_upper``; ``loss_mean``; ``method``.
        ``attrs["interval"]`` holds the interval mass.

    Examples
    --------
    >>> compute_optimal(fit, compute=[1e21, 1e23, 1e25], group={"dataset": "rpj"})  # doctest: +SKIP
       compute dataset  N_median   N_lower   N_upper  ...
    """
    lo, hi = _interval(interval)
    out = optimal_draws(fit, compute, group=group, method=method, seed=seed)
    table = out["rows"].copy()
    named = {"N": out["N"], "D": out["D"], "tokens_per_param": out["ratio"],
             "loss": out["loss"]}
    for name, draws in named.items():
        for stat, values in _summarise(draws, lo, hi).items():
            table[f"{name}_{stat}"] = values
    table["loss_mean"] = out["loss"].mean(axis=0)
    closed = (_has_closed_form(fit.spec.law) and method != "numerical"
              or fit.spec.law == _laws.get("isoflop"))
    table["method"] = "closed form" if closed else "numerical"
    table.attrs["interval"] = interval
    return table


def plot_frontier(fit: Any, compute: Sequence[float] | None = None,
                  group: Mapping[str, Any] | None = None, interval: float = 0.9,
                  seed: int = 0):
    """The compute-optimal frontier with posterior bands: N*, D*/N* and loss against C.

    Parameters
    ----------
    fit : Fit
        A fit of a law of N and D.
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

    _check_fit(fit)
    _nd_law(fit.spec.law, "plot_frontier")
    variables = fit.design.variables
    fitted_c = 6 * variables["N"] * variables["D"]
    if compute is None:
        compute = np.geomspace(fitted_c.min(), 1e4 * fitted_c.max(), 40)
    budgets = _budgets(compute)
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
    fig.suptitle(f"{fit.spec.law.name}: compute-optimal frontier, median and "
                 f"{interval:.0%} interval (shaded: beyond the fitted runs)", fontsize=10)
    return fig


# ---------------------------------------------------------------------- decision rules


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
    fit : Fit
        A fit of a law of N and D.
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
    _check_fit(fit)
    _nd_law(fit.spec.law, "choose_size")
    budget = _budgets(compute)
    if budget.size != 1:
        raise ScalingLawError(
            f"choose_size decides for one budget, got {budget.size}; call it once per budget "
            f"(compute_optimal takes several)"
        )
    c = float(budget[0])
    if rule not in _RULES:
        raise ScalingLawError(f"rule must be one of {_RULES}, got {rule!r}")
    if point not in _POINTS:
        raise ScalingLawError(f"point must be one of {_POINTS}, got {point!r}")
    if not isinstance(quantile, (int, float)) or not 0 < quantile < 1:
        raise ScalingLawError(f"quantile must be between 0 and 1 (e.g. 0.9), got {quantile!r}")
    if rule == "target" and target is None:
        raise ScalingLawError("rule='target' needs target=<the loss to reach>, e.g. target=2.1")
    if target is not None and not (isinstance(target, (int, float)) and np.isfinite(target)):
        raise ScalingLawError(f"target must be a finite number (a loss), got {target!r}")
    if not isinstance(n_grid, (int, np.integer)) or n_grid < 10:
        raise ScalingLawError(f"n_grid must be an integer >= 10, got {n_grid!r}")
    lo, hi = _interval(interval)
    groups = _groups(fit, group)
    if len(groups) != 1:
        raise ScalingLawError(
            f"choose_size decides for one group, but the model varies by "
            f"{list(fit.spec.factors)} and {len(groups)} combinations are open; pass group= "
            f"with one level each, e.g. {groups[0]}"
        )
    law = fit.spec.law
    params = {k: v[:, 0] for k, v in _param_draws(fit, groups, seed).items()}
    best = optimum(law, params, c)
    log_k = np.log(c / 6.0)

    log_opt = np.log(best["N"])
    low = np.quantile(log_opt, 0.001) - np.log(4.0)
    high = np.quantile(log_opt, 0.999) + np.log(4.0)
    grid = np.linspace(low, high, n_grid)
    expanded = {k: v[:, None] for k, v in params.items()}

    def losses(log_n: np.ndarray) -> np.ndarray:
        return _evaluate(law, expanded, log_n[None, :], log_k - log_n[None, :])

    on_grid = losses(grid)                                          # (draws, grid)

    def score(values: np.ndarray) -> np.ndarray:
        if rule == "expected":
            return values.mean(axis=0)
        if rule == "quantile":
            return np.quantile(values, quantile, axis=0)
        return (values > target).mean(axis=0)

    scores = score(on_grid)
    if rule == "target":
        ties = np.flatnonzero(scores == scores.min())
        k = int(ties[np.argmin(on_grid[:, ties].mean(axis=0))])
        log_choice = grid[k]
    else:
        k = int(np.argmin(scores))
        a, b = grid[max(k - 1, 0)], grid[min(k + 1, n_grid - 1)]
        log_choice = float(_golden(lambda x: np.array([score(losses(np.atleast_1d(x)))[0]]),
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


# --------------------------------------------------------------------- probabilities


def _model_columns(fit: Any) -> set[str]:
    spec = fit.spec
    cols = set(spec.inputs.values()) | set(spec.factors)
    if spec.run:
        cols.add(spec.run)
    return cols


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
    for f in fit.spec.factors:
        if f in config:
            _levels_known(fit, f, [str(config[f])], what)
    return dict(config)


def _check_complete(fit: Any, frame: pd.DataFrame, what: str) -> None:
    needed = [*fit.spec.inputs.values(), *fit.spec.factors]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ScalingLawError(
            f"{what} does not say {missing}: give the inputs {list(fit.spec.inputs.values())} "
            f"in at= and a level of each factor {list(fit.spec.factors)} in at= or in the "
            f"configurations"
        )


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
    fit : Fit
        The fitted model (of ``a``, and of ``b`` unless ``fit_b`` is given).
    a, b : dict, optional
        Columns that make each configuration, e.g. ``{"dataset": "rpj"}`` (levels of any
        factor; a level never fitted is drawn from the population). They override ``at``.
    at : dict or DataFrame
        The scale(s): the inputs, e.g. ``{"N": 7e9, "D": 1.4e11}``, and any factor levels
        both share; lists give several scales.
    rope : float
        Half-width of the region of practical equivalence, in target units: differences
        within ±rope count as equivalent.
    fit_b : Fit, optional
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
    _check_fit(fit)
    other = fit if fit_b is None else fit_b
    if fit_b is not None:
        _check_fit(fit_b, "fit_b")
        if fit_b.spec.target != fit.spec.target:
            raise ScalingLawError(
                f"fit predicts {fit.spec.target!r} but fit_b predicts {fit_b.spec.target!r}; "
                f"compare fits of the same target"
            )
    if not isinstance(rope, (int, float)) or not np.isfinite(rope) or rope < 0:
        raise ScalingLawError(f"rope must be a number >= 0 (in target units), got {rope!r}")
    lo, hi = _interval(interval)
    a_cfg = _check_config(fit, a, "a")
    b_cfg = _check_config(other, b, "b")
    if fit_b is None and a_cfg == b_cfg:
        raise ScalingLawError(
            f"a and b are the same configuration {a_cfg}; give two different ones (e.g. "
            f"{{'dataset': 'x'}} and {{'dataset': 'y'}}) or a second fit with fit_b="
        )
    scales = _frame(at, "at")
    frame_a = scales.assign(**a_cfg)
    frame_b = scales.assign(**b_cfg)
    _check_complete(fit, frame_a, "a with at")
    _check_complete(other, frame_b, "b with at")
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
    fit : Fit
        The fitted model; its target may be a loss or a downstream error.
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
    _check_fit(fit)
    lo, hi = _interval(interval)
    rows = _frame(at, "at")
    _check_complete(fit, rows, "at")
    try:
        goal = np.broadcast_to(np.asarray(target, dtype=np.float64), (len(rows),))
    except (TypeError, ValueError):
        raise ScalingLawError(
            f"target must be a number or one number per row of at ({len(rows)} rows), got "
            f"{target!r}"
        ) from None
    if not np.isfinite(goal).all():
        raise ScalingLawError(f"target must be finite, got {target!r}")
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


# ---------------------------------------------------------------------------- next run


def _noise(fit: Any, draws: Mapping[str, Any], rows: slice) -> tuple[np.ndarray, Any]:
    """Observation-noise scale per draw and row (likelihood scale) and nu (or None).

    ``draws`` is the output of ``fit.predict_draws``. A row is a new run: with a run factor
    its offset is folded into the scale (exact for Normal noise, an approximation for
    Student-t).
    """
    post = fit.draws()
    scale = np.asarray(draws["scale"])[:, rows]
    if "run_sd" in post:
        scale = np.sqrt(scale**2 + post["run_sd"][:, None] ** 2)
    return scale, post.get("nu")


def _logpdf(y: np.ndarray, loc: np.ndarray, scale: np.ndarray, nu: np.ndarray | None):
    from scipy.special import gammaln

    z = (y - loc) / scale
    if nu is None:
        return -0.5 * z**2 - np.log(scale)
    return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu)
            - (nu + 1) / 2 * np.log1p(z**2 / nu) - np.log(scale))


def _weighted_spread(values: np.ndarray, weights: np.ndarray, measure: str, lo: float,
                     hi: float) -> np.ndarray:
    """Interval width or variance of ``values`` (S,) under each row of ``weights`` (J, S)."""
    if measure == "variance":
        mean = weights @ values
        return weights @ values**2 - mean**2
    order = np.argsort(values)
    sorted_values = values[order]
    w = weights[:, order]
    # each draw sits at the middle of its probability mass: interpolated quantiles that
    # move smoothly with the weights (for equal weights, the usual midpoint rule)
    position = np.cumsum(w, axis=1) - w / 2
    out = np.empty(len(w))
    for j in range(len(w)):
        low, high = np.interp([lo, hi], position[j], sorted_values)
        out[j] = high - low
    return out


def _costs(fit: Any, candidates: pd.DataFrame, cost: Any) -> np.ndarray:
    spec = fit.spec
    if cost is None:
        if set(spec.law.variables) != {"N", "D"}:
            raise ScalingLawError(
                f"the default cost is the compute 6ND, but law {spec.law.name!r} takes "
                f"{list(spec.law.variables)}; pass cost= (a column name, an array or a "
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

    The re-weighted posteriors rest on the existing draws: ``ess_mean`` and ``ess_min``
    (effective sample size of the weights, mean and 10% quantile over simulations) say
    how many. A very informative candidate collapses the weights onto few draws; below
    :data:`ESS_WARN` a warning says to refit with more draws.

    Parameters
    ----------
    fit : Fit
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
    _check_fit(fit)
    if measure not in _MEASURES:
        raise ScalingLawError(f"measure must be one of {_MEASURES}, got {measure!r}")
    if not isinstance(n_sim, (int, np.integer)) or n_sim < 10:
        raise ScalingLawError(f"n_sim must be an integer >= 10, got {n_sim!r}")
    lo, hi = _interval(interval)
    cands = _frame(candidates, "candidates")
    goal = _frame(target, "target")
    _check_complete(fit, cands, "candidates")
    _check_complete(fit, goal, "target")
    costs = _costs(fit, cands, cost)

    _x64()
    spec = fit.spec
    n_goal = len(goal)
    # one prediction call, so that a new level shared by target and candidates is one draw
    joint = pd.concat([goal, cands], ignore_index=True)
    out = fit.predict_draws(joint, seed=seed)
    quantity = (out["observed"] if predictive else out["law"])[:, :n_goal]      # (S, T)
    loc = np.asarray(transform_target(spec, out["law"][:, n_goal:]))          # (S, C)
    rng = np.random.default_rng(seed)
    scale, nu = _noise(fit, out, slice(n_goal, None))
    n_draws = loc.shape[0]

    pick = rng.integers(n_draws, size=n_sim)
    eps = rng.standard_normal(n_sim)
    if nu is not None:
        eps = eps / np.sqrt(rng.chisquare(nu[pick]) / nu[pick])
    nu_row = None if nu is None else nu[None, :]

    uniform = np.full((1, n_draws), 1.0 / n_draws)
    now = np.mean([_weighted_spread(quantity[:, t], uniform, measure, lo, hi)[0]
                   for t in range(n_goal)])
    after, se, ess_mean, ess_min = (np.empty(len(cands)) for _ in range(4))
    for c in range(len(cands)):
        y = loc[pick, c] + scale[pick, c] * eps                               # (J,)
        logw = _logpdf(y[:, None], loc[None, :, c], scale[None, :, c], nu_row)  # (J, S)
        logw -= logw.max(axis=1, keepdims=True)
        w = np.exp(logw)
        w /= w.sum(axis=1, keepdims=True)
        ess = 1.0 / (w**2).sum(axis=1)
        spread = np.mean([_weighted_spread(quantity[:, t], w, measure, lo, hi)
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


# --- repeated data ------------------------------------------------------------------------


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
    fit : Fit
        A fit of a law with variables ``D`` and ``U_D`` (``data_constrained``).
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
    _check_fit(fit)
    lo, hi = _interval(interval)
    inputs = dict(fit.spec.inputs)
    if "D" not in inputs or "U_D" not in inputs:
        raise ScalingLawError(f"epochs_worth_it needs a law with variables D and U_D (the "
                              f"data_constrained law); this fit's law "
                              f"{fit.spec.law.name!r} has {list(fit.spec.law.variables)}")
    ks = np.unique(np.concatenate([[1.0], np.asarray(epochs, dtype=float).ravel()]))
    if not np.all(np.isfinite(ks)) or ks.min() < 1:
        raise ScalingLawError(f"epochs must be finite numbers >= 1 (fewer than one epoch "
                              f"means more unique tokens than tokens); got {list(epochs)}")
    for name, what in ((tolerance, "tolerance"), (confidence, "confidence")):
        if not (_is_numeric(name) and 0 < name < 1):
            raise ScalingLawError(f"{what} must be a number in (0, 1), got {name!r}")
    row = _frame(dict(at), "at")
    if len(row) != 1 or inputs["U_D"] in row.columns:
        raise ScalingLawError(f"at must describe one run without the unique-token column "
                              f"{inputs['U_D']!r} (it is set to D/k); got columns "
                              f"{list(row.columns)} and {len(row)} rows")
    frame = row.loc[row.index.repeat(len(ks))].reset_index(drop=True)
    unique = np.asarray(pd.to_numeric(frame[inputs["D"]]), dtype=float) / ks
    frame[inputs["U_D"]] = unique
    if unique_params is not None and "U_N" in inputs:
        frame[inputs["U_N"]] = np.asarray(unique_params(unique), dtype=float)
    law = np.asarray(fit.predict_draws(frame, seed=seed)["law"], dtype=float)
    penalty = 100.0 * (law / law[:, :1] - 1.0)
    table = pd.DataFrame({"epochs": ks, "unique_tokens": unique})
    for name, draws in (("loss", law), ("penalty_%", penalty)):
        for stat, values in _summarise(draws, lo, hi).items():
            table[f"{name}_{stat}"] = values
    table["prob_within"] = (penalty <= 100.0 * tolerance).mean(axis=0)
    ok = table.loc[table["prob_within"] >= confidence, "epochs"]
    table.attrs.update(interval=interval, tolerance=tolerance, confidence=confidence,
                       worth_it=float(ok.max()) if len(ok) else float("nan"))
    return table
