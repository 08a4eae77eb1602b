"""A 100-VM ``govops cloud apply`` on the lab cloud next to ``openstack server create --wait`` in a
shell loop for the same VMs, in one run (issue 7 goal: >= 5x faster, 0 duplicates, 0 leaks).

    python bench/cloud_apply.py [--lab /work/devlab] [--count 100] [--concurrency 10]

Both sides create ``--count`` servers of flavor m1.tiny from cirros-lab on lab-net in a project of
the bench's own (``govops-bench``, quota sized for the run, deleted at the end), so no department's
seeded quota or servers change while other tests read them, and wait until each is ACTIVE. After
each side, duplicates (a name twice), missing servers and leaks (servers left after the clean-up)
are counted.
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
from typing import Any

from govops.cloud.connection import CloudTarget
from govops.cloud.openstack import connect
from govops.cloud.ports import CloudPort, Project
from govops.lab.cloud.layout import CLOUD_NAME
from govops.lab.cloud.seed import IMAGE_NAME, NETWORK_NAME

FLAVOR = "m1.tiny"  # 1 vCPU, 512 MiB


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


BENCH_PROJECT = "govops-bench"


def _bench_project(conn: Any, count: int) -> Any:
    """The bench's own project, the admin user a member of it, quotas for ``count`` tiny servers."""
    project = conn.identity.find_project(BENCH_PROJECT) or conn.identity.create_project(
        name=BENCH_PROJECT, domain_id="default", description="govops bench/cloud_apply.py (temporary)"
    )
    user = conn.identity.find_user("admin")
    for role_name in ("member", "admin"):
        role = conn.identity.find_role(role_name)
        if role is not None:
            conn.identity.assign_project_role_to_user(project, user, role)
    room = count + 5
    conn.set_compute_quotas(project.id, instances=room, cores=room, ram=512 * room)
    conn.set_network_quotas(project.id, port=room + 10)
    return project


def _drop_project(conn: Any, project: Any) -> None:
    for sg in conn.network.security_groups(project_id=project.id):
        conn.network.delete_security_group(sg, ignore_missing=True)
    conn.identity.delete_project(project, ignore_missing=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--lab", type=Path, default=Path(os.environ.get("GOVOPS_TEST_CLOUD_LAB", "/work/devlab")))
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--skip-baseline", action="store_true", help="only the govops side")
    args = ap.parse_args()

    clouds = args.lab / "clouds.yaml"
    venv_cli = args.lab / "openstack-venv" / "bin" / "openstack"
    openstack_bin = str(venv_cli) if venv_cli.exists() else shutil.which("openstack")
    if openstack_bin is None:
        raise SystemExit("python-openstackclient not found (the lab's venv, or pip install 'govops[bench]')")
    if not clouds.exists():
        raise SystemExit(f"{clouds}: no lab cloud there (govops lab up --cloud --dir {args.lab})")
    from openstack import connection
    from openstack.config import loader

    region = loader.OpenStackConfig(config_files=[str(clouds)], load_envvars=False).get_one(cloud=CLOUD_NAME)
    conn = connection.Connection(config=region)
    admin = connect(CloudTarget(CLOUD_NAME, clouds))
    work = Path(tempfile.mkdtemp(prefix="govops-bench-"))
    (work / "departments.yaml").write_text(
        "departments:\n- {code: bench, name_zh: 基准测试, name_en: Benchmark, project: " + BENCH_PROJECT + "}\n",
        encoding="utf-8",
    )
    config = work / "govops.yaml"
    config.write_text(
        f"version: 1\ndepartments: {work / 'departments.yaml'}\nstore: {{url: 'sqlite:///{work / 'govops.db'}'}}\n"
        f"cloud: {{name: {CLOUD_NAME}, clouds_file: {clouds}}}\n",
        encoding="utf-8",
    )
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(clouds))
    for var in ("GOVOPS_CONFIG", "OS_CLOUD"):
        env.pop(var, None)
    sdk_project = _bench_project(conn, args.count)
    project = Project(sdk_project.id, sdk_project.name)
    results: dict[str, dict[str, float | int]] = {}
    print(f"{args.count} x {FLAVOR} in project {BENCH_PROJECT}; govops --concurrency {args.concurrency}")
    try:
        # -- baseline: openstack server create --wait in a shell loop --------------------------------
        if not args.skip_baseline:
            prefix = "bench-os-"
            loop = (
                f'for i in $(seq -w 1 {args.count}); do "{openstack_bin}" --os-cloud {CLOUD_NAME} '
                f"--os-project-name {BENCH_PROJECT} server create --flavor {FLAVOR} --image {IMAGE_NAME} "
                f'--network {NETWORK_NAME} --wait -f value -c id "{prefix}vm-$i" >/dev/null '
                f'|| echo "failed $i" >&2; done'
            )
            t0 = time.perf_counter()
            proc = subprocess.run(["bash", "-c", loop], capture_output=True, text=True, env=env, check=False)
            seconds = time.perf_counter() - t0
            if proc.stderr.strip():
                print(f"openstack loop stderr: {proc.stderr[-800:]}", file=sys.stderr)
            names = _servers(admin, project, prefix)
            leaks = _clean(admin, project, prefix)
            label = "openstack server create --wait (shell loop)"
            results["openstack"] = _report(label, names, args.count, seconds, leaks)
        # -- govops ---------------------------------------------------------------------------------
        prefix = "bench-gv-"
        spec = work / "bench.yaml"
        spec.write_text(
            f"department: bench\nname: bench\n"
            f"defaults: {{flavor: {FLAVOR}, image: {IMAGE_NAME}, networks: [{NETWORK_NAME}]}}\n"
            f"vms:\n  - {{name: {prefix}vm, count: {args.count}}}\n",
            encoding="utf-8",
        )
        argv = [shutil.which("govops") or "govops", "--config", str(config), "-q", "cloud", "apply", str(spec)]
        argv += ["--concurrency", str(args.concurrency), "--yes", "-o", "json"]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"govops apply exited {proc.returncode}: {proc.stderr[-800:]}", file=sys.stderr)
        else:
            print(f"govops apply: {json.loads(proc.stdout)['status']}")
        names = _servers(admin, project, prefix)
        leaks = _clean(admin, project, prefix)
        results["govops"] = _report("govops cloud apply", names, args.count, seconds, leaks)

        if "openstack" in results:
            if results["govops"]["missing"] == 0:
                speedup = results["openstack"]["seconds"] / results["govops"]["seconds"]
                print(f"speed-up: {speedup:.1f}x   goal: >= 5x, 0 duplicates, 0 leaks")
            else:
                print("no speed-up: the govops side did not build every VM")
    finally:
        for prefix in ("bench-gv-", "bench-os-"):
            _clean(admin, project, prefix)
        _drop_project(conn, sdk_project)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
