"""Declarative VM batches: one YAML spec per department, validated with every error located.

A spec names a department and lists VM groups; a group with ``count: 3`` and ``name: web`` stands
for the VMs ``web-01``, ``web-02`` and ``web-03``. Every VM gets a *spec hash* over the settings that
cannot change in place (flavor, image, networks, volumes, user-data, key, AZ, server group): the
hash is written into the server's metadata, so ``plan`` can tell keep from change without a state
file, and a retried create can find a server an earlier attempt made.

    version: 1
    department: gaj
    name: portal                 # unique per department: the servers' govops-spec metadata
    defaults: {flavor: m1.small, image: cirros, networks: [dept-gaj-net]}
    vms:
      - name: web
        count: 3
        flavor: m1.medium
        volume_size: 50              # an empty data volume, GiB (deleted with the server)
        user_data: cloud-init/web.yaml   # relative to the spec file
        tags: {system: portal, role: web}
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govops import yamlio
from govops.cloud.ports import META_DEPARTMENT, META_OWNER, META_RUN
from govops.errors import InputError, Location, Problem, ValidationFailed
from govops.i18n import Msg
from govops.validation import problems_from
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Metadata keys a batch writes on every server it creates, next to the port's department, owner,
# system and run_id (Nova metadata: 255 characters a key or value).
META_SPEC = "govops-spec"
META_HASH = "govops-spec-hash"
# Keys govops owns: a spec's tags may not set them (``system`` may: it names the VM's system).
RESERVED_TAGS = frozenset({META_SPEC, META_HASH, META_RUN, META_DEPARTMENT, META_OWNER})
MAX_COUNT = 500
USER_DATA_LIMIT = 65535  # Nova refuses larger (base64-encoded) user data; checked before encoding

_NAME = r"^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$"
_TAG_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _tags(value: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, raw in (value or {}).items():
        if not _TAG_KEY.match(str(key)):
            raise ValueError(Msg("err.spec.tag_key", key=key))
        if str(key) in RESERVED_TAGS:
            raise ValueError(Msg("err.spec.tag_reserved", key=key))
        if isinstance(raw, dict | list) or raw is None:
            raise ValueError(Msg("err.spec.tag_value", key=key))
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if len(text) > 255:
            raise ValueError(Msg("err.spec.tag_long", key=key))
        out[str(key)] = text
    return out


class _Settings(_Model):
    """What a VM group sets, and what ``defaults`` may set for every group."""

    flavor: str | None = Field(None, min_length=1)
    image: str | None = Field(None, min_length=1)
    networks: list[str] | None = None
    volume_size: int | None = Field(None, ge=1, le=65536, description="data volume GiB")
    boot_from_volume: int | None = Field(None, ge=1, le=65536, description="root disk GiB")
    user_data: Path | None = None
    key_name: str | None = None
    az: str | None = None
    server_group: str | None = None
    tags: dict[str, str] | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _check_tags(cls, value: Any) -> Any:
        if value is None or not isinstance(value, dict):
            return value
        return _tags(value)

    @field_validator("networks", mode="before")
    @classmethod
    def _one_network(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class VmGroup(_Settings):
    name: str = Field(pattern=_NAME)
    count: int = Field(1, ge=1, le=MAX_COUNT)


class _SpecFile(_Model):
    version: int = 1
    department: str = Field(min_length=1)
    name: str = Field(pattern=_NAME)
    owner: str | None = None
    defaults: _Settings = Field(default_factory=_Settings)
    vms: list[VmGroup] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(Msg("err.spec.version"))
        return value


@dataclass(frozen=True)
class VmSpec:
    """One VM the spec asks for, with defaults applied and user-data read."""

    name: str
    group: str
    flavor: str
    image: str | None
    networks: tuple[str, ...]
    volume_size: int | None
    boot_from_volume: int | None
    user_data: str | None
    key_name: str | None
    az: str | None
    server_group: str | None
    tags: dict[str, str]
    location: Location
    # where each setting came from (the group or defaults), for errors found against the cloud
    where: dict[str, Location] = field(default_factory=dict, compare=False)

    @property
    def spec_hash(self) -> str:
        """Over what can only change by replacing the server; tags change in place."""
        body = {
            "flavor": self.flavor,
            "image": self.image,
            "networks": list(self.networks),
            "volume_size": self.volume_size,
            "boot_from_volume": self.boot_from_volume,
            "user_data": hashlib.sha256(self.user_data.encode()).hexdigest() if self.user_data else None,
            "key_name": self.key_name,
            "az": self.az,
            "server_group": self.server_group,
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def volume_gb(self) -> int:
        return (self.volume_size or 0) + (self.boot_from_volume or 0)

    @property
    def volume_count(self) -> int:
        return (1 if self.volume_size else 0) + (1 if self.boot_from_volume else 0)


@dataclass(frozen=True)
class BatchSpec:
    department: str
    name: str
    owner: str | None
    vms: tuple[VmSpec, ...]
    file: str
    groups: dict[str, Location] = field(default_factory=dict)
    department_at: Location | None = None

    def vm(self, name: str) -> VmSpec:
        return next(v for v in self.vms if v.name == name)


def _expand(group: VmGroup, defaults: _Settings, base: Path, located: yamlio.Located, index: int) -> list[VmSpec]:
    path: yamlio.KeyPath = ("vms", index)
    problems: list[Problem] = []

    def pick(key: str) -> Any:
        value = getattr(group, key)
        return value if value is not None else getattr(defaults, key)

    def origin(key: str) -> Location:
        if getattr(group, key) is None and getattr(defaults, key) is not None:
            return located.location(("defaults", key))
        return located.location((*path, key))

    flavor = pick("flavor")
    if flavor is None:
        problems.append(Problem(Msg("err.spec.no_flavor"), located.location((*path, "name"))))
    image = pick("image")
    boot = pick("boot_from_volume")
    if image is None:
        problems.append(Problem(Msg("err.spec.no_image"), located.location((*path, "name"))))
    user_data: str | None = None
    ud_path = pick("user_data")
    if ud_path is not None:
        where = (*path, "user_data") if group.user_data is not None else ("defaults", "user_data")
        file = ud_path if ud_path.is_absolute() else base / ud_path
        try:
            # bounded read: `user_data: /dev/zero` or a FIFO must not hang or exhaust memory
            user_data = yamlio.read_text(file, str(ud_path), "user data file", limit=USER_DATA_LIMIT)
        except InputError as exc:
            problems.append(Problem(Msg("err.spec.user_data", reason=exc.msg), located.location(where)))
    if problems:
        raise ValidationFailed(problems)
    # Group tags extend the defaults' tags, key by key.
    tags = {**(defaults.tags or {}), **(group.tags or {})}
    names = [group.name] if group.count == 1 else [f"{group.name}-{i:02d}" for i in range(1, group.count + 1)]
    return [
        VmSpec(
            name=n,
            group=group.name,
            flavor=str(flavor),
            image=image,
            networks=tuple(pick("networks") or ()),
            volume_size=pick("volume_size"),
            boot_from_volume=boot,
            user_data=user_data,
            key_name=pick("key_name"),
            az=pick("az"),
            server_group=pick("server_group"),
            tags=tags,
            location=located.location(path),
            where={k: origin(k) for k in ("flavor", "image", "networks", "server_group", "key_name")},
        )
        for n in names
    ]


def load_spec(path: Path, *, display: str | None = None) -> BatchSpec:
    """Read and validate a spec; every problem is ``file:line key: message`` (``ValidationFailed``)."""
    located = yamlio.load(path, display=display or path.name)
    if not isinstance(located.data, dict):
        raise ValidationFailed([Problem(Msg("err.spec.not_mapping"), located.location(()))])
    try:
        parsed = _SpecFile.model_validate(located.data)
    except ValidationError as exc:
        raise ValidationFailed(problems_from(exc, located)) from None
    problems: list[Problem] = []
    vms: list[VmSpec] = []
    for i, group in enumerate(parsed.vms):
        try:
            vms.extend(_expand(group, parsed.defaults, path.parent, located, i))
        except ValidationFailed as exc:
            problems.extend(exc.problems)
    seen: dict[str, int] = {}
    for i, group in enumerate(parsed.vms):
        if group.name in seen:
            problems.append(
                Problem(
                    Msg("err.spec.duplicate_group", group=group.name, other=f"vms[{seen[group.name]}]"),
                    located.location(("vms", i, "name")),
                )
            )
        seen.setdefault(group.name, i)
    by_name: dict[str, VmSpec] = {}
    for vm in vms:
        other = by_name.get(vm.name)
        if other is not None and other.group != vm.group:
            problems.append(Problem(Msg("err.spec.vm_name_clash", vm=vm.name, group=other.group), vm.location))
        by_name.setdefault(vm.name, vm)
    if problems:
        raise ValidationFailed(problems)
    groups = {g.name: located.location(("vms", i)) for i, g in enumerate(parsed.vms)}
    return BatchSpec(
        parsed.department,
        parsed.name,
        parsed.owner,
        tuple(vms),
        located.file,
        groups,
        located.location(("department",)),
    )
