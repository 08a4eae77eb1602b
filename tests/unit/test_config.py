from __future__ import annotations

from pathlib import Path

import pytest
from govops.config import load_config
from govops.errors import ConfigError, ValidationFailed


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file(tmp_path: Path) -> None:
    cfg = load_config(project_root=tmp_path)
    assert cfg.source is None
    assert cfg.departments_file == tmp_path / "inventories" / "departments.yaml"
    assert cfg.store_url.startswith("sqlite:///") and cfg.store_url.endswith("govops/govops.db")


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: Path) -> None:
    xdg = write(isolation / ".config" / "govops" / "config.yaml", "lang: zh\n")
    assert load_config().source == xdg
    cwd = write(isolation / "govops.yaml", "lang: en\n")
    assert load_config().source == cwd
    env = write(tmp_path / "env.yaml", "lang: zh\n")
    monkeypatch.setenv("GOVOPS_CONFIG", str(env))
    assert load_config().source == env
    explicit = write(tmp_path / "explicit.yaml", "{}\n")
    assert load_config(explicit).source == explicit


def test_missing_explicit_or_env_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    monkeypatch.setenv("GOVOPS_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match="GOVOPS_CONFIG"):
        load_config()


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    f = write(tmp_path / "conf" / "govops.yaml", "network:\n  inventory: inv\nstore:\n  url: sqlite:///s.db\n")
    cfg = load_config(f)
    assert cfg.inventory_dir == tmp_path / "conf" / "inv"
    assert cfg.store_url == f"sqlite:///{tmp_path / 'conf' / 's.db'}"


def test_bad_url_names_file_line_and_key(tmp_path: Path) -> None:
    f = write(tmp_path / "govops.yaml", "lang: en\n" * 1 + "\n" * 10 + "prometheus:\n  url: not-a-url\n")
    with pytest.raises(ValidationFailed) as exc:
        load_config(f)
    assert str(exc.value.problems[0]) == f"{f}:13 prometheus.url: not a URL"


def test_unknown_key_and_wrong_type(tmp_path: Path) -> None:
    f = write(tmp_path / "govops.yaml", "network:\n  ssh_workers: many\n  colour: blue\n")
    with pytest.raises(ValidationFailed) as exc:
        load_config(f)
    messages = sorted(str(p) for p in exc.value.problems)
    assert any(":2 network.ssh_workers:" in m for m in messages)
    assert any(m.endswith(":3 network.colour: unknown key") for m in messages)


def test_cli_reports_config_errors_with_exit_2(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = write(tmp_path / "govops.yaml", "prometheus:\n  url: [1, 2\n")
    r = cli("--config", str(f), "config", "show")
    assert r.code == 2
    assert f"{f}:" in r.err and "malformed YAML" in r.err
    assert "Traceback" not in r.err


def test_config_show_has_no_secret_fields(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    f = write(tmp_path / "govops.yaml", "prometheus:\n  url: http://127.0.0.1:9090\n")
    data = json.loads(cli("--config", str(f), "-o", "json", "config", "show").out)
    assert data["prometheus"]["url"] == "http://127.0.0.1:9090"
    assert data["_source"] == str(f)
