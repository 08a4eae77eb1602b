"""YAML loading that remembers where every key came from.

Validation errors must name ``file:line key``, and PyYAML silently keeps the last of two duplicate
keys (two devices with one hostname would vanish into one). So documents are composed into nodes
with libyaml (fast) and built here, recording the line of every mapping key and sequence item and
refusing duplicate keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from govops.errors import InputError, Location, Problem, ValidationFailed

try:  # libyaml is in PyYAML's wheels; the pure-Python loader is 10x slower but correct.
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

KeyPath = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded YAML document plus the line of every key path in it."""

    data: Any
    file: str
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of ``path`` or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            line = self.lines.get(p)
            if line is not None:
                return line
            p = p[:-1]
        return self.lines.get((), None)

    def location(self, path: KeyPath) -> Location:
        return Location(self.file, self.line_of(path), dotted(path) or None)


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = str(part)
            # a key with line breaks or odd characters must not break the one-line message
            if not text.isprintable() or not text or text != text.strip():
                text = repr(text)
            out += ("." if out else "") + text
    return out


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self._scalars = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            out: list[Any] = []
            for i, item in enumerate(node.value):
                self.lines[(*path, i)] = item.start_mark.line + 1
                out.append(self.build(item, (*path, i)))
            return out
        return self._scalars.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)  # applied last: explicit keys win over merged ones
                continue
            key = self._scalars.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) and key is not None:
                self.problems.append(Problem("mapping key must be a scalar", Location(self.file, line)))
                continue
            skey: str | int = key if isinstance(key, int) and not isinstance(key, bool) else str(key)
            if skey in out:
                first = self.lines.get((*path, skey))
                self.problems.append(
                    Problem(
                        f"duplicate key '{skey}' (first defined on line {first})",
                        Location(self.file, line, dotted((*path, skey))),
                    )
                )
                continue
            self.lines[(*path, skey)] = line
            out[skey] = self.build(value_node, (*path, skey))
        for merge_node in merges:
            merged = self.build(merge_node, path)
            for src in merged if isinstance(merged, list) else [merged]:
                if isinstance(src, Mapping):
                    for k, v in src.items():
                        out.setdefault(k, v)
        return out


class PartlyValid(ValidationFailed):
    """Duplicate or non-scalar keys: the document is still readable (the first of two duplicates
    kept), so a validator can go on and report the file's other problems in the same run."""

    def __init__(self, problems: list[Problem], located: Located) -> None:
        super().__init__(problems)
        self.located = located


def loads(text: str, file: str = "<string>") -> Located:
    """Parse one YAML document; malformed YAML or duplicate keys raise ``ValidationFailed``."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = (exc.problem or exc.context or "malformed YAML").strip()
        raise ValidationFailed([Problem(f"malformed YAML: {msg}", Location(file, line))]) from None
    except yaml.YAMLError as exc:  # reader errors (bad bytes) carry no mark
        raise ValidationFailed([Problem(f"malformed YAML: {exc}", Location(file))]) from None
    if node is None:
        return Located(None, file, {})
    builder = _Builder(file)
    builder.lines[()] = node.start_mark.line + 1
    try:
        data = builder.build(node, ())
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ValidationFailed([Problem(f"invalid YAML value: {exc.problem}", Location(file, line))]) from None
    except RecursionError:
        raise ValidationFailed([Problem("YAML nests too deeply", Location(file))]) from None
    if builder.problems:
        raise PartlyValid(builder.problems, Located(data, file, builder.lines))
    return Located(data, file, builder.lines)


def read_text(path: Path, name: str, what: str = "file") -> str:
    """A UTF-8 text file's content; missing, unreadable or not UTF-8 is an ``InputError`` naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{name}: {what} not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror})") from None


def load(path: Path, *, display: str | None = None) -> Located:
    """Read and parse a YAML file; a missing or unreadable file is an ``InputError``."""
    name = display or str(path)
    return loads(read_text(path, name), name)


def dump(data: Any) -> str:
    """YAML for humans: block style, keys in the given order, non-ASCII kept readable."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
