"""Gadre et al. 2024 (open_lm runs, losses, downstream accuracies, the
hyperparameter grid), pinned at mlfoundations/scaling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .tables import (
    SCALE,
    Study,
    Table,
    positive,
    raw_url,
    scale_columns,
    standardize_nothing,
    standardized,
)

__all__ = ["STUDY"]

_GADRE_REPO = "mlfoundations/scaling"
_GADRE_COMMIT = "a003c4913793ac2ae7ef87b28ecb562955d026d5"
_GADRE_JSON = (
    "it is flattened from upstream JSON files ({files} at "
    f"{_GADRE_REPO}@{_GADRE_COMMIT[:12]}) and scalinglaws does not implement that conversion"
)


def _std_gadre_runs(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["run_name"],
        "family": "open_lm",
        "architecture": "open_lm",
        **scale_columns(df["N"], df["D"]),
        "tokens_seen": positive(df["D"]),
    }


def _std_gadre_downstream(df: pd.DataFrame, read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    runs = standardized(STUDY.table("runs"), read("runs"), read)
    keep = ["dataset", "seed", "N", "D", "C", "M", "tokens_seen"]
    meta = runs[["run_name", *keep]].drop_duplicates("run_name")
    joined = df[["run_name"]].merge(meta, on="run_name", how="left", validate="many_to_one")
    joined.index = df.index
    return {
        "run": df["run_name"],
        "family": "open_lm",
        "architecture": "open_lm",
        **{col: joined[col] for col in keep},
    }


def _std_gadre_grid(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["key"],
        "family": "open_lm",
        "architecture": "open_lm",
        "D": positive(df["tokens"]),
        "tokens_seen": positive(df["tokens"]),
    }


STUDY = Study(
    name="gadre2024",
    title="Gadre et al. 2024, Language models scale reliably with over-training and "
    "on downstream tasks (arXiv:2403.08540)",
    repository=_GADRE_REPO,
    commit=_GADRE_COMMIT,
    license="MIT",
    tables=(
        Table(
            "runs",
            "runs_losses.csv",
            104,
            "one row per open_lm training run (final checkpoint): 8 validation losses",
            ("run", "family", "dataset", "architecture", "seed", *SCALE, "tokens_seen"),
            "59b2af301f4cbf671c8008879f4c9f050cccd470a576b3fc2bc5a63477f0fbe8",
            no_download=_GADRE_JSON.format(files="exp_data/models/*.json"),
            standardize=_std_gadre_runs,
        ),
        Table(
            "losses_long",
            "losses_long.csv",
            832,
            "the losses of `runs` in long format: one row per (run, eval_set)",
            ("run", "family", "dataset", "architecture", *SCALE, "tokens_seen"),
            "b90eb480aaa2cea869c07763f5cf257d92fd8e8e826a2d4608b95a65108bc838",
            no_download=_GADRE_JSON.format(files="exp_data/models/*.json"),
            standardize=_std_gadre_runs,
        ),
        Table(
            "downstream",
            "downstream_accuracy.csv",
            104,
            "one row per run: 46 downstream accuracies, err_avg and err_avg_subset",
            ("run", "family", "dataset", "architecture", "seed", *SCALE, "tokens_seen"),
            "62c24e3e252cf12f62989c8ac0eb0137fbcdaaf2ed0014d8cb87e9bcc073fac8",
            no_download=_GADRE_JSON.format(files="exp_data/evals/*_heavy.json"),
            standardize=_std_gadre_downstream,
        ),
        Table(
            "eval_metadata",
            "eval_metadata.csv",
            51,
            "one row per downstream task: category, shots, size, random baseline",
            (),
            "8cd5243244a6890c8cec31cf7752901131f1da479b3c4920e37eb65ad608089c",
            url=raw_url(_GADRE_REPO, _GADRE_COMMIT, "exp_data/eval_metadata.csv"),
            standardize=standardize_nothing,
        ),
        Table(
            "hparam_grid",
            "hparam_grid.csv",
            435,
            "one row per hyperparameter-search run: lr, wd, tokens, warmup, loss",
            ("run", "family", "architecture", "D", "tokens_seen"),
            "633df2dca719c1db702cf4e406a0271a76a9e0b7ce5b50379c6abd5edf9249e0",
            no_download=_GADRE_JSON.format(files="exp_data/grid.json"),
            standardize=_std_gadre_grid,
        ),
    ),
)

