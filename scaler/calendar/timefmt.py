"""Durations and times as calendars write them, and the wall-clock rule for DST.

Instants are whole seconds since the epoch (int) everywhere in the core: every boundary the
contract defines falls on a whole second, so integers keep the arithmetic exact and cheap.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "format_duration",
    "format_instant",
    "local_date_instant",
    "parse_date",
    "parse_duration",
    "parse_instant",
    "parse_zone",
    "quote",
    "wall_clock_instant",
]

# ASCII digits only (`\d` would take other scripts' digits, and int() reads them), and few
# enough of them that int() never meets Python's 4,300-digit limit: 15 digits of seconds are
# already 30 million years.
_DURATION = re.compile(r"([0-9]{1,15})([dhms])")
QUOTE_MAX = 100  # characters of a value quoted in a message
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$")
_OFFSET = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"([Zz]|[+-]\d{2}:\d{2})$"
)


def parse_duration(text: str) -> int:
    """`1h30m` -> 5400. Raises ValueError with a message that shows the accepted form."""
    text = str(text).strip()
    return _known_duration(text) if len(text) <= 32 else _duration(text)


def _duration(text: str) -> int:
    pos = 0
    total = 0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNIT[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f"duration {quote(text)} is not valid; write <number><unit>... with units d, h, m, s, "
            "e.g. 90s, 15m, 1h30m, 1d12h, 0s"
        )
    return total


# Calendars repeat a few short durations thousands of times; a long text is never kept.
_known_duration = functools.lru_cache(maxsize=1024)(_duration)


def quote(text: str) -> str:
    """`text` for an error message: repr'd, at most QUOTE_MAX characters of it.

    A message quoting a 1 MB value whole makes C-core gRPC clients (KEDA's Go client too)
    fail with RESOURCE_EXHAUSTED on the trailer instead of showing the message.
    """
    if len(text) <= QUOTE_MAX:
        return repr(text)
    return f"{text[:QUOTE_MAX]!r}... ({len(text):,} characters)"


def format_duration(seconds: int) -> str:
    """5400 -> `1h30m`; 0 -> `0s`."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNIT.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(str(name))
    # OSError: a zone directory such as `Asia` reaches the file system as IsADirectoryError.
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(
            f"time zone {name!r} is not a known IANA zone; write a name like "
            "Asia/Tokyo, Europe/Amsterdam or UTC"
        ) from exc


def wall_clock_instant(local: dt.datetime, zone: dt.tzinfo) -> int:
    """The instant of a local wall-clock time, by the contract's DST rule.

    zoneinfo with fold=0 reads a time in a spring-forward gap with the offset from before the
    gap, which moves it forward by the gap (02:30 -> 03:30), and an ambiguous fall-back time as
    its first occurrence: exactly the rule, so no special cases are needed here.
    """
    return int(local.replace(tzinfo=zone, fold=0).timestamp())


def parse_date(text: str) -> dt.date:
    match = _DATE.match(str(text).strip())
    if not match:
        raise ValueError(f"date {text!r} is not valid; write YYYY-MM-DD, e.g. 2026-12-24")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise ValueError(f"date {text!r} does not exist ({exc})") from exc


def local_date_instant(day: dt.date, zone: dt.tzinfo) -> int:
    """Local midnight at the start of `day` (moved forward if midnight is in a DST gap)."""
    return wall_clock_instant(dt.datetime(day.year, day.month, day.day), zone)


def parse_instant(text: str, zone: dt.tzinfo) -> int:
    """A calendar time: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]` (local) or RFC 3339 with offset."""
    raw = str(text).strip()
    try:
        if _DATE.match(raw):
            return local_date_instant(parse_date(raw), zone)
        match = _LOCAL.match(raw)
        if match:
            year, month, day, hour, minute, second = match.groups()
            # Made aware at once (fold=0): wall_clock_instant's rule, without a replace().
            return int(dt.datetime(int(year), int(month), int(day), int(hour), int(minute),
                                   int(second or 0), tzinfo=zone).timestamp())  # fmt: skip
        match = _OFFSET.match(raw)
        if match:
            parsed = dt.datetime.fromisoformat(raw.replace("z", "Z").replace("t", "T"))
            # Sub-second parts are dropped (boundaries are whole seconds) before the float
            # conversion, which would otherwise round .999999 up into the next second.
            return int(parsed.replace(microsecond=0).timestamp())
    except ValueError as exc:
        raise ValueError(f"time {raw!r} does not exist ({exc})") from exc
    raise ValueError(
        f"time {raw!r} is not valid; write YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (local time) "
        "or RFC 3339 with an offset, e.g. 2026-11-27T00:00:00+09:00"
    )


def format_instant(instant: int) -> str:
    """RFC 3339 in UTC with `Z`, whole seconds."""
    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
