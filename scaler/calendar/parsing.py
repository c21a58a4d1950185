"""Calendar files (YAML or JSON, one schema) into a validated Calendar.

Every problem is collected, not just the first, and the file is rejected whole if there is
any: a calendar that is half applied is worse than the last good one.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import gc
import re
import threading
from collections.abc import Callable, Iterator, Set
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from scaler.calendar import blockyaml
from scaler.calendar.model import (
    MAX_REPLICAS,
    Calendar,
    Event,
    Once,
    Reference,
    Scale,
    Schedule,
    Target,
    Timing,
    in_range,
)
from scaler.calendar.recurrence import CronSchedule, HolidaySet, check_cron
from scaler.calendar.timefmt import (
    local_date_instant,
    parse_date,
    parse_duration,
    parse_instant,
    parse_zone,
)
from scaler.calendar.yamlnodes import Map, Seq, YamlSyntaxError, load
from scaler.errors import CalendarError

__all__ = ["EVENT_NAME", "like_scales", "parse_calendar", "parse_yaml_calendar", "reading"]

EVENT_NAME = re.compile(r"[a-z0-9-]{1,63}")  # use with fullmatch: `$` would let "x\n" through
_TOP_KEYS = {"version", "timezone", "defaults", "exclusions", "events"}
_TIMING_KEYS = {"leadTime": "lead_time", "rampUp": "ramp_up", "rampDown": "ramp_down"}
_DEFAULT_KEYS = {*_TIMING_KEYS, "rampSteps"}
_EVENT_KEYS = {
    "name", "start", "end", "duration", "schedule", "timezone", "from", "until", "exclude",
    "scale", "targets", "disabled", *_DEFAULT_KEYS,
}  # fmt: skip
_RECURRING_ONLY = ("from", "until", "exclude")
_SCALE_KINDS = ("replicas", "factor", "load")
_LIKE_KEYS = ("like", "growth", "otherwise")  # SPEC section 9
_SCALE_KEYS = frozenset(_SCALE_KINDS)
_SCALE_OR_LIKE_KEYS = frozenset({*_SCALE_KINDS, *_LIKE_KEYS})
_TARGET_KEYS = {"namespace", "name", "labels", "scale"}
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_HOLIDAYS = re.compile(r"^holidays:([A-Za-z]{2})(?:-([A-Za-z0-9]{1,5}))?$")

T = TypeVar("T")


class _Problems:
    """Collects `file:line: [event 'x': ]message` lines."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.lines: list[str] = []
        self._numbers: list[int] = []  # the line number of each entry of self.lines
        self.like_lines: dict[int, int] = {}  # id(like scale) -> line of its `like` key

    def add(self, line: int, message: str, event: str | None = None) -> None:
        where = f"event {event!r}: " if event is not None else ""
        self.lines.append(f"{self.origin}:{line}: {where}{message}")
        self._numbers.append(line)

    def in_line_order(self, since: int) -> None:
        """Sort the problems added since `since` (one event's) as their lines come in the file."""
        if len(self.lines) - since < 2:
            return
        pairs = sorted(zip(self._numbers[since:], self.lines[since:], strict=True),
                       key=lambda pair: pair[0])  # fmt: skip
        self._numbers[since:] = [number for number, _ in pairs]
        self.lines[since:] = [line for _, line in pairs]


def _line(node: Any, key: str | None = None, default: int = 1) -> int:
    if isinstance(node, Map):
        return node.key_lines.get(key, node.line) if key is not None else node.line
    if isinstance(node, Seq):
        return node.line
    return default


def _unknown(node: Map, known: set[str] | frozenset[str]) -> list[str]:
    """The keys of `node` not in `known`, sorted (the usual answer, none, found first)."""
    return [] if known.issuperset(node) else sorted(set(node) - known)


def _suggest(key: str, known: Set[str]) -> str:
    """`did you mean 'leadTime'?`, or the list of known keys."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"use one of {', '.join(sorted(known))}"


def _show(value: Any) -> str:
    """A value for a message, close to how it was written: 1.5 and Infinity, not Decimal('1.5')."""
    return str(value) if isinstance(value, Decimal) else repr(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _parse_scale(
    node: Any, problems: _Problems, line: int, event: str | None, *, like: bool = True
) -> Scale | None:
    if not isinstance(node, Map):
        problems.add(line, "scale must be a mapping with one of replicas, factor, load, "
                     "e.g. scale: {replicas: 10}", event)  # fmt: skip
        return None
    keys = _SCALE_OR_LIKE_KEYS if like else _SCALE_KEYS
    unknown = _unknown(node, keys)
    for key in unknown:
        if key == "like":
            problems.add(_line(node, key), "otherwise cannot be like itself; give it "
                         "replicas, factor or load, e.g. otherwise: {factor: 3}",
                         event)  # fmt: skip
            return None
        problems.add(_line(node, key), f"scale has unknown key {key!r}; "
                     f"{_suggest(key, keys)}", event)  # fmt: skip
    if like and "like" in node:
        if any(k in node for k in _SCALE_KINDS):
            got = " and ".join(k for k in (*_SCALE_KINDS, "like") if k in node)
            problems.add(_line(node), "scale needs exactly one of replicas, factor, load, "
                         f"like (got {got}); e.g. scale: {{like: black-friday-2025}}",
                         event)  # fmt: skip
            return None
        return _parse_like(node, problems, event)
    for key in ("growth", "otherwise"):
        if like and key in node:
            problems.add(_line(node, key), f"{key} belongs to like scales; add like: "
                         "<earlier event> or remove it", event)  # fmt: skip
    kinds = [k for k in _SCALE_KINDS if k in node]
    if len(kinds) != 1:
        got = " and ".join(kinds) if kinds else "none"
        problems.add(_line(node), f"scale needs exactly one of replicas, factor, load (got {got}); "
                     "e.g. scale: {factor: 3}", event)  # fmt: skip
        return None
    kind = kinds[0]
    value = node[kind]
    where = _line(node, kind)
    if kind == "replicas":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_REPLICAS:
            problems.add(where, f"scale.replicas {_show(value)} must be a whole number from 0 to "
                         f"{MAX_REPLICAS}, e.g. replicas: 10", event)  # fmt: skip
            return None
        return _scale("replicas", Decimal(value))
    if not _is_number(value) or not in_range(Decimal(value)) or Decimal(value) < 0:
        problems.add(where, f"scale.{kind} {_show(value)} must be a finite number >= 0 and "
                     "below 1e16, with at most 9 decimals, "
                     f"e.g. {kind}: {'1.5' if kind == 'factor' else '20000'}", event)  # fmt: skip
        return None
    return _scale(kind, Decimal(value))


def _parse_like(node: Map, problems: _Problems, event: str | None) -> Scale | None:
    """`{like: NAME, growth: G, otherwise: SCALE}`; the reference's window is filled in by
    `_resolve_likes` once every event has been read (it may come later in the file)."""
    name, where = node["like"], _line(node, "like")
    ok = isinstance(name, str) and EVENT_NAME.fullmatch(name) is not None
    if not ok:
        problems.add(where, f"like {_show(name)} must name an earlier one-off event of this "
                     "calendar, e.g. like: black-friday-2025", event)  # fmt: skip
    growth = node.get("growth", 1)
    if not _is_number(growth) or not in_range(Decimal(growth)) or Decimal(growth) < 0:
        problems.add(_line(node, "growth"), f"growth {_show(growth)} must be a finite number "
                     ">= 0 with at most 9 decimals, e.g. growth: 1.2", event)  # fmt: skip
        ok = False
    otherwise = None
    if "otherwise" in node:
        otherwise = _parse_scale(node["otherwise"], problems, _line(node, "otherwise"), event,
                                 like=False)  # fmt: skip
        ok = ok and otherwise is not None
    if not ok:
        return None
    scale = Scale(kind="like", amount=Decimal(growth), like=Reference(str(name), 0, 0),
                  otherwise=otherwise)  # fmt: skip
    problems.like_lines[id(scale)] = where
    return scale


def like_scales(event: Event) -> list[Scale]:
    """The event's `like` scales: its own and its targets'."""
    scales = [event.scale, *(t.scale for t in event.targets)]
    return [s for s in scales if s is not None and s.kind == "like"]


def _resolve_likes(events: list[Event], named: set[str], problems: _Problems) -> list[Event]:
    """Each `like` scale with its reference's window; a problem for a reference that is not an
    earlier one-off event of this calendar. `named`: every event name written, valid or not
    (an invalid referenced event has its own problem already)."""
    by_name = {e.name: e for e in events}

    def resolved(scale: Scale | None, event: Event) -> Scale | None:
        if scale is None or scale.like is None:
            return scale
        name, line = scale.like.event, problems.like_lines.get(id(scale), event.line)
        ref = by_name.get(name)
        if ref is None:
            if name not in named:
                others = sorted(set(by_name) - {event.name})
                close = difflib.get_close_matches(name, others, n=1, cutoff=0.6)
                hint = (f"did you mean {close[0]!r}?" if close else "add the earlier sale as "
                        "a one-off event (disabled: true keeps it as a record)")  # fmt: skip
                problems.add(line, f"like {name!r}: no event of that name in this calendar; "
                             f"{hint}", event.name)  # fmt: skip
            return scale
        if not isinstance(ref.schedule, Once):
            problems.add(line, f"like {name!r}: that event is recurring (line {ref.line}); like "
                         "needs a one-off event with start and end", event.name)  # fmt: skip
            return scale
        assert isinstance(event.schedule, Once)
        if ref.schedule.end > event.schedule.start:
            problems.add(line, f"like {name!r}: that event ends after this one starts; like "
                         "names an earlier event, whose end is at or before this start",
                         event.name)  # fmt: skip
            return scale
        return replace(scale, like=Reference(name, ref.schedule.start, ref.schedule.end))

    out = []
    for event in events:
        if not like_scales(event):
            out.append(event)
            continue
        targets = tuple(replace(t, scale=resolved(t.scale, event)) for t in event.targets)
        out.append(replace(event, scale=resolved(event.scale, event), targets=targets))
    return out


def _parse_targets(
    node: Any, problems: _Problems, line: int, event: str | None
) -> tuple[Target, ...]:
    if node is None:
        return ()
    if not isinstance(node, Seq):
        problems.add(line, "targets must be a list, e.g. targets: [{labels: {tier: frontend}}]",
                     event)  # fmt: skip
        return ()
    targets = []
    for item, item_line in zip(node, node.item_lines, strict=True):
        if not isinstance(item, Map):
            problems.add(item_line, "each target must be a mapping of namespace, name, labels, "
                         "scale", event)  # fmt: skip
            continue
        for key in _unknown(item, _TARGET_KEYS):
            problems.add(_line(item, key), f"target has unknown key {key!r}; "
                         f"{_suggest(key, _TARGET_KEYS)}", event)  # fmt: skip
        labels: dict[str, str] = {}
        raw_labels = item.get("labels")
        if raw_labels is not None:
            if isinstance(raw_labels, Map) and all(
                isinstance(v, (str, int, Decimal, bool)) for v in raw_labels.values()
            ):
                labels = {k: (str(v).lower() if isinstance(v, bool) else str(v))
                          for k, v in raw_labels.items()}  # fmt: skip
            else:
                problems.add(_line(item, "labels"), "target labels must map names to values, "
                             "e.g. labels: {tier: frontend}", event)  # fmt: skip
        globs: dict[str, str | None] = {}
        for key in ("namespace", "name"):
            value = item.get(key)
            if value is not None and not isinstance(value, str):
                problems.add(_line(item, key), f"target {key} must be text (a shell-style glob), "
                             f"got {value!r}", event)  # fmt: skip
                value = None
            globs[key] = value
        scale = None
        if "scale" in item:
            scale = _parse_scale(item["scale"], problems, _line(item, "scale"), event)
        if scale is not None and scale.kind == "like":  # not shared: resolved per event
            targets.append(Target(namespace=globs["namespace"], name=globs["name"],
                                  labels=labels, scale=scale))  # fmt: skip
        else:
            targets.append(_target(globs["namespace"], globs["name"], labels, scale))
    return tuple(targets)


def _timing(node: Map, problems: _Problems, base: Timing, event: str | None) -> Timing:
    values: dict[str, int] = {
        "lead_time": base.lead_time, "ramp_up": base.ramp_up,
        "ramp_down": base.ramp_down, "ramp_steps": base.ramp_steps,
    }  # fmt: skip
    for key, attr in _TIMING_KEYS.items():
        if key in node:
            try:
                values[attr] = parse_duration(node[key])
            except ValueError as exc:
                problems.add(_line(node, key), f"{key}: {exc}", event)
    if "rampSteps" in node:
        steps = node["rampSteps"]
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            problems.add(_line(node, "rampSteps"), f"rampSteps {_show(steps)} must be a whole "
                         "number >= 1, e.g. rampSteps: 5", event)  # fmt: skip
        else:
            values["ramp_steps"] = steps
    return _shared_timing(**values)


def _try(problems: _Problems, line: int, event: str | None, fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except ValueError as exc:
        problems.add(line, str(exc), event)
        return None
    except OverflowError as exc:  # a date near 9999-12-31 plus a day, e.g. `until: 9999-12-31`
        problems.add(line, f"time out of range ({exc}); use a date before 9999-12-31", event)
        return None


def _exclusions(node: Any, problems: _Problems) -> dict[str, frozenset[dt.date]]:
    if node is None:
        return {}
    if not isinstance(node, Map):
        problems.add(_line(node), "exclusions must map names to lists of dates, "
                     "e.g. exclusions: {year-end: [2026-12-31, 2027-01-01]}")  # fmt: skip
        return {}
    sets: dict[str, frozenset[dt.date]] = {}
    for name, dates in node.items():
        if not isinstance(dates, Seq):
            problems.add(_line(node, name), f"exclusions.{name} must be a list of dates, "
                         "e.g. [2026-12-31, 2027-01-01]")  # fmt: skip
            continue
        days = set()
        for value, line in zip(dates, dates.item_lines, strict=True):
            day = _try(problems, line, None, lambda v=value: parse_date(v))  # type: ignore[misc]
            if day is not None:
                days.add(day)
        sets[name] = frozenset(days)
    return sets


def _event(
    node: Map,
    line: int,
    problems: _Problems,
    *,
    zone: dt.tzinfo | None,
    defaults: Timing,
    exclusions: dict[str, frozenset[dt.date]],
) -> Event | None:
    name = node.get("name")
    label = name if isinstance(name, str) else None
    before = len(problems.lines)
    if name is None:
        problems.add(line, "event has no name; add one of 1-63 characters of a-z, 0-9 and '-', "
                     "e.g. name: black-friday")  # fmt: skip
    elif not isinstance(name, str):
        problems.add(_line(node, "name", line), f"event name {_show(name)} must be text; write "
                     f"it in quotes, e.g. name: \"{name}\"")  # fmt: skip
    elif not EVENT_NAME.fullmatch(name):
        problems.add(_line(node, "name", line), "name must be 1-63 characters of a-z, 0-9 and "
                     "'-', e.g. name: black-friday", label)  # fmt: skip
    for key in _unknown(node, _EVENT_KEYS):
        problems.add(_line(node, key), f"unknown key {key!r}; {_suggest(key, _EVENT_KEYS)}",
                     label)  # fmt: skip

    if "timezone" in node:
        zone = _try(problems, _line(node, "timezone"), label,
                    lambda: parse_zone(node["timezone"]))  # fmt: skip
    local = zone or dt.UTC

    disabled = node.get("disabled", False)
    if not isinstance(disabled, bool):
        problems.add(_line(node, "disabled"), f"disabled {disabled!r} must be true or false", label)
        disabled = False

    scale = None
    if "scale" in node:
        scale = _parse_scale(node["scale"], problems, _line(node, "scale"), label)
    targets = _parse_targets(node.get("targets"), problems, _line(node, "targets"), label)
    if "scale" not in node and not (targets and all(t.scale for t in targets)):
        problems.add(line, "has no scale; add one of scale: {replicas: N}, {factor: F} or "
                     "{load: X}", label)  # fmt: skip
    if "schedule" in node:
        for like in [s for s in (scale, *(t.scale for t in targets)) if s and s.kind == "like"]:
            problems.add(problems.like_lines.get(id(like), line), "like sizes one-off "
                         "events only; give this recurring event replicas, factor or load",
                         label)  # fmt: skip
    timing = _timing(node, problems, defaults, label)

    duration = None
    if "duration" in node:
        duration = _try(problems, _line(node, "duration"), label,
                        lambda: parse_duration(node["duration"]))  # fmt: skip
        if duration == 0:
            problems.add(_line(node, "duration"), "duration must be more than 0s", label)

    schedule: Schedule | None = None
    if "schedule" in node:
        for key in ("start", "end"):
            if key in node:
                problems.add(_line(node, key), f"a recurring event (schedule) takes duration, "
                             f"not {key}; remove {key}", label)  # fmt: skip
        if "duration" not in node:
            problems.add(line, "a recurring event needs duration, e.g. duration: 1h", label)
        schedule = _recurring(node, problems, label, local, duration or 1, exclusions)
    else:
        for key in _RECURRING_ONLY:
            if key in node:
                problems.add(_line(node, key), f"{key} applies to recurring events only; add a "
                             f"schedule or remove {key}", label)  # fmt: skip
        if "start" not in node:
            problems.add(line, "needs start (with end or duration) or schedule (with duration)",
                         label)  # fmt: skip
        else:
            start = _try(problems, _line(node, "start"), label,
                         lambda: parse_instant(node["start"], local))  # fmt: skip
            end = None
            if "end" in node and "duration" in node:
                problems.add(_line(node, "end"), "has both end and duration; keep one", label)
            elif "end" in node:
                end = _try(problems, _line(node, "end"), label,
                           lambda: parse_instant(node["end"], local))  # fmt: skip
                if start is not None and end is not None and end <= start:
                    moved = _gap_note("start", node["start"], start, local) + _gap_note(
                        "end", node["end"], end, local
                    )
                    problems.add(_line(node, "end"), f"end {node['end']} is not after start "
                                 f"{node['start']}{moved}; end is exclusive and must come later",
                                 label)  # fmt: skip
                    end = None
            elif "duration" in node:
                end = start + duration if start is not None and duration else None
            else:
                problems.add(_line(node, "start"), "needs end or duration, e.g. duration: 2h",
                             label)  # fmt: skip
            if start is not None and end is not None:
                schedule = Once(start, end)

    if len(problems.lines) > before or schedule is None or label is None:
        return None
    return Event(name=label, line=line, scale=scale, targets=targets, timing=timing,
                 schedule=schedule, disabled=disabled)  # fmt: skip


def _gap_note(key: str, text: Any, instant: int, zone: dt.tzinfo) -> str:
    """`; start ... is in the spring-forward gap ...` when the DST rule moved a local time."""
    try:
        written = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        return ""
    if written.tzinfo is not None:
        return ""  # an offset is given: nothing was moved
    read = dt.datetime.fromtimestamp(instant, zone).replace(tzinfo=None)
    if read == written:
        return ""
    shown = f"{read:%Y-%m-%dT%H:%M}" + (f":{read:%S}" if read.second else "")
    return (f"; {key} {text} is in the spring-forward gap of {zone}, and a time in the gap "
            f"moves forward by the gap: to {shown}")  # fmt: skip


def _recurring(
    node: Map,
    problems: _Problems,
    label: str | None,
    local: dt.tzinfo,
    duration: int,
    exclusions: dict[str, frozenset[dt.date]],
) -> CronSchedule | None:
    """The schedule, from/until and exclude of a recurring event (None when any is wrong)."""
    before = len(problems.lines)
    expression = str(node["schedule"])
    _try(problems, _line(node, "schedule"), label, lambda: check_cron(expression))
    start_from = until = None
    if "from" in node:
        start_from = _try(problems, _line(node, "from"), label,
                          lambda: parse_instant(node["from"], local))  # fmt: skip
    if "until" in node:
        raw_until = str(node["until"]).strip()
        if _DATE_TEXT.fullmatch(raw_until):
            # A date in `until` includes that whole local day.
            until = _try(problems, _line(node, "until"), label, lambda: local_date_instant(
                parse_date(raw_until) + dt.timedelta(days=1), local) - 1)  # fmt: skip
        else:
            until = _try(problems, _line(node, "until"), label,
                         lambda: parse_instant(raw_until, local))  # fmt: skip
    if start_from is not None and until is not None and until < start_from:
        problems.add(_line(node, "until"), f"until {node['until']} is before from "
                     f"{node['from']}; swap them or fix the dates", label)  # fmt: skip
    dates: set[dt.date] = set()
    holiday_sets: list[HolidaySet] = []
    raw_exclude = node.get("exclude")
    entries: list[tuple[Any, int]] = []
    if isinstance(raw_exclude, Seq):
        entries = list(zip(raw_exclude, raw_exclude.item_lines, strict=True))
    elif raw_exclude is not None:
        problems.add(_line(node, "exclude"), "exclude must be a list of dates, exclusion "
                     "names or holidays:CC, e.g. exclude: [2026-12-24, \"holidays:JP\"]",
                     label)  # fmt: skip
    for entry, entry_line in entries:
        text = str(entry).strip()
        holiday = _HOLIDAYS.match(text)
        if holiday:
            hs = _try(problems, entry_line, label,
                      lambda h=holiday: _holidays(h[1], h[2]))  # type: ignore[misc]  # fmt: skip
            if hs is not None:
                holiday_sets.append(hs)
        elif _DATE_TEXT.fullmatch(text):
            day = _try(problems, entry_line, label, lambda t=text: parse_date(t))  # type: ignore[misc]
            if day is not None:
                dates.add(day)
        elif text in exclusions:
            dates |= exclusions[text]
        else:
            known = ", ".join(sorted(exclusions)) or "none defined"
            problems.add(entry_line, f"exclude entry {text!r} is not a date (YYYY-MM-DD), "
                         f"holidays:CC[-SUBDIV], or a name from exclusions ({known})",
                         label)  # fmt: skip
    if len(problems.lines) > before:
        return None
    return CronSchedule(
        expression=expression, zone=local, duration=duration, start_from=start_from,
        until=until, excluded_dates=frozenset(dates), excluded_holidays=tuple(holiday_sets),
    )  # fmt: skip


def _holidays(country: str, subdivision: str | None) -> HolidaySet:
    return _holiday_set(country.upper(), subdivision.upper() if subdivision else None)


# One set per country and subdivision: its days are looked up once per year, not per event.
# Keyed by the codes as checked, so the cache holds at most the package's known ones.
@functools.cache
def _holiday_set(country: str, subdivision: str | None) -> HolidaySet:
    import holidays  # lazily: it imports a module per country

    if country not in holidays.list_supported_countries():
        raise ValueError(f"holidays:{country} is not a country the holidays package knows; "
                         "use an ISO 3166 code such as JP, US, DE")  # fmt: skip
    supported = holidays.list_supported_countries()[country]
    if subdivision is not None and subdivision not in supported:
        raise ValueError(f"holidays:{country}-{subdivision}: unknown subdivision; known: "
                         f"{', '.join(supported) or 'none'}")  # fmt: skip
    return HolidaySet(country, subdivision)


# Calendars repeat the same scales, timings and targets thousands of times. They are immutable,
# so events share one object each: a 100,000-event calendar takes less than half the memory.
# Scales are shared by their exact text (1.10 stays 1.10, not 1.1).
_SHARED_MAX = 4096


@functools.lru_cache(maxsize=_SHARED_MAX)
def _shared_scale(kind: str, text: str) -> Scale:
    return Scale(kind=kind, amount=Decimal(text))  # type: ignore[arg-type]


def _scale(kind: str, amount: Decimal) -> Scale:
    return _shared_scale(kind, str(amount))


@functools.lru_cache(maxsize=_SHARED_MAX)
def _shared_timing(lead_time: int, ramp_up: int, ramp_down: int, ramp_steps: int) -> Timing:
    return Timing(lead_time=lead_time, ramp_up=ramp_up, ramp_down=ramp_down,
                  ramp_steps=ramp_steps)  # fmt: skip


_TargetKey = tuple[str | None, str | None, tuple[tuple[str, str], ...], tuple[str, str] | None]
_targets: dict[_TargetKey, Target] = {}


def _target(
    namespace: str | None, name: str | None, labels: dict[str, str], scale: Scale | None
) -> Target:
    key = (namespace, name, tuple(labels.items()),
           None if scale is None else (scale.kind, str(scale.amount)))  # fmt: skip
    found = _targets.get(key)
    if found is None:
        found = Target(namespace=namespace, name=name, labels=labels, scale=scale)
        if len(_targets) >= _SHARED_MAX:
            _targets.clear()
        _targets[key] = found
    return found


_one_at_a_time = threading.Lock()
_gc_was_enabled = False


@contextmanager
def reading() -> Iterator[None]:
    """One calendar is read at a time, with the cyclic garbage collector paused (also for
    a calendar read elsewhere that arrives here as a pickle: workers.py).

    Reading builds a YAML node tree of ~7 KB per event and then the calendar: hundreds of
    thousands of objects, none in a reference cycle, each batch of which sets off a collection
    that walks the whole growing tree (10,000 events: 2.2 s with, 0.8 s without). Reference
    counting frees the tree as usual; the collector runs again as soon as the read ends.
    Several sources reading at once (threads) would only interleave under the GIL, and hold
    every tree in memory together: they take turns instead.
    """
    global _gc_was_enabled
    with _one_at_a_time:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if _gc_was_enabled:
                gc.enable()


def parse_yaml_calendar(text: str, *, name: str, origin: str) -> Calendar:
    with reading():
        return _parse_yaml_calendar(text, name=name, origin=origin)


def _parse_yaml_calendar(text: str, *, name: str, origin: str) -> Calendar:
    problems = _Problems(origin)
    try:
        root = blockyaml.read(text)
        if root is None:  # not the usual block style: libyaml reads it
            root = load(text)
    except YamlSyntaxError as exc:
        raise CalendarError(f"{origin}:{exc.line}: {exc}") from exc
    if not isinstance(root, Map):
        raise CalendarError(f"{origin}:1: a calendar is a mapping with version: 1 and events: "
                            "[...]; see the README's calendar reference")  # fmt: skip
    for key in _unknown(root, _TOP_KEYS):
        problems.add(_line(root, key), f"unknown top-level key {key!r}; "
                     f"{_suggest(key, _TOP_KEYS)}")  # fmt: skip
    version = root.get("version")
    if type(version) is not int or version != 1:  # `true` and `1.0` compare equal to 1
        problems.add(_line(root, "version"), f"version: 1 is required (got "
                     f"{_show(version)})")  # fmt: skip
    zone = None
    if "timezone" in root:
        zone = _try(problems, _line(root, "timezone"), None, lambda: parse_zone(root["timezone"]))
    defaults = Timing()
    raw_defaults = root.get("defaults")
    if raw_defaults is not None:
        if isinstance(raw_defaults, Map):
            for key in _unknown(raw_defaults, _DEFAULT_KEYS):
                problems.add(_line(raw_defaults, key), f"defaults has unknown key {key!r}; "
                             f"{_suggest(key, _DEFAULT_KEYS)}")  # fmt: skip
            defaults = _timing(raw_defaults, problems, defaults, None)
        else:
            problems.add(_line(root, "defaults"), "defaults must be a mapping, e.g. "
                         "defaults: {leadTime: 15m}")  # fmt: skip
    exclusions = _exclusions(root.get("exclusions"), problems)

    events: list[Event] = []
    raw_events = root.get("events")
    seen: dict[str, int] = {}
    if raw_events is None:
        raw_events = Seq()
        raw_events.item_lines = []
    if not isinstance(raw_events, Seq):
        problems.add(_line(root, "events"), "events must be a list of events")
        raw_events = Seq()
        raw_events.item_lines = []
    for item, line in zip(raw_events, raw_events.item_lines, strict=True):
        if not isinstance(item, Map):
            problems.add(line, "each event must be a mapping with name, start/schedule, scale")
            continue
        event_name = item.get("name")
        before = len(problems.lines)
        if isinstance(event_name, str):
            if event_name in seen:
                problems.add(_line(item, "name", line), f"name is already used by the event at "
                             f"line {seen[event_name]}; event names must be unique",
                             event_name)  # fmt: skip
            else:
                seen[event_name] = line
        event = _event(item, line, problems, zone=zone, defaults=defaults, exclusions=exclusions)
        problems.in_line_order(before)
        if event is not None:
            events.append(event)
    if problems.like_lines:
        events = _resolve_likes(events, set(seen), problems)
    if problems.lines:
        raise CalendarError(problems.lines)
    return Calendar(name=name, origin=origin, events=tuple(events))


def parse_calendar(
    text: str | bytes, *, name: str, origin: str, default_zone: dt.tzinfo | None = None
) -> Calendar:
    """Parse a calendar of any supported format; `origin` names it in messages.

    iCalendar is recognised by a `.ics` suffix or a BEGIN:VCALENDAR first line;
    `default_zone` reads its DATE values and floating times when it has no X-WR-TIMEZONE
    (UTC when not given).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CalendarError(
                f"{origin}:1: not UTF-8 text ({exc}); save the file as UTF-8"
            ) from exc
    text = text.removeprefix("\ufeff")
    if origin.lower().endswith(".ics") or text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        from scaler.calendar.ical import parse_ical_calendar

        if default_zone is None:
            return parse_ical_calendar(text, name=name, origin=origin)
        return parse_ical_calendar(text, name=name, origin=origin, default_zone=default_zone)
    return parse_yaml_calendar(text, name=name, origin=origin)
