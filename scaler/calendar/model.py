"""The calendar as values: what the parsers produce and evaluation reads.

All instants are whole epoch seconds and all durations whole seconds (see timefmt). Defaults
are resolved at parse time, so an Event carries the timing it will use unless a workload asks
for more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Protocol

__all__ = [
    "MAX_REPLICAS",
    "Calendar",
    "Event",
    "Occurrence",
    "Once",
    "Reference",
    "Scale",
    "Schedule",
    "Target",
    "Timing",
    "in_range",
]

ScaleKind = Literal["replicas", "factor", "load", "like"]

# Kubernetes replica counts are int32: no demand is larger, whatever the arithmetic says.
MAX_REPLICAS = 2**31 - 1


def in_range(value: Decimal) -> bool:
    """A finite decimal of sane magnitude: 0, or between 1e-9 and 1e15.

    Exact arithmetic on `1e999999999` would take forever; no real scale or capacity is
    outside this range, so such numbers are rejected as input errors instead.
    """
    return value.is_finite() and (value == 0 or -9 <= value.adjusted() <= 15)


@dataclass(frozen=True, slots=True)
class Reference:
    """The earlier one-off event a `like` scale is sized from (SPEC section 9).

    Its name and window [start, end) are all a peak depends on (with the workload's history
    query), so a Reference is also the key of a peak: two calendars naming the same window get
    the same peak.
    """

    event: str
    start: int
    end: int  # exclusive


@dataclass(frozen=True, kw_only=True, slots=True)
class Scale:
    kind: ScaleKind
    amount: Decimal  # exact, as written: 1.1 * 100 is 110; for `like`: the growth
    like: Reference | None = None  # kind "like" only: the event whose peak is the base
    otherwise: Scale | None = None  # kind "like" only: for workloads whose peak is not there


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    namespace: str | None = None  # shell-style glob; None matches any
    name: str | None = None  # shell-style glob; None matches any
    labels: Mapping[str, str] = field(default_factory=dict)  # all pairs must be present
    scale: Scale | None = None  # overrides the event's scale for workloads this entry matches


@dataclass(frozen=True, kw_only=True, slots=True)
class Timing:
    lead_time: int = 0  # full scale from this long before start
    ramp_up: int = 0  # ramp before the lead point
    ramp_down: int = 0  # ramp after end
    ramp_steps: int = 5


class Schedule(Protocol):
    """When an event happens. One-off events, cron rules and iCalendar rules implement it."""

    def overlapping(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """Occurrences (start, end) with start < `end` and end > `start`, in start order."""
        ...

    @property
    def last_end(self) -> int | None:
        """End of the last occurrence; None when the rule never ends."""
        ...


@dataclass(frozen=True, slots=True)
class Once:
    """A one-off event."""

    start: int
    end: int  # exclusive, > start

    def overlapping(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        if self.start < end and self.end > start:
            yield (self.start, self.end)

    @property
    def last_end(self) -> int | None:
        return self.end


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    name: str
    line: int  # where the event starts in its file, for messages
    scale: Scale | None  # None only when every target carries its own scale
    targets: tuple[Target, ...] = ()  # empty: every workload on the calendar
    timing: Timing = Timing()  # event's own values, else the calendar defaults, else built-ins
    schedule: Schedule
    disabled: bool = False  # kept in the file, never applied


@dataclass(frozen=True, kw_only=True, slots=True)
class Calendar:
    name: str  # the source's name (`--calendar NAME=...`)
    origin: str  # file name or URL, for messages
    events: tuple[Event, ...]
    ignored: tuple[str, ...] = ()  # iCalendar VEVENTs that are not sales, for `validate`


@dataclass(frozen=True, slots=True)
class Occurrence:
    event: Event
    start: int
    end: int
