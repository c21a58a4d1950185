"""Calendars parsed in worker processes: the same Calendar, the same errors, never lost."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import multiprocessing
import os
import signal
from decimal import Decimal

import pytest
import yaml
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


def events_read_after_killing(workers: ParseWorkers, content: str, processes: int) -> int:
    """The events `workers` read from `content` when its first `processes` parser
    processes are killed as soon as they are seen."""

    async def scenario() -> int:
        work = asyncio.ensure_future(workers.read(spec("sales.yaml"), content.encode(), "yaml"))
        while len(found := multiprocessing.active_children()) < processes:
            await asyncio.sleep(0.001)
        for worker in found:
            os.kill(worker.pid or 0, signal.SIGKILL)
        calendar, _ = await work
        return len(calendar.events)

    return run(scenario(), timeout=120)


def test_a_worker_that_dies_is_replaced_by_parsing_here(caplog: pytest.LogCaptureFixture) -> None:
    events = "".join(
        f"  - name: sale-{i}\n    start: 2026-11-01T00:00\n    duration: 1h\n"
        "    scale: {replicas: 5}\n"
        for i in range(20_000)
    )
    content = f"version: 1\ntimezone: UTC\nevents:\n{events}"

    with caplog.at_level(logging.WARNING, logger="scaler.sources"):  # one process: in full
        assert 20_000 == events_read_after_killing(ParseWorkers(1), content, 1)
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


def big_calendar(events: int, extra: str = "") -> str:
    body = "".join(
        f"  - name: sale-{i}\n    start: 2026-11-{1 + i % 28:02d}T{i % 24:02d}:00\n"
        f"    duration: {1 + i % 5}h\n    scale: {{replicas: {2 + i % 40}}}\n"
        + (f"  - name: nightly-{i}\n    schedule: '0 21 * * *'\n    duration: 1h\n"
           f"    exclude: ['holidays:JP']\n    scale: {{load: {100 * i}}}\n" if i % 50 == 0 else "")
        for i in range(events)
    )  # fmt: skip
    return f"version: 1\ntimezone: Asia/Tokyo\nevents:\n{body}{extra}"


def read_watching(
    workers: ParseWorkers, content: str
) -> tuple[tuple[Calendar, Layout | None], int]:
    """(what `workers` read, the most parser processes seen at once)."""

    async def scenario() -> tuple[tuple[Calendar, Layout | None], int]:
        work = asyncio.ensure_future(workers.read(spec("sales.yaml"), content.encode(), "yaml"))
        most = 0
        while not work.done():
            most = max(most, len([p for p in multiprocessing.active_children()
                                  if p.name == "calendar-parser-sales"]))  # fmt: skip
            await asyncio.sleep(0.002)
        return await work, most

    return run(scenario(), timeout=120)


def test_a_large_calendar_is_read_in_parts_on_the_free_cores_as_in_full() -> None:
    content = big_calendar(8_000)
    assert len(content) > 256 * 1024  # workers.SPLIT_BYTES
    (calendar, layout), most = read_watching(ParseWorkers(2), content)
    assert most == 2
    here, here_layout = decode_here(content, "sales.yaml")
    assert canonical(calendar) == canonical(here)
    assert layout == here_layout  # its next change is read from the changed events


@pytest.mark.parametrize("kind", ["json", "like"])
def test_a_large_calendar_parts_cannot_read_takes_one_process(kind: str) -> None:
    """JSON, and a calendar with `like` scales, are read in full at once: not first in parts
    that would all come back empty-handed."""
    content = big_calendar(8_000)
    if kind == "json":
        content = json.dumps(yaml.safe_load(content), default=str)
    else:
        content += ("  - name: sized\n    start: 2027-11-01T00:00\n    duration: 1h\n"
                    "    scale: {like: sale-1, otherwise: {replicas: 3}}\n")  # fmt: skip
    assert len(content) > 256 * 1024  # workers.SPLIT_BYTES
    (calendar, _), most = read_watching(ParseWorkers(2), content)
    assert most == 1
    assert canonical(calendar) == canonical(decode_here(content, "sales.yaml")[0])


def test_a_large_calendar_with_a_problem_reports_what_the_full_read_reports() -> None:
    for extra in (
        "  - name: sale-3\n    start: 2027-01-01T00:00\n    duration: 1h\n"
        "    scale: {replicas: 2}\n",  # a name the first part uses
        "  - name: late\n    start: 2027-01-01T00:00\n    duration: 1x\n    scale: {replicas: 2}\n",
    ):
        content = big_calendar(8_000, extra)
        with pytest.raises(SourceError) as here:
            decode_here(content, "sales.yaml")
        with pytest.raises(SourceError) as there:
            read_watching(ParseWorkers(2), content)
        assert str(there.value) == str(here.value)
        assert "sales.yaml:" in str(there.value)


def test_parts_whose_processes_die_are_read_in_full(caplog: pytest.LogCaptureFixture) -> None:
    content = big_calendar(8_000)
    with caplog.at_level(logging.WARNING, logger="scaler.sources"):
        expected = len(decode_here(content, "sales.yaml")[0].events)
        assert expected == events_read_after_killing(ParseWorkers(2), content, 2)
    assert any("reading it in full instead" in r.getMessage() for r in caplog.records)


def test_holidays_come_looked_up_with_the_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's first answers need no holidays lookup (its import is ~0.25 s): a parser
    process looks up last year's, this year's and next year's days, and every event that
    excludes a country's holidays shares one set of them."""
    calendar, _ = decode_in_worker(big_calendar(400), "sales.yaml")
    import holidays

    def no_lookups(*args: object, **kwargs: object) -> None:
        raise AssertionError("holidays were looked up in the server")

    monkeypatch.setattr(holidays, "country_holidays", no_lookups)
    sets = {id(h): h for e in calendar.events if hasattr(e.schedule, "excluded_holidays")
            for h in e.schedule.excluded_holidays}  # fmt: skip
    assert len(sets) == 1 and sum("nightly" in e.name for e in calendar.events) == 8
    (japan,) = sets.values()
    year = dt.datetime.now(dt.UTC).year
    for day in (dt.date(year - 1, 1, 1), dt.date(year, 5, 3), dt.date(year + 1, 11, 23)):
        assert day in japan  # New Year's Day, Constitution Day, Labour Thanksgiving Day
    assert dt.date(year, 6, 10) not in japan
    with pytest.raises(AssertionError, match="looked up in the server"):
        _ = dt.date(year + 2, 1, 1) in japan  # beyond those years: looked up when asked
