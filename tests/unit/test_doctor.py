from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def prometheus_like() -> Iterator[str]:
    """A loopback HTTP server answering /-/ready, standing in only for the reachability probe."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/-/ready" else 404)
            self.end_headers()
            self.wfile.write(b"Prometheus Server is Ready.\n")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _config(project: Path, prom: str) -> Path:
    f = project / "govops.yaml"
    f.write_text(f"prometheus:\n  url: {prom}\nstore:\n  url: sqlite:///state/govops.db\n")
    return f


def test_doctor_all_good(cli, project: Path, prometheus_like: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # what each kind needs: SSH user+password, SNMPv3 user+auth_key+priv_key, v2c a community
    for name, fields in (
        ("EXTRANET_SSH", ("USERNAME", "PASSWORD")),
        ("EXTRANET_SNMPV3", ("USERNAME", "AUTH_KEY", "PRIV_KEY")),
        ("EXTRANET_SNMP_COMMUNITY", ("COMMUNITY",)),
    ):
        for field in fields:
            monkeypatch.setenv(f"GOVOPS_CRED_{name}_{field}", "audit" if field == "USERNAME" else "not-printed-123")
    r = cli("--config", str(_config(project, prometheus_like)), "-o", "json", "doctor")
    checks = {c["name"]: c for c in json.loads(r.out)}
    assert r.code == 0, r.out
    assert checks["departments"]["status"] == "ok" and "50 departments" in checks["departments"]["detail"]
    assert checks["network inventory"]["detail"].endswith("2297 sites, 2297 devices")
    assert checks["credential extranet-ssh"]["detail"] == "from env: username, password"
    assert checks["Prometheus"]["status"] == "ok"
    assert checks["OpenStack cloud"]["status"] == "skip"
    assert "schema v" in checks["results store"]["detail"]
    assert "not-printed-123" not in r.out + r.err


def test_doctor_reports_failures_with_fixes(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from govops.lab.processes import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    (project / "inventories" / "departments.yaml").write_text("departments: 5\n")
    r = cli("--config", str(_config(project, dead)), "-o", "json", "doctor")
    assert r.code == 3
    checks = {c["name"]: c for c in json.loads(r.out)}
    assert checks["Prometheus"]["status"] == "fail" and "unreachable" in checks["Prometheus"]["detail"]
    assert checks["departments"]["status"] == "fail"
    cred = checks["credential extranet-ssh"]
    assert cred["status"] == "fail" and "GOVOPS_CRED_EXTRANET_SSH_USERNAME" in cred["fix"]


def test_doctor_with_broken_config_still_answers(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "govops.yaml"
    f.write_text("store: {url: 'mysql://x'}\n")
    r = cli("--config", str(f), "doctor")
    assert r.code == 3
    assert "store URL must start with sqlite: or postgresql:" in r.out


def test_doctor_names_the_fields_each_credential_kind_needs(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("--config", str(_config(project, "http://127.0.0.1:9")), "-o", "json", "doctor")
    checks = {c["name"]: c for c in json.loads(r.out)}
    assert checks["credential extranet-ssh"]["fix"].startswith(
        "export GOVOPS_CRED_EXTRANET_SSH_USERNAME=… GOVOPS_CRED_EXTRANET_SSH_PASSWORD=…"
    )
    v3 = checks["credential extranet-snmpv3"]["fix"]
    assert "GOVOPS_CRED_EXTRANET_SNMPV3_AUTH_KEY" in v3 and "GOVOPS_CRED_EXTRANET_SNMPV3_PRIV_KEY" in v3
    assert "PASSWORD" not in v3
    v2c = checks["credential extranet-snmp-community"]["fix"]
    assert "GOVOPS_CRED_EXTRANET_SNMP_COMMUNITY_COMMUNITY" in v2c and "USERNAME" not in v2c


def test_doctor_shows_a_failing_vault_instead_of_not_found(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    from govops.vault import encrypt

    vault = project / "vault.yml"
    vault.write_bytes(encrypt("extranet-ssh: {username: a, password: secret-xyz}\n", "right-password"))
    (project / "pw").write_text("wrong-password\n")
    cfg = _config(project, "http://127.0.0.1:9")
    cfg.write_text(
        cfg.read_text() + "credentials:\n  sources: [vault, env]\n  vault_file: vault.yml\n  vault_password_file: pw\n"
    )
    r = cli("--config", str(cfg), "-o", "json", "doctor")
    checks = {c["name"]: c for c in json.loads(r.out)}
    ssh = checks["credential extranet-ssh"]
    assert ssh["status"] == "fail" and "wrong vault password" in ssh["detail"], ssh
    assert "not found" not in ssh["detail"] and "export" not in ssh["fix"]
