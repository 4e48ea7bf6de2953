"""Variants of the datablations2023 ``data_constrained`` posterior, chosen by an inner
criterion and scored on the study's held-out runs.

The study (``scalinglaws reproduce datablations2023``) fits the 57 runs of the paper's
182-run set with at most 4 epochs and predicts the 125 with more. Each variant here is
fitted twice with the study's settings (4 chains x (500 + 500), seed 0, through
``reproduce.common.fit_model``):

- inner backtest, inside the fit set: fit the 37 runs with <= 2 epochs, predict the 20
  with 2-4 epochs; score the log predictive density (``Fit.log_density``), the relative
  error of the posterior median and the 90% coverage;
- outer: fit the 57 runs, PSIS-LOO on them (``arviz.loo``), and the protocol's held-out
  figures on the 125 runs (mean / median / max relative error, 90% coverage, signed
  error by epoch band).

The inner criterion (inner-backtest log predictive density, PSIS-LOO second) picks the
variant; the held-out figures of every variant are printed beside it. ``--compare``
adds paired differences with standard errors (``arviz.compare`` and pointwise inner
lpd) against the first variant named.

    python benchmarks/datablations_variants.py                      # every variant
    python benchmarks/datablations_variants.py baseline student_t --compare
    python benchmarks/datablations_variants.py --stacking
    python benchmarks/datablations_variants.py --c4-oscar
    python benchmarks/datablations_variants.py --all-runs

``--stacking`` mixes the study's two posteriors (``baseline`` and ``chinchilla``) with
``sl.stacked_draws``: by the PSIS-LOO stacking weights of ``sl.compare`` on the 57 runs
(what the study prints) and by weights stacked on the inner backtest's predictive
densities, and scores both mixtures on the held-out runs. ``--c4-oscar`` fits the
study's C4-and-OSCAR model (E by dataset) beside E and B partially pooled by dataset,
and prints each one's held-out scores per dataset and its sampler warnings.
``--all-runs`` fits the named variants (default ``baseline`` and ``chinchilla``) on all
182 runs and scores the 125 many-epoch runs they saw: how closely each law can describe
them at all, the floor under the held-out figures.

Needs the study's tables in ``$SCALINGLAWS_DATA/datablations2023/``. About 30-90 s a
variant on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings

import numpy as np
import pandas as pd

import scalinglaws as sl
from scalinglaws.reproduce import datablations2023 as sd
from scalinglaws.reproduce.common import Settings, fit_model, load_table
from scalinglaws.reproduce.scoring import fit_diagnostics, score_frame

P = sd.PUBLISHED
#: Fixed reference point of the base-prior variants (near the 57 runs' geometric means,
#: 5.46e8 parameters, 7.36e9 tokens): A_ref = A N_ref^-alpha, B_ref = B D_ref^-beta.
NREF, DREF = 5e8, 7e9
NOISE = {"sigma": sl.Prior("HalfNormal", 0.05)}
REF = {"reference": {"N": NREF, "D": DREF, "U_D": DREF, "U_N": NREF}}


def lognormal(median_log: float, sd: float) -> sl.Prior:
    return sl.Prior("LogNormal", float(median_log), float(sd))


def base_priors(log_sd: float, exponent_sd: float) -> dict[str, sl.Prior]:
    """The authors' base constants (fitted on Chinchilla's C4 isoFLOP runs, none of them
    held out here) as priors: the two terms at (NREF, DREF) and E with a log-scale sd,
    the exponents with an absolute sd around 0.3527."""
    return {"A": lognormal(P["a"] - P["alpha"] * np.log(NREF), log_sd),
            "B": lognormal(P["b"] - P["beta"] * np.log(DREF), log_sd),
            "E": lognormal(P["e"], log_sd),
            "alpha": lognormal(np.log(P["alpha"]), exponent_sd / P["alpha"]),
            "beta": lognormal(np.log(P["beta"]), exponent_sd / P["beta"])}


WIDE_HALF_LIVES = {"RD_star": lognormal(2.5, 2.0), "RN_star": lognormal(2.5, 2.0)}
#: decay rate 1/R* ~ Exponential(mean 0.1): the no-decay limit inside the prior
INVGAMMA = sl.Prior("InverseGamma", 1.0, 10.0)
VARIANTS: dict[str, dict] = {
    "baseline": dict(priors=NOISE),
    "base_prior_0.1": dict(priors={**NOISE, **base_priors(0.1, 0.03)}, **REF),
    "base_prior_0.2": dict(priors={**NOISE, **base_priors(0.2, 0.04)}, **REF),
    "base_prior_0.3": dict(priors={**NOISE, **base_priors(0.3, 0.05)}, **REF),
    "student_t": dict(priors=NOISE, likelihood="student_t"),
    "base_prior_0.2_t": dict(priors={**NOISE, **base_priors(0.2, 0.04)},
                             likelihood="student_t", **REF),
    "noise_0.15": dict(priors={"sigma": sl.Prior("HalfNormal", 0.15)}),
    "halflife_wide": dict(priors={**NOISE, **WIDE_HALF_LIVES}),
    "rd_wide": dict(priors={**NOISE, "RD_star": WIDE_HALF_LIVES["RD_star"]}),
    "hl_invgamma": dict(priors={**NOISE, "RD_star": INVGAMMA, "RN_star": INVGAMMA}),
    "rd_invgamma": dict(priors={**NOISE, "RD_star": INVGAMMA}),
    "base_prior_0.2_hlwide": dict(priors={**NOISE, **base_priors(0.2, 0.04),
                                          **WIDE_HALF_LIVES}, **REF),
    "student_t_hlwide": dict(priors={**NOISE, **WIDE_HALF_LIVES}, likelihood="student_t"),
    "noise_by_size": dict(priors=NOISE, law="size"),
    "noise_by_data": dict(priors=NOISE, law="data"),
}


def own_unique_params_law() -> sl.Law:
    """data_constrained with U_N = min(N, N_opt(U_D)) computed from the law's own base
    constants (the compute-optimal size for U_D tokens, ``(U_D G)^(beta/alpha) G`` with
    ``G = (alpha A / (beta B))^(1/(alpha + beta))``), instead of the authors' U_N from
    their published base constants (``reproduce.datablations2023.unique_params``)."""
    import jax.numpy as jnp

    base = sl.laws.get("data_constrained")

    def log_fn(v, p):
        log_a, log_b = jnp.log(p["A"]), jnp.log(p["B"])
        log_g = (jnp.log(p["alpha"]) + log_a - jnp.log(p["beta"]) - log_b) / (
            p["alpha"] + p["beta"])
        log_opt = (p["beta"] / p["alpha"]) * (jnp.log(v["U_D"]) + log_g) + log_g
        u_n = jnp.exp(jnp.minimum(jnp.log(v["N"]), log_opt))
        return base.log_fn({**v, "U_N": u_n}, p)

    return dataclasses.replace(
        base, name="data_constrained_own_unique_params", variables=("N", "D", "U_D"),
        fn=lambda v, p: jnp.exp(log_fn(v, p)), log_fn=log_fn,
        check=lambda v, fitting: base.check({**v, "U_N": v["N"]}, fitting))


def model(name: str) -> sl.ScalingModel:
    if name == "chinchilla":  # the study's other model, for context
        return sl.ScalingModel("chinchilla", inputs={"N": "N", "D": "D"}, target="loss",
                               priors=NOISE)
    if name == "own_unique_params":
        return sl.ScalingModel(own_unique_params_law(),
                               inputs={"N": "N", "D": "D", "U_D": "U_D"}, target="loss",
                               priors=NOISE)
    options = dict(VARIANTS[name])
    law = {"size": "N", "data": "U_D"}.get(options.pop("law", None))
    return sl.ScalingModel(sl.laws.noise_power(sl.laws.get("data_constrained"), law)
                           if law else "data_constrained",
                           inputs=sd._INPUTS, target="loss", **options)


def check_conversion(frame: pd.DataFrame) -> float:
    """The base priors' medians, converted back through the law's ``from_reference``,
    must give the published law: returns max |law - published_loss| on the 182 runs."""
    import jax.numpy as jnp

    from scalinglaws._precision import enable_x64

    enable_x64()
    law = sl.laws.get("data_constrained")
    pri = base_priors(0.2, 0.04)
    loc = {k: dict(pri[k].params)["loc"] for k in ("A", "B", "E")}
    nat = law.from_reference({"A": jnp.asarray(loc["A"]), "B": jnp.asarray(loc["B"])},
                             {"alpha": P["alpha"], "beta": P["beta"]},
                             {"N": np.log(NREF), "D": np.log(DREF)})
    params = {"E": np.exp(loc["E"]), "A": np.exp(float(nat["A"])),
              "B": np.exp(float(nat["B"])), "alpha": P["alpha"], "beta": P["beta"],
              "RD_star": P["RD_star"], "RN_star": P["RN_star"]}
    ours = np.asarray(law.fn({k: frame[k].to_numpy(float) for k in sd._INPUTS}, params))
    return float(np.max(np.abs(ours - sd.published_loss(frame.N, frame.D, frame.U_D))))


def lpd(fit, rows) -> np.ndarray:
    from scipy.special import logsumexp

    ld = fit.log_density(rows)
    return logsumexp(ld, axis=0) - np.log(ld.shape[0])


def score(fit, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    draws = fit.predict_draws(rows, seed=0)
    lo, hi = np.quantile(draws["observed"], [0.05, 0.95], axis=0)
    s = score_frame(rows["loss"].to_numpy(float), np.median(draws["law"], axis=0), lo, hi)
    return s, 100 * (s["median"] - s["truth"]) / s["truth"]


def run_variant(name: str, parts: dict, inner: dict, settings: Settings) -> dict:
    import arviz as az

    out: dict = {"variant": name}
    quiet = lambda message: None  # noqa: E731
    for tag, fit_rows, pred_rows in (("inner", inner["fit"], inner["held_out"]),
                                     ("outer", parts["fit"], parts["held_out"])):
        started = time.perf_counter()
        fit = fit_model(model(name), fit_rows, settings, quiet, f"{name}/{tag}")
        wall = time.perf_counter() - started
        s, signed = score(fit, pred_rows)
        diag = fit_diagnostics(name, fit)
        r = {"wall_s": wall, "lpd": float(lpd(fit, pred_rows).sum()),
             "mean": s["rel_err_%"].mean(), "median": s["rel_err_%"].median(),
             "max": s["rel_err_%"].max(), "coverage": s["covered"].mean(),
             "signed": signed.mean(),
             **{k: diag[k] for k in ("divergences", "max_r_hat", "min_ess_bulk")}}
        if tag == "outer":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loo = az.loo(fit.idata, var_name="y")
            r.update(loo=float(loo.elpd_loo), loo_se=float(loo.se))
            ep = pred_rows["epochs"].to_numpy()
            for lo, hi in [(4, 8), (8, 16), (16, 64), (64, 256), (256, np.inf)]:
                m = (ep > lo) & (ep <= hi)
                r[f"signed {lo:g}-{hi:g}"] = float(signed[m].mean())
            summary = fit.summary()
            r["RD_star"] = summary.loc["RD_star", ["median", "lower", "upper"]].tolist() \
                if "RD_star" in summary.index else None
        out[tag] = r
    return out


def compare(names: list[str], parts: dict, inner: dict, settings: Settings) -> None:
    import arviz as az

    idatas, points = {}, {}
    for name in names:
        fit = fit_model(model(name), inner["fit"], settings, lambda m: None, name)
        points[name] = lpd(fit, inner["held_out"])
        idatas[name] = fit_model(model(name), parts["fit"], settings, lambda m: None,
                                 name).idata
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(idatas, var_name="y")
    print(table[["elpd_loo", "se", "elpd_diff", "dse", "p_loo"]].round(2).to_string())
    for name in names[1:]:
        d = points[name] - points[names[0]]
        print(f"inner lpd {name} - {names[0]}: {d.sum():+.2f} +- "
              f"{np.sqrt(len(d)) * d.std(ddof=1):.2f} ({len(d)} runs)")


def stacking(parts: dict, inner: dict, settings: Settings) -> None:
    """The two in-set stacking weights of the study's models and the held-out scores of
    the mixtures they give."""
    from scipy.optimize import minimize_scalar

    quiet = lambda message: None  # noqa: E731
    names = ("baseline", "chinchilla")
    outer = {n: fit_model(model(n), parts["fit"], settings, quiet, n) for n in names}
    inner_fits = {n: fit_model(model(n), inner["fit"], settings, quiet, n) for n in names}
    a, b = (lpd(inner_fits[n], inner["held_out"]) for n in names)
    best = minimize_scalar(lambda w: -np.logaddexp(np.log(w) + a, np.log1p(-w) + b).sum(),
                           bounds=(1e-9, 1 - 1e-9), method="bounded").x
    loo = sl.compare(outer)["weight"].to_dict()
    held = parts["held_out"]
    truth = held["loss"].to_numpy(float)
    for label, weights in (("PSIS-LOO on the 57 runs", loo),
                           ("inner backtest (<= 2 -> 2-4 epochs)",
                            {"baseline": best, "chinchilla": 1 - best})):
        draws = sl.stacked_draws(outer, held, weights=weights, seed=settings.seed)
        lo, hi = np.quantile(draws["observed"], [0.05, 0.95], axis=0)
        s = score_frame(truth, np.median(draws["law"], axis=0), lo, hi)
        print(f"{label}: weights {', '.join(f'{k} {v:.3f}' for k, v in weights.items())}; "
              f"held out: mean {s['rel_err_%'].mean():.2f}%, median "
              f"{s['rel_err_%'].median():.2f}%, max {s['rel_err_%'].max():.1f}%, 90% coverage "
              f"{s['covered'].mean():.3f}")


def all_runs(names: list[str], parts: dict, settings: Settings) -> None:
    """Each named variant fitted on all 182 runs, held-out ones included, and scored on
    the 125 many-epoch runs it saw: how closely the law itself can describe them, the
    floor under any held-out figure."""
    rows = pd.concat([parts["fit"], parts["held_out"]], ignore_index=True)
    for name in names:
        fit = fit_model(model(name), rows, settings, lambda message: None, name)
        s, _ = score(fit, parts["held_out"])
        fitted, _ = score(fit, parts["fit"])
        diag = fit_diagnostics(name, fit)
        medians = fit.summary()["median"]
        print(f"{name} on all {len(rows)} runs: the 125 many-epoch runs mean "
              f"{s['rel_err_%'].mean():.2f}%, median {s['rel_err_%'].median():.2f}%, max "
              f"{s['rel_err_%'].max():.1f}%, 90% coverage {s['covered'].mean():.2f}; the 57 "
              f"few-epoch runs mean {fitted['rel_err_%'].mean():.2f}%; divergences "
              f"{diag['divergences']}, max R-hat {diag['max_r_hat']:.3f}, min bulk ESS "
              f"{diag['min_ess_bulk']:.0f}")
        print("  medians: " + ", ".join(f"{k} {v:.4g}" for k, v in medians.items()))


def c4_oscar(settings: Settings) -> None:
    """The study's C4-and-OSCAR hierarchy against E and B partially pooled by dataset."""
    frame = sd.datablations_frame(load_table("datablations2023", "final", None))
    runs = load_table("datablations2023", "runs", None)
    both = pd.concat([frame.assign(dataset="c4"), sd.oscar_frame(runs)], ignore_index=True)
    parts = sd.datablations_split(both)
    held = parts["held_out"]
    models = {"E by dataset (the study's)": sd.c4_oscar_model(),
              "E and B partially pooled by dataset": dataclasses.replace(
                  sd.c4_oscar_model(), vary={"E": ("dataset",), "B": ("dataset",)},
                  pooling="partial")}
    for label, spec in models.items():
        fit = fit_model(spec, parts["fit"], settings, lambda message: None, label)
        s, _ = score(fit, held)
        s["dataset"] = held["dataset"].to_numpy()
        by = s.groupby("dataset").agg(mean=("rel_err_%", "mean"), coverage=("covered", "mean"))
        print(f"{label}: " + "; ".join(f"{d} mean {r['mean']:.2f}%, 90% coverage "
                                       f"{r['coverage']:.2f}" for d, r in by.iterrows()))
        for warning in fit.warnings:
            print(f"  warning: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants", nargs="*",
                        default=[*VARIANTS, "own_unique_params", "chinchilla"])
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--stacking", action="store_true")
    parser.add_argument("--c4-oscar", action="store_true")
    parser.add_argument("--all-runs", action="store_true",
                        help="fit the named variants (default baseline and chinchilla) on "
                             "all 182 runs and score the 125 they saw")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()
    frame = sd.datablations_frame(load_table("datablations2023", "final", None))
    gap = check_conversion(frame)
    print(f"base priors' medians vs published_loss on 182 runs: max |diff| {gap:.1e}")
    assert gap < 1e-9, "the base-constant priors are not the published constants"
    parts = sd.datablations_split(frame)
    inner = sd.datablations_split(parts["fit"], max_epochs=2.0)
    settings = Settings.make(study="datablations2023")
    if args.compare:
        compare(args.variants, parts, inner, settings)
        return
    if args.stacking:
        stacking(parts, inner, settings)
        return
    if args.c4_oscar:
        c4_oscar(settings)
        return
    if args.all_runs:
        all_runs(args.variants if args.variants != parser.get_default("variants")
                 else ["baseline", "chinchilla"], parts, settings)
        return
    rows = [run_variant(name, parts, inner, settings) for name in args.variants]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1, default=float)
    table = pd.DataFrame([{"variant": r["variant"],
                           **{f"inner {k}": r["inner"][k] for k in ("lpd", "mean", "coverage")},
                           **{f"outer {k}": v for k, v in r["outer"].items()
                              if k not in ("RD_star",)}} for r in rows])
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
