"""``govops play`` with the real ansible-runner and ansible-core, against a real OpenSSH sshd the
test starts on 127.0.0.1 (its own host key, a temporary client key, stopped by PID).

- a playbook over SSH writes one file per host with its hostvars; the shipped post-provision
  playbook runs in ``--check`` mode over SSH and changes nothing;
- one host failing and one unreachable: exit 3, the other host ok, each status in the store;
- a vault-encrypted variable is used, and the vault password is nowhere: stdout, stderr, the
  store, the artifacts kept with ``--keep-artifacts``; without it the private dir is gone;
- contract: the fake runner and the real one give the same per-host results for one play.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from govops.automation.ports import PlayRequest

from tests.conftest import REPO, need

pytestmark = pytest.mark.integration

WRITE_VARS = """\
- name: write hostvars
  hosts: all
  gather_facts: false
  tasks:
    - name: gather
      ansible.builtin.command: id -un
      changed_when: false
    - name: configure
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'host': inventory_hostname, 'user': ansible_user | default(''), 'role': role | default('')} | to_json }}"
    - name: break the broken one
      ansible.builtin.fail:
        msg: "{{ inventory_hostname }} is broken on purpose"
      when: inventory_hostname == 'broken'
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real OpenSSH server on 127.0.0.1 that accepts one temporary key for the current user."""
    need(binary="sshd")
    need(binary="ssh-keygen")
    need(module="ansible_runner")
    d = tmp_path_factory.mktemp("sshd")
    os.chmod(d, 0o700)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    sshd_bin = shutil.which("sshd")
    assert sshd_bin
    with open(d / "log", "w") as log:
        proc = subprocess.Popen(
            [sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")], stdout=subprocess.DEVNULL, stderr=log
        )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (d / "log").read_text()
                time.sleep(0.1)
        yield {"port": port, "key": d / "client_key", "user": os.environ.get("USER") or "root", "dir": d}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ssh_host(sshd: dict[str, Any], port: int | None = None) -> dict[str, Any]:
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": port or sshd["port"],
        "ansible_user": sshd["user"],
        "ansible_ssh_private_key_file": str(sshd["key"]),
        "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
        "ansible_python_interpreter": "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable,
    }


def _inventory(tmp_path: Path, hosts: dict[str, dict[str, Any]]) -> Path:
    import yaml

    f = tmp_path / "hosts.yml"
    f.write_text(yaml.safe_dump({"all": {"children": {"web": {"hosts": hosts}}}}), encoding="utf-8")
    return f


def _playbook(tmp_path: Path, text: str = WRITE_VARS) -> Path:
    f = tmp_path / "write-vars.yml"
    f.write_text(text, encoding="utf-8")
    return f


def _store_bytes() -> bytes:
    db = Path.home() / ".local/share/govops/govops.db"
    return b"".join(p.read_bytes() for p in db.parent.glob("govops.db*"))


def test_playbook_over_real_ssh_writes_one_file_per_host(cli: Any, sshd: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    inv = _inventory(tmp_path, {"web-a": {**_ssh_host(sshd), "role": "web"}, "web-b": _ssh_host(sshd)})
    r = cli("play", "run", str(_playbook(tmp_path)), "-i", str(inv), "-e", f"out_dir={out}", "-o", "json")
    assert r.code == 0, r.err + r.out
    data = json.loads(r.out)
    assert {h["host"]: (h["status"], h["ok"], h["changed"]) for h in data["hosts"]} == {
        "web-a": ("changed", 2, 1),
        "web-b": ("changed", 2, 1),
    }
    assert json.loads((out / "web-a.json").read_text()) == {"host": "web-a", "user": sshd["user"], "role": "web"}
    assert sorted(p.name for p in out.iterdir()) == ["web-a.json", "web-b.json"]
    # the private data dir is gone without --keep-artifacts
    assert not any((Path.home() / ".local/share/govops/ansible").iterdir())


def test_post_provision_playbook_in_check_mode_changes_nothing(cli: Any, sshd: dict[str, Any], tmp_path: Path) -> None:
    inv = _inventory(tmp_path, {"new-vm": {**_ssh_host(sshd), "govops_department": "gaj", "govops_run_id": "R"}})
    before = socket.gethostname()
    had_facts = Path("/etc/govops-facts.json").exists()
    r = cli("play", "run", str(REPO / "playbooks" / "post-provision.yml"), "-i", str(inv), "--check", "-o", "json")
    assert r.code == 0, r.err + r.out
    host = json.loads(r.out)["hosts"][0]
    assert host["status"] in ("ok", "changed") and host["failed"] == 0 and host["unreachable"] == 0
    assert host["changed"] >= 1  # it would set the facts file, the banner, ...
    assert socket.gethostname() == before and Path("/etc/govops-facts.json").exists() == had_facts


def test_one_host_failing_and_one_unreachable_is_exit_3(cli: Any, sshd: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    inv = _inventory(
        tmp_path,
        {"good": _ssh_host(sshd), "broken": _ssh_host(sshd), "gone": _ssh_host(sshd, port=_free_port())},
    )
    r = cli("play", "run", str(_playbook(tmp_path)), "-i", str(inv), "-e", f"out_dir={out}", "-o", "json")
    assert r.code == 3, r.err + r.out
    data = json.loads(r.out)
    hosts = {h["host"]: h for h in data["hosts"]}
    assert {n: h["status"] for n, h in hosts.items()} == {"broken": "failed", "gone": "unreachable", "good": "changed"}
    assert hosts["broken"]["failed_tasks"] == [
        {"task": "break the broken one", "message": "broken is broken on purpose", "unreachable": False}
    ]
    assert "Connection refused" in hosts["gone"]["failed_tasks"][0]["message"]
    assert (out / "good.json").exists() and not (out / "gone.json").exists()
    from govops.store import open_store

    store = open_store(f"sqlite:///{Path.home() / '.local/share/govops/govops.db'}")
    assert {x.target: x.status for x in store.results(data["run_id"])} == {
        "broken": "failed",
        "gone": "unreachable",
        "good": "changed",
    }
    # --limit to a name the inventory does not have: refused before anything runs
    r = cli("play", "run", str(_playbook(tmp_path)), "-i", str(inv), "--limit", "good,nosuch")
    assert r.code == 2 and "nosuch" in r.err


def test_vault_encrypted_var_is_used_and_its_password_appears_nowhere(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(module="ansible_runner")
    need(binary="ansible-vault")
    password = "vault-pw-" + os.urandom(6).hex()
    secret = "db-secret-" + os.urandom(6).hex()
    pwfile = tmp_path / "pw"
    pwfile.write_text(password)
    vars_file = tmp_path / "secrets.yml"
    vars_file.write_text(f"db_password: {secret}\n")
    subprocess.run(["ansible-vault", "encrypt", "--vault-password-file", str(pwfile), str(vars_file)], check=True,
                   capture_output=True)  # fmt: skip
    pwfile.unlink()
    assert secret not in vars_file.read_text()
    out = tmp_path / "out"
    out.mkdir()
    playbook = _playbook(
        tmp_path,
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: use the secret\n      ansible.builtin.copy:\n"
        '        dest: "{{ out_dir }}/{{ inventory_hostname }}.txt"\n'
        "        content: \"{{ db_password | hash('sha256') }}\"\n"
        "    - name: what the playbook sees of the password variable\n      ansible.builtin.copy:\n"
        '        dest: "{{ out_dir }}/{{ inventory_hostname }}.env"\n'
        "        content: \"[{{ lookup('env', 'GOVOPS_VAULT_PASSWORD') }}]\"\n",
    )
    common = ["play", "run", str(playbook), "--hosts", "local-a,local-b", "-e", "ansible_connection=local",
              "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"out_dir={out}", "-e", f"@{vars_file}"]  # fmt: skip
    # no password: Ansible cannot decrypt, a readable bad-input error
    r = cli(*common)
    assert r.code == 2 and "vault" in r.err.lower() and "Traceback" not in r.err, r.err
    monkeypatch.setenv("GOVOPS_VAULT_PASSWORD", password)
    r = cli(*common, "--keep-artifacts", "-o", "json", "-vv")
    assert r.code == 0, r.err + r.out
    import hashlib

    assert (out / "local-a.txt").read_text() == hashlib.sha256(secret.encode()).hexdigest()
    assert (out / "local-a.env").read_text() == "[]"  # hidden from the playbook's environment
    data = json.loads(r.out)
    kept = Path(data["artifacts"])
    assert kept.is_dir() and (kept / "artifacts").is_dir()
    assert not (kept / "env").exists() or not any((kept / "env").iterdir())
    for text in (r.out, r.err):
        assert password not in text and secret not in text
    assert password.encode() not in _store_bytes()
    leftovers = [p for p in kept.rglob("*") if p.is_file() and password.encode() in p.read_bytes()]
    assert leftovers == []
    command = json.loads(next(kept.glob("artifacts/*/command")).read_text())
    assert "env" not in command
    # without --keep-artifacts nothing of the run stays behind
    r = cli(*common)
    assert r.code == 0, r.err
    assert [p.name for p in (Path.home() / ".local/share/govops/ansible").iterdir()] == [kept.name]


def test_extra_var_value_is_not_on_any_command_line_nor_in_artifacts(cli: Any, tmp_path: Path) -> None:
    """``-e api_token=…`` went on ansible-playbook's command line (``ps``) and into the kept
    ``artifacts/*/command`` unmasked; now it goes through a 0600 file that is removed afterwards."""
    need(module="ansible_runner")
    token = "Tok-Canary-" + os.urandom(6).hex()
    out = tmp_path / "out"
    out.mkdir()
    playbook = _playbook(
        tmp_path,
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: every process's command line while the play runs\n"
        "      ansible.builtin.command: ps -eww -o args\n      register: ps\n      changed_when: false\n"
        "    - name: keep it\n      ansible.builtin.copy:\n"
        '        dest: "{{ out_dir }}/ps.txt"\n        content: "{{ ps.stdout }}"\n'
        "    - name: the play got the token\n      ansible.builtin.copy:\n"
        '        dest: "{{ out_dir }}/token.sha256"\n        content: "{{ api_token | hash(\'sha256\') }}"\n',
    )
    r = cli("play", "run", str(playbook), "--hosts", "local-a", "-e", "ansible_connection=local",
            "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"out_dir={out}",
            "-e", f"api_token={token}", "--keep-artifacts", "-o", "json", "-vv")  # fmt: skip
    assert r.code == 0, r.err + r.out
    import hashlib

    assert (out / "token.sha256").read_text() == hashlib.sha256(token.encode()).hexdigest()
    ps = (out / "ps.txt").read_text()
    assert "ansible-playbook" in ps and "extravars" in ps  # the test saw the command line
    assert token[:12] not in ps
    kept = Path(json.loads(r.out)["artifacts"])
    assert not (kept / "env" / "extravars").exists()
    command = next(kept.glob("artifacts/*/command")).read_text()
    assert "@" in command and token[:12] not in command
    leftovers = [p for p in kept.rglob("*") if p.is_file() and token[:12].encode() in p.read_bytes()]
    assert leftovers == []
    assert token[:12] not in r.out + r.err
    assert token[:12].encode() not in _store_bytes()


@pytest.mark.parametrize("kind", ["fake", "ansible"])
def test_runner_contract(kind: str, tmp_path: Path) -> None:
    """The fake and the real runner give the same per-host results for the same play."""
    from govops.automation.play import hosts_inventory

    out = tmp_path / "out"
    out.mkdir()
    runner: Any
    if kind == "fake":
        from tests.fakes_automation import FakeRunner

        runner = FakeRunner([("gather", "ok"), ("configure", "changed"), ("break the broken one", "skipped")])
        runner.fail["broken"] = ("break the broken one", "broken is broken on purpose")
    else:
        need(module="ansible_runner")
        from govops.automation.ansible import AnsibleRunner

        runner = AnsibleRunner(tmp_path / "work")
    request = PlayRequest(
        playbook=_playbook(tmp_path),
        inventory=hosts_inventory(["fine", "broken"]),
        run_id="contract-" + kind,
        extra_vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "out_dir": str(out)},
        timeout=300,
    )
    seen: list[tuple[str, str, str]] = []
    outcome = runner.run(request, lambda h, t, s, d: seen.append((h, t, s)))
    assert {h: r.status for h, r in outcome.hosts.items()} == {"broken": "failed", "fine": "changed"}
    assert (outcome.hosts["fine"].ok, outcome.hosts["fine"].changed, outcome.hosts["fine"].skipped) == (2, 1, 1)
    assert [(f.task, f.message) for f in outcome.hosts["broken"].failures] == [
        ("break the broken one", "broken is broken on purpose")
    ]
    assert ("fine", "configure", "changed") in seen and ("broken", "break the broken one", "failed") in seen
    assert outcome.artifacts is None


def test_deadline_stops_the_run_and_its_processes(cli: Any, tmp_path: Path) -> None:
    need(module="ansible_runner")
    marker = f"{60 + int.from_bytes(os.urandom(2), 'big') % 1000 / 1000:.3f}"  # a sleep no one else runs
    playbook = _playbook(
        tmp_path,
        f"- hosts: all\n  gather_facts: false\n  tasks:\n    - name: slow\n      ansible.builtin.command: sleep {marker}\n",
    )
    started = time.monotonic()
    r = cli("play", "run", str(playbook), "--hosts", "slow-a", "-e", "ansible_connection=local",
            "-e", f"ansible_python_interpreter={sys.executable}", "--timeout", "5", "-o", "json")  # fmt: skip
    assert r.code == 3, r.err + r.out
    assert time.monotonic() - started < 45
    data = json.loads(r.out)
    assert data["status"] == "timeout" and "deadline" in data["error"]
    assert [h["status"] for h in data["hosts"]] in ([], ["timeout"])
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert f"sleep {marker}" not in ps
