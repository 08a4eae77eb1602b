"""govops.yaml: where the cloud, Prometheus, inventories, store and credentials are.

Looked up in this order: ``--config``, ``$GOVOPS_CONFIG``, ``./govops.yaml``,
``~/.config/govops/config.yaml``; with none found, defaults relative to the project root.
Relative paths inside a config file are relative to that file's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from govops import paths, yamlio
from govops.credentials import register_url_secrets
from govops.errors import ConfigError, Location, Problem, ValidationFailed
from govops.i18n import Msg
from govops.validation import validate
from pydantic import BaseModel, ConfigDict, Field, field_validator

CONFIG_ENV = "GOVOPS_CONFIG"
CredentialSourceName = Literal["env", "vault", "keyring"]
_ALL_SOURCES: tuple[CredentialSourceName, ...] = ("env", "vault", "keyring")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(Msg("err.config.not_url"))
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked (`http://h:abc`)
    except ValueError:
        raise ValueError(Msg("err.config.bad_port")) from None
    return value.rstrip("/")


class CloudSection(_Section):
    """Which cloud from clouds.yaml; empty means the OpenStack conventions (``OS_CLOUD``)."""

    name: str | None = None
    clouds_file: Path | None = None
    region: str | None = None


class PrometheusSection(_Section):
    url: str | None = None
    timeout: float = Field(30.0, gt=0, le=86400, allow_inf_nan=False)
    # Label names differ between exporters; these are the ones the capacity queries group by.
    department_label: str = "department"
    project_label: str = "project"
    # capacity: where a series' department comes from (the department label, or the project's name or
    # ID mapped through inventories/departments.yaml), and an info metric joined on ``domain`` when the
    # libvirt exporter puts nova's project labels only there (e.g. libvirt_domain_info_meta)
    department_from: Literal["label", "project_name", "project_id"] = "label"
    info_metric: str | None = None
    host_label: str = "host"  # the label naming a VM's hypervisor on libvirt series

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)


class NetworkSection(_Section):
    inventory: Path = Path("inventories/extranet")
    ssh_workers: int = Field(50, ge=1, le=1000)
    snmp_concurrency: int = Field(40, ge=1, le=2000)
    device_timeout: float = Field(60.0, gt=0, le=86400, allow_inf_nan=False)
    connect_timeout: float = Field(10.0, gt=0, le=3600, allow_inf_nan=False)
    retries: int = Field(2, ge=0, le=10)
    # OpenSSH-format file of the devices' host keys; default: <data dir>/known_hosts
    known_hosts: Path | None = None
    # accept-new: pin on first use, refuse a changed key (OpenSSH's StrictHostKeyChecking=accept-new);
    # strict: the key must be in known_hosts; accept: any key (insecure). "pin" is the old name of accept-new.
    host_key_policy: Literal["accept", "accept-new", "strict"] = "accept-new"
    rules: list[Path] = Field(default_factory=list)
    fixes: list[Path] = Field(
        default_factory=list,
        description="Your own fix template files (paths relative to govops.yaml) for `govops net remediate`; "
        "a fix for a rule replaces the shipped one: "
        "[Remediation](../guides/network/remediation.md#writing-a-fix).",
    )
    # how SNMP messages are encoded and decoded: govops' BER codec under pysnmp ("fast", about half
    # the SNMP workers' CPU saved) or pyasn1's own (pysnmp untouched); docs/design/layers.md
    snmp_codec: Literal["fast", "pyasn1"] = "fast"
    # Scale-out (docs/guides/network/scale-out.md): where the per-device work runs. `celery`
    # hands batches of devices to `govops worker` processes through the broker; results meet in
    # the (PostgreSQL) store.
    executor: Literal["local", "celery"] = Field(
        "local",
        description="Where `net audit` audits the devices: `local` (this machine's processes) or `celery` "
        "(`govops worker`s, through `network.broker`; `--executor`): "
        "[Scale-out](../guides/network/scale-out.md).",
    )
    broker: str | None = Field(
        None,
        description="The Celery broker of `--executor celery` and `govops worker`: `redis://host:6379/0` "
        "(or `amqp://user@host:5672//`; `rediss://`/`amqps://` for TLS), without its password "
        "(`broker_password_env`).",
    )
    broker_password_env: str = Field(
        "GOVOPS_BROKER_PASSWORD",
        description="Name of the environment variable holding the broker's password (on the coordinator "
        "and every worker); none set: no password.",
    )
    routes: dict[str, str] = Field(
        default_factory=dict,
        description="County code, site code or inventory group -> queue (first match in file order; "
        "else queue `govops`): a city's devices go only to the workers reading its queue.",
    )
    batch_size: int = Field(10, ge=1, le=1000, description="Devices per Celery task (`--executor celery`).")
    worker_pool: Literal["prefork", "engine"] = Field(
        "engine",
        description="How `govops worker` runs batches (`--pool`): `engine`, batches in threads of the worker "
        "process feeding one audit engine, as a local audit runs (SSH and SNMP in worker processes of their "
        "own); `prefork`, one Celery pool process per batch doing its SSH, SNMP and rules itself.",
    )
    # Redis redelivers a task not acknowledged within this (a lost worker's), so it must exceed
    # the longest batch
    visibility_timeout: float = Field(
        3600.0,
        gt=0,
        description="Seconds after which Redis hands an unacknowledged task (its worker was lost) to "
        "another worker; longer than the slowest batch.",
    )

    @field_validator("broker")
    @classmethod
    def _broker_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
            raise ValueError(Msg("err.config.broker_scheme"))
        # govops.yaml is often tracked and copied to every collector: the password comes from
        # each machine's environment, as PostgreSQL's does (PGPASSWORD, ~/.pgpass)
        # kombu falls back to an unverified TLS connection (CERT_NONE) without this parameter
        if (
            value is not None
            and value.startswith("rediss://")
            and "ssl_cert_reqs=required" not in urlsplit(value).query.lower().replace("cert_required", "required")
        ):
            raise ValueError(Msg("err.config.broker_tls"))
        if value is not None and urlsplit(value).password:
            raise ValueError(Msg("err.config.broker_password"))
        return value

    @field_validator("host_key_policy", mode="before")
    @classmethod
    def _old_pin(cls, value: object) -> object:
        return "accept-new" if value == "pin" else value


class StoreSection(_Section):
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError(Msg("err.config.store_scheme"))
        return value


class ReportSection(_Section):
    """Manager reports: times are shown in this IANA zone (default: the machine's)."""

    timezone: str | None = Field(
        None,
        description="IANA time zone of the times in `govops report` documents, e.g. `Asia/Shanghai`; "
        "empty: the machine's zone. The zone's name is printed in each report's header: "
        "[Report formats](../guides/managers/report-formats.md).",
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(Msg("err.config.timezone", zone=value)) from None
        return value


class CredentialsSection(_Section):
    sources: list[CredentialSourceName] = Field(default_factory=lambda: list(_ALL_SOURCES))
    env_prefix: str = "GOVOPS_CRED_"
    vault_file: Path | None = None
    vault_password_file: Path | None = None
    vault_password_env: str = "GOVOPS_VAULT_PASSWORD"  # noqa: S105 - the name of a variable
    keyring_service: str = "govops"


class GovopsConfig(_Section):
    version: Literal[1] = 1
    lang: Literal["zh", "en"] | None = None
    departments: Path = Path("inventories/departments.yaml")
    playbooks: Path = Path("playbooks")
    cloud: CloudSection = Field(default_factory=CloudSection)
    prometheus: PrometheusSection = Field(default_factory=PrometheusSection)
    network: NetworkSection = Field(default_factory=NetworkSection)
    store: StoreSection = Field(default_factory=StoreSection)
    report: ReportSection = Field(default_factory=ReportSection)
    credentials: CredentialsSection = Field(default_factory=CredentialsSection)


class LoadedConfig:
    """The validated config plus where it came from, with every path made absolute."""

    def __init__(self, config: GovopsConfig, source: Path | None, base: Path) -> None:
        self.source = source
        self.base = base
        self.config = config

    def path(self, value: Path) -> Path:
        value = value.expanduser()
        return value if value.is_absolute() else (self.base / value)

    @property
    def departments_file(self) -> Path:
        return self.path(self.config.departments)

    @property
    def inventory_dir(self) -> Path:
        return self.path(self.config.network.inventory)

    @property
    def playbooks_dir(self) -> Path:
        return self.path(self.config.playbooks)

    @property
    def store_url(self) -> str:
        url = self.config.store.url
        if url is None:
            return f"sqlite:///{paths.data_dir() / 'govops.db'}"
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            # sqlite:///relative.db is relative to the config file, like every other path here
            return f"sqlite:///{self.path(Path(url[len('sqlite:///') :]))}"
        return url

    @property
    def known_hosts_file(self) -> Path:
        f = self.config.network.known_hosts
        return self.path(f) if f is not None else paths.data_dir() / "known_hosts"

    @property
    def clouds_file(self) -> Path | None:
        f = self.config.cloud.clouds_file
        return self.path(f) if f is not None else None

    @property
    def vault_file(self) -> Path | None:
        f = self.config.credentials.vault_file
        return self.path(f) if f is not None else None

    @property
    def vault_password_file(self) -> Path | None:
        f = self.config.credentials.vault_password_file
        return self.path(f) if f is not None else None

    def describe_source(self) -> str:
        return str(self.source) if self.source else "built-in defaults"


def find_config(explicit: Path | None) -> Path | None:
    """The config file to use, by precedence; an explicitly named file must exist."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(Msg("err.config.not_found", path=explicit), hint=Msg("err.config.hint_check"))
        return explicit
    env = os.environ.get(CONFIG_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise ConfigError(
                Msg("err.config.not_found_env", path=p, var=CONFIG_ENV),
                hint=Msg("err.config.hint_unset", var=CONFIG_ENV),
            )
        return p
    for candidate in (Path.cwd() / "govops.yaml", paths.config_home() / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: Path | None = None, project_root: Path | None = None) -> LoadedConfig:
    source = find_config(explicit)
    root = paths.project_root(project_root)
    if source is None:
        return LoadedConfig(GovopsConfig(), None, root)
    located = yamlio.load(source, limit=yamlio.MAX_CONFIG_BYTES)
    data = located.data if located.data is not None else {}
    if not isinstance(data, dict):
        raise ValidationFailed([Problem(Msg("err.config.not_mapping"), Location(str(source), 1))])
    config = validate(GovopsConfig, data, located)
    # a password written into a URL is a secret like any other: scrubbed from every message
    register_url_secrets(config.store.url)
    register_url_secrets(config.prometheus.url)
    return LoadedConfig(config, source, source.resolve().parent)
