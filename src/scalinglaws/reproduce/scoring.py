"""Scores of held-out predictions and the sampler's health, shared by every study.

:func:`score_targets` scores posterior draws of held-out targets against the truth (point
error and interval coverage), :func:`score_frame` the same from quantiles already computed,
:func:`are` is the Hitchhiker's absolute relative error; :func:`fit_diagnostics` is a fit's
row of a sampler table and :func:`convergence_notes` the plain warning for fits whose
chains disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ScalingLawError
from ..fit import Fit

#: Mass of every interval in the tables.
INTERVAL = 0.9


def quantiles(draws: np.ndarray, interval: float = INTERVAL) -> tuple[np.ndarray, ...]:
    """Median and central ``interval`` of ``draws`` (shape ``(draws, ...)``) along axis 0."""
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    return (np.median(draws, axis=0), np.quantile(draws, lo, axis=0),
            np.quantile(draws, hi, axis=0))


def score_targets(truth: Sequence[float], point: np.ndarray, predictive: np.ndarray,
                  interval: float = INTERVAL) -> pd.DataFrame:
    """Score predictions of held-out targets against the truth.

    Parameters
    ----------
    truth : sequence of float
        Observed value of each target.
    point : ndarray, shape (draws, targets)
        Posterior draws of the noise-free prediction; its median is the point prediction.
    predictive : ndarray, shape (draws, targets)
        Posterior-predictive draws of a new observation (with noise); its central
        ``interval`` is the interval that should contain the truth.
    interval : float
        Mass of the interval.

    Returns
    -------
    DataFrame
        ``truth``, ``median``, ``lower``, ``upper``, ``covered`` and ``rel_err_%``
        (``100 |median - truth| / truth``), one row per target.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> law = 2.0 + 0.01 * rng.standard_normal((4000, 2))
    >>> obs = law + 0.02 * rng.standard_normal((4000, 2))
    >>> out = score_targets([2.01, 2.2], law, obs)
    >>> out["covered"].tolist(), out["rel_err_%"].round(1).tolist()
    ([True, False], [0.5, 9.1])
    """
    truth = np.asarray(truth, dtype=float)
    point, predictive = np.atleast_2d(point), np.atleast_2d(predictive)
    if point.shape[1] != truth.size or predictive.shape[1] != truth.size:
        raise ScalingLawError(
            f"score_targets: {truth.size} truths but draws for {point.shape[1]} and "
            f"{predictive.shape[1]} targets; give arrays of shape (draws, targets)"
        )
    _, lower, upper = quantiles(predictive, interval)
    return score_frame(truth, np.median(point, axis=0), lower, upper)


def score_frame(truth: np.ndarray, median: np.ndarray, lower: np.ndarray,
                upper: np.ndarray) -> pd.DataFrame:
    """``truth``, ``median``, ``lower``, ``upper``, ``covered`` and ``rel_err_%``."""
    return pd.DataFrame({
        "truth": truth, "median": median, "lower": lower, "upper": upper,
        "covered": (lower <= truth) & (truth <= upper),
        "rel_err_%": 100 * np.abs(median - truth) / np.abs(truth),
    })


def are(truth: Sequence[float], prediction: Sequence[float]) -> float:
    """Absolute relative error, mean |L - L_hat| / L (the Hitchhiker's metric).

    >>> round(are([2.0, 4.0], [2.1, 3.8]), 4)
    0.05
    """
    truth = np.asarray(truth, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    if truth.shape != prediction.shape or truth.size == 0:
        raise ScalingLawError(f"are: truth {truth.shape} and prediction {prediction.shape} "
                              f"must be non-empty arrays of one shape")
    return float(np.mean(np.abs(truth - prediction) / np.abs(truth)))


def fit_diagnostics(name: str, fit: Any) -> dict[str, Any]:
    """A fit's row of a sampler table: rows, chains, draws, divergences, worst R-hat,
    smallest bulk and tail ESS, mean leapfrog steps per draw and the number of warnings."""
    stats = fit.idata.sample_stats
    post = fit.idata.posterior
    # the sampler's own sites (a Fit's default summary shows natural per-group values,
    # whose R-hat can hide a worse site such as a between-group spread)
    summary = fit.summary(sites=True) if isinstance(fit, Fit) else fit.summary()
    rows = len(fit.data())
    return {"fit": name, "rows": rows,
            "chains": int(post.sizes["chain"]), "draws": int(post.sizes["draw"]),
            "divergences": int(stats["diverging"].sum()),
            "max_r_hat": float(summary["r_hat"].max()),
            "min_ess_bulk": float(summary["ess_bulk"].min()),
            "min_ess_tail": float(summary["ess_tail"].min()),
            "mean_steps": float(stats["n_steps"].mean()) if "n_steps" in stats else np.nan,
            "warnings": len(fit.warnings)}


#: R-hat above which a fit's numbers are flagged as not evidence.
RHAT_UNRELIABLE = 1.1


def convergence_notes(diagnostics: pd.DataFrame) -> list[str]:
    """A plain warning for every fit whose chains disagree (R-hat above 1.1)."""
    bad = diagnostics[diagnostics["max_r_hat"] > RHAT_UNRELIABLE]
    if bad.empty:
        return []
    fits = "; ".join(f"{row.fit} (R-hat {row.max_r_hat:.2f}, bulk ESS {row.min_ess_bulk:.0f})"
                     for row in bad.itertuples())
    return [f"NOT CONVERGED: {fits}. Their chains disagree, so the rows that come from them "
            f"are not reliable evidence; more warmup or a GPU would be needed."]
