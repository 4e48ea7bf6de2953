"""Wall time and diagnostics of one hierarchical Chinchilla fit on all 104 Gadre runs.

    SCALINGLAWS_DATA=../shared/data python benchmarks/gadre_fit.py
"""

from __future__ import annotations

import time

import scalinglaws as sl
from scalinglaws.datasets import load

runs = load("gadre2024")
model = sl.ScalingModel("chinchilla", target="loss_c4_val",
                        vary={"E": "dataset", "A": "dataset", "B": "dataset"})
started = time.perf_counter()
fit = model.fit(runs, seed=0, target_accept=0.95, progress=False)
seconds = time.perf_counter() - started
stats = fit.idata.sample_stats
print(fit.summary().round(4).to_string())
print(f"\n{len(runs)} runs; 4 chains x 1000 warmup + 1000 draws (target_accept 0.95) in "
      f"{seconds:.1f} s; "
      f"{int(stats.diverging.sum())} divergences; mean leapfrog steps per draw "
      f"{float(stats.n_steps.mean()):.1f}; max R-hat {fit.summary()['r_hat'].max():.3f}")
for message in fit.warnings:
    print("WARNING:", message)
