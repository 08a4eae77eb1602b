"""Capacity: the service's figures and flags, forecasts and their edge cases, the report in zh/en,
the json/csv schema and the CLI's exit codes, all against the in-memory ``FakeMetrics``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from govops.capacity import forecast as fc
from govops.capacity.ports import BadQuery
from govops.capacity.prometheus import _error_text
from govops.capacity.schema import CSV_COLUMNS, report_dict
from govops.capacity.service import CapacityService, Options
from govops.capacity.timespec import parse_duration, parse_time
from govops.departments import Department, load_departments
from govops.errors import InputError
from govops.reports.capacity import LABELS, render

from tests.fakes_metrics import FakeHypervisor, FakeMetrics, const, linear

pytestmark = pytest.mark.unit

DAY = 86400
AT = 1796169600.0  # a UTC midnight
T0 = AT - 30 * DAY


def dept(code: str, zh: str = "测试局", en: str = "Test Bureau") -> Department:
    return Department(code=code, name_zh=zh, name_en=en, project=f"dept-{code}")


def limits(cpu=(20, 8), ram_mib=(51200, 8192), storage=(1000, 100), instances=(10, 2)):  # type: ignore[no-untyped-def]
    def pair(p):  # type: ignore[no-untyped-def]
        q, a = p
        return (q if callable(q) else const(q), a if callable(a) else const(a))

    return {"cpu": pair(cpu), "ram": pair(ram_mib), "storage": pair(storage), "instances": pair(instances)}


def run(fake: FakeMetrics, depts: list[Department], **opts: float) -> object:
    return CapacityService(fake).report(depts, Options(at=AT, **opts))


# -- figures ---------------------------------------------------------------------------------------


def test_steady_department_figures() -> None:
    fake = FakeMetrics()
    fake.add("aaa", cpu_used=const(2.0), cpu_prov=const(8.0), ram_used=const(3.0), ram_prov=const(8.0), limits=limits())
    r = run(fake, [dept("aaa")])
    (d,) = r.departments  # type: ignore[attr-defined]
    cpu, ram, vol, inst = (d.resources[k] for k in ("cpu", "ram", "storage", "instances"))
    assert cpu.quota == 20 and cpu.allocated == 8 and cpu.quota_pct == pytest.approx(40)
    assert cpu.used.mean == pytest.approx(2.0) and cpu.used.p95 == pytest.approx(2.0)
    assert cpu.utilisation_pct == pytest.approx(25.0)
    assert ram.quota == 50 and ram.allocated == 8  # MiB from the exporter -> GiB
    assert ram.used.latest == pytest.approx(3.0) and ram.used.provisioned == pytest.approx(8.0)
    assert vol.allocated == 100 and vol.used.mean == pytest.approx(20.0)
    assert vol.utilisation_pct == pytest.approx(25.0)  # written / disk size
    assert inst.used is None and inst.allocated == 2
    for x in (cpu, ram, vol, inst):
        assert x.forecast == "flat" and x.days_to_quota is None and x.allocation_growth_per_day == pytest.approx(0)
    assert cpu.used.growth_pct_30d == pytest.approx(0, abs=1e-6)
    assert not d.finding and not d.growing and d.reclaim == ()
    assert r.allocation_source == "prometheus" and r.warnings == ()  # type: ignore[attr-defined]


def test_every_department_in_eight_requests() -> None:
    fake = FakeMetrics()
    depts = [dept(f"d{i:02d}") for i in range(50)]
    for d in depts:
        fake.add(d.code, limits=limits())
    r = run(fake, depts)
    # the recorded-series probe, three usage range queries, the provisioned sizes, the CPU mean, quota
    # history, hypervisors
    assert len(fake.requests) == 8 == r.queries and len(r.departments) == 50  # type: ignore[attr-defined]
    assert "govops_probe" in fake.requests[0] and r.usage_series == "raw"  # type: ignore[attr-defined]
    assert all("sum by (department)" in q or "sum by (hostname" in q for q in fake.requests[1:])
    # a selection filters on the server, not after the fact
    fake.requests.clear()
    r = CapacityService(fake).report(depts[:2], Options(at=AT), only=True)
    assert [d.code for d in r.departments] == ["d00", "d01"]
    assert all('department=~"d00|d01"' in q for q in fake.requests if "hostname" not in q and "probe" not in q)


def test_city_sums_departments_and_unlimited_wins() -> None:
    fake = FakeMetrics()
    fake.add("aaa", cpu_used=const(1.0), limits=limits(cpu=(20, 8)))
    fake.add("bbb", cpu_used=const(3.0), limits=limits(cpu=(-1, 4)))
    fake.hypervisors = [FakeHypervisor("hv1", vcpus=64, vcpus_used=12, running=3)]
    r = run(fake, [dept("aaa"), dept("bbb")])
    city = r.city  # type: ignore[attr-defined]
    assert city["cpu"].allocated == 12 and city["cpu"].quota is None and city["cpu"].forecast == "no_quota"
    assert city["cpu"].used.mean == pytest.approx(4.0)
    assert city["ram"].quota == 100
    bbb = r.departments[1]  # type: ignore[attr-defined]
    assert bbb.resources["cpu"].quota is None and bbb.resources["cpu"].days_to_quota is None
    (hv,) = r.hypervisors  # type: ignore[attr-defined]
    assert (hv.vcpus, hv.vcpus_used, hv.running_vms, hv.memory_gib) == (64, 12, 3, 512)


def test_growing_allocation_reaches_quota_within_horizon() -> None:
    fake = FakeMetrics()
    fake.add("aaa", limits=limits(storage=(1000, linear(500, 10, T0))))
    r = run(fake, [dept("aaa")])
    vol = r.departments[0].resources["storage"]  # type: ignore[attr-defined]
    assert vol.allocated == pytest.approx(800)
    assert vol.allocation_growth_per_day == pytest.approx(10)
    assert vol.days_to_quota == pytest.approx(20)
    assert vol.quota_date == "2026-12-22" and vol.forecast == "ok"
    assert r.departments[0].near_quota == ("storage",) and r.findings  # type: ignore[attr-defined]
    short = run(fake, [dept("aaa")], horizon_days=10)
    assert short.departments[0].near_quota == () and not short.findings  # type: ignore[attr-defined]


def test_at_over_shrinking_and_short_history() -> None:
    fake = FakeMetrics()
    fake.add("full", limits=limits(instances=(10, 10)))
    fake.add("over", limits=limits(cpu=(20, 24)))
    fake.add("shrink", limits=limits(storage=(1000, linear(900, -5, T0))))
    recent = lambda v: lambda t: v if t >= AT - 1.5 * DAY else None  # noqa: E731
    fake.add("new", cpu_used=recent(1.0), limits={"storage": (const(1000), recent(10.0))})
    r = run(fake, [dept("full"), dept("over"), dept("shrink"), dept("new"), dept("none")])
    full, over, shrink, new, none = r.departments  # type: ignore[attr-defined]
    inst = full.resources["instances"]
    assert inst.forecast == "at_quota" and inst.days_to_quota == 0 and full.near_quota == ("instances",)
    assert not inst.over_quota and full.finding
    assert over.over_quota == ("cpu",) and over.resources["cpu"].forecast == "at_quota"
    s = shrink.resources["storage"]
    assert s.allocation_growth_per_day == pytest.approx(-5) and s.forecast == "flat" and s.days_to_quota is None
    assert new.resources["storage"].forecast == "short_history"
    assert new.resources["cpu"].used.growth_per_day is None and new.resources["cpu"].used.days < fc.MIN_DAYS
    assert none.resources["cpu"].forecast == "no_data" and none.resources["cpu"].used is None
    assert [d.code for d in r.findings] == ["full", "over"]  # type: ignore[attr-defined]
    assert any("no usage data" in str(w) and "none" in str(w) for w in r.warnings)  # type: ignore[attr-defined]


def test_growing_and_over_allocated_flags() -> None:
    fake = FakeMetrics()
    fake.add("grow", cpu_used=linear(1.0, 0.5 / 30, T0), limits=limits(cpu=(20, 4)))
    fake.add("idle", cpu_used=const(0.1), ram_used=const(0.5), limits=limits(cpu=(20, 8), ram_mib=(51200, 8192)))
    r = run(fake, [dept("grow"), dept("idle")])
    grow, idle = r.departments  # type: ignore[attr-defined]
    # +0.5 cores per 30 days over a window mean of 1.25 cores
    assert grow.resources["cpu"].used.growth_pct_30d == pytest.approx(40.0, rel=0.02)
    assert grow.growing and not idle.growing
    assert idle.reclaim == ("cpu", "ram") and grow.reclaim == ()
    assert idle.resources["cpu"].p95_utilisation_pct == pytest.approx(1.25)


def test_unknown_department_in_prometheus_is_a_warning() -> None:
    fake = FakeMetrics()
    fake.add("aaa", limits=limits())
    fake.add("zzz", limits=limits())
    r = run(fake, [dept("aaa")])
    assert [d.code for d in r.departments] == ["aaa"]  # type: ignore[attr-defined]
    assert any("not in the departments file: zzz" in str(w) for w in r.warnings)  # type: ignore[attr-defined]


def test_options_are_checked() -> None:
    with pytest.raises(InputError, match="at least two steps"):
        Options(at=AT, window=3600, step=3600).check()
    with pytest.raises(InputError, match="points per series"):
        Options(at=AT, window=400 * DAY, step=60).check()


# -- forecasts -------------------------------------------------------------------------------------


def test_fit_recovers_a_line_and_removes_weekly_seasonality() -> None:
    days = list(range(100, 128))
    line = [5 + 0.25 * d for d in days]
    f = fc.fit(days, line)
    assert f is not None and f.slope_per_day == pytest.approx(0.25) and f.level == pytest.approx(line[-1])
    weekly = [v + (3.0 if fc.weekday(d) in (2, 3) else 0.0) for d, v in zip(days, line, strict=True)]
    plain = fc.fit(days[:-3], weekly[:-3])  # ends on a weekend: a plain line is fooled
    seasonal = fc.fit(days[:-3], weekly[:-3], weekdays=[fc.weekday(d) for d in days[:-3]])
    assert plain is not None and seasonal is not None and seasonal.weekly
    assert abs(plain.slope_per_day - 0.25) > 0.01
    assert seasonal.slope_per_day == pytest.approx(0.25)
    assert fc.fit([1, 2], [1.0, 2.0]) is None  # short history
    assert fc.fit([1, 1, 1], [1.0, 2.0, 3.0]) is None  # no spread in time: singular


def test_days_to_limit_edge_cases() -> None:
    assert fc.days_to_limit(80, 100, 2) == pytest.approx(10)
    assert fc.days_to_limit(100, 100, 2) == 0 and fc.days_to_limit(120, 100, -1) == 0
    assert fc.days_to_limit(80, 100, 0) is None and fc.days_to_limit(80, 100, -2) is None
    assert fc.days_to_limit(80, None, 2) is None and fc.days_to_limit(80, 100, None) is None
    assert fc.date_after(AT, 20) == "2026-12-22" and fc.date_after(AT, None) is None


def test_daily_means_keep_whole_days_only() -> None:
    points = [(AT + h * 3600.0, float(h)) for h in range(-30, 24)]  # 6 h of one day, two whole days
    means = fc.daily_means(points, 3600)
    assert [d for d, _ in means] == [int(AT // DAY) - 1, int(AT // DAY)]
    assert means[1][1] == pytest.approx(11.5)


# -- the report, json and csv -----------------------------------------------------------------------


def _report(fake: FakeMetrics | None = None) -> object:
    fake = fake or FakeMetrics()
    fake.add("gaj", limits=limits(storage=(1000, linear(500, 10, T0))))
    fake.add("wjw", cpu_used=linear(1.0, 0.5 / 30, T0), limits=limits())
    return run(
        fake, [dept("gaj", "公安局", "Public Security Bureau"), dept("wjw", "卫生健康委员会", "Health Commission")]
    )


def test_report_in_both_languages_and_formats() -> None:
    report = _report()
    zh = render(report, "zh", "md", now=AT)  # type: ignore[arg-type]
    en = render(report, "en", "md", now=AT)  # type: ignore[arg-type]
    assert zh.startswith("# 云资源容量报告") and "## 即将达到配额的部门" in zh
    assert "| 公安局 | 云硬盘 (GiB) | 800 | 1,000 | 80.0 | 10.00 | 20.0 | 2026年12月22日 |" in zh
    assert "| 卫生健康委员会 | 40.0 |" in zh.split("## 增长最快的部门")[1].split("##")[0]
    assert en.startswith("# Cloud capacity report") and "| Public Security Bureau | gaj | vCPU |" in en
    assert "22 Dec 2026" in en and "公安局" not in en
    page = render(report, "en", "html", now=AT)  # type: ignore[arg-type]
    assert page.startswith("<!DOCTYPE html>") and page.count("<table>") == 5 and '<td class="n">800</td>' in page
    assert '<html lang="zh-CN">' in render(report, "zh", "html", now=AT)  # type: ignore[arg-type]


def test_labels_complete_in_both_languages() -> None:
    assert set(LABELS["en"]) == set(LABELS["zh"])


def test_json_schema() -> None:
    doc = report_dict(_report())  # type: ignore[arg-type]
    assert doc["schema"] == "govops.capacity/1"
    assert set(doc) >= {"at", "window", "horizon_days", "allocation_source", "city", "hypervisors", "departments"}
    gaj = doc["departments"][0]
    assert set(gaj) == {"code", "name_zh", "name_en", "project", "flags", "resources"}
    assert set(gaj["resources"]) == {"cpu", "ram", "storage", "instances"}
    vol = gaj["resources"]["storage"]
    assert vol["days_to_quota"] == 20.0 and vol["quota_date"] == "2026-12-22" and vol["forecast"] == "ok"
    assert set(vol["used"]) == {
        "mean",
        "p95",
        "latest",
        "provisioned",
        "growth_per_day",
        "growth_pct_30d",
        "history_days",
    }
    assert doc["findings"] == ["gaj"] and doc["window"]["days"] == 30.0
    json.dumps(doc)  # plain data only


def test_prometheus_error_text_is_one_line() -> None:
    raw = repr(b'{"status":"error","errorType":"bad_data","error":"1:5: parse error:\\nunexpected"}')
    assert _error_text(raw) == "bad_data: 1:5: parse error: unexpected"
    assert _error_text("b'<html>\\n<body>Bad Gateway</body></html>'") == "<html> <body>Bad Gateway</body></html>"


def test_time_and_duration_options() -> None:
    assert parse_duration("30d", "--window") == 30 * DAY and parse_duration("90m", "--step") == 5400
    assert parse_duration("2w", "--horizon") == 14 * DAY
    for bad in ("30", "0d", "-1d", "1y", "soon"):
        with pytest.raises(InputError, match="--window"):
            parse_duration(bad, "--window")
    assert parse_time("2026-12-02") == AT and parse_time("2026-12-02T08:00:00+08:00") == AT
    assert parse_time(str(int(AT))) == AT and abs(parse_time(None) - parse_time("now")) < 5
    with pytest.raises(InputError, match="--at"):
        parse_time("yesterday")


# -- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def fake(project: Path, monkeypatch: pytest.MonkeyPatch, ports) -> FakeMetrics:  # type: ignore[no-untyped-def]
    (project / "govops.yaml").write_text("version: 1\nprometheus:\n  url: http://127.0.0.1:9\n")
    monkeypatch.setenv("GOVOPS_CONFIG", str(project / "govops.yaml"))
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    metrics = FakeMetrics()
    for d in load_departments(project / "inventories" / "departments.yaml"):
        metrics.add(d.code, limits=limits())
    ports.metrics = metrics  # and no cloud configured: quotas from openstack-exporter's series
    return metrics


AT_OPT = ("--at", "2026-12-02")


def test_cli_show_ok_json_and_csv(cli, fake: FakeMetrics) -> None:  # type: ignore[no-untyped-def]
    r = cli("capacity", "show", *AT_OPT)
    assert r.code == 0, r.err
    assert "Public Security Bureau" in r.out
    r = cli("capacity", "show", *AT_OPT, "-o", "json")
    doc = json.loads(r.out)
    assert doc["schema"] == "govops.capacity/1" and len(doc["departments"]) == 50
    r = cli("capacity", "show", *AT_OPT, "-o", "csv", "--dept", "公安局")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert tuple(rows[0]) == CSV_COLUMNS and [x["resource"] for x in rows] == ["cpu", "ram", "storage", "instances"]
    assert rows[0]["department"] == "gaj" and rows[0]["quota"] == "20.0"


def test_cli_findings_exit_3_and_zh(cli, fake: FakeMetrics) -> None:  # type: ignore[no-untyped-def]
    fake.departments["wjw"].limits = limits(storage=(1000, linear(500, 10, T0)))
    r = cli("capacity", "forecast", *AT_OPT, "--lang", "zh")
    assert r.code == 3, r.err
    assert "卫生健康委员会" in r.out and "2026-12-22" in r.out and "1 个部门" in r.err
    assert cli("capacity", "forecast", *AT_OPT, "--horizon", "10d").code == 0


def test_cli_forecast_table_asks_for_quotas_only(cli, fake: FakeMetrics) -> None:  # type: ignore[no-untyped-def]
    fake.departments["wjw"].limits = limits(storage=(1000, linear(500, 10, T0)))
    fake.requests.clear()
    r = cli("capacity", "forecast", *AT_OPT)
    assert r.code == 3 and "2026-12-22" in r.out and "no usage data" not in r.err
    # the table shows quotas, allocations and dates: no libvirt (usage) series is asked for
    assert fake.requests and not any("libvirt" in q for q in fake.requests), fake.requests
    # one value a day, the latest within two steps of the day's end (not a whole day of samples)
    assert any("openstack_nova_limits_vcpus_max" in q and "[7200s]" in q for q in fake.requests)
    fake.requests.clear()
    doc = json.loads(cli("capacity", "forecast", *AT_OPT, "-o", "json").out)
    assert any("libvirt" in q for q in fake.requests)  # json carries every figure
    wjw = next(d for d in doc["departments"] if d["code"] == "wjw")
    assert wjw["resources"]["storage"]["quota_date"] == "2026-12-22" and wjw["resources"]["cpu"]["used"] is not None


def test_cli_report_to_file(cli, fake: FakeMetrics, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "capacity.html"
    r = cli("report", "capacity", *AT_OPT, "--format", "html", "--out", str(out), "--lang", "zh")
    assert r.code == 0, r.err
    assert "云资源容量报告" in out.read_text(encoding="utf-8")
    r = cli("report", "capacity", *AT_OPT)
    assert r.code == 0 and r.out.startswith("# Cloud capacity report")


def test_cli_errors_are_one_line(cli, fake: FakeMetrics, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    r = cli("capacity", "show", "--window", "thirty")
    assert r.code == 2 and "--window: 'thirty' is not a duration" in r.err
    r = cli("capacity", "show", "--dept", "nosuch")
    assert r.code == 2 and "unknown department 'nosuch'" in r.err
    fake.down = True
    r = cli("capacity", "show", *AT_OPT)
    assert r.code == 1 and "Prometheus" in r.err and "cannot connect" in r.err and "Traceback" not in r.err

    def bad(*args: object, **kwargs: object) -> None:
        raise BadQuery("bad_data: parse error", query="sum by (", status=400, url=fake.url)

    fake.down = False
    monkeypatch.setattr(fake, "query_range", bad)
    r = cli("capacity", "show", *AT_OPT)
    assert r.code == 2 and "HTTP 400" in r.err and "sum by (" in r.err


def test_cli_without_prometheus_is_a_config_error(cli, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GOVOPS_HOME", str(project))
    r = cli("capacity", "show")
    assert r.code == 2 and "no Prometheus configured" in r.err and "prometheus.url" in r.err


def test_cli_allocations_from_the_cloud(cli, fake: FakeMetrics, project: Path, ports) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes_cloud import FakeCloud

    cloud = FakeCloud(build_polls=0)
    for d in load_departments(project / "inventories" / "departments.yaml"):
        cloud.add_project(d.project)
    gaj = cloud.find_project("dept-gaj")
    cloud.limits[gaj.id].update(cores=64, ram_mb=131072)  # type: ignore[union-attr]
    ports.cloud = cloud
    r = cli("capacity", "show", *AT_OPT, "--dept", "gaj", "-o", "json")
    doc = json.loads(r.out)
    assert doc["allocation_source"] == "openstack"
    res = doc["departments"][0]["resources"]
    assert res["cpu"]["quota"] == 64 and res["cpu"]["allocated"] == 0 and res["ram"]["quota"] == 128


def test_prometheus_url_credentials_never_in_messages() -> None:
    from govops.capacity.prometheus import connect

    port = connect("http://ops:s3cret@127.0.0.1:9", timeout=2)
    assert port.url == "http://127.0.0.1:9"
    with pytest.raises(Exception) as err:
        port.query("up", AT)
    assert "s3cret" not in str(err.value) and "127.0.0.1:9" in str(err.value)


def test_adapter_maps_client_errors() -> None:
    import requests
    from govops.capacity.ports import MetricsError, MetricsUnreachable
    from govops.capacity.prometheus import PrometheusMetrics
    from govops.errors import ExitCode
    from prometheus_api_client.exceptions import PrometheusApiClientException

    class Client:
        def __init__(self, exc: Exception) -> None:
            self.exc = exc

        def custom_query(self, **kwargs: object) -> None:
            raise self.exc

    body = b'{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}'
    cases = [
        (
            PrometheusApiClientException(f"HTTP Status Code 503 ({body!r})"),
            MetricsError,
            ExitCode.ERROR,
            "HTTP 503: execution: query timed out",
        ),
        (PrometheusApiClientException(f"HTTP Status Code 400 ({body!r})"), BadQuery, ExitCode.USAGE, "HTTP 400"),
        (requests.exceptions.ReadTimeout("read timed out"), MetricsUnreachable, ExitCode.ERROR, "no answer within 5 s"),
    ]
    for exc, cls, code, text in cases:
        port = PrometheusMetrics(Client(exc), "http://127.0.0.1:9090", 5)
        with pytest.raises(cls) as err:
            port.query("up", AT)
        assert type(err.value) is cls and err.value.exit_code == code and text in str(err.value)
        assert "query 'up'" in str(err.value)
