"""`govops net remediate` against a lab of its own: 60 devices, seed 7, 10 % faults, configuration faults.

The lab's devices accept configuration (their state changes; ``<lab>/extranet/device-state`` mirrors
it), one rejects a configuration line and one drops the session mid-push. The tests run in file
order on one lab: a dry run, a SIGKILLed apply finished by --resume, an apply answered on a
terminal with one device's host key changed, a Ctrl-C'd apply finished by --resume (each on a
county of its own), then a full apply.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from govops.lab.extranet.plan import DeviceState

from tests.conftest import REPO, need
from tests.integration.conftest import ExtranetLabInfo, load_lab_info
from tests.integration.test_net_audit import Run, govops

pytestmark = pytest.mark.integration
FIXABLE = [
    "ipv6.default_route",
    "ipv6.forwarding",
    "baseline.telnet_off",
    "baseline.http_off",
    "baseline.ssh_v2_only",
    "baseline.ntp",
    "baseline.syslog",
    "baseline.login_banner",
]
OUTPUTS: list[str] = []  # everything the CLI printed, checked for secrets at the end


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExtranetLabInfo]:
    # The lab's own code changed with this feature: never a shared lab, always one of its own.
    need(module="asyncssh")
    need(module="snmpsim")
    need(binary="snmpd")
    from govops.lab.core import Lab, LabOptions
    from govops.observer import NullObserver

    lab = Lab(tmp_path_factory.mktemp("remediate-lab"), REPO)
    try:
        lab.up(["extranet"], LabOptions(devices=60, seed=7, faults=0.10, config_faults=True), NullObserver())
        yield load_lab_info(lab.dir)
    finally:
        lab.down()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("remediate-store") / "store.db"


def cli(lab: ExtranetLabInfo, store: Path, *args: str) -> Run:
    run = govops(lab, store, *args)
    OUTPUTS.extend([run.out, run.err])
    assert "Traceback" not in run.err, run.err[-3000:]
    return run


def audit(lab: ExtranetLabInfo, store: Path) -> dict[str, Any]:
    run = cli(lab, store, "-o", "json", "net", "audit")
    assert run.code in (0, 3), run.err[-2000:]
    data: dict[str, Any] = json.loads(run.out)
    return data


def findings(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {d["hostname"]: {f["rule"]: f["status"] for f in d["findings"]} for d in doc["devices"]}


def config_faulty(lab: ExtranetLabInfo) -> dict[str, str]:
    return {
        h: e["fault"]["kind"]
        for h, e in lab.truth["devices"].items()
        if e["fault"] and e["fault"]["kind"].startswith("config_")
    }


def running_state(lab: ExtranetLabInfo, host: str) -> dict[str, Any] | None:
    path = lab.dir / "extranet" / "device-state" / f"{host}.running.json"
    if not path.exists():
        return None
    return DeviceState.from_dict(json.loads(path.read_text())).facts().to_dict()


def test_dry_run_prints_the_plan_and_changes_nothing(lab: ExtranetLabInfo, store: Path, tmp_path: Path) -> None:
    first = audit(lab, store)
    out = tmp_path / "plans"
    run = cli(lab, store, "-o", "json", "net", "remediate", first["run"]["id"], "--out", str(out))
    assert run.code == 0, run.err[-2000:]
    plan = json.loads(run.out)
    planned = {d["hostname"]: d for d in plan["devices"] if any(i["status"] == "planned" for i in d["items"])}
    assert len(planned) >= 10
    for host in config_faulty(lab):
        assert host in planned
    for host, d in planned.items():
        text = (out / f"{host}.txt").read_text()
        for line in d["session"]:
            assert line in text
        enter = "configure terminal" if d["platform"] == "cisco_ios" else "system-view"
        assert d["session"][0] == enter
    second = audit(lab, store)
    assert findings(second) == findings(first)
    assert {d["hostname"]: d["facts"] for d in second["devices"]} == {
        d["hostname"]: d["facts"] for d in first["devices"]
    }
    assert not (lab.dir / "extranet" / "device-state").exists() or not any(
        (lab.dir / "extranet" / "device-state").glob("*.running.json")
    )


def test_sigkill_mid_run_then_resume_touches_no_device_twice(lab: ExtranetLabInfo, store: Path) -> None:
    plan = json.loads(cli(lab, store, "-o", "json", "net", "remediate").out)
    skip = set(config_faulty(lab))
    by_county: dict[str, list[str]] = {}
    for d in plan["devices"]:
        if d["session"] and d["hostname"] not in skip and d["county"]:
            by_county.setdefault(d["county"], []).append(d["hostname"])
    faulty_counties = {d["county"] for d in plan["devices"] if d["hostname"] in skip}
    county = max((c for c in by_county if c not in faulty_counties), key=lambda c: len(by_county[c]))
    hosts = by_county[county]
    assert len(hosts) >= 3
    proc = govops(
        lab,
        store,
        "-o",
        "json",
        "net",
        "remediate",
        "--apply",
        "--yes",
        "--workers",
        "1",
        "--county",
        county,
        wait=False,
    )
    db = sqlite3.connect(store)
    run_id = None
    done_before: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = db.execute("SELECT id FROM runs WHERE kind = 'net.remediate' ORDER BY started_at DESC LIMIT 1").fetchone()
        if row:
            run_id = row[0]
            done_before = dict(db.execute("SELECT target, finished_at FROM results WHERE run_id = ?", (run_id,)))
            if done_before:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert run_id is not None and done_before
    assert len(done_before) < len(hosts), "the run finished before it could be killed"
    resumed = cli(lab, store, "-o", "json", "net", "remediate", "--resume", run_id, "--yes")
    assert resumed.code in (0, 3), resumed.err[-2000:]
    results = dict(db.execute("SELECT target, status FROM results WHERE run_id = ?", (run_id,)))
    assert set(results) == set(hosts)
    assert set(results.values()) <= {"verified", "applied", "rolled_back", "skipped", "failed"}
    after = dict(db.execute("SELECT target, finished_at FROM results WHERE run_id = ?", (run_id,)))
    for host, finished in done_before.items():
        assert after[host] == finished  # a device finished before the kill was not redone
    pushes = db.execute(
        "SELECT resource_id, COUNT(*) FROM journal WHERE run_id = ? AND action = 'push' GROUP BY resource_id", (run_id,)
    ).fetchall()
    assert pushes and all(n == 1 for _host, n in pushes)
    runs = cli(lab, store, "-o", "json", "net", "runs")
    assert any(r["id"] == run_id and r["kind"] == "remediate" for r in json.loads(runs.out))


def free_county(lab: ExtranetLabInfo, store: Path, plan: dict[str, Any], least: int) -> tuple[str, list[str]]:
    """A county with at least ``least`` devices to push, none of them configuration-faulty, that no
    earlier remediation run of this module worked on (its devices still fail as the audit says)."""
    skip = set(config_faulty(lab))
    used = {
        json.loads(params).get("filters", {}).get("county")
        for (params,) in sqlite3.connect(store).execute("SELECT params FROM runs WHERE kind = 'net.remediate'")
    }
    by_county: dict[str, list[str]] = {}
    for d in plan["devices"]:
        if d["session"] and d["county"]:
            by_county.setdefault(d["county"], []).append(d["hostname"])
    faulty = {d["county"] for d in plan["devices"] if d["hostname"] in skip}
    free = [c for c, hosts in by_county.items() if c not in faulty | used and len(hosts) >= least]
    assert free, f"no free county with {least} devices to push: {by_county}"
    county = min(free, key=lambda c: len(by_county[c]))  # the smallest: the test stays short
    return county, by_county[county]


def answered(lab: ExtranetLabInfo, store: Path, answer: str, *args: str) -> Run:
    """The CLI with a terminal on stdin (a pty), the answer to its question typed ahead."""
    master, slave = pty.openpty()
    env = {**os.environ, **lab.env, "GOVOPS_CONFIG": str(store.parent / "govops.yaml"), "NO_COLOR": "1"}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "govops", *args],
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(master, f"{answer}\n".encode())  # the tty keeps it until the question reads it
        out, err = proc.communicate(timeout=600)
    finally:
        os.close(slave)
        os.close(master)
    OUTPUTS.extend([out, err])
    assert "Traceback" not in err, err[-3000:]
    return Run(proc.returncode, out, err, store)


def known_hosts_file(lab: ExtranetLabInfo) -> Path:
    network = yaml.safe_load(lab.config.read_text(encoding="utf-8"))["network"]
    return Path(network["known_hosts"])


def test_apply_asks_first_and_a_changed_host_key_stops_only_that_device(lab: ExtranetLabInfo, store: Path) -> None:
    plan = json.loads(cli(lab, store, "-o", "json", "net", "remediate").out)
    county, hosts = free_county(lab, store, plan, least=2)
    args = ("-o", "json", "net", "remediate", "--apply", "--county", county)
    runs_before = json.loads(cli(lab, store, "-o", "json", "net", "runs").out)

    # "no" sends nothing: no run, no device touched
    no = answered(lab, store, "n", *args)
    assert no.code == 2 and "not confirmed" in no.err, no.err[-2000:]
    assert json.loads(cli(lab, store, "-o", "json", "net", "runs").out) == runs_before
    assert all(running_state(lab, h) is None for h in hosts)

    # one device's host key is no longer the one the audit pinned (as if it had been replaced)
    victim = hosts[0]
    ssh = lab.truth["devices"][victim]["access"]["ssh"]
    name = f"[{ssh['address']}]:{ssh['port']}"
    known = known_hosts_file(lab)
    original = known.read_text(encoding="utf-8")
    entries = [ln for ln in original.splitlines() if ln.split(" ", 1)[0] == name]
    assert len(entries) == 1, f"the audit pinned {name} once: {entries}"
    host, key_type, blob = entries[0].split()
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 0xFF
    other = f"{host} {key_type} {base64.b64encode(bytes(raw)).decode()}"
    known.write_text(original.replace(entries[0], other), encoding="utf-8")
    try:
        yes = answered(lab, store, "y", *args)
    finally:
        known.write_text(original, encoding="utf-8")
    assert yes.code == 3, yes.err[-2000:]
    outcome = {o["hostname"]: o for o in json.loads(yes.out)["devices"]}
    assert set(outcome) >= set(hosts)
    v = outcome[victim]
    assert v["status"] == "failed" and v["lines_sent"] == 0, v
    assert "host key changed" in v["reason"] and "nothing changed" in v["reason"], v["reason"]
    assert running_state(lab, victim) is None  # not one line reached it
    # the other devices of the same run went on: pushed, saved and verified
    for h in hosts[1:]:
        assert outcome[h]["status"] == "verified", outcome[h]
        assert running_state(lab, h) is not None
    db = sqlite3.connect(store)
    pushes = {h for (h,) in db.execute("SELECT resource_id FROM journal WHERE action = 'push'")}
    assert victim not in pushes


def test_ctrl_c_keeps_each_finished_device_and_resume_does_the_rest(lab: ExtranetLabInfo, store: Path) -> None:
    plan = json.loads(cli(lab, store, "-o", "json", "net", "remediate").out)
    county, hosts = free_county(lab, store, plan, least=3)
    args = ("-o", "json", "net", "remediate", "--apply", "--yes", "--workers", "1", "--county", county)
    db = sqlite3.connect(store)
    earlier = {r for (r,) in db.execute("SELECT id FROM runs")}
    proc = govops(lab, store, *args, wait=False)
    run_id = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        new = [r for (r,) in db.execute("SELECT id FROM runs WHERE kind = 'net.remediate'") if r not in earlier]
        if new:
            run_id = new[0]
            if db.execute("SELECT COUNT(*) FROM results WHERE run_id = ?", (run_id,)).fetchone()[0]:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=300)
    OUTPUTS.append(err)
    assert proc.returncode == 130, err[-2000:]
    assert run_id is not None
    assert f"govops net remediate --resume {run_id}" in err  # the command that finishes it
    status = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert status == "interrupted"
    kept = dict(db.execute("SELECT target, finished_at FROM results WHERE run_id = ?", (run_id,)))
    assert kept and len(kept) < len(hosts), "the run finished before Ctrl-C"
    pushed = [
        h for (h,) in db.execute("SELECT resource_id FROM journal WHERE run_id = ? AND action = 'push'", (run_id,))
    ]
    # the device being configured at Ctrl-C finished, and its outcome was kept: no push without one
    assert set(pushed) <= set(kept)
    statuses = dict(db.execute("SELECT target, status FROM results WHERE run_id = ?", (run_id,)))
    assert set(statuses.values()) == {"verified"}, statuses
    resumed = cli(lab, store, "-o", "json", "net", "remediate", "--resume", run_id, "--yes")
    assert resumed.code == 0, resumed.err[-2000:]
    after = dict(db.execute("SELECT target, finished_at FROM results WHERE run_id = ?", (run_id,)))
    assert set(after) == set(hosts)
    assert all(after[h] == kept[h] for h in kept)  # the devices done before Ctrl-C were not redone
    pushes = db.execute(
        "SELECT resource_id, COUNT(*) FROM journal WHERE run_id = ? AND action = 'push' GROUP BY resource_id", (run_id,)
    ).fetchall()
    assert all(n == 1 for _h, n in pushes)


def test_a_read_only_playbook_through_ansible_on_the_lab_devices(lab: ExtranetLabInfo, store: Path) -> None:
    need(module="ansible_collections.cisco.ios")
    need(module="ansible_collections.ansible.netcommon")
    ios = [h for h in lab.devices(expected_status="ok", platform="cisco_ios") if h not in config_faulty(lab)][:3]
    assert ios
    run = cli(lab, store, "-o", "json", "play", "run", "net-facts", "--target", "net", "--limit", ",".join(ios))
    assert run.code == 0, run.out[-3000:] + run.err[-3000:]
    doc = json.loads(run.out)
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert set(hosts) == set(ios)
    assert all(h["status"] == "ok" and h["failed"] == 0 for h in hosts.values())


def test_apply_fixes_every_device_and_rolls_back_the_faulty_ones(lab: ExtranetLabInfo, store: Path) -> None:
    before = audit(lab, store)
    rules = ",".join(FIXABLE)
    run = cli(lab, store, "-o", "json", "net", "remediate", before["run"]["id"], "--rules", rules, "--apply", "--yes")
    assert run.code == 3, run.err[-2000:]  # two devices rolled back
    doc = json.loads(run.out)
    outcome = {o["hostname"]: o for o in doc["devices"]}
    faulty = config_faulty(lab)
    for host, kind in faulty.items():
        o = outcome[host]
        assert o["status"] == "rolled_back", o
        assert ("rejected" if kind == "config_reject" else "session lost") in o["reason"]
        # the device's running state is what it was before the push: the lab's truth
        assert running_state(lab, host) == lab.truth["devices"][host]["facts"]
    verified = {h: o for h, o in outcome.items() if o["status"] == "verified"}
    pushed = [h for h, o in outcome.items() if o["lines_sent"] and h not in faulty]
    assert pushed and set(pushed) == set(verified)
    after = audit(lab, store)
    now = findings(after)
    facts = {d["hostname"]: d["facts"] for d in after["devices"]}
    for host, o in verified.items():
        truth = running_state(lab, host)
        assert truth is not None
        for item in o["items"]:
            if item["status"] != "planned":
                continue
            assert now[host][item["rule"]] == "pass", (host, item["rule"])
        for field in ("ipv6_default_route", "telnet_enabled", "http_enabled", "ssh_v2_only", "login_banner"):
            assert facts[host][field] == truth[field], (host, field)
        fixed = {i["rule"] for i in o["items"] if i["status"] == "planned"}
        if "ipv6.default_route" in fixed and lab.truth["devices"][host]["snmp_view"] == "same":
            # SNMP shows the new route too: SSH and SNMP agree again
            assert now[host].get("xcheck.ipv6_ssh_snmp") != "fail", host
    old = findings(before)
    for host in faulty:
        assert now[host] == old[host]
    diff = cli(lab, store, "-o", "json", "net", "diff", before["run"]["id"], doc["run"]["id"])
    assert diff.code == 0, diff.out[-2000:]
    fixes = {(c["hostname"], c["rule"]) for c in json.loads(diff.out) if c["change"] == "fix"}
    wanted = {(h, i["rule"]) for h, o in verified.items() for i in o["items"] if i["status"] == "planned"}
    assert fixes == wanted


def test_no_credential_in_plans_output_or_store(lab: ExtranetLabInfo, store: Path, tmp_path: Path) -> None:
    cli(lab, store, "net", "remediate", "--out", str(tmp_path / "p"))
    # passwords, keys and the community (user names are not secret: the SNMPv3 user is a fact)
    secrets = [v for fields in lab.credentials.values() for f, v in fields.items() if "user" not in f]
    assert secrets
    blobs = [*OUTPUTS, store.read_bytes().decode("utf-8", "replace")]
    blobs += [p.read_text() for p in (tmp_path / "p").glob("*.txt")]
    for blob in blobs:
        for s in secrets:
            assert s not in blob
