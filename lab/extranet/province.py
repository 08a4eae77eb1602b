"""The lab's scale model: a province of N cities, each the city's shape (``lab up --cities N``).

Each city is ``generate_inventory`` of its own seed (its own township and village names, vendor
mix and tree), renamed into the province: its site codes and hostnames get the city's code as a
prefix (``jz-jb-t01-v003``, ``jz-core1``), its city site and counties get the city's names, and
every device joins the inventory group ``city-<code>``, so ``network.routes`` can send a city's
devices to its own queue (``city-jz: jz``). Addresses stay distinct over the whole province: the
lab's loopback addresses and ports follow the device's position in the province, and the
addresses configured on the devices (management, interfaces) use a county number unique in the
province.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from govops.network.generate import Addressing, AddressPlan, GeneratedInventory, PlannedSite, generate_inventory

# Fictional prefecture-level cities: (code, name). Beyond these, codes c13, c14, ...
CITIES = [
    ("jz", "江州市"),
    ("yz", "云州市"),
    ("hz", "禾州市"),
    ("lz", "临州市"),
    ("qz", "清州市"),
    ("sz", "松州市"),
    ("bz", "柏州市"),
    ("tz", "桐州市"),
    ("mz", "梅州市"),
    ("nz", "南州市"),
    ("wz", "望州市"),
    ("xz", "溪州市"),
]
_SYL = "安宝昌承大德东丰福和河红华惠吉嘉金锦康乐力利林龙茂美明宁平启庆荣瑞山盛石顺泰通万文祥新兴阳永裕长中"
COUNTY_STRIDE = 8  # county numbers per city in the device-side addresses (a city and its 7 counties)
GROUP_PREFIX = "city-"


@dataclass(frozen=True)
class City:
    index: int
    code: str
    name: str

    @property
    def group(self) -> str:
        return f"{GROUP_PREFIX}{self.code}"

    def site_code(self, code: str) -> str:
        return self.code if code == "city" else f"{self.code}-{code}"

    def hostname(self, host: str) -> str:
        return f"{self.code}-{host.removeprefix('city-')}"


def city(index: int) -> City:
    code, name = CITIES[index] if index < len(CITIES) else (f"c{index + 1}", f"第{index + 1}市")
    return City(index, code, name)


def city_seed(seed: int, index: int) -> int:
    return seed * 1000 + index


def _county_names(c: City, seed: int, count: int) -> list[str]:
    rng = random.Random(f"{seed}/{c.code}/counties")
    names: list[str] = []
    while len(names) < count:
        n = rng.choice(_SYL) + rng.choice(_SYL) + ("区" if len(names) < 5 else "县")
        if n not in names:
            names.append(n)
    return names


def generate_province(
    cities: int,
    devices_per_city: int,
    seed: int,
    address_plan: AddressPlan,
    ssh_credential: str = "extranet-ssh",
    snmp_v3_credential: str = "extranet-snmpv3",
    snmp_v2c_credential: str = "extranet-snmp-community",
) -> GeneratedInventory:
    """One inventory holding ``cities`` cities of ``devices_per_city`` devices each, in city order.

    ``address_plan`` is called with each device's position in the *province* and its site
    renamed into it (county numbers unique in the province), as for one city.
    """
    out = GeneratedInventory()
    offset = 0
    for k in range(cities):
        c = city(k)
        start = offset

        def plan(i: int, site: PlannedSite, v4: bool, v6: bool, c: City = c, start: int = start) -> Addressing:
            renamed = replace(
                site,
                code=c.site_code(site.code),
                parent=c.site_code(site.parent) if site.parent else None,
                county_index=site.county_index + COUNTY_STRIDE * c.index,
            )
            return address_plan(start + i, renamed, v4, v6)

        inv = generate_inventory(
            sites=devices_per_city,
            seed=city_seed(seed, k),
            address_plan=plan,
            ssh_credential=ssh_credential,
            snmp_v3_credential=snmp_v3_credential,
            snmp_v2c_credential=snmp_v2c_credential,
        )
        counties = [code for code, s in inv.sites.items() if s["level"] == "county"]
        county_name = dict(zip(counties, _county_names(c, seed, len(counties)), strict=True))
        for code, s in inv.sites.items():
            entry: dict[str, Any] = dict(s)
            if s["level"] == "city":
                entry["name"] = f"{c.name}政务外网中心"
            elif s["level"] == "county":
                entry["name"] = county_name[code]
            if "parent" in entry:
                entry["parent"] = c.site_code(entry["parent"])
            out.sites[c.site_code(code)] = entry
        for host, dev in inv.devices.items():
            moved = dict(dev)
            moved["site"] = c.site_code(dev["site"])
            moved["groups"] = [*dev["groups"], c.group]
            out.devices[c.hostname(host)] = moved
        if not out.groups:
            out.groups = dict(inv.groups)
            out.defaults = dict(inv.defaults)
            out.profiles = dict(inv.profiles)
        out.groups[c.group] = {"data": {"city": c.name}}
        offset += len(inv.devices)
    return out


def city_of(hostname: str, cities: int) -> City | None:
    """The province city a lab hostname belongs to (by its code prefix), if any."""
    for k in range(cities):
        c = city(k)
        if hostname.startswith(f"{c.code}-"):
            return c
    return None
