"""YAML loading that remembers where every key came from.

Validation errors must name ``file:line key``, and PyYAML silently keeps the last of two duplicate
keys (two devices with one hostname would vanish into one). So documents are composed into nodes
with libyaml (fast) and built here, recording the line of every mapping key and sequence item and
refusing duplicate keys.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from govops.errors import InputError, Location, Problem, ValidationFailed
from govops.i18n import Msg, Text

try:  # libyaml is in PyYAML's wheels; the pure-Python loader is 10x slower but correct.
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Loader = yaml.SafeLoader

KeyPath = tuple[str | int, ...]

# Limits that keep a broken or hostile input file from hanging govops or exhausting memory. The
# largest real inputs are the 2,297-device inventory's devices.yaml (311 KB, ~40,000 values) and the
# 50-department file (15 KB); the limits sit two orders of magnitude above them.
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest YAML input file read (inventory files, departments, specs, rules, the vault)."""
MAX_NODES = 1_000_000
"""Most YAML nodes a document may be written with (composing one costs ~450 bytes: 1 M is ~0.5 GB)."""
_PRESCAN_BYTES = 512 * 1024  # smaller texts cannot hold MAX_NODES nodes, so skip the extra pass
MAX_CONFIG_BYTES = 1024 * 1024
"""Largest govops.yaml: a real one is about 1 KB."""
MAX_PASSWORD_FILE_BYTES = 64 * 1024
"""Largest vault password file (a password is one line)."""
MAX_VALUES = 2_000_000
"""Most values (mappings, sequences, scalars) one document may build, aliases expanded."""
ALIAS_RATIO = 10
"""Aliases may expand a document to at most this many times the values written in it (plus
``ALIAS_ALLOWANCE``): merge keys (``<<: *defaults``) stay cheap, a "billion laughs" file does not."""
ALIAS_ALLOWANCE = 100_000


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
    def __init__(self, file: str, budget: int) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []
        self._scalars = yaml.constructor.SafeConstructor()
        self._budget = budget

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        # Every value built counts, so an alias of an alias of ... costs what it expands to.
        self._budget -= 1
        if self._budget < 0:
            raise _TooBig(node.start_mark.line + 1)
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
                self.problems.append(Problem(Msg("err.yaml.key_not_scalar"), Location(self.file, line)))
                continue
            skey: str | int = key if isinstance(key, int) and not isinstance(key, bool) else str(key)
            if skey in out:
                first = self.lines.get((*path, skey))
                self.problems.append(
                    Problem(
                        Msg("err.yaml.duplicate_key", key=skey, first=first),
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


class _TooBig(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _count_nodes(root: yaml.Node) -> int:
    """Distinct nodes of a composed document (an anchored node once, however often aliased)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append(k)
                stack.append(v)
    return len(seen)


def _last_line(text: str) -> int:
    """Number of the last line of ``text`` (libyaml puts end-of-stream errors one line past it)."""
    return max(1, text.count("\n") + (0 if text.endswith("\n") else 1))


def _refuse_too_many_nodes(text: str, file: str) -> None:
    """Count parser events (constant memory) before composing, which holds every node at once."""
    for count, event in enumerate(yaml.parse(text, Loader=_Loader), 1):
        if count > MAX_NODES:
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            problem = Problem(Msg("err.yaml.too_many_nodes", limit=f"{MAX_NODES:,}"), Location(file, line))
            raise ValidationFailed([problem])


class PartlyValid(ValidationFailed):
    """Duplicate or non-scalar keys: the document is still readable (the first of two duplicates
    kept), so a validator can go on and report the file's other problems in the same run."""

    def __init__(self, problems: list[Problem], located: Located) -> None:
        super().__init__(problems)
        self.located = located


def loads(text: str, file: str = "<string>") -> Located:
    """Parse one YAML document; malformed YAML or duplicate keys raise ``ValidationFailed``."""
    try:
        if len(text) > _PRESCAN_BYTES:
            _refuse_too_many_nodes(text, file)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = min(mark.line + 1, _last_line(text)) if mark is not None else None
        # the parser's own words (English, from PyYAML) after ours
        msg = (exc.problem or exc.context or "").strip()
        raise ValidationFailed([Problem(Msg("err.yaml.malformed", reason=msg), Location(file, line))]) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids (NUL, most controls): no mark
        line = text.count("\n", 0, max(0, exc.position)) + 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        problem = Problem(Msg("err.yaml.bad_char", char=what), Location(file, line))
        raise ValidationFailed([problem]) from None
    except yaml.YAMLError as exc:
        text1 = " ".join(str(exc).split())  # one line, whatever the parser put in it
        raise ValidationFailed([Problem(Msg("err.yaml.malformed", reason=text1), Location(file))]) from None
    if node is None:
        return Located(None, file, {})
    written = _count_nodes(node)
    builder = _Builder(file, min(MAX_VALUES, written * ALIAS_RATIO + ALIAS_ALLOWANCE))
    builder.lines[()] = node.start_mark.line + 1
    try:
        data = builder.build(node, ())
    except _TooBig as exc:
        too_big = (
            Msg("err.yaml.aliases", ratio=ALIAS_RATIO)
            if written < MAX_VALUES
            else Msg("err.yaml.too_many_values", limit=f"{MAX_VALUES:,}")
        )
        raise ValidationFailed([Problem(too_big, Location(file, exc.line))]) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ValidationFailed([Problem(Msg("err.yaml.bad_value", reason=exc.problem), Location(file, line))]) from None
    except RecursionError:
        raise ValidationFailed([Problem(Msg("err.yaml.too_deep"), Location(file))]) from None
    if builder.problems:
        raise PartlyValid(builder.problems, Located(data, file, builder.lines))
    return Located(data, file, builder.lines)


def read_bytes(path: Path, name: str, what: str = "file", limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's content, at most ``limit`` bytes; anything else is an ``InputError`` naming it.

    A FIFO or a device (``/dev/zero``) would block or never end: only regular files are read, and
    opened non-blocking so that even the check cannot hang on a FIFO without a writer.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(Msg("err.file.not_found", path=name, what=_noun(what))) from None
    except IsADirectoryError:
        raise InputError(Msg("err.file.is_folder", path=name, what=_noun(what))) from None
    except OSError as exc:
        raise InputError(Msg("err.file.unreadable", path=name, reason=exc.strerror)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(Msg("err.file.is_folder", path=name, what=_noun(what)))
        if not stat.S_ISREG(st.st_mode):
            raise InputError(Msg("err.file.not_regular", path=name))
        if st.st_size > limit:
            raise InputError(Msg("err.file.too_large", path=name, size=_size(st.st_size), limit=_size(limit)))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise InputError(Msg("err.file.unreadable", path=name, reason=exc.strerror)) from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while being read
        raise InputError(Msg("err.file.grew", path=name, limit=_size(limit)))
    return data


def _noun(what: str) -> Msg:
    """The kind of file named in a message (``"vault file"``), from the catalog's ``noun.*`` keys."""
    return Msg("noun." + what.replace(" ", "_"))


def _size(n: int) -> Text:
    if n < 1024:
        return Msg("unit.bytes", n=n)
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB".replace(".0 ", " ")


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(Msg("err.file.not_utf8", path=name, reason=exc.reason, byte=exc.start)) from None


def read_text(path: Path, name: str, what: str = "file", limit: int = MAX_FILE_BYTES) -> str:
    """A UTF-8 text file's content; missing, unreadable, too large or not UTF-8 is an ``InputError``."""
    return decode(read_bytes(path, name, what, limit), name)


def load(path: Path, *, display: str | None = None, limit: int = MAX_FILE_BYTES) -> Located:
    """Read and parse a YAML file; a missing, unreadable or too large file is an ``InputError``."""
    name = display or str(path)
    return loads(read_text(path, name, limit=limit), name)


def dump(data: Any) -> str:
    """YAML for humans: block style, keys in the given order, non-ASCII kept readable."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
