"""Mayilvahanan et al. 2025, LLMs on the Line (public Hugging Face models' evaluations),
pinned at brendel-group/llm-line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from .tables import SCALE, Study, Table, scale_columns

__all__ = ["STUDY"]

_LINE_REPO = "brendel-group/llm-line"
_LINE_COMMIT = "e57749dab976fbe2dc58596ad1c0f61518ac0644"


_SIZE_SUFFIX = re.compile(r"-\d+(\.\d+)?[mMbB]$")


def _hf_family(name: Any) -> Any:
    """``EleutherAI/pythia-160m`` -> ``EleutherAI/pythia``; the HF model series."""
    if not isinstance(name, str) or not name:
        return None
    org, _, model = name.partition("/")
    if not model:
        org, model = "", org
    series = "ablation-model" if model.startswith("ablation-model-") else model
    series = _SIZE_SUFFIX.sub("", series)
    return f"{org}/{series}" if org else series


def _std_llm_line(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["name"],
        "family": df["name"].map(_hf_family),
        "dataset": df["pretraining_data"],
        **scale_columns(df["size"], df["tokens"]),
        "tokens_seen": pd.to_numeric(df["tokens"], errors="coerce"),
    }


def _std_llm_line_old(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["name"],
        "family": df["name"].map(_hf_family),
        "dataset": df["pretraining_data"],
        "architecture": df["arch"],
    }


STUDY = Study(
    name="llm_line2025",
    title="Mayilvahanan et al. 2025, LLMs on the Line: Data Determines Loss-to-Loss "
    "Scaling Laws (arXiv:2502.12120)",
    repository=_LINE_REPO,
    commit=_LINE_COMMIT,
    license="MIT",
    tables=(
        Table(
            "hf_models",
            "hf_models_latest_pm_hf.csv",
            129,
            "one row per evaluated checkpoint of a public Hugging Face model",
            (
                "run",
                "family",
                "dataset",
                "architecture",
                "tokenizer",
                *SCALE,
                "tokens_seen",
            ),
            "5e73dd3f94e83ea9f7c98d5ff660853ade125b9105aabee1b85e3196baf5c94e",
            no_download=(
                f"it is data/latest_pm_hf.csv of {_LINE_REPO}@{_LINE_COMMIT[:12]} with its "
                "two-row header flattened to snake_case; scalinglaws does not implement "
                "that conversion and pins no checksum of the upstream file"
            ),
            standardize=_std_llm_line,
        ),
        Table(
            "hf_models_20250127",
            "hf_models_df_hf_pretrained_20250127.csv",
            68,
            "the older (January 2025) evaluations of the same models, without sizes",
            ("run", "family", "dataset", "architecture", "tokenizer"),
            "61be35a57b2381feb609c2f962c97245f23f9653dc9a96d5f71add2a5963976d",
            no_download=(
                "it is notebooks/df_hf_pretrained_20250127-100514.csv of "
                f"{_LINE_REPO} (commit 302c23c8) with the unnamed index column dropped; "
                "scalinglaws does not implement that conversion and pins no checksum of "
                "the upstream file"
            ),
            standardize=_std_llm_line_old,
        ),
    ),
)

