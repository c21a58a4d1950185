"""RPC metrics, taken in a server interceptor around each handler.

Counters and histograms are resolved to their labelled children once per (method, code), so
timing a call costs a few microseconds; values that can be read at scrape time (served
values, source health) are collected then, by the web layer, not on every RPC.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

__all__ = ["RpcMetrics"]

# `_created` series double the output and nobody alerts on them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Own work is ~0.1 ms; KEDA's HPA path allows ~3 s for three calls.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)


class RpcMetrics(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "calendar_scaler_grpc_requests",
            "gRPC requests handled, by method and status code.",
            ["method", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "calendar_scaler_grpc_request_duration_seconds",
            "Time spent handling unary gRPC requests (streams: time to the end of the stream "
            "is not measured).",
            ["method"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str], Any] = {}
        self._timers: dict[str, Any] = {}

    def _count(self, method: str, code: str) -> None:
        child = self._children.get((method, code))
        if child is None:
            child = self._children[(method, code)] = self.requests.labels(method, code)
        child.inc()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            inner = handler.unary_unary
            timer = self._timers.get(method)
            if timer is None:
                timer = self._timers[method] = self.latency.labels(method)

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = time.perf_counter()
                try:
                    response = await inner(request, context)
                except BaseException:
                    self._count(method, _code_name(context, "UNKNOWN"))
                    raise
                finally:
                    timer.observe(time.perf_counter() - started)
                self._count(method, _code_name(context, "OK"))
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        # grpc.aio serves a unary-stream handler in one of two styles, told apart by
        # inspecting the function: an async generator (our StreamIsActive) or a coroutine
        # that writes with context.write (the health service's Watch). The wrapper must keep
        # the style of the handler it wraps, or the call fails with a TypeError.
        if handler.unary_stream is not None and inspect.isasyncgenfunction(handler.unary_stream):
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                try:
                    async for item in inner_stream(request, context):
                        yield item
                except BaseException:
                    self._count(method, _code_name(context, "CANCELLED"))
                    raise
                self._count(method, _code_name(context, "OK"))

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None and inspect.iscoroutinefunction(handler.unary_stream):
            inner_writer = handler.unary_stream

            async def writer(request: Any, context: grpc.aio.ServicerContext) -> None:
                try:
                    await inner_writer(request, context)
                except BaseException:
                    self._count(method, _code_name(context, "CANCELLED"))
                    raise
                self._count(method, _code_name(context, "OK"))

            return grpc.unary_stream_rpc_method_handler(
                writer,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _code_name(context: grpc.aio.ServicerContext, default: str) -> str:
    try:
        code = context.code()
    except Exception:
        return default
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return default
