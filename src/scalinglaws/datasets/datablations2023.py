"""Muennighoff et al. 2023, Scaling Data-Constrained Language Models (final runs and
validation curves), pinned at huggingface/datablations and IBM/ColPret.

Both tables are conversions, built for the user from the upstream files at pinned commits
(each checked against its sha256 before use) by the converters here, which write exactly
the pinned tables (their sha256 is checked too): the final losses are the literal dict of
the authors' fit notebook (read with ``ast``, never executed), the curves ColPret's CSV of
the TensorBoard validation losses of the 48 repetition runs.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .tables import Build, Source, Study, Table, positive, scale_columns

__all__ = ["STUDY", "convert_final", "convert_runs", "parse_run_name"]

_DATABLATIONS_REPO = "huggingface/datablations"
_DATABLATIONS_COMMIT = "13701315b163f1c54642b94ad237b2699187c3ee"
_COLPRET_REPO = "IBM/ColPret"
_COLPRET_COMMIT = "16f23bbe054277ddc4afd07a972dd7cfbe3f48c3"
_NOTEBOOK = Source(_DATABLATIONS_REPO, _DATABLATIONS_COMMIT, "utils/parametric_fit.ipynb",
                   "6c65d270e70c944a9ac90f5f1213a4584e1ff9d6d2781cd86900663f4ab17db9")
_CURVES = Source(_COLPRET_REPO, _COLPRET_COMMIT, "aggregated_eval/datablations_losses.csv",
                 "b3c448c2cd1a17128e06ee3120a9c377c4e2bf649e09b2446db59f98ef957b48")
_TB_NOTEBOOK = Source(_COLPRET_REPO, _COLPRET_COMMIT, "datablations/isoflops_training.ipynb",
                      "a4b7359f74d8362932b289dad6cb8ba87e26aff279d8f9feac8ad8548eb05fe8")

#: Cells of the fit notebook with every run's final loss, and with the paper's fit set.
_ALL_RUNS_CELL, _FIT_SET_CELL = 1, 25
#: Cell of ColPret's notebook that maps each TensorBoard id to its run.
_TB_CELL = 3

_SUFFIX = re.compile(r"(?P<data>c4|oscar)?(?P<variant>opt2|opt|v2|dedup)?"
                     r"(?:seed(?P<seed>[1-4]))?$")
_COUNT = re.compile(r"[1-9]\d*[bm]|\db\d+")
_PARAMS_COMMENT = re.compile(r'^\s*"(?P<name>\w+)"\s*:\s*[-+.\dEe]+\s*,?\s*#\s*Params:\s*'
                             r"(?P<params>[-+.\dEe]+)", re.MULTILINE)
_NOTES = {
    "4b284b12bc4opt2": "params 3.089856e9 from notebook comment; notebook cell-2 parse gives "
                       "D=84.1e9,U=2.2e9 (bug)",
    "8b7178b25bopt": "different model shape ('opt'); params given for the name prefix",
}
_MAGIC = re.compile(r"^([ \t]*)[!%].*$", re.MULTILINE)
_UNFINISHED = "loss 0 in source = unfinished run"
_DUPLICATE = "curve identical point-for-point to the other of {} in the source"

_FINAL_COLUMNS = ["run_id", "config_id", "dataset", "variant", "seed", "params",
                  "unique_tokens", "total_tokens", "epochs_total", "repetitions", "flops_6nd",
                  "loss", "in_paper_fit_182", "note"]
_RUNS_COLUMNS = ["source", "run_id", "config_id", "dataset", "variant", "seed", "params",
                 "unique_tokens", "total_tokens", "epochs_total", "tokens_seen", "epochs_seen",
                 "repetitions_seen", "flops_6nd", "is_final", "loss", "in_paper_fit_182",
                 "epochs_nominal", "tensorboard_id", "hf_repo", "note"]


def _cell(notebook: Path, index: int) -> str:
    source = json.loads(notebook.read_text(encoding="utf-8"))["cells"][index]["source"]
    return "".join(source) if isinstance(source, list) else source


def _literals(source: str) -> dict[str, Any]:
    """The literal values assigned to names at the top level of a cell (never executed);
    IPython's shell and magic lines (``!wget ...``) read as ``pass``."""
    out = {}
    for node in ast.parse(_MAGIC.sub(r"\1pass", source)).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            with contextlib.suppress(ValueError, TypeError, SyntaxError):
                out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def _count(text: str) -> float:
    """``55b`` -> 55e9, ``1b25`` -> 1.25e9, ``400m`` -> 4e8."""
    if text.endswith("m"):
        return float(text[:-1]) * 1e6
    whole, _, frac = text.partition("b")
    return float(f"{whole}.{frac or 0}") * 1e9


def parse_run_name(name: str, params_map: Mapping[str, float]) -> dict[str, Any]:
    """Split a datablations run name: ``{params}{total tokens}{unique tokens}{suffix}``.

    The parameter key is the shortest prefix found in ``params_map`` (the notebook's
    ``PARAMS_MAP``); the rest is the total then the unique token count (``55b``, ``1b25``,
    ``400m``), the latter read as the notebook reads it. The suffix: ``c4`` or ``oscar``, a variant
    (``opt``, ``opt2``, ``v2``, ``dedup``), ``seed1`` to ``seed4``.

    Examples
    --------
    >>> row = parse_run_name("2b855b1b25c4seed2", {"2b8": 2.81e9})
    >>> row["config_id"], row["total_tokens"], row["unique_tokens"], row["seed"]
    ('2b855b1b25', 55000000000.0, 1250000000.0, 2.0)
    """
    suffix = _SUFFIX.search(name)
    assert suffix is not None  # every part of the pattern is optional
    config = name[: suffix.start()]
    key = next((config[:i] for i in range(2, len(config)) if config[:i] in params_map), None)
    if key is None:
        raise ValueError(f"run name {name!r}: no parameter count of PARAMS_MAP prefixes it")
    rest = config[len(key):]
    if len(rest) < 4:
        raise ValueError(f"run name {name!r}: {rest!r} is not total + unique token counts")
    # the unique count ends the name: its last 4 characters, or 3 where the last but one
    # is a unit (``1b5``), cut down to one unit (the notebook's own rule)
    cut = 3 if rest[-1] not in "bm" and rest[-2] in "bm" else 4
    while rest[-cut:].count("b") + rest[-cut:].count("m") > 1:
        cut -= 1
    total_text, unique_text = rest[:-cut], rest[-cut:]
    if not (_COUNT.fullmatch(total_text) and _COUNT.fullmatch(unique_text)):
        raise ValueError(f"run name {name!r}: {rest!r} is not total + unique token counts")
    total, unique = _count(total_text), _count(unique_text)
    if unique > total:
        raise ValueError(f"run name {name!r}: more unique tokens than tokens")
    return {
        "config_id": config,
        "dataset": suffix["data"] or "c4",
        "variant": suffix["variant"] or "base",
        "seed": float(suffix["seed"]) if suffix["seed"] else np.nan,
        "params": float(params_map[key]),
        "unique_tokens": unique,
        "total_tokens": total,
    }


def _notebook_rows(notebook: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per entry of the fit notebook's loss dict, in its order; and PARAMS_MAP."""
    source = _cell(notebook, _ALL_RUNS_CELL)
    found = _literals(source)
    losses, params_map = found["NAMES_TO_VAL_LOSSES"], found["PARAMS_MAP"]
    fit_set = _literals(_cell(notebook, _FIT_SET_CELL))["NAMES_TO_VAL_LOSSES"]
    commented = {m["name"]: float(m["params"]) for m in _PARAMS_COMMENT.finditer(source)}
    rows = []
    for name, loss in losses.items():
        row = {"run_id": name, **parse_run_name(name, params_map)}
        row["params"] = commented.get(name, row["params"])
        finished = loss != 0
        row["loss"] = float(loss) if finished else np.nan
        row["in_paper_fit_182"] = (finished and row["variant"] != "dedup"
                                   and fit_set.get(name, 0) != 0)
        row["note"] = _NOTES.get(name, "" if finished else _UNFINISHED)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["epochs_total"] = out["total_tokens"] / out["unique_tokens"]
    out["repetitions"] = (out["epochs_total"] - 1).clip(lower=0)
    out["flops_6nd"] = 6.0 * out["params"] * out["total_tokens"]
    out["params"] = out["params"].round().astype("int64")
    out["note"] = out["note"].replace("", np.nan)
    return out, params_map


def convert_final(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``final`` table: the finished runs of the fit notebook's loss dict (loss != 0).

    ``in_paper_fit_182``: the run is in the dict of the notebook's cell 25 with a loss
    and is not a ``dedup`` run.
    """
    rows, _ = _notebook_rows(paths[_NOTEBOOK.path])
    return rows.loc[rows["loss"].notna(), _FINAL_COLUMNS].reset_index(drop=True)


def _curve_rows(curves: Path, tb_notebook: Path, params_map: Mapping[str, float]) -> pd.DataFrame:
    """ColPret's validation curves, each run named through its TensorBoard id."""
    names = {}
    for key, mapping in _literals(_cell(tb_notebook, _TB_CELL)).items():
        if key.startswith("MODEL_TO_ID_") and isinstance(mapping, dict):
            names.update({tb: model.removeprefix("tensorboard_") for model, tb in mapping.items()})
    raw = pd.read_csv(curves)
    tb_ids = raw["model_args"].map(lambda text: ast.literal_eval(text)["tensorboard"])
    unknown = sorted(set(tb_ids) - set(names))
    if unknown:
        raise ValueError(f"TensorBoard ids with no run in {_TB_NOTEBOOK.path}: {unknown[:3]}")
    run = tb_ids.map(names)
    parsed = pd.DataFrame([parse_run_name(n, params_map) for n in run.unique()],
                          index=run.unique())
    out = parsed.loc[run].reset_index(drop=True)
    out.insert(0, "run_id", run.to_numpy())
    out.insert(0, "source", "colpret_tb_curve")
    out["tokens_seen"] = raw["token_num"].astype("float64")
    out["loss"] = raw["loss"].astype("float64")
    out["epochs_nominal"] = raw["epochs"].astype("float64")
    out["tensorboard_id"] = tb_ids.to_numpy()
    out["hf_repo"] = raw["checkpoint"].to_numpy()
    out["is_final"] = ~out["run_id"].duplicated(keep="last")
    out["in_paper_fit_182"] = False
    curves_by_run = {r: tuple(map(tuple, g[["tokens_seen", "loss"]].to_numpy()))
                     for r, g in out.groupby("run_id", sort=False)}
    note = pd.Series(np.nan, index=out.index, dtype=object)
    for r, curve in curves_by_run.items():
        twins = [o for o, c in curves_by_run.items() if c == curve and o != r]
        if twins:
            pair = "/".join(sorted([r, *twins]))
            note[out["run_id"] == r] = _DUPLICATE.format(pair)
    out["note"] = note
    return out


def convert_runs(paths: Mapping[str, Path]) -> pd.DataFrame:
    """The ``runs`` table: every notebook run (final loss, empty when unfinished), then
    ColPret's validation curves of the 48 repetition runs, one row per eval.

    ``epochs_seen`` = tokens seen / unique tokens, ``repetitions_seen`` = max(epochs_seen
    - 1, 0), ``flops_6nd`` = 6 N x tokens seen; ``is_final`` marks a run's last row.
    """
    notebook, params_map = _notebook_rows(paths[_NOTEBOOK.path])
    notebook = notebook.rename(columns={"repetitions": "repetitions_seen"})
    notebook.insert(0, "source", "datablations_nb_final")
    notebook["tokens_seen"] = notebook["total_tokens"]
    notebook["epochs_seen"] = notebook["epochs_total"]
    notebook["is_final"] = True
    curves = _curve_rows(paths[_CURVES.path], paths[_TB_NOTEBOOK.path], params_map)
    curves["epochs_total"] = curves["total_tokens"] / curves["unique_tokens"]
    curves["epochs_seen"] = curves["tokens_seen"] / curves["unique_tokens"]
    curves["repetitions_seen"] = (curves["epochs_seen"] - 1).clip(lower=0)
    curves["flops_6nd"] = 6.0 * curves["params"] * curves["tokens_seen"]
    curves["params"] = curves["params"].round().astype("int64")
    out = pd.concat([notebook, curves], ignore_index=True)
    return out.reindex(columns=_RUNS_COLUMNS)


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
            standardize=_std_datablations,
            build=Build((_NOTEBOOK,), convert_final),
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
            standardize=_std_datablations,
            build=Build((_NOTEBOOK, _CURVES, _TB_NOTEBOOK), convert_runs),
        ),
    ),
)
