"""Per-workload timelines, so an RPC is a dictionary lookup and a bisect.

A ScaledObject is identified by (namespace, name, metadata): KEDA sends the same metadata on
every call, so the metadata is parsed once and the workload's value is precomputed as sorted
change points over a window around now. Timelines are rebuilt when the calendars change
(in the background, and on first use) and when the clock nears the end of their window. The
calendars' expansion over the window is shared by all workloads of one snapshot.

Builds run in one worker thread, never on the event loop: a workload with a 31d lead on a
calendar with an event every minute takes about half a minute to build, and on the loop that
stalled every RPC and health check. A call waits for its workload's build a bounded time
(BUILD_WAIT), then gets UNAVAILABLE and the next call finds it built. What is remembered per
distinct metadata set is bounded in bytes (least recently used go first), so memory stays
bounded whatever KEDA sends.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, overload

from scaler.calendar.evaluation import (
    changed_events,
    concerns,
    missing_key,
    occurrences,
    plan,
    reach,
)
from scaler.calendar.history import Peaks, like_error, references
from scaler.calendar.model import Calendar, Event, Occurrence
from scaler.calendar.workload import Workload, check_size, parse_metadata
from scaler.errors import CalendarUnavailable, MetadataError, PlanPending, ScalerError
from scaler.history.peaks import readable_from
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
# Bytes remembered for distinct metadata sets, at most, in all (approximate: keys, values,
# a timeline's change points; an eighth of it for request encodings). A typical workload
# takes a few KB; the pod's memory limit is 256Mi.
REMEMBER_MAX_BYTES = 56 * 2**20
BUILD_WAIT = 1.0  # seconds a call waits for its workload's build (KEDA's HPA path: ~3 s for 3)
_ENTRY_BYTES = 400  # a Timeline, its Workload and the dict slots, roughly
_POINT_BYTES = 50  # one change point: an int in `times` (32) and two list slots
_PART_BYTES = 250  # a calendar's part of a timeline: the object, two lists, its dict slot

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A mapping that forgets its least recently used entries beyond `max_bytes` in all.

    Sizes are given by the caller (approximate); an entry larger than an eighth of the
    budget is not kept at all, so one request cannot flush everything else.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0  # sum of the sizes of the entries kept
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        item = self._data.get(key)
        if item is None:
            return None
        self._data.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Keep (or re-size) `key` as the most recently used entry."""
        self.pop(key)
        if size > self.max_bytes // 8:
            return
        self._data[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self._data.popitem(last=False)
            self.bytes -= dropped

    def pop(self, key: K) -> V | None:
        item = self._data.pop(key, None)
        if item is None:
            return None
        self.bytes -= item[1]
        return item[0]

    def items(self) -> Iterator[tuple[K, V]]:
        """A snapshot of the entries, least recently used first (safe to change meanwhile)."""
        return iter([(key, value) for key, (value, _) in self._data.items()])


def _key_bytes(key: WorkloadKey) -> int:
    namespace, name, metadata = key
    text = len(namespace) + len(name) + sum(len(k) + len(v) for k, v in metadata)
    return _ENTRY_BYTES + text + 190 * len(metadata)  # a tuple, two str headers, set slots


class _Worker:
    """One daemon thread that runs builds in order.

    Not a ThreadPoolExecutor: its threads are joined at interpreter exit, so a long build
    would hold up SIGTERM beyond Kubernetes' grace period. A queued build can be cancelled
    (Future.cancel) until it starts.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]]
        self._queue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[], V]) -> concurrent.futures.Future[V]:
        future: concurrent.futures.Future[V] = concurrent.futures.Future()
        self._queue.put((future, fn))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="timeline-builds", daemon=True
                )
                self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            try:
                future, fn = self._queue.get(timeout=60)
            except queue.Empty:  # idle: end (the next submit starts another)
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)


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
    # Each calendar's own plan over the window, which `times`/`values` merge by max: a reload
    # of one calendar rebuilds its part only. Empty when the timeline is one plan (headroom
    # triggers, `like` events with --prometheus) or an error.
    parts: dict[str, _Part] = field(default_factory=dict)

    def value(self, now: float) -> int:
        i = bisect.bisect_right(self.times, now) - 1
        return self.values[i] if i >= 0 else 0

    def steady(self, now: float) -> tuple[int, int]:
        """The instants [since, until) around `now`, within the window, over which the value
        is `value(now)`."""
        i = bisect.bisect_right(self.times, now)
        since = self.times[i - 1] if i > 0 else self.valid_from
        until = self.times[i] if i < len(self.times) else self.valid_until
        return max(since, self.valid_from), min(until, self.valid_until)

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
class _Part:
    """One calendar's plan for a workload over [start, end)."""

    calendar: Calendar  # held, so that `is` tells the calendar in force from a replaced one
    start: int
    end: int
    times: list[int]
    values: list[int]


def _merge(parts: list[_Part]) -> tuple[list[int], list[int]]:
    """The max of the parts' step functions (all start at the same instant), as change
    points: the plan of all their calendars together (a value is the max over occurrences).
    One pass over every part's changes in time order, the current max kept as it goes
    (looked for again only when the part holding it comes down)."""
    if len(parts) == 1:
        return parts[0].times, parts[0].values
    changes = sorted(
        (t, k, v)
        for k, part in enumerate(parts)
        for t, v in zip(part.times, part.values, strict=True)
    )
    current = [0] * len(parts)
    best = 0
    times: list[int] = []
    values: list[int] = []
    last = len(changes) - 1
    for i, (instant, k, value) in enumerate(changes):
        was, current[k] = current[k], value
        if value > best:
            best = value
        elif was == best and value < was:
            best = max(current)
        if (i == last or changes[i + 1][0] != instant) and (not values or values[-1] != best):
            times.append(instant)
            values.append(best)
    return times, values


@dataclass(frozen=True, slots=True)
class _Built:
    """What a timeline is rebuilt to (applied at once, on the event loop)."""

    version: int
    error: ScalerError | None
    times: list[int]
    values: list[int]
    valid_from: int
    valid_until: int
    parts: dict[str, _Part] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Building:
    future: concurrent.futures.Future[_Built]  # in the worker; cancelled if never started
    done: asyncio.Future[BaseException | None]  # set on the loop once applied: the error


class PlanCache:
    def __init__(
        self,
        store: CalendarStore,
        *,
        clock: Callable[[], float] = time.time,
        peaks: PeakBook | None = None,
        max_bytes: int = REMEMBER_MAX_BYTES,
        build_wait: float = BUILD_WAIT,
    ) -> None:
        self._store = store
        self._clock = clock
        self.peaks = peaks  # None: no --prometheus
        self._build_wait = build_wait
        self._timelines: _Lru[WorkloadKey, Timeline] = _Lru(max_bytes - max_bytes // 8)
        self._by_ref: _Lru[bytes, WorkloadKey] = _Lru(max_bytes // 8)  # by encoded request
        self._building: dict[WorkloadKey, _Building] = {}  # builds queued or running
        self._worker = _Worker()
        self._expansion: _Expansion | None = None
        # Per calendar name: (replaced, replacement, the events that differ), once worked out.
        self._changes: dict[str, tuple[Calendar, Calendar, list[Event]]] = {}
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

    @property
    def version(self) -> int:
        """The snapshot version timelines are built from now: it changes on every swap."""
        return self._store.snapshot.version

    def remembered(self) -> tuple[int, int]:
        """(entries, approximate bytes) remembered for distinct metadata sets and requests."""
        return (
            len(self._timelines) + len(self._by_ref),
            self._timelines.bytes + self._by_ref.bytes,
        )

    def timeline(self, namespace: str, name: str, metadata: Mapping[str, str]) -> Timeline:
        """The workload's timeline, built at once in the caller's thread if it needs it (the
        command line, the web layer's tests); RPCs use `timeline_of`, which never builds on
        the event loop."""
        key, entry = self._entry(namespace, name, metadata)
        now = self._clock()
        entry.last_seen = now
        if self._stale(entry, now):
            assert entry.workload is not None
            built = self._compute(entry.workload, self._store.snapshot, int(now), entry.parts)
            self._apply(key, entry, built)
        return entry

    async def timeline_of(self, ref: ScaledObjectRef, *, patient: bool = False) -> Timeline:
        """`timeline` for a request's ScaledObjectRef, found by the message's deterministic
        encoding (map keys sorted): a third of the cost of a frozenset of its metadata, and
        the same entry. A build runs in the worker thread; the call waits for it up to
        `build_wait` seconds (`patient`: as long as it takes), then raises PlanPending (the
        build goes on)."""
        raw = ref.SerializeToString(deterministic=True)
        key = self._by_ref.get(raw)
        entry = None if key is None else self._timelines.get(key)
        if key is None or entry is None:
            key, entry = self._entry(ref.namespace, ref.name, ref.scalerMetadata)
            if self._timelines.get(key) is entry:  # else it is not remembered at all
                # Counts the key too: it outlives the timeline's entry if that goes first.
                self._by_ref.put(raw, key, len(raw) + _key_bytes(key))
        now = self._clock()
        entry.last_seen = now
        if self._stale(entry, now):
            await self._wait_built(key, entry, now, None if patient else self._build_wait)
        return entry

    def _entry(
        self, namespace: str, name: str, metadata: Mapping[str, str]
    ) -> tuple[WorkloadKey, Timeline]:
        """The remembered entry for this metadata set, parsed (and remembered) if new."""
        key = self.key(namespace, name, metadata)
        entry = self._timelines.get(key)
        if entry is not None:
            return key, entry
        try:
            check_size(metadata)
        except MetadataError as exc:  # not remembered: its size is the problem
            return key, Timeline(workload=None, error=exc, valid_until=2**62)
        try:
            workload = self.workload(namespace, name, metadata)
        except MetadataError as exc:  # remembered too: KEDA asks again every poll
            # A copy without the traceback, whose frames hold the whole request.
            error = MetadataError(exc.key, str(exc))
            entry = Timeline(workload=None, error=error, valid_until=2**62)
            entry.version = self._store.snapshot.version
        else:
            entry = Timeline(workload=workload)
        self._timelines.put(key, entry, _key_bytes(key))
        return key, entry

    def _stale(self, entry: Timeline, now: float) -> bool:
        return entry.workload is not None and (
            entry.version != self._store.snapshot.version
            or not entry.valid_from <= now < entry.valid_until
        )

    def seen(self, within: float = FORGET_AFTER) -> list[Timeline]:
        """Workloads asked about recently (status page, metrics)."""
        cutoff = self._clock() - within
        return [t for _, t in self._timelines.items() if t.last_seen >= cutoff]

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
        served = workload.served  # a headroom trigger: the peaks of the workload it serves
        return self.peaks.peaks(served, references(calendars, served, now))

    def changed(self) -> asyncio.Event:
        """An event set at the next snapshot swap (take it before reading, then wait)."""
        return self._changed

    # -- building --------------------------------------------------------------------------

    @overload
    def _shared(self, snapshot: Snapshot, start: int, end: int) -> _Expansion: ...

    @overload
    def _shared(
        self, snapshot: Snapshot, start: int, end: int, *, replace: bool
    ) -> _Expansion | None: ...

    def _shared(
        self, snapshot: Snapshot, start: int, end: int, *, replace: bool = True
    ) -> _Expansion | None:
        """The calendars' shared expansion covering [start, end); `replace=False`: None
        rather than a new one when the one kept does not cover it."""
        exp = self._expansion
        kept: _Expansion | None = None  # the expansion whose unchanged calendars are reused
        if exp is not None and exp.start <= start and end <= exp.end:
            if exp.version == snapshot.version:
                return exp
            # A reload: same window, so calendars that did not change keep their expansion
            # (10 files of 10,000 events: 2.5 s).
            kept, begin, finish = exp, exp.start, exp.end
        else:
            if not replace:
                return None
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

    def _apply(self, key: WorkloadKey, entry: Timeline, built: _Built) -> None:
        entry.version, entry.error = built.version, built.error
        entry.times, entry.values = built.times, built.values
        entry.valid_from, entry.valid_until = built.valid_from, built.valid_until
        entry.parts = built.parts
        if self._timelines.get(key) is entry:  # its size changed with its change points
            points = len(built.times)
            if len(built.parts) > 1:  # one part shares the timeline's lists
                points += sum(len(part.times) for part in built.parts.values())
            size = _key_bytes(key) + _POINT_BYTES * points + _PART_BYTES * len(built.parts)
            self._timelines.put(key, entry, size)

    async def _wait_built(
        self, key: WorkloadKey, entry: Timeline, now: float, wait: float | None
    ) -> None:
        """Have `entry` built in the worker (one build per key at a time) and wait for it up
        to `wait` seconds (None: no limit); PlanPending when it is not done by then."""
        assert entry.workload is not None
        while True:
            building = self._building.get(key)
            if building is None:
                building = self._submit(key, entry, int(now))
            await asyncio.wait({building.done}, timeout=wait)
            if not building.done.done():
                # Not started yet: drop it, so that builds nobody waits for do not pile up
                # in the queue (the next call asks again); once running, it goes on.
                building.future.cancel()
                raise PlanPending(entry.workload.ref, wait or 0.0)
            if not building.future.cancelled():
                break
            if wait is not None:  # another call gave up on it
                raise PlanPending(entry.workload.ref, wait)
        error = building.done.result()
        if error is not None:
            raise error

    def _submit(self, key: WorkloadKey, entry: Timeline, now: int) -> _Building:
        assert entry.workload is not None
        loop = asyncio.get_running_loop()
        workload, snapshot, compute = entry.workload, self._store.snapshot, self._compute
        prior = entry.parts  # replaced whole by _apply, never changed in place
        future = self._worker.submit(lambda: compute(workload, snapshot, now, prior))
        building = self._building[key] = _Building(future, loop.create_future())

        def finish(_: concurrent.futures.Future[_Built]) -> None:  # on the loop
            if self._building.get(key) is building:
                del self._building[key]
            error: BaseException | None = None
            if not future.cancelled():
                error = future.exception()
                if error is not None:
                    log.error("building a timeline failed", exc_info=error,
                              extra={"workload": workload.ref})  # fmt: skip
                elif future.result().version >= entry.version:  # else a newer one is applied
                    self._apply(key, entry, future.result())
            building.done.set_result(error)

        def schedule(_: concurrent.futures.Future[_Built]) -> None:  # in the worker or here
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(finish, future)

        future.add_done_callback(schedule)
        return building

    def _compute(
        self, workload: Workload, snapshot: Snapshot, now: int,
        prior: Mapping[str, _Part] | None = None,
    ) -> _Built:  # fmt: skip
        """A timeline's content, without touching any timeline: safe in a worker thread.
        `prior`: the parts it has now; those of unchanged calendars are kept when their
        window still serves `now`."""
        names = workload.calendars or tuple(snapshot.calendars)
        calendars: list[Calendar] = snapshot.loaded(names)
        # A max over calendars, kept per calendar: not for headroom (W - V) or --prometheus.
        parted = workload.headroom_for is None and self.peaks is None and bool(calendars)
        missing = snapshot.missing(names)
        if not missing:
            return self._planned(workload, snapshot, names, calendars, parted, now, prior)
        # Until the next swap. The loaded calendars' parts are planned meanwhile (kept from
        # a build without errors only, as always): when the last of ten calendars of 10,000
        # events arrives at start-up, its part is planned alone, not all ten (~0.7 s).
        parts: dict[str, _Part] = {}
        if parted:
            early = self._planned(workload, snapshot, names, calendars, parted, now, prior)
            parts = early.parts if early.error is None else {}
        return _Built(snapshot.version, CalendarUnavailable(missing), [], [], 0, 2**62, parts)

    def _planned(
        self, workload: Workload, snapshot: Snapshot, names: Sequence[str],
        calendars: list[Calendar], parted: bool, now: int, prior: Mapping[str, _Part] | None,
    ) -> _Built:  # fmt: skip
        """`_compute` over `calendars`, every one loaded."""
        version = snapshot.version
        # The parts whose calendar is the same, or changed in no event of this workload: a
        # part is kept only from a build without errors, so their calendars still have no
        # missing keys (time only ends the events an error is about).
        same: dict[str, _Part] = {}
        for calendar in calendars if parted else ():
            old = (prior or {}).get(calendar.name)
            if old is not None and (
                old.calendar is calendar or not self._concerned(old.calendar, calendar, workload)
            ):
                same[calendar.name] = old
        problem = missing_key([c for c in calendars if c.name not in same], workload, now)
        if problem is not None:
            until = 2**62 if problem[1] is None else problem[1]
            return _Built(version, problem[0], [], [], 0, until)
        peaks = self.peaks_for(workload, calendars, now)
        like_problem, like_change = like_error(calendars, workload, peaks, now)
        if self.peaks is not None:  # a window that can be read later: rebuild (and ask) then
            readable = readable_from(references(calendars, workload, now), now)
            if readable is not None:
                like_change = readable if like_change is None else min(like_change, readable)
        if like_problem is not None:  # until it ends, a peak arrives (a republish), 2 days
            until = min(like_change or 2**62, now + WINDOW_AFTER - REFRESH_BEFORE_END)
            return _Built(version, like_problem, [], [], 0, until)
        start, end = now - WINDOW_BEFORE, now + WINDOW_AFTER
        window_kept = False
        if parted and prior:
            kept = next(iter(prior.values()))
            if kept.start <= now < kept.end - REFRESH_BEFORE_END:  # still serves now: reuse
                start, end, window_kept = kept.start, kept.end, True
        expanded: list[Occurrence] | None = None
        # Each calendar's shared expansion reaches SHARED_REACH beyond its own events' reach.
        # A workload's minimums add at most lead + rampUp (before) and rampDown (after) to an
        # event's reach, so the shared one suffices when those fit in the margin. (Comparing
        # with the largest reach over all calendars is not enough: one calendar's long lead
        # would hide occurrences missing from another calendar's expansion.) A headroom
        # trigger's value rises headroomLead earlier still.
        shared = (
            workload.lead_time + workload.ramp_up + workload.headroom_reach <= SHARED_REACH
            and workload.ramp_down <= SHARED_REACH
        )
        parts: dict[str, _Part] = {}
        if parted:
            exp: _Expansion | None = None
            looked = not shared
            for calendar in calendars:
                old = same.get(calendar.name)
                if old is not None and (old.start, old.end) == (start, end):
                    parts[calendar.name] = (
                        old if old.calendar is calendar
                        else _Part(calendar, start, end, old.times, old.values)
                    )  # fmt: skip
                    continue
                if not looked:
                    # A kept (older) window uses the shared expansion only if it covers it:
                    # replacing that for one workload would make the others expand anew.
                    exp, looked = self._shared(snapshot, start, end, replace=not window_kept), True
                one = plan(
                    [calendar], workload, start, end, with_events=False, peaks=peaks,
                    expanded=None if exp is None else exp.by_calendar.get(calendar.name, []),
                )  # fmt: skip
                parts[calendar.name] = _Part(
                    calendar, start, end, [p.at for p in one.points], [p.value for p in one.points]
                )
            times, values = _merge(list(parts.values()))
        else:
            if shared:
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
        return _Built(version, None, times, values, start, until, parts)

    def _concerned(self, old: Calendar, new: Calendar, workload: Workload) -> bool:
        """Whether the workload's values from `new` may differ from those from `old`: some
        event that changed between them concerns it. A GitOps change touches a few events,
        most workloads none of them: their part is kept as it is, not planned again."""
        known = self._changes.get(new.name)
        if known is None or known[0] is not old or known[1] is not new:
            known = (old, new, changed_events(old, new))
            self._changes[new.name] = known  # one per calendar: the last replacement
        return concerns(known[2], workload)

    # -- reacting to reloads ---------------------------------------------------------------

    def _on_swap(self, snapshot: Snapshot) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if self._rebuild_task is None or self._rebuild_task.done():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (CLI, tests): timelines rebuild on first use
                self._rebuild_task = None
                return
            self._rebuild_task = loop.create_task(self._rebuild_all())

    async def close(self) -> None:
        """The server stops: the rebuild in progress is cancelled and ends before the loop
        does (a task left pending would be destroyed unstarted)."""
        task, self._rebuild_task = self._rebuild_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _rebuild_all(self) -> None:
        """Rebuild every known timeline after a swap, one after the other, in the worker.

        On the event loop, each build (~0.1 s per workload at 100,000 events) held up every
        RPC: one call takes several loop turns, so calls took up to ~1.5 s during a reload.
        In a thread, the loop gets the GIL back within the switch interval (5 ms). A call
        for a workload not rebuilt yet has its build done next (never a stale value).
        """
        while True:
            version = self._store.snapshot.version
            cutoff = self._clock() - FORGET_AFTER
            for key, entry in self._timelines.items():
                if entry.last_seen < cutoff:
                    self._timelines.pop(key)  # its request encodings then miss: parsed anew
                elif entry.workload is not None and entry.version != version:
                    try:
                        await self._wait_built(key, entry, self._clock(), None)
                    except Exception:  # logged by the build; never stop the others
                        continue
            if self._store.snapshot.version == version:
                self._changes.clear()  # every timeline has its parts: let replaced ones go
                return
