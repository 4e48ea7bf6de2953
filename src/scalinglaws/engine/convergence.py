"""R-hat and effective sample sizes of many quantities at once, as arrays.

The rank-normalised split R-hat and the bulk and tail ESS of Vehtari et al. (2021),
computed as ArviZ computes them (``az.rhat``, ``az.ess(method="bulk" | "tail")``: the same
splitting, Blom's rank offset, FFT autocovariances, Geyer's initial positive and
monotone sequences), to rounding: ``tests/test_convergence.py`` compares the two. What
differs is that every quantity of every fit is one row of one array, so that a batch of
K fits is diagnosed in a few vectorised operations instead of K x P calls of Python
functions. On a GPU the arithmetic runs there (compiled by JAX); on a CPU it runs in
NumPy, whose sort is several times faster than XLA's there, in blocks on every core.

>>> import numpy as np
>>> draws = np.random.default_rng(0).normal(size=(3, 4, 500))  # 3 quantities, 4 chains
>>> out = convergence(draws)
>>> out["r_hat"].shape, bool((out["r_hat"] < 1.01).all()), bool((out["ess_bulk"] > 1000).all())
((3,), True, True)
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import jax
import jax.numpy as jnp
import numpy as np
from scipy.fft import next_fast_len
from scipy.special import ndtri

from .._precision import enable_x64

#: Blom's offset of the rank normalisation.
BLOM = 3 / 8
#: Tail ESS is the smaller ESS of the indicators of these quantiles.
TAIL_PROBS = (0.05, 0.95)


def convergence(values, chains_per_group: int | None = None) -> dict[str, np.ndarray]:
    """``ess_bulk``, ``ess_tail`` and ``r_hat`` of every quantity in ``values``.

    ``values`` has shape ``(..., chains, draws)``. With ``chains_per_group``, the chains
    come in consecutive groups that each target one distribution (a cut loss-to-loss
    fit): R-hat is the worst over the groups and ESS their sum. A quantity with a NaN
    draw gets NaN; R-hat is NaN with fewer than two chains (per group) and both are NaN
    with fewer than four draws, as in ArviZ.
    """
    values = np.asarray(values, dtype=float)
    *lead, chains, draws = values.shape
    size = chains_per_group or chains
    if chains % size:
        raise ValueError(f"{chains} chains do not split into groups of {chains_per_group}")
    flat = values.reshape(-1, size, draws)  # one row per quantity and group
    if jax.default_backend() == "cpu" or flat.shape[0] == 0:
        rows = _rows_threaded(flat)
    else:
        rows = np.asarray(_compiled()(flat))
    rows = rows.reshape(-1, chains // size, 3)
    out = {"ess_bulk": rows[..., 1].sum(axis=1), "ess_tail": rows[..., 2].sum(axis=1),
           "r_hat": rows[..., 0].max(axis=1)}
    return {k: v.reshape(lead) for k, v in out.items()}


#: Quantities per block of the NumPy path: blocks small enough to stay in the CPU's caches,
#: run on one thread per core (NumPy's sorts, FFTs and ufuncs release Python's lock).
BLOCK = 64


def _rows_threaded(flat: np.ndarray) -> np.ndarray:
    blocks = [flat[i:i + BLOCK] for i in range(0, flat.shape[0], BLOCK)]
    if len(blocks) <= 1:
        return _rows(np, flat)
    workers = min(len(blocks), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                  else os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.concatenate(list(pool.map(lambda block: _rows(np, block), blocks)))


def convergence_by_name(values: dict[str, np.ndarray], lead: int = 0,
                        chains_per_group: int | None = None) -> dict[str, dict[str, np.ndarray]]:
    """:func:`convergence` of several named arrays in one call: ``values[name]`` has shape
    ``(*batch, *site, chains, draws)`` with ``lead`` batch axes shared by all names.
    Returns ``{name: {stat: array of shape (*batch, *site)}}``."""
    blocks, shapes = [], {}
    for name, array in values.items():
        shapes[name] = array.shape[lead:-2]
        blocks.append(array.reshape(*array.shape[:lead], -1, *array.shape[-2:]))
    stats = convergence(np.concatenate(blocks, axis=lead), chains_per_group)
    out, start = {}, 0
    for name, shape in shapes.items():
        count = int(np.prod(shape))
        part = (slice(None),) * lead + (slice(start, start + count),)
        out[name] = {k: v[part].reshape((*v.shape[:lead], *shape)) for k, v in stats.items()}
        start += count
    return out


@cache
def _compiled():
    enable_x64()
    return jax.jit(lambda flat: _rows(jnp, flat))


def _rows(xp, x):
    """``(r_hat, ess_bulk, ess_tail)`` of each ``x[i]`` (chains, draws), as ``(n, 3)``."""
    with np.errstate(invalid="ignore", divide="ignore"):  # undefined values become NaN
        return _rows_of(xp, x)


def _rows_of(xp, x):
    n, chains, draws = x.shape
    nan = xp.isnan(x).any(axis=(1, 2))
    if draws < 4:
        return xp.full((n, 3), xp.nan)
    split = _split(xp, x)
    z = _z_scale(xp, split)
    if chains >= 2:
        folded = xp.abs(split - xp.median(split.reshape(n, -1), axis=1)[:, None, None])
        r_hat = xp.maximum(_rhat(xp, z), _rhat(xp, _z_scale(xp, folded)))
    else:
        r_hat = xp.full(n, xp.nan)
    bulk = _ess(xp, z)
    quantiles = xp.quantile(x.reshape(n, -1), xp.asarray(TAIL_PROBS), axis=1)  # (2, n)
    tail = xp.minimum(*(_ess(xp, _split(xp, (x <= q[:, None, None]).astype(float)))
                        for q in quantiles))
    out = xp.stack([r_hat, bulk, tail], axis=1)
    return xp.where(nan[:, None], xp.nan, out)


def _split(xp, x):
    """Each chain cut in two halves (the middle draw of an odd count dropped), as ArviZ:
    ``(n, chains, draws)`` to ``(n, 2 chains, draws // 2)``."""
    half = x.shape[2] // 2
    return xp.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


def _z_scale(xp, x):
    """Normal scores of the average ranks of each ``x[i]`` over all its chains."""
    n, shape = x.shape[0], x.shape[1:]
    flat = x.reshape(n, -1)
    size = flat.shape[1]
    order = xp.argsort(flat, axis=1)
    ordered = xp.take_along_axis(flat, order, axis=1)
    index = xp.arange(size)
    change = ordered[:, 1:] != ordered[:, :-1]
    edge = xp.ones((n, 1), dtype=bool)
    first = xp.maximum.accumulate(xp.where(xp.concatenate([edge, change], axis=1), index, 0),
                                  axis=1)
    last = xp.flip(xp.minimum.accumulate(
        xp.flip(xp.where(xp.concatenate([change, edge], axis=1), index, size), axis=1),
        axis=1), axis=1)
    ranks = _unsort(xp, order, (first + last) / 2 + 1)  # ties share their average rank
    scores = _ndtri(xp)((ranks - BLOM) / (size - 2 * BLOM + 1))
    return scores.reshape(n, *shape)


def _unsort(xp, order, values):
    """``out[i, order[i, j]] = values[i, j]``."""
    if xp is np:
        out = np.empty_like(values)
        np.put_along_axis(out, order, values, axis=1)
        return out
    return xp.zeros_like(values).at[xp.arange(order.shape[0])[:, None], order].set(values)


def _ndtri(xp):
    return ndtri if xp is np else jax.scipy.special.ndtri


def _rhat(xp, x):
    """Split R-hat of each ``x[i]`` (chains already split); NaN where it is constant."""
    draws = x.shape[2]
    between = draws * xp.var(x.mean(axis=2), axis=1, ddof=1)
    within = xp.var(x, axis=2, ddof=1).mean(axis=1)
    constant = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) == 0
    return xp.where(constant, xp.nan, xp.sqrt((between / within + draws - 1) / draws))


def _ess(xp, x):
    """ESS of each ``x[i]`` (chains, draws) by Geyer's initial monotone sequence of the
    FFT autocorrelations (ArviZ's ``_ess``, one row at a time there)."""
    n, chains, draws = x.shape
    fft_size = next_fast_len(2 * draws)
    centred = x - x.mean(axis=2, keepdims=True)
    spectrum = xp.fft.rfft(centred, n=fft_size, axis=2)
    acov = xp.fft.irfft(spectrum * xp.conj(spectrum), n=fft_size, axis=2)[:, :, :draws] / draws
    mean_var = acov[:, :, 0].mean(axis=1) * draws / (draws - 1.0)
    var_plus = mean_var * (draws - 1.0) / draws
    if chains > 1:
        var_plus = var_plus + xp.var(x.mean(axis=2), axis=1, ddof=1)
    rho = 1.0 - (mean_var[:, None] - acov.mean(axis=1)) / var_plus[:, None]
    rho = xp.concatenate([xp.ones((n, 1)), rho[:, 1:]], axis=1)
    # Pairs (rho[2j], rho[2j + 1]); the sequence stops at the first pair whose sum is not
    # positive, or at the last pair ArviZ's loop reaches.
    last_pair = max(0, -(-(draws - 4) // 2))
    pairs = rho[:, : 2 * last_pair + 2].reshape(n, last_pair + 1, 2)
    sums, evens = pairs.sum(axis=2), pairs[:, :, 0]
    j = xp.arange(last_pair + 1)
    stop = xp.argmax(~(sums > 0) | (j == last_pair), axis=1)
    sum_stop = xp.take_along_axis(sums, stop[:, None], axis=1)[:, 0]
    even_stop = xp.take_along_axis(evens, stop[:, None], axis=1)[:, 0]
    tail = xp.where(stop == 0, 1.0,
                    xp.where((even_stop > 0) | (sum_stop >= 0), even_stop, 0.0))
    monotone = xp.minimum.accumulate(sums, axis=1)
    tau = -1.0 + 2.0 * xp.where(j < stop[:, None], monotone, 0.0).sum(axis=1) + tail
    size = chains * draws
    tau = xp.maximum(tau, 1.0 / np.log10(size))
    undefined = xp.isnan(xp.where(j <= stop[:, None], sums, 0.0)).any(axis=1)
    constant = (x.max(axis=(1, 2)) - x.min(axis=(1, 2))) < np.finfo(float).resolution
    return xp.where(constant, float(size), xp.where(undefined, xp.nan, size / tau))


__all__ = ["convergence", "convergence_by_name"]
