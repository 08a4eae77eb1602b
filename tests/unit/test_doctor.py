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
    for name in ("EXTRANET_SSH", "EXTRANET_SNMPV3", "EXTRANET_SNMP_COMMUNITY"):
        monkeypatch.setenv(f"GOVOPS_CRED_{name}_USERNAME", "audit")
        monkeypatch.setenv(f"GOVOPS_CRED_{name}_PASSWORD", "not-printed-123")
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
