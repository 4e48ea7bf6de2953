"""Leave-largest-scale-out validation: refit on small runs, score the larger ones.

In-sample fit is not the question a scaling law answers; extrapolation is.
:func:`extrapolation` refits each model on every run below a threshold of compute (or
N, D, or any positive column) and scores the held-out larger runs with

- ``lpd``: the log posterior predictive density of each held-out observation on the
  likelihood scale (``log y`` for losses, the scale of the fit's ``log_likelihood``),
  ``log (1/S) sum_s p(y_i | theta_s)`` over the S posterior draws, in log-sum-exp form;
- ``are``: the absolute relative error ``|median - y| / y`` of the posterior median of
  the noise-free law;
- ``pit``: the probability integral transform, the fraction of posterior-predictive
  draws below ``y``; ``y`` lies inside the central ``q`` predictive interval exactly when
  ``(1 - q)/2 <= pit <= (1 + q)/2``, which gives the coverage of the 50% and 90%
  intervals (and any other) and the PIT histogram of a calibration plot.

How the held-out density is computed
------------------------------------
For each posterior draw ``theta_s`` the held-out row gets exactly the observation model
the fit used: the law's location on the likelihood scale, the noise scale (``sigma``,
with its group offset when it varies), Normal or Student-t noise, and the run offset
when the model has a ``run`` factor. Levels never seen in the training runs (a new
dataset, and, usually, the held-out runs themselves) get a fresh offset drawn from the
population for each draw: the location, offsets and noise scale are those of
:func:`scalinglaws.prediction.predict_draws`, the function predictions use. Averaging
``p(y_i | theta_s, u_s)`` over draws with one fresh offset ``u_s`` each is an unbiased
Monte Carlo estimate of the
predictive density with the offset integrated out; its log is what is reported.
Pointwise densities are what LOO uses too, so held-out and LOO scores are on the same
footing.

Examples
--------
>>> import scalinglaws as sl
>>> runs = sl.synthetic.sweep(seed=0)
>>> model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
>>> result = sl.validate.extrapolation(model, runs, holdout=[1e19, 1e20], by="C",
...                                    chains=2, warmup=300, draws=300)  # doctest: +SKIP
>>> result.scores  # doctest: +SKIP
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from ._checks import check_fraction, check_names, is_finite_number
from ._warnings import filtered
from .data import as_frame, make_design, target_values
from .discrepancy import Discrepancy
from .display import Note
from .engine.diagnostics import chains_per_group
from .errors import ScalingLawError, ScalingLawWarning
from .fitset import check_comparable, combined_data, comparable_fits
from .losstoloss import LossToLossModel
from .plotting import plot_calibration, plot_holdout
from .protocol import FitLike
from .scaling_model import ScalingModel

#: Interval masses whose coverage :func:`extrapolation` reports by default.
INTERVALS = (0.5, 0.9)


# --- the held-out density ----------------------------------------------------------------

def log_density(fit, data, seed: int = 0) -> np.ndarray:
    """``log p(y_i | theta_s)`` of observed rows under each posterior draw of any fit.

    The fit's own :meth:`log_density <scalinglaws.Fit.log_density>` (see the module
    docstring): shape (draws, rows).

    Examples
    --------
    >>> ll = log_density(fit, held_out)  # doctest: +SKIP
    >>> lpd = scipy.special.logsumexp(ll, axis=0) - np.log(len(ll))  # doctest: +SKIP
    """
    if not isinstance(fit, FitLike):
        raise ScalingLawError(f"log_density takes a scalinglaws fit (sl.Fit or a "
                              f"LossToLossFit), got {type(fit).__name__}")
    return fit.log_density(data, seed=seed)


# --- splitting ----------------------------------------------------------------------------

def scale_values(spec, frame: pd.DataFrame, by: str) -> np.ndarray:
    """The values of ``by`` for each row: a column, a law variable, or ``C = 6 N D``.

    >>> import scalinglaws as sl
    >>> runs = sl.synthetic.sweep(seed=0)
    >>> spec = sl.ScalingModel("chinchilla", target="loss")
    >>> bool(np.allclose(scale_values(spec, runs.drop(columns="C"), "C"), runs.C))
    True
    """
    if not isinstance(by, str):
        raise ScalingLawError(f"by must be a column name such as 'C' or 'N', got {by!r}")
    law = spec.law
    if by in law.variables and spec.inputs[by] != by and by in frame.columns:
        raise ScalingLawError(
            f"by={by!r} could mean the data's column {by!r} or the law's {by}, which the "
            f"model reads from column {spec.inputs[by]!r}; pass the column's name as by=")
    if by in frame.columns:
        column = by
    elif by in law.variables:
        column = spec.inputs[by]
    elif by == "C" and {"N", "D"} <= set(law.variables):
        n = _positive_column(frame, spec.inputs["N"], "N")
        d = _positive_column(frame, spec.inputs["D"], "D")
        return 6.0 * n * d
    else:
        raise ScalingLawError(
            f"cannot split runs by {by!r}: the data has no column {by!r} and law "
            f"{law.name!r} has no variable {by!r}; pass by= a column of the data (e.g. 'N' "
            f"or 'C') or add the column"
        )
    return _positive_column(frame, column, by)


def _positive_column(frame: pd.DataFrame, column: str, role: str) -> np.ndarray:
    if column not in frame.columns:
        raise ScalingLawError(f"data has no column {column!r} (needed for {role})")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(values).all() or (values <= 0).any():
        raise ScalingLawError(
            f"column {column!r} (used to split runs by {role}) must be positive and finite "
            f"in every row; fix or drop the rows {list(frame.index[~(values > 0)][:5])}"
        )
    return values


def _thresholds(holdout: Any, values: np.ndarray, by: str) -> list[float]:
    if isinstance(holdout, str):
        if holdout != "largest":
            raise ScalingLawError(
                f"holdout must be 'largest', a threshold on {by!r}, or a list of thresholds; "
                f"got {holdout!r}"
            )
        return [float(values.max())]
    # a list, an array of any shape, a Series or an Index of thresholds, or one threshold
    items = (list(np.ravel(np.asarray(list(holdout), dtype=object)))
             if np.iterable(holdout) else [holdout])
    if not items:
        raise ScalingLawError("holdout is empty; give at least one threshold or 'largest'")
    out = []
    for item in items:
        if not is_finite_number(item) or item <= 0:
            raise ScalingLawError(
                f"holdout thresholds must be positive numbers on the scale of {by!r} (e.g. "
                f"1e20 for compute), got {item!r}"
            )
        t = float(item)
        if not (values >= t).any():
            raise ScalingLawError(
                f"holdout threshold {by} >= {t:.3g} holds out no runs: the largest {by} in "
                f"the data is {values.max():.3g}. Use thresholds at or below it."
            )
        if not (values < t).any():
            raise ScalingLawError(
                f"holdout threshold {by} >= {t:.3g} leaves no runs to fit: the smallest {by} "
                f"in the data is {values.min():.3g}. Use larger thresholds."
            )
        out.append(t)
    return sorted(set(out))


def _models(model: Any) -> dict[str, tuple[Any, Any]]:
    """name -> (spec, fit or None)."""
    def one(name, value):
        if isinstance(value, FitLike):
            return value.spec, value
        if isinstance(value, (ScalingModel, LossToLossModel)):
            return value, None
        raise ScalingLawError(
            f"model {name!r} is a {type(value).__name__}; pass a ScalingModel or a "
            f"LossToLossModel, a fit of one, or a dict of them by name"
        )

    if isinstance(model, Mapping):
        if not model:
            raise ScalingLawError("no models given; pass a ScalingModel or {'name': model}")
        for name in model:
            if not isinstance(name, str) or not name:
                raise ScalingLawError(f"model names must be non-empty strings (as compare "
                                      f"takes them), got {name!r}")
        return {name: one(name, v) for name, v in model.items()}
    spec, fit = one("model", model)
    return {spec.law.name: (spec, fit)}


# --- the result ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Extrapolation:
    """Scores of leave-largest-scale-out refits (returned by :func:`extrapolation`).

    Attributes
    ----------
    points : DataFrame
        One row per model, threshold and held-out run: ``model``, ``threshold``, the
        ``by`` value, the factors, ``observed``, ``median`` (law), predictive interval
        ends ``lower_50``, ``upper_50``, ... , ``lpd``, ``are`` and ``pit``.
    scores : DataFrame
        One row per model and threshold: ``n_train``, ``n_holdout``, ``elpd`` (sum of
        ``lpd``), ``lpd_mean``, ``are_mean`` and ``are_max`` (percent), ``coverage_50``,
        ``coverage_90`` and ``sampler_warnings``.
    by : str
        What the thresholds apply to.
    intervals : tuple of float
        Interval masses whose coverage is reported.
    target : str
        The target column.
    fits : dict
        ``(model, threshold) -> Fit`` of every refit.
    warnings : dict
        ``(model, threshold) -> tuple of str``: sampler problems of each refit.
    """

    points: pd.DataFrame
    scores: pd.DataFrame
    by: str
    intervals: tuple[float, ...]
    target: str
    fits: dict = field(default_factory=dict, repr=False)
    warnings: dict = field(default_factory=dict, repr=False)

    @property
    def models(self) -> list[str]:
        """Model names in the order given."""
        return list(dict.fromkeys(self.scores["model"]))

    @property
    def thresholds(self) -> list[float]:
        """The thresholds on :attr:`by`, ascending."""
        return sorted(set(self.scores["threshold"]))

    def summary(self) -> pd.DataFrame:
        """Per model, over every threshold: ranked by held-out elpd (best first).

        Columns: ``rank``; ``elpd`` (sum of ``lpd`` over all thresholds' held-out runs);
        ``elpd_diff`` to the best and ``dse``, its standard error from the pointwise
        differences (``sqrt(n var(diff))``, as ArviZ does for LOO; a run held out at
        several thresholds counts once per threshold, so treat ``dse`` as indicative);
        ``lpd_mean``; ``are_mean`` and ``are_max`` (percent); ``coverage_50``,
        ``coverage_90`` (and any other requested intervals); ``n_points``.

        >>> result.summary()  # doctest: +SKIP
        """
        pts = self.points
        rows = {}
        for name in self.models:
            p = pts[pts["model"] == name]
            row = {"elpd": p["lpd"].sum(), "lpd_mean": p["lpd"].mean(),
                   "are_mean": 100 * p["are"].mean(), "are_max": 100 * p["are"].max()}
            for q in self.intervals:
                row[f"coverage_{_pct(q)}"] = _covered(p["pit"].to_numpy(), q).mean()
            row["n_points"] = len(p)
            rows[name] = row
        table = pd.DataFrame.from_dict(rows, orient="index")
        table = table.sort_values("elpd", ascending=False)
        # every model was scored on the same held-out rows in the same order
        ref = pts.loc[pts["model"] == table.index[0], "lpd"].to_numpy()
        diffs, dses = [], []
        for name in table.index:
            d = ref - pts.loc[pts["model"] == name, "lpd"].to_numpy()
            diffs.append(float(d.sum()))
            dses.append(float(np.sqrt(len(d) * d.var(ddof=1))) if len(d) > 1 else np.nan)
        table.insert(0, "rank", np.arange(len(table)))
        table.insert(2, "elpd_diff", diffs)
        table.insert(3, "dse", dses)
        table.index.name = "model"
        return table

    def coverage(self, levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95)) -> pd.DataFrame:
        """Empirical coverage of central predictive intervals, per model.

        One row per model and nominal level with the fraction of held-out runs inside
        the interval, the count, and a 90% binomial band for a calibrated model with
        that many runs (coverage outside the band is evidence of miscalibration).

        >>> result.coverage()  # doctest: +SKIP
        """
        from scipy.stats import binom

        levels = _masses(levels, "levels")
        rows = []
        for name in self.models:
            pit = self.points.loc[self.points["model"] == name, "pit"].to_numpy()
            for q in levels:
                inside = _covered(pit, q)
                n = len(pit)
                rows.append({"model": name, "nominal": q, "empirical": inside.mean(),
                             "inside": int(inside.sum()), "n": n,
                             "band_lower": binom.ppf(0.05, n, q) / n,
                             "band_upper": binom.ppf(0.95, n, q) / n})
        return pd.DataFrame(rows)

    @property
    def notes(self) -> list[str]:
        """Plain-words remarks: the ranking, calibration, sampler problems of refits.

        Each is a :class:`~scalinglaws.display.Note` (a ``str``): ``"info"`` for the
        ranking, ``"warn"`` for intervals that miss the nominal coverage by more than 0.25,
        the miss behind overconfident ones and sampler problems in refits.
        """
        out = []
        summary = self.summary()
        best = summary.index[0]
        where = ", ".join(f"{self.by} >= {t:.3g}" for t in self.thresholds)
        if len(summary) > 1:
            second = summary.index[1]
            d, s = summary.loc[second, "elpd_diff"], summary.loc[second, "dse"]
            out.append(Note(
                f"Refitted on the runs below each threshold ({where}), {best!r} predicts "
                f"the held-out larger runs best (held-out elpd {summary.loc[best, 'elpd']:.1f}"
                f"; {second!r} is {d:.1f} lower, standard error {s:.1f}).", "info"))
        for name in summary.index:
            n = int(summary.loc[name, "n_points"])
            overconfident = False
            for q in self.intervals:
                cov = summary.loc[name, f"coverage_{_pct(q)}"]
                if n >= 5 and abs(cov - q) > 0.25:
                    side = "overconfident" if cov < q else "too wide"
                    overconfident |= cov < q
                    out.append(Note(f"{name!r}: its {q:.0%} predictive intervals contain "
                                    f"{cov:.0%} of the held-out runs: {side} when "
                                    f"extrapolating.", "warn"))
            if overconfident:
                out.append(Note(self._miss(name), "warn"))
        troubled = {}
        for (name, t), messages in self.warnings.items():
            if messages:
                troubled.setdefault(name, []).append(f"{self.by} < {t:.3g}: {len(messages)}")
        if troubled:
            where = "; ".join(f"{name!r} ({', '.join(v)})" for name, v in troubled.items())
            out.append(Note(f"The sampler reported problems in refits (see .warnings), so "
                            f"their scores inherit them: {where}.", "warn"))
        return out

    def _miss(self, name: str) -> str:
        d = self.discrepancy(name)
        unit = "%" if d.scale == "log" else ""
        scale = 100 if d.scale == "log" else 1
        return (f"{name!r}: held out, the truth lies {scale * d.bias:+.3g}{unit} from the "
                f"median on average{' (log scale)' if d.scale == 'log' else ''}, with "
                f"{scale * d.sd:.3g}{unit} of spread beyond the intervals; .discrepancy() "
                f"measures it (group the rows that miss together) for fit.predict(..., "
                f"discrepancy=).")

    def discrepancy(self, model: str | None = None, group: str | Sequence[str] | None = None,
                    mass: float | None = None) -> Discrepancy:
        """The extrapolation error of a model's refits beyond their own intervals.

        Pools every threshold's held-out points of ``model`` (the only model by default)
        and estimates :class:`Discrepancy` from their residuals and predictive intervals
        (the widest of :attr:`intervals` unless ``mass`` is given). ``group``: column(s)
        of :attr:`points` whose levels, per threshold, are one unit (such as ``"run"`` or
        a family factor); by default every held-out row is one.

        >>> d = result.discrepancy(group="dataset")  # doctest: +SKIP
        >>> fit.predict(big_runs, discrepancy=d)  # doctest: +SKIP
        """
        if model is None:
            if len(self.models) != 1:
                raise ScalingLawError(f"several models were validated ({self.models}); name "
                                      f"the one whose discrepancy you want")
            model = self.models[0]
        if not isinstance(model, str) or model not in self.models:
            raise ScalingLawError(f"no model {model!r} was validated; the models are "
                                  f"{self.models}")
        q = max(self.intervals) if mass is None else check_fraction(mass, "mass")
        if q not in self.intervals:
            raise ScalingLawError(f"no {q:g} intervals were scored; the masses are "
                                  f"{list(self.intervals)}")
        pts = self.points[self.points["model"] == model]
        columns = [] if group is None else check_names(group, "group", "'dataset'")
        missing = [c for c in columns if c not in pts.columns]
        if missing:
            raise ScalingLawError(f"points have no column(s) {missing} to group by; the "
                                  f"columns are {list(pts.columns)}")
        labels = (pts[["threshold", *columns]].astype(str).agg("|".join, axis=1)
                  if columns else None)
        scale = next(fit.spec.scale for (name, _), fit in self.fits.items() if name == model)
        return Discrepancy.estimate(pts["observed"], pts["median"], pts[f"lower_{_pct(q)}"],
                                    pts[f"upper_{_pct(q)}"], mass=q, groups=labels,
                                    scale=scale)

    def plot(self, **kwargs):
        """Calibration figure: PIT histogram and interval coverage of held-out runs.

        See :func:`scalinglaws.plotting.plot_calibration`.

        >>> fig = result.plot()  # doctest: +SKIP
        """
        return plot_calibration(self, **kwargs)

    def plot_holdout(self, **kwargs):
        """Relative error and predictive intervals of each held-out run, per threshold.

        See :func:`scalinglaws.plotting.plot_holdout`.

        >>> fig = result.plot_holdout()  # doctest: +SKIP
        """
        return plot_holdout(self, **kwargs)

    def _repr_html_(self) -> str:
        return extrapolation_html(self)


def extrapolation_html(result: Extrapolation) -> str:
    """Summary, per-threshold scores and notes as an HTML fragment."""
    fmt = lambda x: f"{x:.4g}"  # noqa: E731
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    scores = result.scores.set_index(["model", "threshold"])
    return (f'<div class="extrapolation"><p>Leave-largest-scale-out validation by '
            f'{html.escape(result.by)} (target {html.escape(result.target)}).</p>'
            f'{result.summary().to_html(float_format=fmt, classes="table", border=0)}'
            f'<p>Per threshold:</p>{scores.to_html(float_format=fmt, classes="table", border=0)}'
            + (f"<ul>{notes}</ul>" if notes else "") + "</div>")


def _pct(q: float) -> str:
    return f"{100 * q:g}".replace(".", "_")


def _covered(pit: np.ndarray, q: float) -> np.ndarray:
    return (pit >= (1 - q) / 2) & (pit <= (1 + q) / 2)


# --- the validation -----------------------------------------------------------------------

def _masses(values: Any, name: str) -> tuple[float, ...]:
    """Interval masses (a sequence of numbers in (0, 1)) as floats, or a
    :class:`ScalingLawError` naming ``name``.

    >>> _masses([0.5, 0.9], "levels")
    (0.5, 0.9)
    """
    items = (tuple(values) if isinstance(values, (Sequence, np.ndarray))
             and not isinstance(values, str) else ())
    if not items:
        raise ScalingLawError(f"{name} must be masses in (0, 1) such as (0.5, 0.9), "
                              f"got {values!r}")
    return tuple(check_fraction(q, f"each of {name}", "0.5 or 0.9") for q in items)


def extrapolation(model: Any, data: pd.DataFrame | None = None, holdout: Any = "largest", *,
                  by: str = "C", intervals: Sequence[float] = INTERVALS, seed: int = 0,
                  chains: int = 4, warmup: int = 500, draws: int = 1000,
                  target_accept: float = 0.9, progress: bool = False) -> Extrapolation:
    """Refit below each scale threshold and score the held-out larger runs.

    Parameters
    ----------
    model : ScalingModel, LossToLossModel, a fit of one, or dict of them by name
        The model(s) to validate; a fit stands for its spec (and, when ``data`` is not
        given, its data). With several models every one sees the same split. A
        loss-to-loss model is scored on its output loss (``y``): held-out rows with an
        observed input loss ``x`` condition the latent input loss on it, as
        :meth:`LossToLossFit.predict <scalinglaws.losstoloss.LossToLossFit.predict>`
        does; rows without an output loss are fitted when below a threshold and never
        scored.
    data : DataFrame, optional
        The runs; by default the data of the given fits (which must then be the same
        rows).
    holdout : float, sequence of float, or "largest"
        Thresholds on ``by``: each refit uses the runs with ``by < threshold`` and scores
        the runs with ``by >= threshold``. ``"largest"`` holds out the runs at the largest
        value of ``by``.
    by : str
        A positive column of ``data``, a law variable, or ``"C"`` (computed as
        ``6 N D`` for laws of N and D when there is no ``C`` column).
    intervals : sequence of float
        Central predictive interval masses whose coverage is reported.
    seed, chains, warmup, draws, target_accept, progress
        Sampler settings of each refit (see :meth:`ScalingModel.fit
        <scalinglaws.ScalingModel.fit>`); ``seed`` also seeds the predictive draws. The
        refits of a given loss-to-loss fit with ``feedback="cut"`` keep its ``cut_draws``.

    Returns
    -------
    Extrapolation
        ``points`` (per held-out run), ``scores`` (per threshold), ``summary()``
        (per model, ranked by held-out elpd), ``coverage()``, ``plot()``.

    Notes
    -----
    The refits of one model run as one batched program
    (:meth:`ScalingModel.fit_many <scalinglaws.ScalingModel.fit_many>`): each has its
    own training rows, reference scale and factor levels, padded to shared shapes.

    Examples
    --------
    >>> import scalinglaws as sl
    >>> runs = sl.datasets.load("gadre2024")  # doctest: +SKIP
    >>> models = {"chinchilla": sl.ScalingModel("chinchilla", target="loss_c4_val",
    ...                                         vary={"E": "dataset"}),
    ...           "compute": sl.ScalingModel("compute", inputs={"C": "C"},
    ...                                      target="loss_c4_val", vary={"E": "dataset"})}
    >>> result = sl.validate.extrapolation(models, runs, holdout=[1e20, 1e21], by="C",
    ...                                    chains=2, warmup=500, draws=500)  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    """
    models = _models(model)
    levels = _masses(intervals, "intervals")
    if data is None:
        fits = {name: fit for name, (_, fit) in models.items()}
        if any(fit is None for fit in fits.values()):
            raise ScalingLawError("data is needed to validate a ScalingModel; pass the runs "
                                  "as data= (or pass fitted models)")
        check_comparable(comparable_fits(fits))
        data = combined_data(fits)
    if isinstance(data, Mapping):
        data = as_frame(data)
    if not isinstance(data, pd.DataFrame) or len(data) == 0:
        raise ScalingLawError("data must be a non-empty DataFrame with one row per run")
    specs = {name: spec for name, (spec, _) in models.items()}
    first = next(iter(specs.values()))
    for name, spec in specs.items():
        if (spec.target, spec.scale) != (first.target, first.scale):
            raise ScalingLawError(
                f"models score different quantities ({first.target!r} on scale "
                f"{first.scale!r} vs {name!r}: {spec.target!r} on {spec.scale!r}); held-out "
                f"densities are only comparable for the same target on the same scale"
            )
    values = {name: scale_values(spec, data, by) for name, spec in specs.items()}
    ref = values[next(iter(values))]
    thresholds = _thresholds(holdout, ref, by)
    for name, v in values.items():
        if any(((v < t) != (ref < t)).any() for t in thresholds):
            raise ScalingLawError(
                f"model {name!r} computes {by!r} differently from the others, so the models "
                f"would not see the same split; add a {by!r} column to the data"
            )

    points, scores, fits_out, warnings_out = [], [], {}, {}
    factor_columns = list(dict.fromkeys(c for s in specs.values() for c in s.factors))
    settings = dict(seed=seed, chains=chains, warmup=warmup, draws=draws,
                    target_accept=target_accept, progress=progress)
    scored = (data[first.target].notna().to_numpy() if first.target in data
              else np.ones(len(data), dtype=bool))
    # each scaling-law model's training rows, as encoded by the split's check
    encoded = {t: _check_split(specs, data[ref < t], data[ref >= t], scored[ref >= t], by, t)
               for t in thresholds}
    for name, (spec, given) in models.items():
        refits = _refits(name, spec, {t: data[ref < t] for t in thresholds}, by,
                         {**settings, **_own_settings(given)},
                         {t: encoded[t].get(name) for t in thresholds})
        for t in thresholds:
            test = data[(ref >= t) & scored]
            fit = refits[t]
            fits_out[(name, t)] = fit
            warnings_out[(name, t)] = fit.warnings
            frame = _score(fit, test, levels, seed)
            frame.insert(0, "model", name)
            frame.insert(1, "threshold", t)
            frame.insert(2, "row", [str(i) for i in test.index])
            frame.insert(3, by, ref[(ref >= t) & scored])
            for column in factor_columns:
                if column in test.columns:
                    frame[column] = test[column].to_numpy()
            points.append(frame)
            row = {"model": name, "threshold": t, "n_train": len(fit.data()),
                   "n_holdout": len(test), "elpd": frame["lpd"].sum(),
                   "lpd_mean": frame["lpd"].mean(), "are_mean": 100 * frame["are"].mean(),
                   "are_max": 100 * frame["are"].max()}
            for q in levels:
                row[f"coverage_{_pct(q)}"] = _covered(frame["pit"].to_numpy(), q).mean()
            row["sampler_warnings"] = len(fit.warnings)
            scores.append(row)
    return Extrapolation(points=pd.concat(points, ignore_index=True),
                         scores=pd.DataFrame(scores), by=by, intervals=levels,
                         target=first.target, fits=fits_out, warnings=warnings_out)


def _own_settings(fit: Any) -> dict[str, int]:
    """Settings of a given fit that its refits keep: a cut loss-to-loss fit's number of
    compute-law draws (its posterior holds ``chains_per_group`` chains per draw)."""
    if fit is None or "chains_per_group" not in fit.idata.posterior.attrs:
        return {}
    posterior = fit.idata.posterior
    return {"cut_draws": int(posterior.sizes["chain"]) // chains_per_group(posterior)}


def _refits(name: str, spec, trains: Mapping[float, pd.DataFrame], by: str,
            settings: Mapping, encoded: Mapping[float, Any]) -> dict:
    """``spec`` fitted to each threshold's training rows, batched where they share a
    structure (a threshold that leaves a factor one level varies less, and runs apart);
    ``encoded``: per threshold, the rows' design and what the data says of them
    (:func:`_check_split`)."""
    if not isinstance(spec, ScalingModel):
        return spec.fit_many(dict(trains), **settings)
    groups: dict = {}
    notes: dict[str, None] = {}
    for t, train in trains.items():
        design, said = encoded[t]
        notes.update(dict.fromkeys(f"refitting {name!r} on the {len(train)} runs with "
                                   f"{by} < {t:.3g}: {message}" for message in said))
        groups.setdefault(tuple(sorted(design.vary.items())), []).append(t)
    for note in notes:  # what the data says of each refit's rows, once (not per fit_many)
        warnings.warn(note, ScalingLawWarning, stacklevel=3)
    fits = {}
    for group in groups.values():
        with filtered(("ignore", Warning)):
            fitted = spec.fit_many({t: trains[t] for t in group}, **settings)
        fits.update(fitted)
    return fits


def _check_split(specs: Mapping[str, Any], train: pd.DataFrame, held: pd.DataFrame,
                 scored: np.ndarray, by: str, t: float) -> dict[str, tuple[Any, list[str]]]:
    """Before any refit, the split at threshold ``t``: raise unless every scaling-law
    model takes the ``train`` rows and every model can score the ``held`` rows (their
    target read and, for a scaling-law model, their inputs and factors encoded against
    ``train`` as a prediction encodes them); warn of held-out rows a scaling-law model
    cannot score for want of a target (``scored`` False; a loss-to-loss model fits such
    rows as input-loss observations). Returns, per scaling-law model, the ``train``
    rows' design and the warnings encoding them gave (the refits say them)."""
    what = f"the runs with {by} >= {t:.3g}"
    kept = held[scored]
    first = next(iter(specs.values()))
    if len(kept) == 0:
        raise ScalingLawError(
            f"{what}: none of the {len(held)} held-out runs has an observed "
            f"{first.target!r} to score; give their values or choose other thresholds")
    if len(kept) < len(held) and any(isinstance(s, ScalingModel) for s in specs.values()):
        missing = [str(i) for i in held.index[~scored]][:5]
        warnings.warn(f"{what}: {len(held) - len(kept)} held-out run(s) have no observed "
                      f"{first.target!r} and are not scored (rows {missing})",
                      ScalingLawWarning, stacklevel=3)
    encoded = {}
    for name, spec in specs.items():
        try:
            target_values(spec, kept)
        except ScalingLawError as err:
            raise ScalingLawError(f"{what}, held out to score {name!r}: {err}") from None
        if not isinstance(spec, ScalingModel):
            continue
        try:
            with filtered(("ignore", Warning), ("always", ScalingLawWarning),
                          record=True) as caught:
                fitted = make_design(spec, train)
        except ScalingLawError as err:
            raise ScalingLawError(f"refitting {name!r} on the {len(train)} runs with "
                                  f"{by} < {t:.3g}: {err}") from None
        try:
            make_design(spec, kept, fitted=fitted)
        except ScalingLawError as err:
            raise ScalingLawError(f"{what}, held out to score {name!r}: {err}") from None
        encoded[name] = (fitted, [str(w.message) for w in caught])
    return encoded


def _score(fit, test: pd.DataFrame, levels: tuple[float, ...], seed: int) -> pd.DataFrame:
    """Per held-out row: observed, median, predictive interval ends, lpd, are, pit."""
    y = target_values(fit.spec, test)
    pred = fit.predict_draws(test, seed=seed)
    # a row with a known measurement error is a measurement: scored, as by the lpd, with
    # that error added to the model's noise
    law, observed = pred["law"], pred.get("measured", pred["observed"])
    ll = fit.log_density(test, seed=seed + 1)
    median = np.median(law, axis=0)
    out = pd.DataFrame({"observed": y, "median": median})
    for q in levels:
        out[f"lower_{_pct(q)}"] = np.quantile(observed, (1 - q) / 2, axis=0)
        out[f"upper_{_pct(q)}"] = np.quantile(observed, (1 + q) / 2, axis=0)
    out["lpd"] = logsumexp(ll, axis=0) - np.log(ll.shape[0])
    out["are"] = np.abs(median - y) / np.abs(y)
    out["pit"] = (observed < y).mean(axis=0) + 0.5 * (observed == y).mean(axis=0)
    return out


def check_refit_data(data: Any, holdout: Any) -> None:
    """Refuse ``data`` without ``holdout``: comparisons and reports read the runs they are
    given for the holdout refits only, and describe the fits' own rows.

    >>> check_refit_data(None, None)
    """
    if data is not None and holdout is None:
        raise ScalingLawError("data is read by the holdout refits only (the fits' own rows "
                              "are what is scored and described); pass holdout= too, or "
                              "leave data out")


def refit_extrapolation(fits: Mapping[str, Any], data: pd.DataFrame | None, *, holdout: Any,
                        by: str, seed: int, chains: int | None = None,
                        warmup: int | None = None, draws: int | None = None,
                        progress: bool = False) -> Extrapolation:
    """:func:`extrapolation` of fitted models, as ``compare(..., holdout=...)`` and the
    report run it: the refits take the first fit's chains and draws unless given, and as
    much warm-up as draws.

    >>> refit_extrapolation({"a": fit}, None, holdout="largest", by="C", seed=0)  # doctest: +SKIP
    """
    posterior = next(iter(fits.values())).idata.posterior
    if chains is None:  # a cut loss-to-loss fit holds chains per compute-law draw
        chains = chains_per_group(posterior)
    draws = int(posterior.sizes["draw"]) if draws is None else draws
    return extrapolation(fits, data, holdout=holdout, by=by, seed=seed, chains=chains,
                         warmup=draws if warmup is None else warmup, draws=draws,
                         progress=progress)


__all__ = ["INTERVALS", "Discrepancy", "Extrapolation", "check_refit_data", "extrapolation",
           "extrapolation_html", "log_density", "refit_extrapolation", "scale_values"]
