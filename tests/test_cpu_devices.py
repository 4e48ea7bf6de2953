"""How a sampler shares the CPU devices when its data are large.

With two device programs running at once, jaxlib 0.10 keeps memory for each loop
iteration of an elementwise operation over more than 2^14 values until the program ends
(about 20 KB per leapfrog step: a 20,000-row fit passed 22 GB;
``benchmarks/large_fit.py``). A sampler whose share of chains on a device would span
more loops over its chains there, and one in which a single chain would span more runs
on one device (``engine.program.split_devices``).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap

from scalinglaws.engine.program import CACHE_ENV, SPLIT_LIMIT, split_devices

TWO = ["cpu:0", "cpu:1"]  # split_devices only counts and slices the devices it is given


def test_a_large_share_is_looped_over_and_a_larger_one_runs_on_one_device():
    assert split_devices(4, SPLIT_LIMIT // 2, TWO) == (TWO, False)  # 2 chains x 8,192
    assert split_devices(4, SPLIT_LIMIT // 2 + 1, TWO) == (TWO, True)
    assert split_devices(2, SPLIT_LIMIT, TWO) == (TWO, False)  # one chain per device
    assert split_devices(4, SPLIT_LIMIT + 1, TWO) == (TWO[:1], False)
    assert split_devices(4, 10**6, TWO[:1]) == (TWO[:1], False)  # one device: no limit


SCRIPT = """
    import importlib, json, warnings
    import numpy as np, pandas as pd, scalinglaws as sl
    from scalinglaws import engine
    from scalinglaws.data import make_design
    from scalinglaws.model import pad, structure_of
    program = importlib.import_module("scalinglaws.engine.program")
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    sweep = sl.synthetic.sweep(seed=0)

    large = pd.concat([sl.synthetic.sweep(seed=s) for s in range(100)], ignore_index=True)

    def sampler(frame, depth):
        design = make_design(model, frame)
        structure = structure_of([design])
        settings = engine.Settings(chains=4, draws=150, max_tree_depth=depth,
                                   dense_mass=True, n_starts=32)
        return engine.program(model, structure, settings, pad(design, structure))._chain

    def fit(depth):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawWarning)
            summary = model.fit(sweep, seed=0, chains=4, warmup=150, draws=150,
                                max_tree_depth=depth, progress=False).summary()
        return {k: summary.loc[k, ["mean", "sd", "ess_bulk"]].tolist()
                for k in ("alpha", "beta", "E")}

    out = {"demo": sampler(sweep, 10).looped, "large": sampler(large, 10).looped,
           "vectorised": fit(10)}
    program.SPLIT_LIMIT = 96  # the demo's 96 padded rows, 2 chains per device: looped
    out["looped"] = fit(9)  # another program (another tree depth), built under the limit
    out["demo_under_limit"] = sampler(sweep, 9).looped
    print(json.dumps(out))
"""


def test_looped_chains_sample_the_posterior_the_vectorised_ones_do():
    options = importlib.import_module("scalinglaws.engine.program").SAMPLER_CPU_OPTIONS
    prelude = ("import importlib\nimportlib.import_module('scalinglaws.engine.program')"
               f".SAMPLER_CPU_OPTIONS = {options!r}\n")
    env = {**os.environ, "SCALINGLAWS_CPU_DEVICES": "2", CACHE_ENV: "off"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(SCRIPT)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (out["demo"], out["large"], out["demo_under_limit"]) == (False, True, True)
    for name in ("alpha", "beta", "E"):
        (m1, s1, e1), (m2, s2, e2) = out["looped"][name], out["vectorised"][name]
        mcse = (s1**2 / e1 + s2**2 / e2) ** 0.5
        assert abs(m1 - m2) < 4 * mcse, (name, m1, m2, mcse)
