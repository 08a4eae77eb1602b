"""Start, check and stop the lab cloud's processes: MariaDB, RabbitMQ and the OpenStack services.

Every process runs in the foreground under ``ProcessManager`` (its own session), so ``lab down`` stops
exactly those process groups. Order matters (see the reference notes): Keystone and the service
catalog before any Nova service, the conductor before the computes.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from govops.lab.cloud import configs
from govops.lab.cloud.layout import PREFIX, Layout, Ports, current_group, current_user
from govops.lab.processes import LabError, Peer, ProcessManager, tcp_open, wait_tcp

MARIADBD = "/usr/sbin/mariadbd"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
START_TIMEOUT = 180.0
KEYSTONE_PROCESSES = 2
HTTP_TIMEOUT = 600

# Schema from the models + stamp: neutron's alembic chain is slow and the lab never upgrades in place.
NEUTRON_SCHEMA = (
    "import sys, sqlalchemy as sa\n"
    "from neutron.db.migration.models import head  # noqa: F401 (imports every model)\n"
    "from neutron_lib.db import model_base\n"
    "model_base.BASEV2.metadata.create_all(sa.create_engine(sys.argv[1]))\n"
)
# Nova's cell mappings as URL templates ({scheme}, {password}, {path}... come from the reading service's
# [database]/connection and transport_url), so a mapping holds neither this lab's password nor ports.
CELL_DB = "{scheme}://{username}:{password}@{hostname}:{port}/{path}?{query}"
CELL0_DB = "{scheme}://{username}:{password}@{hostname}:{port}/{path}_cell0?{query}"
CELL_MQ = "{scheme}://{username}:{password}@{hostname}:{port}/"
KEY_REPOSITORIES = ("fernet", "credential")  # keystone-manage <name>_setup


@dataclass(frozen=True)
class Api:
    name: str  # service name, also the peer name after PREFIX
    port_attr: str
    path: str  # GET this to check the API answers


APIS = (
    Api("keystone", "keystone", "/v3"),
    Api("placement", "placement", "/"),
    Api("glance", "glance", "/"),
    Api("neutron", "neutron", "/"),
    Api("nova-api", "nova", "/"),
    Api("cinder-api", "cinder", "/"),
)


def api_url(ports: Ports, api: Api) -> str:
    return f"http://127.0.0.1:{getattr(ports, api.port_attr)}{api.path}"


def http_status(url: str, timeout: float = 3.0) -> int | None:
    """The HTTP status of a GET (any status counts as an answer), None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URL built here)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


class Services:
    def __init__(self, layout: Layout, ports: Ports, processes: ProcessManager, secrets: dict[str, str]):
        self.layout = layout
        self.ports = ports
        self.pm = processes
        self.secrets = secrets

    # -- helpers ---------------------------------------------------------------------------------
    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        venv = self.layout.venv
        env = {
            "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "VIRTUAL_ENV": str(venv),
            "PYTHONPATH": str(self.layout.plugins),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if extra:
            env.update(extra)
        return env

    def run(
        self,
        label: str,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
    ) -> None:
        """A one-shot admin command (db sync, bootstrap); its output goes to the lab's log folder."""
        self.layout.log.mkdir(parents=True, exist_ok=True)
        log = self.layout.log / f"setup-{label}.log"
        full_env = dict(os.environ)
        full_env.update(self.env(env))
        with open(log, "ab") as fh:
            try:
                proc = subprocess.run(
                    list(argv),
                    input=stdin.encode() if stdin is not None else None,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    timeout=timeout,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise LabError(f"lab cloud setup step '{label}' failed: {exc}; see {log}") from None
        if proc.returncode != 0:
            raise LabError(f"lab cloud setup step '{label}' failed (exit {proc.returncode}); see {log}")

    def start(
        self, name: str, argv: Sequence[str], ports: Sequence[int] = (), env: Mapping[str, str] | None = None
    ) -> Peer:
        return self.pm.start(
            PREFIX + name,
            argv,
            env=self.env(env),
            cwd=self.layout.root,
            ports=[f"tcp:127.0.0.1:{p}" for p in ports],
        )

    def bin(self, name: str) -> str:
        return str(self.layout.bin(name))

    def wait_http(self, url: str, peer: Peer | None, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status = http_status(url, timeout=5)
            if status is not None and status < 500:
                return
            if peer is not None and not peer.alive():
                raise LabError(f"{peer.name} exited during start-up; see {peer.log}")
            if time.monotonic() > deadline:
                raise LabError(f"{url} did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    def wait_log(self, path: Path, text: str, peer: Peer, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in path.read_text(errors="replace"):
                    return
            except OSError:
                pass
            if not peer.alive():
                raise LabError(f"{peer.name} exited during start-up; see {peer.log}")
            time.sleep(0.2)
        raise LabError(f"{peer.name} did not start within {timeout:.0f} s; see {path}")

    # -- MariaDB -----------------------------------------------------------------------------------
    def start_mariadb(self, template: Path | None = None) -> Peer:
        """Start the lab's MariaDB; a fresh one from ``template`` (a migrated datadir) when given."""
        lay = self.layout
        cnf = lay.mysql / "my.cnf"
        data = lay.mysql / "data"
        fresh = not (data / "mysql").is_dir()
        restored = fresh and template is not None
        if restored:
            assert template is not None
            shutil.rmtree(data, ignore_errors=True)  # a half-made datadir of an interrupted first up
            shutil.copytree(template, data, symlinks=True)
        elif fresh:
            data.mkdir(parents=True, exist_ok=True)
            self.run(
                "mariadb-install-db",
                [
                    "mariadb-install-db",
                    f"--defaults-file={cnf}",
                    "--auth-root-authentication-method=socket",
                    f"--auth-root-socket-user={current_user()}",
                    "--skip-test-db",
                ],
            )
        peer = self.start("mariadb", [MARIADBD, f"--defaults-file={cnf}"], [self.ports.mariadb])
        wait_tcp("127.0.0.1", self.ports.mariadb, 60, peer)
        pw = self.secrets["db"]
        if restored:
            # The template's account carries the password of the lab it was built in.
            sql = [f"ALTER USER 'os'@'127.0.0.1' IDENTIFIED BY '{pw}';", "FLUSH PRIVILEGES;"]
            self.root_sql("mariadb-users", sql)
        elif fresh:
            sql = [
                f"CREATE USER IF NOT EXISTS 'os'@'127.0.0.1' IDENTIFIED BY '{pw}';",
                "GRANT ALL ON *.* TO 'os'@'127.0.0.1';",
                *(f"CREATE DATABASE IF NOT EXISTS {db};" for db in configs.DATABASES),
            ]
            self.root_sql("mariadb-users", sql)
        return peer

    def root_sql(self, label: str, statements: Sequence[str]) -> None:
        """SQL as MariaDB's root, over the lab's socket (socket authentication: no password anywhere)."""
        argv = ["mariadb", f"--socket={self.layout.mysql_socket}", "-uroot"]
        self.run(label, argv, stdin="\n".join(statements))

    def stop_mariadb(self, timeout: float = 120.0) -> None:
        """A clean shutdown (everything flushed: the lab runs without a durable log), then forget the peer."""
        peer = self.pm.get(PREFIX + "mariadb")
        if peer is None or not peer.alive():
            return
        self.run("mariadb-shutdown", ["mariadb-admin", f"--socket={self.layout.mysql_socket}", "-uroot", "shutdown"])
        deadline = time.monotonic() + timeout
        while peer.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if peer.alive():
            raise LabError(f"MariaDB did not shut down within {timeout:.0f} s; see {peer.log}")
        self.pm.stop(peer.name)

    # -- RabbitMQ ----------------------------------------------------------------------------------
    def start_rabbitmq(self) -> Peer:
        rb = self.layout.rabbit
        (rb / "mnesia").mkdir(parents=True, exist_ok=True)
        epmd_bins = sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))
        if not epmd_bins or not Path(RABBITMQ_SERVER).exists():
            raise LabError("RabbitMQ is not installed", hint="govops lab install --cloud")
        erl_env = {
            "HOME": str(rb),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(self.ports.epmd),
        }
        epmd = self.start(
            "epmd",
            [epmd_bins[-1], "-address", "127.0.0.1", "-port", str(self.ports.epmd)],
            [self.ports.epmd],
            env=erl_env,
        )
        wait_tcp("127.0.0.1", self.ports.epmd, 30, epmd)
        env = {
            **erl_env,
            "RABBITMQ_NODENAME": "govopslab@localhost",
            "RABBITMQ_CONFIG_FILE": str(rb / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(rb / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(rb / "mnesia"),
            "RABBITMQ_LOG_BASE": str(rb),
            "RABBITMQ_PID_FILE": str(rb / "rabbitmq.pid"),
            "RABBITMQ_DIST_PORT": str(self.ports.rabbitmq_dist),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        return self.start("rabbitmq", [RABBITMQ_SERVER], [self.ports.rabbitmq], env=env)

    # -- databases -----------------------------------------------------------------------------------
    def sync_schemas(self, after_keystone: Callable[[], None] | None = None) -> None:
        """Every service's db sync (nothing in them is this lab's own: see ``schema``).

        ``after_keystone`` runs as soon as Keystone's schema is in place, while the others still sync.
        """
        etc = self.layout.etc
        nova = ["nova-manage", "--config-file", str(etc / "nova/nova.conf")]
        neutron_conf = str(etc / "neutron/neutron.conf")

        def manage(label: str, command: str, conf: str, *sync: str) -> Callable[[], None]:
            return lambda: self.run(label, [command, "--config-file", str(etc / conf), *sync])

        def keystone() -> None:
            manage("keystone-db", "keystone-manage", "keystone/keystone.conf", "db_sync")()
            if after_keystone is not None:
                after_keystone()

        def nova_db() -> None:
            self.run("nova-api-db", [*nova, "api_db", "sync"])
            # URL templates, filled from each lab's own nova.conf: the schema template suits every lab.
            self.run("nova-cell0", [*nova, "cell_v2", "map_cell0", "--database_connection", CELL0_DB])
            cell1 = ["--name", "cell1", "--database_connection", CELL_DB, "--transport-url", CELL_MQ]
            self.run("nova-cell1", [*nova, "cell_v2", "create_cell", *cell1])
            self.run("nova-db", [*nova, "db", "sync"])

        def neutron_db() -> None:
            url = configs.db_url(self.ports, self.secrets["db"], "neutron")
            self.run("neutron-schema", [self.bin("python"), "-c", NEUTRON_SCHEMA, url])
            self.run("neutron-stamp", ["neutron-db-manage", "--config-file", neutron_conf, "stamp", "heads"])

        steps: list[Callable[[], None]] = [
            keystone,
            nova_db,
            manage("placement-db", "placement-manage", "placement/placement.conf", "db", "sync"),
            manage("glance-db", "glance-manage", "glance/glance-api.conf", "db_sync"),
            neutron_db,
            manage("cinder-db", "cinder-manage", "cinder/cinder.conf", "db", "sync"),
        ]
        with ThreadPoolExecutor(max_workers=3) as pool:
            for fut in [pool.submit(step) for step in steps]:
                fut.result()

    def init_keystone(self) -> None:
        """This lab's own Keystone state: its fernet and credential keys, the admin user, its endpoint."""
        kconf = ["keystone-manage", "--config-file", str(self.layout.etc / "keystone/keystone.conf")]
        owner = ["--keystone-user", current_user(), "--keystone-group", current_group()]
        # Two key repositories, no database: made side by side.
        with ThreadPoolExecutor(max_workers=2) as pool:
            keys = [pool.submit(self.run, f"keystone-{k}", [*kconf, f"{k}_setup", *owner]) for k in KEY_REPOSITORIES]
        for fut in keys:
            fut.result()
        url = f"http://127.0.0.1:{self.ports.keystone}/v3/"
        bootstrap = ["--bootstrap-admin-url", url, "--bootstrap-internal-url", url, "--bootstrap-public-url", url]
        # The password goes through the environment: a command line is visible to every user.
        self.run(
            "keystone-bootstrap",
            [*kconf, "bootstrap", *bootstrap, "--bootstrap-region-id", "RegionOne"],
            env={"OS_BOOTSTRAP_PASSWORD": self.secrets["admin"]},
        )

    def sync_databases(self, on_keystone_ready: Callable[[], None]) -> None:
        """Schemas by db sync, then this lab's Keystone, handed to ``on_keystone_ready`` while the rest sync."""

        def keystone_ready() -> None:
            self.init_keystone()
            on_keystone_ready()

        self.sync_schemas(keystone_ready)

    # -- OpenStack services --------------------------------------------------------------------------
    def _uwsgi(
        self, name: str, port: int, module: str, env: Mapping[str, str], *extra: str, processes: int = 1
    ) -> Peer:
        argv = [
            self.bin("uwsgi"),
            "--master",
            "--processes",
            str(processes),
            "--threads",
            "4",
            "--enable-threads",
            "--lazy-apps",
            "--die-on-term",
            "--buffer-size",
            "65535",
            "--add-header",
            "Connection:close",
            # uWSGI's router drops a request after 60 s; a busy 2-core machine can take longer than that
            # to create a server, and the client then sees a reset instead of Nova's answer.
            "--http-timeout",
            str(HTTP_TIMEOUT),
            "--http",
            f"127.0.0.1:{port}",
            *extra,
            "--module",
            module,
        ]
        return self.start(name, argv, [port], env=env)

    def start_keystone(self) -> Peer:
        conf = str(self.layout.etc / "keystone/keystone.conf")
        peer = self._uwsgi(
            "keystone",
            self.ports.keystone,
            "keystone.wsgi.api:application",
            {"OS_KEYSTONE_CONFIG_FILES": conf},
            # Every other service's requests pass through Keystone: one process would hold the GIL.
            processes=KEYSTONE_PROCESSES,
        )
        self.wait_http(api_url(self.ports, APIS[0]), peer)
        return peer

    def start_openstack(self, hosts: Sequence[tuple[str, dict[str, str]]]) -> None:
        """Every service but Keystone; ``hosts``: (compute host name, its driver's environment)."""
        etc, log, p = self.layout.etc, self.layout.log, self.ports
        nova_conf = ["--config-file", str(etc / "nova/nova.conf")]
        cinder_conf = ["--config-file", str(etc / "cinder/cinder.conf")]
        peers: dict[str, Peer] = {}
        peers["placement"] = self._uwsgi(
            "placement",
            p.placement,
            "placement.wsgi.api:application",
            {"OS_PLACEMENT_CONFIG_DIR": str(etc / "placement")},
        )
        conductor = self.start(
            "nova-conductor", ["nova-conductor", *nova_conf, "--log-file", str(log / "nova-conductor.log")]
        )
        self.start("nova-scheduler", ["nova-scheduler", *nova_conf, "--log-file", str(log / "nova-scheduler.log")])
        peers["glance"] = self._uwsgi(
            "glance",
            p.glance,
            "glance.wsgi.api:application",
            {"OS_GLANCE_CONFIG_DIR": str(etc / "glance")},
            "--http-auto-chunked",
            "--http-chunked-input",
            "--http-raw-body",
        )
        peers["neutron"] = self._uwsgi(
            "neutron",
            p.neutron,
            "neutron.wsgi.api:application",
            {
                "OS_NEUTRON_CONFIG_DIR": str(etc / "neutron"),
                "OS_NEUTRON_CONFIG_FILES": str(etc / "neutron/neutron.conf"),
            },
        )
        peers["nova-api"] = self._uwsgi(
            "nova-api",
            p.nova,
            "nova.wsgi.osapi_compute:application",
            {"OS_NOVA_CONFIG_DIR": str(etc / "nova"), "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf"},
            "--pyargv",
            f"--log-file={log / 'nova-api.log'}",
        )
        peers["cinder-api"] = self._uwsgi(
            "cinder-api",
            p.cinder,
            "cinder.wsgi.api:application",
            {},
            "--pyargv",
            " ".join([*cinder_conf, "--log-file", str(log / "cinder-api.log")]),
        )
        self.start("cinder-scheduler", ["cinder-scheduler", *cinder_conf])
        self.start("cinder-volume", ["cinder-volume", *cinder_conf])
        # A compute that asks the conductor before it consumes RPC waits out a 60 s RPC timeout.
        self.wait_log(log / "nova-conductor.log", "Starting conductor node", conductor)
        for i, (host, env) in enumerate(hosts, start=1):
            self.start(
                f"nova-compute-{host}",
                ["nova-compute", *nova_conf, "--config-file", str(configs.compute_conf(self.layout, i))],
                env=env,
            )
        for api in APIS[1:]:
            self.wait_http(api_url(p, api), peers[api.name])

    def discover_hosts(self) -> None:
        self.run(
            "nova-discover",
            [
                "nova-manage",
                "--config-file",
                str(self.layout.etc / "nova/nova.conf"),
                "cell_v2",
                "discover_hosts",
            ],
        )

    # -- status ----------------------------------------------------------------------------------------
    def checks(self) -> list[tuple[str, bool, str]]:
        """(peer, up, detail) for every service: HTTP GET on the APIs, TCP for DB and AMQP, PID for the rest."""
        out: list[tuple[str, bool, str]] = []
        for name, port in (("mariadb", self.ports.mariadb), ("rabbitmq", self.ports.rabbitmq)):
            ok = tcp_open("127.0.0.1", port)
            out.append((name, ok, f"tcp 127.0.0.1:{port} " + ("open" if ok else "closed")))
        for api in APIS:
            url = api_url(self.ports, api)
            status = http_status(url)
            ok = status is not None and status < 500
            out.append((api.name, ok, f"GET {url} -> {status if status is not None else 'no answer'}"))
        skip = {"mariadb", "rabbitmq", "epmd", *(a.name for a in APIS)}
        for peer in self.pm.peers(PREFIX):
            short = peer.name[len(PREFIX) :]
            if short not in skip:
                alive = peer.alive()
                out.append((short, alive, f"pid {peer.pid} " + ("running" if alive else "not running")))
        return out
