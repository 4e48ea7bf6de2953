"""A cold demo fit under two (or more) versions of the package, side by side.

Each round runs, for every version in turn, a fresh process with the persistent cache off
(``SCALINGLAWS_CACHE_DIR=off``) and the version's source first on ``PYTHONPATH``, which
fits the demo model (hierarchical Chinchilla on ``scalinglaws demo``'s 90 rows, 4 chains x
(500 warm-up + 1,000 draws), seed 0) and then refits it on one row less. It prints per
run the first fit (compilation included), the sampler's XLA compilation within it (in
the background while the other programs compile, so it is slower than alone), the
other programs' compilation, the refit, and a digest of alpha's draws; then the medians
of each version and whether every version drew the same numbers. Machines are noisy:
alternate, use several rounds, and read the ratio of the medians.

    git worktree add /tmp/before <commit>
    python benchmarks/first_fit.py --sources before=/tmp/before/src now=src --rounds 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

#: One fresh process: ``argv[1]`` = this folder (for ``speed.demo_model``).
CHILD = """
import hashlib, importlib, json, sys, time, warnings
import arviz as az
sys.path.insert(0, sys.argv[1])
import scalinglaws as sl
from speed import demo_model
program = importlib.import_module("scalinglaws.engine.program")
compile_lowered, compiled = program.compile_lowered, []


def timed(lowered, brief):
    started = time.perf_counter()
    out = compile_lowered(lowered, brief)
    compiled.append((brief, time.perf_counter() - started))
    return out


program.compile_lowered = timed
warnings.simplefilter("ignore")
model, runs = demo_model(), sl.synthetic.sweep(seed=0)
started = time.perf_counter()
fit = model.fit(runs, seed=0, chains=4, warmup=500, draws=1000, progress=False)
first = time.perf_counter() - started
started = time.perf_counter()
model.fit(runs.iloc[1:], seed=1, progress=False)
refit = time.perf_counter() - started
alpha = fit.idata.posterior["alpha"].values
print(json.dumps({
    "first": first, "refit": refit,
    "sampler": sum(s for brief, s in compiled if not brief),
    "others": sum(s for brief, s in compiled if brief),
    "min_bulk_ess": float(min(az.ess(fit.idata.posterior[v]).to_array().min()
                              for v in ("A", "B", "E", "alpha", "beta"))),
    "alpha_digest": hashlib.sha256(alpha.tobytes()).hexdigest()[:12]}))
"""


def run(source: str) -> dict:
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off",
           "PYTHONPATH": os.pathsep.join([os.path.abspath(source),
                                          os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", CHILD, HERE], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{source}: the fit failed\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="+", required=True, metavar="NAME=SRC",
                        help="versions to compare: a name and the folder that holds its "
                             "scalinglaws package")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    sources = dict(item.split("=", 1) for item in args.sources)
    runs: dict[str, list[dict]] = {name: [] for name in sources}
    for r in range(args.rounds):
        for name, source in sources.items():
            out = run(source)
            runs[name].append(out)
            print(f"round {r + 1} {name}: first fit {out['first']:.2f} s (sampler compiled "
                  f"in {out['sampler']:.2f} s, the others in {out['others']:.2f} s), refit "
                  f"{out['refit']:.3f} s, min bulk ESS {out['min_bulk_ess']:.0f}, alpha "
                  f"{out['alpha_digest']}", flush=True)
    medians = {name: {k: statistics.median(o[k] for o in outs)
                      for k in ("first", "sampler", "others", "refit")}
               for name, outs in runs.items()}
    base = next(iter(medians.values()))
    for name, m in medians.items():
        print(f"{name}: medians of {args.rounds} - first fit {m['first']:.2f} s "
              f"({m['first'] / base['first']:.3f}x the first version's), sampler compiled "
              f"in {m['sampler']:.2f} s, the others in {m['others']:.2f} s, refit "
              f"{m['refit']:.3f} s")
    digests = {o["alpha_digest"] for outs in runs.values() for o in outs}
    print("every version drew the same numbers" if len(digests) == 1 else
          f"the versions drew different numbers ({len(digests)} digests of alpha's draws)")


if __name__ == "__main__":
    main()
