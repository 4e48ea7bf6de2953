"""A law as data: a named functional form, its parameters and default priors.

A :class:`Law` is a pure ``jax.numpy`` function plus metadata. Laws whose output is
positive (losses) are written in log space with ``log_sum_exp`` so that nothing overflows
or underflows at 1e13 parameters; :meth:`Law.log_fn` is what the likelihood uses.

Coefficients such as Chinchilla's ``A`` are *sampled at a reference scale*: the model
draws ``A_ref``, the size of the N-term at ``N = N_ref`` (the geometric mean of the
data unless fixed in the spec), and converts it back with :attr:`Law.from_reference`.
This removes the near-collinearity of ``A`` and ``alpha`` that makes naive fits slow.

Custom laws come from a formula string through :meth:`Law.from_expression`, which
reads it with the safe parser of :mod:`scalinglaws.laws.expr`.

Examples
--------
>>> law = Law.from_expression("E + A*N**-alpha")
>>> law.variables, law.param_names
(('N',), ('E', 'A', 'alpha'))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._checks import is_finite_number
from .._precision import enable_x64
from ..errors import ScalingLawError
from ..priors import Prior
from . import expr

Array = jnp.ndarray
LawFn = Callable[[Mapping[str, Array], Mapping[str, Array]], Array]
#: Converts reference-scale values (``{"A": A_ref, ...}``, log) to natural ones, given
#: the natural values of the other parameters and the log reference value of each
#: variable. Returns the log of the natural values of the reference-scale parameters.
#: A law's own input conditions: ``check(variables, fitting)`` returns
#: ``[(message, bad_row_mask), ...]``; see :meth:`Law.problems`.
Check = Callable[[Mapping[str, np.ndarray], bool], list[tuple[str, np.ndarray]]]
FromReference = Callable[[Mapping[str, Array], Mapping[str, Array], Mapping[str, float]],
                         dict[str, Array]]

CONSTRAINTS = ("positive", "unit", "real")
#: Default scale of the HalfNormal prior on a parameter's between-level standard deviation.
GROUP_SCALE = 0.5
#: Default priors of a custom law's parameters, by constraint.
DEFAULT_PRIORS = {
    "positive": Prior("LogNormal", 0.0, 2.0),
    "real": Prior("Normal", 0.0, 2.0),
    "unit": Prior("Beta", 2.0, 2.0),
}
PARAM_KEYS = ("constraint", "prior", "description", "group_scale")


@dataclass(frozen=True)
class Param:
    """One parameter of a law.

    Parameters
    ----------
    name : str
        Its name in the law's formula and in the posterior.
    constraint : {"positive", "unit", "real"}
        Where it lives; the hierarchy works on the unconstrained scale (log, logit or
        identity).
    prior : Prior
        Default prior of its population value (at the reference scale when
        ``reference`` is true).
    group_scale : float
        Scale of the HalfNormal prior on the between-level standard deviation, on the
        unconstrained scale, when the parameter varies by a factor.
    reference : bool
        Whether the model samples it at a reference scale (see the module docstring).
    description : str
        One line for docs and reports.
    """

    name: str
    constraint: str
    prior: Prior
    group_scale: float = GROUP_SCALE
    reference: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ScalingLawError(
                f"a parameter's name must be text such as 'alpha', got {self.name!r}"[:300])
        if not isinstance(self.constraint, str) or self.constraint not in CONSTRAINTS:
            raise ScalingLawError(
                f"parameter {self.name!r}: constraint must be one of {CONSTRAINTS}, "
                f"got {self.constraint!r}"
            )
        if isinstance(self.prior, Mapping):
            object.__setattr__(self, "prior", Prior.from_dict(dict(self.prior)))
        elif not isinstance(self.prior, Prior):
            raise ScalingLawError(
                f"parameter {self.name!r}: prior must be a Prior or a dict such as "
                f"{{'name': 'LogNormal', 'loc': 0, 'scale': 1}}, got {self.prior!r}"[:300])
        if not is_finite_number(self.group_scale) or not float(self.group_scale) > 0:
            raise ScalingLawError(
                f"parameter {self.name!r}: group_scale (the HalfNormal scale of its "
                f"between-level standard deviation) must be a positive finite number, e.g. "
                f"{GROUP_SCALE}, got {self.group_scale!r}"[:300])
        object.__setattr__(self, "group_scale", float(self.group_scale))
        if not isinstance(self.reference, bool | np.bool_):
            raise ScalingLawError(f"parameter {self.name!r}: reference must be True or "
                                  f"False, got {self.reference!r}"[:300])
        object.__setattr__(self, "reference", bool(self.reference))
        if not isinstance(self.description, str):
            raise ScalingLawError(f"parameter {self.name!r}: description must be text, got "
                                  f"{type(self.description).__name__}")
        if not self.prior.support_fits(self.constraint):
            raise ScalingLawError(
                f"parameter {self.name!r} is {self.constraint} but its prior {self.prior!r} "
                f"puts mass outside that range; choose a prior on the right support"
            )

    @property
    def sampled_name(self) -> str:
        """The name of the sampled quantity: ``A_ref`` for a reference-scale ``A``."""
        return f"{self.name}_ref" if self.reference else self.name


def _terms(terms: str | tuple[str, ...]) -> tuple[str, ...]:
    """A ``share_scaled`` pair's term, or terms, as a tuple."""
    return (terms,) if isinstance(terms, str) else tuple(terms)


@dataclass(frozen=True)
class Law:
    """A named functional form. Call it to evaluate it in float64,
    ``law(variables, params)`` (:meth:`__call__`); ``fn`` is the bare ``jax.numpy``
    function for code JAX traces.

    Parameters
    ----------
    name : str
        Registry name.
    variables : tuple of str
        Input variables, e.g. ``("N", "D")``.
    params : tuple of Param
        Parameters with constraints and default priors.
    fn : callable
        ``fn(vars, params) -> prediction`` in ``jax.numpy``, natural scale.
    latex : str
        The formula in LaTeX.
    citation : str
        Where it comes from.
    output : {"positive", "real"}
        ``"positive"`` laws (losses) are fitted on log y and define ``log_fn``.
    log_fn : callable, optional
        ``log(fn)`` computed stably; defaults to ``jnp.log(fn(...))``.
    from_reference : callable, optional
        Converts reference-scale parameters to natural ones (see :data:`FromReference`).
    description : str
        One paragraph for docs and reports.
    level_terms : tuple of str
        Positive parameters whose values (at the reference scale) add up to the law at the
        reference point, e.g. ``("E", "A", "B")`` for chinchilla: ``L(N_ref, D_ref) =
        E + A_ref + B_ref``. They let a model sample the law's level and the terms'
        shares instead (``ScalingModel(coordinates="level")``); empty: not available.
    share_scaled : tuple of (str, str or tuple of str)
        Pairs ``(param, term)`` of a positive parameter and the level term (or terms) it
        scales, e.g. ``("gamma", "K")`` for ``K C^-gamma``: in level coordinates, where
        the parameter varies as the level terms do, it is sampled as ``log(param x term /
        level)`` instead of its own log. For an exponent that is the law's local slope at the
        reference point, for a curvature its relative curvature there: what the data fix,
        while the parameter alone trades off against the term's share along a curved
        ridge (:func:`scalinglaws.model.sample_level_coordinates`).
    check : callable, optional
        ``check(variables, fitting) -> [(message, bad_rows), ...]``: the law's own input
        conditions beyond positivity (unique tokens at most total tokens; three sizes per
        isoFLOP budget), run on the data before anything is compiled; see :meth:`problems`.
    log_noise_factor : callable, optional
        ``log_noise_factor(vars, params, log_reference) -> array``: the log of a per-row
        factor that multiplies the model's observation noise scale (its ``sigma``), a
        function of the law's variables, its parameters and the data's reference values
        (log scale, by variable, as ``from_reference`` gets them); e.g. noise that grows
        with a row's distance from an isoFLOP curve's minimum (``isoflop_spread``), or
        that is a power of the budget (``isoflop_parabola_budget_noise``). None: the
        noise scale is the same for every row (``sigma``, varying only by the factors the
        model names).
    noise_power_of : tuple of (Law, str, tuple), optional
        Set by :func:`noise_power`: the law it extends, the variable its noise is a power
        of, and the ``(keyword, value)`` pairs it was given beyond its defaults, so that a
        spec holding it can be written to a file and read back.
    """

    name: str
    variables: tuple[str, ...]
    params: tuple[Param, ...]
    fn: LawFn
    latex: str
    citation: str = ""
    output: str = "positive"
    log_fn: LawFn | None = None
    from_reference: FromReference | None = None
    description: str = ""
    expression: str | None = field(default=None, compare=False)
    level_terms: tuple[str, ...] = ()
    share_scaled: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    check: Check | None = field(default=None, compare=False)
    log_noise_factor: LawFn | None = field(default=None, compare=False)
    noise_power_of: tuple[Law, str, tuple] | None = field(default=None, compare=False)

    def _identity(self) -> tuple:
        """What makes two laws equal: their compared fields, with a law from a formula
        identified by its expression instead of the functions compiled from it, and a
        :func:`noise_power` law by the law it extends (so a law read back from a saved spec
        equals the one that was saved)."""
        derived = self.expression is not None or self.noise_power_of is not None
        skip = ("fn", "log_fn") if derived else ()
        return (self.expression, self.noise_power_of,
                *(getattr(self, f.name) for f in fields(self)
                  if f.compare and f.name not in skip))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Law):
            return NotImplemented
        return self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ScalingLawError(f"a law's name must be text, got {self.name!r}"[:300])
        variables, params = self.variables, self.params
        if (isinstance(variables, str) or not isinstance(variables, tuple | list)
                or not all(isinstance(v, str) and v.strip() for v in variables)):
            raise ScalingLawError(
                f"law {self.name!r}: variables must be a tuple of names such as ('N', 'D'), "
                f"got {variables!r}"[:300])
        if (not isinstance(params, tuple | list)
                or not all(isinstance(p, Param) for p in params)):
            raise ScalingLawError(
                f"law {self.name!r}: params must be a tuple of sl.Param, got "
                f"{params!r}"[:300])
        object.__setattr__(self, "variables", tuple(variables))
        object.__setattr__(self, "params", tuple(params))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ScalingLawError(f"law {self.name!r} repeats a parameter name: {names}")
        clash = set(names) & set(self.variables)
        if clash:
            raise ScalingLawError(
                f"law {self.name!r}: {sorted(clash)} is both a variable and a parameter"
            )
        if self.output not in ("positive", "real"):
            raise ScalingLawError(f"law {self.name!r}: output must be 'positive' or 'real'")
        if any(p.reference for p in self.params) and self.from_reference is None:
            raise ScalingLawError(
                f"law {self.name!r} samples parameters at a reference scale but gives no "
                f"from_reference conversion"
            )
        bad = [t for t in self.level_terms
               if t not in names or self.param(t).constraint != "positive"]
        if bad or len(self.level_terms) == 1:
            raise ScalingLawError(
                f"law {self.name!r}: level_terms must name two or more positive parameters "
                f"whose sum is the law at the reference point; got {self.level_terms}"
            )
        bad = [pair for pair in self.share_scaled
               if len(pair) != 2 or pair[0] not in names
               or self.param(pair[0]).constraint != "positive"
               or not set(_terms(pair[1])) <= set(self.level_terms)]
        if bad:
            raise ScalingLawError(
                f"law {self.name!r}: share_scaled must pair positive parameters with level "
                f"terms ({self.level_terms}); got {bad}"
            )

    @property
    def scaled_terms(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """:attr:`share_scaled` with each term given as a tuple of terms.

        >>> from scalinglaws.laws import OVERTRAINING
        >>> OVERTRAINING.scaled_terms
        (('eta', ('a', 'b')),)
        """
        return tuple((param, _terms(terms)) for param, terms in self.share_scaled)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Parameter names in declaration order."""
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        """The :class:`Param` called ``name``; a clear error if there is none."""
        for p in self.params:
            if p.name == name:
                return p
        raise ScalingLawError(
            f"law {self.name!r} has no parameter {name!r}; its parameters are "
            f"{list(self.param_names)}"
        )

    def problems(self, variables: Mapping[str, np.ndarray],
                 fitting: bool = True) -> list[tuple[str, np.ndarray]]:
        """The rows that break the law's own input conditions, as ``(message, mask)``.

        ``variables`` maps each law variable to its float64 values; ``fitting`` is False
        when the rows are only to be predicted. Empty when the law states no conditions
        or none is broken.

        >>> from scalinglaws.laws import get
        >>> law = get("data_constrained")
        >>> v = {"N": np.array([1e8, 1e8]), "D": np.array([1e9, 1e9]),
        ...      "U_D": np.array([1e9, 2e9]), "U_N": np.array([1e8, 1e8])}
        >>> [(m[:24], mask.tolist()) for m, mask in law.problems(v)]
        [('unique tokens U_D exceed', [False, True])]
        """
        if self.check is None:
            return []
        return [(m, np.asarray(mask, dtype=bool)) for m, mask in self.check(variables, fitting)
                if np.any(mask)]

    def log(self, vars: Mapping[str, Array], params: Mapping[str, Array]) -> Array:
        """``log fn(vars, params)``, computed stably when the law provides ``log_fn``."""
        if self.log_fn is not None:
            return self.log_fn(vars, params)
        return jnp.log(self.fn(vars, params))

    def __call__(self, variables: Mapping[str, Any], params: Mapping[str, Any], *,
                 log: bool = False) -> np.ndarray:
        """The law at ``variables`` with natural-scale ``params``, in float64 NumPy.

        Numbers, lists or arrays broadcast together; ``log=True`` gives :meth:`log`.
        This is the way to evaluate a law outside a model: it switches JAX to float64
        first (``fn`` itself computes in whatever precision JAX is in, float32 in a fresh
        process). Inside traced code, call ``fn`` or :meth:`log`.

        >>> from scalinglaws.laws import get
        >>> hoffmann = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
        >>> loss = get("chinchilla")({"N": [1e9, 7e10], "D": [2e10, 1.4e12]}, hoffmann)
        >>> loss.dtype, loss.round(4).tolist()
        (dtype('float64'), [2.58, 1.9366])
        """
        missing = [f"variable {v!r}" for v in self.variables if v not in variables]
        missing += [f"parameter {p!r}" for p in self.param_names if p not in params]
        if missing:
            raise ScalingLawError(
                f"law {self.name!r} needs {', '.join(missing)}; it takes the variables "
                f"{list(self.variables)} and the parameters {list(self.param_names)}")
        values = {}
        for kind, given, names in (("variable", variables, self.variables),
                                   ("parameter", params, self.param_names)):
            for name in names:
                try:
                    values[name] = np.asarray(given[name], dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise ScalingLawError(
                        f"law {self.name!r}: {kind} {name!r} is not numeric "
                        f"({given[name]!r})") from exc
        try:
            np.broadcast_shapes(*(v.shape for v in values.values()))
        except ValueError as exc:
            shapes = {name: v.shape for name, v in values.items()}
            raise ScalingLawError(
                f"law {self.name!r}: the inputs' shapes do not broadcast together: "
                f"{shapes}") from exc
        enable_x64()
        arrays = {name: jnp.asarray(v) for name, v in values.items()}
        vs = {v: arrays[v] for v in self.variables}
        ps = {p: arrays[p] for p in self.param_names}
        return np.asarray(self.log(vs, ps) if log else self.fn(vs, ps))

    @classmethod
    def from_expression(
            cls,
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
        sums become ``log_sum_exp`` of the terms' logs, products and quotients sums and
        differences of logs, ``a**b`` becomes ``b * log(a)`` and ``exp(x)`` becomes ``x``.
        So ``log(A*N**-alpha)`` is ``log(A) - alpha*log(N)``, exact even where
        ``N**-alpha`` would underflow. Otherwise (a difference, a negation, ``log(x)``, a
        real parameter or another variable anywhere in the tree) ``log_fn`` is
        ``jnp.log(fn(...))``.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> law = Law.from_expression("E + A*N**-alpha + B*D**-beta", name="my_chinchilla")
        >>> law.variables, law.param_names
        (('N', 'D'), ('E', 'A', 'alpha', 'B', 'beta'))
        >>> law.latex
        'E + A N^{-\\alpha} + B D^{-\\beta}'
        >>> p = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
        >>> round(float(law.fn({"N": 1e9, "D": 2e10}, p)), 3)
        2.58

        ``log_fn`` works in log space where the structure allows: here ``N**-2`` underflows
        but its log does not.

        >>> tiny = Law.from_expression("A*N**-alpha")
        >>> round(float(tiny.log_fn({"N": 1e30}, {"A": 1.0, "alpha": 2.0})), 2)
        -138.16

        Parameters can be given constraints and priors:

        >>> from scalinglaws.priors import Prior
        >>> law = Law.from_expression("eps - k*exp(-gamma*L)", output="real",
        ...                 params={"eps": {"constraint": "unit"},
        ...                         "gamma": {"prior": Prior("Gamma", 2.0, 2.0)}})
        >>> [(q.name, q.constraint, q.prior.name) for q in law.params]
        [('eps', 'unit', 'Beta'), ('k', 'positive', 'LogNormal'), ('gamma', 'positive', 'Gamma')]

        Anything outside the whitelist is refused:

        >>> Law.from_expression("__import__('os')")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        scalinglaws.errors.ScalingLawError: expression "__import__('os')": the call ...
        """
        node, names = expr.read(expression)
        source = expression.strip()

        if output not in ("positive", "real"):
            raise ScalingLawError(f"output must be 'positive' or 'real', got {output!r}")
        for label, value in (("name", name), ("latex", latex)):
            if value is not None and not isinstance(value, str):
                raise ScalingLawError(f"{label} must be a string, got {type(value).__name__}")
        if not isinstance(citation, str):
            raise ScalingLawError(f"citation must be a string, got {type(citation).__name__}")

        if variables is None:
            variables = tuple(v for v in expr.DEFAULT_VARIABLES if v in names)
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

        if params is not None and not isinstance(params, Mapping):
            raise ScalingLawError(
                f"params must be a dict from parameter name to a Prior, a Param or a dict "
                f"such as {{'constraint': 'real', 'prior': Prior('Normal', 0, 1)}}, got "
                f"{params!r}"[:300])
        given = dict(params or {})
        unknown = [key for key in given if key not in param_names]
        if unknown:
            raise ScalingLawError(
                f"params names {unknown}, which are not parameters of {source!r}; its "
                f"parameters are {param_names} (variables: {list(variables)})"
            )
        default = {"constraint": "positive", "prior": DEFAULT_PRIORS["positive"]}
        law_params = tuple(_param_from_entry(n, given.get(n, default)) for n in param_names)

        varset = frozenset(variables)
        body = expr.compile_function(node, varset)

        def fn(v: Mapping[str, Any], p: Mapping[str, Any]) -> Array:
            return jnp.asarray(body(v, p))

        log_fn = None
        if output == "positive":
            positive = frozenset(
                [v for v in variables if v in expr.POSITIVE_VARIABLES]
                + [q.name for q in law_params if q.constraint in ("positive", "unit")]
            )
            log_body = expr.compile_log(node, varset, positive)

            if log_body is None:
                def log_fn(v: Mapping[str, Any], p: Mapping[str, Any]) -> Array:
                    return jnp.log(fn(v, p))
            else:
                def log_fn(v: Mapping[str, Any], p: Mapping[str, Any]) -> Array:
                    return jnp.asarray(log_body(v, p))

        return cls(
            name=source if name is None else name,
            variables=variables,
            params=law_params,
            fn=fn,
            latex=expr.latex(node)[0] if latex is None else latex,
            citation=citation,
            output=output,
            log_fn=log_fn,
            expression=expression,
        )


#: Prior of a noise power's exponent ``s`` (:func:`noise_power`): a fall or rise of the
#: noise scale by up to about e per e-fold of the variable.
NOISE_POWER_PRIOR = Prior("Normal", 0.0, 0.5)


def noise_power(base: Law, variable: str, *, name: str | None = None,
                prior: Prior = NOISE_POWER_PRIOR, description: str = "") -> Law:
    """``base`` with an observation noise scale that is a power of one of its variables:
    ``sigma_i = sigma (x_i / x_ref)^-s``, with ``s`` a new parameter (prior ``prior``) and
    ``x_ref`` the data's reference value of ``variable`` (the geometric mean of the fitted
    rows', kept with the fit), so ``sigma`` is the noise at ``x_ref``.

    The curve is ``base``'s; where ``base`` already scales its noise
    (:attr:`Law.log_noise_factor`), the two factors multiply. ``s > 0``: the noise falls
    as ``variable`` grows, by ``e^-s`` per e-fold (small models or small budgets
    scattering more than large ones). ``name`` defaults to
    ``"<base>_noise_by_<variable>"``.

    >>> law = noise_power(Law.from_expression("E + A*N**-alpha", name="power"), "N")
    >>> law.name, law.param_names
    ('power_noise_by_N', ('E', 'A', 'alpha', 's'))
    >>> v, p = {"N": np.array([1.0, np.e])}, {"s": 0.5}
    >>> np.asarray(law.log_noise_factor(v, p, {"N": 0.0})).round(6).tolist()
    [-0.0, -0.5]
    """
    if variable not in base.variables:
        raise ScalingLawError(f"noise_power: {variable!r} is not a variable of law "
                              f"{base.name!r}; use one of {list(base.variables)}")
    if "s" in base.param_names:
        raise ScalingLawError(f"noise_power: law {base.name!r} already has a parameter 's', "
                              f"the name of the noise power's exponent")
    own = base.log_noise_factor

    def power(v, p, log_reference):
        return -p["s"] * (jnp.log(v[variable]) - log_reference[variable])

    factor = power if own is None else (lambda v, p, ref: own(v, p, ref) + power(v, p, ref))
    given = tuple((key, value) for key, value, default in (
        ("name", name, None), ("prior", prior, NOISE_POWER_PRIOR),
        ("description", description, "")) if value != default)
    return replace(
        base, name=name or f"{base.name}_noise_by_{variable}",
        params=(*base.params,
                Param("s", "real", prior, group_scale=0.2,
                      description=f"fall of the noise scale per e-fold of {variable}")),
        latex=base.latex + rf",\quad \sigma_i = \sigma\,({variable}_i / {variable}_{{ref}})^{{-s}}",
        description=(base.description + " " if base.description else "") + (
            description or f"The noise scale is a power of {variable}, "
                            f"sigma ({variable} / {variable}_ref)^-s."),
        log_noise_factor=factor, expression=None, noise_power_of=(base, variable, given))


# --- the built-in laws -------------------------------------------------------------------

def exp_of(log_fn: LawFn) -> LawFn:
    return lambda v, p: jnp.exp(log_fn(v, p))


IRREDUCIBLE = Param("E", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
           description="irreducible loss")
EXPONENT_PRIOR = Prior("LogNormal", -1.2, 0.8)
COEFFICIENT_PRIOR = Prior("LogNormal", -0.5, 1.5)


# --- parameters --------------------------------------------------------------------------

def _param_from_entry(name: str, spec: Any) -> Param:
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
            f"params[{name!r}] must be a Param or a dict with keys {list(PARAM_KEYS)}, "
            f"e.g. {{'constraint': 'real', 'prior': Prior('Normal', 0, 1)}}; "
            f"got {type(spec).__name__}"
        )
    unknown = [key for key in spec if key not in PARAM_KEYS]
    if unknown:
        raise ScalingLawError(
            f"params[{name!r}] has unknown keys {unknown}; use {list(PARAM_KEYS)}"
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
        prior = DEFAULT_PRIORS[constraint]
    extra: dict[str, Any] = {}
    if "group_scale" in spec:
        extra["group_scale"] = spec["group_scale"]  # Param checks it
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise ScalingLawError(f"params[{name!r}]['description'] must be a string")
    return Param(name, constraint, prior, description=description, **extra)
