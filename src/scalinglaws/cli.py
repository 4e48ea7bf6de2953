"""The ``scalinglaws`` command: a thin wrapper over the Python API.

::

    scalinglaws demo                                  # synthetic sweep: fit, extrapolate, figure
    scalinglaws fit models/chinchilla.toml --data runs.csv --out fit.nc
    scalinglaws predict fit.nc --at N=7e9,D=1.4e11,dataset=rpj
    scalinglaws compare a.nc b.nc --holdout 1e20,1e21  # PSIS-LOO table (+ extrapolation)
    scalinglaws compare a.nc b.nc --at N=7e9,D=1.4e11  # + the stacked prediction
    scalinglaws report a.nc b.nc --out report.html   # self-contained HTML report
    scalinglaws report a.nc --out r.html --at N=7e9,D=1.4e11 --compute 1e23  # + predictions
    scalinglaws reproduce gadre2024 --out figures    # a study's table, ours beside the paper's
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import decide, synthetic
from ._checks import (
    check_fraction,
    check_input_file,
    check_output_path,
    check_sampler_settings,
    make_folder,
    write_atomic,
)
from ._warnings import filtered
from .compare import compare, stacked_predict
from .errors import ScalingLawError, ScalingLawWarning
from .io import load, read_spec
from .netcdf import check_fit_name
from .plotting import save_figure
from .report import report
from .reproduce import STUDIES, reproduce
from .scaling_model import ScalingModel


def _print(frame: pd.DataFrame) -> None:
    with pd.option_context("display.width", 160, "display.max_columns", 30,
                           "display.float_format", lambda x: f"{x:.4g}"):
        print(frame.to_string())


def demo(out: Path, chains: int = 4, warmup: int = 500, draws: int = 1000, seed: int = 0,
         progress: bool | None = None) -> dict:
    """Fit the hierarchical Chinchilla model to the embedded synthetic sweep.

    Prints the parameters beside the truth and the prediction at 10x the largest
    compute beside the true loss, writes ``demo_fit.png`` under ``out``, and returns
    the numbers (for tests and benchmarks).
    """
    import matplotlib

    matplotlib.use("Agg")

    check_sampler_settings(seed=seed, chains=chains, warmup=warmup, draws=draws,
                           target_accept=0.9, max_tree_depth=10, dense_mass=True,
                           progress=progress)
    out = make_folder(out, "figure folder", "out")
    started = time.perf_counter()
    runs = synthetic.sweep(seed=seed)
    truth = runs.attrs["truth"]
    datasets = list(truth["E"])
    print(f"Synthetic sweep: {len(runs)} runs, {len(datasets)} datasets "
          f"({', '.join(datasets)}), N {runs.N.min():.0e}-{runs.N.max():.0e}, "
          f"D/N {runs.M.min():g}-{runs.M.max():g}; true law: Chinchilla with shared "
          f"alpha={truth['alpha']}, beta={truth['beta']}, per-dataset E, A, B; "
          f"{truth['sigma']:.0%} noise.\n")
    # Each dataset has 30 runs and the datasets clearly differ: centred offsets suit this
    # (see docs/modeling.md).
    model = ScalingModel("chinchilla", target="loss",
                         vary={"E": "dataset", "A": "dataset", "B": "dataset"},
                         parameterization="centred")
    fit = model.fit(runs, seed=seed, chains=chains, warmup=warmup, draws=draws,
                    progress=progress)
    fitted = time.perf_counter() - started

    probe = pd.DataFrame({"N": 1e8, "D": 2e9, "dataset": datasets})
    params = fit.predict_draws(probe)["params"]
    rows = []
    for name in ("alpha", "beta", "E", "A", "B"):
        per_level = isinstance(truth[name], dict)
        for i, level in enumerate(datasets if per_level else datasets[:1]):
            draws_ = params[name][:, i]
            lo, med, hi = np.quantile(draws_, [0.05, 0.5, 0.95])
            true = truth[name][level] if per_level else truth[name]
            rows.append({"parameter": f"{name}[{level}]" if per_level else name,
                         "truth": true, "median": med, "lower_5%": lo, "upper_95%": hi,
                         "covered": bool(lo <= true <= hi)})
    table = pd.DataFrame(rows).set_index("parameter")
    print("Parameters (posterior median and 90% interval beside the truth):")
    _print(table)

    c_target = 10 * float((6 * runs.N * runs.D).max())
    n_target = np.sqrt(c_target / (6 * 20))
    at = pd.DataFrame({"N": n_target, "D": 20 * n_target, "dataset": datasets})
    pred = fit.predict(at, interval=0.9)
    pred["truth"] = synthetic.true_loss(at.N, at.D, at.dataset, truth)
    pred["covered"] = (pred.pred_lower <= pred.truth) & (pred.truth <= pred.pred_upper)
    pred["rel_error_%"] = 100 * (pred["median"] - pred.truth).abs() / pred.truth
    print(f"\nPrediction at 10x the largest compute (C = {c_target:.2e} FLOPs, "
          f"N = {n_target:.2e}, D = 20N), 90% intervals:")
    _print(pred[["dataset", "truth", "median", "lower", "upper", "pred_lower", "pred_upper",
                 "covered", "rel_error_%"]].set_index("dataset"))

    post = fit.idata.sample_stats
    print(f"\nSampler: {post.sizes['chain']} chains x {post.sizes['draw']} draws, "
          f"{int(post.diverging.sum())} divergences, max R-hat "
          f"{fit.summary()['r_hat'].max():.3f}, mean leapfrog steps per draw "
          f"{float(post.n_steps.mean()):.1f}.")
    figure = out / "demo_fit.png"

    def true_curve(path, level):
        return synthetic.true_loss(path["N"], path["D"], level, truth)

    save_figure(fit.plot(truth=true_curve), figure)
    total = time.perf_counter() - started
    print(f"\nFigure: {figure}\nFit took {fitted:.1f} s; demo {total:.1f} s in all.")
    return {"parameters": table, "prediction": pred, "fit": fit, "seconds": total}


def _at_rows(texts: list[str], factors) -> list[dict]:
    """The rows of ``--at`` (repeatable; :func:`_parse_at`), each giving the same names.

    >>> _at_rows(["N=1e9,D=2e10", "N=2e9,D=4e10"], ())
    [{'N': 1000000000.0, 'D': 20000000000.0}, {'N': 2000000000.0, 'D': 40000000000.0}]
    """
    rows = [_parse_at(text, factors) for text in texts]
    names = list(dict.fromkeys(k for row in rows for k in row))
    for text, row in zip(texts, rows, strict=True):
        if missing := [k for k in names if k not in row]:
            raise ScalingLawError(f"--at {text!r} does not give {missing}, which another --at "
                                  f"gives; give every --at the same names")
    return rows


def _parse_at(text: str, factors: tuple[str, ...] = ()) -> dict:
    """One row of ``--at NAME=VALUE,...``: numbers, except the columns in ``factors``,
    whose levels stay text (``dataset=1`` is level ``"1"``, as fitted)."""
    row = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ScalingLawError(f"--at takes NAME=VALUE pairs separated by commas, got {part!r}")
        if key in row:
            raise ScalingLawError(f"--at gives {key!r} twice in {text!r}")
        try:
            row[key] = value if key in factors else float(value)
        except ValueError:
            row[key] = value
    return row


def _factors(fit) -> tuple[str, ...]:
    """Every column a fit reads as a factor (levels compared as text)."""
    spec = fit.spec
    names = [*getattr(spec, "factors", ()), *getattr(spec, "x_factors", ()),
             *getattr(spec, "link_factors", ()), getattr(spec, "run", None)]
    return tuple(n for n in names if isinstance(n, str))


def _read_table(path: str) -> pd.DataFrame:
    p = check_input_file(path, "data file")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            frame = pd.read_csv(p)
    except ImportError as err:  # pandas' parquet readers are optional packages
        raise ScalingLawError(f"reading the parquet file {p} needs pyarrow ({err}): pip "
                              f"install pyarrow, or save the table as CSV") from None
    except Exception as err:  # noqa: BLE001 - any reader failure is an unreadable file
        raise ScalingLawError(f"data file {p} cannot be read as a table "
                              f"({type(err).__name__}: {str(err)[:200]}); pass a CSV with a "
                              f"header row, or a .parquet file") from None
    if frame.empty:
        raise ScalingLawError(f"data file {p} has no rows")
    return frame


def _add_compare_report(sub) -> None:
    """The ``compare`` and ``report`` subcommands (model comparison, HTML report)."""
    for name, text in (("compare", "rank saved fits by PSIS-LOO (and extrapolation)"),
                       ("report", "write a self-contained HTML report of saved fits")):
        p = sub.add_parser(name, help=text)
        p.add_argument("fits", nargs="+", help="fits saved with their save method or "
                       "`scalinglaws fit` (scaling-law or loss-to-loss)")
        p.add_argument("--names", help="comma-separated model names (default: file names)")
        p.add_argument("--holdout", help="leave-largest-scale-out thresholds on --by, "
                       "comma-separated (e.g. 1e20,1e21), or 'largest'; refits every model")
        p.add_argument("--by", default="C", help="scale of the thresholds: C, N or a column")
        p.add_argument("--data", help="CSV of the runs for the --holdout refits (default: "
                                      "the fits' data)")
        p.add_argument("--chains", type=int)
        p.add_argument("--warmup", type=int)
        p.add_argument("--draws", type=int)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--interval", type=float, default=0.9)
        if name == "report":
            p.add_argument("--out", required=True, help="where to write the .html file")
            p.add_argument("--title", default="Scaling-law report")
            p.add_argument("--at", action="append", default=[],
                           help="a target to predict, NAME=VALUE,... as for predict, e.g. "
                                "N=7e9,D=1.4e11 or N=7e9,D=1.4e11,dataset=web (without a "
                                "level: every fitted level); repeatable")
            p.add_argument("--compute", action="append", default=[],
                           help="FLOP budget(s) to predict at, e.g. 1e23 or 1e23,1e24: a "
                                "law of N and D at the compute-optimal split (a "
                                "loss-to-loss fit's: of its output loss); repeatable")
            p.add_argument("--tokens-per-param", type=float,
                           help="split each --compute budget at this D/N instead "
                                "(N = sqrt(C/(6 D/N)), D = D/N x N)")
        else:
            p.add_argument("--out", help="also write the table to this CSV file")
            p.add_argument("--at", action="append", default=[],
                           help="a row to predict from the fits averaged by their stacking "
                                "weights (sl.stacked_predict), NAME=VALUE,... as for predict; "
                                "repeatable")


def _compare_report(args) -> None:

    paths = [Path(f) for f in args.fits]
    names = [n.strip() for n in args.names.split(",")] if args.names else [p.stem for p in paths]
    if len(names) != len(paths) or len(set(names)) != len(names):
        raise ScalingLawError(f"--names must give {len(paths)} distinct names, got {names}")
    if args.command == "report":
        out = check_output_path(args.out, "report", (".html", ".htm"))
    elif args.out:
        out = check_output_path(args.out, "table", (".csv",))
    inputs = [*paths, *([Path(args.data)] if args.data else [])]
    if args.out and any(out.resolve() == p.resolve() for p in inputs):
        raise ScalingLawError(f"--out {args.out} is one of the inputs; writing there would "
                              f"replace it: give another file")
    with filtered(("ignore", Warning)):
        fits = {n: load(p) for n, p in zip(names, paths, strict=True)}
    holdout = _holdout_arg(args.holdout) if args.holdout else None
    data = _read_table(args.data) if args.data else None
    settings = {"seed": args.seed, "chains": args.chains, "warmup": args.warmup,
                "draws": args.draws}
    factors = tuple(dict.fromkeys(f for fit in fits.values() for f in _factors(fit)))
    check_fraction(args.interval, "--interval", "0.9 for 90% intervals")
    # read before any refit; a report's targets may each give N, D or C
    at = (_at_rows(args.at, factors) if args.command == "compare"
          else [_parse_at(a, factors) for a in args.at]) or None
    if args.command == "compare":
        table = compare(fits, holdout=holdout, by=args.by, data=data, **settings)
        _print(table)
        notes = table.notes
        for note in notes:
            print(f"- {note}")
        if args.out:
            print(f"saved {write_atomic(args.out, table.to_csv, 'table')}")
        if at is not None:
            stacked = stacked_predict(fits, pd.DataFrame(at), weights=table, interval=args.interval,
                                      seed=args.seed)
            shares = ", ".join(f"{n} {w:.3f}" for n, w in stacked.attrs["weights"].items())
            print(f"\nstacked prediction (weights: {shares}):")
            _print(stacked)
    else:
        compute = _budgets_arg(args.compute) if args.compute else None
        path = report(fits, args.out, holdout=holdout, by=args.by, data=data,
                      title=args.title, interval=args.interval, at=at, compute=compute,
                      tokens_per_param=args.tokens_per_param, **settings)
        print(f"saved {path} ({path.stat().st_size / 1e6:.2f} MB)")


def _budgets_arg(texts: list[str]) -> list[float]:
    """FLOP budgets of ``--compute`` (repeatable, each comma-separated)."""
    try:
        return [float(c) for text in texts for c in text.split(",")]
    except ValueError:
        raise ScalingLawError(f"--compute takes numbers such as 1e23 or 1e21,1e23, "
                              f"got {texts}") from None


def _holdout_arg(text: str):
    if text.strip() == "largest":
        return "largest"
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise ScalingLawError(f"--holdout takes numbers such as 1e20,1e21 or 'largest', got "
                              f"{text!r}") from None


def _add_reproduce(sub) -> None:
    """The ``reproduce`` subcommand: one study's headline table and figures."""
    p = sub.add_parser("reproduce", help="reproduce a study: its table, ours beside the paper's")
    p.add_argument("study", help=f"one of: {', '.join(STUDIES)}")
    p.add_argument("--data-dir", help="local data folder <dir>/<study>/<file> (default: "
                   "$SCALINGLAWS_DATA, else the download cache)")
    p.add_argument("--out", default="scalinglaws-reproduce", help="folder for the figures")
    p.add_argument("--quick", action="store_true", help="smoke-test settings (fewer draws)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", help="also write the headline table to this CSV file")
    p.add_argument("--fits", help="save every fit in this folder as it is made and reuse the "
                   "ones already there (same model, data and settings): a rerun resumes")


def _reproduce(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    if args.csv:
        check_output_path(args.csv, "table")
    result = reproduce(args.study, data_dir=args.data_dir, out=Path(args.out), quick=args.quick,
                       seed=args.seed, verbose=True, fits=args.fits)
    print(result)
    if args.csv:
        path = write_atomic(args.csv, lambda p: result.table.to_csv(p, index=False), "table")
        print(f"saved {path}")


def parser() -> argparse.ArgumentParser:
    """The ``scalinglaws`` command's argument parser (every subcommand and option).

    >>> parser().parse_args(["predict", "fit.nc", "--at", "N=7e9,D=1.4e11"]).at
    ['N=7e9,D=1.4e11']
    """
    parser = argparse.ArgumentParser(prog="scalinglaws", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="fit the embedded synthetic sweep and extrapolate")
    p.add_argument("--out", default="scalinglaws-demo", help="folder for the figure")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("fit", help="fit a model spec (TOML) to a CSV of runs")
    p.add_argument("spec", help="model spec, e.g. models/chinchilla.toml (a loss-to-loss spec, "
                                "with a link, fits a paired frame)")
    p.add_argument("--data", required=True, help="CSV (or parquet) with one row per run")
    p.add_argument("--out", required=True, help="where to write the fit (.nc)")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int,
                   help="warm-up draws per chain (default: the model's, 500 for a "
                        "ScalingModel, 1000 for a loss-to-loss model)")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cut-draws", type=int,
                   help="loss-to-loss specs with feedback = \"cut\" only: how many compute-law "
                        "draws the links are fitted given (default 8)")
    p.add_argument("--whiten", action="store_true",
                   help="loss-to-loss specs only: sample a hierarchy in the coordinates of "
                        "the Laplace approximation at its mode (fit(..., whiten=True))")

    p = sub.add_parser("predict", help="predict new runs from a saved fit")
    p.add_argument("fit", help="a fit saved with Fit.save or `scalinglaws fit`")
    p.add_argument("--at", action="append", required=True,
                   help="NAME=VALUE,... for one row, e.g. N=7e9,D=1.4e11,dataset=rpj; repeatable")
    p.add_argument("--interval", type=float, default=0.9)
    _add_compare_report(sub)
    _add_reproduce(sub)

    p = sub.add_parser("decide", help="compute-optimal N, D and loss for FLOP budgets")
    p.add_argument("fit", help="a fit of a law of N and D, saved with Fit.save")
    p.add_argument("--compute", action="append", required=True,
                   help="FLOP budget(s) C = 6ND, e.g. 1e23 or 1e21,1e23,1e25; repeatable")
    p.add_argument("--group", action="append", default=[],
                   help="FACTOR=LEVEL, e.g. dataset=rpj; repeatable (default: every level)")
    p.add_argument("--interval", type=float, default=0.9)
    p.add_argument("--rule", choices=("expected", "quantile", "target"),
                   help="also choose N per budget by this rule, beside the point estimate")
    p.add_argument("--quantile", type=float,
                   help="loss quantile of --rule quantile (default 0.9)")
    p.add_argument("--target", type=float, help="target loss (for --rule target)")
    p.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``scalinglaws`` command."""
    args = parser().parse_args(argv)
    messages: list[str] = []
    code = 0
    with filtered(("always", ScalingLawWarning), record=True) as caught:
        try:
            _run(args, messages)
        except (ScalingLawError, OSError) as err:
            print(f"scalinglaws: error: {' '.join(str(err).split())}", file=sys.stderr)
            code = 2
    for item in caught:
        if issubclass(item.category, ScalingLawWarning):
            messages.append(str(item.message))
        else:
            warnings.showwarning(item.message, item.category, item.filename, item.lineno)
    for message in dict.fromkeys(messages):  # each once, in order
        print(f"scalinglaws: warning: {' '.join(message.split())}", file=sys.stderr)
    return code


def _run(args, messages: list[str]) -> None:
    """Run one parsed command; ``messages`` collects the warnings of loaded fits."""
    if args.command == "demo":
        demo(Path(args.out), chains=args.chains, warmup=args.warmup, draws=args.draws,
             seed=args.seed)
    elif args.command == "fit":
        model = read_spec(args.spec)
        check_output_path(check_fit_name(args.out), "fit file")
        extra = {}
        if args.cut_draws is not None:
            if getattr(model, "feedback", None) != "cut":
                raise ScalingLawError(f"--cut-draws applies to loss-to-loss specs with "
                                      f'feedback = "cut"; {args.spec} is not one')
            extra["cut_draws"] = args.cut_draws
        if args.whiten:
            if not hasattr(model, "link"):
                raise ScalingLawError(f"--whiten applies to loss-to-loss specs; {args.spec} "
                                      f"is a ScalingModel spec")
            extra["whiten"] = True
        if args.warmup is not None:
            extra["warmup"] = args.warmup
        fit = model.fit(_read_table(args.data), seed=args.seed, chains=args.chains,
                        draws=args.draws, **extra)
        _print(fit.summary())
        messages.extend(fit.warnings)
        print(f"saved {fit.save(args.out)}")
    elif args.command == "predict":
        fit = load(args.fit)
        messages.extend(f"loaded fit: {m}" for m in fit.warnings)
        rows = pd.DataFrame(_at_rows(args.at, _factors(fit)))
        _print(fit.predict(rows, interval=args.interval))
    elif args.command == "decide":
        _decide(args, messages)
    elif args.command in ("compare", "report"):
        _compare_report(args)
    elif args.command == "reproduce":
        _reproduce(args)


def _decide(args, messages: list[str]) -> None:
    if args.rule == "target" and args.target is None:
        raise ScalingLawError("--rule target needs the loss to reach: add --target, e.g. "
                              "--target 2.1")
    for flag, value, rule in (("--target", args.target, "target"),
                              ("--quantile", args.quantile, "quantile")):
        if value is not None and args.rule != rule:
            raise ScalingLawError(f"{flag} is read by --rule {rule} only; add --rule {rule} "
                                  f"or leave {flag} out")
    quantile = 0.9 if args.quantile is None else args.quantile
    if args.rule == "quantile":
        check_fraction(quantile, "--quantile", "0.9 for the loss's 90% quantile")
    group: dict = {}
    for item in args.group:
        key, _, level = item.partition("=")
        if not level:
            raise ScalingLawError(f"--group takes FACTOR=LEVEL, got {item!r}")
        group.setdefault(key.strip(), []).append(level.strip())
    budgets = _budgets_arg(args.compute)
    fit = load(args.fit)
    messages.extend(f"loaded fit: {m}" for m in fit.warnings)
    table = decide.compute_optimal(fit, budgets, group=group or None,
                                   interval=args.interval, seed=args.seed)
    print(f"Compute-optimal allocation ({fit.spec.target_law.name} on {fit.spec.target}, "
          f"{table['method'].iloc[0]}): posterior median and {args.interval:.0%} "
          f"interval; D* = C / (6 N*)")
    # a law whose optimum is a population line (isoflop) gives no factor columns
    factors = [f for f in fit.spec.factors if f in table.columns]
    _print(table[["compute", *factors,
                  *[f"{q}_{s}" for q in ("N", "tokens_per_param", "loss")
                    for s in ("median", "lower", "upper")]]])
    if args.rule:
        for _, row in table.iterrows():
            one = {f: row[f] for f in factors}
            print()
            print(decide.choose_size(fit, row["compute"], group=one or None, rule=args.rule,
                                     quantile=quantile, target=args.target,
                                     interval=args.interval, seed=args.seed))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
