"""Priors and model specs: validation, overrides, dict/JSON/TOML round trips."""

from __future__ import annotations

import json
import re

import pytest

import scalinglaws as sl
from scalinglaws.errors import ScalingLawError


def test_prior_round_trip_and_numpyro():
    prior = sl.Prior("Beta", 2, 4)
    assert sl.Prior.from_dict(prior.to_dict()) == prior
    assert float(prior.to_numpyro().mean) == pytest.approx(2 / 6)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("Normall", 0, 1), {}, "unknown prior distribution 'Normall'"),
        (("Normal", 0), {}, r"needs \['scale'\]"),
        (("Normal", 0, 1, 2), {}, "at most 2 arguments"),
        (("Normal",), {"loc": 0, "sigma": 1}, "has no argument 'sigma'"),
        (("Normal", 0, "wide"), {}, "is not a number"),
        (("Normal", 0, float("nan")), {}, "must be finite"),
        (("HalfNormal", -1.0), {}, "not a valid distribution"),
    ],
)
def test_bad_prior(args, kwargs, match):
    with pytest.raises(ScalingLawError, match=match):
        sl.Prior(*args, **kwargs)


def test_prior_override_by_name():
    model = sl.ScalingModel("chinchilla", priors={"alpha": sl.Prior("Beta", 2, 4)})
    assert model.prior("alpha") == sl.Prior("Beta", 2, 4)
    assert model.prior("beta") == sl.laws.get("chinchilla").param("beta").prior


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"law": "chinchila"}, "unknown law"),
        ({"law": "chinchilla", "priors": {"gamma": sl.Prior("Normal", 0, 1)}},
         "priors names 'gamma'"),
        ({"law": "chinchilla", "priors": {"alpha": sl.Prior("Normal", 0, 1)}},
         "puts mass outside the positive"),
        ({"law": "chinchilla", "vary": {"alpah": "dataset"}}, "vary names 'alpah'"),
        ({"law": "chinchilla", "vary": {"E": 3}}, "must be a column name"),
        ({"law": "chinchilla", "inputs": {"N": "params"}}, "inputs must map each variable"),
        ({"law": "chinchilla", "pooling": "some"}, "pooling must be one of"),
        ({"law": "chinchilla", "pooling": "none", "vary": {"E": ["dataset", "seed"]}},
         "not identifiable for crossed factors"),
        ({"law": "chinchilla", "likelihood": "laplace"}, "likelihood must be one of"),
        ({"law": "chinchilla", "reference": {"N": -1.0}}, "reference must give a positive"),
        ({"law": "chinchilla", "parameterization": "both"}, "parameterization must be one of"),
        ({"law": "chinchilla", "vary": {"E": "dataset"}, "parameterization": {"A": "centred"}},
         "bad entries"),
        ({"law": "chinchilla", "vary": {"E": "dataset"},
          "parameterization": {"E[seed]": "centred"}}, r"bad entries \{'E\[seed\]'"),
        ({"law": "chinchilla", "vary": {"E": "dataset"},
          "parameterization": {"E[dataset": "centred"}}, "bad entries"),
        ({"law": "chinchilla", "coordinates": "level",
          "vary": {p: "dataset" for p in "EAB"},
          "parameterization": {"E[dataset]": "centred", "A": "centred"}}, "centred hierarchy"),
        ({"law": "chinchilla", "coordinates": "polar"}, "coordinates must be one of"),
        ({"law": "chinchilla", "parameterization": "centered"},
         r"got 'centered' \(did you mean 'centred'\?\)"),
        ({"law": "chinchilla", "scale": "logs"}, r"\(did you mean 'log'\?\)"),
        ({"law": "chinchilla", "targte": "loss"},
         r"ScalingModel has no argument 'targte' \(did you mean 'target'\?\)"),
        ({"law": "chinchilla", "noise": "se"},
         "no argument 'noise' .*standard errors is measurement_se"),
        ({"law": "chinchilla", "seed": 0}, r"seed is a sampler setting: pass it to fit\(\)"),
        ({"law": "kaplan", "coordinates": "level"}, "declares none"),
        ({"law": "chinchilla", "coordinates": "level", "vary": {"E": "dataset"}},
         "must vary alike"),
        ({"law": "chinchilla", "coordinates": "level",
          "vary": {p: "dataset" for p in "EAB"}}, "centred hierarchy"),
        ({"law": "chinchilla", "coordinates": "level", "vary": {"E": ["dataset", "seed"],
          "A": ["dataset", "seed"], "B": ["dataset", "seed"]}}, "must vary alike"),
    ],
)
def test_bad_spec(kwargs, match):
    with pytest.raises(ScalingLawError, match=match):
        sl.ScalingModel(**kwargs)


def test_level_coordinates_take_their_terms_centred_per_factor():
    model = sl.ScalingModel("chinchilla", coordinates="level",
                            vary={p: "dataset" for p in "EAB"},
                            parameterization={f"{p}[dataset]": "centred" for p in "EAB"})
    assert model.coordinates == "level"


def test_spec_defaults_and_round_trips(tmp_path):
    model = sl.ScalingModel(
        "chinchilla", inputs={"N": "params", "D": "tokens"}, target="loss_c4_val",
        vary={"E": ["dataset", "tokenizer"], "sigma": "dataset"},
        priors={"alpha": sl.Prior("Beta", 2, 4), "E_sd": sl.Prior("HalfNormal", 0.2)},
        likelihood="student_t", run="run_name", reference={"N": 1e8, "D": 2e9},
        parameterization={"E[tokenizer]": "centred", "sigma": "centred"},
    )
    assert model.scale == "log"
    assert model.vary == {"E": ("dataset", "tokenizer"), "sigma": ("dataset",)}
    assert sl.ScalingModel.from_dict(model.to_dict()) == model
    assert sl.ScalingModel.from_json(model.to_json()) == model
    path = tmp_path / "m.toml"
    model.to_toml(path)
    assert sl.ScalingModel.from_toml(path) == model
    assert sl.ScalingModel("downstream_exp", inputs={"L": "loss"},
                           target="error").scale == "identity"


def test_expression_law_round_trips_through_toml():
    model = sl.ScalingModel("E + A*C**-alpha", inputs={"C": "flops"})
    back = sl.ScalingModel.from_toml(model.to_toml())
    assert back.law.variables == ("C",)
    assert back.law.param_names == model.law.param_names
    # a parameter's group scale sets the prior of its between-level sd: it must survive
    law = sl.Law.from_expression("E + A*C**-alpha", params={
        "E": {"group_scale": 0.2, "description": "floor"}, "alpha": {"prior": sl.Prior(
            "LogNormal", -1.0, 0.5)}})
    model = sl.ScalingModel(law, inputs={"C": "flops"}, vary={"E": "dataset"})
    back = sl.ScalingModel.from_toml(model.to_toml())
    assert back.law.params == model.law.params
    assert back.prior("E_sd") == model.prior("E_sd") == sl.Prior("HalfNormal", 0.2)
    assert "group_scale" not in model.to_dict()["law"]["params"]["A"]
    # the spec read back equals the saved one (the law by its expression, not by the
    # functions compiled from it), and another formula does not
    assert back == model and back.law == law and hash(back.law) == hash(law)
    assert sl.Law.from_expression("E + A*C**-beta") != sl.Law.from_expression("E + A*C**-alpha")


def test_noise_power_law_round_trips_through_toml_json_and_pickle():
    import pickle

    registry = sl.laws.noise_power(sl.laws.get("chinchilla"), "N")
    custom = sl.laws.noise_power(
        sl.Law.from_expression("E + A*C**-alpha", name="power"), "C", name="noisy",
        prior=sl.Prior("Normal", 0.5, 0.25), description="Small budgets scatter more.")
    for law in (registry, custom):
        model = sl.ScalingModel(law, vary={"E": "dataset"})
        for back in (sl.ScalingModel.from_toml(model.to_toml()),
                     sl.ScalingModel.from_json(model.to_json()),
                     pickle.loads(pickle.dumps(model))):
            assert back == model and back.law == law and hash(back.law) == hash(law)
            assert back.law.param("s").prior == law.param("s").prior
            assert back.law.description == law.description
    assert custom.description.endswith("Small budgets scatter more.")
    assert sl.ScalingModel(registry).to_dict()["law"] == {"noise_power": "N",
                                                        "base": "chinchilla"}
    # another variable, prior or base is another law
    assert registry != sl.laws.noise_power(sl.laws.get("chinchilla"), "D")
    assert registry != sl.laws.noise_power(sl.laws.get("chinchilla"), "N",
                                           prior=sl.Prior("Normal", 0.0, 0.1))
    assert registry != sl.laws.noise_power(sl.laws.get("kaplan"), "N",
                                           name="chinchilla_noise_by_N")
    with pytest.raises(ScalingLawError, match="needs the base law"):
        sl.ScalingModel.from_dict({"law": {"noise_power": "N"}})
    with pytest.raises(ScalingLawError, match="'C' is not a variable of law 'chinchilla'"):
        sl.ScalingModel.from_dict({"law": {"noise_power": "C", "base": "chinchilla"}})
    with pytest.raises(ScalingLawError, match="unknown key 'bsae'"):
        sl.ScalingModel.from_dict({"law": {"noise_power": "N", "bsae": "chinchilla"}})


def test_from_toml_errors(tmp_path):
    with pytest.raises(ScalingLawError, match="does not exist"):
        sl.ScalingModel.from_toml(tmp_path / "missing.toml")
    with pytest.raises(ScalingLawError, match="not valid TOML"):
        sl.ScalingModel.from_toml("law = \n[")
    with pytest.raises(ScalingLawError, match="unknown key .colour."):
        sl.ScalingModel.from_dict({"law": "chinchilla", "colour": "red"})


def test_spec_is_immutable():
    model = sl.ScalingModel("chinchilla")
    with pytest.raises(AttributeError):
        model.target = "other"  # type: ignore[misc]


def test_scaling_model_signature_lists_its_arguments():
    import inspect

    params = inspect.signature(sl.ScalingModel).parameters
    assert list(params)[:3] == ["law", "inputs", "target"] and "measurement_se" in params


def test_priors_of_parts_the_model_lacks_are_refused_and_dropped_from_old_files():
    """A prior for nu without Student-t noise, for run_sd without run=, and a "run"
    parameterization without run= are refused where the model is built; a spec stored
    before (in a saved fit) loads without them, as they never had an effect."""
    nu = sl.Prior("Gamma", 2.0, 0.1)
    for kwargs, fragment in [({"priors": {"nu": nu}}, "add likelihood='student_t'"),
                             ({"priors": {"run_sd": nu}}, "add run='<column of run ids>'"),
                             ({"parameterization": {"run": "centred"}}, "names 'run'")]:
        with pytest.raises(sl.ScalingLawError, match=re.escape(fragment)):
            sl.ScalingModel("chinchilla", **kwargs)
        kept = {"likelihood": "student_t"} if "nu" in kwargs.get("priors", {}) else {"run": "r"}
        sl.ScalingModel("chinchilla", **kwargs, **kept)
    stored = {**sl.ScalingModel("chinchilla", vary={"E": "dataset"}).to_dict(),
              "priors": {"nu": nu.to_dict(), "run_sd": nu.to_dict(), "alpha": nu.to_dict()},
              "parameterization": {"run": "centred", "E": "centred"}}
    loaded = sl.ScalingModel.from_json(json.dumps(stored))
    assert loaded.priors == {"alpha": nu} and loaded.parameterization == {"E": "centred"}
