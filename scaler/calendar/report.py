"""Did we make it? Each past occurrence's floor against the replicas history says ran (SPEC 9).

Pure: the caller runs the history query and passes its samples in as (instant, value) pairs;
nothing here reads the clock (`now` is an argument) or Prometheus. Two grids of 60 s: one from
the start of the ramp S-L-R, on which `reached` is the first instant with Q >= F, and one from
the start S, on which `peak` is taken as section 9 takes P. They coincide when L+R is a whole
number of minutes; `Occasion.grids_differ` tells the caller whether a second query is needed.

An occurrence still in progress is judged on what has happened: instants after `now` are not
looked at (Prometheus would answer them from its 5-minute lookback, i.e. with a stale sample).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scaler.calendar.evaluation import demand, effective_timing, occurrences, reach, value_at
from scaler.calendar.history import Peaks
from scaler.calendar.model import Calendar
from scaler.calendar.timefmt import format_instant
from scaler.calendar.workload import Workload

__all__ = ["STEP", "EventResult", "Occasion", "Report", "judge", "occasions"]

STEP = 60  # seconds between the instants looked at (the history query's step)

Samples = Iterable[tuple[int, float]]  # (instant, value of the history query)


@dataclass(frozen=True, kw_only=True, slots=True)
class Occasion:
    """One occurrence to judge, with what the calendar asked of the workload."""

    event: str
    start: int  # S
    end: int  # E, exclusive
    ramp_from: int  # S-L-R with the workload's own minimums: where the ramp begins
    floor: int  # F: the workload's value at S, all events together
    until: int  # instants at or after this one are not looked at: min(E, now + 1)

    @property
    def grids_differ(self) -> bool:
        return (self.start - self.ramp_from) % STEP != 0


@dataclass(frozen=True, kw_only=True, slots=True)
class EventResult:
    event: str
    start: int
    end: int
    floor: int
    reached: int | None  # first instant of the ramp grid with Q >= floor; None: never
    ready_at_start: bool
    late_seconds: int | None  # 0 when ready, reached - start when later, None when never
    peak: float | None  # the largest Q on the grid from S within [S, E); None: no sample
    in_progress: bool  # E was after `now`: judged on the part that has happened

    def to_json(self) -> dict[str, object]:
        return {
            "event": self.event,
            "start": format_instant(self.start),
            "end": format_instant(self.end),
            "floor": self.floor,
            "reached": None if self.reached is None else format_instant(self.reached),
            "ready_at_start": self.ready_at_start,
            "late_seconds": self.late_seconds,
            "peak": _number(self.peak),
        }


@dataclass(frozen=True, kw_only=True)
class Report:
    workload: str  # "namespace/name"
    start: int
    end: int  # exclusive
    events: tuple[EventResult, ...]  # in start order

    @property
    def ok(self) -> bool:
        """Every event was ready at its start (also when there was none)."""
        return all(e.ready_at_start for e in self.events)

    def to_json(self) -> dict[str, object]:
        return {
            "workload": self.workload,
            "from": format_instant(self.start),
            "to": format_instant(self.end),
            "events": [e.to_json() for e in self.events],
        }


def _number(value: float | None) -> int | float | None:
    """Replicas read back from Prometheus are whole numbers; print them as such."""
    if value is None or not value.is_integer():
        return value
    return int(value)


def occasions(
    calendars: Sequence[Calendar],
    workload: Workload,
    start: int,
    end: int,
    now: int,
    *,
    peaks: Peaks = None,
) -> list[Occasion]:
    """The occurrences with S in [start, end) and S <= now whose own value for this workload
    is > 0, in start order (ties: by end, then name). `peaks` size `like` events (history)."""
    before, after = reach(calendars, workload)
    found = []
    for occ in occurrences(calendars, start, end, before=before, after=after):
        if not (start <= occ.start < end and occ.start <= now):
            continue
        if not demand(occ.event, workload, peaks):
            continue
        timing = effective_timing(occ.event, workload)
        found.append(
            Occasion(
                event=occ.event.name,
                start=occ.start,
                end=occ.end,
                ramp_from=occ.start - timing.lead_time - timing.ramp_up,
                floor=value_at(calendars, workload, occ.start, peaks),
                until=min(occ.end, now + 1),
            )
        )
    return found


def _on_grid(samples: Samples, origin: int, until: int) -> list[tuple[int, float]]:
    return sorted((t, v) for t, v in samples if origin <= t < until and (t - origin) % STEP == 0)


def judge(occasion: Occasion, ramp: Samples, event: Samples | None = None) -> EventResult:
    """The result of one occasion from the history query's samples: `ramp` on the grid from
    `ramp_from`, `event` on the grid from `start` (None: the same samples, when the grids
    coincide). Samples off their grid or outside [grid start, until) are ignored."""
    if event is None and occasion.grids_differ:
        raise ValueError("the grids from S-L-R and from S differ: pass the samples from S too")
    ramp = list(ramp)
    o = occasion
    reached = next((t for t, v in _on_grid(ramp, o.ramp_from, o.until) if v >= o.floor), None)
    ready = reached is not None and reached <= o.start
    late = None if reached is None else max(0, reached - o.start)
    during = _on_grid(ramp if event is None else event, o.start, o.until)
    return EventResult(
        event=o.event,
        start=o.start,
        end=o.end,
        floor=o.floor,
        reached=reached,
        ready_at_start=ready,
        late_seconds=late,
        peak=max((v for _, v in during), default=None),
        in_progress=o.until < o.end,
    )
