"""Loss-to-loss and downstream models: pairing, the spec, the marginal likelihood, fits."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import warnings

import arviz as az
import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import matplotlib
import numpy as np
import pandas as pd
import pytest
from numpyro.infer import Predictive

from scalinglaws import load as load_core_fit  # reads every kind of fit
from scalinglaws import losstoloss as ltl
from scalinglaws.errors import ScalingLawError, ScalingLawWarning
from scalinglaws.model import law_params
from scalinglaws.priors import Prior

matplotlib.use("Agg")

#: Three training sets; the input set ("web") is measured with 2% noise, the outputs
#: with 0.3%: a naive link applied to the observed input loss is then badly overconfident.
NOISE = {"web": 0.02, "code": 0.003, "books": 0.003}
SIZES = (1e7, 3e7, 1e8, 3e8, 1e9, 3e9)
MULTIPLIERS = (5, 20, 80)
HUB_VARY = {"kappa": "dataset_y", "K": "dataset_y", "E_y": "dataset_y"}


@pytest.fixture(scope="module")
def runs():
    return ltl.simulate(seed=1, sizes=SIZES, multipliers=MULTIPLIERS, sigma=NOISE)


@pytest.fixture(scope="module")
def hub_pairs(runs):
    return ltl.pair_train_to_train(runs, x="web", y=["code", "books"], loss="loss")


@pytest.fixture(scope="module")
def hub_fit(hub_pairs):
    """web -> {code, books}: chinchilla compute law, link varying by output set; its
    offsets as "auto" chooses them (centred: the two sets differ clearly in all three)."""
    model = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, parameterization="auto")
    return model.fit(hub_pairs, seed=0, chains=2, warmup=250, draws=250, n_starts=8,
                     progress=False)


def prior_draws(model, n: int, **data) -> dict:
    """``n`` draws of ``model``'s sites from its prior (seed 0), as one program compiled
    as the package compiles its brief ones: NumPyro's Predictive run op by op compiles
    each operation on its own, seconds in all."""
    from scalinglaws.engine.program import compile_lowered

    key = jax.random.PRNGKey(0)
    lowered = jax.jit(lambda k: Predictive(model, num_samples=n)(k, **data)).lower(key)
    return compile_lowered(lowered, brief=True)(key)


def _fake_fit(spec: ltl.LossToLossModel, data: pd.DataFrame, n: int = 40) -> ltl.LossToLossFit:
    """A LossToLossFit whose 'posterior' is n prior draws (mechanics tests, no NUTS)."""
    layout = ltl.layout.Layout.build(spec, data)
    # flat coordinates: no prior draws
    model = ltl.model.build(spec, layout.shapes, "marginal", anchored=False)
    draws = prior_draws(model, n, arrays=layout.arrays(spec))
    posterior = {k: np.asarray(v)[None] for k, v in draws.items()
                 if k not in ("log_lik", "marginal")}  # as a fit's: no factor sites
    log_lik = np.asarray(draws["log_lik"])[None, :, :len(layout.xruns)]  # unpadded
    idata = az.from_dict(posterior=posterior, log_likelihood={"input_model": log_lik})
    idata.add_groups(constant_data=ltl.layout.constant_data(spec, layout.data))
    return ltl.LossToLossFit(idata=idata, spec=spec, frame=layout.data)


TIGHT = {"E_x": Prior("LogNormal", np.log(1.8), 0.03), "kappa": Prior("LogNormal", 0.0, 0.05),
         "K": Prior("LogNormal", np.log(0.6), 0.05), "E_y": Prior("LogNormal", 0.0, 0.05),
         "alpha": Prior("LogNormal", np.log(0.34), 0.05),
         "beta": Prior("LogNormal", np.log(0.3), 0.05)}


# --- pairing ------------------------------------------------------------------------------


def test_train_to_train_pairs_every_ordered_pair(runs):
    pairs = ltl.pair_train_to_train(runs, loss="loss")
    assert pairs["pair"].nunique() == 6
    assert len(pairs) == 6 * len(SIZES) * len(MULTIPLIERS)
    assert list(pairs.columns[:10]) == ["N", "D", "dataset_x", "dataset_y", "metric_x",
                                        "metric_y", "loss_x", "loss_y", "pair", "run_x"]
    row = pairs[(pairs.dataset_x == "web") & (pairs.dataset_y == "code")].iloc[3]
    src = runs.set_index("run")
    assert src.loc[row.run_x, "loss"] == row.loss_x and src.loc[row.run_y, "loss"] == row.loss_y
    assert src.loc[row.run_x, "N"] == src.loc[row.run_y, "N"] == row.N
    assert src.loc[row.run_x, "D"] == src.loc[row.run_y, "D"] == row.D


def test_train_to_test_pairs_one_model_with_its_tasks(runs):
    tasks = runs.assign(task_a=runs["loss"] + 0.5, task_b=runs["loss"] * 1.3)
    pairs = ltl.pair_train_to_test(tasks, ["task_a", "task_b"], loss="loss",
                                   datasets=["web", "code"])
    assert len(pairs) == 2 * 2 * len(SIZES) * len(MULTIPLIERS)
    assert (pairs.run_x == pairs.run_y).all() and (pairs.dataset_x == pairs.dataset_y).all()
    assert set(pairs.metric_y) == {"task_a", "task_b"}
    a = pairs[pairs.metric_y == "task_a"]
    np.testing.assert_allclose(a.loss_y, a.loss_x + 0.5)


def test_test_to_test_pairs_one_task_across_sets(runs):
    tasks = runs.assign(task=runs["loss"] + 0.5)
    pairs = ltl.pair_test_to_test(tasks, "task", x="web", y=["code", "books"])
    assert set(pairs.pair) == {"web -> code", "web -> books"}
    assert (pairs.metric_x == "task").all() and (pairs.metric_y == "task").all()


def test_pairing_errors(runs):
    with pytest.raises(ScalingLawError, match="not levels of column 'dataset'"):
        ltl.pair_train_to_train(runs, x="wbe", loss="loss")
    with pytest.raises(ScalingLawError, match="no column 'val_loss'"):
        ltl.pair_train_to_train(runs)
    twice = pd.concat([runs, runs[runs.dataset == "code"].head(2)], ignore_index=True)
    with pytest.raises(ScalingLawError, match="ambiguous.*dataset='code'"):
        ltl.pair_train_to_train(twice, x="web", y="code", loss="loss")
    shifted = runs.assign(N=np.where(runs.dataset == "code", runs.N * 1.5, runs.N))
    with pytest.raises(ScalingLawError, match="nothing pairs for 'web' -> 'code'"):
        ltl.pair_train_to_train(shifted, x="web", y="code", loss="loss")
    holes = runs.assign(loss=np.where(runs.index == 3, np.nan, runs.loss))
    with pytest.raises(ScalingLawError, match="missing loss"):
        ltl.pair_train_to_train(holes, x="web", y="code", loss="loss")
    with pytest.raises(ScalingLawError, match="only give a model paired with its own loss"):
        ltl.pair_losses(runs, x="web", y="web", loss_x="loss", loss_y="loss")
    with pytest.raises(ScalingLawError, match="DataFrame"):
        ltl.pair_train_to_train([1, 2, 3])


def test_pairing_reads_rows_by_position(runs):
    """Frames concatenated without ignore_index repeat their index labels: rows are
    still paired one to one (a lookup by label returned every row with the label)."""
    stacked = pd.concat([g.reset_index(drop=True) for _, g in runs.groupby("dataset")])
    before = stacked.copy()
    order = ["pair", "run_x"]
    for run in ("run", None):  # model ids from the run column, and from N and D
        pairs = ltl.pair_train_to_train(stacked, x="web", loss="loss", run=run)
        expected = ltl.pair_train_to_train(runs, x="web", loss="loss", run=run)
        pd.testing.assert_frame_equal(pairs.sort_values(order).reset_index(drop=True),
                                      expected.sort_values(order).reset_index(drop=True))
    pd.testing.assert_frame_equal(stacked, before)
    with pytest.raises(ScalingLawError, match="ambiguous.*dataset='code'"):
        ltl.pair_train_to_train(pd.concat([stacked, stacked[stacked.dataset == "code"]]),
                                x="web", y="code", loss="loss")


def test_pairing_refuses_text_in_a_loss_column(runs):
    text = runs.assign(loss=runs["loss"].astype(object))
    text.loc[0, "loss"] = "x"
    before = text.copy()
    level = runs.loc[0, "dataset"]
    with pytest.raises(ScalingLawError, match=r"column 'loss' \(loss_x\) has non-numeric "
                                              r"values in rows \[0\] \(e.g. 'x'\)"):
        ltl.pair_train_to_train(text, x=level, loss="loss")
    with pytest.raises(ScalingLawError, match="non-numeric.*pd.to_numeric"):
        ltl.pair_train_to_test(text.assign(task=runs["loss"]), "loss", loss="task")
    pd.testing.assert_frame_equal(text, before)
    # rows of sets that are not paired are not read
    other = sorted({"web", "code", "books"} - {level})
    assert len(ltl.pair_train_to_train(text, x=other[0], y=other[1], loss="loss")) == 18


# --- the spec -----------------------------------------------------------------------------


def test_spec_routes_names_to_the_two_laws():
    model = ltl.LossToLossModel(
        "kaplan", vary={"E_x": "dataset_x", "kappa": "dataset_y", "sigma_y": "task"},
        priors={"tau": Prior("HalfNormal", 0.05), "E_x": Prior("LogNormal", 0.7, 0.3),
                "kappa_sd": Prior("HalfNormal", 0.1), "sigma_x": Prior("LogNormal", -6, 1)})
    assert model.x_spec.vary == {"E": ("dataset_x",)}
    assert model.link_spec.vary == {"kappa": ("dataset_y",), "sigma": ("task",)}
    assert model.x_spec.prior("E") == Prior("LogNormal", 0.7, 0.3)
    assert model.x_spec.prior("sigma") == Prior("LogNormal", -6, 1)
    assert model.link_spec.prior("kappa_sd") == Prior("HalfNormal", 0.1)
    assert model.link_spec.prior("sigma") == ltl.SIGMA_Y_PRIOR
    assert model.tau_prior == Prior("HalfNormal", 0.05)
    # E_x is not a parameter of the link: it is the compute law's E
    assert "E_x" not in model.link_spec.law.param_names
    assert model.x_factors == ("dataset_x",) and model.link_factors == ("dataset_y", "task")


def test_spec_round_trips():
    model = ltl.LossToLossModel("chinchilla", link="downstream_exp", x="loss_c4_val",
                                y="err", x_run="run", vary={"gamma": "dataset"},
                                priors={"epsilon": Prior("Beta", 9, 2)}, law_rows="use",
                                feedback="cut")
    again = ltl.LossToLossModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
    custom = ltl.LossToLossModel("E + A*N**-alpha + B*D**-beta")
    assert ltl.LossToLossModel.from_dict(custom.to_dict()).law.param_names == (
        "E", "A", "alpha", "B", "beta")
    toml = model.to_toml()
    assert ltl.LossToLossModel.from_toml(toml) == model
    reference = ltl.LossToLossModel(custom.law, vary={"kappa": "task", "sigma_y": "task"},
                                    reference={"N": 1e8, "D": 1e9},
                                    parameterization={"kappa": "centred"},
                                    priors={"tau": Prior("HalfNormal", 0.1)})
    assert (ltl.LossToLossModel.from_toml(reference.to_toml()).to_dict()
            == reference.to_dict())
    with pytest.raises(ScalingLawError, match="ScalingModel.from_toml"):
        ltl.LossToLossModel.from_toml('law = "chinchilla"\ntarget = "loss"\n')


@pytest.mark.parametrize("kwargs, message", [
    ({"vary": {"rho": "dataset_y"}}, "vary names 'rho'"),
    ({"priors": {"rho": Prior("Normal", 0, 1)}}, "priors names 'rho'"),
    ({"priors": {"tau": Prior("Normal", 0, 1)}}, "tau"),
    ({"law": "downstream_exp"}, "irreducible term 'E'"),
    ({"law": "E * N**-alpha + D**-beta"}, "E plus a positive reducible term"),
    ({"link": "chinchilla"}, "one variable 'L'"),
    ({"law": "isoflop_spread"}, "isoflop_spread.*own per-row noise factor"),
    ({"x": "loss", "y": "loss"}, "same column"),
    ({"latent": "centred"}, "latent must be one of"),
    ({"pooling": "some"}, "pooling must be one of"),
    ({"feedback": "modular"}, "feedback must be one of"),
    ({"x": "N"}, r"x='N' is the column of the compute law's input N \(inputs\['N'\]\)"),
    ({"y": "d", "inputs": {"N": "n", "D": "d"}}, "y='d' is the column of the compute law's "
                                                 "input D"),
    ({"y": "dataset_y", "vary": {"kappa": "dataset_y"}},
     r"y='dataset_y' is a factor the model varies by \(vary\['kappa'\]\)"),
    ({"x": "dataset_x", "vary": {"sigma_x": ["dataset_x"]}}, "x='dataset_x' is a factor"),
    ({"x": "run", "x_run": "run"}, "x='run' is also x_run"),
    ({"y": "use", "law_rows": "use"}, "y='use' is also law_rows"),
])
def test_spec_errors(kwargs, message):
    with pytest.raises(ScalingLawError, match=message):
        ltl.LossToLossModel(**kwargs)


def test_partially_pooled_models_sample_in_their_own_coordinates(hub_pairs):
    """A hierarchy's mode sits at its funnel's neck: those fits use NumPyro's NUTS; fits
    whose parameters are all shared or unpooled use the Laplace-whitened sampler."""
    from scalinglaws.losstoloss.sampling import pooled

    def is_pooled(**kwargs):
        spec = ltl.LossToLossModel("chinchilla", **kwargs)
        return pooled(spec, ltl.layout.Layout.build(spec, hub_pairs))

    assert is_pooled(vary=HUB_VARY) == {  # pooling="partial" by default
        "kappa": "noncentred", "K": "noncentred", "E_y": "noncentred"}
    assert set(is_pooled(vary=HUB_VARY, parameterization="centred").values()) == {"centred"}
    # named as parameterization= takes them, the noise scales too: the warnings' advice
    # ("a dict chooses per parameter") can be pasted back
    noisy = {**HUB_VARY, "sigma_y": HUB_VARY["kappa"]}
    names = is_pooled(vary=noisy)
    assert set(names) == {"kappa", "K", "E_y", "sigma_y"}
    assert set(is_pooled(vary=noisy, parameterization=dict.fromkeys(names, "centred"))
               .values()) == {"centred"}
    assert not is_pooled(vary=HUB_VARY, pooling="none")
    assert not is_pooled()


def test_auto_chooses_each_pooled_parameters_offsets_from_its_groups_separation(
        hub_pairs, monkeypatch):
    """parameterization="auto": at the joint model's mode K's two output sets lie about
    54 standard errors apart, sigma_y's about 5, so K's offsets are sampled centred and
    sigma_y's not (the line a core fit draws: engine.diagnostics.WELL_SEPARATED, 20);
    the sampler is built for that choice and the model keeps "auto"."""
    from scalinglaws.losstoloss import sampling

    class Built(Exception):
        pass

    def recorder(spec, shapes, stage, run, mode):
        raise Built(spec)

    monkeypatch.setattr(sampling, "_sampler", recorder)
    model = ltl.LossToLossModel("chinchilla", vary={"K": "dataset_y", "sigma_y": "dataset_y"},
                                parameterization="auto")
    with pytest.raises(Built) as built:
        model.fit(hub_pairs, chains=1, warmup=5, draws=5, n_starts=8, progress=False)
    sampled = built.value.args[0]
    assert sampled.parameterization == {"K": "centred", "sigma_y": "noncentred"}
    assert sampled.link_spec.parameterization == {"K": "centred", "sigma": "noncentred"}
    assert model.parameterization == "auto"
    # the separations behind it, in the model's names, for the warnings' advice
    choice, separation = sampling.auto_parameterization(
        model, ltl.layout.Layout.build(model, hub_pairs),
        key=jax.random.split(jax.random.split(jax.random.PRNGKey(0))[0])[0], n_starts=8)
    assert choice == sampled.parameterization
    assert separation["K"] > 20 > separation["sigma_y"]
    # read in the marginal model whatever the latents: the same posterior of the laws
    sampled_latents = dataclasses.replace(model, latent="noncentred", feedback="cut")
    assert sampling.auto_parameterization(
        sampled_latents, ltl.layout.Layout.build(sampled_latents, hub_pairs),
        key=jax.random.split(jax.random.split(jax.random.PRNGKey(0))[0])[0],
        n_starts=8) == (choice, separation)
    plain = ltl.LossToLossModel("chinchilla", parameterization="auto")  # nothing pooled
    layout = ltl.layout.Layout.build(plain, hub_pairs)
    assert sampling.auto_parameterization(plain, layout, key=jax.random.PRNGKey(0),
                                          n_starts=8) == ("noncentred", {})


def test_parameterization_takes_auto_and_a_factor_of_a_parameter():
    spec = ltl.LossToLossModel("chinchilla", vary={"K": ["dataset_y", "metric_y"]},
                               parameterization={"K[dataset_y]": "centred",
                                                 "K[metric_y]": "noncentred"})
    assert spec.link_spec.parameterization == {"K[dataset_y]": "centred",
                                               "K[metric_y]": "noncentred"}
    assert ltl.LossToLossModel.from_dict(
        ltl.LossToLossModel("chinchilla", parameterization="auto").to_dict()
    ).parameterization == "auto"
    with pytest.raises(ScalingLawError, match="'auto'"):
        ltl.LossToLossModel("chinchilla", parameterization="automatic")
    with pytest.raises(ScalingLawError, match="does not have"):
        ltl.LossToLossModel("chinchilla", vary={"K": "dataset_y"},
                            parameterization={"Q[dataset_y]": "centred"})


def test_a_centred_hierarchy_starts_from_its_noncentred_twins_mode():
    """Output sets that share kappa: the centred joint density is unbounded as kappa's
    population scale and offsets shrink together. Searched directly, the mode sat at
    exp(-22.7); the non-centred twin's mode, carried to centred offsets, does not."""
    from scalinglaws.losstoloss.sampling import _mode

    truth = {**ltl.SIM_TRUTH, "kappa": {"web": 1.0, "code": 0.9, "books": 0.9}}
    runs = ltl.simulate(seed=1, sizes=SIZES, multipliers=MULTIPLIERS, sigma=NOISE, truth=truth)
    pairs = ltl.pair_train_to_train(runs, x="web", y=["code", "books"], loss="loss")
    spec = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, parameterization="centred")
    layout = ltl.layout.Layout.build(spec, pairs)
    mode = _mode(spec, layout, "joint", {"arrays": layout.arrays(spec)},
                 jax.random.PRNGKey(0), 8)
    assert float(mode["link.kappa_sd_dataset_y"]) > np.log(0.01)
    assert "link.kappa_z_dataset_y" not in mode  # in the centred model's coordinates
    # K and E_y differ between the sets, and their offsets say so
    assert np.ptp(np.asarray(mode["link.K_offset_dataset_y"])) > 0.3


def test_whiten_chooses_the_samplers_coordinates(hub_pairs, monkeypatch):
    """A hierarchy samples in the model's own coordinates unless whiten=True; a centred
    one is then whitened at its non-centred twin's mode, which is not refined (on the
    centred density a refinement would run down the funnel)."""
    from scalinglaws.losstoloss import sampling

    class Built(Exception):
        pass

    def recorder(model, mode, **run):
        raise Built(run)

    monkeypatch.setattr(sampling, "WhitenedNUTS", recorder)
    model = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, parameterization="centred")
    # the mode search of the test above (same spec, shapes and starts) is reused; no
    # other test builds a sampler of these settings
    settings = dict(chains=1, warmup=5, draws=5, n_starts=8, progress=False)
    for whiten, expected in ((None, False), (True, True), (False, False)):
        with pytest.raises(Built) as built:
            model.fit(hub_pairs, whiten=whiten, **settings)
        run = built.value.args[0]
        assert (run["whiten"], run["refine"]) == (expected, False)
    with pytest.raises(Built) as built:  # nothing pooled: whitened at a refined mode
        ltl.LossToLossModel("chinchilla", vary=HUB_VARY, pooling="none").fit(hub_pairs,
                                                                             **settings)
    assert (built.value.args[0]["whiten"], built.value.args[0]["refine"]) == (True, True)
    with pytest.raises(ScalingLawError, match="whiten must be True, False or None"):
        model.fit(hub_pairs, whiten="yes", **settings)
    with pytest.raises(ScalingLawError, match="takes dense_mass=True or False"):
        model.fit(hub_pairs, dense_mass=[("link.K",)], **settings)


@pytest.mark.slow  # two compilations of a loss-to-loss model: 19 s
def test_whiten_true_says_where_it_could_not_whiten(hub_pairs, monkeypatch):
    """Where the Hessian at the mode is not positive definite, whitened chains run in the
    model's own coordinates: the fit records where they ran and, asked to whiten, says so."""
    import scalinglaws.engine.mcmc as mcmc

    monkeypatch.setattr(mcmc, "cholesky", lambda h: jnp.full_like(h, jnp.nan))
    model = ltl.LossToLossModel("chinchilla")
    with pytest.warns(ScalingLawWarning, match="whiten=True, but the Hessian"):
        fit = model.fit(hub_pairs, chains=2, warmup=10, draws=10, n_starts=2,
                        max_tree_depth=4, progress=False, whiten=True)
    assert fit.idata.sample_stats.attrs["coordinates"] == "own"


def test_layout_errors(hub_pairs):
    model = ltl.LossToLossModel("chinchilla")
    with pytest.raises(ScalingLawError, match="no column 'loss_y'"):
        model.fit(hub_pairs.drop(columns="loss_y"))
    clash = hub_pairs.copy()
    clash.loc[clash.index[0], "loss_x"] += 0.1  # one input model, two different losses
    with pytest.raises(ScalingLawError, match="different values of 'loss_x'"):
        model.fit(clash)
    with pytest.raises(ScalingLawError, match="must be positive"):
        model.fit(hub_pairs.assign(loss_x=-1.0))
    with pytest.raises(ScalingLawError, match="no values"):
        model.fit(hub_pairs.assign(loss_y=np.nan))
    with pytest.raises(ScalingLawError, match="chains"):
        model.fit(hub_pairs, chains=0)


def test_numeric_input_model_ids_are_read_exactly(hub_pairs):
    """Job ids that differ past the 7th digit are distinct input models (numbers in the
    stand-in key of inputs and factors match to 7 digits; ids do not)."""
    spec = ltl.LossToLossModel("chinchilla")
    jobs = hub_pairs.assign(run_x=20240101000 + pd.factorize(hub_pairs["run_x"])[0])
    layout = ltl.layout.Layout.build(spec, jobs)
    assert len(layout.xruns) == hub_pairs["run_x"].nunique()
    assert layout.xrun_labels(spec)[:2] == ("20240101000", "20240101001")
    # read back as floats (a saved fit's frame), the ids are the same input models
    again = ltl.layout.Layout.build(spec, jobs.assign(run_x=jobs["run_x"].astype(float)))
    assert again.xrun_labels(spec) == layout.xrun_labels(spec)


def test_a_compute_law_varying_by_an_output_factor_is_refused_with_its_cause(
        hub_pairs, compilations):
    model = ltl.LossToLossModel("chinchilla", vary={"E": "dataset_y"})
    with pytest.raises(ScalingLawError, match=r"compute-law parameter\(s\) \['E_x'\] vary by "
                                              r"'dataset_y', which differs between rows of "
                                              r"input model run_x=.*vary the link's"):
        compilations(lambda: model.fit(hub_pairs))
    assert compilations.count == 0


# --- the marginal likelihood (errors in variables) -----------------------------------------


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_marginal_likelihood_integrates_the_latent_input_loss(hub_pairs, runs):
    """The quadrature equals brute-force integration over each latent input loss."""
    truth = runs.attrs["truth"]
    spec = ltl.LossToLossModel("chinchilla")
    layout = ltl.layout.Layout.build(spec, hub_pairs[hub_pairs.dataset_y == "code"])
    data, rows = layout.arrays(spec), len(layout.y_rows)
    ref = layout.x_design.log_reference
    vx = {"E": truth["E"]["web"], "alpha": truth["alpha"], "beta": truth["beta"],
          "A_ref": truth["A"]["web"] * np.exp(-truth["alpha"] * ref["N"]),
          "B_ref": truth["B"]["web"] * np.exp(-truth["beta"] * ref["D"]), "sigma": 0.02}
    vl = {"K": truth["K"]["code"], "kappa": truth["kappa"]["code"], "E_y": truth["E"]["code"],
          "sigma": 0.003}
    px = law_params(spec.x_spec, layout.x_design, vx)
    np.testing.assert_allclose(px["A"], truth["A"]["web"])
    n = len(layout.xruns)
    e_x = jnp.broadcast_to(px["E"], (n,))
    variables = {k: jnp.asarray(v) for k, v in layout.x_design.variables.items()}
    m = jnp.broadcast_to(ltl.model.reducible_log(spec.x_spec.law, variables, px), (n,))
    grid = jnp.linspace(-8.0, 5.0, 65_001)[:, None] * jnp.ones((1, n))
    marginal = jax.jit(lambda parts: ltl.model.marginal(spec, parts))
    dense_integral = jax.jit(lambda parts: jsp.logsumexp(
        ltl.model.log_integrand(spec, parts, grid), axis=0)
        + jnp.log(grid[1, 0] - grid[0, 0]))
    plugged_in = jax.jit(lambda parts, u: ltl.model.log_integrand(spec, parts, u))
    x_obs = jnp.asarray(data["x_obs"][:n])
    for tau, sigma_x, sigma_y in [(0.04, 0.02, 0.003), (0.3, 0.001, 0.02)]:
        parts = {"e_x": e_x, "m": m, "scale": jnp.full(n, tau), "sx": jnp.full(n, sigma_x),
                 "vx": vx, "pl": law_params(spec.link_spec, layout.link_design, vl),
                 "sy": jnp.full(rows, sigma_y), "vl": vl, "x_obs": x_obs,
                 "y_obs": jnp.asarray(data["y_obs"][:rows]), "u0": m,
                 "observed": jnp.asarray(data["observed"][:n]),
                 "xrun_of_row": jnp.asarray(layout.xrun_of_row),
                 "row_mask": jnp.ones(rows, dtype=bool)}
        quadrature = marginal(parts)
        np.testing.assert_allclose(quadrature, dense_integral(parts), atol=1e-8)
        # the input loss is not plugged in: the value differs from the integrand at the
        # observed input loss (what a model without errors in variables would use)
        plugged = plugged_in(parts, jnp.log(jnp.exp(x_obs) - e_x))
        assert float(jnp.abs(quadrature - plugged).max()) > 0.5


# --- mechanics on a fake posterior (no NUTS) -------------------------------------------------


def test_conditioning_needs_the_input_noise_of_fitted_levels(runs, compilations):
    """An observed input loss on a row whose input noise scale varies by a level never
    fitted is refused before anything compiles, naming the factor; without one (no
    column, or NaN on every row) that row is predicted from the population."""
    pairs = ltl.pair_train_to_train(runs, x=["web", "code"], y=["books"], loss="loss")
    fit = _fake_fit(ltl.LossToLossModel("chinchilla", vary={"sigma_x": "dataset_x"}), pairs)
    rows = pairs.iloc[:2][["N", "D", "dataset_x", "dataset_y", "loss_x"]].copy()
    rows["dataset_x"] = "unseen"
    before = rows.copy()
    with pytest.raises(ScalingLawError, match=r"noise scale, which varies by \[.dataset_x.\]"):
        compilations(lambda: fit.predict(rows))
    assert compilations.count == 0
    pd.testing.assert_frame_equal(rows, before)
    assert len(fit.predict(rows.assign(loss_x=np.nan))) == 2


@pytest.fixture(scope="module")
def uneven_fit(hub_pairs):
    """A fake fit (prior draws) of web -> {code, books} with fewer books rows than code
    rows: 'code' is the most common output level, 'books' the first."""
    spec = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, priors=TIGHT)
    books = hub_pairs.index[hub_pairs.dataset_y == "books"]
    return _fake_fit(spec, hub_pairs.drop(index=books[:4]))


def _caught(call):
    """``call()``'s ScalingLawWarnings (each: message, file)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [(str(w.message), w.filename) for w in caught
            if issubclass(w.category, ScalingLawWarning)]


def test_predictions_note_unfitted_levels_and_far_extrapolation(uneven_fit):
    """As Fit.predict warns: a level never fitted (a typo), N or D far beyond the
    fitted input models; predict and link_draws warn each note once, at the caller."""
    fit = uneven_fit
    at = {"N": [3e9] * 3, "D": [6e10] * 3, "dataset_y": ["code", "books", "nope"]}
    assert fit.prediction_notes({**at, "dataset_y": ["code", "books", "code"]}) == []
    (level,) = fit.prediction_notes(at)
    assert level.startswith("dataset_y level(s) ['nope'] were not in the fitted data "
                            "(levels ['books', 'code'])")
    far = fit.prediction_notes(pd.DataFrame({"N": [3e15], "D": [6e10], "dataset_y": "code"}))
    assert len(far) == 1
    assert far[0].startswith("N = 3e+15 is 6.0 decades above the largest fitted N")
    assert _caught(lambda: fit.predict(at)) == [(level, __file__)]
    assert _caught(lambda: fit.link_draws([2.0, 2.5], group={"dataset_y": "nope"})) == [
        (level, __file__)]
    assert _caught(lambda: fit.link_draws([2.0])) == []


def test_an_observed_input_loss_below_E_x_is_noted(uneven_fit):
    """An observed input loss at or below E_x in most draws has next to no density under
    the model: the prediction cannot condition on it, and says so."""
    fit = uneven_fit  # E_x about 1.8 (TIGHT)
    rows = pd.DataFrame({"N": [3e9] * 3, "D": [6e10] * 3, "dataset_y": ["code"] * 3,
                         "loss_x": [0.1, 2.2, np.nan]}, index=["low", "fine", "none"])
    (note,) = fit.prediction_notes(rows)
    assert note.startswith("the observed input loss 'loss_x' lies at or below the compute "
                           "law's E_x in most posterior draws on 1 row(s) (row 'low': 0.1, "
                           "median E_x 1.8")
    assert fit.prediction_notes(rows.iloc[1:]) == []


def test_link_draws_default_to_the_most_common_level(uneven_fit):
    fit = uneven_fit
    assert fit.levels()["dataset_y"][0] == "books"  # the first level is not the default
    pd.testing.assert_series_equal(
        pd.Series(fit.link_draws([2.0, 2.5])["y"].ravel()),
        pd.Series(fit.link_draws([2.0, 2.5], group={"dataset_y": "code"})["y"].ravel()))
    assert "most\n            common fitted level" in ltl.LossToLossFit.link_draws.__doc__


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_predict_uses_the_compute_laws_E_in_the_link(hub_pairs):
    spec = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, priors=TIGHT)
    fit = _fake_fit(spec, hub_pairs)
    at = pd.DataFrame({"N": [1e10, 1e10], "D": [2e11, 2e11], "dataset_y": ["code", "books"]})
    draws = fit.predict_draws(at)
    e_x, link = draws["params_x"]["E"], draws["params_link"]
    assert np.std(e_x) > 0  # E_x is a posterior, not a constant
    rebuilt = link["K"] * (draws["x"] - e_x) ** link["kappa"] + link["E_y"]
    np.testing.assert_allclose(draws["y"], rebuilt, rtol=1e-10)
    assert (draws["x"] > e_x).all()


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_conditioning_on_an_observed_input_loss(hub_pairs):
    spec = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, priors=TIGHT)
    fit = _fake_fit(spec, hub_pairs, n=1000)  # enough draws for stable interval ends
    at = pd.DataFrame({"N": [1e10] * 2, "D": [2e11] * 2, "dataset_y": ["code"] * 2,
                       "loss_x": [np.nan, 2.2]})
    pred = fit.predict(at, interval=0.9)
    assert list(pred.columns) == [*at.columns, "mean", "median", "lower", "upper",
                                  "pred_lower", "pred_upper", "x_median", "x_lower", "x_upper"]
    width = pred.x_upper - pred.x_lower
    assert width[1] < width[0]  # the observation narrows the latent input loss
    assert abs(pred.x_median[1] - 2.2) < abs(pred.x_median[0] - 2.2)
    # observation noise widens the interval (up to Monte Carlo error of the quantiles)
    assert ((pred.pred_upper - pred.pred_lower) >= 0.99 * (pred.upper - pred.lower)).all()
    with pytest.warns(ScalingLawWarning, match="lies at or below the compute law's E_x"):
        fit.predict(at.assign(loss_x=[np.nan, 0.1]))


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_law_prior_false_lets_the_observation_place_the_latent(hub_pairs):
    spec = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, priors=TIGHT)
    fit = _fake_fit(spec, hub_pairs, n=400)
    at = pd.DataFrame({"N": [1e10], "D": [2e11], "dataset_y": ["code"]})
    law = fit.predict(at)  # the law's latent input loss at this scale
    far = float(law.x_median[0]) * 0.93  # an observed loss the law finds implausible
    at["loss_x"] = far
    weighed = fit.predict(at)
    loose = fit.predict(at, law_prior=False)
    assert abs(loose.x_median[0] - far) < abs(weighed.x_median[0] - far)
    assert abs(loose.x_median[0] - far) / far < 0.01


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_downstream_chain_carries_the_loss_uncertainty(runs):
    web = runs[runs.dataset == "web"].reset_index(drop=True)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"N": web.N, "D": web.D, "run_x": web.run, "loss_x": web.loss,
                          "loss_y": 0.86 - 2.2 * np.exp(-0.71 * web.true_loss)
                          + 0.005 * rng.standard_normal(len(web))})
    spec = ltl.LossToLossModel("chinchilla", link="downstream_exp",
                               priors={**{k: TIGHT[k] for k in ("E_x", "alpha", "beta")},
                                       "gamma": Prior("LogNormal", np.log(0.71), 0.05)})
    assert spec.link_spec.scale == "identity"
    fit = _fake_fit(spec, frame)
    draws = fit.predict_draws({"N": [7e9], "D": [1.4e11]})
    link = draws["params_link"]
    np.testing.assert_allclose(
        draws["y"], link["epsilon"] - link["k"] * np.exp(-link["gamma"] * draws["x"]))
    assert np.std(draws["x"]) > 0 and np.corrcoef(draws["x"][:, 0], draws["y"][:, 0])[0, 1] \
        != 0


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_translate_law_is_exact_for_kaplan(hub_pairs):
    priors = {k: v for k, v in TIGHT.items() if k not in ("alpha", "beta")}
    spec = ltl.LossToLossModel("kaplan", vary=HUB_VARY, priors=priors)
    fit = _fake_fit(spec, hub_pairs)
    translated = fit.translate({"dataset_y": "code"})
    assert list(translated.columns) == ["E", "A", "B", "alpha", "beta"]
    at = {"N": [3e8, 5e9], "D": [6e9, 1e11], "dataset_y": ["code", "code"]}
    draws = fit.predict_draws(at)
    law = spec.law
    for i in range(2):
        direct_x = law.fn({"N": at["N"][i], "D": at["D"][i]},
                          {k: v[:, i] for k, v in draws["params_x"].items()})
        link = draws["params_link"]
        via_link = link["K"][:, i] * (direct_x - draws["params_x"]["E"][:, i]) ** link[
            "kappa"][:, i] + link["E_y"][:, i]
        via_translation = law.fn({"N": at["N"][i], "D": at["D"][i]},
                                 {k: translated[k].to_numpy() for k in translated})
        np.testing.assert_allclose(via_translation, via_link, rtol=1e-9)
    with pytest.warns(ScalingLawWarning, match=r"dataset_y level\(s\) \['nope'\]") as caught:
        fit.translate({"dataset_y": "nope"})
    assert [w.filename for w in caught] == [__file__]
    with pytest.raises(ScalingLawError, match="Kaplan"):
        _fake_fit(ltl.LossToLossModel("chinchilla", priors=TIGHT), hub_pairs).translate()


def test_save_load_round_trip(uneven_fit, tmp_path):
    fit = uneven_fit
    path = fit.save(tmp_path / "pairs.nc")
    again = load_core_fit(path)
    assert again.spec == fit.spec
    pd.testing.assert_frame_equal(again.data().reset_index(drop=True),
                                  fit.data().reset_index(drop=True), check_dtype=False)
    at = {"N": [1e10], "D": [2e11], "dataset_y": ["books"], "loss_x": [2.3]}
    pd.testing.assert_frame_equal(again.predict(at), fit.predict(at))
    with pytest.raises(ScalingLawError, match="no fit file"):
        load_core_fit(tmp_path / "missing.nc")
    (tmp_path / "junk.nc").write_text("not netcdf")
    with pytest.raises(ScalingLawError, match="not a readable"):
        load_core_fit(tmp_path / "junk.nc")
    assert isinstance(load_core_fit(path), ltl.LossToLossFit)  # sl.load reads every kind
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    idata.posterior.attrs["scalinglaws_losstoloss_format"] = 99
    idata.to_netcdf(str(tmp_path / "future.nc"), engine="h5netcdf")
    with pytest.raises(ScalingLawError, match="loss-to-loss fit.*file format 99"):
        load_core_fit(tmp_path / "future.nc")


# --- a real fit with known latent losses ----------------------------------------------------


@pytest.mark.slow  # a real joint fit (hub_fit): minutes on 2 cores
def test_fit_recovers_the_truth(hub_fit, runs):
    truth = runs.attrs["truth"]
    assert hub_fit.spec.parameterization == "centred"
    summary = hub_fit.summary(interval=0.95)
    # tau is the sd of the 18 realised run deviations (0.023 for seed 1), not its 0.04
    web = runs[runs.dataset == "web"]
    law = truth["A"]["web"] * web.N ** -truth["alpha"] + truth["B"]["web"] * web.D ** -truth[
        "beta"]
    realised_tau = np.std(np.log((web.true_loss - truth["E"]["web"]) / law), ddof=1)
    checks = {"x.E": truth["E"]["web"], "x.sigma": NOISE["web"], "tau": realised_tau}
    for level in ("code", "books"):
        checks[f"link.kappa_dataset_y[{level}]"] = truth["kappa"][level]
        checks[f"link.K_dataset_y[{level}]"] = truth["K"][level]
        checks[f"link.E_y_dataset_y[{level}]"] = truth["E"][level]
    for name, value in checks.items():
        row = summary.loc[name]
        assert row.lower <= value <= row.upper, (name, value, row.lower, row.upper)
    assert summary.loc["x.E", "sd"] > 0.005  # estimated, not plugged in
    assert summary["r_hat"].max() < 1.05
    assert int(hub_fit.idata.sample_stats.diverging.sum()) == 0
    assert hub_fit.idata.log_likelihood["input_model"].shape[-1] == len(SIZES) * len(
        MULTIPLIERS)


@pytest.mark.slow  # a real joint fit (hub_fit): minutes on 2 cores
def test_errors_in_variables_calibrate_predictions_from_a_noisy_input(hub_fit):
    """Held-out configurations: predict each output set's noise-free loss from the noisy
    observed input loss. Conditioning the latent input loss on it (this model) is
    calibrated; pushing the observed input loss through the link is not."""
    held = ltl.simulate(seed=7, sizes=(2e7, 2e8, 2e9), multipliers=(10, 40), sigma=NOISE)
    pairs = ltl.pair_train_to_train(held, x="web", y=["code", "books"], loss="loss")
    pred = hub_fit.predict(pairs[["N", "D", "dataset_y", "loss_x"]], interval=0.9)
    truth = held.set_index("run").loc[pairs.run_y, "true_loss"].to_numpy()
    ours = np.mean((pred.lower <= truth) & (truth <= pred.upper))
    naive = []
    for i, row in pairs.reset_index(drop=True).iterrows():
        curve = hub_fit.link_draws([row.loss_x], group={"dataset_y": row.dataset_y})["y"][:, 0]
        lo, hi = np.nanquantile(curve, [0.05, 0.95])
        naive.append(lo <= truth[i] <= hi)
    # 12 held-out pairs at nominal 90%: P(8 or fewer covered) = 0.026 if calibrated
    assert ours >= 0.8, ours
    assert np.mean(naive) <= 0.7, np.mean(naive)
    latent_x = held.set_index("run").loc[pairs.run_x, "true_loss"].to_numpy()
    assert np.mean(np.abs(pred.x_median - latent_x)) < np.mean(np.abs(pairs.loss_x - latent_x))


@pytest.mark.slow  # a real joint fit (hub_fit): minutes on 2 cores
def test_plot_link(hub_fit, runs):
    fig = hub_fit.plot(by="dataset_y")
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert "posterior link" in fig.get_suptitle()
    with pytest.raises(ScalingLawError, match="cannot split"):
        hub_fit.plot(by="colour")


def _moved(pairs: pd.DataFrame) -> pd.DataFrame:
    """Output losses bent far off any shifted power law of the input losses."""
    return pairs.assign(loss_y=pairs["loss_y"] * np.exp(
        0.3 * (pairs["loss_x"] - pairs["loss_x"].mean())))


@pytest.mark.slow  # compiles the quadrature model: tens of seconds on 2 cores
def test_cut_stages_see_only_their_data(hub_pairs):
    """Stage 1 of a cut fit reads the input losses only; stage 2 samples no compute-law
    parameter but the noise scale (fast: log densities and traces, no NUTS)."""
    from numpyro import handlers
    from numpyro.infer.util import constrain_fn, initialize_model, log_density

    pairs = hub_pairs[hub_pairs["dataset_y"] == "code"]
    spec = ltl.LossToLossModel("chinchilla", feedback="cut")
    layouts = [ltl.layout.Layout.build(spec, data) for data in (pairs, _moved(pairs))]
    assert layouts[0].shapes == layouts[1].shapes
    ys = [{"arrays": layout.arrays(spec)} for layout in layouts]
    joint = ltl.model.build(spec, layouts[0].shapes, "marginal")
    start = initialize_model(jax.random.PRNGKey(0), joint, model_kwargs=ys[0])
    params = constrain_fn(joint, (), ys[0], start.param_info.z)
    stage1 = ltl.model.build(spec, layouts[0].shapes, "marginal", link=False)
    law = {k: v for k, v in params.items() if not k.startswith("link.")}
    dens = [float(log_density(stage1, (), y, law)[0]) for y in ys]
    assert np.isfinite(dens[0]) and dens[0] == dens[1]
    joint_dens = [float(log_density(joint, (), y, params)[0]) for y in ys]
    assert joint_dens[0] != joint_dens[1]  # the joint model does read them
    fixed = {k: params[k] for k in ltl.sampling.fixed_by_cut(list(params))}
    assert set(fixed) == {"x.E", "x.A_ref", "x.B_ref", "x.alpha", "x.beta"}
    hidden = handlers.block(handlers.condition(joint, data=fixed), hide=list(fixed))
    free = set(initialize_model(jax.random.PRNGKey(1), hidden,
                                model_kwargs=ys[0]).param_info.z)
    assert free == {"link.log_level", "link.log_slope", "link.logit_floor", "link.sigma", "tau",
                    "x.sigma"}


@pytest.mark.slow  # compiles the quadrature model four times
@pytest.mark.parametrize("vary", [HUB_VARY, {}])
@pytest.mark.parametrize("latent", ["marginal", "noncentred"])
def test_anchored_coordinates_keep_the_density(hub_pairs, vary, latent):
    """The shifted power link sampled in anchored coordinates has exactly the density of
    the natural ones (log K, log kappa, log E_y): a unit-Jacobian change of variables."""
    from numpyro.infer.util import constrain_fn, initialize_model, potential_energy

    spec = ltl.LossToLossModel("chinchilla", vary=vary, pooling="none", latent=latent,
                               feedback="cut")
    layout = ltl.layout.Layout.build(spec, hub_pairs)
    y = {"arrays": layout.arrays(spec)}
    anchored, natural = (ltl.model.build(spec, layout.shapes, latent, anchored=a)
                         for a in (True, False))
    factor = "_dataset_y" if vary else ""
    starts = initialize_model(jax.random.split(jax.random.PRNGKey(0), 2), anchored,
                              model_kwargs=y).param_info.z
    for i in range(2):
        z = {k: v[i] for k, v in starts.items()}
        values = constrain_fn(anchored, (), y, z, return_deterministic=True)
        flat = {k: v for k, v in z.items()
                if not k.startswith(tuple(f"link.{n}" for n in ltl.model.ANCHOR_SITES))}
        flat.update({f"link.{p}{factor}": jnp.log(values[f"link.{p}{factor}"])
                     for p in ltl.model.ANCHORED})
        assert len(flat) == len(z)
        np.testing.assert_allclose(potential_energy(anchored, (), y, z),
                                   potential_energy(natural, (), y, flat), rtol=1e-12)


def test_anchored_coordinates_and_the_natural_link(hub_pairs):
    """The anchor's level, slope and floor share give K, kappa, E_y; and which links get
    anchored coordinates (a cut fit's shifted power law, its three parameters varying
    alike)."""
    log_anchor = np.log(0.8)
    out = ltl.model.anchored_to_natural(jnp.log(3.1), jnp.log(0.4), 0.7, log_anchor)
    k, kappa, e_y = (float(jnp.exp(out[p])) for p in ("K", "kappa", "E_y"))
    r = 0.8 * np.array([0.999, 1.0, 1.001])
    link = k * r**kappa + e_y
    assert link[1] == pytest.approx(3.1)  # the level at the anchor
    assert e_y / link[1] == pytest.approx(1 / (1 + np.exp(-0.7)))  # the floor share
    elasticity = np.diff(np.log(link))[0] / np.diff(np.log(r))[0]
    assert elasticity == pytest.approx(0.4, rel=1e-3)  # the slope at the anchor
    cases = [({}, "partial", "shifted_power", "cut", True),
             (HUB_VARY, "none", "shifted_power", "cut", True),
             (HUB_VARY, "none", "shifted_power", "joint", False),
             (HUB_VARY, "partial", "shifted_power", "cut", False),
             ({"kappa": "dataset_y"}, "none", "shifted_power", "cut", False),
             ({}, "partial", "downstream_exp", "cut", False)]
    for vary, pooling, link, feedback, expected in cases:
        spec = ltl.LossToLossModel("chinchilla", vary=vary, pooling=pooling, link=link,
                                   feedback=feedback)
        layout_pairs = hub_pairs if link == "shifted_power" else hub_pairs.assign(loss_y=0.5)
        layout = ltl.layout.Layout.build(spec, layout_pairs)
        anchored = ltl.model.anchored_sites(spec, layout.link_design)
        assert bool(anchored) is expected, (vary, feedback)


@pytest.mark.slow  # two real fits per sampler, short chains
@pytest.mark.parametrize("pooling", ["partial", "none"])
def test_a_refit_of_one_structure_compiles_nothing(hub_pairs, pooling, compilations):
    """Loss-to-loss models take their data as arguments, padded to buckets of rows: a
    refit on other data of the same padded shapes (here one input model fewer) reuses
    the mode search and the sampler, NumPyro's (partial pooling) or the whitened one,
    and its draws cover the real input models only."""
    model = ltl.LossToLossModel("chinchilla", vary=HUB_VARY, pooling=pooling)
    fewer = hub_pairs[hub_pairs["run_x"] != hub_pairs["run_x"].iloc[-1]]
    assert ltl.layout.Layout.build(model, fewer).shapes == \
        ltl.layout.Layout.build(model, hub_pairs).shapes
    settings = {"seed": 0, "chains": 1, "warmup": 40, "draws": 20, "n_starts": 2,
                "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)  # short chains, on purpose
        model.fit(hub_pairs, **settings)
        fit, compiled = compilations(lambda: model.fit(fewer, **settings))
    assert compiled == 0
    n_models = fewer["run_x"].nunique()
    assert fit.idata.log_likelihood["input_model"].shape == (1, 20, n_models)
    assert np.isfinite(fit.idata.log_likelihood["input_model"].values).all()


PERSISTENT_FIT = """
import json, warnings
from jax import monitoring
counts = {"hits": 0, "misses": 0}

def listen(event, **kwargs):
    if event == "/jax/compilation_cache/cache_hits":
        counts["hits"] += 1
    if event == "/jax/compilation_cache/cache_misses":
        counts["misses"] += 1

monitoring.register_event_listener(listen)
import scalinglaws.losstoloss as ltl
runs = ltl.simulate(seed=1, sizes=(1e7, 3e7, 1e8), multipliers=(5, 20, 80), sigma=0.01)
pairs = ltl.pair_train_to_train(runs, x="web", y=["code", "books"], loss="loss")
model = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y"}, pooling="none")
warnings.simplefilter("ignore")
model.fit(pairs, seed=0, chains=1, warmup=40, draws=20, n_starts=2, progress=False)
print(json.dumps(counts))
"""


@pytest.mark.slow  # two fresh processes, each a short real fit
def test_a_fresh_process_reads_the_loss_to_loss_programs_from_the_cache(tmp_path):
    """The programs embed no data, so a second process fitting the same model reads
    every one of them from the persistent compilation cache."""
    env = {**os.environ, "SCALINGLAWS_CACHE_DIR": str(tmp_path)}
    counts = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", PERSISTENT_FIT], env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        counts.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert counts[0]["misses"] > 0
    assert counts[1]["misses"] == 0 and counts[1]["hits"] > 0


@pytest.mark.slow
def test_cut_keeps_the_links_data_out_of_the_compute_law(hub_pairs, compilations):
    """feedback='cut': E_x comes from the input losses alone, so output losses moved far
    off the link change the link but not one compute-law draw; the chains that share a
    compute-law draw are one R-hat group (see test_diagnose_compares_chains_within_groups).
    The second fit, on other data of the same shapes, compiles nothing."""
    pairs = hub_pairs[hub_pairs["dataset_y"] == "code"]
    model = ltl.LossToLossModel("chinchilla", feedback="cut")
    moved = _moved(pairs)
    settings = {"seed": 3, "chains": 1, "warmup": 40, "draws": 20, "n_starts": 1,
                "cut_draws": 2, "progress": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)  # short chains, on purpose
        first = model.fit(pairs, **settings)
        second, compiled = compilations(lambda: model.fit(moved, **settings))
    assert compiled == 0
    fits = [first, second]
    post = [f.idata.posterior for f in fits]
    assert post[0].sizes["chain"] == 2 and post[0].attrs["chains_per_group"] == 1
    e_x = [p["x.E"].values for p in post]
    np.testing.assert_array_equal(e_x[0], e_x[1])  # the same stage-1 draws
    assert (e_x[0] == e_x[0][:, :1]).all()  # constant along each chain ...
    assert e_x[0][0, 0] < e_x[0][1, 0]  # ... at increasing quantiles
    kappa = [float(p["link.kappa"].median()) for p in post]
    assert abs(kappa[1] - kappa[0]) > 0.05  # the link did see the moved losses
    table = fits[0].summary()
    assert table.loc["x.E", "sd"] > 0  # the compute law's uncertainty is kept
    pred = fits[0].predict({"N": [3e9], "D": [6e10], "loss_x": [2.2]})
    assert pred["lower"].iloc[0] < pred["median"].iloc[0] < pred["upper"].iloc[0]


def test_arguments_of_the_wrong_kind_are_refused(hub_pairs):
    """Found by fuzzing: a frame as x_values and an array as group reached NumPy's
    broadcasting and truth value, an array as whiten the truth value of a comparison."""
    # every check comes before any compilation: prior draws stand in for the posterior
    fit = _fake_fit(ltl.LossToLossModel("chinchilla", vary=HUB_VARY,
                                        parameterization="centred"), hub_pairs)
    with pytest.raises(ScalingLawError, match="x_values must be input losses"):
        fit.link_draws(hub_pairs[["N", "D"]])
    with pytest.raises(ScalingLawError, match="x_values must be input losses"):
        fit.link_draws([])
    with pytest.raises(ScalingLawError, match="group must be a table"):
        fit.link_draws([3.0], group=np.array([1, 2]))
    with pytest.raises(ScalingLawError, match="whiten must be True, False or None"):
        fit.spec.fit(hub_pairs, whiten=np.array([1, 2]))
    # the link's figure: each reached Python's, NumPy's or pandas' own errors, and a
    # figure that failed stays closed
    import matplotlib.pyplot as plt

    open_figures = plt.get_fignums()
    for kwargs, message in [({"by": [0.5]}, "cannot split"),
                            ({"x_range": True}, "x_range must be"),
                            ({"x_range": (3.0, 2.0)}, "x_range must be"),
                            ({"truth": True}, "truth must be a pandas DataFrame"),
                            ({"truth": {"a": [1.0]}}, "truth has no column"),
                            ({"points": None}, "points must be"),
                            ({"points": 2**70}, "points must be"),
                            ({"targets": "abc"}, "targets must be a pandas DataFrame")]:
        with pytest.raises(ScalingLawError, match=message):
            fit.plot(**kwargs)
    assert plt.get_fignums() == open_figures


def test_a_saved_fit_with_an_unused_nu_prior_still_loads(uneven_fit, tmp_path):
    """Normal noise with a prior for nu is refused now; files saved before still load,
    the prior (which never had an effect) dropped."""
    from test_catalogue import respecified

    stored = {**uneven_fit.spec.to_dict(),
              "priors": {**uneven_fit.spec.to_dict()["priors"],
                         "nu": {"name": "Gamma", "concentration": 2.0, "rate": 0.1}}}
    path = respecified(uneven_fit.save(tmp_path / "old.nc"), "scalinglaws_losstoloss_spec",
                       stored)
    assert load_core_fit(path).spec == uneven_fit.spec
