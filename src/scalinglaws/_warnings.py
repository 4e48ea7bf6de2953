"""Python's warning filters, changed safely while several threads run.

The filters are one list for the whole process, and ``warnings.catch_warnings``
restores on exit the list it saved on entry: two threads inside it at once restore
each other's lists in the wrong order and leave filters in force for good (four threads
calling :func:`scalinglaws.compare` at once left ``("always", UserWarning)`` and two of
ArviZ's "ignore" filters behind). Every change the package makes goes through
:func:`filtered`, which holds one lock while its filters are in force, so no two such
blocks overlap. While one is in force, its filters apply to every thread, as Python's
filters always do.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Held while the package's warning filters are in force (re-entrant: a block may call
#: code that filters again).
FILTERS = threading.RLock()


@contextmanager
def filtered(*rules: tuple[str, type[Warning]],
             record: bool = False) -> Iterator[list[warnings.WarningMessage] | None]:
    """Python's warning filters with ``rules`` added for the block, one
    ``(action, category)`` each as ``warnings.simplefilter`` takes them (later rules
    win), holding :data:`FILTERS`; with ``record``, the block's warnings are collected
    into the yielded list instead of shown.

    >>> with filtered(("always", UserWarning), record=True) as caught:
    ...     warnings.warn("kept")
    >>> [str(w.message) for w in caught]
    ['kept']
    """
    with FILTERS, warnings.catch_warnings(record=record) as caught:
        for action, category in rules:
            warnings.simplefilter(action, category)
        yield caught
