"""Normalised device facts: what collectors (SSH, SNMP) produce and rules read.

This is the contract between three parts: the parsers turn device output into these facts, the
rules evaluate them, and the lab's ground truth (``truth.json``) states them for every lab device
so tests can compare. Values are ``None`` when not collected (unknown), never guessed.
Nothing secret is a fact: SNMP communities appear only as "is a default community in use".
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

InterfaceRole = Literal["uplink", "access", "mgmt", "loopback", "other"]


@dataclass
class InterfaceFacts:
    name: str
    admin_up: bool | None = None
    oper_up: bool | None = None
    ipv4: list[str] = field(default_factory=list)  # "10.1.2.3/30", sorted
    ipv6: list[str] = field(default_factory=list)  # global unicast "2001:db8::1/64", compressed, sorted
    ipv6_link_local: str | None = None  # "fe80::1"
    role: InterfaceRole = "other"

    @property
    def l3(self) -> bool:
        return bool(self.ipv4 or self.ipv6)


@dataclass
class DeviceFacts:
    hostname: str | None = None
    platform: str | None = None
    vendor: str | None = None
    os_version: str | None = None
    sys_descr: str | None = None
    sys_object_id: str | None = None
    interfaces: list[InterfaceFacts] = field(default_factory=list)
    ipv6_forwarding: bool | None = None
    ipv6_default_route: bool | None = None
    ipv4_default_route: bool | None = None
    ipv6_neighbors_uplink: int | None = None  # IPv6 neighbours seen on uplink interfaces
    telnet_enabled: bool | None = None
    http_enabled: bool | None = None
    ssh_enabled: bool | None = None
    ssh_v2_only: bool | None = None
    snmp_default_community: bool | None = None  # 'public' or 'private' configured
    snmp_v2c_enabled: bool | None = None
    snmpv3_users: list[str] = field(default_factory=list)
    ntp_servers: list[str] = field(default_factory=list)
    syslog_hosts: list[str] = field(default_factory=list)
    aaa_login: bool | None = None  # logins authenticated by AAA (local scheme or RADIUS/TACACS)
    login_banner: bool | None = None
    mgmt_acl_ipv4: bool | None = None  # an IPv4 ACL restricts VTY/SSH access
    mgmt_acl_ipv6: bool | None = None  # an IPv6 ACL restricts VTY/SSH access
    ra_guard: bool | None = None  # None: not applicable / not supported on the platform

    def to_dict(self) -> dict[str, Any]:
        # what dataclasses.asdict returns, without its generic recursion (a quarter of the audit
        # process's CPU, three times per device): every field is a scalar, a list of str or
        # the interfaces; lists are copied so the dict never aliases these facts
        out: dict[str, Any] = {}
        for name in _DEVICE_FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, list) else value
        out["interfaces"] = [
            {name: list(v) if isinstance(v := getattr(i, name), list) else v for name in _INTERFACE_FIELDS}
            for i in self.interfaces
        ]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceFacts:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["interfaces"] = [InterfaceFacts(**i) for i in data.get("interfaces", [])]
        return cls(**kwargs)


_INTERFACE_FIELDS = tuple(f.name for f in fields(InterfaceFacts))
_DEVICE_FIELDS = tuple(f.name for f in fields(DeviceFacts) if f.name != "interfaces")
