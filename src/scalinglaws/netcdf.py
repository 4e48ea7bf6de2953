"""A fit's netCDF file: written atomically with its format, version and fingerprint, and
read back whole and checked.

Every fit type saves through :func:`write_fit_file` and reads through
:func:`read_fit_file`; :func:`scalinglaws.load` dispatches on the file's kind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import arviz as az
import xarray as xr

from ._checks import as_path, write_atomic
from ._version import __version__
from .errors import ScalingLawError


def fingerprint(idata: az.InferenceData, attrs: Mapping) -> str:
    """A hash of a fit file's specs (every ``*_spec`` attribute, as parsed JSON) and of
    its posterior's variable names, dimensions and shapes.

    :func:`write_fit_file` stores it; :func:`read_fit_file` rejects a file whose spec or
    posterior no longer gives the stored value (edited after it was saved).

    >>> import numpy as np
    >>> idata = az.from_dict(posterior={"alpha": np.zeros((2, 10))})
    >>> a = fingerprint(idata, {"scalinglaws_spec": '{"law": "chinchilla"}'})
    >>> a == fingerprint(idata, {"scalinglaws_spec": '{"law": "kaplan"}'})
    False
    >>> len(a)
    64
    """
    specs = {k: json.loads(v) for k, v in sorted(attrs.items()) if k.endswith("_spec")}
    post = idata.posterior
    shapes = {name: [list(post[name].dims), list(post[name].shape)]
              for name in sorted(post.data_vars)}
    text = json.dumps({"specs": specs, "posterior": shapes}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


#: The file names a fit may be saved under: netCDF's own suffixes and HDF5's (a fit file
#: is netCDF-4, which is HDF5).
FIT_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf", ".h5", ".hdf5")


def check_fit_name(path) -> Path:
    """``path`` as a Path, after checking that its name is a netCDF file's
    (:data:`FIT_SUFFIXES`): a fit saved as ``fit.csv`` would be netCDF all the same.
    A folder passes (writing there says it is one).

    >>> check_fit_name("posterior.csv")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: fit file 'posterior.csv': a fit is saved as \
netCDF, so its name should end in .nc (or .nc4, .netcdf, .cdf, .h5, .hdf5); for a \
table, write fit.summary() or a DataFrame of fit.draws() with pandas
    """
    path = as_path(path, "fit file")
    if path.suffix.lower() not in FIT_SUFFIXES and not path.is_dir():
        raise ScalingLawError(
            f"fit file {str(path)!r}: a fit is saved as netCDF, so its name should end in "
            f"{FIT_SUFFIXES[0]} (or {', '.join(FIT_SUFFIXES[1:])}); for a table, write "
            f"fit.summary() or a DataFrame of fit.draws() with pandas")
    return path


def write_fit_file(idata: az.InferenceData, path: str | Path, attrs: dict) -> Path:
    """Write a copy of ``idata`` to netCDF with ``attrs`` (the package version and a
    :func:`fingerprint`) on its posterior; the caller's InferenceData is not changed.

    ``path`` must end in one of :data:`FIT_SUFFIXES` (:func:`check_fit_name`). The file
    is written beside it and renamed onto it, so a failure never leaves half a file and
    an existing file survives it.
    """
    path = check_fit_name(path)
    idata = idata.copy()
    idata.posterior.attrs.update(attrs, scalinglaws_version=__version__,
                                 scalinglaws_fingerprint=fingerprint(idata, attrs))
    return write_atomic(path, lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"),
                        "fit file")


def read_kind(path: Path) -> str | None:
    """The kind of fit a file says it holds (its ``scalinglaws_kind`` attribute), read
    without loading the posterior; None when the file does not say or cannot be read
    (the kind's reader then tells which).
    """
    try:
        with xr.open_dataset(str(path), group="posterior", engine="h5netcdf") as posterior:
            kind = posterior.attrs.get("scalinglaws_kind")
    except Exception:  # noqa: BLE001 - unreadable here: the reader reports it in full
        return None
    return kind if isinstance(kind, str) else None


class ForeignFitFile(ScalingLawError):
    """A readable fit file of another kind (raised by :func:`read_fit_file`)."""


def read_fit_file(path: Path, format_key: str, expected: int, kind: str,
                  instead: str) -> tuple[az.InferenceData, dict]:
    """The InferenceData of a netCDF fit file, fully read, and its posterior's attributes.

    ``format_key`` is the attribute holding the file format, which must equal
    ``expected``; ``kind`` names the fit (``"a core fit (Fit.save)"``) and ``instead``
    says how to read a file of another kind. A missing, unreadable or foreign file, or
    one in another format, raises a :class:`~scalinglaws.errors.ScalingLawError`; a
    readable fit of another kind, the subclass :class:`ForeignFitFile`.
    """
    if not path.exists():
        raise ScalingLawError(f"no fit file at {path}")
    if path.is_dir():
        raise ScalingLawError(f"{path} is a folder, not a fit file")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
        idata.load()
        for group in idata.groups():  # all in memory now: let the file be written again
            getattr(idata, group).close()
        attrs = dict(idata.posterior.attrs)
    except Exception as err:  # noqa: BLE001 - any reader failure means a damaged file
        raise ScalingLawError(f"{path} is not a readable netCDF fit file ({err}); it may be "
                              f"damaged or truncated: save the fit again") from None
    if format_key not in attrs:
        raise ForeignFitFile(f"{path} is not {kind}; {instead}")
    try:
        version = int(attrs[format_key])
    except (TypeError, ValueError):
        version = attrs[format_key]
    if version != expected:
        raise ScalingLawError(
            f"{path} is {kind} written by scalinglaws {attrs.get('scalinglaws_version')} in "
            f"file format {attrs[format_key]}; this version reads format {expected}. Refit "
            f"with this version, or install the version that wrote it"
        )
    if "scalinglaws_fingerprint" in attrs:
        try:
            stored_ok = fingerprint(idata, attrs) == attrs["scalinglaws_fingerprint"]
        except (TypeError, ValueError):  # a spec attribute that is not JSON
            stored_ok = False
        if not stored_ok:
            raise ScalingLawError(
                f"{path}: the model spec stored in the file no longer matches its posterior "
                f"(the file was changed after it was saved, e.g. its law, scale or vary); "
                f"refit the model and save it again, or restore the original file")
    return idata, attrs
