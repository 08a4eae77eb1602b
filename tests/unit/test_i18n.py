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
