"""plan/apply/rollback on the fake cloud; tests/integration/cloud/test_cloud_batch.py runs the key
scenarios again on the lab's real OpenStack."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from govops.cloud.batch import ApplyOptions, apply, make_plan, rollback
from govops.cloud.ports import CloudApiError, QuotaExceeded, RateLimited
from govops.cloud.spec import META_HASH, META_SPEC, load_spec
from govops.departments import Department
from govops.errors import ValidationFailed
from govops.observer import RecordingObserver
from govops.store import SqlStore, open_store

from tests.fakes_cloud import FakeCloud

DEPT = Department(code="gaj", name_zh="公安局", name_en="Public Security Bureau", project="dept-gaj")
FAST = ApplyOptions(concurrency=4, timeout=5, poll_interval=0.01, backoff=0.01)

SPEC = """\
department: gaj
name: portal
defaults: {flavor: m1.small, image: cirros, networks: [net1]}
vms:
  - name: web
    count: 3
    tags: {role: web}
  - name: db
    flavor: m1.large
    volume_size: 50
"""


@pytest.fixture
def cloud() -> FakeCloud:
    c = FakeCloud(build_polls=2)
    c.add_project("dept-gaj", limits={"cores": 20, "instances": 10})
    c.add_flavor("m1.small", 1, 2048)
    c.add_flavor("m1.large", 4, 8192)
    c.add_image("cirros")
    c.add_network("net1")
    return c


@pytest.fixture
def store(tmp_path: Path) -> SqlStore:
    return open_store(f"sqlite:///{tmp_path / 'govops.db'}")


def _spec(tmp_path: Path, text: str = SPEC) -> Any:
    f = tmp_path / "portal.yaml"
    f.write_text(text, encoding="utf-8")
    return load_spec(f)


def _mine(cloud: FakeCloud, run_id: str | None = None) -> list[Any]:
    return [
        s for s in cloud.servers() if s.metadata.get(META_SPEC) == "portal" and (run_id is None or s.run_id == run_id)
    ]


def _apply(cloud: FakeCloud, store: SqlStore, tmp_path: Path, text: str = SPEC, **opts: Any) -> Any:
    plan = make_plan(cloud, _spec(tmp_path, text), DEPT)
    options = ApplyOptions(**{**FAST.__dict__, **opts})
    return apply(cloud, plan, store, label=DEPT.name_zh, options=options)


def test_plan_of_an_empty_project_creates_everything(cloud: FakeCloud, tmp_path: Path) -> None:
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    assert plan.drift and plan.counts() == {"create": 4, "keep": 0, "change": 0, "orphan": 0}
    assert [i.name for i in plan.items] == ["web-01", "web-02", "web-03", "db"]
    assert cloud.calls.count("create_server") == 0


def test_apply_creates_then_plan_shows_no_drift(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    result = _apply(cloud, store, tmp_path)
    assert result.status == "ok", result.error
    servers = _mine(cloud, result.run_id)
    assert sorted(s.name for s in servers) == ["db", "web-01", "web-02", "web-03"]
    assert all(s.status == "ACTIVE" for s in cloud.servers())
    web = next(s for s in servers if s.name == "web-01")
    assert web.metadata["department"] == "gaj" and web.metadata["role"] == "web"
    assert web.metadata["system"] == "portal" and web.metadata[META_HASH]
    db = next(s for s in servers if s.name == "db")
    assert len(db.volumes) == 1
    assert {e.action for e in store.journal(result.run_id)} == {"create", "created"}
    assert store.get_run(result.run_id).status == "ok"
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    assert not plan.drift and plan.counts()["keep"] == 4
    again = _apply(cloud, store, tmp_path)
    assert again.status == "unchanged" and cloud.calls.count("create_server") == 4


def test_plan_tells_change_in_place_replace_and_orphan(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    assert _apply(cloud, store, tmp_path).status == "ok"
    changed = SPEC.replace("count: 3", "count: 2").replace("{role: web}", "{role: api}")
    changed = changed.replace("flavor: m1.large", "flavor: m1.small")
    plan = make_plan(cloud, _spec(tmp_path, changed), DEPT)
    by = {(i.action, i.name): i for i in plan.items}
    assert set(by) == {("change", "web-01"), ("change", "web-02"), ("change", "db"), ("orphan", "web-03")}
    assert not by[("change", "web-01")].replace
    assert by[("change", "web-01")].changes == ("tag role: web -> api",)
    assert by[("change", "db")].replace and "flavor: m1.large -> m1.small" in by[("change", "db")].changes


def test_apply_changes_tags_in_place_replaces_and_prunes(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    first = _apply(cloud, store, tmp_path)
    old = {s.name: s.id for s in _mine(cloud)}
    changed = SPEC.replace("count: 3", "count: 2").replace("{role: web}", "{role: api}")
    changed = changed.replace("flavor: m1.large", "flavor: m1.small")
    kept = _apply(cloud, store, tmp_path, changed)
    assert kept.status == "ok", kept.error
    now = {s.name: s for s in _mine(cloud)}
    assert now["web-01"].id == old["web-01"] and now["web-01"].metadata["role"] == "api"
    assert now["web-01"].run_id == first.run_id  # an in-place change keeps the creating run
    assert now["db"].id != old["db"] and now["db"].flavor == "m1.small"
    assert "web-03" in now  # not pruned without prune
    assert make_plan(cloud, _spec(tmp_path, changed), DEPT).counts() == {
        "create": 0,
        "keep": 3,
        "change": 0,
        "orphan": 1,
    }
    pruned = _apply(cloud, store, tmp_path, changed, prune=True)
    assert [(o.name, o.status) for o in pruned.outcomes] == [("web-03", "deleted")]
    assert sorted(s.name for s in _mine(cloud)) == ["db", "web-01", "web-02"]
    assert not make_plan(cloud, _spec(tmp_path, changed), DEPT).drift


def test_duplicates_of_a_vm_are_orphans(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    _apply(cloud, store, tmp_path)
    web = next(s for s in _mine(cloud) if s.name == "web-01")
    cloud.srv[web.id].server  # noqa: B018 - exists
    # a second web-01 with the same metadata, as a client retrying blindly would have made
    from govops.cloud.ports import ServerRequest

    flavor = cloud.find_flavor("m1.small")
    image = cloud.find_image("cirros")
    assert flavor and image
    project = cloud.find_project("dept-gaj")
    assert project
    cloud.create_server(project, ServerRequest("web-01", flavor.id, image.id, metadata=dict(web.metadata)))
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    orphans = plan.of("orphan")
    assert len(orphans) == 1 and orphans[0].server and orphans[0].server.id != web.id
    assert plan.counts()["keep"] == 4


def test_over_quota_batch_is_refused_before_any_create(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    project = cloud.find_project("dept-gaj")
    assert project
    cloud.limits[project.id].update(cores=5, instances=3)
    with pytest.raises(QuotaExceeded) as exc:
        _apply(cloud, store, tmp_path)
    assert "公安局 needs 7 cores, 5 free" in str(exc.value)
    assert "needs 4 instances, 3 free" in str(exc.value)
    assert {s.resource for s in exc.value.shortfalls} == {"cores", "instances"}
    assert cloud.calls.count("create_server") == 0 and not cloud.servers()
    assert store.runs(kind="cloud.apply") == []


def test_a_server_going_to_error_mid_batch_rolls_back_the_run(
    cloud: FakeCloud, store: SqlStore, tmp_path: Path
) -> None:
    cloud.error_on_build["web-02"] = "No valid host was found."
    result = _apply(cloud, store, tmp_path)
    assert result.status == "rolled-back"
    assert result.error and "web-02: went to ERROR: No valid host was found." in result.error
    assert _mine(cloud, result.run_id) == [] and cloud.servers() == [] and not cloud.volumes()
    assert result.leaked == []
    actions = [e.action for e in store.journal(result.run_id)]
    assert actions.count("rolled-back") == actions.count("created") > 0
    assert store.get_run(result.run_id).status == "rolled-back"


class FailAfter:
    """The real port (or the fake) with an API error injected after ``n`` successful creates."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner = inner
        self.left = n
        self.lock = threading.Lock()

    def create_server(self, project: Any, request: Any) -> Any:
        with self.lock:
            self.left -= 1
            fail = self.left < 0
        if fail:
            raise CloudApiError("Invalid key_name provided.", status=400, method="POST", url="/servers")
        return self.inner.create_server(project, request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_api_error_mid_batch_leaves_nothing_of_the_run(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    existing = _apply(cloud, store, tmp_path, SPEC.replace("count: 3", "count: 1"))
    before = {s.id for s in cloud.servers()}
    wrapped = FailAfter(cloud, 1)
    plan = make_plan(wrapped, _spec(tmp_path, SPEC.replace("count: 3", "count: 4")), DEPT)  # type: ignore[arg-type]
    assert plan.counts()["create"] == 4  # web-01..04 (web became a counted group), db kept
    result = apply(wrapped, plan, store, label="公安局", options=FAST)  # type: ignore[arg-type]
    assert result.status == "rolled-back" and "Invalid key_name" in (result.error or "")
    assert _mine(cloud, result.run_id) == []
    # what earlier runs made is never touched by a rollback
    assert {s.id for s in cloud.servers()} == before and existing.status == "ok"


def test_keep_partial_keeps_what_was_made(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    cloud.error_on_build["web-02"] = "No valid host was found."
    result = _apply(cloud, store, tmp_path, keep_partial=True)
    assert result.status == "partial"
    assert sorted(s.name for s in _mine(cloud, result.run_id) if s.status == "ACTIVE") == ["db", "web-01", "web-03"]
    del cloud.error_on_build["web-02"]
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    assert [(i.action, i.name) for i in plan.items if i.action != "keep"] == [("change", "web-02")]
    assert _apply(cloud, store, tmp_path).status == "ok"
    assert sorted(s.name for s in _mine(cloud)) == ["db", "web-01", "web-02", "web-03"]


def test_a_lost_create_answer_is_found_not_duplicated(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    cloud.timeout_after_create()
    obs = RecordingObserver()
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    result = apply(cloud, plan, store, label="公安局", options=FAST, observer=obs)
    assert result.status == "ok", result.error
    assert cloud.calls.count("create_server") == 4
    assert sorted(s.name for s in cloud.servers()) == ["db", "web-01", "web-02", "web-03"]
    assert [e.action for e in store.journal(result.run_id)].count("adopted") == 1
    assert any("not re-created" in e[1] for e in obs.events if e[0] == "message")


def test_a_rerun_after_timeouts_creates_no_duplicates(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    # every create of web-02 "times out" after reaching the cloud: the run keeps what it has
    from govops.cloud.ports import CloudUnreachable

    class Timeouts(FailAfter):
        def create_server(self, project: Any, request: Any) -> Any:
            server = self.inner.create_server(project, request)
            if request.name == "web-02":
                raise CloudUnreachable("compute: read timeout", maybe_applied=True)
            return server

    wrapped = Timeouts(cloud, 0)
    plan = make_plan(wrapped, _spec(tmp_path), DEPT)  # type: ignore[arg-type]
    first = apply(wrapped, plan, store, label="公安局", options=FAST)  # type: ignore[arg-type]
    assert first.status == "ok"  # the lost answer's server was adopted
    rerun = _apply(cloud, store, tmp_path)
    assert rerun.status == "unchanged"
    assert sorted(s.name for s in cloud.servers()) == ["db", "web-01", "web-02", "web-03"]


def test_rate_limits_are_retried_after_retry_after(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    cloud.fail_next(
        "create_server",
        RateLimited("Over limit", retry_after=0.05, status=429),
        RateLimited("Over limit", retry_after=None, status=413),
    )
    obs = RecordingObserver()
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    result = apply(cloud, plan, store, label="公安局", options=FAST, observer=obs)
    assert result.status == "ok", result.error
    assert len(cloud.servers()) == 4 and cloud.calls.count("create_server") == 6
    assert sum("limited, retrying" in e[1] for e in obs.events if e[0] == "message") == 2


def test_wait_has_a_deadline(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    cloud.build_polls = 10_000
    result = _apply(cloud, store, tmp_path, timeout=0.3)
    assert result.status == "rolled-back" and "not ACTIVE after 0.3 s" in (result.error or "")
    assert cloud.servers() == []


def test_concurrency_is_bounded(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    project = cloud.find_project("dept-gaj")
    assert project
    cloud.limits[project.id].update(cores=-1, instances=-1)
    peak = 0
    lock = threading.Lock()

    def building() -> None:
        nonlocal peak
        with lock:
            peak = max(peak, sum(1 for s in cloud.srv.values() if s.server.status == "BUILD"))

    cloud.after["create_server"] = building
    result = _apply(cloud, store, tmp_path, SPEC.replace("count: 3", "count: 12"), concurrency=3)
    assert result.status == "ok" and len(cloud.servers()) == 13
    assert 1 <= peak <= 3


def test_rollback_by_run_id_finds_servers_missing_from_the_journal(
    cloud: FakeCloud, store: SqlStore, tmp_path: Path
) -> None:
    result = _apply(cloud, store, tmp_path)
    other = _apply(cloud, store, tmp_path, SPEC.replace("name: portal", "name: gis"))
    assert other.status == "ok"
    left = rollback(cloud, store, result.run_id, result.plan.project.id, interval=0.01)
    assert left == [] and _mine(cloud) == []
    assert len(cloud.servers()) == 4  # the other spec's servers are not this run's


def test_unknown_catalog_names_are_located(cloud: FakeCloud, tmp_path: Path) -> None:
    text = SPEC.replace("flavor: m1.large", "flavor: m1.huge").replace("[net1]", "[net9]")
    with pytest.raises(ValidationFailed) as exc:
        make_plan(cloud, _spec(tmp_path, text), DEPT)
    assert [str(p) for p in exc.value.problems] == [
        "portal.yaml:3 defaults.networks: unknown network 'net9' in the cloud",
        "portal.yaml:9 vms[1].flavor: unknown flavor 'm1.huge' in the cloud",
    ]


def test_5xx_and_refused_connections_are_retried_without_duplicates(
    cloud: FakeCloud, store: SqlStore, tmp_path: Path
) -> None:
    from govops.cloud.ports import CloudUnreachable

    cloud.fail_next(
        "create_server",
        CloudApiError("Service Unavailable", status=503),
        CloudUnreachable("compute: connection refused", maybe_applied=False),
    )
    result = _apply(cloud, store, tmp_path)
    assert result.status == "ok", result.error
    assert cloud.calls.count("create_server") == 6 and len(cloud.servers()) == 4


def test_a_plain_api_refusal_is_not_retried(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    cloud.fail_next("create_server", CloudApiError("Invalid imageRef", status=400))
    result = _apply(cloud, store, tmp_path, concurrency=1)
    assert result.status == "rolled-back" and "Invalid imageRef" in (result.error or "")
    assert cloud.calls.count("create_server") == 1 and cloud.servers() == []


def test_quota_taken_by_someone_else_mid_batch_rolls_back(cloud: FakeCloud, store: SqlStore, tmp_path: Path) -> None:
    plan = make_plan(cloud, _spec(tmp_path), DEPT)
    project = cloud.find_project("dept-gaj")
    assert project
    done = 0

    def grab() -> None:  # after the 2nd create another admin takes the remaining cores
        nonlocal done
        done += 1
        if done == 2:
            cloud.limits[project.id]["cores"] = 2

    cloud.after["create_server"] = grab
    result = apply(cloud, plan, store, label="公安局", options=ApplyOptions(concurrency=1, poll_interval=0.01))
    assert result.status == "rolled-back" and "Quota exceeded for cores" in (result.error or "")
    assert cloud.servers() == []
