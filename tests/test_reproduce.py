"""Tests of scalinglaws.reproduce: the protocols on tiny synthetic frames (fast), the specs
against models/*.toml, and the real-data reproductions (``-m slow``)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws import ScalingLawError, read_spec
from scalinglaws.cli import main
from scalinglaws.reproduce import brandfonbrener2025 as bf
from scalinglaws.reproduce import common, scoring
from scalinglaws.reproduce import gadre2024 as gd
from scalinglaws.reproduce import hitchhiker2024 as hh
from scalinglaws.reproduce import hitchhiker2024_protocol as hp
from scalinglaws.reproduce import llm_line2025 as ll

# the package, not the function `scalinglaws.reproduce` that __init__ re-exports
rp = importlib.import_module("scalinglaws.reproduce")
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SCALINGLAWS_DATA", ROOT.parent / "shared" / "data"))


# --- entry point and errors ---------------------------------------------------------------


def test_unknown_study_names_the_studies():
    with pytest.raises(ScalingLawError, match="unknown study 'gadre'.*'gadre2024'.*"
                                              "'hitchhiker2024'"):
        rp.reproduce("gadre")
    with pytest.raises(ScalingLawError, match="unknown study"):
        rp.reproduce(2024)


@pytest.mark.parametrize("study", ["gadre2024", "brandfonbrener2025", "llm_line2025",
                                   "hitchhiker2024"])
def test_missing_data_is_a_clear_error(tmp_path, study):
    with pytest.raises(ScalingLawError, match=f"{study}/.*missing.*data_dir"):
        rp.reproduce(study, data_dir=tmp_path, quick=True)


def test_bad_seed_and_unwritable_out(tmp_path):
    with pytest.raises(ScalingLawError, match="seed must be a non-negative integer"):
        rp.reproduce("gadre2024", seed=0.5)
    with pytest.raises(ScalingLawError, match="quick must be True or False"):
        rp.reproduce("gadre2024", quick=np.array([True, False]))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ScalingLawError, match="cannot create the figure folder"):
        rp.reproduce("gadre2024", out=blocker / "sub", data_dir=tmp_path)
    with pytest.raises(ScalingLawError, match="cannot create the fit folder"):
        rp.reproduce("gadre2024", fits=blocker / "sub", data_dir=tmp_path)


def test_fits_folder_saves_each_fit_and_reads_it_back(tmp_path, monkeypatch):
    """With fits=, a fit is saved as it is made and read back (not refitted) when the
    same model, data and settings come again; anything different is a new fit."""
    runs = sl.synthetic.sweep(seed=0)
    model = sl.ScalingModel("chinchilla", target="loss")
    settings = rp.Settings(chains=1, warmup=60, draws=40, fits=tmp_path / "fits")
    settings.fits.mkdir()
    made = common.fit_model(model, runs, settings, print, "demo fit")
    saved = list(settings.fits.glob("demo_fit-*.nc"))
    assert len(saved) == 1

    def refit(*args, **kwargs):
        raise AssertionError("refitted a fit that was saved")

    monkeypatch.setattr(sl.ScalingModel, "fit", refit)
    again = common.fit_model(model, runs, settings, print, "demo fit")
    np.testing.assert_array_equal(again.idata.posterior["E"].values,
                                  made.idata.posterior["E"].values)
    changed = [(model, runs, rp.Settings(**{**vars(settings), "seed": 1})),
               (model, runs.iloc[1:], settings),
               (sl.ScalingModel("chinchilla", target="loss", pooling="none"), runs, settings)]
    for other_model, other_runs, other_settings in changed:
        with pytest.raises(AssertionError, match="refitted"):
            common.fit_model(other_model, other_runs, other_settings, print, "demo fit")


def test_cli_reports_errors(tmp_path, capsys):
    assert main(["reproduce", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown study 'nope'" in capsys.readouterr().err
    assert main(["reproduce", "gadre2024", "--data-dir", str(tmp_path / "none"),
                 "--out", str(tmp_path)]) == 2
    assert "is missing" in capsys.readouterr().err


def test_reproduction_prints_tables_notes_and_figures(tmp_path):
    table = pd.DataFrame({"target": ["a"], "truth": [2.0], "our_median": [2.1]})
    result = rp.Reproduction("gadre2024", "Title", table, {"extra": table}, ("a note",),
                             (tmp_path / "f.png",), 12.0, rp.Settings.make(quick=True))
    text = str(result)
    assert text.startswith("Title\n=====")
    assert "extra:" in text and "- a note" in text and "f.png" in text
    assert "2 chains x (300 warmup + 300 draws)" in text and "quick" in text


# --- shared scoring -------------------------------------------------------------------------


def test_score_targets_and_are():
    point = np.tile([2.0, 3.0], (1000, 1))
    predictive = point + np.linspace(-0.1, 0.1, 1000)[:, None]
    out = rp.score_targets([2.05, 3.5], point, predictive)
    assert out["covered"].tolist() == [True, False]
    np.testing.assert_allclose(out["rel_err_%"], [100 * 0.05 / 2.05, 100 * 0.5 / 3.5])
    with pytest.raises(ScalingLawError, match="3 truths"):
        rp.score_targets([1, 2, 3], point, predictive)
    assert rp.are([1.0, 2.0], [1.1, 1.8]) == pytest.approx(0.1)
    with pytest.raises(ScalingLawError, match="one shape"):
        rp.are([1.0], [1.0, 2.0])


# --- Gadre -----------------------------------------------------------------------------------


def _gadre_synthetic(truth: dict) -> pd.DataFrame:
    configs = [(1.1e7, 20), (7.9e7, 20), (1.5e8, 20), (4.1e8, 20), (1.1e7, 320),
               (1.4e9, 20), (1.4e9, 640), (6.9e9, 20)]
    roles = ["fit_loss_and_error"] * 5 + ["fit_error_only", "target", "target"]
    rows = []
    for dataset, offset in (("rpj", 0.0), ("c4_original", -0.3)):
        for (n, m), role in zip(configs, roles, strict=True):
            d = n * m
            loss = (truth["E"] + offset + truth["a"] * (6 * n * n) ** -truth["eta"]
                    + truth["b"] * (6 * d * d) ** -truth["eta"])
            err = 0.86 - 2.2 * np.exp(-0.71 * loss)
            rows.append({"run": f"{dataset}-{n:g}-{m}", "dataset": dataset, "N": n, "D": d,
                         "M": float(m), "loss_c4_val": loss, "err_avg_subset": err,
                         "paper_default_role": role})
    return pd.DataFrame(rows)


def test_gadre_split_and_paper_fit_recover_a_known_law():
    truth = {"E": 1.84, "a": 212.0, "b": 367.0, "eta": 0.136}
    frame = _gadre_synthetic(truth)
    parts = rp.gadre_split(frame)
    assert len(parts["loss_fit"]) == 10 and len(parts["error_fit"]) == 12
    assert parts["targets"]["target"].tolist() == ["1.4B, M=640", "6.9B, M=20"] * 2
    paper = rp.gadre_paper_fit(parts["loss_fit"], parts["error_fit"])
    assert paper["rpj"]["loss"]["eta"] == pytest.approx(0.136, rel=1e-3)
    assert paper["rpj"]["loss"]["E"] == pytest.approx(1.84, rel=1e-3)
    assert paper["rpj"]["error"]["gamma"] == pytest.approx(0.71, rel=1e-3)
    pred = gd.paper_predict(paper, parts["targets"])
    np.testing.assert_allclose(pred["loss"], parts["targets"]["loss_c4_val"], rtol=1e-4)
    np.testing.assert_allclose(pred["error"], parts["targets"]["err_avg_subset"], rtol=1e-3)


def test_gadre_frame_and_split_errors():
    frame = _gadre_synthetic({"E": 1.8, "a": 200.0, "b": 300.0, "eta": 0.13})
    with pytest.raises(ScalingLawError, match="no column 'paper_default_role'"):
        rp.gadre_split(frame.drop(columns="paper_default_role"))
    with pytest.raises(ScalingLawError, match="no rows for 'targets'"):
        rp.gadre_split(frame[frame["paper_default_role"] != "target"])
    broken = frame.copy()
    broken.loc[0, "err_avg_subset"] = np.nan
    with pytest.raises(ScalingLawError, match="lack N, D, loss_c4_val or err_avg_subset"):
        rp.gadre_split(broken)
    joined = rp.gadre_frame(frame.drop(columns="err_avg_subset"),
                            frame[["run", "err_avg_subset"]])
    assert joined["err_avg_subset"].notna().all()
    with pytest.raises(ScalingLawError, match="downstream table has no column"):
        rp.gadre_frame(frame, frame[["run"]])


class _FakeFit:
    """predict_draws/draws of a fit with fixed draws (for the composition logic)."""

    def __init__(self, law, observed, params, sigma, fn=None):
        self._out = {"law": law, "observed": observed, "params": params}
        self._sigma = sigma
        self.spec = SimpleNamespace(law=SimpleNamespace(fn=fn))

    def predict_draws(self, frame, seed=0):
        return self._out

    def draws(self):
        return {"sigma": self._sigma}


def test_gadre_error_prediction_carries_the_loss_draws():
    law_obj = sl.laws.get("downstream_exp")
    loss_law = np.full((400, 2), 2.5)
    loss_obs = loss_law + np.linspace(-0.1, 0.1, 400)[:, None]
    params = {"epsilon": np.full((400, 2), 0.86), "k": np.full((400, 2), 2.2),
              "gamma": np.full((400, 2), 0.71)}
    loss_fit = _FakeFit(loss_law, loss_obs, {}, None)
    err_fit = _FakeFit(None, None, params, np.zeros(400), fn=law_obj.fn)
    targets = pd.DataFrame({"N": [1.4e9, 6.9e9], "D": [9e11, 1.4e11], "dataset": "rpj",
                            "loss_c4_val": [2.5, 2.4]})
    out = gd.predict(loss_fit, err_fit, targets, seed=0)
    point, predictive = out["error"]
    expected = 0.86 - 2.2 * np.exp(-0.71 * 2.5)
    np.testing.assert_allclose(point, expected)
    # the spread of the predicted error is the loss spread pushed through the law
    slope = 2.2 * 0.71 * np.exp(-0.71 * 2.5)
    assert np.ptp(predictive[:, 0]) == pytest.approx(slope * 0.2, rel=0.02)


# --- Hitchhiker ------------------------------------------------------------------------------


def _hitch_synthetic() -> pd.DataFrame:
    rows = []
    for family, e in (("f1", 1.7), ("f2", 2.0)):
        for n in (1e8, 4e8, 1.6e9):
            for d in np.geomspace(2e9, 2e11 * n / 1.6e9 + 1e10, 40):
                loss = e + 400 * n ** -0.34 + 410 * d ** -0.28
                rows.append({"family": family, "run": f"{family}-{n:g}", "N": n, "D": d,
                             "perf_loss_perp": loss})
    rows.append({"family": np.nan, "run": "loose", "N": 1e9, "D": 1e11, "perf_loss_perp": 2.0})
    rows.append({"family": "small", "run": "s", "N": 1e9, "D": 1e11, "perf_loss_perp": 2.0})
    return pd.DataFrame(rows)


def test_thin_checkpoints_log_spaced_keeps_last():
    frame = _hitch_synthetic()
    thin = rp.thin_checkpoints(frame, 7)
    counts = thin.groupby("run").size()
    assert counts.max() <= 7
    last = frame.groupby("run")["D"].max()
    assert (thin.groupby("run")["D"].max() == last[counts.index]).all()
    with pytest.raises(ScalingLawError, match="positive integer"):
        rp.thin_checkpoints(frame, 0)


def test_hitchhiker_split_follows_the_protocol():
    parts = rp.hitchhiker_split(_hitch_synthetic(), max_checkpoints=5)
    assert parts["families"]["family"].tolist() == ["f1", "f2"]
    assert (parts["families"]["sizes"] == 3).all()
    test = parts["test"]
    assert set(test["N"]) == {1.6e9}
    for _, rows in test.groupby("run"):
        assert rows["D"].min() >= 0.7 * rows["D"].max()
    for name in ("final", "checkpoints", "all_checkpoints"):
        assert (parts[name]["D"] > 1e10).all()
        assert (parts[name]["N"] < 1.6e9).all()
    assert len(parts["final"]) == 4
    assert parts["checkpoints"].groupby("run").size().max() <= 5
    with pytest.raises(ScalingLawError, match="unknown families"):
        rp.hitchhiker_split(_hitch_synthetic(), families=["nope"])
    with pytest.raises(ScalingLawError, match="no family has 4 model sizes"):
        rp.hitchhiker_split(_hitch_synthetic(), min_sizes=4)
    with pytest.raises(ScalingLawError, match="no column 'perf_loss_perp'"):
        rp.hitchhiker_split(_hitch_synthetic().drop(columns="perf_loss_perp"))


def test_hitchhiker_one_size_down_predicts_the_largest_training_model():
    frame = _hitch_synthetic()
    down = hp.hitchhiker_one_size_down(frame)
    assert down["families"]["family"].tolist() == ["f1", "f2"]  # not "small" (one size)
    assert (down["families"]["sizes"] == 2).all()
    assert set(down["test"]["N"]) == {4e8} and set(down["checkpoints"]["N"]) == {1e8}
    full = rp.hitchhiker_split(frame)
    pd.testing.assert_frame_equal(
        down["test"], rp.hitchhiker_split(full["all_checkpoints"], min_sizes=2)["test"])
    only = hp.hitchhiker_one_size_down(frame, families=["f2"])
    assert only["families"]["family"].tolist() == ["f2"]


def test_hitchhiker_paper_fit_matches_an_exact_law():
    parts = rp.hitchhiker_split(_hitch_synthetic())
    train = parts["all_checkpoints"]
    test = parts["test"]
    for family in ("f1", "f2"):
        rows = train[train["family"] == family]
        p = rp.hitchhiker_paper_fit(rows)
        fitted = hp.hitchhiker_paper_law(p, rows["N"].to_numpy(), rows["D"].to_numpy())
        assert rp.are(rows["perf_loss_perp"], fitted) < 1e-3
        # two training sizes leave E, A and alpha on a ridge: extrapolation is rougher
        t = test[test["family"] == family]
        pred = hp.hitchhiker_paper_law(p, t["N"].to_numpy(), t["D"].to_numpy())
        assert rp.are(t["perf_loss_perp"], pred) < 0.05


def test_hitchhiker_normalise_is_an_exact_change_of_units():
    parts = rp.hitchhiker_split(_hitch_synthetic())
    rows, centres = rp.hitchhiker_normalise(parts["checkpoints"])
    # centres are the fitted rows' geometric means, so each family is centred at 1
    logs = np.log(rows[["N_rel", "D_rel", "loss_rel"]]).groupby(rows["family"]).mean()
    np.testing.assert_allclose(logs.to_numpy(), 0.0, atol=1e-12)
    # the law in family units, rescaled, is the law in raw units (exponents unchanged)
    e, a, b, alpha, beta = 1.7, 400.0, 410.0, 0.34, 0.28
    c = centres.loc["f1"]
    rel = rows[rows["family"] == "f1"]
    law_rel = (e / c["loss"] + a * c["N"] ** -alpha / c["loss"] * rel["N_rel"] ** -alpha
               + b * c["D"] ** -beta / c["loss"] * rel["D_rel"] ** -beta)
    np.testing.assert_allclose(law_rel * c["loss"], rel["perf_loss_perp"], rtol=1e-12)
    # targets are put in the units of the fit, not their own
    test, _ = rp.hitchhiker_normalise(parts["test"], centres)
    centre_n = centres.loc[test["family"], "N"].to_numpy()
    np.testing.assert_allclose(test["N_rel"], test["N"] / centre_n)
    assert (test["N_rel"] > 1).all()
    with pytest.raises(ScalingLawError, match="no centre for families"):
        rp.hitchhiker_normalise(parts["test"], centres.drop(index="f2"))


def test_hitchhiker_score_returns_to_the_family_units():
    parts = rp.hitchhiker_split(_hitch_synthetic())
    _, centres = rp.hitchhiker_normalise(parts["checkpoints"])
    test = parts["test"]
    # a stand-in fit whose draws are the truth in family units, with a +-10% spread
    truth_rel = (test["perf_loss_perp"] / centres.loc[test["family"], "loss"].to_numpy()).to_numpy()
    spread = np.linspace(0.9, 1.1, 201)[:, None] * truth_rel
    fake = SimpleNamespace(
        spec=SimpleNamespace(inputs={"N": "N_rel", "D": "D_rel"}, factors=("family",), run="run"),
        predict_draws=lambda frame, seed, discrepancy=None: {"law": spread, "observed": spread})
    score = hh.score(fake, test, centres, seed=0)
    np.testing.assert_allclose(score["median"], test["perf_loss_perp"], rtol=1e-12)
    assert score["covered"].all() and score["rel_err_%"].max() < 1e-10  # 1e-12 as a fraction
    np.testing.assert_allclose(score["upper"] / score["truth"], 1.09, rtol=1e-12)


def test_hitchhiker_mass_blocks_name_sampled_sites():
    from scalinglaws.data import make_design
    from scalinglaws.model import sampled_sites

    parts = rp.hitchhiker_split(_hitch_synthetic())
    rows = parts["checkpoints"]  # enough rows for every spec; only site names matter
    frame = rp.hitchhiker_normalise(rows)[0]
    for name, spec in rp.specs("hitchhiker2024").items():
        design = make_design(spec, frame)
        (block,) = hh.dense_mass(spec, frame)
        sampled = set(sampled_sites(spec, design))
        assert set(block) <= sampled, (name, set(block) - sampled)
        # the law's sites are dense; the per-run offsets are left diagonal
        exponent = {f"{prefix}{q}{suffix}" for prefix in ("", "log_scaled_")
                    for q in ("alpha", "beta") for suffix in ("", "_family")}
        assert "run_eps" not in block and len(exponent & set(block)) == 2, name
        # each of the law's sampled sites, or its level coordinates, is in the block
        assert spec.coordinates != "level" or {"log_level", "log_level_family"} & set(block)
    # every parameterization and coordinate system: the noise offsets stay diagonal too
    spec = rp.specs("hitchhiker2024")["hitchhiker2024_hierarchical_exponents"]
    for choice, coordinates in (("centred", "level"), ("centred", "natural"),
                                ("noncentred", "natural")):
        other = dataclasses.replace(spec, parameterization=choice, coordinates=coordinates)
        (block,) = hh.dense_mass(other, frame)
        sampled = set(sampled_sites(other, make_design(other, frame)))
        offset = "sigma_offset_family" if choice == "centred" else "sigma_z_family"
        assert offset in sampled and offset not in block, choice
        assert set(block) == sampled - {offset, "run_eps"}, choice
    # independent per-family noise scales (no pooling) are scales: in the block
    spec = rp.specs("hitchhiker2024")["hitchhiker2024_checkpoints"]
    assert spec.pooling == "none" and "sigma" in spec.vary
    assert "sigma_family" in hh.dense_mass(spec, frame)[0]
    # on one family's rows the family factor has a single level: every site is a scalar
    one = rp.hitchhiker_normalise(rows[rows["family"] == "f1"])[0]
    with pytest.warns(sl.ScalingLawWarning, match="single level"):
        design = make_design(spec, one)
    (block,) = hh.dense_mass(spec, one)
    assert spec.coordinates == "level" and "log_level" in block
    assert set(block) == set(sampled_sites(spec, design)) - {"run_eps"}  # run offsets: diagonal


def test_hitchhiker_run_passes_each_models_sampler_settings(monkeypatch):
    calls = {}

    class Stop(Exception):
        pass

    def fake_fit_and_score(key, name, spec, rows, test, settings, log, **overrides):
        calls[key] = overrides
        if key == hh.HITCHHIKER_CALIBRATED[0]:
            raise Stop  # the four models and (e)'s backtest fit are fitted
        return [], pd.DataFrame()

    monkeypatch.setattr(hh, "load_table", lambda *args: _hitch_synthetic())
    monkeypatch.setattr(hh, "fit_and_score", fake_fit_and_score)
    with pytest.raises(Stop):
        hh.run(None, rp.Settings.make(quick=False), None, lambda _: None)
    assert calls == {"a": {"draws": 1500}, "b": {"target_accept": 0.97, "draws": 1500},
                     "c": {"draws": 2000}, "d": {"draws": 2000},
                     "e": {"target_accept": 0.95, "chains": 4, "draws": 2000}}
    study = hh.specs()["hitchhiker2024_checkpoints"][1]  # written to the model's TOML
    assert study["target_accept"] == hh.HITCHHIKER_TARGET_ACCEPT["b"]


def test_hitchhiker_checkpoint_fit_is_one_fit_per_family(monkeypatch):
    parts = rp.hitchhiker_split(_hitch_synthetic())
    test = parts["test"].sample(frac=1.0, random_state=0)  # scores come back in its order
    calls = []

    def fake_fit(model, data, settings, log, name, **overrides):
        calls.append((name, sorted(set(data["family"])), data.index, overrides))
        return SimpleNamespace(families=sorted(set(data["family"])))

    def fake_score(fit, targets, centres, seed):
        assert set(targets["family"]) <= set(fit.families)
        return pd.DataFrame({"family": targets["family"], "fit": ", ".join(fit.families)},
                            index=targets.index)

    def fake_fit_many(model, frames, settings, log, **overrides):
        return {name: (fake_fit(model, data, settings, log, name, **overrides), 0.0)
                for name, data in frames.items()}

    monkeypatch.setattr(hh, "fit_model", fake_fit)
    monkeypatch.setattr(hh, "fit_many", fake_fit_many)
    monkeypatch.setattr(hh, "score", fake_score)
    models = rp.specs("hitchhiker2024")
    settings = rp.Settings.make(quick=True)
    rows = parts["checkpoints"]
    fits, scores = hh.fit_and_score("b", "checkpoints", models["hitchhiker2024_checkpoints"],
                                    rows, test, settings, lambda _: None)
    assert "b" in hh.HITCHHIKER_BY_FAMILY
    assert [c[1] for c in calls] == [["f1"], ["f2"]] and [f for f, _, _ in fits] == ["f1", "f2"]
    for name, (family,), index, overrides in calls:
        assert family in name
        assert index.equals(rows.index[rows["family"] == family])
        assert overrides["dense_mass"] == hh.dense_mass(
            models["hitchhiker2024_checkpoints"],
            rp.hitchhiker_normalise(rows[rows["family"] == family])[0])
    assert scores.index.equals(test.index) and (scores["fit"] == scores["family"]).all()
    # the hierarchies (and the final-loss fit) stay one joint fit on every row
    calls.clear()
    fits, scores = hh.fit_and_score("c", "hierarchical", models["hitchhiker2024_hierarchical"],
                                    rows, test, settings, lambda _: None)
    assert len(calls) == 1 and calls[0][1] == ["f1", "f2"] and fits[0][0] is None
    assert (scores["fit"] == "f1, f2").all()


def test_hitchhiker_diagnostics_aggregate_per_family_fits(monkeypatch):
    per_fit = {"x": (1.02, 300.0, 1, 200.0, 90.0), "y": (1.3, 12.0, 4, 600.0, 150.0)}
    monkeypatch.setattr(hh, "fit_diagnostics", lambda name, fit: {
        "fit": name, "rows": 20, "chains": 2, "draws": 300, "divergences": per_fit[fit][2],
        "max_r_hat": per_fit[fit][0], "min_ess_bulk": per_fit[fit][1],
        "min_ess_tail": per_fit[fit][4], "mean_steps": per_fit[fit][3], "warnings": 1})
    row, per = hh.sampler_diagnostics("(b) checkpoints", [("f1", "x", 5.0), ("f2", "y", 7.0)])
    assert row == {"fit": "(b) checkpoints", "fits": 2, "rows": 40, "chains": 2, "draws": 300,
                   "divergences": 5, "max_r_hat": 1.3, "min_ess_bulk": 12.0,
                   "min_ess_tail": 90.0, "mean_steps": 400.0, "warnings": 2, "seconds": 12.0}
    assert per["family"].tolist() == ["f1", "f2"]


# --- LLMs on the line ------------------------------------------------------------------------


def test_llm_line_frame_filters_and_fills():
    models = pd.DataFrame({
        "dataset": ["C4", "The Pile", "The Pile", None],
        "architecture": ["Llama", "Mamba", "GPT", "GPT"],
        "tokenizer": ["gpt2-HF", "gpt-neox", None, "gpt2-HF"],
        "x": [3.3, 3.2, "bad", 3.0], "y": [2.7, 2.5, 2.6, 2.4]})
    frame = rp.llm_line_frame(models, "x", "y")
    assert frame["dataset"].tolist() == ["C4", "The Pile"]
    with pytest.raises(ScalingLawError, match="no row has both"):
        rp.llm_line_frame(models.assign(y=np.nan), "x", "y")
    with pytest.raises(ScalingLawError, match="no column 'tokenizer'"):
        rp.llm_line_frame(models.drop(columns="tokenizer"), "x", "y")
    law = ll.level_law("fineweb_edu_validation_loss")
    # V, g, s are the level, elasticity and floor share of E_y + K u^kappa at L = 3.4
    e_x, k, kappa, e_y = 0.5 * 2.9, 2.0, 1.3, 1.0
    lx = np.array([3.1, 3.4, 3.9])
    natural = e_y + k * ((lx - e_x) / (3.4 - e_x)) ** kappa
    level = {"V": e_y + k, "s": e_y / (e_y + k), "g": kappa * k / (e_y + k), "r": 0.5}
    np.testing.assert_allclose(law.fn({"L": lx}, level), natural, rtol=1e-12)
    assert float(law.fn({"L": lx + 1e-6}, level)[1] - natural[1]) / 1e-6 == pytest.approx(
        level["g"] * natural[1] / (3.4 - e_x), rel=1e-4)
    assert frame["arch_tokenizer"].tolist() == ["Llama/gpt2-HF", "Mamba/gpt-neox"]


# --- specs and models/*.toml -----------------------------------------------------------------


def test_specs_round_trip_through_models_toml():
    tables = rp.study_tables()
    assert {meta["study"] for meta in tables.values()} == set(rp.STUDIES)
    for name, spec in rp.specs().items():
        path = ROOT / "models" / f"{name}.toml"
        assert path.is_file(), f"{path} missing: run scalinglaws.reproduce.write_specs('models')"
        again = read_spec(path)
        assert type(again) is type(spec) and again.to_dict() == spec.to_dict(), name
        assert rp.read_study_table(path) == tomllib.loads(rp.spec_toml(name))["study"]
        assert path.read_text() == rp.spec_toml(name)
    with pytest.raises(ScalingLawError, match="unknown reproduction spec"):
        rp.spec_toml("nope")
    with pytest.raises(ScalingLawError, match="unknown study"):
        rp.specs("nope")


def test_brandfonbrener_specs_are_loss_to_loss_models():
    models = rp.specs("brandfonbrener2025")
    assert models["brandfonbrener2025_train_to_test"] == bf.brandfonbrener_model("train_to_test")
    assert models["brandfonbrener2025_train_to_train"].feedback == "joint"
    table = rp.study_tables("brandfonbrener2025")["brandfonbrener2025_train_to_test"]
    assert table["cut_draws"] == bf.BRANDFONBRENER_CUT["cut_draws"]
    assert len(table["tasks"]) == len(bf.BRANDFONBRENER_TASKS)


def test_write_specs(tmp_path):
    paths = rp.write_specs(tmp_path, "gadre2024")
    assert sorted(p.name for p in paths) == sorted(f"{n}.toml" for n in rp.specs("gadre2024"))
    with pytest.raises(ScalingLawError, match="no \\[study\\] table"):
        bare = tmp_path / "bare.toml"
        bare.write_text('law = "chinchilla"\n')
        rp.read_study_table(bare)


# --- the real reproductions (slow) ---------------------------------------------------------


def _need(study: str) -> Path:
    folder = DATA / study
    if not folder.is_dir():
        pytest.skip(f"no data for {study} at {folder}: set SCALINGLAWS_DATA to the project's "
                    f"shared/data to run the real-data reproductions")
    return DATA


@pytest.mark.slow
def test_gadre_reproduction_quick(tmp_path):
    result = rp.reproduce("gadre2024", data_dir=_need("gadre2024"), out=tmp_path, quick=True)
    table = result.table
    assert len(table) == 24
    loss = table[table["quantity"] == "C4-eval loss"]
    assert loss["covered"].mean() >= 0.8
    rpj = loss[loss["dataset"] == "RedPajama"]
    np.testing.assert_allclose(sorted(rpj["paper_err_%"].unique()), [0.7103, 0.7320], atol=1e-3)
    assert all(p.is_file() for p in result.figures) and len(result.figures) == 3


@pytest.mark.slow
def test_datablations_reproduction_stacks_both_models():
    result = rp.reproduce("datablations2023", data_dir=_need("datablations2023"))
    table = result.table.set_index("method")
    [stacked] = [m for m in table.index if m.startswith("stacked:")]
    weights = [float(w) for w in re.findall(r"(\d\.\d\d)", stacked)]
    assert len(weights) == 2 and sum(weights) == pytest.approx(1, abs=0.011)
    assert min(weights) > 0.05  # LOO cannot tell the two structures apart: both count
    ours = table.loc[[m for m in table.index if m.endswith("(posterior median, ours)")]]
    # the mixture's intervals carry both views of repeated data: 0.90 and 0.91 measured,
    # against 0.53 for each model alone (125 runs: a binomial sd of about 0.03)
    assert table.loc[stacked, "coverage_90"] >= 0.8
    assert (ours["coverage_90"] < 0.7).all()
    assert "by epochs (stacked)" in result.tables
    across = result.tables["across C4 and OSCAR (data_constrained, E by dataset)"]
    assert across["held_out_runs"].tolist() == [125, 13]
    c4, oscar = across.to_dict("records")
    assert oscar["E_lower"] > c4["E_upper"]  # OSCAR's held-out text is harder to predict
    sampler = result.tables["sampler"].set_index("fit")
    assert sampler.loc["c4_oscar", "max_r_hat"] <= 1.01


@pytest.mark.slow
def test_llm_line_reproduction_quick(tmp_path):
    result = rp.reproduce("llm_line2025", data_dir=_need("llm_line2025"), out=tmp_path,
                          quick=True)
    table = result.table
    assert {"estimate", "lower_90", "upper_90", "supports"} <= set(table.columns)
    assert len(table) == 10
    assert len(result.figures) == 2


@pytest.mark.slow
def test_hitchhiker_reproduction_quick(tmp_path):
    result = rp.reproduce("hitchhiker2024", data_dir=_need("hitchhiker2024"), out=tmp_path,
                          quick=True)
    table = result.table
    assert table["family"].iloc[-2:].tolist() == ["mean over families", "median over families"]
    assert len(table) == len(hh.HITCHHIKER_QUICK) + 2
    assert (table[[f"{k}_cov90" for k in hh.HITCHHIKER_KEYS]].to_numpy() <= 1).all()
    assert "(e) hierarchical, one size down" in result.tables["sampler"]["fit"].tolist()


def test_fit_diagnostics_report_the_worst_sampler_sites(hierarchical_fit):
    row = scoring.fit_diagnostics("demo", hierarchical_fit)
    sites = hierarchical_fit.summary(sites=True)  # the sampler's own sites, offsets included
    assert row["max_r_hat"] == sites["r_hat"].max()
    assert row["min_ess_bulk"] == sites["ess_bulk"].min()
    assert row["min_ess_tail"] == sites["ess_tail"].min()
    assert row["divergences"] == int(hierarchical_fit.idata.sample_stats["diverging"].sum())


def test_convergence_notes_flag_disagreeing_chains():
    diag = pd.DataFrame({"fit": ["good", "bad"], "max_r_hat": [1.005, 1.8],
                         "min_ess_bulk": [900.0, 3.0]})
    notes = scoring.convergence_notes(diag)
    assert len(notes) == 1 and "NOT CONVERGED: bad (R-hat 1.80" in notes[0]
    assert scoring.convergence_notes(diag.iloc[:1]) == []


# --- Brandfonbrener et al. 2025 ---------------------------------------------------------


def test_brandfonbrener_rows_score_ours_beside_the_paper_method():
    fit = SimpleNamespace(predict=lambda at, **_: pd.DataFrame(
        {"median": [2.0, 3.0], "pred_lower": [1.9, 3.1], "pred_upper": [2.1, 3.3]}))
    out = bf.score("train_to_train", fit, None, np.array([2.05, 3.0]), np.array([2.0, 2.9]),
                   "a", ["b", "c"], seed=0)
    assert list(out.columns) == ["setting", "x", "y", "truth", "paper_method", "paper_err_%",
                                 "median", "lower", "upper", "covered", "rel_err_%"]
    assert out["covered"].tolist() == [True, False]  # 3.0 lies below [3.1, 3.3]
    np.testing.assert_allclose(out["rel_err_%"], [100 * 0.05 / 2.05, 0.0])
    np.testing.assert_allclose(out["paper_err_%"], [100 * 0.05 / 2.05, 100 * 0.1 / 3.0])


def test_brandfonbrener_paper_link_is_least_squares_on_shifted_logs():
    lx = np.array([3.0, 3.4, 3.9, 4.4])
    kappa, k = bf.brandfonbrener_paper_link(lx, 0.6 * (lx - 2.1) ** 1.3 + 0.9, 2.1, 0.9)
    assert kappa == pytest.approx(1.3, rel=1e-9) and k == pytest.approx(0.6, rel=1e-9)
    with pytest.raises(ScalingLawError, match="must exceed its plugged-in offset"):
        bf.brandfonbrener_paper_link(lx, lx, 3.5, 0.0)
    with pytest.raises(ScalingLawError, match="at least two"):
        bf.brandfonbrener_paper_link([3.0], [2.0], 1.0, 1.0)
    with pytest.raises(ScalingLawError, match="unknown setting"):
        bf.brandfonbrener_model("test_to_train")


@pytest.mark.skipif(not (DATA / "brandfonbrener2025").is_dir(),
                    reason="needs SCALINGLAWS_DATA with brandfonbrener2025/ (../shared/data)")
def test_brandfonbrener_paper_method_matches_the_printed_links():
    """The rerun of the paper's method gives the notebook's printed kappa, K (DATA.md)."""
    from scalinglaws import losstoloss as ltl

    sweep = sl.datasets.load("brandfonbrener2025", "sweep", data_dir=DATA)
    opt = sl.datasets.load("brandfonbrener2025", "opt_params", data_dir=DATA)
    printed = {"fineweb-100b": (1.0005, 1.0144), "proof-pile-2": (1.0663, 0.6049),
               "starcoder": (1.1002, 0.6331)}
    for y, (kappa, k) in printed.items():
        pairs = ltl.pair_train_to_train(sweep, x="fineweb-edu-100b", y=y)
        got = bf.brandfonbrener_paper_link(
            pairs["loss_x"], pairs["loss_y"], bf.kaplan_e(opt, "fineweb-edu-100b", "val_loss"),
            bf.kaplan_e(opt, y, "val_loss"))
        assert got == pytest.approx((kappa, k), abs=6e-5)


@pytest.mark.skipif(not (DATA / "brandfonbrener2025").is_dir(),
                    reason="needs SCALINGLAWS_DATA with brandfonbrener2025/ (../shared/data)")
def test_brandfonbrener_paper_method_is_blank_where_its_logs_are_undefined():
    """SlimPajama -> SciQ: one sweep test loss lies below the authors' E_y (4.04)."""
    from scalinglaws import losstoloss as ltl

    sweep = sl.datasets.load("brandfonbrener2025", "sweep", data_dir=DATA)
    opt = sl.datasets.load("brandfonbrener2025", "opt_params", data_dir=DATA)
    tasks = [bf.TASK_COLUMN.format(t) for t in ("sciq", "hellaswag")]
    pairs = ltl.pair_train_to_test(sweep, tasks, datasets="slimpajama-chunk1")
    paper = bf.paper_method("train_to_test", pairs, opt, "slimpajama-chunk1", tasks, tasks, 2.2)
    assert np.isnan(paper[0]) and np.isfinite(paper[1])
    table = pd.DataFrame({"setting": "train-to-test", "x": "slimpajama-chunk1",
                          "y": ["sciq", "hellaswag"], "truth": [3.0, 2.3],
                          "paper_method": paper, "paper_err_%": [np.nan, 1.0],
                          "median": [3.1, 2.3], "lower": [2.9, 2.2], "upper": [3.2, 2.4],
                          "covered": [True, True], "rel_err_%": [3.3, 0.1]})
    diag = [{"fit": "t2test", "max_r_hat": 1.0, "min_ess_bulk": 500.0}]
    result = bf.reproduction([([table], diag, {})], {}, rp.Settings.make(), None)
    assert any("paper_method is blank for slimpajama-chunk1 -> sciq" in n for n in result.notes)
    summary = result.tables["summary (mean and max absolute relative error, %)"]
    assert summary.loc[0, "paper_method_mean_err_%"] == 1.0
    assert summary.loc[0, "ours_mean_err_%"] == 0.1  # on the same rows as the paper's
    assert summary.loc[0, "covered"] == "2/2"


@pytest.mark.slow
def test_brandfonbrener_reproduction_quick(tmp_path):
    result = rp.reproduce("brandfonbrener2025", data_dir=DATA, out=tmp_path, quick=True)
    table = result.table
    assert set(table["setting"]) == {"train-to-train", "train-to-test"}
    assert len(table) == 5 + 11
    assert {"truth", "paper_method", "median", "lower", "upper", "covered"} <= set(table)
    assert (table["lower"] < table["upper"]).all()
    assert len(result.figures) == 3
