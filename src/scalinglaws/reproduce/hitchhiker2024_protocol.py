"""The Hitchhiker protocol's rows and the paper's own fit (Choshen, Zhang, Andreas 2025).

Which rows each fit sees and which are scored (:func:`hitchhiker_split`, and one size down
for the backtest, :func:`hitchhiker_one_size_down`), log-spaced thinning of checkpoints
(:func:`thin_checkpoints`), the per-family units every model is fitted in
(:func:`hitchhiker_normalise`), and the paper's per-family least squares
(:func:`hitchhiker_paper_fit`) that the Bayesian fits of
:mod:`scalinglaws.reproduce.hitchhiker2024` are compared with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ScalingLawError
from .common import require_columns

#: At most this many log-spaced checkpoints per training run in the Hitchhiker fits.
HITCHHIKER_MAX_CHECKPOINTS = 10

_HITCH_COLUMNS = ("family", "run", "N", "D", "perf_loss_perp")
#: The paper's initial guess (a, b, e, alpha, beta) of ``chinchilla_power_law_fit``.
HITCHHIKER_P0 = (6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596)


def thin_checkpoints(frame: pd.DataFrame, max_per_run: int, run: str = "run",
                     tokens: str = "D") -> pd.DataFrame:
    """At most ``max_per_run`` checkpoints per run, log-spaced in tokens, last one kept.

    Examples
    --------
    >>> frame = pd.DataFrame({"run": "r", "D": np.geomspace(1e9, 1e12, 100)})
    >>> thinned = thin_checkpoints(frame, 5)
    >>> len(thinned), bool(thinned["D"].max() == frame["D"].max())
    (5, True)
    """
    if not isinstance(max_per_run, (int, np.integer)) or max_per_run < 1:
        raise ScalingLawError(f"max_per_run must be a positive integer, got {max_per_run!r}")
    require_columns(frame, [run, tokens], "the checkpoint frame")
    keep = []
    for _, rows in frame.groupby(run, sort=False):
        rows = rows.sort_values(tokens, kind="stable")
        if len(rows) <= max_per_run:
            keep.extend(rows.index)
            continue
        d = np.log(rows[tokens].to_numpy(float))
        want = np.linspace(d[0], d[-1], max_per_run)
        idx = set(np.abs(d[None, :] - want[:, None]).argmin(axis=1).tolist())
        idx.add(len(rows) - 1)
        while len(idx) > max_per_run:
            idx.discard(sorted(idx)[-2])
        keep.extend(rows.index[sorted(idx)])
    return frame.loc[keep]


def hitchhiker_split(frame: pd.DataFrame, min_sizes: int = 3, min_tokens: float = 1e10,
                     test_fraction: float = 0.7,
                     max_checkpoints: int = HITCHHIKER_MAX_CHECKPOINTS,
                     families: Sequence[str] | None = None) -> dict[str, Any]:
    """The Hitchhiker protocol: per family, the smaller models fit and the largest is scored.

    Parameters
    ----------
    frame : DataFrame
        Checkpoints with ``family``, ``run``, ``N``, ``D`` and ``perf_loss_perp``.
    min_sizes : int
        Keep families with at least this many distinct model sizes.
    min_tokens : float
        Drop every checkpoint at ``D <= min_tokens`` (the paper's ``cut_beginning``).
    test_fraction : float
        Score the target's checkpoints at ``D >=`` this fraction of its last one.
    max_checkpoints : int
        At most this many log-spaced checkpoints per training run (``"checkpoints"``).
    families : sequence of str, optional
        Only these families.

    Returns
    -------
    dict
        ``"final"`` (last checkpoint of each smaller run), ``"checkpoints"`` (thinned
        checkpoints of the smaller runs), ``"all_checkpoints"`` (unthinned), ``"test"`` (the
        target's scored checkpoints) and ``"families"`` (a DataFrame, one row per family).

    Examples
    --------
    >>> rows = [{"family": "f", "run": f"m{n:g}", "N": n, "D": d, "perf_loss_perp": 3.0}
    ...         for n in (1e8, 1e9, 1e10) for d in (5e9, 2e10, 4e10, 1e11)]
    >>> parts = hitchhiker_split(pd.DataFrame(rows))
    >>> len(parts["final"]), len(parts["checkpoints"]), parts["test"]["D"].tolist()
    (2, 6, [100000000000.0])
    """
    require_columns(frame, _HITCH_COLUMNS, "the hitchhiker2024 frame")
    if not 0 < test_fraction <= 1:
        raise ScalingLawError(f"test_fraction must be in (0, 1], got {test_fraction!r}")
    data = frame.copy()
    for column in ("N", "D", "perf_loss_perp"):
        data[column] = pd.to_numeric(data[column], errors="coerce")
    ok = (data["family"].notna() & (data["N"] > 0) & (data["D"] > min_tokens)
          & (data["perf_loss_perp"] > 0) & np.isfinite(data["perf_loss_perp"]))
    data = data[ok]
    data["family"] = data["family"].astype(str)
    data["run"] = data["run"].astype(str)
    if families is not None:
        unknown = sorted(set(families) - set(data["family"]))
        if unknown:
            raise ScalingLawError(f"hitchhiker2024: unknown families {unknown}; the families "
                                  f"are {sorted(data['family'].unique())[:25]}")
        data = data[data["family"].isin(list(families))]
    sizes = data.groupby("family")["N"].nunique()
    kept = sorted(sizes[sizes >= min_sizes].index)
    if not kept:
        raise ScalingLawError(f"hitchhiker2024: no family has {min_sizes} model sizes with "
                              f"checkpoints above {min_tokens:g} tokens")
    data = data[data["family"].isin(kept)]
    is_target = data["N"] == data.groupby("family")["N"].transform("max")
    train, target = data[~is_target], data[is_target]
    last = target.groupby("run")["D"].transform("max")
    test = target[target["D"] >= test_fraction * last]
    final = train.sort_values("D", kind="stable").groupby("run").tail(1)
    thinned = thin_checkpoints(train, max_checkpoints)
    info = pd.DataFrame({
        "family": kept,
        "sizes": [int(sizes[f]) for f in kept],
        "train_runs": [int(train.loc[train["family"] == f, "run"].nunique()) for f in kept],
        "target_N": [float(target.loc[target["family"] == f, "N"].max()) for f in kept],
        "test_points": [int((test["family"] == f).sum()) for f in kept],
    })
    return {"final": final.copy(), "checkpoints": thinned.copy(), "all_checkpoints": train.copy(),
            "test": test.copy(), "families": info}


def hitchhiker_one_size_down(frame: pd.DataFrame, families: Sequence[str] | None = None
                             ) -> dict[str, Any]:
    """The protocol one size down: without each family's largest model, predict the next.

    The families of :func:`hitchhiker_split` (at least three sizes), each without its
    largest model; the parts are those of :func:`hitchhiker_split` on what is left (so
    the new target is the family's largest *training* model). Fitting a model on this
    split and scoring it backtests the extrapolation the real split asks for.

    Examples
    --------
    >>> rows = [{"family": "f", "run": f"m{n:g}", "N": n, "D": d, "perf_loss_perp": 3.0}
    ...         for n in (1e8, 1e9, 1e10) for d in (5e9, 2e10, 4e10, 1e11)]
    >>> down = hitchhiker_one_size_down(pd.DataFrame(rows))
    >>> down["families"][["family", "sizes", "target_N"]].to_numpy().tolist()
    [['f', 2, 1000000000.0]]
    """
    full = hitchhiker_split(frame, families=families)["families"]
    data = frame[frame["family"].astype(str).isin(full["family"])]
    size = pd.to_numeric(data["N"], errors="coerce")
    below = size < data["family"].astype(str).map(full.set_index("family")["target_N"])
    return hitchhiker_split(data[below], min_sizes=2)


def hitchhiker_normalise(rows: pd.DataFrame,
                         centres: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-family units: ``N_rel``, ``D_rel``, ``loss_rel`` = N, D and loss over family centres.

    A family's centre is the geometric mean of its N, D and ``perf_loss_perp`` over
    ``rows`` (the rows a model is fitted to), unless ``centres`` are given (to put the
    targets in the units of the fit). Dividing by a constant per family reparameterises the
    law exactly (E, A and B scale with the loss, A and B absorb the input scale; the
    exponents and relative errors are unchanged), so the model is the same, but its
    coefficients become fractions of the family's typical loss at the family's own
    centre, and one set of priors fits families whose losses are in nats, bits or
    perplexity. Returns the frame with the three columns added and the centres (one row
    per family, columns ``N``, ``D``, ``loss``).

    Examples
    --------
    >>> rows = pd.DataFrame({"family": ["f", "f"], "N": [1e8, 4e8], "D": [1e10, 1e10],
    ...                      "perf_loss_perp": [4.0, 1.0]})
    >>> out, centres = hitchhiker_normalise(rows)
    >>> out[["N_rel", "loss_rel"]].to_numpy().round(2).tolist()
    [[0.5, 2.0], [2.0, 0.5]]
    >>> float(centres.loc["f", "loss"])
    2.0
    """
    require_columns(rows, ("family", "N", "D", "perf_loss_perp"), "the hitchhiker2024 frame")
    columns = {"N": "N", "D": "D", "loss": "perf_loss_perp"}
    if centres is None:
        logs = pd.DataFrame({k: np.log(rows[c].to_numpy(float)) for k, c in columns.items()},
                            index=rows.index)
        centres = np.exp(logs.groupby(rows["family"].to_numpy()).mean())
    missing = sorted(set(rows["family"]) - set(centres.index))
    if missing:
        raise ScalingLawError(f"hitchhiker2024: no centre for families {missing}; normalise "
                              f"with the centres of a fit that has them")
    out = rows.copy()
    for k, c in columns.items():
        out[f"{c if k != 'loss' else 'loss'}_rel"] = (
            rows[c].to_numpy(float) / centres.loc[rows["family"], k].to_numpy())
    return out, centres


def hitchhiker_paper_law(params: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The paper's law ``exp(e) + exp(a)/N^alpha + exp(b)/D^beta``, params ``(a, b, e,
    alpha, beta)`` as :func:`hitchhiker_paper_fit` returns them."""
    a, b, e, alpha, beta = params
    return np.exp(e) + np.exp(a) / n ** alpha + np.exp(b) / d ** beta


def hitchhiker_paper_fit(train: pd.DataFrame) -> np.ndarray:
    """The paper's per-family least squares: ``exp(e) + exp(a)/N^alpha + exp(b)/D^beta``.

    Residuals on the raw target, alpha and beta >= 0, from the paper's initial guess and a
    few perturbations of it; scipy's ``least_squares`` (trust region), which also runs when
    a family has fewer points than parameters. Returns ``(a, b, e, alpha, beta)``.
    """
    from scipy.optimize import least_squares

    n = train["N"].to_numpy(float)
    d = train["D"].to_numpy(float)
    y = train["perf_loss_perp"].to_numpy(float)
    p0 = np.asarray(HITCHHIKER_P0)
    starts = [p0]
    for e0 in (np.log(0.5 * y.min()), np.log(0.9 * y.min())):
        for exp0 in (0.2, 0.35, 0.6):
            starts.append(np.array([p0[0], p0[1], e0, exp0, exp0]))
    lower = np.array([-np.inf, -np.inf, -np.inf, 0.0, 0.0])
    best = None
    for start in starts:
        start = np.clip(start, lower + 1e-9, None)
        with np.errstate(all="ignore"):
            try:
                result = least_squares(lambda p: hitchhiker_paper_law(p, n, d) - y, start,
                                       bounds=(lower, np.inf), method="trf", max_nfev=2000)
            except ValueError:
                continue
        if np.isfinite(result.cost) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise ScalingLawError("hitchhiker2024: the paper's least-squares fit failed from "
                              "every start")
    return best.x
