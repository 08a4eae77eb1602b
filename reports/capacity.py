"""The capacity report for managers, in Chinese or English, as HTML, PDF, XLSX or Markdown.

The report is built as one :class:`~govops.reports.render.Document` from what ``govops capacity``
computes (``CapacityReport``) and rendered by ``reports/render.py``. Figures the capacity
planning may add to that report (headroom per availability zone, days until the cloud is full,
reclaimable VMs, the city's allocation history) are shown when they are there and left out when
they are not; period-on-period change comes from stored snapshots when there are any. ``LABELS`` holds
every label of the report and of ``govops capacity`` tables in both languages (a unit test checks
both have the same keys).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from govops.capacity.service import CapacityReport, DepartmentCapacity, ResourceCapacity
from govops.i18n import Translator
from govops.reports.capacity_planning import date_range
from govops.reports.capacity_planning import sections as planning_sections
from govops.reports.locale import Locale, parse_iso
from govops.reports.render import Cell, Chart, Document, Section, Series, Table, to_html, to_markdown
from govops.reports.render import Labels as BaseLabels

TOP = 10  # rows of the "top growers" and "over-allocated" sections
TOP_CHART = 10  # departments in the per-department charts; the rest are summed as "others"
RESOURCES = ("cpu", "ram", "storage", "instances")
# chart axes: the service's unit names as the report's tables write them (the same in both languages)
UNITS = {"cores": "vCPU"}
SNAPSHOT_SCOPE = "capacity.department"  # the capacity planning's daily snapshots (one per department)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Cloud capacity report",
        "generated": "Generated {now}. Figures at {at}; usage over {days} days ({start} to {end}), "
        "every {step}; forecast horizon {horizon} days.",
        "source.openstack": "Quotas and allocations: OpenStack (Nova, Cinder). Usage: Prometheus.",
        "source.prometheus": "Quotas, allocations and usage: Prometheus (openstack-exporter, libvirt exporter).",
        "summary": "City summary",
        "summary.text": "{depts} departments. {near} reach a quota within {horizon} days, {over} are over "
        "quota, {growing} are growing fast, {reclaim} have far more allocated than they use.",
        "hypervisors": "Hypervisors",
        "hypervisors.text": "{hosts} hypervisors: {vcpus:.0f} physical vCPUs, {alloc:.0f} allocated "
        "(overcommit {ratio:.2f}); {mem:.0f} GiB memory, {mem_alloc:.0f} GiB allocated; {vms:.0f} VMs running.",
        "near": "Departments reaching a quota",
        "near.none": "No department reaches a quota within {horizon} days.",
        "growers": "Top growers (usage, per 30 days)",
        "growers.none": "No department's usage grows.",
        "reclaim": "Over-allocated departments (reclaim candidates)",
        "reclaim.none": "No department is over-allocated.",
        "reclaim.text": "p95 usage below {pct:.0f}% of what is allocated.",
        "departments": "Departments",
        "warnings": "Notes",
        "exec": "Executive summary",
        "fig.cpu": "vCPU: capacity / allocated / used",
        "fig.ram": "RAM GiB: capacity / allocated / used",
        "fig.near": "Departments near quota",
        "fig.over": "Departments over quota",
        "fig.full": "{res}: days until the cloud is full",
        "fig.reclaim_cpu": "Reclaimable vCPU",
        "fig.reclaim_ram": "Reclaimable RAM GiB",
        "fig.reclaim_vms": "VMs to resize or remove",
        "full.value": "{days} ({date})",
        "full.range": "{res}: the cloud is full on {date} ({days} days; range {early} to {late}).",
        "full.flat": "{res}: the allocation does not grow, the cloud does not fill up.",
        "full.full": "{res}: the cloud is full now.",
        "exec.capacity": "Capacity is the hypervisors' (Placement's capacity when known, with its allocation ratios); "
        "allocated is what the departments' VMs were given; used is the mean actually used.",
        "exec.deadline": "{dept}: {res} reaches its quota on {date} (in {days} days).",
        "exec.over": "{dept}: {res} is over quota ({alloc} allocated, quota {quota}).",
        "exec.at_quota": "{dept}: {res} is at its quota ({alloc} allocated).",
        "exec.none": "No department is over quota or reaches one within {horizon} days.",
        "period": "Figures at {at}; usage over {days} days ({start} to {end})",
        "source.text": "capacity at {at}, window {days} days, allocations from {source}",
        "az": "Cloud headroom per availability zone",
        "col.az": "Availability zone",
        "col.hosts": "Hosts",
        "col.capacity": "Capacity",
        "col.free": "Free",
        "col.vcpu_cap": "vCPU capacity",
        "col.vcpu_alloc": "vCPU allocated",
        "col.vcpu_free": "vCPU free",
        "col.ram_cap": "RAM GiB capacity",
        "col.ram_alloc": "RAM GiB allocated",
        "col.ram_free": "RAM GiB free",
        "col.vms": "VMs running",
        "chart.az": "vCPU per availability zone",
        "chart.res": "{res}: quota, allocated and used per department",
        "chart.history": "{res}: city allocation and forecast",
        "series.quota": "Quota",
        "series.allocated": "Allocated",
        "series.used": "Used",
        "series.capacity": "Capacity",
        "series.forecast": "Forecast",
        "others": "others ({count})",
        "rightsize": "Rightsizing: the VMs, one by one",
        "rightsize.text": "{vms} VM(s): {cores} vCPU and {ram} GiB RAM can be freed.",
        "col.vm": "VM",
        "col.kind": "Finding",
        "col.suggested": "Suggested flavor",
        "col.frees_cores": "Frees vCPU",
        "col.frees_ram": "Frees RAM GiB",
        "kind.idle": "idle",
        "kind.oversized": "oversized",
        "kind.stopped": "stopped for long",
        "pop": "Change since the previous period",
        "pop.text": "Compared with the stored snapshot of {date}.",
        "col.before": "Allocated then",
        "col.now": "Allocated now",
        "col.change": "Change",
        "col.used_before": "Used then",
        "col.used_now": "Used now",
        "sheet.summary": "Summary",
        "sheet.az": "Headroom per AZ",
        "sheet.near": "Near quota",
        "sheet.growers": "Growers",
        "sheet.reclaim": "Over-allocated",
        "sheet.rightsize": "Reclaimable VMs",
        "sheet.departments": "Departments",
        "sheet.pop": "Period on period",
        "sheet.warnings": "Notes",
        "yes": "yes",
        "col.flavor": "Flavor",
        "sep": ", ",
        "col.department": "Department",
        "col.code": "Code",
        "col.resource": "Resource",
        "col.quota": "Quota",
        "col.allocated": "Allocated",
        "col.quota_pct": "Alloc. % of quota",
        "col.used": "Used (mean)",
        "col.p95": "Used (p95)",
        "col.latest": "Used (latest)",
        "col.provisioned": "Provisioned",
        "col.util": "Utilisation %",
        "col.growth": "Growth /30 d",
        "col.alloc_growth": "Alloc. growth /day",
        "col.days": "Days to quota",
        "col.date": "Quota reached",
        "col.range": "Range",
        "col.forecast": "Forecast",
        "col.flags": "Flags",
        "col.cpu": "vCPU (used/alloc/quota)",
        "col.ram": "RAM GiB (used/alloc/quota)",
        "col.storage": "Volumes GiB (alloc/quota)",
        "col.disk": "Disk GiB (written/size)",
        "col.instances": "VMs (alloc/quota)",
        "col.reclaimable": "Reclaimable",
        "res.cpu": "vCPU",
        "res.ram": "RAM (GiB)",
        "res.storage": "Volumes (GiB)",
        "res.instances": "Instances",
        "forecast.ok": "growing",
        "forecast.at_quota": "at quota",
        "forecast.flat": "flat",
        "forecast.short_history": "short history",
        "forecast.no_quota": "no quota",
        "forecast.no_data": "no data",
        "flag.over_quota": "over quota",
        "flag.near_quota": "near quota",
        "flag.growing": "growing",
        "flag.reclaim": "over-allocated",
        "capacity.title": "Capacity",
        "forecast.title": "Quota forecast (horizon {horizon} days)",
        "findings": "{count} department(s) over quota or reaching it within {horizon} days",
        "unlimited": "unlimited",
    },
    "zh": {
        "title": "云资源容量报告",
        "generated": "生成于 {now}。统计时点 {at};用量统计 {days} 天({start} 至 {end}),"
        "采样间隔 {step};预测期 {horizon} 天。",
        "source.openstack": "配额与已分配:OpenStack(Nova、Cinder);实际用量:Prometheus。",
        "source.prometheus": "配额、已分配与实际用量:Prometheus(openstack-exporter、libvirt exporter)。",
        "summary": "全市概况",
        "summary.text": "共 {depts} 个部门:{near} 个将在 {horizon} 天内达到配额,{over} 个已超配额,"
        "{growing} 个用量快速增长,{reclaim} 个分配远高于实际使用。",
        "hypervisors": "宿主机",
        "hypervisors.text": "{hosts} 台宿主机:物理 vCPU {vcpus:.0f} 个,已分配 {alloc:.0f} 个"
        "(超分比 {ratio:.2f});内存 {mem:.0f} GiB,已分配 {mem_alloc:.0f} GiB;运行中云主机 {vms:.0f} 台。",
        "near": "即将达到配额的部门",
        "near.none": "没有部门会在 {horizon} 天内达到配额。",
        "growers": "增长最快的部门(用量,每 30 天)",
        "growers.none": "没有部门的用量在增长。",
        "reclaim": "分配过剩的部门(可回收资源)",
        "reclaim.none": "没有分配过剩的部门。",
        "reclaim.text": "p95 用量低于已分配量的 {pct:.0f}%。",
        "departments": "各部门明细",
        "warnings": "说明",
        "exec": "摘要",
        "fig.cpu": "vCPU:容量 / 已分配 / 实际使用",
        "fig.ram": "内存 GiB:容量 / 已分配 / 实际使用",
        "fig.near": "临近配额的部门",
        "fig.over": "超配额的部门",
        "fig.full": "{res}:距云平台资源用尽天数",
        "fig.reclaim_cpu": "可回收 vCPU",
        "fig.reclaim_ram": "可回收内存 GiB",
        "fig.reclaim_vms": "建议调整或删除的云主机",
        "full.value": "{days}({date})",
        "full.range": "{res}:云平台资源预计于 {date} 用尽({days} 天;区间 {early} 至 {late})。",
        "full.flat": "{res}:分配量没有增长,云平台资源不会用尽。",
        "full.full": "{res}:云平台资源已用尽。",
        "exec.capacity": "容量为宿主机容量(已知时取 Placement 的容量及其超分比);已分配为各部门云主机的分配量;"
        "实际使用为统计期内的平均用量。",
        "exec.deadline": "{dept}:{res} 将于 {date} 达到配额({days} 天后)。",
        "exec.over": "{dept}:{res} 已超配额(已分配 {alloc},配额 {quota})。",
        "exec.at_quota": "{dept}:{res} 已达到配额(已分配 {alloc})。",
        "exec.none": "没有部门超配额,也没有部门会在 {horizon} 天内达到配额。",
        "period": "统计时点 {at};用量统计 {days} 天({start} 至 {end})",
        "source.text": "容量统计时点 {at},统计 {days} 天,分配数据来自 {source}",
        "az": "各可用区剩余容量",
        "col.az": "可用区",
        "col.hosts": "宿主机",
        "col.capacity": "容量",
        "col.free": "剩余",
        "col.vcpu_cap": "vCPU 容量",
        "col.vcpu_alloc": "vCPU 已分配",
        "col.vcpu_free": "vCPU 剩余",
        "col.ram_cap": "内存 GiB 容量",
        "col.ram_alloc": "内存 GiB 已分配",
        "col.ram_free": "内存 GiB 剩余",
        "col.vms": "运行中云主机",
        "chart.az": "各可用区 vCPU",
        "chart.res": "{res}:各部门配额、已分配与实际使用",
        "chart.history": "{res}:全市分配量及预测",
        "series.quota": "配额",
        "series.allocated": "已分配",
        "series.used": "实际使用",
        "series.capacity": "容量",
        "series.forecast": "预测",
        "others": "其他({count} 个)",
        "rightsize": "规格优化:逐台明细",
        "rightsize.text": "共 {vms} 台云主机,可释放 {cores} 个 vCPU 和 {ram} GiB 内存。",
        "col.vm": "云主机",
        "col.kind": "问题",
        "col.suggested": "建议规格",
        "col.frees_cores": "可释放 vCPU",
        "col.frees_ram": "可释放内存 GiB",
        "kind.idle": "闲置",
        "kind.oversized": "规格过大",
        "kind.stopped": "长期关机",
        "pop": "与上期相比",
        "pop.text": "与 {date} 保存的快照相比。",
        "col.before": "上期已分配",
        "col.now": "本期已分配",
        "col.change": "变化",
        "col.used_before": "上期实际使用",
        "col.used_now": "本期实际使用",
        "sheet.summary": "摘要",
        "sheet.az": "可用区容量",
        "sheet.near": "临近配额",
        "sheet.growers": "增长最快",
        "sheet.reclaim": "分配过剩",
        "sheet.rightsize": "可回收云主机",
        "sheet.departments": "各部门",
        "sheet.pop": "环比",
        "sheet.warnings": "说明",
        "yes": "是",
        "col.flavor": "规格",
        "sep": "、",
        "col.department": "部门",
        "col.code": "代码",
        "col.resource": "资源",
        "col.quota": "配额",
        "col.allocated": "已分配",
        "col.quota_pct": "配额使用率 %",
        "col.used": "实际用量(均值)",
        "col.p95": "实际用量(p95)",
        "col.latest": "实际用量(最新)",
        "col.provisioned": "已开通",
        "col.util": "利用率 %",
        "col.growth": "增长 /30 天",
        "col.alloc_growth": "分配增长 /天",
        "col.days": "距配额天数",
        "col.date": "预计达到日期",
        "col.range": "区间",
        "col.forecast": "预测",
        "col.flags": "标记",
        "col.cpu": "vCPU(用量/已分配/配额)",
        "col.ram": "内存 GiB(用量/已分配/配额)",
        "col.storage": "云硬盘 GiB(已分配/配额)",
        "col.disk": "磁盘 GiB(已写入/容量)",
        "col.instances": "云主机(已分配/配额)",
        "col.reclaimable": "可回收",
        "res.cpu": "vCPU",
        "res.ram": "内存 (GiB)",
        "res.storage": "云硬盘 (GiB)",
        "res.instances": "云主机数",
        "forecast.ok": "增长中",
        "forecast.at_quota": "已达配额",
        "forecast.flat": "平稳",
        "forecast.short_history": "历史数据不足",
        "forecast.no_quota": "无配额",
        "forecast.no_data": "无数据",
        "flag.over_quota": "超配额",
        "flag.near_quota": "临近配额",
        "flag.growing": "快速增长",
        "flag.reclaim": "分配过剩",
        "capacity.title": "容量",
        "forecast.title": "配额预测(预测期 {horizon} 天)",
        "findings": "{count} 个部门已超配额或将在 {horizon} 天内达到配额",
        "unlimited": "不限",
    },
}


class Labels(BaseLabels):
    def __init__(self, lang: str) -> None:
        super().__init__(LABELS, lang)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    value = round(value, digits) + 0.0  # no "-0.0" for a tiny decline
    if abs(value) >= 100 or digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def used_alloc_quota(r: ResourceCapacity, lab: Labels) -> str:
    quota = lab("unlimited") if r.quota is None and r.allocated is not None else fmt(r.quota)
    parts = [fmt(r.allocated), quota]
    if r.used is not None and r.resource != "storage":
        parts.insert(0, fmt(r.used.mean))
    return " / ".join(parts)


def flag_text(d: DepartmentCapacity, lab: Labels) -> str:
    out = [f"{lab('flag.over_quota')}: {', '.join(lab('res.' + r) for r in d.over_quota)}"] if d.over_quota else []
    near = [r for r in d.near_quota if r not in d.over_quota]
    if near:
        out.append(f"{lab('flag.near_quota')}: {', '.join(lab('res.' + r) for r in near)}")
    if d.growing:
        out.append(lab("flag.growing"))
    if d.reclaim:
        out.append(f"{lab('flag.reclaim')}: {', '.join(lab('res.' + r) for r in d.reclaim)}")
    return "; ".join(out)


def growth_of(d: DepartmentCapacity) -> float:
    """The faster of CPU and RAM usage growth (% per 30 days), for ranking."""
    values = [
        r.used.growth_pct_30d
        for k, r in d.resources.items()
        if k in ("cpu", "ram") and r.used is not None and r.used.growth_pct_30d is not None
    ]
    return max(values, default=float("-inf"))


def reclaimable(r: ResourceCapacity, target_pct: float = 70.0) -> float | None:
    """What could be taken back and still leave the p95 at ``target_pct`` of the allocation."""
    if r.used is None or r.used.p95 is None or r.allocated is None:
        return None
    return max(0.0, r.allocated - r.used.p95 * 100.0 / target_pct)


def hypervisor_summary(report: CapacityReport, lab: Labels) -> str:
    hv = report.hypervisors
    vcpus = sum(h.vcpus for h in hv)
    alloc = sum(h.vcpus_used for h in hv)
    return lab(
        "hypervisors.text",
        hosts=len(hv),
        vcpus=vcpus,
        alloc=alloc,
        ratio=alloc / vcpus if vcpus else 0.0,
        mem=sum(h.memory_gib for h in hv),
        mem_alloc=sum(h.memory_used_gib for h in hv),
        vms=sum(h.running_vms for h in hv),
    )


# -- extras: what the report reads besides the CapacityReport ------------------------------------------


@dataclass
class CapacityExtras:
    """The previous period's figures per department (from stored snapshots), if any."""

    previous_at: float | None = None
    previous: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> snapshot data

    @classmethod
    def from_store(cls, store: Any, report: CapacityReport) -> CapacityExtras:
        """The newest snapshot per department taken at least one window before the report time."""
        try:
            snaps = store.snapshots(SNAPSHOT_SCOPE)
        except Exception:  # noqa: BLE001 - a store without snapshots (or an older one) only loses this section
            return cls()
        limit = report.end - (report.end - report.start)
        best: dict[str, tuple[float, dict[str, Any]]] = {}
        for snap in snaps:
            t = parse_iso(snap.get("taken_at"))
            if t is None or t > limit + 86400:
                continue
            if snap["subject"] not in best or t > best[snap["subject"]][0]:
                best[snap["subject"]] = (t, snap.get("data") or {})
        if not best:
            return cls()
        return cls(max(t for t, _ in best.values()), {k: v for k, (_, v) in best.items()})


# -- the document --------------------------------------------------------------------------------------


def _step(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds % 3600 == 0 else f"{seconds:g} s"


def _num(value: float | None, digits: int = 1) -> float | int | None:
    """A figure rounded for the report: whole numbers as ``int`` (shown and stored without decimals)."""
    if value is None:
        return None
    if digits == 0:
        return round(float(value))
    return round(float(value), digits) + 0.0  # + 0.0: no "-0.0" for a tiny decline


class _Ctx:
    def __init__(self, lang: str, loc: Locale) -> None:
        self.lab = Labels(lang)
        self.lang = self.lab.lang
        self.loc = Locale(self.lang, loc.tz)

    def dept(self, d: DepartmentCapacity) -> str:
        return d.name(self.lang)

    def res(self, key: str) -> str:
        return self.lab(f"res.{key}")

    def flags(self, d: DepartmentCapacity, resource: str) -> str:
        lab = self.lab
        out = []
        if resource in d.over_quota:
            out.append(lab("flag.over_quota"))
        elif resource in d.near_quota:
            out.append(lab("flag.near_quota"))
        if d.growing and resource in ("cpu", "ram"):
            out.append(lab("flag.growing"))
        if resource in d.reclaim:
            out.append(lab("flag.reclaim"))
        return lab("sep").join(out)


def _zones(report: CapacityReport) -> list[dict[str, Any]]:
    """Per availability zone: hosts, vCPU and RAM capacity/allocated, running VMs. From Placement's
    headroom when the capacity planning gives it, else from the hypervisors' own totals."""
    headroom = report.headroom
    zones = headroom.zones if headroom is not None else ()
    out: list[dict[str, Any]] = []
    if zones:
        for z in zones:
            cpu, ram = z.resources.get("VCPU"), z.resources.get("MEMORY_MB")
            out.append(
                {
                    "az": z.name or "–",
                    "hosts": z.hosts,
                    "cpu_cap": cpu.capacity if cpu else None,
                    "cpu_alloc": cpu.allocated if cpu else None,
                    "ram_cap": ram.capacity / 1024 if ram else None,
                    "ram_alloc": ram.allocated / 1024 if ram else None,
                    "cpu_used": z.used.cpu_cores,
                    "vms": z.used.vms,
                }
            )
        return out
    by_az: dict[str, list[Any]] = defaultdict(list)
    for h in report.hypervisors:
        by_az[h.az or "–"].append(h)
    for az, hosts in sorted(by_az.items()):
        out.append(
            {
                "az": az,
                "hosts": len(hosts),
                "cpu_cap": sum(h.vcpus for h in hosts),
                "cpu_alloc": sum(h.vcpus_used for h in hosts),
                "ram_cap": sum(h.memory_gib for h in hosts),
                "ram_alloc": sum(h.memory_used_gib for h in hosts),
                "cpu_used": None,
                "vms": sum(h.running_vms for h in hosts),
            }
        )
    return out


def _per_department_chart(c: _Ctx, depts: Sequence[DepartmentCapacity], key: str) -> Chart | None:
    """Quota, allocated and used of one resource for the biggest departments, the rest as "others"."""
    rows = []
    for d in depts:
        r = d.resources.get(key)
        if r is None:
            continue
        used = r.used.mean if r.used is not None and key != "storage" else None
        rows.append((c.dept(d), r.quota or 0.0, r.allocated or 0.0, used or 0.0))
    if not rows:
        return None
    rows.sort(key=lambda x: (-x[2], -x[1], x[0]))
    top, rest = rows[:TOP_CHART], rows[TOP_CHART:]
    quotas: list[float | None] = [x[1] or None for x in top]
    if rest:
        # the others' quotas are not summed: dozens of unused quotas would dwarf every bar
        top.append((c.lab("others", count=len(rest)), 0.0, sum(x[2] for x in rest), sum(x[3] for x in rest)))
        quotas.append(None)
    series = [
        Series(c.lab("series.quota"), quotas),
        Series(c.lab("series.allocated"), [x[2] for x in top]),
    ]
    if key != "storage":
        series.append(Series(c.lab("series.used"), [x[3] for x in top]))
    return Chart("quota", c.lab("chart.res", res=c.res(key)), [x[0] for x in top], series=series)


def _history_chart(c: _Ctx, report: CapacityReport, key: str) -> Chart | None:
    """The city's daily allocation of a resource, its forecast to the horizon and the range of the
    forecast, with the cloud's capacity: when the capacity planning provides the history."""
    history = report.allocation_history.get(key)
    if not history or len(history) < 2:
        return None
    xs = [float(t) for t, _ in history]
    values: list[float | None] = [float(v) for _, v in history]
    full = report.cloud_full.get(key)
    series = [Series(c.lab("series.allocated"), values)]
    growth = full.growth_per_day if full is not None else None
    if growth is None:
        growth = report.city[key].allocation_growth_per_day if key in report.city else None
    if growth is not None:
        last_t, last_v = xs[-1], values[-1] or 0.0
        ahead = [last_t + 86400 * d for d in range(0, int(report.horizon_days) + 1, 7)]
        fc = [last_v + growth * (t - last_t) / 86400 for t in ahead]
        lo_days = full.days_to_full_aggressive if full is not None else None
        hi_days = full.days_to_full_conservative if full is not None else None
        band = None
        cap = full.capacity if full is not None else None
        if cap is not None and lo_days and hi_days:
            # the growth rates at the range's ends: they reach the capacity after hi_days and lo_days
            g_fast, g_slow = (cap - last_v) / hi_days, (cap - last_v) / lo_days
            band = (
                [last_v + g_slow * (t - last_t) / 86400 for t in ahead],
                [last_v + g_fast * (t - last_t) / 86400 for t in ahead],
            )
        xs_all = xs + ahead
        pad: list[float | None] = [None] * len(ahead)
        series = [Series(c.lab("series.allocated"), values + pad)]
        fseries = Series(c.lab("series.forecast"), [None] * len(xs) + fc, kind="dashed")
        if band is not None:
            fseries.band = ([None] * len(xs) + band[0], [None] * len(xs) + band[1])
        series.append(fseries)
        if cap is not None:
            series.append(Series(c.lab("series.capacity"), [float(cap)] * len(xs_all)))
        xs = xs_all
    return Chart(
        "lines",
        c.lab("chart.history", res=c.res(key)),
        x=xs,
        series=series,
        unit=UNITS.get(report.city[key].unit, report.city[key].unit),
    )


def build(
    report: CapacityReport,
    lang: str,
    now: float | None = None,
    loc: Locale | None = None,
    extras: CapacityExtras | None = None,
) -> Document:
    """The report as a :class:`Document` (every format is rendered from it)."""
    c = _Ctx(lang, loc or Locale(lang))
    lab, loc = c.lab, c.loc
    o = report.options
    extras = extras or CapacityExtras()
    now = now if now is not None else datetime.now(UTC).timestamp()
    days = f"{(report.end - report.start) / 86400:.0f}"
    intro = [
        lab(
            "generated",
            now=loc.when(now),
            at=loc.when(report.end),
            days=days,
            start=loc.when(report.start),
            end=loc.when(report.end),
            step=_step(report.step),
            horizon=f"{report.horizon_days:g}",
        ),
        lab(f"source.{report.allocation_source}"),
    ]
    depts = report.departments
    horizon = f"{report.horizon_days:g}"
    sections: list[Section] = []

    # -- executive summary
    zones = _zones(report)
    headroom = report.headroom
    total = headroom.total if headroom is not None else None
    cpu_cap: float | None = None
    ram_cap: float | None = None
    cpu_alloc: float | None = None
    ram_alloc: float | None = None
    if total is not None and total.resources.get("VCPU") is not None:
        cpu_cap, cpu_alloc = total.resources["VCPU"].capacity, total.resources["VCPU"].allocated
        mem = total.resources.get("MEMORY_MB")
        if mem is not None:
            ram_cap, ram_alloc = mem.capacity / 1024, mem.allocated / 1024
    elif zones:
        cpu_cap, cpu_alloc = sum(z["cpu_cap"] for z in zones), sum(z["cpu_alloc"] for z in zones)
        ram_cap, ram_alloc = sum(z["ram_cap"] for z in zones), sum(z["ram_alloc"] for z in zones)
    city_cpu, city_ram = report.city.get("cpu"), report.city.get("ram")
    if cpu_alloc is None and city_cpu is not None:
        cpu_alloc = city_cpu.allocated
    if ram_alloc is None and city_ram is not None:
        ram_alloc = city_ram.allocated
    cpu_used = city_cpu.used.mean if city_cpu is not None and city_cpu.used is not None else None
    ram_used = city_ram.used.mean if city_ram is not None and city_ram.used is not None else None
    summary = Section(lab("exec"), sheet=lab("sheet.summary"))
    summary.figures = [
        (lab("fig.cpu"), " / ".join(loc.num(v) for v in (cpu_cap, cpu_alloc, cpu_used))),
        (lab("fig.ram"), " / ".join(loc.num(v) for v in (ram_cap, ram_alloc, ram_used))),
        (lab("fig.over"), loc.num(sum(1 for d in depts if d.over_quota))),
        (lab("fig.near"), loc.num(sum(1 for d in depts if d.near_quota and not d.over_quota))),
    ]
    cloud_full = report.cloud_full
    for key in ("cpu", "ram"):
        full = cloud_full.get(key)
        if full is None:
            continue
        if full.forecast == "ok" and full.days_to_full is not None:
            summary.figures.append(
                (
                    lab("fig.full", res=c.res(key)),
                    lab("full.value", days=loc.num(full.days_to_full), date=loc.iso_date(full.full_date)),
                )
            )
            summary.bullets.append(
                lab(
                    "full.range",
                    res=c.res(key),
                    date=loc.iso_date(full.full_date),
                    days=loc.num(full.days_to_full),
                    early=loc.iso_date(full.full_date_conservative),
                    late=loc.iso_date(full.full_date_aggressive),
                )
            )
        elif full.forecast == "full":
            summary.bullets.append(lab("full.full", res=c.res(key)))
        elif full.forecast == "flat":
            summary.bullets.append(lab("full.flat", res=c.res(key)))
    rightsize = report.rightsize
    if rightsize is not None:
        items = rightsize.items
        summary.figures += [
            (lab("fig.reclaim_cpu"), loc.num(sum(i.frees_cores for i in items))),
            (lab("fig.reclaim_ram"), loc.num(sum(i.frees_ram_mb for i in items) / 1024)),
            (lab("fig.reclaim_vms"), loc.num(len(items))),
        ]
    else:
        over_alloc = [d for d in depts if d.reclaim]
        summary.figures += [
            (
                lab("fig.reclaim_cpu"),
                loc.num(sum(reclaimable(d.resources["cpu"]) or 0.0 for d in over_alloc if "cpu" in d.reclaim)),
            ),
            (
                lab("fig.reclaim_ram"),
                loc.num(sum(reclaimable(d.resources["ram"]) or 0.0 for d in over_alloc if "ram" in d.reclaim)),
            ),
        ]
    summary.paragraphs.append(lab("exec.capacity"))
    for d in sorted(depts, key=lambda d: d.code):
        for k in d.over_quota:
            r = d.resources[k]
            summary.bullets.append(
                lab("exec.over", dept=c.dept(d), res=c.res(k), alloc=loc.num(r.allocated), quota=loc.num(r.quota))
            )
    near = sorted(
        ((d, k, d.resources[k]) for d in depts for k in d.near_quota if k not in d.over_quota),
        key=lambda x: (x[2].days_to_quota or 0.0, x[0].code),
    )
    for d, k, r in near:
        if r.days_to_quota is not None and r.days_to_quota <= 0:
            summary.bullets.append(lab("exec.at_quota", dept=c.dept(d), res=c.res(k), alloc=loc.num(r.allocated)))
            continue
        summary.bullets.append(
            lab(
                "exec.deadline",
                dept=c.dept(d),
                res=c.res(k),
                date=loc.iso_date(r.quota_date),
                days=loc.num(r.days_to_quota),
            )
        )
    if not near and not any(d.over_quota for d in depts):
        summary.bullets.append(lab("exec.none", horizon=horizon))
    if zones:
        summary.charts.append(
            Chart(
                "bars",
                lab("chart.az"),
                [z["az"] for z in zones],
                series=[
                    Series(lab("series.capacity"), [z["cpu_cap"] for z in zones]),
                    Series(lab("series.allocated"), [z["cpu_alloc"] for z in zones]),
                    *(
                        [Series(lab("series.used"), [z["cpu_used"] for z in zones])]
                        if any(z["cpu_used"] is not None for z in zones)
                        else []
                    ),
                ],
            )
        )
    for key in ("cpu", "ram"):
        chart = _history_chart(c, report, key)
        if chart is not None:
            summary.charts.append(chart)
    sections.append(summary)

    # -- city totals
    rows: list[list[Any]] = []
    for key, r in report.city.items():
        rows.append(
            [
                c.res(key),
                lab("unlimited") if r.quota is None and r.allocated is not None else _num(r.quota, 0),
                _num(r.allocated, 0),
                _num(r.quota_pct),
                _num(r.used.mean) if r.used else None,
                _num(r.used.p95) if r.used else None,
                _num(r.utilisation_pct),
            ]
        )
    cols = ["col.resource", "col.quota", "col.allocated", "col.quota_pct", "col.used", "col.p95", "col.util"]
    city = Section(
        lab("summary"),
        [
            lab(
                "summary.text",
                depts=len(depts),
                near=sum(1 for d in depts if d.near_quota),
                over=sum(1 for d in depts if d.over_quota),
                growing=sum(1 for d in depts if d.growing),
                reclaim=sum(1 for d in depts if d.reclaim),
                horizon=horizon,
            )
        ],
        table=Table([lab(k) for k in cols], rows, set(range(1, 7))),
        sheet=lab("summary"),
    )
    for key in ("cpu", "ram", "storage"):
        chart = _per_department_chart(c, depts, key)
        if chart is not None:
            city.charts.append(chart)
    sections.append(city)

    # -- headroom per availability zone
    if zones:
        rows = [
            [
                z["az"],
                z["hosts"],
                _num(z["cpu_cap"], 0),
                _num(z["cpu_alloc"], 0),
                _num((z["cpu_cap"] or 0) - (z["cpu_alloc"] or 0), 0),
                _num(z["ram_cap"], 0),
                _num(z["ram_alloc"], 0),
                _num((z["ram_cap"] or 0) - (z["ram_alloc"] or 0), 0),
                _num(z["vms"], 0),
            ]
            for z in zones
        ]
        cols = ["col.az", "col.hosts", "col.vcpu_cap", "col.vcpu_alloc", "col.vcpu_free"]
        cols += ["col.ram_cap", "col.ram_alloc", "col.ram_free", "col.vms"]
        az = Section(
            lab("az"), table=Table([lab(k) for k in cols], rows, set(range(1, 9)), code={0}), sheet=lab("sheet.az")
        )
        if report.hypervisors:
            az.paragraphs.append(hypervisor_summary(report, lab))
        sections.append(az)

    # -- near quota, soonest first
    sec = Section(lab("near"), sheet=lab("sheet.near"))
    near_all = sorted(
        ((d, k, d.resources[k]) for d in depts for k in d.near_quota),
        key=lambda x: (x[2].days_to_quota or 0.0, x[0].code),
    )
    if near_all:
        sec.table = Table(
            [lab(k) for k in ("col.department", "col.resource", "col.allocated", "col.quota", "col.quota_pct")]
            + [lab(k) for k in ("col.alloc_growth", "col.days", "col.date")]
            + [f"{lab('col.range')} ({o.confidence:.0%})"],
            [
                [
                    c.dept(d),
                    c.res(k),
                    _num(r.allocated, 0),
                    _num(r.quota, 0),
                    _num(r.quota_pct),
                    _num(r.allocation_growth_per_day, 2),
                    _num(r.days_to_quota),
                    loc.iso_date(r.quota_date),
                    date_range(r.quota_date_conservative, r.quota_date_aggressive),
                ]
                for d, k, r in near_all
            ],
            set(range(2, 7)),
            digits={5: 2},
        )
    else:
        sec.paragraphs.append(lab("near.none", horizon=horizon))
    sections.append(sec)

    # -- top growers
    growers = sorted((d for d in depts if growth_of(d) > 0), key=lambda d: (-growth_of(d), d.code))[:TOP]
    sec = Section(lab("growers"), sheet=lab("sheet.growers"))
    if growers:
        rows = []
        for d in growers:
            cpu, ram = d.resources["cpu"], d.resources["ram"]
            rows.append(
                [
                    c.dept(d),
                    _num(cpu.used.growth_pct_30d) if cpu.used else None,
                    _num(ram.used.growth_pct_30d) if ram.used else None,
                    _num(cpu.used.mean) if cpu.used else None,
                    _num(cpu.allocated, 0),
                    _num(ram.used.mean) if ram.used else None,
                    _num(ram.allocated, 0),
                ]
            )
        heads = [
            lab("col.department"),
            f"{c.res('cpu')} {lab('col.growth')} %",
            f"{c.res('ram')} {lab('col.growth')} %",
            f"{c.res('cpu')} {lab('col.used')}",
            f"{c.res('cpu')} {lab('col.allocated')}",
            f"{c.res('ram')} {lab('col.used')}",
            f"{c.res('ram')} {lab('col.allocated')}",
        ]
        sec.table = Table(heads, rows, set(range(1, 7)))
    else:
        sec.paragraphs.append(lab("growers.none"))
    sections.append(sec)

    # -- over-allocated departments
    over = sorted((d for d in depts if d.reclaim), key=lambda d: (-(reclaimable(d.resources["cpu"]) or 0.0), d.code))
    sec = Section(lab("reclaim"), [lab("reclaim.text", pct=o.reclaim_below_pct)], sheet=lab("sheet.reclaim"))
    if over:
        rows = []
        for d in over:
            for k in d.reclaim:
                r = d.resources[k]
                rows.append(
                    [
                        c.dept(d),
                        c.res(k),
                        _num(r.allocated, 0),
                        _num(r.used.mean if r.used else None),
                        _num(r.used.p95 if r.used else None),
                        _num(r.p95_utilisation_pct),
                        _num(reclaimable(r), 0),
                    ]
                )
        cols = ["col.department", "col.resource", "col.allocated", "col.used", "col.p95", "col.util", "col.reclaimable"]
        sec.table = Table([lab(k) for k in cols], rows, set(range(2, 7)))
    else:
        sec.paragraphs.append(lab("reclaim.none"))
    sections.append(sec)

    # -- the rightsizing's VMs one by one, under its per-department totals (a planning section)
    details = None
    if rightsize is not None and rightsize.items:
        names = {d.code: c.dept(d) for d in depts}
        items = rightsize.items
        # the departments in the order of the totals above them
        ranked = sorted(rightsize.totals.items(), key=lambda kv: (-kv[1].frees_cores, -kv[1].frees_ram_mb, kv[0]))
        rank = {code: n for n, (code, _) in enumerate(ranked)}
        sec = Section(
            lab("rightsize"),
            [
                lab(
                    "rightsize.text",
                    vms=len(items),
                    cores=loc.num(sum(i.frees_cores for i in items)),
                    ram=loc.num(sum(i.frees_ram_mb for i in items) / 1024),
                )
            ],
            sheet=lab("sheet.rightsize"),
        )
        rows = [
            [
                names.get(i.department or "", i.department or i.project),
                i.name,
                lab(f"kind.{i.kind}") if f"kind.{i.kind}" in LABELS["en"] else str(i.kind),
                i.flavor or "–",
                i.suggested_flavor or "–",
                i.frees_cores,
                round(i.frees_ram_mb / 1024, 1),
            ]
            for i in sorted(items, key=lambda i: (rank.get(i.department or "", len(rank)), -i.frees_cores, i.name))
        ]
        cols = [
            "col.department",
            "col.vm",
            "col.kind",
            "col.flavor",
            "col.suggested",
            "col.frees_cores",
            "col.frees_ram",
        ]
        sec.table = Table([lab(k) for k in cols], rows, {5, 6}, code={1, 3, 4}, print_limit=200)
        details = sec
    # headroom, free slots, cloud full, rightsizing per department with its VMs, method
    sections += planning_sections(report, lab.lang, details)

    # -- every department: one row per resource, with its flags
    rows = []
    for d in depts:
        for k in RESOURCES:
            res = d.resources.get(k)
            if res is None:
                continue
            used = res.used.mean if res.used is not None else None
            rows.append(
                [
                    c.dept(d),
                    d.code,
                    c.res(k),
                    lab("unlimited") if res.quota is None and res.allocated is not None else _num(res.quota, 0),
                    _num(res.allocated, 0),
                    _num(res.quota_pct),
                    _num(used),
                    _num(res.used.p95 if res.used is not None else None),
                    _num(res.utilisation_pct),
                    _num(res.days_to_quota),
                    loc.iso_date(res.quota_date) if res.quota_date else "–",
                    c.flags(d, k),
                ]
            )
    cols = ["col.department", "col.code", "col.resource", "col.quota", "col.allocated", "col.quota_pct", "col.used"]
    cols += ["col.p95", "col.util", "col.days", "col.date", "col.flags"]
    # on paper: one row per department (used / allocated / quota per resource), as the report had
    compact: list[list[Cell]] = []
    for d in depts:
        disk = d.resources["storage"].used
        compact.append(
            [
                c.dept(d),
                used_alloc_quota(d.resources["cpu"], lab),
                used_alloc_quota(d.resources["ram"], lab),
                used_alloc_quota(d.resources["storage"], lab),
                f"{fmt(disk.mean if disk else None)} / {fmt(disk.provisioned if disk else None)}",
                used_alloc_quota(d.resources["instances"], lab),
                flag_text(d, lab),
            ]
        )
    heads = ["col.department", "col.cpu", "col.ram", "col.storage", "col.disk", "col.instances", "col.flags"]
    sections.append(
        Section(
            lab("departments"),
            table=Table([lab(k) for k in cols], rows, set(range(3, 10)), code={1}),
            paper_table=Table([lab(k) for k in heads], compact, {1, 2, 3, 4, 5}),
            sheet=lab("sheet.departments"),
        )
    )

    # -- period on period
    if extras.previous:
        rows = []
        for d in depts:
            prev = extras.previous.get(d.code)
            if not prev:
                continue
            for k in ("cpu", "ram", "storage"):
                res = d.resources.get(k)
                before = (prev.get("allocated") or {}).get(k)
                if res is None or before is None or res.allocated is None:
                    continue
                used_before = (prev.get("used_mean") or {}).get(k)
                used_now = res.used.mean if res.used is not None else None
                rows.append(
                    [
                        c.dept(d),
                        c.res(k),
                        _num(before, 0),
                        _num(res.allocated, 0),
                        _num(res.allocated - before, 0),
                        _num(used_before),
                        _num(used_now),
                        _num(used_now - used_before) if used_now is not None and used_before is not None else None,
                    ]
                )
        if rows:
            cols = ["col.department", "col.resource", "col.before", "col.now", "col.change"]
            cols += ["col.used_before", "col.used_now", "col.change"]
            sections.append(
                Section(
                    lab("pop"),
                    [lab("pop.text", date=loc.date(extras.previous_at))],
                    table=Table([lab(k) for k in cols], rows, set(range(2, 8))),
                    sheet=lab("sheet.pop"),
                )
            )

    if report.warnings:
        # the service's own messages in the report's language (the names, queries and URLs in them verbatim)
        t = Translator(lab.lang)
        sections.append(
            Section(
                lab("warnings"),
                table=Table([lab("warnings")], [[t.text(w)] for w in report.warnings], code={0}),
                sheet=lab("sheet.warnings"),
            )
        )
    period = lab("period", at=loc.when(report.end), days=days, start=loc.date(report.start), end=loc.date(report.end))
    source = lab("source.text", at=loc.when(report.end), days=days, source=report.allocation_source)
    return Document(lab("title"), c.lang, period, intro, sections, loc, source)


def render(report: CapacityReport, lang: str, fmt_: str = "md", now: float | None = None) -> str:
    """The whole report as Markdown (``md``) or a standalone HTML page (``html``)."""
    doc = build(report, lang, now)
    return to_html(doc) if fmt_ == "html" else to_markdown(doc)
