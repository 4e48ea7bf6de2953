"""The fit protocol: what every fit type offers (:class:`FitLike`) and what its
pointwise log likelihood scores (:class:`Pointwise`), so that compare, validate, decide
and the report take any fit, and :func:`scalinglaws.load` returns any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import arviz as az
import numpy as np
import pandas as pd

#: The columns every fit type's ``predict`` adds after the input columns, in this order.
PREDICT_COLUMNS = ("mean", "median", "lower", "upper", "pred_lower", "pred_upper")
#: The keys of every fit type's ``predict_draws``.
DRAW_KEYS = ("law", "observed", "params")


@runtime_checkable
class FitLike(Protocol):
    """What every fit type offers (:class:`~scalinglaws.Fit`,
    :class:`~scalinglaws.losstoloss.LossToLossFit`), so that compare, validate, decide
    and report can take any of them, and :func:`scalinglaws.load` returns any of them.

    - ``kind``: a class attribute naming the fit type (``"scaling_law"``,
      ``"loss_to_loss"``); :func:`scalinglaws.load` returns the kind that was saved.
    - ``idata`` (ArviZ InferenceData), ``warnings`` (the sampler's diagnostics in plain
      words, a tuple of str) and ``draws()`` (posterior draws, chains flattened).
    - ``summary(interval=0.9)``: one row per parameter (and level) with the columns
      ``mean, sd, median, lower, upper, ess_bulk, ess_tail, r_hat``.
    - ``predict(data, interval=0.9, seed=0, discrepancy=None)``: the input columns, then
      :data:`PREDICT_COLUMNS` (credible interval of the noise-free law, predictive
      interval of a new observation), then any columns of the kind's own.
    - ``predict_draws(data, seed=0, discrepancy=None)``: a dict with at least
      :data:`DRAW_KEYS`, each ``(draws, rows)`` (``params`` a dict of them); it does not
      warn.
    - ``prediction_notes(data)``: what ``predict`` warns of those rows (levels never
      fitted, inputs far beyond the data), a list of str.
    - ``plot(**kwargs)``: a matplotlib Figure (``by=``, ``interval=``, ``truth=`` are
      understood by every kind, and ``targets=``: rows of the inputs and factors to
      predict and mark).
    - ``save(path)``: the netCDF file written, which :func:`scalinglaws.load` reads back.
    - ``data()``: the fitted rows, every column the model reads; ``levels()``: the fitted
      levels of each factor.
    - ``pointwise()``: a :class:`Pointwise`, what the fit's pointwise log likelihood
      scores (PSIS-LOO in :func:`scalinglaws.compare`).
    - ``log_density(data, seed=0)``: ``log p(y_i | theta_s)`` of observed rows' target,
      (draws, rows) (held-out scores in :func:`scalinglaws.validate.extrapolation`).
    - ``spec`` names ``target`` (the column a prediction's ``law`` is of), ``scale`` (of
      the likelihood), ``inputs``, ``factors``, ``columns`` (every column it reads),
      ``law`` (the law of the inputs) and ``target_law`` (the noise-free target over the
      inputs, whose parameters are ``predict_draws``'s ``params``: what the decisions
      search over N and D).

    Arguments a kind adds (``law_prior=`` of a loss-to-loss prediction) are keyword-only.

    >>> isinstance(object(), FitLike)
    False
    """

    kind: ClassVar[str]
    idata: az.InferenceData
    warnings: tuple[str, ...]

    def draws(self) -> dict[str, np.ndarray]: ...

    def summary(self, interval: float = 0.9) -> pd.DataFrame: ...

    def predict(self, data: Any, interval: float = 0.9, seed: int = 0,
                discrepancy: Any = None) -> pd.DataFrame: ...

    def predict_draws(self, data: Any, seed: int = 0, discrepancy: Any = None) -> dict: ...

    def prediction_notes(self, data: Any) -> list[str]: ...

    def plot(self, **kwargs: Any) -> Any: ...

    def save(self, path: str | Path) -> Path: ...

    def data(self) -> pd.DataFrame: ...

    def levels(self) -> dict[str, tuple[str, ...]]: ...

    def pointwise(self) -> Pointwise: ...

    def log_density(self, data: Any, seed: int = 0) -> np.ndarray: ...


@dataclass(frozen=True)
class Pointwise:
    """What a fit's pointwise log likelihood scores: the terms PSIS-LOO sums over.

    Attributes
    ----------
    var : str
        The variable of ``idata.log_likelihood`` with one term per unit.
    units : tuple of str
        The label of each term: a row of a scaling-law fit, an input model (all its
        rows) of a loss-to-loss fit.
    observed : DataFrame
        The observed values the terms score, one row per fitted row (index: the rows'
        labels; columns: the scored columns). Two fits' log likelihoods are comparable
        only when these frames, their scale and their units are the same.
    scale : str
        The scale of the likelihood (``"log"``: densities of ``log y``).
    """

    var: str
    units: tuple[str, ...]
    observed: pd.DataFrame
    scale: str


__all__ = ["DRAW_KEYS", "PREDICT_COLUMNS", "FitLike", "Pointwise"]
