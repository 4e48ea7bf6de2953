"""Model comparison (scalinglaws.compare): PSIS-LOO, WAIC, stacking, comparability checks."""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter

import arviz as az
import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws import cli
from scalinglaws.compare import Comparison, compare, stacking_weights
from scalinglaws.errors import ScalingLawError
from scalinglaws.fitset import check_comparable, combined_data

SAMPLER = {"chains": 2, "warmup": 200, "draws": 200, "progress": False}


@pytest.fixture(scope="module")
def runs():
    """Twenty runs of a compute law with a clear irreducible loss."""
    rng = np.random.default_rng(1)
    compute = np.geomspace(1e15, 1e20, 20)
    truth = 2.0 + 2.0 * (compute / 1e15) ** -0.25
    return pd.DataFrame({"C": compute, "loss": truth * np.exp(0.01 * rng.standard_normal(20)),
                         "true_loss": truth})


@pytest.fixture(scope="module")
def fits(runs):
    models = {"floor": sl.ScalingModel("compute", target="loss"),
              "power": sl.ScalingModel("A*(C/1e17)**-alpha", target="loss")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {name: model.fit(runs, seed=0, **SAMPLER) for name, model in models.items()}


@pytest.fixture(scope="module")
def table(fits):
    return compare(fits)


def test_table_is_ranked_and_complete(table, runs):
    assert isinstance(table, Comparison)
    assert list(table.columns[:7]) == ["rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo",
                                       "weight"]
    for column in ("elpd_waic", "se_waic", "p_waic", "k_ok", "k_bad", "k_very_bad", "k_flag",
                   "sampler_warnings"):
        assert column in table.columns
    assert list(table["rank"]) == [0, 1]
    assert table["elpd_loo"].is_monotonic_decreasing
    assert table.index[0] == "floor"                 # the true law wins in-sample
    assert table.iloc[0]["elpd_diff"] == 0 and table.iloc[1]["elpd_diff"] > 0
    assert table.iloc[1]["dse"] > 0
    assert table["weight"].sum() == pytest.approx(1.0)
    counts = table[["k_ok", "k_bad", "k_very_bad"]].sum(axis=1)
    assert (counts == len(runs)).all()
    assert (table["k_flag"] == (table["k_bad"] + table["k_very_bad"] > 0)).all()


def test_numbers_are_arviz_numbers(table, fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = az.compare({n: f.idata for n, f in fits.items()}, method="stacking")
        for name, fit in fits.items():
            loo = az.loo(fit.idata, pointwise=True)
            waic = az.waic(fit.idata)
            row = table.loc[name]
            assert row["elpd_loo"] == pytest.approx(loo.elpd_loo)
            assert row["se"] == pytest.approx(loo.se)
            assert row["p_loo"] == pytest.approx(loo.p_loo)
            assert row["elpd_waic"] == pytest.approx(waic.elpd_waic)
            assert row["k_ok"] == int((np.asarray(loo.pareto_k) <= 0.7).sum())
    for column in ("elpd_diff", "dse", "weight"):
        np.testing.assert_allclose(table[column], reference.loc[table.index, column],
                                   rtol=1e-6, atol=1e-9)


def test_notes_and_html(table):
    assert table.notes and "'floor' has the highest expected log predictive density" in \
        table.notes[0]
    assert "extrapolation" in table.notes[0]
    page = table._repr_html_()
    assert "<table" in page and "floor" in page and "<li>" in page
    assert table.attrs["arviz"].index[0] == "floor"
    assert isinstance(table[["elpd_loo"]], Comparison)   # slicing keeps the type


def test_comparison_plot(table):
    import matplotlib.pyplot as plt

    from scalinglaws.plotting import plot_comparison

    fig = plot_comparison(table)
    assert fig.axes
    plt.close(fig)
    with pytest.raises(ScalingLawError, match="sl.compare"):
        plot_comparison(pd.DataFrame(table))


def test_single_fit(fits):
    one = compare(fits["floor"])
    assert list(one.index) == ["compute"] and one["weight"].iloc[0] == pytest.approx(1.0)


def test_combined_data(fits, runs):
    frame = combined_data(fits)
    np.testing.assert_allclose(frame["loss"], runs["loss"])
    np.testing.assert_allclose(frame["C"], runs["C"])


# --- comparability: the same target, scale and rows -----------------------------------------

def test_refuses_other_target(fits):
    other = dataclasses.replace(
        fits["power"], spec=sl.ScalingModel("A*(C/1e17)**-alpha", target="true_loss"))
    with pytest.raises(ScalingLawError, match="different targets .*'loss' vs 'true_loss'"):
        compare({"floor": fits["floor"], "other": other})


def test_refuses_other_scale(fits):
    other = dataclasses.replace(
        fits["power"], spec=sl.ScalingModel("A*(C/1e17)**-alpha", target="loss",
                                            scale="identity"))
    with pytest.raises(ScalingLawError, match="different scales"):
        compare({"floor": fits["floor"], "other": other})


def test_refuses_other_rows(fits):
    fit = fits["power"]
    fewer = dataclasses.replace(fit, design=dataclasses.replace(
        fit.design, y=fit.design.y[:-1], index=fit.design.index[:-1]))
    with pytest.raises(ScalingLawError, match="20 vs 19 rows"):
        compare({"floor": fits["floor"], "fewer": fewer})
    changed = dataclasses.replace(fit, design=dataclasses.replace(
        fit.design, y=fit.design.y * np.r_[1.0, 1.0, 1.1, np.ones(17)]))
    with pytest.raises(ScalingLawError, match="different target values .*row '2', position 2"):
        compare({"floor": fits["floor"], "changed": changed})
    order = np.r_[1, 0, np.arange(2, 20)]
    swapped = dataclasses.replace(fit, design=dataclasses.replace(
        fit.design, y=fit.design.y[order], index=fit.design.index[order]))
    with pytest.raises(ScalingLawError, match="different order"):
        check_comparable({"floor": fits["floor"], "swapped": swapped})
    relabelled = dataclasses.replace(fit, design=dataclasses.replace(
        fit.design, index=pd.Index([f"r{i}" for i in range(20)])))
    with pytest.raises(ScalingLawError, match="different rows .*position 0: '0' vs 'r0'"):
        check_comparable({"floor": fits["floor"], "relabelled": relabelled})


@pytest.mark.parametrize("bad, message", [
    ({}, "no fits"),
    ([1, 2], "dict of named fits"),
    ({"a": "a.nc"}, "sl.load"),
    ({"": None}, "non-empty strings"),
])
def test_bad_arguments(bad, message):
    with pytest.raises(ScalingLawError, match=message):
        compare(bad)


def test_refuses_fit_without_log_likelihood(fits):
    idata = fits["floor"].idata.copy()
    del idata.log_likelihood
    with pytest.raises(ScalingLawError, match="no pointwise log likelihood"):
        compare({"a": dataclasses.replace(fits["floor"], idata=idata)})


# --- command line -------------------------------------------------------------------------

def test_cli_compare(fits, tmp_path, capsys):
    paths = []
    for name, fit in fits.items():
        paths.append(str(fit.save(tmp_path / f"{name}.nc")))
    out = tmp_path / "table.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["compare", *paths, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "elpd_loo" in text and "floor" in text and "highest expected" in text
    assert pd.read_csv(out, index_col=0).index[0] == "floor"
    # --at: the rows predicted by the fits stacked by the table's weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["compare", *paths, "--at", "C=1e21", "--at", "C=1e22",
                         "--interval", "0.5"]) == 0
    text = capsys.readouterr().out
    table = compare({n: sl.load(p) for n, p in zip(fits, paths, strict=True)})
    expected = sl.stacked_predict(fits, pd.DataFrame({"C": [1e21, 1e22]}), weights=table,
                                  interval=0.5)
    assert f"stacked prediction (weights: floor {table.loc['floor', 'weight']:.3f}" in text
    assert f"{expected['pred_upper'].iloc[1]:.4g}"[:5] in text
    assert cli.main(["compare", *paths, "--at", "C"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert cli.main(["compare", *paths, "--names", "only-one"]) == 2
    assert "--names must give 2" in capsys.readouterr().err
    assert cli.main(["compare", *paths, "--holdout", "big"]) == 2
    assert "--holdout takes numbers" in capsys.readouterr().err
    # the table never replaces an input: it once wrote a CSV over the first fit
    assert cli.main(["compare", *paths, "--out", paths[0]]) == 2
    assert "should end in .csv" in capsys.readouterr().err
    assert cli.main(["compare", *paths, "--out", str(out), "--data", str(out)]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    sl.load(paths[0])


@pytest.mark.slow
def test_compare_with_holdout(fits):
    table = compare(fits, holdout=10**19.4, **{k: v for k, v in SAMPLER.items()
                                               if k != "progress"})
    for column in ("holdout_rank", "holdout_elpd", "holdout_are_mean", "holdout_coverage_90"):
        assert column in table.columns
    assert table.attrs["validation"].thresholds == [10**19.4]


# --- model averaging: stacked predictive draws ----------------------------------------------

NEW_RUNS = pd.DataFrame({"C": [1e20, 1e21, 1e22]})


def test_stacked_draws_mix_each_fits_own_draws_by_its_weight(fits):
    weights = {"floor": 3.0, "power": 1.0}
    before = dict(weights)
    draws = sl.stacked_draws(fits, NEW_RUNS, weights=weights, seed=2)
    assert weights == before  # the caller's weights are not normalised in place
    n = 2 * SAMPLER["draws"]
    assert draws["law"].shape == draws["observed"].shape == (n, 3)
    assert {m: int((draws["model"] == m).sum()) for m in fits} == {"floor": 300, "power": 100}
    for name, fit in fits.items():
        own = fit.predict_draws(NEW_RUNS, seed=2)
        mine = draws["model"] == name
        # every draw is one of that fit's own predictive draws, each used at most once (a
        # chain may repeat a state, so a value may appear as often as it does there)
        available = Counter(tuple(r) for r in own["law"])
        used = Counter(tuple(r) for r in draws["law"][mine])
        assert all(count <= available[row] for row, count in used.items())
    assert not (draws["model"][:300] == "floor").all()  # shuffled, not in blocks


def test_stacked_draws_take_as_many_draws_as_the_shortest_fit_has(fits):
    short = dataclasses.replace(fits["power"],
                                idata=fits["power"].idata.isel(draw=slice(0, 50)))
    draws = sl.stacked_draws({"floor": fits["floor"], "power": short}, NEW_RUNS,
                             weights={"floor": 0.5, "power": 0.5})
    assert draws["law"].shape == (100, 3)  # 2 chains x 50 draws
    assert {m: int((draws["model"] == m).sum()) for m in fits} == {"floor": 50, "power": 50}


def test_a_fit_of_weight_one_predicts_as_it_does_alone(fits):
    alone = fits["floor"].predict(NEW_RUNS, seed=1)
    stacked = sl.stacked_predict(fits, NEW_RUNS, weights={"floor": 1.0}, seed=1)
    assert list(stacked.columns) == list(alone.columns)
    for column in ("median", "lower", "upper", "pred_lower", "pred_upper"):
        np.testing.assert_array_equal(stacked[column], alone[column])  # the same draws
    np.testing.assert_allclose(stacked["mean"], alone["mean"], rtol=1e-12)
    assert stacked.attrs["weights"] == {"floor": 1.0, "power": 0.0}


def test_stacked_prediction_lies_between_the_models(fits, table):
    stacked = sl.stacked_predict(fits, NEW_RUNS)  # default: compare's stacking weights
    weights = table["weight"] / table["weight"].sum()
    assert stacked.attrs["weights"] == pytest.approx(weights.to_dict())
    # a mixture's 5% and 95% points lie between its parts' (here against the parts' 1%
    # and 99%, a margin for the Monte Carlo error of the draws each part gives)
    wide = {name: fit.predict(NEW_RUNS, interval=0.98) for name, fit in fits.items()}
    low = np.minimum(wide["floor"]["pred_lower"], wide["power"]["pred_lower"])
    high = np.maximum(wide["floor"]["pred_upper"], wide["power"]["pred_upper"])
    assert ((stacked["pred_lower"] >= low) & (stacked["pred_upper"] <= high)).all()
    assert NEW_RUNS.columns.tolist() == ["C"]  # the rows passed are not changed


def test_stacking_weights_come_from_a_comparison_table(fits, table):
    from scalinglaws.compare import stacking_weights

    assert stacking_weights(fits, table) == pytest.approx(
        (table["weight"] / table["weight"].sum()).to_dict())


def test_a_stack_predicts_as_stacked_predict(fits):
    stack = sl.Stack(fits, {"floor": 3.0, "power": 1.0})
    assert stack.weights == {"floor": 0.75, "power": 0.25}
    assert stack.target == "loss" and repr(stack) == "Stack(floor 0.75, power 0.25)"
    pd.testing.assert_frame_equal(
        stack.predict(NEW_RUNS, seed=3),
        sl.stacked_predict(fits, NEW_RUNS, weights={"floor": 3.0, "power": 1.0}, seed=3))
    draws = stack.predict_draws(NEW_RUNS, seed=3)
    assert {m: int((draws["model"] == m).sum()) for m in fits} == {"floor": 300, "power": 100}
    with pytest.raises(ScalingLawError, match="seed"):
        stack.predict_draws(NEW_RUNS, seed=-1)
    with pytest.raises(ScalingLawError, match="compare takes a dict of named fits"):
        sl.Stack([fits["floor"]])


def test_decisions_under_a_stack_mix_the_models_draws(fits):
    at, goal = {"C": [1e20, 1e21]}, [1.95, 1.72]
    alone = {name: sl.decide.prob_target(fit, goal, at, predictive=False)
             for name, fit in fits.items()}
    # weight 1 on one fit: that fit's draws, reordered, so the same probabilities
    only = sl.decide.prob_target(sl.Stack(fits, {"power": 1.0}), goal, at, predictive=False)
    np.testing.assert_array_equal(only["p_reach"], alone["power"]["p_reach"])
    np.testing.assert_array_equal(only["median"], alone["power"]["median"])
    # equal weights: each fit gives 200 of its 400 draws, so P(reach) is the average of
    # the two within the Monte Carlo error of drawing half of each without replacement
    mixed = sl.decide.prob_target(sl.Stack(fits, {"floor": 1, "power": 1}), goal, at,
                                  predictive=False)
    p = {name: table["p_reach"].to_numpy() for name, table in alone.items()}
    assert (np.abs(p["floor"] - p["power"]) > 0.3).all()  # the models disagree here
    sd = 0.5 * np.sqrt(sum(q * (1 - q) for q in p.values()) / 200 * 200 / 399)
    assert (np.abs(mixed["p_reach"] - 0.5 * (p["floor"] + p["power"])) <= 4 * sd + 1e-12).all()
    # paired comparisons stay paired: both rows of a draw come from one model
    stack = sl.Stack(fits, {"floor": 1, "power": 1})
    better = sl.decide.prob_better(stack, {"C": 1e22}, {"C": 1e21}, at={"C": [1e20]})
    assert better.loc[0, "p_a_better"] == 1.0  # more compute, lower loss, in every draw
    versus = sl.decide.prob_better(fits["floor"], {"C": 1e22}, None, at={"C": [1e22]},
                                   fit_b=stack)
    assert 0.0 < versus.loc[0, "p_b_better"] < 1.0
    with pytest.raises(ScalingLawError, match="fit_b must be a scalinglaws fit .*or a sl.Stack"):
        sl.decide.prob_better(fits["floor"], {"C": 1e22}, None, at={"C": [1e22]}, fit_b=3)
    with pytest.raises(ScalingLawError, match="fit is a Stack .*each of stack.fits"):
        sl.decide.next_run(stack, pd.DataFrame({"C": [1e19]}), {"C": 1e22})


@pytest.mark.parametrize("weights, message", [
    ({"floor": 1.0, "kaplan": 1.0}, r"not among the fits \['floor', 'power'\]"),
    ({"floor": -1.0, "power": 2.0}, "non-negative numbers"),
    ({"floor": float("nan")}, "non-negative numbers"),
    ({"floor": True}, "non-negative numbers"),
    ({"floor": "0.5"}, "non-negative numbers"),
    ({"floor": 0.0, "power": 0}, "at least one fit needs a positive weight"),
    ([0.5, 0.5], "weights must be a table"),
    (pd.DataFrame({"w": [1.0]}, index=["floor"]), "'weight' column"),
])
def test_bad_weights_are_named(fits, weights, message):
    with pytest.raises(ScalingLawError, match=message):
        sl.stacked_predict(fits, NEW_RUNS, weights=weights)


def test_stacking_needs_fits_of_one_target(fits):
    other = dataclasses.replace(
        fits["power"], spec=sl.ScalingModel("A*(C/1e17)**-alpha", target="true_loss"))
    with pytest.raises(ScalingLawError, match="different targets"):
        sl.stacked_draws({"floor": fits["floor"], "other": other}, NEW_RUNS,
                         weights={"floor": 1, "other": 1})
    with pytest.raises(ScalingLawError, match="seed"):
        sl.stacked_draws(fits, NEW_RUNS, weights={"floor": 1}, seed=-1)
    with pytest.raises(ScalingLawError, match="interval"):
        sl.stacked_predict(fits, NEW_RUNS, weights={"floor": 1}, interval=1.5)


def test_two_fits_that_cannot_be_told_apart_are_not_distinguishable(fits):
    table = compare({"a": fits["floor"], "b": fits["floor"]})
    assert table.loc["b", "dse"] == 0
    assert "not distinguishable from the runner-up" in table.notes[0]


def test_weights_near_the_float_limit_are_normalised(fits):
    assert stacking_weights(fits, {"floor": 1e308, "power": 1e308}) == {"floor": 0.5,
                                                                         "power": 0.5}


def test_a_stack_warns_what_its_fits_would(fits):
    stack = sl.Stack(fits, {"floor": 0.5, "power": 0.5})
    far = pd.DataFrame({"C": [1e26]})
    assert stack.prediction_notes(far) == fits["floor"].prediction_notes(far)
    assert "decades above the largest fitted C" in stack.prediction_notes(far)[0]
    for predict in (stack.predict, lambda rows: sl.stacked_predict(fits, rows,
                                                                   weights=stack.weights)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            predict(far)
        notes = [w for w in caught if issubclass(w.category, sl.ScalingLawWarning)]
        assert [str(w.message) for w in notes] == stack.prediction_notes(far)  # once each
        assert notes[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stack.predict_draws(far)  # quiet, as a fit's predict_draws
