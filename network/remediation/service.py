"""Wiring of ``govops net remediate``: the plans of an audit run, and the engine that applies them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govops.errors import InputError
from govops.i18n import Msg
from govops.network.audit import RUN_KIND as AUDIT_KIND
from govops.network.remediation.engine import RemediationEngine, RemediationSettings
from govops.network.remediation.plan import SYNTAX, DevicePlan, build_plans, check_rules, fixable_rules
from govops.network.remediation.templates import Fix, load_fixes
from govops.network.results import DeviceResult
from govops.observer import Observer

if TYPE_CHECKING:
    from govops.credentials import Credential
    from govops.network.collectors.base import SshTarget
    from govops.network.inventory import Device, Inventory
    from govops.network.service import Context


@dataclass
class Planned:
    audit_run: str
    inventory: Inventory
    plans: list[DevicePlan]
    devices: dict[str, Device]
    rules: list[str]
    fixes: dict[str, Fix]


def latest_audit(ctx: Context) -> str:
    runs = [r for r in ctx.store.runs(AUDIT_KIND, limit=200) if r.status == "finished"]
    if not runs:
        raise InputError(Msg("net.err.no_run"), hint=Msg("net.hint.audit_first"))
    return runs[0].id


def plan_run(
    ctx: Context,
    inventory: Inventory,
    audit_run: str | None,
    rules: list[str] | None,
    filters: dict[str, Any],
    lang: str,
) -> Planned:
    from govops.network.analysis import DefaultAnalyzer

    net = ctx.config.config.network
    run_id = audit_run or latest_audit(ctx)
    run = ctx.store.get_run(run_id)
    if run.kind != AUDIT_KIND:
        raise InputError(Msg("net.err.not_audit", run=run_id, kind=run.kind))
    analyzer = DefaultAnalyzer(extra_rule_files=[ctx.config.path(p) for p in net.rules])
    known = [r.id for r in analyzer.rules]
    fixes = load_fixes([ctx.config.path(p) for p in net.fixes], known)
    selected = check_rules(rules, fixes, known) if rules else fixable_rules(fixes)
    devices = {d.hostname: d for d in inventory.select(**filters)}
    results = [DeviceResult.from_dict(r.data) for r in ctx.store.results(run_id) if r.data]
    plans = build_plans(results, devices, fixes, selected, lang, inventory.defaults.data)
    return Planned(run_id, inventory, plans, devices, selected, fixes)


def build_engine(
    ctx: Context,
    observer: Observer,
    *,
    workers: int | None = None,
    device_timeout: float | None = None,
    max_failures: int | None = None,
    verify: bool = True,
) -> RemediationEngine:
    from govops.network.analysis import DefaultAnalyzer
    from govops.network.collectors.ssh import NetmikoCollector
    from govops.network.collectors.sshconfig import ConfigSession
    from govops.network.service import host_key_policy

    net = ctx.config.config.network
    # the audit's host-key policy and known_hosts file, for the writes as for the reads (and the
    # re-audit): a device whose key changed since it was pinned gets no password and no line
    host_keys = host_key_policy(ctx.config)

    def session(target: SshTarget, credential: Credential, deadline: float) -> ConfigSession:
        return ConfigSession(target, credential, deadline, SYNTAX[target.platform], host_keys)

    settings = RemediationSettings(
        workers=workers or min(net.ssh_workers, 10),
        device_timeout=device_timeout or max(net.device_timeout, 120.0),
        connect_timeout=net.connect_timeout,
        max_failures=max_failures,
        verify=verify,
    )
    return RemediationEngine(
        analyzer=DefaultAnalyzer(extra_rule_files=[ctx.config.path(p) for p in net.rules]),
        credentials=ctx.credentials,
        store=ctx.store,
        collector=NetmikoCollector(host_keys),
        settings=settings,
        observer=observer,
        session_factory=session,
    )


def write_plans(plans: list[DevicePlan], out: Path, audit_run: str) -> list[Path]:
    """One reviewable file per device: what would be typed, and each rule's undo (no secrets)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in plans:
        lines = [
            f"# govops net remediate: {p.hostname} ({p.platform}, site {p.site}) from audit run {audit_run}",
        ]
        for item in p.items:
            state = item.status if item.status != "planned" else "fix"
            lines.append(f"# {item.rule}: {state}" + (f" - {item.reason}" if item.reason else ""))
        lines += p.session_lines()
        planned = p.planned
        if planned:
            lines.append("# rollback (sent only if a line is refused or the re-audit still fails):")
            lines += [f"#   {ln}" for ln in p.rollback_lines(planned)]
        path = out / f"{p.hostname}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written
