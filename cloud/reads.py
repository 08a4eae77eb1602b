"""A ``CloudPort`` that asks the cloud each listing once, for a job that only reads (a report).

The capacity report's parts (quotas, Placement's headroom, rightsizing, stopped servers) each list
what they need, and several need the same listing: every server of the cloud (rightsizing and the
stopped-server search), the flavors (free slots and flavor suggestions), the projects. Wrapped in
``SharedReads``, the first caller sends the request and any caller asking the same thing meanwhile
or later gets its answer (a list of its own); callers in other threads wait for the request in
flight instead of sending it again. A failed request is not kept: each waiting caller gets the same
error, and the next caller asks again. Writes go straight to the cloud and forget what was read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Hashable, Mapping
from concurrent.futures import Future
from typing import TypeVar

from govops.cloud.ports import (
    CatalogEntry,
    CloudPort,
    Flavor,
    FloatingIP,
    HostAggregate,
    Identity,
    Image,
    Network,
    Project,
    QuotaSet,
    ResourceProvider,
    Server,
    ServerRequest,
    Volume,
)

T = TypeVar("T")


class SharedReads:
    """``inner`` with its listings and lookups requested once per distinct argument set."""

    def __init__(self, inner: CloudPort) -> None:
        self.inner = inner
        self._lock = threading.Lock()
        self._answers: dict[tuple[Hashable, ...], Future[object]] = {}
        self.requests = 0  # requests actually sent to ``inner`` through the shared reads

    def _once(self, key: tuple[Hashable, ...], read: Callable[[], T]) -> T:
        with self._lock:
            future = self._answers.get(key)
            mine = future is None
            if future is None:
                future = Future()
                self._answers[key] = future
                self.requests += 1
        if mine:
            try:
                future.set_result(read())
            except BaseException as exc:
                with self._lock:
                    self._answers.pop(key, None)
                future.set_exception(exc)
                raise
        result: T = future.result()  # type: ignore[assignment]
        return result

    def forget(self) -> None:
        with self._lock:
            self._answers.clear()

    def _list(self, key: tuple[Hashable, ...], read: Callable[[], list[T]]) -> list[T]:
        return list(self._once(key, read))

    # -- read once -------------------------------------------------------------------------------------
    def identity(self) -> Identity:
        return self._once(("identity",), self.inner.identity)

    def catalog(self) -> list[CatalogEntry]:
        return self._list(("catalog",), self.inner.catalog)

    def probe(self, service_type: str) -> str:
        return self.inner.probe(service_type)

    def find_project(self, name_or_id: str) -> Project | None:
        return self._once(("find_project", name_or_id), lambda: self.inner.find_project(name_or_id))

    def projects(self) -> list[Project]:
        return self._list(("projects",), self.inner.projects)

    def find_flavor(self, name_or_id: str) -> Flavor | None:
        return self._once(("find_flavor", name_or_id), lambda: self.inner.find_flavor(name_or_id))

    def flavors(self) -> list[Flavor]:
        return self._list(("flavors",), self.inner.flavors)

    def find_image(self, name_or_id: str) -> Image | None:
        return self.inner.find_image(name_or_id)

    def find_network(self, name_or_id: str) -> Network | None:
        return self.inner.find_network(name_or_id)

    def find_server_group(self, name_or_id: str, project_id: str | None = None) -> str | None:
        return self.inner.find_server_group(name_or_id, project_id)

    def get_quotas(self, project_id: str, *, resources: Collection[str] | None = None) -> QuotaSet:
        wanted = None if resources is None else tuple(sorted(resources))
        return self._once(
            ("get_quotas", project_id, wanted), lambda: self.inner.get_quotas(project_id, resources=resources)
        )

    def servers(
        self,
        project_id: str | None = None,
        *,
        name: str | None = None,
        status: str | None = None,
        host: str | None = None,
    ) -> list[Server]:
        return self._list(
            ("servers", project_id, name, status, host),
            lambda: self.inner.servers(project_id, name=name, status=status, host=host),
        )

    def get_server(self, server_id: str) -> Server:
        return self.inner.get_server(server_id)  # a server being watched changes: never shared

    def volumes(self, project_id: str | None = None) -> list[Volume]:
        return self._list(("volumes", project_id), lambda: self.inner.volumes(project_id))

    def floating_ips(self, project_id: str | None = None) -> list[FloatingIP]:
        return self._list(("floating_ips", project_id), lambda: self.inner.floating_ips(project_id))

    def resource_providers(self) -> list[ResourceProvider]:
        return self._list(("resource_providers",), self.inner.resource_providers)

    def aggregates(self) -> list[HostAggregate]:
        return self._list(("aggregates",), self.inner.aggregates)

    # -- writes: passed on, and what was read is no longer true -----------------------------------------
    def set_quotas(self, project_id: str, limits: Mapping[str, int]) -> None:
        self.forget()
        self.inner.set_quotas(project_id, limits)

    def create_server(self, project: Project, request: ServerRequest) -> Server:
        self.forget()
        return self.inner.create_server(project, request)

    def delete_server(self, server_id: str) -> None:
        self.forget()
        self.inner.delete_server(server_id)

    def replace_server_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        self.forget()
        self.inner.replace_server_metadata(server_id, metadata)

    def start_server(self, server_id: str) -> None:
        self.forget()
        self.inner.start_server(server_id)

    def stop_server(self, server_id: str) -> None:
        self.forget()
        self.inner.stop_server(server_id)

    def reboot_server(self, server_id: str, *, hard: bool = False) -> None:
        self.forget()
        self.inner.reboot_server(server_id, hard=hard)

    def resize_server(self, server_id: str, flavor_id: str) -> None:
        self.forget()
        self.inner.resize_server(server_id, flavor_id)

    def confirm_resize(self, server_id: str) -> None:
        self.forget()
        self.inner.confirm_resize(server_id)


def _implements_port(reads: SharedReads) -> CloudPort:
    return reads  # mypy proves here that SharedReads satisfies the CloudPort protocol
