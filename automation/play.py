"""``govops play``: find playbooks, check a run's inputs, run it through the runner port, keep the
results (run ID, per-host status and counts, failed task names; never output bodies) in the store.

Inputs are checked before anything runs, each problem located: a playbook or YAML inventory that
is not valid YAML names its file and line, a ``--limit`` name that is in no inventory is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from govops.automation.ports import (
    AutomationError,
    HostResult,
    InventoryNames,
    PlaybookInputError,
    PlaybookRunner,
    PlayRequest,
    RunnerOutcome,
    TaskStatus,
)
from govops.credentials import SECRET_NAME, Secret
from govops.errors import InputError, Interrupted, Location, NotFoundError, Problem, ValidationFailed
from govops.i18n import Msg, Text
from govops.observer import NullObserver, Observer, StageObserver
from govops.paths import display_path
from govops.store import Store
from govops.yamlio import read_text

RUN_KIND = "play.run"
INPUT_RCS = frozenset({1, 4, 5})
PLAYBOOK_SUFFIXES = (".yml", ".yaml")
_PATTERN_CHARS = re.compile(r"[*?\[\]~]")


# -- playbooks ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Playbook:
    name: str
    path: Path
    description: str


def playbook_dirs(*candidates: Path) -> list[Path]:
    """The existing folders among ``candidates``, each once, in order."""
    out: list[Path] = []
    for c in candidates:
        r = c.resolve()
        if r.is_dir() and r not in out:
            out.append(r)
    return out


def list_playbooks(dirs: Iterable[Path]) -> list[Playbook]:
    """Playbooks in ``dirs`` (not their subfolders: those hold roles, vars, templates)."""
    seen: set[str] = set()
    out: list[Playbook] = []
    for d in dirs:
        for path in sorted(p for p in d.iterdir() if p.suffix in PLAYBOOK_SUFFIXES and p.is_file()):
            if path.stem in seen:
                continue  # an earlier folder's playbook of that name wins, as in resolve_playbook
            seen.add(path.stem)
            out.append(Playbook(path.stem, path, describe(path)))
    return out


def describe(path: Path) -> str:
    """The playbook's leading comment (``# …`` lines before its first line of YAML), else the first play's name."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "---" or (not stripped and not comment):
            continue
        if not stripped.startswith("#"):
            break
        body = stripped.lstrip("#").strip()
        if body:
            comment.append(body)
        elif comment:
            break
    if comment:
        return " ".join(comment)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return ""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return str(data[0].get("name") or "")
    return ""


def resolve_playbook(ref: str, dirs: Sequence[Path]) -> Path:
    """A path to a file, or a name (with or without ``.yml``) in one of ``dirs``."""
    direct = Path(ref).expanduser()
    if direct.is_file():
        return direct.resolve()
    names = [ref] if ref.endswith(PLAYBOOK_SUFFIXES) else [ref + s for s in PLAYBOOK_SUFFIXES]
    if "/" not in ref:
        for d in dirs:
            for n in names:
                if (d / n).is_file():
                    return (d / n).resolve()
    known: Text = ", ".join(p.name for p in list_playbooks(dirs)) or Msg("err.none")
    where: Text = ", ".join(display_path(d) for d in dirs) or Msg("err.play.no_folder")
    raise NotFoundError(Msg("err.play.not_found", ref=ref, where=where, known=known), hint="govops play list")


def check_playbook(path: Path) -> None:
    """Valid YAML holding a list of plays; otherwise ``ValidationFailed`` naming file:line."""
    name = display_path(path)
    data, _ = _yaml_nodes(path, name)
    if not isinstance(data, yaml.SequenceNode) or not data.value:
        line = data.start_mark.line + 1 if data is not None else 1
        raise ValidationFailed([Problem(Msg("err.play.not_list"), Location(name, line))])
    for item in data.value:
        if not isinstance(item, yaml.MappingNode):
            raise ValidationFailed([Problem(Msg("err.play.not_mapping"), Location(name, item.start_mark.line + 1))])


def check_yaml_file(path: Path, what: str) -> None:
    """A YAML file (extra vars, inventory) must parse; custom tags such as ``!vault`` are allowed."""
    _yaml_nodes(path, display_path(path), what=what)


def _yaml_nodes(path: Path, name: str, what: str = "playbook") -> tuple[yaml.Node | None, str]:
    text = read_text(path, name, what)
    # compose, not construct: Ansible's own tags (!vault, !unsafe) are not PyYAML's to resolve
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader), text
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = (exc.problem or exc.context or "").strip()
        raise ValidationFailed([Problem(Msg("err.yaml.malformed", reason=msg), Location(name, line))]) from None
    except yaml.YAMLError as exc:
        raise ValidationFailed([Problem(Msg("err.yaml.malformed", reason=exc), Location(name))]) from None


# -- inventories ---------------------------------------------------------------------------------------


def hosts_inventory(hosts: Iterable[str]) -> dict[str, Any]:
    """``--hosts a,b``: an inventory of those names (each name is also the address)."""
    names = [h.strip() for h in hosts if h.strip()]
    if not names:
        raise InputError(Msg("err.play.no_hosts"))
    return {"all": {"hosts": {name: {} for name in names}}}


def names_of(inventory: Mapping[str, Any]) -> InventoryNames:
    """Hosts and groups of an inventory given as data (Ansible's YAML shape)."""
    hosts: set[str] = set()
    groups: dict[str, set[str]] = {}

    def walk(name: str, body: Any) -> set[str]:
        members: set[str] = set()
        body = body if isinstance(body, Mapping) else {}
        members |= set((body.get("hosts") or {}).keys())
        for child, child_body in (body.get("children") or {}).items():
            members |= walk(str(child), child_body)
        groups.setdefault(name, set()).update(members)
        hosts.update(members)
        return members

    for group, body in inventory.items():
        walk(str(group), body)
    groups.setdefault("all", set()).update(hosts)
    return InventoryNames(frozenset(hosts), {g: frozenset(h) for g, h in groups.items()})


def select(names: InventoryNames, limit: str | None) -> set[str] | None:
    """The hosts ``limit`` picks (Ansible's ``a,b``, ``!x``, ``&y``); None when it uses patterns
    govops does not evaluate (wildcards, regexes, ranges). Unknown names are ``InputError``."""
    every = set(names.hosts)
    if not limit:
        return every
    terms = [t.strip() for t in re.split(r"[,:]", limit) if t.strip()]
    unknown = []
    picked: set[str] = set()
    excluded: set[str] = set()
    required: list[set[str]] = []
    exact = True
    for term in terms:
        op, name = (term[0], term[1:]) if term[0] in "!&" else ("", term)
        if name.startswith("@") or _PATTERN_CHARS.search(name):
            exact = False
            continue
        if name == "all":
            members: set[str] = every
        elif name in names.groups:
            members = set(names.groups[name])
        elif name in names.hosts:
            members = {name}
        else:
            unknown.append(name)
            continue
        if op == "!":
            excluded |= members
        elif op == "&":
            required.append(members)
        else:
            picked |= members
    if unknown:
        raise InputError(
            Msg("err.play.unknown_limit", names=", ".join(repr(u) for u in unknown)),
            hint=Msg("err.play.hint_limit"),
        )
    if not exact:
        return None
    result = picked - excluded
    for r in required:
        result &= r
    return result


# -- running ---------------------------------------------------------------------------------------------


@dataclass
class PlayResult:
    run_id: str
    playbook: str
    status: str  # ok, failed (some host failed/unreachable), timeout, error
    hosts: list[HostResult]
    check: bool
    seconds: float
    error: str | None = None
    artifacts: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_hosts(self) -> list[HostResult]:
        return [h for h in self.hosts if h.status in ("failed", "unreachable", "timeout")]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.status] = out.get(h.status, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "govops.play.run/1",
            "run_id": self.run_id,
            "playbook": self.playbook,
            "status": self.status,
            "check": self.check,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "artifacts": self.artifacts,
            "counts": self.counts(),
            "hosts": [h.to_dict() for h in self.hosts],
        }


class _Progress:
    """Task events -> observer: one row per host showing its last task while the play runs
    (failures are told once, with the host's final status)."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.done: dict[str, int] = {}

    def __call__(self, host: str, task: str, status: TaskStatus, detail: str | None) -> None:
        n = self.done[host] = self.done.get(host, 0) + 1
        if isinstance(self.observer, StageObserver):
            # the number of tasks is not known up front: creep towards the end, never reach it
            self.observer.stage(host, f"{status}: {task}" if task else status, n / (n + 3))


def run_play(
    runner: PlaybookRunner,
    store: Store,
    request: PlayRequest,
    *,
    observer: Observer | None = None,
    params: Mapping[str, Any] | None = None,
) -> PlayResult:
    """Check the inputs, run the playbook, record it. Bad input raises before anything runs; host
    failures are in the result (status ``failed``); a runner that gave no host result raises."""
    obs = observer or NullObserver()
    check_playbook(request.playbook)
    for f in request.extra_var_files:
        check_yaml_file(f, "extra vars file")
    if isinstance(request.inventory, Path):
        if not request.inventory.exists():
            raise InputError(
                Msg("err.file.not_found", path=display_path(request.inventory), what=Msg("noun.inventory"))
            )
        if request.inventory.is_file() and request.inventory.suffix in PLAYBOOK_SUFFIXES:
            check_yaml_file(request.inventory, "inventory")
        names = runner.inventory_names(request.inventory)
    else:
        names = names_of(request.inventory)
    targets = select(names, request.limit)
    if targets is not None and not targets:
        raise InputError(Msg("err.play.no_target"))
    record = {
        "playbook": str(request.playbook),
        "inventory": str(request.inventory) if isinstance(request.inventory, Path) else "generated",
        "limit": request.limit,
        "check": request.check,
        "diff": request.diff,
        "forks": request.forks,
        # names only: an extra var's value may be a secret
        "extra_vars": sorted(request.extra_vars),
        "extra_var_files": [str(f) for f in request.extra_var_files],
        **dict(params or {}),
    }
    run = store.start_run(RUN_KIND, record, run_id=request.run_id)
    started = time.monotonic()
    total = len(targets) if targets is not None else len(names.hosts)
    obs.started(total, Msg("progress.play", playbook=request.playbook.stem))
    try:
        outcome = runner.run(request, _Progress(obs))
        result = _result(request, outcome, time.monotonic() - started, record)
        for h in result.hosts:
            obs.advanced(h.host, h.status, h.reason)
            store.record_result(run.id, h.host, h.status, h.reason, h.to_dict())
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: the run says so (not "error") and the message names it
        store.finish_run(run.id, "interrupted", {})
        resume = f"govops play run {request.playbook} with the same options (the play starts over)"
        raise Interrupted(run.id, resume, total=total) from None
    except BaseException:
        store.finish_run(run.id, "error", {})
        raise
    finally:
        obs.finished()
    store.finish_run(run.id, result.status, {"counts": result.counts(), "rc": outcome.rc, "error": result.error})
    if not result.hosts and outcome.error and outcome.status != "timeout":
        hint: Msg | None = None
        if "vault" in outcome.error.lower():
            hint = Msg("err.play.hint_vault")
        # Ansible stopped before any host: with its own error line that is its input (playbook,
        # inventory, vars, vault) it refused (rc 1, 4 parser, 5 options); anything else is a crash.
        if outcome.rc in INPUT_RCS:
            raise PlaybookInputError(
                Msg("err.play.ansible_said", path=display_path(request.playbook), reason=outcome.error), hint=hint
            )
        raise AutomationError(Msg("err.play.run_failed", run=run.id, reason=outcome.error), hint=hint)
    return result


def _result(request: PlayRequest, outcome: RunnerOutcome, seconds: float, params: dict[str, Any]) -> PlayResult:
    hosts = list(outcome.hosts.values())
    if outcome.status == "timeout":
        status = "timeout"
    elif any(h.status in ("failed", "unreachable", "timeout") for h in hosts):
        status = "failed"
    elif outcome.status in ("successful", "failed") and hosts:
        status = "ok"
    else:
        status = "error"
    return PlayResult(
        run_id=request.run_id,
        playbook=request.playbook.stem,
        status=status,
        hosts=hosts,
        check=request.check,
        seconds=seconds,
        error=outcome.error,
        artifacts=str(outcome.artifacts) if outcome.artifacts else None,
        params=params,
    )


def parse_extra_vars(values: Iterable[str], base: Path | None = None) -> tuple[dict[str, str], list[Path]]:
    """``-e k=v`` (several pairs per value allowed) and ``-e @file.yml``, as Ansible reads them."""
    pairs: dict[str, str] = {}
    files: list[Path] = []
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:]).expanduser()
            if not path.is_absolute() and base is not None:
                path = base / path
            if not path.is_file():
                raise InputError(Msg("err.play.e_file", value=value))
            files.append(path.resolve())
            continue
        import shlex

        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise InputError(Msg("err.play.e_syntax", value=repr(value), reason=exc)) from None
        for word in words:
            key, sep, val = word.partition("=")
            if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise InputError(Msg("err.play.e_word", word=repr(word)))
            pairs[key] = val
            if SECRET_NAME.search(key):
                Secret(val)  # scrubbed from every message, output and kept artefact from now on
    return pairs, files
