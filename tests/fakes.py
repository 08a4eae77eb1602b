"""Fakes for fast unit tests of the audit engine; integration tests use the real lab instead."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from govops.credentials import Credential
from govops.network.collectors.base import (
    AuthFailed,
    CollectError,
    SnmpOutput,
    SnmpTarget,
    SshOutput,
    SshTarget,
    TimedOut,
    Unreachable,
)
from govops.network.facts import DeviceFacts
from govops.network.inventory import Device
from govops.network.results import Finding

FAULTS = {"unreachable": Unreachable, "auth": AuthFailed, "timeout": TimedOut, "error": CollectError}


class FakeSsh:
    def __init__(self, behaviour: dict[str, str] | None = None, flaky: dict[str, int] | None = None) -> None:
        self.behaviour = behaviour or {}
        self.flaky = dict(flaky or {})  # hostname -> connect failures before success
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        with self.lock:
            self.calls.append(target.hostname)
            if self.flaky.get(target.hostname, 0) > 0:
                self.flaky[target.hostname] -= 1
                raise Unreachable("ssh: connection refused")
        fault = self.behaviour.get(target.hostname)
        if fault:
            raise FAULTS[fault](f"ssh: {fault}")
        return SshOutput({c: f"{target.hostname} output of {c}" for c in commands}, ("ssh-ed25519", "SHA256:x"))

    def probe(self, host: str, port: int, timeout: float) -> bool:
        with self.lock:
            self.calls.append(f"probe {host}")
        return True


class WorkerFakeSsh:
    """A stateless fake for SSH sessions in worker processes (picklable, no call records here).

    Each output starts with the PID of the process that produced it, and the session fails as ``auth`` unless the
    credential that reached the worker holds ``password``: so a test sees where sessions ran
    and that the secret travelled intact.
    """

    def __init__(self, password: str, behaviour: dict[str, str] | None = None) -> None:
        self.password = password
        self.behaviour = behaviour or {}

    def collect(self, target: SshTarget, credential: Credential, commands: Sequence[str], deadline: float) -> SshOutput:
        import os

        if credential.password is None or credential.password.reveal() != self.password:
            raise AuthFailed("ssh: authentication failed")
        fault = self.behaviour.get(target.hostname)
        if fault == "crash":
            os._exit(1)  # the worker process dies mid-session (OOM killer, segfault)
        if fault:
            raise FAULTS[fault](f"ssh: {fault}")
        return SshOutput({c: f"{os.getpid()} {target.hostname}" for c in commands}, ("ssh-ed25519", "SHA256:x"))

    def probe(self, host: str, port: int, timeout: float) -> bool:
        return True


class FakeSnmp:
    def __init__(
        self,
        behaviour: dict[str, str] | None = None,
        communities: dict[str, set[str]] | None = None,
        flaky: dict[str, int] | None = None,
        delay: float = 0.0,
        capacity: int | None = None,
    ) -> None:
        self.delay = delay  # seconds each poll takes
        self.capacity = capacity  # polls in flight beyond this get no answer (an overloaded agent)
        self.in_flight = 0
        self.behaviour = behaviour or {}
        self.communities = communities or {}  # hostname -> communities the agent answers
        self.flaky = dict(flaky or {})  # hostname -> requests that get no response before one does
        self.calls: list[str] = []
        self.walking: set[str] = set()  # hosts whose collect is in flight
        self.probed_while_walking: set[str] = set()

    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        self.calls.append(target.hostname)
        self.in_flight += 1
        self.walking.add(target.hostname)
        try:
            overloaded = self.capacity is not None and self.in_flight > self.capacity
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
            self.walking.discard(target.hostname)
        if overloaded:
            raise TimedOut("snmp: no response")
        if self.flaky.get(target.hostname, 0) > 0:
            self.flaky[target.hostname] -= 1
            raise TimedOut("snmp: no response")
        fault = self.behaviour.get(target.hostname)
        if fault:
            raise FAULTS[fault](f"snmp: {fault}")
        return SnmpOutput({"1.3.6.1.2.1.1.5.0": target.hostname.encode()})

    async def answers_community(self, target: SnmpTarget, community: str, timeout: float) -> bool:
        self.calls.append(f"probe {target.hostname} {community}")
        if target.hostname in self.walking:
            self.probed_while_walking.add(target.hostname)
        return community in self.communities.get(target.hostname, ())

    def close(self) -> None:
        pass


class FakeAnalyzer:
    """Facts: hostname only; findings: ipv6.forwarding passes unless the host is in ``not_ready``."""

    def __init__(self, not_ready: set[str] | None = None, explode: set[str] | None = None) -> None:
        self.not_ready = not_ready or set()
        self.explode = explode or set()

    def packs(self) -> list[str]:
        return ["ipv6", "baseline"]

    def commands(self, platform: str) -> list[str]:
        return ["show version"]

    def snmp_plan(self) -> tuple[list[str], list[str]]:
        return ["1.3.6.1.2.1.1.5.0"], []

    def facts_from_cli(self, platform: str, outputs: dict[str, str]) -> DeviceFacts:
        return DeviceFacts(hostname=next(iter(outputs.values())).split()[0], platform=platform)

    def facts_from_snmp(self, values: dict[str, Any]) -> DeviceFacts:
        return DeviceFacts(hostname=values["1.3.6.1.2.1.1.5.0"].decode())

    def evaluate(
        self,
        device: Device,
        ssh: DeviceFacts | None,
        snmp: DeviceFacts | None,
        extra: dict[str, Any],
        checks: Sequence[str],
    ) -> tuple[dict[str, Any], list[Finding]]:
        if device.hostname in self.explode:
            raise ZeroDivisionError("analyzer bug")
        facts = (ssh or snmp or DeviceFacts()).to_dict() | extra
        ok = device.hostname not in self.not_ready
        return facts, [Finding("ipv6.forwarding", "ipv6", "IPv6 forwarding", "high", "pass" if ok else "fail")]


class WorkerFakeSnmp:
    """A stateless SNMP fake for worker processes (made there by a picklable factory).

    Answers sysName with the PID of the process that polled, so a test sees where polls ran, and
    sysUpTime with the number of polls in flight in that process when this one started; fails
    as ``auth`` unless the credential that reached the worker holds ``secret``. ``behaviour`` per
    hostname: ``timeout`` (no response), ``slow`` (answers after 30 s), ``crash`` (the worker
    process dies mid-poll).
    """

    def __init__(
        self,
        secret: str,
        behaviour: dict[str, str] | None = None,
        communities: dict[str, set[str]] | None = None,
    ) -> None:
        self.secret = secret
        self.behaviour = behaviour or {}
        self.communities = communities or {}
        self.in_flight = 0

    async def collect(
        self, target: SnmpTarget, credential: Credential, gets: Sequence[str], walks: Sequence[str]
    ) -> SnmpOutput:
        import os

        secret = credential.community or credential.auth_key
        if secret is None or secret.reveal() != self.secret:
            raise AuthFailed("snmp: wrong secret")
        self.in_flight += 1
        try:
            seen = self.in_flight
            fault = self.behaviour.get(target.hostname)
            if fault == "crash":
                os._exit(3)
            if fault == "slow":
                await asyncio.sleep(30)
            if fault:
                raise FAULTS[fault](f"snmp: {fault}")
            await asyncio.sleep(0)
            return SnmpOutput({"1.3.6.1.2.1.1.5.0": str(os.getpid()).encode(), "1.3.6.1.2.1.1.3.0": seen})
        finally:
            self.in_flight -= 1

    async def answers_community(self, target: SnmpTarget, community: str, timeout: float) -> bool:
        return community in self.communities.get(target.hostname, ())

    def close(self) -> None:
        pass


class WorkerAnalyzer(FakeAnalyzer):
    """FakeAnalyzer whose CLI parser records the PID it ran in (os_version) and rejects ``bad``."""

    def __init__(self, bad: set[str] | None = None) -> None:
        super().__init__()
        self.bad = bad or set()

    def facts_from_cli(self, platform: str, outputs: dict[str, str]) -> DeviceFacts:
        import os

        from govops.errors import GovopsError

        first = next(iter(outputs.values()))
        if first.split()[-1] in self.bad:
            raise GovopsError("show version: not the expected format")
        return DeviceFacts(hostname=first.split()[0], platform=platform, os_version=str(os.getpid()))
