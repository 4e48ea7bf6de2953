"""The output loss as a law of the compute law's inputs: :func:`output_law` (any compute
law through any link, evaluated per draw) and :func:`translate_law` (a Kaplan law through
the shifted power link is again a Kaplan law, exactly); :func:`link_core`, the link as
the core samples it; and the prefixes that name each side's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import ScalingLawError
from ..laws import Law

#: Prefixes of the compute law's and the link's sites and parameters (``x.E``, ``link.K``).
X_PREFIX = "x"
LINK_PREFIX = "link"


def link_core(link: Law) -> Law:
    """The link as the core samples it: ``E_x`` removed (it is the compute law's ``E``)."""
    if "E_x" not in link.param_names:
        return link
    params = tuple(p for p in link.params if p.name != "E_x")

    def fn(v, p):
        return link.fn(v, {**p, "E_x": 0.0})

    def log_fn(v, p):
        return link.log(v, {**p, "E_x": 0.0})

    return Law(name=f"{link.name}_given_E_x", variables=link.variables, params=params, fn=fn,
               log_fn=log_fn, latex=link.latex, citation=link.citation, output=link.output,
               description=f"{link.name} with E_x taken from the compute law")


def output_law(law: Law, link: Law) -> Law:
    """The output loss as a law of the compute law's inputs: ``link(law(inputs))``.

    Its parameters are the compute law's as ``x.<name>`` and the link's (``E_x`` is the
    compute law's ``E``) as ``link.<name>``: the keys of a loss-to-loss fit's
    ``predict_draws(...)["params"]``. The run-to-run deviation ``tau`` is not in it: it
    is the noise-free output of a run on the compute law.

    >>> from scalinglaws.laws import get
    >>> law = output_law(get("kaplan"), get("shifted_power"))
    >>> law.variables, law.param_names[:2], law.param_names[-1]
    (('N', 'D'), ('x.E', 'x.A'), 'link.E_y')
    """
    core = link_core(link)
    x_cut, link_cut = len(X_PREFIX) + 1, len(LINK_PREFIX) + 1

    def split(v, p):
        px = {k[x_cut:]: value for k, value in p.items() if k.startswith(X_PREFIX + ".")}
        pl = {k[link_cut:]: value for k, value in p.items()
              if k.startswith(LINK_PREFIX + ".")}
        if "E_x" in link.param_names:
            pl["E_x"] = px["E"]
        return {"L": law.fn(v, px)}, pl

    def fn(v, p):
        return link.fn(*split(v, p))

    def log_fn(v, p):
        return link.log(*split(v, p))

    params = tuple(replace(p, name=f"{X_PREFIX}.{p.name}", reference=False)
                   for p in law.params) + tuple(
        replace(p, name=f"{LINK_PREFIX}.{p.name}") for p in core.params)
    return Law(name=f"{law.name} -> {link.name}", variables=law.variables, params=params,
               fn=fn, log_fn=log_fn if link.output == "positive" else None,
               latex=f"{link.latex}, \\quad L_x = {law.latex}", output=link.output,
               description=f"{link.name} of the {law.name} law: the output loss of a run "
                           f"that lies on the compute law")



def translate_law(law: Mapping[str, Any], link: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Translate a Kaplan law of loss x into the Kaplan law of loss y through the link.

    With ``L_x = E + ((A/N)^(alpha/beta) + B/D)^beta`` and ``L_y = K (L_x - E)^kappa + E_y``,
    ``L_y`` is again a Kaplan law with ``alpha' = kappa alpha``, ``beta' = kappa beta``,
    ``A' = A K^(1/(kappa alpha))``, ``B' = B K^(1/(kappa beta))`` and ``E' = E_y`` (exactly;
    Brandfonbrener et al. 2025). Arrays are translated elementwise, so posterior draws give
    a posterior of the translated law.

    Parameters
    ----------
    law : dict
        ``E``, ``A``, ``B``, ``alpha``, ``beta`` of the Kaplan law of L_x.
    link : dict
        ``K``, ``kappa``, ``E_y`` of the link.

    Returns
    -------
    dict
        ``E``, ``A``, ``B``, ``alpha``, ``beta`` of the Kaplan law of L_y.

    Examples
    --------
    >>> out = translate_law({"E": 2.0, "A": 6e7, "B": 5e9, "alpha": 0.4, "beta": 0.45},
    ...                     {"K": 0.6, "kappa": 1.07, "E_y": 1.3})
    >>> round(float(out["alpha"]), 3), round(float(out["E"]), 2)
    (0.428, 1.3)
    """
    missing = [k for k in ("E", "A", "B", "alpha", "beta") if k not in law] + [
        k for k in ("K", "kappa", "E_y") if k not in link]
    if missing:
        raise ScalingLawError(f"translate_law needs the Kaplan parameters E, A, B, alpha, beta "
                              f"and the link's K, kappa, E_y; missing {missing}")
    a, b = np.asarray(law["alpha"], float), np.asarray(law["beta"], float)
    kappa, log_k = np.asarray(link["kappa"], float), np.log(np.asarray(link["K"], float))
    return {"E": np.asarray(link["E_y"], float) + 0 * a,
            "A": np.exp(np.log(np.asarray(law["A"], float)) + log_k / (kappa * a)),
            "B": np.exp(np.log(np.asarray(law["B"], float)) + log_k / (kappa * b)),
            "alpha": kappa * a, "beta": kappa * b}


