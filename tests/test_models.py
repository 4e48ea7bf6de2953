"""Every ``models/*.toml`` is read; the generic ones are fitted through the command line on
a synthetic sweep, the README's command-line path is run as written, and the study files'
columns are checked against the study's data (when ``SCALINGLAWS_DATA`` is set)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import shlex
import shutil
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
#: The generic specs of models/ (the others are ``<study>_*.toml``, written by
#: scalinglaws.reproduce.write_specs).
GENERIC = ("chinchilla", "kaplan", "overtraining", "compute", "broken_power")
#: The sampler settings of the command-line fits: enough to compile, sample and save.
TINY = ["--chains", "1", "--warmup", "50", "--draws", "50"]

rp = importlib.import_module("scalinglaws.reproduce")  # the package, not sl.reproduce


def _study_files() -> list[Path]:
    return sorted(p for p in MODELS.glob("*.toml") if p.stem not in GENERIC)


def _columns(spec) -> set[str]:
    """Every column of the frame a spec reads."""
    if isinstance(spec, sl.ScalingModel):
        return set(spec.columns)
    # a loss-to-loss spec: the compute law's inputs, the paired losses, the factors of the
    # compute law and of the link, and the optional row and run columns
    names = [*spec.inputs.values(), spec.x, spec.y, *spec.x_factors, *spec.link_factors,
             spec.law_rows, spec.x_run]
    return {n for n in names if n is not None}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    """The demo's synthetic sweep: N, D, C, M, dataset, loss (and the true loss)."""
    return sl.synthetic.sweep(seed=0)


def test_every_model_file_is_read():
    paths = sorted(MODELS.glob("*.toml"))
    assert {p.stem for p in paths} >= set(GENERIC)
    for path in paths:
        spec = sl.read_spec(path)
        assert isinstance(spec, sl.ScalingModel) or hasattr(spec, "link"), path.name
    for path in _study_files():  # each study file says which study it reproduces
        study = tomllib.loads(path.read_text())["study"]["study"]
        assert path.stem.startswith(f"{study}_"), path.name


@pytest.mark.parametrize("name", GENERIC)
def test_generic_models_read_the_sweeps_columns(name, runs):
    spec = sl.read_spec(MODELS / f"{name}.toml")
    assert isinstance(spec, sl.ScalingModel) and spec.law.name == name
    assert _columns(spec) <= set(runs.columns), name


@pytest.mark.parametrize("name", [
    "chinchilla",
    *(pytest.param(n, marks=pytest.mark.slow) for n in GENERIC if n != "chinchilla"),
])
def test_generic_model_fits_through_the_cli(name, runs, tmp_path, capsys):
    data, out = tmp_path / "runs.csv", tmp_path / f"{name}.nc"
    runs.drop(columns="true_loss").to_csv(data, index=False)
    path = MODELS / f"{name}.toml"
    assert main(["fit", str(path), "--data", str(data), "--out", str(out), *TINY]) == 0
    printed = capsys.readouterr()
    assert "scalinglaws: error" not in printed.err
    assert f"saved {out}" in printed.out
    fit = sl.load(out)
    spec = sl.read_spec(path)
    # the generic specs with a hierarchy let each fit choose how to sample it; the fit's
    # spec says what it sampled (the sweep's three datasets are clearly different)
    assert spec.parameterization == ("auto" if spec.vary else "noncentred")
    sampled = "centred" if spec.vary else "noncentred"
    assert fit.spec == dataclasses.replace(spec, parameterization=sampled)
    assert fit.idata.posterior.sizes["draw"] == 50
    summary = fit.summary()
    for param in fit.spec.law.param_names:
        assert any(str(row).startswith(param) for row in summary.index), param


def _readme_block(language: str, marker: str) -> str:
    """The README's fenced ``language`` block that contains ``marker``."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"README.md has {len(found)} {language} blocks with {marker!r}"
    return found[0]


def test_readme_runs_csv_and_command_line(tmp_path, monkeypatch, capsys):
    """The README's snippet writes runs.csv, and its fit and predict commands run on it
    as written (the fit with fewer draws)."""
    shutil.copytree(MODELS, tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    exec(_readme_block("python", 'to_csv("runs.csv"'), {})  # noqa: S102 - our own README
    runs = pd.read_csv("runs.csv")
    assert {"N", "D", "loss", "dataset"} <= set(runs.columns)
    commands = [shlex.split(line.split("#")[0]) for line in
                _readme_block("bash", "scalinglaws fit").splitlines() if line.strip()]
    assert [(Path(c[0]).name, c[1]) for c in commands] == [("scalinglaws", "fit"),
                                                            ("scalinglaws", "predict")]
    fit_args, predict_args = (c[1:] for c in commands)
    assert main([*fit_args, *TINY]) == 0
    assert Path("fit.nc").is_file()
    capsys.readouterr()
    assert main(predict_args) == 0
    printed = capsys.readouterr()
    assert "pred_upper" in printed.out
    assert "were not in the fitted data" not in printed.err  # the README's level is fitted


# --- study files against the study's data ------------------------------------------------


def _data_dir(study: str) -> Path:
    if not os.environ.get("SCALINGLAWS_DATA"):
        pytest.skip("SCALINGLAWS_DATA is not set: the study files' columns are checked "
                    "against the studies' public data, read from that folder")
    folder = Path(os.environ["SCALINGLAWS_DATA"])
    if not (folder / study).is_dir():
        pytest.skip(f"no {study} data under SCALINGLAWS_DATA={folder}")
    return folder


def _frames(study: str, name: str, meta: dict, data_dir: Path) -> dict[str, pd.DataFrame]:
    """The frames the study's reproduction fits the spec ``name`` to, built by the same
    public functions (at least one frame per kind of data the spec meets)."""
    def load(table):
        return sl.datasets.load(study, table, data_dir=data_dir, download=False)

    if study == "gadre2024":
        return {"runs+downstream": rp.gadre2024.gadre_frame(load("runs"), load("downstream"))}
    if study == "brandfonbrener2025":
        from scalinglaws import losstoloss as ltl

        sweep = load("sweep")
        source = sorted(sweep["dataset"].unique())[0]
        if name.endswith("train_to_test"):
            return {source: ltl.pair_train_to_test(sweep, meta["tasks"], datasets=source)}
        return {source: ltl.pair_train_to_train(sweep, x=source)}
    if study == "llm_line2025":
        return {meta["table"]: rp.llm_line2025.llm_line_frame(load(meta["table"]), meta["x"],
                                                              meta["y"])}
    if study == "hitchhiker2024":
        parts = rp.hitchhiker2024_protocol.hitchhiker_split(load("checkpoints"))
        kind = "final" if name.endswith("_final") else "checkpoints"
        return {kind: rp.hitchhiker2024_protocol.hitchhiker_normalise(parts[kind])[0]}
    if study == "datablations2023":
        return {"final": rp.datablations2023.datablations_frame(load("final"))}
    if study == "isoflop":
        return {table: rp.isoflop.isoflop_frame(load(table))
                for table in ("porian2024", "marin", "llama3")}
    raise AssertionError(f"no frame for study {study!r}: add it to _frames")


@pytest.mark.parametrize("path", _study_files(), ids=lambda p: p.stem)
def test_study_file_columns_are_in_the_studys_data(path):
    meta = tomllib.loads(path.read_text())["study"]
    frames = _frames(meta["study"], path.stem, meta, _data_dir(meta["study"]))
    needed = _columns(sl.read_spec(path))
    for label, frame in frames.items():
        assert len(frame) > 0, f"{path.name}: the {label} frame has no rows"
        missing = sorted(needed - set(frame.columns))
        assert not missing, f"{path.name} reads {missing}, absent from the {label} frame"
