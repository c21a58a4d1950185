"""The HTTP port as a client sees it: status codes for what it will not serve, and the headers
every answer carries."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from scaler.web.server import MAX_HEADERS, MAX_REQUEST_LINE
from tests.web.stack import SALES, WebStack

PLAN = "/api/plan?namespace=shop&name=web&hours="


@pytest.mark.parametrize(
    "hours",
    [
        pytest.param("1e-9", id="exponent"),
        pytest.param("1_0", id="underscore"),
        pytest.param("\u0663", id="arabic-indic-digit"),
        pytest.param("0.0001", id="under-a-second"),
        pytest.param("0", id="zero"),
        pytest.param("745", id="over-31-days"),
        pytest.param("-1", id="negative"),
        pytest.param("NaN", id="nan"),
        pytest.param("", id="empty"),
    ],
)
def test_plan_hours_that_are_not_a_plain_decimal_in_range_are_400(
    stack: Callable[..., WebStack], hours: str
) -> None:
    web = stack({"sales": SALES})

    response = web.get(PLAN + hours)

    assert response.status_code == 400
    assert "give a plain decimal number of hours" in response.json()["error"]


@pytest.mark.parametrize("hours", ["0.5", "744", "48"])
def test_plan_hours_as_plain_decimals_are_served(
    stack: Callable[..., WebStack], hours: str
) -> None:
    web = stack({"sales": SALES})

    assert web.get(PLAN + hours).status_code == 200


def test_request_line_over_the_limit_is_414(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    response = web.get("/api/plan?namespace=shop&name=" + "x" * MAX_REQUEST_LINE)

    assert response.status_code == 414
    assert "shorten the URL" in response.text


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({f"x-h{i}": "1" for i in range(MAX_HEADERS + 1)}, id="too-many"),
        pytest.param({"x-long": "v" * MAX_REQUEST_LINE}, id="one-too-long"),
        pytest.param({f"x-h{i}": "v" * 4000 for i in range(5)}, id="too-large-in-all"),  # > 16 KiB,
    ],
)
def test_headers_over_the_limits_are_431(
    stack: Callable[..., WebStack], headers: dict[str, str]
) -> None:
    web = stack({"sales": SALES})

    response = httpx.get(web.url + "/healthz", headers=headers, timeout=10)

    assert response.status_code == 431
    assert "send fewer or shorter headers" in response.text


def test_headers_within_the_limits_are_served(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})
    headers = {f"x-h{i}": "v" * 100 for i in range(MAX_HEADERS - 10)}

    assert httpx.get(web.url + "/healthz", headers=headers, timeout=10).status_code == 200


def test_a_request_sent_slowly_past_the_limit_still_gets_its_answer(
    stack: Callable[..., WebStack],
) -> None:
    """The server answers 414 before the client has sent everything, and reads the rest before
    closing: a close with unread input would reset the connection and lose the answer."""
    web = stack({"sales": SALES})
    with socket.create_connection(("127.0.0.1", web.web.port), timeout=10) as sock:
        sock.sendall(b"GET /" + b"x" * (4 * MAX_REQUEST_LINE))
        sock.sendall(b"x" * (64 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 414 URI Too Long\r\n")


def test_method_not_allowed_says_which_are(stack: Callable[..., WebStack]) -> None:
    web = stack({"sales": SALES})

    response = httpx.post(web.url + "/api/plan", content=b"x" * 100_000, timeout=10)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    ["/", "/healthz", "/readyz", "/metrics", "/api/workloads", PLAN + "48", PLAN + "x", "/nope"],
)
def test_every_answer_says_nosniff(stack: Callable[..., WebStack], path: str) -> None:
    web = stack({"sales": SALES})

    assert web.get(path).headers["x-content-type-options"] == "nosniff"
