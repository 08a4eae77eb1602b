"""What govops knows about each device platform. Unknown platforms are allowed: SNMP-only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Platform:
    name: str
    vendor: str
    netmiko_device_type: str | None  # None: no CLI support, audited over SNMP alone
    ansible_network_os: str | None
    paging_off: str | None


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("huawei_vrp", "Huawei", "huawei", "community.network.ce", "screen-length 0 temporary"),
        Platform("hp_comware", "H3C", "hp_comware", None, "screen-length disable"),
        Platform("cisco_ios", "Cisco", "cisco_ios", "cisco.ios.ios", "terminal length 0"),
        Platform("linux", "Linux", None, None, None),
    )
}

LEVELS = ("city", "county", "township", "village")


def platform(name: str | None) -> Platform | None:
    return PLATFORMS.get(name) if name else None


def has_cli(name: str | None) -> bool:
    p = platform(name)
    return p is not None and p.netmiko_device_type is not None
