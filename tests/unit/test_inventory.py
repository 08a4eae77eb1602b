from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from govops.errors import InputError, NotFoundError, ValidationFailed
from govops.network.generate import generate_inventory, plan_sites
from govops.network.inventory import load_inventory

from tests.conftest import REPO

SITES = """sites:
  city: {name: 市中心, level: city}
  jb: {name: 江北区, level: county, parent: city}
  jb-t01: {name: 福顺街道, level: township, parent: jb}
  jb-t01-v001: {name: 力河村, level: village, parent: jb-t01}
"""
DEVICES = """devices:
  city-core1: {site: city, groups: [huawei], mgmt_ipv4: 10.16.0.1, mgmt_ipv6: "2001:db8::1"}
  jb-dist1: {site: jb, groups: [h3c], mgmt_ipv4: 10.17.0.1}
  jb-t01-agg1: {site: jb-t01, groups: [cisco], mgmt_ipv6: "2001:db8:1:1::1", role: agg}
  jb-t01-v001-acc1: {site: jb-t01-v001, groups: [snmponly], mgmt_ipv4: 10.17.1.2}
"""
GROUPS = """huawei: {platform: huawei_vrp, role: core, data: {vendor: Huawei}}
h3c: {platform: hp_comware, groups: [access]}
cisco: {platform: cisco_ios, groups: [access]}
access: {role: access, snmp_profile: v2c}
snmponly: {platform: linux, ssh_profile: none}
"""
PROFILES = """ssh:
  default: {credential: extranet-ssh}
snmp:
  v3: {version: v3, credential: extranet-snmpv3}
  v2c: {version: v2c, credential: extranet-community, port: 1161}
"""


def make(tmp_path: Path, **files: str) -> Path:
    root = tmp_path / "inv"
    root.mkdir(exist_ok=True)
    base = {
        "sites.yaml": SITES,
        "devices.yaml": DEVICES,
        "groups.yaml": GROUPS,
        "profiles.yaml": PROFILES,
        "defaults.yaml": "ssh_profile: default\nsnmp_profile: v3\n",
    }
    base.update({k.replace("_", ".", 1) if "." not in k else k: v for k, v in files.items()})
    for name, text in base.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def problems(tmp_path: Path, **files: str) -> list[str]:
    with pytest.raises(ValidationFailed) as exc:
        load_inventory(make(tmp_path, **files), display="inv")
    return [str(p) for p in exc.value.problems]


def test_inheritance_device_then_groups_then_defaults(tmp_path: Path) -> None:
    inv = load_inventory(make(tmp_path))
    core = inv.device("city-core1")
    assert (core.platform, core.role, core.data) == ("huawei_vrp", "core", {"vendor": "Huawei"})
    assert core.ssh is not None and core.ssh.credential == "extranet-ssh"
    assert core.snmp is not None and core.snmp.version == "v3"
    dist = inv.device("jb-dist1")  # group h3c -> nested group access
    assert (dist.role, dist.snmp_profile) == ("access", "v2c")
    agg = inv.device("jb-t01-agg1")  # the device's own role wins over its groups'
    assert agg.role == "agg" and agg.address == "2001:db8:1:1::1"
    box = inv.device("jb-t01-v001-acc1")
    assert box.ssh is None and box.snmp is not None


def test_rollup_to_county_and_city(tmp_path: Path) -> None:
    inv = load_inventory(make(tmp_path))
    v = inv.device("jb-t01-v001-acc1").site
    assert (v.level, v.county, v.city) == ("village", "jb", "city")
    assert inv.device("city-core1").county is None


def test_select_filters(tmp_path: Path) -> None:
    inv = load_inventory(make(tmp_path))
    names = lambda ds: [d.hostname for d in ds]  # noqa: E731
    assert names(inv.select(county="jb")) == ["jb-dist1", "jb-t01-agg1", "jb-t01-v001-acc1"]
    assert names(inv.select(site="jb-t01")) == ["jb-t01-agg1", "jb-t01-v001-acc1"]
    assert names(inv.select(level="village")) == ["jb-t01-v001-acc1"]
    assert names(inv.select(group="access")) == ["jb-dist1", "jb-t01-agg1"]
    assert names(inv.select(platform="cisco_ios")) == ["jb-t01-agg1"]
    assert len(inv.select(limit=2)) == 2
    with pytest.raises(NotFoundError):
        inv.select(site="nowhere")
    with pytest.raises(InputError):
        inv.select(county="jb-t01")
    with pytest.raises(NotFoundError):
        inv.device("ghost")


def test_wrong_level(tmp_path: Path) -> None:
    sites = SITES.replace(
        "jb-t01-v001: {name: 力河村, level: village, parent: jb-t01}",
        "jb-t01-v001: {name: 力河村, level: village, parent: jb}",
    )
    out = problems(tmp_path, sites_yaml=sites)
    assert out == [
        "inv/sites.yaml:5 sites.jb-t01-v001.parent: wrong level: a village site's parent must be "
        "a township, 'jb' is a county",
        "inv/devices.yaml:5 devices.jb-t01-v001-acc1.site: unknown site 'jb-t01-v001'",
    ]


def test_unknown_level_and_parent(tmp_path: Path) -> None:
    sites = SITES + "  x1: {name: X, level: hamlet, parent: city}\n  x2: {name: Y, level: township, parent: zz}\n"
    out = problems(tmp_path, sites_yaml=sites)
    assert out[0].startswith("inv/sites.yaml:6 sites.x1.level: Input should be 'city'")
    assert out[1] == "inv/sites.yaml:7 sites.x2.parent: unknown parent site 'zz'"


def test_duplicate_hostname_exact_and_case_folded(tmp_path: Path) -> None:
    dup = DEVICES + "  city-core1: {site: city, mgmt_ipv4: 10.0.0.9}\n  CITY-CORE1: {site: city, mgmt_ipv4: 10.0.0.8}\n"
    out = problems(tmp_path, devices_yaml=dup)
    assert out[0] == "inv/devices.yaml:6 devices.city-core1: duplicate key 'city-core1' (first defined on line 2)"


def test_case_folded_duplicate(tmp_path: Path) -> None:
    dup = DEVICES + "  CITY-CORE1: {site: city, mgmt_ipv4: 10.0.0.8}\n"
    assert problems(tmp_path, devices_yaml=dup) == [
        "inv/devices.yaml:6 devices.CITY-CORE1: duplicate hostname 'CITY-CORE1' (same as 'city-core1')"
    ]


def test_bad_addresses(tmp_path: Path) -> None:
    bad = DEVICES.replace('"2001:db8::1"', '"2001:db8::zz"').replace("10.17.0.1", "10.17.0.300")
    out = problems(tmp_path, devices_yaml=bad)
    assert out[0].startswith("inv/devices.yaml:2 devices.city-core1.mgmt_ipv6: Input is not a valid IPv6 address")
    assert out[1].startswith("inv/devices.yaml:3 devices.jb-dist1.mgmt_ipv4: Input is not a valid IPv4 address")


def test_duplicate_address(tmp_path: Path) -> None:
    dup = DEVICES.replace("mgmt_ipv4: 10.17.0.1", "mgmt_ipv4: 10.16.0.1")
    assert problems(tmp_path, devices_yaml=dup) == [
        "inv/devices.yaml:3 devices.jb-dist1.mgmt_ipv4: address 10.16.0.1 is also used by 'city-core1'"
    ]


def test_every_problem_in_one_run(tmp_path: Path) -> None:
    """A duplicated key no longer hides the rest of its file: the duplicated management address
    (and the unknown site) show in the same run, not once the key is fixed."""
    bad = (
        DEVICES.replace("mgmt_ipv4: 10.17.0.1", "mgmt_ipv4: 10.16.0.1").replace("site: jb-t01,", "site: nowhere,")
        + "  city-core1: {site: city, mgmt_ipv4: 10.0.0.9}\n"
    )
    assert problems(tmp_path, devices_yaml=bad) == [
        "inv/devices.yaml:6 devices.city-core1: duplicate key 'city-core1' (first defined on line 2)",
        "inv/devices.yaml:3 devices.jb-dist1.mgmt_ipv4: address 10.16.0.1 is also used by 'city-core1'",
        "inv/devices.yaml:4 devices.jb-t01-agg1.site: unknown site 'nowhere'",
    ]


@pytest.mark.parametrize("key", ["password", "community", "Secret", "auth_key"])
def test_plaintext_secret_refused(tmp_path: Path, key: str) -> None:
    profiles = PROFILES.replace("default: {credential: extranet-ssh}", f"default: {{credential: x, {key}: hunter22}}")
    out = problems(tmp_path, profiles_yaml=profiles)
    assert out == [
        f"inv/profiles.yaml:2 ssh.default.{key}: plaintext secret '{key}' is not allowed in the "
        "inventory: reference a credential by name (credential: NAME)"
    ]
    assert all("hunter22" not in p for p in out)


def test_unknown_group_profile_and_missing_access(tmp_path: Path) -> None:
    devs = DEVICES.replace("groups: [huawei]", "groups: [hauwei]").replace(
        "jb-dist1: {site: jb, groups: [h3c],", "jb-dist1: {site: jb, groups: [h3c], snmp_profile: v9,"
    )
    out = problems(tmp_path, devices_yaml=devs, defaults_yaml="{}\n")
    assert "inv/devices.yaml:2 devices.city-core1.groups: unknown group 'hauwei'" in out
    assert "inv/devices.yaml:3 devices.jb-dist1.snmp_profile: unknown snmp profile 'v9'" in out
    assert "inv/devices.yaml:2 devices.city-core1: needs an ssh_profile or an snmp_profile" in out


def test_missing_files_and_not_a_mapping(tmp_path: Path) -> None:
    root = make(tmp_path)
    (root / "devices.yaml").unlink()
    (root / "groups.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValidationFailed) as exc:
        load_inventory(root, display="inv")
    assert [str(p) for p in exc.value.problems] == [
        "inv/devices.yaml: file not found",
        "inv/groups.yaml:1: expected a mapping",
    ]
    with pytest.raises(InputError, match="inventory folder not found"):
        load_inventory(tmp_path / "nope")


def test_the_shipped_sample_is_the_city_shape() -> None:
    inv = load_inventory(REPO / "inventories" / "extranet")
    s = inv.stats()
    assert s["sites_by_level"] == {"city": 1, "county": 7, "township": 70, "village": 2219}
    assert s["sites"] == s["devices"] == 2297
    assert set(s["devices_by_platform"]) >= {"huawei_vrp", "hp_comware", "cisco_ios"}
    assert {"dual-stack", "ipv4-only", "ipv6-only"} <= set(s["mgmt"])
    assert s["access"]["snmp-only"] > 0


def test_generator_is_deterministic_and_loads(tmp_path: Path) -> None:
    a = generate_inventory(sites=120, seed=5)
    b = generate_inventory(sites=120, seed=5)
    assert a.devices == b.devices and a.sites == b.sites
    assert generate_inventory(sites=120, seed=6).devices != a.devices
    a.write(tmp_path / "g")
    inv = load_inventory(tmp_path / "g")
    assert len(inv) == 120 and len(plan_sites(total=120, seed=5)) == 120


def test_validate_command(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok = cli("net", "inventory", "validate", "-i", str(REPO / "inventories" / "extranet"))
    assert ok.code == 0 and "2297 sites, 2297 devices" in ok.err
    bad = make(tmp_path, devices_yaml=DEVICES.replace('"2001:db8::1"', '"2001:db8::g"'))
    r = cli("net", "inventory", "validate", "-i", str(bad))
    assert r.code == 2
    assert "devices.yaml:2 devices.city-core1.mgmt_ipv6" in r.err and "Traceback" not in r.err


def test_show_and_stats_commands(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = make(tmp_path)
    data = json.loads(cli("-o", "json", "net", "inventory", "show", "jb-dist1", "-i", str(root)).out)
    assert data["site_chain"][-1].startswith("市中心") and data["snmp"]["version"] == "v2c"
    rows = json.loads(cli("net", "inventory", "show", "--county", "jb", "-i", str(root), "-o", "json").out)
    assert [r["hostname"] for r in rows] == ["jb-dist1", "jb-t01-agg1", "jb-t01-v001-acc1"]
    stats = json.loads(cli("net", "inventory", "stats", "-i", str(root), "-o", "json").out)
    assert stats["devices_by_level"] == {"city": 1, "county": 1, "township": 1, "village": 1}
    assert cli("net", "inventory", "show", "ghost", "-i", str(root)).code == 2


def test_export_ansible_and_nornir_without_secrets(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = make(tmp_path)
    monkeypatch.setenv("GOVOPS_CRED_EXTRANET_SSH_PASSWORD", "s3cret-value")
    out = tmp_path / "ansible.yaml"
    assert cli("net", "inventory", "export", "-f", "ansible", "--out", str(out), "-i", str(root)).code == 0
    text = out.read_text()
    data = yaml.safe_load(text)
    hosts = data["all"]["children"]["platform_huawei_vrp"]["hosts"]
    assert hosts["city-core1"]["ansible_host"] == "10.16.0.1"
    assert "GOVOPS_CRED_EXTRANET_SSH_PASSWORD" in hosts["city-core1"]["ansible_password"]
    assert "s3cret-value" not in text
    nornir_dir = tmp_path / "nornir"
    assert cli("net", "inventory", "export", "-f", "nornir", "--out", str(nornir_dir), "-i", str(root)).code == 0
    hosts_n = yaml.safe_load((nornir_dir / "hosts.yaml").read_text())
    assert hosts_n["jb-dist1"]["platform"] == "hp_comware" and hosts_n["jb-dist1"]["hostname"] == "10.17.0.1"
    assert "password" not in (nornir_dir / "hosts.yaml").read_text()


def test_generate_command_refuses_to_overwrite(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "gen"
    assert cli("net", "inventory", "generate", "--out", str(out), "--sites", "40").code == 0
    assert cli("net", "inventory", "generate", "--out", str(out), "--sites", "40").code == 2
    assert cli("net", "inventory", "validate", "-i", str(out)).code == 0
