"""Fix templates: per rule and platform, the configuration lines that fix it and those that undo it.

Fixes are data (YAML, like the rules): nothing is executed, and a template can only place
variables into its lines. Variables come from the device's audited facts (``uplink``,
``uplink_ipv6_gateway``, ``hostname``) and from the inventory's ``data`` (the device's, its
groups', ``defaults.yaml``'s): nothing is invented. A variable that is a list repeats its line
once per item (an empty list drops the line); ``X_ipv4``/``X_ipv6`` are the IPv4/IPv6 items of
a list of addresses ``X``. A value with a control character or one of ``" % # ^ ?`` is refused:
it could end a banner, open help or inject a second line on the device.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from govops.errors import Location, Problem, ValidationFailed
from govops.i18n import Msg
from govops.yamlio import Located, load, loads

PLATFORMS = ("huawei_vrp", "hp_comware", "cisco_ios")
_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"%#^?]")


@dataclass(frozen=True)
class PlatformFix:
    lines: tuple[str, ...]
    undo: tuple[str, ...]


@dataclass(frozen=True)
class Fix:
    rule: str
    source: str  # file:line, for messages
    description: dict[str, str] = field(default_factory=dict)
    platforms: dict[str, PlatformFix] = field(default_factory=dict)
    manual: dict[str, str] | None = None  # why the rule stays manual (en/zh)


class MissingVariable(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class UnsafeValue(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def builtin_fix_files() -> list[tuple[str, str]]:
    root = resources.files("govops.network.remediation.fixes")
    return sorted(
        (f"govops/network/remediation/fixes/{p.name}", p.read_text(encoding="utf-8"))
        for p in root.iterdir()
        if p.name.endswith(".yaml")
    )


def load_fixes(extra_files: Iterable[Path] = (), known_rules: Iterable[str] | None = None) -> dict[str, Fix]:
    """Shipped fixes, then each extra file (a later file's fix for a rule replaces the shipped one)."""
    docs = [loads(text, name) for name, text in builtin_fix_files()]
    docs += [load(p) for p in extra_files]
    known = set(known_rules) if known_rules is not None else None
    problems: list[Problem] = []
    out: dict[str, Fix] = {}
    for doc in docs:
        for fix in _parse(doc, known, problems):
            out[fix.rule] = fix
    if problems:
        raise ValidationFailed(problems)
    return out


def _parse(doc: Located, known: set[str] | None, problems: list[Problem]) -> list[Fix]:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("fixes"), list):
        problems.append(Problem(Msg("err.fixes.not_mapping"), doc.location(("fixes",))))
        return []
    out = []
    for k, item in enumerate(data["fixes"]):
        path: tuple[str | int, ...] = ("fixes", k)
        where = doc.location(path)
        source = f"{where.file}:{where.line}"
        if not isinstance(item, dict) or not isinstance(item.get("rule"), str):
            problems.append(Problem(Msg("err.fixes.needs_rule"), where))
            continue
        unknown_keys = set(item) - {"rule", "description", "platforms", "manual"}
        for key in sorted(unknown_keys):
            problems.append(Problem(Msg("err.fixes.unknown_key", key=key), doc.location((*path, key))))
        rule = item["rule"]
        if known is not None and rule not in known:
            problems.append(Problem(Msg("err.fixes.unknown_rule", rule=rule), doc.location((*path, "rule"))))
        manual = item.get("manual")
        platforms = item.get("platforms")
        if (manual is None) == (platforms is None):
            problems.append(Problem(Msg("err.fixes.platforms_or_manual"), where))
            continue
        if manual is not None:
            if not _texts(manual):
                problems.append(Problem(Msg("err.fixes.manual_texts"), doc.location((*path, "manual"))))
                continue
            out.append(Fix(rule, source, _texts(item.get("description")) or {}, {}, dict(manual)))
            continue
        if not isinstance(platforms, dict) or not platforms:
            problems.append(Problem(Msg("err.fixes.platforms_mapping"), doc.location((*path, "platforms"))))
            continue
        fixes: dict[str, PlatformFix] = {}
        for name, spec in platforms.items():
            ppath = (*path, "platforms", name)
            if name not in PLATFORMS:
                problems.append(
                    Problem(
                        Msg("err.fixes.unknown_platform", name=name, choices=", ".join(PLATFORMS)),
                        doc.location(ppath),
                    )
                )
                continue
            lines = spec.get("lines") if isinstance(spec, dict) else None
            undo = spec.get("undo") if isinstance(spec, dict) else None
            if not _line_list(lines):
                problems.append(Problem(Msg("err.fixes.lines"), doc.location((*ppath, "lines"))))
                continue
            if not _line_list(undo):
                # without an inverse a failed push could not be rolled back: such a fix stays manual
                problems.append(Problem(Msg("err.fixes.undo"), doc.location((*ppath, "undo"))))
                continue
            fixes[name] = PlatformFix(tuple(lines), tuple(undo))  # type: ignore[arg-type]
        out.append(Fix(rule, source, _texts(item.get("description")) or {}, fixes, None))
    return out


def _texts(value: Any) -> dict[str, str] | None:
    if isinstance(value, str):
        return {"en": value, "zh": value}
    if isinstance(value, dict) and all(isinstance(value.get(k), str) for k in ("en", "zh")):
        return {"en": value["en"], "zh": value["zh"]}
    return None


def _line_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(x, str) and "\n" not in x for x in value)


# -- variables -------------------------------------------------------------------------------
def variables(facts: Mapping[str, Any], data: Mapping[str, Any], hostname: str) -> dict[str, Any]:
    """What a template may read for one device: inventory ``data`` first, then facts-derived names.

    ``uplink_ipv6_gateway``: the inventory's ``ipv6_gateway`` when set; else the first address of
    the uplink's IPv6 prefix when the device itself is not that address (the upstream end of a
    point-to-point link by the addressing convention), or the other address of a /127.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            out[key] = str(value)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[key] = list(value)
            addrs = [_address(v) for v in value]
            if all(a is not None for a in addrs):
                out[f"{key}_ipv4"] = [str(a) for a in addrs if a is not None and a.version == 4]
                out[f"{key}_ipv6"] = [str(a) for a in addrs if a is not None and a.version == 6]
    out["hostname"] = hostname
    uplink = next((i for i in facts.get("interfaces") or [] if i.get("role") == "uplink"), None)
    if uplink is not None:
        out["uplink"] = uplink["name"]
        if uplink.get("ipv6"):
            out["uplink_ipv6"] = uplink["ipv6"][0]
    gw = data.get("ipv6_gateway")
    if isinstance(gw, str):
        out["uplink_ipv6_gateway"] = gw
    elif uplink is not None and uplink.get("ipv6"):
        derived = _upstream(uplink["ipv6"][0])
        if derived is not None:
            out["uplink_ipv6_gateway"] = derived
    return out


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _upstream(prefixed: str) -> str | None:
    try:
        iface = ipaddress.IPv6Interface(prefixed)
    except ValueError:
        return None
    net = iface.network
    if net.prefixlen == 128:
        return None
    if net.prefixlen == 127:
        other = net.network_address if iface.ip != net.network_address else net.network_address + 1
        return str(other)
    first = net.network_address + 1
    return None if iface.ip == first else str(first)


def render(lines: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """The template's lines with the variables filled; raises MissingVariable / UnsafeValue."""
    out: list[str] = []
    for line in lines:
        names = _VAR.findall(line)
        lists = [n for n in names if isinstance(values.get(n), list)]
        for n in names:
            if n not in values:
                raise MissingVariable(n)
        if len(set(lists)) > 1:
            raise MissingVariable(f"{'/'.join(sorted(set(lists)))} (one list per line)")
        items: list[Any] = values[lists[0]] if lists else [None]
        for item in items:

            def fill(m: re.Match[str], item: Any = item) -> str:
                name = m.group(1)
                value = item if isinstance(values[name], list) else values[name]
                text = str(value)
                if _UNSAFE.search(text) or text != text.strip() or not text:
                    raise UnsafeValue(name)
                return text

            out.append(_VAR.sub(fill, line))
    return out


def location_of(fix: Fix) -> Location:
    file, _, line = fix.source.rpartition(":")
    return Location(file, int(line) if line.isdigit() else None)
