"""CLI contract: help everywhere, exit codes, error handling in one place, global options."""

from __future__ import annotations

import pytest
import typer
from govops.cli.app import app, hoist_global_options


def _walk(cmd: object, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, (*path, name))


def _commands() -> list[tuple[tuple[str, ...], object]]:
    return list(_walk(typer.main.get_command(app)))


def test_every_command_and_group_has_help_text() -> None:
    missing = [" ".join(p) or "govops" for p, c in _commands() if not (getattr(c, "help", None) or "").strip()]
    assert missing == []


def test_every_option_has_help_text() -> None:
    missing = []
    for path, cmd in _commands():
        for param in getattr(cmd, "params", []):
            if param.param_type_name == "option" and not (getattr(param, "help", None) or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


@pytest.mark.parametrize("path", [p for p, _ in _commands()], ids=lambda p: " ".join(p) or "govops")
def test_help_of_each_command_exits_0(cli, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    r = cli(*path, "--help")
    assert r.code == 0, r.err
    assert "Usage" in r.out


def test_unknown_command_is_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    r = cli("frobnicate")
    assert r.code == 2
    assert "Traceback" not in r.err + r.out


def test_bad_option_value_is_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("-o", "xml", "config", "show").code == 2
    assert cli("--lang", "fr", "config", "show").code == 2


def test_version(cli) -> None:  # type: ignore[no-untyped-def]
    from govops import __version__

    r = cli("--version")
    assert r.code == 0 and __version__ in r.out


def test_unexpected_exception_is_one_line_exit_1(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import govops.cli.config_cmd as mod

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(mod.RecordView, "__init__", boom)
    r = cli("config", "show")
    assert r.code == 1
    assert "kaboom" in r.err and "Traceback" not in r.err


def test_keyboard_interrupt_exits_130(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import govops.cli.config_cmd as mod

    def interrupt(*a: object, **k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mod.RecordView, "__init__", interrupt)
    assert cli("config", "show").code == 130


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["net", "inventory", "stats", "-o", "json"], ["-o", "json", "net", "inventory", "stats"]),
        (
            ["net", "inventory", "show", "x", "--lang=zh", "-v"],
            ["--lang=zh", "-v", "net", "inventory", "show", "x"],
        ),
        (["-o", "yaml", "net", "inventory", "stats"], ["-o", "yaml", "net", "inventory", "stats"]),
        (
            ["--config", "a.yaml", "net", "inventory", "stats"],
            ["--config", "a.yaml", "net", "inventory", "stats"],
        ),
        (["net", "x", "--", "-o", "json"], ["net", "x", "--", "-o", "json"]),
        (["net", "inventory", "stats", "-ojson"], ["-ojson", "net", "inventory", "stats"]),
    ],
)
def test_global_options_anywhere(argv: list[str], expected: list[str]) -> None:
    assert hoist_global_options(argv) == expected


def test_output_formats(cli, project) -> None:  # type: ignore[no-untyped-def]
    import csv
    import io
    import json

    import yaml

    root = ["--project-root", str(project)]
    rows = json.loads(cli(*root, "cloud", "dept", "list", "-o", "json").out)
    assert len(rows) == 50 and rows[0]["code"] == "gaj"
    assert yaml.safe_load(cli(*root, "cloud", "dept", "list", "-o", "yaml").out)[0]["name_zh"] == "公安局"
    table = list(csv.DictReader(io.StringIO(cli(*root, "cloud", "dept", "list", "-o", "csv").out)))
    assert len(table) == 50 and table[0]["cores"] == str(rows[0]["quotas"]["cores"])


def test_chinese_labels(cli, project) -> None:  # type: ignore[no-untyped-def]
    r = cli("--project-root", str(project), "--lang", "zh", "cloud", "dept", "show", "卫生健康委员会")
    assert r.code == 0
    assert "项目" in r.out and "dept-wjw" in r.out


def test_unknown_department_suggests(cli, project) -> None:  # type: ignore[no-untyped-def]
    r = cli("--project-root", str(project), "cloud", "dept", "show", "gaa")
    assert r.code == 2
    assert "unknown department 'gaa'" in r.err and "gaj" in r.err


def test_json_output_is_what_the_plain_copy_encodes() -> None:
    """``-o json`` encodes objects directly; it must print what encoding the ``_plain`` copy printed."""
    import datetime
    import json
    from pathlib import Path

    from govops.cli.terminal import _json, _plain

    data = {
        "devices": [{"name": "a", "tags": {"x"}, "pair": (1, "b"), "path": Path("/tmp/x"), 7: None}],
        "when": datetime.date(2026, 12, 2),
        "名称": "公安局",
    }
    assert _json(data) == json.dumps(_plain(data), ensure_ascii=False, indent=2)
    odd = {(1, 2): "a key json refuses"}
    assert _json(odd) == json.dumps(_plain(odd), ensure_ascii=False, indent=2)
    # what orjson refuses goes to the standard library: non-string keys, integers beyond 64 bits
    for refused in ({7: "x", "n": [2**70]}, {"n": 2**64}):
        assert _json(refused) == json.dumps(_plain(refused), ensure_ascii=False, indent=2)
    # what orjson itself encodes: the same text as the standard library
    plain = {
        "schema": "govops.net.audit/1",
        "devices": [
            {"hostname": "jn-t01-v001-acc1", "duration_s": 28.075, "ok": True, "reason": None, "n": -3},
            {"facts": {"interfaces": [], "vars": {}}, "zh": "县级\u2028行", "ctl": 'a\x01"b\\', "pct": 100.0},
        ],
    }
    assert _json(plain) == json.dumps(plain, ensure_ascii=False, indent=2)


def test_net_audit_and_remediate_declare_their_shared_options_once() -> None:
    """The device filters and --resume of `net audit` and `net remediate` come from cli/options.py:
    same flags, same help, and the same filters recorded for a resume."""
    from govops.cli.app import app
    from govops.cli.options import device_filters
    from typer.main import get_command

    net = get_command(app).commands["net"]  # type: ignore[attr-defined]
    audit = {p.name: p for p in net.commands["audit"].params}
    remediate = {p.name: p for p in net.commands["remediate"].params}
    for name in ("inventory", "site", "county", "level", "platform", "group", "limit"):
        assert (audit[name].opts, audit[name].help) == (remediate[name].opts, remediate[name].help), name
    assert audit["resume"].opts == remediate["resume"].opts == ["--resume"]
    assert device_filters(site="yc", limit=3) == {"site": "yc", "limit": 3}
