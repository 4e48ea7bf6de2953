"""The package's layers: every import goes down (or sideways without a circle), and
package modules are imported at the top of a module, never inside a function.

The layers are those of DESIGN.md's layout; a new module must be given one here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scalinglaws

PACKAGE = Path(scalinglaws.__file__).parent

#: Layer of each module or subpackage (its dotted path below ``scalinglaws``); a
#: subpackage's modules share its layer. Lower layers never import higher ones.
LAYERS = {
    "_version": 0, "errors": 0, "_checks": 0, "_devices": 0, "_precision": 0, "_warnings": 0,
    "priors": 0,
    "netcdf": 0, "protocol": 0,
    "laws": 1,
    "spec": 2, "data": 2, "datasets": 2, "synthetic": 2,
    "model": 3, "prediction": 3, "discrepancy": 3,
    "engine": 4, "plotting": 4, "display": 4,
    "fit": 5, "scaling_model": 5, "losstoloss": 5, "io": 5,
    "fitset": 6, "validate": 6, "compare": 6, "decide": 6,
    "report": 7,
    "reproduce": 8,
    "cli": 9, "__init__": 9,
}


def _modules() -> dict[str, Path]:
    """Dotted name below the package (``laws.law``, ``laws``) -> file."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _layer(name: str) -> int:
    for key in (name, name.split(".")[0]):
        if key in LAYERS:
            return LAYERS[key]
    raise AssertionError(f"module scalinglaws.{name} has no layer: add it to LAYERS "
                         f"in tests/test_layout.py (and to DESIGN.md's layout)")


def _package_of(name: str, path: Path) -> list[str]:
    """The dotted package a module's relative imports start from."""
    parts = name.split(".") if name != "__init__" else []
    return parts if path.name == "__init__.py" else parts[:-1]


def _targets(node: ast.AST, name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """The package modules an import statement reaches."""
    if isinstance(node, ast.Import):
        return [a.name.removeprefix("scalinglaws.").removeprefix("scalinglaws")
                for a in node.names if a.name.split(".")[0] == "scalinglaws"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        if not (node.module or "").startswith("scalinglaws"):
            return []
        base = (node.module or "").removeprefix("scalinglaws").lstrip(".").split(".")
        base = [b for b in base if b]
    else:
        package = _package_of(name, path)
        base = package[: len(package) - (node.level - 1)] + (
            node.module.split(".") if node.module else [])
    out = []
    for alias in node.names:
        candidate = ".".join([*base, alias.name])
        out.append(candidate if candidate in modules else ".".join(base) or "__init__")
    return out


def _imports() -> tuple[dict[str, set[str]], list[str]]:
    """Import edges between package modules, and the in-function imports found."""
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    nested = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            targets = [t for t in _targets(node, name, path, modules) if t != name]
            if not targets:
                continue
            if id(node) not in top:
                nested.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports "
                              f"{targets} inside a function or block")
            edges[name].update(targets)
    return edges, nested


def test_every_module_has_a_layer():
    for name in _modules():
        _layer(name)


def test_no_import_goes_up_a_layer():
    edges, _ = _imports()
    upward = [f"scalinglaws.{a} (layer {_layer(a)}) imports scalinglaws.{b} (layer {_layer(b)})"
              for a, targets in edges.items() for b in targets if _layer(b) > _layer(a)]
    assert not upward, "\n".join(upward)


def test_no_import_circle():
    edges, _ = _imports()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                circle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_package_modules_are_imported_at_the_top():
    _, nested = _imports()
    assert not nested, "\n".join(nested)


def test_the_check_sees_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The walker itself: a planted upward import and circle are found."""
    pkg = tmp_path / "scalinglaws"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("from .fit import Fit\n")
    (pkg / "fit.py").write_text("from .errors import ScalingLawError\n"
                                "def f():\n    from . import cli\n")
    (pkg / "cli.py").write_text("")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", pkg)
    edges, nested = _imports()
    assert "fit" in edges["errors"] and "errors" in edges["fit"]
    assert nested and "cli" in nested[0]
    with pytest.raises(pytest.fail.Exception, match="import circle"):
        test_no_import_circle()
