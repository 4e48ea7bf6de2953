"""Reproduce the four reference studies: ``scalinglaws reproduce <study>``.

:func:`reproduce` runs one study's analysis on its public data (through
:func:`scalinglaws.datasets.load`) and returns a :class:`Reproduction`: the headline table
(ours beside the paper's), secondary tables, plain-words notes on where we fall short,
and the figures it wrote. The models are ordinary :class:`~scalinglaws.ScalingModel`
specs (loss-to-loss ones for Brandfonbrener); :func:`specs` lists them and
``models/<study>_*.toml`` holds the same specs (with a ``[study]`` table naming which
rows fit and which are targets) for ``scalinglaws fit``.

Studies (see the project's STUDIES page):

``gadre2024``
    Loss at two held-out targets per training set (1.4B over-trained, 6.9B at M=20) from
    five small runs, and the 17-task downstream error from six runs, pushed through the
    predicted loss. Per-dataset fits (the paper's protocol) and a hierarchical fit with
    the exponent shared across datasets; the paper's least-squares fit is rerun beside.
``llm_line2025``
    "Data, not architecture, determines the loss-to-loss curve" as model comparison:
    shifted-power curves varying by pretraining data against curves varying by
    architecture (PSIS-LOO), and the posterior size of the architecture effect among
    the Pile-trained models against the data effect among the FineWeb ablation models.
``hitchhiker2024``
    Per family, predict the largest model from the smaller ones: per-family fits on
    final losses, per-family fits on checkpoints, a hierarchical fit (exponents shared,
    offsets by family) and one with exponents partially pooled, on checkpoints; ARE and
    90% coverage per family, beside the paper's least squares rerun.
``brandfonbrener2025``
    Train-to-train (30 ordered pairs) and train-to-test (6 sets x 11 tasks) predictions of
    the 1e21-FLOP models with the joint loss-to-loss models
    (:mod:`scalinglaws.losstoloss`), beside the paper's two-stage method rerun.

Examples
--------
>>> from scalinglaws.reproduce import reproduce, specs
>>> sorted(specs("gadre2024"))[:2]
['gadre2024_error_hierarchical', 'gadre2024_error_per_dataset']
>>> result = reproduce("gadre2024", out="figures", quick=True)  # doctest: +SKIP
>>> print(result)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import sys
import time
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import datasets
from . import losstoloss as ltl
from ._version import __version__
from .compare import compare
from .discrepancy import Discrepancy
from .errors import ScalingLawError, ScalingLawWarning
from .fit import ScalingModel
from .io import load
from .laws import Law
from .losstoloss import LossToLossModel
from .model import enable_x64, level_coordinate_names
from .plotting import save_figure
from .priors import Prior
from .spec import dump_toml

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
#: Studies whose analysis is a module of its own (``run`` and ``specs``), imported on use:
#: they build on this module's shared pieces.
STUDY_MODULES: dict[str, str] = {"datablations2023": "study_datablations",
                                 "isoflop": "study_isoflop"}
#: Mass of every interval in the tables.
INTERVAL = 0.9
#: Full sampler settings per study, chosen to keep each reproduction near a quarter of an
#: hour on two CPU cores. The LLMs-on-the-line fits are sampled in the coordinates their
#: data measure (see :func:`_llm_line_law`) and take ~100-400 leapfrog steps per draw, so
#: they afford 1,000 warmup draws and 1,000 draws. The Hitchhiker fits run in per-family
#: units (see :func:`hitchhiker_normalise`) with their run offsets integrated out, and
#: (a)'s 100-dimensional dense mass block needs the 1,000 warmup draws; the sampler tables
#: report R-hat and ESS of every fit.
FULL_SETTINGS: dict[str, dict[str, int]] = {
    "gadre2024": {"chains": 4, "warmup": 500, "draws": 500},
    "llm_line2025": {"chains": 2, "warmup": 1000, "draws": 1000},
    "hitchhiker2024": {"chains": 2, "warmup": 1000, "draws": 500},
    "brandfonbrener2025": {"chains": 2, "warmup": 400, "draws": 300},
    "datablations2023": {"chains": 4, "warmup": 500, "draws": 500},
    "isoflop": {"chains": 2, "warmup": 300, "draws": 300},
}

_TITLES = {
    "gadre2024": "Gadre et al. 2024: over-training and downstream error (open_lm, 3 datasets)",
    "brandfonbrener2025": "Brandfonbrener et al. 2025: loss-to-loss prediction (OLMo, 6 sets)",
    "llm_line2025": "Mayilvahanan et al. 2025: LLMs on the line (data determines the curve)",
    "hitchhiker2024": "Choshen, Zhang, Andreas 2025: predicting each family's largest model",
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
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ScalingLawError(f"seed must be an integer, got {seed!r}")
        folder = _folder(fits, "fit folder", "fits")
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
    """The outcome of :func:`reproduce`: tables, notes and figure paths.

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
        lines += ["", f"{s.chains} chains x ({s.warmup} warmup + {s.draws} draws) per fit"
                      f"{' (quick settings)' if s.quick else ''}, seed {s.seed}; "
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


# --- shared pieces ---------------------------------------------------------------------------


def _quantiles(draws: np.ndarray, interval: float = INTERVAL) -> tuple[np.ndarray, ...]:
    lo, hi = (1 - interval) / 2, (1 + interval) / 2
    return (np.median(draws, axis=0), np.quantile(draws, lo, axis=0),
            np.quantile(draws, hi, axis=0))


def score_targets(truth: Sequence[float], point: np.ndarray, predictive: np.ndarray,
                  interval: float = INTERVAL) -> pd.DataFrame:
    """Score predictions of held-out targets against the truth.

    Parameters
    ----------
    truth : sequence of float
        Observed value of each target.
    point : ndarray, shape (draws, targets)
        Posterior draws of the noise-free prediction; its median is the point prediction.
    predictive : ndarray, shape (draws, targets)
        Posterior-predictive draws of a new observation (with noise); its central
        ``interval`` is the interval that should contain the truth.
    interval : float
        Mass of the interval.

    Returns
    -------
    DataFrame
        ``truth``, ``median``, ``lower``, ``upper``, ``covered`` and ``rel_err_%``
        (``100 |median - truth| / truth``), one row per target.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> law = 2.0 + 0.01 * rng.standard_normal((4000, 2))
    >>> obs = law + 0.02 * rng.standard_normal((4000, 2))
    >>> out = score_targets([2.01, 2.2], law, obs)
    >>> out["covered"].tolist(), out["rel_err_%"].round(1).tolist()
    ([True, False], [0.5, 9.1])
    """
    truth = np.asarray(truth, dtype=float)
    point, predictive = np.atleast_2d(point), np.atleast_2d(predictive)
    if point.shape[1] != truth.size or predictive.shape[1] != truth.size:
        raise ScalingLawError(
            f"score_targets: {truth.size} truths but draws for {point.shape[1]} and "
            f"{predictive.shape[1]} targets; give arrays of shape (draws, targets)"
        )
    _, lower, upper = _quantiles(predictive, interval)
    return _scored(truth, np.median(point, axis=0), lower, upper)


def _scored(truth: np.ndarray, median: np.ndarray, lower: np.ndarray,
            upper: np.ndarray) -> pd.DataFrame:
    """``truth``, ``median``, ``lower``, ``upper``, ``covered`` and ``rel_err_%``."""
    return pd.DataFrame({
        "truth": truth, "median": median, "lower": lower, "upper": upper,
        "covered": (lower <= truth) & (truth <= upper),
        "rel_err_%": 100 * np.abs(median - truth) / np.abs(truth),
    })


def are(truth: Sequence[float], prediction: Sequence[float]) -> float:
    """Absolute relative error, mean |L - L_hat| / L (the Hitchhiker's metric).

    >>> round(are([2.0, 4.0], [2.1, 3.8]), 4)
    0.05
    """
    truth = np.asarray(truth, dtype=float)
    prediction = np.asarray(prediction, dtype=float)
    if truth.shape != prediction.shape or truth.size == 0:
        raise ScalingLawError(f"are: truth {truth.shape} and prediction {prediction.shape} "
                              f"must be non-empty arrays of one shape")
    return float(np.mean(np.abs(truth - prediction) / np.abs(truth)))


def _diagnostics(name: str, fit: Any) -> dict[str, Any]:
    stats = fit.idata.sample_stats
    post = fit.idata.posterior
    summary = fit.summary()
    rows = fit.design.n_rows if hasattr(fit, "design") else len(fit.data)
    return {"fit": name, "rows": rows,
            "chains": int(post.sizes["chain"]), "draws": int(post.sizes["draw"]),
            "divergences": int(stats["diverging"].sum()),
            "max_r_hat": float(summary["r_hat"].max()),
            "min_ess_bulk": float(summary["ess_bulk"].min()),
            "mean_steps": float(stats["n_steps"].mean()) if "n_steps" in stats else np.nan,
            "warnings": len(fit.warnings)}


#: R-hat above which a fit's numbers are flagged as not evidence.
RHAT_UNRELIABLE = 1.1


def _convergence_notes(diagnostics: pd.DataFrame) -> list[str]:
    """A plain warning for every fit whose chains disagree (R-hat above 1.1)."""
    bad = diagnostics[diagnostics["max_r_hat"] > RHAT_UNRELIABLE]
    if bad.empty:
        return []
    fits = "; ".join(f"{row.fit} (R-hat {row.max_r_hat:.2f}, bulk ESS {row.min_ess_bulk:.0f})"
                     for row in bad.itertuples())
    return [f"NOT CONVERGED: {fits}. Their chains disagree, so the rows that come from them "
            f"are not reliable evidence; more warmup or a GPU would be needed."]


def _folder(path: str | os.PathLike[str] | None, what: str, keyword: str) -> Path | None:
    """``path`` as a created folder (None stays None); a clear error if it cannot be."""
    if path is None:
        return None
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ScalingLawError(f"cannot create the {what} {folder} ({err}); pass another "
                              f"{keyword}=") from None
    return folder


def _fit(model: Any, data: pd.DataFrame, settings: Settings,
         log: Callable[[str], None], name: str, **overrides: Any):
    """Fit a ScalingModel or LossToLossModel with the settings, quietly, logging the time;
    with ``settings.fits``, read the fit from there if it was made before, else save it."""
    import numpyro

    path = _saved_fit_path(model, data, settings, name, overrides)
    if path is not None and path.exists():
        log(f"{name}: reading the fit made before, {path}")
        return _read_saved_fit(model, path)
    started = time.perf_counter()
    log(f"fitting {name} on {len(data)} rows ...")
    # NumPyro validates distribution arguments by default: one random start at which the
    # law is not finite (e.g. L_x < E_x, or an overflowing exponent) then aborts the
    # multi-start search instead of being discarded, so validation is off while fitting.
    with warnings.catch_warnings(), numpyro.validation_enabled(False):
        warnings.simplefilter("ignore", ScalingLawWarning)
        fit = model.fit(data, **settings.fit_kwargs(**overrides))
    log(f"  {name}: {time.perf_counter() - started:.0f} s, {len(fit.warnings)} sampler "
        f"warning(s)")
    if path is not None:
        fit.save(path)
    return fit


def _fit_many(model: Any, frames: Mapping[str, pd.DataFrame], settings: Settings,
              log: Callable[[str], None], **overrides: Any) -> dict[str, Any]:
    """:func:`_fit` for several frames of one structure, by name: fits saved before are
    read, the others fitted as one batched program (``ScalingModel.fit_many``) and saved.
    Returns the fits and the seconds each took (the batch's time shared evenly)."""
    import numpyro

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
        with warnings.catch_warnings(), numpyro.validation_enabled(False):
            warnings.simplefilter("ignore", ScalingLawWarning)
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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)  # as when it was fitted
        return load(path)


def _aligned(*arrays: np.ndarray, seed: int) -> list[np.ndarray]:
    """Draw-by-draw pairing of posteriors of independent fits: same length, shuffled."""
    n = min(a.shape[0] for a in arrays)
    rng = np.random.default_rng(seed)
    return [a[rng.permutation(a.shape[0])[:n]] for a in arrays]


def _load(study: str, table: str | None, data_dir: Any) -> pd.DataFrame:

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return datasets.load(study, table, data_dir=data_dir)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ScalingLawError(
            f"{what} has no column {', '.join(map(repr, missing))}; it has "
            f"{list(frame.columns)[:15]}... Load it with scalinglaws.datasets.load (which adds "
            f"the standard columns) or rename the columns"
        )


def _save(fig: Any, out: Path | None, name: str, figures: list[Path]) -> None:

    if out is None:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return
    path = out / name
    save_figure(fig, path)
    figures.append(path)


# --- the specs and their [study] tables --------------------------------------------------------

#: Noise prior of the Gadre loss fits (log loss). The sequence-bootstrap 95% intervals of
#: ``loss_c4_val`` (``loss_seq_lower95_c4_val``/``upper95``) are about +-0.003 nats, i.e. an
#: evaluation noise of ~0.05% on the log scale; what a law with five runs cannot explain
#: (learning-rate and schedule effects, run to run) is larger, about 1% in the paper's fits.
#: HalfNormal(0.02) puts 95% of its mass below 4%.
GADRE_LOSS_NOISE = Prior("HalfNormal", 0.02)
#: Noise prior of the Gadre error fits (error rate, identity scale): a 17-task mean error
#: has a sampling error of a few tenths of a point; HalfNormal(0.05) allows up to ~10 points.
GADRE_ERROR_NOISE = Prior("HalfNormal", 0.05)
#: The Hitchhiker fits work in per-family units (:func:`hitchhiker_normalise`): each
#: family's N, D and loss divided by their geometric means over the rows fitted, so that E
#: is a fraction of the family's typical loss and A_ref, B_ref are the two terms at the
#: family's own centre, whatever the loss's units (T5's ~0.05 nats, OPT's perplexities ~20).
#: E: median 0.5 of the typical loss (90% 0.19 to 1.3); the paper's own fits put it at
#: 0.3 to 0.8 for 18 of the 20 families (near 0 for OPT and T5).
HITCHHIKER_E = Prior("LogNormal", -0.7, 0.6)
#: Each term at the family's centre: median 0.2 of the typical loss (90% 0.04 to 1.0).
HITCHHIKER_TERM = Prior("LogNormal", -1.6, 1.0)
#: Between-family scale of log E, log A_ref and log B_ref in the hierarchies (c) and (d):
#: in family units the levels differ by a factor ~2 (E) to ~5 (the terms).
HITCHHIKER_GROUP = Prior("HalfNormal", 1.0)
#: Prior of the exponents in the Hitchhiker fits: the paper's curve_fit starts at 0.35.
HITCHHIKER_EXPONENT = Prior("LogNormal", -1.05, 0.5)
#: Noise of the Hitchhiker checkpoint fits (log loss; its population value when it varies by
#: family): median 0.5% (90% 0.2% to 1.1%). Smooth checkpoint curves alone would push it to
#: ~0.1%, but thinned checkpoints of one run are not independent draws around the law, and
#: where a family's runs have a single row (the Chinchilla IsoFLOP points) the data measure
#: only the sum of the noise and run variances, so the noise needs a prior away from zero.
HITCHHIKER_NOISE = Prior("LogNormal", -5.3, 0.5)
#: Prior of the run-to-run offset (log loss) in the Hitchhiker checkpoint fits: about 1%
#: (90% between 0.44% and 2.3%). A family of two or three runs cannot identify it (a
#: per-family law absorbs the runs' levels), and the paper reports seed-to-seed variation
#: of that order; the default HalfNormal(0.05) lets it collapse to ~0.3%.
HITCHHIKER_RUN_SD = Prior("LogNormal", -4.6, 0.5)
#: At most this many log-spaced checkpoints per training run in the Hitchhiker fits.
HITCHHIKER_MAX_CHECKPOINTS = 10

_LLM_LINE_PAIRS: tuple[tuple[str, str], ...] = (
    ("fineweb_edu_validation_loss", "c4_validation_loss"),
    ("fineweb_edu_validation_loss", "hellaswag_loss"),
)
#: The curve parameters that vary by group: the level and the elasticity at the reference.
_CURVE = ("V", "g")


#: A floor below every observed value of each input loss: the curves write E_x = r * floor
#: with r in (0, 1), so that L_x - E_x > 0 wherever the sampler starts.
LLM_LINE_FLOOR = {"fineweb_edu_validation_loss": 2.9}
#: The input loss at which the curve's level and elasticity are measured (the middle of
#: the data).
LLM_LINE_REFERENCE = {"fineweb_edu_validation_loss": 3.4}
#: NUTS's target acceptance in the LLMs-on-the-line fits: at 0.9 the fits whose groups
#: barely differ (by architecture, and the Pile-only fits) diverged in up to ~100 of 2,000
#: draws with some seeds, at the tails of the floor shares and of the group scale of g.
LLM_LINE_TARGET_ACCEPT = 0.95


def _llm_line_law(x: str):
    """The shifted power law in the coordinates the data measure: level, elasticity, floor.

    ``L_y = E_y + K ((L_x - E_x)/(x0 - E_x))^kappa`` written as
    ``V (s + (1 - s) u^(g/(1 - s)))`` with ``u = (L_x - E_x)/(x0 - E_x)``, where at the
    reference ``L_x = x0`` (3.4 nats) ``V = E_y + K`` is the curve's level, ``s = E_y/V`` the
    floor's share of it and ``g = (1 - s) kappa = d log L_y / d log(L_x - E_x)`` its
    elasticity; so ``E_y = s V``, ``K = (1 - s) V``, ``kappa = g / (1 - s)``. The losses pin
    V and g per curve to ~0.1%; in (K, kappa, E_y) the same curve is a curved ridge along
    E_y that NUTS crossed in hundreds of leapfrog steps. ``E_x = r * floor`` with ``r`` in
    (0, 1) keeps ``L_x - E_x > 0`` wherever the sampler starts.

    >>> law = _llm_line_law("fineweb_edu_validation_loss")
    >>> law.param_names
    ('V', 's', 'r', 'g')
    >>> round(float(law.fn({"L": 3.4}, {"V": 3.0, "s": 0.2, "r": 0.5, "g": 0.7})), 12)
    3.0
    """

    floor, x0 = LLM_LINE_FLOOR[x], LLM_LINE_REFERENCE[x]
    return Law.from_expression(
        f"V*(s + (1 - s)*((L - r*{floor})/({x0} - r*{floor}))**(g/(1 - s)))",
        name=f"shifted_power_level_at_{x0}", variables=("L",),
        params={"V": {"prior": Prior("LogNormal", 1.0, 0.5), "group_scale": 0.2,
                      "description": f"level: the output loss at L = {x0}"},
                "g": {"prior": Prior("LogNormal", 0.0, 0.5), "group_scale": 0.2,
                      "description": f"elasticity d log L_y / d log(L - E_x) at L = {x0}"},
                "s": {"constraint": "unit", "prior": Prior("Beta", 2.0, 2.0),
                      "description": f"the floor E_y as a share of the level at L = {x0}"},
                "r": {"constraint": "unit", "prior": Prior("Beta", 2.0, 2.0),
                      "description": f"the input's floor E_x as a share of {floor}"}})


def _llm_line_spec(x: str, y: str, by: str | list[str] | None,
                   parameterization: str = "noncentred") -> ScalingModel:
    vary = {} if by is None else {p: by for p in _CURVE}
    return ScalingModel(_llm_line_law(x), inputs={"L": x}, target=y, vary=vary,
                        priors={"sigma": Prior("HalfNormal", 0.05)},
                        parameterization=parameterization)


def _short(column: str) -> str:
    return column.replace("_validation_loss", "").replace("_loss", "").replace("_", "-")


def _all_specs() -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every reproduction spec with its ``[study]`` table (which rows fit, which are targets):
    :class:`~scalinglaws.ScalingModel` specs, and the loss-to-loss ones of Brandfonbrener
    (:class:`~scalinglaws.losstoloss.LossToLossModel`)."""
    out: dict[str, tuple[Any, dict[str, Any]]] = {}
    gadre = {"study": "gadre2024", "table": "runs", "join": "downstream:err_avg_subset",
             "select": "paper_default_role", "targets": ["target"]}
    loss_fit = {**gadre, "fit": ["fit_loss_and_error"],
                "description": "Gadre et al.'s default fit: per dataset the 0.011/0.079/0.154/"
                               "0.411B runs at M=20 and the 0.011B run at M=320; targets the "
                               "over-trained 1.4B and the 6.9B (M=20) runs"}
    error_fit = {**gadre, "fit": ["fit_loss_and_error", "fit_error_only"],
                 "description": "the five loss-fit runs plus the 1.4B run at M=20 per dataset; "
                                "the targets' error is predicted through their predicted loss"}
    loss = {"law": "overtraining", "inputs": {"N": "N", "D": "D"}, "target": "loss_c4_val",
            "priors": {"sigma": GADRE_LOSS_NOISE}}
    out["gadre2024_loss_per_dataset"] = (
        ScalingModel(**loss, vary={p: "dataset" for p in ("E", "a", "b", "eta")},
                     pooling="none"), loss_fit)
    out["gadre2024_loss_hierarchical"] = (
        ScalingModel(**loss, vary={p: "dataset" for p in ("E", "a", "b")}), loss_fit)
    error = {"law": "downstream_exp", "inputs": {"L": "loss_c4_val"},
             "target": "err_avg_subset", "priors": {"sigma": GADRE_ERROR_NOISE},
             "vary": {p: "dataset" for p in ("epsilon", "k", "gamma")}}
    out["gadre2024_error_per_dataset"] = (ScalingModel(**error, pooling="none"), error_fit)
    out["gadre2024_error_hierarchical"] = (ScalingModel(**error), error_fit)

    for x, y in _LLM_LINE_PAIRS:
        tag = f"{_short(x)}_to_{_short(y)}".replace("-", "_")
        base = {"study": "llm_line2025", "table": "hf_models", "x": x, "y": y,
                "rows": f"every model with both {x} and {y}", "targets": []}
        for by, name in (("dataset", "by_data"), ("architecture", "by_architecture"),
                         (None, "shared")):
            # the data's curves are each well measured and clearly apart: centred offsets
            # (non-centred ones made a funnel with the group scales, R-hat 1.3)
            out[f"llm_line2025_{tag}_{name}"] = (
                _llm_line_spec(x, y, by, "centred" if by == "dataset" else "noncentred"),
                {**base, "description": f"shifted power law {_short(y)} against {_short(x)}, "
                                        f"level V and elasticity g "
                                        + (f"varying by {by}" if by else "shared by all")})
        out[f"llm_line2025_{tag}_pile_architecture"] = (
            _llm_line_spec(x, y, "arch_tokenizer"),
            {**base, "rows": "the Pile-trained models (dataset 'The Pile') with both losses",
             "description": "architecture effect among Pile-trained models (Pythia, GPT-Neo, "
                            "GPT-J, GPT-NeoX, Mamba, Mamba2): V and g vary by "
                            "architecture/tokenizer (GPT-Neo and GPT-J use the gpt2 tokenizer)"})

    brand = {"study": "brandfonbrener2025", "table": "sweep", "targets": ["extrapolation"],
             "sources": "each training set of the sweep in turn (one fit per set)",
             "input": "x = the source set's val_loss, latent, with its Kaplan law in N, D"}
    out["brandfonbrener2025_train_to_train"] = (
        brandfonbrener_model("train_to_train"),
        {**brand, "pairing": "pair_train_to_train(sweep, x=source): the five other sets' "
                             "val_loss at the same N and D",
         "predict": "each other set's 1e21-FLOP val_loss from the source's 1e21 val_loss",
         "description": "train-to-train: one joint posterior of the source's compute law "
                        "and five shifted power links (kappa, K, E_y by output set, no "
                        "pooling), errors in variables"})
    out["brandfonbrener2025_train_to_test"] = (
        brandfonbrener_model("train_to_test"),
        {**brand, "pairing": "pair_train_to_test(sweep, tasks, datasets=source): the same "
                             "model's test losses",
         "tasks": [_TASK_COLUMN.format(t) for t in BRANDFONBRENER_TASKS],
         "predict": "the source's 1e21-FLOP test loss of each task from its 1e21 val_loss",
         "cut_draws": BRANDFONBRENER_CUT["cut_draws"],
         "warmup_per_cut_draw": BRANDFONBRENER_CUT["warmup"],
         "draws_per_cut_draw": BRANDFONBRENER_CUT["draws"],
         "description": "train-to-test: eleven links (kappa, K, E_y and the noise by task, "
                        "no pooling) cut from the compute law, which the source's "
                        "val_loss alone sets"})

    hitch = {"study": "hitchhiker2024", "table": "checkpoints", "min_sizes": 3,
             "min_tokens": 1e10, "test_fraction": 0.7,
             "max_checkpoints": HITCHHIKER_MAX_CHECKPOINTS,
             "targets": ["largest num_params of each family"],
             "score": "ARE on the target's checkpoints at >= 70% of its training",
             "units": "per family: N_rel, D_rel, loss_rel = N, D, perf_loss_perp over their "
                      "geometric means on the fitted rows (hitchhiker_normalise)"}
    exponents = {"alpha": HITCHHIKER_EXPONENT, "beta": HITCHHIKER_EXPONENT}
    chin = {"law": "chinchilla", "inputs": {"N": "N_rel", "D": "D_rel"}, "target": "loss_rel",
            "priors": {**exponents, "E": HITCHHIKER_E, "A": HITCHHIKER_TERM,
                       "B": HITCHHIKER_TERM, "sigma": HITCHHIKER_NOISE,
                       "run_sd": HITCHHIKER_RUN_SD}}
    per_family = {p: "family" for p in ("E", "A", "B", "alpha", "beta")}
    out["hitchhiker2024_final"] = (
        ScalingModel(**{**chin, "priors": {**{k: v for k, v in chin["priors"].items()
                                               if k not in ("run_sd", "sigma")},
                                            "sigma": Prior("HalfNormal", 0.05)}},
                     vary=per_family, pooling="none"),
        {**hitch, "rows": "final",
         "description": "(a) per-family fits on the final loss of each smaller model, one "
                        "noise scale for all families"})
    out["hitchhiker2024_checkpoints"] = (
        ScalingModel(**chin, vary={**per_family, "sigma": "family"}, pooling="none",
                     run="run", coordinates="level"),
        {**hitch, "rows": "checkpoints",
         "description": "(b) per-family fits on the smaller models' checkpoints (> 1e10 "
                        "tokens, at most 10 log-spaced per run), with a per-run offset; "
                        "fitted once per family on that family's rows only (the family "
                        "factor then has one level), so each family has its own law, noise "
                        "scale and run scale; E, A, B sampled as their sum at the family's "
                        "centre and shares of it (same priors, straighter geometry)"})
    hier_priors = {**chin["priors"], "E_sd": HITCHHIKER_GROUP, "A_sd": HITCHHIKER_GROUP,
                   "B_sd": HITCHHIKER_GROUP}
    out["hitchhiker2024_hierarchical"] = (
        ScalingModel(**{**chin, "priors": hier_priors},
                     vary={"E": "family", "A": "family", "B": "family", "sigma": "family"},
                     run="run", parameterization=HITCHHIKER_CENTRED),
        {**hitch, "rows": "checkpoints",
         "description": "(c) one hierarchical fit: alpha and beta shared by all families, "
                        "E, A, B and the noise by family, per-run offsets"})
    out["hitchhiker2024_hierarchical_exponents"] = (
        ScalingModel(**{**chin, "priors": hier_priors},
                     vary={p: "family" for p in ("E", "A", "B", "alpha", "beta", "sigma")},
                     run="run", parameterization=HITCHHIKER_CENTRED),
        {**hitch, "rows": "checkpoints",
         "description": "(d) as (c), but alpha and beta also vary by family with partial "
                        "pooling (the families' losses are in different units)"})
    for study in STUDY_MODULES:
        out.update(_study_module(study).specs())
    return out


def _study_module(study: str) -> Any:
    """The module of a study listed in :data:`STUDY_MODULES`."""
    import importlib

    return importlib.import_module(f".{STUDY_MODULES[study]}", __package__)


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
    path = Path(path)
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


# --- Gadre et al. 2024 -----------------------------------------------------------------------

GADRE_DATASETS = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}
#: Relative errors (%) printed in the paper's repository (scaling_explorer.ipynb) for
#: RedPajama, C4-eval loss, 17-task error. The other datasets' values are not published.
GADRE_PUBLISHED = {("rpj", 640.0): {"loss": 0.7103, "error": 3.6365},
                   ("rpj", 20.0): {"loss": 0.7320, "error": 0.0464}}
_GADRE_COLUMNS = ("run", "dataset", "N", "D", "M", "loss_c4_val", "err_avg_subset",
                  "paper_default_role")


def gadre_frame(runs: pd.DataFrame, downstream: pd.DataFrame) -> pd.DataFrame:
    """The Gadre runs with the 17-task error ``err_avg_subset`` joined by ``run``.

    >>> runs = pd.DataFrame({"run": ["a"], "loss_c4_val": [3.0]})
    >>> gadre_frame(runs, pd.DataFrame({"run": ["a"], "err_avg_subset": [0.7]}))
    ... # doctest: +NORMALIZE_WHITESPACE
      run  loss_c4_val  err_avg_subset
    0   a          3.0             0.7
    """
    _require(runs, ["run"], "the gadre2024 runs table")
    _require(downstream, ["run", "err_avg_subset"], "the gadre2024 downstream table")
    extra = downstream[["run", "err_avg_subset"]].drop_duplicates("run")
    frame = runs.drop(columns=["err_avg_subset"], errors="ignore")
    return frame.merge(extra, on="run", how="left", validate="one_to_one")


def gadre_split(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The paper's default split of the Gadre runs (``paper_default_role``).

    Returns ``{"loss_fit": ..., "error_fit": ..., "targets": ...}``: the five runs per
    dataset that fit the loss law, those plus the 1.4B M=20 run that fit the error law,
    and the held-out targets (a ``target`` label column is added).

    Examples
    --------
    >>> frame = pd.DataFrame({
    ...     "run": list("abcd"), "dataset": "rpj", "N": [1e7, 4e8, 1.4e9, 6.9e9],
    ...     "D": [2e8, 8e9, 9e11, 1.38e11], "M": [20.0, 20.0, 640.0, 20.0],
    ...     "loss_c4_val": [5.4, 3.1, 2.5, 2.4], "err_avg_subset": [0.8, 0.7, 0.6, 0.55],
    ...     "paper_default_role": ["fit_loss_and_error", "fit_error_only", "target", "target"]})
    >>> parts = gadre_split(frame)
    >>> len(parts["loss_fit"]), len(parts["error_fit"]), parts["targets"]["target"].tolist()
    (1, 2, ['1.4B, M=640', '6.9B, M=20'])
    """
    _require(frame, _GADRE_COLUMNS, "the gadre2024 frame")
    role = frame["paper_default_role"].astype(str)
    parts = {
        "loss_fit": frame[role == "fit_loss_and_error"],
        "error_fit": frame[role.isin(["fit_loss_and_error", "fit_error_only"])],
        "targets": frame[role == "target"],
    }
    for name, part in parts.items():
        if part.empty:
            raise ScalingLawError(
                f"gadre2024: no rows for {name!r} (paper_default_role has "
                f"{sorted(role.unique())}); load the runs table with "
                f"scalinglaws.datasets.load('gadre2024')"
            )
        bad = part[["N", "D", "loss_c4_val", "err_avg_subset"]].isna().any(axis=1)
        if bad.any():
            raise ScalingLawError(
                f"gadre2024: {int(bad.sum())} {name} rows lack N, D, loss_c4_val or "
                f"err_avg_subset (runs {part.loc[bad, 'run'].tolist()[:3]}); join the "
                f"downstream table with gadre_frame"
            )
    parts = {k: v.astype({"N": float, "D": float, "M": float}) for k, v in parts.items()}
    targets = parts["targets"].sort_values(["dataset", "N"]).copy()
    targets["target"] = [f"{n / 1e9:.1f}B, M={m:g}" for n, m in zip(targets["N"], targets["M"],
                                                                     strict=True)]
    parts["targets"] = targets
    return {k: v.copy() for k, v in parts.items()}


def _gadre_loss_law(x, a, b_coef, b, e):
    n, d = x
    return e + a * n ** b + b_coef * 6 ** (b / 2) * d ** b


def _gadre_error_law(x, k, gamma, eps):
    return eps - k * np.exp(-gamma * x)


def gadre_paper_fit(loss_fit: pd.DataFrame, error_fit: pd.DataFrame) -> dict[str, dict]:
    """The paper's point fits per dataset: scipy ``curve_fit`` with the repository's starts.

    Loss: ``L = E + a N^b + b' 6^(b/2) D^b`` on the raw loss, starts a, b' in {1e2, 3e2,
    1e3, 3e3}, b in {-0.1, -0.3}, E in {0, 1, 2, 10}, the lowest residual standard error
    kept (``scaling/laws.py``). Error: ``Err = eps - k exp(-gamma L)`` on the six runs.
    Returns ``{dataset: {"loss": params, "error": params}}``.
    """
    from scipy.optimize import curve_fit

    out = {}
    for dataset, rows in loss_fit.groupby("dataset"):
        x = (rows["N"].to_numpy(float), rows["D"].to_numpy(float))
        y = rows["loss_c4_val"].to_numpy(float)
        best = None
        for a0, b0, e0, c0 in itertools.product((1e2, 3e2, 1e3, 3e3), (1e2, 3e2, 1e3, 3e3),
                                                (-0.1, -0.3), (0.0, 1.0, 2.0, 10.0)):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    p, _ = curve_fit(_gadre_loss_law, x, y, p0=[a0, b0, e0, c0], maxfev=10000)
                except (RuntimeError, ValueError):
                    continue
            resid = y - _gadre_loss_law(x, *p)
            rse = np.sqrt(np.sum(resid ** 2) / max(len(y) - 4, 1))
            if np.isfinite(rse) and (best is None or rse < best[0]):
                best = (rse, p)
        err_rows = error_fit[error_fit["dataset"] == dataset]
        xl = err_rows["loss_c4_val"].to_numpy(float)
        ye = err_rows["err_avg_subset"].to_numpy(float)
        best_e = None
        for k0, g0, e0 in itertools.product((0.5, 1.0, 2.0, 5.0), (0.3, 0.7, 1.5),
                                            (0.6, 0.8, 0.9, 1.0)):
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    q, _ = curve_fit(_gadre_error_law, xl, ye, p0=[k0, g0, e0], maxfev=10000)
                except (RuntimeError, ValueError):
                    continue
            sse = np.sum((ye - _gadre_error_law(xl, *q)) ** 2)
            if np.isfinite(sse) and (best_e is None or sse < best_e[0]):
                best_e = (sse, q)
        if best is None or best_e is None:
            raise ScalingLawError(f"gadre2024: the paper's least-squares fit failed for "
                                  f"dataset {dataset!r} from every start")
        a, b_coef, b, e = best[1]
        k, gamma, eps = best_e[1]
        out[str(dataset)] = {
            "loss": {"E": e, "eta": -b / 2, "a": a * 6 ** (-b / 2), "b": b_coef,
                     "_raw": best[1]},
            "error": {"k": k, "gamma": gamma, "epsilon": eps, "_raw": best_e[1]},
        }
    return out


def _gadre_paper_predict(paper: Mapping[str, dict], targets: pd.DataFrame) -> pd.DataFrame:
    loss, error = [], []
    for _, row in targets.iterrows():
        fit = paper.get(str(row["dataset"]))
        if fit is None:
            loss.append(np.nan)
            error.append(np.nan)
            continue
        value = float(_gadre_loss_law((row["N"], row["D"]), *fit["loss"]["_raw"]))
        loss.append(value)
        error.append(float(_gadre_error_law(value, *fit["error"]["_raw"])))
    return pd.DataFrame({"loss": loss, "error": error}, index=targets.index)


def _gadre_predict(loss_fit, error_fit, targets: pd.DataFrame, seed: int) -> dict[str, tuple]:
    """Draws of the targets' loss and error; the error carries the loss's uncertainty."""
    frame = targets[["N", "D", "dataset"]].copy()
    loss = loss_fit.predict_draws(frame, seed=seed)
    probe = targets[["dataset"]].assign(loss_c4_val=targets["loss_c4_val"].to_numpy())
    err = error_fit.predict_draws(probe, seed=seed)
    sigma = error_fit.draws()["sigma"]
    idx_loss = np.arange(loss["law"].shape[0])
    idx_err = np.arange(sigma.shape[0])
    idx_loss, idx_err = _aligned(idx_loss, idx_err, seed=seed)
    law_l, obs_l = loss["law"][idx_loss], loss["observed"][idx_loss]
    params = {k: v[idx_err] for k, v in err["params"].items()}
    fn = error_fit.spec.law.fn
    point = np.asarray(fn({"L": law_l}, params))
    rng = np.random.default_rng(seed + 1)
    noise = sigma[idx_err][:, None] * rng.standard_normal(obs_l.shape)
    predictive = np.asarray(fn({"L": obs_l}, params)) + noise
    return {"loss": (law_l, obs_l), "error": (point, predictive)}


def _gadre(data_dir: Any, settings: Settings, out: Path | None,
           log: Callable[[str], None]) -> Reproduction:
    frame = gadre_frame(_load("gadre2024", "runs", data_dir),
                        _load("gadre2024", "downstream", data_dir))
    parts = gadre_split(frame)
    targets = parts["targets"]
    paper = gadre_paper_fit(parts["loss_fit"], parts["error_fit"])
    paper_pred = _gadre_paper_predict(paper, targets)
    models = specs("gadre2024")
    fits = {}
    for kind in ("per_dataset", "hierarchical"):
        accept = 0.95 if kind == "hierarchical" else 0.9
        fits[("loss", kind)] = _fit(models[f"gadre2024_loss_{kind}"], parts["loss_fit"],
                                    settings, log, f"loss, {kind}", target_accept=accept)
        fits[("error", kind)] = _fit(models[f"gadre2024_error_{kind}"], parts["error_fit"],
                                     settings, log, f"error, {kind}", target_accept=accept)

    rows = []
    draws = {}
    for kind in ("per_dataset", "hierarchical"):
        pred = _gadre_predict(fits[("loss", kind)], fits[("error", kind)], targets,
                              settings.seed)
        draws[kind] = pred
        for quantity, column in (("loss", "loss_c4_val"), ("error", "err_avg_subset")):
            scored = score_targets(targets[column], *pred[quantity])
            for i, (_, row) in enumerate(targets.iterrows()):
                published = GADRE_PUBLISHED.get((row["dataset"], float(row["M"])), {})
                truth = float(row[column])
                p = float(paper_pred.loc[row.name, quantity])
                rows.append({
                    "quantity": "C4-eval loss" if quantity == "loss" else "17-task error",
                    "dataset": GADRE_DATASETS.get(row["dataset"], row["dataset"]),
                    "target": row["target"], "model": kind.replace("_", "-"),
                    "truth": truth, "paper_pred": p,
                    "paper_err_%": 100 * abs(p - truth) / truth,
                    "published_err_%": published.get(quantity, np.nan),
                    **scored.iloc[i].drop("truth").to_dict(),
                })
    table = pd.DataFrame(rows)
    order = {"per-dataset": 0, "hierarchical": 1, "C4-eval loss": 0, "17-task error": 1}
    table = table.sort_values(["quantity", "dataset", "target", "model"],
                              key=lambda s: s.map(order) if s.name in ("model", "quantity")
                              else s, kind="stable").reset_index(drop=True)
    table = table.rename(columns={"median": "our_median", "lower": "lower_90",
                                  "upper": "upper_90", "rel_err_%": "our_err_%"})

    params = _gadre_params(fits, paper)
    diagnostics = pd.DataFrame([_diagnostics(f"{q}, {k}", f) for (q, k), f in fits.items()])
    summary = (table.groupby(["quantity", "model"], sort=False)
               .agg(targets=("truth", "size"), covered=("covered", "sum"),
                    our_mean_err=("our_err_%", "mean"), paper_mean_err=("paper_err_%", "mean"))
               .reset_index())
    figures: list[Path] = []
    if out is not None:
        _gadre_figures(table, fits, parts, draws, paper, out, figures)
    notes = _gadre_notes(table) + _convergence_notes(diagnostics)
    return Reproduction("gadre2024", _TITLES["gadre2024"], table,
                        {"summary (mean relative error, %)": summary,
                         "parameters (posterior median, paper's least squares)": params,
                         "sampler": diagnostics},
                        tuple(notes), tuple(figures))


def _gadre_params(fits: Mapping, paper: Mapping[str, dict]) -> pd.DataFrame:
    rows = []
    probe_l = pd.DataFrame({"N": 1e9, "D": 2e10, "dataset": list(GADRE_DATASETS)})
    probe_e = pd.DataFrame({"loss_c4_val": 3.0, "dataset": list(GADRE_DATASETS)})
    for kind in ("per_dataset", "hierarchical"):
        lp = fits[("loss", kind)].predict_draws(probe_l)["params"]
        ep = fits[("error", kind)].predict_draws(probe_e)["params"]
        for i, dataset in enumerate(GADRE_DATASETS):
            row = {"dataset": GADRE_DATASETS[dataset], "model": kind.replace("_", "-")}
            for name in ("E", "eta", "a", "b"):
                row[name] = float(np.median(lp[name][:, i]))
            for name in ("epsilon", "k", "gamma"):
                row[name] = float(np.median(ep[name][:, i]))
            rows.append(row)
    for dataset in GADRE_DATASETS:
        if dataset in paper:
            row = {"dataset": GADRE_DATASETS[dataset], "model": "paper (least squares)"}
            row.update({k: v for k, v in paper[dataset]["loss"].items() if k != "_raw"})
            row.update({k: v for k, v in paper[dataset]["error"].items() if k != "_raw"})
            rows.append(row)
    return pd.DataFrame(rows).sort_values(["dataset"], kind="stable").reset_index(drop=True)


def _labels(rows: pd.DataFrame) -> list[str]:
    return (rows["quantity"] + " " + rows["dataset"] + " " + rows["target"]).tolist()


def _gadre_notes(table: pd.DataFrame) -> list[str]:
    notes = [
        "Point prediction: posterior median of the noise-free law; interval: 90% posterior-"
        "predictive interval (law uncertainty plus run-level noise), because the truth is "
        "one run's observed value. paper_pred/paper_err_%: the paper's least-squares fit "
        "rerun here from the same runs (it reproduces the repository's printed RedPajama "
        "numbers, published_err_%).",
        "17-task error: each posterior draw of the target's loss (with noise) goes through "
        "a posterior draw of the error law, plus the error law's noise. The two posteriors "
        "are independent fits paired draw by draw (shuffled), which treats the error-law "
        "fit as conditional on the observed losses (no errors-in-variables in that fit).",
        f"Loss noise prior {GADRE_LOSS_NOISE!r} on log loss (bootstrap evaluation noise "
        f"~0.05%, law misfit ~1%), error noise prior {GADRE_ERROR_NOISE!r}; with five runs "
        f"per dataset the noise is weakly identified, so these priors matter.",
    ]
    for model in table["model"].unique():
        rows = table[table["model"] == model]
        missed = rows[~rows["covered"]]
        worse = rows[rows["our_err_%"] > rows["paper_err_%"]]
        notes.append(
            f"{model}: {int(rows['covered'].sum())}/{len(rows)} truths inside the 90% "
            f"interval; point error worse than the paper's least squares for "
            f"{len(worse)}/{len(rows)} targets"
            + (f" (missed: {', '.join(_labels(missed))})" if len(missed) else "") + ".")
    return notes


def _gadre_figures(table: pd.DataFrame, fits: Mapping, parts: Mapping[str, pd.DataFrame],
                   draws: Mapping, paper: Mapping[str, dict], out: Path,
                   figures: list[Path]) -> None:
    import matplotlib.pyplot as plt

    # 1. every target: our relative error with its 90% interval, the paper's point error
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.4), sharey=True, constrained_layout=True)
    for ax, quantity in zip(axes, ("C4-eval loss", "17-task error"), strict=True):
        rows = table[table["quantity"] == quantity]
        labels = list(dict.fromkeys(rows["dataset"] + "\n" + rows["target"]))
        for j, model in enumerate(("per-dataset", "hierarchical")):
            sub = rows[rows["model"] == model]
            y = np.arange(len(sub)) + (j - 0.5) * 0.25
            mid = 100 * (sub["our_median"] / sub["truth"] - 1)
            lo = 100 * (sub["lower_90"] / sub["truth"] - 1)
            hi = 100 * (sub["upper_90"] / sub["truth"] - 1)
            ax.errorbar(mid, y, xerr=np.vstack([mid - lo, hi - mid]), fmt="o", ms=4,
                        capsize=2, color=f"C{j}", label=f"ours, {model} (90% predictive)")
        sub = rows[rows["model"] == "per-dataset"]
        ax.plot(100 * (sub["paper_pred"] / sub["truth"] - 1), np.arange(len(sub)), "kx",
                ms=7, label="paper's least squares")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set_xlabel("prediction / truth - 1 (%)")
        ax.set_title(quantity, fontsize=10)
        ax.grid(alpha=0.3, lw=0.4)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Gadre et al. 2024: held-out targets predicted from the small runs",
                 fontsize=11)
    _save(fig, out, "gadre2024_targets.png", figures)

    # 2. the hierarchical loss fit per dataset, with the targets it extrapolates to
    targets = parts["targets"]
    fit = fits[("loss", "hierarchical")]
    fig = fit.plot(extrapolate=500.0)
    for ax, dataset in zip(fig.axes, fit.design.factors["dataset"].levels, strict=False):
        rows = targets[targets["dataset"] == dataset]
        ax.scatter(6 * rows["N"] * rows["D"], rows["loss_c4_val"], marker="*", s=90,
                   color="crimson", zorder=5, label="held-out targets")
        ax.set_title(f"{GADRE_DATASETS.get(dataset, dataset)} ({ax.get_title()})", fontsize=8)
    fig.axes[0].legend(fontsize=6, loc="upper right")
    fig.suptitle("overtraining law, hierarchical (eta shared): fit on 5 runs per dataset",
                 fontsize=10)
    _save(fig, out, "gadre2024_loss_fit.png", figures)

    # 3. the error law against loss, with the targets' predicted error
    fit = fits[("error", "hierarchical")]
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 3.8), sharey=True, constrained_layout=True)
    err_rows = parts["error_fit"]
    for ax, dataset in zip(axes, GADRE_DATASETS, strict=True):
        rows = err_rows[err_rows["dataset"] == dataset]
        grid = np.linspace(2.2, rows["loss_c4_val"].max() * 1.02, 80)
        pred = fit.predict(pd.DataFrame({"loss_c4_val": grid, "dataset": dataset}))
        ax.fill_between(grid, pred["lower"], pred["upper"], alpha=0.3, color="C1", lw=0,
                        label="90% credible")
        ax.plot(grid, pred["median"], color="C1", label="posterior median")
        ax.scatter(rows["loss_c4_val"], rows["err_avg_subset"], s=16, color="k", zorder=3,
                   label="fitted runs")
        tg = targets[targets["dataset"] == dataset]
        ax.scatter(tg["loss_c4_val"], tg["err_avg_subset"], marker="*", s=90,
                   color="crimson", zorder=5, label="targets (true loss, true error)")
        ax.set_title(GADRE_DATASETS[dataset], fontsize=10)
        ax.set_xlabel("C4-eval loss")
        ax.grid(alpha=0.3, lw=0.4)
    axes[0].set_ylabel("17-task mean top-1 error")
    axes[0].legend(fontsize=7)
    fig.suptitle("Err(L) = eps - k exp(-gamma L), hierarchical fit on 6 runs per dataset",
                 fontsize=11)
    _save(fig, out, "gadre2024_error_law.png", figures)


# --- Brandfonbrener et al. 2025 ------------------------------------------------------------

#: The paper's 11 test losses (its translation notebook; see the study's DATA.md).
BRANDFONBRENER_TASKS = ("arc_challenge", "arc_easy", "hellaswag", "mmlu_humanities",
                        "mmlu_other", "mmlu_social_sciences", "mmlu_stem", "openbook_qa",
                        "piqa", "sciq", "winogrande")
_TASK_COLUMN = "eval/downstream_ce_loss/{}_test_ce_loss"
#: The paper's own train-to-test errors at 1e21 (%, its "general train-to-test" protocol:
#: FineWeb-Edu's validation loss to the other sets' test losses, ~20 tokens/param runs).
BRANDFONBRENER_PAPER_TRAIN_TO_TEST = {"hellaswag": 1.6, "arc_easy": 10.2,
                                      "mmlu_humanities": 2.8, "mmlu_stem": 6.4}
#: Starts of the mode search of each loss-to-loss fit (the default 32 cost two minutes of
#: the marginal likelihood's BFGS per fit on two cores; 8 reach the same mode here).
LTL_STARTS = 8
#: Source sets fitted with quick settings (smoke tests).
BRANDFONBRENER_QUICK = ("fineweb-edu-100b",)
#: Train-to-test fits are cut (:func:`brandfonbrener_model`): per compute-law draw, NUTS
#: runs 2 chains of this warmup and these draws; one fit takes 21-37 minutes on a core
#: (with quick settings, 2 draws of 100 + 50). With the links in anchored coordinates
#: (``losstoloss._sample_anchored``) all six fits end at R-hat 1.05-1.09 within a draw's
#: chains, no divergences, 68-448 leapfrog steps per draw; in the natural coordinates
#: five of six ended at 1.11-1.62, see docs/loss_to_loss.md.
BRANDFONBRENER_CUT = {"cut_draws": 4, "warmup": 250, "draws": 100}
BRANDFONBRENER_CUT_QUICK = {"cut_draws": 2, "warmup": 100, "draws": 50}


def brandfonbrener_paper_link(loss_x: Sequence[float], loss_y: Sequence[float], e_x: float,
                              e_y: float) -> tuple[float, float]:
    """The paper's link fit: E_x, E_y plugged in, kappa and K by least squares.

    Ordinary least squares of log(L_y - E_y) on log(L_x - E_x), as the paper's
    ``fit_power_law``; returns ``(kappa, K)``.

    >>> lx = np.array([3.0, 3.5, 4.0])
    >>> kappa, k = brandfonbrener_paper_link(lx, 0.5 * (lx - 2.0) ** 1.2 + 1.0, 2.0, 1.0)
    >>> round(kappa, 6), round(k, 6)
    (1.2, 0.5)
    """
    lx, ly = np.asarray(loss_x, dtype=float), np.asarray(loss_y, dtype=float)
    if lx.shape != ly.shape or lx.size < 2:
        raise ScalingLawError("brandfonbrener_paper_link needs two equal-length arrays of at "
                              "least two paired losses")
    if (lx <= e_x).any() or (ly <= e_y).any():
        raise ScalingLawError(f"every loss must exceed its plugged-in offset (E_x {e_x}, "
                              f"E_y {e_y}); the paper's least squares is undefined otherwise")
    kappa, log_k = np.polyfit(np.log(lx - e_x), np.log(ly - e_y), 1)
    return float(kappa), float(np.exp(log_k))


def _kaplan_e(opt: pd.DataFrame, dataset: str, loss_name: str) -> float:
    """The authors' Kaplan-form E of one loss of one training set (opt_params_data)."""
    rows = opt[(opt["data"] == dataset) & (opt["loss_name"] == loss_name)
               & opt["kaplan"].astype(bool)]
    if len(rows) != 1:
        raise ScalingLawError(f"opt_params has {len(rows)} Kaplan rows for {dataset!r} / "
                              f"{loss_name!r}; expected one (is it the upstream file?)")
    return float(rows["E"].iloc[0])


def brandfonbrener_model(setting: str) -> Any:
    """The joint loss-to-loss model of one setting (``"train_to_train"``/``"train_to_test"``).

    The input set's Kaplan law (E, A, B, alpha, beta; its E is the link's E_x), the latent
    input losses, and one shifted power link per output (``kappa``, ``K``, ``E_y`` by
    output set or task, no pooling: the paper fits each pair alone).

    - train-to-train: one output noise scale (the five other sets' validation losses are
      alike; a scale per set, partially pooled, made a funnel that saturated NUTS's tree
      depth on 78% of draws), and one joint posterior.
    - train-to-test: a noise scale per task, independent (HellaSwag's test loss sits
      0.15% from its link, SciQ's 5%), and ``feedback="cut"``: the eleven links, fitted
      on losses 15-80% above the 1e21 input loss, would otherwise pull E_x up to that
      loss (see ``docs/loss_to_loss.md``); the compute law alone sets it, as in the paper.

    >>> brandfonbrener_model("train_to_train").link_factors
    ('dataset_y',)
    >>> brandfonbrener_model("train_to_test").feedback
    'cut'
    """

    factor = {"train_to_train": "dataset_y", "train_to_test": "metric_y"}.get(setting)
    if factor is None:
        raise ScalingLawError(f"unknown setting {setting!r}; use 'train_to_train' or "
                              f"'train_to_test'")
    vary = {p: factor for p in ("kappa", "K", "E_y")}
    if setting == "train_to_train":
        return LossToLossModel("kaplan", vary=vary, pooling="none", parameterization="centred")
    return LossToLossModel("kaplan", vary={**vary, "sigma_y": factor}, pooling="none",
                           parameterization="centred", feedback="cut")


def _brandfonbrener_rows(setting: str, fit: Any, at: pd.DataFrame, truth: np.ndarray,
                         paper: np.ndarray, x: str, y: Sequence[str], seed: int) -> pd.DataFrame:
    pred = fit.predict(at, interval=INTERVAL, seed=seed, law_prior=False)
    scored = _scored(truth, pred["median"].to_numpy(), pred["pred_lower"].to_numpy(),
                     pred["pred_upper"].to_numpy())
    scored.insert(0, "setting", setting)
    scored.insert(1, "x", x)
    scored.insert(2, "y", list(y))
    scored.insert(4, "paper_method", paper)
    scored.insert(5, "paper_err_%", 100 * np.abs(paper - truth) / truth)
    return scored


def _brandfonbrener_data(data_dir: Any) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The sweep, the 1e21-FLOP target row of each set, and the authors' fits."""
    sweep = _load("brandfonbrener2025", "sweep", data_dir)
    ext = _load("brandfonbrener2025", "extrapolation", data_dir)
    opt = _load("brandfonbrener2025", "opt_params", data_dir)
    tasks = [_TASK_COLUMN.format(t) for t in BRANDFONBRENER_TASKS]
    _require(sweep, ["N", "D", "dataset", "val_loss", *tasks], "brandfonbrener2025 sweep")
    target = {d: ext[ext["dataset"] == d].iloc[0] for d in sorted(sweep["dataset"].unique())}
    return sweep, target, opt


def _brandfonbrener_setting(setting: str, sweep: pd.DataFrame, target: Mapping,
                            opt: pd.DataFrame, sources: Sequence[str], settings: Settings,
                            log: Callable[[str], None]) -> tuple[list, list, dict]:
    """One setting's fits (one per source set) and scored predictions of the targets."""

    tasks = [_TASK_COLUMN.format(t) for t in BRANDFONBRENER_TASKS]
    rows, diag, fits = [], [], {}
    for x in sources:
        if setting == "train_to_train":  # x's law and links to the five other sets
            pairs = ltl.pair_train_to_train(sweep, x=x)
            outputs = [d for d in target if d != x]
            names, factor, loss_names = outputs, "dataset_y", ["val_loss"] * len(outputs)
            truth = [float(target[d]["val_loss"]) for d in outputs]
            label = f"train-to-train from {x}"
        else:  # one model's own loss to its 11 test losses
            pairs = ltl.pair_train_to_test(sweep, tasks, datasets=x)
            outputs, names, factor = tasks, list(BRANDFONBRENER_TASKS), "metric_y"
            loss_names = tasks
            truth = [float(target[x][t]) for t in tasks]
            label = f"train-to-test on {x}"
        cut = {} if setting == "train_to_train" else (
            BRANDFONBRENER_CUT_QUICK if settings.quick else BRANDFONBRENER_CUT)
        fit = _fit(brandfonbrener_model(setting), pairs, settings, log, label,
                   n_starts=LTL_STARTS, **cut)
        observed = float(target[x]["val_loss"])
        at = pd.DataFrame({"N": float(target[x]["N"]), "D": float(target[x]["D"]),
                           factor: outputs, "loss_x": observed})
        paper = _brandfonbrener_paper_method(setting, pairs, opt, x, outputs, loss_names,
                                             observed)
        rows.append(_brandfonbrener_rows(label.split(" ")[0], fit, at, np.array(truth),
                                         np.array(paper), x, names, settings.seed))
        diag.append(_diagnostics(label, fit))
        fits[(setting, x)] = fit
    return rows, diag, fits


def _brandfonbrener_paper_method(setting: str, pairs: pd.DataFrame, opt: pd.DataFrame, x: str,
                                 outputs: Sequence[str], loss_names: Sequence[str],
                                 observed: float) -> list[float]:
    """The paper's two-stage prediction of each output from x's observed loss.

    NaN where a pair's sweep loss lies at or below the authors' plugged-in E_x or E_y
    (the logs of its least squares are undefined; SlimPajama -> SciQ has one such loss).
    """
    factor = "dataset_y" if setting == "train_to_train" else "metric_y"
    e_x, paper = _kaplan_e(opt, x, "val_loss"), []
    for out, loss_name in zip(outputs, loss_names, strict=True):
        e_y = _kaplan_e(opt, out if setting == "train_to_train" else x, loss_name)
        one = pairs[pairs[factor] == out]
        if (one["loss_x"] <= e_x).any() or (one["loss_y"] <= e_y).any():
            paper.append(np.nan)
            continue
        kappa, k = brandfonbrener_paper_link(one["loss_x"], one["loss_y"], e_x, e_y)
        paper.append(k * (observed - e_x) ** kappa + e_y)
    return paper


def _brandfonbrener(data_dir: Any, settings: Settings, out: Path | None,
                    log: Callable[[str], None]) -> Reproduction:
    sweep, target, opt = _brandfonbrener_data(data_dir)
    sources = list(BRANDFONBRENER_QUICK) if settings.quick else list(target)
    parts = [_brandfonbrener_setting(setting, sweep, target, opt, sources, settings, log)
             for setting in ("train_to_train", "train_to_test")]
    return _brandfonbrener_result(parts, target, settings, out)


def _brandfonbrener_result(parts: Sequence[tuple[list, list, dict]], target: Mapping,
                           settings: Settings, out: Path | None) -> Reproduction:
    """The tables, notes and figures from the settings' rows, diagnostics and fits."""
    rows = [r for part in parts for r in part[0]]
    diag = [d for part in parts for d in part[1]]
    fits = {k: v for part in parts for k, v in part[2].items()}
    table = pd.concat(rows, ignore_index=True)
    diag = pd.DataFrame(diag)
    summary = _brandfonbrener_summary(table)
    figures: list[Path] = []
    if out is not None:
        _brandfonbrener_figures(table, fits, target, out, figures)
    t2t = table[table["setting"] == "train-to-train"]
    notes = [
        "paper_method is the paper's two-stage fit rerun here: E_x, E_y from the authors' "
        "per-dataset Kaplan fits (opt_params_data), kappa and K by least squares of "
        "log(L_y - E_y) on log(L_x - E_x); on all 30 pairs it gives the 0.92% mean error "
        "quoted in STUDIES.md.",
        "Ours: one fit per input set (its Kaplan law, the latent noise-free input "
        "losses, the links to every output, noise on both losses), joint for "
        "train-to-train and cut for train-to-test (the compute law from the input losses "
        "alone, the eleven links with a noise scale each given four of its draws; jointly, "
        "the links pulled E_x above the 1e21 input loss); a target is predicted "
        "from the partner's observed 1e21 loss, and its interval is the 90% "
        "posterior-predictive interval of a new observation. At 20x the largest fitted "
        "budget the Kaplan law's own error (~4%) dwarfs the run-to-run deviation tau, so "
        "the observed 1e21 input loss alone places the latent one (predict(..., "
        "law_prior=False)).",
        "train-to-test here is the same-model variant (a 1e21 model's own validation loss to "
        "its test losses); the paper's published train-to-test numbers "
        f"({', '.join(f'{k} {v}%' for k, v in BRANDFONBRENER_PAPER_TRAIN_TO_TEST.items())}) "
        "use another model's loss as input and are shown beside ours in the summary.",
    ]
    if len(t2t):
        notes.append(f"train-to-train: {int(t2t['covered'].sum())}/{len(t2t)} intervals "
                     f"contain the truth; mean error {t2t['rel_err_%'].mean():.2f}% (ours) "
                     f"against {t2t['paper_err_%'].mean():.2f}% (paper's method).")
    undefined = table[table["paper_method"].isna()]
    if len(undefined):
        notes.append(
            "paper_method is blank for "
            + ", ".join(f"{r.x} -> {r.y}" for r in undefined.itertuples())
            + ": some of the pair's sweep losses lie at or below the authors' plugged-in "
            "E_x or E_y, where the logs of its least squares are undefined; the summary's "
            "errors (ours and the paper's) leave those rows out, its coverage does not.")
    notes += _convergence_notes(diag)
    return Reproduction("brandfonbrener2025", _TITLES["brandfonbrener2025"], table,
                        {"summary (mean and max absolute relative error, %)": summary,
                         "sampler": diag}, tuple(notes), tuple(figures))


def _brandfonbrener_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting (and per task for train-to-test): errors and coverage, ours and paper's."""
    def block(rows: pd.DataFrame, label: str) -> dict[str, Any]:
        task = label.removeprefix("train-to-test ")
        both = rows[rows["paper_err_%"].notna()]  # errors compared on the same rows
        return {"rows": label, "n": len(rows),
                "ours_mean_err_%": both["rel_err_%"].mean(),
                "ours_max_err_%": both["rel_err_%"].max(),
                "paper_method_mean_err_%": both["paper_err_%"].mean(),
                "paper_method_max_err_%": both["paper_err_%"].max(),
                "paper_published_%": BRANDFONBRENER_PAPER_TRAIN_TO_TEST.get(task, np.nan),
                "covered": f"{int(rows['covered'].sum())}/{len(rows)}"}

    out = [block(table[table["setting"] == s], s) for s in table["setting"].unique()]
    t2test = table[table["setting"] == "train-to-test"]
    out += [block(t2test[t2test["y"] == t], f"train-to-test {t}")
            for t in BRANDFONBRENER_TASKS if (t2test["y"] == t).any()]
    return pd.DataFrame(out)


def _brandfonbrener_figures(table: pd.DataFrame, fits: Mapping, target: Mapping,
                            out: Path, figures: list[Path]) -> None:
    import matplotlib.pyplot as plt

    for setting, frame in table.groupby("setting", sort=False):
        frame = frame.reset_index(drop=True)
        fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(frame)), 3.8),
                               constrained_layout=True)
        pos = np.arange(len(frame))
        rel = 100 * (frame[["median", "lower", "upper"]].to_numpy() / frame[["truth"]].to_numpy()
                     - 1)
        ax.errorbar(pos, rel[:, 0], yerr=[rel[:, 0] - rel[:, 1], rel[:, 2] - rel[:, 0]],
                    fmt="o", ms=4, color="C0", label="ours: median and 90% interval")
        ax.plot(pos, 100 * (frame["paper_method"] / frame["truth"] - 1), "x", color="C3",
                label="paper's method")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(pos, [f"{x[:8]}->{y[:10]}" for x, y in zip(frame["x"], frame["y"],
                                                                 strict=True)],
                      rotation=90, fontsize=6)
        ax.set_ylabel("prediction / truth - 1 (%)")
        ax.set_title(f"Brandfonbrener 1e21-FLOP targets, {setting}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, lw=0.4)
        _save(fig, out, f"brandfonbrener2025_{setting.replace('-', '_')}", figures)
    key = next((k for k in fits if k[0] == "train_to_train"), None)
    if key is not None:
        fit = fits[key]
        held = pd.DataFrame([{"loss_x": float(target[key[1]]["val_loss"]),
                              "loss_y": float(row["val_loss"]), "dataset_y": d}
                             for d, row in target.items() if d != key[1]])
        fig = fit.plot(by="dataset_y", truth=held)
        _save(fig, out, "brandfonbrener2025_links", figures)


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
        ``"llm_line2025"`` or ``"hitchhiker2024"``.
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
    folder = _folder(out, "figure folder", "out")

    def log(message: str) -> None:
        if verbose:
            print(f"[{study}] {message}", file=sys.stderr, flush=True)


    enable_x64()
    runner = {"gadre2024": _gadre, "brandfonbrener2025": _brandfonbrener,
              "llm_line2025": _llm_line, "hitchhiker2024": _hitchhiker}.get(study)
    if runner is None:
        runner = _study_module(study).run
    started = time.perf_counter()
    result = runner(data_dir, settings, folder, log)
    return Reproduction(result.study, result.title, result.table, dict(result.tables),
                        result.notes, result.figures, time.perf_counter() - started, settings)


# --- Mayilvahanan et al. 2025 (LLMs on the line) --------------------------------------------

LLM_LINE_PILE = "The Pile"
#: The FineWeb ablation models: one architecture (Llama, 1.71B) and tokenizer, three datasets.
LLM_LINE_ABLATIONS = ("C4", "FineWeb-Edu", "The Pile Deduped")
#: The architectures compared among the Pile-trained models, at the gpt-neox tokenizer.
LLM_LINE_ARCHITECTURES = ("GPT", "Mamba", "Mamba2")


def llm_line_frame(models: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows of the LLMs-on-the-line table that carry both losses ``x`` and ``y``.

    Keeps the factors ``dataset``, ``architecture`` and ``tokenizer`` (a missing tokenizer
    becomes ``"unknown"``), adds ``arch_tokenizer`` (e.g. ``"Mamba/gpt-neox"``), and drops
    rows without a positive ``x`` and ``y`` or without a dataset or architecture.

    Examples
    --------
    >>> models = pd.DataFrame({"dataset": ["C4", "C4", None], "architecture": "Llama",
    ...                        "tokenizer": [None, "gpt2", "gpt2"], "a": [3.1, 3.0, 2.9],
    ...                        "b": [2.5, float("nan"), 2.4]})
    >>> llm_line_frame(models, "a", "b")[["dataset", "tokenizer"]].values.tolist()
    [['C4', 'unknown']]
    """
    _require(models, ["dataset", "architecture", "tokenizer", x, y], "the llm_line2025 table")
    frame = models.copy()
    for column in (x, y):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    keep = (frame[x] > 0) & (frame[y] > 0) & frame["dataset"].notna() & frame[
        "architecture"].notna()
    frame = frame[keep].copy()
    if frame.empty:
        raise ScalingLawError(f"llm_line2025: no row has both {x!r} and {y!r}; choose loss "
                              f"columns that the table fills (e.g. fineweb_edu_validation_loss)")
    frame["tokenizer"] = frame["tokenizer"].fillna("unknown").astype(str)
    for column in ("dataset", "architecture"):
        frame[column] = frame[column].astype(str)
    frame["arch_tokenizer"] = frame["architecture"] + "/" + frame["tokenizer"]
    return frame


def _spread(fit: Any, frame: pd.DataFrame, seed: int) -> np.ndarray:
    """Per draw: (max - min) / mean of the curves at the rows of ``frame``, in percent."""
    law = fit.predict_draws(frame, seed=seed)["law"]
    return 100 * (law.max(axis=1) - law.min(axis=1)) / law.mean(axis=1)


def _loo_difference(fit_a: Any, fit_b: Any) -> tuple[float, float]:
    """elpd_loo(a) - elpd_loo(b) and its standard error, from pointwise PSIS-LOO."""
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = np.asarray(az.loo(fit_a.idata, pointwise=True, var_name="y").loo_i)
        b = np.asarray(az.loo(fit_b.idata, pointwise=True, var_name="y").loo_i)
    diff = a - b
    return float(diff.sum()), float(np.sqrt(diff.size * diff.var(ddof=1)))


def _comparison(fits: Mapping[str, Any]) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = pd.DataFrame(compare(dict(fits)))
    return table[["rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight",
                  "k_bad", "k_very_bad"]]


def _llm_line(data_dir: Any, settings: Settings, out: Path | None,
              log: Callable[[str], None]) -> Reproduction:
    models = _load("llm_line2025", "hf_models", data_dir)
    all_specs = specs("llm_line2025")
    rows, comparisons, draws, fits_by_pair, diag = [], {}, {}, {}, []
    for x, y in _LLM_LINE_PAIRS:
        tag = f"{_short(x)}_to_{_short(y)}".replace("-", "_")
        pair = f"{_short(x)} -> {_short(y)}"
        frame = llm_line_frame(models, x, y)
        if frame[x].min() <= LLM_LINE_FLOOR[x]:
            raise ScalingLawError(
                f"llm_line2025: {x} goes down to {frame[x].min():.3f}, below the floor "
                f"{LLM_LINE_FLOOR[x]} of the curve's E_x; is this the pinned table?")
        pile = frame[frame["dataset"] == LLM_LINE_PILE]
        fits = {}
        for name, label in (("by_data", "by data"), ("by_architecture", "by architecture"),
                            ("shared", "shared curve")):
            fits[label] = _fit(all_specs[f"llm_line2025_{tag}_{name}"], frame, settings, log,
                               f"{pair}, {label}", target_accept=LLM_LINE_TARGET_ACCEPT)
        pile_fit = _fit(all_specs[f"llm_line2025_{tag}_pile_architecture"], pile, settings,
                        log, f"{pair}, Pile: architecture/tokenizer",
                        target_accept=LLM_LINE_TARGET_ACCEPT)
        fits_by_pair[pair] = (frame, fits, pile_fit, x, y)
        diag += [_diagnostics(f"{pair}, {k}", f) for k, f in fits.items()]
        diag.append(_diagnostics(f"{pair}, Pile architecture", pile_fit))
        comparisons[f"PSIS-LOO, {pair} ({len(frame)} models/checkpoints)"] = _comparison(fits)

        claim_loo = "curves differ by data more than by architecture"
        for other in ("by architecture", "shared curve"):
            diff, se = _loo_difference(fits["by data"], fits[other])
            rows.append({"pair": pair, "quantity": f"elpd_loo: by data - {other}",
                         "claim": claim_loo, "estimate": diff,
                         "lower_90": diff - 1.645 * se, "upper_90": diff + 1.645 * se,
                         "se": se, "supports": bool(diff > 2 * se)})

        ablation = frame[frame["dataset"].isin(LLM_LINE_ABLATIONS)]
        x_data = float(ablation[x].median())
        data_probe = pd.DataFrame({x: x_data, "dataset": list(LLM_LINE_ABLATIONS)})
        data_effect = _spread(fits["by data"], data_probe, settings.seed)
        neox = pile[pile["tokenizer"] == "gpt-neox"]
        x_pile = float(neox[x].median())
        arch_probe = pd.DataFrame({x: x_pile, "arch_tokenizer": [
            f"{a}/gpt-neox" for a in LLM_LINE_ARCHITECTURES]})
        arch_effect = _spread(pile_fit, arch_probe, settings.seed)
        tok_probe = pd.DataFrame({x: x_pile,
                                  "arch_tokenizer": ["GPT/gpt-neox", "GPT/gpt2-HF"]})
        tok_effect = _spread(pile_fit, tok_probe, settings.seed)
        draws[pair] = {"data": data_effect, "architecture": arch_effect,
                       "tokenizer": tok_effect}
        d_med, d_lo, d_hi = _quantiles(data_effect)
        a_med, a_lo, a_hi = _quantiles(arch_effect)
        t_med, t_lo, t_hi = _quantiles(tok_effect)
        rows.append({"pair": pair, "quantity": f"data effect, % (Llama ablations at "
                                               f"{_short(x)}={x_data:.2f})",
                     "claim": "large: data determines the curve", "estimate": d_med,
                     "lower_90": d_lo, "upper_90": d_hi, "se": np.nan,
                     "supports": bool(d_lo > a_hi)})
        rows.append({"pair": pair, "quantity": f"architecture effect, % (Pile, gpt-neox, "
                                               f"GPT/Mamba/Mamba2 at {x_pile:.2f})",
                     "claim": "near zero", "estimate": a_med, "lower_90": a_lo,
                     "upper_90": a_hi, "se": np.nan, "supports": bool(a_hi < d_lo)})
        rows.append({"pair": pair, "quantity": "tokenizer effect, % (Pile, GPT: gpt-neox vs "
                                               "gpt2)",
                     "claim": "tokenizer matters", "estimate": t_med, "lower_90": t_lo,
                     "upper_90": t_hi, "se": np.nan, "supports": bool(t_lo > a_hi)})
    table = pd.DataFrame(rows)
    figures: list[Path] = []
    if out is not None:
        _llm_line_figures(fits_by_pair, draws, out, figures)
    notes = [
        "Models: the shifted power law L_y = E_y + K ((L_x - E_x)/(3.4 - E_x))^kappa with "
        "Normal noise on log L_y, sampled as the level V = E_y + K, the elasticity "
        "g = (1 - s) kappa and the floor's share s = E_y / V at L_x = 3.4; 'by data' lets V "
        "and g vary by pretraining data (partial pooling, centred), 'by architecture' by "
        "architecture, 'shared curve' lets nothing vary. E_x and s are shared (a curve's "
        "floor E_y = s V moves with its level): with both shifts free per group the "
        "posterior is a ridge (the curves never approach their "
        "asymptotes and the data are precise to ~0.2%), and the paper itself plugs the "
        "shifts in from other fits.",
        "elpd rows: the difference of PSIS-LOO expected log predictive densities with its "
        "standard error (interval = +-1.645 se); 'supports' when the difference exceeds "
        "2 se. LOO scores new models like the fitted ones; the HF table holds one run per "
        "ablation dataset (its checkpoints), so rows of one run are not independent and "
        "the standard errors are optimistic.",
        "Effect rows: posterior of (max - min) / mean of the predicted L_y across the levels "
        "at one L_x (the median of the compared models): the data effect among the three "
        "FineWeb ablation runs (same Llama architecture and gpt2 tokenizer), the "
        "architecture effect among the Pile-trained models with the gpt-neox tokenizer "
        "(Pythia and GPT-NeoX-20B are 'GPT', Mamba, Mamba2), from a Pile-only fit whose "
        "curves vary by architecture/tokenizer (GPT-Neo and GPT-J are GPT with the gpt2 "
        "tokenizer, which gives the tokenizer row). 'supports' when the two 90% intervals "
        "do not overlap.",
        "The paper's own from-scratch models (6,000 checkpoints) are not in the public data; "
        "this uses the 129 Hugging Face evaluations only, so the architecture comparison "
        "rests on 18 Pile models of 3 architectures and is confounded with model size and "
        "training length (all Pile models saw ~300B tokens).",
    ]
    diag = pd.DataFrame(diag)
    notes += _convergence_notes(diag)
    return Reproduction("llm_line2025", _TITLES["llm_line2025"], table,
                        {**comparisons, "sampler": diag}, tuple(notes), tuple(figures))


def _llm_line_figures(fits_by_pair: Mapping, draws: Mapping, out: Path,
                      figures: list[Path]) -> None:
    import matplotlib.pyplot as plt

    pairs = list(fits_by_pair)
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.6 * len(pairs), 4.4),
                             constrained_layout=True, squeeze=False)
    markers = {"Llama": "o", "GPT": "s", "Mamba": "^", "Mamba2": "v", "olmo": "D"}
    for ax, pair in zip(axes.flat, pairs, strict=True):
        frame, fits, _, x, y = fits_by_pair[pair]
        fit = fits["by data"]
        for i, dataset in enumerate(sorted(frame["dataset"].unique())):
            rows = frame[frame["dataset"] == dataset]
            for arch, sub in rows.groupby("architecture"):
                ax.scatter(sub[x], sub[y], s=18, color=f"C{i}", marker=markers.get(arch, "o"),
                           edgecolor="k", linewidth=0.3, zorder=3,
                           label=f"{dataset} / {arch}")
            grid = np.linspace(rows[x].min() * 0.98, rows[x].max() * 1.02, 60)
            pred = fit.predict(pd.DataFrame({x: grid, "dataset": dataset}))
            ax.fill_between(grid, pred["lower"], pred["upper"], color=f"C{i}", alpha=0.2, lw=0)
            ax.plot(grid, pred["median"], color=f"C{i}", lw=1.2)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{pair}: curves by pretraining data (90% bands)", fontsize=9)
        ax.grid(alpha=0.3, lw=0.4)
        ax.legend(fontsize=6, ncol=2)
    _save(fig, out, "llm_line2025_curves.png", figures)

    fig, axes = plt.subplots(1, len(pairs), figsize=(5.6 * len(pairs), 3.6),
                             constrained_layout=True, squeeze=False)
    for ax, pair in zip(axes.flat, pairs, strict=True):
        top = max(float(np.quantile(v, 0.999)) for v in draws[pair].values())
        low = min(float(np.quantile(v, 0.001)) for v in draws[pair].values())
        bins = np.geomspace(max(low, 1e-3), max(top, 2e-3), 80)
        for i, (name, values) in enumerate(draws[pair].items()):
            ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins, alpha=0.5, color=f"C{i}",
                    label=f"{name} effect")
        ax.set_xscale("log")
        ax.set_yticks([])
        ax.set_xlabel("(max - min) / mean of L_y across levels at one L_x (%), log scale")
        ax.set_title(pair, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, lw=0.4)
    fig.suptitle("Posterior size of the data, architecture and tokenizer effects", fontsize=11)
    _save(fig, out, "llm_line2025_effects.png", figures)


# --- Choshen, Zhang, Andreas 2025 (Hitchhiker's guide) -----------------------------------------

_HITCH_COLUMNS = ("family", "run", "N", "D", "perf_loss_perp")
#: The Bayesian models of the Hitchhiker comparison: key, spec suffix, rows they fit.
HITCHHIKER_MODELS = (("a", "final", "final"), ("b", "checkpoints", "checkpoints"),
                     ("c", "hierarchical", "checkpoints"),
                     ("d", "hierarchical_exponents", "checkpoints"))
#: (e): the fit of (c), with the extrapolation error of (c) measured one size down
#: (:func:`hitchhiker_one_size_down`) added to its predictions (key, name of the backtest fit).
HITCHHIKER_CALIBRATED = ("e", "hierarchical, one size down")
#: Every column of the Hitchhiker table: the fitted models, then (e).
HITCHHIKER_KEYS = (*(k for k, _, _ in HITCHHIKER_MODELS), HITCHHIKER_CALIBRATED[0])
#: Families of the quick run: a mix of sizes of data, units and numbers of models.
HITCHHIKER_QUICK = ("GPT2-c4-1.0", "chinchilla", "gpt3", "t5-pile", "OPT")
#: Models fitted one family at a time: (b) has independent per-family law parameters
#: (pooling "none"), so its posterior factorises by family but for the noise and run
#: scales, and one NUTS fit per family gives each family's ridges their own step size and
#: mass matrix (and each family its own noise and run scale). (a) stays one joint fit: 18
#: of the 20 families have 2 to 5 final losses, fewer than their six parameters, and the
#: noise scale shared by all families is what lets those few rows be fitted at all.
HITCHHIKER_BY_FAMILY = ("b",)
#: Group offsets of E, A and B in the hierarchies (c) and (d) are sampled centred: every
#: family has 20 or more checkpoints that pin its level and slopes, the case where the
#: non-centred form makes each family's offset and the population scale a funnel.
HITCHHIKER_CENTRED = {"E": "centred", "A": "centred", "B": "centred"}
#: The paper's initial guess (a, b, e, alpha, beta) of ``chinchilla_power_law_fit``.
HITCHHIKER_P0 = (6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596)


def thin_checkpoints(frame: pd.DataFrame, max_per_run: int, run: str = "run",
                     tokens: str = "D") -> pd.DataFrame:
    """At most ``max_per_run`` checkpoints per run, log-spaced in tokens, last one kept.

    Examples
    --------
    >>> frame = pd.DataFrame({"run": "r", "D": np.geomspace(1e9, 1e12, 100)})
    >>> thinned = thin_checkpoints(frame, 5)
    >>> len(thinned), bool(thinned["D"].max() == frame["D"].max())
    (5, True)
    """
    if not isinstance(max_per_run, (int, np.integer)) or max_per_run < 1:
        raise ScalingLawError(f"max_per_run must be a positive integer, got {max_per_run!r}")
    _require(frame, [run, tokens], "the checkpoint frame")
    keep = []
    for _, rows in frame.groupby(run, sort=False):
        rows = rows.sort_values(tokens, kind="stable")
        if len(rows) <= max_per_run:
            keep.extend(rows.index)
            continue
        d = np.log(rows[tokens].to_numpy(float))
        want = np.linspace(d[0], d[-1], max_per_run)
        idx = set(np.abs(d[None, :] - want[:, None]).argmin(axis=1).tolist())
        idx.add(len(rows) - 1)
        while len(idx) > max_per_run:
            idx.discard(sorted(idx)[-2])
        keep.extend(rows.index[sorted(idx)])
    return frame.loc[keep]


def hitchhiker_split(frame: pd.DataFrame, min_sizes: int = 3, min_tokens: float = 1e10,
                     test_fraction: float = 0.7,
                     max_checkpoints: int = HITCHHIKER_MAX_CHECKPOINTS,
                     families: Sequence[str] | None = None) -> dict[str, Any]:
    """The Hitchhiker protocol: per family, the smaller models fit and the largest is scored.

    Parameters
    ----------
    frame : DataFrame
        Checkpoints with ``family``, ``run``, ``N``, ``D`` and ``perf_loss_perp``.
    min_sizes : int
        Keep families with at least this many distinct model sizes.
    min_tokens : float
        Drop every checkpoint at ``D <= min_tokens`` (the paper's ``cut_beginning``).
    test_fraction : float
        Score the target's checkpoints at ``D >=`` this fraction of its last one.
    max_checkpoints : int
        At most this many log-spaced checkpoints per training run (``"checkpoints"``).
    families : sequence of str, optional
        Only these families.

    Returns
    -------
    dict
        ``"final"`` (last checkpoint of each smaller run), ``"checkpoints"`` (thinned
        checkpoints of the smaller runs), ``"all_checkpoints"`` (unthinned), ``"test"`` (the
        target's scored checkpoints) and ``"families"`` (a DataFrame, one row per family).

    Examples
    --------
    >>> rows = [{"family": "f", "run": f"m{n:g}", "N": n, "D": d, "perf_loss_perp": 3.0}
    ...         for n in (1e8, 1e9, 1e10) for d in (5e9, 2e10, 4e10, 1e11)]
    >>> parts = hitchhiker_split(pd.DataFrame(rows))
    >>> len(parts["final"]), len(parts["checkpoints"]), parts["test"]["D"].tolist()
    (2, 6, [100000000000.0])
    """
    _require(frame, _HITCH_COLUMNS, "the hitchhiker2024 frame")
    if not 0 < test_fraction <= 1:
        raise ScalingLawError(f"test_fraction must be in (0, 1], got {test_fraction!r}")
    data = frame.copy()
    for column in ("N", "D", "perf_loss_perp"):
        data[column] = pd.to_numeric(data[column], errors="coerce")
    ok = (data["family"].notna() & (data["N"] > 0) & (data["D"] > min_tokens)
          & (data["perf_loss_perp"] > 0) & np.isfinite(data["perf_loss_perp"]))
    data = data[ok]
    data["family"] = data["family"].astype(str)
    data["run"] = data["run"].astype(str)
    if families is not None:
        unknown = sorted(set(families) - set(data["family"]))
        if unknown:
            raise ScalingLawError(f"hitchhiker2024: unknown families {unknown}; the families "
                                  f"are {sorted(data['family'].unique())[:25]}")
        data = data[data["family"].isin(list(families))]
    sizes = data.groupby("family")["N"].nunique()
    kept = sorted(sizes[sizes >= min_sizes].index)
    if not kept:
        raise ScalingLawError(f"hitchhiker2024: no family has {min_sizes} model sizes with "
                              f"checkpoints above {min_tokens:g} tokens")
    data = data[data["family"].isin(kept)]
    is_target = data["N"] == data.groupby("family")["N"].transform("max")
    train, target = data[~is_target], data[is_target]
    last = target.groupby("run")["D"].transform("max")
    test = target[target["D"] >= test_fraction * last]
    final = train.sort_values("D", kind="stable").groupby("run").tail(1)
    thinned = thin_checkpoints(train, max_checkpoints)
    info = pd.DataFrame({
        "family": kept,
        "sizes": [int(sizes[f]) for f in kept],
        "train_runs": [int(train.loc[train["family"] == f, "run"].nunique()) for f in kept],
        "target_N": [float(target.loc[target["family"] == f, "N"].max()) for f in kept],
        "test_points": [int((test["family"] == f).sum()) for f in kept],
    })
    return {"final": final.copy(), "checkpoints": thinned.copy(), "all_checkpoints": train.copy(),
            "test": test.copy(), "families": info}


def hitchhiker_one_size_down(frame: pd.DataFrame, families: Sequence[str] | None = None
                             ) -> dict[str, Any]:
    """The protocol one size down: without each family's largest model, predict the next.

    The families of :func:`hitchhiker_split` (at least three sizes), each without its
    largest model; the parts are those of :func:`hitchhiker_split` on what is left (so
    the new target is the family's largest *training* model). Fitting a model on this
    split and scoring it backtests the extrapolation the real split asks for.

    Examples
    --------
    >>> rows = [{"family": "f", "run": f"m{n:g}", "N": n, "D": d, "perf_loss_perp": 3.0}
    ...         for n in (1e8, 1e9, 1e10) for d in (5e9, 2e10, 4e10, 1e11)]
    >>> down = hitchhiker_one_size_down(pd.DataFrame(rows))
    >>> down["families"][["family", "sizes", "target_N"]].to_numpy().tolist()
    [['f', 2, 1000000000.0]]
    """
    full = hitchhiker_split(frame, families=families)["families"]
    data = frame[frame["family"].astype(str).isin(full["family"])]
    size = pd.to_numeric(data["N"], errors="coerce")
    below = size < data["family"].astype(str).map(full.set_index("family")["target_N"])
    return hitchhiker_split(data[below], min_sizes=2)


def hitchhiker_normalise(rows: pd.DataFrame,
                         centres: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-family units: ``N_rel``, ``D_rel``, ``loss_rel`` = N, D and loss over family centres.

    A family's centre is the geometric mean of its N, D and ``perf_loss_perp`` over
    ``rows`` (the rows a model is fitted to), unless ``centres`` are given (to put the
    targets in the units of the fit). Dividing by a constant per family reparameterises the
    law exactly (E, A and B scale with the loss, A and B absorb the input scale; the
    exponents and relative errors are unchanged), so the model is the same, but its
    coefficients become fractions of the family's typical loss at the family's own
    centre, and one set of priors fits families whose losses are in nats, bits or
    perplexity. Returns the frame with the three columns added and the centres (one row
    per family, columns ``N``, ``D``, ``loss``).

    Examples
    --------
    >>> rows = pd.DataFrame({"family": ["f", "f"], "N": [1e8, 4e8], "D": [1e10, 1e10],
    ...                      "perf_loss_perp": [4.0, 1.0]})
    >>> out, centres = hitchhiker_normalise(rows)
    >>> out[["N_rel", "loss_rel"]].to_numpy().round(2).tolist()
    [[0.5, 2.0], [2.0, 0.5]]
    >>> float(centres.loc["f", "loss"])
    2.0
    """
    _require(rows, ("family", "N", "D", "perf_loss_perp"), "the hitchhiker2024 frame")
    columns = {"N": "N", "D": "D", "loss": "perf_loss_perp"}
    if centres is None:
        logs = pd.DataFrame({k: np.log(rows[c].to_numpy(float)) for k, c in columns.items()},
                            index=rows.index)
        centres = np.exp(logs.groupby(rows["family"].to_numpy()).mean())
    missing = sorted(set(rows["family"]) - set(centres.index))
    if missing:
        raise ScalingLawError(f"hitchhiker2024: no centre for families {missing}; normalise "
                              f"with the centres of a fit that has them")
    out = rows.copy()
    for k, c in columns.items():
        out[f"{c if k != 'loss' else 'loss'}_rel"] = (
            rows[c].to_numpy(float) / centres.loc[rows["family"], k].to_numpy())
    return out, centres


def _hitch_law(params: np.ndarray, n: np.ndarray, d: np.ndarray) -> np.ndarray:
    a, b, e, alpha, beta = params
    return np.exp(e) + np.exp(a) / n ** alpha + np.exp(b) / d ** beta


def hitchhiker_paper_fit(train: pd.DataFrame) -> np.ndarray:
    """The paper's per-family least squares: ``exp(e) + exp(a)/N^alpha + exp(b)/D^beta``.

    Residuals on the raw target, alpha and beta >= 0, from the paper's initial guess and a
    few perturbations of it; scipy's ``least_squares`` (trust region), which also runs when
    a family has fewer points than parameters. Returns ``(a, b, e, alpha, beta)``.
    """
    from scipy.optimize import least_squares

    n = train["N"].to_numpy(float)
    d = train["D"].to_numpy(float)
    y = train["perf_loss_perp"].to_numpy(float)
    p0 = np.asarray(HITCHHIKER_P0)
    starts = [p0]
    for e0 in (np.log(0.5 * y.min()), np.log(0.9 * y.min())):
        for exp0 in (0.2, 0.35, 0.6):
            starts.append(np.array([p0[0], p0[1], e0, exp0, exp0]))
    lower = np.array([-np.inf, -np.inf, -np.inf, 0.0, 0.0])
    best = None
    for start in starts:
        start = np.clip(start, lower + 1e-9, None)
        with np.errstate(all="ignore"):
            try:
                result = least_squares(lambda p: _hitch_law(p, n, d) - y, start,
                                       bounds=(lower, np.inf), method="trf", max_nfev=2000)
            except ValueError:
                continue
        if np.isfinite(result.cost) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise ScalingLawError("hitchhiker2024: the paper's least-squares fit failed from "
                              "every start")
    return best.x





def _hitchhiker_mass(spec: ScalingModel, one_family: bool = False) -> list[tuple[str, ...]]:
    """NUTS mass-matrix blocks of a Hitchhiker fit: one dense block for the law and noise.

    The per-family law parameters lie on near-linear ridges in log space (log A_ref
    against log alpha, log B_ref against log beta) that only a dense mass matrix removes,
    but a dense matrix over every site (hundreds of per-run offsets) is too large to
    estimate in a few hundred warmup draws. So the law's sites, their group scales and
    offsets, and the noise and run scales form one dense block; the per-run offsets and
    per-family noise offsets get a diagonal one. Site names follow
    :func:`scalinglaws.model.build_model`. ``one_family``: the fit is on one family's rows,
    where the family factor has a single level and the design fits every parameter varying
    by it as shared (so each site is a scalar and nothing varies).
    """
    centred = spec.parameterization if isinstance(spec.parameterization, Mapping) else {}
    vary = {} if one_family else spec.vary
    names: list[str] = []
    for p in spec.law.params:
        factors = vary.get(p.name, ())
        if spec.pooling == "none" and factors:
            names.append(f"{p.sampled_name}_{factors[0]}")
            continue
        names.append(p.sampled_name)
        for f in factors:
            kind = "offset" if centred.get(p.name) == "centred" else "z"
            names += [f"{p.name}_sd_{f}", f"{p.name}_{kind}_{f}"]
    sigma_factors = vary.get("sigma", ())
    if spec.pooling == "none" and sigma_factors:  # independent per-level noise scales
        names.append(f"sigma_{sigma_factors[0]}")
    else:
        names.append("sigma")
        names += [f"sigma_sd_{f}" for f in sigma_factors]
    if spec.run:
        names.append("run_sd")
    if spec.coordinates == "level":  # the terms are computed from the level coordinates
        factor = (vary.get(spec.law.level_terms[0]) or ("",))[0]
        terms = {f"{spec.law.param(t).sampled_name}_{factor}".rstrip("_")
                 for t in spec.law.level_terms}
        names = [n for n in names if n not in terms] + level_coordinate_names(spec, factor)
    return [tuple(names)]


def _hitchhiker_score(fit: Any, test: pd.DataFrame, centres: pd.DataFrame,
                      seed: int, discrepancy: Any = None) -> pd.DataFrame:
    rows, _ = hitchhiker_normalise(test, centres)
    columns = [*fit.spec.inputs.values(), *fit.spec.factors]
    if fit.spec.run:
        columns.append(fit.spec.run)
    draws = fit.predict_draws(rows[list(dict.fromkeys(columns))], seed=seed,
                              discrepancy=discrepancy)
    unit = centres.loc[test["family"], "loss"].to_numpy()
    scored = score_targets(test["perf_loss_perp"].to_numpy(float), draws["law"] * unit,
                           draws["observed"] * unit).set_axis(test.index)
    scored.insert(0, "family", test["family"].to_numpy())
    scored.insert(1, "D", test["D"].to_numpy())
    return scored


def _hitchhiker_fit(key: str, name: str, spec: ScalingModel, rows: pd.DataFrame,
                    test: pd.DataFrame, settings: Settings, log: Callable[[str], None],
                    **overrides: Any) -> tuple[list[tuple[Any, Any, float]], pd.DataFrame]:
    """Fit one Hitchhiker model and score the targets: jointly, or one family at a time.

    A model in :data:`HITCHHIKER_BY_FAMILY` is fitted once per family, on that family's
    rows only, with the same spec (the family factor then has a single level, so its
    parameters are scalars), all families as one batched program; the others once on all
    rows. Returns the fits as
    ``(family or None, fit, seconds)`` and the targets' scores in the order of ``test``.
    """
    data, centres = hitchhiker_normalise(rows)
    by_family = key in HITCHHIKER_BY_FAMILY
    mass = _hitchhiker_mass(spec, one_family=by_family)
    if by_family:
        chunks = dict(list(data.groupby("family")))
        labels = {f"({key}) {name} [{family}]": family for family in chunks}
        made = _fit_many(spec, {label: chunks[f] for label, f in labels.items()}, settings,
                         log, dense_mass=mass, **overrides)
        fits = [(labels[label], fit, seconds) for label, (fit, seconds) in made.items()]
    else:
        started = time.perf_counter()
        fit = _fit(spec, data, settings, log, f"({key}) {name}", dense_mass=mass, **overrides)
        fits = [(None, fit, time.perf_counter() - started)]
    scores = [_hitchhiker_score(fit, test if family is None else test[test["family"] == family],
                                centres, settings.seed) for family, fit, _ in fits]
    return fits, pd.concat(scores).loc[test.index]


def _hitchhiker_diagnostics(name: str, fits: Sequence[tuple[Any, Any, float]]
                            ) -> tuple[dict[str, Any], pd.DataFrame]:
    """One sampler-table row for a model's fit(s) and the per-fit rows behind it.

    For a model fitted family by family: the worst R-hat, the smallest bulk ESS, the total
    divergences and warnings, the mean of the fits' mean leapfrog steps per draw, and the
    total wall time.
    """
    per = pd.DataFrame([{**_diagnostics(name, fit), "family": family, "seconds": seconds}
                        for family, fit, seconds in fits])
    row = {"fit": name, "fits": len(per), "rows": int(per["rows"].sum()),
           "chains": int(per["chains"].iloc[0]), "draws": int(per["draws"].iloc[0]),
           "divergences": int(per["divergences"].sum()),
           "max_r_hat": float(per["max_r_hat"].max()),
           "min_ess_bulk": float(per["min_ess_bulk"].min()),
           "mean_steps": float(per["mean_steps"].mean()),
           "warnings": int(per["warnings"].sum()), "seconds": float(per["seconds"].sum())}
    return row, per


def _hitchhiker(data_dir: Any, settings: Settings, out: Path | None,
                log: Callable[[str], None]) -> Reproduction:
    frame = _load("hitchhiker2024", "checkpoints", data_dir)
    families = HITCHHIKER_QUICK if settings.quick else None
    parts = hitchhiker_split(frame, families=families)
    test, info = parts["test"], parts["families"]

    paper: dict[str, dict[str, float]] = {"final": {}, "checkpoints": {}}
    paper_points: dict[str, np.ndarray] = {}
    for family in info["family"]:
        t = test[test["family"] == family]
        for mode, train in (("final", parts["final"]), ("checkpoints", parts["all_checkpoints"])):
            p = hitchhiker_paper_fit(train[train["family"] == family])
            pred = _hitch_law(p, t["N"].to_numpy(float), t["D"].to_numpy(float))
            paper[mode][family] = are(t["perf_loss_perp"], pred)
            if mode == "checkpoints":
                paper_points[family] = pred

    models = specs("hitchhiker2024")
    fits, scores = {}, {}
    for key, name, data in HITCHHIKER_MODELS:
        fits[key], scores[key] = _hitchhiker_fit(
            key, name, models[f"hitchhiker2024_{name}"], parts[data], test, settings, log)
    # (e): refit (c) one size down, measure its miss there, carry it into (c)'s predictions
    key, name = HITCHHIKER_CALIBRATED
    down = hitchhiker_one_size_down(frame, families=families)
    fits[key], backtest = _hitchhiker_fit(key, name, models["hitchhiker2024_hierarchical"],
                                          down["checkpoints"], down["test"], settings, log)
    discrepancy = Discrepancy.estimate(backtest["truth"], backtest["median"],
                                       backtest["lower"], backtest["upper"], mass=INTERVAL,
                                       groups=backtest["family"])
    _, centres = hitchhiker_normalise(parts["checkpoints"])
    scores[key] = _hitchhiker_score(fits["c"][0][1], test, centres, settings.seed,
                                    discrepancy)

    rows = []
    for _, fam in info.iterrows():
        f = fam["family"]
        row = {"family": f, "sizes": fam["sizes"], "target_N": fam["target_N"],
               "test_pts": fam["test_points"],
               "paper_final_ARE%": 100 * paper["final"][f],
               "paper_ckpt_ARE%": 100 * paper["checkpoints"][f]}
        for key in HITCHHIKER_KEYS:
            s = scores[key][scores[key]["family"] == f]
            row[f"{key}_ARE%"] = float(s["rel_err_%"].mean())
            row[f"{key}_cov90"] = float(s["covered"].mean())
        rows.append(row)
    table = pd.DataFrame(rows)
    numeric = [c for c in table.columns if c.endswith(("ARE%", "cov90"))]
    mean = {"family": "mean over families", **table[numeric].mean().to_dict()}
    median = {"family": "median over families", **table[numeric].median().to_dict()}
    table = pd.concat([table, pd.DataFrame([mean, median])], ignore_index=True)

    diagnostics = {k: _hitchhiker_diagnostics(f"({k}) {n}", fits[k])
                   for k, n, _ in (*HITCHHIKER_MODELS, (*HITCHHIKER_CALIBRATED, None))}
    diag = pd.DataFrame([row for row, _ in diagnostics.values()])
    by_family = {k: diagnostics[k][1] for k in HITCHHIKER_BY_FAMILY}
    figures: list[Path] = []
    if out is not None:
        _hitchhiker_figures(table, scores, test, paper_points, out, figures)
    wins = {k: int((table[f"{k}_ARE%"].iloc[:-2] < table["paper_ckpt_ARE%"].iloc[:-2]).sum())
            for k in HITCHHIKER_KEYS}
    notes = [
        f"Families: the {len(info)} scaled sets with >= 3 model sizes above 1e10 tokens "
        f"(Pythia is absent from the public data). Target: each family's largest model; "
        f"scored on its checkpoints at >= 70% of its training; every checkpoint at <= 1e10 "
        f"tokens dropped. ARE = mean |L - L_hat| / L over those checkpoints (in %); cov90 = "
        f"share of them inside our 90% posterior-predictive interval.",
        "paper_*: the paper's method rerun here: per-family least squares of exp(e) + "
        "exp(a)/N^alpha + exp(b)/D^beta from its initial guess and perturbations, on the "
        "final losses (final) or on every checkpoint (ckpt).",
        "(a) per-family Bayesian fits on final losses; (b) per-family fits on checkpoints "
        f"(at most {HITCHHIKER_MAX_CHECKPOINTS} log-spaced per run, to keep NUTS "
        "affordable) with a per-run offset; (c) one hierarchical fit on the same "
        "checkpoints: alpha and beta shared by all families, E, A, B and the noise by "
        "family (partial pooling), per-run offsets; (d) as (c) with alpha and beta also "
        "partially pooled by family. (a) is one joint NUTS fit with independent "
        "per-family law parameters (pooling='none') and one noise scale for all families "
        "(a family has fewer final losses than parameters); (b) is fitted family by family "
        "(one NUTS fit per family on its rows only, so each family has its own noise and "
        "run scale; its sampler row aggregates the fits: worst R-hat, smallest ESS, total "
        "divergences and seconds, mean steps). The run offsets of (b), (c) and (d) are "
        "integrated out exactly (Normal noise), each drawn afterwards from its conditional "
        "posterior. A target is a new run, so the checkpoint "
        "models' predictions include a fresh run offset (prior about 1%, see "
        "HITCHHIKER_RUN_SD).",
        f"(e) is (c) with its extrapolation error measured one size down added: (c) refitted "
        f"without each family's largest model ({len(down['checkpoints'])} rows, "
        f"{len(down['families'])} families) predicts each family's largest training model "
        f"(scored as the targets are); per family (one unit: its checkpoints miss "
        f"together), the mean log error there is Normal(bias, own sd^2 + sd^2), fitted by "
        f"maximum likelihood: bias {100 * discrepancy.bias:+.2f}%, sd "
        f"{100 * discrepancy.sd:.2f}% (scalinglaws.validate.Discrepancy). (c)'s predictions "
        f"of the real targets are shifted by the bias and widened by the sd; the targets "
        f"are not used. Its sampler row is the one-size-down fit.",
        "Families where our ARE beats the paper's checkpoint fit: "
        + ", ".join(f"({k}) {v}" for k, v in wins.items()) + f" of {len(info)}.",
        "Coverage is per family the share of the target's checkpoints inside the interval; "
        "checkpoints of one run are strongly correlated, so per family it is close to 0 or "
        "1 and the mean over families is the fraction of families covered.",
    ]
    notes.append(
        "Units: every model is fitted per family in the family's own units "
        "(hitchhiker_normalise: N, D and the loss over their geometric means on the fitted "
        "rows), an exact change of units that lets one set of stated priors fit losses in "
        "nats, bits and perplexity; predictions are converted back before scoring. Per "
        "family, two training sizes (the 16 GPT-2 sets) leave alpha to its prior and E, A "
        "and alpha on a curved ridge: the source of (a)'s deep trees (mean_steps in the "
        f"sampler table; cap {settings.max_tree_depth}) and of (b)'s divergences.")
    # a model fitted family by family is judged fit by fit, so a note names the families
    checked = [diag[~diag["fit"].isin([f"({k}) {n}" for k, n, _ in HITCHHIKER_MODELS
                                       if k in by_family])]]
    checked += [per.assign(fit=[f"{f} [{fam}]" for f, fam in zip(per["fit"], per["family"],
                                                                  strict=True)])
                for per in by_family.values()]
    notes += _convergence_notes(pd.concat(checked, ignore_index=True))
    columns = ["family", "rows", "divergences", "max_r_hat", "min_ess_bulk", "mean_steps",
               "warnings", "seconds"]
    tables = {"sampler": diag, **{f"sampler of ({k}) by family": per[columns]
                                  for k, per in by_family.items()}}
    return Reproduction("hitchhiker2024", _TITLES["hitchhiker2024"], table, tables,
                        tuple(notes), tuple(figures))


def _hitchhiker_figures(table: pd.DataFrame, scores: Mapping[str, pd.DataFrame],
                        test: pd.DataFrame, paper_points: Mapping[str, np.ndarray], out: Path,
                        figures: list[Path]) -> None:
    import matplotlib.pyplot as plt

    body = table.iloc[:-2]
    families = body["family"].tolist()
    y = np.arange(len(families))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 0.32 * len(families) + 2.0),
                                      sharey=True, constrained_layout=True)
    series = [("paper_final_ARE%", "paper, final losses", "0.6", "x"),
              ("paper_ckpt_ARE%", "paper, checkpoints", "k", "x"),
              ("a_ARE%", "(a) per family, final", "C0", "o"),
              ("b_ARE%", "(b) per family, checkpoints", "C1", "o"),
              ("c_ARE%", "(c) hierarchical, checkpoints", "C2", "o"),
              ("d_ARE%", "(d) hierarchical, exponents by family", "C3", "o"),
              ("e_ARE%", "(e) = (c) + discrepancy one size down", "C4", "s")]
    for i, (column, label, colour, marker) in enumerate(series):
        left.plot(body[column].clip(lower=1e-3), y + 0.1 * (i - 3), marker, color=colour,
                  ms=5, label=label, ls="none")
    left.set_xscale("log")
    left.set_xlabel("ARE on the largest model (%), log scale")
    left.set_yticks(y, families, fontsize=7)
    left.invert_yaxis()
    left.legend(fontsize=7)
    left.grid(alpha=0.3, lw=0.4)
    for i, key in enumerate(HITCHHIKER_KEYS):
        right.barh(y + 0.16 * (i - 2), body[f"{key}_cov90"], height=0.16, color=f"C{i}",
                   label=series[i + 2][1])
    right.axvline(0.9, color="k", ls="--", lw=0.8)
    right.set_xlabel("share of target checkpoints inside the 90% interval")
    right.legend(fontsize=7)
    fig.suptitle("Hitchhiker's protocol: predicting each family's largest model", fontsize=11)
    _save(fig, out, "hitchhiker2024_are.png", figures)

    shown = [f for f in ("gpt3", "GPT2-c4-1.0", "OPT", "t5-pile") if f in families][:4]
    if not shown:
        return
    fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown), 3.6),
                             constrained_layout=True, squeeze=False)
    for ax, family in zip(axes.flat, shown, strict=True):
        t = test[test["family"] == family].sort_values("D")
        ax.plot(t["D"], t["perf_loss_perp"], "k.", ms=3, label="truth")
        for i, key in enumerate(HITCHHIKER_KEYS):
            s = scores[key].loc[t.index]
            ax.fill_between(t["D"], s["lower"], s["upper"], color=f"C{i}", alpha=0.15, lw=0)
            ax.plot(t["D"], s["median"], color=f"C{i}", lw=1.2, label=series[i + 2][1])
        if family in paper_points:
            order = np.argsort(test.loc[test["family"] == family, "D"].to_numpy())
            ax.plot(t["D"], np.asarray(paper_points[family])[order], "k--", lw=1,
                    label="paper, checkpoints")
        truth = t["perf_loss_perp"]
        ax.set_ylim(0.85 * truth.min(), 1.15 * truth.max())
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
        ax.set_title(f"{family} (bands clipped to +-15% of the truth)", fontsize=8)
        ax.set_xlabel("tokens seen D")
        ax.grid(alpha=0.3, lw=0.4)
    axes[0, 0].set_ylabel("perf_loss_perp")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle("Largest model of a family: truth, medians and 90% predictive bands",
                 fontsize=11)
    _save(fig, out, "hitchhiker2024_examples.png", figures)
