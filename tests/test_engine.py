"""The compiled engine: one program per structure, padding, batched and sharded fits, cache."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import warnings

import arviz as az
import jax
import numpy as np
import numpyro
import pandas as pd
import pytest
from numpyro.infer.util import log_density

import scalinglaws as sl
from scalinglaws import engine
from scalinglaws.data import make_design
from scalinglaws.engine import diagnose
from scalinglaws.model import (
    ProgramCache,
    build_model,
    data_model,
    pad,
    pooled_offsets,
    structure_of,
)

FAST = dict(chains=2, warmup=150, draws=150, progress=False)
MODEL = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})

@pytest.fixture(scope="module")
def sweeps():
    return {seed: sl.synthetic.sweep(seed=seed) for seed in range(3)}


def test_refit_on_similar_data_compiles_nothing(sweeps, compilations):
    MODEL.fit(sweeps[0], seed=0, **FAST)
    fewer = sweeps[1].iloc[:-1]  # other data, one run fewer: the same padded shapes
    fit, compiled = compilations(lambda: MODEL.fit(fewer, seed=1, **FAST))
    assert compiled == 0
    assert fit.idata.log_likelihood["y"].shape == (2, 150, 89)
    # a posterior of this sweep, not only a program that ran: alpha's median near the
    # truth (with chains this short, one of two sticks in the offsets' funnel in a few
    # fits in a hundred, so R-hat is no check here)
    assert abs(fit.summary().loc["alpha", "median"] - sl.synthetic.TRUTH["alpha"]) < 0.05


def test_another_warmup_or_target_acceptance_compiles_nothing(sweeps, compilations):
    """The warm-up's length and the target acceptance are arguments of the compiled
    sampler, not constants in it: a refit that asks for a higher target (what a warning
    about divergences suggests) or a longer warm-up reuses every program, and adapts as
    asked."""
    before = MODEL.fit(sweeps[0], seed=0, **FAST)
    higher, compiled = compilations(lambda: MODEL.fit(sweeps[0], seed=0,
                                                   **dict(FAST, target_accept=0.98)))
    assert compiled == 0
    longer, compiled = compilations(lambda: MODEL.fit(sweeps[0], seed=0,
                                                   **dict(FAST, warmup=400)))
    assert compiled == 0
    steps = {name: fit.idata.sample_stats["step_size"].values[:, 0]
             for name, fit in [("before", before), ("higher", higher), ("longer", longer)]}
    # another target ends in another adaptation. Which way it moves the step is checked
    # on a Gaussian in test_sampler (test_warmup_and_target_as_arguments_sample_as_constants):
    # here, two chains after 150 warm-up iterations are too
    # noisy to say (the ratio of their mean steps at 0.98 and 0.9 ran from 0.45 to 1.18
    # over seeds 0-7), and NumPyro 0.21 and 0.22 draw other random streams.
    assert (steps["higher"] != steps["before"]).all()
    # another warm-up ends in another adaptation, with the same draws' shape
    assert (steps["longer"] != steps["before"]).all()
    assert longer.idata.posterior.sizes["draw"] == FAST["draws"]


def test_a_new_structure_traces_its_model_once_per_density(sweeps, monkeypatch):
    """Building a structure's programs traces the sampler's density once and the mode
    search's once: every program calls the one jitted potential with the same signature
    (a keyword argument in one call site would make jit trace the model again)."""
    program_module = sys.modules["scalinglaws.engine.program"]
    traced = []
    original = program_module.potential_energy

    def counting(model, *args, **kwargs):
        traced.append(model)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(program_module, "potential_energy", counting)
    # programs exported by an earlier run would be read back without tracing
    monkeypatch.setattr(program_module, "exported_program", lambda *args: None)
    # a structure no other test builds, so that no program of it exists in this process
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                            priors={"sigma": sl.Prior("HalfNormal", 0.21)})
    fit = model.fit(sweeps[2], seed=0, **FAST)
    assert fit.idata.posterior.sizes["draw"] == 150
    assert len(traced) <= 2, f"the model was traced {len(traced)} times"


def test_predictions_of_rows_in_one_bucket_compile_once(sweeps, compilations):
    fit = MODEL.fit(sweeps[0], seed=0, **FAST)
    rows = sweeps[2]
    first = fit.predict_draws(rows.iloc[:3], seed=0)
    more, compiled = compilations(lambda: [fit.predict_draws(rows.iloc[:n], seed=0)
                                        for n in (7, 12, 16)])
    assert compiled == 0  # 3 to 16 rows: one bucket, one program
    assert more[0]["law"].shape == (300, 7)
    # the law is a function of each draw and row alone: padding changes none of it
    np.testing.assert_array_equal(more[1]["law"][:, :3], first["law"])
    np.testing.assert_array_equal(more[1]["params"]["E"][:, :7], more[0]["params"]["E"])
    assert fit.predict_draws(rows.iloc[:17], seed=0)["law"].shape == (300, 17)  # next bucket


def test_a_program_queued_behind_another_compilation_compiles_in_the_caller():
    """A program whose background compilation has not started (another holds the one
    compiler thread) is compiled where it is called, not waited for."""
    import importlib
    import threading

    import jax
    import jax.numpy as jnp

    program = importlib.import_module("scalinglaws.engine.program")
    busy, release = threading.Event(), threading.Event()
    timer = threading.Timer(20, release.set)  # without the fix, the call waits for this

    def hold():
        busy.set()
        release.wait()

    blocker = program._COMPILER.submit(hold)
    busy.wait(10)
    timer.start()
    try:
        executables = program.Executables(jax.jit(lambda x: jnp.sin(x) * 2).lower)
        executables.ahead(jax.ShapeDtypeStruct((3,), jnp.float64))
        compiled = executables(np.ones(3))
        assert not release.is_set()
        assert np.allclose(compiled(np.ones(3)), 2 * np.sin(1.0))
    finally:
        timer.cancel()
        release.set()
        blocker.result()


def test_tracing_pauses_the_garbage_collector_and_restores_it():
    import gc

    from scalinglaws.engine.program import collection_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError), collection_paused():
        assert not gc.isenabled()
        raise RuntimeError
    assert gc.isenabled()
    gc.disable()
    try:
        with collection_paused():
            pass
        assert not gc.isenabled()  # a user's choice is kept
    finally:
        gc.enable()


def test_padded_rows_leave_the_log_density_unchanged(sweeps):
    design = make_design(MODEL, sweeps[0])
    structure = structure_of([design])
    assert structure.rows > design.n_rows  # 90 rows padded to 96
    closed = build_model(MODEL, design)
    trace = numpyro.handlers.trace(numpyro.handlers.seed(closed, 3)).get_trace(y=design.y)
    params = {k: v["value"] for k, v in trace.items()
              if v["type"] == "sample" and not v["is_observed"]}
    expected, _ = log_density(closed, (), {"y": design.y}, params)
    padded, _ = log_density(data_model(MODEL, structure), (pad(design, structure),), {},
                            params)
    assert abs(float(padded) - float(expected)) <= 1e-9 * abs(float(expected))


def test_padded_levels_are_cut_from_the_results(sweeps):
    frame = sweeps[0].assign(cell=lambda d: d.dataset + "-" + d.N.map("{:.0e}".format))
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "cell"})
    design = make_design(model, frame)
    assert dict(structure_of([design]).levels)["cell"] == 16  # 15 levels padded
    fit = model.fit(frame, seed=0, **FAST)
    assert fit.idata.posterior["E_z_cell"].shape == (2, 150, 15)
    assert fit.idata.posterior["E_cell"].shape == (2, 150, 15)
    assert len([p for p in fit.summary().index if p.startswith("E[cell=")]) == 15


def test_fit_many_equals_fitting_each_frame(sweeps):
    frames = {"a": sweeps[0], "b": sweeps[1]}
    before = {k: f.copy() for k, f in frames.items()}
    fits = MODEL.fit_many(frames, seed=[3, 4], **FAST)
    assert list(fits) == ["a", "b"]
    for key, frame in frames.items():
        assert frame.equals(before[key])
    alone = MODEL.fit(sweeps[1], seed=4, **FAST)
    batched = fits["b"]
    assert batched.idata.posterior["E_dataset"].shape == (2, 150, 3)
    assert batched.idata.log_likelihood["y"].shape == (2, 150, 90)
    for name in ("alpha", "beta", "sigma"):
        a, b = batched.summary().loc[name], alone.summary().loc[name]
        mc_error = np.hypot(a["sd"] / np.sqrt(a["ess_bulk"]), b["sd"] / np.sqrt(b["ess_bulk"]))
        assert abs(a["mean"] - b["mean"]) < 4 * mc_error, name
    assert isinstance(batched.warnings, tuple)


def test_fit_many_checks_every_fit_as_its_own_posterior_would_be(sweeps):
    # two datasets in one frame and three in the other: the first's levels are padded
    two = sweeps[2][sweeps[2].dataset != "code"]
    fits = MODEL.fit_many([two, sweeps[0]], seed=0, **FAST)
    for fit, frame in zip(fits, [two, sweeps[0]], strict=True):
        assert fit.idata is fit.idata  # built once, when first read
        assert fit.warnings  # 2 x 150 draws: too few, so there is something to check
        pooled = pooled_offsets(MODEL, make_design(MODEL, frame))
        assert fit.warnings == tuple(diagnose(fit.idata, max_tree_depth=10, pooled=pooled))
    assert "E[dataset]" in " ".join(fits[0].warnings)


def test_a_fit_diagnoses_with_how_its_hierarchy_is_sampled(sweeps, monkeypatch):
    """The sampler's checks are told which parameters are pooled and how (the advice
    after divergences depends on it), for each fit of a batch."""
    seen = []
    diagnosis = engine.nuts.diagnosis

    def spy(**kwargs):
        seen.append(kwargs["pooled"])
        return diagnosis(**kwargs)

    monkeypatch.setattr(engine.nuts, "diagnosis", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        MODEL.fit_many([sweeps[0], sweeps[1]], seed=0, **FAST)
    assert seen == [{"E": "noncentred"}, {"E": "noncentred"}]


@pytest.mark.parametrize("frames, fragment", [
    ([], "no frames"),
    ("not frames", "list or a dict"),
    ({"ok": "SWEEP", "bad": "MISSING"}, "frames['bad']: data has no column 'loss'"),
    (["SWEEP", "ONE_LEVEL"], "frames[1] has another structure"),
])
def test_fit_many_rejects_bad_frames_before_compiling(sweeps, compilations, frames, fragment):
    stand_in = {"SWEEP": sweeps[0], "MISSING": sweeps[0].drop(columns="loss"),
                "ONE_LEVEL": sweeps[0][sweeps[0].dataset == "web"]}
    if isinstance(frames, dict):
        frames = {k: stand_in[v] for k, v in frames.items()}
    elif isinstance(frames, list):
        frames = [stand_in[v] for v in frames]
    copies = [f.copy() for f in (frames.values() if isinstance(frames, dict) else
                                 frames if isinstance(frames, list) else [])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)
        with pytest.raises(sl.ScalingLawError, match=fragment.replace("[", r"\[")):
            _, _ = compilations(lambda: MODEL.fit_many(frames, **FAST))
    assert compilations.count == 0
    for frame, copy in zip(frames.values() if isinstance(frames, dict) else
                           frames if isinstance(frames, list) else [], copies, strict=True):
        assert frame.equals(copy)


def test_fit_many_warnings_name_the_frame_at_the_callers_line(sweeps, compilations):
    web = sweeps[0][sweeps[0].dataset == "web"]
    frames = {"a": sweeps[0], "c": pd.concat([web, web.iloc[:3]])}  # one level, 3 repeats
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(sl.ScalingLawError, match=r"frames\['c'\] has another structure"):
            _, _ = compilations(lambda: MODEL.fit_many(frames, **FAST))
    assert compilations.count == 0
    mine = [w for w in caught if issubclass(w.category, sl.ScalingLawWarning)]
    messages = [str(w.message) for w in mine]
    assert len(messages) == 2 and len(set(messages)) == 2
    assert all(m.startswith("frames['c']: ") for m in messages)
    assert any("3 row(s) identical to an earlier row" in m for m in messages)
    assert any("single level" in m for m in messages)
    assert all(w.filename == __file__ for w in mine)  # the line that called fit_many


def test_fit_many_checks_the_seeds(sweeps):
    with pytest.raises(sl.ScalingLawError, match="one per frame"):
        MODEL.fit_many([sweeps[0], sweeps[1]], seed=[1, 2, 3], **FAST)


def test_unwritable_cache_folder_warns_and_gives_no_cache(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(engine.CACHE_ENV, str(blocker / "cache"))
    with pytest.warns(sl.ScalingLawWarning, match="cannot be written") as caught:
        assert engine.cache_folder() is None
    assert len(caught) == 1
    monkeypatch.setenv(engine.CACHE_ENV, str(tmp_path / "fresh" / "cache"))
    assert engine.cache_folder() == str(tmp_path / "fresh" / "cache")


def _options_prelude() -> str:
    """Code that compiles a fresh Python's samplers with this process's XLA options
    (``tests/conftest.py`` sets them), so that its draws can equal this process's."""
    options = importlib.import_module("scalinglaws.engine.program").SAMPLER_CPU_OPTIONS
    return ("import importlib\nimportlib.import_module('scalinglaws.engine.program')"
            f".SAMPLER_CPU_OPTIONS = {options!r}\n")


def _run(script: str, env: dict) -> subprocess.CompletedProcess:
    """``script`` in a fresh Python with :func:`_options_prelude`."""
    return subprocess.run([sys.executable, "-c", _options_prelude() + textwrap.dedent(script)],
                          env=env, capture_output=True, text=True, timeout=600)


def test_the_package_sampler_options_sample_the_posterior_of_the_tests_options(
        sweeps, monkeypatch):
    """The tests compile their samplers with the brief programs' XLA options
    (``tests/conftest.py``); the package compiles them with ``CPU_LLVM_LEVEL`` alone.
    Both give the same posterior, within Monte Carlo error, on a structure no other test
    compiles."""
    program = importlib.import_module("scalinglaws.engine.program")
    model = sl.ScalingModel("chinchilla", target="loss", vary={"B": "dataset"})
    means = {}
    for name, options in (("tests", program.SAMPLER_CPU_OPTIONS),
                          ("package", dict(program.CPU_LLVM_LEVEL))):
        monkeypatch.setattr(program, "SAMPLER_CPU_OPTIONS", options)
        monkeypatch.setattr(program, "_PROGRAMS", ProgramCache(limit=program.MAX_PROGRAMS))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawWarning)  # short chains
            fit = model.fit(sweeps[1], seed=3, chains=2, warmup=200, draws=300,
                            progress=False)
        means[name] = az.summary(fit.idata, var_names=["alpha", "beta"],
                                 kind="stats")["mean"]
        se = az.summary(fit.idata, var_names=["alpha", "beta"], kind="diagnostics")
        means[f"{name}_se"] = se["mcse_mean"]
    z = (means["tests"] - means["package"]) / np.hypot(means["tests_se"],
                                                        means["package_se"])
    assert (z.abs() < 4).all(), z


def test_corrupt_cache_folder_recompiles(tmp_path):
    script = """
        import jax, jax.numpy as jnp
        from scalinglaws.engine import persistent_cache
        print(persistent_cache())
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        print(float(jax.jit(lambda x: jnp.sin(x) * jnp.cos(x) + 2.0)(1.0)))
    """
    env = {**os.environ, engine.CACHE_ENV: str(tmp_path / "cache")}
    first = _run(script, env)
    assert first.returncode == 0, first.stderr
    entries = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert entries, "the persistent cache stayed empty"
    for entry in entries:
        entry.write_bytes(b"\x00garbage" * 7)
    second = _run(script, env)
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout


def test_the_cache_is_on_by_default_except_where_xla_logs_errors_reading_it(tmp_path):
    """JAX 0.8 and 0.9 log two false errors for every CPU program read back from the
    persistent cache (engine.program.NOISY_CPU_CACHE): the default folder is not used
    there; a folder named by SCALINGLAWS_CACHE_DIR is. One fresh process tries each
    JAX release, its cache settings reset between them."""
    script = f"""
        import os, jax, importlib
        program = importlib.import_module("scalinglaws.engine.program")
        home = {str(tmp_path / "home" / "scalinglaws" / "jax")!r}
        named = {str(tmp_path / "named")!r}
        for version, name in (("0.9.2", None), ("0.8.3", None), ("0.9.2", named),
                              ("0.7.2", None), ("0.10.2", None)):
            jax.__version__ = version
            program._CACHE_STATE.clear()
            jax.config.update("jax_compilation_cache_dir", None)
            os.environ.pop(program.CACHE_ENV, None)
            if name:
                os.environ[program.CACHE_ENV] = name
            folder = program.persistent_cache()
            print(version, "named" if name else "default", folder,
                  jax.config.jax_compilation_cache_dir)
    """
    env = {k: v for k, v in os.environ.items() if k != engine.CACHE_ENV}
    env["XDG_CACHE_HOME"] = str(tmp_path / "home")
    done = _run(script, env)
    assert done.returncode == 0, done.stderr
    home, named = tmp_path / "home" / "scalinglaws" / "jax", tmp_path / "named"
    assert done.stdout.splitlines()[-5:] == [
        "0.9.2 default None None", "0.8.3 default None None",
        f"0.9.2 named {named} {named}", f"0.7.2 default {home} {home}",
        f"0.10.2 default {home} {home}"], done.stdout


def test_programs_are_exported_from_jax_0_10(monkeypatch):
    """Before JAX 0.10 a fresh process running the sampler's exported form crashed
    (engine.program.EXPORT_FROM_JAX): those versions keep XLA's compilation cache only."""
    from scalinglaws.engine.program import exports_programs

    for version, exports in (("0.7.0", False), ("0.9.2", False), ("0.10.0", True),
                             ("0.10.2", True), ("0.11.0.dev20270101", True), ("1.0", True)):
        monkeypatch.setattr(jax, "__version__", version)
        assert exports_programs() is exports, version


def test_a_fresh_process_reads_the_exported_programs_and_draws_the_same(tmp_path, sweeps):
    from scalinglaws.engine.program import exports_programs

    if not exports_programs():
        pytest.skip(f"JAX {jax.__version__} does not export programs (EXPORT_FROM_JAX)")
    script = """
        import json, sys, jax, scalinglaws as sl
        read = []
        deserialize = jax.export.deserialize
        jax.export.deserialize = lambda blob: read.append(1) or deserialize(blob)
        model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
        fit = model.fit(sl.synthetic.sweep(seed=0), seed=0, chains=2, warmup=150, draws=150,
                        progress=False)
        print(json.dumps({"read": len(read),
                          "alpha": fit.idata.posterior["alpha"].values.tolist()}))
    """
    env = {**os.environ, engine.CACHE_ENV: str(tmp_path / "cache")}
    runs = []
    for damage in (False, True):
        if damage:  # a damaged exported program is exported again, not trusted; the
            # others are read back
            exported = sorted((tmp_path / "cache" / "exported").iterdir())
            assert len(exported) == 4  # mode search, Hessian, sampler, post-processing
            exported[0].write_bytes(b"\x00garbage" * 7)
        run = _run(script, env)
        assert run.returncode == 0, run.stderr
        runs.append(json.loads(run.stdout.splitlines()[-1]))
    assert [r["read"] for r in runs] == [0, 4]
    assert sorted((tmp_path / "cache" / "exported").iterdir()) == exported
    assert all(len(e.read_bytes()) > 1000 for e in exported)  # rewritten whole
    # this process's programs (traced here, or read from its own cache folder) too
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)  # short chains
        here = MODEL.fit(sweeps[0], seed=0, **FAST).idata.posterior["alpha"].values.tolist()
    assert all(r["alpha"] == here for r in runs)  # the same program each time


def test_chains_and_fits_split_across_cpu_devices(run_on_cpu_devices):
    """``SCALINGLAWS_CPU_DEVICES`` gives JAX that many CPU devices at import; a fit's
    chains are cut across them, and a fit alone gets the draws it gets among others."""
    script = """
        import json, jax, numpy as np, scalinglaws as sl
        model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
        frames = [sl.synthetic.sweep(seed=s) for s in range(2)]
        fits = model.fit_many(frames, seed=0, chains=2, warmup=150, draws=150)
        alone = model.fit(frames[0], seed=0, chains=2, warmup=150, draws=150)
        same = bool(np.array_equal(alone.idata.posterior["alpha"].values,
                                   fits[0].idata.posterior["alpha"].values))
        print(json.dumps({"devices": jax.device_count(), "same": same,
                          "alpha": [f.summary().loc["alpha", ["mean", "sd"]].tolist()
                                    for f in fits],
                          "rows": [f.idata.log_likelihood["y"].shape[-1] for f in fits]}))
    """
    result = run_on_cpu_devices(script, 4, prelude=_options_prelude())
    assert result["devices"] == 4
    assert result["same"]
    assert result["rows"] == [90, 90]
    truth = sl.synthetic.TRUTH["alpha"]
    for mean, sd in result["alpha"]:
        assert abs(mean - truth) < 4 * sd + 0.02


def test_vectorised_fits_agree_with_looped_fits(run_on_cpu_devices):
    """``SCALINGLAWS_BATCHING=vmap`` (what accelerators run: every chain of every fit in
    one vectorised program, advanced a leapfrog step at a time by ``nuts_chains``), on two
    CPU devices, gives the posteriors of the looped program (``map``, a CPU's default)
    within Monte Carlo error. (Not the same draws: the batch's shape changes how XLA rounds
    the same arithmetic, and chains part ways from the first steps.)"""
    script = """
        import importlib, json, warnings, numpy as np, scalinglaws as sl
        program = importlib.import_module("scalinglaws.engine.program")
        warnings.simplefilter("ignore")  # short chains
        model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
        frames = [sl.synthetic.sweep(seed=s) for s in range(2)]
        fits = model.fit_many(frames, seed=[0, 1], chains=2, warmup=200, draws=150)
        print(json.dumps({"batching": program._batching(),
                          "alpha": [f.idata.posterior["alpha"].values.tolist()
                                    for f in fits]}))
    """
    result = run_on_cpu_devices(script, 2, env={"SCALINGLAWS_BATCHING": "vmap"},
                                prelude=_options_prelude())
    assert result["batching"] == "vmap"
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        looped = model.fit_many([sl.synthetic.sweep(seed=s) for s in range(2)], seed=[0, 1],
                                chains=2, warmup=200, draws=150)
    for draws, fit in zip(result["alpha"], looped, strict=True):
        ours = az.convert_to_dataset({"alpha": np.asarray(draws)})
        theirs = fit.idata.posterior[["alpha"]]
        gap = abs(float(ours["alpha"].mean()) - float(theirs["alpha"].mean()))
        mcse = np.hypot(float(az.mcse(ours)["alpha"]), float(az.mcse(theirs)["alpha"]))
        assert gap < 4.5 * mcse


def test_cpu_device_count_follows_the_setting_and_the_users_flags():
    from scalinglaws._devices import cpu_device_count

    assert cpu_device_count("", cores=2, xla_flags="") == 2
    assert cpu_device_count("auto", cores=7, xla_flags="") == 4
    assert cpu_device_count("", cores=64, xla_flags="") == 16
    assert cpu_device_count("", cores=1, xla_flags="") is None
    assert cpu_device_count("3", cores=2, xla_flags="") == 3
    assert cpu_device_count("1", cores=8, xla_flags="") is None
    assert cpu_device_count("4", cores=8,
                            xla_flags="--xla_force_host_platform_device_count=2") is None
    with pytest.raises(sl.ScalingLawError, match="SCALINGLAWS_CPU_DEVICES='two'"):
        cpu_device_count("two", cores=8, xla_flags="")


def test_a_fit_whose_starts_all_fail_names_itself():
    """The mode search's starts that end on the optimiser's stand-in for a non-finite
    density (or on NaN, or inf) found nothing; when every start of a fit did, the error
    names the fit and says what to check."""
    from scalinglaws.engine.program import NON_FINITE, best_start, finite_starts

    energies = np.array([np.inf, NON_FINITE, np.nan, 2.0, -1.0])
    assert finite_starts(energies).tolist() == [False, False, False, True, True]
    assert best_start(energies) == 4
    with pytest.raises(sl.ScalingLawError, match=r"^sweep 3: no starting point .* priors"):
        best_start(energies[:3], "sweep 3")


def test_a_compilation_hands_the_compilers_freed_memory_back(monkeypatch):
    """compile_lowered calls glibc's malloc_trim once it is done (and nothing breaks
    where the C library has none)."""
    import importlib

    import jax
    import jax.numpy as jnp

    program = importlib.import_module("scalinglaws.engine.program")
    calls = []
    monkeypatch.setattr(program, "_malloc_trim", lambda: calls.append)
    lowered = jax.jit(lambda x: jnp.cos(x) + 1).lower(jax.ShapeDtypeStruct((4,), jnp.float64))
    compiled = program.compile_lowered(lowered, brief=True)
    assert calls == [0]
    assert np.allclose(compiled(np.zeros(4)), 2.0)
    monkeypatch.setattr(program, "_malloc_trim", lambda: None)
    program.compile_lowered(lowered, brief=False)


def test_a_cpu_loops_over_a_fits_chains_and_starts(monkeypatch):
    """On a CPU each device runs its chains (and the mode search its starts) one after
    another, a ``scan``, not side by side (``LOOPED_ENTRIES``); vectorised, a batch of
    chains would wait for its longest trajectory at every iteration. The loss-to-loss
    engine's ``split_runs`` goes the same way."""
    import jax
    import jax.numpy as jnp

    program = importlib.import_module("scalinglaws.engine.program")
    mcmc = importlib.import_module("scalinglaws.engine.mcmc")

    def stop_at(x, limit):  # a loop that runs for as long as this entry needs
        return jax.lax.while_loop(lambda v: v < limit, lambda v: v + 1.0, x)

    xs, limits = jnp.zeros(4), jnp.array([1.0, 5.0, 2.0, 3.0])
    looped = jax.make_jaxpr(program.over_entries(stop_at))(xs, limits)
    assert "scan" in str(looped) and "while" in str(looped)
    assert program.over_entries(stop_at)(xs, limits).tolist() == [1.0, 5.0, 2.0, 3.0]
    assert "scan" in str(jax.make_jaxpr(mcmc.split_runs(stop_at, 4))(xs, limits))
    monkeypatch.setattr(program, "LOOPED_ENTRIES", False)
    vectorised = jax.make_jaxpr(program.over_entries(stop_at))(xs, limits)
    assert "scan" not in str(vectorised)
    assert program.over_entries(stop_at)(xs, limits).tolist() == [1.0, 5.0, 2.0, 3.0]


def test_programs_are_kept_per_jax_random_settings(sweeps):
    """A program traced under one of JAX's settings that change its random numbers is
    not reused under another (in the process, or exported to the persistent cache), and
    is reused when the setting is back."""
    from scalinglaws.engine.program import exported_name

    shape = jax.ShapeDtypeStruct((4, 3), np.float64)

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.ScalingLawWarning)  # short chains
            return MODEL.fit(sweeps[0], seed=0, **FAST).idata.posterior["alpha"].values

    before, name = fit(), exported_name("sampler", shape)
    was = jax.config.jax_threefry_partitionable
    try:
        jax.config.update("jax_threefry_partitionable", not was)
        assert not np.array_equal(fit(), before)
        assert exported_name("sampler", shape) != name
    finally:
        jax.config.update("jax_threefry_partitionable", was)
    np.testing.assert_array_equal(fit(), before)
    assert exported_name("sampler", shape) == name
