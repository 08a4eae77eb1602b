"""SSH host keys checked during the key exchange, before any password is sent (OpenSSH's model).

paramiko's ``SSHClient.connect`` runs the key exchange, then asks the client's host keys or its
missing-host-key policy about the server's key, and only then authenticates. govops loads no host
keys into paramiko: every key goes to ``KeyCheck.missing_host_key``, which looks it up in an
OpenSSH-format ``known_hosts`` file and raises to refuse it, so a device whose key changed never
sees the password.

Policies (``network.host_key_policy``), as OpenSSH's ``StrictHostKeyChecking``:

- ``accept-new`` (default): a known host must offer its known key; a new one is pinned (appended).
- ``strict``: the key must already be in the file; nothing is written.
- ``accept``: no check at all (insecure; for labs).

Entries are keyed as OpenSSH keys them: ``host`` on port 22, ``[host]:port`` on any other port.
Hashed names (``|1|salt|hash``), wildcards, negations and ``@revoked`` lines are understood;
``@cert-authority`` lines are ignored. For a known host the key exchange offers only the key types
the file has for it (``known_types``; OpenSSH puts them first), so a device with several keys is
checked against the one that is known. Many threads of many worker processes pin at once: each
process reads the file once and then only what was appended since; a pin is appended under an
exclusive ``flock`` after reading what others appended, so no entry is lost or duplicated.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import fnmatch
import hashlib
import hmac
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from govops.network.collectors.base import CollectError, HostKeyMismatch

Policy = Literal["accept", "accept-new", "strict"]


class HostKeyRefused(Exception):
    """Raised from inside paramiko's connect (not an ``SSHException``: netmiko would rewrap it)."""

    def __init__(self, error: CollectError) -> None:
        super().__init__(error.reason)
        self.error = error


def host_entry_name(host: str, port: int) -> str:
    """The name OpenSSH files a host's key under."""
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint_of(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class _Entry:
    key_type: str
    blob: bytes
    line: int
    revoked: bool


@dataclass
class _Index:
    exact: dict[str, list[_Entry]] = field(default_factory=dict)
    hashed: list[tuple[bytes, bytes, _Entry]] = field(default_factory=list)
    patterns: list[tuple[list[str], _Entry]] = field(default_factory=list)
    lines: int = 0  # complete lines read so far
    offset: int = 0  # bytes of the file read so far (up to the last complete line)
    inode: int | None = None

    def add_line(self, text: str) -> None:
        self.lines += 1
        fields = text.split()
        if not fields or fields[0].startswith("#"):
            return
        revoked = False
        if fields[0].startswith("@"):
            if fields[0] != "@revoked":
                return  # @cert-authority: certificates are not used by network devices
            revoked = True
            fields = fields[1:]
        if len(fields) < 3:
            return
        names, key_type, b64 = fields[0], fields[1], fields[2]
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            return
        entry = _Entry(key_type, blob, self.lines, revoked)
        plain: list[str] = []
        for name in names.split(","):
            if name.startswith("|1|"):
                parts = name.split("|")
                if len(parts) == 4:
                    with contextlib.suppress(binascii.Error, ValueError):
                        self.hashed.append((base64.b64decode(parts[2]), base64.b64decode(parts[3]), entry))
            elif any(c in name for c in "*?!"):
                self.patterns.append((names.split(","), entry))
                return
            else:
                plain.append(name.lower())
        for name in plain:
            self.exact.setdefault(name, []).append(entry)

    def lookup(self, name: str) -> list[_Entry]:
        found = list(self.exact.get(name, ()))
        if self.hashed:
            raw = name.encode()
            found += [e for salt, h, e in self.hashed if hmac.compare_digest(hmac.digest(salt, raw, "sha1"), h)]
        for patterns, entry in self.patterns:
            if _matches(name, patterns):
                found.append(entry)
        return found


def _matches(name: str, patterns: list[str]) -> bool:
    """OpenSSH's match_hostname: any negated match refuses the line, else any positive match."""
    positive = False
    for p in patterns:
        negated = p.startswith("!")
        if fnmatch.fnmatchcase(name, (p[1:] if negated else p).lower()):
            if negated:
                return False
            positive = True
    return positive


class KnownHosts:
    """One known_hosts file as this process has read it; shared by the process's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index = _Index()
        self._lock = threading.Lock()
        self._loaded = False

    def _read_from(self, fd: int | None = None) -> None:
        """Read what was appended since the last read (everything after a rewrite)."""
        try:
            st = os.stat(fd) if fd is not None else self.path.stat()
        except FileNotFoundError:
            self._index = _Index()
            return
        if st.st_ino != self._index.inode or st.st_size < self._index.offset:
            self._index = _Index(inode=st.st_ino)
        if st.st_size == self._index.offset:
            return
        with open(self.path, "rb") as f:
            f.seek(self._index.offset)
            data = f.read()
        complete = data.rfind(b"\n") + 1  # a line being written by someone else is read next time
        for raw in data[:complete].splitlines():
            self._index.add_line(raw.decode("utf-8", "replace"))
        self._index.offset += complete

    def _verdict(self, name: str, key_type: str, blob: bytes) -> tuple[str, _Entry | None]:
        entries = self._index.lookup(name)
        if any(e.revoked and e.blob == blob for e in entries):
            return "revoked", next(e for e in entries if e.revoked and e.blob == blob)
        valid = [e for e in entries if not e.revoked]
        if any(e.key_type == key_type and e.blob == blob for e in valid):
            return "known", None
        if valid:
            same_type = [e for e in valid if e.key_type == key_type]
            return "changed", (same_type or valid)[0]
        return "unknown", None

    def known_types(self, name: str) -> list[tuple[str, int]]:
        """The key types (with their line) ``name`` has valid entries of, in file order."""
        with self._lock:
            if not self._loaded:
                self._read_from()
                self._loaded = True
            return [(e.key_type, e.line) for e in self._index.lookup(name) if not e.revoked]

    def check(self, name: str, key_type: str, blob: bytes) -> tuple[str, _Entry | None]:
        """("known" | "changed" | "revoked" | "unknown", the entry that disagrees)."""
        with self._lock:
            if not self._loaded:
                self._read_from()
                self._loaded = True
            verdict = self._verdict(name, key_type, blob)
            if verdict[0] != "known":
                # another process may have pinned it, or the file was edited (ssh-keygen -R)
                self._read_from()
                verdict = self._verdict(name, key_type, blob)
            return verdict

    def pin(self, name: str, key_type: str, blob: bytes) -> tuple[str, _Entry | None]:
        """Append ``name``'s key unless the file (as others left it) already knows the host."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._read_from(fd)
                verdict = self._verdict(name, key_type, blob)
                if verdict[0] != "unknown":
                    return verdict
                line = f"{name} {key_type} {base64.b64encode(blob).decode()}\n".encode()
                os.write(fd, line)
                self._read_from(fd)
                return "pinned", None
            finally:
                os.close(fd)  # releases the lock


_FILES: dict[str, KnownHosts] = {}
_FILES_LOCK = threading.Lock()


def known_hosts(path: Path) -> KnownHosts:
    """This process's reader of ``path`` (one per file, shared by every session thread)."""
    key = str(path)
    with _FILES_LOCK:
        found = _FILES.get(key)
        if found is None:
            found = _FILES[key] = KnownHosts(path)
        return found


@dataclass(frozen=True)
class HostKeyPolicy:
    """What the collector checks a device's key against; plain data, sent to worker processes."""

    mode: Policy = "accept-new"
    path: str | None = None

    def check(self, host: str, port: int, key_type: str, blob: bytes) -> None:
        """Return when the key may be trusted; raise ``HostKeyRefused`` (before authentication) if not."""
        if self.mode == "accept" or self.path is None:
            return
        file = known_hosts(Path(self.path))
        name = host_entry_name(host, port)
        try:
            verdict, entry = file.check(name, key_type, blob)
            if verdict == "unknown" and self.mode == "accept-new":
                verdict, entry = file.pin(name, key_type, blob)
        except OSError as exc:
            # not a connection failure (that would be retried): the file cannot be read or written
            reason = f"ssh: cannot check the host key of {name} in {self.path} ({exc.strerror}); no password sent"
            raise HostKeyRefused(CollectError(reason)) from None
        if verdict in ("known", "pinned"):
            return
        offered = f"{key_type} {fingerprint_of(blob)}"
        if verdict == "unknown":
            reason = (
                f"ssh: host key of {name} not in {self.path} (host_key_policy strict); "
                f"offered {offered}; no password sent"
            )
        elif verdict == "revoked":
            assert entry is not None
            reason = f"ssh: host key of {name} is revoked ({self.path}:{entry.line}); no password sent"
        else:
            assert entry is not None
            reason = (
                f"ssh: host key changed for {name}: {self.path}:{entry.line} has {entry.key_type} "
                f"{fingerprint_of(entry.blob)}, the device offered {offered}; no password sent "
                f"(if the device was replaced: ssh-keygen -R '{name}' -f {self.path})"
            )
        raise HostKeyRefused(HostKeyMismatch(reason))

    def known_types(self, host: str, port: int) -> frozenset[str]:
        """The key types known_hosts has for the device: the key exchange asks for these only, as
        OpenSSH prefers them (a device with an ECDSA and an Ed25519 key, known by its ECDSA key,
        must not be refused because Ed25519 comes first in the client's list). Empty: no preference."""
        if self.mode == "accept" or self.path is None:
            return frozenset()
        try:
            return frozenset(t for t, _ in known_hosts(Path(self.path)).known_types(host_entry_name(host, port)))
        except OSError:
            return frozenset()  # check() reports the file's error

    def no_known_type(self, host: str, port: int) -> HostKeyMismatch:
        """The refusal when the device offers no key of the types known for it."""
        name = host_entry_name(host, port)
        known = known_hosts(Path(self.path or "")).known_types(name)
        where = ", ".join(f"{t} ({self.path}:{line})" for t, line in known)
        return HostKeyMismatch(
            f"ssh: host key changed for {name}: known_hosts has {where}, the device offers no key of "
            f"that type; no password sent (if the device was replaced: ssh-keygen -R '{name}' -f {self.path})"
        )

    def paramiko_policy(self, host: str, port: int) -> KeyCheck:
        return KeyCheck(self, host, port)


class KeyCheck:
    """paramiko's MissingHostKeyPolicy interface: called after the key exchange, before auth."""

    def __init__(self, policy: HostKeyPolicy, host: str, port: int) -> None:
        self.policy = policy
        self.host = host
        self.port = port

    def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
        self.policy.check(self.host, self.port, key.get_name(), key.asbytes())
