"""Runs every calendar source as its own task, for as long as the server runs.

`start` waits for each source's first outcome, but never longer than `initial_wait`: the
server must come up even when a source is down, and until a calendar loads, the workloads that
need it get UNAVAILABLE (the HPA holds its replicas) rather than a made-up 0. A source task that
fails by a bug is logged and restarted; it never takes the others, or the server, down.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from scaler.sources.config import SourceSpec
from scaler.sources.files import FileSource
from scaler.sources.remote import FetchLimits, UrlSource
from scaler.sources.reporting import log
from scaler.sources.state import StateDir
from scaler.sources.store import CalendarStore
from scaler.sources.workers import ParseWorkers

__all__ = ["SourceManager"]


class _Source(Protocol):
    spec: SourceSpec
    settled: asyncio.Event

    async def run(self) -> None: ...


class SourceManager:
    def __init__(
        self,
        specs: Sequence[SourceSpec],
        store: CalendarStore,
        *,
        state_dir: Path | None = None,
        refresh: float = 60.0,
        poll_interval: float = 0.25,
        initial_wait: float = 5.0,
        limits: FetchLimits | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`refresh`: seconds between fetches of a URL; `poll_interval`: between file checks.

        Raises UsageError for a state directory that cannot be created or an unreadable CA
        bundle. Every spec's name must be one of the store's names.
        """
        unknown = [s.name for s in specs if s.name not in store.names]
        if unknown:
            raise ValueError(
                f"calendars {unknown} are not in the store; build the store from the same specs"
            )
        self.store = store
        self.state = StateDir(state_dir) if state_dir is not None else None
        self._initial_wait = initial_wait
        self._retry_cap = refresh
        limits = limits or FetchLimits()
        self._retry_initial = limits.retry_initial
        self.sources: list[_Source] = []
        workers = ParseWorkers()  # calendars are parsed in worker processes
        for spec in specs:
            if spec.kind == "file":
                self.sources.append(
                    FileSource(
                        spec,
                        store,
                        poll_interval=poll_interval,
                        max_bytes=limits.max_bytes,
                        workers=workers,
                    )
                )
            else:
                self.sources.append(
                    UrlSource(
                        spec,
                        store,
                        refresh=refresh,
                        limits=limits,
                        state=self.state,
                        rng=rng,
                        clock=clock,
                        reader=workers,
                    )
                )
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Start every source; return once each has a first outcome, or after initial_wait."""
        if self._tasks:
            raise RuntimeError("SourceManager.start() was called twice")
        self._tasks = [
            asyncio.create_task(self._supervise(source), name=f"calendar-source-{source.spec.name}")
            for source in self.sources
        ]
        waits = [asyncio.create_task(s.settled.wait()) for s in self.sources]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=self._initial_wait)
            for wait in pending:
                wait.cancel()
            if pending:
                late = [s.spec.name for s in self.sources if not s.settled.is_set()]
                log.warning(
                    "calendars %s have not answered within %gs; serving without them until they do",
                    ", ".join(late),
                    self._initial_wait,
                    extra={"calendars": late},
                )

    async def stop(self) -> None:
        """Stop every source task and close its connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def __aenter__(self) -> SourceManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _supervise(self, source: _Source) -> None:
        crashes = 0
        while True:
            try:
                await source.run()
                return
            except Exception as exc:  # a bug: report it, keep the last good calendar, restart
                crashes += 1
                name = source.spec.name
                message = f"the source task failed ({type(exc).__name__}: {exc}); restarting it"
                with contextlib.suppress(Exception):
                    self.store.report_failure(name, "internal", message)
                log.exception(
                    "calendar %s: %s",
                    name,
                    message,
                    extra={"calendar": name, "reason": "internal"},
                )
                source.settled.set()
                delay = min(self._retry_cap, self._retry_initial * 2 ** min(crashes - 1, 16))
                await asyncio.sleep(delay)
