"""/healthz and /readyz as Kubernetes probes read them."""

from __future__ import annotations

from collections.abc import Callable

from scaler.calendar.parsing import parse_calendar
from tests.web.stack import SALES, WebStack


def test_healthz_is_200_while_serving(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": None})

    response = web.get("/healthz")

    assert (response.status_code, response.text) == (200, "ok\n")


def test_readyz_is_503_naming_the_calendars_not_loaded(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES, "drops": None, "partners": None})

    response = web.get("/readyz")

    assert response.status_code == 503
    assert "drops, partners" in response.text
    assert "sales" not in response.text


def test_readyz_turns_200_once_every_calendar_loaded(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES, "drops": None})
    assert web.get("/readyz").status_code == 503

    web.thread.publish(parse_calendar(SALES, name="drops", origin="drops.yaml"))

    assert (web.get("/readyz").status_code, web.get("/readyz").text) == (200, "ready\n")


def test_unknown_path_is_404_and_post_is_405(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    assert web.get("/nope").status_code == 404
    assert web.post("/healthz").status_code == 405
