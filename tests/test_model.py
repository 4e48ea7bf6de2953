"""Model structure: sites, shapes, finite log density and gradient, hierarchy variants."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer.util import initialize_model

import scalinglaws as sl
from scalinglaws.data import make_design
from scalinglaws.model import build_model, centred_sites, noise_scale


def _trace(model, design):
    fn = build_model(model, design)
    return numpyro.handlers.trace(numpyro.handlers.seed(fn, 0)).get_trace(y=design.y)


def _sampled(trace):
    return {k: v["value"].shape for k, v in trace.items()
            if v["type"] == "sample" and not v["is_observed"]}


def test_sites_and_shapes(sweep):
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset", "A": "dataset"})
    design = make_design(model, sweep)
    trace = _trace(model, design)
    assert _sampled(trace) == {
        "E": (), "E_sd_dataset": (), "E_z_dataset": (3,), "A_ref": (),
        "A_sd_dataset": (), "A_z_dataset": (3,), "B_ref": (), "alpha": (), "beta": (),
        "sigma": (),
    }
    assert trace["E_dataset"]["value"].shape == (3,)  # per-level values, recorded
    assert trace["A"]["type"] == "deterministic"  # natural-scale A beside A_ref
    assert trace["y"]["value"].shape == (len(sweep),)


def test_log_density_and_gradient_finite_at_start(sweep):
    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"})
    design = make_design(model, sweep)
    info = initialize_model(jax.random.PRNGKey(0), build_model(model, design),
                            model_kwargs={"y": jnp.asarray(design.y)})
    z = info.param_info.z
    energy, grad = jax.value_and_grad(info.potential_fn)(z)
    assert np.isfinite(float(energy))
    assert all(np.all(np.isfinite(np.asarray(g))) for g in jax.tree_util.tree_leaves(grad))


def test_parameterization(sweep):
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    design = make_design(model, sweep)
    assert centred_sites(model, design) == frozenset()
    assert "E_z_dataset" in _sampled(_trace(model, design))
    centred = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                              parameterization="centred")
    assert centred_sites(centred, design) == {("E", "dataset")}
    trace = _trace(centred, design)
    assert "E_offset_dataset" in _sampled(trace) and trace["E_z_dataset"]["type"] == "deterministic"
    mixed = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset", "A": "dataset"},
                            parameterization={"E": "centred"})
    sites = _sampled(_trace(mixed, make_design(mixed, sweep)))
    assert "E_offset_dataset" in sites and "A_z_dataset" in sites
    assert sl.ScalingModel.from_dict(mixed.to_dict()) == mixed


def test_pooling_variants(sweep):
    none = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}, pooling="none")
    sites = _sampled(_trace(none, make_design(none, sweep)))
    assert sites["E_dataset"] == (3,) and "E" not in sites and "E_sd_dataset" not in sites
    # no pooling gives the noise scale one independent value per level too
    noisy = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset",
                                                               "sigma": "dataset"},
                            pooling="none")
    design = make_design(noisy, sweep)
    trace = _trace(noisy, design)
    sites = _sampled(trace)
    assert sites["sigma_dataset"] == (3,)
    assert not {"sigma", "sigma_sd_dataset", "sigma_z_dataset"} & set(sites)
    per_level = np.asarray(trace["sigma_dataset"]["value"])
    scale = np.asarray(noise_scale(noisy, design, {"sigma_dataset": per_level}))
    np.testing.assert_allclose(scale, per_level[design.factors["dataset"].codes])
    complete = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                               pooling="complete")
    sites = _sampled(_trace(complete, make_design(complete, sweep)))
    assert not any("dataset" in s for s in sites)


def test_crossed_factors_sigma_run_and_student_t(sweep):
    frame = sweep.assign(tokenizer=np.where(sweep.index % 2, "bpe", "spm"),
                         run=(sweep.index // 2).astype(str))
    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": ["dataset", "tokenizer"], "sigma": "dataset"},
                            likelihood="student_t", run="run")
    sites = _sampled(_trace(model, make_design(model, frame)))
    for name in ("E_sd_dataset", "E_sd_tokenizer", "sigma_sd_dataset", "nu", "run_sd"):
        assert sites[name] == ()
    assert sites["run_z"] == (45,)


def test_new_level_prediction_is_wider(hierarchical_fit):
    seen = hierarchical_fit.predict({"N": [3e9], "D": [6e10], "dataset": ["web"]})
    new = hierarchical_fit.predict({"N": [3e9], "D": [6e10], "dataset": ["unseen"]})
    assert (new.upper - new.lower).iloc[0] > 3 * (seen.upper - seen.lower).iloc[0]


def test_integrated_run_offsets_keep_the_marginal_density(sweep):
    """With Normal noise the run offsets are integrated out: the model's log density at any
    point equals the prior plus, per run, the multivariate-normal marginal of its rows."""
    from numpyro.infer.util import log_density
    from scipy.stats import multivariate_normal

    from scalinglaws.model import law_params, location

    frame = sweep.assign(run=[f"r{i % 7}" for i in range(len(sweep))])
    model = sl.ScalingModel("chinchilla", target="loss", run="run",
                            vary={"E": "dataset", "sigma": "dataset"})
    design = make_design(model, frame)
    trace = _trace(model, design)
    sampled = {k: v["value"] for k, v in trace.items()
               if v["type"] == "sample" and not v["is_observed"]}
    assert sampled["run_eps"].shape == (7,) and "run_z" not in sampled
    assert trace["run_z"]["type"] == "deterministic"
    density, _ = log_density(build_model(model, design), (), {"y": design.y}, sampled)
    values = {k: v["value"] for k, v in trace.items() if v["type"] in ("sample",
                                                                         "deterministic")}
    prior = sum(float(trace[k]["fn"].log_prob(v).sum()) for k, v in sampled.items())
    law = np.asarray(location(model, design, law_params(model, design, values)))
    scale = np.broadcast_to(np.asarray(noise_scale(model, design, values)), law.shape)
    target, tau = np.log(design.y), float(values["run_sd"])
    codes = design.factors["run"].codes
    marginal = sum(multivariate_normal(law[codes == c],
                                       np.diag(scale[codes == c] ** 2) + tau**2
                                       ).logpdf(target[codes == c]) for c in range(7))
    assert float(density) == pytest.approx(prior + marginal, rel=1e-12, abs=1e-8)
    # without data (prior predictive) the offsets are sampled as before
    prior_trace = numpyro.handlers.trace(numpyro.handlers.seed(build_model(model, design), 0)
                                         ).get_trace(y=None)
    assert prior_trace["run_z"]["type"] == "sample" and "run_eps" not in prior_trace
