"""VM service against the in-memory cloud: pre-checks, duplicate safety, waits and department fences."""

from __future__ import annotations

from pathlib import Path

import pytest
from govops.cloud.ports import (
    META_DEPARTMENT,
    META_OWNER,
    META_RUN,
    META_SYSTEM,
    CloudApiError,
    CloudPort,
    CloudUnreachable,
    QuotaExceeded,
    RateLimited,
    ServerFault,
    WaitTimeout,
)
from govops.cloud.vms import Clock, VmService, VmSpec, parse_tags
from govops.departments import Department, load_departments
from govops.errors import ExitCode, InputError, NotFoundError
from govops.i18n import Translator

from tests.conftest import REPO
from tests.fakes_cloud import FakeCloud


class FakeClock(Clock):
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        super().__init__(monotonic=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def depts() -> dict[str, Department]:
    return {d.code: d for d in load_departments(REPO / "inventories" / "departments.yaml")}


@pytest.fixture
def cloud(depts: dict[str, Department]) -> FakeCloud:
    c = FakeCloud(build_polls=2)
    c.add_project(depts["gaj"].project, limits={"cores": 8, "ram_mb": 16384, "instances": 3})
    c.add_project(depts["wjw"].project)
    c.add_flavor("m1.small", 1, 2048)
    c.add_flavor("m1.large", 4, 8192)
    c.add_flavor("m1.huge", 16, 32768)
    c.add_image("cirros")
    c.add_network("lab-net")
    return c


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def svc(cloud: FakeCloud, clock: FakeClock) -> VmService:
    return VmService(cloud, clock=clock)


def spec(name: str = "web-1", flavor: str = "m1.small", **kw: object) -> VmSpec:
    return VmSpec(name=name, flavor=flavor, image="cirros", networks=("lab-net",), system="portal", **kw)  # type: ignore[arg-type]


def test_fake_implements_the_port() -> None:
    assert isinstance(FakeCloud(), CloudPort)


def test_create_waits_until_active_and_sets_metadata(svc: VmService, cloud: FakeCloud, depts, clock) -> None:  # type: ignore[no-untyped-def]
    r = svc.create(depts["gaj"], spec(tags={"env": "prod"}), "run-1")
    assert r.created and r.server.status == "ACTIVE"
    md = r.server.metadata
    assert md[META_DEPARTMENT] == "gaj" and md[META_RUN] == "run-1" and md[META_SYSTEM] == "portal"
    assert md[META_OWNER] == depts["gaj"].owner.name and md["env"] == "prod"
    assert r.server.project_id == cloud.find_project("dept-gaj").id  # type: ignore[union-attr]
    assert clock.sleeps, "the wait polled with sleeps between"
    assert r.waited is not None and r.waited > 0


def test_no_wait_returns_the_building_server(svc: VmService, depts) -> None:  # type: ignore[no-untyped-def]
    r = svc.create(depts["gaj"], spec(), "run-1", wait=False)
    assert r.server.status == "BUILD" and r.waited is None


def test_over_quota_is_refused_before_any_create(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QuotaExceeded) as err:
        svc.create(depts["gaj"], spec(flavor="m1.huge"), "run-1")
    assert "公安局 needs 16 cores, 8 free" in err.value.message
    assert [s.resource for s in err.value.shortfalls] == ["cores", "ram_mb"]
    assert "create_server" not in cloud.calls
    assert err.value.exit_code == ExitCode.ERROR


def test_over_quota_counts_volumes(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.set_quotas(cloud.find_project("dept-gaj").id, {"gigabytes": 50})  # type: ignore[union-attr]
    with pytest.raises(QuotaExceeded, match="needs 100 gigabytes, 50 free"):
        svc.create(depts["gaj"], spec(boot_volume_gb=100), "run-1")
    assert "create_server" not in cloud.calls


def test_unknown_flavor_image_network_are_bad_input(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match=r"unknown flavor 'm1\.smal'") as err:
        svc.create(depts["gaj"], spec(flavor="m1.smal"), "r")
    assert "m1.small" in (err.value.hint or "")
    assert err.value.exit_code == ExitCode.USAGE
    with pytest.raises(NotFoundError, match="unknown image"):
        svc.create(depts["gaj"], VmSpec(name="x", flavor="m1.small", image="nope"), "r")
    with pytest.raises(NotFoundError, match="unknown network"):
        svc.create(depts["gaj"], VmSpec(name="x", flavor="m1.small", image="cirros", networks=("nope",)), "r")
    assert "create_server" not in cloud.calls


def test_department_without_project_is_bad_input(svc: VmService, depts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="project 'dept-jyj' does not exist"):
        svc.create(depts["jyj"], spec(), "r")


def test_volume_options_exclude_each_other(svc: VmService, depts) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="exclude each other"):
        svc.create(depts["gaj"], spec(volume_gb=10, boot_volume_gb=10), "r")


def test_error_state_raises_with_fault_and_deletes(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.error_on_build["web-1"] = "No valid host was found. There are not enough hosts available."
    with pytest.raises(ServerFault, match="went to ERROR: No valid host was found") as err:
        svc.create(depts["gaj"], spec(), "run-1")
    assert "deleted" in err.value.message
    # what the CLI prints, in either language, says so too
    assert err.value.render_in(Translator("en")).endswith("(the server was deleted)")
    assert "No valid host" in err.value.render_in(Translator("zh")) and "已删除" in err.value.render_in(
        Translator("zh")
    )
    assert cloud.servers() == []


def test_error_state_kept_when_asked(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.error_on_build["web-1"] = "boom"
    with pytest.raises(ServerFault):
        svc.create(depts["gaj"], spec(), "run-1", delete_on_error=False)
    assert [s.status for s in cloud.servers()] == ["ERROR"]


def test_wait_has_a_deadline(cloud: FakeCloud, depts, clock) -> None:  # type: ignore[no-untyped-def]
    cloud.build_polls = 10_000
    svc = VmService(cloud, clock=clock)
    with pytest.raises(WaitTimeout, match="is BUILD, not ACTIVE, after 30 s") as err:
        svc.create(depts["gaj"], spec(), "run-1", timeout=30)
    assert 30 <= clock.now <= 31
    assert max(clock.sleeps) <= 5.0
    assert err.value.server is not None


def test_lost_answer_finds_the_server_instead_of_creating_a_second(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.timeout_after_create()
    r = svc.create(depts["gaj"], spec(), "run-1")
    assert r.server.status == "ACTIVE"
    assert cloud.calls.count("create_server") == 1
    assert len(cloud.servers(name="web-1")) == 1


def test_connection_refused_is_retried(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("create_server", CloudUnreachable("compute: cannot connect", maybe_applied=False))
    r = svc.create(depts["gaj"], spec(), "run-1")
    assert r.created and cloud.calls.count("create_server") == 2
    assert len(cloud.servers()) == 1


def test_rate_limit_honours_retry_after(svc: VmService, cloud: FakeCloud, depts, clock) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("create_server", RateLimited("slow down", retry_after=7, status=429))
    svc.create(depts["gaj"], spec(), "run-1")
    assert clock.sleeps[0] == 7
    assert len(cloud.servers()) == 1


def test_persistent_failure_gives_up(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("create_server", *[CloudUnreachable("down", maybe_applied=False) for _ in range(10)])
    with pytest.raises(CloudUnreachable):
        svc.create(depts["gaj"], spec(), "run-1")
    assert cloud.calls.count("create_server") == 4
    assert cloud.servers() == []


def test_api_error_is_not_retried(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    cloud.fail_next("create_server", CloudApiError("boom", status=500, service="compute"))
    with pytest.raises(CloudApiError, match="HTTP 500"):
        svc.create(depts["gaj"], spec(), "run-1")
    assert cloud.calls.count("create_server") == 1


def test_rerun_with_same_run_id_adopts_the_server(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    first = svc.create(depts["gaj"], spec(), "run-1", wait=False)
    again = svc.create(depts["gaj"], spec(), "run-1")
    assert not again.created and again.server.id == first.server.id
    assert cloud.calls.count("create_server") == 1


def test_same_name_from_another_run_is_refused(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    svc.create(depts["gaj"], spec(), "run-1")
    with pytest.raises(InputError, match="already exists in department gaj"):
        svc.create(depts["gaj"], spec(), "run-2")
    assert len(cloud.servers()) == 1


def test_same_name_in_another_department_is_fine(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    svc.create(depts["gaj"], spec(), "run-1")
    svc.create(depts["wjw"], spec(), "run-2")
    assert len(cloud.servers(name="web-1")) == 2


def test_find_refuses_servers_of_another_department(svc: VmService, depts) -> None:  # type: ignore[no-untyped-def]
    theirs = svc.create(depts["wjw"], spec(name="db-1"), "run-1").server
    with pytest.raises(NotFoundError, match=r"no VM .* in department gaj .*another project"):
        svc.find(depts["gaj"], theirs.id)
    with pytest.raises(NotFoundError, match="no VM 'db-1' in department gaj"):
        svc.find(depts["gaj"], "db-1")
    assert svc.find(depts["wjw"], "db-1").id == theirs.id
    assert svc.find(depts["wjw"], theirs.id).id == theirs.id


def test_ambiguous_name_asks_for_the_id(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    svc.create(depts["gaj"], spec(), "run-1")
    # a second server of that name made outside govops (Nova allows it)
    from govops.cloud.ports import ServerRequest

    f, i = cloud.find_flavor("m1.small"), cloud.find_image("cirros")
    cloud.create_server(cloud.find_project("dept-gaj"), ServerRequest("web-1", f.id, i.id))  # type: ignore[arg-type, union-attr]
    with pytest.raises(InputError, match="2 VMs named 'web-1'"):
        svc.find(depts["gaj"], "web-1")


def test_stop_start_reboot_delete(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    s = svc.create(depts["gaj"], spec(), "run-1").server
    assert svc.stop(s).status == "SHUTOFF"
    with pytest.raises(CloudApiError, match="HTTP 409"):
        svc.stop(s)
    assert svc.start(s).status == "ACTIVE"
    assert svc.reboot(s, hard=True).status == "ACTIVE"
    svc.delete(s)
    assert cloud.servers() == []


def test_resize_checks_quota_then_confirms(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    s = svc.create(depts["gaj"], spec(), "run-1").server
    with pytest.raises(QuotaExceeded, match="needs 15 cores, 7 free"):
        svc.resize(depts["gaj"], s, "m1.huge")
    assert "resize_server" not in cloud.calls
    r = svc.resize(depts["gaj"], s, "m1.large")
    assert (r.flavor, r.vcpus, r.status) == ("m1.large", 4, "ACTIVE")
    assert "confirmResize_server" in cloud.calls


def test_list_filters(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    a = svc.create(depts["gaj"], spec(name="a"), "run-1").server
    svc.create(depts["gaj"], spec(name="b", tags={"env": "test"}), "run-1")
    svc.create(depts["wjw"], spec(name="c"), "run-2")
    svc.stop(a)
    gaj = cloud.find_project("dept-gaj").id  # type: ignore[union-attr]
    assert [s.name for s in svc.servers([gaj])] == ["a", "b"]
    assert [s.name for s in svc.servers(None)] == ["a", "b", "c"]
    assert [s.name for s in svc.servers(None, status="shutoff")] == ["a"]
    assert [s.name for s in svc.servers(None, tags={"env": "test"})] == ["b"]
    assert [s.name for s in svc.servers(None, tags={META_DEPARTMENT: "wjw"})] == ["c"]
    assert svc.servers(None, host="nowhere") == []


def test_parse_tags() -> None:
    assert parse_tags(["env=prod", "tier=web=1"]) == {"env": "prod", "tier": "web=1"}
    for bad in ("novalue", "=x"):
        with pytest.raises(InputError):
            parse_tags([bad])
    with pytest.raises(InputError, match="set by govops"):
        parse_tags(["run_id=x"])


def test_user_data_reaches_the_request(svc: VmService, cloud: FakeCloud, depts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, req = svc.build_request(depts["gaj"], spec(user_data="#cloud-config\n", key_name="k"), "r")
    assert req.user_data == "#cloud-config\n" and req.key_name == "k"
    assert req.network_ids == (cloud.find_network("lab-net").id,)  # type: ignore[union-attr]


def test_wait_deleted_accepts_a_lasting_deleted_status(cloud: FakeCloud, depts, clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    svc = VmService(cloud, clock=clock)
    s = svc.create(depts["gaj"], spec(), "run-1").server
    # some clouds keep answering DELETED to admins instead of 404
    monkeypatch.setattr(cloud, "get_server", lambda sid: replace(s, status="DELETED"))
    svc.wait_deleted(s.id, timeout=60)
    assert 10 <= clock.now < 20


def test_delete_reports_volumes_left_behind(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    s = svc.create(depts["gaj"], spec(volume_gb=10), "run-1").server
    assert len(s.owned_volumes) == 1
    cloud.keep_volumes_on_delete = True
    left = svc.delete(s)
    assert [v.id for v in left] == list(s.owned_volumes)


def test_delete_with_volume_cleans_up(svc: VmService, cloud: FakeCloud, depts) -> None:  # type: ignore[no-untyped-def]
    s = svc.create(depts["gaj"], spec(volume_gb=10), "run-1").server
    assert svc.delete(s) == []
    assert cloud.volumes() == []


def test_ctrl_c_during_a_create_marks_the_run_interrupted_and_says_how_to_resume(  # type: ignore[no-untyped-def]
    cloud: FakeCloud, depts, clock, tmp_path: Path
) -> None:
    from govops.cloud.vms import create_recorded, create_run
    from govops.errors import Interrupted
    from govops.store import SqlStore

    def ctrl_c(seconds: float) -> None:  # Ctrl-C while waiting for ACTIVE (after the create)
        raise KeyboardInterrupt

    store = SqlStore(f"sqlite:///{tmp_path / 's.db'}")
    run = create_run(store, None, {"department": "gaj", "name": "web-1"})
    svc = VmService(cloud, clock=Clock(monotonic=lambda: clock.now, sleep=ctrl_c))
    with pytest.raises(Interrupted) as exc:
        create_recorded(svc, store, run.id, depts["gaj"], spec(), resume=f"again --run-id {run.id}")
    assert exc.value.exit_code == ExitCode.INTERRUPTED and exc.value.resume == f"again --run-id {run.id}"
    assert store.get_run(run.id).status == "interrupted"  # was left "running"
    assert [e.action for e in store.journal(run.id)] == ["create"]  # the server it made is known
    # the same create under the same run finishes it, adopting the server
    done = create_recorded(VmService(cloud, clock=clock), store, run.id, depts["gaj"], spec())
    assert not done.created and store.get_run(run.id).status == "finished"
    assert len(cloud.servers()) == 1
