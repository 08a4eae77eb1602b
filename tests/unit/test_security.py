"""Secrets in URLs, the results store's file modes, device error text (issue 18, items 4, 5, 7)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from govops.credentials import redact_url, url_secrets

PG_PW = "Pg-Canary-7hX2q"
PG_QUERY_PW = "Pg-Query-Canary-4Kd9"
PROM_PW = "Prom-Canary-9zR1"


def test_redact_url_masks_userinfo_and_password_params_only() -> None:
    url = f"postgresql://gov:{PG_PW}@db.example:5432/govops?sslmode=require&password={PG_QUERY_PW}"
    assert redact_url(url) == "postgresql://gov:******@db.example:5432/govops?sslmode=require&password=******"
    assert redact_url("sqlite:////var/lib/govops/govops.db") == "sqlite:////var/lib/govops/govops.db"
    assert redact_url(f"http://admin:{PROM_PW}@[::1:9090/x?token=abc") == "http://admin:******@[::1:9090/x?token=******"
    assert redact_url("http://u@h:9090/") == "http://u@h:9090/"
    assert set(url_secrets(url)) == {PG_PW, PG_QUERY_PW}
    assert url_secrets("http://a:p%40ss-word@h/") == ["p%40ss-word", "p@ss-word"]


def _leaks(text: str) -> list[str]:
    return [c for c in (PG_PW, PG_QUERY_PW, PROM_PW) if c in text or c[:8] in text]


def test_config_show_masks_url_passwords(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "govops.yaml"
    cfg.write_text(
        f"store:\n  url: postgresql://gov:{PG_PW}@127.0.0.1:1/govops?password={PG_QUERY_PW}\n"
        f"prometheus:\n  url: http://admin:{PROM_PW}@127.0.0.1:1\n"
    )
    for fmt in ("table", "json", "yaml"):
        r = cli("--config", str(cfg), "-o", fmt, "config", "show")
        assert r.code == 0, r.err
        assert not _leaks(r.out + r.err), fmt
        assert "gov:******@127.0.0.1:1" in r.out


def test_store_and_doctor_errors_mask_url_passwords(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("psycopg")
    cfg = tmp_path / "govops.yaml"
    cfg.write_text(
        f"store:\n  url: postgresql://gov@127.0.0.1:1/govops?connect_timeout=2&password={PG_QUERY_PW}\n"
        f"prometheus:\n  url: http://admin:{PROM_PW}@127.0.0.1:1\n"
    )
    r = cli("--config", str(cfg), "-vv", "doctor")
    assert r.code != 0
    assert "127.0.0.1:1" in r.out + r.err
    assert not _leaks(r.out + r.err)
    r = cli("--config", str(cfg), "-vv", "-o", "json", "net", "runs")
    assert r.code == 1 and "cannot connect to PostgreSQL" in r.err
    assert not _leaks(r.out + r.err)


def test_store_is_created_0600_in_a_0700_folder(tmp_path: Path) -> None:
    from govops.store import open_store

    db = tmp_path / "state" / "deep" / "govops.db"
    store = open_store(f"sqlite:///{db}")
    store.start_run("net.audit", {})
    assert oct(db.stat().st_mode & 0o777) == "0o600"
    for wal in db.parent.glob("govops.db-*"):
        assert wal.stat().st_mode & 0o077 == 0, wal
    assert oct(db.parent.stat().st_mode & 0o777) == "0o700"
    assert oct(db.parent.parent.stat().st_mode & 0o777) == "0o700"
    assert store.loose_permissions() is None
    os.chmod(db, 0o644)
    assert "readable by others" in (store.loose_permissions() or "")
    store.close()


def test_default_store_lives_in_a_private_data_dir(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = cli("-o", "json", "net", "runs")
    assert r.code == 0, r.err
    data = Path(os.environ["XDG_DATA_HOME"]) / "govops"
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    assert oct((data / "govops.db").stat().st_mode & 0o777) == "0o600"
    json.loads(r.out or "[]")


def test_device_error_text_is_masked_before_it_is_cut() -> None:
    """A device echoing the password in its error: the cut at 80 characters used to keep 14 of 15."""
    from govops.credentials import Secret
    from govops.network.parsers.common import ParseError, prepare

    pw = "Dev1ce-Canary-pw"
    Secret(pw)
    text = "display x\nError: Unrecognized command found at '^' position." + " " * 14 + f"in: {pw} tail\n<r1>"
    with pytest.raises(ParseError) as err:
        prepare("huawei_vrp", "display x", text)
    assert pw[:8] not in err.value.message and pw[-8:] not in err.value.message
    assert "******" in err.value.message
