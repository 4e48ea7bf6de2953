"""The engine: compiled NUTS programs, batched over fits and chains, and their diagnostics.

- :mod:`.program`: one compiled program per model structure (row buckets, persistent
  compilation cache, multi-start mode search, batching and sharding);
- :mod:`.sampler`: one NUTS chain (multinomial NUTS, Stan's windowed warm-up), started
  from the Laplace approximation at the mode;
- :mod:`.linalg`: the sampler's Cholesky factors and triangular solves, one matrix per
  LAPACK call on a CPU (batched calls on several CPU devices can hang jax 0.10);
- :mod:`.nuts`: designs in, InferenceData and warnings out (:func:`run_nuts`,
  :func:`run_nuts_many`);
- :mod:`.diagnostics`: chains grouped, draws flattened, problems in plain words;
- :mod:`.convergence`: R-hat and bulk/tail ESS of many quantities as arrays (ArviZ's
  arithmetic, vectorised; on the GPU where there is one);
- :mod:`.mcmc`: the multi-start mode search and NUTS on a model closed over its layout
  (the loss-to-loss fits): the engine's, in the Laplace approximation's whitened
  coordinates, or NumPyro's for partially pooled models.
"""

from .diagnostics import (
    BFMI_MIN,
    ESS_MIN,
    RHAT_MAX,
    chains_per_group,
    dataset_convergence,
    diagnose,
    posterior_draws,
)
from .nuts import run_nuts, run_nuts_many
from .program import CACHE_ENV, Settings, cache_folder, persistent_cache, program, stack

__all__ = ["BFMI_MIN", "CACHE_ENV", "ESS_MIN", "RHAT_MAX", "Settings", "cache_folder",
           "chains_per_group", "dataset_convergence", "diagnose", "persistent_cache",
           "posterior_draws", "program", "run_nuts", "run_nuts_many", "stack"]
