"""Synthetic sweeps with known truth: the demo's data, and the tests' and benchmarks'.

Examples
--------
>>> runs = sweep(seed=0)
>>> sorted(runs["dataset"].unique())
['books', 'code', 'web']
>>> runs.attrs["truth"]["alpha"]
0.34
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._checks import check_positive_numbers, check_seed, is_finite_number
from .errors import ScalingLawError

#: The demo's true law: Chinchilla with shared exponents and per-dataset offsets.
TRUTH: dict = {
    "alpha": 0.34,
    "beta": 0.28,
    "E": {"web": 1.85, "code": 1.20, "books": 2.05},
    "A": {"web": 406.4, "code": 520.0, "books": 380.0},
    "B": {"web": 410.7, "code": 300.0, "books": 480.0},
    "sigma": 0.01,
}


def check_truth(truth: Any, default: Mapping, tables: Sequence[str],
                either: Sequence[str] = ()) -> dict:
    """``truth`` (``default`` when None) as a dict with every key of ``default``: a table
    of numbers per dataset (the keys of ``truth["E"]``) for each of ``tables``, a number
    or such a table for each of ``either``, a number for the rest; a
    :class:`ScalingLawError` naming what is wrong otherwise. The dict and its tables are
    copies, sharing nothing mutable with ``truth`` or ``default``.

    >>> check_truth({**TRUTH, "alpha": "0.3"}, TRUTH, ("E", "A", "B"))
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: truth['alpha'] must be a finite number, got '0.3'
    """
    if truth is None:
        return _copied(default)
    if not isinstance(truth, Mapping):
        raise ScalingLawError(f"truth must be a dict laid out as the default one ("
                              f"{list(default)}), got {truth!r}"[:300])
    missing = [k for k in default if k not in truth]
    if missing:
        raise ScalingLawError(f"truth lacks {missing}; give every key of the default "
                              f"truth: {list(default)}")
    datasets = truth["E"]
    if not isinstance(datasets, Mapping) or not datasets:
        raise ScalingLawError(f"truth['E'] must be a dict of datasets to numbers, got "
                              f"{datasets!r}"[:300])
    for key in default:
        if key in tables or (key in either and isinstance(truth[key], Mapping)):
            table = truth[key]
            if (not isinstance(table, Mapping) or any(d not in table for d in datasets)
                    or not all(is_finite_number(table[d]) for d in datasets)):
                raise ScalingLawError(f"truth[{key!r}] must give a finite number for each "
                                      f"dataset {list(datasets)}, got {table!r}"[:300])
        elif not is_finite_number(truth[key]):
            raise ScalingLawError(f"truth[{key!r}] must be a finite number, got "
                                  f"{truth[key]!r}"[:300])
    return _copied(truth)


def _copied(truth: Mapping) -> dict:
    """``truth`` with every table copied into a dict of its own, so that editing what a
    sweep returns (``attrs["truth"]``) never changes :data:`TRUTH` or the caller's truth.

    >>> copied = _copied(TRUTH)
    >>> copied["E"] == TRUTH["E"], copied["E"] is TRUTH["E"]
    (True, False)
    """
    return {k: _copied(v) if isinstance(v, Mapping) else v for k, v in truth.items()}


def true_loss(N, D, dataset, truth: Mapping | None = None) -> np.ndarray:
    """The noise-free Chinchilla loss of ``truth`` (default :data:`TRUTH`).

    >>> round(float(true_loss(1e9, 2e10, "web")), 4)
    2.74
    """
    truth = TRUTH if truth is None else truth
    N, D = np.asarray(N, dtype=np.float64), np.asarray(D, dtype=np.float64)
    dataset = np.broadcast_to(np.asarray(dataset, dtype=object), np.broadcast(N, D).shape)
    pick = np.vectorize(lambda table, key: table[key], otypes=[np.float64])
    E, A, B = (pick(truth[k], dataset) for k in ("E", "A", "B"))
    return E + A * N ** -truth["alpha"] + B * D ** -truth["beta"]


def sweep(seed: int = 0, *, sizes: Sequence[float] = (1e7, 3e7, 1e8, 3e8, 1e9),
          multipliers: Sequence[float] = (5, 10, 20, 50, 100, 200),
          truth: Mapping | None = None) -> pd.DataFrame:
    """A sweep of runs over sizes x token multipliers x datasets, with log-normal noise.

    Parameters
    ----------
    seed : int
        Noise seed.
    sizes : sequence of float
        Parameter counts N.
    multipliers : sequence of float
        Tokens per parameter M = D / N.
    truth : dict, optional
        True parameters in the layout of :data:`TRUTH` (datasets are its ``E`` keys).

    Returns
    -------
    pandas.DataFrame
        Columns N, D, C, M, dataset, loss and true_loss; ``attrs["truth"]`` holds the
        truth.
    """
    truth = check_truth(truth, TRUTH, ("E", "A", "B"))
    rng = np.random.default_rng(check_seed(seed))
    sizes = check_positive_numbers(sizes, "sizes", "(1e7, 1e8, 1e9)")
    multipliers = check_positive_numbers(multipliers, "multipliers", "(5, 20, 100)")
    grid = [(n, m, ds) for ds in truth["E"] for n in sizes for m in multipliers]
    N = np.array([g[0] for g in grid], dtype=np.float64)
    M = np.array([g[1] for g in grid], dtype=np.float64)
    dataset = np.array([g[2] for g in grid], dtype=object)
    D = N * M
    clean = true_loss(N, D, dataset, truth)
    loss = clean * np.exp(truth["sigma"] * rng.standard_normal(len(grid)))
    frame = pd.DataFrame({"N": N, "D": D, "C": 6 * N * D, "M": M, "dataset": dataset,
                          "loss": loss, "true_loss": clean})
    frame.attrs["truth"] = truth
    return frame
