"""The lab's Prometheus: a private server on loopback holding months of backfilled cloud history.

``up`` synthesises the history for the cloud lab's servers (see ``history``), imports it with
promtool (see ``backfill``) unless this lab folder already holds the same history, then starts
``prometheus`` through the lab's ProcessManager so ``govops lab down`` stops exactly that PID.
The Debian package's own service is never used: its port, data and retention are not ours.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from govops.capacity.labels import Labelling
from govops.capacity.rules import RULES_STEP as _RULES_STEP
from govops.capacity.rules import rules as capacity_rules
from govops.capacity.rules import rules_yaml
from govops.departments import load_departments
from govops.lab.core import ComponentResult, LabContext, PeerStatus, apt_install
from govops.lab.processes import LabError, free_port, tcp_open, wait_tcp
from govops.lab.prometheus import metrics as m
from govops.lab.prometheus.backfill import BLOCK_DURATION, backfill, backfill_rules
from govops.lab.prometheus.history import GENERATOR_VERSION, Window, make_plan, truth
from govops.lab.prometheus.inventory import CloudInventory, load_or_synthesise

PEER = "prometheus"
HOST = "127.0.0.1"
TRUTH_FILE = "prometheus-truth.json"
RETENTION = "400d"  # the default 15 d would delete the backfilled history at start-up
RULES_FILE = "govops-capacity.rules.yml"
RULES_MARKER = "rules-backfill.json"
RULES_STEP = int(_RULES_STEP)
START_TIMEOUT = 180.0  # opening months of blocks takes a while on a small machine


def _http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    if not url.startswith(f"http://{HOST}:"):
        raise LabError(f"refusing a non-loopback URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only, checked above
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc).encode()


def query(url: str, promql: str, at: float | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
    """An instant query's result vector (the lab's own checks; govops' code uses its own adapter)."""
    params = {"query": promql} | ({"time": str(at)} if at is not None else {})
    status, body = _http_get(f"{url}/api/v1/query?{urllib.parse.urlencode(params)}", timeout)
    if status != 200:
        raise LabError(f"Prometheus query failed (HTTP {status}): {body[:200].decode(errors='replace')}")
    data: dict[str, Any] = json.loads(body)
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


class PrometheusLab:
    name = "prometheus"

    # --- paths and state --------------------------------------------------------------------

    @staticmethod
    def _base(ctx: LabContext) -> Path:
        return ctx.path("prometheus")

    @staticmethod
    def _url(port: int) -> str:
        return f"http://{HOST}:{port}"

    def _marker(self, ctx: LabContext, name: str = "backfill.json") -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self._base(ctx) / name).read_text())
            return data
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _key(ctx: LabContext, inventory: CloudInventory) -> str:
        o = ctx.options
        doc = {
            "generator": GENERATOR_VERSION,
            "seed": o.seed,
            "days": o.history_days,
            "step": o.step_seconds,
            "block": BLOCK_DURATION,
            "inventory": inventory.to_json(),
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def _port(self, ctx: LabContext) -> int | None:
        peer = ctx.processes.get(PEER)
        if peer is None:
            return None
        for spec in peer.ports:
            if spec.startswith(f"tcp:{HOST}:"):
                return int(spec.rsplit(":", 1)[1])
        return None

    # --- protocol ---------------------------------------------------------------------------

    def install(self, ctx: LabContext) -> None:
        apt_install(ctx, ["prometheus"], lambda: bool(shutil.which("prometheus") and shutil.which("promtool")))

    def up(self, ctx: LabContext) -> ComponentResult:
        binary = shutil.which("prometheus")
        if binary is None or shutil.which("promtool") is None:
            raise LabError("prometheus is not installed", hint="govops lab install --cloud")
        base = self._base(ctx)
        base.mkdir(parents=True, exist_ok=True)
        departments = load_departments(ctx.project_root / "inventories" / "departments.yaml")
        inventory = load_or_synthesise(ctx.dir, departments, ctx.options.seed, ctx.options.servers)
        key = self._key(ctx, inventory)
        data_dir = base / "data"
        marker = self._marker(ctx)
        if marker.get("key") != key or not data_dir.is_dir():
            # Prometheus must not hold the data dir while its history is replaced.
            ctx.processes.stop(PEER)
            shutil.rmtree(data_dir, ignore_errors=True)
            (base / "backfill.json").unlink(missing_ok=True)
            (base / RULES_MARKER).unlink(missing_ok=True)
            window = Window.ending(time.time(), ctx.options.history_days, ctx.options.step_seconds)
            plan = make_plan(inventory, departments, ctx.options.seed, window)
            ctx.observer.message(
                f"backfilling {plan.sample_count:,} samples ({plan.series_count} series, "
                f"{ctx.options.history_days} d at {ctx.options.step_seconds} s) …"
            )
            stats = backfill(plan, data_dir, base / "work", observer=ctx.observer)
            shutil.rmtree(base / "work", ignore_errors=True)
            marker = {
                "key": key,
                "window": {"start": window.start, "step": window.step, "count": window.count},
                "samples": plan.sample_count,
                "series": plan.series_count,
                "stats": stats.__dict__,
            }
            (base / "backfill.json").write_text(json.dumps(marker, indent=1))
        w = marker["window"]
        plan = make_plan(inventory, departments, ctx.options.seed, Window(w["start"], w["step"], w["count"]))
        ctx.path(TRUTH_FILE).write_text(json.dumps(truth(plan, inventory), indent=1, ensure_ascii=False))

        # govops' recording rules, loaded as an operator would (`govops capacity rules`) and backfilled
        # over the history below, so the lab serves both the raw and the recorded series
        rules = capacity_rules(Labelling())
        rules_text = rules_yaml(Labelling())
        (base / RULES_FILE).write_text(rules_text)
        url = self._start(ctx, binary, base, data_dir)
        rules_key = hashlib.sha256(f"{key}\n{rules_text}".encode()).hexdigest()
        rules_marker = self._marker(ctx, RULES_MARKER)
        w = marker["window"]
        first = -(-w["start"] // RULES_STEP) * RULES_STEP
        last = (w["start"] + (w["count"] - 1) * w["step"]) // RULES_STEP * RULES_STEP
        if rules_marker.get("key") != rules_key and last > first:
            evals = Window(first, RULES_STEP, (last - first) // RULES_STEP + 1)
            ctx.observer.message(f"backfilling the recording rules over {evals.count:,} hours …")
            out = base / "rules-blocks"
            shutil.rmtree(out, ignore_errors=True)
            stats = backfill_rules(url, rules, evals, out, base / "work", observer=ctx.observer)
            shutil.rmtree(base / "work", ignore_errors=True)
            ctx.processes.stop(PEER)  # blocks go into a data dir Prometheus does not hold
            for old in rules_marker.get("blocks", []):
                shutil.rmtree(data_dir / old, ignore_errors=True)
            blocks = sorted(p.name for p in out.iterdir() if (p / "meta.json").exists())
            for name in blocks:
                (out / name).rename(data_dir / name)
            shutil.rmtree(out, ignore_errors=True)
            rules_marker = {"key": rules_key, "blocks": blocks, "stats": stats.__dict__}
            (base / RULES_MARKER).write_text(json.dumps(rules_marker, indent=1))
            url = self._start(ctx, binary, base, data_dir)
        return ComponentResult(
            config={"prometheus": {"url": url, "project_label": "project_name"}},
            next_steps=self._next_steps(url, ctx.path(TRUTH_FILE)),
        )

    def _start(self, ctx: LabContext, binary: str, base: Path, data_dir: Path) -> str:
        """Prometheus on its port (started unless running), ready; its URL."""
        port = self._port(ctx) if ctx.processes.running(PEER) else None
        if port is None:
            previous = self._port(ctx)
            port = previous if previous and not tcp_open(HOST, previous) else free_port(HOST)
            config = base / "prometheus.yml"
            config.write_text(
                "# Written by `govops lab up`: the lab's private Prometheus (history is backfilled).\n"
                "global:\n  scrape_interval: 60s\n  evaluation_interval: 60s\n"
                f"rule_files:\n  - {RULES_FILE}\n"
                "scrape_configs:\n  - job_name: prometheus\n"
                f"    static_configs:\n      - targets: ['{HOST}:{port}']\n"
            )
            argv = [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data_dir}",
                f"--storage.tsdb.retention.time={RETENTION}",
                f"--web.listen-address={HOST}:{port}",
                # A coarse history (e.g. 1 h steps in CI) must still answer instant queries.
                f"--query.lookback-delta={max(300, ctx.options.step_seconds)}s",
            ]
            ctx.processes.start(PEER, argv, cwd=base, ports=[f"tcp:{HOST}:{port}"])
        peer = ctx.processes.get(PEER)
        wait_tcp(HOST, port, START_TIMEOUT, peer)
        url = self._url(port)
        self._wait_ready(url, START_TIMEOUT, peer.log if peer else "")
        return url

    @staticmethod
    def _wait_ready(url: str, timeout: float, log: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status, _ = _http_get(url + "/-/ready", timeout=5)
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise LabError(f"Prometheus at {url} not ready after {timeout:.0f} s; see {log}")
            time.sleep(0.2)

    @staticmethod
    def _next_steps(url: str, truth_file: Path) -> list[str]:
        cpu = f"sum by (department) (rate({m.CPU_SECONDS}[1h]))"
        mem = f"sum by (department) ({m.MEM_AVAILABLE} - {m.MEM_USABLE})"
        quota = f"({m.Q_VOLUME_MAX} - {m.Q_VOLUME_USED}) / deriv({m.Q_VOLUME_USED}[30d]) / 86400  # days to quota"
        return [
            f"Prometheus {url} (ground truth: {truth_file})",
            f"PromQL, CPU cores used per department (range query, step 1h): {cpu}",
            f"PromQL, memory used per department: {mem}",
            f"PromQL: {quota}",
        ]

    def status(self, ctx: LabContext) -> list[PeerStatus]:
        port = self._port(ctx)
        if port is None or not ctx.processes.running(PEER):
            return [PeerStatus(self.name, PEER, False, "not running")]
        url = self._url(port)
        status, _ = _http_get(url + "/-/ready", timeout=5)
        if status != 200:
            return [PeerStatus(self.name, PEER, False, f"{url} not ready (HTTP {status})")]
        window = self._marker(ctx).get("window")
        if not window:
            return [PeerStatus(self.name, PEER, False, f"{url} ready but holds no lab history")]
        end = window["start"] + (window["count"] - 1) * window["step"]
        try:
            result = query(url, f"count({m.VCPUS})", at=end, timeout=10)
        except LabError as exc:
            return [PeerStatus(self.name, PEER, False, f"{url} {exc}")]
        vms = int(float(result[0]["value"][1])) if result else 0
        days = (window["count"] - 1) * window["step"] / 86400
        return [PeerStatus(self.name, PEER, vms > 0, f"{url} ready, {vms} VMs, {days:.0f} days of history")]

    def down(self, ctx: LabContext) -> list[str]:
        # The backfilled data stays: the next `up` with the same options starts in seconds.
        return [PEER] if ctx.processes.stop(PEER) else []
