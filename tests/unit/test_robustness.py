"""Issue 18, items 8-12 and 15: inputs that hung, exhausted memory, or ended in an internal error.

Each case that used to hang or blow up runs in a forked child under a time and memory limit
(tests/robustness.py), so a regression fails here instead of stalling the test run.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import yaml
from govops.credentials import VaultFileError
from govops.errors import StoreError, ValidationFailed
from govops.network.inventory import load_inventory

from tests.robustness import call_clean, govops
from tests.unit.test_fuzz_inputs import billion_laughs
from tests.unit.test_inventory import make, problems

# -- item 8: cycles -------------------------------------------------------------------------------
LOOPED_SITES = """sites:
  city: {name: 市中心, level: city}
  jb: {name: 江北区, level: county, parent: jb-t01}
  jb-t01: {name: 福顺街道, level: township, parent: jb}
  jb-t01-v001: {name: 力河村, level: village, parent: jb-t01}
"""


def test_a_parent_loop_is_reported_not_looped_forever(tmp_path: Path) -> None:
    root = make(tmp_path, sites_yaml=LOOPED_SITES)
    out = call_clean(lambda: load_inventory(root), timeout=10)
    assert not out.timed_out, "loading an inventory with a parent loop hangs"
    assert out.code == 2, out.err
    found = problems(tmp_path, sites_yaml=LOOPED_SITES)
    assert any("parent chain loops: jb -> jb-t01 -> jb" in p and p.startswith("inv/sites.yaml:3 ") for p in found), (
        found
    )


def test_a_site_that_is_its_own_parent(tmp_path: Path) -> None:
    sites = LOOPED_SITES.replace("parent: jb-t01}\n  jb-t01:", "parent: jb}\n  jb-t01:", 1).replace(
        "level: township, parent: jb}", "level: township, parent: jb-t01}"
    )
    found = problems(tmp_path, sites_yaml=sites)
    assert any("parent chain loops: jb-t01 -> jb-t01" in p for p in found), found


def test_group_cycles_are_refused(tmp_path: Path) -> None:
    groups = """huawei: {platform: huawei_vrp, groups: [core]}
core: {role: core, groups: [huawei]}
h3c: {platform: hp_comware, groups: [access]}
cisco: {platform: cisco_ios, groups: [access]}
access: {role: access, snmp_profile: v2c, groups: [access]}
snmponly: {platform: linux, ssh_profile: none}
"""
    found = problems(tmp_path, groups_yaml=groups)
    assert "inv/groups.yaml:1 huawei.groups: group cycle: huawei -> core -> huawei" in found, found
    assert "inv/groups.yaml:5 access.groups: group cycle: access -> access" in found, found


# -- item 9: alias bombs --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["--config", "bomb.yaml", "config", "show"],
        ["--config", "govops.yaml", "net", "inventory", "validate"],
        ["--config", "govops.yaml", "cloud", "dept", "list"],
        ["--config", "govops.yaml", "cloud", "plan", "bomb.yaml"],
    ],
    ids=["config", "inventory", "departments", "spec"],
)
def test_billion_laughs_is_refused_quickly_in_little_memory(tmp_path: Path, command: list[str]) -> None:
    bomb = billion_laughs(9)  # 9**10 "lol"s: hours and terabytes if expanded
    assert len(bomb) < 1024
    (tmp_path / "bomb.yaml").write_text(bomb)
    inv = make(tmp_path, devices_yaml=bomb)
    (tmp_path / "govops.yaml").write_text(f"departments: bomb.yaml\nnetwork: {{inventory: {inv}}}\n")
    out = govops([*command], cwd=tmp_path, timeout=15, memory_mb=300)
    assert out.problem(files=("bomb.yaml", "devices.yaml")) is None, out.err
    assert out.code == 2 and "too large: YAML aliases expand" in out.err, out.err


def test_rule_files_refuse_alias_bombs(tmp_path: Path) -> None:
    from govops.network.analysis import known_facts
    from govops.network.rules.engine import load_rules

    f = tmp_path / "rules.yaml"
    f.write_text(billion_laughs(9))
    out = call_clean(lambda: load_rules([f], known_facts()), timeout=15, memory_mb=300)
    assert out.code == 2 and "too large" in out.err, out.err


def test_ordinary_aliases_and_merge_keys_still_work() -> None:
    from govops.yamlio import loads

    doc = loads(
        "base: &b {flavor: m1.small, image: cirros}\n"
        + "".join(f"vm{i}: {{<<: *b, name: vm{i}}}\n" for i in range(2000))
        + "shared: &s [1, 2, 3]\nagain: [*s, *s, *s]\n"
    )
    assert doc.data["vm1999"] == {"name": "vm1999", "flavor": "m1.small", "image": "cirros"}
    assert doc.data["again"] == [[1, 2, 3]] * 3


# -- item 10: unbounded reads ---------------------------------------------------------------------
SPEC = """department: gaj
name: portal
defaults: {flavor: m1.small, image: cirros}
vms:
  - name: web
    user_data: {ud}
"""


@pytest.mark.parametrize("ud", ["/dev/zero", "fifo", "folder", "big.bin"])
def test_user_data_that_never_ends_or_is_no_file(tmp_path: Path, ud: str) -> None:
    from govops.cloud.spec import load_spec

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "folder").mkdir()
    (tmp_path / "big.bin").write_bytes(b"#" * 70_000)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("{ud}", ud))
    out = call_clean(lambda: load_spec(spec), timeout=10, memory_mb=300)
    assert out.problem() is None, out.err
    assert out.code == 2 and "spec.yaml:6 vms[0].user_data: cannot read" in out.err, out.err


def test_a_departments_fifo_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "departments.yaml")
    (tmp_path / "govops.yaml").write_text("departments: departments.yaml\n")
    out = govops(["--config", "govops.yaml", "cloud", "dept", "list"], cwd=tmp_path, timeout=10)
    assert out.code == 2 and "departments.yaml: not a regular file" in out.err, out.err


def test_a_huge_config_is_refused_by_size_before_parsing(tmp_path: Path) -> None:
    from govops.yamlio import MAX_CONFIG_BYTES

    f = tmp_path / "govops.yaml"
    with f.open("w") as fh:
        fh.write("x:\n")
        for i in range(MAX_CONFIG_BYTES // 10 + 1):
            fh.write(f"  k{i:07d}: 1\n")
    out = govops(["--config", str(f), "config", "show"], cwd=tmp_path, timeout=10, memory_mb=300)
    assert out.code == 2 and "govops.yaml: too large" in out.err, out.err


def test_the_real_files_are_far_below_the_limits() -> None:
    from govops import yamlio

    from tests.conftest import REPO

    biggest = max(p.stat().st_size for p in (REPO / "inventories").rglob("*.yaml"))
    assert biggest * 25 < yamlio.MAX_FILE_BYTES  # 311 KB devices.yaml of 2,297 devices
    devices = (REPO / "inventories" / "extranet" / "devices.yaml").read_text()
    assert sum(1 for _ in yaml.parse(devices)) * 25 < yamlio.MAX_NODES


def test_a_file_of_millions_of_tiny_values_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    f = tmp_path / "departments.yaml"
    f.write_text("departments: [" + "1," * 2_000_000 + "1]\n")  # 4 MiB: under the size limit
    (tmp_path / "govops.yaml").write_text("departments: departments.yaml\n")
    out = govops(["--config", "govops.yaml", "cloud", "dept", "list"], cwd=tmp_path, timeout=30, memory_mb=400)
    assert out.problem(files=("departments.yaml",)) is None, out.err
    assert "departments.yaml:1: too large: more than 1,000,000 YAML nodes" in out.err, out.err


# -- item 11: clean errors instead of internal ones -----------------------------------------------
def test_a_prometheus_url_with_a_bad_port_is_a_located_config_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "govops.yaml"
    f.write_text("prometheus:\n  url: http://127.0.0.1:abc\n")
    r = cli("--config", str(f), "doctor")
    assert r.code in (2, 3) and "internal error" not in r.err
    assert f"{f}:2 prometheus.url: not a URL" in r.out + r.err


@pytest.mark.parametrize("bad", [".inf", ".nan", "0", "1e9"])
def test_snmp_timeouts_must_be_finite_and_sane(tmp_path: Path, bad: str) -> None:
    from tests.unit.test_inventory import PROFILES

    profiles = PROFILES.replace("credential: extranet-snmpv3}", f"credential: extranet-snmpv3, timeout: {bad}}}")
    found = problems(tmp_path, profiles_yaml=profiles)
    assert any(p.startswith("inv/profiles.yaml:4 snmp.v3.timeout:") for p in found), found


def _vault_config(tmp_path: Path, vault: str) -> Path:
    (tmp_path / "pw").write_text("right\n")
    cfg = tmp_path / "govops.yaml"
    cfg.write_text(f"credentials:\n  sources: [vault]\n  vault_file: {vault}\n  vault_password_file: pw\n")
    return cfg


def test_a_vault_path_that_is_a_folder(tmp_path: Path) -> None:
    from govops.cli.application import Application

    (tmp_path / "vault").mkdir()
    a = Application()
    a.config_path = _vault_config(tmp_path, "vault")
    with pytest.raises(VaultFileError, match="vault: is a folder") as exc:
        a.credentials.get("x")
    assert exc.value.exit_code == 2


def test_a_vault_whose_plaintext_is_not_utf8(tmp_path: Path) -> None:
    from govops.cli.application import Application

    from tests.unit.test_fuzz_inputs import _vault_of_bytes

    (tmp_path / "vault.yml").write_bytes(_vault_of_bytes(b"\xff\xfe\x00 not text"))
    a = Application()
    a.config_path = _vault_config(tmp_path, "vault.yml")
    with pytest.raises(VaultFileError, match="decrypted vault is not UTF-8") as exc:
        a.credentials.get("x")
    assert exc.value.exit_code == 2


@pytest.mark.parametrize("vault", ["folder", "not-utf8"])
def test_a_bad_vault_stops_an_audit_with_one_line_before_any_device(tmp_path: Path, vault: str) -> None:
    from tests.unit.test_fuzz_inputs import _vault_of_bytes

    if vault == "folder":
        (tmp_path / "vault").mkdir()
        expected = f"error: {tmp_path}/vault: is a folder, not a vault file"
    else:
        (tmp_path / "vault").write_bytes(_vault_of_bytes(b"\xff\xfe not text"))
        expected = f"error: {tmp_path}/vault: decrypted vault is not UTF-8"
    inv = make(tmp_path)
    cfg = _vault_config(tmp_path, "vault")
    cfg.write_text(cfg.read_text() + f"network: {{inventory: {inv}}}\nstore: {{url: sqlite:///s.db}}\n")
    out = govops(["--config", "govops.yaml", "net", "audit"], cwd=tmp_path, timeout=20)
    assert out.problem(allowed=(2,), files=("vault",)) is None, out.err
    assert out.err.splitlines()[0].startswith(expected), out.err


def test_a_malformed_clouds_yaml_ends_a_command_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "clouds.yaml").write_text("clouds:\n  lab: {auth: {auth_url: http://x\n")
    (tmp_path / "d.yaml").write_text(
        "departments:\n  - {code: gaj, name_zh: 公安局, name_en: Police, project: dept-gaj}\n"
    )
    (tmp_path / "govops.yaml").write_text("departments: d.yaml\ncloud: {name: lab, clouds_file: clouds.yaml}\n")
    out = govops(["--config", "govops.yaml", "cloud", "quota", "show"], cwd=tmp_path, timeout=20)
    assert out.problem(files=("clouds.yaml",)) is None and out.code == 2, out.err
    assert out.err.startswith(f"error: {tmp_path}/clouds.yaml:2: malformed YAML"), out.err  # its last line, not past it
    assert "not found" not in out.err


def test_a_damaged_store_row_is_a_store_error_naming_the_row(tmp_path: Path) -> None:
    from govops.store import SqlStore

    db = tmp_path / "s.db"
    s = SqlStore(f"sqlite:///{db}")
    run = s.start_run("net.audit", {"checks": ["ipv6"]})
    s.record_result(run.id, "r1", "ok", None, {"findings": []})
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET params = '{\"checks\": [' WHERE id = ?", (run.id,))
    con.execute("UPDATE results SET data = 'nope' WHERE run_id = ?", (run.id,))
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=f"damaged store row: runs '{run.id}' params is not valid JSON"):
        s.get_run(run.id)
    with pytest.raises(StoreError, match=f"results '{run.id}/r1' data") as exc:
        s.results(run.id)
    assert exc.value.exit_code == 2


def test_a_damaged_run_is_named_and_the_other_runs_still_listed(tmp_path: Path) -> None:
    from govops.store import SqlStore

    s = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    ids = []
    for _ in range(3):
        run = s.start_run("net.audit", {"checks": ["ipv6"]})
        s.finish_run(run.id, "finished", {"devices": 1})
        ids.append(run.id)
    s.close()
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("UPDATE runs SET summary = '{' WHERE id = ?", (ids[1],))
    con.commit()
    con.close()
    (tmp_path / "govops.yaml").write_text("store: {url: sqlite:///s.db}\n")

    out = govops(["--config", "govops.yaml", "net", "runs"], cwd=tmp_path, timeout=20)
    assert out.problem(allowed=(2,)) is None, out.err
    assert all(i in out.out for i in ids), out.out  # the damaged run too, marked as such
    assert [line for line in out.err.splitlines() if line.strip()] == [
        f"warning: damaged store row: runs '{ids[1]}' summary is not valid JSON (line 1 column 2)"
    ], out.err
    # a report of the run before it still finds its predecessor past the damaged one
    rep = govops(["--config", "govops.yaml", "-o", "json", "report", "audit", ids[2]], cwd=tmp_path, timeout=20)
    assert rep.problem() is None and rep.code == 0, rep.err
    shown = govops(["--config", "govops.yaml", "report", "audit", ids[1]], cwd=tmp_path, timeout=20)
    assert shown.code == 2 and f"error: damaged store row: runs '{ids[1]}' summary" in shown.err, shown.err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clouds: {lab: {auth: {auth_url: http://x\n", "clouds.yaml:1: malformed YAML"),
        ("clouds: [a, b]\n", "clouds.yaml:1 clouds: 'clouds' must be a mapping"),
        ("clouds:\n  lab: 5\n", "clouds.yaml:2 clouds.lab: a cloud must be a mapping"),
    ],
)
def test_a_malformed_clouds_yaml_is_located_not_cloud_not_found(tmp_path: Path, text: str, expected: str) -> None:
    from govops.cloud.connection import CloudTarget, load_region

    (tmp_path / "clouds.yaml").write_text(text)
    with pytest.raises(ValidationFailed) as exc:
        load_region(CloudTarget("lab", tmp_path / "clouds.yaml"))
    assert str(exc.value).startswith(f"{tmp_path}/{expected}"), str(exc.value)


# -- item 12: quotas and line numbers -------------------------------------------------------------
@pytest.mark.parametrize("value", ["true", "no", "1e38", "1.0e38", "10.0", "'10'", "99999999999"])
def test_quotas_take_plain_integers_only(tmp_path: Path, value: str) -> None:
    from govops.departments import load_departments

    f = tmp_path / "d.yaml"
    f.write_text(
        "departments:\n  - code: gaj\n    name_zh: 公安局\n    name_en: Police\n    project: dept-gaj\n"
        f"    quotas:\n      cores: {value}\n"
    )
    with pytest.raises(ValidationFailed) as exc:
        load_departments(f)
    assert str(exc.value.problems[0]).startswith(f"{f}:7 departments[0].quotas.cores"), str(exc.value)


def test_quotas_keep_minus_one_for_unlimited(tmp_path: Path) -> None:
    from govops.departments import load_departments

    f = tmp_path / "d.yaml"
    f.write_text(
        "departments:\n  - code: gaj\n    name_zh: 公安局\n    name_en: Police\n    project: dept-gaj\n"
        "    quotas: {cores: -1, ram_gb: 512, volume_gb: 100000}\n"
    )
    assert load_departments(f).get("gaj").quotas.set_fields() == {"cores": -1, "ram_gb": 512, "volume_gb": 100000}


@pytest.mark.parametrize(("text", "line"), [("a: [1, 2\n", 1), ("a: 1\nb: 'open\n", 2), ("a: 1\nb: {c\n\n", 2)])
def test_bad_yaml_is_reported_on_a_line_of_the_file(text: str, line: int) -> None:
    from govops.yamlio import loads

    with pytest.raises(ValidationFailed) as exc:
        loads(text, "f.yaml")
    assert exc.value.problems[0].location is not None
    got = exc.value.problems[0].location.line
    assert got is not None and got <= len(text.splitlines()), str(exc.value)
    assert got == line or got == len(text.splitlines()), str(exc.value)


# -- item 15: credential-like keys anywhere -------------------------------------------------------
@pytest.mark.parametrize("key", ["snmp_community", "enable_secret", "sshPassword", "api-token", "ssh_key"])
def test_credential_like_keys_are_refused_anywhere(tmp_path: Path, key: str) -> None:
    from tests.unit.test_inventory import DEVICES

    devices = DEVICES.replace("role: agg}", f"role: agg, data: {{site_notes: ok, {key}: hunter22}}}}")
    found = problems(tmp_path, devices_yaml=devices)
    assert any(f"plaintext secret '{key}' is not allowed" in p for p in found), found
    assert all("hunter22" not in p for p in found)


def test_ordinary_keys_are_not_mistaken_for_secrets(tmp_path: Path) -> None:
    from tests.unit.test_inventory import DEVICES

    devices = DEVICES.replace("role: agg}", "role: agg, data: {key_name: k, monkey: 1, credential_ref: x}}")
    load_inventory(make(tmp_path, devices_yaml=devices))


# -- item 13, the part without a lab (the audit itself: tests/integration/test_interrupt.py) -------
SLOW_MAIN = """
import signal, sys, time
if sys.argv[1] == "ignore-sigint":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job of a shell script
import govops.cli.app as m
def slow_command(*args, **kwargs):  # a command that takes long; main's signal handlers are in place
    print("ready", flush=True)
    time.sleep(60)
m.app = slow_command
sys.exit(m.main([]))
"""


@pytest.mark.parametrize("sigint", ["default", "ignore-sigint"])
def test_sigterm_stops_govops_with_130_and_says_so(sigint: str) -> None:
    import signal
    import subprocess
    import sys

    p = subprocess.Popen(
        [sys.executable, "-c", SLOW_MAIN, sigint], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130 and "interrupted (SIGTERM)" in err, (p.returncode, err)


# -- item 10 in the files other commands read: the play's vault password, known_hosts ----------
@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "big"])
def test_a_play_vault_password_file_that_is_no_small_file(tmp_path: Path, kind: str) -> None:
    from govops.automation.request import vault_password
    from govops.config import load_config

    if kind == "fifo":
        src = tmp_path / "pw"
        os.mkfifo(src)
        expected = "not a regular file"
    elif kind == "big":
        src = tmp_path / "pw"
        src.write_bytes(b"x" * 70_000)
        expected = "too large"
    else:
        src, expected = Path(kind), "not a regular file"
    (tmp_path / "govops.yaml").write_text("{}\n")
    config = load_config(tmp_path / "govops.yaml")
    out = call_clean(lambda: vault_password(config, src), timeout=10, memory_mb=300)
    assert out.problem() is None and out.code == 2, out.err
    assert f"error: {src}: {expected}" in out.err, out.err


def test_doctor_does_not_block_on_a_known_hosts_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "known_hosts")
    (tmp_path / "govops.yaml").write_text("network: {host_key_policy: accept-new, known_hosts: known_hosts}\n")
    out = govops(["--config", "govops.yaml", "-o", "json", "doctor"], cwd=tmp_path, timeout=20)
    assert out.problem(allowed=(3,)) is None, out.err
    assert "known_hosts: not a regular file" in out.out, out.out
