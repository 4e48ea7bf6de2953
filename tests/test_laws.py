"""Laws against closed-form values, property tests, and the reference-scale conversion."""

from __future__ import annotations

import dataclasses
import math
import pickle

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scalinglaws as sl
from scalinglaws.errors import ScalingLawError

CHIN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def test_registry_lists_every_design_law():
    assert sl.laws.names() == sorted(["chinchilla", "kaplan", "overtraining", "compute",
                                      "shifted_power", "downstream_exp", "broken_power",
                                      "data_constrained", "isoflop", "isoflop_parabola",
                                      "isoflop_parabola_budget_noise",
                                      "isoflop_parabola_spread_quadratic", "isoflop_spread",
                                      "isoflop_spread_measured",
                                      "isoflop_spread_quadratic"])


def test_unknown_law_is_a_clear_error():
    with pytest.raises(ScalingLawError, match="unknown law 'chinchila'"):
        sl.laws.get("chinchila")


@pytest.mark.parametrize(
    ("name", "variables", "params", "expected"),
    [
        ("chinchilla", {"N": 1e9, "D": 2e10}, CHIN,
         1.69 + 406.4 * 1e9**-0.34 + 410.7 * 2e10**-0.28),
        ("kaplan", {"N": 1e9, "D": 2e10},
         {"E": 1.0, "A": 8.8e13, "B": 5.4e13, "alpha": 0.076, "beta": 0.095},
         1.0 + ((8.8e13 / 1e9) ** (0.076 / 0.095) + 5.4e13 / 2e10) ** 0.095),
        ("overtraining", {"N": 1.4e9, "D": 9e11},
         {"E": 1.8366, "a": 212.2, "b": 366.7, "eta": 0.1364},
         1.8366 + (212.2 * (9e11 / 1.4e9) ** 0.1364 + 366.7 * (9e11 / 1.4e9) ** -0.1364)
         * (6 * 1.4e9 * 9e11) ** -0.1364),
        ("compute", {"C": 1e21}, {"E": 1.7, "A": 30.0, "alpha": 0.05}, 1.7 + 30.0 * 1e21**-0.05),
        ("shifted_power", {"L": 3.0}, {"K": 0.6, "kappa": 1.07, "E_x": 1.97, "E_y": 1.32},
         0.6 * (3.0 - 1.97) ** 1.07 + 1.32),
        ("downstream_exp", {"L": 3.0}, {"epsilon": 0.857, "k": 2.206, "gamma": 0.7146},
         0.857 - 2.206 * math.exp(-0.7146 * 3.0)),
        ("broken_power", {"C": 1e20},
         {"E": 1.5, "A": 50.0, "alpha": 0.1, "c1": 0.2, "d": 1e19, "f": 0.5},
         1.5 + 50.0 * 1e20**-0.1 * (1 + (1e20 / 1e19) ** (1 / 0.5)) ** (-0.2 * 0.5)),
    ],
)
def test_law_matches_closed_form(name, variables, params, expected):
    law = sl.laws.get(name)
    assert float(law.fn(variables, params)) == pytest.approx(expected, rel=1e-10)
    if law.output == "positive":
        assert float(law.log(variables, params)) == pytest.approx(math.log(expected), rel=1e-10)


def test_gadre_paper_parameterisation_reproduces_repo_form():
    # DATA.md: L = E + alpha N^b + beta 6^(b/2) (M N)^b with eta = -b/2, a = alpha 6^eta.
    alpha, beta, b, E = 166.2, 366.7, -0.27285, 1.8366
    N, M = 1.4e9, 640.0
    repo = E + alpha * N**b + beta * 6 ** (b / 2) * (M * N) ** b
    eta = -b / 2
    ours = sl.laws.get("overtraining").fn({"N": N, "D": M * N},
                                          {"E": E, "a": alpha * 6**eta, "b": beta, "eta": eta})
    assert float(ours) == pytest.approx(repo, rel=1e-9)


def test_no_overflow_at_huge_scale():
    law = sl.laws.get("chinchilla")
    value = law.log({"N": 1e13, "D": 1e15}, CHIN)
    assert np.isfinite(float(value))
    assert float(law.fn({"N": 1e13, "D": 1e15}, CHIN)) == pytest.approx(
        1.69 + 406.4 * 1e13**-0.34 + 410.7 * 1e15**-0.28, rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    logn=st.floats(6, 13), logd=st.floats(7, 15), dn=st.floats(0.01, 2), dd=st.floats(0.01, 2),
    alpha=st.floats(0.05, 1.0), beta=st.floats(0.05, 1.0),
)
def test_chinchilla_decreases_in_n_and_d(logn, logd, dn, dd, alpha, beta):
    law = sl.laws.get("chinchilla")
    p = {**CHIN, "alpha": alpha, "beta": beta}
    base = float(law.log({"N": 10**logn, "D": 10**logd}, p))
    assert float(law.log({"N": 10 ** (logn + dn), "D": 10**logd}, p)) < base
    assert float(law.log({"N": 10**logn, "D": 10 ** (logd + dd)}, p)) < base


@settings(max_examples=30, deadline=None)
@given(E=st.floats(0.5, 3.0), alpha=st.floats(0.1, 1.0), beta=st.floats(0.1, 1.0))
def test_chinchilla_tends_to_e(E, alpha, beta):
    law = sl.laws.get("chinchilla")
    value = float(law.fn({"N": 1e300, "D": 1e300}, {**CHIN, "E": E, "alpha": alpha, "beta": beta}))
    assert value == pytest.approx(E, rel=1e-6)


def _at_reference(law, seed: int):
    """Random parameters of ``law`` and its variables at random log reference values: the
    natural parameters, the reference-scale ones' logs, every parameter in natural units
    (converted by ``law.from_reference``) and the variables at the reference point."""
    rng = np.random.default_rng(seed)
    refs = {v: float(rng.uniform(15, 22)) for v in law.variables}  # log reference values
    natural = {p.name: float(rng.uniform(0.2, 0.6)) for p in law.params if not p.reference}
    if "c1" in natural:
        natural["c1"] = 0.1
    ref_logs = {p.name: float(rng.normal()) for p in law.params if p.reference}
    logs = law.from_reference(ref_logs, natural, refs)
    params = {**natural, **{k: float(jnp.exp(v)) for k, v in logs.items()}}
    return natural, ref_logs, params, {v: math.exp(r) for v, r in refs.items()}


@pytest.mark.parametrize("name", ["chinchilla", "kaplan", "overtraining", "compute",
                                  "broken_power"])
def test_reference_scale_round_trip(name):
    """Sampling a coefficient at the reference scale and converting back is exact: the
    law evaluated with converted natural parameters equals the law in rescaled units."""
    law = sl.laws.get(name)
    natural, ref_logs, params, at_ref = _at_reference(law, seed=0)
    # At the reference point every power term of the law must equal its reference value.
    if name == "chinchilla":
        assert params["A"] * at_ref["N"] ** -params["alpha"] == pytest.approx(
            math.exp(ref_logs["A"]), rel=1e-9)
    if name == "kaplan":
        assert (params["A"] / at_ref["N"]) ** (params["alpha"] / params["beta"]) == (
            pytest.approx(math.exp(ref_logs["A"]), rel=1e-9))
    if name == "overtraining":
        n, d = at_ref["N"], at_ref["D"]
        m, c = d / n, 6 * n * d
        assert params["a"] * m ** params["eta"] * c ** -params["eta"] == pytest.approx(
            math.exp(ref_logs["a"]), rel=1e-9)
    if name in ("compute", "broken_power"):
        assert params["A"] * at_ref["C"] ** -params["alpha"] == pytest.approx(
            math.exp(ref_logs["A"]), rel=1e-9)
    assert np.isfinite(float(law.log(at_ref, params)))


@pytest.mark.parametrize("name", ["chinchilla", "overtraining"])
def test_level_terms_add_up_to_the_law_at_the_reference_point(name):
    """coordinates="level" samples the sum of a law's level terms at the reference point,
    so that sum must be the law's value there (the isoflop laws' E + K_ref is their value
    at the reference budget's optimum: tests/test_isoflop.py)."""
    law = sl.laws.get(name)
    natural, ref_logs, params, at_ref = _at_reference(law, seed=1)
    terms = [natural[t] if t in natural else math.exp(ref_logs[t]) for t in law.level_terms]
    assert float(law.fn(at_ref, params)) == pytest.approx(sum(terms), rel=1e-9)


def test_share_scaled_pairs_positive_params_with_level_terms():
    from dataclasses import replace

    law = sl.laws.get("isoflop")
    assert law.share_scaled == (("gamma", "K"),)
    for bad in ((("a", "K"),), (("gamma", "G"),), (("delta", "K"),)):  # unit, no term, none
        with pytest.raises(ScalingLawError, match="share_scaled must pair"):
            replace(law, share_scaled=bad)


def test_noise_power_adds_one_exponent_and_checks_its_variable():
    law = sl.laws.noise_power(sl.laws.get("chinchilla"), "N")
    assert law.name == "chinchilla_noise_by_N" and law.param_names[-1] == "s"
    v, p = {"N": np.array([1e8, 1e9]), "D": np.array([1e9, 1e9])}, {**CHIN, "s": 0.25}
    np.testing.assert_allclose(np.asarray(law.fn(v, p)), np.asarray(sl.laws.get(
        "chinchilla").fn(v, p)), rtol=1e-12)
    factor = np.asarray(law.log_noise_factor(v, p, {"N": math.log(1e8), "D": 0.0}))
    np.testing.assert_allclose(factor, [0.0, -0.25 * math.log(10)], atol=1e-12)
    with pytest.raises(ScalingLawError, match="'C' is not a variable of law 'chinchilla'"):
        sl.laws.noise_power(sl.laws.get("chinchilla"), "C")
    with pytest.raises(ScalingLawError, match="already has a parameter 's'"):
        sl.laws.noise_power(law, "D")


def test_param_prior_must_fit_constraint():
    with pytest.raises(ScalingLawError, match="puts mass outside"):
        sl.Param("E", "positive", sl.Prior("Normal", 0, 1))


def test_every_law_has_docs_metadata():
    for name in sl.laws.names():
        law = sl.laws.get(name)
        assert law.latex and law.citation and law.description
        for p in law.params:
            assert p.description, (name, p.name)


@pytest.fixture
def my_chinchilla():
    """Chinchilla's functions under another name: a law built in Python, registered for
    the test and forgotten after it."""
    law = dataclasses.replace(sl.laws.get("chinchilla"), name="my_chinchilla")
    yield sl.laws.register(law)
    if "my_chinchilla" in sl.laws.names():
        sl.laws.unregister("my_chinchilla")


def test_a_registered_law_is_named_like_a_built_in_one(my_chinchilla):
    assert "my_chinchilla" in sl.laws.names() and sl.laws.get("my_chinchilla") is my_chinchilla
    model = sl.ScalingModel("my_chinchilla", target="loss", vary={"E": "dataset"})
    assert model.law is my_chinchilla and model.to_dict()["law"] == "my_chinchilla"
    assert sl.ScalingModel.from_toml(model.to_toml()) == model
    assert pickle.loads(pickle.dumps(model)) == model
    # its JSON names it only: its programs are keyed by the object, not exported
    assert not model.portable and sl.ScalingModel("chinchilla").portable
    assert sl.ScalingModel("E + A*N**-alpha").portable
    # registering the same law again is harmless; another law under its name is refused
    assert sl.laws.register(my_chinchilla) is my_chinchilla
    other = sl.laws.get("kaplan")
    renamed = dataclasses.replace(other, name="my_chinchilla")
    with pytest.raises(ScalingLawError, match="another law is registered as 'my_chinchilla'"):
        sl.laws.register(renamed)
    assert sl.laws.get("my_chinchilla") is my_chinchilla
    sl.laws.register(renamed, replace=True)
    assert sl.ScalingModel("my_chinchilla").law is renamed


def test_a_replaced_registration_never_reuses_the_old_laws_programs(my_chinchilla):
    from scalinglaws.model import ProgramCache

    cache = ProgramCache(limit=4)
    before = sl.ScalingModel("my_chinchilla", target="loss")
    assert cache.get(before, "rows=96", lambda: "old law") == "old law"
    written = before.to_json()
    sl.laws.register(dataclasses.replace(sl.laws.get("kaplan"), name="my_chinchilla"),
                     replace=True)
    after = sl.ScalingModel("my_chinchilla", target="loss")
    assert after.to_json() == written  # the same text, another law
    assert cache.get(after, "rows=96", lambda: "new law") == "new law"
    # a portable spec built again is the same key
    assert cache.get(sl.ScalingModel("chinchilla"), 1, lambda: "a") == "a"
    assert cache.get(sl.ScalingModel("chinchilla"), 1, lambda: "b") == "a"


def test_registering_refuses_what_cannot_be_named(my_chinchilla):
    with pytest.raises(ScalingLawError, match="'chinchilla' is a built-in law"):
        sl.laws.register(sl.laws.Law.from_expression("E + A*N**-alpha", name="chinchilla"))
    with pytest.raises(ScalingLawError, match="register takes a Law"):
        sl.laws.register("E + A*N**-alpha")
    with pytest.raises(ScalingLawError, match="letters, digits and underscores"):
        sl.laws.register(dataclasses.replace(my_chinchilla, name="my law"))
    with pytest.raises(ScalingLawError, match="'kaplan' is a built-in law"):
        sl.laws.unregister("kaplan")
    with pytest.raises(ScalingLawError, match="no law is registered as 'nope'"):
        sl.laws.unregister("nope")
    sl.laws.unregister("my_chinchilla")
    with pytest.raises(ScalingLawError, match="register it first|sl.laws.register"):
        sl.ScalingModel("my_chinchilla")
    # unregistered, a spec with the law cannot be written: the message says how it can
    with pytest.raises(ScalingLawError, match=r"register it \(sl.laws.register\(law\)\)"):
        sl.ScalingModel(my_chinchilla).to_dict()


def test_an_expression_law_registered_by_name_is_still_written_with_its_expression():
    law = sl.laws.register(sl.laws.Law.from_expression("E + A*N**-alpha", name="my_power"))
    try:
        model = sl.ScalingModel("my_power")
        assert model.to_dict()["law"]["expression"] == "E + A*N**-alpha"
        assert model.portable and model.law is law
    finally:
        sl.laws.unregister("my_power")


def test_a_law_called_computes_in_float64_in_a_fresh_process(run_on_cpu_devices):
    """``law(variables, params)`` is float64 before any fit has switched JAX to it
    (``law.fn`` alone would compute in float32 there: 1.8012911 at 1e12 parameters)."""
    out = run_on_cpu_devices("""
        import json, jax
        import scalinglaws as sl
        before = bool(jax.config.jax_enable_x64)
        law = sl.laws.get("chinchilla")
        p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
        loss = law({"N": [1e12], "D": [2e13]}, p)
        log = law({"N": 1e12, "D": 2e13}, p, log=True)
        print(json.dumps([before, str(loss.dtype), float(loss[0]), float(log)]))
    """, devices=1)
    before, dtype, loss, log = out
    assert before is False and dtype == "float64"
    exact = 1.69 + 406.4 * 1e12 ** -0.34 + 410.7 * 2e13 ** -0.28
    assert loss == pytest.approx(exact, rel=1e-13)
    assert log == pytest.approx(math.log(exact), rel=1e-13)


def test_a_law_called_with_bad_inputs_names_them():
    law = sl.laws.get("chinchilla")
    p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    with pytest.raises(ScalingLawError, match="needs variable 'D'"):
        law({"N": 1e9}, p)
    with pytest.raises(ScalingLawError, match="needs parameter 'beta'"):
        law({"N": 1e9, "D": 2e10}, {k: v for k, v in p.items() if k != "beta"})
    with pytest.raises(ScalingLawError, match="variable 'N' is not numeric"):
        law({"N": "big", "D": 2e10}, p)
    with pytest.raises(ScalingLawError, match="do not broadcast"):
        law({"N": [1e9, 2e9], "D": [1e10, 2e10, 3e10]}, p)


@pytest.mark.parametrize("name", sorted(sl.laws.BUILTIN))
def test_every_builtin_law_called_is_its_fn_in_float64(name):
    law = sl.laws.get(name)
    params = {p.name: {"positive": 0.3, "unit": 0.5, "real": 0.1}[p.constraint]
              for p in law.params}
    variables = {v: np.array([1e8, 3e9, 1e11]) for v in law.variables}
    out = law(variables, params)
    assert out.dtype == np.float64 and out.shape == (3,)
    np.testing.assert_allclose(out, np.asarray(law.fn(
        {k: jnp.asarray(v) for k, v in variables.items()},
        {k: jnp.asarray(v) for k, v in params.items()})), rtol=1e-12)
    np.testing.assert_allclose(law(variables, params, log=True),
                               np.asarray(law.log({k: jnp.asarray(v) for k, v in variables.items()},
                                                  {k: jnp.asarray(v) for k, v in params.items()})),
                               rtol=1e-12)


def test_param_and_law_take_a_dict_prior_and_lists():
    prior = {"name": "LogNormal", "loc": 0, "scale": 1}
    param = sl.Param("A", "positive", prior, group_scale=2)
    assert param.prior == sl.Prior("LogNormal", 0, 1) and param.group_scale == 2.0
    law = sl.Law(name="x", variables=["N"], params=[param], fn=lambda v, p: p["A"], latex="")
    assert law.variables == ("N",) and law.params == (param,)
    hash(law)


def test_a_law_parameter_keeps_its_own_prior():
    law = sl.Law.from_expression("E + A*N**-k", params={"k": sl.Prior("LogNormal", -1.0, 0.3)})
    model = sl.ScalingModel(law, target="loss", vary={"E": "dataset"})
    assert model.prior("k") == sl.Prior("LogNormal", -1.0, 0.3)
    assert model.prior("E_sd") == sl.Prior("HalfNormal", law.param("E").group_scale)
    assert model.prior("sigma") == sl.Prior("HalfNormal", 0.1)
