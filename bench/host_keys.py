"""What checking SSH host keys during the key exchange costs the audit, next to not checking, in one run.

1. known_hosts alone, for a city's 2,297 devices, as each SSH session uses it (the key types to ask
   for in the key exchange, then the check of the key offered): pinning every key on first use (flock, append),
   then every key known (a dictionary lookup), then a fresh worker process reading the file once.
   Baseline: the ``accept`` policy, which checks nothing.
2. With ``--lab DIR`` (a running extranet lab): the real CLI audit, alternately with
   ``host_key_policy: accept`` (baseline), ``accept-new`` on an empty known_hosts (every key pinned)
   and ``accept-new`` again (every key known), ``--rounds`` times; wall time and statuses.

Usage: python bench/host_keys.py [--devices 2297] [--lab DIR] [--rounds 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def _keys(n: int) -> list[tuple[str, bytes]]:
    # an RSA-3072-sized blob per device: the size is what the comparison costs
    return [
        (f"10.{i // 250}.{i % 250}.1", b"\x00\x00\x00\x07ssh-rsa" + hashlib.sha256(str(i).encode()).digest() * 12)
        for i in range(n)
    ]


def micro(n: int) -> None:
    from govops.network.collectors import known_hosts as kh
    from govops.network.collectors.known_hosts import HostKeyPolicy

    keys = _keys(n)
    with tempfile.TemporaryDirectory() as d:
        runs: list[tuple[str, HostKeyPolicy, bool]] = [
            ("accept (baseline, no check)", HostKeyPolicy("accept", f"{d}/kh"), False),
            ("accept-new, every key new (pinned)", HostKeyPolicy("accept-new", f"{d}/kh"), False),
            ("accept-new, every key known", HostKeyPolicy("accept-new", f"{d}/kh"), False),
            ("accept-new, fresh process (reads the file once)", HostKeyPolicy("accept-new", f"{d}/kh"), True),
        ]
        for label, policy, fresh in runs:
            if fresh:
                kh._FILES.clear()
            wall, cpu = time.perf_counter(), time.process_time()
            for host, blob in keys:
                policy.known_types(host, 22)  # as each session does: the key types to ask for
                policy.check(host, 22, "ssh-rsa", blob)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"{label:50s} {n} devices: {wall * 1000:7.1f} ms wall, {cpu * 1000:7.1f} ms CPU, "
                  f"{cpu / n * 1e6:5.1f} us CPU/device")  # fmt: skip
        print(f"known_hosts: {os.path.getsize(f'{d}/kh')} bytes, {n} lines")


def audits(lab: Path, rounds: int) -> None:
    from govops.lab.extranet.component import read_credentials_env

    env = {**os.environ, **read_credentials_env(lab / "credentials.env"), "NO_COLOR": "1"}
    base = [
        ln
        for ln in (lab / "govops.yaml").read_text().splitlines()
        if not ln.strip().startswith(("url:", "known_hosts:"))
    ]
    for rnd in range(rounds):
        for policy in ("accept", "accept-new"):
            with tempfile.TemporaryDirectory() as d:
                w = Path(d)
                text = "\n".join(base).replace("store:\n", f"store:\n  url: sqlite:///{w / 's.db'}\n") + "\n"
                text = text.replace("network:\n", f"network:\n  host_key_policy: {policy}\n  known_hosts: {w / 'kh'}\n")
                (w / "govops.yaml").write_text(text)
                for attempt in ("first", "again") if policy == "accept-new" else ("first",):
                    t = time.perf_counter()
                    p = subprocess.run(
                        [sys.executable, "-m", "govops", "-o", "json", "-q", "net", "audit"],
                        env={**env, "GOVOPS_CONFIG": str(w / "govops.yaml")},
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    wall = time.perf_counter() - t
                    statuses = Counter(d["status"] for d in json.loads(p.stdout)["devices"])
                    pinned = len((w / "kh").read_text().splitlines()) if (w / "kh").exists() else 0
                    print(f"round {rnd} {policy:10s} {attempt:5s}: {wall:6.1f} s wall, {dict(statuses)}, "
                          f"{pinned} keys pinned [load {os.getloadavg()[0]:.2f}]", flush=True)  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=2297)
    ap.add_argument("--lab", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    micro(args.devices)
    if args.lab:
        audits(args.lab, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
