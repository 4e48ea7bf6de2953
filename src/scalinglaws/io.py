"""Reading what the package writes: any saved fit (:func:`load`) and any spec file
(:func:`read_spec`), each dispatched on its kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._checks import check_keys, check_mapping
from .errors import ScalingLawError
from .fit import Fit, ScalingModel, read_fit
from .losstoloss import LossToLossFit, LossToLossModel, read_loss_to_loss_fit
from .netcdf import ForeignFitFile
from .spec import TOML_EXTRA_KEYS, read_toml


def load(path: str | Path) -> Fit | LossToLossFit:
    """Read a fit saved by ``save``: a :class:`~scalinglaws.Fit` or a
    :class:`~scalinglaws.losstoloss.LossToLossFit`, whichever the file holds.

    A file that is not a scalinglaws fit, was written in another file format, is
    damaged, or whose stored spec no longer matches its posterior raises a
    :class:`~scalinglaws.errors.ScalingLawError`; nothing is half-loaded. The file is
    read fully into memory and closed, so the fit can be saved over it. The sampler's
    warnings stay on ``fit.warnings`` (they are not issued again).

    >>> fit = load("fit.nc")  # doctest: +SKIP
    """
    try:
        return read_fit(path)
    except ForeignFitFile as core_error:
        try:
            return read_loss_to_loss_fit(path)
        except ForeignFitFile:
            raise ScalingLawError(str(core_error)) from None


def read_spec(path_or_text: str | Path) -> Any:
    """A spec from a TOML file (or text): a :class:`~scalinglaws.losstoloss.LossToLossModel`
    when it names a ``link``, else a :class:`ScalingModel`; other tables are ignored.

    >>> read_spec('law = "chinchilla"\\ntarget = "loss"\\n').law.name
    'chinchilla'
    >>> read_spec('law = "kaplan"\\nlink = "shifted_power"\\n').feedback
    'joint'
    """
    tables = read_toml(path_or_text)
    if "link" in tables:
        known = [*LossToLossModel.__dataclass_fields__, *TOML_EXTRA_KEYS]
        check_keys(tables, known, "loss-to-loss spec")
        for key in ("inputs", "vary", "priors", "reference", "parameterization"):
            if key in tables and not isinstance(tables[key], str):
                check_mapping(tables[key], key)
        return LossToLossModel.from_toml(tables)
    return ScalingModel.from_toml(tables)
