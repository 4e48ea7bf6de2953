"""Matplotlib figures of fits: data, posterior median and bands, extrapolation region.

Every function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show()``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.ticker import (
    FixedLocator,
    Formatter,
    Locator,
    LogLocator,
    MaxNLocator,
    NullFormatter,
)

from ._checks import (
    check_count,
    check_fraction,
    check_interval,
    factor_labels,
    is_finite_number,
)
from ._warnings import filtered
from .data import as_frame, check_positive, numeric_column
from .errors import ScalingLawError, ScalingLawWarning

# --- readable log axes --------------------------------------------------------------------

#: Mantissas of the ticks a log axis tries, coarsest first; the first set that puts at
#: least :data:`MIN_TICKS` ticks in view wins (a loss axis from 2.3 to 6 gets 2.5, 3,
#: 4, 5, 6).
MANTISSAS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0),
             (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0))
#: Fewest and most labelled ticks on a log axis.
MIN_TICKS, MAX_TICKS = 4, 7


def plain_number(value: float, digits: int = 3) -> str:
    """A tick label as a plain number: ``2.5``, ``3``, ``0.15``, ``1e21``.

    >>> [plain_number(v) for v in (2.5, 3.0, 0.15000000000000002, 7e9, 1.8e21, 2e-5)]
    ['2.5', '3', '0.15', '7e9', '1.8e21', '2e-5']
    """
    mantissa, _, exponent = f"{value:.{digits}g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


class PlainLogLocator(Locator):
    """Ticks of a log axis at round numbers, :data:`MIN_TICKS` or more in view.

    Over several decades the ticks are powers of ten; within a decade or two they are
    round mantissas (``1, 2, 5`` or ``2.5, 3, 4, 5``; see :data:`MANTISSAS`), so a loss
    axis reads ``3 4 5`` rather than ``3×10⁰``; on a range too narrow for those, evenly
    spaced round numbers. At most :data:`MAX_TICKS` are kept.

    >>> PlainLogLocator().tick_values(2.3, 6.0).tolist()
    [2.5, 3.0, 4.0, 5.0, 6.0]
    >>> PlainLogLocator().tick_values(1e16, 1e23).tolist()
    [1e+16, 1e+18, 1e+20, 1e+22]
    """

    def __call__(self):
        lo, hi = self.axis.get_view_interval()
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = sorted((float(vmin), float(vmax)))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0:
            return np.array([])
        decades = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
        for mantissas in MANTISSAS:
            ticks = [float(f"{m * 10.0 ** k:.12g}") for k in decades for m in mantissas]
            ticks = [t for t in ticks if lo <= t <= hi]
            if len(ticks) >= MIN_TICKS:
                step = int(np.ceil(len(ticks) / MAX_TICKS))
                return np.array(ticks[::step])
        return np.array([t for t in MaxNLocator(4).tick_values(lo, hi) if lo <= t <= hi])


class PlainFormatter(Formatter):
    """Tick labels as plain numbers (:func:`plain_number`), with as many digits as it takes
    to tell neighbouring ticks apart."""

    def __call__(self, x, pos=None) -> str:
        return plain_number(x)

    def format_ticks(self, values) -> list[str]:
        labels = [plain_number(v) for v in values]
        for digits in range(4, 9):
            if len(set(labels)) == len(labels):
                break
            labels = [plain_number(v, digits) for v in values]
        return labels


def plain_log_ticks(axis) -> None:
    """Label a log-scaled axis (``ax.yaxis``) with plain round numbers.

    Major ticks from :class:`PlainLogLocator` labelled ``2.5``, ``3``, ``4``; minor
    ticks at 2-9 times each power of ten, unlabelled.
    """
    axis.set_major_locator(PlainLogLocator())
    axis.set_major_formatter(PlainFormatter())
    axis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10), numticks=100))
    axis.set_minor_formatter(NullFormatter())


def _scale_ticks(ax, values: np.ndarray) -> None:
    """x ticks of a log axis at the scales of the points shown (held-out runs).

    Few distinct scales get a tick each (thinned so that labels never meet: neighbours
    at least a fifth of the axis apart in log); many get :func:`plain_log_ticks`. A lone
    scale is centred in half a decade either side.
    """
    values = np.unique(values[np.isfinite(values) & (values > 0)])
    if values.size == 0:
        return
    lo, hi = np.log10(values.min()), np.log10(values.max())
    pad = max(0.15 * (hi - lo), 0.25)
    ax.set_xlim(10 ** (lo - pad), 10 ** (hi + pad))
    if values.size > 6:
        plain_log_ticks(ax.xaxis)
        return
    span = hi - lo + 2 * pad
    kept = [values[0]]
    for v in values[1:]:
        if np.log10(v / kept[-1]) >= span / 5:
            kept.append(v)
    ax.xaxis.set_major_locator(FixedLocator(kept))
    ax.xaxis.set_major_formatter(PlainFormatter())
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10), numticks=100))
    ax.xaxis.set_minor_formatter(NullFormatter())



@contextmanager
def closed_on_error(fig):
    """The block draws on ``fig``; if it raises, ``fig`` is closed (pyplot keeps no
    half-drawn figure) and the error goes on."""
    try:
        yield fig
    except BaseException:
        plt.close(fig)
        raise


def optional_rows(value, what: str) -> pd.DataFrame | None:
    """Rows to mark on a figure: None for None or an empty table, else ``value`` as a
    DataFrame (:func:`~scalinglaws.data.as_frame`: a frame, a dict of columns or a list
    of row dicts), or a :class:`ScalingLawError` naming ``what``."""
    if value is None or (isinstance(value, pd.DataFrame) and value.empty):
        return None
    return as_frame(value, what)


def _panel_factor(fit, by: str | None) -> str | None:
    factors = [f for f in fit.spec.factors if f in fit.design.factors]
    if by is not None:
        if not isinstance(by, str) or by not in fit.design.factors:
            raise ScalingLawError(f"cannot split the plot by {by!r}: the model's factors are "
                                  f"{factors}")
        return by
    return factors[0] if factors else None


def _path(fit, rows: pd.DataFrame, extrapolate: float, points: int = 60) -> pd.DataFrame:
    """Inputs along the curve drawn through ``rows``: compute at the typical M for N/D laws."""
    spec = fit.spec
    variables = spec.law.variables
    if set(variables) == {"N", "D"}:
        n, d = rows[spec.inputs["N"]].to_numpy(), rows[spec.inputs["D"]].to_numpy()
        c = 6 * n * d
        m = float(np.exp(np.median(np.log(d / n))))
        grid = np.geomspace(c.min(), c.max() * extrapolate, points)
        n_path = np.sqrt(grid / (6 * m))
        return pd.DataFrame({spec.inputs["N"]: n_path, spec.inputs["D"]: m * n_path,
                             "_x": grid, "_M": m})
    var = variables[0]
    x = rows[spec.inputs[var]].to_numpy()
    top = x.max() * (extrapolate if var in ("N", "D", "C") else 1.0)
    grid = np.geomspace(x.min(), top, points)
    return pd.DataFrame({spec.inputs[var]: grid, "_x": grid})


def _truth_line(truth, path: pd.DataFrame, level) -> np.ndarray:
    """``truth(path, level)`` as floats, one per row of ``path``, or an error."""
    try:
        line = np.asarray(truth(path, level), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ScalingLawError(f"truth(path, level) must return numbers, one per row of "
                              f"path ({err})") from None
    if line.shape != (len(path),):
        raise ScalingLawError(f"truth(path, level) must return one value per row of path "
                              f"({len(path)}), got shape {line.shape}")
    return line


def _panel_targets(fit, targets: pd.DataFrame | None, rows: pd.DataFrame,
                   factor: str | None, level) -> pd.DataFrame | None:
    """The targets drawn in one panel, as rows ``fit.predict`` takes: the model's input
    columns and every factor (the panel's level, else the panel's most common level)."""
    if targets is None:  # optional_rows: None for no rows
        return None
    spec = fit.spec
    marked = targets
    if factor is not None and factor in targets.columns:  # compared as predict compares
        marked = targets[factor_labels(targets[factor], factor) == str(level)]
    if len(marked) == 0:
        return None
    out = marked[list(spec.inputs.values())].copy()
    for other in spec.factors:
        if other in fit.design.factors:
            if other in marked.columns and other != factor:
                out[other] = marked[other].to_numpy()
            else:
                out[other] = level if other == factor else rows[other].mode().iloc[0]
    return out.reset_index(drop=True)


def _checked_targets(fit, targets: pd.DataFrame, factor: str | None,
                     levels: list) -> pd.DataFrame:
    """``targets`` with the model's input columns read as :meth:`Fit.predict` reads them
    (an error names a column and rows that are not positive numbers); a warning names the
    rows whose level of the panel ``factor`` is none of the panels' ``levels``."""
    missing = [c for c in fit.spec.inputs.values() if c not in targets.columns]
    if missing:
        raise ScalingLawError(f"targets lack the model's input column(s) {missing}; they have "
                              f"{list(targets.columns)}")
    out = targets.copy()
    for var, column in fit.spec.inputs.items():
        values = numeric_column(targets, column, f"target's law variable {var}")
        check_positive(values, targets, column, f"target's law variable {var}")
        out[column] = values
    if factor is not None and factor in targets.columns:
        labels = factor_labels(targets[factor], factor)
        astray = ~np.isin(labels, [str(level) for level in levels])
        if astray.any():
            warnings.warn(
                f"targets rows {list(targets.index[astray])} have {factor} level(s) "
                f"{sorted(set(labels[astray]))}, which are not fitted levels "
                f"({[str(level) for level in levels]}), so they are in no panel",
                ScalingLawWarning, stacklevel=4)
    return out


def _x_of(fit, rows: pd.DataFrame) -> np.ndarray:
    spec = fit.spec
    if set(spec.law.variables) == {"N", "D"}:
        return 6 * rows[spec.inputs["N"]].to_numpy() * rows[spec.inputs["D"]].to_numpy()
    return rows[spec.inputs[spec.law.variables[0]]].to_numpy()


def plot_fit(fit, by: str | None = None, interval: float = 0.9, extrapolate: float = 10.0,
             truth=None, targets: pd.DataFrame | None = None):
    """One panel per level of ``by`` (default: the first factor the model varies by).

    Points are the fitted data (coloured by tokens per parameter for N/D laws); the line
    and band are the posterior median and ``interval`` credible band of the noise-free
    law, the lighter band the posterior-predictive interval; the shaded region is beyond
    the largest fitted run (extrapolation). Stars mark ``targets``: each at its posterior
    median with its ``interval`` predictive interval, and the curve runs past the
    largest of them. A loss on a log axis is labelled with plain numbers (``3 4 5``).

    Parameters
    ----------
    fit : Fit
    by : str, optional
        Factor to split panels by.
    interval : float
        Mass of the bands.
    extrapolate : float
        How far past the largest fitted x the curve runs (a factor); at least to 1.25
        times the largest target.
    truth : callable, optional
        ``truth(path_frame, level) -> array`` drawn as a dashed line (for synthetic data).
    targets : DataFrame or dict of columns, optional
        Rows to predict and mark: the model's input columns, and a level of the panel
        factor to put a row in one panel (without it, a row is in every panel). For
        laws of N and D, a target's x is its compute 6ND, and its star sits at its own
        D/N, which may differ from the curve's.

    >>> fig = fit.plot()  # doctest: +SKIP
    """
    check_interval(interval)
    if not is_finite_number(extrapolate) or extrapolate < 1:
        raise ScalingLawError(f"extrapolate must be a factor >= 1 (how far past the largest "
                              f"fitted run the curve runs, e.g. 10), got {extrapolate!r}")
    if truth is not None and not callable(truth):
        raise ScalingLawError(f"truth must be a function (path frame, level) -> array, got "
                              f"{truth!r}"[:300])
    targets = optional_rows(targets, "targets")
    spec = fit.spec
    data = fit.data()
    factor = _panel_factor(fit, by)
    levels = list(fit.design.factors[factor].levels) if factor else [None]
    if targets is not None:
        targets = _checked_targets(fit, targets, factor, levels)
    ncols = min(3, len(levels))
    nrows = int(np.ceil(len(levels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False,
                             sharey=True, constrained_layout=True)
    nd = set(spec.law.variables) == {"N", "D"}
    xlabel = "compute C = 6ND (FLOPs)" if nd else spec.inputs[spec.law.variables[0]]
    norm = None
    if nd:
        ratio = data[spec.inputs["D"]] / data[spec.inputs["N"]]
        norm = LogNorm(vmin=ratio.min(), vmax=max(ratio.max(), ratio.min() * 1.01))
    scatter = None
    with closed_on_error(fig):  # a target or truth line that cannot be drawn
        for ax, level in zip(axes.flat, levels, strict=False):
            rows = data if level is None else data[data[factor] == level]
            x_data = _x_of(fit, rows)
            marked = _panel_targets(fit, targets, rows, factor, level)
            reach = extrapolate
            if marked is not None:
                reach = max(extrapolate, 1.25 * float(_x_of(fit, marked).max() / x_data.max()))
            path = _path(fit, rows, reach)
            for other in spec.factors:
                if other in fit.design.factors:
                    path[other] = level if other == factor else rows[other].mode().iloc[0]
            with filtered(("ignore", ScalingLawWarning)):  # the grey region says it
                pred = fit.predict(path.drop(columns=[c for c in path if c.startswith("_")]),
                                   interval=interval)
            x = path["_x"].to_numpy()
            ax.fill_between(x, pred["pred_lower"], pred["pred_upper"], color="C0", alpha=0.12,
                            lw=0, label=f"{interval:.0%} predictive")
            ax.fill_between(x, pred["lower"], pred["upper"], color="C0", alpha=0.35, lw=0,
                            label=f"{interval:.0%} credible")
            ax.plot(x, pred["median"], color="C0", lw=1.6, label="posterior median")
            if truth is not None:
                ax.plot(x, _truth_line(truth, path, level), "k--", lw=1, label="truth")
            ax.axvspan(x_data.max(), x.max(), color="0.9", zorder=0, label="extrapolation")
            if marked is not None:
                with filtered(("ignore", ScalingLawWarning)):  # far targets: by design
                    at = fit.predict(marked, interval=interval)
                mid = at["median"].to_numpy()
                ax.errorbar(_x_of(fit, marked), mid,
                            yerr=np.vstack([mid - at["pred_lower"], at["pred_upper"] - mid]),
                            fmt="*", ms=11, color="C3", mec="k", mew=0.4, lw=1, capsize=3,
                            zorder=4, label="targets")
            style = dict(s=14, edgecolor="k", linewidth=0.3, zorder=3)
            if nd:
                colour = rows[spec.inputs["D"]] / rows[spec.inputs["N"]]
                scatter = ax.scatter(x_data, rows[spec.target], c=colour, cmap="viridis", norm=norm,
                                     **style)
            else:
                ax.scatter(x_data, rows[spec.target], color="k", **style)
            ax.set_xscale("log")
            if spec.scale == "log":
                ax.set_yscale("log")
            title = f"{factor} = {level}" if level is not None else spec.law.name
            if nd:
                title += f"  (curve at D/N = {path['_M'].iloc[0]:.3g})"
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in axes.flat[len(levels):]:
        ax.set_visible(False)
    if spec.scale == "log":
        for ax in axes.flat[:len(levels)]:
            plain_log_ticks(ax.yaxis)
    axes[0, 0].set_ylabel(spec.target)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    if nd and scatter is not None:
        bar = fig.colorbar(scatter, ax=axes, label="tokens per parameter D/N", shrink=0.8)
        plain_log_ticks(bar.ax.yaxis)
    fig.suptitle(f"{spec.law.name}: posterior fit and extrapolation", fontsize=11)
    return fig


def save_figure(fig, path) -> None:
    """Write ``fig`` to ``path`` (PNG by extension) and close it."""
    fig.savefig(path, dpi=130)
    plt.close(fig)


# --- model comparison and extrapolation validation ---------------------------------------

def plot_comparison(table):
    """ArviZ's comparison plot (elpd with standard errors) of a :func:`~scalinglaws.compare`
    table.

    >>> fig = plot_comparison(sl.compare({"a": fit_a, "b": fit_b}))  # doctest: +SKIP
    """

    import arviz as az

    ranked = table.attrs.get("arviz")
    if ranked is None:
        raise ScalingLawError("plot_comparison needs the table returned by sl.compare()")
    height = 1.0 + 0.45 * len(ranked)
    fig, ax = plt.subplots(figsize=(7.0, height), constrained_layout=True)
    with filtered(("ignore", Warning)):  # ArviZ sorts with pandas' deprecated inplace=
        az.plot_compare(ranked, ax=ax, insample_dev=False, textsize=9, title=False,
                        legend=False)
    ax.set_title("PSIS-LOO expected log predictive density (higher is better)", fontsize=10)
    return fig


def plot_calibration(result, bins: int | None = None):
    """Calibration of held-out predictions: PIT histogram and interval coverage.

    Left: the probability integral transform of every held-out run, per model (a
    calibrated model gives a flat histogram; a U shape means intervals too narrow, a
    hump too wide). Right: empirical against nominal coverage of central predictive
    intervals, with the 90% band a calibrated model would stay in.

    Parameters
    ----------
    result : Extrapolation
        From :func:`scalinglaws.validate.extrapolation`.
    bins : int, optional
        Histogram bins (default: about sqrt of the number of held-out runs, 4 to 10).

    >>> fig = plot_calibration(result)  # doctest: +SKIP
    """
    from scipy.stats import binom

    if bins is not None:
        check_count(bins, "bins", 1, 10_000, " (histogram bins)")
    points = result.points
    models = result.models
    n_max = max(int((points["model"] == m).sum()) for m in models)
    bins = bins or int(np.clip(round(np.sqrt(n_max)), 4, 10))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.8), constrained_layout=True)
    edges = np.linspace(0, 1, bins + 1)
    for i, name in enumerate(models):
        pit = points.loc[points["model"] == name, "pit"].to_numpy()
        left.hist(pit, bins=edges, density=True, histtype="step", lw=1.8, color=f"C{i}",
                  label=f"{name} ({len(pit)} runs)")
    lo, hi = (binom.ppf([0.05, 0.95], n_max, 1 / bins) * bins / n_max)
    left.axhspan(lo, hi, color="0.85", zorder=0, label="90% range if calibrated")
    left.axhline(1.0, color="k", lw=0.8, ls="--")
    left.set_xlim(0, 1)
    left.set_xlabel("PIT: predictive probability below the observed value")
    left.set_ylabel("density")
    left.set_title("PIT histogram of held-out runs", fontsize=10)
    left.legend(fontsize=7)

    levels = np.linspace(0.05, 0.95, 19)
    table = result.coverage(levels=levels)
    for i, name in enumerate(models):
        rows = table[table["model"] == name]
        right.plot(rows["nominal"], rows["empirical"], "o-", ms=3, color=f"C{i}", label=name)
    rows = table[table["model"] == models[0]]
    right.fill_between(rows["nominal"], rows["band_lower"], rows["band_upper"], color="0.85",
                       zorder=0, label="90% band if calibrated")
    right.plot([0, 1], [0, 1], "k--", lw=0.8)
    right.set_xlim(0, 1)
    right.set_ylim(-0.02, 1.02)
    right.set_xlabel("nominal mass of the central predictive interval")
    right.set_ylabel("held-out runs inside")
    right.set_title("interval coverage", fontsize=10)
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Calibration when extrapolating ({result.target}, held out by {result.by})",
                 fontsize=11)
    return fig


def plot_holdout(result, interval: float | None = None):
    """Held-out runs against their predictions: one panel per threshold.

    Each held-out run is a point at its scale (x) and its relative error
    ``median / observed - 1`` (y); the bar is its ``interval`` predictive interval in the
    same units, so a bar crossing zero means the interval contains the observation.
    Models are offset slightly along x; the x ticks are the held-out scales themselves
    (thinned so that labels never overlap).

    >>> fig = plot_holdout(result)  # doctest: +SKIP
    """
    interval = max(result.intervals) if interval is None else check_fraction(interval,
                                                                             "interval")
    if interval not in result.intervals:
        raise ScalingLawError(f"interval {interval} was not scored; choose one of "
                              f"{list(result.intervals)}")
    tag = f"{100 * interval:g}".replace(".", "_")
    thresholds = result.thresholds
    models = result.models
    ncols = min(3, len(thresholds))
    nrows = int(np.ceil(len(thresholds) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False,
                             sharey=True, constrained_layout=True)
    points = result.points
    for ax, t in zip(axes.flat, thresholds, strict=False):
        for i, name in enumerate(models):
            p = points[(points["model"] == name) & (points["threshold"] == t)]
            shift = 1.0 + 0.06 * (i - (len(models) - 1) / 2)
            x = p[result.by].to_numpy() * shift
            obs = p["observed"].to_numpy()
            mid = p["median"].to_numpy() / obs - 1
            err = np.vstack([mid - (p[f"lower_{tag}"].to_numpy() / obs - 1),
                             (p[f"upper_{tag}"].to_numpy() / obs - 1) - mid])
            ax.errorbar(x, 100 * mid, yerr=100 * np.clip(err, 0, None), fmt="o", ms=3.5,
                        lw=1, capsize=2, color=f"C{i}", label=name)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        _scale_ticks(ax, points.loc[points["threshold"] == t, result.by].to_numpy(float))
        ax.set_title(f"fitted on {result.by} < {t:.3g}", fontsize=9)
        ax.set_xlabel(result.by)
        ax.grid(alpha=0.3, lw=0.4)
    for ax in axes.flat[len(thresholds):]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel(f"prediction error (%), {interval:.0%} predictive bar")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(models), 6),
               fontsize=8, frameon=False)
    fig.suptitle(f"Held-out larger runs: {result.target}", fontsize=11)
    return fig
