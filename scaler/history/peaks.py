"""A peak (SPEC section 9) from a range query's answer, and one-shot lookups for the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from decimal import Decimal

from scaler.calendar.history import Peak
from scaler.calendar.model import Reference
from scaler.calendar.workload import Workload
from scaler.errors import HistoryError
from scaler.history.prometheus import PrometheusClient, render_query

__all__ = ["SETTLE", "STEP", "look_up", "not_over", "peak_value", "readable_from"]

STEP = 60  # the instants S' + 60k of the referenced window
# A window is read this long after it ended: its last samples may still be on their way (remote
# write, Thanos sidecar uploads), and a peak read too early would be kept for ever.
SETTLE = 300


def not_over(ref: Reference, now: float) -> str | None:
    """Why the window cannot be read yet, or None when it can."""
    if now >= ref.end + SETTLE:
        return None
    return f"{ref.event} ended less than {SETTLE // 60} minutes ago; its peak is read then"


def readable_from(references: Iterable[Reference], now: float) -> int | None:
    """The first instant after `now` at which one of these windows can be read; None: none
    waits (a timeline rebuilds then, so the peak is asked as soon as it can be)."""
    ahead = [r.end + SETTLE for r in references if r.end + SETTLE > now]
    return min(ahead) if ahead else None


def peak_value(samples: Sequence[tuple[int, float]]) -> Decimal | None:
    """The largest value, exactly as Prometheus wrote it (its shortest round-trip form, which
    is Python's repr of the float); None: no sample, no history."""
    if not samples:
        return None
    value = Decimal(repr(max(v for _, v in samples)))
    return Decimal(int(value)) if value == value.to_integral_value() else value  # 47, not 47.0


async def look_up(
    client: PrometheusClient,
    template: str,
    workload: Workload,
    references: Iterable[Reference],
    now: float,
) -> dict[Reference, Peak]:
    """Each window's peak for this workload, asked once each: known, none or failing (or
    pending, for a window not over at `now`)."""
    query = render_query(template, workload.namespace, workload.name)
    refs = sorted(set(references), key=lambda r: (r.start, r.end, r.event))

    async def one(ref: Reference) -> Peak:
        early = not_over(ref, now)
        if early is not None:
            return Peak(state="pending", query=query, error=early)
        try:
            value = peak_value(await client.query_range(query, ref.start, ref.end, STEP))
        except HistoryError as exc:
            return Peak(state="failing", query=query, error=str(exc))
        if value is None:
            return Peak(state="none", query=query)
        return Peak(state="known", value=value, query=query)

    found = await asyncio.gather(*(one(ref) for ref in refs))
    return dict(zip(refs, found, strict=True))
