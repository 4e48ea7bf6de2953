"""The loss-to-loss sampler against NumPyro's NUTS on the same models, side by side.

Brandfonbrener et al.'s FineWeb-Edu sweep (`reproduce brandfonbrener2025`'s models and
settings): the train-to-train joint model (2 chains x (400 + 300)) and one stage-2 run
of the train-to-test cut model (the links given the stage-1 draw at the median E_x;
2 chains x (250 + 100)). Each is sampled from the same mode by

- NumPyro's `MCMC(NUTS(dense_mass=True))`, chains jittered by 0.1 around the mode (the
  package's loss-to-loss sampler before `engine.mcmc.WhitenedNUTS`), and
- `engine.mcmc.WhitenedNUTS` (the engine's NUTS in the Laplace approximation's whitened
  coordinates),

each with one chain per CPU core where there are as many cores as chains (`import
scalinglaws` gives JAX one CPU device per core; NumPyro's `chain_method="parallel"`).

For each: wall seconds (compilation included), leapfrog steps per draw, the share of
draws at the maximum tree depth, divergences, the smallest bulk ESS and largest R-hat
over the scalar quantities, bulk ESS per second, and the largest difference of
posterior means between the two samplers in combined Monte Carlo standard errors.

    SCALINGLAWS_DATA=../shared/data python benchmarks/losstoloss_sampler.py
"""

from __future__ import annotations

import os
import time
import warnings

import arviz as az
import jax
import numpy as np
import pandas as pd
from numpyro.infer import MCMC, NUTS

from scalinglaws import losstoloss as ltl
from scalinglaws._precision import enable_x64
from scalinglaws.engine.mcmc import WhitenedNUTS
from scalinglaws.losstoloss import sampling
from scalinglaws.losstoloss.layout import Layout
from scalinglaws.losstoloss.model import build, dims_coords, unpad
from scalinglaws.reproduce import brandfonbrener2025 as brand

SOURCE = "fineweb-edu-100b"
SETTINGS = {"target_accept": 0.9, "max_tree_depth": 10}


def numpyro_nuts(model, mode, key, *, chains, warmup, draws, coords, dims,
                 settings=SETTINGS, **data):
    """NumPyro's MCMC(NUTS(dense_mass=True)) at ``settings``' target acceptance and tree
    depth, chains at the mode plus N(0, 0.1^2) noise, one per core where they fit."""
    kernel = NUTS(model, target_accept_prob=settings["target_accept"], dense_mass=True,
                  max_tree_depth=settings["max_tree_depth"])
    parallel = jax.local_device_count() >= chains  # one chain per core, as ours
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains,
                chain_method="parallel" if parallel else "vectorized", progress_bar=False)
    key_jitter, key_sample = jax.random.split(key)
    keys = jax.random.split(key_jitter, len(mode))
    init = {name: value + 0.1 * jax.random.normal(k, (chains, *np.shape(value)))
            for k, (name, value) in zip(keys, sorted(mode.items()), strict=True)}
    mcmc.run(key_sample, init_params=init, extra_fields=("diverging", "num_steps"), **data)
    idata = az.from_numpyro(mcmc, coords=coords, dims=dims)
    return idata.rename({"num_steps": "n_steps"}, groups="sample_stats")


def ours(model, mode, key, *, chains, warmup, draws, coords, dims, **data):
    nuts = WhitenedNUTS(model, mode, chains=chains, warmup=warmup, draws=draws,
                        dense_mass=True, **SETTINGS)
    return nuts(mode, key, coords=coords, dims=dims, **data)


def row(label, sampler, idata, seconds, max_depth):
    names = [v for v in idata.posterior.data_vars if v != "log_lik"]
    summary = az.summary(idata.posterior[names], kind="diagnostics")
    steps = idata.sample_stats["n_steps"].values
    return {"model": label, "sampler": sampler, "wall_s": round(seconds, 1),
            "steps_per_draw": round(float(steps.mean()), 1),
            "at_max_depth": round(float((steps >= 2 ** max_depth - 1).mean()), 3),
            "divergences": int(idata.sample_stats["diverging"].values.sum()),
            "min_ess_bulk": float(summary["ess_bulk"].min()),
            "max_r_hat": float(summary["r_hat"].max()),
            "ess_per_s": round(float(summary["ess_bulk"].min()) / seconds, 2)}


def agreement(a: az.InferenceData, b: az.InferenceData) -> float:
    worst = 0.0
    for name in a.posterior.data_vars:
        if name == "log_lik" or name not in b.posterior:
            continue
        means = [p[name].mean(("chain", "draw")).values for p in (a.posterior, b.posterior)]
        mcse = [az.mcse(p[[name]])[name].values for p in (a.posterior, b.posterior)]
        z = np.abs(means[0] - means[1]) / np.hypot(*mcse)
        worst = max(worst, float(np.max(z)))
    return worst


def main() -> None:
    enable_x64()
    warnings.simplefilter("ignore")
    sweep, _, _ = brand._brandfonbrener_data(os.environ.get("SCALINGLAWS_DATA"))
    tasks = [brand.TASK_COLUMN.format(t) for t in brand.BRANDFONBRENER_TASKS]
    rows, agree = [], {}
    key = jax.random.PRNGKey(0)

    # train-to-train: the joint model
    spec = brand.brandfonbrener_model("train_to_train")
    layout = Layout.build(spec, ltl.pair_train_to_train(sweep, x=SOURCE))
    dims, coords = dims_coords(spec, layout)
    data = {"arrays": layout.arrays(spec)}
    model = build(spec, layout.shapes, spec.latent)
    mode = sampling._mode(spec, layout, "joint", data, key, brand.LTL_STARTS)
    runs = {}
    for name, sampler in (("NumPyro NUTS", numpyro_nuts), ("scalinglaws WhitenedNUTS", ours)):
        started = time.perf_counter()
        runs[name] = unpad(sampler(model, mode, key, chains=2, warmup=400, draws=300,
                                   coords=coords, dims=dims, **data), layout)
        rows.append(row("train-to-train (joint)", name, runs[name],
                        time.perf_counter() - started, SETTINGS["max_tree_depth"]))
    agree["train-to-train (joint)"] = agreement(*runs.values())

    # train-to-test: stage 2 of the cut, given the stage-1 draw at the median E_x
    spec = brand.brandfonbrener_model("train_to_test")
    layout = Layout.build(spec, ltl.pair_train_to_test(sweep, tasks, datasets=SOURCE))
    dims, coords = dims_coords(spec, layout)
    data = {"arrays": layout.arrays(spec)}
    stage1 = unpad(ours(build(spec, layout.shapes, spec.latent, link=False),
                        sampling._mode(spec, layout, "law", data, key, brand.LTL_STARTS),
                        key, chains=2, warmup=250, draws=100, coords=coords, dims=dims,
                        **data), layout)
    names = sampling.fixed_by_cut(list(stage1.posterior.data_vars))
    flat = stage1.posterior[names].stack(sample=("chain", "draw"))
    pick = int(np.argsort(flat[f"{ltl.composed.X_PREFIX}.E"].values)[flat.sizes["sample"] // 2])
    fixed = {n: jax.numpy.asarray(flat[n].isel(sample=pick).values) for n in names}
    cut_model = sampling._model(spec, layout.shapes, "cut")
    data = {**data, "fixed": fixed}
    mode = sampling._mode(spec, layout, "cut", data, key, brand.LTL_STARTS)
    runs = {}
    for name, sampler in (("NumPyro NUTS", numpyro_nuts), ("scalinglaws WhitenedNUTS", ours)):
        started = time.perf_counter()
        runs[name] = unpad(sampler(cut_model, mode, key, chains=2, warmup=250, draws=100,
                                   coords=coords, dims=dims, **data), layout)
        rows.append(row("train-to-test (cut, stage 2)", name, runs[name],
                        time.perf_counter() - started, SETTINGS["max_tree_depth"]))
    agree["train-to-test (cut, stage 2)"] = agreement(*runs.values())

    table = pd.DataFrame(rows)
    table["max_z_between_samplers"] = table["model"].map(agree).round(2)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"\nscalinglaws on jax {jax.__version__}, {os.cpu_count()} CPU cores")


if __name__ == "__main__":
    main()
