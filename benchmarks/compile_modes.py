"""XLA compile options against speed: what the mode search, Hessian, post-processing and
sampler are compiled with on a CPU.

The package compiles the programs that run once per fit with options that trade run
time for compilation time (``engine.program.BRIEF_CPU_OPTIONS``) and the sampler with
``SAMPLER_CPU_OPTIONS`` (LLVM at level 2 for both). This script measures those choices against
other option sets. It fits the demo model (hierarchical Chinchilla, 4 chains x (500
warm-up + 1,000 draws)) in fresh processes with the persistent cache off, alternating the
option sets, ``--rounds`` times, and prints per run the sampler's XLA compilation, the
other programs' compilation, the first fit (compilation included), the median sampling
phase of ``--refits`` warm refits with ``--long-draws`` draws (where sampling is the cost)
and the first fit's posterior mean of alpha with its Monte Carlo standard error (other
options round differently, so the draws differ: the means must agree within MCSE).
Machines are noisy: read the ratios of the medians.

    python benchmarks/compile_modes.py [--rounds 3] [--refits 3] [--long-draws 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from scalinglaws.engine.program import BRIEF_CPU_OPTIONS as BRIEF
from scalinglaws.engine.program import NO_YNN_FUSIONS as NO_YNN
from scalinglaws.engine.program import SAMPLER_CPU_OPTIONS as SAMPLER

HERE = os.path.dirname(os.path.abspath(__file__))
OLDER = {"xla_cpu_use_fusion_emitters": False}
CHEAP = {**OLDER, "xla_llvm_disable_expensive_passes": True}

#: One fresh process: ``argv`` = options (JSON), warm refits, their draws, HERE.
CHILD = """
import importlib, json, logging, re, statistics, sys, time, warnings
import arviz as az
sys.path.insert(0, sys.argv[4])
import scalinglaws as sl
from speed import PhaseLog, demo_model
options = json.loads(sys.argv[1])
refits, long_draws = (int(v) for v in sys.argv[2:4])
program = importlib.import_module("scalinglaws.engine.program")
program.LOOPED_ENTRIES = options.get("looped", True)
if options.get("validation"):  # NumPyro's validation on, and kept on while tracing
    import numpyro
    numpyro.enable_validation(True)
    numpyro.distributions.Distribution.set_default_validate_args = staticmethod(
        lambda value: None)
compiled = {"sampler": [], "brief": []}


def timed(lowered, brief):
    started = time.perf_counter()
    chosen = options["brief" if brief else "sampler"]
    out = lowered.compile(chosen) if chosen else lowered.compile()
    compiled["brief" if brief else "sampler"].append(time.perf_counter() - started)
    return out


program.compile_lowered = timed
phases = PhaseLog()
log = logging.getLogger("scalinglaws.engine.nuts")
log.setLevel(logging.DEBUG)
log.addHandler(phases)
warnings.simplefilter("ignore")
model, runs = demo_model(), sl.synthetic.sweep(seed=0)
started = time.perf_counter()
fit = model.fit(runs, seed=0, chains=4, warmup=500, draws=1000, progress=False)
first = time.perf_counter() - started
alpha = fit.idata.posterior["alpha"]
model.fit(runs, seed=1, draws=long_draws, progress=False)
sampling = []
for k in range(refits):
    model.fit(runs.iloc[k + 1:], seed=k + 2, draws=long_draws, progress=False)
    sampling.append(float(re.search(r"sampling ([0-9.]+) s", phases.last).group(1)))
print(json.dumps({"sampler_compile": compiled["sampler"][0],
                  "brief_compile": sum(compiled["brief"]), "first_fit": first,
                  "sampling": statistics.median(sampling),
                  "alpha_mean": float(alpha.mean()),
                  "alpha_mcse": float(az.mcse(alpha.to_dataset())["alpha"])}))
"""

#: XLA compile options per kind of program: "brief" (mode search, Hessian, post-processing)
#: and "sampler". The first mode is the package's (engine.program.BRIEF_CPU_OPTIONS and
#: SAMPLER_CPU_OPTIONS); the others are alternatives.
MODES = {
    "the package": {"brief": BRIEF, "sampler": SAMPLER},
    "LLVM at XLA's default level": {"brief": {**BRIEF, "xla_backend_optimization_level": 3},
                                    "sampler": {**SAMPLER, "xla_backend_optimization_level": 3}},
    "LLVM at level 1": {"brief": {**BRIEF, "xla_backend_optimization_level": 1},
                        "sampler": {**SAMPLER, "xla_backend_optimization_level": 1}},
    "XLA defaults everywhere": {"brief": {}, "sampler": {}},
    "YNNPACK fusions (XLA's default) everywhere":
        {"brief": {k: v for k, v in BRIEF.items() if k not in NO_YNN},
         "sampler": {k: v for k, v in SAMPLER.items() if k not in NO_YNN}},
    "older emitters, cheap LLVM passes everywhere": {"brief": CHEAP, "sampler": CHEAP},
    "older emitters everywhere": {"brief": OLDER, "sampler": OLDER},
    "the package, with LLVM's expensive passes off everywhere":
        {"brief": {**BRIEF, "xla_llvm_disable_expensive_passes": True},
         "sampler": {**SAMPLER, "xla_llvm_disable_expensive_passes": True}},
    "cheap LLVM passes everywhere, older emitters for brief programs":
        {"brief": CHEAP, "sampler": {"xla_llvm_disable_expensive_passes": True}},
    "the package, a fit's chains and starts vectorised (not looped)":
        {"brief": BRIEF, "sampler": SAMPLER, "looped": False},
    "the package, models traced with NumPyro's validation on":
        {"brief": BRIEF, "sampler": SAMPLER, "validation": True},
}


def run(options: dict, refits: int, long_draws: int) -> dict:
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(options), str(refits),
                           str(long_draws), HERE], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--refits", type=int, default=3)
    parser.add_argument("--long-draws", type=int, default=3000)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    args = parser.parse_args()
    results: dict[str, list[dict]] = {mode: [] for mode in args.modes}
    for _ in range(args.rounds):
        for mode in args.modes:
            results[mode].append(run(MODES[mode], args.refits, args.long_draws))
            print(mode, {k: round(v, 4) for k, v in results[mode][-1].items()}, flush=True)
    keys = ("sampler_compile", "brief_compile", "first_fit", "sampling")
    medians = {mode: {k: statistics.median(r[k] for r in runs) for k in keys}
               for mode, runs in results.items()}
    print(f"\nmedians over {args.rounds} fresh processes each ({os.cpu_count()} CPU cores); "
          f"ratios to the first mode:")
    print(f"| programs compiled with | sampler compilation s | brief programs s | first fit s "
          f"| sampling s, 4 x (500 + {args.long_draws:,}) | alpha: mean (MCSE) per run |")
    print("|---|---|---|---|---|---|")
    base = medians[args.modes[0]]
    for mode, m in medians.items():
        cells = [f"{m[k]:.2f} ({m[k] / base[k]:.2f}x)" for k in keys]
        alpha = ", ".join(f"{r['alpha_mean']:.4f} ({r['alpha_mcse']:.4f})"
                          for r in results[mode])
        print(f"| {mode} | {' | '.join(cells)} | {alpha} |")


if __name__ == "__main__":
    main()
