"""A configuration session on one device (``govops net remediate``): netmiko's connection and the
SSH collector's shell.

The connection is opened by the audit collector's own ``connect`` (same netmiko parameters, same
error mapping, the same host-key policy checked before the password is sent: a device whose key
changed is refused before any line is typed), and the collector's ``Shell`` reads each answer up
to the prompt. On top of it: configuration lines with the device's own error text checked,
and the platform's save dialogue (VRP/Comware ``save`` asks ``[Y/N]``).
"""

from __future__ import annotations

import contextlib
import re
from types import TracebackType
from typing import Any, Protocol

from govops.credentials import Credential
from govops.network.collectors.base import SshTarget
from govops.network.collectors.known_hosts import HostKeyPolicy
from govops.network.collectors.ssh import DIALECTS, GENERIC, Shell, connect
from govops.network.platforms import PLATFORMS


class ConfigSyntax(Protocol):
    """What the session needs to know of a platform's CLI (remediation's ``Syntax``)."""

    @property
    def save(self) -> str: ...
    @property
    def show_config(self) -> str: ...
    @property
    def error(self) -> str: ...  # a regular expression: a line of an answer that is a rejection


_QUESTION = re.compile(rb"(\[Y/N\]|\[yes/no\]|\[confirm\]|\? \[[^\]\n]*\])\s*:?\s*\Z", re.I)


class ConfigSession:
    """``with ConfigSession(...) as s:`` an open, prepared shell; closed (TCP) on exit."""

    def __init__(
        self,
        target: SshTarget,
        credential: Credential,
        deadline: float,
        syntax: ConfigSyntax,
        host_keys: HostKeyPolicy,
    ) -> None:
        self.target = target
        self.credential = credential
        self.deadline = deadline
        self.host_keys = host_keys
        self.conn: Any = None
        self.shell: Shell | None = None
        self.syntax = syntax
        self._error = re.compile(self.syntax.error, re.M)

    def __enter__(self) -> ConfigSession:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _open(self) -> None:
        target = self.target
        self.conn = connect(target, self.credential, self.deadline, self.host_keys)
        self.shell = Shell(self.conn, DIALECTS.get(target.device_type, GENERIC), f"{target.host}:{target.port}")
        self.shell.prepare(PLATFORMS[target.platform].paging_off, self.deadline, target.timeout)

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.paramiko_cleanup()
            self.conn = None

    # -- commands ------------------------------------------------------------------------------
    def query(self, command: str) -> str:
        assert self.shell is not None
        return _body(self.shell.run(command, self.deadline, self.target.timeout), command)

    def running_config(self) -> str:
        return self.query(self.syntax.show_config)

    def send(self, line: str) -> str | None:
        """Type one line; the device's error text when it refused the line, else None."""
        assert self.shell is not None
        out = _body(self.shell.run(line, self.deadline, self.target.timeout), line)
        found = self._error.search(out)
        if found is None:
            return None
        rest = out[found.start() :].strip().splitlines()
        return rest[0].strip() if rest else out.strip()

    def save(self) -> str | None:
        """The platform's save, answering its confirmation; the error text if it failed, else None."""
        shell = self.shell
        assert shell is not None and shell.prompt is not None
        prompt = shell.prompt
        command = self.syntax.save.encode()
        shell._send(command)
        buf = shell._read_until(
            lambda d: (
                command in d
                and (
                    _QUESTION.search(d) is not None
                    or prompt.search(d, max(d.find(command) + len(command), len(d) - 400)) is not None
                )
            ),
            self.deadline,
            self.target.timeout,
            self.syntax.save,
        )
        text = buf.decode(errors="replace")
        if _QUESTION.search(buf) is not None:
            answer = b"" if b"filename" in buf.lower() else b"y"
            shell._send(answer)
            more = shell._read_until(
                lambda d: prompt.search(d, max(0, len(d) - 400)) is not None,
                self.deadline,
                self.target.timeout,
                self.syntax.save,
            )
            text += more.decode(errors="replace")
        found = self._error.search(text)
        return None if found is None else text[found.start() :].strip().splitlines()[0]


def _body(output: str, command: str) -> str:
    """A command's answer without its echo line and the prompt that follows."""
    lines = output.splitlines()
    if lines and command in lines[0]:
        lines = lines[1:]
    return "\n".join(lines[:-1] if lines else lines)


def normalise_config(text: str) -> str:
    """A configuration as compared before and after a rollback: volatile header lines left out."""
    volatile = re.compile(
        r"^(Building configuration|Current configuration :|! Last configuration change|! NVRAM config last)"
    )
    return "\n".join(ln.rstrip() for ln in text.splitlines() if ln.strip() and not volatile.match(ln.strip()))
