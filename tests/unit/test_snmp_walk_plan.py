"""How the SNMP collector packs subtree walks into GETBULK requests (no agent needed)."""

from __future__ import annotations

from govops.network.collectors.snmp import MESSAGE_COST, RowHistory, plan_requests


def _varbinds(plan: list[tuple[list[int], int]]) -> int:
    return sum(len(cols) * reps for cols, reps in plan)


def test_every_subtree_is_asked_for_exactly_once() -> None:
    wanted = [6, 6, 6, 13, 13, 5, 2, 2, 6, 1]
    plan = plan_requests(wanted, max_varbinds=55)
    asked = sorted(i for cols, _reps in plan for i in cols)
    assert asked == list(range(len(wanted)))


def test_a_request_gives_each_of_its_subtrees_the_rows_it_wants_when_the_cap_allows() -> None:
    wanted = [6, 6, 6, 6, 6, 13, 13, 13, 13, 5, 5, 5, 2, 2, 5]
    plan = plan_requests(wanted, max_varbinds=55)
    for cols, reps in plan:
        assert reps >= max(wanted[i] for i in cols)
        assert len(cols) * reps <= 55


def test_long_and_short_subtrees_go_in_separate_requests_when_that_costs_less() -> None:
    # 4 columns of 40 rows next to 10 columns of 2: together 14 x 40 = 560 varbinds, apart 160 + 20
    plan = plan_requests([40] * 4 + [2] * 10, max_varbinds=1000)
    assert len(plan) == 2
    assert _varbinds(plan) == 4 * 40 + 10 * 2


def test_near_equal_subtrees_share_a_request_rather_than_pay_for_another_message() -> None:
    plan = plan_requests([5, 6], max_varbinds=100)
    assert plan == [([0, 1], 6)]
    # merging costs 1 wasted varbind, a message costs MESSAGE_COST
    assert MESSAGE_COST > 1


def test_a_group_wider_than_the_cap_gets_fewer_rows_now() -> None:
    plan = plan_requests([10] * 30, max_varbinds=60)
    assert plan == [(list(range(30)), 2)]


def test_row_history_estimates_the_upper_quartile_of_recent_devices() -> None:
    history = RowHistory(size=8)
    assert history.estimate("1.3.6.1.2.1.2.2.1.2") is None
    for rows in [5, 5, 5, 5, 5, 5, 40, 40]:
        history.record("1.3.6.1.2.1.2.2.1.2", rows)
    assert history.estimate("1.3.6.1.2.1.2.2.1.2") == 5  # two core routers do not resize every switch
    for rows in [40] * 8:
        history.record("1.3.6.1.2.1.2.2.1.2", rows)
    assert history.estimate("1.3.6.1.2.1.2.2.1.2") == 40  # only the last ``size`` devices count


def test_requests_carry_the_bytes_pysnmps_set_varbinds_gives_them() -> None:
    from govops.network.collectors.snmp import _request_varbind
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import rfc1902
    from pysnmp.proto.api import v2c

    names = [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2), (1, 3, 6, 1, 2, 1, 4, 34, 1, 3, 2, 16, 254, 128, 0, 0, 200, 4000000)]
    for _twice in range(2):  # built, then shared
        ours, theirs = v2c.GetBulkRequestPDU(), v2c.GetBulkRequestPDU()
        for pdu in (ours, theirs):
            v2c.apiBulkPDU.set_defaults(pdu)
            v2c.apiBulkPDU.set_request_id(pdu, 7)
        bindings = ours.setComponentByPosition(3).getComponentByPosition(3)
        for idx, name in enumerate(names):
            bindings.setComponentByPosition(idx, _request_varbind(name))
        v2c.apiPDU.set_varbinds(theirs, [(rfc1902.ObjectName(n), rfc1902.Null("")) for n in names])
        assert encoder.encode(ours) == encoder.encode(theirs)
        assert [(o.asTuple(), v) for o, v in v2c.apiPDU.get_varbinds(ours)] == [
            (o.asTuple(), v) for o, v in v2c.apiPDU.get_varbinds(theirs)
        ]
