"""Decisions under uncertainty: compute-optimal allocation, decision rules, P(better),
P(target) and next_run, on one small fit of a sweep with known truth."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from functools import partial

import matplotlib
import numpy as np
import pandas as pd
import pytest

import scalinglaws as sl
from scalinglaws import decide
from scalinglaws.decide.reweight import logpdf, weighted_spread
from scalinglaws.errors import ScalingLawError, ScalingLawWarning

matplotlib.use("Agg")

#: Chinchilla truth with shared A, B and per-dataset E: the model below is well specified.
TRUTH = {**sl.synthetic.TRUTH,
         "A": dict.fromkeys(sl.synthetic.TRUTH["E"], 406.4),
         "B": dict.fromkeys(sl.synthetic.TRUTH["E"], 410.7)}
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@contextlib.contextmanager
def _quiet():
    """Silence the sampler warnings of the deliberately short fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)
        yield


@pytest.fixture(scope="module")
def fit():
    runs = sl.synthetic.sweep(seed=3, sizes=(1e7, 3e7, 1e8, 3e8, 1e9),
                              multipliers=(5, 20, 80), truth=TRUTH)
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    with _quiet():
        return model.fit(runs, seed=0, chains=2, warmup=200, draws=200, progress=False)


def _true_optimum(compute: float, dataset: str) -> float:
    params = {"E": TRUTH["E"][dataset], "A": TRUTH["A"][dataset], "B": TRUTH["B"][dataset],
              "alpha": TRUTH["alpha"], "beta": TRUTH["beta"]}
    return float(decide.optimum("chinchilla", params, compute)["N"])


def _random_chinchilla(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"E": rng.uniform(1.5, 2.0, n), "A": rng.lognormal(6, 0.3, n),
            "B": rng.lognormal(6, 0.3, n), "alpha": rng.uniform(0.28, 0.4, n),
            "beta": rng.uniform(0.25, 0.35, n)}


# --------------------------------------------------------------------------- optimum


def test_closed_form_matches_numerical_optimum():
    params = _random_chinchilla(500)
    for compute in (1e21, 1e25):
        closed = decide.optimum("chinchilla", params, compute, method="closed")
        numerical = decide.optimum("chinchilla", params, compute, method="numerical")
        assert not numerical["at_edge"].any()
        np.testing.assert_allclose(numerical["N"], closed["N"], rtol=1e-5)
        np.testing.assert_allclose(numerical["loss"], closed["loss"], rtol=1e-10)
        np.testing.assert_allclose(6 * closed["N"] * closed["D"], compute, rtol=1e-10)


def test_closed_form_is_a_minimum():
    law = sl.laws.get("chinchilla")
    best = decide.optimum(law, CHINCHILLA, 1e23)
    for factor in (0.9, 1.1):
        n = best["N"] * factor
        other = float(law.fn({"N": n, "D": 1e23 / (6 * n)}, CHINCHILLA))
        assert other > float(best["loss"])


def test_kaplan_numerical_matches_analytic_optimum():
    # L = E + ((A/N)^(a/b) + B/D)^b with D = K/N: N* = ((a/b) A^(a/b) K / B)^(b/(a+b))
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.3, 0.5, 300), rng.uniform(0.3, 0.5, 300)
    A, B = rng.lognormal(np.log(1e7), 0.5, 300), rng.lognormal(np.log(1e9), 0.5, 300)
    params = {"E": np.full(300, 1.8), "A": A, "B": B, "alpha": a, "beta": b}
    out = decide.optimum("kaplan", params, 1e23)
    k = 1e23 / 6
    analytic = ((a / b) * A ** (a / b) * k / B) ** (b / (a + b))
    np.testing.assert_allclose(out["N"], analytic, rtol=1e-5)


def test_overtraining_is_chinchilla_with_one_exponent():
    ot = {"E": 1.84, "a": 212.2, "b": 366.7, "eta": 0.1364}
    closed = decide.optimum("overtraining", ot, 1e23)
    numerical = decide.optimum("overtraining", ot, 1e23, method="numerical")
    six = 6.0 ** -ot["eta"]
    as_chinchilla = decide.optimum("chinchilla", {"E": 1.84, "A": ot["a"] * six,
                                                  "B": ot["b"] * six, "alpha": 2 * ot["eta"],
                                                  "beta": 2 * ot["eta"]}, 1e23)
    np.testing.assert_allclose(closed["N"], numerical["N"], rtol=1e-5)
    np.testing.assert_allclose(closed["N"], as_chinchilla["N"], rtol=1e-10)
    # one shared exponent: D*/N* is the same at every budget
    np.testing.assert_allclose(decide.optimum("overtraining", ot, 1e25)["ratio"],
                               closed["ratio"], rtol=1e-10)


def test_expression_law_uses_the_numerical_optimum():
    law = sl.Law.from_expression("E + A*N**-alpha + B*D**-beta")
    params = _random_chinchilla(50, seed=2)
    custom = decide.optimum(law, params, [[1e22]])
    np.testing.assert_allclose(custom["N"], decide.optimum("chinchilla", params, 1e22)["N"][None],
                               rtol=1e-5)
    with pytest.raises(ScalingLawError, match="closed-form"):
        decide.optimum(law, params, 1e22, method="closed")


@pytest.mark.parametrize(("law", "params", "compute", "method", "match"), [
    ("compute", {"E": 1.0, "A": 1.0, "alpha": 0.3}, 1e22, "auto", "law of model size N"),
    ("chinchilla", CHINCHILLA, -1.0, "auto", "positive"),
    ("chinchilla", CHINCHILLA, [1e21, np.nan], "auto", "positive"),
    ("chinchilla", CHINCHILLA, "lots", "auto", "compute"),
    ("chinchilla", {"E": 1.0}, 1e22, "auto", "lacks"),
    ("chinchilla", CHINCHILLA, 1e22, "fast", "method"),
])
def test_optimum_rejects_bad_input(law, params, compute, method, match):
    with pytest.raises(ScalingLawError, match=match):
        decide.optimum(law, params, compute, method=method)


# ------------------------------------------------------------------ compute_optimal


def test_compute_optimal_table(fit):
    table = decide.compute_optimal(fit, [1e21, 1e23, 1e25])
    assert len(table) == 9 and set(table["dataset"]) == {"books", "code", "web"}
    for q in ("N", "D", "tokens_per_param", "loss"):
        assert (table[f"{q}_lower"] <= table[f"{q}_median"]).all()
        assert (table[f"{q}_median"] <= table[f"{q}_upper"]).all()
    assert (table["method"] == "closed form").all()
    for _, part in table.groupby("dataset"):
        assert part["N_median"].is_monotonic_increasing
        assert part["loss_median"].is_monotonic_decreasing
    assert table.attrs["interval"] == 0.9


def test_compute_optimal_draws_closed_vs_numerical(fit):
    closed = decide.optimal_draws(fit, [1e21, 1e24], group={"dataset": "web"})
    numerical = decide.optimal_draws(fit, [1e21, 1e24], group={"dataset": "web"},
                                     method="numerical")
    assert closed["N"].shape == (400, 2)
    np.testing.assert_allclose(numerical["N"], closed["N"], rtol=1e-5)
    np.testing.assert_allclose(6 * closed["N"] * closed["D"],
                               np.broadcast_to([1e21, 1e24], (400, 2)), rtol=1e-10)
    np.testing.assert_allclose(closed["ratio"], closed["D"] / closed["N"], rtol=1e-12)


def test_compute_optimal_interval_contains_true_optimum(fit):
    table = decide.compute_optimal(fit, 1e21, interval=0.98)
    for _, row in table.iterrows():
        true_n = _true_optimum(1e21, row["dataset"])
        assert row["N_lower"] <= true_n <= row["N_upper"], (row["dataset"], true_n)


def test_compute_optimal_group_handling(fit):
    one = decide.compute_optimal(fit, 1e22, group={"dataset": "code"})
    assert list(one["dataset"]) == ["code"]
    two = decide.compute_optimal(fit, 1e22, group={"dataset": ["code", "web"]})
    assert list(two["dataset"]) == ["code", "web"]
    with pytest.raises(ScalingLawError, match="does not vary by"):
        decide.compute_optimal(fit, 1e22, group={"tokenizer": "gpt2"})
    # the levels are quoted as the user wrote them, not as NumPy's reprs (np.str_('code'))
    with pytest.warns(ScalingLawWarning, match=r"group: dataset level\(s\) \['wiki'\] were "
                      r"not in the fitted data \(levels \['books', 'code', 'web'\]\)"):
        new = decide.compute_optimal(fit, 1e22, group={"dataset": "wiki"})
    assert all(type(level) is str for level in fit.levels()["dataset"])
    # a new level is drawn from the population: wider than a fitted level
    width = lambda t: float(t["loss_upper"].iloc[0] - t["loss_lower"].iloc[0])  # noqa: E731
    assert width(new) > width(one)


def test_compute_optimal_of_a_stack_mixes_each_fits_optima(fit):
    runs = fit.data()
    with _quiet():
        other = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"}).fit(
            runs, seed=1, chains=2, warmup=200, draws=200, progress=False)  # compiled
    pair = {"seed0": fit, "seed1": other}
    budgets = [1e21, 1e24]
    # weight 1 on one fit: its own optima, so its own table
    alone = decide.compute_optimal(fit, budgets)
    only = decide.compute_optimal(sl.Stack(pair, {"seed0": 1.0}), budgets)
    pd.testing.assert_frame_equal(only.drop(columns="method"), alone.drop(columns="method"),
                                  check_exact=False, rtol=1e-12)
    assert (only["method"] == "seed0: closed form").all()
    assert only.attrs["weights"] == {"seed0": 1.0, "seed1": 0.0}
    # equal weights: every draw is one of either fit's optima, half from each
    mixed = decide.optimal_draws(sl.Stack(pair, {"seed0": 1, "seed1": 1}), budgets)
    own = {name: decide.optimal_draws(f, budgets) for name, f in pair.items()}
    assert mixed["N"].shape == own["seed0"]["N"].shape and "params" not in mixed
    assert sorted(set(mixed["model"])) == ["seed0", "seed1"]
    pd.testing.assert_frame_equal(mixed["rows"], own["seed0"]["rows"])
    for j in range(mixed["N"].shape[1]):
        first = np.isin(mixed["N"][:, j], own["seed0"]["N"][:, j])
        assert (first | np.isin(mixed["N"][:, j], own["seed1"]["N"][:, j])).all()
        assert first.sum() == 200
    # a warning every fit raises alike (a level never fitted) is issued once
    stack = sl.Stack(pair, {"seed0": 1, "seed1": 1})
    for decision in (lambda: decide.compute_optimal(stack, 1e22, group={"dataset": "wiki"}),
                     lambda: decide.prob_better(stack, {"dataset": "wiki"},
                                                {"dataset": "web"}, at={"N": 1e9, "D": 2e10})):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            decision()
        about = [str(w.message) for w in caught if "'wiki'" in str(w.message)]
        assert len(about) == len(set(about)) >= 1, about
    # each draw keeps its own D and loss: D = C / (6 N) row by row
    np.testing.assert_allclose(6 * mixed["N"] * mixed["D"],
                               np.broadcast_to(np.repeat(budgets, 3), mixed["N"].shape),
                               rtol=1e-10)


def test_a_stack_allocates_only_for_groups_its_fits_share(fit):
    with _quiet():
        plain = sl.ScalingModel("chinchilla", target="loss").fit(
            fit.data(), seed=0, chains=2, warmup=200, draws=200, progress=False)
    stack = sl.Stack({"by_dataset": fit, "pooled": plain}, {"by_dataset": 1, "pooled": 1})
    with pytest.raises(ScalingLawError, match=r"allocate for different groups .*"
                                              r"'by_dataset': \['dataset'\], 'pooled': \[\]"):
        decide.compute_optimal(stack, 1e22)
    for decision in (partial(decide.choose_size, compute=1e22),
                     partial(decide.plot_frontier, compute=[1e21, 1e22])):
        with pytest.raises(ScalingLawError, match="fit is a Stack .*each of stack.fits"):
            decision(stack)


def test_plot_frontier(fit):
    fig = decide.plot_frontier(fit, compute=np.geomspace(1e19, 1e24, 8),
                               group={"dataset": ["web", "code"]})
    assert len(fig.axes) == 3
    assert len(fig.axes[0].lines) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)


# --------------------------------------------------------------------- choose_size


def test_expected_rule_beats_point_estimate_in_expectation(fit):
    d = decide.choose_size(fit, 1e24, group={"dataset": "web"}, point="map")
    rule, point = d.table.iloc[0], d.table.iloc[1]
    assert rule.expected_loss <= point.expected_loss + 1e-12
    assert d.cost_of_ignoring_uncertainty >= -1e-12
    for name in d.table.index:
        assert (d.regret[name] >= 0).all()
        np.testing.assert_allclose(d.table.loc[name, "regret_mean"],
                                   d.loss[name].mean() - d.optimum["loss"].mean(), atol=1e-12)
    assert d.table.loc[d.table.index[0], "D"] == pytest.approx(1e24 / (6 * rule.N))
    assert "Decision" in repr(d) and "point estimate (map)" in repr(d)


def test_quantile_and_target_rules(fit):
    group = {"dataset": "web"}
    expected = decide.choose_size(fit, 1e24, group=group, quantile=0.95)
    risk_averse = decide.choose_size(fit, 1e24, group=group, rule="quantile", quantile=0.95)
    assert (risk_averse.chosen.loss_quantile
            <= expected.chosen.loss_quantile + 1e-12)
    assert risk_averse.chosen.expected_loss >= expected.chosen.expected_loss - 1e-12
    target = float(np.median(expected.loss[expected.table.index[0]]))
    by_target = decide.choose_size(fit, 1e24, group=group, rule="target", target=target)
    by_mean = decide.choose_size(fit, 1e24, group=group, target=target)
    assert by_target.chosen.p_miss <= by_target.table["p_miss"].min() + 1e-12
    assert by_target.chosen.p_miss <= by_mean.chosen.p_miss + 1e-12
    assert np.isnan(expected.table["p_miss"]).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"compute": [1e22, 1e23]}, "one budget"),
    ({"rule": "minimax"}, "rule"),
    ({"rule": "target"}, "needs target"),
    ({"quantile": 1.5}, "quantile"),
    ({"point": "mode"}, "point"),
    ({"group": None}, "one group"),
    ({"n_grid": 3}, "n_grid"),
])
def test_choose_size_rejects_bad_input(fit, kwargs, match):
    args = {"compute": 1e23, "group": {"dataset": "web"}, **kwargs}
    with pytest.raises(ScalingLawError, match=match):
        decide.choose_size(fit, **args)


# --------------------------------------------------------------------- prob_better


def test_prob_better_is_symmetric(fit):
    at = {"N": [1e9, 1e11], "D": [2e10, 2e12]}
    with pytest.warns(ScalingLawWarning):
        ab = decide.prob_better(fit, {"dataset": "web"}, {"dataset": "wiki"}, at=at)
    with pytest.warns(ScalingLawWarning):
        ba = decide.prob_better(fit, {"dataset": "wiki"}, {"dataset": "web"}, at=at)
    # a new level is uncertain: neither side is certain
    assert ((ab.p_a_better > 0.05) & (ab.p_a_better < 0.95)).all()
    np.testing.assert_allclose(ab.p_a_better + ab.p_b_better, 1.0)
    np.testing.assert_allclose(ab.p_a_better, ba.p_b_better)
    np.testing.assert_allclose(ab.diff_median, -ba.diff_median)


def test_prob_better_clear_case_and_rope(fit):
    at = {"N": 1e10, "D": 2e11}
    clear = decide.prob_better(fit, {"dataset": "code"}, {"dataset": "books"}, at=at)
    assert clear.p_a_better.iloc[0] > 0.99          # true E: code 1.20 vs books 2.05
    assert clear.diff_upper.iloc[0] < 0
    close = decide.prob_better(fit, {"dataset": "web"}, {"dataset": "books"}, at=at)
    gap = abs(float(close.diff_median.iloc[0]))
    rope = decide.prob_better(fit, {"dataset": "web"}, {"dataset": "books"}, at=at,
                              rope=2 * gap)
    probs = rope[["p_a_better", "p_equivalent", "p_b_better"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert rope.p_equivalent.iloc[0] > 0.5
    higher = decide.prob_better(fit, {"dataset": "code"}, {"dataset": "books"}, at=at,
                                higher_is_better=True)
    assert higher.p_b_better.iloc[0] == clear.p_a_better.iloc[0]


def test_prob_better_two_fits(fit):
    at = {"N": 1e10, "D": 2e11, "dataset": "web"}
    same = decide.prob_better(fit, fit_b=fit, at=at)
    assert 0.3 < same.p_a_better.iloc[0] < 0.7
    other = dataclasses.replace(fit, spec=dataclasses.replace(fit.spec, target="loss_x"))
    with pytest.raises(ScalingLawError, match="same target"):
        decide.prob_better(fit, fit_b=other, at=at)


@pytest.mark.parametrize(("a", "b", "at", "match"), [
    ({"dataset": "web"}, {"dataset": "web"}, {"N": 1e9, "D": 2e10}, "same configuration"),
    ({"optimizer": "adam"}, {"dataset": "web"}, {"N": 1e9, "D": 2e10}, "does not read"),
    ({"dataset": "web"}, {"dataset": "code"}, {"N": 1e9}, "does not say"),
    ({"dataset": "web"}, {"dataset": "code"}, "1e9", "DataFrame, a dict"),
    ({"dataset": "web"}, {"dataset": "code"}, {"N": [1e9, 1e10], "D": [1, 2, 3]}, "lengths"),
])
def test_prob_better_rejects_bad_input(fit, a, b, at, match):
    with pytest.raises(ScalingLawError, match=match):
        decide.prob_better(fit, a, b, at=at)
    with pytest.raises(ScalingLawError, match="rope"):
        decide.prob_better(fit, {"dataset": "web"}, {"dataset": "code"},
                           at={"N": 1e9, "D": 2e10}, rope=-1)


# --------------------------------------------------------------------- prob_target


def test_prob_target(fit):
    at = pd.DataFrame({"N": [1e10, 1e10], "D": [2e11, 2e11], "dataset": ["web", "code"]})
    before = at.copy()
    out = decide.prob_target(fit, [2.3, 1.6], at=at, seed=4)
    pd.testing.assert_frame_equal(at, before)
    observed = fit.predict_draws(at, seed=4)["observed"]
    np.testing.assert_allclose(out.p_reach, (observed <= [[2.3, 1.6]]).mean(axis=0))
    grid = [1.0, 1.5, 2.0, 2.2, 2.4, 3.0]
    p = [decide.prob_target(fit, t, at=at.iloc[:1]).p_reach.iloc[0] for t in grid]
    assert p[0] == 0 and p[-1] == 1 and np.all(np.diff(p) >= 0)
    law = decide.prob_target(fit, 2.3, at=at.iloc[:1], predictive=False, higher_is_better=True)
    assert law.p_reach.iloc[0] == pytest.approx(
        (fit.predict_draws(at.iloc[:1])["law"][:, 0] >= 2.3).mean())
    with pytest.raises(ScalingLawError, match="one number per row"):
        decide.prob_target(fit, [1, 2, 3], at=at)


# ------------------------------------------------------------------------ next_run


def test_next_run_ranks_informative_runs_first(fit):
    target = {"N": 3e10, "D": 6e11, "dataset": "web"}
    candidates = pd.DataFrame({
        "N": [1e7, 1e7, 3e9, 3e10, 1e9],
        "D": [5e7, 2e8, 6e10, 6e11, 2e10],
        "dataset": ["web", "code", "web", "web", "books"],
    }, index=list("abcde"))
    before = candidates.copy()
    ranked = decide.next_run(fit, candidates, target=target, n_sim=128)
    pd.testing.assert_frame_equal(candidates, before)
    assert ranked["score"].is_monotonic_decreasing
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5]
    assert sorted(ranked.index) == list("abcde")
    red = ranked["reduction"]
    # a run at the target itself tells most about it; the tiny runs next to nothing
    assert red["d"] == red.max() and red["d"] > 0.3 * ranked["uncertainty_now"].iloc[0]
    assert red["c"] > max(red["a"], red["b"])
    np.testing.assert_allclose(ranked["cost"], 6 * ranked["N"] * ranked["D"])
    np.testing.assert_allclose(ranked["score"], ranked["reduction"] / ranked["cost"])
    assert ((ranked["ess_mean"] > 0) & (ranked["ess_mean"] <= 400)).all()
    assert (ranked["ess_min"] <= ranked["ess_mean"] + 1e-9).all()
    assert (ranked["reduction_se"] >= 0).all()
    # a flat cost ranks by the reduction itself
    flat = decide.next_run(fit, candidates, target=target, cost=1.0, n_sim=64,
                           measure="variance")
    assert flat.index[0] == "d"
    # The outcomes are simulated from the same draws that are re-weighted, so by the law of
    # total variance the expected variance after any run is at most the variance now: a
    # negative estimate is Monte Carlo noise of the n_sim simulated outcomes, whose standard
    # error is reduction_se. The tiny runs' true reductions are near zero (1e-5 against a
    # variance of 9e-4), so their estimates may come out slightly negative, by amounts that
    # depend on the fit's draws (and so on the BLAS); 4 standard errors bound that noise.
    assert (flat["reduction_se"] > 0).all()
    assert (flat["reduction"] >= -4 * flat["reduction_se"]).all(), flat[
        ["reduction", "reduction_se"]]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"measure": "entropy"}, "measure"),
    ({"n_sim": 2}, "n_sim"),
    ({"cost": -1.0}, "positive"),
    ({"cost": "price"}, "lacks"),
    ({"cost": [1.0, 2.0, 3.0]}, "one positive number"),
    ({"candidates": {"N": [1e9]}}, "does not say"),
    ({"interval": 1.2}, "interval"),
])
def test_next_run_rejects_bad_input(fit, kwargs, match):
    args = {"candidates": {"N": [1e9, 3e9], "D": [2e10, 6e10], "dataset": "web"},
            "target": {"N": 3e10, "D": 6e11, "dataset": "web"}, **kwargs}
    with pytest.raises(ScalingLawError, match=match):
        decide.next_run(fit, **args)


def test_not_a_fit():
    with pytest.raises(ScalingLawError, match="must be a scalinglaws fit"):
        decide.compute_optimal("fit.nc", 1e22)


# ------------------------------------------------------------------------------ CLI


def test_cli_decide(fit, tmp_path, capsys):
    from scalinglaws.cli import main

    path = fit.save(tmp_path / "fit.nc")
    with _quiet():
        code = main(["decide", str(path), "--compute", "1e21,1e22", "--compute", "1e23",
                     "--group", "dataset=web"])
    out = capsys.readouterr().out
    assert code == 0
    assert "N_median" in out and "tokens_per_param_median" in out and "web" in out
    assert "1e+21" in out and "1e+22" in out and "1e+23" in out
    with _quiet():
        assert main(["decide", str(path), "--compute", "lots"]) == 2
    assert "--compute takes numbers" in capsys.readouterr().err
    with _quiet():
        code = main(["decide", str(path), "--compute", "1e23", "--group", "dataset=web",
                     "--rule", "quantile", "--quantile", "0.95"])
    out = capsys.readouterr().out
    assert code == 0 and "point estimate" in out
    with _quiet():
        code = main(["decide", str(path), "--compute", "1e23", "--group", "size=big"])
    assert code == 2 and "does not vary by" in capsys.readouterr().err


def test_importance_weighting_helpers():
    from scipy import stats

    rng = np.random.default_rng(0)
    values = rng.standard_normal(999)
    uniform = np.full((1, 999), 1 / 999)
    expected = np.diff(np.quantile(values, [0.05, 0.95], method="hazen"))[0]
    assert weighted_spread(values, uniform, "width", 0.05, 0.95)[0] == pytest.approx(expected)
    assert weighted_spread(values, uniform, "variance", 0.05, 0.95)[0] == pytest.approx(
        values.var())
    # Student-t and Normal log densities agree with scipy up to a constant in the draws
    loc, scale, nu = rng.normal(size=50), rng.uniform(0.5, 2, 50), rng.uniform(2, 30, 50)
    for mine, ref in ((logpdf(0.3, loc, scale, nu), stats.t.logpdf(0.3, nu, loc, scale)),
                      (logpdf(0.3, loc, scale, None), stats.norm.logpdf(0.3, loc, scale))):
        np.testing.assert_allclose(mine - mine[0], ref - ref[0], atol=1e-10)


def test_a_new_level_is_noted_by_one_rule_for_predict_and_decide():
    """A level the fit never saw: from the population where the fit varied by the factor,
    as the one fitted level where its data held one, nothing where everything is pooled."""
    from scalinglaws.decide.common import warn_unfitted_levels
    from scalinglaws.fit import level_note

    def stub(pooling, vary):
        spec = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"},
                               pooling=pooling)
        design = type("Design", (), {"vary": vary})()
        return type("Fit", (), {"spec": spec, "design": design,
                                "levels": lambda self: {"dataset": ("web",)}})()

    for pooling, vary, expected in [("partial", {"E": ("dataset",)}, "from the population"),
                                    ("partial", {}, "predicted as 'web' rows are"),
                                    ("complete", {}, None)]:
        fit = stub(pooling, vary)
        note = level_note(fit.spec, vary, "dataset", ["code"], ["web"])
        assert (note is None) if expected is None else (expected in note)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warn_unfitted_levels(fit, "dataset", ["code"], "group")
        assert [str(w.message) for w in caught] == ([] if note is None
                                                    else [f"group: {note}"])


# ------------------------------------------------- fits of prior draws (no sampler)


def _prior_fit(model: sl.ScalingModel, runs: pd.DataFrame, draws: int = 200) -> sl.Fit:
    """A Fit of ``model`` on ``runs`` whose posterior is prior draws (no sampler)."""
    import arviz as az
    from test_losstoloss import prior_draws

    from scalinglaws.data import design_dataset, make_design
    from scalinglaws.model import build_model

    design = make_design(model, runs)
    sampled = prior_draws(build_model(model, design), draws, y=None)
    posterior = {k: np.asarray(v)[None] for k, v in sampled.items() if k != "y"}
    factors = {f: list(design.factors[f].levels) for f in design.factors}
    dims = {k: [f] for k, v in posterior.items() for f in factors if v.ndim == 3
            and (k.endswith(f"_{f}") or (f == model.run and k.startswith("run_")))}
    idata = az.from_dict(posterior=posterior, dims=dims, coords=factors)
    idata.add_groups(constant_data=design_dataset(design))
    return sl.Fit(idata=idata, spec=model, design=design)


@pytest.fixture(scope="module")
def runs():
    return sl.synthetic.sweep(seed=0).drop(columns="true_loss")


def test_next_run_measures_a_candidate_with_its_known_error(fit):
    """A candidate's known measurement error enters its simulated outcome and likelihood:
    one measured very imprecisely (se of 1 against a loss near 2.5) tells (nearly) nothing,
    one measured very precisely as much as a run without the error column."""
    from scalinglaws.data import make_design

    model = dataclasses.replace(fit.spec, measurement_se="se")
    runs = fit.data().assign(se=0.01)
    measured_fit = sl.Fit(idata=fit.idata, spec=model, design=make_design(model, runs))
    target = {"N": 3e10, "D": 6e11, "dataset": "web"}
    cands = pd.DataFrame({"N": 3e9, "D": 6e10, "dataset": "web", "se": [1e-9, 1.0]},
                         index=["tiny", "huge"])
    measured = decide.next_run(measured_fit, cands, target=target, n_sim=64, cost=1.0)
    plain = decide.next_run(fit, cands.drop(columns="se"), target=target, n_sim=64,
                            cost=1.0)
    red, gain = measured["reduction"], plain["reduction"]["tiny"]
    assert gain > 0.03 * plain["uncertainty_now"].iloc[0]
    np.testing.assert_allclose(red["tiny"], gain, rtol=1e-6)
    np.testing.assert_allclose(plain["reduction"]["huge"], gain)   # no column: model noise
    assert abs(red["huge"]) < 0.1 * gain, red
    assert measured.loc["huge", "ess_mean"] > 0.95 * len(fit.draws()["sigma"].ravel())


def test_next_run_reads_optional_columns_given_by_one_side(runs):
    """measurement_se and run given by the candidates or the target alone: the target's
    error is not used, and a side without the run column is new runs, as without it."""
    se_fit = _prior_fit(sl.ScalingModel("chinchilla", target="loss", measurement_se="se"),
                        runs.assign(se=0.01), draws=40)
    run_fit = _prior_fit(sl.ScalingModel("chinchilla", target="loss", run="run_id"),
                         runs.assign(run_id=[f"r{i // 3}" for i in range(len(runs))]),
                         draws=40)
    target, cand = {"N": 7e9, "D": 1.4e11}, {"N": [1e9], "D": [2e10]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)
        for fit, column, value in ((se_fit, "se", 0.01), (run_fit, "run_id", "r_new")):
            neither = decide.next_run(fit, cand, target=target, n_sim=16, cost=1.0)
            for t, c in (({**target, column: value}, cand),
                         (target, {**cand, column: [value]})):
                one = decide.next_run(fit, c, target=t, n_sim=16, cost=1.0)
                if column == "run_id":   # no run column, or a run never fitted: a new run
                    np.testing.assert_allclose(one["reduction"], neither["reduction"])
                assert np.isfinite(one["reduction"]).all()


def test_next_run_continues_a_fitted_run_with_its_own_offset(runs):
    """A candidate that trains a fitted run on is that run: its outcome is located at
    each draw's law plus that draw's offset of the run, with the model's noise alone,
    where a new run's offset is unknown (folded into the noise)."""
    run_fit = _prior_fit(sl.ScalingModel("chinchilla", target="loss", run="run_id"),
                         runs.assign(run_id=[f"r{i // 3}" for i in range(len(runs))]),
                         draws=40)
    cands = pd.DataFrame({"N": [1e9, 1e9], "D": [2e10, 2e10], "run_id": ["r2", "r_new"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ScalingLawWarning)
        table = decide.next_run(run_fit, cands, target={"N": 7e9, "D": 1.4e11}, n_sim=16,
                                cost=1.0).sort_index()
    assert table.loc[0, "reduction"] != pytest.approx(table.loc[1, "reduction"], rel=1e-6)


def test_next_run_reads_a_cost_series_by_label(fit):
    cands = pd.DataFrame({"N": [1e9, 2e9, 4e9], "D": [4e10, 2e10, 1e10], "dataset": "web"},
                         index=[7, 8, 9])
    target = {"N": 7e9, "D": 1.4e11, "dataset": "web"}
    for cost in (lambda f: f["N"][::-1], cands["N"].iloc[::-1]):
        table = decide.next_run(fit, cands, target=target, n_sim=16, cost=cost)
        np.testing.assert_array_equal(table["cost"], table["N"])
    with pytest.raises(ScalingLawError, match=r"lacks labels \[9\] and has labels \[10\]"):
        decide.next_run(fit, cands, target=target, n_sim=16,
                        cost=pd.Series([1.0, 2.0, 3.0], index=[7, 8, 10]))


@pytest.fixture(scope="module")
def repeated_fit():
    """A data-constrained fit of prior draws, E varying by dataset (web, code)."""
    rows = [{"N": n, "D": n * 20, "U_D": n * 20 / k, "U_N": n, "dataset": ds, "loss": 3.0}
            for ds in ("web", "code") for n in (1e7, 1e8, 1e9) for k in (1, 4)]
    model = sl.ScalingModel("data_constrained", target="loss", vary={"E": "dataset"})
    return _prior_fit(model, pd.DataFrame(rows), draws=40)


def test_epochs_worth_it_checks_at_as_its_one_row(repeated_fit):
    at = {"N": 1e9, "D": 1e11, "U_N": 1e9}
    with pytest.warns(ScalingLawWarning, match=r"at: dataset level\(s\) \['Web'\] were not"):
        decide.epochs_worth_it(repeated_fit, {**at, "dataset": "Web"})
    with pytest.raises(ScalingLawError, match=r"^at: law 'data_constrained': unique "
                       r"parameters U_N exceed the parameters N.*rows \[0\]"):
        decide.epochs_worth_it(repeated_fit, {**at, "U_N": 1e10, "dataset": "web"})
    with pytest.raises(ScalingLawError, match=r"^at does not say \['dataset'\]"):
        decide.epochs_worth_it(repeated_fit, at)
    for epochs in ("4", [1, True], [10**400]):
        with pytest.raises(ScalingLawError, match="epochs must be finite numbers >= 1"):
            decide.epochs_worth_it(repeated_fit, {**at, "dataset": "web"}, epochs=epochs)
    with pytest.raises(ScalingLawError, match=r"at\['D'\] must be a positive number"):
        decide.epochs_worth_it(repeated_fit, {**at, "D": 10**400, "dataset": "web"})
