"""What every study shares: sampler settings, the result, fitting, loading, figures.

:class:`Settings` are a reproduction's sampler settings (:data:`FULL_SETTINGS` per study,
or quick ones); :class:`Reproduction` is what :func:`scalinglaws.reproduce.reproduce`
returns. :func:`fit_model` and :func:`fit_many` fit a study's models quietly, logging the
time, and keep each fit in the fit folder (``Settings.fits``) so that a rerun reads it
back; :func:`load_table` loads a study's data, :func:`require_columns` names missing
columns, :func:`write_figure` saves a figure into the figure folder.

Examples
--------
>>> Settings.make(quick=True).chains
2
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import _checks, datasets
from .._version import __version__
from .._warnings import filtered
from ..errors import ScalingLawWarning
from ..io import load
from ..plotting import save_figure

#: Full sampler settings per study, each reproduction within 20 minutes on two CPU cores;
#: the sampler tables report R-hat and ESS of every fit. The LLMs-on-the-line fits are
#: sampled in the coordinates their data measure (see ``llm_line2025.level_law``) and take
#: 20-300 leapfrog steps per draw; 4 x (1,000 + 1,500) brings every one of them to R-hat
#: <= 1.01 and bulk and tail ESS >= 400 (2 x (1,000 + 1,000) left the C4 Pile fit at R-hat
#: 1.044, bulk ESS 69).
#: The Hitchhiker fits run in per-family units (see
#: ``hitchhiker2024_protocol.hitchhiker_normalise``) with their run offsets integrated
#: out, and (a)'s 100-dimensional dense mass block needs the 1,000 warmup draws. The
#: isoFLOP and Gadre fits draw 4 x (1,000 + 1,500) each: with fewer,
#: ridges along E (isoFLOP's E + K C^-gamma on 7 budgets; Gadre's five runs per dataset)
#: left R-hat above 1.01 and bulk ESS below 400.
FULL_SETTINGS: dict[str, dict[str, int]] = {
    "gadre2024": {"chains": 4, "warmup": 1000, "draws": 1500},
    "llm_line2025": {"chains": 4, "warmup": 1000, "draws": 1500},
    "hitchhiker2024": {"chains": 2, "warmup": 1000, "draws": 1000},
    "brandfonbrener2025": {"chains": 4, "warmup": 400, "draws": 1200},
    "datablations2023": {"chains": 4, "warmup": 500, "draws": 500},
    "isoflop": {"chains": 4, "warmup": 1000, "draws": 1500},
}


# --- settings and the result ---------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Sampler settings of a reproduction.

    Parameters
    ----------
    chains, warmup, draws : int
        NUTS settings of every fit.
    seed : int
        Seed of every fit and of the posterior-predictive draws.
    progress : bool
        Show the sampler's progress bars.
    quick : bool
        Whether these are the quick (smoke-test) settings.
    max_tree_depth : int
        NUTS tree-depth cap.
    fits : Path, optional
        Folder in which every fit is saved as soon as it is made, and from which the same
        fit (same model, data, sampler settings and package version) is read back instead
        of being refitted: a rerun after an interruption resumes where it stopped.

    Examples
    --------
    >>> Settings.make(quick=True).draws
    300
    >>> Settings.make(study="gadre2024").chains
    4
    """

    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    seed: int = 0
    progress: bool = False
    quick: bool = False
    max_tree_depth: int = 10
    fits: Path | None = None

    @classmethod
    def make(cls, quick: bool = False, seed: int = 0, progress: bool = False,
             study: str | None = None,
             fits: str | os.PathLike[str] | None = None) -> Settings:
        """The study's full settings (:data:`FULL_SETTINGS`) or quick ones (2 x 300 + 300)."""
        seed = _checks.check_seed(seed)
        quick = _checks.check_flag(quick, "quick")
        if progress is not None:
            progress = _checks.check_flag(progress, "progress")
        folder = _checks.make_folder(fits, "fit folder", "fits")
        full = dict(FULL_SETTINGS.get(study, {})) if study is not None else {}
        depth = full.pop("max_tree_depth", 10)
        if quick:
            return cls(chains=2, warmup=300, draws=300, seed=int(seed), progress=progress,
                       quick=True, max_tree_depth=depth, fits=folder)
        return cls(**full, seed=int(seed), progress=progress, max_tree_depth=depth,
                   fits=folder)

    def fit_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for :meth:`ScalingModel.fit <scalinglaws.ScalingModel.fit>`."""
        out = {"seed": self.seed, "chains": self.chains, "warmup": self.warmup,
               "draws": self.draws, "progress": self.progress,
               "max_tree_depth": self.max_tree_depth}
        out.update(overrides)
        return out


@dataclass(frozen=True)
class Reproduction:
    """The outcome of :func:`scalinglaws.reproduce.reproduce`: tables, notes and figure paths.

    Attributes
    ----------
    study : str
        The study's name.
    title : str
        One line naming the paper.
    table : pandas.DataFrame
        The headline table (ours beside the paper's).
    tables : dict of str to DataFrame
        Secondary tables (parameters, sampler diagnostics, per-model summaries).
    notes : tuple of str
        Plain-words remarks: protocol choices, and where we fall short and why.
    figures : tuple of pathlib.Path
        Figures written (empty when ``out`` was None).
    seconds : float
        Wall time of the reproduction.
    settings : Settings
        The sampler settings used.

    Examples
    --------
    >>> result = reproduce("gadre2024", quick=True)  # doctest: +SKIP
    >>> result.table[["target", "truth", "median", "covered"]]  # doctest: +SKIP
    """

    study: str
    title: str
    table: pd.DataFrame
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    figures: tuple[Path, ...] = ()
    seconds: float = 0.0
    settings: Settings = field(default_factory=Settings)

    def to_text(self) -> str:
        """The tables, notes and figure paths as the command prints them."""
        lines = [self.title, "=" * len(self.title), "", _format(self.table)]
        for name, frame in self.tables.items():
            lines += ["", f"{name}:", _format(frame)]
        if self.notes:
            lines += ["", "Notes:"]
            lines += [f"- {note}" for note in self.notes]
        if self.figures:
            lines += ["", "Figures:"]
            lines += [f"  {path}" for path in self.figures]
        s = self.settings
        quick = " (quick settings)" if s.quick else ""
        lines += ["", f"{s.chains} chains x ({s.warmup} warmup + {s.draws} draws) per fit "
                      f"where no table says otherwise{quick}, seed {s.seed}; "
                      f"{self.seconds:.0f} s in all."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


def _format(frame: pd.DataFrame) -> str:
    def number(x: float) -> str:
        if not np.isfinite(x):
            return "-" if np.isnan(x) else str(x)
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.3e}"
        return f"{x:.4g}"

    with pd.option_context("display.width", 250, "display.max_columns", 40,
                           "display.max_rows", 500, "display.max_colwidth", 60,
                           "display.float_format", number):
        return frame.to_string()


# --- fitting, with the fit folder ----------------------------------------------------------


def fit_model(model: Any, data: pd.DataFrame, settings: Settings,
              log: Callable[[str], None], name: str, **overrides: Any):
    """Fit a ScalingModel or LossToLossModel with the settings, quietly, logging the time;
    with ``settings.fits``, read the fit from there if it was made before, else save it."""
    path = _saved_fit_path(model, data, settings, name, overrides)
    if path is not None and path.exists():
        log(f"{name}: reading the fit made before, {path}")
        return _read_saved_fit(model, path)
    started = time.perf_counter()
    log(f"fitting {name} on {len(data)} rows ...")
    with filtered(("ignore", ScalingLawWarning)):
        fit = model.fit(data, **settings.fit_kwargs(**overrides))
    log(f"  {name}: {time.perf_counter() - started:.0f} s, {len(fit.warnings)} sampler "
        f"warning(s)")
    if path is not None:
        fit.save(path)
    return fit


def fit_many(model: Any, frames: Mapping[str, pd.DataFrame], settings: Settings,
             log: Callable[[str], None], **overrides: Any) -> dict[str, Any]:
    """:func:`fit_model` for several frames of one structure, by name: fits saved before are
    read, the others fitted as one batched program (``ScalingModel.fit_many``) and saved.
    Returns the fits and the seconds each took (the batch's time shared evenly)."""
    paths = {name: _saved_fit_path(model, data, settings, name, overrides)
             for name, data in frames.items()}
    fits, seconds = {}, {}
    for name, path in paths.items():
        if path is not None and path.exists():
            log(f"{name}: reading the fit made before, {path}")
            fits[name], seconds[name] = _read_saved_fit(model, path), 0.0
    todo = {name: frames[name] for name in frames if name not in fits}
    if todo:
        started = time.perf_counter()
        log(f"fitting {len(todo)} data sets as one batch ({sum(map(len, todo.values()))} "
            f"rows) ...")
        with filtered(("ignore", ScalingLawWarning)):
            made = model.fit_many(todo, **settings.fit_kwargs(**overrides))
        took = time.perf_counter() - started
        log(f"  {len(todo)} fits: {took:.0f} s, "
            f"{sum(len(f.warnings) for f in made.values())} sampler warning(s)")
        for name, fit in made.items():
            fits[name], seconds[name] = fit, took / len(todo)
            if paths[name] is not None:
                fit.save(paths[name])
    return {name: (fits[name], seconds[name]) for name in frames}


def _saved_fit_path(model: Any, data: pd.DataFrame, settings: Settings, name: str,
                    overrides: Mapping[str, Any]) -> Path | None:
    """Where ``settings.fits`` keeps this fit: the name, then a hash of the model, the data,
    the sampler settings and the package version (None without a folder)."""
    if settings.fits is None:
        return None

    kwargs = {k: v for k, v in settings.fit_kwargs(**overrides).items() if k != "progress"}
    key = json.dumps({"model": model.to_dict(), "fit": kwargs, "version": __version__},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode())
    digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    digest.update(json.dumps([str(c) for c in data.columns]).encode())
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")
    return settings.fits / f"{slug}-{digest.hexdigest()[:16]}.nc"


def _read_saved_fit(model: Any, path: Path):

    with filtered(("ignore", ScalingLawWarning)):  # as when it was fitted
        return load(path)


# --- data and figures ------------------------------------------------------------------------


def load_table(study: str, table: str | None, data_dir: Any) -> pd.DataFrame:
    """One table of a study's data (:func:`scalinglaws.datasets.load`), its warnings quiet."""
    with filtered(("ignore", Warning)):
        return datasets.load(study, table, data_dir=data_dir)


#: What to do about a study's frame that lacks columns.
LOAD_HINT = ("Load it with scalinglaws.datasets.load (which adds the standard columns) or "
             "rename the columns")


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """A clear error naming the ``columns`` that ``frame`` (called ``what``) lacks
    (:func:`scalinglaws._checks.require_columns` with :data:`LOAD_HINT`)."""
    _checks.require_columns(frame, columns, what, LOAD_HINT)


def write_figure(fig: Any, out: Path | None, name: str, figures: list[Path]) -> None:
    """Save ``fig`` as ``out/name`` and append its path to ``figures``; close it if ``out``
    is None."""
    if out is None:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return
    path = out / name
    save_figure(fig, path)
    figures.append(path)
