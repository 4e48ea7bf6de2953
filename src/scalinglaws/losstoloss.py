"""Loss-to-loss and downstream prediction as joint Bayesian models.

Published loss-to-loss fits are two-stage: the offsets ``E_x`` and ``E_y`` come from
separate per-dataset fits and are plugged in as constants, and noise in the input loss
``L_x`` is ignored. Here one model holds everything:

- a **compute law** for the input loss (``chinchilla``, ``kaplan``, ``overtraining`` or any
  law of ``N`` and ``D`` with an additive irreducible term ``E``), whose ``E`` *is* the
  link's ``E_x``;
- a **latent noise-free input loss** per input model ``j`` (errors in variables)::

      u_j = log(l_j - E_x) ~ Normal(log(law_x(N_j, D_j) - E_x), tau)

  ``tau`` is the run's deviation from the smooth law that models sharing its (N, D)
  configuration have in common (a learning rate that suits one size better than another
  moves every training set's loss alike); it is why loss-to-loss prediction beats a
  compute law;
- **observation noise on both losses**: ``log L_x ~ Normal(log l_j, sigma_x)`` and, for
  each output observation ``i`` of model ``j(i)``, ``log L_y ~ Normal(log link(l_j),
  sigma_y)`` (identity scale for error rates);
- a **link** acting on the latent loss: the shifted power law ``L_y = K (l - E_x)^kappa +
  E_y`` (so the output's compute law is ``link(law_x)``, which for ``kaplan`` is again a
  Kaplan law, see :func:`translate_law`), or the downstream error law ``Err = epsilon - k
  exp(-gamma l)`` (a chain of laws: a prediction of the error at a new scale carries the
  loss law's uncertainty).

Both laws' parameters take the core hierarchy (``vary=``, partial pooling, centred or
non-centred offsets): the model builds one :class:`~scalinglaws.ScalingModel` per law and
samples its parameters with :func:`scalinglaws.model.build_model`, so priors, reference
scales and offsets are exactly the core's.

Examples
--------
>>> import scalinglaws as sl
>>> from scalinglaws import losstoloss as ltl
>>> runs = ltl.simulate(seed=0)
>>> pairs = ltl.pair_train_to_train(runs, x="web", y=["code", "books"], loss="loss")
>>> sorted(pairs["pair"].unique())
['web -> books', 'web -> code']
>>> model = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y", "K": "dataset_y",
...                                                  "E_y": "dataset_y"})
>>> fit = model.fit(pairs, chains=2, warmup=300, draws=300)  # doctest: +SKIP
>>> fit.predict({"N": [3e9], "D": [6e10], "dataset_y": ["code"], "loss_x": [2.2]})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import xarray as xr
from numpyro import handlers

from ._checks import check_sampler_settings
from .data import Design, make_design
from .engine import diagnose, posterior_draws
from .engine.mcmc import find_mode, make_mcmc, run_mcmc, sample_from_mode
from .errors import ScalingLawError, ScalingLawWarning
from .fit import Fit, ScalingModel
from .laws import Law, resolve
from .model import (
    GivenValue,
    build_model,
    enable_x64,
    law_params,
    level_sites,
    noise_scale,
    observation,
    predict_draws,
    transform_target,
    untransform,
)
from .netcdf import read_fit_file, write_fit_file
from .priors import Prior
from .spec import LIKELIHOODS, PARAMETERIZATIONS, POOLINGS, dump_toml, read_toml

__all__ = [
    "LossToLossFit",
    "LossToLossModel",

    "pair_losses",
    "pair_test_to_test",
    "pair_train_to_test",
    "pair_train_to_train",
    "plot_link",
    "simulate",
    "translate_law",
]

#: How the latent input losses are handled (see :func:`_build`): ``"marginal"`` integrates
#: each one out by adaptive Gauss-Hermite quadrature (no latent parameters for NUTS), and
#: ``"noncentred"`` samples them as ``u = m + tau z`` (slow; a check of the quadrature).
LATENTS = ("marginal", "noncentred")
#: How the links' data bear on the compute law (see :class:`LossToLossModel`): ``"joint"``
#: one posterior of everything; ``"cut"`` the compute law from the input losses alone,
#: the links given its draws.
FEEDBACKS = ("joint", "cut")
#: Compute-law draws a cut fit conditions the links on (one NUTS run each).
CUT_DRAWS = 8
#: Gauss-Hermite nodes per latent input loss.
QUADRATURE_NODES = 16
#: Newton steps that find the centre of each latent's integrand.
NEWTON_STEPS = 12
#: Default prior of ``tau``, the shared deviation of a run from the compute law (log of
#: the reducible loss).
TAU_PRIOR = Prior("HalfNormal", 0.1)
#: Default priors of the observation noise scales. Away from 0 on purpose: with one output
#: per input model the split of the noise between x and y is only weakly identified, and a
#: prior with mass at 0 (HalfNormal) makes a funnel there. Median 0.5% on log L_x, 1% on
#: log L_y (or 0.01 absolute for error rates).
SIGMA_X_PRIOR = Prior("LogNormal", -5.3, 1.0)
SIGMA_Y_PRIOR = Prior("LogNormal", -4.6, 1.0)
#: Scale of the latent prior (log reducible loss) for input models marked by ``law_rows``
#: as not informing the compute law: wide, so only their observation places them.
LOOSE_SD = 1.0
#: Noise scale at which both observation noises are held while the mode is searched (the
#: joint density of an errors-in-variables model is unbounded as a noise scale goes to 0).
MODE_NOISE = 0.02
#: Version of the saved-file layout.
FILE_FORMAT = 1

_X_TARGET = "__x_obs"
_L_DUMMY = "__L"
_X_PREFIX = "x"
_LINK_PREFIX = "link"


# --- pairing ------------------------------------------------------------------------------


def _frame(data: Any, what: str) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame(dict(data))
        except ValueError as err:
            raise ScalingLawError(f"{what}: cannot make a DataFrame from the dict ({err}); give "
                                  f"equal-length columns") from None
    raise ScalingLawError(f"{what} must be a pandas DataFrame (one row per run), got "
                          f"{type(data).__name__}")


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str, hint: str) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise ScalingLawError(f"{what} has no column {', '.join(map(repr, missing))}; it has "
                              f"{list(frame.columns)[:20]}. {hint}")


def _level_list(value: str | Sequence[str] | None, available: Sequence[str], role: str,
                column: str) -> list[str]:
    if value is None:
        return list(available)
    values = [value] if isinstance(value, str) else list(value)
    if not values or not all(isinstance(v, str) for v in values):
        raise ScalingLawError(f"{role} must be a level of {column!r} or a list of levels, got "
                              f"{value!r}")
    unknown = [v for v in values if v not in available]
    if unknown:
        raise ScalingLawError(f"{role} names {unknown}, which are not levels of column "
                              f"{column!r}; its levels are {list(available)}")
    return list(dict.fromkeys(values))


def _match_key(frame: pd.DataFrame, on: Sequence[str]) -> pd.Series:
    """Row keys for matching on ``on``: numbers rounded to 7 significant digits."""
    parts = []
    for col in on:
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            parts.append(values.map(lambda v: f"{v:.7g}"))
        else:
            parts.append(values.astype(str))
    key = parts[0]
    for part in parts[1:]:
        key = key + "|" + part
    return key


def pair_losses(runs: pd.DataFrame, *, x: str | Sequence[str] | None,
                y: str | Sequence[str] | None, loss_x: str,
                loss_y: str | Sequence[str], dataset: str = "dataset",
                on: Sequence[str] = ("N", "D"), run: str | None = "run",
                keep: Sequence[str] = ()) -> pd.DataFrame:
    """Pair one loss of models on ``x`` training sets with another of models on ``y``.

    For every ordered pair of training sets ``(a, b)`` (``a`` in ``x``, ``b`` in ``y``) and
    every output loss column, models trained on ``a`` and on ``b`` are matched by the
    columns ``on`` (by default the same N and D). When ``a == b`` a model is paired with
    itself (one model: its ``loss_x`` against its ``loss_y``); ``a == b`` with the same
    loss column is skipped.

    Parameters
    ----------
    runs : DataFrame
        One row per trained model.
    x, y : str, list of str or None
        Training sets (levels of ``dataset``) of the input and output models; None means
        all levels.
    loss_x : str
        Column of the input loss.
    loss_y : str or list of str
        Column(s) of the output loss; several give a long frame (one row per column).
    dataset : str
        Column naming the training set.
    on : sequence of str
        Columns that match a model on one set with its partner on the other (numbers
        match to 7 significant digits).
    run : str or None
        Column identifying a model; copied to ``run_x`` and ``run_y`` when present.
    keep : sequence of str
        Further columns to copy from the input model's row.

    Returns
    -------
    DataFrame
        Columns ``on``, ``dataset_x``, ``dataset_y``, ``metric_x``, ``metric_y`` (the loss
        columns), ``loss_x``, ``loss_y``, ``pair`` (``"a -> b"``), ``run_x`` and ``run_y``
        (a model id: the ``run`` column, else ``"<dataset>|<on values>"``), then ``keep``.

    Raises
    ------
    ScalingLawError
        A missing column, an unknown training set, a missing loss, two models of one set
        with the same ``on`` values (ambiguous: aggregate them or add a column to ``on``),
        or an ordered pair in which nothing matches.

    Examples
    --------
    >>> runs = simulate(seed=0)
    >>> pairs = pair_losses(runs, x="web", y="code", loss_x="loss", loss_y="loss")
    >>> pairs[["dataset_x", "dataset_y", "loss_x", "loss_y"]].shape[0] == 20
    True
    """
    runs = _frame(runs, "runs")
    on = [on] if isinstance(on, str) else list(on)
    metrics_y = [loss_y] if isinstance(loss_y, str) else list(loss_y)
    if not on:
        raise ScalingLawError("on= must name at least one column to match models by, e.g. "
                              "('N', 'D')")
    if not metrics_y:
        raise ScalingLawError("loss_y must name at least one loss column")
    _require(runs, [dataset, *on, loss_x, *metrics_y, *keep], "runs",
             "Pass the right column names (dataset=, on=, loss_x=, loss_y=, keep=).")
    if runs[dataset].isna().any():
        raise ScalingLawError(f"column {dataset!r} has missing values in rows "
                              f"{list(runs.index[runs[dataset].isna()][:5])}; fill or drop them")
    for col in on:
        if runs[col].isna().any():
            raise ScalingLawError(f"matching column {col!r} has missing values in rows "
                                  f"{list(runs.index[runs[col].isna()][:5])}; drop those rows")
    levels = sorted(runs[dataset].astype(str).unique())
    xs = _level_list(x, levels, "x", dataset)
    ys = _level_list(y, levels, "y", dataset)
    labels = runs[dataset].astype(str)
    key = _match_key(runs, on)
    has_run = run is not None and run in runs.columns

    for level in dict.fromkeys([*xs, *ys]):
        sub = key[labels == level]
        dup = sub[sub.duplicated(keep=False)]
        if len(dup):
            rows = list(dup.index[:6])
            raise ScalingLawError(
                f"pairing is ambiguous: {dup.nunique()} value(s) of {on} occur more than once "
                f"for {dataset}={level!r} (rows {rows}), so a partner model is not unique. "
                f"Aggregate those runs first (e.g. runs.groupby([{dataset!r}, *{on}]).mean()) "
                f"or add the distinguishing column (e.g. 'seed') to on="
            )

    pieces = []
    for a in xs:
        left = runs[labels == a]
        for b in ys:
            right = runs[labels == b]
            for metric in metrics_y:
                if a == b and metric == loss_x:
                    continue
                lhs = pd.DataFrame({"__key": key[left.index].to_numpy(),
                                    **{c: left[c].to_numpy() for c in on},
                                    "loss_x": left[loss_x].to_numpy(dtype=float),
                                    "run_x": (left[run].astype(str).to_numpy() if has_run
                                              else (a + "|" + key[left.index]).to_numpy()),
                                    **{c: left[c].to_numpy() for c in keep if c not in on}})
                rhs = pd.DataFrame({"__key": key[right.index].to_numpy(),
                                    "loss_y": right[metric].to_numpy(dtype=float),
                                    "run_y": (right[run].astype(str).to_numpy() if has_run
                                              else (b + "|" + key[right.index]).to_numpy())})
                merged = lhs.merge(rhs, on="__key", how="inner", validate="one_to_one")
                if merged.empty:
                    raise ScalingLawError(
                        f"nothing pairs for {a!r} -> {b!r}: no model trained on {b!r} has the "
                        f"same {on} as a model trained on {a!r} (e.g. {a!r} has "
                        f"{list(key[left.index][:2])}, {b!r} has {list(key[right.index][:2])}). "
                        f"Check the on= columns or leave this pair out of x=/y="
                    )
                merged = merged.drop(columns="__key")
                merged.insert(len(on), "dataset_x", a)
                merged.insert(len(on) + 1, "dataset_y", b)
                merged.insert(len(on) + 2, "metric_x", loss_x)
                merged.insert(len(on) + 3, "metric_y", metric)
                merged["pair"] = f"{a} -> {b}"
                pieces.append(merged)
    if not pieces:
        raise ScalingLawError(
            f"nothing to pair: x={xs} and y={ys} with loss_x={loss_x!r} and loss_y={metrics_y} "
            f"only give a model paired with its own loss; choose different sets or losses"
        )
    out = pd.concat(pieces, ignore_index=True)
    missing = out["loss_x"].isna() | out["loss_y"].isna()
    if missing.any():
        bad = out.loc[missing, ["run_x", "run_y"]].head(3).to_numpy().tolist()
        raise ScalingLawError(
            f"{int(missing.sum())} paired rows have a missing loss (e.g. runs {bad}); drop those "
            f"runs from `runs` first (runs.dropna(subset=[{loss_x!r}, ...]))"
        )
    order = [*on, "dataset_x", "dataset_y", "metric_x", "metric_y", "loss_x", "loss_y", "pair",
             "run_x", "run_y", *[c for c in keep if c not in on]]
    return out[order]


def pair_train_to_train(runs: pd.DataFrame, x: str | Sequence[str] | None = None,
                        y: str | Sequence[str] | None = None, *, loss: str = "val_loss",
                        dataset: str = "dataset", on: Sequence[str] = ("N", "D"),
                        run: str | None = "run", keep: Sequence[str] = ()) -> pd.DataFrame:
    """Train-to-train pairs: the training loss of models on two sets, matched by N and D.

    ``x`` and ``y`` default to every training set, giving all ordered pairs. See
    :func:`pair_losses` for the columns and errors.

    >>> pairs = pair_train_to_train(simulate(seed=0), loss="loss")
    >>> pairs["pair"].nunique()
    6
    """
    return pair_losses(runs, x=x, y=y, loss_x=loss, loss_y=loss, dataset=dataset, on=on,
                       run=run, keep=keep)


def pair_train_to_test(runs: pd.DataFrame, tasks: str | Sequence[str], *,
                       loss: str = "val_loss", datasets: str | Sequence[str] | None = None,
                       dataset: str = "dataset", on: Sequence[str] = ("N", "D"),
                       run: str | None = "run", keep: Sequence[str] = ()) -> pd.DataFrame:
    """Train-to-test pairs: each model's own loss ``loss`` against its test loss(es).

    One row per model and task column (``metric_y``), for the models trained on
    ``datasets`` (default all).

    >>> runs = simulate(seed=0).assign(task_loss=lambda f: f["loss"] + 0.5)
    >>> pairs = pair_train_to_test(runs, "task_loss", loss="loss", datasets="web")
    >>> bool((pairs["run_x"] == pairs["run_y"]).all())
    True
    """
    runs = _frame(runs, "runs")
    _require(runs, [dataset], "runs", "Pass dataset= naming the training-set column.")
    levels = sorted(runs[dataset].dropna().astype(str).unique())
    chosen = _level_list(datasets, levels, "datasets", dataset)
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    if loss in tasks:
        raise ScalingLawError(f"tasks includes the input loss {loss!r} itself; list test-loss "
                              f"columns only")
    pieces = [pair_losses(runs, x=d, y=d, loss_x=loss, loss_y=tasks, dataset=dataset, on=on,
                          run=run, keep=keep) for d in chosen]
    return pd.concat(pieces, ignore_index=True)


def pair_test_to_test(runs: pd.DataFrame, task: str, x: str | Sequence[str] | None = None,
                      y: str | Sequence[str] | None = None, *, dataset: str = "dataset",
                      on: Sequence[str] = ("N", "D"), run: str | None = "run",
                      keep: Sequence[str] = ()) -> pd.DataFrame:
    """Test-to-test pairs: one task's loss for models on two sets, matched by N and D.

    >>> runs = simulate(seed=0).assign(task_loss=lambda f: f["loss"] + 0.5)
    >>> pair_test_to_test(runs, "task_loss", x="web", y="code")["metric_y"].iloc[0]
    'task_loss'
    """
    return pair_losses(runs, x=x, y=y, loss_x=task, loss_y=task, dataset=dataset, on=on,
                       run=run, keep=keep)


# --- synthetic data -------------------------------------------------------------------------

#: Truth of :func:`simulate`: a Chinchilla law per training set whose runs share a
#: deviation per (N, D) configuration (``tau``), with small per-model noise.
SIM_TRUTH: dict = {
    "E": {"web": 1.80, "code": 0.90, "books": 2.10},
    "A": {"web": 400.0, "code": 400.0, "books": 400.0},
    "B": {"web": 400.0, "code": 400.0, "books": 400.0},
    "alpha": 0.34,
    "beta": 0.28,
    "kappa": {"web": 1.0, "code": 1.15, "books": 0.92},
    "K": {"web": 1.0, "code": 0.55, "books": 1.10},
    "tau": 0.04,
    "sigma": 0.003,
}


def simulate(seed: int = 0, *, sizes: Sequence[float] = (2e7, 6e7, 2e8, 6e8, 2e9),
             multipliers: Sequence[float] = (5, 20, 50, 150), truth: Mapping | None = None,
             sigma: float | Mapping[str, float] | None = None) -> pd.DataFrame:
    """Runs on several training sets whose losses are linked by known shifted power laws.

    The reference set (the one with ``kappa = 1`` and ``K = 1``, ``"web"``) follows a
    Chinchilla law; configuration ``c`` of every set shares the deviation ``tau * z_c``
    of the log reducible reference loss; set ``s`` has the latent loss
    ``E_s + K_s (l_ref - E_ref)^kappa_s`` and an observation with log-normal noise
    ``sigma`` (per set when a dict).

    Returns
    -------
    DataFrame
        Columns ``run``, ``dataset``, ``N``, ``D``, ``M``, ``loss`` (observed) and
        ``true_loss`` (latent, noise-free); ``attrs["truth"]`` holds the truth.

    >>> runs = simulate(seed=0)
    >>> runs.groupby("dataset").size().tolist()
    [20, 20, 20]
    """
    truth = dict(SIM_TRUTH if truth is None else truth)
    sigma = truth["sigma"] if sigma is None else sigma
    rng = np.random.default_rng(seed)
    configs = [(n, m) for n in sizes for m in multipliers]
    n_arr = np.array([c[0] for c in configs], dtype=float)
    d_arr = n_arr * np.array([c[1] for c in configs], dtype=float)
    ref = next(s for s in truth["E"] if truth["kappa"][s] == 1.0 and truth["K"][s] == 1.0)
    reducible = truth["A"][ref] * n_arr ** -truth["alpha"] + truth["B"][ref] * d_arr ** -truth[
        "beta"]
    reducible = reducible * np.exp(truth["tau"] * rng.standard_normal(len(configs)))
    rows = []
    for s in truth["E"]:
        latent = truth["E"][s] + truth["K"][s] * reducible ** truth["kappa"][s]
        noise = sigma[s] if isinstance(sigma, Mapping) else sigma
        observed = latent * np.exp(noise * rng.standard_normal(len(configs)))
        for i in range(len(configs)):
            rows.append({"run": f"{s}-{i}", "dataset": s, "N": n_arr[i], "D": d_arr[i],
                         "M": d_arr[i] / n_arr[i], "loss": observed[i], "true_loss": latent[i]})
    frame = pd.DataFrame(rows)
    frame.attrs["truth"] = truth
    return frame


# --- the model ------------------------------------------------------------------------------


def _additive_e(law: Law) -> bool:
    """Whether ``law`` is ``E + f(vars)``: raising E by 1 raises the prediction by 1."""
    point = {v: jnp.asarray(1e9) for v in law.variables}
    params = {}
    for p in law.params:
        params[p.name] = jnp.asarray(0.5 if p.constraint == "unit" else 0.3)
    lo = law.fn(point, {**params, "E": jnp.asarray(1.0)})
    hi = law.fn(point, {**params, "E": jnp.asarray(2.0)})
    return bool(jnp.isfinite(lo)) and abs(float(hi - lo) - 1.0) < 1e-6


def _link_core(link: Law) -> Law:
    """The link as the core samples it: ``E_x`` removed (it is the compute law's ``E``)."""
    if "E_x" not in link.param_names:
        return link
    params = tuple(p for p in link.params if p.name != "E_x")

    def fn(v, p):
        return link.fn(v, {**p, "E_x": 0.0})

    def log_fn(v, p):
        return link.log(v, {**p, "E_x": 0.0})

    return Law(name=f"{link.name}_given_E_x", variables=link.variables, params=params, fn=fn,
               log_fn=log_fn, latex=link.latex, citation=link.citation, output=link.output,
               description=f"{link.name} with E_x taken from the compute law")


def _law_to_value(law: Law) -> Any:
    """A law as a JSON value (registry name or expression dict), via the core's spec."""
    return ScalingModel(law).to_dict()["law"]


def _law_from_value(value: Any) -> Law:
    return ScalingModel.from_dict({"law": value}).law


@dataclass(frozen=True)
class LossToLossModel:
    """A joint model of a compute law, a latent input loss and a link to another loss.

    Parameters
    ----------
    law : str or Law
        Compute law of the input loss in N and D, with an additive irreducible term
        ``E`` (``"kaplan"``, ``"chinchilla"``, ``"overtraining"`` or an expression); its
        ``E`` is the link's ``E_x``.
    link : str or Law
        ``"shifted_power"`` (loss to loss), ``"downstream_exp"`` (loss to downstream
        error) or a law of one variable ``L``; a parameter named ``E_x`` is tied to the
        compute law's ``E``.
    inputs : dict
        ``{"N": column, "D": column}`` (defaults to the law's variable names).
    x, y : str
        Columns of the observed input and output losses. ``y`` may be NaN on rows that
        only carry an input model; ``x`` may be NaN where the input loss is unobserved.
    x_run : str, optional
        Column identifying the input model, so that rows sharing one (several outputs of
        one model) share its latent loss. Defaults to ``"run_x"`` when the data have it,
        else to the inputs plus the factors the compute law varies by.
    vary : dict
        Parameter -> factor column(s), as in :class:`~scalinglaws.ScalingModel`: compute-law
        parameters (``E`` or ``E_x``, ``A``, ``alpha``, ...) vary by factors constant
        within an input model; link parameters (``kappa``, ``K``, ``E_y``; ``epsilon``,
        ``k``, ``gamma``) by any row factor; ``"sigma_x"`` and ``"sigma_y"`` are the noise
        scales.
    priors : dict
        Overrides by name: any parameter above, ``"tau"``, ``"sigma_x"``, ``"sigma_y"``,
        ``"nu"`` and ``"<param>_sd"``.
    pooling, likelihood : str
        As in :class:`~scalinglaws.ScalingModel`, for both laws.
    parameterization : str or dict
        As in :class:`~scalinglaws.ScalingModel`: ``"noncentred"`` or ``"centred"`` for
        every varying parameter, or a dict per parameter in this model's vocabulary.
    latent : {"marginal", "noncentred"}
        How the latent input losses are handled: integrated out per input model
        (default; exact up to quadrature) or sampled (see :data:`LATENTS`).
    reference : dict, optional
        Fixed reference N and D of the compute law's coefficients.
    law_rows : str, optional
        Boolean column: input models marked False do not inform the compute law (their
        latent loss gets a wide prior, :data:`LOOSE_SD`, around it), e.g. runs a study
        uses only to fit the link.
    feedback : {"joint", "cut"}
        ``"joint"`` (default): one posterior of everything, so the links' data also
        inform ``E_x`` and the compute law. ``"cut"``: the compute law's parameters (not
        its noise scale) come from the input losses alone, and the links, ``tau`` and
        the noise scales are sampled given each of ``cut_draws`` of its posterior draws
        (see :meth:`fit`): the "cut" posterior of modular inference, in which a link
        that fits its sweep but not its extrapolation cannot move ``E_x``. Use it when
        the link is used far below the losses it was fitted on (Brandfonbrener's
        train-to-test: eleven links pull ``E_x`` above the 1e21 input loss they must
        extrapolate to, ``docs/loss_to_loss.md``). Uncertainty in the compute law still
        reaches every prediction.

    Examples
    --------
    >>> model = LossToLossModel("kaplan", vary={"kappa": "dataset_y", "E_y": "dataset_y"})
    >>> model.x_spec.law.name, model.link_spec.law.name
    ('kaplan', 'shifted_power_given_E_x')
    >>> LossToLossModel.from_dict(model.to_dict()) == model
    True
    """

    law: Law | str = "kaplan"
    link: Law | str = "shifted_power"
    inputs: Mapping[str, str] = field(default_factory=dict)
    x: str = "loss_x"
    y: str = "loss_y"
    x_run: str | None = None
    vary: Mapping[str, Any] = field(default_factory=dict)
    priors: Mapping[str, Any] = field(default_factory=dict)
    pooling: str = "partial"
    likelihood: str = "normal"
    parameterization: str | Mapping[str, str] = "noncentred"
    latent: str = "marginal"
    reference: Mapping[str, float] | None = None
    law_rows: str | None = None
    feedback: str = "joint"

    def __post_init__(self) -> None:
        law = resolve(self.law)
        link = resolve(self.link)
        object.__setattr__(self, "law", law)
        object.__setattr__(self, "link", link)
        if "E" not in law.param_names or law.output != "positive":
            raise ScalingLawError(
                f"the compute law {law.name!r} needs a positive output and an irreducible term "
                f"'E' (it becomes the link's E_x); use 'kaplan', 'chinchilla', 'overtraining' "
                f"or an expression like 'E + A*N**-alpha + B*D**-beta'"
            )
        if not _additive_e(law):
            raise ScalingLawError(
                f"the compute law {law.name!r} must be E plus a positive reducible term so that "
                f"the latent loss minus E_x is the reducible loss; rewrite it as 'E + ...'"
            )
        if link.variables != ("L",):
            raise ScalingLawError(
                f"the link {link.name!r} must be a law of one variable 'L' (the input loss), "
                f"got variables {list(link.variables)}; use 'shifted_power' or 'downstream_exp'"
            )
        core_link = _link_core(link)
        clash = set(law.param_names) & set(core_link.param_names)
        if clash:
            raise ScalingLawError(
                f"the compute law and the link both have parameters {sorted(clash)}; rename "
                f"them in one of the laws (Law.from_expression with other names)"
            )
        for name, value in (("x", self.x), ("y", self.y)):
            if not isinstance(value, str) or not value:
                raise ScalingLawError(f"{name} must be a column name, got {value!r}")
        if self.x == self.y:
            raise ScalingLawError(f"x and y name the same column {self.x!r}; pair the losses "
                                  f"first (pair_losses) so that each row has both")
        if self.latent not in LATENTS:
            raise ScalingLawError(f"latent must be one of {LATENTS}, got {self.latent!r}")
        if self.feedback not in FEEDBACKS:
            raise ScalingLawError(f"feedback must be one of {FEEDBACKS}, got "
                                  f"{self.feedback!r}")
        if self.pooling not in POOLINGS or self.likelihood not in LIKELIHOODS:
            raise ScalingLawError(
                f"pooling must be one of {POOLINGS} and likelihood one of {LIKELIHOODS}; got "
                f"{self.pooling!r}, {self.likelihood!r}"
            )
        for name in ("x_run", "law_rows"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ScalingLawError(f"{name} must be a column name or None, got {value!r}")

        def route(key: str, what: str) -> tuple[str, str]:
            """('x' or 'link', the core's name) of a parameter named in this vocabulary."""
            if key in ("E_x", "sigma_x") or key in law.param_names:
                return "x", {"E_x": "E", "sigma_x": "sigma"}.get(key, key)
            if key == "sigma_y" or key in core_link.param_names:
                return "link", "sigma" if key == "sigma_y" else key
            raise ScalingLawError(
                f"{what} names {key!r}, which this model does not have; use a compute-law "
                f"parameter {list(law.param_names)} (or 'E_x'), a link parameter "
                f"{list(core_link.param_names)}, 'sigma_x' or 'sigma_y'"
            )

        vary_x, vary_l = {}, {}
        for key, value in dict(self.vary).items():
            side, name = route(key, "vary")
            (vary_x if side == "x" else vary_l)[name] = value
        param_x: str | dict = self.parameterization
        param_l: str | dict = self.parameterization
        if isinstance(self.parameterization, Mapping):
            param_x, param_l = {}, {}
            for key, value in self.parameterization.items():
                side, name = route(key, "parameterization")
                (param_x if side == "x" else param_l)[name] = value
        elif self.parameterization not in PARAMETERIZATIONS:
            raise ScalingLawError(f"parameterization must be one of {PARAMETERIZATIONS} or a "
                                  f"dict per varying parameter, got {self.parameterization!r}")
        priors_x, priors_l, tau = {}, {}, TAU_PRIOR
        for key, value in dict(self.priors).items():
            base = key[:-3] if key.endswith("_sd") else key
            suffix = "_sd" if key.endswith("_sd") else ""
            if key == "tau":
                tau = value if isinstance(value, Prior) else Prior.from_dict(value)
                if not tau.support_fits("positive"):
                    raise ScalingLawError(f"priors['tau'] = {tau!r} must be on positive values "
                                          f"(e.g. HalfNormal)")
            elif key == "nu":
                priors_x[key] = priors_l[key] = value
            elif base in ("E_x", "sigma_x") or base in law.param_names:
                priors_x[{"E_x": "E", "sigma_x": "sigma"}.get(base, base) + suffix] = value
            elif base == "sigma_y" or base in core_link.param_names:
                priors_l[("sigma" if base == "sigma_y" else base) + suffix] = value
            else:
                raise ScalingLawError(
                    f"priors names {key!r}, which this model does not have; it has the "
                    f"compute-law parameters {list(law.param_names)}, the link parameters "
                    f"{list(core_link.param_names)}, 'tau', 'sigma_x', 'sigma_y', 'nu' and "
                    f"'<param>_sd' for varying ones"
                )
        priors_x.setdefault("sigma", SIGMA_X_PRIOR)
        priors_l.setdefault("sigma", SIGMA_Y_PRIOR)
        common = {"pooling": self.pooling, "likelihood": self.likelihood}
        x_spec = ScalingModel(law, inputs=dict(self.inputs), target=_X_TARGET, vary=vary_x,
                              priors=priors_x, reference=self.reference,
                              parameterization=param_x, **common)
        link_spec = ScalingModel(core_link, inputs={"L": _L_DUMMY}, target=self.y, vary=vary_l,
                                 priors=priors_l, parameterization=param_l, **common)
        if isinstance(self.parameterization, Mapping):
            object.__setattr__(self, "parameterization", dict(self.parameterization))
        object.__setattr__(self, "inputs", dict(x_spec.inputs))
        object.__setattr__(self, "vary", {k: (v,) if isinstance(v, str) else tuple(v)
                                          for k, v in dict(self.vary).items()})
        object.__setattr__(self, "priors", {
            k: v if isinstance(v, Prior) else Prior.from_dict(v)
            for k, v in dict(self.priors).items()})
        object.__setattr__(self, "_x_spec", x_spec)
        object.__setattr__(self, "_link_spec", link_spec)
        object.__setattr__(self, "_tau_prior", tau)

    # --- the two core specs --------------------------------------------------------------

    @property
    def x_spec(self) -> ScalingModel:
        """The compute law as a core :class:`~scalinglaws.ScalingModel` (target internal)."""
        return self._x_spec  # type: ignore[attr-defined]

    @property
    def link_spec(self) -> ScalingModel:
        """The link as a core :class:`~scalinglaws.ScalingModel` (``E_x`` removed)."""
        return self._link_spec  # type: ignore[attr-defined]

    @property
    def tau_prior(self) -> Prior:
        """Prior of ``tau``."""
        return self._tau_prior  # type: ignore[attr-defined]

    @property
    def x_factors(self) -> tuple[str, ...]:
        """Factors the compute law varies by (constant within an input model)."""
        return self.x_spec.factors

    @property
    def link_factors(self) -> tuple[str, ...]:
        """Factors the link varies by."""
        return self.link_spec.factors

    # --- fitting -------------------------------------------------------------------------

    def fit(self, data: pd.DataFrame, *, seed: int = 0, chains: int = 4, warmup: int = 1000,
            draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
            max_tree_depth: int = 10, dense_mass: bool = True,
            n_starts: int = 32, cut_draws: int = CUT_DRAWS) -> LossToLossFit:
        """Fit the joint model to a paired frame with NUTS.

        Parameters
        ----------
        data : DataFrame
            One row per output observation (see :func:`pair_losses`): the inputs, ``x``,
            ``y``, the factors and, optionally, ``x_run`` and ``law_rows``.
        seed, chains, warmup, draws, target_accept, progress, max_tree_depth, dense_mass
            As in :meth:`scalinglaws.ScalingModel.fit`.
        n_starts : int
            Starts of the multi-start mode search (:func:`scalinglaws.inference.find_mode`).
        cut_draws : int
            With ``feedback="cut"`` only: how many draws of the compute law's posterior
            (stage 1, ``chains`` x ``draws``) the links are fitted given, chosen at evenly
            spaced quantiles of ``E_x``. Each gets ``chains`` chains of ``warmup`` +
            ``draws`` (one compiled sampler serves all), so the posterior has
            ``cut_draws * chains`` chains; R-hat and ESS are computed within each group of
            ``chains`` chains that share a compute-law draw.

        Returns
        -------
        LossToLossFit

        Examples
        --------
        >>> pairs = pair_train_to_train(simulate(seed=0), x="web", y="code", loss="loss")
        >>> fit = LossToLossModel("chinchilla").fit(pairs, chains=2, warmup=300,
        ...                                         draws=300)  # doctest: +SKIP
        >>> fit.summary().loc["link.kappa", ["median", "lower", "upper"]]  # doctest: +SKIP
        """
        frame = _frame(data, "data")
        layout = _Layout.build(self, frame)
        idata, problems = _sample(self, layout, seed=seed, chains=chains, warmup=warmup,
                                  draws=draws, target_accept=target_accept, progress=progress,
                                  max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                                  n_starts=n_starts, cut_draws=cut_draws)
        return LossToLossFit(idata=idata, spec=self, data=layout.data,
                             warnings=tuple(problems))

    # --- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-ready dict; :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {
            "law": _law_to_value(self.law), "link": _law_to_value(self.link),
            "inputs": dict(self.inputs), "x": self.x, "y": self.y,
            "vary": {k: list(v) for k, v in self.vary.items()},
            "priors": {k: p.to_dict() for k, p in self.priors.items()},
            "pooling": self.pooling, "likelihood": self.likelihood,
            "parameterization": (dict(self.parameterization)
                                 if isinstance(self.parameterization, Mapping)
                                 else self.parameterization),
            "latent": self.latent, "feedback": self.feedback,
        }
        for key in ("x_run", "law_rows"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.reference is not None:
            out["reference"] = dict(self.reference)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LossToLossModel:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        data = dict(data)
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ScalingLawError(f"loss-to-loss spec has unknown keys {sorted(unknown)}; known "
                                  f"keys are {sorted(known)}")
        for key in ("law", "link"):
            if key in data and not isinstance(data[key], (str, Law)):
                data[key] = _law_from_value(data[key])
        return cls(**data)

    def to_toml(self, path: str | Path | None = None) -> str:
        """The spec as TOML text (``models/*.toml``); also written to ``path`` when given.

        >>> print(LossToLossModel("kaplan", feedback="cut").to_toml().splitlines()[0])
        law = "kaplan"
        """
        return dump_toml(self.to_dict(), path)

    @classmethod
    def from_toml(cls, path_or_text: str | Path) -> LossToLossModel:
        """Read a spec from a TOML file (or TOML text); other tables (``[study]``) are
        ignored, as in :meth:`scalinglaws.ScalingModel.from_toml`.

        >>> model = LossToLossModel("kaplan", vary={"kappa": "task"})
        >>> LossToLossModel.from_toml(model.to_toml()) == model
        True
        """
        data = read_toml(path_or_text)
        if "link" not in data:
            raise ScalingLawError("a loss-to-loss spec names its link (link = "
                                  "\"shifted_power\"); this looks like a ScalingModel spec: "
                                  "read it with ScalingModel.from_toml")
        return cls.from_dict({k: v for k, v in data.items()
                              if k in cls.__dataclass_fields__})


# --- data layout ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """The paired frame split into input models (latents) and output observations."""

    data: pd.DataFrame          # the columns the model reads, as fitted
    xruns: pd.DataFrame         # one row per input model
    xrun_of_row: np.ndarray     # per output observation: its input model
    y_rows: np.ndarray          # positions in `data` of rows with an output observation
    x_design: Design
    link_design: Design

    @staticmethod
    def columns(spec: LossToLossModel, frame: pd.DataFrame) -> list[str]:
        cols = [*spec.inputs.values(), spec.x, spec.y, *spec.x_factors, *spec.link_factors]
        if spec.law_rows:
            cols.append(spec.law_rows)
        run = _x_run_column(spec, frame)
        if run:
            cols.append(run)
        return list(dict.fromkeys(cols))

    @classmethod
    def build(cls, spec: LossToLossModel, frame: pd.DataFrame) -> _Layout:
        if len(frame) == 0:
            raise ScalingLawError("data has no rows; pass the paired frame (pair_losses)")
        hint = ("Pair the losses first (pair_losses gives loss_x, loss_y, dataset_x, "
                "dataset_y, run_x), or map the columns: LossToLossModel(inputs=..., x=..., "
                "y=..., vary=..., x_run=...)")
        if spec.x_run is not None:
            _require(frame, [spec.x_run], "data", hint)
        _require(frame, cls.columns(spec, frame), "data", hint)
        data = frame[cls.columns(spec, frame)].copy()
        x = _loss_column(data, spec.x, "input loss x", positive=True)
        y = _loss_column(data, spec.y, "output loss y",
                         positive=spec.link_spec.scale == "log")
        if np.isnan(y).all():
            raise ScalingLawError(f"column {spec.y!r} (output loss) has no values; the link "
                                  f"needs at least some paired rows")
        if np.isnan(x).all():
            raise ScalingLawError(f"column {spec.x!r} (input loss) has no values; the compute "
                                  f"law needs observed input losses")
        if spec.law_rows:
            flags = data[spec.law_rows]
            if not (pd.api.types.is_bool_dtype(flags) or flags.isin([0, 1]).all()):
                raise ScalingLawError(f"law_rows column {spec.law_rows!r} must be boolean "
                                      f"(True: the input model informs the compute law)")
        codes = _xrun_codes(spec, data)
        xruns = _xrun_table(spec, data, codes, x)
        y_rows = np.flatnonzero(~np.isnan(y))
        x_frame = xruns[[*spec.inputs.values(), *spec.x_factors]].copy()
        x_frame[_X_TARGET] = np.where(np.isnan(xruns["__x"]), 1.0, xruns["__x"])
        x_design = make_design(spec.x_spec, x_frame)
        link_frame = data.iloc[y_rows][[*spec.link_factors, spec.y]].copy()
        link_frame[_L_DUMMY] = 1.0
        link_design = make_design(spec.link_spec, link_frame)
        return cls(data=data, xruns=xruns, xrun_of_row=codes[y_rows], y_rows=y_rows,
                   x_design=x_design, link_design=link_design)

    @property
    def x_observed(self) -> np.ndarray:
        return np.flatnonzero(~np.isnan(self.xruns["__x"].to_numpy()))

    @property
    def loose(self) -> np.ndarray:
        return ~self.xruns["__law"].to_numpy(dtype=bool)

    def y_obs(self, spec: LossToLossModel) -> dict[str, jnp.ndarray]:
        x = self.xruns["__x"].to_numpy()[self.x_observed]
        y = self.data[spec.y].to_numpy(dtype=float)[self.y_rows]
        return {"x": jnp.log(jnp.asarray(x)),
                "y": transform_target(spec.link_spec, jnp.asarray(y))}


def _x_run_column(spec: LossToLossModel, frame: pd.DataFrame) -> str | None:
    if spec.x_run is not None:
        return spec.x_run
    return "run_x" if "run_x" in frame.columns else None


def _loss_column(frame: pd.DataFrame, column: str, role: str, positive: bool) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        raise ScalingLawError(f"column {column!r} ({role}) has non-numeric values in rows "
                              f"{list(frame.index[bad][:5])}; convert them with pd.to_numeric")
    out = values.to_numpy(dtype=float)
    if np.isinf(out).any():
        raise ScalingLawError(f"column {column!r} ({role}) has infinite values in rows "
                              f"{list(frame.index[np.isinf(out)][:5])}; drop those rows")
    if positive and (out <= 0).any():
        raise ScalingLawError(f"column {column!r} ({role}) must be positive, but rows "
                              f"{list(frame.index[out <= 0][:5])} are <= 0; losses are modelled "
                              f"on the log scale")
    return out


def _xrun_codes(spec: LossToLossModel, data: pd.DataFrame) -> np.ndarray:
    run = _x_run_column(spec, data)
    keys = [run] if run else [*spec.inputs.values(), *spec.x_factors]
    for col in keys:
        if data[col].isna().any():
            raise ScalingLawError(f"column {col!r}, which identifies the input model, has "
                                  f"missing values in rows "
                                  f"{list(data.index[data[col].isna()][:5])}; fill or drop them")
    key = _match_key(data, keys)
    return pd.factorize(key, sort=False)[0].astype(np.int64)


def _xrun_table(spec: LossToLossModel, data: pd.DataFrame, codes: np.ndarray,
                x: np.ndarray) -> pd.DataFrame:
    """One row per input model; rows of one model must agree on everything about it."""
    cols = [*spec.inputs.values(), *spec.x_factors]
    if spec.law_rows:
        cols.append(spec.law_rows)
    run = _x_run_column(spec, data)
    frame = data[cols].copy()
    frame["__x"] = x
    frame["__code"] = codes
    for col in [*cols, "__x"]:
        distinct = frame.dropna(subset=[col]).groupby("__code")[col].nunique()
        bad = distinct[distinct > 1]
        if len(bad):
            code = int(bad.index[0])
            rows = list(data.index[codes == code][:4])
            what = f"input model {run}={data[run].iloc[np.argmax(codes == code)]!r}" if run \
                else "an input model"
            name = spec.x if col == "__x" else col
            raise ScalingLawError(
                f"{what} (rows {rows}) has {int(bad.iloc[0])} different values of {name!r}: "
                f"rows of one input model must agree on its inputs, factors and loss. Give "
                f"each input model its own id in {run or 'run_x'!r} (x_run=), or fix the rows"
            )
    first = frame.groupby("__code", sort=True).first()
    first["__x"] = frame.groupby("__code", sort=True)["__x"].max()
    first["__law"] = (first[spec.law_rows].astype(bool) if spec.law_rows
                      else pd.Series(True, index=first.index))
    return first.reset_index(drop=True)


# --- the NumPyro model ----------------------------------------------------------------------


def _core_sampler(spec: ScalingModel, design: Design, prefix: str) -> Callable[[], dict]:
    """A function that samples ``spec``'s parameter sites under ``prefix.`` and returns them.

    It runs the core model (:func:`scalinglaws.model.build_model`) with its own likelihood
    site ``y`` hidden, so priors, hierarchy, reference scales and deterministic per-level
    sites are exactly the core's; the returned values are keyed by the core's site names.
    """
    core = build_model(spec, design)
    dummy = np.asarray(design.y)
    cut = len(prefix) + 1

    def sample() -> dict:
        hidden = handlers.block(core, hide=["y"])
        scoped = handlers.scope(hidden, prefix=prefix, divider=".")
        trace = handlers.trace(scoped).get_trace(y=dummy)
        return {name[cut:]: site["value"] for name, site in trace.items()
                if site["type"] in ("sample", "deterministic")}

    return sample


def _reducible_log(law: Law, variables: Mapping, params: Mapping):
    """log(law - E): the law with E set to 0 (exact for laws of the form E + f)."""
    return law.log(variables, {**params, "E": jnp.zeros_like(params["E"])})


def _link_location(spec: LossToLossModel, latent_x, e_x, params: Mapping):
    """The link on the likelihood scale (log y or y) at the latent input loss."""
    full = dict(params)
    if "E_x" in spec.link.param_names:
        full["E_x"] = e_x
    variables = {"L": latent_x}
    if spec.link_spec.scale == "log":
        return spec.link.log(variables, full)
    return spec.link.fn(variables, full)


# --- the shifted power link in anchored coordinates -----------------------------------------

#: The link parameters that anchored coordinates replace, and the coordinates' site names.
_ANCHORED = ("K", "kappa", "E_y")
_ANCHOR_SITES = ("log_level", "log_slope", "logit_floor")


def _anchored_sites(spec: LossToLossModel, design: Design) -> dict[str, str]:
    """``{parameter: factor or ""}`` when the link is sampled in anchored coordinates.

    They apply to the ``shifted_power`` link of a cut fit (``feedback="cut"``: stage 2
    holds the compute law, so the anchor is fixed) when ``K``, ``kappa`` and ``E_y`` vary
    alike: by nothing, or by one factor with ``pooling="none"``. Otherwise ``{}``. In a
    joint fit the anchor moves with the compute law; there they broke one
    Brandfonbrener train-to-train fit (FineWeb-Edu: R-hat 1.85, 39 divergences, against
    1.016 and none in the natural coordinates), so joint fits keep the natural ones.
    """
    if spec.link.name != "shifted_power" or spec.feedback != "cut":
        return {}
    factors = {p: design.vary.get(p, ()) for p in _ANCHORED}
    kinds = set(factors.values())
    if len(kinds) != 1:
        return {}
    (shared,) = kinds
    if shared and (len(shared) > 1 or spec.pooling != "none"):
        return {}
    return {p: shared[0] if shared else "" for p in _ANCHORED}


def _site(prefix: str, name: str, factor: str) -> str:
    return f"{prefix}.{name}_{factor}" if factor else f"{prefix}.{name}"


def _anchored_to_natural(log_level, log_slope, logit_floor, log_anchor) -> dict:
    """``log K``, ``log kappa``, ``log E_y`` from the anchored coordinates.

    At the anchor (reducible input loss ``r0 = exp(log_anchor)``) the link's value is
    ``v = exp(log_level)``, its elasticity ``d log L_y / d log r`` is ``g = exp(log_slope)``
    and ``E_y / v`` is ``s = sigmoid(logit_floor)``; so ``E_y = v s``,
    ``kappa = g / (1 - s)`` and ``K = v (1 - s) / r0^kappa``. The map from
    ``(log_level, log_slope, logit_floor)`` to ``(log K, log kappa, log E_y)`` has
    Jacobian determinant 1.

    >>> out = _anchored_to_natural(jnp.log(3.0), jnp.log(0.5), 0.0, jnp.log(2.0))
    >>> [round(float(jnp.exp(out[k])), 6) for k in ("K", "kappa", "E_y")]
    [0.75, 1.0, 1.5]
    """
    log_kappa = log_slope + jax.nn.softplus(logit_floor)
    return {"K": log_level - jax.nn.softplus(logit_floor) - jnp.exp(log_kappa) * log_anchor,
            "kappa": log_kappa,
            "E_y": log_level + jax.nn.log_sigmoid(logit_floor)}


def _sample_anchored(sites: Mapping[str, str], design: Design, log_anchor) -> dict:
    """Sample the anchored coordinates; return a ``handlers.reparam`` config that gives
    the link's ``K``, ``kappa`` and ``E_y`` sites their values.

    The coordinates are flat (``ImproperUniform``); each natural site then adds its prior
    density of ``log K``, ``log kappa``, ``log E_y``. As the change of variables has unit
    Jacobian, the joint density is exactly the natural parameterisation's: same prior,
    same posterior. What changes is the geometry: the data fix the link's level and slope
    at the anchor whatever ``E_y`` is, so the weakly identified ``E_y`` moves along one
    axis instead of along the curved ``kappa`` / ``E_y`` ridge of ``(K, kappa, E_y)``.
    """
    factor = sites["K"]
    shape = (len(design.factors[factor].levels),) if factor else ()
    flat = dist.ImproperUniform(dist.constraints.real, (), event_shape=shape)
    coords = [numpyro.sample(_site(_LINK_PREFIX, n, factor), flat) for n in _ANCHOR_SITES]
    logs = _anchored_to_natural(*coords, log_anchor)
    return {_site(_LINK_PREFIX, p, factor): GivenValue(logs[p]) for p in _ANCHORED}


def _log_integrand(spec: LossToLossModel, layout: _Layout, parts: Mapping, u):
    """log of prior x likelihood of every input model's data, as a function of its u."""
    x_spec, link_spec = spec.x_spec, spec.link_spec
    e_x, m, scale, sx, vx = parts["e_x"], parts["m"], parts["scale"], parts["sx"], parts["vx"]
    out = dist.Normal(m, scale).log_prob(u)
    if parts["x_obs"] is not None:
        obs = parts["observed"]
        log_x = jnp.logaddexp(jnp.log(e_x[..., obs]), u[..., obs])
        term = observation(x_spec, log_x, sx[obs], vx).log_prob(parts["x_obs"])
        out = out.at[..., obs].add(term)
    if parts["y_obs"] is not None:
        rows = parts["xrun_of_row"]
        e_row = e_x[rows]
        loc = _link_location(spec, e_row + jnp.exp(u[..., rows]), e_row, parts["pl"])
        term = observation(link_spec, loc, parts["sy"], parts["vl"]).log_prob(parts["y_obs"])
        summed = jax.ops.segment_sum(jnp.moveaxis(term, -1, 0), rows,
                                     num_segments=e_x.shape[-1])
        out = out + jnp.moveaxis(summed, 0, -1)
    return out


def _marginal(spec: LossToLossModel, layout: _Layout, parts: Mapping):
    """log of the integral over each input model's latent u (adaptive Gauss-Hermite).

    The integrand is a function of each input model's own ``u`` only, so its first and
    second derivatives come from forward-mode ``jvp`` with a vector of ones. Newton steps
    from the better of the observation-implied value and the law's prediction find the
    peak; the quadrature is centred there and scaled by the curvature. Centre and
    scale carry no gradient: the quadrature is a change of variables, valid for any.
    """
    def g(u):
        return _log_integrand(spec, layout, parts, u)

    frozen = jax.tree_util.tree_map(jax.lax.stop_gradient, dict(parts))
    ones = jnp.ones_like(frozen["u0"])

    def slope(u):
        return jax.jvp(lambda v: _log_integrand(spec, layout, frozen, v), (u,), (ones,))[1]

    def newton(_, u):
        grad, hess = jax.jvp(slope, (u,), (ones,))
        step = jnp.where(hess < 0, -grad / jnp.where(hess < 0, hess, -1.0),
                         0.5 * jnp.sign(grad))
        return u + jnp.clip(step, -1.0, 1.0)

    candidates = jnp.stack([frozen["u0"], frozen["m"]])
    best = jnp.argmax(_log_integrand(spec, layout, frozen, candidates), axis=0)
    start = jnp.take_along_axis(candidates, best[None, :], axis=0)[0]
    centre = jax.lax.fori_loop(0, NEWTON_STEPS, newton, start)
    hess = jax.jvp(slope, (centre,), (ones,))[1]
    spread = jnp.where(hess < 0, 1.0 / jnp.sqrt(jnp.abs(hess)), frozen["scale"])
    nodes, weights = np.polynomial.hermite.hermgauss(QUADRATURE_NODES)
    points = centre[None, :] + np.sqrt(2.0) * spread[None, :] * nodes[:, None]
    values = g(points) + (np.log(weights) + nodes**2)[:, None]
    return jax.scipy.special.logsumexp(values, axis=0) + jnp.log(np.sqrt(2.0) * spread)


def _build(spec: LossToLossModel, layout: _Layout, latent: str, link: bool = True,
           anchored: bool = True):
    """The joint NumPyro model; ``latent`` says how the latent input losses are handled.

    ``link=False`` leaves out the links (their parameters and the output observations):
    the compute law of the input losses alone, stage 1 of a cut fit.

    ``"marginal"``: each input model's latent ``u = log(l - E_x)`` is integrated out of
    prior x likelihood (:func:`_marginal`), so NUTS sees only the laws' parameters, the
    noise scales and ``tau``; the per-input-model marginal log likelihood is recorded
    for LOO. ``"noncentred"``: ``u = m + tau z`` is sampled (its mode search holds the
    noise scales, whose joint density is unbounded as they shrink).

    ``anchored``: sample the ``shifted_power`` link in anchored coordinates where they
    apply (:func:`_sample_anchored`; the same density), anchored at the mean reducible
    log loss of the input models with outputs. ``False`` is for tests.
    """
    x_spec, link_spec = spec.x_spec, spec.link_spec
    anchor_sites = _anchored_sites(spec, layout.link_design) if link and anchored else {}
    linked = np.unique(np.asarray(layout.xrun_of_row))
    sample_x = _core_sampler(x_spec, layout.x_design, _X_PREFIX)
    sample_link = _core_sampler(link_spec, layout.link_design, _LINK_PREFIX) if link else None
    variables = {k: jnp.asarray(v) for k, v in layout.x_design.variables.items()}
    observed = np.asarray(layout.x_observed)
    xrun_of_row = jnp.asarray(layout.xrun_of_row)
    loose = jnp.asarray(layout.loose)
    n_xruns = len(layout.xruns)
    tau_prior = spec.tau_prior.to_numpyro()

    def model(y=None):
        vx = sample_x()
        px = law_params(x_spec, layout.x_design, vx)
        e_x = jnp.broadcast_to(px["E"], (n_xruns,))
        m = jnp.broadcast_to(_reducible_log(x_spec.law, variables, px), (n_xruns,))
        if anchor_sites:
            config = _sample_anchored(anchor_sites, layout.link_design, m[linked].mean())
            vl = handlers.reparam(sample_link, config=config)()
        else:
            vl = sample_link() if link else None
        tau = numpyro.sample("tau", tau_prior)
        scale = jnp.where(loose, LOOSE_SD, tau)
        sx = jnp.broadcast_to(noise_scale(x_spec, layout.x_design, vx), (n_xruns,))
        pl = law_params(link_spec, layout.link_design, vl) if link else None
        sy = noise_scale(link_spec, layout.link_design, vl) if link else None
        x_obs = None if y is None else y["x"]
        if latent == "marginal":
            if y is None:
                raise ScalingLawError("latent='marginal' integrates over the observed losses; "
                                      "it cannot simulate them (use latent='noncentred')")
            gap = jnp.exp(x_obs) - e_x[observed]
            u0 = m.at[observed].set(jnp.where(gap > 0, jnp.log(jnp.where(gap > 0, gap, 1.0)),
                                              m[observed]))
            parts = {"e_x": e_x, "m": m, "scale": scale, "sx": sx, "vx": vx, "pl": pl,
                     "sy": sy, "vl": vl, "x_obs": x_obs, "y_obs": y["y"] if link else None,
                     "u0": u0,
                     "observed": observed, "xrun_of_row": xrun_of_row}
            log_lik = numpyro.deterministic("log_lik", _marginal(spec, layout, parts))
            numpyro.factor("marginal", log_lik.sum())
            return
        z = numpyro.sample("u_z", dist.Normal(0.0, 1.0).expand([n_xruns]).to_event(1))
        u = numpyro.deterministic("u", m + scale * z)
        log_x = jnp.logaddexp(jnp.log(e_x), u)
        with numpyro.plate("xobs", observed.size):
            numpyro.sample("loss_x", observation(x_spec, log_x[observed], sx[observed], vx),
                           obs=x_obs)
        if not link:
            return
        e_row = e_x[xrun_of_row]
        loc = _link_location(spec, e_row + jnp.exp(u[xrun_of_row]), e_row, pl)
        with numpyro.plate("row", xrun_of_row.shape[0]):
            numpyro.sample("loss_y", observation(link_spec, loc, sy, vl),
                           obs=None if y is None else y["y"])

    return model


def _dims_coords(spec: LossToLossModel, layout: _Layout) -> tuple[dict, dict]:
    dims: dict[str, list[str]] = {"u": ["xrun"], "u_z": ["xrun"], "log_lik": ["xrun"],
                                  "loss_x": ["xobs"], "loss_y": ["row"]}
    coords: dict[str, Any] = {"xrun": np.arange(len(layout.xruns)),
                              "xobs": np.arange(len(layout.x_observed)),
                              "row": np.arange(len(layout.y_rows))}
    for prefix, core, design in ((_X_PREFIX, spec.x_spec, layout.x_design),
                                 (_LINK_PREFIX, spec.link_spec, layout.link_design)):
        for name, factor in design.factors.items():
            coords[f"{prefix}.{name}"] = list(factor.levels)
        for site in level_sites(core, design):
            dim = [f"{prefix}.{site.factor}"]
            dims[f"{prefix}.{site.name}"] = dim
            dims[f"{prefix}.{site.name.replace('_z', '_offset', 1)}"] = dim
        for p in core.law.params:
            for f in design.vary.get(p.name, ()):
                dims[f"{prefix}.{p.sampled_name}_{f}"] = [f"{prefix}.{f}"]
    factor = _anchored_sites(spec, layout.link_design).get("K")
    if factor:
        dims.update({_site(_LINK_PREFIX, n, factor): [f"{_LINK_PREFIX}.{factor}"]
                     for n in _ANCHOR_SITES})
    return dims, coords


def _sample(spec: LossToLossModel, layout: _Layout, *, seed: int, chains: int, warmup: int,
            draws: int, target_accept: float, progress: bool | None, max_tree_depth: int,
            dense_mass: bool, n_starts: int,
            cut_draws: int = CUT_DRAWS) -> tuple[az.InferenceData, list[str]]:
    """Mode search (non-centred latents, noise scales held), then NUTS, then diagnostics;
    for ``feedback="cut"`` twice: the compute law alone, then the links given its draws."""
    check_sampler_settings(seed=seed, chains=chains, warmup=warmup, draws=draws,
                           target_accept=target_accept, max_tree_depth=max_tree_depth,
                           dense_mass=dense_mass, n_starts=n_starts, progress=progress)
    if not isinstance(cut_draws, (int, np.integer)) or cut_draws < 1:
        raise ScalingLawError(f"cut_draws must be an integer >= 1, got {cut_draws!r}")
    enable_x64()
    run = {"chains": chains, "warmup": warmup, "draws": draws, "target_accept": target_accept,
           "dense_mass": dense_mass, "max_tree_depth": max_tree_depth,
           "progress": sys.stderr.isatty() if progress is None else progress}
    y = layout.y_obs(spec)
    key_law, key_cut = jax.random.split(jax.random.PRNGKey(seed))
    dims, coords = _dims_coords(spec, layout)
    if spec.feedback == "joint":
        idata = _nuts(spec, _build(spec, layout, spec.latent), y, key_law, n_starts, run,
                      dims, coords)
        problems = diagnose(idata, max_tree_depth)
    else:
        idata, problems = _sample_cut(spec, layout, y, (key_law, key_cut), n_starts, run,
                                      dims, coords, cut_draws)
    if "log_lik" in idata.posterior:  # marginal: one log likelihood per input model
        log_lik = idata.posterior[["log_lik"]].rename({"log_lik": "input_model"})
        idata.posterior = idata.posterior.drop_vars("log_lik")
        if "log_likelihood" in idata.groups():
            del idata.log_likelihood
        idata.add_groups(log_likelihood=log_lik)
    idata.add_groups(constant_data=_constant_data(spec, layout.data))
    for message in problems:
        warnings.warn(message, ScalingLawWarning, stacklevel=3)
    return idata, problems


def _held(spec: LossToLossModel, link: bool) -> dict[str, float]:
    """Noise scales held during the mode search (non-centred latents only)."""
    if spec.latent != "noncentred":
        return {}
    prefixes = (_X_PREFIX, _LINK_PREFIX) if link else (_X_PREFIX,)
    return {f"{prefix}.sigma": MODE_NOISE for prefix in prefixes}


def _mode(spec: LossToLossModel, model, y, key, n_starts: int, link: bool = True) -> dict:
    held = _held(spec, link)
    mode, _ = find_mode(handlers.condition(model, data=held) if held else model, y, key,
                        n_starts=n_starts)
    return {**mode, **{k: jnp.log(v) for k, v in held.items()}}


def _nuts(spec: LossToLossModel, model, y, key, n_starts: int, run: Mapping, dims: dict,
          coords: dict, link: bool = True) -> az.InferenceData:
    key_mode, key_sample = jax.random.split(key)
    mode = _mode(spec, model, y, key_mode, n_starts, link)
    return sample_from_mode(model, y, mode, key_sample, coords=coords, dims=dims, **run)


def _fixed_by_cut(names: Sequence[str]) -> list[str]:
    """Of stage 1's sites, those a cut fixes: the compute law's, not its noise or ``nu``."""
    return [v for v in names if v.startswith(f"{_X_PREFIX}.")
            and not v.startswith((f"{_X_PREFIX}.sigma", f"{_X_PREFIX}.nu"))]


def _sample_cut(spec: LossToLossModel, layout: _Layout, y, keys, n_starts: int, run: Mapping,
                dims: dict, coords: dict, cut_draws: int) -> tuple[az.InferenceData, list[str]]:
    """Stage 1: the compute law from the input losses alone. Stage 2: for each of
    ``cut_draws`` stage-1 draws (at evenly spaced quantiles of E_x), the whole model with
    the compute law's sites conditioned on that draw and hidden from the sampler; one
    compiled NUTS serves every draw. Returns the stage-2 chains side by side, the fixed
    values broadcast along them."""
    key_law, key_cut = keys
    stage1 = _nuts(spec, _build(spec, layout, spec.latent, link=False), y, key_law, n_starts,
                   run, dims, coords, link=False)
    max_depth = run["max_tree_depth"]
    problems = [f"compute law (stage 1 of the cut): {m}"
                for m in diagnose(stage1, max_depth)]
    names = _fixed_by_cut(list(stage1.posterior.data_vars))
    flat = stage1.posterior[names].stack(sample=("chain", "draw"))
    e_x = flat[f"{_X_PREFIX}.E"].values.reshape(-1, flat.sizes["sample"]).mean(axis=0)
    order = np.argsort(e_x, kind="stable")
    picks = order[((np.arange(cut_draws) + 0.5) / cut_draws * e_x.size).astype(int)]
    fixed_sets = [{n: jnp.asarray(flat[n].isel(sample=int(i)).values) for n in names}
                  for i in picks]

    joint = _build(spec, layout, spec.latent)

    def cut_model(y=None, fixed=None):
        handlers.block(handlers.condition(joint, data=fixed), hide=list(fixed))(y=y)

    key_mode, key_runs = jax.random.split(key_cut)
    mode = _mode(spec, lambda y=None: cut_model(y, fixed_sets[0]), y, key_mode, n_starts)
    # every draw gets a full warmup: reusing the first draw's mass matrix with a short
    # step-size warmup left the later chains stuck (Brandfonbrener train-to-test: energy
    # BFMI 0.01-0.11, R-hat 1.7), because E_x moves kappa, K and E_y along with it
    mcmc = make_mcmc(cut_model, jit_model_args=True, **run)
    parts = [run_mcmc(mcmc, mode, key, coords=coords, dims=dims, y=y, fixed=fixed)
             for key, fixed in zip(jax.random.split(key_runs, cut_draws), fixed_sets,
                                   strict=True)]
    idata = _side_by_side(parts)
    idata.posterior.attrs["chains_per_group"] = run["chains"]
    problems += [f"links given {cut_draws} compute-law draws (R-hat within each draw's "
                 f"chains): {m}" for m in diagnose(idata, max_depth)]
    shape = (run["chains"], idata.posterior.sizes["draw"])
    for name in names:  # the fixed values, constant along each draw's chains
        value = np.stack([np.broadcast_to(np.asarray(fixed[name]),
                                          (*shape, *np.shape(fixed[name])))
                          for fixed in fixed_sets]).reshape(-1, *shape[1:],
                                                            *np.shape(fixed_sets[0][name]))
        idata.posterior[name] = (("chain", "draw", *stage1.posterior[name].dims[2:]), value)
    return idata, problems


def _side_by_side(parts: Sequence[az.InferenceData]) -> az.InferenceData:
    """One InferenceData whose chains are the parts' chains in turn."""
    groups = {}
    for group in ("posterior", "sample_stats", "log_likelihood"):
        if group not in parts[0].groups():
            continue
        datasets = [getattr(p, group) for p in parts]
        datasets = [d.assign_coords(chain=np.arange(d.sizes["chain"]) + sum(
            x.sizes["chain"] for x in datasets[:i])) for i, d in enumerate(datasets)]
        groups[group] = xr.concat(datasets, dim="chain", combine_attrs="override")
    if "observed_data" in parts[0].groups():
        groups["observed_data"] = parts[0].observed_data
    return az.InferenceData(**groups)


def _constant_data(spec: LossToLossModel, data: pd.DataFrame) -> xr.Dataset:
    """The fitted frame as netCDF-ready columns (strings as str, numbers as float64)."""
    out = {}
    for i, col in enumerate(data.columns):
        values = data[col]
        if pd.api.types.is_bool_dtype(values):
            arr = values.to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(values):
            arr = values.to_numpy(dtype=np.float64)
        else:
            arr = values.astype(str).to_numpy().astype(str)
        out[f"col{i}"] = ("fitted_row", arr)
    ds = xr.Dataset(out, coords={"fitted_row": np.arange(len(data))})
    ds.attrs["columns"] = json.dumps(list(data.columns))
    return ds


def _frame_from_constant(ds: xr.Dataset) -> pd.DataFrame:
    columns = json.loads(ds.attrs["columns"])
    return pd.DataFrame({col: ds[f"col{i}"].values for i, col in enumerate(columns)})


# --- conditioning on an observed input loss -------------------------------------------------


def _condition(key, m, tau, e_x, sigma, log_obs, loglik: Callable, n_post: int = 128,
               n_prior: int = 48):
    """Draw the latent ``u`` given its prior ``Normal(m, tau)`` and an observed input loss.

    Exact up to a grid: the posterior density of ``u`` is evaluated on a grid around its
    Gaussian approximation (the observation linearised at the observed loss) joined with a
    grid over the prior, and one point is drawn per (draw, row) by its mass.
    """
    reducible = jnp.exp(log_obs) - e_x
    ok = reducible > 0
    u_obs = jnp.log(jnp.where(ok, reducible, 1.0))
    slope = jnp.where(ok, reducible / jnp.exp(log_obs), 1.0)
    prec_obs = jnp.where(ok, (slope / sigma) ** 2, 0.0)
    prec = 1.0 / tau**2 + prec_obs
    centre = (m / tau**2 + prec_obs * u_obs) / prec
    spread = prec ** -0.5
    grid = jnp.concatenate([
        centre[..., None] + spread[..., None] * jnp.linspace(-10.0, 10.0, n_post),
        m[..., None] + tau[..., None] * jnp.linspace(-8.0, 8.0, n_prior)], axis=-1)
    grid = jnp.sort(grid, axis=-1)
    edges = jnp.concatenate([grid[..., :1], 0.5 * (grid[..., 1:] + grid[..., :-1]),
                             grid[..., -1:]], axis=-1)
    width = jnp.maximum(edges[..., 1:] - edges[..., :-1], 1e-300)
    log_x = jnp.logaddexp(jnp.log(e_x)[..., None], grid)
    logw = (dist.Normal(m[..., None], tau[..., None]).log_prob(grid)
            + loglik(log_x, sigma[..., None], log_obs[..., None]) + jnp.log(width))
    index = jax.random.categorical(key, logw, axis=-1)
    return jnp.take_along_axis(grid, index[..., None], axis=-1)[..., 0]


# --- results --------------------------------------------------------------------------------


def _interval(interval: float) -> tuple[float, float]:
    if not 0 < interval < 1:
        raise ScalingLawError(f"interval must be between 0 and 1 (e.g. 0.9), got {interval!r}")
    return (1 - interval) / 2, (1 + interval) / 2


def translate_law(law: Mapping[str, Any], link: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Translate a Kaplan law of loss x into the Kaplan law of loss y through the link.

    With ``L_x = E + ((A/N)^(alpha/beta) + B/D)^beta`` and ``L_y = K (L_x - E)^kappa + E_y``,
    ``L_y`` is again a Kaplan law with ``alpha' = kappa alpha``, ``beta' = kappa beta``,
    ``A' = A K^(1/(kappa alpha))``, ``B' = B K^(1/(kappa beta))`` and ``E' = E_y`` (exactly;
    Brandfonbrener et al. 2025). Arrays are translated elementwise, so posterior draws give
    a posterior of the translated law.

    Parameters
    ----------
    law : dict
        ``E``, ``A``, ``B``, ``alpha``, ``beta`` of the Kaplan law of L_x.
    link : dict
        ``K``, ``kappa``, ``E_y`` of the link.

    Returns
    -------
    dict
        ``E``, ``A``, ``B``, ``alpha``, ``beta`` of the Kaplan law of L_y.

    Examples
    --------
    >>> out = translate_law({"E": 2.0, "A": 6e7, "B": 5e9, "alpha": 0.4, "beta": 0.45},
    ...                     {"K": 0.6, "kappa": 1.07, "E_y": 1.3})
    >>> round(float(out["alpha"]), 3), round(float(out["E"]), 2)
    (0.428, 1.3)
    """
    missing = [k for k in ("E", "A", "B", "alpha", "beta") if k not in law] + [
        k for k in ("K", "kappa", "E_y") if k not in link]
    if missing:
        raise ScalingLawError(f"translate_law needs the Kaplan parameters E, A, B, alpha, beta "
                              f"and the link's K, kappa, E_y; missing {missing}")
    a, b = np.asarray(law["alpha"], float), np.asarray(law["beta"], float)
    kappa, log_k = np.asarray(link["kappa"], float), np.log(np.asarray(link["K"], float))
    return {"E": np.asarray(link["E_y"], float) + 0 * a,
            "A": np.exp(np.log(np.asarray(law["A"], float)) + log_k / (kappa * a)),
            "B": np.exp(np.log(np.asarray(law["B"], float)) + log_k / (kappa * b)),
            "alpha": kappa * a, "beta": kappa * b}


@dataclass(frozen=True)
class LossToLossFit:
    """The posterior of a :class:`LossToLossModel`, with the frame it was fitted to.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior`` (compute-law sites under ``x.``, link sites under ``link.``, ``tau``
        and the latent input losses ``u`` = log(l - E_x) per input model),
        ``sample_stats``, ``log_likelihood`` and ``observed_data`` (``loss_x``,
        ``loss_y``) and ``constant_data`` (the fitted frame).
    spec : LossToLossModel
    data : DataFrame
        The fitted rows (the columns the model reads).
    warnings : tuple of str
        Sampler diagnostics in plain words; empty when every check passed.
    """

    idata: az.InferenceData
    spec: LossToLossModel
    data: pd.DataFrame
    warnings: tuple[str, ...] = ()

    @cached_property
    def _layout(self) -> _Layout:
        return _Layout.build(self.spec, self.data)

    def draws(self) -> dict[str, np.ndarray]:
        """Posterior draws of every site, chains flattened: ``{name: (draws, ...)}``."""
        return posterior_draws(self.idata)

    def _part(self, prefix: str) -> dict[str, np.ndarray]:
        cut = len(prefix) + 1
        return {k[cut:]: v for k, v in self.draws().items() if k.startswith(prefix + ".")}

    def summary(self, interval: float = 0.9) -> pd.DataFrame:
        """Per parameter and level: mean, sd, median, interval, ESS and R-hat.

        Compute-law rows start with ``x.`` (``x.E`` is E_x), link rows with ``link.``;
        the latent losses and raw offsets are left out. Same columns as
        :meth:`scalinglaws.Fit.summary`.

        >>> fit.summary().loc[["x.E", "link.kappa", "tau"]]  # doctest: +SKIP
        """
        _interval(interval)
        post = self.idata.posterior.drop_vars([v for v in ("u",)
                                               if v in self.idata.posterior])
        table = Fit(idata=az.InferenceData(posterior=post), spec=self.spec,
                    design=self._layout.x_design).summary(interval)
        return table

    # --- prediction ---------------------------------------------------------------------

    def predict_draws(self, data, seed: int = 0,
                      law_prior: bool = True) -> dict[str, np.ndarray]:
        """Posterior draws behind :meth:`predict`, each (draws, rows).

        Returns ``{"x": latent input loss, "y": noise-free output, "observed": a new
        output observation, "u": log(x - E_x), "params_x": {...}, "params_link": {...}}``.
        Rows with an observed input loss (column ``x``, not NaN) condition the latent
        input loss on it (errors in variables); other rows draw it from the compute law
        and ``tau``. ``law_prior=False`` gives observed rows the wide latent prior of
        :data:`LOOSE_SD` instead of the law's (see :meth:`predict`).
        """
        spec, layout = self.spec, self._layout
        frame = _frame(data, "data")
        hint = "Give the inputs and the factor columns the model varies by."
        _require(frame, [*spec.inputs.values(), *spec.x_factors, *spec.link_factors], "data",
                 hint)
        n = len(frame)
        if n == 0:
            raise ScalingLawError("data has no rows to predict")
        x_frame = frame[[*spec.inputs.values(), *spec.x_factors]].copy()
        x_frame[_X_TARGET] = 1.0
        x_design = make_design(spec.x_spec, x_frame, fitted=layout.x_design)
        link_frame = frame[list(spec.link_factors)].copy()
        link_frame[_L_DUMMY] = 1.0
        link_design = make_design(spec.link_spec, link_frame, fitted=layout.link_design)
        enable_x64()
        key_x, key_l, key_u, key_c = jax.random.split(jax.random.PRNGKey(seed), 4)
        post_x, post_l = self._part(_X_PREFIX), self._part(_LINK_PREFIX)
        dx = predict_draws(spec.x_spec, x_design, post_x, key_x)
        px = dx["params"]
        variables = {k: jnp.asarray(v) for k, v in x_design.variables.items()}
        m = _reducible_log(spec.x_spec.law, variables, px)
        e_x = px["E"]
        tau = jnp.asarray(self.draws()["tau"])[:, None]
        u = m + tau * jax.random.normal(key_u, m.shape)
        if spec.x in frame.columns:
            observed = _loss_column(frame, spec.x, "observed input loss x", positive=True)
            rows = np.flatnonzero(~np.isnan(observed))
            if rows.size:
                sigma = self._sigma_x(x_design, post_x)[:, rows]
                nu = post_x.get("nu")

                def loglik(log_x, scale, log_obs):
                    values = {} if nu is None else {"nu": jnp.asarray(nu)[:, None, None]}
                    return observation(spec.x_spec, log_x, scale, values).log_prob(log_obs)

                log_obs = jnp.broadcast_to(jnp.log(jnp.asarray(observed[rows])),
                                           (m.shape[0], rows.size))
                spread = tau if law_prior else jnp.full_like(tau, LOOSE_SD)
                drawn = _condition(key_c, m[:, rows],
                                   jnp.broadcast_to(spread, m[:, rows].shape),
                                   e_x[:, rows], sigma, log_obs, loglik)
                u = u.at[:, rows].set(drawn)
        latent_x = e_x + jnp.exp(u)
        dl = predict_draws(spec.link_spec, link_design, post_l, key_l)
        pl = dl["params"]
        loc = _link_location(spec, latent_x, e_x, pl)
        noise = (transform_target(spec.link_spec, dl["observed"])
                 - transform_target(spec.link_spec, dl["law"]))
        out = {"x": latent_x, "y": untransform(spec.link_spec, loc),
               "observed": untransform(spec.link_spec, loc + noise), "u": u,
               "params_x": px, "params_link": pl}
        return jax.tree_util.tree_map(np.asarray, out)

    def _sigma_x(self, design: Design, post_x: Mapping) -> jnp.ndarray:
        """Input-loss noise scale per draw and row (fitted levels only)."""
        factors = design.vary.get("sigma", ())
        new = [f for f in factors if design.factors[f].new_levels]
        if new:
            raise ScalingLawError(
                f"conditioning on an observed input loss needs its noise scale, which varies "
                f"by {new} with levels never fitted ({design.factors[new[0]].new_levels}); "
                f"predict without the x column or fit with those levels"
            )
        values = {k: jnp.asarray(v) for k, v in post_x.items()}
        n = design.n_rows

        def one(draw):
            return jnp.broadcast_to(noise_scale(self.spec.x_spec, design, draw), (n,))

        return jax.vmap(one)(values)

    def predict(self, data, interval: float = 0.9, seed: int = 0,
                law_prior: bool = True) -> pd.DataFrame:
        """Predict the output loss (and the latent input loss) for new rows.

        Parameters
        ----------
        data : DataFrame or dict
            The inputs (N, D), the factors the model varies by and, optionally, the
            observed input loss (column ``x``; NaN where unknown). With it, the latent
            input loss is conditioned on the observation (errors in variables); without
            it, it comes from the compute law, so the output's interval carries the
            compute law's uncertainty (a chain of laws).
        interval : float
            Mass of the intervals.
        seed : int
            Seed of new-level offsets, latent draws and noise.
        law_prior : bool
            Whether an observed input loss is weighed against the compute law's
            prediction at its (N, D) (with ``tau``; the model's own assumption). False
            lets the observation alone place the latent loss (a wide prior,
            :data:`LOOSE_SD`), as for fitted input models outside ``law_rows``: use it far
            beyond the fitted scales, where the law's extrapolation error exceeds
            ``tau`` (Brandfonbrener's Kaplan law misses the 1e21 losses by ~4%, about 20
            ``tau``, and would drag a precisely observed input loss towards itself).

        Returns
        -------
        DataFrame
            The input columns plus ``x_median``, ``x_lower``, ``x_upper`` (latent input
            loss), ``mean``, ``median``, ``lower``, ``upper`` (noise-free output) and
            ``pred_lower``, ``pred_upper`` (a new output observation).

        Examples
        --------
        >>> fit.predict({"N": [3.3e9], "D": [5.0e10], "dataset_y": ["code"],
        ...              "loss_x": [2.13]})  # doctest: +SKIP
        """
        lo, hi = _interval(interval)
        frame = _frame(data, "data")
        draws = self.predict_draws(frame, seed=seed, law_prior=law_prior)
        out = frame.copy()
        out["x_median"] = np.median(draws["x"], axis=0)
        out["x_lower"] = np.quantile(draws["x"], lo, axis=0)
        out["x_upper"] = np.quantile(draws["x"], hi, axis=0)
        out["mean"] = draws["y"].mean(axis=0)
        out["median"] = np.median(draws["y"], axis=0)
        out["lower"] = np.quantile(draws["y"], lo, axis=0)
        out["upper"] = np.quantile(draws["y"], hi, axis=0)
        out["pred_lower"] = np.quantile(draws["observed"], lo, axis=0)
        out["pred_upper"] = np.quantile(draws["observed"], hi, axis=0)
        out.attrs["interval"] = interval
        return out

    def link_draws(self, x_values, group: Mapping[str, Any] | None = None,
                   seed: int = 0) -> dict[str, np.ndarray]:
        """The link evaluated at given noise-free input losses, per draw.

        Parameters
        ----------
        x_values : array-like
            Latent input losses.
        group : dict, optional
            Levels of the factors the model varies by (default: the first fitted level).

        Returns
        -------
        dict
            ``"y"`` (draws, points), the noise-free output; ``"observed"``, with noise;
            ``"E_x"`` (draws,). Points at or below a draw's E_x are NaN there.
        """
        spec, layout = self.spec, self._layout
        x_values = np.atleast_1d(np.asarray(x_values, dtype=float))
        frame = self._group_frame(group, len(x_values))
        draws = self.predict_draws(frame, seed=seed)
        e_x = draws["params_x"]["E"]
        link_frame = frame[list(spec.link_factors)].copy()
        link_frame[_L_DUMMY] = 1.0
        design = make_design(spec.link_spec, link_frame, fitted=layout.link_design)
        dl = predict_draws(spec.link_spec, design, self._part(_LINK_PREFIX),
                           jax.random.PRNGKey(seed + 1))
        x_grid = jnp.asarray(x_values)[None, :]
        loc = _link_location(spec, x_grid, jnp.asarray(e_x), dl["params"])
        loc = jnp.where(x_grid > e_x, loc, jnp.nan) if "E_x" in spec.link.param_names else loc
        noise = (transform_target(spec.link_spec, dl["observed"])
                 - transform_target(spec.link_spec, dl["law"]))
        return {"y": np.asarray(untransform(spec.link_spec, loc)),
                "observed": np.asarray(untransform(spec.link_spec, loc + noise)),
                "E_x": np.asarray(e_x[:, 0])}

    def _group_frame(self, group: Mapping[str, Any] | None, n: int) -> pd.DataFrame:
        spec, layout = self.spec, self._layout
        factors = list(dict.fromkeys([*spec.x_factors, *spec.link_factors]))
        group = dict(group or {})
        unknown = [k for k in group if k not in factors]
        if unknown:
            raise ScalingLawError(f"group names {unknown}, which the model does not vary by; "
                                  f"its factors are {factors}")
        row: dict[str, Any] = {spec.inputs[v]: float(np.exp(layout.x_design.log_reference[v]))
                               for v in spec.inputs}
        for f in factors:
            row[f] = group.get(f, str(layout.data[f].astype(str).mode().iloc[0]))
        return pd.DataFrame({k: [v] * n for k, v in row.items()})

    def translate(self, group: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Posterior of the output's Kaplan law, translated from the input's per draw.

        Only for ``law="kaplan"`` with the ``shifted_power`` link, where the translation
        (:func:`translate_law`) is exact.

        Parameters
        ----------
        group : dict, optional
            Levels of the factors the model varies by (default: the most common level).

        Returns
        -------
        DataFrame
            One row per posterior draw: ``E``, ``A``, ``B``, ``alpha``, ``beta``.

        Examples
        --------
        >>> fit.translate({"dataset_y": "starcoder"}).quantile([0.05, 0.5, 0.95])  # doctest: +SKIP
        """
        if self.spec.law.name != "kaplan" or "E_x" not in self.spec.link.param_names:
            raise ScalingLawError(
                f"translation is exact only from a Kaplan law through the shifted power link; "
                f"this model has law {self.spec.law.name!r} and link {self.spec.link.name!r}. "
                f"Fit with law='kaplan', or predict the output directly (predict)"
            )
        draws = self.predict_draws(self._group_frame(group, 1))
        law = {k: v[:, 0] for k, v in draws["params_x"].items()}
        link = {k: v[:, 0] for k, v in draws["params_link"].items()}
        return pd.DataFrame(translate_law(law, link))

    # --- display and files ------------------------------------------------------------

    def plot(self, **kwargs):
        """Observed input against output loss with the posterior link and bands.

        See :func:`plot_link`; returns a matplotlib Figure.
        """
        return plot_link(self, **kwargs)

    def __repr__(self) -> str:
        post = self.idata.posterior
        status = "no sampler warnings" if not self.warnings else f"{len(self.warnings)} warnings"
        return (f"<LossToLossFit {self.spec.law.name} -> {self.spec.link.name} on "
                f"{len(self._layout.xruns)} input models and {len(self._layout.y_rows)} output "
                f"observations, {post.sizes['chain']} chains x {post.sizes['draw']} draws, "
                f"{status}>")

    def save(self, path: str | Path) -> Path:
        """Write the fit to netCDF (no pickle); :func:`scalinglaws.load` reads it back exactly.

        >>> fit.save("pairs.nc")  # doctest: +SKIP
        """
        return write_fit_file(self.idata, Path(path), {
            "scalinglaws_losstoloss_format": FILE_FORMAT,
            "scalinglaws_losstoloss_spec": json.dumps(self.spec.to_dict(), sort_keys=True),
            "scalinglaws_warnings": json.dumps(list(self.warnings)),
        })


def read_loss_to_loss_fit(path: str | Path) -> LossToLossFit:
    """Read a :class:`LossToLossFit` written by :meth:`LossToLossFit.save`
    (:func:`scalinglaws.load` reads every kind).

    A file that is not such a fit, was written in another file format, or is damaged
    raises a :class:`~scalinglaws.errors.ScalingLawError`.

    >>> fit = read_loss_to_loss_fit("pairs.nc")  # doctest: +SKIP
    """
    idata, attrs = read_fit_file(
        Path(path), "scalinglaws_losstoloss_format", FILE_FORMAT,
        "a loss-to-loss fit (LossToLossFit.save)",
        "an ArviZ file is read with arviz.from_netcdf")
    try:
        spec = LossToLossModel.from_dict(json.loads(attrs["scalinglaws_losstoloss_spec"]))
        data = _frame_from_constant(idata.constant_data)
        warnings_ = tuple(json.loads(attrs.get("scalinglaws_warnings", "[]")))
    except (KeyError, ValueError, AttributeError) as err:
        raise ScalingLawError(f"{path} is a loss-to-loss file with missing or damaged parts "
                              f"({err}); save the fit again") from None
    return LossToLossFit(idata=idata, spec=spec, data=data, warnings=warnings_)


# --- plots ----------------------------------------------------------------------------------


def plot_link(fit: LossToLossFit, by: str | None = None, interval: float = 0.9,
              x_range: tuple[float, float] | None = None, truth: pd.DataFrame | None = None,
              points: int = 80):
    """Observed input loss against output, with the posterior link and bands, per group.

    One panel per level of ``by`` (default: the first factor the link varies by). Points
    are the fitted pairs; the line and dark band are the posterior median and
    ``interval`` credible band of the link at a noise-free input loss, the light band the
    predictive band of a new output. For a downstream link this is error against loss.

    Parameters
    ----------
    fit : LossToLossFit
    by : str, optional
        Factor to split panels by.
    interval : float
        Mass of the bands.
    x_range : (float, float), optional
        Input losses the curve spans (default: the data, extended towards E_x).
    truth : DataFrame, optional
        Held-out points to mark (columns ``x``, ``y`` of the model and ``by``), e.g. the
        targets of an extrapolation.
    points : int
        Points along each curve.

    Returns
    -------
    matplotlib.figure.Figure

    >>> fig = plot_link(fit, by="dataset_y")  # doctest: +SKIP
    """
    import matplotlib.pyplot as plt

    spec, layout = fit.spec, fit._layout
    lo, hi = _interval(interval)
    data = layout.data.iloc[layout.y_rows].copy()
    data["__x"] = layout.xruns["__x"].to_numpy()[layout.xrun_of_row]
    factors = list(spec.link_factors) + [f for f in spec.x_factors
                                         if f not in spec.link_factors]
    if by is not None and by not in data.columns:
        raise ScalingLawError(f"cannot split the plot by {by!r}: it is not a column of the "
                              f"fitted data; the model's factors are {factors}")
    by = by if by is not None else (factors[0] if factors else None)
    levels = sorted(data[by].astype(str).unique()) if by else [None]
    ncols = min(3, len(levels))
    nrows = int(np.ceil(len(levels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.6 * nrows), squeeze=False,
                             constrained_layout=True)
    log_axes = spec.link_spec.scale == "log"
    e_med = float(np.median(fit.draws()["x.E"]))
    for ax, level in zip(axes.flat, levels, strict=False):
        rows = data if level is None else data[data[by].astype(str) == level]
        rows = rows[~np.isnan(rows["__x"])]
        group = {} if level is None else {by: level}
        for f in factors:
            if f != by and f in rows.columns and len(rows):
                group[f] = str(rows[f].astype(str).mode().iloc[0])
        if x_range is None:
            top = float(rows["__x"].max()) if len(rows) else float(data["__x"].max())
            low = float(rows["__x"].min()) if len(rows) else float(data["__x"].min())
            bottom = e_med + 0.6 * (low - e_med) if "E_x" in spec.link.param_names else low
            if truth is not None and spec.x in truth and len(truth):
                bottom = min(bottom, float(np.min(truth[spec.x])))  # reach the held-out
            grid = np.linspace(bottom, top, points)
        else:
            grid = np.linspace(*x_range, points)
        curve = fit.link_draws(grid, group={k: v for k, v in group.items()
                                            if k in factors})
        ax.fill_between(grid, np.nanquantile(curve["observed"], lo, axis=0),
                        np.nanquantile(curve["observed"], hi, axis=0), color="C0", alpha=0.12,
                        lw=0, label=f"{interval:.0%} predictive")
        ax.fill_between(grid, np.nanquantile(curve["y"], lo, axis=0),
                        np.nanquantile(curve["y"], hi, axis=0), color="C0", alpha=0.35, lw=0,
                        label=f"{interval:.0%} credible")
        ax.plot(grid, np.nanmedian(curve["y"], axis=0), color="C0", lw=1.6,
                label="posterior median")
        ax.scatter(rows["__x"], rows[spec.y], s=12, color="k", zorder=3, label="fitted pairs")
        if truth is not None:
            held = truth if level is None or by not in truth else truth[
                truth[by].astype(str) == level]
            if len(held):
                ax.scatter(held[spec.x], held[spec.y], marker="*", s=90, color="C3", zorder=4,
                           label="held out")
        if log_axes:
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(f"{by} = {level}" if level is not None else spec.link.name, fontsize=9)
        ax.set_xlabel(f"{spec.x} (input loss)")
        ax.set_ylabel(spec.y)
        ax.grid(alpha=0.3, which="both", lw=0.4)
    for ax in axes.flat[len(levels):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7, loc="best")
    fig.suptitle(f"{spec.law.name} -> {spec.link.name}: posterior link", fontsize=11)
    return fig
