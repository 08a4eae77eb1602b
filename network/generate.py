"""Generate a realistic extranet inventory: 1 city, 7 county-level districts, ~70 townships, villages.

The default shape is the city's: 1 + 7 + 70 + 2,219 = 2,297 sites, one device at each. The lab
reuses the same site plan with loopback addresses (``address_plan``).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

COUNTIES = [
    ("jb", "江北区"),
    ("jn", "江南区"),
    ("dh", "东湖区"),
    ("xs", "西山区"),
    ("gx", "高新区"),
    ("lg", "临港县"),
    ("qs", "青山县"),
]
_SYL = "安宝昌承大德东丰福和河红华惠吉嘉金锦康乐力利林龙茂美明宁平启庆荣瑞山盛石顺泰通万文祥新兴阳永裕长中"
_TOWN_SUFFIX = ("街道", "镇", "镇", "乡")
_VILLAGE_SUFFIX = ("村", "村", "村", "社区")
ROLE_BY_LEVEL = {"city": "core", "county": "distribution", "township": "aggregation", "village": "access"}


@dataclass(frozen=True)
class PlannedSite:
    code: str
    name: str
    level: str
    parent: str | None
    county_index: int
    township_index: int
    village_index: int


@dataclass(frozen=True)
class Addressing:
    mgmt_ipv4: str | None
    mgmt_ipv6: str | None
    ssh_port: int | None = None
    snmp_port: int | None = None


AddressPlan = Callable[[int, PlannedSite, bool, bool], Addressing]


def plan_sites(total: int = 2297, counties: int = 7, townships: int = 70, seed: int = 1) -> list[PlannedSite]:
    """Site tree with ``total`` sites; villages spread unevenly over townships like real ones."""
    if total < 1 + counties + townships:
        # small labs: shrink the upper levels so every level still exists
        counties = max(1, min(counties, (total - 1) // 4 or 1))
        townships = max(counties, min(townships, (total - 1 - counties) // 2 or counties))
    rng = random.Random(seed)
    sites = [PlannedSite("city", "市政务外网中心", "city", None, 0, 0, 0)]
    used_names: set[str] = set()

    def name(suffixes: tuple[str, ...]) -> str:
        while True:
            n = rng.choice(_SYL) + rng.choice(_SYL) + rng.choice(suffixes)
            if n not in used_names:
                used_names.add(n)
                return n

    county_sites = []
    for c in range(counties):
        code, cname = COUNTIES[c] if c < len(COUNTIES) else (f"c{c + 1}", f"第{c + 1}区")
        county_sites.append(PlannedSite(code, cname, "county", "city", c + 1, 0, 0))
    sites.extend(county_sites)
    town_sites = []
    for t in range(townships):
        county = county_sites[t % counties]
        idx = t // counties + 1
        town_sites.append(
            PlannedSite(
                f"{county.code}-t{idx:02d}",
                name(_TOWN_SUFFIX),
                "township",
                county.code,
                county.county_index,
                idx,
                0,
            )
        )
    sites.extend(town_sites)
    villages = max(0, total - len(sites))
    weights = [rng.uniform(0.5, 1.5) for _ in town_sites] or [1.0]
    counts = [0] * len(town_sites)
    for _ in range(villages):
        counts[rng.choices(range(len(town_sites)), weights)[0]] += 1
    for town, n in zip(town_sites, counts, strict=True):
        for v in range(1, n + 1):
            sites.append(
                PlannedSite(
                    f"{town.code}-v{v:03d}",
                    name(_VILLAGE_SUFFIX),
                    "village",
                    town.code,
                    town.county_index,
                    town.township_index,
                    v,
                )
            )
    return sites


def documentation_addresses(index: int, site: PlannedSite, v4: bool, v6: bool) -> Addressing:
    """Private IPv4 and documentation-prefix IPv6 management addresses by site position."""
    c, t, v = site.county_index, site.township_index, site.village_index
    return Addressing(
        f"10.{16 + c}.{t + (v // 250) * 128}.{v % 250 + 1}" if v4 else None,
        str(ipaddress.IPv6Address(f"2001:db8:{c:x}:{t:x}::{v + 1:x}")) if v6 else None,
    )


@dataclass
class GeneratedInventory:
    sites: dict[str, Any] = field(default_factory=dict)
    devices: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for name, data, head in (
            ("sites.yaml", {"sites": self.sites}, "Sites: code -> name, admin level, parent site."),
            ("devices.yaml", {"devices": self.devices}, "Devices: hostname -> site, platform, addresses."),
            ("groups.yaml", self.groups, "Groups: keys every member inherits unless it sets its own."),
            ("defaults.yaml", self.defaults, "Defaults for every device."),
            (
                "profiles.yaml",
                self.profiles,
                "Access profiles. Credentials are names, resolved from env/vault/keyring.",
            ),
        ):
            path = folder / name
            text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
            path.write_text(f"# {head}\n# Generated by `govops net inventory generate`.\n{text}", encoding="utf-8")
            out.append(path)
        return out


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def generate_inventory(
    sites: int = 2297,
    seed: int = 1,
    address_plan: AddressPlan = documentation_addresses,
    platform_mix: tuple[float, float, float] = (0.55, 0.35, 0.10),
    ssh_credential: str = "extranet-ssh",
    snmp_v3_credential: str = "extranet-snmpv3",
    snmp_v2c_credential: str = "extranet-snmp-community",
) -> GeneratedInventory:
    """A whole inventory in the real shape: one device per site, mixed vendors and mgmt stacks."""
    rng = random.Random(seed * 7919 + 17)
    plan = plan_sites(total=sites, seed=seed)
    inv = GeneratedInventory()
    for s in plan:
        entry: dict[str, Any] = {"name": s.name, "level": s.level}
        if s.parent:
            entry["parent"] = s.parent
        inv.sites[s.code] = entry
    inv.profiles = {
        "ssh": {"default": {"credential": ssh_credential, "port": 22, "timeout": 20}},
        "snmp": {
            "v3": {
                "version": "v3",
                "credential": snmp_v3_credential,
                "auth_protocol": "sha",
                "priv_protocol": "aes",
            },
            "v2c": {"version": "v2c", "credential": snmp_v2c_credential},
        },
    }
    inv.defaults = {"ssh_profile": "default", "snmp_profile": "v3"}
    inv.groups = {
        "huawei": {"platform": "huawei_vrp", "data": {"vendor": "Huawei"}},
        "h3c": {"platform": "hp_comware", "data": {"vendor": "H3C"}},
        "cisco": {"platform": "cisco_ios", "data": {"vendor": "Cisco"}},
        "snmp-only": {"ssh_profile": "none", "platform": "linux"},
        "legacy-snmp": {"snmp_profile": "v2c"},
        **{lvl: {"role": role} for lvl, role in ROLE_BY_LEVEL.items()},
    }
    names = {0: "core", 1: "dist", 2: "agg", 3: "acc"}
    level_no = {"city": 0, "county": 1, "township": 2, "village": 3}
    for i, s in enumerate(plan):
        upper = s.level in ("city", "county")
        r = rng.random()
        if s.level == "village" and r < 0.10:
            v4, v6 = True, False  # village sites lag on IPv6 management
        elif s.level != "city" and r > 0.985:
            v4, v6 = False, True
        else:
            v4, v6 = True, True
        vendor = "huawei" if upper else rng.choices(["huawei", "h3c", "cisco"], platform_mix)[0]
        groups = [vendor, s.level]
        if s.level == "village" and rng.random() < 0.01:
            groups = ["snmp-only", s.level]
        elif s.level == "village" and rng.random() < 0.12:
            groups.append("legacy-snmp")
        addr = address_plan(i, s, v4, v6)
        prefix = "city" if s.level == "city" else s.code
        host = f"{prefix}-{names[level_no[s.level]]}1"
        dev: dict[str, Any] = {"site": s.code, "groups": groups}
        if addr.mgmt_ipv4:
            dev["mgmt_ipv4"] = addr.mgmt_ipv4
        if addr.mgmt_ipv6:
            dev["mgmt_ipv6"] = addr.mgmt_ipv6
        if addr.ssh_port:
            dev["ssh_port"] = addr.ssh_port
        if addr.snmp_port:
            dev["snmp_port"] = addr.snmp_port
        inv.devices[host] = dev
    return inv
