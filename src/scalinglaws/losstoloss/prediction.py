"""Posterior prediction of a loss-to-loss fit as compiled programs: the latent input loss
from the compute law (conditioned on an observed input loss where a row has one), then
the link and its noise (:func:`predict_padded`), and the link alone on a grid of input
losses (:func:`link_curve`).

Each is one program per spec and padded shapes, as the core's predictions are
(:func:`scalinglaws.prediction.predict_draws`): rows are padded to the core's buckets, so
predictions of 3, 7 or 12 rows share a program, and the draws' arithmetic never runs one
operation at a time (which compiles each operation for each new shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..data import Design
from ..errors import ScalingLawError
from ..model import (
    ProgramCache,
    Structure,
    enable_x64,
    noise_scale,
    observation,
    pad,
    structure_of,
    traced,
    transform_target,
    untransform,
    view,
)
from ..prediction import predict_padded as core_predict
from ..prediction import unpad_draws
from .model import LOOSE_SD, condition, link_location, reducible_log
from .spec import LossToLossSpec

#: Compiled predictions, one per spec, padded structures and options.
_PREDICTORS = ProgramCache(limit=16)
#: Compiled link curves, one per spec.
_CURVES = ProgramCache(limit=16)


def predict_draws(spec: LossToLossSpec, x_design: Design, link_design: Design,
                  post_x: Mapping, post_l: Mapping, tau, key, log_obs: np.ndarray | None,
                  law_prior: bool, row_key=None) -> dict[str, np.ndarray]:
    """Draws of the latent input loss and of the output for the rows of the two designs
    (the same rows: the compute law's inputs and the link's factors), each (draws, rows).

    ``post_x``, ``post_l``: the compute law's and the link's posterior sites (leading draw
    axis), ``tau`` the latent spread per draw; ``log_obs``: the log observed input loss
    per row (NaN where a row has none), or None; ``key`` draws new levels' offsets and
    ``row_key`` (``key`` if None) the rows' own randomness, as in
    :func:`scalinglaws.prediction.predict_draws`. Returns ``"x"``, ``"u"``, ``"y"``,
    ``"observed"``, ``"params_x"``, ``"params_link"``, ``"scale"`` and, with Student-t
    noise, ``"nu"`` (per draw), as :meth:`~scalinglaws.losstoloss.LossToLossFit.predict_draws`
    describes them.
    """
    enable_x64()
    n = x_design.n_rows
    x_structure = structure_of([x_design], pad_levels=False)
    link_structure = structure_of([link_design], pad_levels=False)
    observed = None if log_obs is None else ~np.isnan(log_obs)
    conditioned = observed is not None and bool(observed.any())
    if conditioned:
        check_sigma_levels(x_design)
    program = _PREDICTORS.get(
        spec, (x_structure, link_structure, conditioned, law_prior),
        lambda: jax.jit(traced(partial(predict_padded, spec, x_structure, link_structure,
                                       conditioned, law_prior))))
    rows = x_structure.rows
    obs = np.zeros(rows)  # rows without an observation: any finite value, not used
    mask = np.zeros(rows, bool)
    if conditioned:
        obs[:n] = np.where(observed, log_obs, 0.0)
        mask[:n] = observed
    return unpad_draws(program(dict(post_x), dict(post_l), jnp.asarray(tau), key,
                               pad(x_design, x_structure), pad(link_design, link_structure),
                               obs, mask, key if row_key is None else row_key), n)


def check_sigma_levels(design: Design) -> None:
    """Conditioning on an observed input loss needs its noise scale per row: refuse, before
    compiling, levels of a factor it varies by that the fit never saw."""
    factors = design.vary.get("sigma", ())
    new = [f for f in factors if design.factors[f].new_levels]
    if new:
        raise ScalingLawError(
            f"conditioning on an observed input loss needs its noise scale, which varies "
            f"by {new} with levels never fitted ({design.factors[new[0]].new_levels}); "
            f"predict without the x column or fit with those levels"
        )


def predict_padded(spec: LossToLossSpec, x_structure: Structure, link_structure: Structure,
                   conditioned: bool, law_prior: bool, post_x: Mapping, post_l: Mapping, tau,
                   key, x_data: Mapping, link_data: Mapping, log_obs, observed,
                   row_key) -> dict:
    """:func:`predict_draws` on padded data (:func:`scalinglaws.model.pad`): ``log_obs``
    and ``observed`` per padded row (used only if ``conditioned``)."""
    key_x, key_l = jax.random.split(key, 4)[:2]
    row_x, row_l, key_u, key_c = jax.random.split(row_key, 4)
    px = core_predict(spec.x_spec, x_structure, post_x, key_x, x_data, row_x)["params"]
    x_design = view(x_structure, x_data)
    m = reducible_log(spec.x_spec.law, x_design.variables, px)
    e_x = px["E"]
    tau = tau[:, None]
    u = m + tau * jax.random.normal(key_u, m.shape)
    if conditioned:
        rows = x_structure.rows
        sigma = jax.vmap(lambda draw: jnp.broadcast_to(
            noise_scale(spec.x_spec, x_design, draw), (rows,)))(dict(post_x))
        nu = post_x.get("nu")

        def loglik(log_x, scale, obs):
            values = {} if nu is None else {"nu": nu[:, None, None]}
            return observation(spec.x_spec, log_x, scale, values).log_prob(obs)

        spread = jnp.broadcast_to(tau if law_prior else jnp.full_like(tau, LOOSE_SD), m.shape)
        drawn = condition(key_c, m, spread, e_x, sigma, jnp.broadcast_to(log_obs, m.shape),
                          loglik)
        u = jnp.where(observed, drawn, u)
    latent_x = e_x + jnp.exp(u)
    dl = core_predict(spec.link_spec, link_structure, post_l, key_l, link_data, row_l)
    loc = link_location(spec, latent_x, e_x, dl["params"])
    return {"x": latent_x, **_outputs(spec, loc, dl["observed"], dl["law"]), "u": u,
            "params_x": px, "params_link": dl["params"], "scale": dl["scale"],
            **({"nu": dl["nu"]} if "nu" in dl else {})}


def _outputs(spec: LossToLossSpec, loc, observed, law) -> dict:
    """The output at the link's location ``loc`` (target scale): ``"y"``, noise-free, and
    ``"observed"``, with the noise of a core prediction's ``observed`` draws about its
    ``law``."""
    noise = transform_target(spec.link_spec, observed) - transform_target(spec.link_spec, law)
    return {"y": untransform(spec.link_spec, loc),
            "observed": untransform(spec.link_spec, loc + noise)}


def link_curve(spec: LossToLossSpec, x_values: np.ndarray, e_x: np.ndarray, params: Mapping,
               observed: np.ndarray, law: np.ndarray) -> dict[str, np.ndarray]:
    """The link at noise-free input losses ``x_values`` per draw, from the link's
    parameters and one predicted output's ``observed`` and ``law`` draws (its noise):
    ``"y"`` and ``"observed"`` (draws, points), NaN where a point is at or below the
    draw's ``E_x`` (draws, 1)."""
    enable_x64()
    program = _CURVES.get(spec, "link curve", lambda: jax.jit(partial(_link_curve, spec)))
    return {k: np.asarray(v) for k, v in program(x_values, e_x, dict(params), observed,
                                                 law).items()}


def _link_curve(spec, x_values, e_x, params, observed, law) -> dict:
    x_grid = x_values[None, :]
    loc = link_location(spec, x_grid, e_x, params)
    if "E_x" in spec.link.param_names:
        loc = jnp.where(x_grid > e_x, loc, jnp.nan)
    return _outputs(spec, loc, observed, law)
