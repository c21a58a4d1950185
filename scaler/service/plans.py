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
from typing import Protocol

from scaler.calendar.evaluation import missing_key, occurrences, plan, reach
from scaler.calendar.history import Peaks, like_error, references
from scaler.calendar.model import Calendar, Occurrence
from scaler.calendar.workload import Workload, parse_metadata
from scaler.errors import CalendarUnavailable, MetadataError, ScalerError
from scaler.service.peaks import PeakBook
from scaler.sources.store import CalendarStore, Snapshot

__all__ = ["PlanCache", "Timeline", "WorkloadKey"]

log = logging.getLogger("scaler.service")

WINDOW_BEFORE = 3600  # seconds of history kept in a timeline (clock steps back a little)
# A timeline covers the next 3 days and is rebuilt once less than a day of it is left (daily).
# Its cost grows with the days covered (every occurrence's steps): at 100,000 events a
# workload's 8-day timeline took ~0.3 s to build, on the event loop.
WINDOW_AFTER = 3 * 86400
REFRESH_BEFORE_END = 86400
SHARED_REACH = 86400  # expansion margin shared by all workloads; larger leads expand alone
FORGET_AFTER = 3600  # workloads not asked about for this long are dropped

_ANY = Workload(namespace="", name="")  # a workload with no minimums of its own

WorkloadKey = tuple[str, str, frozenset[tuple[str, str]]]
_BY_REF_MAX = 10_000  # distinct request encodings remembered (a cluster has far fewer triggers)


class ScaledObjectRef(Protocol):
    """What `timeline_of` reads of KEDA's ScaledObjectRef message."""

    namespace: str
    name: str

    @property
    def scalerMetadata(self) -> Mapping[str, str]: ...  # the proto field

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes: ...


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
    sources: dict[str, Calendar] = field(default_factory=dict)  # what by_calendar expanded


@dataclass(frozen=True, slots=True)
class _Built:
    """What a timeline is rebuilt to (applied at once, on the event loop)."""

    version: int
    error: ScalerError | None
    times: list[int]
    values: list[int]
    valid_from: int
    valid_until: int


class PlanCache:
    def __init__(
        self,
        store: CalendarStore,
        *,
        clock: Callable[[], float] = time.time,
        peaks: PeakBook | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self.peaks = peaks  # None: no --prometheus
        self._timelines: dict[WorkloadKey, Timeline] = {}
        self._by_ref: dict[bytes, Timeline] = {}  # the same entries, by encoded request
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
        return self._fresh(entry, now)

    def timeline_of(self, ref: ScaledObjectRef) -> Timeline:
        """`timeline` for a request's ScaledObjectRef, found by the message's deterministic
        encoding (map keys sorted): a third of the cost of a frozenset of its metadata, and
        the same entry."""
        raw = ref.SerializeToString(deterministic=True)
        entry = self._by_ref.get(raw)
        if entry is None:
            entry = self.timeline(ref.namespace, ref.name, ref.scalerMetadata)
            if len(self._by_ref) >= _BY_REF_MAX:
                self._by_ref.clear()
            self._by_ref[raw] = entry
            return entry
        return self._fresh(entry, self._clock())

    def _fresh(self, entry: Timeline, now: float) -> Timeline:
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

    def peaks_for(self, workload: Workload, calendars: list[Calendar], now: int) -> Peaks:
        """This workload's peaks for its `like` events not over; unknown ones are asked for."""
        if self.peaks is None:
            return None
        return self.peaks.peaks(workload, references(calendars, workload, now))

    def changed(self) -> asyncio.Event:
        """An event set at the next snapshot swap (take it before reading, then wait)."""
        return self._changed

    # -- building --------------------------------------------------------------------------

    def _shared(self, snapshot: Snapshot, start: int, end: int) -> _Expansion:
        exp = self._expansion
        kept: _Expansion | None = None  # the expansion whose unchanged calendars are reused
        if exp is not None and exp.start <= start and end <= exp.end:
            if exp.version == snapshot.version:
                return exp
            # A reload: same window, so calendars that did not change keep their expansion
            # (10 files of 10,000 events: 2.5 s).
            kept, begin, finish = exp, exp.start, exp.end
        else:
            # One expansion serves every build for the next day, not just this second.
            begin, finish = start, end + REFRESH_BEFORE_END
        by_calendar, sources = {}, {}
        for name, calendar in snapshot.calendars.items():
            if calendar is None:
                continue
            sources[name] = calendar
            if kept is not None and kept.sources.get(name) is calendar:
                by_calendar[name] = kept.by_calendar[name]
                continue
            before, after = reach([calendar], _ANY)
            by_calendar[name] = occurrences(
                [calendar], begin, finish,
                before=before + SHARED_REACH, after=after + SHARED_REACH,
            )  # fmt: skip
        exp = self._expansion = _Expansion(snapshot.version, begin, finish, by_calendar, sources)
        return exp

    def _build(self, entry: Timeline, snapshot: Snapshot, now: int) -> None:
        assert entry.workload is not None
        self._apply(entry, self._compute(entry.workload, snapshot, now))

    @staticmethod
    def _apply(entry: Timeline, built: _Built) -> None:
        entry.version, entry.error = built.version, built.error
        entry.times, entry.values = built.times, built.values
        entry.valid_from, entry.valid_until = built.valid_from, built.valid_until

    def _compute(self, workload: Workload, snapshot: Snapshot, now: int) -> _Built:
        """A timeline's content, without touching any timeline: safe in a worker thread."""
        names = workload.calendars or tuple(snapshot.calendars)
        version = snapshot.version
        missing = snapshot.missing(names)
        if missing:  # until the next swap
            return _Built(version, CalendarUnavailable(missing), [], [], 0, 2**62)
        calendars: list[Calendar] = snapshot.loaded(names)
        problem = missing_key(calendars, workload, now)
        if problem is not None:
            until = 2**62 if problem[1] is None else problem[1]
            return _Built(version, problem[0], [], [], 0, until)
        peaks = self.peaks_for(workload, calendars, now)
        like_problem, like_change = like_error(calendars, workload, peaks, now)
        if like_problem is not None:  # until it ends, or a peak arrives (a republish)
            return _Built(version, like_problem, [], [], 0, like_change or 2**62)
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
        timeline = plan(
            calendars, workload, start, end, with_events=False, expanded=expanded, peaks=peaks
        )
        times = [p.at for p in timeline.points]
        values = [p.value for p in timeline.points]
        # A missing key may start to matter when a targeted event is added later: the next
        # swap rebuilds. Nothing else changes the answer inside the window.
        until = end - REFRESH_BEFORE_END
        if like_change is not None:  # an unknown peak starts to matter then: UNAVAILABLE
            until = min(until, like_change)
        return _Built(version, None, times, values, start, until)

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
        """Rebuild every known timeline after a swap, in a worker thread.

        On the event loop, each build (~0.1 s per workload at 100,000 events) held up every
        RPC: one call takes several loop turns, so calls took up to ~1.5 s during a reload.
        In a thread, the loop gets the GIL back within the switch interval (5 ms). A call for
        a workload not rebuilt yet still builds it at once, on the loop (never a stale value).
        """
        while True:
            version = self._store.snapshot.version
            cutoff = self._clock() - FORGET_AFTER
            for key, entry in list(self._timelines.items()):
                if entry.last_seen < cutoff:
                    self._timelines.pop(key, None)
                    self._by_ref.clear()  # it may hold the dropped entry
                    continue
                if entry.workload is not None and entry.version != version:
                    snapshot, now = self._store.snapshot, int(self._clock())
                    compute = self._compute
                    try:
                        built = await asyncio.to_thread(compute, entry.workload, snapshot, now)
                    except Exception:  # never let one workload stop the others
                        log.exception(
                            "rebuilding a timeline failed", extra={"workload": entry.workload.ref}
                        )
                        continue
                    if built.version > entry.version:  # else a call rebuilt it meanwhile
                        self._apply(entry, built)
            if self._store.snapshot.version == version:
                return
