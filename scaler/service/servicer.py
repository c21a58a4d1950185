"""KEDA's `externalscaler.ExternalScaler`, answered from the plan cache.

Behaviour KEDA depends on (see FIELD-NOTES.md):
- GetMetricSpec checks metadata syntax only: if it failed on calendar content, the
  ScaledObject's fallback would never engage (KEDA #8056) and its other triggers would fail
  too (#5914).
- GetMetrics returns exactly one MetricValue: KEDA sums them all.
- A calendar that never loaded is UNAVAILABLE, never a silent 0: the HPA does not scale down
  while a metric is invalid (kubernetes #99514).
- StreamIsActive writes only on change (every `true` refreshes KEDA's cooldown) and ends with
  OK on shutdown, so KEDA reconnects without backoff.

GetMetrics is registered without a deserializer or serializer (`add_to_server`): it takes the
request's wire bytes and gives the answer's. KEDA asks the same question on every poll, so an
answer is remembered for the exact bytes asked (`_Answer`) while it cannot change: the same
snapshot, the same value (up to the timeline's next change point) and at most `RECHECK`
seconds, after which the call takes the full path again and with it the bookkeeping (the
workload's last call, for the status page). A remembered answer costs a dictionary lookup and
three comparisons: the scaler's instructions per GetMetrics went from 1.08x the no-op floor's
to 1.02x (bench/RESULTS.md, item 43). Go writes a map's entries in no fixed order, so one
ScaledObject's requests can come in several byte forms: each is remembered, and a form not
seen yet is answered by the full path, as every call was before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.errors import CalendarUnavailable, MetadataError, PlanPending, ScalerError
from scaler.service.plans import PlanCache, Timeline
from scaler.service.problems import Problems
from scaler.service.wire import Undecodable, decode, reject

__all__ = ["RECHECK", "SERVICE_NAME", "ExternalScalerServicer", "add_to_server"]

RECHECK = 1.0  # seconds a remembered GetMetrics answer is served without the full path
_ANSWERS_MAX = 4096  # remembered answers (then all are forgotten at once: a burst of misses)
_ANSWER_KEY_MAX = 1024  # bytes: a longer request is answered, not remembered (< 5 MB in all)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ExternalScaler"].full_name
_GET_METRICS = f"/{SERVICE_NAME}/GetMetrics"

_ACTIVE = pb.IsActiveResponse(result=True)
_INACTIVE = pb.IsActiveResponse(result=False)


async def _abort(context: grpc.aio.ServicerContext, error: ScalerError) -> None:
    code = (
        grpc.StatusCode.UNAVAILABLE
        if isinstance(error, (CalendarUnavailable, PlanPending))
        else (grpc.StatusCode.INVALID_ARGUMENT)
    )
    await context.abort(code, str(error))


class ExternalScalerServicer(pb_grpc.ExternalScalerServicer):  # type: ignore[misc]
    def __init__(self, plans: PlanCache, *, clock: Callable[[], float] = time.time) -> None:
        self._plans = plans
        self._clock = clock
        self._stopping = asyncio.Event()
        self._answers: dict[bytes, _Answer] = {}  # GetMetrics' by request bytes
        self.problems = Problems(clock=clock)  # who gets errors: status page, logs

    def shutdown(self) -> None:
        """End every open stream with OK (graceful shutdown)."""
        self._stopping.set()

    async def _timeline(
        self,
        method: str,
        ref: pb.ScaledObjectRef,
        context: grpc.aio.ServicerContext,
        *,
        patient: bool = False,
    ) -> Timeline:
        """The request's timeline, noted in `problems`. A unary call waits for a build a
        bounded time, then gets UNAVAILABLE (not a problem: the next call gets the answer); a
        stream (`patient`) waits as long as the build takes: it has no deadline."""
        try:
            timeline = await self._plans.timeline_of(ref, patient=patient)
        except PlanPending as exc:
            await _abort(context, exc)
            raise  # unreachable: abort raises
        if timeline.error is not None:
            self.problems.failed(method, ref, timeline.workload, timeline.error)
            await _abort(context, timeline.error)
        assert timeline.workload is not None
        self.problems.answered(method, ref, timeline.workload)
        return timeline

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.GetMetricSpecResponse:
        try:
            workload = self._plans.workload(request.namespace, request.name, request.scalerMetadata)
        except MetadataError as exc:
            self.problems.failed("GetMetricSpec", request, None, exc)
            await _abort(context, exc)
            raise  # unreachable: abort raises
        self.problems.answered("GetMetricSpec", request, workload)
        return _spec(workload.metric_name)

    async def GetMetrics(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        answer = self._answers.get(request)
        if (
            answer is not None
            and answer.version == self._plans.version
            and answer.since <= self._clock() < answer.until
        ):
            return answer.body
        return await self._get_metrics(request, context)

    async def _get_metrics(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        message = decode(pb.GetMetricsRequest.FromString, request)
        if type(message) is Undecodable:
            await reject(context, _GET_METRICS, message)
        timeline = await self._timeline("GetMetrics", message.scaledObjectRef, context)
        assert timeline.workload is not None
        now = self._clock()
        value = timeline.value(now)
        name = message.metricName or timeline.workload.metric_name
        metric = pb.MetricValue(metricName=name, metricValue=value, metricValueFloat=value)
        body: bytes = pb.GetMetricsResponse(metricValues=[metric]).SerializeToString()
        if len(request) <= _ANSWER_KEY_MAX:
            if len(self._answers) >= _ANSWERS_MAX:
                self._answers.clear()
            since, until = timeline.steady(now)
            self._answers[request] = _Answer(
                body, timeline.version, since, min(until, now + RECHECK)
            )
        return body

    async def IsActive(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> pb.IsActiveResponse:
        timeline = await self._timeline("IsActive", request, context)
        return _ACTIVE if timeline.value(self._clock()) > 0 else _INACTIVE

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.IsActiveResponse]:
        sent: bool | None = None
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                changed = self._plans.changed()  # taken before reading: no swap is missed
                timeline = await self._timeline("StreamIsActive", request, context, patient=True)
                now = self._clock()
                active = timeline.value(now) > 0
                if active != sent:
                    yield _ACTIVE if active else _INACTIVE
                    sent = active
                wake = timeline.next_activity_change(now)
                timeout = None if wake is None else max(0.0, wake - self._clock())
                if timeout is None or timeout > timeline.valid_until - now:
                    timeout = max(0.0, timeline.valid_until - now)
                waiter = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait(
                        {waiter, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waiter.cancel()
        finally:
            stopping.cancel()

    async def StreamMetricSpec(
        self, request: pb.ScaledObjectRef, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        yield await self.GetMetricSpec(request, context)
        await self._stopping.wait()


@dataclass(frozen=True, slots=True)
class _Answer:
    """A GetMetrics answer (its wire bytes), served again to the same request bytes while the
    snapshot is `version` and the clock is in [since, until)."""

    body: bytes
    version: int
    since: float
    until: float


class _Taken:
    """Where the generated add_ExternalScalerServicer_to_server puts its handlers."""

    handlers: Mapping[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, _: object) -> None:
        pass  # made again from the registered handlers

    def add_registered_method_handlers(
        self, _: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        self.handlers = handlers


def add_to_server(servicer: ExternalScalerServicer, server: Any) -> None:
    """Register `servicer` on `server` as the generated add_ExternalScalerServicer_to_server
    does, but with GetMetrics taking and giving wire bytes (no deserializer, no serializer)."""
    taken = _Taken()
    pb_grpc.add_ExternalScalerServicer_to_server(servicer, taken)
    handlers = {
        **taken.handlers,
        "GetMetrics": grpc.unary_unary_rpc_method_handler(servicer.GetMetrics),
    }
    generic = grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)
    server.add_generic_rpc_handlers((generic,))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)


def _spec(metric_name: str) -> pb.GetMetricSpecResponse:
    return pb.GetMetricSpecResponse(
        metricSpecs=[pb.MetricSpec(metricName=metric_name, targetSize=1, targetSizeFloat=1.0)]
    )
