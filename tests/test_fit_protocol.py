"""One fit protocol: Fit and LossToLossFit both satisfy FitLike, with the same argument
names, prediction columns and draw keys; sl.load returns the kind that was saved; the
functions that take a scaling-law fit reject a loss-to-loss fit with a clear error."""

from __future__ import annotations

import inspect
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from test_losstoloss import _fake_fit

import scalinglaws as sl
from scalinglaws import decide, validate
from scalinglaws import losstoloss as ltl
from scalinglaws.discrepancy import Discrepancy
from scalinglaws.errors import ScalingLawError, ScalingLawWarning
from scalinglaws.fit import DRAW_KEYS, PREDICT_COLUMNS, FitLike

#: The protocol's methods, whose leading arguments must agree across fit types.
METHODS = ("summary", "predict", "predict_draws", "plot", "save")


@pytest.fixture(scope="module")
def core_fit():
    runs = sl.synthetic.sweep(seed=0)
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    with warnings.catch_warnings():  # a short chain: its diagnostics are not the point
        warnings.simplefilter("ignore", ScalingLawWarning)
        return model.fit(runs, seed=0, chains=1, warmup=100, draws=100, progress=False)


@pytest.fixture(scope="module")
def link_pairs():
    return ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y=["code", "books"],
                                   loss="loss")


@pytest.fixture(scope="module")
def link_fit(link_pairs):
    spec = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y", "K": "dataset_y",
                                                    "E_y": "dataset_y"})
    return _fake_fit(spec, link_pairs, n=200)


@pytest.fixture(scope="module")
def fits(core_fit, link_fit):
    at_core = pd.DataFrame({"N": [1e9, 3e9], "D": [2e10, 6e10], "dataset": ["web", "code"]})
    at_link = pd.DataFrame({"N": [1e9, 3e9], "D": [2e10, 6e10],
                            "dataset_y": ["code", "books"], "loss_x": [np.nan, 2.3]})
    return {"scaling_law": (core_fit, at_core), "loss_to_loss": (link_fit, at_link)}


def test_both_fit_types_satisfy_the_protocol(fits):
    for kind, (fit, _) in fits.items():
        assert isinstance(fit, FitLike)
        assert fit.kind == type(fit).kind == kind
        assert isinstance(fit.warnings, tuple)
    assert not isinstance(ltl.LossToLossModel("kaplan"), FitLike)


def _leading(method) -> list[tuple[str, object]]:
    """(name, default) of the arguments that are not keyword-only, without self."""
    params = list(inspect.signature(method).parameters.values())[1:]
    return [(p.name, p.default) for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY)]


def test_the_methods_take_the_same_arguments():
    for name in METHODS:
        core = _leading(getattr(sl.Fit, name))
        link = _leading(getattr(ltl.LossToLossFit, name))
        assert link == core, name  # a kind's own arguments are keyword-only
    extras = inspect.signature(ltl.LossToLossFit.predict).parameters["law_prior"]
    assert extras.kind == extras.KEYWORD_ONLY


def test_predict_gives_the_same_columns_and_draws_the_same_keys(fits):
    tables = {}
    for kind, (fit, at) in fits.items():
        pred = fit.predict(at, interval=0.8, seed=1)
        n = len(at.columns)
        assert list(pred.columns[:n]) == list(at.columns)
        assert tuple(pred.columns[n:n + len(PREDICT_COLUMNS)]) == PREDICT_COLUMNS, kind
        assert pred.attrs["interval"] == 0.8
        assert (pred["lower"] <= pred["median"]).all() and (pred["median"] <= pred["upper"]).all()
        draws = fit.predict_draws(at, seed=1)
        assert set(DRAW_KEYS) <= set(draws), kind
        n_draws = fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]
        assert draws["law"].shape == draws["observed"].shape == (n_draws, len(at))
        assert all(np.shape(v) == draws["law"].shape for v in draws["params"].values())
        np.testing.assert_allclose(np.median(draws["law"], axis=0), pred["median"])
        tables[kind] = fit.summary(interval=0.8)
    assert list(tables["scaling_law"].columns) == list(tables["loss_to_loss"].columns)
    link = fits["loss_to_loss"][0].predict_draws(fits["loss_to_loss"][1])
    assert {"x.E", "link.kappa"} <= set(link["params"])
    np.testing.assert_array_equal(link["params"]["x.E"], link["params_x"]["E"])


def test_a_discrepancy_moves_a_loss_to_loss_prediction(fits):
    fit, at = fits["loss_to_loss"]
    plain = fit.predict(at, seed=2)
    shifted = fit.predict(at, seed=2, discrepancy=Discrepancy(bias=0.1, sd=0.0, units=3))
    np.testing.assert_allclose(shifted["median"], plain["median"] * np.exp(0.1), rtol=1e-10)
    with pytest.raises(ScalingLawError, match="identity.*scale"):
        fit.predict(at, discrepancy=Discrepancy(bias=0.1, sd=0.0, units=3, scale="identity"))
    with pytest.raises(ScalingLawError, match="must be a scalinglaws.validate.Discrepancy"):
        fit.predict_draws(at, discrepancy=0.1)


def test_load_returns_the_kind_that_was_saved(fits, tmp_path):
    for kind, (fit, at) in fits.items():
        again = sl.load(fit.save(tmp_path / f"{kind}.nc"))
        assert type(again) is type(fit) and again.kind == kind
        pd.testing.assert_frame_equal(again.predict(at, seed=3), fit.predict(at, seed=3))
    foreign = tmp_path / "arviz.nc"
    az.from_dict(posterior={"a": np.zeros((1, 5))}).to_netcdf(str(foreign),
                                                               engine="h5netcdf")
    with pytest.raises(ScalingLawError, match="not a fit written by scalinglaws.*'loss_to_loss'"):
        sl.load(foreign)


# --- the functions that take a scaling-law fit ------------------------------------------------

KIND_ERROR = "takes fits of kind 'scaling_law'; got a LossToLossFit, a fit of kind 'loss_to_loss'"

CALLS = {
    "compare": lambda fit, at, path: sl.compare({"link": fit}),
    "validate.extrapolation": lambda fit, at, path: validate.extrapolation(fit),
    "validate.log_density": lambda fit, at, path: validate.log_density(fit, at),
    "report": lambda fit, at, path: sl.report({"link": fit}, path / "r.html"),
    "report (a saved file)": lambda fit, at, path: sl.report([fit.save(path / "l.nc")],
                                                             path / "r.html"),
    "decide.compute_optimal": lambda fit, at, path: decide.compute_optimal(fit, 1e21),
    "decide.optimal_draws": lambda fit, at, path: decide.optimal_draws(fit, 1e21),
    "decide.plot_frontier": lambda fit, at, path: decide.plot_frontier(fit),
    "decide.choose_size": lambda fit, at, path: decide.choose_size(fit, 1e21),
    "decide.prob_better": lambda fit, at, path: decide.prob_better(fit, at=at),
    "decide.prob_target": lambda fit, at, path: decide.prob_target(fit, 2.0, at),
    "decide.next_run": lambda fit, at, path: decide.next_run(fit, at, at),
    "decide.epochs_worth_it": lambda fit, at, path: decide.epochs_worth_it(fit, {"N": 1e9}),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_scaling_law_functions_reject_a_loss_to_loss_fit_clearly(name, fits, tmp_path):
    fit, at = fits["loss_to_loss"]
    with pytest.raises(ScalingLawError, match=KIND_ERROR):
        CALLS[name](fit, at, tmp_path)


def test_prob_better_names_a_loss_to_loss_fit_b(fits):
    core, at = fits["scaling_law"]
    with pytest.raises(ScalingLawError, match=r"decide \(fit_b\) " + KIND_ERROR):
        decide.prob_better(core, at=at, fit_b=fits["loss_to_loss"][0])
