"""Reading a posterior: chains grouped, draws flattened, and diagnostics in plain words.

After sampling, divergences, R-hat, bulk/tail ESS, BFMI and tree-depth saturation are
checked and every problem becomes a plain-words warning (:func:`diagnose`).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr

from ..model import auxiliary

#: Thresholds of the post-sampling checks.
RHAT_MAX = 1.01
ESS_MIN = 400
BFMI_MIN = 0.3


def chain_groups(posterior: xr.Dataset) -> list[xr.Dataset]:
    """The posterior's chains in groups that target one distribution each.

    A cut loss-to-loss fit runs its links' chains given several compute-law draws, one
    group of ``posterior.attrs["chains_per_group"]`` chains per draw; R-hat compares chains
    within a group and ESS adds over groups. Without the attribute: one group.
    """
    size = int(posterior.attrs.get("chains_per_group", posterior.sizes["chain"]))
    return [posterior.isel(chain=slice(i, i + size))
            for i in range(0, posterior.sizes["chain"], size)]


def posterior_draws(idata: az.InferenceData) -> dict[str, np.ndarray]:
    """Every posterior site with its chains flattened: ``{name: (draws, ...)}``."""
    post = idata.posterior
    n = post.sizes["chain"] * post.sizes["draw"]  # explicit: a site may have a size-0 axis
    return {name: post[name].values.reshape(n, *post[name].shape[2:])
            for name in post.data_vars}


def diagnose(idata: az.InferenceData, max_tree_depth: int) -> list[str]:
    """Plain-words warnings about a posterior; empty when every check passes.

    R-hat compares chains within each group of :func:`chain_groups`
    (one group unless a cut fit says otherwise) and ESS adds over the groups.
    """
    out = []
    stats = idata.sample_stats
    n_draws = stats.sizes["chain"] * stats.sizes["draw"]
    divergent = int(stats["diverging"].sum())
    if divergent:
        out.append(f"{divergent} of {n_draws} draws diverged: the posterior has regions the "
                   f"sampler cannot explore, so intervals may be wrong. Raise target_accept "
                   f"(e.g. 0.95), tighten priors, or share more parameters; in a hierarchy "
                   f"whose groups are each well measured and clearly different, try "
                   f"parameterization='centred'.")
    if "n_steps" in stats:
        saturated = float((stats["n_steps"] >= 2**max_tree_depth - 1).mean())
        if saturated > 0.01:
            out.append(f"{saturated:.0%} of draws hit the maximum tree depth "
                       f"({max_tree_depth}): the posterior is badly scaled or nearly "
                       f"unidentified; sampling is slow and may be incomplete.")
    names = [v for v in idata.posterior.data_vars if not auxiliary(v)]
    groups = chain_groups(idata.posterior[names])
    if groups[0].sizes["chain"] > 1:
        rhats = [az.rhat(g) for g in groups]
        worst = {k: max(float(r[k].max()) for r in rhats) for k in names}
        bad = {k: round(v, 3) for k, v in worst.items() if not v <= RHAT_MAX}
        if bad:
            out.append(f"R-hat above {RHAT_MAX} for {bad}: chains disagree, so the posterior "
                       f"is not reliable. Run more warmup/draws or check for multiple modes.")
    for method in ("bulk", "tail"):
        ess = sum(az.ess(g, method=method) for g in groups)
        low = {k: int(v.min()) for k, v in ess.data_vars.items() if float(v.min()) < ESS_MIN}
        if low:
            out.append(f"{method} ESS below {ESS_MIN} for {low}: too few effective draws for "
                       f"stable {'means' if method == 'bulk' else 'interval ends'}; run more "
                       f"draws.")
    bfmi = np.atleast_1d(az.bfmi(idata))
    if (bfmi < BFMI_MIN).any():
        out.append(f"low energy BFMI {np.round(bfmi, 2).tolist()} (< {BFMI_MIN}): the sampler "
                   f"explores the energy poorly, often a funnel in a hierarchy; consider "
                   f"tighter priors on the group standard deviations.")
    return out
