"""Calendar files: YAML 1.2 reading, the schema, DST for one-off times, validation (SPEC 2)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import textwrap
from decimal import Decimal
from typing import Any

import pytest
from strategies import WEB, parse

from scaler.calendar.evaluation import demand
from scaler.calendar.model import Calendar, Event, Once, Scale, Target, Timing
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.workload import Workload, parse_metadata
from scaler.calendar.yamlnodes import load
from scaler.errors import CalendarError


def utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def only(calendar: Calendar) -> Event:
    (event,) = calendar.events
    return event


def rejected(text: str) -> list[str]:
    """The problems of a calendar that must be rejected whole."""
    with pytest.raises(CalendarError) as caught:
        parse(text)
    return caught.value.problems


def heads(problems: list[str], expected: list[str]) -> list[str]:
    """Each problem cut to the length of the expected one; extra problems kept whole."""
    return [p[: len(e)] for p, e in zip(problems, expected, strict=False)] + problems[
        len(expected) :
    ]


# -- YAML 1.2 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("off", "off", id="off-is-text"),
        pytest.param("on", "on", id="on-is-text"),
        pytest.param("yes", "yes", id="yes-is-text"),
        pytest.param("no", "no", id="no-is-text"),
        pytest.param("y", "y", id="y-is-text"),
        pytest.param("true", True, id="true"),
        pytest.param("False", False, id="false"),
        pytest.param("2026-11-27", "2026-11-27", id="date-stays-text"),
        pytest.param("2026-11-27T00:00", "2026-11-27T00:00", id="time-stays-text"),
        pytest.param("2026-11-27 00:00:00+09:00", "2026-11-27 00:00:00+09:00", id="timestamp-text"),
        pytest.param("12:30", "12:30", id="no-sexagesimal"),
        pytest.param("010", 10, id="leading-zero-is-decimal"),
        pytest.param("0o17", 15, id="octal"),
        pytest.param("0x1F", 31, id="hex"),
        pytest.param("1.1", Decimal("1.1"), id="decimal-exact"),
        pytest.param("1e3", Decimal("1e3"), id="exponent"),
        pytest.param(".inf", Decimal("Infinity"), id="infinity"),
        pytest.param("-.inf", Decimal("-Infinity"), id="minus-infinity"),
        pytest.param("~", None, id="tilde-null"),
        pytest.param("null", None, id="null"),
        pytest.param("", None, id="empty-null"),
        pytest.param("1_000", "1_000", id="no-underscores"),
        pytest.param("'1.1'", "1.1", id="quoted-stays-text"),
    ],
)
def test_yaml_scalar_is_read_by_yaml_1_2_core_rules(text: str, expected: Any) -> None:
    assert {"value": expected} == load(f"value: {text}")


def test_yaml_nan_is_read_as_decimal_nan() -> None:
    assert load("value: .nan")["value"].is_nan()


def test_event_named_off_is_the_text_off() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: off
            start: 2026-11-27T00:00
            duration: 1h
            scale: {replicas: 1}
        """
    )
    assert "off" == only(calendar).name


def test_factor_is_exact_so_1_1_times_100_is_110() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            scale: {factor: 1.1}
        """
    )
    assert 110 == demand(only(calendar), Workload(namespace="shop", name="web", base_replicas=100))


@pytest.mark.parametrize(
    ("load_text", "capacity", "share", "expected"),
    [
        pytest.param("0.3", "0.1", "1", 3, id="tenths-divide-exactly"),
        pytest.param("1.1", "1", "100", 110, id="share-times-decimal"),
        pytest.param("110", "1", "0.1", 11, id="decimal-share"),
        pytest.param("20000", "150", "0.3", 40, id="example-sizes"),
        pytest.param("1000", "7", "0.35", 50, id="share-and-capacity"),
        pytest.param("100", "3", "1", 34, id="rounded-up"),
        pytest.param("0.01", "1000", "1", 1, id="any-load-needs-one"),
        pytest.param("0", "10", "1", 0, id="zero-load"),
        pytest.param("500", "10", "0", 0, id="zero-share"),
    ],
)
def test_load_demand_is_exact_then_rounded_up(
    load_text: str, capacity: str, share: str, expected: int
) -> None:
    calendar = parse(
        f"""
        version: 1
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            scale: {{load: {load_text}}}
        """
    )
    workload = Workload(
        namespace="shop",
        name="web",
        capacity_per_replica=Decimal(capacity),
        load_share=Decimal(share),
    )
    assert expected == demand(only(calendar), workload)


YAML_CALENDAR = """
version: 1
timezone: Asia/Tokyo
defaults: {leadTime: 15m, rampUp: 10m, rampDown: 5m, rampSteps: 4}
events:
  - name: black-friday
    start: 2026-11-27
    end: 2026-12-01
    scale: {factor: 3}
    targets:
      - labels: {tier: frontend}
      - {namespace: shop, name: "checkout*", scale: {replicas: 60}}
  - name: paused
    start: 2026-12-10T10:00:00+09:00
    duration: 2h
    disabled: true
    scale: {load: 20000.5}
"""


def without_lines(calendar: Calendar) -> list[Event]:
    return [dataclasses.replace(e, line=0) for e in calendar.events]


def test_json_calendar_reads_like_the_same_yaml() -> None:
    as_json = json.dumps(
        {
            "version": 1,
            "timezone": "Asia/Tokyo",
            "defaults": {"leadTime": "15m", "rampUp": "10m", "rampDown": "5m", "rampSteps": 4},
            "events": [
                {
                    "name": "black-friday",
                    "start": "2026-11-27",
                    "end": "2026-12-01",
                    "scale": {"factor": 3},
                    "targets": [
                        {"labels": {"tier": "frontend"}},
                        {"namespace": "shop", "name": "checkout*", "scale": {"replicas": 60}},
                    ],
                },
                {
                    "name": "paused",
                    "start": "2026-12-10T10:00:00+09:00",
                    "duration": "2h",
                    "disabled": True,
                    "scale": {"load": 20000.5},
                },
            ],
        },
        indent="\t",
    )
    from_json = parse_calendar(as_json, name="sales", origin="sales.json")
    assert without_lines(parse(YAML_CALENDAR)) == without_lines(from_json)


def test_json_calendar_problems_carry_json_lines() -> None:
    text = '{\n  "version": 1,\n  "events": [\n    {"name": "x", "start": "soon",\n'
    text += '     "duration": "1h", "scale": {"replicas": 1}}\n  ]\n}\n'
    with pytest.raises(CalendarError) as caught:
        parse_calendar(text, name="sales", origin="sales.json")
    assert ["sales.json:4: event 'x': time 'soon' is not valid"] == heads(
        caught.value.problems, ["sales.json:4: event 'x': time 'soon' is not valid"]
    )


# -- the schema ------------------------------------------------------------------------------


def test_calendar_reads_every_field_of_a_one_off_event() -> None:
    first, second = parse(YAML_CALENDAR).events
    assert (
        Event(
            name="black-friday",
            line=5,
            scale=Scale(kind="factor", amount=Decimal(3)),
            targets=(
                Target(labels={"tier": "frontend"}),
                Target(
                    namespace="shop",
                    name="checkout*",
                    scale=Scale(kind="replicas", amount=Decimal(60)),
                ),
            ),
            timing=Timing(lead_time=900, ramp_up=600, ramp_down=300, ramp_steps=4),
            schedule=Once(utc("2026-11-26T15:00:00"), utc("2026-11-30T15:00:00")),
        )
        == first
    )
    assert (True, Scale(kind="load", amount=Decimal("20000.5"))) == (second.disabled, second.scale)


def test_event_timing_overrides_calendar_defaults_key_by_key() -> None:
    calendar = parse(
        """
        version: 1
        defaults: {leadTime: 15m, rampUp: 10m, rampDown: 5m, rampSteps: 4}
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            leadTime: 1h
            rampSteps: 2
            scale: {replicas: 1}
        """
    )
    assert Timing(lead_time=3600, ramp_up=600, ramp_down=300, ramp_steps=2) == only(calendar).timing


def test_builtin_timing_applies_when_nothing_sets_it() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            scale: {replicas: 1}
        """
    )
    assert Timing(lead_time=0, ramp_up=0, ramp_down=0, ramp_steps=5) == only(calendar).timing


def test_times_without_any_zone_are_utc() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: sale
            start: 2026-11-27
            duration: 1h
            scale: {replicas: 1}
        """
    )
    assert Once(utc("2026-11-27T00:00:00"), utc("2026-11-27T01:00:00")) == only(calendar).schedule


def test_event_zone_overrides_calendar_zone() -> None:
    calendar = parse(
        """
        version: 1
        timezone: Asia/Tokyo
        events:
          - name: sale
            timezone: Europe/Amsterdam
            start: 2026-07-01T12:00
            end: 2026-07-01T13:00
            scale: {replicas: 1}
        """
    )
    assert Once(utc("2026-07-01T10:00:00"), utc("2026-07-01T11:00:00")) == only(calendar).schedule


def test_target_label_values_are_text_as_written() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            scale: {replicas: 1}
            targets:
              - labels: {canary: true, tier: 2, weight: 1.50}
        """
    )
    assert {"canary": "true", "tier": "2", "weight": "1.50"} == only(calendar).targets[0].labels


def test_empty_targets_means_every_workload() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            scale: {replicas: 1}
            targets: []
        """
    )
    assert 1 == demand(only(calendar), WEB)


def test_event_without_scale_is_valid_when_every_target_has_one() -> None:
    calendar = parse(
        """
        version: 1
        events:
          - name: sale
            start: 2026-11-27T00:00
            duration: 1h
            targets:
              - {name: web, scale: {replicas: 3}}
        """
    )
    assert 3 == demand(only(calendar), WEB)


def test_calendar_without_events_is_valid() -> None:
    assert () == parse("version: 1\n").events


# -- DST: one-off local times are wall-clock times, durations are elapsed ---------------------


def one_off(zone: str, timing: str) -> Once:
    calendar = parse(
        f"""
        version: 1
        timezone: {zone}
        events:
          - {{name: sale, {timing}, scale: {{replicas: 1}}}}
        """
    )
    schedule = only(calendar).schedule
    assert isinstance(schedule, Once)
    return schedule


NY = "America/New_York"  # 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST
AMS = "Europe/Amsterdam"  # 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET


@pytest.mark.parametrize(
    ("zone", "timing", "expected"),
    [
        pytest.param(
            NY,
            "start: 2026-03-08T02:30, duration: 1h",
            Once(utc("2026-03-08T07:30:00"), utc("2026-03-08T08:30:00")),
            id="ny-start-in-gap",
        ),
        pytest.param(
            NY,
            "start: 2026-11-01T01:30, duration: 1h",
            Once(utc("2026-11-01T05:30:00"), utc("2026-11-01T06:30:00")),
            id="ny-ambiguous-start-is-first",
        ),
        pytest.param(
            NY,
            "start: 2026-11-01T01:00, duration: 2h",
            Once(utc("2026-11-01T05:00:00"), utc("2026-11-01T07:00:00")),
            id="ny-duration-elapsed-over-fall-back",
        ),
        pytest.param(
            NY,
            "start: 2026-11-01T00:30, end: 2026-11-01T02:00",
            Once(utc("2026-11-01T04:30:00"), utc("2026-11-01T07:00:00")),
            id="ny-local-end-over-fall-back",
        ),
        pytest.param(
            NY,
            "start: 2026-11-01T00:30, end: 2026-11-01T01:30",
            Once(utc("2026-11-01T04:30:00"), utc("2026-11-01T05:30:00")),
            id="ny-ambiguous-end-is-first",
        ),
        pytest.param(
            NY,
            "start: 2026-03-08T01:00, duration: 2h",
            Once(utc("2026-03-08T06:00:00"), utc("2026-03-08T08:00:00")),
            id="ny-duration-elapsed-over-spring-forward",
        ),
        pytest.param(
            NY,
            "start: 2026-03-08T01:00, end: 2026-03-08T03:00",
            Once(utc("2026-03-08T06:00:00"), utc("2026-03-08T07:00:00")),
            id="ny-local-end-over-spring-forward",
        ),
        pytest.param(
            AMS,
            "start: 2026-03-29T02:30, duration: 30m",
            Once(utc("2026-03-29T01:30:00"), utc("2026-03-29T02:00:00")),
            id="ams-start-in-gap",
        ),
        pytest.param(
            AMS,
            "start: 2026-03-29T01:00, end: 2026-03-29T02:30",
            Once(utc("2026-03-29T00:00:00"), utc("2026-03-29T01:30:00")),
            id="ams-end-in-gap",
        ),
        pytest.param(
            AMS,
            "start: 2026-10-25T02:30, duration: 1h",
            Once(utc("2026-10-25T00:30:00"), utc("2026-10-25T01:30:00")),
            id="ams-ambiguous-start-is-first",
        ),
        pytest.param(
            AMS,
            "start: 2026-10-25T02:00, duration: 2h",
            Once(utc("2026-10-25T00:00:00"), utc("2026-10-25T02:00:00")),
            id="ams-duration-elapsed-over-fall-back",
        ),
        pytest.param(
            AMS,
            "start: 2026-10-25T01:00, end: 2026-10-25T03:00",
            Once(utc("2026-10-24T23:00:00"), utc("2026-10-25T02:00:00")),
            id="ams-local-end-over-fall-back",
        ),
        pytest.param(
            AMS,
            "start: 2026-10-24, end: 2026-10-26",
            Once(utc("2026-10-23T22:00:00"), utc("2026-10-25T23:00:00")),
            id="ams-dates-over-fall-back",
        ),
    ],
)
def test_one_off_local_times_follow_the_wall_clock_rule(
    zone: str, timing: str, expected: Once
) -> None:
    assert expected == one_off(zone, timing)


# -- validation ------------------------------------------------------------------------------

GOOD = """\
version: 1
timezone: Asia/Tokyo
events:
  - name: good
    start: 2026-11-27T00:00
    duration: 1h
    scale: {replicas: 1}
"""  # the bad event below it starts on line 8


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              colour: red
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': unknown key 'colour'"],
            id="unknown-event-key",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              leadtime: 5m
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': unknown key 'leadtime'; did you mean 'leadTime'?"],
            id="misspelt-event-key",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
              targets:
                - namespace: shop
                  nmae: "checkout*"
            """,
            ["sales.yaml:14: event 'bad': target has unknown key 'nmae'"],
            id="unknown-target-key",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale:
                replica: 3
            """,
            [
                "sales.yaml:12: event 'bad': scale has unknown key 'replica'",
                "sales.yaml:12: event 'bad': scale needs exactly one of replicas, factor, load "
                "(got none)",
            ],
            id="unknown-scale-key",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-31T10:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:9: event 'bad': time '2026-11-31T10:00' does not exist"],
            id="start-no-such-day",
        ),
        pytest.param(
            """
            - name: bad
              start: next friday
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:9: event 'bad': time 'next friday' is not valid"],
            id="start-unreadable",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              end: 2026-11-27T25:00
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': time '2026-11-27T25:00' does not exist"],
            id="end-no-such-hour",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              timezone: Mars/Olympus
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': time zone 'Mars/Olympus' is not a known IANA zone"],
            id="unknown-zone",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              timezone: Asia
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': time zone 'Asia' is not a known IANA zone"],
            id="zone-directory",
        ),
        pytest.param(
            """
            - name: bad
              schedule: "61 * * * *"
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:9: event 'bad': schedule '61 * * * *' is not a valid cron rule"],
            id="cron-minute-out-of-range",
        ),
        pytest.param(
            """
            - name: bad
              schedule: "0 21 * *"
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:9: event 'bad': schedule '0 21 * *' has 4 fields; write 5"],
            id="cron-four-fields",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1.5h
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': duration '1.5h' is not valid"],
            id="duration-fraction",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 90
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': duration '90' is not valid"],
            id="duration-without-unit",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 0s
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': duration must be more than 0s"],
            id="duration-zero",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              leadTime: 15 min
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': leadTime: duration '15 min' is not valid"],
            id="lead-time-unreadable",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              rampDown: -5m
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': rampDown: duration '-5m' is not valid"],
            id="ramp-down-negative",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              end: 2026-11-27T00:00
              scale: {replicas: 1}
            """,
            [
                "sales.yaml:10: event 'bad': end 2026-11-27T00:00 is not after start "
                "2026-11-27T00:00"
            ],
            id="end-equals-start",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              end: 2026-11-26
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': end 2026-11-26 is not after start 2026-11-27T00:00"],
            id="end-before-start",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              end: 2026-11-26T15:00:00Z
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': end 2026-11-26T15:00:00Z is not after start"],
            id="end-equals-start-in-another-zone",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              end: 2026-11-28
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:10: event 'bad': has both end and duration; keep one"],
            id="end-and-duration",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              scale: {replicas: 1}
            """,
            ["sales.yaml:9: event 'bad': needs end or duration"],
            id="no-end",
        ),
        pytest.param(
            """
            - name: bad
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event 'bad': needs start (with end or duration) or schedule"],
            id="no-start",
        ),
        pytest.param(
            """
            - name: good
              start: 2026-11-28T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event 'good': name is already used by the event at line 4"],
            id="duplicate-name",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1, factor: 2}
            """,
            [
                "sales.yaml:11: event 'bad': scale needs exactly one of replicas, factor, load "
                "(got replicas and factor)"
            ],
            id="two-scale-kinds",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {}
            """,
            [
                "sales.yaml:11: event 'bad': scale needs exactly one of replicas, factor, load "
                "(got none)"
            ],
            id="zero-scale-kinds",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
            """,
            ["sales.yaml:8: event 'bad': has no scale"],
            id="no-scale",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              targets:
                - {name: web, scale: {replicas: 2}}
                - {name: api}
            """,
            ["sales.yaml:8: event 'bad': has no scale"],
            id="target-without-scale-and-no-event-scale",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: -1}
            """,
            [
                "sales.yaml:11: event 'bad': scale.replicas -1 must be a whole number from 0 to 2147483647"
            ],
            id="negative-replicas",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1.5}
            """,
            [
                "sales.yaml:11: event 'bad': scale.replicas 1.5 must be a whole number from 0 to 2147483647"
            ],
            id="fractional-replicas",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: .inf}
            """,
            [
                "sales.yaml:11: event 'bad': scale.replicas Infinity must be a whole number from 0 to 2147483647"
            ],
            id="infinite-replicas",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {factor: -0.5}
            """,
            ["sales.yaml:11: event 'bad': scale.factor -0.5 must be a finite number >= 0"],
            id="negative-factor",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {factor: .inf}
            """,
            ["sales.yaml:11: event 'bad': scale.factor Infinity must be a finite number >= 0"],
            id="infinite-factor",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {load: .nan}
            """,
            ["sales.yaml:11: event 'bad': scale.load NaN must be a finite number >= 0"],
            id="nan-load",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {load: -.inf}
            """,
            ["sales.yaml:11: event 'bad': scale.load -Infinity must be a finite number >= 0"],
            id="minus-infinite-load",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {factor: "3"}
            """,
            ["sales.yaml:11: event 'bad': scale.factor '3' must be a finite number >= 0"],
            id="quoted-factor",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
              targets:
                - name: web
                  scale: {replicas: -2}
            """,
            [
                "sales.yaml:14: event 'bad': scale.replicas -2 must be a whole number from 0 to 2147483647"
            ],
            id="negative-target-replicas",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              rampSteps: 0
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': rampSteps 0 must be a whole number >= 1"],
            id="zero-ramp-steps",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              rampSteps: 2.5
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': rampSteps 2.5 must be a whole number >= 1"],
            id="fractional-ramp-steps",
        ),
        pytest.param(
            """
            - name: bad
              schedule: "0 21 * * *"
              duration: 1h
              exclude:
                - 2026-12-24
                - xmas
              scale: {replicas: 1}
            """,
            [
                "sales.yaml:13: event 'bad': exclude entry 'xmas' is not a date (YYYY-MM-DD), "
                "holidays:CC[-SUBDIV], or a name from exclusions (none defined)"
            ],
            id="unknown-exclusion-name",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              from: 2026-11-01
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': from applies to recurring events only"],
            id="from-on-one-off",
        ),
        pytest.param(
            """
            - name: bad
              schedule: "0 21 * * *"
              duration: 1h
              until: 9999-12-31
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': time out of range"],
            id="until-the-last-representable-day",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              disabled: off
              scale: {replicas: 1}
            """,
            ["sales.yaml:11: event 'bad': disabled 'off' must be true or false"],
            id="disabled-off-is-text",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
              targets: {name: web}
            """,
            ["sales.yaml:12: event 'bad': targets must be a list"],
            id="targets-not-a-list",
        ),
        pytest.param(
            """
            - name: bad
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
              targets:
                - labels: [tier, frontend]
            """,
            ["sales.yaml:13: event 'bad': target labels must map names to values"],
            id="labels-not-a-mapping",
        ),
        pytest.param(
            """
            - name: Black-Friday
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event 'Black-Friday': name must be 1-63 characters of a-z, 0-9"],
            id="name-upper-case",
        ),
        pytest.param(
            """
            - name: black friday
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event 'black friday': name must be 1-63 characters"],
            id="name-with-space",
        ),
        pytest.param(
            """
            - name: black_friday
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event 'black_friday': name must be 1-63 characters"],
            id="name-with-underscore",
        ),
        pytest.param(
            f"""
            - name: {"a" * 64}
              start: 2026-11-27T00:00
              duration: 1h
              scale: {{replicas: 1}}
            """,
            [f"sales.yaml:8: event '{'a' * 64}': name must be 1-63 characters"],
            id="name-too-long",
        ),
        pytest.param(
            """
            - name: "sale\\n"
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event 'sale\\n': name must be 1-63 characters"],
            id="name-with-trailing-newline",
        ),
        pytest.param(
            """
            - name: ""
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event '': name must be 1-63 characters"],
            id="name-empty",
        ),
        pytest.param(
            """
            - name: 2026
              start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event name 2026 must be text; write it in quotes"],
            id="name-a-number",
        ),
        pytest.param(
            """
            - start: 2026-11-27T00:00
              duration: 1h
              scale: {replicas: 1}
            """,
            ["sales.yaml:8: event has no name"],
            id="name-missing",
        ),
    ],
)
def test_bad_event_is_reported_at_its_line_with_its_name(bad: str, expected: list[str]) -> None:
    problems = rejected(GOOD + textwrap.indent(textwrap.dedent(bad).lstrip("\n"), "  "))
    assert expected == heads(problems, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "version: 1\nevent: []\n",
            ["sales.yaml:2: unknown top-level key 'event'; did you mean 'events'?"],
            id="unknown-top-level-key",
        ),
        pytest.param(
            "version: 1\ndefaults:\n  leadTime: 5m\n  rampup: 5m\n",
            ["sales.yaml:4: defaults has unknown key 'rampup'; did you mean 'rampUp'?"],
            id="unknown-defaults-key",
        ),
        pytest.param(
            "version: 1\ndefaults:\n  rampUp: 10 minutes\n",
            ["sales.yaml:3: rampUp: duration '10 minutes' is not valid"],
            id="bad-default-duration",
        ),
        pytest.param(
            "version: 1\ndefaults: {rampSteps: -1}\n",
            ["sales.yaml:2: rampSteps -1 must be a whole number >= 1"],
            id="bad-default-ramp-steps",
        ),
        pytest.param(
            "version: 1\ntimezone: Tokyo\n",
            ["sales.yaml:2: time zone 'Tokyo' is not a known IANA zone"],
            id="bad-calendar-zone",
        ),
        pytest.param(
            "timezone: UTC\nevents: []\n",
            ["sales.yaml:1: version: 1 is required (got None)"],
            id="version-missing",
        ),
        pytest.param(
            "timezone: UTC\nversion: 2\n",
            ["sales.yaml:2: version: 1 is required (got 2)"],
            id="version-2",
        ),
        pytest.param(
            "version: true\n",
            ["sales.yaml:1: version: 1 is required (got True)"],
            id="version-true",
        ),
        pytest.param(
            "version: 1.0\n",
            ["sales.yaml:1: version: 1 is required (got 1.0)"],
            id="version-decimal",
        ),
        pytest.param(
            'version: "1"\n',
            ["sales.yaml:1: version: 1 is required (got '1')"],
            id="version-text",
        ),
        pytest.param(
            "version: 1\nexclusions:\n  year-end: [2026-12-31, 2026-12-32]\n",
            ["sales.yaml:3: date '2026-12-32' does not exist"],
            id="exclusion-date-does-not-exist",
        ),
        pytest.param(
            "version: 1\nevents: {name: sale}\n",
            ["sales.yaml:2: events must be a list of events"],
            id="events-not-a-list",
        ),
        pytest.param(
            "version: 1\nevents:\n  - name: [sale\n",
            ["sales.yaml:4: not valid YAML/JSON"],
            id="yaml-syntax",
        ),
        pytest.param(
            "version: 1\nevents:\n  - name: a\n    name: b\n",
            ["sales.yaml:4: key 'name' appears twice in this mapping"],
            id="duplicate-key",
        ),
        pytest.param(
            "version: 1\ndefaults: {rampSteps: !!int 1.5}\n",
            ["sales.yaml:2: '1.5' is not a valid !!int"],
            id="explicit-tag-that-does-not-fit",
        ),
        pytest.param(
            "version: !!bool yes\n",
            ["sales.yaml:1: 'yes' is not a valid !!bool"],
            id="explicit-bool-yes",
        ),
        pytest.param(
            "version: 1\nevents: &all\n  - *all\n",
            ["sales.yaml:2: an alias refers to a collection that contains it"],
            id="recursive-alias",
        ),
        pytest.param(
            "version: 1\n"
            "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8)),
            ["sales.yaml:7: the document expands to more than 1000000 values"],
            id="alias-bomb",
        ),
        pytest.param(
            "version: 1\nevents: " + "[" * 2000 + "]" * 2000 + "\n",
            ["sales.yaml:2: not valid YAML/JSON"],
            id="nested-too-deeply",
        ),
        pytest.param(
            "- version: 1\n",
            ["sales.yaml:1: a calendar is a mapping with version: 1"],
            id="not-a-mapping",
        ),
    ],
)
def test_bad_calendar_is_reported_at_its_line(text: str, expected: list[str]) -> None:
    assert expected == heads(rejected(text), expected)


def test_one_bad_event_among_good_ones_rejects_the_whole_file() -> None:
    problems = rejected(
        GOOD
        + """\
  - name: bad
    start: 2026-11-27T00:00
    duration: 1h
    scale: {replicas: -1}
  - name: also-good
    start: 2026-11-28T00:00
    duration: 1h
    scale: {replicas: 2}
"""
    )
    expected = [
        "sales.yaml:11: event 'bad': scale.replicas -1 must be a whole number from 0 to 2147483647"
    ]
    assert expected == heads(problems, expected)


def test_every_problem_in_a_file_is_listed_in_file_order() -> None:
    problems = rejected(
        """\
version: 1
colour: blue
events:
  - name: first
    start: 2026-11-27T00:00
    duration: 1h
    scale: {factor: .nan}
  - name: second
    start: 2026-11-27T00:00
    end: 2026-11-26T00:00
    scale: {replicas: 1}
"""
    )
    expected = [
        "sales.yaml:2: unknown top-level key 'colour'",
        "sales.yaml:7: event 'first': scale.factor NaN must be a finite number >= 0",
        "sales.yaml:10: event 'second': end 2026-11-26T00:00 is not after start",
    ]
    assert expected == heads(problems, expected)


def test_problems_within_one_event_are_listed_in_line_order() -> None:
    problems = rejected(
        """\
version: 1
events:
  - name: order
    lead: 5m
    start: 2026-03-09T10:00
    end: 2026-03-09T09:00
    scale: {replicas: 3, factor: 2}
    bogus: 1
  - name: order
    start: 2026-11-27T00:00
    duration: 1h
    scale: {replicas: 1}
    rampsteps: 2
"""
    )
    expected = [
        "sales.yaml:4: event 'order': unknown key 'lead'; did you mean 'leadTime'?",
        "sales.yaml:6: event 'order': end 2026-03-09T09:00 is not after start 2026-03-09T10:00",
        "sales.yaml:7: event 'order': scale needs exactly one of replicas, factor, load",
        "sales.yaml:8: event 'order': unknown key 'bogus'",
        "sales.yaml:9: event 'order': name is already used by the event at line 3",
        "sales.yaml:13: event 'order': unknown key 'rampsteps'; did you mean 'rampSteps'?",
    ]
    assert expected == heads(problems, expected)


@pytest.mark.parametrize(
    ("start", "end", "note"),
    [
        pytest.param("2026-03-08T02:45", "2026-03-08T03:15",
                     "; start 2026-03-08T02:45 is in the spring-forward gap of America/New_York, "
                     "and a time in the gap moves forward by the gap: to 2026-03-08T03:45",
                     id="start-in-gap-passes-end"),
        pytest.param("2026-03-08T03:00", "2026-03-08T02:00",
                     "; end 2026-03-08T02:00 is in the spring-forward gap of America/New_York, "
                     "and a time in the gap moves forward by the gap: to 2026-03-08T03:00",
                     id="end-in-gap-meets-start"),
        pytest.param("2026-03-08T04:00", "2026-03-08T03:30", "", id="no-gap-no-note"),
    ],
)  # fmt: skip
def test_end_not_after_start_says_when_the_dst_gap_moved_a_time(
    start: str, end: str, note: str
) -> None:
    problems = rejected(
        "version: 1\ntimezone: America/New_York\nevents:\n  - name: gap\n"
        f"    start: {start}\n    end: {end}\n    scale: {{replicas: 3}}\n"
    )
    assert [f"sales.yaml:6: event 'gap': end {end} is not after start {start}{note}; end is "
            "exclusive and must come later"] == problems  # fmt: skip


def test_end_in_the_dst_gap_after_start_is_valid_and_moves_forward() -> None:
    event = only(parse("version: 1\ntimezone: America/New_York\nevents:\n  - name: gap\n"
                       "    start: 2026-03-08T01:00\n    end: 2026-03-08T02:30\n"
                       "    scale: {replicas: 3}\n"))  # fmt: skip
    # 01:00 EST to 03:30 EDT (02:30 does not exist): 1.5 hours elapsed.
    assert [(utc("2026-03-08T06:00"), utc("2026-03-08T07:30"))] == list(
        event.schedule.overlapping(utc("2026-03-01T00:00"), utc("2026-04-01T00:00"))
    )


def test_rejected_calendar_message_is_every_problem_on_its_own_line() -> None:
    with pytest.raises(CalendarError) as caught:
        parse("version: 2\ncolour: blue\n")
    assert "\n".join(caught.value.problems) == str(caught.value)


def test_scale_of_absurd_magnitude_is_rejected() -> None:
    text = "version: 1\nevents:\n  - name: huge\n    start: 2026-12-01\n    duration: 1h\n    scale: {factor: 1e9999999}\n"
    with pytest.raises(
        CalendarError, match=r"sales.yaml:6: event 'huge': scale.factor .* below 1e16"
    ):
        parse_calendar(text, name="sales", origin="sales.yaml")


def test_demand_is_capped_at_int32_replicas() -> None:
    text = "version: 1\nevents:\n  - name: big\n    start: 2026-12-01\n    duration: 1h\n    scale: {load: 1e15}\n"
    calendar = parse_calendar(text, name="sales", origin="sales.yaml")
    workload = parse_metadata("shop", "web", {"capacityPerReplica": "0.000000001"})
    assert demand(calendar.events[0], workload) == 2**31 - 1
