"""Self-contained HTML reports of fits, comparisons and extrapolation validation.

>>> import scalinglaws as sl
>>> sl.report({"chinchilla": fit1, "overtraining": fit2}, "report.html")  # doctest: +SKIP
PosixPath('report.html')
"""

from ..display import data_hash, fit_html, spec_hash
from .builder import build_html, report
from .targets import predictions

__all__ = ["build_html", "data_hash", "fit_html", "predictions", "report", "spec_hash"]
