"""Tables of ``govops capacity cloud|whatif|rightsize|forecast`` (not a command module: views only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from govops.cli.terminal import Column, TableView

if TYPE_CHECKING:
    from govops.capacity.headroom import CloudHeadroom, ResourceHeadroom, ZoneHeadroom
    from govops.capacity.rightsize import RightsizeReport
    from govops.capacity.service import CapacityReport
    from govops.capacity.whatif import WhatIf


# zh of every header and title below (English is the key)
ZH = {
    "zone": "可用区",
    "hosts": "主机数",
    "host": "主机",
    "vCPU alloc/cap": "vCPU 已分配/容量",
    "free": "剩余",
    "ratio": "超分比",
    "res.": "预留",
    "RAM GiB alloc/cap": "内存 GiB 已分配/容量",
    "disk GB free": "磁盘 GB 剩余",
    "cores used": "实用核数",
    "GiB used": "实用内存 GiB",
    "VMs": "虚拟机",
    "Cloud headroom (Placement; used: Prometheus)": "云平台余量（Placement；实用：Prometheus）",
    "Hypervisors": "宿主机",
    "flavor": "规格",
    "size": "大小",
    "total": "合计",
    "bound by": "受限于",
    "Free slots: more VMs of each flavor that fit, host by host": "可再创建的虚拟机数（按宿主机逐台计算）",
    "resource": "资源",
    "needed": "需要",
    "short": "缺口",
    "fits": "满足",
    "days to quota now": "当前到达配额天数",
    "with the VMs": "新增后天数",
    "days earlier": "提前天数",
    "kind": "类别",
    "department": "部门",
    "VM": "虚拟机",
    "CPU p95 %": "CPU p95 %",
    "RAM p95 %": "内存 p95 %",
    "suggested": "建议",
    "frees cores": "释放核数",
    "frees GiB": "释放内存 GiB",
    "stopped days": "关机天数",
    "idle": "闲置",
    "oversized": "规格过大",
    "stopped": "长期关机",
    "Quota freed per department": "各部门可释放配额",
    "allocated / effective capacity": "已分配/有效容量",
    "growth / day": "日增长",
    "days to full": "到满天数",
    "date": "日期",
    "forecast": "预测",
    "When the cloud is full (Placement's effective capacity)": "云平台何时满（Placement 有效容量）",
}


def tr(text: str, lang: str) -> str:
    return ZH.get(text, text) if lang == "zh" else text


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits) + 0.0


def _num(key: str, label: str) -> Column:
    return Column(key, label, justify="right")


def _frac(r: ResourceHeadroom | None, div: float = 1.0) -> str | None:
    """``allocated/capacity`` in the row's unit."""
    return None if r is None else f"{r.allocated / div:.0f}/{r.capacity / div:.0f}"


def _free(r: ResourceHeadroom | None, div: float = 1.0) -> float | None:
    return None if r is None else round(r.free / div)


def _ratio(r: ResourceHeadroom | None) -> str | None:
    if r is None:
        return None
    return "mixed" if r.allocation_ratio is None else f"{r.allocation_ratio:g}"


def _zone_row(z: ZoneHeadroom, name: str) -> dict[str, Any]:
    res = z.resources
    cpu, ram = res.get("VCPU"), res.get("MEMORY_MB")
    return {
        "name": name,
        "hosts": z.hosts,
        "vcpu": _frac(cpu),
        "vcpu_free": _free(cpu),
        "vcpu_ratio": _ratio(cpu),
        "vcpu_reserved": cpu.reserved if cpu else None,
        "ram": _frac(ram, 1024),
        "ram_free": _free(ram, 1024),
        "ram_reserved": round(ram.reserved / 1024) if ram else None,
        "disk_free": _free(res.get("DISK_GB")),
        "cpu_used": _r(z.used.cpu_cores),
        "ram_used": _r(z.used.ram_gib),
        "vms": z.used.vms,
    }


def _zone_columns(lang: str) -> list[Column]:
    return [
        Column("name", tr("zone", lang)),
        _num("hosts", tr("hosts", lang)),
        _num("vcpu", tr("vCPU alloc/cap", lang)),
        _num("vcpu_free", tr("free", lang)),
        _num("vcpu_ratio", tr("ratio", lang)),
        _num("vcpu_reserved", tr("res.", lang)),
        _num("ram", tr("RAM GiB alloc/cap", lang)),
        _num("ram_free", tr("free", lang)),
        _num("ram_reserved", tr("res.", lang)),
        _num("disk_free", tr("disk GB free", lang)),
        _num("cpu_used", tr("cores used", lang)),
        _num("ram_used", tr("GiB used", lang)),
        _num("vms", tr("VMs", lang)),
    ]


def zones_table(h: CloudHeadroom, lang: str = "en") -> TableView:
    rows = [_zone_row(z, z.name) for z in h.zones]
    if h.total is not None:
        rows.append(_zone_row(h.total, "cloud"))
    return TableView(_zone_columns(lang), rows, title=tr("Cloud headroom (Placement; used: Prometheus)", lang))


def hosts_table(h: CloudHeadroom, lang: str = "en") -> TableView:
    rows = []
    for x in h.hosts:
        row = _zone_row(type("Z", (), {"hosts": 1, "resources": x.resources, "used": x.used})(), x.name)
        row["hosts"] = x.az
        rows.append(row)
    cols = [Column("name", tr("host", lang)), Column("hosts", tr("zone", lang)), *_zone_columns(lang)[2:]]
    return TableView(cols, rows, title=tr("Hypervisors", lang))


def slots_table(h: CloudHeadroom, lang: str = "en") -> TableView:
    zones = sorted({az for f in h.flavors for az in f.per_az})
    rows = []
    for f in h.flavors:
        row: dict[str, Any] = {
            "flavor": f.flavor,
            "size": f"{f.vcpus} vCPU, {f.ram_mb // 1024 or f.ram_mb / 1024:g} GiB",
        }
        row.update({f"az:{z}": f.per_az.get(z, 0) for z in zones})
        row["total"] = f.total
        row["limited_by"] = f.limited_by
        rows.append(row)
    cols = [Column("flavor", tr("flavor", lang)), Column("size", tr("size", lang))]
    cols += [_num(f"az:{z}", z) for z in zones]
    cols += [_num("total", tr("total", lang)), Column("limited_by", tr("bound by", lang))]
    return TableView(cols, rows, title=tr("Free slots: more VMs of each flavor that fit, host by host", lang))


def headroom_csv(h: CloudHeadroom) -> TableView:
    """One row per host, zone and cloud and resource class, then one per flavor and zone."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, name: str, az: str, res: Any) -> None:
        for rc, r in res.items():
            rows.append(
                {
                    "kind": kind,
                    "name": name,
                    "availability_zone": az,
                    "resource": rc,
                    "total": r.total,
                    "reserved": r.reserved,
                    "allocation_ratio": r.allocation_ratio,
                    "capacity": r.capacity,
                    "allocated": r.allocated,
                    "free": r.free,
                    "flavor": None,
                    "slots": None,
                }
            )

    for x in h.hosts:
        add("host", x.name, x.az, x.resources)
    for z in h.zones:
        add("zone", z.name, z.name, z.resources)
    for g in h.aggregates:
        add("aggregate", g.name, "", g.resources)
    if h.total is not None:
        add("cloud", "cloud", "", h.total.resources)
    for f in h.flavors:
        for az, n in f.per_az.items():
            rows.append({"kind": "slots", "name": f.flavor, "availability_zone": az, "flavor": f.flavor, "slots": n})
        rows.append({"kind": "slots", "name": f.flavor, "availability_zone": "", "flavor": f.flavor, "slots": f.total})
    keys = [
        "kind",
        "name",
        "availability_zone",
        "resource",
        "total",
        "reserved",
        "allocation_ratio",
        "capacity",
        "allocated",
        "free",
        "flavor",
        "slots",
    ]
    return TableView([Column(k, k) for k in keys], rows)


def whatif_table(w: WhatIf, csv: bool = False, lang: str = "en") -> TableView:
    later = {e.resource: e for e in w.earlier}
    rows = []
    for q in w.quota:
        e = later.get(q.resource)
        rows.append(
            {
                "resource": q.resource,
                "needed": q.needed,
                "free": "unlimited" if q.free is None else q.free,
                "short": q.short or None,
                "fits": "yes" if q.fits else "NO",
                "days_before": _r(e.days_before) if e else None,
                "days_after": _r(e.days_after) if e else None,
                "days_earlier": _r(e.days_earlier) if e else None,
            }
        )
    p = w.placement
    if p is not None:
        for flavor, zones in sorted(p.free_slots.items()):
            rows.append(
                {
                    "resource": f"cloud: {flavor}",
                    "needed": sum(a.count for a in w.additions if a.flavor == flavor),
                    "free": ", ".join(f"{z} {n}" for z, n in zones.items()),
                    "short": p.unplaced.get(flavor) or None,
                    "fits": "NO" if p.unplaced.get(flavor) else "yes",
                }
            )
    cols = [
        Column("resource", tr("resource", lang)),
        _num("needed", tr("needed", lang)),
        _num("free", tr("free", lang)),
        _num("short", tr("short", lang)),
        Column("fits", tr("fits", lang)),
        _num("days_before", tr("days to quota now", lang)),
        _num("days_after", tr("with the VMs", lang)),
        _num("days_earlier", tr("days earlier", lang)),
    ]
    title = f"What-if for {w.department} ({w.project}); runs out first: {w.runs_out_first or '–'}"
    return TableView(cols, rows, title=None if csv else title)


def rightsize_table(r: RightsizeReport, lang: str = "en") -> TableView:
    rows = [
        {
            "kind": i.kind,
            "department": i.department,
            "name": i.name,
            "id": i.id,
            "flavor": i.flavor,
            "cpu_p95": _r(i.cpu_p95_pct),
            "mem_p95": _r(i.mem_p95_pct),
            "suggested": i.suggested_flavor or ("delete?" if i.kind != "oversized" else None),
            "frees_cores": i.frees_cores,
            "frees_ram_gib": _r(i.frees_ram_mb / 1024),
            "idle_days": _r(i.idle_days),
        }
        for i in r.items
    ]
    cols = [
        Column("kind", tr("kind", lang)),
        Column("department", tr("department", lang)),
        Column("name", tr("VM", lang)),
        Column("id", tr("id", lang)),
        Column("flavor", tr("flavor", lang)),
        _num("cpu_p95", "CPU p95 %"),
        _num("mem_p95", "RAM p95 %"),
        Column("suggested", tr("suggested", lang)),
        _num("frees_cores", tr("frees cores", lang)),
        _num("frees_ram_gib", tr("frees GiB", lang)),
        _num("idle_days", tr("stopped days", lang)),
    ]
    return TableView(cols, rows, title=f"Rightsizing ({len(rows)} of {r.vms_seen} VMs seen)")


def rightsize_totals_table(r: RightsizeReport, lang: str = "en") -> TableView:
    rows = [
        {
            "department": code or "?",
            "idle": t.idle,
            "oversized": t.oversized,
            "stopped": t.stopped,
            "cores": t.frees_cores,
            "ram": _r(t.frees_ram_gib),
        }
        for code, t in r.totals.items()
    ]
    cols = [
        Column("department", tr("department", lang)),
        _num("idle", tr("idle", lang)),
        _num("oversized", tr("oversized", lang)),
        _num("stopped", tr("stopped", lang)),
        _num("cores", tr("frees cores", lang)),
        _num("ram", tr("frees GiB", lang)),
    ]
    return TableView(cols, rows, title=tr("Quota freed per department", lang))


def cloud_full_table(report: CapacityReport, lang: str = "en") -> TableView:
    rows = [
        {
            "resource": c.resource,
            "allocated": f"{c.allocated:,.0f} / {c.capacity:,.0f} {c.unit}",
            "pct": _r(c.allocated_pct),
            "growth": _r(c.growth_per_day, 2),
            "days": _r(c.days_to_full),
            "date": c.full_date,
            "range": None
            if c.full_date_conservative is None and c.full_date_aggressive is None
            else f"{c.full_date_conservative or '?'} … {c.full_date_aggressive or 'later'}",
            "forecast": c.forecast,
        }
        for c in report.cloud_full.values()
    ]
    cols = [
        Column("resource", tr("resource", lang)),
        _num("allocated", tr("allocated / effective capacity", lang)),
        _num("pct", tr("%", lang)),
        _num("growth", tr("growth / day", lang)),
        _num("days", tr("days to full", lang)),
        Column("date", tr("date", lang)),
        Column("range", f"{report.options.confidence:.0%} range"),
        Column("forecast", tr("forecast", lang)),
    ]
    return TableView(cols, rows, title=tr("When the cloud is full (Placement's effective capacity)", lang))
