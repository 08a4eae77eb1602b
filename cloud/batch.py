"""``govops cloud plan|apply``: a department's spec against what its project really holds.

No state file: the servers a spec made are found by their metadata (``govops-spec`` = the spec's
name, ``govops-spec-hash`` = the VM's spec hash, ``run_id`` = the apply that created it). A plan says
per VM: create, keep, change (in place: tags; or replace: anything the hash covers) or orphan (a
server of this spec the spec no longer names, or a duplicate).

``apply`` checks the whole batch against the project's free quota before creating anything, then
creates with bounded concurrency (honouring 413/429 Retry-After for every worker), waits for each
server with a deadline, and journals every create in the results store. A create whose answer got
lost is looked up by run ID, name and spec hash before it is retried, so timeouts never leave
duplicates. If anything fails, everything this run created is deleted again (the journal plus a
lookup by run ID), unless ``keep_partial``. Old servers (replaced, pruned) are deleted only once
every create has succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from govops.cloud.ports import (
    ERROR_STATES,
    META_DEPARTMENT,
    META_OWNER,
    META_RUN,
    META_SYSTEM,
    CloudApiError,
    CloudError,
    CloudNotFound,
    CloudPort,
    CloudUnreachable,
    Flavor,
    Project,
    QuotaExceeded,
    RateLimited,
    Server,
    ServerFault,
    ServerRequest,
    WaitTimeout,
)
from govops.cloud.quota import department_project, describe_shortfalls, shortfalls
from govops.cloud.spec import META_HASH, META_SPEC, BatchSpec, VmSpec
from govops.departments import Department
from govops.errors import Interrupted, Problem, ValidationFailed
from govops.i18n import Msg
from govops.observer import NullObserver, Observer, StageObserver
from govops.store import Store

Action = Literal["create", "keep", "change", "orphan"]
RUN_KIND = "cloud.apply"
# govops' own metadata keys: everything else on a server is a tag from the spec
_OWN_KEYS = frozenset({META_DEPARTMENT, META_OWNER, META_RUN, META_SPEC, META_HASH})
# answers after which a create may or may not have happened: look before creating again
_MAYBE_APPLIED = frozenset({500, 502, 503, 504})


# -- plan --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanItem:
    action: Action
    name: str
    vm: VmSpec | None = None
    server: Server | None = None
    replace: bool = False  # a change the spec hash covers: a new server replaces this one
    changes: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)  # wanted metadata (create, change)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "replace": self.replace,
            "server_id": self.server.id if self.server else None,
            "status": self.server.status if self.server else None,
            "flavor": self.vm.flavor if self.vm else (self.server.flavor if self.server else None),
            "spec_hash": self.vm.spec_hash if self.vm else None,
            "changes": list(self.changes),
        }


@dataclass(frozen=True)
class Plan:
    spec: BatchSpec
    department: Department
    project: Project
    items: tuple[PlanItem, ...]
    flavors: Mapping[str, Flavor]  # by VM name
    requests: Mapping[str, ServerRequest]  # by VM name, for every VM the spec names

    @property
    def drift(self) -> bool:
        return any(i.action != "keep" for i in self.items)

    def of(self, action: Action) -> list[PlanItem]:
        return [i for i in self.items if i.action == action]

    @property
    def to_build(self) -> list[PlanItem]:
        """VMs that need a new server: creates and replacements."""
        return [i for i in self.items if i.action == "create" or (i.action == "change" and i.replace)]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("create", "keep", "change", "orphan"), 0)
        for i in self.items:
            out[i.action] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.name,
            "file": self.spec.file,
            "department": self.department.code,
            "project": self.project.name,
            "drift": self.drift,
            "counts": self.counts(),
            "items": [i.to_dict() for i in self.items],
        }


class _Catalog:
    """Name -> ID lookups against the cloud, each done once, each miss located in the spec."""

    def __init__(self, cloud: CloudPort, project: Project) -> None:
        self.cloud = cloud
        self.project = project
        self.cache: dict[tuple[str, str], Any] = {}
        self.problems: list[Problem] = []

    def _get(self, kind: str, ref: str, vm: VmSpec, key: str) -> Any:
        if (kind, ref) not in self.cache:
            finders: dict[str, Callable[[str], Any]] = {
                "flavor": self.cloud.find_flavor,
                "image": self.cloud.find_image,
                "network": self.cloud.find_network,
                "server group": lambda r: self.cloud.find_server_group(r, self.project.id),
            }
            self.cache[(kind, ref)] = finders[kind](ref)
            if self.cache[(kind, ref)] is None:
                self.problems.append(
                    Problem(
                        Msg("err.batch.unknown_ref", kind=Msg("noun." + kind.replace(" ", "_")), ref=ref),
                        vm.where.get(key),
                    )
                )
        return self.cache[(kind, ref)]

    def request(self, vm: VmSpec, metadata: Mapping[str, str]) -> tuple[Flavor | None, ServerRequest | None]:
        flavor = self._get("flavor", vm.flavor, vm, "flavor")
        image = self._get("image", vm.image, vm, "image") if vm.image else None
        networks = [self._get("network", n, vm, "networks") for n in vm.networks]
        group = self._get("server group", vm.server_group, vm, "server_group") if vm.server_group else None
        if flavor is None or image is None or any(n is None for n in networks) or (vm.server_group and not group):
            return flavor, None
        request = ServerRequest(
            name=vm.name,
            flavor_id=flavor.id,
            image_id=image.id,
            network_ids=tuple(n.id for n in networks),
            metadata=dict(metadata),
            user_data=vm.user_data,
            key_name=vm.key_name,
            availability_zone=vm.az,
            server_group_id=group,
            boot_volume_gb=vm.boot_from_volume,
            data_volume_gb=vm.volume_size,
        )
        return flavor, request


def wanted_metadata(spec: BatchSpec, vm: VmSpec, department: Department, run_id: str) -> dict[str, str]:
    owner = spec.owner or (department.owner.email or department.owner.name if department.owner else "")
    return {
        **vm.tags,
        META_DEPARTMENT: department.code,
        META_OWNER: owner or department.code,
        META_SYSTEM: vm.tags.get(META_SYSTEM, spec.name),
        META_RUN: run_id,
        META_SPEC: spec.name,
        META_HASH: vm.spec_hash,
    }


def _tag_changes(server: Server, wanted: Mapping[str, str]) -> list[str]:
    have = {k: v for k, v in server.metadata.items() if k not in _OWN_KEYS}
    want = {k: v for k, v in wanted.items() if k not in _OWN_KEYS}
    out = []
    for key in sorted(set(have) | set(want)):
        if have.get(key) != want.get(key):
            out.append(f"tag {key}: {have.get(key, '-')} -> {want.get(key, '-')}")
    if server.metadata.get(META_OWNER) != wanted[META_OWNER]:
        out.append(f"owner: {server.metadata.get(META_OWNER, '-')} -> {wanted[META_OWNER]}")
    return out


def _replace_changes(server: Server, vm: VmSpec, flavor: Flavor | None, request: ServerRequest | None) -> list[str]:
    out = []
    if server.status in ERROR_STATES:
        out.append(f"server is in {server.status}" + (f" ({server.fault})" if server.fault else ""))
    if server.metadata.get(META_HASH) == vm.spec_hash:
        return out
    if flavor is not None and server.flavor not in (flavor.name, flavor.id):
        out.append(f"flavor: {server.flavor} -> {flavor.name}")
    if (
        request is not None
        and server.image_id
        and request.boot_volume_gb is None
        and server.image_id != request.image_id
    ):
        out.append(f"image: {server.image_id} -> {request.image_id}")
    out.append(f"spec hash: {server.metadata.get(META_HASH, '-')} -> {vm.spec_hash}")
    return out


def _pick(candidates: list[Server], vm: VmSpec) -> Server:
    """The server that stands for ``vm`` when several carry its name: same hash, healthy, oldest."""

    def rank(s: Server) -> tuple[int, int, str]:
        return (s.metadata.get(META_HASH) != vm.spec_hash, s.status in ERROR_STATES, s.created_at or "")

    return min(candidates, key=rank)


def make_plan(cloud: CloudPort, spec: BatchSpec, department: Department) -> Plan:
    """Compare the spec with the project's servers; unknown flavors/images/networks are located errors."""
    project = department_project(cloud, department)
    catalog = _Catalog(cloud, project)
    mine = [s for s in cloud.servers(project.id) if s.metadata.get(META_SPEC) == spec.name]
    by_name: dict[str, list[Server]] = {}
    for s in mine:
        by_name.setdefault(s.name, []).append(s)
    items: list[PlanItem] = []
    flavors: dict[str, Flavor] = {}
    requests: dict[str, ServerRequest] = {}
    for vm in spec.vms:
        candidates = by_name.pop(vm.name, [])
        current = _pick(candidates, vm) if candidates else None
        run_id = current.run_id if current is not None and current.run_id else ""
        metadata = wanted_metadata(spec, vm, department, run_id)
        flavor, request = catalog.request(vm, metadata)
        if flavor is not None:
            flavors[vm.name] = flavor
        if request is not None:
            requests[vm.name] = request
        if current is None:
            items.append(PlanItem("create", vm.name, vm, metadata=metadata))
        else:
            replace = _replace_changes(current, vm, flavor, request)
            tags = _tag_changes(current, metadata)
            if replace:
                items.append(PlanItem("change", vm.name, vm, current, True, tuple(replace + tags), metadata))
            elif tags:
                items.append(PlanItem("change", vm.name, vm, current, False, tuple(tags), metadata))
            else:
                items.append(PlanItem("keep", vm.name, vm, current, metadata=metadata))
        for extra in candidates:
            if extra is not current:
                items.append(PlanItem("orphan", vm.name, None, extra, changes=("duplicate of this spec's VM",)))
    for name, servers in sorted(by_name.items()):
        for s in servers:
            items.append(PlanItem("orphan", name, None, s, changes=("no longer in the spec",)))
    if catalog.problems:
        raise ValidationFailed(catalog.problems)
    return Plan(spec, department, project, tuple(items), flavors, requests)


# -- quota pre-check ------------------------------------------------------------------------------------


def needs(plan: Plan) -> dict[str, int]:
    """What the new servers of a plan take from the quota (old ones are freed only afterwards)."""
    out = dict.fromkeys(("instances", "cores", "ram_mb", "volumes", "gigabytes", "ports"), 0)
    for item in plan.to_build:
        assert item.vm is not None
        flavor = plan.flavors[item.name]
        out["instances"] += 1
        out["cores"] += flavor.vcpus
        out["ram_mb"] += flavor.ram_mb
        out["volumes"] += item.vm.volume_count
        out["gigabytes"] += item.vm.volume_gb
        out["ports"] += max(1, len(item.vm.networks))  # no network: Nova's "auto" still takes a port
    return out


def precheck(cloud: CloudPort, plan: Plan, label: str) -> None:
    """Refuse the whole batch up front, naming each shortfall ("公安局 needs 32 cores, 12 free")."""
    missing = shortfalls(cloud.get_quotas(plan.project.id), needs(plan))
    if missing:
        raise QuotaExceeded(
            Msg("err.batch.quota", shortfalls=describe_shortfalls(label, missing)),
            shortfalls=missing,
            hint=Msg("err.batch.hint_quota", dept=plan.department.code),
        )


# -- apply ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApplyOptions:
    concurrency: int = 8
    timeout: float = 600.0  # seconds from a VM's create until it must be ACTIVE
    keep_partial: bool = False
    prune: bool = False
    poll_interval: float = 1.0
    attempts: int = 5  # per create, on 413/429 and lost answers
    backoff: float = 1.0  # first back-off when the API gives no Retry-After


@dataclass
class Outcome:
    name: str
    action: str  # create, replace, update, delete
    status: str  # created, updated, deleted, failed, skipped, rolled-back, kept-partial
    server_id: str | None = None
    detail: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "status": self.status,
            "server_id": self.server_id,
            "detail": self.detail,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
        }


@dataclass
class ApplyResult:
    run_id: str
    status: Literal["ok", "unchanged", "rolled-back", "partial"]
    plan: Plan
    outcomes: list[Outcome]
    error: str | None = None
    leaked: list[str] = field(default_factory=list)  # servers of this run rollback could not delete
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "leaked": self.leaked,
            "seconds": round(self.seconds, 2),
            "plan": self.plan.to_dict(),
            "outcomes": [o.to_dict() for o in self.outcomes],
        }


class _Gate:
    """Where every worker waits after a 413/429: one Retry-After pauses the whole batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self, stop: threading.Event) -> None:
        while not stop.is_set():
            with self._lock:
                delay = self._until - time.monotonic()
            if delay <= 0:
                return
            stop.wait(min(delay, 1.0))


class _Watcher:
    """Polls the project once per interval for every server being waited on (not one GET each)."""

    def __init__(self, cloud: CloudPort, project_id: str, interval: float) -> None:
        self.cloud = cloud
        self.project_id = project_id
        self.interval = interval
        self.latest: dict[str, Server] = {}
        self.waiting: dict[str, threading.Event] = {}
        self.missing: dict[str, int] = {}
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="govops-apply-watch", daemon=True)

    def __enter__(self) -> _Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def watch(self, server: Server) -> threading.Event:
        with self._lock:
            self.latest[server.id] = server
            event = self.waiting[server.id] = threading.Event()
        return event

    def release_all(self) -> None:
        with self._lock:
            for event in self.waiting.values():
                event.set()

    def _poll(self, ids: list[str]) -> dict[str, Server]:
        if len(ids) <= 2:  # a listing costs more than a GET or two
            found = {}
            for sid in ids:
                with contextlib.suppress(CloudNotFound):
                    found[sid] = self.cloud.get_server(sid)
            return found
        return {s.id: s for s in self.cloud.servers(self.project_id) if s.id in set(ids)}

    def _run(self) -> None:
        # Start quick (a small batch is often ACTIVE in a second), slow down to the interval.
        delay = min(0.2, self.interval)
        while not self._stop.wait(delay):
            delay = min(self.interval, delay * 1.5)
            with self._lock:
                ids = [sid for sid, ev in self.waiting.items() if not ev.is_set()]
            if not ids:
                continue
            try:
                found = self._poll(ids)
            except (CloudError, CloudApiError) as exc:  # a failed poll: the next one may work
                self.error = str(exc)
                continue
            with self._lock:
                for sid in ids:
                    server = found.get(sid)
                    if server is None:
                        # gone: deleted behind our back; a few misses in a row, not one slow listing
                        self.missing[sid] = self.missing.get(sid, 0) + 1
                        if self.missing[sid] >= 3:
                            self.waiting[sid].set()
                        continue
                    self.missing.pop(sid, None)
                    self.latest[sid] = server
                    if server.status == "ACTIVE" or server.status in ERROR_STATES:
                        self.waiting[sid].set()


def _after_failed_create(exc: CloudUnreachable | CloudApiError) -> Literal["look", "retry"] | None:
    """ "look": the create may have reached Nova (a lost answer, a 5xx), find it before retrying;
    "retry": it surely did not (connection refused); None: a real refusal, give up."""
    if isinstance(exc, CloudUnreachable):
        return "look" if exc.maybe_applied else "retry"
    return "look" if exc.status in _MAYBE_APPLIED else None


class _Cancelled(Exception):
    """Another VM failed: this one is not started (its slot is given back)."""


class _Apply:
    def __init__(
        self,
        cloud: CloudPort,
        plan: Plan,
        store: Store,
        observer: Observer,
        options: ApplyOptions,
        run_id: str,
    ) -> None:
        self.cloud = cloud
        self.plan = plan
        self.store = store
        self.observer = observer
        self.options = options
        self.run_id = run_id
        self.gate = _Gate()
        self.stop = threading.Event()
        self.journal_lock = threading.Lock()

    def stage(self, name: str, stage: str, fraction: float) -> None:
        if isinstance(self.observer, StageObserver):
            self.observer.stage(name, stage, fraction)

    def journal(self, action: str, resource_id: str | None, data: dict[str, Any]) -> None:
        with self.journal_lock:
            self.store.journal_add(self.run_id, action, "server", resource_id, data)

    # -- one create ------------------------------------------------------------------------------------
    def find_own(self, item: PlanItem) -> Server | None:
        """The server an earlier attempt of this run made for ``item``, if its answer was lost."""
        assert item.vm is not None
        for s in self.cloud.servers(self.plan.project.id, name=item.name):
            if s.run_id == self.run_id and s.metadata.get(META_HASH) == item.vm.spec_hash:
                return s
        return None

    def request_for(self, item: PlanItem) -> ServerRequest:
        base = self.plan.requests[item.name]
        return dataclasses.replace(base, metadata={**item.metadata, META_RUN: self.run_id})

    def create(self, item: PlanItem) -> Server:
        request = self.request_for(item)
        self.journal("create", None, {"name": item.name, "spec_hash": request.metadata[META_HASH]})
        attempt = 0
        while True:
            self.gate.wait(self.stop)
            if self.stop.is_set():
                raise _Cancelled
            attempt += 1
            try:
                server = self.cloud.create_server(self.plan.project, request)
            except RateLimited as exc:
                if attempt >= self.options.attempts:
                    raise
                delay = exc.retry_after if exc.retry_after is not None else self.options.backoff * 2 ** (attempt - 1)
                self.observer.message(
                    Msg("progress.apply.limited", name=item.name, status=exc.status, delay=f"{delay:g}")
                    if exc.status
                    else Msg("progress.vm.limited", name=item.name, delay=f"{delay:g}")
                )
                self.gate.hold(delay)
                continue
            except (CloudUnreachable, CloudApiError) as exc:
                kind = _after_failed_create(exc)
                if kind is None:
                    raise
                found = self.find_own(item) if kind == "look" else None
                if found is None and kind == "look":
                    # Nova may still be writing the server: look once more before creating again.
                    self.stop.wait(self.options.backoff)
                    found = self.find_own(item)
                if found is not None:
                    self.journal("adopted", found.id, {"name": item.name, "after": str(exc)})
                    self.observer.message(Msg("progress.apply.adopted", name=item.name, server=found.id))
                    return found
                if attempt >= self.options.attempts:
                    raise
                self.observer.message(Msg("progress.apply.retrying", name=item.name, error=exc))
                self.stop.wait(self.options.backoff * 2 ** (attempt - 1))
                continue
            self.journal("created", server.id, {"name": item.name})
            return server

    def build(self, item: PlanItem, watcher: _Watcher) -> Outcome:
        action = "replace" if item.action == "change" else "create"
        if self.stop.is_set():
            return Outcome(item.name, action, "skipped", detail="not started: another VM failed")
        started = time.monotonic()
        self.stage(item.name, "creating", 0.1)
        try:
            server = self.create(item)
            self.stage(item.name, "building", 0.4)
            event = watcher.watch(server)
            deadline = started + self.options.timeout
            while not event.wait(min(1.0, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    last = watcher.latest.get(server.id)
                    raise WaitTimeout(
                        f"{item.name}: not ACTIVE after {self.options.timeout:g} s (last status "
                        f"{last.status if last else '?'})",
                        server=last,
                    )
            if self.stop.is_set() and not self.options.keep_partial:
                return Outcome(item.name, action, "cancelled", server.id, "another VM failed")
            final = watcher.latest.get(server.id)
            if final is None or server.id in watcher.missing:
                raise CloudError(f"{item.name}: server {server.id} disappeared while building")
            if final.status in ERROR_STATES:
                raise ServerFault(
                    f"{item.name}: went to {final.status}: {final.fault or 'no fault given'}", server=final
                )
        except _Cancelled:
            return Outcome(item.name, action, "skipped", detail="not started: another VM failed")
        except (CloudError, CloudApiError) as exc:
            if not self.options.keep_partial:
                self.stop.set()
                watcher.release_all()
            self.stage(item.name, "failed", 1.0)
            self.observer.advanced(item.name, "failed", str(exc))
            return Outcome(item.name, action, "failed", None, str(exc), time.monotonic() - started)
        self.stage(item.name, "active", 1.0)
        self.observer.advanced(item.name, "created")
        return Outcome(item.name, action, "created", server.id, None, time.monotonic() - started)

    # -- phases ------------------------------------------------------------------------------------------
    def build_all(self) -> list[Outcome]:
        todo = self.plan.to_build
        if not todo:
            return []
        for item in todo:
            self.stage(item.name, "queued", 0.0)
        with _Watcher(self.cloud, self.plan.project.id, self.options.poll_interval) as watcher:
            pool = ThreadPoolExecutor(max_workers=self.options.concurrency, thread_name_prefix="govops-apply")
            try:
                return list(pool.map(lambda i: self.build(i, watcher), todo))
            except BaseException:
                # Ctrl-C: start nothing more and stop waiting, so the rollback can begin at once
                self.stop.set()
                watcher.release_all()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def update_tags(self) -> list[Outcome]:
        out = []
        for item in self.plan.of("change"):
            if item.replace or item.server is None:
                continue
            self.journal("update", item.server.id, {"name": item.name, "old_metadata": dict(item.server.metadata)})
            try:
                self.cloud.replace_server_metadata(item.server.id, item.metadata)
            except (CloudError, CloudApiError) as exc:
                self.observer.advanced(item.name, "failed", str(exc))
                out.append(Outcome(item.name, "update", "failed", item.server.id, str(exc)))
                if not self.options.keep_partial:
                    break
                continue
            self.observer.advanced(item.name, "changed")
            out.append(Outcome(item.name, "update", "updated", item.server.id, "; ".join(item.changes)))
        return out

    def delete_old(self) -> list[Outcome]:
        """Replaced servers, and orphans when pruning: only after every new server is up."""
        doomed = [i for i in self.plan.of("change") if i.replace and i.server is not None]
        if self.options.prune:
            doomed += self.plan.of("orphan")
        out = []
        for item in doomed:
            assert item.server is not None
            action = "delete"
            try:
                self.cloud.delete_server(item.server.id)
            except CloudNotFound:
                pass
            except (CloudError, CloudApiError) as exc:
                self.observer.advanced(item.name, "failed", str(exc))
                out.append(Outcome(item.name, action, "failed", item.server.id, str(exc)))
                continue
            self.journal("deleted", item.server.id, {"name": item.name, "was": item.action})
            self.observer.advanced(item.name, "deleted")
            out.append(Outcome(item.name, action, "deleted", item.server.id, "; ".join(item.changes)))
        gone = wait_gone(
            self.cloud,
            self.plan.project.id,
            {o.server_id for o in out if o.status == "deleted"},
            self.options.timeout,
            self.options.poll_interval,
        )
        for o in out:
            if o.server_id in gone:
                o.status, o.detail = "failed", "still there after the delete deadline"
        return out


def wait_gone(cloud: CloudPort, project_id: str, ids: set[str | None], timeout: float, interval: float) -> set[str]:
    """Wait until none of ``ids`` is listed any more; returns those still there at the deadline."""
    left = {i for i in ids if i}
    deadline = time.monotonic() + timeout
    while left:
        left &= {s.id for s in cloud.servers(project_id)}
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return left


def rollback(
    cloud: CloudPort,
    store: Store,
    run_id: str,
    project_id: str,
    *,
    timeout: float = 300.0,
    interval: float = 1.0,
    observer: Observer | None = None,
) -> list[str]:
    """Undo what run ``run_id`` did: delete every server it created (journal + run-ID lookup) and
    restore the metadata it changed. Returns the IDs of servers still there (leaks)."""
    obs = observer or NullObserver()
    entries = store.journal(run_id)
    created = {e.resource_id for e in entries if e.action in ("created", "adopted") and e.resource_id}
    created |= {s.id for s in cloud.servers(project_id) if s.run_id == run_id}
    for sid in sorted(created):
        try:
            cloud.delete_server(sid)
        except CloudNotFound:
            continue
        except (CloudError, CloudApiError) as exc:
            obs.message(Msg("progress.rollback.delete", server=sid, error=exc))
            continue
        store.journal_add(run_id, "rolled-back", "server", sid, {})
    for e in reversed(entries):
        if e.action == "update" and e.resource_id and e.resource_id not in created:
            try:
                cloud.replace_server_metadata(e.resource_id, e.data.get("old_metadata", {}))
            except (CloudError, CloudApiError) as exc:
                obs.message(Msg("progress.rollback.metadata", resource=e.resource_id, error=exc))
    return sorted(wait_gone(cloud, project_id, set(created), timeout, interval))


def apply(
    cloud: CloudPort,
    plan: Plan,
    store: Store,
    *,
    label: str,
    options: ApplyOptions | None = None,
    observer: Observer | None = None,
) -> ApplyResult:
    """Make the project match the plan (see the module's docstring). Raises ``QuotaExceeded``
    before any change when the batch does not fit; every other failure is in the result."""
    opts = options or ApplyOptions()
    obs = observer or NullObserver()
    started = time.monotonic()
    precheck(cloud, plan, label)
    run = store.start_run(
        RUN_KIND,
        {
            "spec": plan.spec.name,
            "file": plan.spec.file,
            "department": plan.department.code,
            "prune": opts.prune,
            "keep_partial": opts.keep_partial,
            "counts": plan.counts(),
        },
    )
    work = len(plan.to_build) + sum(1 for i in plan.of("change") if not i.replace)
    work += sum(1 for i in plan.of("change") if i.replace) + (len(plan.of("orphan")) if opts.prune else 0)
    obs.started(work, Msg("progress.apply", spec=plan.spec.name, dept=plan.department.code))
    batch = _Apply(cloud, plan, store, obs, opts, run.id)
    outcomes: list[Outcome] = []
    try:
        outcomes += batch.build_all()
        failed = [o for o in outcomes if o.status == "failed"]
        if not failed or opts.keep_partial:
            outcomes += batch.update_tags()
            failed = [o for o in outcomes if o.status == "failed"]
        if not failed:
            outcomes += batch.delete_old()
    except BaseException as exc:
        # an unexpected error or Ctrl-C: still take back what this run made
        if not opts.keep_partial:
            rollback(cloud, store, run.id, plan.project.id, timeout=opts.timeout, interval=opts.poll_interval)
        store.finish_run(run.id, "interrupted", {})
        if isinstance(exc, KeyboardInterrupt):  # name the run: its journal tells what was made and undone
            kept = "what it made is kept" if opts.keep_partial else "what it made was rolled back"
            raise Interrupted(run.id, f"govops cloud apply {plan.spec.file} ({kept})", total=work) from None
        raise
    finally:
        obs.finished()
    failed = [o for o in outcomes if o.status == "failed"]
    status: Literal["ok", "unchanged", "rolled-back", "partial"]
    leaked: list[str] = []
    error = None
    if failed:
        error = failed[0].detail
        if opts.keep_partial or any(o.action == "delete" for o in failed):
            status = "partial"
        else:
            obs.message(Msg("progress.rollback", run=run.id))
            leaked = rollback(
                cloud, store, run.id, plan.project.id, timeout=opts.timeout, interval=opts.poll_interval, observer=obs
            )
            for o in outcomes:
                if o.status in ("created", "updated", "cancelled"):
                    o.status = "rolled-back"
            status = "rolled-back"
    else:
        status = "ok" if outcomes else "unchanged"
    summary = {"status": status, "error": error, "leaked": leaked, "outcomes": _count(o.status for o in outcomes)}
    store.finish_run(run.id, status, summary)
    return ApplyResult(run.id, status, plan, outcomes, error, leaked, time.monotonic() - started)


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
