"""Downstream accuracy measured on benchmarks of different sizes: fitting with the known
binomial standard error of each score (``measurement_se``) against fitting without it.

A synthetic sweep of models (true losses L from 2.2 to 4.0) is scored on benchmarks of
100, 1,000 and 10,000 questions; each score's standard error is ``sqrt(e (1 - e) / n)``
at the observed error rate e. The true error rate follows ``downstream_exp``
(Err = epsilon - k exp(-gamma L)) plus a model-to-model spread of 0.5 points. Both
models are fitted to the same scores (``--sweeps`` replications); the table gives, per
parameter, how often the 90% interval covers the truth and its mean width, and the same
for the noise-free error rate at a held-out loss of 1.9 (below every fitted model). A
second table scores held-out rows: 30 more models per sweep, drawn and scored as the
fitted ones, each predicted as a measured score (with the column: ``meas_lower``,
``meas_upper``, the model's noise and the row's own standard error; without: the model's
one noise scale), by benchmark size.

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
#: Seeds of the held-out rows: each sweep's 30 new models come from seed HELD_OUT_SEED + i.
HELD_OUT_SEED = 10_000


def scores(seed: int, models: int = 60) -> pd.DataFrame:
    """One sweep: ``models`` models, each scored on a benchmark of 100, 1,000 or 10,000
    questions."""
    rng = np.random.default_rng(seed)
    loss = rng.uniform(2.2, 4.0, size=models)
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
    held_rows = [scores(HELD_OUT_SEED + seed, models=30) for seed in range(args.sweeps)]
    held_out = TRUTH["epsilon"] - TRUTH["k"] * np.exp(-TRUTH["gamma"] * 1.9)
    models = {
        "without": sl.ScalingModel("downstream_exp", inputs={"L": "L"}, target="error"),
        "with measurement_se": sl.ScalingModel("downstream_exp", inputs={"L": "L"},
                                               target="error", measurement_se="se"),
    }
    rows, held = [], []
    for name, model in models.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawWarning)
            fits = model.fit_many(frames, seed=list(range(len(frames))),
                                  chains=args.chains, draws=args.draws, progress=False)
        seconds = time.perf_counter() - started
        for fit, new in zip(fits, held_rows, strict=True):
            held.append(held_out_coverage(fit, new, name))
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
    print(f"{args.sweeps} sweeps of 60 models, {args.chains} x (500 warmup + {args.draws} "
          f"draws); "
          f"90% intervals; truth {TRUTH}, error rate at L = 1.9: {held_out:.4f}")
    print(table.round(4).to_string())
    held = pd.concat(held, ignore_index=True)
    by_size = held.groupby(["model", "questions"]).agg(covered=("covered", "mean"),
                                                       width=("width", "mean"))
    overall = held.groupby("model").agg(covered=("covered", "mean"), width=("width", "mean"))
    overall["questions"] = "all"
    print(f"\nheld-out rows ({len(held_rows[0])} per sweep, {len(held) // len(models)} per "
          f"model): share inside the 90% interval of a measured score, and its mean width")
    print(pd.concat([by_size.reset_index(),
                     overall.reset_index()]).round(4).to_string(index=False))


def held_out_coverage(fit, new: pd.DataFrame, name: str) -> pd.DataFrame:
    """Whether each held-out row's measured score lies in the fit's 90% interval of a
    measured score: ``meas_*`` when the fit has the standard-error column (its noise and
    the row's own error), else ``pred_*`` (its one noise scale)."""
    out = fit.predict(new[["L", "se"]] if fit.spec.measurement_se else new[["L"]])
    kind = "meas" if fit.spec.measurement_se else "pred"
    lower, upper = out[f"{kind}_lower"].to_numpy(), out[f"{kind}_upper"].to_numpy()
    observed = new["error"].to_numpy()
    return pd.DataFrame({"model": name, "questions": new["questions"].to_numpy(),
                         "covered": (lower <= observed) & (observed <= upper),
                         "width": upper - lower})


if __name__ == "__main__":
    main()
