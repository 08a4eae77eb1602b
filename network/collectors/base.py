"""Ports and failure kinds shared by collectors and the audit engine."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from govops.credentials import Credential

Status = Literal["ok", "unreachable", "auth_failed", "timeout", "parse_error", "error"]
SnmpValue = int | str | bytes


class CollectError(Exception):
    """A collection failed in a known way; ``status`` is the device status it maps to."""

    status: Status = "error"
    retryable = False

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unreachable(CollectError):
    status = "unreachable"
    retryable = True  # connect failures only are retried, with backoff and jitter


class AuthFailed(CollectError):
    status = "auth_failed"


class TimedOut(CollectError):
    status = "timeout"


class HostKeyMismatch(CollectError):
    status = "error"


@dataclass(frozen=True)
class SshTarget:
    hostname: str
    host: str
    port: int
    platform: str
    device_type: str
    timeout: float


@dataclass(frozen=True)
class SnmpTarget:
    hostname: str
    host: str
    port: int
    version: Literal["v2c", "v3"]
    timeout: float
    retries: int
    auth_protocol: str = "sha"
    priv_protocol: str = "aes"
    context: str | None = None


@dataclass
class SshOutput:
    outputs: dict[str, str]
    host_key: tuple[str, str] | None = None  # (key type, SHA256 fingerprint)
    prompt: str | None = None


@dataclass
class SnmpOutput:
    values: dict[str, SnmpValue] = field(default_factory=dict)


class SshCollector(Protocol):
    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        """Run ``commands`` in one session; ``deadline`` is a time.monotonic() value."""

    def probe(self, host: str, port: int, timeout: float) -> bool:
        """Does ``host:port`` accept a TCP connection (management reachable on that address)?"""


class SnmpCollector(Protocol):
    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        """GET ``gets`` and bulk-walk each root in ``walks``; numeric OIDs only."""

    async def answers_community(self, target: SnmpTarget, community: str, timeout: float) -> bool:
        """Does the agent answer an SNMPv2c GET with ``community`` (one try, no retries)?"""

    def close(self) -> None: ...
