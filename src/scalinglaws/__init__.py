"""scalinglaws: Bayesian scaling laws for language models.

Hierarchical NumPyro models whose exponents are shared across families while offsets
vary by dataset, tokenizer or seed; NUTS on CPU or GPU; extrapolations with credible
intervals; model comparison; decisions under uncertainty.

>>> import scalinglaws as sl
>>> len(sl.laws.names()), sl.laws.names()[:2]
(7, ['broken_power', 'chinchilla'])
"""

__version__ = "0.1.0"

from . import datasets, decide, laws, synthetic, validate
from .compare import compare
from .errors import ScalingLawError, ScalingLawWarning
from .laws import Law, Param
from .priors import Prior
from .report import report
from .reproduce import reproduce
from .results import Fit, load
from .spec import ScalingModel

__all__ = [
    "Fit",
    "Law",
    "Param",
    "Prior",
    "ScalingLawError",
    "ScalingLawWarning",
    "ScalingModel",
    "compare",
    "datasets",
    "decide",
    "laws",
    "load",
    "report",
    "reproduce",
    "synthetic",
    "validate",
]
