"""Bytes from a source into a validated Calendar, or a SourceError saying why not.

The failure reason tells two cases apart for metrics and alerts: `parse` when the content is not
readable as YAML, JSON or iCalendar at all (a truncated upload, an HTML login page), `invalid`
when it is readable but the calendar breaks a rule. The calendar core wraps the reader's own
error (`raise CalendarError(...) from exc`) only for unreadable content, so the cause decides.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import urlsplit

from scaler.calendar.incremental import Changes, Layout, Part, apply, changes, layout_of, read_part
from scaler.calendar.model import Calendar, Event, Scale, Timing
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.recurrence import CronSchedule
from scaler.calendar.timefmt import parse_zone
from scaler.errors import CalendarError, SourceError

if TYPE_CHECKING:  # config imports this module for IcalOptions
    from scaler.sources.config import SourceSpec

__all__ = [
    "THREADS",
    "CalendarReader",
    "Format",
    "IcalOptions",
    "Rereader",
    "changes_of",
    "decode_calendar",
    "detect_format",
    "may_read_in_parts",
    "read_calendar",
    "read_part_of",
]

Format = Literal["yaml", "json", "ical"]
_MAX_PROBLEMS = 20  # a broken file can have thousands; health and logs show the first ones
_BY_TYPE: dict[str, Format] = {
    "text/calendar": "ical",
    "application/json": "json",
    "text/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
}
_BY_SUFFIX: dict[str, Format] = {
    ".ics": "ical",
    ".ical": "ical",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
}


def detect_format(content_type: str | None, location: str) -> Format | None:
    """The format a content type (first) or the location's suffix names; None: unknown.

    With None the calendar core decides from the content (BEGIN:VCALENDAR means iCalendar).
    Raises SourceError for an HTML page, which is never a calendar but is what a login wall or
    an error page sends with status 200.
    """
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in ("text/html", "application/xhtml+xml"):
        raise SourceError(
            f"the server sent {mime} (a login or error page?), not a calendar; check the URL "
            "and the CALENDAR_SCALER_HEADER_* variables",
            reason="parse",
        )
    if mime in _BY_TYPE:
        return _BY_TYPE[mime]
    if mime.endswith("+json"):
        return "json"
    if mime.endswith("+yaml"):
        return "yaml"
    path = urlsplit(location).path if "://" in location else location
    for suffix, fmt in _BY_SUFFIX.items():
        if path.lower().endswith(suffix):
            return fmt
    return None


def _summary(problems: list[str]) -> str:
    shown = problems[:_MAX_PROBLEMS]
    more = len(problems) - len(shown)
    return "\n".join(shown) + (f"\n... and {more} more problems" if more > 0 else "")


@dataclass(frozen=True, kw_only=True)
class IcalOptions:
    """A source's settings for iCalendar content; YAML and JSON calendars carry their own."""

    zone: str | None = None  # for DATE values and floating times without X-WR-TIMEZONE; UTC
    defaults: Timing | None = None  # timing a VEVENT's DESCRIPTION does not set
    scale: Scale | None = None  # scale for VEVENTs that set none; None: such VEVENTs are ignored


def decode_calendar(
    content: bytes,
    *,
    name: str,
    origin: str,
    fmt: Format | None,
    ical: IcalOptions | None = None,
) -> Calendar:
    """Parse and validate; SourceError(reason="parse" | "invalid") on any problem."""
    text = content.removeprefix(b"\xef\xbb\xbf")
    looks_ical = text.lstrip(b" \t\r\n")[:15].upper() == b"BEGIN:VCALENDAR"
    if fmt == "ical" and not looks_ical:
        raise SourceError(
            f"{origin}:1: iCalendar content must begin with BEGIN:VCALENDAR; check the URL",
            reason="parse",
        )
    try:
        if looks_ical:
            calendar = _parse_ical(text, name=name, origin=origin, options=ical or IcalOptions())
        else:
            calendar = parse_calendar(content, name=name, origin=origin)
    except CalendarError as exc:
        reason = "parse" if exc.__cause__ is not None else "invalid"
        raise SourceError(_summary(exc.problems), reason=reason) from exc
    except Exception as exc:  # a reader's own error that escaped: still a rejected calendar
        raise SourceError(
            f"{origin}: could not be read ({type(exc).__name__}: {exc})", reason="parse"
        ) from exc
    _look_up_holidays(calendar.events)
    return calendar


def _look_up_holidays(events: Iterable[Event]) -> None:
    """The days of last year, this year and next of every holiday set the events exclude,
    looked up where they are read: a parser process has the holidays package loaded, where
    the server's first answers would wait ~0.25 s to import it."""
    year = dt.datetime.now(dt.UTC).year
    sets = {id(h): h for e in events if isinstance(e.schedule, CronSchedule)
            for h in e.schedule.excluded_holidays}  # fmt: skip
    for found in sets.values():
        found.prepare(range(year - 1, year + 2))


def read_calendar(
    content: bytes,
    *,
    name: str,
    origin: str,
    fmt: Format | None,
    ical: IcalOptions | None = None,
) -> tuple[Calendar, Layout | None]:
    """`decode_calendar`, and how the calendar lies in its text (for `Rereader` to read its
    next change from the changed events; None: its changes are read in full)."""
    calendar = decode_calendar(content, name=name, origin=origin, fmt=fmt, ical=ical)
    return calendar, _layout_for(content, fmt, calendar)


def _yaml_text(content: bytes, fmt: Format | None) -> str | None:
    """The text of content that may be a YAML calendar (the rest is read in full)."""
    if fmt not in (None, "yaml"):
        return None
    try:
        text = content.decode("utf-8-sig").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None
    return None if text.lstrip().upper().startswith("BEGIN:VCALENDAR") else text


def _layout_for(content: bytes, fmt: Format | None, calendar: Calendar) -> Layout | None:
    """How `calendar`, just read in full from `content`, lies in its text, for `changes_of`
    to reuse its events; None: its changes are read in full."""
    text = _yaml_text(content, fmt)
    return None if text is None else layout_of(text, calendar)


def may_read_in_parts(content: bytes, fmt: Format | None) -> bool:
    """Whether `read_part_of` can read this content: YAML with a top-level `events:` line and
    no `like` scale (byte checks, ~1 ms per MB; a no only means one read in full, not parts
    that all come back None first, as JSON, iCalendar and `like` calendars would)."""
    if fmt not in (None, "yaml") or b"like:" in content:
        return False
    return content.startswith(b"events:") or b"\nevents:" in content


def read_part_of(
    content: bytes, *, name: str, origin: str, fmt: Format | None, index: int, count: int
) -> Part | None:
    """Part `index` of `count` of a YAML calendar's events, read as the full read would
    (calendar.incremental.read_part); None: read it in full, which also gives any problem's
    messages."""
    text = _yaml_text(content, fmt)
    part = None if text is None else read_part(text, name=name, origin=origin, index=index,
                                               count=count)  # fmt: skip
    if part is not None:
        _look_up_holidays(part.events)
    return part


def changes_of(
    content: bytes, *, name: str, origin: str, fmt: Format | None, layout: Layout
) -> Changes | None:
    """How a changed YAML calendar's content differs from the text `layout` is of, from the
    texts alone (calendar.incremental.changes); None to read it in full, which also gives
    any problem's messages."""
    text = _yaml_text(content, fmt)
    found = None if text is None else changes(text, name=name, origin=origin, layout=layout)
    if found is not None:
        _look_up_holidays(found.read)
    return found


class CalendarReader(Protocol):
    """Reads a source's content in full, or works out how it changed (`Rereader`)."""

    async def read(
        self, spec: SourceSpec, content: bytes, fmt: Format | None
    ) -> tuple[Calendar, Layout | None]: ...

    async def changes(
        self, spec: SourceSpec, content: bytes, fmt: Format | None, layout: Layout
    ) -> Changes | None: ...


class _InThreads:
    """Reading in a thread of the server (where there are no parser processes: tests, and
    a parser process that ended without an answer)."""

    async def read(
        self, spec: SourceSpec, content: bytes, fmt: Format | None
    ) -> tuple[Calendar, Layout | None]:
        return await asyncio.to_thread(
            read_calendar, content, name=spec.name, origin=spec.origin, fmt=fmt, ical=spec.ical
        )

    async def changes(
        self, spec: SourceSpec, content: bytes, fmt: Format | None, layout: Layout
    ) -> Changes | None:
        return await asyncio.to_thread(
            changes_of, content, name=spec.name, origin=spec.origin, fmt=fmt, layout=layout
        )


THREADS: CalendarReader = _InThreads()


class Rereader:
    """One source's calendar in force and how it lies in its text, so that a change is read
    from its changed events when it can be (calendar.incremental), and in full otherwise."""

    def __init__(self, spec: SourceSpec, reader: CalendarReader) -> None:
        self._spec, self._reader = spec, reader
        self._good: tuple[Calendar, Layout] | None = None

    async def decode(self, content: bytes, fmt: Format | None) -> tuple[Calendar, str]:
        """(calendar, a note for the log line); SourceError when the content is rejected,
        the calendar in force staying the base of the next change."""
        if self._good is not None:
            previous, layout = self._good
            found = await self._reader.changes(self._spec, content, fmt, layout)
            applied = None
            if found is not None:  # made from the calendar in force in a thread: a loop
                applied = await asyncio.to_thread(apply, found, previous=previous, layout=layout)
            if applied is not None:
                calendar, new_layout, read = applied
                self._good = (calendar, new_layout)
                return calendar, f" ({read} new or changed, the others as they were)"
        calendar, found_layout = await self._reader.read(self._spec, content, fmt)
        self._good = None if found_layout is None else (calendar, found_layout)
        return calendar, ""


def _parse_ical(content: bytes, *, name: str, origin: str, options: IcalOptions) -> Calendar:
    from scaler.calendar.ical import parse_ical_calendar  # lazily, as the core does: heavy

    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CalendarError(f"{origin}:1: not UTF-8 text ({exc}); export it as UTF-8") from exc
    return parse_ical_calendar(
        text,
        name=name,
        origin=origin,
        default_zone=parse_zone(options.zone) if options.zone else dt.UTC,
        defaults=options.defaults,
        default_scale=options.scale,
    )
