"""Decisions under uncertainty: what a posterior says about the choices scaling laws inform.

Point fits give one answer and hide how wrong it may be; every function here works per
posterior draw and returns the decision with its risk.

- :func:`compute_optimal`: the loss-minimising model size N*, data D*, tokens per
  parameter D*/N* and loss reached for a FLOP budget C = 6ND, one value per draw,
  summarised with medians and intervals; several budgets give the compute-optimal
  frontier (:func:`plot_frontier` draws it with bands). :func:`optimum` is the same
  calculation on parameter arrays.
- :func:`choose_size`: pick N under a fixed budget by expected loss, a quantile of loss
  (risk-averse) or the probability of missing a target loss, with the regret of that
  choice against the per-draw optimum, beside the same for the point-estimate choice.
- :func:`prob_better`: the probability that one configuration (a dataset, a tokenizer,
  a second fit) reaches lower loss than another at a given scale, with an optional
  region of practical equivalence.
- :func:`prob_target`: the probability that a run reaches a loss (or error) target.
- :func:`epochs_worth_it`: with a data-constrained law, the loss of a run whose tokens
  repeat k epochs of fewer unique tokens against the same run on fresh data, per draw:
  how many epochs a budget can afford at a given loss penalty.
- :func:`next_run`: rank candidate training runs by the expected reduction of
  uncertainty at a target scale per unit of compute, by simulating each candidate's
  outcome from the posterior and re-weighting the draws (no refit).

Where the data cannot tell two laws apart, :func:`compute_optimal`, :func:`prob_better`,
:func:`prob_target` and :func:`epochs_worth_it` take a :class:`scalinglaws.Stack` of
fits in place of one: they then decide under the uncertainty of which law is right too.

Examples
--------
>>> import scalinglaws as sl
>>> from scalinglaws import decide
>>> runs = sl.synthetic.sweep(seed=0)
>>> fit = sl.ScalingModel("chinchilla", vary={"E": "dataset"}).fit(
...     runs, chains=2, warmup=300, draws=300, progress=False)  # doctest: +SKIP
>>> decide.compute_optimal(fit, compute=[1e21, 1e23], group={"dataset": "web"})  # doctest: +SKIP
"""

from .allocation import GOLDEN_ITERATIONS as GOLDEN_ITERATIONS
from .allocation import GRID_POINTS as GRID_POINTS
from .allocation import RATIO_RANGE as RATIO_RANGE
from .allocation import compute_optimal, optimal_draws, optimum, plot_frontier
from .epochs import epochs_worth_it
from .planning import ESS_WARN as ESS_WARN
from .planning import next_run
from .probability import prob_better, prob_target
from .risk import Decision, choose_size

__all__ = [
    "Decision",
    "choose_size",
    "compute_optimal",
    "epochs_worth_it",
    "next_run",
    "optimal_draws",
    "optimum",
    "plot_frontier",
    "prob_better",
    "prob_target",
]
