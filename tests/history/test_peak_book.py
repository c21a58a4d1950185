"""The PeakBook's own bookkeeping, against our own HTTP server (no gRPC around it)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from scaler.calendar.model import Reference
from scaler.calendar.workload import Workload
from scaler.history.prometheus import PrometheusClient
from scaler.service.peaks import PeakBook
from tests.history.support import FAST, LAST_END, LAST_START, run
from tests.serverthread import Clock
from tests.sources.helpers import CalendarServer, Reply

WEB = Workload(namespace="shop", name="web")
LAST = Reference("black-friday-2025", LAST_START, LAST_END)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def test_a_failing_lookup_no_timeline_needs_any_more_is_forgotten() -> None:
    clock = Clock(LAST_END + 86400)
    with CalendarServer(Reply(body=b"down", status=500)) as server:

        async def scenario() -> tuple[dict[str, int], dict[str, int], int]:
            client = PrometheusClient(server.url(""), limits=FAST)
            book = PeakBook(client, retry_initial=0.05, retry_max=0.05, clock=clock)
            await book.start()
            try:
                book.peaks(WEB, [LAST])
                await until(lambda: book.counts()["failing"] == 1)
                failing = book.counts()
                clock.now = LAST_END + 5 * 86400  # nobody asked for 4 days
                await until(lambda: book.counts()["failing"] == 0)
                asked = server.count()
                await asyncio.sleep(0.3)  # several retry intervals
                return failing, book.counts(), server.count() - asked
            finally:
                await book.stop()

        failing, after, more_requests = run(scenario())

    assert 1 == failing["failing"]
    assert {"known": 0, "none": 0, "pending": 0, "failing": 0} == after
    assert 0 == more_requests
