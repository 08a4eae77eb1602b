"""The ansible-runner adapter: the only module that imports ansible_runner (inside functions).

Each run gets a private data dir (mode 0700) under ``work_dir``, named by the run ID. ``-e NAME=VALUE``
extra vars go to ansible-playbook as ``-e @<dir>/env/extravars`` (a 0600 file, removed after the run),
never on its command line, which any user sees in ``ps``. ``suppress_env_files`` keeps the vault
password in memory (it answers ansible-playbook's ``--ask-vault-pass`` prompt over pexpect), the variables
in ``hide_env`` are blanked in the playbook's environment, and after the run the environment dump
ansible-runner leaves in ``artifacts/<ident>/command`` is removed and every kept file is scrubbed
of known secrets. The whole dir is deleted unless the request keeps artifacts.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from govops.automation.ports import (
    AutomationError,
    HostResult,
    InventoryNames,
    PlaybookInputError,
    PlayRequest,
    RunnerOutcome,
    RunStatus,
    TaskCallback,
    TaskFailure,
    TaskStatus,
    short,
)
from govops.credentials import redact
from govops.i18n import Msg

# ansible-playbook's exit codes for "your input is wrong": 4 parser error, 5 bad or incomplete options
_INPUT_RCS = frozenset({4, 5})
_VAULT_PROMPT = r"^Vault password:\s*?$"
_MARK = "GOVOPS_PLAY_RUN"  # in the environment of every process a run starts (see _Deadline)
# Settings for every run: an inventory Ansible cannot parse is an error (not a warning and an empty
# play), no colour codes in the saved output, no interpreter-discovery chatter.
_ENV = {
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_NOCOLOR": "True",
    "ANSIBLE_FORCE_COLOR": "False",
    "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
    "ANSIBLE_DEPRECATION_WARNINGS": "False",
}
_STATS_FIELDS = {
    "ok": "ok",
    "changed": "changed",
    "failures": "failed",
    "dark": "unreachable",
    "skipped": "skipped",
    "rescued": "rescued",
    "ignored": "ignored",
}
_GRAPH_ENTRY = re.compile(r"^(?P<group>@)?(?P<name>[^\s]+?):?$")


class AnsibleRunner:
    """``PlaybookRunner`` on ansible-runner and ansible-core."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir

    # -- inventory -----------------------------------------------------------------------------------
    def inventory_names(self, inventory: Path) -> InventoryNames:
        exe = shutil.which("ansible-inventory")
        if exe is None:
            raise AutomationError(
                Msg("err.play.missing_tool", tool="ansible-inventory"), hint="pip install ansible-core"
            )
        # --graph lists names only, so vault-encrypted variables need no password here.
        proc = subprocess.run(
            [exe, "-i", str(inventory), "--graph"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **_ENV},
            check=False,
        )
        if proc.returncode != 0:
            raise PlaybookInputError(
                Msg(
                    "err.play.ansible_said",
                    path=inventory,
                    reason=_ansible_error(proc.stderr + proc.stdout) or Msg("err.play.not_inventory"),
                )
            )
        return parse_graph(proc.stdout)

    # -- run -------------------------------------------------------------------------------------------
    def run(self, request: PlayRequest, on_task: TaskCallback) -> RunnerOutcome:
        try:
            import ansible_runner
            from ansible_runner.exceptions import AnsibleRunnerException
        except ImportError:
            raise AutomationError(
                Msg("err.play.missing_tool", tool="ansible-runner"), hint="pip install ansible-runner"
            ) from None
        if shutil.which("ansible-playbook") is None:
            raise AutomationError(
                Msg("err.play.missing_tool", tool="ansible-playbook"), hint="pip install ansible-core"
            )
        private = self.work_dir / request.run_id
        private.mkdir(parents=True, exist_ok=False, mode=0o700)
        extravars = _write_extravars(private, request.extra_vars)
        events = _Events(on_task)
        deadline = _Deadline(request.timeout, request.run_id)
        try:
            runner = ansible_runner.run(
                private_data_dir=str(private),
                ident=request.run_id,
                project_dir=str(request.playbook.parent),
                playbook=request.playbook.name,
                inventory=_inventory_arg(request.inventory),
                limit=request.limit,
                forks=request.forks,
                cmdline=_cmdline(request, extravars) or None,
                passwords={_VAULT_PROMPT: request.vault_password.reveal()} if request.vault_password else None,
                envvars={**_ENV, **dict.fromkeys(request.hide_env, ""), _MARK: request.run_id},
                suppress_env_files=True,
                cancel_callback=deadline.expired,
                # checked once a second; ansible-runner's own job timeout is only the backstop
                settings={"pexpect_timeout": 1},
                timeout=math.ceil(request.timeout) + 60,
                event_handler=events.handle if request.keep_artifacts else events.handle_and_drop,
                quiet=True,
                rotate_artifacts=0,
            )
            status: RunStatus = "timeout" if deadline.hit else _status(runner.status)
            rc = runner.rc
            stdout = _read(private / "artifacts" / request.run_id / "stdout")
        except (OSError, AnsibleRunnerException) as exc:
            raise AutomationError(Msg("err.play.runner_failed", reason=redact(str(exc)))) from None
        finally:
            _kill_marked(request.run_id)  # whatever the run started and left behind (any outcome)
            if extravars is not None:
                extravars.unlink(missing_ok=True)
            _scrub(private)
            if not request.keep_artifacts:
                shutil.rmtree(private, ignore_errors=True)
        hosts = events.results(finished=status != "timeout")
        error = None
        if rc in _INPUT_RCS or (not hosts and status != "successful"):
            error = _ansible_error(stdout) or f"ansible-playbook exited with code {rc}"
        if status == "timeout":
            error = f"not finished after {request.timeout:g} s (deadline)"
        return RunnerOutcome(status, rc, hosts, error, private if request.keep_artifacts else None)


class _Deadline:
    """``--timeout`` for the whole run. ansible-runner kills ansible-playbook's process group, but
    a module's command (``local`` connection) runs in a session of its own and would outlive it:
    every process of the run carries ``GOVOPS_PLAY_RUN=<run id>``, and those are killed first."""

    def __init__(self, seconds: float, token: str) -> None:
        self.at = time.monotonic() + seconds
        self.token = token
        self.hit = False

    def expired(self) -> bool:
        if time.monotonic() < self.at:
            return False
        self.hit = True
        _kill_marked(self.token)
        return True


def _kill_marked(token: str) -> int:
    """SIGKILL every process (but this one) whose environment holds ``GOVOPS_PLAY_RUN=token``:
    only this run's own processes, found by PID. Linux /proc; elsewhere nothing is found."""
    mark = f"{_MARK}={token}".encode()
    me = os.getpid()
    killed = 0
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone, or not ours to read
        if mark in env.split(b"\0"):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
    return killed


class _Events:
    """Per-host tallies built from the event stream, replaced by the play's own stats when it ends."""

    def __init__(self, on_task: TaskCallback) -> None:
        self.on_task = on_task
        self.hosts: dict[str, HostResult] = {}
        self.stats: dict[str, dict[str, int]] | None = None

    def host(self, name: str) -> HostResult:
        found = self.hosts.get(name)
        if found is None:
            found = self.hosts[name] = HostResult(name)
        return found

    def handle_and_drop(self, event: Mapping[str, Any]) -> bool:
        self.handle(event)
        return False  # nothing kept on disk: the run's dir is deleted anyway

    def handle(self, event: Mapping[str, Any]) -> bool:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self.stats = {k: dict(data.get(k) or {}) for k in _STATS_FIELDS}
            return True
        if not kind.startswith("runner_on_") or "host" not in data:
            return True
        host = self.host(str(data["host"]))
        task = str(data.get("task") or "")
        raw = data.get("res")
        res: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        status: TaskStatus | None = None
        detail = None
        if kind == "runner_on_ok":
            host.ok += 1
            status = "ok"
            if res.get("changed"):
                host.changed += 1
                status = "changed"
        elif kind == "runner_on_failed":
            detail = _message(res)
            if data.get("ignore_errors"):
                host.ignored += 1
                status = "ignored"
            else:
                host.failed += 1
                host.failures.append(TaskFailure(task, detail))
                status = "failed"
        elif kind == "runner_on_unreachable":
            detail = _message(res)
            host.unreachable += 1
            host.failures.append(TaskFailure(task, detail, unreachable=True))
            status = "unreachable"
        elif kind == "runner_on_skipped":
            host.skipped += 1
            status = "skipped"
        if status is not None:
            self.on_task(host.host, task, status, detail)
        return True

    def results(self, *, finished: bool) -> dict[str, HostResult]:
        if self.stats is None:
            for h in self.hosts.values():
                h.finished = finished
            return dict(sorted(self.hosts.items()))
        names = set(self.hosts).union(*(set(v) for v in self.stats.values()))
        for name in names:
            h = self.host(name)
            for key, attr in _STATS_FIELDS.items():
                setattr(h, attr, int(self.stats[key].get(name, 0)))
            if not h.failed:  # failures a rescue block handled no longer count
                h.failures = [f for f in h.failures if f.unreachable]
            if not h.unreachable:
                h.failures = [f for f in h.failures if not f.unreachable]
        return dict(sorted(self.hosts.items()))


def _message(res: Mapping[str, Any]) -> str:
    for key in ("msg", "stderr", "reason", "stdout"):
        value = res.get(key)
        if value:
            return redact(short(value))
    return "failed"


def _status(value: str | None) -> RunStatus:
    if value in ("successful", "failed", "timeout", "canceled"):
        return value  # type: ignore[return-value]
    return "error"


def _inventory_arg(inventory: Path | Mapping[str, Any]) -> str | dict[str, Any]:
    if isinstance(inventory, Path):
        return str(inventory)
    # ansible-runner writes a mapping to inventory/hosts.json in the private dir (names and
    # addresses only: credentials never go into an inventory).
    return json.loads(json.dumps(inventory, default=str))  # type: ignore[no-any-return]


def _write_extravars(private: Path, extra_vars: Mapping[str, Any]) -> Path | None:
    """The ``-e`` pairs as a 0600 JSON file in the run's private dir (JSON is YAML to Ansible)."""
    if not extra_vars:
        return None
    folder = private / "env"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / "extravars"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(dict(extra_vars), f, default=str)
    return path


def _cmdline(request: PlayRequest, extravars: Path | None = None) -> str:
    args: list[str] = []
    if extravars is not None:
        args += ["-e", f"@{extravars}"]
    for f in request.extra_var_files:
        args += ["-e", f"@{f}"]
    if request.check:
        args.append("--check")
    if request.diff:
        args.append("--diff")
    if request.vault_password is not None:
        args.append("--ask-vault-pass")
    elif request.vault_password_file is not None:
        args += ["--vault-password-file", str(request.vault_password_file)]
    return shlex.join(args)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _scrub(private: Path) -> None:
    """Drop ansible-runner's dump of the environment and scrub known secrets from what is left."""
    for command in private.glob("artifacts/*/command"):
        try:
            data = json.loads(command.read_text(encoding="utf-8"))
            data.pop("env", None)
            command.write_text(json.dumps(data), encoding="utf-8")
        except (OSError, ValueError):
            command.unlink(missing_ok=True)
    for path in private.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = redact(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")


_ERROR_START = re.compile(r"^(?:ERROR!|\[ERROR\]:)\s*(.*)$")
_ORIGIN = re.compile(r"^(?:Origin:\s*(\S+)|The error appears to be in '([^']+)')")
_CAUSE = "<<< caused by >>>"


def _origin(lines: list[str]) -> str | None:
    for line in lines[:40]:
        o = _ORIGIN.match(line.strip())
        if o:
            return o.group(1) or o.group(2)
    return None


def _ansible_error(output: str) -> str | None:
    """Ansible's own error as one line: its message, the first cause it gives (a generic "no
    inventory was parsed" hides the real one), and where (``Origin: file:line:col``)."""
    lines = output.splitlines()
    cause = where = None
    for i, line in enumerate(lines):
        if line.strip() == _CAUSE:
            rest = [x.strip() for x in lines[i + 1 : i + 10] if x.strip()]
            cause = rest[0] if rest else None
            where = _origin(lines[i + 1 :])
            break
    for i, line in enumerate(lines):
        m = _ERROR_START.match(line.strip())
        if not m:
            continue
        message = m.group(1).strip()
        here = _origin(lines[i + 1 :])
        if cause and cause not in message and here is None:
            message, here = f"{message}: {cause}", where
        return redact(short(f"{message} ({here})" if here else message))
    if cause:
        return redact(short(f"{cause} ({where})" if where else cause))
    return None


def parse_graph(text: str) -> InventoryNames:
    """``ansible-inventory --graph`` output -> hosts and groups (child groups' hosts included)."""
    hosts: set[str] = set()
    groups: dict[str, set[str]] = {}
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        marker = raw.find("|--")
        entry = raw[marker + 3 :] if marker >= 0 else raw
        m = _GRAPH_ENTRY.match(entry.strip())
        if not m:
            continue
        depth = marker // 3 + 1 if marker >= 0 else 0
        while stack and stack[-1][0] >= depth:
            stack.pop()
        name = m.group("name")
        if m.group("group"):
            groups.setdefault(name, set())
            stack.append((depth, name))
            continue
        hosts.add(name)
        for _, group in stack:
            groups[group].add(name)
    return InventoryNames(frozenset(hosts), {g: frozenset(h) for g, h in groups.items()})
