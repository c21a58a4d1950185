"""iCalendar calendars: VEVENTs as sales, RFC 5545 recurrence, zones, DESCRIPTION keys, errors."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaler.calendar.evaluation import plan, value_at
from scaler.calendar.ical import event_name, parse_ical_calendar
from scaler.calendar.model import Calendar, Event, Scale, Target, Timing
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.timefmt import wall_clock_instant
from scaler.calendar.workload import Workload
from scaler.errors import CalendarError

DATA = Path(__file__).parent.parent / "data"
AMS = ZoneInfo("Europe/Amsterdam")
NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
WEB = Workload(namespace="shop", name="checkout-web", labels={"tier": "frontend"},
               base_replicas=4, capacity_per_replica=Decimal(1000))  # fmt: skip


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


def ics(*events: str, header: str = "") -> str:
    """A VCALENDAR around VEVENT bodies (each without BEGIN/END lines)."""
    parts = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN"]
    if header:
        parts.append(header)
    for body in events:
        parts += ["BEGIN:VEVENT", *body.strip().splitlines(), "END:VEVENT"]
    parts.append("END:VCALENDAR")
    return "\r\n".join(parts) + "\r\n"


def parse(text: str, **kwargs: object) -> Calendar:
    return parse_ical_calendar(text, name="t", origin="t.ics", **kwargs)  # type: ignore[arg-type]


def by_name(calendar: Calendar) -> dict[str, Event]:
    return {e.name: e for e in calendar.events}


def windows(event: Event, zone: dt.tzinfo, start: str, end: str) -> list[tuple[str, str]]:
    return [
        (
            dt.datetime.fromtimestamp(s, zone).isoformat(),
            dt.datetime.fromtimestamp(e, zone).isoformat(),
        )
        for s, e in event.schedule.overlapping(at(start), at(end))
    ]


@pytest.fixture(scope="module")
def sales() -> Calendar:
    return parse_calendar((DATA / "sales.ics").read_bytes(), name="sales", origin="sales.ics")


# --- the exported file ---------------------------------------------------------------------------


def test_exported_file_gives_one_event_per_set_of_numbers(sales: Calendar) -> None:
    assert ["weekly-flash-sale", "weekly-flash-sale-2", "night-owl", "black-friday-2026",
            "us-halloween-weekend"] == [e.name for e in sales.events]  # fmt: skip


def test_exported_file_lists_what_it_ignored(sales: Calendar) -> None:
    assert (
        "UID 4k1v9n3c2m8weekly@google.com RECURRENCE-ID 20260515T200000 "
        "(SUMMARY 'Weekly Flash Sale!'): STATUS:CANCELLED",
        "UID standup@shop.example (SUMMARY 'Team meeting'): no replicas/factor/load in DESCRIPTION",
        "UID spring-sale@shop.example (SUMMARY 'Spring Sale'): STATUS:CANCELLED",
    ) == sales.ignored


def test_exported_file_description_sets_scale_targets_and_timing(sales: Calendar) -> None:
    weekly = by_name(sales)["weekly-flash-sale"]
    assert Scale(kind="replicas", amount=Decimal(12)) == weekly.scale
    assert (
        Target(labels={"tier": "frontend"}),
        Target(namespace="shop", name="checkout*"),
    ) == weekly.targets
    assert Timing(lead_time=900, ramp_up=600) == weekly.timing
    assert 45 == weekly.line  # the line of its BEGIN:VEVENT


def test_exported_file_weekly_rule_with_exdate_rdate_override_and_cancelled_instance(
    sales: Calendar,
) -> None:
    weekly = by_name(sales)["weekly-flash-sale"]
    got = windows(weekly, AMS, "2026-03-27T00:00:00+01:00", "2026-06-13T00:00:00+02:00")
    assert [
        ("2026-03-27T20:00:00+01:00", "2026-03-27T22:00:00+01:00"),
        ("2026-04-02T20:00:00+02:00", "2026-04-02T22:00:00+02:00"),  # RDATE; Friday 04-03 EXDATE
        ("2026-04-10T20:00:00+02:00", "2026-04-10T22:00:00+02:00"),
        ("2026-04-17T20:00:00+02:00", "2026-04-17T22:00:00+02:00"),
        ("2026-04-24T20:00:00+02:00", "2026-04-24T22:00:00+02:00"),
        ("2026-05-01T21:00:00+02:00", "2026-05-01T23:30:00+02:00"),  # moved by RECURRENCE-ID
        ("2026-05-08T20:00:00+02:00", "2026-05-08T22:00:00+02:00"),
        # 05-15 cancelled; 06-05 has other numbers and is its own event
        ("2026-05-22T20:00:00+02:00", "2026-05-22T22:00:00+02:00"),
        ("2026-05-29T20:00:00+02:00", "2026-05-29T22:00:00+02:00"),
        ("2026-06-12T20:00:00+02:00", "2026-06-12T22:00:00+02:00"),
    ] == got


def test_exported_file_override_with_other_numbers_is_its_own_event(sales: Calendar) -> None:
    bigger = by_name(sales)["weekly-flash-sale-2"]
    assert Scale(kind="replicas", amount=Decimal(30)) == bigger.scale
    assert [("2026-06-05T20:00:00+02:00", "2026-06-05T23:00:00+02:00")] == windows(
        bigger, AMS, "2026-01-01T00:00:00+01:00", "2027-01-01T00:00:00+01:00"
    )
    assert at("2026-06-05T23:00:00+02:00") == bigger.schedule.last_end


def test_exported_file_until_bounds_the_series(sales: Calendar) -> None:
    weekly = by_name(sales)["weekly-flash-sale"]
    assert at("2026-12-25T22:00:00+01:00") == weekly.schedule.last_end
    assert [] == windows(weekly, AMS, "2026-12-26T00:00:00+01:00", "2027-03-01T00:00:00+01:00")


def test_exported_file_daily_start_in_spring_forward_gap_moves_forward(sales: Calendar) -> None:
    night = by_name(sales)["night-owl"]
    assert [
        ("2026-03-28T02:30:00+01:00", "2026-03-28T03:30:00+01:00"),
        ("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00"),
        ("2026-03-30T02:30:00+02:00", "2026-03-30T03:30:00+02:00"),
    ] == windows(night, AMS, "2026-03-28T00:00:00+01:00", "2026-03-31T00:00:00+02:00")


def test_exported_file_all_day_event_is_local_midnight_to_midnight_in_x_wr_timezone(
    sales: Calendar,
) -> None:
    friday = by_name(sales)["black-friday-2026"]
    assert [("2026-11-27T00:00:00+01:00", "2026-11-28T00:00:00+01:00")] == windows(
        friday, AMS, "2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00"
    )
    assert Scale(kind="factor", amount=Decimal(3)) == friday.scale  # from an HTML DESCRIPTION
    assert 1800 == friday.timing.ramp_down


def test_exported_file_nominal_day_across_fall_back_lasts_25_hours(sales: Calendar) -> None:
    halloween = by_name(sales)["us-halloween-weekend"]
    assert [("2026-10-31T22:00:00-04:00", "2026-11-01T22:00:00-05:00")] == windows(
        halloween, NY, "2026-10-01T00:00:00-04:00", "2026-12-01T00:00:00-05:00"
    )


def test_exported_file_evaluates(sales: Calendar) -> None:
    # Friday 2026-05-08 20:00 Amsterdam, 15 min lead and a 10 min ramp of 5 steps before.
    assert 0 == value_at([sales], WEB, at("2026-05-08T19:34:59+02:00"))
    assert 3 == value_at([sales], WEB, at("2026-05-08T19:35:00+02:00"))
    assert 12 == value_at([sales], WEB, at("2026-05-08T19:45:00+02:00"))
    assert 12 == value_at([sales], WEB, at("2026-05-08T21:59:59+02:00"))
    assert 0 == value_at([sales], WEB, at("2026-05-08T22:00:00+02:00"))
    assert 30 == value_at([sales], WEB, at("2026-06-05T22:30:00+02:00"))
    assert 12 == value_at([sales], WEB, at("2026-11-27T12:00:00+01:00"))  # factor 3 of base 4


# --- times ------------------------------------------------------------------------------------

AMS_TZ = """BEGIN:VTIMEZONE
TZID:Custom Amsterdam
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


@pytest.mark.parametrize(
    ("body", "header", "zone", "expected"),
    [
        pytest.param("DTSTART;TZID=Europe/Amsterdam:20260329T023000\nDURATION:PT1H", "", AMS,
                     [("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00")],
                     id="iana-start-in-gap-moves-forward"),
        pytest.param("DTSTART;TZID=Custom Amsterdam:20260329T023000\nDURATION:PT1H", AMS_TZ, AMS,
                     [("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00")],
                     id="vtimezone-start-in-gap-moves-forward"),
        pytest.param("DTSTART;TZID=Custom Amsterdam:20261025T023000\nDURATION:PT1H", AMS_TZ, AMS,
                     [("2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00")],
                     id="vtimezone-repeated-hour-means-first"),
        pytest.param("DTSTART;TZID=America/New_York:20261101T013000\nDTEND;TZID=America/New_York:"
                     "20261101T020000", "", NY,
                     [("2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00")],
                     id="ny-repeated-hour-start-first-end-after"),
        pytest.param("DTSTART;TZID=America/New_York:20261031T120000\nDURATION:P1D", "", NY,
                     [("2026-10-31T12:00:00-04:00", "2026-11-01T12:00:00-05:00")],
                     id="duration-p1d-is-nominal-25h"),
        pytest.param("DTSTART;TZID=America/New_York:20261031T120000\nDURATION:PT24H", "", NY,
                     [("2026-10-31T12:00:00-04:00", "2026-11-01T11:00:00-05:00")],
                     id="duration-pt24h-is-exact"),
        pytest.param("DTSTART;TZID=America/New_York:20260307T120000\nDURATION:P1DT2H", "", NY,
                     [("2026-03-07T12:00:00-05:00", "2026-03-08T14:00:00-04:00")],
                     id="duration-p1dt2h-nominal-day-then-exact-hours"),
        pytest.param("DTSTART;TZID=America/New_York:20260301T120000\nDURATION:P1W", "", NY,
                     [("2026-03-01T12:00:00-05:00", "2026-03-08T12:00:00-04:00")],
                     id="duration-week-is-nominal"),
        pytest.param("DTSTART:20260329T023000\nDURATION:PT1H", f"X-WR-TIMEZONE:{AMS}", AMS,
                     [("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00")],
                     id="floating-in-x-wr-timezone"),
        pytest.param("DTSTART:20260329T013000Z\nDURATION:PT1H", f"X-WR-TIMEZONE:{AMS}", AMS,
                     [("2026-03-29T03:30:00+02:00", "2026-03-29T04:30:00+02:00")],
                     id="utc-stays-utc"),
        pytest.param("DTSTART;VALUE=DATE:20260329", "X-WR-TIMEZONE:Europe/Amsterdam", AMS,
                     [("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00")],
                     id="all-day-without-end-is-one-local-day-of-23h"),
        pytest.param("DTSTART;VALUE=DATE:20261024\nDTEND;VALUE=DATE:20261026",
                     "X-WR-TIMEZONE:Europe/Amsterdam", AMS,
                     [("2026-10-24T00:00:00+02:00", "2026-10-26T00:00:00+01:00")],
                     id="all-day-two-days-dtend-exclusive"),
        pytest.param("DTSTART;VALUE=DATE:20261127\nDURATION:P1D", "X-WR-TIMEZONE:Asia/Tokyo", TOKYO,
                     [("2026-11-27T00:00:00+09:00", "2026-11-28T00:00:00+09:00")],
                     id="all-day-with-duration"),
    ],
)  # fmt: skip
def test_times(body: str, header: str, zone: dt.tzinfo, expected: list[tuple[str, str]]) -> None:
    (event,) = parse(
        ics(f"UID:x\nSUMMARY:Sale\nDESCRIPTION:replicas: 1\n{body}", header=header)
    ).events
    assert expected == windows(
        event, zone, "2026-01-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"
    )


DUBLIN = ZoneInfo("Europe/Dublin")
# Europe/Dublin as IANA now describes it: "negative" DST, the winter part is DAYLIGHT with the
# smaller offset (Irish Standard Time +01:00 is the summer's STANDARD).
DUBLIN_NEGATIVE_DST = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:STANDARD
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
TZNAME:IST
DTSTART:19700329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
TZNAME:GMT
DTSTART:19701025T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE"""
# The same clock in the classic form: STANDARD in winter, DAYLIGHT (+01:00) in summer.
DUBLIN_CLASSIC = """BEGIN:VTIMEZONE
TZID:{tzid}
BEGIN:DAYLIGHT
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
DTSTART:19700329T010000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
DTSTART:19701025T020000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""
# Names icalendar does not map to an IANA zone, so the VTIMEZONE in the file defines the clock.
NON_IANA_TZIDS = ["GMT Standard Time", "/freeassociation.sourceforge.net/Europe/Dublin",
                  "Custom Dublin"]  # fmt: skip
# Wall times on 29 March 2026 (01:00 -> 02:00) and 25 October 2026 (02:00 -> 01:00), every
# quarter hour from 23:00 the evening before to 04:00.
DUBLIN_WALLS = [
    dt.datetime(2026, month, day - 1, 23) + dt.timedelta(minutes=15 * k)
    for month, day in ((3, 29), (10, 25))
    for k in range(21)
]


def _dublin_start(vtimezone: str, tzid: str, wall: dt.datetime) -> int:
    body = f"UID:x\nSUMMARY:Sale\nDESCRIPTION:replicas: 1\nDURATION:PT1H\n" \
           f"DTSTART;TZID={tzid}:{wall:%Y%m%dT%H%M%S}"  # fmt: skip
    (event,) = parse(ics(body, header=vtimezone.format(tzid=tzid))).events
    ((start, end),) = event.schedule.overlapping(at("2026-01-01T00:00:00Z"),
                                                 at("2027-01-01T00:00:00Z"))  # fmt: skip
    assert 3600 == end - start
    return start


@pytest.mark.parametrize("tzid", NON_IANA_TZIDS)
@pytest.mark.parametrize(
    "vtimezone",
    [pytest.param(DUBLIN_NEGATIVE_DST, id="negative-dst"),
     pytest.param(DUBLIN_CLASSIC, id="classic")],
)  # fmt: skip
@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        pytest.param("2026-03-29T00:30", "2026-03-29T00:30:00+00:00", id="before-the-gap"),
        pytest.param("2026-03-29T01:30", "2026-03-29T02:30:00+01:00", id="gap-moves-forward"),
        pytest.param("2026-03-29T02:30", "2026-03-29T02:30:00+01:00", id="after-the-gap"),
        pytest.param("2026-10-25T00:30", "2026-10-25T00:30:00+01:00", id="before-fall-back"),
        pytest.param("2026-10-25T01:30", "2026-10-25T01:30:00+01:00", id="repeated-means-first"),
        pytest.param("2026-10-25T02:30", "2026-10-25T02:30:00+00:00", id="hour-after-fall-back"),
        pytest.param("2026-07-01T12:00", "2026-07-01T12:00:00+01:00", id="summer"),
        pytest.param("2026-12-01T12:00", "2026-12-01T12:00:00+00:00", id="winter"),
    ],
)
def test_custom_vtimezone_reads_wall_times_by_the_dst_rule(
    vtimezone: str, tzid: str, wall: str, expected: str
) -> None:
    assert at(expected) == _dublin_start(vtimezone, tzid, dt.datetime.fromisoformat(wall))


@pytest.mark.parametrize("vtimezone", [DUBLIN_NEGATIVE_DST, DUBLIN_CLASSIC],
                         ids=["negative-dst", "classic"])  # fmt: skip
def test_custom_vtimezone_agrees_with_iana_around_both_transitions(vtimezone: str) -> None:
    expected = [wall_clock_instant(w, DUBLIN) for w in DUBLIN_WALLS]
    assert expected == [_dublin_start(vtimezone, "GMT Standard Time", w) for w in DUBLIN_WALLS]


@pytest.mark.parametrize("vtimezone", [DUBLIN_NEGATIVE_DST, DUBLIN_CLASSIC],
                         ids=["negative-dst", "classic"])  # fmt: skip
@pytest.mark.parametrize(
    ("dtstart", "expected"),
    [
        pytest.param("20261023T023000", ["2026-10-23T02:30:00+01:00", "2026-10-24T02:30:00+01:00",
                                         "2026-10-25T02:30:00+00:00", "2026-10-26T02:30:00+00:00"],
                     id="fall-back"),
        pytest.param("20260327T013000", ["2026-03-27T01:30:00+00:00", "2026-03-28T01:30:00+00:00",
                                         "2026-03-29T02:30:00+01:00", "2026-03-30T01:30:00+01:00"],
                     id="spring-forward-gap-day-moves-forward"),
    ],
)  # fmt: skip
def test_custom_vtimezone_daily_series_keeps_its_wall_clock_time(
    vtimezone: str, dtstart: str, expected: list[str]
) -> None:
    body = "UID:x\nSUMMARY:Sale\nDESCRIPTION:replicas: 1\nDURATION:PT1H\n" \
           f"DTSTART;TZID=GMT Standard Time:{dtstart}\nRRULE:FREQ=DAILY;COUNT=4"  # fmt: skip
    (event,) = parse(ics(body, header=vtimezone.format(tzid="GMT Standard Time"))).events
    starts = [s for s, _ in windows(event, DUBLIN, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")]
    assert expected == starts


@pytest.mark.parametrize(
    ("default_zone", "expected"),
    [
        pytest.param(None, "2026-11-27T00:00:00+00:00", id="utc-unless-configured"),
        pytest.param(TOKYO, "2026-11-27T00:00:00+09:00", id="configured-default-zone"),
    ],
)
def test_date_values_without_x_wr_timezone_use_the_default_zone(
    default_zone: dt.tzinfo | None, expected: str
) -> None:
    text = ics("UID:x\nSUMMARY:Sale\nDESCRIPTION:replicas: 1\nDTSTART;VALUE=DATE:20261127")
    kwargs = {"default_zone": default_zone} if default_zone else {}
    (event,) = parse_calendar(text, name="t", origin="t.ics", **kwargs).events  # type: ignore[arg-type]
    ((start, _),) = event.schedule.overlapping(
        at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")
    )
    assert at(expected) == start


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param("RRULE:FREQ=DAILY;COUNT=3",
                     ["03-27 23:00+01:00 4.0h", "03-28 23:00+01:00 4.0h", "03-29 23:00+02:00 4.0h"],
                     id="dtend-length-is-exact-across-spring-forward"),
        pytest.param("RRULE:FREQ=DAILY;COUNT=3\nEXDATE;TZID=Europe/Amsterdam:20260328T230000",
                     ["03-27 23:00+01:00 4.0h", "03-29 23:00+02:00 4.0h"], id="exdate"),
        pytest.param("RRULE:FREQ=DAILY;COUNT=2\nRDATE;TZID=Europe/Amsterdam:20260401T100000",
                     ["03-27 23:00+01:00 4.0h", "03-28 23:00+01:00 4.0h", "04-01 10:00+02:00 4.0h"],
                     id="rdate-takes-the-length"),
        pytest.param("RDATE;VALUE=PERIOD:20260401T080000Z/20260401T090000Z",
                     ["03-27 23:00+01:00 4.0h", "04-01 10:00+02:00 1.0h"], id="rdate-period"),
        pytest.param("RRULE:FREQ=WEEKLY;BYDAY=FR;UNTIL=20260410T220000Z",
                     ["03-27 23:00+01:00 4.0h", "04-03 23:00+02:00 4.0h", "04-10 23:00+02:00 4.0h"],
                     id="until-utc-inclusive"),
        pytest.param("RRULE:FREQ=MONTHLY;BYMONTHDAY=27,-1;COUNT=3",
                     ["03-27 23:00+01:00 4.0h", "03-31 23:00+02:00 4.0h", "04-27 23:00+02:00 4.0h"],
                     id="last-day-of-month"),
    ],
)  # fmt: skip
def test_recurrence(rule: str, expected: list[str]) -> None:
    text = ics("UID:x\nSUMMARY:Sale\nDESCRIPTION:replicas: 1\n"
               "DTSTART;TZID=Europe/Amsterdam:20260327T230000\n"
               f"DTEND;TZID=Europe/Amsterdam:20260328T030000\n{rule}")  # fmt: skip
    (event,) = parse(text).events
    got = [
        dt.datetime.fromtimestamp(s, AMS).strftime("%m-%d %H:%M")
        + dt.datetime.fromtimestamp(s, AMS).isoformat()[-6:]
        + f" {(e - s) / 3600}h"
        for s, e in event.schedule.overlapping(
            at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z")
        )
    ]
    assert expected == got


def test_this_and_future_override_moves_the_rest_of_the_series() -> None:
    text = ics(
        "UID:s\nSUMMARY:Sale\nDESCRIPTION:replicas: 2\nDTSTART:20260601T100000Z\n"
        "DURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=4",
        "UID:s\nSUMMARY:Sale\nDESCRIPTION:replicas: 2\n"
        "RECURRENCE-ID;RANGE=THISANDFUTURE:20260603T100000Z\nDTSTART:20260603T120000Z\n"
        "DURATION:PT2H",
    )
    (event,) = parse(text).events
    assert [
        ("2026-06-01T10:00:00+00:00", "2026-06-01T11:00:00+00:00"),
        ("2026-06-02T10:00:00+00:00", "2026-06-02T11:00:00+00:00"),
        ("2026-06-03T12:00:00+00:00", "2026-06-03T14:00:00+00:00"),
        ("2026-06-04T12:00:00+00:00", "2026-06-04T14:00:00+00:00"),
    ] == windows(event, dt.UTC, "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z")
    assert at("2026-06-04T14:00:00Z") == event.schedule.last_end


def test_series_without_end_never_ends_and_its_moved_instance_ends() -> None:
    text = ics(
        "UID:s\nSUMMARY:Sale\nDESCRIPTION:replicas: 2\nDTSTART:20260601T100000Z\n"
        "DURATION:PT1H\nRRULE:FREQ=WEEKLY",
        "UID:s\nSUMMARY:Sale\nDESCRIPTION:replicas: 9\nRECURRENCE-ID:20260608T100000Z\n"
        "DTSTART:20260608T150000Z\nDURATION:PT1H",
    )
    weekly, moved = parse(text).events
    assert weekly.schedule.last_end is None
    assert at("2026-06-08T16:00:00Z") == moved.schedule.last_end
    assert ["sale", "sale-2"] == [weekly.name, moved.name]


def test_orphan_override_is_a_one_off() -> None:
    text = ics("UID:o\nSUMMARY:Invite\nDESCRIPTION:replicas: 2\nRECURRENCE-ID:20260608T100000Z\n"
               "DTSTART:20260608T150000Z\nDURATION:PT1H")  # fmt: skip
    (event,) = parse(text).events
    assert [("2026-06-08T15:00:00+00:00", "2026-06-08T16:00:00+00:00")] == windows(
        event, dt.UTC, "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"
    )


def test_higher_sequence_copy_of_a_master_wins() -> None:
    text = ics(
        "UID:s\nSUMMARY:Sale\nSEQUENCE:0\nDESCRIPTION:replicas: 2\nDTSTART:20260601T100000Z\n"
        "DURATION:PT1H",
        "UID:s\nSUMMARY:Sale\nSEQUENCE:1\nDESCRIPTION:replicas: 5\nDTSTART:20260601T120000Z\n"
        "DURATION:PT1H",
    )
    calendar = parse(text)
    ((event,), (ignored,)) = (calendar.events, calendar.ignored)
    assert Scale(kind="replicas", amount=Decimal(5)) == event.scale
    assert ignored.startswith("UID s (SUMMARY 'Sale'): superseded by the VEVENT at line ")


def test_cancelled_master_with_a_live_override() -> None:
    text = ics(
        "UID:s\nSUMMARY:Sale\nSTATUS:CANCELLED\nDESCRIPTION:replicas: 2\n"
        "DTSTART:20260601T100000Z\nDURATION:PT1H\nRRULE:FREQ=DAILY;COUNT=3",
        "UID:s\nSUMMARY:Sale\nDESCRIPTION:replicas: 2\nRECURRENCE-ID:20260602T100000Z\n"
        "DTSTART:20260602T100000Z\nDURATION:PT1H",
    )
    calendar = parse(text)
    (event,) = calendar.events
    assert [("2026-06-02T10:00:00+00:00", "2026-06-02T11:00:00+00:00")] == windows(
        event, dt.UTC, "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z"
    )
    assert ("UID s (SUMMARY 'Sale'): STATUS:CANCELLED",) == calendar.ignored


def test_a_broken_cancelled_instance_of_a_sale_is_an_error() -> None:
    # It would cancel an occurrence of the sale, so it cannot be ignored like a meeting.
    text = ics(
        "UID:s\nSUMMARY:Sale\nDESCRIPTION:replicas: 2\nDTSTART:20260601T100000Z\n"
        "DURATION:PT1H\nRRULE:FREQ=DAILY",
        "UID:s\nSUMMARY:Sale\nSTATUS:CANCELLED\nRECURRENCE-ID:2026060\nDTSTART:20260602T100000Z",
    )
    with pytest.raises(CalendarError, match=r"^t\.ics:16: event 'Sale': RECURRENCE-ID cannot"):
        parse(text)


def test_all_day_yearly_rule() -> None:
    text = ics(
        "UID:bf\nSUMMARY:Black Friday\nDESCRIPTION:factor: 2\nDTSTART;VALUE=DATE:20261127\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4FR",
        header="X-WR-TIMEZONE:America/New_York",
    )
    (event,) = parse(text).events
    assert [
        ("2026-11-27T00:00:00-05:00", "2026-11-28T00:00:00-05:00"),
        ("2027-11-26T00:00:00-05:00", "2027-11-27T00:00:00-05:00"),
    ] == windows(event, NY, "2026-01-01T00:00:00Z", "2028-01-01T00:00:00Z")
    assert event.schedule.last_end is None


# --- DESCRIPTION -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "scale", "targets", "timing"),
    [
        pytest.param("replicas: 10", Scale(kind="replicas", amount=Decimal(10)), (), Timing(),
                     id="replicas"),
        pytest.param("FACTOR: 1.5", Scale(kind="factor", amount=Decimal("1.5")), (), Timing(),
                     id="key-case-insensitive"),
        pytest.param("Big day!\\nLoad: 20000\\nNote: call the CDN\\nhttps://wiki/sale",
                     Scale(kind="load", amount=Decimal(20000)), (), Timing(), id="free-text-lines"),
        pytest.param("replicas: 3\\nleadtime: 15m\\nRAMPUP: 10m\\nrampDown: 1h\\nrampSteps: 2",
                     Scale(kind="replicas", amount=Decimal(3)), (),
                     Timing(lead_time=900, ramp_up=600, ramp_down=3600, ramp_steps=2), id="timing"),
        pytest.param("replicas: 3\\nLead time: 15m\\nramp_up: 1m",
                     Scale(kind="replicas", amount=Decimal(3)), (),
                     Timing(lead_time=900, ramp_up=60), id="spaces-and-underscores-in-keys"),
        pytest.param("replicas: 3\\ntargets: tier=frontend,team=shop; shop/checkout*; */api",
                     Scale(kind="replicas", amount=Decimal(3)),
                     (Target(labels={"tier": "frontend", "team": "shop"}),
                      Target(namespace="shop", name="checkout*"),
                      Target(namespace="*", name="api")),
                     Timing(), id="targets"),
        pytest.param("replicas: 3\\ntargets: app.kubernetes.io/name=shop",
                     Scale(kind="replicas", amount=Decimal(3)),
                     (Target(labels={"app.kubernetes.io/name": "shop"}),), Timing(),
                     id="label-key-with-slash"),
        pytest.param("<p>replicas: 4</p><p>leadTime: 5m</p>",
                     Scale(kind="replicas", amount=Decimal(4)),
                     (), Timing(lead_time=300), id="html"),
    ],
)  # fmt: skip
def test_description_keys(
    description: str, scale: Scale, targets: tuple[Target, ...], timing: Timing
) -> None:
    (event,) = parse(ics(f"UID:x\nSUMMARY:S\nDTSTART:20260601T100000Z\nDURATION:PT1H\n"
                         f"DESCRIPTION:{description}")).events  # fmt: skip
    assert (scale, targets, timing) == (event.scale, event.targets, event.timing)


def test_source_defaults_fill_what_description_leaves_out() -> None:
    text = ics("UID:x\nSUMMARY:S\nDTSTART:20260601T100000Z\nDURATION:PT1H\nDESCRIPTION:rampUp: 5m")
    (event,) = parse(text, defaults=Timing(lead_time=600, ramp_steps=3),
                     default_scale=Scale(kind="factor", amount=Decimal(2))).events  # fmt: skip
    assert Scale(kind="factor", amount=Decimal(2)) == event.scale
    assert Timing(lead_time=600, ramp_up=300, ramp_steps=3) == event.timing


def test_vevent_without_scale_is_not_a_sale_even_with_bad_times() -> None:
    text = ics("UID:m\nSUMMARY:Lunch\nDTSTART:2026060\nDESCRIPTION:Agenda: food")
    calendar = parse(text)
    assert () == calendar.events
    assert ("UID m (SUMMARY 'Lunch'): no replicas/factor/load in DESCRIPTION",) == calendar.ignored


# --- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        pytest.param("Black Friday 2026", "black-friday-2026", id="spaces"),
        pytest.param("  --Time Sale!!  (21:00) ", "time-sale-21-00", id="punctuation-runs"),
        pytest.param("Été -50%", "t-50", id="non-ascii-letters"),
        pytest.param("A" * 70, "a" * 63, id="at-most-63"),
        pytest.param("a" * 62 + " b", "a" * 62, id="no-trailing-dash-after-cut"),
        pytest.param("タイムセール", "", id="nothing-left"),
    ],
)
def test_event_name(summary: str, expected: str) -> None:
    assert expected == event_name(summary)


def test_names_are_made_unique_in_file_order() -> None:
    body = "SUMMARY:{s}\nDESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT1H\nUID:{u}"
    text = ics(body.format(s="Sale", u="1"), body.format(s="sale!", u="2"),
               body.format(s="SALE", u="3"), body.format(s="タイムセール", u="4@shop.example"),
               body.format(s="", u="5"))  # fmt: skip
    assert ["sale", "sale-2", "sale-3", "4-shop-example", "5"] == [
        e.name for e in parse(text).events
    ]


def test_unique_names_stay_within_63_characters() -> None:
    body = "SUMMARY:{s}\nDESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT1H\nUID:{u}"
    text = ics(body.format(s="x" * 80, u="1"), body.format(s="x" * 80, u="2"))
    assert ["x" * 63, "x" * 61 + "-2"] == [e.name for e in parse(text).events]


# --- errors ------------------------------------------------------------------------------------

GOOD = "UID:g\nSUMMARY:Good\nDESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT1H"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        pytest.param("DESCRIPTION:replicas: 1", 11, "event 'Bad': has no DTSTART", id="no-dtstart"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:2026060", 15,
                     r"event 'Bad': DTSTART cannot be read", id="broken-dtstart"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART;TZID=Mars/Olympus:20260601T100000\n"
                     "DURATION:PT1H", 15, r"TZID 'Mars/Olympus', which is neither an IANA zone",
                     id="unknown-tzid"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDTEND:20260601T090000Z",
                     16, "DTEND .* is not after DTSTART", id="end-before-start"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART;VALUE=DATE:20260601\n"
                     "DTEND;VALUE=DATE:20260601",
                     16, "DTEND is exclusive", id="all-day-end-equals-start"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDTEND:20260601T110000Z\n"
                     "DURATION:PT1H", 17, "both DTEND and DURATION", id="dtend-and-duration"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:-PT1H", 16,
                     "negative", id="negative-duration"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT0S", 16,
                     "DURATION is zero", id="zero-duration"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z", 11,
                     "has no DTEND or DURATION", id="instant"),
        pytest.param("DESCRIPTION:replicas: ten\nDTSTART:20260601T100000Z\nDURATION:PT1H", 14,
                     "DESCRIPTION replicas: 'ten' must be a whole number >= 0", id="bad-replicas"),
        pytest.param("DESCRIPTION:replicas: -1\nDTSTART:20260601T100000Z\nDURATION:PT1H", 14,
                     "replicas: '-1' must be a whole number", id="negative-replicas"),
        pytest.param("DESCRIPTION:factor: NaN\nDTSTART:20260601T100000Z\nDURATION:PT1H", 14,
                     "factor: 'NaN' must be a finite number", id="nan-factor"),
        pytest.param("DESCRIPTION:load: Infinity\nDTSTART:20260601T100000Z\nDURATION:PT1H", 14,
                     "load: 'Infinity' must be a finite number", id="infinite-load"),
        pytest.param("DESCRIPTION:replicas: 1\\nfactor: 2\nDTSTART:20260601T100000Z\nDURATION:PT1H",
                     14, "sets replicas and factor; keep exactly one", id="two-scales"),
        pytest.param("DESCRIPTION:replicas: 1\\nreplicas: 2\nDTSTART:20260601T100000Z\n"
                     "DURATION:PT1H",
                     14, "sets replicas twice", id="twice"),
        pytest.param("DESCRIPTION:replicas: 1\\nleadTime: soon\nDTSTART:20260601T100000Z\n"
                     "DURATION:PT1H", 14, "leadTime: duration 'soon' is not valid", id="bad-lead"),
        pytest.param("DESCRIPTION:replicas: 1\\nrampSteps: 0\nDTSTART:20260601T100000Z\n"
                     "DURATION:PT1H", 14, "rampSteps: '0' must be a whole number >= 1", id="steps"),
        pytest.param("DESCRIPTION:replicas: 1\\ntargets: checkout\nDTSTART:20260601T100000Z\n"
                     "DURATION:PT1H", 14, "targets entry 'checkout' is neither", id="bad-target"),
        pytest.param("DESCRIPTION:replicas: 1\\ntargets: tier==x\nDTSTART:20260601T100000Z\n"
                     "DURATION:PT1H", 14, "targets entry 'tier==x': 'tier==x' is not a label pair; "
                     "write k=v", id="double-equals-target"),
        pytest.param("DESCRIPTION:replicas: 1\\ntargets: shop/\nDTSTART:20260601T100000Z\n"
                     "DURATION:PT1H", 14, "needs both parts", id="half-target"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT1H\n"
                     "RRULE:FREQ=SOMETIMES", 17, "RRULE cannot be read .* e.g. RRULE:FREQ=WEEKLY",
                     id="bad-rrule"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT1H\n"
                     "RRULE:FREQ=DAILY;BYFOO=1", 17, "cannot be expanded", id="unknown-rrule-part"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDTSTART:20260602T100000Z\n"
                     "DURATION:PT1H", 15, "DTSTART appears 2 times", id="repeated-dtstart"),
        pytest.param("DESCRIPTION:replicas: 1\nDTSTART:20260601T100000Z\nDURATION:PT1H\n"
                     "SEQUENCE:first", 17, "SEQUENCE must be a whole number", id="bad-sequence"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_vevent(body: str, line: int, message: str) -> None:
    text = ics(GOOD, f"UID:b\nSUMMARY:Bad\n{body}")
    with pytest.raises(CalendarError) as caught:
        parse(text)
    (problem,) = caught.value.problems
    assert problem.startswith(f"t.ics:{line}: event 'Bad': "), problem
    assert re.search(message, problem), problem


def test_error_names_the_uid_when_there_is_no_summary() -> None:
    with pytest.raises(CalendarError, match=r"^t\.ics:4: event 'abc@x': has no DTSTART"):
        parse(ics("UID:abc@x\nDESCRIPTION:replicas: 1"))


def test_every_problem_is_reported_and_the_file_rejected_whole() -> None:
    text = ics(GOOD, "UID:1\nSUMMARY:A\nDESCRIPTION:replicas: x\nDTSTART:20260601T100000Z\n"
               "DURATION:PT1H", "UID:2\nSUMMARY:B\nDESCRIPTION:replicas: 1")  # fmt: skip
    with pytest.raises(CalendarError) as caught:
        parse(text)
    assert 2 == len(caught.value.problems)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "hello\r\n", r"t\.ics:1: an iCalendar file starts with BEGIN:VCALENDAR", id="not-ics"
        ),
        pytest.param("", r"t\.ics:1: the file is empty", id="empty"),
        pytest.param(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VCALENDAR\r\n",
            r"t\.ics:4: END:VCALENDAR does not close BEGIN:VEVENT at line 2",
            id="no-end",
        ),
        pytest.param(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\n",
            r"t\.ics:2: BEGIN:VEVENT has no END:VEVENT",
            id="cut-off",
        ),
        pytest.param(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nBEGIN:VEVENT\r\nEND:VEVENT\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n",
            r"t\.ics:3: BEGIN:VEVENT is inside BEGIN:VEVENT at line 2",
            id="nested",
        ),
        pytest.param(
            ics(header="X-WR-TIMEZONE:Mars/Olympus"),
            r"t\.ics:4: X-WR-TIMEZONE: time zone 'Mars/Olympus' is not a known IANA zone",
            id="bad-x-wr-timezone",
        ),
    ],
)
def test_structural_errors(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        parse(text)


def test_folded_lines_keep_their_first_line_number() -> None:
    text = ics(GOOD, "UID:b\nSUMMARY:Bad\nDESCRIPTION:replicas: 1\\nlead\n Time: never\n"
               "DTSTART:20260601T100000Z\nDURATION:PT1H")  # fmt: skip
    with pytest.raises(CalendarError, match=r"^t\.ics:14: event 'Bad': DESCRIPTION leadTime: "):
        parse(text)


# --- dispatch ----------------------------------------------------------------------------------


def test_parse_calendar_reads_ics_by_suffix_or_content() -> None:
    text = ics(GOOD)
    assert ["good"] == [e.name for e in parse_calendar(text, name="t", origin="feed.ics").events]
    url = "https://calendar.example/feed?token=1"
    assert ["good"] == [e.name for e in parse_calendar(text.encode(), name="t", origin=url).events]
    with_bom = "\ufeff" + text
    assert ["good"] == [e.name for e in parse_calendar(with_bom, name="t", origin="x").events]


# --- expansion -----------------------------------------------------------------------------------

DAILY = ics(
    "UID:d\nSUMMARY:Daily\nDESCRIPTION:replicas: 5\\nrampUp: 10m\\nrampDown: 5m\n"
    "DTSTART;TZID=Europe/Amsterdam:20260101T210000\nDURATION:PT1H\nRRULE:FREQ=DAILY\n"
    "EXDATE;TZID=Europe/Amsterdam:20261224T210000,20261231T210000",
    "UID:d\nSUMMARY:Daily\nDESCRIPTION:replicas: 8\nRECURRENCE-ID;TZID=Europe/Amsterdam:"
    "20260329T210000\nDTSTART;TZID=Europe/Amsterdam:20260329T230000\nDURATION:PT3H",
)


@pytest.fixture(scope="module")
def daily_reference() -> dict[str, list[tuple[int, int]]]:
    """Every occurrence from one big window, to compare small windows of fresh calendars with."""
    return {
        e.name: list(e.schedule.overlapping(at("2025-11-01T00:00:00Z"), at("2027-03-01T00:00:00Z")))
        for e in parse(DAILY).events
    }


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(start=st.integers(at("2025-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z")),
       length=st.integers(1, 40 * 86400))  # fmt: skip
def test_any_window_sees_the_same_occurrences_as_one_big_window(
    daily_reference: dict[str, list[tuple[int, int]]], start: int, length: int
) -> None:
    calendar = parse(DAILY)  # fresh: its cache starts empty
    for event in calendar.events:
        expected = [
            (s, e) for s, e in daily_reference[event.name] if s < start + length and e > start
        ]
        assert expected == list(event.schedule.overlapping(start, start + length))
        assert expected == list(event.schedule.overlapping(start, start + length))  # cached


@settings(max_examples=30, deadline=None)
@given(start=st.integers(at("2026-03-20T00:00:00Z"), at("2026-04-05T00:00:00Z")),
       hours=st.integers(1, 96))  # fmt: skip
def test_ics_plan_agrees_with_value_at(start: int, hours: int) -> None:
    calendar = parse(DAILY)
    end = start + hours * 3600
    points = plan([calendar], WEB, start, end).points
    bounds = [p.at for p in points] + [end]
    for point, nxt in zip(points, bounds[1:], strict=True):
        for instant in {point.at, (point.at + nxt) // 2, nxt - 1}:
            assert point.value == value_at([calendar], WEB, instant)


def test_daily_series_excludes_exdates_over_a_year() -> None:
    calendar = parse(DAILY)
    daily = by_name(calendar)["daily"]
    year = daily.schedule.overlapping(at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
    starts = [dt.datetime.fromtimestamp(s, AMS) for s, _ in year]
    days = {s.date() for s in starts}
    assert 365 - 3 == len(starts) == len(days)  # two EXDATEs and one instance with other numbers
    assert not days & {dt.date(2026, 12, 24), dt.date(2026, 12, 31), dt.date(2026, 3, 29)}
    assert {(21, 0)} == {(s.hour, s.minute) for s in starts}


def test_plan_over_a_year_of_a_daily_ics_series_runs() -> None:
    calendar = parse(DAILY)
    year = plan([calendar], WEB, at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
    assert 362 == sum(1 for p in year.points if p.value == 5 and p.events == ("daily",))
