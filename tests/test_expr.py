"""Tests for custom laws from expressions (Law.from_expression and its safe parser)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws.errors import ScalingLawError
from scalinglaws.laws import Law, Param
from scalinglaws.priors import Prior

jax.config.update("jax_enable_x64", True)

CHINCHILLA = "E + A*N**-alpha + B*D**-beta"
P_CHIN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
N_GRID = np.array([1e6, 7e7, 1e9, 7e10, 1e13])
D_GRID = np.array([2e7, 1e9, 2e10, 1.4e12, 1e14])


def chinchilla_by_hand(n, d, p):
    return p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * d ** -p["beta"]


# --- closed-form values ------------------------------------------------------------------

def test_chinchilla_matches_hand_computation():
    law = Law.from_expression(CHINCHILLA)
    got = np.asarray(law.fn({"N": N_GRID, "D": D_GRID}, P_CHIN))
    np.testing.assert_allclose(got, chinchilla_by_hand(N_GRID, D_GRID, P_CHIN), rtol=1e-12)


def test_chinchilla_matches_builtin():
    law = Law.from_expression(CHINCHILLA)
    builtin = sl.laws.get("chinchilla")
    v = {"N": N_GRID, "D": D_GRID}
    np.testing.assert_allclose(np.asarray(law.fn(v, P_CHIN)),
                               np.asarray(builtin.fn(v, P_CHIN)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(law.log_fn(v, P_CHIN)),
                               np.asarray(builtin.log_fn(v, P_CHIN)), rtol=1e-12)


def test_kaplan_matches_builtin_in_log_space():
    law = Law.from_expression("E + ((A/N)**(alpha/beta) + B/D)**beta")
    builtin = sl.laws.get("kaplan")
    p = {"E": 1.7, "A": 8.8e13, "B": 5.4e13, "alpha": 0.076, "beta": 0.103}
    v = {"N": N_GRID, "D": D_GRID}
    np.testing.assert_allclose(np.asarray(law.fn(v, p)), np.asarray(builtin.fn(v, p)),
                               rtol=1e-10)
    np.testing.assert_allclose(np.asarray(law.log_fn(v, p)), np.asarray(builtin.log_fn(v, p)),
                               rtol=1e-10)


@pytest.mark.parametrize(
    ("expression", "variables", "params", "expected"),
    [
        ("A*N", {"N": 3.0}, {"A": 2.0}, 6.0),
        ("A/N - c", {"N": 4.0}, {"A": 2.0, "c": 1.0}, -0.5),
        ("A*N**2", {"N": -3.0}, {"A": 1.0}, 9.0),
        ("A*N**-1", {"N": 4}, {"A": 1}, 0.25),
        ("-A + +N", {"N": 5.0}, {"A": 2.0}, 3.0),
        ("A*log(N)", {"N": math.e ** 2}, {"A": 3.0}, 6.0),
        ("exp(-k*L)", {"L": 2.0}, {"k": 0.5}, math.exp(-1.0)),
        ("A*log1p(N)", {"N": 1e-20}, {"A": 1.0}, 1e-20),
        ("sqrt(A*C)", {"C": 8.0}, {"A": 2.0}, 4.0),
        ("A*2**N", {"N": 10.0}, {"A": 1.0}, 1024.0),
        ("A*N**-alpha**2", {"N": 16.0}, {"A": 1.0, "alpha": 0.5}, 0.5),
        ("a*b/c*N", {"N": 1.0}, {"a": 6.0, "b": 2.0, "c": 3.0}, 4.0),
        ("a - (b - N)", {"N": 1.0}, {"a": 3.0, "b": 2.0}, 2.0),
        ("K*(L - E_x)**kappa + E_y", {"L": 3.0}, {"K": 2.0, "E_x": 1.0, "kappa": 2.0,
                                                  "E_y": 0.5}, 8.5),
    ],
)
def test_closed_form_values(expression, variables, params, expected):
    law = Law.from_expression(expression, output="real")
    assert float(law.fn(variables, params)) == pytest.approx(expected, rel=1e-12)


def test_fn_broadcasts():
    law = Law.from_expression(CHINCHILLA)
    out = law.fn({"N": N_GRID[:, None], "D": D_GRID[None, :]}, P_CHIN)
    assert out.shape == (5, 5)
    np.testing.assert_allclose(np.asarray(out),
                               chinchilla_by_hand(N_GRID[:, None], D_GRID[None, :], P_CHIN))


def test_fn_under_jit_and_vmap():
    law = Law.from_expression(CHINCHILLA)
    jitted = jax.jit(law.fn)
    np.testing.assert_allclose(np.asarray(jitted({"N": N_GRID, "D": D_GRID}, P_CHIN)),
                               chinchilla_by_hand(N_GRID, D_GRID, P_CHIN), rtol=1e-12)
    alphas = jnp.array([0.2, 0.3, 0.4])
    per_alpha = jax.vmap(lambda a: law.fn({"N": 1e9, "D": 2e10}, {**P_CHIN, "alpha": a}))(alphas)
    assert per_alpha.shape == (3,)


def test_float64_output():
    law = Law.from_expression(CHINCHILLA)
    assert law.fn({"N": N_GRID, "D": D_GRID}, P_CHIN).dtype == jnp.float64


def test_missing_input_is_a_clear_error():
    law = Law.from_expression(CHINCHILLA)
    with pytest.raises(ScalingLawError, match="'beta'"):
        law.fn({"N": 1.0, "D": 1.0}, {k: v for k, v in P_CHIN.items() if k != "beta"})


# --- log_fn ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("expression", "params"),
    [
        (CHINCHILLA, P_CHIN),
        ("E + ((A/N)**(alpha/beta) + B/D)**beta",
         {"E": 1.7, "A": 8.8e13, "B": 5.4e13, "alpha": 0.076, "beta": 0.103}),
        ("E + A*exp(-k*N/1e9) + sqrt(B/D)", {"E": 1.0, "A": 2.0, "k": 0.1, "B": 3.0}),
        ("E + A*log1p(N)**-alpha", {"E": 1.0, "A": 2.0, "alpha": 0.3}),
        ("E - A*N**-alpha", {"E": 3.0, "A": 2.0, "alpha": 0.1}),
        ("E + A*log(N)", {"E": 1.0, "A": 0.1}),
    ],
)
def test_log_fn_matches_log_of_fn(expression, params):
    law = Law.from_expression(expression)
    v = {"N": N_GRID, "D": D_GRID}
    fn = np.asarray(law.fn(v, params))
    log_fn = np.asarray(law.log_fn(v, params))
    assert np.all(np.isfinite(log_fn))
    finite = np.isfinite(np.log(fn))
    assert finite.any()
    np.testing.assert_allclose(log_fn[finite], np.log(fn[finite]), rtol=1e-10, atol=1e-12)
    assert law.log(v, params).shape == fn.shape


def test_log_fn_finite_with_tiny_terms_at_1e13():
    law = Law.from_expression(CHINCHILLA)
    p = {"E": 1e-300, "A": 1e-10, "B": 1e-20, "alpha": 30.0, "beta": 25.0}
    v = {"N": 1e13, "D": 1e13}
    log_a = math.log(1e-10) - 30.0 * math.log(1e13)  # A N^-alpha = e^-921: underflows
    log_b = math.log(1e-20) - 25.0 * math.log(1e13)  # B D^-beta = e^-794: underflows
    expected = np.logaddexp(np.logaddexp(math.log(1e-300), log_a), log_b)
    got = float(law.log_fn(v, p))
    assert np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == pytest.approx(float(sl.laws.get("chinchilla").log_fn(v, p)), rel=1e-12)


def test_log_fn_finite_where_fn_underflows():
    law = Law.from_expression("A*N**-alpha + B*D**-beta")
    p = {"A": 1e-10, "B": 1e-20, "alpha": 30.0, "beta": 25.0}
    v = {"N": 1e13, "D": 1e13}
    assert float(law.fn(v, p)) == 0.0  # every term underflows: log(fn) would be -inf
    expected = np.logaddexp(math.log(1e-10) - 30.0 * math.log(1e13),
                            math.log(1e-20) - 25.0 * math.log(1e13))
    assert float(law.log_fn(v, p)) == pytest.approx(expected, rel=1e-12)


def test_log_fn_power_term_alone_is_exact():
    law = Law.from_expression("A*N**-alpha")
    got = float(law.log_fn({"N": 1e13}, {"A": 2.0, "alpha": 30.0}))
    assert got == pytest.approx(math.log(2.0) - 30.0 * math.log(1e13), rel=1e-14)


def test_log_fn_falls_back_for_real_parameters_and_differences():
    real = Law.from_expression("E + c*N", params={"c": {"constraint": "real"}})
    v, p = {"N": 2.0}, {"E": 1.0, "c": 0.5}
    assert float(real.log_fn(v, p)) == pytest.approx(math.log(2.0))
    diff = Law.from_expression("E - A*N**-alpha")
    assert float(diff.log_fn({"N": 4.0}, {"E": 2.0, "A": 2.0, "alpha": 0.5})) == 0.0


def test_real_output_has_no_log_fn():
    law = Law.from_expression("eps - k*exp(-gamma*L)", output="real")
    assert law.output == "real"
    assert law.log_fn is None


def test_grad_through_fn_and_log_fn():
    law = Law.from_expression(CHINCHILLA)
    v = {"N": 1e9, "D": 2e10}

    def loss(p):
        return law.fn(v, p)

    grad = jax.grad(loss)(P_CHIN)
    n, d = v["N"], v["D"]
    assert float(grad["E"]) == pytest.approx(1.0)
    assert float(grad["A"]) == pytest.approx(n ** -P_CHIN["alpha"], rel=1e-10)
    assert float(grad["alpha"]) == pytest.approx(
        -P_CHIN["A"] * n ** -P_CHIN["alpha"] * math.log(n), rel=1e-10)
    assert float(grad["beta"]) == pytest.approx(
        -P_CHIN["B"] * d ** -P_CHIN["beta"] * math.log(d), rel=1e-10)
    log_grad = jax.grad(lambda p: law.log_fn(v, p))(P_CHIN)
    fn = float(law.fn(v, P_CHIN))
    for key in P_CHIN:
        assert float(log_grad[key]) == pytest.approx(float(grad[key]) / fn, rel=1e-10)
    grad_n = jax.grad(lambda n: law.fn({"N": n, "D": 2e10}, P_CHIN))(1e9)
    assert np.isfinite(float(grad_n))


# --- variables and parameters ------------------------------------------------------------

@pytest.mark.parametrize(
    ("expression", "variables", "params"),
    [
        ("E + A*N**-alpha", ("N",), ("E", "A", "alpha")),
        (CHINCHILLA, ("N", "D"), ("E", "A", "alpha", "B", "beta")),
        ("B*D**-beta + A*N**-alpha + E", ("N", "D"), ("B", "beta", "A", "alpha", "E")),
        ("E + A*C**-alpha", ("C",), ("E", "A", "alpha")),
        ("K*(L - E_x)**kappa + E_y", ("L",), ("K", "E_x", "kappa", "E_y")),
        ("a*L + b*C + c*D + d*N", ("N", "D", "C", "L"), ("a", "b", "c", "d")),
        ("A*N**-alpha + A*N**-alpha", ("N",), ("A", "alpha")),
    ],
)
def test_variable_and_parameter_inference(expression, variables, params):
    law = Law.from_expression(expression)
    assert law.variables == variables
    assert law.param_names == params


def test_explicit_variables():
    law = Law.from_expression("E + A*x**-alpha", variables=("x",))
    assert law.variables == ("x",)
    assert law.param_names == ("E", "A", "alpha")
    assert float(law.fn({"x": 4.0}, {"E": 1.0, "A": 2.0, "alpha": 0.5})) == 2.0
    # N is a parameter when it is not declared a variable
    law = Law.from_expression("N*x", variables=["x"])
    assert law.variables == ("x",) and law.param_names == ("N",)


def test_unknown_variable_is_an_error():
    with pytest.raises(ScalingLawError, match="'D'"):
        Law.from_expression("E + A*N**-alpha", variables=("N", "D"))


@pytest.mark.parametrize("variables", ["N", ("N", "N"), (1,)])
def test_bad_variables(variables):
    with pytest.raises(ScalingLawError):
        Law.from_expression("A*N", variables=variables)


def test_no_variables_is_an_error():
    with pytest.raises(ScalingLawError, match="no variables"):
        Law.from_expression("A*x**2")


def test_no_parameters_is_an_error():
    with pytest.raises(ScalingLawError, match="no parameters"):
        Law.from_expression("N**2 + D")


def test_default_params():
    law = Law.from_expression(CHINCHILLA)
    for param in law.params:
        assert param.constraint == "positive"
        assert param.prior == Prior("LogNormal", 0.0, 2.0)
        assert param.reference is False
    assert law.from_reference is None


def test_params_overrides():
    law = Law.from_expression(
        CHINCHILLA,
        params={
            "alpha": {"prior": Prior("Beta", 2, 4), "constraint": "unit",
                      "description": "parameter exponent"},
            "beta": {"prior": {"name": "Gamma", "concentration": 2.0, "rate": 5.0}},
            "E": Param("E", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3),
            "A": {"constraint": "real"},
            "B": {"constraint": "unit"},
        },
    )
    alpha, beta, E, A, B = (law.param(n) for n in ("alpha", "beta", "E", "A", "B"))
    assert alpha.constraint == "unit" and alpha.prior == Prior("Beta", 2, 4)
    assert alpha.description == "parameter exponent"
    assert beta.constraint == "positive"
    assert beta.prior == Prior("Gamma", concentration=2.0, rate=5.0)
    assert E.prior == Prior("LogNormal", 0.5, 1.0) and E.group_scale == 0.3
    assert A.constraint == "real" and A.prior == Prior("Normal", 0.0, 2.0)
    assert B.constraint == "unit" and B.prior == Prior("Beta", 2.0, 2.0)


def test_prior_without_constraint_infers_it():
    law = Law.from_expression("E + c*N", params={"c": {"prior": Prior("Normal", 0, 1)},
                                       "E": Prior("HalfNormal", 1.0)})
    assert law.param("c").constraint == "real"
    assert law.param("E").constraint == "positive"
    assert law.param("E").prior == Prior("HalfNormal", 1.0)


def test_params_input_not_mutated():
    params = {"alpha": {"prior": {"name": "Beta", "concentration1": 2, "concentration0": 4}}}
    before = repr(params)
    Law.from_expression(CHINCHILLA, params=params)
    assert repr(params) == before


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"gamma": {"constraint": "real"}}, "gamma"),
        ({"N": {"constraint": "real"}}, "'N'"),
        ({"alpha": {"constraint": "negative"}}, "constraint"),
        ({"alpha": {"prior": Prior("Normal", 0, 1), "constraint": "positive"}}, "alpha"),
        ({"alpha": {"prior": "Normal"}}, "prior"),
        ({"alpha": {"prior": {"name": "Nope"}}}, "Nope"),
        ({"alpha": {"scale": 1.0}}, "unknown keys"),
        ({"alpha": 0.3}, "alpha"),
        ({"alpha": Param("beta", "positive", Prior("LogNormal", 0, 1))}, "must match"),
        ({"alpha": Param("alpha", "positive", Prior("LogNormal", 0, 1), reference=True)},
         "reference"),
    ],
)
def test_bad_params(params, match):
    with pytest.raises(ScalingLawError, match=match):
        Law.from_expression(CHINCHILLA, params=params)


# --- metadata ----------------------------------------------------------------------------

def test_name_expression_output_citation():
    law = Law.from_expression(CHINCHILLA)
    assert law.name == CHINCHILLA
    assert law.expression == CHINCHILLA
    assert law.output == "positive"
    named = Law.from_expression(" " + CHINCHILLA, name="mine", citation="me 2025", latex="L = x")
    assert named.name == "mine" and named.citation == "me 2025" and named.latex == "L = x"
    assert named.expression == " " + CHINCHILLA


@pytest.mark.parametrize(
    ("expression", "latex"),
    [
        ("E + A*N**-alpha", r"E + A N^{-\alpha}"),
        (CHINCHILLA, r"E + A N^{-\alpha} + B D^{-\beta}"),
        ("E + ((A/N)**(alpha/beta) + B/D)**beta",
         r"E + \left(\left(\frac{A}{N}\right)^{\frac{\alpha}{\beta}} + \frac{B}{D}\right)"
         r"^{\beta}"),
        ("K*(L - E_x)**kappa + E_y", r"K \left(L - E_{x}\right)^{\kappa} + E_{y}"),
        ("epsilon - k*exp(-gamma*L)", r"\epsilon - k e^{-\gamma L}"),
        ("eta*sqrt(N) + log(D) + log1p(C)",
         r"\eta \sqrt{N} + \log\left(D\right) + \log\left(1 + C\right)"),
        ("a - (b + N)", r"a - \left(b + N\right)"),
        ("A*2*N", r"A \cdot 2 N"),
        ("A*N**-2 + 1e-3*D", r"A N^{-2} + 10^{-3} D"),
        ("A1*N + -B", r"A_{1} N + \left(-B\right)"),
        ("(-A)**N", r"\left(-A\right)^{N}"),
        ("cost*N", r"\mathrm{cost} N"),
        ("A*N**-2.5e10 + 0.5*D + 1e5*C", r"A N^{-2.5 \times 10^{10}} + 0.5 D + 10^{5} C"),
        ("A*N - 2.0*D", r"A N - 2 D"),
    ],
)
def test_latex(expression, latex):
    assert Law.from_expression(expression, output="real").latex == latex


def test_an_expression_string_resolves_to_the_same_law():
    a = Law.from_expression(CHINCHILLA)
    b = sl.laws.resolve(CHINCHILLA)
    for field in ("name", "variables", "params", "latex", "citation", "output", "expression"):
        assert getattr(a, field) == getattr(b, field)
    v = {"N": N_GRID, "D": D_GRID}
    np.testing.assert_array_equal(np.asarray(a.fn(v, P_CHIN)), np.asarray(b.fn(v, P_CHIN)))


def test_resolve_accepts_expression():
    law = sl.laws.resolve("E + A*C**-alpha")
    assert law.variables == ("C",)
    assert law.expression == "E + A*C**-alpha"


# --- rejection ---------------------------------------------------------------------------

REJECTED = [
    "__import__('os')",
    "N.real",
    "open('x')",
    "N[0]",
    "lambda: 1",
    "'a'",
    "b'a'",
    "N if D else C",
    "N < D",
    "N == D",
    "N and D",
    "not N",
    "~N",
    "foo(N)",
    "exp(N, D)",
    "exp()",
    "exp(x=N)",
    "exp(*N)",
    "log(**N)",
    "jnp.exp(N)",
    "exp(N)(D)",
    "_x + N",
    "A*__class__",
    "f'{N}'",
    "[N for N in D]",
    "(N, D)",
    "[N]",
    "{N: D}",
    "{N}",
    "(x := N)",
    "N ^ A",
    "N // A",
    "N % A",
    "N @ A",
    "N << A",
    "A*N | D",
    "A*N & D",
    "None",
    "True * N",
    "A*N + 1j",
    "A*N + ...",
    "A*N[1:2]",
    "exp + N",
    "A*1e999*N",
]


@pytest.mark.parametrize("expression", REJECTED)
def test_rejected_constructs(expression):
    with pytest.raises(ScalingLawError) as info:
        Law.from_expression(expression)
    message = str(info.value)
    assert "log(x), exp(x), log1p(x) and sqrt(x)" in message


@pytest.mark.parametrize(
    ("expression", "piece"),
    [
        ("A*__import__('os')", "\"__import__('os')\""),
        ("A + N.real", "'N.real'"),
        ("A*open('x')", "\"open('x')\""),
        ("A*N[0]", "'N[0]'"),
        ("A*foo(N)", "'foo(N)'"),
        ("A*exp(N, D)", "'exp(N, D)'"),
        ("_x + A*N", "'_x'"),
        ("A*(N < D)", "'N < D'"),
    ],
)
def test_rejection_quotes_the_offending_piece(expression, piece):
    with pytest.raises(ScalingLawError) as info:
        Law.from_expression(expression)
    assert piece in str(info.value)


@pytest.mark.parametrize("expression", ["", "   ", "E +", "E + * N", "A*N)", "A*N\n+ B*D", "\0"])
def test_invalid_syntax_is_a_scaling_law_error(expression):
    with pytest.raises(ScalingLawError):
        Law.from_expression(expression)


def test_not_a_string():
    with pytest.raises(ScalingLawError):
        Law.from_expression(42)  # type: ignore[arg-type]


def test_bad_output():
    with pytest.raises(ScalingLawError, match="output"):
        Law.from_expression(CHINCHILLA, output="probability")


def test_deep_nesting_is_a_scaling_law_error():
    with pytest.raises(ScalingLawError):
        Law.from_expression("-" * 100_000 + "A*N")


def test_caret_hint():
    with pytest.raises(ScalingLawError, match=r"use \*\* for powers"):
        Law.from_expression("A*N^alpha")


def test_scaling_law_error_is_not_syntax_error():
    with pytest.raises(ScalingLawError) as info:
        Law.from_expression("E + ")
    assert not isinstance(info.value, SyntaxError)
    assert isinstance(info.value, ValueError)
