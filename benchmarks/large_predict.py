"""Memory and time of ``fit.predict`` on many rows, in blocks of rows (the package) and
in one block (every draw of every row at once).

A prediction table needs only quantiles per row, but the draws behind it are (draws,
rows) arrays, several of them: 4,000 draws x 20,000 rows is 640 MB each. ``predict``
computes them ``scalinglaws.prediction.BLOCK_VALUES`` values at a time
(``row_blocks``). This script fits the demo's hierarchical Chinchilla (4 chains x
(1,000 + 1,000), the package's defaults) on the synthetic sweep, then predicts
``--rows`` rows (a grid of N and D, every dataset, and one dataset never fitted), each
mode in a fresh process with the persistent cache off, and prints the wall time of the
prediction, the peak resident memory before and after it, and the largest difference of
the two modes' medians against the median's Monte Carlo error.

    python benchmarks/large_predict.py [--rows 20000] [--modes blocks whole]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

#: One prediction in a fresh process: ``argv`` = rows, mode ("blocks" or "whole").
CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np, pandas as pd
import scalinglaws as sl
import scalinglaws.prediction as prediction
rows, mode = int(sys.argv[1]), sys.argv[2]
if mode == "whole":
    prediction.BLOCK_VALUES = 2**62
model = sl.ScalingModel("chinchilla", target="loss",
                        vary={"E": "dataset", "A": "dataset", "B": "dataset"})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = model.fit(sl.synthetic.sweep(seed=0), seed=0, progress=False)
rng = np.random.default_rng(0)
n_ = np.exp(rng.uniform(np.log(1e7), np.log(1e11), rows))
frame = pd.DataFrame({"N": n_, "D": n_ * np.exp(rng.uniform(np.log(5), np.log(200), rows)),
                      "dataset": rng.choice(["web", "code", "books", "unseen"], rows)})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
started = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pred = fit.predict(frame, seed=0)
seconds = time.perf_counter() - started
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
pred[["median", "pred_lower", "pred_upper"]].to_csv(sys.argv[3], index=False)
print("RESULT " + json.dumps({"seconds": seconds, "before_gb": before, "after_gb": after}))
"""


def run(rows: int, mode: str, out: str) -> dict:
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(rows), mode, out], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode}: exit {done.returncode}\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--modes", nargs="+", default=["blocks", "whole"],
                        choices=["blocks", "whole"])
    args = parser.parse_args()
    import pandas as pd

    tables = {}
    print("| mode | rows | predict (s) | peak before (GB) | peak after (GB) |")
    print("|---|---|---|---|---|")
    for mode in args.modes:
        out = f"/tmp/large_predict_{mode}.csv"
        result = run(args.rows, mode, out)
        tables[mode] = pd.read_csv(out)
        print(f"| {mode} | {args.rows:,} | {result['seconds']:.1f} | "
              f"{result['before_gb']:.2f} | {result['after_gb']:.2f} |", flush=True)
    if len(tables) == 2:
        a, b = tables["blocks"], tables["whole"]
        print(f"largest |median difference| {abs(a['median'] - b['median']).max():.2e}; "
              f"largest |pred_upper difference| / pred_upper "
              f"{(abs(a['pred_upper'] - b['pred_upper']) / b['pred_upper']).max():.2e}")


if __name__ == "__main__":
    main()
