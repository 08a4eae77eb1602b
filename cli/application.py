"""The composition root: the Application object every command gets from ``ctx.obj`` (hatch's pattern).

It holds the global options and builds, from the config and on first use, every port a command
needs: ``cloud()``, ``metrics()``, ``runner()``, ``audit_engine()``, ``store``, ``credentials``,
inventories and departments. This is the one place that picks an adapter for a port; commands
never import an adapter, and tests put fakes in through ``Ports`` (``main(argv, ports=...)``)
instead of patching command modules. See docs/design/layers.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from govops.cli.terminal import Terminal
from govops.errors import ConfigError, CredentialError, InputError
from govops.i18n import Msg, default_lang
from govops.paths import data_dir, display_path, project_root

if TYPE_CHECKING:
    from govops.automation.ports import PlaybookRunner
    from govops.capacity.ports import MetricsPort
    from govops.cloud.connection import CloudTarget
    from govops.cloud.ports import CloudPort
    from govops.config import LoadedConfig
    from govops.credentials import Credentials
    from govops.departments import Departments
    from govops.i18n import Translator
    from govops.network.audit import AuditEngine, Executor
    from govops.network.inventory import Inventory
    from govops.network.remediation.engine import RemediationEngine
    from govops.observer import Observer
    from govops.store import SqlStore

    AuditEngineFactory = Callable[..., AuditEngine]
    RemediationEngineFactory = Callable[..., RemediationEngine]


@dataclass
class Ports:
    """Adapters put in place of the configured ones (tests' fakes); None: built from the config.

    ``audit_engine`` is a factory ``(app, observer, *, workers, snmp_concurrency) -> AuditEngine``:
    an engine takes the observer of the command's progress."""

    cloud: CloudPort | None = None
    metrics: MetricsPort | None = None
    runner: PlaybookRunner | None = None
    audit_engine: AuditEngineFactory | None = None
    remediation_engine: RemediationEngineFactory | None = None  # (app, observer, **settings)
    store: SqlStore | None = None
    credentials: Credentials | None = None
    executor: Executor | None = None  # the audit's executor when it is `celery`


@dataclass
class Application:
    terminal: Terminal = field(default_factory=Terminal)
    config_path: Path | None = None
    project_root: Path | None = None
    lang: str | None = None
    _config: LoadedConfig | None = None
    _store: SqlStore | None = None
    _credentials: Credentials | None = None
    _inventories: dict[Path, Inventory] = field(default_factory=dict)
    ports: Ports = field(default_factory=Ports)
    # `govops cloud --os-cloud/--os-region`: the cloud the cloud commands open
    os_cloud: str | None = None
    os_region: str | None = None
    _cloud: CloudPort | None = None
    _metrics: MetricsPort | None = None

    @property
    def verbose(self) -> int:
        return self.terminal.verbose

    def resolve_lang(self) -> str:
        """--lang, $GOVOPS_LANG, the config's ``lang``, the locale, English."""
        if self.lang:
            return self.lang
        import os

        if os.environ.get("GOVOPS_LANG") in ("zh", "en"):
            return os.environ["GOVOPS_LANG"]
        try:
            cfg_lang = self.config.config.lang
        except Exception:  # noqa: BLE001 - a broken config is reported by the command that needs it
            cfg_lang = None
        return cfg_lang or default_lang()

    def apply_lang(self) -> None:
        self.terminal._t = None
        self.terminal.lang_resolver = self.resolve_lang

    @property
    def t(self) -> Translator:
        return self.terminal.t

    @property
    def config(self) -> LoadedConfig:
        if self._config is None:
            from govops.config import load_config

            self._config = load_config(self.config_path, self.project_root)
        return self._config

    @property
    def root(self) -> Path:

        return project_root(self.project_root)

    @property
    def store(self) -> SqlStore:
        if self.ports.store is not None:
            return self.ports.store
        if self._store is None:
            from govops.store import open_store

            self._store = open_store(self.config.store_url)
        return self._store

    @property
    def credentials(self) -> Credentials:
        if self.ports.credentials is not None:
            return self.ports.credentials
        if self._credentials is None:
            self._credentials = build_credentials(self.config)
        return self._credentials

    # -- ports ------------------------------------------------------------------------------------

    def cloud_target(self) -> CloudTarget:
        """Which cloud: --os-cloud, cloud.name in govops.yaml, $OS_CLOUD / $OS_AUTH_URL."""
        from govops.cloud.connection import resolve_target

        return resolve_target(self.os_cloud, self.config, self.os_region)

    def cloud(self) -> CloudPort:
        """The OpenStack cloud (one connection per command; no request until the first call)."""
        if self.ports.cloud is not None:
            return self.ports.cloud
        if self._cloud is None:
            from govops.cloud.openstack import connect

            self._cloud = connect(self.cloud_target())
        return self._cloud

    def cloud_configured(self) -> bool:
        """Whether a cloud is named anywhere (a command that can do without one asks first)."""
        import os

        if self.ports.cloud is not None:
            return True
        return bool(
            self.os_cloud
            or self.config.config.cloud.name
            or os.environ.get("OS_CLOUD")
            or os.environ.get("OS_AUTH_URL")
        )

    def metrics(self) -> MetricsPort:
        """The configured Prometheus."""
        if self.ports.metrics is not None:
            return self.ports.metrics
        if self._metrics is None:
            from govops.capacity.prometheus import connect

            section = self.config.config.prometheus
            if not section.url:
                raise ConfigError(
                    Msg("err.metrics.none", source=self.config.describe_source()),
                    hint=Msg("err.metrics.hint_none"),
                )
            self._metrics = connect(section.url, timeout=section.timeout)
        return self._metrics

    def runner(self) -> PlaybookRunner:
        """The playbook runner: ansible-runner, its private folders under the data directory."""
        if self.ports.runner is not None:
            return self.ports.runner
        from govops.automation.ansible import AnsibleRunner

        return AnsibleRunner(data_dir() / "ansible")

    def audit_engine(
        self,
        observer: Observer,
        *,
        workers: int | None = None,
        snmp_concurrency: int | None = None,
        executor: str | None = None,
    ) -> AuditEngine:
        """The audit engine: SSH and SNMP collectors, the analyzer with the configured rules.

        ``executor`` (``--executor``, else ``network.executor``): ``celery`` hands the per-device
        work to ``govops worker``s through the broker (``audit_executor``)."""
        if self.ports.audit_engine is not None:
            engine = self.ports.audit_engine(self, observer, workers=workers, snmp_concurrency=snmp_concurrency)
        else:
            from govops.network.service import build_audit_engine

            engine = build_audit_engine(self, observer, workers=workers, snmp_concurrency=snmp_concurrency)
        if (executor or self.config.config.network.executor) == "celery":
            engine.executor = self.audit_executor()
        return engine

    def audit_executor(self) -> Executor:
        """The Celery executor (the one adapter of the broker): batches to the workers' queues."""
        if self.ports.executor is not None:
            return self.ports.executor
        from govops.network.distributed import build_executor

        return build_executor(self.config, self.store)

    def remediation_engine(
        self,
        observer: Observer,
        *,
        workers: int | None = None,
        device_timeout: float | None = None,
        max_failures: int | None = None,
    ) -> RemediationEngine:
        """The remediation engine: configuration sessions and the re-audit, with the audit's host-key policy."""
        settings = {"workers": workers, "device_timeout": device_timeout, "max_failures": max_failures}
        if self.ports.remediation_engine is not None:
            return self.ports.remediation_engine(self, observer, **settings)
        from govops.network.remediation.service import build_engine

        return build_engine(self, observer, workers=workers, device_timeout=device_timeout, max_failures=max_failures)

    def playbook_dirs(self) -> list[Path]:
        from govops.automation.request import playbook_dirs

        return playbook_dirs(self.config, self.root)

    def departments(self) -> Departments:
        from govops.departments import load_departments

        path = self.config.departments_file
        return load_departments(path, display=display_path(path))

    def inventory(self, override: Path | None = None) -> Inventory:
        from govops.network.inventory import load_inventory

        path = (override or self.config.inventory_dir).resolve()
        inv = self._inventories.get(path)
        if inv is None:
            inv = self._inventories[path] = load_inventory(path, display=display_path(path))
        return inv

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def build_credentials(config: LoadedConfig) -> Credentials:
    import os

    from govops.credentials import Credentials, CredentialSource, EnvSource, KeyringSource, VaultSource

    section = config.config.credentials
    sources: list[CredentialSource] = []
    for name in section.sources:
        if name == "env":
            sources.append(EnvSource(section.env_prefix))
        elif name == "keyring":
            sources.append(KeyringSource(section.keyring_service))
        elif name == "vault" and config.vault_file is not None:
            password = os.environ.get(section.vault_password_env)
            if password is None and config.vault_password_file is not None:
                from govops.yamlio import MAX_PASSWORD_FILE_BYTES, read_text

                try:
                    password = read_text(
                        config.vault_password_file,
                        str(config.vault_password_file),
                        "vault password file",
                        limit=MAX_PASSWORD_FILE_BYTES,
                    ).strip()
                except InputError as exc:
                    raise CredentialError(exc.msg) from None
            if password is None:
                raise CredentialError(
                    Msg("err.cred.no_vault_password", path=config.vault_file),
                    hint=Msg("err.cred.hint_vault_password", var=section.vault_password_env),
                )
            sources.append(VaultSource(config.vault_file, password))
    return Credentials(sources)


def app_of(ctx: typer.Context) -> Application:
    obj = ctx.find_root().obj
    if isinstance(obj, Application):
        return obj
    state = Application()  # commands invoked without main(): tests, completion
    ctx.find_root().obj = state
    return state
