"""Fuzzing the readers of user input: the law-expression parser, the TOML/JSON/dict
spec readers and the reading of a DataFrame of runs. Random text, random structures and
random frames give a result or a ScalingLawError, never another exception, and each call
returns within a second (hypothesis' deadline); a frame is never changed.
"""

from __future__ import annotations

import json
import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import scalinglaws as sl
from scalinglaws import read_spec
from scalinglaws.spec import SPEC_KEYS, is_centred

FUZZ = settings(max_examples=60, deadline=1000,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _only_scaling_law_errors(call, *args) -> None:
    try:
        call(*args)
    except sl.ScalingLawError:
        pass


# --- the expression parser ---------------------------------------------------------------

NAMES = st.sampled_from(["N", "D", "C", "L", "E", "A", "B", "alpha", "beta", "x", "_x",
                         "log", "exp", "sqrt", "log1p", "os", "__import__", "eval"])
NUMBERS = st.one_of(st.integers(min_value=-10**400, max_value=10**400).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["1e400", "0", "0.0", "1e-400", "1_000", "0x1f", "1j"]))
OPERATORS = st.sampled_from(["+", "-", "*", "/", "**", "%", "//", "@", "<", "==", "and",
                             "|", "^", ">>", ",", " if x else "])


def _expressions(leaves):
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(inner, OPERATORS, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["-", "+", "not ", "~"]), inner).map("".join),
            st.tuples(NAMES, inner).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(NAMES, inner, inner).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(inner, NAMES).map(lambda t: f"{t[0]}.{t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            inner.map(lambda e: f"lambda: {e}"),
            inner.map(lambda e: f"[{e}]"),
        ),
        max_leaves=12,
    )


EXPRESSIONS = _expressions(st.one_of(NAMES, NUMBERS))


@FUZZ
@given(st.text(max_size=200))
def test_expression_random_text(text):
    _only_scaling_law_errors(sl.Law.from_expression, text)


@FUZZ
@given(EXPRESSIONS)
def test_expression_random_formulas(text):
    _only_scaling_law_errors(sl.Law.from_expression, text)


@FUZZ
@given(EXPRESSIONS)
def test_expression_random_formulas_as_models(text):
    _only_scaling_law_errors(lambda: sl.ScalingModel(text, target="loss").to_json())


def test_expression_nested_deeply():
    _only_scaling_law_errors(sl.Law.from_expression, "(" * 5000 + "N" + ")" * 5000)
    _only_scaling_law_errors(sl.Law.from_expression, "-" * 100_000 + "N")
    _only_scaling_law_errors(sl.Law.from_expression, "N" + "**N" * 5000)


# --- the spec readers --------------------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**400, max_value=10**400),
                    st.floats(), st.text(max_size=20),
                    st.sampled_from(["chinchilla", "kaplan", "dataset", "N", "D", "loss",
                                     "Normal", "LogNormal", "partial", "none", "log",
                                     "E + A*N**-alpha", "centred", "level"]))
KEYS = st.one_of(st.sampled_from([*SPEC_KEYS, "expression", "name", "loc", "scale", "E",
                                  "alpha", "N", "D", "sigma", "study", "link", "params",
                                  "prior", "constraint", "variables", "output",
                                  "E[dataset]", "E[", "E[]", "run[run]"]),
                 st.text(max_size=10))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=15)
SPECS = st.dictionaries(KEYS, VALUES, max_size=8)
NUMBERS_OR_NOT = st.one_of(st.integers(min_value=-10**400, max_value=10**400),
                           st.floats(), SCALARS, VALUES)
PRIOR_TABLES = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["Normal", "LogNormal", "Beta", "HalfNormal", "Gamma"]),
                       VALUES)},
    optional={k: NUMBERS_OR_NOT for k in ("loc", "scale", "concentration1",
                                          "concentration0", "concentration", "rate")})
PRIORS = st.dictionaries(st.one_of(st.sampled_from(["alpha", "E", "sigma", "E_sd", "A"]),
                                   KEYS), st.one_of(PRIOR_TABLES, VALUES), max_size=3)
PARAMS = st.dictionaries(st.sampled_from(["E", "A", "a", "N", "x"]), st.one_of(
    st.fixed_dictionaries({}, optional={"prior": st.one_of(PRIOR_TABLES, VALUES),
                                        "constraint": st.one_of(st.sampled_from(
                                            ["positive", "unit", "real"]), VALUES),
                                        "group_scale": NUMBERS_OR_NOT,
                                        "description": VALUES}), VALUES), max_size=3)


@FUZZ
@given(SPECS)
def test_spec_from_random_dicts(data):
    _only_scaling_law_errors(sl.ScalingModel.from_dict, data)


LAWS = st.one_of(
    st.sampled_from(["chinchilla", "kaplan", "compute", "overtraining"]),
    st.dictionaries(KEYS, VALUES, max_size=5),
    st.fixed_dictionaries({"expression": st.one_of(EXPRESSIONS, SCALARS)},
                          optional={"params": st.one_of(PARAMS, VALUES), "variables": VALUES,
                                    "name": VALUES, "output": VALUES}))
STRUCTURED = st.fixed_dictionaries(
    {"law": LAWS},
    optional={**{k: VALUES for k in SPEC_KEYS if k != "law"}, "priors": st.one_of(PRIORS, VALUES),
              "vary": st.one_of(st.dictionaries(st.sampled_from(["E", "A", "alpha", "sigma"]),
                                                VALUES, max_size=3), VALUES)})


@FUZZ
@given(STRUCTURED)
@example({"law": "chinchilla", "priors": {"alpha": {"name": "Normal", "loc": 10**400,
                                                    "scale": 1}}})
@example({"law": "chinchilla", "priors": {"alpha": {"name": ["Normal"]}}})
@example({"law": "chinchilla", "priors": {"alpha": {"name": "Normal", 1: 2}}})
@example({"law": {"expression": "E + A*N**-a", "params": {"a": {"group_scale": 10**400}}}})
@example({"law": "chinchilla", "reference": {"N": 10**400}})
def test_spec_from_random_dicts_with_a_law(data):
    _only_scaling_law_errors(sl.ScalingModel.from_dict, data)


@FUZZ
@given(STRUCTURED.map(lambda d: {**d, "link": "shifted_power"}),
       st.dictionaries(st.sampled_from(["x", "y", "feedback", "latent", "x_run", "law_rows",
                                        "study"]), VALUES, max_size=3))
@example({"law": "kaplan", "link": "shifted_power", "vary": 3}, {})
@example({"law": "kaplan", "link": "shifted_power", "inputs": 3}, {})
@example({"law": "chinchilla", "link": "shifted_power", "inputs": "0"}, {})  # was a ValueError
def test_loss_to_loss_spec_from_random_tables(data, extra):
    _only_scaling_law_errors(read_spec, {**data, **extra})


@FUZZ
@given(st.one_of(st.text(max_size=300), SPECS.map(json.dumps),
                 VALUES.map(lambda v: json.dumps(v, default=str))))
def test_spec_from_random_json(text):
    _only_scaling_law_errors(sl.ScalingModel.from_json, text)


def _toml_text(data) -> str:
    from scalinglaws.spec import dump_toml

    try:
        return dump_toml(data)
    except (sl.ScalingLawError, RecursionError):
        return ""


@FUZZ
@given(st.one_of(st.text(max_size=300), SPECS.filter(lambda d: "link" not in d).map(_toml_text)))
def test_toml_random_text(text):
    _only_scaling_law_errors(read_spec, text)


@FUZZ
@given(st.text(max_size=60))
@example("x" * 5000)
@example("a\x00b")
def test_spec_random_paths(text):
    _only_scaling_law_errors(read_spec, text + ".toml")



PARAMETERIZATION_KEYS = st.sampled_from(["E", "A", "sigma", "run", "E[dataset]", "E[seed]",
                                         "E[tok]", "A[dataset]", "E[", "[dataset]", "E[]",
                                         "E[dataset][seed]", "run[run]"])


@FUZZ
@given(st.dictionaries(PARAMETERIZATION_KEYS,
                       st.sampled_from(["centred", "noncentred", "auto", "", 1]), max_size=4))
def test_random_parameterization_dicts(choice):
    """A dict per parameter or per parameter and factor ("E[dataset]"): a model that takes
    it reads it back from TOML unchanged and samples exactly the (parameter, factor)
    pairs it names centred; anything else is a ScalingLawError."""
    try:
        model = sl.ScalingModel("chinchilla", target="loss", run="run",
                                vary={"E": ["dataset", "seed"], "A": "dataset"},
                                parameterization=choice)
    except sl.ScalingLawError:
        return
    assert sl.ScalingModel.from_toml(model.to_toml()) == model
    for name, factor in [("E", "dataset"), ("E", "seed"), ("A", "dataset"), ("run", "run")]:
        said = choice.get(f"{name}[{factor}]", choice.get(name, "noncentred"))
        assert is_centred(model.parameterization, name, factor) == (said == "centred")

# --- a DataFrame of runs ------------------------------------------------------------------

FRAME_MODELS = [
    sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}),
    sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}, run="run"),
    sl.ScalingModel("chinchilla", target="loss", measurement_se="se"),
    sl.ScalingModel("chinchilla", target="loss", vary={"E": ["dataset", "tok"], "A": "dataset"},
                    likelihood="student_t"),
    sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset", "A": "dataset",
                                                       "B": "dataset"},
                    coordinates="level", parameterization="centred"),
]
#: each column's valid values; a cell is replaced by a bad one now and then
GOOD_CELLS = {"N": st.floats(1e6, 1e11), "D": st.floats(1e8, 1e12), "loss": st.floats(1.5, 6.0),
              "se": st.floats(0.001, 0.1), "dataset": st.sampled_from(["a", "b", "c"]),
              "tok": st.sampled_from(["t1", "t2"]), "run": st.sampled_from(["r1", "r2", "r3"])}
BAD_CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                      st.integers(-10**20, 10**20), st.text(max_size=4), st.none(),
                      st.booleans(), st.sampled_from([pd.NA, 0.0, -1.0, 1e308, 5e-324, 1j]))
COLUMN_DTYPES = st.sampled_from([None, None, "object", "Float64", "Int64", "string",
                                 "category"])


#: a paired frame of a loss-to-loss model (pair_losses' columns)
PAIRED_CELLS = {"N": st.floats(1e6, 1e11), "D": st.floats(1e8, 1e12),
                "loss_x": st.floats(1.5, 6.0), "loss_y": st.floats(1.5, 6.0),
                "dataset_x": st.just("web"), "dataset_y": st.sampled_from(["code", "books"]),
                "run_x": st.sampled_from(["r1", "r2", "r3"])}


@st.composite
def frames(draw, cells=GOOD_CELLS):
    n = draw(st.integers(1, 10))
    columns = {}
    for name, good in cells.items():
        if draw(st.integers(0, 20)) == 0:
            continue  # a missing column now and then
        cells = [draw(BAD_CELLS) if draw(st.integers(0, 15)) == 0 else draw(good)
                 for _ in range(n)]
        try:
            columns[name] = pd.Series(cells, dtype=draw(COLUMN_DTYPES))
        except Exception:  # noqa: BLE001  cells that dtype cannot hold (pandas' own errors)
            columns[name] = pd.Series(cells)
    frame = pd.DataFrame(columns)
    index = draw(st.sampled_from(["range", "reversed", "text", "repeated"]))
    frame.index = {"range": frame.index, "reversed": frame.index[::-1],
                   "text": pd.Index([f"run{i}" for i in range(n)]),
                   "repeated": pd.Index(np.zeros(n, dtype=int))}[index]
    return frame


@FUZZ
@given(frames(), st.sampled_from(FRAME_MODELS))
def test_random_frames_of_runs(frame, model):
    from scalinglaws.data import make_design

    before = frame.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' casts of bad cells
        _only_scaling_law_errors(make_design, model, frame)
    pd.testing.assert_frame_equal(frame, before)


@settings(FUZZ, deadline=None)  # the first prediction compiles
@given(frames(), st.booleans())
@example(pd.DataFrame({"N": [1e8], "D": [5e-324], "loss": [3.0], "dataset": ["web"]}), True)
def test_random_frames_to_predict_and_score(hierarchical_fit, frame, with_target):
    """A fitted model's predictions and scores of random frames: a result or a
    ScalingLawError before anything runs (a size of 5e-324, which XLA reads as 0, once
    reached the log density as an invalid location)."""
    frame = frame if with_target else frame.drop(columns=["loss"], errors="ignore")
    before = frame.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # new levels, pandas' casts of bad cells
        _only_scaling_law_errors(hierarchical_fit.predict, frame)
        _only_scaling_law_errors(hierarchical_fit.log_density, frame)
    pd.testing.assert_frame_equal(frame, before)


@FUZZ
@given(frames(PAIRED_CELLS), st.sampled_from(["joint", "cut"]))
@example(pd.DataFrame({"N": [1e8, 1j], "D": [1e9, 1e9], "loss_x": [3.0, 3.1],
                       "loss_y": [3.2, 3.3], "dataset_x": "web", "dataset_y": "code"}),
         "joint")  # complex N once reached pandas' groupby of input models
def test_random_paired_frames(frame, feedback):
    from scalinglaws import losstoloss as ltl
    from scalinglaws.losstoloss.layout import Layout

    spec = ltl.LossToLossModel("chinchilla", vary={"K": "dataset_y"}, feedback=feedback)
    before = frame.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_scaling_law_errors(Layout.build, spec, frame)
    pd.testing.assert_frame_equal(frame, before)


# --- the decide functions' arguments ------------------------------------------------------

ARGUMENTS = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10**30, 10**30), st.text(max_size=4), st.lists(st.floats(0, 1e24), max_size=3),
    st.sampled_from([np.array([1e21, 1e22]), "auto", "closed", "expected", "width", 0.9]),
    st.dictionaries(st.sampled_from(["dataset", "N", "D", "x"]),
                    st.one_of(st.floats(0, 1e12), st.sampled_from(["web", "code", "new"])),
                    max_size=3),
    st.just(pd.DataFrame({"N": [1e9], "D": [2e10], "dataset": ["web"]})))
AT = {"N": 1e10, "D": 2e11, "dataset": "web"}
#: each function's valid arguments, and the names of those the fuzz replaces
DECISIONS = {
    "choose_size": ({"compute": 1e21, "n_grid": 20},
                    ["compute", "group", "rule", "quantile", "target", "point", "interval"]),
    "compute_optimal": ({"compute": [1e21]}, ["compute", "group", "interval", "method"]),
    "epochs_worth_it": ({"at": AT}, ["at", "epochs", "tolerance", "confidence", "interval"]),
    "next_run": ({"candidates": {"N": [1e9], "D": [2e10], "dataset": ["web"]}, "target": AT,
                  "n_sim": 16}, ["candidates", "target", "cost", "measure", "predictive"]),
    "prob_better": ({"a": {"dataset": "web"}, "b": {"dataset": "code"},
                     "at": {"N": 1e10, "D": 2e11}},
                    ["a", "b", "at", "rope", "predictive", "higher_is_better", "interval"]),
    "prob_target": ({"target": 2.3, "at": AT},
                    ["target", "at", "predictive", "higher_is_better", "interval"]),
}


@settings(FUZZ, deadline=None)  # a decision's first prediction compiles
@given(st.data())
def test_decisions_with_random_arguments(hierarchical_fit, data):
    from scalinglaws import decide

    name = data.draw(st.sampled_from(sorted(DECISIONS)))
    valid, names = DECISIONS[name]
    kwargs = {**valid, **data.draw(st.dictionaries(st.sampled_from(names), ARGUMENTS,
                                                   max_size=2))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_scaling_law_errors(partial(getattr(decide, name), hierarchical_fit, **kwargs))


def _wrong_kinds(fit):
    """Calls with an argument of the wrong kind, each once answered by another exception
    than a ScalingLawError (found by fuzzing the public functions' arguments)."""
    from scalinglaws import decide, validate
    from scalinglaws.report import build_html

    two = np.array([0.5, 0.9])
    return {
        "compute_optimal, an array as method": lambda: decide.compute_optimal(
            fit, [1e21], method=np.array([1e21, 1e22])),
        "prob_target, a frame as a flag": lambda: decide.prob_target(
            fit, 2.3, AT, predictive=pd.DataFrame(AT, [0])),
        "prob_better, an int past float64 as rope": lambda: decide.prob_better(
            fit, **DECISIONS["prob_better"][0], rope=-2**1100),
        "compare, an array of chains": lambda: sl.compare({"a": fit, "b": fit}, holdout=1e20,
                                                          chains=two),
        "extrapolation, no intervals": lambda: validate.extrapolation(fit, intervals=None),
        "Discrepancy.estimate, text": lambda: validate.Discrepancy.estimate("", "", "", ""),
        "Discrepancy, a frame as bias": lambda: validate.Discrepancy(
            pd.DataFrame(AT, [0]), 0.1, 3),
        "datasets.load, an array as table": lambda: sl.datasets.load("gadre2024", two),
        "datasets.load, an array as verify": lambda: sl.datasets.load("gadre2024",
                                                                      verify=two),
        "datasets.load, an array as data_dir": lambda: sl.datasets.load("gadre2024",
                                                                        data_dir=two),
        "report, an array as validation": lambda: build_html({"a": fit}, validation=two),
        "report, False as data": lambda: build_html({"a": fit}, data=False),
        "save, None as the path": lambda: fit.save(None),
        "load, None as the path": lambda: sl.load(None),
        "fit, more chains than 32-bit counts": lambda: fit.spec.fit(fit.data(), chains=2**70),
        "plot, 0 as extrapolate": lambda: fit.plot(extrapolate=0),
        "plot, text as targets": lambda: fit.plot(targets="abc"),
        "plot, a number as truth": lambda: fit.plot(truth=3.0),
    }


@pytest.mark.parametrize("case", list(_wrong_kinds(None)))
def test_public_functions_refuse_arguments_of_the_wrong_kind(hierarchical_fit, case):
    with pytest.raises(sl.ScalingLawError, match="must be|unknown"):
        _wrong_kinds(hierarchical_fit)[case]()


def _helpers_wrong_kinds():
    """Synthetic data and pairing called with arguments of the wrong kind, each once
    answered by Python's or NumPy's TypeError, ValueError or KeyError (found by fuzzing)."""
    from scalinglaws import losstoloss as ltl

    runs = ltl.simulate(seed=1)
    return {
        "sweep, None as sizes": lambda: sl.synthetic.sweep(sizes=None),
        "sweep, text as multipliers": lambda: sl.synthetic.sweep(multipliers="abc"),
        "sweep, a truth without its keys": lambda: sl.synthetic.sweep(truth={"a": 1}),
        "sweep, a truth that is not a dict": lambda: sl.synthetic.sweep(truth=True),
        "sweep, text in the truth": lambda: sl.synthetic.sweep(
            truth={**sl.synthetic.TRUTH, "alpha": "0.3"}),
        "simulate, text as sigma": lambda: ltl.simulate(sigma="abc"),
        "simulate, sigma of other sets": lambda: ltl.simulate(sigma={"a": 1.0}),
        "simulate, a nested list as sizes": lambda: ltl.simulate(sizes=[[1]]),
        "simulate, no reference set": lambda: ltl.simulate(
            truth={**ltl.SIM_TRUTH, "K": {"web": 2.0, "code": 0.55, "books": 1.1}}),
        "pairs, True as x": lambda: ltl.pair_train_to_train(runs, x=True, loss="loss"),
        "pairs, None as loss": lambda: ltl.pair_train_to_train(runs, x="web", loss=None),
        "pairs, None as on": lambda: ltl.pair_train_to_train(runs, loss="loss", on=None),
        "pairs, a list as run": lambda: ltl.pair_train_to_train(runs, loss="loss", run=[1]),
        "pairs, None as tasks": lambda: ltl.pair_train_to_test(runs, None, loss="loss"),
        "pairs, a number as task": lambda: ltl.pair_test_to_test(runs, 3),
    }


@pytest.mark.parametrize("case", list(_helpers_wrong_kinds()))
def test_data_helpers_refuse_arguments_of_the_wrong_kind(case):
    with pytest.raises(sl.ScalingLawError, match="must be|must give|lacks|needs a reference"):
        _helpers_wrong_kinds()[case]()


def test_a_level_is_one_value_per_row(hierarchical_fit):
    """Found by fuzzing: a dict or a list as a factor's cell reached pandas' hashing."""
    with pytest.raises(sl.ScalingLawError, match="holds a dict .* one text or number per row"):
        hierarchical_fit.predict({"N": 1e9, "D": 2e10, "dataset": {"a": 1}})
    frame = pd.DataFrame({"N": [1e8] * 3, "D": [1e9] * 3, "loss": [3.0] * 3,
                          "dataset": [["web"], ["code"], ["books"]]})
    with pytest.raises(sl.ScalingLawError, match="holds a list"):
        hierarchical_fit.spec.fit(frame)


def test_plot_refuses_panels_and_lines_it_cannot_draw(hierarchical_fit):
    """Found by fuzzing: a list as ``by`` reached a set membership test (TypeError), a
    truth of one value matplotlib's shapes (ValueError). No figure is left open."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    with pytest.raises(sl.ScalingLawError, match="cannot split the plot by"):
        hierarchical_fit.plot(by=[0.5])
    with pytest.raises(sl.ScalingLawError, match="one value per row of path"):
        hierarchical_fit.plot(truth=lambda path, level: 1.0)
    assert plt.get_fignums() == before


@pytest.mark.parametrize("model, field", [
    (sl.ScalingModel, "pooling"), (sl.ScalingModel, "likelihood"), (sl.ScalingModel, "scale"),
    (sl.ScalingModel, "coordinates"), (sl.ScalingModel, "parameterization"),
    ("loss-to-loss", "latent"), ("loss-to-loss", "feedback"),
    ("loss-to-loss", "parameterization"),
])
def test_models_refuse_arrays_as_choices(model, field):
    """Found by fuzzing: an array where a model takes one of a few names raised NumPy's
    "truth value of an array is ambiguous" from the membership test."""
    from scalinglaws import losstoloss as ltl

    model = ltl.LossToLossModel if model == "loss-to-loss" else model
    with pytest.raises(sl.ScalingLawError, match=f"{field} must be one of"):
        model("chinchilla", vary={"E": "dataset"}, **{field: np.array(["a", "b"])})
    with pytest.raises(sl.ScalingLawError, match="parameterization maps"):
        sl.ScalingModel("chinchilla", vary={"E": "dataset"},
                        parameterization={"E": np.array(["a", "b"])})
