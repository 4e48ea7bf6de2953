"""scalinglaws: Bayesian scaling laws for language models.

Hierarchical NumPyro models whose exponents are shared across families while offsets
vary by dataset, tokenizer or seed; NUTS on CPU or GPU; extrapolations with credible
intervals; model comparison; decisions under uncertainty.

>>> import scalinglaws as sl
>>> len(sl.laws.names()), sl.laws.names()[:2]
(15, ['broken_power', 'chinchilla'])
"""

import warnings as _warnings

from ._devices import use_cpu_cores as _use_cpu_cores
from ._version import __version__  # noqa: E402, F401

_use_cpu_cores()  # one CPU device per core, before anything below starts JAX

with _warnings.catch_warnings():  # ArviZ < 1 announces its next major version at import
    _warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                             category=FutureWarning)
    import arviz as _arviz  # noqa: F401

from . import datasets, decide, laws, synthetic, validate  # noqa: E402
from .compare import Stack, compare, stacked_draws, stacked_predict  # noqa: E402
from .errors import ScalingLawError, ScalingLawWarning  # noqa: E402
from .fit import Fit  # noqa: E402
from .io import load, read_spec  # noqa: E402
from .laws import Law, Param  # noqa: E402
from .priors import Prior  # noqa: E402
from .report import report  # noqa: E402
from .reproduce import reproduce  # noqa: E402
from .scaling_model import ScalingModel  # noqa: E402

__all__ = [
    "Fit",
    "Law",
    "Param",
    "Prior",
    "ScalingLawError",
    "ScalingLawWarning",
    "ScalingModel",
    "Stack",
    "compare",
    "datasets",
    "decide",
    "laws",
    "load",
    "read_spec",
    "report",
    "reproduce",
    "stacked_draws",
    "stacked_predict",
    "synthetic",
    "validate",
]
