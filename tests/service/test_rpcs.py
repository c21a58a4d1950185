"""Every RPC of the scaler over a real loopback channel: answers, error codes, stream timing.

Instants are set on the server's Clock, except where the stream's timing is the point: those
tests use real time and an event a second or two from now.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from scaler._proto import externalscaler_pb2 as pb
from scaler.calendar.model import Calendar
from scaler.calendar.parsing import parse_calendar
from scaler.errors import ScalerError
from scaler.service import servicer as servicer_module
from scaler.service.server import SERVICE_NAME, GrpcServer
from scaler.sources.store import CalendarStore
from tests.serverthread import Clock, ServerThread
from tests.service.support import (
    CALL_TIMEOUT,
    Client,
    StreamRecorder,
    calendar_yaml,
    metrics_request,
    one_off,
    ref,
    rfc3339,
)

Serve = Callable[..., ServerThread]
Connect = Callable[[ServerThread], Client]
Record = Callable[[Any], StreamRecorder]


def _parse(text: str, name: str) -> Calendar:
    return parse_calendar(text, name=name, origin=f"{name}.yaml")


def _utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


# A one-hour launch asking for 7 replicas, 2030-01-01 10:00-11:00 UTC.
LAUNCH = calendar_yaml(one_off("launch", "2030-01-01T10:00", "1h", "{replicas: 7}"))
BEFORE, START, DURING, END, AFTER = (
    _utc("2030-01-01T09:00"),
    _utc("2030-01-01T10:00"),
    _utc("2030-01-01T10:30"),
    _utc("2030-01-01T11:00"),
    _utc("2030-01-01T12:00"),
)
LAUNCH_VALUES = [
    pytest.param(BEFORE, 0, id="before"),
    pytest.param(START, 7, id="at-start"),
    pytest.param(DURING, 7, id="during"),
    pytest.param(END, 0, id="at-end"),
    pytest.param(AFTER, 0, id="after"),
]

# The same hours, scaled by factor for the frontend tier only: needs baseReplicas.
FRONTEND_FACTOR = calendar_yaml(
    one_off(
        "frontend-sale",
        "2030-01-01T10:00",
        "1h",
        "{factor: 2}",
        "targets:\n  - labels: {tier: frontend}",
    )
)
# ...and for every workload on the calendar (no targets): skips workloads without baseReplicas.
UNTARGETED_FACTOR = calendar_yaml(one_off("sale", "2030-01-01T10:00", "1h", "{factor: 2}"))

# Keys KEDA itself reads and passes along with the scaler's own.
KEDA_KEYS = {
    "scalerAddress": "calendar-scaler.keda:9090",
    "enableTLS": "false",
    "unsafeSsl": "false",
}


def _code(call: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=CALL_TIMEOUT)
    error: Any = caught.value
    return error.code(), error.details()


# -- GetMetricSpec ----------------------------------------------------------------------------


def test_get_metric_spec_answers_the_default_metric_name_with_target_one(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": LAUNCH}))

    response = client.scaler.GetMetricSpec(ref(), timeout=CALL_TIMEOUT)

    expected = [pb.MetricSpec(metricName="sale-calendar", targetSize=1, targetSizeFloat=1.0)]
    assert list(response.metricSpecs) == expected


def test_get_metric_spec_uses_the_metric_name_from_metadata(serve: Serve, connect: Connect) -> None:
    client = connect(serve({"sales": LAUNCH}))

    response = client.scaler.GetMetricSpec(ref(metricName="checkout-floor"), timeout=CALL_TIMEOUT)

    expected = [pb.MetricSpec(metricName="checkout-floor", targetSize=1, targetSizeFloat=1.0)]
    assert list(response.metricSpecs) == expected


def test_get_metric_spec_answers_when_no_calendar_ever_loaded(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": None}))

    response = client.scaler.GetMetricSpec(ref(calendars="sales"), timeout=CALL_TIMEOUT)

    assert [spec.metricName for spec in response.metricSpecs] == ["sale-calendar"]


BAD_METADATA = [
    pytest.param("baseReplicas", "three", id="base-replicas-not-a-number"),
    pytest.param("baseReplicas", "-1", id="base-replicas-negative"),
    pytest.param("baseReplicas", "2.5", id="base-replicas-fraction"),
    pytest.param("capacityPerReplica", "0", id="capacity-zero"),
    pytest.param("capacityPerReplica", "lots", id="capacity-not-a-number"),
    pytest.param("loadShare", "-0.5", id="load-share-negative"),
    pytest.param("loadShare", "NaN", id="load-share-nan"),
    pytest.param("leadTime", "15 minutes", id="lead-time-bad-duration"),
    pytest.param("rampUp", "1x", id="ramp-up-bad-unit"),
    pytest.param("rampDown", "-5m", id="ramp-down-negative"),
    pytest.param("calendars", "sales,promo", id="calendar-not-configured"),
    pytest.param("metricName", "sale calendar", id="metric-name-with-space"),
    pytest.param("labels", "tier", id="labels-not-pairs"),
]


@pytest.mark.parametrize(("key", "value"), BAD_METADATA)
def test_get_metric_spec_rejects_bad_metadata_naming_the_key(
    serve: Serve, connect: Connect, key: str, value: str
) -> None:
    client = connect(serve({"sales": LAUNCH}))

    code, details = _code(client.scaler.GetMetricSpec, ref(**{key: value}))

    assert (code, key in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), details


def test_get_metric_spec_checks_metadata_syntax_when_no_calendar_ever_loaded(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": None}))

    code, details = _code(client.scaler.GetMetricSpec, ref(leadTime="soon"))

    assert (code, "leadTime" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), details


def test_get_metric_spec_does_not_depend_on_calendar_content(
    serve: Serve, connect: Connect
) -> None:
    # The frontend sale scales by factor and this workload has no baseReplicas: GetMetrics
    # must fail, but GetMetricSpec answers, or KEDA's fallback never engages (KEDA #8056).
    client = connect(serve({"sales": FRONTEND_FACTOR}, clock=Clock(BEFORE)))
    workload = ref(labels="tier=frontend")
    assert (
        _code(client.scaler.GetMetrics, metrics_request(workload, "sale-calendar"))[0]
        == grpc.StatusCode.INVALID_ARGUMENT
    )

    response = client.scaler.GetMetricSpec(workload, timeout=CALL_TIMEOUT)

    assert [spec.metricName for spec in response.metricSpecs] == ["sale-calendar"]


# -- GetMetrics -------------------------------------------------------------------------------


def test_get_metrics_returns_exactly_one_value_carrying_the_requested_name(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))

    response = client.scaler.GetMetrics(
        metrics_request(ref(metricName="checkout-floor"), "asked-for-this"), timeout=CALL_TIMEOUT
    )

    expected = [pb.MetricValue(metricName="asked-for-this", metricValue=7, metricValueFloat=7.0)]
    assert list(response.metricValues) == expected


@pytest.mark.parametrize(("instant", "value"), LAUNCH_VALUES)
def test_get_metrics_gives_the_calendar_value_at_now_in_both_fields(
    serve: Serve, connect: Connect, instant: float, value: int
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(instant)))

    response = client.scaler.GetMetrics(
        metrics_request(ref(), "sale-calendar"), timeout=CALL_TIMEOUT
    )

    [metric] = response.metricValues
    assert (metric.metricValue, metric.metricValueFloat) == (value, float(value))


def test_get_metrics_follows_the_clock_on_one_server(serve: Serve, connect: Connect) -> None:
    clock = Clock(BEFORE)
    client = connect(serve({"sales": LAUNCH}, clock=clock))
    request = metrics_request(ref(), "sale-calendar")

    seen = []
    for instant in (BEFORE, DURING, AFTER, DURING):
        clock.now = instant
        seen.append(
            client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues[0].metricValue
        )

    assert seen == [0, 7, 0, 7]


# GetMetrics remembers an answer for the request's exact bytes while it cannot change (see
# scaler.service.servicer): asked again and again, the same bytes must still follow the
# calendar to the millisecond, reloads at once, and the workload's bookkeeping.


def _ask(client: Client, body: bytes) -> int:
    answer = client.channel.unary_unary(
        "/externalscaler.ExternalScaler/GetMetrics",
        response_deserializer=pb.GetMetricsResponse.FromString,
    )(body, timeout=CALL_TIMEOUT)
    return int(answer.metricValues[0].metricValue)


def _body(request: pb.GetMetricsRequest) -> bytes:
    return bytes(request.SerializeToString())


def test_the_same_request_bytes_follow_the_calendar_at_its_change_points(
    serve: Serve, connect: Connect
) -> None:
    clock = Clock(START - 0.001)
    client = connect(serve({"sales": LAUNCH}, clock=clock))
    body = _body(metrics_request(ref(), "sale-calendar"))

    seen = []
    for instant in (START - 0.001, START - 0.001, START, START + 0.5, END - 0.001, END, END,
                    START + 0.1, START - 0.001):  # fmt: skip
        clock.now = instant
        seen.append(_ask(client, body))

    assert seen == [0, 0, 7, 7, 7, 0, 0, 7, 0]  # the last two: the clock went back


def test_the_same_request_bytes_get_a_reloaded_value_at_once(
    serve: Serve, connect: Connect
) -> None:
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    client = connect(server)
    body = _body(metrics_request(ref(), "sale-calendar"))
    assert [7, 7] == [_ask(client, body), _ask(client, body)]

    server.publish(_parse(calendar_yaml(one_off("launch", "2030-01-01T10:00", "1h",
                                                 "{replicas: 9}")), "sales"))  # fmt: skip

    assert 9 == _ask(client, body)


def test_map_entries_in_any_order_get_the_same_answer(serve: Serve, connect: Connect) -> None:
    # Go's protobuf writes a map's entries in a random order: KEDA's bytes vary between polls.
    # Concatenated messages merge, so these are one ref with its two keys in either order.
    client = connect(serve({"sales": FRONTEND_FACTOR}, clock=Clock(DURING)))
    head = _body(pb.ScaledObjectRef(namespace="shop", name="web"))
    labels = _body(pb.ScaledObjectRef(scalerMetadata={"labels": "tier=frontend"}))
    base = _body(pb.ScaledObjectRef(scalerMetadata={"baseReplicas": "3"}))
    name = _body(pb.GetMetricsRequest(metricName="sale-calendar"))

    def request(ref_bytes: bytes) -> bytes:
        return b"\x0a" + bytes([len(ref_bytes)]) + ref_bytes + name  # field 1, length < 128

    one, other = request(head + labels + base), request(head + base + labels)
    assert one != other

    assert [6, 6, 6, 6] == [_ask(client, one), _ask(client, other), _ask(client, one),
                            _ask(client, other)]  # fmt: skip


def test_a_remembered_answer_still_marks_the_workload_seen(serve: Serve, connect: Connect) -> None:
    clock = Clock(DURING)
    server = serve({"sales": LAUNCH}, clock=clock)
    client = connect(server)
    body = _body(metrics_request(ref(), "sale-calendar"))
    problems = server.server.servicer.problems
    _ask(client, body)

    clock.now = DURING + servicer_module.RECHECK
    assert 7 == _ask(client, body)

    [state] = problems.workloads()
    assert DURING + servicer_module.RECHECK == state.last_seen


def test_get_metrics_is_unavailable_while_a_calendar_it_uses_never_loaded(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": None, "drops": LAUNCH}, clock=Clock(DURING)))

    code, details = _code(client.scaler.GetMetrics, metrics_request(ref(), "sale-calendar"))

    assert (code, "sales" in details) == (grpc.StatusCode.UNAVAILABLE, True), details


def test_get_metrics_answers_a_workload_that_uses_only_loaded_calendars(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": None, "drops": LAUNCH}, clock=Clock(DURING)))

    response = client.scaler.GetMetrics(
        metrics_request(ref(calendars="drops"), "sale-calendar"), timeout=CALL_TIMEOUT
    )

    assert [metric.metricValue for metric in response.metricValues] == [7]


def test_get_metrics_answers_once_the_missing_calendar_loads(
    serve: Serve, connect: Connect
) -> None:
    server = serve({"sales": None}, clock=Clock(DURING))
    client = connect(server)
    request = metrics_request(ref(), "sale-calendar")
    assert _code(client.scaler.GetMetrics, request)[0] == grpc.StatusCode.UNAVAILABLE

    server.publish(_parse(LAUNCH, "sales"))

    assert client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues[0].metricValue == 7


@pytest.mark.parametrize("instant", [pytest.param(BEFORE - 86400 * 365, id="a-year-before"),
                                     pytest.param(DURING, id="during")])  # fmt: skip
def test_get_metrics_rejects_a_targeted_factor_event_without_base_replicas_until_it_is_over(
    serve: Serve, connect: Connect, instant: float
) -> None:
    client = connect(serve({"sales": FRONTEND_FACTOR}, clock=Clock(instant)))

    code, details = _code(
        client.scaler.GetMetrics, metrics_request(ref(labels="tier=frontend"), "sale-calendar")
    )

    assert (code, "baseReplicas" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), details


def test_get_metrics_answers_once_the_targeted_factor_event_is_over(
    serve: Serve, connect: Connect
) -> None:
    clock = Clock(DURING)
    client = connect(serve({"sales": FRONTEND_FACTOR}, clock=clock))
    request = metrics_request(ref(labels="tier=frontend"), "sale-calendar")
    assert _code(client.scaler.GetMetrics, request)[0] == grpc.StatusCode.INVALID_ARGUMENT

    clock.now = END
    response = client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT)

    assert [metric.metricValue for metric in response.metricValues] == [0]


def test_get_metrics_skips_an_untargeted_factor_event_for_a_workload_without_base_replicas(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": UNTARGETED_FACTOR}, clock=Clock(DURING)))

    response = client.scaler.GetMetrics(
        metrics_request(ref(), "sale-calendar"), timeout=CALL_TIMEOUT
    )

    assert [metric.metricValue for metric in response.metricValues] == [0]


def test_get_metrics_scales_an_untargeted_factor_event_by_base_replicas(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": UNTARGETED_FACTOR}, clock=Clock(DURING)))

    response = client.scaler.GetMetrics(
        metrics_request(ref(baseReplicas="5"), "sale-calendar"), timeout=CALL_TIMEOUT
    )

    assert [metric.metricValue for metric in response.metricValues] == [10]


def test_get_metrics_applies_a_long_workload_lead_time_to_every_calendar(
    serve: Serve, connect: Connect
) -> None:
    # Regression: the server precomputes a timeline days ahead from a shared expansion of each
    # calendar. "drops" has no lead of its own, "sales" has a 4-day one; the workload asks for
    # 3 days. The drop 9.5 days after the first call must still raise the value 3 days before
    # it, on the timeline built at that first call.
    first = _utc("2030-01-01T00:00")
    drop = first + 9.5 * 86400
    drops = calendar_yaml(one_off("drop", rfc3339(drop, 0), "1h", "{replicas: 3}"))
    sales = calendar_yaml(one_off("far", "2030-03-01T00:00", "1h", "{replicas: 1}", "leadTime: 4d"))
    clock = Clock(first)
    client = connect(serve({"drops": drops, "sales": sales}, clock=clock))
    request = metrics_request(ref(leadTime="3d"), "sale-calendar")
    before = client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues[0].metricValue

    clock.now = drop - 3 * 86400 + 60
    response = client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT)

    assert (before, [metric.metricValue for metric in response.metricValues]) == (0, [3])


def test_unknown_metadata_keys_are_ignored(serve: Serve, connect: Connect) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))
    noisy = ref(**KEDA_KEYS, somethingNew="x", tokenFromEnv="resolved-by-keda")

    spec = client.scaler.GetMetricSpec(noisy, timeout=CALL_TIMEOUT)
    metrics = client.scaler.GetMetrics(
        metrics_request(noisy, "sale-calendar"), timeout=CALL_TIMEOUT
    )
    active = client.scaler.IsActive(noisy, timeout=CALL_TIMEOUT)

    assert (
        spec.metricSpecs[0].metricName, metrics.metricValues[0].metricValue, active.result
    ) == ("sale-calendar", 7, True)  # fmt: skip


# -- IsActive ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("instant", "value"), LAUNCH_VALUES)
def test_is_active_when_the_value_is_above_zero(
    serve: Serve, connect: Connect, instant: float, value: int
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(instant)))

    response = client.scaler.IsActive(ref(), timeout=CALL_TIMEOUT)

    assert response.result == (value > 0)


def test_is_active_is_unavailable_while_a_calendar_it_uses_never_loaded(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": None}))

    assert _code(client.scaler.IsActive, ref())[0] == grpc.StatusCode.UNAVAILABLE


def test_is_active_rejects_a_targeted_factor_event_without_base_replicas(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": FRONTEND_FACTOR}, clock=Clock(BEFORE)))

    code, details = _code(client.scaler.IsActive, ref(labels="tier=frontend"))

    assert (code, "baseReplicas" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), details


def test_is_active_rejects_bad_metadata_naming_the_key(serve: Serve, connect: Connect) -> None:
    client = connect(serve({"sales": LAUNCH}))

    code, details = _code(client.scaler.IsActive, ref(capacityPerReplica="-3"))

    assert (code, "capacityPerReplica" in details) == (grpc.StatusCode.INVALID_ARGUMENT, True), (
        details
    )


# -- StreamIsActive ---------------------------------------------------------------------------


def test_stream_is_active_sends_the_current_value_at_once(
    serve: Serve, connect: Connect, record: Record
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))

    opened = time.time()
    arrived, message = record(client.scaler.StreamIsActive(ref())).next(timeout=2)

    assert (message.result, arrived - opened < 1.0) == (True, True)


def test_stream_is_active_sends_each_change_at_its_instant(
    serve: Serve, connect: Connect, record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real time: an event from about 1.5 s from now, for one second, written with a +09:00
    # offset. The stream must turn true at its start and false at its end, not before, not
    # a polling interval later, and say nothing in between.
    start = math.ceil(time.time() + 1.5)
    text = calendar_yaml(one_off("soon", rfc3339(start), "1s", "{replicas: 3}"))
    client = connect(serve({"sales": text}))
    stream = record(client.scaler.StreamIsActive(ref()))
    assert [stream.next(timeout=1)[1].result] == [False]

    on_at, on = stream.next(timeout=start - time.time() + 2)
    off_at, off = stream.next(timeout=start + 1 - time.time() + 2)
    extra = stream.quiet_for(0.5)

    delays = (on_at - start, off_at - (start + 1))
    with capsys.disabled():
        print(f"\nStreamIsActive transition delays: on {delays[0] * 1000:.1f} ms, "
              f"off {delays[1] * 1000:.1f} ms")  # fmt: skip
    assert (on.result, off.result, extra) == (True, False, [])
    assert all(0 <= delay < 1.0 for delay in delays), delays


def test_stream_is_active_stays_quiet_when_a_reload_keeps_the_activity(
    serve: Serve, connect: Connect, record: Record
) -> None:
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    stream = record(connect(server).scaler.StreamIsActive(ref()))
    assert stream.next(timeout=2)[1].result

    # Still active, with a different value: KEDA must not see a second `true` (every `true`
    # refreshes its cooldown).
    server.publish(_parse(LAUNCH.replace("replicas: 7", "replicas: 9"), "sales"))

    assert stream.quiet_for(0.5) == []


def test_stream_is_active_sends_a_reload_that_changes_the_activity_at_once(
    serve: Serve, connect: Connect, record: Record
) -> None:
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    stream = record(connect(server).scaler.StreamIsActive(ref()))
    assert stream.next(timeout=2)[1].result
    moved = LAUNCH.replace("2030-01-01T10:00", "2030-02-01T10:00")

    published = time.time()
    server.publish(_parse(moved, "sales"))
    arrived, message = stream.next(timeout=2)

    assert (message.result, arrived - published < 0.5) == (False, True)


def test_stream_is_active_ends_with_invalid_argument_when_a_reload_needs_a_missing_key(
    serve: Serve, connect: Connect, record: Record
) -> None:
    server = serve({"sales": LAUNCH}, clock=Clock(BEFORE))
    stream = record(connect(server).scaler.StreamIsActive(ref(labels="tier=frontend")))
    stream.next(timeout=2)

    server.publish(_parse(FRONTEND_FACTOR, "sales"))

    assert (stream.end(), "baseReplicas" in stream.call.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        True,
    )


def test_stream_is_active_ends_with_ok_when_the_server_shuts_down(
    serve: Serve, connect: Connect, record: Record
) -> None:
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    stream = record(connect(server).scaler.StreamIsActive(ref()))
    stream.next(timeout=2)

    server.stop(grace=2.0)

    assert stream.end() == grpc.StatusCode.OK


def test_stream_is_active_is_unavailable_while_a_calendar_it_uses_never_loaded(
    serve: Serve, connect: Connect, record: Record
) -> None:
    stream = record(connect(serve({"sales": None})).scaler.StreamIsActive(ref()))

    assert stream.end() == grpc.StatusCode.UNAVAILABLE


def test_stream_is_active_rejects_bad_metadata(
    serve: Serve, connect: Connect, record: Record
) -> None:
    stream = record(connect(serve({"sales": LAUNCH})).scaler.StreamIsActive(ref(rampUp="later")))

    assert stream.end() == grpc.StatusCode.INVALID_ARGUMENT


# -- StreamMetricSpec -------------------------------------------------------------------------


def test_stream_metric_spec_sends_the_spec_at_once(
    serve: Serve, connect: Connect, record: Record
) -> None:
    client = connect(serve({"sales": None}))

    opened = time.time()
    arrived, message = record(client.scaler.StreamMetricSpec(ref(metricName="drops"))).next(
        timeout=2
    )

    expected = [pb.MetricSpec(metricName="drops", targetSize=1, targetSizeFloat=1.0)]
    assert (list(message.metricSpecs), arrived - opened < 1.0) == (expected, True)


def test_stream_metric_spec_stays_open(serve: Serve, connect: Connect, record: Record) -> None:
    stream = record(connect(serve({"sales": LAUNCH})).scaler.StreamMetricSpec(ref()))
    stream.next(timeout=2)

    assert (stream.quiet_for(0.5), stream.ended.is_set()) == ([], False)


def test_stream_metric_spec_ends_with_ok_when_the_server_shuts_down(
    serve: Serve, connect: Connect, record: Record
) -> None:
    server = serve({"sales": LAUNCH})
    stream = record(connect(server).scaler.StreamMetricSpec(ref()))
    stream.next(timeout=2)

    server.stop(grace=2.0)

    assert stream.end() == grpc.StatusCode.OK


# -- health, reflection, port ------------------------------------------------------------------


@pytest.mark.parametrize("service", ["", SERVICE_NAME], ids=["server", "external-scaler"])
def test_health_check_is_serving(serve: Serve, connect: Connect, service: str) -> None:
    client = connect(serve({"sales": None}))

    response = client.health.Check(
        health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT
    )

    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_health_turns_not_serving_when_shutdown_begins(
    serve: Serve, connect: Connect, record: Record
) -> None:
    server = serve({"sales": LAUNCH})
    watch = record(
        connect(server).health.Watch(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
    )
    assert watch.next(timeout=2)[1].status == health_pb2.HealthCheckResponse.SERVING

    server.stop(grace=0.3)  # the Watch stream itself is cut when the grace period ends

    assert watch.next(timeout=2)[1].status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_the_external_scaler_and_health(serve: Serve, connect: Connect) -> None:
    database = ProtoReflectionDescriptorDatabase(connect(serve({"sales": None})).channel)

    services = set(database.get_services())

    assert {"externalscaler.ExternalScaler", "grpc.health.v1.Health"} <= services


def test_reflection_describes_the_five_methods(serve: Serve, connect: Connect) -> None:
    database = ProtoReflectionDescriptorDatabase(connect(serve({"sales": None})).channel)

    service = DescriptorPool(database).FindServiceByName("externalscaler.ExternalScaler")

    expected = {"IsActive", "StreamIsActive", "GetMetricSpec", "GetMetrics", "StreamMetricSpec"}
    assert {method.name for method in service.methods} == expected


def test_a_second_server_on_the_same_port_fails_to_start(serve: Serve, connect: Connect) -> None:
    # SO_REUSEPORT is off: a stale second scaler must not bind silently and steal connections.
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    address = f"127.0.0.1:{server.server.port}"

    async def start_second() -> None:
        await GrpcServer(CalendarStore({"sales": "sales.yaml"}), address=address).start()

    with pytest.raises(ScalerError, match=f"cannot listen for gRPC on {address}"):
        server.run(start_second())

    response = connect(server).scaler.GetMetrics(
        metrics_request(ref(), "sale-calendar"), timeout=CALL_TIMEOUT
    )
    assert [metric.metricValue for metric in response.metricValues] == [7]
