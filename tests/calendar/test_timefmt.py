"""Durations and times as calendars write them, and the wall-clock rule on DST days (SPEC 2)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaler.calendar.timefmt import (
    format_duration,
    format_instant,
    parse_duration,
    parse_instant,
    parse_zone,
)

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
UTC = dt.UTC


def utc(text: str) -> int:
    """An instant written in UTC, e.g. `2026-03-08T07:30:00`."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


# -- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("90s", 90, id="seconds"),
        pytest.param("15m", 900, id="minutes"),
        pytest.param("2h", 7200, id="hours"),
        pytest.param("4d", 345600, id="days"),
        pytest.param("1h30m", 5400, id="hours-minutes"),
        pytest.param("1d12h", 129600, id="days-hours"),
        pytest.param("1d2h3m4s", 93784, id="every-unit"),
        pytest.param("0s", 0, id="zero"),
        pytest.param("90m", 5400, id="more-minutes-than-an-hour"),
    ],
)
def test_duration_is_the_sum_of_its_parts(text: str, expected: int) -> None:
    assert expected == parse_duration(text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("90", id="no-unit"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("h", id="no-number"),
        pytest.param("-5m", id="negative"),
        pytest.param("1h 30m", id="inner-space"),
        pytest.param("1w", id="weeks"),
        pytest.param("1H", id="upper-case-unit"),
        pytest.param("10ms", id="milliseconds"),
        pytest.param("PT1H", id="iso-8601"),
        pytest.param("15 min", id="words"),
    ],
)
def test_bad_duration_is_rejected_with_the_accepted_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"not valid; write <number><unit>.*1h30m"):
        parse_duration(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**7))
def test_formatted_duration_parses_back_to_the_same_seconds(seconds: int) -> None:
    assert seconds == parse_duration(format_duration(seconds))


# -- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        pytest.param("2026-11-27", TOKYO, utc("2026-11-26T15:00:00"), id="date-local-midnight"),
        pytest.param("2026-11-27T09:30", TOKYO, utc("2026-11-27T00:30:00"), id="local-minutes"),
        pytest.param("2026-11-27T09:30:15", TOKYO, utc("2026-11-27T00:30:15"), id="local-seconds"),
        pytest.param(
            "2026-11-27T00:00:00+09:00", NEW_YORK, utc("2026-11-26T15:00:00"), id="offset-wins"
        ),
        pytest.param(
            "2026-11-27T00:00:00-05:30", TOKYO, utc("2026-11-27T05:30:00"), id="negative-offset"
        ),
        pytest.param("2026-11-27T00:00:00Z", TOKYO, utc("2026-11-27T00:00:00"), id="zulu"),
        pytest.param("2026-11-27t00:00:00z", TOKYO, utc("2026-11-27T00:00:00"), id="lower-case"),
        pytest.param(
            "2026-11-27T00:00:00.75Z", TOKYO, utc("2026-11-27T00:00:00"), id="fraction-dropped"
        ),
        pytest.param(
            "9999-12-31T23:59:59.999999Z",
            TOKYO,
            utc("9999-12-31T23:59:59"),
            id="fraction-never-rounds-into-next-second",
        ),
        pytest.param("1969-12-31T23:59:59.5Z", TOKYO, -1, id="fraction-dropped-before-the-epoch"),
        pytest.param("2026-07-01", NEW_YORK, utc("2026-07-01T04:00:00"), id="date-in-summer-time"),
    ],
)
def test_time_is_read_as_the_contract_says(text: str, zone: dt.tzinfo, expected: int) -> None:
    assert expected == parse_instant(text, zone)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("2026-11-31", "does not exist", id="no-such-day"),
        pytest.param("2026-13-01T00:00", "does not exist", id="no-such-month"),
        pytest.param("2026-11-27T24:00", "does not exist", id="hour-24"),
        pytest.param("2026-11-27T00:00:00+25:00", "does not exist", id="offset-out-of-range"),
        pytest.param("next friday", "is not valid", id="words"),
        pytest.param("27/11/2026", "is not valid", id="day-first"),
        pytest.param("2026-11-27T9:30", "is not valid", id="one-digit-hour"),
        pytest.param("1795000000", "is not valid", id="epoch-seconds"),
        pytest.param("", "is not valid", id="empty"),
    ],
)
def test_bad_time_is_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_instant(text, TOKYO)


def test_format_instant_is_rfc3339_utc_with_z() -> None:
    assert "2026-11-26T15:00:00Z" == format_instant(utc("2026-11-26T15:00:00"))


# -- zones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Mars/Olympus_Mons", id="unknown"),
        pytest.param("Asia", id="zone-directory"),
        pytest.param("", id="empty"),
        pytest.param("../etc/passwd", id="path-escape"),
        pytest.param("/usr/share/zoneinfo/UTC", id="absolute-path"),
        pytest.param("JST", id="abbreviation"),
    ],
)
def test_bad_zone_is_rejected_with_examples(name: str) -> None:
    with pytest.raises(ValueError, match=r"not a known IANA zone; write a name like Asia/Tokyo"):
        parse_zone(name)


def test_known_zone_is_accepted() -> None:
    assert "Europe/Amsterdam" == parse_zone("Europe/Amsterdam").key


# -- the wall-clock rule on DST days ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        # 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
        pytest.param("2026-03-08T02:30", NEW_YORK, utc("2026-03-08T07:30:00"), id="ny-gap"),
        pytest.param("2026-03-08T02:00", NEW_YORK, utc("2026-03-08T07:00:00"), id="ny-gap-start"),
        pytest.param("2026-03-08T03:00", NEW_YORK, utc("2026-03-08T07:00:00"), id="ny-after-gap"),
        pytest.param("2026-03-08T01:59", NEW_YORK, utc("2026-03-08T06:59:00"), id="ny-before-gap"),
        pytest.param("2026-11-01T01:30", NEW_YORK, utc("2026-11-01T05:30:00"), id="ny-ambiguous"),
        pytest.param("2026-11-01T01:00", NEW_YORK, utc("2026-11-01T05:00:00"), id="ny-fold-start"),
        pytest.param("2026-11-01T02:00", NEW_YORK, utc("2026-11-01T07:00:00"), id="ny-after-fold"),
        # 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
        pytest.param("2026-03-29T02:30", AMSTERDAM, utc("2026-03-29T01:30:00"), id="ams-gap"),
        pytest.param("2026-10-25T02:30", AMSTERDAM, utc("2026-10-25T00:30:00"), id="ams-ambiguous"),
        pytest.param(
            "2026-10-25T03:00", AMSTERDAM, utc("2026-10-25T02:00:00"), id="ams-after-fold"
        ),
        # Chile springs forward at midnight: the day starts at 01:00.
        pytest.param(
            "2026-09-06",
            ZoneInfo("America/Santiago"),
            utc("2026-09-06T04:00:00"),
            id="date-midnight-in-gap",
        ),
    ],
)
def test_local_time_follows_the_wall_clock_rule(text: str, zone: dt.tzinfo, expected: int) -> None:
    assert expected == parse_instant(text, zone)


def test_time_in_the_gap_moves_forward_by_the_gap() -> None:
    instant = parse_instant("2026-03-08T02:30", NEW_YORK)
    assert dt.datetime(2026, 3, 8, 3, 30) == local_wall(instant, NEW_YORK)


def local_wall(instant: int, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(instant, zone).replace(tzinfo=None)


def expected_instant(wall: dt.datetime, zone: dt.tzinfo) -> int:
    """The contract's rule, worked out by search rather than by zoneinfo's fold: every instant
    whose local time is `wall`, the first of them; none (a gap): wall minus the offset in force
    before the gap, which is the wall time moved forward by the gap."""
    naive_utc = int(wall.replace(tzinfo=UTC).timestamp())
    offsets = {
        int(dt.datetime.fromtimestamp(naive_utc + shift, zone).utcoffset().total_seconds())
        for shift in range(-2 * 86400, 2 * 86400 + 1, 1800)
    }
    found = [naive_utc - o for o in offsets if local_wall(naive_utc - o, zone) == wall]
    if found:
        return min(found)
    # In a gap, only the offset from before it reads `wall` as an instant after the gap.
    (before,) = (o for o in offsets if local_wall(naive_utc - o, zone) > wall)
    return naive_utc - before


DST_DAYS = [
    dt.date(2025, 3, 9), dt.date(2025, 11, 2), dt.date(2026, 3, 8), dt.date(2026, 11, 1),
    dt.date(2025, 3, 30), dt.date(2025, 10, 26), dt.date(2026, 3, 29), dt.date(2026, 10, 25),
    dt.date(2026, 6, 1),
]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from([NEW_YORK, AMSTERDAM]),
    day=st.sampled_from(DST_DAYS),
    minute=st.integers(0, 24 * 60 - 1),
)
def test_local_times_on_dst_days_follow_the_wall_clock_rule(
    zone: dt.tzinfo, day: dt.date, minute: int
) -> None:
    wall = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    text = wall.strftime("%Y-%m-%dT%H:%M")
    assert expected_instant(wall, zone) == parse_instant(text, zone)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("\u0661\u0665m", id="arabic-indic-digits"),
        pytest.param("\uff11h", id="fullwidth-digit"),
        pytest.param("1_0m", id="underscore"),
        pytest.param("1234567890123456s", id="sixteen-digits"),
        pytest.param("9" * 5000 + "s", id="beyond-pythons-int-digit-limit"),
    ],
)
def test_duration_numbers_are_at_most_15_ascii_digits(text: str) -> None:
    with pytest.raises(ValueError, match=r"not valid; write <number><unit>") as caught:
        parse_duration(text)
    assert len(str(caught.value)) < 300  # the value is quoted, at most 100 characters of it


def test_fifteen_digits_of_seconds_are_still_a_duration() -> None:
    assert 999_999_999_999_999 == parse_duration("999999999999999s")
