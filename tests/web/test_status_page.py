"""The status page `/`: calendars, source health, upcoming events, one chart per workload."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import grpc
import pytest

from scaler.calendar.parsing import parse_calendar
from scaler.service.plans import PlanCache
from scaler.sources.store import CalendarStore
from scaler.web.page import StatusPage
from tests.web.stack import NOW, SALES, WebStack


class Page(HTMLParser):
    """Collects what a reader (or a test) looks for: texts, charts, lanes, links."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.text: list[str] = []
        self.svgs = 0
        self.lanes: list[str] = []  # data-event of each chart lane, in order
        self.refs: list[str] = []  # every src/href
        self.scripts = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "svg":
            self.svgs += 1
        if tag == "script":
            self.scripts += 1
        if tag == "g" and found.get("class") == "lane":
            self.lanes.append(found.get("data-event") or "")
        self.refs += [v or "" for k, v in attrs if k in ("src", "href")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)


def page_of(web: WebStack) -> Page:
    response = web.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    return Page(response.text)


def test_page_lists_calendars_with_origin_and_state(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES, "drops": None})

    text = page_of(web).all_text

    assert "sales.yaml" in text and "drops.yaml" in text
    assert "loaded" in text and "not loaded" in text
    assert "Calendar drops has not loaded" in text


def test_page_shows_a_failing_source_with_its_reason_and_error(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    web.run_on_loop(
        lambda: web.store.report_failure("sales", "timeout", "https://x.test/s.yaml: no answer")
    )

    text = page_of(web).all_text

    assert "Source of sales is failing" in text
    assert "timeout" in text
    assert "https://x.test/s.yaml: no answer" in text


def test_page_lists_upcoming_events_but_not_disabled_ones(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    text = page_of(web).all_text

    for name in ("black-friday", "daily-time-sale", "flash-drop"):
        assert name in text
    assert "paused-campaign" not in text
    assert "Thu 26 Nov 15:00" in text  # black-friday's start in UTC
    assert "Thu 26 Nov 21:00 JST (Asia/Tokyo)" in text  # the cron event in its own zone


def test_page_draws_one_chart_per_workload_with_its_events(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})
    web.get_metrics("search", "api", {"calendars": "sales"})

    page = page_of(web)

    assert page.svgs == 2
    # search/api first, then shop/checkout, which black-friday targets by name.
    assert [
        *("daily-time-sale", "flash-drop"),
        *("daily-time-sale", "black-friday", "flash-drop"),
    ] == page.lanes
    assert "shop" in page.all_text and "checkout" in page.all_text


def test_workload_in_error_shows_the_message_instead_of_a_chart(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES, "drops": None})
    with pytest.raises(grpc.RpcError):
        web.get_metrics("shop", "cart")

    page = page_of(web)

    assert page.svgs == 0
    assert "calendar drops has not loaded yet" in page.all_text


def test_page_escapes_what_clients_and_sources_send(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("<img src=x onerror=alert(1)>", "checkout", {"baseReplicas": "4"})
    web.run_on_loop(lambda: web.store.report_failure("sales", "parse", "<script>x()</script>"))

    html = web.get("/").text

    assert "<img src=x" not in html and "<script>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html


def test_page_is_self_contained(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4"})

    response = web.get("/")
    page = Page(response.text)

    assert page.scripts == 0
    assert all(ref.startswith("/") for ref in page.refs), page.refs
    assert not re.search(r"url\(|@import", response.text)
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_page_shows_only_contract_metadata_keys(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "checkout", {"baseReplicas": "4", "tokenFromEnv": "s3cr3t-value"})

    html = web.get("/").text

    assert "baseReplicas 4" in html
    assert "s3cr3t-value" not in html and "tokenFromEnv" not in html


def test_chart_from_the_served_timeline_equals_the_chart_from_a_fresh_plan() -> None:
    # The page draws the timeline KEDA is served while it is current, and plans afresh
    # otherwise (here: a republish, as when a peak arrives, bumped the snapshot version):
    # both must agree.
    store = CalendarStore({"sales": "sales.yaml"})
    store.publish("sales", parse_calendar(SALES, name="sales", origin="sales.yaml"))
    plans = PlanCache(store, clock=lambda: NOW)
    plans.timeline("shop", "web", {"labels": "tier=frontend", "baseReplicas": "5"})

    served = StatusPage(store, plans).render(NOW)
    store.republish()
    planned = StatusPage(store, plans).render(NOW)

    step = re.compile(r'<path class="step" d="([^"]+)"')
    assert step.findall(served) == step.findall(planned)
    assert len(step.findall(served)) == 1
