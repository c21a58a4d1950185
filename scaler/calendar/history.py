"""`like` events sized from history, as pure rules on peaks given as data (SPEC section 9).

The core never asks Prometheus: a caller looks the peaks up (the server in the background, the
CLI before it plans) and passes, per workload, what it knows about each referenced window: a
known peak, no history (Prometheus answered without a sample), or unknown (not fetched yet, or
Prometheus failing). A Reference missing from the mapping is unknown; `peaks=None` means no
Prometheus is configured at all.

What each state gives, for an event of this workload whose scale is `like`:
- known P: D = ceil(P x growth), exact on the decimals (evaluation does it);
- no history, or no Prometheus: `otherwise`, else INVALID_ARGUMENT while the event is not over;
- unknown: `otherwise`, else UNAVAILABLE from S-L-R until the occurrence is over (E+Q), so the
  HPA holds its replicas; before S-L-R nothing of the event applies yet anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from scaler.calendar.evaluation import _NEEDS, _amount, effective_timing, matches
from scaler.calendar.model import Calendar, Event, Once, Reference, Scale
from scaler.calendar.workload import Workload
from scaler.errors import CalendarUnavailable, MetadataError, ScalerError

__all__ = [
    "Derivation",
    "LikeProblem",
    "Peak",
    "PeakState",
    "PeakUnavailable",
    "Peaks",
    "check_likes",
    "derivations",
    "format_number",
    "like_error",
    "like_problems",
    "references",
    "uses_history",
]

PeakState = Literal["known", "none", "pending", "failing"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Peak:
    state: PeakState  # pending: not asked yet; failing: the last lookup failed
    value: Decimal | None = None  # known: P, exactly as Prometheus wrote it
    query: str = ""  # the history query as sent, for messages
    error: str = ""  # failing: why


Peaks = Mapping[Reference, Peak] | None  # per workload; None: no Prometheus configured


class PeakUnavailable(CalendarUnavailable):
    """A peak a begun occurrence needs is unknown because Prometheus fails (-> UNAVAILABLE)."""

    def __init__(self, message: str) -> None:
        self.names: list[str] = []
        ScalerError.__init__(self, message)


@dataclass(frozen=True, slots=True)
class LikeProblem:
    error: ScalerError
    start: int  # the error applies from this instant (INVALID_ARGUMENT: from any time)
    until: int  # ... up to this one (exclusive)


@dataclass(frozen=True, kw_only=True, slots=True)
class Derivation:
    """How one `like` event sizes one workload, for the status page and /api/plan."""

    calendar: str
    event: str
    like: str  # the referenced event
    state: PeakState
    peak: Decimal | None
    growth: Decimal
    replicas: int | None  # D; None when nothing applies (see text)
    text: str  # "47 at peak during black-friday-2025 x 1.2 = 57", or why not

    def to_json(self) -> dict[str, object]:
        return {
            "calendar": self.calendar,
            "event": self.event,
            "like": self.like,
            "state": self.state,
            "peak": None if self.peak is None else _number(self.peak),
            "growth": format_number(self.growth),
            "replicas": self.replicas,
            "text": self.text,
        }


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def format_number(value: Decimal) -> str:
    """47, 1.2, 47.5: as written, without exponent or trailing zeros."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _like_scales(event: Event, workload: Workload) -> list[Scale]:
    """The `like` scales of this event that apply to this workload."""
    if event.disabled:
        return []
    if not event.targets:
        chosen = [event.scale]
    else:
        chosen = [t.scale or event.scale for t in event.targets if matches(t, workload)]
    return [s for s in chosen if s is not None and s.like is not None]


def uses_history(event: Event) -> bool:
    """Whether the event or one of its targets is sized `like` an earlier event."""
    return (event.scale is not None and event.scale.like is not None) or any(
        t.scale is not None and t.scale.like is not None for t in event.targets
    )


_LIKE_EVENTS_MAX = 64
_like_events_of: dict[int, tuple[Calendar, tuple[Event, ...]]] = {}


def _like_events(calendar: Calendar) -> tuple[Event, ...]:
    """The calendar's events with a `like` scale, found once per calendar object: timelines
    are built per workload and calendars may hold 100,000 events, few of them `like`."""
    cached = _like_events_of.get(id(calendar))
    if cached is not None and cached[0] is calendar:
        return cached[1]
    events = tuple(e for e in calendar.events if uses_history(e))
    if len(_like_events_of) >= _LIKE_EVENTS_MAX:
        _like_events_of.clear()
    _like_events_of[id(calendar)] = (calendar, events)
    return events


def _likes(
    calendars: Iterable[Calendar], workload: Workload, now: int | None
) -> Iterator[tuple[Calendar, Event, Scale]]:
    """Each applying `like` scale of an event not over at `now` (None: any)."""
    for calendar in calendars:
        for event in _like_events(calendar):
            scales = _like_scales(event, workload)
            if not scales:
                continue
            end = event.schedule.last_end
            down = effective_timing(event, workload).ramp_down
            if now is not None and end is not None and now >= end + down:
                continue  # over: its value is back to 0
            for scale in scales:
                yield calendar, event, scale


def references(calendars: Iterable[Calendar], workload: Workload, now: int) -> set[Reference]:
    """The windows whose peaks this workload needs: of its `like` events not over at `now`."""
    return {s.like for _, _, s in _likes(calendars, workload, now) if s.like is not None}


def like_problems(
    calendars: Iterable[Calendar], workload: Workload, peaks: Peaks, now: int
) -> list[LikeProblem]:
    """The errors a workload gets from `like` events without `otherwise`, with their spans."""
    problems: list[LikeProblem] = []
    for calendar, event, scale in _likes(calendars, workload, now):
        ref, other = scale.like, scale.otherwise
        peak = None if peaks is None or ref is None else peaks.get(ref)
        if ref is None or (peak is not None and peak.state == "known"):
            continue
        if other is not None and (_amount(other, workload) is not None or not event.targets):
            continue  # otherwise applies (a target-less one skips workloads without its key)
        where = f"calendar {calendar.name!r} event {event.name!r}"
        key, fix = "like", "add otherwise: to the event's scale"
        if other is not None:  # targeted, and the workload lacks the key otherwise needs
            key = _NEEDS[other.kind]
            fix = f"its otherwise ({other.kind}) needs {key}: add {key} to the trigger metadata"
        timing = effective_timing(event, workload)
        assert isinstance(event.schedule, Once)  # parsing allows `like` on one-off events only
        s, e = event.schedule.start, event.schedule.end
        if peaks is None:
            message = (
                f"{where} is sized like {ref.event!r} from Prometheus history, but the scaler "
                f"has no --prometheus; start it with --prometheus URL, or {fix}"
            )
            problems.append(LikeProblem(MetadataError(key, message), -(2**62), e))
        elif peak is not None and peak.state == "none":
            message = (
                f"{where} is sized like {ref.event!r}, but Prometheus has no history of "
                f"{workload.ref} during it (query {peak.query}); {fix}, narrow the event's "
                "targets, or fix --history-query"
            )
            problems.append(LikeProblem(MetadataError(key, message), -(2**62), e))
        else:
            why = peak.error if peak is not None and peak.error else "not fetched yet"
            unavailable = PeakUnavailable(
                f"{where}: the peak of {workload.ref} during {ref.event!r} is unknown ({why}); "
                f"the HPA holds its replicas until Prometheus answers; {fix} for a fallback"
            )
            begin = s - timing.lead_time - timing.ramp_up
            problems.append(LikeProblem(unavailable, begin, e + timing.ramp_down))
    return problems


def check_likes(
    calendars: Iterable[Calendar], workload: Workload, peaks: Peaks, start: int, end: int
) -> None:
    """Raise the first `like` problem the range [start, end) meets (`plan`, `simulate`)."""
    for problem in like_problems(calendars, workload, peaks, start):
        if problem.start < end and problem.until > start:
            raise problem.error


def like_error(
    calendars: Iterable[Calendar], workload: Workload, peaks: Peaks, now: int
) -> tuple[ScalerError | None, int | None]:
    """(the error at `now`, the instant it ends), or (None, the instant one begins); None
    as instant: no change ahead from `like` events."""
    problems = like_problems(calendars, workload, peaks, now)
    active = [p for p in problems if p.start <= now < p.until]
    if active:
        first = min(active, key=lambda p: (p.start, p.until))
        return first.error, max(p.until for p in active)
    ahead = [p.start for p in problems if p.start > now]
    return None, min(ahead) if ahead else None


def derivations(
    calendars: Iterable[Calendar], workload: Workload, peaks: Peaks, now: int
) -> list[Derivation]:
    """How each `like` event not over sizes this workload, in calendar order."""
    found: list[Derivation] = []
    for calendar, event, scale in _likes(calendars, workload, now):
        ref = scale.like
        assert ref is not None
        peak = None if peaks is None else peaks.get(ref)
        state: PeakState = "pending" if peak is None else peak.state
        growth = format_number(scale.amount)
        replicas = _amount(scale, workload, peaks)
        if peak is not None and peak.value is not None:
            text = f"{format_number(peak.value)} at peak during {ref.event} x {growth} = {replicas}"
        else:
            if peaks is None:
                why = "no --prometheus"
            elif state == "none":
                why = f"no history during {ref.event}"
            elif peak is not None and peak.error:  # failing, or a window not over yet
                said = "unknown" if state == "failing" else state
                why = f"peak during {ref.event} {said}: {peak.error}"
            else:
                why = f"peak during {ref.event} pending (asking Prometheus)"
            other = scale.otherwise
            if other is None:
                text = f"{why}; no otherwise"
            elif replicas is None:
                text = f"{why}; otherwise {other.kind} {format_number(other.amount)} does not "
                text += "apply (missing metadata)"
            else:
                text = f"{why}; otherwise {other.kind} {format_number(other.amount)} = {replicas}"
        found.append(
            Derivation(
                calendar=calendar.name,
                event=event.name,
                like=ref.event,
                state=state,
                peak=None if peak is None else peak.value,
                growth=scale.amount,
                replicas=replicas,
                text=text,
            )
        )
    return found
