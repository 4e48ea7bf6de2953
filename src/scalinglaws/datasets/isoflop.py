"""IsoFLOP sweeps (Porian et al. 2024, Marin ladders, Llama 3 Fig. 2, (Mis)Fitting).

The package never ships them: each table is read from a local copy, or built for the user
from the upstream files at pinned commits (each checked against its sha256 before use)
by the converters here, which write exactly the pinned table (its sha256 is checked too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .tables import Build, Source, Study, Table, positive, scale_columns, standardize_nothing

__all__ = [
    "STUDY",
    "convert_llama3",
    "convert_marin",
    "convert_misfitting",
    "convert_porian",
    "convert_porian_author_fits",
]

_PORIAN_REPO = "formll/resolving-scaling-law-discrepancies"
_PORIAN_COMMIT = "0dc60d91b8a525858a3067fc9e4a46ff5374cc6f"
_OPEN_ATHENA_REPO = "Open-Athena/scaling-law-analysis"
_OPEN_ATHENA_COMMIT = "3e0656ee3dce1a2c89aa67691920f5eb9d30f0fc"
_LLAMA3_REPO = "eric-czech/llama3_isoflop_extraction"
_LLAMA3_COMMIT = "1bc1755b76e6ee55a911549c8ec52b71cb480320"

#: The Porian summary pickles and the prefix of their configurations' names, in the order
#: of the table.
PORIAN_PICKLES: tuple[tuple[str, str, str], ...] = (
    ("att", "data/summary_df_att.pickle.xz",
     "40218b8320817bf3c34f82c57aaa28c53ccb5feb9bb3928ee6fc70868ac22af7"),
    ("kaplan_tuned_hparams", "data/summary_df_kaplan_tuned_hparams.pickle.xz",
     "09b6b91c9c6fa0e4c2684dcbed82475ee62d6c4fc60db5ca2ce5653b08f0ae55"),
    ("main", "data/summary_df.pickle.xz",
     "afbf07ec92d23182f56a44dd43599f2a7e9716fd70492fbc0a35f6093272b74f"),
    ("owt2", "data/summary_df_owt2.pickle.xz",
     "7aed67d1ad9bc1d7b0518e3814cee1129216b423b4538d4b724873dd670cff30"),
)
_PORIAN_SOURCES = tuple(Source(_PORIAN_REPO, _PORIAN_COMMIT, path, digest)
                        for _, path, digest in PORIAN_PICKLES)
_MARIN_RAW = "data/isoflops/extract/marin_202603/raw/isoflop-{}.csv"
#: The Marin W&B exports: dataset and sha256.
MARIN_EXPORTS: tuple[tuple[str, str], ...] = (
    ("comma", "0b352c08b3c96d97ef3d7534becbc0a2918493e6e37961943b022056277e4406"),
    ("dclm", "8a75a0fbc7b34250501de17ab336fdf99d6bee67e44f62b8bed4b81fb9f033af"),
    ("nemotron", "5e615183ba71083721a5bc169adf7c9c997c4820fd69f383f108e0a4ca3ea375"),
)
_MISFITTING_PATH = "data/isoflops/extract/misfitting/isoflops.csv"
_LLAMA3_PATH = "isoflops_points.csv"

_POINT_COLUMNS = ("orig_n", "orig_t", "orig_loss")


def _with_budget_ids(df: pd.DataFrame) -> pd.DataFrame:
    """``budget_id``: one number per (experiment, budget), in order of appearance."""
    out = df.reset_index(drop=True)
    out["budget_id"] = out.groupby(["experiment", "flops"], sort=False).ngroup()
    return out


def _read_pickle(path: Path) -> pd.DataFrame:
    frame = pd.read_pickle(path)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{path.name} holds a {type(frame).__name__}, not a DataFrame")
    return frame


def _porian_rows(paths: Mapping[str, Path]):
    """(prefix, file name, position, configuration row) over the summary pickles."""
    for prefix, source, _ in PORIAN_PICKLES:
        summary = _read_pickle(paths[source])
        for position, (_, config) in enumerate(summary.iterrows()):
            name = (f"{prefix}:{position}:{config['dataset']}/{config['hparams']}/"
                    f"{config['warmup']}/{config['decay']}/{config['param_count']}/"
                    f"{config['val']}")
            yield name, Path(source).name, position, config


def convert_porian(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``porian2024`` table from the four summary pickles.

    One row per (configuration, budget, model size): ``orig_n``, ``orig_t`` and
    ``orig_loss`` of each budget of the configuration's ``data`` frame; a budget stored
    as a scalar NaN (fewer than three sizes) has no rows.
    """
    rows: list[dict[str, Any]] = []
    for name, filename, position, config in _porian_rows(paths):
        meta = {
            "experiment": name,
            "summary_file": f"porian_{filename}",
            "row": position,
            "dataset": config["dataset"],
            "hparams": config["hparams"],
            "warmup": config["warmup"],
            "decay": config["decay"],
            "param_count": config["param_count"],
            "loss_kind": config["val"],
        }
        for _, budget in config["data"].iterrows():
            n, t, loss = (np.atleast_1d(np.asarray(budget[c], dtype="float64"))
                          for c in _POINT_COLUMNS)
            for k in range(len(n)):
                if np.isnan(n[k]) or np.isnan(t[k]) or np.isnan(loss[k]):
                    continue
                rows.append({"flops": float(budget["flops"]), "params": n[k], "tokens": t[k],
                             "loss": loss[k], "flops_6nd": 6.0 * n[k] * t[k], **meta})
    return _with_budget_ids(pd.DataFrame(rows))


def convert_porian_author_fits(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``porian2024_author_fits`` table: each configuration's pickled exponent fits.

    ``a_basic``, ``a_weighted``, ``a_bs_median_weighted``: ``n_exponent`` of the fits
    ``basic``, ``weighted`` and ``bs_median_weighted``; the 2.5/97.5 percentiles (numpy's
    linear rule) of ``n_exponent`` over the ``bootstrap`` and ``bootstrap_weighted``
    replicates that have one (``n_bootstrap`` counts them); values rounded to 6 decimals.
    The main and owt2 configurations come first, as in the authors' tables.
    """
    order = ("main", "owt2", "att", "kaplan_tuned_hparams")
    rows = []
    for name, _, _, config in _porian_rows(paths):
        fits = config["fit_results"]
        boot, boot_w = (
            np.array([r["n_exponent"] for r in fits[k] if "n_exponent" in r], dtype="float64")
            for k in ("bootstrap", "bootstrap_weighted")
        )
        rows.append({
            "experiment": name,
            "a_basic": fits["basic"]["n_exponent"],
            "a_weighted": fits["weighted"]["n_exponent"],
            "a_bs_median_weighted": fits["bs_median_weighted"]["n_exponent"],
            "n_bootstrap": len(boot),
            "a_bs_p2_5": np.percentile(boot, 2.5),
            "a_bs_p97_5": np.percentile(boot, 97.5),
            "a_bsw_p2_5": np.percentile(boot_w, 2.5),
            "a_bsw_p97_5": np.percentile(boot_w, 97.5),
        })
    out = pd.DataFrame(rows)
    rank = out["experiment"].str.split(":").str[0].map(order.index)
    out = out.iloc[np.argsort(rank.to_numpy(), kind="stable")].reset_index(drop=True)
    return out.round(6)


_MARIN_BUDGET = re.compile(r"(?:^isoflop-|-validation-optimal-)([0-9.]+e[+-]?[0-9]+)-")


def convert_marin(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``marin`` table from the three W&B exports (comma, dclm, nemotron).

    ``flops`` = 3 x the budget in a sweep run's name (``isoflop-<B>-...``: the logged
    FLOPs are 3 B), = B for the ``...-validation-optimal-<B>-...`` runs (flagged
    ``validation_optimal``). Every number is read as float64 first (6ND overflows int64).
    Rows sorted by budget then size within each dataset.
    """
    frames = []
    for dataset, _ in MARIN_EXPORTS:
        raw = pd.read_csv(paths[_MARIN_RAW.format(dataset)])
        name = raw["Name"].astype(str)
        budget = name.str.extract(_MARIN_BUDGET)[0]
        if budget.isna().any():
            bad = name[budget.isna()].tolist()[:3]
            raise ValueError(f"run names without an isoFLOP budget in isoflop-{dataset}.csv: {bad}")
        nominal = budget.astype("float64")
        optimal = name.str.contains("-validation-optimal-", regex=False)
        params = raw["parameter_count"].astype("float64")
        tokens = raw["throughput/total_tokens"].astype("float64")
        lr = "optimizer.learning_rate" if "optimizer.learning_rate" in raw else "learning_rate"
        frame = pd.DataFrame({
            "flops": np.where(optimal, nominal, 3.0 * nominal),
            "params": params,
            "tokens": tokens,
            "loss": raw["eval/paloma/macro_loss"].astype("float64"),
            "flops_6nd": 6.0 * params * tokens,
            "experiment": f"marin_{dataset}",
            "dataset": dataset,
            "run_name": name,
            "validation_optimal": optimal,
            "name_budget": nominal,
            "flops_logged": raw["throughput/total_gflops"].astype("float64") * 1e9,
            "batch_size": raw["trainer.train_batch_size"],
            "learning_rate": raw[lr].astype("float64"),
            "num_train_steps": raw["trainer.num_train_steps"],
            "num_layers": raw["model.num_layers"],
            "hidden_dim": raw["model.hidden_dim"],
        })
        frames.append(frame.sort_values(["flops", "params"], kind="stable"))
    return _with_budget_ids(pd.concat(frames))


def convert_llama3(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``llama3`` table from the digitised points of Llama 3 Fig. 2.

    ``params`` = C / (6 D) (derived, not reported); rows sorted by budget then size.
    """
    raw = pd.read_csv(paths[_LLAMA3_PATH])
    flops = raw["compute_budget"].astype("float64")
    tokens = raw["training_tokens"].astype("float64")
    params = flops / (6.0 * tokens)
    frame = pd.DataFrame({
        "flops": flops,
        "params": params,
        "tokens": tokens,
        "loss": raw["validation_loss"].astype("float64"),
        "flops_6nd": 6.0 * params * tokens,
        "experiment": "llama3",
        "x_page": raw["x_page"],
        "y_page": raw["y_page"],
    })
    return _with_budget_ids(frame.sort_values(["flops", "params"], kind="stable"))


def convert_misfitting(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``misfitting`` table from Open-Athena's isoFLOP extract of (Mis)Fitting.

    ``flops`` = the extract's ``budget``; rows sorted by budget then size.
    """
    raw = pd.read_csv(paths[_MISFITTING_PATH])
    params = raw["params"].astype("float64")
    tokens = raw["tokens"].astype("float64")
    frame = pd.DataFrame({
        "flops": raw["budget"].astype("float64"),
        "params": params,
        "tokens": tokens,
        "loss": raw["loss"].astype("float64"),
        "flops_6nd": 6.0 * params * tokens,
        "experiment": "misfitting_fineweb_c4",
    })
    return _with_budget_ids(frame.sort_values(["flops", "params"], kind="stable"))


def _std_isoflop(df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    run = df["experiment"].astype(str) + "@C=" + df["flops"].map("{:.4g}".format) + ",N=" \
        + df["params"].map("{:.6g}".format)
    return {
        "run": run,
        "family": df["experiment"],
        **scale_columns(df["params"], df["tokens"]),
        "tokens_seen": positive(df["tokens"]),
    }


_ISOFLOP_STANDARD = ("run", "family", *("N", "D", "C", "M"), "tokens_seen")

STUDY = Study(
    name="isoflop",
    title="IsoFLOP sweeps (Hoffmann et al. 2022 Approach 2): Porian et al. 2024, "
    "Marin ladders, Llama 3 Fig. 2, (Mis)Fitting",
    repository=_PORIAN_REPO,
    commit=_PORIAN_COMMIT,
    license="MIT (Porian et al.); none stated upstream for Marin, Llama 3 digitisation "
    "and (Mis)Fitting: terms of reuse unclear",
    tables=(
        Table(
            "porian2024",
            "porian2024.csv",
            1745,
            "one row per (configuration, budget, size): the best-over-LR loss of 15 "
            "configurations interpolated at 12 budgets, 1.25e16-2.56e19 FLOPs",
            ("run", "family", "dataset", *("N", "D", "C", "M"), "tokens_seen"),
            "18e6cd016644eb9a4c06c2d85c881e7dac8a196916dabbbae769ac179c6b0626",
            standardize=_std_isoflop,
            build=Build(_PORIAN_SOURCES, convert_porian),
        ),
        Table(
            "porian2024_author_fits",
            "porian2024_author_fits.csv",
            15,
            "the authors' own exponent fits a per configuration, with their bootstrap "
            "percentiles",
            (),
            "cbd8ad3cab5c8c78216cb62ab63b392d5036787c415cea45695c2ac0642d8aeb",
            standardize=standardize_nothing,
            build=Build(_PORIAN_SOURCES, convert_porian_author_fits),
        ),
        Table(
            "marin",
            "marin_202603.csv",
            273,
            "Marin scaling ladders (comma, dclm, nemotron): one row per run, Paloma "
            "macro loss",
            ("run", "family", "dataset", *("N", "D", "C", "M"), "tokens_seen"),
            "0d5451ed3d93f33a2f692fb75b605307665f11a1f046c340b61bfc39246bbde6",
            standardize=_std_isoflop,
            build=Build(
                tuple(Source(_OPEN_ATHENA_REPO, _OPEN_ATHENA_COMMIT, _MARIN_RAW.format(d), h)
                      for d, h in MARIN_EXPORTS),
                convert_marin,
            ),
        ),
        Table(
            "llama3",
            "llama3.csv",
            133,
            "Llama 3 Fig. 2 digitised: 10 budgets 6e18-1e22, validation loss",
            _ISOFLOP_STANDARD,
            "6aca54112a8a386c5980813bd793a0d3b01f21c9d43ce08af45f8bdf771dd609",
            standardize=_std_isoflop,
            build=Build(
                (Source(_LLAMA3_REPO, _LLAMA3_COMMIT, _LLAMA3_PATH,
                        "5675ea68f14be53bd09bf0d65667c0f25668aa82ecc48020864ae371e7a38a8a"),),
                convert_llama3,
            ),
        ),
        Table(
            "misfitting",
            "misfitting_openathena.csv",
            176,
            "(Mis)Fitting runs interpolated at 26 budgets by Open-Athena",
            _ISOFLOP_STANDARD,
            "6df7950bd7621108b8e6276e085a8f8ab759b4ff1107de3add96519f86b44086",
            standardize=_std_isoflop,
            build=Build(
                (Source(_OPEN_ATHENA_REPO, _OPEN_ATHENA_COMMIT, _MISFITTING_PATH,
                        "f35291c4c7a8770b0dc174757a8ba377080023c4be7a46fdf8e13d812917a8f9"),),
                convert_misfitting,
            ),
        ),
    ),
)
