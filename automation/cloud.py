"""Post-provisioning: an Ansible inventory built from cloud servers, and a playbook run on them.

Each server is a host named after the server, with ``ansible_host`` = its first fixed IP and the
govops metadata as hostvars (``govops_department``, ``govops_system``, ``govops_owner``,
``govops_run_id``, ``govops_server_id``, ``govops_server_name``); hosts are grouped by department
(``dept_<code>``) and by system (``system_<name>``), Ansible group names made of ``[A-Za-z0-9_]``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govops.automation.play import PlayResult, run_play
from govops.cloud.ports import META_DEPARTMENT, META_OWNER, META_RUN, META_SYSTEM, CloudPort, Server
from govops.errors import GovopsError

if TYPE_CHECKING:
    from govops.automation.ports import PlaybookRunner, PlayRequest
    from govops.cloud.batch import ApplyResult
    from govops.observer import Observer
    from govops.store import Store


def group_name(prefix: str, value: str) -> str:
    """An Ansible-safe group name: ``system_`` + ``e-gov portal`` -> ``system_e_gov_portal``."""
    body = re.sub(r"\W", "_", value, flags=re.ASCII).strip("_") or "unnamed"
    return f"{prefix}_{body}"


def first_address(server: Server) -> str | None:
    """The first fixed IP; a cloud that does not say which are fixed: the first address at all."""
    if server.fixed_ips:
        return server.fixed_ips[0]
    for ips in server.addresses.values():
        if ips:
            return ips[0]
    return None


def host_vars(server: Server) -> dict[str, Any]:
    meta = server.metadata
    out: dict[str, Any] = {
        "govops_department": meta.get(META_DEPARTMENT, ""),
        "govops_system": meta.get(META_SYSTEM, ""),
        "govops_owner": meta.get(META_OWNER, ""),
        "govops_run_id": meta.get(META_RUN, ""),
        "govops_server_id": server.id,
        "govops_server_name": server.name,
    }
    address = first_address(server)
    if address is not None:
        out["ansible_host"] = address
    return out


def cloud_inventory(servers: Iterable[Server]) -> dict[str, Any]:
    """Ansible's YAML/JSON inventory shape for ``servers`` (see the module's docstring)."""
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    chosen = list(servers)
    names = [s.name for s in chosen]
    for server in chosen:
        # two servers of one name (possible across departments): the ID keeps them apart
        name = server.name if names.count(server.name) == 1 else f"{server.name}-{server.id[:8]}"
        hosts[name] = host_vars(server)
        for prefix, key in (("dept", META_DEPARTMENT), ("system", META_SYSTEM)):
            value = server.metadata.get(key)
            if value:
                groups.setdefault(group_name(prefix, value), {})[name] = {}
    children = {g: {"hosts": members} for g, members in sorted(groups.items())}
    return {"all": {"hosts": hosts, "children": children}}


@dataclass(frozen=True)
class PostOutcome:
    """What the playbook did on one VM (by server), for the apply's result."""

    server_id: str
    name: str
    status: str  # ok, changed, failed, unreachable, timeout, missing (no result: not run on it)
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"server_id": self.server_id, "name": self.name, "status": self.status, "detail": self.detail}


def outcomes_by_server(inventory: Mapping[str, Any], result: PlayResult) -> list[PostOutcome]:
    """The play's per-host results mapped back to the servers the inventory was built from."""
    by_host = {h.host: h for h in result.hosts}
    out = []
    for host, hv in inventory["all"]["hosts"].items():
        h = by_host.get(host)
        sid = str(hv.get("govops_server_id", ""))
        name = str(hv.get("govops_server_name", host))
        if h is None:
            out.append(PostOutcome(sid, name, "missing", result.error or "the playbook did not run on it"))
        else:
            out.append(PostOutcome(sid, name, h.status, h.reason))
    return out


def run_post(
    runner: PlaybookRunner,
    store: Store,
    request: PlayRequest,
    servers: list[Server],
    params: Mapping[str, Any],
    observer: Observer | None = None,
) -> tuple[PlayResult, list[PostOutcome]]:
    """Run ``request``'s playbook on ``servers`` (inventory from the cloud); results per server."""
    inventory = cloud_inventory(servers)
    request = dataclasses.replace(request, inventory=inventory)
    result = run_play(runner, store, request, observer=observer, params=params)
    return result, outcomes_by_server(inventory, result)


def post_create(
    port: CloudPort,
    runner: PlaybookRunner,
    store: Store,
    request: PlayRequest,
    server_id: str,
    cloud_run: str,
    observer: Observer | None = None,
) -> tuple[PlayResult, list[PostOutcome]]:
    """``vm create --post``: the playbook on the new VM, journaled in the create's run. A failure
    is in the outcomes; the VM is kept either way."""
    # fresh from the cloud: the addresses are only known once the server is up
    server = port.get_server(server_id)
    result, outcomes = run_post(runner, store, request, [server], {"cloud_run": cloud_run}, observer)
    store.journal_add(cloud_run, "post", "playbook", result.run_id, {"playbook": str(request.playbook)})
    return result, outcomes


@dataclass
class PostApply:
    """The --post step of an apply: the play (None when it did not run) and the outcome per VM."""

    play: PlayResult | None
    outcomes: dict[str, PostOutcome] = field(default_factory=dict)  # by server ID

    @property
    def failed(self) -> list[PostOutcome]:
        return [o for o in self.outcomes.values() if o.status not in ("ok", "changed")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "play": self.play.to_dict() if self.play else None,
            "vms": [o.to_dict() for o in self.outcomes.values()],
        }


def post_apply(
    port: CloudPort,
    runner: PlaybookRunner,
    store: Store,
    result: ApplyResult,
    request: PlayRequest,
    *,
    changed: bool = False,
    observer: Observer | None = None,
) -> PostApply:
    """The --post playbook on the VMs the apply created (and, with ``changed``, changed in place).
    Its failure keeps the VMs (they are what the spec asked for) and is reported per VM; a play that
    could not start at all is an ``error`` outcome on every VM."""
    wanted = {"created"} | ({"updated"} if changed else set())
    ids = [o.server_id for o in result.outcomes if o.status in wanted and o.server_id]
    if not ids:
        return PostApply(None)
    names = {o.server_id: o.name for o in result.outcomes}
    play: PlayResult | None = None
    try:
        servers = [port.get_server(sid) for sid in ids]
        play, outcomes = run_post(runner, store, request, servers, {"cloud_run": result.run_id}, observer)
        by_id = {o.server_id: o for o in outcomes}
    except GovopsError as exc:
        by_id = {sid: PostOutcome(sid, names.get(sid, sid), "error", exc.message) for sid in ids}
    play_run = play.run_id if play else request.run_id
    store.journal_add(result.run_id, "post", "playbook", play_run, {"playbook": str(request.playbook)})
    return PostApply(play, by_id)
