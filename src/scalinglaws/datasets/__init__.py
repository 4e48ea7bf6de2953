"""Public scaling-law datasets of the four reference studies, as tidy DataFrames.

:func:`load` returns one table of one study with the package's standard columns added
(``N``, ``D``, ``C = 6ND``, ``M = D/N``, ``dataset``, ``family``, ``architecture``,
``tokenizer``, ``seed``, ``run``, ``tokens_seen``: each one only where the data supports
it) next to **all** the original columns, which keep their names.

Where the files come from, in this order:

1. ``data_dir=`` or the environment variable ``SCALINGLAWS_DATA``: a local directory
   with the layout ``<dir>/<study>/<file>`` (the layout of the project's
   ``shared/data``). Nothing is downloaded.
2. The cache directory (``cache_dir=``, else ``SCALINGLAWS_CACHE``, else
   ``~/.cache/scalinglaws``), same layout.
3. A download from the upstream repository at the pinned commit, checked against its
   sha256 before it is moved into the cache. A table that is an unchanged upstream file
   is downloaded as is; a table that is a conversion the package implements
   (datablations2023, the isoFLOP sweeps) is built: its upstream files are downloaded
   into ``<cache>/<study>/upstream/`` (each checked against its sha256), converted, and
   the table written is checked against its own sha256 before it enters the cache. The
   other conversions (flattened JSON, the output of a study's own loaders) need a local
   copy: :func:`catalog` says which.

Every file is checked against the sha256 pinned here (``verify=False`` reads a modified
local copy). A missing file, a wrong checksum, a table that cannot be downloaded or a
failed download or conversion each raise a :class:`~scalinglaws.errors.ScalingLawError`
that names the file and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .._checks import check_flag
from ..errors import ScalingLawError
from . import (
    brandfonbrener2025,
    datablations2023,
    gadre2024,
    hitchhiker2024,
    isoflop,
    llm_line2025,
)
from .sources import CACHE_ENV as CACHE_ENV
from .sources import DATA_ENV as DATA_ENV
from .sources import cache_dir, fetch_file
from .tables import STANDARD_COLUMNS, Study, standardized

__all__ = [
    "STANDARD_COLUMNS",
    "STUDIES",
    "cache_dir",
    "catalog",
    "fetch",
    "list_tables",
    "load",
    "studies",
]

#: The registry: every study, in the order of the project's STUDIES page.
_STUDY_LIST: tuple[Study, ...] = (
    gadre2024.STUDY,
    brandfonbrener2025.STUDY,
    llm_line2025.STUDY,
    hitchhiker2024.STUDY,
    datablations2023.STUDY,
    isoflop.STUDY,
)

#: The registry: each study by name (its pinned source, tables and cleaning).
STUDIES: dict[str, Study] = {s.name: s for s in _STUDY_LIST}


def studies() -> list[str]:
    """Names of the studies whose data :func:`load` reads.

    Returns
    -------
    list of str
        Study names, in the order of the project's STUDIES page.

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.studies()  # doctest: +NORMALIZE_WHITESPACE
    ['gadre2024', 'brandfonbrener2025', 'llm_line2025', 'hitchhiker2024',
     'datablations2023', 'isoflop']
    """
    return list(STUDIES)


def _study(name: str) -> Study:
    if not isinstance(name, str) or name not in STUDIES:
        raise ScalingLawError(
            f"unknown study {name!r}; the studies are {', '.join(map(repr, STUDIES))}"
        )
    return STUDIES[name]


def list_tables(study: str) -> list[str]:
    """Names of a study's tables, the default one first.

    Parameters
    ----------
    study : str
        One of :func:`studies`.

    Returns
    -------
    list of str

    Raises
    ------
    ScalingLawError
        For an unknown study (the message lists the valid ones).

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.list_tables("brandfonbrener2025")
    ['sweep', 'extrapolation', 'opt_params']
    >>> datasets.list_tables("hitchhiker2024")[0]
    'checkpoints'
    """
    return [t.name for t in _study(study).tables]


def catalog() -> pd.DataFrame:
    """Every table of every study: file, rows, standard columns and whether it downloads.

    Returns
    -------
    pandas.DataFrame
        One row per (study, table) with columns ``study``, ``table``, ``default``,
        ``file``, ``rows``, ``standard_columns``, ``downloadable`` (downloaded as is, or
        built from upstream files), ``url`` (of an unchanged upstream file), ``sources``
        (the upstream files a built table is converted from, space-separated URLs),
        ``sha256``, ``license``, ``description`` and ``no_download`` (why not, when it
        cannot).

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> cat = datasets.catalog()
    >>> cat.loc[cat["downloadable"], ["study", "table"]].to_numpy().tolist()
    ... # doctest: +NORMALIZE_WHITESPACE
    [['gadre2024', 'eval_metadata'], ['brandfonbrener2025', 'sweep'],
     ['brandfonbrener2025', 'extrapolation'], ['brandfonbrener2025', 'opt_params'],
     ['datablations2023', 'final'], ['datablations2023', 'runs'],
     ['isoflop', 'porian2024'], ['isoflop', 'porian2024_author_fits'], ['isoflop', 'marin'],
     ['isoflop', 'llama3'], ['isoflop', 'misfitting']]
    """
    rows = [
        {
            "study": s.name,
            "table": t.name,
            "default": i == 0,
            "file": f"{s.name}/{t.filename}",
            "rows": t.rows,
            "standard_columns": ", ".join(t.standard),
            "downloadable": t.obtainable,
            "url": t.url,
            "sources": (
                " ".join(src.url for src in t.build.sources) if t.build is not None else None
            ),
            "sha256": t.sha256,
            "license": s.license,
            "description": t.description,
            "no_download": t.no_download,
        }
        for s in _STUDY_LIST
        for i, t in enumerate(s.tables)
    ]
    return pd.DataFrame(rows)



def fetch(
    study: str,
    table: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
) -> Path:
    """Path of a table's file, checked, from a local copy, the cache or a download.

    Parameters
    ----------
    study : str
        One of :func:`studies`.
    table : str, optional
        One of :func:`list_tables` (default: the study's default table).
    data_dir : path-like, optional
        Local directory with the layout ``<data_dir>/<study>/<file>``; defaults to
        ``$SCALINGLAWS_DATA``. When given (or set), nothing is downloaded.
    cache_dir : path-like, optional
        Download cache; defaults to ``$SCALINGLAWS_CACHE`` or ``~/.cache/scalinglaws``.
    download : bool, default True
        Whether a table missing from the cache may be downloaded (for a built table: its
        upstream files, unless they are cached in ``<cache>/<study>/upstream/``).
    verify : bool, default True
        Check the file's sha256 against the pinned one. ``False`` accepts a modified local
        copy, or a built table that differs from its pin; a download is always checked.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ScalingLawError
        Unknown study or table; a file missing from ``data_dir``; a wrong checksum; a
        table that cannot be downloaded and has no local copy; a failed download; upstream
        files that cannot be converted.

    Examples
    --------
    >>> from scalinglaws import datasets
    >>> datasets.fetch("brandfonbrener2025", "sweep").name  # doctest: +SKIP
    'sweep.csv'
    """
    st = _study(study)
    return fetch_file(st, st.table(table), data_dir=data_dir, cache_dir=cache_dir,
                      download=download, verify=verify)


def load(
    study: str,
    table: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    verify: bool = True,
    standardize: bool = True,
) -> pd.DataFrame:
    """Load one table of a study as a tidy DataFrame with the standard columns.

    The original columns are all kept under their names; standard columns are added
    (and lead the frame) only where the data supports them and no original column has
    that name already. ``N``, ``D``, ``C`` and ``M`` are float64 (an original numeric
    column of that name included) and NaN where the source does not give a positive
    value; ``C = 6 N D`` and ``M = D / N`` always.

    Standard columns per table:

    ==================== ================== =================================================
    study                table              standard columns
    ==================== ================== =================================================
    gadre2024            runs (default)     run = run_name; family, architecture = "open_lm";
                                            dataset, seed, N, D, M (original); C;
                                            tokens_seen = D
    gadre2024            losses_long        as runs, without seed
    gadre2024            downstream         run = run_name; dataset, seed, N, D, C, M,
                                            tokens_seen joined from runs; family,
                                            architecture
    gadre2024            eval_metadata      none (task metadata)
    gadre2024            hparam_grid        run = key; family, architecture; D = tokens_seen
                                            = tokens (N unknown)
    brandfonbrener2025   sweep (default)    run = id; family, architecture = "olmo";
                                            dataset = data; N = params; D = tokens_seen =
                                            tokens; C (= iso_flop); M
    brandfonbrener2025   extrapolation      as sweep
    brandfonbrener2025   opt_params         dataset = data
    llm_line2025         hf_models          run = name; family = HF model series (e.g.
                         (default)          "EleutherAI/pythia"); dataset = pretraining_data;
                                            architecture, tokenizer (original); N = size;
                                            D = tokens_seen = tokens; C; M (NaN for OLMo)
    llm_line2025         hf_models_20250127 run = name; family; dataset = pretraining_data;
                                            architecture = arch; tokenizer (original)
    hitchhiker2024       checkpoints        run = model_name (one per training run, shared
                         (default)          by its checkpoints; each Chinchilla IsoFLOP point
                                            is its own run); family = scaled_set (NaN: in no
                                            scaled set); dataset = data; architecture = arch;
                                            seed (original); N = num_params (NaN where 0);
                                            D = tokens_seen (the checkpoint's tokens); C; M
    hitchhiker2024       metrics_long       as checkpoints
    hitchhiker2024       pythia_zeroshot    run = model_name; family = "pythia" or
                                            "pythia-deduped"; dataset = "pile" or
                                            "pile-deduped"; architecture = "dec"; tokenizer =
                                            "gpt-neox"; N = num_params_nominal (nominal
                                            size); D = tokens_seen (NaN at step 0)
    datablations2023     final (default)    run = run_id; family = "datablations"; dataset
                                            and seed (original); architecture, tokenizer =
                                            "gpt2"; N = params; D = tokens_seen =
                                            total_tokens; C; M
    datablations2023     runs               as final, with D = tokens_seen (the
                                            checkpoint's tokens)
    isoflop              porian2024         run = "<experiment>@C=<flops>,N=<params>";
                         (default), marin,  family = experiment; dataset (original, where
                         llama3, misfitting given); N = params; D = tokens_seen = tokens;
                                            C; M
    isoflop              porian2024_author_ none (one row per configuration)
                         fits
    ==================== ================== =================================================

    Loss columns keep their names, e.g. ``loss_c4_val`` (gadre2024), ``val_loss``
    (brandfonbrener2025), ``c4_validation_loss`` (llm_line2025), ``perf_loss_perp``
    (hitchhiker2024). See the study's DATA.md for every original column.

    Parameters
    ----------
    study : str
        One of :func:`studies`.
    table : str, optional
        One of :func:`list_tables` (default: the study's default table).
    data_dir : path-like, optional
        Local directory with the layout ``<data_dir>/<study>/<file>``; defaults to
        ``$SCALINGLAWS_DATA``. When given (or set), nothing is downloaded.
    cache_dir : path-like, optional
        Download cache; defaults to ``$SCALINGLAWS_CACHE`` or ``~/.cache/scalinglaws``.
    download : bool, default True
        Whether a table missing from the cache may be downloaded (or built from its
        upstream files).
    verify : bool, default True
        Check each file's sha256 against the pinned one (``False`` reads a modified
        local copy, or keeps a built table that differs from its pin).
    standardize : bool, default True
        Add the standard columns; ``False`` returns the file exactly as read.

    Returns
    -------
    pandas.DataFrame
        A new frame; ``attrs`` holds ``study``, ``table``, ``source`` (the file),
        ``repository``, ``commit`` and ``license``.

    Raises
    ------
    ScalingLawError
        Unknown study or table; a missing file; a wrong checksum; a table that cannot be
        downloaded and has no local copy; no network. The message names the file and
        what to do.

    Examples
    --------
    >>> import scalinglaws as sl
    >>> runs = sl.datasets.load("gadre2024")  # doctest: +SKIP
    >>> runs[["run", "dataset", "N", "D", "C", "M", "loss_c4_val"]].shape  # doctest: +SKIP
    (104, 7)
    >>> sweep = sl.datasets.load("brandfonbrener2025", "sweep")  # doctest: +SKIP
    >>> bool((sweep["C"] / sweep["iso_flop"] - 1).abs().max() < 1e-9)  # doctest: +SKIP
    True
    """
    st = _study(study)
    tab = st.table(table)
    download, verify = check_flag(download, "download"), check_flag(verify, "verify")
    standardize = check_flag(standardize, "standardize")
    for what, folder in (("data_dir", data_dir), ("cache_dir", cache_dir)):
        if folder is not None and not isinstance(folder, (str, os.PathLike)):
            raise ScalingLawError(f"{what} must be a folder (a path) or None, got "
                                  f"{type(folder).__name__}")
    kwargs = {"data_dir": data_dir, "cache_dir": cache_dir, "download": download, "verify": verify}
    frames: dict[str, pd.DataFrame] = {}
    paths: dict[str, Path] = {}

    def read(name: str) -> pd.DataFrame:
        if name not in frames:
            path = paths[name] = fetch(st.name, name, **kwargs)
            try:
                frames[name] = pd.read_csv(path, low_memory=False)
            except (ValueError, OSError, EOFError) as err:
                raise ScalingLawError(
                    f"cannot read {path} as CSV ({err}); replace it with an unchanged copy "
                    f"of {st.name}/{st.table(name).filename}"
                ) from err
        return frames[name].copy()

    raw = read(tab.name)
    source = str(paths[tab.name])
    if standardize:
        try:
            out = standardized(tab, raw, read)
        except KeyError as err:
            raise ScalingLawError(
                f"{source} lacks the column {err} that the {st.name} table {tab.name!r} "
                "has; it is not a copy of that table (see the study's DATA.md)"
            ) from err
    else:
        out = raw
    out.attrs.update(
        study=st.name,
        table=tab.name,
        source=source,
        repository=st.repository,
        commit=st.commit,
        license=st.license,
    )
    return out

