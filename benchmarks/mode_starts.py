"""How many mode-search starts the shipped models need: best energy and time against the
number of BFGS starts.

The mode only starts the chains (a draw from the Laplace approximation there, and its
covariance as the first mass matrix); what matters is that the best start lands in the
posterior's main basin. For each model of the shipped examples and studies, and each
seed, the mode search runs from ``--starts`` random starts (one compiled program per
count, timed on its second call) and reports how far its best energy (the negative log
density on the unconstrained scale, of the search's model) lies above the best found by
any count and seed.

    SCALINGLAWS_DATA=../shared/data python benchmarks/mode_starts.py --starts 4,8,16,32 --seeds 5
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import scalinglaws as sl
from scalinglaws.data import make_design
from scalinglaws.engine.program import Program, Settings, stack
from scalinglaws.model import pad, structure_of
from scalinglaws.reproduce import datablations2023 as blations
from scalinglaws.reproduce import gadre2024 as gadre
from scalinglaws.reproduce import hitchhiker2024 as hitch
from scalinglaws.reproduce import hitchhiker2024_protocol as protocol
from scalinglaws.reproduce import isoflop as iso
from scalinglaws.reproduce.common import load_table


def cases(data_dir: str | None) -> dict[str, tuple]:
    """(spec, data, dense_mass) of each model measured."""
    demo = sl.ScalingModel("chinchilla", target="loss",
                           vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                           parameterization="centred")
    out = {"demo": (demo, sl.synthetic.sweep(seed=0), True)}
    parts = gadre.gadre_split(gadre.gadre_frame(load_table("gadre2024", "runs", data_dir),
                                                load_table("gadre2024", "downstream", data_dir)))
    models = {n: s for n, (s, _) in gadre.specs().items()}
    out["gadre2024 loss, hierarchical"] = (models["gadre2024_loss_hierarchical"],
                                           parts["loss_fit"], True)
    out["gadre2024 error, hierarchical"] = (models["gadre2024_error_hierarchical"],
                                            parts["error_fit"], True)
    split = protocol.hitchhiker_split(load_table("hitchhiker2024", "checkpoints", data_dir))
    models = {n: s for n, (s, _) in hitch.specs().items()}
    for key, name, rows in hitch.HITCHHIKER_MODELS:
        spec = models[f"hitchhiker2024_{name}"]
        data, _ = protocol.hitchhiker_normalise(split[rows])
        if key in hitch.HITCHHIKER_BY_FAMILY:
            family = "chinchilla"
            one = data[data["family"] == family]
            out[f"hitchhiker2024 ({key}) [{family}]"] = (spec, one, hitch.dense_mass(spec, one))
            continue
        out[f"hitchhiker2024 ({key})"] = (spec, data, hitch.dense_mass(spec, data))
    fit_rows = blations.datablations_split(blations.datablations_frame(
        load_table("datablations2023", "final", data_dir)))["fit"]
    for name, (spec, _) in blations.specs().items():
        out[name] = (spec, fit_rows, True)
    table = load_table("isoflop", "porian2024", data_dir)
    for name in ("att:3:rw/tuned/short/const/attention/train",
                 "main:1:rw/base/long/kaplan/standard/val"):
        out[f"isoflop {name.split(':')[0]}:{name.split(':')[1]}"] = (
            iso.isoflop_model(), iso.isoflop_frame(table, name), True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", default="4,8,16,32")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data", default=None, help="data folder (default: $SCALINGLAWS_DATA)")
    args = parser.parse_args()
    counts = [int(n) for n in args.starts.split(",")]
    rows = []
    for label, (spec, data, mass) in cases(args.data).items():
        design = make_design(spec, data)
        structure = structure_of([design])
        padded = [pad(design, structure)]
        dense = mass if isinstance(mass, bool) else tuple(tuple(b) for b in mass)
        for n in counts:
            settings = Settings(chains=2, draws=10, max_tree_depth=10, dense_mass=dense, n_starts=n)
            prog = Program(spec, structure, settings, padded[0])
            for seed in range(args.seeds):
                _, starts = prog.seeded(seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if seed == 0:  # compile
                        prog.find_modes(starts, stack(padded, n))
                    began = time.perf_counter()
                    _, energies = prog.find_modes(starts, stack(padded, n))
                rows.append({"model": label, "dim": prog.dim, "starts": n, "seed": seed,
                             "best": float(np.min(energies)),
                             "seconds": time.perf_counter() - began})
            print(f"{label}: {n} starts done", flush=True)
    table = pd.DataFrame(rows)
    table["gap"] = table["best"] - table.groupby("model")["best"].transform("min")
    summary = table.groupby(["model", "dim", "starts"], sort=False).agg(
        seconds=("seconds", "median"), worst_gap=("gap", "max"),
        median_gap=("gap", "median")).reset_index()
    pd.set_option("display.width", 200)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
