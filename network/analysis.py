"""``DefaultAnalyzer``: the audit engine's parsers and rules (implements ``audit.Analyzer``).

Facts from the two sources are merged field by field: the CLI (what is configured) wins, SNMP
fills what the CLI did not show (an interface's link-local address, sysDescr), and the rules read
the merged facts, or one source explicitly (``ssh.x``, ``snmp.x``) for the cross-check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from govops.network.facts import DeviceFacts, InterfaceFacts
from govops.network.inventory import Device
from govops.network.parsers import SNMP_GET, SNMP_WALK, command_set, commands_for, facts_from_snmp, parse_cli
from govops.network.parsers.common import ifname_key
from govops.network.parsers.snmp import IP_NET_TO_PHYSICAL_STATE
from govops.network.results import Finding, FindingEvidence, FindingStatus
from govops.network.rules.engine import Rule, evaluate, fact_roots, load_rules, resolve

# Facts the engine adds next to the device's own (see AuditEngine._device).
ENGINE_FACTS = {"mgmt_ipv6_configured", "mgmt_ipv6_ssh", "mgmt_ipv6_snmp"}
# Facts computed here from the others, so rules stay one comparison long.
DERIVED_FACTS = {"ipv6_addresses", "ipv4_addresses", "ipv6_enabled"}
DEVICE_FIELDS = {"hostname", "platform", "role", "level", "county", "site", "mgmt_ipv4", "mgmt_ipv6"}
DEVICE_FIELDS |= {"ssh", "snmp", "snmp_version"}  # ssh: the device is audited over SSH at all
INTERFACE_FIELDS = {f.name for f in dataclasses.fields(InterfaceFacts)}


def known_facts() -> dict[str, set[str]]:
    """What a rule may read, for validating rule files: per scope, the names that exist."""
    facts = {f.name for f in dataclasses.fields(DeviceFacts)} | DERIVED_FACTS
    return {
        "facts": facts,
        "extra": ENGINE_FACTS,
        "device": DEVICE_FIELDS,
        "interfaces": INTERFACE_FIELDS,
        "snmpv3_users": set(),
        "ntp_servers": set(),
        "syslog_hosts": set(),
        "item": set(),
    }


# Which command (by its key in parsers.commands) or SNMP object shows each fact: the evidence.
_FACT_COMMANDS: dict[str, tuple[str, ...]] = {
    "hostname": ("config", "version"),
    "os_version": ("version",),
    "interfaces": ("config", "ipv4_brief", "ipv6_brief"),
    "ipv6_addresses": ("config", "ipv6_brief"),
    "ipv4_addresses": ("config", "ipv4_brief"),
    "ipv6_enabled": ("config", "ipv6_brief"),
    "ipv6_default_route": ("ipv6_routes",),
    "ipv6_neighbors_uplink": ("ipv6_neighbors", "ipv6_routes", "config"),
    "telnet_enabled": ("config", "telnet_status"),
    "http_enabled": ("config", "http_status"),
    "snmp_default_community": ("config", "snmp_communities"),
    "snmpv3_users": ("config", "snmp_users"),
}
_FACT_OIDS: dict[str, tuple[str, ...]] = {
    "hostname": ("sysName",),
    "sys_descr": ("sysDescr",),
    "sys_object_id": ("sysObjectID",),
    "os_version": ("sysDescr",),
    "interfaces": ("ifDescr", "ifAdminStatus", "ifOperStatus", "ipAddressIfIndex", "ipAddressPrefix"),
    "ipv6_addresses": ("ipAddressIfIndex", "ipAddressPrefix"),
    "ipv4_addresses": ("ipAddressIfIndex", "ipAdEntIfIndex"),
    "ipv6_enabled": ("ipAddressIfIndex",),
    "ipv6_forwarding": ("ipv6IpForwarding", "ipv6InterfaceForwarding"),
    "ipv6_default_route": ("inetCidrRouteIfIndex ::/0",),
    "ipv4_default_route": ("inetCidrRouteIfIndex 0.0.0.0/0",),
    "ipv6_neighbors_uplink": ("ipNetToPhysicalState",),
}


def _with_derived(facts: dict[str, Any]) -> dict[str, Any]:
    return facts | _derived(facts)


def _derived(facts: dict[str, Any]) -> dict[str, Any]:
    ifs = facts.get("interfaces") or []
    v6 = sorted({a for i in ifs for a in i.get("ipv6", [])})
    v4 = sorted({a for i in ifs for a in i.get("ipv4", [])})
    enabled = any(i.get("ipv6") or i.get("ipv6_link_local") for i in ifs) if ifs else None
    return {"ipv6_addresses": v6 if ifs else None, "ipv4_addresses": v4 if ifs else None, "ipv6_enabled": enabled}


def merge_facts(ssh: DeviceFacts | None, snmp: DeviceFacts | None) -> DeviceFacts:
    """SSH facts completed by SNMP: a field is taken from SNMP only when SSH left it unknown."""
    if ssh is None:
        return snmp if snmp is not None else DeviceFacts()
    if snmp is None:
        return ssh
    merged = dataclasses.replace(ssh)
    for f in dataclasses.fields(DeviceFacts):
        if f.name != "interfaces" and getattr(merged, f.name) is None:
            setattr(merged, f.name, getattr(snmp, f.name))
    by_key = {ifname_key(i.name): i for i in snmp.interfaces}
    interfaces = []
    for i in ssh.interfaces:
        s = by_key.get(ifname_key(i.name))
        if s is None:
            interfaces.append(i)
            continue
        interfaces.append(
            dataclasses.replace(
                i,
                admin_up=i.admin_up if i.admin_up is not None else s.admin_up,
                oper_up=i.oper_up if i.oper_up is not None else s.oper_up,
                # the CLI briefs of VRP/Comware print the global address only
                ipv6_link_local=i.ipv6_link_local or s.ipv6_link_local,
            )
        )
    merged.interfaces = interfaces
    return merged


class DefaultAnalyzer:
    """Parsers plus the shipped rule packs and any extra rule files (``network.rules``)."""

    def __init__(self, extra_rule_files: Iterable[Path] = (), rules: Sequence[Rule] | None = None) -> None:
        self.rules: list[Rule] = list(rules) if rules is not None else load_rules(extra_rule_files, known_facts())

    def packs(self) -> list[str]:
        return sorted({r.pack for r in self.rules})

    # -- collection plan and parsing ---------------------------------------------------------
    def commands(self, platform: str) -> list[str]:
        return commands_for(platform)

    def snmp_plan(self) -> tuple[list[str], list[str]]:
        # the whole IPv6 neighbour table in the first round: one round trip less than walking
        # per uplink after the routes are known, and small on access devices
        return list(SNMP_GET.values()), [*SNMP_WALK.values(), IP_NET_TO_PHYSICAL_STATE]

    def facts_from_cli(self, platform: str, outputs: dict[str, str]) -> DeviceFacts:
        return parse_cli(platform, outputs)

    def facts_from_snmp(self, values: dict[str, Any]) -> DeviceFacts:
        return facts_from_snmp(values)

    # -- rules -------------------------------------------------------------------------------
    def evaluate(
        self,
        device: Device,
        ssh: DeviceFacts | None,
        snmp: DeviceFacts | None,
        extra: dict[str, Any],
        checks: Sequence[str],
    ) -> tuple[dict[str, Any], list[Finding]]:
        merged = _with_derived(merge_facts(ssh, snmp).to_dict())
        ssh_d = None if ssh is None else _with_derived(ssh.to_dict())
        snmp_d = None if snmp is None else _with_derived(snmp.to_dict())
        dev = {
            "hostname": device.hostname,
            "platform": device.platform,
            "role": device.role,
            "level": device.level,
            "county": device.county,
            "site": device.site.code,
            "mgmt_ipv4": device.mgmt_ipv4,
            "mgmt_ipv6": device.mgmt_ipv6,
            "ssh": device.ssh is not None and command_set(device.platform or "") != (),
            "snmp": device.snmp is not None,
            "snmp_version": device.snmp.version if device.snmp else None,
        }
        ctx: dict[str, Any] = {**merged, **extra, "ssh": ssh_d, "snmp": snmp_d, "device": dev}
        findings: list[Finding] = []
        for rule in self.rules:
            if rule.pack not in checks:
                continue
            if rule.for_platform(device.platform):
                findings.append(self._finding(rule, ctx, device.platform, ssh_d, snmp_d))
            else:
                # reported, as not applicable, so every device lists the same rules
                findings.append(_result(rule, "not_applicable", f"not a rule for platform {device.platform}"))
        findings.sort(key=lambda f: f.rule)
        return {**merged, **extra}, findings

    def _finding(
        self,
        rule: Rule,
        ctx: dict[str, Any],
        platform: str | None,
        ssh: dict[str, Any] | None,
        snmp: dict[str, Any] | None,
    ) -> Finding:
        missing = _missing_source(rule.needs, ssh, snmp, ctx["device"])
        if missing:
            return _result(rule, "not_applicable", missing)
        reads = sorted(set(rule.reads) | fact_roots(rule.check) | fact_roots(rule.applies))
        evidence = _evidence(reads, ctx, platform, ssh, snmp)
        if rule.applies is not None:
            a = evaluate(rule.applies, ctx, ctx)
            if a.value is not True:
                why = "does not apply" if a.value is False else f"unknown: {', '.join(sorted(a.unknown))}"
                return _result(rule, "not_applicable", why, evidence)
        out = evaluate(rule.check, ctx, ctx)
        if out.value is None:
            return _result(rule, "not_applicable", f"not collected: {', '.join(sorted(out.unknown))}", evidence)
        if out.offending:
            evidence = dataclasses.replace(evidence, offending=tuple(sorted(set(out.offending))))
        return _result(rule, "pass" if out.value else "fail", None, evidence)


def _missing_source(needs: str, ssh: Any, snmp: Any, dev: dict[str, Any]) -> str | None:
    if needs in ("ssh", "both") and ssh is None:
        return "needs SSH facts: " + ("device is audited by SNMP alone" if not dev["ssh"] else "SSH collection failed")
    if needs in ("snmp", "both") and snmp is None:
        return "needs SNMP facts: " + ("device has no SNMP profile" if not dev["snmp"] else "SNMP collection failed")
    if needs == "any" and ssh is None and snmp is None:
        return "no facts collected"
    return None


def _evidence(reads: list[str], ctx: dict[str, Any], platform: str | None, ssh: Any, snmp: Any) -> FindingEvidence:
    values = {p: resolve(p, ctx, ctx) for p in reads if p != "interfaces"}
    commands: set[str] = set()
    oids: set[str] = set()
    cmd_by_key = {c.key: c.cli for c in command_set(platform or "")}
    for p in reads:
        source, _, name = p.partition(".")
        if source not in ("ssh", "snmp"):
            name, source = p, "ssh" if ssh is not None and ssh.get(p) is not None else "snmp"
        root = name.split(".")[0]
        if source == "ssh" and ssh is not None:
            commands |= {cmd_by_key[k] for k in _FACT_COMMANDS.get(root, ("config",)) if k in cmd_by_key}
        elif source == "snmp" and snmp is not None and root in _FACT_OIDS:
            oids |= set(_FACT_OIDS[root])
    return FindingEvidence(values, tuple(sorted(commands)), tuple(sorted(oids)))


def _result(rule: Rule, status: FindingStatus, reason: str | None, evidence: FindingEvidence | None = None) -> Finding:
    return Finding(
        rule.id, rule.pack, rule.title, rule.severity, status, reason, rule.readiness, evidence or FindingEvidence()
    )
