"""`govops net audit` on the lab, next to the tools a team would otherwise script, in one run.

Against one running extranet lab (`govops lab up --extranet --dir DIR`, full size: 2,297 devices):

1. govops: the full audit (SSH + SNMP + rules), the real CLI as a subprocess, its own store;
   statuses checked against the lab's truth.json;
2. baseline: Nornir 3 + nornir_netmiko sending the same SSH commands to the same devices with
   the same worker cap (nornir's threaded runner, netmiko's default timing, one connection per host);
3. govops' SNMP phase alone (the audit's collector, one shared pysnmp engine, same concurrency);
4. baseline: net-snmp `snmpbulkwalk` processes via `xargs -P`, one process per device and subtree
   of the same walk plan (numeric OIDs, no MIB loading, same max-repetitions).

Issue 6's goal: the govops audit >= 3x faster than the Nornir run and <= 90 s on the full lab.
Issue 22's goal: govops' own CPU-seconds per device for the full audit (its audit process, fork
server, SSH and SNMP workers) <= 0.5x Nornir's per device (SSH only), both measured in this run:
a ratio that does not depend on the machine's speed.

Usage: python bench/net_audit.py --lab DIR [--workers 50] [--snmp-concurrency 40] [--skip-nornir] [--skip-snmp]
Needs the `bench` extra (nornir, nornir-netmiko) and net-snmp's snmpbulkwalk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import CpuMeter  # bench/ is not a package: its folder is put on sys.path above

GOAL_S = 90.0
GOAL_SPEEDUP = 3.0
GOAL_CPU_RATIO = 0.5
GOVOPS_GROUPS = ("govops audit", "forkserver", "govops-ssh", "govops-snmp")  # bench/cpu.py's names


def load() -> str:
    """The machine's load next to each figure: other work on the same cores skews every one."""
    one, five, fifteen = os.getloadavg()
    return f"[load {one:.2f} {five:.2f} {fifteen:.2f}]"


def lab_env(lab: Path) -> dict[str, str]:
    from govops.lab.extranet.component import read_credentials_env

    return read_credentials_env(lab / "credentials.env")


def run_govops_audit(lab: Path, env: dict[str, str], workers: int, snmp: int, work: Path) -> tuple[float, Any]:
    cfg = work / "govops.yaml"
    lines = [ln for ln in (lab / "govops.yaml").read_text().splitlines() if not ln.strip().startswith("url:")]
    cfg.write_text("\n".join(lines).replace("store:\n", f"store:\n  url: sqlite:///{work / 'store.db'}\n") + "\n")
    cmd = [sys.executable, "-m", "govops", "-o", "json", "-q", "net", "audit"]
    cmd += ["--workers", str(workers), "--snmp-concurrency", str(snmp)]
    t0 = time.perf_counter()
    env = os.environ | env | {"GOVOPS_CONFIG": str(cfg)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        raise SystemExit(f"govops net audit exited {proc.returncode}: {proc.stderr[-1500:]}")
    return took, json.loads(proc.stdout)


def _targets(truth: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(h, e, e["access"]) for h, e in truth["devices"].items()]


def run_nornir(truth: dict[str, Any], env: dict[str, str], workers: int, work: Path) -> tuple[float, Counter[str]]:
    """Nornir 3 + nornir_netmiko: the audit's SSH commands, the same hosts, the same worker cap."""
    import yaml
    from govops.network.parsers import commands_for
    from govops.network.platforms import PLATFORMS
    from nornir import InitNornir
    from nornir.core.task import Result, Task
    from nornir_netmiko.tasks import netmiko_send_command

    hosts: dict[str, Any] = {}
    for host, entry, access in _targets(truth):
        if access["ssh"] is None:
            continue
        platform = entry["facts"]["platform"]
        hosts[host] = {
            "hostname": access["ssh"]["address"],
            "port": access["ssh"]["port"],
            "platform": PLATFORMS[platform].netmiko_device_type,
            "data": {"commands": commands_for(platform)},
        }
    inv = work / "nornir"
    inv.mkdir()
    (inv / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    # the secret lives in this temporary folder for the run only
    defaults = {
        "username": env["GOVOPS_CRED_EXTRANET_SSH_USERNAME"],
        "password": env["GOVOPS_CRED_EXTRANET_SSH_PASSWORD"],
    }
    (inv / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    (inv / "groups.yaml").write_text("{}\n")

    def audit(task: Task) -> Result:
        try:
            for command in task.host["commands"]:
                task.run(task=netmiko_send_command, command_string=command, read_timeout=20)
        finally:
            # as a script would: Nornir otherwise keeps every session (and its thread) open to the end
            task.host.close_connections()
        return Result(host=task.host)

    logging.getLogger("nornir").setLevel(logging.CRITICAL)  # per-host tracebacks of the faulty devices
    nr = InitNornir(
        runner={"plugin": "threaded", "options": {"num_workers": workers}},
        inventory={
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(inv / "hosts.yaml"),
                "group_file": str(inv / "groups.yaml"),
                "defaults_file": str(inv / "defaults.yaml"),
            },
        },
        logging={"enabled": False},
    )
    t0 = time.perf_counter()
    results = nr.run(task=audit)
    nr.close_connections()
    took = time.perf_counter() - t0
    return took, Counter("failed" if r.failed else "ok" for r in results.values())


def run_govops_snmp(truth: dict[str, Any], env: dict[str, str], concurrency: int) -> tuple[float, Counter[str]]:
    """The audit's SNMP collector alone over every device, as the engine drives it: in its worker processes."""
    from govops.credentials import Credential, Secret
    from govops.network.analysis import DefaultAnalyzer
    from govops.network.audit import worker_context
    from govops.network.collectors.base import CollectError, SnmpTarget
    from govops.network.collectors.snmp import PysnmpCollector
    from govops.network.service import worker_processes
    from govops.network.workers import SnmpWorkers

    gets, walks = DefaultAnalyzer().snmp_plan()
    v3 = Credential(
        "v3",
        "env",
        username=env["GOVOPS_CRED_EXTRANET_SNMPV3_USERNAME"],
        auth_key=Secret(env["GOVOPS_CRED_EXTRANET_SNMPV3_AUTH_KEY"]),
        priv_key=Secret(env["GOVOPS_CRED_EXTRANET_SNMPV3_PRIV_KEY"]),
    )
    v2 = Credential("v2", "env", community=Secret(env["GOVOPS_CRED_EXTRANET_SNMP_COMMUNITY_COMMUNITY"]))

    async def main() -> Counter[str]:
        collector = SnmpWorkers(PysnmpCollector, worker_processes(), worker_context())
        await collector.start()
        sem = asyncio.Semaphore(concurrency)

        async def one(host: str, access: dict[str, Any]) -> str:
            s = access["snmp"]
            target = SnmpTarget(host, access["mgmt_ipv6"] or access["mgmt_ipv4"], s["port"], s["version"], 2.0, 1)
            async with sem:
                try:
                    await collector.collect(target, v3 if s["version"] == "v3" else v2, gets, walks)
                except CollectError:
                    return "failed"
            return "ok"

        try:
            return Counter(await asyncio.gather(*(one(h, a) for h, _e, a in _targets(truth))))
        finally:
            collector.close()

    t0 = time.perf_counter()
    counts = asyncio.run(main())
    return time.perf_counter() - t0, counts


def run_snmpbulkwalk(truth: dict[str, Any], env: dict[str, str], concurrency: int, work: Path) -> tuple[float, int]:
    """net-snmp: one snmpbulkwalk process per device and subtree, `xargs -P` wide."""
    from govops.network.analysis import DefaultAnalyzer

    exe = shutil.which("snmpbulkwalk")
    if exe is None:
        raise SystemExit("net-snmp's snmpbulkwalk is not installed (apt-get install snmp)")
    _gets, walks = DefaultAnalyzer().snmp_plan()
    lines = []
    for _host, _e, access in _targets(truth):
        s = access["snmp"]
        addr = access["mgmt_ipv6"] or access["mgmt_ipv4"]
        agent = f"udp6:[{addr}]:{s['port']}" if ":" in addr else f"udp:{addr}:{s['port']}"
        if s["version"] == "v3":
            auth = [
                "-v3",
                "-l",
                "authPriv",
                "-u",
                env["GOVOPS_CRED_EXTRANET_SNMPV3_USERNAME"],
                "-a",
                "SHA",
                "-A",
                env["GOVOPS_CRED_EXTRANET_SNMPV3_AUTH_KEY"],
                "-x",
                "AES",
                "-X",
                env["GOVOPS_CRED_EXTRANET_SNMPV3_PRIV_KEY"],
            ]
        else:
            auth = ["-v2c", "-c", env["GOVOPS_CRED_EXTRANET_SNMP_COMMUNITY_COMMUNITY"]]
        for root in ["1.3.6.1.2.1.1", *walks]:  # the system group stands for the GETs
            argv = [exe, "-m", "", "-On", "-t", "2", "-r", "1", "-Cr25", *auth, agent, root]
            lines.append(" ".join(shlex.quote(a) for a in argv))
    jobs = work / "snmp-jobs.txt"
    jobs.write_text("\n".join(lines) + "\n")
    jobs.chmod(0o600)  # holds the lab's SNMP secrets for the run
    t0 = time.perf_counter()
    proc = subprocess.run(
        f"xargs -P {concurrency} -d '\\n' -I CMD sh -c CMD < {shlex.quote(str(jobs))} | wc -l",
        shell=True,
        check=False,
        capture_output=True,
        text=True,
        env=os.environ | {"MIBS": ""},
    )
    took = time.perf_counter() - t0
    return took, int(proc.stdout.strip() or 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab", type=Path, required=True, help="folder of a running `govops lab up --extranet`")
    ap.add_argument("--workers", type=int, default=50, help="SSH worker cap, for govops and for Nornir")
    ap.add_argument("--snmp-concurrency", type=int, default=40, help="concurrent SNMP devices / processes")
    ap.add_argument("--skip-nornir", action="store_true", help="leave out the Nornir baseline")
    ap.add_argument("--skip-snmp", action="store_true", help="leave out the SNMP phase and snmpbulkwalk steps")
    ap.add_argument("--save-json", type=Path, help="write the govops audit's -o json here (to compare builds)")
    args = ap.parse_args()
    lab = args.lab.resolve()
    truth = json.loads((lab / "truth.json").read_text())
    env = lab_env(lab)
    n = len(truth["devices"])
    ssh_n = sum(1 for _h, _e, a in _targets(truth) if a["ssh"] is not None)
    faults = truth["lab"].get("faults")
    print(f"lab {lab}: {n} devices ({ssh_n} with SSH), faults {faults}; machine: {os.cpu_count()} cores {load()}")
    with tempfile.TemporaryDirectory(prefix="bench-net-audit-") as tmp:
        work = Path(tmp)
        with CpuMeter(lab=lab) as cpu:
            took, doc = run_govops_audit(lab, env, args.workers, args.snmp_concurrency, work)
        if args.save_json:
            args.save_json.write_text(json.dumps(doc, ensure_ascii=False, indent=1))
        right = sum(1 for d in doc["devices"] if d["status"] == truth["devices"][d["hostname"]]["expected_status"])
        print(
            f"govops net audit:        {took:7.1f} s  {n / took:6.1f} dev/s  "
            f"statuses {dict(Counter(d['status'] for d in doc['devices']))}, {right}/{n} as the truth expects {load()}"
        )
        print(f"  {cpu.line()}")
        own_cpu = sum(v for k, v in cpu.by_group.items() if k in GOVOPS_GROUPS)
        print(f"  govops' own CPU: {own_cpu:.1f} CPU-s = {1000 * own_cpu / n:.1f} CPU-ms/device")
        if not args.skip_nornir:
            own = resource.getrusage(resource.RUSAGE_SELF)
            with CpuMeter(lab=lab) as cpu:
                ntook, counts = run_nornir(truth, env, args.workers, work)
            after = resource.getrusage(resource.RUSAGE_SELF)
            nornir_cpu = after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime
            rate = ssh_n / ntook
            print(f"Nornir + nornir_netmiko: {ntook:7.1f} s  {rate:6.1f} dev/s  {dict(counts)} (SSH only) {load()}")
            print(f"  Nornir (this process) {nornir_cpu:.1f} CPU-s; others: {cpu.line()}")
            per_device = nornir_cpu / max(sum(counts.values()), 1)
            ratio = own_cpu / n / per_device
            verdict = "met" if ratio <= GOAL_CPU_RATIO else "NOT met"
            print(
                f"  CPU per device: govops {1000 * own_cpu / n:.1f} ms (SSH + SNMP + rules), Nornir "
                f"{1000 * per_device:.1f} ms (SSH only): {ratio:.2f}x (goal <= {GOAL_CPU_RATIO}x: {verdict})"
            )
            speedup = ntook / took
            verdict = "met" if speedup >= GOAL_SPEEDUP and took <= GOAL_S else "NOT met"
            print(f"  govops is {speedup:.2f}x faster (goal >= {GOAL_SPEEDUP:.0f}x and <= {GOAL_S:.0f} s: {verdict})")
        if args.skip_snmp:
            return 0
        with CpuMeter(lab=lab) as cpu:
            stook, scounts = run_govops_snmp(truth, env, args.snmp_concurrency)
        print(f"govops SNMP phase:       {stook:7.1f} s  {n / stook:6.1f} dev/s  {dict(scounts)} {load()}")
        print(f"  {cpu.line()}")
        with CpuMeter(lab=lab) as cpu:
            btook, values = run_snmpbulkwalk(truth, env, args.snmp_concurrency, work)
        print(f"snmpbulkwalk | xargs -P: {btook:7.1f} s  {n / btook:6.1f} dev/s  ({values} values) {load()}")
        print(f"  {cpu.line()}")
        print(f"  govops' SNMP phase is {btook / stook:.1f}x faster than net-snmp processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
