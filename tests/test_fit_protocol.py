"""One fit protocol: Fit and LossToLossFit both satisfy FitLike, with the same argument
names, prediction columns and draw keys; sl.load returns the kind that was saved and
both pickle;
compare, validate, decide and the report take either; the decisions that search a law
over N and D search a loss-to-loss fit's output loss of a run on its compute law."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import xarray as xr
from test_losstoloss import TIGHT, _fake_fit, prior_draws

import scalinglaws as sl
from scalinglaws import decide, validate
from scalinglaws import losstoloss as ltl
from scalinglaws.discrepancy import Discrepancy
from scalinglaws.errors import ScalingLawError, ScalingLawWarning
from scalinglaws.priors import Prior
from scalinglaws.protocol import DRAW_KEYS, PREDICT_COLUMNS, FitLike

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


def test_a_loss_to_loss_prediction_compiles_once_per_row_bucket(fits, compilations):
    """One compiled program per spec and padded rows: predictions of 3, 5 or 12 rows
    share it (with and without an observed input loss), and the padding leaves the real
    rows' draws as they are."""
    fit, _ = fits["loss_to_loss"]
    rows = pd.DataFrame({"N": np.geomspace(1e8, 3e9, 12), "D": np.geomspace(2e9, 6e10, 12),
                         "dataset_y": ["code", "books"] * 6,
                         "loss_x": [np.nan, 2.3, 2.6, np.nan] * 3})
    plain = rows.drop(columns="loss_x")
    few = fit.predict_draws(plain.iloc[:3], seed=4)
    fit.predict_draws(rows.iloc[:3], seed=4)
    for n in (5, 12):
        more, compiled = compilations(lambda n=n: fit.predict_draws(plain.iloc[:n], seed=4))
        assert compiled == 0
        _, compiled = compilations(lambda n=n: fit.predict_draws(rows.iloc[:n], seed=4))
        assert compiled == 0
    for key in ("x", "y", "observed"):
        np.testing.assert_array_equal(more[key][:, :3], few[key])
    conditioned = fit.predict_draws(rows, seed=4)
    unobserved = rows["loss_x"].isna().to_numpy()
    np.testing.assert_allclose(conditioned["x"][:, unobserved], more["x"][:, unobserved],
                               rtol=1e-10)
    assert not np.allclose(conditioned["x"][:, ~unobserved], more["x"][:, ~unobserved])


def test_a_discrepancy_moves_a_loss_to_loss_prediction(fits):
    fit, at = fits["loss_to_loss"]
    plain = fit.predict(at, seed=2)
    shifted = fit.predict(at, seed=2, discrepancy=Discrepancy(bias=0.1, sd=0.0, units=3))
    np.testing.assert_allclose(shifted["median"], plain["median"] * np.exp(0.1), rtol=1e-10)
    with pytest.raises(ScalingLawError, match="identity.*scale"):
        fit.predict(at, discrepancy=Discrepancy(bias=0.1, sd=0.0, units=3, scale="identity"))
    with pytest.raises(ScalingLawError, match="must be a scalinglaws.validate.Discrepancy"):
        fit.predict_draws(at, discrepancy=0.1)


def test_fits_of_both_kinds_pickle_and_predict_the_same(fits):
    # a fit crosses processes (multiprocessing, joblib) by pickle: its spec travels as
    # its dict, its law by name
    for fit, at in fits.values():
        again = pickle.loads(pickle.dumps(fit))
        assert type(again) is type(fit) and again.spec == fit.spec
        pd.testing.assert_frame_equal(again.predict(at, seed=3), fit.predict(at, seed=3))


def test_a_spec_with_a_law_built_in_python_says_why_it_cannot_be_pickled():
    law = dataclasses.replace(sl.laws.get("chinchilla"), name="my_chinchilla")
    with pytest.raises(ScalingLawError, match="built in Python.*Law.from_expression"):
        pickle.dumps(sl.ScalingModel(law))
    # a law from an expression is rebuilt from its text (the same law, new functions)
    custom = sl.ScalingModel("E + A*N**-alpha", vary={"E": "dataset"})
    assert pickle.loads(pickle.dumps(custom)).to_dict() == custom.to_dict()


def test_load_returns_the_kind_that_was_saved(fits, tmp_path):
    for kind, (fit, at) in fits.items():
        again = sl.load(fit.save(tmp_path / f"{kind}.nc"))
        assert type(again) is type(fit) and again.kind == kind
        pd.testing.assert_frame_equal(again.predict(at, seed=3), fit.predict(at, seed=3))
        with xr.open_dataset(tmp_path / f"{kind}.nc", group="posterior",
                             engine="h5netcdf") as posterior:
            assert posterior.attrs["scalinglaws_kind"] == kind
    future = fits["scaling_law"][0].idata.copy()
    future.posterior.attrs.update(scalinglaws_kind="isoflop_frontier")
    future.to_netcdf(str(tmp_path / "future.nc"), engine="h5netcdf")
    with pytest.raises(ScalingLawError, match="kind 'isoflop_frontier', which this version"):
        sl.load(tmp_path / "future.nc")
    foreign = tmp_path / "arviz.nc"
    az.from_dict(posterior={"a": np.zeros((1, 5))}).to_netcdf(str(foreign),
                                                               engine="h5netcdf")
    with pytest.raises(ScalingLawError, match="not a fit written by scalinglaws.*'loss_to_loss'"):
        sl.load(foreign)


# --- the functions that take any fit -------------------------------------------------------


def _other_link_fit(link_pairs):
    """A second loss-to-loss model of the same pairs: the link shared by both outputs."""
    return _fake_fit(ltl.LossToLossModel("chinchilla"), link_pairs, n=200)


def test_compare_ranks_loss_to_loss_fits_by_their_input_models(fits, link_pairs):
    fit = fits["loss_to_loss"][0]
    terms = fit.pointwise()
    assert terms.var == "input_model" and len(terms.units) == len(set(terms.units))
    assert len(terms.units) == fit.idata.log_likelihood["input_model"].shape[-1]
    link_fits = {"by_output": fit, "shared": _other_link_fit(link_pairs)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = sl.compare(link_fits)
    assert set(table.index) == {"by_output", "shared"}
    counts = table[["k_ok", "k_bad", "k_very_bad"]].sum(axis=1)
    assert (counts == len(terms.units)).all()   # one PSIS term per input model
    # loss-to-loss fits stack as scaling-law fits do
    rows = link_pairs.iloc[:3]
    stacked = sl.stacked_predict(link_fits, rows, weights=table, seed=3)
    assert list(stacked.columns) == [*rows.columns, *PREDICT_COLUMNS]  # not a kind's own
    assert np.isfinite(stacked[["median", "pred_lower", "pred_upper"]].to_numpy()).all()
    alone = sl.stacked_predict(link_fits, rows, weights={"by_output": 1}, seed=3)
    np.testing.assert_array_equal(alone["median"], fit.predict(rows, seed=3)["median"])
    with pytest.raises(ScalingLawError, match="different targets .*loss-to-loss fit"):
        sl.compare({"core": fits["scaling_law"][0], "link": fit})


def test_a_reloaded_loss_to_loss_fit_scores_the_same_rows(link_pairs, tmp_path):
    pairs = link_pairs.set_axis([f"run-{i}" for i in range(len(link_pairs))])
    relabelled = _fake_fit(ltl.LossToLossModel("chinchilla"), pairs, n=20)
    again = sl.load(relabelled.save(tmp_path / "pairs.nc"))
    assert list(again.frame.index) == list(pairs.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = sl.compare({"fitted": relabelled, "loaded": again})
    assert table["elpd_diff"].max() == pytest.approx(0.0, abs=1e-9)


def test_compare_needs_the_marginal_log_likelihood(link_pairs):
    spec = ltl.LossToLossModel("chinchilla", latent="noncentred")
    fit = _fake_fit(spec, link_pairs, n=20)
    bare = ltl.LossToLossFit(idata=az.InferenceData(posterior=fit.idata.posterior),
                             spec=spec, frame=fit.frame)
    with pytest.raises(ScalingLawError, match="latent='marginal'"):
        sl.compare({"a": bare, "b": bare})


def test_loss_to_loss_log_density_is_the_output_noise_at_each_latent_draw(fits):
    fit, at = fits["loss_to_loss"]
    rows = at.assign(**{fit.spec.y: [1.9, 2.6]})
    ll = validate.log_density(fit, rows, seed=4)
    draws = fit.predict_draws(rows, seed=4)      # the same latent input losses per draw
    expected = scipy.stats.norm.logpdf(np.log(rows[fit.spec.y].to_numpy()),
                                       np.log(draws["law"]), draws["scale"])
    assert ll.shape == expected.shape == (fit.idata.posterior.sizes["draw"], 2)
    np.testing.assert_allclose(ll, expected, rtol=1e-9)
    with pytest.raises(ScalingLawError, match="no target column 'loss_y'"):
        fit.log_density(at)


def _prior_fit(spec: sl.ScalingModel, runs: pd.DataFrame, n: int = 60) -> sl.Fit:
    """A Fit whose posterior is n prior draws (mechanics tests, no NUTS)."""
    from scalinglaws.data import design_dataset, make_design
    from scalinglaws.model import build_model

    design = make_design(spec, runs)
    draws = prior_draws(build_model(spec, design), n, y=None)
    posterior = {k: np.asarray(v)[None] for k, v in draws.items() if k != "y"}
    idata = az.from_dict(posterior=posterior)
    idata.add_groups(constant_data=design_dataset(design))
    return sl.Fit(idata=idata, spec=spec, design=design)


def test_student_t_noise_is_read_from_the_draws_by_every_kind(link_pairs):
    """With Student-t noise, predict_draws gives each draw's nu, and log_density of either
    kind is the Student-t density with that nu."""
    runs = sl.synthetic.sweep(seed=0)
    core = _prior_fit(sl.ScalingModel("chinchilla", target="loss", likelihood="student_t"),
                      runs)
    link = _fake_fit(ltl.LossToLossModel("chinchilla", likelihood="student_t"), link_pairs,
                     n=60)
    rows = {"scaling_law": runs.iloc[:3],
            "loss_to_loss": link_pairs.dropna(subset=["loss_y"]).iloc[:3]}
    for fit, nu in ((core, core.draws()["nu"]), (link, link.draws()["link.nu"])):
        data = rows[fit.kind]
        draws = fit.predict_draws(data, seed=2)
        np.testing.assert_array_equal(draws["nu"], nu)
        y = np.log(data[fit.spec.target].to_numpy())
        expected = scipy.stats.t.logpdf(y, df=nu[:, None], loc=np.log(draws["law"]),
                                        scale=draws["scale"])
        np.testing.assert_allclose(fit.log_density(data, seed=2), expected, rtol=1e-9)


def test_decide_predicts_with_a_loss_to_loss_fit(fits):
    fit, at = fits["loss_to_loss"]
    median = fit.predict(at, seed=5)["median"].to_numpy()
    reach = decide.prob_target(fit, median, at, predictive=False, seed=5)
    # the posterior median is reached with probability 1/2, up to its Monte Carlo error
    n = fit.idata.posterior.sizes["draw"]
    assert np.abs(reach["p_reach"] - 0.5).max() <= 4 * np.sqrt(0.25 / n) + 1.0 / n
    better = decide.prob_better(fit, {"dataset_y": "code"}, {"dataset_y": "books"},
                                at=at[["N", "D"]], seed=5)
    total = better[["p_a_better", "p_equivalent", "p_b_better"]].sum(axis=1)
    np.testing.assert_allclose(total, 1.0)
    with pytest.raises(ScalingLawError, match="names \\['run'\\], which the model does not read"):
        decide.prob_better(fit, {"run": "a"}, {"run": "b"}, at=at)


def _on_compute_law(fit, budgets, group):
    """Per draw, the compute law's closed-form optimum and the link at its loss, by hand."""
    rows = pd.DataFrame([{"N": 1e9, "D": 1e10, **group}])
    draws = fit.predict_draws(rows, seed=0)
    px = {k: v[:, :1] for k, v in draws["params_x"].items()}
    pl = {k: v[:, :1] for k, v in draws["params_link"].items()}
    best = decide.optimum("chinchilla", px, np.asarray(budgets)[None, :])
    output = pl["K"] * (best["loss"] - px["E"]) ** pl["kappa"] + pl["E_y"]
    return best, output


def test_compute_optimal_of_a_loss_to_loss_fit_is_the_compute_laws_optimum(fits):
    # the links are increasing in the input loss, so the N that minimises the output loss
    # of a run on the compute law is the compute law's own optimum, for every draw
    fit, _ = fits["loss_to_loss"]
    budgets, group = [1e20, 1e22], {"dataset_y": "code"}
    with warnings.catch_warnings():  # prior draws: some have no interior optimum
        warnings.simplefilter("ignore", ScalingLawWarning)
        out = decide.optimal_draws(fit, budgets, group=group)
        table = decide.compute_optimal(fit, budgets, group=group)
    best, output = _on_compute_law(fit, budgets, group)
    inside = ~out["at_edge"]
    assert inside.mean() > 0.8
    # numerical: where a draw's output barely moves with the input loss (a small K), the
    # output's flat minimum is located to ~1e-4 in N
    np.testing.assert_allclose(out["N"][inside], best["N"][inside], rtol=1e-3)
    np.testing.assert_allclose(out["loss"][inside], output[inside], rtol=1e-8)
    assert set(table["method"]) == {"numerical"}
    assert list(table["compute"]) == budgets


def test_choose_size_and_frontier_take_a_loss_to_loss_fit(fits):
    fit, _ = fits["loss_to_loss"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)
        d = decide.choose_size(fit, 1e21, group={"dataset_y": "books"})
        fig = decide.plot_frontier(fit, compute=np.geomspace(1e19, 1e22, 6))
    best, _ = _on_compute_law(fit, [1e21], {"dataset_y": "books"})
    assert np.all(d.regret["rule: expected loss"] >= 0)
    # the Bayes choice has the lowest expected loss over the draws it averages
    assert d.table["expected_loss"].iloc[0] <= d.table["expected_loss"].iloc[1] + 1e-12
    inside = np.log(best["N"][:, 0])
    assert inside.min() <= np.log(d.chosen.N) <= inside.max()
    assert len(fig.axes) == 3 and "chinchilla -> shifted_power" in fig.get_suptitle()


def test_next_run_with_a_loss_to_loss_fit_prefers_the_informative_run():
    pairs = ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y=["code"], loss="loss")
    # prior draws narrow enough against the output noise that re-weighting keeps > 100
    # effective draws
    priors = dict(TIGHT, sigma_y=Prior("LogNormal", np.log(0.02), 0.05),
                  tau=Prior("HalfNormal", 0.01), A=Prior("LogNormal", np.log(0.5), 0.1),
                  B=Prior("LogNormal", np.log(0.5), 0.1))
    fit = _fake_fit(ltl.LossToLossModel("chinchilla", priors=priors), pairs, n=400)
    candidates = pd.DataFrame({"N": [1e7, 1e9, 2e10], "D": [1e8, 2e10, 4e11]})
    table = decide.next_run(fit, candidates, {"N": 2e10, "D": 4e11}, cost=1.0, seed=3)
    # a run at the target says most about it, one far below the least, each step beyond
    # the Monte Carlo error of the simulated outcomes
    assert list(table["N"]) == [2e10, 1e9, 1e7]
    gaps = -np.diff(table["reduction"].to_numpy())
    se = table["reduction_se"].to_numpy()
    assert np.all(gaps > 3 * np.hypot(se[:-1], se[1:]))
    assert table["ess_mean"].min() > 30


def test_epochs_worth_it_with_a_loss_to_loss_fit(fits):
    runs = ltl.simulate(seed=0)
    pairs = ltl.pair_train_to_train(runs, x="web", y=["code"], loss="loss").assign(
        U_D=lambda f: f["D"], U_N=lambda f: f["N"])
    fit = _fake_fit(ltl.LossToLossModel("data_constrained"), pairs, n=100)
    table = decide.epochs_worth_it(fit, {"N": 1e9, "D": 1e11, "U_N": 1e9},
                                   epochs=[1, 4, 64])
    assert table["penalty_%_median"].iloc[0] == 0.0
    # repeating the same tokens never helps: the penalty grows with the epochs
    assert np.all(np.diff(table["penalty_%_lower"]) >= 0)
    assert table["penalty_%_median"].iloc[-1] > 0
    with pytest.raises(ScalingLawError, match="needs a law with variables D and U_D"):
        decide.epochs_worth_it(fits["loss_to_loss"][0], {"N": 1e9, "D": 1e11})
