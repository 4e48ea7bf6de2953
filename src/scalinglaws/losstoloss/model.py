"""The joint NumPyro model of a loss-to-loss fit (:func:`build`): the compute law and
the links sampled by the core model, the latent input losses integrated out by adaptive
Gauss-Hermite quadrature (:func:`marginal`) or sampled, the shifted power link in
anchored coordinates where they apply, and the draw of a latent input loss given an
observed one (:func:`condition`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers

from ..data import Design
from ..laws import Law
from ..model import (
    GivenValue,
    Structure,
    data_model,
    law_params,
    level_sites,
    noise_scale,
    observation,
    view,
)
from ..scaling_model import ScalingModel
from .composed import LINK_PREFIX, X_PREFIX
from .layout import Layout, Shapes
from .spec import LossToLossSpec

#: Gauss-Hermite nodes per latent input loss.
QUADRATURE_NODES = 16
#: Newton steps that find the centre of each latent's integrand.
NEWTON_STEPS = 12
#: Scale of the latent prior (log reducible loss) for input models marked by ``law_rows``
#: as not informing the compute law: wide, so only their observation places them.
LOOSE_SD = 1.0


def _core_sampler(spec: ScalingModel, structure: Structure, prefix: str) -> Callable[[dict], dict]:
    """A function of a core design's padded arrays (:func:`scalinglaws.model.pad`) that
    samples ``spec``'s parameter sites under ``prefix.`` and returns them.

    It runs the core model (:func:`scalinglaws.model.data_model`) with its own likelihood
    site ``y`` hidden, so priors, hierarchy, reference scales and deterministic per-level
    sites are exactly the core's; the returned values are keyed by the core's site names.
    """
    core = data_model(spec, structure)
    cut = len(prefix) + 1

    def sample(arrays: dict) -> dict:
        hidden = handlers.block(core, hide=["y"])
        scoped = handlers.scope(hidden, prefix=prefix, divider=".")
        trace = handlers.trace(scoped).get_trace(arrays)
        return {name[cut:]: site["value"] for name, site in trace.items()
                if site["type"] in ("sample", "deterministic")}

    return sample


def reducible_log(law: Law, variables: Mapping, params: Mapping):
    """log(law - E): the law with E set to 0 (exact for laws of the form E + f)."""
    return law.log(variables, {**params, "E": jnp.zeros_like(params["E"])})


def link_location(spec: LossToLossSpec, latent_x, e_x, params: Mapping):
    """The link on the likelihood scale (log y or y) at the latent input loss."""
    full = dict(params)
    if "E_x" in spec.link.param_names:
        full["E_x"] = e_x
    variables = {"L": latent_x}
    if spec.link_spec.scale == "log":
        return spec.link.log(variables, full)
    return spec.link.fn(variables, full)


# --- the shifted power link in anchored coordinates -----------------------------------------

#: The link parameters that anchored coordinates replace, and the coordinates' site names.
ANCHORED = ("K", "kappa", "E_y")
ANCHOR_SITES = ("log_level", "log_slope", "logit_floor")


def anchored_sites(spec: LossToLossSpec, design: Design) -> dict[str, str]:
    """``{parameter: factor or ""}`` when the link is sampled in anchored coordinates.

    They apply to the ``shifted_power`` link of a cut fit (``feedback="cut"``: stage 2
    holds the compute law, so the anchor is fixed) when ``K``, ``kappa`` and ``E_y`` vary
    alike: by nothing, or by one factor with ``pooling="none"``. Otherwise ``{}``. In a
    joint fit the anchor moves with the compute law; there they broke one
    Brandfonbrener train-to-train fit (FineWeb-Edu: R-hat 1.85, 39 divergences, against
    1.016 and none in the natural coordinates), so joint fits keep the natural ones.
    """
    if spec.link.name != "shifted_power" or spec.feedback != "cut":
        return {}
    factors = {p: design.vary.get(p, ()) for p in ANCHORED}
    kinds = set(factors.values())
    if len(kinds) != 1:
        return {}
    (shared,) = kinds
    if shared and (len(shared) > 1 or spec.pooling != "none"):
        return {}
    return {p: shared[0] if shared else "" for p in ANCHORED}


def _site(prefix: str, name: str, factor: str) -> str:
    return f"{prefix}.{name}_{factor}" if factor else f"{prefix}.{name}"


def anchored_to_natural(log_level, log_slope, logit_floor, log_anchor) -> dict:
    """``log K``, ``log kappa``, ``log E_y`` from the anchored coordinates.

    At the anchor (reducible input loss ``r0 = exp(log_anchor)``) the link's value is
    ``v = exp(log_level)``, its elasticity ``d log L_y / d log r`` is ``g = exp(log_slope)``
    and ``E_y / v`` is ``s = sigmoid(logit_floor)``; so ``E_y = v s``,
    ``kappa = g / (1 - s)`` and ``K = v (1 - s) / r0^kappa``. The map from
    ``(log_level, log_slope, logit_floor)`` to ``(log K, log kappa, log E_y)`` has
    Jacobian determinant 1.

    >>> out = anchored_to_natural(jnp.log(3.0), jnp.log(0.5), 0.0, jnp.log(2.0))
    >>> [round(float(jnp.exp(out[k])), 6) for k in ("K", "kappa", "E_y")]
    [0.75, 1.0, 1.5]
    """
    log_kappa = log_slope + jax.nn.softplus(logit_floor)
    return {"K": log_level - jax.nn.softplus(logit_floor) - jnp.exp(log_kappa) * log_anchor,
            "kappa": log_kappa,
            "E_y": log_level + jax.nn.log_sigmoid(logit_floor)}


def _sample_anchored(sites: Mapping[str, str], design: Design, log_anchor) -> dict:
    """Sample the anchored coordinates; return a ``handlers.reparam`` config that gives
    the link's ``K``, ``kappa`` and ``E_y`` sites their values.

    The coordinates are flat (``ImproperUniform``); each natural site then adds its prior
    density of ``log K``, ``log kappa``, ``log E_y``. As the change of variables has unit
    Jacobian, the joint density is exactly the natural parameterisation's: same prior,
    same posterior. What changes is the geometry: the data fix the link's level and slope
    at the anchor whatever ``E_y`` is, so the weakly identified ``E_y`` moves along one
    axis instead of along the curved ``kappa`` / ``E_y`` ridge of ``(K, kappa, E_y)``.
    """
    factor = sites["K"]
    shape = (len(design.factors[factor].levels),) if factor else ()
    flat = dist.ImproperUniform(dist.constraints.real, (), event_shape=shape)
    coords = [numpyro.sample(_site(LINK_PREFIX, n, factor), flat) for n in ANCHOR_SITES]
    logs = anchored_to_natural(*coords, log_anchor)
    return {_site(LINK_PREFIX, p, factor): GivenValue(logs[p]) for p in ANCHORED}


def log_integrand(spec: LossToLossSpec, parts: Mapping, u):
    """log of prior x likelihood of every input model's data, as a function of its u
    (padded input models and output rows, ``parts["observed"]`` false and
    ``parts["row_mask"]`` false, add nothing)."""
    x_spec, link_spec = spec.x_spec, spec.link_spec
    e_x, m, scale, sx, vx = parts["e_x"], parts["m"], parts["scale"], parts["sx"], parts["vx"]
    out = dist.Normal(m, scale).log_prob(u)
    if parts["x_obs"] is not None:
        log_x = jnp.logaddexp(jnp.log(e_x), u)
        term = observation(x_spec, log_x, sx, vx).log_prob(parts["x_obs"])
        out = out + jnp.where(parts["observed"], term, 0.0)
    if parts["y_obs"] is not None:
        rows = parts["xrun_of_row"]
        e_row = e_x[rows]
        loc = link_location(spec, e_row + jnp.exp(u[..., rows]), e_row, parts["pl"])
        term = observation(link_spec, loc, parts["sy"], parts["vl"]).log_prob(parts["y_obs"])
        term = jnp.where(parts["row_mask"], term, 0.0)
        summed = jax.ops.segment_sum(jnp.moveaxis(term, -1, 0), rows,
                                     num_segments=e_x.shape[-1])
        out = out + jnp.moveaxis(summed, 0, -1)
    return out


def marginal(spec: LossToLossSpec, parts: Mapping):
    """log of the integral over each input model's latent u (adaptive Gauss-Hermite).

    The integrand is a function of each input model's own ``u`` only, so its first and
    second derivatives come from forward-mode ``jvp`` with a vector of ones. Newton steps
    from the better of the observation-implied value and the law's prediction find the
    peak; the quadrature is centred there and scaled by the curvature. Centre and
    scale carry no gradient: the quadrature is a change of variables, valid for any.
    """
    def g(u):
        return log_integrand(spec, parts, u)

    frozen = jax.tree_util.tree_map(jax.lax.stop_gradient, dict(parts))
    ones = jnp.ones_like(frozen["u0"])

    def slope(u):
        return jax.jvp(lambda v: log_integrand(spec, frozen, v), (u,), (ones,))[1]

    def newton(_, u):
        grad, hess = jax.jvp(slope, (u,), (ones,))
        step = jnp.where(hess < 0, -grad / jnp.where(hess < 0, hess, -1.0),
                         0.5 * jnp.sign(grad))
        return u + jnp.clip(step, -1.0, 1.0)

    candidates = jnp.stack([frozen["u0"], frozen["m"]])
    best = jnp.argmax(log_integrand(spec, frozen, candidates), axis=0)
    start = jnp.take_along_axis(candidates, best[None, :], axis=0)[0]
    centre = jax.lax.fori_loop(0, NEWTON_STEPS, newton, start)
    hess = jax.jvp(slope, (centre,), (ones,))[1]
    spread = jnp.where(hess < 0, 1.0 / jnp.sqrt(jnp.abs(hess)), frozen["scale"])
    nodes, weights = np.polynomial.hermite.hermgauss(QUADRATURE_NODES)
    points = centre[None, :] + np.sqrt(2.0) * spread[None, :] * nodes[:, None]
    values = g(points) + (np.log(weights) + nodes**2)[:, None]
    return jax.scipy.special.logsumexp(values, axis=0) + jnp.log(np.sqrt(2.0) * spread)


def build(spec: LossToLossSpec, shapes: Shapes, latent: str, link: bool = True,
          anchored: bool = True):
    """The joint NumPyro model of ``spec`` at ``shapes``, a function of the fit's padded
    data (its keyword argument ``arrays``: :meth:`Layout.arrays
    <scalinglaws.losstoloss.layout.Layout.arrays>`), so that one compiled program serves
    every data set of those shapes. ``latent`` says how the latent input losses are
    handled.

    ``link=False`` leaves out the links (their parameters and the output observations):
    the compute law of the input losses alone, stage 1 of a cut fit.

    ``"marginal"``: each input model's latent ``u = log(l - E_x)`` is integrated out of
    prior x likelihood (:func:`marginal`), so NUTS sees only the laws' parameters, the
    noise scales and ``tau``; the per-input-model marginal log likelihood is recorded
    for LOO. ``"noncentred"``: ``u = m + tau z`` is sampled (its mode search holds the
    noise scales, whose joint density is unbounded as they shrink). Padded input models
    and output rows add nothing to the density (:func:`unpad` cuts them from the draws).

    ``anchored``: sample the ``shifted_power`` link in anchored coordinates where they
    apply (:func:`_sample_anchored`; the same density), anchored at the mean reducible
    log loss of the input models with outputs. ``False`` is for tests.
    """
    x_spec, link_spec = spec.x_spec, spec.link_spec
    sample_x = _core_sampler(x_spec, shapes.x, X_PREFIX)
    sample_link = _core_sampler(link_spec, shapes.link, LINK_PREFIX) if link else None
    n_xruns = shapes.x.rows
    tau_prior = spec.tau_prior.to_numpyro()

    def model(arrays):
        x_design = view(shapes.x, arrays["x"])
        link_design = view(shapes.link, arrays["link"])
        anchor_sites = anchored_sites(spec, link_design) if link and anchored else {}
        real, observed, linked = arrays["x"]["mask"], arrays["observed"], arrays["linked"]
        vx = sample_x(arrays["x"])
        px = law_params(x_spec, x_design, vx)
        e_x = jnp.broadcast_to(px["E"], (n_xruns,))
        m = jnp.broadcast_to(reducible_log(x_spec.law, x_design.variables, px), (n_xruns,))
        if anchor_sites:
            log_anchor = jnp.where(linked, m, 0.0).sum() / linked.sum()
            config = _sample_anchored(anchor_sites, link_design, log_anchor)
            vl = handlers.reparam(lambda: sample_link(arrays["link"]), config=config)()
        else:
            vl = sample_link(arrays["link"]) if link else None
        tau = numpyro.sample("tau", tau_prior)
        scale = jnp.where(arrays["loose"], LOOSE_SD, tau)
        sx = jnp.broadcast_to(noise_scale(x_spec, x_design, vx), (n_xruns,))
        pl = law_params(link_spec, link_design, vl) if link else None
        sy = noise_scale(link_spec, link_design, vl) if link else None
        x_obs, y_obs = arrays["x_obs"], arrays["y_obs"] if link else None
        rows, row_mask = arrays["xrun_of_row"], arrays["link"]["mask"]
        if latent == "marginal":
            gap = jnp.exp(x_obs) - e_x
            u0 = jnp.where(observed & (gap > 0), jnp.log(jnp.where(gap > 0, gap, 1.0)), m)
            parts = {"e_x": e_x, "m": m, "scale": scale, "sx": sx, "vx": vx, "pl": pl,
                     "sy": sy, "vl": vl, "x_obs": x_obs, "y_obs": y_obs, "u0": u0,
                     "observed": observed, "xrun_of_row": rows, "row_mask": row_mask}
            log_lik = jnp.where(real, marginal(spec, parts), 0.0)
            numpyro.factor("marginal", numpyro.deterministic("log_lik", log_lik).sum())
            return
        z = numpyro.sample("u_z", dist.Normal(0.0, 1.0).expand([n_xruns]).to_event(1))
        u = numpyro.deterministic("u", m + scale * z)
        log_x = jnp.logaddexp(jnp.log(e_x), u)
        with numpyro.plate("xobs", n_xruns):
            numpyro.sample("loss_x", observation(x_spec, log_x, sx, vx).mask(observed),
                           obs=x_obs)
        if not link:
            return
        e_row = e_x[rows]
        loc = link_location(spec, e_row + jnp.exp(u[rows]), e_row, pl)
        with numpyro.plate("row", rows.shape[0]):
            numpyro.sample("loss_y", observation(link_spec, loc, sy, vl).mask(row_mask),
                           obs=y_obs)

    return model


def unpad(idata, layout: Layout):
    """``idata`` (sampled on :meth:`Layout.arrays
    <scalinglaws.losstoloss.layout.Layout.arrays>`) without the padding: the input
    models' and output rows' dimensions cut to the real ones, ``loss_x`` to the observed
    input models."""
    observed = layout.x_observed
    cut = {"xrun": slice(0, len(layout.xruns)), "row": slice(0, len(layout.y_rows)),
           "xobs": observed}
    for group in idata.groups():
        data = getattr(idata, group)
        keep = {dim: index for dim, index in cut.items() if dim in data.dims}
        if keep:
            data = data.isel(keep)
            if "xobs" in keep:
                data = data.assign_coords(xobs=np.arange(observed.size))
            setattr(idata, group, data)
    return idata


def dims_coords(spec: LossToLossSpec, layout: Layout) -> tuple[dict, dict]:
    """The draws' dimensions and coordinates at the layout's padded shapes
    (:func:`unpad` cuts them)."""
    shapes = layout.shapes
    dims: dict[str, list[str]] = {"u": ["xrun"], "u_z": ["xrun"], "log_lik": ["xrun"],
                                  "loss_x": ["xobs"], "loss_y": ["row"]}
    coords: dict[str, Any] = {"xrun": np.arange(shapes.x.rows),
                              "xobs": np.arange(shapes.x.rows),
                              "row": np.arange(shapes.link.rows)}
    for prefix, core, design in ((X_PREFIX, spec.x_spec, layout.x_design),
                                 (LINK_PREFIX, spec.link_spec, layout.link_design)):
        for name, factor in design.factors.items():
            coords[f"{prefix}.{name}"] = list(factor.levels)
        for site in level_sites(core, design):
            dim = [f"{prefix}.{site.factor}"]
            dims[f"{prefix}.{site.name}"] = dim
            dims[f"{prefix}.{site.name.replace('_z', '_offset', 1)}"] = dim
        for p in core.law.params:
            for f in design.vary.get(p.name, ()):
                dims[f"{prefix}.{p.sampled_name}_{f}"] = [f"{prefix}.{f}"]
    factor = anchored_sites(spec, layout.link_design).get("K")
    if factor:
        dims.update({_site(LINK_PREFIX, n, factor): [f"{LINK_PREFIX}.{factor}"]
                     for n in ANCHOR_SITES})
    return dims, coords


# --- conditioning on an observed input loss -------------------------------------------------


def condition(key, m, tau, e_x, sigma, log_obs, loglik: Callable, n_post: int = 128,
              n_prior: int = 48):
    """Draw the latent ``u`` given its prior ``Normal(m, tau)`` and an observed input loss.

    Exact up to a grid: the posterior density of ``u`` is evaluated on a grid around its
    Gaussian approximation (the observation linearised at the observed loss) joined with a
    grid over the prior, and one point is drawn per (draw, row) by its mass.
    """
    reducible = jnp.exp(log_obs) - e_x
    ok = reducible > 0
    u_obs = jnp.log(jnp.where(ok, reducible, 1.0))
    slope = jnp.where(ok, reducible / jnp.exp(log_obs), 1.0)
    prec_obs = jnp.where(ok, (slope / sigma) ** 2, 0.0)
    prec = 1.0 / tau**2 + prec_obs
    centre = (m / tau**2 + prec_obs * u_obs) / prec
    spread = prec ** -0.5
    grid = jnp.concatenate([
        centre[..., None] + spread[..., None] * jnp.linspace(-10.0, 10.0, n_post),
        m[..., None] + tau[..., None] * jnp.linspace(-8.0, 8.0, n_prior)], axis=-1)
    grid = jnp.sort(grid, axis=-1)
    edges = jnp.concatenate([grid[..., :1], 0.5 * (grid[..., 1:] + grid[..., :-1]),
                             grid[..., -1:]], axis=-1)
    width = jnp.maximum(edges[..., 1:] - edges[..., :-1], 1e-300)
    log_x = jnp.logaddexp(jnp.log(e_x)[..., None], grid)
    logw = (dist.Normal(m[..., None], tau[..., None]).log_prob(grid)
            + loglik(log_x, sigma[..., None], log_obs[..., None]) + jnp.log(width))
    index = jax.random.categorical(key, logw, axis=-1)
    return jnp.take_along_axis(grid, index[..., None], axis=-1)[..., 0]
