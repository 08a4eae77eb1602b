"""Remediation plans: for each device of an audit run, the failing rules and the exact lines that fix them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govops.errors import InputError
from govops.i18n import Msg
from govops.network.inventory import Device
from govops.network.remediation.templates import Fix, MissingVariable, UnsafeValue, render, variables
from govops.network.results import DeviceResult


@dataclass(frozen=True)
class Syntax:
    """How a platform enters configuration mode, leaves it and saves the configuration."""

    enter: str
    leave: str
    save: str
    show_config: str
    error: str  # a line of the device's answer that starts like this is a rejection


SYNTAX: dict[str, Syntax] = {
    "huawei_vrp": Syntax("system-view", "return", "save", "display current-configuration", r"^\s*Error:"),
    "hp_comware": Syntax("system-view", "return", "save", "display current-configuration", r"^\s*%"),
    "cisco_ios": Syntax("configure terminal", "end", "write memory", "show running-config", r"^\s*%"),
}


@dataclass
class PlanItem:
    rule: str
    status: str  # planned | manual | no_fix | skipped
    reason: str | None = None
    lines: list[str] = field(default_factory=list)
    undo: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "status": self.status, "reason": self.reason, "lines": self.lines, "undo": self.undo}


@dataclass
class DevicePlan:
    hostname: str
    platform: str
    site: str
    county: str | None
    level: str
    items: list[PlanItem] = field(default_factory=list)

    @property
    def planned(self) -> list[PlanItem]:
        return [i for i in self.items if i.status == "planned"]

    def session_lines(self) -> list[str]:
        """Everything that would be typed on the device, in its own syntax (empty: nothing to send)."""
        planned = self.planned
        if not planned:
            return []
        s = SYNTAX[self.platform]
        return [s.enter, *(line for i in planned for line in i.lines), s.leave, s.save]

    def rollback_lines(self, items: Sequence[PlanItem]) -> list[str]:
        """The inverse of ``items`` (the latest first), framed for the device, then a save."""
        s = SYNTAX[self.platform]
        return [s.enter, *(line for i in reversed(items) for line in i.undo), s.leave, s.save]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "platform": self.platform,
            "site": self.site,
            "county": self.county,
            "level": self.level,
            "items": [i.to_dict() for i in self.items],
            "session": self.session_lines(),
        }


def fixable_rules(fixes: Mapping[str, Fix]) -> list[str]:
    return sorted(r for r, f in fixes.items() if f.platforms)


def check_rules(rules: Iterable[str], fixes: Mapping[str, Fix], known_rules: Iterable[str]) -> list[str]:
    """``--rules``: every id must be a known rule; the ones without an automatic fix are named."""
    wanted = [r.strip() for r in rules if r.strip()]
    known = set(known_rules)
    unknown = [r for r in wanted if r not in known]
    if unknown:
        raise InputError(
            Msg("err.net.unknown_rules", rules=", ".join(unknown)),
            hint=Msg("err.net.hint_fixable", rules=", ".join(fixable_rules(fixes))),
        )
    return wanted


def build_plans(
    results: Iterable[DeviceResult],
    devices: Mapping[str, Device],
    fixes: Mapping[str, Fix],
    rules: Sequence[str] | None,
    lang: str = "en",
    defaults_data: Mapping[str, Any] | None = None,
) -> list[DevicePlan]:
    """A plan for each selected device that was audited ``ok`` and fails at least one selected rule."""
    plans = []
    for r in results:
        device = devices.get(r.hostname)
        if device is None or not r.ok or not device.platform:
            continue
        failing = [f.rule for f in r.failed_findings if rules is None or f.rule in rules]
        if not failing:
            continue
        plan = DevicePlan(device.hostname, device.platform, device.site.code, device.county, device.level)
        # inventory variables: defaults.yaml, then the device's groups and the device (inventory order)
        data = {**(defaults_data or {}), **device.data}
        values = variables(r.facts, data, device.hostname)
        for rule in failing:
            plan.items.append(_item(rule, fixes.get(rule), device.platform, values, lang))
        plans.append(plan)
    return plans


def _item(rule: str, fix: Fix | None, platform: str, values: Mapping[str, Any], lang: str) -> PlanItem:
    if fix is None:
        return PlanItem(rule, "no_fix", "no fix template for this rule")
    if fix.manual is not None:
        return PlanItem(rule, "manual", fix.manual.get(lang) or fix.manual["en"])
    pf = fix.platforms.get(platform)
    if pf is None:
        return PlanItem(rule, "no_fix", f"no fix for platform {platform}")
    try:
        lines = render(pf.lines, values)
        undo = render(pf.undo, values)
    except MissingVariable as exc:
        return PlanItem(rule, "skipped", f"needs variable '{exc.name}' (inventory data, or a fact the audit lacks)")
    except UnsafeValue as exc:
        return PlanItem(rule, "skipped", f"variable '{exc.name}' has a character the device would misread")
    if not lines:
        return PlanItem(rule, "skipped", "the variables it needs are empty lists")
    return PlanItem(rule, "planned", None, lines, undo)
