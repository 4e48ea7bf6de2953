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
import textwrap

CHILD = """
    import importlib, json, logging, re, statistics, time, warnings
    import scalinglaws as sl
    program = importlib.import_module("scalinglaws.engine.program")
    compiled = []
    plain = program.compile_lowered

    def timed(lowered, brief):
        started = time.perf_counter()
        out = plain(lowered, brief or BRIEF_SAMPLER)
        if not brief:
            compiled.append(time.perf_counter() - started)
        return out

    program.compile_lowered = timed
    sampling = []

    class Phases(logging.Handler):
        def emit(self, record):
            found = re.search(r"sampling ([0-9.]+) s", record.getMessage())
            if found:
                sampling.append(float(found.group(1)))

    log = logging.getLogger("scalinglaws.engine.nuts")
    log.setLevel(logging.DEBUG)
    log.addHandler(Phases())
    warnings.simplefilter("ignore")
    model = sl.ScalingModel("chinchilla", target="loss", parameterization="centred",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"})
    runs = sl.synthetic.sweep(seed=0)
    started = time.perf_counter()
    model.fit(runs, seed=0, chains=4, warmup=500, draws=1000, progress=False)
    first = time.perf_counter() - started
    model.fit(runs, seed=1, draws=LONG, progress=False)
    sampling.clear()
    for k in range(REFITS):
        model.fit(runs.iloc[k + 1:], seed=k + 2, draws=LONG, progress=False)
    print(json.dumps({"sampler_compile": compiled[0], "first_fit": first,
                      "sampling": statistics.median(sampling)}))
"""

MODES = {"defaults (the package)": False, "brief options": True}


def run(brief_sampler: bool, refits: int, long_draws: int) -> dict:
    code = textwrap.dedent(CHILD)
    for name, value in (("BRIEF_SAMPLER", brief_sampler), ("LONG", long_draws),
                        ("REFITS", refits)):
        code = code.replace(name, repr(value))
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
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
