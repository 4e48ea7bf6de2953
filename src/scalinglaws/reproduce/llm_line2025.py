"""Mayilvahanan et al. 2025, LLMs on the line: ``scalinglaws reproduce llm_line2025``.

"Data, not architecture, determines the loss-to-loss curve" as model comparison:
shifted-power curves varying by pretraining data against curves varying by architecture
(PSIS-LOO), and the posterior size of the architecture effect among the Pile-trained
models against the data effect among the FineWeb ablation models.

Examples
--------
>>> len(specs())
8
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import filtered
from ..compare import compare
from ..errors import ScalingLawError
from ..laws import Law
from ..priors import Prior
from ..scaling_model import ScalingModel
from .common import Reproduction, Settings, fit_model, load_table, require_columns, write_figure
from .scoring import convergence_notes, fit_diagnostics, quantiles

TITLE = "Mayilvahanan et al. 2025: LLMs on the line (data determines the curve)"

_LLM_LINE_PAIRS: tuple[tuple[str, str], ...] = (
    ("fineweb_edu_validation_loss", "c4_validation_loss"),
    ("fineweb_edu_validation_loss", "hellaswag_loss"),
)
#: The curve parameters that vary by group: the level and the elasticity at the reference.
_CURVE = ("V", "g")


#: A floor below every observed value of each input loss: the curves write E_x = r * floor
#: with r in (0, 1), so that L_x - E_x > 0 wherever the sampler starts.
LLM_LINE_FLOOR = {"fineweb_edu_validation_loss": 2.9}
#: The input loss at which the curve's level and elasticity are measured (the middle of
#: the data).
LLM_LINE_REFERENCE = {"fineweb_edu_validation_loss": 3.4}
#: NUTS's target acceptance in the LLMs-on-the-line fits. The fits whose groups barely
#: differ (by architecture, and the Pile-only fits) diverge at the tails of the floor
#: shares and of the group scales: at 0.9 up to ~100 of 2,000 draws with some seeds, at
#: 0.95 up to 60 (seed 0, the C4 Pile fit, R-hat 1.044); at 0.99, 0-5 of 6,000.
LLM_LINE_TARGET_ACCEPT = 0.99
LLM_LINE_PILE = "The Pile"
#: The FineWeb ablation models: one architecture (Llama, 1.71B) and tokenizer, three datasets.
LLM_LINE_ABLATIONS = ("C4", "FineWeb-Edu", "The Pile Deduped")
#: The architectures compared among the Pile-trained models, at the gpt-neox tokenizer.
LLM_LINE_ARCHITECTURES = ("GPT", "Mamba", "Mamba2")


def level_law(x: str) -> Law:
    """The shifted power law in the coordinates the data measure: level, elasticity, floor.

    ``L_y = E_y + K ((L_x - E_x)/(x0 - E_x))^kappa`` written as
    ``V (s + (1 - s) u^(g/(1 - s)))`` with ``u = (L_x - E_x)/(x0 - E_x)``, where at the
    reference ``L_x = x0`` (3.4 nats) ``V = E_y + K`` is the curve's level, ``s = E_y/V`` the
    floor's share of it and ``g = (1 - s) kappa = d log L_y / d log(L_x - E_x)`` its
    elasticity; so ``E_y = s V``, ``K = (1 - s) V``, ``kappa = g / (1 - s)``. The losses pin
    V and g per curve to ~0.1%; in (K, kappa, E_y) the same curve is a curved ridge along
    E_y that NUTS crossed in hundreds of leapfrog steps. ``E_x = r * floor`` with ``r`` in
    (0, 1) keeps ``L_x - E_x > 0`` wherever the sampler starts.

    >>> law = level_law("fineweb_edu_validation_loss")
    >>> law.param_names
    ('V', 's', 'r', 'g')
    >>> round(float(law.fn({"L": 3.4}, {"V": 3.0, "s": 0.2, "r": 0.5, "g": 0.7})), 12)
    3.0
    """

    floor, x0 = LLM_LINE_FLOOR[x], LLM_LINE_REFERENCE[x]
    return Law.from_expression(
        f"V*(s + (1 - s)*((L - r*{floor})/({x0} - r*{floor}))**(g/(1 - s)))",
        name=f"shifted_power_level_at_{x0}", variables=("L",),
        params={"V": {"prior": Prior("LogNormal", 1.0, 0.5), "group_scale": 0.2,
                      "description": f"level: the output loss at L = {x0}"},
                "g": {"prior": Prior("LogNormal", 0.0, 0.5), "group_scale": 0.2,
                      "description": f"elasticity d log L_y / d log(L - E_x) at L = {x0}"},
                "s": {"constraint": "unit", "prior": Prior("Beta", 2.0, 2.0),
                      "description": f"the floor E_y as a share of the level at L = {x0}"},
                "r": {"constraint": "unit", "prior": Prior("Beta", 2.0, 2.0),
                      "description": f"the input's floor E_x as a share of {floor}"}})


def _llm_line_spec(x: str, y: str, by: str | list[str] | None,
                   parameterization: str = "noncentred") -> ScalingModel:
    vary = {} if by is None else {p: by for p in _CURVE}
    return ScalingModel(level_law(x), inputs={"L": x}, target=y, vary=vary,
                        priors={"sigma": Prior("HalfNormal", 0.05)},
                        parameterization=parameterization)


def _short(column: str) -> str:
    return column.replace("_validation_loss", "").replace("_loss", "").replace("_", "-")


def specs() -> dict[str, tuple[Any, dict[str, Any]]]:
    """The study's models with their ``[study]`` tables (see
    :func:`scalinglaws.reproduce.specs`)."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    for x, y in _LLM_LINE_PAIRS:
        tag = f"{_short(x)}_to_{_short(y)}".replace("-", "_")
        base = {"study": "llm_line2025", "table": "hf_models", "x": x, "y": y,
                "rows": f"every model with both {x} and {y}", "targets": []}
        for by, name in (("dataset", "by_data"), ("architecture", "by_architecture"),
                         (None, "shared")):
            # the data's curves are each well measured and clearly apart: centred offsets
            # (non-centred ones made a funnel with the group scales, R-hat 1.3)
            out[f"llm_line2025_{tag}_{name}"] = (
                _llm_line_spec(x, y, by, "centred" if by == "dataset" else "noncentred"),
                {**base, "description": f"shifted power law {_short(y)} against {_short(x)}, "
                                        f"level V and elasticity g "
                                        + (f"varying by {by}" if by else "shared by all")})
        out[f"llm_line2025_{tag}_pile_architecture"] = (
            _llm_line_spec(x, y, "arch_tokenizer"),
            {**base, "rows": "the Pile-trained models (dataset 'The Pile') with both losses",
             "description": "architecture effect among Pile-trained models (Pythia, GPT-Neo, "
                            "GPT-J, GPT-NeoX, Mamba, Mamba2): V and g vary by "
                            "architecture/tokenizer (GPT-Neo and GPT-J use the gpt2 tokenizer)"})
    return out


def llm_line_frame(models: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows of the LLMs-on-the-line table that carry both losses ``x`` and ``y``.

    Keeps the factors ``dataset``, ``architecture`` and ``tokenizer`` (a missing tokenizer
    becomes ``"unknown"``), adds ``arch_tokenizer`` (e.g. ``"Mamba/gpt-neox"``), and drops
    rows without a positive ``x`` and ``y`` or without a dataset or architecture.

    Examples
    --------
    >>> models = pd.DataFrame({"dataset": ["C4", "C4", None], "architecture": "Llama",
    ...                        "tokenizer": [None, "gpt2", "gpt2"], "a": [3.1, 3.0, 2.9],
    ...                        "b": [2.5, float("nan"), 2.4]})
    >>> llm_line_frame(models, "a", "b")[["dataset", "tokenizer"]].values.tolist()
    [['C4', 'unknown']]
    """
    require_columns(models, ["dataset", "architecture", "tokenizer", x, y],
                    "the llm_line2025 table")
    frame = models.copy()
    for column in (x, y):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    keep = (frame[x] > 0) & (frame[y] > 0) & frame["dataset"].notna() & frame[
        "architecture"].notna()
    frame = frame[keep].copy()
    if frame.empty:
        raise ScalingLawError(f"llm_line2025: no row has both {x!r} and {y!r}; choose loss "
                              f"columns that the table fills (e.g. fineweb_edu_validation_loss)")
    frame["tokenizer"] = frame["tokenizer"].fillna("unknown").astype(str)
    for column in ("dataset", "architecture"):
        frame[column] = frame[column].astype(str)
    frame["arch_tokenizer"] = frame["architecture"] + "/" + frame["tokenizer"]
    return frame


def _spread(fit: Any, frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Per draw: (max - min) / mean of the curves at the rows of ``frame``, in percent."""
    law = fit.predict_draws(frame, seed=seed)["law"]
    return 100 * (law.max(axis=1) - law.min(axis=1)) / law.mean(axis=1)


def _loo_difference(fit_a: Any, fit_b: Any) -> tuple[float, float]:
    """elpd_loo(a) - elpd_loo(b) and its standard error, from pointwise PSIS-LOO."""
    import arviz as az

    with filtered(("ignore", Warning)):
        a = np.asarray(az.loo(fit_a.idata, pointwise=True, var_name="y").loo_i)
        b = np.asarray(az.loo(fit_b.idata, pointwise=True, var_name="y").loo_i)
    diff = a - b
    return float(diff.sum()), float(np.sqrt(diff.size * diff.var(ddof=1)))


def _comparison(fits: Mapping[str, Any]) -> pd.DataFrame:
    with filtered(("ignore", Warning)):
        table = pd.DataFrame(compare(dict(fits)))
    return table[["rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight",
                  "k_bad", "k_very_bad"]]


def run(data_dir: Any, settings: Settings, out: Path | None,
        log: Callable[[str], None]) -> Reproduction:
    models = load_table("llm_line2025", "hf_models", data_dir)
    all_specs = {name: spec for name, (spec, _) in specs().items()}
    rows, comparisons, draws, fits_by_pair, diag = [], {}, {}, {}, []
    for x, y in _LLM_LINE_PAIRS:
        tag = f"{_short(x)}_to_{_short(y)}".replace("-", "_")
        pair = f"{_short(x)} -> {_short(y)}"
        frame = llm_line_frame(models, x, y)
        if frame[x].min() <= LLM_LINE_FLOOR[x]:
            raise ScalingLawError(
                f"llm_line2025: {x} goes down to {frame[x].min():.3f}, below the floor "
                f"{LLM_LINE_FLOOR[x]} of the curve's E_x; is this the pinned table?")
        pile = frame[frame["dataset"] == LLM_LINE_PILE]
        fits = {}
        for name, label in (("by_data", "by data"), ("by_architecture", "by architecture"),
                            ("shared", "shared curve")):
            fits[label] = fit_model(all_specs[f"llm_line2025_{tag}_{name}"], frame, settings,
                                    log, f"{pair}, {label}",
                                    target_accept=LLM_LINE_TARGET_ACCEPT)
        pile_fit = fit_model(all_specs[f"llm_line2025_{tag}_pile_architecture"], pile,
                             settings, log, f"{pair}, Pile: architecture/tokenizer",
                             target_accept=LLM_LINE_TARGET_ACCEPT)
        fits_by_pair[pair] = (frame, fits, pile_fit, x, y)
        diag += [fit_diagnostics(f"{pair}, {k}", f) for k, f in fits.items()]
        diag.append(fit_diagnostics(f"{pair}, Pile architecture", pile_fit))
        comparisons[f"PSIS-LOO, {pair} ({len(frame)} models/checkpoints)"] = _comparison(fits)

        claim_loo = "curves differ by data more than by architecture"
        for other in ("by architecture", "shared curve"):
            diff, se = _loo_difference(fits["by data"], fits[other])
            rows.append({"pair": pair, "quantity": f"elpd_loo: by data - {other}",
                         "claim": claim_loo, "estimate": diff,
                         "lower_90": diff - 1.645 * se, "upper_90": diff + 1.645 * se,
                         "se": se, "supports": bool(diff > 2 * se)})

        ablation = frame[frame["dataset"].isin(LLM_LINE_ABLATIONS)]
        x_data = float(ablation[x].median())
        data_probe = pd.DataFrame({x: x_data, "dataset": list(LLM_LINE_ABLATIONS)})
        data_effect = _spread(fits["by data"], data_probe, settings.seed)
        neox = pile[pile["tokenizer"] == "gpt-neox"]
        x_pile = float(neox[x].median())
        arch_probe = pd.DataFrame({x: x_pile, "arch_tokenizer": [
            f"{a}/gpt-neox" for a in LLM_LINE_ARCHITECTURES]})
        arch_effect = _spread(pile_fit, arch_probe, settings.seed)
        tok_probe = pd.DataFrame({x: x_pile,
                                  "arch_tokenizer": ["GPT/gpt-neox", "GPT/gpt2-HF"]})
        tok_effect = _spread(pile_fit, tok_probe, settings.seed)
        draws[pair] = {"data": data_effect, "architecture": arch_effect,
                       "tokenizer": tok_effect}
        d_med, d_lo, d_hi = quantiles(data_effect)
        a_med, a_lo, a_hi = quantiles(arch_effect)
        t_med, t_lo, t_hi = quantiles(tok_effect)
        rows.append({"pair": pair, "quantity": f"data effect, % (Llama ablations at "
                                               f"{_short(x)}={x_data:.2f})",
                     "claim": "large: data determines the curve", "estimate": d_med,
                     "lower_90": d_lo, "upper_90": d_hi, "se": np.nan,
                     "supports": bool(d_lo > a_hi)})
        rows.append({"pair": pair, "quantity": f"architecture effect, % (Pile, gpt-neox, "
                                               f"GPT/Mamba/Mamba2 at {x_pile:.2f})",
                     "claim": "near zero", "estimate": a_med, "lower_90": a_lo,
                     "upper_90": a_hi, "se": np.nan, "supports": bool(a_hi < d_lo)})
        rows.append({"pair": pair, "quantity": "tokenizer effect, % (Pile, GPT: gpt-neox vs "
                                               "gpt2)",
                     "claim": "tokenizer matters", "estimate": t_med, "lower_90": t_lo,
                     "upper_90": t_hi, "se": np.nan, "supports": bool(t_lo > a_hi)})
    table = pd.DataFrame(rows)
    figures: list[Path] = []
    if out is not None:
        _llm_line_figures(fits_by_pair, draws, out, figures)
    notes = [
        "Models: the shifted power law L_y = E_y + K ((L_x - E_x)/(3.4 - E_x))^kappa with "
        "Normal noise on log L_y, sampled as the level V = E_y + K, the elasticity "
        "g = (1 - s) kappa and the floor's share s = E_y / V at L_x = 3.4; 'by data' lets V "
        "and g vary by pretraining data (partial pooling, centred), 'by architecture' by "
        "architecture, 'shared curve' lets nothing vary. E_x and s are shared (a curve's "
        "floor E_y = s V moves with its level): with both shifts free per group the "
        "posterior is a ridge (the curves never approach their "
        "asymptotes and the data are precise to ~0.2%), and the paper itself plugs the "
        "shifts in from other fits.",
        "elpd rows: the difference of PSIS-LOO expected log predictive densities with its "
        "standard error (interval = +-1.645 se); 'supports' when the difference exceeds "
        "2 se. LOO scores new models like the fitted ones; the HF table holds one run per "
        "ablation dataset (its checkpoints), so rows of one run are not independent and "
        "the standard errors are optimistic.",
        "Effect rows: posterior of (max - min) / mean of the predicted L_y across the levels "
        "at one L_x (the median of the compared models): the data effect among the three "
        "FineWeb ablation runs (same Llama architecture and gpt2 tokenizer), the "
        "architecture effect among the Pile-trained models with the gpt-neox tokenizer "
        "(Pythia and GPT-NeoX-20B are 'GPT', Mamba, Mamba2), from a Pile-only fit whose "
        "curves vary by architecture/tokenizer (GPT-Neo and GPT-J are GPT with the gpt2 "
        "tokenizer, which gives the tokenizer row). 'supports' when the two 90% intervals "
        "do not overlap.",
        "The paper's own from-scratch models (6,000 checkpoints) are not in the public data; "
        "this uses the 129 Hugging Face evaluations only, so the architecture comparison "
        "rests on 18 Pile models of 3 architectures and is confounded with model size and "
        "training length (all Pile models saw ~300B tokens).",
    ]
    diag = pd.DataFrame(diag)
    notes += convergence_notes(diag)
    return Reproduction("llm_line2025", TITLE, table,
                        {**comparisons, "sampler": diag}, tuple(notes), tuple(figures))


def _llm_line_figures(fits_by_pair: Mapping, draws: Mapping, out: Path,
                      figures: list[Path]) -> None:
    import matplotlib.pyplot as plt

    pairs = list(fits_by_pair)
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.6 * len(pairs), 4.4),
                             constrained_layout=True, squeeze=False)
    markers = {"Llama": "o", "GPT": "s", "Mamba": "^", "Mamba2": "v", "olmo": "D"}
    for ax, pair in zip(axes.flat, pairs, strict=True):
        frame, fits, _, x, y = fits_by_pair[pair]
        fit = fits["by data"]
        for i, dataset in enumerate(sorted(frame["dataset"].unique())):
            rows = frame[frame["dataset"] == dataset]
            for arch, sub in rows.groupby("architecture"):
                ax.scatter(sub[x], sub[y], s=18, color=f"C{i}", marker=markers.get(arch, "o"),
                           edgecolor="k", linewidth=0.3, zorder=3,
                           label=f"{dataset} / {arch}")
            grid = np.linspace(rows[x].min() * 0.98, rows[x].max() * 1.02, 60)
            pred = fit.predict(pd.DataFrame({x: grid, "dataset": dataset}))
            ax.fill_between(grid, pred["lower"], pred["upper"], color=f"C{i}", alpha=0.2, lw=0)
            ax.plot(grid, pred["median"], color=f"C{i}", lw=1.2)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{pair}: curves by pretraining data (90% bands)", fontsize=9)
        ax.grid(alpha=0.3, lw=0.4)
        ax.legend(fontsize=6, ncol=2)
    write_figure(fig, out, "llm_line2025_curves.png", figures)

    fig, axes = plt.subplots(1, len(pairs), figsize=(5.6 * len(pairs), 3.6),
                             constrained_layout=True, squeeze=False)
    for ax, pair in zip(axes.flat, pairs, strict=True):
        top = max(float(np.quantile(v, 0.999)) for v in draws[pair].values())
        low = min(float(np.quantile(v, 0.001)) for v in draws[pair].values())
        bins = np.geomspace(max(low, 1e-3), max(top, 2e-3), 80)
        for i, (name, values) in enumerate(draws[pair].items()):
            ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, alpha=0.5, color=f"C{i}",
                    label=f"{name} effect")
        ax.set_xscale("log")
        ax.set_yticks([])
        ax.set_xlabel("(max - min) / mean of L_y across levels at one L_x (%), log scale")
        ax.set_title(pair, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, lw=0.4)
    fig.suptitle("Posterior size of the data, architecture and tokenizer effects", fontsize=11)
    write_figure(fig, out, "llm_line2025_effects.png", figures)
