"""iCalendar (.ics) calendars: each VEVENT series a sale, its numbers in DESCRIPTION.

recurring-ical-events expands RRULE, RDATE, EXDATE and RECURRENCE-ID as RFC 5545 defines them;
this module turns what it yields into instants itself, because the library measures lengths on
the wall clock: RFC 5545 makes a DTEND-given length exact elapsed time for every occurrence and
only a DURATION's days nominal, and a time in a spring-forward gap must move forward by the gap
(the contract's DST rule) whatever tzinfo class a VTIMEZONE produced.

Occurrences of one UID can carry different numbers (an override with its own DESCRIPTION, a
cancelled instance, an instance that is just a meeting): every component is tagged with a
reference, the series is expanded once per UID, and each distinct set of numbers becomes an
Event whose schedule keeps the occurrences of its own components.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from scaler.calendar.model import Calendar, Event, Once, Scale, Schedule, Target, Timing
from scaler.calendar.timefmt import parse_duration, parse_zone, wall_clock_instant
from scaler.errors import CalendarError

__all__ = ["IcalSchedule", "event_name", "parse_ical_calendar"]

_REF = "X-CALENDAR-SCALER-REF"  # tags each source component; occurrences copy it
_CHUNK = 1 << 21  # seconds (~24 days) of occurrences expanded and cached at a time
_MARGIN = dt.timedelta(days=2)  # floating times compare as UTC inside the library: +-14 h
_MAX_CHUNKS = 64  # cached per series (~4 years)
_NAME_RUN = re.compile(r"[^a-z0-9]+")
_DURATION = re.compile(
    r"^([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE
)
_KEY_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z _-]*?)\s*:\s*(.*?)\s*$")
_HTML = re.compile(r"<\s*(br|p|div|span|b|i|a|ul|li)\b", re.IGNORECASE)
_HTML_BREAK = re.compile(r"<\s*br\s*/?\s*>|</\s*(p|div|li)\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^>]*>")
_KEYS = {
    "replicas": "replicas", "factor": "factor", "load": "load", "targets": "targets",
    "leadtime": "leadTime", "rampup": "rampUp", "rampdown": "rampDown", "rampsteps": "rampSteps",
}  # fmt: skip
_TIMING_ATTRS = {"leadTime": "lead_time", "rampUp": "ramp_up", "rampDown": "ramp_down"}
_TIME_PROPS = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
_EXAMPLES = {
    "DTSTART": "DTSTART;TZID=Europe/Amsterdam:20261127T090000",
    "DTEND": "DTEND;TZID=Europe/Amsterdam:20261127T210000",
    "DURATION": "DURATION:PT2H",
    "RRULE": "RRULE:FREQ=WEEKLY;BYDAY=FR",
    "UID": "UID:black-friday-2026@shop.example",
    "SEQUENCE": "SEQUENCE:2",
}


# --- where things are in the text -------------------------------------------------------------


@dataclass
class _Block:
    """A VEVENT as written: its BEGIN line and its own properties' lines and raw values."""

    line: int
    props: dict[str, tuple[int, str]] = field(default_factory=dict)  # first of each name


@dataclass
class _Layout:
    events: list[_Block]  # in document order, as icalendar's walk() visits them
    calendar_props: list[dict[str, tuple[int, str]]]  # per VCALENDAR


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Unfolded content lines with the number of their first physical line."""
    start, parts = 0, list[str]()
    for number, raw in enumerate(text.splitlines(), 1):
        if raw[:1] in (" ", "\t") and parts:
            parts.append(raw[1:])
            continue
        if parts:
            yield start, "".join(parts)
        start, parts = number, [raw]
    if parts:
        yield start, "".join(parts)


def _split_line(content: str) -> tuple[str, str]:
    """`NAME;PARAM="a:b":value` -> (NAME, value); a colon inside quotes is a parameter's."""
    quoted = False
    for i, char in enumerate(content):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return content[:i].split(";", 1)[0].strip().upper(), content[i + 1 :]
    return content.split(";", 1)[0].strip().upper(), ""


def _layout(text: str, problems: list[tuple[int, str]]) -> _Layout:
    """Where each VEVENT and property is, and whether BEGIN and END lines pair up.

    icalendar drops a component with a missing END without a word; here that is an error.
    """
    layout = _Layout(events=[], calendar_props=[])
    stack: list[tuple[str, int, _Block | None]] = []
    seen_content = False
    for number, content in _logical_lines(text):
        if not content.strip():
            continue
        name, value = _split_line(content)
        if not seen_content:
            seen_content = True
            if (name, value.strip().upper()) != ("BEGIN", "VCALENDAR"):
                problems.append((number, "an iCalendar file starts with BEGIN:VCALENDAR; is "
                                 "this really an .ics file?"))  # fmt: skip
                return layout
        if name == "BEGIN":
            kind = value.strip().upper()
            block = None
            if kind == "VEVENT":
                if not stack or stack[-1][0] != "VCALENDAR":
                    inside = f"BEGIN:{stack[-1][0]} at line {stack[-1][1]}" if stack else "nothing"
                    message = (f"BEGIN:VEVENT is inside {inside}; a VEVENT belongs directly "
                               "in the VCALENDAR: is an END missing?")  # fmt: skip
                    problems.append((number, message))
                    return layout
                block = _Block(line=number)
                layout.events.append(block)
            elif kind == "VCALENDAR":
                layout.calendar_props.append({})
            stack.append((kind, number, block))
        elif name == "END":
            kind = value.strip().upper()
            if not stack or stack[-1][0] != kind:
                opened = f"BEGIN:{stack[-1][0]} at line {stack[-1][1]}" if stack else "nothing"
                problems.append((number, f"END:{kind} does not close {opened}; every BEGIN "
                                 "needs its own END, in order"))  # fmt: skip
                return layout
            stack.pop()
        elif stack:
            kind, _, block = stack[-1]
            if block is not None:
                block.props.setdefault(name, (number, value))
            elif kind == "VCALENDAR" and layout.calendar_props:
                layout.calendar_props[-1].setdefault(name, (number, value))
    for kind, number, _ in reversed(stack):
        problems.append((number, f"BEGIN:{kind} has no END:{kind}; the file may be cut off"))
    if not seen_content:
        problems.append((1, "the file is empty; an iCalendar file starts with BEGIN:VCALENDAR"))
    return layout


# --- names and DESCRIPTION ---------------------------------------------------------------------


def event_name(summary: str) -> str:
    """SUMMARY -> event name: lowercase, runs of other characters as '-', at most 63."""
    name = _NAME_RUN.sub("-", summary.lower()).strip("-")
    return name[:63].rstrip("-")


def _unique(base: str, taken: set[str]) -> str:
    """`base`, or `base-2`, `base-3`, ... (cut to fit 63) when taken: first in file keeps it."""
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[: 63 - len(suffix)].rstrip("-") + suffix
    taken.add(name)
    return name


def _plain_text(description: str) -> str:
    """DESCRIPTION as lines; some calendar tools (Google Calendar) store HTML there."""
    if not _HTML.search(description):
        return description
    text = _HTML_BREAK.sub("\n", description)
    return html.unescape(_HTML_TAG.sub("", text))


@dataclass(frozen=True, kw_only=True)
class _Sale:
    """The numbers a VEVENT's DESCRIPTION sets (defaults filled in)."""

    scale: Scale | None
    targets: tuple[Target, ...]
    timing: Timing

    def key(self) -> tuple[object, ...]:
        targets = tuple(
            (t.namespace, t.name, tuple(sorted(t.labels.items())), t.scale) for t in self.targets
        )
        return (self.scale, targets, self.timing)


def _parse_targets(value: str) -> tuple[Target, ...]:
    targets = []
    for entry in (e.strip() for e in value.split(";")):
        if not entry:
            continue
        if "=" in entry:  # labels first: a label key may contain '/' (app.kubernetes.io/name)
            labels = {}
            for pair in (p.strip() for p in entry.split(",")):
                key, sep, val = pair.partition("=")
                if not sep or not key.strip() or "=" in val:  # `tier==x` is a typo
                    raise ValueError(f"targets entry {entry!r}: {pair!r} is not a label pair; "
                                     "write k=v,k2=v2, e.g. targets: tier=frontend")  # fmt: skip
                labels[key.strip()] = val.strip()
            targets.append(Target(labels=labels))
        elif "/" in entry:
            namespace, _, name = entry.partition("/")
            if not namespace.strip() or not name.strip():
                raise ValueError(f"targets entry {entry!r} needs both parts of namespace/name; "
                                 "use * for any, e.g. shop/checkout* or */checkout")  # fmt: skip
            targets.append(Target(namespace=namespace.strip(), name=name.strip()))
        else:
            raise ValueError(f"targets entry {entry!r} is neither k=v labels nor a namespace/name "
                             "glob; e.g. targets: tier=frontend; shop/checkout*")  # fmt: skip
    return tuple(targets)


def _parse_description(
    description: str, defaults: Timing, default_scale: Scale | None
) -> tuple[_Sale | None, list[str]]:
    """DESCRIPTION -> (the sale, or None when it sets no scale and there is no default; errors).

    Keys are matched without regard to case, spaces, '-' and '_' (`Lead time:` is leadTime);
    a line whose key is none of ours is free text.
    """
    values: dict[str, str] = {}
    errors: list[str] = []
    for raw in _plain_text(description).splitlines():
        match = _KEY_LINE.match(raw)
        if not match:
            continue
        key = _KEYS.get(re.sub(r"[\s_-]", "", match[1]).lower())
        if key is None:
            continue
        if key in values:
            errors.append(f"DESCRIPTION sets {key} twice; keep one line {key}: ...")
            continue
        values[key] = match[2]

    scale = default_scale
    kinds = [k for k in ("replicas", "factor", "load") if k in values]
    if len(kinds) > 1:
        errors.append(f"DESCRIPTION sets {' and '.join(kinds)}; keep exactly one of replicas, "
                      "factor, load")  # fmt: skip
    elif kinds:
        kind = kinds[0]
        text = values[kind]
        try:
            amount = Decimal(text)
        except InvalidOperation:
            amount = Decimal("NaN")
        if kind == "replicas":
            if not re.fullmatch(r"\+?\d+", text):
                errors.append(f"DESCRIPTION replicas: {text!r} must be a whole number >= 0, "
                              "e.g. replicas: 10")  # fmt: skip
            else:
                scale = Scale(kind="replicas", amount=Decimal(int(text)))
        elif not amount.is_finite() or amount < 0:
            example = "1.5" if kind == "factor" else "20000"
            errors.append(f"DESCRIPTION {kind}: {text!r} must be a finite number >= 0, "
                          f"e.g. {kind}: {example}")  # fmt: skip
        else:
            scale = Scale(kind="factor" if kind == "factor" else "load", amount=amount)

    targets: tuple[Target, ...] = ()
    if "targets" in values:
        try:
            targets = _parse_targets(values["targets"])
        except ValueError as exc:
            errors.append(f"DESCRIPTION {exc}")

    timing = {attr: getattr(defaults, attr) for attr in ("lead_time", "ramp_up", "ramp_down")}
    for key, attr in _TIMING_ATTRS.items():
        if key in values:
            try:
                timing[attr] = parse_duration(values[key])
            except ValueError as exc:
                errors.append(f"DESCRIPTION {key}: {exc}")
    steps = defaults.ramp_steps
    if "rampSteps" in values:
        if re.fullmatch(r"\+?\d+", values["rampSteps"]) and int(values["rampSteps"]) >= 1:
            steps = int(values["rampSteps"])
        else:
            errors.append(f"DESCRIPTION rampSteps: {values['rampSteps']!r} must be a whole "
                          "number >= 1, e.g. rampSteps: 5")  # fmt: skip
    if scale is None and not errors:
        return None, []
    sale = _Sale(scale=scale, targets=targets, timing=Timing(ramp_steps=steps, **timing))
    return sale, errors


# --- times -------------------------------------------------------------------------------------


def _offset(wall: dt.datetime, zone: dt.tzinfo) -> int:
    """The UTC offset `zone` gives the wall-clock time `wall` (fold 0)."""
    offset = wall.replace(tzinfo=zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _wall_instant(naive: dt.datetime, zone: dt.tzinfo) -> int:
    """A wall-clock time in `zone` by the contract's DST rule, for any tzinfo class.

    zoneinfo already reads fold=0 that way. dateutil's zones (icalendar builds them from a
    VTIMEZONE with a TZID that is not an IANA name) read a gap time with the offset after the
    gap, and their UTC-to-wall conversion is wrong for "negative" DST (a DAYLIGHT part with
    the smaller offset, as IANA describes Europe/Dublin). So only their wall-to-offset side is
    used: the offsets a day before and after tell whether a transition is near.
    """
    if isinstance(zone, (ZoneInfo, dt.timezone)):
        return wall_clock_instant(naive, zone)
    wall = int(naive.replace(tzinfo=dt.UTC).timestamp())
    day = dt.timedelta(days=1)
    before, after = _offset(naive - day, zone), _offset(naive + day, zone)
    if after > before:  # spring forward: up to the gap's end, the offset from before the gap
        gap_earlier = naive - dt.timedelta(seconds=after - before)
        return wall - (before if _offset(gap_earlier, zone) == before else after)
    return wall - _offset(naive, zone)  # fold 0: an ambiguous time means its first occurrence


def _instant(value: dt.date, floating: dt.tzinfo) -> int:
    """DATE values and floating times are local in `floating` (X-WR-TIMEZONE or the default)."""
    if not isinstance(value, dt.datetime):
        return _wall_instant(dt.datetime(value.year, value.month, value.day), floating)
    if value.tzinfo is None:
        return _wall_instant(value, floating)
    return _wall_instant(value.replace(tzinfo=None), value.tzinfo)


def _wall_of(value: dt.date) -> tuple[dt.datetime, dt.tzinfo | None]:
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day), None
    return value.replace(tzinfo=None), value.tzinfo


@dataclass(frozen=True, slots=True)
class _Length:
    """How long an occurrence of a component lasts, from its start.

    RFC 5545: a length given by DTEND is the same exact (elapsed) duration for every
    occurrence; a DURATION's weeks and days are nominal (same wall-clock time N days later),
    its hours, minutes and seconds exact; an all-day event runs to local midnight.
    """

    days: int = 0  # nominal
    seconds: int = 0  # exact

    def end(self, start: dt.date, floating: dt.tzinfo) -> int:
        begin = _instant(start, floating)
        if not self.days:
            return begin + self.seconds
        wall, zone = _wall_of(start)
        later = _wall_instant(wall + dt.timedelta(days=self.days), zone or floating)
        return later + self.seconds


def _raw_duration(text: str) -> tuple[int, int]:
    """`P1DT2H` -> (1 nominal day, 7200 exact seconds). Raises ValueError."""
    match = _DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"DURATION {text.strip()!r} is not an RFC 5545 duration; write e.g. "
                         "PT2H, P1D or P1DT12H")  # fmt: skip
    sign, weeks, days, hours, minutes, seconds = match.groups()
    total_days = int(weeks or 0) * 7 + int(days or 0)
    exact = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    if sign == "-":
        raise ValueError(f"DURATION {text.strip()!r} is negative; an event must end after "
                         "it starts")  # fmt: skip
    return total_days, exact


# --- expansion ---------------------------------------------------------------------------------


class _Series:
    """One UID's components expanded by recurring-ical-events, cached per ~24-day chunk."""

    def __init__(
        self,
        calendar: Any,  # icalendar.Calendar
        floating: dt.tzinfo,
        lengths: dict[str, _Length],
        periods: dict[int, int],
        core: str | None,
    ) -> None:
        self._query = recurring_ical_events.CalendarQuery(calendar)  # not of(): no X-WR rewrite
        self._floating = floating
        self._lengths = lengths  # ref -> length; refs without one are never yielded
        self._periods = periods  # start -> end of RDATE;VALUE=PERIOD occurrences
        self._core = core  # ref of the component with the RRULE
        self._chunks: OrderedDict[int, tuple[tuple[int, int, str], ...]] = OrderedDict()
        self._lock = threading.Lock()

    def _expand(self, start: int, end: int) -> list[tuple[int, int, str]]:
        """Occurrences (start, end, ref) with start < end and end > start, unordered."""
        found = []
        window_start = dt.datetime.fromtimestamp(start, dt.UTC) - _MARGIN
        window_end = dt.datetime.fromtimestamp(end, dt.UTC) + _MARGIN
        for component in self._query.between(window_start, window_end):
            ref = str(component.get(_REF, ""))
            length = self._lengths.get(ref)
            if length is None:
                continue  # cancelled, not a sale, or superseded
            value = component["DTSTART"].dt
            s = _instant(value, self._floating)
            if ref == self._core and s in self._periods:
                e = self._periods[s]
            else:
                e = length.end(value, self._floating)
            if s < end and e > start:
                found.append((s, e, ref))
        return found

    def _chunk(self, index: int) -> tuple[tuple[int, int, str], ...]:
        with self._lock:
            cached = self._chunks.get(index)
            if cached is not None:
                self._chunks.move_to_end(index)
                return cached
            occurrences = tuple(self._expand(index * _CHUNK, (index + 1) * _CHUNK))
            self._chunks[index] = occurrences
            if len(self._chunks) > _MAX_CHUNKS:
                self._chunks.popitem(last=False)
            return occurrences

    def occurrences(self, start: int, end: int) -> list[tuple[int, int, str]]:
        """Occurrences overlapping [start, end), in start order."""
        seen: set[tuple[int, int, str]] = set()
        for index in range(start // _CHUNK, (end - 1) // _CHUNK + 1):
            seen.update(o for o in self._chunk(index) if o[0] < end and o[1] > start)
        return sorted(seen)

    def everything(self) -> list[tuple[int, int, str]]:
        """Every occurrence of a bounded series (RRULE with COUNT or UNTIL, or none)."""
        found = []
        lo = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
        hi = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
        with self._lock:
            found = self._expand(int(lo.timestamp()), int(hi.timestamp()))
        return sorted(found)


@dataclass(frozen=True, eq=False)
class IcalSchedule:
    """The occurrences of a series that carry one set of numbers; implements model.Schedule."""

    series: _Series
    refs: frozenset[str]  # components whose occurrences belong to this event
    end_of_last: int | None  # None: the rule never ends

    def overlapping(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        for s, e, ref in self.series.occurrences(start, end):
            if ref in self.refs:
                yield (s, e)

    @property
    def last_end(self) -> int | None:
        return self.end_of_last


# --- the parser --------------------------------------------------------------------------------


@dataclass
class _Component:
    comp: Any  # icalendar.Event; its property types are a 30-way union
    ref: str
    block: _Block | None
    floating: dt.tzinfo
    uid: str | None
    summary: str
    override: bool  # has RECURRENCE-ID
    this_and_future: bool
    cancelled: bool
    sale: _Sale | None = None
    length: _Length | None = None

    @property
    def line(self) -> int:
        return self.block.line if self.block else 1

    def prop_line(self, name: str) -> int:
        if self.block and name in self.block.props:
            return self.block.props[name][0]
        return self.line

    def raw(self, name: str) -> str | None:
        if self.block and name in self.block.props:
            return self.block.props[name][1]
        return None

    @property
    def label(self) -> str:
        """How messages name it: SUMMARY, else UID."""
        return self.summary or self.uid or f"VEVENT at line {self.line}"

    def describe(self) -> str:
        """How `validate` lists it when ignored."""
        text = f"UID {self.uid}" if self.uid else f"VEVENT at line {self.line}"
        if self.override:
            text += f" RECURRENCE-ID {(self.raw('RECURRENCE-ID') or '?').strip()}"
        return f"{text} (SUMMARY {self.summary!r})"


class _Problems:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.lines: list[str] = []

    def add(self, line: int, message: str, event: str | None = None) -> None:
        where = f"event {event!r}: " if event else ""
        self.lines.append(f"{self.origin}:{line}: {where}{message}")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _length(c: _Component, problems: _Problems) -> _Length | None:
    """The component's length, checking DTSTART, DTEND and DURATION on the way."""
    comp = c.comp
    if "DTSTART" not in comp:
        problems.add(c.line, "has no DTSTART; add the start, e.g. "
                     "DTSTART;TZID=Europe/Amsterdam:20261127T090000", c.label)  # fmt: skip
        return None
    start = comp["DTSTART"].dt
    if "DTEND" in comp and "DURATION" in comp:
        problems.add(c.prop_line("DURATION"), "has both DTEND and DURATION; RFC 5545 allows "
                     "one, keep DTEND or DURATION", c.label)  # fmt: skip
        return None
    if "DTEND" in comp:
        end = comp["DTEND"].dt
        if not isinstance(start, dt.datetime) and not isinstance(end, dt.datetime):
            length = _Length(days=(end - start).days)
            if length.days <= 0:
                problems.add(c.prop_line("DTEND"), f"DTEND {end} is not after DTSTART {start}; "
                             "DTEND is exclusive (an all-day event on one day ends the next "
                             "day)", c.label)  # fmt: skip
                return None
            return length
        seconds = _instant(end, c.floating) - _instant(start, c.floating)
        if seconds <= 0:
            problems.add(c.prop_line("DTEND"), f"DTEND {end} is not after DTSTART {start}; "
                         "DTEND is exclusive and must come later", c.label)  # fmt: skip
            return None
        return _Length(seconds=seconds)
    if "DURATION" in comp:
        raw = c.raw("DURATION")
        try:
            if raw is not None:
                days, seconds = _raw_duration(raw)
            else:
                delta = comp["DURATION"].dt
                days, seconds = delta.days, delta.seconds
                if delta < dt.timedelta(0):
                    raise ValueError("DURATION is negative; an event must end after it starts")
        except ValueError as exc:
            problems.add(c.prop_line("DURATION"), str(exc), c.label)
            return None
        if days == 0 and seconds == 0:
            problems.add(c.prop_line("DURATION"), "DURATION is zero; a sale needs a length, "
                         "e.g. DURATION:PT2H", c.label)  # fmt: skip
            return None
        return _Length(days=days, seconds=seconds)
    if not isinstance(start, dt.datetime):
        return _Length(days=1)  # RFC 5545: an all-day event without an end lasts the day
    problems.add(c.line, "has no DTEND or DURATION, so it would last no time at all; add "
                 "one, e.g. DURATION:PT2H", c.label)  # fmt: skip
    return None


def _props(comp: Any, name: str) -> list[Any]:
    values = comp.get(name)
    if values is None:
        return []
    return values if isinstance(values, list) else [values]


def _check(c: _Component, problems: _Problems) -> bool:
    """Whether every time property of a sale component can be used; reports what cannot.

    icalendar keeps going past a bad value (it records it in `errors` and raises only when the
    value is used), and a repeated property turns into a list: both are caught here, before
    anything reads the values.
    """
    bad: dict[str, str] = {}
    for name, message in getattr(c.comp, "errors", []):
        if str(name).upper() in _TIME_PROPS:
            bad.setdefault(str(name).upper(), f"cannot be read ({message})")
    for name in ("UID", "SEQUENCE"):
        values = _props(c.comp, name)
        if len(values) > 1:
            bad[name] = f"appears {len(values)} times; RFC 5545 allows one, keep one"
    sequence = _props(c.comp, "SEQUENCE")
    if "SEQUENCE" not in bad and sequence and not isinstance(sequence[0], int):
        bad["SEQUENCE"] = f"must be a whole number, not {str(sequence[0])!r}"
    for name in ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
        props = _props(c.comp, name)
        if name in bad or not props:
            continue
        if len(props) > 1:
            bad[name] = f"appears {len(props)} times; RFC 5545 allows one, keep one"
            continue
        try:
            value = props[0].dt
        except ValueError as exc:
            bad[name] = f"cannot be read ({exc})"
            continue
        wanted = dt.timedelta if name == "DURATION" else dt.date
        if not isinstance(value, wanted):
            kind = "a duration" if name == "DURATION" else "a date or a date-time"
            bad[name] = f"must be {kind}, not {value!r}"
    for name in ("RDATE", "EXDATE"):
        if name in bad:
            continue
        try:
            for prop in _props(c.comp, name):
                for item in prop.dts:
                    value = item.dt
                    first = value[0] if isinstance(value, tuple) and name == "RDATE" else value
                    if not isinstance(first, dt.date):
                        raise ValueError(f"{value!r} is not a date or a date-time")
        except (ValueError, AttributeError, TypeError, IndexError) as exc:
            bad[name] = f"cannot be read ({exc})"
    for name, message in bad.items():
        example = _EXAMPLES.get(name, f"{name}:20261127T090000")
        problems.add(c.prop_line(name), f"{name} {message}; write it as RFC 5545 does, e.g. "
                     f"{example}", c.label)  # fmt: skip
    if bad:
        return False
    ok = True
    for name in ("DTSTART", "DTEND", "RDATE", "EXDATE", "RECURRENCE-ID"):
        # icalendar reads a TZID nobody defined as a floating time, silently.
        for prop in _props(c.comp, name):
            if "TZID" not in getattr(prop, "params", {}):
                continue
            values = [d.dt for d in prop.dts] if hasattr(prop, "dts") else [prop.dt]
            firsts = [v[0] if isinstance(v, tuple) else v for v in values]
            if any(isinstance(v, dt.datetime) and v.tzinfo is None for v in firsts):
                tzid = str(prop.params["TZID"])
                problems.add(c.prop_line(name), f"{name} uses TZID {tzid!r}, which is neither "
                             "an IANA zone nor defined by a VTIMEZONE in this file; add the "
                             "VTIMEZONE or use a name like Europe/Amsterdam", c.label)  # fmt: skip
                ok = False
                break
    return ok


def _periods(comp: Any, floating: dt.tzinfo) -> dict[int, int]:
    """RDATE;VALUE=PERIOD entries: their own start -> end."""
    found: dict[int, int] = {}
    for prop in _props(comp, "RDATE"):
        for item in prop.dts:
            value = item.dt
            if isinstance(value, tuple):
                start = _instant(value[0], floating)
                stop = value[1]
                if isinstance(stop, dt.timedelta):
                    found[start] = start + int(stop.total_seconds())
                else:
                    found[start] = _instant(stop, floating)
    return found


def _bounded(comp: Any) -> bool:
    """Whether every RRULE ends (COUNT or UNTIL); RDATEs are a finite list anyway."""
    return all("COUNT" in rule or "UNTIL" in rule for rule in _props(comp, "RRULE"))


def parse_ical_calendar(
    text: str,
    *,
    name: str,
    origin: str,
    default_zone: dt.tzinfo = dt.UTC,
    defaults: Timing | None = None,
    default_scale: Scale | None = None,
) -> Calendar:
    """An iCalendar file as a Calendar (SPEC section 2); raises CalendarError with every problem.

    `default_zone` reads DATE values and floating times when there is no X-WR-TIMEZONE;
    `defaults` and `default_scale` are the source's, for what a DESCRIPTION does not set.
    """
    text = text.removeprefix("\ufeff")
    problems = _Problems(origin)
    structural: list[tuple[int, str]] = []
    layout = _layout(text, structural)
    if structural:
        raise CalendarError([f"{origin}:{line}: {message}" for line, message in structural])
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, AttributeError, TypeError, KeyError, IndexError) as exc:
        # icalendar raises more than ValueError on some malformed input (a repeated TZID
        # parameter gives AttributeError); a feed must never take the service down with it.
        raise CalendarError(f"{origin}:1: not valid iCalendar ({exc}); export the calendar "
                            "again or check the line named") from exc  # fmt: skip

    timing = defaults or Timing()
    components: list[_Component] = []
    # The text's VEVENTs and icalendar's, both in document order; should they ever differ
    # (icalendar skipping something), messages fall back to line 1 rather than a wrong line.
    found = sum(len(calendar.walk("VEVENT")) for calendar in calendars)
    blocks = iter(layout.events if found == len(layout.events) else [])
    for index, calendar in enumerate(calendars):
        floating = default_zone
        props = layout.calendar_props[index] if index < len(layout.calendar_props) else {}
        wr = calendar.get("X-WR-TIMEZONE")
        if wr is not None:
            try:
                floating = parse_zone(str(wr).strip())
            except ValueError as exc:
                problems.add(props.get("X-WR-TIMEZONE", (1, ""))[0], f"X-WR-TIMEZONE: {exc}")
        for comp in calendar.walk("VEVENT"):
            block = next(blocks, None)
            rids = _props(comp, "RECURRENCE-ID")  # more than one: _check reports it
            uids = _props(comp, "UID")
            c = _Component(
                comp=comp,
                ref=str(len(components)),
                block=block,
                floating=floating,
                uid=(str(uids[0]).strip() or None) if uids else None,
                summary=_text(comp.get("SUMMARY")).strip(),
                override=bool(rids),
                this_and_future=bool(rids)
                and str(getattr(rids[0], "params", {}).get("RANGE", "")).upper() == "THISANDFUTURE",
                cancelled=_text(comp.get("STATUS")).strip().upper() == "CANCELLED",
            )
            comp[_REF] = c.ref
            components.append(c)

    groups: dict[str, list[_Component]] = {}
    for c in components:
        groups.setdefault(c.uid if c.uid else f"\0{c.ref}", []).append(c)

    ignored: list[str] = []
    taken: set[str] = set()
    events: list[Event] = []
    for members in groups.values():
        events.extend(_group(members, problems, ignored, taken, timing, default_scale))
    if problems.lines:
        raise CalendarError(problems.lines)
    return Calendar(name=name, origin=origin, events=tuple(events), ignored=tuple(ignored))


def _group(
    members: list[_Component],
    problems: _Problems,
    ignored: list[str],
    taken: set[str],
    defaults: Timing,
    default_scale: Scale | None,
) -> list[Event]:
    """The events of one UID: one per distinct set of numbers among its components."""
    # Two copies of the master (an updated invitation): the highest SEQUENCE wins, as in
    # recurring-ical-events; the first of equals.
    masters = [c for c in members if not c.override]
    if len(masters) > 1:
        winner = max(masters, key=_sequence)
        for c in masters:
            if c is not winner:
                ignored.append(f"{c.describe()}: superseded by the VEVENT at line "
                               f"{winner.line} with the same UID")  # fmt: skip
        members = [c for c in members if c.override or c is winner]

    before = len(problems.lines)
    live: list[_Component] = []
    checked: set[str] = set()
    for c in members:
        if c.cancelled:
            ignored.append(f"{c.describe()}: STATUS:CANCELLED")
            continue
        sale, errors = _parse_description(_text(c.comp.get("DESCRIPTION")), defaults,
                                          default_scale)  # fmt: skip
        for message in errors:
            problems.add(c.prop_line("DESCRIPTION"), message, c.label)
        if errors:
            continue
        if sale is None:
            ignored.append(f"{c.describe()}: no replicas/factor/load in DESCRIPTION")
            continue
        checked.add(c.ref)
        if not _check(c, problems):
            continue
        c.sale, c.length = sale, _length(c, problems)
        if c.length is not None:
            live.append(c)
    if not live:
        return []
    # The series is expanded with all of its components: a cancelled instance or a meeting
    # override still takes its occurrence away from the sale, so its times must be readable.
    fine = True
    for c in members:
        if c.ref not in checked:
            fine = _check(c, problems) and fine
            if "DTSTART" not in c.comp:
                problems.add(c.line, "has no DTSTART, and it belongs to the series of a sale; "
                             "add its start or remove it", c.label)  # fmt: skip
                fine = False
    if not fine or len(problems.lines) > before:
        return []  # the file is rejected; expanding a broken series would only add noise

    floating = members[0].floating
    master = next((c for c in members if not c.override), None)
    simple = (
        len(members) == 1
        and master is not None
        and not any(p in master.comp for p in ("RRULE", "RDATE", "EXDATE"))
    )
    if simple:
        c = live[0]
        assert c.length is not None and c.sale is not None
        start_value = c.comp["DTSTART"].dt
        schedule: Schedule = Once(_instant(start_value, floating),
                                  c.length.end(start_value, floating))  # fmt: skip
        return [_event(c, schedule, taken)]

    sub = icalendar.Calendar()
    for c in members:
        sub.add_component(c.comp)
    lengths = {c.ref: c.length for c in live if c.length is not None}
    core = master if master in live else None  # a cancelled or meeting master yields nothing
    periods = _periods(core.comp, floating) if core is not None else {}
    label = (master or members[0]).label
    try:
        series = _Series(sub, floating, lengths, periods, core.ref if core else None)
        # Expanding near the start is what finds a bad RRULE, RDATE or EXDATE.
        first = min(_instant(c.comp["DTSTART"].dt, floating) for c in live)
        series.occurrences(first, first + 1)
        bounded = master is None or (core is not None and _bounded(core.comp))
        everything = series.everything() if bounded else None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # The library reports malformed rules with many exception types; none may escape
        # to the service, which would then keep the last good calendar without a reason.
        where = (master or members[0]).prop_line("RRULE")
        problems.add(where, f"the recurrence (RRULE, RDATE, EXDATE, RECURRENCE-ID) cannot be "
                     f"expanded ({exc}); check it against RFC 5545, e.g. "
                     "RRULE:FREQ=WEEKLY;BYDAY=FR", label)  # fmt: skip
        return []

    sets: dict[tuple[object, ...], list[_Component]] = {}
    for c in live:
        assert c.sale is not None
        sets.setdefault(c.sale.key(), []).append(c)
    events = []
    for same in sets.values():
        refs = frozenset(c.ref for c in same)
        recurring = any(not c.override or c.this_and_future for c in same)
        last: int | None
        if everything is not None:
            ends = [e for _, e, ref in everything if ref in refs]
            last = max(ends) if ends else min(_instant(c.comp["DTSTART"].dt, floating)
                                              for c in same)  # fmt: skip
        elif recurring:
            last = None
        else:  # single moved occurrences of a series that never ends
            last = max(c.length.end(c.comp["DTSTART"].dt, floating)
                       for c in same if c.length is not None)  # fmt: skip
        events.append(_event(same[0], IcalSchedule(series, refs, last), taken))
    return events


def _sequence(c: _Component) -> int:
    try:
        return int(c.comp.get("SEQUENCE", -1))
    except (TypeError, ValueError):
        return -1


def _event(c: _Component, schedule: Schedule, taken: set[str]) -> Event:
    assert c.sale is not None
    base = event_name(c.summary) or event_name(c.uid or "") or "event"
    return Event(
        name=_unique(base, taken),
        line=c.line,
        scale=c.sale.scale,
        targets=c.sale.targets,
        timing=c.sale.timing,
        schedule=schedule,
    )
