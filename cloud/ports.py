"""The cloud port: what govops needs from an OpenStack cloud, as typed models and errors.

Services (``govops.cloud.quota``, ``govops.cloud.vms``, the batches) talk only to ``CloudPort``.
``govops.cloud.openstack.OpenStackCloud`` implements it with openstacksdk; ``tests.fakes_cloud``
implements it in memory for unit tests, and a contract test runs the same assertions against both.

Units follow the OpenStack APIs so numbers compare one to one with what Nova, Cinder and Neutron
report: RAM in MiB, disks and volumes in GiB.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from govops.errors import ExitCode, GovopsError, PeerError, PeerErrorInfo
from govops.i18n import Text, Translator

# Metadata every VM govops creates carries; batches look servers up by these keys, never by a
# state file.
META_DEPARTMENT = "department"
META_OWNER = "owner"
META_SYSTEM = "system"
META_RUN = "run_id"
MANAGED_KEYS = (META_DEPARTMENT, META_OWNER, META_SYSTEM, META_RUN)

# Quota resources, in govops' names (the keys of ``QuotaSet.items``), with the API that owns each.
QUOTA_RESOURCES: dict[str, str] = {
    "cores": "compute",
    "ram_mb": "compute",
    "instances": "compute",
    "volumes": "block-storage",
    "gigabytes": "block-storage",
    "floating_ips": "network",
    "ports": "network",
}

# Nova's server states that end a wait one way or the other.
ERROR_STATES = frozenset({"ERROR"})


def as_dict(obj: Any) -> dict[str, Any]:
    """A model as plain JSON-able data (for ``-o json`` and the results store)."""
    return dataclasses.asdict(obj)


# -- models -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    domain_id: str = "default"
    enabled: bool = True


@dataclass(frozen=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    is_public: bool = True


@dataclass(frozen=True)
class Image:
    id: str
    name: str
    status: str = "active"
    min_disk_gb: int = 0
    min_ram_mb: int = 0
    size_bytes: int | None = None


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    project_id: str | None = None
    is_shared: bool = False
    is_external: bool = False
    status: str = "ACTIVE"


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size_gb: int
    status: str
    project_id: str | None = None
    attached_to: tuple[str, ...] = ()  # server IDs
    metadata: Mapping[str, str] = field(default_factory=dict)
    created_at: str | None = None
    bootable: bool = False


@dataclass(frozen=True)
class FloatingIP:
    id: str
    address: str
    status: str
    project_id: str | None = None
    port_id: str | None = None
    fixed_address: str | None = None


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str
    project_id: str
    flavor: str = ""  # the flavor's name (Nova >= 2.47 embeds it, not its ID)
    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    image_id: str | None = None
    host: str | None = None  # the compute host (admin only)
    az: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # network name -> IPs
    fixed_ips: tuple[str, ...] = ()  # the port addresses, in Nova's order (floating IPs left out)
    volumes: tuple[str, ...] = ()  # attached volume IDs
    owned_volumes: tuple[str, ...] = ()  # those Nova deletes with the server (delete_on_termination)
    task_state: str | None = None
    fault: str | None = None  # Nova's fault message once the server is in ERROR
    created_at: str | None = None
    updated_at: str | None = None
    launched_at: str | None = None

    @property
    def department(self) -> str | None:
        return self.metadata.get(META_DEPARTMENT)

    @property
    def run_id(self) -> str | None:
        return self.metadata.get(META_RUN)


@dataclass(frozen=True)
class ServerRequest:
    """Everything needed to create one server; IDs are resolved by the service beforehand."""

    name: str
    flavor_id: str
    image_id: str
    network_ids: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    user_data: str | None = None
    key_name: str | None = None
    availability_zone: str | None = None
    server_group_id: str | None = None
    boot_volume_gb: int | None = None  # boot from a new volume of this size (deleted with the server)
    data_volume_gb: int | None = None  # plus an empty data volume (deleted with the server)
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuotaUsage:
    """One quota: ``limit`` -1 means unlimited."""

    limit: int
    in_use: int = 0
    reserved: int = 0

    @property
    def unlimited(self) -> bool:
        return self.limit < 0

    @property
    def free(self) -> int | None:
        """What can still be allocated; None when unlimited. Never negative (over-use happens)."""
        if self.unlimited:
            return None
        return max(0, self.limit - self.in_use - self.reserved)


@dataclass(frozen=True)
class QuotaSet:
    """A project's quotas by govops resource name (``QUOTA_RESOURCES``); absent: API not offered."""

    project_id: str
    items: Mapping[str, QuotaUsage]

    def get(self, resource: str) -> QuotaUsage | None:
        return self.items.get(resource)


@dataclass(frozen=True)
class ProviderInventory:
    """One resource class of a Placement resource provider, as ``openstack resource provider
    inventory list`` shows it."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int | None = None  # None: no per-allocation limit below the total
    step_size: int = 1

    @property
    def capacity(self) -> int:
        """What Placement lets be allocated: (total - reserved) x allocation_ratio, rounded down as
        Placement does."""
        return max(0, int((self.total - self.reserved) * self.allocation_ratio))


@dataclass(frozen=True)
class ResourceProvider:
    """A Placement resource provider (one per compute node) with its inventories and usages
    (``openstack resource provider usage show``), by resource class (VCPU, MEMORY_MB, DISK_GB...)."""

    id: str
    name: str
    inventories: Mapping[str, ProviderInventory] = field(default_factory=dict)
    usages: Mapping[str, int] = field(default_factory=dict)
    parent_id: str | None = None


@dataclass(frozen=True)
class HostAggregate:
    """A Nova host aggregate; ``availability_zone`` set makes it an availability zone."""

    name: str
    availability_zone: str | None
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Identity:
    """Who the credentials authenticate as, without any secret."""

    auth_url: str
    user: str
    project: str
    project_id: str
    region: str | None = None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogEntry:
    service_type: str
    name: str
    endpoints: Mapping[str, str] = field(default_factory=dict)  # interface -> URL (this region)


# -- errors --------------------------------------------------------------------------------------------


class CloudError(GovopsError):
    """The cloud could not do what was asked (no HTTP request to point at, e.g. a wait deadline)."""


class CloudApiError(PeerError):
    """An OpenStack API answered with an error: carries HTTP status, request id, method and URL."""

    def __init__(
        self,
        message: Text,
        *,
        status: int | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        service: str = "OpenStack",
        hint: Text | None = None,
    ) -> None:
        request = " ".join(x for x in (method, url) if x)
        super().__init__(
            message, PeerErrorInfo(service, request=request, status=status, request_id=request_id), hint=hint
        )
        self.status = status
        self.request_id = request_id
        self.method = method
        self.url = url
        self.reason = message


class CloudNotFound(CloudApiError):
    """A named or referenced resource does not exist (unknown flavor, image, server...): bad input."""

    exit_code = ExitCode.USAGE


class CloudAuthError(CloudApiError):
    """Credentials refused (401) or not allowed to do this (403 other than a quota)."""


class RateLimited(CloudApiError):
    """HTTP 413/429: the API asks us to come back after ``retry_after`` seconds."""

    def __init__(self, message: Text, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class CloudUnreachable(CloudError):
    """No answer: connection refused or timed out. ``maybe_applied``: the request may have been
    received (a read timeout), so a create must be looked up before it is retried."""

    def __init__(self, message: Text, *, maybe_applied: bool, hint: Text | None = None) -> None:
        super().__init__(message, hint=hint)
        self.maybe_applied = maybe_applied


@dataclass(frozen=True)
class Shortfall:
    resource: str
    needed: int
    free: int

    def __str__(self) -> str:
        return self.render_in(Translator("en"))

    def render_in(self, t: Translator) -> str:
        return t("err.quota.shortfall", needed=self.needed, resource=self.resource, free=self.free)


class QuotaExceeded(CloudError):
    """Refused for quota: either our pre-check (``shortfalls``) or the API's own 403/413 answer."""

    def __init__(
        self,
        message: Text,
        *,
        shortfalls: Sequence[Shortfall] = (),
        api_error: CloudApiError | None = None,
        hint: Text | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.shortfalls = tuple(shortfalls)
        self.api_error = api_error


class ServerFault(CloudError):
    """A server went to ERROR; the message carries Nova's fault."""

    def __init__(self, message: Text, *, server: Server) -> None:
        super().__init__(message)
        self.server = server


class WaitTimeout(CloudError):
    """A wait passed its deadline; the server is left as it was (its last state is given)."""

    def __init__(self, message: Text, *, server: Server | None, hint: Text | None = None) -> None:
        super().__init__(message, hint=hint)
        self.server = server


# -- the port -----------------------------------------------------------------------------------------


@runtime_checkable
class CloudPort(Protocol):
    """One authenticated cloud (region). ``project_id=None`` in a listing means every project
    (admin); lookups return None when nothing matches, gets raise ``CloudNotFound``."""

    # identity and catalog
    def identity(self) -> Identity: ...
    def catalog(self) -> list[CatalogEntry]: ...
    def probe(self, service_type: str) -> str:
        """One cheap authenticated GET on that API; returns a short description (its version)."""
        ...

    def find_project(self, name_or_id: str) -> Project | None: ...
    def projects(self) -> list[Project]: ...

    # catalogue of things to build from
    def find_flavor(self, name_or_id: str) -> Flavor | None: ...
    def flavors(self) -> list[Flavor]: ...
    def find_image(self, name_or_id: str) -> Image | None: ...
    def find_network(self, name_or_id: str) -> Network | None: ...
    def find_server_group(self, name_or_id: str, project_id: str | None = None) -> str | None: ...

    # quotas
    def get_quotas(self, project_id: str, *, resources: Collection[str] | None = None) -> QuotaSet:
        """The project's quotas with their usage; ``resources`` (``QUOTA_RESOURCES`` names): only
        these are needed, so an API owning none of them is not asked (the set may hold more)."""
        ...

    def set_quotas(self, project_id: str, limits: Mapping[str, int]) -> None:
        """Set only the resources given (``QUOTA_RESOURCES`` names); every other limit is untouched."""
        ...

    # servers
    def servers(
        self,
        project_id: str | None = None,
        *,
        name: str | None = None,
        status: str | None = None,
        host: str | None = None,
    ) -> list[Server]:
        """Servers with details; ``name`` matches exactly (Nova's own filter is a regex)."""
        ...

    def get_server(self, server_id: str) -> Server: ...
    def create_server(self, project: Project, request: ServerRequest) -> Server:
        """Create in ``project`` (the credentials are scoped to it); returns at once, in BUILD."""
        ...

    def delete_server(self, server_id: str) -> None: ...
    def replace_server_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        """Make the server's metadata exactly ``metadata`` (keys not in it are removed)."""
        ...

    def start_server(self, server_id: str) -> None: ...
    def stop_server(self, server_id: str) -> None: ...
    def reboot_server(self, server_id: str, *, hard: bool = False) -> None: ...
    def resize_server(self, server_id: str, flavor_id: str) -> None: ...
    def confirm_resize(self, server_id: str) -> None: ...

    # storage and addresses
    def volumes(self, project_id: str | None = None) -> list[Volume]: ...
    def floating_ips(self, project_id: str | None = None) -> list[FloatingIP]: ...

    # capacity: Placement (admin by default policy) and Nova's aggregates
    def resource_providers(self) -> list[ResourceProvider]:
        """Every resource provider with its inventories and usages (403 for non-admin credentials)."""
        ...

    def aggregates(self) -> list[HostAggregate]: ...
