"""The data-constrained law (Muennighoff et al. 2023), its input checks, decide.epochs_worth_it
and the datablations2023 study's pieces."""

from __future__ import annotations

import dataclasses
import importlib
import os
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz import ARGUMENTS, FUZZ, _only_scaling_law_errors

import scalinglaws as sl
from scalinglaws import decide
from scalinglaws.data import make_design
from scalinglaws.errors import ScalingLawError
from scalinglaws.reproduce import datablations2023 as sd

DATA = Path(os.environ.get("SCALINGLAWS_DATA")
            or Path(__file__).parents[1].parent / "shared" / "data")
rp = importlib.import_module("scalinglaws.reproduce")
LAW = sl.laws.get("data_constrained")
PUBLISHED = {"E": np.exp(0.6254804), "A": np.exp(6.255414), "B": np.exp(7.3049974),
             "alpha": 0.3526596, "beta": 0.3526596, "RD_star": 15.387756,
             "RN_star": 5.309743}
INPUTS = {"N": "N", "D": "D", "U_D": "U_D", "U_N": "U_N"}


def _closed_form(n, d, u_d, u_n, p):
    """The paper's formula written out directly (the authors' README)."""
    r_d = d / u_d - 1
    r_n = n / u_n - 1
    d_eff = u_d + u_d * p["RD_star"] * (1 - np.exp(-r_d / p["RD_star"]))
    n_eff = u_n + u_n * p["RN_star"] * (1 - np.exp(-r_n / p["RN_star"]))
    return p["E"] + p["A"] / n_eff ** p["alpha"] + p["B"] / d_eff ** p["beta"]


def _vars(n, d, u_d, u_n):
    return {k: np.asarray(v, dtype=float) for k, v in
            {"N": n, "D": d, "U_D": u_d, "U_N": u_n}.items()}


def test_law_against_closed_form():
    n = np.array([1e8, 1e9, 2.8e9, 8.67e9])
    d = np.array([1e10, 5e10, 5.5e10, 1.78e11])
    u_d = np.array([1e8, 4e9, 5.5e10, 2.5e10])
    u_n = np.minimum(n, sd.unique_params(u_d))
    ours = np.asarray(LAW.fn(_vars(n, d, u_d, u_n), PUBLISHED))
    np.testing.assert_allclose(ours, _closed_form(n, d, u_d, u_n, PUBLISHED), rtol=1e-12)
    # one epoch and U_N = N: exactly Chinchilla with the same constants
    chin = sl.laws.get("chinchilla").fn({"N": n, "D": d}, PUBLISHED)
    np.testing.assert_allclose(np.asarray(LAW.fn(_vars(n, d, d, n), PUBLISHED)),
                               np.asarray(chin), rtol=1e-12)


def test_law_saturates_and_stays_finite_at_scale():
    # repeated data is worth at most (1 + R_D*) U_D tokens
    u_d = 1e8
    many = LAW.fn(_vars(1e9, 1e20, u_d, 1e9), PUBLISHED)
    limit = sl.laws.get("chinchilla").fn(
        {"N": 1e9, "D": u_d * (1 + PUBLISHED["RD_star"])}, PUBLISHED)
    assert float(many) == pytest.approx(float(limit), rel=1e-12)
    # 1e12 parameters, 1e15 tokens, a millionth of an epoch's repetition: finite, and
    # the log law is the log of the law
    v = _vars([1e12, 1e12], [1e15, 1e15 * (1 + 1e-12)], [1e15, 1e15], [1e12, 1e12])
    out = np.asarray(LAW.log(v, PUBLISHED))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, np.log(np.asarray(LAW.fn(v, PUBLISHED))), rtol=1e-14)
    assert out[0] == pytest.approx(out[1], abs=1e-12)


def _runs(seed=0, n_sizes=4, noise=0.01):
    rng = np.random.default_rng(seed)
    rows = []
    for n in np.geomspace(5e7, 1e9, n_sizes):
        for u in (1e9, 4e9):
            for epochs in (1, 2, 4, 8, 16, 40):
                rows.append({"N": n, "D": u * epochs, "U_D": u, "U_N": n})
    frame = pd.DataFrame(rows)
    true = {**PUBLISHED, "RD_star": 8.0}
    law = _closed_form(frame.N, frame.D, frame.U_D, frame.U_N, true)
    frame["loss"] = law * np.exp(noise * rng.standard_normal(len(frame)))
    return frame, true


def test_bad_input_names_rows_before_compiling():
    frame, _ = _runs()
    bad = frame.copy()
    bad.loc[[3, 7], "U_D"] = bad.loc[[3, 7], "D"] * 2  # half an epoch
    before = bad.copy()
    model = sl.ScalingModel("data_constrained", inputs=INPUTS, target="loss")
    with pytest.raises(ScalingLawError, match=r"U_D exceed.*rows \[3, 7\]"):
        make_design(model, bad)
    pd.testing.assert_frame_equal(bad, before)
    worse = frame.copy()
    worse.loc[5, "U_N"] = worse.loc[5, "N"] * 1.5
    with pytest.raises(ScalingLawError, match=r"U_N exceed.*rows \[5\]"):
        make_design(model, worse)


@pytest.fixture(scope="module")
def small_fit():
    frame, true = _runs()
    model = sl.ScalingModel("data_constrained", inputs=INPUTS, target="loss",
                            priors={"sigma": sl.Prior("HalfNormal", 0.05)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(frame, seed=1, chains=2, warmup=200, draws=200, progress=False)
    return fit, true


def test_epochs_worth_it_matches_the_law_per_draw(small_fit):
    fit, _ = small_fit
    at = {"N": 4e8, "D": 4e10, "U_N": 4e8}
    table = decide.epochs_worth_it(fit, at, epochs=(2, 8, 64), tolerance=0.02)
    assert table["epochs"].tolist() == [1.0, 2.0, 8.0, 64.0]
    assert table["unique_tokens"].tolist() == pytest.approx([4e10, 2e10, 5e9, 6.25e8])
    assert table.loc[0, "penalty_%_median"] == 0.0 and table.loc[0, "prob_within"] == 1.0
    # the penalty grows with epochs in every draw: medians and probabilities are monotone
    assert np.all(np.diff(table["penalty_%_median"]) > 0)
    assert np.all(np.diff(table["prob_within"]) <= 0)
    # the same per-draw penalties from the posterior parameters and the closed form
    post = fit.idata.posterior
    draws = {k: post[k].to_numpy().ravel() for k in PUBLISHED}
    ks = np.array([1.0, 2.0, 8.0, 64.0])
    loss = _closed_form(4e8, 4e10, 4e10 / ks[:, None], 4e8, draws)
    penalty = 100 * (loss / loss[0] - 1)
    assert table["penalty_%_median"].to_numpy() == pytest.approx(np.median(penalty, axis=1),
                                                                 rel=1e-9, abs=1e-12)
    assert table["prob_within"].to_numpy() == pytest.approx((penalty <= 2.0).mean(axis=1))
    expected = ks[(penalty <= 2.0).mean(axis=1) >= 0.9].max()
    assert table.attrs["worth_it"] == expected
    with pytest.raises(ScalingLawError, match="epochs must be"):
        decide.epochs_worth_it(fit, at, epochs=(0.5,))
    # text and tables once reached NumPy's and Python's comparisons (ValueError, TypeError)
    with pytest.raises(ScalingLawError, match="epochs must be"):
        decide.epochs_worth_it(fit, at, epochs=["a"])
    with pytest.raises(ScalingLawError, match="tolerance must be between 0 and 1"):
        decide.epochs_worth_it(fit, at, tolerance="0.02")
    with pytest.raises(ScalingLawError, match="confidence must be between 0 and 1"):
        decide.epochs_worth_it(fit, at, confidence=[0.9])
    with pytest.raises(ScalingLawError, match="at must be a pandas DataFrame"):
        decide.epochs_worth_it(fit, None)
    with pytest.raises(ScalingLawError, match="at has no column 'D'"):
        decide.epochs_worth_it(fit, {"N": 4e8, "U_N": 4e8})
    # text or a non-positive total once reached pandas' to_numeric (ValueError)
    for total in ("web", 0.0, -4e10):
        with pytest.raises(ScalingLawError, match=r"at\['D'\] must be"):
            decide.epochs_worth_it(fit, {"N": 4e8, "D": total, "U_N": 4e8})
    with pytest.raises(ScalingLawError, match="unique_params must be a function"):
        decide.epochs_worth_it(fit, at, unique_params=True)
    with pytest.raises(ScalingLawError, match="one U_N per value of U_D"):
        decide.epochs_worth_it(fit, at, unique_params=lambda u: 4e8)
    with pytest.raises(ScalingLawError, match="without the unique-token column"):
        decide.epochs_worth_it(fit, {**at, "U_D": 1e9})


@pytest.fixture(scope="module")
def stack_parts(small_fit):
    """The data-constrained small fit and a Chinchilla fit of the same runs."""
    fit, _ = small_fit
    frame, _ = _runs()
    model = sl.ScalingModel("chinchilla", inputs={"N": "N", "D": "D"}, target="loss",
                            priors={"sigma": sl.Prior("HalfNormal", 0.05)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chin = model.fit(frame, seed=1, chains=2, warmup=200, draws=200, progress=False)
    return {"constrained": fit, "chinchilla": chin}


def test_epochs_worth_it_under_a_stack_weighs_both_views_of_repeated_data(stack_parts):
    at = {"N": 4e8, "D": 4e10, "U_N": 4e8}
    ask = {"epochs": (2, 8, 64), "tolerance": 0.0125}  # k = 8 sits near the tolerance
    alone = decide.epochs_worth_it(stack_parts["constrained"], at, **ask)
    assert 0.1 < alone.loc[2, "prob_within"] < 0.9
    # a stack of weight 1 on one fit decides from that fit's own draws, reordered
    only = sl.Stack(stack_parts, {"constrained": 1.0})
    same = decide.epochs_worth_it(only, at, **ask)
    for column in ("loss_median", "penalty_%_median", "penalty_%_upper", "prob_within"):
        np.testing.assert_array_equal(same[column], alone[column])
    # Chinchilla counts a repeated token as a fresh one: a penalty of 0 in each of its
    # draws, so P(within) is the constrained model's, weighted, plus the other's weight
    half = sl.Stack(stack_parts, {"constrained": 1.0, "chinchilla": 1.0})
    mixed = decide.epochs_worth_it(half, at, **ask)
    p = alone["prob_within"]
    # each fit gives 200 of its 400 draws at random: the constrained half's share
    # within tolerance has sd sqrt(p (1 - p) / 200 x 200 / 399) (without replacement)
    error = 0.5 * np.sqrt(p * (1 - p) / 200 * 200 / 399)
    assert (np.abs(mixed["prob_within"] - (0.5 * p + 0.5)) <= 4 * error + 1e-12).all()
    assert mixed.loc[3, "prob_within"] == 0.5 and alone.loc[3, "prob_within"] == 0.0
    assert mixed.attrs["worth_it"] >= alone.attrs["worth_it"]
    assert at == {"N": 4e8, "D": 4e10, "U_N": 4e8}  # the caller's at is not changed


def test_a_stack_needs_one_law_of_unique_tokens_read_from_one_column(stack_parts):
    at = {"N": 4e8, "D": 4e10, "U_N": 4e8}
    plain = sl.Stack({"chinchilla": stack_parts["chinchilla"]})
    with pytest.raises(ScalingLawError, match=r"needs a law with variables D and U_D.*"
                                              r"'chinchilla' has \['N', 'D'\]"):
        decide.epochs_worth_it(plain, at)
    other = dataclasses.replace(stack_parts["chinchilla"], spec=sl.ScalingModel(
        "chinchilla", inputs={"N": "N", "D": "tokens"}, target="loss"))
    with pytest.raises(ScalingLawError, match=r"different columns \{'D': \['D', 'tokens'\]\}"):
        decide.epochs_worth_it(sl.Stack({**stack_parts, "chinchilla": other},
                                        {"constrained": 1.0}), at)
    with pytest.raises(ScalingLawError, match="fit is a Stack .*each of stack.fits"):
        decide.choose_size(plain, compute=1e20)
    # a stack of one fit allocates as that fit does
    pd.testing.assert_frame_equal(
        decide.compute_optimal(plain, 1e20).drop(columns="method"),
        decide.compute_optimal(stack_parts["chinchilla"], 1e20).drop(columns="method"))


@pytest.mark.slow
def test_recovers_the_half_life_on_synthetic_runs():
    frame, true = _runs(seed=3, n_sizes=5, noise=0.005)
    model = sl.ScalingModel("data_constrained", inputs=INPUTS, target="loss",
                            priors={"sigma": sl.Prior("HalfNormal", 0.05)})
    fit = model.fit(frame, seed=0, chains=4, warmup=500, draws=500, progress=False)
    summary = fit.summary()
    assert summary["r_hat"].max() < 1.02
    for name in ("RD_star", "E", "beta"):
        row = summary.loc[name]
        assert row["lower"] <= true[name] <= row["upper"], name


def test_study_pieces():
    assert sd.unique_params([1e8])[0] == pytest.approx(
        1e8 * np.exp(2 * (6.255414 - 7.3049974) / (2 * 0.3526596)), rel=1e-12)
    frame = pd.DataFrame({"N": [1e8, 1e8], "D": [4e8, 5e8], "unique_tokens": [1e8, 1e8],
                          "loss": [4.0, np.nan], "in_paper_fit_182": [True, True]})
    out = sd.datablations_frame(frame)
    assert len(out) == 1 and out["U_N"].iloc[0] == pytest.approx(sd.unique_params([1e8])[0])
    assert sorted(rp.specs("datablations2023")) == sorted(sd.specs())


def _need_data() -> pd.DataFrame:
    if not (DATA / "datablations2023").is_dir():
        pytest.skip(f"no datablations2023 data at {DATA}: set SCALINGLAWS_DATA to the "
                    f"project's shared/data to run the real-data checks")
    return sl.datasets.load("datablations2023", data_dir=DATA)


def test_oscar_runs_are_the_final_points_of_their_curves():
    _need_data()
    runs = sl.datasets.load("datablations2023", "runs", data_dir=DATA)
    before = runs.copy()
    oscar = sd.oscar_frame(runs)
    pd.testing.assert_frame_equal(runs, before)
    assert len(oscar) == 22 and (oscar["dataset"] == "oscar").all()
    assert sorted(oscar["N"].unique()) == [2.81e9, 4.2465e9, 8.67e9]
    assert oscar["epochs"].min() == pytest.approx(1.0) and oscar["epochs"].max() > 44
    assert (oscar["U_N"] <= oscar["N"]).all()
    with pytest.raises(ScalingLawError, match="no column"):
        sd.oscar_frame(runs.drop(columns=["is_final"]))


def test_published_constants_reproduce_the_notebook():
    frame = sd.datablations_frame(_need_data())
    assert len(frame) == 182
    parts = sd.datablations_split(frame)
    assert (len(parts["fit"]), len(parts["held_out"])) == (57, 125)
    pred = sd.published_loss(frame["N"], frame["D"], frame["U_D"])
    y = frame["loss"].to_numpy()
    r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert r2 == pytest.approx(0.7722046084968408, abs=1e-9)  # notebook cell 34
    held = parts["held_out"]
    err = np.abs(sd.published_loss(held["N"], held["D"], held["U_D"]) - held["loss"])
    assert (err / held["loss"]).mean() == pytest.approx(0.0618, abs=5e-5)  # DATA.md: 6.18%


@settings(FUZZ, deadline=None)  # the first prediction compiles
@given(st.data())
def test_epochs_worth_it_with_random_arguments(small_fit, data):
    """Every argument of epochs_worth_it replaced by random values of any kind: a table or
    a ScalingLawError (the decide fuzz of test_fuzz.py fits Chinchilla, which this
    function refuses before reading them)."""
    fit, _ = small_fit
    names = ["at", "epochs", "tolerance", "confidence", "interval", "unique_params", "seed"]
    values = st.one_of(ARGUMENTS, st.sampled_from([lambda u: u, lambda u: 4e8, len, print,
                                                   (2, 8), [1.0, 1e300], -3]))
    kwargs = {"at": {"N": 4e8, "D": 4e10, "U_N": 4e8},
              **data.draw(st.dictionaries(st.sampled_from(names), values, max_size=2))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_scaling_law_errors(partial(decide.epochs_worth_it, fit, **kwargs))
