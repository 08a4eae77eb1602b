from __future__ import annotations

import re

from govops.i18n import EN, ZH, Translator


def test_every_key_exists_in_both_languages() -> None:
    assert set(EN) == set(ZH)


def test_placeholders_match() -> None:
    for key in EN:
        if EN[key] == "{pydantic}":  # English keeps pydantic's sentence; Chinese builds its own from the context
            continue
        assert set(re.findall(r"{(\w+)}", EN[key])) == set(re.findall(r"{(\w+)}", ZH[key])), key


def test_chinese_text_is_chinese() -> None:
    untranslated = [
        k
        for k in EN
        if k.startswith(("col.", "doctor.", "inventory.", "err.", "noun."))
        and ZH[k] == EN[k]
        and not k.endswith(("prometheus",))
        and k not in ("col.cores", "col.id")
        and re.search(r"[A-Za-z]", re.sub(r"{\w+}", "", EN[k]))  # not a pure arrangement of parameters
    ]
    assert untranslated == []


def test_translator_falls_back_to_english_then_key() -> None:
    t = Translator("zh")
    assert t("doctor.summary_fail", failed=2, warned=1) == "2 项检查失败,1 项警告"
    assert Translator("fr")("error") == "error"
    assert t("no.such.key") == "no.such.key"


def test_lang_from_env_and_config(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "govops.yaml"
    cfg.write_text("lang: zh\nprometheus:\n  url: bad\n")
    r = cli("--config", str(cfg), "config", "show")
    assert r.code == 2 and "错误" not in r.err  # a broken config cannot choose the language
    cfg.write_text("lang: zh\n")
    assert "错误" in cli("--config", str(cfg), "cloud", "dept", "show", "x").err
    monkeypatch.setenv("GOVOPS_LANG", "en")
    assert "error:" in cli("--config", str(cfg), "cloud", "dept", "show", "x").err


def test_errors_carry_keys_and_render_in_the_readers_language() -> None:
    from govops.errors import Location, PeerError, PeerErrorInfo, Problem, ValidationFailed
    from govops.i18n import Msg

    zh, en = Translator("zh"), Translator("en")
    problems = [
        Problem(Msg("err.inv.unknown_parent", code="nowhere"), Location("inv/sites.yaml", 3, "sites.jb.parent")),
        Problem(Msg("err.valid.missing"), Location("inv/devices.yaml", 4)),
    ]
    exc = ValidationFailed(problems, hint=Msg("err.inv.hint_folder"))
    # str() and .message stay English (logs, tests, -o json); the terminal asks for its language
    assert exc.message == "inv/sites.yaml:3 sites.jb.parent: unknown parent site 'nowhere' (and 1 more)"
    assert exc.render_in(zh) == "inv/sites.yaml:3 sites.jb.parent: 未知上级站点 'nowhere'(另有 1 个问题)"
    assert exc.hint_in(en) == exc.hint and "govops.yaml" in (exc.hint_in(zh) or "")
    # a parameter may be a message itself; values from outside are kept as they are
    peer = PeerError(
        Msg("err.metrics.unreachable", reason="[Errno 111] Connection refused"),
        PeerErrorInfo("Prometheus", request=Msg("err.metrics.request", url="http://p:9090", query="'up'")),
    )
    assert str(peer) == "Prometheus http://p:9090 query 'up': cannot connect ([Errno 111] Connection refused)"
    assert peer.render_in(zh) == "Prometheus http://p:9090 查询 'up':无法连接([Errno 111] Connection refused)"
    # a key missing from the catalog shows itself rather than failing
    assert Translator("zh").text(Msg("no.such.key", x=1)) == "no.such.key"
