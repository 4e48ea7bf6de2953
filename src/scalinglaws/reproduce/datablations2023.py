"""Muennighoff et al. 2023, data-constrained scaling: ``scalinglaws reproduce datablations2023``.

Protocol (the project's STUDIES page): the paper's 182-run fit set (C4, final validation
loss); fit on the runs with at most 4 epochs (D/U_D <= 4), predict the runs with more;
mean / median / max relative error of the posterior median and the coverage of the 90%
posterior-predictive interval, beside the point fits measured on the same split
(``data/datablations2023/DATA.md``).

Two more rows of evidence: the two models' predictions stacked by their PSIS-LOO weights
(:class:`scalinglaws.compare.Stack`, which also decides how many epochs are worth it
under both models), and the data-constrained law across C4 and OSCAR
(:func:`c4_oscar_model`, with the OSCAR runs' final losses of :func:`oscar_frame`).

The unique parameters U_N are the authors': ``U_N = min(N, N_opt(U_D))`` with N_opt from
the published base constants (:func:`unique_params`), fixed as in their notebook.

Examples
--------
>>> import numpy as np
>>> float(np.round(unique_params(np.array([1e8]))[0] / 1e6, 3))  # U_N for 100M tokens
5.099
>>> published_loss(np.array([1e9]), np.array([2e10]), np.array([2e10])).round(4).tolist()
[2.5646]
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import decide
from .._precision import enable_x64
from ..compare import Stack, compare
from ..errors import ScalingLawError
from ..laws import get
from ..priors import Prior
from ..scaling_model import ScalingModel
from .common import Reproduction, Settings, fit_model, load_table
from .scoring import convergence_notes, fit_diagnostics, score_frame

__all__ = [
    "MAX_FIT_EPOCHS",
    "PUBLISHED",
    "c4_oscar_model",
    "datablations_frame",
    "datablations_split",
    "oscar_frame",
    "published_loss",
    "run",
    "specs",
    "unique_params",
]

STUDY = "datablations2023"
TITLE = ("Muennighoff et al. 2023: data-constrained scaling (182 C4 runs; fit <= 4 epochs, "
         "predict the rest)")
#: Runs with at most this many epochs fit; the others are predicted.
MAX_FIT_EPOCHS = 4.0
#: The published constants (README of huggingface/datablations): log A, log B, log E,
#: alpha = beta, R_D*, R_N*. a, b, e, alpha were fitted to Chinchilla's isoFLOP points, the
#: half-lives to all 182 runs (held-out ones included).
PUBLISHED = {"a": 6.255414, "b": 7.3049974, "e": 0.6254804, "alpha": 0.3526596,
             "beta": 0.3526596, "RD_star": 15.387756, "RN_star": 5.309743}
#: Point-fit baselines on the same split, measured with the authors' Huber + L-BFGS
#: objective (DATA.md): method -> (mean, median, max relative error in %).
BASELINES = {
    "Chinchilla, no repetition terms, point fit (alpha, beta untied)": (7.45, 4.66, 49.7),
    "data-constrained, seven constants, point fit (3,600 starts)": (17.8, 17.7, 36.9),
    "data-constrained, R_D*, R_N* fitted, base constants fixed": (23.2, 21.1, 45.7),
}
#: Noise prior on log loss: the runs' final losses scatter by about 1-3%.
NOISE = Prior("HalfNormal", 0.05)
_INPUTS = {"N": "N", "D": "D", "U_D": "U_D", "U_N": "U_N"}


def unique_params(unique_tokens: Any) -> np.ndarray:
    """The authors' N_opt(U_D): the compute-optimal size for U_D tokens under the published
    base constants, ``(U_D G)^(beta/alpha) G`` with ``G = (alpha A / (beta B))^(1/(alpha +
    beta))``; U_N = min(N, this).

    >>> round(float(unique_params([1e10])[0]) / 1e6, 1)
    509.9
    """
    p = PUBLISHED
    log_g = (np.log(p["alpha"]) + p["a"] - np.log(p["beta"]) - p["b"]) / (p["alpha"] + p["beta"])
    log_u = np.log(np.asarray(unique_tokens, dtype=float))
    return np.exp((p["beta"] / p["alpha"]) * (log_u + log_g) + log_g)


def published_loss(n: Any, d: Any, unique: Any) -> np.ndarray:
    """The published data-constrained law (all seven constants as released), in float64.

    Returns the loss for parameters ``n``, total tokens ``d`` and unique tokens ``unique``.
    """
    enable_x64()
    n, d, unique = (np.asarray(x, dtype=float) for x in (n, d, unique))
    p = PUBLISHED
    params = {"E": np.exp(p["e"]), "A": np.exp(p["a"]), "B": np.exp(p["b"]),
              "alpha": p["alpha"], "beta": p["beta"], "RD_star": p["RD_star"],
              "RN_star": p["RN_star"]}
    variables = {"N": n, "D": d, "U_D": unique, "U_N": np.minimum(n, unique_params(unique))}
    return np.asarray(get("data_constrained").fn(variables, params), dtype=float)


def datablations_frame(final: pd.DataFrame) -> pd.DataFrame:
    """The paper's fit set with the law's columns: ``U_D`` (unique tokens), ``U_N`` (the
    authors' unique parameters) and ``epochs`` (D/U_D); a copy, rows without a loss dropped.

    >>> frame = pd.DataFrame({"N": [1e8], "D": [4e8], "unique_tokens": [1e8], "loss": [4.0],
    ...                       "in_paper_fit_182": [True]})
    >>> datablations_frame(frame)[["U_D", "epochs"]].to_numpy().tolist()
    [[100000000.0, 4.0]]
    """
    needed = ["N", "D", "unique_tokens", "loss", "in_paper_fit_182"]
    missing = [c for c in needed if c not in final.columns]
    if missing:
        raise ScalingLawError(f"the datablations table has no column {missing}; load it with "
                              f"scalinglaws.datasets.load('datablations2023')")
    keep = final["in_paper_fit_182"].astype(str).str.lower().isin(["true", "1"])
    out = final.loc[keep & final["loss"].notna()].copy()
    out["U_D"] = out["unique_tokens"].astype(float)
    out["U_N"] = np.minimum(out["N"].astype(float), unique_params(out["U_D"]))
    out["epochs"] = out["D"].astype(float) / out["U_D"]
    return out


def oscar_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The final losses of the 24 OSCAR repetition runs (the last point of each ColPret
    validation curve in the ``runs`` table) with the law's columns, ``D`` the run's
    planned total tokens and ``dataset = "oscar"``. The two runs whose curves are
    identical point for point upstream (one of them is wrong; DATA.md) are left out.

    >>> runs = pd.DataFrame({"source": ["colpret_tb_curve"] * 2, "dataset": ["oscar"] * 2,
    ...                      "is_final": [True, False], "N": [2.81e9] * 2,
    ...                      "total_tokens": [5.5e10] * 2, "unique_tokens": [4e9] * 2,
    ...                      "loss": [3.17, 3.5], "note": [None, None]})
    >>> oscar_frame(runs)[["U_D", "epochs", "dataset"]].round(2).to_numpy().tolist()
    [[4000000000.0, 13.75, 'oscar']]
    """
    needed = ["source", "dataset", "is_final", "N", "total_tokens", "unique_tokens", "loss",
              "note"]
    missing = [c for c in needed if c not in runs.columns]
    if missing:
        raise ScalingLawError(f"the datablations runs table has no column {missing}; load "
                              f"it with scalinglaws.datasets.load('datablations2023', 'runs')")
    final = runs["is_final"].astype(str).str.lower().isin(["true", "1"])
    duplicated = runs["note"].fillna("").astype(str).str.contains("identical")
    keep = ((runs["source"] == "colpret_tb_curve") & (runs["dataset"] == "oscar") & final
            & ~duplicated & runs["loss"].notna())
    out = runs.loc[keep, ["N", "loss"]].astype(float)
    out["D"] = runs.loc[keep, "total_tokens"].astype(float)
    out["U_D"] = runs.loc[keep, "unique_tokens"].astype(float)
    out["U_N"] = np.minimum(out["N"], unique_params(out["U_D"]))
    out["epochs"] = out["D"] / out["U_D"]
    out["dataset"] = "oscar"
    return out


def c4_oscar_model() -> ScalingModel:
    """The data-constrained law across C4 and OSCAR: E per dataset (``pooling="none"``:
    two levels cannot inform a population scale), every other constant shared.

    >>> c4_oscar_model().vary
    {'E': ('dataset',)}
    """
    return ScalingModel("data_constrained", inputs=_INPUTS, target="loss",
                        vary={"E": "dataset"}, pooling="none", priors={"sigma": NOISE})


def datablations_split(frame: pd.DataFrame,
                       max_epochs: float = MAX_FIT_EPOCHS) -> dict[str, pd.DataFrame]:
    """``{"fit": runs with <= max_epochs epochs, "held_out": the others}``.

    >>> frame = pd.DataFrame({"epochs": [1.0, 4.0, 44.0]})
    >>> {k: len(v) for k, v in datablations_split(frame).items()}
    {'fit': 2, 'held_out': 1}
    """
    many = frame["epochs"] > max_epochs
    return {"fit": frame.loc[~many], "held_out": frame.loc[many]}


def specs() -> dict[str, tuple[ScalingModel, dict[str, Any]]]:
    """The study's models with their ``[study]`` tables (see
    :func:`scalinglaws.reproduce.specs`).

    >>> sorted(specs())
    ['datablations2023_chinchilla', 'datablations2023_data_constrained']
    """
    meta = {"study": STUDY, "table": "final", "select": "in_paper_fit_182",
            "fit": f"epochs = D / unique_tokens <= {MAX_FIT_EPOCHS:g}",
            "targets": [f"epochs > {MAX_FIT_EPOCHS:g}"],
            "columns": "U_D = unique_tokens; U_N = min(N, N_opt(U_D)) under the published "
                       "base constants (reproduce.datablations2023.unique_params)"}
    return {
        "datablations2023_data_constrained": (
            ScalingModel("data_constrained", inputs=_INPUTS, target="loss",
                         priors={"sigma": NOISE}),
            {**meta, "description": "the data-constrained law, all seven constants "
                                    "sampled jointly"}),
        "datablations2023_chinchilla": (
            ScalingModel("chinchilla", inputs={"N": "N", "D": "D"}, target="loss",
                         priors={"sigma": NOISE}),
            {**meta, "description": "Chinchilla on total tokens, no repetition terms"}),
    }


def _bins(frame: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    edges = [MAX_FIT_EPOCHS, 8, 16, 64, 256, np.inf]
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    groups = pd.cut(frame["epochs"].to_numpy(), edges, labels=labels)
    signed = 100 * (scored["median"] - scored["truth"]) / scored["truth"]
    table = pd.DataFrame({"epochs": groups, "abs": scored["rel_err_%"].to_numpy(),
                          "signed": signed.to_numpy(),
                          "covered": scored["covered"].to_numpy()})
    return (table.groupby("epochs", observed=True)
            .agg(runs=("abs", "size"), mean_rel_err_pct=("abs", "mean"),
                 mean_signed_pct=("signed", "mean"), coverage=("covered", "mean"))
            .reset_index())


def _row(method: str, scored: pd.DataFrame | None, errors: tuple | None, fitted: str,
         interval: bool = True) -> dict:
    if scored is not None:
        errors = (scored["rel_err_%"].mean(), scored["rel_err_%"].median(),
                  scored["rel_err_%"].max())
    covered = scored["covered"].mean() if scored is not None and interval else np.nan
    return {"method": method, "fitted_on": fitted, "mean_rel_err_%": errors[0],
            "median_rel_err_%": errors[1], "max_rel_err_%": errors[2],
            "coverage_90": covered}


def _params(fit: Any) -> pd.DataFrame:
    summary = fit.summary()
    p = PUBLISHED
    published = {"E": np.exp(p["e"]), "A": np.exp(p["a"]), "B": np.exp(p["b"]),
                 "alpha": p["alpha"], "beta": p["beta"], "RD_star": p["RD_star"],
                 "RN_star": p["RN_star"]}
    rows = []
    for name, value in published.items():
        s = summary.loc[name]
        rows.append({"parameter": name, "median": s["median"], "lower": s["lower"],
                     "upper": s["upper"], "r_hat": s["r_hat"], "ess_bulk": s["ess_bulk"],
                     "published": value})
    return pd.DataFrame(rows)


def _scored(draws: dict, truth: np.ndarray) -> pd.DataFrame:
    """The protocol's scores of predictive ``draws`` of the held-out runs: the posterior
    median's relative error and whether the 90% predictive interval covers ``truth``."""
    lo, hi = np.quantile(draws["observed"], [0.05, 0.95], axis=0)
    return score_frame(truth, np.median(draws["law"], axis=0), lo, hi)


def _c4_oscar(frame: pd.DataFrame, runs: pd.DataFrame, settings: Settings,
              log: Callable[[str], None]) -> tuple[pd.DataFrame, dict]:
    """:func:`c4_oscar_model` fitted on the C4 fit set and the OSCAR runs with <= 4
    epochs; per dataset, the held-out runs' scores and E."""
    both = pd.concat([frame.assign(dataset="c4"), oscar_frame(runs)], ignore_index=True)
    parts = datablations_split(both)
    name = "c4_oscar"
    fit = fit_model(c4_oscar_model(), parts["fit"], settings, log, name)
    held = parts["held_out"]
    scored = _scored(fit.predict_draws(held, seed=settings.seed),
                     held["loss"].to_numpy(dtype=float))
    summary = fit.summary()
    rows = []
    for dataset in ("c4", "oscar"):
        own = (held["dataset"] == dataset).to_numpy()
        e = summary.loc[f"E[dataset={dataset}]"]
        rows.append({"dataset": dataset,
                     "fitted_runs": int((parts["fit"]["dataset"] == dataset).sum()),
                     "held_out_runs": int(own.sum()),
                     "mean_rel_err_%": scored["rel_err_%"][own].mean(),
                     "median_rel_err_%": scored["rel_err_%"][own].median(),
                     "coverage_90": scored["covered"][own].mean(),
                     "E_median": e["median"], "E_lower": e["lower"], "E_upper": e["upper"]})
    return pd.DataFrame(rows), fit_diagnostics(name, fit)


def epochs_table(fit: Any, n: float = 2.81e9, tokens: float = 5.5e10,
                 epochs: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64)) -> pd.DataFrame:
    """:func:`scalinglaws.decide.epochs_worth_it` for one run of the paper (default the
    2.8B model on 55B tokens), U_N following U_D as in the paper."""
    def u_n(unique: np.ndarray) -> np.ndarray:
        return np.minimum(n, unique_params(unique))

    return decide.epochs_worth_it(fit, {"N": n, "D": tokens, "U_N": n}, epochs=epochs,
                                  unique_params=u_n)


def run(data_dir: str | os.PathLike[str] | None, settings: Settings, out: Path | None,
        log: Callable[[str], None]) -> Reproduction:
    """The study's reproduction (called by :func:`scalinglaws.reproduce.reproduce`)."""
    frame = datablations_frame(load_table(STUDY, "final", data_dir))
    parts = datablations_split(frame)
    held = parts["held_out"]
    truth = held["loss"].to_numpy(dtype=float)
    models = specs()
    fits, rows, diagnostics, bins = {}, [], [], {}
    fitted = f"{len(parts['fit'])} runs <= {MAX_FIT_EPOCHS:g} epochs"
    for name, (model, _meta) in models.items():
        fit = fits[name] = fit_model(model, parts["fit"], settings, log, name)
        scored = _scored(fit.predict_draws(held, seed=settings.seed), truth)
        label = name.replace(f"{STUDY}_", "")
        rows.append(_row(f"{label} (posterior median, ours)", scored, None, fitted))
        diagnostics.append(fit_diagnostics(name, fit))
        bins[label] = _bins(held, scored)
    labelled = {name.replace(f"{STUDY}_", ""): fit for name, fit in fits.items()}
    stack = Stack(labelled, compare(labelled))
    weights = stack.weights
    scored = _scored(stack.predict_draws(held, seed=settings.seed), truth)
    shares = " + ".join(f"{name} {weights[name]:.2f}" for name in labelled)
    rows.append(_row(f"stacked: {shares} (ours)", scored, None, fitted))
    bins["stacked"] = _bins(held, scored)
    published = published_loss(held["N"], held["D"], held["U_D"])
    pub = score_frame(truth, published, published, published)
    rows.append(_row("published constants (saw the held-out runs)", pub, None,
                     "Chinchilla isoFLOPs + all 182 runs", interval=False))
    for method, errors in BASELINES.items():
        rows.append(_row(f"{method} [DATA.md]", None, errors, fitted))
    table = pd.DataFrame(rows)
    across, across_diag = _c4_oscar(frame, load_table(STUDY, "runs", data_dir), settings, log)
    diagnostics.append(across_diag)
    dc = fits["datablations2023_data_constrained"]
    epochs, stacked_epochs = epochs_table(dc), epochs_table(stack)
    notes = [
        f"{len(held)} held-out runs ({held['epochs'].min():.2f}-{held['epochs'].max():g} "
        f"epochs) predicted from {len(parts['fit'])} runs with <= {MAX_FIT_EPOCHS:g} epochs; "
        f"coverage = share of held-out losses inside the 90% posterior-predictive interval.",
        "stacked: both posteriors' predictive draws mixed with their stacking weights "
        "(sl.compare: PSIS-LOO on the fitted runs; Yao et al. 2018), fixed before any "
        "held-out run is read; its interval carries both models' view of repeated data.",
        "Rows marked [DATA.md] are point fits measured on the same split with the authors' "
        "Huber + L-BFGS objective (they have no intervals).",
        f"Epochs worth it for a 2.8B model on 55B tokens (loss penalty <= 1% with "
        f"probability >= 0.9): {epochs.attrs['worth_it']:g} by data_constrained alone, "
        f"{stacked_epochs.attrs['worth_it']:g} by the stack (which also weighs chinchilla's "
        f"view that a repeated token is worth a fresh one).",
    ]
    diag = pd.DataFrame(diagnostics)
    notes += convergence_notes(diag)
    tables = {"parameters (data_constrained, 90% interval)": _params(dc),
              "across C4 and OSCAR (data_constrained, E by dataset)": across,
              **{f"by epochs ({k})": v for k, v in bins.items()},
              "epochs worth it: 2.8B params, 55B tokens (decide.epochs_worth_it)": epochs,
              "epochs worth it (stacked)": stacked_epochs,
              "sampler": diag}
    return Reproduction(STUDY, TITLE, table, tables, tuple(notes), (), 0.0, settings)
