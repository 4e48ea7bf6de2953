"""Whether the sampler should be compiled like the brief programs: compilation against speed.

On a CPU the mode search, the Hessian and the post-processing are compiled with XLA's
older fusion emitters (``engine.program.BRIEF_CPU_OPTIONS``): quicker to compile, slower to
run. This script measures the same choice for the sampler. It fits the demo model
(hierarchical Chinchilla, 4 chains x (500 warm-up + 1,000 draws)) in fresh processes
with the persistent cache off, alternating the sampler compiled with XLA's defaults (what
the package does) and with the brief options, ``--rounds`` times, and prints per run the
sampler's XLA compilation, the first fit (compilation included) and the median sampling
phase of ``--refits`` warm refits with ``--long-draws`` draws (where sampling is the
cost). Machines are noisy: read the ratios of the medians.

    python benchmarks/compile_modes.py [--rounds 3] [--refits 3] [--long-draws 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

#: One fresh process: ``argv`` = brief sampler (0/1), warm refits, their draws, HERE.
CHILD = """
import importlib, json, logging, re, statistics, sys, time, warnings
sys.path.insert(0, sys.argv[4])
import scalinglaws as sl
from speed import PhaseLog, demo_model
brief_sampler, refits, long_draws = (int(v) for v in sys.argv[1:4])
program = importlib.import_module("scalinglaws.engine.program")
compiled = []
plain = program.compile_lowered


def timed(lowered, brief):
    started = time.perf_counter()
    out = plain(lowered, brief or bool(brief_sampler))
    if not brief:
        compiled.append(time.perf_counter() - started)
    return out


program.compile_lowered = timed
phases = PhaseLog()
log = logging.getLogger("scalinglaws.engine.nuts")
log.setLevel(logging.DEBUG)
log.addHandler(phases)
warnings.simplefilter("ignore")
model, runs = demo_model(), sl.synthetic.sweep(seed=0)
started = time.perf_counter()
model.fit(runs, seed=0, chains=4, warmup=500, draws=1000, progress=False)
first = time.perf_counter() - started
model.fit(runs, seed=1, draws=long_draws, progress=False)
sampling = []
for k in range(refits):
    model.fit(runs.iloc[k + 1:], seed=k + 2, draws=long_draws, progress=False)
    sampling.append(float(re.search(r"sampling ([0-9.]+) s", phases.last).group(1)))
print(json.dumps({"sampler_compile": compiled[0], "first_fit": first,
                  "sampling": statistics.median(sampling)}))
"""

MODES = {"defaults (the package)": False, "brief options": True}


def run(brief_sampler: bool, refits: int, long_draws: int) -> dict:
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(int(brief_sampler)), str(refits),
                           str(long_draws), HERE], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refits", type=int, default=3)
    parser.add_argument("--long-draws", type=int, default=3000)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode, brief in MODES.items():
            results[mode].append(run(brief, args.refits, args.long_draws))
            print(mode, {k: round(v, 2) for k, v in results[mode][-1].items()}, flush=True)
    medians = {mode: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
               for mode, runs in results.items()}
    print(f"\nmedians over {args.rounds} fresh processes each ({os.cpu_count()} CPU cores):")
    print(f"| sampler compiled with | compilation s | first fit s | sampling s, 4 x (500 + "
          f"{args.long_draws:,}) |")
    print("|---|---|---|---|")
    for mode, m in medians.items():
        print(f"| {mode} | {m['sampler_compile']:.1f} | {m['first_fit']:.1f} | "
              f"{m['sampling']:.2f} |")
    base, brief = (medians[mode] for mode in MODES)
    print(f"| ratio | {brief['sampler_compile'] / base['sampler_compile']:.2f} | "
          f"{brief['first_fit'] / base['first_fit']:.2f} | "
          f"{brief['sampling'] / base['sampling']:.2f} |")


if __name__ == "__main__":
    main()
