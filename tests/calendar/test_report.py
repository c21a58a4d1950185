"""The readiness report's arithmetic (SPEC 9, "Did we make it?"), on samples given as data."""

from __future__ import annotations

import pytest
from strategies import T0, WEB, calendar, event, factor, replicas

from scaler.calendar.report import Occasion, judge, occasions
from scaler.calendar.workload import Workload

S, E = T0, T0 + 3600
NOW = T0 + 10 * 86400  # long after every event below


def occasion(*, ramp_from: int = S, floor: int = 10, until: int = E) -> Occasion:
    return Occasion(event="sale", start=S, end=E, ramp_from=ramp_from, floor=floor, until=until)


def minutes(start: int, values: list[float]) -> list[tuple[int, float]]:
    return [(start + 60 * k, v) for k, v in enumerate(values)]


# --------------------------------------------------------------------------- occasions


def test_floor_is_the_value_at_the_start_with_every_event_together() -> None:
    big = event("big", start=S - 3600, end=E + 3600, scale=replicas(30))
    small = event("small", scale=replicas(10), lead=300, up=600)

    found = occasions([calendar(big, small)], WEB, S - 7200, E, NOW)

    assert [("big", S - 3600, 30), ("small", S, 30)] == [(o.event, o.start, o.floor) for o in found]
    assert S - 900 == found[1].ramp_from


def test_ramp_starts_at_the_workload_lead_and_ramp_when_they_are_longer() -> None:
    sale = event(lead=60, up=60)
    slow = Workload(namespace="shop", name="web", lead_time=600, ramp_up=300)

    [found] = occasions([calendar(sale)], slow, S, E, NOW)

    assert S - 900 == found.ramp_from


@pytest.mark.parametrize(
    ("sale", "start", "end", "now"),
    [
        pytest.param(event(disabled=True), S, E, NOW, id="disabled"),
        pytest.param(event(scale=replicas(0)), S, E, NOW, id="zero-demand"),
        pytest.param(event(scale=factor("2")), S, E, NOW, id="lacks-baseReplicas"),
        pytest.param(event(), S + 1, E, NOW, id="starts-before-from"),
        pytest.param(event(), S - 60, S, NOW, id="starts-at-to"),
        pytest.param(event(), S - 60, E, S - 1, id="not-begun"),
    ],
)  # fmt: skip
def test_occurrences_left_out(sale: object, start: int, end: int, now: int) -> None:
    assert [] == occasions([calendar(sale)], WEB, start, end, now)  # type: ignore[arg-type]


def test_an_occurrence_in_progress_is_judged_up_to_now() -> None:
    [found] = occasions([calendar(event())], WEB, S, E, S + 600)

    assert S + 601 == found.until


# --------------------------------------------------------------------------- judge


def test_reached_before_the_start_is_ready() -> None:
    result = judge(occasion(ramp_from=S - 600), minutes(S - 600, [2, 4, 10, 12] + [10] * 66))

    assert (S - 480, True, 0) == (result.reached, result.ready_at_start, result.late_seconds)


def test_reached_exactly_at_the_start_is_ready() -> None:
    result = judge(occasion(), minutes(S, [10] * 60))

    assert (S, True, 0) == (result.reached, result.ready_at_start, result.late_seconds)


def test_reached_after_the_start_is_late_by_the_difference() -> None:
    result = judge(occasion(), minutes(S, [3, 3, 9, 10, 10]))

    assert (S + 180, False, 180) == (result.reached, result.ready_at_start, result.late_seconds)


def test_never_reached_has_no_reached_and_no_lateness() -> None:
    result = judge(occasion(), minutes(S, [9] * 60))

    assert (None, False, None, 9) == (
        result.reached, result.ready_at_start, result.late_seconds, result.peak)  # fmt: skip


def test_no_sample_at_all_has_no_peak() -> None:
    result = judge(occasion(), [])

    assert (None, False, None) == (result.reached, result.ready_at_start, result.peak)


def test_peak_is_taken_during_the_event_only() -> None:
    samples = [(S - 60, 99.0), *minutes(S, [10, 14, 12]), (E, 99.0)]

    assert 14 == judge(occasion(ramp_from=S - 60), samples).peak


def test_samples_off_the_grid_or_after_until_are_ignored() -> None:
    samples = [(S + 30, 50.0), (S + 600, 50.0), (S + 660, 50.0)]

    result = judge(occasion(until=S + 601), samples)

    assert (S + 600, 50) == (result.reached, result.peak)
    assert result.in_progress


def test_peak_uses_the_samples_from_the_start_when_the_grids_differ() -> None:
    o = occasion(ramp_from=S - 90)
    ramp = minutes(S - 90, [10] * 61)  # instants S-90, S-30, S+30, ...
    during = minutes(S, [10, 25])

    assert 25 == judge(o, ramp, during).peak
    with pytest.raises(ValueError, match="pass the samples from S too"):
        judge(o, ramp)


def test_json_shape() -> None:
    result = judge(occasion(), minutes(S, [3, 10, 12.5]))

    assert {
        "event": "sale",
        "start": "2027-01-15T08:00:00Z",
        "end": "2027-01-15T09:00:00Z",
        "floor": 10,
        "reached": "2027-01-15T08:01:00Z",
        "ready_at_start": False,
        "late_seconds": 60,
        "peak": 12.5,
    } == result.to_json()
