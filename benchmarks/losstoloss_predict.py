"""What a loss-to-loss fit's predictions cost after the fit: compilations and seconds.

Fits a short loss-to-loss model (web -> code and books on ``losstoloss.simulate``, link
varying by output set; 2 chains x (150 + 150)), then, in the same process, times and
counts the XLA compilations (``jax.monitoring``) of

- ``fit.predict`` on 3, 7, 12 and 40 rows without an observed input loss, then the same
  row counts with one (errors in variables), and
- ``scalinglaws.report.build_html`` of the fit (links, predictions, figures).

The persistent compilation cache is off, so every program counts. ``--out`` writes the
figures as JSON, with each of 12 rows' predictive mean and standard deviation of the
output and of the latent input loss (observed input loss given); ``--compare A B``
checks two such files (say, two versions of the package) against each other: the
largest gap between their means in units of its Monte Carlo standard error.

    python benchmarks/losstoloss_predict.py [--out FILE]
    python benchmarks/losstoloss_predict.py --compare A.json B.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

os.environ.setdefault("SCALINGLAWS_CACHE_DIR", "off")

import jax.monitoring  # noqa: E402
import numpy as np  # noqa: E402

import scalinglaws as sl  # noqa: E402
import scalinglaws.losstoloss as ltl  # noqa: E402
from scalinglaws.report import build_html  # noqa: E402

COMPILES = {"n": 0, "seconds": 0.0}


def _listen(event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        COMPILES["n"] += 1
        COMPILES["seconds"] += duration


def timed(label: str, call, results: dict) -> None:
    before = dict(COMPILES)
    started = time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    results[label] = {"seconds": round(seconds, 3), "compilations": COMPILES["n"] - before["n"],
                      "compile_seconds": round(COMPILES["seconds"] - before["seconds"], 3)}
    print(f"{label:48s} {seconds:7.2f} s  {results[label]['compilations']:4d} compilations "
          f"({results[label]['compile_seconds']:.2f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    jax.monitoring.register_event_duration_secs_listener(_listen)
    pairs = ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y=["code", "books"],
                                    loss="loss")
    model = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y", "K": "dataset_y",
                                                    "E_y": "dataset_y"})
    results: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)  # short chains
        fit = model.fit(pairs, seed=0, chains=2, warmup=150, draws=150, progress=False)
    rows = pairs.sample(40, random_state=0).reset_index(drop=True)
    plain = rows.drop(columns=["loss_x"])
    for n in (3, 7, 12, 40):
        timed(f"predict, {n} rows", lambda n=n: fit.predict(plain.iloc[:n]), results)
    for n in (3, 7, 12, 40):
        timed(f"predict, {n} rows, observed input loss",
              lambda n=n: fit.predict(rows.iloc[:n]), results)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        timed("report page (build_html)", lambda: build_html({"link": fit}, title="Links",
                                                             at={"N": 7e9, "D": 1.4e11}),
              results)
    totals = {k: round(sum(r[k] for r in results.values()), 3)
              for k in ("seconds", "compilations", "compile_seconds")}
    print(f"{'total':48s} {totals['seconds']:7.2f} s  {totals['compilations']:4d} compilations "
          f"({totals['compile_seconds']:.2f} s)")
    draws = fit.predict_draws(rows.iloc[:12], seed=0)
    check = {f"{k}_{stat}": getattr(np, stat)(draws[k], axis=0).tolist()
             for k in ("y", "x") for stat in ("mean", "std")}
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"results": results, "totals": totals, "check": check,
                       "draws": len(draws["y"])}, handle, indent=1)


def compare(path_a: str, path_b: str) -> None:
    """The largest gap between two runs' predictive means, in combined standard errors
    (draws counted as independent: the predictive noise dominates)."""
    a, b = (json.load(open(p)) for p in (path_a, path_b))
    for k in ("y", "x"):
        gap = np.abs(np.subtract(a["check"][f"{k}_mean"], b["check"][f"{k}_mean"]))
        se = np.hypot(np.asarray(a["check"][f"{k}_std"]) / np.sqrt(a["draws"]),
                      np.asarray(b["check"][f"{k}_std"]) / np.sqrt(b["draws"]))
        print(f"{k}: largest gap {float(np.max(gap / se)):.2f} standard errors over "
              f"{len(gap)} rows")


if __name__ == "__main__":
    main()
