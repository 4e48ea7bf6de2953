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
    # text and a bare number once reached Python's comparison and iteration (TypeError)
    for levels in (("0.5",), 0.9, (0.5, 1.0)):
        with pytest.raises(ScalingLawError, match="levels must be|each of levels must be"):
            result.coverage(levels=levels)


def test_figures_and_html(result):
    import matplotlib.pyplot as plt

    for fig in (result.plot(), result.plot_holdout()):
        assert fig.axes
        plt.close(fig)
    # found by fuzzing: text and huge counts reached NumPy, an array its truth value
    for bins in ("abc", -1, 2**70):
        with pytest.raises(ScalingLawError, match="bins must be"):
            result.plot(bins=bins)
    with pytest.raises(ScalingLawError, match="interval must be between 0 and 1"):
        result.plot_holdout(interval=np.array([0.5, 0.9]))
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
    with pytest.raises(ScalingLawError, match="pass a ScalingModel or a LossToLossModel"):
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


# --- the discrepancy measured on held-out runs ---------------------------------------------

Z90 = norm.ppf(0.95)


def _backtest(bias, extra, own, seed=0, copies=1):
    """Held-out units with known own spread ``own`` whose misses are N(bias, own^2 + extra^2)."""
    rng = np.random.default_rng(seed)
    miss = bias + np.sqrt(own ** 2 + extra ** 2) * rng.standard_normal(own.size)
    rows = pd.DataFrame({"g": np.arange(own.size), "observed": 2.0 * np.exp(miss),
                         "median": 2.0, "lower": 2.0 * np.exp(-Z90 * own),
                         "upper": 2.0 * np.exp(Z90 * own)})
    return pd.concat([rows] * copies, ignore_index=True)


def test_discrepancy_recovers_a_known_bias_and_spread():
    own = np.linspace(0.01, 0.03, 2000)
    rows = _backtest(0.03, 0.02, own)
    d = sl.validate.Discrepancy.estimate(rows["observed"], rows["median"], rows["lower"],
                                         rows["upper"])
    assert d.bias == pytest.approx(0.03, abs=0.002)
    assert d.sd == pytest.approx(0.02, abs=0.002)
    assert (d.units, d.scale) == (2000, "log")
    # misses within the model's own intervals: no extra spread, no bias
    calm = _backtest(0.0, 0.0, own, seed=1)
    d0 = sl.validate.Discrepancy.estimate(calm["observed"], calm["median"], calm["lower"],
                                          calm["upper"])
    assert d0.sd < 0.004 and abs(d0.bias) < 0.002


def test_discrepancy_counts_a_group_once():
    own = np.linspace(0.01, 0.03, 30)
    one = _backtest(0.02, 0.01, own, seed=2)
    # the first five units have fifty rows each (a run with many checkpoints), the rest one
    many = one.loc[np.repeat(one.index, np.where(one["g"] < 5, 50, 1))]
    a = sl.validate.Discrepancy.estimate(one["observed"], one["median"], one["lower"],
                                         one["upper"])
    b = sl.validate.Discrepancy.estimate(many["observed"], many["median"], many["lower"],
                                         many["upper"], groups=many["g"])
    c = sl.validate.Discrepancy.estimate(many["observed"], many["median"], many["lower"],
                                         many["upper"])
    assert (b.bias, b.sd, b.units) == pytest.approx((a.bias, a.sd, 30), rel=1e-6)
    assert c.units == 275 and abs(c.bias - a.bias) > 0.002  # ungrouped, five units dominate


def test_discrepancy_apply_shifts_and_widens():
    d = sl.validate.Discrepancy(bias=0.05, sd=0.04, units=10)
    rng = np.random.default_rng(0)
    law = np.full((20000, 2), 3.0)
    observed = 3.0 * np.exp(0.03 * rng.standard_normal((20000, 2)))
    before = observed.copy()
    new_law, new_obs = d.apply(law, observed, seed=1)
    np.testing.assert_array_equal(observed, before)  # the draws passed in are not changed
    np.testing.assert_allclose(new_law, 3.0 * np.exp(0.05), rtol=1e-12)
    assert np.log(new_obs).mean() == pytest.approx(np.log(3.0) + 0.05, abs=0.002)
    assert np.log(new_obs).std() == pytest.approx(0.05, abs=0.002)  # sqrt(0.03^2 + 0.04^2)
    additive = sl.validate.Discrepancy(bias=0.5, sd=0.0, units=10, scale="identity")
    np.testing.assert_allclose(additive.apply(law, law)[1], 3.5, rtol=1e-12)


@pytest.mark.parametrize("change, message", [
    ({"observed": [2.0, 2.0]}, "one value per row"),
    ({"observed": [2.0, -1.0, 2.0]}, "finite and positive"),
    ({"lower": [2.5, 2.5, 2.5]}, "upper is below lower"),
    ({"groups": ["a", "a", "b"]}, "at least 3 held-out units"),
    ({"groups": ["a"]}, "1 labels for 3 rows"),
    ({"scale": "logit"}, "scale must be"),
    ({"mass": 1.0}, "mass must be"),
])
def test_discrepancy_bad_inputs(change, message):
    args = {"observed": [2.0, 2.1, 1.9], "median": [2.0, 2.0, 2.0], "lower": [1.9] * 3,
            "upper": [2.1] * 3, **change}
    with pytest.raises(ScalingLawError, match=message):
        sl.validate.Discrepancy.estimate(**args)


def test_extrapolation_discrepancy_uses_the_held_out_points(result):
    pts = result.points[result.points["model"] == "power"]
    d = result.discrepancy("power")
    direct = sl.validate.Discrepancy.estimate(pts["observed"], pts["median"],
                                              pts["lower_90"], pts["upper_90"])
    assert d == direct and d.units == len(pts)
    assert result.discrepancy("power", mass=0.5) == sl.validate.Discrepancy.estimate(
        pts["observed"], pts["median"], pts["lower_50"], pts["upper_50"], mass=0.5)
    with pytest.raises(ScalingLawError, match="several models"):
        result.discrepancy()
    with pytest.raises(ScalingLawError, match="no model 'nope'"):
        result.discrepancy("nope")
    with pytest.raises(ScalingLawError, match="no 0.8 intervals"):
        result.discrepancy("power", mass=0.8)
    with pytest.raises(ScalingLawError, match="no column"):
        result.discrepancy("power", group="family")
    with pytest.raises(ScalingLawError, match="at least 3"):  # one threshold: one unit
        result.discrepancy("power", group="model")
    # an array, a flag and text once reached NumPy's truth value, iteration and float()
    with pytest.raises(ScalingLawError, match="no model array"):
        result.discrepancy(np.array(["power", "floor"]))
    with pytest.raises(ScalingLawError, match="group must be a column name"):
        result.discrepancy("power", group=True)
    with pytest.raises(ScalingLawError, match="mass must be between 0 and 1"):
        result.discrepancy("power", mass="0.5")


def test_predict_with_a_discrepancy(hierarchical_fit):
    rows = {"N": [4e9, 8e9], "D": [8e10, 1.6e11], "dataset": ["web", "code"]}
    plain = hierarchical_fit.predict(rows, seed=3)
    shifted = hierarchical_fit.predict(
        rows, seed=3, discrepancy=sl.validate.Discrepancy(bias=0.1, sd=0.0, units=5))
    np.testing.assert_allclose(shifted["median"], plain["median"] * np.exp(0.1), rtol=1e-12)
    np.testing.assert_allclose(shifted["pred_upper"], plain["pred_upper"] * np.exp(0.1),
                               rtol=1e-12)
    wider = hierarchical_fit.predict(
        rows, seed=3, discrepancy=sl.validate.Discrepancy(bias=0.0, sd=0.2, units=5))
    assert (np.log(wider["pred_upper"] / wider["pred_lower"])
            > np.log(plain["pred_upper"] / plain["pred_lower"]) + 0.3).all()
    with pytest.raises(ScalingLawError, match="'identity' scale"):
        hierarchical_fit.predict(rows, discrepancy=sl.validate.Discrepancy(0.1, 0.0, 5,
                                                                           "identity"))
    with pytest.raises(ScalingLawError, match="must be a scalinglaws.validate.Discrepancy"):
        hierarchical_fit.predict(rows, discrepancy=(0.1, 0.0))


def test_notes_name_the_miss_of_an_overconfident_model():
    from types import SimpleNamespace

    n = 10
    observed = np.full(n, 2.2)
    points = pd.DataFrame({
        "model": "m", "threshold": 1e20, "row": [str(i) for i in range(n)],
        "C": np.geomspace(1e20, 1e21, n), "observed": observed, "median": 2.0,
        "lower_50": 1.98, "upper_50": 2.02, "lower_90": 1.95, "upper_90": 2.05,
        "lpd": -5.0, "are": 0.1 / 1.1, "pit": 1.0})
    result = sl.validate.Extrapolation(
        points=points, scores=pd.DataFrame({"model": ["m"], "threshold": [1e20]}), by="C",
        intervals=(0.5, 0.9), target="loss",
        fits={("m", 1e20): SimpleNamespace(spec=SimpleNamespace(scale="log"))})
    notes = result.notes
    assert sum("overconfident" in n for n in notes) == 2  # the 50% and the 90% intervals
    (miss,) = [n for n in notes if ".discrepancy()" in n]  # the miss is named once
    assert f"{100 * np.log(1.1):+.3g}% from the median" in miss


# --- a loss-to-loss model ---------------------------------------------------------------------

def _link_pairs() -> pd.DataFrame:
    from scalinglaws import losstoloss as ltl
    return ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y=["code", "books"],
                                   loss="loss")


def test_extrapolation_scores_a_loss_to_loss_model_on_its_output(monkeypatch):
    """The refits are prior-draw fits (no NUTS); scoring is the real path."""
    from test_losstoloss import _fake_fit

    from scalinglaws import losstoloss as ltl

    fitted = []

    def fit_many(self, frames, **settings):
        fitted.append({t: len(frame) for t, frame in frames.items()})
        return {t: _fake_fit(self, frame, n=100) for t, frame in frames.items()}

    monkeypatch.setattr(ltl.LossToLossModel, "fit_many", fit_many)
    pairs = _link_pairs()
    pairs.loc[pairs.index[-1], "loss_y"] = np.nan     # an input-only row: never scored
    model = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y"})
    result = extrapolation({"link": model}, pairs, holdout=[1e20], by="C", seed=1)
    compute = 6 * pairs["N"] * pairs["D"]
    held = pairs[(compute >= 1e20) & pairs["loss_y"].notna()]
    assert fitted == [{1e20: int((compute < 1e20).sum())}]
    assert result.target == "loss_y" and len(result.points) == len(held)
    assert result.points["row"].tolist() == [str(i) for i in held.index]
    np.testing.assert_allclose(result.points["observed"], held["loss_y"])
    fit = result.fits[("link", 1e20)]
    ll = fit.log_density(held, seed=2)
    np.testing.assert_allclose(result.points["lpd"],
                               logsumexp(ll, axis=0) - np.log(len(ll)))
    assert ((0 <= result.points["pit"]) & (result.points["pit"] <= 1)).all()
    assert result.scores.loc[0, "n_train"] == int((compute < 1e20).sum())


@pytest.mark.slow
def test_extrapolation_refits_a_loss_to_loss_model_with_nuts():
    from scalinglaws import losstoloss as ltl

    pairs = _link_pairs()
    pairs = pairs[pairs["dataset_y"] == "code"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = extrapolation({"link": ltl.LossToLossModel("chinchilla")}, pairs,
                               holdout="largest", by="C", chains=2, warmup=300, draws=300)
    points = result.points
    assert len(points) == 1 and np.isfinite(points["lpd"]).all()
    # the simulated link holds at the largest run: the median misses it by < 2%
    assert points["are"].iloc[0] < 0.02


# --- refits replaced by prior-draw fits: the checks and scoring around them -----------------

def _prior_refits(monkeypatch) -> list:
    """ScalingModel.fit_many returning prior-draw fits (no NUTS); the list records calls."""
    from test_fit_protocol import _prior_fit

    calls = []

    def fit_many(self, frames, **settings):
        calls.append(settings)
        return {key: _prior_fit(self, frame) for key, frame in frames.items()}

    monkeypatch.setattr(sl.ScalingModel, "fit_many", fit_many)
    return calls


def test_rows_with_a_known_measurement_error_are_scored_as_measurements(monkeypatch):
    _prior_refits(monkeypatch)
    runs = sl.synthetic.sweep(seed=0).drop(columns="true_loss").assign(se=lambda f: 0.05 * f.loss)
    model = sl.ScalingModel("chinchilla", target="loss", measurement_se="se")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        result = extrapolation(model, runs, holdout="largest", by="N", seed=3)
    fit = result.fits[("chinchilla", runs.N.max())]
    held = runs[runs.N == runs.N.max()]
    measured = fit.predict_draws(held, seed=3)["measured"]
    np.testing.assert_allclose(result.points["lower_90"], np.quantile(measured, 0.05, axis=0))
    np.testing.assert_allclose(result.points["upper_90"], np.quantile(measured, 0.95, axis=0))


def test_held_out_rows_are_checked_before_any_refit(monkeypatch):
    calls = _prior_refits(monkeypatch)
    runs = sl.synthetic.sweep(seed=0).drop(columns="true_loss")
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    largest = runs.N == runs.N.max()
    for column, value, message in [("D", np.nan, "column 'D'"),
                                   ("loss", -1.0, "target"),
                                   ("dataset", None, "dataset"),
                                   ("loss", np.nan, "none of the .* held-out runs has an "
                                                    "observed 'loss'")]:
        bad = runs.assign(**{column: runs[column].where(~largest, value)})
        with pytest.raises(ScalingLawError, match=f"runs with N >= .*{message}"):
            extrapolation(model, bad, by="N")
    assert calls == []
    one_missing = runs.copy()
    one_missing.loc[runs.index[largest][0], "loss"] = np.nan
    monkeypatch.setattr(sl.ScalingModel, "fit_many", _stop)
    with pytest.warns(sl.ScalingLawWarning, match=r"1 held-out run\(s\) have no observed"):
        with pytest.raises(_Refitting):
            extrapolation(model, one_missing, by="N")


class _Refitting(Exception):
    """Raised in place of the refits, once everything before them has run."""


def _stop(self, frames, **settings):
    raise _Refitting


def test_what_the_data_says_of_each_refit_is_warned_once(monkeypatch):
    monkeypatch.setattr(sl.ScalingModel, "fit_many", _stop)
    runs = sl.synthetic.sweep(seed=0).drop(columns="true_loss")
    doubled = pd.concat([runs, runs.iloc[:3]])
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    with warnings.catch_warnings(record=True) as caught, pytest.raises(_Refitting):
        warnings.simplefilter("always")
        extrapolation(model, doubled, holdout=[1e18, 1e19], by="C")
    notes = [str(w.message) for w in caught if "identical to an earlier row" in str(w.message)]
    assert len(notes) == 2 and "C < 1e+18" in notes[0] and "C < 1e+19" in notes[1]
    assert {w.filename for w in caught if str(w.message) in notes} == {__file__}


def test_holdout_thresholds_as_a_series_an_index_or_a_set():
    from scalinglaws.validate import _thresholds

    values = np.array([1.0, 2.0, 3.0, 4.0])
    for holdout in (pd.Series([3.0, 2.0]), pd.Index([2.0, 3.0]), {3.0, 2.0},
                    np.array([[2.0], [3.0]])):
        assert _thresholds(holdout, values, "C") == [2.0, 3.0]


def test_model_names_are_strings_and_by_is_not_ambiguous(runs):
    with pytest.raises(ScalingLawError, match="model names must be non-empty strings"):
        extrapolation({1: MODELS["floor"], "1": MODELS["power"]}, runs)
    sweep = sl.synthetic.sweep(seed=0).assign(params=lambda f: 0.8 * f.N)
    spec = sl.ScalingModel("chinchilla", inputs={"N": "params", "D": "D"}, target="loss")
    with pytest.raises(ScalingLawError, match="by='N' could mean the data's column 'N' or"):
        scale_values(spec, sweep, "N")
    np.testing.assert_allclose(scale_values(spec, sweep.drop(columns="N"), "N"), sweep.params)


def test_refits_of_a_cut_loss_to_loss_fit_keep_its_chains_and_cut_draws(monkeypatch):
    import arviz as az

    from scalinglaws import validate

    posterior = az.from_dict(posterior={"a": np.zeros((8, 10))}).posterior
    posterior.attrs["chains_per_group"] = 2          # 4 compute-law draws x 2 chains
    fit = type("CutFit", (), {"idata": type("I", (), {"posterior": posterior})()})()
    assert validate._own_settings(fit) == {"cut_draws": 4}
    assert validate._own_settings(None) == {}
    seen = {}
    monkeypatch.setattr(validate, "extrapolation", lambda *a, **k: seen.update(k))
    validate.refit_extrapolation({"cut": fit}, None, holdout="largest", by="C", seed=0)
    assert seen["chains"] == 2 and seen["draws"] == 10
