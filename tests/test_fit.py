"""Fitting end to end: recovery of a known truth, diagnostics, predict, save/load, plot."""

from __future__ import annotations

import warnings

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws.errors import ScalingLawError, ScalingLawWarning

matplotlib.use("Agg")


def test_recovers_known_truth(hierarchical_fit, sweep):
    truth = sweep.attrs["truth"]
    summary = hierarchical_fit.summary(interval=0.9)
    for name in ("alpha", "beta"):
        row = summary.loc[name]
        assert row.lower <= truth[name] <= row.upper, (name, row.lower, row.upper)
    for level, value in truth["E"].items():
        row = summary.loc[f"E[dataset={level}]"]
        assert row.lower <= value <= row.upper, (level, row.lower, row.upper)
    assert summary["r_hat"].max() <= 1.01
    assert int(hierarchical_fit.idata.sample_stats.diverging.sum()) == 0
    assert hierarchical_fit.warnings == ()


def test_natural_coefficients_recovered(hierarchical_fit, sweep):
    truth = sweep.attrs["truth"]
    probe = pd.DataFrame({"N": 1e8, "D": 2e9, "dataset": list(truth["A"])})
    params = hierarchical_fit.predict_draws(probe)["params"]
    for i, level in enumerate(truth["A"]):
        lo, hi = np.quantile(params["A"][:, i], [0.01, 0.99])
        assert lo <= truth["A"][level] <= hi


def test_summary_columns(hierarchical_fit):
    summary = hierarchical_fit.summary()
    assert list(summary.columns) == ["mean", "sd", "median", "lower", "upper", "ess_bulk",
                                     "ess_tail", "r_hat"]
    assert not any("_z_" in i or "_offset" in i or "_ref" in i for i in summary.index)
    assert (summary.lower <= summary["median"]).all() and (summary["median"] <= summary.upper).all()
    html = hierarchical_fit._repr_html_()
    assert "<table" in html and "alpha" in html and "E[dataset=web]" in html


def test_summary_is_in_natural_units_per_group(hierarchical_fit, sweep):
    """Rows name the parameters as the model varies them, in the law's own units: each
    group's A equals the A that prediction uses for that group, draw for draw."""
    summary = hierarchical_fit.summary()
    truth = sweep.attrs["truth"]
    levels = sorted(truth["A"])
    law_rows = [f"{p}[dataset={lv}]" for p in ("E", "A", "B") for lv in levels]
    assert list(summary.index[:len(law_rows)]) == law_rows
    assert list(summary.index[len(law_rows):len(law_rows) + 3]) == ["alpha", "beta", "sigma"]
    for p in ("E", "A", "B"):  # the population value and the spread between datasets
        assert p in summary.index and f"{p}_sd[dataset]" in summary.index
    probe = pd.DataFrame({"N": 1e8, "D": 2e9, "dataset": levels})
    params = hierarchical_fit.predict_draws(probe)["params"]
    for i, level in enumerate(levels):
        for p in ("A", "B"):
            row = summary.loc[f"{p}[dataset={level}]"]
            assert row["median"] == pytest.approx(np.median(params[p][:, i]), rel=1e-12)
            assert row["lower"] <= truth[p][level] <= row["upper"], (p, level)
    sites = hierarchical_fit.summary(sites=True)
    assert "A_ref_dataset[web]" in sites.index and "A[dataset=web]" not in sites.index
    assert sites.loc["alpha", "mean"] == summary.loc["alpha", "mean"]
    with pytest.raises(ScalingLawError, match="sites must be True or False"):
        hierarchical_fit.summary(sites="yes")


def test_predict_extrapolation_covers_truth(hierarchical_fit, sweep):
    truth = sweep.attrs["truth"]
    at = pd.DataFrame({"N": 1e10, "D": 2e11, "dataset": list(truth["E"])})
    before = at.copy()
    pred = hierarchical_fit.predict(at, interval=0.9)
    pd.testing.assert_frame_equal(at, before)
    assert list(pred.columns) == ["N", "D", "dataset", "mean", "median", "lower", "upper",
                                  "pred_lower", "pred_upper"]
    true = sl.synthetic.true_loss(at.N, at.D, at.dataset, truth)
    assert ((pred.pred_lower <= true) & (true <= pred.pred_upper)).all()
    assert ((pred.pred_upper - pred.pred_lower) > (pred.upper - pred.lower)).all()


def test_predict_bad_input(hierarchical_fit):
    with pytest.raises(ScalingLawError, match="no column 'dataset'"):
        hierarchical_fit.predict({"N": [1e9], "D": [2e10]})
    with pytest.raises(ScalingLawError, match="interval must be between 0 and 1"):
        hierarchical_fit.predict({"N": [1e9], "D": [2e10], "dataset": ["web"]}, interval=90)


def test_save_load_exact_round_trip(hierarchical_fit, tmp_path):
    path = hierarchical_fit.save(tmp_path / "fit.nc")
    loaded = sl.load(path)
    assert loaded.spec == hierarchical_fit.spec
    for group in ("posterior", "sample_stats", "log_likelihood", "observed_data",
                  "constant_data"):
        a, b = getattr(hierarchical_fit.idata, group), getattr(loaded.idata, group)
        for name in a.data_vars:
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    at = {"N": [1e10], "D": [2e11], "dataset": ["code"]}
    pd.testing.assert_frame_equal(loaded.predict(at), hierarchical_fit.predict(at))
    assert loaded.design.levels() == hierarchical_fit.design.levels()


def test_load_rejects_bad_files(hierarchical_fit, tmp_path):
    with pytest.raises(ScalingLawError, match="no fit file"):
        sl.load(tmp_path / "missing.nc")
    broken = tmp_path / "broken.nc"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"garbage" * 50)
    with pytest.raises(ScalingLawError, match="not a readable netCDF fit file"):
        sl.load(broken)
    plain = tmp_path / "plain.nc"
    hierarchical_fit.idata.to_netcdf(str(plain), engine="h5netcdf")
    with pytest.raises(ScalingLawError, match="not a fit written by scalinglaws"):
        sl.load(plain)
    future = tmp_path / "future.nc"
    idata = hierarchical_fit.idata.copy()
    hierarchical_fit.save(future)
    import arviz as az

    idata = az.from_netcdf(str(future), engine="h5netcdf")
    idata.load()
    idata.posterior.attrs["scalinglaws_format"] = 99
    other = tmp_path / "other.nc"
    idata.to_netcdf(str(other), engine="h5netcdf")
    with pytest.raises(ScalingLawError, match="file format 99"):
        sl.load(other)


def test_plot_returns_figure(hierarchical_fit):
    fig = hierarchical_fit.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert len(visible) == 3
    matplotlib.pyplot.close(fig)


def test_bad_sampler_settings_fail_early(sweep):
    model = sl.ScalingModel("chinchilla", target="loss")
    with pytest.raises(ScalingLawError, match="chains must be an integer"):
        model.fit(sweep, chains=0)
    with pytest.raises(ScalingLawError, match="target_accept"):
        model.fit(sweep, target_accept=1.5)
    # more iterations than a chain counts (and than a warm-up schedule holds)
    with pytest.raises(ScalingLawError, match="warmup \\+ draws must be at most"):
        model.fit(sweep, warmup=10**12)


def test_short_chains_are_flagged(sweep):
    model = sl.ScalingModel("compute", inputs={"C": "C"}, target="loss")
    with pytest.warns(ScalingLawWarning, match="ESS below"):
        fit = model.fit(sweep[sweep.M == 20], chains=2, warmup=30, draws=20, progress=False)
    assert any("ESS below" in w for w in fit.warnings)
    assert "warnings" in repr(fit)


def test_predict_keeps_what_the_fit_varied(sweep):
    """A factor with one level is dropped from vary= at fit time; prediction follows the fit
    (it used to look up the dropped factor's noise offsets and fail with a KeyError)."""
    one = sweep[sweep.dataset == sweep.dataset.iloc[0]]
    model = sl.ScalingModel("chinchilla", target="loss", vary={"sigma": "dataset"})
    with pytest.warns(ScalingLawWarning, match="single level"):
        fit = model.fit(one, chains=1, warmup=40, draws=40, progress=False)
    assert fit.design.vary == {}
    pred = fit.predict(one.head(2))
    assert (pred["pred_lower"] < pred["pred_upper"]).all()


def test_predict_after_load_is_float64_in_a_fresh_process(hierarchical_fit, tmp_path):
    """x64 is switched on by the package wherever it computes, not by the user's imports."""
    import subprocess
    import sys

    path = hierarchical_fit.save(tmp_path / "fit.nc")
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import scalinglaws as sl\n"
        f"p = sl.load({str(path)!r}).predict({{'N': [1e10], 'D': [2e11], 'dataset': ['web']}})\n"
        "print(p['median'].dtype, repr(float(p['median'].iloc[0])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "float64"
    expected = hierarchical_fit.predict({"N": [1e10], "D": [2e11], "dataset": ["web"]})
    assert float(out[1]) == expected["median"].iloc[0]


def test_diagnose_compares_chains_within_groups():
    """A cut fit's chains target one distribution per group: R-hat within groups."""
    from scalinglaws.engine import diagnose

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 500)) + np.array([[0.0], [0.0], [5.0], [5.0]])
    idata = az.from_dict(posterior={"a": a},
                         sample_stats={"diverging": np.zeros((4, 500), dtype=bool),
                                       "n_steps": np.full((4, 500), 7),
                                       "energy": rng.standard_normal((4, 500))})
    assert any("R-hat above" in m for m in diagnose(idata, 10))
    idata.posterior.attrs["chains_per_group"] = 2
    assert not any("R-hat above" in m for m in diagnose(idata, 10))


def test_a_divergence_warning_advises_what_fits_the_hierarchy():
    """The advice after divergences follows how the fit's pooled parameters were sampled:
    centred offsets are told about funnels, non-centred ones about centring, and a fit
    with no hierarchy is told neither."""
    from scalinglaws.engine import diagnose

    rng = np.random.default_rng(2)
    diverging = np.zeros((4, 500), dtype=bool)
    diverging[0, :3] = True
    idata = az.from_dict(posterior={"a": rng.standard_normal((4, 500))},
                         sample_stats={"diverging": diverging,
                                       "n_steps": np.full((4, 500), 7),
                                       "energy": rng.standard_normal((4, 500))})

    def advice(pooled):
        [message] = [m for m in diagnose(idata, 10, pooled) if "diverged" in m]
        assert message.startswith("3 of 2000 draws diverged")
        return message

    assert "parameterization" not in advice({})
    centred = advice({"E": "centred", "sigma": "centred"})
    assert "['E', 'sigma']" in centred and "parameterization='noncentred'" in centred
    assert "parameterization='centred'" not in centred
    both = advice({"E": "centred", "A": "noncentred"})
    assert "groups of ['A'] are each well measured" in both
    assert "groups of ['E'] are few or weakly measured" in both
    assert "parameterization='centred'" in advice(None)  # not known: the general advice
    assert "a dict chooses per parameter" in both
    assert "dict" not in advice({"E": "noncentred"})  # one pooled parameter: no choice


def test_the_advice_names_the_parameters_the_data_tell_apart(hierarchical_fit, sweep,
                                                             monkeypatch):
    """The hierarchy advice reads how clearly the data separate each pooled parameter's
    groups at the mode (``engine.nuts.level_separation``): the demo's three datasets are
    told apart in E, A and B, the same rows with their datasets shuffled are not; the
    warnings then name the parameters to switch and the dict that switches them."""
    from scalinglaws.engine import nuts
    from scalinglaws.engine.diagnostics import WELL_SEPARATED, problems

    seen = []
    measure = nuts.level_separation
    monkeypatch.setattr(nuts, "level_separation",
                        lambda *args: seen.append(measure(*args)) or seen[-1])
    settings = dict(seed=1, chains=4, warmup=500, draws=1000, progress=False)  # conftest's
    shuffled = sweep.assign(dataset=np.random.default_rng(0).permutation(sweep["dataset"]))
    with pytest.warns(ScalingLawWarning):  # shuffled groups: a centred funnel, at least
        for frame in (sweep, shuffled):
            hierarchical_fit.spec.fit(frame, **settings)
    clear, mixed = seen
    assert set(clear) == set(mixed) == {"E", "A", "B"}
    assert min(clear.values()) >= WELL_SEPARATED  # 70, 25 and 33
    assert max(mixed.values()) < WELL_SEPARATED / 2

    def warned(pooled, separation):
        [message] = problems(diverging=np.eye(4, 500, dtype=bool), n_steps=None,
                             energy=np.random.default_rng(0).standard_normal((4, 500)),
                             max_tree_depth=10, quantities={}, factors=[],
                             chains_per_group=4, pooled=pooled, separation=separation)
        return message

    to_centre = warned({"E": "noncentred", "A": "noncentred"}, {"E": 70.0, "A": 1.6})
    assert "groups of ['E'] are well measured and clearly different" in to_centre
    assert "(parameterization={'E': 'centred', 'A': 'noncentred'})" in to_centre
    assert "a dict chooses" not in to_centre
    # A's groups, barely told apart, are named where the message says to share parameters
    assert ("share more parameters (the data barely tell the groups of ['A'] apart: their "
            "estimates spread 1.6 times their own standard errors at the mode") in to_centre
    assert to_centre.count("['A']") == 1
    to_uncentre = warned({"E": "centred", "A": "centred"}, {"E": 4.7, "A": 1.6})
    assert "groups of ['E', 'A'] barely differ" in to_uncentre
    assert "sample them non-centred (parameterization='noncentred')" in to_uncentre
    assert to_uncentre.endswith("parameterization='auto' makes this choice from the data "
                                "in every fit.")
    assert "parameterization" not in warned({"E": "noncentred"}, {"E": 4.7})  # right as is
    assert "share more parameters." in warned({"E": "noncentred"}, {"E": 4.7})
    # run offsets are not a parameter to share
    assert "share more parameters." in warned({"run": "noncentred"}, {"run": 0.5})


def test_tree_depth_and_energy_warnings_advise_on_the_hierarchy_too():
    """A pooled fit whose draws run to the maximum tree depth, or whose energy is poorly
    explored, is told how its parameterisation may cause it (non-centred offsets of
    well-measured groups: the loss-to-loss guide's pooled links); a fit with nothing
    pooled gets the general words only."""
    from scalinglaws.engine import diagnose

    rng = np.random.default_rng(3)
    energy = np.cumsum(rng.standard_normal((4, 500)), axis=1)  # a random walk: low BFMI
    idata = az.from_dict(posterior={"a": rng.standard_normal((4, 500))},
                         sample_stats={"diverging": np.zeros((4, 500), dtype=bool),
                                       "n_steps": np.full((4, 500), 1023),
                                       "energy": energy})

    def warned(pooled):
        messages = diagnose(idata, 10, pooled)
        [depth] = [m for m in messages if "maximum tree depth" in m]
        [bfmi] = [m for m in messages if "BFMI" in m]
        return depth, bfmi

    for message in warned({"link.kappa": "noncentred", "link.K": "noncentred"}):
        assert "If the groups of ['link.kappa', 'link.K'] are each well measured" in message
        assert "parameterization={name: 'centred', ...}" in message
    for message in warned({}):
        assert "parameterization" not in message
    depth, _ = warned({"E": "centred"})
    assert depth.endswith("sample them non-centred (parameterization='noncentred'); "
                          "parameterization='auto' makes this choice from the data in "
                          "every fit.")


def test_struggling_fits_that_could_use_level_coordinates_are_told_so():
    """Divergences and draws at the maximum tree depth suggest coordinates='level' when
    the model samples natural coordinates and could sample level ones; never otherwise."""
    from scalinglaws.engine.diagnostics import LEVEL_ADVICE, problems

    assert sl.ScalingModel("chinchilla", target="loss").could_use_level_coordinates
    assert sl.ScalingModel("isoflop", inputs={"N": "N", "C": "C"}, target="loss",
                           vary={"G": "budget"}).could_use_level_coordinates
    for spec in (sl.ScalingModel("chinchilla", target="loss", coordinates="level"),
                 sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}),
                 sl.ScalingModel("kaplan", target="loss")):
        assert not spec.could_use_level_coordinates, spec
    rng = np.random.default_rng(0)
    diverging = np.zeros((2, 200), dtype=bool)
    diverging[0, :3] = True
    arrays = dict(diverging=diverging, n_steps=np.full((2, 200), 1023),
                  energy=rng.standard_normal((2, 200)), max_tree_depth=10,
                  quantities={}, factors=[], chains_per_group=2)
    told = problems(**arrays, level_coordinates=True)
    assert [m for m in told if "diverged" in m][0].endswith(LEVEL_ADVICE)
    assert [m for m in told if "maximum tree depth" in m][0].endswith(LEVEL_ADVICE)
    assert not any("coordinates='level'" in m for m in problems(**arrays))


def test_r_hat_warning_never_shows_the_threshold_as_the_value():
    """An R-hat of 1.0104 is above 1.01: the warning says 1.0104, not 1.01."""
    from scalinglaws.engine.diagnostics import problems

    def told(r_hat):
        return problems(diverging=np.zeros((4, 500), dtype=bool), n_steps=None,
                        energy=np.random.default_rng(0).standard_normal((4, 500)),
                        max_tree_depth=10, factors=[], chains_per_group=4,
                        quantities={"E_sd": {"r_hat": np.array([r_hat]),
                                             "ess_bulk": np.array([4000.0]),
                                             "ess_tail": np.array([4000.0])}})

    [message] = told(1.0104)
    assert "R-hat above 1.01 for {'E_sd': 1.0104}" in message
    [message] = told(1.01731)
    assert "{'E_sd': 1.017}" in message
    assert told(1.0099) == []


def test_diagnose_names_a_chain_stuck_below_the_others():
    """A chain whose log density sits far below its group's best (another mode) is named,
    within groups: the same gap between groups of a cut fit is no warning."""
    from scalinglaws.engine import diagnose

    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 500))
    lp = rng.normal(-20.0, 2.0, (4, 500))
    lp[1] -= 40.0  # 20 within-chain sds below
    idata = az.from_dict(posterior={"a": a},
                         sample_stats={"diverging": np.zeros((4, 500), dtype=bool),
                                       "n_steps": np.full((4, 500), 7),
                                       "energy": rng.standard_normal((4, 500)), "lp": lp})
    stuck = [m for m in diagnose(idata, 10) if "lower mode" in m]
    assert len(stuck) == 1 and stuck[0].startswith("chain 1 sits ")
    assert 38.0 < float(stuck[0].split()[3]) < 42.0 and "within-chain sd 2.0" in stuck[0]
    lp[1] += 37.0  # 1.5 sds: chance, not a mode
    assert not any("lower mode" in m for m in diagnose(idata, 10))
    lp[0:2] -= 40.0  # both chains of the first group lower: groups target different draws
    idata.posterior.attrs["chains_per_group"] = 2
    assert not any("lower mode" in m for m in diagnose(idata, 10))


def test_draws_are_read_only_views_of_the_posterior(hierarchical_fit, tmp_path):
    loaded = sl.load(hierarchical_fit.save(tmp_path / "fit.nc"))  # its arrays writable
    for fit in (hierarchical_fit, loaded):
        draws = fit.draws()
        with pytest.raises(ValueError, match="read-only"):
            draws["alpha"][:] = 0.0
        mine = draws["alpha"].copy()
        mine[:] = 0.0
        assert fit.idata.posterior["alpha"].values.mean() > 0.1


def test_plot_targets_are_read_as_predict_reads_them(tmp_path):
    from test_catalogue import _prior_fit

    runs = sl.synthetic.sweep(seed=0).drop(columns="true_loss")
    codes = {name: i for i, name in enumerate(sorted(runs["dataset"].unique()))}
    fit = _prior_fit(runs.assign(dataset=runs["dataset"].map(codes)))  # levels "0", "1", "2"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScalingLawWarning)
        figure = fit.plot(targets={"N": ["7e9"], "D": [1.4e11], "dataset": [1.0]})
    starred = [len(ax.containers) for ax in figure.axes if ax.get_title()]
    assert sorted(starred)[-1] > sorted(starred)[0]  # level 1.0 is the panel of level 1
    with pytest.warns(ScalingLawWarning, match=r"targets rows \[0\] have dataset level"):
        fit.plot(targets={"N": [7e9], "D": [1.4e11], "dataset": ["web"]})
    with pytest.raises(ScalingLawError, match="column 'N'"):
        fit.plot(targets={"N": ["seven"], "D": [1.4e11]})


def test_a_shared_reference_coefficient_is_summarised_per_level_of_its_exponent():
    """A is sampled as one A_ref at N_ref; with alpha varying by dataset its natural value
    A = A_ref N_ref^alpha is one per dataset, whatever the rows' order."""
    from test_fit_protocol import _prior_fit

    model = sl.ScalingModel("chinchilla", target="loss",
                            vary={"E": "dataset", "alpha": "dataset"})
    runs = sl.synthetic.sweep(seed=0)
    for order in (runs, runs.iloc[::-1]):
        fit = _prior_fit(model, order)
        table = fit.summary()
        assert "A" not in table.index and "B" in table.index  # B's beta is shared
        draws = fit.draws()
        for level in ("books", "code", "web"):
            k = list(fit.design.factors["dataset"].levels).index(level)
            natural = draws["A_ref"] * np.exp(draws["alpha_dataset"][:, k]
                                              * fit.design.log_reference["N"])
            np.testing.assert_allclose(table.loc[f"A[dataset={level}]", "median"],
                                       np.median(natural), rtol=1e-9)
