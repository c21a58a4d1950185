"""Headroom triggers over gRPC (SPEC section 10), driven as KEDA drives them.

Black Friday in the example calendar gives shop/web (tier=frontend, baseReplicas 35) D = 105
with lead 15m, ramp 10m in 5 steps: 21, 42, 63, 84, 105 at BF-25m, -23m, -21m, -19m, -17m.
A headroom trigger for it, with the default headroomLead of 10m, wants 105 placeholders from
BF-35m, then 84, 63, 42, 21 as the real pods step up, and none from BF-17m.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from tests.serverthread import Clock, ServerThread
from tests.service.support import (
    BF_START,
    CALL_TIMEOUT,
    EXAMPLE,
    Client,
    StreamRecorder,
    calendar_yaml,
    metrics_request,
    one_off,
    ref,
)
from tests.service.test_keda_emulator import ExternalTrigger, ScaledObject, _planned

Serve = Callable[..., ServerThread]
Connect = Callable[[ServerThread], Client]
Record = Callable[[Any], StreamRecorder]

MINUTE = 60
FRONTEND = {"labels": "tier=frontend,team=web", "baseReplicas": "35"}
ROOM = {**FRONTEND, "headroomFor": "shop/web"}

# (label, instant, headroom value, placeholder replicas after one KEDA poll + HPA sync)
PLACEHOLDERS = [
    ("45m before", BF_START - 45 * MINUTE, 0, 0),
    ("headroomLead point", BF_START - 35 * MINUTE, 105, 1),  # KEDA activates 0 -> 1 first
    ("HPA takes over", BF_START - 34 * MINUTE, 105, 105),
    ("ramp step 1", BF_START - 25 * MINUTE, 84, 84),
    ("ramp step 2", BF_START - 23 * MINUTE, 63, 63),
    ("ramp step 3", BF_START - 21 * MINUTE, 42, 42),
    ("ramp step 4", BF_START - 19 * MINUTE, 21, 21),
    ("ramp step 5", BF_START - 17 * MINUTE, 0, 0),  # inactive: KEDA scales to zero
    ("lead point", BF_START - 15 * MINUTE, 0, 0),
    ("start", BF_START, 0, 0),
]


def test_placeholders_follow_the_headroom_through_black_fridays_ramp(
    serve: Serve, connect: Connect
) -> None:
    clock = Clock(PLACEHOLDERS[0][1])
    client = connect(serve({"sales": EXAMPLE}, clock=clock))
    trigger = ExternalTrigger(client.scaler, "shop", "web-headroom", ROOM)
    placeholders = ScaledObject(trigger, min_replicas=0, max_replicas=200, replicas=0)
    instants = [instant for _, instant, _, _ in PLACEHOLDERS]

    actual = []
    for (label, instant, _, _), planned in zip(
        PLACEHOLDERS, _planned(ROOM, "shop", "web-headroom", instants), strict=True
    ):
        clock.now = instant
        [metric] = trigger.metric_spec()
        served = sum(trigger.metrics_and_activity(metric)[0]) / 1000
        actual.append((label, planned, served, placeholders.sync()))

    expected = [(label, value, value, replicas) for label, _, value, replicas in PLACEHOLDERS]
    assert actual == expected


def test_placeholders_and_the_workload_together_hold_the_demand_through_the_ramp(
    serve: Serve, connect: Connect
) -> None:
    clock = Clock(BF_START - 35 * MINUTE)
    client = connect(serve({"sales": EXAMPLE}, clock=clock))
    workload = ExternalTrigger(client.scaler, "shop", "web", FRONTEND)
    room = ExternalTrigger(client.scaler, "shop", "web-headroom", ROOM)

    sums = []
    for minute in range(35, 16, -1):
        clock.now = BF_START - minute * MINUTE
        values = [
            sum(t.metrics_and_activity(t.metric_spec()[0])[0]) // 1000 for t in (workload, room)
        ]
        sums.append(sum(values))

    assert [105] * len(sums) == sums


@pytest.mark.parametrize(
    ("instant", "active"),
    [
        pytest.param(BF_START - 35 * MINUTE - 1, False, id="a-second-before-headroomLead"),
        pytest.param(BF_START - 35 * MINUTE, True, id="at-headroomLead"),
        pytest.param(BF_START - 17 * MINUTE - 1, True, id="last-second-with-placeholders"),
        pytest.param(BF_START - 17 * MINUTE, False, id="last-ramp-step"),
        pytest.param(BF_START + 3600, False, id="during-the-sale"),
    ],
)
def test_is_active_turns_at_the_instants(
    serve: Serve, connect: Connect, instant: int, active: bool
) -> None:
    client = connect(serve({"sales": EXAMPLE}, clock=Clock(instant)))

    assert (
        active
        == client.scaler.IsActive(ref("shop", "web-headroom", **ROOM), timeout=CALL_TIMEOUT).result
    )


def test_stream_is_active_turns_at_the_instants(
    serve: Serve, connect: Connect, record: Record
) -> None:
    # Placeholders wanted on [S-3, S-1) (lead 1s, headroomLead 2s). The test moves the
    # server's clock; the stream sleeps until each change it planned, reads the clock again
    # and sends only what holds at that reading: nothing half a second early, the change at it.
    s = 1_893_492_000  # 2030-01-01T10:00:00Z
    text = calendar_yaml(
        one_off("launch", "2030-01-01T10:00", "1h", "{replicas: 3}", "leadTime: 1s")
    )
    clock = Clock(s - 4)
    client = connect(serve({"sales": text}, clock=clock))
    room = ref("shop", "room", headroomFor="shop/web", headroomLead="2s")
    stream = record(client.scaler.StreamIsActive(room))
    first = stream.next(timeout=5)[1].result

    clock.now = s - 3.5  # the server wakes at its planned S-3 (1 s from now) and finds S-3.5
    early = stream.quiet_for(1.5)
    clock.now = s - 3
    turned_on = stream.next(timeout=5)[1].result
    clock.now = s - 1.5
    still = stream.quiet_for(1.0)
    clock.now = s - 1
    turned_off = stream.next(timeout=5)[1].result

    assert (first, early, turned_on, still, turned_off) == (False, [], True, [], False)


def test_stream_is_active_follows_the_headroom_in_real_time(
    serve: Serve, connect: Connect, record: Record
) -> None:
    # A sale 4 s from now, lead 1s, headroomLead 2s: placeholders wanted on [S-3, S-1).
    start = math.ceil(time.time() + 4)
    at = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    text = calendar_yaml(one_off("soon", at, "1h", "{replicas: 3}", "leadTime: 1s"))
    client = connect(serve({"sales": text}))
    stream = record(
        client.scaler.StreamIsActive(ref("shop", "room", headroomFor="shop/web", headroomLead="2s"))
    )
    assert [stream.next(timeout=2)[1].result] == [False]

    on_at, on = stream.next(timeout=start - time.time() + 5)
    off_at, off = stream.next(timeout=start - time.time() + 5)

    assert (on.result, off.result) == (True, False)
    assert (on_at >= start - 3, off_at >= start - 1) == (True, True)


def test_get_metrics_answers_the_headroom_under_the_requested_name(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": EXAMPLE}, clock=Clock(BF_START - 24 * MINUTE)))
    room = ref("shop", "web-headroom", **ROOM, metricName="web-room")

    spec = client.scaler.GetMetricSpec(room, timeout=CALL_TIMEOUT).metricSpecs
    values = client.scaler.GetMetrics(metrics_request(room, "web-room"), timeout=CALL_TIMEOUT)

    assert [(s.metricName, s.targetSize) for s in spec] == [("web-room", 1)]
    assert [(v.metricName, v.metricValue, v.metricValueFloat) for v in values.metricValues] == [
        ("web-room", 84, 84.0)
    ]


@pytest.mark.parametrize(
    ("metadata", "key"),
    [
        pytest.param({"headroomFor": "web"}, "headroomFor", id="not-ns-name"),
        pytest.param(
            {"headroomFor": "shop/web", "headroomLead": "forever"}, "headroomLead", id="bad-lead"
        ),
        pytest.param(
            {"headroomFor": "shop/web", "headroomLead": "32d"}, "headroomLead", id="lead-over-31d"
        ),
        pytest.param({"headroomLead": "5m"}, "headroomLead", id="lead-without-for"),
    ],
)
def test_get_metric_spec_rejects_bad_headroom_metadata(
    serve: Serve, connect: Connect, metadata: dict[str, str], key: str
) -> None:
    # Checked at GetMetricSpec, and so even while no calendar ever loaded.
    client = connect(serve({"sales": None}))

    with pytest.raises(grpc.RpcError) as caught:
        client.scaler.GetMetricSpec(ref("shop", "web-headroom", **metadata), timeout=CALL_TIMEOUT)

    assert (caught.value.code(), caught.value.details().startswith(f"{key}: ")) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        True,
    )


def test_a_headroom_trigger_gets_the_served_workloads_missing_key(
    serve: Serve, connect: Connect
) -> None:
    # Black Friday scales tier=frontend by factor: without baseReplicas the trigger cannot
    # know how many placeholders, and says so, as the workload's own trigger would.
    client = connect(serve({"sales": EXAMPLE}, clock=Clock(BF_START - 30 * MINUTE)))
    room = ref("shop", "web-headroom", labels="tier=frontend", headroomFor="shop/web")

    with pytest.raises(grpc.RpcError) as caught:
        client.scaler.IsActive(room, timeout=CALL_TIMEOUT)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "needs baseReplicas" in caught.value.details()
