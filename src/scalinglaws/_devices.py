"""One JAX CPU device per core, so that one fit's chains run side by side.

JAX puts every CPU core behind one device by default, and one device runs one program at
a time: four NUTS chains then share one core. ``import scalinglaws`` asks JAX for one CPU
device per core (a power of two, at most :data:`MAX_DEVICES`), before JAX starts, and the
engine splits each fit's chains across them (:func:`scalinglaws.engine.program`).

The environment variable ``SCALINGLAWS_CPU_DEVICES`` sets the count (``1`` or ``off``
keeps JAX's single device). Nothing is changed when the process has already run JAX code
(JAX fixes its devices then), when ``XLA_FLAGS`` carries
``--xla_force_host_platform_device_count``, or when JAX's ``jax_num_cpu_devices`` is set:
the user's choice stands.

>>> cpu_device_count("", cores=6, xla_flags="")
4
>>> cpu_device_count("off", cores=6, xla_flags="") is None
True
>>> cpu_device_count("", cores=8, xla_flags="--xla_force_host_platform_device_count=2") is None
True
"""

from __future__ import annotations

import os

import jax

from .errors import ScalingLawError

#: Environment variable with the number of CPU devices (``off`` or ``1``: one device).
ENV = "SCALINGLAWS_CPU_DEVICES"
#: At most this many CPU devices by default.
MAX_DEVICES = 16


def cpu_device_count(setting: str, cores: int, xla_flags: str) -> int | None:
    """The CPU device count to ask JAX for, or None to leave JAX as it is.

    ``setting``: the value of :data:`ENV` (empty or ``auto``: the largest power of two
    not above ``cores`` and :data:`MAX_DEVICES`; an integer: that count; ``off``: None).
    """
    if "xla_force_host_platform_device_count" in xla_flags:
        return None
    setting = setting.strip().lower()
    if setting in ("off", "none", "false"):
        return None
    if setting in ("", "auto"):
        count = 1
        while count * 2 <= min(cores, MAX_DEVICES):
            count *= 2
    else:
        try:
            count = int(setting)
        except ValueError:
            count = 0
        if count < 1:
            raise ScalingLawError(f"{ENV}={setting!r}: give a positive number of CPU "
                                  f"devices, 'auto' (one per core), or 'off'")
    return count if count > 1 else None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_cpu_cores() -> int:
    """Ask JAX for :func:`cpu_device_count` CPU devices if it has not started yet; the
    number of devices JAX will use on the CPU (-1: JAX's default, one)."""
    count = cpu_device_count(os.environ.get(ENV, ""), _cores(),
                             os.environ.get("XLA_FLAGS", ""))
    if count is not None and jax.config.jax_num_cpu_devices == -1:
        try:
            jax.config.update("jax_num_cpu_devices", count)
        except RuntimeError:  # JAX has run already: its devices are fixed
            pass
    return jax.config.jax_num_cpu_devices
