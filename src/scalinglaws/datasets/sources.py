"""Where a table's file comes from: a local copy, the cache, a checked download or a build.

``data_dir=`` or ``$SCALINGLAWS_DATA`` (a local copy, nothing downloaded), else the cache
(``cache_dir=``, ``$SCALINGLAWS_CACHE`` or ``~/.cache/scalinglaws``), else a download from
the pinned upstream address, checked against its sha256 before it enters the cache. A
table that is a conversion (:class:`~scalinglaws.datasets.tables.Build`) downloads its
upstream files the same way (kept in ``<cache>/<study>/upstream/``), converts them and
checks the written table against the table's sha256 before it enters the cache.
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
    "build_file",
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


def _origin(st: Study, tab: Table) -> str:
    if tab.build is None:
        return f"from {st.repository}@{st.commit[:12]}"
    repos = dict.fromkeys(f"{s.repository}@{s.commit[:12]}" for s in tab.build.sources)
    return "converted from " + ", ".join(repos)


def local_hint(study: Study, tab: Table) -> str:
    kind = "the converted table" if tab.build is not None else "the file"
    return (
        f"set {DATA_ENV}=<dir> (or pass data_dir=<dir>) where <dir>/{study.name}/{tab.filename} "
        f"is a copy of {kind} (the layout of the project's shared/data)"
    )


def download_file(url: str, target: Path, expected: str, what: str, hint: str) -> None:
    """urllib to a temp file next to ``target``, check sha256, then rename into place.

    ``what`` names the file in messages; ``hint`` says how to do without the download.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as err:
        raise ScalingLawError(
            f"cannot write to the cache directory {target.parent} ({err}); set "
            f"{CACHE_ENV}=<writable dir> (or pass cache_dir=), or {hint}"
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
                f"could not download {what} from {url} ({err}). No network? Download that "
                f"file by other means and {hint} (downloads are cached in {target.parent})"
            ) from err
        got = digest.hexdigest()
        if got != expected:
            raise ScalingLawError(
                f"checksum mismatch for {url}: sha256 {got}, expected {expected}; the file "
                "was not saved. The download was corrupted or the upstream file changed: try "
                f"again, or {hint}"
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_atomic(target: Path, payload: bytes) -> None:
    """Write ``payload`` to a temp file next to ``target``, then rename into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def build_file(
    st: Study, tab: Table, target: Path, *, download: bool = True, verify: bool = True
) -> None:
    """Make the file of a conversion table ``tab`` at ``target`` (in the cache).

    Each upstream source is taken from ``<cache>/<study>/upstream/`` or downloaded there
    (checked against its sha256 either way), the converter runs on them and the table is
    written as CSV; its sha256 must be the table's pinned one (``verify=False`` keeps a
    differing result, e.g. from a pandas version that writes floats differently).
    """
    build = tab.build
    assert build is not None
    folder = target.parent

    def offline(path: Path) -> str:
        return (
            f"put it unchanged at {path} and load again (the table is converted from "
            f"{len(build.sources)} upstream file(s), each kept under {folder / 'upstream'}/"
            f"<owner>+<repo>/<path>), or {local_hint(st, tab)}"
        )

    paths: dict[str, Path] = {}
    for src in build.sources:
        path = folder / src.cache_path
        what = f"{src.path} of {src.repository}@{src.commit[:12]} (for {st.name}/{tab.filename})"
        if path.is_file():
            got = sha256(path)
            if got != src.sha256:
                raise ScalingLawError(
                    f"checksum mismatch for the cached upstream file {path}: sha256 {got}, "
                    f"expected {src.sha256}. Delete it and load again to download it afresh"
                )
        elif not download:
            raise ScalingLawError(
                f"{st.name}/{tab.filename} is not in the cache {folder.parent} and is built "
                f"from {src.url}, which is not cached either, and download=False; pass "
                f"download=True, or {offline(path)}"
            )
        else:
            download_file(src.url, path, src.sha256, what, offline(path))
        paths[src.path] = path
    try:
        frame = build.convert(paths)
        payload = frame.to_csv(
            index=False, float_format=build.float_format, lineterminator="\n"
        ).encode()
    except ScalingLawError:
        raise
    except Exception as err:  # any failure of a converter is reported alike
        raise ScalingLawError(
            f"could not convert the upstream files of {st.name}/{tab.filename} "
            f"({', '.join(s.url for s in build.sources)}): {type(err).__name__}: {err}. "
            "They passed their checksums, so the reader of this pandas/numpy version "
            f"cannot read them as the conversion expects; {local_hint(st, tab)}"
        ) from err
    got = hashlib.sha256(payload).hexdigest()
    if got != tab.sha256 and verify:
        raise ScalingLawError(
            f"the conversion of {st.name}/{tab.filename} from its checked upstream files "
            f"has sha256 {got}, expected {tab.sha256}; nothing was saved. This pandas/numpy "
            "version reads or writes the values differently from the pinned table: pass "
            f"verify=False to use the conversion as it is, or {local_hint(st, tab)}"
        )
    _write_atomic(target, payload)


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
                    if not tab.obtainable
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
                    f"pinned copy of the {st.name} table {tab.name!r}, {_origin(st, tab)}; see "
                    "the study's DATA.md). Replace it with an unchanged copy, or pass "
                    "verify=False to read a modified copy"
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
    if not tab.obtainable:
        raise ScalingLawError(
            f"table {tab.name!r} of {st.name} ({tab.filename}) cannot be downloaded: "
            f"{tab.no_download}. It needs a local copy: {local_hint(st, tab)}"
        )
    if tab.build is not None:
        build_file(st, tab, path, download=download, verify=verify)
        return path
    if not download:
        raise ScalingLawError(
            f"{st.name}/{tab.filename} is not in the cache {cache} and download=False; "
            f"pass download=True, or {local_hint(st, tab)}"
        )
    assert tab.url is not None
    download_file(tab.url, path, tab.sha256, f"{st.name}/{tab.filename}", local_hint(st, tab))
    return path

