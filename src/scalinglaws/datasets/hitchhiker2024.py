"""Choshen, Zhang, Andreas 2025, A Hitchhiker's Guide (ColPret checkpoints and metrics,
Pythia zero-shot evaluations), pinned at IBM/ColPret.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .tables import SCALE, Study, Table, scale_columns

__all__ = ["STUDY"]

_HITCH_REPO = "IBM/ColPret"
_HITCH_COMMIT = "16f23bbe054277ddc4afd07a972dd7cfbe3f48c3"
_HITCH_BUILT = (
    f"it was built by running the loaders of {_HITCH_REPO}@{_HITCH_COMMIT[:12]} "
    "(util/read_data.py) over many original files, some of whose blobs were unavailable "
    "upstream; scalinglaws does not implement that conversion"
)


def _truthy(values: pd.Series) -> pd.Series:
    return values.map(lambda v: str(v).strip().lower() in {"true", "1", "1.0", "yes"})


def _hitchhiker_run(df: pd.DataFrame) -> pd.Series:
    """``model_name``, except for the Chinchilla IsoFLOP points, which are one run each."""
    run = df["model_name"].astype("object")
    isoflop = df["source_loader"] == "get_chinchila"
    if isoflop.any():
        tokens = pd.to_numeric(df.loc[isoflop, "tokens_seen"], errors="coerce")
        run.loc[isoflop] = [
            f"{name}@D={t:.6g}" for name, t in zip(run.loc[isoflop], tokens, strict=True)
        ]
    return run


def _std_hitchhiker(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": _hitchhiker_run(df),
        "family": df["scaled_set"],
        "dataset": df["data"],
        "architecture": df["arch"],
        **scale_columns(df["num_params"], df["tokens_seen"]),
    }


def _std_pythia(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    deduped = _truthy(df["deduped"])
    return {
        "run": df["model_name"],
        "family": np.where(deduped, "pythia-deduped", "pythia"),
        "dataset": np.where(deduped, "pile-deduped", "pile"),
        "architecture": "dec",
        "tokenizer": "gpt-neox",
        **scale_columns(df["num_params_nominal"], df["tokens_seen"]),
    }


STUDY = Study(
    name="hitchhiker2024",
    title="Choshen, Zhang, Andreas 2025, A Hitchhiker's Guide to Scaling Law "
    "Estimation (arXiv:2410.11840)",
    repository=_HITCH_REPO,
    commit=_HITCH_COMMIT,
    license="MIT (vendored raw_data/bimix-law: Apache-2.0; pythia_zeroshot: Apache-2.0, "
    "from EleutherAI/pythia)",
    tables=(
        Table(
            "checkpoints",
            "checkpoints_perf.csv.gz",
            40104,
            "one row per (model, checkpoint): perf_loss_perp, the paper's fitting target",
            ("run", "family", "dataset", "architecture", "seed", *SCALE, "tokens_seen"),
            "84b6e7170e9f040400ce8cee51ff9d7da8f4b4f0cee9bd7a8d57f607c21aed28",
            no_download=_HITCH_BUILT,
            standardize=_std_hitchhiker,
        ),
        Table(
            "metrics_long",
            "checkpoints_metrics_long.csv.gz",
            64343,
            "one row per (model, checkpoint, metric): every raw metric of `checkpoints`",
            ("run", "family", "dataset", "architecture", "seed", *SCALE, "tokens_seen"),
            "db7fa59b71b92f5d7777806dc0511995990325f748dc5d458ab70304af40a080",
            no_download=_HITCH_BUILT,
            standardize=_std_hitchhiker,
        ),
        Table(
            "pythia_zeroshot",
            "pythia_v1_zeroshot_rebuilt.csv",
            405,
            "Pythia v1 zero-shot evaluations, 15 runs x 27 checkpoints (not in ColPret)",
            (
                "run",
                "family",
                "dataset",
                "architecture",
                "tokenizer",
                *SCALE,
                "tokens_seen",
            ),
            "cc7c8fea1e92b520185371d52dc24c68f132be13212fd029cfea8397c73d1938",
            no_download=(
                "it was rebuilt from hundreds of lm-eval JSON files of EleutherAI/pythia "
                "(commit a19eecb807ec, evals/pythia-v1/*/zero-shot/*.json); scalinglaws "
                "does not implement that conversion"
            ),
            standardize=_std_pythia,
        ),
    ),
)

