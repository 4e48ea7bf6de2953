"""Muennighoff et al. 2023, Scaling Data-Constrained Language Models (final runs and
validation curves), pinned at huggingface/datablations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .tables import Study, Table, positive, scale_columns

__all__ = ["STUDY"]

_DATABLATIONS_REPO = "huggingface/datablations"
_DATABLATIONS_COMMIT = "13701315b163f1c54642b94ad237b2699187c3ee"
_DATABLATIONS_BUILT = (
    "it was parsed from the literal loss dict of utils/parametric_fit.ipynb "
    f"({_DATABLATIONS_REPO}@{_DATABLATIONS_COMMIT[:12]}, sha256 6c65d270...7db9)"
    "{curves}; scalinglaws does not implement that conversion"
)


def _std_datablations(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    seen = df["tokens_seen"] if "tokens_seen" in df.columns else df["total_tokens"]
    return {
        "run": df["run_id"],
        "family": "datablations",
        "dataset": df["dataset"],
        "architecture": "gpt2",
        "tokenizer": "gpt2",
        "seed": df["seed"],
        **scale_columns(df["params"], seen),
        "tokens_seen": positive(seen),
    }


STUDY = Study(
    name="datablations2023",
    title="Muennighoff et al. 2023, Scaling Data-Constrained Language Models "
    "(arXiv:2305.16264)",
    repository=_DATABLATIONS_REPO,
    commit=_DATABLATIONS_COMMIT,
    license="Apache-2.0 (datablations); MIT (IBM/ColPret curves)",
    tables=(
        Table(
            "final",
            "final_runs.csv",
            308,
            "one row per finished run: final C4 validation loss, N, unique and total "
            "tokens, epochs; in_paper_fit_182 marks the paper's fit set",
            ("run", "family", "dataset", "architecture", "tokenizer", "seed",
             *("N", "D", "C", "M"), "tokens_seen"),
            "138a1ccae3f4e51c6f03798285bda6c43afa1323a66d715b67d59ca7af6f8034",
            no_download=_DATABLATIONS_BUILT.format(curves=""),
            standardize=_std_datablations,
        ),
        Table(
            "runs",
            "runs.csv",
            9578,
            "one row per (run, checkpoint): the final losses plus the validation curves "
            "of the 48 repetition runs (C4 and OSCAR) from ColPret",
            ("run", "family", "dataset", "architecture", "tokenizer", "seed",
             *("N", "D", "C", "M"), "tokens_seen"),
            "1e15b85fda5037a57c8a6ec765c2525659621d8d156eef781cf20c6175be9f64",
            no_download=_DATABLATIONS_BUILT.format(
                curves=" and IBM/ColPret@16f23bbe054f aggregated_eval/"
                "datablations_losses.csv (sha256 b3c448c2...7b48)"),
            standardize=_std_datablations,
        ),
    ),
)

