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
from scalinglaws.model import build_model, centred_sites, noise_scale, terms_to_level


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


@pytest.mark.parametrize("make", [
    lambda: sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                            parameterization="centred"),
    lambda: sl.ScalingModel("chinchilla", target="loss", vary={"A": "dataset",
                                                                "alpha": "dataset"}),
    lambda: sl.ScalingModel("kaplan", target="loss", vary={"E": "dataset"}, pooling="none"),
    lambda: sl.ScalingModel(sl.laws.Law.from_expression("E + A*N**-alpha + B*D**-beta"),
                            target="loss", vary={"E": "dataset"}),
], ids=["centred", "noncentred", "pooling-none", "expression"])
def test_log_parameters_keep_the_density(sweep, monkeypatch, make):
    """The likelihood reads each positive parameter's log from the scale it is built on
    (``law_params(..., logs=True)``); the density and its gradient are those of the
    natural parameters' logs."""
    import scalinglaws.model as model_module
    from scalinglaws.laws.expr import LOG_KEY

    spec = make()
    design = make_design(spec, sweep)
    info = initialize_model(jax.random.PRNGKey(1), build_model(spec, design),
                            model_kwargs={"y": jnp.asarray(design.y)})
    z = info.param_info.z
    with_logs = jax.value_and_grad(info.potential_fn)(z)
    trace = numpyro.handlers.trace(numpyro.handlers.substitute(
        build_model(spec, design), data=info.postprocess_fn(z))).get_trace(y=design.y)
    values = {k: v["value"] for k, v in trace.items()}
    params = model_module.law_params(spec, design, values, logs=True)
    logged = [k for k in params if k.startswith(LOG_KEY)]
    assert logged  # the path is taken
    for key in logged:
        np.testing.assert_allclose(params[key], jnp.log(params[key[len(LOG_KEY):]]),
                                   rtol=1e-12, atol=1e-12)
    natural_only = model_module.law_params
    monkeypatch.setattr(model_module, "law_params",
                        lambda *args, logs=False: natural_only(*args))
    info = initialize_model(jax.random.PRNGKey(1), build_model(spec, design),
                            model_kwargs={"y": jnp.asarray(design.y)})
    without = jax.value_and_grad(info.potential_fn)(z)
    np.testing.assert_allclose(with_logs[0], without[0], rtol=1e-10)
    for a, b in zip(jax.tree_util.tree_leaves(with_logs[1]),
                    jax.tree_util.tree_leaves(without[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-9)


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


@pytest.mark.parametrize("vary, pooling, scaled", [
    ({}, "partial", ("alpha", "beta")),
    ({p: "dataset" for p in "EAB"}, "none", ()),
    ({p: "dataset" for p in ("E", "A", "B", "alpha")}, "none", ("alpha",))])
def test_level_coordinates_keep_the_density(sweep, vary, pooling, scaled,
                                            assert_same_density):
    """coordinates="level" samples log(E + A_ref + B_ref) and the shares' logits, and
    alpha and beta, where they vary as the terms do, as the slopes log(alpha A_ref / V)
    and log(beta B_ref / V) (Law.share_scaled): at the corresponding point the potential
    energy (unconstrained, Jacobians included) equals the natural coordinates' one, so
    prior and posterior are the same."""
    from scalinglaws.model import share_scaled_params

    specs = {c: sl.ScalingModel("chinchilla", target="loss", vary=vary, pooling=pooling,
                                coordinates=c) for c in ("natural", "level")}
    design = make_design(specs["natural"], sweep)
    assert tuple(q for q, _ in share_scaled_params(specs["level"], design)) == scaled
    factor = "_dataset" if vary else ""
    rng = np.random.default_rng(0)
    shape = (3,) if vary else ()
    log_e, log_a, log_b = (np.log(x) + 0.3 * rng.normal(size=shape) for x in (1.7, 0.4, 0.3))
    log_alpha = np.log(0.3) + 0.1 * rng.normal(size=(3,) if "alpha" in vary else ())
    shared = {"beta": np.log(0.3), "sigma": np.log(0.02)}
    alpha = f"alpha{factor}" if "alpha" in vary else "alpha"
    natural = {f"E{factor}": log_e, f"A_ref{factor}": log_a, f"B_ref{factor}": log_b,
               alpha: log_alpha, **shared}
    log_level = np.logaddexp(log_e, np.logaddexp(log_a, log_b))
    level = {f"log_level{factor}": log_level,
             f"logit_share_E{factor}": log_e - np.logaddexp(log_a, log_b),
             f"logit_share_A{factor}": log_a - log_b, alpha: log_alpha, **shared}
    given = {f"{s}{factor}" for s in ("E", "A_ref", "B_ref")}
    for q, site, log_term in (("alpha", alpha, log_a), ("beta", "beta", log_b)):
        if q in scaled:
            level[f"log_scaled_{q}{factor if site != q else ''}"] = (
                level.pop(site) + log_term - log_level)
            given.add(site)
    level_trace = numpyro.handlers.trace(numpyro.handlers.substitute(
        build_model(specs["level"], design),
        data={k: np.exp(v) if k in natural else v for k, v in level.items()})
    ).get_trace(y=design.y)
    assert set(_sampled(level_trace)) == (
        set(_sampled(_trace(specs["natural"], design))) - given
        | set(k for k in level if k not in natural))
    for site in given:
        assert level_trace[site]["type"] == "deterministic"
    np.testing.assert_allclose(level_trace[f"A_ref{factor}"]["value"], np.exp(log_a))
    np.testing.assert_allclose(level_trace[alpha]["value"], np.exp(log_alpha))
    assert_same_density(design, (specs["natural"], natural), (specs["level"], level))
    # the map's Jacobian determinant is 1 in absolute value, for any number of terms
    from scalinglaws.model import level_to_terms

    for k in (2, 3, 4):
        def logs(x):
            return jnp.stack(level_to_terms(x[0], list(x[1:])))
        jac = jax.jacfwd(logs)(jnp.asarray(rng.normal(size=k)))
        assert abs(float(jnp.linalg.det(jac))) == pytest.approx(1.0, rel=1e-12)
    # without data (prior predictive) the terms are sampled from their priors directly
    prior_trace = numpyro.handlers.trace(numpyro.handlers.seed(
        build_model(specs["level"], design), 0)).get_trace(y=None)
    assert prior_trace[f"E{factor}"]["type"] == "sample" and "log_level" not in prior_trace


def test_level_coordinates_scale_a_shared_exponent_by_two_terms(sweep, assert_same_density):
    """overtraining's eta scales both a and b (Law.share_scaled ("eta", ("a", "b"))):
    per dataset (pooling="none") NUTS samples log(eta (a_ref + b_ref) / V), with the same
    density as the natural coordinates."""
    from numpyro.infer.util import unconstrain_fn

    from scalinglaws.model import share_scaled_params

    vary = {p: "dataset" for p in ("E", "a", "b", "eta")}
    specs = {c: sl.ScalingModel("overtraining", target="loss", vary=vary, pooling="none",
                                coordinates=c) for c in ("natural", "level")}
    design = make_design(specs["natural"], sweep)
    assert share_scaled_params(specs["level"], design) == [("eta", ("a", "b"))]
    drawn = {k: v["value"] for k, v in _trace(specs["natural"], design).items()
             if v["type"] == "sample" and not v["is_observed"]}
    natural = unconstrain_fn(build_model(specs["natural"], design), (), {"y": design.y},
                             drawn)
    log_e, log_a, log_b = (np.log(drawn[f"{s}_dataset"]) for s in ("E", "a_ref", "b_ref"))
    rest = np.logaddexp(log_a, log_b)
    level = {k: v for k, v in natural.items()
             if k not in {f"{s}_dataset" for s in ("E", "a_ref", "b_ref", "eta")}}
    level.update(log_level_dataset=np.logaddexp(log_e, rest),
                 logit_share_E_dataset=log_e - rest, logit_share_a_dataset=log_a - log_b,
                 log_scaled_eta_dataset=np.log(drawn["eta_dataset"]) + rest
                 - np.logaddexp(log_e, rest))
    assert_same_density(design, (specs["natural"], natural), (specs["level"], level))


@pytest.mark.parametrize("pooling", ["none", "partial"])
def test_level_coordinates_fit_and_report_the_terms(sweep, pooling):
    """A fit in level coordinates records E, A, B (and, with pooling="none", alpha) per
    level for prediction and summary; the coordinates are sampler devices, left out of
    the summary. In a hierarchy the chains start from the natural twin's mode mapped to
    the level coordinates."""
    centred = {p: "centred" for p in "EAB"} if pooling == "partial" else "noncentred"
    vary = {"E": "dataset", "A": "dataset", "B": "dataset"}
    if pooling == "none":  # alpha per dataset too: sampled as each dataset's slope
        vary["alpha"] = "dataset"
    spec = sl.ScalingModel("chinchilla", target="loss", pooling=pooling, vary=vary,
                           coordinates="level", parameterization=centred)
    fit = spec.fit(sweep, chains=1, warmup=150, draws=100, seed=0, progress=False)
    post = fit.idata.posterior
    assert post["E_dataset"].dims[-1] == "dataset"
    assert post["log_level_dataset"].dims[-1] == "dataset"
    if pooling == "none":
        assert post["log_scaled_alpha_dataset"].dims[-1] == "dataset"
    else:  # a partially pooled level: alpha keeps its own coordinate
        assert not any(name.startswith("log_scaled") for name in post.data_vars)
    assert not any(name.startswith(("log_level", "log_scaled")) for name in fit.summary().index)
    pred = fit.predict(sweep.head(3))
    assert np.all(np.abs(pred["median"] / sweep["loss"].head(3) - 1) < 0.05)
    assert sl.ScalingModel.from_dict(spec.to_dict()).coordinates == "level"
    if pooling == "partial":  # the hierarchy's offsets are recorded, on the log scale
        np.testing.assert_allclose(post["E_offset_dataset"],
                                   np.log(post["E_dataset"] / post["E"]), atol=1e-10)


def test_level_coordinates_of_a_centred_hierarchy_keep_the_density(
        sweep, assert_same_density):
    """With E, A and B partially pooled (centred), coordinates="level" samples each
    level's level and shares and gives the terms the population's density on the log
    scale: the potential energy equals the natural centred model's at the corresponding
    point, the offsets are recorded, and the mode search's natural twin maps to it."""
    vary = {p: "dataset" for p in "EAB"}
    centred = {p: "centred" for p in "EAB"}
    specs = {c: sl.ScalingModel("chinchilla", target="loss", vary=vary,
                                parameterization=centred, coordinates=c)
             for c in ("natural", "level")}
    design = make_design(specs["natural"], sweep)
    rng = np.random.default_rng(1)
    pops = {"E": np.log(1.7), "A_ref": np.log(0.4), "B_ref": np.log(0.3)}
    sds = {"E": 0.2, "A": 0.3, "B": 0.25}
    logs = {k: v + 0.3 * rng.normal(size=3) for k, v in pops.items()}
    shared = {"alpha": np.log(0.3), "beta": np.log(0.3), "sigma": np.log(0.02), **pops,
              **{f"{k}_sd_dataset": np.log(v) for k, v in sds.items()}}
    natural = {**shared, **{f"{k[0]}_offset_dataset": logs[k] - pops[k] for k in pops}}
    log_level, (share_e, share_a) = terms_to_level(
        [logs["E"], logs["A_ref"], logs["B_ref"]])
    level = {**shared, "log_level_dataset": log_level, "logit_share_E_dataset": share_e,
             "logit_share_A_dataset": share_a}
    assert_same_density(design, (specs["natural"], natural), (specs["level"], level))
    trace = numpyro.handlers.trace(numpyro.handlers.substitute(
        build_model(specs["level"], design),
        data={k: np.exp(v) if k in shared else v for k, v in level.items()})
    ).get_trace(y=design.y)
    assert trace["E_dataset"]["type"] == trace["A_offset_dataset"]["type"] == "deterministic"
    np.testing.assert_allclose(trace["A_offset_dataset"]["value"], logs["A_ref"] - pops["A_ref"])
    np.testing.assert_allclose(trace["B_z_dataset"]["value"],
                               (logs["B_ref"] - pops["B_ref"]) / sds["B"])
    # non-centred level terms cannot be sampled in level coordinates
    with pytest.raises(sl.ScalingLawError, match="centred"):
        sl.ScalingModel("chinchilla", target="loss", vary=vary, coordinates="level")


def test_level_coordinates_of_a_hierarchy_when_the_frame_has_one_level(sweep):
    """A hierarchy in level coordinates fitted to a frame with one level of its factor:
    the terms are shared there, and the mode search's twin keeps them as the spec has
    them while the other centred offsets (the noise's, here) are searched non-centred."""
    one = sweep[sweep["dataset"] == "web"].copy()
    one["half"] = np.where(np.arange(len(one)) % 2 == 0, "x", "y")
    spec = sl.ScalingModel("chinchilla", target="loss",
                           vary={**{p: "dataset" for p in "EAB"}, "sigma": "half"},
                           parameterization={p: "centred" for p in ("E", "A", "B", "sigma")},
                           coordinates="level")
    with pytest.warns(sl.ScalingLawWarning):
        fit = spec.fit(one, chains=1, warmup=100, draws=50, seed=0, progress=False)
    assert "log_level" in fit.idata.posterior
    pred = fit.predict(one.head(3))
    assert np.all(np.abs(pred["median"] / one["loss"].head(3) - 1) < 0.05)


@pytest.mark.parametrize("validation", [True, False])
def test_a_model_is_traced_without_numpyro_validation_whatever_the_setting(sweep, validation):
    """NumPyro's validation of distributions (on by default from NumPyro 0.22, off before)
    masks every ``log_prob`` by its support when on, which changes the compiled program
    and so its draws: models are traced with it off, and the process's setting is as it
    was afterwards."""
    from jax.flatten_util import ravel_pytree
    from numpyro.distributions import Distribution
    from numpyro.infer.util import potential_energy

    from scalinglaws.model import TRACING, data_model, pad, structure_of

    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "sigma": "dataset"}, likelihood="student_t")
    design = make_design(model, sweep)
    structure = structure_of([design])
    data = pad(design, structure)
    params = initialize_model(jax.random.PRNGKey(0), data_model(model, structure),
                              model_args=(data,)).param_info.z
    flat, unravel = ravel_pytree(params)

    def program(setting):
        numpyro.enable_validation(setting)
        potential = jax.value_and_grad(lambda x: potential_energy(
            data_model(model, structure), (data,), {}, unravel(x)))
        with TRACING, TRACING:  # re-entrant
            text = str(jax.make_jaxpr(potential)(flat))
        assert Distribution._validate_args is setting
        return text

    was = Distribution._validate_args
    try:
        assert program(validation) == program(not validation)
    finally:
        numpyro.enable_validation(was)


def test_dense_mass_blocks_must_not_share_a_site():
    """A site in two blocks would tie them: the mask is then not block-diagonal and the
    masked covariance need not be positive definite."""
    from scalinglaws.model import check_dense_mass

    spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    design = make_design(spec, sl.synthetic.sweep(seed=0))
    check_dense_mass(spec, design, [("E", "alpha"), ("beta", "sigma")])
    for blocks in ([("E", "alpha"), ("alpha", "beta")],
                   [("E_z_dataset", "alpha"), ("E_offset_dataset",)]):  # one site, two names
        with pytest.raises(sl.ScalingLawError, match="in blocks 0 and 1: blocks must not"):
            check_dense_mass(spec, design, blocks)
    with pytest.raises(sl.ScalingLawError, match="blocks must not share a site"):
        spec.fit(sl.synthetic.sweep(seed=0), dense_mass=[("E", "alpha"), ("alpha", "beta")],
                 chains=1, warmup=10, draws=10, progress=False)
