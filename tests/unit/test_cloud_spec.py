from __future__ import annotations

from pathlib import Path

import pytest
from govops.cloud.spec import load_spec
from govops.errors import ValidationFailed

GOOD = """\
version: 1
department: gaj
name: portal
defaults:
  flavor: m1.small
  image: cirros
  networks: dept-gaj-net
  tags: {system: portal}
vms:
  - name: web
    count: 3
    flavor: m1.medium
    volume_size: 50
    user_data: web.yaml
    tags: {role: web}
  - name: db
    boot_from_volume: 20
"""


def _write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    return f


def test_counts_expand_and_defaults_apply(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text("#cloud-config\n")
    spec = load_spec(_write(tmp_path, GOOD))
    assert spec.department == "gaj" and spec.name == "portal"
    assert [v.name for v in spec.vms] == ["web-01", "web-02", "web-03", "db"]
    web = spec.vm("web-02")
    assert (web.flavor, web.image, web.networks) == ("m1.medium", "cirros", ("dept-gaj-net",))
    assert web.tags == {"system": "portal", "role": "web"}
    assert web.user_data == "#cloud-config\n"
    assert web.volume_gb == 50 and web.volume_count == 1
    db = spec.vm("db")
    assert db.flavor == "m1.small" and db.boot_from_volume == 20 and db.user_data is None
    assert str(db.location) == "spec.yaml:16 vms[1]"
    assert str(db.where["flavor"]) == "spec.yaml:5 defaults.flavor"
    assert str(web.where["flavor"]) == "spec.yaml:12 vms[0].flavor"


def test_hash_covers_immutable_settings_only(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text("#cloud-config\n")
    base = load_spec(_write(tmp_path, GOOD)).vm("web-01").spec_hash
    assert load_spec(_write(tmp_path, GOOD.replace("{role: web}", "{role: api}"))).vm("web-01").spec_hash == base
    assert load_spec(_write(tmp_path, GOOD.replace("m1.medium", "m1.large"))).vm("web-01").spec_hash != base
    (tmp_path / "web.yaml").write_text("#cloud-config\nruncmd: [true]\n")
    assert load_spec(_write(tmp_path, GOOD)).vm("web-01").spec_hash != base


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("flavor: m1.medium", "flavor: [a]"), "spec.yaml:12 vms[0].flavor: Input should be a valid string"),
        (("count: 3", "count: 0"), "spec.yaml:11 vms[0].count: Input should be greater than or equal to 1"),
        (("name: db", "name: DB_1"), "spec.yaml:16 vms[1].name: String should match pattern"),
        (("    boot_from_volume: 20", "    bogus: 1"), "spec.yaml:17 vms[1].bogus: unknown key"),
        (("{role: web}", "{owner: me}"), "spec.yaml:15 vms[0].tags: tag key 'owner' is set by govops"),
        (("version: 1", "version: 2"), "spec.yaml:1 version: only version 1 is supported"),
        (("name: db", "name: web"), "spec.yaml:16 vms[1].name: duplicate VM group 'web' (also vms[0])"),
        (("user_data: web.yaml", "user_data: nope.yaml"), "spec.yaml:14 vms[0].user_data: cannot read nope.yaml"),
    ],
)
def test_every_error_is_located(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    (tmp_path / "web.yaml").write_text("#cloud-config\n")
    with pytest.raises(ValidationFailed) as exc:
        load_spec(_write(tmp_path, GOOD.replace(*change)))
    assert any(str(p).startswith(expected) for p in exc.value.problems), [str(p) for p in exc.value.problems]


def test_missing_flavor_and_image_are_reported_together(tmp_path: Path) -> None:
    text = "department: gaj\nname: x\nvms:\n  - name: a\n  - name: b\n    flavor: f\n"
    with pytest.raises(ValidationFailed) as exc:
        load_spec(_write(tmp_path, text))
    assert [str(p) for p in exc.value.problems] == [
        "spec.yaml:4 vms[0].name: no flavor (set it here or in defaults)",
        "spec.yaml:4 vms[0].name: no image (set it here or in defaults)",
        "spec.yaml:5 vms[1].name: no image (set it here or in defaults)",
    ]


def test_name_clash_between_groups(tmp_path: Path) -> None:
    text = "department: gaj\nname: x\ndefaults: {flavor: f, image: i}\nvms:\n  - {name: web, count: 2}\n  - {name: web-01}\n"
    with pytest.raises(ValidationFailed) as exc:
        load_spec(_write(tmp_path, text))
    assert str(exc.value.problems[0]) == "spec.yaml:6 vms[1]: VM name 'web-01' also comes from group 'web'"


@pytest.mark.parametrize("text", ["", "- a\n", "vms: [\n", "department: a\ndepartment: b\n"])
def test_malformed_files_fail_with_a_location(tmp_path: Path, text: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        load_spec(_write(tmp_path, text))
    assert str(exc.value.problems[0]).startswith("spec.yaml")
