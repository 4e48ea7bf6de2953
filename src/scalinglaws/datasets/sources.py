"""Where a table's file comes from: a local copy, the cache or a checked download.

``data_dir=`` or ``$SCALINGLAWS_DATA`` (a local copy, nothing downloaded), else the cache
(``cache_dir=``, ``$SCALINGLAWS_CACHE`` or ``~/.cache/scalinglaws``), else a download from
the pinned upstream address, checked against its sha256 before it enters the cache.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from ..errors import ScalingLawError
from .tables import Study, Table

__all__ = [
    "CACHE_ENV",
    "DATA_ENV",
    "cache_dir",
    "cache_root",
    "download_file",
    "fetch_file",
    "local_hint",
    "sha256",
]

DATA_ENV = "SCALINGLAWS_DATA"
CACHE_ENV = "SCALINGLAWS_CACHE"
_TIMEOUT_S = 60.0
_CHUNK = 1 << 16


def cache_root(path: str | os.PathLike[str] | None) -> Path:
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "scalinglaws"


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The download cache directory.

    Parameters
    ----------
    path : path-like, optional
        An explicit directory; returned as is.

    Returns
    -------
    pathlib.Path
        ``path``, else ``$SCALINGLAWS_CACHE``, else ``~/.cache/scalinglaws``. Not created.

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.cache_dir("/tmp/sl-cache").as_posix()
    '/tmp/sl-cache'
    """
    return cache_root(path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_hint(study: Study, tab: Table) -> str:
    return (
        f"set {DATA_ENV}=<dir> (or pass data_dir=<dir>) where <dir>/{study.name}/{tab.filename} "
        "is a copy of the file (the layout of the project's shared/data)"
    )


def download_file(url: str, target: Path, expected: str, study: Study, tab: Table) -> None:
    """urllib to a temp file next to ``target``, check sha256, then rename into place."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as err:
        raise ScalingLawError(
            f"cannot write to the cache directory {target.parent} ({err}); set "
            f"{CACHE_ENV}=<writable dir> (or pass cache_dir=), or {local_hint(study, tab)}"
        ) from err
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "scalinglaws"})
        try:
            with (
                os.fdopen(fd, "wb") as out,
                urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response,
            ):
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as err:
            raise ScalingLawError(
                f"could not download {study.name}/{tab.filename} from {url} ({err}). "
                f"No network? Download that file by other means and {local_hint(study, tab)} "
                f"(downloads are cached in {target.parent})"
            ) from err
        got = digest.hexdigest()
        if got != expected:
            raise ScalingLawError(
                f"checksum mismatch for {url}: sha256 {got}, expected {expected}; the file "
                "was not saved. The download was corrupted or the upstream file changed: try "
                f"again, or {local_hint(study, tab)}"
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()



def fetch_file(
    st: Study,
    tab: Table,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
) -> Path:
    """Path of the file of table ``tab`` of study ``st``: :func:`scalinglaws.datasets.fetch`
    once the names are resolved."""
    local = data_dir if data_dir is not None else os.environ.get(DATA_ENV, "").strip() or None
    if local is not None:
        source = "data_dir" if data_dir is not None else f"${DATA_ENV}"
        path = Path(local).expanduser() / st.name / tab.filename
        if not path.is_file():
            raise ScalingLawError(
                f"data file {path} is missing: {source}={local} must hold {st.name}/"
                f"{tab.filename} (the layout of the project's shared/data). Put the file "
                f"there or point {source} at the right directory"
                + (
                    f"; this table cannot be downloaded: {tab.no_download}"
                    if tab.url is None
                    else (
                        f", or leave data_dir out and {DATA_ENV} unset to download it"
                        if data_dir is not None
                        else f", or unset {DATA_ENV} to download it"
                    )
                )
            )
        if verify:
            got = sha256(path)
            if got != tab.sha256:
                raise ScalingLawError(
                    f"checksum mismatch for {path}: sha256 {got}, expected {tab.sha256} (the "
                    f"pinned copy of the {st.name} table {tab.name!r}, from {st.repository}@"
                    f"{st.commit[:12]}; see the study's DATA.md). Replace it with an unchanged "
                    "copy, or pass verify=False to read a modified copy"
                )
        return path

    cache = cache_root(cache_dir)
    path = cache / st.name / tab.filename
    if path.is_file():
        if verify:
            got = sha256(path)
            if got != tab.sha256:
                raise ScalingLawError(
                    f"checksum mismatch for the cached file {path}: sha256 {got}, expected "
                    f"{tab.sha256}. Delete it and load again to download it afresh"
                )
        return path
    if tab.url is None:
        raise ScalingLawError(
            f"table {tab.name!r} of {st.name} ({tab.filename}) cannot be downloaded: "
            f"{tab.no_download}. It needs a local copy: {local_hint(st, tab)}"
        )
    if not download:
        raise ScalingLawError(
            f"{st.name}/{tab.filename} is not in the cache {cache} and download=False; "
            f"pass download=True, or {local_hint(st, tab)}"
        )
    download_file(tab.url, path, tab.sha256, st, tab)
    return path

