"""Matplotlib figures of fits: data, posterior median and bands, extrapolation region.

Every function returns a ``matplotlib.figure.Figure`` and never calls ``plt.show()``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from .errors import ScalingLawError


def _panel_factor(fit, by: str | None) -> str | None:
    factors = [f for f in fit.spec.factors if f in fit.design.factors]
    if by is not None:
        if by not in fit.design.factors:
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


def _x_of(fit, rows: pd.DataFrame) -> np.ndarray:
    spec = fit.spec
    if set(spec.law.variables) == {"N", "D"}:
        return 6 * rows[spec.inputs["N"]].to_numpy() * rows[spec.inputs["D"]].to_numpy()
    return rows[spec.inputs[spec.law.variables[0]]].to_numpy()


def plot_fit(fit, by: str | None = None, interval: float = 0.9, extrapolate: float = 10.0,
             truth=None):
    """One panel per level of ``by`` (default: the first factor the model varies by).

    Points are the fitted data (coloured by tokens per parameter for N/D laws); the line
    and band are the posterior median and ``interval`` credible band of the noise-free
    law, the lighter band the posterior-predictive interval; the shaded region is beyond
    the largest fitted run (extrapolation).

    Parameters
    ----------
    fit : Fit
    by : str, optional
        Factor to split panels by.
    interval : float
        Mass of the bands.
    extrapolate : float
        How far past the largest fitted x the curve runs (a factor).
    truth : callable, optional
        ``truth(path_frame, level) -> array`` drawn as a dashed line (for synthetic data).

    >>> fig = fit.plot()  # doctest: +SKIP
    """
    spec = fit.spec
    data = fit.data()
    factor = _panel_factor(fit, by)
    levels = list(fit.design.factors[factor].levels) if factor else [None]
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
    for ax, level in zip(axes.flat, levels, strict=False):
        rows = data if level is None else data[data[factor] == level]
        path = _path(fit, rows, extrapolate)
        for other in spec.factors:
            if other in fit.design.factors:
                path[other] = level if other == factor else rows[other].mode().iloc[0]
        pred = fit.predict(path.drop(columns=[c for c in path if c.startswith("_")]),
                           interval=interval)
        x = path["_x"].to_numpy()
        ax.fill_between(x, pred["pred_lower"], pred["pred_upper"], color="C0", alpha=0.12,
                        lw=0, label=f"{interval:.0%} predictive")
        ax.fill_between(x, pred["lower"], pred["upper"], color="C0", alpha=0.35, lw=0,
                        label=f"{interval:.0%} credible")
        ax.plot(x, pred["median"], color="C0", lw=1.6, label="posterior median")
        if truth is not None:
            ax.plot(x, truth(path, level), "k--", lw=1, label="truth")
        x_data = _x_of(fit, rows)
        ax.axvspan(x_data.max(), x.max(), color="0.9", zorder=0, label="extrapolation")
        colour = (rows[spec.inputs["D"]] / rows[spec.inputs["N"]]) if nd else None
        scatter = ax.scatter(x_data, rows[spec.target], c=colour, cmap="viridis", norm=norm,
                             s=14, edgecolor="k", linewidth=0.3, zorder=3,
                             color=None if nd else "k")
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
    axes[0, 0].set_ylabel(spec.target)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    if nd and scatter is not None:
        fig.colorbar(scatter, ax=axes, label="tokens per parameter D/N", shrink=0.8)
    fig.suptitle(f"{spec.law.name}: posterior fit and extrapolation", fontsize=11)
    return fig


def save_figure(fig, path) -> None:
    """Write ``fig`` to ``path`` (PNG by extension) and close it."""
    fig.savefig(path, dpi=130)
    plt.close(fig)
