"""Calendars, history and peak books shared by the `like` tests (SPEC section 9)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scaler.history.prometheus import DEFAULT_QUERY, HistoryLimits, PrometheusClient
from scaler.service.peaks import PeakBook
from scaler.sources.store import CalendarStore
from tests.prometheus import Sample

LAST_START = 1764288000  # 2025-11-28T00:00:00Z: black-friday-2025, the record
LAST_END = 1764633600  # 2025-12-02T00:00:00Z
START = 1795737600  # 2026-11-27T00:00:00Z: black-friday-2026, sized like it
END = 1796083200  # 2026-12-01T00:00:00Z
DURING = START + 12 * 3600
BEFORE = START - 7 * 86400
REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"

FAST = HistoryLimits(
    connect_timeout=1.0, read_timeout=1.0, attempt_timeout=2.0, attempts=2,
    retry_initial=0.01, retry_max=0.05,
)  # fmt: skip


def sales(scale: str = "{like: black-friday-2025, growth: 1.2}", targets: str = "") -> str:
    """black-friday-2026 sized like black-friday-2025 (kept disabled as the record)."""
    return (
        "version: 1\ntimezone: UTC\nevents:\n"
        "  - name: black-friday-2026\n    start: 2026-11-27\n    end: 2026-12-01\n"
        f"    scale: {scale}\n{targets}"
        "  - name: black-friday-2025\n    start: 2025-11-28\n    end: 2025-12-02\n"
        "    disabled: true\n    scale: {replicas: 1}\n"
    )


def hpa(name: str, value: float, at: int, namespace: str = "shop") -> Sample:
    """A sample of kube-state-metrics' HPA replicas for KEDA's HPA of `name`."""
    return (REPLICAS, {"namespace": namespace, "horizontalpodautoscaler": f"keda-hpa-{name}"},
            value, at)  # fmt: skip


def book(
    url: str,
    *,
    state_dir: Path | None = None,
    template: str = DEFAULT_QUERY,
    clock: Callable[[], float] = time.time,
    **headers: str,
) -> Callable[[CalendarStore], PeakBook]:
    """A PeakBook factory for ServerThread / WebStack, with fast timeouts and retries."""

    def make(store: CalendarStore) -> PeakBook:
        client = PrometheusClient(url, headers=headers, limits=FAST)
        return PeakBook(client, template=template, state_dir=state_dir, clock=clock,
                        on_change=store.republish, retry_initial=0.05, retry_max=0.2)  # fmt: skip

    return make


def eventually(probe: Callable[[], Any], expected: Any, timeout: float = 20.0) -> Any:
    """Poll `probe()` until it returns `expected` (bounded); the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        value = probe()
    return value


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))
