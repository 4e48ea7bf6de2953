"""Known per-row measurement error (``ScalingModel(measurement_se=...)``): the spec, the
likelihood's noise, predictions with and without it, files."""

from __future__ import annotations

import re
import warnings

import numpy as np
import numpyro
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.data import make_design
from scalinglaws.model import build_model

SPEC = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                       measurement_se="se")


@pytest.fixture(scope="module")
def measured(sweep):
    """The sweep measured with a known error that differs 10x between rows (as for
    benchmarks of 100 and 10,000 questions), on top of the runs' own 1% noise."""
    rng = np.random.default_rng(1)
    frame = sweep.copy()
    frame["se"] = frame["loss"] * rng.choice([0.002, 0.02], size=len(frame))
    frame["loss"] = frame["loss"] + rng.normal(0.0, frame["se"])
    return frame


def test_spec_round_trips_and_checks_the_column(measured):
    assert sl.ScalingModel.from_dict(SPEC.to_dict()) == SPEC
    assert sl.read_spec(SPEC.to_toml()) == SPEC
    assert "se" in SPEC.columns
    with pytest.raises(sl.ScalingLawError, match="measurement_se must be a column name"):
        sl.ScalingModel("chinchilla", measurement_se=3)
    with pytest.raises(sl.ScalingLawError, match="not the target column"):
        sl.ScalingModel("chinchilla", target="loss", measurement_se="loss")
    with pytest.raises(sl.ScalingLawError, match="no column 'se'"):
        make_design(SPEC, measured.drop(columns="se"))
    for value, rows in ((-0.1, [3]), (0.0, [3, 5])):
        bad = measured.copy()
        bad.loc[bad.index[rows], "se"] = value
        before = bad.copy()
        with pytest.raises(sl.ScalingLawError,
                           match=re.escape(f"must be standard errors > 0; rows {rows} are zero")):
            make_design(SPEC, bad)
        pd.testing.assert_frame_equal(bad, before)
    bad = measured.copy()
    bad.loc[bad.index[4], "se"] = np.nan
    with pytest.raises(sl.ScalingLawError, match=r"'se'.*rows \[4\]"):
        make_design(SPEC, bad)


def test_likelihood_adds_the_error_in_quadrature_on_the_log_scale(measured):
    design = make_design(SPEC, measured)
    values = {"sigma": 0.01}
    fn = numpyro.handlers.substitute(build_model(SPEC, design), data=values)
    trace = numpyro.handlers.trace(numpyro.handlers.seed(fn, 0)).get_trace(y=design.y)
    scale = np.asarray(trace["y"]["fn"].scale)
    expected = np.sqrt(0.01**2 + (measured["se"].to_numpy() / measured["loss"].to_numpy())**2)
    np.testing.assert_allclose(scale, expected, rtol=1e-12)


def test_fit_predicts_with_and_without_the_error(measured, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        fit = SPEC.fit(measured, chains=2, warmup=200, draws=300, seed=0, progress=False)
    truth = measured.attrs["truth"]
    summary = fit.summary()
    for name in ("alpha", "beta"):
        assert summary.loc[name, "lower"] <= truth[name] <= summary.loc[name, "upper"], name
    row = {"N": [3e9], "D": [6e10], "dataset": ["web"]}
    plain = fit.predict(row)
    assert "meas_lower" not in plain.columns
    noisy = fit.predict({**row, "se": [0.1]})
    assert noisy.loc[0, "meas_upper"] - noisy.loc[0, "meas_lower"] > \
        noisy.loc[0, "pred_upper"] - noisy.loc[0, "pred_lower"]
    same = ["median", "pred_lower", "pred_upper"]  # a row of mixed columns: object before pandas 3
    np.testing.assert_allclose(noisy.loc[0, same].to_numpy(float),
                               plain.loc[0, same].to_numpy(float))
    again = sl.load(fit.save(tmp_path / "fit.nc"))
    np.testing.assert_array_equal(again.design.se, fit.design.se)
    assert "se" in again.data().columns
    pd.testing.assert_frame_equal(again.predict({**row, "se": [0.1]}), noisy)
