"""Choshen, Zhang, Andreas 2025 (Hitchhiker's guide): ``scalinglaws reproduce hitchhiker2024``.

Per family, predict the largest model from the smaller ones: per-family fits on final
losses, per-family fits on checkpoints, a hierarchical fit (exponents shared, offsets by
family) and one with exponents partially pooled, on checkpoints; ARE and 90% coverage per
family, beside the paper's least squares rerun. The rows each fit sees, the per-family
units and the paper's fit are in :mod:`scalinglaws.reproduce.hitchhiker2024_protocol`.

Examples
--------
>>> sorted(specs())[:2]
['hitchhiker2024_checkpoints', 'hitchhiker2024_final']
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import filtered
from ..data import make_design
from ..discrepancy import Discrepancy
from ..errors import ScalingLawWarning
from ..model import RUN_SITE, centred_name, level_sites, sampled_sites
from ..priors import Prior
from ..scaling_model import ScalingModel
from .common import Reproduction, Settings, fit_many, fit_model, load_table, write_figure
from .hitchhiker2024_protocol import (
    HITCHHIKER_MAX_CHECKPOINTS,
    hitchhiker_normalise,
    hitchhiker_one_size_down,
    hitchhiker_paper_fit,
    hitchhiker_paper_law,
    hitchhiker_split,
)
from .scoring import INTERVAL, are, convergence_notes, fit_diagnostics, score_targets

TITLE = "Choshen, Zhang, Andreas 2025: predicting each family's largest model"

#: The Hitchhiker fits work in per-family units (:func:`hitchhiker_normalise`): each
#: family's N, D and loss divided by their geometric means over the rows fitted, so that E
#: is a fraction of the family's typical loss and A_ref, B_ref are the two terms at the
#: family's own centre, whatever the loss's units (T5's ~0.05 nats, OPT's perplexities ~20).
#: E: median 0.5 of the typical loss (90% 0.19 to 1.3); the paper's own fits put it at
#: 0.3 to 0.8 for 18 of the 20 families (near 0 for OPT and T5).
HITCHHIKER_E = Prior("LogNormal", -0.7, 0.6)
#: Each term at the family's centre: median 0.2 of the typical loss (90% 0.04 to 1.0).
HITCHHIKER_TERM = Prior("LogNormal", -1.6, 1.0)
#: Between-family scale of log E, log A_ref and log B_ref in the hierarchies (c) and (d):
#: in family units the levels differ by a factor ~2 (E) to ~5 (the terms).
HITCHHIKER_GROUP = Prior("HalfNormal", 1.0)
#: Prior of the exponents in the Hitchhiker fits: the paper's curve_fit starts at 0.35.
HITCHHIKER_EXPONENT = Prior("LogNormal", -1.05, 0.5)
#: Noise of the Hitchhiker checkpoint fits (log loss; its population value when it varies by
#: family): median 0.5% (90% 0.2% to 1.1%). Smooth checkpoint curves alone would push it to
#: ~0.1%, but thinned checkpoints of one run are not independent draws around the law, and
#: where a family's runs have a single row (the Chinchilla IsoFLOP points) the data measure
#: only the sum of the noise and run variances, so the noise needs a prior away from zero.
HITCHHIKER_NOISE = Prior("LogNormal", -5.3, 0.5)
#: Prior of the run-to-run offset (log loss) in the Hitchhiker checkpoint fits: about 1%
#: (90% between 0.44% and 2.3%). A family of two or three runs cannot identify it (a
#: per-family law absorbs the runs' levels), and the paper reports seed-to-seed variation
#: of that order; the default HalfNormal(0.05) lets it collapse to ~0.3%.
HITCHHIKER_RUN_SD = Prior("LogNormal", -4.6, 0.5)
#: The Bayesian models of the Hitchhiker comparison: key, spec suffix, rows they fit.
HITCHHIKER_MODELS = (("a", "final", "final"), ("b", "checkpoints", "checkpoints"),
                     ("c", "hierarchical", "checkpoints"),
                     ("d", "hierarchical_exponents", "checkpoints"))
#: (e): the fit of (c), with the extrapolation error of (c) measured one size down
#: (:func:`hitchhiker_one_size_down`) added to its predictions (key, name of the backtest fit).
HITCHHIKER_CALIBRATED = ("e", "hierarchical, one size down")
#: Every column of the Hitchhiker table: the fitted models, then (e).
HITCHHIKER_KEYS = (*(k for k, _, _ in HITCHHIKER_MODELS), HITCHHIKER_CALIBRATED[0])
#: Families of the quick run: a mix of sizes of data, units and numbers of models.
HITCHHIKER_QUICK = ("GPT2-c4-1.0", "chinchilla", "gpt3", "t5-pile", "OPT")
#: Models fitted one family at a time: (b) has independent per-family law parameters
#: (pooling "none"), so its posterior factorises by family but for the noise and run
#: scales, and one NUTS fit per family gives each family's ridges their own step size and
#: mass matrix (and each family its own noise and run scale). (a) stays one joint fit: 18
#: of the 20 families have 2 to 5 final losses, fewer than their six parameters, and the
#: noise scale shared by all families is what lets those few rows be fitted at all.
HITCHHIKER_BY_FAMILY = ("b",)
#: NUTS target acceptance per model where it is not the default 0.9: (b)'s family fits
#: (20 rows, two or three sizes each) diverge on the E-A-alpha ridge at 0.9 (61 and 44
#: divergent draws over the 20 fits, seeds 0 and 1, R-hat 1.041 and 1.023); at 0.97, 15
#: and 6, R-hat 1.014, for 20-40% more time (docs/studies/hitchhiker2024.md). (e)'s
#: backtest fit at 0.9 and 4 x 3,000 draws diverged in 95 and 5 of 12,000 draws (seeds 0
#: and 1); at 0.95 and 4 x 2,000, in 1, 0, 1 and 0 of 8,000 (seeds 0-3), with R-hat
#: <= 1.010 and bulk / tail ESS >= 546 / 618, in about the same time (62-84 s against
#: 58-77 s a fit; 2-core Intel Xeon VM, 2026-12-07).
HITCHHIKER_TARGET_ACCEPT = {"b": 0.97, "e": 0.95}
#: Chains and draws per model where they are not the study's 2 x (1,000 + 1,000), so that
#: every fit reaches bulk and tail ESS >= 400 at R-hat <= 1.01 (2-core VMs, 2026-12-07;
#: docs/studies/hitchhiker2024.md):
#:
#: - (a): tail ESS 384 at 1,000 draws per chain; 779 at 1,500 in the study's run.
#: - (b): at 1,000 draws, one of the 20 family fits fell short in two seeds of four
#:   (seed 0: Chinchilla's tail ESS 288; seed 2: t5-pile's bulk ESS 312). At 1,500, the
#:   smallest over the 20 fits and seeds 0-3 was bulk / tail ESS 544 / 522 at
#:   R-hat <= 1.009, in 40-49 s for all 20 against 35-45 s, with mean ARE 4.19-4.23%
#:   against 4.18-4.25% (AMD EPYC).
#: - (c) and (d): about 63 leapfrog steps per draw for an ESS of about 0.15 per draw
#:   (their slowest sites are the noise's population scale and family offsets), so
#:   2,000 draws.
#: - (e)'s backtest fit of (c), one size down: it keeps two sizes for 16 GPT-2 families,
#:   so each family's E and A trade off against its two runs' offsets. With 2 chains its
#:   R-hat was 1.06-1.07. With 4 chains at 0.9 and 3,000 draws, seed 1 still had tail
#:   ESS 296. At target acceptance 0.95 (:data:`HITCHHIKER_TARGET_ACCEPT`) it mixes
#:   faster per draw: 4 x 2,000 draws reach R-hat <= 1.010 and ESS >= 546 / 618 for
#:   seeds 0-3.
HITCHHIKER_SAMPLER: dict[str, dict[str, int]] = {
    "a": {"draws": 1500}, "b": {"draws": 1500}, "c": {"draws": 2000}, "d": {"draws": 2000},
    "e": {"chains": 4, "draws": 2000}}
#: Group offsets of E, A and B in the hierarchies (c) and (d) are sampled centred: every
#: family has 20 or more checkpoints that pin its level and slopes, the case where the
#: non-centred form makes each family's offset and the population scale a funnel.
HITCHHIKER_CENTRED = {"E": "centred", "A": "centred", "B": "centred"}
#: (d) also centres the exponents' offsets and samples E, A, B in level coordinates (each
#: family's sum of the three terms at its centre and their shares; the same posterior):
#: with two seeds, R-hat 1.019 and 1.016 and half the leapfrog steps, against 1.050 and
#: 1.043 with non-centred exponents in natural coordinates; either change alone did not
#: converge (docs/modeling.md, "Level coordinates").
HITCHHIKER_CENTRED_EXPONENTS = {**HITCHHIKER_CENTRED, "alpha": "centred", "beta": "centred"}


def specs() -> dict[str, tuple[Any, dict[str, Any]]]:
    """The study's models with their ``[study]`` tables (see
    :func:`scalinglaws.reproduce.specs`)."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    hitch = {"study": "hitchhiker2024", "table": "checkpoints", "min_sizes": 3,
             "min_tokens": 1e10, "test_fraction": 0.7,
             "max_checkpoints": HITCHHIKER_MAX_CHECKPOINTS,
             "targets": ["largest num_params of each family"],
             "score": "ARE on the target's checkpoints at >= 70% of its training",
             "units": "per family: N_rel, D_rel, loss_rel = N, D, perf_loss_perp over their "
                      "geometric means on the fitted rows (hitchhiker_normalise)"}
    exponents = {"alpha": HITCHHIKER_EXPONENT, "beta": HITCHHIKER_EXPONENT}
    chin = {"law": "chinchilla", "inputs": {"N": "N_rel", "D": "D_rel"}, "target": "loss_rel",
            "priors": {**exponents, "E": HITCHHIKER_E, "A": HITCHHIKER_TERM,
                       "B": HITCHHIKER_TERM, "sigma": HITCHHIKER_NOISE,
                       "run_sd": HITCHHIKER_RUN_SD}}
    per_family = {p: "family" for p in ("E", "A", "B", "alpha", "beta")}
    out["hitchhiker2024_final"] = (
        ScalingModel(**{**chin, "priors": {**{k: v for k, v in chin["priors"].items()
                                               if k not in ("run_sd", "sigma")},
                                            "sigma": Prior("HalfNormal", 0.05)}},
                     vary=per_family, pooling="none", coordinates="level"),
        {**hitch, "rows": "final",
         "description": "(a) per-family fits on the final loss of each smaller model, one "
                        "noise scale for all families; E, A, B sampled as their sum at the "
                        "family's centre and shares of it (same priors, straighter "
                        "geometry)"})
    out["hitchhiker2024_checkpoints"] = (
        ScalingModel(**chin, vary={**per_family, "sigma": "family"}, pooling="none",
                     run="run", coordinates="level"),
        {**hitch, "rows": "checkpoints", "target_accept": HITCHHIKER_TARGET_ACCEPT["b"],
         "description": "(b) per-family fits on the smaller models' checkpoints (> 1e10 "
                        "tokens, at most 10 log-spaced per run), with a per-run offset; "
                        "fitted once per family on that family's rows only (the family "
                        "factor then has one level), so each family has its own law, noise "
                        "scale and run scale; E, A, B sampled as their sum at the family's "
                        "centre and shares of it (same priors, straighter geometry)"})
    hier_priors = {**chin["priors"], "E_sd": HITCHHIKER_GROUP, "A_sd": HITCHHIKER_GROUP,
                   "B_sd": HITCHHIKER_GROUP}
    out["hitchhiker2024_hierarchical"] = (
        ScalingModel(**{**chin, "priors": hier_priors},
                     vary={"E": "family", "A": "family", "B": "family", "sigma": "family"},
                     run="run", parameterization=HITCHHIKER_CENTRED),
        {**hitch, "rows": "checkpoints",
         "description": "(c) one hierarchical fit: alpha and beta shared by all families, "
                        "E, A, B and the noise by family, per-run offsets"})
    out["hitchhiker2024_hierarchical_exponents"] = (
        ScalingModel(**{**chin, "priors": hier_priors},
                     vary={p: "family" for p in ("E", "A", "B", "alpha", "beta", "sigma")},
                     run="run", parameterization=HITCHHIKER_CENTRED_EXPONENTS,
                     coordinates="level"),
        {**hitch, "rows": "checkpoints",
         "description": "(d) as (c), but alpha and beta also vary by family with partial "
                        "pooling (the families' losses are in different units); their "
                        "offsets centred, and E, A, B sampled as their sum at the family's "
                        "centre and shares of it (same posterior, straighter geometry)"})
    return out


def dense_mass(spec: ScalingModel, data: pd.DataFrame) -> list[tuple[str, ...]]:
    """NUTS mass-matrix blocks of a Hitchhiker fit: one dense block for the law and noise.

    The per-family law parameters lie on near-linear ridges in log space (log A_ref
    against log alpha, log B_ref against log beta) that only a dense mass matrix removes,
    but a dense matrix over every site (hundreds of per-run offsets) is too large to
    estimate in a few hundred warmup draws. So every site the sampler draws
    (:func:`scalinglaws.model.sampled_sites`: the law's sites or their level coordinates,
    group scales and offsets, the noise and run scales) forms one dense block, except the
    per-level offsets of the noise and the runs (per-run and per-family noise offsets),
    which get a diagonal one. ``data``: the fit's rows, as :func:`hitchhiker_normalise`
    gives them (one family's, for a fit per family, where the family factor has a single
    level and every parameter is a scalar). Returns the one dense block, as NUTS's
    ``dense_mass`` takes it.

    Examples
    --------
    >>> n, d = np.repeat([1e8, 4e8], 3), np.tile([1e9, 4e9, 1.6e10], 2)
    >>> rows = pd.DataFrame({"family": "f", "run": np.repeat(["r1", "r2"], 3), "N": n,
    ...                      "D": d, "perf_loss_perp": 1.7 + 400 / n**0.34 + 410 / d**0.28})
    >>> spec = specs()["hitchhiker2024_hierarchical"][0]
    >>> dense_mass(spec, hitchhiker_normalise(rows)[0])  # one family: scalars, natural
    [('E', 'A_ref', 'B_ref', 'alpha', 'beta', 'sigma', 'run_sd')]
    """
    with filtered(("ignore", ScalingLawWarning)):  # a single-level factor: the fit itself says so
        design = make_design(spec, data)
    diagonal = {name for site in level_sites(spec, design)  # offsets: prior None
                if site.prior is None and site.name.startswith(("sigma", RUN_SITE))
                for name in (site.name, centred_name(site.name))}
    return [tuple(n for n in sampled_sites(spec, design) if n not in diagonal)]


def score(fit: Any, test: pd.DataFrame, centres: pd.DataFrame, seed: int,
          discrepancy: Any = None) -> pd.DataFrame:
    """A fit's scores of the targets ``test``, predicted in the family units ``centres``.

    The draws are converted back to each family's own units before scoring; a
    ``discrepancy`` is passed to the fit's ``predict_draws``. Returns
    :func:`~scalinglaws.reproduce.scoring.score_targets`'s frame on the index of ``test``,
    with its ``family`` and ``D`` first.

    Examples
    --------
    >>> _, centres = hitchhiker_normalise(parts["checkpoints"])  # doctest: +SKIP
    >>> score(fit, parts["test"], centres, seed=0)["rel_err_%"].mean()  # doctest: +SKIP
    """
    rows, _ = hitchhiker_normalise(test, centres)
    columns = [*fit.spec.inputs.values(), *fit.spec.factors]
    if fit.spec.run:
        columns.append(fit.spec.run)
    draws = fit.predict_draws(rows[list(dict.fromkeys(columns))], seed=seed,
                              discrepancy=discrepancy)
    unit = centres.loc[test["family"], "loss"].to_numpy()
    scored = score_targets(test["perf_loss_perp"].to_numpy(float), draws["law"] * unit,
                           draws["observed"] * unit).set_axis(test.index)
    scored.insert(0, "family", test["family"].to_numpy())
    scored.insert(1, "D", test["D"].to_numpy())
    return scored


def fit_overrides(key: str, settings: Settings) -> dict[str, Any]:
    """The NUTS settings of model ``key`` that differ from the study's: its target
    acceptance (:data:`HITCHHIKER_TARGET_ACCEPT`) and, unless the settings are the quick
    ones, its chains and draws (:data:`HITCHHIKER_SAMPLER`).

    >>> fit_overrides("e", Settings.make(study="hitchhiker2024"))
    {'target_accept': 0.95, 'chains': 4, 'draws': 2000}
    >>> fit_overrides("b", Settings.make(quick=True))
    {'target_accept': 0.97}
    """
    out: dict[str, Any] = {}
    if key in HITCHHIKER_TARGET_ACCEPT:
        out["target_accept"] = HITCHHIKER_TARGET_ACCEPT[key]
    if not settings.quick:
        out.update(HITCHHIKER_SAMPLER.get(key, {}))
    return out


def fit_and_score(key: str, name: str, spec: ScalingModel, rows: pd.DataFrame,
                  test: pd.DataFrame, settings: Settings, log: Callable[[str], None],
                  **overrides: Any) -> tuple[list[tuple[Any, Any, float]], pd.DataFrame]:
    """Fit one Hitchhiker model and score the targets: jointly, or one family at a time.

    A model in :data:`HITCHHIKER_BY_FAMILY` is fitted once per family, on that family's
    rows only, with the same spec (the family factor then has a single level, so its
    parameters are scalars), all families as one batched program; the others once on all
    rows. Returns the fits as
    ``(family or None, fit, seconds)`` and the targets' scores in the order of ``test``.

    Examples
    --------
    >>> fits, scores = fit_and_score("c", "hierarchical", spec, rows, test, settings, print)
    ... # doctest: +SKIP
    """
    data, centres = hitchhiker_normalise(rows)
    by_family = key in HITCHHIKER_BY_FAMILY
    if by_family:
        chunks = dict(list(data.groupby("family")))
        mass = dense_mass(spec, next(iter(chunks.values())))  # one structure for all
        labels = {f"({key}) {name} [{family}]": family for family in chunks}
        made = fit_many(spec, {label: chunks[f] for label, f in labels.items()}, settings,
                        log, dense_mass=mass, **overrides)
        fits = [(labels[label], fit, seconds) for label, (fit, seconds) in made.items()]
    else:
        started = time.perf_counter()
        fit = fit_model(spec, data, settings, log, f"({key}) {name}",
                        dense_mass=dense_mass(spec, data), **overrides)
        fits = [(None, fit, time.perf_counter() - started)]
    scores = [score(fit, test if family is None else test[test["family"] == family], centres,
                    settings.seed) for family, fit, _ in fits]
    return fits, pd.concat(scores).loc[test.index]


def sampler_diagnostics(name: str, fits: Sequence[tuple[Any, Any, float]]
                        ) -> tuple[dict[str, Any], pd.DataFrame]:
    """One sampler-table row for a model's fit(s) and the per-fit rows behind it.

    For a model fitted family by family: the worst R-hat, the smallest bulk and tail ESS, the total
    divergences and warnings, the mean of the fits' mean leapfrog steps per draw, and the
    total wall time. ``fits`` is :func:`fit_and_score`'s list of fits.

    Examples
    --------
    >>> row, per = sampler_diagnostics("(b) checkpoints", fits)  # doctest: +SKIP
    """
    per = pd.DataFrame([{**fit_diagnostics(name, fit), "family": family, "seconds": seconds}
                        for family, fit, seconds in fits])
    row = {"fit": name, "fits": len(per), "rows": int(per["rows"].sum()),
           "chains": int(per["chains"].iloc[0]), "draws": int(per["draws"].iloc[0]),
           "divergences": int(per["divergences"].sum()),
           "max_r_hat": float(per["max_r_hat"].max()),
           "min_ess_bulk": float(per["min_ess_bulk"].min()),
           "min_ess_tail": float(per["min_ess_tail"].min()),
           "mean_steps": float(per["mean_steps"].mean()),
           "warnings": int(per["warnings"].sum()), "seconds": float(per["seconds"].sum())}
    return row, per


def run(data_dir: Any, settings: Settings, out: Path | None,
        log: Callable[[str], None]) -> Reproduction:
    frame = load_table("hitchhiker2024", "checkpoints", data_dir)
    families = HITCHHIKER_QUICK if settings.quick else None
    parts = hitchhiker_split(frame, families=families)
    test, info = parts["test"], parts["families"]

    paper: dict[str, dict[str, float]] = {"final": {}, "checkpoints": {}}
    paper_points: dict[str, np.ndarray] = {}
    for family in info["family"]:
        t = test[test["family"] == family]
        for mode, train in (("final", parts["final"]), ("checkpoints", parts["all_checkpoints"])):
            p = hitchhiker_paper_fit(train[train["family"] == family])
            pred = hitchhiker_paper_law(p, t["N"].to_numpy(float), t["D"].to_numpy(float))
            paper[mode][family] = are(t["perf_loss_perp"], pred)
            if mode == "checkpoints":
                paper_points[family] = pred

    models = {name: spec for name, (spec, _) in specs().items()}
    fits, scores = {}, {}
    for key, name, data in HITCHHIKER_MODELS:
        fits[key], scores[key] = fit_and_score(
            key, name, models[f"hitchhiker2024_{name}"], parts[data], test, settings, log,
            **fit_overrides(key, settings))
    # (e): refit (c) one size down, measure its miss there, carry it into (c)'s predictions
    key, name = HITCHHIKER_CALIBRATED
    down = hitchhiker_one_size_down(frame, families=families)
    fits[key], backtest = fit_and_score(key, name, models["hitchhiker2024_hierarchical"],
                                        down["checkpoints"], down["test"], settings, log,
                                        **fit_overrides(key, settings))
    discrepancy = Discrepancy.estimate(backtest["truth"], backtest["median"],
                                       backtest["lower"], backtest["upper"], mass=INTERVAL,
                                       groups=backtest["family"])
    _, centres = hitchhiker_normalise(parts["checkpoints"])
    scores[key] = score(fits["c"][0][1], test, centres, settings.seed, discrepancy)

    rows = []
    for _, fam in info.iterrows():
        f = fam["family"]
        row = {"family": f, "sizes": fam["sizes"], "target_N": fam["target_N"],
               "test_pts": fam["test_points"],
               "paper_final_ARE%": 100 * paper["final"][f],
               "paper_ckpt_ARE%": 100 * paper["checkpoints"][f]}
        for key in HITCHHIKER_KEYS:
            s = scores[key][scores[key]["family"] == f]
            row[f"{key}_ARE%"] = float(s["rel_err_%"].mean())
            row[f"{key}_cov90"] = float(s["covered"].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    numeric = [c for c in table.columns if c.endswith(("ARE%", "cov90"))]
    mean = {"family": "mean over families", **table[numeric].mean().to_dict()}
    median = {"family": "median over families", **table[numeric].median().to_dict()}
    table = pd.concat([table, pd.DataFrame([mean, median])], ignore_index=True)

    diagnostics = {k: sampler_diagnostics(f"({k}) {n}", fits[k])
                   for k, n, _ in (*HITCHHIKER_MODELS, (*HITCHHIKER_CALIBRATED, None))}
    diag = pd.DataFrame([row for row, _ in diagnostics.values()])
    by_family = {k: diagnostics[k][1] for k in HITCHHIKER_BY_FAMILY}
    figures: list[Path] = []
    if out is not None:
        _hitchhiker_figures(table, scores, test, paper_points, out, figures)
    wins = {k: int((table[f"{k}_ARE%"].iloc[:-2] < table["paper_ckpt_ARE%"].iloc[:-2]).sum())
            for k in HITCHHIKER_KEYS}
    notes = [
        f"Families: the {len(info)} scaled sets with >= 3 model sizes above 1e10 tokens "
        f"(Pythia is absent from the public data). Target: each family's largest model; "
        f"scored on its checkpoints at >= 70% of its training; every checkpoint at <= 1e10 "
        f"tokens dropped. ARE = mean |L - L_hat| / L over those checkpoints (in %); cov90 = "
        f"share of them inside our 90% posterior-predictive interval.",
        "paper_*: the paper's method rerun here: per-family least squares of exp(e) + "
        "exp(a)/N^alpha + exp(b)/D^beta from its initial guess and perturbations, on the "
        "final losses (final) or on every checkpoint (ckpt).",
        "(a) per-family Bayesian fits on final losses; (b) per-family fits on checkpoints "
        f"(at most {HITCHHIKER_MAX_CHECKPOINTS} log-spaced per run, to keep NUTS "
        "affordable) with a per-run offset; (c) one hierarchical fit on the same "
        "checkpoints: alpha and beta shared by all families, E, A, B and the noise by "
        "family (partial pooling), per-run offsets; (d) as (c) with alpha and beta also "
        "partially pooled by family. (a) is one joint NUTS fit with independent "
        "per-family law parameters (pooling='none') and one noise scale for all families "
        "(a family has fewer final losses than parameters); (b) is fitted family by family "
        "(one NUTS fit per family on its rows only, so each family has its own noise and "
        "run scale; its sampler row aggregates the fits: worst R-hat, smallest ESS, total "
        "divergences and seconds, mean steps). The run offsets of (b), (c) and (d) are "
        "integrated out exactly (Normal noise), each drawn afterwards from its conditional "
        "posterior. A target is a new run, so the checkpoint "
        "models' predictions include a fresh run offset (prior about 1%, see "
        "HITCHHIKER_RUN_SD).",
        f"(e) is (c) with its extrapolation error measured one size down added: (c) refitted "
        f"without each family's largest model ({len(down['checkpoints'])} rows, "
        f"{len(down['families'])} families) predicts each family's largest training model "
        f"(scored as the targets are); per family (one unit: its checkpoints miss "
        f"together), the mean log error there is Normal(bias, own sd^2 + sd^2), fitted by "
        f"maximum likelihood: bias {100 * discrepancy.bias:+.2f}%, sd "
        f"{100 * discrepancy.sd:.2f}% (scalinglaws.validate.Discrepancy). (c)'s predictions "
        f"of the real targets are shifted by the bias and widened by the sd; the targets "
        f"are not used. Its sampler row is the one-size-down fit.",
        "Families where our ARE beats the paper's checkpoint fit: "
        + ", ".join(f"({k}) {v}" for k, v in wins.items()) + f" of {len(info)}.",
        "Coverage is per family the share of the target's checkpoints inside the interval; "
        "checkpoints of one run are strongly correlated, so per family it is close to 0 or "
        "1 and the mean over families is the fraction of families covered.",
    ]
    notes.append(
        "Units: every model is fitted per family in the family's own units "
        "(hitchhiker_normalise: N, D and the loss over their geometric means on the fitted "
        "rows), an exact change of units that lets one set of stated priors fit losses in "
        "nats, bits and perplexity; predictions are converted back before scoring. Per "
        "family, two training sizes (the 16 GPT-2 sets) leave alpha to its prior and E, A "
        "and alpha on a curved ridge: the source of (b)'s divergences (and of (a)'s deep "
        "trees in natural coordinates; (a), (b) and (d) sample in level coordinates).")
    # a model fitted family by family is judged fit by fit, so a note names the families
    checked = [diag[~diag["fit"].isin([f"({k}) {n}" for k, n, _ in HITCHHIKER_MODELS
                                       if k in by_family])]]
    checked += [per.assign(fit=[f"{f} [{fam}]" for f, fam in zip(per["fit"], per["family"],
                                                                  strict=True)])
                for per in by_family.values()]
    notes += convergence_notes(pd.concat(checked, ignore_index=True))
    columns = ["family", "rows", "divergences", "max_r_hat", "min_ess_bulk", "min_ess_tail",
               "mean_steps", "warnings", "seconds"]
    tables = {"sampler": diag, **{f"sampler of ({k}) by family": per[columns]
                                  for k, per in by_family.items()}}
    return Reproduction("hitchhiker2024", TITLE, table, tables,
                        tuple(notes), tuple(figures))


def _hitchhiker_figures(table: pd.DataFrame, scores: Mapping[str, pd.DataFrame],
                        test: pd.DataFrame, paper_points: Mapping[str, np.ndarray], out: Path,
                        figures: list[Path]) -> None:
    import matplotlib.pyplot as plt

    body = table.iloc[:-2]
    families = body["family"].tolist()
    y = np.arange(len(families))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 0.32 * len(families) + 2.0),
                                      sharey=True, constrained_layout=True)
    series = [("paper_final_ARE%", "paper, final losses", "0.6", "x"),
              ("paper_ckpt_ARE%", "paper, checkpoints", "k", "x"),
              ("a_ARE%", "(a) per family, final", "C0", "o"),
              ("b_ARE%", "(b) per family, checkpoints", "C1", "o"),
              ("c_ARE%", "(c) hierarchical, checkpoints", "C2", "o"),
              ("d_ARE%", "(d) hierarchical, exponents by family", "C3", "o"),
              ("e_ARE%", "(e) = (c) + discrepancy one size down", "C4", "s")]
    for i, (column, label, colour, marker) in enumerate(series):
        left.plot(body[column].clip(lower=1e-3), y + 0.1 * (i - 3), marker, color=colour,
                  ms=5, label=label, ls="none")
    left.set_xscale("log")
    left.set_xlabel("ARE on the largest model (%), log scale")
    left.set_yticks(y, families, fontsize=7)
    left.invert_yaxis()
    left.legend(fontsize=7)
    left.grid(alpha=0.3, lw=0.4)
    for i, key in enumerate(HITCHHIKER_KEYS):
        right.barh(y + 0.16 * (i - 2), body[f"{key}_cov90"], height=0.16, color=f"C{i}",
                   label=series[i + 2][1])
    right.axvline(0.9, color="k", ls="--", lw=0.8)
    right.set_xlabel("share of target checkpoints inside the 90% interval")
    right.legend(fontsize=7)
    fig.suptitle("Hitchhiker's protocol: predicting each family's largest model", fontsize=11)
    write_figure(fig, out, "hitchhiker2024_are.png", figures)

    shown = [f for f in ("gpt3", "GPT2-c4-1.0", "OPT", "t5-pile") if f in families][:4]
    if not shown:
        return
    fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 3.6),
                             constrained_layout=True, squeeze=False)
    for ax, family in zip(axes.flat, shown, strict=True):
        t = test[test["family"] == family].sort_values("D")
        ax.plot(t["D"], t["perf_loss_perp"], "k.", ms=3, label="truth")
        for i, key in enumerate(HITCHHIKER_KEYS):
            s = scores[key].loc[t.index]
            ax.fill_between(t["D"], s["lower"], s["upper"], color=f"C{i}", alpha=0.15, lw=0)
            ax.plot(t["D"], s["median"], color=f"C{i}", lw=1.2, label=series[i + 2][1])
        if family in paper_points:
            order = np.argsort(test.loc[test["family"] == family, "D"].to_numpy())
            ax.plot(t["D"], np.asarray(paper_points[family])[order], "k--", lw=1,
                    label="paper, checkpoints")
        truth = t["perf_loss_perp"]
        ax.set_ylim(0.85 * truth.min(), 1.15 * truth.max())
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.set_title(f"{family} (bands clipped to +-15% of the truth)", fontsize=8)
        ax.set_xlabel("tokens seen D")
        ax.grid(alpha=0.3, lw=0.4)
    axes[0, 0].set_ylabel("perf_loss_perp")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle("Largest model of a family: truth, medians and 90% predictive bands",
                 fontsize=11)
    write_figure(fig, out, "hitchhiker2024_examples.png", figures)
