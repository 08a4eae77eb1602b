"""The lab cloud alone, as `govops lab up --cloud` seeds it now and, as the baseline in the same run, without
the changes that cut its CPU work (how it seeded before):

- the fake hypervisors' resource tracker no longer fetches every allocation on its host at each update
  (``osplugin._skip_unread_provider_tree_allocations``);
- Nova skips checking its responses against their JSON schemas (``[api] response_validation = ignore``);
- the seeder lists servers without details (no per-server view, no Neutron calls) and polls by status,
  and keeps one connection per department.

usage: python bench/lab_cloud_speed.py [--servers 100] [--only now|before] [--dir-prefix /tmp/x]
       (needs `govops lab install --cloud`; GOVOPS_LAB_OPENSTACK_VENV to share an OpenStack venv)

Each variant starts its own cloud in a new folder and prints its phases, the CPU seconds each lab service
used while the servers were created and built (from /proc), the Placement requests it served, and the
machine's load; then it stops the lab. Run it under `flock /work/heavy.lock`: each variant is a whole
cloud bring-up. CPU seconds move with what else runs on the machine; request counts do not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from govops.lab.cloud import configs, seed
from govops.lab.cloud.layout import PREFIX, Layout
from govops.lab.core import Lab, LabOptions
from govops.observer import NullObserver

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
PLUGIN_CALL = "    _skip_unread_provider_tree_allocations()\n"
VALIDATION = "response_validation = ignore\n"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def cpu_by_peer(lab: Lab) -> dict[str, float]:
    """CPU seconds (user + system) of each live peer of the lab with all its descendants."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    out: dict[str, float] = {}
    for peer in lab.processes.peers(PREFIX):
        todo, total = [peer.pid], 0.0
        while todo:
            pid = todo.pop()
            total += cpu.get(pid, 0.0)
            todo.extend(children.get(pid, []))
        out[peer.name[len(PREFIX) :]] = total
    return out


def placement_requests(layout: Layout) -> Counter[str]:
    counts: Counter[str] = Counter()
    log = layout.log / "placement.log"
    for match in re.finditer(r'"(GET|PUT|POST|DELETE) (/[a-z_]+)', log.read_text(errors="replace")):
        counts[f"{match.group(1)} {match.group(2)}"] += 1
    return counts


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _old_wait_servers(self: seed.Seeder, ids: set[str], status: str, timeout: float = seed.BUILD_TIMEOUT) -> Any:
    # The seeder's poll before: every server of every project with details, every 2 s.
    deadline = time.monotonic() + timeout
    while True:
        found = {s.id: s for s in self.conn.compute.servers(details=True, all_projects=True) if s.id in ids}
        if any(s.status == "ERROR" for s in found.values()):
            raise RuntimeError("a lab server went to ERROR")
        if sum(1 for s in found.values() if s.status == status) == len(ids):
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"lab servers did not reach {status}")
        time.sleep(2)


@contextmanager
def before() -> Iterator[None]:
    """The lab as it seeded before these changes; everything else is the same code."""
    write_plugins, write_all = configs.write_plugins, configs.write_all

    def plugins(layout: Layout, source: str) -> Path:
        assert PLUGIN_CALL in source
        return write_plugins(layout, source.replace(PLUGIN_CALL, ""))

    def all_configs(layout: Layout, *args: Any) -> None:
        write_all(layout, *args)
        nova_conf = layout.etc / "nova/nova.conf"
        nova_conf.write_text(nova_conf.read_text().replace(VALIDATION, ""))

    def new_conn(self: seed.Seeder, dp: Any, password: str) -> Any:
        d = dp.department
        return seed.connect(self.ports, seed.department_user(d.code), password, d.project)

    def detailed(conn: Any) -> dict[str, str]:
        return {s.name: s.id for s in conn.compute.servers()}

    with (
        patched(configs, "write_plugins", plugins),
        patched(configs, "write_all", all_configs),
        patched(seed.Seeder, "department_conn", new_conn),
        patched(seed.Seeder, "wait_servers", _old_wait_servers),
        patched(seed, "_names_to_ids", detailed),
    ):
        yield


def run(variant: str, servers: int, prefix: str | None) -> None:
    lab_dir = Path(tempfile.mkdtemp(prefix=f"govops-bench-speed-{variant}-", dir=prefix))
    lab = Lab(lab_dir, REPO)
    layout = Layout(lab_dir)
    marks: dict[str, dict[str, float]] = {}
    run_seeding: Callable[[seed.Seeder], None] = seed.Seeder.run

    def measured_run(self: seed.Seeder) -> None:
        marks["start"] = cpu_by_peer(lab)
        run_seeding(self)
        marks["end"] = cpu_by_peer(lab)

    print(f"  {variant}: {uptime()}", flush=True)
    t0 = time.perf_counter()
    try:
        with patched(seed.Seeder, "run", measured_run):
            if variant == "before":
                with before():
                    lab.up(["cloud"], LabOptions(servers=servers), NullObserver())
            else:
                lab.up(["cloud"], LabOptions(servers=servers), NullObserver())
        total = time.perf_counter() - t0
        timings: dict[str, float] = json.loads(layout.seeded_file.read_text())["timings"]
        print(f"  {variant:<7} cloud up {total:7.1f} s   {uptime()}", flush=True)
        for phase, seconds in timings.items():
            print(f"      {phase:<24} {seconds:7.1f} s")
        used = {k: v - marks["start"].get(k, 0.0) for k, v in marks["end"].items()}
        top = sorted(used.items(), key=lambda kv: -kv[1])
        print(
            f"      lab CPU while seeding    {sum(used.values()):7.1f} s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in top[:8])
        )
        requests = placement_requests(layout)
        print(
            f"      Placement requests       {sum(requests.values()):7d}: "
            + ", ".join(f"{k} {n}" for k, n in requests.most_common(4))
        )
    finally:
        lab.down()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=100)
    ap.add_argument("--only", choices=("now", "before"), default=None)
    ap.add_argument("--dir-prefix", default=None)
    args = ap.parse_args()
    print(f"lab cloud alone, {args.servers} servers")
    for variant in ("before", "now"):
        if args.only in (None, variant):
            run(variant, args.servers, args.dir_prefix)
    print(f"uptime: {uptime()}")


if __name__ == "__main__":
    main()
