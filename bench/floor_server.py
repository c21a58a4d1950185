"""The floor: a grpc.aio server with the scaler's grpcio setup that answers GetMetrics with a
constant, prebuilt response. Whatever it costs per call is grpcio's own work (HTTP/2, request
deserialization, response serialization, the event loop); the scaler is measured against it.

    python -m bench.floor_server --port 0     # prints "ready PORT" once it listens

Same setup as scaler.service.server.GrpcServer: created inside the running loop, no
SO_REUSEPORT, the default event loop (no uvloop), one process, and the same services
registered: ExternalScaler, grpc.health.v1.Health and server reflection, which the contract
requires. They matter for the floor: grpc.aio's accept loop waits on one future per
registered method, so each service costs every call a little (about 2% here). `--bare`
registers ExternalScaler alone. No metrics, no calendar: that is the scaler's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc

__all__ = ["FLOOR_VALUE", "FloorServicer", "serve"]

FLOOR_VALUE = 7
_VALUE = pb.MetricValue(metricName="sale-calendar", metricValue=FLOOR_VALUE,
                        metricValueFloat=FLOOR_VALUE)  # fmt: skip
_RESPONSE = pb.GetMetricsResponse(metricValues=[_VALUE])


class FloorServicer(pb_grpc.ExternalScalerServicer):  # type: ignore[misc]
    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricsResponse:
        return _RESPONSE


async def serve(host: str, port: int, *, bare: bool = False) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_ExternalScalerServicer_to_server(FloorServicer(), server)
    checks = health.aio.HealthServicer()
    if not bare:
        name = pb.DESCRIPTOR.services_by_name["ExternalScaler"].full_name
        health_pb2_grpc.add_HealthServicer_to_server(checks, server)
        reflection.enable_server_reflection((name, health.SERVICE_NAME, reflection.SERVICE_NAME),
                                            server)  # fmt: skip
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    if not bare:
        await checks.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"ready {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="no-op gRPC floor for the benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bare", action="store_true", help="ExternalScaler only")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, bare=args.bare))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
