"""Reproduce the reference studies: ``scalinglaws reproduce <study>``.

:func:`reproduce` runs one study's analysis on its public data (through
:func:`scalinglaws.datasets.load`) and returns a :class:`Reproduction`: the headline table
(ours beside the paper's), secondary tables, plain-words notes on where we fall short,
and the figures it wrote. The models are ordinary :class:`~scalinglaws.ScalingModel`
specs (loss-to-loss ones for Brandfonbrener); :func:`specs` lists them and
``models/<study>_*.toml`` holds the same specs (with a ``[study]`` table naming which
rows fit and which are targets) for ``scalinglaws fit``.

Studies (see the project's STUDIES page), one module each, with its ``specs()`` and
``run()``:

``gadre2024`` (:mod:`~scalinglaws.reproduce.gadre2024`)
    Loss at two held-out targets per training set (1.4B over-trained, 6.9B at M=20) from
    five small runs, and the 17-task downstream error from six runs, pushed through the
    predicted loss. Per-dataset fits (the paper's protocol) and a hierarchical fit with
    the exponent shared across datasets; the paper's least-squares fit is rerun beside.
``llm_line2025`` (:mod:`~scalinglaws.reproduce.llm_line2025`)
    "Data, not architecture, determines the loss-to-loss curve" as model comparison:
    shifted-power curves varying by pretraining data against curves varying by
    architecture (PSIS-LOO), and the posterior size of the architecture effect among
    the Pile-trained models against the data effect among the FineWeb ablation models.
``hitchhiker2024`` (:mod:`~scalinglaws.reproduce.hitchhiker2024`, its rows in
:mod:`~scalinglaws.reproduce.hitchhiker2024_protocol`)
    Per family, predict the largest model from the smaller ones: per-family fits on
    final losses, per-family fits on checkpoints, a hierarchical fit (exponents shared,
    offsets by family) and one with exponents partially pooled, on checkpoints; ARE and
    90% coverage per family, beside the paper's least squares rerun.
``brandfonbrener2025`` (:mod:`~scalinglaws.reproduce.brandfonbrener2025`)
    Train-to-train (30 ordered pairs) and train-to-test (6 sets x 11 tasks) predictions of
    the 1e21-FLOP models with the joint loss-to-loss models
    (:mod:`scalinglaws.losstoloss`), beside the paper's two-stage method rerun.
``datablations2023`` (:mod:`~scalinglaws.reproduce.datablations2023`)
    Data-constrained scaling (Muennighoff et al. 2023): fit the runs with at most four
    epochs, predict the others.
``isoflop`` (:mod:`~scalinglaws.reproduce.isoflop`)
    IsoFLOP frontiers fitted jointly over budgets: the exponent of N_opt = G C^a.

What the studies share is in :mod:`~scalinglaws.reproduce.common` (settings, the result,
fitting with the fit folder, loading, figures) and :mod:`~scalinglaws.reproduce.scoring`
(scores and sampler diagnostics). This module is the registry: it imports every study
module, and none of them imports it.

Examples
--------
>>> from scalinglaws.reproduce import reproduce, specs
>>> sorted(specs("gadre2024"))[:2]
['gadre2024_error_hierarchical', 'gadre2024_error_per_dataset']
>>> result = reproduce("gadre2024", out="figures", quick=True)  # doctest: +SKIP
>>> print(result)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from .._checks import as_path, make_folder
from .._precision import enable_x64
from ..errors import ScalingLawError
from ..spec import dump_toml
from . import (
    brandfonbrener2025,
    datablations2023,
    gadre2024,
    hitchhiker2024,
    isoflop,
    llm_line2025,
)
from .common import FULL_SETTINGS, Reproduction, Settings
from .gadre2024 import gadre_frame, gadre_paper_fit, gadre_split
from .hitchhiker2024_protocol import (
    hitchhiker_normalise,
    hitchhiker_paper_fit,
    hitchhiker_split,
    thin_checkpoints,
)
from .llm_line2025 import llm_line_frame
from .scoring import INTERVAL, are, score_targets

__all__ = [
    "FULL_SETTINGS",
    "INTERVAL",
    "STUDIES",
    "Reproduction",
    "Settings",
    "are",
    "gadre_frame",
    "gadre_paper_fit",
    "gadre_split",
    "hitchhiker_normalise",
    "hitchhiker_paper_fit",
    "hitchhiker_split",
    "llm_line_frame",
    "read_study_table",
    "reproduce",
    "score_targets",
    "spec_toml",
    "specs",
    "study_tables",
    "thin_checkpoints",
    "write_specs",
]

#: The studies, in the order of the project's STUDIES page.
STUDIES: tuple[str, ...] = ("gadre2024", "brandfonbrener2025", "llm_line2025", "hitchhiker2024",
                            "datablations2023", "isoflop")
#: The module of each study: ``run(data_dir, settings, out, log)`` makes its
#: :class:`Reproduction`, ``specs()`` lists its models with their ``[study]`` tables.
STUDY_MODULES: dict[str, ModuleType] = {
    "gadre2024": gadre2024, "brandfonbrener2025": brandfonbrener2025,
    "llm_line2025": llm_line2025, "hitchhiker2024": hitchhiker2024,
    "datablations2023": datablations2023, "isoflop": isoflop,
}


# --- the specs and their [study] tables --------------------------------------------------------


def _all_specs() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every reproduction spec with its ``[study]`` table (which rows fit, which are targets):
    :class:`~scalinglaws.ScalingModel` specs, and the loss-to-loss ones of Brandfonbrener
    (:class:`~scalinglaws.losstoloss.LossToLossModel`)."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    # the order in which the specs have always been listed (and models/ written)
    for module in (gadre2024, llm_line2025, brandfonbrener2025, hitchhiker2024,
                   datablations2023, isoflop):
        out.update(module.specs())
    return out


def specs(study: str | None = None) -> dict[str, Any]:
    """The model specs a reproduction fits, by name (``models/<name>.toml``).

    Brandfonbrener's are :class:`~scalinglaws.losstoloss.LossToLossModel` specs, the
    others :class:`~scalinglaws.ScalingModel` specs; :func:`scalinglaws.spec.read_spec` reads
    either file.

    Parameters
    ----------
    study : str, optional
        Only this study's specs.

    Returns
    -------
    dict of str to ScalingModel or LossToLossModel

    Examples
    --------
    >>> spec = specs("gadre2024")["gadre2024_loss_hierarchical"]
    >>> spec.law.name, dict(spec.vary)
    ('overtraining', {'E': ('dataset',), 'a': ('dataset',), 'b': ('dataset',)})
    """
    if study is not None:
        _check_study(study)
    return {name: spec for name, (spec, meta) in _all_specs().items()
            if study is None or meta["study"] == study}


def study_tables(study: str | None = None) -> dict[str, dict[str, Any]]:
    """The ``[study]`` table of each spec: which rows fit and which are targets.

    >>> study_tables("gadre2024")["gadre2024_loss_per_dataset"]["fit"]
    ['fit_loss_and_error']
    """
    if study is not None:
        _check_study(study)
    return {name: dict(meta) for name, (spec, meta) in _all_specs().items()
            if study is None or meta["study"] == study}


def spec_toml(name: str) -> str:
    """The TOML text of one reproduction spec: the spec, then its ``[study]`` table.

    :func:`scalinglaws.spec.read_spec` reads the spec and ignores ``[study]``.

    >>> "[study]" in spec_toml("gadre2024_loss_per_dataset")
    True
    """
    table = _all_specs()
    if name not in table:
        raise ScalingLawError(f"unknown reproduction spec {name!r}; the specs are "
                              f"{sorted(table)}")
    spec, meta = table[name]
    header = (f"# {name}: {meta['description']}\n"
              f"# Written by scalinglaws.reproduce.write_specs; `scalinglaws reproduce "
              f"{meta['study']}` fits it.\n")
    return header + spec.to_toml() + dump_toml({"study": meta})


def write_specs(directory: str | os.PathLike[str], study: str | None = None) -> list[Path]:
    """Write ``<directory>/<name>.toml`` for every reproduction spec (of ``study``).

    >>> paths = write_specs("models", "gadre2024")  # doctest: +SKIP
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in study_tables(study):
        path = directory / f"{name}.toml"
        path.write_text(spec_toml(name))
        paths.append(path)
    return paths


def read_study_table(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``[study]`` table of a reproduction TOML file.

    >>> read_study_table("models/gadre2024_loss_per_dataset.toml")["study"]  # doctest: +SKIP
    'gadre2024'
    """
    path = as_path(path, "spec file")
    if not path.is_file():
        raise ScalingLawError(f"spec file {path} does not exist")
    data = tomllib.loads(path.read_text())
    if "study" not in data:
        raise ScalingLawError(f"{path} has no [study] table; it is not a reproduction spec")
    return dict(data["study"])


def _check_study(study: Any) -> str:
    if not isinstance(study, str) or study not in STUDIES:
        raise ScalingLawError(
            f"unknown study {study!r}; the studies are {', '.join(map(repr, STUDIES))} "
            f"(e.g. `scalinglaws reproduce gadre2024`)"
        )
    return study


# --- the entry point -----------------------------------------------------------------------


def reproduce(study: str, data_dir: str | os.PathLike[str] | None = None,
              out: str | os.PathLike[str] | None = None, quick: bool = False, seed: int = 0,
              progress: bool = False, verbose: bool = False,
              fits: str | os.PathLike[str] | None = None) -> Reproduction:
    """Run one study's analysis and return its table, notes and figures.

    Parameters
    ----------
    study : str
        One of :data:`STUDIES`: ``"gadre2024"``, ``"brandfonbrener2025"``,
        ``"llm_line2025"``, ``"hitchhiker2024"``, ``"datablations2023"`` or ``"isoflop"``.
    data_dir : path-like, optional
        Local data directory (``<data_dir>/<study>/<file>``); defaults to
        ``$SCALINGLAWS_DATA``, else the download cache (see
        :func:`scalinglaws.datasets.load`).
    out : path-like, optional
        Folder for the figures (created); None writes none.
    quick : bool
        Smoke-test settings: 2 chains x (300 warmup + 300 draws) and, for the Hitchhiker
        study, fewer families. Numbers are then rougher; the protocol is the same.
    seed : int
        Seed of every fit and predictive draw.
    progress : bool
        Show the sampler's progress bars.
    verbose : bool
        Report each fit on stderr as it starts and ends.
    fits : path-like, optional
        Folder (created) in which each fit is saved as it is made; fits already there for
        the same model, data, settings and package version are read instead of refitted,
        so an interrupted run resumes (see :class:`Settings`).

    Returns
    -------
    Reproduction
        ``.table`` (a DataFrame), ``.tables``, ``.notes``, ``.figures``; ``print()`` it for
        the text the command prints.

    Raises
    ------
    ScalingLawError
        An unknown study, missing or damaged data files (the message says where to put
        them), or a study whose models are not available yet.

    Examples
    --------
    >>> from scalinglaws.reproduce import reproduce
    >>> result = reproduce("gadre2024", out="figures")  # doctest: +SKIP
    >>> result.table.groupby("model")["covered"].mean()  # doctest: +SKIP
    >>> reproduce("nope")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: unknown study 'nope'; the studies are 'gadre2024', \
'brandfonbrener2025', 'llm_line2025', 'hitchhiker2024', 'datablations2023', 'isoflop' (e.g. \
`scalinglaws reproduce gadre2024`)
    """
    _check_study(study)
    settings = Settings.make(quick=quick, seed=seed, progress=progress, study=study,
                             fits=fits)
    folder = make_folder(out, "figure folder", "out")

    def log(message: str) -> None:
        if verbose:
            print(f"[{study}] {message}", file=sys.stderr, flush=True)


    enable_x64()
    runner = STUDY_MODULES[study].run
    started = time.perf_counter()
    result = runner(data_dir, settings, folder, log)
    return Reproduction(result.study, result.title, result.table, dict(result.tables),
                        result.notes, result.figures, time.perf_counter() - started, settings)
