"""The lab's scale model (``lab up --extranet --cities N``): a province of N cities of the city's shape."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from govops.lab.extranet.plan import LoopbackPlan, PortPlan
from govops.lab.extranet.province import city, city_seed, generate_province
from govops.network.distributed import queue_for
from govops.network.generate import generate_inventory
from govops.network.inventory import load_inventory

CITIES, PER_CITY, SEED = 3, 60, 4


def _province(tmp_path: Path) -> tuple[LoopbackPlan, Path]:
    sizes = [len(generate_inventory(sites=PER_CITY, seed=city_seed(SEED, k)).devices) for k in range(CITIES)]
    firsts = [sum(sizes[:k]) for k in range(CITIES)]
    lp = LoopbackPlan(PortPlan(0, 0, tuple((f, 20000 + 1000 * k) for k, f in enumerate(firsts))))
    inv = generate_province(CITIES, PER_CITY, SEED, lp)
    inv.write(tmp_path / "inv")
    return lp, tmp_path / "inv"


def test_each_city_has_the_city_shape_and_its_own_names(tmp_path: Path) -> None:
    _, folder = _province(tmp_path)
    inv = load_inventory(folder)
    per_city: Counter[str] = Counter()
    for k in range(CITIES):
        c = city(k)
        one = generate_inventory(sites=PER_CITY, seed=city_seed(SEED, k))
        mine = [d for d in inv.devices.values() if c.group in d.groups]
        per_city[c.code] = len(mine)
        # the same tree as the one-city generator's, renamed into the province
        assert Counter(d.site.level for d in mine) == Counter(s["level"] for s in one.sites.values())
        assert all(d.hostname.startswith(f"{c.code}-") and d.site.city == c.code for d in mine)
        assert inv.sites[c.code].name == f"{c.name}政务外网中心"
        counties = [s for s in inv.sites.values() if s.level == "county" and s.parent == c.code]
        assert len({s.name for s in counties}) == len(counties)
    assert sum(per_city.values()) == len(inv.devices)
    # every device in exactly one city group
    assert all(sum(g.startswith("city-") for g in d.groups) == 1 for d in inv.devices.values())


def test_addresses_are_distinct_over_the_province(tmp_path: Path) -> None:
    lp, folder = _province(tmp_path)
    inv = load_inventory(folder)
    v4 = [d.mgmt_ipv4 for d in inv.devices.values() if d.mgmt_ipv4]
    assert len(v4) == len(set(v4))
    # on the shared ::1, each device's port is its own; SSH and SNMP share a number (TCP vs UDP)
    ports = [d.ssh_port for d in inv.devices.values()]
    assert len(ports) == len(set(ports))
    assert all(d.ssh_port == d.snmp_port for d in inv.devices.values())
    # the addresses configured on the devices: county numbers unique in the province
    county_numbers = Counter((site.county_index, site.township_index, site.village_index) for site in lp.sites.values())
    assert max(county_numbers.values()) == 1


def test_a_route_sends_a_city_to_its_queue(tmp_path: Path) -> None:
    _, folder = _province(tmp_path)
    inv = load_inventory(folder)
    routes = {city(1).group: city(1).code}
    queues = Counter(
        (queue_for(d, routes), next(g for g in d.groups if g.startswith("city-"))) for d in inv.devices.values()
    )
    assert {q for (q, g) in queues if g == city(1).group} == {city(1).code}
    assert {q for (q, g) in queues if g != city(1).group} == {"govops"}


def test_port_windows() -> None:
    plan = PortPlan(0, 0, ((0, 15000), (10, 30000)))
    assert [plan.ssh(i) for i in (0, 9, 10, 12)] == [15000, 15009, 30000, 30002]
    assert plan.snmp(12) == plan.ssh(12)
    assert PortPlan.from_dict({"ssh_base": 0, "snmp_base": 0, "windows": [[0, 15000], [10, 30000]]}) == plan
    assert PortPlan(100, 200).ssh(3) == 103 and PortPlan(100, 200).snmp(3) == 203
