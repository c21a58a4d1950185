"""Which ScaledObjects get errors, since when, and why: the status page, /api/workloads, the
`calendar_scaler_workload_error` metric and one log line per change read it.

KEDA shows a failing GetMetricSpec only as "got empty metric spec" in the ScaledObject's
events, so the scaler has to say itself which workload fails and why. A workload here is a
trigger as KEDA calls it: the ScaledObjectRef's namespace and name (never those of
`headroomFor`) and its `metricName`.

Calls are grouped by what they check. GetMetricSpec checks the metadata's syntax only; the
value calls (GetMetrics, IsActive, StreamIsActive) check everything. So a good value call
clears every error of the workload, a good GetMetricSpec clears only what GetMetricSpec said,
and a failing GetMetricSpec replaces the value calls' error (they would fail with it too).
Without the groups, KEDA's GetMetricSpec-then-GetMetrics poll of a workload whose calendar
needs a key it lacks would flip between ok and error on every poll.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from scaler.calendar.timefmt import format_instant
from scaler.calendar.workload import DEFAULT_METRIC_NAME, Workload
from scaler.service.plans import FORGET_AFTER

__all__ = ["Failure", "Problems", "WorkloadState"]

log = logging.getLogger("scaler.service")

SPEC_METHODS = frozenset({"GetMetricSpec", "StreamMetricSpec"})
SUPERSEDED_AFTER = 60  # seconds: see Problems._drop_superseded
_MAX_ENTRIES = 10_000  # a cluster has far fewer triggers; KEDA may send anything
_MAX_TEXT = 200  # characters kept of a name or metricName as sent
_MAX_MESSAGE = 1000  # characters kept of an error message


class _Ref(Protocol):
    namespace: str
    name: str

    @property
    def scalerMetadata(self) -> Mapping[str, str]: ...  # the proto field


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    method: str  # the RPC that failed
    message: str
    since: float  # when this message started


@dataclass(slots=True, kw_only=True)
class WorkloadState:
    namespace: str
    name: str
    metric: str
    last_seen: float
    spec: Failure | None = None  # GetMetricSpec's error
    value: Failure | None = None  # the value calls' error

    @property
    def error(self) -> Failure | None:
        """What the workload gets now: GetMetricSpec's error first (KEDA calls it first)."""
        spec, value = self.spec, self.value
        if spec is not None and value is not None and spec.message == value.message:
            return min(spec, value, key=lambda f: f.since)  # one error, seen by both
        return self.spec or self.value

    def to_json(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "namespace": self.namespace,
            "name": self.name,
            "metric": self.metric,
            "last_seen": format_instant(int(self.last_seen)),
            "state": "ok",
        }
        error = self.error
        if error is not None:
            entry |= {
                "state": "error",
                "error": error.message,
                "since": format_instant(int(error.since)),
                "method": error.method,
            }
        return entry


def _metric(metadata: Mapping[str, str]) -> str:
    """The metricName a workload whose metadata did not parse asked for, as parsing reads it."""
    text = metadata.get("metricName") or metadata.get("metricNameFromEnv") or ""
    return text.strip()[:_MAX_TEXT] or DEFAULT_METRIC_NAME


class Problems:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # ScaledObject (namespace, name) -> metricName -> state: siblings are found at once.
        self._objects: dict[tuple[str, str], dict[str, WorkloadState]] = {}
        self._count = 0
        self._failing = 0  # states with an error: the fast path checks nothing else while 0

    def answered(self, method: str, ref: _Ref, workload: Workload) -> None:
        """A call succeeded (on every GetMetrics: a lookup while nothing fails)."""
        siblings, state = self._state(ref, workload.metric_name)
        if self._failing == 0:
            return
        if state.spec is not None or state.value is not None:
            before = state.error
            state.spec = None
            if method not in SPEC_METHODS:
                state.value = None
            self._changed(state, before)
        if len(siblings) > 1:
            self._drop_superseded(siblings, state)

    def failed(self, method: str, ref: _Ref, workload: Workload | None, error: Exception) -> None:
        """A call is answered with `error` (workload: None when the metadata did not parse)."""
        metric = workload.metric_name if workload is not None else _metric(ref.scalerMetadata)
        _, state = self._state(ref, metric)
        before = state.error
        message = str(error)[:_MAX_MESSAGE]
        old = state.spec if method in SPEC_METHODS else state.value
        failure = (
            old
            if old is not None and old.message == message
            else Failure(method=method, message=message, since=state.last_seen)
        )
        if method in SPEC_METHODS:
            state.spec, state.value = failure, None
        else:
            state.value = failure
        self._changed(state, before)

    def workloads(self, within: float = FORGET_AFTER) -> list[WorkloadState]:
        """Workloads asked about in the last `within` seconds, by namespace, name, metric."""
        now = self._clock()
        self._forget_older(now - FORGET_AFTER)
        return sorted(
            (s for siblings in self._objects.values() for s in siblings.values()
             if s.last_seen >= now - within),
            key=lambda s: (s.namespace, s.name, s.metric),
        )  # fmt: skip

    def failing(self) -> list[WorkloadState]:
        """Workloads whose last call failed (the status page's Problems section)."""
        return [s for s in self.workloads() if s.error is not None]

    # -- bookkeeping ---------------------------------------------------------------------------

    def _state(self, ref: _Ref, metric: str) -> tuple[dict[str, WorkloadState], WorkloadState]:
        now = self._clock()
        # Bounded keys: KEDA sends Kubernetes names, anyone else may send megabytes.
        namespace, name = ref.namespace[:_MAX_TEXT], ref.name[:_MAX_TEXT]
        siblings = self._objects.get((namespace, name))
        state = None if siblings is None else siblings.get(metric)
        if state is None:
            if self._count >= _MAX_ENTRIES:
                self._forget_older(now - FORGET_AFTER)
            if self._count >= _MAX_ENTRIES:  # all recent: KEDA does not send that many
                oldest = next(iter(self._objects))
                for s in self._objects.pop(oldest).values():
                    self._count -= 1
                    self._failing -= s.spec is not None or s.value is not None
            siblings = self._objects.setdefault((namespace, name), {})
            state = siblings[metric] = WorkloadState(
                namespace=namespace, name=name, metric=metric, last_seen=now
            )
            self._count += 1
        state.last_seen = now
        assert siblings is not None
        return siblings, state

    def _forget_older(self, cutoff: float) -> None:
        for key, siblings in list(self._objects.items()):
            for metric, state in list(siblings.items()):
                if state.last_seen < cutoff:
                    self._forget(siblings, metric)
            if not siblings:
                del self._objects[key]

    def _forget(self, siblings: dict[str, WorkloadState], metric: str) -> None:
        state = siblings.pop(metric)
        self._count -= 1
        self._failing -= state.spec is not None or state.value is not None

    def _changed(self, state: WorkloadState, before: Failure | None) -> None:
        after = state.error
        self._failing += (after is not None) - (before is not None)
        if (before and before.message) == (after and after.message):
            return
        where = {"workload": f"{state.namespace}/{state.name}", "metric": state.metric}
        if after is None:
            assert before is not None
            since = format_instant(int(before.since))
            log.info("workload error cleared", extra={**where, "since": since})
        else:
            event = "workload error" if before is None else "workload error changed"
            log.warning(event, extra={**where, "method": after.method, "error": after.message})

    def _drop_superseded(self, siblings: dict[str, WorkloadState], state: WorkloadState) -> None:
        """Forget failing siblings (same ScaledObject, other metricName) not asked about for
        SUPERSEDED_AFTER seconds while this one was: the trigger's metricName changed, and the
        old name would otherwise be listed as failing for an hour. (KEDA asks about every
        trigger of a ScaledObject in the same poll.)"""
        for metric, other in list(siblings.items()):
            error = other.error
            if error is not None and state.last_seen - other.last_seen > SUPERSEDED_AFTER:
                self._forget(siblings, metric)
                log.info("workload error cleared", extra={
                    "workload": f"{other.namespace}/{other.name}", "metric": metric,
                    "since": format_instant(int(error.since)),
                    "reason": f"not asked about since metricName {state.metric!r} was",
                })  # fmt: skip
