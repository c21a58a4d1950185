"""The history client against a real Prometheus, and against our own faulty HTTP server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from scaler.errors import HistoryError
from scaler.history import HistoryLimits, PrometheusClient, headers_from_env, render_query
from tests.prometheus import PrometheusServer, Sample
from tests.sources.helpers import CalendarServer, Reply

Start = Callable[[Iterable[Sample]], PrometheusServer]
T0 = 1764288000  # 2025-11-28T00:00:00Z
FAST = HistoryLimits(
    connect_timeout=1.0, read_timeout=1.0, attempt_timeout=2.0, attempts=3,
    retry_initial=0.01, retry_max=0.05, max_bytes=64 * 1024,
)  # fmt: skip
REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def query(url: str, q: str, start: int, end: int, **kw: Any) -> list[tuple[int, float]]:
    async with PrometheusClient(url, limits=FAST, **kw) as client:
        return await client.query_range(q, start, end)


def hpa(value: float, at: int, name: str = "keda-hpa-web", ns: str = "shop") -> Sample:
    return (REPLICAS, {"namespace": ns, "horizontalpodautoscaler": name}, value, at)


@pytest.mark.slow
def test_query_range_gives_the_max_over_series_at_each_instant(prometheus: Start) -> None:
    server = prometheus([hpa(3, T0), hpa(5, T0, name="other"), hpa(7, T0 + 60)])

    samples = run(query(server.url, REPLICAS, T0, T0 + 120))

    assert [(T0, 5.0), (T0 + 60, 7.0)] == samples


@pytest.mark.slow
def test_query_range_end_is_exclusive(prometheus: Start) -> None:
    server = prometheus([hpa(3, T0), hpa(9, T0 + 120)])

    samples = run(query(server.url, REPLICAS, T0, T0 + 120))

    assert [(T0, 3.0), (T0 + 60, 3.0)] == samples


@pytest.mark.slow
def test_a_long_range_is_split_below_prometheus_point_limit(prometheus: Start) -> None:
    # 12 days at 60 s is 17,280 instants, more than Prometheus's 11,000 per request.
    days = 12
    server = prometheus([hpa(k + 1, T0 + k * 86400) for k in range(days)])

    samples = run(query(server.url, REPLICAS, T0, T0 + days * 86400))

    assert {float(k + 1) for k in range(days)} == {v for _, v in samples}
    assert 6 * days == len(samples)  # each seen at t..t+5m: the lookback includes its start


@pytest.mark.slow
def test_a_bad_query_shows_prometheus_own_error(prometheus: Start) -> None:
    server = prometheus([hpa(3, T0)])

    with pytest.raises(
        HistoryError, match=r"refused the query 'max\(\(': bad_data: .*parse error"
    ) as info:
        run(query(server.url, "max((", T0, T0 + 60))

    assert "query" == info.value.reason


@pytest.mark.slow
def test_no_sample_gives_an_empty_answer(prometheus: Start) -> None:
    server = prometheus([hpa(3, T0)])

    assert [] == run(query(server.url, f'{REPLICAS}{{namespace="none"}}', T0, T0 + 600))


def test_prometheus_down_is_a_history_error_after_the_retries() -> None:
    with CalendarServer() as server:
        url = server.url("")
    with pytest.raises(HistoryError, match=r"127\.0\.0\.1:\d+: .*check the URL") as info:
        run(query(url, "up", T0, T0 + 60))
    assert "fetch" == info.value.reason


def test_a_slow_prometheus_times_out() -> None:
    with CalendarServer(Reply(mode="hang", delay=10)) as server:
        with pytest.raises(HistoryError, match=r"timed out|no complete answer") as info:
            run(query(server.url(""), "up", T0, T0 + 60))
        assert FAST.attempts == server.count()
    assert "timeout" == info.value.reason


def test_attempts_and_timeout_can_be_given_without_limits() -> None:
    body = b'{"status":"error","errorType":"unavailable","error":"too busy"}'
    with CalendarServer(Reply(body=body, status=503, content_type="application/json")) as server:

        async def once() -> None:
            async with PrometheusClient(server.url(""), attempts=1, timeout=2.0) as client:
                await client.query_range("up", T0, T0 + 60)

        with pytest.raises(HistoryError, match="too busy"):
            run(once())
        assert 1 == server.count()


def test_an_erroring_prometheus_is_retried_then_reported() -> None:
    body = b'{"status":"error","errorType":"unavailable","error":"too busy"}'
    with CalendarServer(Reply(body=body, status=503, content_type="application/json")) as server:
        with pytest.raises(HistoryError, match="Prometheus answered unavailable: too busy"):
            run(query(server.url(""), "up", T0, T0 + 60))
        assert FAST.attempts == server.count()


def test_a_refused_query_is_not_retried() -> None:
    body = b'{"status":"error","errorType":"execution","error":"too many samples"}'
    with CalendarServer(Reply(body=body, status=422, content_type="application/json")) as server:
        with pytest.raises(HistoryError, match="execution: too many samples; fix --history-query"):
            run(query(server.url(""), "up", T0, T0 + 60))
        assert 1 == server.count()


def test_a_too_large_answer_is_refused() -> None:
    reply = Reply(mode="stream", total=1024 * 1024, chunk=4096)
    with CalendarServer(reply) as server, pytest.raises(HistoryError, match="larger than") as info:
        run(query(server.url(""), "up", T0, T0 + 60))
    assert "size" == info.value.reason


def test_headers_are_sent_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"CALENDAR_SCALER_PROMETHEUS_HEADER_AUTHORIZATION": "Bearer s3cr3t-token",
           "CALENDAR_SCALER_PROMETHEUS_HEADER_X_SCOPE_ORGID": "tenant-1", "OTHER": "x"}  # fmt: skip
    body = b'{"status":"success","data":{"resultType":"matrix","result":[]}}'
    with CalendarServer(Reply(body=body, content_type="application/json")) as server:
        client_repr = repr(PrometheusClient(server.url(""), headers=headers_from_env(env)))
        run(query(server.url(""), "up", T0, T0 + 60, headers=headers_from_env(env)))
        seen = server.requests[0].headers

    assert "Bearer s3cr3t-token" == seen["authorization"]
    assert "tenant-1" == seen["x-scope-orgid"]
    assert "s3cr3t" not in caplog.text and "s3cr3t" not in client_repr


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param(
            'up{namespace="$namespace",pod=~"$name-.*"}',
            'up{namespace="shop",pod=~"web-.*"}',
            id="both",
        ),
        pytest.param('x{a="${name}s"}', 'x{a="webs"}', id="braces"),
        pytest.param('x{a="$names"}', 'x{a="$names"}', id="longer-word-kept"),
    ],
)
def test_render_query_substitutes_namespace_and_name(template: str, expected: str) -> None:
    assert expected == render_query(template, "shop", "web")


def test_render_query_escapes_for_promql_strings() -> None:
    assert r'x{a="a\"b\\c\nd"}' == render_query('x{a="$name"}', "ns", 'a"b\\c\nd')
