"""Porian et al. 2024's exponent fit, re-run on the isoflop data: does it give their a?

Their method (``analysis.py`` of formll/resolving-scaling-law-discrepancies, read, not
copied): per budget, an Akima spline through (log N, log loss) evaluated on a grid of
25 points per interval between the smallest and largest size; the grid point of lowest
loss is the budget's N*; a budget whose minimum is an end of the grid is dropped. The
same with 1,000 copies of the losses with Gaussian noise added (sd 0.002 in loss for
RefinedWeb, 0.01 for OpenWebText2) gives the spread of log N* (floored at 0.33 of the
mean log spacing of the sizes, inflated by the share of copies whose minimum is interior;
a budget with fewer than half interior is dropped), and the median N* of the copies. The
exponent is the weighted least-squares slope of log(median N*) on log C, weights
1 / spread^2 (``a_weighted``), or unweighted (``a_basic``).

Run::

    SCALINGLAWS_DATA=/path/to/data python benchmarks/isoflop_authors_method.py

Prints, per configuration, the re-run a (weighted and basic) beside the authors' stored
values, the largest share of the weight one budget carries, and the slope through local
parabolas' vertices (``local_k``: a parabola in log-log through the k sizes on each side
of each budget's lowest loss), which shows how much a depends on where the minimum is read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.interpolate import Akima1DInterpolator

from scalinglaws.reproduce import isoflop as si
from scalinglaws.reproduce.common import load_table

COPIES = 1000


def _argmin(x: np.ndarray, logloss: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return np.argmin(Akima1DInterpolator(x, logloss, axis=-1)(grid), axis=-1)


def budget_optimum(rows: pd.DataFrame, noise: float,
                   rng: np.random.Generator) -> tuple[float, float] | None:
    """(median log N* of the noisy copies, its spread), or None for a dropped budget."""
    rows = rows.sort_values("params")
    x = np.log(rows["params"].to_numpy(dtype=float))
    loss = rows["loss"].to_numpy(dtype=float)
    grid = np.linspace(x[0], x[-1], (len(x) - 1) * 25)
    if _argmin(x, np.log(loss), grid) in (0, grid.size - 1):
        return None
    noisy = loss + noise * rng.standard_normal((COPIES, loss.size))
    found = _argmin(x, np.log(np.clip(noisy, 1e-6, None)), grid)
    inside = (found != 0) & (found != grid.size - 1)
    if inside.sum() < COPIES // 2:
        return None
    stars = grid[found[inside]]
    floor = 0.33 * 25 * (grid[1] - grid[0])
    return float(np.median(stars)), max(float(np.std(stars)), floor) * COPIES / inside.sum()


def exponent(frame: pd.DataFrame, noise: float, seed: int = 42) -> dict[str, float]:
    """The re-run a_weighted and a_basic of one configuration."""
    rng = np.random.default_rng(seed)
    logc, logn, spread = [], [], []
    for c, rows in frame.groupby("flops"):
        found = budget_optimum(rows, noise, rng)
        if found is not None:
            logc.append(np.log(c))
            logn.append(found[0])
            spread.append(found[1])
    weight = 1 / np.asarray(spread) ** 2
    return {"a_weighted": float(np.polyfit(logc, logn, 1, w=np.sqrt(weight))[0]),
            "a_basic": float(np.polyfit(logc, logn, 1)[0]), "budgets": len(logc),
            "largest_weight_share": float(weight.max() / weight.sum())}


def local_parabola_exponent(frame: pd.DataFrame, sizes: int) -> float:
    """The OLS slope of log N* on log C, N* the vertex of a parabola in (log N, log loss)
    through the ``sizes`` sizes on each side of each budget's lowest loss (budgets whose
    lowest loss is at an end of their sizes dropped)."""
    logc, logn = [], []
    for c, rows in frame.groupby("flops"):
        rows = rows.sort_values("params")
        x = np.log(rows["params"].to_numpy(dtype=float))
        y = np.log(rows["loss"].to_numpy(dtype=float))
        low = int(np.argmin(y))
        if low in (0, len(y) - 1):
            continue
        near = slice(max(low - sizes, 0), low + sizes + 1)
        p2, p1, _ = np.polyfit(x[near], y[near], 2)
        logc.append(np.log(c))
        logn.append(-p1 / (2 * p2))
    return float(np.polyfit(logc, logn, 1)[0])


def main() -> None:
    table = load_table(si.STUDY, "porian2024", None)
    authors = load_table(si.STUDY, "porian2024_author_fits", None).set_index("experiment")
    rows = []
    for name in authors.index:
        ours = exponent(si.isoflop_frame(table, name), 0.01 if name.startswith("owt2") else 0.002)
        frame = si.isoflop_frame(table, name)
        local = {f"local_{k}": local_parabola_exponent(frame, k) for k in (1, 2, 3)}
        rows.append({"configuration": name, **ours, **local,
                     "authors_a_weighted": authors.loc[name, "a_weighted"],
                     "authors_a_basic": authors.loc[name, "a_basic"]})
    out = pd.DataFrame(rows)
    out["diff_weighted"] = out["a_weighted"] - out["authors_a_weighted"]
    print(out.round(4).to_string(index=False))
    print(f"largest |re-run - authors'| (weighted): {out['diff_weighted'].abs().max():.4f}")


if __name__ == "__main__":
    main()
