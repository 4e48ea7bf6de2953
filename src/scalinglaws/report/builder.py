"""Build the self-contained HTML report: sections, tables and embedded figures.

Everything the page shows is inside the one file: figures are PNG and formulas SVG
(rendered by matplotlib's mathtext), both as ``data:`` URIs; styles are inline; there is
no script. A Content-Security-Policy meta tag forbids any network request, so the file
views the same offline as online.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd

from .._checks import check_interval, check_output_path, write_atomic
from .._version import __version__
from .._warnings import filtered
from ..compare import compare
from ..data import as_frame
from ..display import (
    Note,
    anatomy,
    data_hash,
    escape,
    figure_img,
    model_section,
    notes_box,
    slug,
    spec_hash,
    table_html,
)
from ..errors import ScalingLawError
from ..fitset import check_comparable, combined_data
from ..io import load
from ..plotting import plot_calibration, plot_comparison, plot_holdout
from ..protocol import FitLike
from ..validate import Extrapolation, check_refit_data, refit_extrapolation
from .targets import STACKED, VALUES, predictions

# --- inputs -------------------------------------------------------------------------------

def as_fits(fits: Any) -> dict[str, Any]:
    """Normalise fits given as a fit, paths, a list, or a dict to ``{name: fit}``.

    Any fit type (:class:`~scalinglaws.protocol.FitLike`) is taken; paths (``.nc`` files
    written by a fit's ``save``) are loaded with :func:`scalinglaws.load`; unnamed fits
    are named by file stem or law name (made unique).
    """
    def one(value):
        if isinstance(value, (str, Path)):
            with filtered(("ignore", Warning)):
                value = load(value)
        if isinstance(value, FitLike):
            return value
        shown = repr(value)
        raise ScalingLawError(
            f"report takes fits (sl.Fit, sl.losstoloss.LossToLossFit) or paths to saved "
            f"fits, got {type(value).__name__} "
            f"{shown if len(shown) <= 60 else shown[:57] + '...'}")

    def default_name(value, fit):
        return Path(value).stem if isinstance(value, (str, Path)) else fit.spec.law.name

    if isinstance(fits, (FitLike, str, Path)):
        fits = [fits]
    if isinstance(fits, Mapping):
        out = {str(k): one(v) for k, v in fits.items()}
    elif isinstance(fits, Sequence):
        out = {}
        for value in fits:
            fit = one(value)
            name, base, i = default_name(value, fit), default_name(value, fit), 2
            while name in out:
                name, i = f"{base}-{i}", i + 1
            out[name] = fit
    else:
        raise ScalingLawError(
            f"report takes a dict of named fits, a list of fits or paths, or one fit; got "
            f"{type(fits).__name__}"
        )
    if not out:
        raise ScalingLawError("report got no fits; pass at least one")
    return out


# --- sections -----------------------------------------------------------------------------

def data_section(frame: pd.DataFrame, fits: Mapping[str, Any]) -> str:
    """Rows, ranges of inputs and targets (with how many rows observe each), and factor
    levels with counts."""
    roles: dict[str, str] = {}
    for fit in fits.values():
        for column, role in anatomy(fit).roles.items():
            roles.setdefault(column, role)
    labels = ("factor", "run", "input model")          # columns of levels, not numbers
    numeric = [c for c in frame.columns if c in roles and roles[c] not in labels]
    rows = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        rows.append({"column": column, "role": roles[column], "rows": int(values.notna().sum()),
                     "min": values.min(), "median": values.median(), "max": values.max()})
    ranges = pd.DataFrame(rows).set_index("column") if rows else pd.DataFrame()
    parts = [f"<p>{len(frame)} runs (rows).</p>"]
    if len(ranges):
        parts.append(table_html(ranges))
    for column, role in roles.items():
        if role in labels and column in frame.columns:
            counts = frame[column].astype(str).value_counts().sort_index()
            if role != "factor" or len(counts) > 30:
                parts.append(f"<p><b>{escape(column)}</b> ({role}): {len(counts)} levels, "
                             f"{counts.min()}–{counts.max()} rows each.</p>")
            else:
                levels = ", ".join(f"{escape(k)} ({v})" for k, v in counts.items())
                parts.append(f"<p><b>{escape(column)}</b> ({role}): {levels}.</p>")
    return "".join(parts)


def comparison_section(fits: Mapping[str, Any]) -> tuple[str, Any]:
    """The PSIS-LOO comparison table, its notes and ArviZ's comparison plot."""

    try:
        table = compare(fits)
    except ScalingLawError as err:
        return (notes_box([Note(f"These models cannot be compared by PSIS-LOO: {err}",
                                "error")]), None)
    parts = ["<p>PSIS-LOO estimates how well each model predicts a new run like the "
             "fitted ones (expected log predictive density, higher is better; "
             "<code>elpd_diff</code> is the gap to the best and <code>dse</code> its "
             "standard error; <code>weight</code> is the stacking weight; rows with Pareto "
             "k &gt; 0.7 are flagged).</p>",
             table_html(pd.DataFrame(table).drop(columns=["scale"], errors="ignore"))]
    if table.notes:
        parts.append(notes_box(table.notes))
    if len(table) > 1:
        parts.append(figure_img(plot_comparison(table), "PSIS-LOO comparison plot",
                                "Expected log predictive density (PSIS-LOO) of each model "
                                "with its standard error; the dashed line marks the best."))
    return "".join(parts), table


def validation_section(result) -> str:
    """Leave-largest-scale-out scores, coverage table and calibration figures."""

    where = ", ".join(f"{escape(result.by)} &ge; {t:.3g}" for t in result.thresholds)
    summary = result.summary()
    parts = [f"<p>Each model was refitted on the runs below each threshold ({where}) and "
             f"scored on the held-out larger runs: <code>elpd</code> is their summed log "
             f"predictive density (higher is better), <code>are_mean</code> the mean "
             f"absolute relative error of the posterior median in percent, "
             f"<code>coverage_50</code> and <code>coverage_90</code> the fraction of "
             f"held-out runs inside the 50% and 90% predictive intervals.</p>",
             table_html(summary),
             "<h3>Per threshold</h3>",
             table_html(result.scores.set_index(["model", "threshold"])),
             "<h3>Coverage of predictive intervals</h3>",
             "<p>Fraction of held-out runs (over all thresholds) inside each central "
             "predictive interval; the last row is the range a calibrated model stays in "
             "nine times out of ten with this many runs.</p>",
             table_html(coverage_table(result))]
    if result.notes:
        parts.append(notes_box(result.notes))
    parts.append(figure_img(plot_calibration(result), "calibration of held-out predictions",
                            "Left: PIT histogram (flat when calibrated; U-shaped when "
                            "intervals are too narrow). Right: fraction of held-out runs inside "
                            "central predictive intervals against their nominal mass."))
    parts.append(figure_img(plot_holdout(result), "held-out runs against predictions",
                            "Prediction error of the posterior median for each held-out run, "
                            "with its predictive interval in the same units; a bar crossing "
                            "zero contains the observed value."))
    return "".join(parts)


def predictions_section(table: pd.DataFrame, fits: Mapping[str, Any], budgets: bool,
                        tokens_per_param: float | None) -> str:
    """Per model, a table of the targets: inputs, median, credible and predictive
    intervals; then the notes (targets a model cannot take, far extrapolations)."""
    interval = table.attrs["interval"]
    parts = [f"<p>Each model at each target, for each group (the factor levels it is "
             f"predicted for; a target without a level is predicted for every fitted "
             f"level): the posterior median, the {interval:.0%} credible interval of the "
             f"law and the {interval:.0%} predictive interval of a new run, as the fit's "
             f"<code>predict</code> gives them. C = 6ND is derived from N and D"]
    if budgets:
        split = (f"at D/N = {tokens_per_param:g}: N = &radic;(C / (6 D/N))"
                 if tokens_per_param is not None else
                 "at the compute-optimal split: the posterior median N* of "
                 "<code>sl.decide.compute_optimal</code> for the group, D = C / (6 N*)")
        parts.append(f"; a FLOP budget C is taken by a law of C as it is, and by a law of N "
                     f"and D {split}")
    parts.append(". <i>Beyond data</i> is how far the target lies outside the fitted runs, "
                 "in decades of its furthest variable (0 inside). The fit figures mark the "
                 "targets.</p>")
    factors = {f for fit in fits.values() for f in fit.spec.factors}
    inputs = [c for c in table.columns
              if c not in ("model", "target", "group", *factors, *VALUES)]
    weights = table.attrs.get("weights")
    for name in (*fits, STACKED):
        rows = table[table["model"] == name].set_index(["target", "group"])
        if not len(rows):
            continue
        shown = rows[[c for c in inputs if rows[c].notna().any()]].rename(
            columns={"tokens_per_param": "D/N"})
        shown["median"] = rows["median"]
        for what, lo, hi in (("credible", "lower", "upper"),
                             ("predictive", "pred_lower", "pred_upper")):
            shown[f"{interval:.0%} {what}"] = [f"{a:#.4g} – {b:#.4g}"
                                               for a, b in zip(rows[lo], rows[hi], strict=True)]
        shown["beyond data (decades)"] = rows["decades_beyond"].round(2)
        if name == STACKED:
            shares = ", ".join(f"{escape(n)} {w:.2f}" for n, w in weights.items())
            about = (f"the models' predictive draws mixed by their stacking weights ({shares}; "
                     f"<code>sl.stacked_predict</code>), at each target's levels, or at "
                     f"every level all the models were fitted on")
        else:
            about = f"{escape(anatomy(fits[name]).name)} on {escape(fits[name].spec.target)}"
        parts.append(f"<h3>{escape(name)} <small>({about})</small></h3>{table_html(shown)}")
    notes = table.attrs.get("notes", [])
    if notes:
        parts.append(notes_box(notes))
    return "".join(parts)


def targets_of(table: pd.DataFrame, fit, name: str) -> pd.DataFrame | None:
    """One model's rows of the predictions table as the inputs its figure marks."""
    if not len(table):
        return None
    rows = table[table["model"] == name]
    if not len(rows):
        return None
    spec = fit.spec
    out = pd.DataFrame({spec.inputs[v]: rows[v].to_numpy() for v in spec.law.variables})
    for f in spec.factors:
        out[f] = rows[f].to_numpy()
    return out


def coverage_table(result, levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95)) -> pd.DataFrame:
    """Coverage per model (rows) and nominal level (columns), as ``"0.41 (9/22)"``."""
    table = result.coverage(levels=levels)
    out = {}
    for name, rows in table.groupby("model", sort=False):
        out[name] = {f"{q:.0%}": f"{r.empirical:.2f} ({r.inside}/{r.n})"
                     for q, r in zip(rows["nominal"], rows.itertuples(), strict=True)}
    first = table[table["model"] == table["model"].iloc[0]]
    out["calibrated range"] = {f"{q:.0%}": f"{lo:.2f}–{hi:.2f}" for q, lo, hi in
                               zip(first["nominal"], first["band_lower"], first["band_upper"],
                                   strict=True)}
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "model"
    return frame


# --- the page -----------------------------------------------------------------------------

def build_html(fits: Any, *, validation=None, holdout: Any = None, by: str = "C",
               data: pd.DataFrame | None = None, title: str = "Scaling-law report",
               interval: float = 0.9, seed: int = 0, chains: int | None = None,
               warmup: int | None = None, draws: int | None = None,
               progress: bool = False, at: Any = None, compute: Any = None,
               tokens_per_param: float | None = None) -> str:
    """The report as one HTML string (see :func:`report` for the parameters).

    >>> page = build_html({"chinchilla": fit})  # doctest: +SKIP
    """

    check_interval(interval)
    fits = as_fits(fits)
    comp_html, table = comparison_section(fits)
    asked = at is not None or compute is not None
    weights = table["weight"].to_dict() if table is not None and len(table) > 1 else None
    predicted = (predictions(fits, at=at, compute=compute, tokens_per_param=tokens_per_param,
                             interval=interval, seed=seed, weights=weights)
                 if asked or tokens_per_param is not None else None)
    comparable, why = True, ""
    try:
        check_comparable(fits)
    except ScalingLawError as err:
        comparable, why = False, str(err)
    if data is not None:
        data = as_frame(data, "data")
    check_refit_data(data, holdout)
    own = not comparable and len(fits) > 1  # each with its own rows
    fitted = combined_data(fits) if comparable else next(iter(fits.values())).data()
    if validation is not None and not isinstance(validation, Extrapolation):
        raise ScalingLawError(f"validation must be the result of validate.extrapolation (an "
                              f"Extrapolation) or None, got {type(validation).__name__}")
    if validation is None and holdout is not None:
        validation = refit_extrapolation(fits, data, holdout=holdout, by=by, seed=seed,
                                         chains=chains, warmup=warmup, draws=draws,
                                         progress=progress)

    sections, nav = [], []

    def add(anchor: str, heading: str, body: str, level: str = "h2") -> None:
        nav.append(f'<li><a href="#{anchor}">{escape(heading)}</a></li>')
        sections.append(f'<section id="{anchor}"><{level}>{escape(heading)}</{level}>'
                        f"{body}</section>")

    lead = []
    targets = ", ".join(dict.fromkeys(f.spec.target for f in fits.values()))
    rows = ("each to its own runs (" + ", ".join(f"{n}: {len(f.data())}"
                                                  for n, f in fits.items()) + ")"
            if own else f"to {len(fitted)} runs")
    lead.append(Note(f"{len(fits)} model(s) of {targets} fitted {rows}."))
    if predicted is not None:
        lead.append(Note(f"Predictions at {len(predicted)} target row(s): see Predictions."))
    if table is not None and len(table) > 1:
        lead.append(Note(f"Best by PSIS-LOO (new runs like the fitted ones): "
                         f"{table.index[0]}."))
    if validation is not None:
        lead.append(Note(f"Best when extrapolating to larger runs (held-out elpd): "
                         f"{validation.summary().index[0]}."))
    if not comparable and len(fits) > 1:
        lead.append(Note(f"Not compared by PSIS-LOO: {why}", "error"))
    troubled = [n for n, f in fits.items() if f.warnings]
    lead.append(Note(f"Sampler problems in: {', '.join(troubled)}.", "warn") if troubled
                else Note("All sampler checks passed for every model.", "ok"))
    add("summary", "Summary", notes_box(lead))
    if predicted is not None:
        add("predictions", "Predictions",
            predictions_section(predicted, fits, compute is not None, tokens_per_param))
    add("data", "Data", data_section(fitted, fits) if not own else
        "<p>Each model's own rows (they are not compared; see Summary):</p>"
        + "".join(f"<h3>{escape(n)}</h3>{data_section(f.data(), {n: f})}"
                  for n, f in fits.items()))
    for name, fit in fits.items():
        nav.append(f'<li><a href="#{slug(name)}">Model: {escape(name)}</a></li>')
        marked = targets_of(predicted, fit, name) if predicted is not None else None
        sections.append(model_section(name, fit, interval=interval, targets=marked))
    add("comparison", "Comparison (PSIS-LOO, WAIC, stacking)", comp_html)
    if validation is not None:
        add("extrapolation", "Extrapolation validation (leave largest scale out)",
            validation_section(validation))
    else:
        add("extrapolation", "Extrapolation validation (leave largest scale out)",
            "<p>Not run. Pass <code>holdout=</code> to <code>sl.report</code> (or "
            "<code>--holdout</code> on the command line) to refit on the smaller runs "
            "and score the larger ones.</p>")
    prov = pd.DataFrame(
        [{"model": n, "law": anatomy(f).name, "spec hash": spec_hash(f.spec),
          "rows": len(f.data())} | ({"data hash": data_hash(f.data())} if own else {})
         for n, f in fits.items()]).set_index("model")
    versions = _versions(__version__)
    hashed = "" if own else f"Data hash {data_hash(fitted)}. "
    add("provenance", "Provenance",
        f"{table_html(prov)}<p>{hashed}{escape(versions)}.</p>")

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    template = Template(resources.files(__package__).joinpath("template.html").read_text())
    return template.substitute(
        title=escape(title), version=escape(__version__),
        subtitle=escape(f"Generated {now} by scalinglaws {__version__}; "
                    f"spec hashes: " + ", ".join(f"{n} {spec_hash(f.spec)}"
                                                 for n, f in fits.items())),
        nav="".join(nav), body="\n".join(sections),
        footer=escape(f"{versions}. Generated {now}."))


def _versions(own: str) -> str:
    import arviz
    import jax
    import numpyro

    return (f"scalinglaws {own}, NumPyro {numpyro.__version__}, JAX {jax.__version__}, "
            f"ArviZ {arviz.__version__}")


def report(fits: Any, path: str | Path, *, validation=None, holdout: Any = None,
           by: str = "C", data: pd.DataFrame | None = None,
           title: str = "Scaling-law report", interval: float = 0.9, seed: int = 0,
           chains: int | None = None, warmup: int | None = None, draws: int | None = None,
           progress: bool = False, at: Any = None, compute: Any = None,
           tokens_per_param: float | None = None) -> Path:
    """Write a self-contained HTML report of one or more fits.

    The file holds a summary; the predictions at the targets (when ``at`` or
    ``compute`` is given): per model, target and group the median, credible and
    predictive intervals; a data summary; for each model its law (formula), hierarchy,
    priors, sampler diagnostics in plain words, parameters in natural units per group and
    the fit/extrapolation figure (reaching the largest target, which it marks); a
    loss-to-loss fit shows its compute law and its link, with its link figure; the
    PSIS-LOO/WAIC/stacking comparison; the leave-largest-scale-out validation with its
    coverage table and calibration plot (when ``validation`` or ``holdout`` is given);
    the package version and a hash of each spec. Notes are boxed and coloured by
    severity (:class:`~scalinglaws.display.Note`). Figures are embedded; viewing it
    needs no network.

    Parameters
    ----------
    fits : dict of str to fit, list of fits or paths, or one fit
        What to report: scaling-law fits (:class:`~scalinglaws.Fit`), loss-to-loss fits
        (:class:`~scalinglaws.losstoloss.LossToLossFit`) or both (fits of different kinds
        or targets are shown side by side, not compared by PSIS-LOO); paths to ``.nc``
        files are loaded with :func:`scalinglaws.load`.
    path : str or Path
        Where to write the ``.html`` file.
    validation : Extrapolation, optional
        A finished :func:`scalinglaws.validate.extrapolation` to include.
    holdout : float, sequence of float or "largest", optional
        Run the validation now with these thresholds on ``by`` (refits every model).
    by : str
        Scale of the thresholds (``"C"``, ``"N"``, or a column).
    data : DataFrame, optional
        The runs for the ``holdout`` refits (by default, rebuilt from the fits); the
        report describes the fits' own rows.
    title : str
        Page title.
    interval : float
        Mass of the bands and parameter intervals.
    seed, chains, warmup, draws, progress
        Sampler settings of the validation refits (default: each fit's own chains and
        draws, as many warmup steps as draws); ``seed`` also seeds the predictions.
    at : dict, list of dict or DataFrame, optional
        Targets to predict: law variables (``{"N": 7e9, "D": 1.4e11}``; C = 6ND is
        derived) and optionally a factor level (``"dataset": "web"``); without a level,
        every fitted level of each factor the model varies by. A loss-to-loss fit reads
        its compute law's variables and predicts its target through the link. Models
        that can be compared also predict every target together (at its levels, or
        at each level all of them were fitted on): their draws mixed by the stacking
        weights (a ``(stacked)`` table).
    compute : float or list of float, optional
        FLOP budgets to predict at: a law of C as they are, a law of N and D at the
        compute-optimal split (:func:`scalinglaws.decide.compute_optimal`, posterior
        median N*, D = C / (6 N*); for a loss-to-loss fit, of its output loss) or at
        ``tokens_per_param``.
    tokens_per_param : float, optional
        D/N of the split of every budget instead of the compute-optimal one:
        N = sqrt(C / (6 r)), D = r N.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> sl.report({"chinchilla": fit1, "overtraining": fit2}, "report.html")  # doctest: +SKIP
    PosixPath('report.html')
    >>> sl.report(fits, "report.html", at={"N": 7e9, "D": 1.4e11, "dataset": "web"},
    ...           compute=[1e23, 1e24])  # doctest: +SKIP
    PosixPath('report.html')
    """
    path = check_output_path(path, "report", (".html", ".htm"))
    page = build_html(fits, validation=validation, holdout=holdout, by=by, data=data,
                      title=title, interval=interval, seed=seed, chains=chains,
                      warmup=warmup, draws=draws, progress=progress, at=at,
                      compute=compute, tokens_per_param=tokens_per_param)
    return write_atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"), "report")
