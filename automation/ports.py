"""The automation port: what govops asks of a playbook runner, and the typed answers it gets back.

The only adapter is ``govops.automation.ansible`` (ansible-runner + ansible-core); unit tests use a
fake. Services build a ``PlayRequest``, the runner executes it and reports each task result as it
happens (``on_task``), then returns a ``RunnerOutcome`` with one ``HostResult`` per host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from govops.credentials import Secret, redact
from govops.errors import GovopsError, InputError

HostStatus = Literal["ok", "changed", "failed", "unreachable", "timeout"]
TaskStatus = Literal["ok", "changed", "failed", "unreachable", "skipped", "ignored"]
RunStatus = Literal["successful", "failed", "timeout", "canceled", "error"]
# A line of a playbook's error is enough to act on; bodies stay out of the store and the output.
MESSAGE_LIMIT = 300


class AutomationError(GovopsError):
    """The runner itself failed (ansible missing, crashed) before giving per-host results."""


class PlaybookInputError(InputError):
    """Ansible refused the playbook, inventory or options (its exit codes 4 and 5)."""


@dataclass(frozen=True)
class TaskFailure:
    task: str
    message: str
    unreachable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "message": self.message, "unreachable": self.unreachable}


@dataclass
class HostResult:
    """One host's PLAY RECAP line plus the tasks that failed on it (name and a short message)."""

    host: str
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0
    failures: list[TaskFailure] = field(default_factory=list)
    finished: bool = True  # False: the deadline ended the run before this host's recap

    @property
    def status(self) -> HostStatus:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        if not self.finished:
            return "timeout"
        return "changed" if self.changed else "ok"

    @property
    def reason(self) -> str | None:
        if self.failures:
            first = self.failures[0]
            return f"{first.task}: {first.message}" if first.task else first.message
        return "the deadline ended the run" if not self.finished else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
            "rescued": self.rescued,
            "ignored": self.ignored,
            "failed_tasks": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True)
class PlayRequest:
    """Everything one playbook run needs. ``inventory`` is a file/folder or an inventory as data
    (Ansible's YAML/JSON shape: ``{"all": {"hosts": {...}, "children": {...}}}``)."""

    playbook: Path
    inventory: Path | Mapping[str, Any]
    run_id: str
    limit: str | None = None
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    extra_var_files: tuple[Path, ...] = ()
    forks: int = 10
    check: bool = False
    diff: bool = False
    timeout: float = 3600.0
    vault_password: Secret | None = None
    vault_password_file: Path | None = None  # an executable vault client script (never read by govops)
    # Environment variables the playbook must not see (the vault password's, for one).
    hide_env: tuple[str, ...] = ()
    keep_artifacts: bool = False


@dataclass
class RunnerOutcome:
    status: RunStatus
    rc: int | None
    hosts: dict[str, HostResult]
    error: str | None = None  # Ansible's own error line when it stopped before (or instead of) the hosts
    artifacts: Path | None = None  # kept only on request


@dataclass(frozen=True)
class InventoryNames:
    """The hosts of an inventory and each group's hosts (child groups' hosts included)."""

    hosts: frozenset[str]
    groups: Mapping[str, frozenset[str]]


TaskCallback = Callable[[str, str, TaskStatus, str | None], None]  # host, task, status, short message


class PlaybookRunner(Protocol):
    def inventory_names(self, inventory: Path) -> InventoryNames:
        """Hosts and groups of an inventory source; ``PlaybookInputError`` if Ansible cannot parse it."""

    def run(self, request: PlayRequest, on_task: TaskCallback) -> RunnerOutcome:
        """Run the playbook to the end or the deadline, calling ``on_task`` for every task result."""


def short(text: object) -> str:
    """The first non-empty line of ``text``, cut to ``MESSAGE_LIMIT`` characters."""
    # masked before it is cut: a secret cut in two would escape the scrubbing of the result
    lines = [line.strip() for line in redact(str(text or "")).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= MESSAGE_LIMIT else first[: MESSAGE_LIMIT - 1] + "…"
