"""``govops cloud apply SPEC --post PLAYBOOK`` on the lab's real OpenStack with real ansible-runner.

The lab's Nova VMs are fake (no SSH), so the playbook runs with ``ansible_connection=local`` and
writes one file per inventory host with the hostvars govops built from the cloud: one file per VM
the run created, with its department, run ID and server ID. A second apply adds one VM and makes
the playbook fail on it: exit 3, the VM is kept, the failure is reported for that VM.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from govops.cloud.ports import CloudPort
from govops.departments import Department

from tests.conftest import need
from tests.integration.cloud.test_cloud_batch import (  # noqa: F401 - fixtures shared with the batch tests
    _env,
    _mine,
    _write,
    departments,
    port,
    roomy,
    spec_name,
)

pytestmark = pytest.mark.integration

PLAYBOOK = """\
# Write each host's govops hostvars to out_dir (the lab's VMs have no SSH: connection local).
- hosts: all
  gather_facts: false
  tasks:
    - name: write hostvars
      ansible.builtin.copy:
        dest: "{{ out_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'department': govops_department, 'run_id': govops_run_id, 'server_id': govops_server_id,
                      'name': govops_server_name, 'system': govops_system, 'owner': govops_owner,
                      'address': ansible_host | default(''), 'groups': group_names} | to_json }}"
    - name: fail where asked
      ansible.builtin.fail:
        msg: "{{ inventory_hostname }}: post-provisioning failed on purpose"
      when: inventory_hostname == (fail_on | default(''))
"""


def test_apply_post_runs_the_playbook_on_exactly_the_new_vms(
    cli: Any,
    cloud_lab: Any,
    port: CloudPort,  # noqa: F811
    roomy: Department,  # noqa: F811
    spec_name: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    need(module="ansible_runner")
    args = _env(cloud_lab, tmp_path)
    playbook = tmp_path / "write-hostvars.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    post = ["--post", str(playbook), "--post-extra-vars", "ansible_connection=local",
            "--post-extra-vars", f"ansible_python_interpreter={sys.executable} out_dir={out}"]  # fmt: skip
    spec = _write(tmp_path, roomy, spec_name, "  - {name: app, count: 2, tags: {system: portal}}\n")
    r = cli(*args, "cloud", "apply", str(spec), *post, "-o", "json")
    assert r.code == 0, r.err + r.out
    result = json.loads(r.out)
    servers = {s.name: s for s in _mine(port, spec_name, result["run_id"])}
    assert sorted(servers) == ["app-01", "app-02"]
    assert sorted(p.name for p in out.iterdir()) == ["app-01.json", "app-02.json"]
    for name, server in servers.items():
        facts = json.loads((out / f"{name}.json").read_text())
        assert facts["department"] == roomy.code and facts["run_id"] == result["run_id"]
        assert facts["server_id"] == server.id and facts["system"] == "portal"
        assert server.fixed_ips and facts["address"] == server.fixed_ips[0]  # ansible_host: the first fixed IP
        assert sorted(facts["groups"]) == [f"dept_{roomy.code}", "system_portal"]
    assert {v["name"]: v["status"] for v in result["post"]["vms"]} == {"app-01": "changed", "app-02": "changed"}
    play_run = result["post"]["play"]["run_id"]

    # one VM more, and the playbook fails on it: the VM stays, exit 3, reported for that VM only
    for f in out.iterdir():
        f.unlink()
    spec.write_text(spec.read_text().replace("count: 2", "count: 3"), encoding="utf-8")
    r = cli(*args, "cloud", "apply", str(spec), *post, "--post-extra-vars", "fail_on=app-03", "-o", "json")
    assert r.code == 3, r.err + r.out
    second = json.loads(r.out)
    assert second["status"] == "ok" and second["post"]["play"]["run_id"] != play_run
    assert [(v["name"], v["status"]) for v in second["post"]["vms"]] == [("app-03", "failed")]
    assert "failed on purpose" in second["post"]["vms"][0]["detail"]
    assert sorted(p.name for p in out.iterdir()) == ["app-03.json"]
    kept = _mine(port, spec_name)
    assert sorted(s.name for s in kept) == ["app-01", "app-02", "app-03"]
    assert all(s.status == "ACTIVE" for s in kept)
    assert "the VMs are kept" in r.err
