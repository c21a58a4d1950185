"""What KEDA (or anyone reaching the port) can send, and the bounds that keep one ScaledObject
from slowing or growing the scaler for the others (SPEC 4 and 5), over a real loopback channel.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from scaler._proto import externalscaler_pb2 as pb
from scaler.calendar.parsing import parse_calendar
from scaler.service import plans as plans_module
from scaler.service import servicer as servicer_module
from scaler.service.plans import PlanCache
from scaler.sources.store import CalendarStore
from tests.serverthread import Clock, ServerThread
from tests.service.support import CALL_TIMEOUT, Client, calendar_yaml, metrics_request, one_off, ref

Serve = Callable[..., ServerThread]
Connect = Callable[[ServerThread], Client]

# 7 replicas, or factor 2 of baseReplicas, 2030-01-01 10:00-11:00 UTC; asked at 10:30.
LAUNCH = calendar_yaml(one_off("launch", "2030-01-01T10:00", "1h", "{replicas: 7}"))
FACTOR = calendar_yaml(one_off("sale", "2030-01-01T10:00", "1h", "{factor: 2}",
                               "targets:\n  - labels: {tier: frontend}"))  # fmt: skip
DURING = 1893493800.0  # 2030-01-01T10:30Z


def _error(call: Callable[..., Any], request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=CALL_TIMEOUT)
    error: Any = caught.value
    return error.code(), error.details()


def _value(client: Client, scaled_object: pb.ScaledObjectRef) -> int:
    response = client.scaler.GetMetrics(
        metrics_request(scaled_object, "sale-calendar"), timeout=CALL_TIMEOUT
    )
    return int(response.metricValues[0].metricValue)


def _value_once_built(client: Client, scaled_object: pb.ScaledObjectRef) -> int:
    """The value, asking again while the plan is still being built (a busy machine)."""
    for _ in range(10):
        try:
            return _value(client, scaled_object)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
    raise AssertionError("still UNAVAILABLE after 10 calls")


# -- `<key>FromEnv` ---------------------------------------------------------------------------


def test_get_metrics_reads_base_replicas_from_env(serve: Serve, connect: Connect) -> None:
    # KEDA resolves `baseReplicasFromEnv: BASE_REPLICAS` and passes the value under that name.
    client = connect(serve({"sales": FACTOR}, clock=Clock(DURING)))

    scaled_object = ref(labelsFromEnv="tier=frontend", baseReplicasFromEnv="4")

    assert 8 == _value(client, scaled_object)


def test_an_error_in_a_from_env_key_names_it_as_written(serve: Serve, connect: Connect) -> None:
    client = connect(serve({"sales": FACTOR}))

    code, details = _error(client.scaler.GetMetricSpec, ref(baseReplicasFromEnv="x"))

    assert grpc.StatusCode.INVALID_ARGUMENT == code
    assert details.startswith("baseReplicasFromEnv: 'x' is not a whole number")


# -- INVALID_ARGUMENT, never UNKNOWN with Python's text -------------------------------------


@pytest.mark.parametrize("method", ["GetMetricSpec", "GetMetrics", "IsActive"])
def test_a_one_megabyte_digit_string_is_invalid_argument_quoted_short(
    serve: Serve, connect: Connect, method: str
) -> None:
    client = connect(serve({"sales": LAUNCH}))
    scaled_object = ref(baseReplicas="9" * 1_000_000)
    request = metrics_request(scaled_object, "x") if method == "GetMetrics" else scaled_object

    code, details = _error(getattr(client.scaler, method), request)

    assert grpc.StatusCode.INVALID_ARGUMENT == code
    assert "baseReplicas" in details
    assert len(details) < 300


@pytest.mark.parametrize("key", ["leadTime", "rampUp", "rampDown"])
def test_a_huge_duration_is_invalid_argument_naming_the_key_and_the_bound(
    serve: Serve, connect: Connect, key: str
) -> None:
    # rampDown: 99999999999999d made GetMetrics fail with UNKNOWN OverflowError.
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))

    code, details = _error(
        client.scaler.GetMetrics, metrics_request(ref(**{key: "99999999999999d"}), "x")
    )

    assert (grpc.StatusCode.INVALID_ARGUMENT, f"{key}: '99999999999999d' is longer than 31d") == (
        code, details.split(",")[0],
    )  # fmt: skip


def test_a_31_day_lead_is_served(serve: Serve, connect: Connect) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING - 30 * 86400)))

    assert 7 == _value(client, ref(leadTime="31d"))


GARBAGE = b"\xff\xff\xff\xff"  # a field with number 0: not a valid message of any type


@pytest.mark.parametrize(
    ("method", "kind"),
    [
        pytest.param("/externalscaler.ExternalScaler/GetMetricSpec", "unary", id="spec"),
        pytest.param("/externalscaler.ExternalScaler/GetMetrics", "unary", id="metrics"),
        pytest.param("/externalscaler.ExternalScaler/IsActive", "unary", id="is-active"),
        pytest.param("/externalscaler.ExternalScaler/StreamIsActive", "stream", id="stream"),
        pytest.param("/grpc.health.v1.Health/Check", "unary", id="health-check"),
        pytest.param("/grpc.health.v1.Health/Watch", "stream", id="health-watch"),
        pytest.param(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            "bidi",
            id="reflection",
        ),
    ],
)
def test_a_body_that_is_not_a_valid_message_is_invalid_argument_with_one_log_line(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture, method: str, kind: str
) -> None:
    channel = connect(serve({"sales": LAUNCH})).channel  # raw bytes: no serializer
    caplog.set_level(logging.INFO)
    caplog.clear()

    with pytest.raises(grpc.RpcError) as caught:
        if kind == "unary":
            channel.unary_unary(method)(GARBAGE, timeout=CALL_TIMEOUT)
        elif kind == "stream":
            list(channel.unary_stream(method)(GARBAGE, timeout=CALL_TIMEOUT))
        else:
            list(channel.stream_stream(method)(iter([GARBAGE]), timeout=CALL_TIMEOUT))
    error: Any = caught.value

    assert grpc.StatusCode.INVALID_ARGUMENT == error.code()
    assert error.details().startswith(f"{method}: the request body (4 bytes) is not a valid")
    assert [("WARNING", "request body is not a valid message")] == [
        (r.levelname, r.getMessage()) for r in caplog.records
    ]
    assert all(r.exc_info is None for r in caplog.records)


def test_the_server_answers_a_valid_request_after_a_garbage_one(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))
    with pytest.raises(grpc.RpcError):
        client.channel.unary_unary("/externalscaler.ExternalScaler/GetMetrics")(
            GARBAGE, timeout=CALL_TIMEOUT
        )

    assert 7 == _value(client, ref())


# -- no request holds the event loop -----------------------------------------------------


class HeldBuilds(threading.Event):
    """Set it to let timeline builds run; `started` counts the builds that began."""

    started = 0


@pytest.fixture
def held_builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldBuilds]:
    """Every timeline build waits until the event is set (always set at the end)."""
    release = HeldBuilds()
    compute = PlanCache._compute

    def held(self: PlanCache, *args: Any) -> Any:
        release.started += 1
        release.wait(timeout=30)
        return compute(self, *args)

    monkeypatch.setattr(PlanCache, "_compute", held)
    yield release
    release.set()


def test_a_slow_build_is_unavailable_while_the_server_keeps_answering(
    serve: Serve, connect: Connect, held_builds: HeldBuilds
) -> None:
    # A 31d lead on a calendar with an event every minute took ~30 s to build, on the loop:
    # every RPC and health check of the scaler waited for it.
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))

    code, details = _error(client.scaler.GetMetrics, metrics_request(ref(), "x"))
    health = client.health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    spec = client.scaler.GetMetricSpec(ref(), timeout=CALL_TIMEOUT)

    assert grpc.StatusCode.UNAVAILABLE == code
    assert details.startswith("shop/web: the plan is still being computed")
    assert health_pb2.HealthCheckResponse.SERVING == health.status
    assert "sale-calendar" == spec.metricSpecs[0].metricName


def test_a_slow_build_is_answered_once_it_is_done(
    serve: Serve, connect: Connect, held_builds: HeldBuilds
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))
    _error(client.scaler.GetMetrics, metrics_request(ref(), "x"))  # UNAVAILABLE: held

    held_builds.set()

    assert 7 == _value_once_built(client, ref())


def test_builds_nobody_waits_for_any_more_are_dropped_before_they_start(
    serve: Serve, connect: Connect, held_builds: HeldBuilds
) -> None:
    # Else distinct metadata sets sent faster than they build would queue builds for ever.
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))
    calls = [
        client.scaler.GetMetrics.future(
            metrics_request(ref(name=f"web-{i}"), "x"), timeout=CALL_TIMEOUT
        )
        for i in range(4)
    ]
    codes = {call.exception().code() for call in calls}  # one build running, three queued

    held_builds.set()
    probe = _value_once_built(client, ref(name="probe"))  # built after whatever is queued

    assert ({grpc.StatusCode.UNAVAILABLE}, 7) == (codes, probe)
    assert 2 == held_builds.started  # the one that was running, and the probe's


def test_a_stream_waits_for_a_slow_build_instead_of_failing(
    serve: Serve, connect: Connect, held_builds: HeldBuilds
) -> None:
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))
    stream = client.scaler.StreamIsActive(ref(), timeout=CALL_TIMEOUT)
    threading.Timer(1.5, held_builds.set).start()  # longer than a unary call waits

    assert pb.IsActiveResponse(result=True) == next(stream)
    stream.cancel()


# -- memory is bounded whatever KEDA sends -----------------------------------------------------


def _plans(max_bytes: int) -> PlanCache:
    store = CalendarStore({"sales": "sales.yaml"})
    store.publish("sales", parse_calendar(LAUNCH, name="sales", origin="sales.yaml"))
    return PlanCache(store, clock=lambda: DURING, max_bytes=max_bytes)


def _junk(i: int, *, valid: bool) -> pb.ScaledObjectRef:
    """A distinct metadata set of ~60 KB (keys the scaler ignores), valid or not."""
    metadata = {f"junk{k:02}": f"{i}-{k}-" + "x" * 3990 for k in range(15)}
    if not valid:
        metadata["baseReplicas"] = "lots"
    return ref(name=f"web-{i}", **metadata)


def test_what_is_remembered_stays_within_its_bytes_for_any_number_of_metadata_sets() -> None:
    budget = 4 * 2**20
    plans = _plans(budget)

    async def ask() -> list[tuple[int, int]]:
        seen = []
        for i in range(400):  # 24 MB of distinct metadata, half of it invalid
            await plans.timeline_of(_junk(i, valid=i % 2 == 0))
            seen.append(plans.remembered())
        return seen

    remembered = asyncio.run(ask())

    assert max(size for _, size in remembered) <= budget
    assert max(count for count, _ in remembered) < 200
    assert remembered[-1][1] > budget // 2  # it does remember (a cache, not a no-op)


def test_the_memory_really_held_stays_near_the_budget_for_many_small_keys() -> None:
    # 1,000 keys of a few characters: Python's objects for them take ten times their text.
    budget = 4 * 2**20
    plans = _plans(budget)

    async def ask() -> None:
        for i in range(100):
            metadata = {f"k{k:04}": f"{i}" for k in range(1000)}
            await plans.timeline_of(ref(name=f"web-{i}", **metadata))

    tracemalloc.start()
    try:
        asyncio.run(ask())
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert held < 1.5 * budget, f"{held / 2**20:.1f} MiB held"


def test_a_workload_asked_about_all_the_time_stays_remembered() -> None:
    plans = _plans(2 * 2**20)
    busy = ref(name="checkout")

    async def ask() -> bool:
        first = await plans.timeline_of(busy)
        for i in range(200):
            await plans.timeline_of(_junk(i, valid=i % 2 == 0))
            if await plans.timeline_of(busy) is not first:
                return False
        return True

    assert asyncio.run(ask())


def test_metadata_over_the_size_limit_is_not_remembered() -> None:
    plans = _plans(plans_module.REMEMBER_MAX_BYTES)
    huge = ref(**{f"junk{k:02}": "x" * 4096 for k in range(20)})  # 80 KiB

    async def ask() -> tuple[int, int]:
        timeline = await plans.timeline_of(huge)
        assert timeline.error is not None
        return plans.remembered()

    assert (0, 0) == asyncio.run(ask())


def test_answers_to_long_requests_are_not_remembered(serve: Serve, connect: Connect) -> None:
    # GetMetrics echoes the requested name and remembers answers by the request's bytes.
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    client = connect(server)
    names = ["short", *(f"{i}-" + "n" * 100_000 for i in range(20))]

    answered = [
        client.scaler.GetMetrics(metrics_request(ref(), name), timeout=CALL_TIMEOUT)
        .metricValues[0]
        .metricName
        for name in names
    ]

    assert names == answered
    remembered = server.server.servicer._answers
    assert 1 == len(remembered)
    assert all(len(request) <= servicer_module._ANSWER_KEY_MAX for request in remembered)


def test_a_request_of_the_size_bound_is_remembered_and_one_byte_more_is_not(
    serve: Serve, connect: Connect
) -> None:
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    client = connect(server)
    bound = servicer_module._ANSWER_KEY_MAX
    base = len(metrics_request(ref(), "m" * 200).SerializeToString()) - 200
    at, over = (metrics_request(ref(), "m" * (bound - base + extra)) for extra in (0, 1))
    assert (bound, bound + 1) == (at.ByteSize(), over.ByteSize())

    for request in (at, over, at, over):
        assert (
            7 == client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues[0].metricValue
        )

    assert [bound] == [len(request) for request in server.server.servicer._answers]


def test_remembered_answers_are_bounded_in_number(
    serve: Serve, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(servicer_module, "_ANSWERS_MAX", 8)
    server = serve({"sales": LAUNCH}, clock=Clock(DURING))
    client = connect(server)

    for i in range(30):
        request = metrics_request(ref(), f"metric-{i}")
        assert (
            7 == client.scaler.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues[0].metricValue
        )
        assert len(server.server.servicer._answers) <= 8


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_rss_stays_bounded_over_many_distinct_big_metadata_sets(
    serve: Serve, connect: Connect
) -> None:
    # 3,000 requests with 100 KB of junk each took the scaler to 739 MB, never returned. Here
    # 2,000 sets of ~60 KB (120 MB sent) over gRPC, in this process: loosely bounded.
    client = connect(serve({"sales": LAUNCH}, clock=Clock(DURING)))
    for i in range(200):  # warm up: allocator arenas, channel buffers
        client.scaler.IsActive(_junk(i, valid=True), timeout=CALL_TIMEOUT)
    before = _rss()

    for i in range(200, 2200):  # half of them invalid
        try:
            client.scaler.IsActive(_junk(i, valid=i % 2 == 0), timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            assert grpc.StatusCode.INVALID_ARGUMENT == exc.code()

    grown = _rss() - before
    bound = plans_module.REMEMBER_MAX_BYTES + 48 * 2**20  # the cache's budget + slack
    assert grown < bound, f"RSS grew by {grown / 2**20:.0f} MiB"


def test_a_failed_reload_keeps_every_timeline_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source's failure changes its health, not the calendars: the timelines built on them
    are not rebuilt (each KEDA call would otherwise wait for a build after every failed
    fetch); a new calendar does rebuild them."""
    store = CalendarStore({"sales": "sales.yaml"})
    text = calendar_yaml(one_off("sale", "2025-12-01T06:00:00Z", "1h", "{replicas: 7}"))
    store.publish("sales", parse_calendar(text, name="sales", origin="sales.yaml"))
    plans = PlanCache(store, clock=lambda: 1_764_547_200.0)  # 2025-12-01: before the sale
    builds: list[object] = []
    compute = plans._compute
    monkeypatch.setattr(plans, "_compute", lambda *a: builds.append(a) or compute(*a))
    metadata = {"baseReplicas": "2"}
    first = plans.timeline("shop", "web", metadata)
    store.report_failure("sales", "timeout", "no answer")
    store.report_failure("sales", "parse", "not YAML")
    assert plans.timeline("shop", "web", metadata) is first and len(builds) == 1
    store.publish("sales", parse_calendar(text, name="sales", origin="sales.yaml"))
    plans.timeline("shop", "web", metadata)
    assert len(builds) == 2
