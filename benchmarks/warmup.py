"""How much warm-up the shipped models need: diagnostics against warm-up length.

For each warm-up length, fits the demo model (hierarchical Chinchilla, centred offsets)
to ``--sweeps`` synthetic sweeps as one batched program and reports, over the fits, the
worst R-hat, the smallest bulk and tail ESS, the divergences, the mean leapfrog steps per
draw and the wall time. The default warm-up is the shortest length whose every fit keeps
R-hat <= 1.01, bulk and tail ESS >= 400 and no divergences.

    python benchmarks/warmup.py --sweeps 8 --warmup 250,500,1000 --draws 1000
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

import scalinglaws as sl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", type=int, default=8)
    parser.add_argument("--warmup", default="250,500,1000")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=4)
    args = parser.parse_args()
    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                            parameterization="centred")
    frames = {s: sl.synthetic.sweep(seed=s) for s in range(args.sweeps)}
    rows = []
    for warmup in (int(w) for w in args.warmup.split(",")):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawWarning)
            fits = model.fit_many(frames, seed=list(frames), chains=args.chains,
                                  warmup=warmup, draws=args.draws, progress=False)
        seconds = time.perf_counter() - started
        for seed, fit in fits.items():
            table = fit.summary()
            stats = fit.idata.sample_stats
            rows.append({"warmup": warmup, "sweep": seed,
                         "max_r_hat": table["r_hat"].max(),
                         "min_ess_bulk": table["ess_bulk"].min(),
                         "min_ess_tail": table["ess_tail"].min(),
                         "divergences": int(stats["diverging"].sum()),
                         "mean_steps": float(stats["n_steps"].mean()),
                         "batch_seconds": seconds})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    print()
    print(table.groupby("warmup").agg(
        max_r_hat=("max_r_hat", "max"), min_ess_bulk=("min_ess_bulk", "min"),
        min_ess_tail=("min_ess_tail", "min"), divergences=("divergences", "sum"),
        mean_steps=("mean_steps", "mean"), batch_seconds=("batch_seconds", "first"),
    ).to_string())


if __name__ == "__main__":
    main()
