"""An in-memory ``CloudPort`` for fast unit tests; the contract test holds it to the real cloud's answers.

It behaves like Nova/Cinder/Neutron where govops depends on it: quotas enforced at create with a
403 "Quota exceeded", servers going BUILD -> ACTIVE after a few polls (or ERROR with a fault), 409
on an action in the wrong state, 404 for unknown IDs. Faults are injected per operation.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

from govops.cli.application import Ports
from govops.cloud.ports import (
    QUOTA_RESOURCES,
    CatalogEntry,
    CloudApiError,
    CloudNotFound,
    CloudUnreachable,
    Flavor,
    FloatingIP,
    HostAggregate,
    Identity,
    Image,
    Network,
    Project,
    ProviderInventory,
    QuotaExceeded,
    QuotaSet,
    QuotaUsage,
    ResourceProvider,
    Server,
    ServerRequest,
    Volume,
)

AUTH_URL = "http://127.0.0.1:5000/v3"
DEFAULT_LIMITS = {
    "cores": 20,
    "ram_mb": 51200,
    "instances": 10,
    "volumes": 10,
    "gigabytes": 1000,
    "floating_ips": 10,
    "ports": 50,
}


@dataclass
class _Srv:
    server: Server
    polls_left: int
    fail_with: str | None = None  # fault message: goes to ERROR instead of ACTIVE
    resize_to: Flavor | None = None
    old_flavor: Flavor | None = None
    volume_ids: list[str] = field(default_factory=list)


class FakeCloud:
    """``CloudPort`` in memory. ``build_polls``: get_server calls before a new server is ACTIVE."""

    def __init__(self, *, build_polls: int = 1, admin_project: str = "admin") -> None:
        self.build_polls = build_polls
        self._ids = itertools.count(1)
        self.lock = threading.RLock()
        self.projects_by_id: dict[str, Project] = {}
        self.limits: dict[str, dict[str, int]] = {}
        self.flavor_list: list[Flavor] = []
        self.image_list: list[Image] = []
        self.network_list: list[Network] = []
        self.server_groups: dict[str, tuple[str, str]] = {}  # id -> (name, project id)
        self.srv: dict[str, _Srv] = {}
        self.volume_list: dict[str, Volume] = {}
        self.fip_list: list[FloatingIP] = []
        self.calls: list[str] = []
        # operation name -> queue of exceptions raised by its next calls
        self.faults: dict[str, list[Exception]] = {}
        # names of servers that go to ERROR with this fault instead of ACTIVE
        self.error_on_build: dict[str, str] = {}
        # operation -> callable run after the operation's effect (e.g. raise a timeout after create)
        self.after: dict[str, Callable[[], None]] = {}
        # True: a deleted server's volumes stay (in-use), as when Cinder fails the detach
        self.keep_volumes_on_delete = False
        self.admin = self.add_project(admin_project, limits={k: -1 for k in QUOTA_RESOURCES})
        self.provider_list: list[ResourceProvider] = []
        self.aggregate_list: list[HostAggregate] = []

    # -- setup helpers --------------------------------------------------------------------------------
    def _id(self, kind: str) -> str:
        return f"{kind}-{next(self._ids):04d}"

    def add_project(self, name: str, limits: Mapping[str, int] | None = None) -> Project:
        p = Project(self._id("prj"), name)
        self.projects_by_id[p.id] = p
        self.limits[p.id] = {**DEFAULT_LIMITS, **(limits or {})}
        return p

    def add_flavor(self, name: str, vcpus: int, ram_mb: int, disk_gb: int = 20) -> Flavor:
        f = Flavor(self._id("flv"), name, vcpus, ram_mb, disk_gb)
        self.flavor_list.append(f)
        return f

    def add_host(
        self,
        name: str,
        az: str | None = None,
        *,
        vcpus: int = 64,
        ram_mb: int = 512 * 1024,
        disk_gb: int = 20000,
        cpu_ratio: float = 4.0,
        ram_ratio: float = 1.0,
        reserved_cpus: int = 0,
        reserved_ram_mb: int = 8192,
        used: Mapping[str, int] | None = None,
    ) -> ResourceProvider:
        """A compute node's resource provider (and its AZ aggregate), as Placement would show it."""
        rp = ResourceProvider(
            self._id("rp"),
            name,
            {
                "VCPU": ProviderInventory(vcpus, reserved_cpus, cpu_ratio, max_unit=vcpus),
                "MEMORY_MB": ProviderInventory(ram_mb, reserved_ram_mb, ram_ratio, max_unit=ram_mb),
                "DISK_GB": ProviderInventory(disk_gb, 0, 1.0, max_unit=disk_gb),
            },
            dict(used or {}),
        )
        self.provider_list.append(rp)
        if az is not None:
            agg = next((a for a in self.aggregate_list if a.name == az), None)
            if agg is None:
                self.aggregate_list.append(HostAggregate(az, az, (name,)))
            else:
                self.aggregate_list[self.aggregate_list.index(agg)] = replace(agg, hosts=(*agg.hosts, name))
        return rp

    def add_image(self, name: str) -> Image:
        i = Image(self._id("img"), name)
        self.image_list.append(i)
        return i

    def add_network(self, name: str, shared: bool = True) -> Network:
        n = Network(self._id("net"), name, is_shared=shared)
        self.network_list.append(n)
        return n

    def add_server_group(self, name: str, project: Project) -> str:
        gid = self._id("sg")
        self.server_groups[gid] = (name, project.id)
        return gid

    def add_volume(self, project: Project, size_gb: int, name: str = "", status: str = "available") -> Volume:
        v = Volume(self._id("vol"), name, size_gb, status, project.id)
        self.volume_list[v.id] = v
        return v

    def add_floating_ip(self, project: Project, address: str, port_id: str | None = None) -> FloatingIP:
        f = FloatingIP(self._id("fip"), address, "ACTIVE" if port_id else "DOWN", project.id, port_id)
        self.fip_list.append(f)
        return f

    def fail_next(self, operation: str, *errors: Exception) -> None:
        self.faults.setdefault(operation, []).extend(errors)

    def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        queue = self.faults.get(operation)
        if queue:
            raise queue.pop(0)

    # -- identity and catalog ---------------------------------------------------------------------------
    def identity(self) -> Identity:
        self._enter("identity")
        return Identity(AUTH_URL, "admin", self.admin.name, self.admin.id, "RegionOne", ("admin", "member"))

    def catalog(self) -> list[CatalogEntry]:
        self._enter("catalog")
        base = "http://127.0.0.1"
        return [
            CatalogEntry("identity", "keystone", {"public": f"{base}:5000/v3"}),
            CatalogEntry("compute", "nova", {"public": f"{base}:8774/v2.1"}),
            CatalogEntry("image", "glance", {"public": f"{base}:9292"}),
            CatalogEntry("network", "neutron", {"public": f"{base}:9696"}),
            CatalogEntry("block-storage", "cinder", {"public": f"{base}:8776/v3"}),
        ]

    def probe(self, service_type: str) -> str:
        self._enter(f"probe:{service_type}")
        return "fake"

    def find_project(self, name_or_id: str) -> Project | None:
        self._enter("find_project")
        return next((p for p in self.projects_by_id.values() if name_or_id in (p.id, p.name)), None)

    def projects(self) -> list[Project]:
        self._enter("projects")
        return list(self.projects_by_id.values())

    # -- things to build from --------------------------------------------------------------------------
    def find_flavor(self, name_or_id: str) -> Flavor | None:
        self._enter("find_flavor")
        return next((f for f in self.flavor_list if name_or_id in (f.id, f.name)), None)

    def flavors(self) -> list[Flavor]:
        self._enter("flavors")
        return list(self.flavor_list)

    def find_image(self, name_or_id: str) -> Image | None:
        self._enter("find_image")
        return next((i for i in self.image_list if name_or_id in (i.id, i.name)), None)

    def find_network(self, name_or_id: str) -> Network | None:
        self._enter("find_network")
        return next((n for n in self.network_list if name_or_id in (n.id, n.name)), None)

    def find_server_group(self, name_or_id: str, project_id: str | None = None) -> str | None:
        self._enter("find_server_group")
        for gid, (name, pid) in self.server_groups.items():
            if name_or_id in (gid, name) and project_id in (None, pid):
                return gid
        return None

    # -- quotas ----------------------------------------------------------------------------------------
    def _project(self, project_id: str) -> Project:
        p = self.projects_by_id.get(project_id)
        if p is None:
            raise CloudNotFound(f"project {project_id} could not be found", status=404, service="identity")
        return p

    def usage(self, project_id: str) -> dict[str, int]:
        used = dict.fromkeys(QUOTA_RESOURCES, 0)
        for s in self.srv.values():
            if s.server.project_id != project_id:
                continue
            used["cores"] += s.server.vcpus
            used["ram_mb"] += s.server.ram_mb
            used["instances"] += 1
            used["ports"] += max(1, len(s.server.addresses))
        for v in self.volume_list.values():
            if v.project_id == project_id:
                used["volumes"] += 1
                used["gigabytes"] += v.size_gb
        used["floating_ips"] = sum(1 for f in self.fip_list if f.project_id == project_id)
        return used

    def get_quotas(self, project_id: str, *, resources: Collection[str] | None = None) -> QuotaSet:
        self._enter("get_quotas")
        with self.lock:
            self._project(project_id)
            used = self.usage(project_id)
            limits = self.limits[project_id]
            names = [k for k in QUOTA_RESOURCES if resources is None or k in resources]
            return QuotaSet(project_id, {k: QuotaUsage(limits[k], used[k], 0) for k in names})

    def set_quotas(self, project_id: str, limits: Mapping[str, int]) -> None:
        self._enter("set_quotas")
        with self.lock:
            self._project(project_id)
            unknown = set(limits) - set(QUOTA_RESOURCES)
            if unknown:
                raise CloudApiError(f"unknown quota {sorted(unknown)}", status=400, service="compute")
            self.limits[project_id].update(limits)

    # -- servers ---------------------------------------------------------------------------------------
    def _advance(self, s: _Srv) -> None:
        """Time passes for a server each time someone looks at it, as builds do on a real cloud."""
        if s.server.status not in ("BUILD", "RESIZE") or s.polls_left > 0:
            s.polls_left -= 1
            return
        if s.server.status == "BUILD":
            if s.fail_with is not None:
                s.server = replace(s.server, status="ERROR", fault=s.fail_with)
            else:
                s.server = replace(s.server, status="ACTIVE", host="fake-host-1", launched_at="2026-01-01T00:00:00")
        else:
            s.server = replace(s.server, status="VERIFY_RESIZE")

    def servers(
        self,
        project_id: str | None = None,
        *,
        name: str | None = None,
        status: str | None = None,
        host: str | None = None,
    ) -> list[Server]:
        self._enter("servers")
        with self.lock:
            out = []
            for s in self.srv.values():
                self._advance(s)
                srv = s.server
                if project_id is not None and srv.project_id != project_id:
                    continue
                if name is not None and srv.name != name:
                    continue
                if status is not None and srv.status != status.upper():
                    continue
                if host is not None and srv.host != host:
                    continue
                out.append(srv)
            return out

    def _get(self, server_id: str) -> _Srv:
        s = self.srv.get(server_id)
        if s is None:
            raise CloudNotFound(
                f"Instance {server_id} could not be found.",
                status=404,
                method="GET",
                url=f"http://127.0.0.1:8774/v2.1/servers/{server_id}",
                request_id="req-fake",
                service="compute",
            )
        return s

    def get_server(self, server_id: str) -> Server:
        self._enter("get_server")
        with self.lock:
            s = self._get(server_id)
            self._advance(s)
            return s.server

    def _check_quota(self, project_id: str, need: Mapping[str, int]) -> None:
        used = self.usage(project_id)
        limits = self.limits[project_id]
        over = [k for k, v in need.items() if v and limits[k] >= 0 and used[k] + v > limits[k]]
        if over:
            msg = "Quota exceeded for " + ", ".join(over)
            api = CloudApiError(
                msg, status=403, method="POST", url="http://127.0.0.1:8774/v2.1/servers", service="compute"
            )
            raise QuotaExceeded(str(api), api_error=api)

    def create_server(self, project: Project, request: ServerRequest) -> Server:
        self._enter("create_server")
        with self.lock:
            self._project(project.id)
            flavor = next((f for f in self.flavor_list if f.id == request.flavor_id), None)
            if flavor is None:
                raise CloudApiError(f"Flavor {request.flavor_id} could not be found.", status=400, service="compute")
            if not any(i.id == request.image_id for i in self.image_list):
                raise CloudApiError(f"Image {request.image_id} could not be found.", status=400, service="compute")
            volume_sizes = [g for g in (request.boot_volume_gb, request.data_volume_gb) if g is not None]
            self._check_quota(
                project.id,
                {
                    "cores": flavor.vcpus,
                    "ram_mb": flavor.ram_mb,
                    "instances": 1,
                    "volumes": len(volume_sizes),
                    "gigabytes": sum(volume_sizes),
                },
            )
            nets = {self._net_name(n): (f"10.0.0.{len(self.srv) + 2}",) for n in request.network_ids}
            server = Server(
                id=self._id("srv"),
                name=request.name,
                status="BUILD",
                project_id=project.id,
                flavor=flavor.name,
                vcpus=flavor.vcpus,
                ram_mb=flavor.ram_mb,
                disk_gb=flavor.disk_gb,
                image_id=request.image_id,
                az=request.availability_zone or "nova",
                metadata=dict(request.metadata),
                tags=tuple(request.tags),
                addresses=nets,
                fixed_ips=tuple(ip for ips in nets.values() for ip in ips),
                created_at="2026-01-01T00:00:00",
            )
            entry = _Srv(server, self.build_polls, self.error_on_build.get(request.name))
            for size in volume_sizes:
                v = self.add_volume(project, size, status="in-use")
                self.volume_list[v.id] = replace(v, attached_to=(server.id,))
                entry.volume_ids.append(v.id)
            ids = tuple(entry.volume_ids)
            entry.server = replace(server, volumes=ids, owned_volumes=ids)
            self.srv[server.id] = entry
            result = entry.server
        hook = self.after.get("create_server")
        if hook is not None:
            hook()
        return result

    def _net_name(self, network_id: str) -> str:
        return next((n.name for n in self.network_list if n.id == network_id), network_id)

    def _conflict(self, s: _Srv, action: str) -> CloudApiError:
        return CloudApiError(
            f"Cannot '{action}' instance {s.server.id} while it is in vm_state {s.server.status.lower()}",
            status=409,
            method="POST",
            url=f"http://127.0.0.1:8774/v2.1/servers/{s.server.id}/action",
            request_id="req-fake",
            service="compute",
        )

    def _set(self, s: _Srv, **changes: object) -> None:
        s.server = replace(s.server, **changes)  # type: ignore[arg-type]

    def replace_server_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        self._enter("replace_server_metadata")
        with self.lock:
            s = self._get(server_id)
            self._set(s, metadata=dict(metadata))

    def delete_server(self, server_id: str) -> None:
        self._enter("delete_server")
        with self.lock:
            s = self._get(server_id)
            del self.srv[server_id]
            for vid in s.volume_ids:
                if not self.keep_volumes_on_delete:
                    self.volume_list.pop(vid, None)

    def _action(self, server_id: str, action: str, allowed: tuple[str, ...], **changes: object) -> None:
        self._enter(f"{action}_server")
        with self.lock:
            s = self._get(server_id)
            self._advance(s)
            if s.server.status not in allowed:
                raise self._conflict(s, action)
            self._set(s, **changes)

    def start_server(self, server_id: str) -> None:
        self._action(server_id, "start", ("SHUTOFF",), status="ACTIVE")

    def stop_server(self, server_id: str) -> None:
        self._action(server_id, "stop", ("ACTIVE", "ERROR"), status="SHUTOFF")

    def reboot_server(self, server_id: str, *, hard: bool = False) -> None:
        self._action(server_id, "reboot", ("ACTIVE", "SHUTOFF", "ERROR") if hard else ("ACTIVE",), status="ACTIVE")

    def resize_server(self, server_id: str, flavor_id: str) -> None:
        self._enter("resize_server")
        with self.lock:
            s = self._get(server_id)
            self._advance(s)
            flavor = next((f for f in self.flavor_list if f.id == flavor_id), None)
            if flavor is None:
                raise CloudApiError(f"Flavor {flavor_id} could not be found.", status=400, service="compute")
            if s.server.status not in ("ACTIVE", "SHUTOFF"):
                raise self._conflict(s, "resize")
            self._check_quota(
                s.server.project_id,
                {"cores": max(0, flavor.vcpus - s.server.vcpus), "ram_mb": max(0, flavor.ram_mb - s.server.ram_mb)},
            )
            s.polls_left = self.build_polls
            self._set(
                s, status="RESIZE", flavor=flavor.name, vcpus=flavor.vcpus, ram_mb=flavor.ram_mb, disk_gb=flavor.disk_gb
            )

    def confirm_resize(self, server_id: str) -> None:
        self._action(server_id, "confirmResize", ("VERIFY_RESIZE",), status="ACTIVE")

    # -- storage and addresses ------------------------------------------------------------------------
    def volumes(self, project_id: str | None = None) -> list[Volume]:
        self._enter("volumes")
        return [v for v in self.volume_list.values() if project_id in (None, v.project_id)]

    def floating_ips(self, project_id: str | None = None) -> list[FloatingIP]:
        self._enter("floating_ips")
        return [f for f in self.fip_list if project_id in (None, f.project_id)]

    def resource_providers(self) -> list[ResourceProvider]:
        self._enter("resource_providers")
        return sorted(self.provider_list, key=lambda r: r.name)

    def aggregates(self) -> list[HostAggregate]:
        self._enter("aggregates")
        return list(self.aggregate_list)

    # -- test helpers ------------------------------------------------------------------------------------
    def timeout_after_create(self) -> None:
        """The next create reaches the cloud but the client sees no answer (a read timeout)."""

        def hook() -> None:
            del self.after["create_server"]
            raise CloudUnreachable("compute: no answer in time (fake read timeout)", maybe_applied=True)

        self.after["create_server"] = hook


def cli_on_fake_cloud(ports: Ports) -> FakeCloud:
    """The CLI's cloud replaced by a fake holding department gaj, one flavor, image and network."""
    cloud = FakeCloud(build_polls=1)
    cloud.add_project("dept-gaj", limits={"cores": 20, "instances": 10})
    cloud.add_flavor("m1.small", 1, 2048)
    cloud.add_image("cirros")
    cloud.add_network("net1")
    ports.cloud = cloud
    return cloud
