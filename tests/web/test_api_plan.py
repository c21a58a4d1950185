"""/api/plan: the `calendar-scaler plan --format json` object, for the metadata KEDA last sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scaler.calendar.timefmt import format_instant
from scaler.cli import main
from tests.web.stack import NOW, SALES, WebStack


@pytest.fixture
def cli_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., Any]:
    """`calendar-scaler plan sales.yaml --format json` from NOW, as a user would run it."""
    path = tmp_path / "sales.yaml"
    path.write_text(SALES)

    def run(namespace: str, name: str, *meta: str, hours: int = 48) -> Any:
        args = ["plan", str(path), "--namespace", namespace, "--name", name, "--format", "json"]
        args += ["--from", format_instant(NOW), "--hours", str(hours)]
        for pair in meta:
            args += ["--meta", pair]
        capsys.readouterr()
        assert main(args) == 0
        return json.loads(capsys.readouterr().out)

    return run


def peak_during(plan: dict[str, Any], event: str) -> int:
    return max(p["replicas"] for p in plan["points"] if p["events"] == [event])


def test_plan_equals_the_cli_plan_json(
    stack: Callable[..., WebStack], cli_plan: Callable[..., Any]
) -> None:
    web = stack({"sales": SALES})

    response = web.get("/api/plan?namespace=shop&name=checkout&meta=baseReplicas=4")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert cli_plan("shop", "checkout", "baseReplicas=4") == response.json()


def test_plan_has_the_spec_shape(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    plan = web.get("/api/plan?namespace=shop&name=checkout&hours=6").json()

    assert list(plan) == ["workload", "from", "to", "points"]
    assert (
        plan["workload"],
        plan["from"],
        plan["to"],
    ) == ("shop/checkout", "2026-11-26T12:00:00Z", "2026-11-26T18:00:00Z")
    assert (plan["points"][0]) == {
        "at": "2026-11-26T12:00:00Z",
        "replicas": 12,
        "events": ["daily-time-sale"],
    }
    assert all(list(p) == ["at", "replicas", "events"] for p in plan["points"])


def test_plan_uses_the_metadata_keda_last_sent(
    stack: Callable[..., WebStack], cli_plan: Callable[..., Any]
) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "web", {"labels": "tier=frontend", "baseReplicas": "5"})

    plan = web.get("/api/plan?namespace=shop&name=web").json()

    assert cli_plan("shop", "web", "labels=tier=frontend", "baseReplicas=5") == plan
    assert peak_during(plan, "black-friday") == 15


def test_meta_overrides_what_keda_sent(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    web.get_metrics("shop", "web", {"labels": "tier=frontend", "baseReplicas": "5"})

    plan = web.get("/api/plan?namespace=shop&name=web&meta=baseReplicas=10").json()

    assert peak_during(plan, "black-friday") == 30


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        pytest.param("namespace=shop&name=web&meta=baseReplicas=many", "baseReplicas", id="number"),
        pytest.param("namespace=shop&name=web&meta=leadTime=soon", "leadTime", id="duration"),
        pytest.param("namespace=shop&name=web&meta=calendars=nope", "calendars", id="calendar"),
        pytest.param("namespace=shop&name=web&meta=noequals", "meta=KEY=VALUE", id="meta-form"),
        pytest.param("namespace=shop", "namespace and name", id="no-name"),
        pytest.param("namespace=shop&name=web&hours=0", "hours", id="hours-zero"),
        pytest.param("namespace=shop&name=web&hours=abc", "hours", id="hours-text"),
        pytest.param(
            "namespace=shop&name=web&meta=labels=tier=frontend", "baseReplicas", id="needed-key"
        ),
    ],
)
def test_bad_metadata_is_400_naming_the_key(
    stack: Callable[..., WebStack], query: str, mentions: str
) -> None:
    web = stack({"sales": SALES})

    response = web.get(f"/api/plan?{query}")

    assert response.status_code == 400
    assert mentions in response.json()["error"]


def test_calendar_never_loaded_is_503_naming_it(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES, "drops": None})

    response = web.get("/api/plan?namespace=shop&name=checkout")

    assert response.status_code == 503
    assert "calendar drops has not loaded" in response.json()["error"]


def test_workload_not_using_the_missing_calendar_gets_its_plan(
    stack: Callable[..., WebStack],
) -> None:
    web = stack({"sales": SALES, "drops": None})

    response = web.get("/api/plan?namespace=shop&name=checkout&meta=calendars=sales")

    assert response.status_code == 200
