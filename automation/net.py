"""The extranet inventory as Ansible sees it (``govops play run --target net``).

Groups ``county_<code>``, ``level_<level>`` and ``platform_<platform>`` (from the inventory export);
credentials stay environment lookups (``GOVOPS_CRED_*``), never values. ``ansible_network_os``
is set only where an installed collection provides the platform's terminal and cliconf plugins:
``cisco.ios`` (in the ``ansible`` package) for IOS. Huawei VRP and H3C Comware have no usable
collection there (``community.network``, whose ``ce`` plugins covered Huawei CloudEngine, left the
``ansible`` package), so their hosts keep their groups and addresses but no network OS: a play
that targets them fails on them instead of pretending. SNMP-only devices are left out.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from govops.network.export import to_ansible
from govops.network.inventory import Inventory

# platform -> (ansible_network_os, the collection package that must be installed for it)
NETWORK_OS = {"cisco_ios": ("cisco.ios.ios", "ansible_collections.cisco.ios")}


def collection_installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:
        return False


def net_inventory(inv: Inventory, env_prefix: str = "GOVOPS_CRED_") -> dict[str, Any]:
    doc = to_ansible(inv, env_prefix)
    platform_of = {d.hostname: d.platform for d in inv}
    children: dict[str, Any] = doc["all"]["children"]
    for name in list(children):
        hosts = children[name]["hosts"]
        for host in list(hosts):
            hv = hosts[host]
            if hv and "ansible_port" not in hv:
                del hosts[host]  # SNMP only: nothing Ansible can log in to
                continue
            if not hv:
                continue
            hv.pop("ansible_network_os", None)
            hv.pop("ansible_connection", None)
            wanted = NETWORK_OS.get(platform_of.get(host) or "")
            if wanted is not None and collection_installed(wanted[1]):
                hv["ansible_network_os"] = wanted[0]
                hv["ansible_connection"] = "ansible.netcommon.network_cli"
                # paramiko is installed with netmiko; ansible-pylibssh is not a govops dependency
                hv["ansible_network_cli_ssh_type"] = "paramiko"
        if not hosts:
            del children[name]
    return doc
