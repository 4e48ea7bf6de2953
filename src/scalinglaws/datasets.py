"""Public scaling-law datasets of the four reference studies, as tidy DataFrames.

:func:`load` returns one table of one study with the package's standard columns added
(``N``, ``D``, ``C = 6ND``, ``M = D/N``, ``dataset``, ``family``, ``architecture``,
``tokenizer``, ``seed``, ``run``, ``tokens_seen``: each one only where the data supports
it) next to **all** the original columns, which keep their names.

Where the files come from, in this order:

1. ``data_dir=`` or the environment variable ``SCALINGLAWS_DATA``: a local directory
   with the layout ``<dir>/<study>/<file>`` (the layout of the project's
   ``shared/data``). Nothing is downloaded.
2. The cache directory (``cache_dir=``, else ``SCALINGLAWS_CACHE``, else
   ``~/.cache/scalinglaws``), same layout.
3. A download from the upstream repository at the pinned commit, checked against its
   sha256 before it is moved into the cache. Only tables that are unchanged copies of an
   upstream file can be downloaded; the others are conversions (flattened JSON, the
   output of a study's own loaders) and need a local copy: :func:`catalog` says which.

Every file is checked against the sha256 pinned here (``verify=False`` reads a modified
local copy). A missing file, a wrong checksum, a table that cannot be downloaded or a
failed download each raise a :class:`~scalinglaws.errors.ScalingLawError` that names the
file and what to do.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ScalingLawError

__all__ = [
    "STANDARD_COLUMNS",
    "cache_dir",
    "catalog",
    "fetch",
    "list_tables",
    "load",
    "studies",
]

#: The standard columns, in the order they lead a loaded table.
STANDARD_COLUMNS: tuple[str, ...] = (
    "run",
    "family",
    "dataset",
    "architecture",
    "tokenizer",
    "seed",
    "N",
    "D",
    "C",
    "M",
    "tokens_seen",
)

DATA_ENV = "SCALINGLAWS_DATA"
CACHE_ENV = "SCALINGLAWS_CACHE"
_TIMEOUT_S = 60.0
_CHUNK = 1 << 16

_Standardizer = Callable[[pd.DataFrame, Callable[[str], pd.DataFrame]], dict[str, Any]]


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Table:
    """One table of a study: its file in the local layout and where it comes from.

    Parameters
    ----------
    name : str
        Table name passed to :func:`load` (``table=``).
    filename : str
        File name inside ``<data dir>/<study>/``.
    rows : int
        Number of rows of the pinned file.
    description : str
        One line on what a row is.
    standard : tuple of str
        The standard columns a loaded table has (added, or original under that name).
    sha256 : str
        Checksum of the file in the local layout (for a downloadable table, also of the
        upstream file).
    url : str or None
        ``raw.githubusercontent.com`` address of the unchanged upstream file at the pinned
        commit; None when the local file is a conversion that cannot be downloaded.
    no_download : str
        Why the table cannot be downloaded (empty when it can).
    standardize : callable, optional
        ``f(raw, read) -> {standard column: values}``; ``read(table)`` gives another table
        of the same study as read from its file (gadre2024 ``downstream`` joins ``runs``).
    """

    name: str
    filename: str
    rows: int
    description: str
    standard: tuple[str, ...]
    sha256: str
    url: str | None = None
    no_download: str = ""
    standardize: _Standardizer | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Study:
    """A study: its upstream repository, pinned commit, license and tables.

    The first table is the default one.
    """

    name: str
    title: str
    repository: str
    commit: str
    license: str
    tables: tuple[Table, ...]

    @property
    def default(self) -> str:
        """Name of the default table."""
        return self.tables[0].name

    def table(self, name: str | None) -> Table:
        """The table called ``name`` (the default one for None)."""
        if name is None:
            return self.tables[0]
        for tab in self.tables:
            if tab.name == name:
                return tab
        names = ", ".join(
            f"{t.name!r} (default)" if i == 0 else repr(t.name) for i, t in enumerate(self.tables)
        )
        raise ScalingLawError(
            f"unknown table {name!r} for study {self.name!r}; its tables are {names}"
        )


def _raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


# --------------------------------------------------------------------- standardisation


def _positive(values: Any) -> pd.Series:
    """float64 copy with NaN where the value is missing, non-numeric or not positive."""
    out = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
    return out.where(out > 0)


def _scale(n: Any, d: Any) -> dict[str, pd.Series]:
    """N, D, C = 6ND and M = D/N (float64, NaN where N or D is unknown or not positive)."""
    big_n, big_d = _positive(n), _positive(d)
    return {"N": big_n, "D": big_d, "C": 6.0 * big_n * big_d, "M": big_d / big_n}


def _truthy(values: pd.Series) -> pd.Series:
    return values.map(lambda v: str(v).strip().lower() in {"true", "1", "1.0", "yes"})


def _std_gadre_runs(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["run_name"],
        "family": "open_lm",
        "architecture": "open_lm",
        **_scale(df["N"], df["D"]),
        "tokens_seen": _positive(df["D"]),
    }


def _std_gadre_downstream(df: pd.DataFrame, read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    runs = _standardized("gadre2024", "runs", read("runs"), read)
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
        "D": _positive(df["tokens"]),
        "tokens_seen": _positive(df["tokens"]),
    }


def _std_nothing(_df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {}


def _std_olmo_sweep(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["id"],
        "family": "olmo",
        "dataset": df["data"],
        "architecture": "olmo",
        **_scale(df["params"], df["tokens"]),
        "tokens_seen": _positive(df["tokens"]),
    }


def _std_olmo_fits(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {"dataset": df["data"]}


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
        **_scale(df["size"], df["tokens"]),
        "tokens_seen": pd.to_numeric(df["tokens"], errors="coerce"),
    }


def _std_llm_line_old(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {
        "run": df["name"],
        "family": df["name"].map(_hf_family),
        "dataset": df["pretraining_data"],
        "architecture": df["arch"],
    }


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
        **_scale(df["num_params"], df["tokens_seen"]),
    }


def _std_pythia(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    deduped = _truthy(df["deduped"])
    return {
        "run": df["model_name"],
        "family": np.where(deduped, "pythia-deduped", "pythia"),
        "dataset": np.where(deduped, "pile-deduped", "pile"),
        "architecture": "dec",
        "tokenizer": "gpt-neox",
        **_scale(df["num_params_nominal"], df["tokens_seen"]),
    }


def _std_datablations(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    seen = df["tokens_seen"] if "tokens_seen" in df.columns else df["total_tokens"]
    return {
        "run": df["run_id"],
        "family": "datablations",
        "dataset": df["dataset"],
        "architecture": "gpt2",
        "tokenizer": "gpt2",
        "seed": df["seed"],
        **_scale(df["params"], seen),
        "tokens_seen": _positive(seen),
    }


def _std_isoflop(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    run = df["experiment"].astype(str) + "@C=" + df["flops"].map("{:.4g}".format) + ",N=" \
        + df["params"].map("{:.6g}".format)
    return {
        "run": run,
        "family": df["experiment"],
        **_scale(df["params"], df["tokens"]),
        "tokens_seen": _positive(df["tokens"]),
    }


def _standardized(
    study: str, table: str, raw: pd.DataFrame, read: Callable[[str], pd.DataFrame]
) -> pd.DataFrame:
    """Standard columns first (added only where no original has the name), then the rest."""
    tab = _STUDIES[study].table(table)
    added = tab.standardize(raw, read) if tab.standardize is not None else {}
    out = raw.copy()
    for name in STANDARD_COLUMNS:
        if name in added and name not in out.columns:
            value = added[name]
            if isinstance(value, pd.Series):
                value = value.set_axis(out.index)
            out[name] = value
    front = [c for c in STANDARD_COLUMNS if c in out.columns and c in tab.standard]
    return out[front + [c for c in out.columns if c not in front]]


# ---------------------------------------------------------------------------- studies

_SCALE = ("N", "D", "C", "M")

_GADRE_REPO = "mlfoundations/scaling"
_GADRE_COMMIT = "a003c4913793ac2ae7ef87b28ecb562955d026d5"
_GADRE_JSON = (
    "it is flattened from upstream JSON files ({files} at "
    f"{_GADRE_REPO}@{_GADRE_COMMIT[:12]}) and scalinglaws does not implement that conversion"
)
_BRAND_REPO = "KempnerInstitute/loss-to-loss-notebooks"
_BRAND_COMMIT = "457ce81a019019bc3981937c20a70c52f5fad436"
_LINE_REPO = "brendel-group/llm-line"
_LINE_COMMIT = "e57749dab976fbe2dc58596ad1c0f61518ac0644"
_HITCH_REPO = "IBM/ColPret"
_HITCH_COMMIT = "16f23bbe054277ddc4afd07a972dd7cfbe3f48c3"
_HITCH_BUILT = (
    f"it was built by running the loaders of {_HITCH_REPO}@{_HITCH_COMMIT[:12]} "
    "(util/read_data.py) over many original files, some of whose blobs were unavailable "
    "upstream; scalinglaws does not implement that conversion"
)

_DATABLATIONS_REPO = "huggingface/datablations"
_DATABLATIONS_COMMIT = "13701315b163f1c54642b94ad237b2699187c3ee"
_DATABLATIONS_BUILT = (
    "it was parsed from the literal loss dict of utils/parametric_fit.ipynb "
    f"({_DATABLATIONS_REPO}@{_DATABLATIONS_COMMIT[:12]}, sha256 6c65d270...7db9)"
    "{curves}; scalinglaws does not implement that conversion"
)
_ISOFLOP_BUILT = (
    "it was assembled from {source}; scalinglaws does not implement that conversion, and "
    "the upstream files are not all licensed for redistribution, so the package never ships "
    "it: put the file in $SCALINGLAWS_DATA/isoflop/"
)
_ISOFLOP_STANDARD = ("run", "family", *("N", "D", "C", "M"), "tokens_seen")

_STUDY_LIST: tuple[Study, ...] = (
    Study(
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
                ("run", "family", "dataset", "architecture", "seed", *_SCALE, "tokens_seen"),
                "59b2af301f4cbf671c8008879f4c9f050cccd470a576b3fc2bc5a63477f0fbe8",
                no_download=_GADRE_JSON.format(files="exp_data/models/*.json"),
                standardize=_std_gadre_runs,
            ),
            Table(
                "losses_long",
                "losses_long.csv",
                832,
                "the losses of `runs` in long format: one row per (run, eval_set)",
                ("run", "family", "dataset", "architecture", *_SCALE, "tokens_seen"),
                "b90eb480aaa2cea869c07763f5cf257d92fd8e8e826a2d4608b95a65108bc838",
                no_download=_GADRE_JSON.format(files="exp_data/models/*.json"),
                standardize=_std_gadre_runs,
            ),
            Table(
                "downstream",
                "downstream_accuracy.csv",
                104,
                "one row per run: 46 downstream accuracies, err_avg and err_avg_subset",
                ("run", "family", "dataset", "architecture", "seed", *_SCALE, "tokens_seen"),
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
                url=_raw(_GADRE_REPO, _GADRE_COMMIT, "exp_data/eval_metadata.csv"),
                standardize=_std_nothing,
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
    ),
    Study(
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
                ("run", "family", "dataset", "architecture", *_SCALE, "tokens_seen"),
                "1a9fd71e3bd6ecf35bdd32b660a9b42dbb3b8635630b1a358633fa18d61fb13c",
                url=_raw(_BRAND_REPO, _BRAND_COMMIT, "data/sweep.csv"),
                standardize=_std_olmo_sweep,
            ),
            Table(
                "extrapolation",
                "extrapolation.csv",
                6,
                "the held-out 3.31B models at 1e21 FLOPs, one per training set",
                ("run", "family", "dataset", "architecture", *_SCALE, "tokens_seen"),
                "2c7cecc44aa016464e2d4e42b339798eb899ec9d0d313f618dae8bd3ce0757b3",
                url=_raw(_BRAND_REPO, _BRAND_COMMIT, "data/extrapolation.csv"),
                standardize=_std_olmo_sweep,
            ),
            Table(
                "opt_params",
                "opt_params_data.csv",
                276,
                "the authors' fitted compute-to-loss laws per (form, dataset, loss column)",
                ("dataset",),
                "76387309dbff8f4c1b03a12bdc6372ef094e8b580cbfe7a5040ec8ce436457fb",
                url=_raw(_BRAND_REPO, _BRAND_COMMIT, "data/opt_params_data.csv"),
                standardize=_std_olmo_fits,
            ),
        ),
    ),
    Study(
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
                    *_SCALE,
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
    ),
    Study(
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
                ("run", "family", "dataset", "architecture", "seed", *_SCALE, "tokens_seen"),
                "84b6e7170e9f040400ce8cee51ff9d7da8f4b4f0cee9bd7a8d57f607c21aed28",
                no_download=_HITCH_BUILT,
                standardize=_std_hitchhiker,
            ),
            Table(
                "metrics_long",
                "checkpoints_metrics_long.csv.gz",
                64343,
                "one row per (model, checkpoint, metric): every raw metric of `checkpoints`",
                ("run", "family", "dataset", "architecture", "seed", *_SCALE, "tokens_seen"),
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
                    *_SCALE,
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
    ),
    Study(
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
    ),
    Study(
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
                standardize=_std_nothing,
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
    ),
)

_STUDIES: dict[str, Study] = {s.name: s for s in _STUDY_LIST}


# --------------------------------------------------------------------------- public API


def studies() -> list[str]:
    """Names of the studies whose data :func:`load` reads.

    Returns
    -------
    list of str
        Study names, in the order of the project's STUDIES page.

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.studies()  # doctest: +NORMALIZE_WHITESPACE
    ['gadre2024', 'brandfonbrener2025', 'llm_line2025', 'hitchhiker2024',
     'datablations2023', 'isoflop']
    """
    return list(_STUDIES)


def _study(name: str) -> Study:
    if name not in _STUDIES:
        raise ScalingLawError(
            f"unknown study {name!r}; the studies are {', '.join(map(repr, _STUDIES))}"
        )
    return _STUDIES[name]


def list_tables(study: str) -> list[str]:
    """Names of a study's tables, the default one first.

    Parameters
    ----------
    study : str
        One of :func:`studies`.

    Returns
    -------
    list of str

    Raises
    ------
    ScalingLawError
        For an unknown study (the message lists the valid ones).

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.list_tables("brandfonbrener2025")
    ['sweep', 'extrapolation', 'opt_params']
    >>> datasets.list_tables("hitchhiker2024")[0]
    'checkpoints'
    """
    return [t.name for t in _study(study).tables]


def catalog() -> pd.DataFrame:
    """Every table of every study: file, rows, standard columns and whether it downloads.

    Returns
    -------
    pandas.DataFrame
        One row per (study, table) with columns ``study``, ``table``, ``default``,
        ``file``, ``rows``, ``standard_columns``, ``downloadable``, ``url``, ``sha256``,
        ``license``, ``description`` and ``no_download`` (why not, when it cannot).

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> cat = datasets.catalog()
    >>> cat.loc[cat["downloadable"], ["study", "table"]].to_numpy().tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [['gadre2024', 'eval_metadata'], ['brandfonbrener2025', 'sweep'],
     ['brandfonbrener2025', 'extrapolation'], ['brandfonbrener2025', 'opt_params']]
    """
    rows = [
        {
            "study": s.name,
            "table": t.name,
            "default": i == 0,
            "file": f"{s.name}/{t.filename}",
            "rows": t.rows,
            "standard_columns": ", ".join(t.standard),
            "downloadable": t.url is not None,
            "url": t.url,
            "sha256": t.sha256,
            "license": s.license,
            "description": t.description,
            "no_download": t.no_download,
        }
        for s in _STUDY_LIST
        for i, t in enumerate(s.tables)
    ]
    return pd.DataFrame(rows)


def _cache_root(path: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "scalinglaws"


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The download cache directory.

    Parameters
    ----------
    path : path-like, optional
        An explicit directory; returned as is.

    Returns
    -------
    pathlib.Path
        ``path``, else ``$SCALINGLAWS_CACHE``, else ``~/.cache/scalinglaws``. Not created.

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.cache_dir("/tmp/sl-cache").as_posix()
    '/tmp/sl-cache'
    """
    return _cache_root(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_hint(study: Study, tab: Table) -> str:
    return (
        f"set {DATA_ENV}=<dir> (or pass data_dir=<dir>) where <dir>/{study.name}/{tab.filename} "
        "is a copy of the file (the layout of the project's shared/data)"
    )


def _download(url: str, target: Path, expected: str, study: Study, tab: Table) -> None:
    """urllib to a temp file next to ``target``, check sha256, then rename into place."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as err:
        raise ScalingLawError(
            f"cannot write to the cache directory {target.parent} ({err}); set "
            f"{CACHE_ENV}=<writable dir> (or pass cache_dir=), or {_local_hint(study, tab)}"
        ) from err
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "scalinglaws"})
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response,
            ):
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as err:
            raise ScalingLawError(
                f"could not download {study.name}/{tab.filename} from {url} ({err}). "
                f"No network? Download that file by other means and {_local_hint(study, tab)} "
                f"(downloads are cached in {target.parent})"
            ) from err
        got = digest.hexdigest()
        if got != expected:
            raise ScalingLawError(
                f"checksum mismatch for {url}: sha256 {got}, expected {expected}; the file "
                "was not saved. The download was corrupted or the upstream file changed: try "
                f"again, or {_local_hint(study, tab)}"
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch(
    study: str,
    table: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
) -> Path:
    """Path of a table's file, checked, from a local copy, the cache or a download.

    Parameters
    ----------
    study : str
        One of :func:`studies`.
    table : str, optional
        One of :func:`list_tables` (default: the study's default table).
    data_dir : path-like, optional
        Local directory with the layout ``<data_dir>/<study>/<file>``; defaults to
        ``$SCALINGLAWS_DATA``. When given (or set), nothing is downloaded.
    cache_dir : path-like, optional
        Download cache; defaults to ``$SCALINGLAWS_CACHE`` or ``~/.cache/scalinglaws``.
    download : bool, default True
        Whether a table missing from the cache may be downloaded.
    verify : bool, default True
        Check the file's sha256 against the pinned one. ``False`` accepts a modified local
        copy; a download is always checked.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ScalingLawError
        Unknown study or table; a file missing from ``data_dir``; a wrong checksum; a
        table that cannot be downloaded and has no local copy; a failed download.

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.fetch("brandfonbrener2025", "sweep").name  # doctest: +SKIP
    'sweep.csv'
    """
    st = _study(study)
    tab = st.table(table)
    local = data_dir if data_dir is not None else os.environ.get(DATA_ENV, "").strip() or None
    if local is not None:
        source = "data_dir" if data_dir is not None else f"${DATA_ENV}"
        path = Path(local).expanduser() / st.name / tab.filename
        if not path.is_file():
            raise ScalingLawError(
                f"data file {path} is missing: {source}={local} must hold {st.name}/"
                f"{tab.filename} (the layout of the project's shared/data). Put the file "
                f"there or point {source} at the right directory"
                + (
                    f"; this table cannot be downloaded: {tab.no_download}"
                    if tab.url is None
                    else (
                        f", or leave data_dir out and {DATA_ENV} unset to download it"
                        if data_dir is not None
                        else f", or unset {DATA_ENV} to download it"
                    )
                )
            )
        if verify:
            got = _sha256(path)
            if got != tab.sha256:
                raise ScalingLawError(
                    f"checksum mismatch for {path}: sha256 {got}, expected {tab.sha256} (the "
                    f"pinned copy of the {st.name} table {tab.name!r}, from {st.repository}@"
                    f"{st.commit[:12]}; see the study's DATA.md). Replace it with an unchanged "
                    "copy, or pass verify=False to read a modified copy"
                )
        return path

    cache = _cache_root(cache_dir)
    path = cache / st.name / tab.filename
    if path.is_file():
        if verify:
            got = _sha256(path)
            if got != tab.sha256:
                raise ScalingLawError(
                    f"checksum mismatch for the cached file {path}: sha256 {got}, expected "
                    f"{tab.sha256}. Delete it and load again to download it afresh"
                )
        return path
    if tab.url is None:
        raise ScalingLawError(
            f"table {tab.name!r} of {st.name} ({tab.filename}) cannot be downloaded: "
            f"{tab.no_download}. It needs a local copy: {_local_hint(st, tab)}"
        )
    if not download:
        raise ScalingLawError(
            f"{st.name}/{tab.filename} is not in the cache {cache} and download=False; "
            f"pass download=True, or {_local_hint(st, tab)}"
        )
    _download(tab.url, path, tab.sha256, st, tab)
    return path


def load(
    study: str,
    table: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    standardize: bool = True,
) -> pd.DataFrame:
    """Load one table of a study as a tidy DataFrame with the standard columns.

    The original columns are all kept under their names; standard columns are added
    (and lead the frame) only where the data supports them and no original column has
    that name already. ``N``, ``D``, ``C`` and ``M`` are float64 and NaN where the source
    does not give a positive value; ``C = 6 N D`` and ``M = D / N`` always.

    Standard columns per table:

    ==================== ================== =================================================
    study                table              standard columns
    ==================== ================== =================================================
    gadre2024            runs (default)     run = run_name; family, architecture = "open_lm";
                                            dataset, seed, N, D, M (original); C;
                                            tokens_seen = D
    gadre2024            losses_long        as runs, without seed
    gadre2024            downstream         run = run_name; dataset, seed, N, D, C, M,
                                            tokens_seen joined from runs; family,
                                            architecture
    gadre2024            eval_metadata      none (task metadata)
    gadre2024            hparam_grid        run = key; family, architecture; D = tokens_seen
                                            = tokens (N unknown)
    brandfonbrener2025   sweep (default)    run = id; family, architecture = "olmo";
                                            dataset = data; N = params; D = tokens_seen =
                                            tokens; C (= iso_flop); M
    brandfonbrener2025   extrapolation      as sweep
    brandfonbrener2025   opt_params         dataset = data
    llm_line2025         hf_models          run = name; family = HF model series (e.g.
                         (default)          "EleutherAI/pythia"); dataset = pretraining_data;
                                            architecture, tokenizer (original); N = size;
                                            D = tokens_seen = tokens; C; M (NaN for OLMo)
    llm_line2025         hf_models_20250127 run = name; family; dataset = pretraining_data;
                                            architecture = arch; tokenizer (original)
    hitchhiker2024       checkpoints        run = model_name (one per training run, shared
                         (default)          by its checkpoints; each Chinchilla IsoFLOP point
                                            is its own run); family = scaled_set (NaN: in no
                                            scaled set); dataset = data; architecture = arch;
                                            seed (original); N = num_params (NaN where 0);
                                            D = tokens_seen (the checkpoint's tokens); C; M
    hitchhiker2024       metrics_long       as checkpoints
    hitchhiker2024       pythia_zeroshot    run = model_name; family = "pythia" or
                                            "pythia-deduped"; dataset = "pile" or
                                            "pile-deduped"; architecture = "dec"; tokenizer =
                                            "gpt-neox"; N = num_params_nominal (nominal
                                            size); D = tokens_seen (NaN at step 0)
    ==================== ================== =================================================

    Loss columns keep their names, e.g. ``loss_c4_val`` (gadre2024), ``val_loss``
    (brandfonbrener2025), ``c4_validation_loss`` (llm_line2025), ``perf_loss_perp``
    (hitchhiker2024). See the study's DATA.md for every original column.

    Parameters
    ----------
    study : str
        One of :func:`studies`.
    table : str, optional
        One of :func:`list_tables` (default: the study's default table).
    data_dir : path-like, optional
        Local directory with the layout ``<data_dir>/<study>/<file>``; defaults to
        ``$SCALINGLAWS_DATA``. When given (or set), nothing is downloaded.
    cache_dir : path-like, optional
        Download cache; defaults to ``$SCALINGLAWS_CACHE`` or ``~/.cache/scalinglaws``.
    download : bool, default True
        Whether a table missing from the cache may be downloaded.
    verify : bool, default True
        Check each file's sha256 against the pinned one (``False`` reads a modified
        local copy).
    standardize : bool, default True
        Add the standard columns; ``False`` returns the file exactly as read.

    Returns
    -------
    pandas.DataFrame
        A new frame; ``attrs`` holds ``study``, ``table``, ``source`` (the file),
        ``repository``, ``commit`` and ``license``.

    Raises
    ------
    ScalingLawError
        Unknown study or table; a missing file; a wrong checksum; a table that cannot be
        downloaded and has no local copy; no network. The message names the file and
        what to do.

    Examples
    --------
    >>> import scalinglaws as sl
    >>> runs = sl.datasets.load("gadre2024")  # doctest: +SKIP
    >>> runs[["run", "dataset", "N", "D", "C", "M", "loss_c4_val"]].shape  # doctest: +SKIP
    (104, 7)
    >>> sweep = sl.datasets.load("brandfonbrener2025", "sweep")  # doctest: +SKIP
    >>> bool((sweep["C"] / sweep["iso_flop"] - 1).abs().max() < 1e-9)  # doctest: +SKIP
    True
    """
    st = _study(study)
    tab = st.table(table)
    kwargs = {"data_dir": data_dir, "cache_dir": cache_dir, "download": download, "verify": verify}
    frames: dict[str, pd.DataFrame] = {}
    paths: dict[str, Path] = {}

    def read(name: str) -> pd.DataFrame:
        if name not in frames:
            path = paths[name] = fetch(st.name, name, **kwargs)
            try:
                frames[name] = pd.read_csv(path, low_memory=False)
            except (ValueError, OSError, EOFError) as err:
                raise ScalingLawError(
                    f"cannot read {path} as CSV ({err}); replace it with an unchanged copy "
                    f"of {st.name}/{st.table(name).filename}"
                ) from err
        return frames[name].copy()

    raw = read(tab.name)
    source = str(paths[tab.name])
    if standardize:
        try:
            out = _standardized(st.name, tab.name, raw, read)
        except KeyError as err:
            raise ScalingLawError(
                f"{source} lacks the column {err} that the {st.name} table {tab.name!r} "
                "has; it is not a copy of that table (see the study's DATA.md)"
            ) from err
    else:
        out = raw
    out.attrs.update(
        study=st.name,
        table=tab.name,
        source=source,
        repository=st.repository,
        commit=st.commit,
        license=st.license,
    )
    return out
