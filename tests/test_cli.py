"""The command line: demo, fit and predict, and errors as messages (exit code 2)."""

from __future__ import annotations

import pytest

import scalinglaws as sl
from scalinglaws.cli import main


def test_demo_runs_and_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--chains", "2", "--warmup", "150",
                 "--draws", "150"]) == 0
    out = capsys.readouterr().out
    assert "Parameters (posterior median and 90% interval beside the truth)" in out
    assert "Prediction at 10x the largest compute" in out
    assert (tmp_path / "demo_fit.png").stat().st_size > 10_000


def test_fit_then_predict(tmp_path, capsys, sweep):
    data = tmp_path / "runs.csv"
    sweep.drop(columns="true_loss").to_csv(data, index=False)
    spec = tmp_path / "model.toml"
    sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}).to_toml(spec)
    out = tmp_path / "fit.nc"
    assert main(["fit", str(spec), "--data", str(data), "--out", str(out), "--chains", "1",
                 "--warmup", "100", "--draws", "100"]) == 0
    assert out.exists()
    capsys.readouterr()
    with pytest.warns(sl.ScalingLawWarning):  # the short chain's warnings are repeated on load
        assert main(["predict", str(out), "--at", "N=1e10,D=2e11,dataset=web",
                     "--at", "N=1e10,D=2e11,dataset=code"]) == 0
    printed = capsys.readouterr().out
    assert "pred_upper" in printed and "code" in printed


def test_errors_are_messages(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.nc"), "--at", "N=1"]) == 2
    assert "no fit file" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "m.toml"), "--data", "x.csv", "--out", "f.nc"]) == 2
