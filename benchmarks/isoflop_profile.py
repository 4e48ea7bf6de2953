"""Where one isoFLOP fit's time goes, and how its posterior is shaped.

Fits ``reproduce.isoflop.isoflop_model`` with ``--law`` (default ``isoflop``, one noise
scale; the study's is ``isoflop_spread_quadratic`` at ``--target-accept 0.95``) to one
Porian et al. configuration, on every point or on ``--sizes`` sizes each side of each
budget's lowest loss (``reproduce.isoflop.near_minimum``), with the sampler's progress
lines (the mode search's time includes compiling every program), then prints the wall
time, leapfrog steps per draw, divergences, the summary with R-hat and bulk ESS, and the posterior
correlations of the scalar parameters on the sampler's scale (log; logit for a).

Run::

    SCALINGLAWS_DATA=/path/to/data nice -n 15 python benchmarks/isoflop_profile.py \
        att:3:rw/tuned/short/const/attention/train --warmup 150 --draws 150
    ... --sizes 3 --warmup 300 --draws 300
    ... --law isoflop_spread_quadratic --target-accept 0.95
    ... --law isoflop_spread_quadratic --target-accept 0.98 --coordinates level
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from scalinglaws.reproduce import isoflop as si
from scalinglaws.reproduce.common import load_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("configuration")
    parser.add_argument("--sizes", type=int, default=0, help="0: every point")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--law", default="isoflop")
    parser.add_argument("--target-accept", type=float, default=0.9)
    parser.add_argument("--coordinates", default="natural", choices=("natural", "level"),
                        help="where NUTS samples E and K (the study: natural)")
    args = parser.parse_args()
    frame = si.isoflop_frame(load_table(si.STUDY, "porian2024", None), args.configuration)
    if args.sizes:
        frame = si.near_minimum(frame, args.sizes)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = si.isoflop_model(law=args.law, coordinates=args.coordinates).fit(
            frame, seed=0, chains=2, warmup=args.warmup, draws=args.draws,
            target_accept=args.target_accept, progress=True)
    print(f"rows {len(frame)}; wall {time.perf_counter() - started:.1f} s")
    stats = fit.idata.sample_stats
    print(f"steps/draw {float(stats['n_steps'].mean()):.0f}; divergences "
          f"{int(stats['diverging'].sum())}")
    summary = fit.summary(sites=True)
    print(summary[["median", "lower", "upper", "r_hat", "ess_bulk"]].to_string())
    post = fit.idata.posterior
    scalars = {}
    for name in post.data_vars:
        if post[name].ndim != 2:
            continue
        x = post[name].to_numpy().ravel()
        if name == "a":
            scalars[name] = np.log(x / (1 - x))
        elif (x > 0).all():
            scalars[name] = np.log(x)
    print(pd.DataFrame(scalars).corr().round(2).to_string())


if __name__ == "__main__":
    main()
