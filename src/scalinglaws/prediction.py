"""Posterior prediction for new rows: the law, new observations and the law's
parameters per draw (:func:`predict_draws`), with levels and runs never fitted drawn
fresh from the population (:func:`with_new_levels`). It assembles parameters with the
model's own functions (:mod:`scalinglaws.model`), so fitting and prediction cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .data import Design
from .model import (
    MIN_ROWS,
    RUN_SITE,
    ProgramCache,
    Structure,
    bucket,
    enable_x64,
    law_params,
    level_sites,
    location,
    observation,
    pad,
    row_noise,
    run_offset,
    structure_of,
    traced,
    untransform,
    view,
    with_measurement_error,
)

#: Compiled predictions, one per spec and design's factors and columns.
_PREDICTORS = ProgramCache(limit=32)

#: The most draws x rows values a prediction summary holds at once per array (2^22
#: float64 values, 32 MB): more rows are predicted in blocks (:func:`row_blocks`).
BLOCK_VALUES = 2**22

#: What a prediction table summarises: (draws entry, column prefix, statistics), as
#: :func:`interval_columns` reads them.
PREDICT_PARTS = (("law", "", ("mean", "median", "lower", "upper")),
                 ("observed", "pred_", ("lower", "upper")),
                 ("measured", "meas_", ("lower", "upper")))


def with_new_levels(spec, design: Design, posterior: Mapping, keys) -> dict:
    """Posterior draws (leading draw axis) with every per-level site extended to the
    levels of ``design`` the fit never saw, each a fresh draw from the population (its
    standard-normal offset, or its prior with ``pooling="none"``) per posterior draw;
    ``keys``: one PRNG key per site of :func:`level_sites`, in its order."""
    values = {k: jnp.asarray(v) for k, v in posterior.items()}
    n_draws = next(iter(values.values())).shape[0]
    sites = level_sites(spec, design)
    for key, site in zip(keys, sites, strict=True):
        fitted = values[site.name] if site.name in values else jnp.zeros((n_draws, 0))
        n_new = len(design.factors[site.factor].levels) - fitted.shape[1]
        if n_new > 0:
            base = dist.Normal(0.0, 1.0) if site.prior is None else site.prior.to_numpyro()
            values[site.name] = jnp.concatenate([fitted, base.sample(key, (n_draws, n_new))],
                                                axis=1)
    return values


def predict_draws(spec, design: Design, posterior: Mapping, rng_key, row_key=None) -> dict:
    """Posterior draws of the law and of new observations for the rows of ``design``.

    Parameters
    ----------
    posterior : dict of str to array
        Sampled sites with a leading draw axis (chains flattened).
    rng_key : jax.random.PRNGKey
        For new levels (drawn from the population) and, without ``row_key``, the rows'
        own randomness.
    row_key : jax.random.PRNGKey, optional
        For the rows' own randomness (new runs' offsets, observation noise): a block of
        rows (:func:`block_key`) draws its own, while ``rng_key``, the same for every
        block, keeps each new level's offsets the same in all of them.

    Returns
    -------
    dict
        ``"law"``: the noise-free law, natural scale, shape (draws, rows);
        ``"observed"``: posterior-predictive observations, same shape; ``"params"``: the
        natural law parameters per draw and row; ``"measured"`` (rows with a known
        measurement error only): new observations with that error added; ``"scale"``: the
        model's noise scale and
        ``"shift"``: the run offset (0 without runs), on the likelihood scale, per draw and
        row; ``"nu"`` (Student-t noise only): its degrees of freedom, per draw. New levels
        of a factor and new runs get fresh offsets from the population, per draw.

    One compiled program per (spec, design's factors and levels, columns) serves every
    call with the same number of draws and rows in one bucket (rows are padded as a fit's
    are, :func:`scalinglaws.model.bucket`): a new bucket or number of draws compiles again.
    """
    enable_x64()
    structure = structure_of([design], pad_levels=False)
    predict = _PREDICTORS.get(spec, structure,
                              lambda: jax.jit(traced(partial(predict_padded, spec, structure))))
    row_key = rng_key if row_key is None else row_key
    return unpad_draws(predict(dict(posterior), rng_key, pad(design, structure), row_key),
                       design.n_rows)


def row_blocks(n_rows: int, n_draws: int) -> list[slice]:
    """Consecutive slices of ``n_rows`` rows, each at most :data:`BLOCK_VALUES` // ``n_draws``
    rows (rounded down to a row bucket, so every full block runs one compiled program;
    at least :data:`~scalinglaws.model.MIN_ROWS`).

    >>> [(s.start, s.stop) for s in row_blocks(2500, 4000)]
    [(0, 1024), (1024, 2048), (2048, 2500)]
    >>> row_blocks(90, 4000)
    [slice(0, 90, None)]
    """
    limit, size = BLOCK_VALUES // max(n_draws, 1), MIN_ROWS
    while bucket(size + 1, minimum=MIN_ROWS) <= limit:
        size = bucket(size + 1, minimum=MIN_ROWS)
    return [slice(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


def block_key(rng_key, block: int):
    """The key of block ``block``'s own randomness (:func:`predict_draws`'s ``row_key``):
    ``rng_key`` itself for the first block, so a prediction of one block draws as it
    would unblocked."""
    return rng_key if block == 0 else jax.random.fold_in(rng_key, block)


def written_columns(parts) -> list[str]:
    """The columns a prediction summarised by ``parts`` (:func:`interval_columns`) writes.

    >>> written_columns(PREDICT_PARTS)[:4]
    ['mean', 'median', 'lower', 'upper']
    """
    return [prefix + stat for _, prefix, stats in parts for stat in stats]


def interval_columns(draws_of, n_rows: int, n_draws: int, parts, lo: float,
                     hi: float) -> dict[str, np.ndarray]:
    """Summary columns of predicted draws, computed block by block of rows
    (:func:`row_blocks`), so a prediction of many rows never holds all its draws.

    ``draws_of(rows, block)`` gives the draws (draws, rows) of a slice of rows;
    ``parts``: ``(key, prefix, stats)`` per summarised entry of those draws (entries a
    prediction does not have are left out), ``stats`` among ``mean``, ``median``,
    ``lower`` (quantile ``lo``) and ``upper`` (quantile ``hi``), each a column
    ``prefix + stat``.
    """
    probabilities = {"lower": lo, "median": 0.5, "upper": hi}
    columns: dict[str, list[np.ndarray]] = {}
    for block, rows in enumerate(row_blocks(n_rows, n_draws)):
        draws = draws_of(rows, block)
        for key, prefix, stats in parts:
            if key not in draws:
                continue
            per_row = np.ascontiguousarray(np.asarray(draws[key]).T)  # one pass per row
            ranked = [s for s in stats if s in probabilities]
            values = dict(zip(ranked, np.quantile(
                per_row, [probabilities[s] for s in ranked], axis=1), strict=True))
            if "mean" in stats:
                values["mean"] = per_row.mean(axis=1)
            for name in stats:
                columns.setdefault(prefix + name, []).append(values[name])
    return {name: np.concatenate(values) for name, values in columns.items()}


def unpad_draws(out: Mapping, n: int) -> dict:
    """A padded prediction's draws as NumPy arrays cut to its ``n`` real rows (every
    entry is (draws, rows) but ``"nu"``, which is per draw)."""
    return {k: jax.tree_util.tree_map(lambda a, k=k: np.asarray(a)[:, :n] if k != "nu"
                                      else np.asarray(a), v)
            for k, v in out.items()}


def predict_padded(spec, structure: Structure, posterior: Mapping, rng_key,
                   data: Mapping, row_key=None) -> dict:
    """:func:`predict_draws` on padded ``data`` (:func:`scalinglaws.model.pad`), padded
    rows included (traceable: other compiled programs call it)."""
    design = view(structure, data)
    n_sites = len(level_sites(spec, design))
    keys = jax.random.split(rng_key, n_sites + 2)
    values = with_new_levels(spec, design, posterior, keys[:n_sites])
    row_keys = keys if row_key is None else jax.random.split(row_key, n_sites + 2)
    key_run, key_noise = row_keys[n_sites], row_keys[n_sites + 1]

    def one(draw):
        params = law_params(spec, design, draw)
        loc = location(spec, design, params)
        scale = jnp.broadcast_to(row_noise(spec, design, draw, params), loc.shape)
        params = {k: jnp.broadcast_to(v, loc.shape) for k, v in params.items()}
        return loc, loc + run_offset(spec, design, draw), scale, params

    loc, shifted, scale, params = jax.vmap(one)(values)
    if spec.run and spec.run not in design.factors and f"{RUN_SITE}_sd" in values:
        # no run column given: every row is a new run, with its own offset
        fresh = jax.random.normal(key_run, loc.shape)
        shifted = shifted + values[f"{RUN_SITE}_sd"][:, None] * fresh
    noise_values = {"nu": values["nu"][:, None]} if "nu" in values else {}
    observed = observation(spec, shifted, scale, noise_values).sample(key_noise)
    out = {"law": untransform(spec, loc), "observed": untransform(spec, observed),
           "params": params, "scale": scale, "shift": shifted - loc}
    if "nu" in values:
        out["nu"] = values["nu"]
    if design.se is not None:  # the same draws, measured with the rows' known error
        total = with_measurement_error(spec, design, scale, out["law"])
        measured = observation(spec, shifted, total, noise_values).sample(
            jax.random.fold_in(key_noise, 1))
        out["measured"] = untransform(spec, measured)
    return out
