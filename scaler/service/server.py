"""The gRPC server: KEDA's ExternalScaler, health and reflection on one grpc.aio server.

Created inside the running event loop (grpc.aio requires it). SO_REUSEPORT is off, so a
second scaler on the same port fails to bind instead of silently stealing connections.

The server pings its clients: KEDA sets no keepalive, and StreamIsActive writes only when the
value changes, so without pings a connection whose peer vanished (a node gone, a NAT entry
dropped) and its streams would be held for ever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry

from scaler.errors import ScalerError
from scaler.service.peaks import PeakBook
from scaler.service.plans import PlanCache
from scaler.service.servicer import SERVICE_NAME, ExternalScalerServicer, add_to_server
from scaler.service.telemetry import RpcMetrics
from scaler.sources.store import CalendarStore

__all__ = ["SERVICE_NAME", "GrpcServer", "Keepalive"]

log = logging.getLogger("scaler.service")


@dataclass(frozen=True, kw_only=True)
class Keepalive:
    interval: float = 60.0  # seconds without activity on a connection before the server pings
    timeout: float = 20.0  # seconds to wait for the ping's answer before closing the connection

    def options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.keepalive_time_ms", round(self.interval * 1000)),
            ("grpc.keepalive_timeout_ms", round(self.timeout * 1000)),
            # grpcio 1.85 waits for a ping's answer this long, not keepalive_timeout_ms (its
            # default, 60 s, held an unanswered connection open for a minute in tests here).
            ("grpc.http2.ping_timeout_ms", round(self.timeout * 1000)),
            # A connection that only polls has no call in flight most of the time: ping it too.
            ("grpc.keepalive_permit_without_calls", 1),
        ]


class GrpcServer:
    def __init__(
        self,
        store: CalendarStore,
        *,
        address: str = "[::]:9090",
        credentials: grpc.ServerCredentials | None = None,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        keepalive: Keepalive = Keepalive(),
        peaks: PeakBook | None = None,
    ) -> None:
        self.store = store
        self.keepalive = keepalive
        self.address = address
        self.credentials = credentials
        self.registry = registry if registry is not None else CollectorRegistry()
        self.plans = PlanCache(store, clock=clock, peaks=peaks)
        self.servicer = ExternalScalerServicer(self.plans, clock=clock)
        self.health = health.aio.HealthServicer()
        self.rpc_metrics = RpcMetrics(self.registry)
        self.port = 0
        self._server: grpc.aio.Server | None = None

    async def start(self) -> int:
        server = grpc.aio.server(options=[("grpc.so_reuseport", 0), *self.keepalive.options()])
        # Metrics wrap each handler once, as it is registered: an interceptor would run on
        # every call (about a fifth of grpcio's own per-call cost, see bench/RESULTS.md).
        services = self.rpc_metrics.instrument(server)
        add_to_server(self.servicer, services)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, services)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), services
        )
        try:
            if self.credentials is None:
                self.port = server.add_insecure_port(self.address)
            else:
                self.port = server.add_secure_port(self.address, self.credentials)
        except RuntimeError as exc:
            raise ScalerError(
                f"cannot listen for gRPC on {self.address} ({exc}); is another process using "
                "the port? choose another with --grpc-port"
            ) from exc
        await server.start()
        self._server = server
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving gRPC", extra={"address": self.address, "port": self.port,
                                        "tls": self.credentials is not None})  # fmt: skip
        return self.port

    async def stop(self, grace: float) -> None:
        """Drain: report NOT_SERVING, end streams with OK, let calls finish within `grace`."""
        await self.health.enter_graceful_shutdown()
        self.servicer.shutdown()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        await self.plans.close()
