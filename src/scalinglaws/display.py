"""HTML fragments of values: a fit's section, tables, notes boxes, figures and formulas.

They take any fit duck-typed and import nothing that fits, so
:meth:`Fit._repr_html_ <scalinglaws.Fit._repr_html_>` (Jupyter) and the report
(:mod:`scalinglaws.report`) share them.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Resolution of embedded figures (pixels per inch); 100 keeps a 3-panel fit plot
#: readable on a laptop and the file small.
DPI = 100


# --- small helpers ------------------------------------------------------------------------

def escape(value: Any) -> str:
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
    return (f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}">{cap}'
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
        return f"<p><code>{escape(latex)}</code></p>"
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="math" alt="{escape(latex)}" src="data:image/svg+xml;base64,{data}">'


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
        return "text", escape(x)

    n_index = frame.index.nlevels if index else 0
    shown = frame.reset_index() if index else frame
    names = list(frame.index.names) + list(frame.columns) if index else list(frame.columns)
    body = [[cell(v) for v in values] for values in shown.itertuples(index=False)]
    kinds = ["text" if i < n_index or any(row[i][0] == "text" for row in body) else "num"
             for i in range(len(names))]
    head = "".join(f'<th class="{kind}">{escape("" if name is None else name)}</th>'
                   for name, kind in zip(names, kinds, strict=True))
    rows = []
    for values in body:
        cells = [f'<{"th" if i < n_index else "td"} class="{kinds[i]}">{text}'
                 f'</{"th" if i < n_index else "td"}>' for i, (_, text) in enumerate(values)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


#: Severities of a note, from the mildest. A box of notes takes the colour of its
#: strongest note: ``error`` over ``warn`` over ``ok`` over ``info``.
SEVERITIES = ("info", "ok", "warn", "error")


class Note(str):
    """A remark in plain words that knows how much it matters.

    A ``str`` (it prints, compares and joins like one) with a ``severity``, by one rule:

    - ``"ok"``: a check passed (no sampler problems);
    - ``"info"``: a reading of the results that asks nothing of the reader (a ranking,
      a count, how a table was made);
    - ``"warn"``: a number shown may be unreliable or needs care (sampler problems,
      Pareto k > 0.7, unreliable WAIC, miscalibrated held-out intervals, a prediction
      far beyond the data or for a level never fitted);
    - ``"error"``: something asked for is not in the report (models that cannot be
      compared, a target a model cannot take).

    A plain ``str`` counts as ``"info"``.

    >>> note = Note("WAIC is unreliable for 'a'", "warn")
    >>> note.severity, note.startswith("WAIC")
    ('warn', True)
    """

    severity: str

    def __new__(cls, text: str, severity: str = "info") -> Note:
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
        note = super().__new__(cls, text)
        note.severity = severity
        return note

    def __reduce__(self):
        return (Note, (str(self), self.severity))


def severity_of(note: Any) -> str:
    """A note's severity: its own for a :class:`Note`, ``"info"`` for a plain string."""
    return getattr(note, "severity", "info")


def strongest(notes: Sequence[Any], default: str = "info") -> str:
    """The strongest severity of ``notes`` (``default`` when there are none).

    >>> strongest([Note("a", "ok"), "b", Note("c", "warn")])
    'warn'
    """
    found = [SEVERITIES.index(severity_of(n)) for n in notes]
    return SEVERITIES[max(found)] if found else default


def notes_box(items: Sequence[Any], lead: str = "", severity: str | None = None) -> str:
    """Notes as a coloured box: one list item per note, each marked with its severity.

    The box takes ``severity`` when given, else the strongest of its notes (see
    :class:`Note`); ``lead`` is HTML shown above the list.

    >>> notes_box([Note("All checks passed", "ok"), Note("WAIC is unreliable", "warn")])
    '<div class="box warn"><ul><li class="ok">All checks passed</li><li class="warn">WAIC \
is unreliable</li></ul></div>'
    """
    kind = severity or strongest(items)
    if kind not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {kind!r}")
    inner = "".join(f'<li class="{severity_of(i)}">{escape(i)}</li>' for i in items)
    head = f"<p>{lead}</p>" if lead else ""
    return f'<div class="box {kind}">{head}' + (f"<ul>{inner}</ul>" if inner else "") + "</div>"


def slug(name: str) -> str:
    return "model-" + "".join(ch if ch.isalnum() else "-" for ch in name).strip("-")


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


def model_section(name: str, fit, interval: float = 0.9, figures: bool = True,
                  targets: pd.DataFrame | None = None) -> str:
    """One model: law, hierarchy, priors, diagnostics, parameters and the fit figure.

    ``targets`` (rows of the model's inputs and factors) are marked on the figure, whose
    curve then runs past the largest of them.
    """
    spec, law = fit.spec, fit.spec.law
    inputs = ", ".join(f"{escape(v)} = column <code>{escape(c)}</code>"
                       for v, c in spec.inputs.items())
    parts = [f'<section class="model" id="{slug(name)}"><h2>Model: {escape(name)}</h2>',
             f"<p><b>Law</b> <code>{escape(law.name)}</code>"
             + (f" ({escape(law.citation)})" if law.citation else "") + "</p>",
             math_img(law.latex),
             f"<p>{escape(law.description)} Inputs: {inputs}; target: column "
             f"<code>{escape(spec.target)}</code>.</p>" if law.description else
             f"<p>Inputs: {inputs}; target: column <code>{escape(spec.target)}</code>.</p>"]
    parts.append('<div class="grid"><div><h3>Hierarchy</h3><ul>'
                 + "".join(f"<li>{escape(line)}</li>" for line in _hierarchy(fit))
                 + "</ul></div>")
    diag = diagnostics(fit)
    diag_frame = pd.DataFrame({"value": list(diag.values())}, index=list(diag))
    parts.append(f"<div><h3>Sampler diagnostics</h3>{table_html(diag_frame)}</div></div>")
    if fit.warnings:
        parts.append(notes_box([Note(w, "warn") for w in fit.warnings],
                               "<b>The sampler reported problems.</b> Numbers below may be "
                               "unreliable:"))
    else:
        parts.append(notes_box([], "All sampler checks passed (no divergences, R-hat, "
                                   "effective sample sizes and BFMI within limits).", "ok"))
    parts.append(f"<h3>Priors</h3>{table_html(_priors(fit))}")
    parts.append(f"<h3>Parameters ({interval:.0%} intervals)</h3>"
                 f"{table_html(fit.summary(interval))}")
    if figures:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # matplotlib's colour-map notices
            fig = fit.plot(interval=interval, targets=targets)
        marked = ("" if targets is None or not len(targets) else
                  f" Stars: the prediction targets, at their posterior median with their "
                  f"{interval:.0%} predictive interval"
                  + (" (each at its own D/N, which may differ from the curve's)"
                     if set(fit.spec.law.variables) == {"N", "D"} else "") + ".")
        parts.append(figure_img(
            fig, f"{name}: data, posterior median and bands",
            f"Points: the fitted runs. Line and dark band: posterior median and "
            f"{interval:.0%} credible band of the law; light band: {interval:.0%} "
            f"posterior-predictive interval of a new run; grey region: extrapolation beyond "
            f"the largest fitted run.{marked}"))
    parts.append(f"<details><summary>Model spec (hash {spec_hash(spec)})</summary>"
                 f"<pre>{escape(json.dumps(spec.to_dict(), indent=2, sort_keys=True))}</pre>"
                 f"</details></section>")
    return "".join(parts)


def fit_html(fit, name: str | None = None, interval: float = 0.9) -> str:
    """One fit's report section (without the figure) as an HTML fragment.

    Suitable for ``Fit._repr_html_`` in Jupyter.

    >>> fit_html(fit)  # doctest: +SKIP
    """
    return model_section(name or fit.spec.law.name, fit, interval=interval, figures=False)
