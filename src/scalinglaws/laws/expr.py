"""The safe expression parser behind :meth:`Law.from_expression <scalinglaws.Law.from_expression>`.

:func:`read` parses a formula string with ``ast.parse(..., mode="eval")`` and walks the
syntax tree against a whitelist. Nothing is ever passed to ``eval``, ``exec`` or
``compile``: :func:`compile_function` and :func:`compile_log` translate the tree into
a small tree of Python closures over ``jax.numpy``, so the result is a pure,
differentiable, jittable function; :func:`latex` renders it.

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
>>> node, names = read("E + A*N**-alpha")
>>> names
['E', 'A', 'N', 'alpha']
>>> latex(node)[0]
'E + A N^{-\\\\alpha}'
>>> f = compile_function(node, frozenset({"N"}))
>>> round(float(f({"N": 100.0}, {"E": 1.0, "A": 2.0, "alpha": 0.5})), 6)
1.2
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ScalingLawError

__all__ = ["DEFAULT_VARIABLES", "FUNCTIONS", "POSITIVE_VARIABLES", "compile_function",
           "compile_log", "latex", "log_of", "log_sum_exp", "read", "LOG_KEY"]

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
DEFAULT_VARIABLES = ("N", "D", "C", "L")
#: Variables that are positive by construction (sizes, tokens, compute, losses): the data
#: layer rejects non-positive values, so ``log`` of them is safe in ``log_fn``.
POSITIVE_VARIABLES = frozenset(DEFAULT_VARIABLES)

_FLOAT_MAX = 1.7976931348623157e308

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


def read(expression: str) -> tuple[_Node, list[str]]:
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


def compile_function(node: _Node, variables: frozenset[str]) -> _Closure:
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
        operand = compile_function(node.operand, variables)
        return lambda v, p: jnp.negative(operand(v, p))
    if isinstance(node, _Call):
        func = FUNCTIONS[node.func]
        arg = compile_function(node.arg, variables)
        return lambda v, p: func(arg(v, p))
    op = _JNP_BINOPS[node.op]
    left = compile_function(node.left, variables)
    if node.op == "**" and isinstance(node.right, _Num) and isinstance(node.right.value, int):
        exponent = node.right.value  # a Python int: jnp uses integer_pow (exact, any sign)
        return lambda v, p: jnp.power(left(v, p), exponent)
    right = compile_function(node.right, variables)
    return lambda v, p: op(left(v, p), right(v, p))


def compile_log(node: _Node, variables: frozenset[str], positive: frozenset[str]
                 ) -> _Closure | None:
    """A closure for ``log(node)`` built from the structure, or None where none applies.

    ``positive`` holds the names known to be positive. The rules are::

        log(c)           = log c                        for a number c > 0
        log(x)           = log x                        for a positive name x
        log(a + b + ...) = log_sum_exp(log a, log b, ...)  each term positive
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
        value = compile_function(node, variables)
        if node.name in variables:
            return lambda v, p: jnp.log(value(v, p))
        name = node.name
        return lambda v, p: log_of(p, name) if LOG_KEY + name in p else jnp.log(value(v, p))
    if isinstance(node, _Neg):
        return None
    if isinstance(node, _Call):
        if node.func == "exp":
            return compile_function(node.arg, variables)
        inner = compile_log(node.arg, variables, positive)
        if inner is None:
            return None
        if node.func == "sqrt":
            return lambda v, p: 0.5 * inner(v, p)
        if node.func == "log1p":
            value = compile_function(node, variables)
            return lambda v, p: jnp.log(value(v, p))
        return None  # log(a) may be negative
    if node.op == "-":
        return None
    if node.op == "+":
        terms = [compile_log(term, variables, positive) for term in _summands(node)]
        if any(term is None for term in terms):
            return None
        return lambda v, p: log_sum_exp(*(term(v, p) for term in terms))
    left = compile_log(node.left, variables, positive)
    if left is None:
        return None
    if node.op == "**":
        exponent = compile_function(node.right, variables)
        return lambda v, p: jnp.multiply(exponent(v, p), left(v, p))
    right = compile_log(node.right, variables, positive)
    if right is None:
        return None
    if node.op == "*":
        return lambda v, p: jnp.add(left(v, p), right(v, p))
    return lambda v, p: jnp.subtract(left(v, p), right(v, p))  # "/"


def _summands(node: _Node) -> list[_Node]:
    """The terms of a chain of sums, ``a + b + c`` -> ``[a, b, c]``."""
    if isinstance(node, _Bin) and node.op == "+":
        return _summands(node.left) + _summands(node.right)
    return [node]


#: Prefix of the log of a positive parameter in a law's parameter mapping (``"log:E"``),
#: where the model has it without taking a logarithm (see :func:`log_of`).
LOG_KEY = "log:"


def log_of(params: Mapping[str, Any], name: str):
    """``log(params[name])``: the model's own log of the parameter where the mapping
    holds it (``params["log:" + name]``, computed without exponentiating and taking the
    log again, per row), else the log of its value.

    >>> import jax.numpy as jnp
    >>> float(log_of({"E": 2.0, "log:E": jnp.log(2.0)}, "E")) == float(jnp.log(2.0))
    True
    >>> round(float(log_of({"E": 2.0}, "E")), 6)
    0.693147
    """
    key = LOG_KEY + name
    return params[key] if key in params else jnp.log(params[name])


def log_sum_exp(*terms):
    """``log(sum(exp(terms)))`` of broadcast terms, stable: one exponential per term and
    one logarithm, which the gradient reuses (about half the cost of chained
    ``jnp.logaddexp`` for three terms).

    >>> import jax.numpy as jnp
    >>> round(float(log_sum_exp(jnp.log(1.0), jnp.log(2.0), jnp.array(0.0))), 6)  # log 4
    1.386294
    """
    if len(terms) == 1:
        return jnp.asarray(terms[0])
    return jax.nn.logsumexp(jnp.stack(jnp.broadcast_arrays(*terms)), axis=0)


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


def latex(node: _Node) -> tuple[str, str]:
    """LaTeX for ``node`` and its kind: atom, frac, pow, prod, neg or sum (for brackets)."""
    if isinstance(node, _Num):
        return _latex_number(node.value)
    if isinstance(node, _Sym):
        return _latex_name(node.name), "atom"
    if isinstance(node, _Neg):
        text, kind = latex(node.operand)
        return "-" + (_paren(text) if kind in ("sum", "neg") else text), "neg"
    if isinstance(node, _Call):
        text, _ = latex(node.arg)
        if node.func == "exp":
            return f"e^{{{text}}}", "pow"
        if node.func == "sqrt":
            return rf"\sqrt{{{text}}}", "atom"
        if node.func == "log1p":
            return rf"\log\left(1 + {text}\right)", "atom"
        return rf"\log\left({text}\right)", "atom"
    left, lkind = latex(node.left)
    right, rkind = latex(node.right)
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
