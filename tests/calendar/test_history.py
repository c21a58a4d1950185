"""`like` events (SPEC section 9) in the pure core: parsing, and peaks given as plain data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    T0,
    WEB,
    boundaries,
    calendar,
    factor,
    parse,
    plan_value,
    replicas,
    timings,
    workloads,
)

from scaler.calendar.evaluation import missing_key, plan, value_at
from scaler.calendar.history import (
    Peak,
    PeakUnavailable,
    check_likes,
    derivations,
    like_error,
    references,
)
from scaler.calendar.model import Calendar, Event, Once, Reference, Scale, Target, Timing
from scaler.calendar.workload import Workload
from scaler.errors import CalendarError, MetadataError

LAST = Reference("black-friday-2025", 1764288000, 1764633600)  # 2025-11-28 .. 2025-12-02 UTC
S, E = T0, T0 + 3600
PROPERTY = settings(max_examples=150, deadline=None)

SALES = """
    version: 1
    timezone: UTC
    events:
      - name: black-friday-2026
        start: 2026-11-27
        end: 2026-12-01
        scale:
          like: black-friday-2025
          growth: 1.2
          otherwise: {factor: 3}
      - name: black-friday-2025
        start: 2025-11-28
        end: 2025-12-02
        disabled: true
        scale: {factor: 3}
"""


def like(growth: str = "1", otherwise: Scale | None = None, ref: Reference = LAST) -> Scale:
    return Scale(kind="like", amount=Decimal(growth), like=ref, otherwise=otherwise)


def sale(scale: Scale, *, targets: tuple[Target, ...] = (), timing: Timing | None = None) -> Event:
    return Event(name="sale", line=1, scale=scale, targets=targets, timing=timing or Timing(),
                 schedule=Once(S, E))  # fmt: skip


def known(value: str) -> dict[Reference, Peak]:
    return {LAST: Peak(state="known", value=Decimal(value), query="q")}


NONE = {LAST: Peak(state="none", query='max(x{name="web"})')}
FAILING = {LAST: Peak(state="failing", query="q", error="connection refused")}


# -- parsing ---------------------------------------------------------------------------------


def test_a_like_scale_names_the_earlier_window_growth_and_otherwise() -> None:
    cal = parse(SALES)

    scale = cal.events[0].scale
    assert Scale(kind="like", amount=Decimal("1.2"), like=LAST, otherwise=factor("3")) == scale


def test_growth_defaults_to_one_and_targets_may_be_like() -> None:
    cal = parse("""
        version: 1
        events:
          - name: black-friday-2026
            start: 2026-11-27
            end: 2026-12-01
            scale: {like: black-friday-2025}
            targets:
              - name: web
                scale: {like: black-friday-2025, growth: 2}
          - name: black-friday-2025
            start: 2025-11-28
            end: 2025-12-02
            disabled: true
            scale: {replicas: 1}
    """)

    event = cal.events[0]
    assert (like("1"), like("2")) == (event.scale, event.targets[0].scale)


def test_a_json_calendar_takes_like_too() -> None:
    cal = parse("""
        {"version": 1, "timezone": "UTC", "events": [
          {"name": "bf-2026", "start": "2026-11-27", "end": "2026-12-01",
           "scale": {"like": "black-friday-2025", "growth": 1.25}},
          {"name": "black-friday-2025", "start": "2025-11-28", "end": "2025-12-02",
           "disabled": true, "scale": {"replicas": 1}}]}
    """)

    assert like("1.25") == cal.events[0].scale


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(("like: black-friday-2025", "like: black-friday-2024"),
                     "sales.yaml:8: event 'black-friday-2026': like 'black-friday-2024': no event of that name in this calendar; did you mean 'black-friday-2025'?",
                     id="unknown"),
        pytest.param(("start: 2025-11-28\n    end: 2025-12-02", "schedule: '0 0 28 11 *'\n    duration: 4d"),
                     "sales.yaml:8: event 'black-friday-2026': like 'black-friday-2025': that event is recurring (line 11); like needs a one-off event with start and end",
                     id="recurring"),
        pytest.param(("end: 2025-12-02", "end: 2026-11-28"),
                     "sales.yaml:8: event 'black-friday-2026': like 'black-friday-2025': that event ends after this one starts; like names an earlier event, whose end is at or before this start",
                     id="ends-after-start"),
        pytest.param(("otherwise: {factor: 3}", "otherwise: {like: black-friday-2025}"),
                     "sales.yaml:10: event 'black-friday-2026': otherwise cannot be like itself; give it replicas, factor or load, e.g. otherwise: {factor: 3}",
                     id="otherwise-like"),
        pytest.param(("growth: 1.2", "growth: -0.5"),
                     "sales.yaml:9: event 'black-friday-2026': growth -0.5 must be a finite number >= 0 with at most 9 decimals, e.g. growth: 1.2",
                     id="negative-growth"),
        pytest.param(("scale: {factor: 3}", "scale: {factor: 3, growth: 2}"),
                     "sales.yaml:15: event 'black-friday-2025': growth belongs to like scales; add like: <earlier event> or remove it",
                     id="growth-without-like"),
        pytest.param(("start: 2026-11-27\n    end: 2026-12-01", "schedule: '0 0 27 11 *'\n    duration: 4d"),
                     "sales.yaml:8: event 'black-friday-2026': like sizes one-off events only; give this recurring event replicas, factor or load",
                     id="like-on-recurring"),
    ],
)  # fmt: skip
def test_like_mistakes_are_rejected_with_file_and_line(
    change: tuple[str, str], expected: str
) -> None:
    text = SALES.replace(change[0].replace("\n", "\n    "), change[1].replace("\n", "\n    "))
    assert text != SALES

    with pytest.raises(CalendarError) as info:
        parse(text)

    assert [expected] == info.value.problems


# -- demand from a peak ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peak", "growth", "expected"),
    [
        pytest.param("47", "1.2", 57, id="47x1.2"),
        pytest.param("50", "1.1", 55, id="exact-decimals"),  # 50 * 1.1 in floats is 55.000...07
        pytest.param("47.5", "1", 48, id="fractional-peak"),
        pytest.param("0.2", "1", 1, id="small-fraction-rounds-up"),
        pytest.param("40", "0", 0, id="growth-zero"),
    ],
)
def test_a_known_peak_gives_ceil_of_peak_times_growth(
    peak: str, growth: str, expected: int
) -> None:
    cal = calendar(sale(like(growth)))

    assert expected == value_at([cal], WEB, S, known(peak))


def test_a_target_override_wins_over_the_like_scale() -> None:
    targets = (Target(name="web", scale=replicas(100)), Target(name="api"))
    cal = calendar(sale(like("1.2"), targets=targets))
    api = Workload(namespace="shop", name="api")

    assert (100, 57) == (value_at([cal], WEB, S, known("47")), value_at([cal], api, S, known("47")))


@pytest.mark.parametrize(
    "peaks",
    [pytest.param(NONE, id="no-history"), pytest.param(FAILING, id="failing"),
     pytest.param({}, id="pending"), pytest.param(None, id="no-prometheus")],
)  # fmt: skip
def test_otherwise_applies_whenever_the_peak_is_not_known(peaks: dict[Reference, Peak]) -> None:
    cal = calendar(sale(like("1.2", otherwise=factor("3"))))
    workload = Workload(namespace="shop", name="web", base_replicas=4)

    assert 12 == value_at([cal], workload, S, peaks)
    assert (None, None) == like_error([cal], workload, peaks, S)


def test_no_history_without_otherwise_is_invalid_argument_until_the_event_ends() -> None:
    cal = calendar(sale(like("1.2")))

    error, until = like_error([cal], WEB, NONE, S - 86400)

    assert isinstance(error, MetadataError)
    assert (
        "event 'sale' is sized like 'black-friday-2025', but Prometheus has no history of shop/web during it (query max(x{name=\"web\"}))"
        in str(error)
    )
    assert E == until
    assert (None, None) == like_error([cal], WEB, NONE, E)


def test_without_prometheus_and_otherwise_it_says_prometheus_is_needed() -> None:
    cal = calendar(sale(like("1.2")))

    with pytest.raises(MetadataError, match="has no --prometheus; start it with --prometheus URL"):
        check_likes([cal], WEB, None, S - 7 * 86400, S - 6 * 86400)


def test_an_unknown_peak_is_unavailable_only_once_the_occurrence_has_begun() -> None:
    timing = Timing(lead_time=300, ramp_up=600, ramp_down=120)
    cal = calendar(sale(like("1.2"), timing=timing))
    begins = S - 900

    before, until_before = like_error([cal], WEB, FAILING, begins - 1)
    during, until = like_error([cal], WEB, FAILING, begins)

    assert (None, begins) == (before, until_before)
    assert isinstance(during, PeakUnavailable)
    assert "unknown (connection refused); the HPA holds its replicas" in str(during)
    assert E + 120 == until
    assert 0 == value_at([cal], WEB, begins, FAILING)


def test_an_otherwise_the_workload_cannot_compute_is_a_missing_key_when_it_would_apply() -> None:
    cal = calendar(sale(like("1.2", otherwise=factor("3")), targets=(Target(name="web"),)))

    error, until = like_error([cal], WEB, NONE, S)

    assert E == until
    assert isinstance(error, MetadataError) and "baseReplicas" == error.key
    assert (
        "its otherwise (factor) needs baseReplicas: add baseReplicas to the trigger metadata"
        in str(error)
    )
    assert (None, None) == like_error([cal], WEB, known("47"), S)
    assert missing_key([cal], WEB, S) is None  # the like scale itself needs no key


def test_a_target_less_otherwise_skips_workloads_without_its_key() -> None:
    cal = calendar(sale(like("1.2", otherwise=factor("3"))))

    assert ((None, None), 0) == (like_error([cal], WEB, NONE, S), value_at([cal], WEB, S, NONE))


def test_references_are_the_windows_of_like_events_not_over() -> None:
    cal = calendar(sale(like("1.2")))

    assert ({LAST}, set()) == (references([cal], WEB, S), references([cal], WEB, E))


@pytest.mark.parametrize(
    ("peaks", "text"),
    [
        pytest.param(known("47"), "47 at peak during black-friday-2025 x 1.2 = 57", id="known"),
        pytest.param(NONE, "no history during black-friday-2025; otherwise factor 3 = 12", id="none"),
        pytest.param({}, "peak during black-friday-2025 pending (asking Prometheus); otherwise factor 3 = 12", id="pending"),
        pytest.param(FAILING, "peak during black-friday-2025 unknown: connection refused; otherwise factor 3 = 12", id="failing"),
    ],
)  # fmt: skip
def test_the_derivation_says_how_the_value_came_about(
    peaks: dict[Reference, Peak], text: str
) -> None:
    cal = calendar(sale(like("1.2", otherwise=factor("3"))))
    workload = Workload(namespace="shop", name="web", base_replicas=4)

    [found] = derivations([cal], workload, peaks, S)

    assert text == found.text


# -- property: plan agrees with point evaluation, peaks as data -------------------------------

peak_states = st.one_of(
    st.sampled_from(["0", "1", "3.5", "47", "47.25", "120"]).map(
        lambda v: Peak(state="known", value=Decimal(v))
    ),
    st.just(Peak(state="none")),
    st.just(Peak(state="failing", error="down")),
)
windows = [Reference(f"old-{i}", T0 - 86400 * (i + 2), T0 - 86400 * (i + 1)) for i in range(3)]


@st.composite
def like_calendars(draw: st.DrawFn) -> tuple[Calendar, dict[Reference, Peak] | None]:
    events = []
    for i in range(draw(st.integers(1, 4))):
        start = T0 + draw(st.integers(0, 2000))
        otherwise = draw(st.none() | st.integers(0, 30).map(replicas) | st.just(factor("1.5")))
        scale = draw(
            st.integers(0, 40).map(replicas)
            | st.builds(like, st.sampled_from(["0", "1", "1.1", "1.25", "2"]),
                        st.just(otherwise), st.sampled_from(windows))
        )  # fmt: skip
        events.append(Event(name=f"e{i}", line=1, scale=scale, timing=draw(timings),
                            schedule=Once(start, start + draw(st.integers(1, 1500)))))  # fmt: skip
    peaks = draw(st.none() | st.dictionaries(st.sampled_from(windows), peak_states))
    return calendar(*events), peaks


@PROPERTY
@given(case=like_calendars(), workload=workloads, data=st.data())
def test_plan_agrees_with_value_at_with_peaks_as_data(
    case: tuple[Calendar, dict[Reference, Peak] | None], workload: Workload, data: st.DataObject
) -> None:
    cal, peaks = case
    start = T0 + data.draw(st.integers(-1500, 3500))
    end = start + data.draw(st.integers(1, 5000))

    p = plan([cal], workload, start, end, peaks=peaks)

    changes = set().union(*(boundaries(e, workload) for e in cal.events))
    changes |= {pt.at for pt in p.points}
    instants = changes | {t - 1 for t in changes}
    instants |= set(data.draw(st.lists(st.integers(start, end - 1), max_size=20)))
    for t in sorted(i for i in instants if start <= i < end):
        assert value_at([cal], workload, t, peaks) == plan_value(p, t), t
