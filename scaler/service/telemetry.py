"""RPC metrics, taken by a wrapper around each method handler, which also turns request
bodies that are not valid messages into INVALID_ARGUMENT (scaler.service.wire).

The wrappers are made once, when the services are registered (`RpcMetrics.instrument`), not per
call: a grpc.aio interceptor runs on every call and cost about a fifth of grpcio's own per-call
work here (bench/RESULTS.md), more than the whole answer. A call adds to plain counters (the
event loop is the only writer) that a collector turns into the Prometheus counter and histogram
at scrape time: a fraction of a microsecond, where prometheus_client's locked counter and
histogram took about one. Values that can be read at scrape time (served values, source
health) are collected then too, by the web layer, not on every RPC.
"""

from __future__ import annotations

import inspect
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from itertools import accumulate
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from scaler.service.wire import Undecodable, lenient, log_undecodable, reject, undecodable_message

__all__ = ["InstrumentedServer", "RpcMetrics"]

# `_created` series double the output and nobody alerts on them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Own work is ~0.1 ms; KEDA's HPA path allows ~3 s for three calls.
_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)


_LE = [*(floatToGoString(b) for b in _BUCKETS), "+Inf"]  # type: ignore[no-untyped-call]
_REQUESTS = ("calendar_scaler_grpc_requests", "gRPC requests handled, by method and status code.")
_LATENCY = (
    "calendar_scaler_grpc_request_duration_seconds",
    "Time spent handling unary gRPC requests (streams: time to the end of the stream is not "
    "measured).",
)


class _Tally:
    """One method's calls: counts by status code and, for unary methods, a latency histogram."""

    __slots__ = ("buckets", "codes", "seconds", "timed")

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.buckets = [0] * len(_LE)  # not cumulative; the last one is +Inf
        self.seconds = 0.0
        self.timed = False


class RpcMetrics(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, registry: CollectorRegistry) -> None:
        self._tallies: dict[str, _Tally] = {}
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}  # interceptor use: per method
        registry.register(self)

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily(*_REQUESTS, labels=["method", "code"]),
                HistogramMetricFamily(*_LATENCY, labels=["method"])]  # fmt: skip

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(*_REQUESTS, labels=["method", "code"])
        latency = HistogramMetricFamily(*_LATENCY, labels=["method"])
        for method, tally in list(self._tallies.items()):
            for code, count in list(tally.codes.items()):
                requests.add_metric([method, code], count)
            if tally.timed:
                buckets = list(zip(_LE, accumulate(tally.buckets), strict=True))
                latency.add_metric([method], buckets, tally.seconds)
        yield requests
        yield latency

    def _tally(self, method: str) -> _Tally:
        tally = self._tallies.get(method)
        if tally is None:
            tally = self._tallies[method] = _Tally()
        return tally

    def instrument(self, server: grpc.aio.Server) -> InstrumentedServer:
        """The server to register services on: their handlers are wrapped as they are added."""
        return InstrumentedServer(server, self)

    def _count(self, method: str, code: str) -> None:
        codes = self._tally(method).codes
        codes[code] = codes.get(code, 0) + 1

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Still usable as an interceptor (slower: see the module docstring)."""
        wrapped = self._wrapped.get(details.method)
        if wrapped is None:
            handler = await continuation(details)
            if handler is None:
                return handler
            wrapped = self._wrapped[details.method] = self.wrap(details.method, handler)
        return wrapped

    def wrap(self, full_method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler`, counting and timing its calls (`full_method`: /package.Service/Method)."""
        method = full_method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            inner = handler.unary_unary
            tally = self._tally(method)
            tally.timed = True
            codes, buckets = tally.codes, tally.buckets
            clock = time.perf_counter

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = clock()
                try:
                    if type(request) is Undecodable:
                        await reject(context, full_method, request)
                    response = await inner(request, context)
                except BaseException:
                    code = _code_name(context, "UNKNOWN")
                    codes[code] = codes.get(code, 0) + 1
                    raise
                finally:
                    elapsed = clock() - started
                    buckets[bisect_left(_BUCKETS, elapsed)] += 1  # the first bound >= elapsed
                    tally.seconds += elapsed
                code = _code_name(context, "OK")
                codes[code] = codes.get(code, 0) + 1
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary,
                request_deserializer=lenient(handler.request_deserializer),
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
                    if type(request) is Undecodable:
                        await reject(context, full_method, request)
                    async for item in inner_stream(request, context):
                        yield item
                except BaseException:
                    self._count(method, _code_name(context, "CANCELLED"))
                    raise
                self._count(method, _code_name(context, "OK"))

            return grpc.unary_stream_rpc_method_handler(
                stream,
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None and inspect.iscoroutinefunction(handler.unary_stream):
            inner_writer = handler.unary_stream

            async def writer(request: Any, context: grpc.aio.ServicerContext) -> None:
                try:
                    if type(request) is Undecodable:
                        await reject(context, full_method, request)
                    await inner_writer(request, context)
                except BaseException:
                    self._count(method, _code_name(context, "CANCELLED"))
                    raise
                self._count(method, _code_name(context, "OK"))

            return grpc.unary_stream_rpc_method_handler(
                writer,
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None and inspect.isgeneratorfunction(handler.stream_stream):
            # Reflection: a plain generator, which grpc.aio runs in a thread.
            inner_sync = handler.stream_stream

            def checked_sync(requests: Any, context: Any) -> Any:
                for request in requests:
                    if type(request) is Undecodable:
                        log_undecodable(full_method, request)
                        context.abort(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            undecodable_message(full_method, request),
                        )
                        # The sync context's abort returns instead of raising: end the
                        # requests, or the handler's thread reads on and can hang for good
                        # once the server stops (and with it the interpreter's exit).
                        return
                    yield request

            def bidi_sync(requests: Any, context: Any) -> Any:
                yield from inner_sync(checked_sync(requests, context), context)

            return grpc.stream_stream_rpc_method_handler(
                bidi_sync,
                request_deserializer=lenient(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        return handler


class InstrumentedServer:
    """A grpc.aio server as the generated `add_*Servicer_to_server` functions see it: the
    handlers they register are wrapped by RpcMetrics once, here; everything else passes through."""

    def __init__(self, server: grpc.aio.Server, metrics: RpcMetrics) -> None:
        self._server = server
        self._metrics = metrics

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        wrapped = {m: self._metrics.wrap(f"/{service}/{m}", h) for m, h in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_WrappedGeneric(h, self._metrics) for h in handlers)
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class _WrappedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, inner: grpc.GenericRpcHandler, metrics: RpcMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        wrapped = self._wrapped.get(details.method)
        if wrapped is None:
            handler = self._inner.service(details)
            if handler is None:
                return None
            wrapped = self._wrapped[details.method] = self._metrics.wrap(details.method, handler)
        return wrapped


def _code_name(context: grpc.aio.ServicerContext, default: str) -> str:
    try:
        code = context.code()
    except Exception:
        return default
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return default
