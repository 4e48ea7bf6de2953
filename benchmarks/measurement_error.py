"""Downstream accuracy measured on benchmarks of different sizes: fitting with the known
binomial standard error of each score (``measurement_se``) against fitting without it.

A synthetic sweep of models (true losses L from 2.2 to 4.0) is scored on benchmarks of
100, 1,000 and 10,000 questions; each score's standard error is ``sqrt(e (1 - e) / n)``
at the observed error rate e. The true error rate follows ``downstream_exp``
(Err = epsilon - k exp(-gamma L)) plus a model-to-model spread of 0.5 points. Both
models are fitted to the same scores (``--sweeps`` replications); the table gives, per
parameter, how often the 90% interval covers the truth and its mean width, and the same
for the noise-free error rate at a held-out loss of 1.9 (below every fitted model).

    python benchmarks/measurement_error.py --sweeps 16
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import scalinglaws as sl

TRUTH = {"epsilon": 0.75, "k": 6.0, "gamma": 1.2}
SPREAD = 0.005


def scores(seed: int) -> pd.DataFrame:
    """One sweep: 60 models, each scored on a benchmark of 100, 1,000 or 10,000 questions."""
    rng = np.random.default_rng(seed)
    loss = rng.uniform(2.2, 4.0, size=60)
    err = TRUTH["epsilon"] - TRUTH["k"] * np.exp(-TRUTH["gamma"] * loss)
    err = np.clip(err + rng.normal(0.0, SPREAD, size=loss.size), 0.01, 0.99)
    n = rng.choice([100, 1_000, 10_000], size=loss.size)
    observed = rng.binomial(n, err) / n
    se = np.sqrt(np.clip(observed * (1 - observed), 1e-4, None) / n)
    return pd.DataFrame({"L": loss, "error": observed, "se": se, "questions": n})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweeps", type=int, default=16)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args()
    frames = [scores(seed) for seed in range(args.sweeps)]
    held_out = TRUTH["epsilon"] - TRUTH["k"] * np.exp(-TRUTH["gamma"] * 1.9)
    models = {
        "without": sl.ScalingModel("downstream_exp", inputs={"L": "L"}, target="error"),
        "with measurement_se": sl.ScalingModel("downstream_exp", inputs={"L": "L"},
                                               target="error", measurement_se="se"),
    }
    rows = []
    for name, model in models.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawWarning)
            fits = model.fit_many(frames, seed=list(range(len(frames))),
                                  chains=args.chains, draws=args.draws, progress=False)
        seconds = time.perf_counter() - started
        for fit in fits:
            summary = fit.summary()
            at = fit.predict({"L": [1.9]})
            row = {"model": name, "max_rhat": summary["r_hat"].max()}
            for p, value in TRUTH.items():
                lo, hi = summary.loc[p, "lower"], summary.loc[p, "upper"]
                row[f"{p}_covered"] = lo <= value <= hi
                row[f"{p}_width"] = hi - lo
            row["err@1.9_covered"] = at.loc[0, "lower"] <= held_out <= at.loc[0, "upper"]
            row["err@1.9_width"] = at.loc[0, "upper"] - at.loc[0, "lower"]
            row["seconds"] = seconds / len(fits)
            rows.append(row)
    table = pd.DataFrame(rows).groupby("model").mean(numeric_only=True)
    print(f"{args.sweeps} sweeps of 60 models, {args.chains} x ({args.draws} + 500) draws; "
          f"90% intervals; truth {TRUTH}, error rate at L = 1.9: {held_out:.4f}")
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
