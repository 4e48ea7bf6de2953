"""IsoFLOP frontiers fitted jointly over budgets: ``scalinglaws reproduce isoflop``.

Hoffmann et al.'s Approach 2 fits a parabola per isoFLOP budget and regresses the vertices'
log N on log C. Here every budget of a sweep enters one posterior through an ``isoflop``
curve: at budget C the loss against log N has its minimum at N_opt = G C^a, the vertex of
each budget varies around that line by a partially pooled offset (``vary={"G":
"budget"}``), and the exponent a, N_opt(C) at any C and the loss at the optimum come out of
the posterior directly. The study's model (:data:`LAW`, ``isoflop_parabola_budget_noise``)
is a parabola in log N around each vertex, fitted on the points a minimum is read from
(:func:`study_rows`: the :data:`WINDOW` sizes each side of each budget's lowest loss, the
budgets whose lowest loss is at an end of their sizes dropped, as Porian et al. do), with
a noise scale that is a power of the budget (small budgets scatter more). It was chosen
among the variants of ``benchmarks/isoflop_variants.py`` by how well a fit without a
sweep's largest budget predicts where that budget's optimum lies.

Tables (``data/isoflop/DATA.md`` for the data and the parabola baseline):

- Porian et al. 2024, 15 configurations: our posterior median and 90% interval of a beside
  the authors' weighted fit and the parabola's point a;
- Marin ladders (3 datasets) and Llama 3 Fig. 2: a with its interval beside the parabola
  baseline and its bootstrap intervals;
- held-out largest budget: fitted on the other budgets, the loss at the optimum of the
  largest one (a budget never seen, its offset drawn from the population) against the
  lowest loss measured there.

Examples
--------
>>> frame = pd.DataFrame({"flops": [1e18] * 3 + [1e19] * 3,
...                       "params": [1e7, 1e8, 1e9, 10**7.5, 10**8.5, 10**9.5],
...                       "loss": [3.6, 3.5, 3.55, 3.3, 3.2, 3.25]})
>>> round(parabola_exponent(frame), 3)
0.5
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import decide
from .._warnings import filtered
from ..errors import ScalingLawError, ScalingLawWarning
from ..laws import get as get_law
from ..scaling_model import ScalingModel
from .common import Reproduction, Settings, fit_many, fit_model, load_table
from .scoring import convergence_notes, fit_diagnostics

__all__ = [
    "LADDER_BASELINES",
    "holdout_table",
    "isoflop_frame",
    "isoflop_model",
    "ladder_table",
    "near_minimum",
    "parabola_exponent",
    "porian_table",
    "run",
    "specs",
    "study_rows",
]

STUDY = "isoflop"
TITLE = "IsoFLOP frontiers (Approach 2) fitted jointly over budgets: exponent a of N_opt = G C^a"
INTERVAL = 0.9
#: The parabola bootstrap of DATA.md (2,000 resamples within budgets): experiment ->
#: (point a, 2.5-97.5% of (i) all resamples, of (ii) resamples whose vertices stay in range).
LADDER_BASELINES = {
    "marin_comma": (0.405, (-11.414, 0.447), (0.349, 0.453)),
    "marin_dclm": (0.424, (0.318, 0.470), (0.397, 0.473)),
    "marin_nemotron": (0.422, (0.371, 0.466), (0.375, 0.465)),
    "llama3": (0.463, (0.445, 0.501), (0.449, 0.491)),
}
#: The sweeps whose largest budget is held out and predicted.
HOLDOUT = ("llama3", "marin_dclm")
#: Sizes kept on each side of a budget's lowest measured loss (:func:`near_minimum`): the
#: study's rows (:func:`study_rows`) and the parabola "near the minimum".
WINDOW = 2
#: The study's law: a parabola in log N around each budget's optimum, noise sigma (C /
#: C_ref)^-s. First among the variants of ``benchmarks/isoflop_variants.py`` by the
#: held-out vertex (a fit without a sweep's largest budget against that budget's own
#: minimum: mean |ln N_opt error| 0.056 against 0.078 with one noise scale and 0.143 for
#: the noise growing away from each optimum on every point).
LAW = "isoflop_parabola_budget_noise"
#: NUTS target acceptance of the study's fits: at 4 x (1,000 + 1,500) draws in level
#: coordinates, 0.99 leaves 1, 8 and 14 divergences over Porian's 15 with seeds 0, 1 and
#: 2 (most on ``owt2:3``, whose vertex spread has a long tail), R-hat at most 1.011 with
#: seeds 0 and 1; in natural coordinates at 4 x (1,000 + 1,000), 11 and 18.
TARGET_ACCEPT = 0.99


def isoflop_frame(table: pd.DataFrame, experiment: str | None = None) -> pd.DataFrame:
    """One sweep's rows with a ``budget`` factor (the nominal budget, ``flops``) and
    ``params_best``, the size with the budget's lowest measured loss (the anchor of
    ``isoflop_spread_measured``'s noise); Marin's validation-optimal runs (off the sweeps)
    dropped. A copy.

    >>> t = pd.DataFrame({"experiment": ["x", "x", "x"], "flops": [1e18, 1e18, 3e18],
    ...                   "params": [1e7, 2e7, 3e7], "loss": [3.0, 2.9, 2.8]})
    >>> out = isoflop_frame(t, "x")
    >>> out["budget"].tolist(), out["params_best"].tolist()
    (['1e+18', '1e+18', '3e+18'], [20000000.0, 20000000.0, 30000000.0])
    """
    out = table if experiment is None else table[table["experiment"] == experiment]
    if len(out) == 0:
        raise ScalingLawError(f"no rows of experiment {experiment!r}; the experiments are "
                              f"{sorted(table['experiment'].unique())}")
    if "validation_optimal" in out.columns:
        out = out[~out["validation_optimal"].astype(str).str.lower().isin(["true", "1"])]
    out = out.copy()
    out["budget"] = out["flops"].map("{:.4g}".format)
    best = out.loc[out.groupby("flops")["loss"].idxmin(), ["flops", "params"]]
    out["params_best"] = out["flops"].map(dict(zip(best["flops"], best["params"].astype(float),
                                                   strict=True)))
    return out


def near_minimum(frame: pd.DataFrame, sizes: int = WINDOW,
                 interior: bool = False) -> pd.DataFrame:
    """Per budget, the rows of the ``sizes`` model sizes on each side of its lowest measured
    loss (and that row): the points an isoFLOP curve's minimum is read from. With
    ``interior``, budgets whose lowest loss is at their smallest or largest size (no
    minimum inside the sampled range) are dropped. A copy, in the frame's order.

    >>> f = pd.DataFrame({"flops": [1.0] * 6, "params": [1, 2, 3, 4, 5, 6],
    ...                   "loss": [5.0, 4.0, 3.0, 3.5, 4.5, 6.0]})
    >>> near_minimum(f, 1)["params"].tolist()
    [2, 3, 4]
    """
    keep: set = set()
    for _, rows in frame.groupby("flops", sort=False):
        rows = rows.sort_values("params", kind="stable")
        low = int(np.argmin(rows["loss"].to_numpy(dtype=float)))
        if interior and low in (0, len(rows) - 1):
            continue
        keep.update(rows.index[max(low - sizes, 0): low + sizes + 1])
    return frame[frame.index.isin(list(keep))].copy()


def study_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the study fits: per budget, the :data:`WINDOW` sizes on each side of its
    lowest measured loss, the budgets whose lowest loss is at an end of their sizes
    dropped (:func:`near_minimum` with ``interior``; Porian et al. drop a budget whose
    interpolated minimum is at an end). A copy.

    >>> f = pd.DataFrame({"flops": [1.0] * 6 + [2.0] * 3, "params": [1, 2, 3, 4, 5, 6, 1, 2, 3],
    ...                   "loss": [5.0, 4.0, 3.0, 3.5, 4.5, 6.0, 3.0, 2.9, 2.8]})
    >>> study_rows(f)["params"].tolist()
    [1, 2, 3, 4, 5]
    """
    return near_minimum(frame, WINDOW, interior=True)


def isoflop_model(vary: dict[str, str] | None = None, likelihood: str = "normal",
                  run: str | None = None,
                  parameterization: str | dict[str, str] = "noncentred",
                  law: Any = LAW, coordinates: str = "level") -> ScalingModel:
    """The joint isoFLOP model: the study's law (:data:`LAW`, a parabola in log N around
    each budget's optimum with noise that is a power of the budget) on N and the nominal
    budget, the vertex offset G by budget (partial pooling), Normal noise on log loss,
    sampled in level coordinates: the optimum's loss at the reference budget, E + K_ref,
    E's share of it, and gamma and kappa scaled by K_ref's share (the optimum's slope and
    curvature there; :func:`scalinglaws.model.sample_level_coordinates`). That default is
    the study's model (fitted on :func:`study_rows`); ``vary``, ``likelihood``, ``run``,
    ``parameterization``, ``coordinates`` (as in :class:`~scalinglaws.ScalingModel`;
    ``"natural"`` samples each parameter's own log) and ``law`` (a name or a
    :class:`~scalinglaws.laws.Law`: ``"isoflop"``, the Chinchilla shape with one noise
    scale; ``isoflop_spread_quadratic``, noise growing away from each optimum; ...) give
    the variants of ``benchmarks/isoflop_variants.py``.

    >>> isoflop_model().law.name, dict(isoflop_model().vary), isoflop_model().coordinates
    ('isoflop_parabola_budget_noise', {'G': ('budget',)}, 'level')
    """
    columns = {"N": "params", "C": "flops", "N_best": "params_best"}
    variables = get_law(law).variables
    return ScalingModel(law, inputs={v: columns[v] for v in variables}, target="loss",
                        vary=vary if vary is not None else {"G": "budget"},
                        likelihood=likelihood, run=run, parameterization=parameterization,
                        coordinates=coordinates)


def parabola_exponent(frame: pd.DataFrame) -> float:
    """Approach 2 as in DATA.md: per budget ``polyfit(ln N, loss, 2)`` (budgets with fewer
    than 3 sizes or no upward curvature skipped), vertex N_opt, then the OLS slope of ln
    N_opt on ln C. NaN with fewer than two usable budgets."""
    logc, logn = [], []
    for c, rows in frame.groupby("flops"):
        x = np.log(rows["params"].to_numpy(dtype=float))
        if np.unique(x).size < 3:
            continue
        p2, p1, _ = np.polyfit(x, rows["loss"].to_numpy(dtype=float), 2)
        if p2 <= 0:
            continue
        logc.append(np.log(float(c)))
        logn.append(-p1 / (2 * p2))
    if len(logc) < 2:
        return float("nan")
    return float(np.polyfit(logc, logn, 1)[0])


def specs() -> dict[str, tuple[ScalingModel, dict[str, Any]]]:
    """The study's model with its ``[study]`` table (see
    :func:`scalinglaws.reproduce.specs`).

    >>> list(specs())
    ['isoflop_joint']
    """
    meta = {"study": STUDY, "table": "porian2024, marin, llama3",
            "rows": f"one sweep (experiment) per fit; per budget the {WINDOW} sizes each "
                    "side of its lowest loss, budgets whose lowest loss is at an end of "
                    "their sizes dropped; Marin's validation-optimal runs dropped",
            "columns": "budget = the nominal budget flops, as text",
            "targets": ["the exponent a", "the largest budget's optimum loss, held out"],
            "description": "every budget of a sweep jointly: a parabola in log N around "
                           "N_opt = G C^a, vertex offsets by budget partially pooled, noise "
                           "a power of the budget; fitted near each minimum; NUTS "
                           f"target_accept {TARGET_ACCEPT}"}
    return {"isoflop_joint": (isoflop_model(), meta)}


def _exponent(fit: Any) -> tuple[float, float, float]:
    a = fit.idata.posterior["a"].to_numpy().ravel()
    lo, hi = np.quantile(a, [(1 - INTERVAL) / 2, (1 + INTERVAL) / 2])
    return float(np.median(a)), float(lo), float(hi)


def porian_table(data_dir: Any, settings: Settings, log: Callable[[str], None],
                 experiments: Sequence[str] | None = None) -> tuple[pd.DataFrame, list]:
    """Per Porian configuration: our a (median, 90% interval; fitted on
    :func:`study_rows`) beside the authors' weighted fit and the parabola's point a (on
    every point, and on the points near each minimum, :func:`near_minimum`); and the fits'
    sampler diagnostics. The configurations are fitted as one batched program."""
    table = load_table(STUDY, "porian2024", data_dir)
    authors = load_table(STUDY, "porian2024_author_fits", data_dir).set_index("experiment")
    names = list(authors.index) if experiments is None else list(experiments)
    rows, diagnostics = [], []
    frames = {name: isoflop_frame(table, name) for name in names}
    fitted = {name: study_rows(frame) for name, frame in frames.items()}
    fits = fit_many(isoflop_model(), {f"porian {n}": f for n, f in fitted.items()},
                    settings, log, target_accept=TARGET_ACCEPT)
    for name, frame in frames.items():
        fit, _ = fits[f"porian {name}"]
        median, lo, hi = _exponent(fit)
        theirs = float(authors.loc[name, "a_weighted"])
        rows.append({"configuration": name, "points": len(fitted[name]),
                     "budgets": fitted[name]["budget"].nunique(), "a_median": median,
                     "a_lower": lo, "a_upper": hi, "authors_a": theirs,
                     "abs_diff": abs(median - theirs),
                     "within_0.03": abs(median - theirs) <= 0.03,
                     "authors_inside": lo <= theirs <= hi,
                     "parabola_a": parabola_exponent(frame),
                     "parabola_a_near_minimum": parabola_exponent(near_minimum(frame))})
        diagnostics.append(fit_diagnostics(f"porian {name}", fit))
    return pd.DataFrame(rows), diagnostics


def _ladders(data_dir: Any) -> dict[str, pd.DataFrame]:
    marin = load_table(STUDY, "marin", data_dir)
    out = {name: isoflop_frame(marin, name) for name in sorted(marin["experiment"].unique())}
    out["llama3"] = isoflop_frame(load_table(STUDY, "llama3", data_dir))
    return out


def ladder_table(data_dir: Any, settings: Settings,
                 log: Callable[[str], None]) -> tuple[pd.DataFrame, list]:
    """Marin's three ladders and Llama 3: our a with its interval beside the parabola."""
    rows, diagnostics = [], []
    frames = _ladders(data_dir)
    fitted = {name: study_rows(frame) for name, frame in frames.items()}
    fits = fit_many(isoflop_model(), fitted, settings, log, target_accept=TARGET_ACCEPT)
    for name, frame in frames.items():
        fit, _ = fits[name]
        median, lo, hi = _exponent(fit)
        point, boot, inrange = LADDER_BASELINES.get(name, (np.nan, (np.nan,) * 2, (np.nan,) * 2))
        rows.append({"sweep": name, "points": len(fitted[name]),
                     "budgets": fitted[name]["budget"].nunique(),
                     "a_median": median, "a_lower": lo, "a_upper": hi,
                     "parabola_a": parabola_exponent(frame), "DATA.md_parabola_a": point,
                     "boot_i": f"{boot[0]:.3f}-{boot[1]:.3f}",
                     "boot_ii_in_range": f"{inrange[0]:.3f}-{inrange[1]:.3f}"})
        diagnostics.append(fit_diagnostics(name, fit))
    return pd.DataFrame(rows), diagnostics


def holdout_table(data_dir: Any, settings: Settings, log: Callable[[str], None],
                  sweeps: Sequence[str] = HOLDOUT) -> tuple[pd.DataFrame, list]:
    """Fit each sweep without its largest budget; predict that budget's optimum loss (a new
    budget: its offset drawn from the population) and N_opt, beside the lowest loss
    measured there and the parabola's vertex through its points."""
    rows, diagnostics = [], []
    frames = _ladders(data_dir)
    for name in sweeps:
        frame = frames[name]
        largest = frame["flops"].max()
        fit = fit_model(isoflop_model(), study_rows(frame[frame["flops"] < largest]),
                        settings, log,
                        f"{name} without {largest:.3g}", target_accept=TARGET_ACCEPT)
        held = near_minimum(frame[frame["flops"] == largest])
        draws = fit.predict_draws(pd.DataFrame({"params": held["params"],
                                                "flops": held["flops"],
                                                "budget": "held out"}), seed=settings.seed)
        # the optimum of the new budget per draw: N_opt = G_b C^a with its drawn offset
        # (a budget the fit never saw is the point here: its warning is left out)
        with filtered(("ignore", ScalingLawWarning)):
            opt = {k: np.asarray(v)[:, 0] for k, v in decide.optimal_draws(
                fit, largest, group={"budget": "held out"}, seed=settings.seed).items()
                if k in ("N", "loss")}
        lo, hi = (1 - INTERVAL) / 2, (1 + INTERVAL) / 2
        x = np.log(held["params"].to_numpy(dtype=float))
        p2, p1, p0 = np.polyfit(x, held["loss"].to_numpy(dtype=float), 2)
        observed = held["loss"].to_numpy(dtype=float)
        band = np.quantile(draws["observed"], [lo, hi], axis=0)
        rows.append({
            "sweep": name, "held_out_budget": largest, "points": len(held),
            "loss_opt_median": float(np.median(opt["loss"])),
            "loss_opt_lower": float(np.quantile(opt["loss"], lo)),
            "loss_opt_upper": float(np.quantile(opt["loss"], hi)),
            "lowest_loss_measured": float(observed.min()),
            "parabola_vertex_loss": float(p0 - p1 ** 2 / (4 * p2)) if p2 > 0 else np.nan,
            "N_opt_median": float(np.median(opt["N"])),
            "N_opt_lower": float(np.quantile(opt["N"], lo)),
            "N_opt_upper": float(np.quantile(opt["N"], hi)),
            "N_of_lowest_loss": float(held["params"].to_numpy()[observed.argmin()]),
            "points_in_90%_band": float(((band[0] <= observed) & (observed <= band[1])).mean()),
        })
        diagnostics.append(fit_diagnostics(f"{name} without {largest:.3g}", fit))
    return pd.DataFrame(rows), diagnostics


def run(data_dir: str | os.PathLike[str] | None, settings: Settings, out: Path | None,
        log: Callable[[str], None]) -> Reproduction:
    """The study's reproduction (called by :func:`scalinglaws.reproduce.reproduce`)."""
    porian, d1 = porian_table(data_dir, settings, log)
    ladders, d2 = ladder_table(data_dir, settings, log)
    holdout, d3 = holdout_table(data_dir, settings, log)
    diagnostics = pd.DataFrame(d1 + d2 + d3)
    n = len(porian)
    notes = [
        f"Porian: posterior median of a within 0.03 of the authors' weighted fit on "
        f"{int(porian['within_0.03'].sum())} of {n} configurations; their value inside our "
        f"90% interval on {int(porian['authors_inside'].sum())} of {n}; the parabola's point "
        f"a within 0.03 on {int((abs(porian['parabola_a'] - porian['authors_a']) <= 0.03).sum())}"
        f" of {n} (on the {WINDOW} sizes each side of each budget's lowest loss: "
        f"{int((abs(porian['parabola_a_near_minimum'] - porian['authors_a']) <= 0.03).sum())}"
        f" of {n}).",
        "Held out: loss_opt is the law's minimum at the largest budget, from a fit that never "
        "saw it (its vertex offset drawn from the population); the truth nearest to it is "
        "the lowest loss measured in that sweep (at or above the true minimum).",
    ]
    notes += convergence_notes(diagnostics)
    tables = {"Marin ladders and Llama 3": ladders, "held-out largest budget": holdout,
              "sampler": diagnostics}
    return Reproduction(STUDY, TITLE, porian, tables, tuple(notes), (), 0.0, settings)
