"""A real scaler (gRPC and HTTP) on 127.0.0.1, in a thread, with a settable clock.

The HTTP server runs on the gRPC server's event loop and registry, as `serve` wires them, so
a test can call GetMetrics over a real channel and then read /metrics, /api/plan or the page.
Registry reads run on that loop too: the collector reads state the loop owns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import grpc
import httpx

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.service.peaks import PeakBook
from scaler.sources.store import CalendarStore
from scaler.web.server import WebServer
from tests.serverthread import Clock, ServerThread

T = TypeVar("T")

NOW = int(dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC).timestamp())  # a Thursday

# Asia/Tokyo is UTC+9: Tokyo midnight of the 27th is 15:00 UTC on the 26th.
SALES = """\
version: 1
timezone: Asia/Tokyo
defaults:
  leadTime: 15m
  rampUp: 10m
  rampDown: 10m
events:
  - name: black-friday
    start: 2026-11-27
    end: 2026-12-01
    scale: {factor: 3}
    targets:
      - labels: {tier: frontend}
      - namespace: shop
        name: "checkout*"
        scale: {replicas: 60}
  - name: daily-time-sale
    schedule: "0 21 * * *"
    duration: 1h
    scale: {replicas: 12}
  - name: flash-drop
    start: 2026-11-27T10:00
    duration: 2h
    leadTime: 0s
    rampUp: 0s
    rampDown: 0s
    scale: {replicas: 20}
  - name: paused-campaign
    start: 2026-11-26T22:00
    duration: 2h
    disabled: true
    scale: {replicas: 99}
"""


class WebStack:
    def __init__(
        self,
        calendars: dict[str, str | None],
        *,
        now: float | None = NOW,
        peaks: Callable[[CalendarStore], PeakBook] | None = None,
    ) -> None:
        self.clock = Clock(now)
        self.thread = ServerThread(calendars, clock=self.clock, peaks=peaks)
        self.registry = self.thread.server.registry
        self.web: WebServer = self.thread.run(self._start_web())
        self.url = f"http://127.0.0.1:{self.web.port}"
        self.channel = grpc.insecure_channel(self.thread.address)
        self.stub = pb_grpc.ExternalScalerStub(self.channel)

    async def _start_web(self) -> WebServer:
        web = WebServer(
            self.thread.store,
            self.thread.server.plans,
            registry=self.registry,
            host="127.0.0.1",
            port=0,
            problems=self.thread.server.servicer.problems,
            clock=self.clock,
        )
        await web.start()
        return web

    @property
    def store(self) -> CalendarStore:
        return self.thread.store

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def post(self, path: str) -> httpx.Response:
        return httpx.post(self.url + path, timeout=10)

    def run_on_loop(self, action: Callable[[], T]) -> T:
        """Run `action` on the server's event loop (where the store and caches live)."""

        async def call() -> T:
            return action()

        return self.thread.run(call())

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.run_on_loop(lambda: self.registry.get_sample_value(name, labels or {}))

    def get_metrics(self, namespace: str, name: str, metadata: dict[str, str] | None = None) -> int:
        ref = pb.ScaledObjectRef(namespace=namespace, name=name, scalerMetadata=metadata or {})
        spec = self.stub.GetMetricSpec(ref, timeout=10).metricSpecs[0]
        request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName)
        reply = self.stub.GetMetrics(request, timeout=10)
        return int(reply.metricValues[0].metricValue)

    def close(self) -> None:
        self.channel.close()
        self.thread.run(self.web.stop())
        self.thread.stop()

    def __enter__(self) -> WebStack:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
