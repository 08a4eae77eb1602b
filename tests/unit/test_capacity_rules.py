"""Recording rules (``govops capacity rules``) and the choice between recorded and raw series."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from govops.capacity import rules
from govops.capacity import service as svc
from govops.capacity.labels import Labelling
from govops.capacity.ports import Sample, Series
from govops.capacity.rightsize import vm_query
from govops.errors import ExitCode

LABELLINGS = [
    Labelling(),
    Labelling("project_name"),
    Labelling("project_id"),
    Labelling("project_name", info_metric="libvirt_domain_info_meta"),
]
END, WINDOW = 1_790_000_000.0, 30 * 86400.0


@pytest.mark.parametrize("lab", LABELLINGS, ids=["label", "project_name", "project_id", "joined"])
def test_rules_file_per_labelling(lab: Labelling) -> None:
    text = rules.rules_yaml(lab, "host")
    recorded = dict(rules.rules(lab, "host"))
    assert set(recorded) == {*rules.DEPARTMENT_SERIES, *rules.VM_SERIES}
    # each department rule is the raw usage query at a 1-hour step: a recorded value is the raw figure
    raw = svc.usage_queries(lab, 3600)
    assert recorded[rules.DEPT_CPU] == raw["cpu_used"] and recorded[rules.DEPT_RAM] == raw["ram_used"]
    assert recorded[rules.DEPT_DISK] == raw["storage_used"]
    assert recorded[rules.DEPT_LIMITS] == svc.limits_query(lab, None, "7200s")
    assert all(f"by ({rules._key(lab, n)})" in recorded[n] or f", {lab.vm_key})" in recorded[n] for n in recorded)
    assert ("group_left" in text) == lab.joined and "interval: 1h" in text
    if shutil.which("promtool"):
        ok, output = rules.check_rules(text)
        assert ok and "SUCCESS: 8 rules found" in output, output


def test_promtool_rejects_a_broken_file() -> None:
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed")
    ok, output = rules.check_rules(rules.rules_yaml(Labelling()).replace("sum by", "sum by by", 1))
    assert not ok and "parse error" in output


class Probe:
    """A MetricsPort answering only the probe, from a set of ``name@end`` / ``name@start`` tags."""

    url = "http://probe"

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.requests: list[str] = []

    def query(self, promql: str, at: float) -> list[Sample]:
        assert rules.PROBE_TAG in promql and at == END
        self.requests.append(promql)
        return [Sample({rules.PROBE_TAG: t}, 3.0) for t in self.present]

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        raise AssertionError("the probe is an instant query")


def _all(names: tuple[str, ...], where: str) -> set[str]:
    return {f"{n}@{where}" for n in names}


@pytest.mark.parametrize(
    ("present", "series", "note"),
    [
        (_all(rules.DEPARTMENT_SERIES, "end") | _all(rules.DEPARTMENT_SERIES, "start") | {"raw@start"}, "recorded", ""),
        # rules loaded without a backfill: raw series there at the window's start, recorded ones not
        (_all(rules.DEPARTMENT_SERIES, "end") | {"raw@start"}, "raw", "backfill"),
        # a window starting before any history: neither at the start, recorded ones used
        (_all(rules.DEPARTMENT_SERIES, "end"), "recorded", ""),
        # no rules loaded (or for another labelling): raw, nothing to say
        ({"raw@start"}, "raw", ""),
        # some rules missing
        ({f"{rules.DEPT_CPU}@end", "raw@start"}, "raw", "missing"),
    ],
)
def test_choice(present: set[str], series: str, note: str) -> None:
    port = Probe(present)
    c = rules.choose(port, Labelling(), rules.DEPARTMENT_SERIES, end=END, window=WINDOW, step=3600)
    assert c.series == series and (note in str(c.note) if note else c.note == "") and len(port.requests) == 1
    assert 'department!=""' in port.requests[0] and "offset 2592000s" in port.requests[0]


def test_choice_without_a_request() -> None:
    port = Probe(set())
    assert rules.choose(port, Labelling(), rules.VM_SERIES, end=END, window=WINDOW, step=3600, wanted="raw").series
    off = rules.choose(port, Labelling(), rules.VM_SERIES, end=END, window=WINDOW, step=7200, wanted="recorded")
    assert off.series == "raw" and "--step 1h only" in str(off.note) and port.requests == []


def test_recorded_queries_filter_and_keep_the_raw_shape() -> None:
    lab = Labelling("project_name")
    q = rules.recorded_usage_queries(lab, ["dept-a", "dept.b"])
    assert set(q) == set(svc.usage_queries(lab, 3600))
    wanted = f'project_name=~"{lab.alternatives(["dept-a", "dept.b"])}"'
    assert "dept\\\\.b" in wanted and all(wanted in v and "[3599s]" in v for v in q.values())
    assert 'tenant=~"dept\\\\-a"' in rules.recorded_limits_query(lab, ["dept-a"])  # openstack-exporter's key
    mean = rules.recorded_cpu_mean_query(lab, WINDOW)
    assert "[2591999s]" in mean and mean.endswith("/ 2592000")
    vm = vm_query(
        Labelling("project_name", info_metric="libvirt_domain_info_meta"), WINDOW, 3600, "host", recorded=True
    )
    # the window parts read recorded series (no join: they carry the key); the sizes now stay raw
    assert rules.VM_CPU in vm and rules.VM_USABLE in vm and rules.VM_VCPUS in vm and vm.count("group_left") == 2


def test_cli_rules(cli: Any) -> None:
    r = cli("capacity", "rules")
    assert r.code == ExitCode.OK and r.out.startswith("# Recording rules for govops capacity")
    assert f"record: {rules.VM_CPU}" in r.out
    if shutil.which("promtool"):
        r = cli("capacity", "rules", "--check")
        assert r.code == ExitCode.OK and "SUCCESS" in r.err
