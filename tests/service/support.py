"""Pieces shared by the service tests: requests, calendars, and a recorder for server streams."""

from __future__ import annotations

import datetime as dt
import queue
import textwrap
import threading
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import grpc
from grpc_health.v1 import health_pb2_grpc

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.cli import example_calendar

CALL_TIMEOUT = 5.0  # seconds per unary call: a hung server fails the test, not the suite

__all__ = [
    "BF_END",
    "BF_START",
    "CALL_TIMEOUT",
    "EXAMPLE",
    "Client",
    "StreamRecorder",
    "calendar_yaml",
    "metrics_request",
    "one_off",
    "ref",
    "rfc3339",
    "tokyo",
]

EXAMPLE = example_calendar().read_text()  # the calendar shipped with the package
TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo(*parts: int) -> int:
    """Epoch seconds of a Tokyo wall-clock time (the example calendar's zone)."""
    return int(dt.datetime(*parts, tzinfo=TOKYO).timestamp())


# Black Friday in the example calendar: 2026-11-27 00:00 to 2026-12-01 00:00 Tokyo, factor 3
# for tier=frontend, 60 replicas for shop/checkout*, with the calendar's defaults: lead 15m,
# ramp up 10m and down 10m, 5 steps.
BF_START = tokyo(2026, 11, 27)
BF_END = tokyo(2026, 12, 1)


@dataclass(frozen=True)
class Client:
    """Stubs on one real channel to a test server."""

    channel: grpc.Channel
    scaler: pb_grpc.ExternalScalerStub
    health: health_pb2_grpc.HealthStub


def ref(namespace: str = "shop", name: str = "web", **metadata: str) -> pb.ScaledObjectRef:
    """A ScaledObjectRef as KEDA sends it (every metadata value a string)."""
    return pb.ScaledObjectRef(namespace=namespace, name=name, scalerMetadata=metadata)


def metrics_request(scaled_object: pb.ScaledObjectRef, metric_name: str) -> pb.GetMetricsRequest:
    return pb.GetMetricsRequest(scaledObjectRef=scaled_object, metricName=metric_name)


def rfc3339(instant: float, offset_hours: int = 9) -> str:
    """An instant written as RFC 3339 with a non-UTC offset (the calendar must honour it)."""
    zone = dt.timezone(dt.timedelta(hours=offset_hours))
    return dt.datetime.fromtimestamp(instant, zone).isoformat()


def calendar_yaml(events: str, *, timezone: str = "UTC") -> str:
    """A version 1 calendar around an indented YAML list of events."""
    return f"version: 1\ntimezone: {timezone}\nevents:\n{textwrap.indent(events.strip(), '  ')}\n"


def one_off(name: str, start: str, duration: str, scale: str, extra: str = "") -> str:
    """One event as YAML list text; `extra` adds lines (e.g. targets) inside the event."""
    lines = [f"- name: {name}", f"  start: {start}", f"  duration: {duration}", f"  scale: {scale}"]
    lines += [f"  {line}" for line in textwrap.dedent(extra).strip().splitlines()]
    return "\n".join(lines)


class StreamRecorder:
    """Reads a server-streaming call on a thread, noting the wall-clock arrival of each message.

    The test thread then waits for messages with a timeout, asserts that none arrive within a
    window, or waits for the stream's end and reads its status code.
    """

    def __init__(self, call: Any) -> None:
        self.call = call  # a sync grpc streaming call: an iterator and a grpc.Call
        self._messages: queue.Queue[tuple[float, Any]] = queue.Queue()
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self._messages.put((time.time(), message))
        except grpc.RpcError:
            pass  # the status is read from the call in `end`
        finally:
            self.ended.set()

    def next(self, timeout: float) -> tuple[float, Any]:
        """(arrival time, message) of the next message; fails the test after `timeout` seconds."""
        try:
            return self._messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no stream message within {timeout} s") from None

    def quiet_for(self, seconds: float) -> list[Any]:
        """Messages that arrive within the next `seconds` (a quiet stream gives [])."""
        deadline = time.monotonic() + seconds
        seen: list[Any] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(self._messages.get(timeout=left)[1])
            except queue.Empty:
                break
        return seen

    def end(self, timeout: float = 5.0) -> grpc.StatusCode:
        """The stream's status code once it has ended."""
        if not self.ended.wait(timeout):
            raise AssertionError(f"stream still open after {timeout} s")
        code: grpc.StatusCode = self.call.code()
        return code

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(timeout=5)
