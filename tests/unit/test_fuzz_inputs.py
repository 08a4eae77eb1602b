"""The robustness suite: no input file, however broken or hostile, hangs govops, exhausts its memory
or ends in a traceback or an internal error.

Hypothesis generates whole projects (govops.yaml, the inventory's five files, departments, a VM
batch spec, a rule file, user data) that look like real ones and then breaks them: parent and group
cycles, YAML booleans and absurd numbers as quotas, infinite timeouts, URLs with bad ports, user data
that is ``/dev/zero``, a FIFO or a folder, alias bombs ("billion laughs"), truncated and garbled
YAML. Every command that reads them runs in a forked child under a wall-time and memory limit
(tests/robustness.py) and must end with exit 0 or 2 (doctor: 3 for failed checks), and on 2 with
error lines naming the input file: never a hang, a traceback or an internal error.

CI runs a bounded number of cases (about a minute); ``make fuzz`` runs many more:
``GOVOPS_FUZZ_EXAMPLES`` sets the examples per test, ``GOVOPS_FUZZ_REPORT`` a JSON file for the
figures (cases run, hangs, tracebacks, internal errors) quoted in docs/reference/robustness.md.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from govops.config import load_config
from govops.departments import load_departments
from govops.network.inventory import load_inventory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.robustness import Outcome, call_clean, govops

EXAMPLES = int(os.environ.get("GOVOPS_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not EXAMPLES,  # CI: the same cases every run; make fuzz: new ones each time
)
PROJECT_FUZZ = settings(FUZZ, max_examples=EXAMPLES or 40)

STATS: Counter[str] = Counter({"hangs": 0, "tracebacks": 0, "internal_errors": 0, "other": 0})


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    target = os.environ.get("GOVOPS_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(sorted(STATS.items())), indent=2) + "\n", encoding="utf-8")


def check(outcome: Outcome, what: str, *, allowed: tuple[int, ...] = (0, 2), files: tuple[str, ...] = ()) -> None:
    STATS["cases"] += 1
    STATS[f"exit {outcome.code}"] += 1
    STATS["max_seconds_x100"] = max(STATS["max_seconds_x100"], int(outcome.seconds * 100))
    problem = outcome.problem(allowed, files)
    if problem:
        kind = problem.split(":")[0].split(" ")[0]
        STATS[{"hang": "hangs", "traceback": "tracebacks", "internal": "internal_errors"}.get(kind, "other")] += 1
    assert problem is None, (
        f"{what}: {problem}\n--- stderr ---\n{outcome.err[-3000:]}\n--- stdout ---\n{outcome.out[-1000:]}"
    )


# -- building blocks ------------------------------------------------------------------------------
ODD_SCALARS = st.sampled_from(
    [True, False, None, 0, -1, 1e38, 10**20, -(10**20), 2.5, float("inf"), float("-inf"), "", "yes", "no", "~", "1e6"]
)
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
SECRET_LIKE = st.sampled_from(["snmp_community", "enable_secret", "sshPassword", "api-token", "privKey", "notes"])


def maybe(
    strategy: st.SearchStrategy[Any], odd: st.SearchStrategy[Any] = ODD_SCALARS, *, bad: bool = True
) -> st.SearchStrategy[Any]:
    """Mostly ``strategy``; in a file chosen to be broken, sometimes an odd scalar in its place."""
    return st.one_of(strategy, strategy, odd) if bad else strategy


def billion_laughs(depth: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, depth + 1):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


@st.composite
def yaml_text(draw: st.DrawFn, doc: Any, bad: bool = True) -> str:
    """``doc`` as YAML, sometimes broken: truncated, garbled, replaced by an alias bomb or noise."""
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    if not bad:
        return text
    how = draw(st.sampled_from(["as is"] * 6 + ["truncate", "garble", "bomb", "noise", "tab"]))
    if how == "truncate" and text:
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "garble" and text:
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(["{", "]", ": ", "&x ", "*x ", "!!python/object ", "\x00", "'"]))
            + text[at:]
        )
    elif how == "bomb":
        text = billion_laughs(draw(st.integers(3, 9)))
    elif how == "noise":
        text = draw(raw_text)
    elif how == "tab":
        text = text.replace("  ", "\t", 1)
    return text


# -- generated inputs -----------------------------------------------------------------------------
LEVELS = ("city", "county", "township", "village")


@st.composite
def sites_doc(draw: st.DrawFn, bad: bool = True) -> dict[str, Any]:
    """A city tree (each site's parent one level up), then maybe a loop or a wrong level."""
    n = draw(st.integers(1, 7))
    codes = [f"s{i}" for i in range(n)]
    sites: dict[str, Any] = {codes[0]: {"name": "市中心", "level": "city"}}
    depth = {codes[0]: 0}
    for code in codes[1:]:
        parent = draw(st.sampled_from([c for c in depth if depth[c] < 3]))
        depth[code] = depth[parent] + 1
        sites[code] = {"name": f"站点{code}", "level": LEVELS[depth[code]], "parent": parent}
    if bad and draw(st.booleans()):  # a loop: some site's parent set to itself or one of its descendants
        a = draw(st.sampled_from(codes))
        b = draw(st.sampled_from([c for c in codes if c == a or _under(sites, c, a)]))
        sites[a]["parent"] = b
    if bad and draw(st.integers(0, 4)) == 0:
        sites[draw(st.sampled_from(codes))]["level"] = draw(maybe(st.sampled_from(LEVELS), bad=bad))
    return {"sites": sites}


def _under(sites: dict[str, Any], code: str, ancestor: str) -> bool:
    seen = set()
    cur = sites[code].get("parent")
    while cur is not None and cur not in seen:
        if cur == ancestor:
            return True
        seen.add(cur)
        cur = sites.get(cur, {}).get("parent")
    return False


@st.composite
def inventory_files(draw: st.DrawFn, bad: bool = True) -> dict[str, str]:
    sites = draw(sites_doc(bad))
    site_codes = list(sites["sites"])
    gnames = [f"g{i}" for i in range(draw(st.integers(0, 5)))]
    groups = {
        g: {
            # any group may name any other: cycles are likely in a broken file
            "groups": draw(
                st.lists(st.sampled_from(gnames if bad else gnames[i + 1 :] or [g]), max_size=2, unique=True)
            )
            if bad or gnames[i + 1 :]
            else [],
            "platform": draw(maybe(st.sampled_from(["huawei_vrp", "hp_comware", "cisco_ios"]), bad=bad)),
        }
        for i, g in enumerate(gnames)
    }
    devices: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 6))):
        dev: dict[str, Any] = {
            "site": draw(maybe(st.sampled_from([*site_codes, "nowhere"]), bad=bad)),
            "mgmt_ipv4": draw(maybe(st.sampled_from([f"127.0.0.{i + 1}", "10.0.0.300", "::1"]), bad=bad)),
        }
        if gnames and draw(st.booleans()):
            dev["groups"] = draw(st.lists(st.sampled_from(gnames), max_size=2, unique=True))
        if bad and draw(st.booleans()):
            dev["data"] = {draw(SECRET_LIKE): draw(st.text(max_size=8)), "nested": {draw(SECRET_LIKE): "x"}}
        devices[f"dev{i}"] = dev
    timeout = draw(
        maybe(st.floats(0.1, 30), st.sampled_from([float("inf"), float("nan"), 0, -1, 1e308, True, "x"]), bad=bad)
    )
    profiles = {
        "ssh": {"default": {"credential": "extranet-ssh", "timeout": draw(maybe(st.just(20), bad=bad))}},
        "snmp": {
            "v3": {"version": "v3", "credential": "extranet-snmpv3", "timeout": timeout},
            "v2c": {"version": draw(maybe(st.just("v2c"), bad=bad)), "credential": "extranet-community"},
        },
    }
    defaults = {"ssh_profile": "default", "snmp_profile": draw(st.sampled_from(["v3", "v2c", "none"] + ["v9"] * bad))}
    return {
        "sites.yaml": draw(yaml_text(sites, bad)),
        "devices.yaml": draw(yaml_text({"devices": devices}, bad)),
        "groups.yaml": draw(yaml_text(groups, bad)),
        "profiles.yaml": draw(yaml_text(profiles, bad)),
        "defaults.yaml": draw(yaml_text(defaults, bad)),
    }


QUOTA_VALUES = st.one_of(ODD_SCALARS, st.floats(allow_nan=False), st.text(max_size=4))


@st.composite
def departments_doc(draw: st.DrawFn, bad: bool = True) -> dict[str, Any]:
    depts = []
    for i in range(draw(st.integers(0, 4))):
        quotas = draw(
            st.dictionaries(
                st.sampled_from(["cores", "ram_gb", "instances", "volume_gb", "volumes", "floating_ips", "ports"]),
                st.integers(-1, 10_000) | QUOTA_VALUES if bad else st.integers(-1, 10_000),
                max_size=4,
            )
        )
        depts.append(
            {
                "code": draw(maybe(st.sampled_from([f"d{i}x", "gaj", "Bad Code"]), bad=bad)),
                "name_zh": f"部门{i}",
                "name_en": f"Dept {i}",
                "project": draw(maybe(st.just(f"dept-{i}"), bad=bad)),
                "quotas": quotas,
            }
        )
    return {"departments": depts}


USER_DATA = st.sampled_from(["/dev/zero", "fifo", "folder", "missing.yaml", "big.bin", "/dev/null"])


@st.composite
def spec_doc(draw: st.DrawFn, bad: bool = True) -> dict[str, Any]:
    vms = [
        {
            "name": draw(maybe(st.just(f"g{n}"), st.sampled_from(["web", "Bad Name", 5]), bad=bad)),
            "count": draw(maybe(st.integers(1, 5), st.sampled_from([0, True, 10**9, 2.5, "3"]), bad=bad)),
            "user_data": draw(USER_DATA | st.just("ud.yaml") if bad else st.just("ud.yaml")),
            "volume_size": draw(maybe(st.integers(1, 100), bad=bad)),
        }
        for n in range(draw(st.integers(1 - bad, 3)))
    ]
    return {
        "version": 1,
        "department": draw(maybe(st.sampled_from(["d0x", "gaj", "nope"]), bad=bad)),
        "name": "portal",
        "defaults": {"flavor": "m1.small", "image": "cirros", "networks": "net"},
        "vms": vms,
    }


@st.composite
def rules_doc(draw: st.DrawFn, bad: bool = True) -> dict[str, Any]:
    rules = [
        {
            "id": draw(maybe(st.just(f"x.r{n}"), st.sampled_from(["x.r0", "ipv6.forwarding", 7]), bad=bad)),
            "title": {"en": "t", "zh": "标题"},
            "severity": draw(maybe(st.sampled_from(["low", "high"]), bad=bad)),
            "platforms": ["*"],
            "reads": ["ipv6_forwarding"],
            "check": draw(
                st.one_of(st.just({"fact": "ipv6_forwarding", "eq": True}), trees)
                if bad
                else st.just({"fact": "ipv6_forwarding", "eq": True})
            ),
        }
        for n in range(draw(st.integers(0, 3)))
    ]
    return {"pack": draw(maybe(st.just("extra"), bad=bad)), "rules": rules}


@st.composite
def config_doc(draw: st.DrawFn, bad: bool = True) -> dict[str, Any]:
    bad_urls = ["http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://[::1", "ftp://x"]
    url = draw(st.sampled_from([None, "http://127.0.0.1:9", *(bad_urls if bad else [])]))
    cfg: dict[str, Any] = {
        "version": draw(maybe(st.just(1), bad=bad)),
        "departments": "departments.yaml",
        "network": {
            "inventory": "inv",
            "rules": ["rules.yaml"],
            "device_timeout": draw(maybe(st.just(60), st.sampled_from([float("inf"), 0, -5, 1e308, "x"]), bad=bad)),
        },
        "store": {"url": "sqlite:///state/govops.db"},
        "credentials": {
            "sources": ["vault", "env"],
            "vault_file": draw(
                st.sampled_from(["vault.yml", *(["folder", "fifo", "missing.yml", "/dev/zero"] if bad else [])])
            ),
            "vault_password_file": draw(st.sampled_from(["pw", *(["bad-pw", "folder"] if bad else [])])),
        },
    }
    if url is not None:
        cfg["prometheus"] = {"url": url, "timeout": draw(maybe(st.just(1), bad=bad))}
    return cfg


@st.composite
def projects(draw: st.DrawFn) -> dict[str, str]:
    """A project in which one part (or none, or all) is broken, so commands get past the others."""
    broken = draw(st.sampled_from(["nothing", "config", "inventory", "departments", "spec", "rules", "vault", "all"]))

    def bad(part: str) -> bool:
        return broken in (part, "all")

    files = {f"inv/{k}": v for k, v in draw(inventory_files(bad("inventory"))).items()}
    files["govops.yaml"] = draw(yaml_text(draw(config_doc(bad("config"))), bad("config")))
    files["departments.yaml"] = draw(yaml_text(draw(departments_doc(bad("departments"))), bad("departments")))
    files["spec.yaml"] = draw(yaml_text(draw(spec_doc(bad("spec"))), bad("spec")))
    files["rules.yaml"] = draw(yaml_text(draw(rules_doc(bad("rules"))), bad("rules")))
    files["ud.yaml"] = "#cloud-config\n"
    vaults = ["vault:bytes", "vault:bomb", "$ANSIBLE_VAULT;1.1;AES256\nzz\n", "plain: text\n"]
    files["vault.yml"] = draw(st.sampled_from(["vault:right", *(vaults if bad("vault") else [])]))
    STATS[f"broken {broken}"] += 1
    return files


def write_project(root: Path, files: dict[str, str]) -> Path:
    from govops.vault import encrypt

    root.mkdir(parents=True, exist_ok=True)
    (root / "inv").mkdir(exist_ok=True)
    (root / "folder").mkdir(exist_ok=True)
    if not (root / "fifo").exists():
        os.mkfifo(root / "fifo")
    (root / "big.bin").write_bytes(b"#" * 70_000)
    (root / "pw").write_text("right\n")
    (root / "bad-pw").write_bytes(b"\xff\xfe\n")
    for name, text in files.items():
        if text.startswith("vault:"):
            plain = {
                "vault:right": "extranet-ssh: {username: u, password: p4ss-word}\n",
                "vault:bomb": billion_laughs(9),
            }.get(text)
            blob = encrypt(plain, "right") if plain is not None else _vault_of_bytes(b"\xff\xfe not utf-8")
            (root / name).write_bytes(blob)
        else:
            (root / name).write_text(text, encoding="utf-8")
    return root


def _vault_of_bytes(plain: bytes) -> bytes:
    """A vault whose decrypted content is not UTF-8 (ansible-vault encrypts any bytes)."""
    import binascii
    import hmac
    from hashlib import sha256

    from cryptography.hazmat.primitives import padding
    from govops import vault

    salt = os.urandom(32)
    key1, key2, iv = vault._keys("right", salt)
    padder = padding.PKCS7(128).padder()
    enc = vault._ctr(key1, iv).encryptor()  # type: ignore[attr-defined]
    data = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    mac = hmac.new(key2, data, sha256).digest()
    body = binascii.hexlify(b"\n".join(binascii.hexlify(x) for x in (salt, mac, data)))
    return vault.HEADER + b";1.1;AES256\n" + body + b"\n"


COMMANDS: dict[str, tuple[list[str], tuple[int, ...]]] = {
    "config show": (["config", "show"], (0, 2)),
    "inventory validate": (["net", "inventory", "validate"], (0, 2)),
    "inventory stats": (["net", "inventory", "stats"], (0, 2)),
    "dept list": (["cloud", "dept", "list"], (0, 2)),
    "cloud plan": (["cloud", "plan", "spec.yaml"], (0, 2)),
    "doctor": (["doctor"], (0, 2, 3)),
}
INPUT_FILES = ("govops.yaml", "inv/", "inv", "departments.yaml", "spec.yaml", "rules.yaml", "vault", "ud.yaml", "fifo")


# -- the properties -------------------------------------------------------------------------------
@PROJECT_FUZZ
@given(files=projects(), commands=st.lists(st.sampled_from(sorted(COMMANDS)), min_size=1, max_size=3, unique=True))
def test_commands_on_generated_projects_end_cleanly(tmp_path: Path, files: dict[str, str], commands: list[str]) -> None:
    root = write_project(tmp_path / "p", files)
    for name in commands:
        args, allowed = COMMANDS[name]
        out = govops(["--config", "govops.yaml", "--lang", "en", *args], cwd=root)
        check(out, name, allowed=allowed, files=(*INPUT_FILES, str(root)))


@PROJECT_FUZZ
@given(doc=rules_doc().flatmap(yaml_text))  # type: ignore[arg-type]
def test_rule_files_load_cleanly(tmp_path: Path, doc: str) -> None:
    from govops.network.analysis import known_facts
    from govops.network.rules.engine import load_rules

    f = tmp_path / "rules.yaml"
    f.write_text(doc, encoding="utf-8")
    check(call_clean(lambda: load_rules([f], known_facts())), "rules", files=(str(f),))


@FUZZ
@given(doc=st.one_of(trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), raw_text))
def test_config_never_tracebacks(tmp_path: Path, doc: str) -> None:
    f = tmp_path / "govops.yaml"
    f.write_text(doc, encoding="utf-8")
    check(call_clean(lambda: load_config(f)), "config", files=(str(f),))


@FUZZ
@given(
    doc=st.one_of(
        trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), raw_text, departments_doc().flatmap(yaml_text)
    )
)
def test_departments_never_traceback(tmp_path: Path, doc: str) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(doc, encoding="utf-8")
    check(call_clean(lambda: load_departments(f)), "departments", files=(str(f),))


@FUZZ
@given(
    files=st.one_of(
        st.dictionaries(
            st.sampled_from(["sites.yaml", "devices.yaml", "groups.yaml", "defaults.yaml", "profiles.yaml"]),
            st.one_of(trees.map(lambda t: yaml.safe_dump(t, allow_unicode=True)), raw_text),
            min_size=1,
        ),
        inventory_files(),
    )
)
def test_inventory_never_tracebacks(tmp_path: Path, files: dict[str, str]) -> None:
    root = tmp_path / "inv"
    root.mkdir(exist_ok=True)
    for p in root.iterdir():
        p.unlink()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    check(call_clean(lambda: load_inventory(root)), "inventory", files=(str(root),))


def test_binary_garbage_is_an_input_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "govops.yaml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    r = cli("--config", str(f), "config", "show")
    assert r.code == 2 and "not UTF-8" in r.err
