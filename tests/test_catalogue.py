"""The catalogue of bad inputs: one row per case, each a clear error or warning.

Every row runs one call and asserts what comes out: a ``ScalingLawError`` (or, from the
command line, exit code 2 and one line on stderr) whose message holds a fragment naming
the input at fault, or a ``ScalingLawWarning`` where the answer is still right, or
nothing at all ("quiet": the call must work without a warning). Every row also checks
that the caller's frame is unchanged. Rows marked "issue 20" are the cases of that
issue; the others were handled before and stay handled.

No row runs the sampler: errors come before compilation, and the rows that need a fit
use one whose posterior is a set of prior draws (the mechanics are the same).
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import arviz as az
import h5py
import numpy as np
import pandas as pd
import pytest
from test_losstoloss import prior_draws

import scalinglaws as sl
from scalinglaws.cli import main
from scalinglaws.data import design_dataset, make_design
from scalinglaws.model import build_model

AT = {"N": 1e10, "D": 2e11}
MODEL = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    """The synthetic sweep with its datasets coded 0/1/2 (integers, as in issue 20)."""
    frame = sl.synthetic.sweep(seed=0).drop(columns="true_loss")
    codes = {name: i for i, name in enumerate(sorted(frame["dataset"].unique()))}
    return frame.assign(dataset=frame["dataset"].map(codes))


def _prior_fit(runs: pd.DataFrame) -> sl.Fit:
    """A Fit of MODEL on ``runs`` whose posterior is 40 prior draws (no sampler)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)  # one level: vary dropped
        design = make_design(MODEL, runs)
    model = build_model(MODEL, design)
    draws = prior_draws(model, 40, y=None)
    posterior = {k: np.asarray(v)[None] for k, v in draws.items() if k != "y"}
    dims = ({"E_dataset": ["dataset"], "E_z_dataset": ["dataset"]} if design.vary
            else {})
    coords = {"dataset": list(design.factors["dataset"].levels)} if design.vary else {}
    idata = az.from_dict(posterior=posterior, dims=dims, coords=coords)
    idata.add_groups(constant_data=design_dataset(design))
    return sl.Fit(idata=idata, spec=MODEL, design=design,
                  warnings=("a stored warning about the sampler",))


@pytest.fixture(scope="module")
def fit(runs) -> sl.Fit:
    """A Fit of MODEL whose posterior is 40 prior draws (no sampler)."""
    return _prior_fit(runs)


@pytest.fixture(scope="module")
def one_level_fit(runs) -> sl.Fit:
    """A Fit of MODEL on the runs of dataset 0 alone: E cannot vary by dataset."""
    return _prior_fit(runs[runs["dataset"] == 0])


@dataclass
class Ctx:
    """What a row's call may use: a fresh copy of the runs, a folder, and a saved fit."""

    frame: pd.DataFrame
    tmp: Path
    fit: sl.Fit
    one_level_fit: sl.Fit
    fit_path: Path
    csv: Path
    spec: Path

    def toml(self, text: str) -> Path:
        path = self.tmp / "spec.toml"
        path.write_text(text)
        return path

    def edited_fit(self, **changes) -> Path:
        """A copy of the saved fit with its stored spec (or other attributes) changed."""
        path = self.tmp / "edited.nc"
        shutil.copy(self.fit_path, path)
        with h5py.File(path, "r+") as handle:
            attrs = handle["posterior"].attrs
            spec = json.loads(attrs["scalinglaws_spec"])
            spec.update(changes.pop("spec", {}))
            attrs["scalinglaws_spec"] = json.dumps(spec)
            for key, value in changes.items():
                attrs[key] = value
        return path


def _fit(ctx: Ctx, **settings) -> None:
    MODEL.fit(ctx.frame, chains=1, warmup=10, draws=10, progress=False, **settings)


def _cli(ctx: Ctx, *args: str) -> int:
    return main([str(a) for a in args])


@dataclass
class Row:
    name: str
    kind: str          # "error", "warning", "cli" (exit 2) or "quiet" (no error, no warning)
    call: object       # call(ctx)
    fragment: str = ""


def _toml(name: str, text: str, fragment: str) -> Row:
    """A row reading ``text`` as a spec file with ScalingModel.from_toml."""
    return Row(name, "error", lambda c: sl.ScalingModel.from_toml(c.toml(text)), fragment)


CHINCHILLA = 'law = "chinchilla"\ntarget = "loss"\n'
ROWS = [
    # --- issue 20, 1: factor levels compared as text -------------------------------------
    Row("cli_number_level_matches_fitted_int_level", "quiet",
        lambda c: _cli(c, "predict", c.fit_path, "--at", "N=1e10,D=2e11,dataset=1")),
    Row("api_float_level_matches_fitted_int_level", "quiet",
        lambda c: c.fit.predict({**AT, "dataset": 1.0})),
    Row("factor_holding_number_and_text", "error",
        lambda c: MODEL.fit(c.frame.assign(dataset=c.frame["dataset"].astype(object).where(
            c.frame.index > 0, str(c.frame["dataset"].iloc[0])))),
        "holds both the number"),
    # --- issue 20, 2: unknown TOML keys ------------------------------------------------------
    _toml("toml_varry", CHINCHILLA + '[varry]\nE = ["dataset"]\n',
          "unknown key 'varry' (did you mean 'vary'?)"),
    _toml("toml_chains", CHINCHILLA + "chains = 2\n", "sampler settings are not part of a spec"),
    _toml("toml_sampler_table", CHINCHILLA + "[sampler]\nchains = 2\n",
          "sampler settings are not part of a spec"),
    _toml("toml_unknown_key", CHINCHILLA + "poolin = \"none\"\n",
          "unknown key 'poolin' (did you mean 'pooling'?)"),
    Row("dict_unknown_key", "error",
        lambda c: sl.ScalingModel.from_dict({"law": "chinchilla", "targett": "loss"}),
        "did you mean 'target'?"),
    Row("loss_to_loss_unknown_key", "error",
        lambda c: sl.read_spec('law = "chinchilla"\nlink = "shifted_power"\nfeedbak = 1\n'),
        "did you mean 'feedback'?"),
    Row("vary_names_a_near_miss", "error",
        lambda c: sl.ScalingModel("chinchilla", vary={"alpah": "dataset"}),
        "did you mean 'alpha'?"),
    # --- issue 20, 3: a saved fit whose spec was changed ---------------------------------
    Row("saved_spec_law_swapped", "error",
        lambda c: sl.load(c.edited_fit(spec={"law": "kaplan"})), "no longer matches"),
    Row("saved_spec_scale_changed", "error",
        lambda c: sl.load(c.edited_fit(spec={"scale": "identity"})), "no longer matches"),
    Row("saved_spec_vary_removed", "error",
        lambda c: sl.load(c.edited_fit(spec={"vary": {}})), "no longer matches"),
    Row("saved_format_not_a_number", "error",
        lambda c: sl.load(c.edited_fit(scalinglaws_format="abc")), "file format abc"),
    Row("saved_spec_a_list", "error",
        lambda c: sl.load(c.edited_fit(scalinglaws_spec="[1, 2]",
                                       scalinglaws_fingerprint="x")), "no longer matches"),
    Row("saved_spec_unknown_key_fingerprint_matched", "error",
        lambda c: sl.load(_refingerprinted(c, {"law": "chinchilla", "colour": 1})),
        "unknown key 'colour'"),
    # --- issue 20, 4: output paths, saving over a loaded fit ---------------------------------
    Row("cli_fit_out_folder_missing", "cli",
        lambda c: _cli(c, "fit", c.spec, "--data", c.csv, "--out", c.tmp / "no" / "f.nc"),
        "does not exist; create it first"),
    Row("cli_fit_out_is_a_folder", "cli",
        lambda c: _cli(c, "fit", c.spec, "--data", c.csv, "--out", c.tmp), "it is a folder"),
    Row("report_path_folder_missing", "error",
        lambda c: sl.report({"m": c.fit}, c.tmp / "no" / "r.html"), "does not exist"),
    Row("cli_report_out_not_html", "cli",
        lambda c: _cli(c, "report", c.fit_path, "--out", c.tmp / "r.txt"), "should end in"),
    Row("save_over_the_loaded_file", "quiet",
        lambda c: sl.load(c.fit_path).save(c.fit_path)),
    Row("save_into_missing_folder", "error",
        lambda c: c.fit.save(c.tmp / "no" / "f.nc"), "does not exist"),
    Row("save_as_csv", "error", lambda c: c.fit.save(c.tmp / "posterior.csv"),
        "saved as netCDF, so its name should end in .nc"),
    Row("save_without_suffix", "error", lambda c: c.fit.save(c.tmp / "fit"),
        "should end in .nc"),
    Row("cli_fit_out_csv", "cli",
        lambda c: _cli(c, "fit", c.spec, "--data", c.csv, "--out", c.tmp / "f.csv"),
        "should end in .nc"),
    # --- issue 20, 5: wrong types in a spec ----------------------------------------------
    _toml("toml_vary_a_string", CHINCHILLA + 'vary = "dataset"\n', "vary must be a table"),
    _toml("toml_inputs_a_list", CHINCHILLA + 'inputs = ["N", "D"]\n', "inputs must be a table"),
    _toml("toml_reference_a_number", CHINCHILLA + "reference = 5\n", "reference must be a table"),
    _toml("toml_priors_a_list", CHINCHILLA + "priors = []\n", "priors must be a table"),
    _toml("toml_prior_a_string", CHINCHILLA + '[priors]\nalpha = "Beta"\n',
          "priors['alpha'] must be a Prior"),
    _toml("toml_law_table_without_expression", 'target = "loss"\n[law]\nname = "x"\n',
          "needs an expression"),
    _toml("toml_law_variables_a_string", '[law]\nexpression = "E + A*N**-a"\nvariables = "N"\n',
          "variables must be a list"),
    _toml("toml_target_a_number", 'law = "chinchilla"\ntarget = 5\n', "target must be text"),
    _toml("toml_reference_too_large", CHINCHILLA + "[reference]\nN = " + "9" * 400 + "\n",
          "reference must give a positive number"),
    Row("spec_json_a_list", "error", lambda c: sl.ScalingModel.from_json("[1, 2]"),
        "model spec must be a table"),
    Row("spec_json_invalid", "error", lambda c: sl.ScalingModel.from_json("{"),
        "not valid JSON"),
    Row("expression_integer_over_308_digits", "error",
        lambda c: sl.ScalingModel("E + A*N**-" + "9" * 400), "larger than any float64"),
    Row("spec_path_a_folder", "error", lambda c: sl.read_spec(c.tmp),
        "is a folder, not a file"),
    Row("spec_path_not_toml", "error", lambda c: sl.read_spec(c.csv),
        "should be a .toml file"),
    Row("cli_spec_path_a_folder", "cli",
        lambda c: _cli(c, "fit", c.tmp, "--data", c.csv, "--out", c.tmp / "f.nc"),
        "is a folder"),
    Row("fit_seed_text", "error", lambda c: _fit(c, seed="a"), "seed must be"),
    Row("fit_max_tree_depth_0", "error", lambda c: _fit(c, max_tree_depth=0),
        "max_tree_depth must be an integer from 1 to 20"),
    Row("fit_dense_mass_text", "error", lambda c: _fit(c, dense_mass="yes"),
        "dense_mass must be True, False"),
    Row("vary_by_the_target", "error",
        lambda c: sl.ScalingModel("chinchilla", target="loss", vary={"E": "loss"}),
        "vary['E'] groups by 'loss', the column of the target"),
    Row("run_is_the_target", "error",
        lambda c: sl.ScalingModel("chinchilla", target="loss", run="loss"),
        "run groups by 'loss', the column of the target"),
    Row("fit_dense_mass_unknown_site", "error",
        lambda c: _fit(c, dense_mass=[("E", "alpha", "A")]),
        "dense_mass names ['A'], which this model does not sample"),
    Row("fit_target_accept_1", "error", lambda c: _fit(c, target_accept=1.0),
        "target_accept must be"),
    Row("predict_seed_text", "error",
        lambda c: c.fit.predict({**AT, "dataset": [1]}, seed="x"), "seed must be"),
    Row("predict_scalars", "quiet",
        lambda c: c.fit.predict({**AT, "dataset": 1})),
    Row("cli_data_empty_file", "cli",
        lambda c: (c.tmp.joinpath("e.csv").write_bytes(b""),
                   _cli(c, "fit", c.spec, "--data", c.tmp / "e.csv", "--out",
                        c.tmp / "f.nc"))[1], "is empty"),
    Row("cli_data_binary", "cli",
        lambda c: (c.tmp.joinpath("b.csv").write_bytes(bytes(range(256)) * 8),
                   _cli(c, "fit", c.spec, "--data", c.tmp / "b.csv", "--out",
                        c.tmp / "f.nc"))[1], "data"),
    Row("cli_data_a_folder", "cli",
        lambda c: _cli(c, "fit", c.spec, "--data", c.tmp, "--out", c.tmp / "f.nc"),
        "is a folder"),
    Row("expression_with_no_valid_start", "error",
        lambda c: sl.ScalingModel("E + A*N**-alpha - 10", target="loss").fit(c.frame),
        "where the sampler starts"),
    Row("cli_decide_quantile_outside_0_1", "cli",
        lambda c: _cli(c, "decide", c.fit_path, "--compute", "1e21", "--rule", "quantile",
                       "--quantile", "5"),
        "--quantile must be between 0 and 1"),
    Row("cli_demo_out_is_a_file", "cli",
        lambda c: _cli(c, "demo", "--out", c.csv), "cannot create the figure folder"),
    Row("cli_decide_rule_target_without_target", "cli",
        lambda c: _cli(c, "decide", c.fit_path, "--compute", "1e21", "--rule", "target"),
        "--rule target needs"),
    # --- issue 20, 6: silent where a word is needed ----------------------------------------
    Row("duplicated_rows", "warning",
        lambda c: MODEL.fit(pd.concat([c.frame, c.frame.iloc[:5]]), chains=1, warmup=10,
                            draws=10), "identical to an earlier row"),
    Row("predict_new_level", "warning",
        lambda c: c.fit.predict({**AT, "dataset": ["web"]}), "were not in the fitted data"),
    Row("next_run_text_in_a_candidate", "error",
        lambda c: sl.decide.next_run(
            c.fit, pd.DataFrame({"N": ["1e9x", 2e9], "D": [2e10, 4e10], "dataset": [1, 1]}),
            {**AT, "dataset": 1}),
        "candidates: column 'N' (law variable N) has non-numeric values in rows [0]"),
    Row("next_run_nan_in_a_candidate_named_by_its_label", "error",
        lambda c: sl.decide.next_run(
            c.fit, pd.DataFrame({"N": [np.nan, 2e9], "D": [2e10, 4e10], "dataset": [1, 1]},
                                index=["run_a", "run_b"]), {**AT, "dataset": 1}, cost=[1, 1]),
        "candidates: column 'N' (law variable N) has NaN or infinite values in rows "
        "['run_a']"),
    Row("prob_better_nan_in_at", "error",
        lambda c: sl.decide.prob_better(
            c.fit, {"dataset": 0}, {"dataset": 1},
            at=pd.DataFrame({"N": [7e9, np.nan], "D": [1.4e11, 1.4e11]})),
        "a with at: column 'N' (law variable N) has NaN or infinite values in rows [1]"),
    # --- decide: the caller's columns, costs by label, same configurations, odd numbers ----
    Row("next_run_own_cost_column_without_cost", "error",
        lambda c: sl.decide.next_run(
            c.fit, {"N": [1e9, 2e9], "D": 2e10, "dataset": 1, "cost": [1.0, 2.0]},
            {**AT, "dataset": 1}),
        "candidates already has a column 'cost', which next_run writes (by default the "
        "compute 6ND); to rank by your column pass cost='cost'"),
    Row("next_run_over_the_callers_rank", "error",
        lambda c: sl.decide.next_run(
            c.fit, {"N": [1e9, 2e9], "D": 2e10, "dataset": 1, "rank": [2, 1]},
            {**AT, "dataset": 1}),
        "candidates already has column(s) ['rank'], which next_run writes"),
    Row("next_run_cost_series_of_other_labels", "error",
        lambda c: sl.decide.next_run(
            c.fit, pd.DataFrame({"N": [1e9, 2e9], "D": 2e10, "dataset": 1}, index=[7, 8]),
            {**AT, "dataset": 1}, cost=pd.Series([1.0, 2.0])),
        "lacks labels [7, 8] and has labels [0, 1] that candidates do not"),
    Row("prob_target_over_the_callers_target", "error",
        lambda c: sl.decide.prob_target(c.fit, 2.3, at={**AT, "dataset": 1, "target": 5}),
        "at already has column(s) ['target'], which prob_target writes"),
    Row("prob_target_over_the_callers_median", "error",
        lambda c: sl.decide.prob_target(c.fit, 2.3, at={**AT, "dataset": 1, "median": 5}),
        "at already has column(s) ['median'], which prob_target writes"),
    Row("prob_better_over_the_callers_columns", "error",
        lambda c: sl.decide.prob_better(c.fit, {"dataset": 0}, {"dataset": 1},
                                        at={**AT, "p_a_better": 0.5}),
        "at already has column(s) ['p_a_better'], which prob_better writes"),
    Row("prob_better_a_is_at", "error",
        lambda c: sl.decide.prob_better(c.fit, {"dataset": 0}, None, at={**AT, "dataset": 0}),
        "a and b are the same configuration {'dataset': 0} once at= is applied"),
    Row("prob_better_b_is_at_as_text", "error",
        lambda c: sl.decide.prob_better(c.fit, None, {"dataset": "1"},
                                        at={**AT, "dataset": 1}),
        "a and b are the same configuration"),
    Row("prob_target_text_target", "error",
        lambda c: sl.decide.prob_target(c.fit, "2.3", at={**AT, "dataset": 1}),
        "target must be a finite number or one number per row of at (1 rows)"),
    Row("prob_target_bool_target", "error",
        lambda c: sl.decide.prob_target(c.fit, True, at={**AT, "dataset": 1}),
        "target must be a finite number"),
    Row("prob_target_huge_int_target", "error",
        lambda c: sl.decide.prob_target(c.fit, 10**400, at={**AT, "dataset": 1}),
        "target must be a finite number"),
    Row("prob_target_huge_int_at", "error",
        lambda c: sl.decide.prob_target(c.fit, 2.3, at={"N": 10**400, "D": 2e11, "dataset": 1}),
        "at: column 'N' (law variable N) holds numbers too large for a float"),
    Row("predict_huge_int_input", "error",
        lambda c: c.fit.predict({"N": [10**400], "D": [2e11], "dataset": [1]}),
        "column 'N' (law variable N) holds numbers too large for a float"),
    Row("compute_optimal_huge_int_compute", "error",
        lambda c: sl.decide.compute_optimal(c.fit, 10**400, group={"dataset": 1}),
        "compute holds a number too large for a float"),
    Row("prob_target_far_beyond_the_data", "warning",
        lambda c: sl.decide.prob_target(c.fit, 2.3, at={"N": 1e15, "D": 2e11, "dataset": 1}),
        "at: N = 1e+15 is 6.0 decades above the largest fitted N"),
    Row("choose_size_target_at_or_below_zero", "error",
        lambda c: sl.decide.choose_size(c.fit, 1e22, group={"dataset": 1}, rule="target",
                                        target=-3),
        "target must be positive"),
    Row("choose_size_target_out_of_reach", "warning",
        lambda c: sl.decide.choose_size(c.fit, 1e22, group={"dataset": 1}, rule="target",
                                        target=1e-6),
        "at every size searched, so the target rule cannot choose"),
    Row("choose_size_huge_int_compute", "error",
        lambda c: sl.decide.choose_size(c.fit, 10**400, group={"dataset": 1}),
        "compute holds a number too large for a float"),
    # --- priors and parameterization of parts a model does not have ----------------------
    Row("nu_prior_with_normal_noise", "error",
        lambda c: sl.ScalingModel("chinchilla", priors={"nu": sl.Prior("Gamma", 2, 0.1)}),
        "priors names 'nu', the degrees of freedom of Student-t noise, which only "
        "likelihood='student_t' has; add likelihood='student_t' or drop the prior"),
    Row("run_sd_prior_without_run", "error",
        lambda c: sl.ScalingModel("chinchilla", priors={"run_sd": sl.Prior("HalfNormal", 0.1)}),
        "add run='<column of run ids>' or drop the prior"),
    Row("run_parameterization_without_run", "error",
        lambda c: sl.ScalingModel("chinchilla", vary={"E": "dataset"},
                                  parameterization={"run": "centred"}),
        "parameterization names 'run', the per-run offsets, which only a model with a run "
        "factor has"),
    _toml("toml_nu_prior_with_normal_noise",
          CHINCHILLA + '[priors]\nnu = { name = "Gamma", concentration = 2, rate = 0.1 }\n',
          "add likelihood='student_t' or drop the prior"),
    Row("saved_spec_with_an_unused_nu_prior_still_loads", "quiet",
        lambda c: sl.load(_refingerprinted(c, {
            **c.fit.spec.to_dict(),
            "priors": {"nu": {"name": "Gamma", "concentration": 2.0, "rate": 0.1}},
            "parameterization": {"run": "centred"}}))),
    Row("predict_over_the_callers_columns", "error",
        lambda c: c.fit.predict({**AT, "dataset": [1], "lower": [0.5], "mean": [1.0]}),
        "data already has column(s) ['mean', 'lower'], which predict writes"),
    Row("predict_list_of_dicts_with_a_key_left_out", "error",
        lambda c: c.fit.predict([{**AT, "dataset": 1}, {"N": 1e10, "dataset": 1}]),
        "data: row 1 (a dict of the list) has no ['D']"),
    Row("input_is_the_target", "error",
        lambda c: sl.ScalingModel("chinchilla", inputs={"N": "loss", "D": "D"}, target="loss"),
        "inputs['N'] is 'loss', the target column"),
    Row("predict_other_level_of_a_one_level_fit", "warning",
        lambda c: c.one_level_fit.predict({**AT, "dataset": [1]}),
        "the fitted data held only '0', so the fit has no offsets by dataset"),
    Row("decide_other_level_of_a_one_level_fit", "warning",
        lambda c: sl.decide.prob_better(c.one_level_fit, {"dataset": 0}, {"dataset": 1},
                                        at=AT),
        "the fitted data held only '0', so the fit has no offsets by dataset"),
    Row("predict_far_above", "warning",
        lambda c: c.fit.predict({"N": [1e30], "D": [2e11], "dataset": [1]}),
        "decades above the largest fitted N"),
    Row("predict_far_below", "warning",
        lambda c: c.fit.predict({"N": [1e-30], "D": [2e11], "dataset": [1]}),
        "decades below the smallest fitted N"),
    Row("load_keeps_stored_warnings_quiet", "quiet", lambda c: sl.load(c.fit_path)),
    # --- handled before issue 20 -------------------------------------------------------------
    Row("missing_column", "error", lambda c: MODEL.fit(c.frame.drop(columns="D")),
        "data has no column 'D'"),
    Row("nan_in_input", "error",
        lambda c: MODEL.fit(c.frame.assign(N=c.frame["N"].where(c.frame.index != 3))),
        "NaN or infinite values in rows [3]"),
    Row("non_positive_target", "error",
        lambda c: MODEL.fit(c.frame.assign(loss=-c.frame["loss"])), "must be positive"),
    Row("text_in_numbers", "error",
        lambda c: MODEL.fit(c.frame.assign(N=c.frame["N"].astype(object).where(
            c.frame.index != 2, "big"))), "non-numeric values in rows [2]"),
    Row("empty_frame", "error", lambda c: MODEL.fit(c.frame.iloc[:0]), "no rows"),
    Row("too_few_rows", "error",
        lambda c: sl.ScalingModel("chinchilla", target="loss").fit(c.frame.iloc[:3]),
        "free parameters"),
    Row("unknown_law", "error", lambda c: sl.ScalingModel("chinchila"), "unknown law"),
    Row("unknown_prior", "error",
        lambda c: sl.ScalingModel("chinchilla", priors={"alpha": {"name": "Nope"}}),
        "unknown prior distribution"),
    Row("expression_injection", "error",
        lambda c: sl.ScalingModel("__import__('os').system('echo hi')"), "not allowed"),
    Row("chains_zero", "error", lambda c: MODEL.fit(c.frame, chains=0),
        "chains must be an integer"),
    Row("predict_interval_90", "error",
        lambda c: c.fit.predict({**AT, "dataset": [1]}, interval=90), "interval must be"),
    Row("predict_missing_factor", "error", lambda c: c.fit.predict(AT),
        "no column 'dataset'"),
    Row("load_missing_file", "error", lambda c: sl.load(c.tmp / "nope.nc"), "no fit file"),
    Row("load_junk_file", "error",
        lambda c: (c.tmp.joinpath("junk.nc").write_text("junk"),
                   sl.load(c.tmp / "junk.nc"))[1], "not a readable netCDF"),
    Row("cli_missing_data_file", "cli",
        lambda c: _cli(c, "fit", c.spec, "--data", c.tmp / "no.csv", "--out", c.tmp / "f.nc"),
        "does not exist"),
    Row("cli_at_without_equals", "cli",
        lambda c: _cli(c, "predict", c.fit_path, "--at", "N"), "NAME=VALUE"),
    # --- arguments, choices and frames named with what to do -------------------------------
    Row("model_unknown_argument", "error",
        lambda c: sl.ScalingModel("chinchilla", targte="loss"), "(did you mean 'target'?)"),
    Row("model_noise_argument", "error",
        lambda c: sl.ScalingModel("chinchilla", noise="se"), "measurement_se"),
    Row("model_choice_near_miss", "error",
        lambda c: sl.ScalingModel("chinchilla", parameterization="centered"),
        "(did you mean 'centred'?)"),
    Row("dates_in_a_size_column", "error",
        lambda c: MODEL.fit(c.frame.assign(N=pd.to_datetime(c.frame["N"]))),
        "holds datetime64[ns] values"),
    Row("factor_in_the_index", "error", lambda c: MODEL.fit(c.frame.set_index("dataset")),
        "data.reset_index()"),
    Row("multiindex_columns", "error",
        lambda c: MODEL.fit(c.frame.set_axis(pd.MultiIndex.from_tuples(
            [(k, "") for k in c.frame.columns]), axis=1)), "columns of 2 levels"),
    Row("predict_missing_factor_says_new_level", "error", lambda c: c.fit.predict(AT),
        "dataset='new'"),
    Row("predict_records", "quiet",
        lambda c: c.fit.predict([{**AT, "dataset": 1}, {**AT, "dataset": 2}])),
    # --- warnings of fit_many, measurement_se, True/False numbers ---------------------------
    Row("fit_many_warning_names_the_frame", "warning",
        lambda c: MODEL.fit_many({"a": c.frame, "c": pd.concat([c.frame, c.frame.iloc[:5]])},
                                 chains=1, warmup=10, draws=10),
        "frames['c']: data has 5 row(s) identical to an earlier row"),
    Row("measurement_se_is_a_law_input", "error",
        lambda c: sl.ScalingModel("chinchilla", target="loss", measurement_se="N"),
        "measurement_se is 'N', the column of law variable N"),
    Row("measurement_se_true_false", "error",
        lambda c: sl.ScalingModel("chinchilla", target="loss", measurement_se="flag").fit(
            c.frame.assign(flag=True)),
        "column 'flag' (measurement standard error) holds True/False values, not numbers"),
    Row("size_true_false_in_text_column", "error",
        lambda c: MODEL.fit(c.frame.assign(N=c.frame["N"].astype(object).where(
            c.frame.index != 4, True))),
        "column 'N' (law variable N) holds True/False values, not numbers, in rows [4]"),
    # --- laws, priors and sampler arguments (bug hunt: laws) ------------------------------
    Row("law_param_named_sigma", "error",
        lambda c: sl.ScalingModel("E + A*N**-sigma", target="loss"),
        "parameter named 'sigma', which is the model's name for the noise scale; rename"),
    Row("law_param_named_y", "error", lambda c: sl.ScalingModel("E + A*N**-y", target="loss"),
        "parameter named 'y'"),
    Row("law_param_named_nu", "error",
        lambda c: sl.ScalingModel(sl.Law.from_expression(
            "E + A*N**-nu", params={"nu": sl.Prior("LogNormal", -1.0, 0.3)}), target="loss"),
        "parameter named 'nu', which is the model's name for the degrees of freedom"),
    Row("law_param_named_run_sd", "error",
        lambda c: sl.ScalingModel("E + A*N**-alpha + run_sd*D**-beta", target="loss"),
        "parameter named 'run_sd'"),
    Row("law_param_named_param_sd", "error",
        lambda c: sl.ScalingModel("E + A*N**-alpha + E_sd*D**-beta", target="loss"),
        "parameter named 'E_sd', which is the model's name for the between-level"),
    Row("law_param_named_param_factor", "error",
        lambda c: sl.ScalingModel("E + A*N**-alpha + B*D**-E_dataset", target="loss",
                                  vary={"E": "dataset"}),
        "parameter named 'E_dataset', which is the model's name for E's value per level"),
    Row("law_param_named_offset_site", "error",
        lambda c: sl.ScalingModel("E + A*N**-alpha + B*D**-E_z_dataset", target="loss",
                                  vary={"E": "dataset"}),
        "parameter named 'E_z_dataset'"),
    Row("prior_of_unknown_sd", "error",
        lambda c: sl.ScalingModel("chinchilla", target="loss").prior("k_sd"),
        "no prior named 'k_sd'"),
    Row("uniform_prior_low_above_high", "error", lambda c: sl.Prior("Uniform", 0.5, 0.2),
        "Prior('Uniform') needs low < high, got low=0.5, high=0.2"),
    Row("truncated_normal_prior_low_above_high", "error",
        lambda c: sl.Prior("TruncatedNormal", 0, 1, 2, 1), "needs low < high"),
    _toml("toml_uniform_prior_low_above_high",
          CHINCHILLA + '[priors]\nalpha = { name = "Uniform", low = 1, high = 0 }\n',
          "needs low < high"),
    Row("prior_argument_true_false", "error", lambda c: sl.Prior("Normal", True, 1),
        "argument loc=True is not a number but True/False"),
    Row("prior_argument_text", "error", lambda c: sl.Prior("Normal", "1", 1),
        "argument loc='1' is not a number but text"),
    _toml("toml_prior_argument_text",
          CHINCHILLA + '[priors]\nE = { name = "LogNormal", loc = "-1", scale = 1 }\n',
          "argument loc='-1' is not a number but text"),
    Row("param_prior_as_text", "error", lambda c: sl.Param("A", "positive", "LogNormal"),
        "parameter 'A': prior must be a Prior or a dict"),
    Row("param_name_not_a_name", "error",
        lambda c: sl.Param(None, "positive", sl.Prior("LogNormal", 0, 1)),
        "a parameter's name must be text"),
    Row("expression_params_as_text", "error",
        lambda c: sl.Law.from_expression("E + A*N**-alpha", params="E"),
        "params must be a dict from parameter name"),
    Row("law_variables_as_text", "error",
        lambda c: sl.Law(name="x", variables="N", params=(sl.Param(
            "A", "positive", sl.Prior("LogNormal", 0, 1)),), fn=lambda v, p: p["A"],
            latex=""), "variables must be a tuple of names"),
    Row("law_params_of_text", "error",
        lambda c: sl.Law(name="x", variables=("N",), params=("A",), fn=lambda v, p: p["A"],
                         latex=""), "params must be a tuple of sl.Param"),
    Row("param_group_scale_negative", "error",
        lambda c: sl.Param("A", "positive", sl.Prior("LogNormal", 0, 1), group_scale=-1),
        "parameter 'A': group_scale (the HalfNormal scale"),
    Row("param_group_scale_true", "error",
        lambda c: sl.Param("A", "positive", sl.Prior("LogNormal", 0, 1), group_scale=True),
        "must be a positive finite number, e.g. 0.5, got True"),
    Row("expression_group_scale_nan", "error",
        lambda c: sl.Law.from_expression("E + A*N**-alpha",
                                         params={"E": {"group_scale": float("nan")}}),
        "parameter 'E': group_scale"),
    Row("expression_group_scale_zero", "error",
        lambda c: sl.Law.from_expression("E + A*N**-alpha", params={"E": {"group_scale": 0}}),
        "parameter 'E': group_scale"),
    Row("fit_n_starts_zero", "error", lambda c: _fit(c, n_starts=0),
        "n_starts must be an integer >= 1, got 0"),
    Row("model_n_starts_argument", "error",
        lambda c: sl.ScalingModel("chinchilla", n_starts=4),
        "n_starts is a sampler setting: pass it to fit()"),
]


def _refingerprinted(ctx: Ctx, spec: dict) -> Path:
    """A fit file whose stored spec was replaced and its fingerprint recomputed to match
    (so that only the spec's own check can catch it)."""
    return respecified(ctx.edited_fit(), "scalinglaws_spec", spec)


def respecified(path: Path, key: str, spec: dict) -> Path:
    """The fit file ``path`` with the spec stored under ``key`` replaced by ``spec`` and its
    fingerprint recomputed to match, as a file saved with that spec would be."""
    from scalinglaws.netcdf import fingerprint

    with h5py.File(path, "r+") as handle:
        attrs = handle["posterior"].attrs
        attrs[key] = json.dumps(spec)
        text = {k: attrs[k] for k in attrs if k.endswith("_spec")}
    idata = az.from_netcdf(str(path), engine="h5netcdf")
    idata.load()
    value = fingerprint(idata, text)
    for group in idata.groups():
        getattr(idata, group).close()
    with h5py.File(path, "r+") as handle:
        handle["posterior"].attrs["scalinglaws_fingerprint"] = value
    return path


@pytest.fixture(scope="module")
def files(runs, fit, tmp_path_factory) -> dict[str, Path]:
    """The runs as CSV, MODEL as TOML and the fit saved, written once for every row."""
    folder = tmp_path_factory.mktemp("catalogue")
    runs.to_csv(folder / "runs.csv", index=False)
    MODEL.to_toml(folder / "model.toml")
    return {"csv": folder / "runs.csv", "spec": folder / "model.toml",
            "fit_path": fit.save(folder / "fit.nc")}


@pytest.fixture
def ctx(runs, fit, one_level_fit, files, tmp_path) -> Ctx:
    return Ctx(frame=runs.copy(), tmp=tmp_path, fit=fit, one_level_fit=one_level_fit,
               **files)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_catalogue(row: Row, ctx: Ctx, runs, capsys):
    before = ctx.frame.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.ScalingLawWarning)  # a warning stops the call
        if row.kind == "error":
            with pytest.raises(sl.ScalingLawError) as info:
                row.call(ctx)
            assert row.fragment in str(info.value)
        elif row.kind == "warning":
            with pytest.raises(sl.ScalingLawWarning) as info:
                row.call(ctx)
            assert row.fragment in str(info.value)
        elif row.kind == "cli":
            capsys.readouterr()
            assert row.call(ctx) == 2
            err = capsys.readouterr().err.strip().splitlines()
            errors = [line for line in err if line.startswith("scalinglaws: error:")]
            assert len(errors) == 1 and row.fragment in errors[0]
            assert all(line.startswith("scalinglaws: ") for line in err)  # no traceback
        else:
            row.call(ctx)
    pd.testing.assert_frame_equal(ctx.frame, before)
    pd.testing.assert_frame_equal(ctx.frame, runs)


def test_levels_match_across_api_cli_and_saved_fit(fit, ctx, capsys):
    """Issue 20, 1: level 1 typed on the command line, 1 or "1" or 1.0 in the API, and
    the level read back from the saved fit are one level, with the same prediction."""
    rows = [fit.predict({**AT, "dataset": [level]}, seed=3)
            for level in (1, "1", 1.0, np.int64(1))]
    loaded = sl.load(ctx.fit_path).predict({**AT, "dataset": ["1"]}, seed=3)
    for other in [*rows[1:], loaded]:
        np.testing.assert_array_equal(other[["median", "lower", "upper"]].to_numpy(),
                                      rows[0][["median", "lower", "upper"]].to_numpy())
    with pytest.warns(sl.ScalingLawWarning, match=r"level\(s\) \['3'\] were not in the fitted"):
        fit.predict({**AT, "dataset": ["3"]}, seed=3)
    capsys.readouterr()
    assert main(["predict", str(ctx.fit_path), "--at", "N=1e10,D=2e11,dataset=1"]) == 0
    printed = capsys.readouterr()
    assert f"{rows[0]['median'].iloc[0]:.4g}" in printed.out
    assert "not in the fitted data" not in printed.err


def test_paths_starting_with_a_tilde_are_in_the_home_folder(fit, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert fit.save("~/fit.nc") == tmp_path / "fit.nc"
    assert sl.load("~/fit.nc").summary().equals(sl.load(tmp_path / "fit.nc").summary())
    MODEL.to_toml("~/model.toml")
    assert sl.read_spec("~/model.toml") == MODEL


def test_saving_over_a_file_is_atomic(fit, tmp_path, monkeypatch):
    """A save that fails leaves the existing file whole and no temporary file behind."""
    path = fit.save(tmp_path / "fit.nc")
    before = path.read_bytes()

    def fail(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(az.InferenceData, "to_netcdf", fail)
    with pytest.raises(sl.ScalingLawError, match="No space left on device"):
        fit.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_an_unwritable_folder_is_found_before_the_fit(ctx, monkeypatch, capsys):
    """A folder the OS refuses (a read-only mount, /proc) is caught by writing a probe
    file, not by os.access, which says yes to root; the fit never starts."""
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(sl.ScalingModel, "fit", lambda *a, **k: pytest.fail("fitted"))
    assert main(["fit", str(ctx.spec), "--data", str(ctx.csv), "--out",
                 str(ctx.tmp / "f.nc")]) == 2
    assert "is not writable (Read-only file system)" in capsys.readouterr().err


def test_cli_prints_each_warning_once(ctx, capsys):
    assert main(["predict", str(ctx.fit_path), "--at", "N=1e10,D=2e11,dataset=web",
                 "--at", "N=2e10,D=2e11,dataset=web"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err.count("scalinglaws: warning: loaded fit: a stored warning about the sampler") == 1
    assert sum("were not in the fitted data" in line for line in err) == 1


def test_a_sweep_shares_no_truth_table_with_its_callers():
    default = json.dumps(sl.synthetic.TRUTH)
    first = sl.synthetic.sweep(seed=0)
    first.attrs["truth"]["E"]["web"] = 99.0
    assert json.dumps(sl.synthetic.TRUTH) == default
    assert sl.synthetic.sweep(seed=0).attrs["truth"]["E"]["web"] == 1.85
    mine = {**sl.synthetic.TRUTH, "E": {"x": 1.5}, "A": {"x": 400.0}, "B": {"x": 400.0}}
    sl.synthetic.sweep(seed=0, truth=mine).attrs["truth"]["E"]["x"] = 7.0
    assert mine["E"] == {"x": 1.5}


@pytest.mark.parametrize("many", [False, True])
def test_fit_passes_n_starts_to_the_sampler(ctx, monkeypatch, many):
    import scalinglaws.scaling_model as scaling_model

    class Stop(Exception):
        pass

    seen = {}

    def sampler(*args, **kwargs):
        seen.update(kwargs)
        raise Stop

    monkeypatch.setattr(scaling_model, "run_nuts_many" if many else "run_nuts", sampler)
    with pytest.raises(Stop):
        if many:
            MODEL.fit_many([ctx.frame], n_starts=3)
        else:
            MODEL.fit(ctx.frame, n_starts=3)
    assert seen["n_starts"] == 3
