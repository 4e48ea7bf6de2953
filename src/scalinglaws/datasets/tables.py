"""What a study and its tables are, and the standard columns a loaded table gets.

:class:`Study` (upstream repository, pinned commit, license) holds :class:`Table` s (file,
rows, sha256, download address, the :class:`Build` recipe that converts upstream files into
the table, or why there is neither, and the function that derives the standard columns);
the helpers here are shared by the study modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ScalingLawError

__all__ = [
    "SCALE",
    "STANDARD_COLUMNS",
    "Build",
    "Converter",
    "Source",
    "Standardizer",
    "Study",
    "Table",
    "positive",
    "raw_url",
    "scale_columns",
    "standardize_nothing",
    "standardized",
]

#: The standard columns, in the order they lead a loaded table.
STANDARD_COLUMNS: tuple[str, ...] = (
    "run",
    "family",
    "dataset",
    "architecture",
    "tokenizer",
    "seed",
    "N",
    "D",
    "C",
    "M",
    "tokens_seen",
)

#: The scale columns, in order.
SCALE = ("N", "D", "C", "M")

Standardizer = Callable[[pd.DataFrame, Callable[[str], pd.DataFrame]], dict[str, Any]]

#: ``f({source path: local file}) -> table``: turns checked upstream files into a table.
Converter = Callable[[Mapping[str, Path]], pd.DataFrame]


def raw_url(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


@dataclass(frozen=True)
class Source:
    """One upstream file, pinned: repository, commit, path in the repository and sha256."""

    repository: str
    commit: str
    path: str
    sha256: str

    @property
    def url(self) -> str:
        """``raw.githubusercontent.com`` address of the file at the pinned commit."""
        return raw_url(self.repository, self.commit, self.path)

    @property
    def cache_path(self) -> str:
        """Where the file is kept under ``<cache>/<study>/``."""
        return f"upstream/{self.repository.replace('/', '+')}/{self.path}"


@dataclass(frozen=True)
class Build:
    """How a table is made from upstream files: the pinned sources and the converter.

    The converter gets ``{source.path: local file}`` (each file checked against its sha256)
    and returns the table; it is written as CSV with ``float_format``, and the bytes
    written are those of the table's pinned sha256.
    """

    sources: tuple[Source, ...]
    convert: Converter = field(repr=False, compare=False)
    float_format: str = "%.10g"

    def __post_init__(self) -> None:
        paths = [s.path for s in self.sources]
        if not paths or len(set(paths)) != len(paths):
            raise ValueError(f"a Build needs sources with distinct paths, got {paths}")


@dataclass(frozen=True)
class Table:
    """One table of a study: its file in the local layout and where it comes from.

    Parameters
    ----------
    name : str
        Table name passed to :func:`load` (``table=``).
    filename : str
        File name inside ``<data dir>/<study>/``.
    rows : int
        Number of rows of the pinned file.
    description : str
        One line on what a row is.
    standard : tuple of str
        The standard columns a loaded table has (added, or original under that name).
    sha256 : str
        Checksum of the file in the local layout (for a downloadable table, also of the
        upstream file).
    url : str or None
        ``raw.githubusercontent.com`` address of the unchanged upstream file at the pinned
        commit; None when the table is a conversion.
    no_download : str
        Why the table can be neither downloaded nor built (empty when it can).
    standardize : callable, optional
        ``f(raw, read) -> {standard column: values}``; ``read(table)`` gives another table
        of the same study as read from its file (gadre2024 ``downstream`` joins ``runs``).
    build : Build, optional
        For a conversion: the upstream files it is made from and the converter. The
        result is cached like a download and checked against ``sha256``.
    """

    name: str
    filename: str
    rows: int
    description: str
    standard: tuple[str, ...]
    sha256: str
    url: str | None = None
    no_download: str = ""
    standardize: Standardizer | None = field(default=None, repr=False, compare=False)
    build: Build | None = field(default=None, repr=False, compare=False)

    @property
    def obtainable(self) -> bool:
        """Whether the table can be had without a local copy (downloaded or built)."""
        return self.url is not None or self.build is not None


@dataclass(frozen=True)
class Study:
    """A study: its upstream repository, pinned commit, license and tables.

    The first table is the default one.
    """

    name: str
    title: str
    repository: str
    commit: str
    license: str
    tables: tuple[Table, ...]

    @property
    def default(self) -> str:
        """Name of the default table."""
        return self.tables[0].name

    def table(self, name: str | None) -> Table:
        """The table called ``name`` (the default one for None)."""
        if name is None:
            return self.tables[0]
        if not isinstance(name, str):
            raise ScalingLawError(f"table must be a table's name (text) or None, got "
                                  f"{type(name).__name__} {name!r}"[:200])
        for tab in self.tables:
            if tab.name == name:
                return tab
        names = ", ".join(
            f"{t.name!r} (default)" if i == 0 else repr(t.name) for i, t in enumerate(self.tables)
        )
        raise ScalingLawError(
            f"unknown table {name!r} for study {self.name!r}; its tables are {names}"
        )


def positive(values: Any) -> pd.Series:
    """float64 copy with NaN where the value is missing, non-numeric or not positive."""
    out = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
    return out.where(out > 0)


def scale_columns(n: Any, d: Any) -> dict[str, pd.Series]:
    """N, D, C = 6ND and M = D/N (float64, NaN where N or D is unknown or not positive)."""
    big_n, big_d = positive(n), positive(d)
    return {"N": big_n, "D": big_d, "C": 6.0 * big_n * big_d, "M": big_d / big_n}


def standardize_nothing(_df: pd.DataFrame, _read: Callable[[str], pd.DataFrame]) -> dict[str, Any]:
    return {}


def standardized(
    tab: Table, raw: pd.DataFrame, read: Callable[[str], pd.DataFrame]
) -> pd.DataFrame:
    """Standard columns first (added only where no original has the name), then the rest.

    An original numeric column named ``N``, ``D``, ``C`` or ``M`` that the table
    standardizes is kept as float64 with NaN where not positive, like the added ones
    (integers are exact in float64 below 2**53, and ``6 * N * D`` cannot overflow).
    """
    added = tab.standardize(raw, read) if tab.standardize is not None else {}
    out = raw.copy()
    for name in SCALE:
        if (name in out.columns and name in tab.standard
                and pd.api.types.is_numeric_dtype(out[name])
                and not pd.api.types.is_bool_dtype(out[name])):
            out[name] = positive(out[name])
    for name in STANDARD_COLUMNS:
        if name in added and name not in out.columns:
            value = added[name]
            if isinstance(value, pd.Series):
                value = value.set_axis(out.index)
            out[name] = value
    front = [c for c in STANDARD_COLUMNS if c in out.columns and c in tab.standard]
    return out[front + [c for c in out.columns if c not in front]]

