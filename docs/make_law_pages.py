"""Write docs/laws/<name>.md for every built-in law from its metadata (run after changing laws.py).

    python docs/make_law_pages.py
"""

from __future__ import annotations

from pathlib import Path

import scalinglaws as sl

OUT = Path(__file__).parent / "laws"

#: What a page must add about how a law is sampled outside the core model.
NOTES = {
    "shifted_power": (
        "\nAs the link of a cut `LossToLossModel` (`feedback=\"cut\"`), with `K`, `kappa` "
        "and `E_y` varying alike (by nothing, or by one factor with `pooling=\"none\"`), "
        "NUTS samples the link in "
        "anchored coordinates (its level and elasticity at the input models' typical "
        "reducible loss, and `E_y`'s share of that level) under exactly these priors; see "
        "[loss_to_loss.md](../loss_to_loss.md#the-model).\n"),
    "data_constrained": (
        "\nRepetitions are R_D = D/U_D - 1 and R_N = N/U_N - 1; D' and N' are computed in log "
        "space (`log1p`, `expm1`), exact at one epoch (D' = U_D) and finite at 1e12 "
        "parameters. Unique tokens above total tokens (fewer than one epoch) or U_N above N "
        "is a `ScalingLawError` naming the rows, raised before anything is compiled. "
        "Muennighoff et al. take U_N = min(N, N_opt(U_D)) under their base constants "
        "(`scalinglaws.reproduce.datablations2023.unique_params`); U_N = N switches the parameter "
        "term's decay off (R_N* then has no data). `decide.epochs_worth_it` compares k "
        "epochs of D/k unique tokens with fresh data per posterior draw.\n\n"
        "Measured (`scalinglaws reproduce datablations2023`, 4 chains x (500 + 500), "
        "no divergent transition, R-hat <= 1.006, 2026-12-07): fitted on the paper's 57 "
        "runs with <= 4 epochs, predicting the 125 runs with more, the posterior median's "
        "mean relative error is 9.77% (median 8.05%) and the 90% predictive interval covers "
        "53% of the runs; a point fit of the same seven constants misses by 17.8%, the "
        "published constants (which saw those runs) by 6.18%, and a Chinchilla posterior on "
        "total tokens by 7.48% (53% covered). The half-life R_D* stays wide (90% interval "
        "6.2-73). The two posteriors stacked by their PSIS-LOO weights (0.78 and 0.22, "
        "`sl.stacked_predict`) miss by 8.52% and cover 90%. See "
        "[the study](../studies/datablations2023.md).\n"),
    "isoflop": (
        "\nAlong an isoFLOP line, Chinchilla's loss is exactly this law with "
        "a = beta/(alpha + beta) and gamma = alpha beta/(alpha + beta) (tested); here a, G, "
        "gamma and the shape exponents are free, as in Approach 2, but every budget shares "
        "one posterior. Give the budget as a factor and let the vertex vary by it: "
        "`vary={\"G\": \"budget\"}` (budget offsets partially pooled; a new budget draws "
        "its offset from the population). A budget with fewer than three distinct sizes is a "
        "`ScalingLawError` naming it. `decide.compute_optimal` returns N* = G C^a and the "
        "loss there in closed form. One noise scale serves every point; "
        "[`isoflop_spread_quadratic`](isoflop_spread_quadratic.md) and its siblings let it "
        "grow away from each budget's minimum. `coordinates=\"level\"` (every `isoflop` "
        "law) samples E + K_ref, the optimum's loss at the reference budget, E's share "
        "of it, and gamma scaled by K_ref's share (the optimum's slope in log C there, "
        "`Law.share_scaled`): far fewer leapfrog steps where few budgets leave E, K and "
        "gamma on a curved ridge, measured in [the study](../studies/isoflop.md#sampling-cost)."
        "\n\n"
        "Measured (`benchmarks/isoflop_variants.md`, Porian et al.'s 15 configurations, "
        "2 chains x (300 + 300)): fitted on each budget's two sizes either side of its "
        "lowest loss, the posterior median of a is within 0.03 of the authors' fit on 11 "
        "and their value inside our 90% interval on 9 (R-hat at most 1.046, no "
        "divergences; held-out density of the largest budget 231.6 nats); on every point, "
        "6 and 7, with 193 divergences. [The study](../studies/isoflop.md) uses "
        "[`isoflop_parabola_budget_noise`](isoflop_parabola_budget_noise.md).\n"),
    "isoflop_parabola": (
        "\nThe vertex, its offsets by budget and `decide.compute_optimal` are as for "
        "[`isoflop`](isoflop.md); the shape is symmetric, with one curvature kappa (vary it "
        "by budget, `vary={\"G\": \"budget\", \"kappa\": \"budget\"}`, for Approach "
        "2's curvature per budget). Near its minimum the `isoflop` shape is 1 + alpha beta "
        "u^2 / 2.\n\n"
        "Measured on Porian et al.'s 15 configurations (`benchmarks/isoflop_variants.md`, "
        "two sizes each side of each minimum, target acceptance 0.95): with kappa by budget, "
        "the posterior median of a is within 0.03 of the authors' on 13 and covers their "
        "value on 9, the closest of the joint models to their point estimates, but it "
        "predicts a held-out largest budget worse than `isoflop` (225.8 against 231.5 "
        "nats) and has 11 divergences; with one kappa, 10 and 10 at 218.4 nats. With a "
        "noise scale that is a power of the budget it is the study's law "
        "([`isoflop_parabola_budget_noise`](isoflop_parabola_budget_noise.md)).\n"),
    "isoflop_parabola_budget_noise": (
        "\nThe curve, its parameters and `decide.compute_optimal` are those of "
        "[`isoflop_parabola`](isoflop_parabola.md); `s` only scales the noise "
        "(`Law.log_noise_factor`), in fitting, `predict` and `log_density` alike: sigma "
        "(C / C_ref)^-s, with C_ref the reference budget of the fitted data (the geometric "
        "mean of the fitted rows' C, kept with the fit), so `Fit.summary()`'s `sigma` is the "
        "noise at C_ref. Where the rows of one budget scatter more than another's, one noise "
        "scale either overstates the large budgets' noise or understates the small ones'; "
        "a noise scale per budget (`vary={\"sigma\": \"budget\"}`) predicted a held-out "
        "budget's points best of all our variants but diverged (39 divergences at target "
        "acceptance 0.99); this one parameter predicts where that budget's optimum lies "
        "better still, with 1, 8 and 14 divergences in 90,000 draws in level coordinates "
        "(the study's runs with seeds 0, 1 and 2, most on one configuration; 11 and 18 in "
        "60,000 in natural ones).\n\n"
        "Measured on Porian et al.'s 15 configurations (`benchmarks/isoflop_variants.md`, "
        "two sizes each side of each budget's lowest loss, budgets whose lowest loss is at "
        "an end of their sizes dropped): fitted without each configuration's largest "
        "budget, it predicts where that budget's optimum lies best of the variants (mean "
        "|ln N_opt error| 0.056, against 0.078 with one noise scale); with every budget, "
        "the posterior median of a is within 0.03 of the authors' fit on 14 and their value "
        "inside our 90% interval on 12 (4 x (1,000 + 1,500), target acceptance 0.99). "
        "[The study](../studies/isoflop.md) uses it. To fit a sweep of your own as the study "
        "does (one row per run with `params`, `flops`, `loss` and a `budget` column naming "
        "its budget): keep the rows `scalinglaws.reproduce.isoflop.study_rows(sweep)`, fit "
        "this law with `inputs={\"N\": \"params\", \"C\": \"flops\"}` and "
        "`vary={\"G\": \"budget\"}`, `coordinates=\"level\"` at `target_accept=0.99`, and "
        "read the frontier with "
        "`sl.decide.compute_optimal(fit, compute=[...])`.\n"),
    **{name: (
        "\nThe curve, its parameters and `decide.compute_optimal` are those of the law it "
        "extends ([`isoflop`](isoflop.md), or [`isoflop_parabola`](isoflop_parabola.md) for "
        "`isoflop_parabola_spread_quadratic`); `tau` only scales the noise "
        "(`Law.log_noise_factor`), "
        "in fitting, `predict` (its `pred_` intervals) and `log_density` alike. "
        "`Fit.summary()`'s `sigma` is the noise at the minimum.\n\n"
        "Measured on Porian et al.'s 15 configurations (`benchmarks/isoflop_variants.md`): "
        "with every point, the quadratic form (`isoflop_spread_quadratic`) predicts a "
        "held-out largest budget best of "
        "the variants that sample cleanly (249.8 nats against 231.5 for `isoflop` on the "
        "two sizes each side of each minimum, target acceptance 0.95), but of the seven "
        "variants scored on where the held-out budget's optimum lies it has the "
        "second-largest error (mean |ln N_opt error| 0.143, against 0.056 for "
        "[the study's law](isoflop_parabola_budget_noise.md)). Anchored on the law's optimum "
        "(all but `isoflop_spread_measured`) and fitted only near the minima, the "
        "noise pulls the vertex away from the points (a falls to 0.15-0.29 on three "
        "configurations, R-hat up to 1.83); fit them on whole sweeps, or use "
        "`isoflop_spread_measured`, whose anchor (the `N_best` column) does not move.\n")
       for name in ("isoflop_spread", "isoflop_spread_quadratic", "isoflop_spread_measured",
                    "isoflop_parabola_spread_quadratic")},
}


def page(law: sl.Law) -> str:
    rows = "\n".join(
        f"| `{p.sampled_name}` | {p.constraint} | `{p.prior!r}` | {p.group_scale} | "
        f"{p.description} |" for p in law.params)
    reference = ""
    if any(p.reference for p in law.params):
        names = ", ".join(f"`{p.name}`" for p in law.params if p.reference)
        reference = (
            f"\n{names} {'is' if names.count(',') == 0 else 'are'} sampled at a reference "
            f"scale (the `_ref` names above): the size of the term at the reference value of "
            f"its variable (the geometric mean of the fitted data, or `reference=` in the "
            f"spec). The posterior also holds the natural-unit values, and "
            f"`Fit.predict_draws(...)['params']` gives them per row. Priors given for "
            f"{names} apply to the reference-scale value.\n")
    if law.level_terms:
        terms = " + ".join(f"`{law.param(t).sampled_name}`" for t in law.level_terms)
        reference += (
            f"\n{terms} is the law's value at the reference point (`Law.level_terms`): "
            f"`coordinates=\"level\"` samples that sum and the terms' shares of it instead, "
            f"the same posterior with a straighter geometry where the data fix the level "
            f"better than its split ([level coordinates](../modeling.md#level-coordinates)).")
        if law.share_scaled:
            scaled = " and ".join(f"`{q}`" for q, _ in law.share_scaled)
            subject = f"each of {scaled} is" if len(law.share_scaled) > 1 else f"{scaled} is"
            reference += (f" There {subject} sampled multiplied by the share of that sum "
                          f"held by the term it scales, where it varies as the terms do "
                          f"(`Law.share_scaled`): the law's slope (or curvature) at the "
                          f"reference point, which the data fix.")
        reference += "\n"
    inputs = ", ".join(f'"{v}": "{v}"' for v in law.variables)
    return f"""# `{law.name}`

$$ {law.latex} $$

{law.description}

Variables: {", ".join(f"`{v}`" for v in law.variables)}. Output: {law.output} (fitted on
{"log y" if law.output == "positive" else "y"} by default).

Source: {law.citation}.

| sampled as | constraint | default prior | group sd scale | meaning |
|---|---|---|---|---|
{rows}
{reference}{NOTES.get(law.name, "")}
`group sd scale` is the scale of the HalfNormal prior on the between-level standard
deviation (on the parameter's log or logit scale) when the parameter varies by a factor;
override it with `priors={{"<name>_sd": sl.Prior("HalfNormal", ...)}}`.

```python
import scalinglaws as sl
law = sl.laws.get("{law.name}")
model = sl.ScalingModel("{law.name}", inputs={{{inputs}}},
                        target="loss")
```
"""


def main() -> None:
    OUT.mkdir(exist_ok=True)
    index = ["# Laws\n", "| name | form |", "|---|---|"]
    for name in sorted(sl.laws.BUILTIN):
        law = sl.laws.get(name)
        (OUT / f"{name}.md").write_text(page(law))
        index.append(f"| [`{name}`]({name}.md) | ${law.latex}$ |")
    index.append("\nCustom laws: `sl.Law.from_expression(\"E + A*N**-alpha\", params={...})` "
                 "parses a formula against a whitelist (numbers, variables, parameters, "
                 "+ - * / **, log, exp, log1p, sqrt); see `scalinglaws.laws.expr`. A spec file "
                 "(`ScalingModel.to_toml`) keeps such a law whole: its expression and, per "
                 "parameter, the constraint, prior, group scale and description. A law built "
                 "in Python (`sl.Law(name=..., fn=..., ...)`, e.g. with its own `log_fn`) is "
                 "named with `sl.laws.register(law)`: a model, a spec file (`law = \"name\"`) "
                 "and a saved fit can then name it, and a process that reads them registers "
                 "it first. Its compiled programs stay in its process (a name alone does not "
                 "say which functions it stands for, so they are not exported to the "
                 "persistent cache).\n")
    (OUT / "README.md").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
