"""The Python examples of README.md and docs/ that are whole programs run as written.

Most pages show snippets that continue a reader's own session (``fit1``, ``runs``, a
saved ``gadre.nc``); the blocks listed in :data:`PROGRAMS` are complete and are executed
here, each in a fresh namespace and an empty working folder, so that an example that
drifts from the API fails a test instead of a reader. The law pages' blocks are
generated (``docs/make_law_pages.py``) and all run. Examples that fit for a minute or
more run under ``-m slow``; those that load a study's data skip without it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SCALINGLAWS_DATA", ROOT.parent / "shared" / "data"))

#: (page, index of its Python block, what it needs): "" runs in the default suite,
#: "data" needs the studies' data, "slow" fits for a minute or more.
PROGRAMS = [
    ("README.md", 0, "slow"),          # the tour: a fit, predictions, plot, 8 batched fits
    ("README.md", 1, ""),              # writes runs.csv
    ("docs/index.md", 0, ""),          # the demo fit
    ("docs/datasets.md", 0, "data"),
    ("docs/api/laws.md", 0, ""),       # a law evaluated in float64
    ("docs/compare.md", 7, "slow"),    # Gadre et al.: four fits, a backtest, a report
    ("docs/loss_to_loss.md", 0, "slow"),  # a loss-to-loss fit of five links (about 1 min)
    *((str(page.relative_to(ROOT)), 0, "") for page in sorted((ROOT / "docs/laws").glob("*.md"))
      if page.name != "README.md"),
]


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of a page, in order."""
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)


def test_every_listed_block_exists_and_every_law_page_has_one():
    for page, index, _ in PROGRAMS:
        assert len(python_blocks(page)) > index, f"{page} has no Python block {index}"
    law_pages = [p for p, _, _ in PROGRAMS if p.startswith("docs/laws/")]
    assert len(law_pages) >= 10


@pytest.mark.parametrize("page, index, needs", [
    pytest.param(page, index, needs, id=f"{page}[{index}]",
                 marks=[pytest.mark.slow] if needs == "slow" else [])
    for page, index, needs in PROGRAMS])
def test_the_example_runs_as_written(page, index, needs, tmp_path, monkeypatch):
    if needs == "data":
        if not all((SHARED_DATA / study).is_dir()
                   for study in ("gadre2024", "brandfonbrener2025")):
            pytest.skip(f"the studies' data is not at {SHARED_DATA}: set SCALINGLAWS_DATA "
                        f"to a folder with the layout of the project's shared/data")
        monkeypatch.setenv("SCALINGLAWS_DATA", str(SHARED_DATA))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    code = compile(python_blocks(page)[index], f"{page}[{index}]", "exec")
    exec(code, {"__name__": "__docs_example__"})  # noqa: S102 - our own documentation
