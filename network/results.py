"""Typed audit results: what the engine produces, the store keeps and the CLI and reports render.

Every model is a frozen dataclass with ``to_dict()`` (the exact shape of the ``govops.net.audit/1``
JSON and of the store's result rows, key for key and in the same order) and ``from_dict()``
(which also reads results stored by older versions: titles as one string, no ``pack``, no
``readiness``). Readers use attributes, never literal keys; one module owns the keys.

The roll-up (:class:`Rollup`: the city, per level, per county) is computed here once and rendered
by ``net audit``, ``report audit`` and the metrics exporter, so their figures cannot disagree.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from govops.network.collectors.base import Status

FindingStatus = Literal["pass", "fail", "not_applicable"]
EvidenceSource = Literal["ssh", "snmp", "snmp-probe"]
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Output:
    """A command (or the SNMP walk) a finding read, with the hash of what the device returned."""

    command: str
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Output:
        return cls(str(data.get("command", "")), str(data.get("sha256", "")))


@dataclass(frozen=True)
class FindingEvidence:
    """Why a rule decided as it did: the facts it read and where they came from.

    ``facts`` is None for a rule that was not evaluated at all (not for this platform, a source
    missing); the JSON then has an empty ``evidence`` object, as before.
    """

    facts: Mapping[str, Any] | None = None
    commands: tuple[str, ...] = ()
    snmp_objects: tuple[str, ...] = ()
    offending: tuple[Any, ...] = ()  # the items (interfaces, users, ...) that fail the check
    outputs: tuple[Output, ...] = ()  # set by the engine from the device's evidence

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.facts is not None:
            out["facts"] = self.facts
        if self.commands:
            out["commands"] = list(self.commands)
        if self.snmp_objects:
            out["snmp_objects"] = list(self.snmp_objects)
        if self.offending:
            out["offending"] = list(self.offending)
        if self.outputs:
            out["outputs"] = [o.to_dict() for o in self.outputs]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> FindingEvidence:
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            data.get("facts"),
            tuple(data.get("commands", ())),
            tuple(data.get("snmp_objects", ())),
            tuple(data.get("offending", ())),
            tuple(Output.from_dict(o) for o in data.get("outputs", ()) if isinstance(o, Mapping)),
        )


@dataclass(frozen=True)
class Finding:
    """One rule's result on one device."""

    rule: str
    pack: str
    title: Mapping[str, str] | str  # {lang: text} from rule files; one string in older runs
    severity: str
    status: FindingStatus
    reason: str | None = None  # why not applicable
    readiness: bool = True  # counts for the IPv6 readiness index (ipv6 pack)
    evidence: FindingEvidence = field(default_factory=FindingEvidence)

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def counts_for_readiness(self) -> bool:
        return self.pack == "ipv6" and self.readiness

    def title_in(self, lang: str) -> str:
        if isinstance(self.title, Mapping):
            return str(self.title.get(lang) or self.title.get("en") or next(iter(self.title.values()), ""))
        return str(self.title or "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "pack": self.pack,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "reason": self.reason,
            "readiness": self.readiness,
            "evidence": self.evidence.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        rule = str(data["rule"])
        return cls(
            rule,
            str(data.get("pack") or rule.split(".", maxsplit=1)[0]),
            data.get("title", ""),
            str(data.get("severity", "low")),
            cast(FindingStatus, data.get("status", "not_applicable")),
            data.get("reason"),
            bool(data.get("readiness", True)),
            FindingEvidence.from_dict(data.get("evidence")),
        )


@dataclass(frozen=True)
class Evidence:
    """What was collected from a device, by hash: an SSH command's output, the SNMP walk, the
    default-community probe. ``at``: when it was in (for the report's evidence appendix)."""

    source: EvidenceSource
    transport: str | None = None  # snmp: udp or udp6
    command: str | None = None  # ssh: the command; snmp-probe: what was asked
    values: int | None = None  # snmp: how many values came back
    sha256: str | None = None
    answered: bool | None = None  # snmp-probe: whether a default community was answered
    at: str | None = None

    @classmethod
    def ssh(cls, command: str, sha256: str, at: str) -> Evidence:
        return cls("ssh", command=command, sha256=sha256, at=at)

    @classmethod
    def snmp(cls, transport: str, values: int, sha256: str, at: str) -> Evidence:
        return cls("snmp", transport=transport, values=values, sha256=sha256, at=at)

    @classmethod
    def probe(cls, command: str, answered: bool) -> Evidence:
        return cls("snmp-probe", command=command, answered=answered)

    def to_dict(self) -> dict[str, Any]:
        # field order is the JSON's key order of each source; unset fields are not written
        return {k: v for k in self.__dataclass_fields__ if (v := getattr(self, k)) is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeviceResult:
    """One device's audit: its status (one per device, always), what was collected, the findings."""

    hostname: str
    site: str
    county: str | None
    level: str
    platform: str | None
    status: Status
    reason: str | None
    collected: Mapping[str, str] = field(default_factory=dict)  # ssh/snmp -> ok | failed | not_applicable
    facts: Mapping[str, Any] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    ipv6_ready: bool | None = None
    duration_s: float = 0.0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "site": self.site,
            "county": self.county,
            "level": self.level,
            "platform": self.platform,
            "status": self.status,
            "reason": self.reason,
            "collected": dict(self.collected),
            "facts": self.facts,
            "findings": [f.to_dict() for f in self.findings],
            "evidence": [e.to_dict() for e in self.evidence],
            "ipv6_ready": self.ipv6_ready,
            "duration_s": self.duration_s,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceResult:
        return cls(
            str(data["hostname"]),
            str(data.get("site", "")),
            data.get("county"),
            str(data.get("level", "")),
            data.get("platform"),
            cast(Status, data.get("status", "error")),
            data.get("reason"),
            dict(data.get("collected") or {}),
            dict(data.get("facts") or {}),
            tuple(Finding.from_dict(f) for f in data.get("findings") or () if isinstance(f, Mapping)),
            tuple(Evidence.from_dict(e) for e in data.get("evidence") or () if isinstance(e, Mapping)),
            data.get("ipv6_ready"),
            float(data.get("duration_s", 0.0)),
            int(data.get("attempts", 0)),
        )


def ipv6_ready(status: Status, findings: Iterable[Finding]) -> bool | None:
    """Ready when every readiness rule that applied passed; None when not assessed."""
    assessed = [f for f in findings if f.counts_for_readiness and f.status != "not_applicable"]
    if status != "ok" or not assessed:
        return None
    return all(f.status == "pass" for f in assessed)


@dataclass(frozen=True)
class AuditSummary:
    """A run's (or a group's) figures: devices per status, failed checks per severity, the index."""

    devices: int
    status: Mapping[str, int]
    findings_by_severity: Mapping[str, int]
    ipv6_ready: int
    ipv6_assessed: int
    ipv6_ready_pct: float | None

    @property
    def ok(self) -> int:
        return self.status.get("ok", 0)

    @property
    def not_audited(self) -> int:
        return self.devices - self.ok

    @classmethod
    def of(cls, results: Sequence[DeviceResult]) -> AuditSummary:
        by_status: Counter[str] = Counter(r.status for r in results)
        severities = Counter(f.severity for r in results for f in r.findings if f.failed)
        assessed = [r for r in results if r.ipv6_ready is not None]
        ready = sum(1 for r in assessed if r.ipv6_ready)
        return cls(
            len(results),
            dict(by_status),
            dict(severities),
            ready,
            len(assessed),
            round(100 * ready / len(assessed), 1) if assessed else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "status": dict(self.status),
            "findings_by_severity": dict(self.findings_by_severity),
            "ipv6_ready": self.ipv6_ready,
            "ipv6_assessed": self.ipv6_assessed,
            "ipv6_ready_pct": self.ipv6_ready_pct,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditSummary:
        return cls(
            int(data.get("devices", 0)),
            dict(data.get("status") or {}),
            dict(data.get("findings_by_severity") or {}),
            int(data.get("ipv6_ready", 0)),
            int(data.get("ipv6_assessed", 0)),
            data.get("ipv6_ready_pct"),
        )


def group_summary(results: Sequence[DeviceResult], key: Callable[[DeviceResult], str]) -> dict[str, AuditSummary]:
    """One summary per group, the groups in key order."""
    groups: dict[str, list[DeviceResult]] = defaultdict(list)
    for r in results:
        groups[key(r)].append(r)
    return {k: AuditSummary.of(v) for k, v in sorted(groups.items())}


@dataclass(frozen=True)
class Rollup:
    """The city's summary and the same per administrative level and per county (``""``: devices of
    no county, the city's own), plus the devices with a failed check per severity."""

    city: AuditSummary
    by_level: Mapping[str, AuditSummary]
    by_county: Mapping[str, AuditSummary]
    devices_by_severity: Mapping[str, int]

    @classmethod
    def of(cls, results: Sequence[DeviceResult]) -> Rollup:
        affected: Counter[str] = Counter()
        for r in results:
            affected.update({f.severity for f in r.failed_findings})
        return cls(
            AuditSummary.of(results),
            group_summary(results, lambda r: r.level),
            group_summary(results, lambda r: r.county or ""),
            dict(affected),
        )
