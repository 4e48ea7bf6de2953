"""The loss-to-loss model that fits (:class:`LossToLossModel`) and its posterior
(:class:`LossToLossFit`): summary, prediction with errors in variables, the link per
draw, the translated Kaplan law, plots and files (:func:`read_loss_to_loss_fit`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import jax
import numpy as np
import pandas as pd

from .._checks import (
    as_path,
    check_interval,
    check_mapping,
    check_predict_settings,
    check_unwritten,
    require_columns,
)
from ..data import Design, as_frame, make_design, target_values
from ..discrepancy import check_discrepancy
from ..engine import posterior_draws
from ..errors import ScalingLawError, ScalingLawWarning
from ..fit import Fit, far_notes, level_notes
from ..model import (
    observation,
    transform_target,
)
from ..netcdf import read_fit_file, write_fit_file
from ..prediction import (
    PREDICT_PARTS,
    block_key,
    interval_columns,
    predict_draws,
    written_columns,
)
from ..protocol import Pointwise
from ..scaling_model import batch_frames, batch_seeds, build_each
from .composed import LINK_PREFIX, X_PREFIX, translate_law
from .frames import loss_column
from .layout import Layout, frame_from_constant
from .plots import plot_link
from .prediction import check_sigma_levels, link_curve
from .prediction import predict_draws as ltl_predict_draws
from .sampling import CUT_DRAWS, sample
from .spec import L_DUMMY, X_TARGET, LossToLossSpec

#: Version of the saved-file layout.
FILE_FORMAT = 1
#: An observed input loss at or below the compute law's ``E_x`` in more than this share
#: of the posterior draws gets a note (:meth:`LossToLossFit.prediction_notes`): the model
#: gives it next to no density there, so the prediction does not condition on it.
BELOW_E_X_SHARE = 0.5


class LossToLossModel(LossToLossSpec):
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
        every varying parameter, a dict per parameter in this model's vocabulary (or per
        factor, ``"K[dataset_y]"``), or ``"auto"``: each fit chooses from its data, per
        pooled parameter of both laws, by how clearly its groups separate at the joint
        model's mode (:func:`scalinglaws.losstoloss.sampling.auto_parameterization`);
        the fit's ``spec`` holds the choice.
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
    >>> from scalinglaws.losstoloss import LossToLossModel
    >>> model = LossToLossModel("kaplan", vary={"kappa": "dataset_y", "E_y": "dataset_y"})
    >>> model.x_spec.law.name, model.link_spec.law.name
    ('kaplan', 'shifted_power_given_E_x')
    >>> LossToLossModel.from_dict(model.to_dict()) == model
    True
    """

    def fit(self, data: pd.DataFrame, *, seed: int = 0, chains: int = 4, warmup: int = 1000,
            draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
            max_tree_depth: int = 10, dense_mass: bool = True,
            n_starts: int = 32, cut_draws: int = CUT_DRAWS,
            whiten: bool | None = None) -> LossToLossFit:
        """Fit the joint model to a paired frame with NUTS.

        Parameters
        ----------
        data : DataFrame
            One row per output observation (see :func:`pair_losses`): the inputs, ``x``,
            ``y``, the factors and, optionally, ``x_run`` and ``law_rows``.
        seed, chains, warmup, draws, target_accept, progress, max_tree_depth, dense_mass
            As in :meth:`scalinglaws.ScalingModel.fit`.
        n_starts : int
            Starts of the multi-start mode search (:func:`scalinglaws.engine.mcmc.find_mode`).
        cut_draws : int
            With ``feedback="cut"`` only: how many draws of the compute law's posterior
            (stage 1, ``chains`` x ``draws``) the links are fitted given, chosen at evenly
            spaced quantiles of ``E_x``. Each gets ``chains`` chains of ``warmup`` +
            ``draws`` (one compiled sampler serves all), so the posterior has
            ``cut_draws * chains`` chains; R-hat and ESS are computed within each group of
            ``chains`` chains that share a compute-law draw.
        whiten : bool or None
            Sample in the coordinates of the Laplace approximation at the mode (True) or
            in the model's own (False). None: whitened unless a parameter is partially
            pooled. A centred hierarchy of several well-measured groups samples far
            faster whitened (Brandfonbrener's five train-to-train links: 60 s against
            659 s); one of two groups diverges there
            (:func:`scalinglaws.losstoloss.sampling.whitens` gives the figures). Where
            the Hessian at the mode is not positive definite, whitened chains run in the
            model's own coordinates; ``idata.sample_stats.attrs["coordinates"]`` says
            where they ran, and with ``whiten=True`` a warning says so.

        Returns
        -------
        LossToLossFit

        Examples
        --------
        >>> from scalinglaws.losstoloss import pair_train_to_train, simulate
        >>> pairs = pair_train_to_train(simulate(seed=0), x="web", y="code", loss="loss")
        >>> fit = LossToLossModel("chinchilla").fit(pairs, chains=2, warmup=300,
        ...                                         draws=300)  # doctest: +SKIP
        >>> fit.summary().loc["link.kappa", ["median", "lower", "upper"]]  # doctest: +SKIP
        """
        layout = Layout.build(self, as_frame(data, "data"))
        return self._fit_layout(layout, seed=seed, chains=chains, warmup=warmup, draws=draws,
                                target_accept=target_accept, progress=progress,
                                max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                                n_starts=n_starts, cut_draws=cut_draws, whiten=whiten)

    def fit_many(self, frames, *, seed=0, chains: int = 4, warmup: int = 1000,
                 draws: int = 1000, target_accept: float = 0.9, progress: bool | None = None,
                 max_tree_depth: int = 10, dense_mass: bool = True, n_starts: int = 32,
                 cut_draws: int = CUT_DRAWS, whiten: bool | None = None) -> list | dict:
        """Fit the model to several paired frames; a list (or dict with the same keys) of
        :class:`LossToLossFit`.

        Every frame is checked before anything is fitted (an error names the frame), then
        the frames are fitted one after another: each input model's quadrature has the
        shape of its frame, so they do not share one compiled program as
        :meth:`scalinglaws.ScalingModel.fit_many` fits do. ``seed`` is one seed or one per
        frame; the other settings are those of :meth:`fit`.

        >>> fits = model.fit_many({"small": pairs_a, "large": pairs_b})  # doctest: +SKIP
        """
        keys, labels, items = batch_frames(frames)
        seeds = batch_seeds(seed, len(items))
        layouts = build_each(labels, items,
                             lambda frame, label: Layout.build(self, as_frame(frame, label)))
        fits = [self._fit_layout(layout, seed=s, chains=chains, warmup=warmup, draws=draws,
                                 target_accept=target_accept, progress=progress,
                                 max_tree_depth=max_tree_depth, dense_mass=dense_mass,
                                 n_starts=n_starts, cut_draws=cut_draws, whiten=whiten)
                for layout, s in zip(layouts, seeds, strict=True)]
        return fits if keys is None else dict(zip(keys, fits, strict=True))

    def _fit_layout(self, layout: Layout, **settings) -> LossToLossFit:
        spec, idata, problems = sample(self, layout, **settings)
        return LossToLossFit(idata=idata, spec=spec, frame=layout.data,
                             warnings=tuple(problems))


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
    frame : DataFrame
        The fitted rows (the columns the model reads); :meth:`data` gives a copy.
    warnings : tuple of str
        Sampler diagnostics in plain words; empty when every check passed.

    It is a :class:`~scalinglaws.protocol.FitLike`: ``summary``, ``predict`` and
    ``predict_draws`` take the arguments of :class:`~scalinglaws.Fit`'s and give its
    columns and keys (and some of their own).
    """

    idata: az.InferenceData
    spec: LossToLossModel
    frame: pd.DataFrame
    warnings: tuple[str, ...] = ()

    #: The fit type, as :class:`~scalinglaws.protocol.FitLike` names it and
    #: :func:`scalinglaws.load` returns it.
    kind: ClassVar[str] = "loss_to_loss"

    @cached_property
    def layout(self) -> Layout:
        return Layout.build(self.spec, self.frame)

    def draws(self) -> dict[str, np.ndarray]:
        """Posterior draws of every site, chains flattened: ``{name: (draws, ...)}``,
        read-only views of the posterior (``.copy()`` one to edit it)."""
        return posterior_draws(self.idata)

    def _part(self, prefix: str, draws: dict | None = None) -> dict[str, np.ndarray]:
        """The draws of the sites under ``prefix`` (of ``draws``, default the posterior's),
        named without it."""
        cut = len(prefix) + 1
        draws = self.draws() if draws is None else draws
        return {k[cut:]: v for k, v in draws.items() if k.startswith(prefix + ".")}

    def _posterior(self) -> tuple[dict, dict, np.ndarray]:
        """The compute law's draws, the link's (:meth:`_part`) and tau's, from one reading
        of the posterior."""
        draws = self.draws()
        return self._part(X_PREFIX, draws), self._part(LINK_PREFIX, draws), draws["tau"]

    def summary(self, interval: float = 0.9) -> pd.DataFrame:
        """Per parameter and level: mean, sd, median, interval, ESS and R-hat.

        Compute-law rows start with ``x.`` (``x.E`` is E_x), link rows with ``link.``;
        the latent losses and raw offsets are left out. Same columns as
        :meth:`scalinglaws.Fit.summary`.

        >>> fit.summary().loc[["x.E", "link.kappa", "tau"]]  # doctest: +SKIP
        """
        check_interval(interval)
        post = self.idata.posterior.drop_vars([v for v in ("u",)
                                               if v in self.idata.posterior])
        table = Fit(idata=az.InferenceData(posterior=post), spec=self.spec,
                    design=self.layout.x_design).summary(interval, sites=True)
        return table

    # --- prediction ---------------------------------------------------------------------

    def predict_draws(self, data, seed: int = 0, discrepancy=None, *,
                      law_prior: bool = True) -> dict[str, np.ndarray]:
        """Posterior draws behind :meth:`predict`, each (draws, rows).

        Returns, as :meth:`scalinglaws.Fit.predict_draws` does, ``"law"`` (the noise-free
        output), ``"observed"`` (a new output observation) and ``"params"`` (every law
        parameter per row, named as in :meth:`summary`: ``"x.E"``, ``"link.kappa"``);
        and of its own ``"x"`` (the latent input loss), ``"u"`` (log(x - E_x)),
        ``"params_x"`` and ``"params_link"`` (the two laws' parameters by their own
        names), ``"y"`` (the same as ``"law"``), ``"scale"`` (the output's noise
        scale on its likelihood scale) and, with Student-t noise, ``"nu"`` (per draw).
        Rows with an observed input loss (column ``x``, not NaN) condition the latent
        input loss on it (errors in variables); other rows draw it from the compute law
        and ``tau``. A ``discrepancy`` is added to the output as in
        :meth:`scalinglaws.Fit.predict`.
        ``law_prior=False`` gives observed rows the wide latent prior of
        :data:`LOOSE_SD` instead of the law's (see :meth:`predict`).
        """
        check_discrepancy(discrepancy, self.spec.link_spec.scale, repr(self.spec.y))
        check_predict_settings(seed=seed)
        return self._design_draws(self._designs(data), self._posterior(), slice(None), seed,
                                  discrepancy, law_prior)

    def prediction_notes(self, data) -> list[str]:
        """What a prediction of ``data``'s rows should be read with: the notes
        :meth:`predict`, :meth:`translate` and :meth:`link_draws` warn, each once.

        Factor levels the fit never saw (predicted from the population of levels, or as
        the one fitted level of a factor the fit could not vary by); N or D more than
        :data:`~scalinglaws.fit.EXTRAPOLATION_DECADES` decades outside the fitted input
        models' range; and observed input losses (column ``x``) at or below the compute
        law's ``E_x`` in more than :data:`BELOW_E_X_SHARE` of the posterior draws: the
        model gives such a loss next to no density, so the prediction does not condition
        on it (its latent input loss stays above ``E_x``).

        Parameters
        ----------
        data : DataFrame, dict or list of dicts
            Rows as :meth:`predict` takes them.

        Returns
        -------
        list of str
            Empty when nothing needs saying.

        >>> fit.prediction_notes({"N": [3e9], "D": [6e10], "dataset_y": ["cdoe"]})  # doctest: +SKIP
        ["dataset_y level(s) ['cdoe'] were not in the fitted data (levels ['books', 'code']); ..."]
        """
        frame = as_frame(data, "data")
        return self._notes(frame, self._designs(frame))

    def _notes(self, frame: pd.DataFrame, designs: tuple, seed: int = 0) -> list[str]:
        """:meth:`prediction_notes` of ``frame`` encoded as :meth:`_designs` encodes it;
        ``seed`` draws new levels' ``E_x`` as :meth:`predict` with that seed does."""
        x_design, link_design, log_obs = designs
        spec, layout = self.spec, self.layout
        notes = [*level_notes(spec.x_spec, layout.x_design, x_design),
                 *level_notes(spec.link_spec, layout.link_design, link_design),
                 *far_notes(layout.x_design, x_design, spec.inputs)]
        if log_obs is not None:
            notes.extend(self._below_e_x_notes(frame, x_design, log_obs, seed))
        return list(dict.fromkeys(notes))

    def _below_e_x_notes(self, frame: pd.DataFrame, x_design: Design, log_obs: np.ndarray,
                         seed: int) -> list[str]:
        """The note on observed input losses at or below ``E_x`` in more than
        :data:`BELOW_E_X_SHARE` of the draws (none if there are none)."""
        rows = np.flatnonzero(~np.isnan(log_obs))
        if not rows.size:
            return []
        # the key predict_padded draws the compute law's new levels with
        key = jax.random.split(jax.random.PRNGKey(seed), 4)[0]
        e_x = np.asarray(predict_draws(self.spec.x_spec, x_design.take(rows),
                                       self._part(X_PREFIX), key)["params"]["E"])
        observed = np.exp(log_obs[rows])
        e_x = np.broadcast_to(e_x, (e_x.shape[0], rows.size))
        share = (e_x >= observed).mean(axis=0)
        bad = np.flatnonzero(share > BELOW_E_X_SHARE)
        if not bad.size:
            return []
        shown = "; ".join(f"row {frame.index[rows[i]]!r}: {observed[i]:.4g}, median E_x "
                          f"{np.median(e_x[:, i]):.4g}" for i in bad[:5])
        return [f"the observed input loss {self.spec.x!r} lies at or below the compute law's "
                f"E_x in most posterior draws on {bad.size} row(s) ({shown}"
                f"{'; ...' if bad.size > 5 else ''}). The model gives such a "
                f"loss next to no density, so these predictions do not condition on it: "
                f"their latent input loss stays above E_x. Check that {self.spec.x!r} holds "
                f"the loss the compute law was fitted to (the same metric and units)"]

    def _designs(self, data) -> tuple[Design, Design, np.ndarray | None]:
        """The rows of ``data`` encoded for the compute law and the link, and the log of
        their observed input losses (None without the column)."""
        spec, layout = self.spec, self.layout
        frame = as_frame(data, "data")
        hint = "Give the inputs and the factor columns the model varies by."
        require_columns(frame, [*spec.inputs.values(), *spec.x_factors, *spec.link_factors], "data",
                        hint)
        if len(frame) == 0:
            raise ScalingLawError("data has no rows to predict")
        x_frame = frame[[*spec.inputs.values(), *spec.x_factors]].copy()
        x_frame[X_TARGET] = 1.0
        x_design = make_design(spec.x_spec, x_frame, fitted=layout.x_design)
        link_frame = frame[list(spec.link_factors)].copy()
        link_frame[L_DUMMY] = 1.0
        link_design = make_design(spec.link_spec, link_frame, fitted=layout.link_design)
        log_obs = None
        if spec.x in frame.columns:
            log_obs = np.log(loss_column(frame, spec.x, "observed input loss x", positive=True))
            if not np.isnan(log_obs).all():
                check_sigma_levels(x_design)
        return x_design, link_design, log_obs

    def _design_draws(self, designs: tuple, posterior: tuple, rows: slice, seed: int,
                      discrepancy, law_prior: bool, block: int = 0) -> dict[str, np.ndarray]:
        """:meth:`predict_draws` of ``rows`` of encoded designs (:meth:`_designs`) under
        ``posterior`` (:meth:`_posterior`), as block ``block`` of a prediction in blocks of
        rows (:func:`~scalinglaws.prediction.interval_columns`)."""
        x_design, link_design, log_obs = designs
        x_part, link_part, tau = posterior
        key = jax.random.PRNGKey(seed)
        out = ltl_predict_draws(self.spec, x_design.take(rows), link_design.take(rows),
                                x_part, link_part, tau, key,
                                None if log_obs is None else log_obs[rows], law_prior,
                                block_key(key, block))
        if discrepancy is not None:
            out["y"], out["observed"] = discrepancy.apply(out["y"], out["observed"], seed,
                                                          block)
        out["law"] = out["y"]
        out["params"] = {**{f"{X_PREFIX}.{k}": v for k, v in out["params_x"].items()},
                         **{f"{LINK_PREFIX}.{k}": v for k, v in out["params_link"].items()}}
        return out

    def log_density(self, data, seed: int = 0) -> np.ndarray:
        """``log p(y_i | theta_s)`` of observed output losses under each posterior draw.

        For each draw the row's latent input loss is drawn as :meth:`predict_draws` draws
        it (conditioned on the row's observed input loss ``x`` where the data give one,
        else from the compute law and ``tau``), and the output's density is the link's
        observation noise at that latent loss, on the output's likelihood scale. The
        average of ``exp`` over draws estimates the predictive density with the latent
        loss integrated out.

        Parameters
        ----------
        data : DataFrame or dict
            Rows with the inputs, the factors, the observed output ``y`` and, optionally,
            the observed input loss ``x``.
        seed : int
            Seed of new-level offsets and latent draws.

        Returns
        -------
        ndarray, shape (draws, rows)

        >>> ll = fit.log_density(held_out)  # doctest: +SKIP
        """
        frame = as_frame(data, "data")
        y = target_values(self.spec, frame)
        draws = self.predict_draws(frame, seed=seed)
        noise = {"nu": np.asarray(draws["nu"])[:, None]} if "nu" in draws else {}
        link_spec = self.spec.link_spec
        loc = transform_target(link_spec, draws["law"])
        return np.asarray(observation(link_spec, loc, draws["scale"], noise).log_prob(
            transform_target(link_spec, y)))

    def data(self) -> pd.DataFrame:
        """The fitted rows: every column the model reads (a copy of :attr:`frame`)."""
        return self.frame.copy()

    def levels(self) -> dict[str, tuple[str, ...]]:
        """The fitted levels of each factor of the compute law and the link."""
        return {**self.layout.x_design.levels(), **self.layout.link_design.levels()}

    def pointwise(self) -> Pointwise:
        """The pointwise log likelihood's terms: one per input model, the joint density
        of its input loss and every output loss that points at it, with its latent loss
        integrated out (``latent="marginal"``). See :class:`~scalinglaws.protocol.Pointwise`.
        """
        if "log_likelihood" not in self.idata.groups() or \
                "input_model" not in self.idata.log_likelihood:
            raise ScalingLawError(
                f"this loss-to-loss fit has no log likelihood per input model (it was fitted "
                f"with latent={self.spec.latent!r}, which records the input and output "
                f"losses' terms apart, with the latent losses sampled); refit with "
                f"latent='marginal' to compare it by PSIS-LOO")
        spec = self.spec
        return Pointwise(var="input_model", units=self.layout.xrun_labels(spec),
                         observed=self.frame[[spec.x, spec.y]], scale=spec.scale)

    def predict(self, data, interval: float = 0.9, seed: int = 0, discrepancy=None, *,
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
        discrepancy : scalinglaws.validate.Discrepancy, optional
            An extrapolation error measured on held-out runs of the output (on its
            likelihood scale): shifts the output law by its bias and widens the
            predictive interval by its spread, as in :meth:`scalinglaws.Fit.predict`.
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
            The input columns plus, as :meth:`scalinglaws.Fit.predict` gives them,
            ``mean``, ``median``, ``lower``, ``upper`` (noise-free output) and
            ``pred_lower``, ``pred_upper`` (a new output observation); then ``x_median``,
            ``x_lower``, ``x_upper`` (latent input loss).

        Many rows are predicted in blocks of rows, as :meth:`scalinglaws.Fit.predict`
        does; each block draws its own latent input losses and noise.

        Warns
        -----
        ScalingLawWarning
            Each of :meth:`prediction_notes`: a factor level never fitted, N or D far
            outside the fitted range, an observed input loss below ``E_x``.

        Examples
        --------
        >>> fit.predict({"N": [3.3e9], "D": [5.0e10], "dataset_y": ["code"],
        ...              "loss_x": [2.13]})  # doctest: +SKIP
        """
        lo, hi = check_predict_settings(interval=interval, seed=seed)
        check_discrepancy(discrepancy, self.spec.link_spec.scale, repr(self.spec.y))
        frame = as_frame(data, "data")
        parts = (*PREDICT_PARTS[:2], ("x", "x_", ("median", "lower", "upper")))
        check_unwritten(frame.columns, written_columns(parts))
        designs, posterior = self._designs(frame), self._posterior()
        _warn(self._notes(frame, designs, seed))
        columns = interval_columns(
            lambda rows, block: self._design_draws(designs, posterior, rows, seed,
                                                   discrepancy, law_prior, block),
            len(frame), len(posterior[2]), parts, lo, hi)
        out = frame.copy()
        for name, values in columns.items():
            out[name] = values
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
            Levels of the factors the model varies by (default: each factor's most
            common fitted level). A level the fit never saw warns
            (:meth:`prediction_notes`) and is drawn from the population of levels.

        Returns
        -------
        dict
            ``"y"`` (draws, points), the noise-free output; ``"observed"``, with noise;
            ``"E_x"`` (draws,). Points at or below a draw's E_x are NaN there.
        """
        spec, layout = self.spec, self.layout
        try:
            x_values = np.atleast_1d(np.asarray(x_values, dtype=float))
        except (TypeError, ValueError):
            x_values = np.empty((0, 0))
        if x_values.ndim != 1 or not x_values.size or not np.isfinite(x_values).all():
            raise ScalingLawError("x_values must be input losses: a number or a list of "
                                  "finite numbers")
        frame = self._group_frame(group, len(x_values))
        _warn(self.prediction_notes(frame))
        # E_x is a parameter of the group's level: one row's prediction holds its draws
        e_x = self.predict_draws(frame.iloc[:1], seed=seed)["params_x"]["E"]
        link_frame = frame[list(spec.link_factors)].copy()
        link_frame[L_DUMMY] = 1.0
        design = make_design(spec.link_spec, link_frame, fitted=layout.link_design)
        dl = predict_draws(spec.link_spec, design, self._part(LINK_PREFIX),
                           jax.random.PRNGKey(seed + 1))
        curve = link_curve(spec, x_values, e_x, dl["params"], dl["observed"], dl["law"])
        return {**curve, "E_x": e_x[:, 0]}

    def _group_frame(self, group: Mapping[str, Any] | None, n: int) -> pd.DataFrame:
        spec, layout = self.spec, self.layout
        factors = list(dict.fromkeys([*spec.x_factors, *spec.link_factors]))
        group = {} if group is None else check_mapping(group, "group")
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
            Levels of the factors the model varies by (default: each factor's most
            common fitted level). A level the fit never saw warns
            (:meth:`prediction_notes`).

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
        frame = self._group_frame(group, 1)
        _warn(self.prediction_notes(frame))
        draws = self.predict_draws(frame)
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
                f"{len(self.layout.xruns)} input models and {len(self.layout.y_rows)} output "
                f"observations, {post.sizes['chain']} chains x {post.sizes['draw']} draws, "
                f"{status}>")

    def save(self, path: str | Path) -> Path:
        """Write the fit to netCDF (no pickle); :func:`scalinglaws.load` reads it back exactly.

        >>> fit.save("pairs.nc")  # doctest: +SKIP
        """
        return write_fit_file(self.idata, path, {
            "scalinglaws_losstoloss_format": FILE_FORMAT,
            "scalinglaws_kind": self.kind,
            "scalinglaws_losstoloss_spec": json.dumps(self.spec.to_dict(), sort_keys=True),
            "scalinglaws_warnings": json.dumps(list(self.warnings)),
        })


def _warn(notes: list[str]) -> None:
    """Warn each of ``notes`` once, pointing at the caller of the public method."""
    for note in dict.fromkeys(notes):
        warnings.warn(note, ScalingLawWarning, stacklevel=3)


def read_loss_to_loss_fit(path: str | Path) -> LossToLossFit:
    """Read a :class:`LossToLossFit` written by :meth:`LossToLossFit.save`
    (:func:`scalinglaws.load` reads every kind).

    A file that is not such a fit, was written in another file format, or is damaged
    raises a :class:`~scalinglaws.errors.ScalingLawError`.

    >>> fit = read_loss_to_loss_fit("pairs.nc")  # doctest: +SKIP
    """
    idata, attrs = read_fit_file(
        as_path(path, "fit file"), "scalinglaws_losstoloss_format", FILE_FORMAT,
        "a loss-to-loss fit (LossToLossFit.save)",
        "an ArviZ file is read with arviz.from_netcdf")
    try:
        stored = json.loads(attrs["scalinglaws_losstoloss_spec"])
        priors = stored.get("priors") or {}
        if stored.get("likelihood", "normal") != "student_t" and "nu" in priors:
            # saved before such a prior was refused; it never had an effect
            stored["priors"] = {k: v for k, v in priors.items() if k != "nu"}
        spec = LossToLossModel.from_dict(stored)
        data = frame_from_constant(idata.constant_data)
        warnings_ = tuple(json.loads(attrs.get("scalinglaws_warnings", "[]")))
    except (KeyError, ValueError, AttributeError) as err:
        raise ScalingLawError(f"{path} is a loss-to-loss file with missing or damaged parts "
                              f"({err}); save the fit again") from None
    return LossToLossFit(idata=idata, spec=spec, frame=data, warnings=warnings_)
