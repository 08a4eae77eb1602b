"""Credentials by name, from the environment, an ansible-vault file or the OS keyring.

An inventory or config says ``credential: extranet-ssh``; this module turns the name into the
fields (username, password, community, auth_key, priv_key) at the moment a connection needs them.
Values are wrapped in ``Secret`` so they never print, and every value handed out is registered
with ``redact`` so logs and error messages can scrub it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from govops.errors import CredentialError, ExitCode
from govops.i18n import Msg, Text

FIELDS = ("username", "password", "community", "auth_key", "priv_key", "enable")


class Secret:
    """A string that shows as ``******`` in str(), repr(), f-strings, logs and tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        _KNOWN.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('******')"

    def __str__(self) -> str:
        return "******"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # unpickled through __init__, so a worker process that receives a secret (SSH sessions
        # run in worker processes) scrubs it from its messages too
        return (Secret, (self._value,))


class _Known:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        # Very short values would scrub ordinary words; they are weak secrets anyway.
        if len(value) >= 4 and value not in self._values:
            with self._lock:
                self._values.add(value)
                self._pattern = None

    def scrub(self, text: str) -> str:
        if not self._values:
            return text
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                alts = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(re.escape(v) for v in alts))
        return pattern.sub("******", text)


_KNOWN = _Known()


def redact(text: str) -> str:
    """Replace every secret govops has handed out in this process with ``******``."""
    return _KNOWN.scrub(text)


# Names of URL query parameters and variables that carry a credential (libpq password, API tokens, keys).
SECRET_NAME = re.compile(r"pass|pwd|secret|token|api[-_]?key|auth|credential|community", re.IGNORECASE)
MASK = "******"


def _userinfo(url: str) -> tuple[int, int, str | None]:
    """(start, end) of the authority and its userinfo (None without ``@``), as written; no parsing
    that could refuse a malformed URL (an unbalanced IPv6 bracket) and thereby skip the masking."""
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    end = min((i for i in (url.find(c, start) for c in "/?#") if i >= 0), default=len(url))
    userinfo, at, _ = url[start:end].rpartition("@")
    return start, end, userinfo if at else None


def _secret_params(url: str) -> list[tuple[str, str]]:
    from urllib.parse import unquote

    query = url.partition("?")[2].partition("#")[0]
    out = []
    for piece in query.split("&"):
        key, sep, value = piece.partition("=")
        if sep and value and SECRET_NAME.search(unquote(key)):
            out.append((key, value))
    return out


def url_secrets(url: str) -> list[str]:
    """The passwords a URL carries: the userinfo's, and password-like query parameters' values."""
    from urllib.parse import unquote, unquote_plus

    found: list[str] = []
    userinfo = _userinfo(url)[2]
    if userinfo and ":" in userinfo:
        raw = userinfo.split(":", 1)[1]
        found += [raw, unquote(raw)]
    for _, value in _secret_params(url):
        found += [value, unquote(value), unquote_plus(value)]
    return [v for v in dict.fromkeys(found) if v]


def register_url_secrets(url: str | None) -> None:
    """Scrub the URL's passwords from every message from now on (``redact``), wherever the URL ends up."""
    for value in url_secrets(url or ""):
        Secret(value)


def redact_url(url: str) -> str:
    """The URL for display: ``user:******@host``, ``?password=******``; the rest exactly as written."""
    start, _, userinfo = _userinfo(url)
    if userinfo and ":" in userinfo:
        url = f"{url[:start]}{userinfo.split(':', 1)[0]}:{MASK}@{url[start + len(userinfo) + 1 :]}"
    secret = {key for key, _ in _secret_params(url)}
    if not secret:
        return url
    head, _, rest = url.partition("?")
    query, hash_, fragment = rest.partition("#")
    pieces = [
        f"{key}={MASK}" if sep and key in secret else key + sep + value
        for key, sep, value in (p.partition("=") for p in query.split("&"))
    ]
    return f"{head}?{'&'.join(pieces)}{hash_}{fragment}"


@dataclass(frozen=True)
class Credential:
    name: str
    source: str
    username: str | None = None
    password: Secret | None = None
    community: Secret | None = None
    auth_key: Secret | None = None
    priv_key: Secret | None = None
    enable: Secret | None = None


class CredentialSource(Protocol):
    name: str

    def lookup(self, credential: str) -> Mapping[str, str] | None:
        """The fields stored for ``credential``, or None when this source does not have it."""


def env_var_name(credential: str, fld: str, prefix: str = "GOVOPS_CRED_") -> str:
    """``extranet-ssh`` + ``password`` -> ``GOVOPS_CRED_EXTRANET_SSH_PASSWORD``."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", credential).upper() + "_" + fld.upper()


class EnvSource:
    name = "env"

    def __init__(self, prefix: str = "GOVOPS_CRED_", environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self.environ = environ if environ is not None else os.environ

    def lookup(self, credential: str) -> Mapping[str, str] | None:
        found = {f: self.environ[v] for f in FIELDS if (v := env_var_name(credential, f, self.prefix)) in self.environ}
        return found or None


class KeyringSource:
    """OS keyring entries: service ``govops``, user ``<credential>:<field>``."""

    name = "keyring"

    def __init__(self, service: str = "govops") -> None:
        self.service = service

    def lookup(self, credential: str) -> Mapping[str, str] | None:
        try:
            import keyring
            import keyring.errors
        except ImportError:
            return None
        found: dict[str, str] = {}
        try:
            for f in FIELDS:
                value = keyring.get_password(self.service, f"{credential}:{f}")
                if value is not None:
                    found[f] = value
        except keyring.errors.KeyringError:
            return None  # no usable backend (headless server): other sources still apply
        return found or None


class VaultFileError(CredentialError):
    """The vault file is unusable (a folder, damaged, wrong password, not UTF-8 or YAML): bad input."""

    exit_code = ExitCode.USAGE


class VaultSource:
    """An ansible-vault encrypted YAML file: ``credential-name: {username: .., password: ..}``."""

    name = "vault"

    def __init__(self, path: Path, password: str) -> None:
        self.path = path
        self._password = password
        self._data: dict[str, dict[str, str]] | None = None

    def _load(self) -> dict[str, dict[str, str]]:
        if self._data is None:
            from govops.errors import InputError, ValidationFailed
            from govops.vault import VaultError, decrypt
            from govops.yamlio import loads, read_bytes

            try:
                # read_bytes: a folder, a FIFO or a huge file is a clear error, not a hang
                plain = decrypt(read_bytes(self.path, str(self.path), "vault file"), self._password)
            except InputError as exc:
                raise VaultFileError(exc.msg) from None
            except VaultError as exc:
                raise VaultFileError(Msg("err.vault.file", path=self.path, reason=exc.msg)) from None
            except UnicodeDecodeError:
                raise VaultFileError(Msg("err.vault.not_utf8", path=self.path)) from None
            try:
                # the project's loader: aliases are bounded there ("billion laughs")
                data = loads(plain, str(self.path)).data
            except ValidationFailed:
                # the loader's message may quote the decrypted text: say only that it is broken
                raise VaultFileError(Msg("err.vault.not_yaml", path=self.path)) from None
            if not isinstance(data, dict):
                raise VaultFileError(Msg("err.vault.not_mapping", path=self.path))
            self._data = {
                str(k): {str(f): str(v) for f, v in (val or {}).items()}
                for k, val in data.items()
                if isinstance(val, dict) or val is None
            }
        return self._data

    def lookup(self, credential: str) -> Mapping[str, str] | None:
        return self._load().get(credential)


class CredentialNotFound(CredentialError):
    """No configured source has the credential (as opposed to a source that failed, e.g. a vault
    with the wrong password, which ``describe`` must not hide as "not found")."""


class Credentials:
    """Resolves credential names through the configured sources, first hit wins, cached."""

    def __init__(self, sources: Iterable[CredentialSource]) -> None:
        self.sources = list(sources)
        self._cache: dict[str, Credential] = {}
        self._lock = threading.Lock()

    def get(self, name: str, *, needs: Sequence[str] = ("username", "password")) -> Credential:
        """The credential ``name`` from the first source that has it. ``needs``: the fields its use
        requires (SSH a user and password, SNMP v2c a community, SNMPv3 a user with an auth and a
        privacy key), named in the hint when no source has it."""
        with self._lock:
            cached = self._cache.get(name)
            if cached is not None:
                return cached
            for src in self.sources:
                fields = src.lookup(name)
                if fields:
                    cred = Credential(
                        name=name,
                        source=src.name,
                        username=fields.get("username"),
                        **{f: Secret(fields[f]) for f in FIELDS if f != "username" and f in fields},
                    )
                    self._cache[name] = cred
                    return cred
        tried: Text = ", ".join(s.name for s in self.sources) or Msg("err.cred.no_sources")
        prefix = next((s.prefix for s in self.sources if isinstance(s, EnvSource)), "GOVOPS_CRED_")
        raise CredentialNotFound(
            Msg("err.cred.not_found", name=name, tried=tried),
            hint=Msg("err.cred.hint_export", exports=" ".join(f"{env_var_name(name, f, prefix)}=…" for f in needs)),
        )

    def describe(self, name: str) -> tuple[str | None, list[str]]:
        """(source, fields) for doctor, without revealing any value; a failing source raises."""
        try:
            cred = self.get(name)
        except CredentialNotFound:
            return None, []
        return cred.source, [f for f in FIELDS if getattr(cred, f) is not None]
