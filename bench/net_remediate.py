"""`govops net remediate --apply` (push, save, re-audit per device) on the lab, next to the audit, in one run.

1. starts a lab of its own (`govops lab up --extranet --devices N`; the lab's configuration mode is
   part of this feature), unless `--lab DIR` names one that is up;
2. baseline, same run: `govops net audit` of every device (SSH + SNMP + rules);
3. `govops net remediate RUN --apply --yes` of every fixable failing rule: per device a session
   (snapshot, lines, save) and an SSH re-audit of the device;
4. a second audit: how many of the pushed (device, rule) pairs now pass.

Prints devices per second for the audit and for the remediation (devices with lines pushed), the
lines sent, and the load average next to each figure (the machine is shared).

Usage: python bench/net_remediate.py [--devices 500] [--seed 7] [--workers 10] [--lab DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"[load {one:.2f} {five:.2f} {fifteen:.2f}]"


def govops(lab: Path, env: dict[str, str], cfg: Path, *args: str) -> tuple[float, int, Any]:
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "govops", "-o", "json", "-q", *args],
        env={**os.environ, **env, "GOVOPS_CONFIG": str(cfg)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - t0
    if p.returncode not in (0, 3):
        sys.exit(f"govops {' '.join(args)} failed ({p.returncode}): {p.stderr[-2000:]}")
    return seconds, p.returncode, json.loads(p.stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workers", type=int, default=10)
    ap.add_argument("--lab", type=Path, help="a lab that is already up (else one of its own in a temp folder)")
    ap.add_argument("--keep", action="store_true", help="leave the lab running")
    args = ap.parse_args()
    from govops.lab.extranet.component import read_credentials_env

    own = args.lab is None
    lab = args.lab or Path(tempfile.mkdtemp(prefix="bench-remediate-"))
    if own:
        print(f"lab up: {args.devices} devices, seed {args.seed} {load()}", flush=True)
        t0 = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "govops",
                "lab",
                "up",
                "--extranet",
                "--devices",
                str(args.devices),
                "--seed",
                str(args.seed),
                "--dir",
                str(lab),
            ],
            check=True,
            capture_output=True,
        )
        print(f"  {time.monotonic() - t0:.1f} s", flush=True)
    try:
        env = read_credentials_env(lab / "credentials.env")
        work = Path(tempfile.mkdtemp(prefix="bench-remediate-store-"))
        cfg = work / "govops.yaml"
        lines = [ln for ln in (lab / "govops.yaml").read_text().splitlines() if not ln.strip().startswith("url:")]
        cfg.write_text("\n".join(lines).replace("store:\n", f"store:\n  url: sqlite:///{work / 'store.db'}\n") + "\n")

        before = load()
        s_audit, _, audit = govops(lab, env, cfg, "net", "audit")
        n_audit = len(audit["devices"])
        print(f"audit (baseline): {n_audit} devices in {s_audit:.1f} s = {n_audit / s_audit:.1f} devices/s {before}")

        before = load()
        s_rem, code, rem = govops(
            lab, env, cfg, "net", "remediate", audit["run"]["id"], "--apply", "--yes", "--workers", str(args.workers)
        )
        outcomes = rem["devices"]
        pushed = [o for o in outcomes if o["lines_sent"]]
        lines_sent = sum(o["lines_sent"] for o in outcomes)
        status = Counter(o["status"] for o in outcomes)
        print(
            f"remediate --apply (push, save, SSH re-audit): {len(pushed)} devices pushed, {lines_sent} lines, "
            f"in {s_rem:.1f} s = {len(pushed) / s_rem:.1f} devices/s {before}; statuses {dict(status)}; exit {code}"
        )

        before = load()
        s_after, _, after = govops(lab, env, cfg, "net", "audit")
        now = {d["hostname"]: {f["rule"]: f["status"] for f in d["findings"]} for d in after["devices"]}
        fixed = total = 0
        for o in outcomes:
            if o["status"] != "verified":
                continue
            for item in o["items"]:
                if item["status"] == "planned":
                    total += 1
                    fixed += now.get(o["hostname"], {}).get(item["rule"]) == "pass"
        print(f"second audit: {fixed}/{total} pushed (device, rule) pairs pass, in {s_after:.1f} s {before}")
        print(
            f"devices/s: audit {n_audit / s_audit:.1f}, remediate+verify {len(pushed) / s_rem:.1f} "
            f"(remediation per pushed device; the audit per device of the lab)"
        )
    finally:
        if own and not args.keep:
            subprocess.run([sys.executable, "-m", "govops", "lab", "down", "--dir", str(lab)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
