"""Brandfonbrener's train-to-train links pooled by output set, in four parameterisations.

The loss-to-loss guide's first model (FineWeb-Edu's Kaplan law to the five other
training sets' losses; `kappa`, `K`, `E_y` and the noise varying by output set) with
`pooling="partial"`, the default, which samples in the model's own coordinates
(`engine.mcmc.WhitenedNUTS(whiten=False)`). The sets differ clearly in `K` and `E_y`
but little in `kappa`, so each of these is tried:

- `noncentred` (the loss-to-loss default),
- `centred`,
- `mixed`: `kappa` non-centred, `K`, `E_y` and the noise centred,
- `auto`: what the fit chooses from its groups' separation at the mode
  (`losstoloss.sampling.auto_parameterization`; printed with the fit),

each a fit of 2 chains x (500 + 200) at a target acceptance of 0.98, seed 0 (`--chains`,
`--warmup`, `--draws`, `--only` change that), in the model's own coordinates (the
default for a hierarchy) or, with `--coordinates whitened`, in the Laplace
approximation's whitened ones (`fit(..., whiten=True)`); with both, the posterior means
are compared in combined Monte Carlo standard errors. Prints per fit: wall seconds
(compilation included), per chain the final step size, leapfrog steps per draw and mean
log density, divergences, the share of draws at the maximum tree depth, and the largest
R-hat and smallest bulk and tail ESS over the law's and links' quantities.

    SCALINGLAWS_DATA=../shared/data python benchmarks/losstoloss_pooled_sweep.py
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz as az
import jax
import numpy as np

import scalinglaws as sl
from scalinglaws import losstoloss as ltl

PARAMETERIZATIONS = {
    "noncentred": "noncentred",
    "centred": "centred",
    "mixed": {"kappa": "noncentred", "K": "centred", "E_y": "centred", "sigma_y": "centred"},
    "auto": "auto",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--only", nargs="*", choices=list(PARAMETERIZATIONS),
                        default=list(PARAMETERIZATIONS))
    parser.add_argument("--coordinates", nargs="*", choices=["own", "whitened"],
                        default=["own"])
    args = parser.parse_args()
    sweep = sl.datasets.load("brandfonbrener2025", "sweep")
    pairs = ltl.pair_train_to_train(sweep, x="fineweb-edu-100b")
    print(f"jax {jax.__version__}, {jax.device_count()} device(s); {args.chains} chains x "
          f"({args.warmup} + {args.draws}), target accept 0.98", flush=True)
    for name in args.only:
        model = ltl.LossToLossModel(
            "kaplan", vary={"kappa": "dataset_y", "K": "dataset_y", "E_y": "dataset_y",
                            "sigma_y": "dataset_y"},
            parameterization=PARAMETERIZATIONS[name])
        summaries = []
        for coordinates in args.coordinates:
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = model.fit(pairs, seed=0, chains=args.chains, warmup=args.warmup,
                                draws=args.draws, target_accept=0.98, progress=False,
                                whiten=coordinates == "whitened" or None)
            wall = time.perf_counter() - started
            stats = fit.idata.sample_stats
            per_chain = "; ".join(
                f"step {float(stats.step_size[c].mean()):.2g}, "
                f"{float(stats.n_steps[c].mean()):.0f} steps/draw, "
                f"lp {float(stats.lp[c].mean()):.0f}" for c in range(stats.sizes["chain"]))
            names = [v for v in fit.idata.posterior.data_vars
                     if v.startswith(("x.", "link.")) and "_z_" not in v]
            table = az.summary(fit.idata.posterior[names], round_to="none")
            summaries.append(table)
            at_max = float((stats.tree_depth >= 10).mean())
            print(f"{name:10s} {coordinates:8s} {wall:6.1f} s  R-hat "
                  f"{table['r_hat'].max():.3f}  bulk ESS {table['ess_bulk'].min():.0f}  "
                  f"tail ESS {table['ess_tail'].min():.0f}  divergences "
                  f"{int(stats.diverging.sum())}  at max depth {at_max:.0%}\n"
                  f"           {per_chain}\n           sampled: {fit.spec.parameterization}",
                  flush=True)
        if len(summaries) == 2:
            first, second = summaries
            z = (first["mean"] - second["mean"]).abs() / np.hypot(first["mcse_mean"],
                                                                   second["mcse_mean"])
            print(f"{name:10s} posterior means: largest difference {z.max():.2f} combined "
                  f"MCSE over {len(z)} quantities ({z.idxmax()})", flush=True)


if __name__ == "__main__":
    main()
