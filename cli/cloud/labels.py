"""Labels of the cloud group's tables (i18n.py holds the shared ones: col.code, col.name, ...)."""

from __future__ import annotations

from govops.cli.application import Application

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "resource": "Resource",
        "limit": "Limit",
        "in_use": "In use",
        "reserved": "Reserved",
        "free": "Free",
        "department": "Department",
        "id": "ID",
        "status": "Status",
        "flavor": "Flavor",
        "host": "Host",
        "az": "AZ",
        "addresses": "Addresses",
        "created": "Created",
        "current": "Current",
        "wanted": "Wanted",
        "note": "Note",
        "unlimited": "unlimited",
        "quota.title": "Quotas",
        "vm.title": "VMs",
        "sync.title": "Quota changes",
        "check.title": "Cloud check",
    },
    "zh": {
        "resource": "资源",
        "limit": "配额",
        "in_use": "已用",
        "reserved": "预留",
        "free": "可用",
        "department": "部门",
        "id": "ID",
        "status": "状态",
        "flavor": "规格",
        "host": "宿主机",
        "az": "可用区",
        "addresses": "地址",
        "created": "创建时间",
        "current": "当前",
        "wanted": "目标",
        "note": "说明",
        "unlimited": "不限",
        "quota.title": "配额",
        "vm.title": "云主机",
        "sync.title": "配额变更",
        "check.title": "云平台检查",
    },
}
_RESOURCE_LABELS = {
    "en": {
        "cores": "vCPU cores",
        "ram_mb": "RAM (MiB)",
        "instances": "instances",
        "volumes": "volumes",
        "gigabytes": "volume GiB",
        "floating_ips": "floating IPs",
        "ports": "ports",
    },
    "zh": {
        "cores": "vCPU",
        "ram_mb": "内存 (MiB)",
        "instances": "云主机数",
        "volumes": "云硬盘数",
        "gigabytes": "云硬盘 (GiB)",
        "floating_ips": "浮动 IP",
        "ports": "端口",
    },
}


def label(a: Application, key: str) -> str:
    lang = a.t.lang if a.t.lang in _LABELS else "en"
    return _LABELS[lang].get(key) or _LABELS["en"].get(key, key)


def resource_label(a: Application, resource: str) -> str:
    lang = a.t.lang if a.t.lang in _RESOURCE_LABELS else "en"
    return _RESOURCE_LABELS[lang].get(resource, resource)


def num(a: Application, value: int | None) -> str | int:
    return label(a, "unlimited") if value is None or value < 0 else value
