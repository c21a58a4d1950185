"""Will the replicas be ready? KEDA + HPA + pod start-up, against cases computed by hand.

Every case starts a sale at S, a multiple of 15 s, so the calendar changes on a sync instant of
one HPA phase; the worst phase syncs 14 s after each change. Defaults unless a test says
otherwise: sync 15 s, scale up by max(4 pods, 100%) per 15 s, scale-down window 300 s.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaler.calendar.model import Calendar, Event
from scaler.calendar.workload import Workload
from scaler.readiness.simulation import (
    DEFAULT_SCALE_UP,
    Policy,
    Readiness,
    ScalingRules,
    Settings,
    Simulation,
    _prepare,
    _run,
    parse_scaling_rules,
    simulate,
)
from tests.calendar.strategies import T0, WEB, calendar, event, one_off_events, replicas

S = T0 + 3600  # the sale under test starts here
END = S + 3600  # and the simulated range ends here


def sale(n: int, lead: int, *, name: str = "sale", start: int = S, end: int = S + 3600) -> Event:
    """A one-off sale of n replicas from `start`, full from `lead` before it, no ramps."""
    return event(name, start=start, end=end, scale=replicas(n), lead=lead)


def run(*events: Event, workload: Workload = WEB, **options: object) -> Simulation:
    return simulate([calendar(*events)], workload, T0, END, Settings(**options))  # type: ignore[arg-type]


def only(sim: Simulation) -> Readiness:
    (row,) = sim.events
    return row


# -- one event, one jump ----------------------------------------------------------------------


def test_enough_lead_time_is_ready_at_the_start() -> None:
    # 2 -> 10 seen at S-120+14: 2 -> 6 (4 pods), S-91: 6 -> 10 (the +4 at S-106 is exactly one
    # period old, so it no longer counts); 60 s start-up: all 10 ready at S-31.
    row = only(run(sale(10, 120), min_replicas=2))
    assert (row.status, row.asked, row.ready) == ("ready", 10, 10)
    assert row.full_at == S - 31
    assert row.late_by is None
    assert row.recommended_lead_time is None


def test_short_lead_time_is_late_by_the_shortfall_and_the_recommendation_adds_it() -> None:
    # The same ramp from S-60: 6 at S-46, 10 at S-31, all ready at S+29: late by 29 s.
    row = only(run(sale(10, 60), min_replicas=2))
    assert (row.status, row.asked, row.ready) == ("late", 10, 2)
    assert row.full_at == S + 29
    assert row.late_by == 29
    assert row.recommended_lead_time == 60 + 29


@pytest.mark.parametrize(
    ("lead", "status"),
    [pytest.param(89, "ready", id="recommended"), pytest.param(88, "late", id="one-second-less")],
)
def test_the_recommended_lead_time_is_the_smallest_that_works(lead: int, status: str) -> None:
    workload = dataclasses.replace(WEB, lead_time=lead)  # the workload's leadTime metadata
    assert only(run(sale(10, 60), workload=workload, min_replicas=2)).status == status


def test_minimum_zero_adds_keda_polling_before_the_hpa_moves() -> None:
    # Active from S-60; KEDA sees it 29 s later (S-31) and scales 0 -> 1; the HPA syncs 14 s
    # after that (S-17): 1 -> 4; ready at S+43.
    row = only(run(sale(4, 60), min_replicas=0))
    assert (row.status, row.ready, row.full_at) == ("late", 0, S + 43)
    assert row.recommended_lead_time == 60 + 43


# -- what the HPA will not do -----------------------------------------------------------------


def test_a_step_within_the_tolerance_never_happens() -> None:
    # 11 / 10 = 1.1 is inside [0.9, 1.1]: the HPA keeps 10 (KEDA #5263), whatever the lead.
    row = only(run(sale(11, 600), min_replicas=10))
    assert (row.status, row.asked, row.ready, row.full_at) == ("tolerance", 11, 10, None)
    assert row.stuck_at == 10
    assert row.recommended_lead_time is None


def test_a_step_just_outside_the_tolerance_happens() -> None:
    row = only(run(sale(12, 600), min_replicas=10))
    assert (row.status, row.ready) == ("ready", 12)


def test_a_lower_tolerance_lets_the_small_step_through() -> None:
    row = only(run(sale(11, 600), min_replicas=10, tolerance=0.05))
    assert (row.status, row.ready) == ("ready", 11)


def test_max_replicas_caps_the_event_and_no_lead_time_helps() -> None:
    row = only(run(sale(10, 600), min_replicas=2, max_replicas=8))
    assert (row.status, row.asked, row.ready, row.full_at) == ("capped", 10, 8, None)
    assert row.recommended_lead_time is None


def test_a_baseline_from_other_triggers_already_covers_the_event() -> None:
    row = only(run(sale(10, 0), min_replicas=2, baseline=12))
    assert (row.status, row.asked, row.ready) == ("ready", 10, 12)


# -- several events ---------------------------------------------------------------------------


def test_overlapping_events_are_judged_on_the_combined_value() -> None:
    # a: 6 from S-300 (seen S-286: 2 -> 6, ready S-226). b: 10 from S+540 on top of a's 6
    # (seen S+554: 6 -> 10, max(6+4, 12)); at b's start only a's 6 are ready, all 10 at S+614.
    a = sale(6, 300, name="a")
    b = sale(10, 60, name="b", start=S + 600, end=S + 2400)
    sim = run(a, b, min_replicas=2)
    first, second = sim.events
    assert (first.event, first.status, first.asked, first.ready) == ("a", "ready", 6, 6)
    assert (second.event, second.status, second.asked, second.ready) == ("b", "late", 10, 6)
    assert second.full_at == S + 614
    # Raising the workload's leadTime to 74 s moves b only: a's own 300 s is larger.
    assert second.recommended_lead_time == 74
    assert sim.recommended_lead_time == 74


# -- scaling policies -------------------------------------------------------------------------


def test_the_default_policy_doubles_a_big_jump_in_a_few_syncs() -> None:
    # 1 -> 5 (4 pods) at S-286, -> 10 (100%) at S-271, -> 20 at S-256; ready at S-226.
    row = only(run(sale(20, 300), min_replicas=1, pod_startup=30))
    assert (row.status, row.full_at) == ("ready", S - 226)


def test_a_slow_scale_up_policy_makes_a_big_jump_late() -> None:
    # 2 pods per 60 s: 3 at S-286, 5 at S-226, ..., 11 at S-46 (ready S-16), 13 at S+14, ...,
    # 19 at S+194, 21 at S+254 (21 / 19 is outside the tolerance); the last ready at S+284.
    slow = parse_scaling_rules("pods=2,period=1m")
    row = only(run(sale(21, 300), min_replicas=1, pod_startup=30, scale_up=slow))
    assert (row.status, row.ready, row.full_at) == ("late", 11, S + 284)
    assert row.recommended_lead_time == 300 + 284


def test_a_slow_ramp_stalls_within_the_tolerance_one_short() -> None:
    # The same climb to 20 stops at 19: 20 / 19 = 1.05 is within the tolerance.
    slow = parse_scaling_rules("pods=2,period=1m")
    row = only(run(sale(20, 300), min_replicas=1, pod_startup=30, scale_up=slow))
    assert (row.status, row.ready, row.full_at, row.stuck_at) == ("tolerance", 11, None, 19)


def test_disabled_scale_up_is_unreachable() -> None:
    frozen = parse_scaling_rules("disabled")
    row = only(run(sale(10, 60), min_replicas=2, scale_up=frozen))
    assert (row.status, row.ready, row.full_at) == ("unreachable", 2, None)
    assert row.recommended_lead_time is None


# -- the way down -----------------------------------------------------------------------------


def test_stabilization_holds_replicas_then_keda_scales_to_zero_after_cooldown() -> None:
    # 4 until E; the last recommendation of 4 is at E-15 in the earliest phase, so the HPA may
    # go to its minimum of 1 at E+285; KEDA scales to 0 at E + cooldown 300.
    end = S + 600
    sim = run(sale(4, 120, end=end), min_replicas=0)
    after = [(s.at - end, s.replicas) for s in sim.timeline if s.at >= end]
    assert after == [(0, 4), (285, 1), (300, 0)]


def test_timeline_ready_never_exceeds_replicas_and_starts_at_from() -> None:
    sim = run(sale(10, 60), min_replicas=2)
    assert sim.timeline[0].at == T0
    assert all(s.ready <= s.replicas <= 100 for s in sim.timeline)


# -- the JSON object --------------------------------------------------------------------------


def test_json_names_every_field() -> None:
    sim = run(sale(10, 60), min_replicas=2)
    data = sim.to_json()
    assert set(data) == {
        "workload", "from", "to", "ok", "simulatedFrom", "initialReplicas", "settings",
        "recommendedLeadTime", "recommendedHeadroomLead", "events", "timeline",
    }  # fmt: skip
    assert data["ok"] is False
    assert data["recommendedLeadTime"] == "1m29s"
    assert data["events"] == [
        {
            "event": "sale",
            "start": "2027-01-15T09:00:00Z",
            "end": "2027-01-15T10:00:00Z",
            "leadTime": "1m",
            "asked": 10,
            "readyAtStart": 2,
            "fullCapacityAt": "2027-01-15T09:00:29Z",
            "status": "late",
            "stuckAt": None,
            "lateBySeconds": 29,
            "recommendedLeadTime": "1m29s",
            "lateBecauseOfNodes": False,
            "recommendedHeadroomLead": None,
        }
    ]


# -- scaling policy text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("pods=4,percent=100,period=15s", DEFAULT_SCALE_UP, id="kubernetes-default"),
        pytest.param(
            "pods=10/1m, percent=50",
            ScalingRules(
                policies=(
                    Policy(kind="pods", value=10, period=60),
                    Policy(kind="percent", value=50, period=15),
                )
            ),
            id="own-period",
        ),
        pytest.param(
            "percent=50,period=1m,select=min",
            ScalingRules(policies=(Policy(kind="percent", value=50, period=60),), select="min"),
            id="select-min",
        ),
        pytest.param("disabled", ScalingRules(policies=(), select="disabled"), id="disabled"),
    ],
)
def test_scaling_policy_text(text: str, expected: ScalingRules) -> None:
    assert expected == parse_scaling_rules(text)


def test_scaling_policy_describes_itself_back() -> None:
    assert DEFAULT_SCALE_UP.describe() == "pods=4,percent=100,period=15s"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("pods=four", "whole number", id="not-a-number"),
        pytest.param("pods=0", "must be > 0", id="zero"),
        pytest.param("rate=4", "not pods, percent", id="unknown-key"),
        pytest.param("select=fastest", "not max, min", id="unknown-select"),
        pytest.param("period=15s", "at least one policy", id="no-policy"),
        pytest.param("pods=4/1h", "between 1s and 30m", id="period-too-long"),
    ],
)
def test_scaling_policy_text_errors_show_the_form(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_scaling_rules(text)
    assert "pods=4,percent=100,period=15s" in str(caught.value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"min_replicas": 5, "max_replicas": 4}, "above maxReplicaCount", id="min>max"),
        pytest.param({"initial_replicas": 200}, "initial replicas", id="initial>max"),
        pytest.param({"hpa_sync": 0}, "at least 1s", id="no-sync"),
        pytest.param({"tolerance": float("nan")}, "tolerance", id="nan-tolerance"),
    ],
)
def test_settings_reject_what_kubernetes_would(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**options)  # type: ignore[arg-type]


# -- the fast path ----------------------------------------------------------------------------

policies = st.builds(
    ScalingRules,
    policies=st.lists(
        st.builds(Policy, kind=st.sampled_from(["pods", "percent"]), value=st.integers(1, 200),
                  period=st.integers(1, 120)),
        min_size=1, max_size=2,
    ).map(tuple),
    select=st.sampled_from(["max", "min", "disabled"]),
    stabilization=st.integers(0, 400),
)  # fmt: skip


@st.composite
def model_settings(draw: st.DrawFn) -> Settings:
    low = draw(st.integers(0, 3))
    return Settings(
        polling_interval=draw(st.integers(1, 40)),
        cooldown_period=draw(st.integers(0, 400)),
        hpa_sync=draw(st.integers(1, 15)),
        pod_startup=draw(st.integers(0, 200)),
        min_replicas=low,
        max_replicas=draw(st.integers(max(low, 1), 40)),
        tolerance=draw(st.sampled_from([0.0, 0.1, 0.25])),
        baseline=draw(st.sampled_from([0, 0, 2])),
        scale_up=draw(policies),
        scale_down=draw(policies),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(one_off_events(), min_size=1, max_size=3), model_settings())
def test_skipping_quiet_syncs_gives_the_same_replicas_as_every_sync(
    events: list[Event], s: Settings
) -> None:
    cal: Calendar = calendar(*(dataclasses.replace(e, name=f"e{i}") for i, e in enumerate(events)))
    end = T0 + 4000
    steps, activity, initial = _prepare([cal], WEB, s, T0, end)
    for phase in range(s.hpa_sync):
        fast = _run(steps, activity, s, phase, end, initial)
        plain = _run(steps, activity, s, phase, end, initial, skip=False)
        assert plain == fast
