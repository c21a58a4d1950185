"""Timelines kept as one part per calendar: a reload rebuilds the changed calendar's part only,
and the merged answer is always the one of all calendars together (`value_at`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaler.calendar.evaluation import value_at
from scaler.calendar.model import Calendar
from scaler.calendar.workload import Workload, parse_metadata
from scaler.service import plans as plans_module
from scaler.service.plans import PlanCache, _merge, _Part
from scaler.sources.store import CalendarStore
from tests.calendar.strategies import T0, calendar, event, one_off_events, replicas, workloads

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


def test_a_reload_rebuilds_only_the_changed_calendars_part(monkeypatch: pytest.MonkeyPatch) -> None:
    store = CalendarStore({n: f"{n}.yaml" for n in NAMES})
    cals = {
        n: calendar(*(event(f"{n}{i}", start=T0 + 600 * i, scale=replicas(3 + i)) for i in range(3)),
                    name=n)
        for n in NAMES
    }  # fmt: skip
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
        store.publish(n, calendar(*(event(f"{n}{i}", start=T0 + 700 * i, end=T0 + 700 * i + 300,
                                          scale=replicas(2 + i)) for i in range(4)), name=n))
    cache = PlanCache(store, clock=Clock(T0))
    timeline = cache.timeline("shop", "web", {"baseReplicas": "1"})
    in_parts = sum(len(part.times) for part in timeline.parts.values())
    assert len(timeline.parts) == 3 and in_parts > len(timeline.times)
    _, remembered = cache.remembered()
    assert remembered >= plans_module._POINT_BYTES * (len(timeline.times) + in_parts)
