"""IsoFLOP model variants on Porian et al. 2024's 15 configurations, side by side.

Each variant is fitted to every configuration (one batched program per variant) and,
separately, to every configuration without its largest budget. Two figures per variant:

- the choice criterion, fixed before the exponents are compared: the held-out log
  predictive density of the largest budget's points near its minimum
  (:func:`scalinglaws.reproduce.isoflop.near_minimum`, the same points for every variant),
  summed over the 15 configurations, the budget's vertex offset drawn from the population;
- the comparison with the authors: our posterior median of a within 0.03 of their weighted
  fit, their value inside our 90% interval; and the sampler's R-hat, bulk ESS,
  divergences, leapfrog steps per draw and wall time.

Run (2 shared CPU cores: one variant at a time)::

    SCALINGLAWS_DATA=/path/to/data nice -n 15 python benchmarks/isoflop_variants.py \
        --variants window_shared window_shape --out /tmp/iso

Writes ``isoflop_variants_<variant>.csv`` (one row per configuration) and prints a
summary line per variant.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import logsumexp

from scalinglaws.decide import optimal_draws
from scalinglaws.laws.isoflop import budget_noise_law
from scalinglaws.reproduce import isoflop as si
from scalinglaws.reproduce.common import Settings, fit_many, load_table
from scalinglaws.reproduce.scoring import fit_diagnostics

#: name -> (rows, vary, likelihood[, run factor: a per-budget offset of log loss[,
#: parameterization of the offsets[, law[, coordinates (default "natural")]]]]). rows:
#: "all", or "window<k>" (near_minimum with k sizes each side), or "interior<k>" (the
#: same without the budgets whose lowest loss is at an end of their sizes).
SHAPE = {"G": "budget", "alpha": "budget", "beta": "budget"}
VARIANTS = {
    "all_shared": ("all", {"G": "budget"}, "normal"),
    "window_shared": ("window3", {"G": "budget"}, "normal"),
    "window_shape": ("window3", SHAPE, "normal"),
    "window_K": ("window3", {"G": "budget", "K": "budget"}, "normal"),
    "window_student": ("window3", {"G": "budget"}, "student_t"),
    "window_sigma": ("window3", {"G": "budget", "sigma": "budget"}, "normal"),
    "interior_shared": ("interior3", {"G": "budget"}, "normal"),
    "window2_shared": ("window2", {"G": "budget"}, "normal"),
    "window1_shared": ("window1", {"G": "budget"}, "normal"),
    "window2_shape": ("window2", SHAPE, "normal"),
    "window_level": ("window3", {"G": "budget"}, "normal", "budget"),
    "window_shape_c": ("window3", SHAPE, "normal", None, "centred"),
    "all_shape_K": ("all", {**SHAPE, "K": "budget"}, "normal"),
}
#: Noise growing with the distance from each budget's minimum (the spread laws' tau):
#: ``<rows>_spread`` (e^(tau |u|), u from the law's optimum), ``_spread_q`` (1 + tau u^2)
#: and ``_spread_m`` (e^(tau |ln N - ln N_best|), from the best measured size).
for _suffix, _law in (("", "isoflop_spread"), ("_q", "isoflop_spread_quadratic"),
                      ("_m", "isoflop_spread_measured")):
    for _prefix, _rows_kind in (("window2", "window2"), ("window", "window3"), ("all", "all")):
        VARIANTS[f"{_prefix}_spread{_suffix}"] = (_rows_kind, {"G": "budget"}, "normal", None,
                                                  "noncentred", _law)
#: A parabola in log N around each optimum (``isoflop_parabola``), its curvature shared or
#: by budget (``_kappa``, as Approach 2's parabolas), with one noise scale or with noise
#: sigma (1 + tau u^2) (``_spread``).
_KAPPA = {"G": "budget", "kappa": "budget"}
VARIANTS.update({
    "window2_parabola": ("window2", {"G": "budget"}, "normal", None, "noncentred",
                         "isoflop_parabola"),
    "window2_parabola_kappa": ("window2", _KAPPA, "normal", None, "noncentred",
                               "isoflop_parabola"),
    "window2_parabola_spread": ("window2", {"G": "budget"}, "normal", None, "noncentred",
                                "isoflop_parabola_spread_quadratic"),
    "all_parabola_spread": ("all", {"G": "budget"}, "normal", None, "noncentred",
                            "isoflop_parabola_spread_quadratic"),
    "interior2_parabola": ("interior2", {"G": "budget"}, "normal", None, "noncentred",
                           "isoflop_parabola"),
    "interior2_parabola_kappa": ("interior2", _KAPPA, "normal", None, "noncentred",
                                 "isoflop_parabola"),
    "interior3_parabola": ("interior3", {"G": "budget"}, "normal", None, "noncentred",
                           "isoflop_parabola"),
    "interior3_parabola_kappa": ("interior3", _KAPPA, "normal", None, "noncentred",
                                 "isoflop_parabola"),
    "interior1_parabola": ("interior1", {"G": "budget"}, "normal", None, "noncentred",
                           "isoflop_parabola"),
    "interior1_parabola_kappa": ("interior1", _KAPPA, "normal", None, "noncentred",
                                 "isoflop_parabola"),
    "interior2_parabola_student": ("interior2", {"G": "budget"}, "student_t", None,
                                   "noncentred", "isoflop_parabola"),
    "interior2_parabola_sigma": ("interior2", {"G": "budget", "sigma": "budget"}, "normal",
                                 None, "noncentred", "isoflop_parabola"),
    "interior2_parabola_sigma_c": ("interior2", {"G": "budget", "sigma": "budget"}, "normal",
                                   None, {"G": "noncentred", "sigma": "centred"},
                                   "isoflop_parabola"),
})


#: Noise that changes with the budget, sigma_b = sigma (C_b / 1e17)^-s: the package's
#: ``isoflop_parabola_budget_noise`` with a fixed C_ref (the figures of
#: ``isoflop_variants.md`` were measured so) in place of the data's reference budget.
_NOISE_BY_COMPUTE = replace(
    budget_noise_law(), name="isoflop_parabola_noise_by_compute",
    log_noise_factor=lambda v, p, ref: -p["s"] * (jnp.log(v["C"]) - np.log(1e17)))
VARIANTS.update({
    "interior2_parabola_noise_c": ("interior2", {"G": "budget"}, "normal", None, "noncentred",
                                   _NOISE_BY_COMPUTE),
    "all_parabola_noise_c": ("all", {"G": "budget"}, "normal", None, "noncentred",
                             _NOISE_BY_COMPUTE),
    # the study's model as the package has it (C_ref the data's reference budget), in
    # natural coordinates (as isoflop_variants.md measured it), and in the study's level
    # coordinates: the same posterior
    "study": ("interior2", {"G": "budget"}, "normal", None, "noncentred",
              "isoflop_parabola_budget_noise"),
    "study_centred": ("interior2", {"G": "budget"}, "normal", None, "centred",
                      "isoflop_parabola_budget_noise"),
    "study_level": ("interior2", {"G": "budget"}, "normal", None, "noncentred",
                    "isoflop_parabola_budget_noise", "level"),
})


def _rows(frame: pd.DataFrame, which: str) -> pd.DataFrame:
    if which == "all":
        return frame
    return si.near_minimum(frame, int(which[-1]), interior=which.startswith("interior"))


def observed_vertex(rows: pd.DataFrame) -> float:
    """ln N at the vertex of a parabola in (ln N, ln loss) through the 3 sizes around one
    budget's lowest loss (a local reading of its minimum, as Porian et al.'s spline's);
    NaN where the lowest loss is at an end of the sizes."""
    rows = rows.sort_values("params")
    x = np.log(rows["params"].to_numpy(dtype=float))
    y = np.log(rows["loss"].to_numpy(dtype=float))
    low = int(np.argmin(y))
    if low in (0, len(y) - 1):
        return np.nan
    p2, p1, _ = np.polyfit(x[low - 1:low + 2], y[low - 1:low + 2], 2)
    return float(-p1 / (2 * p2)) if p2 > 0 else np.nan


def predicted_vertex(fit, largest: pd.DataFrame, seed: int) -> np.ndarray:
    """Draws of ln N_opt at the largest budget from a fit that never saw it (a new budget:
    its vertex offset drawn from the population)."""
    c = float(largest["flops"].iloc[0])
    return np.log(optimal_draws(fit, [c], group={"budget": "new"}, seed=seed)["N"][:, 0])


def run_variant(name: str, settings: Settings, log, target_accept: float = 0.9
                ) -> pd.DataFrame:
    which, vary, likelihood, *more = VARIANTS[name]
    run, parameterization, law, coordinates = (
        *more, *(None, "noncentred", "isoflop", "natural")[len(more):])
    model = si.isoflop_model(vary, likelihood, run=run, parameterization=parameterization,
                             law=law, coordinates=coordinates)
    table = load_table(si.STUDY, "porian2024", None)
    authors = load_table(si.STUDY, "porian2024_author_fits", None).set_index("experiment")
    frames = {e: si.isoflop_frame(table, e) for e in authors.index}
    started = time.perf_counter()
    fits = fit_many(model, {e: _rows(f, which) for e, f in frames.items()}, settings, log,
                    target_accept=target_accept)
    took = time.perf_counter() - started
    train = {e: _rows(f[f["flops"] < f["flops"].max()], which) for e, f in frames.items()}
    started = time.perf_counter()
    held_fits = fit_many(model, train, settings, log, target_accept=target_accept)
    took_held = time.perf_counter() - started
    rows = []
    for e, frame in frames.items():
        fit, _ = fits[e]
        median, lo, hi = si._exponent(fit)
        theirs = float(authors.loc[e, "a_weighted"])
        largest = frame[frame["flops"] == frame["flops"].max()]
        lpd = {}
        for k in (1, 3):
            held = si.near_minimum(largest, k).assign(budget="held out")
            ll = held_fits[e][0].log_density(held, seed=settings.seed)
            lpd[k] = float((logsumexp(ll, axis=0) - np.log(ll.shape[0])).sum())
        vertex = observed_vertex(largest)
        ln_opt = predicted_vertex(held_fits[e][0], largest, settings.seed)
        lo_v, hi_v = np.quantile(ln_opt, [0.05, 0.95])
        diag = fit_diagnostics(e, fit)
        post = fit.idata.posterior
        tau = float(np.median(post["tau"])) if "tau" in post else np.nan
        rows.append({"variant": name, "target_accept": target_accept, "configuration": e,
                     "rows": len(fit.data()),
                     "a_median": median, "a_lower": lo, "a_upper": hi, "authors_a": theirs,
                     "abs_diff": abs(median - theirs), "within_0.03": abs(median - theirs) <= 0.03,
                     "authors_inside": lo <= theirs <= hi, "heldout_lpd": lpd[3],
                     "heldout_lpd_1": lpd[1], "tau_median": tau,
                     "vertex_observed": vertex, "vertex_error": float(np.median(ln_opt)) - vertex,
                     "vertex_inside": bool(lo_v <= vertex <= hi_v),
                     "max_r_hat": diag["max_r_hat"], "min_ess_bulk": diag["min_ess_bulk"],
                     "divergences": diag["divergences"], "mean_steps": diag["mean_steps"],
                     "batch_s": took, "heldout_batch_s": took_held})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--target-accept", type=float, default=0.9)
    args = parser.parse_args()
    settings = Settings(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.variants:
        out = run_variant(name, settings, print, args.target_accept)
        tag = "" if args.target_accept == 0.9 else f"_ta{args.target_accept:g}"
        out.to_csv(args.out / f"isoflop_variants_{name}{tag}.csv", index=False)
        print(f"{name}{tag}: held-out lpd {out['heldout_lpd'].sum():.1f} (+-3 sizes), "
              f"{out['heldout_lpd_1'].sum():.1f} (+-1); within 0.03 "
              f"{int(out['within_0.03'].sum())}/15; inside 90% "
              f"{int(out['authors_inside'].sum())}/15; held-out vertex |ln error| "
              f"{out['vertex_error'].abs().mean():.3f} mean over "
              f"{int(out['vertex_error'].notna().sum())}, inside 90% "
              f"{int(out['vertex_inside'].sum())}; max R-hat {out['max_r_hat'].max():.3f}; "
              f"min bulk ESS {out['min_ess_bulk'].min():.0f}; divergences "
              f"{int(out['divergences'].sum())}; steps/draw {out['mean_steps'].mean():.0f}; "
              f"{out['batch_s'].iloc[0]:.0f} s (15 fits) + {out['heldout_batch_s'].iloc[0]:.0f}"
              f" s (held out)", flush=True)


if __name__ == "__main__":
    main()
