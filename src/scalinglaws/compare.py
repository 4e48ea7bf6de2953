"""Compare fitted models: PSIS-LOO, WAIC and stacking weights (ArviZ), ranked by elpd.

:func:`compare` answers "which model predicts a new run *like the ones we have* best?"
with ArviZ's PSIS-LOO (``az.loo``), WAIC (``az.waic``) and stacking weights
(``az.compare(method="stacking")``); nothing ArviZ computes is re-implemented here. The
question a scaling law is built for, "which model predicts *larger* runs best?", is
answered by leave-largest-scale-out refits: pass ``holdout=`` to add those scores to the
table, or call :func:`scalinglaws.validate.extrapolation` directly.

Comparing log likelihoods only makes sense when every model scores the same numbers:
the same target column, on the same likelihood scale (``log y`` for losses), for the
same rows in the same order. :func:`compare` checks that and raises a
:class:`~scalinglaws.errors.ScalingLawError` that says which fits differ and how.

Examples
--------
>>> import scalinglaws as sl
>>> runs = sl.synthetic.sweep(seed=0)
>>> fits = {name: sl.ScalingModel(name, target="loss", vary={"E": "dataset"}).fit(
...             runs, chains=2, warmup=300, draws=300, progress=False)
...         for name in ("chinchilla", "overtraining")}  # doctest: +SKIP
>>> sl.compare(fits)[["elpd_loo", "se", "elpd_diff", "dse", "weight"]]  # doctest: +SKIP
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from ._checks import check_mapping, check_predict_settings, check_unwritten, is_finite_number
from ._warnings import filtered
from .data import as_frame
from .display import Note
from .errors import ScalingLawError, ScalingLawWarning
from .fitset import check_comparable, comparable_fits
from .prediction import PREDICT_PARTS, interval_columns, written_columns
from .validate import check_refit_data, refit_extrapolation

#: Pareto k above which PSIS-LOO is unreliable for a row (flagged in the table).
K_BAD = 0.7
#: Pareto k above which the row's importance weights have no finite mean.
K_VERY_BAD = 1.0

#: Columns of the comparison table, in order.
COLUMNS = ("rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "elpd_waic",
           "se_waic", "p_waic", "k_ok", "k_bad", "k_very_bad", "k_flag", "sampler_warnings")


class Comparison(pd.DataFrame):
    """The table :func:`compare` returns: a DataFrame with plain-words notes.

    One row per model, ranked by ``elpd_loo`` (best first). ``notes`` (also in
    ``attrs["notes"]``) explains, in words, what to trust and what not; in Jupyter the
    notes are shown under the table. ``attrs["arviz"]`` keeps ArviZ's own comparison
    frame (for :func:`arviz.plot_compare`) and ``attrs["validation"]`` the
    :class:`~scalinglaws.validate.Extrapolation` when ``holdout=`` was given.
    """

    @property
    def _constructor(self):
        return Comparison

    @property
    def notes(self) -> list[str]:
        """Plain-words remarks about the comparison (reliability, close calls).

        Each is a :class:`~scalinglaws.display.Note` (a ``str``) whose ``severity`` is
        ``"info"`` for the ranking and ``"warn"`` where a score is unreliable (Pareto
        k > 0.7, WAIC's own check, sampler problems).
        """
        return list(self.attrs.get("notes", []))

    def _repr_html_(self) -> str:
        return comparison_html(self)


def comparison_html(table: pd.DataFrame) -> str:
    """The comparison table and its notes as an HTML fragment (Jupyter and the report)."""
    shown = pd.DataFrame(table).drop(columns=["scale"], errors="ignore")
    body = shown.to_html(float_format=lambda x: f"{x:.4g}", classes="table", border=0)
    notes = table.attrs.get("notes", [])
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<div class="comparison">{body}' + (f"<ul>{items}</ul>" if items else "") + "</div>"


# --- the comparison ----------------------------------------------------------------------

def _k_counts(k: np.ndarray) -> dict[str, int]:
    return {"k_ok": int((k <= K_BAD).sum()),
            "k_bad": int(((k > K_BAD) & (k <= K_VERY_BAD)).sum()),
            "k_very_bad": int((k > K_VERY_BAD).sum())}


def _notes(table: pd.DataFrame, fits: Mapping[str, Any], waic_warned: list[str],
           bad_rows: Mapping[str, list[str]]) -> list[Note]:
    notes = []
    best = table.index[0]
    if len(table) > 1:
        second = table.index[1]
        diff, dse = table.loc[second, "elpd_diff"], table.loc[second, "dse"]
        # a standard error of 0: every row's difference the same (none: the same fit)
        ratio = diff / dse if dse > 0 else np.inf if diff > 0 else 0.0
        verdict = ("clearly better than" if ratio > 4 else "better than" if ratio > 2
                   else "not distinguishable from")
        notes.append(Note(
            f"{best!r} has the highest expected log predictive density (PSIS-LOO); it is "
            f"{verdict} the runner-up {second!r} (difference {diff:.2f} with standard "
            f"error {dse:.2f}). LOO scores new runs like the fitted ones; it does not test "
            f"extrapolation to larger scales (use holdout= or sl.validate.extrapolation).",
            "info"))
    flagged = {name: rows for name, rows in bad_rows.items() if rows}
    if flagged:
        where = "; ".join(
            f"{name!r} ({len(rows)}: rows {', '.join(rows[:6])}{' ...' if len(rows) > 6 else ''})"
            for name, rows in flagged.items())
        notes.append(Note(
            f"Pareto k > {K_BAD} for {where}: PSIS-LOO cannot estimate how well a model "
            f"predicts those rows without refitting, so its elpd may be too optimistic. "
            f"Refit leaving them out, or rely on the leave-largest-scale-out validation.",
            "warn"))
    if waic_warned:
        notes.append(Note(
            f"WAIC is unreliable for {', '.join(repr(n) for n in waic_warned)} (the posterior "
            f"variance of some rows' log density exceeds 0.4); prefer the PSIS-LOO columns.",
            "warn"))
    troubled = {name: len(fit.warnings) for name, fit in fits.items() if fit.warnings}
    if troubled:
        notes.append(Note(
            "The sampler reported problems for "
            + ", ".join(f"{name!r} ({n})" for name, n in troubled.items())
            + " (see each fit's warnings); their scores inherit them.", "warn"))
    return notes


def compare(fits: Mapping[str, Any], *, holdout: Any = None, by: str = "C",
            data: pd.DataFrame | None = None, seed: int = 0, chains: int | None = None,
            warmup: int | None = None, draws: int | None = None,
            progress: bool = False) -> Comparison:
    """Rank fitted models by expected log predictive density (PSIS-LOO).

    Parameters
    ----------
    fits : dict of str to fit
        Named fits of one kind (:class:`~scalinglaws.Fit`, or
        :class:`~scalinglaws.losstoloss.LossToLossFit` fitted with
        ``latent="marginal"``) of the same target, on the same likelihood scale, to the
        same rows. A scaling-law fit's terms are its rows; a loss-to-loss fit's are its
        input models, each with all the output losses that point at it.
    holdout : float, sequence of float or "largest", optional
        Also run the leave-largest-scale-out validation
        (:func:`scalinglaws.validate.extrapolation`) with these thresholds on ``by`` and
        add its scores as ``holdout_*`` columns. Each model is refitted once per threshold.
    by : str
        Scale the holdout thresholds apply to: a data column, a law variable, or ``"C"``
        (``6 N D`` for laws of N and D).
    data : DataFrame, optional
        The runs for the holdout refits (default: rebuilt from the fits, which hold every
        column their models read).
    seed, chains, warmup, draws, progress
        Sampler settings of the holdout refits; by default each fit's own chains and
        draws, with as many warmup steps as draws.

    Returns
    -------
    Comparison
        A DataFrame indexed by model name, best first, with ``rank``; ``elpd_loo`` and
        its standard error ``se``; ``elpd_diff`` to the best and its standard error
        ``dse``; ``p_loo`` (effective number of parameters); ``weight`` (stacking);
        ``elpd_waic``, ``se_waic``, ``p_waic``; Pareto-k counts ``k_ok`` (k <= 0.7),
        ``k_bad`` (0.7 < k <= 1), ``k_very_bad`` (k > 1) and ``k_flag`` (any k > 0.7);
        ``sampler_warnings`` (count). ``notes`` says in words what to trust.

    Raises
    ------
    ScalingLawError
        If a value is not a fit, or the fits differ in kind, target, scale or rows.

    Examples
    --------
    >>> table = sl.compare({"chinchilla": fit1, "overtraining": fit2})  # doctest: +SKIP
    >>> table[["elpd_loo", "se", "elpd_diff", "dse", "weight", "k_flag"]]  # doctest: +SKIP
    >>> table.notes  # doctest: +SKIP
    """
    check_refit_data(data, holdout)
    fits = comparable_fits(fits)
    check_comparable(fits)
    loos, rows, waic_warned, bad_rows = {}, {}, [], {}
    for name, fit in fits.items():
        terms = fit.pointwise()
        with filtered(("ignore", UserWarning)):
            loo = az.loo(fit.idata, pointwise=True, var_name=terms.var)
            with filtered(("always", UserWarning), record=True) as caught:
                waic = az.waic(fit.idata, pointwise=True, var_name=terms.var)
        if bool(waic.warning) or any("0.4" in str(w.message) for w in caught):
            waic_warned.append(name)
        loos[name] = loo
        k = np.asarray(loo.pareto_k)
        bad_rows[name] = [terms.units[i] for i in np.flatnonzero(k > K_BAD)]
        rows[name] = {"elpd_waic": float(waic.elpd_waic), "se_waic": float(waic.se),
                      "p_waic": float(waic.p_waic),
                      **_k_counts(k),
                      "sampler_warnings": len(fit.warnings)}
    with filtered(("ignore", Warning)):  # ArviZ's own Pareto-k and pandas deprecation notices
        ranked = az.compare(loos, method="stacking", scale="log")
    table = ranked.join(pd.DataFrame.from_dict(rows, orient="index"))
    table["k_flag"] = (table["k_bad"] + table["k_very_bad"]) > 0
    table = table[list(COLUMNS)]
    table["rank"] = table["rank"].astype(int)
    table.index.name = "model"
    out = Comparison(table)
    out.attrs["arviz"] = ranked
    out.attrs["notes"] = _notes(out, fits, waic_warned, bad_rows)

    if holdout is not None:
        result = refit_extrapolation(fits, data, holdout=holdout, by=by, seed=seed,
                                     chains=chains, warmup=warmup, draws=draws,
                                     progress=progress)
        summary = result.summary()
        extra = summary[["rank", "elpd", "elpd_diff", "dse", "are_mean", "coverage_50",
                         "coverage_90"]].add_prefix("holdout_")
        notes = out.notes + result.notes
        out = Comparison(pd.DataFrame(out).join(extra))
        out.attrs.update({"arviz": ranked, "notes": notes, "validation": result})
    return out


def stacking_weights(fits: Mapping[str, Any], weights: Any = None) -> dict[str, float]:
    """Each fit's weight in a model average, normalised to sum to 1.

    ``weights``: None (the stacking weights of :func:`compare`, from PSIS-LOO on the
    fitted rows), a table :func:`compare` returned (its ``weight`` column, so that LOO is
    not computed twice), or ``{name: weight}`` (non-negative numbers; a fit not named
    weighs 0).

    >>> stacking_weights({"a": fit_a, "b": fit_b}, {"a": 3, "b": 1})  # doctest: +SKIP
    {'a': 0.75, 'b': 0.25}
    """
    fits = comparable_fits(fits)
    check_comparable(fits)
    if weights is None:
        weights = compare(fits)
    if isinstance(weights, pd.DataFrame):
        if "weight" not in weights.columns:
            raise ScalingLawError("weights: a table of weights needs the 'weight' column "
                                  "that sl.compare(fits) gives")
        weights = weights["weight"]
    if isinstance(weights, pd.Series):
        weights = weights.to_dict()
    weights = check_mapping(weights, "weights")
    unknown = sorted(set(weights) - set(fits))
    if unknown:
        raise ScalingLawError(f"weights name {unknown}, which are not among the fits "
                              f"{sorted(fits)}")
    bad = {k: v for k, v in weights.items() if not is_finite_number(v) or float(v) < 0}
    if bad:
        raise ScalingLawError(f"weights must be non-negative numbers, got {bad}"[:300])
    largest = max((float(v) for v in weights.values()), default=0.0)
    if largest <= 0:
        raise ScalingLawError("weights: at least one fit needs a positive weight, got "
                              f"{weights}"[:300])
    # scaled by the largest first, so that weights near the float limit sum finitely
    scaled = {name: float(weights.get(name, 0.0)) / largest for name in fits}
    total = sum(scaled.values())
    return {name: w / total for name, w in scaled.items()}


class Stack:
    """A model average: comparable fits and their stacking weights, predicting as one.

    Stacking (Yao et al. 2018, "Using stacking to average Bayesian predictive
    distributions") mixes the predictive distributions of several models with the
    weights that best predict the fitted rows out of sample (PSIS-LOO). Where the data
    cannot tell two structural assumptions apart (repeated tokens worth full value or
    decaying), the mixture carries both, and its intervals say so. A stack predicts like
    a fit (:meth:`predict`, :meth:`predict_draws`), and the decisions that compare
    predictions (:func:`scalinglaws.decide.compute_optimal`,
    :func:`~scalinglaws.decide.prob_target`, :func:`~scalinglaws.decide.prob_better`,
    :func:`~scalinglaws.decide.epochs_worth_it`) take it in place of a fit: they then
    decide under the uncertainty of which model is right as well as of each model's
    parameters.

    Of the fits with a positive weight, each gives ``round(weight x S)`` of its posterior
    draws (largest remainders; S the fewest draws among them), drawn without
    replacement, then shuffled: every draw of the mixture is one whole draw of one model,
    so quantities compared within a draw (two rows, two epochs) stay paired.

    Parameters
    ----------
    fits : dict of str to fit
        Fits of the same target, scale and rows (as :func:`compare` takes).
    weights : None, DataFrame or dict
        See :func:`stacking_weights`; None computes the stacking weights.

    Attributes
    ----------
    fits : dict of str to fit
    weights : dict of str to float
        Each fit's weight, summing to 1.

    Examples
    --------
    >>> stack = sl.Stack({"chinchilla": fit1, "data_constrained": fit2})  # doctest: +SKIP
    >>> stack.weights  # doctest: +SKIP
    {'chinchilla': 0.22, 'data_constrained': 0.78}
    >>> stack.predict({"N": [2.8e9], "D": [5.5e10], "U_D": [1e9]})  # doctest: +SKIP
    """

    def __init__(self, fits: Mapping[str, Any], weights: Any = None):
        self.fits = comparable_fits(fits)
        self.weights = stacking_weights(self.fits, weights)

    def __repr__(self) -> str:
        shares = ", ".join(f"{name} {w:.3g}" for name, w in self.weights.items())
        return f"Stack({shares})"

    @property
    def target(self) -> str:
        """The column every fit of the stack predicts."""
        return next(iter(self.fits.values())).spec.target

    def each(self, fn: Callable[[Any], Any]) -> dict[str, Any]:
        """``{name: fn(fit)}`` for each fit with a positive weight; a warning that several
        fits raise alike (a level none of them fitted) is issued once."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = {name: fn(self.fits[name]) for name, w in self.weights.items() if w > 0}
        for message in {(str(w.message), w.category): w for w in caught}.values():
            warnings.warn_explicit(message.message, message.category, message.filename,
                                   message.lineno)
        return out

    def mix(self, draws: Mapping[str, Mapping[str, Any]], keys: tuple[str, ...],
            seed: int) -> dict[str, np.ndarray]:
        """The mixture of per-fit draws, as :meth:`each` gives them: ``{name: arrays
        under keys}``, each array with one row per posterior draw. Each fit gives its
        share of whole rows (see the class), the same rows under every key. Returns those
        ``keys`` and ``"model"``, the name of the fit behind each row."""
        total = min(np.shape(d[keys[0]])[0] for d in draws.values())
        quota = {name: self.weights[name] * total for name in draws}
        counts = {name: int(np.floor(q)) for name, q in quota.items()}
        by_remainder = sorted(draws, key=lambda name: counts[name] - quota[name])
        for name in by_remainder[:total - sum(counts.values())]:
            counts[name] += 1
        rng = np.random.default_rng(seed)
        parts: dict[str, list] = {key: [] for key in (*keys, "model")}
        for name, n in counts.items():
            pick = rng.choice(np.shape(draws[name][keys[0]])[0], size=n, replace=False)
            for key in keys:
                parts[key].append(np.asarray(draws[name][key])[pick])
            parts["model"].append(np.full(n, name, dtype=object))
        order = rng.permutation(total)
        return {key: np.concatenate(values)[order] for key, values in parts.items()}

    def predict_draws(self, data: Any, seed: int = 0) -> dict[str, np.ndarray]:
        """Draws of the model-averaged posterior predictive of ``data``'s rows (with every
        column each fit reads): ``{"law", "observed"}``, each (S, rows), and
        ``"model"``, the fit behind each draw. ``seed``: of each fit's predictive draws
        and of the mixing. Quiet, as a fit's ``predict_draws`` is: :meth:`predict` warns
        what :meth:`prediction_notes` says."""
        check_predict_settings(seed=seed)
        return self._mixed_predictive(as_frame(data), seed)

    def prediction_notes(self, data: Any) -> list[str]:
        """What a prediction of ``data``'s rows should be read with: the notes of each fit
        with a positive weight (:meth:`scalinglaws.Fit.prediction_notes`), each once."""
        frame = as_frame(data)
        notes: dict[str, None] = {}
        for name, weight in self.weights.items():
            if weight > 0:
                notes.update(dict.fromkeys(self.fits[name].prediction_notes(frame)))
        return list(notes)

    def _warn_notes(self, frame: pd.DataFrame, stacklevel: int) -> None:
        """:meth:`prediction_notes` as warnings (``stacklevel`` as ``warnings.warn`` takes
        it here)."""
        for note in self.prediction_notes(frame):
            warnings.warn(note, ScalingLawWarning, stacklevel=stacklevel)

    def _mixed_predictive(self, frame: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        """:meth:`predict_draws` of a checked ``seed`` and a frame read already."""
        return self.mix(self.each(lambda fit: fit.predict_draws(frame, seed=seed)),
                        ("law", "observed"), seed)

    def predict(self, data: Any, interval: float = 0.9, seed: int = 0) -> pd.DataFrame:
        """The model-averaged prediction of ``data``'s rows, summarised as
        :meth:`scalinglaws.Fit.predict` summarises one fit's: the input columns plus
        ``mean``, ``median``, ``lower``, ``upper`` (credible interval of the noise-free
        law) and ``pred_lower``, ``pred_upper`` (predictive interval of a new
        observation); ``attrs["weights"]`` holds the weights."""
        return self._predict(data, interval, seed, stacklevel=3)

    def _predict(self, data: Any, interval: float, seed: int,
                 stacklevel: int) -> pd.DataFrame:
        """:meth:`predict` (``stacklevel``: of its warnings, as here)."""
        lo, hi = check_predict_settings(interval=interval, seed=seed)
        frame = as_frame(data).copy()
        check_unwritten(frame.columns, written_columns(PREDICT_PARTS))
        self._warn_notes(frame, stacklevel + 1)
        draws = self._mixed_predictive(frame, seed)
        columns = interval_columns(lambda rows, block: {k: draws[k][:, rows]
                                                        for k in ("law", "observed")},
                                   len(frame), len(draws["law"]), PREDICT_PARTS, lo, hi)
        for name, values in columns.items():
            frame[name] = values
        frame.attrs.update(interval=interval, weights=dict(self.weights))
        return frame


def stacked_draws(fits: Mapping[str, Any], data: Any, *, weights: Any = None,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Draws of the model-averaged posterior predictive of new rows: each fit's
    :meth:`predict_draws <scalinglaws.protocol.FitLike>` in proportion to its weight
    (:meth:`Stack.predict_draws`).

    Returns ``{"law", "observed"}``, each (S, rows), and ``"model"``, the name of the fit
    behind each draw.

    Parameters
    ----------
    fits : dict of str to fit
        Fits of the same target, scale and rows (as :func:`compare` takes).
    data : DataFrame, dict or list of dicts
        The rows to predict, with every column each fit reads.
    weights : None, DataFrame or dict
        See :func:`stacking_weights`; None computes the stacking weights.
    seed : int
        Seed of each fit's predictive draws and of the mixing.

    Examples
    --------
    >>> table = sl.compare({"chinchilla": fit1, "data_constrained": fit2})  # doctest: +SKIP
    >>> draws = stacked_draws({"chinchilla": fit1, "data_constrained": fit2}, rows,
    ...                       weights=table)  # doctest: +SKIP
    """
    check_predict_settings(seed=seed)
    return Stack(fits, weights).predict_draws(data, seed=seed)


def stacked_predict(fits: Mapping[str, Any], data: Any, *, weights: Any = None,
                    interval: float = 0.9, seed: int = 0) -> pd.DataFrame:
    """The model-averaged prediction of new rows (:meth:`Stack.predict`): the input
    columns plus ``mean``, ``median``, ``lower``, ``upper`` and ``pred_lower``,
    ``pred_upper`` of the mixture; ``attrs["weights"]`` holds the weights used.

    >>> sl.stacked_predict({"chinchilla": fit1, "data_constrained": fit2},
    ...                    {"N": [2.8e9], "D": [5.5e10], "U_D": [1e9]})  # doctest: +SKIP
    """
    check_predict_settings(interval=interval, seed=seed)
    return Stack(fits, weights)._predict(data, interval, seed, stacklevel=3)


__all__ = ["Comparison", "Stack", "compare", "comparison_html", "stacked_draws",
           "stacked_predict", "stacking_weights"]
