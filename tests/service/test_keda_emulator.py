"""The scaler as KEDA and the HPA use it: a ScaledObject on the example calendar gets the planned
replicas before, during and after Black Friday.

The emulator does what KEDA 2.x does per poll of an `external` trigger
(pkg/scalers/external_scaler.go): GetMetricSpec (not cached), then GetMetrics with the metric
name *without* KEDA's `s<index>-` prefix, then IsActive; it reads `metricValueFloat` when > 0,
else `metricValue`, as milli-units, and hands every returned value to the HPA, which sums them.
The HPA side follows Kubernetes' replica calculator for an AverageValue external metric
(GetExternalPerPodMetricReplicas): usageRatio = usage / (target * currentReplicas); within the
default 10% tolerance the replicas stay, else ceil(usage / target). The HPA takes the max over
its metrics, holds its replicas when a metric is invalid and the rest would scale down
(kubernetes #99514), and clamps to [minReplicas, maxReplicas]. Not modelled: scale-up rate
policies and the downscale stabilization window (they delay, not change, where it ends up),
and KEDA's cooldown before scaling to zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import pytest

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.calendar.evaluation import plan, value_at
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.workload import parse_metadata
from tests.serverthread import Clock, ServerThread
from tests.service.support import BF_END, BF_START, CALL_TIMEOUT, EXAMPLE, Client, tokyo

Serve = Callable[..., ServerThread]
Connect = Callable[[ServerThread], Client]

TOLERANCE = 0.1  # kube-controller-manager --horizontal-pod-autoscaler-tolerance default
MINUTE = 60


# -- KEDA's side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class HpaMetric:
    name: str  # as the HPA knows it: s<index>-<metricName>
    target_milli: int  # AverageValue target, in milli-units


class InvalidMetric(Exception):
    """KEDA could not get the metric: the HPA sees it as invalid."""


@dataclass
class ExternalTrigger:
    """One `external` trigger of a ScaledObject, called the way KEDA calls it."""

    stub: pb_grpc.ExternalScalerStub
    namespace: str
    name: str
    metadata: dict[str, str]
    index: int = 0  # the trigger's position in the ScaledObject
    requested_names: list[str] = field(default_factory=list)  # what GetMetrics was asked for

    @property
    def ref(self) -> pb.ScaledObjectRef:
        metadata = {"scalerAddress": "calendar-scaler.keda:9090", **self.metadata}
        return pb.ScaledObjectRef(namespace=self.namespace, name=self.name, scalerMetadata=metadata)

    def metric_spec(self) -> list[HpaMetric]:
        specs = self.stub.GetMetricSpec(self.ref, timeout=CALL_TIMEOUT).metricSpecs
        return [
            HpaMetric(
                name=f"s{self.index}-{spec.metricName}",
                target_milli=int(
                    (spec.targetSizeFloat if spec.targetSizeFloat > 0 else spec.targetSize) * 1000
                ),
            )
            for spec in specs
        ]

    def metrics_and_activity(self, metric: HpaMetric) -> tuple[list[int], bool]:
        """Milli-values of every MetricValue returned, and IsActive."""
        prefix = f"s{self.index}-"
        assert metric.name.startswith(prefix)
        unprefixed = metric.name.removeprefix(prefix)
        self.requested_names.append(unprefixed)
        request = pb.GetMetricsRequest(scaledObjectRef=self.ref, metricName=unprefixed)
        try:
            values = self.stub.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues
            active = self.stub.IsActive(self.ref, timeout=CALL_TIMEOUT).result
        except grpc.RpcError as exc:
            raise InvalidMetric(str(exc)) from exc
        milli = [
            int((v.metricValueFloat if v.metricValueFloat > 0 else v.metricValue) * 1000)
            for v in values
        ]
        return milli, active


# -- the HPA's side -----------------------------------------------------------------------------


def external_per_pod_replicas(current: int, usage_milli: list[int], target_milli: int) -> int:
    """Kubernetes' GetExternalPerPodMetricReplicas (AverageValue), with the default tolerance."""
    usage = sum(usage_milli)
    usage_ratio = usage / (target_milli * current)
    if abs(1.0 - usage_ratio) > TOLERANCE:
        return math.ceil(usage / target_milli)
    return current


@dataclass
class ScaledObject:
    """A ScaledObject with the calendar trigger and, optionally, a CPU-like metric beside it.

    The CPU-like metric stands for a constant total load worth `cpu_replicas` pods at its
    target: as a per-pod average it proposes `cpu_replicas`, within the same 10% tolerance.
    """

    trigger: ExternalTrigger
    min_replicas: int  # minReplicaCount; 0 lets KEDA scale to zero on IsActive
    max_replicas: int
    replicas: int  # current replicas of the workload
    cpu_replicas: int | None = None

    def sync(self) -> int:
        """One KEDA poll and one HPA evaluation; returns (and keeps) the resulting replicas."""
        [metric] = self.trigger.metric_spec()
        try:
            usage, active = self.trigger.metrics_and_activity(metric)
        except InvalidMetric:
            usage, active = None, self.replicas > 0  # an error neither activates nor deactivates

        if self.min_replicas == 0 and not active:
            self.replicas = 0  # KEDA deactivates (cooldown elapsed)
            return self.replicas
        if self.replicas == 0:
            self.replicas = 1  # KEDA activates; the HPA takes over from its next evaluation
            return self.replicas

        proposals: list[int] = []
        invalid = 0
        if usage is None:
            invalid += 1
        else:
            proposals.append(external_per_pod_replicas(self.replicas, usage, metric.target_milli))
        if self.cpu_replicas is not None:
            proposals.append(
                external_per_pod_replicas(self.replicas, [self.cpu_replicas * 1000], 1000)
            )
        # computeReplicasForMetrics: all invalid, or some invalid and the rest scale down: hold.
        if not proposals or (invalid and max(proposals) < self.replicas):
            return self.replicas
        hpa_min = max(self.min_replicas, 1)
        self.replicas = min(max(max(proposals), hpa_min), self.max_replicas)
        return self.replicas


# -- the tests ----------------------------------------------------------------------------------


def _planned(metadata: dict[str, str], namespace: str, name: str, instants: list[int]) -> list[int]:
    """The core's answer at each instant, checked to agree between plan and value_at."""
    calendar = parse_calendar(EXAMPLE, name="sales", origin="sales.yaml")
    workload = parse_metadata(namespace, name, metadata)
    timeline = plan([calendar], workload, min(instants), max(instants) + 1, with_events=False)
    from_plan = []
    for instant in instants:
        value = 0
        for point in timeline.points:
            if point.at <= instant:
                value = point.value
        from_plan.append(value)
    assert from_plan == [value_at([calendar], workload, t) for t in instants]
    return from_plan


FRONTEND = {"labels": "tier=frontend,team=web", "baseReplicas": "35"}  # factor 3 -> 105

# (label, instant, planned value, replicas the HPA ends up with after one sync)
BLACK_FRIDAY = [
    ("40m before", BF_START - 40 * MINUTE, 0, 20),  # CPU alone: 20
    # The first ramp step asks 21 with 20 running: 21/20 = 1.05 is inside the HPA's 10%
    # tolerance, so the HPA keeps 20 (KEDA #5263: 20 -> 21 never happens). The next step
    # (42) is far outside it and is followed.
    ("ramp step 1", BF_START - 25 * MINUTE, 21, 20),
    ("ramp step 2", BF_START - 23 * MINUTE, 42, 42),
    ("ramp step 3", BF_START - 21 * MINUTE, 63, 63),
    ("ramp step 4", BF_START - 19 * MINUTE, 84, 84),
    ("ramp step 5", BF_START - 17 * MINUTE, 105, 100),  # maxReplicaCount
    ("lead point", BF_START - 15 * MINUTE, 105, 100),
    ("start", BF_START, 105, 100),
    ("day 2 noon", BF_START + 36 * 3600 + 30 * MINUTE, 105, 100),
    ("end", BF_END, 105, 100),  # the ramp down holds D through its first step
    ("ramp down 1", BF_END + 2 * MINUTE, 84, 84),
    ("ramp down 2", BF_END + 4 * MINUTE, 63, 63),
    ("ramp down 3", BF_END + 6 * MINUTE, 42, 42),
    ("ramp down 4", BF_END + 8 * MINUTE, 21, 21),
    # Released: the calendar now proposes 0, but the CPU-like metric's 20 is within 10% of the
    # 21 running, so the HPA stays at 21 — the tolerance again, not the calendar.
    ("released", BF_END + 10 * MINUTE, 0, 21),
]


def test_black_friday_gives_the_frontend_the_planned_replicas(
    serve: Serve, connect: Connect
) -> None:
    clock = Clock(BLACK_FRIDAY[0][1])
    client = connect(serve({"sales": EXAMPLE}, clock=clock))
    trigger = ExternalTrigger(client.scaler, "shop", "web", FRONTEND)
    scaled = ScaledObject(trigger, min_replicas=2, max_replicas=100, replicas=20, cpu_replicas=20)
    instants = [instant for _, instant, _, _ in BLACK_FRIDAY]

    actual = []
    for (label, instant, _, _), planned in zip(
        BLACK_FRIDAY, _planned(FRONTEND, "shop", "web", instants), strict=True
    ):
        clock.now = instant
        [metric] = trigger.metric_spec()
        served = sum(trigger.metrics_and_activity(metric)[0]) / 1000
        actual.append((label, planned, served, scaled.sync()))

    expected = [(label, value, value, replicas) for label, _, value, replicas in BLACK_FRIDAY]
    assert actual == expected


def test_keda_asks_for_the_metric_without_its_trigger_prefix(
    serve: Serve, connect: Connect
) -> None:
    client = connect(serve({"sales": EXAMPLE}, clock=Clock(BF_START)))
    trigger = ExternalTrigger(
        client.scaler, "shop", "web", {**FRONTEND, "metricName": "bf"}, index=2
    )

    [metric] = trigger.metric_spec()
    usage, active = trigger.metrics_and_activity(metric)

    asked = (metric.name, trigger.requested_names)
    assert (asked, usage, active) == (("s2-bf", ["bf"]), [105_000], True)


@pytest.mark.parametrize(
    ("instant", "planned", "replicas"),
    [
        pytest.param(BF_START - 40 * MINUTE, 0, 3, id="before"),
        pytest.param(BF_START + 86400, 60, 60, id="during"),
        pytest.param(BF_END + 30 * MINUTE, 0, 3, id="after"),
    ],
)
def test_black_friday_gives_checkout_its_own_replicas(
    serve: Serve, connect: Connect, instant: int, planned: int, replicas: int
) -> None:
    # checkout* in shop has a target of its own: 60 replicas, no baseReplicas needed.
    client = connect(serve({"sales": EXAMPLE}, clock=Clock(instant)))
    scaled = ScaledObject(
        ExternalTrigger(client.scaler, "shop", "checkout-api", {}), 3, 80, replicas=3
    )

    reached = [scaled.sync(), scaled.sync()]

    core = _planned({}, "shop", "checkout-api", [instant])
    assert (core, reached) == ([planned], [replicas, replicas])


def test_hourly_flash_sale_scales_a_worker_from_zero_and_back(
    serve: Serve, connect: Connect
) -> None:
    # minReplicaCount 0: KEDA activates on IsActive (0 -> 1), then the HPA reaches the
    # flash sale's 4; after it, IsActive is false and KEDA scales to zero.
    lead = tokyo(2026, 11, 26, 22, 58)  # 23:00 sale, leadTime 2m
    clock = Clock(lead - 28 * MINUTE)
    client = connect(serve({"sales": EXAMPLE}, clock=clock))
    scaled = ScaledObject(ExternalTrigger(client.scaler, "batch", "worker", {}), 0, 10, replicas=0)

    instants = [lead - 28 * MINUTE, lead, lead + 12 * MINUTE]
    seen = [scaled.sync()]
    clock.now = instants[1]
    seen += [scaled.sync(), scaled.sync()]
    clock.now = instants[2]
    seen += [scaled.sync()]

    assert (_planned({}, "batch", "worker", instants), seen) == ([0, 4, 0], [0, 1, 4, 0])


def test_hpa_holds_its_replicas_while_the_calendar_never_loaded(
    serve: Serve, connect: Connect
) -> None:
    # UNAVAILABLE, not a silent 0: the HPA does not scale down on an invalid metric, so the
    # 30 replicas stay although the CPU-like metric alone would go to 20.
    client = connect(serve({"sales": None}, clock=Clock(BF_START)))
    trigger = ExternalTrigger(client.scaler, "shop", "web", FRONTEND)
    scaled = ScaledObject(trigger, min_replicas=2, max_replicas=100, replicas=30, cpu_replicas=20)

    spec = [metric.name for metric in trigger.metric_spec()]
    assert (spec, scaled.sync()) == (["s0-sale-calendar"], 30)
