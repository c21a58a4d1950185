"""Recurring events: cron wall-clock times, the DST rule, bounds, exclusions, holidays.

Times in the tables are written as local ISO times with their offset, so each row reads as
the contract states it (02:30 in the gap becomes 03:30 with the new offset).
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaler.calendar.evaluation import plan, value_at
from scaler.calendar.model import Calendar, Event, Once, Scale, Timing
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.recurrence import CronSchedule, check_cron
from scaler.calendar.workload import Workload
from scaler.errors import CalendarError

NY = ZoneInfo("America/New_York")
AMS = ZoneInfo("Europe/Amsterdam")
TOKYO = ZoneInfo("Asia/Tokyo")
WORKLOAD = Workload(namespace="shop", name="web")


def calendar(events: str, *, zone: str = "UTC", extra: str = "") -> Calendar:
    text = f"version: 1\ntimezone: {zone}\n{textwrap.dedent(extra)}events:\n"
    text += textwrap.indent(textwrap.dedent(events), "  ")
    return parse_calendar(text, name="t", origin="t.yaml")


def one_event(zone: str, **fields: str) -> Event:
    body = "- name: sale\n  scale: {replicas: 10}\n"
    body += "".join(f"  {key}: {value}\n" for key, value in fields.items())
    (event,) = calendar(body, zone=zone).events
    return event


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def local_windows(event: Event, zone: dt.tzinfo, start: str, end: str) -> list[tuple[str, str]]:
    return [
        (
            dt.datetime.fromtimestamp(s, zone).isoformat(),
            dt.datetime.fromtimestamp(e, zone).isoformat(),
        )
        for s, e in event.schedule.overlapping(at(start), at(end))
    ]


# --- the DST rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "schedule", "duration", "day", "expected"),
    [
        pytest.param("America/New_York", "30 2 8 3 *", "1h", "2026-03-08",
                     [("2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00")],
                     id="ny-spring-start-in-gap"),
        pytest.param("America/New_York", "30 1 8 3 *", "1h", "2026-03-08",
                     [("2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00")],
                     id="ny-spring-end-in-gap-is-elapsed-time"),
        pytest.param("America/New_York", "0 0 8 3 *", "4h", "2026-03-08",
                     [("2026-03-08T00:00:00-05:00", "2026-03-08T05:00:00-04:00")],
                     id="ny-spring-across-gap"),
        pytest.param("America/New_York", "*/30 1-3 8 3 *", "10m", "2026-03-08",
                     [("2026-03-08T01:00:00-05:00", "2026-03-08T01:10:00-05:00"),
                      ("2026-03-08T01:30:00-05:00", "2026-03-08T01:40:00-05:00"),
                      ("2026-03-08T03:00:00-04:00", "2026-03-08T03:10:00-04:00"),
                      ("2026-03-08T03:30:00-04:00", "2026-03-08T03:40:00-04:00")],
                     id="ny-spring-gap-times-merge-with-the-real-ones"),
        pytest.param("America/New_York", "30 1 1 11 *", "1h", "2026-11-01",
                     [("2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00")],
                     id="ny-fall-start-in-repeated-hour-means-first"),
        pytest.param("America/New_York", "30 0 1 11 *", "1h30m", "2026-11-01",
                     [("2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-05:00")],
                     id="ny-fall-end-in-repeated-hour"),
        pytest.param("America/New_York", "0 0 1 11 *", "3h", "2026-11-01",
                     [("2026-11-01T00:00:00-04:00", "2026-11-01T02:00:00-05:00")],
                     id="ny-fall-across-repeated-hour"),
        pytest.param("America/New_York", "*/30 1 1 11 *", "10m", "2026-11-01",
                     [("2026-11-01T01:00:00-04:00", "2026-11-01T01:10:00-04:00"),
                      ("2026-11-01T01:30:00-04:00", "2026-11-01T01:40:00-04:00")],
                     id="ny-fall-repeated-hour-fires-once"),
        pytest.param("Europe/Amsterdam", "30 2 29 3 *", "1h", "2026-03-29",
                     [("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00")],
                     id="ams-spring-start-in-gap"),
        pytest.param("Europe/Amsterdam", "30 1 29 3 *", "1h", "2026-03-29",
                     [("2026-03-29T01:30:00+01:00", "2026-03-29T03:30:00+02:00")],
                     id="ams-spring-end-in-gap-is-elapsed-time"),
        pytest.param("Europe/Amsterdam", "0 22 28 3 *", "6h", "2026-03-28",
                     [("2026-03-28T22:00:00+01:00", "2026-03-29T05:00:00+02:00")],
                     id="ams-spring-cross-midnight-and-gap"),
        pytest.param("Europe/Amsterdam", "30 2 25 10 *", "1h", "2026-10-25",
                     [("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00")],
                     id="ams-fall-start-in-repeated-hour-means-first"),
        pytest.param("Europe/Amsterdam", "0 1 25 10 *", "2h", "2026-10-25",
                     [("2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+01:00")],
                     id="ams-fall-end-in-repeated-hour"),
        pytest.param("Europe/Amsterdam", "*/30 2 25 10 *", "10m", "2026-10-25",
                     [("2026-10-25T02:00:00+02:00", "2026-10-25T02:10:00+02:00"),
                      ("2026-10-25T02:30:00+02:00", "2026-10-25T02:40:00+02:00")],
                     id="ams-fall-repeated-hour-fires-once"),
    ],
)  # fmt: skip
def test_dst_rule(
    zone: str, schedule: str, duration: str, day: str, expected: list[tuple[str, str]]
) -> None:
    event = one_event(zone, schedule=f'"{schedule}"', duration=duration)
    local = ZoneInfo(zone)
    start = dt.datetime.fromisoformat(day).replace(tzinfo=local)
    windows = local_windows(
        event, local, start.isoformat(), (start + dt.timedelta(days=1)).isoformat()
    )
    assert expected == windows


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Amsterdam"])
def test_daily_rule_fires_once_every_local_day_through_both_dst_changes(zone: str) -> None:
    local = ZoneInfo(zone)
    for wall in ("00:30", "01:30", "02:30", "03:30"):
        hour, minute = wall.split(":")
        event = one_event(zone, schedule=f'"{int(minute)} {int(hour)} * * *"', duration="30m")
        year = event.schedule.overlapping(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        starts = [s for s, _ in year]
        days = [dt.datetime.fromtimestamp(s, local).date() for s in starts]
        assert len(days) == len(set(days)) == 365, wall


# --- windows that cross midnight, overlapping occurrences ------------------------------------


def test_window_crossing_midnight_keeps_its_value_after_midnight() -> None:
    cal = calendar('- {name: late, schedule: "0 23 * * *", duration: 2h, scale: {replicas: 7}}',
                   zone="Asia/Tokyo")  # fmt: skip
    assert 7 == value_at([cal], WORKLOAD, at("2026-05-02T00:30:00+09:00"))
    assert 7 == value_at([cal], WORKLOAD, at("2026-05-01T23:00:00+09:00"))
    assert 0 == value_at([cal], WORKLOAD, at("2026-05-02T01:00:00+09:00"))
    assert 0 == value_at([cal], WORKLOAD, at("2026-05-01T22:59:59+09:00"))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param("2026-05-01T10:00:00+00:00", 5, id="first-alone-hour-0"),
        pytest.param("2026-05-01T11:15:00+00:00", 5, id="two-overlap-same-value"),
        pytest.param("2026-05-01T11:29:59+00:00", 5, id="just-before-first-ends"),
    ],
)
def test_overlapping_occurrences_of_one_rule_combine_by_max(instant: str, expected: int) -> None:
    # Every hour for 90 minutes: occurrences overlap by 30 minutes, the value never adds up.
    cal = calendar('- {name: o, schedule: "0 * * * *", duration: 90m, scale: {replicas: 5}}')
    assert expected == value_at([cal], WORKLOAD, at(instant))


def test_overlap_with_ramps_takes_the_larger_step() -> None:
    # Occurrences every 2 h lasting 3 h with a 1 h ramp-down of 2 steps: during the overlap the
    # next occurrence's full value (10) beats the previous one's ramp-down (5).
    cal = calendar("""\
        - name: o
          schedule: "0 */2 * * *"
          duration: 3h
          rampDown: 2h
          rampSteps: 2
          scale: {replicas: 10}
    """)
    assert 10 == value_at([cal], WORKLOAD, at("2026-05-01T03:30:00+00:00"))
    points = plan([cal], WORKLOAD, at("2026-05-01T00:00:00+00:00"), at("2026-05-02T00:00:00+00:00"))
    assert [10] == sorted({p.value for p in points.points})


# --- from / until ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounds", "first", "last"),
    [
        pytest.param({"from": "2026-03-10"}, "2026-03-10T21:00:00-04:00", None,
                     id="from-date-is-local-midnight-inclusive"),
        pytest.param({"from": "2026-03-10T21:00"}, "2026-03-10T21:00:00-04:00", None,
                     id="from-time-inclusive"),
        pytest.param({"from": "2026-03-10T21:00:01"}, "2026-03-11T21:00:00-04:00", None,
                     id="from-time-after-start-skips-that-day"),
        pytest.param({"until": "2026-03-12"}, None, "2026-03-12T21:00:00-04:00",
                     id="until-date-includes-the-whole-local-day"),
        pytest.param({"until": "2026-03-12T21:00"}, None, "2026-03-12T21:00:00-04:00",
                     id="until-time-inclusive"),
        pytest.param({"until": "2026-03-12T20:59"}, None, "2026-03-11T21:00:00-04:00",
                     id="until-time-before-start"),
        pytest.param({"until": "2026-03-13T01:00:00Z"}, None, "2026-03-12T21:00:00-04:00",
                     id="until-rfc3339-with-offset"),
        pytest.param({"from": "2026-03-10", "until": "2026-03-10"}, "2026-03-10T21:00:00-04:00",
                     "2026-03-10T21:00:00-04:00", id="one-day"),
    ],
)  # fmt: skip
def test_from_until_bound_starts(
    bounds: dict[str, str], first: str | None, last: str | None
) -> None:
    event = one_event("America/New_York", schedule='"0 21 * * *"', duration="5h", **bounds)
    windows = local_windows(event, NY, "2026-03-01T00:00:00-05:00", "2026-03-20T00:00:00-04:00")
    if first is not None:
        assert first == windows[0][0]
    if last is not None:
        assert last == windows[-1][0]


def test_until_bounds_the_start_so_the_last_window_runs_past_it() -> None:
    event = one_event(
        "America/New_York", schedule='"0 21 * * *"', duration="5h", until="2026-03-12"
    )
    assert at("2026-03-13T02:00:00-04:00") == event.schedule.last_end


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, None, id="no-until-never-ends"),
        pytest.param({"until": "2026-03-12"}, "2026-03-12T22:00:00-04:00", id="daily"),
        pytest.param({"schedule": '"*/5 * * * *"', "until": "2027-06-01"},
                     "2027-06-01T23:56:00-04:00", id="every-5-minutes-for-a-year"),
        pytest.param({"exclude": "[2026-03-12]", "until": "2026-03-12"},
                     "2026-03-11T22:00:00-04:00", id="last-day-excluded"),
        pytest.param({"schedule": '"0 0 29 2 *"', "until": "2031-01-01"},
                     "2028-02-29T01:00:00-05:00", id="every-four-years"),
        pytest.param({"schedule": '"30 2 8 3 *"', "until": "2026-03-08T02:45"},
                     "2026-03-08T04:30:00-04:00", id="last-start-moved-out-of-gap"),
    ],
)  # fmt: skip
def test_last_end_is_the_end_of_the_last_occurrence(
    fields: dict[str, str], expected: str | None
) -> None:
    spec = {"schedule": '"0 21 * * *"', "duration": "1h", **fields}
    if spec["schedule"] != '"0 21 * * *"':
        spec["duration"] = "1h" if "29" in spec["schedule"] or "8 3" in spec["schedule"] else "1m"
    event = one_event("America/New_York", **spec)
    assert (at(expected) if expected else None) == event.schedule.last_end


# --- exclusions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exclude", "excluded", "kept"),
    [
        pytest.param("[2026-12-24]", ["2026-12-24"], ["2026-12-23", "2026-12-25"], id="date"),
        pytest.param("[year-end]", ["2026-12-31", "2027-01-01"], ["2026-12-30", "2027-01-02"],
                     id="named-set"),
        pytest.param('["holidays:JP"]', ["2026-01-01", "2026-01-12", "2026-05-06", "2026-09-22"],
                     ["2026-01-02", "2026-05-07", "2026-03-31"], id="holidays-jp-substitute-day"),
        pytest.param('["holidays:US"]', ["2026-07-03", "2026-07-04", "2026-11-26"],
                     ["2026-03-31", "2026-11-27"], id="holidays-us-observed-day"),
        pytest.param('["holidays:US-CA"]', ["2026-03-31", "2026-07-03", "2026-11-27"],
                     ["2026-03-30", "2026-11-25"], id="holidays-us-ca-subdivision"),
        pytest.param('["holidays:us-ca"]', ["2026-03-31"], ["2026-03-30"], id="holidays-lowercase"),
        pytest.param('[year-end, 2026-12-24, "holidays:JP"]',
                     ["2026-12-24", "2026-12-31", "2027-01-01", "2026-11-23"], ["2026-12-25"],
                     id="mixed"),
    ],
)  # fmt: skip
def test_exclusions_skip_occurrences_by_local_start_date(
    exclude: str, excluded: list[str], kept: list[str]
) -> None:
    cal = calendar(
        f'- {{name: daily, schedule: "0 12 * * *", duration: 1h, exclude: {exclude}, '
        "scale: {replicas: 3}}",
        zone="Asia/Tokyo",
        extra="exclusions:\n  year-end: [2026-12-31, 2027-01-01]\n",
    )
    for day in excluded:
        assert 0 == value_at([cal], WORKLOAD, at(f"{day}T12:30:00+09:00")), day
    for day in kept:
        assert 3 == value_at([cal], WORKLOAD, at(f"{day}T12:30:00+09:00")), day


def test_exclusion_is_by_the_start_date_in_the_events_zone() -> None:
    # 00:30 in Tokyo on New Year's Day is still Dec 31 in UTC: the local date decides.
    event = one_event("UTC", schedule='"30 0 * * *"', duration="1h", timezone="Asia/Tokyo",
                      exclude='["holidays:JP"]')  # fmt: skip
    windows = local_windows(event, TOKYO, "2025-12-31T00:00:00+09:00", "2026-01-03T00:00:00+09:00")
    assert ["2025-12-31T00:30:00+09:00", "2026-01-02T00:30:00+09:00"] == [s for s, _ in windows]


def test_window_crossing_midnight_into_an_excluded_day_still_runs() -> None:
    # Starts Friday 22:00, excluded Saturday: the occurrence belongs to Friday.
    event = one_event("Europe/Amsterdam", schedule='"0 22 * * 5"', duration="4h",
                      exclude="[2026-05-09]")  # fmt: skip
    windows = local_windows(event, AMS, "2026-05-08T00:00:00+02:00", "2026-05-10T00:00:00+02:00")
    assert [("2026-05-08T22:00:00+02:00", "2026-05-09T02:00:00+02:00")] == windows


def test_excluding_the_start_day_drops_the_part_after_midnight_too() -> None:
    event = one_event("Europe/Amsterdam", schedule='"0 22 * * 5"', duration="4h",
                      exclude="[2026-05-08]")  # fmt: skip
    assert [] == local_windows(event, AMS, "2026-05-08T00:00:00+02:00", "2026-05-10T00:00:00+02:00")


# --- cron --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "start", "days", "expected"),
    [
        pytest.param("0 9 * * mon-fri", "2026-05-01", 7,
                     ["05-01 09:00 Fri", "05-04 09:00 Mon", "05-05 09:00 Tue", "05-06 09:00 Wed",
                      "05-07 09:00 Thu"], id="day-names-range"),
        pytest.param("0 9 * jan,dec sun", "2026-11-28", 9, ["12-06 09:00 Sun"],
                     id="month-and-day-names"),
        pytest.param("0 9-11 * * *", "2026-05-01", 1,
                     ["05-01 09:00 Fri", "05-01 10:00 Fri", "05-01 11:00 Fri"], id="hour-range"),
        pytest.param("*/20 9 * * *", "2026-05-01", 1,
                     ["05-01 09:00 Fri", "05-01 09:20 Fri", "05-01 09:40 Fri"], id="minute-step"),
        pytest.param("0 0-23/6 * * *", "2026-05-01", 1,
                     ["05-01 00:00 Fri", "05-01 06:00 Fri", "05-01 12:00 Fri", "05-01 18:00 Fri"],
                     id="range-with-step"),
        pytest.param("0 12 13 * fri", "2026-05-10", 7, ["05-13 12:00 Wed", "05-15 12:00 Fri"],
                     id="dom-or-dow"),
        pytest.param("0 0 5,10 * *", "2026-05-01", 31,
                     ["05-05 00:00 Tue", "05-10 00:00 Sun"], id="day-of-month-list"),
        pytest.param("0 0 */10 * 1", "2026-06-01", 12,
                     ["06-01 00:00 Mon", "06-08 00:00 Mon", "06-11 00:00 Thu"],
                     id="dom-step-or-dow-croniter-reading"),
        pytest.param("0 21 * * 0,6", "2026-05-01", 7,
                     ["05-02 21:00 Sat", "05-03 21:00 Sun"], id="weekend-list"),
        pytest.param("0 21 * * 7", "2026-05-01", 7, ["05-03 21:00 Sun"], id="sunday-as-7"),
    ],
)  # fmt: skip
def test_cron_reading(schedule: str, start: str, days: int, expected: list[str]) -> None:
    event = one_event("Asia/Tokyo", schedule=f'"{schedule}"', duration="1m")
    begin = dt.datetime.fromisoformat(start).replace(tzinfo=TOKYO)
    starts = [
        dt.datetime.fromtimestamp(s, TOKYO).strftime("%m-%d %H:%M %a")
        for s, _ in event.schedule.overlapping(int(begin.timestamp()),
                                               int((begin + dt.timedelta(days=days)).timestamp()))
    ]  # fmt: skip
    assert expected == starts


def test_dom_or_dow_fires_on_the_13th_and_on_fridays() -> None:
    event = one_event("Asia/Tokyo", schedule='"0 12 13 * fri"', duration="1m")
    windows = local_windows(event, TOKYO, "2026-03-01T00:00:00+09:00", "2026-03-21T00:00:00+09:00")
    assert [
        "2026-03-06T12:00:00+09:00",
        "2026-03-13T12:00:00+09:00",
        "2026-03-20T12:00:00+09:00",
    ] == [s for s, _ in windows]
    windows = local_windows(event, TOKYO, "2026-05-12T00:00:00+09:00", "2026-05-16T00:00:00+09:00")
    assert ["2026-05-13T12:00:00+09:00", "2026-05-15T12:00:00+09:00"] == [s for s, _ in windows]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        pytest.param("0 21 * *", "has 4 fields; write 5", id="four-fields"),
        pytest.param("0 0 21 * * *", "has 6 fields; write 5", id="six-fields-seconds"),
        pytest.param("61 * * * *", "not a valid cron rule", id="minute-out-of-range"),
        pytest.param("0 0 * * 8", "not a valid cron rule", id="weekday-out-of-range"),
        pytest.param("0 0 30 2 *", "never fires", id="february-30"),
        pytest.param("0 0 31 4,6 *", "never fires", id="april-31"),
        pytest.param("H 21 * * *", "H or R", id="hashed"),
        pytest.param("R 21 * * *", "H or R", id="random"),
        pytest.param("@daily", "has 1 fields", id="nickname"),
    ],
)
def test_bad_cron_is_rejected(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_cron(schedule)


# --- validation of recurring fields -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "line", "message"),
    [
        pytest.param('schedule: "0 0 30 2 *"\n  duration: 1h', 7, "never fires", id="cron-never"),
        pytest.param('schedule: "0 21 * * *"', 5, "needs duration", id="no-duration"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n'
                     '  from: 2026-05-01\n  until: 2026-04-01',
                     10, "until 2026-04-01 is before from 2026-05-01", id="until-before-from"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n  exclude: [summer]', 9,
                     r"exclude entry 'summer' is not a date .* \(year-end\)", id="unknown-set"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n  exclude: ["holidays:XX"]', 9,
                     "holidays:XX is not a country", id="unknown-country"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n  exclude: ["holidays:US-ZZ"]', 9,
                     "unknown subdivision", id="unknown-subdivision"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n  exclude: 2026-12-24', 9,
                     "exclude must be a list", id="exclude-not-a-list"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n  exclude: [2026-02-30]', 9,
                     "does not exist", id="excluded-date-does-not-exist"),
        pytest.param('schedule: "0 21 * * *"\n  duration: 1h\n  from: 2026-13-01', 9,
                     "time '2026-13-01'", id="bad-from"),
        pytest.param('start: 2026-05-01T10:00\n  duration: 1h\n  until: 2026-06-01', 9,
                     "until applies to recurring events only", id="until-on-one-off"),
        pytest.param('schedule: "0 21 * * *"\n  start: 2026-05-01\n  duration: 1h', 8,
                     "takes duration, not start", id="schedule-with-start"),
    ],
)  # fmt: skip
def test_recurring_fields_are_validated(fields: str, line: int, message: str) -> None:
    text = (
        "version: 1\nexclusions:\n  year-end: [2026-12-31]\nevents:\n"
        f"- name: sale\n  scale: {{replicas: 1}}\n  {fields}\n"
    )
    with pytest.raises(CalendarError) as caught:
        parse_calendar(text, name="t", origin="t.yaml")
    prefix = f"t.yaml:{line}: event 'sale': "
    assert any(p.startswith(prefix) and re.search(message, p) for p in caught.value.problems), (
        caught.value.problems
    )


# --- KEDA's cron scaler failure cases ----------------------------------------------------------


def test_weekday_window_is_off_on_the_weekend() -> None:
    # KEDA #4677: a Mon–Fri 09:00 start with an 18:00 end stays on all weekend in KEDA's cron
    # scaler. Here the window is the start plus 9 h of elapsed time, each weekday.
    cal = calendar('- {name: office, schedule: "0 9 * * 1-5", duration: 9h, scale: {replicas: 4}}',
                   zone="America/New_York")  # fmt: skip
    expectations = {
        "2026-05-08T17:59:59-04:00": 4,  # Friday
        "2026-05-08T18:00:00-04:00": 0,
        "2026-05-09T12:00:00-04:00": 0,  # Saturday
        "2026-05-10T12:00:00-04:00": 0,  # Sunday
        "2026-05-11T08:59:59-04:00": 0,
        "2026-05-11T09:00:00-04:00": 4,  # Monday
    }
    assert expectations == {t: value_at([cal], WORKLOAD, at(t)) for t in expectations}
    weekend = plan(
        [cal], WORKLOAD, at("2026-05-08T18:00:00-04:00"), at("2026-05-11T09:00:00-04:00")
    )
    assert [0] == [p.value for p in weekend.points]


def test_start_in_spring_forward_gap_gives_a_normal_length_window() -> None:
    # KEDA's cron scaler stays on for about 25 h when the start is in the gap.
    cal = calendar('- {name: night, schedule: "30 2 * * *", duration: 1h, scale: {replicas: 4}}',
                   zone="America/New_York")  # fmt: skip
    day = plan([cal], WORKLOAD, at("2026-03-08T00:00:00-05:00"), at("2026-03-09T00:00:00-04:00"))
    on = [(p.at, nxt.at) for p, nxt in zip(day.points, day.points[1:], strict=False) if p.value]
    assert [(at("2026-03-08T03:30:00-04:00"), at("2026-03-08T04:30:00-04:00"))] == on


# --- a year of a daily sale with holidays ------------------------------------------------------


def test_plan_over_a_year_of_a_daily_sale_with_japanese_holidays() -> None:
    cal = calendar(
        '- {name: time-sale, schedule: "0 21 * * *", duration: 1h, '
        'exclude: ["holidays:JP"], scale: {load: 20000}}',
        zone="Asia/Tokyo",
    )
    workload = Workload(namespace="shop", name="web", capacity_per_replica=Decimal(1000))
    year = plan([cal], workload, at("2026-01-01T00:00:00+09:00"), at("2027-01-01T00:00:00+09:00"))
    sale_days = {
        dt.datetime.fromtimestamp(p.at, TOKYO).date() for p in year.points if p.value == 20
    }
    japanese = set(holidays.country_holidays("JP", years=2026, observed=True))
    assert 365 - len(japanese) == len(sale_days)
    assert not sale_days & japanese


# --- properties -------------------------------------------------------------------------------

ZONES = ["America/New_York", "Europe/Amsterdam", "Asia/Tokyo", "UTC", "Australia/Lord_Howe"]
# Windows around the DST changes of 2026 in the zones above, and one quiet month.
AROUND = [
    "2026-03-06T00:00:00+00:00", "2026-03-27T00:00:00+00:00", "2026-04-03T00:00:00+00:00",
    "2026-10-02T00:00:00+00:00", "2026-10-23T00:00:00+00:00", "2026-10-30T00:00:00+00:00",
    "2026-06-10T00:00:00+00:00",
]  # fmt: skip

crons = st.builds(
    lambda minute, hour, dow: f"{minute} {hour} * * {dow}",
    st.sampled_from(["0", "30", "15,45", "*/20", "59"]),
    st.sampled_from(["*", "2", "1-3", "*/5", "23", "0,12"]),
    st.sampled_from(["*", "1-5", "0,6", "sun", "fri"]),
)
timings = st.builds(
    Timing,
    lead_time=st.sampled_from([0, 60, 900]),
    ramp_up=st.sampled_from([0, 7, 600, 3600]),
    ramp_down=st.sampled_from([0, 300, 5400]),
    ramp_steps=st.integers(1, 6),
)


def recurring(schedule: CronSchedule, timing: Timing, replicas: int = 10) -> Calendar:
    event = Event(name="r", line=1, scale=Scale(kind="replicas", amount=Decimal(replicas)),
                  timing=timing, schedule=schedule)  # fmt: skip
    return Calendar(name="r", origin="r", events=(event,))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cron=crons,
    zone=st.sampled_from(ZONES),
    duration=st.sampled_from([60, 1800, 3600, 5400, 7200, 30 * 3600]),
    timing=timings,
    around=st.sampled_from(AROUND),
    hours=st.integers(6, 96),
)
def test_recurring_plan_is_the_max_of_its_occurrences_as_one_off_events(
    cron: str, zone: str, duration: int, timing: Timing, around: str, hours: int
) -> None:
    schedule = CronSchedule(expression=cron, zone=ZoneInfo(zone), duration=duration)
    cal = recurring(schedule, timing)
    start = at(around)
    end = start + hours * 3600
    reach_before = timing.lead_time + timing.ramp_up
    windows = list(schedule.overlapping(start - timing.ramp_down, end + reach_before))
    one_offs = [
        Calendar(name="o", origin="o", events=(Event(
            name=f"o{i}", line=1, scale=Scale(kind="replicas", amount=Decimal(10)),
            timing=timing, schedule=Once(s, e)),)) for i, (s, e) in enumerate(windows)
    ]  # fmt: skip
    together = Calendar(name="u", origin="u", events=tuple(e for c in one_offs for e in c.events))

    got = plan([cal], WORKLOAD, start, end, with_events=False)
    union = plan([together], WORKLOAD, start, end, with_events=False)
    assert [(p.at, p.value) for p in union.points] == [(p.at, p.value) for p in got.points]
    for point in got.points:
        assert point.value == max([value_at([c], WORKLOAD, point.at) for c in one_offs], default=0)


@settings(max_examples=60, deadline=None)
@given(
    cron=crons,
    zone=st.sampled_from(ZONES),
    duration=st.sampled_from([60, 3600, 9 * 3600]),
    timing=timings,
    around=st.sampled_from(AROUND),
    hours=st.integers(1, 72),
)
def test_plan_agrees_with_value_at_at_every_change_and_between(
    cron: str, zone: str, duration: int, timing: Timing, around: str, hours: int
) -> None:
    cal = recurring(CronSchedule(expression=cron, zone=ZoneInfo(zone), duration=duration), timing)
    start = at(around)
    end = start + hours * 3600
    points = plan([cal], WORKLOAD, start, end).points
    assert points[0].at == start
    bounds = [p.at for p in points] + [end]
    for point, nxt in zip(points, bounds[1:], strict=True):
        for instant in {point.at, (point.at + nxt) // 2, nxt - 1}:
            assert point.value == value_at([cal], WORKLOAD, instant), instant


@settings(max_examples=60, deadline=None)
@given(
    cron=crons,
    zone=st.sampled_from(ZONES),
    around=st.sampled_from(AROUND),
    offsets=st.sets(st.integers(-2, 12), max_size=6),
    country=st.sampled_from([None, "JP", "US", "NL"]),
)
def test_excluded_dates_never_show_up_and_nothing_else_goes_missing(
    cron: str, zone: str, around: str, offsets: set[int], country: str | None
) -> None:
    local = ZoneInfo(zone)
    start = at(around)
    end = start + 10 * 86400
    first_day = dt.datetime.fromtimestamp(start, local).date()
    excluded = frozenset(first_day + dt.timedelta(days=d) for d in offsets)
    sets = ()
    if country:
        from scaler.calendar.recurrence import HolidaySet

        sets = (HolidaySet(country),)
    plain = CronSchedule(expression=cron, zone=local, duration=60)
    skipping = CronSchedule(expression=cron, zone=local, duration=60, excluded_dates=excluded,
                            excluded_holidays=sets)  # fmt: skip
    table = holidays.country_holidays(country, years=range(2025, 2028)) if country else {}

    def skipped(instant: int) -> bool:
        day = dt.datetime.fromtimestamp(instant, local).date()
        return day in excluded or day in table

    kept = list(skipping.starts(start, end))
    assert not any(skipped(s) for s in kept)
    assert [s for s in plain.starts(start, end) if not skipped(s)] == kept


@settings(max_examples=40, deadline=None)
@given(
    cron=crons,
    zone=st.sampled_from(ZONES),
    around=st.sampled_from(AROUND),
    span=st.integers(0, 20 * 86400),
    duration=st.sampled_from([60, 3600, 30 * 3600]),
)
def test_last_end_matches_walking_forward(
    cron: str, zone: str, around: str, span: int, duration: int
) -> None:
    start_from = at(around)
    schedule = CronSchedule(expression=cron, zone=ZoneInfo(zone), duration=duration,
                            start_from=start_from, until=start_from + span)  # fmt: skip
    windows = list(schedule.overlapping(start_from - duration, start_from + span + duration + 1))
    expected = windows[-1][1] if windows else start_from
    assert expected == schedule.last_end


@settings(max_examples=25, deadline=None)
@given(zone=st.sampled_from(ZONES), hour=st.integers(0, 23), minute=st.sampled_from([0, 30, 45]))
def test_daily_starts_keep_their_wall_clock_time_or_move_forward_by_the_gap(
    zone: str, hour: int, minute: int
) -> None:
    local = ZoneInfo(zone)
    schedule = CronSchedule(expression=f"{minute} {hour} * * *", zone=local, duration=60)
    for s in schedule.starts(at("2026-01-01T00:00:00+00:00"), at("2027-01-01T00:00:00+00:00")):
        moment = dt.datetime.fromtimestamp(s, local)
        wanted = moment.replace(hour=hour, minute=minute)
        if (moment.hour, moment.minute) != (hour, minute):
            # Only in a gap: the wall-clock time did not exist and moved forward by the gap.
            before = (moment - dt.timedelta(hours=3)).utcoffset()
            assert before is not None and moment.utcoffset() is not None
            gap = moment.utcoffset() - before  # type: ignore[operator]
            assert moment.replace(tzinfo=None) == wanted.replace(tzinfo=None) + gap


def test_events_excluding_one_countrys_holidays_share_one_set_however_written() -> None:
    """One set per country and subdivision (its days looked up once a year, not per event),
    whatever the case of the codes: a calendar cannot grow the sets kept by writing them in
    new ways."""
    cal = calendar(
        '- {name: a, schedule: "0 21 * * *", duration: 1h, exclude: ["holidays:JP"], '
        "scale: {replicas: 2}}\n"
        '- {name: b, schedule: "0 9 * * *", duration: 1h, exclude: ["holidays:jp"], '
        "scale: {replicas: 3}}\n"
        '- {name: c, schedule: "0 9 * * *", duration: 1h, exclude: ["holidays:us-ca"], '
        "scale: {replicas: 3}}\n"
        '- {name: d, schedule: "0 9 * * *", duration: 1h, exclude: ["holidays:US-CA"], '
        "scale: {replicas: 3}}",
        zone="Asia/Tokyo",
    )
    sets = [e.schedule.excluded_holidays[0] for e in cal.events]  # type: ignore[union-attr]
    assert sets[0] is sets[1] and sets[2] is sets[3] and sets[0] is not sets[2]
    assert [(h.country, h.subdivision) for h in sets] == [("JP", None)] * 2 + [("US", "CA")] * 2
