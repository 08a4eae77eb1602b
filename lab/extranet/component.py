"""``govops lab up --extranet``: the simulated extranet of real SSH and SNMP peers on loopback.

``up`` turns the seeded plan (``plan``) into files in ``<lab>/extranet/`` and starts its peers:

- ``sshd-K`` (asyncssh, ``sshd``): every SSH device of shard K on its own (address, port);
- ``snmpsim-K`` (snmpsim behind the strict per-endpoint wrapper ``snmpagent``): the SNMP view of
  the same devices, one UDP endpoint per device and management address;
- ``snmpd-HOST``: a real net-snmp agent for each SNMP-only device (at least one, on ``[::1]``).

It writes the inventory (``extranet/inventory``), ``credentials.env`` (``GOVOPS_CRED_*`` exports)
and ``truth.json`` (each device's expected status and facts). Faults live in the peers' configs:
an unreachable device has no listener, a wrong-credentials device accepts another password, and so
on (see ``sshd`` and ``snmpagent``). Shards keep both cores busy and each process's index small.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from govops.credentials import env_var_name
from govops.lab.core import ComponentResult, LabContext, PeerStatus, apt_install
from govops.lab.extranet import netsnmp
from govops.lab.extranet.plan import (
    MAX_DEVICES,
    NTP_V4,
    NTP_V6,
    SYSLOG_V4,
    SYSLOG_V6,
    DeviceState,
    LoopbackPlan,
    PortPlan,
    assign_config_faults,
    ensure_netsnmp_device,
    plan_devices,
    truth_entry,
)
from govops.lab.extranet.province import city_seed as province_city_seed
from govops.lab.extranet.province import generate_province
from govops.lab.extranet.render import BANNER
from govops.lab.extranet.snmpagent import write_if_changed
from govops.lab.processes import LabError, Peer

PREFIX = "extranet-"
PLAN_VERSION = 1  # bump when the plan, the data files or the peers' configs change shape
SHARD_DEVICES = 1200  # devices per sshd / snmpsim process: two processes for the full city
START_TIMEOUT = 240.0  # snmpsim indexes every recording on its first start
PORT_LOW = 10000  # listeners stay below the kernel's ephemeral range (see _port_window)
APT_PACKAGES = ("snmpd", "snmp", "iproute2")  # iproute2: `ip -json` reads the snmpd devices' truth

CRED_SSH = "extranet-ssh"
CRED_V3 = "extranet-snmpv3"
CRED_V2C = "extranet-snmp-community"
SSH_USER = "govops-audit"
SNMPV3_USER = "govops-audit"
UDP4_DOMAIN = "1.3.6.1.6.1.1"  # + ".<n>": the n-th endpoint of that family snmpsim binds
UDP6_DOMAIN = "1.3.6.1.2.1.100.1.2"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


class PeerExited(LabError):
    """A peer died while starting (a port taken meanwhile, a broken install...)."""


@dataclass(frozen=True)
class LabSecrets:
    ssh_password: str
    community: str
    auth_key: str
    priv_key: str

    def wrong_password(self, hostname: str) -> str:
        """What a wrong-credentials device accepts instead (never the lab's password)."""
        return hashlib.sha256(f"{self.ssh_password}/{hostname}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Probe:
    """How ``status`` and ``up`` check that a peer answers: a TCP connect or an SNMP GET."""

    kind: str  # tcp | snmp-v2c | snmp-v3
    host: str
    port: int


class Files:
    def __init__(self, ctx: LabContext) -> None:
        self.lab = ctx.dir
        self.base = ctx.path("extranet")
        self.inventory = self.base / "inventory"
        self.plan = self.base / "plan.json"
        self.secrets = self.base / "secrets.json"
        self.host_key = self.base / "ssh_host_key"
        self.snmp = self.base / "snmp"
        self.snmpd = self.base / "snmpd"
        self.truth = ctx.path("truth.json")
        self.credentials = ctx.path("credentials.env")

    def sshd_config(self, shard: int) -> Path:
        return self.base / f"sshd-{shard}.json"


def _private(path: Path, text: str) -> None:
    """Write a file only its owner can read (it holds the lab's secrets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def credential_env(s: LabSecrets) -> dict[str, str]:
    fields = credential_fields()
    values = {
        CRED_SSH: {"username": SSH_USER, "password": s.ssh_password},
        CRED_V3: {"username": SNMPV3_USER, "auth_key": s.auth_key, "priv_key": s.priv_key},
        CRED_V2C: {"community": s.community},
    }
    return {fields[c][f]: v for c, fv in values.items() for f, v in fv.items()}


def credential_fields() -> dict[str, dict[str, str]]:
    """credential name -> field -> environment variable (truth.json lists these, never values)."""
    spec = {CRED_SSH: ("username", "password"), CRED_V3: ("username", "auth_key", "priv_key"), CRED_V2C: ("community",)}
    return {c: {f: env_var_name(c, f) for f in fs} for c, fs in spec.items()}


def read_credentials_env(path: Path) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines of a credentials.env, as a dict."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            k, _, v = words[1].partition("=")
            out[k] = v
    return out


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free(host: str, port: int, kind: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _ports_free(ports: PortPlan, n: int, first: int = 0) -> bool:
    for i in range(first, first + n):
        v4 = f"127.1.{i // 250}.{i % 250 + 1}"
        for host in (v4, "::1"):
            if not _free(host, ports.ssh(i), socket.SOCK_STREAM) or not _free(host, ports.snmp(i), socket.SOCK_DGRAM):
                return False
    return True


def _pick_ports(n: int, previous: PortPlan | None) -> PortPlan:
    """Two port ranges of n, free on every lab address, below the ephemeral range.

    Client sockets (netmiko, pysnmp) take ephemeral ports; a lab listener inside that range could
    be refused later by a client that got there first, so the lab stays under it.
    """
    if previous is not None and _ports_free(previous, n):
        return previous
    high = _ephemeral_low() - 2 * n
    if high <= PORT_LOW:
        raise LabError(f"no room for {n} devices below the ephemeral port range ({_ephemeral_low()})")
    rng = secrets.SystemRandom()
    for _ in range(30):
        base = rng.randrange(PORT_LOW, high)
        ports = PortPlan(base, base + n)
        if _ports_free(ports, n):
            return ports
    raise LabError(f"no free range of {2 * n} ports on 127.1.x.y and ::1", hint="stop other labs or use fewer devices")


def _pick_windows(counts: list[int], previous: PortPlan | None) -> PortPlan:
    """A province's ports: one window per city, SSH (TCP) and SNMP (UDP) on the same numbers.

    Every lab on the machine shares ::1 and 127.1.x.y, told apart by ports: one range of a
    5-city province's 11,485 devices (twice that for two ranges) seldom fits between other labs'
    ranges below the ephemeral range, while a city's 2,297 do, wherever there is room.
    """
    total = sum(counts)
    if previous is not None and previous.windows and _ports_free(previous, total):
        return previous
    high = _ephemeral_low()
    rng = secrets.SystemRandom()
    windows: list[tuple[int, int]] = []
    taken: list[tuple[int, int]] = []
    first = 0
    for n in counts:
        if high - n <= PORT_LOW:
            raise LabError(f"no room for {n} devices below the ephemeral port range ({high})")
        for _ in range(60):
            base = rng.randrange(PORT_LOW, high - n)
            if any(base < end and start < base + n for start, end in taken):
                continue
            if _ports_free(PortPlan(0, 0, ((first, base),)), n, first):
                break
        else:
            raise LabError(f"no free range of {n} ports on 127.1.x.y and ::1", hint="stop other labs")
        windows.append((first, base))
        taken.append((base, base + n))
        first += n
    return PortPlan(0, 0, tuple(windows))


def _shards(items: list[DeviceState]) -> list[list[DeviceState]]:
    count = max(1, math.ceil(len(items) / SHARD_DEVICES))
    return [items[k::count] for k in range(count)] if items else []


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - snmpsim's context naming, not security


def client_conf(s: LabSecrets) -> str:
    """net-snmp client defaults (``SNMPCONFPATH``): the lab's v3 user and community, off argv."""
    return (
        "# Written by `govops lab up --extranet`: SNMPCONFPATH=<this folder> snmpwalk -v3 ADDR OID\n"
        f"defSecurityName {SNMPV3_USER}\ndefSecurityLevel authPriv\n"
        f"defAuthType SHA\ndefAuthPassphrase {s.auth_key}\ndefPrivType AES\ndefPrivPassphrase {s.priv_key}\n"
        f"defCommunity {s.community}\n"
        "mibs :\n"  # numeric OIDs only, as Debian's own snmp.conf does (no MIB files needed)
    )


def _answers(probe: Probe, conf_dir: Path) -> bool:
    """One TCP connect or one SNMP GET of sysName through net-snmp's snmpget (cheap, unlike a
    Python SNMP engine per poll, which would steal the CPU snmpsim needs while it indexes)."""
    if probe.kind == "none":
        return True
    if probe.kind == "tcp":
        from govops.lab.processes import tcp_open

        return tcp_open(probe.host, probe.port)
    tool = shutil.which("snmpget")
    if tool is None:
        raise LabError("snmpget (net-snmp) is missing", hint="govops lab install --extranet")
    where = f"udp6:[{probe.host}]:{probe.port}" if ":" in probe.host else f"udp:{probe.host}:{probe.port}"
    version = "3" if probe.kind == "snmp-v3" else "2c"
    proc = subprocess.run(
        [tool, "-v", version, "-t", "1", "-r", "0", "-On", where, SYS_NAME],
        capture_output=True,
        env=os.environ | {"SNMPCONFPATH": str(conf_dir), "MIBS": ""},
        check=False,
    )
    return proc.returncode == 0


class ExtranetLab:
    name = "extranet"

    # -- install -----------------------------------------------------------------------------
    def install(self, ctx: LabContext) -> None:
        _require_modules()
        apt_install(ctx, APT_PACKAGES, lambda: not _missing_tools())

    # -- up ----------------------------------------------------------------------------------
    def up(self, ctx: LabContext) -> ComponentResult:
        files = Files(ctx)
        opts = ctx.options
        if not 1 <= opts.devices * opts.cities <= MAX_DEVICES:
            raise LabError(f"--devices × --cities must be between 1 and {MAX_DEVICES}")
        _require_modules()
        if missing := _missing_tools():
            raise LabError(f"missing: {', '.join(missing)}", hint="govops lab install --extranet")
        key = {"version": PLAN_VERSION, "devices": opts.devices, "seed": opts.seed, "faults": opts.faults}
        if opts.config_faults:  # only then, so the key of every other lab stays as it was
            key["config_faults"] = True
        if opts.cities > 1:  # likewise: a one-city lab keeps its key
            key["cities"] = opts.cities
        if opts.lean:
            key["lean"] = True
        previous = self._read_plan(files)
        if previous.get("key") == key and self._all_up(ctx, previous):
            # Idempotent: nothing restarted, no twins; only the shell-side files are rewritten.
            s = self._secrets(files)
            self._write_credentials(files, s)
            _private(files.base / "snmp.conf", client_conf(s))
            return self._result(files)
        # Options changed or a peer died: start this component afresh (only our own PIDs).
        ctx.processes.stop_all(PREFIX)
        for attempt in (1, 2):
            try:
                return self._start(ctx, files, key, previous if attempt == 1 else {})
            except PeerExited as exc:
                # Most likely another lab took one of our ports between the check and the bind.
                ctx.processes.stop_all(PREFIX)
                if attempt == 2:
                    raise
                ctx.observer.message(f"{exc}; retrying on other ports")
            except BaseException:
                # A half-started lab is worse than none: nothing of ours keeps running or listening.
                ctx.processes.stop_all(PREFIX)
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _start(self, ctx: LabContext, files: Files, key: dict[str, Any], previous: dict[str, Any]) -> ComponentResult:
        opts = ctx.options
        started = time.monotonic()
        s = self._secrets(files)
        old_ports = (
            PortPlan.from_dict(previous["ports"]) if previous.get("key") == key and "ports" in previous else None
        )
        from govops.network.generate import generate_inventory, plan_sites

        # A tiny lab still gets every admin level, so it may hold more devices than asked for.
        province = opts.cities > 1
        seeds = [province_city_seed(opts.seed, k) for k in range(opts.cities)] if province else [opts.seed]
        counts = [len(plan_sites(total=opts.devices, seed=sd)) for sd in seeds]
        ports = _pick_windows(counts, old_ports) if province else _pick_ports(counts[0], old_ports)
        where = f"{opts.cities} cities of {opts.devices} devices" if province else f"{opts.devices} devices"
        ctx.observer.message(f"planning {where} (seed {opts.seed}, faults {opts.faults:.0%}) …")
        lp = LoopbackPlan(ports)
        if province:
            inv = generate_province(opts.cities, opts.devices, opts.seed, lp, CRED_SSH, CRED_V3, CRED_V2C)
        else:
            inv = generate_inventory(
                sites=opts.devices,
                seed=opts.seed,
                address_plan=lp,
                ssh_credential=CRED_SSH,
                snmp_v3_credential=CRED_V3,
                snmp_v2c_credential=CRED_V2C,
            )
        ensure_netsnmp_device(inv)
        states = plan_devices(inv, lp.sites, opts.seed, opts.faults, SNMPV3_USER)
        if opts.config_faults:
            assign_config_faults(states, opts.seed)
        # Remediation fills NTP, syslog and banner fixes from inventory variables, never invents them.
        inv.defaults.setdefault("data", {}).update(
            {"ntp_servers": [NTP_V4, NTP_V6], "syslog_hosts": [SYSLOG_V4, SYSLOG_V6], "login_banner": BANNER}
        )
        if previous.get("key") != key:
            # a new plan: what the devices saved under the old one is gone
            shutil.rmtree(files.base / "device-state", ignore_errors=True)
        shutil.rmtree(files.inventory, ignore_errors=True)
        inv.write(files.inventory)
        self._write_credentials(files, s)
        _private(files.base / "snmp.conf", client_conf(s))
        self._host_key(files)

        ssh_devices = [st for st in states if st.ssh and not _unreachable(st)]
        snmpsim_devices = [st for st in states if not st.netsnmp and not _unreachable(st)]
        netsnmp_devices = [st for st in states if st.netsnmp]
        probes: dict[str, Probe] = {}
        waits: list[tuple[Peer, Probe, Path | None]] = []
        ready: Path | None
        for k, shard in enumerate(_shards(ssh_devices)):
            peer, probe, ready = self._start_sshd(ctx, files, k, shard, s)
            probes[peer.name] = probe
            waits.append((peer, probe, ready))
        for k, shard in enumerate(_shards(snmpsim_devices)):
            peer, probe = self._start_snmpsim(ctx, files, k, shard, s)
            probes[peer.name] = probe
            waits.append((peer, probe, None))
        for st in netsnmp_devices:
            peer, probe = self._start_snmpd(ctx, files, st, s)
            probes[peer.name] = probe
            waits.append((peer, probe, None))
        ctx.observer.message(f"waiting for {len(waits)} peers (snmpsim indexes new recordings) …")
        for peer, probe, ready in waits:
            self._wait(peer, probe, ready, files.base)

        truth = {
            "lab": {"devices": opts.devices, "seed": opts.seed, "faults": opts.faults}
            | ({"cities": opts.cities} if province else {}),
            "inventory": str(files.inventory),
            "credentials": credential_fields(),
            "devices": {
                st.hostname: truth_entry(st, netsnmp.kernel_facts(st) if st.netsnmp else None) for st in states
            },
        }
        files.truth.write_text(json.dumps(truth, indent=1, ensure_ascii=False))
        plan_doc = {
            "key": key,
            "ports": asdict(ports),
            "probes": {name: asdict(p) for name, p in probes.items()},
            "seconds": round(time.monotonic() - started, 1),
        }
        files.plan.write_text(json.dumps(plan_doc, indent=1))
        return self._result(files)

    @staticmethod
    def _read_plan(files: Files) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(files.plan.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def _all_up(self, ctx: LabContext, plan_doc: dict[str, Any]) -> bool:
        names = set(plan_doc.get("probes", {}))
        return bool(names) and all(ctx.processes.running(n) for n in names)

    @staticmethod
    def _secrets(files: Files) -> LabSecrets:
        try:
            return LabSecrets(**json.loads(files.secrets.read_text()))
        except (OSError, ValueError, TypeError):
            pass
        # snmpsim needs keys of 8+ characters; hex keeps them safe in every config syntax.
        s = LabSecrets(*(secrets.token_hex(12) for _ in range(4)))
        _private(files.secrets, json.dumps(asdict(s)))
        return s

    @staticmethod
    def _write_credentials(files: Files, s: LabSecrets) -> None:
        lines = ["# Written by `govops lab up --extranet`: the lab devices' credentials (source this file)."]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in credential_env(s).items()]
        _private(files.credentials, "\n".join(lines) + "\n")

    @staticmethod
    def _host_key(files: Files) -> None:
        if files.host_key.exists():
            return
        import asyncssh

        key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
        files.host_key.parent.mkdir(parents=True, exist_ok=True)
        _private(files.host_key, key.export_private_key().decode())

    def _start_sshd(
        self, ctx: LabContext, files: Files, shard: int, devices: list[DeviceState], s: LabSecrets
    ) -> tuple[Peer, Probe, Path]:
        entries = []
        for st in devices:
            listen = [a for a in (st.mgmt_ipv4, st.mgmt_ipv6) if a]
            wrong = st.fault is not None and st.fault.kind == "wrong_credentials"
            entries.append(
                {
                    "state": st.to_dict(),
                    "listen": listen,
                    "port": st.ssh_port,
                    "password": s.wrong_password(st.hostname) if wrong else s.ssh_password,
                    "community": s.community,
                }
            )
        config = files.sshd_config(shard)
        _private(config, json.dumps({"host_key": str(files.host_key), "username": SSH_USER, "devices": entries}))
        ready = config.with_suffix(".ready")
        ready.unlink(missing_ok=True)
        last = devices[-1]
        probe = Probe("tcp", last.mgmt_ipv4 or last.mgmt_ipv6 or "::1", last.ssh_port)
        ports = [spec for st in devices for spec in _port_specs("tcp", st, st.ssh_port)]
        peer = ctx.processes.start(
            f"{PREFIX}sshd-{shard}",
            [sys.executable, "-m", "govops.lab.extranet.sshd", str(config)],
            cwd=files.base,
            ports=ports,
        )
        return peer, probe, ready

    def _start_snmpsim(
        self, ctx: LabContext, files: Files, shard: int, devices: list[DeviceState], s: LabSecrets
    ) -> tuple[Peer, Probe]:
        root = files.snmp / f"shard-{shard}"
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        (root / "cache").mkdir(exist_ok=True)
        wanted = {f"d{st.index:05d}.snmprec" for st in devices} | {f"{s.community}.snmprec", "public.snmprec"}
        for old in data.glob("*.snmprec"):
            if old.name not in wanted:
                old.unlink()
        # pysnmp drops a v2c request whose community has no data file before the wrapper sees
        # it, so each community the lab serves has a (never answered from) placeholder recording.
        for community in (s.community, "public"):
            write_if_changed(data / f"{community}.snmprec", f"{SYS_NAME}|4|placeholder\n")
        policy: dict[str, dict[str, Any]] = {}
        v4_args: list[str] = []
        v6_args: list[str] = []
        probe: Probe | None = None
        recordings: dict[str, dict[str, Any]] = {}
        for st in devices:
            name = f"d{st.index:05d}"
            recordings[name] = st.to_dict()
            blocked = st.fault is not None and st.fault.kind in ("snmp_timeout", "wrong_credentials")
            communities = [] if blocked or not st.snmp_v2c else [s.community] + (["public"] * st.public_community)
            entry = {
                "ctx": name,
                "v2c": [_md5(c) for c in communities],
                "v3": not blocked and SNMPV3_USER in st.snmpv3_users,
            }
            # snmpsim numbers each family's endpoints in command-line order from the offset (0).
            if st.mgmt_ipv4:
                policy[f"{UDP4_DOMAIN}.{len(v4_args)}"] = entry
                v4_args.append(f"--agent-udpv4-endpoint={st.mgmt_ipv4}:{st.snmp_port}")
            if st.mgmt_ipv6:
                policy[f"{UDP6_DOMAIN}.{len(v6_args)}"] = entry
                v6_args.append(f"--agent-udpv6-endpoint=[{st.mgmt_ipv6}]:{st.snmp_port}")
            if probe is None and (entry["v3"] or entry["v2c"]):
                host = st.mgmt_ipv6 or st.mgmt_ipv4 or "::1"
                probe = Probe("snmp-v3" if entry["v3"] else "snmp-v2c", host, st.snmp_port)
        if probe is None:  # every device of the shard is faulty: the process answering at all is enough
            probe = Probe("none", "", 0)
        args = [
            "--v3-engine-id=auto",  # must come before the data dir, endpoints and users
            f"--data-dir={data}",
            *v4_args,
            *v6_args,
            f"--v3-user={SNMPV3_USER}",
            f"--v3-auth-key={s.auth_key}",
            "--v3-auth-proto=SHA",
            f"--v3-priv-key={s.priv_key}",
            "--v3-priv-proto=AES",
        ]
        args_file = root / "args.txt"
        _private(args_file, "\n".join(args) + "\n")
        policy_file = root / "shard.json"
        # state_dir: where the SSH side mirrors a device's configured state (see sshd.Device)
        doc = {
            "policy": policy,
            "data_dir": str(data),
            "devices": recordings,
            "state_dir": str(files.base / "device-state"),
            "lean": ctx.options.lean,
        }
        policy_file.write_text(json.dumps(doc))
        ports = [a.split("=", 1)[1] for a in v4_args + v6_args]
        peer = ctx.processes.start(
            f"{PREFIX}snmpsim-{shard}",
            [
                sys.executable,
                "-m",
                "govops.lab.extranet.snmpagent",
                str(policy_file),
                f"--cache-dir={root / 'cache'}",
                "--log-level=error",
                "--transport-id-offset=0",
                f"--logging-method=file:{root / 'snmpsim.log'}",
                f"--args-from-file={args_file}",
            ],
            env={"SNMPSIM_ALLOW_ROOT": "true"},  # snmpsim refuses to run as root otherwise
            cwd=root,
            ports=[f"udp:{p}" for p in ports],
        )
        return peer, probe

    def _start_snmpd(self, ctx: LabContext, files: Files, st: DeviceState, s: LabSecrets) -> tuple[Peer, Probe]:
        root = files.snmpd / st.hostname
        (root / "persist").mkdir(parents=True, exist_ok=True)
        conf = root / "snmpd.conf"
        _private(conf, netsnmp.config_text(st, s.community, SNMPV3_USER, s.auth_key, s.priv_key))
        peer = ctx.processes.start(
            f"{PREFIX}snmpd-{st.hostname}",
            netsnmp.argv(conf, root / "snmpd.pid", root / "snmpd.log"),
            # snmpd keeps its engine boots and USM keys here instead of /var/lib/snmp.
            env={"SNMP_PERSISTENT_DIR": str(root / "persist")},
            cwd=root,
            ports=_port_specs("udp", st, st.snmp_port),
        )
        host = st.mgmt_ipv6 or st.mgmt_ipv4 or "::1"
        return peer, Probe("snmp-v3", host, st.snmp_port)

    @staticmethod
    def _wait(peer: Peer, probe: Probe, ready: Path | None, conf_dir: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if not peer.alive():
                raise PeerExited(f"{peer.name} exited during start-up; see {peer.log}")
            done = ready.exists() if ready is not None else _answers(probe, conf_dir)
            if done:
                return
            if time.monotonic() > deadline:
                raise LabError(f"{peer.name} not answering after {START_TIMEOUT:.0f} s; see {peer.log}")
            time.sleep(0.5)

    def _result(self, files: Files) -> ComponentResult:
        s = self._secrets(files)
        env = credential_env(s)
        return ComponentResult(
            # the lab's devices' host keys are pinned next to the lab's host key: a lab made anew
            # in another folder has a new key, and must not meet the old lab's pins
            config={
                "network": {"inventory": str(files.inventory), "known_hosts": str(files.base / "known_hosts")},
                "credentials": {"sources": ["env"]},
            },
            env=env,
            next_steps=[
                f". {shlex.quote(str(files.credentials))}   # or the eval above",
                "govops net inventory stats",
                "govops net audit",
                f"ground truth: {files.truth}",
            ],
        )

    # -- status / down -----------------------------------------------------------------------
    def status(self, ctx: LabContext) -> list[PeerStatus]:
        files = Files(ctx)
        plan_doc = self._read_plan(files)
        probes = plan_doc.get("probes", {})
        if not probes:
            return [PeerStatus(self.name, "extranet", False, "not set up: run `govops lab up --extranet`")]
        out = []
        for name, p in sorted(probes.items()):
            probe = Probe(**p)
            peer = ctx.processes.get(name)
            if peer is None or not peer.alive():
                out.append(PeerStatus(self.name, name, False, "not running"))
                continue
            where = f"{probe.host}:{probe.port}" if ":" not in probe.host else f"[{probe.host}]:{probe.port}"
            ok = _answers(probe, files.base)
            listeners = len(peer.ports)
            detail = f"pid {peer.pid}, {listeners} listeners, {probe.kind} {where} " + (
                "answers" if ok else "NO ANSWER"
            )
            out.append(PeerStatus(self.name, name, ok, detail))
        return out

    def down(self, ctx: LabContext) -> list[str]:
        return ctx.processes.stop_all(PREFIX)


def _port_specs(proto: str, st: DeviceState, port: int) -> list[str]:
    """ProcessManager's ``proto:ADDR:PORT`` records ("udp:[::1]:16100") of a device's listeners."""
    out = [f"{proto}:{st.mgmt_ipv4}:{port}"] if st.mgmt_ipv4 else []
    return out + ([f"{proto}:[{st.mgmt_ipv6}]:{port}"] if st.mgmt_ipv6 else [])


def _unreachable(st: DeviceState) -> bool:
    return st.fault is not None and st.fault.kind == "unreachable"


def _require_modules() -> None:
    import importlib.util

    missing = [m for m in ("asyncssh", "snmpsim", "pysmi") if importlib.util.find_spec(m) is None]
    if missing:
        raise LabError(f"python packages missing: {', '.join(missing)}", hint="pip install 'govops[lab]'")


def _missing_tools() -> list[str]:
    """The lab's programs that are not installed (snmpd serves, snmpget probes, ip reads truth)."""
    wanted = {"snmpd (apt snmpd)": netsnmp.available(), "snmpget (apt snmp)": shutil.which("snmpget") is not None}
    wanted["ip (apt iproute2)"] = shutil.which("ip") is not None
    return [name for name, ok in wanted.items() if not ok]
