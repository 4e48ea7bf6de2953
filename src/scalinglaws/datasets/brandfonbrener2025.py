"""Brandfonbrener et al. 2025 (the OLMo IsoFLOP sweep, its held-out models and the
authors' fits), pinned at KempnerInstitute/loss-to-loss-notebooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .tables import SCALE, Study, Table, positive, raw_url, scale_columns

__all__ = ["STUDY"]

_BRAND_REPO = "KempnerInstitute/loss-to-loss-notebooks"
_BRAND_COMMIT = "457ce81a019019bc3981937c20a70c52f5fad436"


def _std_olmo_sweep(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["id"],
        "family": "olmo",
        "dataset": df["data"],
        "architecture": "olmo",
        **scale_columns(df["params"], df["tokens"]),
        "tokens_seen": positive(df["tokens"]),
    }


def _std_olmo_fits(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {"dataset": df["data"]}


STUDY = Study(
    name="brandfonbrener2025",
    title="Brandfonbrener et al. 2025, Loss-to-Loss Prediction: Scaling Laws for All "
    "Datasets (arXiv:2411.12925)",
    repository=_BRAND_REPO,
    commit=_BRAND_COMMIT,
    license="none stated upstream (no LICENSE file): terms of reuse unclear",
    tables=(
        Table(
            "sweep",
            "sweep.csv",
            529,
            "one row per OLMo model of the IsoFLOP sweep (final checkpoint)",
            ("run", "family", "dataset", "architecture", *SCALE, "tokens_seen"),
            "1a9fd71e3bd6ecf35bdd32b660a9b42dbb3b8635630b1a358633fa18d61fb13c",
            url=raw_url(_BRAND_REPO, _BRAND_COMMIT, "data/sweep.csv"),
            standardize=_std_olmo_sweep,
        ),
        Table(
            "extrapolation",
            "extrapolation.csv",
            6,
            "the held-out 3.31B models at 1e21 FLOPs, one per training set",
            ("run", "family", "dataset", "architecture", *SCALE, "tokens_seen"),
            "2c7cecc44aa016464e2d4e42b339798eb899ec9d0d313f618dae8bd3ce0757b3",
            url=raw_url(_BRAND_REPO, _BRAND_COMMIT, "data/extrapolation.csv"),
            standardize=_std_olmo_sweep,
        ),
        Table(
            "opt_params",
            "opt_params_data.csv",
            276,
            "the authors' fitted compute-to-loss laws per (form, dataset, loss column)",
            ("dataset",),
            "76387309dbff8f4c1b03a12bdc6372ef094e8b580cbfe7a5040ec8ce436457fb",
            url=raw_url(_BRAND_REPO, _BRAND_COMMIT, "data/opt_params_data.csv"),
            standardize=_std_olmo_fits,
        ),
    ),
)

