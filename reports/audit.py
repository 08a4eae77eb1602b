"""The network audit report for managers: one document (Markdown or HTML) in Chinese or English.

It reads a finished ``govops net audit`` run from the results store the way ``govops net``
does (``Store.get_run`` / ``runs`` / ``results``) and summarises it with the audit's own
``summarize``, ``group_summary`` and ``diff``, so the figures match ``net audit``, ``net readiness``
and ``net diff``. Only statuses, rule ids/titles, severities and the store's redacted reasons are
written: never evidence, collected output or anything from the credentials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from govops.credentials import redact
from govops.errors import InputError
from govops.i18n import Translator
from govops.network.audit import RUN_KIND, Change, DeviceResult, diff, group_summary, summarize
from govops.reports.render import Labels as BaseLabels
from govops.reports.render import Section, Table, document, when
from govops.store import Run, Store

TOP_RULES = 10
MAX_NOT_AUDITED = 500  # rows; a larger outage is better read with `govops net audit -o csv`
SEVERITIES = ("critical", "high", "medium", "low")
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
        "not_audited.more": "{more} more device(s) not listed; `govops net audit -o csv` gives all.",
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
        "not_audited.more": "另有 {more} 台设备未列出;完整清单请用 `govops net audit -o csv`。",
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


@dataclass
class AuditReportData:
    """A run, the run it is compared with (if any) and the per-device, per-rule changes between them."""

    current: AuditRun
    baseline: AuditRun | None = None
    changes: list[Change] = field(default_factory=list)

    @property
    def has_findings(self) -> bool:
        """Like ``net audit``'s exit 3: a device not audited or a rule failing somewhere."""
        return any(r.status != "ok" or any(f["status"] == "fail" for f in r.findings) for r in self.current.results)


# -- loading ---------------------------------------------------------------------------------------


def audit_run(store: Store, run_id: str) -> AuditRun:
    """One audit run and its device results (``NotFoundError``, exit 2, for an unknown id)."""
    run = store.get_run(run_id)
    if run.kind != RUN_KIND:
        raise InputError(f"run {run_id} is a {run.kind} run, not an audit")
    results = []
    for target in store.results(run_id):
        if not target.data:
            continue
        r = DeviceResult.from_dict(target.data)
        # the store's reason column is the redacted copy; the JSON one may predate redaction
        r.reason = redact(target.reason) if target.reason else None
        results.append(r)
    return AuditRun(run, results)


def _same_selection(a: Run, b: Run) -> bool:
    keys = ("inventory", "filters", "checks")
    return all(a.params.get(k) == b.params.get(k) for k in keys)


def load(store: Store, run_id: str | None = None, compare: str | None = None) -> AuditReportData:
    """``run_id`` (default: the latest finished audit run) compared with ``compare`` (default: the
    previous finished run of the same inventory, filters and checks, if there is one)."""
    finished = [r for r in store.runs(RUN_KIND, limit=_RUN_SCAN) if r.status == "finished"]
    if run_id is None:
        if not finished:
            raise InputError("no finished audit run in the store", hint="run `govops net audit` first")
        run_id = finished[0].id
    current = audit_run(store, run_id)
    baseline: AuditRun | None = None
    if compare is not None:
        baseline = audit_run(store, compare)
    else:
        # newest first, so the first match is the one just before this run
        earlier = (r for r in finished if r.id != run_id and r.started_at <= current.run.started_at)
        prev = next((r for r in earlier if _same_selection(r, current.run)), None)
        if prev is not None:
            baseline = audit_run(store, prev.id)
    changes = diff(baseline.results, current.results) if baseline is not None else []
    return AuditReportData(current, baseline, changes)


# -- the document ----------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _delta(now: float | None, before: float | None) -> str:
    return "–" if now is None or before is None else f"{now - before:+.1f}"


def _title(finding: dict[str, Any], lang: str) -> str:
    """Rule titles are stored in both languages (rule files) or as one string (older runs)."""
    t = finding.get("title")
    if isinstance(t, dict):
        return str(t.get(lang) or t.get("en") or next(iter(t.values()), ""))
    return str(t or "")


def _stamp(iso: str | None) -> str:
    """The store's ISO timestamps, in the report's own format."""
    if not iso:
        return "–"
    try:
        return when(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return iso


def _failed(r: DeviceResult) -> list[dict[str, Any]]:
    return [f for f in r.findings if f["status"] == "fail"]


def _group_table(
    lab: Labels,
    first_col: str,
    current: Sequence[DeviceResult],
    baseline: Sequence[DeviceResult] | None,
    key: Callable[[DeviceResult], str],
    name: Callable[[str], str],
) -> Table:
    """One row per group: devices, audited, not audited, readiness index and its change, failed
    checks by severity."""
    now = group_summary(current, key)
    before = group_summary(baseline, key) if baseline is not None else {}
    rows = []
    for group, s in now.items():
        sev = s["findings_by_severity"]
        ok = s["status"].get("ok", 0)
        prev = before.get(group, {}).get("ipv6_ready_pct")
        rows.append(
            [
                name(group),
                str(s["devices"]),
                str(ok),
                str(s["devices"] - ok),
                f"{s['ipv6_ready']} / {s['ipv6_assessed']}",
                _pct(s["ipv6_ready_pct"]),
                _delta(s["ipv6_ready_pct"], prev),
                *[str(sev.get(k, 0)) for k in SEVERITIES],
            ]
        )
    heads = [lab(first_col)] + [lab(c) for c in ("col.devices", "col.ok", "col.failed", "col.ready", "col.index")]
    heads += [lab("col.delta"), *[lab(f"sev.{k}") for k in SEVERITIES]]
    return Table(heads, rows, set(range(1, len(heads))))


def build(data: AuditReportData, lang: str, now: float | None = None) -> tuple[str, list[str], list[Section]]:
    """(title, intro paragraphs, sections) of the report."""
    lab = Labels(lang)
    t = Translator(lab.lang)
    run, results = data.current.run, data.current.results
    base = data.baseline
    s = summarize(results)
    now = now if now is not None else datetime.now(UTC).timestamp()

    def known(prefix: str, value: str) -> str:
        """A status or severity in the report's language; an unknown one as stored."""
        return lab(f"{prefix}.{value}") if f"{prefix}.{value}" in LABELS["en"] else value

    def status(st: str) -> str:
        return known("st", st)

    statuses = lab("sep").join(
        f"{status(k)} {v}" for k, v in sorted(s["status"].items(), key=lambda kv: (-kv[1], kv[0]))
    )
    intro = [
        lab("generated", now=when(now)),
        lab(
            "run",
            id=run.id,
            status=known("run", run.status),
            started=_stamp(run.started_at),
            finished=_stamp(run.finished_at),
            devices=s["devices"],
            checks=", ".join(run.params.get("checks", [])) or "–",
        ),
        lab("statuses", statuses=statuses or "–"),
    ]
    regressions = sum(c.kind == "regression" for c in data.changes)
    fixes = sum(c.kind == "fix" for c in data.changes)
    if base is not None:
        intro.append(
            lab("compare", id=base.run.id, finished=_stamp(base.run.finished_at), regressions=regressions, fixes=fixes)
        )
    else:
        intro.append(lab("compare.none"))

    sections: list[Section] = []

    # readiness index: city, then by administrative level
    readiness = Section(
        lab("readiness"),
        [lab("readiness.text", pct=_pct(s["ipv6_ready_pct"]), ready=s["ipv6_ready"], assessed=s["ipv6_assessed"])],
    )
    if base is not None:
        readiness.paragraphs.append(
            lab(
                "readiness.trend",
                id=base.run.id,
                delta=_delta(s["ipv6_ready_pct"], summarize(base.results)["ipv6_ready_pct"]),
            )
        )
    sections.append(readiness)
    base_results = base.results if base is not None else None
    sections.append(
        Section(
            lab("by_level"),
            table=_group_table(lab, "col.level", results, base_results, lambda r: r.level, lambda g: t(f"level.{g}")),
        )
    )

    if base is not None:
        per_rule: dict[str, Counter[str]] = {}
        for c in data.changes:
            if c.kind in ("regression", "fix"):
                per_rule.setdefault(c.rule, Counter())[c.kind] += 1
        sec = Section(lab("changes"))
        if per_rule:
            rows = [
                [known("rule", rule), str(n["regression"]), str(n["fix"])]
                for rule, n in sorted(per_rule.items(), key=lambda kv: (-kv[1]["regression"], -kv[1]["fix"], kv[0]))
            ]
            sec.table = Table([lab("col.rule"), lab("col.regressions"), lab("col.fixes")], rows, {1, 2})
        else:
            sec.paragraphs.append(lab("changes.none"))
        sections.append(sec)

    # findings by severity: failed checks and the devices they are on
    sev_checks: Counter[str] = Counter()
    sev_devices: Counter[str] = Counter()
    for r in results:
        failed = _failed(r)
        sev_checks.update(f["severity"] for f in failed)
        sev_devices.update({f["severity"] for f in failed})
    sec = Section(lab("severity"))
    if sev_checks:
        order = [*SEVERITIES, *sorted(set(sev_checks) - set(SEVERITIES))]
        sec.table = Table(
            [lab("col.severity"), lab("col.findings"), lab("col.affected")],
            [[known("sev", k), str(sev_checks[k]), str(sev_devices[k])] for k in order if sev_checks[k]],
            {1, 2},
        )
    else:
        sec.paragraphs.append(lab("severity.none"))
    sections.append(sec)

    # top failing rules
    affected: Counter[str] = Counter()
    meta: dict[str, dict[str, Any]] = {}
    for r in results:
        for f in _failed(r):
            affected[f["rule"]] += 1
            meta.setdefault(f["rule"], f)
    audited = s["status"].get("ok", 0)
    sec = Section(lab("rules"))
    if affected:
        top = sorted(affected.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RULES]
        rows = [
            [
                rule,
                _title(meta[rule], lab.lang),
                lab(f"sev.{meta[rule]['severity']}")
                if meta[rule]["severity"] in SEVERITIES
                else meta[rule]["severity"],
                str(n),
                _pct(100 * n / audited) if audited else "–",
            ]
            for rule, n in top
        ]
        heads = ("col.rule", "col.rule_title", "col.severity", "col.affected", "col.share")
        sec.table = Table([lab(c) for c in heads], rows, {3, 4})
    else:
        sec.paragraphs.append(lab("rules.none"))
    sections.append(sec)

    # devices not audited, with the reason
    missing = sorted((r for r in results if r.status != "ok"), key=lambda r: (r.status, r.county or "", r.hostname))
    sec = Section(lab("not_audited"))
    if missing:
        rows = [
            [r.hostname, r.site, r.county or lab("city"), status(r.status), r.reason or "–"]
            for r in missing[:MAX_NOT_AUDITED]
        ]
        heads = ("col.hostname", "col.site", "col.county", "col.status", "col.reason")
        sec.table = Table([lab(c) for c in heads], rows)
        if len(missing) > MAX_NOT_AUDITED:
            sec.paragraphs.append(lab("not_audited.more", more=len(missing) - MAX_NOT_AUDITED))
    else:
        sec.paragraphs.append(lab("not_audited.none"))
    sections.append(sec)

    # per county (devices at city level have no county)
    city = lab("city")
    sections.append(
        Section(
            lab("by_county"),
            table=_group_table(lab, "col.county", results, base_results, lambda r: r.county or city, lambda g: g),
        )
    )
    return lab("title"), intro, sections


def render(data: AuditReportData, lang: str, fmt_: str = "md", now: float | None = None) -> str:
    """The whole report as Markdown (``md``) or a standalone HTML page (``html``)."""
    title, intro, sections = build(data, lang, now)
    return document(title, intro, sections, lang, fmt_)
