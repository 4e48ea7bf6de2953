"""Every ``scalinglaws`` command shown in README.md and docs/ parses, and those that read
saved fits run: decide, compare, report and predict, on a small fit saved under the
file names the docs use.

Commands that refit or reproduce a study (``--holdout``, ``reproduce``) take minutes to
hours; they are parsed here (every option exists and takes its value) and run by
``pytest -m slow`` (the studies) or the benchmarks, not in the default run.
"""

from __future__ import annotations

import importlib
import re
import shlex
import warnings
from pathlib import Path

import pytest

import scalinglaws as sl
from scalinglaws.cli import main, parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: Commands that take minutes or more: parsed, not run, by this test.
LONG = ("--holdout", " reproduce ", " demo", " fit ")


def _commands() -> list[tuple[str, str]]:
    """``(where, command)`` for each command line in a code block of the pages; an
    optional ``[...]`` part gives two commands, without it and with it."""
    out = []
    for page in PAGES:
        block, pending = False, ""
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                block = not block
                continue
            text = pending + line.strip()
            if not block or not (pending or re.match(r"(\.venv/bin/)?scalinglaws \w", text)):
                continue
            if text.endswith("\\"):
                pending = text[:-1] + " "
                continue
            pending = ""
            text = text.split(" #")[0].strip().removeprefix(".venv/bin/")
            where = f"{page.relative_to(ROOT)}:{number}"
            plain = re.sub(r"\s*\[[^\]]*\]", "", text)
            out.append((where, plain))
            if plain != text:
                out.append((where, re.sub(r"\[([^\]]*)\]", r"\1", text)))
    return out


COMMANDS = _commands()


def test_the_pages_show_commands():
    subcommands = {shlex.split(c)[1] for _, c in COMMANDS}
    assert {"fit", "predict", "decide", "compare", "report", "reproduce"} <= subcommands


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_documented_command_parses(where, command):
    args = parser().parse_args(shlex.split(command)[1:])
    if args.command == "reproduce":
        studies = importlib.import_module("scalinglaws.reproduce").STUDIES
        assert args.study in studies, (where, args.study)


@pytest.fixture(scope="module")
def saved_fits(tmp_path_factory):
    """The files the docs' commands read: one small fit of a synthetic sweep whose
    datasets include the docs' ``rpj`` and ``web``, saved under each name (the commands,
    not the laws, are under test here; compare and report accept two copies of a fit)."""
    folder = tmp_path_factory.mktemp("docs")
    runs = sl.synthetic.sweep(seed=0)
    runs["dataset"] = runs["dataset"].replace({"books": "rpj"})
    model = sl.ScalingModel("chinchilla", target="loss", vary={"E": "dataset"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sl.ScalingLawWarning)  # short chains
        fit = model.fit(runs, chains=2, warmup=100, draws=100, seed=0, progress=False)
    names = {Path(word).name for _, command in COMMANDS for word in shlex.split(command)
             if word.endswith(".nc")}
    for name in names:
        fit.save(folder / name)
    return folder


RUN = [(w, c) for w, c in COMMANDS if not any(key in f" {c} " for key in LONG)]


@pytest.mark.parametrize(("where", "command"), RUN, ids=[w for w, _ in RUN])
def test_documented_commands_on_saved_fits_run(where, command, saved_fits, monkeypatch,
                                               capsys):
    monkeypatch.chdir(saved_fits)
    assert main(shlex.split(command)[1:]) == 0, (where, capsys.readouterr().err)
    out = capsys.readouterr().out
    assert out.strip(), where
