"""The capacity report's planning sections: forecast method, cloud headroom and free slots, when the
cloud is full, and the quota rightsizing would free per department.

Kept apart from ``reports/capacity.py`` (which calls ``sections``) so the report's base sections and
these can change independently; each section appears only when the report carries its figures
(a cloud configured, rightsizing run), so a report without them reads as before.
"""

from __future__ import annotations

from govops.capacity.forecast import METHOD
from govops.capacity.service import CapacityReport
from govops.reports.render import Labels as BaseLabels
from govops.reports.render import Section, Table

TOP = 15  # departments in the rightsizing section (most cores freed first)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "method": "Forecast method",
        "method.text": METHOD,
        "method.range": "Ranges in this report: conservative (earliest) to aggressive (latest) date.",
        "snapshots": "{days} day(s) of the window come from stored daily snapshots: "
        "Prometheus no longer holds them; they count with their daily mean and p95.",
        "headroom": "Cloud headroom (Placement)",
        "headroom.text": "Capacity = (total - reserved) x allocation ratio, per Placement resource provider, "
        "summed per availability zone; allocated = Placement usages; free = capacity - allocated.",
        "slots": "Free slots per flavor (host by host)",
        "slots.text": "How many more VMs of each flavor fit: on each host, as many as every resource class of "
        "the flavor allows there; summed over the zone's hosts.",
        "cloud_full": "When the cloud is full",
        "cloud_full.text": "The city's allocation against Placement's effective capacity, with the same method.",
        "rightsize": "Rightsizing: quota that could be freed",
        "rightsize.text": "Idle VMs (p95 CPU below {idle:g} % all window), oversized VMs (a smaller flavor holds "
        "p95 x {headroom:g}), VMs stopped for more than {stopped:g} days; the VMs are listed below.",
        "rightsize.none": "No idle, oversized or long-stopped VM.",
        "col.zone": "Zone",
        "col.hosts": "Hosts",
        "col.vcpu": "vCPU alloc./capacity",
        "col.vcpu_free": "vCPU free",
        "col.ram": "RAM GiB alloc./capacity",
        "col.ram_free": "RAM GiB free",
        "col.ratio": "CPU ratio",
        "col.flavor": "Flavor",
        "col.size": "Size",
        "col.total": "Total",
        "col.bound": "Bound by",
        "col.resource": "Resource",
        "col.alloc_cap": "Allocated / effective capacity",
        "col.pct": "Alloc. %",
        "col.growth": "Growth /day",
        "col.days": "Days to full",
        "col.date": "Full on",
        "col.range": "Range ({confidence:.0%})",
        "col.forecast": "Forecast",
        "col.department": "Department",
        "col.idle": "Idle",
        "col.oversized": "Oversized",
        "col.stopped": "Stopped",
        "col.cores": "Frees vCPU",
        "col.gib": "Frees RAM GiB",
        "res.cpu": "vCPU",
        "res.ram": "RAM (GiB)",
        "cloud": "cloud",
        "mixed": "mixed",
        "unknown": "(no department)",
    },
    "zh": {
        "method": "预测方法",
        "method.text": "预测:对每日数值(用量日均值、每日分配量)做最小二乘直线拟合,历史满 14 天时加入星期效应;"
        "距配额天数 =(配额 − 当前已分配)÷ 日增长。区间:拟合直线上单日数值 {confidence:.0%} 预测区间"
        "到达配额的日期(t 分布;假设残差独立、正态分布,增长为线性):保守 = 最早,激进 = 最晚。"
        "完整历史不足 3 天:历史数据不足。",
        "method.range": "本报告中的区间:保守(最早)至激进(最晚)日期。",
        "snapshots": "统计窗口中有 {days} 天的数据来自每日快照:Prometheus 已不再保存这些数据;按日均值和 p95 计入。",
        "headroom": "云平台余量(Placement)",
        "headroom.text": "容量 =(总量 − 预留)× 超分比,按 Placement 资源提供者计算并按可用区汇总;"
        "已分配 = Placement 用量;剩余 = 容量 − 已分配。",
        "slots": "各规格可再创建的云主机数(逐台宿主机计算)",
        "slots.text": "每台宿主机上按该规格所需的每一类资源计算可容纳台数,再按可用区内的宿主机求和。",
        "cloud_full": "云平台何时满",
        "cloud_full.text": "全市已分配量对比 Placement 有效容量,预测方法同上。",
        "rightsize": "规格优化:可释放的配额",
        "rightsize.text": "闲置云主机(整个窗口内 CPU p95 低于 {idle:g}%)、规格过大的云主机(更小规格可容纳 "
        "p95 × {headroom:g})、关机超过 {stopped:g} 天的云主机;明细见下表。",
        "rightsize.none": "没有闲置、规格过大或长期关机的云主机。",
        "col.zone": "可用区",
        "col.hosts": "主机数",
        "col.vcpu": "vCPU 已分配/容量",
        "col.vcpu_free": "vCPU 剩余",
        "col.ram": "内存 GiB 已分配/容量",
        "col.ram_free": "内存 GiB 剩余",
        "col.ratio": "CPU 超分比",
        "col.flavor": "规格",
        "col.size": "大小",
        "col.total": "合计",
        "col.bound": "受限于",
        "col.resource": "资源",
        "col.alloc_cap": "已分配/有效容量",
        "col.pct": "分配率 %",
        "col.growth": "日增长",
        "col.days": "到满天数",
        "col.date": "预计满的日期",
        "col.range": "区间({confidence:.0%})",
        "col.forecast": "预测",
        "col.department": "部门",
        "col.idle": "闲置",
        "col.oversized": "规格过大",
        "col.stopped": "长期关机",
        "col.cores": "可释放 vCPU",
        "col.gib": "可释放内存 GiB",
        "res.cpu": "vCPU",
        "res.ram": "内存 (GiB)",
        "cloud": "全云",
        "mixed": "不一",
        "unknown": "(无部门)",
    },
}

FORECAST_ZH = {"ok": "增长中", "full": "已满", "flat": "平稳", "short_history": "历史数据不足"}


class Labels(BaseLabels):
    def __init__(self, lang: str) -> None:
        super().__init__(LABELS, lang)


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{round(value, digits) + 0.0:,.{digits}f}"


def date_range(low: str | None, high: str | None) -> str:
    if low is None and high is None:
        return "–"
    return f"{low or '?'} … {high or '>10y'}"


def sections(report: CapacityReport, lang: str, details: Section | None = None) -> list[Section]:
    """The planning sections this report has figures for, in reading order; ``details`` (the
    rightsizing's VMs one by one) right under the rightsizing's per-department totals, so the report
    has one place for it."""
    lab = Labels(lang)
    o = report.options
    out: list[Section] = []
    h = report.headroom
    if h is not None and h.placement:
        rows = []
        for z in (*h.zones, *((h.total,) if h.total is not None else ())):
            cpu, ram = z.resources.get("VCPU"), z.resources.get("MEMORY_MB")
            ratio = None if cpu is None else cpu.allocation_ratio
            rows.append(
                [
                    z.name or lab("cloud"),
                    str(z.hosts),
                    "–" if cpu is None else f"{cpu.allocated:,} / {cpu.capacity:,}",
                    "–" if cpu is None else f"{cpu.free:,}",
                    "–" if ram is None else f"{ram.allocated / 1024:,.0f} / {ram.capacity / 1024:,.0f}",
                    "–" if ram is None else f"{ram.free / 1024:,.0f}",
                    lab("mixed") if ratio is None else f"{ratio:g}",
                ]
            )
        cols = ["col.zone", "col.hosts", "col.vcpu", "col.vcpu_free", "col.ram", "col.ram_free", "col.ratio"]
        out.append(
            Section(lab("headroom"), [lab("headroom.text")], Table([lab(c) for c in cols], rows, {1, 2, 3, 4, 5}))
        )
        if h.flavors:
            zones = sorted({az for f in h.flavors for az in f.per_az})
            rows = [
                [
                    f.flavor,
                    f"{f.vcpus} vCPU, {f.ram_mb / 1024:g} GiB" + (f", {f.disk_gb} GiB" if f.disk_gb else ""),
                    *(str(f.per_az.get(az, 0)) for az in zones),
                    str(f.total),
                    f.limited_by or "–",
                ]
                for f in h.flavors
            ]
            heads = [lab("col.flavor"), lab("col.size"), *zones, lab("col.total"), lab("col.bound")]
            out.append(Section(lab("slots"), [lab("slots.text")], Table(heads, rows, set(range(2, 3 + len(zones))))))
    if report.cloud_full:
        rows = [
            [
                lab(f"res.{c.resource}"),
                f"{c.allocated:,.0f} / {c.capacity:,.0f}",
                _n(c.allocated_pct, 1),
                _n(c.growth_per_day, 2),
                _n(c.days_to_full),
                c.full_date or "–",
                date_range(c.full_date_conservative, c.full_date_aggressive),
                FORECAST_ZH.get(c.forecast, c.forecast) if lab.lang == "zh" else c.forecast,
            ]
            for c in report.cloud_full.values()
        ]
        cols = [lab(c) for c in ("col.resource", "col.alloc_cap", "col.pct", "col.growth", "col.days", "col.date")]
        cols += [lab("col.range", confidence=o.confidence), lab("col.forecast")]
        out.append(Section(lab("cloud_full"), [lab("cloud_full.text")], Table(cols, rows, {1, 2, 3, 4})))
    r = report.rightsize
    if r is not None:
        ro = r.options
        sec = Section(
            lab("rightsize"),
            [lab("rightsize.text", idle=ro.idle_cpu_pct, headroom=ro.headroom, stopped=ro.stopped_days)],
        )
        names = {d.code: d.name(lab.lang) for d in report.departments}
        ranked = sorted(r.totals.items(), key=lambda kv: (-kv[1].frees_cores, -kv[1].frees_ram_mb, kv[0]))[:TOP]
        if ranked:
            rows = [
                [
                    names.get(code, code) if code else lab("unknown"),
                    str(t.idle),
                    str(t.oversized),
                    str(t.stopped),
                    str(t.frees_cores),
                    _n(t.frees_ram_gib),
                ]
                for code, t in ranked
            ]
            cols = ["col.department", "col.idle", "col.oversized", "col.stopped", "col.cores", "col.gib"]
            sec.table = Table([lab(c) for c in cols], rows, {1, 2, 3, 4, 5})
        else:
            sec.paragraphs.append(lab("rightsize.none"))
        out.append(sec)
        if details is not None:
            out.append(details)
    method = Section(lab("method"), [lab("method.text", confidence=o.confidence), lab("method.range")])
    if report.snapshot_days:
        method.paragraphs.append(lab("snapshots", days=report.snapshot_days))
    out.append(method)
    return out
