"""A 100-VM ``govops cloud apply`` on the lab cloud next to ``openstack server create --wait`` in a
shell loop for the same VMs, in one run (issue 7 goal: >= 5x faster, 0 duplicates, 0 leaks).

    python bench/cloud_apply.py [--lab /work/devlab] [--count 100] [--dept jyj] [--concurrency 10]

Both sides create ``--count`` servers of flavor m1.tiny from cirros-lab on lab-net in one
department's project, with that department's own credentials (clouds.yaml entry
``govops-lab-<dept>``), and wait until each is ACTIVE. The department's quota is raised for the run
and restored afterwards. After each side: duplicates (a name twice) and leaks (servers left after the
clean-up) are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from govops.cloud.connection import CloudTarget
from govops.cloud.openstack import connect
from govops.cloud.ports import CloudPort, Project
from govops.config import load_config
from govops.departments import load_departments
from govops.lab.cloud.layout import CLOUD_NAME
from govops.lab.cloud.seed import IMAGE_NAME, NETWORK_NAME, department_cloud

FLAVOR = "m1.tiny"  # 1 vCPU, 512 MiB
RAISED = ("instances", "cores", "ram_mb", "ports")


def _servers(port: CloudPort, project: Project, prefix: str) -> list[str]:
    return [s.name for s in port.servers(project.id) if s.name.startswith(prefix)]


def _clean(port: CloudPort, project: Project, prefix: str, timeout: float = 600) -> int:
    """Delete every server whose name starts with ``prefix``; returns how many are left (leaks)."""
    for s in port.servers(project.id):
        if s.name.startswith(prefix):
            port.delete_server(s.id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = _servers(port, project, prefix)
        if not left:
            return 0
        time.sleep(2)
    return len(_servers(port, project, prefix))


def _report(label: str, names: list[str], count: int, seconds: float, leaks: int) -> dict[str, float | int]:
    dupes = sum(n - 1 for n in Counter(names).values() if n > 1)
    missing = count - len(set(names))
    print(f"{label:44} {seconds:8.1f} s  {len(names):4} servers  {dupes} duplicates  {missing} missing  {leaks} leaks")
    return {"seconds": seconds, "servers": len(names), "duplicates": dupes, "missing": missing, "leaks": leaks}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", type=Path, default=Path(os.environ.get("GOVOPS_TEST_CLOUD_LAB", "/work/devlab")))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--dept", default="jyj")
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--skip-baseline", action="store_true", help="only the govops side")
    args = ap.parse_args()

    clouds = args.lab / "clouds.yaml"
    config = args.lab / "govops.yaml"
    openstack = args.lab / "openstack-venv" / "bin" / "openstack"
    if not shutil.which("openstack") and not openstack.exists():
        raise SystemExit("python-openstackclient not found (lab venv or pip install 'govops[bench]')")
    openstack_bin = str(openstack) if openstack.exists() else str(shutil.which("openstack"))
    if not clouds.exists():
        raise SystemExit(f"{clouds}: no lab cloud there (govops lab up --cloud --dir {args.lab})")
    admin = connect(CloudTarget(CLOUD_NAME, clouds))
    loaded = load_config(config) if config.exists() else load_config(None)
    dept = load_departments(loaded.departments_file).get(args.dept)
    project = admin.find_project(dept.project)
    if project is None:
        raise SystemExit(f"project {dept.project} is not in the lab cloud")

    before = admin.get_quotas(project.id)
    original = {k: before.items[k].limit for k in RAISED if k in before.items}
    need = {"instances": 1, "cores": 1, "ram_mb": 512, "ports": 1}
    raised = {
        k: (lim if lim < 0 else before.items[k].in_use + need[k] * (args.count + 5)) for k, lim in original.items()
    }
    admin.set_quotas(project.id, {k: max(v, original[k]) for k, v in raised.items()})
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds))
    work = Path(tempfile.mkdtemp(prefix="govops-bench-"))
    env["XDG_DATA_HOME"] = str(work / "data")  # the bench's runs go to a store of its own
    results: dict[str, dict[str, float | int]] = {}
    print(f"{args.count} x {FLAVOR} in {dept.code} ({dept.project}); govops concurrency {args.concurrency}")
    try:
        # -- govops ---------------------------------------------------------------------------------
        prefix = "bench-gv-"
        spec = work / "bench.yaml"
        spec.write_text(
            f"department: {dept.code}\nname: bench\n"
            f"defaults: {{flavor: {FLAVOR}, image: {IMAGE_NAME}, networks: [{NETWORK_NAME}]}}\n"
            f"vms:\n  - {{name: {prefix}vm, count: {args.count}}}\n",
            encoding="utf-8",
        )
        argv = ["govops", "--config", str(config), "-q", "cloud", "--os-cloud", CLOUD_NAME]
        argv += ["apply", str(spec), "--concurrency", str(args.concurrency), "--yes", "-o", "json"]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"govops apply exited {proc.returncode}: {proc.stderr[-800:]}", file=sys.stderr)
        else:
            status = json.loads(proc.stdout)["status"]
            print(f"govops apply: {status}")
        names = _servers(admin, project, prefix)
        leaks = _clean(admin, project, prefix)
        results["govops"] = _report("govops cloud apply", names, args.count, seconds, leaks)

        # -- baseline: openstack server create --wait in a shell loop --------------------------------
        if not args.skip_baseline:
            prefix = "bench-os-"
            loop = (
                f'for i in $(seq -w 1 {args.count}); do "{openstack_bin}" --os-cloud {department_cloud(dept.code)} '
                f"server create --flavor {FLAVOR} --image {IMAGE_NAME} --network {NETWORK_NAME} --wait "
                f'-f value -c id "{prefix}vm-$i" >/dev/null || echo "failed $i" >&2; done'
            )
            t0 = time.perf_counter()
            proc = subprocess.run(["bash", "-c", loop], capture_output=True, text=True, env=env, check=False)
            seconds = time.perf_counter() - t0
            if proc.stderr.strip():
                print(f"openstack loop stderr: {proc.stderr[-800:]}", file=sys.stderr)
            names = _servers(admin, project, prefix)
            leaks = _clean(admin, project, prefix)
            results["openstack"] = _report(
                "openstack server create --wait (shell loop)", names, args.count, seconds, leaks
            )
            speedup = results["openstack"]["seconds"] / results["govops"]["seconds"]
            print(f"speed-up: {speedup:.1f}x   goal: >= 5x, 0 duplicates, 0 leaks")
    finally:
        admin.set_quotas(project.id, original)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
