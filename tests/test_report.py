"""The HTML report (scalinglaws.report): content, self-containment, and a real browser.

The browser test renders the report (with its Predictions section) in headless Chromium
(Debian packages ``chromium`` and ``chromium-driver``; ``.ci/run`` installs them) and
checks that the page loads, logs nothing to the console and that every figure decodes.
Without Chromium it skips, unless the ``CI`` environment variable is set, where a missing
browser is a failure.

The predictions of a law of N and D (the compute-optimal split) use the session's
``hierarchical_fit`` (tests/conftest.py), which other test modules share.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import os
import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from test_losstoloss import _fake_fit

import scalinglaws as sl
from scalinglaws import cli
from scalinglaws import losstoloss as ltl
from scalinglaws.compare import compare
from scalinglaws.decide import compute_optimal
from scalinglaws.display import Note, notes_box, strongest
from scalinglaws.errors import ScalingLawError
from scalinglaws.fitset import combined_data
from scalinglaws.plotting import plot_holdout
from scalinglaws.report import build_html, data_hash, fit_html, predictions, report, spec_hash
from scalinglaws.validate import extrapolation

SAMPLER = {"chains": 2, "warmup": 200, "draws": 200}
#: Report size budget for two small models with validation (bytes).
MAX_BYTES = 2_000_000
#: A laptop screen.
WINDOW = (1366, 900)
#: Targets of the module's report: a run at a stated size for one dataset, one for every
#: dataset (C = 6ND for the compute laws), and a FLOP budget.
AT = [{"C": 1e21, "dataset": "web"}, {"N": 7e9, "D": 1.4e11}]
COMPUTE = [1e22]
VALUE_COLUMNS = ["median", "lower", "upper", "pred_lower", "pred_upper"]


@pytest.fixture(scope="module")
def runs():
    return sl.synthetic.sweep(seed=0, sizes=(1e7, 3e7, 1e8, 3e8), multipliers=(10, 20, 50))


@pytest.fixture(scope="module")
def validation(runs):
    models = {
        "by_dataset": sl.ScalingModel("compute", inputs={"C": "C"}, target="loss",
                                      vary={"E": "dataset"}),
        "shared": sl.ScalingModel("compute", inputs={"C": "C"}, target="loss"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extrapolation(models, runs, holdout="largest", by="C", **SAMPLER)


@pytest.fixture(scope="module")
def fits(validation):
    """The two refits below the largest compute (same rows, so comparable)."""
    t = validation.thresholds[0]
    return {name: validation.fits[(name, t)] for name in validation.models}


@pytest.fixture(scope="module")
def page_path(fits, validation, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    return report(fits, path, validation=validation, title="Test <report>", at=AT,
                  compute=COMPUTE)


@pytest.fixture(scope="module")
def page(page_path):
    return page_path.read_text()


# --- content ------------------------------------------------------------------------------

def test_sections_and_content(page, fits):
    for heading in ("Summary", "Predictions", "Data", "Model: by_dataset", "Model: shared",
                    "Comparison (PSIS-LOO, WAIC, stacking)",
                    "Extrapolation validation (leave largest scale out)", "Provenance",
                    "Hierarchy", "Sampler diagnostics", "Priors", "Parameters (90% intervals)",
                    "Per threshold", "Coverage of predictive intervals"):
        assert f">{heading}</h" in page, heading
    assert "<title>Test &lt;report&gt;</title>" in page          # user text is escaped
    assert f"scalinglaws {sl.__version__}" in page
    for fit in fits.values():
        assert spec_hash(fit.spec) in page
    assert data_hash(combined_data(fits)) in page
    assert "E: varies by dataset (3 levels: " not in page          # level count, not names
    assert "E: varies by dataset (3 levels); partial pooling" in page
    assert "E: shared by all runs." in page
    assert "LogNormal" in page and "HalfNormal" in page            # priors
    assert "divergences" in page and "max R-hat" in page           # diagnostics
    assert ("All sampler checks passed" in page) or ("The sampler reported problems" in page)
    assert "elpd_loo" in page and "stacking" in page and "k_flag" in page
    assert "coverage_90" in page and "are_mean" in page
    assert 'alt="L(C) = E + A C^{-\\alpha}"' in page               # the law as math


def test_self_contained(page):
    assert "<script" not in page
    assert "default-src 'none'; img-src data:" in page             # CSP: no network at all
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    images = re.findall(r'<img [^>]*src="data:image/(png|svg\+xml);base64,([^"]+)"', page)
    assert len(images) == page.count("<img ")
    kinds = [kind for kind, _ in images]
    # per model: its formula and fit figure; then comparison, calibration, holdout plots
    assert kinds.count("svg+xml") == 2 and kinds.count("png") == 5
    for kind, data in images:
        raw = base64.b64decode(data, validate=True)
        if kind == "png":
            pixels = mpimg.imread(io.BytesIO(raw), format="png")
            assert pixels.shape[0] > 100 and pixels.shape[1] > 300
        else:
            assert ET.fromstring(raw).tag.endswith("svg")


def test_size(page_path):
    assert 50_000 < page_path.stat().st_size < MAX_BYTES


def test_build_without_validation(fits):
    page = build_html(fits)
    assert "Not run. Pass <code>holdout=</code>" in page
    one = build_html(fits["shared"])
    assert "Model: compute" in one and "1 model(s)" in one


def test_not_comparable_is_explained(fits):
    other = dataclasses.replace(
        fits["shared"], spec=sl.ScalingModel("compute", inputs={"C": "C"}, target="true_loss"))
    page = build_html({"a": fits["by_dataset"], "b": other})
    assert "cannot be compared by PSIS-LOO" in page and "different targets" in page


def test_fit_html(fits):
    fragment = fit_html(fits["by_dataset"], "mine")
    assert "Model: mine" in fragment and "Priors" in fragment and "<img" in fragment
    assert "data:image/png" not in fragment                        # no fit figure


@pytest.mark.parametrize("call, message", [
    (lambda f, d: report(f, d / "report.txt"), "should end in .html"),
    (lambda f, d: report(f, d / "missing" / "r.html"), "does not exist"),
    (lambda f, d: report(42, d / "r.html"), "report takes"),
    (lambda f, d: report({}, d / "r.html"), "no fits"),
    (lambda f, d: report([3], d / "r.html"), "report takes fits"),
    (lambda f, d: report({"a": 3.5}, d / "r.html"), "LossToLossFit.*got float 3.5"),
    (lambda f, d: build_html(f, interval=1.5), "interval"),
])
def test_bad_arguments(fits, tmp_path, call, message):
    with pytest.raises(ScalingLawError, match=message):
        call(fits, tmp_path)


def test_cli_report(fits, tmp_path, capsys):
    paths = [str(fit.save(tmp_path / f"{name}.nc")) for name, fit in fits.items()]
    out = tmp_path / "cli.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(["report", *paths, "--out", str(out), "--title", "CLI",
                         "--at", "N=7e9,D=1.4e11", "--at", "C=1e21,dataset=web",
                         "--compute", "1e21,1e22", "--compute", "1e23"]) == 0
    assert "saved" in capsys.readouterr().out
    text = out.read_text()
    assert "Model: by_dataset" in text and "Model: shared" in text and "<title>CLI</title>" in text
    assert ">Predictions</h2>" in text and "C=1e23" in text and "dataset=web" in text
    assert cli.main(["report", *paths, "--out", str(out), "--compute", "lots"]) == 2
    assert "--compute takes numbers" in capsys.readouterr().err
    assert cli.main(["report", *paths, "--out", str(out), "--at", "N=7e9,datset=web"]) == 2
    assert "did you mean 'dataset'" in capsys.readouterr().err


# --- predictions --------------------------------------------------------------------------

def _same_as_predict(table, fit, name, columns):
    """The table's rows of one model equal ``fit.predict`` at the same rows."""
    rows = table[table["model"] == name].reset_index(drop=True)
    expected = fit.predict(rows[columns], interval=table.attrs["interval"], seed=0)
    np.testing.assert_allclose(rows[VALUE_COLUMNS].to_numpy(float),
                               expected[VALUE_COLUMNS].to_numpy(float), rtol=1e-12)
    return rows


def test_predictions_at_rows_per_group(fits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        table = predictions(fits, at=AT + [{"C": 3e20, "dataset": "code"}], interval=0.8)
    by = table[table["model"] == "by_dataset"]
    # C given for web; N, D for every fitted dataset; C for code
    assert by["group"].tolist() == ["dataset=web", "dataset=books", "dataset=code",
                                    "dataset=web", "dataset=code"]
    assert by["target"].tolist()[:2] == ["C=1e21", "N=7e9, D=1.4e11"]
    np.testing.assert_allclose(by["C"].iloc[1:4], 6 * 7e9 * 1.4e11)   # derived C = 6ND
    np.testing.assert_allclose(by["tokens_per_param"].iloc[1:4], 20)
    shared = table[table["model"] == "shared"]
    assert shared["group"].tolist() == ["all"] * 3                   # no factor: one row each
    _same_as_predict(table, fits["by_dataset"], "by_dataset", ["C", "dataset"])
    _same_as_predict(table, fits["shared"], "shared", ["C"])
    assert (by["lower"] < by["median"]).all() and (by["median"] < by["upper"]).all()
    # The predictive interval adds the noise: wider than the credible one, up to the Monte
    # Carlo error of 80% quantiles from 400 draws.
    widths = by["pred_upper"] - by["pred_lower"], by["upper"] - by["lower"]
    assert (widths[0] > 0.9 * widths[1]).all()
    assert (table["decades_beyond"] > 1).all()                          # past 1e19 FLOPs
    notes = table.attrs["notes"]
    assert [n.severity for n in notes] == ["info"]
    assert "shared does not vary by dataset" in notes[0]


def test_every_target_is_stacked_by_the_comparisons_weights(fits, page):
    weights = sl.compare(fits)["weight"].to_dict()
    datasets = sorted(fits["by_dataset"].levels()["dataset"])
    c = 6 * 7e9 * 1.4e11
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        table = predictions(fits, at=AT, weights=weights, interval=0.8)
        expected = sl.stacked_predict(
            fits, {"C": [1e21] + [c] * len(datasets), "dataset": ["web", *datasets]},
            weights=weights, interval=0.8)
    stacked = table[table["model"] == "(stacked)"]
    # the first target names its dataset; the second does not, and by_dataset varies by
    # it: a row at each of the datasets both models were fitted on
    assert stacked[["target", "group", "dataset"]].values.tolist() == [
        ["C=1e21", "dataset=web", "web"],
        *(["N=7e9, D=1.4e11", f"dataset={d}", d] for d in datasets)]
    np.testing.assert_array_equal(stacked[VALUE_COLUMNS].to_numpy(float),
                                  expected[VALUE_COLUMNS].to_numpy(float))
    assert stacked["decades_beyond"].iloc[0] == table.loc[
        table["target"] == "C=1e21", "decades_beyond"].max()
    assert table.attrs["weights"] == pytest.approx(weights)
    assert not any("no stacked row" in n for n in table.attrs["notes"])
    assert ">(stacked) <small>(the models' predictive draws mixed" in page
    # without weights (one model, or models that cannot be compared) there is no such row
    assert "(stacked)" not in set(predictions(fits, at=AT)["model"])


def test_predictions_compute_optimal_and_stated_split(hierarchical_fit):
    fit = hierarchical_fit
    budgets = [1e21, 1e23]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        optimal = predictions({"chin": fit}, compute=budgets)
        stated = predictions({"chin": fit}, compute=budgets, tokens_per_param=20)
        best = compute_optimal(fit, budgets)
    levels = list(fit.design.levels()["dataset"])
    for table in (optimal, stated):
        assert table["group"].tolist() == [f"dataset={lv}" for lv in levels] * 2
        np.testing.assert_allclose(table["C"], np.repeat(budgets, len(levels)))
        np.testing.assert_allclose(6 * table["N"] * table["D"], table["C"], rtol=1e-12)
        _same_as_predict(table, fit, "chin", ["N", "D", "dataset"])
    np.testing.assert_allclose(optimal["N"], best["N_median"], rtol=1e-12)
    assert optimal["target"].iloc[0] == "C=1e21 (compute-optimal)"
    np.testing.assert_allclose(stated["N"], np.sqrt(stated["C"] / 120), rtol=1e-12)
    np.testing.assert_allclose(stated["tokens_per_param"], 20)
    assert stated["target"].iloc[-1] == "C=1e23 (D/N=20)"
    fitted = fit.data()
    beyond = np.maximum(np.log10(stated["N"] / fitted["N"].max()),
                        np.log10(stated["D"] / fitted["D"].max())).clip(lower=0)
    np.testing.assert_allclose(stated["decades_beyond"], beyond, rtol=1e-12)


def test_a_target_a_model_cannot_take_is_a_note(fits, hierarchical_fit):
    both = {"chin": hierarchical_fit, "compute": fits["shared"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        table = predictions(both, at=[{"C": 1e21}, {"N": 7e9, "D": 1.4e11}])
        page = build_html(both, at={"C": 1e21}, compute=1e22, tokens_per_param=30)
    assert table[table["model"] == "compute"]["target"].tolist() == ["C=1e21",
                                                                     "N=7e9, D=1.4e11"]
    assert table[table["model"] == "chin"]["target"].unique().tolist() == ["N=7e9, D=1.4e11"]
    errors = [n for n in table.attrs["notes"] if n.severity == "error"]
    assert len(errors) == 1 and "chin: no row for target 1 (C=1e21)" in errors[0]
    assert "compute=" in errors[0]                                   # says how to split it
    assert ">Predictions</h2>" in page and "C=1e22 (D/N=30)" in page
    assert re.search(r'<div class="box error">(?:(?!</div>).)*chin: no row for target 1',
                     page, re.S)
    # a law with a variable no target gives: no rows and a note, not an error
    odd = dataclasses.replace(fits["shared"], spec=sl.ScalingModel(
        "downstream_exp", inputs={"L": "C"}, target="loss"))
    table = predictions({"odd": odd}, compute=[1e22])
    assert table.empty and [n.severity for n in table.attrs["notes"]] == ["error"]
    assert "odd: no rows for compute= budgets" in table.attrs["notes"][0]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "need targets"),
    ({"at": {"N": 7e9}, "tokens_per_param": 20}, "give compute= as well"),
    ({"compute": 1e22, "tokens_per_param": -1}, "tokens_per_param is D/N"),
    ({"compute": [1e22, -1]}, "compute must be positive"),
    ({"at": {"N": 7e9, "datset": "web"}}, "did you mean 'dataset'"),
    ({"at": {"C": "big"}}, "C must be a positive number"),
    ({"at": 7e9}, "at must be a dict"),
])
def test_prediction_targets_are_checked(fits, kwargs, message):
    with pytest.raises(ScalingLawError, match=message):
        predictions(fits, **kwargs)


def test_fit_figure_reaches_and_marks_the_targets(fits):
    fit = fits["by_dataset"]
    targets = pd.DataFrame({"C": [1e21, 1e23], "dataset": ["web", "code"]})
    fig = fit.plot(targets=targets)
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in axes] == [f"dataset = {lv}" for lv in
                                               ("books", "code", "web")]
    assert axes[1].get_xlim()[1] >= 1e23 and axes[2].get_xlim()[1] >= 1e21
    assert axes[0].get_xlim()[1] < 1e21                             # no target there
    assert any(line.get_marker() == "*" for line in axes[1].get_lines())
    fig.canvas.draw()
    labels = [t.get_text() for t in axes[0].get_yticklabels() if t.get_text()]
    assert len(labels) >= 3 and all(re.fullmatch(r"\d+(\.\d+)?", t) for t in labels), labels
    plt.close(fig)


def test_holdout_ticks_do_not_overlap(validation):
    fig = plot_holdout(validation)                    # every held-out run at one C
    fig.canvas.draw()
    ax = fig.axes[0]
    shown = [t for t in ax.get_xticklabels() if t.get_text()]
    assert shown and all(re.fullmatch(r"[\d.]+e\d+", t.get_text()) for t in shown)
    boxes = [t.get_window_extent() for t in shown]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    scales = validation.points[validation.by].unique()
    assert {t.get_text() for t in shown} <= {f"{v:.3g}".replace("e+", "e") for v in scales}
    plt.close(fig)


# --- loss-to-loss fits --------------------------------------------------------------------

#: A loss-to-loss target: the inputs of the compute law, every level of the link's factor.
LINK_AT = {"N": 7e9, "D": 1.4e11}


@pytest.fixture(scope="module")
def link_pairs():
    pairs = ltl.pair_train_to_train(ltl.simulate(seed=0), x="web", y=["code", "books"],
                                    loss="loss")
    pairs.loc[[22, 33], "loss_y"] = np.nan        # input models without this output
    return pairs


@pytest.fixture(scope="module")
def link_fit(link_pairs):
    """Prior draws standing in for a posterior (no NUTS): the page's mechanics only."""
    spec = ltl.LossToLossModel("chinchilla", vary={"kappa": "dataset_y", "K": "dataset_y",
                                                    "E_y": "dataset_y"},
                               priors={"kappa_sd": sl.Prior("HalfNormal", 0.1)})
    return _fake_fit(spec, link_pairs, n=100)


@pytest.fixture(scope="module")
def shared_link_fit(link_pairs):
    """A second model of the same pairs: one link for both outputs."""
    return _fake_fit(ltl.LossToLossModel("chinchilla"), link_pairs, n=100)


@pytest.fixture(scope="module")
def link_page(link_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        return build_html({"link": link_fit}, at=LINK_AT, title="Links")


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section[^>]* id="{anchor}">(.*?)</section>', page, re.S)
    assert match, anchor
    return match.group(1)


def _rows(html: str) -> list[str]:
    """The first cell of each body row of the tables in ``html``."""
    bodies = re.findall(r"<tbody>(.*?)</tbody>", html, re.S)
    return [cell for body in bodies for cell in re.findall(r"<tr><th[^>]*>([^<]*)</th>", body)]


def test_loss_to_loss_page_has_every_section(link_page, link_fit):
    for heading in ("Summary", "Predictions", "Data", "Model: link", "Hierarchy",
                    "Sampler diagnostics", "Priors", "Parameters (90% intervals)",
                    "Comparison (PSIS-LOO, WAIC, stacking)",
                    "Extrapolation validation (leave largest scale out)", "Provenance"):
        assert f">{heading}</h" in link_page, heading
    summary = _section(link_page, "summary")
    assert "1 model(s) of loss_y fitted to 40 runs" in summary
    assert "cannot be compared" not in link_page
    assert "<script" not in link_page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", link_page)


def test_loss_to_loss_data_section_names_the_roles(link_page):
    data = _section(link_page, "data")
    ranges = dict(re.findall(r'<tr><th class="text">([^<]+)</th><td class="text">([^<]+)</td>',
                             data))
    assert ranges == {"N": "input N", "D": "input D", "loss_x": "input loss x",
                      "loss_y": "target y"}
    # 38 of the 40 rows observe the target; every row observes the input loss
    assert re.search(r'>loss_y</th><td class="text">target y</td><td class="num">38</td>', data)
    assert re.search(r'>loss_x</th><td class="text">input loss x</td><td class="num">40</td>',
                     data)
    assert "<b>dataset_y</b> (factor): books (20), code (20)." in data
    assert "<b>run_x</b> (input model): 20 levels" in data


def test_loss_to_loss_model_section_shows_law_and_link(link_page, link_fit):
    model = _section(link_page, "model-link")
    spec = link_fit.spec
    assert "<b>Compute law</b> <code>chinchilla</code> (Hoffmann et al. 2022" in model
    assert f"<b>Link</b> <code>shifted_power</code> ({spec.link.citation})" in model
    alts = re.findall(r'<img class="math" alt="([^"]+)" src="data:image/svg\+xml;base64,', model)
    assert alts == [spec.law.latex, spec.link.latex]
    assert spec.link.description.split(".")[0] in model
    assert "Inputs: L = column <code>loss_x</code>; target y: column <code>loss_y</code>." in model
    for line in ("x.E: shared by all runs.",
                 "link.kappa: varies by dataset_y (2 levels); partial pooling",
                 "Noise (link.sigma): Normal on log loss_y, one sigma.",
                 "Latent input losses: one per input model (20, with 38 output observations)",
                 "E_x of the link is the compute law&#x27;s irreducible loss x.E."):
        assert line in model, line
    assert "L_ref" not in model                    # the link has no reference scale
    assert "max R-hat" in model and "min bulk ESS" in model
    priors = model[model.index(">Priors</h3>"):model.index(">Parameters (90% intervals)")]
    names = _rows(priors)
    assert names[:2] == ["x.E", "x.A_ref"] and names[-1] == "tau"
    assert {"x.sigma", "link.kappa", "link.kappa_sd", "link.E_y", "link.sigma"} <= set(names)
    assert all(n.startswith(("x.", "link.")) for n in names[:-1])
    set_by = dict(re.findall(r'<tr><th class="text">([^<]+)</th><td class="text">[^<]*</td>'
                             r'<td class="text">(\w+)</td>', priors))
    assert set_by["link.kappa_sd"] == "model" and set_by["x.sigma"] == "default"
    assert "HalfNormal&#x27;, scale=0.1)" in priors              # kappa_sd as set
    params = model[model.index(">Parameters (90% intervals)"):]
    assert _rows(params)[:len(link_fit.summary())] == list(link_fit.summary().index)
    figures = re.findall(r'<img alt="link: data[^"]*" src="data:image/png;base64,([^"]+)"',
                         model)
    assert len(figures) == 1
    pixels = mpimg.imread(io.BytesIO(base64.b64decode(figures[0])), format="png")
    assert pixels.shape[0] > 100 and pixels.shape[1] > 300
    assert "fitted pairs, observed input loss against output" in model
    assert "Stars: the prediction targets" in model
    assert spec_hash(spec) in model and "&quot;link&quot;: &quot;shifted_power&quot;" in model
    provenance = _section(link_page, "provenance")
    assert "chinchilla -&gt; shifted_power" in provenance and spec_hash(spec) in provenance
    assert '<td class="num">40</td>' in provenance                 # len(fit.data())


def test_loss_to_loss_predictions_at_rows(link_page, link_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        table = predictions({"link": link_fit}, at=LINK_AT, interval=0.8)
    assert table["group"].tolist() == ["dataset_y=books", "dataset_y=code"]
    rows = _same_as_predict(table, link_fit, "link", ["N", "D", "dataset_y"])
    np.testing.assert_allclose(rows["C"], 6 * 7e9 * 1.4e11)
    fitted = link_fit.data()
    beyond = max(np.log10(7e9 / fitted["N"].max()), np.log10(1.4e11 / fitted["D"].max()), 0)
    np.testing.assert_allclose(rows["decades_beyond"], beyond, rtol=1e-12)
    shown = _section(link_page, "predictions")
    assert "link <small>(chinchilla -&gt; shifted_power on loss_y)</small>" in shown
    assert _rows(shown) == ["N=7e9, D=1.4e11"] * 2
    assert "dataset_y=books" in shown and "dataset_y=code" in shown


def test_loss_to_loss_figure_marks_the_targets(link_fit):
    targets = pd.DataFrame({"N": [7e9, 7e9], "D": [1.4e11, 1.4e11],
                            "dataset_y": ["code", "books"]})
    fig = link_fit.plot(targets=targets.iloc[:1])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    stars = [[line for line in ax.get_lines() if line.get_marker() == "*"] for ax in axes]
    assert [ax.get_title() for ax in axes] == ["dataset_y = books", "dataset_y = code"]
    assert [len(s) for s in stars] == [0, 1]                   # only in its own panel
    x_star = stars[1][0].get_xdata()[0]
    expected = link_fit.predict(targets.iloc[:1])
    np.testing.assert_allclose(x_star, expected["x_median"], rtol=1e-12)
    np.testing.assert_allclose(stars[1][0].get_ydata()[0], expected["median"], rtol=1e-12)
    curve = [line for line in axes[1].get_lines() if line.get_marker() != "*"][0]
    assert curve.get_xdata().min() <= x_star <= curve.get_xdata().max()
    plt.close(fig)


def test_loss_to_loss_fits_are_compared(link_fit, shared_link_fit):
    fits = {"by_output": link_fit, "shared": shared_link_fit}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = build_html(fits)
        table = compare(fits)
    comparison = _section(page, "comparison")
    assert "cannot be compared" not in comparison
    assert _rows(comparison) == list(table.index)                   # ranked as compare ranks
    assert "elpd_loo" in comparison and "PSIS-LOO comparison plot" in comparison
    assert f"Best by PSIS-LOO (new runs like the fitted ones): {table.index[0]}" in page
    assert "Model: by_output" in page and "Model: shared" in page


def test_fits_of_both_kinds_are_shown_not_compared(fits, link_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        page = build_html({"core": fits["shared"], "link": link_fit}, at=LINK_AT)
    comparison = _section(page, "comparison")
    assert "cannot be compared by PSIS-LOO" in comparison
    assert "different targets" in comparison and "of a loss-to-loss fit" in comparison
    assert "elpd_loo" not in comparison
    summary = html.unescape(_section(page, "summary"))
    assert ("Not compared by PSIS-LOO: fits 'core' and 'link' model different targets"
            in summary)
    assert "2 model(s) of loss, loss_y fitted each to its own runs (core: 33, link: 40)" \
        in summary
    data = _section(page, "data")                  # each model's rows, with their roles
    assert data.index("<h3>core</h3>") < data.index(">target</td>") < data.index(
        "<h3>link</h3>") < data.index(">target y</td>")
    provenance = _section(page, "provenance")
    for name, fit in {"core": fits["shared"], "link": link_fit}.items():
        assert data_hash(fit.data()) in provenance, name
    assert "Model: core" in page and "Model: link" in page
    assert "<b>Law</b> <code>compute</code>" in page and "<b>Link</b>" in page
    shown = _section(page, "predictions")
    assert "core <small>(compute on loss)</small>" in shown
    assert "link <small>(chinchilla -&gt; shifted_power on loss_y)</small>" in shown


def test_a_saved_loss_to_loss_fit_is_reported(link_fit, tmp_path, capsys):
    path = link_fit.save(tmp_path / "pairs.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        written = report(str(path), tmp_path / "one.html")
        page = written.read_text()
        assert "Model: pairs" in page and "<b>Link</b> <code>shifted_power</code>" in page
        assert cli.main(["report", str(path), "--out", str(tmp_path / "cli.html"),
                         "--at", "N=7e9,D=1.4e11,dataset_y=code", "--compute", "1e22",
                         "--tokens-per-param", "20"]) == 0
    assert "saved" in capsys.readouterr().out
    text = (tmp_path / "cli.html").read_text()
    assert "Model: pairs" in text and "x.E" in text and "link.kappa" in text
    shown = _section(text, "predictions")
    assert _rows(shown) == ["N=7e9, D=1.4e11", "C=1e22 (D/N=20)", "C=1e22 (D/N=20)"]


def test_budgets_of_a_loss_to_loss_fit_split_at_its_optimum_or_a_stated_ratio(link_fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        optimal = predictions({"link": link_fit}, compute=[1e22])
        split = predictions({"link": link_fit}, compute=[1e22], tokens_per_param=20)
        table = sl.decide.compute_optimal(link_fit, [1e22])
    assert optimal["target"].tolist() == ["C=1e22 (compute-optimal)"] * 2
    np.testing.assert_allclose(optimal["N"], table["N_median"], rtol=1e-12)
    _same_as_predict(optimal, link_fit, "link", ["N", "D", "dataset_y"])
    assert split["group"].tolist() == ["dataset_y=books", "dataset_y=code"]
    np.testing.assert_allclose(split["N"], np.sqrt(1e22 / 120), rtol=1e-12)
    np.testing.assert_allclose(split["tokens_per_param"], 20)
    _same_as_predict(split, link_fit, "link", ["N", "D", "dataset_y"])


def test_loss_to_loss_holdout_validates_in_the_report(link_fit, monkeypatch):
    """holdout= refits the loss-to-loss model below the largest compute and scores the
    held-out outputs (each refit's posterior: the fit's own draws, not NUTS)."""
    refits = []

    def fit_many(self, frames, **settings):
        refits.append({t: len(f) for t, f in frames.items()})
        return {t: dataclasses.replace(link_fit, frame=f[list(link_fit.frame.columns)])
                for t, f in frames.items()}

    monkeypatch.setattr(ltl.LossToLossModel, "fit_many", fit_many)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        page = build_html({"link": link_fit}, holdout="largest", by="C")
    assert refits == [{2e9 * 3e11 * 6: 38}]                 # all but the largest run's 2
    validation = _section(page, "extrapolation")
    assert "Not run" not in validation
    for heading in ("Per threshold", "Coverage of predictive intervals"):
        assert f">{heading}</h3>" in validation
    assert "coverage_90" in validation and "calibration of held-out predictions" in validation
    assert "Best when extrapolating to larger runs (held-out elpd): link" in page


# --- notes by severity --------------------------------------------------------------------

def test_notes_box_takes_its_strongest_note():
    assert strongest([]) == "info" and strongest(["plain"]) == "info"
    assert strongest([Note("a", "ok"), Note("b", "info")]) == "ok"
    assert strongest([Note("a", "ok"), Note("b", "error"), Note("c", "warn")]) == "error"
    box = notes_box([Note("fine", "ok"), Note("WAIC is unreliable", "warn")])
    assert box.startswith('<div class="box warn">') and '<li class="ok">fine</li>' in box
    assert notes_box([], "lead", "ok").startswith('<div class="box ok"><p>lead</p>')
    with pytest.raises(ValueError, match="severity"):
        Note("x", "fatal")
    import copy
    import pickle

    note = Note("k > 0.7", "warn")
    for same in (copy.deepcopy(note), pickle.loads(pickle.dumps(note))):
        assert same == note and same.severity == "warn"


def test_unreliable_scores_are_warnings_not_green(fits, page):
    notes = compare(fits).notes
    assert notes[0].severity == "info"                              # the ranking
    for note in notes:
        if "unreliable" in note or "Pareto k" in note or "sampler reported" in note:
            assert note.severity == "warn", note
    boxes = re.findall(r'<div class="box (\w+)">(.*?)</div>', page, re.S)
    assert boxes
    for kind, body in boxes:
        items = re.findall(r'<li class="(\w+)">', body)
        assert kind == strongest([Note("", i) for i in items], kind if not items else "info")
        if "unreliable" in body or "Pareto k" in body:
            assert kind in ("warn", "error"), body[:200]


# --- a real browser -----------------------------------------------------------------------

#: Injected before the report's CSP: records console errors, failed loads and CSP
#: violations, then (on load) draws every image onto a canvas (which forces a full decode)
#: and writes the results into the DOM for --dump-dom.
PROBE = """<script>
(function () {
  var errors = [];
  function record(kind, text) { errors.push(kind + ": " + text); }
  var original = console.error;
  console.error = function () {
    record("console.error", Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
  window.addEventListener("error", function (e) {
    record("error", e.message || (e.target && (e.target.src || e.target.href)) || "failed");
  }, true);
  window.addEventListener("securitypolicyviolation", function (e) {
    record("csp", e.violatedDirective + " " + e.blockedURI);
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var failed = [];
    images.forEach(function (img) {
      var ok = img.complete && img.naturalWidth > 0 && img.naturalHeight > 0;
      if (ok) {
        try {
          var canvas = document.createElement("canvas");
          canvas.width = img.naturalWidth;
          canvas.height = img.naturalHeight;
          var ctx = canvas.getContext("2d");
          ctx.drawImage(img, 0, 0);
          var px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          var painted = 0;
          for (var i = 3; i < px.length; i += 4) { if (px[i] > 0) { painted++; } }
          ok = painted > 0;
        } catch (err) { ok = false; record("decode", img.alt + " " + err); }
      }
      if (!ok) { failed.push(img.alt || img.src.slice(0, 40)); }
    });
    var out = document.createElement("pre");
    out.id = "__browser_check";
    out.textContent = JSON.stringify({images: images.length, failed: failed, errors: errors,
                                      title: document.title,
                                      width: document.documentElement.scrollWidth,
                                      headings: document.querySelectorAll("h2").length,
                                      sections: Array.prototype.map.call(
                                        document.querySelectorAll("section[id]"),
                                        function (s) { return s.id; }),
                                      predictions: document.querySelectorAll(
                                        "#predictions tbody tr").length});
    document.body.appendChild(out);
  });
})();
</script>"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    found = _chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but Chromium is not installed: apt-get install -y chromium "
                        "chromium-driver")
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium "
                    "chromium-driver); the browser test runs in CI")
    return found


def _flags(browser: str, profile: Path) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--no-default-browser-check",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=10000"]


def render(browser: str, html_path: Path, work: Path) -> tuple[dict, list[str]]:
    """Load ``html_path`` (with the probe injected) in headless Chromium.

    Returns the probe's findings and the console lines Chromium logged.
    """
    probed = work / f"probed-{html_path.name}"
    probed.write_text(html_path.read_text().replace("<head>", "<head>" + PROBE, 1))
    done = subprocess.run([*_flags(browser, work / "profile"), "--dump-dom",
                           probed.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="__browser_check">(.*?)</pre>', done.stdout, re.S)
    assert match, f"the page did not finish loading; Chromium said:\n{done.stderr[-3000:]}"
    import html as _html

    found = json.loads(_html.unescape(match.group(1)))
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return found, console


def test_report_in_headless_chromium(browser, page_path, tmp_path):
    found, console = render(browser, page_path, tmp_path)
    assert found["title"] == "Test <report>"
    assert found["images"] == 7 and found["failed"] == [], found
    assert found["errors"] == [], found["errors"]
    assert console == [], console
    assert found["headings"] >= 8
    assert found["sections"][:3] == ["summary", "predictions", "data"], found["sections"]
    # by_dataset: C=1e21 for web, N, D and C=1e22 for each of 3 datasets; shared: 3 rows;
    # the stacked models: C=1e21 for web, N, D for each of 3 datasets
    assert found["predictions"] == 1 + 3 + 3 + 3 + 1 + 3, found
    assert found["width"] <= WINDOW[0], "the page scrolls sideways on a laptop screen"
    shot = tmp_path / "report.png"
    subprocess.run([*_flags(browser, tmp_path / "profile"), f"--screenshot={shot}",
                    page_path.resolve().as_uri()], capture_output=True, timeout=120)
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    assert np.ptp(pixels[..., :3]) > 0.5                          # not a blank page


def test_browser_check_can_fail(browser, page_path, tmp_path):
    """The probe sees a broken image, a remote image and a script the CSP blocks."""
    broken = tmp_path / "broken.html"
    broken.write_text(page_path.read_text().replace(
        "</main>", '<img alt="broken" src="data:image/png;base64,AAAA">'
                   '<img alt="remote" src="https://example.com/x.png">'
                   '<script>console.error("boom")</script></main>'))
    found, console = render(browser, broken, tmp_path)
    assert sorted(found["failed"]) == ["broken", "remote"]
    assert found["errors"] and console


def test_log_density_for_new_and_known_levels(fits, runs):
    """Held-out density with a group offset: known levels use theirs, new ones draw one."""
    from scipy.stats import norm

    from scalinglaws.validate import log_density

    fit = fits["by_dataset"]
    rows = runs.nlargest(3, "C")
    ll = log_density(fit, rows)
    draws = fit.predict_draws(rows)
    by_hand = norm.logpdf(np.log(rows["loss"].to_numpy()), np.log(draws["law"]),
                          fit.draws()["sigma"][:, None])
    np.testing.assert_allclose(ll, by_hand, rtol=1e-10)
    new = rows.assign(dataset="unseen")
    ll_new = log_density(fit, new)
    assert ll_new.shape == ll.shape and np.isfinite(ll_new).all()
    spread = np.log(fit.predict_draws(new)["law"]).std(axis=0)
    assert (spread > np.log(draws["law"]).std(axis=0)).all()      # a new level is less sure
