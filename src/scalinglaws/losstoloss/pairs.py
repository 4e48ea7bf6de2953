"""Pairing the losses of trained models into the frames the joint model reads: train to
train, train to test and test to test (:func:`pair_losses` and its three shorthands).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import check_name, check_names, require_columns
from ..data import as_frame, numeric_column
from ..errors import ScalingLawError
from .frames import level_list, match_key


def pair_losses(runs: pd.DataFrame, *, x: str | Sequence[str] | None,
                y: str | Sequence[str] | None, loss_x: str,
                loss_y: str | Sequence[str], dataset: str = "dataset",
                on: Sequence[str] = ("N", "D"), run: str | None = "run",
                keep: Sequence[str] = ()) -> pd.DataFrame:
    """Pair one loss of models on ``x`` training sets with another of models on ``y``.

    For every ordered pair of training sets ``(a, b)`` (``a`` in ``x``, ``b`` in ``y``) and
    every output loss column, models trained on ``a`` and on ``b`` are matched by the
    columns ``on`` (by default the same N and D). When ``a == b`` a model is paired with
    itself (one model: its ``loss_x`` against its ``loss_y``); ``a == b`` with the same
    loss column is skipped.

    Parameters
    ----------
    runs : DataFrame
        One row per trained model.
    x, y : str, list of str or None
        Training sets (levels of ``dataset``) of the input and output models; None means
        all levels.
    loss_x : str
        Column of the input loss.
    loss_y : str or list of str
        Column(s) of the output loss; several give a long frame (one row per column).
    dataset : str
        Column naming the training set.
    on : sequence of str
        Columns that match a model on one set with its partner on the other (numbers
        match to 7 significant digits).
    run : str or None
        Column identifying a model; copied to ``run_x`` and ``run_y`` when present.
    keep : sequence of str
        Further columns to copy from the input model's row.

    Returns
    -------
    DataFrame
        Columns ``on``, ``dataset_x``, ``dataset_y``, ``metric_x``, ``metric_y`` (the loss
        columns), ``loss_x``, ``loss_y``, ``pair`` (``"a -> b"``), ``run_x`` and ``run_y``
        (a model id: the ``run`` column, else ``"<dataset>|<on values>"``), then ``keep``.

    Raises
    ------
    ScalingLawError
        A missing column, an unknown training set, a missing loss, two models of one set
        with the same ``on`` values (ambiguous: aggregate them or add a column to ``on``),
        or an ordered pair in which nothing matches.

    Examples
    --------
    >>> from scalinglaws.losstoloss import simulate
    >>> runs = simulate(seed=0)
    >>> pairs = pair_losses(runs, x="web", y="code", loss_x="loss", loss_y="loss")
    >>> pairs[["dataset_x", "dataset_y", "loss_x", "loss_y"]].shape[0] == 20
    True
    """
    runs = as_frame(runs, "runs")
    on = check_names(on, "on", "('N', 'D')")
    metrics_y = check_names(loss_y, "loss_y", "'val_loss'")
    keep = check_names(keep, "keep", "['seed']")
    check_name(loss_x, "loss_x")
    check_name(dataset, "dataset")
    if run is not None:
        check_name(run, "run")
    if not on:
        raise ScalingLawError("on= must name at least one column to match models by, e.g. "
                              "('N', 'D')")
    if not metrics_y:
        raise ScalingLawError("loss_y must name at least one loss column")
    require_columns(runs, [dataset, *on, loss_x, *metrics_y, *keep], "runs",
                    "Pass the right column names (dataset=, on=, loss_x=, loss_y=, keep=).")
    if runs[dataset].isna().any():
        raise ScalingLawError(f"column {dataset!r} has missing values in rows "
                              f"{list(runs.index[runs[dataset].isna()][:5])}; fill or drop them")
    for col in on:
        if runs[col].isna().any():
            raise ScalingLawError(f"matching column {col!r} has missing values in rows "
                                  f"{list(runs.index[runs[col].isna()][:5])}; drop those rows")
    levels = sorted(runs[dataset].astype(str).unique())
    xs = level_list(x, levels, "x", dataset)
    ys = level_list(y, levels, "y", dataset)
    # rows are selected by position: index labels may repeat (frames concatenated
    # without ignore_index)
    labels = runs[dataset].astype(str).to_numpy()
    key = match_key(runs, on).to_numpy()
    paired = np.flatnonzero(np.isin(labels, [*xs, *ys]))
    losses = {}
    for col in dict.fromkeys([loss_x, *metrics_y]):  # read on the rows that are paired
        losses[col] = np.full(len(runs), np.nan)
        losses[col][paired] = numeric_column(runs.iloc[paired], col,
                                             "loss_x" if col == loss_x else "loss_y",
                                             missing_ok=True)
    has_run = run is not None and run in runs.columns
    ids = runs[run].astype(str).to_numpy() if has_run else None

    for level in dict.fromkeys([*xs, *ys]):
        rows = np.flatnonzero(labels == level)
        dup = pd.Series(key[rows]).duplicated(keep=False).to_numpy()
        if dup.any():
            shown = list(runs.index[rows[dup]][:6])
            raise ScalingLawError(
                f"pairing is ambiguous: {len(set(key[rows[dup]]))} value(s) of {on} occur "
                f"more than once for {dataset}={level!r} (rows {shown}), so a partner model "
                f"is not unique. Aggregate those runs first (e.g. runs.groupby([{dataset!r}, "
                f"*{on}]).mean()) or add the distinguishing column (e.g. 'seed') to on="
            )

    pieces = []
    for a in xs:
        left = np.flatnonzero(labels == a)
        for b in ys:
            right = np.flatnonzero(labels == b)
            for metric in metrics_y:
                if a == b and metric == loss_x:
                    continue
                lhs = pd.DataFrame({"__key": key[left],
                                    **{c: runs[c].to_numpy()[left] for c in on},
                                    "loss_x": losses[loss_x][left],
                                    "run_x": ids[left] if has_run else a + "|" + key[left],
                                    **{c: runs[c].to_numpy()[left] for c in keep
                                       if c not in on}})
                rhs = pd.DataFrame({"__key": key[right],
                                    "loss_y": losses[metric][right],
                                    "run_y": ids[right] if has_run else b + "|" + key[right]})
                merged = lhs.merge(rhs, on="__key", how="inner", validate="one_to_one")
                if merged.empty:
                    raise ScalingLawError(
                        f"nothing pairs for {a!r} -> {b!r}: no model trained on {b!r} has the "
                        f"same {on} as a model trained on {a!r} (e.g. {a!r} has "
                        f"{list(key[left][:2])}, {b!r} has {list(key[right][:2])}). "
                        f"Check the on= columns or leave this pair out of x=/y="
                    )
                merged = merged.drop(columns="__key")
                merged.insert(len(on), "dataset_x", a)
                merged.insert(len(on) + 1, "dataset_y", b)
                merged.insert(len(on) + 2, "metric_x", loss_x)
                merged.insert(len(on) + 3, "metric_y", metric)
                merged["pair"] = f"{a} -> {b}"
                pieces.append(merged)
    if not pieces:
        raise ScalingLawError(
            f"nothing to pair: x={xs} and y={ys} with loss_x={loss_x!r} and loss_y={metrics_y} "
            f"only give a model paired with its own loss; choose different sets or losses"
        )
    out = pd.concat(pieces, ignore_index=True)
    missing = out["loss_x"].isna() | out["loss_y"].isna()
    if missing.any():
        bad = out.loc[missing, ["run_x", "run_y"]].head(3).to_numpy().tolist()
        raise ScalingLawError(
            f"{int(missing.sum())} paired rows have a missing loss (e.g. runs {bad}); drop those "
            f"runs from `runs` first (runs.dropna(subset=[{loss_x!r}, ...]))"
        )
    order = [*on, "dataset_x", "dataset_y", "metric_x", "metric_y", "loss_x", "loss_y", "pair",
             "run_x", "run_y", *[c for c in keep if c not in on]]
    return out[order]


def pair_train_to_train(runs: pd.DataFrame, x: str | Sequence[str] | None = None,
                        y: str | Sequence[str] | None = None, *, loss: str = "val_loss",
                        dataset: str = "dataset", on: Sequence[str] = ("N", "D"),
                        run: str | None = "run", keep: Sequence[str] = ()) -> pd.DataFrame:
    """Train-to-train pairs: the training loss of models on two sets, matched by N and D.

    ``x`` and ``y`` default to every training set, giving all ordered pairs. See
    :func:`pair_losses` for the columns and errors.

    >>> from scalinglaws.losstoloss import simulate
    >>> pairs = pair_train_to_train(simulate(seed=0), loss="loss")
    >>> pairs["pair"].nunique()
    6
    """
    check_name(loss, "loss")
    return pair_losses(runs, x=x, y=y, loss_x=loss, loss_y=loss, dataset=dataset, on=on,
                       run=run, keep=keep)


def pair_train_to_test(runs: pd.DataFrame, tasks: str | Sequence[str], *,
                       loss: str = "val_loss", datasets: str | Sequence[str] | None = None,
                       dataset: str = "dataset", on: Sequence[str] = ("N", "D"),
                       run: str | None = "run", keep: Sequence[str] = ()) -> pd.DataFrame:
    """Train-to-test pairs: each model's own loss ``loss`` against its test loss(es).

    One row per model and task column (``metric_y``), for the models trained on
    ``datasets`` (default all).

    >>> from scalinglaws.losstoloss import simulate
    >>> runs = simulate(seed=0).assign(task_loss=lambda f: f["loss"] + 0.5)
    >>> pairs = pair_train_to_test(runs, "task_loss", loss="loss", datasets="web")
    >>> bool((pairs["run_x"] == pairs["run_y"]).all())
    True
    """
    runs = as_frame(runs, "runs")
    tasks = check_names(tasks, "tasks", "['hellaswag_loss']")
    check_name(loss, "loss")
    check_name(dataset, "dataset")
    require_columns(runs, [dataset], "runs", "Pass dataset= naming the training-set column.")
    levels = sorted(runs[dataset].dropna().astype(str).unique())
    chosen = level_list(datasets, levels, "datasets", dataset)
    if loss in tasks:
        raise ScalingLawError(f"tasks includes the input loss {loss!r} itself; list test-loss "
                              f"columns only")
    pieces = [pair_losses(runs, x=d, y=d, loss_x=loss, loss_y=tasks, dataset=dataset, on=on,
                          run=run, keep=keep) for d in chosen]
    return pd.concat(pieces, ignore_index=True)


def pair_test_to_test(runs: pd.DataFrame, task: str, x: str | Sequence[str] | None = None,
                      y: str | Sequence[str] | None = None, *, dataset: str = "dataset",
                      on: Sequence[str] = ("N", "D"), run: str | None = "run",
                      keep: Sequence[str] = ()) -> pd.DataFrame:
    """Test-to-test pairs: one task's loss for models on two sets, matched by N and D.

    >>> from scalinglaws.losstoloss import simulate
    >>> runs = simulate(seed=0).assign(task_loss=lambda f: f["loss"] + 0.5)
    >>> pair_test_to_test(runs, "task_loss", x="web", y="code")["metric_y"].iloc[0]
    'task_loss'
    """
    check_name(task, "task")
    return pair_losses(runs, x=x, y=y, loss_x=task, loss_y=task, dataset=dataset, on=on,
                       run=run, keep=keep)
