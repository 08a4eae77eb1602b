"""`govops net audit` against the real lab: SSH servers and SNMP agents on loopback (conftest).

The lab's ``truth.json`` states, for every device, the status an audit must end with and the
facts it must find. The audit runs as a subprocess (the real CLI, real collectors) and these tests
compare its output and its results store with that truth.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from govops.lab.extranet.plan import SNMP_VISIBLE
from govops.network.analysis import DefaultAnalyzer
from govops.network.facts import DeviceFacts
from govops.network.inventory import load_inventory

from tests.integration.conftest import ExtranetLabInfo

pytestmark = pytest.mark.integration
CHECKS = ["ipv6", "baseline"]


@dataclass
class Run:
    code: int
    out: str
    err: str
    store: Path


def write_config(lab: ExtranetLabInfo, store: Path, rules: Path | None = None) -> Path:
    """The lab's govops.yaml with a results store of the test's own (and extra rule files)."""
    cfg = store.parent / "govops.yaml"
    lines = [ln for ln in lab.config.read_text(encoding="utf-8").splitlines() if not ln.strip().startswith("url:")]
    text = "\n".join(lines).replace("store:\n", f"store:\n  url: sqlite:///{store}\n") + "\n"
    if rules is not None:
        text = text.replace("network:\n", f"network:\n  rules: [{rules}]\n")
    cfg.write_text(text, encoding="utf-8")
    return cfg


def govops(lab: ExtranetLabInfo, store: Path, *args: str, wait: bool = True) -> Any:
    """The real CLI in a subprocess, on the lab's config with a results store of its own."""
    cfg = store.parent / "govops.yaml"
    if not cfg.exists():
        write_config(lab, store)
    env = {**os.environ, **lab.env, "GOVOPS_CONFIG": str(cfg), "NO_COLOR": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "govops", *args]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    return Run(p.returncode, p.stdout, p.stderr, store)


@pytest.fixture(scope="module")
def audited(
    extranet_lab: ExtranetLabInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Run, dict[str, Any]]]:
    """One full audit of the faults lab, as JSON (shared by the tests that only read it)."""
    store = tmp_path_factory.mktemp("audit") / "store.db"
    run = govops(extranet_lab, store, "-o", "json", "-vv", "net", "audit")
    assert run.err.count("Traceback") == 0, run.err[-2000:]
    yield run, json.loads(run.out)


def _interfaces(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


def _expected_facts(entry: dict[str, Any]) -> dict[str, Any]:
    """The truth a collected device must match: all of it, or what SNMP shows of an SNMP-only one."""
    facts = dict(entry["facts"])
    if entry["access"]["ssh"] is None:
        facts = {k: v for k, v in facts.items() if k in SNMP_VISIBLE}
    return facts


def test_every_device_ends_with_its_expected_status(
    audited: tuple[Run, dict[str, Any]], extranet_lab: ExtranetLabInfo
) -> None:
    run, doc = audited
    truth = extranet_lab.truth["devices"]
    got = {d["hostname"]: d for d in doc["devices"]}
    assert set(got) == set(truth)
    wrong = {h: (d["status"], truth[h]["expected_status"], d["reason"]) for h, d in got.items()}
    wrong = {h: w for h, w in wrong.items() if w[0] != w[1]}
    assert wrong == {}
    faults = {truth[h]["fault"]["kind"] for h in truth if truth[h]["fault"]}
    assert len(faults) >= 5, faults  # the lab exercises (nearly) every failure kind
    for d in got.values():
        if d["status"] != "ok":
            assert d["reason"] and "\n" not in d["reason"], d
    assert run.code == 3  # failed devices (and findings)
    assert doc["summary"]["devices"] == len(truth)


def test_facts_match_the_ground_truth(audited: tuple[Run, dict[str, Any]], extranet_lab: ExtranetLabInfo) -> None:
    _, doc = audited
    truth = extranet_lab.truth["devices"]
    wrong: list[tuple[Any, ...]] = []
    checked = 0
    for d in doc["devices"]:
        entry = truth[d["hostname"]]
        if entry["expected_status"] != "ok":
            continue
        want = _expected_facts(entry)
        got = d["facts"]
        # VRP/Comware briefs print no link-local address; an agent without IPv6 MIBs cannot either
        blind_ll = entry["snmp_view"] == "no_ipv6_mib" and entry["facts"]["platform"] in ("huawei_vrp", "hp_comware")
        # the net-snmp box's truth is read back from the kernel, which knows no interface roles
        kernel = entry["source"] == "snmpd-readback"
        for key, value in want.items():
            if kernel and key == "ipv6_neighbors_uplink":
                continue
            if key != "interfaces":
                if got.get(key) != value:
                    wrong.append((d["hostname"], key, got.get(key), value))
                continue
            gi, wi = _interfaces(got["interfaces"]), _interfaces(value)
            if set(gi) != set(wi):
                wrong.append((d["hostname"], "interfaces", sorted(gi), sorted(wi)))
                continue
            for name, w in wi.items():
                g = dict(gi[name])
                if blind_ll and g["ipv6_link_local"] is None:
                    g["ipv6_link_local"] = w["ipv6_link_local"]
                if kernel:
                    g["role"] = w["role"]
                if g != w:
                    wrong.append((d["hostname"], name, g, w))
        checked += 1
    assert wrong == []
    assert checked >= 40


def test_findings_match_the_rules_applied_to_the_ground_truth(
    audited: tuple[Run, dict[str, Any]], extranet_lab: ExtranetLabInfo
) -> None:
    _, doc = audited
    truth = extranet_lab.truth["devices"]
    inv = load_inventory(extranet_lab.inventory)
    analyzer = DefaultAnalyzer()
    statuses: set[str] = set()
    for d in doc["devices"]:
        entry = truth[d["hostname"]]
        if entry["expected_status"] != "ok":
            continue
        device = inv.device(d["hostname"])
        ssh = entry["access"]["ssh"] is not None
        ssh_facts = DeviceFacts.from_dict(entry["facts"]) if ssh else None
        snmp_view = entry["snmp_facts"] or {k: v for k, v in entry["facts"].items() if k in SNMP_VISIBLE}
        v6 = device.mgmt_ipv6 is not None
        extra = {"mgmt_ipv6_configured": v6}
        if v6:
            extra |= {"mgmt_ipv6_snmp": True} | ({"mgmt_ipv6_ssh": True} if ssh else {})
        _, expected = analyzer.evaluate(device, ssh_facts, DeviceFacts.from_dict(snmp_view), extra, CHECKS)
        got = {f["rule"]: f["status"] for f in d["findings"]}
        want: dict[str, str] = {f.rule: f.status for f in expected}
        if entry["source"] == "snmpd-readback":
            # the kernel read-back knows no uplink, so the truth cannot say what this rule finds
            got.pop("ipv6.uplink_neighbors")
            want.pop("ipv6.uplink_neighbors")
        assert got == want, d["hostname"]
        statuses |= set(got.values())
        ready = [f for f in expected if f.counts_for_readiness and f.status != "not_applicable"]
        assert d["ipv6_ready"] == (all(f.status == "pass" for f in ready) if ready else None)
    assert statuses == {"pass", "fail", "not_applicable"}


def test_snmp_only_device_is_audited_without_ssh(
    audited: tuple[Run, dict[str, Any]], extranet_lab: ExtranetLabInfo
) -> None:
    _, doc = audited
    snmp_only = [h for h, e in extranet_lab.truth["devices"].items() if e["access"]["ssh"] is None]
    assert snmp_only
    for d in (x for x in doc["devices"] if x["hostname"] in snmp_only):
        assert d["status"] == "ok" and d["collected"] == {"ssh": "not_applicable", "snmp": "ok"}
        ssh_rules = [f for f in d["findings"] if f["pack"] == "baseline"]
        assert ssh_rules and all(f["status"] == "not_applicable" for f in ssh_rules)
        assert any(f["status"] in ("pass", "fail") for f in d["findings"] if f["pack"] == "ipv6")


def test_evidence_names_commands_and_output_hashes(audited: tuple[Run, dict[str, Any]]) -> None:
    _, doc = audited
    d = next(x for x in doc["devices"] if x["status"] == "ok" and x["collected"]["ssh"] == "ok")
    hashes = {e["command"]: e["sha256"] for e in d["evidence"] if e["source"] == "ssh"}
    for f in d["findings"]:
        for out in f["evidence"].get("outputs", []):
            if not out["command"].startswith("snmp "):
                assert hashes[out["command"]] == out["sha256"]


def test_no_credential_in_output_logs_or_store(
    audited: tuple[Run, dict[str, Any]], extranet_lab: ExtranetLabInfo
) -> None:
    run, _ = audited
    secrets = _secrets(extranet_lab)
    assert len(secrets) >= 4  # SSH password, SNMP community, SNMPv3 auth and priv keys
    db = run.store.read_bytes()
    for secret in secrets:
        assert secret not in run.out
        assert secret not in run.err  # -vv: debug logs included
        assert secret.encode() not in db


def test_sigkill_then_resume_records_every_device_exactly_once(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    total = len(extranet_lab.truth["devices"])
    proc = govops(extranet_lab, store, "net", "audit", "--workers", "3", "--snmp-concurrency", "3", wait=False)
    done = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        done = _count(store)
        if done >= total // 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the audit finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    before = _results(store)
    assert total // 3 <= len(before) < total
    (run_id,) = {r[0] for r in before}
    status = _rows(store, "SELECT status FROM runs WHERE id = ?", (run_id,))[0][0]
    assert status == "running"  # killed: nobody marked it finished

    resumed = govops(extranet_lab, store, "-o", "json", "net", "audit", "--resume", run_id)
    assert resumed.code == 3, resumed.err[-2000:]
    after = _results(store)
    hosts = [r[1] for r in after]
    assert sorted(hosts) == sorted(extranet_lab.truth["devices"]) and len(hosts) == len(set(hosts))
    # devices finished before the kill were not audited again
    first = {r[1]: r[2] for r in before}
    assert all(r[2] == first[r[1]] for r in after if r[1] in first)
    doc = json.loads(resumed.out)
    assert doc["run"]["id"] == run_id and doc["run"]["status"] == "finished"
    assert len(doc["devices"]) == total
    for secret in _secrets(extranet_lab):
        assert secret not in out + err + resumed.out + resumed.err
        assert secret.encode() not in store.read_bytes()


def _secrets(lab: ExtranetLabInfo) -> list[str]:
    """Every secret the audit used (user names are not secrets: SNMPv3 users are facts)."""
    return [v for fields in lab.credentials.values() for f, v in fields.items() if f != "username"]


def _rows(store: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if not store.exists():
        return []
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # schema not created yet
        return []
    finally:
        con.close()


def _count(store: Path) -> int:
    rows = _rows(store, "SELECT COUNT(*) FROM results")
    return int(rows[0][0]) if rows else 0


def _results(store: Path) -> list[tuple[Any, ...]]:
    return _rows(store, "SELECT run_id, target, finished_at FROM results ORDER BY target")


def test_csv_output_and_exit_0_when_clean(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> None:
    """A pack whose one rule every healthy device passes: exit 0; with failed devices: exit 3."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "pack: smoke\nrules:\n  - id: smoke.hostname\n    title: {en: Hostname known, zh: 主机名已知}\n"
        "    severity: info\n    check: {fact: hostname, known: true}\n",
        encoding="utf-8",
    )
    store = tmp_path / "store.db"
    assert "network:" in write_config(extranet_lab, store, rules).read_text()
    ok_hosts = extranet_lab.devices(expected_status="ok")
    site = _site_with_only_ok_devices(extranet_lab, ok_hosts)
    clean = govops(extranet_lab, store, "-o", "csv", "net", "audit", "--checks", "smoke", "--site", site)
    assert clean.code == 0, clean.err[-2000:]
    lines = clean.out.strip().splitlines()
    assert lines[0].split(",")[:6] == ["hostname", "site", "county", "level", "platform", "status"]
    assert all(",ok," in ln for ln in lines[1:])
    whole = govops(extranet_lab, store, "-o", "csv", "net", "audit", "--checks", "smoke")
    assert whole.code == 3
    assert len(whole.out.strip().splitlines()) == len(extranet_lab.truth["devices"]) + 1


def _site_with_only_ok_devices(lab: ExtranetLabInfo, ok_hosts: list[str]) -> str:
    inv = load_inventory(lab.inventory)
    by_site: dict[str, list[str]] = {}
    for d in inv:
        if d.level == "village":  # --site takes the sites below too: a village has none
            by_site.setdefault(d.site.code, []).append(d.hostname)
    for code, hosts in sorted(by_site.items()):
        if all(h in ok_hosts for h in hosts):
            return code
    pytest.fail("the lab has no site whose devices are all healthy")


def test_side_by_side_walk_returns_what_net_snmp_walks(extranet_lab: ExtranetLabInfo) -> None:
    """Contract: the collector's multi-root GETBULK walk sees exactly the OIDs snmpbulkwalk sees.

    Twice per device with one collector: the second poll is sized by what the first saw (its row
    history and the agent's response cap) and must see the same, scalars (GETNEXT non-repeaters) included.
    """
    import asyncio

    from govops.credentials import Credential, Secret
    from govops.network.collectors.base import SnmpTarget
    from govops.network.collectors.snmp import PysnmpCollector

    from tests.conftest import need

    need(binary="snmpbulkwalk")
    gets, walks = DefaultAnalyzer().snmp_plan()
    v3 = extranet_lab.credentials["extranet-snmpv3"]
    cred = Credential(
        "v3", "env", username=v3["username"], auth_key=Secret(v3["auth_key"]), priv_key=Secret(v3["priv_key"])
    )
    truth = extranet_lab.truth["devices"]
    picks = [h for h, e in truth.items() if e["source"] == "snmpd-readback"][:1]
    picks += [h for h, e in truth.items() if e["expected_status"] == "ok" and e["access"]["snmp"]["version"] == "v3"][
        :2
    ]
    assert len(picks) == 3
    for host in picks:
        access = truth[host]["access"]
        addr, port = access["mgmt_ipv6"] or access["mgmt_ipv4"], access["snmp"]["port"]
        target = SnmpTarget(host, addr, port, "v3", 3.0, 2)

        async def poll(t: SnmpTarget = target) -> list[set[str]]:
            collector = PysnmpCollector()
            try:
                return [set((await collector.collect(t, cred, gets, walks)).values) for _ in range(2)]
            finally:
                collector.close()

        ours, again = asyncio.run(poll())
        assert ours == again, (host, sorted(ours ^ again)[:10])
        agent = f"udp6:[{addr}]:{port}" if ":" in addr else f"udp:{addr}:{port}"
        theirs: set[str] = set()
        for root in [*walks, *gets]:
            p = subprocess.run(
                [
                    "snmpbulkwalk",
                    "-m",
                    "",
                    "-On",
                    "-Oq",
                    "-t",
                    "3",
                    "-r",
                    "2",
                    "-v3",
                    "-l",
                    "authPriv",
                    "-u",
                    v3["username"],
                    "-a",
                    "SHA",
                    "-A",
                    v3["auth_key"],
                    "-x",
                    "AES",
                    "-X",
                    v3["priv_key"],
                    agent,
                    root,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "MIBS": ""},
            )
            assert p.returncode == 0, p.stderr
            # an empty subtree: net-snmp GETs the root itself and prints "No Such Object/Instance"
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith(".") and "No Such" not in ln]
            theirs |= {ln.split()[0].lstrip(".") for ln in lines}
        assert ours == theirs, (host, sorted(ours ^ theirs)[:10])
        assert len(ours) > 20


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """An audit's devices without what differs between two runs of the same lab (times, tries)."""
    out = {}
    for d in doc["devices"]:
        out[d["hostname"]] = {k: v for k, v in d.items() if k not in ("duration_s", "attempts", "evidence")}
    return out


def test_both_snmp_codecs_give_the_same_audit(extranet_lab: ExtranetLabInfo, tmp_path: Path) -> None:
    """``network.snmp_codec: pyasn1`` (pysnmp untouched) and the default ``fast`` codec audit the
    lab to the same facts, findings and statuses. Each run is its own process: the fast codec,
    once installed, stays for the process."""
    docs = {}
    for codec in ("fast", "pyasn1"):
        store = tmp_path / codec / "store.db"
        store.parent.mkdir()
        cfg = write_config(extranet_lab, store)
        text = cfg.read_text(encoding="utf-8")
        assert "network:\n" in text
        cfg.write_text(text.replace("network:\n", f"network:\n  snmp_codec: {codec}\n"), encoding="utf-8")
        run = govops(extranet_lab, store, "-o", "json", "net", "audit")
        assert run.code in (0, 3), run.err[-2000:]
        docs[codec] = _comparable(json.loads(run.out))
    assert docs["fast"].keys() == docs["pyasn1"].keys()
    different = [h for h in docs["fast"] if docs["fast"][h] != docs["pyasn1"][h]]
    assert different == [], (different[:3], docs["fast"][different[0]] if different else None)
