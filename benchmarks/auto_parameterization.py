"""What ``parameterization="auto"`` chooses on the shipped examples and the studies'
hierarchical specs, beside the choice each study made by measuring its sampler.

For each spec and the rows its study fits, ``engine.nuts.auto_parameterization`` finds
the posterior mode in the non-centred model and reads each pooled parameter's
separation there (``engine.nuts.level_separation``: the spread of the groups' estimated
offsets over their own standard errors); 20 or more
(``engine.diagnostics.WELL_SEPARATED``) means centred. Nothing is sampled. The demo rows'
own choice is the README tour's. Needs the studies' data under ``SCALINGLAWS_DATA``.

    SCALINGLAWS_DATA=../shared/data python benchmarks/auto_parameterization.py

With ``--cost``, what the choice costs instead: the demo fit (4 chains x (500 + 1,000))
with ``"auto"`` and with ``"centred"`` given, alternating, each in a fresh process with
the persistent cache off, ``--rounds`` times: the first fit (compilation included), a
refit on the rows less one, and the first fit's posterior mean of alpha (the same for
both where auto chooses centred: the same program draws the same).

    python benchmarks/auto_parameterization.py --cost [--rounds 3]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import tomllib
import warnings
from pathlib import Path

import scalinglaws as sl
import scalinglaws.engine.nuts as nuts
from scalinglaws.data import make_design

ROOT = Path(__file__).resolve().parents[1]
rp = importlib.import_module("scalinglaws.reproduce")


def _load(study: str, table: str):
    return sl.datasets.load(study, table, data_dir=os.environ.get("SCALINGLAWS_DATA"),
                            download=False)


def cases():
    """(label, spec, frame) of the demo and the studies' hierarchical specs."""
    demo = sl.ScalingModel("chinchilla", target="loss", parameterization="centred",
                           vary={"E": "dataset", "A": "dataset", "B": "dataset"})
    runs = sl.synthetic.sweep(seed=0)
    yield "demo sweep (README tour)", demo, runs
    yield "demo sweep, 4 runs per dataset", demo, runs.groupby("dataset").head(4)
    gadre = rp.gadre2024.gadre_frame(_load("gadre2024", "runs"), _load("gadre2024",
                                                                      "downstream"))
    for name in ("gadre2024_loss_hierarchical", "gadre2024_error_hierarchical"):
        path = ROOT / "models" / f"{name}.toml"
        meta = tomllib.loads(path.read_text())["study"]
        rows = gadre[gadre[meta["select"]].isin(meta["fit"])]
        yield name, sl.read_spec(path), rows
    parts = rp.hitchhiker2024_protocol.hitchhiker_split(_load("hitchhiker2024", "checkpoints"))
    checkpoints = rp.hitchhiker2024_protocol.hitchhiker_normalise(parts["checkpoints"])[0]
    for name in ("hitchhiker2024_hierarchical", "hitchhiker2024_hierarchical_exponents"):
        yield name, sl.read_spec(ROOT / "models" / f"{name}.toml"), checkpoints
    for name in ("llm_line2025_fineweb_edu_to_c4_by_data",
                 "llm_line2025_fineweb_edu_to_c4_by_architecture"):
        path = ROOT / "models" / f"{name}.toml"
        meta = tomllib.loads(path.read_text())["study"]
        frame = rp.llm_line2025.llm_line_frame(_load("llm_line2025", meta["table"]),
                                               meta["x"], meta["y"])
        yield name, sl.read_spec(path), frame


def main() -> None:
    seen = []
    measure = nuts.level_separation
    nuts.level_separation = lambda *args: seen.append(measure(*args)) or seen[-1]
    print("| spec | rows | its own choice | auto's choice | separation at the mode | s |")
    print("|---|---|---|---|---|---|")
    for label, spec, frame in cases():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            design = make_design(spec, frame)
            started = time.perf_counter()
            try:
                [choice], _ = nuts.auto_parameterization(spec, [design], seeds=[0])
            except sl.ScalingLawError:  # level coordinates: the pooled terms are centred
                print(f"| {label} | {design.n_rows} | {spec.parameterization} | none: "
                      f"its level coordinates need the level terms centred | | |")
                continue
        separation = ", ".join(f"{k} {v:.3g}" for k, v in seen[-1].items())
        print(f"| {label} | {design.n_rows} | {spec.parameterization} | {choice} | "
              f"{separation} | {time.perf_counter() - started:.1f} |", flush=True)


#: One fresh process: the demo fit with ``argv[1]`` as its parameterization, then a refit.
COST = """
import json, sys, time, warnings
import scalinglaws as sl
warnings.simplefilter("ignore")
runs = sl.synthetic.sweep(seed=0)
model = sl.ScalingModel("chinchilla", target="loss", parameterization=sys.argv[1],
                        vary={"E": "dataset", "A": "dataset", "B": "dataset"})
started = time.perf_counter()
fit = model.fit(runs, seed=0, progress=False)
first = time.perf_counter() - started
started = time.perf_counter()
model.fit(runs.iloc[1:], seed=1, progress=False)
print(json.dumps({"first": first, "refit": time.perf_counter() - started,
                  "sampled": fit.spec.parameterization,
                  "alpha": float(fit.idata.posterior["alpha"].mean())}))
"""


def cost(rounds: int) -> None:
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": "off"}
    runs: dict[str, list[dict]] = {"auto": [], "centred": []}
    for _ in range(rounds):
        for choice, seen in runs.items():
            done = subprocess.run([sys.executable, "-c", COST, choice], env=env, check=True,
                                  capture_output=True, text=True)
            seen.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(choice, seen[-1], flush=True)
    print("\n| parameterization | sampled | first fit s (median; all) | refit s (median) "
          "| alpha mean |\n|---|---|---|---|---|")
    for choice, seen in runs.items():
        firsts = [r["first"] for r in seen]
        alphas = sorted({f"{r['alpha']:.6f}" for r in seen})
        print(f"| {choice} | {seen[0]['sampled']} | {statistics.median(firsts):.2f} "
              f"({', '.join(f'{v:.2f}' for v in firsts)}) "
              f"| {statistics.median(r['refit'] for r in seen):.2f} "
              f"| {', '.join(alphas)} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cost", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cost(args.rounds) if args.cost else main()
