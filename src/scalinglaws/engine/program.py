"""Compiled samplers: one program per model structure, batched over fits and chains.

A model's data enter its NumPyro model as an argument (:func:`scalinglaws.model.data_model`),
with rows and factor levels padded to a few bucket sizes (:func:`scalinglaws.model.bucket`).
So the multi-start mode search and NUTS are traced and compiled once per
(spec, :class:`~scalinglaws.model.Structure`, :class:`Settings`) and reused for every data
set of that structure in the process: a refit on one more run compiles nothing, nor does
one with another warm-up length or target acceptance (arguments of the sampler). Every
program maps over a leading batch axis (fits x starts for the mode search, fits x chains
for NUTS), so K fits run as one program (vectorised over every chain on a GPU, looping
over the fits and each fit's chains and starts on a CPU: :data:`BATCHING`,
:data:`LOOPED_ENTRIES`); with several devices (GPUs, or the
CPU devices ``import scalinglaws`` asks for, one per core: :mod:`scalinglaws._devices`)
the batch is split across them with :func:`jax.shard_map`, each device running its own
chains, a fit's chains cut into parts when there are fewer fits than devices.

Compiled programs also persist across processes in JAX's compilation cache, in
``$XDG_CACHE_HOME/scalinglaws/jax`` (``~/.cache/scalinglaws/jax``) unless the environment
variable ``SCALINGLAWS_CACHE_DIR`` names another folder; ``SCALINGLAWS_CACHE_DIR=off``
disables it. A folder that cannot be written leaves the cache off, with one warning.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import importlib.metadata
import importlib.util
import math
import os
import re
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import jax
import jax.export  # a submodule JAX before 0.8 does not import with jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer import init_to_uniform
from numpyro.infer.util import constrain_fn, potential_energy

from .._checks import probe_write
from .._precision import enable_x64
from ..errors import ScalingLawError, ScalingLawWarning
from ..model import (
    TRACING,
    ProgramCache,
    Structure,
    bucket,
    centred_sites,
    data_model,
    level_coordinate_names,
    level_factor,
    offset_sites,
    sampled_as,
    terms_to_level,
    traced_settings,
    view,
)
from .sampler import (
    block_mask,
    hessian,
    laplace_start,
    nuts_chain,
    nuts_chains,
    sample_stats,
    warmup_schedule,
)

#: Environment variable naming the persistent compilation cache folder ("off" disables).
CACHE_ENV = "SCALINGLAWS_CACHE_DIR"
#: Programs kept compiled in one process (least recently used dropped first).
MAX_PROGRAMS = 32
#: Batches of up to this many fits are not padded.
EXACT_BATCH = 8
#: Jitter (sd, unconstrained scale) of each chain's start around the posterior mode where
#: the Hessian there is not positive definite (else chains start from the Laplace
#: approximation).
START_JITTER = 0.1
#: Half-width of the uniform box (unconstrained scale) the mode search starts from.
START_RADIUS = 2.0


@dataclass(frozen=True)
class Settings:
    """The sampler settings that fix a compiled program (array shapes, tree depth, mass
    matrix). The warm-up's length and the target acceptance are not among them: they are
    arguments of :meth:`Program.sample`, so changing them compiles nothing."""

    chains: int
    draws: int
    max_tree_depth: int
    dense_mass: bool | tuple[tuple[str, ...], ...]
    n_starts: int
    max_iter: int = 500


_CACHE_STATE: dict[str, str | None] = {}


def cache_folder() -> str | None:
    """The persistent cache folder the environment asks for, created; None when disabled.

    ``$SCALINGLAWS_CACHE_DIR``, else ``$XDG_CACHE_HOME/scalinglaws/jax``
    (``~/.cache/scalinglaws/jax``); ``off``, ``0``, ``none``, ``false`` or empty disable
    it. A folder that cannot be created or written gives None and a
    :class:`~scalinglaws.errors.ScalingLawWarning`.

    >>> import os
    >>> os.environ[CACHE_ENV] = "off"
    >>> cache_folder() is None
    True
    >>> del os.environ[CACHE_ENV]
    """
    setting = os.environ.get(CACHE_ENV)
    if setting is not None and setting.strip().lower() in ("", "off", "0", "none", "false"):
        return None
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = Path(setting) if setting else base / "scalinglaws" / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe_write(path)
    except OSError as err:
        warnings.warn(f"the compilation cache folder {path} cannot be written ({err}); "
                      f"compiling without a persistent cache. Set {CACHE_ENV} to a "
                      f"writable folder, or to 'off'", ScalingLawWarning, stacklevel=4)
        return None
    return str(path)


#: JAX releases (from, up to but not including) whose XLA logs two error lines for every
#: CPU program it reads back from a persistent cache written on the same machine
#: ("Target machine feature +prefer-no-gather is not supported on the host machine ...
#: This could lead to execution errors such as SIGILL"): it takes LLVM's tuning
#: preferences for required CPU features (jax-ml/jax#38445, openxla/xla#44565). The
#: programs load and run; the demo's second run printed 50 such lines with jax 0.8.3 and
#: 0.9.2, none with 0.7.2 or 0.10.2 (2-core Intel Xeon VM, 2026-12-07). With these
#: releases on a CPU, the cache is on only where :data:`CACHE_ENV` names a folder.
NOISY_CPU_CACHE = ((0, 8), (0, 10))


def jax_release() -> tuple[int, ...]:
    """This JAX's release as ``(major, minor)``.

    >>> len(jax_release())
    2
    """
    return tuple(int(part) for part in re.findall(r"\d+", jax.__version__)[:2])


def noisy_cpu_cache() -> bool:
    """Whether reading the persistent cache back makes this JAX log false errors
    (:data:`NOISY_CPU_CACHE`)."""
    low, high = NOISY_CPU_CACHE
    return low <= jax_release() < high and jax.default_backend() == "cpu"


def persistent_cache() -> str | None:
    """Turn on JAX's persistent compilation cache in :func:`cache_folder` (once per
    process) and return its folder, or None; a folder already set in JAX's own
    configuration is kept as it is. Where this JAX logs false errors reading it back
    (:func:`noisy_cpu_cache`), only a folder named by :data:`CACHE_ENV` turns it on."""
    if "dir" not in _CACHE_STATE:
        folder = jax.config.jax_compilation_cache_dir
        if not folder and (CACHE_ENV in os.environ or not noisy_cpu_cache()):
            folder = cache_folder()
            if folder:
                jax.config.update("jax_compilation_cache_dir", folder)
                # Every program, however quick to compile: a fit's few dozen small ones
                # (random numbers, reshapes) cost seconds together in a fresh process.
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _CACHE_STATE["dir"] = folder
    return _CACHE_STATE["dir"]


#: How fits are batched: "vmap" runs every chain of every fit as one vectorised program
#: (what a GPU wants), each chain advanced one leapfrog step at a time so that none waits
#: for another's trajectory (:func:`.sampler.nuts_chains`); "map" loops over fits inside
#: the program, and over each fit's chains (:func:`.sampler.nuts_chain`) and mode-search
#: starts (:data:`LOOPED_ENTRIES`): on a CPU the arithmetic and each kernel's dispatch
#: are the cost, and the devices, one per core, keep the cores busy;
#: "auto" picks "vmap" on accelerators and "map" on CPUs (where vectorising fits buys
#: little: 16 demo fits sampled in 14.5 s vectorised against about 16 s looped).
BATCHING = os.environ.get("SCALINGLAWS_BATCHING", "auto")


#: Where fits are looped over (:data:`BATCHING` "map", a CPU), the sampler's chains and
#: the mode search's starts are looped over too, one after another on each device, not
#: vectorised (:func:`over_entries`): vectorised, every NUTS iteration (every BFGS step)
#: of a group lasts as long as its longest entry's and carries the others' state through
#: ``select``s, and JAX traces a vectorised ``while_loop`` several times. Looped, the
#: demo's first fit took 3.93 s against 4.83 s and a fit of 10,000 rows 27.8 s against
#: 49.5 s; only long runs of short, even trajectories sample faster vectorised (the
#: demo's 4 x 3,000 draws: 0.80 s against 0.74 s). Measured on a 2-core Intel Xeon VM,
#: jax 0.10.2 (``docs/modeling.md``, "CPU cores"). False, set before the first fit of a
#: process, restores the vectorised form (the exported programs' names include it).
LOOPED_ENTRIES = True


def _batching() -> str:
    if BATCHING in ("vmap", "map"):
        return BATCHING
    return "map" if jax.default_backend() == "cpu" else "vmap"


def over_entries(fn):
    """``fn`` over a leading axis of independent entries whose own loops run for as long
    as each entry needs (NUTS chains, BFGS starts): one entry after another where fits
    are looped over (:data:`BATCHING` "map", a CPU; :data:`LOOPED_ENTRIES`), vectorised
    (``vmap``) elsewhere. For use inside ``jax.jit``.

    >>> import jax.numpy as jnp
    >>> over_entries(lambda x, y: x * y)(jnp.arange(3.0), jnp.ones(3)).tolist()
    [0.0, 1.0, 2.0]
    """
    if LOOPED_ENTRIES and _batching() == "map":
        return lambda *args: jax.lax.map(lambda one: fn(*one), args)
    return jax.vmap(fn)


#: LLVM's optimisation level 2 for every program compiled on a CPU, one below XLA's
#: default: the demo's first fit in 0.91 times the time, sampling as fast
#: (``benchmarks/compile_modes.py``, ``docs/modeling.md``).
CPU_LLVM_LEVEL = {"xla_backend_optimization_level": 2}
#: No YNNPACK fusions in a program compiled on a CPU. jaxlib 0.10 runs such a fusion over
#: more than 128 KB (2^14 float64 values) as tasks on XLA's thread pool, and while two
#: device programs run at once it keeps memory for every loop iteration of it until the
#: program ends: about 20 KB per leapfrog step of a sampler with two chains of 10,240
#: rows per device (a fit of 10,000 rows peaked at 6.00 GB, one of 20,000 rows passed
#: 22 GB). Without them that fit peaks at 0.83 GB and samples faster, and the demo's
#: sampler compiles and samples as before (``benchmarks/large_fit.py``,
#: ``tests/test_cpu_devices.py``, ``docs/performance.md``).
NO_YNN_FUSIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}
#: XLA options of the programs that run briefly (mode search, Hessians, post-processing) on
#: a CPU: the older fusion emitters compile in about two thirds of the time and run about
#: 40% slower, a gain for a program that runs once for a fraction of a second.
BRIEF_CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False, **CPU_LLVM_LEVEL, **NO_YNN_FUSIONS}
#: XLA options of the programs that run for most of a fit (the samplers) on a CPU.
SAMPLER_CPU_OPTIONS: dict = {**CPU_LLVM_LEVEL, **NO_YNN_FUSIONS}


def compile_lowered(lowered, brief: bool):
    """``lowered`` compiled, on a CPU with :data:`BRIEF_CPU_OPTIONS` if ``brief`` and
    :data:`SAMPLER_CPU_OPTIONS` if not (each option this XLA does not know left out);
    then the compiler's freed memory handed back
    (:func:`release_freed_memory`)."""
    try:
        options = dict(BRIEF_CPU_OPTIONS if brief else SAMPLER_CPU_OPTIONS)
        while options and jax.default_backend() == "cpu":
            try:
                return lowered.compile(options)
            except jax.errors.JaxRuntimeError as err:
                unknown = [k for k in options if k in str(err)]
                if "No such compile option" not in str(err) or not unknown:
                    raise
                del options[unknown[0]]  # an option this XLA does not have: the others
        return lowered.compile()
    finally:
        release_freed_memory()


@cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Return the heap's free memory to the operating system (glibc's ``malloc_trim``;
    nothing where the C library has none). XLA's compiler frees its working memory when
    a compilation ends, but glibc keeps it mapped, so a process that compiles many
    programs kept growing: ``reproduce hitchhiker2024`` (empty cache, 2 cores) peaked at
    2.64 GB without this and 2.10 GB with it, in the same wall time (2 min 38-39 s), and
    ``reproduce brandfonbrener2025`` at 4.02 GB and 3.60 GB; one call takes 6-100 ms."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@contextmanager
def collection_paused():
    """Python's cyclic garbage collector paused for the block, then as it was: tracing a
    model and a sampler makes many short-lived objects, and the collector's repeated
    scans of them took about a sixth of a cold demo fit's tracing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Compiles traced programs ahead, in the background, while the mode search runs (XLA
#: compiles outside Python's lock, so on two cores the sampler compiles beside the
#: optimiser).
_COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scalinglaws-compile")


def compile_in_background(lowered, brief: bool) -> Future:
    """:func:`compile_lowered` in the background thread; the executable as a future.
    Trace and lower in the calling thread (NumPyro's effect handlers are one global
    stack, so a model must not be traced in two threads at once)."""
    return _COMPILER.submit(compile_lowered, lowered, brief)


class Executables:
    """The compiled forms of one program, one per shapes and dtypes of its arguments.

    ``lower(*args)`` lowers the program for arguments like ``args`` (arrays or
    :class:`jax.ShapeDtypeStruct`); :meth:`ahead` starts compiling in the background,
    calling the object returns the executable, compiled then if it was not started.
    ``brief``: compiled with :data:`BRIEF_CPU_OPTIONS` (:func:`compile_lowered`).
    """

    def __init__(self, lower, brief: bool = False):
        self.lower, self.brief = lower, brief
        self._compiled: dict = {}

    def _lowered(self, args):
        """The program traced and lowered for ``args``, the garbage collector paused and
        :data:`~scalinglaws.model.TRACING` held (one model traced at a time)."""
        with TRACING, collection_paused():
            return self.lower(*args)

    @staticmethod
    def _key(args) -> tuple:
        leaves, tree = jax.tree_util.tree_flatten(args)
        leaves = [a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)
                  for a in leaves]
        return tree, tuple((tuple(a.shape), np.dtype(a.dtype).str) for a in leaves)

    def ahead(self, *args) -> None:
        """Start compiling, in the background, the executable for arguments like
        ``args``, unless it is compiled or compiling."""
        key = self._key(args)
        if key not in self._compiled:
            lowered = self._lowered(args)
            self._compiled[key] = (compile_in_background(lowered, self.brief), lowered)

    def __call__(self, *args):
        """The executable for arguments like ``args``. One still queued behind another
        program's compilation is compiled in the calling thread instead of waited for."""
        key = self._key(args)
        executable = self._compiled.get(key)
        if executable is None:
            executable = compile_lowered(self._lowered(args), self.brief)
        elif isinstance(executable, tuple):
            future, lowered = executable
            executable = (compile_lowered(lowered, self.brief) if future.cancel()
                          else future.result())
        self._compiled[key] = executable
        return executable


#: The optimiser's objective where the density is not finite; a start whose optimum is
#: not below :data:`FAILED_START` found no finite density.
NON_FINITE = 1e30
FAILED_START = 1e29


def finite_objective(value):
    """``value``, or :data:`NON_FINITE` where it is not finite (the optimiser's line
    search then backs away from where the density is undefined)."""
    return jnp.where(jnp.isfinite(value), value, NON_FINITE)


def finite_starts(energies) -> np.ndarray:
    """Which of the optimised ``energies`` (one per start) found a finite density."""
    return np.isfinite(energies) & (energies < FAILED_START)


def best_start(energies, label: str = "") -> int:
    """The index of the lowest of a fit's optimised ``energies`` (one per start) that
    found a finite density; a :class:`ScalingLawError` (naming ``label``) if none did.

    >>> best_start(np.array([3.0, 1.0, np.inf, 1e30]))
    1
    """
    finite = finite_starts(energies)
    if not finite.any():
        raise ScalingLawError(
            f"{label + ': ' if label else ''}no starting point gave a finite log density: "
            f"the priors put no mass where the data are (e.g. E above the smallest loss); "
            f"check the priors and the target column")
    return int(np.argmin(np.where(finite, energies, np.inf)))


class _Batched:
    """``fn`` over a leading axis of ``fits x group`` entries (chains or starts).

    Each fit's ``group`` entries are vectorised (``vmap``); the fits are vectorised too or
    looped over inside the program (:data:`BATCHING`). Where they are vectorised and a
    ``lockstep`` function is given, it runs instead of ``vmap(vmap(fn))``, on every
    device's entries as one flat batch (the sampler's :func:`.sampler.nuts_chains`).
    With several devices, each fit's entries are cut into ``gcd(group, devices)`` equal
    parts first, and the parts split across the devices: one fit's 4 chains run on 2
    devices side by side, 2 chains each.
    The cut depends only on the device count, so a fit alone and the same fit among
    others run the same parts. The number of fits is padded (repeating the last fit,
    results dropped) to a bucket size (:func:`scalinglaws.model.bucket`), so K fits and
    K + 1 fits share one program, and the parts to a multiple of the device count.

    The program is compiled once per padded shape, when first called or ahead of time by
    :meth:`compile_ahead`. With ``shared``, the first argument of ``fn`` (and of
    ``lockstep``, and of every call) is not batched: one value for every entry, an
    argument of the compiled program rather than a constant in it (the sampler's warm-up
    length and target acceptance). With ``loops`` (a program whose own loops run for as
    long as each entry needs: NUTS trajectories, BFGS), a fit's entries go through
    :func:`over_entries`: looped over on a CPU, not vectorised.
    """

    def __init__(self, fn, group: int, brief: bool = False, key: str | None = None,
                 lockstep=None, shared: bool = False, loops: bool = False):
        devices = jax.devices()
        self.key, self.shared = key, shared
        self.n_dev = len(devices)
        self.group = group
        self.parts = math.gcd(group, self.n_dev)
        self.width = group // self.parts

        def given(common, f):
            return partial(f, common) if shared else f

        over = over_entries if loops else jax.vmap

        def inner(common, *args):
            return over(given(common, fn))(*args)

        if _batching() == "vmap" and lockstep is not None:
            def per_device(common, args):
                lead = jax.tree_util.tree_leaves(args)[0].shape[:2]
                out = given(common, lockstep)(*jax.tree_util.tree_map(
                    lambda a: a.reshape(-1, *a.shape[2:]), args))
                return jax.tree_util.tree_map(lambda a: a.reshape(*lead, *a.shape[1:]), out)
        elif _batching() == "vmap":
            def per_device(common, args):
                return jax.vmap(partial(inner, common))(*args)
        else:
            def per_device(common, args):
                return jax.lax.map(lambda one: inner(common, *one), args)
        if self.n_dev == 1:
            self._jitted = jax.jit(per_device)
            self._sharding = None
        else:
            mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
            spec, everywhere = (jax.sharding.PartitionSpec("batch"),
                                jax.sharding.PartitionSpec())
            self._jitted = jax.jit(shard_map(per_device, mesh=mesh,
                                             in_specs=(everywhere, spec), out_specs=spec))
            self._sharding = (jax.sharding.NamedSharding(mesh, everywhere),
                              jax.sharding.NamedSharding(mesh, spec))
        self._executables = Executables(self._lower, brief)

    def _split(self, args) -> tuple:
        """The call's shared argument (``()`` without one) and its batched arguments."""
        return (args[0], args[1:]) if self.shared else ((), args)

    def _units(self, size: int) -> tuple[int, int]:
        """Parts that hold ``size`` entries, and that number padded (see the class)."""
        target = -(-bucket(size // self.group, exact_up_to=EXACT_BATCH) * self.parts
                   // self.n_dev) * self.n_dev
        return size // self.width, target

    def compile_ahead(self, *args) -> None:
        """Start compiling, in the background, the program that a call with arguments of
        the shapes and dtypes of ``args`` (arrays or :class:`jax.ShapeDtypeStruct`) runs."""
        common, args = self._split(args)
        size = jax.tree_util.tree_leaves(args)[0].shape[0]
        _, target = self._units(size)
        padded = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct((target, self.width, *a.shape[1:]), a.dtype), args)
        self._executables.ahead(common, padded)

    def __call__(self, *args):
        common, args = self._split(args)
        size = jax.tree_util.tree_leaves(args)[0].shape[0]
        units, target = self._units(size)

        def shape(a):
            a = np.asarray(a).reshape(units, self.width, *np.shape(a)[1:])
            if target > units:
                a = np.concatenate([a, np.repeat(a[-1:], target - units, axis=0)])
            return a

        padded = jax.tree_util.tree_map(shape, args)
        out = self._executables(common, padded)(common, padded)
        return jax.tree_util.tree_map(
            lambda a: np.asarray(a)[:units].reshape(size, *a.shape[2:]), out)

    def _lower(self, common, padded):
        """The program lowered for arguments shaped like ``common`` (shared) and
        ``padded`` (batched): from its exported form in the cache folder where one is
        there (no tracing), else traced, exported there for the next process, and
        lowered (:func:`exported_program`)."""
        shapes = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                                        (common, padded))
        exported = exported_program(self._jitted, shapes, self.key)
        if exported is None:
            return self._jitted.lower(common, padded)
        if self._sharding is None:
            return jax.jit(exported.call).lower(*shapes)
        return jax.jit(exported.call, in_shardings=self._sharding,
                       out_shardings=self._sharding[1]).lower(*shapes)


#: The first JAX release whose exported programs run when a fresh process reads them
#: back. With jax/jaxlib 0.7.0, 0.7.2, 0.8.3 and 0.9.2 (and the newest NumPyro) the
#: sampler's exported form, read by a second process, ends it with a segmentation fault
#: whatever the XLA options (the demo run twice, 2026-12-07); there only XLA's own
#: compilation cache is kept.
EXPORT_FROM_JAX = (0, 10)


def exports_programs() -> bool:
    """Whether this JAX's programs are exported to the persistent cache
    (:data:`EXPORT_FROM_JAX`)."""
    return jax_release() >= EXPORT_FROM_JAX


def exported_program(jitted, shapes, key: str | None):
    """``jitted`` exported (:mod:`jax.export`) for arguments of ``shapes``, kept in the
    folder ``exported`` of the persistent cache: read from there when it is there, so
    that a fresh process skips tracing the model, else traced, exported and written
    there. None (lower as usual) without a cache folder or a ``key`` (a spec that cannot
    be written to JSON), before JAX 0.10 (:func:`exports_programs`), or where the
    program cannot be exported or written.

    The file's name (:func:`exported_name`) hashes ``key``, the argument shapes, the
    backend and its device count, :data:`LOOPED_ENTRIES`, JAX's settings that change a
    traced program (:func:`~scalinglaws.model.traced_settings`), and the versions of
    JAX, NumPyro and this package's source, so a change to any of them exports again; a
    damaged file is exported again over.
    """
    folder = persistent_cache()
    if (folder is None or key is None or not exports_programs()
            or importlib.util.find_spec("flatbuffers") is None):
        return None
    path = Path(folder) / "exported" / f"{exported_name(key, shapes)}.jaxexport"
    if path.exists():
        try:
            return jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # noqa: BLE001 (a damaged or foreign file: export again)
            pass
    try:
        exported = jax.export.export(jitted)(*shapes)
        blob = exported.serialize()
    except Exception:  # noqa: BLE001 (not exportable here: lower it as usual)
        return None
    try:
        path.parent.mkdir(exist_ok=True)
        partial_file = path.with_suffix(f".{os.getpid()}.part")
        partial_file.write_bytes(blob)
        os.replace(partial_file, path)
    except OSError:
        pass
    return exported


def exported_name(key: str, shapes) -> str:
    """The file name (without suffix) of the exported program ``key`` for arguments of
    ``shapes`` in this process (:func:`exported_program`).

    >>> import jax, numpy as np
    >>> one = exported_name("sampler|model", jax.ShapeDtypeStruct((4, 3), np.float64))
    >>> one == exported_name("sampler|model", jax.ShapeDtypeStruct((4, 3), np.float64))
    True
    >>> one == exported_name("sampler|model", jax.ShapeDtypeStruct((8, 3), np.float64))
    False
    """
    leaves, tree = jax.tree_util.tree_flatten(shapes)
    return hashlib.sha256(repr((
        key, str(tree), [(a.shape, np.dtype(a.dtype).str) for a in leaves], _environment(),
        LOOPED_ENTRIES, traced_settings(),
    )).encode()).hexdigest()[:32]


@cache
def _environment() -> tuple:
    """What a program's exported form depends on besides its own key."""
    source = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for file in sorted(package.rglob("*.py")):
        source.update(file.relative_to(package).as_posix().encode())
        source.update(file.read_bytes())
    try:
        jaxlib = importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        jaxlib = ""
    return (jax.__version__, jaxlib, numpyro.__version__, jax.default_backend(),
            len(jax.devices()), bool(jax.config.jax_enable_x64), _batching(),
            source.hexdigest())


def shard_map(fn, **kwargs):
    """``jax.shard_map`` without its replication checks: every device runs its own share
    of independent chains, and NumPyro's loops start from constants that those checks
    would reject as not varying across devices."""
    if hasattr(jax, "shard_map"):
        return jax.shard_map(fn, check_vma=False, **kwargs)
    from jax.experimental.shard_map import shard_map  # jax < 0.7.1

    return shard_map(fn, check_rep=False, **kwargs)


def bfgs(value_and_grad, x0, max_iter: int, gtol: float = 1e-6):
    """Minimise from ``x0`` by BFGS with a backtracking (Armijo) line search.

    Compact on purpose: the objective and its gradient are evaluated at one place in the
    program (the line search; the start is its first point), so a vmapped batch of starts
    compiles quickly. Returns the last point and its value. A start whose value is not
    below :data:`FAILED_START` (:func:`finite_objective`'s stand-in for non-finite) is
    returned as it is.

    >>> import jax.numpy as jnp
    >>> f = jax.value_and_grad(lambda x: jnp.sum((x - jnp.arange(3.0)) ** 2))
    >>> x, value = bfgs(f, jnp.zeros(3), 50)
    >>> [round(float(v), 6) for v in x], float(value) < 1e-12
    ([0.0, 1.0, 2.0], True)
    """
    dim = x0.shape[0]
    eye = jnp.eye(dim, dtype=x0.dtype)

    def search(x, f, g, p, slope, active):
        # ``active``: False once this start has stopped. Vectorised over starts, the loop
        # runs while any start's condition holds, so a stopped start must not hold it
        # (its trial steps would go on to the 40th halving at every iteration).
        def not_accepted(c):
            t, fn, _, k = c
            return active & ((k == 0) | (~(fn <= f + 1e-4 * t * slope) & (k < 40)))

        def shrink(c):
            t, _, _, k = c
            t = 0.5 * t
            fn, gn = value_and_grad(x + t * p)
            return t, fn, gn, k + 1

        return jax.lax.while_loop(not_accepted, shrink, (2.0, jnp.inf, g, 0))

    def body(state):
        # Iteration 0 evaluates the start: with f = inf and g = 0 the step is 0 and the
        # line search's first point, x0 itself, is accepted.
        i, x, f, g, h, stopped = state
        p = -h @ g
        slope = g @ p
        descent = slope < 0
        p = jnp.where(descent, p, -g)
        slope = jnp.where(descent, slope, -(g @ g))
        t, fn, gn, _ = search(x, f, g, p, slope, ~stopped)
        accepted = fn <= f + 1e-4 * t * slope
        s, y = t * p, gn - g
        sy = s @ y
        h = jnp.where(i == 1, eye * jnp.where(sy > 0, sy / (y @ y), 1.0), h)
        rho = 1.0 / jnp.where(sy > 1e-12, sy, 1.0)
        # (I - rho s y') H (I - rho y s') + rho s s', expanded: O(dim^2), not O(dim^3)
        hy = h @ y
        update = (h - rho * (jnp.outer(hy, s) + jnp.outer(s, hy))
                  + (rho * rho * (y @ hy) + rho) * jnp.outer(s, s))
        h = jnp.where((i > 0) & (sy > 1e-12), update, h)
        x, f_new, g = (jnp.where(accepted, x + s, x), jnp.where(accepted, fn, f),
                       jnp.where(accepted, gn, g))
        done = jnp.where(
            i == 0, ~(f_new < FAILED_START) | ~jnp.all(jnp.isfinite(g)),
            ~accepted | (jnp.max(jnp.abs(g)) < gtol)
            | (f - f_new <= 1e-12 * (1.0 + jnp.abs(f_new))))
        return i + 1, x, f_new, g, h, done

    def going(state):
        i, *_, done = state
        return (i <= max_iter) & ~done

    start = (0, x0, jnp.full((), jnp.inf, x0.dtype), jnp.zeros_like(x0), eye, False)
    _, x, f, *_ = jax.lax.while_loop(going, body, start)
    return x, f


class Unravel:
    """One flat vector to a model's unconstrained sites and back, in sorted site order
    (``jax.flatten_util.ravel_pytree``'s); works on NumPy and JAX arrays alike, so it
    costs no compilation outside a traced program.

    >>> unravel = Unravel({"b": (2,), "a": ()})
    >>> unravel(np.arange(3.0))
    {'a': array(0.), 'b': array([1., 2.])}
    >>> unravel.ravel({"a": np.zeros(()), "b": np.ones(2)}).tolist()
    [0.0, 1.0, 1.0]
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]]):
        self.shapes = {name: tuple(shapes[name]) for name in sorted(shapes)}
        sizes = [math.prod(shape) for shape in self.shapes.values()]
        self.slices = dict(zip(self.shapes, (slice(end - size, end) for size, end in
                                             zip(sizes, np.cumsum(sizes), strict=True)),
                               strict=True))
        self.size = int(sum(sizes))

    def __call__(self, x) -> dict:
        return {name: x[self.slices[name]].reshape(shape)
                for name, shape in self.shapes.items()}

    def ravel(self, values: dict):
        return jnp.concatenate([jnp.ravel(values[name]) for name in self.shapes])


def sites_layout(model, *args, **kwargs) -> Unravel:
    """The unconstrained latent sites of ``model(*args, **kwargs)``, as an :class:`Unravel`.

    The model is traced abstractly (:func:`jax.eval_shape`): only the sites' shapes are
    read, so no small program is compiled to run it on numbers."""

    def unconstrained():
        start = handlers.substitute(handlers.seed(model, 0), substitute_fn=init_to_uniform())
        trace = handlers.trace(start).get_trace(*args, **kwargs)
        return {name: biject_to(site["fn"].support).inv(site["value"])
                for name, site in trace.items()
                if site["type"] == "sample" and not site["is_observed"]}

    with TRACING:
        shapes = jax.eval_shape(unconstrained)
    return Unravel({name: value.shape for name, value in shapes.items()})


def _mode_search_model(spec, structure: Structure, example: dict, model, unravel):
    """The model the mode search optimises, as ``(its spec, the model, its
    unflattening)``, and the map from its optimum (and the fit's data) to the sampler's
    coordinates.

    Centred offsets (``offset ~ Normal(0, sd)``) give a joint density that grows without
    bound as ``sd`` and the offsets shrink together, so an optimiser can run down that
    funnel to a useless "mode". The non-centred twin of the model (``offset = sd * z``,
    ``z ~ Normal(0, 1)``) has the same posterior and a bounded density: its mode is
    found instead and mapped to the centred coordinates. Partially pooled terms in level
    coordinates (centred by construction) are searched in the natural coordinates and
    mapped to their levels' level coordinates.
    """
    design = view(structure, example)
    pairs = centred_sites(spec, design)
    if not pairs:
        return (spec, model, unravel), lambda x, data: x
    factor = level_factor(spec, design) if spec.coordinates == "level" else ""
    pooled_levels = bool(factor) and spec.pooling != "none"
    # The twin samples every offset non-centred. Level terms pooled across this design's
    # levels have centred offsets in level coordinates, so the twin samples them in
    # natural coordinates; where a spec pools its level terms by a factor this design
    # does not vary, they stay centred (no offset is sampled), as a valid spec needs.
    keeps_level = spec.coordinates == "level" and not pooled_levels
    pools_terms = spec.pooling != "none" and any(t in spec.vary for t in spec.law.level_terms)
    twin_spec = dataclasses.replace(
        spec, coordinates=spec.coordinates if keeps_level else "natural",
        parameterization=({t: "centred" for t in spec.law.level_terms}
                          if keeps_level and pools_terms else "noncentred"))
    twin = data_model(twin_spec, structure)
    twin_unravel = sites_layout(twin, example)
    terms = spec.law.level_terms if pooled_levels else ()
    level = [(spec.law.param(t).sampled_name, f"{t}_sd_{factor}", f"{t}_z_{factor}")
             for t in terms]
    names = []
    for name, by in pairs:
        sd, z, offset = offset_sites(name, by)
        if z in twin_unravel.shapes and name not in terms:  # integrated runs: no site
            names.append((sd, z, offset))

    def to_sampler(x, data):
        values = twin_unravel(x)
        constrained = constrain_fn(twin, (data,), {}, values)
        if level:
            logs = [jnp.log(constrained[site]) + constrained[sd] * values.pop(z)
                    for site, sd, z in level]
            log_level, logits = terms_to_level(logs)
            values.update(zip(level_coordinate_names(spec, factor), [log_level, *logits],
                              strict=True))
        for sd, z, offset in names:
            values[offset] = constrained[sd] * values.pop(z)
        return unravel.ravel(values)

    return (twin_spec, twin, twin_unravel), to_sampler


def _mass_mask(dense_mass, unravel, dim: int) -> np.ndarray | None:
    """The sampler's mass matrix shape (:func:`.sampler.block_mask`): None for a diagonal
    one (``dense_mass=False``), all ones for a dense one (``True``), and for blocks
    (tuples of site names, NumPyro's form) dense within each block and diagonal
    elsewhere. A block may name a pooled parameter's offsets in either form
    (:func:`~scalinglaws.model.sampled_as`): it holds the form this program samples."""
    if dense_mass is False:
        return None
    if dense_mass is True:
        return block_mask(dim, None)
    index = unravel(np.arange(dim))
    named = [[sampled_as(n, index) for n in block] for block in dense_mass]
    blocks = [np.concatenate([np.ravel(index[n]) for n in block if n is not None]).astype(int)
              for block in named if any(n is not None for n in block)]
    return block_mask(dim, blocks)


class Program:
    """The compiled mode search, sampler and post-processing of one model structure.

    Built by :func:`program`; every method takes batched inputs with a leading axis (one
    entry per fit-and-start or fit-and-chain) and padded data from
    :func:`scalinglaws.model.pad`, stacked along that axis.
    """

    def __init__(self, spec, structure: Structure, settings: Settings, example: dict):
        self.structure, self.settings = structure, settings
        model = self.model = data_model(spec, structure)
        self.unravel = sites_layout(model, example)
        self.dim = self.unravel.size
        search, to_sampler = _mode_search_model(spec, structure, example, model,
                                                self.unravel)
        #: the spec whose model the mode search optimises (centred offsets are searched
        #: in their non-centred twin): programs with equal ``search_spec`` find the same
        #: optima, which :meth:`curvature` maps to each one's own coordinates
        self.search_spec = search[0]

        # Jitted, so that the model is traced and differentiated once: the Hessian and
        # NUTS call it from several places, and each call would trace the model again.
        # The sampler and the optimiser see one flat vector, not a dict of sites: every
        # step of NUTS then moves one array instead of one per site.
        potential_and_grad = jax.jit(jax.value_and_grad(
            lambda x, data: potential_energy(model, (data,), {}, self.unravel(x))))

        search_potential = jax.jit(
            lambda x, data: potential_energy(search[1], (data,), {}, search[2](x)))

        def objective(x, data):
            return finite_objective(search_potential(x, data))

        def solve(x0, data):
            return bfgs(jax.value_and_grad(partial(objective, data=data)), x0,
                        settings.max_iter)

        mask = _mass_mask(settings.dense_mass, self.unravel, self.dim)

        def curvature(x, data):
            mode = to_sampler(x, data)
            return mode, hessian(lambda x: potential_and_grad(x, data)[1], mode)

        nuts = dict(draws=settings.draws, max_tree_depth=settings.max_tree_depth, mask=mask)

        def start(key, mode, hess):
            # the chain's key gives its start too (engine.sampler.start_noise)
            return laplace_start(hess, mode, key, mask, jitter=START_JITTER)

        def chain(tuning, key, mode, hess, data):
            x0, inv_mass = start(key, mode, hess)
            return nuts_chain(lambda x: potential_and_grad(x, data), key, x0,
                              inv_mass=inv_mass, **tuning, **nuts)

        def chains(tuning, keys, modes, hessians, data):
            x0, inv_mass = jax.vmap(start)(keys, modes, hessians)
            return nuts_chains(potential_and_grad, keys, x0, inv_mass=inv_mass,
                               args=(data,), **tuning, **nuts)

        def values(xs, data):
            def one(x):
                sample = constrain_fn(model, (data,), {}, self.unravel(x),
                                      return_deterministic=True)
                site = handlers.trace(handlers.substitute(model, data=sample)).get_trace(
                    data)["y"]
                return sample, site["fn"].log_prob(site["value"])

            return jax.vmap(one)(xs)

        @jax.jit
        def seeded(seed):
            key_mode, key_sample = jax.random.split(jax.random.PRNGKey(seed))
            return (jax.random.split(key_sample, settings.chains),
                    jax.random.uniform(key_mode, (settings.n_starts, self.dim),
                                       minval=-START_RADIUS, maxval=START_RADIUS))

        self._seeded = seeded
        self._seeded_program = Executables(seeded.lower, brief=True)
        # a law built in Python (registered or not): its programs are not exported
        identity = f"{spec.to_json()}|{structure!r}|{settings!r}" if spec.portable else None

        def key(role: str) -> str | None:
            return None if identity is None else f"{role}|{identity}"

        self._solve = _Batched(solve, settings.n_starts, brief=True, key=key("mode search"),
                               loops=True)
        self._curvature = _Batched(curvature, 1, brief=True, key=key("curvature"))
        self._chain = _Batched(chain, settings.chains, key=key("sampler"), lockstep=chains,
                               shared=True, loops=True)
        self._values = _Batched(values, settings.chains, brief=True, key=key("values"))

    def compile_ahead(self, keys, per_fit: dict, per_chain: dict) -> None:
        """Start compiling the sampler, curvature and post-processing programs in the
        background, in that order (the sampler is the longest to compile), so that they
        compile while the mode search runs: for the chains' ``keys`` and the fits' padded
        data stacked once per fit (``per_fit``) and once per chain (``per_chain``), as
        :meth:`sample`, :meth:`curvature` and :meth:`constrained` will receive them."""
        fits = jax.tree_util.tree_leaves(per_fit)[0].shape[0]
        n, dim, f64 = keys.shape[0], self.dim, jnp.result_type(float)

        def floats(*shape):
            return jax.ShapeDtypeStruct(shape, f64)

        tuning = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                                        _tuning(0, 0.0))
        self._chain.compile_ahead(tuning, keys, floats(n, dim), floats(n, dim, dim),
                                  per_chain)
        self._curvature.compile_ahead(floats(fits, dim), per_fit)
        self._values.compile_ahead(floats(n, self.settings.draws, dim), per_chain)

    def keys_like(self, fits: int) -> jax.ShapeDtypeStruct:
        """The shape and dtype of the chains' keys of ``fits`` fits (:meth:`seeded`'s,
        stacked), read without running or compiling anything."""
        keys, _ = jax.eval_shape(self._seeded, np.int64(0))
        return jax.ShapeDtypeStruct((fits * keys.shape[0], *keys.shape[1:]), keys.dtype)

    def seeded(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """One fit's random inputs from its ``seed``: its chains' keys and its mode
        search's starting points, drawn uniformly in the unconstrained box (one small
        compiled program serves every seed)."""
        seed = np.int64(seed)
        return tuple(np.asarray(a) for a in self._seeded_program(seed)(seed))

    def find_modes(self, x0: np.ndarray, data: dict) -> tuple[np.ndarray, np.ndarray]:
        """BFGS from every row of ``x0`` (with its row of ``data``): optima, energies, in
        the coordinates of the model searched (:attr:`search_spec`)."""
        xs, energies = self._solve(x0, data)
        return np.asarray(xs), np.asarray(energies)

    def curvature(self, x: np.ndarray, data: dict) -> tuple[np.ndarray, np.ndarray]:
        """Every row of ``x``, an optimum of :meth:`find_modes` (with its row of
        ``data``), in the sampler's coordinates, and the potential's Hessian there."""
        modes, hessians = self._curvature(x, data)
        return np.asarray(modes), np.asarray(hessians)

    def sample(self, keys, modes: np.ndarray, hessians: np.ndarray, data: dict, *,
               warmup: int, target_accept: float) -> dict:
        """NUTS chains started from the Laplace approximation at ``modes`` (with their
        ``hessians``; :func:`.sampler.laplace_start`), ``warmup`` iterations adapting
        towards ``target_accept`` before the draws: unconstrained draws ``x`` and the
        sampler statistics."""
        draws = self._chain(_tuning(warmup, target_accept), keys, modes, hessians, data)
        return {"x": draws.z, **sample_stats(draws)}

    def constrained(self, x, data: dict) -> tuple[dict, np.ndarray]:
        """Every sampled and deterministic site, and the per-row log likelihood, of draws
        ``x`` (batch, draws, dim)."""
        sites, loglik = self._values(x, data)
        return jax.tree_util.tree_map(np.asarray, sites), np.asarray(loglik)


def _tuning(warmup: int, target_accept: float) -> dict:
    """The sampler's arguments that are not its program's shape: the warm-up's length,
    its schedule (:func:`.sampler.warmup_schedule`) and the target acceptance."""
    return dict(warmup=np.int64(warmup), target_accept=np.float64(target_accept),
                schedule=warmup_schedule(warmup))


_PROGRAMS = ProgramCache(limit=MAX_PROGRAMS)


def program(spec, structure: Structure, settings: Settings, example: dict) -> Program:
    """The compiled :class:`Program` of ``(spec, structure, settings)``, built once per
    process (``example``: padded data of that structure, used to read the site shapes;
    see :class:`~scalinglaws.model.ProgramCache` for how specs are keyed).
    """
    enable_x64()
    persistent_cache()
    with TRACING:  # one thread builds it; another asking for it meanwhile waits for it
        return _PROGRAMS.get(spec, (structure, settings),
                             lambda: Program(spec, structure, settings, example))


def stack(datas: list[dict], repeats: int) -> dict:
    """Padded data of several fits stacked along a new leading axis, each ``repeats`` times
    (one entry per start or chain)."""
    return jax.tree_util.tree_map(lambda *xs: np.repeat(np.stack(xs), repeats, axis=0),
                                  *datas)


__all__ = ["CACHE_ENV", "Executables", "FAILED_START", "NON_FINITE", "Program", "Settings",
           "best_start", "finite_objective", "finite_starts", "over_entries",
           "persistent_cache", "program", "sites_layout", "stack"]
