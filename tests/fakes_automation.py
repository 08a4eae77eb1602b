"""A fake ``PlaybookRunner`` for fast unit tests: no Ansible, scripted per-host task results.

It reads the inventory it is given (a YAML file or inventory data) like Ansible would for names,
applies ``--limit`` plainly (comma-separated host names), and plays ``script`` on every selected
host: a list of ``(task, status, message)``; ``fail`` maps host -> (task, message) to break one.
Every request it got is kept in ``requests`` so tests can check what the CLI asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from govops.automation.play import names_of
from govops.automation.ports import (
    HostResult,
    InventoryNames,
    PlayRequest,
    RunnerOutcome,
    TaskCallback,
    TaskFailure,
    TaskStatus,
)


class FakeRunner:
    def __init__(self, script: list[tuple[str, TaskStatus]] | None = None) -> None:
        self.script: list[tuple[str, TaskStatus]] = script or [("gather", "ok"), ("configure", "changed")]
        self.fail: dict[str, tuple[str, str]] = {}
        self.unreachable: dict[str, str] = {}
        self.interrupt_at: str | None = None  # a host: Ctrl-C arrives when its turn comes
        self.requests: list[PlayRequest] = []

    def _inventory(self, inventory: Path | Mapping[str, Any]) -> Mapping[str, Any]:
        if isinstance(inventory, Path):
            data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        return inventory

    def inventory_names(self, inventory: Path) -> InventoryNames:
        return names_of(self._inventory(inventory))

    def run(self, request: PlayRequest, on_task: TaskCallback) -> RunnerOutcome:
        self.requests.append(request)
        names = names_of(self._inventory(request.inventory))
        hosts = sorted(names.hosts)
        if request.limit:
            wanted = set(request.limit.split(","))
            hosts = [h for h in hosts if h in wanted]
        results: dict[str, HostResult] = {}
        for host in hosts:
            if host == self.interrupt_at:
                raise KeyboardInterrupt
            r = results[host] = HostResult(host)
            if host in self.unreachable:
                r.unreachable = 1
                r.failures.append(TaskFailure("gather", self.unreachable[host], unreachable=True))
                on_task(host, "gather", "unreachable", self.unreachable[host])
                continue
            for task, status in self.script:
                if self.fail.get(host, ("",))[0] == task:
                    r.failed += 1
                    r.failures.append(TaskFailure(task, self.fail[host][1]))
                    on_task(host, task, "failed", self.fail[host][1])
                    break
                r.ok += status in ("ok", "changed")
                r.changed += status == "changed"
                r.skipped += status == "skipped"
                on_task(host, task, status, None)
        failed = any(r.failed or r.unreachable for r in results.values())
        return RunnerOutcome("failed" if failed else "successful", 2 if failed else 0, results)
