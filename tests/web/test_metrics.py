"""/metrics: what the scaler serves, what its calendars hold, how its sources fare.

Values are read from the server's own registry (on its loop) after real RPCs, and the names
from the scraped text, so a renamed metric fails here before it breaks someone's alert.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scaler.calendar.parsing import parse_calendar
from scaler.web.metrics import version
from tests.web.stack import NOW, SALES, WebStack

CHECKOUT = {"namespace": "shop", "name": "checkout", "metric": "sale-calendar"}
# 12:00 UTC is 21:00 in Tokyo: daily-time-sale (12 replicas) has just started.
BLACK_FRIDAY_START = int(dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC).timestamp())

DOCUMENTED = {
    "calendar_scaler_build_info",
    "calendar_scaler_workload_replicas",
    "calendar_scaler_workload_error",
    "calendar_scaler_calendar_loaded",
    "calendar_scaler_calendar_loaded_from_state",
    "calendar_scaler_calendar_events",
    "calendar_scaler_calendar_active_events",
    "calendar_scaler_calendar_next_event_start_timestamp_seconds",
    "calendar_scaler_calendar_loads_total",
    "calendar_scaler_source_last_success_timestamp_seconds",
    "calendar_scaler_source_last_attempt_timestamp_seconds",
    "calendar_scaler_source_last_attempt_failed",
    "calendar_scaler_source_errors_total",
    "calendar_scaler_state_write_failed",
    "calendar_scaler_grpc_requests_total",
    "calendar_scaler_grpc_request_duration_seconds",
    "calendar_scaler_workload_next_start_timestamp_seconds",
    "calendar_scaler_workload_next_lead_timestamp_seconds",
    "calendar_scaler_workload_next_floor_replicas",
}


def scraped_names(web: WebStack) -> set[str]:
    response = web.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain;")
    names = set()
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            name = sample.name
            for suffix in ("_bucket", "_count", "_sum"):
                if family.type == "histogram" and name.endswith(suffix):
                    name = name.removesuffix(suffix)
            names.add(name)
    return names


def test_metrics_page_exposes_the_documented_names_and_only_those(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    assert scraped_names(web) == DOCUMENTED


def test_workload_replicas_is_the_value_get_metrics_served(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    served = web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    assert served == 12
    assert web.sample("calendar_scaler_workload_replicas", CHECKOUT) == 12
    assert web.sample("calendar_scaler_workload_error", CHECKOUT) == 0


def test_workload_replicas_follows_the_clock_without_new_rpcs(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES}, now=BLACK_FRIDAY_START - 3600)
    assert web.get_metrics("shop", "checkout", {"baseReplicas": "4"}) == 0

    web.clock.now = BLACK_FRIDAY_START  # black-friday: 60 for shop/checkout*

    assert web.sample("calendar_scaler_workload_replicas", CHECKOUT) == 60


def test_next_sale_of_a_workload_is_its_start_lead_point_and_floor(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    # black-friday (60 for shop/checkout*) starts at 15:00 UTC with the 15m lead of defaults.
    assert web.sample("calendar_scaler_workload_next_start_timestamp_seconds", CHECKOUT) == (
        BLACK_FRIDAY_START
    )
    assert web.sample("calendar_scaler_workload_next_lead_timestamp_seconds", CHECKOUT) == (
        BLACK_FRIDAY_START - 15 * 60
    )
    assert web.sample("calendar_scaler_workload_next_floor_replicas", CHECKOUT) == 60


def test_next_sale_stays_until_its_start_then_the_following_one_counts_every_event(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    flash_drop = int(dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC).timestamp())

    web.clock.now = BLACK_FRIDAY_START - 60  # past the lead point, before the start
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})
    before = web.sample("calendar_scaler_workload_next_start_timestamp_seconds", CHECKOUT)
    web.clock.now = BLACK_FRIDAY_START

    assert BLACK_FRIDAY_START == before
    # flash-drop (20, no lead) starts during black-friday: the floor at its start is 60.
    assert web.sample("calendar_scaler_workload_next_start_timestamp_seconds", CHECKOUT) == (
        flash_drop
    )
    assert web.sample("calendar_scaler_workload_next_lead_timestamp_seconds", CHECKOUT) == (
        flash_drop
    )
    assert web.sample("calendar_scaler_workload_next_floor_replicas", CHECKOUT) == 60


def test_next_sale_follows_a_calendar_reload(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})
    before = web.sample("calendar_scaler_workload_next_start_timestamp_seconds", CHECKOUT)
    later = SALES.replace("start: 2026-11-27\n", "start: 2026-11-27T01:00\n")

    web.thread.publish(parse_calendar(later, name="sales", origin="sales.yaml"))
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    assert BLACK_FRIDAY_START == before
    assert web.sample("calendar_scaler_workload_next_start_timestamp_seconds", CHECKOUT) == (
        BLACK_FRIDAY_START + 3600
    )


def test_workload_metadata_change_keeps_one_series_with_the_latest_answer(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    labels = {"namespace": "shop", "name": "web", "metric": "sale-calendar"}
    web.get_metrics("shop", "web", {"labels": "tier=frontend", "baseReplicas": "4"})
    web.clock.now = BLACK_FRIDAY_START
    web.get_metrics("shop", "web", {"labels": "tier=frontend", "baseReplicas": "5"})

    text = web.get("/metrics").text

    assert text.count('calendar_scaler_workload_replicas{metric="sale-calendar",name="web"') == 1
    assert web.sample("calendar_scaler_workload_replicas", labels) == 15


def test_workload_not_asked_about_for_an_hour_is_dropped(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    web.clock.now = NOW + 3601

    assert web.sample("calendar_scaler_workload_replicas", CHECKOUT) is None


def test_workload_answered_with_an_error_is_flagged(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES, "drops": None})

    with pytest.raises(grpc.RpcError) as failure:
        web.get_metrics("shop", "checkout")

    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert web.sample("calendar_scaler_workload_error", CHECKOUT) == 1
    assert web.sample("calendar_scaler_workload_replicas", CHECKOUT) is None


def test_calendar_gauges_count_events_active_now_and_next_start(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES, "drops": None})
    sales = {"calendar": "sales"}

    assert web.sample("calendar_scaler_calendar_loaded", sales) == 1
    assert web.sample("calendar_scaler_calendar_loaded", {"calendar": "drops"}) == 0
    assert web.sample("calendar_scaler_calendar_events", sales) == 4
    assert web.sample("calendar_scaler_calendar_active_events", sales) == 1
    assert (
        web.sample("calendar_scaler_calendar_next_event_start_timestamp_seconds", sales)
        == BLACK_FRIDAY_START
    )


def test_active_events_and_next_start_move_with_the_clock(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    sales = {"calendar": "sales"}

    web.clock.now = BLACK_FRIDAY_START + 10 * 3600 + 30 * 60  # 10:30 in Tokyo on the 27th

    assert web.sample("calendar_scaler_calendar_active_events", sales) == 2  # + flash-drop
    next_daily = int(dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC).timestamp())
    assert next_daily == web.sample(
        "calendar_scaler_calendar_next_event_start_timestamp_seconds", sales
    )


def test_source_health_gauges_and_errors_by_reason(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES, "drops": None})
    sales, drops = {"calendar": "sales"}, {"calendar": "drops"}

    def fail() -> None:
        web.store.report_failure("sales", "timeout", "https://example.test/sales: timed out")
        web.store.report_failure("sales", "timeout", "https://example.test/sales: timed out")
        web.store.report_failure("drops", "status", "https://example.test/drops: HTTP 404")

    web.run_on_loop(fail)
    health = web.store.snapshot.health["sales"]

    assert health.last_success == web.sample(
        "calendar_scaler_source_last_success_timestamp_seconds", sales
    )
    assert health.last_attempt == web.sample(
        "calendar_scaler_source_last_attempt_timestamp_seconds", sales
    )
    assert web.sample("calendar_scaler_source_last_attempt_failed", sales) == 1
    assert web.sample("calendar_scaler_source_errors_total", {**sales, "reason": "timeout"}) == 2
    assert web.sample("calendar_scaler_source_errors_total", {**sales, "reason": "parse"}) == 0
    assert web.sample("calendar_scaler_source_errors_total", {**drops, "reason": "status"}) == 1
    assert web.sample("calendar_scaler_source_last_success_timestamp_seconds", drops) is None
    assert web.sample("calendar_scaler_calendar_loads_total", sales) == 1
    assert web.sample("calendar_scaler_calendar_loaded_from_state", sales) == 0
    assert web.sample("calendar_scaler_state_write_failed", sales) == 0


def test_a_good_load_clears_the_failed_flag_and_counts_a_load(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    sales = {"calendar": "sales"}
    web.run_on_loop(lambda: web.store.report_failure("sales", "parse", "sales.yaml: bad YAML"))

    web.thread.publish(parse_calendar(SALES, name="sales", origin="sales.yaml"))

    assert web.sample("calendar_scaler_source_last_attempt_failed", sales) == 0
    assert web.sample("calendar_scaler_calendar_loads_total", sales) == 2
    assert web.sample("calendar_scaler_source_errors_total", {**sales, "reason": "parse"}) == 1


def test_calendar_loaded_from_the_state_directory_is_flagged(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": None})
    calendar = parse_calendar(SALES, name="sales", origin="https://example.test/sales.yaml")

    web.run_on_loop(lambda: web.store.publish("sales", calendar, loaded_from="state"))

    assert web.sample("calendar_scaler_calendar_loaded_from_state", {"calendar": "sales"}) == 1


def test_rpc_counter_and_latency_histogram_count_calls(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    ok = {"method": "GetMetrics", "code": "OK"}
    assert web.sample("calendar_scaler_grpc_requests_total", ok) == 2
    assert (
        web.sample("calendar_scaler_grpc_request_duration_seconds_count", {"method": "GetMetrics"})
        == 2
    )


def test_build_info_carries_the_version(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    samples = [
        sample
        for family in text_string_to_metric_families(web.get("/metrics").text)
        for sample in family.samples
        if sample.name == "calendar_scaler_build_info"
    ]

    assert [(1.0, version())] == [(s.value, s.labels["version"]) for s in samples]
