"""Export the inventory for other tools: Ansible (YAML inventory) and Nornir SimpleInventory.

Neither export contains a secret: Ansible gets env lookups for the credential names, Nornir gets
no username/password (set them with a transform function from the same variables).
"""

from __future__ import annotations

from typing import Any

from govops.credentials import env_var_name
from govops.network.inventory import Device, Inventory
from govops.network.platforms import platform as platform_info


def to_ansible(inv: Inventory, env_prefix: str = "GOVOPS_CRED_") -> dict[str, Any]:
    children: dict[str, dict[str, Any]] = {}
    hostvars: dict[str, dict[str, Any]] = {}

    def add(group: str, host: str) -> None:
        children.setdefault(group, {"hosts": {}})["hosts"][host] = None

    for d in inv:
        hv: dict[str, Any] = {"ansible_host": d.address, "govops_site": d.site.code, "govops_level": d.level}
        p = platform_info(d.platform)
        if p is not None and p.ansible_network_os:
            hv["ansible_network_os"] = p.ansible_network_os
            hv["ansible_connection"] = "ansible.netcommon.network_cli"
        if d.ssh is not None:
            hv["ansible_port"] = d.ssh_port or d.ssh.port
            for key, fld in (("ansible_user", "username"), ("ansible_password", "password")):
                var = env_var_name(d.ssh.credential, fld, env_prefix)
                hv[key] = f"{{{{ lookup('env', '{var}') }}}}"
        if d.county:
            hv["govops_county"] = d.county
        hostvars[d.hostname] = hv
        add(f"platform_{d.platform or 'unknown'}", d.hostname)
        add(f"level_{d.level}", d.hostname)
        if d.county:
            add(f"county_{d.county}", d.hostname)
    for group in children.values():
        for host in group["hosts"]:
            group["hosts"][host] = hostvars[host]
            hostvars[host] = {}
    return {"all": {"children": children}}


def _nornir_host(d: Device) -> dict[str, Any]:
    p = platform_info(d.platform)
    host: dict[str, Any] = {
        "hostname": d.address,
        "platform": p.netmiko_device_type if p and p.netmiko_device_type else d.platform,
        "groups": list(d.groups),
        "data": {
            "site": d.site.code,
            "level": d.level,
            "county": d.county,
            "role": d.role,
            "mgmt_ipv6": d.mgmt_ipv6,
            **d.data,
        },
    }
    if d.ssh is not None:
        host["port"] = d.ssh_port or d.ssh.port
        host["data"]["credential"] = d.ssh.credential
    return host


def to_nornir(inv: Inventory) -> dict[str, dict[str, Any]]:
    """The three SimpleInventory files: hosts.yaml, groups.yaml, defaults.yaml."""
    groups = {name: {"data": dict(g.data), "groups": list(g.groups)} for name, g in inv.groups.items()}
    return {
        "hosts.yaml": {d.hostname: _nornir_host(d) for d in inv},
        "groups.yaml": groups,
        "defaults.yaml": {"data": dict(inv.defaults.data)},
    }
