"""known_hosts reading and pinning: OpenSSH's format, names by port, many pinning processes at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import multiprocessing
import os
from pathlib import Path

import pytest
from govops.network.collectors.base import HostKeyMismatch
from govops.network.collectors.known_hosts import HostKeyPolicy, HostKeyRefused, KnownHosts, host_entry_name

BLOB_A = b"\x00\x00\x00\x0bssh-ed25519" + b"A" * 36
BLOB_B = b"\x00\x00\x00\x0bssh-ed25519" + b"B" * 36
B64_A = base64.b64encode(BLOB_A).decode()


def test_names_follow_openssh() -> None:
    assert host_entry_name("10.0.0.1", 22) == "10.0.0.1"
    assert host_entry_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    assert host_entry_name("2001:db8::1", 830) == "[2001:db8::1]:830"


def test_two_devices_on_one_address_are_pinned_apart(tmp_path: Path) -> None:
    """The old store pins were keyed by IP only: the second port's device clashed with the first."""
    policy = HostKeyPolicy("accept-new", str(tmp_path / "kh"))
    policy.check("10.0.0.1", 2201, "ssh-ed25519", BLOB_A)
    policy.check("10.0.0.1", 2202, "ssh-ed25519", BLOB_B)
    policy.check("10.0.0.1", 2201, "ssh-ed25519", BLOB_A)
    policy.check("10.0.0.1", 2202, "ssh-ed25519", BLOB_B)
    assert len((tmp_path / "kh").read_text().splitlines()) == 2
    with pytest.raises(HostKeyRefused) as err:
        policy.check("10.0.0.1", 2202, "ssh-ed25519", BLOB_A)
    assert isinstance(err.value.error, HostKeyMismatch)
    assert "host key changed for [10.0.0.1]:2202" in err.value.error.reason
    assert f"{tmp_path / 'kh'}:2" in err.value.error.reason


def test_hashed_wildcard_and_revoked_entries(tmp_path: Path) -> None:
    salt = os.urandom(20)
    digest = hmac.digest(salt, b"[10.0.0.9]:2222", "sha1")
    hashed = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    kh = tmp_path / "kh"
    kh.write_text(
        f"# comment\n{hashed} ssh-ed25519 {B64_A}\n"
        f"10.1.*,!10.1.0.5 ssh-ed25519 {B64_A}\n"
        f"@revoked * ssh-ed25519 {base64.b64encode(BLOB_B).decode()}\n"
        "@cert-authority * ssh-ed25519 AAAA\n"
    )
    known = KnownHosts(kh)
    assert known.check("[10.0.0.9]:2222", "ssh-ed25519", BLOB_A)[0] == "known"
    assert known.check("[10.0.0.9]:2223", "ssh-ed25519", BLOB_A)[0] == "unknown"
    assert known.check("10.1.2.3", "ssh-ed25519", BLOB_A)[0] == "known"
    assert known.check("10.1.0.5", "ssh-ed25519", BLOB_A)[0] == "unknown"  # negated
    assert known.check("10.1.2.3", "ssh-ed25519", BLOB_B)[0] == "revoked"


def test_strict_never_writes_and_refuses_unknown(tmp_path: Path) -> None:
    kh = tmp_path / "kh"
    kh.write_text("")
    with pytest.raises(HostKeyRefused) as err:
        HostKeyPolicy("strict", str(kh)).check("10.0.0.1", 22, "ssh-ed25519", BLOB_A)
    assert "not in" in err.value.error.reason
    assert kh.read_text() == ""
    HostKeyPolicy("accept", str(kh)).check("10.0.0.1", 22, "ssh-ed25519", BLOB_A)  # no check at all
    assert kh.read_text() == ""


def test_a_file_edited_elsewhere_is_reread(tmp_path: Path) -> None:
    kh = tmp_path / "kh"
    policy = HostKeyPolicy("accept-new", str(kh))
    policy.check("10.0.0.1", 22, "ssh-ed25519", BLOB_A)
    kh.write_text("")  # ssh-keygen -R: the device was replaced on purpose
    policy.check("10.0.0.1", 22, "ssh-ed25519", BLOB_B)
    assert kh.read_text().split()[0] == "10.0.0.1"
    with pytest.raises(HostKeyRefused):
        policy.check("10.0.0.1", 22, "ssh-ed25519", BLOB_A)


def _pin_many(path: str, start: int) -> None:
    policy = HostKeyPolicy("accept-new", path)
    for i in range(200):
        port = 10000 + (start + i) % 300  # the processes overlap on some hosts
        blob = b"\x00\x00\x00\x0bssh-ed25519" + hashlib.sha256(str(port).encode()).digest() + b"1234"
        policy.check("127.0.0.1", port, "ssh-ed25519", blob)


def test_concurrent_pinning_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    kh = str(tmp_path / "sub" / "kh")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_pin_many, args=(kh, s)) for s in (0, 50, 100, 150)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    names = [ln.split()[0] for ln in Path(kh).read_text().splitlines()]
    assert sorted(names) == sorted({f"[127.0.0.1]:{10000 + i % 300}" for i in range(350)})
    assert oct(Path(kh).stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "sub").stat().st_mode & 0o777) == "0o700"


def test_strict_without_known_hosts_is_a_config_error(tmp_path: Path, cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    """No connection is even tried: the audit stops on the config (exit 2)."""
    cfg = tmp_path / "govops.yaml"
    cfg.write_text(
        f"version: 1\nnetwork:\n  inventory: {project / 'inventories' / 'extranet'}\n  host_key_policy: strict\n"
    )
    r = cli("--config", str(cfg), "net", "audit")
    assert r.code == 2
    assert "host_key_policy is strict" in r.err and "known_hosts" in r.err


def test_pin_is_the_old_name_of_accept_new(tmp_path: Path) -> None:
    from govops.config import load_config

    cfg = tmp_path / "govops.yaml"
    cfg.write_text("version: 1\nnetwork:\n  host_key_policy: pin\n")
    loaded = load_config(cfg)
    assert loaded.config.network.host_key_policy == "accept-new"
    assert loaded.known_hosts_file.name == "known_hosts"
    assert load_config(None).config.network.host_key_policy == "accept-new"  # the default


def test_a_key_that_cannot_be_pinned_is_refused_not_retried(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    if os.access(ro, os.W_OK):  # root ignores the mode: make the path's parent a file instead
        ro = tmp_path / "file"
        ro.write_text("")
    with pytest.raises(HostKeyRefused) as err:
        HostKeyPolicy("accept-new", str(ro / "kh")).check("10.0.0.1", 22, "ssh-ed25519", BLOB_A)
    assert "cannot check the host key" in err.value.error.reason and not err.value.error.retryable


def test_the_key_exchange_asks_for_the_known_types_only(tmp_path: Path) -> None:
    from govops.network.collectors.ssh import other_key_algorithms

    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa-cert-v01@openssh.com")
    kh = tmp_path / "kh"
    kh.write_text(f"[10.0.0.1]:2222 ssh-rsa {B64_A}\n@revoked [10.0.0.1]:2222 ssh-ed25519 {B64_A}\n")
    policy = HostKeyPolicy("strict", str(kh))
    known = policy.known_types("10.0.0.1", 2222)
    assert known == {"ssh-rsa"}  # a revoked line is no known type
    assert other_key_algorithms(offered, known) == ["ssh-ed25519", "ecdsa-sha2-nistp256"]
    assert other_key_algorithms(offered, policy.known_types("10.0.0.2", 22)) is None  # unknown host: no preference
    assert other_key_algorithms(offered, frozenset({"ssh-dss"})) is None  # nothing would be left to negotiate
    assert HostKeyPolicy("accept", str(kh)).known_types("10.0.0.1", 2222) == frozenset()
    refusal = policy.no_known_type("10.0.0.1", 2222)
    assert f"ssh-rsa ({kh}:1)" in refusal.reason and "no password sent" in refusal.reason
