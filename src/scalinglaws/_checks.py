"""The shared argument checks: one place each for sampler and predict settings, interval
masses, seeds, keys of a table, factor labels, the kind of a fit, input files and output
paths, and the atomic write every saved file goes through.

Each check raises a :class:`~scalinglaws.errors.ScalingLawError` whose message names the
argument, the value given and what to pass instead. Nothing here imports above layer 0.
"""

from __future__ import annotations

import difflib
import math
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from contextlib import suppress
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ScalingLawError


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a near miss of ``name``, else ``""``.

    >>> did_you_mean("varry", ["vary", "priors"])
    " (did you mean 'vary'?)"
    >>> did_you_mean("zzz", ["vary"])
    ''
    """
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(value: Any, choices: Iterable[str], what: str) -> str:
    """``value`` if it is one of the strings ``choices``, else a :class:`ScalingLawError`
    naming ``what`` and the choices (an array or a list is refused, not compared).

    >>> check_choice("closed", ("auto", "closed"), "method")
    'closed'
    """
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise ScalingLawError(f"{what} must be one of {choices}, got {value!r}{hint}")
    return value


def check_flag(value: Any, what: str) -> bool:
    """``value`` as a bool if it is one (Python's or NumPy's), else a
    :class:`ScalingLawError` naming ``what``.

    >>> check_flag(np.True_, "predictive")
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ScalingLawError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def check_keys(table: Any, known: Iterable[str], where: str) -> dict[str, Any]:
    """``table`` as a dict after checking it is a mapping whose keys are all ``known``.

    ``where`` names the table in the message (``"model spec"``, ``"[law]"``).

    >>> check_keys({"law": "chinchilla"}, ["law", "vary"], "model spec")
    {'law': 'chinchilla'}
    >>> check_keys({"varry": {}}, ["law", "vary"], "model spec")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: model spec has unknown key 'varry' (did you mean \
'vary'?); its keys are ['law', 'vary']
    """
    table = check_mapping(table, where)
    known = list(known)
    for key in table:
        if key not in known:
            raise ScalingLawError(
                f"{where} has unknown key {key!r}{did_you_mean(key, known)}; its keys are "
                f"{sorted(known)}")
    return table


def check_names(value: Any, what: str, example: str, noun: str = "column name") -> list[str]:
    """A name (by default of a column; ``noun`` says of what) or a sequence of them as a
    list of ``str`` (possibly empty); a :class:`ScalingLawError` naming ``what`` for
    anything else.

    >>> check_names("loss", "loss_y", "'loss'"), check_names(("N", "D"), "on", "('N', 'D')")
    (['loss'], ['N', 'D'])
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence | np.ndarray | pd.Index) and all(
            isinstance(v, str) for v in value):
        return list(value)
    raise ScalingLawError(f"{what} must be a {noun} or a list of them (e.g. {example}), "
                          f"got {value!r}"[:300])


def check_name(value: Any, what: str) -> str:
    """``value`` if it is one column name (a ``str``), else a :class:`ScalingLawError`
    naming ``what``.

    >>> check_name(["a"], "loss")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: loss must be one column name, got ['a']
    """
    if not isinstance(value, str):
        raise ScalingLawError(f"{what} must be one column name, got {value!r}"[:300])
    return value


def check_mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a dict with string keys, or an error naming ``where``.

    >>> check_mapping([], "priors")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: priors must be a table (a dict; in TOML a section \
or { key = value }), got list []
    """
    if not isinstance(value, Mapping):
        raise ScalingLawError(
            f"{where} must be a table (a dict; in TOML a section or {{ key = value }}), got "
            f"{type(value).__name__} {value!r}"[:300])
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise ScalingLawError(f"{where} must have text keys, got {bad[:5]}")
    return dict(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool) that a float64 holds finitely.

    >>> is_finite_number(2.5), is_finite_number(10**400), is_finite_number(float("nan"))
    (True, False, False)
    """
    if not _is_real(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_count(value: Any, name: str, low: int, high: int | None = None,
                hint: str = "") -> int:
    """``value`` if it is an integer (not a bool) from ``low`` to ``high`` (no upper bound
    when None), else a :class:`ScalingLawError` naming ``name`` (``hint`` follows the
    bounds in the message).

    >>> check_count(80, "points", 2, 100_000)
    80
    >>> check_count(0, "max_tree_depth", 1, 20, " (default 10)")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: max_tree_depth must be an integer from 1 to 20 \
(default 10), got 0
    """
    if not _is_int(value) or value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"from {low} to {high:,}"
        raise ScalingLawError(f"{name} must be an integer {bounds}{hint}, got {value!r}"[:300])
    return int(value)


def check_seed(seed: Any) -> int:
    """``seed`` as an int, or an error: seeds are non-negative integers.

    >>> check_seed(3)
    3
    >>> check_seed("a")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: seed must be a non-negative integer (e.g. seed=0), \
got 'a'
    """
    if not _is_int(seed) or seed < 0 or seed >= 2**63:
        raise ScalingLawError(
            f"seed must be a non-negative integer (e.g. seed=0), got {seed!r}")
    return int(seed)


def check_fraction(value: Any, name: str, example: str = "0.9") -> float:
    """``value`` as a float strictly between 0 and 1 (a probability, a quantile, an
    interval's mass), or a :class:`ScalingLawError` naming ``name`` with an ``example``.

    >>> check_fraction(0.25, "quantile")
    0.25
    >>> check_fraction("0.5", "tolerance", "0.01 for 1%")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: tolerance must be between 0 and 1 (e.g. 0.01 for \
1%), got '0.5'
    """
    if not is_finite_number(value) or not 0 < float(value) < 1:
        raise ScalingLawError(f"{name} must be between 0 and 1 (e.g. {example}), got {value!r}")
    return float(value)


def check_interval(interval: Any) -> tuple[float, float]:
    """The lower and upper quantiles of a central interval of mass ``interval``.

    >>> check_interval(0.9)
    (0.04999999999999999, 0.95)
    >>> check_interval(90)
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: interval must be between 0 and 1 (e.g. 0.9 for \
90%), got 90
    """
    interval = check_fraction(interval, "interval", "0.9 for 90%")
    return (1 - interval) / 2, (1 + interval) / 2


def check_positive_numbers(values: Any, name: str, example: str) -> np.ndarray:
    """``values`` (one number or a flat sequence of them) as a float64 array, each positive
    and finite; a :class:`ScalingLawError` naming ``name`` with an ``example`` otherwise.

    >>> check_positive_numbers([1e7, 1e8], "sizes", "[1e7, 1e8]").tolist()
    [10000000.0, 100000000.0]
    >>> check_positive_numbers("abc", "sizes", "[1e7, 1e8]")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: sizes must be a positive number or a flat list of \
them (e.g. [1e7, 1e8]), got 'abc'
    """
    wrong = ScalingLawError(f"{name} must be a positive number or a flat list of them (e.g. "
                            f"{example}), got {values!r}"[:300])
    if values is None or isinstance(values, str | bytes | bool | np.bool_ | Mapping):
        raise wrong
    try:
        array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise wrong from None
    except OverflowError:  # an integer no float holds
        raise ScalingLawError(f"{name} holds a number too large for a float (above about "
                              f"1.8e308); expected e.g. {example}") from None
    if array.ndim != 1 or array.size == 0:
        raise wrong
    bad = ~np.isfinite(array) | (array <= 0)
    if bad.any():
        raise ScalingLawError(f"{name} must be positive and finite; got {array[bad].tolist()}")
    return array


def check_budgets(compute: Any) -> np.ndarray:
    """FLOP budgets (one number or a flat list) as a float64 array, each positive and finite.

    >>> check_budgets([1e21, 1e23]).tolist()
    [1e+21, 1e+23]
    >>> check_budgets(10**400)
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: compute holds a number too large for a float \
(above about 1.8e308); expected e.g. a FLOP budget C = 6ND such as 1e23
    """
    return check_positive_numbers(compute, "compute", "a FLOP budget C = 6ND such as 1e23")


def check_unwritten(columns: Any, written: Sequence[str], what: str = "data",
                    by: str = "predict") -> None:
    """Raise where ``columns`` (of the caller's ``what``) hold one that ``by`` writes,
    which would replace the caller's values.

    >>> check_unwritten(["N", "D", "rank"], ["cost", "rank"], "candidates", "next_run")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: candidates already has column(s) ['rank'], which \
next_run writes; rename or drop them first (e.g. candidates.drop(columns=['rank']))
    """
    present = set(columns)
    taken = [c for c in written if c in present]
    if taken:
        raise ScalingLawError(
            f"{what} already has column(s) {taken}, which {by} writes; rename or drop them "
            f"first (e.g. {what}.drop(columns={taken}))")


def check_predict_settings(*, interval: Any = 0.9, seed: Any = 0) -> tuple[float, float]:
    """Check the settings of a prediction; return the interval's quantiles.

    >>> check_predict_settings(interval=0.5, seed=1)
    (0.25, 0.75)
    """
    check_seed(seed)
    return check_interval(interval)


#: The most iterations (warm-up and draws) one chain may run.
MAX_ITERATIONS = 2**31 - 1


def check_sampler_settings(*, seed: Any, chains: Any, warmup: Any, draws: Any,
                           target_accept: Any, max_tree_depth: Any, dense_mass: Any,
                           n_starts: Any = 1, progress: Any = None) -> None:
    """Raise a :class:`ScalingLawError` for NUTS settings that cannot be used.

    Parameters
    ----------
    seed : int
        Non-negative integer.
    chains, warmup, draws, n_starts : int
        Integers >= 1 and at most :data:`MAX_ITERATIONS`, as is ``warmup + draws``.
    target_accept : float
        In [0.5, 1).
    max_tree_depth : int
        Integer from 1 to 20 (NUTS takes at most ``2**max_tree_depth`` steps per draw).
    dense_mass : bool or list
        True/False, or a list of tuples of site names (block mass matrices).
    progress : bool or None
        Show a progress bar; None decides from the terminal.

    Examples
    --------
    >>> check_sampler_settings(seed=0, chains=2, warmup=10, draws=10, target_accept=0.9,
    ...                        max_tree_depth=10, dense_mass=True)
    >>> check_sampler_settings(seed=0, chains=2, warmup=10, draws=10, target_accept=0.9,
    ...                        max_tree_depth=0, dense_mass=True)
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: max_tree_depth must be an integer from 1 to 20 \
(default 10), got 0
    """
    check_seed(seed)
    for name, value in (("chains", chains), ("warmup", warmup), ("draws", draws),
                        ("n_starts", n_starts)):
        check_count(value, name, 1)
    if warmup + draws > MAX_ITERATIONS:
        raise ScalingLawError(
            f"warmup + draws must be at most {MAX_ITERATIONS:,} iterations per chain (a "
            f"sampler counts them in 32-bit integers), got {warmup + draws:,}; run more "
            f"chains instead")
    for name, value in (("chains", chains), ("n_starts", n_starts)):
        if value > MAX_ITERATIONS:
            raise ScalingLawError(f"{name} must be at most {MAX_ITERATIONS:,} (a sampler "
                                  f"counts in 32-bit integers), got {value:,}")
    if not _is_real(target_accept) or not 0.5 <= float(target_accept) < 1:
        raise ScalingLawError(
            f"target_accept must be a number in [0.5, 1) (default 0.9; raise it towards "
            f"0.99 against divergences), got {target_accept!r}")
    check_count(max_tree_depth, "max_tree_depth", 1, 20, " (default 10)")
    blocks = (isinstance(dense_mass, list) and dense_mass
              and all(isinstance(b, tuple) and b and all(isinstance(s, str) for s in b)
                      for b in dense_mass))
    if not isinstance(dense_mass, (bool, np.bool_)) and not blocks:
        raise ScalingLawError(
            f"dense_mass must be True, False or a list of tuples of site names, got "
            f"{dense_mass!r}")
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise ScalingLawError(f"progress must be True, False or None, got {progress!r}")


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str,
                    hint: str) -> None:
    """Raise a :class:`ScalingLawError` naming the ``columns`` that ``frame`` (called
    ``what``) lacks, the columns it has, and what to do (``hint``).

    >>> require_columns(pd.DataFrame({"N": [1.0]}), ["N", "D"], "runs", "Add D.")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: runs has no column 'D'; it has ['N']. Add D.
    """
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if missing:
        raise ScalingLawError(f"{what} has no column {', '.join(map(repr, missing))}; it has "
                              f"{list(frame.columns)[:20]}. {hint}")


def factor_labels(values: Any, column: str) -> np.ndarray:
    """The levels of a factor column as strings, the form they are compared in.

    A number and its text are one level (``1``, ``1.0`` and ``"1"`` are all ``"1"``),
    so a level read back from a saved fit or typed on the command line matches the one
    fitted; a column holding both a number and the same text raises, because it cannot
    be told which rows belong together.

    >>> factor_labels([0, 1, 2.0, "web"], "dataset").tolist()
    ['0', '1', '2', 'web']
    >>> factor_labels([1, "1"], "dataset")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: factor column 'dataset' holds both the number 1 and \
the text '1', which would be one level; make the column one type (e.g. \
data['dataset'].astype(str))
    """
    cells = np.asarray(values, dtype=object).ravel()
    try:
        codes, uniques = pd.factorize(cells)
    except TypeError:  # a cell that cannot be a level: a dict, a list, a set
        odd = next(v for v in cells if not isinstance(v, Hashable))
        raise ScalingLawError(f"factor column {column!r} holds a {type(odd).__name__} "
                              f"({odd!r}); a level is one text or number per row"[:300]
                              ) from None
    names = []
    first: dict[str, tuple[bool, Any]] = {}
    for value in uniques:
        numeric = _is_real(value)
        if numeric and float(value).is_integer() and abs(float(value)) < 2**63:
            label = str(int(value))
        else:
            label = str(value)
        names.append(label)
        seen = first.setdefault(label, (numeric, value))
        if seen[0] != numeric:
            number, text = (seen[1], value) if seen[0] else (value, seen[1])
            raise ScalingLawError(
                f"factor column {column!r} holds both the number {number!r} and the text "
                f"{text!r}, which would be one level; make the column one type (e.g. "
                f"data[{column!r}].astype(str))")
    return np.asarray(names, dtype=object)[codes].astype(str)


def unfitted_levels(factor: str, new: Sequence[Any], fitted: Sequence[Any],
                    varies: bool = True) -> str:
    """What to say of levels of ``factor`` a fit never saw (``new``; the fit's levels
    ``fitted``): they are predicted from the population, so their intervals are wider;
    one that is a fitted number written another way is named with the fitted spelling.
    ``varies=False``: the fit has no offsets by ``factor`` because its data held one
    level (the fit dropped it from ``vary``), so a new level is predicted as that one.

    >>> message = unfitted_levels("seed", ["1.0", "7"], ["0", "1", "2"])
    >>> message[:54]
    "seed level(s) ['1.0', '7'] were not in the fitted data"
    >>> message[message.index("Check"):]
    "Check the spelling if a fitted level was meant ('1.0' is the fitted '1')"
    >>> message = unfitted_levels("dataset", ["code"], ["web"], varies=False)
    >>> message[message.index("the fitted data held"):message.index(": these")]
    "the fitted data held only 'web', so the fit has no offsets by dataset"
    """
    fitted = [str(v) for v in fitted]
    if not varies and len(fitted) == 1:
        return (f"{factor} level(s) {[str(v) for v in new]} were not in the fitted data; "
                f"the fitted data held only {fitted[0]!r}, so the fit has no offsets by "
                f"{factor}: these rows are predicted as {fitted[0]!r} rows are, and their "
                f"intervals hold no variation between levels. Fit rows of two or more "
                f"{factor} levels to predict a new one")
    numbers = {}
    for level in fitted:
        numbers.setdefault(_as_number(level), level)
    numbers.pop(None, None)  # text that is no number has no numeric twin
    twins = [f"{level!r} is the fitted {numbers[number]!r}" for level in map(str, new)
             if (number := _as_number(level)) in numbers]
    return (f"{factor} level(s) {[str(v) for v in new]} were not in the fitted data (levels "
            f"{fitted}); they are predicted from the population of levels, so their "
            f"intervals are wider. Check the spelling if a fitted level was meant"
            + (f" ({'; '.join(twins)})" if twins else ""))


def _as_number(text: str) -> float | None:
    """``text`` read as a number, or None where it is not one."""
    try:
        return float(text)
    except ValueError:
        return None


def as_path(value: Any, what: str) -> Path:
    """``value``, a ``str`` or an ``os.PathLike`` such as ``pathlib.Path``, as a Path with
    a leading ``~`` expanded to the home folder; a :class:`ScalingLawError` naming
    ``what`` for anything else.

    >>> as_path("fit.nc", "fit file")
    PosixPath('fit.nc')
    >>> as_path("~/fit.nc", "fit file") == Path.home() / "fit.nc"
    True
    >>> as_path(None, "fit file")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: fit file must be a path (a str or pathlib.Path), \
got None
    """
    if isinstance(value, str | os.PathLike):
        with suppress(TypeError):  # a PathLike of bytes
            path = Path(value)
            try:
                return path.expanduser()
            except RuntimeError:  # ~name of an unknown user: a relative folder named so
                return path
    raise ScalingLawError(f"{what} must be a path (a str or pathlib.Path), got {value!r}"[:300])


def check_input_file(path: Any, what: str) -> Path:
    """``path`` as a Path after checking it is an existing, non-empty file.

    >>> check_input_file("/", "data file")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: data file / is a folder, not a file; pass the \
file itself
    """
    path = as_path(path, what)
    try:
        if not path.exists():
            raise ScalingLawError(f"{what} {path} does not exist")
        if path.is_dir():
            raise ScalingLawError(f"{what} {path} is a folder, not a file; pass the file itself")
        if path.stat().st_size == 0:
            raise ScalingLawError(f"{what} {path} is empty (0 bytes)")
    except ScalingLawError:
        raise
    except (OSError, ValueError) as err:
        raise ScalingLawError(f"{what} {str(path)[:200]!r} cannot be opened ({err})") from None
    return path


def check_output_path(path: Any, what: str = "output file",
                      suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a Path after checking a file can be written there (before any work).

    The folder must exist and be writable and ``path`` must not be a folder; with
    ``suffixes``, the name must end in one of them.

    >>> check_output_path("/no/such/folder/fit.nc", "fit file")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: cannot write fit file /no/such/folder/fit.nc: \
folder /no/such/folder does not exist; create it first
    """
    path = as_path(path, what)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ScalingLawError(
            f"{what} {str(path)!r} should end in {' or '.join(suffixes)}")
    try:
        return _writable(path, what)
    except ScalingLawError:
        raise
    except (OSError, ValueError) as err:
        raise ScalingLawError(f"cannot write {what} {str(path)[:200]!r} ({err})") from None


def make_folder(path: Any, what: str, keyword: str) -> Path | None:
    """``path`` as a folder that exists and can be written (created if need be; None stays
    None), before any work; a :class:`ScalingLawError` naming ``what`` and the argument
    ``keyword`` to change where it cannot be.

    >>> make_folder("/proc/no-folder-here", "figure folder", "out")
    Traceback (most recent call last):
    ...
    scalinglaws.errors.ScalingLawError: cannot create the figure folder /proc/no-folder-here \
([Errno 2] No such file or directory: '/proc/no-folder-here'); pass another out=
    """
    if path is None:
        return None
    folder = as_path(path, what)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ScalingLawError(f"cannot create the {what} {folder} ({err}); pass another "
                              f"{keyword}=") from None
    try:
        probe_write(folder)
    except OSError as err:
        raise ScalingLawError(f"cannot write in the {what} {folder} ({err.strerror}); pass "
                              f"another {keyword}=") from None
    return folder


def probe_write(folder: Any) -> None:
    """Create and remove a file in ``folder``; the ``OSError`` where that fails. A real
    file, not :func:`os.access`, which says yes to root on ``/proc`` or a read-only mount.

    >>> import tempfile
    >>> probe_write(tempfile.mkdtemp())
    """
    handle, probe = tempfile.mkstemp(prefix=".scalinglaws-", suffix=".probe", dir=folder)
    os.close(handle)
    os.unlink(probe)


def _writable(path: Path, what: str) -> Path:
    if path.is_dir():
        raise ScalingLawError(f"cannot write {what} {path}: it is a folder; give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise ScalingLawError(
            f"cannot write {what} {path}: folder {folder} does not exist; create it first")
    try:
        probe_write(folder)
    except OSError as err:
        raise ScalingLawError(
            f"cannot write {what} {path}: folder {folder} is not writable "
            f"({err.strerror or err}); choose another place") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ScalingLawError(f"cannot write {what} {path}: the file is read-only")
    return path


def write_atomic(path: Any, write: Callable[[Path], Any], what: str = "file") -> Path:
    """Write a file by calling ``write(temporary_path)`` and renaming it onto ``path``.

    The temporary file sits beside ``path`` (same folder, same file system), so a crash
    or a full disk leaves any existing ``path`` as it was and never half a file.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(target, lambda p: p.write_text("hi")).read_text()
    'hi'
    """
    path = check_output_path(path, what)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, (path.stat().st_mode & 0o777) if path.exists() else 0o666 & ~mask)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise ScalingLawError(f"could not write {what} {path}: {err.strerror or err}; "
                              f"nothing was changed there") from None
    finally:
        with suppress(OSError):
            tmp.unlink()
    return path
