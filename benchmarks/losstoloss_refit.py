"""Two loss-to-loss fits of one model in one process: what the second one compiles.

Brandfonbrener et al.'s train-to-train model (`reproduce brandfonbrener2025`'s spec and
settings: 4 chains x (400 + 1,200) at a target acceptance of 0.98, 8 mode-search
starts, seed 0) fitted from StarCoder, then from Proof-Pile-2: other data, the same
padded shapes. Prints per fit the wall seconds, the XLA compilations it started and
their seconds, the largest R-hat, the smallest bulk ESS, divergences and leapfrog steps
per draw; with the persistent compilation cache off, so the first fit compiles cold.

    SCALINGLAWS_DATA=../shared/data python benchmarks/losstoloss_refit.py [OUT.json]
    python benchmarks/losstoloss_refit.py --compare A.json B.json

``OUT.json`` keeps every posterior mean and its MCSE; ``--compare`` prints, per fit,
the largest difference of means between two such files (say, two versions of the
package) in combined Monte Carlo standard errors.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

os.environ.setdefault("SCALINGLAWS_CACHE_DIR", "off")

import arviz as az  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402

import scalinglaws.losstoloss as ltl  # noqa: E402
from scalinglaws.reproduce import brandfonbrener2025 as brand  # noqa: E402

SOURCES = ("starcoder", "proof-pile-2")
COMPILES: list[float] = []


def _listen(event: str, seconds: float, **kwargs) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        COMPILES.append(seconds)


def fit_both() -> dict:
    jax.monitoring.register_event_duration_secs_listener(_listen)
    warnings.simplefilter("ignore")
    sweep, _, _ = brand._brandfonbrener_data(os.environ.get("SCALINGLAWS_DATA"))
    spec = brand.brandfonbrener_model("train_to_train")
    settings = {"seed": 0, "chains": 4, "warmup": 400, "draws": 1200, "max_tree_depth": 10,
                "n_starts": brand.LTL_STARTS, "progress": False, **brand.BRANDFONBRENER_JOINT}
    out = {}
    for source in SOURCES:
        pairs = ltl.pair_train_to_train(sweep, x=source)
        before, started = len(COMPILES), time.perf_counter()
        with numpyro.validation_enabled(False):
            fit = spec.fit(pairs, **settings)
        wall = time.perf_counter() - started
        post = fit.idata.posterior
        names = [n for n in post.data_vars if n != "log_lik"]
        table = az.summary(post[names], kind="diagnostics")
        out[source] = {
            "wall_s": round(wall, 1), "compilations": len(COMPILES) - before,
            "compile_s": round(sum(COMPILES[before:]), 1),
            "max_r_hat": float(table["r_hat"].max()),
            "min_ess_bulk": float(table["ess_bulk"].min()),
            "divergences": int(fit.idata.sample_stats["diverging"].values.sum()),
            "steps_per_draw": round(float(fit.idata.sample_stats["n_steps"].values.mean()), 1),
            "means": {n: [post[n].mean(("chain", "draw")).values.ravel().tolist(),
                          az.mcse(post[[n]])[n].values.ravel().tolist()] for n in names}}
        print(source, {k: v for k, v in out[source].items() if k != "means"}, flush=True)
    return out


def compare(a: dict, b: dict) -> None:
    for source in a:
        worst = max((float(np.max(np.abs(np.subtract(ma, b[source]["means"][n][0]))
                                  / np.hypot(sa, b[source]["means"][n][1]))), n)
                    for n, (ma, sa) in a[source]["means"].items())
        entries = sum(len(m) for m, _ in a[source]["means"].values())
        print(f"{source}: {entries} entries, largest difference {worst[0]:.2f} combined "
              f"MCSE ({worst[1]})")


def main() -> None:
    if sys.argv[1:2] == ["--compare"]:
        compare(*(json.load(open(path)) for path in sys.argv[2:4]))
        return
    out = fit_both()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(out, f)


if __name__ == "__main__":
    main()
