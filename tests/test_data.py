"""Bad input fails before compilation with a ScalingLawError naming the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.data import make_design
from scalinglaws.errors import ScalingLawError, ScalingLawWarning

MODEL = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})


@pytest.fixture
def frame(sweep):
    return sweep.copy()


def _fails(frame, match, model=MODEL):
    with pytest.raises(ScalingLawError, match=match):
        make_design(model, frame)


def test_missing_column(frame):
    _fails(frame.drop(columns="D"), "no column 'D'")


def test_missing_factor_column(frame):
    _fails(frame.drop(columns="dataset"), "no column 'dataset'")


def test_nan_names_rows(frame):
    frame.loc[[3, 7], "loss"] = np.nan
    _fails(frame, r"'loss' \(target\) has NaN or infinite values in rows \[3, 7\]")


def test_inf(frame):
    frame.loc[5, "N"] = np.inf
    _fails(frame, r"'N' .* rows \[5\]")


@pytest.mark.parametrize("column", ["N", "D", "loss"])
def test_non_positive(frame, column):
    frame.loc[2, column] = 0.0
    _fails(frame, rf"'{column}' .* must be positive, but rows \[2\]")


def test_non_positive_compute():
    frame = pd.DataFrame({"C": [1e18, -1e19, 1e20, 1e21], "loss": [3.0, 2.8, 2.6, 2.5]})
    # the example value is a plain number, not NumPy's repr (np.float64(-1e+19))
    _fails(frame, r"'C' .* must be positive, but rows \[1\] are <= 0 \(e\.g\. -1e\+19\)",
           sl.ScalingModel("compute", target="loss"))


def test_non_numeric(frame):
    frame["N"] = frame["N"].astype(object)
    frame.loc[4, "N"] = "1B"
    _fails(frame, r"'N' .* non-numeric values in rows \[4\] \(e.g. '1B'\)")


def test_dates_are_not_sizes(frame):
    frame["N"] = pd.to_datetime(frame["N"])  # a date read from a spreadsheet, not a size
    _fails(frame, r"'N' \(law variable N\) holds datetime64\[ns\] values, not numbers")


def test_complex_numbers_are_not_sizes(frame):
    frame["N"] = frame["N"].astype(complex)  # float64 would drop the imaginary part
    _fails(frame, r"'N' \(law variable N\) holds complex128 values, not real numbers")


def test_subnormal_sizes_are_refused(frame):
    frame.loc[3, "D"] = 5e-324  # read as 0 by XLA on a CPU: log D would be -inf
    _fails(frame, r"'D' \(law variable D\) has values below 2.2e-308.* rows \[3\]")


def test_factor_in_the_index_is_named(frame):
    _fails(frame.set_index("dataset"), r"'dataset' is the frame's index: data.reset_index()")


def test_multiindex_columns(frame):
    frame.columns = pd.MultiIndex.from_tuples([(c, "") for c in frame.columns])
    _fails(frame, "columns of 2 levels")


def test_empty_frame(frame):
    _fails(frame.iloc[:0], "no rows")


def test_not_a_frame():
    with pytest.raises(ScalingLawError, match="must be a pandas DataFrame"):
        make_design(MODEL, [1, 2, 3])


def test_records_are_rows(frame):
    records = frame.to_dict("records")
    design = make_design(MODEL, records)
    assert design.n_rows == len(frame)
    np.testing.assert_array_equal(design.y, frame["loss"].to_numpy())


def test_a_prediction_without_the_factor_says_how_to_ask_for_a_new_group(frame):
    fitted = make_design(MODEL, frame)
    with pytest.raises(ScalingLawError, match=r"give it a new level, e.g. dataset='new'"):
        make_design(MODEL, {"N": 1e10, "D": 2e11}, fitted=fitted)


def test_fewer_rows_than_parameters(frame):
    _fails(frame.iloc[[0, 1, 30, 31]], "4 rows but the model has 6 free parameters")


def test_missing_factor_level(frame):
    frame.loc[1, "dataset"] = None
    _fails(frame, r"factor column 'dataset' has missing values in rows \[1\]")


def test_run_offsets_and_parameters_varying_by_the_same_factor_warn(frame):
    frame["seed"] = np.arange(len(frame)) % 3
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "seed"}, run="seed")
    with pytest.warns(ScalingLawWarning, match=r"run='seed' is also a factor of vary"):
        make_design(model, frame)


def test_single_level_factor_warns_and_falls_back(frame):
    one = frame[frame.dataset == "web"]
    with pytest.warns(ScalingLawWarning, match="single level"):
        design = make_design(MODEL, one)
    assert design.vary == {}


def test_unknown_names_fail_in_the_spec():
    with pytest.raises(ScalingLawError, match="unknown law"):
        sl.ScalingModel("chinchillaa")
    with pytest.raises(ScalingLawError, match="not a parameter"):
        sl.ScalingModel("chinchilla", vary={"gamma": "dataset"})
    with pytest.raises(ScalingLawError, match="unknown prior distribution"):
        sl.Prior("Gaussian", 0, 1)


def test_user_frame_is_never_mutated(frame):
    before = frame.copy(deep=True)
    design = make_design(MODEL, frame)
    design.variables["N"][:] = -1.0  # the design owns its arrays
    pd.testing.assert_frame_equal(frame, before)


def test_errors_come_before_compilation(frame, monkeypatch):
    import scalinglaws.engine.nuts as nuts

    def boom(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("compiled before validating")

    monkeypatch.setattr(nuts, "program", boom)  # the engine's compiled programs
    frame.loc[0, "loss"] = -1.0
    with pytest.raises(ScalingLawError, match="must be positive"):
        MODEL.fit(frame, progress=False)


def test_reference_is_geometric_mean_unless_fixed(frame):
    design = make_design(MODEL, frame)
    assert design.log_reference["N"] == pytest.approx(np.log(frame.N).mean())
    fixed = sl.ScalingModel("chinchilla", target="loss", reference={"N": 1e8})
    assert make_design(fixed, frame).log_reference["N"] == pytest.approx(np.log(1e8))
