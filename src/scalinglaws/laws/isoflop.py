"""The isoFLOP frontier (Hoffmann et al. 2022, Approach 2), every budget fitted jointly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import jax.numpy as jnp
import numpy as np

from ..errors import ScalingLawError
from ..priors import Prior
from .expr import log_of, log_sum_exp
from .law import (
    COEFFICIENT_PRIOR,
    EXPONENT_PRIOR,
    IRREDUCIBLE,
    Array,
    Law,
    Param,
    exp_of,
    noise_power,
)

# --- isoFLOP frontier (Hoffmann et al. 2022, Approach 2, all budgets jointly) --------------


def _distance(v, p):
    # u = log N - log N_opt(C), N_opt = G C^a: a row's distance from its budget's optimum
    return jnp.log(v["N"]) - log_of(p, "G") - p["a"] * jnp.log(v["C"])


def _isoflop_log(v, p):
    # the curve's shape in u is Chinchilla's along an isoFLOP line,
    # (beta e^(-alpha u) + alpha e^(beta u)) / (alpha + beta): 1 at u = 0, its minimum;
    # the level above E at the optimum is K C^-gamma.
    log_c = jnp.log(v["C"])
    u = _distance(v, p)
    shape = (jnp.logaddexp(log_of(p, "beta") - p["alpha"] * u,
                           log_of(p, "alpha") + p["beta"] * u)
             - jnp.log(p["alpha"] + p["beta"]))
    return log_sum_exp(log_of(p, "E"), log_of(p, "K") - p["gamma"] * log_c + shape)


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
    # budgets within a relative 1e-6 of the next one: one nominal budget whose C was
    # computed (6ND) or stored with rounding, which counts as several budgets here
    group = np.concatenate([[0], np.cumsum(np.diff(budgets) > 1e-6 * budgets[1:])])
    lone = few & (np.bincount(group)[group] == 1)
    digits = next(d for d in (4, 6, 9, 12, 17)
                  if len({f"{c:.{d}g}" for c in budgets[lone]}) == lone.sum())
    named = []
    for g in np.unique(group[few]):
        members = np.flatnonzero(group == g)
        if members.size == 1:
            c, k = budgets[members[0]], sizes[members[0]]
            named.append(f"C={c:.{digits}g} ({k} size{'s' if k != 1 else ''})")
        else:
            k = np.unique(v["N"][np.isin(codes, members)]).size
            named.append(f"C={budgets[members[0]]:.4g} ({members.size} values that differ "
                         f"only in their last digits, {k} size{'s' if k != 1 else ''} in all)")
    listed = ", ".join(named[:8]) + (f" and {len(named) - 8} more" if len(named) > 8 else "")
    fix = "drop those budgets or add sizes"
    if len(named) < few.sum():
        fix = ("C values that differ only in their last digits are different budgets here: "
               "give each run its nominal budget, or round C to it (e.g. "
               f"10 ** np.log10(C).round(6)); otherwise {fix}")
    message = (f"budget(s) {listed} have fewer than three distinct model sizes N, too few "
               f"to place a minimum; {fix}")
    return [(message, few[codes])]


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
    loss = jnp.exp(log_sum_exp(jnp.log(params["E"]),
                               jnp.log(params["K"]) - params["gamma"] * log_c))
    return {"N": jnp.exp(log_n), "D": jnp.exp(log_d), "ratio": jnp.exp(log_d - log_n),
            "loss": loss}


ISOFLOP = Law(
    name="isoflop",
    variables=("N", "C"),
    params=(
        IRREDUCIBLE,
        Param("K", "positive", COEFFICIENT_PRIOR, reference=True,
              description="loss above E at the optimum (sampled as K_ref, at C_ref)"),
        Param("gamma", "positive", Prior("LogNormal", -2.0, 0.8), group_scale=0.2,
              description="exponent of the optimum's loss in compute"),
        Param("G", "positive", Prior("LogNormal", 0.0, 1.0), reference=True,
              description="coefficient of N_opt = G C^a (sampled as G_ref = "
                          "N_opt(C_ref) / N_ref)"),
        Param("a", "unit", Prior("Beta", 2.0, 2.0), group_scale=0.2,
              description="exponent of the compute-optimal size, N_opt = G C^a"),
        Param("alpha", "positive", EXPONENT_PRIOR, group_scale=0.2,
              description="steepness of an isoFLOP curve below the optimum"),
        Param("beta", "positive", EXPONENT_PRIOR, group_scale=0.2,
              description="steepness of an isoFLOP curve above the optimum"),
    ),
    fn=exp_of(_isoflop_log),
    log_fn=_isoflop_log,
    from_reference=_isoflop_from_ref,
    # at the reference budget's optimum the loss is E + K_ref: with few budgets E, K and
    # gamma lie on a curved ridge that level coordinates straighten (docs/modeling.md)
    level_terms=("E", "K"),
    # and gamma's with K's share, which sampling gamma K_ref / (E + K_ref), the optimum's
    # slope in log C at C_ref, straightens (the data fix that slope)
    share_scaled=(("gamma", "K"),),
    latex=(r"L(N, C) = E + K C^{-\gamma}\,\frac{\beta e^{-\alpha u} + \alpha e^{\beta u}}"
           r"{\alpha + \beta},\quad u = \ln N - \ln\left(G C^{a}\right)"),
    citation="Hoffmann et al. 2022 (Approach 2: isoFLOP profiles), fitted jointly over "
             "budgets",
    description="Every isoFLOP curve in one law: at budget C the loss against log N has its "
                "minimum at N_opt = G C^a, with value E + K C^-gamma, and Chinchilla's "
                "asymmetric shape around it. Vary K and G by budget for budget offsets.",
    check=_isoflop_check,
)


def is_isoflop(law: Law) -> bool:
    """Whether ``law`` is of the ``isoflop`` family (``isoflop``, ``isoflop_parabola``,
    their spread laws and ``isoflop_parabola_budget_noise``): its minimum at budget C is
    at N_opt = G C^a with loss E + K C^-gamma, so its compute-optimal allocation is
    :func:`isoflop_optimum` in closed form.

    >>> is_isoflop(ISOFLOP_SPREAD), is_isoflop(ISOFLOP_PARABOLA)
    (True, True)
    """
    return isinstance(law, Law) and law.from_reference is _isoflop_from_ref


# --- a symmetric local shape: a parabola in log N around each optimum -------------------


def _parabola_log(v, p):
    # 1 + kappa u^2: symmetric, curvature 2 kappa at the optimum (the Chinchilla shape's is
    # alpha beta), the level above E at the optimum K C^-gamma as in the isoflop law
    u = _distance(v, p)
    return log_sum_exp(log_of(p, "E"), log_of(p, "K") - p["gamma"] * jnp.log(v["C"])
                       + jnp.log1p(p["kappa"] * u**2))


ISOFLOP_PARABOLA = replace(
    ISOFLOP,
    name="isoflop_parabola",
    params=(*(q for q in ISOFLOP.params if q.name not in ("alpha", "beta")),
            Param("kappa", "positive", Prior("LogNormal", -2.5, 1.0), group_scale=0.3,
                  description="curvature of an isoFLOP curve around its optimum, in units of "
                              "the level above E there per squared e-fold of N")),
    fn=exp_of(_parabola_log),
    log_fn=_parabola_log,
    # the curvature at C_ref, K_ref kappa / (E + K_ref), is what the data fix (Law.share_scaled)
    share_scaled=(("gamma", "K"), ("kappa", "K")),
    latex=(r"L(N, C) = E + K C^{-\gamma}\,\left(1 + \kappa u^2\right),\quad "
           r"u = \ln N - \ln\left(G C^{a}\right)"),
    citation="Hoffmann et al. 2022 (Approach 2: a parabola per isoFLOP profile), fitted "
             "jointly over budgets",
    description="Every isoFLOP curve in one law, each a parabola in log N: at budget C the "
                "minimum is at N_opt = G C^a, with value E + K C^-gamma, and the loss rises "
                "symmetrically around it, K C^-gamma kappa u^2. Vary kappa by budget for a "
                "curvature per budget, as Approach 2's parabolas have.",
)


# --- noise that grows away from each budget's optimum -------------------------------------

#: The spread laws' noise factors: form -> (log factor of tau and the row's variables and
#: parameters, the variables it adds to the law's, its LaTeX).
SPREAD_FORMS = {
    "exp": (lambda tau, v, p: tau * jnp.abs(_distance(v, p)), (),
            r"\sigma_i = \sigma\,e^{\tau |u_i|}"),
    "quadratic": (lambda tau, v, p: jnp.log1p(tau * _distance(v, p) ** 2), (),
                  r"\sigma_i = \sigma\,(1 + \tau u_i^2)"),
    "measured": (lambda tau, v, p: tau * jnp.abs(jnp.log(v["N"]) - jnp.log(v["N_best"])),
                 ("N_best",), r"\sigma_i = \sigma\,e^{\tau |\ln N_i - \ln N_{best}|}"),
}
SPREAD_NAMES = {"exp": "isoflop_spread", "quadratic": "isoflop_spread_quadratic",
                "measured": "isoflop_spread_measured"}


def spread_law(form: str = "exp", base: Law | None = None) -> Law:
    """The ``isoflop`` law with observation noise that grows away from each budget's
    minimum, ``tau`` a parameter:

    - ``"exp"`` (``isoflop_spread``): ``sigma_i = sigma e^(tau |u_i|)``, ``u = ln N -
      ln(G C^a)`` the distance from the budget's optimum in the law;
    - ``"quadratic"`` (``isoflop_spread_quadratic``): ``sigma (1 + tau u_i^2)``;
    - ``"measured"`` (``isoflop_spread_measured``): ``sigma e^(tau |ln N_i - ln N_best|)``,
      the distance from the budget's best measured size, a variable ``N_best`` (a column:
      the size with the budget's lowest loss) rather than a parameter.

    The curve is the ``isoflop`` law's. Far from the minimum a sweep's points (barely
    trained models, or models too small for their data) follow the shared curve shape
    less closely; a growing noise scale lets them count for less without dropping them,
    as a local reading of each minimum does. ``tau``'s prior, LogNormal(-1, 1) (median
    0.37, 90% 0.07-1.9): at one e-fold in N from the minimum the noise is, for ``exp``, a
    few percent to six times its value there. Anchored on the optimum in the law (``exp``,
    ``quadratic``), the noise also pulls on the optimum it is measured from; the
    ``measured`` anchor does not move with the parameters.

    >>> law = spread_law("exp")
    >>> law.name, law.param_names[-1]
    ('isoflop_spread', 'tau')
    >>> p = {"G": 1.0, "a": 0.5, "tau": 0.5}
    >>> round(float(law.log_noise_factor({"N": np.e ** 2 * 1e3, "C": 1e6}, p, {})), 6)
    1.0
    >>> spread_law("measured").variables
    ('N', 'C', 'N_best')
    """
    if form not in SPREAD_FORMS:
        raise ScalingLawError(f"spread form must be one of {sorted(SPREAD_FORMS)}, "
                              f"got {form!r}")
    base = ISOFLOP if base is None else base
    if not is_isoflop(base):
        raise ScalingLawError(f"spread_law needs a law of the isoflop family, got "
                              f"{base.name!r}")
    log_factor, extra, noise_latex = SPREAD_FORMS[form]
    name = SPREAD_NAMES[form] if base.name == "isoflop" else f"{base.name}_spread_{form}"
    return replace(
        base,
        name=name,
        variables=(*base.variables, *extra),
        params=(*base.params,
                Param("tau", "positive", Prior("LogNormal", -1.0, 1.0), group_scale=0.2,
                      description="growth of the noise scale with the distance from the "
                                  "budget's minimum")),
        latex=base.latex + r",\quad " + noise_latex,
        description=base.description + " The noise scale grows with the distance from "
                    "each budget's minimum (tau), so far points count for less.",
        log_noise_factor=lambda v, p, log_reference: log_factor(p["tau"], v, p),
    )


ISOFLOP_SPREAD = spread_law("exp")
ISOFLOP_SPREAD_QUADRATIC = spread_law("quadratic")
ISOFLOP_SPREAD_MEASURED = spread_law("measured")
ISOFLOP_PARABOLA_SPREAD = spread_law("quadratic", ISOFLOP_PARABOLA)


# --- noise that changes with the budget ----------------------------------------------------

def budget_noise_law(base: Law | None = None) -> Law:
    """An ``isoflop`` law whose observation noise scale is a power of the budget,
    ``sigma_i = sigma (C_i / C_ref)^-s``, with ``s`` a parameter (prior Normal(0, 0.5))
    and ``C_ref`` the data's reference budget (the geometric mean of the rows' C, as for
    ``K_ref`` and ``G_ref``): ``sigma`` is the noise at ``C_ref``.

    A sweep's small budgets can scatter more around one smooth curve than its large ones
    (on Porian et al.'s sweeps, a noise scale per budget puts the smallest budgets' well
    above the largest's). One noise scale lets the small budgets' scatter widen the large
    budgets' noise, or the reverse; a noise scale per budget (``vary=
    {"sigma": "budget"}``) has a funnel in its spread that NUTS does not cross cleanly
    (``benchmarks/isoflop_variants.md``). ``s > 0``: the noise falls as the budget grows
    (by ``e^-s`` per e-fold of C). It is :func:`~scalinglaws.laws.noise_power` of ``base``
    in ``C`` (a ``base`` that scales its noise already, such as ``isoflop_spread``, keeps
    its own factor too). The study ``scalinglaws reproduce isoflop`` uses it.

    >>> law = budget_noise_law()
    >>> law.name, law.param_names[-1]
    ('isoflop_parabola_budget_noise', 's')
    >>> p = {"G": 1.0, "a": 0.5, "s": 0.5, "kappa": 0.1}
    >>> v = {"N": np.array([1e3, 1e3]), "C": np.array([1e6, np.e ** 2 * 1e6])}
    >>> np.round(np.asarray(law.log_noise_factor(v, p, {"C": np.log(1e6)})), 6).tolist()
    [-0.0, -1.0]
    """
    base = ISOFLOP_PARABOLA if base is None else base
    if not is_isoflop(base):
        raise ScalingLawError(f"budget_noise_law needs a law of the isoflop family, got "
                              f"{base.name!r}")
    return noise_power(base, "C", name=f"{base.name}_budget_noise",
                       description="The noise scale is a power of the budget, sigma "
                                   "(C / C_ref)^-s, so small budgets may scatter more than "
                                   "large ones.")


ISOFLOP_PARABOLA_BUDGET_NOISE = budget_noise_law()
