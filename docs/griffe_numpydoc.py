"""Griffe extension for the API reference: numpydoc's reStructuredText as Markdown.

The package's docstrings are numpydoc, written for reStructuredText (Sphinx, doctest).
A few of their constructs mean something else in Markdown. Once the package is loaded,
this extension rewrites them in every docstring, before the docstring is parsed:

- Sphinx roles such as ``:func:`load```, ``:class:`~scalinglaws.laws.Law``` or
  ``:meth:`ScalingModel.fit <scalinglaws.ScalingModel.fit>``` become mkdocs-autorefs
  cross-references. A name is resolved in the scope of the object whose docstring holds
  it, and the link is *optional*: a target that the reference does not render (an
  internal helper) becomes plain code instead of a broken link.
- Doctest blocks (``>>>`` lines and their output) outside an ``Examples`` section, which
  Markdown would read as prose, are fenced as ``pycon`` code. Griffe's numpydoc parser
  already does this inside ``Examples``.
- Bullet items whose text continues after a blank line, indented by two spaces, are
  indented by four, as Python-Markdown needs to keep the paragraphs in the item.
- A literal block introduced by ``::`` keeps one colon; the indented block after it is
  then a Markdown code block.
- An asterisk that cannot start or end reStructuredText emphasis (``N*``, ``D*/N*``) is
  escaped, so that Markdown does not pair two of them into emphasis.

Griffe gives every name of a parameter group (``seed, chains, warmup : int``) the
default, and for an untyped group the annotation, of the group's first name; each name
gets its own from the signature instead.

mkdocs.yml loads it with ``extensions: [docs/griffe_numpydoc.py:NumpydocMarkdown]``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?P<role>func|meth|class|attr|mod|data|exc|obj|const):`(?P<body>[^`]+)`"
)
EXPLICIT = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$")
UNDERLINE = re.compile(r"\s*-{3,}\s*")
BULLET = re.compile(r"^(?P<indent>\s*)[-*] \S")
EXAMPLES = ("Examples", "Example")
EMPHASIS_BEFORE = "([{<'\"-/:"
PARAMETER_SECTIONS = ("Parameters", "Other Parameters")
GROUP = re.compile(r"^(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)+)\s*(?P<typed>:.*)?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _target_path(obj: griffe.Object, target: str) -> str:
    """The full path of ``target`` as seen from ``obj``'s scope, or ``target`` unchanged."""
    target = target.lstrip(".")
    head, _, rest = target.partition(".")
    scope: Any = obj
    while scope is not None:
        try:
            path = scope.resolve(head)
        except Exception:  # noqa: BLE001 - unknown here: try the enclosing scope
            scope = scope.parent
            continue
        return f"{path}.{rest}" if rest else path
    return target


def _role(obj: griffe.Object, match: re.Match) -> str:
    body = match["body"].strip()
    explicit = EXPLICIT.match(body)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
    elif body.startswith("~"):
        target = body[1:]
        title = target.rsplit(".", 1)[-1]
    else:
        target = title = body
    if match["role"] in ("func", "meth") and not title.endswith(")"):
        title += "()"
    path = _target_path(obj, target)
    return (
        f'<autoref identifier="{html.escape(path)}" optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def fence_doctests(lines: list[str]) -> list[str]:
    """Each doctest block outside an ``Examples`` section fenced as ``pycon`` code."""
    out: list[str] = []
    section = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and UNDERLINE.fullmatch(lines[i + 1]):
            section = line.strip()
        if line.lstrip().startswith(">>>") and section not in EXAMPLES:
            indent = line[: _indent(line)]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return out


def indent_list_items(lines: list[str]) -> list[str]:
    """Bullet items' continuation lines indented by four spaces instead of two."""
    out: list[str] = []
    item = None  # indentation of the open bullet
    loose = False  # the open item holds a blank line
    for line in lines:
        bullet = BULLET.match(line)
        if bullet:
            if item is not None and loose and out and out[-1].strip():
                out.append("")  # Python-Markdown starts the next item after a blank line
            item, loose = len(bullet["indent"]), False
            out.append(line)
            continue
        if item is not None and not line.strip():
            loose = True
        if item is not None and line.strip() and _indent(line) <= item:
            item = None
        if item is not None and line.strip():
            line = "  " + line
        out.append(line)
    return out


def literal_blocks(lines: list[str]) -> list[str]:
    """``text::`` before a blank line and an indented block becomes ``text:``."""
    out = list(lines)
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("::") or i + 2 >= len(lines):
            continue
        if lines[i + 1].strip() or _indent(lines[i + 2]) <= _indent(line):
            continue
        stripped = line.rstrip()
        out[i] = "" if stripped.strip() == "::" else stripped[:-1]
    return out


def _escape_asterisks(line: str, open_: bool) -> tuple[str, bool]:
    out = []
    fence = 0  # length of the backtick run that opened the current code span
    i = 0
    while i < len(line):
        char = line[i]
        if char == "`":
            run = len(line[i:]) - len(line[i:].lstrip("`"))
            fence = 0 if fence == run else (fence or run)
            out.append("`" * run)
            i += run
            continue
        if char == "*" and not fence:
            if line.startswith("**", i):
                out.append("**")
                i += 2
                continue
            before = line[i - 1] if i else " "
            after = line[i + 1] if i + 1 < len(line) else " "
            opens = before.isspace() or before in EMPHASIS_BEFORE
            if not open_ and opens and not after.isspace():
                open_ = True
            elif open_ and not before.isspace():
                open_ = False
            else:
                char = "\\*"
        out.append(char)
        i += 1
    return "".join(out), open_


def escape_asterisks(lines: list[str]) -> list[str]:
    """Asterisks that reStructuredText reads as text escaped; code left alone."""
    out: list[str] = []
    open_ = False  # emphasis open in this paragraph
    fenced = False  # inside a fenced block
    doctest = False  # inside a doctest block (its prompts and output)
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
        if not stripped:
            open_ = doctest = False
        if stripped.startswith(">>>"):
            doctest = True
        if fenced or doctest or "*" not in line:
            out.append(line)
            continue
        line, open_ = _escape_asterisks(line, open_)
        out.append(line)
    return out


def rewrite(obj: griffe.Object, text: str) -> str:
    """``text`` as Markdown for the reference (see the module docstring)."""
    lines = fence_doctests(text.splitlines())
    lines = literal_blocks(indent_list_items(escape_asterisks(lines)))
    return ROLE.sub(lambda m: _role(obj, m), "\n".join(lines))


def parameter_groups(text: str) -> dict[str, bool]:
    """Names documented in a group in a Parameters section, and whether the group is typed."""
    lines = text.splitlines()
    groups: dict[str, bool] = {}
    section = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line.strip() and UNDERLINE.fullmatch(lines[i + 1]):
            section = line.strip()
            continue
        group = GROUP.match(line)
        if section in PARAMETER_SECTIONS and group:
            for name in group["names"].split(","):
                groups[name.strip().lstrip("*")] = bool(group["typed"])
    return groups


def fix_parameter_groups(obj: griffe.Object) -> None:
    """Each grouped parameter's default (and, untyped, annotation) from the signature."""
    groups = parameter_groups(obj.docstring.value)
    try:
        signature = obj.parameters
    except AttributeError:
        return
    if not groups or not signature:
        return
    for section in obj.docstring.parsed:
        if section.kind.value not in ("parameters", "other parameters"):
            continue
        for param in section.value:
            if param.name in groups and param.name in signature:
                own = signature[param.name]
                param.value = own.default
                if not groups[param.name]:
                    param.annotation = own.annotation


class NumpydocMarkdown(griffe.Extension):
    """Rewrite every docstring of a loaded package as Markdown for the reference."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj, obj.docstring.value)
            fix_parameter_groups(obj)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)
