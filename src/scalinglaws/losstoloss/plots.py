"""Figures of a loss-to-loss fit: the posterior link over the fitted pairs
(:func:`plot_link`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_count, check_interval, is_finite_number, require_columns
from .._warnings import filtered
from ..errors import ScalingLawError, ScalingLawWarning
from ..plotting import closed_on_error, optional_rows, plain_log_ticks


def plot_link(fit, by: str | None = None, interval: float = 0.9,
              x_range: tuple[float, float] | None = None, truth: pd.DataFrame | None = None,
              points: int = 80, targets: pd.DataFrame | None = None):
    """Observed input loss against output, with the posterior link and bands, per group.

    One panel per level of ``by`` (default: the first factor the link varies by). Points
    are the fitted pairs; the line and dark band are the posterior median and
    ``interval`` credible band of the link at a noise-free input loss, the light band the
    predictive band of a new output. For a downstream link this is error against loss.

    Parameters
    ----------
    fit : LossToLossFit
    by : str, optional
        Factor to split panels by.
    interval : float
        Mass of the bands.
    x_range : (float, float), optional
        Input losses the curve spans (default: the data, extended towards E_x).
    truth : DataFrame, optional
        Held-out points to mark (columns ``x``, ``y`` of the model and ``by``), e.g. the
        targets of an extrapolation.
    points : int
        Points along each curve.
    targets : DataFrame, optional
        Rows to predict and mark with stars (as
        :meth:`~scalinglaws.losstoloss.LossToLossFit.predict` takes them:
        the inputs, optionally the factor levels; a row without a level of ``by`` is in
        every panel): each at its predicted input loss (the median latent loss, from the
        compute law unless the row gives ``x``) and the posterior median output, with its
        ``interval`` predictive interval. The curve reaches them.

    Returns
    -------
    matplotlib.figure.Figure

    >>> fig = plot_link(fit, by="dataset_y")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    spec, layout = fit.spec, fit.layout
    lo, hi = check_interval(interval)
    check_count(points, "points", 2, 100_000, " (points along each curve)")
    if x_range is not None:
        ends = (list(x_range) if isinstance(x_range, tuple | list | np.ndarray) else [])
        if len(ends) != 2 or not all(is_finite_number(e) for e in ends) or ends[0] >= ends[1]:
            raise ScalingLawError(f"x_range must be (low, high), two input losses with low < "
                                  f"high, got {x_range!r}"[:300])
    truth = optional_rows(truth, "truth")
    if truth is not None:
        require_columns(truth, [spec.x, spec.y], "truth", "Give the held-out points' input "
                        "and output losses.")
    targets = optional_rows(targets, "targets")
    data = layout.data.iloc[layout.y_rows].copy()
    data["__x"] = layout.xruns["__x"].to_numpy()[layout.xrun_of_row]
    factors = list(spec.link_factors) + [f for f in spec.x_factors
                                         if f not in spec.link_factors]
    if by is not None and (not isinstance(by, str) or by not in data.columns):
        raise ScalingLawError(f"cannot split the plot by {by!r}: it is not a column of the "
                              f"fitted data; the model's factors are {factors}")
    by = by if by is not None else (factors[0] if factors else None)
    levels = sorted(data[by].astype(str).unique()) if by else [None]
    ncols = min(3, len(levels))
    nrows = int(np.ceil(len(levels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False,
                             constrained_layout=True)
    log_axes = spec.link_spec.scale == "log"
    e_med = float(np.median(fit.draws()["x.E"]))
    with closed_on_error(fig):  # a target that cannot be predicted
        for ax, level in zip(axes.flat, levels, strict=False):
            rows = data if level is None else data[data[by].astype(str) == level]
            rows = rows[~np.isnan(rows["__x"])]
            group = {} if level is None else {by: level}
            for f in factors:
                if f != by and f in rows.columns and len(rows):
                    group[f] = str(rows[f].astype(str).mode().iloc[0])
            marked = _marked(fit, targets, by, level, group, interval)
            if x_range is None:
                top = float(rows["__x"].max()) if len(rows) else float(data["__x"].max())
                low = float(rows["__x"].min()) if len(rows) else float(data["__x"].min())
                bottom = e_med + 0.6 * (low - e_med) if "E_x" in spec.link.param_names else low
                if truth is not None:
                    bottom = min(bottom, float(np.min(truth[spec.x])))  # reach the held-out
                if marked is not None:                                  # reach the targets
                    bottom = min(bottom, float(marked["x_median"].min()))
                    top = max(top, float(marked["x_median"].max()))
                grid = np.linspace(bottom, top, points)
            else:
                grid = np.linspace(*x_range, points)
            curve = fit.link_draws(grid, group={k: v for k, v in group.items()
                                                if k in factors})
            ax.fill_between(grid, np.nanquantile(curve["observed"], lo, axis=0),
                            np.nanquantile(curve["observed"], hi, axis=0), color="C0", alpha=0.12,
                            lw=0, label=f"{interval:.0%} predictive")
            ax.fill_between(grid, np.nanquantile(curve["y"], lo, axis=0),
                            np.nanquantile(curve["y"], hi, axis=0), color="C0", alpha=0.35, lw=0,
                            label=f"{interval:.0%} credible")
            ax.plot(grid, np.nanmedian(curve["y"], axis=0), color="C0", lw=1.6,
                    label="posterior median")
            ax.scatter(rows["__x"], rows[spec.y], s=12, color="k", zorder=3, label="fitted pairs")
            if truth is not None:
                held = truth if level is None or by not in truth else truth[
                    truth[by].astype(str) == level]
                if len(held):
                    ax.scatter(held[spec.x], held[spec.y], marker="*", s=90, color="C3", zorder=4,
                               label="held out")
            if marked is not None:
                mid = marked["median"].to_numpy()
                spread = [mid - marked["pred_lower"], marked["pred_upper"] - mid]
                ax.errorbar(marked["x_median"], mid, yerr=np.vstack(spread),
                            fmt="*", ms=11, color="C3", mec="k", mew=0.4, lw=1, capsize=3,
                            zorder=4, label="targets")
            if log_axes:  # plain round numbers, also on a range within one decade
                ax.set_xscale("log")
                ax.set_yscale("log")
                plain_log_ticks(ax.xaxis)
                plain_log_ticks(ax.yaxis)
            ax.set_title(f"{by} = {level}" if level is not None else spec.link.name, fontsize=9)
            ax.set_xlabel(f"{spec.x} (input loss)")
            ax.set_ylabel(spec.y)
            ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in axes.flat[len(levels):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{spec.law.name} -> {spec.link.name}: posterior link", fontsize=11)
    return fig


def _marked(fit, targets: pd.DataFrame | None, by: str | None, level, group: dict,
            interval: float) -> pd.DataFrame | None:
    """The targets of one panel, predicted: those at its level of ``by`` (or without one),
    each factor they do not name at the panel's level."""
    if targets is None:  # optional_rows: None for no rows
        return None
    rows = targets
    if by is not None and by in rows.columns:
        rows = rows[rows[by].astype(str) == str(level)]
    if len(rows) == 0:
        return None
    rows = rows.reset_index(drop=True).assign(**{k: v for k, v in group.items()
                                                 if k not in rows.columns})
    with filtered(("ignore", ScalingLawWarning)):  # far targets: by design
        return fit.predict(rows, interval=interval)
