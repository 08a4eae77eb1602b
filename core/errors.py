"""The error hierarchy every service raises, with the exit code the CLI turns each into.

Messages and hints are catalog keys with parameters (``Msg``, core/i18n.py) so the CLI shows them
in the user's language; ``message``/``hint`` and ``str()`` are the English text.

Exit codes are part of the public contract (``docs/reference/exit-codes.md``): 0 ok, 1 error,
2 usage or bad input, 3 finished with findings or failed targets, 4 drift (``cloud plan``),
130 interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from govops.i18n import Joined, Msg, Text, Translator


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    FINDINGS = 3
    # `cloud plan`: the cloud differs from the spec (Terraform's -detailed-exitcode gives this 2,
    # which here already means bad input; a cron job must tell the two apart)
    CHANGES = 4
    INTERRUPTED = 130


@dataclass(frozen=True)
class Location:
    """Where in an input file a problem sits, printed as ``file:line key``."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where} {self.key}" if self.key else where


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input; a validation may collect many before failing."""

    message: Text
    location: Location | None = None

    def __str__(self) -> str:
        return self.render_in(Translator("en"))

    def render_in(self, t: Translator) -> str:
        text = t.text(self.message)
        return f"{self.location}: {text}" if self.location else text


class GovopsError(Exception):
    """Base of every error the CLI reports as one readable line (never a traceback)."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: Text, *, hint: Text | None = None) -> None:
        super().__init__(str(message))
        self.reword(message, hint)

    def reword(self, message: Text, hint: Text | None = None) -> None:
        """Replace the message and hint (a caller that knows better words for this situation)."""
        self.msg = message
        self.hint_msg = hint
        self.message = str(message)
        self.hint = None if hint is None else str(hint)

    def __str__(self) -> str:
        return self.message

    def render_in(self, t: Translator) -> str:
        """The message in ``t``'s language."""
        return t.text(self.msg)

    def hint_in(self, t: Translator) -> str | None:
        return None if self.hint_msg is None else t.text(self.hint_msg)


class InputError(GovopsError):
    """Bad input from the user: malformed file, unknown name, invalid option value."""

    exit_code = ExitCode.USAGE


class ValidationFailed(InputError):
    """An input file failed validation; carries every problem found, first one in the message."""

    def __init__(self, problems: list[Problem], *, hint: Text | None = None) -> None:
        message: Text
        if not problems:
            message = Msg("err.validation_failed")
        elif len(problems) == 1:
            message = Msg("err.problem", problem=problems[0])
        else:
            message = Msg("err.problem_and_more", problem=problems[0], more=len(problems) - 1)
        super().__init__(message, hint=hint)
        self.problems = problems


class NotFoundError(InputError):
    """A named thing (department, device, run, VM) does not exist."""


class ConfigError(InputError):
    """govops.yaml or a file it points at is missing or invalid."""


class CredentialError(GovopsError):
    """A credential could not be resolved from any configured source."""


class StoreError(GovopsError):
    """The results store could not be opened, migrated or written."""


class DamagedRow(StoreError):
    """A row of the store whose JSON no longer parses (edited by hand, a torn write): bad input,
    named by table and key, not an internal error."""

    exit_code = ExitCode.USAGE


class Interrupted(GovopsError):
    """Ctrl-C or SIGTERM stopped a recorded run: what finished is kept, ``resume`` does the rest.

    Raised instead of letting ``KeyboardInterrupt`` through, which Typer would turn into a silent
    exit 130 before the run ID (needed for ``--resume``) could be shown.
    """

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, run_id: str, resume: str, *, done: int = 0, total: int = 0) -> None:
        super().__init__(
            Msg("err.interrupted", run=run_id, done=done, total=total), hint=Msg("err.resume_with", command=resume)
        )
        self.run_id = run_id
        self.resume = resume
        self.done = done
        self.total = total


@dataclass
class PeerErrorInfo:
    """What we know about a failed request to an external system."""

    service: str
    request: Text = ""
    status: int | None = None
    request_id: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class PeerError(GovopsError):
    """An external system (OpenStack, Prometheus, a device) refused or failed a request.

    Like openstacksdk's exceptions it carries the request id, so an operator can find the
    request in the service's logs.
    """

    def __init__(self, message: Text, info: PeerErrorInfo, *, hint: Text | None = None) -> None:
        parts: list[Text] = [info.service]
        if info.request:
            parts.append(info.request)
        if info.status is not None:
            parts.append(f"HTTP {info.status}")
        prefix = Joined(tuple(parts), " ")
        rid = Msg("err.peer.request_id", id=info.request_id) if info.request_id else ""
        super().__init__(Msg("err.peer", peer=prefix, message=message, request_id=rid), hint=hint)
        self.info = info


class FindingsError(GovopsError):
    """The work finished but found problems or had failed targets; results were kept."""

    exit_code = ExitCode.FINDINGS
