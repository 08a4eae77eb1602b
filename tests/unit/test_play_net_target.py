"""`govops play run --target net`: the extranet inventory as Ansible sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
from govops.automation.net import collection_installed, net_inventory
from govops.network.generate import generate_inventory
from govops.network.inventory import load_inventory

pytestmark = pytest.mark.unit


def test_groups_network_os_and_no_secret(tmp_path: Path) -> None:
    generate_inventory(sites=60, seed=3).write(tmp_path / "inv")
    inv = load_inventory(tmp_path / "inv")
    doc = net_inventory(inv)
    groups = doc["all"]["children"]
    assert any(g.startswith("county_") for g in groups)
    assert {"level_city", "level_county", "level_township", "level_village"} <= set(groups)
    hosts = {h: hv for g in groups.values() for h, hv in g["hosts"].items() if hv}
    by_platform = {d.hostname: d.platform for d in inv}
    ssh_hosts = {d.hostname for d in inv if d.ssh is not None}
    assert set(hosts) == ssh_hosts  # SNMP-only devices are left out
    ios = collection_installed("ansible_collections.cisco.ios")
    for host, hv in hosts.items():
        assert "lookup('env'" in hv["ansible_password"]
        if by_platform[host] == "cisco_ios" and ios:
            assert hv["ansible_network_os"] == "cisco.ios.ios"
            assert hv["ansible_connection"] == "ansible.netcommon.network_cli"
        else:
            # no collection in the ansible package for VRP/Comware: no network OS pretended
            assert "ansible_network_os" not in hv
