"""HTML fragments of values: a fit's section, tables, notes boxes, figures and formulas.

They take any fit duck-typed and import nothing that fits, so
:meth:`Fit._repr_html_ <scalinglaws.Fit._repr_html_>` (Jupyter) and the report
(:mod:`scalinglaws.report`) share them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._warnings import filtered

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
    text = json.dumps(spec.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


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
        with filtered(("ignore", Warning)), matplotlib.rc_context({"mathtext.fontset": "cm"}):
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


# --- what a fit is made of ----------------------------------------------------------------

@dataclass(frozen=True)
class LawPart:
    """One law of a fit as a model section shows it.

    ``law`` is the law as the user named it (its formula is shown); ``spec`` and
    ``design`` are the core :class:`~scalinglaws.ScalingModel` and design it is sampled
    as, whose parameters ``fit.summary()`` names with ``prefix``. ``inputs`` maps its
    variables to columns, ``observed`` is the column its noise is on and ``role`` that
    column's role; ``given`` holds the core names of the priors the user set.
    """

    title: str
    law: Any
    prefix: str
    spec: Any
    design: Any
    inputs: Mapping[str, str]
    observed: str
    role: str
    given: frozenset[str]


@dataclass(frozen=True)
class Anatomy:
    """What a fit is made of, as the report shows it: its laws, the role of each column,
    the hierarchy lines and prior rows beyond those of its laws, and the caption of its
    figure (``{interval:.0%}`` is filled in; ``marks`` is added when targets are marked).
    """

    parts: tuple[LawPart, ...]
    roles: Mapping[str, str]
    hierarchy: tuple[str, ...]
    priors: tuple[dict, ...]
    figure: str
    marks: str

    @property
    def name(self) -> str:
        """The laws' names: ``"chinchilla"``, ``"chinchilla -> shifted_power"``."""
        return " -> ".join(part.law.name for part in self.parts)


#: Caption of a scaling-law fit's figure (:func:`scalinglaws.plotting.plot_fit`).
FIT_FIGURE = ("Points: the fitted runs. Line and dark band: posterior median and "
              "{interval:.0%} credible band of the law; light band: {interval:.0%} "
              "posterior-predictive interval of a new run; grey region: extrapolation beyond "
              "the largest fitted run.")
#: Caption of a loss-to-loss fit's figure (the link, ``LossToLossFit.plot``).
LINK_FIGURE = ("Points: the fitted pairs, observed input loss against output. Line and dark "
               "band: posterior median and {interval:.0%} credible band of the link at a "
               "noise-free input loss; light band: {interval:.0%} predictive interval of a "
               "new output.")
#: What the stars of the figure are, added to its caption when targets are marked.
MARKS = (" Stars: the prediction targets, at their posterior median with their "
         "{interval:.0%} predictive interval")


def anatomy(fit) -> Anatomy:
    """The laws and roles of a fit: the one place the report tells the fit kinds apart.

    A scaling-law fit is one law of its target. A loss-to-loss fit is two: the compute
    law of the input loss ``x`` (parameters ``x.``) and the link from it to the target
    ``y`` (``link.``), with latent input losses between them (``tau``).
    """
    if fit.kind == "loss_to_loss":
        return _loss_to_loss_anatomy(fit)
    spec = fit.spec
    part = LawPart("Law", spec.law, "", spec, fit.design, dict(spec.inputs), spec.target,
                   "target", frozenset(spec.priors))
    marks = MARKS + (" (each at its own D/N, which may differ from the curve's)"
                     if set(spec.law.variables) == {"N", "D"} else "") + "."
    return Anatomy((part,), _roles((part,), spec.factors, spec.run, "run"), (), (),
                   FIT_FIGURE, marks)


def _loss_to_loss_anatomy(fit) -> Anatomy:
    spec, layout = fit.spec, fit.layout
    bare = dataclasses.replace(spec, priors={})     # the model's own defaults

    def given(core, default) -> frozenset[str]:
        return frozenset(k for k, v in core.priors.items() if default.priors.get(k) != v)

    parts = (LawPart("Compute law", spec.law, "x.", spec.x_spec, layout.x_design,
                     dict(spec.inputs), spec.x, "input loss x",
                     given(spec.x_spec, bare.x_spec)),
             LawPart("Link", spec.link, "link.", spec.link_spec, layout.link_design,
                     {"L": spec.x}, spec.y, "target y", given(spec.link_spec, bare.link_spec)))
    run = layout.run_column(spec)
    how = ("integrated out (quadrature)" if spec.latent == "marginal" else "sampled")
    lines = [f"Latent input losses: one per input model ({len(layout.xruns)}, with "
             f"{len(layout.y_rows)} output observations); the log of each one's reducible "
             f"loss lies tau from the compute law's; {how}."]
    if "E_x" in spec.link.param_names:
        lines.append("E_x of the link is the compute law's irreducible loss x.E.")
    lines.append("Feedback: joint (one posterior: the links' data also inform the compute "
                 "law)." if spec.feedback == "joint" else
                 "Feedback: cut (the compute law's parameters from the input losses alone; "
                 "the links given its draws).")
    if spec.law_rows:
        lines.append(f"Input models with {spec.law_rows} false do not inform the compute "
                     f"law (their latent loss gets a wide prior around it).")
    tau = {"parameter": "tau", "prior": repr(spec.tau_prior),
           "set by": "model" if "tau" in spec.priors else "default",
           "meaning": "sd of a run's log reducible input loss around the compute law"}
    return Anatomy(parts, _roles(parts, spec.factors, run, "input model"), tuple(lines),
                   (tau,), LINK_FIGURE,
                   MARKS + ", at their predicted input loss (the compute law's at N, D).")


def _roles(parts: Sequence[LawPart], factors: Sequence[str], run: str | None,
           run_role: str) -> dict[str, str]:
    """The role of each column the fit reads: inputs, observed losses, factors, run."""
    roles: dict[str, str] = {}
    for part in parts:
        for var, column in part.inputs.items():
            roles.setdefault(column, f"input {var}")
        roles.setdefault(part.observed, part.role)
    for factor in factors:
        roles.setdefault(factor, "factor")
    if run:
        roles.setdefault(run, run_role)
    return roles


def _hierarchy(part: LawPart) -> list[str]:
    spec, design, pre = part.spec, part.design, part.prefix
    lines = []
    for p in spec.law.params:
        factors = design.vary.get(p.name, ())
        if not factors:
            lines.append(f"{pre}{p.name}: shared by all runs.")
            continue
        desc = []
        for f in factors:
            n = len(design.factors[f].levels)
            desc.append(f"{f} ({n} levels)")
        how = ("independent per level" if spec.pooling == "none"
               else "partial pooling (a population value plus per-level offsets)")
        lines.append(f"{pre}{p.name}: varies by {' + '.join(desc)}; {how}.")
    dropped = {k: v for k, v in spec.vary.items() if k not in design.vary}
    if dropped:
        lines.append(f"Asked to vary but fitted as shared (a factor had a single level, or "
                     f"pooling is complete): {sorted(pre + k for k in dropped)}.")
    noise = "Student-t" if spec.likelihood == "student_t" else "Normal"
    sigma = design.vary.get("sigma", ())
    lines.append(f"Noise{f' ({pre}sigma)' if pre else ''}: {noise} on {_on(part)}"
                 + (f", sigma varies by {', '.join(sigma)}" if sigma else ", one sigma") + ".")
    if spec.run:
        lines.append(f"Run offsets: one per {spec.run} (checkpoints of a run share it); a new "
                     f"run gets a fresh offset from the population.")
    if any(p.reference for p in spec.law.params):
        refs = ", ".join(f"{k}_ref = {np.exp(v):.3g}" for k, v in design.log_reference.items())
        lines.append(f"Reference scale of the coefficients: {refs}.")
    return lines


def _on(part: LawPart) -> str:
    """What a law's noise is on: ``log loss`` or ``loss``."""
    return f"log {part.observed}" if part.spec.scale == "log" else part.observed


def _priors(part: LawPart) -> list[dict]:
    spec, design, pre = part.spec, part.design, part.prefix

    def row(name: str, meaning: str) -> dict:
        return {"parameter": pre + name, "prior": repr(spec.prior(name)),
                "set by": "model" if name in part.given else "default", "meaning": meaning}

    rows = []
    for p in spec.law.params:
        where = " (at the reference scale)" if p.reference else ""
        rows.append(row(p.name, p.description + where) | {"parameter": pre + p.sampled_name})
        if p.name in design.vary and spec.pooling == "partial":
            rows.append(row(f"{p.name}_sd",
                            f"between-level sd of {pre}{p.name} (unconstrained scale)"))
    extra = [("sigma", f"observation noise sd (on {_on(part)})")]
    if "sigma" in design.vary:
        extra.append(("sigma_sd", "between-level sd of log sigma"))
    if spec.likelihood == "student_t":
        extra.append(("nu", "Student-t degrees of freedom"))
    if spec.run:
        extra.append(("run_sd", "sd of per-run offsets"))
    rows += [row(name, meaning) for name, meaning in extra]
    return rows


def diagnostics(fit) -> dict[str, float]:
    """Sampler numbers of a fit: chains, draws, divergences, R-hat, ESS, steps, BFMI."""
    import arviz as az

    post = fit.idata.posterior
    stats = fit.idata.sample_stats if "sample_stats" in fit.idata.groups() else {}
    summary = fit.summary()
    out = {"chains": int(post.sizes["chain"]), "draws per chain": int(post.sizes["draw"])}
    if "diverging" in stats:
        out["divergences"] = int(stats["diverging"].sum())
    out |= {"max R-hat": float(summary["r_hat"].max()),
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
    """One model: its law(s), hierarchy, priors, diagnostics, parameters and figure.

    A scaling-law fit shows its law; a loss-to-loss fit its compute law and its link
    (see :func:`anatomy`). ``targets`` (rows of the model's inputs and factors) are
    marked on the figure, whose curve then reaches them.
    """
    view = anatomy(fit)
    parts = [f'<section class="model" id="{slug(name)}"><h2>Model: {escape(name)}</h2>']
    for part in view.parts:
        law = part.law
        inputs = ", ".join(f"{escape(v)} = column <code>{escape(c)}</code>"
                           for v, c in part.inputs.items())
        described = f"{escape(law.description)} " if law.description else ""
        parts += [f"<p><b>{escape(part.title)}</b> <code>{escape(law.name)}</code>"
                  + (f" ({escape(law.citation)})" if law.citation else "") + "</p>",
                  math_img(law.latex),
                  f"<p>{described}Inputs: {inputs}; {escape(part.role)}: column "
                  f"<code>{escape(part.observed)}</code>.</p>"]
    lines = [line for part in view.parts for line in _hierarchy(part)] + list(view.hierarchy)
    parts.append('<div class="grid"><div><h3>Hierarchy</h3><ul>'
                 + "".join(f"<li>{escape(line)}</li>" for line in lines)
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
    priors = pd.DataFrame([row for part in view.parts for row in _priors(part)]
                          + list(view.priors)).set_index("parameter")
    parts.append(f"<h3>Priors</h3>{table_html(priors)}")
    parts.append(f"<h3>Parameters ({interval:.0%} intervals)</h3>"
                 f"{table_html(fit.summary(interval))}")
    if figures:
        with filtered(("ignore", UserWarning)):  # matplotlib's colour-map notices
            fig = fit.plot(interval=interval, targets=targets)
        caption = view.figure + ("" if targets is None or not len(targets) else view.marks)
        parts.append(figure_img(fig, f"{name}: data, posterior median and bands",
                                caption.format(interval=interval)))
    parts.append(f"<details><summary>Model spec (hash {spec_hash(fit.spec)})</summary>"
                 f"<pre>{escape(json.dumps(fit.spec.to_dict(), indent=2, sort_keys=True))}"
                 f"</pre></details></section>")
    return "".join(parts)


def fit_html(fit, name: str | None = None, interval: float = 0.9) -> str:
    """One fit's report section (without the figure) as an HTML fragment.

    Suitable for ``Fit._repr_html_`` in Jupyter.

    >>> fit_html(fit)  # doctest: +SKIP
    """
    return model_section(name or fit.spec.law.name, fit, interval=interval, figures=False)
