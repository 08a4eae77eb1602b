"""The shell blocks of a docs page that a test runs (sqlite-utils' cog idea: the first page cannot rot).

A fenced ``sh`` block right after an HTML comment ``<!-- test: LAB -->`` is run against that lab
(``extranet`` or ``cloud``). Each command must exit 0, or the code its comment starts with:
``govops net audit   # exit 3: findings`` (or ``# exit 3 too``) allows 0 and 3. Lab commands are rewritten for the lab of
the test session: ``govops lab env`` gets ``--dir LAB``, and ``govops lab up|install|down``, which
must never start or stop the session's (possibly shared) lab, become ``govops lab status --dir LAB``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

_MARK = re.compile(r"^<!-- test: (\w+) -->\s*$")
_EXIT = re.compile(r"#\s*exit (\d+)\b")


@dataclass(frozen=True)
class Command:
    line: int
    text: str  # the command as written, without its comment
    allowed: frozenset[int]


@dataclass(frozen=True)
class Block:
    lab: str
    line: int
    commands: tuple[Command, ...]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").split("\n")
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _MARK.match(lines[i])
        if not m:
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() != "```sh":
            raise ValueError(f"{page}:{i + 1}: a test marker must be followed by a ```sh block")
        start = i + 2
        end = lines.index("```", start)
        out.append(Block(m.group(1), start, tuple(_commands(lines, start, end))))
        i = end + 1
    return out


def _commands(lines: list[str], start: int, end: int) -> list[Command]:
    cmds: list[Command] = []
    pending = ""
    first = start
    for n in range(start, end):
        raw = lines[n]
        if not pending:
            first = n
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        full = pending + raw
        pending = ""
        code, comment = _split_comment(full)
        if not code.strip():
            continue
        allowed = {0}
        m = _EXIT.match(comment.strip())
        if m:
            allowed.add(int(m.group(1)))
        cmds.append(Command(first + 1, code.strip(), frozenset(allowed)))
    return cmds


def _split_comment(line: str) -> tuple[str, str]:
    """(code, comment): the first `#` outside quotes that starts a word begins the comment."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i:]
    return line, ""


def for_lab(command: str, lab_dir: Path) -> str:
    """The command rewritten to use (and never start or stop) the test session's lab."""
    words = command.split()
    lab = shlex.quote(str(lab_dir))
    if words[:2] == ["govops", "lab"] and len(words) > 2 and words[2] in ("up", "install", "down"):
        return f"govops lab status --dir {lab}"
    return command.replace("govops lab env", f"govops lab env --dir {lab}").replace(
        "govops lab status", f"govops lab status --dir {lab}"
    )


def run(block: Block, lab_dir: Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> None:
    """Run a block's commands in one shell, in order; fail on the first unexpected exit code."""
    script = ['eval "$(govops lab env --dir ' + shlex.quote(str(lab_dir)) + ')" || exit 97']
    for c in block.commands:
        codes = " ".join(str(x) for x in sorted(c.allowed))
        script.append(for_lab(c.text, lab_dir))
        script.append(
            f'rc=$?; case " {codes} " in *" $rc "*) ;; *) echo "docs line {c.line}: exit $rc: '
            f'{shlex.quote(c.text)[1:-1]}" >&2; exit 98;; esac'
        )
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n{proc.stdout[-2000:]}"
