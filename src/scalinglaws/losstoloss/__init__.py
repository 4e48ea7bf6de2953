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

from .composed import output_law, translate_law
from .fit import BELOW_E_X_SHARE, LossToLossFit, LossToLossModel, read_loss_to_loss_fit
from .model import LOOSE_SD, NEWTON_STEPS, QUADRATURE_NODES
from .pairs import pair_losses, pair_test_to_test, pair_train_to_test, pair_train_to_train
from .plots import plot_link
from .sampling import CUT_DRAWS, MODE_NOISE
from .spec import (
    FEEDBACKS,
    LATENTS,
    SIGMA_X_PRIOR,
    SIGMA_Y_PRIOR,
    TAU_PRIOR,
    LossToLossSpec,
)
from .synthetic import SIM_TRUTH, simulate

__all__ = [
    "LossToLossFit",
    "LossToLossModel",
    "LossToLossSpec",
    "output_law",
    "pair_losses",
    "pair_test_to_test",
    "pair_train_to_test",
    "pair_train_to_train",
    "plot_link",
    "read_loss_to_loss_fit",
    "simulate",
    "translate_law",
    # constants
    "BELOW_E_X_SHARE",
    "CUT_DRAWS",
    "FEEDBACKS",
    "LATENTS",
    "LOOSE_SD",
    "MODE_NOISE",
    "NEWTON_STEPS",
    "QUADRATURE_NODES",
    "SIGMA_X_PRIOR",
    "SIGMA_Y_PRIOR",
    "SIM_TRUTH",
    "TAU_PRIOR",
]
