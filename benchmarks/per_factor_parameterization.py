"""One parameter, two factors the data separate differently: the demo sweep with a
``seed`` column the losses do not depend on (row % 3), E varying by dataset (three
clearly different datasets) and by seed. Sampled non-centred, centred, and with
``parameterization="auto"``, which chooses per factor there (``"E[dataset]"`` centred,
``"E[seed]"`` non-centred). 4 chains x (500 + 1,000), seeds 0 and 1, one process, the
persistent cache off; the seconds are each fit's wall time, its compilation included
where it is the first of its program.

    python benchmarks/per_factor_parameterization.py
"""

from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("SCALINGLAWS_CACHE_DIR", "off")

import scalinglaws as sl  # noqa: E402


def main() -> None:
    runs = sl.synthetic.sweep(seed=0)
    frame = runs.assign(seed=runs.index % 3)
    print("| parameterization | sampled | seed | divergences | max R-hat | min bulk ESS "
          "| leapfrog steps per draw | s | alpha mean (sd) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for choice in ("noncentred", "centred", "auto"):
        model = sl.ScalingModel("chinchilla", vary={"E": ["dataset", "seed"]},
                                parameterization=choice)
        for seed in (0, 1):
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = model.fit(frame, seed=seed, progress=False)
            seconds = time.perf_counter() - started
            summary = fit.summary()
            stats = fit.idata.sample_stats
            print(f"| {choice} | {fit.spec.parameterization} | {seed} | "
                  f"{int(stats.diverging.sum())} | {summary['r_hat'].max():.3f} | "
                  f"{summary['ess_bulk'].min():.0f} | {float(stats.n_steps.mean()):.1f} | "
                  f"{seconds:.1f} | {summary.loc['alpha', 'mean']:.4f} "
                  f"({summary.loc['alpha', 'sd']:.4f}) |", flush=True)


if __name__ == "__main__":
    main()
