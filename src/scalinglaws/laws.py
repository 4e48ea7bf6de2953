"""Scaling laws as data: a named functional form, its parameters and default priors.

A :class:`Law` is a pure ``jax.numpy`` function plus metadata. Laws whose output is
positive (losses) are written in log space with ``logaddexp`` so that nothing overflows
or underflows at 1e13 parameters; :meth:`Law.log_fn` is what the likelihood uses.

Coefficients such as Chinchilla's ``A`` are *sampled at a reference scale*: the model
draws ``A_ref``, the size of the N-term at ``N = N_ref`` (the geometric mean of the
data unless fixed in the spec), and converts it back with :attr:`Law.from_reference`.
This removes the near-collinearity of ``A`` and ``alpha`` that makes naive fits slow.

Examples
--------
>>> import scalinglaws as sl
>>> law = sl.laws.get("chinchilla")
>>> law.variables
('N', 'D')
>>> hoffmann = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
>>> round(float(law.fn({"N": 1e9, "D": 2e10}, hoffmann)), 4)
2.58
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from .errors import ScalingLawError
from .priors import Prior

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
        if self.constraint not in CONSTRAINTS:
            raise ScalingLawError(
                f"parameter {self.name!r}: constraint must be one of {CONSTRAINTS}, "
                f"got {self.constraint!r}"
            )
        if not self.prior.support_fits(self.constraint):
            raise ScalingLawError(
                f"parameter {self.name!r} is {self.constraint} but its prior {self.prior!r} "
                f"puts mass outside that range; choose a prior on the right support"
            )

    @property
    def sampled_name(self) -> str:
        """The name of the sampled quantity: ``A_ref`` for a reference-scale ``A``."""
        return f"{self.name}_ref" if self.reference else self.name


@dataclass(frozen=True)
class Law:
    """A named functional form.

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
    check : callable, optional
        ``check(variables, fitting) -> [(message, bad_rows), ...]``: the law's own input
        conditions beyond positivity (unique tokens at most total tokens; three sizes per
        isoFLOP budget), run on the data before anything is compiled; see :meth:`problems`.
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
    check: Check | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
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

    @classmethod
    def from_expression(cls, expression: str, **kwargs) -> Law:
        """A custom law from a formula string; see :func:`scalinglaws.expr.parse_law`.

        >>> law = Law.from_expression("E + A*N**-alpha")
        >>> law.variables, law.param_names
        (('N',), ('E', 'A', 'alpha'))
        """
        from .expr import parse_law

        return parse_law(expression, **kwargs)


# --- the built-in laws -------------------------------------------------------------------

def _lse(*terms: Array) -> Array:
    """log(sum(exp(terms))) of broadcast terms, stable."""
    out = terms[0]
    for term in terms[1:]:
        out = jnp.logaddexp(out, term)
    return out


def _positive(log_fn: LawFn) -> LawFn:
    return lambda v, p: jnp.exp(log_fn(v, p))


_E = Param("E", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
           description="irreducible loss")
_EXPONENT = Prior("LogNormal", -1.2, 0.8)
_COEF_REF = Prior("LogNormal", -0.5, 1.5)


def _chinchilla_log(v, p):
    return _lse(jnp.log(p["E"]),
                jnp.log(p["A"]) - p["alpha"] * jnp.log(v["N"]),
                jnp.log(p["B"]) - p["beta"] * jnp.log(v["D"]))


def _chinchilla_from_ref(ref, p, logref):
    return {"A": ref["A"] + p["alpha"] * logref["N"], "B": ref["B"] + p["beta"] * logref["D"]}


CHINCHILLA = Law(
    name="chinchilla",
    variables=("N", "D"),
    params=(
        _E,
        Param("A", "positive", _COEF_REF, reference=True,
              description="coefficient of the parameter term (sampled as A_ref, the "
                          "N-term at N_ref)"),
        Param("B", "positive", _COEF_REF, reference=True,
              description="coefficient of the data term (sampled as B_ref, the D-term "
                          "at D_ref)"),
        Param("alpha", "positive", _EXPONENT, group_scale=0.2,
              description="parameter exponent"),
        Param("beta", "positive", _EXPONENT, group_scale=0.2, description="data exponent"),
    ),
    fn=_positive(_chinchilla_log),
    log_fn=_chinchilla_log,
    from_reference=_chinchilla_from_ref,
    latex=r"L(N, D) = E + A N^{-\alpha} + B D^{-\beta}",
    citation="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models",
    description="Loss as an irreducible term plus power laws in parameters N and "
                "training tokens D.",
    level_terms=("E", "A", "B"),
)


def _kaplan_log(v, p):
    inner = _lse((p["alpha"] / p["beta"]) * (jnp.log(p["A"]) - jnp.log(v["N"])),
                 jnp.log(p["B"]) - jnp.log(v["D"]))
    return _lse(jnp.log(p["E"]), p["beta"] * inner)


def _kaplan_from_ref(ref, p, logref):
    # A_ref = (A / N_ref)^(alpha/beta), B_ref = B / D_ref: both terms are O(1) at the reference.
    return {"A": logref["N"] + (p["beta"] / p["alpha"]) * ref["A"], "B": logref["D"] + ref["B"]}


KAPLAN = Law(
    name="kaplan",
    variables=("N", "D"),
    params=(
        _E,
        Param("A", "positive", _COEF_REF, reference=True,
              description="critical parameter count N_c (sampled as A_ref = "
                          "(A/N_ref)^(alpha/beta))"),
        Param("B", "positive", _COEF_REF, reference=True,
              description="critical token count D_c (sampled as B_ref = B/D_ref)"),
        Param("alpha", "positive", _EXPONENT, group_scale=0.2, description="parameter exponent"),
        Param("beta", "positive", _EXPONENT, group_scale=0.2, description="data exponent"),
    ),
    fn=_positive(_kaplan_log),
    log_fn=_kaplan_log,
    from_reference=_kaplan_from_ref,
    latex=(r"L(N, D) = E + \left(\left(\frac{A}{N}\right)^{\alpha/\beta}"
           r" + \frac{B}{D}\right)^{\beta}"),
    citation="Kaplan et al. 2020, Scaling Laws for Neural Language Models "
             "(with an offset E, as used by Brandfonbrener et al. 2025)",
    description="Kaplan's joint law in N and D, with an irreducible loss E.",
)


def _overtraining_log(v, p):
    # a M^eta C^-eta = a 6^-eta N^-2eta and b M^-eta C^-eta = b 6^-eta D^-2eta,
    # with C = 6 N D and M = D / N.
    log6 = jnp.log(6.0)
    return _lse(jnp.log(p["E"]),
                jnp.log(p["a"]) - p["eta"] * (log6 + 2.0 * jnp.log(v["N"])),
                jnp.log(p["b"]) - p["eta"] * (log6 + 2.0 * jnp.log(v["D"])))


def _overtraining_from_ref(ref, p, logref):
    log6 = jnp.log(6.0)
    return {"a": ref["a"] + p["eta"] * (log6 + 2.0 * logref["N"]),
            "b": ref["b"] + p["eta"] * (log6 + 2.0 * logref["D"])}


OVERTRAINING = Law(
    name="overtraining",
    variables=("N", "D"),
    params=(
        _E,
        Param("a", "positive", _COEF_REF, reference=True,
              description="coefficient of M^eta (sampled as a_ref, the N-term at N_ref)"),
        Param("b", "positive", _COEF_REF, reference=True,
              description="coefficient of M^-eta (sampled as b_ref, the D-term at D_ref)"),
        Param("eta", "positive", Prior("LogNormal", -2.0, 0.8), group_scale=0.2,
              description="compute exponent"),
    ),
    fn=_positive(_overtraining_log),
    log_fn=_overtraining_log,
    from_reference=_overtraining_from_ref,
    latex=r"L(N, M) = E + \left(a M^{\eta} + b M^{-\eta}\right) C^{-\eta},"
          r"\quad C = 6 N D,\ M = D / N",
    citation="Gadre et al. 2024, Language models scale reliably with over-training and on "
             "downstream tasks",
    description="Loss against compute C and token multiplier M; Chinchilla with one shared "
                "exponent 2*eta.",
)


def _compute_log(v, p):
    return _lse(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * jnp.log(v["C"]))


COMPUTE = Law(
    name="compute",
    variables=("C",),
    params=(
        _E,
        Param("A", "positive", _COEF_REF, reference=True,
              description="coefficient (sampled as A_ref, the C-term at C_ref)"),
        Param("alpha", "positive", _EXPONENT, group_scale=0.2, description="compute exponent"),
    ),
    fn=_positive(_compute_log),
    log_fn=_compute_log,
    from_reference=lambda ref, p, logref: {"A": ref["A"] + p["alpha"] * logref["C"]},
    latex=r"L(C) = E + A C^{-\alpha}",
    citation="Kaplan et al. 2020; Hoffmann et al. 2022 (compute-optimal frontier)",
    description="Loss against training compute alone.",
)


def _shifted_log(v, p):
    return _lse(jnp.log(p["K"]) + p["kappa"] * jnp.log(v["L"] - p["E_x"]), jnp.log(p["E_y"]))


SHIFTED_POWER = Law(
    name="shifted_power",
    variables=("L",),
    params=(
        Param("K", "positive", Prior("LogNormal", 0.0, 1.0), group_scale=0.3,
              description="scale of the link"),
        Param("kappa", "positive", Prior("LogNormal", 0.0, 0.5), group_scale=0.2,
              description="exponent of the link"),
        Param("E_x", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
              description="irreducible loss of the input loss L_x"),
        Param("E_y", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
              description="irreducible loss of the output loss L_y"),
    ),
    fn=_positive(_shifted_log),
    log_fn=_shifted_log,
    latex=r"L_y = K \left(L_x - E_x\right)^{\kappa} + E_y",
    citation="Brandfonbrener et al. 2025, Loss-to-Loss Prediction; Mayilvahanan et al. "
             "2025, LLMs on the Line",
    description="Loss-to-loss link: one loss L (= L_x) mapped to another. Defined for "
                "L > E_x.",
)


DOWNSTREAM_EXP = Law(
    name="downstream_exp",
    variables=("L",),
    params=(
        Param("epsilon", "unit", Prior("Beta", 8.0, 2.0), group_scale=0.3,
              description="error at infinite loss (chance level)"),
        Param("k", "positive", Prior("LogNormal", 0.5, 1.0), group_scale=0.3,
              description="scale of the decay"),
        Param("gamma", "positive", Prior("LogNormal", -0.5, 0.7), group_scale=0.2,
              description="rate of the decay in loss"),
    ),
    fn=lambda v, p: p["epsilon"] - p["k"] * jnp.exp(-p["gamma"] * v["L"]),
    output="real",
    latex=r"\mathrm{Err}(L) = \epsilon - k\, e^{-\gamma L}",
    citation="Gadre et al. 2024",
    description="Average downstream top-1 error as a function of loss L.",
)


def _broken_log(v, p):
    logc = jnp.log(v["C"])
    # softplus((log C - log d) / f) = log(1 + (C/d)^(1/f)), stable in both tails
    bend = jnp.logaddexp(0.0, (logc - jnp.log(p["d"])) / p["f"])
    return _lse(jnp.log(p["E"]),
                jnp.log(p["A"]) - p["alpha"] * logc - p["c1"] * p["f"] * bend)


def _broken_from_ref(ref, p, logref):
    return {"A": ref["A"] + p["alpha"] * logref["C"], "d": ref["d"] + logref["C"]}


BROKEN_POWER = Law(
    name="broken_power",
    variables=("C",),
    params=(
        _E,
        Param("A", "positive", _COEF_REF, reference=True,
              description="coefficient (sampled as A_ref, the term at C_ref before the bend)"),
        Param("alpha", "positive", _EXPONENT, group_scale=0.2,
              description="exponent before the break"),
        Param("c1", "real", Prior("Normal", 0.0, 0.5), group_scale=0.2,
              description="change of exponent after the break"),
        Param("d", "positive", Prior("LogNormal", 0.0, 3.0), reference=True,
              description="break location (sampled as d_ref = d / C_ref)"),
        Param("f", "positive", Prior("LogNormal", -1.0, 1.0), group_scale=0.3,
              description="sharpness of the break"),
    ),
    fn=_positive(_broken_log),
    log_fn=_broken_log,
    from_reference=_broken_from_ref,
    latex=r"L(C) = E + A C^{-\alpha}\left(1 + (C/d)^{1/f}\right)^{-c_1 f}",
    citation="Caballero et al. 2023, Broken Neural Scaling Laws (one break)",
    description="A power law in compute whose exponent changes from alpha to alpha + c1 "
                "around C = d.",
)


# --- data-constrained scaling (Muennighoff et al. 2023) ----------------------------------


def _log_effective(log_unique: Array, log_total: Array, half_life: Array) -> Array:
    """log U' for U' = U + U R* (1 - exp(-R/R*)), R = total/U - 1 repetitions.

    ``log1p``/``expm1`` keep it exact when R is tiny (one epoch: U' = U) and finite at
    1e12 parameters; ``total >= unique`` is the law's input condition.
    """
    repeats = jnp.expm1(log_total - log_unique)
    return log_unique + jnp.log1p(-half_life * jnp.expm1(-repeats / half_life))


def _data_constrained_log(v, p):
    log_n = _log_effective(jnp.log(v["U_N"]), jnp.log(v["N"]), p["RN_star"])
    log_d = _log_effective(jnp.log(v["U_D"]), jnp.log(v["D"]), p["RD_star"])
    return _lse(jnp.log(p["E"]),
                jnp.log(p["A"]) - p["alpha"] * log_n,
                jnp.log(p["B"]) - p["beta"] * log_d)


def _data_constrained_check(v, fitting):
    return [
        ("unique tokens U_D exceed the total tokens D (fewer than one epoch); U_D must be "
         "at most D", v["U_D"] > v["D"]),
        ("unique parameters U_N exceed the parameters N; U_N must be at most N (U_N = N "
         "when no parameters are in excess)", v["U_N"] > v["N"]),
    ]


DATA_CONSTRAINED = Law(
    name="data_constrained",
    variables=("N", "D", "U_D", "U_N"),
    params=(
        *CHINCHILLA.params,  # E, A, B, alpha, beta: the terms of N' and D' as Chinchilla's
        Param("RD_star", "positive", Prior("LogNormal", 2.5, 1.0), group_scale=0.3,
              description="half-life of repeated data, in repetitions (R_D^*)"),
        Param("RN_star", "positive", Prior("LogNormal", 2.5, 1.0), group_scale=0.3,
              description="half-life of excess parameters, in multiples of U_N (R_N^*)"),
    ),
    fn=_positive(_data_constrained_log),
    log_fn=_data_constrained_log,
    from_reference=_chinchilla_from_ref,
    latex=(r"L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}},\quad "
           r"D' = U_D + U_D R_D^* \left(1 - e^{-R_D/R_D^*}\right),\ R_D = D/U_D - 1,\quad "
           r"N' = U_N + U_N R_N^* \left(1 - e^{-R_N/R_N^*}\right),\ R_N = N/U_N - 1"),
    citation="Muennighoff et al. 2023, Scaling Data-Constrained Language Models",
    description="Chinchilla with repeated tokens and excess parameters worth less: D' and "
                "N' are the effective data and parameters, saturating at (1 + R*) times "
                "the unique amount. U_N = N switches the parameter decay off.",
    check=_data_constrained_check,
)


# --- isoFLOP frontier (Hoffmann et al. 2022, Approach 2, all budgets jointly) --------------


def _isoflop_log(v, p):
    # u = log N - log N_opt(C), N_opt = G C^a; the curve's shape is Chinchilla's along an
    # isoFLOP line, (beta e^(-alpha u) + alpha e^(beta u)) / (alpha + beta): 1 at u = 0,
    # its minimum; the level above E at the optimum is K C^-gamma.
    log_c = jnp.log(v["C"])
    u = jnp.log(v["N"]) - jnp.log(p["G"]) - p["a"] * log_c
    shape = (jnp.logaddexp(jnp.log(p["beta"]) - p["alpha"] * u,
                           jnp.log(p["alpha"]) + p["beta"] * u)
             - jnp.log(p["alpha"] + p["beta"]))
    return _lse(jnp.log(p["E"]), jnp.log(p["K"]) - p["gamma"] * log_c + shape)


def _isoflop_from_ref(ref, p, logref):
    # K_ref: the level at C_ref; G_ref: N_opt(C_ref) / N_ref
    return {"K": ref["K"] + p["gamma"] * logref["C"],
            "G": ref["G"] + logref["N"] - p["a"] * logref["C"]}


def _isoflop_check(v, fitting):
    if not fitting:
        return []
    budgets, codes = np.unique(v["C"], return_inverse=True)
    sizes = np.array([np.unique(v["N"][codes == i]).size for i in range(budgets.size)])
    few = sizes < 3
    if not few.any():
        return []
    named = ", ".join(f"C={c:.4g} ({k} size{'s' if k != 1 else ''})"
                      for c, k in zip(budgets[few], sizes[few], strict=True))
    return [(f"budget(s) {named} have fewer than three distinct model sizes N, too few to "
             f"place a minimum; drop those budgets or add sizes", few[codes])]


def isoflop_optimum(params: Mapping[str, Array], compute: Array) -> dict[str, Array]:
    """The isoFLOP law's compute-optimal allocation in closed form.

    ``N* = G C^a``, ``D* = C / (6 N*)`` and the loss there, ``E + K C^-gamma``.

    >>> out = isoflop_optimum({"E": 1.8, "K": 50.0, "gamma": 0.1, "G": 0.1, "a": 0.5},
    ...                       1e20)
    >>> f"{float(out['N']):.3g}", round(float(out['loss']), 4)
    ('1e+09', 2.3)
    """
    log_c = jnp.log(jnp.asarray(compute))
    log_n = jnp.log(params["G"]) + params["a"] * log_c
    log_d = log_c - jnp.log(6.0) - log_n
    loss = jnp.exp(_lse(jnp.log(params["E"]), jnp.log(params["K"]) - params["gamma"] * log_c))
    return {"N": jnp.exp(log_n), "D": jnp.exp(log_d), "ratio": jnp.exp(log_d - log_n),
            "loss": loss}


ISOFLOP = Law(
    name="isoflop",
    variables=("N", "C"),
    params=(
        _E,
        Param("K", "positive", _COEF_REF, reference=True,
              description="loss above E at the optimum (sampled as K_ref, at C_ref)"),
        Param("gamma", "positive", Prior("LogNormal", -2.0, 0.8), group_scale=0.2,
              description="exponent of the optimum's loss in compute"),
        Param("G", "positive", Prior("LogNormal", 0.0, 1.0), reference=True,
              description="coefficient of N_opt = G C^a (sampled as G_ref = "
                          "N_opt(C_ref) / N_ref)"),
        Param("a", "unit", Prior("Beta", 2.0, 2.0), group_scale=0.2,
              description="exponent of the compute-optimal size, N_opt = G C^a"),
        Param("alpha", "positive", _EXPONENT, group_scale=0.2,
              description="steepness of an isoFLOP curve below the optimum"),
        Param("beta", "positive", _EXPONENT, group_scale=0.2,
              description="steepness of an isoFLOP curve above the optimum"),
    ),
    fn=_positive(_isoflop_log),
    log_fn=_isoflop_log,
    from_reference=_isoflop_from_ref,
    latex=(r"L(N, C) = E + K C^{-\gamma}\,\frac{\beta e^{-\alpha u} + \alpha e^{\beta u}}"
           r"{\alpha + \beta},\quad u = \ln N - \ln\left(G C^{a}\right)"),
    citation="Hoffmann et al. 2022 (Approach 2: isoFLOP profiles), fitted jointly over "
             "budgets",
    description="Every isoFLOP curve in one law: at budget C the loss against log N has its "
                "minimum at N_opt = G C^a, with value E + K C^-gamma, and Chinchilla's "
                "asymmetric shape around it. Vary K and G by budget for budget offsets.",
    check=_isoflop_check,
)


_REGISTRY: dict[str, Law] = {
    law.name: law
    for law in (CHINCHILLA, KAPLAN, OVERTRAINING, COMPUTE, SHIFTED_POWER, DOWNSTREAM_EXP,
                BROKEN_POWER, DATA_CONSTRAINED, ISOFLOP)
}


def names() -> list[str]:
    """Names of the built-in laws.

    >>> names()[:3]
    ['broken_power', 'chinchilla', 'compute']
    """
    return sorted(_REGISTRY)


def get(name: str | Law) -> Law:
    """The built-in law called ``name`` (a :class:`Law` is returned as is).

    >>> get("kaplan").params[0].name
    'E'
    """
    if isinstance(name, Law):
        return name
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ScalingLawError(
            f"unknown law {name!r}; use one of {names()}, a Law, or an expression string "
            f"such as 'E + A*N**-alpha'"
        )
    return _REGISTRY[name]


def resolve(law: str | Law) -> Law:
    """A registry name, a :class:`Law`, or an expression string, as a :class:`Law`.

    >>> resolve("E + A*C**-alpha").variables
    ('C',)
    """
    if isinstance(law, Law):
        return law
    if isinstance(law, str) and law in _REGISTRY:
        return _REGISTRY[law]
    if isinstance(law, str) and any(ch in law for ch in "+-*/("):
        return Law.from_expression(law)
    return get(law)
