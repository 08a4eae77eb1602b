"""The Application object every command gets from ``ctx.obj`` (hatch's pattern).

It holds the global options and builds config, store, inventories and credentials on first use,
so a command pays only for what it touches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from govops.cli.terminal import Terminal
from govops.i18n import default_lang

if TYPE_CHECKING:
    from govops.config import LoadedConfig
    from govops.credentials import Credentials
    from govops.departments import Departments
    from govops.i18n import Translator
    from govops.network.inventory import Inventory
    from govops.store import SqlStore


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
        from govops.paths import project_root

        return project_root(self.project_root)

    @property
    def store(self) -> SqlStore:
        if self._store is None:
            from govops.store import open_store

            self._store = open_store(self.config.store_url)
        return self._store

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = build_credentials(self.config)
        return self._credentials

    def departments(self) -> Departments:
        from govops.departments import load_departments
        from govops.paths import display_path

        path = self.config.departments_file
        return load_departments(path, display=display_path(path))

    def inventory(self, override: Path | None = None) -> Inventory:
        from govops.network.inventory import load_inventory
        from govops.paths import display_path

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
    from govops.errors import CredentialError, InputError

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
                from govops.yamlio import read_text

                try:
                    password = read_text(
                        config.vault_password_file,
                        str(config.vault_password_file),
                        "vault password file",
                        limit=64 * 1024,
                    ).strip()
                except InputError as exc:
                    raise CredentialError(exc.message) from None
            if password is None:
                raise CredentialError(
                    f"vault file {config.vault_file} is configured but no vault password was given",
                    hint=f"export {section.vault_password_env} or set credentials.vault_password_file",
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
