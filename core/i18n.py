"""Messages and report labels in English and Chinese. English is the default; Chinese is complete
(a unit test fails when a key exists in one language only)."""

from __future__ import annotations

import os

EN: dict[str, str] = {
    "error": "error",
    "hint": "hint",
    "warning": "warning",
    "interrupted": "interrupted",
    "internal_error": "internal error: {error} (run with -vv for the traceback)",
    "col.check": "Check",
    "col.status": "Status",
    "col.detail": "Detail",
    "col.fix": "Fix",
    "col.code": "Code",
    "col.name": "Name",
    "col.project": "Project",
    "col.owner": "Owner",
    "col.cores": "Cores",
    "col.ram_gb": "RAM (GiB)",
    "col.instances": "Instances",
    "col.volume_gb": "Volume (GiB)",
    "col.volumes": "Volumes",
    "col.floating_ips": "Floating IPs",
    "col.hostname": "Hostname",
    "col.site": "Site",
    "col.level": "Level",
    "col.county": "County",
    "col.platform": "Platform",
    "col.role": "Role",
    "col.mgmt_ipv4": "Mgmt IPv4",
    "col.mgmt_ipv6": "Mgmt IPv6",
    "col.access": "Access",
    "col.key": "Key",
    "col.value": "Value",
    "col.count": "Count",
    "col.field": "Field",
    "status.ok": "ok",
    "status.warn": "warn",
    "status.fail": "FAIL",
    "status.skip": "skip",
    "inventory.valid": "inventory {name}: {sites} sites, {devices} devices, valid",
    "inventory.invalid": "inventory {name}: {count} problem(s)",
    "inventory.generated": "wrote {devices} devices at {sites} sites to {path}",
    "inventory.exported": "wrote {what} to {path}",
    # govops net remediate
    "remediate.dry_run": (
        "dry run of audit {run}: {devices} device(s), {lines} configuration line(s); nothing was sent (--apply to push)"
    ),
    "remediate.confirm": "push {lines} configuration line(s) to {devices} device(s) and save?",
    "remediate.nothing": "nothing to remediate",
    "remediate.files": "{count} plan file(s) written to {path}",
    "doctor.title": "govops doctor",
    "doctor.summary_ok": "all checks passed",
    "doctor.summary_fail": "{failed} check(s) failed, {warned} warning(s)",
    "doctor.config": "config",
    "doctor.departments": "departments",
    "doctor.inventory": "network inventory",
    "doctor.credentials": "credential {name}",
    "doctor.store": "results store",
    "doctor.cloud": "OpenStack cloud",
    "doctor.prometheus": "Prometheus",
    "doctor.playbooks": "playbooks",
    "level.city": "city",
    "level.county": "county",
    "level.township": "township",
    "level.village": "village",
    "dept.title": "Departments",
}

ZH: dict[str, str] = {
    "error": "错误",
    "hint": "提示",
    "warning": "警告",
    "interrupted": "已中断",
    "internal_error": "内部错误:{error}(加 -vv 查看调用栈)",
    "col.check": "检查项",
    "col.status": "状态",
    "col.detail": "详情",
    "col.fix": "修复方法",
    "col.code": "代码",
    "col.name": "名称",
    "col.project": "项目",
    "col.owner": "负责人",
    "col.cores": "vCPU",
    "col.ram_gb": "内存 (GiB)",
    "col.instances": "云主机数",
    "col.volume_gb": "云硬盘 (GiB)",
    "col.volumes": "云硬盘数",
    "col.floating_ips": "浮动 IP",
    "col.hostname": "设备名",
    "col.site": "站点",
    "col.level": "层级",
    "col.county": "区县",
    "col.platform": "平台",
    "col.role": "角色",
    "col.mgmt_ipv4": "管理 IPv4",
    "col.mgmt_ipv6": "管理 IPv6",
    "col.access": "接入方式",
    "col.key": "键",
    "col.value": "值",
    "col.count": "数量",
    "col.field": "字段",
    "status.ok": "正常",
    "status.warn": "警告",
    "status.fail": "失败",
    "status.skip": "跳过",
    "inventory.valid": "资产清单 {name}:{sites} 个站点,{devices} 台设备,校验通过",
    "inventory.invalid": "资产清单 {name}:{count} 个问题",
    "inventory.generated": "已生成 {sites} 个站点、{devices} 台设备,写入 {path}",
    "inventory.exported": "已导出 {what} 到 {path}",
    # govops net remediate
    "remediate.dry_run": "审计 {run} 的演练:{devices} 台设备,{lines} 行配置;未下发任何配置(加 --apply 下发)",
    "remediate.confirm": "向 {devices} 台设备下发 {lines} 行配置并保存?",
    "remediate.nothing": "没有需要整改的内容",
    "remediate.files": "已将 {count} 个整改方案文件写入 {path}",
    "doctor.title": "govops 自检",
    "doctor.summary_ok": "全部检查通过",
    "doctor.summary_fail": "{failed} 项检查失败,{warned} 项警告",
    "doctor.config": "配置文件",
    "doctor.departments": "部门清单",
    "doctor.inventory": "网络资产清单",
    "doctor.credentials": "凭据 {name}",
    "doctor.store": "结果库",
    "doctor.cloud": "OpenStack 云平台",
    "doctor.prometheus": "Prometheus",
    "doctor.playbooks": "剧本目录",
    "level.city": "市级",
    "level.county": "区县级",
    "level.township": "乡镇级",
    "level.village": "村级",
    "dept.title": "部门",
}

CATALOGS = {"en": EN, "zh": ZH}
LANGS = tuple(CATALOGS)


def default_lang() -> str:
    """``$GOVOPS_LANG``, else the locale (zh_* gives Chinese), else English."""
    env = os.environ.get("GOVOPS_LANG")
    if env in CATALOGS:
        return env
    loc = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG") or ""
    return "zh" if loc.lower().startswith("zh") else "en"


class Translator:
    def __init__(self, lang: str = "en") -> None:
        self.lang = lang if lang in CATALOGS else "en"
        self._catalog = CATALOGS[self.lang]

    def __call__(self, key: str, **kwargs: object) -> str:
        text = self._catalog.get(key) or EN.get(key) or key
        return text.format(**kwargs) if kwargs else text
