from __future__ import annotations

from pathlib import Path

import pytest
from govops.departments import load_departments
from govops.errors import NotFoundError, ValidationFailed

from tests.conftest import REPO


def test_sample_has_50_departments_with_quotas_and_owners() -> None:
    depts = load_departments(REPO / "inventories" / "departments.yaml")
    assert len(depts) == 50
    for d in depts:
        assert d.project.startswith("dept-") and d.owner is not None
        assert set(d.quotas.set_fields()) >= {
            "cores",
            "ram_gb",
            "instances",
            "volume_gb",
            "volumes",
            "floating_ips",
        }
    assert {"公安局", "卫生健康委员会", "教育局", "自然资源和规划局"} <= {d.name_zh for d in depts}


@pytest.mark.parametrize("ref", ["gaj", "GAJ", "dept-gaj", "公安局", "public security bureau"])
def test_lookup_by_any_name(ref: str) -> None:
    assert load_departments(REPO / "inventories" / "departments.yaml").get(ref).code == "gaj"


def test_unknown_department_is_not_found_with_suggestion() -> None:
    depts = load_departments(REPO / "inventories" / "departments.yaml")
    with pytest.raises(NotFoundError) as exc:
        depts.get("公安")
    assert exc.value.hint is not None and "公安局" in exc.value.hint


def test_omitted_quota_fields_stay_unset(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("departments:\n- {code: ab, name_zh: 甲, name_en: A, project: p-a, quotas: {cores: 8}}\n")
    assert load_departments(f).get("ab").quotas.set_fields() == {"cores": 8}


def test_duplicates_and_bad_fields_are_located(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text(
        "departments:\n"
        "- {code: ab, name_zh: 甲, name_en: A, project: p-a}\n"
        "- {code: ab, name_zh: 乙, name_en: B, project: p-b}\n"
        "- {code: Bad Code, name_zh: 丙, name_en: C, project: p-c, quotas: {cores: -5}}\n"
    )
    with pytest.raises(ValidationFailed) as exc:
        load_departments(f, display="d.yaml")
    out = [str(p) for p in exc.value.problems]
    assert any(p.startswith("d.yaml:4 departments[2].code:") for p in out)
    assert any(p.startswith("d.yaml:4 departments[2].quotas.cores:") for p in out)
    f.write_text(
        "departments:\n- {code: ab, name_zh: 甲, name_en: A, project: p-a}\n"
        "- {code: ab, name_zh: 乙, name_en: B, project: p-b}\n"
    )
    with pytest.raises(ValidationFailed) as exc2:
        load_departments(f, display="d.yaml")
    assert str(exc2.value.problems[0]) == "d.yaml:3 departments[1].code: duplicate code 'ab' (also departments[0])"
