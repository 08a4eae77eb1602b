"""The lab's seeded plan: where each device listens and what state it is in (its ground truth).

Everything here is pure and deterministic: the same (devices, seed, faults) gives the same lab.
A device's state is drawn from its own RNG (seeded by the lab seed and its hostname), so growing
the lab keeps every existing device as it was; faults are drawn over the whole lab so that
``--faults 10%`` hits exactly 10 % of the eligible devices.

Address scheme (device ``i`` in inventory order, 0-based):
  IPv4 management  127.1.(i // 250).(i % 250 + 1)      (distinct loopback /8 addresses)
  IPv6 management  ::1                                   (shared; the port tells devices apart)
  SSH port         ssh_base + i     on both addresses (the inventory's ssh_port)
  SNMP port        snmp_base + i    on both addresses (the inventory's snmp_port, UDP)
The device's own configured addresses (interfaces, routes) use private IPv4 and 2001:db8::/32.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from govops.lab.extranet.models import MODELS
from govops.network.facts import DeviceFacts, InterfaceFacts
from govops.network.generate import Addressing, GeneratedInventory, PlannedSite, documentation_addresses

FAULT_KINDS = ("unreachable", "slow", "wrong_credentials", "drop_session", "garbage", "snmp_timeout")
EXPECTED_STATUS = {
    None: "ok",
    "unreachable": "unreachable",
    "slow": "timeout",
    "wrong_credentials": "auth_failed",
    "drop_session": "error",
    "garbage": "parse_error",
    "snmp_timeout": "timeout",
    # configuration faults (``--config-faults``): the device audits fine and misbehaves only in
    # configuration mode, to exercise remediation's rollback
    "config_reject": "ok",
    "config_drop": "ok",
}
CONFIG_FAULT_KINDS = ("config_reject", "config_drop")
SLOW_DELAY_S = 30.0  # beyond the inventory's SSH timeout (20 s) and netmiko's read timeout
# DeviceFacts fields an SNMP poll can see; the rest (telnet, AAA, ...) only show over SSH.
SNMP_VISIBLE = (
    "hostname",
    "sys_descr",
    "sys_object_id",
    "interfaces",
    "ipv6_forwarding",
    "ipv6_default_route",
    "ipv4_default_route",
    "ipv6_neighbors_uplink",
)
NTP_V4, NTP_V6 = "10.0.0.123", "2001:db8:ffff:ffff::123"
SYSLOG_V4, SYSLOG_V6 = "10.0.0.50", "2001:db8:ffff:ffff::514"
SNMPV3_LEGACY_USER = "nms-legacy"
MAX_DEVICES = 250 * 250  # the IPv4 scheme's room


def mgmt_ipv4(index: int) -> str:
    return f"127.1.{index // 250}.{index % 250 + 1}"


@dataclass(frozen=True)
class PortPlan:
    ssh_base: int
    snmp_base: int
    # A province (``--cities``): one window per city, ``(first device index, base port)``, each
    # serving SSH (TCP) and SNMP (UDP) on the same numbers; ssh_base/snmp_base are then unused.
    windows: tuple[tuple[int, int], ...] = ()

    def _window(self, index: int) -> int:
        first, base = next(w for w in reversed(self.windows) if w[0] <= index)
        return base + index - first

    def ssh(self, index: int) -> int:
        return self._window(index) if self.windows else self.ssh_base + index

    def snmp(self, index: int) -> int:
        return self._window(index) if self.windows else self.snmp_base + index

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PortPlan:
        return cls(data["ssh_base"], data["snmp_base"], tuple((int(a), int(b)) for a, b in data.get("windows", ())))


class LoopbackPlan:
    """The ``address_plan`` hook for generate_inventory; remembers each device's planned site."""

    def __init__(self, ports: PortPlan) -> None:
        self.ports = ports
        self.sites: dict[int, PlannedSite] = {}

    def __call__(self, index: int, site: PlannedSite, v4: bool, v6: bool) -> Addressing:
        self.sites[index] = site
        return Addressing(
            mgmt_ipv4(index) if v4 else None,
            "::1" if v6 else None,
            self.ports.ssh(index),
            self.ports.snmp(index),
        )


def link_local(mac: str) -> str:
    """EUI-64 link-local address from a MAC (what VRP, Comware and IOS derive by default)."""
    b = bytearray.fromhex(mac)
    b[0] ^= 0x02
    eui = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\x00" * 6 + eui))


@dataclass
class Iface:
    name: str
    role: str
    description: str
    if_index: int
    mac: str
    admin_up: bool = True
    oper_up: bool = True
    ipv4: str | None = None  # "10.1.2.2/30"
    ipv6: str | None = None  # "2001:db8::2/64" (global)
    ipv6_enabled: bool = False  # a link-local address exists
    speed_mbps: int = 1000

    @property
    def link_local(self) -> str | None:
        return link_local(self.mac) if self.ipv6_enabled else None

    def facts(self) -> InterfaceFacts:
        return InterfaceFacts(
            name=self.name,
            admin_up=self.admin_up,
            oper_up=self.oper_up,
            ipv4=[self.ipv4] if self.ipv4 else [],
            ipv6=[self.ipv6] if self.ipv6 else [],
            ipv6_link_local=self.link_local,
            role=self.role,  # type: ignore[arg-type]
        )


@dataclass
class Neighbor:
    address: str
    mac: str
    interface: str
    state: str = "STALE"


@dataclass
class Fault:
    kind: str
    delay_s: float | None = None  # slow: seconds before each reply

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class DeviceState:
    index: int
    hostname: str
    platform: str
    vendor: str
    model: str
    level: str
    site: str
    site_name: str
    mgmt_ipv4: str | None
    mgmt_ipv6: str | None
    ssh_port: int
    snmp_port: int
    ssh: bool
    snmp_version: str  # the inventory's profile: "v2c" or "v3"
    netsnmp: bool = False  # served by a real net-snmp snmpd (facts read back at up time)
    interfaces: list[Iface] = field(default_factory=list)
    ipv6_profile: str = "none"  # ready | no_default_route | uplink_only | forwarding_off | none
    ipv6_forwarding: bool = False
    ipv4_gateway: str | None = None
    ipv6_gateway: str | None = None  # None: no IPv6 default route
    neighbors: list[Neighbor] = field(default_factory=list)
    telnet: bool = False
    http: bool = False
    ssh_v2_only: bool = True
    snmp_v2c: bool = False
    public_community: bool = False
    snmpv3_users: list[str] = field(default_factory=list)
    ntp_servers: list[str] = field(default_factory=list)
    syslog_hosts: list[str] = field(default_factory=list)
    aaa: bool = True
    banner: bool = True
    banner_text: str | None = None  # None: the lab's standard text (render.BANNER)
    acl4: bool = True
    acl6: bool = False
    first_login_prompt: bool = False
    snmp_view: str = "same"  # same | no_ipv6_mib | stale_route
    fault: Fault | None = None
    uptime_s: int = 86400

    # -- views -------------------------------------------------------------------------------
    def iface(self, role: str) -> Iface | None:
        return next((i for i in self.interfaces if i.role == role), None)

    def facts(self) -> DeviceFacts:
        """What the device really is, as its CLI shows it (the audit's expected result)."""
        m = MODELS[self.model]
        uplink = self.iface("uplink")
        return DeviceFacts(
            hostname=self.hostname,
            platform=self.platform,
            vendor=self.vendor,
            os_version=m.os_version,
            sys_descr=m.sys_descr,
            sys_object_id=m.sys_object_id,
            interfaces=[i.facts() for i in self.interfaces],
            ipv6_forwarding=self.ipv6_forwarding,
            ipv6_default_route=self.ipv6_gateway is not None,
            ipv4_default_route=self.ipv4_gateway is not None,
            ipv6_neighbors_uplink=sum(1 for n in self.neighbors if uplink and n.interface == uplink.name),
            telnet_enabled=self.telnet,
            http_enabled=self.http,
            ssh_enabled=self.ssh,
            ssh_v2_only=self.ssh_v2_only,
            snmp_default_community=self.public_community,
            snmp_v2c_enabled=self.snmp_v2c,
            snmpv3_users=sorted(self.snmpv3_users),
            ntp_servers=list(self.ntp_servers),
            syslog_hosts=list(self.syslog_hosts),
            aaa_login=self.aaa,
            login_banner=self.banner,
            mgmt_acl_ipv4=self.acl4,
            mgmt_acl_ipv6=self.acl6,
            ra_guard=None,
        )

    def snmp_facts(self) -> DeviceFacts:
        """What an SNMP poll of this device returns (differs from facts() for snmp_view != same)."""
        full = self.facts()
        out = DeviceFacts(**{f: getattr(full, f) for f in SNMP_VISIBLE})
        if self.snmp_view == "no_ipv6_mib":
            for i in out.interfaces:
                i.ipv6, i.ipv6_link_local = [], None
            out.ipv6_forwarding = None
            out.ipv6_default_route = None
            out.ipv6_neighbors_uplink = None
        elif self.snmp_view == "stale_route":
            out.ipv6_default_route = False
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceState:
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in known}
        kw["interfaces"] = [Iface(**i) for i in data.get("interfaces", [])]
        kw["neighbors"] = [Neighbor(**n) for n in data.get("neighbors", [])]
        kw["fault"] = Fault(**data["fault"]) if data.get("fault") else None
        return cls(**kw)


# -- building the plan -----------------------------------------------------------------------
_PLATFORM_OF_GROUP = {"huawei": "huawei_vrp", "h3c": "hp_comware", "cisco": "cisco_ios", "snmp-only": "linux"}
_VENDOR = {"huawei_vrp": "Huawei", "hp_comware": "H3C", "cisco_ios": "Cisco", "linux": "Linux"}
_LEVELS = ("city", "county", "township", "village")
_IFNAMES = {
    # uplink, spare (shut), access, mgmt, loopback
    "huawei_vrp": ("GigabitEthernet0/0/0", "GigabitEthernet0/0/1", "Vlanif100", "MEth0/0/1", "LoopBack0"),
    "hp_comware": (
        "GigabitEthernet1/0/1",
        "GigabitEthernet1/0/2",
        "Vlan-interface100",
        "M-GigabitEthernet0/0/0",
        "LoopBack0",
    ),
    "cisco_ios": ("GigabitEthernet0/0", "GigabitEthernet0/2", "GigabitEthernet0/1", "GigabitEthernet0/3", "Loopback0"),
}


def ensure_netsnmp_device(inv: GeneratedInventory) -> str:
    """Make sure at least one device is an SNMP-only box on [::1] (served by a real snmpd)."""
    for host, dev in inv.devices.items():
        if "snmp-only" in dev["groups"]:
            return host
    host = next(reversed(inv.devices))  # the last site: a village in any lab bigger than a few devices
    dev = inv.devices[host]
    level = next(g for g in dev["groups"] if g in _LEVELS)
    dev["groups"] = ["snmp-only", level]
    dev.pop("mgmt_ipv4", None)
    dev["mgmt_ipv6"] = "::1"
    return host


def _pick(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), list(table.values()))[0]


def _by_level(level: str, city: float, county: float, township: float, village: float) -> float:
    return {"city": city, "county": county, "township": township, "village": village}[level]


def plan_devices(
    inv: GeneratedInventory,
    sites: dict[int, PlannedSite],
    seed: int,
    faults: float,
    snmpv3_user: str,
) -> list[DeviceState]:
    states = [
        _plan_device(i, host, dev, inv, sites[i], seed, snmpv3_user)
        for i, (host, dev) in enumerate(inv.devices.items())
    ]
    assign_faults(states, seed, faults)
    return states


def _plan_device(
    i: int,
    host: str,
    dev: dict[str, Any],
    inv: GeneratedInventory,
    site: PlannedSite,
    seed: int,
    snmpv3_user: str,
) -> DeviceState:
    rng = random.Random(f"{seed}/{host}")
    groups = dev["groups"]
    platform = next(_PLATFORM_OF_GROUP[g] for g in groups if g in _PLATFORM_OF_GROUP)
    level = next(g for g in groups if g in _LEVELS)
    st = DeviceState(
        index=i,
        hostname=host,
        platform=platform,
        vendor=_VENDOR[platform],
        model="linux",
        level=level,
        site=dev["site"],
        site_name=inv.sites[dev["site"]]["name"],
        mgmt_ipv4=dev.get("mgmt_ipv4"),
        mgmt_ipv6=dev.get("mgmt_ipv6"),
        ssh_port=dev["ssh_port"],
        snmp_port=dev["snmp_port"],
        ssh=platform != "linux",
        snmp_version="v2c" if "legacy-snmp" in groups else "v3",
        uptime_s=rng.randint(3600, 400 * 86400),
    )
    if platform == "linux":
        st.netsnmp = True
        st.snmp_v2c = True
        st.snmpv3_users = [snmpv3_user]
        return st
    st.model = _model(rng, platform, level)
    _plan_interfaces(st, rng, site)
    _plan_services(st, rng, snmpv3_user)
    if st.platform == "huawei_vrp" and st.model == "ar617-old" and st.ipv6_profile != "none":
        st.snmp_view = "no_ipv6_mib" if rng.random() < 0.15 else "same"
    elif st.ipv6_gateway is not None and rng.random() < 0.02:
        st.snmp_view = "stale_route"
    return st


def _model(rng: random.Random, platform: str, level: str) -> str:
    if platform == "huawei_vrp":
        if level in ("city", "county"):
            return "ne40e"
        if level == "township":
            return "ar6280"
        return "ar617" if rng.random() < 0.6 else "ar617-old"
    if platform == "hp_comware":
        return "msr3620"
    return "iosv" if rng.random() < 0.7 else "c1801"


def _ipv6_profile(st: DeviceState, rng: random.Random) -> str:
    if st.mgmt_ipv6 is None:  # IPv4-only management: the sites that lag most
        return _pick(rng, {"none": 0.6, "ready": 0.2, "no_default_route": 0.1, "uplink_only": 0.1})
    if st.mgmt_ipv4 is None:  # IPv6-only management: IPv6 works, at least towards the NOC
        return _pick(rng, {"ready": 0.9, "no_default_route": 0.1})
    table = {
        "city": {"ready": 1.0},
        "county": {"ready": 0.95, "no_default_route": 0.05},
        "township": {"ready": 0.85, "no_default_route": 0.07, "uplink_only": 0.05, "forwarding_off": 0.03},
        "village": {"ready": 0.70, "no_default_route": 0.12, "uplink_only": 0.10, "forwarding_off": 0.08},
    }[st.level]
    profile = _pick(rng, table)
    # Only IOS keeps interface addresses with routing off (no `ipv6 unicast-routing`).
    if profile == "forwarding_off" and st.platform != "cisco_ios":
        profile = "no_default_route"
    return profile


def _plan_interfaces(st: DeviceState, rng: random.Random, site: PlannedSite) -> None:
    i = st.index
    oui = MODELS[st.model].oui
    names = _IFNAMES[st.platform]
    profile = st.ipv6_profile = _ipv6_profile(st, rng)
    v6 = profile != "none"
    p2p4 = ipaddress.IPv4Address("172.16.0.0") + 4 * i
    p2p6 = f"2001:db8:ff:{i:x}::"
    lan4 = ipaddress.IPv4Address("10.64.0.0") + 256 * i
    lan6 = f"2001:db8:{0x1000 + i:x}::"
    doc = documentation_addresses(i, site, True, True)

    def mac(k: int) -> str:
        return f"{oui}{(i >> 8) & 0xFF:02x}{i & 0xFF:02x}{k:02x}"

    uplink = Iface(names[0], "uplink", "uplink to upstream", 1, mac(1), ipv4=f"{p2p4 + 2}/30")
    spare = Iface(names[1], "other", "", 2, mac(2), admin_up=False, oper_up=False)
    access = Iface(names[2], "access", "access LAN", 3, mac(3), ipv4=f"{lan4 + 1}/24")
    mgmt = Iface(names[3], "mgmt", "mgmt", 4, mac(4), ipv4=f"{doc.mgmt_ipv4}/24")
    loop = Iface(names[4], "loopback", "loopback", 5, mac(5), ipv4=f"10.255.{i // 256}.{i % 256}/32")
    loop.speed_mbps = 0
    if st.platform == "huawei_vrp":
        access.speed_mbps = 0  # VLAN interfaces report no speed
    if v6:
        uplink.ipv6, uplink.ipv6_enabled = f"{ipaddress.IPv6Address(p2p6 + '2')}/64", True
        loop.ipv6 = f"{ipaddress.IPv6Address('2001:db8:ffff::') + i + 1}/128"
        loop.ipv6_enabled = True
        if profile != "uplink_only":
            access.ipv6, access.ipv6_enabled = f"{ipaddress.IPv6Address(lan6 + '1')}/64", True
    if st.mgmt_ipv6 is not None:
        mgmt.ipv6, mgmt.ipv6_enabled = f"{doc.mgmt_ipv6}/64", True
    st.interfaces = [uplink, spare, access, mgmt, loop]
    st.ipv6_forwarding = v6 and profile != "forwarding_off"
    st.ipv4_gateway = str(p2p4 + 1)
    if v6 and profile != "no_default_route":
        st.ipv6_gateway = str(ipaddress.IPv6Address(p2p6 + "1"))
    if v6:
        upstream_mac = f"{oui}ff{(i >> 8) & 0xFF:02x}{i & 0xFF:02x}"
        st.neighbors.append(Neighbor(link_local(upstream_mac), upstream_mac, uplink.name))
        if st.ipv6_gateway:
            st.neighbors.append(Neighbor(st.ipv6_gateway, upstream_mac, uplink.name, "REACH"))
        if access.ipv6:
            for h in range(rng.randint(0, 3)):
                host_mac = f"0050{rng.randrange(16**8):08x}"
                st.neighbors.append(
                    Neighbor(str(ipaddress.IPv6Address(lan6 + f"{0x100 + h:x}")), host_mac, access.name)
                )


def _plan_services(st: DeviceState, rng: random.Random, snmpv3_user: str) -> None:
    lvl = st.level
    v6 = st.ipv6_profile != "none"
    st.telnet = rng.random() < _by_level(lvl, 0.0, 0.02, 0.05, 0.12)
    st.http = rng.random() < _by_level(lvl, 0.03, 0.05, 0.08, 0.12)
    st.ssh_v2_only = rng.random() < _by_level(lvl, 1.0, 0.97, 0.95, 0.9)
    st.snmp_v2c = st.snmp_version == "v2c" or rng.random() < _by_level(lvl, 0.1, 0.15, 0.2, 0.25)
    st.public_community = st.snmp_v2c and rng.random() < (0.25 if st.snmp_version == "v2c" else 0.1)
    st.snmpv3_users = [snmpv3_user] + ([SNMPV3_LEGACY_USER] if rng.random() < 0.1 else [])
    if rng.random() >= 0.03:
        st.ntp_servers = [NTP_V4] + ([NTP_V6] if v6 and rng.random() < 0.6 else [])
    if rng.random() >= 0.05:
        st.syslog_hosts = [SYSLOG_V4] + ([SYSLOG_V6] if v6 and rng.random() < 0.5 else [])
    st.aaa = rng.random() < _by_level(lvl, 1.0, 0.97, 0.95, 0.88)
    st.banner = rng.random() < _by_level(lvl, 1.0, 0.95, 0.9, 0.75)
    st.acl4 = rng.random() < _by_level(lvl, 1.0, 0.95, 0.92, 0.8)
    any_v6 = any(i.ipv6_enabled for i in st.interfaces)
    st.acl6 = any_v6 and rng.random() < _by_level(lvl, 0.9, 0.8, 0.65, 0.5)
    st.first_login_prompt = st.platform == "huawei_vrp" and rng.random() < 0.12


def assign_faults(states: Iterable[DeviceState], seed: int, share: float) -> None:
    """Give round(share × eligible) devices one fault each, kinds spread evenly, all by seed."""
    eligible = [s for s in states if not s.netsnmp]
    rng = random.Random(seed * 1_000_003 + 11)
    count = round(share * len(eligible))
    chosen = rng.sample(eligible, count)
    kinds = [FAULT_KINDS[j % len(FAULT_KINDS)] for j in range(count)]
    rng.shuffle(kinds)
    for st in eligible:
        st.fault = None
    for st, kind in zip(chosen, kinds, strict=True):
        st.fault = Fault(kind, SLOW_DELAY_S if kind == "slow" else None)


def assign_config_faults(states: Iterable[DeviceState], seed: int) -> list[str]:
    """Give one village device each configuration fault (``config_reject``, ``config_drop``).

    Only devices without another fault, audited over SSH, are chosen; each gets telnet and HTTP
    on, so a remediation of the baseline sends it at least two lines (the fault hits the second).
    Used only with the lab option ``--config-faults``: the other devices stay as the seed made them.
    """
    eligible = [s for s in states if s.fault is None and s.ssh and not s.netsnmp and s.level == "village"]
    rng = random.Random(seed * 1_000_003 + 29)
    chosen = rng.sample(eligible, min(len(CONFIG_FAULT_KINDS), len(eligible)))
    for st, kind in zip(chosen, CONFIG_FAULT_KINDS, strict=False):
        st.fault = Fault(kind)
        st.telnet = st.http = True
    return [st.hostname for st in chosen]


def expected_status(st: DeviceState) -> str:
    return EXPECTED_STATUS[st.fault.kind if st.fault else None]


def truth_entry(st: DeviceState, facts: DeviceFacts | None = None) -> dict[str, Any]:
    """One device in truth.json; ``facts`` overrides the plan's (the snmpd devices' read-back)."""
    f = facts if facts is not None else st.facts()
    differs = st.snmp_view != "same"
    return {
        "facts": f.to_dict(),
        "fault": st.fault.to_dict() if st.fault else None,
        "expected_status": expected_status(st),
        "snmp_facts": st.snmp_facts().to_dict() if differs else None,
        "snmp_view": st.snmp_view,
        "ipv6_profile": st.ipv6_profile,
        "source": "snmpd-readback" if st.netsnmp else "plan",
        "access": {
            "ssh": {"address": st.mgmt_ipv4 or st.mgmt_ipv6, "port": st.ssh_port} if st.ssh else None,
            "snmp": {"address": st.mgmt_ipv4 or st.mgmt_ipv6, "port": st.snmp_port, "version": st.snmp_version},
            "mgmt_ipv4": st.mgmt_ipv4,
            "mgmt_ipv6": st.mgmt_ipv6,
        },
        "model": MODELS[st.model].name if st.model in MODELS else st.model,
        "first_login_prompt": st.first_login_prompt,
    }
