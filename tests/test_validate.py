"""Leave-largest-scale-out validation (scalinglaws.validate).

The headline test: on synthetic runs with a known break at large scale, the model that
fits the small runs better (higher PSIS-LOO) extrapolates worse, and the extrapolation
validation ranks it lower.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

import scalinglaws as sl
from scalinglaws.compare import compare
from scalinglaws.errors import ScalingLawError
from scalinglaws.validate import extrapolation, log_density, scale_values

SAMPLER = {"chains": 2, "warmup": 200, "draws": 200}
#: Compute at which the truth leaves its apparent floor.
BREAK = 10**19.25
THRESHOLD = 10**19.4


def break_runs(seed: int = 0, sigma: float = 0.01) -> pd.DataFrame:
    """Runs from 1e15 to 1e20 FLOPs whose loss has a known break at large scale.

    Below ``BREAK`` the loss is ``2 + 2 (C/1e15)^-0.25``: it bends towards a floor at 2.
    Beyond it, the loss leaves that apparent floor and keeps falling as a power law, 1.5
    times as steeply (in log-log) as the average slope below the break. A law with an
    irreducible term fits the small runs better but predicts a plateau that the large
    runs do not show.
    """
    rng = np.random.default_rng(seed)
    compute = 10 ** np.arange(15.0, 20.01, 0.25)

    def below(c):
        return 2.0 + 2.0 * (c / 1e15) ** -0.25

    slope = 1.5 * np.log(below(1e15) / below(BREAK)) / np.log(BREAK / 1e15)
    truth = np.where(compute <= BREAK, below(compute),
                     below(BREAK) * (compute / BREAK) ** -slope)
    loss = truth * np.exp(sigma * rng.standard_normal(compute.size))
    return pd.DataFrame({"C": compute, "loss": loss, "true_loss": truth})


MODELS = {
    "floor": sl.ScalingModel("compute", target="loss"),
    "power": sl.ScalingModel("A*(C/1e17)**-alpha", target="loss"),
}


@pytest.fixture(scope="module")
def runs():
    return break_runs()


@pytest.fixture(scope="module")
def result(runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extrapolation(MODELS, runs, holdout=THRESHOLD, by="C", seed=0, **SAMPLER)


# --- the headline ------------------------------------------------------------------------

def test_better_in_sample_but_worse_extrapolating_model_is_ranked_lower(result):
    fitted = {name: result.fits[(name, THRESHOLD)] for name in MODELS}
    in_sample = compare(fitted)
    assert in_sample.index[0] == "floor", in_sample          # LOO prefers the floor ...
    assert in_sample.loc["power", "elpd_diff"] > 2 * in_sample.loc["power", "dse"]
    summary = result.summary()
    assert summary.index[0] == "power", summary               # ... extrapolation does not
    assert summary.loc["floor", "rank"] == 1
    points = result.points.pivot(index="row", columns="model", values="lpd")
    assert (points["power"] > points["floor"]).all(), points    # at every held-out run
    assert summary.loc["power", "are_mean"] < summary.loc["floor", "are_mean"]
    assert summary.loc["floor", "coverage_90"] < summary.loc["power", "coverage_90"]
    assert any("'power' predicts the held-out larger runs best" in n for n in result.notes)


# --- what the scores are -----------------------------------------------------------------

def test_points_and_scores_layout(result, runs):
    held_out = runs[runs["C"] >= THRESHOLD]
    assert len(result.points) == len(MODELS) * len(held_out)
    for column in ("model", "threshold", "row", "C", "observed", "median", "lower_50",
                   "upper_50", "lower_90", "upper_90", "lpd", "are", "pit"):
        assert column in result.points.columns, column
    scores = result.scores.set_index("model")
    assert (scores["n_train"] == (runs["C"] < THRESHOLD).sum()).all()
    assert (scores["n_holdout"] == len(held_out)).all()
    for name, frame in result.points.groupby("model"):
        assert scores.loc[name, "elpd"] == pytest.approx(frame["lpd"].sum())
        assert scores.loc[name, "are_mean"] == pytest.approx(100 * frame["are"].mean())
        np.testing.assert_allclose(frame["observed"], held_out["loss"])
    assert result.thresholds == [THRESHOLD]
    assert result.models == list(MODELS)


def test_held_out_density_is_the_models_own_noise(result, runs):
    """lpd = log mean_s Normal(log y | log law_s, sigma_s): checked by hand."""
    fit = result.fits[("power", THRESHOLD)]
    held_out = runs[runs["C"] >= THRESHOLD]
    ll = log_density(fit, held_out)
    draws = fit.predict_draws(held_out)
    sigma = fit.draws()["sigma"][:, None]
    by_hand = norm.logpdf(np.log(held_out["loss"].to_numpy()), np.log(draws["law"]), sigma)
    np.testing.assert_allclose(ll, by_hand, rtol=1e-10)
    lpd = logsumexp(by_hand, axis=0) - np.log(by_hand.shape[0])
    points = result.points[result.points["model"] == "power"]
    np.testing.assert_allclose(points["lpd"], lpd, rtol=1e-10)


def test_median_error_and_pit(result, runs):
    fit = result.fits[("floor", THRESHOLD)]
    held_out = runs[runs["C"] >= THRESHOLD]
    draws = fit.predict_draws(held_out, seed=0)
    y = held_out["loss"].to_numpy()
    points = result.points[result.points["model"] == "floor"]
    median = np.median(draws["law"], axis=0)
    np.testing.assert_allclose(points["median"], median)
    np.testing.assert_allclose(points["are"], np.abs(median - y) / y)
    np.testing.assert_allclose(points["pit"], (draws["observed"] < y).mean(axis=0))


def test_coverage_table_agrees_with_scores(result):
    table = result.coverage(levels=(0.5, 0.9))
    scores = result.scores.set_index("model")
    for _, row in table.iterrows():
        column = f"coverage_{int(round(100 * row['nominal']))}"
        assert row["empirical"] == pytest.approx(scores.loc[row["model"], column])
        assert 0 <= row["band_lower"] <= row["nominal"] <= row["band_upper"] <= 1
    assert set(result.summary().columns) >= {"rank", "elpd", "elpd_diff", "dse", "are_mean",
                                             "coverage_50", "coverage_90"}


def test_figures_and_html(result):
    import matplotlib.pyplot as plt

    for fig in (result.plot(), result.plot_holdout()):
        assert fig.axes
        plt.close(fig)
    page = result._repr_html_()
    assert "<table" in page and "power" in page


# --- input errors (no fitting) -------------------------------------------------------------

@pytest.mark.parametrize("holdout, message", [
    (1e30, "holds out no runs"),
    (1e10, "leaves no runs to fit"),
    (-1.0, "positive numbers"),
    ("biggest", "'largest'"),
    ([], "empty"),
    (True, "positive numbers"),
])
def test_bad_thresholds(runs, holdout, message):
    with pytest.raises(ScalingLawError, match=message):
        extrapolation(MODELS["floor"], runs, holdout=holdout)


def test_bad_inputs(runs):
    with pytest.raises(ScalingLawError, match="cannot split runs by 'N'"):
        extrapolation(MODELS["floor"], runs, holdout=1e19, by="N")
    with pytest.raises(ScalingLawError, match="data is needed"):
        extrapolation(MODELS["floor"], None, holdout=1e19)
    with pytest.raises(ScalingLawError, match="intervals"):
        extrapolation(MODELS["floor"], runs, holdout=1e19, intervals=(0.5, 1.5))
    with pytest.raises(ScalingLawError, match="different quantities"):
        extrapolation({"a": MODELS["floor"],
                       "b": sl.ScalingModel("compute", target="true_loss")}, runs, holdout=1e19)
    with pytest.raises(ScalingLawError, match="ScalingModel, a Fit"):
        extrapolation({"a": "compute"}, runs, holdout=1e19)
    bad = runs.assign(C=runs["C"].where(runs.index != 3, -1.0))
    with pytest.raises(ScalingLawError, match="positive and finite"):
        extrapolation(MODELS["floor"], bad, holdout=1e19)


def test_scale_values():
    runs = sl.synthetic.sweep(seed=0)
    spec = sl.ScalingModel("chinchilla", target="loss")
    np.testing.assert_allclose(scale_values(spec, runs.drop(columns="C"), "C"),
                               6 * runs["N"] * runs["D"])
    np.testing.assert_allclose(scale_values(spec, runs, "N"), runs["N"])
    with pytest.raises(ScalingLawError, match="by must be a column name"):
        scale_values(spec, runs, 3)
