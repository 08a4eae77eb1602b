"""Rules as data: YAML rule packs, a small declarative condition language, and its evaluator.

A rule pack is a YAML file (see ``ipv6.yaml`` next to this module, and the docs page
``docs/guides/network/writing-rules.md``). Conditions are nested mappings built from a fixed
operator vocabulary; nothing in a rule file is ever executed, so an engineer can add a rule
without touching Python and without being able to run code on the audit host.

Logic is three-valued: a fact that was not collected is ``None`` (unknown), and a comparison
against an unknown fact is unknown, not false. ``all``/``any``/``not`` follow Kleene's rules, so
``any: [known true, unknown]`` is true and ``all: [known false, unknown]`` is false. A rule whose
check ends unknown is reported ``not_applicable`` with the unknown facts named, never as a pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from govops.errors import Location, Problem, ValidationFailed
from govops.i18n import Msg, Text
from govops.yamlio import KeyPath, Located, load, loads

SEVERITIES = ("critical", "high", "medium", "low", "info")
NEEDS = ("any", "ssh", "snmp", "both")
COMPARISONS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "lt",
    "le",
    "gt",
    "ge",
    "contains",
    "not_contains",
    "matches",
    "empty",
    "known",
    "eq_fact",
)
COMBINATORS = ("all", "any", "not")
QUANTIFIERS = ("every", "some", "none", "count")
RULE_KEYS = {
    "id",
    "title",
    "severity",
    "platforms",
    "needs",
    "reads",
    "applies",
    "check",
    "readiness",
    "fix",
    "description",
}
ITEM_PREFIX = "$."  # inside every/some/none/count: a path into the whole device, not the item


@dataclass(frozen=True)
class Rule:
    id: str
    pack: str
    title: dict[str, str]
    severity: str
    platforms: tuple[str, ...]
    needs: str
    reads: tuple[str, ...]
    check: Any
    applies: Any = None
    readiness: bool = True
    fix: dict[str, str] = field(default_factory=dict)
    source: str = ""  # file:line where the rule is defined

    def for_platform(self, platform: str | None) -> bool:
        return "*" in self.platforms or (platform is not None and platform in self.platforms)


@dataclass
class Outcome:
    """The result of one condition: True/False/None (unknown) plus what explains it."""

    value: bool | None
    unknown: set[str] = field(default_factory=set)  # facts that were not collected
    offending: list[str] = field(default_factory=list)  # items (interfaces...) that broke a quantifier


# -- loading and validating ------------------------------------------------------------------------
class _Checker:
    """Validates one file's rules, collecting every problem with its line."""

    def __init__(self, doc: Located, known_facts: Mapping[str, set[str]]) -> None:
        self.doc = doc
        self.known = known_facts
        self.problems: list[Problem] = []

    def problem(self, path: KeyPath, message: Text) -> None:
        self.problems.append(Problem(message, self.doc.location(path)))

    def text_map(self, value: Any, path: KeyPath, name: str, required: bool) -> dict[str, str]:
        if value is None and not required:
            return {}
        if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
            self.problem(path, Msg("err.rules.text_map", name=name))
            return {}
        if required and "en" not in value:
            self.problem(path, Msg("err.rules.text_en", name=name))
        return {str(k): str(v) for k, v in value.items()}

    def fact_path(self, value: Any, path: KeyPath, scope: str | None) -> None:
        """A fact path must start at a known fact (or, in a quantifier, a field of the item)."""
        if not isinstance(value, str) or not value:
            self.problem(path, Msg("err.rules.fact_name"))
            return
        root_scope: str | None = scope
        text = value
        if text.startswith(ITEM_PREFIX):
            text, root_scope = text[len(ITEM_PREFIX) :], None
        parts = text.split(".")
        if root_scope is None:
            if parts[0] in ("ssh", "snmp") and len(parts) > 1:
                parts = parts[1:]
                names = self.known["facts"]
            elif parts[0] == "device" and len(parts) > 1:
                parts, names = parts[1:], self.known["device"]
            else:
                names = self.known["facts"] | self.known["extra"]
        else:
            names = self.known.get(root_scope, set())
        if names and parts[0] not in names:
            where = f"fields of {root_scope}" if root_scope else "facts"
            self.problem(path, Msg("err.rules.unknown_fact", value=value, where=where, names=", ".join(sorted(names))))

    def condition(self, cond: Any, path: KeyPath, scope: str | None = None) -> None:
        if not isinstance(cond, dict) or not cond:
            self.problem(path, Msg("err.rules.condition_mapping"))
            return
        keys = set(cond)
        ops = keys & set(COMBINATORS)
        quants = keys & set(QUANTIFIERS)
        if ops:
            if len(keys) != 1:
                self.problem(path, Msg("err.rules.only_key", ops=next(iter(ops))))
                return
            op = next(iter(ops))
            sub = cond[op]
            if op == "not":
                self.condition(sub, (*path, "not"), scope)
            elif not isinstance(sub, list) or not sub:
                self.problem((*path, op), Msg("err.rules.op_list", op=op))
            else:
                for i, c in enumerate(sub):
                    self.condition(c, (*path, op, i), scope)
            return
        if quants:
            q = next(iter(quants))
            allowed = {q, "where", "check"} if q != "count" else {q, "where", *COMPARISONS} - {"eq_fact", "known"}
            extra = keys - allowed
            if len(quants) != 1 or extra:
                self.problem(path, Msg("err.rules.unexpected_keys", keys=sorted(extra or quants), q=q))
                return
            self.fact_path(cond[q], (*path, q), scope)
            item = str(cond[q]).split(".")[-1] if isinstance(cond[q], str) else ""
            item_scope = item if item in self.known else "item"
            if "where" in cond:
                self.condition(cond["where"], (*path, "where"), item_scope)
            if q == "count":
                cmps = [k for k in keys if k in COMPARISONS]
                if len(cmps) != 1 or not isinstance(cond[cmps[0]], int) or isinstance(cond[cmps[0]], bool):
                    self.problem(path, Msg("err.rules.count_comparison"))
            elif "check" not in cond:
                self.problem(path, Msg("err.rules.needs_check", q=q))
            else:
                self.condition(cond["check"], (*path, "check"), item_scope)
            return
        if "fact" not in keys:
            ops_list = ", ".join((*COMBINATORS, *QUANTIFIERS, "fact"))
            self.problem(path, Msg("err.rules.unknown_ops", keys=sorted(keys), ops_list=ops_list))
            return
        self.fact_path(cond["fact"], (*path, "fact"), scope)
        cmps = [k for k in keys - {"fact"}]
        if len(cmps) != 1 or cmps[0] not in COMPARISONS:
            self.problem(path, Msg("err.rules.one_comparison", choices=", ".join(COMPARISONS)))
            return
        op, arg = cmps[0], cond[cmps[0]]
        if op in ("in", "not_in") and not isinstance(arg, list):
            self.problem((*path, op), Msg("err.rules.takes_list", op=op))
        elif op in ("lt", "le", "gt", "ge") and (not isinstance(arg, int | float) or isinstance(arg, bool)):
            self.problem((*path, op), Msg("err.rules.takes_number", op=op))
        elif op in ("empty", "known") and not isinstance(arg, bool):
            self.problem((*path, op), Msg("err.rules.takes_bool", op=op))
        elif op == "matches":
            try:
                re.compile(str(arg))
            except re.error as exc:
                self.problem((*path, op), Msg("err.rules.regex", exc=exc))
        elif op == "eq_fact":
            self.fact_path(arg, (*path, op), scope)

    def rule(self, raw: Any, index: int, pack: str) -> Rule | None:
        path: KeyPath = ("rules", index)
        if not isinstance(raw, dict):
            self.problem(path, Msg("err.rules.rule_mapping"))
            return None
        before = len(self.problems)
        for k in sorted(set(raw) - RULE_KEYS):
            self.problem((*path, k), Msg("err.rules.unknown_rule_key", k=k, allowed=", ".join(sorted(RULE_KEYS))))
        for k in ("id", "title", "severity", "check"):
            if k not in raw:
                self.problem(path, Msg("err.rules.missing_key", k=k))
        rid = raw.get("id")
        if rid is not None and (not isinstance(rid, str) or not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", rid)):
            self.problem((*path, "id"), Msg("err.rules.id_format"))
        title = self.text_map(raw.get("title"), (*path, "title"), "title", "title" in raw)
        fix = self.text_map(raw.get("fix"), (*path, "fix"), "fix", False)
        severity = raw.get("severity")
        if "severity" in raw and severity not in SEVERITIES:
            self.problem((*path, "severity"), Msg("err.rules.severity", choices=", ".join(SEVERITIES)))
        platforms = raw.get("platforms", ["*"])
        if not isinstance(platforms, list) or not platforms or not all(isinstance(p, str) for p in platforms):
            self.problem((*path, "platforms"), Msg("err.rules.platforms"))
            platforms = ["*"]
        needs = raw.get("needs", "any")
        if needs not in NEEDS:
            self.problem((*path, "needs"), Msg("err.rules.needs", choices=", ".join(NEEDS)))
        reads = raw.get("reads", [])
        if not isinstance(reads, list) or not all(isinstance(r, str) for r in reads):
            self.problem((*path, "reads"), Msg("err.rules.reads"))
            reads = []
        for i, r in enumerate(reads):
            self.fact_path(r, (*path, "reads", i), None)
        readiness = raw.get("readiness", True)
        if not isinstance(readiness, bool):
            self.problem((*path, "readiness"), Msg("err.rules.readiness"))
        if "applies" in raw:
            self.condition(raw["applies"], (*path, "applies"))
        if "check" in raw:
            self.condition(raw["check"], (*path, "check"))
        if len(self.problems) > before:
            return None
        return Rule(
            id=str(rid),
            pack=pack,
            title=title,
            severity=str(severity),
            platforms=tuple(platforms),
            needs=str(needs),
            reads=tuple(reads),
            check=raw["check"],
            applies=raw.get("applies"),
            readiness=bool(readiness),
            fix=fix,
            source=str(self.doc.location(path)).split(" ", 1)[0],
        )


def parse_pack(text: str, file: str, known_facts: Mapping[str, set[str]]) -> list[Rule]:
    """Rules of one pack file's text; every problem found is raised together, each as file:line key."""
    return parse_doc(loads(text, file), known_facts)


def parse_doc(doc: Located, known_facts: Mapping[str, set[str]]) -> list[Rule]:
    chk = _Checker(doc, known_facts)
    data = doc.data
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(Msg("err.rules.not_mapping"), doc.location(()))])
    for k in sorted(set(data) - {"pack", "rules", "description"}):
        chk.problem((k,), Msg("err.rules.unknown_pack_key", k=k))
    pack = data.get("pack")
    if not isinstance(pack, str) or not re.fullmatch(r"[a-z0-9_]+", pack):
        chk.problem(("pack",), Msg("err.rules.pack_name"))
        pack = "?"
    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if not isinstance(raw_rules, list) or not raw_rules:
        chk.problem(("rules",), Msg("err.rules.rules_list"))
    else:
        seen: dict[str, int] = {}
        for i, raw in enumerate(raw_rules):
            rule = chk.rule(raw, i, pack)
            if rule is None:
                continue
            if rule.id in seen:
                chk.problem(("rules", i, "id"), Msg("err.rules.duplicate_rule", id=rule.id, other=seen[rule.id]))
                continue
            seen[rule.id] = i
            rules.append(rule)
    if chk.problems:
        raise ValidationFailed(chk.problems)
    return rules


def builtin_pack_files() -> list[tuple[str, str]]:
    """(display name, text) of the packs shipped in govops.network.rules, in name order."""
    root = resources.files("govops.network.rules")
    return sorted(
        (f"govops/network/rules/{p.name}", p.read_text(encoding="utf-8"))
        for p in root.iterdir()
        if p.name.endswith(".yaml")
    )


def load_rules(extra_files: Iterable[Path], known_facts: Mapping[str, set[str]]) -> list[Rule]:
    """Shipped packs, then each extra file; a rule id defined twice is an error naming both places."""
    packs = [parse_pack(text, name, known_facts) for name, text in builtin_pack_files()]
    packs += [parse_doc(load(path), known_facts) for path in extra_files]
    by_id: dict[str, Rule] = {}
    for r in (r for pack in packs for r in pack):
        if r.id in by_id:
            raise ValidationFailed(
                [Problem(Msg("err.rules.duplicate_id", id=r.id, other=by_id[r.id].source), _location(r.source))]
            )
        by_id[r.id] = r
    return list(by_id.values())


def _location(source: str) -> Location:
    file, _, line = source.rpartition(":")
    return Location(file, int(line)) if line.isdigit() else Location(source)


# -- evaluating ------------------------------------------------------------------------------------
def resolve(path: str, scope: Mapping[str, Any], root: Mapping[str, Any]) -> Any:
    """The value at a dotted ``path`` (None when any step is missing: unknown)."""
    if path.startswith(ITEM_PREFIX):
        path, scope = path[len(ITEM_PREFIX) :], root
    cur: Any = scope
    for part in path.split("."):
        if isinstance(cur, Mapping):
            cur = cur.get(part, None)
        else:
            return None
        if cur is None:
            return None
    return cur


def _kleene_all(outs: Sequence[Outcome]) -> Outcome:
    res = Outcome(True)
    for o in outs:
        res.unknown |= o.unknown
        res.offending += o.offending
    if any(o.value is False for o in outs):
        res.value = False
        res.unknown = set()  # known false: the unknowns do not matter
        res.offending = [x for o in outs if o.value is False for x in o.offending]
    elif any(o.value is None for o in outs):
        res.value = None
    return res


def _kleene_any(outs: Sequence[Outcome]) -> Outcome:
    if any(o.value is True for o in outs):
        return Outcome(True)
    res = Outcome(False)
    for o in outs:
        res.unknown |= o.unknown
        res.offending += o.offending
    if any(o.value is None for o in outs):
        res.value = None
    return res


def _compare(op: str, value: Any, arg: Any) -> bool:
    if op == "eq":
        return bool(value == arg)
    if op == "ne":
        return bool(value != arg)
    if op == "in":
        return bool(value in arg)
    if op == "not_in":
        return bool(value not in arg)
    if op == "contains":
        return bool(arg in value) if isinstance(value, list | str | dict) else False
    if op == "not_contains":
        return bool(arg not in value) if isinstance(value, list | str | dict) else True
    if op == "matches":
        return re.search(str(arg), str(value)) is not None
    if op == "empty":
        return bool((len(value) == 0 if hasattr(value, "__len__") else False) == arg)
    if op in ("lt", "le", "gt", "ge"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return bool({"lt": value < arg, "le": value <= arg, "gt": value > arg, "ge": value >= arg}[op])
    raise ValueError(op)  # pragma: no cover - validated at load time


def evaluate(cond: Any, scope: Mapping[str, Any], root: Mapping[str, Any]) -> Outcome:
    """Evaluate a validated condition against ``scope`` (the facts, or one item of a quantifier)."""
    if "all" in cond:
        return _kleene_all([evaluate(c, scope, root) for c in cond["all"]])
    if "any" in cond:
        return _kleene_any([evaluate(c, scope, root) for c in cond["any"]])
    if "not" in cond:
        o = evaluate(cond["not"], scope, root)
        return Outcome(None if o.value is None else not o.value, o.unknown)
    for q in QUANTIFIERS:
        if q in cond:
            return _quantify(q, cond, scope, root)
    path = cond["fact"]
    op = next(k for k in cond if k != "fact")
    arg = cond[op]
    value = resolve(path, scope, root)
    if op == "known":
        return Outcome((value is not None) == arg)
    if op == "eq_fact":
        # an explicit comparison of two facts: "not collected" on one side is a disagreement
        return Outcome(bool(value == resolve(arg, scope, root)))
    if value is None:
        return Outcome(None, {path})
    return Outcome(_compare(op, value, arg))


def _quantify(q: str, cond: Mapping[str, Any], scope: Mapping[str, Any], root: Mapping[str, Any]) -> Outcome:
    items = resolve(cond[q], scope, root)
    if items is None:
        return Outcome(None, {cond[q]})
    if not isinstance(items, list):
        return Outcome(False)
    selected: list[Any] = []
    unknown: set[str] = set()
    for item in items:
        if "where" in cond:
            w = evaluate(cond["where"], item, root)
            if w.value is None:
                unknown |= {f"{cond[q]}[{_label(item)}].{u}" for u in w.unknown}
            if not w.value:
                continue
        selected.append(item)
    if q == "count":
        op = next(k for k in cond if k in COMPARISONS)
        return Outcome(_compare(op, len(selected), cond[op]))
    results = [(item, evaluate(cond["check"], item, root)) for item in selected]
    bad = [_label(i) for i, o in results if o.value is False]
    good = [_label(i) for i, o in results if o.value is True]
    unknown |= {f"{cond[q]}[{_label(i)}].{u}" for i, o in results if o.value is None for u in o.unknown}
    if q == "every":
        if bad:
            return Outcome(False, offending=bad)
        return Outcome(None, unknown) if unknown else Outcome(True)
    if q == "some":
        if good:
            return Outcome(True)
        return Outcome(None, unknown) if unknown else Outcome(False)
    # none
    if good:
        return Outcome(False, offending=good)
    return Outcome(None, unknown) if unknown else Outcome(True)


def _label(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("name", "id", "address"):
            if key in item:
                return str(item[key])
    return str(item)


def fact_roots(cond: Any, scope_is_item: bool = False) -> set[str]:
    """Top-level fact paths a condition reads (for evidence), item fields excluded."""
    out: set[str] = set()
    if isinstance(cond, list):
        for c in cond:
            out |= fact_roots(c, scope_is_item)
        return out
    if not isinstance(cond, dict):
        return out
    for op in COMBINATORS:
        if op in cond:
            return fact_roots(cond[op], scope_is_item)
    for q in QUANTIFIERS:
        if q in cond:
            if not scope_is_item:
                out.add(cond[q])
            for k in ("where", "check"):
                if k in cond:
                    out |= fact_roots(cond[k], True)
            return out
    for key in ("fact", "eq_fact"):
        p = cond.get(key)
        if isinstance(p, str):
            if p.startswith(ITEM_PREFIX):
                out.add(p[len(ITEM_PREFIX) :])
            elif not scope_is_item:
                out.add(p)
    return out
