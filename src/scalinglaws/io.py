"""Reading what the package writes: any saved fit (:func:`load`) and any spec file
(:func:`read_spec`), each dispatched on its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._checks import as_path, check_keys, check_mapping
from .errors import ScalingLawError
from .fit import Fit
from .losstoloss import LossToLossFit, LossToLossModel, read_loss_to_loss_fit
from .netcdf import ForeignFitFile, read_kind
from .scaling_model import ScalingModel, read_fit
from .spec import TOML_EXTRA_KEYS, read_toml

#: The fit types :func:`load` reads, by kind (each a :class:`~scalinglaws.protocol.FitLike`),
#: with the reader of its files. Each reader checks the file's format version and rejects
#: a file of another kind (:class:`~scalinglaws.netcdf.ForeignFitFile`).
READERS: dict[str, Callable[[str | Path], Any]] = {
    Fit.kind: read_fit,
    LossToLossFit.kind: read_loss_to_loss_fit,
}


def load(path: str | Path) -> Fit | LossToLossFit:
    """Read a fit saved by ``save``, of whichever kind the file holds (:data:`READERS`):
    a :class:`~scalinglaws.Fit` or a :class:`~scalinglaws.losstoloss.LossToLossFit`.

    A file that is not a scalinglaws fit of a known kind, was written in another file
    format, is damaged, or whose stored spec no longer matches its posterior raises a
    :class:`~scalinglaws.errors.ScalingLawError`; nothing is half-loaded. The file is
    read fully into memory and closed, so the fit can be saved over it. The sampler's
    warnings stay on ``fit.warnings`` (they are not issued again).

    >>> fit = load("fit.nc")  # doctest: +SKIP
    >>> fit.kind  # doctest: +SKIP
    'scaling_law'
    """
    path = as_path(path, "fit file")
    kind = read_kind(path)
    if kind is not None and kind not in READERS:
        raise ScalingLawError(
            f"{path} holds a fit of kind {kind!r}, which this version of scalinglaws does "
            f"not read (it reads {', '.join(map(repr, READERS))}); install the version that "
            f"wrote it")
    # files say their kind; a file that does not is tried by every reader in turn
    for name, reader in READERS.items() if kind is None else [(kind, READERS[kind])]:
        try:
            fit = reader(path)
        except ForeignFitFile:
            continue
        if fit.kind != name:  # a reader returned another type than it is registered for
            raise ScalingLawError(f"{path}: the {name!r} reader returned a fit of kind "
                                  f"{fit.kind!r}; this is a bug in scalinglaws")
        return fit
    raise ScalingLawError(
        f"{path} is not a fit written by scalinglaws (of a known kind: "
        f"{', '.join(map(repr, READERS))}); an ArviZ file is read with arviz.from_netcdf")


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
