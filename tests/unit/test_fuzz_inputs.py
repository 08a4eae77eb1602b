"""No input file, however broken, produces a traceback: only GovopsError (one line, exit 2)."""

from __future__ import annotations

from pathlib import Path

import yaml
from govops.config import load_config
from govops.departments import load_departments
from govops.errors import GovopsError
from govops.network.inventory import load_inventory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["city", "village", "huawei_vrp", "2001:db8::1", "v3"]),
)
keys = st.one_of(
    st.sampled_from(
        [
            "sites",
            "devices",
            "site",
            "level",
            "parent",
            "groups",
            "platform",
            "mgmt_ipv4",
            "mgmt_ipv6",
            "ssh",
            "snmp",
            "credential",
            "version",
            "network",
            "inventory",
            "prometheus",
            "url",
            "store",
            "departments",
            "code",
            "quotas",
            "password",
            "data",
            "ssh_profile",
        ]
    ),
    st.text(max_size=8),
)
trees = st.recursive(
    scalars, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(keys, c, max_size=5)), max_leaves=25
)
raw_text = st.text(alphabet=st.sampled_from(list("abc:-[]{}&*!|>'\"#%@`\n\t ,?.0129")), max_size=120)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _only_govops_errors(fn) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
    except GovopsError as exc:
        assert "\n" not in str(exc).strip() or "more)" in str(exc)


@FUZZ
@given(doc=st.one_of(trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), raw_text))
def test_config_never_tracebacks(tmp_path: Path, doc: str) -> None:
    f = tmp_path / "govops.yaml"
    f.write_text(doc, encoding="utf-8")
    _only_govops_errors(lambda: load_config(f))


@FUZZ
@given(doc=st.one_of(trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), raw_text))
def test_departments_never_traceback(tmp_path: Path, doc: str) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(doc, encoding="utf-8")
    _only_govops_errors(lambda: load_departments(f))


@FUZZ
@given(
    files=st.dictionaries(
        st.sampled_from(["sites.yaml", "devices.yaml", "groups.yaml", "defaults.yaml", "profiles.yaml"]),
        st.one_of(trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), raw_text),
        min_size=1,
    )
)
def test_inventory_never_tracebacks(tmp_path: Path, files: dict[str, str]) -> None:
    root = tmp_path / "inv"
    root.mkdir(exist_ok=True)
    for p in root.iterdir():
        p.unlink()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    _only_govops_errors(lambda: load_inventory(root))


def test_binary_garbage_is_an_input_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "govops.yaml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    r = cli("--config", str(f), "config", "show")
    assert r.code == 2 and "not UTF-8" in r.err
