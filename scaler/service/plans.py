"""Per-workload timelines, so an RPC is a dictionary lookup and a bisect.

A ScaledObject is identified by (namespace, name, metadata): KEDA sends the same metadata on
every call, so the metadata is parsed once and the workload's value is precomputed as sorted
change points over a window around now. Timelines are rebuilt when the calendars change
(in the background, and on first use) and when the clock nears the end of their window. The
calendars' expansion over the window is shared by all workloads of one snapshot.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from scaler.calendar.evaluation import missing_key, occurrences, plan, reach
from scaler.calendar.model import Calendar, Occurrence
from scaler.calendar.workload import Workload, parse_metadata
from scaler.errors import CalendarUnavailable, MetadataError, ScalerError
from scaler.sources.store import CalendarStore, Snapshot

__all__ = ["PlanCache", "Timeline", "WorkloadKey"]

log = logging.getLogger("scaler.service")

WINDOW_BEFORE = 3600  # seconds of history kept in a timeline (clock steps back a little)
WINDOW_AFTER = 8 * 86400  # a timeline covers the next 8 days...
REFRESH_BEFORE_END = 86400  # ...and is rebuilt once less than a day of it is left
SHARED_REACH = 86400  # expansion margin shared by all workloads; larger leads expand alone
FORGET_AFTER = 3600  # workloads not asked about for this long are dropped

_ANY = Workload(namespace="", name="")  # a workload with no minimums of its own

WorkloadKey = tuple[str, str, frozenset[tuple[str, str]]]


@dataclass(slots=True)
class Timeline:
    """One workload's answer over a window, or the error it gets."""

    workload: Workload | None
    error: ScalerError | None = None
    version: int = -1  # snapshot version it was built from
    valid_from: int = 0
    valid_until: int = 0  # rebuild at or after this instant
    times: list[int] = field(default_factory=list)  # change points, ascending
    values: list[int] = field(default_factory=list)
    last_seen: float = 0.0

    def value(self, now: float) -> int:
        i = bisect.bisect_right(self.times, now) - 1
        return self.values[i] if i >= 0 else 0

    def next_activity_change(self, now: float) -> int | None:
        """The first instant after `now` where value > 0 flips; None: not within the window."""
        active = self.value(now) > 0
        for i in range(bisect.bisect_right(self.times, now), len(self.times)):
            if (self.values[i] > 0) != active:
                return self.times[i]
        return None


@dataclass(slots=True)
class _Expansion:
    version: int
    start: int
    end: int
    by_calendar: dict[str, list[Occurrence]]


class PlanCache:
    def __init__(self, store: CalendarStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._timelines: dict[WorkloadKey, Timeline] = {}
        self._expansion: _Expansion | None = None
        self._changed = asyncio.Event()  # set and replaced on every snapshot swap
        self._rebuild_task: asyncio.Task[None] | None = None
        store.subscribe(self._on_swap)

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def key(namespace: str, name: str, metadata: Mapping[str, str]) -> WorkloadKey:
        return (namespace, name, frozenset(metadata.items()))

    def workload(self, namespace: str, name: str, metadata: Mapping[str, str]) -> Workload:
        """Metadata syntax only (GetMetricSpec): never depends on calendar content."""
        return parse_metadata(namespace, name, metadata, known_calendars=set(self._store.names))

    def timeline(self, namespace: str, name: str, metadata: Mapping[str, str]) -> Timeline:
        key = self.key(namespace, name, metadata)
        now = self._clock()
        entry = self._timelines.get(key)
        if entry is None:
            try:
                workload = self.workload(namespace, name, metadata)
            except MetadataError as exc:
                entry = Timeline(workload=None, error=exc)
                entry.version = self._store.snapshot.version
                entry.valid_until = 2**62
            else:
                entry = Timeline(workload=workload)
            self._timelines[key] = entry
        entry.last_seen = now
        if entry.workload is not None and (
            entry.version != self._store.snapshot.version
            or not entry.valid_from <= now < entry.valid_until
        ):
            self._build(entry, self._store.snapshot, int(now))
        return entry

    def seen(self, within: float = FORGET_AFTER) -> list[Timeline]:
        """Workloads asked about recently (status page, metrics)."""
        cutoff = self._clock() - within
        return [t for t in self._timelines.values() if t.last_seen >= cutoff]

    def last_metadata(self, namespace: str, name: str) -> dict[str, str]:
        """The metadata KEDA sent most recently for this ScaledObject ({} if never seen)."""
        latest: tuple[float, dict[str, str]] = (-1.0, {})
        for (ns, n, metadata), timeline in self._timelines.items():
            if ns == namespace and n == name and timeline.last_seen > latest[0]:
                latest = (timeline.last_seen, dict(metadata))
        return latest[1]

    def changed(self) -> asyncio.Event:
        """An event set at the next snapshot swap (take it before reading, then wait)."""
        return self._changed

    # -- building --------------------------------------------------------------------------

    def _shared(self, snapshot: Snapshot, start: int, end: int) -> _Expansion:
        exp = self._expansion
        if (
            exp is None
            or exp.version != snapshot.version
            or not (exp.start <= start and end <= exp.end)
        ):
            # One expansion serves every build for the next day, not just this second.
            begin, finish = start, end + REFRESH_BEFORE_END
            by_calendar = {}
            for name, calendar in snapshot.calendars.items():
                if calendar is None:
                    continue
                before, after = reach([calendar], _ANY)
                by_calendar[name] = occurrences(
                    [calendar], begin, finish,
                    before=before + SHARED_REACH, after=after + SHARED_REACH,
                )  # fmt: skip
            exp = self._expansion = _Expansion(snapshot.version, begin, finish, by_calendar)
        return exp

    def _build(self, entry: Timeline, snapshot: Snapshot, now: int) -> None:
        workload = entry.workload
        assert workload is not None
        names = workload.calendars or tuple(snapshot.calendars)
        entry.version = snapshot.version
        entry.times, entry.values = [], []
        missing = snapshot.missing(names)
        if missing:
            entry.error = CalendarUnavailable(missing)
            entry.valid_from, entry.valid_until = 0, 2**62  # until the next swap
            return
        calendars: list[Calendar] = snapshot.loaded(names)
        problem = missing_key(calendars, workload, now)
        if problem is not None:
            entry.error = problem[0]
            entry.valid_from = 0
            entry.valid_until = 2**62 if problem[1] is None else problem[1]
            return
        entry.error = None
        start, end = now - WINDOW_BEFORE, now + WINDOW_AFTER
        expanded: list[Occurrence] | None = None
        # Each calendar's shared expansion reaches SHARED_REACH beyond its own events' reach.
        # A workload's minimums add at most lead + rampUp (before) and rampDown (after) to an
        # event's reach, so the shared one suffices when those fit in the margin. (Comparing
        # with the largest reach over all calendars is not enough: one calendar's long lead
        # would hide occurrences missing from another calendar's expansion.)
        if (
            workload.lead_time + workload.ramp_up <= SHARED_REACH
            and workload.ramp_down <= SHARED_REACH
        ):
            exp = self._shared(snapshot, start, end)
            expanded = [o for name in names for o in exp.by_calendar.get(name, ())]
        timeline = plan(calendars, workload, start, end, with_events=False, expanded=expanded)
        entry.times = [p.at for p in timeline.points]
        entry.values = [p.value for p in timeline.points]
        entry.valid_from = start
        entry.valid_until = end - REFRESH_BEFORE_END
        # A missing key may start to matter when a targeted event is added later: the next
        # swap rebuilds. Nothing else changes the answer inside the window.

    # -- reacting to reloads ---------------------------------------------------------------

    def _on_swap(self, snapshot: Snapshot) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self._rebuild_task is None or self._rebuild_task.done():
            try:
                self._rebuild_task = asyncio.get_running_loop().create_task(self._rebuild_all())
            except RuntimeError:  # no loop (CLI, tests): timelines rebuild on first use
                self._rebuild_task = None

    async def _rebuild_all(self) -> None:
        """Rebuild every known timeline after a swap, yielding between them so RPCs flow."""
        while True:
            version = self._store.snapshot.version
            cutoff = self._clock() - FORGET_AFTER
            for key, entry in list(self._timelines.items()):
                if entry.last_seen < cutoff:
                    self._timelines.pop(key, None)
                    continue
                if entry.workload is not None and entry.version != version:
                    try:
                        self._build(entry, self._store.snapshot, int(self._clock()))
                    except Exception:  # never let one workload stop the others
                        log.exception(
                            "rebuilding a timeline failed", extra={"workload": entry.workload.ref}
                        )
                    await asyncio.sleep(0)
            if self._store.snapshot.version == version:
                return
