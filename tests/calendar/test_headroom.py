"""Headroom triggers (SPEC section 10): max(0, W(t) - V(t)), computed by hand and as properties.

The sale under test: S = T0 + 7200, E = S + 3600, D = 10, L = 600, R = 300, K = 5, so the
served workload ramps 2, 4, 6, 8, 10 at S-900, S-840, S-780, S-720, S-660 and holds 10 from
S-600. With H = 600 (the default) the placeholders want 10 from S-1500 and are gone at S-600.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    T0,
    WEB,
    calendar,
    calendars,
    event,
    factor,
    one_off_events,
    parse,
    plan_value,
    replicas,
    workloads,
)

from scaler.calendar.evaluation import (
    check_workload,
    effective_timing,
    occurrences,
    plan,
    reach,
    value_at,
)
from scaler.calendar.model import Calendar, Event, Once, Target
from scaler.calendar.workload import DEFAULT_HEADROOM_LEAD, Workload, parse_metadata
from scaler.errors import MetadataError

S = T0 + 7200
E = S + 3600
SALE = event("sale", start=S, end=E, scale=replicas(10), lead=600, up=300)
# The placeholders' own ScaledObject, making room for shop/web.
ROOM = Workload(namespace="shop", name="web-headroom", headroom_for=("shop", "web"))

PROPERTY = settings(max_examples=150, deadline=None)


def headroom(t: int, *events: Event, workload: Workload = ROOM) -> int:
    return value_at([calendar(*events)], workload, t)


# -- metadata (SPEC section 4) -----------------------------------------------------------------


def room_metadata(**metadata: str) -> Workload:
    return parse_metadata("shop", "web-headroom", metadata)


def test_headroom_keys_are_read() -> None:
    parsed = room_metadata(headroomFor="shop/web", headroomLead="15m", baseReplicas="4")
    assert (("shop", "web"), 900, 4) == (
        parsed.headroom_for,
        parsed.headroom_lead,
        parsed.base_replicas,
    )
    assert ("shop", "web", None) == (
        parsed.served.namespace,
        parsed.served.name,
        parsed.served.headroom_for,
    )


def test_headroom_keys_are_read_from_env_too_and_the_plain_key_wins() -> None:
    parsed = room_metadata(headroomForFromEnv="shop/api", headroomLeadFromEnv="5m")
    assert (("shop", "api"), 300) == (parsed.headroom_for, parsed.headroom_lead)
    both = room_metadata(headroomFor="shop/web", headroomForFromEnv="shop/api")
    assert ("shop", "web") == both.headroom_for
    with pytest.raises(MetadataError, match=r"^headroomForFromEnv: 'api' is not NS/NAME"):
        room_metadata(headroomForFromEnv="api")


def test_without_headroom_for_a_trigger_is_no_headroom_trigger() -> None:
    parsed = room_metadata(headroomFor=" ")
    assert (None, 0) == (parsed.headroom_for, parsed.headroom_reach)
    assert parsed.served is parsed


def test_headroom_lead_may_be_zero_and_at_most_31_days() -> None:
    assert 0 == room_metadata(headroomFor="shop/web", headroomLead="0s").headroom_lead
    assert 31 * 86400 == room_metadata(headroomFor="shop/web", headroomLead="31d").headroom_lead


@pytest.mark.parametrize(
    ("metadata", "key", "message"),
    [
        pytest.param({"headroomFor": "web"}, "headroomFor", "is not NS/NAME", id="no-namespace"),
        pytest.param({"headroomFor": "shop/"}, "headroomFor", "is not NS/NAME", id="no-name"),
        pytest.param(
            {"headroomFor": "shop/web/x"}, "headroomFor", "is not NS/NAME", id="three-parts"
        ),
        pytest.param({"headroomFor": "shop/web*"}, "headroomFor", "is not NS/NAME", id="glob"),
        pytest.param({"headroomFor": "Shop/Web"}, "headroomFor", "is not NS/NAME", id="upper-case"),
        pytest.param(
            {"headroomFor": "shop/web", "headroomLead": "10"},
            "headroomLead",
            "is not valid",
            id="lead-without-unit",
        ),
        pytest.param(
            {"headroomFor": "shop/web", "headroomLead": "32d"},
            "headroomLead",
            "longer than 31d",
            id="lead-too-long",
        ),
        pytest.param(
            {"headroomLead": "10m"},
            "headroomLead",
            "only means something with headroomFor",
            id="lead-without-for",
        ),
    ],
)
def test_bad_headroom_metadata_names_the_key_and_the_fix(
    metadata: dict[str, str], key: str, message: str
) -> None:
    with pytest.raises(MetadataError, match=f"^{key}: .*{message}") as caught:
        room_metadata(**metadata)
    assert key == caught.value.key


def test_a_long_headroom_for_is_quoted_short() -> None:
    with pytest.raises(MetadataError) as caught:
        room_metadata(headroomFor="x" * 4000)
    assert "x" * 101 not in str(caught.value)


# -- one sale, by hand ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(-1501, 0, id="before-headroom-lead"),
        pytest.param(-1500, 10, id="headroom-lead-point"),
        pytest.param(-901, 10, id="just-before-the-ramp"),
        pytest.param(-900, 8, id="first-ramp-step"),
        pytest.param(-840, 6, id="second-step"),
        pytest.param(-780, 4, id="third-step"),
        pytest.param(-720, 2, id="fourth-step"),
        pytest.param(-660, 0, id="last-step-is-already-D"),
        pytest.param(-601, 0, id="just-before-the-lead-point"),
        pytest.param(-600, 0, id="lead-point"),
        pytest.param(0, 0, id="during-the-event"),
        pytest.param(3600, 0, id="after-the-event"),
    ],
)
def test_placeholders_come_up_h_before_the_ramp_and_shrink_as_it_steps(
    offset: int, expected: int
) -> None:
    assert expected == headroom(S + offset, SALE)


def test_headroom_plus_the_served_value_is_the_demand_through_the_window() -> None:
    for t in range(S - 1500, S - 600):
        assert 10 == headroom(t, SALE) + value_at([calendar(SALE)], WEB, t), t


def test_default_headroom_lead_is_ten_minutes() -> None:
    parsed = parse_metadata("shop", "web-headroom", {"headroomFor": "shop/web"})
    assert (600, ("shop", "web")) == (parsed.headroom_lead, parsed.headroom_for)
    assert DEFAULT_HEADROOM_LEAD == 600
    assert (0, 10) == (
        headroom(S - 1501, SALE, workload=parsed),
        headroom(S - 1500, SALE, workload=parsed),
    )


def test_headroom_lead_moves_the_start_only() -> None:
    room = dataclasses.replace(ROOM, headroom_lead=120)
    assert [0, 10, 10, 8] == [
        headroom(S + o, SALE, workload=room) for o in (-1021, -1020, -901, -900)
    ]


def test_zero_headroom_lead_fills_the_ramp_only() -> None:
    room = dataclasses.replace(ROOM, headroom_lead=0)
    assert [0, 8, 2, 0] == [headroom(S + o, SALE, workload=room) for o in (-901, -900, -720, -660)]


def test_without_a_ramp_the_window_is_h_before_the_lead_point() -> None:
    jump = event("jump", start=S, end=E, scale=replicas(7), lead=600)
    assert [0, 7, 7, 0] == [headroom(S + o, jump) for o in (-1201, -1200, -601, -600)]


def test_ramp_steps_on_the_same_second_use_the_later_one() -> None:
    # R = 3, K = 5: steps start at floor((k-1)*3/5) = 0, 0, 1, 1, 2 with values 2, 4, 6, 8, 10;
    # the later of each pair applies: V = 4, 8, 10 at S-603, S-602, S-601.
    tight = event("tight", start=S, end=E, scale=replicas(10), lead=600, up=3)
    assert [10, 6, 2, 0] == [headroom(S + o, tight) for o in (-604, -603, -602, -601)]
    points = plan([calendar(tight)], ROOM, S - 1300, S).points
    assert [(S - 1203, 10), (S - 603, 6), (S - 602, 2), (S - 601, 0)] == [
        (p.at, p.value) for p in points[1:]
    ]


def test_the_workloads_own_lead_and_ramp_move_the_window() -> None:
    # leadTime 20m and rampUp 10m of the metadata beat the event's 10m and 5m: the ramp runs
    # S-1800 .. S-1200 in steps of 120 s, the placeholders come up at S-2400.
    room = dataclasses.replace(ROOM, lead_time=1200, ramp_up=600)
    values = [
        headroom(S + o, SALE, workload=room) for o in (-2401, -2400, -1800, -1680, -1201, -1200)
    ]
    assert [0, 10, 8, 6, 0, 0] == values


# -- several occurrences ----------------------------------------------------------------------


def test_overlapping_windows_want_the_largest_demand() -> None:
    small = event("small", start=S, end=E, scale=replicas(4), lead=600)
    big = event("big", start=S + 300, end=E, scale=replicas(9), lead=600)
    # small: window [S-1200, S-600); big: [S-900, S-300), its V is small's 4 from S-600.
    values = [headroom(S + o, small, big) for o in (-1200, -900, -600, -300)]
    assert [4, 9, 5, 0] == values


def test_an_event_already_served_needs_no_placeholders_for_the_next() -> None:
    # The first sale holds 10 through the second's window: nothing to make room for.
    first = event("first", start=S - 7200, end=E, scale=replicas(10))
    assert 0 == headroom(S - 1200, first, SALE)


def test_plan_events_name_the_occurrences_still_wanting_room() -> None:
    small = event("small", start=S, end=E, scale=replicas(4), lead=600)
    big = event("big", start=S + 300, end=E, scale=replicas(9), lead=600)
    points = plan([calendar(small, big)], ROOM, S - 1300, S).points
    assert [
        (S - 1300, 0, ()),
        (S - 1200, 4, ("small",)),
        (S - 900, 9, ("big", "small")),
        (S - 600, 5, ("big",)),
        (S - 300, 0, ()),
    ] == [(p.at, p.value, p.events) for p in points]


# -- which workload, which metadata ----------------------------------------------------------


def test_targets_match_the_served_workload_not_the_placeholders() -> None:
    only_web = dataclasses.replace(SALE, targets=(Target(namespace="shop", name="web"),))
    assert 10 == headroom(S - 1000, only_web)
    assert 0 == value_at([calendar(only_web)], dataclasses.replace(ROOM, headroom_for=None), S)
    other = dataclasses.replace(ROOM, headroom_for=("shop", "api"))
    assert 0 == headroom(S - 1000, only_web, workload=other)


def test_demand_uses_the_triggers_other_metadata() -> None:
    tripled = dataclasses.replace(SALE, scale=factor("3"))
    assert 12 == headroom(S - 1000, tripled, workload=dataclasses.replace(ROOM, base_replicas=4))


def test_a_missing_key_of_the_served_workload_is_the_triggers_error() -> None:
    targeted = dataclasses.replace(
        SALE, scale=factor("3"), targets=(Target(namespace="shop", name="web"),)
    )
    with pytest.raises(MetadataError, match=r"scales shop/web by factor, which needs baseReplicas"):
        check_workload([calendar(targeted)], ROOM, T0)


def test_a_recurring_event_gets_a_window_before_each_occurrence() -> None:
    cal = parse("""
        version: 1
        timezone: UTC
        events:
          - name: nightly
            schedule: "0 21 * * *"
            duration: 1h
            leadTime: 10m
            scale: {replicas: 6}
    """)
    day = 1_800_057_600  # 2027-01-16T00:00:00Z
    nine = day + 21 * 3600
    points = plan([cal], ROOM, day, day + 2 * 86400).points
    assert [(day, 0), (nine - 1200, 6), (nine - 600, 0), (nine + 86400 - 1200, 6),
            (nine + 86400 - 600, 0)] == [(p.at, p.value) for p in points]  # fmt: skip


def test_reach_adds_the_headroom_lead() -> None:
    assert (900 + 600, 0) == reach([calendar(SALE)], ROOM)
    assert (900, 0) == reach([calendar(SALE)], WEB)


# -- properties -------------------------------------------------------------------------------

rooms = st.builds(
    lambda w, lead: dataclasses.replace(w, name="web-headroom", headroom_for=("shop", "web"),
                                        headroom_lead=lead),
    workloads,
    st.integers(0, 400),
)  # fmt: skip


def _definition(cal: Calendar, room: Workload, t: int) -> int:
    """SPEC 10 as written: W = the largest D over occurrences with S-L-R-H <= t < S-L."""
    served = room.served
    wanted = 0
    for occ in occurrences([cal], T0 - 10_000, T0 + 10_000):
        d = value_at([calendar(occ.event)], served, occ.start)  # D: its value at S
        timing = effective_timing(occ.event, served)
        lead = timing.lead_time
        if occ.start - lead - timing.ramp_up - room.headroom_lead <= t < occ.start - lead:
            wanted = max(wanted, d)
    return max(0, wanted - value_at([cal], served, t))


def _instants(cal: Calendar, room: Workload) -> list[int]:
    found: set[int] = set()
    for e in cal.events:
        assert isinstance(e.schedule, Once)
        t = effective_timing(e, room)
        s = e.schedule.start
        first = s - t.lead_time - t.ramp_up
        found |= {first - room.headroom_lead, s - t.lead_time}
        found |= {first + (i - 1) * t.ramp_up // t.ramp_steps for i in range(1, t.ramp_steps + 1)}
    return sorted(x + d for x in found for d in (-1, 0))


@PROPERTY
@given(cal=calendars(), room=rooms)
def test_value_at_is_the_definition(cal: Calendar, room: Workload) -> None:
    for t in _instants(cal, room):
        assert _definition(cal, room, t) == value_at([cal], room, t), t


@PROPERTY
@given(cal=calendars(), room=rooms, data=st.data())
def test_plan_agrees_with_value_at(cal: Calendar, room: Workload, data: st.DataObject) -> None:
    start = T0 + data.draw(st.integers(-2500, 2500))
    end = start + data.draw(st.integers(1, 5000))
    p = plan([cal], room, start, end)
    instants = [t for t in _instants(cal, room) if start <= t < end] + [start, end - 1]
    instants += data.draw(st.lists(st.integers(start, end - 1), max_size=10))
    for t in instants:
        assert value_at([cal], room, t) == plan_value(p, t), t
    assert all(a.value != b.value for a, b in zip(p.points, p.points[1:], strict=False))


@PROPERTY
@given(e=one_off_events(), room=rooms)
def test_one_sales_placeholders_never_grow_and_top_up_to_its_demand(
    e: Event, room: Workload
) -> None:
    assert isinstance(e.schedule, Once)
    t = effective_timing(e, room)
    lead_point = e.schedule.start - t.lead_time
    first = lead_point - t.ramp_up - room.headroom_lead
    d = value_at([calendar(e)], room.served, e.schedule.start)
    values = [value_at([calendar(e)], room, x) for x in range(first, lead_point)]
    assert sorted(values, reverse=True) == values
    for x, v in zip(range(first, lead_point), values, strict=True):
        assert d == v + value_at([calendar(e)], room.served, x), x
    assert (0, 0) == (
        value_at([calendar(e)], room, first - 1),
        value_at([calendar(e)], room, lead_point),
    )


@PROPERTY
@given(cal=calendars(), room=rooms)
def test_no_placeholders_once_every_lead_point_passed(cal: Calendar, room: Workload) -> None:
    last = max(
        e.schedule.start - effective_timing(e, room).lead_time  # type: ignore[attr-defined]
        for e in cal.events
    )
    assert 0 == value_at([cal], room, last)
    assert 0 == value_at([cal], room, T0 + 20_000)


# -- sized from history (SPEC section 9) ------------------------------------------------------


def test_a_like_event_gives_the_placeholders_the_served_workloads_peak() -> None:
    from decimal import Decimal

    from scaler.calendar.history import Peak, references
    from scaler.calendar.model import Reference, Scale

    last = Reference("last-year", T0 - 400 * 86400, T0 - 399 * 86400)
    sized = dataclasses.replace(
        SALE,
        scale=Scale(kind="like", amount=Decimal("1.5"), like=last),
        targets=(Target(namespace="shop", name="web"),),
    )
    peaks = {last: Peak(state="known", value=Decimal("8"), query="q")}  # ceil(8 x 1.5) = 12

    assert references([calendar(sized)], ROOM, T0) == {last}  # the served workload's windows
    assert 12 == value_at([calendar(sized)], ROOM, S - 1000, peaks)
    points = plan([calendar(sized)], ROOM, S - 1600, S, peaks=peaks).points
    assert [(S - 1600, 0), (S - 1500, 12), (S - 900, 9)] == [(p.at, p.value) for p in points[:3]]
