"""The extrapolation error beyond a model's own predictive spread, as a value to carry
into predictions (:class:`Discrepancy`)."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
import pandas as pd

from ._checks import check_choice, check_fraction, is_finite_number
from .errors import ScalingLawError
from .spec import SCALES


@dataclass(frozen=True)
class Discrepancy:
    """Extrapolation error beyond a model's own predictive spread, measured on held-out runs.

    A law fitted to small runs can miss the next scale by more than its posterior says:
    the form is an approximation, and its error is a bias that no number of small runs
    shows. Refitting below the largest scale and predicting it (a backtest) measures
    that error; :meth:`estimate` summarises it and :meth:`apply` (or ``discrepancy=`` in
    :meth:`Fit.predict <scalinglaws.Fit.predict>`) carries it into the
    predictions of the full fit.

    On the likelihood scale (``log y`` for losses), held-out unit ``g`` (a run, a family:
    rows that share one miss) has the mean residual ``r_g = mean(t(y) - t(median))`` and
    the model's own predictive standard deviation ``s_g`` (from its central interval,
    read as Normal). The discrepancy is ``r_g ~ Normal(bias, s_g^2 + sd^2)`` with
    ``bias`` and ``sd >= 0`` at their maximum likelihood. Applied, the law is shifted by
    ``bias`` and each new observation gets an independent ``Normal(0, sd)`` on top of
    its own noise. It is a plug-in estimate, from as many units as were held out: treat
    ``units`` as its sample size.

    Attributes
    ----------
    bias : float
        Mean miss on the likelihood scale (for a log-scale loss, ``exp(bias) - 1`` is the
        relative miss; positive: the truth lies above the predictions).
    sd : float
        Spread of the misses beyond the model's own predictive spread (0 when the
        intervals already cover it).
    units : int
        Number of held-out units it was estimated from.
    scale : str
        The likelihood scale of the target, ``"log"`` or ``"identity"``.

    Examples
    --------
    >>> import numpy as np
    >>> d = Discrepancy.estimate(observed=[2.1, 3.1, 4.1, 5.0], median=[2.0, 3.0, 4.0, 5.0],
    ...                          lower=[1.9, 2.9, 3.9, 4.9], upper=[2.1, 3.1, 4.1, 5.1])
    >>> round(d.bias, 3), round(d.sd, 3), d.units
    (0.017, 0.005, 4)
    >>> law, observed = d.apply(np.full((1000, 1), 2.0), np.full((1000, 1), 2.0), seed=0)
    >>> round(float(law[0, 0]), 3)
    2.035
    """

    bias: float
    sd: float
    units: int
    scale: str = "log"

    def __post_init__(self) -> None:
        if not is_finite_number(self.bias):
            raise ScalingLawError(f"Discrepancy's bias must be a finite number, got "
                                  f"{self.bias!r}"[:200])
        if not is_finite_number(self.sd) or self.sd < 0:
            raise ScalingLawError(f"Discrepancy's sd must be a finite number >= 0, got "
                                  f"{self.sd!r}"[:200])
        if not isinstance(self.units, Integral) or isinstance(self.units, bool) \
                or self.units < 0:
            raise ScalingLawError(f"Discrepancy's units must be a count of held-out units, "
                                  f"got {self.units!r}"[:200])
        check_choice(self.scale, SCALES, "Discrepancy's scale")

    @classmethod
    def estimate(cls, observed, median, lower, upper, *, mass: float = 0.9, groups=None,
                 scale: str = "log") -> Discrepancy:
        """Maximum-likelihood bias and spread from held-out predictions.

        Parameters
        ----------
        observed, median, lower, upper : array-like
            Per held-out row: the truth, the posterior median of the law, and the ends of
            the central ``mass`` posterior-predictive interval (natural scale).
        mass : float
            Probability mass of the interval ``lower``-``upper``.
        groups : array-like, optional
            A label per row; rows with one label are one unit (their residuals and
            spreads are averaged). Checkpoints of one run, or runs of one family, miss
            together: count them once. By default every row is a unit.
        scale : str
            ``"log"`` (losses, the default) or ``"identity"``: the likelihood scale.
        """
        from scipy.optimize import minimize_scalar
        from scipy.stats import norm

        check_choice(scale, SCALES, "scale")
        check_fraction(mass, "mass")
        arrays = {}
        for name, value in (("observed", observed), ("median", median), ("lower", lower),
                            ("upper", upper)):
            try:
                a = np.asarray(value, dtype=np.float64).ravel()
            except (TypeError, ValueError) as error:
                raise ScalingLawError(f"{name} must be numbers, one per row ({error})"
                                      ) from None
            positive = (a > 0).all() if scale == "log" else True
            if not np.isfinite(a).all() or not positive:
                raise ScalingLawError(
                    f"{name} must be finite{' and positive (log scale)' if scale == 'log' else ''}"
                    f" in every row; drop the rows that are not")
            arrays[name] = np.log(a) if scale == "log" else a
        n = arrays["observed"].size
        if any(a.size != n for a in arrays.values()):
            raise ScalingLawError(f"observed, median, lower and upper need one value per row; "
                                  f"got {[a.size for a in arrays.values()]}")
        if (arrays["upper"] < arrays["lower"]).any():
            raise ScalingLawError("upper is below lower in some rows; pass the interval ends "
                                  "in order")
        labels = np.arange(n) if groups is None else np.asarray(groups).ravel()
        if labels.size != n:
            raise ScalingLawError(f"groups has {labels.size} labels for {n} rows")
        per = pd.DataFrame({
            "g": labels, "r": arrays["observed"] - arrays["median"],
            "s": (arrays["upper"] - arrays["lower"]) / (2 * norm.ppf((1 + mass) / 2)),
        }).groupby("g", sort=False).mean()
        if len(per) < 3:
            raise ScalingLawError(
                f"a discrepancy needs at least 3 held-out units to separate a bias from a "
                f"spread; got {len(per)}. Hold out more runs (or families)"
            )
        r, s2 = per["r"].to_numpy(), per["s"].to_numpy() ** 2

        def profile(sd: float) -> tuple[float, float]:
            w = 1 / (s2 + sd ** 2)
            bias = float(np.sum(w * r) / np.sum(w))
            return bias, float(0.5 * np.sum(-np.log(w) + w * (r - bias) ** 2))

        top = float(np.abs(r).max() + np.sqrt(s2.max())) * 10 + 1e-12
        best = minimize_scalar(lambda sd: profile(sd)[1], bounds=(0.0, top), method="bounded",
                               options={"xatol": 1e-10 * top})
        sd = float(best.x) if profile(float(best.x))[1] < profile(0.0)[1] else 0.0
        return cls(bias=profile(sd)[0], sd=sd, units=len(per), scale=scale)

    def apply(self, law, observed, seed: int = 0,
              block: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Draws of the law and of new observations with the discrepancy added.

        ``law`` and ``observed`` are posterior draws on the natural scale (as
        :meth:`Fit.predict_draws <scalinglaws.Fit.predict_draws>` returns them);
        the law is shifted by ``bias`` and every observation draw gets its own
        ``Normal(0, sd)`` on the likelihood scale. ``block`` > 0 draws other noise from
        the same ``seed``, for the later blocks of a prediction in blocks of rows.
        """
        law = np.asarray(law, dtype=np.float64)
        observed = np.asarray(observed, dtype=np.float64)
        rng = np.random.default_rng(seed if block == 0 else (seed, block))
        extra = self.sd * rng.standard_normal(observed.shape)
        if self.scale == "log":
            return law * np.exp(self.bias), observed * np.exp(self.bias + extra)
        return law + self.bias, observed + self.bias + extra


def check_discrepancy(discrepancy, scale: str, target: str) -> None:
    """Refuse, as a prediction's ``discrepancy`` argument, anything but None or a
    :class:`Discrepancy` measured on ``scale``, the likelihood scale of ``target`` (what
    the prediction is of, for the message).

    >>> check_discrepancy(Discrepancy(bias=0.01, sd=0.02, units=5, scale="log"), "log",
    ...                   "the loss")
    >>> check_discrepancy(0.02, "log", "the loss")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: discrepancy must be a ... got float
    """
    if discrepancy is None:
        return
    if not isinstance(discrepancy, Discrepancy):
        raise ScalingLawError(
            f"discrepancy must be a scalinglaws.validate.Discrepancy (from "
            f"Extrapolation.discrepancy() or Discrepancy.estimate), got "
            f"{type(discrepancy).__name__}")
    if discrepancy.scale != scale:
        raise ScalingLawError(
            f"the discrepancy was measured on the {discrepancy.scale!r} scale but this "
            f"model's likelihood of {target} is on the {scale!r} scale; measure it with a "
            f"backtest of a model on the {scale!r} scale")
