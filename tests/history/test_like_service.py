"""The server sizes `like` events from a real Prometheus, as KEDA sees it (SPEC section 9)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import grpc
import pytest

from scaler._proto import externalscaler_pb2 as pb
from scaler.calendar.parsing import parse_calendar
from scaler.cli import main
from scaler.history.prometheus import DEFAULT_QUERY, render_query
from tests.history.support import (
    BEFORE,
    DURING,
    LAST_END,
    LAST_START,
    book,
    eventually,
    hpa,
    sales,
)
from tests.prometheus import PrometheusServer, Sample
from tests.serverthread import Clock
from tests.service.support import StreamRecorder
from tests.sources.helpers import CalendarServer, Reply
from tests.web.stack import WebStack

Start = Callable[[Iterable[Sample]], PrometheusServer]
WEB_HISTORY = [hpa("web", 10, LAST_START), hpa("web", 47, LAST_START + 3 * 3600)]
OTHERWISE = "{like: black-friday-2025, growth: 1.2, otherwise: {replicas: 7}}"
MATRIX_47 = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {}, "values": [[LAST_START, "47"]]}]}}).encode()  # fmt: skip


@pytest.fixture
def stacks() -> Iterator[Callable[..., WebStack]]:
    started: list[WebStack] = []

    def start(calendar: str, peaks: object = None, *, now: float = DURING) -> WebStack:
        stack = WebStack({"sales": calendar}, now=now, peaks=peaks)  # type: ignore[arg-type]
        started.append(stack)
        return stack

    yield start
    for stack in started:
        if not stack.thread.loop.is_closed():  # the test may have stopped it
            stack.close()


def answer(stack: WebStack, name: str = "web") -> tuple[grpc.StatusCode, int | str]:
    """What KEDA gets from GetMetrics: (OK, value) or (code, message)."""
    try:
        return grpc.StatusCode.OK, stack.get_metrics("shop", name)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()


@pytest.mark.slow
def test_a_keda_client_gets_ceil_of_peak_times_growth_and_plan_agrees(
    prometheus: Start, stacks: Callable[..., WebStack], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    server = prometheus(WEB_HISTORY)
    stack = stacks(sales(), book(server.url))

    assert (grpc.StatusCode.OK, 57) == eventually(lambda: answer(stack), (grpc.StatusCode.OK, 57))

    path = tmp_path / "sales.yaml"
    path.write_text(sales())
    main(["plan", str(path), "--namespace", "shop", "--name", "web", "--from",
          "2026-11-27T12:00", "--hours", "1", "--format", "json", "--prometheus", server.url])  # fmt: skip
    assert [57] == [p["replicas"] for p in json.loads(capsys.readouterr().out)["points"]]
    api = stack.get("/api/plan?namespace=shop&name=web&hours=1").json()
    assert [57] == [p["replicas"] for p in api["points"]]
    assert "47 at peak during black-friday-2025 x 1.2 = 57" == api["history"][0]["text"]
    page = stack.get("/").text
    assert "47 at peak during black-friday-2025 x 1.2 = 57" in page
    assert "like black-friday-2025 ×1.2" in page  # the event's scale in the events list
    assert 1.0 == stack.sample("calendar_scaler_history_lookups_total", {"result": "known"})
    assert 1.0 == stack.sample("calendar_scaler_history_peaks", {"state": "known"})
    assert 0.0 == stack.sample("calendar_scaler_history_peaks", {"state": "pending"})


@pytest.mark.slow
def test_a_known_peak_is_never_asked_again_and_survives_prometheus_going_down(
    prometheus: Start, stacks: Callable[..., WebStack]
) -> None:
    server = prometheus(WEB_HISTORY)
    stack = stacks(sales(), book(server.url))
    assert (grpc.StatusCode.OK, 57) == eventually(lambda: answer(stack), (grpc.StatusCode.OK, 57))
    server.stop()

    # A calendar change rebuilds every timeline: the peak comes from memory, not Prometheus.
    changed = sales().replace("end: 2026-12-01", "end: 2026-12-02")
    stack.thread.publish(parse_calendar(changed, name="sales", origin="sales.yaml"))

    assert (grpc.StatusCode.OK, 57) == answer(stack)
    assert 1.0 == stack.sample("calendar_scaler_history_lookups_total", {"result": "known"})
    assert 0.0 == stack.sample("calendar_scaler_history_lookups_total", {"result": "error"})


@pytest.mark.slow
def test_a_restart_with_prometheus_down_uses_the_peaks_in_the_state_dir(
    prometheus: Start, stacks: Callable[..., WebStack], tmp_path: Path
) -> None:
    server = prometheus(WEB_HISTORY)
    first = stacks(sales(), book(server.url, state_dir=tmp_path))
    assert (grpc.StatusCode.OK, 57) == eventually(lambda: answer(first), (grpc.StatusCode.OK, 57))
    first.close()
    server.stop()

    saved = json.loads((tmp_path / "peaks.json").read_text())
    query = render_query(DEFAULT_QUERY, "shop", "web")
    assert [(query, "47")] == [(p["query"], p["peak"]) for p in saved["peaks"]]
    second = stacks(sales(), book(server.url, state_dir=tmp_path))
    assert (grpc.StatusCode.OK, 57) == answer(second)


def test_prometheus_down_before_the_peak_is_known(stacks: Callable[..., WebStack]) -> None:
    with CalendarServer() as dead:
        url = dead.url("")
    without = stacks(sales(), book(url))
    with_otherwise = stacks(sales(OTHERWISE), book(url))
    not_begun = stacks(sales(), book(url), now=BEFORE)

    def unavailable() -> str:
        code, message = answer(without)
        return str(message) if code == grpc.StatusCode.UNAVAILABLE else f"{code}"

    assert eventually(lambda: "check the URL" in unavailable(), True), unavailable()
    assert "the peak of shop/web during 'black-friday-2025' is unknown (http://127.0.0.1:" in (
        unavailable()
    )
    assert (grpc.StatusCode.OK, 7) == answer(with_otherwise)
    assert (grpc.StatusCode.OK, 0) == answer(not_begun)
    api = without.get("/api/plan?namespace=shop&name=web&hours=1")
    assert 503 == api.status_code
    assert "is unknown (http://127.0.0.1:" in api.json()["error"]
    failing = eventually(
        lambda: with_otherwise.sample("calendar_scaler_history_peaks", {"state": "failing"}), 1.0
    )
    assert 1.0 == failing
    assert (
        "peak during black-friday-2025 unknown: http://127.0.0.1:" in with_otherwise.get("/").text
    )


@pytest.mark.slow
def test_no_history_gives_otherwise_or_invalid_argument(
    prometheus: Start, stacks: Callable[..., WebStack]
) -> None:
    server = prometheus([hpa("someone-else", 5, LAST_START)])
    without = stacks(sales(), book(server.url))
    with_otherwise = stacks(sales(OTHERWISE), book(server.url))

    code = eventually(lambda: answer(without)[0], grpc.StatusCode.INVALID_ARGUMENT)
    message = answer(without)[1]
    assert grpc.StatusCode.INVALID_ARGUMENT == code
    assert "Prometheus has no history of shop/web during it (query max(" in str(message)
    assert (grpc.StatusCode.OK, 7) == eventually(
        lambda: answer(with_otherwise), (grpc.StatusCode.OK, 7)
    )
    none = eventually(
        lambda: with_otherwise.sample("calendar_scaler_history_peaks", {"state": "none"}), 1.0
    )
    assert 1.0 == none


@pytest.mark.slow
def test_a_bad_query_template_shows_prometheus_error(
    prometheus: Start, stacks: Callable[..., WebStack]
) -> None:
    server = prometheus(WEB_HISTORY)
    stack = stacks(sales(), book(server.url, template="max(rate(x[5m])"))

    def details() -> str:
        return str(answer(stack)[1])

    message = eventually(lambda: "parse error" in details(), True) and details()
    assert "Prometheus refused the query 'max(rate(x[5m])': bad_data: " in str(message)
    assert "fix --history-query" in stack.get("/").text


def test_an_erroring_prometheus_that_recovers_reaches_open_streams_at_once(
    stacks: Callable[..., WebStack],
) -> None:
    busy = b'{"status":"error","errorType":"unavailable","error":"too busy"}'
    with CalendarServer(Reply(body=busy, status=503, content_type="application/json")) as fake:
        scale = "{like: black-friday-2025, growth: 1.2, otherwise: {replicas: 0}}"
        stack = stacks(sales(scale), book(fake.url("")))
        ref = pb.ScaledObjectRef(namespace="shop", name="web")
        stream = StreamRecorder(stack.stub.StreamIsActive(ref, timeout=30))
        try:
            assert pb.IsActiveResponse(result=False) == stream.next(timeout=5)[1]
            assert eventually(lambda: fake.count() >= 2, True)  # retried with backoff
            fake.serve(MATRIX_47, content_type="application/json")

            assert pb.IsActiveResponse(result=True) == stream.next(timeout=10)[1]
        finally:
            stream.close()
    assert (grpc.StatusCode.OK, 57) == answer(stack)
    assert stack.sample("calendar_scaler_history_lookups_total", {"result": "error"}) >= 1  # type: ignore[operator]


def test_a_slow_prometheus_times_out_and_counts_as_failing(stacks: Callable[..., WebStack]) -> None:
    with CalendarServer(Reply(mode="hang", delay=10)) as slow:
        stack = stacks(sales(OTHERWISE), book(slow.url("")))
        assert (grpc.StatusCode.OK, 7) == answer(stack)

        errors = eventually(
            lambda: stack.sample("calendar_scaler_history_lookups_total", {"result": "error"}), 1.0
        )
        assert 1.0 == errors
        assert "timed out" in stack.get("/").text or "no complete answer" in stack.get("/").text


def test_prometheus_headers_are_sent_and_never_logged(
    stacks: Callable[..., WebStack], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with CalendarServer(Reply(body=b"nope", status=500)) as fake:
        stack = stacks(sales(OTHERWISE), book(fake.url(""), Authorization="Bearer t0p-s3cret"))
        answer(stack)
        assert eventually(lambda: fake.count() >= 2, True)
        seen = fake.requests[0].headers
        page = stack.get("/").text

    assert "Bearer t0p-s3cret" == seen["authorization"]
    assert "t0p-s3cret" not in caplog.text and "t0p-s3cret" not in page
    assert "peak of shop/web like black-friday-2025" in caplog.text


@pytest.mark.slow
def test_a_window_is_read_once_it_has_settled_without_a_calendar_change(
    prometheus: Start, stacks: Callable[..., WebStack]
) -> None:
    server = prometheus(WEB_HISTORY)
    soon = (
        "version: 1\ntimezone: UTC\nevents:\n"
        "  - name: after-party\n    start: 2025-12-02T02:00\n    duration: 2h\n"
        "    scale: {like: black-friday-2025, growth: 1.2}\n"
        "  - name: black-friday-2025\n    start: 2025-11-28\n    end: 2025-12-02\n"
        "    scale: {replicas: 1}\n"
    )
    clock = Clock(LAST_END - 60)
    stack = stacks(soon, book(server.url, clock=clock), now=LAST_END - 60)
    stack.clock.now = clock.now

    assert (grpc.StatusCode.OK, 1) == answer(stack)  # black-friday-2025 itself, still on
    assert 0.0 == stack.sample("calendar_scaler_history_lookups_total", {"result": "known"})

    clock.now = stack.clock.now = LAST_END + 301  # settled: the timeline rebuilds and asks
    assert (grpc.StatusCode.OK, 0) == answer(stack)
    known = eventually(
        lambda: stack.sample("calendar_scaler_history_lookups_total", {"result": "known"}), 1.0
    )
    assert 1.0 == known

    clock.now = stack.clock.now = LAST_END + 7200
    assert (grpc.StatusCode.OK, 57) == answer(stack)
