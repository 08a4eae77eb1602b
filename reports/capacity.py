"""The capacity report for managers: one document (Markdown or HTML) in Chinese or English.

The report is first built as plain sections (title, paragraphs, tables) and then written out by
one of two small renderers, so Markdown and HTML always carry the same content. ``LABELS`` holds
every label of the report and of ``govops capacity`` tables in both languages (a unit test checks
both have the same keys).
"""

from __future__ import annotations

from datetime import UTC, datetime

from govops.capacity.service import CapacityReport, DepartmentCapacity, ResourceCapacity
from govops.reports.capacity_planning import date_range
from govops.reports.capacity_planning import sections as planning_sections
from govops.reports.render import Labels as BaseLabels
from govops.reports.render import Section, Table, document, when

TOP = 10  # rows of the "top growers" and "over-allocated" sections

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


# -- the document --------------------------------------------------------------------------------------


def _step(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds % 3600 == 0 else f"{seconds:g} s"


def build(report: CapacityReport, lang: str, now: float | None = None) -> tuple[str, list[str], list[Section]]:
    """(title, intro paragraphs, sections) of the report."""
    lab = Labels(lang)
    o = report.options
    now = now if now is not None else datetime.now(UTC).timestamp()
    intro = [
        lab(
            "generated",
            now=when(now),
            at=when(report.end),
            days=f"{(report.end - report.start) / 86400:.0f}",
            start=when(report.start),
            end=when(report.end),
            step=_step(report.step),
            horizon=f"{report.horizon_days:g}",
        ),
        lab(f"source.{report.allocation_source}"),
    ]
    depts = report.departments

    def name(d: DepartmentCapacity) -> str:
        return f"{d.name(lab.lang)} ({d.code})"

    sections: list[Section] = []

    # city summary
    summary = Section(
        lab("summary"),
        [
            lab(
                "summary.text",
                depts=len(depts),
                near=sum(1 for d in depts if d.near_quota),
                over=sum(1 for d in depts if d.over_quota),
                growing=sum(1 for d in depts if d.growing),
                reclaim=sum(1 for d in depts if d.reclaim),
                horizon=f"{report.horizon_days:g}",
            )
        ],
    )
    rows = []
    for key, r in report.city.items():
        rows.append(
            [
                lab(f"res.{key}"),
                lab("unlimited") if r.quota is None and r.allocated is not None else fmt(r.quota, 0),
                fmt(r.allocated, 0),
                fmt(r.quota_pct),
                fmt(r.used.mean) if r.used else "–",
                fmt(r.used.p95) if r.used else "–",
                fmt(r.utilisation_pct),
            ]
        )
    cols = ["col.resource", "col.quota", "col.allocated", "col.quota_pct", "col.used", "col.p95", "col.util"]
    summary.table = Table([lab(c) for c in cols], rows, set(range(1, 7)))
    sections.append(summary)

    if report.hypervisors:
        sections.append(Section(lab("hypervisors"), [hypervisor_summary(report, lab)]))

    # near quota, soonest first
    near = sorted(
        ((d, k, d.resources[k]) for d in depts for k in d.near_quota),
        key=lambda x: (x[2].days_to_quota or 0.0, x[0].code),
    )
    sec = Section(lab("near"))
    if near:
        sec.table = Table(
            [lab(c) for c in ("col.department", "col.resource", "col.allocated", "col.quota", "col.quota_pct")]
            + [lab(c) for c in ("col.alloc_growth", "col.days", "col.date")]
            + [f"{lab('col.range')} ({o.confidence:.0%})"],
            [
                [
                    name(d),
                    lab(f"res.{k}"),
                    fmt(r.allocated, 0),
                    fmt(r.quota, 0),
                    fmt(r.quota_pct),
                    fmt(r.allocation_growth_per_day),
                    fmt(r.days_to_quota),
                    r.quota_date or "–",
                    date_range(r.quota_date_conservative, r.quota_date_aggressive),
                ]
                for d, k, r in near
            ],
            set(range(2, 7)),
        )
    else:
        sec.paragraphs.append(lab("near.none", horizon=f"{report.horizon_days:g}"))
    sections.append(sec)

    # top growers
    growers = sorted((d for d in depts if growth_of(d) > 0), key=lambda d: (-growth_of(d), d.code))[:TOP]
    sec = Section(lab("growers"))
    if growers:
        rows = []
        for d in growers:
            cpu, ram = d.resources["cpu"].used, d.resources["ram"].used
            rows.append(
                [
                    name(d),
                    f"{fmt(cpu.growth_pct_30d if cpu else None)} %",
                    f"{fmt(ram.growth_pct_30d if ram else None)} %",
                    used_alloc_quota(d.resources["cpu"], lab),
                    used_alloc_quota(d.resources["ram"], lab),
                ]
            )
        heads = [
            lab("col.department"),
            f"{lab('res.cpu')} {lab('col.growth')}",
            f"{lab('res.ram')} {lab('col.growth')}",
        ]
        sec.table = Table([*heads, lab("col.cpu"), lab("col.ram")], rows, {1, 2, 3, 4})
    else:
        sec.paragraphs.append(lab("growers.none"))
    sections.append(sec)

    # over-allocated
    over = sorted((d for d in depts if d.reclaim), key=lambda d: (-(reclaimable(d.resources["cpu"]) or 0.0), d.code))
    sec = Section(lab("reclaim"), [lab("reclaim.text", pct=o.reclaim_below_pct)])
    if over:
        rows = []
        for d in over[:TOP]:
            for k in d.reclaim:
                r = d.resources[k]
                rows.append(
                    [
                        name(d),
                        lab(f"res.{k}"),
                        fmt(r.allocated, 0),
                        fmt(r.used.mean if r.used else None),
                        fmt(r.used.p95 if r.used else None),
                        fmt(r.p95_utilisation_pct),
                        fmt(reclaimable(r), 0),
                    ]
                )
        cols = ["col.department", "col.resource", "col.allocated", "col.used", "col.p95", "col.util", "col.reclaimable"]
        sec.table = Table([lab(c) for c in cols], rows, set(range(2, 7)))
    else:
        sec.paragraphs.append(lab("reclaim.none"))
    sections.append(sec)

    sections += planning_sections(report, lab.lang)  # headroom, free slots, cloud full, rightsizing, method

    # every department
    rows = []
    for d in depts:
        disk = d.resources["storage"].used
        rows.append(
            [
                name(d),
                used_alloc_quota(d.resources["cpu"], lab),
                used_alloc_quota(d.resources["ram"], lab),
                used_alloc_quota(d.resources["storage"], lab),
                f"{fmt(disk.mean if disk else None)} / {fmt(disk.provisioned if disk else None)}",
                used_alloc_quota(d.resources["instances"], lab),
                flag_text(d, lab),
            ]
        )
    cols = ["col.department", "col.cpu", "col.ram", "col.storage", "col.disk", "col.instances", "col.flags"]
    sections.append(Section(lab("departments"), table=Table([lab(c) for c in cols], rows, {1, 2, 3, 4, 5})))
    if report.warnings:
        sections.append(Section(lab("warnings"), list(report.warnings)))
    return lab("title"), intro, sections


def render(report: CapacityReport, lang: str, fmt_: str = "md", now: float | None = None) -> str:
    """The whole report as Markdown (``md``) or a standalone HTML page (``html``)."""
    title, intro, sections = build(report, lang, now)
    return document(title, intro, sections, lang, fmt_)
