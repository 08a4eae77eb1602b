from __future__ import annotations

import pytest
from govops.errors import ValidationFailed
from govops.yamlio import loads


def test_lines_of_nested_keys_and_items() -> None:
    doc = loads("a:\n  b: 1\n  c:\n    - x\n    - y: 2\n", "f.yaml")
    assert doc.data == {"a": {"b": 1, "c": ["x", {"y": 2}]}}
    assert doc.line_of(("a", "b")) == 2
    assert doc.line_of(("a", "c", 1, "y")) == 5
    assert doc.line_of(("a", "c", 1, "missing")) == 5  # falls back to the nearest known ancestor
    assert str(doc.location(("a", "c", 0))) == "f.yaml:4 a.c[0]"


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(ValidationFailed) as exc:
        loads("devices:\n  r1: {}\n  r2: {}\n  r1: {}\n", "d.yaml")
    p = exc.value.problems[0]
    assert str(p) == "d.yaml:4 devices.r1: duplicate key 'r1' (first defined on line 2)"


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: b: c\n", "\t- x\n", "a: *nope\n", "? [a]\n: 1\n"])
def test_malformed_yaml_is_a_located_problem(text: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        loads(text, "bad.yaml")
    assert str(exc.value).startswith("bad.yaml")


def test_merge_keys_and_types() -> None:
    doc = loads("base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\nwhen: 2026-11-25\n")
    assert doc.data["item"] == {"y": 3, "x": 1}
    assert str(doc.data["when"]) == "2026-11-25"


def test_empty_document() -> None:
    assert loads("", "e.yaml").data is None
