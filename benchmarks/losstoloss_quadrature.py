"""Loss-to-loss quadrature away from the posterior: the marginal likelihood's potential
energy under several Gauss-Hermite rules (nodes, Newton steps), at the mode search's
random starts on Brandfonbrener's sweep.

The latent input losses are integrated out by adaptive Gauss-Hermite quadrature
(`losstoloss.model.marginal`, `QUADRATURE_NODES` nodes centred by `NEWTON_STEPS` Newton
steps). The tests compare it with brute-force integration at parameters near the data's;
this script asks how it behaves where the mode search starts (NumPyro's
`init_to_uniform(radius=2)`, 64 starts, seed 0) and 5% of the way from each start to the
best one. For each rule it prints the potential's difference from the 32-node,
40-step rule (median, min and max over the starts) and which start is best.

    SCALINGLAWS_DATA=../shared/data python benchmarks/losstoloss_quadrature.py
"""

from __future__ import annotations

import os

import jax
import numpy as np
from numpyro.infer import init_to_uniform
from numpyro.infer.util import initialize_model

import scalinglaws.losstoloss.model as ltl_model
from scalinglaws import losstoloss as ltl
from scalinglaws._precision import enable_x64
from scalinglaws.reproduce import brandfonbrener2025 as brand

RULES = [(32, 40), (16, 12), (16, 40), (32, 12), (64, 80)]
STARTS = 64


def potentials(spec, layout, nodes: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The potential at the starts and at the points 5% of the way to the best start."""
    ltl_model.QUADRATURE_NODES, ltl_model.NEWTON_STEPS = nodes, steps
    model = ltl_model.build(spec, layout.shapes, "marginal")
    keys = jax.random.split(jax.random.PRNGKey(0), STARTS)
    info = initialize_model(keys, model, model_kwargs={"arrays": layout.arrays(spec)},
                            init_strategy=init_to_uniform(radius=2.0))
    potential = jax.jit(jax.vmap(info.potential_fn))
    starts = info.param_info.z
    at_starts = np.asarray(potential(starts))
    best = int(np.nanargmin(at_starts))
    near = jax.tree_util.tree_map(lambda a: a[best] + 0.05 * (a - a[best]), starts)
    return at_starts, np.asarray(potential(near))


def main() -> None:
    enable_x64()
    sweep, _, _ = brand._brandfonbrener_data(os.environ.get("SCALINGLAWS_DATA"))
    source = sorted(sweep["dataset"].unique())[0]
    tasks = [brand.TASK_COLUMN.format(t) for t in brand.BRANDFONBRENER_TASKS]
    settings = {"train_to_train": ltl.pair_train_to_train(sweep, x=source),
                "train_to_test": ltl.pair_train_to_test(sweep, tasks, datasets=source)}
    saved = ltl_model.QUADRATURE_NODES, ltl_model.NEWTON_STEPS
    try:
        for setting, pairs in settings.items():
            spec = brand.brandfonbrener_model(setting)
            layout = ltl.layout.Layout.build(spec, pairs)
            values = {rule: potentials(spec, layout, *rule) for rule in RULES}
            ref_starts, ref_near = values[RULES[0]]
            print(f"{setting} from {source} ({len(layout.xruns)} latent input losses); "
                  f"potential minus the {RULES[0][0]}-node, {RULES[0][1]}-step rule's")
            for (nodes, steps), (at_starts, near) in values.items():
                d, e = at_starts - ref_starts, near - ref_near
                print(f"  {nodes:>2} nodes, {steps:>2} steps: starts median {np.median(d):+.1e}"
                      f" min {d.min():+.1e} max {d.max():+.1e}; near the best start min "
                      f"{e.min():+.1e} max {e.max():+.1e}; best start "
                      f"{int(np.nanargmin(at_starts))}")
    finally:
        ltl_model.QUADRATURE_NODES, ltl_model.NEWTON_STEPS = saved


if __name__ == "__main__":
    main()
