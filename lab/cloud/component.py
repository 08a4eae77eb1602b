"""``govops lab up --cloud``: a real OpenStack (release ``pins.RELEASE``) on loopback, seeded like the city's.

Keystone, Nova (fake hypervisors sized like real ones, two availability zones), Placement, Glance,
Neutron (ML2 with a bind-everything mechanism driver, so networked servers go ACTIVE) and Cinder (a
no-op backend), on a private MariaDB and RabbitMQ. All state lives in the lab folder; the OpenStack
code lives in its own venv so its dependencies never mix with govops'.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from govops.departments import load_departments
from govops.lab.cloud import configs, pins, schema, snapshot
from govops.lab.cloud.layout import CLOUD_NAME, PREFIX, Layout
from govops.lab.cloud.plan import CloudPlan, plan
from govops.lab.cloud.seed import department_cloud, department_user
from govops.lab.cloud.services import RABBITMQ_SERVER, Services
from govops.lab.core import ComponentResult, LabContext, PeerStatus
from govops.lab.processes import LabError, wait_tcp

DEFAULT_SERVERS = 300
APT_PACKAGES = ("mariadb-server", "rabbitmq-server")


def truth_document(cloud_plan: CloudPlan) -> dict[str, object]:
    """What the lab seeds, for tests and capacity checks: quotas, servers and the near-quota department."""
    return {
        "hypervisors": [asdict(h) for h in cloud_plan.hypervisors],
        "flavors": [asdict(f) for f in cloud_plan.flavors],
        "near_quota": cloud_plan.near_quota,
        "departments": {
            dp.department.code: {
                "project": dp.department.project,
                "user": department_user(dp.department.code),
                "cloud": department_cloud(dp.department.code),
                "quotas": asdict(dp.quotas),
                "servers": [asdict(s) for s in dp.servers],
            }
            for dp in cloud_plan.departments
        },
    }


def write_truth(path: Path, cloud_plan: CloudPlan) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(truth_document(cloud_plan), indent=1, ensure_ascii=False))
    tmp.replace(path)


class CloudLab:
    name = "cloud"

    # -- install ---------------------------------------------------------------------------------------
    def install(self, ctx: LabContext) -> None:
        layout = Layout(ctx.dir)
        self._install_apt(ctx)
        self._install_venv(ctx, layout)
        self._install_schema_template(ctx, layout.venv)
        if ctx.options.snapshot:
            self._install_snapshot(ctx, layout)

    def _install_venv(self, ctx: LabContext, layout: Layout) -> None:
        venv = layout.venv
        marker = venv / ".govops-pins"
        if marker.exists() and marker.read_text().strip() == pins.digest():
            layout.record_venv(venv)
            ctx.observer.message(f"OpenStack {pins.RELEASE} already installed in {venv}")
            return
        started = time.monotonic()
        if not (venv / "bin" / "python").exists():
            ctx.observer.message(f"creating {venv}")
            self._call([sys.executable, "-m", "venv", str(venv)], "python -m venv")
        constraints = layout.root / "constraints.txt"
        constraints.parent.mkdir(parents=True, exist_ok=True)
        constraints.write_text(pins.CONSTRAINTS)
        ctx.observer.message(f"installing OpenStack {pins.RELEASE} into {venv} (about 1-2 minutes)")
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        self._call([*pip, "-c", str(constraints), *pins.REQUIREMENTS], "pip install (OpenStack)")
        marker.write_text(pins.digest() + "\n")
        layout.record_venv(venv)
        ctx.observer.message(f"OpenStack installed in {time.monotonic() - started:.0f} s")

    @staticmethod
    def _install_schema_template(ctx: LabContext, venv: Path) -> None:
        found = schema.lookup(venv)
        if found.datadir is not None:
            ctx.observer.message(f"schema template up to date: {found.datadir.parent}")
            return
        ctx.observer.message(f"{found.reason}: running every service's db sync once into a template")
        try:
            datadir, seconds = schema.build(venv)
        except (LabError, OSError) as exc:
            # Only a speed-up: without it every fresh `up` runs the db syncs itself, as it says then.
            ctx.observer.message(f"could not make the schema template ({exc}); fresh labs will run db sync")
            return
        ctx.observer.message(f"schema template made in {seconds:.0f} s: {datadir.parent}")

    def _install_snapshot(self, ctx: LabContext, layout: Layout) -> None:
        servers = ctx.options.servers or DEFAULT_SERVERS
        if schema.lookup(layout.venv).datadir is None:
            ctx.observer.message("no schema template, so no seeded-cloud snapshot either: fresh labs will seed")
            return
        found = snapshot.lookup(layout.venv, self.plan_for(ctx.project_root, servers, ctx.options.seed))
        if found is not None:
            what = f"{servers} servers, seed {ctx.options.seed}"
            ctx.observer.message(f"seeded-cloud snapshot up to date ({what}): {found.path}")
            return
        ctx.observer.message(
            f"seeding a scratch cloud with {servers} servers once, kept as a snapshot for fresh labs "
            f"(about {max(2, servers // 60)} minutes)"
        )
        try:
            made, seconds = snapshot.build(layout.venv, ctx.project_root, servers, ctx.options.seed)
        except (LabError, OSError) as exc:
            # Only a speed-up: without it a fresh `up` seeds through the APIs, as it says then.
            ctx.observer.message(f"could not make the seeded-cloud snapshot ({exc}); fresh labs will seed")
            return
        ctx.observer.message(f"seeded-cloud snapshot made in {seconds:.0f} s: {made.path}")

    @staticmethod
    def _install_apt(ctx: LabContext) -> None:
        have = Path("/usr/sbin/mariadbd").exists() and Path(RABBITMQ_SERVER).exists()
        if have:
            return
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise LabError(
                "MariaDB and RabbitMQ are missing",
                hint=f"as root: apt-get install -y --no-install-recommends {' '.join(APT_PACKAGES)}",
            )
        ctx.observer.message(f"apt-get install {' '.join(APT_PACKAGES)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        argv = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES]
        CloudLab._call(argv, "apt-get install", env=env)

    @staticmethod
    def _call(argv: list[str], label: str, env: dict[str, str] | None = None) -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise LabError(f"{label} failed (exit {proc.returncode}): {' | '.join(tail)}")

    # -- up ----------------------------------------------------------------------------------------------
    @staticmethod
    def plan_for(project_root: Path, servers: int, seed: int) -> CloudPlan:
        departments = load_departments(project_root / "inventories" / "departments.yaml")
        return plan(list(departments), servers, seed)

    def plan_of(self, ctx: LabContext, layout: Layout) -> CloudPlan:
        """The plan this lab folder was (or will be) seeded with: the first up's servers and seed are kept."""
        state_file = layout.root / "state.json"
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = {"servers": ctx.options.servers or DEFAULT_SERVERS, "seed": ctx.options.seed}
            layout.root.mkdir(parents=True, exist_ok=True)
            state_file.write_text(json.dumps(state))
        asked = {"servers": ctx.options.servers or state["servers"], "seed": ctx.options.seed}
        if asked != {k: state[k] for k in asked}:
            # The seed lives in the cloud's databases: another plan would fight the one in place.
            ctx.observer.message(
                f"this lab cloud was seeded with {state['servers']} servers, seed {state['seed']}: keeping them "
                "(`govops lab down` and remove the lab folder to seed another)"
            )
        return self.plan_for(ctx.project_root, int(state["servers"]), int(state["seed"]))

    def up(self, ctx: LabContext) -> ComponentResult:
        layout = Layout(ctx.dir)
        if not (layout.bin("uwsgi").exists() and layout.bin("nova-compute").exists()):
            raise LabError(f"OpenStack is not installed in {layout.venv}", hint="govops lab install --cloud")
        layout.record_venv(layout.venv)
        ports = layout.ports()
        secrets = layout.secrets()
        cloud_plan = self.plan_of(ctx, layout)
        services = Services(layout, ports, ctx.processes, secrets)
        write_truth(layout.truth_file, cloud_plan)
        if layout.seeded_file.exists() and all(ok for _, ok, _ in services.checks()):
            return self._result(layout)

        started, started_utc = time.monotonic(), datetime.now(UTC)
        hosts = [h.name for h in cloud_plan.hypervisors]
        configs.write_plugins(layout, resources.files("govops.lab.cloud").joinpath("osplugin.py").read_text())
        configs.write_all(layout, ports, secrets, hosts, {h.name: h.nova_options() for h in cloud_plan.hypervisors})
        initialized = layout.root / "initialized"
        restore = None if initialized.exists() else self._snapshot(ctx, layout, cloud_plan)
        if restore is not None:
            shutil.copytree(restore.files, layout.data, symlinks=True, dirs_exist_ok=True)
            template: Path | None = restore.datadir
        else:
            template = None if initialized.exists() else self._schema_template(ctx, layout)
        ctx.observer.message("starting MariaDB and RabbitMQ")
        services.start_mariadb(template)
        if restore is not None:
            old_root = str(restore.meta()["data_root"])
            services.root_sql("snapshot-paths", [snapshot.glance_locations_sql(old_root, str(layout.data))])
        rabbit = services.start_rabbitmq()

        def keystone_ready() -> None:
            services.start_keystone()
            from govops.lab.cloud import seed

            seed.register_catalog(ports, secrets)

        if initialized.exists():
            keystone_ready()
        else:
            if template is None:
                services.sync_databases(keystone_ready)
            else:
                services.init_keystone()
                keystone_ready()
            initialized.write_text("1\n")
        wait_tcp("127.0.0.1", ports.rabbitmq, 120, rabbit)
        ctx.observer.message("starting Nova, Placement, Glance, Neutron and Cinder")
        compute_env = [
            (
                h.name,
                {
                    "GOVOPS_LAB_HV_VCPUS": str(h.vcpus),
                    "GOVOPS_LAB_HV_MEMORY_MB": str(h.memory_mb),
                    "GOVOPS_LAB_HV_DISK_GB": str(h.disk_gb),
                },
            )
            for h in cloud_plan.hypervisors
        ]
        services.start_openstack(compute_env)

        from govops.lab.cloud import seed

        seed.write_clouds_file(layout, ports, secrets, cloud_plan)

        def dead_computes() -> list[str]:
            return [p.name for p in ctx.processes.peers(PREFIX + "nova-compute") if not p.alive()]

        seeder = seed.Seeder(layout, ports, secrets, cloud_plan, ctx.observer, services.discover_hosts, dead_computes)
        timings = {"services": round(time.monotonic() - started, 1)}
        if restore is not None:
            made = datetime.strptime(str(restore.meta()["made"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            seeder.adopt(made)
            timings.update(seeder.timings)
        elif not layout.seeded_file.exists():
            seeder.run()
            timings.update(seeder.timings)
        else:
            # A restart: the servers are usable once the scheduler sees their hosts' computes again.
            seeder.wait_computes(started_utc)
        inventory = seeder.write_inventory()
        try:
            record = json.loads(layout.seeded_file.read_text())
        except (OSError, ValueError):
            record = {
                "seconds": round(time.monotonic() - started, 1),
                "timings": timings,
                "servers": len(inventory["servers"]),
                "hypervisors": len(inventory["hypervisors"]),
                "near_quota": cloud_plan.near_quota,
                "ports": asdict(ports),
            }
            if restore is not None:
                meta = restore.meta()
                record["restored_from"] = {"snapshot": restore.key, "made": meta["made"], "seeding": meta["seeded"]}
        else:
            # A restart over an already seeded cloud (after `lab down`): the first up's figures stay.
            record["restart_seconds"] = round(time.monotonic() - started, 1)
        layout.seeded_file.write_text(json.dumps(record, indent=1))
        return self._result(layout)

    @staticmethod
    def _snapshot(ctx: LabContext, layout: Layout, cloud_plan: CloudPlan) -> snapshot.Snapshot | None:
        """The install-time snapshot of this plan's seeded cloud, for a lab folder that holds no cloud yet."""
        if not ctx.options.snapshot:
            return None
        if (layout.mysql / "data" / "mysql").is_dir() or layout.seeded_file.exists():
            return None  # an earlier up stopped half-way: it finishes what it started
        found = snapshot.lookup(layout.venv, cloud_plan)
        state = json.loads((layout.root / "state.json").read_text())  # written by plan_of
        n, seed = state["servers"], state["seed"]
        if found is None:
            ctx.observer.message(
                f"no seeded-cloud snapshot of this plan ({n} servers, seed {seed}): seeding through the APIs "
                f"(`govops lab install --cloud --servers {n} --seed {seed}` makes one)"
            )
            return None
        what = f"{len(cloud_plan.servers)} servers"
        ctx.observer.message(f"restoring the seeded cloud ({what}) from the install-time snapshot {found.path}")
        return found

    @staticmethod
    def _schema_template(ctx: LabContext, layout: Layout) -> Path | None:
        """The install-time schema template for a lab whose databases are still to be made, else None."""
        if (layout.mysql / "data" / "mysql").is_dir():
            # An earlier up stopped half-way: its datadir stays, and the (idempotent) syncs finish it.
            ctx.observer.message("creating the OpenStack databases (db sync of every service)")
            return None
        found = schema.lookup(layout.venv)
        if found.datadir is None:
            ctx.observer.message(
                f"{found.reason}: creating the OpenStack databases with db sync instead (minutes; "
                "`govops lab install --cloud` makes the template)"
            )
            return None
        ctx.observer.message(f"restoring the OpenStack schemas from the install-time template {found.datadir.parent}")
        return found.datadir

    @staticmethod
    def _result(layout: Layout) -> ComponentResult:
        clouds = str(layout.clouds_file)
        return ComponentResult(
            config={"cloud": {"name": CLOUD_NAME, "clouds_file": clouds}},
            env={"OS_CLIENT_CONFIG_FILE": clouds, "OS_CLOUD": CLOUD_NAME},
            next_steps=[
                "openstack server list --all-projects",
                "openstack quota show dept-gaj",
                f"openstack --os-cloud {CLOUD_NAME}-gaj server list",
            ],
        )

    # -- status / down -------------------------------------------------------------------------------------
    def status(self, ctx: LabContext) -> list[PeerStatus]:
        layout = Layout(ctx.dir)
        if not layout.ports_file.exists():
            return []
        services = Services(layout, layout.ports(), ctx.processes, {})
        return [PeerStatus(self.name, name, ok, detail) for name, ok, detail in services.checks()]

    def down(self, ctx: LabContext) -> list[str]:
        # The OpenStack services shut down gracefully (5-10 s each): all at once, then what they use.
        infrastructure = {PREFIX + name for name in ("mariadb", "rabbitmq", "epmd")}
        services = [p.name for p in ctx.processes.peers(PREFIX) if p.name not in infrastructure]
        stopped = ctx.processes.stop_together(services)
        return stopped + ctx.processes.stop_all(PREFIX)
