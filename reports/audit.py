"""The network audit report for managers, in Chinese or English, as HTML, PDF, XLSX or Markdown.

It reads a finished ``govops net audit`` run from the results store the way ``govops net``
does (``Store.get_run`` / ``runs`` / ``results``) and summarises it with the audit's own
``summarize``, ``group_summary`` and ``diff``, so the figures match ``net audit``, ``net readiness``
and ``net diff``. Written: statuses, rule ids/titles/fix lines, severities, the store's redacted
reasons, and per failing check the commands it read with their collection time and output hash.
Never collected output, facts or anything from the credentials.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from govops.credentials import redact
from govops.errors import InputError, NotFoundError
from govops.i18n import Msg, Translator
from govops.network.audit import RUN_KIND, Change, diff
from govops.network.remediation.engine import RUN_KIND as REMEDIATE_KIND
from govops.network.results import AuditSummary, DeviceResult, Finding, Rollup
from govops.reports.locale import Locale, parse_iso
from govops.reports.render import Chart, Document, Section, Series, Table, to_html, to_markdown
from govops.reports.render import Labels as BaseLabels
from govops.store import Run, Store

TOP_RULES = 10
TOP_GAIN = 5  # rules in the executive summary that would raise the index most
MAX_REGRESSIONS = 10  # listed in the executive summary
PRINT_ROWS = 60  # long tables on paper (the HTML page and the spreadsheet have every row)
PAPER_MISSING = 40  # devices not audited listed one by one on paper; more are grouped by county
TREND_RUNS = 12  # runs in the trend chart
SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_RANK = {k: i for i, k in enumerate(SEVERITIES)}
_RUN_SCAN = 10_000  # how far back to look for the latest / previous finished run

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Extranet network audit report",
        "generated": "Generated {now}.",
        "run": "Audit run {id} ({status}): started {started}, finished {finished}; {devices} devices; "
        "checks: {checks}.",
        "statuses": "Device statuses: {statuses}.",
        "compare": "Compared with run {id} (finished {finished}): {regressions} regression(s), {fixes} fix(es).",
        "compare.none": "No earlier finished audit run of the same selection to compare with.",
        "readiness": "IPv6 readiness index",
        "readiness.text": "City IPv6 readiness index: {pct}% ({ready} of {assessed} assessed devices pass every "
        "IPv6 rule).",
        "readiness.trend": "Change since run {id}: {delta} percentage points.",
        "by_level": "IPv6 readiness by administrative level",
        "by_county": "Per county",
        "changes": "Regressions and fixes by rule",
        "changes.none": "No rule changed between the two runs.",
        "severity": "Findings by severity",
        "severity.none": "No failed rule.",
        "rules": "Top failing rules",
        "rules.none": "No rule fails on any device.",
        "not_audited": "Devices not audited",
        "not_audited.none": "Every device was audited.",
        "remediated": "Devices remediated from this audit",
        "remediated.text": "{devices} device(s) were remediated from this audit run with `govops net remediate` "
        "({statuses}); the worklist below shows the findings as this run saw them, a new audit shows the fixes.",
        "summary": "Executive summary",
        "fig.index": "City IPv6 readiness index",
        "fig.change": "Change since the previous run",
        "fig.audited": "Devices audited",
        "fig.not_audited": "Devices not audited",
        "fig.failed_checks": "Failed checks",
        "fig.regressions": "Regressions since the previous run",
        "pp": "{delta} pp",
        "top5": "Fixing these rules would raise the index most:",
        "top5.item": "{title} ({rule}): +{gain} pp, {devices} device(s) ready once fixed; fails on {failing} device(s)",
        "top5.none": "No single IPv6 rule, fixed alone, would make a device ready.",
        "regressions.head": "Regressions since run {id}:",
        "regressions.item": "{device}: {what}",
        "regressions.more": "… and {more} more (see the worklist).",
        "regressions.none": "No regression since run {id}.",
        "period": "Audit of {start} to {finish}",
        "chart.county": "IPv6 readiness index by county (%)",
        "chart.level": "IPv6 readiness index by level (%)",
        "chart.severity": "Failed checks by severity",
        "chart.trend": "City IPv6 readiness index across runs (%)",
        "series.index": "City index",
        "worklist": "Worklist: failing checks by county and site",
        "worklist.text": "{rows} failing check(s) on {devices} device(s), grouped by county and site.",
        "worklist.none": "No failing check.",
        "evidence": "Appendix: evidence",
        "evidence.text": "Every command whose output a failing check read: when it was collected and the first "
        "16 hexadecimal digits of the SHA-256 of its raw output (govops does not keep the output: "
        "configurations hold secrets). Re-run the command on the device and hash its output to verify.",
        "evidence.none": "No failing check, so no evidence to list.",
        "col.fix": "Fix",
        "col.command": "Command",
        "col.collected": "Collected",
        "col.sha": "SHA-256 (first 16)",
        "col.rules": "Checks relying on it",
        "col.gain": "Index gain (pp)",
        "sheet.summary": "Summary",
        "sheet.level": "By level",
        "sheet.county": "By county",
        "sheet.severity": "By severity",
        "sheet.rules": "Top rules",
        "sheet.changes": "Changes",
        "sheet.not_audited": "Not audited",
        "sheet.remediated": "Remediated",
        "col.fixed_rules": "Rules fixed",
        "col.remediation": "Remediation run",
        "sheet.worklist": "Worklist",
        "sheet.evidence": "Evidence",
        "pack.ipv6": "IPv6 readiness",
        "pack.baseline": "security baseline",
        "source": "audit run {id}, inventory {inventory}",
        "col.level": "Level",
        "col.county": "County",
        "col.devices": "Devices",
        "col.ok": "Audited",
        "col.failed": "Not audited",
        "col.assessed": "IPv6 assessed",
        "col.ready": "IPv6-ready",
        "col.index": "Index %",
        "col.delta": "Change (pp)",
        "col.severity": "Severity",
        "col.findings": "Failed checks",
        "col.affected": "Devices affected",
        "col.share": "% of audited",
        "col.rule": "Rule",
        "col.rule_title": "Title",
        "col.regressions": "Regressions",
        "col.fixes": "Fixes",
        "col.hostname": "Device",
        "col.site": "Site",
        "col.status": "Status",
        "col.reason": "Reason",
        "sev.critical": "critical",
        "sev.high": "high",
        "sev.medium": "medium",
        "sev.low": "low",
        "st.ok": "ok",
        "st.unreachable": "unreachable",
        "st.auth_failed": "authentication failed",
        "st.timeout": "timeout",
        "st.parse_error": "unparsable output",
        "st.error": "error",
        "st.verified": "verified",
        "st.applied": "applied, not verified",
        "st.rolled_back": "rolled back",
        "st.skipped": "skipped",
        "st.failed": "failed",
        "run.finished": "finished",
        "run.running": "running",
        "run.interrupted": "interrupted",
        "rule.status": "device status",
        "city": "(city)",
        "sep": ", ",
    },
    "zh": {
        "title": "电子政务外网网络审计报告",
        "generated": "生成于 {now}。",
        "run": "审计批次 {id}({status}):开始 {started},结束 {finished};设备 {devices} 台;检查项:{checks}。",
        "statuses": "设备状态:{statuses}。",
        "compare": "与批次 {id}(结束于 {finished})相比:{regressions} 项变差,{fixes} 项修复。",
        "compare.none": "没有同一范围更早完成的审计批次可供对比。",
        "readiness": "IPv6 就绪指数",
        "readiness.text": "全市 IPv6 就绪指数:{pct}%(已评估的 {assessed} 台设备中 {ready} 台通过全部 IPv6 检查)。",
        "readiness.trend": "较批次 {id} 变化:{delta} 个百分点。",
        "by_level": "各行政层级 IPv6 就绪情况",
        "by_county": "各区县情况",
        "changes": "各检查项变差与修复",
        "changes.none": "两次审计之间没有检查项发生变化。",
        "severity": "按严重程度统计的问题",
        "severity.none": "没有未通过的检查项。",
        "rules": "未通过设备最多的检查项",
        "rules.none": "所有设备均通过全部检查项。",
        "not_audited": "未完成审计的设备",
        "not_audited.none": "全部设备均已完成审计。",
        "remediated": "依据本次审计完成整改的设备",
        "remediated.text": "依据本次审计,`govops net remediate` 已整改 {devices} 台设备({statuses});"
        "下方整改清单为本次审计时的结果,新一次审计将反映整改效果。",
        "summary": "摘要",
        "fig.index": "全市 IPv6 就绪指数",
        "fig.change": "较上次审计变化",
        "fig.audited": "已审计设备",
        "fig.not_audited": "未审计设备",
        "fig.failed_checks": "未通过检查",
        "fig.regressions": "较上次审计变差",
        "pp": "{delta} 个百分点",
        "top5": "修复以下检查项对提升就绪指数作用最大:",
        "top5.item": "{title}({rule}):修复后指数提升 {gain} 个百分点,{devices} 台设备即可就绪;"
        "共 {failing} 台设备未通过",
        "top5.none": "没有单独修复即可使设备就绪的 IPv6 检查项。",
        "regressions.head": "较批次 {id} 变差的项目:",
        "regressions.item": "{device}:{what}",
        "regressions.more": "……另有 {more} 项(见整改清单)。",
        "regressions.none": "较批次 {id} 没有变差的项目。",
        "period": "审计时间 {start} 至 {finish}",
        "chart.county": "各区县 IPv6 就绪指数(%)",
        "chart.level": "各层级 IPv6 就绪指数(%)",
        "chart.severity": "按严重程度统计的未通过检查",
        "chart.trend": "全市 IPv6 就绪指数历次变化(%)",
        "series.index": "全市指数",
        "worklist": "整改清单:按区县和站点列出的未通过检查",
        "worklist.text": "共 {devices} 台设备的 {rows} 项检查未通过,按区县和站点排列。",
        "worklist.none": "没有未通过的检查。",
        "evidence": "附录:取证记录",
        "evidence.text": "列出未通过检查所依据的每条命令:采集时间,以及其原始输出的 SHA-256 摘要前 16 位"
        "(配置中含有密钥,原始输出不予保存)。在设备上重新执行该命令并计算摘要即可核验。",
        "evidence.none": "没有未通过的检查,无取证记录。",
        "col.fix": "整改措施",
        "col.command": "命令",
        "col.collected": "采集时间",
        "col.sha": "SHA-256 摘要(前 16 位)",
        "col.rules": "依据此输出的检查项",
        "col.gain": "指数提升(百分点)",
        "sheet.summary": "摘要",
        "sheet.level": "各层级",
        "sheet.county": "各区县",
        "sheet.severity": "严重程度",
        "sheet.rules": "主要问题",
        "sheet.changes": "变化",
        "sheet.not_audited": "未审计设备",
        "sheet.remediated": "已整改设备",
        "col.fixed_rules": "整改的检查项",
        "col.remediation": "整改批次",
        "sheet.worklist": "整改清单",
        "sheet.evidence": "取证记录",
        "pack.ipv6": "IPv6 就绪",
        "pack.baseline": "安全基线",
        "source": "审计批次 {id},设备清单 {inventory}",
        "col.level": "层级",
        "col.county": "区县",
        "col.devices": "设备数",
        "col.ok": "已审计",
        "col.failed": "未审计",
        "col.assessed": "IPv6 已评估",
        "col.ready": "IPv6 就绪",
        "col.index": "指数 %",
        "col.delta": "变化(百分点)",
        "col.severity": "严重程度",
        "col.findings": "未通过检查数",
        "col.affected": "涉及设备数",
        "col.share": "占已审计 %",
        "col.rule": "检查项",
        "col.rule_title": "名称",
        "col.regressions": "变差",
        "col.fixes": "修复",
        "col.hostname": "设备",
        "col.site": "站点",
        "col.status": "状态",
        "col.reason": "原因",
        "sev.critical": "严重",
        "sev.high": "高",
        "sev.medium": "中",
        "sev.low": "低",
        "st.ok": "正常",
        "st.unreachable": "不可达",
        "st.auth_failed": "认证失败",
        "st.timeout": "超时",
        "st.parse_error": "输出无法解析",
        "st.error": "错误",
        "st.verified": "已验证",
        "st.applied": "已下发,未验证",
        "st.rolled_back": "已回退",
        "st.skipped": "已跳过",
        "st.failed": "失败",
        "run.finished": "已完成",
        "run.running": "进行中",
        "run.interrupted": "已中断",
        "rule.status": "设备状态",
        "city": "(市级)",
        "sep": "、",
    },
}


class Labels(BaseLabels):
    def __init__(self, lang: str) -> None:
        super().__init__(LABELS, lang)


@dataclass
class AuditRun:
    run: Run
    results: list[DeviceResult]
    collected_at: dict[str, str] = field(default_factory=dict)  # hostname -> when its result was stored


@dataclass(frozen=True)
class Remediated:
    hostname: str
    run: str  # the remediation run
    status: str  # verified | applied | rolled_back | skipped | failed
    rules: list[str]  # the rules whose lines it sent (planned)
    reason: str | None


@dataclass
class AuditReportData:
    """A run, the run it is compared with (if any), the per-device, per-rule changes between them,
    the city index of earlier runs of the same selection, and what the inventory and the rule files
    say about names and fixes."""

    current: AuditRun
    baseline: AuditRun | None = None
    changes: list[Change] = field(default_factory=list)
    trend: list[tuple[float, float]] = field(default_factory=list)  # (finished, city index %), oldest first
    site_names: dict[str, str] = field(default_factory=dict)  # site/county code -> name from the inventory
    fixes: dict[str, dict[str, str]] = field(default_factory=dict)  # rule id -> {lang: fix line}
    # `govops net remediate` runs planned from this audit run: the latest outcome per device
    remediated: list[Remediated] = field(default_factory=list)

    @property
    def has_findings(self) -> bool:
        """Like ``net audit``'s exit 3: a device not audited or a rule failing somewhere."""
        return any(not r.ok or r.failed_findings for r in self.current.results)


# -- loading ---------------------------------------------------------------------------------------


class UnknownRun(NotFoundError):
    """No run of this id in the store (exit 2)."""

    def __init__(self, run_id: str, message: str) -> None:
        super().__init__(Msg("report.err.unknown_run", run=run_id), hint=Msg("report.hint.runs"))
        self.run_id = run_id


class NotAnAuditRun(InputError):
    def __init__(self, run_id: str, kind: str) -> None:
        super().__init__(Msg("net.err.not_audit", run=run_id, kind=kind))
        self.run_id, self.kind = run_id, kind


class NoAuditRun(InputError):
    def __init__(self) -> None:
        super().__init__(Msg("net.err.no_run"), hint=Msg("net.hint.audit_first"))


def audit_run(store: Store, run_id: str) -> AuditRun:
    """One audit run and its device results (``UnknownRun``, exit 2, for an unknown id)."""
    try:
        run = store.get_run(run_id)
    except NotFoundError as exc:
        raise UnknownRun(run_id, str(exc)) from None
    if run.kind != RUN_KIND:
        raise NotAnAuditRun(run_id, run.kind)
    results = []
    collected: dict[str, str] = {}
    for target in store.results(run_id):
        if not target.data:
            continue
        # the store's reason column is the redacted copy; the JSON one may predate redaction
        r = replace(DeviceResult.from_dict(target.data), reason=redact(target.reason) if target.reason else None)
        results.append(r)
        collected[r.hostname] = target.finished_at
    return AuditRun(run, results, collected)


def _same_selection(a: Run, b: Run) -> bool:
    keys = ("inventory", "filters", "checks")
    return all(a.params.get(k) == b.params.get(k) for k in keys)


def load(store: Store, run_id: str | None = None, compare: str | None = None) -> AuditReportData:
    """``run_id`` (default: the latest finished audit run) compared with ``compare`` (default: the
    previous finished run of the same inventory, filters and checks, if there is one)."""
    finished = [r for r in store.runs(RUN_KIND, limit=_RUN_SCAN) if r.status == "finished"]
    if run_id is None:
        if not finished:
            raise NoAuditRun()
        run_id = finished[0].id
    current = audit_run(store, run_id)
    baseline: AuditRun | None = None
    # newest first: the first match is the one just before this run
    same = [
        r
        for r in finished
        if r.id != run_id and r.started_at <= current.run.started_at and _same_selection(r, current.run)
    ]
    if compare is not None:
        baseline = audit_run(store, compare)
    elif same:
        baseline = audit_run(store, same[0].id)
    changes = diff(baseline.results, current.results) if baseline is not None else []
    trend = []
    # the runs' own summaries hold the index: no device result is read for the trend
    for r in [current.run, *same[: TREND_RUNS - 1]]:
        t = parse_iso(r.finished_at or r.started_at)
        pct = r.summary.get("ipv6_ready_pct")
        if t is not None and isinstance(pct, int | float):
            trend.append((t, float(pct)))
    data = AuditReportData(current, baseline, changes, sorted(trend))
    data.remediated = remediated(store, run_id)
    return data


def remediated(store: Store, audit_run_id: str) -> list[Remediated]:
    """The devices ``govops net remediate`` worked on from this audit run (its ``params.audit_run``);
    a device remediated by several runs shows the latest run's outcome. Devices with nothing to
    send are left out."""
    runs = [r for r in store.runs(REMEDIATE_KIND, limit=_RUN_SCAN) if r.params.get("audit_run") == audit_run_id]
    latest: dict[str, Remediated] = {}
    for run in sorted(runs, key=lambda r: r.started_at):
        for target in store.results(run.id):
            d = target.data or {}
            rules = [str(i["rule"]) for i in d.get("items", []) if i.get("status") == "planned"]
            if not rules or d.get("not_started"):
                continue
            reason = redact(target.reason) if target.reason else None
            latest[target.target] = Remediated(target.target, run.id, target.status, rules, reason)
    return sorted(latest.values(), key=lambda r: r.hostname)


def site_names_of(inventory: Any) -> dict[str, str]:
    """Site code -> name, from a loaded :class:`~govops.network.inventory.Inventory`."""
    return {code: site.name for code, site in inventory.sites.items()}


def fixes_of(rules: Sequence[Any]) -> dict[str, dict[str, str]]:
    """Rule id -> fix line per language, from the loaded rule files."""
    return {r.id: dict(r.fix) for r in rules if r.fix}


# -- the document ----------------------------------------------------------------------------------


def _title(finding: Finding, lang: str) -> str:
    """Rule titles are stored in both languages (rule files) or as one string (older runs)."""
    return finding.title_in(lang)


def _failed(r: DeviceResult) -> list[Finding]:
    return r.failed_findings


def index_gains(results: Sequence[DeviceResult]) -> list[tuple[str, int, int, Finding]]:
    """Per IPv6 readiness rule: (rule, devices that would be ready if it were fixed, devices failing
    it, a finding of it), best first. A device counts for a rule when that rule is the only
    readiness rule it fails: fixing the rule alone makes it ready."""
    only: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    meta: dict[str, Finding] = {}
    for r in results:
        if r.ipv6_ready is None:
            continue
        rules = {f.rule for f in _failed(r) if f.counts_for_readiness}
        for f in _failed(r):
            if f.counts_for_readiness:
                meta.setdefault(f.rule, f)
        failing.update(rules)
        if len(rules) == 1:
            only.update(rules)
    ranked = sorted(failing, key=lambda k: (-only[k], -failing[k], k))
    return [(k, only[k], failing[k], meta[k]) for k in ranked]


class _Ctx:
    """What every part of the document needs: labels, locale, names."""

    def __init__(self, data: AuditReportData, lang: str, loc: Locale) -> None:
        self.lab = Labels(lang)
        self.lang = self.lab.lang
        self.loc = loc
        self.t = Translator(self.lang)
        self.names = data.site_names
        self.fixes = data.fixes

    def known(self, prefix: str, value: str) -> str:
        """A status or severity in the report's language; an unknown one as stored."""
        return self.lab(f"{prefix}.{value}") if f"{prefix}.{value}" in LABELS["en"] else value

    def county(self, code: str | None) -> str:
        if code is None:
            return self.lab("city")
        return self.names.get(code, code)

    def site(self, code: str) -> str:
        return self.names.get(code, code)

    def fix(self, rule: str) -> str | None:
        f = self.fixes.get(rule)
        if not f:
            return None
        return f.get(self.lang) or f.get("en") or next(iter(f.values()), None)

    def pp(self, value: float | None) -> str:
        return "–" if value is None else self.lab("pp", delta=self.loc.num(value, 1, sign=True))


def _delta(now: float | None, before: float | None) -> float | None:
    return None if now is None or before is None else round(now - before, 1)


def _group_table(
    c: _Ctx,
    first_col: str,
    now: Mapping[str, AuditSummary],
    before: Mapping[str, AuditSummary],
    name: Callable[[str], str],
) -> tuple[Table, list[tuple[str, float]]]:
    """One row per group (of the roll-up): devices, audited, not audited, readiness index and its
    change, failed checks by severity; and (name, index) per group for the chart."""
    rows: list[list[Any]] = []
    points: list[tuple[str, float]] = []
    for group, s in now.items():
        prev = before[group].ipv6_ready_pct if group in before else None
        rows.append(
            [
                name(group),
                s.devices,
                s.ok,
                s.not_audited,
                s.ipv6_ready,
                s.ipv6_assessed,
                s.ipv6_ready_pct,
                _delta(s.ipv6_ready_pct, prev),
                *[s.findings_by_severity.get(k, 0) for k in SEVERITIES],
            ]
        )
        if s.ipv6_ready_pct is not None:
            points.append((name(group), float(s.ipv6_ready_pct)))
    lab = c.lab
    heads = [lab(first_col)] + [lab(k) for k in ("col.devices", "col.ok", "col.failed", "col.ready", "col.assessed")]
    heads += [lab("col.index"), lab("col.delta"), *[lab(f"sev.{k}") for k in SEVERITIES]]
    return Table(heads, rows, set(range(1, len(heads))), digits={6: 1, 7: 1}), points


def _bar_chart(title: str, points: list[tuple[str, float]]) -> Chart:
    points = sorted(points, key=lambda p: -p[1])
    return Chart("barh", title, [p[0] for p in points], series=[Series("", [p[1] for p in points])], percent=True)


def build(data: AuditReportData, lang: str, now: float | None = None, loc: Locale | None = None) -> Document:
    """The report as a :class:`Document` (every format is rendered from it)."""
    c = _Ctx(data, lang, loc or Locale(lang))
    lab, loc, t = c.lab, c.loc, c.t
    loc = Locale(c.lang, loc.tz)
    c.loc = loc
    run, results = data.current.run, data.current.results
    base = data.baseline
    rollup = Rollup.of(results)
    base_rollup = Rollup.of(base.results) if base is not None else None
    s = rollup.city
    now = now if now is not None else datetime.now(UTC).timestamp()
    index_change = _delta(s.ipv6_ready_pct, base_rollup.city.ipv6_ready_pct) if base_rollup else None

    statuses = lab("sep").join(
        f"{c.known('st', k)} {v}" for k, v in sorted(s.status.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    checks = lab("sep").join(c.known("pack", k) for k in run.params.get("checks", []))
    intro = [
        lab("generated", now=loc.when(now)),
        lab(
            "run",
            id=run.id,
            status=c.known("run", run.status),
            started=loc.stamp(run.started_at),
            finished=loc.stamp(run.finished_at),
            devices=s.devices,
            checks=checks or "–",
        ),
        lab("statuses", statuses=statuses or "–"),
    ]
    regressions = [ch for ch in data.changes if ch.kind == "regression"]
    fixes = sum(ch.kind == "fix" for ch in data.changes)
    if base is not None:
        intro.append(
            lab(
                "compare",
                id=base.run.id,
                finished=loc.stamp(base.run.finished_at),
                regressions=len(regressions),
                fixes=fixes,
            )
        )
    else:
        intro.append(lab("compare.none"))

    sections: list[Section] = []
    audited = s.ok
    failed_checks = sum(len(_failed(r)) for r in results)

    # -- executive summary
    summary = Section(lab("summary"), sheet=lab("sheet.summary"))
    summary.figures = [
        (lab("fig.index"), loc.pct(s.ipv6_ready_pct)),
        (lab("fig.change"), c.pp(index_change)),
        (lab("fig.audited"), f"{loc.num(audited)} / {loc.num(s.devices)}"),
        (lab("fig.not_audited"), loc.num(s.not_audited)),
        (lab("fig.failed_checks"), loc.num(failed_checks)),
    ]
    if base is not None:
        summary.figures.append((lab("fig.regressions"), loc.num(len(regressions))))
    summary.paragraphs.append(
        lab("readiness.text", pct=loc.num(s.ipv6_ready_pct, 1), ready=s.ipv6_ready, assessed=s.ipv6_assessed)
    )
    # only rules that, fixed alone, make devices ready: a rule failing next to others raises nothing by itself
    gains = [g for g in index_gains(results) if g[1] > 0][:TOP_GAIN]
    assessed = s.ipv6_assessed or 0
    if gains:
        summary.bullets.append(lab("top5"))
        for rule, ready_if_fixed, failing, rule_meta in gains:
            summary.bullets.append(
                lab(
                    "top5.item",
                    title=_title(rule_meta, c.lang),
                    rule=rule,
                    gain=loc.num(100 * ready_if_fixed / assessed if assessed else 0.0, 1),
                    devices=ready_if_fixed,
                    failing=failing,
                )
            )
    else:
        summary.bullets.append(lab("top5.none"))
    if base is not None:
        titles = {f.rule: f for r in results for f in r.findings}
        if regressions:
            summary.bullets.append(lab("regressions.head", id=base.run.id))
            for ch in regressions[:MAX_REGRESSIONS]:
                what = (
                    f"{c.known('st', ch.before)} → {c.known('st', ch.after)}"
                    if ch.rule == "status"
                    else (_title(titles[ch.rule], c.lang) if ch.rule in titles else ch.rule)
                )
                summary.bullets.append(lab("regressions.item", device=ch.hostname, what=what))
            if len(regressions) > MAX_REGRESSIONS:
                summary.bullets.append(lab("regressions.more", more=len(regressions) - MAX_REGRESSIONS))
        else:
            summary.bullets.append(lab("regressions.none", id=base.run.id))
    if len(data.trend) >= 2:
        summary.charts.append(
            Chart(
                "lines",
                lab("chart.trend"),
                x=[p[0] for p in data.trend],
                series=[Series(lab("series.index"), [p[1] for p in data.trend])],
                percent=True,
            )
        )
    sections.append(summary)

    # -- by administrative level, by county
    level_table, level_points = _group_table(
        c, "col.level", rollup.by_level, base_rollup.by_level if base_rollup else {}, lambda g: t(f"level.{g}")
    )
    county_table, county_points = _group_table(
        c, "col.county", rollup.by_county, base_rollup.by_county if base_rollup else {}, lambda g: c.county(g or None)
    )
    level = Section(lab("by_level"), table=level_table, sheet=lab("sheet.level"))
    level.charts.append(_bar_chart(lab("chart.level"), level_points))
    sections.append(level)
    county = Section(lab("by_county"), table=county_table, sheet=lab("sheet.county"))
    county.charts.append(_bar_chart(lab("chart.county"), county_points))
    sections.append(county)

    # -- findings by severity
    sev_checks: Counter[str] = Counter(s.findings_by_severity)
    sev_devices: Counter[str] = Counter(rollup.devices_by_severity)
    sec = Section(lab("severity"), sheet=lab("sheet.severity"))
    if sev_checks:
        from govops.reports.charts import SEVERITY_COLORS

        order = [k for k in [*SEVERITIES, *sorted(set(sev_checks) - set(SEVERITIES))] if sev_checks[k]]
        sec.table = Table(
            [lab("col.severity"), lab("col.findings"), lab("col.affected")],
            [[c.known("sev", k), sev_checks[k], sev_devices[k]] for k in order],
            {1, 2},
        )
        sec.charts.append(
            Chart(
                "barh",
                lab("chart.severity"),
                [c.known("sev", k) for k in order],
                series=[Series("", [float(sev_checks[k]) for k in order])],
                colors=[SEVERITY_COLORS.get(k, "#6b7785") for k in order],
            )
        )
    else:
        sec.paragraphs.append(lab("severity.none"))
    sections.append(sec)

    # -- top failing rules
    affected: Counter[str] = Counter()
    meta: dict[str, Finding] = {}
    for r in results:
        for f in _failed(r):
            affected[f.rule] += 1
            meta.setdefault(f.rule, f)
    sec = Section(lab("rules"), sheet=lab("sheet.rules"))
    if affected:
        top = sorted(affected.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RULES]
        rows: list[list[Any]] = [
            [
                rule,
                _title(meta[rule], c.lang),
                c.known("sev", meta[rule].severity),
                n,
                round(100 * n / audited, 1) if audited else None,
            ]
            for rule, n in top
        ]
        heads: tuple[str, ...] = ("col.rule", "col.rule_title", "col.severity", "col.affected", "col.share")
        sec.table = Table([lab(h) for h in heads], rows, {3, 4}, digits={4: 1}, code={0})
    else:
        sec.paragraphs.append(lab("rules.none"))
    sections.append(sec)

    # -- regressions and fixes by rule
    if base is not None:
        per_rule: dict[str, Counter[str]] = {}
        for ch in data.changes:
            if ch.kind in ("regression", "fix"):
                per_rule.setdefault(ch.rule, Counter())[ch.kind] += 1
        sec = Section(lab("changes"), sheet=lab("sheet.changes"))
        if per_rule:
            rows = [
                [c.known("rule", rule), n["regression"], n["fix"]]
                for rule, n in sorted(per_rule.items(), key=lambda kv: (-kv[1]["regression"], -kv[1]["fix"], kv[0]))
            ]
            sec.table = Table([lab("col.rule"), lab("col.regressions"), lab("col.fixes")], rows, {1, 2}, code={0})
        else:
            sec.paragraphs.append(lab("changes.none"))
        sections.append(sec)

    # -- devices not audited, with the reason
    missing = sorted((r for r in results if r.status != "ok"), key=lambda r: (r.status, r.county or "", r.hostname))
    sec = Section(lab("not_audited"), sheet=lab("sheet.not_audited"))
    if missing:
        rows = [
            [r.hostname, c.site(r.site), c.county(r.county), c.known("st", r.status), r.reason or "–"] for r in missing
        ]
        heads = ("col.hostname", "col.site", "col.county", "col.status", "col.reason")
        sec.table = Table([lab(h) for h in heads], rows, code={0, 4})
        if len(missing) > PAPER_MISSING:
            # on paper: per county and status, naming the first devices
            grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
            for r in missing:
                grouped[(c.county(r.county), c.known("st", r.status))].append(r.hostname)
            paper_rows: list[list[Any]] = [
                [
                    county_name,
                    status,
                    len(hosts),
                    ", ".join(hosts[:3]) + (f" +{len(hosts) - 3}" if len(hosts) > 3 else ""),
                ]
                for (county_name, status), hosts in sorted(grouped.items())
            ]
            heads = ("col.county", "col.status", "col.devices", "col.hostname")
            sec.paper_table = Table([lab(h) for h in heads], paper_rows, {2}, code={3})
    else:
        sec.paragraphs.append(lab("not_audited.none"))
    sections.append(sec)

    # -- devices remediated from this run (govops net remediate), with their outcome
    if data.remediated:
        where = {r.hostname: r for r in results}
        counts = Counter(m.status for m in data.remediated)
        sec = Section(lab("remediated"), sheet=lab("sheet.remediated"))
        statuses = lab("sep").join(f"{c.known('st', k)} {n}" for k, n in sorted(counts.items()))
        sec.paragraphs.append(lab("remediated.text", devices=len(data.remediated), statuses=statuses))
        rows = []
        for m in data.remediated:
            found = where.get(m.hostname)
            rows.append(
                [
                    m.hostname,
                    c.site(found.site) if found is not None else "–",
                    c.county(found.county) if found is not None else "–",
                    c.known("st", m.status),
                    ", ".join(m.rules),
                    m.run,
                    m.reason or "–",
                ]
            )
        heads = (
            "col.hostname",
            "col.site",
            "col.county",
            "col.status",
            "col.fixed_rules",
            "col.remediation",
            "col.reason",
        )
        sec.table = Table([lab(h) for h in heads], rows, code={0, 4, 5, 6}, print_limit=PRINT_ROWS)
        sections.append(sec)

    # -- worklist: failing checks by county, site, device
    work = [(r, f) for r in results for f in _failed(r)]
    work.sort(
        key=lambda rf: (
            c.county(rf[0].county) if rf[0].county else "",
            c.site(rf[0].site),
            rf[0].hostname,
            SEVERITY_RANK.get(rf[1].severity, 9),
            rf[1].rule,
        )
    )
    sec = Section(lab("worklist"), sheet=lab("sheet.worklist"))
    if work:
        sec.paragraphs.append(lab("worklist.text", rows=len(work), devices=len({r.hostname for r, _ in work})))
        rows = [
            [
                c.county(r.county),
                c.site(r.site),
                r.hostname,
                f.rule,
                _title(f, c.lang),
                c.known("sev", f.severity),
                c.fix(f.rule) or "–",
            ]
            for r, f in work
        ]
        heads = ("col.county", "col.site", "col.hostname", "col.rule", "col.rule_title", "col.severity", "col.fix")
        sec.table = Table([lab(h) for h in heads], rows, code={2, 3, 6})
        # on paper: one row per rule with the devices per county (a city has thousands of failing
        # checks; a page holds about forty rows)
        by_rule: dict[str, Counter[str]] = defaultdict(Counter)
        first: dict[str, Finding] = {}
        for r, f in work:
            by_rule[f.rule][c.county(r.county)] += 1
            first.setdefault(f.rule, f)
        paper: list[list[Any]] = [
            [
                rule,
                _title(first[rule], c.lang),
                c.known("sev", first[rule].severity),
                sum(counties.values()),
                lab("sep").join(f"{name} {n}" for name, n in sorted(counties.items(), key=lambda kv: (-kv[1], kv[0]))),
                c.fix(rule) or "–",
            ]
            for rule, counties in by_rule.items()
        ]
        paper.sort(key=lambda row: (SEVERITY_RANK.get(first[str(row[0])].severity, 9), -int(row[3]), row[0]))
        heads = ("col.rule", "col.rule_title", "col.severity", "col.affected", "col.county", "col.fix")
        sec.paper_table = Table([lab(h) for h in heads], paper, {3}, code={0, 5}, print_limit=PRINT_ROWS)
    else:
        sec.paragraphs.append(lab("worklist.none"))
    sections.append(sec)

    # -- evidence appendix: per device and command, the failing checks that read it
    sec = Section(lab("evidence"), sheet=lab("sheet.evidence"), page_break=True)
    evidence: dict[tuple[str, str], tuple[str, str | None, list[str]]] = {}
    for r, f in work:
        stored = data.current.collected_at.get(r.hostname)
        times = {e.command: e.at for e in r.evidence}
        for o in f.evidence.outputs:
            cmd = o.command
            if cmd.startswith("snmp "):
                times.setdefault(cmd, next((e.at for e in r.evidence if e.source == "snmp"), None))
            key = (r.hostname, cmd)
            if key not in evidence:
                evidence[key] = (o.sha256, times.get(cmd) or stored, [])
            evidence[key][2].append(f.rule)
    if evidence:
        sec.paragraphs.append(lab("evidence.text"))
        rows = [
            [host, cmd, loc.clock(parse_iso(at)), sha, ", ".join(rules)]
            for (host, cmd), (sha, at, rules) in evidence.items()
        ]
        heads = ("col.hostname", "col.command", "col.collected", "col.sha", "col.rules")
        sec.table = Table([lab(h) for h in heads], rows, code={0, 1, 3, 4}, print_limit=PRINT_ROWS)
    else:
        sec.paragraphs.append(lab("evidence.none"))
    sections.append(sec)

    period = lab("period", start=loc.stamp(run.started_at), finish=loc.stamp(run.finished_at))
    source = lab("source", id=run.id, inventory=run.params.get("inventory", "–"))
    return Document(lab("title"), c.lang, period, intro, sections, loc, source)


def render(
    data: AuditReportData, lang: str, fmt_: str = "md", now: float | None = None, loc: Locale | None = None
) -> str:
    """The whole report as Markdown (``md``) or a standalone HTML page (``html``)."""
    doc = build(data, lang, now, loc)
    return to_html(doc) if fmt_ == "html" else to_markdown(doc)
