"""scalinglaws: Bayesian scaling laws for language models."""

__version__ = "0.1.0"

from . import laws
from .errors import ScalingLawError, ScalingLawWarning
from .laws import Law, Param
from .priors import Prior

__all__ = ["Law", "Param", "Prior", "ScalingLawError", "ScalingLawWarning", "laws"]
