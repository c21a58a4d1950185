"""Calendars parsed in worker processes: the same Calendar, the same errors, never lost."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import multiprocessing
import os
import signal
from decimal import Decimal

import pytest
from helpers import BROKEN_YAML, ICS, INVALID_CALENDAR, run

from scaler.calendar.incremental import Layout
from scaler.calendar.model import Calendar
from scaler.errors import SourceError
from scaler.sources import SourceSpec
from scaler.sources.decoding import detect_format, read_calendar
from scaler.sources.workers import ParseWorkers

MIXED = """\
version: 1
timezone: Asia/Tokyo
defaults: {leadTime: 15m, rampUp: 10m}
exclusions:
  year-end: [2026-12-31, 2027-01-01]
events:
  - name: black-friday
    start: 2026-11-27T00:00
    end: 2026-11-28T00:00
    scale: {factor: 1.10}
    targets:
      - {namespace: "shop*", labels: {tier: frontend}}
      - {name: checkout, scale: {replicas: 40}}
  - name: nightly
    schedule: "0 21 * * *"
    duration: 1h
    from: 2026-11-01
    until: 2027-01-31
    exclude: [year-end, "holidays:JP"]
    scale: {load: 20000}
  - name: kept-off
    start: 2026-12-01
    duration: 2h
    disabled: true
    scale: {replicas: 3}
"""


def spec(location: str) -> SourceSpec:
    return SourceSpec(name="sales", location=location, kind="file")


def decode_here(content: str, location: str) -> tuple[Calendar, Layout | None]:
    return read_calendar(content.encode(), name="sales", origin=location,
                         fmt=detect_format(None, location))  # fmt: skip


def decode_in_worker(content: str, location: str) -> tuple[Calendar, Layout | None]:
    async def scenario() -> tuple[Calendar, Layout | None]:
        return await ParseWorkers().read(spec(location), content.encode(),
                                         detect_format(None, location))  # fmt: skip

    return run(scenario(), timeout=60)


@pytest.mark.parametrize(
    ("content", "location"),
    [pytest.param(MIXED, "sales.yaml", id="yaml"), pytest.param(ICS, "sales.ics", id="ical")],
)
def test_a_worker_gives_the_calendar_parsing_here_gives(content: str, location: str) -> None:
    here, there = decode_here(content, location), decode_in_worker(content, location)
    assert canonical(here) == canonical(there)
    assert (here[1] is None) == location.endswith(".ics")  # with its layout when YAML


def canonical(value: object) -> object:
    """A value's content as comparable data: dataclasses (several compare by identity) as
    their type and public fields; sets stay sets (their order differs between processes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple(
            (f.name, canonical(getattr(value, f.name)))
            for f in dataclasses.fields(value) if not f.name.startswith("_")
        ))  # fmt: skip
    if isinstance(value, (tuple, list)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(canonical(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    if isinstance(value, (str, int, float, Decimal, dt.date, dt.datetime, type(None))):
        return value
    return repr(value)


def test_events_parsed_in_a_worker_still_share_their_scales_and_timings() -> None:
    calendar, _ = decode_in_worker(MIXED.replace("nightly", "a").replace("kept-off", "b"),
                                   "sales.yaml")  # fmt: skip
    events = calendar.events
    assert events[0].timing is events[1].timing  # both use the calendar's defaults


@pytest.mark.parametrize(
    ("content", "reason"),
    [pytest.param(INVALID_CALENDAR, "invalid", id="invalid"),
     pytest.param(BROKEN_YAML, "parse", id="not-yaml")],
)  # fmt: skip
def test_a_worker_reports_the_error_parsing_here_reports(content: str, reason: str) -> None:
    with pytest.raises(SourceError) as here:
        decode_here(content, "sales.yaml")
    with pytest.raises(SourceError) as there:
        decode_in_worker(content, "sales.yaml")
    assert (str(here.value), reason) == (str(there.value), there.value.reason)


def test_a_worker_that_dies_is_replaced_by_parsing_here(caplog: pytest.LogCaptureFixture) -> None:
    events = "".join(
        f"  - name: sale-{i}\n    start: 2026-11-01T00:00\n    duration: 1h\n"
        "    scale: {replicas: 5}\n"
        for i in range(20_000)
    )
    content = f"version: 1\ntimezone: UTC\nevents:\n{events}"

    async def scenario() -> int:
        work = asyncio.ensure_future(
            ParseWorkers().read(spec("sales.yaml"), content.encode(), "yaml")
        )
        while not (workers := multiprocessing.active_children()):
            await asyncio.sleep(0.001)
        for worker in workers:
            os.kill(worker.pid or 0, signal.SIGKILL)
        calendar, _ = await work
        return len(calendar.events)

    with caplog.at_level(logging.WARNING, logger="scaler.sources"):
        assert 20_000 == run(scenario(), timeout=120)
    assert any("parser process ended without an answer" in r.getMessage() for r in caplog.records)


def test_a_change_is_worked_out_in_a_worker_as_here() -> None:
    """The text-only part of reading a change (split, digests, the changed events read)
    happens in a worker process; applied to the calendar in force it gives the full read."""
    from scaler.calendar.incremental import apply, reparse
    from scaler.sources.decoding import changes_of

    calendar, layout = decode_here(MIXED, "sales.yaml")
    assert layout is not None
    edited = MIXED.replace("nightly", "nightly-sale")
    here = changes_of(edited.encode(), name="sales", origin="sales.yaml", fmt="yaml",
                      layout=layout)  # fmt: skip

    async def scenario() -> object:
        return await ParseWorkers().changes(spec("sales.yaml"), edited.encode(), "yaml", layout)

    there = run(scenario(), timeout=60)
    assert here is not None and canonical(here) == canonical(there)
    applied = apply(there, previous=calendar, layout=layout)  # type: ignore[arg-type]
    expected = reparse(edited, name="sales", origin="sales.yaml", previous=calendar,
                       layout=layout)  # fmt: skip
    assert applied is not None and expected is not None and applied[2] == 1
    assert canonical(applied[0]) == canonical(expected[0])
    full, _ = decode_here(edited, "sales.yaml")
    assert canonical(applied[0]) == canonical(full)
