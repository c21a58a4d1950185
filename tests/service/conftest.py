"""Fixtures: real scaler servers on loopback, channels to them, stream recorders; all cleaned up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2_grpc

from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from tests.serverthread import ServerThread
from tests.service.support import Client, StreamRecorder


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start a ServerThread (`serve({name: yaml_or_None}, clock=...)`); stopped after the test."""
    started: list[ServerThread] = []

    def start(
        calendars: dict[str, str | None], *, clock: Callable[[], float] = time.time
    ) -> ServerThread:
        server = ServerThread(calendars, clock=clock)
        started.append(server)
        return server

    yield start
    for server in started:
        if not server.loop.is_closed():  # the test may have stopped it already
            server.stop(grace=0.2)


@pytest.fixture
def connect(serve: Callable[..., ServerThread]) -> Iterator[Callable[[ServerThread], Client]]:
    """A real channel to a server, as KEDA would open; closed after the test."""
    channels: list[grpc.Channel] = []

    def open_channel(server: ServerThread) -> Client:
        channel = grpc.insecure_channel(server.address)
        channels.append(channel)
        return Client(
            channel, pb_grpc.ExternalScalerStub(channel), health_pb2_grpc.HealthStub(channel)
        )

    yield open_channel
    for channel in channels:
        channel.close()


@pytest.fixture
def record(connect: Callable[[ServerThread], Client]) -> Iterator[Callable[[Any], StreamRecorder]]:
    """Record a streaming call's messages on a thread; cancelled after the test."""
    recorders: list[StreamRecorder] = []

    def start(call: Any) -> StreamRecorder:
        recorder = StreamRecorder(call)
        recorders.append(recorder)
        return recorder

    yield start
    for recorder in recorders:
        recorder.close()
