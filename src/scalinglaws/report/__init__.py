"""Self-contained HTML reports of fits, comparisons and extrapolation validation.

>>> import scalinglaws as sl
>>> sl.report({"chinchilla": fit1, "overtraining": fit2}, "report.html")  # doctest: +SKIP
PosixPath('report.html')
"""

from .builder import build_html, data_hash, fit_html, report, spec_hash

__all__ = ["build_html", "data_hash", "fit_html", "report", "spec_hash"]
