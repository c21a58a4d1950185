"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.prometheus import PrometheusServer, Sample, start_prometheus


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[Iterable[Sample]], PrometheusServer]]:
    """`prometheus(samples)`: a real Prometheus holding the samples, stopped after the test."""
    started: list[PrometheusServer] = []

    def start(samples: Iterable[Sample] = ()) -> PrometheusServer:
        server = start_prometheus(tmp_path, samples)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
