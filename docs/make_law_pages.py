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
    for name in sl.laws.names():
        law = sl.laws.get(name)
        (OUT / f"{name}.md").write_text(page(law))
        index.append(f"| [`{name}`]({name}.md) | ${law.latex}$ |")
    index.append("\nCustom laws: `sl.Law.from_expression(\"E + A*N**-alpha\", params={...})` "
                 "parses a formula against a whitelist (numbers, variables, parameters, "
                 "+ - * / **, log, exp, log1p, sqrt); see `scalinglaws.expr`. A spec file "
                 "(`ScalingModel.to_toml`) keeps such a law whole: its expression and, per "
                 "parameter, the constraint, prior, group scale and description.\n")
    (OUT / "README.md").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    main()
