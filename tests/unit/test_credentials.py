from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pytest
from govops.credentials import Credentials, EnvSource, Secret, VaultSource, env_var_name, redact
from govops.errors import CredentialError
from govops.vault import VaultError, decrypt, encrypt

from tests.conftest import need


def test_env_var_names() -> None:
    assert env_var_name("extranet-ssh", "password") == "GOVOPS_CRED_EXTRANET_SSH_PASSWORD"
    assert env_var_name("a.b", "auth_key", "X_") == "X_A_B_AUTH_KEY"


def test_env_source_and_secret_never_prints() -> None:
    env = {"GOVOPS_CRED_R1_USERNAME": "audit", "GOVOPS_CRED_R1_PASSWORD": "Very$ecret1"}
    cred = Credentials([EnvSource(environ=env)]).get("r1")
    assert cred.username == "audit" and cred.source == "env"
    assert cred.password is not None and cred.password.reveal() == "Very$ecret1"
    for text in (str(cred), repr(cred), f"{cred.password}", str([cred])):
        assert "Very$ecret1" not in text
    assert redact("login failed with Very$ecret1 for audit") == "login failed with ****** for audit"


def test_first_source_wins_and_missing_names_the_fix() -> None:
    a = EnvSource(environ={"GOVOPS_CRED_X_PASSWORD": "from-a-123"})
    b = EnvSource(prefix="B_", environ={"B_X_PASSWORD": "from-b-456", "B_Y_PASSWORD": "only-b-789"})
    creds = Credentials([a, b])
    assert creds.get("x").password == Secret("from-a-123")
    assert creds.get("y").password == Secret("only-b-789")
    with pytest.raises(CredentialError) as exc:
        creds.get("z")
    assert "GOVOPS_CRED_Z_USERNAME" in (exc.value.hint or "")


def test_vault_round_trip_and_wrong_password(tmp_path: Path) -> None:
    blob = encrypt("r1:\n  username: u\n  password: p4ssw0rd!\n", "vault-pass")
    assert blob.startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert b"p4ssw0rd" not in blob
    assert "p4ssw0rd!" in decrypt(blob, "vault-pass")
    with pytest.raises(VaultError, match="wrong vault password"):
        decrypt(blob, "nope")
    with pytest.raises(VaultError):
        decrypt(b"hello", "x")
    f = tmp_path / "vault.yml"
    f.write_bytes(blob)
    cred = Credentials([VaultSource(f, "vault-pass")]).get("r1")
    assert cred.username == "u" and cred.password == Secret("p4ssw0rd!")
    with pytest.raises(CredentialError, match="wrong vault password"):
        Credentials([VaultSource(f, "bad")]).get("r1")


def test_contract_with_real_ansible_vault(tmp_path: Path) -> None:
    """Our reader opens what ansible-vault writes, and ansible-vault opens what we write."""
    need(binary="ansible-vault")
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    theirs = tmp_path / "theirs.yml"
    theirs.write_text("r1:\n  password: from-ansible\n")
    subprocess.run(
        ["ansible-vault", "encrypt", "--vault-password-file", str(pw), str(theirs)],
        check=True,
        capture_output=True,
    )
    assert "from-ansible" in decrypt(theirs.read_bytes(), "correct horse")
    ours = tmp_path / "ours.yml"
    ours.write_bytes(encrypt("r2:\n  password: from-govops\n", "correct horse"))
    out = subprocess.run(
        ["ansible-vault", "view", "--vault-password-file", str(pw), str(ours)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "from-govops" in out
    assert shutil.which("ansible-vault")


def test_secrets_are_scrubbed_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret("zz-top-secret-99")
    logging.getLogger("t").warning("connect with %s", s)
    assert "zz-top-secret-99" not in caplog.text
