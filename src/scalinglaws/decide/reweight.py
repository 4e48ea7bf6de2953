"""Importance re-weighting of posterior draws by a simulated observation (no refit).

The fit's noise model per draw (:func:`noise_scale`), its log density (:func:`logpdf`,
Normal or Student-t) and the spread of a quantity under re-weighted draws
(:func:`weighted_spread`): what :func:`scalinglaws.decide.next_run` is built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["logpdf", "noise_scale", "weighted_spread"]


def noise_scale(fit: Any, draws: Mapping[str, Any], rows: slice) -> tuple[np.ndarray, Any]:
    """Observation-noise scale per draw and row (likelihood scale) and nu (or None).

    ``draws`` is the output of ``fit.predict_draws``. A row is a new run: with a run factor
    its offset is folded into the scale (exact for Normal noise, an approximation for
    Student-t).
    """
    post = fit.draws()
    scale = np.asarray(draws["scale"])[:, rows]
    if "run_sd" in post:
        scale = np.sqrt(scale**2 + post["run_sd"][:, None] ** 2)
    return scale, np.asarray(draws["nu"]) if "nu" in draws else None


def logpdf(y: np.ndarray, loc: np.ndarray, scale: np.ndarray, nu: np.ndarray | None):
    from scipy.special import gammaln

    z = (y - loc) / scale
    if nu is None:
        return -0.5 * z**2 - np.log(scale)
    return (gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu)
            - (nu + 1) / 2 * np.log1p(z**2 / nu) - np.log(scale))


def weighted_spread(values: np.ndarray, weights: np.ndarray, measure: str, lo: float,
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

