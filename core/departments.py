"""Departments: each one an OpenStack project with quotas and an owner (inventories/departments.yaml)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from govops import yamlio
from govops.errors import Location, NotFoundError, Problem, ValidationFailed
from govops.i18n import Msg
from govops.validation import problems_from
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

QUOTA_MAX = 1_000_000
RAM_GB_MAX = 2_000_000
VOLUME_GB_MAX = 100_000_000
QUOTA_FIELDS = ("cores", "ram_gb", "instances", "volume_gb", "volumes", "floating_ips")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quotas(_Model):
    """Quota limits; a field left out means "leave the cloud's value alone", never zero."""

    # Strict integers: YAML reads `yes`/`no`/`true` as booleans, which lax parsing would turn into
    # 1 and 0, and 1e6 as a float; `quota sync` would push them to the cloud. -1 is "unlimited".
    # The upper bounds are far above any department and below what Nova and Cinder store (int32;
    # Nova keeps RAM in MiB, hence ram_gb's lower bound).
    cores: StrictInt | None = Field(None, ge=-1, le=QUOTA_MAX)
    ram_gb: StrictInt | None = Field(None, ge=-1, le=RAM_GB_MAX)
    instances: StrictInt | None = Field(None, ge=-1, le=QUOTA_MAX)
    volume_gb: StrictInt | None = Field(None, ge=-1, le=VOLUME_GB_MAX)
    volumes: StrictInt | None = Field(None, ge=-1, le=QUOTA_MAX)
    floating_ips: StrictInt | None = Field(None, ge=-1, le=QUOTA_MAX)
    ports: StrictInt | None = Field(None, ge=-1, le=QUOTA_MAX)

    def set_fields(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Owner(_Model):
    name: str
    email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = None


class Department(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    project: str = Field(min_length=1, max_length=64)
    quotas: Quotas = Field(default_factory=Quotas)
    owner: Owner | None = None

    @field_validator("name_zh", "name_en", "project")
    @classmethod
    def _strip(cls, value: str) -> str:
        if value != value.strip():
            raise ValueError(Msg("err.dept.spaces"))
        return value

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


class _File(_Model):
    departments: list[Department]


@dataclass(frozen=True)
class Departments:
    """All departments, looked up by code, project, Chinese or English name."""

    items: tuple[Department, ...]
    source: str

    def __iter__(self) -> Iterator[Department]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, ref: str) -> Department:
        key = ref.strip().casefold()
        for d in self.items:
            if key in (d.code, d.project.casefold(), d.name_zh.casefold(), d.name_en.casefold()):
                return d
        names = [d.code for d in self.items] + [d.name_zh for d in self.items] + [d.project for d in self.items]
        close = difflib.get_close_matches(ref, names, n=3, cutoff=0.6)
        hint = Msg("err.did_you_mean", names=", ".join(close)) if close else Msg("err.dept.hint_list")
        raise NotFoundError(Msg("err.dept.unknown", ref=ref, source=self.source), hint=hint)

    def by_project(self) -> dict[str, Department]:
        return {d.project: d for d in self.items}


def load_departments(path: Path, display: str | None = None) -> Departments:
    located = yamlio.load(path, display=display)
    name = located.file
    if not isinstance(located.data, dict) or "departments" not in located.data:
        raise ValidationFailed([Problem(Msg("err.dept.not_mapping"), Location(name, 1))])
    from pydantic import ValidationError

    try:
        parsed = _File.model_validate(located.data)
    except ValidationError as exc:
        raise ValidationFailed(problems_from(exc, located)) from None
    problems: list[Problem] = []
    for field in ("code", "project", "name_zh"):
        seen: dict[str, int] = {}
        for i, d in enumerate(parsed.departments):
            value = getattr(d, field)
            if value in seen:
                problems.append(
                    Problem(
                        Msg("err.duplicate", field=field, value=value, other=f"departments[{seen[value]}]"),
                        located.location(("departments", i, field)),
                    )
                )
            seen.setdefault(value, i)
    if problems:
        raise ValidationFailed(problems)
    return Departments(tuple(parsed.departments), name)
