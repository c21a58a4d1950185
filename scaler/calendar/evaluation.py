"""What a workload gets at an instant, and over a range (SPEC section 3).

Two ways to the same numbers, on purpose: `value_at` evaluates one instant straight from the
contract's definition; `plan` sweeps every occurrence's steps once and reports the change
points. The service answers from plans (bisect on the clock), and the tests hold plan to
value_at, so the fast path can never drift from the definition.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from fractions import Fraction
from typing import TYPE_CHECKING

from scaler.calendar.model import MAX_REPLICAS, Calendar, Event, Occurrence, Scale, Target, Timing
from scaler.calendar.recurrence import CronSchedule
from scaler.calendar.timefmt import format_instant
from scaler.calendar.workload import Workload
from scaler.errors import MetadataError

if TYPE_CHECKING:  # history builds on this module
    from scaler.calendar.history import Peaks

__all__ = [
    "Plan",
    "Point",
    "Step",
    "changed_events",
    "check_workload",
    "concerns",
    "demand",
    "effective_timing",
    "headroom_windows",
    "matches",
    "missing_key",
    "occurrence_steps",
    "occurrences",
    "plan",
    "reach",
    "value_at",
]

_NEEDS = {"factor": "baseReplicas", "load": "capacityPerReplica"}
_WORKLOAD_FIELD = {"baseReplicas": "base_replicas", "capacityPerReplica": "capacity_per_replica"}


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


def _amount(scale: Scale, workload: Workload, peaks: Peaks = None) -> int | None:
    """Replicas a scale asks of this workload; None when the workload lacks the key it needs,
    or for `like` when its peak is not known and it has no `otherwise` (section 9; `peaks`:
    this workload's peaks, None without Prometheus)."""
    amount = Fraction(scale.amount)
    if scale.like is not None:
        peak = None if peaks is None else peaks.get(scale.like)
        if peak is not None and peak.value is not None:  # D = ceil(P x growth), exactly
            return min(math.ceil(Fraction(peak.value) * amount), MAX_REPLICAS)
        if scale.otherwise is None:
            return None
        scale = scale.otherwise
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


def concerns(events: Iterable[Event], workload: Workload) -> bool:
    """Whether any of these events applies to the workload (disabled or not)."""
    return any(_scales(event, workload) is not None for event in events)


def changed_events(old: Calendar, new: Calendar) -> list[Event]:
    """The events of either calendar that the other lacks as they are (their line aside): a
    workload that none of them concerns has the same values from both. An event at the same
    place in both, the same object, is unchanged (a change read from its changed events keeps
    the others); the rest are paired by name and compared."""
    kept = min(len(old.events), len(new.events))
    moved = [i for i in range(kept) if old.events[i] is not new.events[i]]
    before: dict[str, list[Event]] = {}
    for event in [old.events[i] for i in moved] + list(old.events[kept:]):
        before.setdefault(event.name, []).append(event)
    changed: list[Event] = []
    for event in [new.events[i] for i in moved] + list(new.events[kept:]):
        changed += _unpaired(event, before)
    return changed + [event for events in before.values() for event in events]


def _unpaired(event: Event, before: dict[str, list[Event]]) -> list[Event]:
    """[] when `before` has the same event under its name (then taken out of it), else
    [event]."""
    candidates = before.get(event.name, [])
    for k, was in enumerate(candidates):
        if _same(was, event):
            del candidates[k]
            return []
    return [event]


def _same(a: Event, b: Event) -> bool:
    return a is b or (
        a.scale == b.scale and a.targets == b.targets and a.timing == b.timing
        and a.disabled == b.disabled and _schedule_key(a) == _schedule_key(b)
    )  # fmt: skip


def _schedule_key(event: Event) -> object:
    s = event.schedule
    if isinstance(s, CronSchedule):  # compares by identity: compare what it is made of
        holidays = tuple((h.country, h.subdivision) for h in s.excluded_holidays)
        return (s.expression, s.zone, s.duration, s.start_from, s.until, s.excluded_dates,
                holidays)  # fmt: skip
    return s


def demand(event: Event, workload: Workload, peaks: Peaks = None) -> int | None:
    """Demand D of an event for a workload; None when it does not apply.

    A workload lacking the key a scale needs gets None here; `check_workload` is what turns
    that into an error for targeted events, depending on whether the event is over.
    """
    if event.disabled:
        return None
    scales = _scales(event, workload)
    if scales is None:
        return None
    amounts = [a for a in (_amount(s, workload, peaks) for s in scales) if a is not None]
    return max(amounts) if amounts else None


def _demand(
    event: Event,
    workload: Workload,
    amounts: dict[int, int | None],
    matched: dict[int, bool],
    peaks: Peaks = None,
) -> int | None:
    """`demand`, remembering per scale and per target object (calendars share them between
    events: parsing) what it works out for this workload: exact decimal arithmetic and glob
    matching, done a few times per plan instead of once per event."""
    if event.disabled:
        return None
    if not event.targets:
        scales = [event.scale] if event.scale is not None else []
    else:
        scales = []
        for target in event.targets:
            hit = matched.get(id(target))
            if hit is None:
                hit = matched[id(target)] = matches(target, workload)
            if hit:
                scale = target.scale or event.scale
                if scale is not None:
                    scales.append(scale)
    best: int | None = None
    for scale in scales:
        key = id(scale)
        if key in amounts:
            amount = amounts[key]
        else:
            amount = amounts[key] = _amount(scale, workload, peaks)
        if amount is not None and (best is None or amount > best):
            best = amount
    return best


def missing_key(
    calendars: Iterable[Calendar], workload: Workload, now: int
) -> tuple[MetadataError, int | None] | None:
    """The error for an event that targets this workload and needs a key it lacks, if any.

    Only events with `targets` count (a target-less factor or load event simply skips
    workloads without the key), and only while the event is not over, so the mistake shows in
    KEDA from the moment the calendar holds the event, long before the sale. Returns the error
    and the instant it stops applying (the latest end among offending events; None: never).
    A headroom trigger gets the errors of the workload it serves: its value depends on it.
    """
    workload = workload.served
    # The scale kinds this workload cannot compute (`_amount` gives None for exactly these).
    lacking = {kind for kind, key in _NEEDS.items()
               if getattr(workload, _WORKLOAD_FIELD[key]) is None}  # fmt: skip
    if not lacking:
        return None  # the usual case, answered without looking at 100,000 events
    found: MetadataError | None = None
    until: int | None = 0
    for calendar in calendars:
        for event in calendar.events:
            if event.disabled or not event.targets:
                continue
            known, last_end = False, None  # last_end may cost croniter work: only when needed
            for target in event.targets:
                scale = target.scale or event.scale
                if scale is None or scale.kind not in lacking or not matches(target, workload):
                    continue
                if not known:
                    known, last_end = True, event.schedule.last_end
                if last_end is not None and now >= last_end:
                    break  # the event is over: none of its targets counts
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


_Shape = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


@functools.lru_cache(maxsize=4096)
def _shape(d: int, lead: int, up: int, down: int, k: int) -> _Shape:
    """`occurrence_steps` as offsets: (from the start, value) up to the lead point, then (from
    the end, value). Steps before the lead point never share a second with those from the end
    on (start - lead < end), so the offsets hold for every occurrence; `plan` adds them to each
    start and end instead of building the steps again."""
    far = lead + up + down + 1  # any end after the start gives the same offsets
    steps = occurrence_steps(0, far, d, Timing(lead_time=lead, ramp_up=up, ramp_down=down,
                                               ramp_steps=k))  # fmt: skip
    return (tuple((s.at, s.value) for s in steps if s.at < far),
            tuple((s.at - far, s.value) for s in steps if s.at >= far))  # fmt: skip


def reach(calendars: Sequence[Calendar], workload: Workload) -> tuple[int, int]:
    """How far before a start and after an end any occurrence can reach for this workload."""
    before = after = 0
    for calendar in calendars:
        # Events share their Timing objects (a calendar has a handful): each looked at once.
        for t in {id(e.timing): e.timing for e in calendar.events}.values():
            before = max(before, max(t.lead_time, workload.lead_time)
                         + max(t.ramp_up, workload.ramp_up) + workload.headroom_reach)  # fmt: skip
            after = max(after, t.ramp_down, workload.ramp_down)
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


def value_at(
    calendars: Sequence[Calendar], workload: Workload, instant: int, peaks: Peaks = None
) -> int:
    """The value at one instant, straight from the definition (max over occurrences)."""
    before, after = reach(calendars, workload)
    if workload.headroom_for is not None:
        occs = occurrences(calendars, instant, instant + 1, before=before, after=after)
        windows = headroom_windows(occs, workload, peaks)
        wanted = max((d for lo, hi, d, _ in windows if lo <= instant < hi), default=0)
        return max(0, wanted - value_at(calendars, workload.served, instant, peaks))
    best = 0
    for occ in occurrences(calendars, instant, instant + 1, before=before, after=after):
        d = demand(occ.event, workload, peaks)
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
    peaks: Peaks = None,
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
    if workload.headroom_for is not None:
        return _headroom_plan(calendars, workload, start, end, with_events, expanded, peaks)

    # Every occurrence that concerns the workload changes its own value at each of its steps:
    # its event's shape (per demand and timing: `_shape`) placed at its start and end. This
    # loop runs for every occurrence of every workload's plan, so it stays lean: one
    # (instant, occurrence, value) change per step, then one sweep in time order.
    shapes: dict[int, _Shape | None] = {}  # id(event) -> shape; None: no demand
    amounts: dict[int, int | None] = {}  # id(scale) -> replicas for this workload
    matched: dict[int, bool] = {}  # id(target) -> whether it matches this workload
    changes: list[tuple[int, int, int]] = []  # (at, occurrence, its value from then on)
    names: list[str] = []  # event name by occurrence
    for occ in expanded:
        event = occ.event
        key = id(event)
        if key in shapes:
            shape = shapes[key]
        else:
            d = _demand(event, workload, amounts, matched, peaks)
            t = None if d is None else effective_timing(event, workload)
            shape = shapes[key] = None if d is None or t is None else _shape(
                d, t.lead_time, t.ramp_up, t.ramp_down, t.ramp_steps
            )  # fmt: skip
        if not shape or not shape[0]:  # no demand, or a demand of 0
            continue
        up, down = shape
        first, last = occ.start, occ.end
        if last + down[-1][0] <= start or first + up[0][0] >= end:
            continue  # back to 0 before the range, or rises only after it
        n = len(names)
        names.append(event.name)
        changes.extend([(first + o, n, v) for o, v in up])
        changes.extend([(last + o, n, v) for o, v in down])
    # A heap, popped in time order below, rather than one sort: sorting the ~40,000 steps of a
    # workload at 100,000 events took ~30 ms in one call that never lets the GIL go, and the
    # server's event loop waited that long (plans are built in a worker thread there).
    heapq.heapify(changes)
    pop = heapq.heappop

    heap: list[tuple[int, int]] = []  # (-value, occurrence); stale entries removed lazily
    current: dict[int, int] = {}  # occurrence -> its value, while > 0
    points: list[Point] = []
    shown = -1

    def settle(at: int) -> None:
        nonlocal shown
        while heap and current.get(heap[0][1]) != -heap[0][0]:
            heapq.heappop(heap)
        value = -heap[0][0] if heap else 0
        if value != shown:
            events: tuple[str, ...] = ()
            if with_events:
                events = tuple(sorted({names[o] for o in current}))
            points.append(Point(at, value, events))
            shown = value

    while changes and changes[0][0] <= start:
        _, o, v = pop(changes)
        if v > 0:
            current[o] = v
            heapq.heappush(heap, (-v, o))
        else:
            current.pop(o, None)
    settle(start)
    while changes and changes[0][0] < end:
        at = changes[0][0]
        while changes and changes[0][0] == at:
            _, o, v = pop(changes)
            if v > 0:
                current[o] = v
                heapq.heappush(heap, (-v, o))
            else:
                current.pop(o, None)
        settle(at)
    return Plan(workload=workload.ref, start=start, end=end, points=tuple(points))


# -- headroom (SPEC section 10) ----------------------------------------------------------------


def headroom_windows(
    found: Iterable[Occurrence], workload: Workload, peaks: Peaks = None
) -> list[tuple[int, int, int, str]]:
    """(from, to, D, event) per occurrence: the placeholders a headroom trigger wants.

    D is the demand of the served workload, wanted on [S-L-R-H, S-L) with its own L and R
    (the event's or its metadata's, whichever is larger) and H = headroomLead.
    """
    served = workload.served
    known: dict[int, tuple[int, int, int] | None] = {}  # id(event) -> (D, L+R+H, L)
    windows: list[tuple[int, int, int, str]] = []
    for occ in found:
        key = id(occ.event)
        if key not in known:
            d = demand(occ.event, served, peaks)
            t = effective_timing(occ.event, served)
            before = t.lead_time + t.ramp_up + workload.headroom_lead
            known[key] = (d, before, t.lead_time) if d else None
        shape = known[key]
        if shape is not None:
            d, before, lead = shape
            if before > lead:
                windows.append((occ.start - before, occ.start - lead, d, occ.event.name))
    return windows


def _headroom_plan(
    calendars: Sequence[Calendar],
    workload: Workload,
    start: int,
    end: int,
    with_events: bool,
    expanded: Sequence[Occurrence],
    peaks: Peaks,
) -> Plan:
    """max(0, W(t) - V(t)) over [start, end): W from the windows, V the served workload's plan.

    An event's own value here is D - V(t) while its window holds t, so `events` names the
    occurrences whose placeholders are still wanted.
    """
    real = plan(calendars, workload.served, start, end, with_events=False, expanded=expanded,
                peaks=peaks)  # fmt: skip
    windows = headroom_windows(expanded, workload, peaks)
    windows = [w for w in windows if start < w[1] and w[0] < end]
    opens = sorted(range(len(windows)), key=lambda i: windows[i][0])
    instants = sorted({start, *(p.at for p in real.points),
                       *(t for w in windows for t in w[:2] if start < t < end)})  # fmt: skip
    heap: list[tuple[int, int]] = []  # (-D, window); windows closed by `at` are dropped lazily
    points: list[Point] = []
    shown, opened, v = -1, 0, 0
    for at in instants:
        while opened < len(opens) and windows[opens[opened]][0] <= at:
            heapq.heappush(heap, (-windows[opens[opened]][2], opens[opened]))
            opened += 1
        while heap and windows[heap[0][1]][1] <= at:
            heapq.heappop(heap)
        while v + 1 < len(real.points) and real.points[v + 1].at <= at:
            v += 1
        served = real.points[v].value
        value = max(0, -heap[0][0] - served) if heap else 0
        if value != shown:
            events: tuple[str, ...] = ()
            if with_events and value:
                wanted = (w for w in (windows[i] for _, i in heap) if w[1] > at and w[2] > served)
                events = tuple(sorted({w[3] for w in wanted}))
            points.append(Point(at, value, events))
            shown = value
    return Plan(workload=workload.ref, start=start, end=end, points=tuple(points))
