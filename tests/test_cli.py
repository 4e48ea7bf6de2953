"""The command line: demo, fit and predict, and errors as messages (exit code 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pandas as pd
import pytest
from test_losstoloss import _fake_fit

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.reproduce import STUDIES


def test_demo_runs_and_reports(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--chains", "2", "--warmup", "150",
                 "--draws", "150"]) == 0
    out = capsys.readouterr().out
    assert "Parameters (posterior median and 90% interval beside the truth)" in out
    assert "Prediction at 10x the largest compute" in out
    assert (tmp_path / "demo_fit.png").stat().st_size > 10_000


def test_demo_settings_are_checked_first(tmp_path, capsys):
    """``demo --seed -1`` ended in a NumPy traceback from the sweep's generator."""
    assert main(["demo", "--out", str(tmp_path), "--seed", "-1"]) == 2
    assert "seed must be a non-negative integer" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--chains", "0"]) == 2
    assert "chains must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "demo_fit.png").exists()
    for simulate in (sl.synthetic.sweep, sl.losstoloss.simulate):
        with pytest.raises(sl.ScalingLawError, match="seed must be"):
            simulate(seed=-1)


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
    assert main(["predict", str(out), "--at", "N=1e10,D=2e11,dataset=web",
                 "--at", "N=1e10,D=2e11,dataset=code"]) == 0
    captured = capsys.readouterr()
    assert "pred_upper" in captured.out and "code" in captured.out
    # the short chain's warnings, stored in the file, are printed once each
    lines = [line for line in captured.err.splitlines() if "warning: loaded fit:" in line]
    assert lines and len(lines) == len(set(lines))



def test_fit_prints_each_data_warning_once(tmp_path, capsys, sweep):
    """Repeated rows give a ScalingLawWarning while the data are read: the command prints
    it as one ``scalinglaws: warning:`` line, not also as a Python warning."""
    data = tmp_path / "runs.csv"
    runs = sweep.drop(columns="true_loss")
    pd.concat([runs, runs.iloc[:2]]).to_csv(data, index=False)
    spec = tmp_path / "model.toml"
    sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}).to_toml(spec)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        assert main(["fit", str(spec), "--data", str(data), "--out", str(tmp_path / "f.nc"),
                     "--chains", "1", "--warmup", "100", "--draws", "100"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "identical to an earlier row" in line]
    assert len(lines) == 1 and lines[0].startswith("scalinglaws: warning: data has 2 row(s)")
    assert "ScalingLawWarning" not in err and "warnings.warn" not in err
    assert not [w for w in escaped if issubclass(w.category, sl.ScalingLawWarning)]

def test_errors_are_messages(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.nc"), "--at", "N=1"]) == 2
    assert "no fit file" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "m.toml"), "--data", "x.csv", "--out", "f.nc"]) == 2


def test_reproduce_help_names_every_study(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(study in text for study in STUDIES)


def test_fit_and_predict_read_loss_to_loss_specs_and_fits(tmp_path, capsys):
    from scalinglaws import losstoloss as ltl

    spec = tmp_path / "t2test.toml"
    ltl.LossToLossModel("kaplan", vary={"kappa": "metric_y"}).to_toml(spec)
    runs = tmp_path / "runs.csv"
    ltl.simulate(seed=0).to_csv(runs, index=False)  # not paired: no loss_x / loss_y
    assert main(["fit", str(spec), "--data", str(runs), "--out", str(tmp_path / "f.nc")]) == 2
    assert "loss_x" in capsys.readouterr().err  # the loss-to-loss model read the spec
    assert main(["fit", str(spec), "--data", str(runs), "--out", "f.nc", "--cut-draws", "2"]) == 2
    assert '--cut-draws applies to loss-to-loss specs with feedback = "cut"' in (
        capsys.readouterr().err)
    core = tmp_path / "core.toml"
    sl.ScalingModel("chinchilla", target="loss").to_toml(core)
    assert main(["fit", str(core), "--data", str(runs), "--out", "f.nc", "--whiten"]) == 2
    assert "--whiten applies to loss-to-loss specs" in capsys.readouterr().err
    fit = tmp_path / "pairs.nc"
    _fake_fit(ltl.LossToLossModel("chinchilla"),
              ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y="code",
                                      loss="loss")).save(fit)
    assert main(["predict", str(fit), "--at", "N=1e10,D=2e11,loss_x=2.3"]) == 0
    assert "pred_upper" in capsys.readouterr().out
    assert main(["decide", str(fit), "--compute", "1e21", "--rule", "expected"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla -> shifted_power on loss_y" in out and "<Decision at C=1e+21" in out
    (tmp_path / "junk.nc").write_text("not netcdf")
    assert main(["predict", str(tmp_path / "junk.nc"), "--at", "N=1"]) == 2
    assert "not a readable" in capsys.readouterr().err


def _fresh_python(code: str, cache: os.PathLike) -> subprocess.CompletedProcess:
    """``python -c code`` with a user cache folder of its own and warnings shown."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONWARNINGS": "default"}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)


def test_import_prints_no_future_warning(tmp_path):
    """ArviZ < 1 warns at import once a day (stamped in the user's cache), so a fresh cache
    folder makes it warn; importing scalinglaws must not pass that warning on."""
    ours = _fresh_python("import scalinglaws", tmp_path / "ours")
    assert ours.returncode == 0, ours.stderr
    assert "FutureWarning" not in ours.stderr, ours.stderr
    bare = _fresh_python("import arviz", tmp_path / "bare")
    if "FutureWarning" not in bare.stderr:
        pytest.skip("ArviZ does not warn at import in this environment, so the check above "
                    "did not meet the warning it silences")
    assert "ArviZ is undergoing a major refactor" in bare.stderr  # the message we filter
