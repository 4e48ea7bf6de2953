"""Fits and predictions called from several threads at once.

NumPyro's effect handlers are one stack for the whole process: two models traced at the
same time pushed their sites onto each other's traces ("all sites must have unique names
but got `E` duplicated"). The package traces under one lock (``model.TRACING``) and runs
its compiled programs outside it. Python's warning filters are one list for the process
too, and the package changes them under one lock (``_warnings.FILTERS``).
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import scalinglaws as sl
from scalinglaws._warnings import filtered

#: test_engine.py's settings: the vary-E model's programs are compiled once for both
SETTINGS = dict(chains=2, warmup=150, draws=150, progress=False)


@pytest.fixture(scope="module")
def models():
    return [sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}),
            sl.ScalingModel("chinchilla", target="loss")]


def _fit(model, frame, seed):
    with filtered(("ignore", sl.ScalingLawWarning)):  # short chains: by design
        return model.fit(frame, seed=seed, **SETTINGS)


def test_fits_in_threads_equal_the_same_fits_in_turn(models, sweep):
    # two structures, each compiled for the first time while the other is being traced
    jobs = [(model, seed) for seed in (0, 1) for model in models]
    with ThreadPoolExecutor(len(jobs)) as pool:
        threaded = list(pool.map(lambda job: _fit(job[0], sweep, job[1]), jobs))
    for (model, seed), fit in zip(jobs, threaded, strict=True):
        alone = _fit(model, sweep, seed)
        for name in ("alpha", "beta", "E"):
            np.testing.assert_array_equal(fit.idata.posterior[name].values,
                                          alone.idata.posterior[name].values)
        assert fit.warnings == alone.warnings


def test_predictions_in_threads_equal_the_same_predictions_in_turn(models, sweep):
    fits = [_fit(model, sweep, 0) for model in models]
    at = sweep.iloc[[0, 5, 40]].reset_index(drop=True)
    jobs = [(fit, seed) for fit in fits for seed in (0, 1, 2)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        threaded = list(pool.map(lambda job: job[0].predict(at, seed=job[1]), jobs))
    for (fit, seed), table in zip(jobs, threaded, strict=True):
        np.testing.assert_array_equal(table.to_numpy(), fit.predict(at, seed=seed).to_numpy())


def test_comparisons_in_threads_leave_the_warning_filters_as_they_were(models, sweep):
    """``warnings.catch_warnings`` restores the filter list it saved on entry, so two
    threads inside it at once restore each other's lists in the wrong order: sixteen
    comparisons in four threads left ``("always", UserWarning)`` and ArviZ's "ignore"
    filters in force for good. The package's filters take turns."""
    fits = {"E by dataset": _fit(models[0], sweep, 0), "shared": _fit(models[1], sweep, 0)}
    before = list(warnings.filters)
    with ThreadPoolExecutor(4) as pool:
        tables = list(pool.map(lambda _: sl.compare(fits), range(16)))
    assert warnings.filters == before
    assert all(t.equals(tables[0]) for t in tables)
