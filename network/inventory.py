"""The extranet inventory: sites in four admin levels and the devices at them.

Layout of ``inventories/<name>/`` (Nornir SimpleInventory's idea, plus sites and profiles)::

    sites.yaml     code -> {name, level: city|county|township|village, parent}
    devices.yaml   hostname -> {site, platform, role, mgmt_ipv4, mgmt_ipv6, groups, ssh_profile, ...}
    groups.yaml    group -> the same device keys, inherited by members (groups may have groups)
    defaults.yaml  the same device keys, inherited by every device
    profiles.yaml  ssh: {name: {credential, port, ...}}, snmp: {name: {version, credential, ...}}

A device's value comes from the device itself, then its groups in order (depth first), then
defaults. Credentials are referenced by name and resolved elsewhere; a secret written into any of
these files is refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from govops import yamlio
from govops.errors import InputError, Location, NotFoundError, Problem, ValidationFailed
from govops.i18n import Msg
from govops.network.platforms import LEVELS
from govops.validation import problems_from
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Level = Literal["city", "county", "township", "village"]
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "community",
        "auth_key",
        "priv_key",
        "auth_password",
        "priv_password",
        "enable_password",
        "token",
        "api_key",
        "private_key",
    }
)
# Credential-like key names anywhere in a key (``snmp_community``, ``enable-secret``, ``sshPassword``):
# an exact-name list let ``data: {snmp_community: ...}`` through.
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)|secret|community|token|credentials?_value|"
    r"(auth|priv|private|api|access|enable|ssh|snmp)_?key"
)


def is_secret_key(key: str) -> bool:
    """Whether ``key`` names a credential value (which belongs in a credential source, not here)."""
    folded = re.sub(r"[\s.-]+", "_", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)).lower()
    return folded in SECRET_KEYS or _SECRET_KEY.search(folded) is not None


_PARENT_LEVEL = {"county": "city", "township": "county", "village": "township"}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSpec(_Model):
    name: str = Field(min_length=1)
    level: Level
    parent: str | None = None


class SshProfile(_Model):
    credential: str = Field(pattern=_NAME)
    port: int = Field(22, ge=1, le=65535)
    timeout: float = Field(20.0, gt=0, le=3600, allow_inf_nan=False)
    # Some platforms ask for a new password on first login or confirmations; answered "N"/"Y".
    device_type: str | None = None


class SnmpProfile(_Model):
    version: Literal["v2c", "v3"]
    credential: str = Field(pattern=_NAME)
    port: int = Field(161, ge=1, le=65535)
    timeout: float = Field(2.0, gt=0, le=600, allow_inf_nan=False)  # .inf: OverflowError in every poll
    retries: int = Field(1, ge=0, le=5)
    auth_protocol: Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"] = "sha"
    priv_protocol: Literal["des", "aes", "aes192", "aes256"] = "aes"
    context: str | None = None


class Profiles(_Model):
    ssh: dict[str, SshProfile] = Field(default_factory=dict)
    snmp: dict[str, SnmpProfile] = Field(default_factory=dict)


class DeviceFields(_Model):
    """Keys a device, a group or the defaults may set (all optional here; required after merge)."""

    site: str | None = None
    platform: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*$")
    role: str | None = None
    mgmt_ipv4: ipaddress.IPv4Address | None = None
    mgmt_ipv6: ipaddress.IPv6Address | None = None
    ssh_profile: str | None = None
    snmp_profile: str | None = None
    ssh_port: int | None = Field(None, ge=1, le=65535)
    snmp_port: int | None = Field(None, ge=1, le=65535)
    groups: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


_INHERITED = (
    "site",
    "platform",
    "role",
    "mgmt_ipv4",
    "mgmt_ipv6",
    "ssh_profile",
    "snmp_profile",
    "ssh_port",
    "snmp_port",
)


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    level: str
    parent: str | None
    county: str | None  # code of the county-level site it rolls up to (None for the city)
    city: str


@dataclass(frozen=True)
class Device:
    """A device after inheritance; what collectors and reports work from."""

    hostname: str
    site: Site
    platform: str | None
    role: str | None
    mgmt_ipv4: str | None
    mgmt_ipv6: str | None
    ssh: SshProfile | None
    snmp: SnmpProfile | None
    ssh_profile: str | None
    snmp_profile: str | None
    ssh_port: int | None
    snmp_port: int | None
    groups: tuple[str, ...]
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def address(self) -> str:
        """The management address to use: IPv4 when present (the proven path), else IPv6."""
        addr = self.mgmt_ipv4 or self.mgmt_ipv6
        assert addr is not None  # validated: every device has one
        return addr

    @property
    def level(self) -> str:
        return self.site.level

    @property
    def county(self) -> str | None:
        return self.site.county


@dataclass
class Inventory:
    name: str
    root: Path
    sites: dict[str, Site]
    devices: dict[str, Device]
    groups: dict[str, DeviceFields]
    defaults: DeviceFields
    profiles: Profiles

    def __iter__(self) -> Iterator[Device]:
        return iter(self.devices.values())

    def __len__(self) -> int:
        return len(self.devices)

    def device(self, hostname: str) -> Device:
        dev = self.devices.get(hostname)
        if dev is None:
            lowered = {h.casefold(): d for h, d in self.devices.items()}
            dev = lowered.get(hostname.casefold())
        if dev is None:
            raise NotFoundError(Msg("err.inv.unknown_device", name=hostname, inventory=self.name))
        return dev

    def site(self, code: str) -> Site:
        s = self.sites.get(code)
        if s is None:
            raise NotFoundError(Msg("err.inv.unknown_site_in", code=code, inventory=self.name))
        return s

    def in_group(self, device: Device, group: str) -> bool:
        return group in self._expanded_groups(device.groups)

    def _expanded_groups(self, names: Iterable[str]) -> list[str]:
        out: list[str] = []
        stack = list(reversed(list(names)))
        while stack:
            g = stack.pop()
            if g in out:
                continue
            out.append(g)
            spec = self.groups.get(g)
            if spec is not None:
                stack.extend(reversed(spec.groups))
        return out

    def select(
        self,
        *,
        hosts: Iterable[str] = (),
        site: str | None = None,
        county: str | None = None,
        level: str | None = None,
        platform: str | None = None,
        group: str | None = None,
        limit: int | None = None,
    ) -> list[Device]:
        """Devices matching every given filter, in inventory order; unknown filter values are errors."""
        if site is not None:
            self.site(site)
        if county is not None and self.site(county).level != "county":
            raise InputError(Msg("err.inv.not_county", code=county, level=Msg(f"level.{self.sites[county].level}")))
        if level is not None and level not in LEVELS:
            raise InputError(Msg("err.inv.unknown_level", level=level, levels=", ".join(LEVELS)))
        if group is not None and group not in self.groups:
            raise NotFoundError(Msg("err.inv.unknown_group_in", group=group, inventory=self.name))
        wanted = {self.device(h).hostname for h in hosts}
        out: list[Device] = []
        for d in self.devices.values():
            if wanted and d.hostname not in wanted:
                continue
            if site is not None and d.site.code != site and not self._site_under(d.site, site):
                continue
            if county is not None and d.site.county != county:
                continue
            if level is not None and d.site.level != level:
                continue
            if platform is not None and d.platform != platform:
                continue
            if group is not None and not self.in_group(d, group):
                continue
            out.append(d)
            if limit is not None and len(out) >= limit:
                break
        return out

    def _site_under(self, site: Site, ancestor: str) -> bool:
        parent = site.parent
        for _ in range(len(self.sites)):  # bounded: a loaded inventory has no loops, but never hang
            if parent is None:
                break
            if parent == ancestor:
                return True
            nxt = self.sites.get(parent)
            parent = nxt.parent if nxt is not None else None
        return False

    def stats(self) -> dict[str, Any]:
        devs = list(self.devices.values())
        return {
            "inventory": self.name,
            "sites": len(self.sites),
            "devices": len(devs),
            "sites_by_level": dict(Counter(s.level for s in self.sites.values())),
            "devices_by_level": dict(Counter(d.site.level for d in devs)),
            "devices_by_platform": dict(Counter(d.platform or "unknown" for d in devs)),
            "devices_by_county": dict(
                Counter(self.sites[d.site.county].name if d.site.county else "(city)" for d in devs)
            ),
            "mgmt": dict(
                Counter(
                    "dual-stack" if d.mgmt_ipv4 and d.mgmt_ipv6 else "ipv4-only" if d.mgmt_ipv4 else "ipv6-only"
                    for d in devs
                )
            ),
            "access": dict(
                Counter("ssh+snmp" if d.ssh and d.snmp else "ssh-only" if d.ssh else "snmp-only" for d in devs)
            ),
        }


FILES = ("sites.yaml", "devices.yaml", "groups.yaml", "defaults.yaml", "profiles.yaml")


class _Loader:
    """Reads the five files and collects every problem before failing, so one run shows them all."""

    def __init__(self, root: Path, display_root: str) -> None:
        self.root = root
        self.display_root = display_root
        self.problems: list[Problem] = []

    def read(self, name: str, required: bool) -> yamlio.Located | None:
        path = self.root / name
        display = f"{self.display_root}/{name}"
        if not path.exists():
            if required:
                self.problems.append(Problem(Msg("err.inv.file_not_found"), Location(display)))
            return None
        try:
            located = yamlio.load(path, display=display)
        except yamlio.PartlyValid as exc:
            self.problems.extend(exc.problems)  # and go on: every problem in one run
            located = exc.located
        except ValidationFailed as exc:
            self.problems.extend(exc.problems)
            return None
        except InputError as exc:
            self.problems.append(Problem(exc.msg))
            return None
        if located.data is not None and not isinstance(located.data, dict):
            self.problems.append(Problem(Msg("err.inv.not_mapping"), Location(display, located.line_of(()))))
            return None
        self._refuse_secrets(located, located.data, ())
        return located

    def _refuse_secrets(self, located: yamlio.Located, node: Any, path: yamlio.KeyPath) -> None:
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if isinstance(key, str) and is_secret_key(key):
                    # reported once here, then dropped so it does not also show as "unknown key"
                    del node[key]
                    self.problems.append(
                        Problem(
                            Msg("err.inv.plaintext_secret", key=key),
                            located.location((*path, key)),
                        )
                    )
                elif isinstance(value, dict | list):
                    self._refuse_secrets(located, value, (*path, key))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                self._refuse_secrets(located, item, (*path, i))

    def section(self, doc: yamlio.Located | None, key: str) -> tuple[dict[Any, Any], yamlio.KeyPath]:
        """The mapping under ``key`` (or the whole document when the key is absent)."""
        if doc is None or not doc.data:
            return {}, ()
        base: yamlio.KeyPath = (key,) if key in doc.data else ()
        raw = doc.data[key] if base else doc.data
        if raw is None:
            return {}, base
        if not isinstance(raw, dict):
            self.problems.append(Problem(Msg("err.inv.not_mapping"), doc.location(base)))
            return {}, base
        return raw, base

    def model(self, model: type[Any], data: Any, located: yamlio.Located, path: yamlio.KeyPath) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.problems.extend(problems_from(exc, located, path))
            return None


def load_inventory(root: Path, display: str | None = None) -> Inventory:
    """Load and validate an inventory folder; every problem is reported as ``file:line key``."""
    if not root.is_dir():
        raise InputError(
            Msg("err.inv.folder_not_found", path=display or root),
            hint=Msg("err.inv.hint_folder"),
        )
    ld = _Loader(root, display or str(root))
    docs = {name: ld.read(name, required=name in ("sites.yaml", "devices.yaml")) for name in FILES}

    profiles = Profiles()
    if (p := docs["profiles.yaml"]) is not None and p.data:
        profiles = ld.model(Profiles, p.data, p, ()) or Profiles()

    defaults = DeviceFields()
    if (p := docs["defaults.yaml"]) is not None and p.data:
        defaults = ld.model(DeviceFields, p.data, p, ()) or DeviceFields()

    groups: dict[str, DeviceFields] = {}
    if (p := docs["groups.yaml"]) is not None and p.data:
        for name, spec in p.data.items():
            if spec is not None and not isinstance(spec, dict):
                ld.problems.append(Problem(Msg("err.inv.not_mapping"), p.location((name,))))
                continue
            g = ld.model(DeviceFields, spec or {}, p, (name,))
            if g is not None:
                groups[str(name)] = g
        for name, g in groups.items():
            for parent in g.groups:
                if parent not in groups:
                    ld.problems.append(
                        Problem(Msg("err.inv.unknown_group", group=parent), p.location((name, "groups")))
                    )
        for cycle in _group_cycles(groups):
            ld.problems.append(
                Problem(Msg("err.inv.group_cycle", cycle=" -> ".join(cycle)), p.location((cycle[0], "groups")))
            )

    sites = _load_sites(ld, docs["sites.yaml"])
    devices = _load_devices(ld, docs["devices.yaml"], sites, groups, defaults, profiles)
    if ld.problems:
        raise ValidationFailed(ld.problems)
    return Inventory(root.name, root, sites, devices, groups, defaults, profiles)


def _group_cycles(groups: dict[str, DeviceFields]) -> list[list[str]]:
    """Each loop in the groups' ``groups:`` references once, as ``[a, b, a]`` (iterative DFS)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[list[str]] = []
    for start, spec in groups.items():
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(spec.groups))]
        state[start] = 1
        path.append(start)
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[name] = 2
                continue
            if child not in groups:
                continue
            if state.get(child) == 1:
                cycles.append([*path[path.index(child) :], child])
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(groups[child].groups)))
    return cycles


def _site_cycles(specs: dict[str, SiteSpec]) -> list[list[str]]:
    """Each loop in the sites' parent chains once, as ``[a, b, a]``."""
    done: set[str] = set()
    cycles: list[list[str]] = []
    for start in specs:
        chain: list[str] = []
        on_chain: set[str] = set()
        cur: str | None = start
        while cur is not None and cur in specs and cur not in done:
            if cur in on_chain:
                cycles.append([*chain[chain.index(cur) :], cur])
                break
            chain.append(cur)
            on_chain.add(cur)
            cur = specs[cur].parent
        done.update(chain)
    return cycles


def _load_sites(ld: _Loader, doc: yamlio.Located | None) -> dict[str, Site]:
    if doc is None:
        return {}
    raw, base = ld.section(doc, "sites")
    specs: dict[str, SiteSpec] = {}
    for code, spec in raw.items():
        s = ld.model(SiteSpec, spec, doc, (*base, code))
        if s is not None:
            specs[str(code)] = s
    looped: set[str] = set()
    for cycle in _site_cycles(specs):
        looped.update(cycle)
        ld.problems.append(
            Problem(Msg("err.inv.parent_loop", cycle=" -> ".join(cycle)), doc.location((*base, cycle[0], "parent")))
        )
    sites: dict[str, Site] = {}
    for code, s in specs.items():
        where = doc.location((*base, code))
        if s.level == "city":
            if s.parent is not None:
                ld.problems.append(Problem(Msg("err.inv.city_parent"), doc.location((*base, code, "parent"))))
                continue
            sites[code] = Site(code, s.name, s.level, None, None, code)
            continue
        if s.parent is None:
            ld.problems.append(
                Problem(
                    Msg(
                        "err.inv.needs_parent",
                        level=Msg(f"level.{s.level}"),
                        parent=Msg(f"level.{_PARENT_LEVEL[s.level]}"),
                    ),
                    where,
                )
            )
            continue
        parent = specs.get(s.parent)
        ploc = doc.location((*base, code, "parent"))
        if parent is None:
            ld.problems.append(Problem(Msg("err.inv.unknown_parent", code=s.parent), ploc))
            continue
        if parent.level != _PARENT_LEVEL[s.level]:
            ld.problems.append(
                Problem(
                    Msg(
                        "err.inv.wrong_level",
                        level=Msg(f"level.{s.level}"),
                        expected=Msg(f"level.{_PARENT_LEVEL[s.level]}"),
                        parent=s.parent,
                        actual=Msg(f"level.{parent.level}"),
                    ),
                    ploc,
                )
            )
            continue
        if code in looped:
            continue
        # Levels strictly descend, so walking up ends at the city in at most three steps; a site
        # whose chain runs into a loop (reported above) stops after as many steps as there are sites.
        county, cur = None, code
        chain = s
        steps = 0
        while chain.parent is not None and steps <= len(specs):
            steps += 1
            if chain.level == "county":
                county = cur
            cur = chain.parent
            nxt = specs.get(cur)
            if nxt is None:
                break
            chain = nxt
        sites[code] = Site(code, s.name, s.level, s.parent, county, cur)
    return sites


def _load_devices(
    ld: _Loader,
    doc: yamlio.Located | None,
    sites: dict[str, Site],
    groups: dict[str, DeviceFields],
    defaults: DeviceFields,
    profiles: Profiles,
) -> dict[str, Device]:
    raw, base = ld.section(doc, "devices")
    if doc is None:
        return {}
    devices: dict[str, Device] = {}
    folded: dict[str, str] = {}
    addresses: dict[str, str] = {}
    expand_cache: dict[tuple[str, ...], list[DeviceFields]] = {}
    for hostname, spec in raw.items():
        host = str(hostname)
        path = (*base, hostname)
        if host.casefold() in folded:
            ld.problems.append(
                Problem(Msg("err.inv.duplicate_host", host=host, other=folded[host.casefold()]), doc.location(path))
            )
            continue
        folded[host.casefold()] = host
        f = ld.model(DeviceFields, spec or {}, doc, path)
        if f is None:
            continue
        key = tuple(f.groups)
        chain = expand_cache.get(key)
        if chain is None:
            chain = []
            for g in _expand(f.groups, groups):
                if g not in groups:
                    ld.problems.append(Problem(Msg("err.inv.unknown_group", group=g), doc.location((*path, "groups"))))
                else:
                    chain.append(groups[g])
            expand_cache[key] = chain
        merged: dict[str, Any] = {}
        set_fields = f.model_fields_set
        for name in _INHERITED:
            value = getattr(f, name) if name in set_fields else None
            if value is None:
                for grp in chain:
                    value = getattr(grp, name)
                    if value is not None:
                        break
            if value is None:
                value = getattr(defaults, name)
            merged[name] = value
        problems_before = len(ld.problems)
        site = sites.get(merged["site"]) if merged["site"] else None
        if merged["site"] is None:
            ld.problems.append(Problem(Msg("err.valid.missing"), doc.location((*path, "site"))))
        elif site is None:
            ld.problems.append(Problem(Msg("err.inv.unknown_site", code=merged["site"]), doc.location((*path, "site"))))
        v4 = str(merged["mgmt_ipv4"]) if merged["mgmt_ipv4"] is not None else None
        v6 = str(merged["mgmt_ipv6"]) if merged["mgmt_ipv6"] is not None else None
        if v4 is None and v6 is None:
            ld.problems.append(Problem(Msg("err.inv.needs_mgmt"), doc.location(path)))
        for addr, k in ((v4, "mgmt_ipv4"), (v6, "mgmt_ipv6")):
            if addr is None:
                continue
            # The lab puts many devices on one loopback address with distinct ports.
            akey = f"{addr}#{merged['ssh_port']}#{merged['snmp_port']}"
            if akey in addresses and k in set_fields:
                ld.problems.append(
                    Problem(
                        Msg("err.inv.duplicate_address", address=addr, other=addresses[akey]), doc.location((*path, k))
                    )
                )
            addresses.setdefault(akey, host)
        # "none" switches a protocol off for a device or group (an SNMP-only box has no SSH).
        for proto in ("ssh_profile", "snmp_profile"):
            if merged[proto] == "none":
                merged[proto] = None
        ssh = snmp = None
        if merged["ssh_profile"] is not None:
            ssh = profiles.ssh.get(merged["ssh_profile"])
            if ssh is None:
                ld.problems.append(
                    Problem(
                        Msg("err.inv.unknown_ssh_profile", name=merged["ssh_profile"]),
                        doc.location((*path, "ssh_profile")),
                    )
                )
        if merged["snmp_profile"] is not None:
            snmp = profiles.snmp.get(merged["snmp_profile"])
            if snmp is None:
                ld.problems.append(
                    Problem(
                        Msg("err.inv.unknown_snmp_profile", name=merged["snmp_profile"]),
                        doc.location((*path, "snmp_profile")),
                    )
                )
        if merged["ssh_profile"] is None and merged["snmp_profile"] is None:
            ld.problems.append(Problem(Msg("err.inv.needs_profile"), doc.location(path)))
        if len(ld.problems) > problems_before or site is None:
            continue
        data: dict[str, Any] = {}
        for grp in reversed(chain):
            data.update(grp.data)
        data.update(f.data)
        devices[host] = Device(
            hostname=host,
            site=site,
            platform=merged["platform"],
            role=merged["role"],
            mgmt_ipv4=v4,
            mgmt_ipv6=v6,
            ssh=ssh,
            snmp=snmp,
            ssh_profile=merged["ssh_profile"],
            snmp_profile=merged["snmp_profile"],
            ssh_port=merged["ssh_port"],
            snmp_port=merged["snmp_port"],
            groups=tuple(f.groups),
            data=data,
        )
    return devices


def _expand(names: Iterable[str], groups: dict[str, DeviceFields]) -> list[str]:
    """Groups in inheritance order: each group, then its own groups, depth first (Nornir's order)."""
    out: list[str] = []

    def visit(name: str, depth: int) -> None:
        if name in out or depth > 32:
            return
        out.append(name)
        spec = groups.get(name)
        if spec is not None:
            for parent in spec.groups:
                visit(parent, depth + 1)

    for n in names:
        visit(n, 0)
    return out
