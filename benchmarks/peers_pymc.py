"""The peers of ``benchmarks/speed.py``: the demo model in PyMC, sampled by nutpie and by
PyMC's default NUTS.

Runs in the peers' own environment (see ``speed.py``'s docstring), never in the
package's: it imports PyMC, PyTensor and nutpie, and not scalinglaws. ``speed.py`` writes
the problem as JSON (data already on the likelihood scale, the reference point, and per
parameter its constraint, prior, factor, group-sd prior and centring, all read from the
ScalingModel) and reads back one JSON result per sampler::

    python benchmarks/peers_pymc.py problem.json result.json

Each result has the wall time from building the PyMC model to having the draws
(compilation included, imports excluded), the divergences, and per reported quantity
(``alpha``, ``E_dataset[web]``, ...) the posterior mean, sd, MCSE of the mean and bulk ESS,
computed by :func:`posterior_stats`, the same function ``speed.py`` applies to ours.
"""

from __future__ import annotations

import json
import sys
import time

import arviz as az
import numpy as np

#: scalinglaws' Prior names -> (PyMC class, argument renames). A prior not listed here
#: fails loudly: the comparison is void unless both sides have the same prior.
PRIOR_MAP: dict[str, tuple[str, dict[str, str]]] = {
    "Normal": ("Normal", {"loc": "mu", "scale": "sigma"}),
    "LogNormal": ("LogNormal", {"loc": "mu", "scale": "sigma"}),
    "HalfNormal": ("HalfNormal", {"scale": "sigma"}),
    "HalfCauchy": ("HalfCauchy", {"scale": "beta"}),
    "StudentT": ("StudentT", {"df": "nu", "loc": "mu", "scale": "sigma"}),
    "Cauchy": ("Cauchy", {"loc": "alpha", "scale": "beta"}),
    "Exponential": ("Exponential", {"rate": "lam"}),
    "Gamma": ("Gamma", {"concentration": "alpha", "rate": "beta"}),
    "InverseGamma": ("InverseGamma", {"concentration": "alpha", "rate": "beta"}),
    "Beta": ("Beta", {"concentration1": "alpha", "concentration0": "beta"}),
    "Uniform": ("Uniform", {"low": "lower", "high": "upper"}),
    "TruncatedNormal": ("TruncatedNormal", {"loc": "mu", "scale": "sigma", "low": "lower",
                                            "high": "upper"}),
}


def posterior_stats(posterior, names: list[str]) -> dict[str, dict[str, float]]:
    """Mean, sd, MCSE of the mean and bulk ESS of every entry of ``names`` in an ArviZ
    posterior, keyed like ArviZ's summary (``alpha``, ``E_dataset[web]``)."""
    table = az.summary(posterior, var_names=names, kind="all", round_to="none")
    return {str(label): {"mean": float(row["mean"]), "sd": float(row["sd"]),
                         "mcse": float(row["mcse_mean"]), "ess_bulk": float(row["ess_bulk"])}
            for label, row in table.iterrows()}


def pymc_prior(name: str, prior: dict, **kwargs):
    """The PyMC distribution of a scalinglaws Prior dict (``{"name": ..., <arg>: v}``)."""
    import pymc as pm

    if prior["name"] not in PRIOR_MAP:
        raise SystemExit(f"peers_pymc: no PyMC translation of prior {prior!r} for {name}; "
                         f"the peer model would not be the same model")
    cls, renames = PRIOR_MAP[prior["name"]]
    args = {renames[k]: float(v) for k, v in prior.items() if k != "name"}
    return getattr(pm, cls)(name, **args, **kwargs)


def _to_unconstrained(constraint: str, x):
    import pytensor.tensor as pt

    if constraint == "positive":
        return pt.log(x)
    if constraint == "unit":
        return pt.log(x) - pt.log1p(-x)
    return x


def _from_unconstrained(constraint: str, u):
    import pytensor.tensor as pt

    if constraint == "positive":
        return pt.exp(u)
    if constraint == "unit":
        return pt.sigmoid(u)
    return u


def build_model(problem: dict):
    """The PyMC model of ``problem``: the hierarchical Chinchilla law, partial pooling on
    each parameter's unconstrained scale (centred or non-centred as the spec says),
    reference-scale coefficients and Normal noise on log loss."""
    import pymc as pm
    import pytensor.tensor as pt

    if problem["law"] != "chinchilla":
        raise SystemExit(f"peers_pymc: only the chinchilla law is written in PyMC, got "
                         f"{problem['law']!r}")
    factors = problem["factors"]
    coords = {f: list(v["levels"]) for f, v in factors.items()}
    log_n, log_d = np.asarray(problem["logN"]), np.asarray(problem["logD"])
    ref = problem["log_reference"]
    with pm.Model(coords=coords) as model:
        rows = {}
        for name, p in problem["params"].items():
            sampled = p["sampled_name"]
            population = pymc_prior(sampled, p["prior"])
            u = _to_unconstrained(p["constraint"], population)
            factor = p["factor"]
            if factor is not None:
                codes = np.asarray(factors[factor]["codes"])
                sd = pymc_prior(f"{name}_sd_{factor}", p["sd_prior"])
                if p["centred"]:
                    offset = pm.Normal(f"{name}_offset_{factor}", 0.0, sd, dims=factor)
                else:
                    z = pm.Normal(f"{name}_z_{factor}", 0.0, 1.0, dims=factor)
                    offset = sd * z
                pm.Deterministic(f"{sampled}_{factor}",
                                 _from_unconstrained(p["constraint"], u + offset), dims=factor)
                u = u + offset[codes]
            rows[name] = _from_unconstrained(p["constraint"], u)
        alpha, beta = rows["alpha"], rows["beta"]
        log_a = pt.log(rows["A"]) + alpha * (ref["N"] - log_n)  # A_ref at the reference N
        log_b = pt.log(rows["B"]) + beta * (ref["D"] - log_d)
        mu = pt.logaddexp(pt.logaddexp(pt.log(rows["E"]), log_a), log_b)
        sigma = pymc_prior("sigma", problem["sigma_prior"])
        pm.Normal("y", mu, sigma, observed=np.asarray(problem["y"]))
    return model


def run(problem: dict, method: str) -> dict:
    """Build, compile and sample with ``method`` (``"nutpie"`` or ``"pymc"``)."""
    import pymc as pm

    started = time.perf_counter()
    model = build_model(problem)
    chains, warmup, draws = problem["chains"], problem["warmup"], problem["draws"]
    if method == "nutpie":
        import nutpie

        compiled = nutpie.compile_pymc_model(model)
        compiled_s = time.perf_counter() - started
        idata = nutpie.sample(compiled, chains=chains, tune=warmup, draws=draws,
                              seed=problem["seed"], progress_bar=False)
    elif method == "pymc":
        compiled_s = float("nan")  # pm.sample compiles inside
        with model:
            idata = pm.sample(draws=draws, tune=warmup, chains=chains,
                              random_seed=problem["seed"], progressbar=False,
                              compute_convergence_checks=False)
    else:
        raise SystemExit(f"peers_pymc: unknown method {method!r}")
    seconds = time.perf_counter() - started
    stats = idata.sample_stats
    divergent = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else -1
    return {"method": method, "seconds": seconds, "compile_seconds": compiled_s,
            "divergences": divergent,
            "stats": posterior_stats(idata.posterior, problem["report"])}


def versions() -> dict[str, str]:
    import nutpie
    import pymc
    import pytensor

    return {"pymc": pymc.__version__, "nutpie": nutpie.__version__,
            "pytensor": pytensor.__version__, "arviz (peers)": az.__version__}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--versions":
        print(json.dumps(versions()))
        return 0
    if len(argv) != 2:
        raise SystemExit("usage: peers_pymc.py problem.json result.json | --versions")
    with open(argv[0]) as handle:
        problem = json.load(handle)
    results = [run(problem, method) for method in problem["methods"]]
    with open(argv[1], "w") as handle:
        json.dump({"results": results, "versions": versions()}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
