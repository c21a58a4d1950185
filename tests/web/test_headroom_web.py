"""Headroom triggers on the HTTP port: /api/plan and the status page (SPEC sections 8 and 10).

In the stack's calendar Black Friday starts at 15:00 UTC on the 26th with lead 15m, ramp 10m
in 5 steps; it gives shop/web (tier=frontend, baseReplicas 5) 15 replicas: 3, 6, 9, 12, 15 at
14:35, 14:37, 14:39, 14:41, 14:43. Its placeholders (headroomLead 10m) want 15 from 14:25.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from scaler.calendar.parsing import parse_calendar
from scaler.calendar.timefmt import format_instant
from scaler.cli import main
from scaler.service.plans import PlanCache
from scaler.sources.store import CalendarStore
from scaler.web.page import StatusPage
from tests.web.stack import NOW, SALES, WebStack

WEB = {"labels": "tier=frontend", "baseReplicas": "5"}
ROOM = {**WEB, "headroomFor": "shop/web"}


def test_api_plan_of_a_headroom_trigger_gives_the_placeholders(
    stack: Callable[..., WebStack], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "web-room", ROOM)

    plan = web.get("/api/plan?namespace=shop&name=web-room&hours=4").json()

    path = tmp_path / "sales.yaml"
    path.write_text(SALES)
    args = ["plan", str(path), "--namespace", "shop", "--name", "web-room", "--format", "json"]
    args += ["--from", format_instant(NOW), "--hours", "4"]
    args += [f"--meta={k}={v}" for k, v in ROOM.items()]
    capsys.readouterr()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out) == plan
    assert [(p["at"][11:16], p["replicas"], p["events"]) for p in plan["points"]] == [
        ("12:00", 0, []),
        ("14:25", 15, ["black-friday"]),
        ("14:35", 12, ["black-friday"]),
        ("14:37", 9, ["black-friday"]),
        ("14:39", 6, ["black-friday"]),
        ("14:41", 3, ["black-friday"]),
        ("14:43", 0, []),
    ]


def test_api_plan_meta_can_ask_for_headroom_of_any_workload(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "web", WEB)

    room = web.get("/api/plan?namespace=shop&name=web&hours=4&meta=headroomFor=shop/web").json()
    bad = web.get("/api/plan?namespace=shop&name=web&meta=headroomFor=web")

    assert max(p["replicas"] for p in room["points"]) == 15
    assert (bad.status_code, "headroomFor" in bad.text) == (400, True)


def _cards(html: str) -> list[str]:
    return [f"{ns}/{name}" for ns, name in re.findall(r"<h3>([^<]*)/<b>([^<]*)</b></h3>", html)]


def test_status_page_shows_placeholders_beside_the_workload_they_serve(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "aa-room", ROOM)  # sorts first, shown after shop/web
    web.get_metrics("search", "api", {"calendars": "sales"})
    web.get_metrics("shop", "web", WEB)
    web.get_metrics("shop", "zz-room", {"headroomFor": "shop/nobody"})  # its workload never asked

    html = web.get("/").text

    assert _cards(html) == ["search/api", "shop/web", "shop/aa-room", "shop/zz-room"]
    room_card = html[html.index("shop/<b>aa-room") :].split("</article>")[0]
    assert "headroom for shop/web" in room_card and "headroomLead 10m" in room_card
    assert 'data-event="black-friday"' in room_card


def test_headroom_chart_from_the_served_timeline_equals_a_fresh_plan() -> None:
    store = CalendarStore({"sales": "sales.yaml"})
    store.publish("sales", parse_calendar(SALES, name="sales", origin="sales.yaml"))
    plans = PlanCache(store, clock=lambda: NOW)
    plans.timeline("shop", "web-room", ROOM)

    served = StatusPage(store, plans).render(NOW)
    store.report_failure("sales", "timeout", "no answer")
    planned = StatusPage(store, plans).render(NOW)

    step = re.compile(r'<path class="step" d="([^"]+)"')
    assert step.findall(served) == step.findall(planned)
    assert len(step.findall(served)) == 1
