"""Sharing the parameters whose groups the data barely tell apart: the divergences of a
fit before and after, where the divergence warning names them
(``engine.diagnostics.BARELY_SEPARATED``).

Each case is fitted with its parameters varying as given, then with the named ones
(separation at the mode below 3) shared: a parameter named alone no longer varies, one
named by a factor ("E by seed") no longer varies by that factor. 4 chains x (500 +
1,000), seeds 0 and 1. Needs the gadre2024 data under ``SCALINGLAWS_DATA``; words given
on the command line run only the cases whose label holds one of them.

    SCALINGLAWS_DATA=../shared/data python benchmarks/weak_groups.py [seed ...]
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import scalinglaws as sl
from scalinglaws.engine.diagnostics import BARELY_SEPARATED, SEPARATION_ATTR

DEMO = {"E": "dataset", "A": "dataset", "B": "dataset"}


def cases():
    """(label, frame, target, vary, parameterization)."""
    gadre = sl.datasets.load("gadre2024", data_dir=os.environ.get("SCALINGLAWS_DATA"),
                             download=False)
    yield "Gadre 2024, all 104 runs", gadre, "loss_c4_val", DEMO, "noncentred"
    yield ("demo generator, sl.synthetic.sweep(seed=3)", sl.synthetic.sweep(seed=3), "loss",
           {"E": "dataset", "A": "dataset"}, "auto")
    yield ("demo sweep, 4 runs per dataset", sl.synthetic.sweep(seed=0).groupby("dataset")
           .head(4), "loss", DEMO, "noncentred")
    demo = sl.synthetic.sweep(seed=0)
    yield ("demo sweep with a seed column the losses do not depend on (row % 3)",
           demo.assign(seed=demo.index % 3), "loss", {"E": ["dataset", "seed"]}, "auto")


def fits(frame, target: str, vary: dict, parameterization: str) -> list[dict]:
    model = sl.ScalingModel("chinchilla", target=target, vary=vary,
                            parameterization=parameterization)
    out = []
    for seed in (0, 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = model.fit(frame, seed=seed, progress=False)
        stats = fit.idata.sample_stats
        out.append({"separation": json.loads(stats.attrs[SEPARATION_ATTR]),
                    "divergences": int(stats.diverging.sum()),
                    "r_hat": float(fit.summary()["r_hat"].max()),
                    "sampled": fit.spec.parameterization})
    return out


def shared(vary: dict, named: list[str]) -> dict:
    """``vary`` without the named parameters (``"E"``) and factors (``"E[seed]"``)."""
    out = {}
    for name, factors in vary.items():
        factors = [factors] if isinstance(factors, str) else list(factors)
        kept = [f for f in factors if f"{name}[{f}]" not in named]
        if name in named and len(kept) == len(factors):
            continue  # named alone: shared
        if kept:
            out[name] = kept
    return out


def main() -> None:
    print("| data | varying, separation | named | divergences (max R-hat) | sharing them |")
    print("|---|---|---|---|---|")
    for label, frame, target, vary, parameterization in cases():
        if sys.argv[1:] and not any(word in label for word in sys.argv[1:]):
            continue
        before = fits(frame, target, vary, parameterization)
        separation = before[0]["separation"]
        named = [n for n, v in separation.items() if v < BARELY_SEPARATED]
        after = fits(frame, target, shared(vary, named), parameterization)

        def cell(runs):
            return ", ".join(f"{r['divergences']} ({r['r_hat']:.3f})" for r in runs)

        print(f"| {label}, {parameterization} ({before[0]['sampled']}) | "
              f"{', '.join(f'{n} {v:.2g}' for n, v in separation.items())} | "
              f"{', '.join(named)} | {cell(before)} | {cell(after)} |", flush=True)


if __name__ == "__main__":
    main()
