"""The lab Prometheus for real: backfilled by promtool, served by prometheus, checked against its truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from govops.lab.core import Lab, LabOptions
from govops.lab.processes import tcp_open
from govops.observer import NullObserver

from tests.conftest import REPO, need
from tests.integration.prometheus_lab import prometheus_lab

pytestmark = pytest.mark.integration

DAYS, STEP = 10, 1800


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, str, dict[str, Any]]]:
    options = LabOptions(seed=11, history_days=DAYS, step_seconds=STEP)
    with prometheus_lab(tmp_path_factory.mktemp("lab"), options) as found:
        yield found


def _client(url: str) -> Any:
    from prometheus_api_client import PrometheusConnect

    return PrometheusConnect(url=url, disable_ssl=True)


def _ts(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


def test_cpu_over_the_whole_history_matches_truth(lab: tuple[Lab, str, dict[str, Any]]) -> None:
    _, url, truth = lab
    w = truth["window"]
    step = w["step_seconds"]
    # A window just short of two steps holds two samples whether the range is closed at its start
    # (Prometheus 2) or open (3): every point is one interval, and every interval is counted once.
    series = _client(url).custom_query_range(
        f"sum by (department) (rate(libvirt_domain_info_cpu_time_seconds_total[{2 * step - 1}s]))",
        start_time=_ts(w["start"] + step),
        end_time=_ts(w["end"]),
        step=str(step),
    )
    depts = truth["departments"]
    assert {s["metric"]["department"] for s in series} == set(depts)
    for s in series:
        d = depts[s["metric"]["department"]]
        points = [(int(t), float(v)) for t, v in s["values"]]
        mean = sum(v for _, v in points) / (w["samples_per_series"] - 1)
        # shut-off VMs linger one lookback after their last sample: a fraction of a percent
        assert mean == pytest.approx(d["cpu_mean_cores"], rel=0.01)
        if d["stopped_vms"]:
            continue
        per_day: dict[str, list[float]] = {}
        for t, v in points:
            per_day.setdefault(_ts(t).date().isoformat(), []).append(v * step / 86400)
        # whole days only: the window starts and ends at whatever time of day the lab came up
        whole = {k: sum(v) for k, v in per_day.items() if len(v) == 86400 // step}
        assert sorted(whole) == d["cpu_daily_dates"]
        assert [whole[k] for k in d["cpu_daily_dates"]] == pytest.approx(d["cpu_daily_mean_cores"], rel=1e-3, abs=1e-3)


def test_latest_memory_disk_and_quota_match_truth(lab: tuple[Lab, str, dict[str, Any]]) -> None:
    _, url, truth = lab
    end = truth["window"]["end"]
    p = _client(url)
    mem = p.custom_query(
        "sum by (department) (libvirt_domain_memory_stats_available_bytes - libvirt_domain_memory_stats_usable_bytes)",
        params={"time": end},
    )
    got = {r["metric"]["department"]: int(float(r["value"][1])) for r in mem}
    assert got == {k: v["memory_used_bytes_latest"] for k, v in truth["departments"].items()}
    vol = p.custom_query("sum by (department) (openstack_cinder_limits_volume_used_gb)", params={"time": end})
    assert {r["metric"]["department"]: int(float(r["value"][1])) for r in vol} == {
        k: v["volume_used_gb_latest"] for k, v in truth["departments"].items()
    }


def test_prometheus_predicts_the_near_quota_department(lab: tuple[Lab, str, dict[str, Any]]) -> None:
    _, url, truth = lab
    nq = truth["near_quota"]
    days_left = _client(url).custom_query(
        "(openstack_cinder_limits_volume_max_gb - openstack_cinder_limits_volume_used_gb)"
        " / deriv(openstack_cinder_limits_volume_used_gb[7d]) / 86400 > 0",
        params={"time": truth["window"]["end"]},
    )
    soonest = min(days_left, key=lambda r: float(r["value"][1]))
    assert soonest["metric"]["department"] == nq["department"]
    assert float(soonest["value"][1]) == pytest.approx(nq["days_to_quota"], rel=0.05)


def test_stopped_vm_has_no_samples_after_it_stopped(lab: tuple[Lab, str, dict[str, Any]]) -> None:
    _, url, truth = lab
    w = truth["window"]
    assert truth["stopped_vms"], "the synthetic cloud has shut-off servers"
    uuid, stopped_at = sorted(truth["stopped_vms"].items())[0]
    last = dt.datetime.fromisoformat(stopped_at.replace("Z", "+00:00")).timestamp()
    r = _client(url).custom_query(
        f'count_over_time(libvirt_domain_info_cpu_time_seconds_total{{uuid="{uuid}"}}[{DAYS + 1}d])',
        params={"time": w["end"]},
    )
    assert int(float(r[0]["value"][1])) == (last - w["start"]) // w["step_seconds"] + 1


def test_status_and_idempotent_up(lab: tuple[Lab, str, dict[str, Any]]) -> None:
    lab_, url, _ = lab
    marker = (lab_.dir / "prometheus" / "backfill.json").read_text()
    rules = (lab_.dir / "prometheus" / "rules-backfill.json").read_text()
    pid = lab_.processes.get("prometheus").pid  # type: ignore[union-attr]
    again = lab_.up(["prometheus"], LabOptions(seed=11, history_days=DAYS, step_seconds=STEP), NullObserver())
    assert again["prometheus"].config["prometheus"]["url"] == url
    assert lab_.processes.get("prometheus").pid == pid  # type: ignore[union-attr]
    assert (lab_.dir / "prometheus" / "backfill.json").read_text() == marker  # no second backfill
    assert (lab_.dir / "prometheus" / "rules-backfill.json").read_text() == rules  # nor of the recording rules
    (peer,) = lab_.status()
    assert peer.up and "VMs" in peer.detail


def test_down_leaves_no_process_and_no_port(tmp_path: Path) -> None:
    need(binary="prometheus")
    need(binary="promtool")
    lab = Lab(tmp_path / "lab", REPO)
    try:
        result = lab.up(["prometheus"], LabOptions(seed=2, history_days=2, step_seconds=3600), NullObserver())
        port = int(result["prometheus"].config["prometheus"]["url"].rsplit(":", 1)[1])
        peer = lab.processes.get("prometheus")
        assert peer is not None and peer.alive() and tcp_open("127.0.0.1", port)
    finally:
        stopped = lab.down()
    assert "prometheus" in stopped
    assert not peer.alive()
    assert not Path(f"/proc/{peer.pid}").exists()
    assert not tcp_open("127.0.0.1", port)
    assert lab.processes.peers() == []
