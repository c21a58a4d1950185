"""A real grpc.aio scaler server on 127.0.0.1:0, run in a thread with its own event loop.

Tests talk to it over a real channel, as KEDA would, and change its calendars through
`publish`, which runs on the server's loop like a source would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc

from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.calendar.model import Calendar
from scaler.calendar.parsing import parse_calendar
from scaler.service.peaks import PeakBook
from scaler.service.server import GrpcServer
from scaler.sources.store import CalendarStore

T = TypeVar("T")


class Clock:
    """A settable clock for the server; defaults to real time."""

    def __init__(self, now: float | None = None) -> None:
        self.now = now

    def __call__(self) -> float:
        return time.time() if self.now is None else self.now


class ServerThread:
    def __init__(
        self,
        calendars: dict[str, str | None],
        *,
        clock: Callable[[], float] = time.time,
        credentials: grpc.ServerCredentials | None = None,
        peaks: Callable[[CalendarStore], PeakBook] | None = None,  # `like` events' history
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store = CalendarStore({name: f"{name}.yaml" for name in calendars})
        self.peaks = peaks(self.store) if peaks is not None else None
        self.server: GrpcServer = self.run(self._start(clock, credentials))
        for name, text in calendars.items():
            if text is not None:
                self.publish(parse_calendar(text, name=name, origin=f"{name}.yaml"))
        self.address = f"127.0.0.1:{self.server.port}"

    async def _start(
        self, clock: Callable[[], float], credentials: grpc.ServerCredentials | None
    ) -> GrpcServer:
        server = GrpcServer(
            self.store, address="127.0.0.1:0", clock=clock, credentials=credentials,
            peaks=self.peaks,
        )  # fmt: skip
        if self.peaks is not None:
            await self.peaks.start()
        await server.start()
        return server

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=30)

    def publish(self, calendar: Calendar) -> None:
        async def swap() -> None:
            self.store.publish(calendar.name, calendar)

        self.run(swap())

    def stub(self) -> pb_grpc.ExternalScalerStub:
        self.channel = grpc.insecure_channel(self.address)
        return pb_grpc.ExternalScalerStub(self.channel)

    def stop(self, grace: float = 1.0) -> None:
        self.run(self.server.stop(grace))
        if self.peaks is not None:
            self.run(self.peaks.stop())
        self.run(_cancel_the_rest())  # as asyncio.run does: a task left pending (a timeline
        # rebuild after the last publish) would be destroyed unstarted, and its coroutine's
        # "never awaited" warning would fail whichever test the collector happens to run in
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def _cancel_the_rest() -> None:
    """Cancel every other task on this loop and wait for them to end."""
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
