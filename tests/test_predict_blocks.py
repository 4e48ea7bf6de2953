"""Predictions of many rows run in blocks of rows (scalinglaws.prediction.row_blocks), so
their draws never all sit in memory at once; blocked and whole predictions must agree."""

import itertools

import numpy as np
import pandas as pd
import pytest
from test_losstoloss import _fake_fit

import scalinglaws.fit
import scalinglaws.prediction
from scalinglaws import losstoloss as ltl
from scalinglaws.discrepancy import Discrepancy
from scalinglaws.prediction import row_blocks


@pytest.fixture(scope="module")
def link_fit():
    pairs = ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y=["code", "books"],
                                    loss="loss")
    spec = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y", "K": "dataset_y",
                                                    "E_y": "dataset_y"})
    return _fake_fit(spec, pairs, n=1000)


def _rows(n):
    """``n`` rows at three sizes, alternating a fitted dataset and one never fitted, so
    the new level appears in every block."""
    size = np.resize([1e8, 1e9, 1e10], n)
    return pd.DataFrame({"N": size, "D": 20 * size,
                         "dataset": np.resize(["web", "unseen"], n)})


def _mc_error(draws, column):
    """Monte Carlo standard error of one summary column, per row, from whole-prediction
    draws (draws, rows): sd / sqrt(n) for the mean; for a quantile p, sqrt(p(1 - p) / n)
    over the draws' density at it (a finite difference of quantiles)."""
    n = len(draws)
    if column == "mean":
        return draws.std(axis=0) / np.sqrt(n)
    p = {"lower": 0.05, "median": 0.5, "upper": 0.95}[column]
    h = 0.02
    density = 2 * h / (np.quantile(draws, p + h, axis=0) - np.quantile(draws, p - h, axis=0))
    return np.sqrt(p * (1 - p) / n) / density


def _assert_within_mc_error(blocked, whole, draws, columns):
    for column, entry in columns.items():
        stat = column.split("_")[-1]
        error = _mc_error(draws[entry], stat)
        # two estimates from different noise: 5 standard errors of their difference
        assert np.all(np.abs(blocked[column] - whole[column]) <= 5 * np.sqrt(2) * error), column


def test_row_blocks_cover_the_rows_in_bucket_sized_blocks():
    for n_rows, n_draws in [(1, 4000), (90, 4000), (2500, 4000), (20_000, 4000),
                            (50, 10**7), (3000, 1)]:
        blocks = row_blocks(n_rows, n_draws)
        assert blocks[0].start == 0 and blocks[-1].stop == n_rows
        assert all(a.stop == b.start for a, b in itertools.pairwise(blocks))
        sizes = {b.stop - b.start for b in blocks[:-1]}
        assert len(sizes) <= 1  # every full block runs the same compiled program
        assert all(size * n_draws <= scalinglaws.prediction.BLOCK_VALUES or size == 16
                   for size in sizes)
    assert len(row_blocks(20_000, 4000)) == 20  # 1,024 rows x 4,000 draws per block


def test_a_prediction_in_blocks_equals_the_whole_one(hierarchical_fit, monkeypatch):
    rows = _rows(40)
    whole = hierarchical_fit.predict(rows, seed=3)
    draws = hierarchical_fit.predict_draws(rows, seed=3)
    n_draws = len(draws["law"])
    seen = []
    predict = scalinglaws.fit.predict_draws

    def spy(spec, design, *args):
        seen.append(design.n_rows)
        return predict(spec, design, *args)

    monkeypatch.setattr(scalinglaws.prediction, "BLOCK_VALUES", 16 * n_draws)
    monkeypatch.setattr(scalinglaws.fit, "predict_draws", spy)
    with pytest.warns(match="unseen"):
        blocked = hierarchical_fit.predict(rows, seed=3)
    assert seen == [16, 16, 8]
    assert list(blocked.columns) == list(whole.columns)
    # the noise-free law has no randomness of its own rows: a new level's offsets are
    # drawn once for all blocks, so blocks give exactly the whole prediction's law
    for column in ("mean", "median", "lower", "upper"):
        np.testing.assert_allclose(blocked[column], whole[column], rtol=1e-10)
    unseen = rows.index[rows["dataset"] == "unseen"]
    same = blocked.loc[unseen].groupby(rows.loc[unseen, "N"])["median"].nunique()
    assert (same == 1).all()  # the same new level and inputs in three blocks
    # new observations draw their noise per block: equal within Monte Carlo error
    _assert_within_mc_error(blocked, whole, draws,
                            {"pred_lower": "observed", "pred_upper": "observed"})
    assert not np.array_equal(blocked["pred_lower"].iloc[16:32], whole["pred_lower"].iloc[16:32])
    with pytest.warns(match="unseen"):
        shifted = hierarchical_fit.predict(rows, seed=3, discrepancy=Discrepancy(
            bias=0.1, sd=0.0, units=5))
    np.testing.assert_allclose(shifted["median"], whole["median"] * np.exp(0.1), rtol=1e-10)


def test_a_loss_to_loss_prediction_in_blocks_agrees_with_the_whole_one(link_fit, monkeypatch):
    rows = pd.DataFrame({"N": np.geomspace(1e8, 3e9, 40), "D": np.geomspace(2e9, 6e10, 40),
                         "dataset_y": np.resize(["code", "books"], 40),
                         "loss_x": np.resize([np.nan, 2.3, 2.6, np.nan], 40)})
    whole = link_fit.predict(rows, seed=2)
    draws = link_fit.predict_draws(rows, seed=2)
    monkeypatch.setattr(scalinglaws.prediction, "BLOCK_VALUES", 16 * len(draws["law"]))
    blocked = link_fit.predict(rows, seed=2)
    assert list(blocked.columns) == list(whole.columns)
    _assert_within_mc_error(blocked, whole, draws,
                            {"mean": "law", "median": "law", "lower": "law", "upper": "law",
                             "pred_lower": "observed", "pred_upper": "observed",
                             "x_median": "x", "x_lower": "x", "x_upper": "x"})
    # the latent input losses of later blocks are new draws, not the first block's again
    assert not np.array_equal(blocked["x_median"].iloc[16:32], whole["x_median"].iloc[16:32])
