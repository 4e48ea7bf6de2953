"""Synthetic runs on several training sets whose losses are linked by known shifted
power laws (:func:`simulate`), for tests, examples and documentation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._checks import check_positive_numbers, check_seed, is_finite_number
from ..errors import ScalingLawError
from ..synthetic import check_truth

#: Truth of :func:`simulate`: a Chinchilla law per training set whose runs share a
#: deviation per (N, D) configuration (``tau``), with small per-model noise.
SIM_TRUTH: dict = {
    "E": {"web": 1.80, "code": 0.90, "books": 2.10},
    "A": {"web": 400.0, "code": 400.0, "books": 400.0},
    "B": {"web": 400.0, "code": 400.0, "books": 400.0},
    "alpha": 0.34,
    "beta": 0.28,
    "kappa": {"web": 1.0, "code": 1.15, "books": 0.92},
    "K": {"web": 1.0, "code": 0.55, "books": 1.10},
    "tau": 0.04,
    "sigma": 0.003,
}


def simulate(seed: int = 0, *, sizes: Sequence[float] = (2e7, 6e7, 2e8, 6e8, 2e9),
             multipliers: Sequence[float] = (5, 20, 50, 150), truth: Mapping | None = None,
             sigma: float | Mapping[str, float] | None = None) -> pd.DataFrame:
    """Runs on several training sets whose losses are linked by known shifted power laws.

    The reference set (the one with ``kappa = 1`` and ``K = 1``, ``"web"``) follows a
    Chinchilla law; configuration ``c`` of every set shares the deviation ``tau * z_c``
    of the log reducible reference loss; set ``s`` has the latent loss
    ``E_s + K_s (l_ref - E_ref)^kappa_s`` and an observation with log-normal noise
    ``sigma`` (per set when a dict).

    Returns
    -------
    DataFrame
        Columns ``run``, ``dataset``, ``N``, ``D``, ``M``, ``loss`` (observed) and
        ``true_loss`` (latent, noise-free); ``attrs["truth"]`` holds the truth.

    >>> runs = simulate(seed=0)
    >>> runs.groupby("dataset").size().tolist()
    [20, 20, 20]
    """
    truth = check_truth(truth, SIM_TRUTH, ("E", "A", "B", "kappa", "K"), either=("sigma",))
    sigma = truth["sigma"] if sigma is None else sigma
    noises = list(sigma.values()) if isinstance(sigma, Mapping) else [sigma]
    if (isinstance(sigma, Mapping) and any(s not in sigma for s in truth["E"])) or not all(
            is_finite_number(s) and s >= 0 for s in noises):
        raise ScalingLawError(f"sigma must be a noise scale >= 0 or a dict of one per "
                              f"training set {list(truth['E'])}, got {sigma!r}"[:300])
    rng = np.random.default_rng(check_seed(seed))
    sizes = check_positive_numbers(sizes, "sizes", "(2e7, 2e8, 2e9)")
    multipliers = check_positive_numbers(multipliers, "multipliers", "(5, 20, 150)")
    configs = [(n, m) for n in sizes for m in multipliers]
    n_arr = np.array([c[0] for c in configs], dtype=float)
    d_arr = n_arr * np.array([c[1] for c in configs], dtype=float)
    ref = next((s for s in truth["E"] if truth["kappa"][s] == 1.0 and truth["K"][s] == 1.0),
               None)
    if ref is None:
        raise ScalingLawError("truth needs a reference training set, one with kappa 1 and "
                              "K 1 (the set whose Chinchilla law the others are linked to)")
    reducible = truth["A"][ref] * n_arr ** -truth["alpha"] + truth["B"][ref] * d_arr ** -truth[
        "beta"]
    reducible = reducible * np.exp(truth["tau"] * rng.standard_normal(len(configs)))
    rows = []
    for s in truth["E"]:
        latent = truth["E"][s] + truth["K"][s] * reducible ** truth["kappa"][s]
        noise = sigma[s] if isinstance(sigma, Mapping) else sigma
        observed = latent * np.exp(noise * rng.standard_normal(len(configs)))
        for i in range(len(configs)):
            rows.append({"run": f"{s}-{i}", "dataset": s, "N": n_arr[i], "D": d_arr[i],
                         "M": d_arr[i] / n_arr[i], "loss": observed[i], "true_loss": latent[i]})
    frame = pd.DataFrame(rows)
    frame.attrs["truth"] = truth
    return frame
