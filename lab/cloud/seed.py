"""Seed the running lab cloud through its real APIs (openstacksdk), then describe it.

The catalog is registered before any Nova service starts; everything else (flavors, image, network,
availability zones, one project + user + quotas per department, servers, volumes) once the
computes have reported to Placement. Department servers are created with the department's own
credentials, so Nova applies the department's real quotas while seeding.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import yaml
from govops.lab.cloud.layout import CLOUD_NAME, REGION, Layout, Ports, write_private
from govops.lab.cloud.plan import CloudPlan, DepartmentPlan, PlannedServer, flavor
from govops.lab.processes import LabError
from govops.observer import Observer

IMAGE_NAME = "cirros-lab"
NETWORK_NAME = "lab-net"
SUBNET_CIDR = "10.40.0.0/16"
DOMAIN = "Default"
WORKERS = 6
BUILD_TIMEOUT = 600.0
CREATE_ATTEMPTS = 3

Conn = Any  # openstack.connection.Connection: openstacksdk is imported lazily (CLI start-up time)


def department_user(code: str) -> str:
    return f"ops-{code}"


def department_cloud(code: str) -> str:
    return f"{CLOUD_NAME}-{code}"


def _auth(ports: Ports, username: str, password: str, project: str) -> dict[str, str]:
    return {
        "auth_url": f"http://127.0.0.1:{ports.keystone}/v3",
        "username": username,
        "password": password,
        "project_name": project,
        "user_domain_name": DOMAIN,
        "project_domain_name": DOMAIN,
    }


def connect(ports: Ports, username: str, password: str, project: str) -> Conn:
    from openstack import connection

    # Connection(...) with explicit auth reads neither clouds.yaml nor OS_* variables: the lab's own
    # shell exports (OS_CLOUD) must not redirect its seeding.
    return connection.Connection(
        auth=_auth(ports, username, password, project),
        region_name=REGION,
        identity_api_version="3",
        interface="public",
    )


def admin(ports: Ports, secrets: dict[str, str]) -> Conn:
    return connect(ports, "admin", secrets["admin"], "admin")


def register_catalog(ports: Ports, secrets: dict[str, str]) -> None:
    """Services and endpoints, and the ``service`` role the services' admin tokens must carry."""
    conn = admin(ports, secrets)
    base = "http://127.0.0.1"
    services = [
        ("placement", "placement", f"{base}:{ports.placement}"),
        ("glance", "image", f"{base}:{ports.glance}"),
        ("nova", "compute", f"{base}:{ports.nova}/v2.1"),
        ("neutron", "network", f"{base}:{ports.neutron}"),
        ("cinder", "block-storage", f"{base}:{ports.cinder}/v3"),
        ("cinderv3", "volumev3", f"{base}:{ports.cinder}/v3"),
    ]
    existing = {s.type: s for s in conn.identity.services()}
    endpoints: dict[str, list[Any]] = {}
    if existing:
        for ep in conn.identity.endpoints():
            endpoints.setdefault(ep.service_id, []).append(ep)
    for name, kind, url in services:
        svc = existing.get(kind)
        if svc is None:
            svc = conn.identity.create_service(name=name, type=kind, is_enabled=True)
        have = {ep.interface: ep for ep in endpoints.get(svc.id, [])}
        for iface in ("public", "internal", "admin"):
            ep = have.get(iface)
            if ep is None:
                conn.identity.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=REGION)
            elif ep.url != url:  # a cloud restored from a snapshot made with other ports
                conn.identity.update_endpoint(ep, url=url)
    role = conn.identity.find_role("service") or conn.identity.create_role(name="service")
    conn.identity.assign_project_role_to_user(
        conn.identity.find_project("admin"), conn.identity.find_user("admin"), role
    )


def write_clouds_file(layout: Layout, ports: Ports, secrets: dict[str, str], plan: CloudPlan) -> None:
    def entry(auth: dict[str, str]) -> dict[str, Any]:
        return {
            "auth": auth,
            "region_name": REGION,
            "identity_api_version": 3,
            "interface": "public",
        }

    passwords = layout.department_passwords([d.department.code for d in plan.departments])
    clouds = {CLOUD_NAME: entry(_auth(ports, "admin", secrets["admin"], "admin"))}
    for dp in plan.departments:
        code = dp.department.code
        clouds[department_cloud(code)] = entry(
            _auth(ports, department_user(code), passwords[code], dp.department.project)
        )
    text = "# Written by `govops lab up`: the lab cloud's admin and one cloud per department user.\n"
    write_private(layout.clouds_file, text + yaml.safe_dump({"clouds": clouds}, sort_keys=False))


def server_batches(servers: Iterable[PlannedServer]) -> list[list[PlannedServer]]:
    """Servers one multi-create request can make: same flavor and same metadata (the system)."""
    batches: dict[tuple[str, str], list[PlannedServer]] = {}
    for s in servers:
        batches.setdefault((s.flavor, s.system), []).append(s)
    return list(batches.values())


def batch_name(batch: list[PlannedServer], index: int) -> str:
    """The name Nova gives the ``index``-th server of ``batch`` (-1: the name in the request).

    One server is created under its own name; a batch under its first server's name with a suffix no
    planned name has, which Nova extends with ``-1`` … ``-<n>``.
    """
    if len(batch) == 1:
        return batch[0].name
    return f"{batch[0].name}-batch" if index < 0 else interim_name(batch[0], index)


def interim_name(first: PlannedServer, index: int) -> str:
    """The name Nova gives the ``index``-th server of a batch of more than one starting with ``first``."""
    return f"{first.name}-batch-{index + 1}"


def _names_to_ids(conn: Conn) -> dict[str, str]:
    """Name -> id of the servers ``conn``'s project has (a plain listing: no details, no Neutron calls)."""
    return {s.name: s.id for s in conn.compute.servers(details=False)}


def _parallel(fn: Callable[[Any], Any], items: Iterable[Any], workers: int = WORKERS) -> list[Any]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


class Seeder:
    def __init__(
        self,
        layout: Layout,
        ports: Ports,
        secrets: dict[str, str],
        plan: CloudPlan,
        observer: Observer,
        discover_hosts: Callable[[], None],
        dead_computes: Callable[[], list[str]] = list,
    ) -> None:
        self.dead_computes = dead_computes  # names of nova-compute processes that exited
        self.layout = layout
        self.ports = ports
        self.secrets = secrets
        self.plan = plan
        self.obs = observer
        self.discover_hosts = discover_hosts
        self.conn = admin(ports, secrets)
        self.timings: dict[str, float] = {}
        self._member_role: Any = None
        self._department_conns: dict[str, Conn] = {}

    @property
    def member_role(self) -> Any:
        if self._member_role is None:
            self._member_role = self.conn.identity.find_role("member", ignore_missing=False)
        return self._member_role

    def _phase(self, name: str, started: float) -> float:
        now = time.monotonic()
        self.timings[name] = round(now - started, 1)
        return now

    # -- cloud-wide objects ------------------------------------------------------------------------
    def wait_hypervisors(self, timeout: float = 240) -> None:
        wanted = {h.name for h in self.plan.hypervisors}
        deadline = time.monotonic() + timeout
        discovered = False
        while True:
            rps = {rp.name for rp in self.conn.placement.resource_providers()}
            if wanted <= rps and not discovered:
                # Map the new computes to the cell now rather than on the scheduler's next period.
                self.discover_hosts()
                discovered = True
            if discovered:
                hvs = {h.name for h in self.conn.compute.hypervisors()}
                if wanted <= hvs:
                    return
            if time.monotonic() > deadline:
                raise LabError(f"hypervisors did not register within {timeout:.0f} s (have: {sorted(rps)})")
            time.sleep(1)

    def availability_zones(self) -> None:
        compute = self.conn.compute
        existing = {a.name: a for a in compute.aggregates()}
        for az in sorted({h.az for h in self.plan.hypervisors}):
            agg = existing.get(az) or compute.create_aggregate(name=az, availability_zone=az)
            hosts = set(agg.hosts or [])
            for hv in self.plan.hypervisors:
                if hv.az == az and hv.name not in hosts:
                    compute.add_host_to_aggregate(agg, hv.name)

    def flavors(self) -> dict[str, str]:
        compute = self.conn.compute
        have = {f.name: f.id for f in compute.flavors(is_public=None)}
        for f in self.plan.flavors:
            if f.name not in have:
                have[f.name] = compute.create_flavor(
                    name=f.name, vcpus=f.vcpus, ram=f.ram_mb, disk=f.disk_gb, is_public=True
                ).id
        return have

    def image(self) -> str:
        img = self.conn.image.find_image(IMAGE_NAME)
        if img is None:
            img = self.conn.image.create_image(
                name=IMAGE_NAME,
                data=b"\0" * 1024,
                disk_format="raw",
                container_format="bare",
                visibility="public",
                wait=True,
            )
        return str(img.id)

    def network(self) -> str:
        net = self.conn.network.find_network(NETWORK_NAME)
        if net is None:
            net = self.conn.network.create_network(name=NETWORK_NAME, is_shared=True)
        if not list(self.conn.network.subnets(network_id=net.id)):
            self.conn.network.create_subnet(
                network_id=net.id, name=f"{NETWORK_NAME}-v4", ip_version=4, cidr=SUBNET_CIDR
            )
        return str(net.id)

    # -- departments ---------------------------------------------------------------------------------
    def department_conn(self, dp: DepartmentPlan, password: str) -> Conn:
        """The department user's connection, one per department: each new one is another Keystone login."""
        d = dp.department
        conn = self._department_conns.get(d.code)
        if conn is None:
            conn = self._department_conns[d.code] = connect(self.ports, department_user(d.code), password, d.project)
        return conn

    def department(self, dp: DepartmentPlan, password: str) -> str:
        ident = self.conn.identity
        d = dp.department
        project = ident.find_project(d.project, domain_id="default") or ident.create_project(
            name=d.project, domain_id="default", description=d.name_en
        )
        user = ident.find_user(department_user(d.code), domain_id="default") or ident.create_user(
            name=department_user(d.code), password=password, domain_id="default", default_project_id=project.id
        )
        ident.assign_project_role_to_user(project, user, self.member_role)
        q = dp.quotas
        self.conn.set_compute_quotas(project.id, cores=q.cores, ram=q.ram_mb, instances=q.instances)
        self.conn.set_volume_quotas(project.id, gigabytes=q.gigabytes, volumes=q.volumes)
        self.conn.set_network_quotas(project.id, floatingip=q.floating_ips, port=q.ports)
        return str(project.id)

    def servers(
        self, dp: DepartmentPlan, password: str, image: str, net: str, flavors: dict[str, str]
    ) -> list[dict[str, str]]:
        """The department's servers, one multi-create request per batch of alike servers.

        Nova schedules and validates a request once however many servers it makes, so batching saves
        most of the per-request cost (network and port-quota checks in Neutron, Placement's allocation
        candidates, the conductor's build). Nova names a batch's servers ``<name>-1`` … ``<name>-<n>``;
        :meth:`rename` gives them their planned names once they are built. Quotas are checked for the
        whole batch. Returns, per batch, planned name -> server id in the batch's order.
        """
        d = dp.department
        conn = self.department_conn(dp, password)
        existing = _names_to_ids(conn)
        batches: list[dict[str, str]] = []
        for batch in server_batches(dp.servers):
            ids = {s.name: existing[s.name] for s in batch if s.name in existing}
            todo = [s for s in batch if s.name not in existing]
            # An interrupted `up` may have left a batch created but not (all) renamed: adopt it. Renaming
            # goes last first, so the servers still to rename are the first ones of the batch as created.
            made = {s.name: existing[n] for i, s in enumerate(todo) if (n := interim_name(todo[0], i)) in existing}
            if todo and not made:
                made = self._create_batch(conn, dp, todo, image, net, flavors)
            elif len(made) != len(todo):
                raise LabError(
                    f"{d.project}: only {len(made)} of the {len(todo)} servers of batch {batch_name(todo, -1)} exist"
                )
            batches.append({s.name: ids.get(s.name) or made[s.name] for s in batch})
            for s in batch:
                self.obs.advanced(s.name, "created")
        return batches

    def rename(self, batches: list[dict[str, str]], found: dict[str, Any]) -> None:
        """Planned names for servers Nova named after their batch.

        Only once they are built: renaming a server still waiting for a host updates its build request,
        which the conductor may already have read (a known race in Nova), and the rename is lost.
        Within a batch last first: until its first server is renamed, a rerun adopts the rest.
        """

        def one(batch: dict[str, str]) -> None:
            for name, server_id in reversed(batch.items()):
                if found[server_id].name != name:
                    self.conn.compute.update_server(server_id, name=name)

        _parallel(one, batches)

    def _create_batch(
        self, conn: Conn, dp: DepartmentPlan, batch: list[PlannedServer], image: str, net: str, flavors: dict[str, str]
    ) -> dict[str, str]:
        """Create ``batch`` in one request; planned name -> id of the server Nova made for it."""
        from keystoneauth1.exceptions import ConnectFailure
        from openstack.exceptions import HttpException

        first = batch[0]
        request = batch_name(batch, -1)
        wanted = {batch_name(batch, i): s.name for i, s in enumerate(batch)}
        for attempt in range(CREATE_ATTEMPTS):
            try:
                conn.compute.create_server(
                    name=request,
                    flavor_id=flavors[first.flavor],
                    image_id=image,
                    networks=[{"uuid": net}],
                    metadata={"department": dp.department.code, "owner": dp.owner, "system": first.system},
                    min_count=len(batch),
                    max_count=len(batch),
                )
                break
            except (ConnectFailure, HttpException) as exc:
                # An overloaded machine can drop the answer while Nova goes on creating the servers:
                # look before asking again, so a retry never makes twins.
                transient = isinstance(exc, ConnectFailure) or exc.status_code in (502, 503, 504)
                if not transient or attempt + 1 == CREATE_ATTEMPTS:
                    raise
                time.sleep(5)
                if wanted.keys() & _names_to_ids(conn).keys():
                    break
        made = {name: server_id for name, server_id in _names_to_ids(conn).items() if name in wanted}
        if len(made) != len(batch):
            raise LabError(f"Nova made {len(made)} of the {len(batch)} servers asked for as {request}")
        return {wanted[name]: server_id for name, server_id in made.items()}

    def volumes(self, dp: DepartmentPlan, password: str) -> None:
        d = dp.department
        conn = self.department_conn(dp, password)
        existing = {v.name for v in conn.block_storage.volumes()}
        for s in dp.servers:
            name = f"{s.name}-data"
            if s.volume_gb is not None and name not in existing:
                conn.block_storage.create_volume(
                    name=name, size=s.volume_gb, metadata={"department": d.code, "server": s.name}
                )

    def _servers_in(self, status: str, ids: set[str]) -> dict[str, Any]:
        # Nova filters by status itself; without details it neither builds each server's full view nor
        # asks Neutron for every server's ports and security groups, on each poll.
        listed = self.conn.compute.servers(details=False, all_projects=True, status=status)
        return {s.id: s for s in listed if s.id in ids}

    def wait_servers(self, ids: set[str], status: str, timeout: float = BUILD_TIMEOUT) -> dict[str, Any]:
        """Server id -> server (id and name), once every one of ``ids`` has ``status``."""
        deadline = time.monotonic() + timeout
        while True:
            errors = self._servers_in("ERROR", ids)
            if errors:
                first = self.conn.compute.get_server(next(iter(errors)))
                fault = (first.fault or {}).get("message", "")
                raise LabError(f"{len(errors)} lab server(s) went to ERROR, e.g. {first.name}: {fault}")
            found = self._servers_in(status, ids)
            done = len(found)
            if done == len(ids):
                return found
            if time.monotonic() > deadline:
                raise LabError(f"only {done}/{len(ids)} lab servers reached {status} in {timeout:.0f} s")
            time.sleep(2)

    def wait_volumes(self, count: int, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            vols = list(self.conn.block_storage.volumes(all_projects=True))
            bad = [v for v in vols if v.status == "error"]
            if bad:
                raise LabError(f"{len(bad)} lab volume(s) went to error, e.g. {bad[0].name}")
            if sum(1 for v in vols if v.status == "available") >= count:
                return
            if time.monotonic() > deadline:
                raise LabError(f"lab volumes not available within {timeout:.0f} s")
            time.sleep(2)

    # -- all of it -----------------------------------------------------------------------------------
    def run(self) -> None:
        plan = self.plan
        t = time.monotonic()
        self.obs.message("waiting for the hypervisors to register")
        self.wait_hypervisors()
        t = self._phase("hypervisors", t)
        self.availability_zones()
        flavors = self.flavors()
        image = self.image()
        net = self.network()
        t = self._phase("flavors_image_network", t)
        passwords = self.layout.department_passwords([d.department.code for d in plan.departments])
        self.obs.message(f"creating {len(plan.departments)} projects with users and quotas")
        _parallel(lambda dp: self.department(dp, passwords[dp.department.code]), plan.departments)
        t = self._phase("departments", t)
        self.obs.message(f"creating {len(plan.servers)} servers and their volumes")
        self.obs.started(len(plan.servers), "creating lab servers")
        batches = [
            batch
            for made in _parallel(
                lambda dp: self.servers(dp, passwords[dp.department.code], image, net, flavors), plan.departments
            )
            for batch in made
        ]
        ids = {name: server_id for batch in batches for name, server_id in batch.items()}
        _parallel(lambda dp: self.volumes(dp, passwords[dp.department.code]), plan.departments)
        t = self._phase("create_requests", t)
        found = self.wait_servers(set(ids.values()), "ACTIVE")
        self.rename(batches, found)
        stop = [ids[s.name] for s in plan.servers if s.stopped]
        _parallel(self.conn.compute.stop_server, stop)
        if stop:
            self.wait_servers(set(stop), "SHUTOFF")
        self.wait_volumes(sum(1 for s in plan.servers if s.volume_gb is not None))
        self._phase("servers_active", t)
        self.obs.finished()

    def wait_computes(self, since: datetime, timeout: float = 240) -> None:
        """Until every planned host's nova-compute has reported at or after ``since``.

        The scheduler only places servers on hosts whose service reported lately, and a restarted or
        restored database still holds the heartbeats of the computes that ran before.
        """
        wanted = {h.name for h in self.plan.hypervisors}
        since = since.replace(microsecond=0)  # Nova keeps whole seconds
        deadline = time.monotonic() + timeout
        while True:
            fresh = set()
            for svc in self.conn.compute.services(binary="nova-compute"):
                try:
                    seen = datetime.fromisoformat(str(svc.updated_at)).replace(tzinfo=UTC)
                except ValueError:
                    continue
                if svc.state == "up" and seen >= since:
                    fresh.add(svc.host)
            if wanted <= fresh:
                return
            dead = self.dead_computes()
            if dead:
                raise LabError(f"{', '.join(dead)} exited during start-up; see the lab's logs/ and cloud/log/")
            if time.monotonic() > deadline:
                raise LabError(f"nova-compute did not report within {timeout:.0f} s on {sorted(wanted - fresh)}")
            time.sleep(1)

    def adopt(self, snapshot_made: datetime) -> None:
        """Take over a cloud restored from a snapshot made at ``snapshot_made``: this lab's passwords for
        its department users, and hosts the scheduler sees up.

        Keystone's admin password and the endpoints were reset by bootstrap and ``register_catalog``;
        everything else the plan seeds is in the restored databases already.
        """
        t = time.monotonic()
        self.obs.message("waiting for the hypervisors to report")
        self.wait_hypervisors()
        self.wait_computes(snapshot_made)
        t = self._phase("hypervisors", t)
        plan = self.plan
        passwords = self.layout.department_passwords([d.department.code for d in plan.departments])
        ident = self.conn.identity
        users = {u.name: u for u in ident.users(domain_id="default")}

        def reset(dp: DepartmentPlan) -> None:
            name = department_user(dp.department.code)
            user = users.get(name)
            if user is None:
                raise LabError(f"the cloud snapshot has no user {name}: remake it with `govops lab install --cloud`")
            ident.update_user(user, password=passwords[dp.department.code])

        _parallel(reset, plan.departments)
        self._phase("department_passwords", t)

    def inventory(self) -> dict[str, Any]:
        """The cloud as it is now, read back from its APIs (the Prometheus lab builds on this file)."""
        conn = self.conn
        az_of: dict[str, str] = {}
        for agg in conn.compute.aggregates():
            for host in agg.hosts or []:
                az_of[host] = agg.availability_zone or agg.name
        hypervisors = []
        for rp in sorted(conn.placement.resource_providers(), key=lambda r: r.name):
            inv = {i.resource_class: i.total for i in conn.placement.resource_provider_inventories(rp)}
            hypervisors.append(
                {
                    "name": rp.name,
                    "az": az_of.get(rp.name, "nova"),
                    "vcpus": int(inv.get("VCPU", 0)),
                    "memory_mb": int(inv.get("MEMORY_MB", 0)),
                    "disk_gb": int(inv.get("DISK_GB", 0)),
                }
            )
        by_project = {dp.department.project: dp.department.code for dp in self.plan.departments}
        projects = {}
        for p in conn.identity.projects(domain_id="default"):
            if p.name in by_project:
                projects[p.id] = {"id": p.id, "name": p.name, "department": by_project[p.name]}
        planned = {s.name: s for s in self.plan.servers}
        servers = []
        for s in sorted(conn.compute.servers(details=True, all_projects=True), key=lambda x: x.name):
            project = projects.get(s.project_id)
            if project is None or s.name not in planned:
                continue
            fl = s.flavor or {}
            name = str(fl.get("original_name") or fl.get("name") or "")
            shape = flavor(name) if name else None
            servers.append(
                {
                    "id": s.id,
                    "name": s.name,
                    "project_id": s.project_id,
                    "project": project["name"],
                    "department": project["department"],
                    "host": s.compute_host or s.hypervisor_hostname,
                    "az": s.availability_zone,
                    "flavor": name,
                    "vcpus": int(fl.get("vcpus") or (shape.vcpus if shape else 0)),
                    "ram_mb": int(fl.get("ram") or (shape.ram_mb if shape else 0)),
                    "disk_gb": int(fl.get("disk") or (shape.disk_gb if shape else 0)),
                    "status": s.status,
                    "created_at": s.created_at,
                }
            )
        return {
            "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hypervisors": hypervisors,
            "projects": sorted(projects.values(), key=lambda p: p["name"]),
            "servers": servers,
            # Outside the per-server schema (whose readers are strict): which servers were given a
            # flavor two sizes above their workload, for history generators that want low utilisation.
            "oversized_server_ids": [x["id"] for x in servers if planned[x["name"]].oversized],
        }

    def write_inventory(self) -> dict[str, Any]:
        inv = self.inventory()
        tmp = self.layout.inventory_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(inv, indent=1, ensure_ascii=False))
        tmp.replace(self.layout.inventory_file)
        return inv
