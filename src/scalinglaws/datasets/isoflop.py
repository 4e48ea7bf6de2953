"""IsoFLOP sweeps (Porian et al. 2024, Marin ladders, Llama 3 Fig. 2, (Mis)Fitting); the
package never ships them: they are read from a local copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .tables import Study, Table, positive, scale_columns, standardize_nothing

__all__ = ["STUDY"]

_ISOFLOP_BUILT = (
    "it was assembled from {source}; scalinglaws does not implement that conversion, and "
    "the upstream files are not all licensed for redistribution, so the package never ships "
    "it: put the file in $SCALINGLAWS_DATA/isoflop/"
)
_ISOFLOP_STANDARD = ("run", "family", *("N", "D", "C", "M"), "tokens_seen")


def _std_isoflop(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    run = df["experiment"].astype(str) + "@C=" + df["flops"].map("{:.4g}".format) + ",N=" \
        + df["params"].map("{:.6g}".format)
    return {
        "run": run,
        "family": df["experiment"],
        **scale_columns(df["params"], df["tokens"]),
        "tokens_seen": positive(df["tokens"]),
    }


STUDY = Study(
    name="isoflop",
    title="IsoFLOP sweeps (Hoffmann et al. 2022 Approach 2): Porian et al. 2024, "
    "Marin ladders, Llama 3 Fig. 2, (Mis)Fitting",
    repository="formll/resolving-scaling-law-discrepancies",
    commit="0dc60d91b8a525858a3067fc9e4a46ff5374cc6f",
    license="MIT (Porian et al.); none stated upstream for Marin, Llama 3 digitisation "
    "and (Mis)Fitting: terms of reuse unclear",
    tables=(
        Table(
            "porian2024",
            "porian2024.csv",
            1745,
            "one row per (configuration, budget, size): the best-over-LR loss of 16 "
            "configurations interpolated at 12 budgets, 1.25e16-2.56e19 FLOPs",
            ("run", "family", "dataset", *("N", "D", "C", "M"), "tokens_seen"),
            "18e6cd016644eb9a4c06c2d85c881e7dac8a196916dabbbae769ac179c6b0626",
            no_download=_ISOFLOP_BUILT.format(
                source="the summary pickles data/summary_df*.pickle.xz of "
                "formll/resolving-scaling-law-discrepancies@0dc60d91b8a5"),
            standardize=_std_isoflop,
        ),
        Table(
            "porian2024_author_fits",
            "porian2024_author_fits.csv",
            15,
            "the authors' own exponent fits a per configuration, with their bootstrap "
            "percentiles",
            (),
            "cbd8ad3cab5c8c78216cb62ab63b392d5036787c415cea45695c2ac0642d8aeb",
            no_download=_ISOFLOP_BUILT.format(
                source="the same summary pickles (their fitted n_exponent)"),
            standardize=standardize_nothing,
        ),
        Table(
            "marin",
            "marin_202603.csv",
            273,
            "Marin scaling ladders (comma, dclm, nemotron): one row per run, Paloma "
            "macro loss",
            ("run", "family", "dataset", *("N", "D", "C", "M"), "tokens_seen"),
            "0d5451ed3d93f33a2f692fb75b605307665f11a1f046c340b61bfc39246bbde6",
            no_download=_ISOFLOP_BUILT.format(
                source="W&B exports vendored in Open-Athena/scaling-law-analysis@3e0656ee3dce "
                "(data/isoflops/extract/marin_202603/raw)"),
            standardize=_std_isoflop,
        ),
        Table(
            "llama3",
            "llama3.csv",
            133,
            "Llama 3 Fig. 2 digitised: 10 budgets 6e18-1e22, validation loss",
            _ISOFLOP_STANDARD,
            "6aca54112a8a386c5980813bd793a0d3b01f21c9d43ce08af45f8bdf771dd609",
            no_download=_ISOFLOP_BUILT.format(
                source="eric-czech/llama3_isoflop_extraction@1bc1755b76e6 "
                "isoflops_points.csv"),
            standardize=_std_isoflop,
        ),
        Table(
            "misfitting",
            "misfitting_openathena.csv",
            176,
            "(Mis)Fitting runs interpolated at 26 budgets by Open-Athena",
            _ISOFLOP_STANDARD,
            "6df7950bd7621108b8e6276e085a8f8ab759b4ff1107de3add96519f86b44086",
            no_download=_ISOFLOP_BUILT.format(
                source="Open-Athena/scaling-law-analysis@3e0656ee3dce "
                "data/isoflops/extract/misfitting/isoflops.csv"),
            standardize=_std_isoflop,
        ),
    ),
)

