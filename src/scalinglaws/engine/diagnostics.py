"""Reading a posterior: chains grouped, draws flattened, and diagnostics in plain words.

After sampling, divergences, R-hat, bulk/tail ESS, BFMI, tree-depth saturation and chains
stuck below the others' log density are checked, and every problem becomes a plain-words
warning (:func:`diagnose`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import arviz as az
import numpy as np
import xarray as xr

from ..data import dataset_factors
from ..model import auxiliary
from ..spec import factor_key, per_factor
from .convergence import convergence_by_name

#: Thresholds of the post-sampling checks.
RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3
#: A chain whose mean log density lies this many within-chain standard deviations (and at
#: least :data:`LOWER_MODE_NATS`) below the best chain of its group sits in another mode.
LOWER_MODE_SDS = 4.0
LOWER_MODE_NATS = 5.0


def chains_per_group(posterior: xr.Dataset) -> int:
    """How many consecutive chains of the posterior target one distribution.

    A cut loss-to-loss fit runs its links' chains given several compute-law draws, one
    group of ``posterior.attrs["chains_per_group"]`` chains per draw; R-hat compares chains
    within a group and ESS adds over groups. Without the attribute: one group, all chains.
    """
    return int(posterior.attrs.get("chains_per_group", posterior.sizes["chain"]))


def posterior_draws(idata: az.InferenceData) -> dict[str, np.ndarray]:
    """Every posterior site with its chains flattened: ``{name: (draws, ...)}``, read-only
    views of the posterior (an edit in place would change the fit; ``.copy()`` one to
    edit it)."""
    post = idata.posterior
    n = post.sizes["chain"] * post.sizes["draw"]  # explicit: a site may have a size-0 axis
    out = {}
    for name in post.data_vars:
        out[name] = post[name].values.reshape(n, *post[name].shape[2:]).view()
        out[name].flags.writeable = False
    return out


def _factors(idata: az.InferenceData) -> list[str]:
    """The factor columns of a fit, longest first (from its constant data)."""
    if "constant_data" not in idata.groups():
        return []
    return sorted(dataset_factors(idata.constant_data), key=len, reverse=True)


def user_name(site: str, factors: list[str]) -> str:
    """A sampling site named as the user wrote the model: ``A_ref_dataset`` and
    ``E_offset_dataset`` become ``A[dataset]`` and ``E[dataset]``, ``A_sd_dataset``
    becomes ``A_sd[dataset]`` and ``A_ref`` becomes ``A``.

    >>> user_name("A_ref_dataset", ["dataset"]), user_name("B_ref_sd_dataset", ["dataset"])
    ('A[dataset]', 'B_sd[dataset]')
    >>> user_name("link.E_y_sd_dataset_y", ["dataset_y"]), user_name("alpha", [])
    ('link.E_y_sd[dataset_y]', 'alpha')
    """
    prefix, _, name = site.rpartition(".")
    prefix = f"{prefix}." if prefix else ""
    for factor in factors:
        for middle, label in (("_sd_", "_sd"), ("_offset_", ""), ("_", "")):
            end = f"{middle}{factor}"
            if name.endswith(end) and len(name) > len(end):
                stem = name[: -len(end)].removesuffix("_ref")
                return f"{prefix}{stem}{label}[{factor}]"
    return f"{prefix}{name.removesuffix('_ref')}"


def _by_user_name(values: dict[str, float], factors: list[str], pick) -> dict[str, float]:
    """``values`` keyed by :func:`user_name`, sites that share a name combined by ``pick``."""
    out: dict[str, float] = {}
    for site, value in values.items():
        name = user_name(site, factors)
        out[name] = pick(out[name], value) if name in out else value
    return out


def diagnose(idata: az.InferenceData, max_tree_depth: int,
             pooled: Mapping[str, str] | None = None,
             separation: Mapping[str, float] | None = None) -> list[str]:
    """Plain-words warnings about a posterior; empty when every check passes.

    R-hat compares chains within each group of :func:`chains_per_group` chains
    (one group unless a cut fit says otherwise) and ESS adds over the groups. ``pooled``:
    how the fit's pooled parameters were sampled (:func:`divergence_advice`); the
    separation of their groups (``separation``, by the names ``pooled`` uses) is read
    from the sample statistics' attributes (:data:`SEPARATION_ATTR`) where not given.
    """
    stats = idata.sample_stats
    recorded = stats.attrs.get(SEPARATION_ATTR)
    if separation is None and recorded is not None:
        separation = json.loads(recorded)
    names = [v for v in idata.posterior.data_vars if not auxiliary(v)]
    post = idata.posterior[names]
    return problems(
        diverging=stats["diverging"].values,
        n_steps=stats["n_steps"].values if "n_steps" in stats else None,
        energy=stats["energy"].values, max_tree_depth=max_tree_depth,
        quantities=dataset_convergence(post), factors=_factors(idata),
        chains_per_group=chains_per_group(post),
        log_density=stats["lp"].values if "lp" in stats else None, pooled=pooled,
        separation=separation)


def dataset_convergence(post: xr.Dataset) -> dict[str, dict[str, np.ndarray]]:
    """R-hat, bulk and tail ESS (:func:`.convergence.convergence`) of every variable of
    ``post`` (dims ``chain``, ``draw`` and any others), computed in one call:
    ``{name: {"ess_bulk": array, "ess_tail": array, "r_hat": array}}``, each array of the
    variable's shape without ``chain`` and ``draw``. Chains are grouped as
    :func:`chains_per_group` says."""
    values = {name: var.transpose(*[d for d in var.dims if d not in ("chain", "draw")],
                                  "chain", "draw").values
              for name, var in post.data_vars.items()}
    if not values:
        return {}
    return convergence_by_name(values, chains_per_group=chains_per_group(post))


def bfmi(energy: np.ndarray) -> np.ndarray:
    """The energy Bayesian fraction of missing information of each chain (``az.bfmi``):
    ``energy`` is ``(chains, draws)``."""
    energy = np.atleast_2d(energy)
    return np.square(np.diff(energy, axis=1)).mean(axis=1) / np.var(energy, axis=1, ddof=1)


def _skip_nan(pick, values: np.ndarray) -> float:
    """``pick`` (nanmax or nanmin) of ``values``: NaN only when every value is NaN."""
    return float(pick(values)) if not np.isnan(values).all() else float("nan")


def lower_mode_chains(log_density: np.ndarray, chains_per_group: int
                      ) -> list[tuple[int, int, float, float]]:
    """Chains whose mean log density lies far below the best chain of their group:
    ``(chain, best chain, gap in nats, pooled within-chain sd)`` for each gap above
    :data:`LOWER_MODE_SDS` within-chain sds and :data:`LOWER_MODE_NATS` nats.
    ``log_density`` is ``(chains, draws)`` (``sample_stats["lp"]``).

    >>> lp = np.random.default_rng(0).normal(0.0, 2.0, (3, 500)); lp[1] -= 30.0
    >>> [(chain, round(gap)) for chain, _, gap, _ in lower_mode_chains(lp, 3)]
    [(1, 30)]
    """
    out = []
    log_density = np.asarray(log_density, dtype=float)
    for start in range(0, log_density.shape[0], chains_per_group):
        group = log_density[start:start + chains_per_group]
        if group.shape[0] < 2 or not np.isfinite(group).all():
            continue
        means = group.mean(axis=1)
        sd = float(np.sqrt(group.var(axis=1, ddof=1).mean()))
        best = int(np.argmax(means))
        for k, mean in enumerate(means):
            gap = float(means[best] - mean)
            if gap > max(LOWER_MODE_SDS * sd, LOWER_MODE_NATS):
                out.append((start + k, start + best, gap, sd))
    return out


#: What a struggling fit in natural coordinates is told when its model could sample in
#: level coordinates (on Marin's isoFLOP ladders: 974 leapfrog steps per draw against
#: about 60, ``docs/modeling.md``).
LEVEL_ADVICE = ("The law's terms and exponents may lie on a curved ridge that its level "
                "coordinates straighten: try coordinates='level' (the same posterior; "
                "docs/modeling.md, Level coordinates).")


#: :func:`scalinglaws.engine.nuts.level_separation` at or above which a parameter's
#: groups are called well measured and clearly different, so that the warnings advise
#: centred offsets for it (and ``parameterization="auto"`` samples it centred), and
#: below which non-centred ones. Measured (4 chains x (500 + 1,000), seed 0): the demo's
#: E, A and B (70, 25, 33) sample with no divergence centred against 62 non-centred;
#: Gadre's E, A and B on all 104 runs (4.7, 1.6, 0.9) diverge 844 times centred against
#: 209 non-centred; on Gadre's 15-run default fit (E 10.4, a 8.3, b 8.8) E alone centred
#: diverged as often as all non-centred (80 and 129 against 65 and 133, seeds 0 and 1)
#: with half the bulk ESS; on four runs per dataset of the demo (E 1.3, A 0.4, B 31), B
#: alone centred diverged 169 times against 234 all non-centred and 466 all centred. The
#: studies' own choices, each made by measuring the sampler, fall on the same sides
#: (``python benchmarks/auto_parameterization.py``): any line between 11.2 (Hitchhiker's
#: noise by family, kept non-centred) and 24.7 (the demo's A) gives them all.
WELL_SEPARATED = 20.0

#: Below this :func:`~scalinglaws.engine.nuts.level_separation` the data barely tell a
#: pooled parameter's groups apart: equal groups give about 1, so the parameter could be
#: shared at little cost in fit, which the divergence warning names as its "share more
#: parameters" (where a fit diverges anyway, whatever the parameterisation). Measured
#: (``python benchmarks/weak_groups.py``, seeds 0 and 1): on Gadre's 104 runs (E 4.7, A
#: 1.6, B 0.9) sharing A and B took the divergences from 209 and 62 to 14 and 25; on the
#: demo generator's seed-3 sweep with E and A varying (A 2.2, E centred by "auto") from
#: 48 and 110 to 1 and 1; on four demo runs per dataset (E 1.3, A 0.4, B 31) sharing E
#: and A left them at 180 and 126 against 234 and 113: there the law itself is barely
#: identified.
BARELY_SEPARATED = 3.0

#: The sample statistics' attribute holding a fit's level separation (JSON).
SEPARATION_ATTR = "level_separation"


def keep_separation(idata: az.InferenceData, separation: Mapping[str, float]) -> None:
    """Record a fit's level separation in its sample statistics' attributes
    (:data:`SEPARATION_ATTR`), where :func:`diagnose` reads it back, so a saved fit
    gives the same advice."""
    idata.sample_stats.attrs[SEPARATION_ATTR] = json.dumps(separation)


def divergence_advice(pooled: Mapping[str, str] | None,
                      separation: Mapping[str, float] | None = None) -> str:
    """What a divergence warning suggests, for a fit whose partially pooled parameters'
    offsets are sampled as ``pooled`` says (``{name: "centred" or "noncentred"}``,
    :func:`scalinglaws.model.pooled_offsets`; None where that is not known): the general
    remedies, then :func:`hierarchy_advice` (with ``separation`` as it takes it).

    >>> divergence_advice({})
    'Raise target_accept (e.g. 0.95), tighten priors, or share more parameters.'
    >>> divergence_advice({"E": "centred"})[-79:]
    "entred'); parameterization='auto' makes this choice from the data in every fit."
    >>> advice = divergence_advice({"E": "centred", "A": "noncentred"}, {"E": 32, "A": 2.2})
    >>> advice[advice.index("share"):].split(":")[0]
    "share more parameters (the data barely tell the groups of ['A'] apart"

    Of a parameter that varies by several factors, only the factors whose groups the
    data barely tell apart are named:

    >>> advice = divergence_advice({"E": "noncentred"},
    ...                            {"E": 0.15, "E[dataset]": 70.0, "E[seed]": 0.15})
    >>> advice[advice.index("share"):].split(":")[0]
    "share more parameters (the data barely tell the groups of ['E by seed'] apart"
    >>> advice[advice.index("inform"):].split(")")[0]
    "inform; vary E by ['dataset'] alone"
    >>> "['E by seed']" in divergence_advice({"E[dataset]": "centred", "E[seed]": "noncentred"},
    ...                                      {"E": 0.15, "E[dataset]": 70.0, "E[seed]": 0.15})
    True
    """
    separation = separation or {}
    weak, keep = {}, []  # what to share: {label: separation}; what a parameter keeps
    for name in dict.fromkeys(factor_key(key)[0] for key in pooled or {}):
        if name == "run" or separation.get(name, np.inf) >= BARELY_SEPARATED:
            continue
        factors = _factors_of(name, separation)
        kept = [f for f, ratio in factors.items() if ratio >= BARELY_SEPARATED]
        if not kept:
            weak[name] = separation[name]
            continue
        weak.update({f"{name} by {f}": ratio for f, ratio in factors.items()
                     if ratio < BARELY_SEPARATED})
        keep.append(f"vary {name} by {kept} alone")
    share = "share more parameters"
    if weak:
        share += (f" (the data barely tell the groups of {list(weak)} apart: their "
                  f"estimates spread {_spread(weak, list(weak))} times their own standard "
                  f"errors at the mode, so sharing "
                  f"{'it' if len(weak) == 1 else 'them'} costs little fit, assumes "
                  f"{'its' if len(weak) == 1 else 'their'} groups equal and removes "
                  f"{'a group scale' if len(weak) == 1 else 'group scales'} the data "
                  f"hardly inform{''.join(f'; {k}' for k in keep)})")
    advice = [f"Raise target_accept (e.g. 0.95), tighten priors, or {share}"]
    if pooled is None:
        advice.append("in a hierarchy whose groups are each well measured and clearly "
                      "different, try parameterization='centred'")
    else:
        advice += _hierarchy_clauses(pooled, separation)
    return "; ".join(advice) + "."


def hierarchy_advice(pooled: Mapping[str, str],
                     separation: Mapping[str, float] | None = None) -> str:
    """How the parameterisation of a fit's partially pooled parameters (``pooled``, as
    :func:`divergence_advice` takes it) may be what makes the sampler struggle, in
    words; empty without any. Non-centred offsets of well-measured, clearly different
    groups sample better centred; centred offsets of few or weakly measured groups make
    a funnel. With ``separation`` (:func:`scalinglaws.engine.nuts.level_separation`,
    per parameter), the advice names the parameters to switch and the dict that does it;
    without, it says which kind of groups each form suits.

    >>> hierarchy_advice({"E": "noncentred", "A": "centred"})[:81]
    "If the groups of ['E'] are each well measured and clearly different, sample them "
    >>> advice = hierarchy_advice({"E": "noncentred", "A": "noncentred"},
    ...                           {"E": 70.2, "A": 1.6})
    >>> advice[:56]
    "The groups of ['E'] are well measured and clearly differ"
    >>> advice[advice.index("(parameterization"):].split("; ")[0]
    "(parameterization={'E': 'centred', 'A': 'noncentred'})"
    >>> hierarchy_advice({})
    ''
    """
    clauses = _hierarchy_clauses(pooled, separation)
    if not clauses:
        return ""
    text = "; ".join(clauses)
    return text[0].upper() + text[1:] + "."


def _hierarchy_clauses(pooled: Mapping[str, str],
                       separation: Mapping[str, float] | None = None) -> list[str]:
    """The clauses of :func:`hierarchy_advice`, uncapitalised."""
    if separation is None:
        return _general_clauses(pooled)
    pooled = _by_factor(pooled, separation)
    measured = {n: separation[n] for n in pooled if n in separation}
    centre = [n for n, how in pooled.items()
              if how != "centred" and measured.get(n, 0.0) >= WELL_SEPARATED]
    uncentre = [n for n, how in pooled.items()
                if how == "centred" and measured.get(n, np.inf) < WELL_SEPARATED]
    clauses = _general_clauses({n: how for n, how in pooled.items() if n not in measured})
    if not centre and not uncentre:
        return clauses
    setting = repr(advised_parameterization(pooled, measured))
    if centre:
        clauses.append(f"the groups of {centre} are well measured and clearly different "
                       f"(their estimates spread {_spread(measured, centre)} times their "
                       f"own standard errors at the mode): sample them centred "
                       f"(parameterization={setting})")
    if uncentre:
        clauses.append(f"the groups of {uncentre} barely differ (their estimates spread "
                       f"{_spread(measured, uncentre)} times their own standard errors at "
                       f"the mode), so their centred offsets make a funnel: sample them "
                       f"non-centred (parameterization={setting})")
    clauses.append("parameterization='auto' makes this choice from the data in every fit")
    return clauses


def _spread(separation: Mapping[str, float], names: list[str]) -> str:
    """The separations of ``names``, as the advice quotes them (two digits each)."""
    return ", ".join(f"{separation[n]:.2g}" for n in names)


def advised_parameterization(pooled: Mapping[str, str],
                             separation: Mapping[str, float]) -> str | dict[str, str]:
    """The ``parameterization`` the groups' separation calls for: each pooled parameter
    centred at :data:`WELL_SEPARATED` or more, non-centred below, and as ``pooled``
    samples it where ``separation`` has no value; one string where all agree
    (``"noncentred"`` with nothing pooled), else a dict.

    >>> advised_parameterization({"E": "noncentred", "A": "noncentred"},
    ...                          {"E": 70.2, "A": 1.6})
    {'E': 'centred', 'A': 'noncentred'}
    >>> advised_parameterization({"E": "centred"}, {"E": 4.7})
    'noncentred'
    >>> advised_parameterization({"E": "centred", "A": "centred"}, {"E": 4.7})
    {'E': 'noncentred', 'A': 'centred'}

    A parameter whose factors separate its groups on both sides of the line is chosen
    per factor:

    >>> advised_parameterization({"E": "noncentred"},
    ...                          {"E": 0.2, "E[dataset]": 33.0, "E[seed]": 0.2})
    {'E[dataset]': 'centred', 'E[seed]': 'noncentred'}
    """
    choice = {n: how if n not in separation else _side(separation[n])
              for n, how in _by_factor(pooled, separation).items()}
    kinds = set(choice.values()) or {"noncentred"}
    return kinds.pop() if len(kinds) == 1 else choice


def _side(ratio: float) -> str:
    """The parameterisation a separation calls for (:data:`WELL_SEPARATED`)."""
    return "centred" if ratio >= WELL_SEPARATED else "noncentred"


def _by_factor(pooled: Mapping[str, str], separation: Mapping[str, float]) -> dict:
    """``pooled`` with each parameter whose factors' separations fall on both sides of
    :data:`WELL_SEPARATED` named per factor (``"E[seed]"``), sampled as it is."""
    out = {}
    for n, how in pooled.items():
        factors = _factors_of(n, separation)
        if len({_side(ratio) for ratio in factors.values()}) > 1:
            out.update({per_factor(n, f): how for f in factors})
        else:
            out[n] = how
    return out


def _factors_of(name: str, separation: Mapping[str, float]) -> dict[str, float]:
    """``{factor: separation}`` of ``name``'s own factors (``"E[seed]"`` entries; empty
    for a parameter measured as a whole)."""
    return {factor: ratio for key, ratio in separation.items()
            for own, factor in [factor_key(key)] if own == name and factor is not None}


def _general_clauses(pooled: Mapping[str, str]) -> list[str]:
    """Which kind of groups each parameterisation suits, for ``pooled``'s parameters."""
    centred = [name for name, how in pooled.items() if how == "centred"]
    noncentred = [name for name, how in pooled.items() if how != "centred"]
    clauses = []
    if noncentred:
        clauses.append(f"if the groups of {noncentred} are each well measured and clearly "
                       f"different, sample them centred (parameterization='centred')")
    if centred:
        clauses.append(f"if the groups of {centred} are few or weakly measured, their "
                       f"centred offsets make a funnel: sample them non-centred "
                       f"(parameterization='noncentred')")
    if len(pooled) > 1:
        clauses.append("a dict chooses per parameter, where only some of them are (e.g. "
                       "parameterization={name: 'centred', ...})")
    if pooled:
        clauses.append("parameterization='auto' makes this choice from the data in every "
                       "fit")
    return clauses


def problems(*, diverging: np.ndarray, n_steps: np.ndarray | None, energy: np.ndarray,
             max_tree_depth: int, quantities: dict[str, dict[str, np.ndarray]],
             factors: list[str], chains_per_group: int,
             log_density: np.ndarray | None = None,
             pooled: Mapping[str, str] | None = None,
             level_coordinates: bool = False,
             separation: Mapping[str, float] | None = None) -> list[str]:
    """The warnings of :func:`diagnose` from arrays: the sampler's ``(chains, draws)``
    statistics (``log_density``: ``lp``, when recorded) and the convergence of each
    reported quantity (:func:`dataset_convergence`'s layout), named after the ``factors``
    of the fit; ``pooled`` and ``separation`` as :func:`hierarchy_advice` takes them.
    ``level_coordinates``:
    the fit sampled in natural coordinates a model that could use level ones
    (``ModelSpec.could_use_level_coordinates``), which divergences and long trajectories
    then suggest (:data:`LEVEL_ADVICE`)."""
    out = []
    # what the parameterisation may have to do with a struggling sampler, if anything
    hierarchy = f" {hierarchy_advice(pooled, separation)}" if pooled else ""
    level = f" {LEVEL_ADVICE}" if level_coordinates else ""
    for chain, best, gap, sd in (lower_mode_chains(log_density, chains_per_group)
                                 if log_density is not None else ()):
        out.append(f"chain {chain} sits {gap:.1f} nats of log density below chain {best} "
                   f"(within-chain sd {sd:.1f}): it is stuck in a lower mode or never "
                   f"reached the posterior's bulk, and its draws are mixed into every "
                   f"summary. Refit with more warmup or another seed; if it recurs, the "
                   f"posterior has a minor mode the chains can fall into.")
    divergent = int(np.sum(diverging))
    if divergent:
        out.append(f"{divergent} of {np.size(diverging)} draws diverged: the posterior has "
                   f"regions the sampler cannot explore, so intervals may be wrong. "
                   f"{divergence_advice(pooled, separation)}{level}")
    if n_steps is not None:
        saturated = float((np.asarray(n_steps) >= 2**max_tree_depth - 1).mean())
        if saturated > 0.01:
            out.append(f"{saturated:.0%} of draws hit the maximum tree depth "
                       f"({max_tree_depth}): the posterior is badly scaled or nearly "
                       f"unidentified; sampling is slow and may be incomplete."
                       + hierarchy + level)
    if chains_per_group > 1:
        worst = _by_user_name({k: _skip_nan(np.nanmax, q["r_hat"])
                               for k, q in quantities.items() if q["r_hat"].size}, factors, max)
        # three decimals, or four where three would read as the threshold itself
        bad = {k: round(v, 3) if round(v, 3) > RHAT_MAX else round(v, 4)
               for k, v in worst.items() if not v <= RHAT_MAX}
        if bad:
            out.append(f"R-hat above {RHAT_MAX} for {bad}: chains disagree, so the posterior "
                       f"is not reliable. Run more warmup/draws or check for multiple modes.")
    for method in ("bulk", "tail"):
        least = _by_user_name({k: _skip_nan(np.nanmin, q[f"ess_{method}"])
                               for k, q in quantities.items() if q[f"ess_{method}"].size},
                              factors, min)
        low = {k: int(v) for k, v in least.items() if v < ESS_MIN}
        if low:
            out.append(f"{method} ESS below {ESS_MIN} for {low}: too few effective draws for "
                       f"stable {'means' if method == 'bulk' else 'interval ends'}; run more "
                       f"draws.")
    energy_fraction = bfmi(energy)
    if (energy_fraction < BFMI_MIN).any():
        out.append(f"low energy BFMI {np.round(energy_fraction, 2).tolist()} (< {BFMI_MIN}): "
                   f"the sampler explores the energy poorly, often a funnel in a hierarchy; "
                   f"consider tighter priors on the group standard deviations."
                   + hierarchy)
    return out
