"""Peaks of `like` events, looked up in Prometheus ahead of need and never twice once known.

The plan cache asks `peaks(workload, references)` whenever it builds a timeline: after every
calendar change and when a workload first asks. What is known comes back at once; what is not
is queued for background workers and comes back as pending. When a lookup settles, `on_change`
(the store's `republish`) makes every timeline rebuild and every open stream re-read, so
StreamIsActive sees the new value at once.

Known peaks never change (the referenced sale is over): they are kept in memory and in
`--state-dir/peaks.json`, written atomically and read at start, so a restart while Prometheus is
down still sizes the sale. "No history" is an answer too, but history can still arrive (a
backfill, a fixed kube-state-metrics): it is kept in memory only and asked again hourly. A failed
lookup is retried with exponential backoff (the client also retries each request a few times).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from scaler.calendar.history import Peak, Peaks
from scaler.calendar.model import Reference
from scaler.calendar.timefmt import format_instant
from scaler.calendar.workload import Workload
from scaler.errors import HistoryError
from scaler.history.peaks import STEP, not_over, peak_value
from scaler.history.prometheus import DEFAULT_QUERY, PrometheusClient, render_query
from scaler.sources.state import write_atomically

__all__ = ["PeakBook"]

log = logging.getLogger("scaler.history")

Key = tuple[str, int, int]  # (history query as sent, start, end) of the referenced window
_FORMAT = 1
_FILE = "peaks.json"
_NONE_RECHECK = 3600.0  # seconds before "no history" is asked again
# A failing lookup no timeline has asked about for this long (its event was removed, or its
# workload left) is not retried any more. Every timeline is rebuilt at least every 2 days.
_FORGET_AFTER = 3 * 86400.0


class PeakBook:
    def __init__(
        self,
        client: PrometheusClient,
        *,
        template: str = DEFAULT_QUERY,
        state_dir: Path | None = None,
        on_change: Callable[[], None] | None = None,
        workers: int = 2,
        retry_initial: float = 5.0,
        retry_max: float = 300.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.template = template
        self.on_change = on_change
        self._path = None if state_dir is None else state_dir / _FILE
        self._workers = max(1, workers)
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._clock = clock
        self._rng = rng or random.Random()
        self._known: dict[Key, Decimal] = {}
        self._none: dict[Key, float] = {}  # -> when Prometheus said so
        self._failing: dict[Key, tuple[str, int]] = {}  # -> (last error, failures in a row)
        self._queued: set[Key] = set()  # waiting, in flight or waiting to retry
        self._who: dict[Key, str] = {}  # "ns/name like event", for logs
        self._asked: dict[Key, float] = {}  # when a timeline last needed it (unknown ones)
        self.lookups: dict[str, int] = {"known": 0, "none": 0, "error": 0}  # answers so far
        self._queue: asyncio.Queue[Key] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._early: list[Key] = []  # asked for before start
        self._write_lock = asyncio.Lock()
        self._notify_scheduled = False

    # -- what the plan cache reads (any thread) --------------------------------------------

    def query(self, workload: Workload) -> str:
        return render_query(self.template, workload.namespace, workload.name)

    def peaks(self, workload: Workload, references: Iterable[Reference]) -> Peaks:
        """What is known of each window for this workload; asks for what is not."""
        query = self.query(workload)
        found: dict[Reference, Peak] = {}
        now = self._clock()
        for ref in references:
            key = (query, ref.start, ref.end)
            known = self._known.get(key)
            if known is not None:
                found[ref] = Peak(state="known", value=known, query=query)
                continue
            early = not_over(ref, now)
            if early is not None:  # asked at a later build (the event's ramp, or daily)
                found[ref] = Peak(state="pending", query=query, error=early)
                continue
            self._asked[key] = now
            said_none = self._none.get(key)
            failing = self._failing.get(key)
            if said_none is not None:
                found[ref] = Peak(state="none", query=query)
            elif failing is not None:
                found[ref] = Peak(state="failing", query=query, error=failing[0])
            else:
                found[ref] = Peak(state="pending", query=query)
            if said_none is None or now - said_none >= _NONE_RECHECK:
                self._ask(key, f"{workload.ref} like {ref.event}")
        return found

    def counts(self) -> dict[str, int]:
        """Peaks by state: known, none, pending, failing (for /metrics)."""
        failing = sum(1 for k in self._failing if k not in self._known)
        pending = sum(
            1
            for k in set(self._queued) | set(self._early)
            if k not in self._known and k not in self._none and k not in self._failing
        )
        return {
            "known": len(self._known),
            "none": len(self._none),
            "pending": pending,
            "failing": failing,
        }

    def _ask(self, key: Key, who: str) -> None:
        if key in self._queued:
            return
        self._who.setdefault(key, who)
        loop = self._loop
        if loop is None:
            self._early.append(key)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(key)
        else:
            loop.call_soon_threadsafe(self._enqueue, key)

    def _enqueue(self, key: Key) -> None:
        if key in self._queued or key in self._known or self._queue is None:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        if self._path is not None:
            self._known.update(await asyncio.to_thread(self._load))
        for key in self._early:
            self._enqueue(key)
        self._early.clear()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.client.aclose()

    # -- looking up ----------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            key = await self._queue.get()
            try:
                await self._lookup(key)
            except Exception:  # never let one lookup stop the worker
                log.exception("peak lookup failed", extra={"peak": self._who.get(key, "")})
                self._queued.discard(key)

    async def _lookup(self, key: Key) -> None:
        query, start, end = key
        who = self._who.get(key, "")
        window = f"[{format_instant(start)}, {format_instant(end)})"
        try:
            samples = await self.client.query_range(query, start, end, STEP)
        except HistoryError as exc:
            self.lookups["error"] += 1
            before, failures = self._failing.get(key, ("", 0))
            failures += 1
            self._failing[key] = (str(exc), failures)
            if str(exc) != before:  # what the timelines say (UNAVAILABLE's message) changed
                self._notify()
            delay = min(self._retry_max, self._retry_initial * 2.0 ** min(failures - 1, 30))
            delay *= self._rng.uniform(0.5, 1.0)
            log.warning(
                "peak of %s over %s unknown: %s; asking again in %.0fs",
                who, window, exc, delay,
                extra={"peak": who, "reason": exc.reason},
            )  # fmt: skip
            assert self._loop is not None
            self._loop.call_later(delay, self._retry, key)
            return
        self._queued.discard(key)
        self._failing.pop(key, None)
        self._asked.pop(key, None)
        value = peak_value(samples)
        if value is None:
            self.lookups["none"] += 1
            first = key not in self._none
            self._none[key] = self._clock()
            if first:
                log.warning(
                    "no history for %s over %s (query %s)", who, window, query,
                    extra={"peak": who},
                )  # fmt: skip
                self._notify()
            return
        self.lookups["known"] += 1
        self._known[key] = value
        self._none.pop(key, None)
        log.info("peak of %s over %s is %s", who, window, value, extra={"peak": who})
        self._notify()
        await self._save()

    def _retry(self, key: Key) -> None:
        self._queued.discard(key)
        if self._clock() - self._asked.get(key, 0.0) > _FORGET_AFTER:
            log.info("peak of %s is no longer needed; it is not asked again",
                     self._who.get(key, ""), extra={"peak": self._who.get(key, "")})  # fmt: skip
            self._failing.pop(key, None)
            self._asked.pop(key, None)
            return
        self._enqueue(key)

    def _notify(self) -> None:
        """Tell the plan cache, once for the answers that settle together."""
        if self._notify_scheduled or self.on_change is None or self._loop is None:
            return
        self._notify_scheduled = True

        def fire() -> None:
            self._notify_scheduled = False
            if self.on_change is not None:
                self.on_change()

        # Each notice rebuilds every timeline: while more lookups wait (a start, a new
        # calendar), answers are gathered for a second rather than rebuilt one by one.
        more = self._queue is not None and not self._queue.empty()
        self._loop.call_later(1.0 if more else 0.05, fire)

    # -- the state directory -------------------------------------------------------------------

    async def _save(self) -> None:
        if self._path is None:
            return
        entries = [
            {"query": q, "start": format_instant(s), "end": format_instant(e),
             "startUnix": s, "endUnix": e, "peak": str(v)}
            for (q, s, e), v in sorted(self._known.items())
        ]  # fmt: skip
        data = json.dumps({"format": _FORMAT, "peaks": entries}, indent=1).encode() + b"\n"
        async with self._write_lock:
            try:
                await asyncio.to_thread(write_atomically, self._path, data)
            except OSError as exc:
                log.warning(
                    "cannot write the known peaks to %s (%s); a restart while Prometheus is "
                    "down would not know them",
                    self._path, exc.strerror or exc,
                    extra={"reason": "io"},
                )  # fmt: skip

    def _load(self) -> dict[Key, Decimal]:
        assert self._path is not None
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("cannot read %s (%s); peaks are asked again", self._path, exc)
            return {}
        try:
            document = json.loads(raw)
            if document.get("format") != _FORMAT:
                raise ValueError(f"format {document.get('format')!r}")
            loaded = {
                (str(e["query"]), int(e["startUnix"]), int(e["endUnix"])): Decimal(e["peak"])
                for e in document["peaks"]
            }
            if not all(v.is_finite() and v >= 0 for v in loaded.values()):
                raise ValueError("a peak is not a finite number >= 0")
        except (ValueError, TypeError, KeyError, AttributeError, InvalidOperation) as exc:
            log.warning(
                "%s is damaged or from another version (%s); peaks are asked again",
                self._path, exc,
            )  # fmt: skip
            return {}
        log.info("read %d known peaks from %s", len(loaded), self._path)
        return loaded
