"""The package's exception and warning types.

Every error a user can cause is a :class:`ScalingLawError` whose message names what is
wrong (the column, rows, parameter or file) and how to fix it.
"""

from __future__ import annotations


class ScalingLawError(ValueError):
    """Bad input to scalinglaws: the message says what is wrong and how to fix it.

    Examples
    --------
    >>> try:
    ...     raise ScalingLawError("column 'N' is missing; pass inputs={'N': <your column>}")
    ... except ValueError as err:
    ...     print(err)
    column 'N' is missing; pass inputs={'N': <your column>}
    """


class ScalingLawWarning(UserWarning):
    """A result that may be wrong: divergences, bad R-hat, low ESS, a fallback taken."""
