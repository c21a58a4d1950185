"""Fixtures: a real scaler (gRPC + HTTP) per test, stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.web.stack import NOW, WebStack


@pytest.fixture
def stack() -> Iterator[Callable[..., WebStack]]:
    """`stack({name: yaml_or_None}, now=NOW)`: a started WebStack; None as `now` is real time."""
    started: list[WebStack] = []

    def start(calendars: dict[str, str | None], *, now: float | None = NOW) -> WebStack:
        web = WebStack(calendars, now=now)
        started.append(web)
        return web

    yield start
    for web in started:
        web.close()
