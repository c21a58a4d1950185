"""What a workload gets at an instant, and over a range (SPEC section 3).

Two ways to the same numbers, on purpose: `value_at` evaluates one instant straight from the
contract's definition; `plan` sweeps every occurrence's steps once and reports the change
points. The service answers from plans (bisect on the clock), and the tests hold plan to
value_at, so the fast path can never drift from the definition.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from fractions import Fraction

from scaler.calendar.model import MAX_REPLICAS, Calendar, Event, Occurrence, Scale, Target, Timing
from scaler.calendar.timefmt import format_instant
from scaler.calendar.workload import Workload
from scaler.errors import MetadataError

__all__ = [
    "Plan",
    "Point",
    "Step",
    "check_workload",
    "demand",
    "effective_timing",
    "matches",
    "missing_key",
    "occurrence_steps",
    "occurrences",
    "plan",
    "reach",
    "value_at",
]

_NEEDS = {"factor": "baseReplicas", "load": "capacityPerReplica"}


@dataclass(frozen=True, slots=True)
class Step:
    at: int  # instant the value starts
    value: int


@dataclass(frozen=True, slots=True)
class Point:
    at: int
    value: int
    events: tuple[str, ...] = ()  # sorted names of events whose own value is > 0 here


@dataclass(frozen=True, kw_only=True)
class Plan:
    workload: str  # "namespace/name"
    start: int
    end: int  # exclusive
    points: tuple[Point, ...]  # one at `start`, then one at each change

    def to_json(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "from": format_instant(self.start),
            "to": format_instant(self.end),
            "points": [
                {"at": format_instant(p.at), "replicas": p.value, "events": list(p.events)}
                for p in self.points
            ],
        }


def matches(target: Target, workload: Workload) -> bool:
    if target.namespace is not None and not fnmatchcase(workload.namespace, target.namespace):
        return False
    if target.name is not None and not fnmatchcase(workload.name, target.name):
        return False
    return all(workload.labels.get(k) == v for k, v in target.labels.items())


def _amount(scale: Scale, workload: Workload) -> int | None:
    """Replicas a scale asks of this workload; None when the workload lacks the key it needs."""
    amount = Fraction(scale.amount)
    if scale.kind == "replicas":
        return min(int(amount), MAX_REPLICAS)
    if scale.kind == "factor":
        if workload.base_replicas is None:
            return None
        return min(math.ceil(amount * workload.base_replicas), MAX_REPLICAS)
    if workload.capacity_per_replica is None:
        return None
    share = Fraction(workload.load_share) / Fraction(workload.capacity_per_replica)
    return min(math.ceil(amount * share), MAX_REPLICAS)


def _scales(event: Event, workload: Workload) -> list[Scale] | None:
    """The scales that apply to this workload (None: the event does not concern it)."""
    if not event.targets:
        return [event.scale] if event.scale is not None else None
    chosen = [t.scale or event.scale for t in event.targets if matches(t, workload)]
    return [s for s in chosen if s is not None] or None


def demand(event: Event, workload: Workload) -> int | None:
    """Demand D of an event for a workload; None when it does not apply.

    A workload lacking the key a scale needs gets None here; `check_workload` is what turns
    that into an error for targeted events, depending on whether the event is over.
    """
    if event.disabled:
        return None
    scales = _scales(event, workload)
    if scales is None:
        return None
    amounts = [a for a in (_amount(s, workload) for s in scales) if a is not None]
    return max(amounts) if amounts else None


def missing_key(
    calendars: Iterable[Calendar], workload: Workload, now: int
) -> tuple[MetadataError, int | None] | None:
    """The error for an event that targets this workload and needs a key it lacks, if any.

    Only events with `targets` count (a target-less factor or load event simply skips
    workloads without the key), and only while the event is not over, so the mistake shows in
    KEDA from the moment the calendar holds the event, long before the sale. Returns the error
    and the instant it stops applying (the latest end among offending events; None: never).
    """
    found: MetadataError | None = None
    until: int | None = 0
    for calendar in calendars:
        for event in calendar.events:
            if event.disabled or not event.targets:
                continue
            last_end = event.schedule.last_end
            if last_end is not None and now >= last_end:
                continue
            for target in event.targets:
                scale = target.scale or event.scale
                if scale is None or not matches(target, workload):
                    continue
                if _amount(scale, workload) is None:
                    key = _NEEDS[scale.kind]
                    if found is None:
                        found = MetadataError(
                            key,
                            f"{key}: calendar {calendar.name!r} event {event.name!r} scales "
                            f"{workload.ref} by {scale.kind}, which needs {key}; add {key} to "
                            "the trigger metadata, or narrow the event's targets",
                        )
                    until = None if until is None or last_end is None else max(until, last_end)
    return None if found is None else (found, until)


def check_workload(calendars: Iterable[Calendar], workload: Workload, now: int) -> None:
    """Raise the `missing_key` error, if there is one at `now`."""
    problem = missing_key(calendars, workload, now)
    if problem is not None:
        raise problem[0]


def effective_timing(event: Event, workload: Workload) -> Timing:
    """L, R, Q: the larger of the event's (or calendar default) and the workload's minimum."""
    t = event.timing
    return Timing(
        lead_time=max(t.lead_time, workload.lead_time),
        ramp_up=max(t.ramp_up, workload.ramp_up),
        ramp_down=max(t.ramp_down, workload.ramp_down),
        ramp_steps=t.ramp_steps,
    )


def occurrence_steps(start: int, end: int, d: int, timing: Timing) -> list[Step]:
    """The piecewise-constant value of one occurrence, ending with a step back to 0."""
    if d <= 0:
        return []
    lead, up, down, k = timing.lead_time, timing.ramp_up, timing.ramp_down, timing.ramp_steps
    steps: list[Step] = []

    def put(at: int, value: int) -> None:
        if steps and steps[-1].at == at:  # several steps on one second: the later one applies
            steps[-1] = Step(at, value)
        else:
            steps.append(Step(at, value))

    if up > 0:
        base = start - lead - up
        for i in range(1, k + 1):
            put(base + (i - 1) * up // k, -(-d * i // k))
    put(start - lead, d)
    if down > 0:
        for j in range(k):
            put(end + j * down // k, -(-d * (k - j) // k))
    put(end + down, 0)
    return steps


def reach(calendars: Sequence[Calendar], workload: Workload) -> tuple[int, int]:
    """How far before a start and after an end any occurrence can reach for this workload."""
    before = after = 0
    for calendar in calendars:
        for event in calendar.events:
            t = effective_timing(event, workload)
            before = max(before, t.lead_time + t.ramp_up)
            after = max(after, t.ramp_down)
    return before, after


def occurrences(
    calendars: Iterable[Calendar], start: int, end: int, *, before: int = 0, after: int = 0
) -> list[Occurrence]:
    """Occurrences of enabled events whose [S - before, E + after) overlaps [start, end)."""
    found: list[Occurrence] = []
    for calendar in calendars:
        for event in calendar.events:
            if event.disabled:
                continue
            for s, e in event.schedule.overlapping(start - after, end + before):
                found.append(Occurrence(event, s, e))
    found.sort(key=lambda o: (o.start, o.end, o.event.name))
    return found


def value_at(calendars: Sequence[Calendar], workload: Workload, instant: int) -> int:
    """The value at one instant, straight from the definition (max over occurrences)."""
    before, after = reach(calendars, workload)
    best = 0
    for occ in occurrences(calendars, instant, instant + 1, before=before, after=after):
        d = demand(occ.event, workload)
        if d is None:
            continue
        value = 0
        for step in occurrence_steps(occ.start, occ.end, d, effective_timing(occ.event, workload)):
            if step.at > instant:
                break
            value = step.value
        best = max(best, value)
    return best


def plan(
    calendars: Sequence[Calendar],
    workload: Workload,
    start: int,
    end: int,
    *,
    with_events: bool = True,
    expanded: Sequence[Occurrence] | None = None,
) -> Plan:
    """Change points of the value over [start, end): a point at `start`, then one per change.

    `expanded` lets a caller share one calendar expansion across many workloads; it must hold
    at least the occurrences `occurrences(...)` would return for this workload's reach.
    """
    if end <= start:
        raise ValueError(f"plan range is empty: end {format_instant(end)} is not after start")
    if expanded is None:
        before, after = reach(calendars, workload)
        expanded = occurrences(calendars, start, end, before=before, after=after)

    # Segments [t0, t1) with a value, from every occurrence that concerns the workload.
    demands: dict[int, int | None] = {}
    edges: list[tuple[int, int, int, int, str]] = []  # (at, kind 1=open/0=close, value, id, name)
    seg_id = 0
    for occ in expanded:
        key = id(occ.event)
        if key not in demands:
            demands[key] = demand(occ.event, workload)
        d = demands[key]
        if d is None:
            continue
        steps = occurrence_steps(occ.start, occ.end, d, effective_timing(occ.event, workload))
        for here, nxt in itertools.pairwise(steps):
            if here.value <= 0 or nxt.at <= start or here.at >= end:
                continue
            seg_id += 1
            edges.append((here.at, 1, here.value, seg_id, occ.event.name))
            edges.append((nxt.at, 0, here.value, seg_id, occ.event.name))
    edges.sort()

    heap: list[tuple[int, int]] = []  # (-value, id) of open segments, closed ones removed lazily
    open_segments: dict[int, tuple[int, str]] = {}
    points: list[Point] = []
    current = -1
    i = 0

    def settle(at: int) -> None:
        nonlocal current
        while heap and heap[0][1] not in open_segments:
            heapq.heappop(heap)
        value = -heap[0][0] if heap else 0
        if value != current:
            names: tuple[str, ...] = ()
            if with_events:
                names = tuple(sorted({n for v, n in open_segments.values() if v > 0}))
            points.append(Point(at, value, names))
            current = value

    while i < len(edges) and edges[i][0] <= start:
        _, kind, value, sid, name = edges[i]
        if kind:
            open_segments[sid] = (value, name)
            heapq.heappush(heap, (-value, sid))
        else:
            open_segments.pop(sid, None)
        i += 1
    settle(start)
    while i < len(edges) and edges[i][0] < end:
        at = edges[i][0]
        while i < len(edges) and edges[i][0] == at:
            _, kind, value, sid, name = edges[i]
            if kind:
                open_segments[sid] = (value, name)
                heapq.heappush(heap, (-value, sid))
            else:
                open_segments.pop(sid, None)
            i += 1
        settle(at)
    return Plan(workload=workload.ref, start=start, end=end, points=tuple(points))
