"""``CloudPort`` on openstacksdk: the only module that imports openstack and keystoneauth1.

Every SDK call goes through ``_calling``, which turns the SDK's and keystoneauth's exceptions into
the port's typed errors (HTTP status, request id, method and URL kept), so no SDK exception ever
reaches a service or the CLI.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from govops.cloud.connection import CloudTarget, load_region
from govops.cloud.ports import (
    QUOTA_RESOURCES,
    CatalogEntry,
    CloudApiError,
    CloudAuthError,
    CloudError,
    CloudNotFound,
    CloudPort,
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
    RateLimited,
    ResourceProvider,
    Server,
    ServerRequest,
    Volume,
)
from govops.i18n import Msg

Conn = Any  # openstack.connection.Connection, typed loosely: openstacksdk is imported lazily

# Our quota names -> (the API's body key in requests, openstacksdk's attribute on the result).
_COMPUTE_QUOTAS = {"cores": "cores", "ram_mb": "ram", "instances": "instances"}
_VOLUME_QUOTAS = {"volumes": "volumes", "gigabytes": "gigabytes"}
_NETWORK_QUOTAS = {"floating_ips": "floating_ips", "ports": "ports"}
_QUOTA_WORDS = re.compile(r"quota", re.IGNORECASE)


def _first_line(text: str) -> str:
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[0] if lines else text.strip()


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare for OpenStack; the caller uses its own back-off


def _http_error(exc: Any, service: str) -> Exception:
    """openstacksdk's HttpException (or keystoneauth's HttpError) as the port's error."""
    status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    response = getattr(exc, "response", None)
    details = getattr(exc, "details", None) or getattr(exc, "message", None) or str(exc)
    text = _first_line(str(details)) or f"HTTP {status}"
    request_id = getattr(exc, "request_id", None)
    if request_id is None and response is not None:
        request_id = response.headers.get("x-openstack-request-id")
    kw: dict[str, Any] = {
        "status": status,
        "request_id": request_id,
        "method": getattr(exc, "method", None),
        "url": getattr(exc, "url", None),
        "service": service,
    }
    if status in (403, 413) and _QUOTA_WORDS.search(text):
        api = CloudApiError(text, **kw)
        return QuotaExceeded(api.msg, api_error=api, hint=Msg("err.cloud.hint_quota"))
    if status in (413, 429):
        return RateLimited(text, retry_after=_retry_after(response), **kw)
    if status == 401:
        return CloudAuthError(text, hint=Msg("err.cloud.hint_credentials"), **kw)
    if status == 403:
        return CloudAuthError(text, hint=Msg("err.cloud.hint_forbidden"), **kw)
    if status == 404:
        return CloudNotFound(text, **kw)
    if status == 400:
        return _BadRequest(text, **kw)
    return CloudApiError(text, **kw)


class _BadRequest(CloudNotFound):
    """HTTP 400: the cloud rejected a value we passed on from the user (bad input, exit 2)."""


@contextmanager
def _calling(service: str) -> Iterator[None]:
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk

    try:
        yield
    except sdk.HttpException as exc:
        raise _http_error(exc, service) from None
    except ksa.http.HttpError as exc:  # raised while fetching a token, before any SDK request
        raise _http_error(exc, "identity") from None
    except ksa.ConnectTimeout as exc:
        raise CloudUnreachable(
            Msg("err.cloud.timeout", service=service, reason=_first_line(str(exc))),
            maybe_applied=True,
            hint=Msg("err.cloud.hint_retry"),
        ) from None
    except (ksa.ConnectFailure, ksa.SSLError, ksa.UnknownConnectionError) as exc:
        raise CloudUnreachable(
            Msg("err.cloud.unreachable", service=service, reason=_first_line(str(exc))),
            maybe_applied=False,
            hint=Msg("err.cloud.hint_unreachable"),
        ) from None
    except (ksa.EndpointNotFound, sdk.EndpointNotFound) as exc:
        raise CloudError(
            Msg("err.cloud.no_endpoint", service=service, reason=_first_line(str(exc))),
            hint=Msg("err.cloud.hint_endpoint"),
        ) from None
    except ksa.ClientException as exc:  # missing auth options, discovery failures
        raise CloudAuthError(_first_line(str(exc)) or type(exc).__name__, service="identity") from None
    except sdk.SDKException as exc:
        raise CloudError(f"{service}: {_first_line(str(exc))}") from None


# -- conversions --------------------------------------------------------------------------------------


def _server(s: Any) -> Server:
    fl = s.flavor or {}
    fault = s.fault or {}
    image = s.image or {}
    addresses = {net: tuple(a.get("addr", "") for a in addrs) for net, addrs in (s.addresses or {}).items()}
    return Server(
        id=s.id,
        name=s.name or "",
        status=s.status or "",
        project_id=s.project_id or "",
        flavor=str(fl.get("original_name") or fl.get("name") or fl.get("id") or ""),
        vcpus=int(fl.get("vcpus") or 0),
        ram_mb=int(fl.get("ram") or 0),
        disk_gb=int(fl.get("disk") or 0),
        image_id=image.get("id") if isinstance(image, dict) else None,
        host=s.compute_host or s.hypervisor_hostname,
        az=s.availability_zone,
        metadata=dict(s.metadata or {}),
        tags=tuple(s.tags or ()),
        addresses=addresses,
        # Nova marks each address fixed or floating; one without the mark (old clouds) counts as fixed
        fixed_ips=tuple(
            a["addr"]
            for addrs in (s.addresses or {}).values()
            for a in addrs
            if a.get("addr") and a.get("OS-EXT-IPS:type", "fixed") == "fixed"
        ),
        volumes=tuple(v["id"] for v in s.attached_volumes or () if "id" in v),
        # Nova shows delete_on_termination from microversion 2.3 (admin) / 2.79 on
        owned_volumes=tuple(v["id"] for v in s.attached_volumes or () if "id" in v and v.get("delete_on_termination")),
        task_state=s.task_state,
        fault=fault.get("message") if isinstance(fault, dict) else None,
        created_at=s.created_at,
        updated_at=s.updated_at,
        launched_at=s.launched_at,
    )


def _flavor(f: Any) -> Flavor:
    return Flavor(
        id=f.id,
        name=f.name,
        vcpus=int(f.vcpus or 0),
        ram_mb=int(f.ram or 0),
        disk_gb=int(f.disk or 0),
        is_public=bool(f.is_public) if f.is_public is not None else True,
    )


def _volume(v: Any) -> Volume:
    return Volume(
        id=v.id,
        name=v.name or "",
        size_gb=int(v.size or 0),
        status=v.status or "",
        project_id=v.project_id,
        attached_to=tuple(a.get("server_id", "") for a in v.attachments or ()),
        metadata=dict(v.metadata or {}),
        created_at=v.created_at,
        bootable=str(v.is_bootable).lower() == "true",
    )


def _usage(limit: Any, in_use: Any, reserved: Any) -> QuotaUsage:
    return QuotaUsage(
        limit=int(limit if limit is not None else -1), in_use=int(in_use or 0), reserved=int(reserved or 0)
    )


class OpenStackCloud:
    """A ``CloudPort`` for one cloud and region of clouds.yaml (or the ``OS_*`` variables)."""

    def __init__(self, conn: Conn, target: CloudTarget) -> None:
        self.conn = conn
        self.target = target
        self._scoped: dict[str, Conn] = {}
        self._endpoints: dict[str, bool] = {}  # service type -> in the catalog (it does not change)
        self._lock = threading.Lock()

    # -- identity and catalog -------------------------------------------------------------------------
    def _access(self) -> Any:
        with _calling("identity"):
            return self.conn.session.auth.get_access(self.conn.session)

    def identity(self) -> Identity:
        access = self._access()
        return Identity(
            auth_url=str(self.conn.config.config.get("auth", {}).get("auth_url", "")),
            user=access.username or access.user_id or "",
            project=access.project_name or "",
            project_id=access.project_id or "",
            region=self.conn.config.region_name,
            roles=tuple(access.role_names or ()),
        )

    def catalog(self) -> list[CatalogEntry]:
        access = self._access()
        region = self.conn.config.region_name
        out = []
        for svc in access.service_catalog.catalog or []:
            endpoints = {
                e.get("interface", ""): e.get("url", "")
                for e in svc.get("endpoints", [])
                if not region or e.get("region_id", e.get("region")) in (region, None)
            }
            out.append(CatalogEntry(svc.get("type", ""), svc.get("name", ""), endpoints))
        return out

    def probe(self, service_type: str) -> str:
        # service type -> (openstacksdk proxy, a listing that costs one small GET)
        proxies: dict[str, tuple[str, str, dict[str, Any]]] = {
            "compute": ("compute", "flavors", {"limit": 1}),
            "image": ("image", "images", {"limit": 1}),
            "network": ("network", "networks", {"limit": 1}),
            "block-storage": ("block_storage", "volumes", {"limit": 1}),
            "identity": ("identity", "regions", {}),  # Keystone refuses a limit here (HTTP 400)
        }
        if service_type not in proxies:
            raise CloudError(Msg("err.cloud.no_probe", service=service_type))
        proxy_name, listing, query = proxies[service_type]
        with _calling(service_type):
            proxy = getattr(self.conn, proxy_name)
            data = proxy.get_endpoint_data()
            next(iter(getattr(proxy, listing)(**query)), None)
        if data is None:
            return "ok"
        version = ".".join(str(x) for x in (data.api_version or ())) or "?"
        micro = f", microversions up to {'.'.join(map(str, data.max_microversion))}" if data.max_microversion else ""
        return f"v{version}{micro} at {data.url}"

    def find_project(self, name_or_id: str) -> Project | None:
        try:
            with _calling("identity"):
                p = self.conn.identity.find_project(name_or_id, ignore_missing=True)
        except CloudAuthError as e:
            # Keystone lets only admins list projects; a department's own user still knows the
            # project its token is scoped to, and that is the only one it may act on.
            scoped = self._scoped_project(e)
            return scoped if name_or_id in (scoped.id, scoped.name) else None
        return None if p is None else Project(p.id, p.name, p.domain_id or "default", bool(p.is_enabled))

    def projects(self) -> list[Project]:
        try:
            with _calling("identity"):
                return [
                    Project(p.id, p.name, p.domain_id or "default", bool(p.is_enabled))
                    for p in self.conn.identity.projects()
                ]
        except CloudAuthError as e:
            return [self._scoped_project(e)]

    def _scoped_project(self, refused: CloudAuthError) -> Project:
        """The project of this connection's token; re-raises ``refused`` when there is none (403 only)."""
        if refused.status != 403:
            raise refused
        with _calling("identity"):
            access = self.conn.session.auth.get_access(self.conn.session)
        if not access.project_id:
            raise refused
        name = access.project_name or access.project_id
        return Project(access.project_id, name, access.project_domain_id or "default", True)

    # -- things to build from ---------------------------------------------------------------------------
    def find_flavor(self, name_or_id: str) -> Flavor | None:
        with _calling("compute"):
            f = self.conn.compute.find_flavor(name_or_id, ignore_missing=True, get_extra_specs=False)
        return None if f is None else _flavor(f)

    def flavors(self) -> list[Flavor]:
        with _calling("compute"):
            return [_flavor(f) for f in self.conn.compute.flavors(details=True, is_public=None)]

    def find_image(self, name_or_id: str) -> Image | None:
        with _calling("image"):
            i = self.conn.image.find_image(name_or_id, ignore_missing=True)
        if i is None:
            return None
        return Image(i.id, i.name or "", i.status or "", int(i.min_disk or 0), int(i.min_ram or 0), i.size)

    def find_network(self, name_or_id: str) -> Network | None:
        with _calling("network"):
            n = self.conn.network.find_network(name_or_id, ignore_missing=True)
        if n is None:
            return None
        return Network(n.id, n.name or "", n.project_id, bool(n.is_shared), bool(n.is_router_external), n.status or "")

    def find_server_group(self, name_or_id: str, project_id: str | None = None) -> str | None:
        with _calling("compute"):
            for g in self.conn.compute.server_groups(all_projects=True):
                if name_or_id in (g.id, g.name) and (project_id is None or g.project_id in (project_id, None)):
                    return str(g.id)
        return None

    # -- quotas -----------------------------------------------------------------------------------------
    def _has(self, service_type: str) -> bool:
        known = self._endpoints.get(service_type)
        if known is not None:
            return known
        try:
            with _calling(service_type):
                found = bool(
                    self.conn.session.get_endpoint(service_type=service_type, interface=self.conn.config.interface)
                )
        except CloudError:
            found = False
        self._endpoints[service_type] = found
        return found

    def get_quotas(self, project_id: str, *, resources: Collection[str] | None = None) -> QuotaSet:
        def wanted(names: Mapping[str, str]) -> bool:
            return resources is None or any(r in names for r in resources)

        items: dict[str, QuotaUsage] = {}
        if wanted(_COMPUTE_QUOTAS):
            with _calling("compute"):
                qs = self.conn.compute.get_quota_set(project_id, usage=True)
            for ours, attr in _COMPUTE_QUOTAS.items():
                items[ours] = _usage(getattr(qs, attr), (qs.usage or {}).get(attr), (qs.reservation or {}).get(attr))
        if wanted(_VOLUME_QUOTAS) and self._has("block-storage"):
            with _calling("block-storage"):
                vq = self.conn.block_storage.get_quota_set(project_id, usage=True)
            for ours, attr in _VOLUME_QUOTAS.items():
                items[ours] = _usage(getattr(vq, attr), (vq.usage or {}).get(attr), (vq.reservation or {}).get(attr))
        # Neutron's detailed quota is the slowest of the three answers (it counts ports and addresses)
        if wanted(_NETWORK_QUOTAS) and self._has("network"):
            with _calling("network"):
                nq = self.conn.network.get_quota(project_id, details=True)
            for ours, attr in _NETWORK_QUOTAS.items():
                d = getattr(nq, attr) or {}
                items[ours] = _usage(d.get("limit"), d.get("used"), d.get("reserved"))
        return QuotaSet(project_id, items)

    def set_quotas(self, project_id: str, limits: Mapping[str, int]) -> None:
        unknown = set(limits) - set(QUOTA_RESOURCES)
        if unknown:
            raise CloudError(Msg("err.cloud.unknown_quota", names=", ".join(sorted(unknown))))

        def pick(names: Mapping[str, str]) -> dict[str, int]:
            return {names[k]: v for k, v in limits.items() if k in names}

        if compute := pick(_COMPUTE_QUOTAS):
            with _calling("compute"):
                self.conn.compute.update_quota_set(project_id, **compute)
        if volume := pick(_VOLUME_QUOTAS):
            with _calling("block-storage"):
                self.conn.block_storage.update_quota_set(project_id, **volume)
        if network := pick(_NETWORK_QUOTAS):
            with _calling("network"):
                self.conn.network.update_quota(project_id, **network)

    # -- servers ----------------------------------------------------------------------------------------
    def _own_project(self) -> str:
        with _calling("identity"):
            return str(self.conn.current_project_id)

    def servers(
        self,
        project_id: str | None = None,
        *,
        name: str | None = None,
        status: str | None = None,
        host: str | None = None,
    ) -> list[Server]:
        query: dict[str, Any] = {}
        if project_id is None:
            query["all_projects"] = True
        elif project_id != self._own_project():
            query.update(all_projects=True, project_id=project_id)
        if name is not None:
            query["name"] = f"^{re.escape(name)}$"  # Nova matches names as a regex
        if status is not None:
            query["status"] = status.upper()
        if host is not None:
            query["compute_host"] = host
        with _calling("compute"):
            found = [_server(s) for s in self.conn.compute.servers(details=True, **query)]
        # Nova lists a server as DELETED for a moment before it disappears: it is gone already.
        return [s for s in found if (name is None or s.name == name) and s.status != "DELETED"]

    def get_server(self, server_id: str) -> Server:
        with _calling("compute"):
            return _server(self.conn.compute.get_server(server_id))

    def _connection_for(self, project: Project) -> Conn:
        """Credentials scoped to ``project``: a clouds.yaml entry of the same cloud scoped to it
        (a department's own user), else this cloud's credentials re-scoped (needs a role on it)."""
        if project.id == self._own_project():
            return self.conn
        with self._lock:
            conn = self._scoped.get(project.id)
            if conn is None:
                from openstack import connection

                region = load_region(self.target, project=project.name, project_id=project.id)
                with _calling("identity"):
                    conn = (
                        connection.Connection(config=region)
                        if region is not None
                        else self.conn.connect_as_project(
                            {"id": project.id, "name": project.name, "domain_id": project.domain_id}
                        )
                    )
                self._scoped[project.id] = conn
        return conn

    def create_server(self, project: Project, request: ServerRequest) -> Server:
        attrs: dict[str, Any] = {
            "name": request.name,
            "flavor_id": request.flavor_id,
            "metadata": dict(request.metadata),
            # Nova >= 2.37 wants networks spelled out; "auto" is openstackclient's default too.
            "networks": [{"uuid": n} for n in request.network_ids] or "auto",
        }
        bdm: list[dict[str, Any]] = []
        if request.boot_volume_gb is not None:
            bdm.append(
                {
                    "boot_index": 0,
                    "uuid": request.image_id,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": request.boot_volume_gb,
                    "delete_on_termination": True,
                }
            )
        else:
            attrs["image_id"] = request.image_id
        if request.data_volume_gb is not None:
            bdm.append(
                {
                    "boot_index": -1,
                    "source_type": "blank",
                    "destination_type": "volume",
                    "volume_size": request.data_volume_gb,
                    "delete_on_termination": True,
                }
            )
        if bdm:
            if request.boot_volume_gb is None:
                # the image must stay the boot device when only a data volume is added
                bdm.insert(
                    0,
                    {
                        "boot_index": 0,
                        "uuid": request.image_id,
                        "source_type": "image",
                        "destination_type": "local",
                        "delete_on_termination": True,
                    },
                )
            attrs["block_device_mapping"] = bdm
        if request.user_data is not None:
            attrs["user_data"] = base64.b64encode(request.user_data.encode("utf-8")).decode("ascii")
        if request.key_name:
            attrs["key_name"] = request.key_name
        if request.availability_zone:
            attrs["availability_zone"] = request.availability_zone
        if request.server_group_id:
            attrs["scheduler_hints"] = {"group": request.server_group_id}
        if request.tags:
            attrs["tags"] = list(request.tags)
        conn = self._connection_for(project)
        with _calling("compute"):
            created = conn.compute.create_server(**attrs)
        # The create answer holds only id and links: fetch the server as an admin sees it.
        return self.get_server(created.id)

    def replace_server_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        from openstack.compute.v2.server import Server as SdkServer

        with _calling("compute"):
            # PUT /servers/{id}/metadata: one request, so no half-updated set is ever visible
            SdkServer(id=server_id).replace_metadata(self.conn.compute, metadata=dict(metadata))

    def delete_server(self, server_id: str) -> None:
        with _calling("compute"):
            self.conn.compute.delete_server(server_id, ignore_missing=False)

    def start_server(self, server_id: str) -> None:
        with _calling("compute"):
            self.conn.compute.start_server(server_id)

    def stop_server(self, server_id: str) -> None:
        with _calling("compute"):
            self.conn.compute.stop_server(server_id)

    def reboot_server(self, server_id: str, *, hard: bool = False) -> None:
        with _calling("compute"):
            self.conn.compute.reboot_server(server_id, "HARD" if hard else "SOFT")

    def resize_server(self, server_id: str, flavor_id: str) -> None:
        with _calling("compute"):
            self.conn.compute.resize_server(server_id, flavor_id)

    def confirm_resize(self, server_id: str) -> None:
        with _calling("compute"):
            self.conn.compute.confirm_server_resize(server_id)

    # -- storage and addresses ------------------------------------------------------------------------
    def volumes(self, project_id: str | None = None) -> list[Volume]:
        query: dict[str, Any] = {"all_projects": True}
        if project_id is not None:
            query["project_id"] = project_id
        with _calling("block-storage"):
            return [_volume(v) for v in self.conn.block_storage.volumes(details=True, **query)]

    def floating_ips(self, project_id: str | None = None) -> list[FloatingIP]:
        query = {} if project_id is None else {"project_id": project_id}
        with _calling("network"):
            return [
                FloatingIP(
                    id=f.id,
                    address=f.floating_ip_address or "",
                    status=f.status or "",
                    project_id=f.project_id,
                    port_id=f.port_id,
                    fixed_address=f.fixed_ip_address,
                )
                for f in self.conn.network.ips(**query)
            ]

    # -- capacity: Placement and aggregates -----------------------------------------------------------
    def _placement_get(self, path: str) -> dict[str, Any]:
        """One GET on Placement; a raw request, so its error answer is raised the SDK's way first."""
        from openstack import exceptions as sdk

        with _calling("placement"):
            response = self.conn.placement.get(path)
            sdk.raise_from_response(response)
            data: dict[str, Any] = response.json()
        return data

    def resource_providers(self) -> list[ResourceProvider]:
        providers = self._placement_get("/resource_providers").get("resource_providers", [])

        def one(rp: dict[str, Any]) -> ResourceProvider:
            inv = self._placement_get(f"/resource_providers/{rp['uuid']}/inventories").get("inventories", {})
            use = self._placement_get(f"/resource_providers/{rp['uuid']}/usages").get("usages", {})
            return ResourceProvider(
                id=str(rp["uuid"]),
                name=str(rp.get("name") or rp["uuid"]),
                inventories={
                    rc: ProviderInventory(
                        total=int(i.get("total", 0)),
                        reserved=int(i.get("reserved", 0)),
                        allocation_ratio=float(i.get("allocation_ratio", 1.0)),
                        min_unit=int(i.get("min_unit", 1)),
                        max_unit=int(i["max_unit"]) if i.get("max_unit") is not None else None,
                        step_size=int(i.get("step_size", 1)),
                    )
                    for rc, i in inv.items()
                },
                usages={rc: int(v) for rc, v in use.items()},
                parent_id=rp.get("parent_provider_uuid"),
            )

        if not providers:
            return []
        # two small GETs per provider: side by side, so a few hundred hosts take seconds, not minutes
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(providers))) as pool:
            return sorted(pool.map(one, providers), key=lambda r: r.name)

    def aggregates(self) -> list[HostAggregate]:
        with _calling("compute"):
            return [
                HostAggregate(
                    name=str(a.name or ""),
                    availability_zone=a.availability_zone or (a.metadata or {}).get("availability_zone"),
                    hosts=tuple(a.hosts or ()),
                )
                for a in self.conn.compute.aggregates()
            ]


def connect(target: CloudTarget, *, api_timeout: float | None = None) -> OpenStackCloud:
    """Build the connection (no request is made until the first call)."""
    from openstack import connection

    region = load_region(target)
    if region is None:
        raise CloudError(Msg("err.cloud.not_found", cloud=target.name))  # load_region raises for a named cloud
    if api_timeout is not None:
        region.config["api_timeout"] = api_timeout
    with _calling("identity"):
        conn = connection.Connection(config=region)
    return OpenStackCloud(conn, target)


def _implements_port(cloud: OpenStackCloud) -> CloudPort:
    return cloud  # mypy proves here that OpenStackCloud satisfies the CloudPort protocol
