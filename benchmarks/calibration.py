"""Calibration of extrapolations over many synthetic sweeps with known, random truth.

For each sweep (a random true law: exponents, per-dataset E, A, B and noise), fit the
hierarchical Chinchilla model (all sweeps as one batched program) and predict every
dataset at 10x the largest compute (D/N = 20). Count how often the 90%
posterior-predictive interval contains a fresh noisy observation from the true law, and
how often the 90% credible interval of the law contains the noise-free truth.

    python benchmarks/calibration.py --sweeps 24 [--parameterization noncentred]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import scalinglaws as sl


def random_truth(rng: np.random.Generator) -> dict:
    datasets = ("web", "code", "books")
    return {
        "alpha": float(rng.uniform(0.25, 0.45)),
        "beta": float(rng.uniform(0.2, 0.4)),
        "E": {d: float(rng.uniform(1.2, 2.4)) for d in datasets},
        "A": {d: float(np.exp(rng.uniform(np.log(150), np.log(900)))) for d in datasets},
        "B": {d: float(np.exp(rng.uniform(np.log(150), np.log(900)))) for d in datasets},
        "sigma": float(rng.uniform(0.005, 0.02)),
    }


def sweep(seed: int) -> tuple[dict, pd.DataFrame, np.random.Generator]:
    """Sweep ``seed``: its random truth, its runs, and the generator for new observations."""
    rng = np.random.default_rng(1000 + seed)
    truth = random_truth(rng)
    return truth, sl.synthetic.sweep(seed=seed, truth=truth), rng


def score(seed: int, truth: dict, runs: pd.DataFrame, rng: np.random.Generator,
          fit) -> pd.DataFrame:
    c = 10 * float((6 * runs.N * runs.D).max())
    n = np.sqrt(c / 120)
    at = pd.DataFrame({"N": n, "D": 20 * n, "dataset": list(truth["E"])})
    pred = fit.predict(at, interval=0.9, seed=seed)
    clean = sl.synthetic.true_loss(at.N, at.D, at.dataset, truth)
    noisy = clean * np.exp(truth["sigma"] * rng.standard_normal(len(at)))
    return pd.DataFrame({
        "sweep": seed, "dataset": at.dataset, "truth": clean,
        "pred_covers_new_observation": (pred.pred_lower <= noisy) & (noisy <= pred.pred_upper),
        "credible_covers_law": (pred.lower <= clean) & (clean <= pred.upper),
        "rel_error_%": 100 * np.abs(pred["median"] - clean) / clean,
        "divergences": int(fit.idata.sample_stats.diverging.sum()),
        "max_rhat": float(fit.summary()["r_hat"].max()),
    })


def many(seeds: list[int], chains: int, warmup: int, draws: int,
         parameterization: str = "centred") -> pd.DataFrame:
    """Every sweep of ``seeds`` fitted as one batched program, then scored."""
    sweeps = {seed: sweep(seed) for seed in seeds}
    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                            parameterization=parameterization)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = model.fit_many({seed: runs for seed, (_, runs, _) in sweeps.items()},
                              seed=list(seeds), chains=chains, warmup=warmup, draws=draws,
                              progress=False)
        return pd.concat([score(seed, truth, runs, rng, fits[seed])
                          for seed, (truth, runs, rng) in sweeps.items()], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", type=int, default=24)
    parser.add_argument("--start", type=int, default=0, help="first sweep seed")
    parser.add_argument("--parameterization", default="centred",
                        choices=("centred", "noncentred"))
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()
    table = many(list(range(args.start, args.start + args.sweeps)), args.chains, args.warmup,
                 args.draws, args.parameterization)
    print(table.to_string(index=False), flush=True)
    per_sweep = table.groupby("sweep")[["pred_covers_new_observation",
                                        "credible_covers_law"]].mean()
    print(f"\n{args.sweeps} sweeps x 3 datasets = {len(table)} extrapolations, "
          f"{time.perf_counter() - started:.0f} s")
    print(f"90% predictive interval contains a new observation: "
          f"{table.pred_covers_new_observation.mean():.1%}")
    print(f"90% credible interval contains the noise-free law:  "
          f"{table.credible_covers_law.mean():.1%}")
    print(f"sweeps whose three predictive intervals all cover: "
          f"{(per_sweep.pred_covers_new_observation == 1).mean():.1%}")
    print(f"median relative error of the posterior median: {table['rel_error_%'].median():.2f}%")
    per_fit = table.groupby("sweep")[["divergences", "max_rhat"]].max()
    clean = per_fit[(per_fit.divergences == 0) & (per_fit.max_rhat <= 1.01)].index
    print(f"sweeps with divergences: {(per_fit.divergences > 0).sum()}, with R-hat > 1.01: "
          f"{(per_fit.max_rhat > 1.01).sum()}, max R-hat over all: {table.max_rhat.max():.3f}")
    if len(clean):
        ok = table[table.sweep.isin(clean)]
        print(f"among the {len(clean)} clean fits: predictive coverage "
              f"{ok.pred_covers_new_observation.mean():.1%}, credible coverage "
              f"{ok.credible_covers_law.mean():.1%}")


if __name__ == "__main__":
    main()
