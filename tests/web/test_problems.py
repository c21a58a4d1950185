"""Which ScaledObject gets errors, why and since when: the status page's Problems section,
/api/workloads, calendar_scaler_workload_error and one log line per change.

KEDA shows a failing GetMetricSpec only as "got empty metric spec"; these tests call the real
server as KEDA polls it (GetMetricSpec, GetMetrics, then IsActive unless GetMetrics failed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from scaler._proto import externalscaler_pb2 as pb
from scaler.calendar.timefmt import format_instant
from tests.web.stack import NOW, SALES, WebStack
from tests.web.test_status_page import page_of

# black-friday scales tier=frontend by factor: without baseReplicas, GetMetrics fails while
# GetMetricSpec (syntax only) succeeds.
NEEDS_BASE = {"labels": "tier=frontend"}
FIXED = {"labels": "tier=frontend", "baseReplicas": "4"}
BAD_NUMBER = {"labels": "tier=frontend", "baseReplicas": "four"}


def poll(web: WebStack, metadata: dict[str, str], name: str = "web") -> grpc.StatusCode:
    """One KEDA poll of shop/NAME: the status code it ends with."""
    ref = pb.ScaledObjectRef(namespace="shop", name=name, scalerMetadata=metadata)
    try:
        spec = web.stub.GetMetricSpec(ref, timeout=10).metricSpecs[0]
        request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName)
        web.stub.GetMetrics(request, timeout=10)
        web.stub.IsActive(ref, timeout=10)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def workloads(web: WebStack) -> list[dict[str, Any]]:
    response = web.get("/api/workloads")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    result: list[dict[str, Any]] = response.json()["workloads"]
    return result


def problem_logs(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str | None]]:
    return [
        (r.getMessage(), getattr(r, "workload", ""), getattr(r, "error", None))
        for r in caplog.records
        if r.getMessage().startswith("workload error")
    ]


def test_get_metric_spec_error_is_listed_with_message_and_since(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    assert poll(web, BAD_NUMBER) == grpc.StatusCode.INVALID_ARGUMENT
    web.clock.now = NOW + 90
    assert poll(web, BAD_NUMBER) == grpc.StatusCode.INVALID_ARGUMENT

    [entry] = workloads(web)
    page = page_of(web).all_text

    assert entry["state"] == "error"
    assert entry["method"] == "GetMetricSpec"
    assert entry["error"].startswith("baseReplicas: 'four' is not a whole number")
    assert entry["since"] == format_instant(NOW)  # the first failure, not the latest
    assert entry["last_seen"] == format_instant(NOW + 90)
    assert "Problems" in page and "shop/web" in page
    assert "baseReplicas: 'four' is not a whole number" in page
    assert web.sample("calendar_scaler_workload_error",
                      {"namespace": "shop", "name": "web", "metric": "sale-calendar"}) == 1  # fmt: skip


def test_workload_answered_again_is_ok_and_leaves_the_problems(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    assert poll(web, NEEDS_BASE) == grpc.StatusCode.INVALID_ARGUMENT
    assert workloads(web)[0]["state"] == "error"

    assert poll(web, FIXED) == grpc.StatusCode.OK

    assert [{"namespace": "shop", "name": "web", "metric": "sale-calendar",
             "last_seen": format_instant(NOW), "state": "ok"}] == workloads(web)  # fmt: skip
    assert "None: every ScaledObject asked about in the last hour got an answer" in (
        page_of(web).all_text
    )


def test_one_log_line_when_an_error_starts_changes_and_clears(
    stack: Callable[..., WebStack], caplog: pytest.LogCaptureFixture
) -> None:
    web = stack({"sales": SALES})
    caplog.set_level(logging.INFO, logger="scaler.service")

    for _ in range(3):  # GetMetricSpec succeeds each time, GetMetrics fails: no flapping
        assert poll(web, NEEDS_BASE) == grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(2):
        assert poll(web, BAD_NUMBER) == grpc.StatusCode.INVALID_ARGUMENT
    for _ in range(2):
        assert poll(web, FIXED) == grpc.StatusCode.OK

    [started, changed, cleared] = problem_logs(caplog)
    assert started[:2] == ("workload error", "shop/web")
    assert "needs baseReplicas" in (started[2] or "")
    assert changed[:2] == ("workload error changed", "shop/web")
    assert (changed[2] or "").startswith("baseReplicas: 'four'")
    assert cleared == ("workload error cleared", "shop/web", None)


def test_two_scaled_objects_are_told_apart(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    assert poll(web, FIXED, name="web") == grpc.StatusCode.OK
    assert poll(web, NEEDS_BASE, name="cart") == grpc.StatusCode.INVALID_ARGUMENT

    assert [("cart", "error"), ("web", "ok")] == [(w["name"], w["state"]) for w in workloads(web)]


def test_old_metric_name_in_error_is_dropped_once_the_new_one_is_asked_about(
    stack: Callable[..., WebStack], caplog: pytest.LogCaptureFixture
) -> None:
    web = stack({"sales": SALES})
    caplog.set_level(logging.INFO, logger="scaler.service")
    assert poll(web, {**FIXED, "metricName": "bad name"}) == grpc.StatusCode.INVALID_ARGUMENT
    assert poll(web, {**FIXED, "metricName": "floor"}) == grpc.StatusCode.OK
    assert [w["state"] for w in workloads(web)] == ["error", "ok"]  # "bad name" < "floor"

    web.clock.now = NOW + 61
    assert poll(web, {**FIXED, "metricName": "floor"}) == grpc.StatusCode.OK

    assert [("floor", "ok")] == [(w["metric"], w["state"]) for w in workloads(web)]
    assert [m for m, _, _ in problem_logs(caplog)] == ["workload error", "workload error cleared"]


def test_workloads_not_asked_about_for_an_hour_are_forgotten(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    assert poll(web, BAD_NUMBER) == grpc.StatusCode.INVALID_ARGUMENT

    web.clock.now = NOW + 3601

    assert workloads(web) == []


def test_a_failing_push_stream_is_listed_with_its_call(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    ref = pb.ScaledObjectRef(namespace="shop", name="web", scalerMetadata=NEEDS_BASE)

    with pytest.raises(grpc.RpcError) as failure:
        next(iter(web.stub.StreamIsActive(ref, timeout=10)))

    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    [entry] = workloads(web)
    assert (entry["state"], entry["method"]) == ("error", "StreamIsActive")
    assert "needs baseReplicas" in entry["error"]


def test_a_new_message_restarts_since(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    assert poll(web, NEEDS_BASE) == grpc.StatusCode.INVALID_ARGUMENT
    web.clock.now = NOW + 30
    assert poll(web, NEEDS_BASE) == grpc.StatusCode.INVALID_ARGUMENT
    assert workloads(web)[0]["since"] == format_instant(NOW)

    web.clock.now = NOW + 60
    assert poll(web, BAD_NUMBER) == grpc.StatusCode.INVALID_ARGUMENT

    assert workloads(web)[0]["since"] == format_instant(NOW + 60)


def test_the_summary_counts_failing_workloads(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    assert poll(web, BAD_NUMBER, name="cart") == grpc.StatusCode.INVALID_ARGUMENT
    assert poll(web, NEEDS_BASE, name="web") == grpc.StatusCode.INVALID_ARGUMENT

    assert poll(web, FIXED, name="api") == grpc.StatusCode.OK

    assert "Workloads seen (1 h) 3 2 failing: see Problems" in " ".join(
        page_of(web).all_text.split()
    )
