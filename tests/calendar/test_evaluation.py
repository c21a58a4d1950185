"""What a workload gets at an instant and over a range (SPEC 3, and the plan of SPEC 7)."""

from __future__ import annotations

import itertools
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    T0,
    WEB,
    boundaries,
    calendar,
    calendars,
    event,
    factor,
    load,
    one_off_events,
    parse,
    plan_value,
    replicas,
    workloads,
)

from scaler.calendar.evaluation import (
    changed_events,
    check_workload,
    concerns,
    effective_timing,
    missing_key,
    plan,
    reach,
    value_at,
)
from scaler.calendar.model import Calendar, Event, Once, Scale, Target
from scaler.calendar.workload import Workload
from scaler.errors import MetadataError

S = T0  # start of the event under test
E = T0 + 3600  # its end

PROPERTY = settings(max_examples=150, deadline=None)


def at(e: Event, anchor: int, offset: int, workload: Workload = WEB) -> int:
    return value_at([calendar(e)], workload, anchor + offset)


# -- one occurrence, step by step ------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(-601, 0, id="before-ramp"),
        pytest.param(-600, 2, id="first-step-at-S-L-R"),
        pytest.param(-481, 2, id="first-step-last-second"),
        pytest.param(-480, 4, id="second-step"),
        pytest.param(-360, 6, id="third-step"),
        pytest.param(-240, 8, id="fourth-step"),
        pytest.param(-121, 8, id="fourth-step-last-second"),
        pytest.param(-120, 10, id="last-step-is-D-about-R-over-K-early"),
        pytest.param(-1, 10, id="just-before-start"),
        pytest.param(0, 10, id="at-start"),
    ],
)
def test_ramp_up_steps_start_at_floor_of_k_minus_one_r_over_k(offset: int, expected: int) -> None:
    e = event(scale=replicas(10), up=600, steps=5)
    assert expected == at(e, S, offset)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(-901, 0, id="before-ramp"),
        pytest.param(-900, 2, id="ramp-starts-at-S-L-R"),
        pytest.param(-420, 10, id="last-step"),
        pytest.param(-300, 10, id="lead-point-S-L"),
        pytest.param(0, 10, id="start"),
    ],
)
def test_ramp_up_ends_at_the_lead_point(offset: int, expected: int) -> None:
    e = event(scale=replicas(10), lead=300, up=600, steps=5)
    assert expected == at(e, S, offset)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(-100, 3, id="k1-ceil-7-over-3"),
        pytest.param(-68, 3, id="k1-last-second"),
        pytest.param(-67, 5, id="k2-at-floor-100-over-3"),
        pytest.param(-34, 7, id="k3-at-floor-200-over-3"),
    ],
)
def test_ramp_up_values_are_rounded_up(offset: int, expected: int) -> None:
    e = event(scale=replicas(7), up=100, steps=3)
    assert expected == at(e, S, offset)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(-4, 0, id="before"),
        pytest.param(-3, 4, id="k1-and-k2-same-second-k2-applies"),
        pytest.param(-2, 8, id="k3-and-k4-same-second-k4-applies"),
        pytest.param(-1, 10, id="k5"),
        pytest.param(0, 10, id="start"),
    ],
)
def test_ramp_up_steps_on_the_same_second_the_later_applies(offset: int, expected: int) -> None:
    e = event(scale=replicas(10), up=3, steps=5)
    assert expected == at(e, S, offset)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(-1, 10, id="before-end"),
        pytest.param(0, 10, id="D-holds-through-first-step"),
        pytest.param(119, 10, id="first-step-last-second"),
        pytest.param(120, 8, id="j1"),
        pytest.param(240, 6, id="j2"),
        pytest.param(360, 4, id="j3"),
        pytest.param(480, 2, id="j4"),
        pytest.param(599, 2, id="j4-last-second"),
        pytest.param(600, 0, id="E-plus-Q-is-zero"),
    ],
)
def test_ramp_down_steps_start_at_floor_of_j_q_over_k(offset: int, expected: int) -> None:
    e = event(scale=replicas(10), down=600, steps=5)
    assert expected == at(e, E, offset)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(0, 7, id="j0"),
        pytest.param(33, 5, id="j1-ceil-14-over-3"),
        pytest.param(66, 3, id="j2-ceil-7-over-3"),
        pytest.param(100, 0, id="end-of-ramp"),
    ],
)
def test_ramp_down_values_are_rounded_up(offset: int, expected: int) -> None:
    e = event(scale=replicas(7), down=100, steps=3)
    assert expected == at(e, E, offset)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(0, 8, id="j0-and-j1-same-second-j1-applies"),
        pytest.param(1, 4, id="j2-and-j3-same-second-j3-applies"),
        pytest.param(2, 2, id="j4"),
        pytest.param(3, 0, id="end-of-ramp"),
    ],
)
def test_ramp_down_steps_on_the_same_second_the_later_applies(offset: int, expected: int) -> None:
    e = event(scale=replicas(10), down=3, steps=5)
    assert expected == at(e, E, offset)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(S - 301, 0, id="before-lead-point"),
        pytest.param(S - 300, 10, id="lead-point-is-closed"),
        pytest.param(E - 1, 10, id="last-second"),
        pytest.param(E, 0, id="end-is-open"),
    ],
)
def test_without_ramps_the_value_is_D_on_lead_point_to_end(instant: int, expected: int) -> None:
    assert expected == value_at([calendar(event(scale=replicas(10), lead=300))], WEB, instant)


@pytest.mark.parametrize(
    "instant",
    [
        pytest.param(S - 86400, id="a-day-before"),
        pytest.param(E + 86400, id="a-day-after"),
    ],
)
def test_value_is_zero_away_from_every_event(instant: int) -> None:
    e = event(lead=600, up=600, down=600)
    assert 0 == value_at([calendar(e)], WEB, instant)


def test_empty_calendar_gives_zero() -> None:
    assert 0 == value_at([calendar()], WEB, S)


# -- timing: the larger of the event's and the workload's ------------------------------------


@pytest.mark.parametrize(
    ("event_lead", "workload_lead", "full_from"),
    [
        pytest.param(600, 900, S - 900, id="workload-longer"),
        pytest.param(1200, 900, S - 1200, id="event-longer"),
        pytest.param(0, 0, S, id="neither"),
    ],
)
def test_lead_time_is_the_larger_of_event_and_workload(
    event_lead: int, workload_lead: int, full_from: int
) -> None:
    cal = calendar(event(scale=replicas(10), lead=event_lead))
    workload = Workload(namespace="shop", name="web", lead_time=workload_lead)
    assert (0, 10) == (
        value_at([cal], workload, full_from - 1),
        value_at([cal], workload, full_from),
    )


def test_ramp_up_is_the_larger_of_event_and_workload() -> None:
    cal = calendar(event(scale=replicas(10), up=300, steps=5))
    workload = Workload(namespace="shop", name="web", ramp_up=600)
    assert (0, 2, 4) == tuple(value_at([cal], workload, S + o) for o in (-601, -600, -480))


def test_ramp_down_is_the_larger_of_event_and_workload() -> None:
    cal = calendar(event(scale=replicas(10), down=300, steps=5))
    workload = Workload(namespace="shop", name="web", ramp_down=600)
    assert (10, 8, 2, 0) == tuple(value_at([cal], workload, E + o) for o in (0, 120, 599, 600))


def test_ramp_steps_come_from_calendar_defaults() -> None:
    cal = parse(
        """
        version: 1
        defaults: {rampUp: 10m, rampSteps: 2}
        events:
          - name: sale
            start: 2027-01-15T08:00:00Z
            duration: 1h
            scale: {replicas: 10}
        """
    )
    assert (0, 5, 10) == tuple(value_at([cal], WEB, S + o) for o in (-601, -600, -300))


def test_event_timing_overrides_calendar_defaults() -> None:
    cal = parse(
        """
        version: 1
        defaults: {leadTime: 1h}
        events:
          - name: sale
            start: 2027-01-15T08:00:00Z
            duration: 1h
            leadTime: 5m
            scale: {replicas: 10}
        """
    )
    assert (0, 10) == (value_at([cal], WEB, S - 301), value_at([cal], WEB, S - 300))


# -- demand ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale_", "workload", "expected"),
    [
        pytest.param(replicas(7), WEB, 7, id="replicas"),
        pytest.param(replicas(0), WEB, 0, id="zero-replicas"),
        pytest.param(
            factor("2.5"),
            Workload(namespace="shop", name="web", base_replicas=3),
            8,
            id="factor-rounded-up",
        ),
        pytest.param(
            factor("1.1"),
            Workload(namespace="shop", name="web", base_replicas=100),
            110,
            id="factor-exact-decimal",
        ),
        pytest.param(
            load("1000"),
            Workload(namespace="shop", name="web", capacity_per_replica=Decimal(150)),
            7,
            id="load-default-share-1",
        ),
        pytest.param(
            load("1000"),
            Workload(
                namespace="shop",
                name="web",
                capacity_per_replica=Decimal(100),
                load_share=Decimal("0.25"),
            ),
            3,
            id="load-with-share",
        ),
    ],
)
def test_demand_is_computed_from_the_scale(
    scale_: Scale, workload: Workload, expected: int
) -> None:
    e = event(scale=scale_)
    assert expected == value_at([calendar(e)], workload, S)


SHOP_TARGETS = (
    Target(labels={"tier": "frontend"}),
    Target(namespace="shop", name="checkout*", scale=replicas(60)),
)


@pytest.mark.parametrize(
    ("workload", "expected"),
    [
        pytest.param(
            Workload(namespace="shop", name="checkout-api", base_replicas=4),
            60,
            id="target-scale-overrides-event-scale",
        ),
        pytest.param(
            Workload(namespace="shop", name="web", labels={"tier": "frontend"}, base_replicas=4),
            12,
            id="event-scale-for-target-without-scale",
        ),
        pytest.param(
            Workload(
                namespace="shop",
                name="checkout-web",
                labels={"tier": "frontend"},
                base_replicas=40,
            ),
            120,
            id="two-targets-largest-wins-event-scale",
        ),
        pytest.param(
            Workload(
                namespace="shop",
                name="checkout-web",
                labels={"tier": "frontend"},
                base_replicas=4,
            ),
            60,
            id="two-targets-largest-wins-target-scale",
        ),
        pytest.param(
            Workload(namespace="blog", name="checkout-api", base_replicas=4),
            0,
            id="no-target-matches",
        ),
    ],
)
def test_targets_choose_the_scale(workload: Workload, expected: int) -> None:
    e = event(scale=factor("3"), targets=SHOP_TARGETS)
    assert expected == value_at([calendar(e)], workload, S)


@pytest.mark.parametrize(
    ("target", "workload", "matched"),
    [
        pytest.param(Target(namespace="sh?p"), WEB, True, id="namespace-glob"),
        pytest.param(Target(namespace="Shop"), WEB, False, id="namespace-case-sensitive"),
        pytest.param(Target(name="w*"), WEB, True, id="name-glob"),
        pytest.param(Target(name="[vw]eb"), WEB, True, id="name-glob-class"),
        pytest.param(Target(name="we"), WEB, False, id="name-is-whole"),
        pytest.param(Target(namespace="shop", name="api"), WEB, False, id="all-fields-must-match"),
        pytest.param(
            Target(labels={"tier": "frontend", "env": "prod"}),
            Workload(namespace="shop", name="web", labels={"tier": "frontend"}),
            False,
            id="labels-every-pair-needed",
        ),
        pytest.param(
            Target(labels={"tier": "frontend", "env": "prod"}),
            Workload(
                namespace="shop",
                name="web",
                labels={"tier": "frontend", "env": "prod", "team": "a"},
            ),
            True,
            id="labels-extra-pairs-fine",
        ),
        pytest.param(
            Target(labels={"tier": "frontend"}),
            Workload(namespace="shop", name="web", labels={"tier": "backend"}),
            False,
            id="labels-value-differs",
        ),
        pytest.param(
            Target(namespace="shop", labels={"tier": "frontend"}),
            Workload(namespace="blog", name="web", labels={"tier": "frontend"}),
            False,
            id="labels-and-namespace-both-needed",
        ),
        pytest.param(Target(), WEB, True, id="empty-target-matches-all"),
    ],
)
def test_target_matching(target: Target, workload: Workload, matched: bool) -> None:
    e = event(scale=replicas(5), targets=(target,))
    assert (5 if matched else 0) == value_at([calendar(e)], workload, S)


def test_event_without_targets_applies_to_every_workload() -> None:
    e = event(scale=replicas(5))
    other = Workload(namespace="blog", name="api", labels={"tier": "backend"})
    assert (5, 5) == (value_at([calendar(e)], WEB, S), value_at([calendar(e)], other, S))


def test_disabled_event_never_applies() -> None:
    e = event(scale=replicas(5), lead=60, up=60, down=60, disabled=True)
    assert [0, 0, 0] == [value_at([calendar(e)], WEB, t) for t in (S - 90, S, E + 30)]


def test_overlapping_events_give_the_max() -> None:
    cal = calendar(
        event("big", start=S, end=S + 600, scale=replicas(10)),
        event("long", start=S - 600, end=S + 1200, scale=replicas(4)),
    )
    assert [0, 4, 10, 4, 0] == [
        value_at([cal], WEB, t) for t in (S - 601, S - 600, S, S + 600, S + 1200)
    ]


def test_events_of_several_calendars_give_the_max() -> None:
    first = calendar(event("a", scale=replicas(3)), name="one")
    second = calendar(event("b", scale=replicas(8)), name="two")
    assert 8 == value_at([first, second], WEB, S)


# -- missing keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scale_",
    [pytest.param(factor("2"), id="factor"), pytest.param(load("100"), id="load")],
)
def test_event_without_targets_skips_workloads_lacking_the_key(scale_: Scale) -> None:
    cal = calendar(event(scale=scale_))
    check_workload([cal], WEB, S)
    assert 0 == value_at([cal], WEB, S)


@pytest.mark.parametrize(
    ("scale_", "key"),
    [
        pytest.param(factor("2"), "baseReplicas", id="factor"),
        pytest.param(load("100"), "capacityPerReplica", id="load"),
    ],
)
@pytest.mark.parametrize(
    "now",
    [
        pytest.param(S - 90 * 86400, id="months-before"),
        pytest.param(S, id="during"),
        pytest.param(E - 1, id="last-second"),
    ],
)
def test_targeted_workload_lacking_the_key_is_an_error_until_the_event_is_over(
    scale_: Scale, key: str, now: int
) -> None:
    cal = calendar(event(scale=scale_, targets=(Target(name="web"),)))
    with pytest.raises(MetadataError, match=f"needs {key}; add {key}") as caught:
        check_workload([cal], WEB, now)
    assert key == caught.value.key


@pytest.mark.parametrize(
    "now", [pytest.param(E, id="at-end"), pytest.param(E + 86400, id="a-day-after")]
)
def test_targeted_workload_lacking_the_key_is_fine_once_the_event_is_over(now: int) -> None:
    cal = calendar(event(scale=factor("2"), targets=(Target(name="web"),)))
    assert None is missing_key([cal], WEB, now)


def test_missing_key_error_lasts_until_the_latest_offending_end() -> None:
    cal = calendar(
        event("early", end=E, scale=factor("2"), targets=(Target(name="web"),)),
        event("late", end=E + 600, scale=factor("3"), targets=(Target(name="web"),)),
    )
    problem = missing_key([cal], WEB, S)
    assert problem is not None
    assert ("baseReplicas", E + 600) == (problem[0].key, problem[1])


@pytest.mark.parametrize(
    "e",
    [
        pytest.param(
            event(scale=factor("2"), targets=(Target(name="api"),)), id="target-does-not-match"
        ),
        pytest.param(
            event(scale=factor("2"), targets=(Target(name="web", scale=replicas(3)),)),
            id="target-scale-needs-no-key",
        ),
        pytest.param(
            event(scale=factor("2"), targets=(Target(name="web"),), disabled=True),
            id="disabled",
        ),
    ],
)
def test_no_missing_key_error_when_no_targeted_scale_needs_it(e: Event) -> None:
    assert None is missing_key([calendar(e)], WEB, S)


# -- plan ------------------------------------------------------------------------------------


def test_plan_has_a_point_at_from_and_at_each_change() -> None:
    cal = calendar(event(scale=replicas(10), lead=300, up=600, steps=5))
    p = plan([cal], WEB, S - 2000, E + 1000)
    assert [
        (S - 2000, 0, ()),
        (S - 900, 2, ("sale",)),
        (S - 780, 4, ("sale",)),
        (S - 660, 6, ("sale",)),
        (S - 540, 8, ("sale",)),
        (S - 420, 10, ("sale",)),
        (E, 0, ()),
    ] == [(pt.at, pt.value, pt.events) for pt in p.points]


def test_plan_starting_inside_an_event_opens_with_its_value() -> None:
    cal = calendar(event(scale=replicas(10)))
    assert [(S + 60, 10), (E, 0)] == [
        (p.at, p.value) for p in plan([cal], WEB, S + 60, E + 1).points
    ]


def test_plan_json_is_the_contract_shape() -> None:
    cal = calendar(
        event("b-sale", start=S, end=S + 60, scale=replicas(3)),
        event("a-sale", start=S, end=S + 120, scale=replicas(2)),
    )
    assert {
        "workload": "shop/web",
        "from": "2027-01-15T07:59:00Z",
        "to": "2027-01-15T08:05:00Z",
        "points": [
            {"at": "2027-01-15T07:59:00Z", "replicas": 0, "events": []},
            {"at": "2027-01-15T08:00:00Z", "replicas": 3, "events": ["a-sale", "b-sale"]},
            {"at": "2027-01-15T08:01:00Z", "replicas": 2, "events": ["a-sale"]},
            {"at": "2027-01-15T08:02:00Z", "replicas": 0, "events": []},
        ],
    } == plan([cal], WEB, S - 60, S + 300).to_json()


def test_plan_of_an_empty_range_is_an_error() -> None:
    with pytest.raises(ValueError, match="plan range is empty"):
        plan([calendar()], WEB, S, S)


# -- properties ------------------------------------------------------------------------------


@PROPERTY
@given(e=one_off_events(), workload=workloads)
def test_ramp_up_never_decreases_towards_the_lead_point(e: Event, workload: Workload) -> None:
    assert isinstance(e.schedule, Once)
    lead = max(e.timing.lead_time, workload.lead_time)
    up = max(e.timing.ramp_up, workload.ramp_up)
    lead_point = e.schedule.start - lead
    values = [value_at([calendar(e)], workload, t) for t in range(lead_point - up, lead_point + 1)]
    assert sorted(values) == values


@PROPERTY
@given(e=one_off_events(), workload=workloads)
def test_ramp_down_never_increases_after_the_end(e: Event, workload: Workload) -> None:
    assert isinstance(e.schedule, Once)
    down = max(e.timing.ramp_down, workload.ramp_down)
    end = e.schedule.end
    values = [value_at([calendar(e)], workload, t) for t in range(end - 1, end + down + 1)]
    assert sorted(values, reverse=True) == values
    assert 0 == values[-1]


@PROPERTY
@given(e=one_off_events(), workload=workloads)
def test_value_is_zero_before_the_ramp_and_after_it(e: Event, workload: Workload) -> None:
    assert isinstance(e.schedule, Once)
    t = e.timing
    first = (
        e.schedule.start - max(t.lead_time, workload.lead_time) - max(t.ramp_up, workload.ramp_up)
    )
    last = e.schedule.end + max(t.ramp_down, workload.ramp_down)
    assert (0, 0) == (
        value_at([calendar(e)], workload, first - 1),
        value_at([calendar(e)], workload, last),
    )


@PROPERTY
@given(cal=calendars(), workload=workloads, data=st.data())
def test_overlapping_events_value_is_the_max_of_each_alone(
    cal: Calendar, workload: Workload, data: st.DataObject
) -> None:
    instants = sorted(set().union(*(boundaries(e, workload) for e in cal.events)))
    instants += data.draw(st.lists(st.integers(T0 - 1000, T0 + 4000), max_size=10))
    for t in instants:
        alone = [value_at([calendar(e)], workload, t) for e in cal.events]
        assert max(alone) == value_at([cal], workload, t), t


@st.composite
def ranges(draw: st.DrawFn) -> tuple[int, int]:
    start = T0 + draw(st.integers(-1500, 3500))
    return start, start + draw(st.integers(1, 5000))


@PROPERTY
@given(cal=calendars(), workload=workloads, span=ranges(), data=st.data())
def test_plan_agrees_with_value_at(
    cal: Calendar, workload: Workload, span: tuple[int, int], data: st.DataObject
) -> None:
    start, end = span
    p = plan([cal], workload, start, end)
    # Every instant where any occurrence may change, and the second before it, decide the
    # whole piecewise-constant function; random instants check between them.
    changes = set().union(*(boundaries(e, workload) for e in cal.events))
    changes |= {pt.at for pt in p.points}
    instants = changes | {t - 1 for t in changes}
    instants |= set(data.draw(st.lists(st.integers(start, end - 1), max_size=20)))
    for t in sorted(i for i in instants if start <= i < end):
        assert value_at([cal], workload, t) == plan_value(p, t), t


@PROPERTY
@given(cal=calendars(), workload=workloads, span=ranges())
def test_plan_points_are_changes_in_time_order(
    cal: Calendar, workload: Workload, span: tuple[int, int]
) -> None:
    start, end = span
    points = plan([cal], workload, start, end).points
    times = [pt.at for pt in points]
    values = [pt.value for pt in points]
    assert start == times[0]
    assert all(a < b for a, b in itertools.pairwise(times)), times
    assert times[-1] < end
    assert all(a != b for a, b in itertools.pairwise(values)), values


@PROPERTY
@given(cal=calendars(), workload=workloads, span=ranges())
def test_plan_events_are_those_with_their_own_value_above_zero(
    cal: Calendar, workload: Workload, span: tuple[int, int]
) -> None:
    for pt in plan([cal], workload, *span).points:
        own = sorted(e.name for e in cal.events if value_at([calendar(e)], workload, pt.at) > 0)
        assert own == list(pt.events), pt.at


RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@PROPERTY
@given(cal=calendars(), workload=workloads, span=ranges())
def test_plan_json_has_the_contract_shape(
    cal: Calendar, workload: Workload, span: tuple[int, int]
) -> None:
    document = json.loads(json.dumps(plan([cal], workload, *span).to_json()))
    assert ["from", "points", "to", "workload"] == sorted(document)
    assert "shop/web" == document["workload"]
    assert all(RFC3339_Z.fullmatch(document[k]) for k in ("from", "to"))
    assert document["from"] == document["points"][0]["at"]
    for point in document["points"]:
        assert ["at", "events", "replicas"] == sorted(point)
        assert RFC3339_Z.fullmatch(point["at"])
        assert isinstance(point["replicas"], int)
        assert sorted(point["events"]) == point["events"]


# -- what a reload changed ---------------------------------------------------------------------


def test_changed_events_pairs_events_by_name_and_ignores_their_line() -> None:
    cron = """version: 1
timezone: Asia/Tokyo
events:
  - name: nightly
    schedule: "0 21 * * *"
    duration: 1h
    exclude: ["holidays:JP"]
    scale: {replicas: 5}
  - name: drop
    start: 2026-12-01T10:00
    duration: 1h
    scale: {factor: 2}
"""
    old = parse(cron)
    moved = parse("# a comment moves every line down\n" + cron)  # new objects, same events
    assert [e.line for e in moved.events] != [e.line for e in old.events]
    assert changed_events(old, moved) == []
    edited = parse(cron.replace("factor: 2", "factor: 3").replace("0 21", "0 22"))
    assert sorted(e.name for e in changed_events(old, edited) or []) == [
        "drop", "drop", "nightly", "nightly"]  # both versions of each  # fmt: skip
    fewer = parse(cron.split("  - name: drop")[0])
    assert [e.name for e in changed_events(old, fewer) or []] == ["drop"]
    assert [e.name for e in changed_events(fewer, old) or []] == ["drop"]
    # A name used twice: each event is paired with an equal one, if there is one.
    a1, a2, a3 = event("a"), event("a", start=T0 + 60), event("a", start=T0 + 120)
    assert changed_events(calendar(a1, a2), calendar(a2, a1)) == []
    assert changed_events(calendar(a1, a2), calendar(a1, a3)) == [a3, a2]
    # The same objects in the same places are not looked at; moved ones are compared.
    assert changed_events(old, calendar(*old.events)) == []
    assert changed_events(old, calendar(*reversed(old.events))) == []


def test_concerns_tells_whether_an_event_applies_to_a_workload() -> None:
    mine = event("mine", targets=(Target(namespace="shop"),))
    theirs = event("theirs", targets=(Target(namespace="other"),))
    everyone = event("everyone")
    off = event("off", targets=(Target(namespace="shop"),), disabled=True)
    assert concerns([mine], WEB) and concerns([everyone], WEB) and concerns([off], WEB)
    assert not concerns([theirs], WEB) and not concerns([], WEB)


@given(cals=st.lists(calendars(max_events=6), max_size=3), workload=workloads)
def test_reach_is_the_widest_effective_timing_of_any_event(
    cals: list[Calendar], workload: Workload
) -> None:
    """reach looks at each shared Timing once; the answer is the definition's, event by
    event."""
    timings = [effective_timing(e, workload) for c in cals for e in c.events]
    expected = (
        max((t.lead_time + t.ramp_up + workload.headroom_reach for t in timings), default=0),
        max((t.ramp_down for t in timings), default=0),
    )
    assert reach(cals, workload) == expected
