"""Single VMs per department: create (quota pre-check, duplicate-safe, wait with a deadline), list,
show, start, stop, reboot, resize, delete.

Every server govops creates carries ``department``, ``owner``, ``system`` and ``run_id`` metadata.
A server is touched only through its department: a name or ID outside the department's project is
"not found", never acted on.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from govops.cloud.ports import (
    ERROR_STATES,
    META_DEPARTMENT,
    META_OWNER,
    META_RUN,
    META_SYSTEM,
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
    Volume,
    WaitTimeout,
)
from govops.cloud.quota import department_project, describe_shortfalls, server_needs, shortfalls
from govops.departments import Department
from govops.errors import GovopsError, InputError, Interrupted, NotFoundError
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer
from govops.store import Run, Store

CREATE_ATTEMPTS = 4
DEFAULT_TIMEOUT = 600.0
# Poll intervals grow from the first to the last (seconds): fast answers for fast clouds, few
# requests for slow builds; openstacksdk's wait_for_status polls every 2 s.
POLL_FIRST = 1.0
POLL_MAX = 5.0
POLL_GROWTH = 1.5
RATE_LIMIT_DEFAULT_WAIT = 5.0
DELETED_GRACE = 10.0
METADATA_VALUE_MAX = 255  # Nova's limit for a metadata value


@dataclass
class Clock:
    """Time and sleep, replaceable in tests so waits take no real time."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class VmSpec:
    """What ``govops cloud vm create`` asks for, by names as the user typed them."""

    name: str
    flavor: str
    image: str
    networks: tuple[str, ...] = ()
    volume_gb: int | None = None  # an extra empty data volume
    boot_volume_gb: int | None = None  # boot from a new volume of this size
    user_data: str | None = None
    key_name: str | None = None
    az: str | None = None
    server_group: str | None = None
    system: str = "unassigned"
    owner: str | None = None  # default: the department's owner
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreateResult:
    server: Server
    created: bool  # False: an existing server of this run was found (a retried request)
    attempts: int
    waited: float | None  # seconds until ACTIVE, None without --wait


def _clean_name(value: str, what: str) -> str:
    value = value.strip()
    if not value or len(value) > METADATA_VALUE_MAX:
        raise InputError(Msg("err.vm.name_length", what=what, max=METADATA_VALUE_MAX))
    return value


def parse_tags(items: Iterable[str]) -> dict[str, str]:
    """``--tag k=v`` options as metadata; govops' own keys cannot be overridden this way."""
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(Msg("err.vm.tag_syntax", item=repr(item)))
        if key in (META_DEPARTMENT, META_RUN):
            raise InputError(Msg("err.vm.tag_reserved", key=key))
        if len(key) > METADATA_VALUE_MAX or len(value) > METADATA_VALUE_MAX:
            raise InputError(Msg("err.vm.tag_length", key=key, max=METADATA_VALUE_MAX))
        tags[key] = value
    return tags


def parse_filter_tags(items: Iterable[str]) -> dict[str, str]:
    """``--tag k=v`` filters of ``vm list``: any metadata key, govops' own included."""
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(Msg("err.vm.tag_syntax", item=repr(item)))
        tags[key.strip()] = value
    return tags


class VmService:
    def __init__(self, port: CloudPort, *, clock: Clock | None = None, observer: Observer | None = None) -> None:
        self.port = port
        self.clock = clock or Clock()
        self.obs = observer or NullObserver()

    # -- lookups -------------------------------------------------------------------------------------
    def project(self, dept: Department) -> Project:
        return department_project(self.port, dept)

    def flavor(self, ref: str) -> Flavor:
        flavor = self.port.find_flavor(ref)
        if flavor is None:
            names = [f.name for f in self.port.flavors()]
            close = difflib.get_close_matches(ref, names, n=3, cutoff=0.5)
            hint = (
                Msg("err.did_you_mean", names=", ".join(close))
                if close
                else Msg("err.vm.hint_flavors", names=", ".join(sorted(names)[:12]))
            )
            raise NotFoundError(Msg("err.vm.unknown_flavor", ref=ref), hint=hint)
        return flavor

    def _image_id(self, ref: str) -> str:
        image = self.port.find_image(ref)
        if image is None:
            raise NotFoundError(Msg("err.vm.unknown_image", ref=ref), hint=Msg("err.vm.hint_images"))
        if image.status != "active":
            raise InputError(Msg("err.vm.image_inactive", ref=ref, status=image.status))
        return image.id

    def _network_ids(self, refs: Iterable[str]) -> tuple[str, ...]:
        ids = []
        for ref in refs:
            net = self.port.find_network(ref)
            if net is None:
                raise NotFoundError(Msg("err.vm.unknown_network", ref=ref), hint=Msg("err.vm.hint_networks"))
            ids.append(net.id)
        return tuple(ids)

    def find(self, dept: Department, ref: str) -> Server:
        """The department's server named or with ID ``ref``; nothing outside its project."""
        project = self.project(dept)
        try:
            server = self.port.get_server(ref)
        except CloudNotFound:
            server = None
        if server is not None and server.project_id == project.id:
            return server
        matches = self.port.servers(project.id, name=ref)
        if len(matches) > 1:
            ids = ", ".join(s.id for s in matches)
            raise InputError(
                Msg("err.vm.ambiguous", count=len(matches), ref=ref, dept=dept.code, ids=ids),
                hint=Msg("err.vm.hint_id"),
            )
        if not matches:
            where = Msg("err.vm.other_project") if server is not None else ""
            raise NotFoundError(Msg("err.vm.not_found", ref=ref, dept=dept.code, where=where))
        return matches[0]

    def servers(
        self,
        project_ids: Iterable[str] | None = None,
        *,
        status: str | None = None,
        host: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> list[Server]:
        """Servers of these projects (None: every project), filtered; sorted by name."""
        if project_ids is None:
            found = self.port.servers(status=status, host=host)
        else:
            found = [s for pid in project_ids for s in self.port.servers(pid, status=status, host=host)]
        want = dict(tags or {})
        found = [s for s in found if all(s.metadata.get(k) == v for k, v in want.items())]
        return sorted(found, key=lambda s: (s.name, s.id))

    # -- create ----------------------------------------------------------------------------------------
    def build_request(self, dept: Department, spec: VmSpec, run_id: str) -> tuple[Project, Flavor, ServerRequest]:
        """Resolve every name to an ID (unknown ones are bad input) before anything is created."""
        if spec.volume_gb is not None and spec.boot_volume_gb is not None:
            raise InputError(Msg("err.vm.volume_options"))
        name = _clean_name(spec.name, "--name")
        project = self.project(dept)
        flavor = self.flavor(spec.flavor)
        image_id = self._image_id(spec.image)
        network_ids = self._network_ids(spec.networks)
        group_id = None
        if spec.server_group:
            group_id = self.port.find_server_group(spec.server_group, project.id)
            if group_id is None:
                raise NotFoundError(Msg("err.vm.unknown_server_group", group=spec.server_group, dept=dept.code))
        owner = spec.owner or (dept.owner.name if dept.owner else dept.code)
        metadata = {
            **spec.tags,
            META_DEPARTMENT: dept.code,
            META_OWNER: owner[:METADATA_VALUE_MAX],
            META_SYSTEM: spec.system[:METADATA_VALUE_MAX],
            META_RUN: run_id,
        }
        request = ServerRequest(
            name=name,
            flavor_id=flavor.id,
            image_id=image_id,
            network_ids=network_ids,
            metadata=metadata,
            user_data=spec.user_data,
            key_name=spec.key_name,
            availability_zone=spec.az,
            server_group_id=group_id,
            boot_volume_gb=spec.boot_volume_gb,
            data_volume_gb=spec.volume_gb,
        )
        return project, flavor, request

    def check_quota(self, dept: Department, project: Project, flavor: Flavor, request: ServerRequest) -> None:
        volume_gb = request.boot_volume_gb or request.data_volume_gb or 0
        need = server_needs(flavor, volume_gb=volume_gb, ports=max(1, len(request.network_ids)))
        short = shortfalls(self.port.get_quotas(project.id), need)
        if short:
            raise QuotaExceeded(
                Msg(
                    "err.vm.quota_for",
                    shortfalls=describe_shortfalls(dept.name_zh, short),
                    dept=dept.code,
                    vm=request.name,
                ),
                shortfalls=short,
                hint=Msg("err.vm.hint_quota", dept=dept.code),
            )

    def _existing(self, project: Project, name: str, run_id: str) -> Server | None:
        for server in self.port.servers(project.id, name=name):
            if server.run_id == run_id:
                return server
        return None

    def create(
        self,
        dept: Department,
        spec: VmSpec,
        run_id: str,
        *,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        delete_on_error: bool = True,
        on_created: Callable[[Server, bool], None] | None = None,
    ) -> CreateResult:
        """``on_created(server, created)`` runs as soon as the server exists, before the wait, so a
        caller can journal it even if the wait then fails or is interrupted."""
        project, flavor, request = self.build_request(dept, spec, run_id)
        start = self.clock.monotonic()
        existing = self._existing(project, request.name, run_id)
        same_name = [s for s in self.port.servers(project.id, name=request.name) if s.run_id != run_id]
        if existing is None and same_name:
            raise InputError(
                Msg("err.vm.exists", vm=request.name, dept=dept.code, id=same_name[0].id),
                hint=Msg("err.vm.hint_exists"),
            )
        created = existing is None
        attempts = 0
        server = existing
        if server is None:
            self.check_quota(dept, project, flavor, request)
            server, attempts = self._create_once(project, request, run_id)
            created = attempts > 0
        self.obs.advanced(request.name, "created" if created else "kept", server.id)
        if on_created is not None:
            on_created(server, created)
        if not wait:
            return CreateResult(server, created, attempts, None)
        try:
            server = self.wait_for(server.id, ("ACTIVE",), timeout=timeout - (self.clock.monotonic() - start))
        except ServerFault as exc:
            if delete_on_error and created:
                self.port.delete_server(server.id)
                exc.reword(Msg("err.vm.error_deleted", error=exc.msg), exc.hint_msg)
            raise
        return CreateResult(server, created, attempts, self.clock.monotonic() - start)

    def _create_once(self, project: Project, request: ServerRequest, run_id: str) -> tuple[Server, int]:
        """POST the server; after a lost answer or a 413/429, look it up by name + run ID before
        trying again, so a retry never makes a second server. Returns (server, attempts), attempts 0
        when the lookup found that an earlier attempt had in fact succeeded."""
        delay = POLL_FIRST
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return self.port.create_server(project, request), attempt
            except CloudUnreachable as exc:
                if attempt == CREATE_ATTEMPTS:
                    raise
                self.obs.message(Msg("progress.vm.checking", name=request.name, error=exc))
                wait = delay
            except RateLimited as exc:
                if attempt == CREATE_ATTEMPTS:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else RATE_LIMIT_DEFAULT_WAIT
                self.obs.message(Msg("progress.vm.limited", name=request.name, delay=f"{wait:.0f}"))
            self.clock.sleep(wait)
            delay = min(delay * 2, POLL_MAX * 4)
            found = self._existing(project, request.name, run_id)
            if found is not None:
                return found, attempt
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    # -- waits --------------------------------------------------------------------------------------------
    def wait_for(self, server_id: str, statuses: Iterable[str], *, timeout: float) -> Server:
        """Poll until the server settles (no task) in one of ``statuses``; ERROR raises with Nova's fault."""
        wanted = {s.upper() for s in statuses}
        deadline = self.clock.monotonic() + max(0.0, timeout)
        interval = POLL_FIRST
        while True:
            server = self.port.get_server(server_id)
            if server.status in wanted and not server.task_state:
                return server
            if server.status in ERROR_STATES and "ERROR" not in wanted:
                fault: Text = server.fault or Msg("err.vm.no_fault")
                raise ServerFault(Msg("err.vm.error_state", vm=server.name, id=server.id, fault=fault), server=server)
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    Msg(
                        "err.vm.wait_timeout",
                        vm=server.name,
                        id=server.id,
                        status=server.status + (f" ({server.task_state})" if server.task_state else ""),
                        wanted="/".join(sorted(wanted)),
                        seconds=f"{timeout:.0f}",
                    ),
                    server=server,
                    hint=Msg("err.vm.hint_timeout"),
                )
            self.clock.sleep(min(interval, remaining))
            interval = min(interval * POLL_GROWTH, POLL_MAX)

    def wait_deleted(self, server_id: str, *, timeout: float) -> None:
        """Poll until Nova answers 404. It shows DELETED for a moment first (some clouds keep
        showing deleted servers to admins), so DELETED for ``DELETED_GRACE`` seconds counts too."""
        deadline = self.clock.monotonic() + max(0.0, timeout)
        interval = POLL_FIRST
        deleted_since: float | None = None
        while True:
            try:
                server = self.port.get_server(server_id)
            except CloudNotFound:
                return
            now = self.clock.monotonic()
            if server.status == "DELETED":
                deleted_since = now if deleted_since is None else deleted_since
                if now - deleted_since >= DELETED_GRACE:
                    return
            remaining = deadline - now
            if remaining <= 0:
                raise WaitTimeout(
                    Msg(
                        "err.vm.delete_timeout",
                        vm=server.name,
                        id=server.id,
                        status=server.status,
                        seconds=f"{timeout:.0f}",
                    ),
                    server=server,
                )
            self.clock.sleep(min(interval, remaining))
            interval = min(interval * POLL_GROWTH, POLL_MAX)

    # -- actions --------------------------------------------------------------------------------------------
    def delete(self, server: Server, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> list[Volume]:
        """Delete and (with ``wait``) return the volumes Nova should have deleted with the server but
        did not (e.g. Cinder refused the detach): leaks to report, never silently left."""
        self.port.delete_server(server.id)
        if not wait:
            return []
        self.wait_deleted(server.id, timeout=timeout)
        if not server.owned_volumes:
            return []
        owned = set(server.owned_volumes)
        return [v for v in self.port.volumes(server.project_id) if v.id in owned and v.status != "deleting"]

    def start(self, server: Server, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Server:
        self.port.start_server(server.id)
        return self.wait_for(server.id, ("ACTIVE",), timeout=timeout) if wait else self.port.get_server(server.id)

    def stop(self, server: Server, *, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Server:
        self.port.stop_server(server.id)
        return self.wait_for(server.id, ("SHUTOFF",), timeout=timeout) if wait else self.port.get_server(server.id)

    def reboot(
        self, server: Server, *, hard: bool = False, wait: bool = True, timeout: float = DEFAULT_TIMEOUT
    ) -> Server:
        self.port.reboot_server(server.id, hard=hard)
        # Nova marks the reboot (task_state) before it answers, so "ACTIVE and settled" is the end.
        return self.wait_for(server.id, ("ACTIVE",), timeout=timeout) if wait else self.port.get_server(server.id)

    def resize(
        self,
        dept: Department,
        server: Server,
        flavor_ref: str,
        *,
        confirm: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Server:
        flavor = self.flavor(flavor_ref)
        if flavor.name == server.flavor:
            raise InputError(Msg("err.vm.same_flavor", vm=server.name, flavor=flavor.name))
        grow = {"cores": max(0, flavor.vcpus - server.vcpus), "ram_mb": max(0, flavor.ram_mb - server.ram_mb)}
        short = shortfalls(self.port.get_quotas(server.project_id), grow)
        if short:
            raise QuotaExceeded(
                Msg(
                    "err.vm.quota_resize",
                    shortfalls=describe_shortfalls(dept.name_zh, short),
                    dept=dept.code,
                    vm=server.name,
                )
            )
        self.port.resize_server(server.id, flavor.id)
        resized = self.wait_for(server.id, ("VERIFY_RESIZE",), timeout=timeout)
        if not confirm:
            return resized
        self.port.confirm_resize(server.id)
        return self.wait_for(server.id, ("ACTIVE", "SHUTOFF"), timeout=timeout)


class RunStore(Store, Protocol):
    """The store of a create that can be resumed by its run ID."""

    def reopen_run(self, run_id: str) -> Run: ...


def create_run(store: RunStore, run_id: str | None, params: dict[str, Any]) -> Run:
    """A new ``cloud.vm.create`` run, or the run named by --run-id (created under that ID if this
    store has not seen it)."""
    if run_id is not None:
        try:
            return store.reopen_run(run_id)
        except GovopsError:
            pass
    return store.start_run("cloud.vm.create", params, run_id=run_id)


def create_recorded(
    service: VmService,
    store: Store,
    run_id: str,
    dept: Department,
    spec: VmSpec,
    *,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    delete_on_error: bool = True,
    resume: str | None = None,
) -> CreateResult:
    """``service.create`` with the run kept in the store: the server journaled as soon as it
    exists (so a timed-out create can be resumed or cleaned up), the result and the run's end.
    Ctrl-C or SIGTERM marks the run interrupted and raises ``Interrupted`` with ``resume``, the
    command that finishes it (the same create with ``--run-id``)."""

    def journal(server: Server, created: bool) -> None:
        info = {"name": server.name, "department": dept.code}
        store.journal_add(run_id, "create" if created else "adopt", "server", server.id, info)

    try:
        result = service.create(
            dept, spec, run_id, wait=wait, timeout=timeout, delete_on_error=delete_on_error, on_created=journal
        )
    except GovopsError as exc:
        store.record_result(run_id, spec.name, "failed", exc.message, {"department": dept.code})
        store.finish_run(run_id, "failed", {"error": exc.message})
        raise
    except KeyboardInterrupt:
        # the server may exist (journaled): left "running", the run could not be told apart from
        # one still going, and Typer's silent exit 130 hid the ID that resumes it
        store.finish_run(run_id, "interrupted", {})
        raise Interrupted(run_id, resume or f"govops cloud vm create … --run-id {run_id}", done=0, total=1) from None
    s = result.server
    store.record_result(
        run_id, spec.name, "created" if result.created else "kept", None, {"id": s.id, "status": s.status}
    )
    store.finish_run(run_id, "finished", {"server": s.id, "status": s.status})
    return result
