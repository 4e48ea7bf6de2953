"""Shared fixtures: one small hierarchical fit reused by the tests that read a Fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# One CPU device per test process: the suite runs in two processes already, and the
# tests that split fits across devices ask for them themselves.
os.environ.setdefault("SCALINGLAWS_CPU_DEVICES", "1")

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)


def pytest_configure(config):
    """The default run (``-m 'not slow'``) runs short chains, so compiling is most of its
    time: its samplers are compiled as the package compiles its brief programs (XLA's
    older fusion emitters: about two thirds of the compile time, slower to run; the
    arithmetic is the same). The slow fits keep the package's options."""
    import importlib

    if "not slow" in (config.option.markexpr or ""):
        program = importlib.import_module("scalinglaws.engine.program")
        program.SAMPLER_CPU_OPTIONS = dict(program.BRIEF_CPU_OPTIONS)


SHARED_DATA = Path(os.environ.get("SCALINGLAWS_DATA",
                                  Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def sweep():
    import scalinglaws as sl

    return sl.synthetic.sweep(seed=0)


@pytest.fixture(scope="session")
def hierarchical_fit(sweep):
    """Chinchilla with E, A, B varying by dataset on the synthetic sweep (known truth)."""
    import scalinglaws as sl

    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                            parameterization="centred")
    return model.fit(sweep, seed=1, chains=4, warmup=500, draws=1000, progress=False)


@pytest.fixture
def run_on_cpu_devices():
    """``run(script, devices, env=None, prelude="")``: ``script`` (dedented, after
    ``prelude``) in a fresh Python with ``devices`` CPU devices, the persistent cache off
    and ``env`` set on top, none of this process's ``XLA_FLAGS``; it must exit 0, and
    its last line of output is returned read as JSON."""

    def run(script: str, devices: int, env: dict | None = None, prelude: str = ""):
        full = {**os.environ, "SCALINGLAWS_CPU_DEVICES": str(devices),
                "SCALINGLAWS_CACHE_DIR": "off", **(env or {})}
        full.pop("XLA_FLAGS", None)
        done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)],
                              env=full, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run


class CompileCounter:
    """Counts the XLA compilations a call starts: ``result, n = counter(call)``;
    ``counter.count`` keeps the last call's count also when it raised."""

    def __init__(self):
        self.count, self._on = 0, False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, seconds: float, **kwargs) -> None:
        if self._on and event == "/jax/core/compile/backend_compile_duration":
            self.count += 1

    def __call__(self, call):
        self.count, self._on = 0, True
        try:
            result = call()
        finally:
            self._on = False
        return result, self.count


@pytest.fixture(scope="session")
def compilations() -> CompileCounter:
    """``compilations(call)``: ``call()``'s result and the XLA compilations it started."""
    return CompileCounter()


@pytest.fixture(scope="session")
def assert_same_density():
    """``check(design, (spec_a, point_a), (spec_b, point_b))``: both models on ``design``
    have the same, finite potential energy (unconstrained, Jacobians included) at their
    points, to 1e-12: what a change of coordinates must keep."""
    import numpy as np
    from numpyro.infer.util import potential_energy

    from scalinglaws.model import build_model

    def check(design, *pairs):
        energies = [float(potential_energy(build_model(spec, design), (), {"y": design.y},
                                           point)) for spec, point in pairs]
        assert np.isfinite(energies[0])
        assert energies[1] == pytest.approx(energies[0], rel=1e-12, abs=1e-9)

    return check
