"""Simulation studies of ``scalinglaws.decide`` against a known true law.

Two studies, each over many synthetic sweeps drawn from a true Chinchilla law:

``rules``
    Fit the sweep, then choose N for a budget far beyond it with the expected-loss rule,
    the risk-averse quantile rule and the point-estimate choices (posterior-median
    parameters, and the highest-density draw, close to a least-squares fit). Every choice
    is scored with the *true* law: its realised loss and its regret against the true
    optimum. Also reports how often the 90% interval of N* contains the true N*.

``next_run``
    Fit a small sweep, rank iso-FLOP candidate runs with ``next_run`` (target: a large
    run at 20 tokens per parameter), then actually "train" the top-ranked run and a
    random other candidate of the same cost (draw its loss from the true law with
    noise), refit with each, and compare the 90% credible-interval width at the target.

Usage (small settings; each fit takes ~30-60 s on one CPU core, mostly compilation)::

    python benchmarks/decide_simulation.py --study rules --sweeps 50
    python benchmarks/decide_simulation.py --study next_run --replicates 20
    python benchmarks/decide_simulation.py --study both --out results/  # CSVs per sweep
    python benchmarks/decide_simulation.py --study tables --data-dir ../shared/data \\
        --warmup 500 --draws 500                    # the Gadre / Brandfonbrener tables

Prints the tables that docs/decide.md quotes.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import scalinglaws as sl
from scalinglaws import decide
from scalinglaws.errors import ScalingLawWarning

#: The true law: Chinchilla (Hoffmann et al.'s fitted values), one dataset.
TRUTH = {"alpha": 0.34, "beta": 0.28, "E": {"web": 1.69}, "A": {"web": 406.4},
         "B": {"web": 410.7}, "sigma": 0.02}


def _truth(sigma: float) -> dict:
    return {**TRUTH, "sigma": sigma}


def _true_loss(n, d, truth) -> np.ndarray:
    return sl.synthetic.true_loss(n, d, "web", truth)


def _fit_many(frames: dict, args, seeds: list[int]) -> dict:
    """Every frame fitted with its seed, as one batched program (ScalingModel.fit_many)."""
    model = sl.ScalingModel("chinchilla", target="loss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)
        return model.fit_many(frames, seed=seeds, chains=args.chains, warmup=args.warmup,
                              draws=args.draws, progress=False)


def _checkpoint(rows: list[dict], args, name: str) -> None:
    """Write the rows so far (a long run that dies keeps its results)."""
    if args.out:
        pd.DataFrame(rows).to_csv(Path(args.out) / name, index=False)


def _show(title: str, frame: pd.DataFrame) -> None:
    print(f"\n{title}")
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.float_format", lambda x: f"{x:.4g}"):
        print(frame.to_string())


# ------------------------------------------------------------------------ decision rules


def rules_study(args) -> pd.DataFrame:
    truth = _truth(args.sigma)
    params = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    compute = args.compute
    best = decide.optimum("chinchilla", params, compute)
    n_true, loss_true = float(best["N"]), float(best["loss"])
    sizes = tuple(float(x) for x in args.sizes.split(","))
    multipliers = tuple(float(x) for x in args.multipliers.split(","))
    print(f"rules study: true N* = {n_true:.3g}, D*/N* = {float(best['ratio']):.3g}, "
          f"L* = {loss_true:.4f} at C = {compute:.3g}; sweeps of N in {sizes}, D/N in "
          f"{multipliers}, {args.sigma:.0%} noise; largest sweep compute "
          f"{6 * max(sizes) ** 2 * max(multipliers):.2g}")
    rows = []
    started = time.perf_counter()
    fits = _fit_many({i: sl.synthetic.sweep(seed=1000 + i, sizes=sizes,
                                            multipliers=multipliers, truth=truth)
                      for i in range(args.sweeps)}, args, seeds=list(range(args.sweeps)))
    print(f"  {args.sweeps} sweeps fitted as one batch: {time.perf_counter() - started:.0f} s",
          flush=True)
    for i, fit in fits.items():
        started = time.perf_counter()
        interval = decide.compute_optimal(fit, compute, interval=0.9).iloc[0]
        choices = {}
        expected = decide.choose_size(fit, compute, rule="expected", point="median")
        choices["expected loss"] = expected.chosen.N
        choices["point: posterior median"] = expected.table.iloc[1].N
        risk = decide.choose_size(fit, compute, rule="quantile", quantile=args.quantile,
                                  point="map")
        choices[f"quantile {args.quantile:g}"] = risk.chosen.N
        choices["point: highest-density draw"] = risk.table.iloc[1].N
        for name, n in choices.items():
            realised = float(_true_loss(n, compute / (6 * n), truth))
            rows.append({"sweep": i, "choice": name, "N": n, "realised_loss": realised,
                         "regret": realised - loss_true,
                         "N_covered": interval.N_lower <= n_true <= interval.N_upper,
                         "posterior_regret": expected.table.iloc[0].regret_mean
                         if name == "expected loss" else np.nan})
        _checkpoint(rows, args, "decide_rules.csv")
        print(f"  sweep {i + 1}/{args.sweeps}: {time.perf_counter() - started:.0f} s, "
              + ", ".join(f"{k} N={v:.3g}" for k, v in choices.items()), flush=True)
    return pd.DataFrame(rows)


def summarise_rules(results: pd.DataFrame) -> pd.DataFrame:
    point = results[results.choice == "point: posterior median"].set_index("sweep")
    out = []
    for name, part in results.groupby("choice", sort=False):
        part = part.set_index("sweep")
        out.append({
            "choice": name,
            "sweeps": len(part),
            "median N / true N*": np.nan,
            "regret mean": part.regret.mean(),
            "regret median": part.regret.median(),
            "regret 90%": part.regret.quantile(0.9),
            "regret max": part.regret.max(),
            "loss mean": part.realised_loss.mean(),
            "loss 90%": part.realised_loss.quantile(0.9),
            "loss max": part.realised_loss.max(),
            "beats median-point (share)": float((part.regret < point.regret - 1e-12).mean()),
        })
    table = pd.DataFrame(out).set_index("choice")
    table = table.drop(columns="median N / true N*")
    return table


# ------------------------------------------------------------------------------ next_run


def next_run_study(args) -> pd.DataFrame:
    truth = _truth(args.sigma)
    rng = np.random.default_rng(args.seed)
    sizes = (1e7, 3e7, 1e8)
    multipliers = (10.0, 20.0, 40.0)
    target = {"N": 1e10, "D": 2e11}
    budgets = (6e18, 6e19)
    ratios = (1.0, 5.0, 20.0, 80.0, 320.0)
    candidates = pd.DataFrame([{"N": np.sqrt(c / (6 * m)), "D": np.sqrt(c / (6 * m)) * m,
                                "budget": c, "tokens_per_param": m}
                               for c in budgets for m in ratios])
    print(f"next_run study: base sweep N in {sizes}, D/N in {multipliers}; target N = "
          f"{target['N']:.0e}, D = {target['D']:.0e} (C = {6 * target['N'] * target['D']:.1e});"
          f" candidates: budgets {budgets} x D/N {ratios}")
    rows = []
    started = time.perf_counter()
    sweeps = {r: sl.synthetic.sweep(seed=2000 + r, sizes=sizes, multipliers=multipliers,
                                    truth=truth)[["N", "D", "dataset", "loss"]]
              for r in range(args.replicates)}
    bases = _fit_many(sweeps, args, seeds=list(sweeps))
    at = pd.DataFrame({**target, "dataset": ["web"]})
    picks, extended = {}, {}
    for r, base in bases.items():
        ranked = decide.next_run(base, candidates.assign(dataset="web"), target=at,
                                 n_sim=args.n_sim, seed=r)
        top = ranked.index[0]
        same = [i for i in candidates.index
                if candidates.budget[i] == candidates.budget[top] and i != top]
        picks[r] = (ranked, (("next_run", top), ("random", int(rng.choice(same)))))
        for label, idx in picks[r][1]:
            n, d = candidates.N[idx], candidates.D[idx]
            y = float(_true_loss(n, d, truth)) * np.exp(truth["sigma"] * rng.standard_normal())
            extended[(r, label)] = pd.concat(
                [sweeps[r], pd.DataFrame({"N": [n], "D": [d], "dataset": ["web"],
                                          "loss": [y]})], ignore_index=True)
    refits = _fit_many(extended, args, seeds=[r for r, _ in extended])
    for r, base in bases.items():
        width0 = float(base.predict(at).eval("upper - lower").iloc[0])
        ranked, chosen = picks[r]
        widths = {}
        for label, idx in chosen:
            widths[label] = float(refits[(r, label)].predict(at).eval("upper - lower").iloc[0])
            rows.append({"replicate": r, "pick": label, "candidate": idx,
                         "budget": candidates.budget[idx],
                         "tokens_per_param": candidates.tokens_per_param[idx],
                         "width_before": width0, "width_after": widths[label],
                         "predicted_after": ranked.loc[idx, "uncertainty_after"],
                         "predicted_now": ranked.loc[idx, "uncertainty_now"],
                         "ess_mean": ranked.loc[idx, "ess_mean"]})
        _checkpoint(rows, args, "decide_next_run.csv")
        (_, top), (_, other) = chosen
        print(f"  replicate {r + 1}/{args.replicates}: "
              f"width {width0:.4f} -> next_run (D/N={candidates.tokens_per_param[top]:g}, "
              f"C={candidates.budget[top]:.0e}) {widths['next_run']:.4f}, random "
              f"(D/N={candidates.tokens_per_param[other]:g}) {widths['random']:.4f}", flush=True)
    print(f"  {len(bases)} base fits and {len(refits)} refits, two batches: "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return pd.DataFrame(rows)


def summarise_next_run(results: pd.DataFrame) -> pd.DataFrame:
    wide = results.pivot(index="replicate", columns="pick", values="width_after")
    before = results.groupby("replicate").width_before.first()
    shrink = {k: 1 - wide[k] / before for k in ("next_run", "random")}
    diff = shrink["next_run"] - shrink["random"]
    table = pd.DataFrame({
        "mean shrink of 90% width": [shrink["next_run"].mean(), shrink["random"].mean()],
        "median shrink": [shrink["next_run"].median(), shrink["random"].median()],
        "mean width after": [wide["next_run"].mean(), wide["random"].mean()],
    }, index=["next_run pick", "random same-cost pick"])
    table.loc["difference (paired)", "mean shrink of 90% width"] = diff.mean()
    table.loc["difference (paired)", "median shrink"] = diff.median()
    table.attrs["se"] = diff.std(ddof=1) / np.sqrt(len(diff))
    table.attrs["wins"] = float((diff > 0).mean())
    return table


# ------------------------------------------------------------------- real-data tables


def _markdown(frame: pd.DataFrame, index: bool = False) -> str:
    """A GitHub markdown table (numbers with 4 significant digits)."""
    frame = frame.reset_index() if index else frame
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row]
             for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _span(row: pd.Series, name: str, fmt: str) -> str:
    return (f"{row[name + '_median']:{fmt}} [{row[name + '_lower']:{fmt}}, "
            f"{row[name + '_upper']:{fmt}}]")


def tables_study(args) -> None:
    """Compute-optimal tables for the Gadre and Brandfonbrener fits (docs/decide.md)."""
    from scalinglaws.datasets import load

    budgets = [1e21, 1e23, 1e25]
    # Gadre's three datasets differ little: non-centred offsets (docs/modeling.md);
    # Brandfonbrener's six are each well measured (~88 runs) and clearly different: centred.
    setups = [
        ("gadre2024", "overtraining", "loss_c4_val", ["E", "a", "b"], "rpj", "noncentred"),
        ("gadre2024", "chinchilla", "loss_c4_val", ["E", "A", "B"], "rpj", "noncentred"),
        ("brandfonbrener2025", "kaplan", "val_loss", ["E", "A", "B"], "fineweb-edu-100b",
         "centred"),
        ("brandfonbrener2025", "chinchilla", "val_loss", ["E", "A", "B"], "fineweb-edu-100b",
         "centred"),
    ]
    for study, law, target, varying, level, parameterization in setups:
        if args.only and study != args.only:
            continue
        runs = load(study, data_dir=args.data_dir)
        model = sl.ScalingModel(law, target=target, vary=dict.fromkeys(varying, "dataset"),
                                parameterization=parameterization)
        started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ScalingLawWarning)
            fit = model.fit(runs, seed=args.seed, chains=args.chains, warmup=args.warmup,
                            draws=args.draws, target_accept=0.95, progress=False)
        seconds = time.perf_counter() - started
        if args.out:
            fit.save(Path(args.out) / f"{study}_{law}.nc")   # for `scalinglaws decide`
        table = decide.compute_optimal(fit, budgets, interval=0.9)
        shown = pd.DataFrame({
            "dataset": table["dataset"],
            "C (FLOPs)": table["compute"].map(lambda c: f"{c:.0e}"),
            "N* median [90%]": [_span(r, "N", ".3g") for _, r in table.iterrows()],
            "D*/N* median [90%]": [_span(r, "tokens_per_param", ".3g")
                                   for _, r in table.iterrows()],
            "loss median [90%]": [_span(r, "loss", ".4f") for _, r in table.iterrows()],
        }).sort_values(["dataset", "C (FLOPs)"])
        stats = fit.idata.sample_stats
        print(f"\n### {study}: {law} on {target}, {', '.join(varying)} varying by dataset, "
              f"{parameterization} ({len(runs)} runs; {args.chains} chains x {args.draws} "
              f"draws, fit {seconds:.0f} s, {int(stats.diverging.sum())} divergences, max R-hat "
              f"{fit.summary()['r_hat'].max():.3f}; {table['method'].iloc[0]} optimum)\n")
        print(_markdown(shown))
        for message in fit.warnings:
            print(f"\n> sampler: {message}")
        del caught
        d = decide.choose_size(fit, 1e23, group={"dataset": level}, rule="quantile",
                               quantile=0.9)
        e = decide.choose_size(fit, 1e23, group={"dataset": level}, point="map")
        print(f"\nChoosing N at C = 1e23 for {level}:\n")
        rows = pd.concat([e.table.iloc[[0]], d.table.iloc[[0]], e.table.iloc[[1]],
                          d.table.iloc[[1]]])
        rows = rows[["N", "tokens_per_param", "expected_loss", "loss_quantile", "regret_mean",
                     "regret_upper"]]
        print(_markdown(rows, index=True))
        if study == "gadre2024":
            best = table[(table.compute == 1e23) & (table.dataset == "rpj")].iloc[0]
            at = {"N": best.N_median, "D": best.D_median}
            pb = decide.prob_better(fit, {"dataset": "rpj"}, {"dataset": "rw_original"},
                                    at=at, rope=0.005)
            print(f"\nprob_better(rpj vs rw_original at N={at['N']:.3g}, D={at['D']:.3g}, "
                  f"rope=0.005): P(rpj lower) {pb.p_a_better.iloc[0]:.3f}, P(equivalent) "
                  f"{pb.p_equivalent.iloc[0]:.3f}, P(rw lower) {pb.p_b_better.iloc[0]:.3f}; "
                  f"difference {pb.diff_median.iloc[0]:.4f} [{pb.diff_lower.iloc[0]:.4f}, "
                  f"{pb.diff_upper.iloc[0]:.4f}]")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", choices=("rules", "next_run", "both", "tables"),
                        default="both")
    parser.add_argument("--only", choices=("gadre2024", "brandfonbrener2025"),
                        help="tables study: one study's fits only")
    parser.add_argument("--data-dir", dest="data_dir", default=None,
                        help="local copy of the studies' data (tables study), e.g. ../shared/data")
    parser.add_argument("--sweeps", type=int, default=50, help="sweeps of the rules study")
    parser.add_argument("--replicates", type=int, default=20, help="replicates of next_run")
    parser.add_argument("--compute", type=float, default=1e23, help="budget of the rules study")
    parser.add_argument("--sizes", default="1e7,3e7,1e8", help="N of the rules-study sweeps")
    parser.add_argument("--multipliers", default="5,20,80",
                        help="D/N of the rules-study sweeps")
    parser.add_argument("--quantile", type=float, default=0.9)
    parser.add_argument("--sigma", type=float, default=0.02, help="log-normal noise")
    parser.add_argument("--n-sim", type=int, default=256, dest="n_sim")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="folder for per-sweep CSVs")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.study == "tables":
        tables_study(args)
    if args.study in ("rules", "both"):
        results = rules_study(args)
        _show(f"Decision rules over {args.sweeps} sweeps (C = {args.compute:.0e}; regret and "
              f"loss are the true law's):", summarise_rules(results))
        coverage = results.groupby("sweep").N_covered.first().mean()
        print(f"90% interval of N* contains the true N* in {coverage:.0%} of sweeps")
        post = results.dropna(subset=["posterior_regret"])
        print(f"expected-loss rule: posterior expected regret {post.posterior_regret.mean():.3g}"
              f" (mean over sweeps) vs realised {post.regret.mean():.3g}")
    if args.study in ("next_run", "both"):
        results = next_run_study(args)
        table = summarise_next_run(results)
        _show(f"next_run over {args.replicates} replicates (90% credible width at the "
              f"target, after refitting with the run):", table)
        print(f"paired difference in shrink: {table.iloc[2, 0]:.3f} +- "
              f"{table.attrs['se']:.3f} (s.e.); next_run pick better in "
              f"{table.attrs['wins']:.0%} of replicates")
        picks = results[results.pick == "next_run"]
        print("next_run picks (budget, D/N):",
              picks.groupby(["budget", "tokens_per_param"]).size().to_dict())
        print(f"predicted vs realised width after the pick: "
              f"{picks.predicted_after.mean():.4f} vs {picks.width_after.mean():.4f}")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
