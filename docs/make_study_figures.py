"""Regenerate the figures (and printed tables) of the study pages in docs/studies/.

Runs ``scalinglaws.reproduce.reproduce`` for each study and writes its figures to
``docs/studies/figures/`` and the text the command prints to
``docs/studies/figures/<study>.txt`` (the tables on the pages are copied from there).

Usage::

    SCALINGLAWS_DATA=../shared/data python docs/make_study_figures.py            # all studies
    SCALINGLAWS_DATA=../shared/data python docs/make_study_figures.py gadre2024  # one
    python docs/make_study_figures.py --quick gadre2024                          # smoke test

The full runs take roughly a quarter of an hour per study on two CPU cores.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "studies" / "figures"


def main(argv: list[str] | None = None) -> int:
    """Reproduce the requested studies and write their figures and text."""
    rp = importlib.import_module("scalinglaws.reproduce")
    from scalinglaws import ScalingLawError

    ready = list(rp.STUDIES)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("studies", nargs="*", default=ready,
                        help=f"studies to run (default: {' '.join(ready)})")
    parser.add_argument("--quick", action="store_true", help="smoke-test settings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", help="local data folder (default: $SCALINGLAWS_DATA)")
    parser.add_argument("--out", type=Path, default=FIGURES, help="figure folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    status = 0
    for study in args.studies:
        started = time.perf_counter()
        try:
            result = rp.reproduce(study, data_dir=args.data_dir, out=args.out,
                                  quick=args.quick, seed=args.seed, verbose=True)
        except ScalingLawError as err:
            print(f"{study}: {err}", file=sys.stderr)
            status = 1
            continue
        text = result.to_text()
        (args.out / f"{study}.txt").write_text(text + "\n")
        print(text)
        print(f"\n{study}: {time.perf_counter() - started:.0f} s, figures in {args.out}\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
