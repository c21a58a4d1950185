"""Nodes in `simulate` (SPEC section 10): free pods, node start-up, headroom triggers.

The cases are computed by hand. One sale of 10 replicas at S with leadTime 5m, no ramp; the
workload runs 2 (minReplicaCount) before it. The HPA syncs every second with no rate limit
and KEDA polls every second, so both replica counts follow their calendar values on the same
second: the workload asks 10 at S-300 and creates 8 pods then. Pods start in 60 s, nodes in
300 s.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaler.readiness.nodes import ready_with_nodes
from scaler.readiness.simulation import (
    Readiness,
    Settings,
    Simulation,
    _ready,
    parse_scaling_rules,
    simulate,
)
from tests.calendar.strategies import T0, WEB, calendar, event, replicas

S = T0 + 3600
SALE = event("sale", start=S, end=S + 3600, scale=replicas(10), lead=300)
QUICK = {
    "min_replicas": 2,
    "hpa_sync": 1,
    "polling_interval": 1,
    "pod_startup": 60,
    "scale_up": parse_scaling_rules("pods=1000,period=15s"),
}


def run(**options: object) -> Simulation:
    return simulate([calendar(SALE)], WEB, T0, S + 3600, Settings(**{**QUICK, **options}))  # type: ignore[arg-type]


def only(sim: Simulation) -> Readiness:
    (row,) = sim.events
    return row


def test_free_pods_enough_is_ready_as_without_nodes() -> None:
    # 8 new pods fit on the nodes there: placed at S-300, ready at S-240.
    row = only(run(free_pods=8, node_startup=300))
    assert (row.status, row.ready, row.full_at, row.nodes) == ("ready", 10, S - 240, False)


def test_unlimited_free_pods_make_node_start_up_irrelevant() -> None:
    assert only(run(node_startup=300)).full_at == only(run()).full_at == S - 240


def test_no_free_pods_is_late_because_of_nodes() -> None:
    # The 8 pods ask for nodes at S-300, get them at S, are ready at S+60.
    sim = run(free_pods=0, node_startup=300)
    row = only(sim)
    assert (row.status, row.ready, row.full_at, row.late_by) == ("late", 2, S + 60, 60)
    assert row.nodes is True
    # Placeholders from S-300-H ask for nodes then; they arrive at S-H, the real pods preempt
    # them there and are ready at S-H+60: H = 60 s is enough. Without headroom, the pods
    # must be created 300 + 60 s before the start: leadTime 6m.
    assert (row.recommended_headroom_lead, row.recommended_lead_time) == (60, 360)
    assert (sim.recommended_headroom_lead, sim.recommended_lead_time) == (60, 360)


def test_too_few_free_pods_is_late_with_those_that_fit_ready() -> None:
    # 5 of 8 fit: 2 + 5 ready at S-240; the other 3 wait for nodes until S, ready at S+60.
    row = only(run(free_pods=5, node_startup=300))
    assert (row.status, row.ready, row.full_at, row.nodes) == ("late", 7, S + 60, True)
    assert row.recommended_headroom_lead == 60


def test_enough_headroom_is_ready_because_the_real_pods_preempt_the_placeholders() -> None:
    # 10 placeholders from S-900 get nodes at S-600; at S-300 the 8 pods take their places.
    row = only(run(free_pods=0, node_startup=300, headroom=600))
    assert (row.status, row.ready, row.full_at, row.nodes) == ("ready", 10, S - 240, False)


def test_too_little_headroom_is_late_and_names_the_headroom_lead_that_fixes_it() -> None:
    # headroomLead 30s: placeholders at S-330, nodes at S-30, real pods ready at S+30.
    sim = run(free_pods=0, node_startup=300, headroom=30)
    row = only(sim)
    assert (row.status, row.late_by, row.nodes) == ("late", 30, True)
    # leadTime alternative, keeping headroomLead 30s: placeholders at S-L-30 must have their
    # nodes by S-60: L = 330 s.
    assert (row.recommended_headroom_lead, row.recommended_lead_time) == (60, 330)
    assert only(run(free_pods=0, node_startup=300, headroom=60)).status == "ready"
    assert only(run(free_pods=0, node_startup=300, headroom=59)).late_by == 1


def test_late_for_slow_pods_is_not_blamed_on_nodes() -> None:
    # Pods take 400 s with 300 s of lead: late with room for every pod, headroom cannot help.
    row = only(run(pod_startup=400, free_pods=100, node_startup=300))
    assert (row.status, row.late_by, row.nodes, row.recommended_headroom_lead) == (
        "late",
        100,
        False,
        None,
    )
    assert row.recommended_lead_time == 400


def test_settings_json_names_the_node_model() -> None:
    data = run(free_pods=3, node_startup=240, headroom=600).to_json()["settings"]
    assert (data["nodeStartup"], data["freePods"], data["headroomLead"]) == ("4m", 3, "10m")  # type: ignore[index]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"node_startup": -1}, id="negative-node-startup"),
        pytest.param({"free_pods": -1}, id="negative-free-pods"),
        pytest.param({"headroom": 31 * 86400 + 1}, id="headroom-over-31d"),
    ],
)
def test_settings_reject_impossible_node_values(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Settings(**options)  # type: ignore[arg-type]


# -- the node model alone ---------------------------------------------------------------------


def test_pending_pods_wait_for_their_nodes_and_the_oldest_gets_the_first() -> None:
    # 2 running, no free room: +2 at 10 (nodes at 110), +1 at 50 (node at 150).
    ready = ready_with_nodes(
        ([0, 10, 50], [2, 4, 5]), ([0], [0]), pod_startup=5, node_startup=100, free=0, end=1000
    )
    assert ready == ([0, 115, 155], [2, 4, 5])


def test_a_scale_down_removes_pending_pods_first_and_frees_nothing() -> None:
    # +3 pending at 10; back to 2 at 20: the three pending go, the two ready stay.
    ready = ready_with_nodes(
        ([0, 10, 20], [2, 5, 2]), ([0], [0]), pod_startup=5, node_startup=100, free=0, end=1000
    )
    assert ready == ([0], [2])


def test_placeholders_hold_room_that_workload_pods_take_over() -> None:
    # 3 placeholders ask for nodes at 0 (there at 100); the workload adds 2 at 200, which
    # preempt two of them and are ready 10 s later; the two preempted ask for new nodes.
    ready = ready_with_nodes(
        ([0, 200], [1, 3]), ([0, 1], [0, 3]), pod_startup=10, node_startup=100, free=0, end=1000
    )
    assert ready == ([0, 210], [1, 3])


def test_nodes_asked_for_by_pods_removed_meanwhile_still_arrive() -> None:
    # +2 at 10 ask for nodes (there at 110) and go at 50; at 150, +4: two take those nodes
    # (ready at 160), two ask for new ones (there at 250, ready at 260).
    ready = ready_with_nodes(
        ([0, 10, 50, 150], [1, 3, 1, 5]), ([0], [0]), pod_startup=10, node_startup=100, free=0,
        end=1000,
    )  # fmt: skip
    assert ready == ([0, 160, 260], [1, 3, 5])


@pytest.mark.parametrize(
    ("again", "ready_at"),
    [
        pytest.param(790, 800, id="within-10m-the-nodes-are-still-there"),
        pytest.param(800, 910, id="after-10m-unneeded-they-are-gone"),
    ],
)
def test_nodes_left_empty_for_ten_minutes_go_away(again: int, ready_at: int) -> None:
    # +2 at 10 get nodes at 110 (ready 120); back to 1 at 200 empties two places, which the
    # cluster autoscaler removes at 200 + 600. Scaling up again reuses them only before that.
    ready = ready_with_nodes(
        ([0, 10, 200, again], [1, 3, 1, 3]), ([0], [0]), pod_startup=10, node_startup=100,
        free=0, end=2000,
    )  # fmt: skip
    assert ready == ([0, 120, 200, ready_at], [1, 3, 1, 3])


def test_free_pods_are_never_taken_away() -> None:
    ready = ready_with_nodes(
        ([0, 200, 5000], [1, 0, 2]), ([0], [0]), pod_startup=10, node_startup=100, free=1,
        end=9000,
    )  # fmt: skip
    assert ready == ([0, 200, 5010, 5110], [1, 0, 1, 2])


@st.composite
def replica_series(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    times = sorted(draw(st.sets(st.integers(1, 600), max_size=8)))
    values = draw(st.lists(st.integers(0, 12), min_size=len(times) + 1, max_size=len(times) + 1))
    return [0, *times], values


@settings(max_examples=200, deadline=None)
@given(series=replica_series(), startup=st.integers(0, 90))
def test_with_room_for_every_pod_the_node_model_is_the_plain_start_up(
    series: tuple[list[int], list[int]], startup: int
) -> None:
    roomy = ready_with_nodes(
        series, ([0], [0]), pod_startup=startup, node_startup=500, free=10**6, end=800
    )
    assert _ready(series, startup, 800) == roomy


@settings(max_examples=200, deadline=None)
@given(
    series=replica_series(),
    holders=replica_series(),
    free=st.integers(0, 6),
    node=st.integers(0, 200),
)
def test_pods_are_never_ready_before_they_could_be_nor_more_than_asked(
    series: tuple[list[int], list[int]], holders: tuple[list[int], list[int]], free: int, node: int
) -> None:
    plain = _ready(series, 30, 800)
    times, values = ready_with_nodes(
        series, holders, pod_startup=30, node_startup=node, free=free, end=800
    )
    for t in sorted({*times, *plain[0]}):
        at = max(i for i, x in enumerate(times) if x <= t)
        plain_at = max(i for i, x in enumerate(plain[0]) if x <= t)
        assert values[at] <= plain[1][plain_at], t


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(3, 30),
    lead=st.integers(0, 400),
    up=st.integers(0, 300),
    free=st.integers(0, 10),
    node=st.integers(0, 400),
    headroom=st.integers(0, 900),
)
def test_placeholders_never_make_the_workload_later(
    d: int, lead: int, up: int, free: int, node: int, headroom: int
) -> None:
    # Real pods go first and preempt placeholders; placeholders only add nodes earlier.
    sale = event("sale", start=S, end=S + 600, scale=replicas(d), lead=lead, up=up)
    options = {**QUICK, "free_pods": free, "node_startup": node}

    def ready_at_start(**more: int) -> int:
        sim = simulate(
            [calendar(sale)], WEB, T0, S + 600, Settings(**{**options, **more}), advise=False
        )  # type: ignore[arg-type]
        return only(sim).ready

    assert ready_at_start(headroom=headroom) >= ready_at_start()
