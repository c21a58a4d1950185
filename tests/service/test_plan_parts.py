"""Timelines kept as one part per calendar: a reload rebuilds the changed calendar's part only,
and the merged answer is always the one of all calendars together (`value_at`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaler.calendar.evaluation import missing_key, value_at
from scaler.calendar.model import Calendar, Event, Once, Target
from scaler.calendar.workload import Workload, parse_metadata
from scaler.service import plans as plans_module
from scaler.service.plans import PlanCache, _merge, _Part
from scaler.sources.store import CalendarStore
from tests.calendar.strategies import (
    T0,
    calendar,
    event,
    load,
    one_off_events,
    replicas,
    workloads,
)

NAMES = ("a", "b", "c")


def renamed(c: Calendar, name: str) -> Calendar:
    return Calendar(name=name, origin=f"{name}.yaml", events=c.events)


calendar_sets = st.lists(
    st.lists(one_off_events(), min_size=1, max_size=4).map(lambda es: calendar(*es)),
    min_size=len(NAMES), max_size=len(NAMES),
).map(lambda cs: [renamed(c, n) for c, n in zip(cs, NAMES, strict=True)])  # fmt: skip


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def metadata_of(w: Workload) -> dict[str, str]:
    return {
        "baseReplicas": str(w.base_replicas),
        "leadTime": f"{w.lead_time}s",
        "rampUp": f"{w.ramp_up}s",
        "rampDown": f"{w.ramp_down}s",
    }


def check(cache: PlanCache, store: CalendarStore, w: Workload, clock: Clock) -> None:
    timeline = cache.timeline("shop", "web", metadata_of(w))
    assert timeline.error is None
    served = parse_metadata("shop", "web", metadata_of(w))
    loaded = store.snapshot.loaded()
    now = int(clock.now)
    for instant in range(max(timeline.valid_from, T0 - 200), T0 + 4000, 37):
        if instant < now - 3600:
            continue
        assert timeline.value(instant) == value_at(loaded, served, instant), instant


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=calendar_sets,
    changes=st.lists(st.tuples(st.sampled_from(NAMES), calendar_sets, st.integers(0, 3000)),
                     min_size=1, max_size=4),
    workload=workloads,
)  # fmt: skip
def test_after_any_reloads_the_merged_parts_are_the_value_of_all_calendars(
    first: list[Calendar], changes: list[tuple[str, list[Calendar], int]], workload: Workload
) -> None:
    clock = Clock(T0 - 100)
    store = CalendarStore({n: f"{n}.yaml" for n in NAMES})
    for c in first:
        store.publish(c.name, c)
    cache = PlanCache(store, clock=clock)
    check(cache, store, workload, clock)
    for name, replacements, later in changes:
        clock.now += later  # parts built earlier keep their window while it serves now
        new = next(c for c in replacements if c.name == name)
        store.publish(name, new)
        check(cache, store, workload, clock)


def three_calendars() -> dict[str, Calendar]:
    return {
        n: calendar(*(event(f"{n}{i}", start=T0 + 600 * i, scale=replicas(3 + i)) for i in range(3)),
                    name=n)
        for n in NAMES
    }  # fmt: skip


def test_a_reload_rebuilds_only_the_changed_calendars_part(monkeypatch: pytest.MonkeyPatch) -> None:
    store = CalendarStore({n: f"{n}.yaml" for n in NAMES})
    cals = three_calendars()
    for c in cals.values():
        store.publish(c.name, c)
    clock = Clock(T0)
    cache = PlanCache(store, clock=clock)
    planned: list[Sequence[str]] = []
    real_plan = plans_module.plan

    def counting(calendars: Sequence[Calendar], *args: Any, **kwargs: Any) -> Any:
        planned.append([c.name for c in calendars])
        return real_plan(calendars, *args, **kwargs)

    monkeypatch.setattr(plans_module, "plan", counting)
    metadata = {"baseReplicas": "2"}
    cache.timeline("shop", "web", metadata)
    assert sorted(map(tuple, planned)) == [("a",), ("b",), ("c",)]
    planned.clear()
    clock.now += 600
    store.publish("b", calendar(event("b9", start=T0 + 900, scale=replicas(20)), name="b"))
    timeline = cache.timeline("shop", "web", metadata)
    assert planned == [["b"]]
    assert timeline.valid_from == T0 - plans_module.WINDOW_BEFORE  # the window kept
    # Once the window no longer serves now, every part is built again, over a new window.
    planned.clear()
    clock.now = timeline.valid_until
    cache.timeline("shop", "web", metadata)
    assert sorted(map(tuple, planned)) == [("a",), ("b",), ("c",)]


def test_calendars_arriving_one_by_one_are_each_planned_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At start-up the timeline is unavailable until every calendar has loaded, but the parts
    of those loaded are planned meanwhile: the last one to arrive is planned alone."""
    store = CalendarStore({n: f"{n}.yaml" for n in NAMES})
    cals = three_calendars()
    clock = Clock(T0)
    cache = PlanCache(store, clock=clock)
    planned: list[str] = []
    real_plan = plans_module.plan

    def counting(calendars: Sequence[Calendar], *args: Any, **kwargs: Any) -> Any:
        planned.extend(c.name for c in calendars)
        return real_plan(calendars, *args, **kwargs)

    monkeypatch.setattr(plans_module, "plan", counting)
    metadata = {"baseReplicas": "2"}
    loaded: list[str] = []
    for n in NAMES:
        timeline = cache.timeline("shop", "web", metadata)
        assert timeline.error is not None and "has not loaded yet" in str(timeline.error)
        assert planned == loaded[-1:]  # the one that just arrived
        planned.clear()
        store.publish(n, cals[n])
        loaded.append(n)
    timeline = cache.timeline("shop", "web", metadata)
    assert timeline.error is None
    assert planned == ["c"]  # the last alone, a and b as they were planned
    check(cache, store, parse_metadata("shop", "web", metadata), clock)


def test_a_missing_key_in_a_loaded_calendar_keeps_no_early_part() -> None:
    """A part is kept only from a build without errors: the loaded calendar's missing key is
    still reported once the last calendar arrives."""
    store = CalendarStore({n: f"{n}.yaml" for n in ("a", "b")})
    aimed = (Target(namespace="shop", name="web", labels={}, scale=None),)
    needs_capacity = calendar(event("a0", start=T0 + 600, scale=load("5000"), targets=aimed),
                              name="a")  # fmt: skip
    clock = Clock(T0)
    cache = PlanCache(store, clock=clock)
    store.publish("a", needs_capacity)
    assert "has not loaded yet" in str(cache.timeline("shop", "web", {"baseReplicas": "2"}).error)
    store.publish("b", calendar(event("b0", start=T0 + 600, scale=replicas(4)), name="b"))
    error = cache.timeline("shop", "web", {"baseReplicas": "2"}).error
    assert error is not None and "capacityPerReplica" in str(error)


def test_merge_takes_the_max_and_drops_repeats() -> None:
    c = calendar()
    parts = [
        _Part(c, 0, 100, [0, 10, 50], [1, 5, 1]),
        _Part(c, 0, 100, [0, 20, 30, 60], [2, 3, 0, 2]),
    ]
    assert _merge(parts) == ([0, 10, 50, 60], [2, 5, 1, 2])


def test_the_memory_bound_counts_every_part() -> None:
    """Timelines are remembered within a byte budget (one per distinct metadata set KEDA
    sends): the parts' change points count toward it, not only the merged ones."""
    store = CalendarStore({n: f"{n}.yaml" for n in NAMES})
    for n in NAMES:
        store.publish(
            n,
            calendar(
                *(
                    event(
                        f"{n}{i}", start=T0 + 700 * i, end=T0 + 700 * i + 300, scale=replicas(2 + i)
                    )
                    for i in range(4)
                ),
                name=n,
            ),
        )
    cache = PlanCache(store, clock=Clock(T0))
    timeline = cache.timeline("shop", "web", {"baseReplicas": "1"})
    in_parts = sum(len(part.times) for part in timeline.parts.values())
    assert len(timeline.parts) == 3 and in_parts > len(timeline.times)
    _, remembered = cache.remembered()
    assert remembered >= plans_module._POINT_BYTES * (len(timeline.times) + in_parts)


# -- a change that concerns no event of a workload keeps its part ------------------------------

WORKLOADS = (("shop", "web"), ("other", "api"))
AIMS = {
    "all": (),
    "shop": (Target(namespace="shop"),),
    "other": (Target(namespace="other"),),
    "web": (Target(name="web", scale=replicas(7)),),
}


def aimed(name: str, aim: str, start: int, amount: int) -> Event:
    return event(name, start=T0 + start, end=T0 + start + 400, scale=replicas(amount),
                 targets=AIMS[aim])  # fmt: skip


def check_all(cache: PlanCache, store: CalendarStore) -> None:
    loaded = store.snapshot.loaded()
    for ns, name in WORKLOADS:
        timeline = cache.timeline(ns, name, {"baseReplicas": "2"})
        served = parse_metadata(ns, name, {"baseReplicas": "2"})
        for instant in range(T0 - 300, T0 + 3000, 23):
            assert timeline.value(instant) == value_at(loaded, served, instant), (ns, instant)


edits = st.lists(
    st.tuples(
        st.integers(0, 5),  # which event (a new one when there is no such event)
        st.sampled_from(["scale", "start", "aim", "remove", "move", "disable"]),
        st.sampled_from(sorted(AIMS)),
        st.integers(0, 2000),
    ),
    min_size=1, max_size=3,
)  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(st.tuples(st.sampled_from(sorted(AIMS)), st.integers(0, 2000),
                             st.integers(1, 30)), min_size=1, max_size=5),
    reloads=st.lists(edits, min_size=1, max_size=3),
)  # fmt: skip
def test_after_edits_to_some_events_every_workload_has_the_value_of_the_calendar(
    first: list[tuple[str, int, int]], reloads: list[list[tuple[int, str, str, int]]]
) -> None:
    store = CalendarStore({"a": "a.yaml", "b": "b.yaml"})
    events = [aimed(f"e{i}", aim, start, amount) for i, (aim, start, amount) in enumerate(first)]
    store.publish("a", calendar(*events, name="a"))
    store.publish("b", calendar(aimed("b0", "all", 500, 3), name="b"))
    cache = PlanCache(store, clock=Clock(T0))
    check_all(cache, store)
    for edit in reloads:
        for which, how, aim, number in edit:
            if which >= len(events):
                events.append(aimed(f"n{len(events)}", aim, number, 5))
                continue
            e = events[which]
            if how == "remove":
                del events[which]
            elif how == "move":  # the same event on another line, as a re-read moves it
                events[which] = dataclasses.replace(e, line=e.line + number + 1)
            elif how == "disable":
                events[which] = dataclasses.replace(e, disabled=not e.disabled)
            elif how == "aim":
                events[which] = dataclasses.replace(e, targets=AIMS[aim])
            elif how == "scale":
                events[which] = dataclasses.replace(e, scale=replicas(number % 40))
            else:
                events[which] = dataclasses.replace(e, schedule=Once(T0 + number, T0 + number + 99))
        store.publish("a", calendar(*events, name="a"))
        check_all(cache, store)


def test_a_change_that_concerns_no_event_of_a_workload_keeps_its_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = CalendarStore({"a": "a.yaml"})
    mine, theirs = aimed("mine", "shop", 100, 4), aimed("theirs", "other", 200, 9)
    store.publish("a", calendar(mine, theirs, name="a"))
    cache = PlanCache(store, clock=Clock(T0))
    planned: list[str] = []
    real_plan = plans_module.plan

    def counting(calendars: Sequence[Calendar], workload: Workload, *a: Any, **k: Any) -> Any:
        planned.append(workload.ref)
        return real_plan(calendars, workload, *a, **k)

    monkeypatch.setattr(plans_module, "plan", counting)
    check_all(cache, store)
    assert sorted(planned) == ["other/api", "shop/web"]
    planned.clear()
    moved = dataclasses.replace(mine, line=40)  # moved down the file: the same event
    store.publish("a", calendar(moved, dataclasses.replace(theirs, scale=replicas(12)), name="a"))
    check_all(cache, store)
    assert planned == ["other/api"]  # shop/web's part is the one it had
    planned.clear()
    store.publish("a", calendar(moved, aimed("theirs", "all", 200, 12), name="a"))
    check_all(cache, store)
    assert sorted(planned) == ["other/api", "shop/web"]  # now it concerns shop/web too


# -- missing keys, kept per part ---------------------------------------------------------------

KEYED = {"shop/web": {"baseReplicas": "2"}, "other/api": {"capacityPerReplica": "100"}}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 4),  # which event
            st.sampled_from(sorted(AIMS)),
            st.sampled_from(["replicas", "load", "remove"]),
            st.integers(0, 1500),  # seconds the clock moves on
        ),
        min_size=1, max_size=6,
    ),
)  # fmt: skip
def test_missing_key_errors_appear_and_clear_as_the_calendar_and_the_clock_say(
    steps: list[tuple[int, str, str, int]],
) -> None:
    """shop/web has no capacityPerReplica: a targeted load event that concerns it and is not
    over is an error (missing_key over all calendars), whichever parts were kept."""
    clock = Clock(T0)
    store = CalendarStore({"a": "a.yaml", "b": "b.yaml"})
    events = {i: aimed(f"e{i}", "other", 300 * i, 3) for i in range(5)}
    store.publish("a", calendar(*events.values(), name="a"))
    store.publish("b", calendar(aimed("b0", "shop", 900, 4), name="b"))
    cache = PlanCache(store, clock=clock)
    for which, aim, how, later in steps:
        for ref, metadata in KEYED.items():
            ns, name = ref.split("/")
            timeline = cache.timeline(ns, name, metadata)
            served = parse_metadata(ns, name, metadata)
            expected = missing_key(store.snapshot.loaded(), served, int(clock.now))
            if expected is None:
                assert timeline.error is None, ref
                assert timeline.value(clock.now) == value_at(store.snapshot.loaded(), served,
                                                             int(clock.now))  # fmt: skip
            else:
                assert str(timeline.error) == str(expected[0]), ref
        if how == "remove":
            events.pop(which, None)
        else:
            scale = replicas(6) if how == "replicas" else load("300")
            events[which] = dataclasses.replace(aimed(f"e{which}", aim, 300 * which, 1),
                                                scale=scale)  # fmt: skip
        store.publish("a", calendar(*events.values(), name="a"))
        clock.now += later


def test_close_ends_the_rebuild_in_progress() -> None:
    """The server's stop awaits PlanCache.close: no rebuild task outlives the loop (one left
    pending is destroyed unstarted, and its coroutine's warning lands in a later test)."""

    async def scenario() -> None:
        store = CalendarStore({"a": "a.yaml"})
        cache = PlanCache(store, clock=Clock(T0))
        store.publish("a", calendar(aimed("e", "all", 0, 3), name="a"))
        task = cache._rebuild_task
        assert task is not None and not task.done()
        await cache.close()
        assert task.done() and cache._rebuild_task is None

    asyncio.run(scenario())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calendars=calendar_sets, workload=workloads, offsets=st.lists(st.integers(-300, 4000)))
def test_steady_is_exactly_the_span_of_the_value_within_the_window(
    calendars: list[Calendar], workload: Workload, offsets: list[int]
) -> None:
    """GetMetrics serves a remembered answer over `steady(now)`: the value must be the same at
    every instant of it, and change (or the window end) at both of its ends."""
    store = CalendarStore({name: f"{name}.yaml" for name in NAMES})
    for c in calendars:
        store.publish(c.name, c)
    cache = PlanCache(store, clock=Clock(T0))
    timeline = cache.timeline("shop", "web", metadata_of(workload))
    assert timeline.error is None
    for now in (T0 + offset + 0.5 for offset in offsets):
        if not timeline.valid_from <= now < timeline.valid_until:
            continue
        since, until = timeline.steady(now)
        value = timeline.value(now)
        assert timeline.valid_from <= since <= now < until <= timeline.valid_until
        assert value == timeline.value(since) == timeline.value(until - 0.001)
        assert since == timeline.valid_from or timeline.value(since - 0.001) != value
        assert until == timeline.valid_until or timeline.value(until) != value


def test_the_version_changes_on_every_swap() -> None:
    store = CalendarStore({"a": "a.yaml"})
    cache = PlanCache(store, clock=Clock(T0))
    before = cache.version
    store.publish("a", calendar(event("a0", start=T0 + 600, scale=replicas(4)), name="a"))
    assert cache.version != before
    after = cache.version
    store.publish("a", calendar(event("a0", start=T0 + 600, scale=replicas(6)), name="a"))
    assert cache.version not in (before, after)
