"""A safe parser that turns a formula string into a :class:`~scalinglaws.laws.Law`.

``parse_law("E + A*N**-alpha + B*D**-beta")`` reads the string with
``ast.parse(..., mode="eval")`` and walks the syntax tree against a whitelist. Nothing is
ever passed to ``eval``, ``exec`` or ``compile``: the tree is translated into a small tree
of Python closures over ``jax.numpy``, so the result is a pure, differentiable, jittable
function.

Allowed in an expression:

- numbers (``2``, ``0.5``, ``1e-3``);
- names, which are variables (``N``, ``D``, ``C``, ``L`` by default) or parameters
  (everything else); a name may not start with ``_``;
- the binary operators ``+ - * / **`` and unary ``-`` and ``+``;
- calls of ``log(x)``, ``exp(x)``, ``log1p(x)`` and ``sqrt(x)`` with one positional
  argument.

Anything else (attribute access, subscripts, other calls, keyword arguments, strings,
comparisons, conditionals, lambdas, comprehensions, ...) is rejected with a
:class:`~scalinglaws.errors.ScalingLawError` that quotes the offending piece.

Examples
--------
>>> law = parse_law("E + A*N**-alpha")
>>> law.variables, law.param_names
(('N',), ('E', 'A', 'alpha'))
>>> law.latex
'E + A N^{-\\\\alpha}'
>>> round(float(law.fn({"N": 100.0}, {"E": 1.0, "A": 2.0, "alpha": 0.5})), 6)
1.2
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp

from .errors import ScalingLawError
from .laws import CONSTRAINTS, Law, Param
from .priors import Prior

__all__ = ["FUNCTIONS", "parse_law"]

Array = jnp.ndarray
_Closure = Callable[[Mapping[str, Any], Mapping[str, Any]], Any]

#: The functions an expression may call, each with exactly one positional argument.
FUNCTIONS: dict[str, Callable[[Array], Array]] = {
    "log": jnp.log,
    "exp": jnp.exp,
    "log1p": jnp.log1p,
    "sqrt": jnp.sqrt,
}

#: Names that are variables when ``variables`` is not given, in this order.
_DEFAULT_VARIABLES = ("N", "D", "C", "L")
#: Variables that are positive by construction (sizes, tokens, compute, losses): the data
#: layer rejects non-positive values, so ``log`` of them is safe in ``log_fn``.
_POSITIVE_VARIABLES = frozenset(_DEFAULT_VARIABLES)

_DEFAULT_PRIORS = {
    "positive": Prior("LogNormal", 0.0, 2.0),
    "real": Prior("Normal", 0.0, 2.0),
    "unit": Prior("Beta", 2.0, 2.0),
}
_FLOAT_MAX = 1.7976931348623157e308
_PARAM_KEYS = ("constraint", "prior", "description", "group_scale")

_ALLOWED = (
    "allowed are numbers, names (not starting with '_'), the operators + - * / ** and "
    "unary - and +, and calls of log(x), exp(x), log1p(x) and sqrt(x)"
)

_BINOPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_JNP_BINOPS: dict[str, Callable[[Any, Any], Array]] = {
    "+": jnp.add,
    "-": jnp.subtract,
    "*": jnp.multiply,
    "/": jnp.divide,
    "**": jnp.power,
}
_HINTS: dict[type[ast.AST], str] = {
    ast.BitXor: "; use ** for powers, not ^",
    ast.FloorDiv: "; use / for division",
}

_GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa mu nu xi "
    "pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma "
    "Upsilon Phi Psi Omega".split()
)


# --- the intermediate tree ---------------------------------------------------------------

@dataclass(frozen=True)
class _Num:
    value: int | float


@dataclass(frozen=True)
class _Sym:
    name: str


@dataclass(frozen=True)
class _Bin:
    op: str
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Neg:
    operand: _Node


@dataclass(frozen=True)
class _Call:
    func: str
    arg: _Node


_Node = _Num | _Sym | _Bin | _Neg | _Call


class _Reader:
    """Turns a Python ``ast`` into the intermediate tree, rejecting everything else."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: list[str] = []  # in order of first appearance

    def quote(self, node: ast.AST) -> str:
        piece = ast.get_source_segment(self.source, node)
        if piece is None:
            try:
                piece = ast.unparse(node)
            except Exception:  # pragma: no cover - unparse handles all expression nodes
                piece = type(node).__name__
        return repr(piece)

    def reject(self, node: ast.AST, what: str, hint: str = "") -> ScalingLawError:
        return ScalingLawError(
            f"expression {self.source!r}: {what} {self.quote(node)} is not allowed{hint}; "
            f"{_ALLOWED}"
        )

    def read(self, node: ast.AST) -> _Node:
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self.reject(node, "the constant")
            if isinstance(value, float) and not math.isfinite(value):
                raise self.reject(node, "the non-finite number")
            if isinstance(value, int) and abs(value) > _FLOAT_MAX:
                raise ScalingLawError(
                    f"expression {self.source[:60]!r}: the integer constant with "
                    f"{len(str(abs(value)))} digits is larger than any float64 (about "
                    f"1.8e308); write it in scientific notation within that range")
            return _Num(value)
        if isinstance(node, ast.Name):
            name = node.id
            if name.startswith("_"):
                raise self.reject(node, "the name", " (names may not start with '_')")
            if name in FUNCTIONS:
                raise self.reject(node, "the bare function name",
                                  f" (call it, as in {name}(x))")
            if name not in self.names:
                self.names.append(name)
            return _Sym(name)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                hint = _HINTS.get(type(node.op), "")
                raise self.reject(node, "the operation", hint)
            left = self.read(node.left)
            right = self.read(node.right)
            return _Bin(op, left, right)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.UAdd):
                return self.read(node.operand)
            if isinstance(node.op, ast.USub):
                operand = self.read(node.operand)
                if isinstance(operand, _Num):
                    return _Num(-operand.value)
                return _Neg(operand)
            raise self.reject(node, "the operation")
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
                raise self.reject(node, "the call")
            if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
                raise self.reject(node, "the call",
                                  f" ({func.id} takes exactly one positional argument)")
            return _Call(func.id, self.read(node.args[0]))
        raise self.reject(node, "the construct")


def _read(expression: str) -> tuple[_Node, list[str]]:
    """Parse and check ``expression``; the tree and its names in order of appearance."""
    if not isinstance(expression, str):
        raise ScalingLawError(
            f"an expression must be a string such as 'E + A*N**-alpha', got "
            f"{type(expression).__name__}"
        )
    if not expression.strip():
        raise ScalingLawError(
            "the expression is empty; write a formula such as 'E + A*N**-alpha'"
        )
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as err:
        detail = getattr(err, "msg", None) or str(err)
        raise ScalingLawError(
            f"expression {expression!r} is not a valid formula ({detail}); write it in "
            f"Python syntax, e.g. 'E + A*N**-alpha'; {_ALLOWED}"
        ) from None
    except (RecursionError, MemoryError):
        raise ScalingLawError(f"expression {expression[:60]!r}... is nested too deeply") from None
    reader = _Reader(expression.strip())
    try:
        node = reader.read(tree.body)
    except RecursionError:
        raise ScalingLawError(f"expression {expression[:60]!r}... is nested too deeply") from None
    return node, reader.names


# --- evaluation --------------------------------------------------------------------------

def _lookup(values: Mapping[str, Any], name: str, kind: str) -> Array:
    try:
        value = values[name]
    except KeyError:
        raise ScalingLawError(
            f"the law needs the {kind} {name!r}; got {kind}s {sorted(values)}"
        ) from None
    value = jnp.asarray(value)
    if not jnp.issubdtype(value.dtype, jnp.inexact):
        value = value.astype(jnp.result_type(float))
    return value


def _compile(node: _Node, variables: frozenset[str]) -> _Closure:
    """A closure ``(vars, params) -> value`` that evaluates ``node`` with ``jax.numpy``."""
    if isinstance(node, _Num):
        constant = float(node.value)
        return lambda v, p: constant
    if isinstance(node, _Sym):
        name = node.name
        if name in variables:
            return lambda v, p: _lookup(v, name, "variable")
        return lambda v, p: _lookup(p, name, "parameter")
    if isinstance(node, _Neg):
        operand = _compile(node.operand, variables)
        return lambda v, p: jnp.negative(operand(v, p))
    if isinstance(node, _Call):
        func = FUNCTIONS[node.func]
        arg = _compile(node.arg, variables)
        return lambda v, p: func(arg(v, p))
    op = _JNP_BINOPS[node.op]
    left = _compile(node.left, variables)
    if node.op == "**" and isinstance(node.right, _Num) and isinstance(node.right.value, int):
        exponent = node.right.value  # a Python int: jnp uses integer_pow (exact, any sign)
        return lambda v, p: jnp.power(left(v, p), exponent)
    right = _compile(node.right, variables)
    return lambda v, p: op(left(v, p), right(v, p))


def _compile_log(node: _Node, variables: frozenset[str], positive: frozenset[str]
                 ) -> _Closure | None:
    """A closure for ``log(node)`` built from the structure, or None where none applies.

    ``positive`` holds the names known to be positive. The rules are::

        log(c)           = log c                        for a number c > 0
        log(x)           = log x                        for a positive name x
        log(a + b)       = logaddexp(log a, log b)      a, b positive
        log(a * b)       = log a + log b                a, b positive
        log(a / b)       = log a - log b                a, b positive
        log(a ** b)      = b * log a                    a positive, b anything
        log(exp(x))      = x                            x anything
        log(sqrt(a))     = log(a) / 2                   a positive
        log(log1p(a))    = log(log1p(a))                a positive

    Differences, negations and ``log(x)`` are not known to be positive: None.
    """
    if isinstance(node, _Num):
        if node.value > 0:
            constant = math.log(node.value)
            return lambda v, p: constant
        return None
    if isinstance(node, _Sym):
        if node.name not in positive:
            return None
        value = _compile(node, variables)
        return lambda v, p: jnp.log(value(v, p))
    if isinstance(node, _Neg):
        return None
    if isinstance(node, _Call):
        if node.func == "exp":
            return _compile(node.arg, variables)
        inner = _compile_log(node.arg, variables, positive)
        if inner is None:
            return None
        if node.func == "sqrt":
            return lambda v, p: 0.5 * inner(v, p)
        if node.func == "log1p":
            value = _compile(node, variables)
            return lambda v, p: jnp.log(value(v, p))
        return None  # log(a) may be negative
    if node.op == "-":
        return None
    left = _compile_log(node.left, variables, positive)
    if left is None:
        return None
    if node.op == "**":
        exponent = _compile(node.right, variables)
        return lambda v, p: jnp.multiply(exponent(v, p), left(v, p))
    right = _compile_log(node.right, variables, positive)
    if right is None:
        return None
    if node.op == "+":
        return lambda v, p: jnp.logaddexp(left(v, p), right(v, p))
    if node.op == "*":
        return lambda v, p: jnp.add(left(v, p), right(v, p))
    return lambda v, p: jnp.subtract(left(v, p), right(v, p))  # "/"


# --- LaTeX -------------------------------------------------------------------------------

def _latex_name(name: str) -> str:
    base, _, sub = name.partition("_")
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", base)
    if match and not sub:
        base, sub = match.groups()
    if base in _GREEK:
        text = "\\" + base
    elif len(base) == 1 or not base.isascii():
        text = base
    else:
        text = rf"\mathrm{{{base}}}"
    if sub:
        text += f"_{{{_latex_name(sub)}}}"
    return text


def _latex_number(value: int | float) -> tuple[str, str]:
    sign, kind = ("-", "neg") if value < 0 else ("", "atom")
    size = abs(value)
    if isinstance(value, int):
        return f"{sign}{size}", kind
    if size == 0 or 1e-2 <= size < 1e5:
        text = f"{size:.12g}"
        return sign + text, kind
    mantissa, exponent = f"{size:.12e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = f"10^{{{int(exponent)}}}"
    if mantissa == "1":
        return sign + power, kind if sign else "pow"
    return rf"{sign}{mantissa} \times {power}", kind if sign else "prod"


def _paren(text: str) -> str:
    return rf"\left({text}\right)"


def _latex(node: _Node) -> tuple[str, str]:
    """LaTeX for ``node`` and its kind: atom, frac, pow, prod, neg or sum (for brackets)."""
    if isinstance(node, _Num):
        return _latex_number(node.value)
    if isinstance(node, _Sym):
        return _latex_name(node.name), "atom"
    if isinstance(node, _Neg):
        text, kind = _latex(node.operand)
        return "-" + (_paren(text) if kind in ("sum", "neg") else text), "neg"
    if isinstance(node, _Call):
        text, _ = _latex(node.arg)
        if node.func == "exp":
            return f"e^{{{text}}}", "pow"
        if node.func == "sqrt":
            return rf"\sqrt{{{text}}}", "atom"
        if node.func == "log1p":
            return rf"\log\left(1 + {text}\right)", "atom"
        return rf"\log\left({text}\right)", "atom"
    left, lkind = _latex(node.left)
    right, rkind = _latex(node.right)
    if node.op in ("+", "-"):
        if rkind in ("sum", "neg"):
            right = _paren(right)
        return f"{left} {node.op} {right}", "sum"
    if node.op == "*":
        if lkind == "sum":
            left = _paren(left)
        if rkind in ("sum", "neg"):
            right = _paren(right)
        sep = r" \cdot " if right[:1].isdigit() or right[:1] == "." else " "
        return left + sep + right, "neg" if lkind == "neg" else "prod"
    if node.op == "/":
        return rf"\frac{{{left}}}{{{right}}}", "frac"
    if lkind != "atom":
        left = _paren(left)
    return f"{left}^{{{right}}}", "pow"


# --- parameters --------------------------------------------------------------------------

def _make_param(name: str, spec: Any) -> Param:
    """A :class:`Param` from a user's ``params`` entry (a Param, a Prior or a dict)."""
    if isinstance(spec, Param):
        if spec.name != name:
            raise ScalingLawError(
                f"params[{name!r}] is a Param named {spec.name!r}; the names must match"
            )
        if spec.reference:
            raise ScalingLawError(
                f"params[{name!r}] has reference=True, but custom laws are not sampled at "
                f"a reference scale; pass reference=False"
            )
        return spec
    if isinstance(spec, Prior):
        spec = {"prior": spec}
    if not isinstance(spec, Mapping):
        raise ScalingLawError(
            f"params[{name!r}] must be a Param or a dict with keys {list(_PARAM_KEYS)}, "
            f"e.g. {{'constraint': 'real', 'prior': Prior('Normal', 0, 1)}}; "
            f"got {type(spec).__name__}"
        )
    unknown = [key for key in spec if key not in _PARAM_KEYS]
    if unknown:
        raise ScalingLawError(
            f"params[{name!r}] has unknown keys {unknown}; use {list(_PARAM_KEYS)}"
        )
    prior = spec.get("prior")
    if isinstance(prior, Mapping):
        prior = Prior.from_dict(dict(prior))
    elif prior is not None and not isinstance(prior, Prior):
        raise ScalingLawError(
            f"params[{name!r}]['prior'] must be a Prior or a dict such as "
            f"{{'name': 'Normal', 'loc': 0, 'scale': 1}}; got {prior!r}"
        )
    constraint = spec.get("constraint")
    if constraint is None:
        if prior is None or prior.support_fits("positive"):
            constraint = "positive"
        else:
            constraint = "real"
    if constraint not in CONSTRAINTS:
        raise ScalingLawError(
            f"params[{name!r}]: constraint must be one of {CONSTRAINTS}, got {constraint!r}"
        )
    if prior is None:
        prior = _DEFAULT_PRIORS[constraint]
    extra: dict[str, Any] = {}
    if "group_scale" in spec:
        try:
            extra["group_scale"] = float(spec["group_scale"])
        except (TypeError, ValueError, OverflowError):
            raise ScalingLawError(
                f"params[{name!r}]['group_scale'] must be a number, got {spec['group_scale']!r}"
            ) from None
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ScalingLawError(f"params[{name!r}]['description'] must be a string")
    return Param(name, constraint, prior, description=description, **extra)


# --- the entry point ---------------------------------------------------------------------

def parse_law(
    expression: str,
    *,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    variables: tuple[str, ...] | None = None,
    output: str = "positive",
    latex: str | None = None,
    citation: str = "",
) -> Law:
    r"""A :class:`~scalinglaws.laws.Law` from a formula such as ``"E + A*N**-alpha"``.

    Parameters
    ----------
    expression : str
        The right-hand side in Python syntax. Allowed: numbers, names (not starting with
        ``_``), ``+ - * / **``, unary ``-`` and ``+``, and ``log``, ``exp``, ``log1p``,
        ``sqrt`` called with one positional argument. It is parsed with
        ``ast.parse(mode="eval")`` and checked against that whitelist, never evaluated.
    name : str, optional
        The law's name; defaults to the expression text.
    params : dict, optional
        Per parameter: a :class:`~scalinglaws.laws.Param`, a
        :class:`~scalinglaws.priors.Prior`, or a dict with any of the keys
        ``constraint`` (``"positive"``, ``"unit"``, ``"real"``), ``prior`` (a Prior or its
        dict form), ``description`` and ``group_scale``. A parameter not listed is
        positive with prior ``LogNormal(0, 2)``. Given without a prior, a ``"real"``
        parameter gets ``Normal(0, 2)`` and a ``"unit"`` one ``Beta(2, 2)``; given a prior
        but no constraint, it is ``"positive"`` if the prior's support is, else
        ``"real"``. Names that are not parameters of the expression are an error.
    variables : tuple of str, optional
        The input variables; each must appear in the expression. By default, those of
        ``N``, ``D``, ``C``, ``L`` that appear, in that order. Every other name is a
        parameter, in order of first appearance.
    output : {"positive", "real"}
        ``"positive"`` for losses (fitted on log y); ``"real"`` otherwise.
    latex : str, optional
        The formula in LaTeX; by default rendered from the expression.
    citation : str
        Where the law comes from.

    Returns
    -------
    Law
        With ``fn`` evaluating the expression in ``jax.numpy`` on broadcast arrays, and
        ``expression`` holding the original string. No parameter is sampled at a
        reference scale.

    Raises
    ------
    ScalingLawError
        For an empty, malformed or disallowed expression (the message quotes the
        offending piece), no variables or no parameters, a variable that does not appear,
        or a bad ``params`` entry.

    Notes
    -----
    For ``output="positive"`` the law also gets a ``log_fn`` computed from the structure
    where it can be: names are positive if they are the variables ``N``, ``D``, ``C``,
    ``L`` or parameters with a positive or unit constraint, numbers if they are > 0;
    a sum, product or quotient of positive parts is positive, and so is a positive base
    to any power, ``exp`` of anything, and ``sqrt`` or ``log1p`` of something positive.
    If the whole expression is positive in this sense, its log is built term by term:
    sums become ``logaddexp`` of the terms' logs, products and quotients sums and
    differences of logs, ``a**b`` becomes ``b * log(a)`` and ``exp(x)`` becomes ``x``.
    So ``log(A*N**-alpha)`` is ``log(A) - alpha*log(N)``, exact even where
    ``N**-alpha`` would underflow. Otherwise (a difference, a negation, ``log(x)``, a
    real parameter or another variable anywhere in the tree) ``log_fn`` is
    ``jnp.log(fn(...))``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> law = parse_law("E + A*N**-alpha + B*D**-beta", name="my_chinchilla")
    >>> law.variables, law.param_names
    (('N', 'D'), ('E', 'A', 'alpha', 'B', 'beta'))
    >>> law.latex
    'E + A N^{-\\alpha} + B D^{-\\beta}'
    >>> p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    >>> round(float(law.fn({"N": 1e9, "D": 2e10}, p)), 3)
    2.58

    ``log_fn`` works in log space where the structure allows: here ``N**-2`` underflows
    but its log does not.

    >>> tiny = parse_law("A*N**-alpha")
    >>> round(float(tiny.log_fn({"N": 1e30}, {"A": 1.0, "alpha": 2.0})), 2)
    -138.16

    Parameters can be given constraints and priors:

    >>> from scalinglaws.priors import Prior
    >>> law = parse_law("eps - k*exp(-gamma*L)", output="real",
    ...                 params={"eps": {"constraint": "unit"},
    ...                         "gamma": {"prior": Prior("Gamma", 2.0, 2.0)}})
    >>> [(q.name, q.constraint, q.prior.name) for q in law.params]
    [('eps', 'unit', 'Beta'), ('k', 'positive', 'LogNormal'), ('gamma', 'positive', 'Gamma')]

    Anything outside the whitelist is refused:

    >>> parse_law("__import__('os')")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: expression "__import__('os')": the call ...
    """
    node, names = _read(expression)
    source = expression.strip()

    if output not in ("positive", "real"):
        raise ScalingLawError(f"output must be 'positive' or 'real', got {output!r}")
    for label, value in (("name", name), ("latex", latex)):
        if value is not None and not isinstance(value, str):
            raise ScalingLawError(f"{label} must be a string, got {type(value).__name__}")
    if not isinstance(citation, str):
        raise ScalingLawError(f"citation must be a string, got {type(citation).__name__}")

    if variables is None:
        variables = tuple(v for v in _DEFAULT_VARIABLES if v in names)
    else:
        if isinstance(variables, str) or not all(isinstance(v, str) for v in variables):
            raise ScalingLawError(
                f"variables must be a tuple of names such as ('N', 'D'), got {variables!r}"
            )
        variables = tuple(variables)
        if len(set(variables)) != len(variables):
            raise ScalingLawError(f"variables {variables} repeat a name")
        missing = [v for v in variables if v not in names]
        if missing:
            raise ScalingLawError(
                f"variables {missing} do not appear in the expression {source!r}; "
                f"its names are {names}"
            )
    if not variables:
        raise ScalingLawError(
            f"expression {source!r} has no variables; use N, D, C or L, or pass "
            f"variables=(...) naming the inputs among {names}"
        )
    param_names = [n for n in names if n not in variables]
    if not param_names:
        raise ScalingLawError(
            f"expression {source!r} has no parameters, only the variables {list(variables)}; "
            f"add a parameter such as 'A * ...'"
        )

    given = dict(params or {})
    unknown = [key for key in given if key not in param_names]
    if unknown:
        raise ScalingLawError(
            f"params names {unknown}, which are not parameters of {source!r}; its "
            f"parameters are {param_names} (variables: {list(variables)})"
        )
    default = {"constraint": "positive", "prior": _DEFAULT_PRIORS["positive"]}
    law_params = tuple(_make_param(n, given.get(n, default)) for n in param_names)

    varset = frozenset(variables)
    body = _compile(node, varset)

    def fn(v: Mapping[str, Any], p: Mapping[str, Any]) -> Array:
        return jnp.asarray(body(v, p))

    log_fn = None
    if output == "positive":
        positive = frozenset(
            [v for v in variables if v in _POSITIVE_VARIABLES]
            + [q.name for q in law_params if q.constraint in ("positive", "unit")]
        )
        log_body = _compile_log(node, varset, positive)

        if log_body is None:
            def log_fn(v: Mapping[str, Any], p: Mapping[str, Any]) -> Array:
                return jnp.log(fn(v, p))
        else:
            def log_fn(v: Mapping[str, Any], p: Mapping[str, Any]) -> Array:
                return jnp.asarray(log_body(v, p))

    return Law(
        name=source if name is None else name,
        variables=variables,
        params=law_params,
        fn=fn,
        latex=_latex(node)[0] if latex is None else latex,
        citation=citation,
        output=output,
        log_fn=log_fn,
        expression=expression,
    )
