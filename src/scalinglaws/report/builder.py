"""Build the self-contained HTML report: sections, tables and embedded figures.

Everything the page shows is inside the one file: figures are PNG and formulas SVG
(rendered by matplotlib's mathtext), both as ``data:`` URIs; styles are inline; there is
no script. A Content-Security-Policy meta tag forbids any network request, so the file
views the same offline as online.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import html
import io
import json
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd

from .._checks import check_interval, check_output_path, write_atomic
from ..errors import ScalingLawError

#: Resolution of embedded figures (pixels per inch); 100 keeps a 3-panel fit plot
#: readable on a laptop and the file small.
DPI = 100


# --- small helpers ------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def spec_hash(spec) -> str:
    """First 12 hex digits of the SHA-256 of the spec's canonical JSON.

    Two fits with the same hash were made from the same model description (law, columns,
    hierarchy, priors, likelihood).

    >>> import scalinglaws as sl
    >>> spec_hash(sl.ScalingModel("chinchilla", target="loss")) == spec_hash(
    ...     sl.ScalingModel("chinchilla", target="loss"))
    True
    """
    return hashlib.sha256(spec.to_json().encode()).hexdigest()[:12]


def data_hash(frame: pd.DataFrame) -> str:
    """First 12 hex digits of the SHA-256 of a frame's CSV text (columns sorted).

    >>> data_hash(pd.DataFrame({"a": [1.0]})) == data_hash(pd.DataFrame({"a": [1.0]}))
    True
    """
    text = frame[sorted(frame.columns)].to_csv(index=False, float_format="%.17g")
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def figure_img(fig, alt: str, caption: str = "") -> str:
    """A matplotlib figure as an embedded PNG ``<figure>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return (f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">{cap}'
            f"</figure>")


def math_img(latex: str) -> str:
    """A formula rendered by matplotlib mathtext as an embedded SVG ``<img>``.

    Falls back to the LaTeX source in ``<code>`` when mathtext cannot render it.

    >>> math_img(r"L = E + A C^{-\\alpha}").startswith('<img class="math"')
    True
    """
    import matplotlib
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), matplotlib.rc_context({"mathtext.fontset": "cm"}):
            warnings.simplefilter("ignore")
            mathtext.math_to_image(f"${latex}$", buf, dpi=DPI, format="svg",
                                   prop=FontProperties(size=15))
    except Exception:  # noqa: BLE001 - any mathtext failure falls back to the source
        return f"<p><code>{_e(latex)}</code></p>"
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="math" alt="{_e(latex)}" src="data:image/svg+xml;base64,{data}">'


def table_html(frame: pd.DataFrame, index: bool = True, digits: int = 4) -> str:
    """A DataFrame as a compact, horizontally scrollable HTML table.

    Index levels become the leading (left-aligned, bold) columns; numbers are shown with
    ``digits`` significant digits and right-aligned, text is left-aligned and escaped.

    >>> table_html(pd.DataFrame({"x": [1.23456]}, index=["a"]))  # doctest: +ELLIPSIS
    '<div class="scroll"><table>...<td class="num">1.235</td>...'
    """
    def cell(x) -> tuple[str, str]:
        if isinstance(x, (bool, np.bool_)):
            return "text", "yes" if x else "no"
        if isinstance(x, (int, np.integer)):
            return "num", str(int(x))
        if isinstance(x, (float, np.floating)):
            return "num", "" if np.isnan(x) else f"{x:.{digits}g}"
        return "text", _e(x)

    n_index = frame.index.nlevels if index else 0
    shown = frame.reset_index() if index else frame
    names = list(frame.index.names) + list(frame.columns) if index else list(frame.columns)
    body = [[cell(v) for v in values] for values in shown.itertuples(index=False)]
    kinds = ["text" if i < n_index or any(row[i][0] == "text" for row in body) else "num"
             for i in range(len(names))]
    head = "".join(f'<th class="{kind}">{_e("" if name is None else name)}</th>'
                   for name, kind in zip(names, kinds, strict=True))
    rows = []
    for values in body:
        cells = [f'<{"th" if i < n_index else "td"} class="{kinds[i]}">{text}'
                 f'</{"th" if i < n_index else "td"}>' for i, (_, text) in enumerate(values)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _box(kind: str, items: Sequence[str], lead: str = "") -> str:
    inner = "".join(f"<li>{_e(i)}</li>" for i in items)
    head = f"<p>{lead}</p>" if lead else ""
    return f'<div class="box {kind}">{head}' + (f"<ul>{inner}</ul>" if inner else "") + "</div>"


def _slug(name: str) -> str:
    return "model-" + "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")


# --- inputs -------------------------------------------------------------------------------

def as_fits(fits: Any) -> dict[str, Any]:
    """Normalise fits given as a Fit, paths, a list, or a dict to ``{name: Fit}``.

    Paths (``.nc`` files written by :meth:`Fit.save <scalinglaws.Fit.save>`) are loaded;
    unnamed fits are named by file stem or law name (made unique).
    """
    from ..results import Fit, load

    def one(value):
        if isinstance(value, Fit):
            return value
        if isinstance(value, (str, Path)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return load(value)
        raise ScalingLawError(
            f"report takes fits (sl.Fit) or paths to saved fits, got {type(value).__name__}"
        )

    def default_name(value, fit):
        return Path(value).stem if isinstance(value, (str, Path)) else fit.spec.law.name

    if isinstance(fits, (Fit, str, Path)):
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
    """Rows, ranges of inputs and target, and factor levels with counts."""
    roles: dict[str, str] = {}
    for fit in fits.values():
        spec = fit.spec
        for var, column in spec.inputs.items():
            roles.setdefault(column, f"input {var}")
        roles.setdefault(spec.target, "target")
        for factor in spec.factors:
            roles.setdefault(factor, "factor")
        if spec.run:
            roles.setdefault(spec.run, "run")
    numeric = [c for c in frame.columns if roles.get(c, "").startswith(("input", "target"))]
    rows = []
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        rows.append({"column": column, "role": roles[column], "min": values.min(),
                     "median": values.median(), "max": values.max()})
    ranges = pd.DataFrame(rows).set_index("column") if rows else pd.DataFrame()
    parts = [f"<p>{len(frame)} runs (rows).</p>"]
    if len(ranges):
        parts.append(table_html(ranges))
    for column, role in roles.items():
        if role in ("factor", "run") and column in frame.columns:
            counts = frame[column].astype(str).value_counts().sort_index()
            if role == "run" or len(counts) > 30:
                parts.append(f"<p><b>{_e(column)}</b> ({role}): {len(counts)} levels, "
                             f"{counts.min()}–{counts.max()} rows each.</p>")
            else:
                levels = ", ".join(f"{_e(k)} ({v})" for k, v in counts.items())
                parts.append(f"<p><b>{_e(column)}</b> ({role}): {levels}.</p>")
    return "".join(parts)


def _hierarchy(fit) -> list[str]:
    spec, design = fit.spec, fit.design
    lines = []
    for p in spec.law.params:
        factors = design.vary.get(p.name, ())
        if not factors:
            lines.append(f"{p.name}: shared by all runs.")
            continue
        desc = []
        for f in factors:
            n = len(design.factors[f].levels)
            desc.append(f"{f} ({n} levels)")
        how = ("independent per level" if spec.pooling == "none"
               else "partial pooling (a population value plus per-level offsets)")
        lines.append(f"{p.name}: varies by {' + '.join(desc)}; {how}.")
    dropped = {k: v for k, v in spec.vary.items() if k not in design.vary}
    if dropped:
        lines.append(f"Asked to vary but fitted as shared (a factor had a single level, or "
                     f"pooling is complete): {sorted(dropped)}.")
    noise = "Student-t" if spec.likelihood == "student_t" else "Normal"
    on = "log y" if spec.scale == "log" else "y"
    sigma = design.vary.get("sigma", ())
    lines.append(f"Noise: {noise} on {on}" + (f", sigma varies by {', '.join(sigma)}"
                                               if sigma else ", one sigma") + ".")
    if spec.run:
        lines.append(f"Run offsets: one per {spec.run} (checkpoints of a run share it); a new "
                     f"run gets a fresh offset from the population.")
    refs = ", ".join(f"{k}_ref = {np.exp(v):.3g}" for k, v in design.log_reference.items())
    lines.append(f"Reference scale of the coefficients: {refs}.")
    return lines


def _priors(fit) -> pd.DataFrame:
    spec, design = fit.spec, fit.design
    rows = []
    for p in spec.law.params:
        where = " (at the reference scale)" if p.reference else ""
        rows.append({"parameter": p.sampled_name, "prior": repr(spec.prior(p.name)),
                     "set by": "model" if p.name in spec.priors else "default",
                     "meaning": p.description + where})
        if p.name in design.vary and spec.pooling == "partial":
            rows.append({"parameter": f"{p.name}_sd", "prior": repr(spec.prior(f"{p.name}_sd")),
                         "set by": "model" if f"{p.name}_sd" in spec.priors else "default",
                         "meaning": f"between-level sd of {p.name} (unconstrained scale)"})
    extra = [("sigma", "observation noise sd")]
    if "sigma" in design.vary:
        extra.append(("sigma_sd", "between-level sd of log sigma"))
    if spec.likelihood == "student_t":
        extra.append(("nu", "Student-t degrees of freedom"))
    if spec.run:
        extra.append(("run_sd", "sd of per-run offsets"))
    for name, meaning in extra:
        rows.append({"parameter": name, "prior": repr(spec.prior(name)),
                     "set by": "model" if name in spec.priors else "default",
                     "meaning": meaning})
    return pd.DataFrame(rows).set_index("parameter")


def diagnostics(fit) -> dict[str, float]:
    """Sampler numbers of a fit: chains, draws, divergences, R-hat, ESS, steps, BFMI."""
    import arviz as az

    post, stats = fit.idata.posterior, fit.idata.sample_stats
    summary = fit.summary()
    out = {"chains": int(post.sizes["chain"]), "draws per chain": int(post.sizes["draw"]),
           "divergences": int(stats["diverging"].sum()) if "diverging" in stats else 0,
           "max R-hat": float(summary["r_hat"].max()),
           "min bulk ESS": float(summary["ess_bulk"].min()),
           "min tail ESS": float(summary["ess_tail"].min())}
    if "n_steps" in stats:
        out["mean leapfrog steps"] = float(stats["n_steps"].mean())
        out["max leapfrog steps"] = int(stats["n_steps"].max())
    try:
        out["min BFMI"] = float(np.min(az.bfmi(fit.idata)))
    except Exception:  # noqa: BLE001 - BFMI needs an energy field that old files may lack
        pass
    return out


def model_section(name: str, fit, interval: float = 0.9, figures: bool = True) -> str:
    """One model: law, hierarchy, priors, diagnostics, parameters and the fit figure."""
    spec, law = fit.spec, fit.spec.law
    inputs = ", ".join(f"{_e(v)} = column <code>{_e(c)}</code>" for v, c in spec.inputs.items())
    parts = [f'<section class="model" id="{_slug(name)}"><h2>Model: {_e(name)}</h2>',
             f"<p><b>Law</b> <code>{_e(law.name)}</code>"
             + (f" ({_e(law.citation)})" if law.citation else "") + "</p>",
             math_img(law.latex),
             f"<p>{_e(law.description)} Inputs: {inputs}; target: column "
             f"<code>{_e(spec.target)}</code>.</p>" if law.description else
             f"<p>Inputs: {inputs}; target: column <code>{_e(spec.target)}</code>.</p>"]
    parts.append('<div class="grid"><div><h3>Hierarchy</h3><ul>'
                 + "".join(f"<li>{_e(line)}</li>" for line in _hierarchy(fit))
                 + "</ul></div>")
    diag = diagnostics(fit)
    diag_frame = pd.DataFrame({"value": list(diag.values())}, index=list(diag))
    parts.append(f"<div><h3>Sampler diagnostics</h3>{table_html(diag_frame)}</div></div>")
    if fit.warnings:
        parts.append(_box("warn", fit.warnings,
                          "<b>The sampler reported problems.</b> Numbers below may be "
                          "unreliable:"))
    else:
        parts.append(_box("ok", [], "All sampler checks passed (no divergences, R-hat, "
                                    "effective sample sizes and BFMI within limits)."))
    parts.append(f"<h3>Priors</h3>{table_html(_priors(fit))}")
    parts.append(f"<h3>Parameters ({interval:.0%} intervals)</h3>"
                 f"{table_html(fit.summary(interval))}")
    if figures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # matplotlib's colour-map notices
            fig = fit.plot(interval=interval)
        parts.append(figure_img(
            fig, f"{name}: data, posterior median and bands",
            f"Points: the fitted runs. Line and dark band: posterior median and "
            f"{interval:.0%} credible band of the law; light band: {interval:.0%} "
            f"posterior-predictive interval of a new run; grey region: extrapolation beyond "
            f"the largest fitted run."))
    parts.append(f"<details><summary>Model spec (hash {spec_hash(spec)})</summary>"
                 f"<pre>{_e(json.dumps(spec.to_dict(), indent=2, sort_keys=True))}</pre>"
                 f"</details></section>")
    return "".join(parts)


def comparison_section(fits: Mapping[str, Any]) -> tuple[str, Any]:
    """The PSIS-LOO comparison table, its notes and ArviZ's comparison plot."""
    from ..compare import compare
    from ..plotting import plot_comparison

    try:
        table = compare(fits)
    except ScalingLawError as err:
        return (f"<p>These models cannot be compared by PSIS-LOO: {_e(err)}</p>", None)
    parts = ["<p>PSIS-LOO estimates how well each model predicts a new run like the "
             "fitted ones (expected log predictive density, higher is better; "
             "<code>elpd_diff</code> is the gap to the best and <code>dse</code> its "
             "standard error; <code>weight</code> is the stacking weight; rows with Pareto "
             "k &gt; 0.7 are flagged).</p>",
             table_html(pd.DataFrame(table).drop(columns=["scale"], errors="ignore"))]
    if table.notes:
        parts.append(_box("warn" if table["k_flag"].any() else "ok", table.notes))
    if len(table) > 1:
        parts.append(figure_img(plot_comparison(table), "PSIS-LOO comparison plot",
                                "Expected log predictive density (PSIS-LOO) of each model "
                                "with its standard error; the dashed line marks the best."))
    return "".join(parts), table


def validation_section(result) -> str:
    """Leave-largest-scale-out scores, coverage table and calibration figures."""
    from ..plotting import plot_calibration, plot_holdout

    where = ", ".join(f"{_e(result.by)} &ge; {t:.3g}" for t in result.thresholds)
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
        parts.append(_box("warn" if any("problem" in n or "overconfident" in n
                                        for n in result.notes) else "ok", result.notes))
    parts.append(figure_img(plot_calibration(result), "calibration of held-out predictions",
                            "Left: PIT histogram (flat when calibrated; U-shaped when "
                            "intervals are too narrow). Right: fraction of held-out runs inside "
                            "central predictive intervals against their nominal mass."))
    parts.append(figure_img(plot_holdout(result), "held-out runs against predictions",
                            "Prediction error of the posterior median for each held-out run, "
                            "with its predictive interval in the same units; a bar crossing "
                            "zero contains the observed value."))
    return "".join(parts)


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
               progress: bool = False) -> str:
    """The report as one HTML string (see :func:`report` for the parameters).

    >>> page = build_html({"chinchilla": fit})  # doctest: +SKIP
    """
    from .. import __version__
    from ..compare import check_comparable, combined_data

    check_interval(interval)
    fits = as_fits(fits)
    comparable, why = True, ""
    try:
        check_comparable(fits)
    except ScalingLawError as err:
        comparable, why = False, str(err)
    if data is None:
        data = combined_data(fits) if comparable else next(iter(fits.values())).data()
    if validation is None and holdout is not None:
        from ..validate import extrapolation

        first = next(iter(fits.values()))
        n_chains = chains or int(first.idata.posterior.sizes["chain"])
        n_draws = draws or int(first.idata.posterior.sizes["draw"])
        validation = extrapolation(fits, data, holdout=holdout, by=by, seed=seed,
                                   chains=n_chains, warmup=warmup or n_draws,
                                   draws=n_draws, progress=progress)

    sections, nav = [], []

    def add(anchor: str, heading: str, body: str, level: str = "h2") -> None:
        nav.append(f'<li><a href="#{anchor}">{_e(heading)}</a></li>')
        sections.append(f'<section id="{anchor}"><{level}>{_e(heading)}</{level}>'
                        f"{body}</section>")

    comp_html, table = comparison_section(fits)
    lead = []
    target = next(iter(fits.values())).spec.target
    lead.append(f"{len(fits)} model(s) of {target} fitted to {len(data)} runs.")
    if table is not None and len(table) > 1:
        lead.append(f"Best by PSIS-LOO (new runs like the fitted ones): {table.index[0]}.")
    if validation is not None:
        lead.append(f"Best when extrapolating to larger runs (held-out elpd): "
                    f"{validation.summary().index[0]}.")
    if not comparable and len(fits) > 1:
        lead.append(f"Not compared by PSIS-LOO: {why}")
    troubled = [n for n, f in fits.items() if f.warnings]
    lead.append(f"Sampler problems in: {', '.join(troubled)}." if troubled
                else "All sampler checks passed for every model.")
    add("summary", "Summary", _box("warn" if troubled else "ok", lead))
    add("data", "Data", data_section(data, fits))
    for name, fit in fits.items():
        nav.append(f'<li><a href="#{_slug(name)}">Model: {_e(name)}</a></li>')
        sections.append(model_section(name, fit, interval=interval))
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
        [{"model": n, "law": f.spec.law.name, "spec hash": spec_hash(f.spec),
          "rows": f.design.n_rows} for n, f in fits.items()]).set_index("model")
    versions = _versions(__version__)
    add("provenance", "Provenance",
        f"{table_html(prov)}<p>Data hash {data_hash(data)}. {_e(versions)}.</p>")

    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    template = Template(resources.files(__package__).joinpath("template.html").read_text())
    return template.substitute(
        title=_e(title), version=_e(__version__),
        subtitle=_e(f"Generated {now} by scalinglaws {__version__}; "
                    f"spec hashes: " + ", ".join(f"{n} {spec_hash(f.spec)}"
                                                 for n, f in fits.items())),
        nav="".join(nav), body="\n".join(sections),
        footer=_e(f"{versions}. Generated {now}."))


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
           progress: bool = False) -> Path:
    """Write a self-contained HTML report of one or more fits.

    The file holds a data summary; for each model its law (formula), hierarchy, priors,
    sampler diagnostics in plain words, parameter table and fit/extrapolation figure;
    the PSIS-LOO/WAIC/stacking comparison; the leave-largest-scale-out validation with
    its coverage table and calibration plot (when ``validation`` or ``holdout`` is
    given); the package version and a hash of each spec. Figures are embedded; viewing
    it needs no network.

    Parameters
    ----------
    fits : dict of str to Fit, list of Fit or paths, or one Fit
        What to report; paths to ``.nc`` files are loaded.
    path : str or Path
        Where to write the ``.html`` file.
    validation : Extrapolation, optional
        A finished :func:`scalinglaws.validate.extrapolation` to include.
    holdout : float, sequence of float or "largest", optional
        Run the validation now with these thresholds on ``by`` (refits every model).
    by : str
        Scale of the thresholds (``"C"``, ``"N"``, or a column).
    data : DataFrame, optional
        The runs (by default, rebuilt from the fits).
    title : str
        Page title.
    interval : float
        Mass of the bands and parameter intervals.
    seed, chains, warmup, draws, progress
        Sampler settings of the validation refits (default: each fit's own chains and
        draws, as many warmup steps as draws).

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> sl.report({"chinchilla": fit1, "overtraining": fit2}, "report.html")  # doctest: +SKIP
    PosixPath('report.html')
    """
    path = check_output_path(path, "report", (".html", ".htm"))
    page = build_html(fits, validation=validation, holdout=holdout, by=by, data=data,
                      title=title, interval=interval, seed=seed, chains=chains,
                      warmup=warmup, draws=draws, progress=progress)
    return write_atomic(path, lambda tmp: tmp.write_text(page, encoding="utf-8"), "report")


def fit_html(fit, name: str | None = None, interval: float = 0.9) -> str:
    """One fit's report section (without the figure) as an HTML fragment.

    Suitable for ``Fit._repr_html_`` in Jupyter.

    >>> fit_html(fit)  # doctest: +SKIP
    """
    return model_section(name or fit.spec.law.name, fit, interval=interval, figures=False)
