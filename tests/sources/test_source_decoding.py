"""Bytes into a calendar: format by content type or suffix, and the reason a failure counts as."""

from __future__ import annotations

from decimal import Decimal

import pytest
from helpers import BROKEN_YAML, ICS, ICS_SALE_UTC, INVALID_CALENDAR, V1, YAML_V1

from scaler.calendar.model import Calendar, Scale
from scaler.errors import SourceError
from scaler.sources.decoding import Format, IcalOptions, decode_calendar, detect_format


@pytest.mark.parametrize(
    ("content_type", "location", "expected"),
    [
        pytest.param("text/calendar; charset=utf-8", "https://a/x", "ical", id="text-calendar"),
        pytest.param("application/json", "https://a/x.yaml", "json", id="type-wins"),
        pytest.param("application/vnd.sales+json", "https://a/x", "json", id="plus-json"),
        pytest.param("application/x-yaml", "https://a/x", "yaml", id="x-yaml"),
        pytest.param("text/plain", "https://a/feed.ics?k=1", "ical", id="suffix-ics"),
        pytest.param("application/octet-stream", "https://a/s.yml", "yaml", id="suffix-yml"),
        pytest.param(None, "/etc/calendars/sales.json", "json", id="file-json"),
        pytest.param(None, "https://a/calendar", None, id="unknown"),
    ],
)
def test_detect_format(content_type: str | None, location: str, expected: Format | None) -> None:
    assert expected == detect_format(content_type, location)


def test_html_is_never_a_calendar() -> None:
    with pytest.raises(SourceError, match="login or error page") as caught:
        detect_format("text/html; charset=utf-8", "https://a/sales.yaml")
    assert caught.value.reason == "parse"


def test_valid_yaml_decodes() -> None:
    calendar = decode_calendar(YAML_V1.encode(), name="sales", origin="s.yaml", fmt="yaml")

    assert tuple(e.name for e in calendar.events) == V1


@pytest.mark.parametrize(
    ("content", "reason", "match"),
    [
        pytest.param(BROKEN_YAML.encode(), "parse", r"s\.yaml:\d+", id="broken-yaml"),
        pytest.param(b"\xff\xfe\x00garbage", "parse", "UTF-8", id="not-utf8"),
        pytest.param(INVALID_CALENDAR.encode(), "invalid", "event 'backwards'", id="semantic"),
    ],
)
def test_rejected_content_names_its_reason(content: bytes, reason: str, match: str) -> None:
    with pytest.raises(SourceError, match=match) as caught:
        decode_calendar(content, name="sales", origin="s.yaml", fmt="yaml")
    assert reason == caught.value.reason


def test_ical_content_type_with_other_content_is_a_parse_error() -> None:
    with pytest.raises(SourceError, match="BEGIN:VCALENDAR") as caught:
        decode_calendar(YAML_V1.encode(), name="sales", origin="https://a/x", fmt="ical")
    assert caught.value.reason == "parse"


def test_many_problems_are_cut_short() -> None:
    events = "".join(f"  - name: e{i}\n    start: nope\n" for i in range(50))
    with pytest.raises(SourceError, match=r"\.\.\. and \d+ more problems") as caught:
        decode_calendar(f"version: 1\nevents:\n{events}".encode(), name="s", origin="s", fmt=None)
    assert str(caught.value).count("\n") == 20


def starts(calendar: Calendar) -> dict[str, int]:
    return {e.name: next(iter(e.schedule.overlapping(0, 2**40)))[0] for e in calendar.events}


def test_ical_floating_times_are_utc_by_default() -> None:
    calendar = decode_calendar(ICS.encode(), name="s", origin="https://a/feed", fmt="ical")

    assert starts(calendar) == {"black-friday": ICS_SALE_UTC}
    assert len(calendar.ignored) == 1


def test_ical_floating_times_follow_the_source_zone() -> None:
    options = IcalOptions(zone="Asia/Tokyo")

    calendar = decode_calendar(ICS.encode(), name="s", origin="x", fmt=None, ical=options)

    assert starts(calendar) == {"black-friday": ICS_SALE_UTC - 9 * 3600}


def test_ical_default_scale_makes_every_vevent_a_sale() -> None:
    options = IcalOptions(scale=Scale(kind="replicas", amount=Decimal(2)))

    calendar = decode_calendar(ICS.encode(), name="s", origin="x", fmt="ical", ical=options)

    assert sorted(starts(calendar)) == ["black-friday", "team-lunch"]
