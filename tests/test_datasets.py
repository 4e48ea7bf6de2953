"""Tests for scalinglaws.datasets: registry, standard columns, local copies, cache, errors.

Tests on the real data read the project's shared copy: ``$SCALINGLAWS_DATA`` if set, else
``<repo>/../shared/data``; they skip when it is absent. Everything else runs on tiny files
written here, and the download path on a fake ``urlopen`` (never the network).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scalinglaws import datasets
from scalinglaws.errors import ScalingLawError

SHARED = Path(
    os.environ.get("SCALINGLAWS_DATA") or Path(__file__).parents[1].parent / "shared" / "data"
)
STUDIES = ["gadre2024", "brandfonbrener2025", "llm_line2025", "hitchhiker2024",
           "datablations2023", "isoflop"]
DEFAULT_ROWS = {
    ("gadre2024", "runs"): 104,
    ("brandfonbrener2025", "sweep"): 529,
    ("llm_line2025", "hf_models"): 129,
    ("hitchhiker2024", "checkpoints"): 40104,
    ("datablations2023", "final"): 308,
    ("isoflop", "porian2024"): 1745,
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No local-copy override and a private cache, whatever the caller's environment."""
    monkeypatch.delenv(datasets.DATA_ENV, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv(datasets.CACHE_ENV, str(cache))
    return cache


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared data directory, exported as SCALINGLAWS_DATA; skip when absent."""
    if not all((SHARED / study).is_dir() for study in STUDIES):
        pytest.skip(
            f"shared data not found at {SHARED}: set SCALINGLAWS_DATA to a directory with "
            "the layout of the project's shared/data to run the real-data tests"
        )
    monkeypatch.setenv(datasets.DATA_ENV, str(SHARED))
    return SHARED


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError("the network must not be used here")


def _offline(request, timeout=None):  # noqa: ANN001, ANN202 - urllib's signature
    raise urllib.error.URLError(OSError("Temporary failure in name resolution"))


def _fake_urlopen(served: dict[str, bytes], calls: list[str]):
    def urlopen(request, timeout=None):  # noqa: ANN001, ANN202 - urllib's signature
        url = request.full_url if hasattr(request, "full_url") else request
        calls.append(url)
        if url not in served:
            raise urllib.error.HTTPError(url, 404, "Not Found", None, None)
        return io.BytesIO(served[url])

    return urlopen


def _patch_table(monkeypatch: pytest.MonkeyPatch, study: str, table: str, **changes) -> None:
    st = datasets.STUDIES[study]
    tables = tuple(dataclasses.replace(t, **changes) if t.name == table else t for t in st.tables)
    monkeypatch.setitem(datasets.STUDIES, study, dataclasses.replace(st, tables=tables))


def _write(root: Path, study: str, filename: str, frame: pd.DataFrame) -> Path:
    path = root / study / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def _tiny_sweep() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a1", "b2"],
            "params": [1_000_000, 2_000_000],
            "data": ["starcoder", "fineweb-100b"],
            "iso_flop": [1.2e17, 4.8e17],
            "tokens": [2.0e10, 4.0e10],
            "val_loss": [3.5, 3.1],
        }
    )


# ------------------------------------------------------------------------- registry


def test_studies_and_tables() -> None:
    assert datasets.studies() == STUDIES
    assert datasets.list_tables("gadre2024") == [
        "runs",
        "losses_long",
        "downstream",
        "eval_metadata",
        "hparam_grid",
    ]
    assert datasets.list_tables("brandfonbrener2025") == ["sweep", "extrapolation", "opt_params"]
    assert datasets.list_tables("hitchhiker2024") == [
        "checkpoints",
        "metrics_long",
        "pythia_zeroshot",
    ]
    assert datasets.list_tables("llm_line2025")[0] == "hf_models"


def test_unknown_study_lists_the_valid_ones() -> None:
    with pytest.raises(ScalingLawError, match="unknown study 'gadre'") as err:
        datasets.load("gadre")
    for name in STUDIES:
        assert name in str(err.value)
    with pytest.raises(ScalingLawError, match="unknown study"):
        datasets.list_tables("nope")


def test_unknown_table_lists_the_valid_ones() -> None:
    with pytest.raises(ScalingLawError, match="unknown table 'loss'") as err:
        datasets.load("gadre2024", "loss")
    message = str(err.value)
    assert "'runs' (default)" in message
    for name in datasets.list_tables("gadre2024"):
        assert repr(name) in message


def test_catalog_pins_url_and_checksum() -> None:
    cat = datasets.catalog()
    assert len(cat) == sum(len(datasets.list_tables(s)) for s in STUDIES)
    assert cat.groupby("study")["default"].sum().eq(1).all()
    for row in cat.itertuples():
        assert re.fullmatch(r"[0-9a-f]{64}", row.sha256)
        study = datasets.STUDIES[row.study]
        if row.downloadable and pd.isna(row.sources):
            prefix = f"https://raw.githubusercontent.com/{study.repository}/{study.commit}/"
            assert row.url.startswith(prefix)
            assert row.no_download == ""
        elif row.downloadable:
            assert pd.isna(row.url) and row.no_download == ""
            for url in row.sources.split():
                assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/"
                                    r"[0-9a-f]{40}/\S+", url)
        else:
            assert pd.isna(row.url) and pd.isna(row.sources)
            assert "does not implement" in row.no_download
    downloadable = set((cat["study"] + "/" + cat["table"])[cat["downloadable"]])
    assert downloadable == {
        "gadre2024/eval_metadata",
        "brandfonbrener2025/sweep",
        "brandfonbrener2025/extrapolation",
        "brandfonbrener2025/opt_params",
        "datablations2023/final",
        "datablations2023/runs",
        *(f"isoflop/{t}" for t in datasets.list_tables("isoflop")),
    }


def test_cache_dir_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert datasets.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv(datasets.CACHE_ENV, str(tmp_path / "env"))
    assert datasets.cache_dir() == tmp_path / "env"
    monkeypatch.delenv(datasets.CACHE_ENV)
    assert datasets.cache_dir() == Path.home() / ".cache" / "scalinglaws"


# ------------------------------------------------------------------- real shared data


def _check_scale(df: pd.DataFrame) -> None:
    n, d = df["N"].astype(float), df["D"].astype(float)
    known = n.notna() & d.notna()
    assert known.any()
    assert (n.dropna() > 0).all()
    assert (d.dropna() > 0).all()
    np.testing.assert_allclose(df.loc[known, "C"], 6.0 * n[known] * d[known], rtol=1e-12)
    np.testing.assert_allclose(df.loc[known, "M"], d[known] / n[known], rtol=1e-12)
    assert df.loc[~known, "C"].isna().all()


@pytest.mark.parametrize(("study", "table"), list(DEFAULT_ROWS))
def test_default_table_from_shared_data(shared: Path, study: str, table: str) -> None:
    assert datasets.STUDIES[study].default == table
    df = datasets.load(study)
    raw = datasets.load(study, standardize=False)
    assert len(df) == DEFAULT_ROWS[(study, table)] == len(raw)
    for col in ("run", "dataset", "N", "D", "C", "M", "tokens_seen"):
        assert col in df.columns, col
    # every original column is kept, unchanged (N, D, C and M as float64)
    assert set(raw.columns) <= set(df.columns)
    scale = {c: "float64" for c in ("N", "D", "C", "M") if c in raw.columns}
    pd.testing.assert_frame_equal(df[list(raw.columns)], raw.astype(scale))
    # standard columns lead, in the canonical order
    std = [c for c in df.columns if c in datasets.STANDARD_COLUMNS]
    assert list(df.columns[: len(std)]) == std
    assert std == [c for c in datasets.STANDARD_COLUMNS if c in std]
    _check_scale(df)
    assert df["run"].notna().all()
    assert df.attrs["study"] == study and df.attrs["table"] == table
    assert df.attrs["source"] == str(shared / study / datasets.STUDIES[study].tables[0].filename)


@pytest.mark.parametrize(
    ("study", "table"), [(s, t) for s in STUDIES for t in datasets.list_tables(s)]
)
def test_every_table_loads_with_its_checksum(shared: Path, study: str, table: str) -> None:
    tab = datasets.STUDIES[study].table(table)
    df = datasets.load(study, table, data_dir=shared)
    assert len(df) == tab.rows
    assert {c for c in df.columns if c in datasets.STANDARD_COLUMNS} == set(tab.standard)
    if {"N", "D"} <= set(df.columns) and "C" in df.columns:
        _check_scale(df)


def test_gadre_runs_values(shared: Path) -> None:
    df = datasets.load("gadre2024")
    assert (df["run"] == df["run_name"]).all()
    assert set(df["dataset"]) == {"c4_original", "rpj", "rw_original"}
    assert df["N"].min() == 10569312 and df["M"].between(5, 640).all()
    assert df["seed"].notna().sum() == 12
    target = df.set_index("run").loc["rpj-open_lm_7b-1.0"]
    assert target["C"] == pytest.approx(6 * 6889410560 * 137788211200, rel=1e-12)
    assert "loss_c4_val" in df.columns and "paper_default_role" in df.columns


def test_gadre_downstream_joins_run_metadata(shared: Path) -> None:
    runs = datasets.load("gadre2024").set_index("run")
    down = datasets.load("gadre2024", "downstream").set_index("run")
    assert "err_avg_subset" in down.columns
    cols = ["dataset", "N", "D", "C", "M"]
    pd.testing.assert_frame_equal(down[cols], runs.loc[down.index, cols])


def test_brandfonbrener_compute_matches_iso_flop(shared: Path) -> None:
    for table in ("sweep", "extrapolation"):
        df = datasets.load("brandfonbrener2025", table)
        np.testing.assert_allclose(df["C"], df["iso_flop"], rtol=1e-9)
        assert (df["dataset"] == df["data"]).all()
        assert df["run"].is_unique
    assert datasets.load("brandfonbrener2025", "extrapolation")["N"].eq(3309980160).all()


def test_llm_line_families(shared: Path) -> None:
    df = datasets.load("llm_line2025")
    assert set(df["family"]) == {
        "HuggingFaceFW/ablation-model",
        "allenai/OLMo",
        "EleutherAI/pythia",
        "EleutherAI/gpt-neo",
        "EleutherAI/gpt-j",
        "EleutherAI/gpt-neox",
        "state-spaces/mamba",
        "state-spaces/mamba2",
    }
    olmo = df["family"] == "allenai/OLMo"
    assert df.loc[olmo, ["N", "D", "C"]].isna().all().all()
    ablation = df[df["family"] == "HuggingFaceFW/ablation-model"]
    assert ablation["run"].nunique() == 3 and len(ablation) == 61
    assert set(ablation["architecture"]) == {"Llama"}


def test_hitchhiker_checkpoints_runs_and_families(shared: Path) -> None:
    df = datasets.load("hitchhiker2024")
    assert (df["family"].isna() == df["scaled_set"].isna()).all()
    assert (df["family"].dropna() == df["scaled_set"].dropna()).all()
    assert (df["D"] == df["tokens_seen"]).all()
    assert df.loc[df["num_params"] <= 0, "N"].isna().all()
    # checkpoints of one training run share its run id ...
    olmo = df[df["model_name"] == "OLMo-1B "]  # sic: the upstream name ends with a space
    assert olmo["run"].nunique() == 1 and len(olmo) == 735
    assert olmo["tokens_seen"].is_unique
    # ... each Chinchilla IsoFLOP point is its own run, and nothing else is split
    chin = df["source_loader"] == "get_chinchila"
    assert df.loc[chin, "run"].is_unique
    assert (df.loc[~chin, "run"] == df.loc[~chin, "model_name"]).all()
    assert df["run"].nunique() == df["model_name"].nunique() - 43 + 245
    assert df.groupby("run")["family"].nunique(dropna=False).max() == 1


# --------------------------------------------------------------- tiny files, our own


def test_tiny_gadre_runs(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "run_name": ["rpj-a-1.0", "rpj-a-2.0"],
            "dataset": ["rpj", "rpj"],
            "N": [10, 10],
            "D": [200, 400],
            "flops": [12000, 24000],
            "M": [20.0, 40.0],
            "seed": [np.nan, 124.0],
            "loss_c4_val": [4.0, 3.9],
        }
    )
    _write(tmp_path, "gadre2024", "runs_losses.csv", frame)
    df = datasets.load("gadre2024", data_dir=tmp_path, verify=False)
    assert list(df.columns[:10]) == [
        "run",
        "family",
        "dataset",
        "architecture",
        "seed",
        "N",
        "D",
        "C",
        "M",
        "tokens_seen",
    ]
    assert df["C"].tolist() == [12000.0, 24000.0]
    assert df["M"].tolist() == [20.0, 40.0]  # the original M is kept
    assert df["N"].tolist() == [10.0, 10.0]  # ... and so are the original N and D,
    assert df["N"].dtype == df["D"].dtype == np.float64  # as float64
    assert df["run"].tolist() == ["rpj-a-1.0", "rpj-a-2.0"]
    assert df["family"].eq("open_lm").all() and df["loss_c4_val"].tolist() == [4.0, 3.9]


def test_tiny_gadre_integer_sizes_are_float64_so_6nd_does_not_overflow(tmp_path: Path) -> None:
    n, d = [3_000_000_000, 0], [1_000_000_000_000, 400]  # 6ND = 1.8e22 > int64's 9.2e18
    frame = pd.DataFrame({"run_name": ["big", "zero"], "dataset": ["rpj", "rpj"], "N": n,
                          "D": d, "M": [333.3, 40.0], "seed": [np.nan, 1.0],
                          "loss_c4_val": [2.5, 3.9]})
    path = _write(tmp_path, "gadre2024", "runs_losses.csv", frame)
    _write(tmp_path, "gadre2024", "downstream_accuracy.csv",
           pd.DataFrame({"run_name": ["big", "zero"], "err_avg": [0.6, 0.7]}))
    written = path.read_bytes()
    for table in ("runs", "downstream"):  # downstream joins N and D from runs
        df = datasets.load("gadre2024", table, data_dir=tmp_path, verify=False)
        assert df["N"].dtype == df["D"].dtype == np.float64
        assert df["N"].iloc[0] == 3e9 and df["D"].iloc[0] == 1e12
        assert np.isnan(df["N"].iloc[1])  # not a positive size
        assert (6 * df["N"] * df["D"]).iloc[0] == df["C"].iloc[0] == 1.8e22
    assert path.read_bytes() == written


def test_tiny_gadre_downstream_needs_runs(tmp_path: Path) -> None:
    down = pd.DataFrame({"run_name": ["r2", "r1"], "err_avg": [0.6, 0.7]})
    _write(tmp_path, "gadre2024", "downstream_accuracy.csv", down)
    with pytest.raises(ScalingLawError, match="runs_losses.csv is missing"):
        datasets.load("gadre2024", "downstream", data_dir=tmp_path, verify=False)
    runs = pd.DataFrame(
        {"run_name": ["r1", "r2"], "dataset": ["c4", "rw"], "N": [5, 8], "D": [100, 160]}
    )
    runs["M"] = runs["D"] / runs["N"]
    runs["seed"] = np.nan
    _write(tmp_path, "gadre2024", "runs_losses.csv", runs)
    df = datasets.load("gadre2024", "downstream", data_dir=tmp_path, verify=False)
    assert df["run"].tolist() == ["r2", "r1"]
    assert df["dataset"].tolist() == ["rw", "c4"]
    assert df["C"].tolist() == [6.0 * 8 * 160, 6.0 * 5 * 100]
    assert df["err_avg"].tolist() == [0.6, 0.7]


def test_tiny_brandfonbrener_sweep(tmp_path: Path) -> None:
    _write(tmp_path, "brandfonbrener2025", "sweep.csv", _tiny_sweep())
    df = datasets.load("brandfonbrener2025", data_dir=tmp_path, verify=False)
    assert df["N"].tolist() == [1e6, 2e6]
    assert df["D"].tolist() == [2e10, 4e10]
    assert df["C"].tolist() == [6 * 1e6 * 2e10, 6 * 2e6 * 4e10]
    assert df["M"].tolist() == [2e4, 2e4]
    assert df["dataset"].tolist() == ["starcoder", "fineweb-100b"]
    assert df["run"].tolist() == ["a1", "b2"]
    assert "params" in df.columns and "val_loss" in df.columns


def test_tiny_llm_line(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "name": [
                "EleutherAI/pythia-1.4b",
                "allenai/OLMo-7B",
                "HuggingFaceFW/ablation-model-c4",
            ],
            "architecture": ["GPT", "olmo", "Llama"],
            "size": [1.4e9, np.nan, 1.7e9],
            "pretraining_data": ["The Pile", "Dolma", "C4"],
            "tokens": [3e11, np.nan, 2e9],
            "tokenizer": ["gpt-neox", np.nan, "gpt2-HF"],
            "c4_validation_loss": [3.1, 3.0, 4.1],
        }
    )
    _write(tmp_path, "llm_line2025", "hf_models_latest_pm_hf.csv", frame)
    df = datasets.load("llm_line2025", data_dir=tmp_path, verify=False)
    assert df["family"].tolist() == [
        "EleutherAI/pythia",
        "allenai/OLMo",
        "HuggingFaceFW/ablation-model",
    ]
    assert df["dataset"].tolist() == ["The Pile", "Dolma", "C4"]
    assert df["C"].iloc[0] == 6 * 1.4e9 * 3e11 and np.isnan(df["C"].iloc[1])
    assert df["tokenizer"].iloc[2] == "gpt2-HF"


def test_tiny_hitchhiker_checkpoints(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "model_name": ["OPT-1.30B", "OPT-1.30B", "chin70", "chin70", "lamda-x"],
            "model_type": ["OPT", "OPT", "Gopher", "Gopher", "LAMDA"],
            "scaled_set": ["OPT", "OPT", "chinchilla", "chinchilla", np.nan],
            "data": ["opt", "opt", "MassiveText", "MassiveText", "LAMDA"],
            "arch": ["dec", "dec", "dec", "dec", np.nan],
            "num_params": [1.3e9, 1.3e9, 7e7, 7e7, 0.0],
            "tokens_seen": [1e10, 2e10, 3e9, 7e9, 5e9],
            "seed": [0, 0, 0, 0, 0],
            "source_loader": ["get_opt"] * 2 + ["get_chinchila"] * 2 + ["get_revisiting"],
            "perf_loss_perp": [3.0, 2.9, 3.4, 3.2, 1.0],
        }
    )
    _write(tmp_path, "hitchhiker2024", "checkpoints_perf.csv.gz", frame)
    df = datasets.load("hitchhiker2024", data_dir=tmp_path, verify=False)
    assert df["run"].tolist() == ["OPT-1.30B", "OPT-1.30B", "chin70@D=3e+09", "chin70@D=7e+09",
                                  "lamda-x"]  # fmt: skip
    assert df["family"].tolist()[:4] == ["OPT", "OPT", "chinchilla", "chinchilla"]
    assert pd.isna(df["family"].iloc[4])
    assert df["D"].tolist() == df["tokens_seen"].tolist()
    assert np.isnan(df["N"].iloc[4]) and np.isnan(df["C"].iloc[4])
    assert df["C"].iloc[1] == 6 * 1.3e9 * 2e10
    assert df["architecture"].tolist()[:2] == ["dec", "dec"]


def test_tiny_pythia(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "model_name": ["pythia-70m", "pythia-70m-deduped"],
            "num_params_nominal": [7e7, 7e7],
            "deduped": [False, True],
            "step": [0, 1000],
            "tokens_seen": [0, 2097152000],
            "lambada_openai_ppl": [3e6, 40.0],
        }
    )
    _write(tmp_path, "hitchhiker2024", "pythia_v1_zeroshot_rebuilt.csv", frame)
    df = datasets.load("hitchhiker2024", "pythia_zeroshot", data_dir=tmp_path, verify=False)
    assert df["family"].tolist() == ["pythia", "pythia-deduped"]
    assert df["dataset"].tolist() == ["pile", "pile-deduped"]
    assert np.isnan(df["D"].iloc[0]) and df["tokens_seen"].iloc[0] == 0
    assert df["C"].iloc[1] == 6 * 7e7 * 2097152000


def test_standardize_false_returns_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "brandfonbrener2025", "sweep.csv", _tiny_sweep())
    raw = datasets.load("brandfonbrener2025", data_dir=tmp_path, verify=False, standardize=False)
    pd.testing.assert_frame_equal(raw, _tiny_sweep())


def test_file_lacking_a_column_is_a_clear_error(tmp_path: Path) -> None:
    _write(tmp_path, "brandfonbrener2025", "sweep.csv", _tiny_sweep().drop(columns="tokens"))
    with pytest.raises(ScalingLawError, match="lacks the column 'tokens'"):
        datasets.load("brandfonbrener2025", data_dir=tmp_path, verify=False)


# ------------------------------------------------------------------------ user errors


def test_missing_file_in_data_dir(tmp_path: Path) -> None:
    (tmp_path / "gadre2024").mkdir()
    with pytest.raises(ScalingLawError) as err:
        datasets.load("gadre2024", data_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "gadre2024" / "runs_losses.csv") in message
    assert "is missing" in message and "cannot be downloaded" in message


def test_missing_file_under_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match=r"sweep\.csv is missing: \$SCALINGLAWS_DATA"):
        datasets.load("brandfonbrener2025")


def test_wrong_checksum_of_a_local_copy(tmp_path: Path) -> None:
    path = _write(tmp_path, "brandfonbrener2025", "sweep.csv", _tiny_sweep())
    with pytest.raises(ScalingLawError, match="checksum mismatch") as err:
        datasets.load("brandfonbrener2025", data_dir=tmp_path)
    assert str(path) in str(err.value) and "verify=False" in str(err.value)


def test_table_without_download_needs_a_local_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match="cannot be downloaded") as err:
        datasets.load("hitchhiker2024")
    message = str(err.value)
    assert "SCALINGLAWS_DATA" in message and "checkpoints_perf.csv.gz" in message
    assert "IBM/ColPret" in message


def test_no_network(monkeypatch: pytest.MonkeyPatch, _isolated: Path) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    with pytest.raises(ScalingLawError, match="could not download") as err:
        datasets.load("brandfonbrener2025", "extrapolation")
    message = str(err.value)
    assert datasets.STUDIES["brandfonbrener2025"].table("extrapolation").url in message
    assert "SCALINGLAWS_DATA" in message and "extrapolation.csv" in message
    folder = _isolated / "brandfonbrener2025"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_download_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match="download=False"):
        datasets.load("brandfonbrener2025", download=False)


# --------------------------------------------------------------------- download path


def test_download_verifies_then_caches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _isolated: Path
) -> None:
    served = tmp_path / "served.csv"
    _tiny_sweep().to_csv(served, index=False)
    payload = served.read_bytes()
    url = "https://raw.githubusercontent.com/example/repo/0123abcd/data/sweep.csv"
    _patch_table(
        monkeypatch,
        "brandfonbrener2025",
        "sweep",
        url=url,
        sha256=hashlib.sha256(payload).hexdigest(),
    )
    calls: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen({url: payload}, calls))
    df = datasets.load("brandfonbrener2025")
    assert calls == [url]
    cached = _isolated / "brandfonbrener2025" / "sweep.csv"
    assert cached.read_bytes() == payload
    assert df.attrs["source"] == str(cached)
    assert df["C"].tolist() == [6 * 1e6 * 2e10, 6 * 2e6 * 4e10]
    assert [p.name for p in cached.parent.iterdir()] == ["sweep.csv"]  # no temp files left
    # a second load reads the cache, not the network
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    pd.testing.assert_frame_equal(datasets.load("brandfonbrener2025"), df)
    assert datasets.fetch("brandfonbrener2025", cache_dir=_isolated) == cached


def test_download_with_wrong_checksum_saves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _isolated: Path
) -> None:
    url = "https://raw.githubusercontent.com/example/repo/0123abcd/data/sweep.csv"
    _patch_table(monkeypatch, "brandfonbrener2025", "sweep", url=url, sha256="0" * 64)
    calls: list[str] = []
    payload = _tiny_sweep().to_csv(index=False).encode()
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen({url: payload}, calls))
    with pytest.raises(ScalingLawError, match="checksum mismatch") as err:
        datasets.load("brandfonbrener2025")
    assert url in str(err.value) and "0" * 64 in str(err.value)
    assert hashlib.sha256(payload).hexdigest() in str(err.value)
    assert list((_isolated / "brandfonbrener2025").iterdir()) == []


def test_corrupt_cached_file(monkeypatch: pytest.MonkeyPatch, _isolated: Path) -> None:
    cached = _isolated / "brandfonbrener2025" / "opt_params_data.csv"
    cached.parent.mkdir(parents=True)
    cached.write_text("A,B\n1,2\n")
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match="Delete it") as err:
        datasets.load("brandfonbrener2025", "opt_params")
    assert str(cached) in str(err.value)


def test_real_registry_downloads_match_the_shared_copies(
    shared: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Serve the shared files at the pinned URLs: each download verifies and loads."""
    monkeypatch.delenv(datasets.DATA_ENV)
    cat = datasets.catalog()
    cat = cat[cat["url"].notna()]
    served = {row.url: (shared / row.file).read_bytes() for row in cat.itertuples()}
    calls: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen(served, calls))
    for row in cat.itertuples():
        df = datasets.load(row.study, row.table, cache_dir=tmp_path / "dl")
        assert len(df) == row.rows
    assert sorted(calls) == sorted(served)


# ------------------------------------------------ tables built from upstream files
#
# The converters run on tiny files written here in the upstream formats; the build path
# (download each source, check it, convert, check the table, cache) on a fake urlopen.
# The comparison with the real upstream files needs them on disk: set
# SCALINGLAWS_UPSTREAM=<dir> with each file at <dir>/<owner>+<repo>/<path in the repo>
# (the layout of <cache>/<study>/upstream/); it skips otherwise.

UPSTREAM = os.environ.get("SCALINGLAWS_UPSTREAM", "").strip()
ISOFLOP = datasets.STUDIES["isoflop"]


def _source_paths(tab_name: str, root: Path, study: str = "isoflop") -> dict[str, Path]:
    tab = datasets.STUDIES[study].table(tab_name)
    assert tab.build is not None
    return {src.path: root / src.cache_path for src in tab.build.sources}


def _fit(a: float) -> dict[str, float]:
    return {"n_exponent": a, "t_exponent": 1 - a}


def _porian_config(dataset: str, decay: str, a: float, boot: list[float]) -> dict:
    data = pd.DataFrame({"flops": [1e16, 2e16, 4e16]})
    data["orig_n"] = pd.Series([pd.Series([1e6, 2e6, 4e6]), pd.Series([2e6, 4e6]),
                                float("nan")], dtype=object)
    data["orig_t"] = [pd.Series([1e16 / 6e6, 1e16 / 12e6, 1e16 / 24e6]),
                      pd.Series([2e16 / 12e6, 2e16 / 24e6]), float("nan")]
    data["orig_loss"] = [pd.Series([4.0, 3.5, 3.75]), pd.Series([3.25, 3.0]), float("nan")]
    return {
        "dataset": dataset, "hparams": "base", "warmup": "long", "decay": decay,
        "param_count": "standard", "val": "val", "optimal_pairs": None,
        "fit_results": {
            "basic": _fit(a), "weighted": _fit(a + 0.01), "bs_median_weighted": _fit(a + 0.02),
            # replicates without an exponent (an E, A, alpha fit) are not counted
            "bootstrap": [_fit(b) for b in boot] + [{"A": 1.0, "E": 2.0, "alpha": 0.3}],
            "bootstrap_weighted": [_fit(b + 0.1) for b in boot],
        },
        "data": data,
    }


def _write_porian(root: Path) -> dict[str, Path]:
    """The four summary pickles (xz): att has two configurations, the others one each."""
    paths = _source_paths("porian2024", root)
    configs = {
        "data/summary_df_att.pickle.xz": [_porian_config("rw", "kaplan", 0.7, [0.6, 0.8]),
                                          _porian_config("rw", "const", 0.5, [0.4, 0.6])],
        "data/summary_df_kaplan_tuned_hparams.pickle.xz": [
            _porian_config("rw", "const", 0.71, [0.7, 0.72])],
        "data/summary_df.pickle.xz": [_porian_config("rw", "chinchilla", 0.55, [0.5, 0.6])],
        "data/summary_df_owt2.pickle.xz": [_porian_config("owt2", "kaplan", 0.8, [0.7, 0.9])],
    }
    for source, rows in configs.items():
        paths[source].parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_pickle(paths[source])
    return paths


def test_convert_porian_on_tiny_pickles(tmp_path: Path) -> None:
    from scalinglaws.datasets.isoflop import convert_porian

    df = convert_porian(_write_porian(tmp_path))
    assert list(df.columns) == [
        "flops", "params", "tokens", "loss", "flops_6nd", "experiment", "summary_file", "row",
        "dataset", "hparams", "warmup", "decay", "param_count", "loss_kind", "budget_id"]
    # 5 configurations x (3 + 2 points); the budget stored as a scalar NaN has no rows
    assert len(df) == 25 and set(df["flops"]) == {1e16, 2e16}
    assert df["experiment"].drop_duplicates().tolist() == [
        "att:0:rw/base/long/kaplan/standard/val", "att:1:rw/base/long/const/standard/val",
        "kaplan_tuned_hparams:0:rw/base/long/const/standard/val",
        "main:0:rw/base/long/chinchilla/standard/val",
        "owt2:0:owt2/base/long/kaplan/standard/val"]
    first = df.iloc[:5]
    assert first["params"].tolist() == [1e6, 2e6, 4e6, 2e6, 4e6]
    assert first["loss"].tolist() == [4.0, 3.5, 3.75, 3.25, 3.0]
    assert first["budget_id"].tolist() == [0, 0, 0, 1, 1]
    assert df["budget_id"].max() == 9
    np.testing.assert_allclose(df["flops_6nd"], df["flops"], rtol=1e-12)
    assert df.loc[df["experiment"].str.startswith("att:1"), "row"].eq(1).all()
    assert df["summary_file"].iloc[-1] == "porian_summary_df_owt2.pickle.xz"
    assert df["loss_kind"].eq("val").all()


def test_convert_porian_author_fits_on_tiny_pickles(tmp_path: Path) -> None:
    from scalinglaws.datasets.isoflop import convert_porian_author_fits

    df = convert_porian_author_fits(_write_porian(tmp_path))
    assert [e.split(":")[0] for e in df["experiment"]] == [
        "main", "owt2", "att", "att", "kaplan_tuned_hparams"]
    main = df.iloc[0]
    assert (main["a_basic"], main["a_weighted"], main["a_bs_median_weighted"]) == (
        0.55, 0.56, 0.57)
    assert main["n_bootstrap"] == 2
    assert main["a_bs_p2_5"] == pytest.approx(0.5025)  # numpy's linear percentile of [0.5, 0.6]
    assert main["a_bs_p97_5"] == pytest.approx(0.5975)
    assert main["a_bsw_p2_5"] == pytest.approx(0.6025)
    assert df.iloc[3]["a_basic"] == 0.5


_MARIN_HEADER = {
    "comma": ["Name", "parameter_count", "throughput/total_tokens", "throughput/total_gflops",
              "eval/paloma/macro_loss", "trainer.train_batch_size", "trainer.num_train_steps",
              "optimizer.learning_rate", "model.hidden_dim", "model.num_layers"],
    "dclm": ["Name", "parameter_count", "throughput/total_tokens", "eval/paloma/macro_loss",
             "throughput/total_gflops", "trainer.train_batch_size", "optimizer.learning_rate",
             "trainer.num_train_steps", "model.num_layers", "model.hidden_dim"],
    "nemotron": ["Name", "parameter_count", "throughput/total_tokens", "eval/paloma/macro_loss",
                 "throughput/total_gflops", "trainer.train_batch_size",
                 "trainer.num_train_steps", "learning_rate", "model.hidden_dim",
                 "model.num_layers"],
}


def _write_marin(root: Path) -> dict[str, Path]:
    paths = _source_paths("marin", root)
    runs = [  # name, params, tokens, gflops, loss
        ("isoflop-1e+19-d1024-L11-B8-{}", 2_000_000_000, 250_000_000_000, 3.0e10, 3.5),
        ("isoflop-1e+18-d512-L6-B32-{}", 150_000_000, 3_300_000_000, 3.0e9, 3.9),
        ("exp2166-scaling-ladder-{}-validation-optimal-3e+18-b4f71e", 270_000_000,
         1_800_000_000, 3.0e9, 3.8),
        ("isoflop-1e+18-d768-L8-B16-{}", 100_000_000, 5_000_000_000, 3.0e9, 4.0),
    ]
    for dataset, header in _MARIN_HEADER.items():
        rows = []
        for name, n, d, gflops, loss in runs:
            values = {
                "Name": name.format(dataset), "parameter_count": n,
                "throughput/total_tokens": d, "throughput/total_gflops": gflops,
                "eval/paloma/macro_loss": loss, "trainer.train_batch_size": 8,
                "trainer.num_train_steps": 1000, "model.hidden_dim": 512, "model.num_layers": 6,
                "optimizer.learning_rate": 0.002, "learning_rate": None,
            }
            rows.append([values[c] for c in header])
        path = paths[f"data/isoflops/extract/marin_202603/raw/isoflop-{dataset}.csv"]
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows, columns=header).to_csv(path, index=False)
    return paths


def test_convert_marin_on_tiny_exports(tmp_path: Path) -> None:
    from scalinglaws.datasets.isoflop import convert_marin

    df = convert_marin(_write_marin(tmp_path))
    assert len(df) == 12 and df["experiment"].unique().tolist() == [
        "marin_comma", "marin_dclm", "marin_nemotron"]
    comma = df[df["dataset"] == "comma"]
    # sweep runs: flops = 3 x the name's budget; validation-optimal runs: the budget itself
    assert comma["flops"].tolist() == [3e18, 3e18, 3e18, 3e19]
    assert comma["params"].tolist() == [1e8, 1.5e8, 2.7e8, 2e9]
    assert comma["validation_optimal"].tolist() == [False, False, True, False]
    assert comma["name_budget"].tolist() == [1e18, 1e18, 3e18, 1e19]
    assert comma["flops_logged"].tolist() == [3e18, 3e18, 3e18, 3e19]
    # 6ND = 3e21 would overflow int64; read as float64 it is exact
    assert comma["flops_6nd"].iloc[-1] == 6.0 * 2e9 * 2.5e11
    assert df["budget_id"].tolist() == [0, 0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5]
    assert df.loc[df["dataset"] == "dclm", "learning_rate"].eq(0.002).all()
    assert df.loc[df["dataset"] == "nemotron", "learning_rate"].isna().all()


def test_convert_marin_rejects_a_run_without_a_budget(tmp_path: Path) -> None:
    from scalinglaws.datasets.isoflop import convert_marin

    paths = _write_marin(tmp_path)
    path = paths["data/isoflops/extract/marin_202603/raw/isoflop-dclm.csv"]
    raw = pd.read_csv(path)
    raw.loc[0, "Name"] = "some-other-run"
    raw.to_csv(path, index=False)
    with pytest.raises(ValueError, match="some-other-run"):
        convert_marin(paths)


def test_convert_llama3_and_misfitting_on_tiny_files(tmp_path: Path) -> None:
    from scalinglaws.datasets.isoflop import convert_llama3, convert_misfitting

    llama = _source_paths("llama3", tmp_path)["isoflops_points.csv"]
    llama.parent.mkdir(parents=True)
    llama.write_text("compute_budget,training_tokens,validation_loss,x_page,y_page\n"
                     "1e19,2e9,0.90,1.5,2.5\n6e18,1e9,0.92,3.5,4.5\n6e18,2e9,0.91,5.5,6.5\n")
    df = convert_llama3({"isoflops_points.csv": llama})
    assert df["flops"].tolist() == [6e18, 6e18, 1e19]
    assert df["params"].tolist() == pytest.approx([5e8, 1e9, 1e19 / 1.2e10])
    assert df["x_page"].tolist() == [5.5, 3.5, 1.5]  # sorted by budget, then size
    assert df["budget_id"].tolist() == [0, 0, 1]
    assert (df["experiment"] == "llama3").all()

    source = "data/isoflops/extract/misfitting/isoflops.csv"
    mis = _source_paths("misfitting", tmp_path)[source]
    mis.parent.mkdir(parents=True)
    mis.write_text(
        "source,provenance,dataset,model,condition,experiment,tokens,params,budget,loss\n"
        "misfitting,chinchilla,fineweb_c4,transformer,,e,2e9,1e8,1.2e18,3.1\n"
        "misfitting,chinchilla,fineweb_c4,transformer,,e,1e9,5e7,3e17,3.6\n")
    df = convert_misfitting({source: mis})
    assert df.columns.tolist() == ["flops", "params", "tokens", "loss", "flops_6nd",
                                   "experiment", "budget_id"]
    assert df["flops"].tolist() == [3e17, 1.2e18] and df["loss"].tolist() == [3.6, 3.1]
    assert df["flops_6nd"].tolist() == [3e17, 1.2e18]
    assert (df["experiment"] == "misfitting_fineweb_c4").all()


def _serve_llama3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, table_sha: str | None = None,
                  source_sha: str | None = None) -> tuple[str, bytes, list[str]]:
    """Serve a tiny isoflops_points.csv at the pinned URL; pin the patched checksums."""
    payload = b"compute_budget,training_tokens,validation_loss,x_page,y_page\n6e18,1e9,0.92,1,2\n"
    from scalinglaws.datasets.isoflop import convert_llama3

    served = tmp_path / "served" / "isoflops_points.csv"
    served.parent.mkdir(parents=True)
    served.write_bytes(payload)
    built = convert_llama3({"isoflops_points.csv": served}).to_csv(
        index=False, float_format="%.10g").encode()
    tab = ISOFLOP.table("llama3")
    src = tab.build.sources[0]
    src = dataclasses.replace(src, sha256=source_sha or hashlib.sha256(payload).hexdigest())
    _patch_table(monkeypatch, "isoflop", "llama3",
                 sha256=table_sha or hashlib.sha256(built).hexdigest(),
                 build=dataclasses.replace(tab.build, sources=(src,)))
    calls: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen({src.url: payload}, calls))
    return src.url, built, calls


def test_build_downloads_checks_converts_and_caches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _isolated: Path
) -> None:
    url, built, calls = _serve_llama3(monkeypatch, tmp_path)
    assert url.startswith("https://raw.githubusercontent.com/eric-czech/llama3_isoflop_extraction/"
                          "1bc1755b76e6ee55a911549c8ec52b71cb480320/")
    df = datasets.load("isoflop", "llama3")
    assert calls == [url]
    cached = _isolated / "isoflop" / "llama3.csv"
    assert cached.read_bytes() == built and df.attrs["source"] == str(cached)
    assert df[["N", "D", "C"]].iloc[0].tolist() == pytest.approx([1e9, 1e9, 6e18])
    upstream = _isolated / "isoflop" / "upstream" / "eric-czech+llama3_isoflop_extraction"
    assert [p.name for p in upstream.iterdir()] == ["isoflops_points.csv"]  # no temp files
    # later loads read the cached table; with it gone, the cached upstream file is reused
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    pd.testing.assert_frame_equal(datasets.load("isoflop", "llama3"), df)
    cached.unlink()
    pd.testing.assert_frame_equal(datasets.load("isoflop", "llama3", download=False), df)


def test_build_checksum_failures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _isolated: Path
) -> None:
    """A source that fails its sha256 saves nothing; so does a result that differs from the
    table's pin, unless verify=False."""
    url, _, _ = _serve_llama3(monkeypatch, tmp_path / "a", source_sha="1" * 64)
    with pytest.raises(ScalingLawError, match="checksum mismatch") as err:
        datasets.load("isoflop", "llama3")
    message = str(err.value)
    assert url in message and "1" * 64 in message
    assert "SCALINGLAWS_DATA" in message and "isoflop/llama3.csv" in message
    assert not [p for p in (_isolated / "isoflop").rglob("*") if p.is_file()]

    _, built, _ = _serve_llama3(monkeypatch, tmp_path / "b", table_sha="2" * 64)
    with pytest.raises(ScalingLawError, match="verify=False") as err:
        datasets.load("isoflop", "llama3")
    assert hashlib.sha256(built).hexdigest() in str(err.value)
    cached = _isolated / "isoflop" / "llama3.csv"
    assert not cached.exists()
    assert len(datasets.load("isoflop", "llama3", verify=False)) == 1
    assert cached.read_bytes() == built


def test_build_offline_says_where_the_files_go(
    monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", _offline)
    with pytest.raises(ScalingLawError, match="could not download") as err:
        datasets.load("isoflop", "marin")
    message = str(err.value)
    first = ISOFLOP.table("marin").build.sources[0]
    assert first.url in message
    assert str(_isolated / "isoflop" / first.cache_path) in message
    assert "SCALINGLAWS_DATA" in message and "isoflop/marin_202603.csv" in message
    assert not [p for p in (_isolated / "isoflop").rglob("*") if p.is_file()]
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match="download=False"):
        datasets.load("isoflop", "porian2024", download=False)


def test_build_reports_an_unreadable_source(
    monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    """A cached source that passes its checksum but cannot be converted: a clear error."""
    tab = ISOFLOP.table("misfitting")
    src = tab.build.sources[0]
    payload = b"not,the,columns\n1,2,3\n"
    path = _isolated / "isoflop" / src.cache_path
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    sources = (dataclasses.replace(src, sha256=hashlib.sha256(payload).hexdigest()),)
    _patch_table(monkeypatch, "isoflop", "misfitting",
                 build=dataclasses.replace(tab.build, sources=sources))
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match="could not convert") as err:
        datasets.load("isoflop", "misfitting")
    assert "KeyError" in str(err.value) and "SCALINGLAWS_DATA" in str(err.value)


def test_local_copy_takes_precedence_over_a_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = _write(tmp_path, "isoflop", "llama3.csv", pd.DataFrame({"flops": [1.0]}))
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    with pytest.raises(ScalingLawError, match="checksum mismatch") as err:
        datasets.load("isoflop", "llama3", data_dir=tmp_path)
    assert str(path) in str(err.value) and "converted from eric-czech/" in str(err.value)
    (tmp_path / "isoflop" / "llama3.csv").unlink()
    with pytest.raises(ScalingLawError, match="is missing") as err:
        datasets.load("isoflop", "llama3", data_dir=tmp_path)
    assert "to download it" in str(err.value)


_PARAMS_MAP = {"14m": 1.41e7, "1b5": 1.5173e9, "2b8": 2.81e9, "4b2": 4.2465e9, "8b7": 8.67e9}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("14m7b5100m", ("14m7b5100m", "c4", "base", 1.41e7, 1e8, 7.5e9)),
        ("1b58b88b8", ("1b58b88b8", "c4", "base", 1.5173e9, 8.8e9, 8.8e9)),
        ("2b855b1b25c4seed3", ("2b855b1b25", "c4", "base", 2.81e9, 1.25e9, 5.5e10)),
        ("4b284b84bc4v2seed1", ("4b284b84b", "c4", "v2", 4.2465e9, 8.4e10, 8.4e10)),
        ("8b7178b25bopt", ("8b7178b25b", "c4", "opt", 8.67e9, 2.5e10, 1.78e11)),
        ("4b284b1b9oscar", ("4b284b1b9", "oscar", "base", 4.2465e9, 1.9e9, 8.4e10)),
        ("14m5b9100mdedup", ("14m5b9100m", "c4", "dedup", 1.41e7, 1e8, 5.9e9)),
    ],
)
def test_parse_datablations_run_names(name: str, expected: tuple) -> None:
    from scalinglaws.datasets.datablations2023 import parse_run_name

    row = parse_run_name(name, _PARAMS_MAP)
    keys = ("config_id", "dataset", "variant", "params", "unique_tokens", "total_tokens")
    assert tuple(row[k] for k in keys) == expected
    seed = re.search(r"seed(\d)$", name)
    assert row["seed"] == float(seed[1]) if seed else np.isnan(row["seed"])


@pytest.mark.parametrize("name", ["9z4b4b", "2b84b8b", "2b8x"])
def test_parse_datablations_rejects_odd_names(name: str) -> None:
    from scalinglaws.datasets.datablations2023 import parse_run_name

    with pytest.raises(ValueError, match=name):
        parse_run_name(name, _PARAMS_MAP)


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "outputs": [],
            "source": source.splitlines(keepends=True)}


def _write_datablations(root: Path) -> dict[str, Path]:
    """The fit notebook (cells 1 and 25), ColPret's curves and its id-to-run notebook."""
    paths = _source_paths("runs", root, "datablations2023")
    cell1 = (
        "PARAMS_MAP = {'14m': 1.41E+07, '2b8': 2.81E+09, '4b2': 4.2465E+09}\n"
        "NAMES_TO_VAL_LOSSES = {\n"
        '    "14m400m100m": 4.5,\n'
        '    # "14m400m200m": 4.4,\n'
        '    "14m800m100mdedup": 4.6,\n'
        '    "2b84b4bc4seed2": 3.25,\n'
        '    "4b284b12bc4opt2": 2.5, # Params: 3.089856e9\n'
        '    "2b855b1b25": 0,\n'
        "}\n")
    cell25 = "NAMES_TO_VAL_LOSSES = {'14m400m100m': 4.5, '14m800m100mdedup': 4.6, " \
             "'2b855b1b25': 0}\n"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# fit"]}, _code_cell(cell1)]
    cells += [_code_cell("x = 1\n")] * 23 + [_code_cell(cell25)]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    tb_cell = (
        "MODEL_TO_ID_2C4 = {'tensorboard_2b855b1b25c4': 'idA', 'tensorboard_2b855b4bc4': 'idB'}\n"
        "MODEL_TO_ID_2OSCAR = {'tensorboard_2b855b4boscar': 'idC'}\n"
        "def get(model):\n"
        "    if True:\n"
        "        !wget https://example.org/{model}.csv\n")
    tb_notebook = {"cells": [_code_cell("import x\n")] * 3 + [_code_cell(tb_cell)],
                   "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    curves = pd.DataFrame({
        "index": range(6),
        "data": ["c4", "c4", "c4", "c4", "oscar", "oscar"],
        "epochs": [44, 44, 14, 14, 14, 14],
        "token_num": [1e9, 5.5e10, 1e9, 5.5e10, 1e9, 5.5e10],
        "loss": [4.0, 3.4, 3.9, 2.7, 3.9, 2.7],
        "num_params": "2.8B",
        "model_args": [f"{{'tensorboard': '{i}'}}" for i in
                       ["idA", "idA", "idB", "idB", "idC", "idC"]],
        "tokens_per_epoch": [1.25e9, 1.25e9, 3.9e9, 3.9e9, 3.9e9, 3.9e9],
        "flops": 1e23,
        "checkpoint": "https://huggingface.co/datablations/lm1-2b8-55b-c4-repetitions",
    })
    for source, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if source.endswith("parametric_fit.ipynb"):
            path.write_text(json.dumps(notebook))
        elif source.endswith(".ipynb"):
            path.write_text(json.dumps(tb_notebook))
        else:
            curves.to_csv(path, index=False)
    return paths


def test_convert_datablations_on_tiny_sources(tmp_path: Path) -> None:
    from scalinglaws.datasets.datablations2023 import convert_final, convert_runs

    paths = _write_datablations(tmp_path)
    final = convert_final(paths)
    assert final["run_id"].tolist() == [
        "14m400m100m", "14m800m100mdedup", "2b84b4bc4seed2", "4b284b12bc4opt2"]
    assert final["variant"].tolist() == ["base", "dedup", "base", "opt2"]
    assert final["params"].tolist() == [14_100_000, 14_100_000, 2_810_000_000, 3_089_856_000]
    assert final["in_paper_fit_182"].tolist() == [True, False, False, False]
    assert final["epochs_total"].tolist() == [4.0, 8.0, 1.0, 7.0]
    assert final["repetitions"].tolist() == [3.0, 7.0, 0.0, 6.0]
    assert final["seed"].isna().tolist() == [True, True, False, True]
    assert final["flops_6nd"].iloc[2] == 6 * 2.81e9 * 4e9
    assert final["note"].iloc[3].startswith("params 3.089856e9 from notebook comment")

    runs = convert_runs(paths)
    notebook = runs[runs["source"] == "datablations_nb_final"]
    assert len(notebook) == 5 and notebook["is_final"].all()
    unfinished = notebook[notebook["run_id"] == "2b855b1b25"].iloc[0]
    assert np.isnan(unfinished["loss"])
    assert unfinished["note"] == "loss 0 in source = unfinished run"
    curves = runs[runs["source"] == "colpret_tb_curve"]
    assert curves["run_id"].tolist() == ["2b855b1b25c4"] * 2 + ["2b855b4bc4"] * 2 + [
        "2b855b4boscar"] * 2
    assert curves["dataset"].tolist() == ["c4"] * 4 + ["oscar"] * 2
    assert curves["is_final"].tolist() == [False, True] * 3
    assert curves["epochs_seen"].tolist() == pytest.approx([0.8, 44, 0.25, 13.75, 0.25, 13.75])
    assert curves["repetitions_seen"].tolist() == pytest.approx([0, 43, 0, 12.75, 0, 12.75])
    assert curves["flops_6nd"].iloc[1] == 6 * 2.81e9 * 5.5e10
    assert curves["tensorboard_id"].tolist() == ["idA", "idA", "idB", "idB", "idC", "idC"]
    assert curves["note"].iloc[:2].isna().all()
    assert (curves["note"].iloc[2:] == "curve identical point-for-point to the other of "
            "2b855b4bc4/2b855b4boscar in the source").all()
    assert list(runs.columns)[:3] == ["source", "run_id", "config_id"]


def _upstream() -> Path:
    if not UPSTREAM:
        pytest.skip("set SCALINGLAWS_UPSTREAM=<dir> holding the upstream files as "
                    "<dir>/<owner>+<repo>/<path> to compare the conversions with shared/data")
    return Path(UPSTREAM)


@pytest.mark.parametrize(
    ("study", "table"),
    [(s.name, t.name) for s in datasets.STUDIES.values() for t in s.tables if t.build],
)
def test_conversion_of_the_real_upstream_files_is_the_shared_table(
    shared: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, study: str, table: str
) -> None:
    """Build each table from the real upstream files, served at their pinned URLs.

    Compared with the project's shared copy: the written file is byte-identical (so its
    sha256 is the pinned one), and, read back with pandas, the same rows, columns and
    values (floats to 1e-12 relative, strings and integers exactly).
    """
    root = _upstream()
    monkeypatch.delenv(datasets.DATA_ENV)
    tab = datasets.STUDIES[study].table(table)
    served = {}
    for src in tab.build.sources:
        path = root / src.cache_path.removeprefix("upstream/")
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        served[src.url] = path.read_bytes()
    calls: list[str] = []
    monkeypatch.setattr(urllib.request, "urlopen", _fake_urlopen(served, calls))
    path = datasets.fetch(study, table, cache_dir=tmp_path / "cache")
    assert sorted(calls) == sorted(served)
    ours = pd.read_csv(path, low_memory=False)
    theirs = pd.read_csv(shared / study / tab.filename, low_memory=False)
    pd.testing.assert_frame_equal(ours, theirs, check_exact=False, rtol=1e-12)
    assert path.read_bytes() == (shared / study / tab.filename).read_bytes()
