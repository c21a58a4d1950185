"""Will the replicas be ready at the start? KEDA, the HPA and pod start-up, fed by the calendar.

The calendar raises a metric; what counts on the day is ready pods when the sale starts. Between
the two stand KEDA's activation from zero, the HPA's sync period and tolerance, its scale-up
policies and stabilization windows, maxReplicas, and pod start-up time. This module steps
through them in whole seconds, jumping from one instant where something can change to the next
(HPA syncs while it is still moving, calendar changes, KEDA's activation and cooldown), so two
days of calendar cost a few thousand steps, not 172,800.

The decision a newcomer would question: the HPA's sync phase is unknown (it depends on when the
controller manager started), so every phase 0 .. hpa_sync-1 is simulated and each instant counts
the *fewest* ready pods over them. The answer is the worst case, and it does not depend on where
`--from` happens to fall.

The HPA arithmetic follows Kubernetes' `pkg/controller/podautoscaler` (horizontal.go,
replica_calculator.go) in float64 where Kubernetes uses it: AverageValue target 1, tolerance band
`(1-tol) <= value/current <= (1+tol)` (KEDA #5263: 20 -> 21 never happens), max over metrics,
stabilization over recorded recommendations, scale-up and scale-down policies over recorded
scale events, both with strict cutoffs (`timestamp.After(now - window)`).
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scaler.calendar.evaluation import demand, effective_timing, occurrences, plan, reach
from scaler.calendar.history import Peaks
from scaler.calendar.model import Calendar
from scaler.calendar.timefmt import format_duration, format_instant, parse_duration
from scaler.calendar.workload import Workload

__all__ = [
    "DEFAULT_SCALE_DOWN",
    "DEFAULT_SCALE_UP",
    "SEARCH_HORIZON",
    "Policy",
    "Readiness",
    "Sample",
    "ScalingRules",
    "Settings",
    "Simulation",
    "parse_scaling_rules",
    "simulate",
]

PolicyKind = Literal["pods", "percent"]
Select = Literal["max", "min", "disabled"]
Status = Literal["ready", "late", "capped", "tolerance", "unreachable"]

SEARCH_HORIZON = 86_400  # the most lead time the recommendation search adds to an event's own
_NEVER = 1 << 62  # an instant after every other


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Policy:
    """One HPAScalingPolicy: at most `value` pods (or percent) per `period` seconds."""

    kind: PolicyKind
    value: int  # > 0
    period: int  # seconds, 1..1800 as Kubernetes allows

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError(f"scaling policy {self.kind}={self.value}: the value must be > 0")
        if not 0 < self.period <= 1800:
            raise ValueError(
                f"scaling policy {self.kind}={self.value}: period {format_duration(self.period)} "
                "must be between 1s and 30m, as Kubernetes allows"
            )


@dataclass(frozen=True, kw_only=True)
class ScalingRules:
    """One direction of `behavior` (HPAScalingRules)."""

    policies: tuple[Policy, ...]
    select: Select = "max"  # selectPolicy: Max, Min or Disabled
    stabilization: int = 0  # stabilizationWindowSeconds

    def __post_init__(self) -> None:
        if not self.policies and self.select != "disabled":
            raise ValueError("scaling rules need at least one policy, or select=disabled")
        if not 0 <= self.stabilization <= 3600:
            raise ValueError(
                f"stabilization window {format_duration(self.stabilization)} must be between "
                "0s and 1h, as Kubernetes allows"
            )

    def describe(self) -> str:
        """The `--scale-up-policy` text that gives these rules back."""
        periods = {p.period for p in self.policies}
        parts: list[str] = []
        if len(periods) == 1:
            parts = [f"{p.kind}={p.value}" for p in self.policies]
            parts.append(f"period={format_duration(periods.pop())}")
        else:
            parts = [f"{p.kind}={p.value}/{format_duration(p.period)}" for p in self.policies]
        if self.select != "max":
            parts.append(f"select={self.select}")
        return ",".join(parts)


DEFAULT_SCALE_UP = ScalingRules(
    policies=(
        Policy(kind="pods", value=4, period=15),
        Policy(kind="percent", value=100, period=15),
    ),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    policies=(Policy(kind="percent", value=100, period=15),), stabilization=300
)


_KINDS: dict[str, PolicyKind] = {"pods": "pods", "percent": "percent"}
_SELECTS: dict[str, Select] = {"max": "max", "min": "min", "disabled": "disabled"}


def parse_scaling_rules(text: str, *, stabilization: int = 0) -> ScalingRules:
    """`pods=4,percent=100,period=15s` -> ScalingRules. Raises ValueError showing the form.

    Items: `pods=N` and `percent=N`, each optionally with its own period (`pods=4/1m`);
    `period=DURATION` for items without one (default 15s); `select=max|min|disabled`
    (selectPolicy, default max); `disabled` alone turns the direction off.
    """
    form = (
        "write e.g. pods=4,percent=100,period=15s (the Kubernetes default), "
        "percent=50/1m,select=min, or disabled"
    )
    items: list[tuple[PolicyKind, int, int | None]] = []
    period = 15
    select: Select = "max"
    try:
        for raw in (part.strip() for part in text.split(",")):
            if not raw:
                continue
            if raw == "disabled":
                select = "disabled"
                continue
            key, sep, value = (s.strip() for s in raw.partition("="))
            if not sep:
                raise ValueError(f"{raw!r} is not key=value")
            if key == "period":
                period = parse_duration(value)
            elif key == "select":
                if value not in _SELECTS:
                    raise ValueError(f"select={value!r} is not max, min or disabled")
                select = _SELECTS[value]
            elif key in _KINDS:
                amount, slash, own = (s.strip() for s in value.partition("/"))
                if not amount.isdigit():
                    raise ValueError(f"{key}={value!r} needs a whole number")
                items.append((_KINDS[key], int(amount), parse_duration(own) if slash else None))
            else:
                raise ValueError(f"{key!r} is not pods, percent, period or select")
        return ScalingRules(
            policies=tuple(
                Policy(kind=kind, value=value, period=period if own is None else own)
                for kind, value, own in items
            ),
            select=select,
            stabilization=stabilization,
        )
    except ValueError as exc:
        raise ValueError(f"scaling policy {text!r}: {exc}; {form}") from exc


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the ScaledObject, the HPA and the cluster add to the calendar's values."""

    polling_interval: int = 30  # KEDA pollingInterval: only matters for activation from 0
    cooldown_period: int = 300  # KEDA cooldownPeriod: back to 0 this long after inactive
    hpa_sync: int = 15  # the HPA controller's sync period
    pod_startup: int = 60  # created -> ready
    min_replicas: int = 0  # KEDA minReplicaCount; 0 lets KEDA scale to zero
    max_replicas: int = 100  # KEDA maxReplicaCount
    initial_replicas: int | None = None  # at the simulation start, all ready; None: steady state
    tolerance: float = 0.1  # the HPA's tolerance, both directions
    baseline: int = 0  # replicas the other triggers of the ScaledObject ask for, constant
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN

    def __post_init__(self) -> None:
        if self.polling_interval <= 0 or self.hpa_sync <= 0:
            raise ValueError("pollingInterval and the HPA sync period must be at least 1s")
        if self.cooldown_period < 0 or self.pod_startup < 0:
            raise ValueError("cooldownPeriod and pod start-up must be >= 0s")
        if self.min_replicas < 0 or self.max_replicas < 1:
            raise ValueError(
                f"minReplicaCount {self.min_replicas} must be >= 0 and maxReplicaCount "
                f"{self.max_replicas} >= 1"
            )
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicaCount {self.min_replicas} is above maxReplicaCount {self.max_replicas}"
            )
        if self.initial_replicas is not None and not (
            self.min_replicas <= self.initial_replicas <= self.max_replicas
        ):
            raise ValueError(
                f"initial replicas {self.initial_replicas} must be between minReplicaCount "
                f"{self.min_replicas} and maxReplicaCount {self.max_replicas}"
            )
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise ValueError(f"tolerance {self.tolerance} must be a number >= 0, e.g. 0.1")
        if self.baseline < 0:
            raise ValueError(f"baseline {self.baseline} must be >= 0")

    @property
    def hpa_min(self) -> int:
        """KEDA gives the HPA minReplicas = max(minReplicaCount, 1): KEDA itself does 0 <-> 1."""
        return max(self.min_replicas, 1)

    def steady(self, value: int) -> int:
        """The replicas the HPA settles on when the calendar has said `value` for a long time."""
        if self.min_replicas == 0 and value == 0 and self.baseline == 0:
            return 0
        return min(max(value, self.baseline, self.hpa_min), self.max_replicas)

    def to_json(self) -> dict[str, object]:
        return {
            "pollingInterval": format_duration(self.polling_interval),
            "cooldownPeriod": format_duration(self.cooldown_period),
            "hpaSync": format_duration(self.hpa_sync),
            "podStartup": format_duration(self.pod_startup),
            "minReplicas": self.min_replicas,
            "maxReplicas": self.max_replicas,
            "initialReplicas": self.initial_replicas,
            "tolerance": self.tolerance,
            "baseline": self.baseline,
            "scaleUp": {
                "policy": self.scale_up.describe(),
                "stabilization": format_duration(self.scale_up.stabilization),
            },
            "scaleDown": {
                "policy": self.scale_down.describe(),
                "stabilization": format_duration(self.scale_down.stabilization),
            },
        }


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    at: int
    asked: int  # the calendar's value
    replicas: int  # pods that exist, fewest over the HPA phases
    ready: int  # pods that are ready, fewest over the HPA phases


@dataclass(frozen=True, kw_only=True)
class Readiness:
    """One event occurrence: did its replicas make it in time?"""

    event: str
    start: int
    end: int
    lead_time: int  # the lead time it has now: the event's, or the workload's if larger
    asked: int  # the calendar's value at the start (all events, as plan shows it)
    ready: int  # ready pods at the start, worst phase
    full_at: int | None  # ready >= asked from this instant (since, or after the start);
    #                      None: not before the event (or the simulated range) ended
    status: Status
    stuck_at: int | None = None  # replicas the HPA holds within its tolerance ("tolerance")
    recommended_lead_time: int | None = None  # workload leadTime that makes it ready (late)

    @property
    def late_by(self) -> int | None:
        if self.status == "ready" or self.full_at is None:
            return None
        return self.full_at - self.start

    def to_json(self) -> dict[str, object]:
        rec = self.recommended_lead_time
        return {
            "event": self.event,
            "start": format_instant(self.start),
            "end": format_instant(self.end),
            "leadTime": format_duration(self.lead_time),
            "asked": self.asked,
            "readyAtStart": self.ready,
            "fullCapacityAt": None if self.full_at is None else format_instant(self.full_at),
            "status": self.status,
            "stuckAt": self.stuck_at,
            "lateBySeconds": self.late_by,
            "recommendedLeadTime": None if rec is None else format_duration(rec),
        }


@dataclass(frozen=True, kw_only=True)
class Simulation:
    workload: str  # "namespace/name"
    start: int
    end: int  # exclusive
    simulated_from: int  # start minus the warm-up: the first event's whole ramp is simulated
    initial_replicas: int  # at simulated_from, all ready
    settings: Settings
    events: tuple[Readiness, ...]  # occurrences starting in [start, end), in start order
    timeline: tuple[Sample, ...]  # one at `start`, then one per change
    recommended_lead_time: int | None  # workload leadTime that makes every late event ready

    @property
    def ok(self) -> bool:
        return all(r.status == "ready" for r in self.events)

    def to_json(self) -> dict[str, object]:
        rec = self.recommended_lead_time
        return {
            "workload": self.workload,
            "from": format_instant(self.start),
            "to": format_instant(self.end),
            "ok": self.ok,
            "simulatedFrom": format_instant(self.simulated_from),
            "initialReplicas": self.initial_replicas,
            "settings": self.settings.to_json(),
            "recommendedLeadTime": None if rec is None else format_duration(rec),
            "events": [r.to_json() for r in self.events],
            "timeline": [
                {
                    "at": format_instant(s.at),
                    "asked": s.asked,
                    "replicas": s.replicas,
                    "ready": s.ready,
                }
                for s in self.timeline
            ],
        }


# -- the calendar as the HPA sees it ----------------------------------------------------------


class _Steps:
    """A step function from change points: value(t) and the next change after t."""

    __slots__ = ("times", "values")

    def __init__(self, times: list[int], values: list[int]) -> None:
        self.times = times
        self.values = values

    def at(self, t: int) -> int:
        i = bisect_right(self.times, t) - 1
        return self.values[i] if i >= 0 else 0

    def next_change(self, t: int) -> int:
        i = bisect_right(self.times, t)
        return self.times[i] if i < len(self.times) else _NEVER


class _Activity:
    """When KEDA's IsActive is true: the calendar's value > 0, or another trigger is active."""

    def __init__(self, steps: _Steps, baseline: int) -> None:
        self.origin = steps.times[0]
        self.always = baseline > 0
        self.first = steps.values[0] > 0
        self.flips: list[int] = []
        state = self.first
        for at, value in zip(steps.times, steps.values, strict=True):
            if (value > 0) != state:
                state = not state
                self.flips.append(at)

    def active(self, t: int) -> bool:
        return self.always or (self.first ^ (bisect_right(self.flips, t) % 2 == 1))

    def run_start(self, t: int) -> int:
        """Start of the active or inactive run holding t (the simulation start at the latest)."""
        if self.always:
            return self.origin
        i = bisect_right(self.flips, t)
        return self.flips[i - 1] if i else self.origin

    def next_flip(self, t: int) -> int:
        if self.always:
            return _NEVER
        i = bisect_right(self.flips, t)
        return self.flips[i] if i < len(self.flips) else _NEVER


def _keda_next(activity: _Activity, s: Settings, now: int, replicas: int) -> int:
    """The next instant KEDA itself scales (0 -> 1, or down to 0); only with minReplicaCount 0.

    Activation: KEDA polls every pollingInterval; the worst case sees activity
    pollingInterval - 1 s after it begins, and misses an active run shorter than that.
    Scale to zero: cooldownPeriod after the calendar (and every other trigger) turned inactive,
    if it stayed inactive all that time. The answer depends only on the run around `now`, so
    asking again later in the same run gives the same instant.
    """
    if s.min_replicas > 0 or (replicas > 0 and activity.always):
        return _NEVER
    wanted = replicas == 0  # an active run to scale up in, or an inactive one to scale down in
    delay = s.polling_interval - 1 if wanted else s.cooldown_period
    begin = activity.run_start(now) if activity.active(now) == wanted else activity.next_flip(now)
    while begin < _NEVER:
        at = max(begin + delay, now)
        if activity.next_flip(begin) > at:  # the run lasts through `at`
            return at
        begin = activity.next_flip(activity.next_flip(begin))  # the next run of the same kind
    return _NEVER


# -- the HPA ----------------------------------------------------------------------------------


class _Hpa:
    """One HorizontalPodAutoscaler's memory: recommendations and scale events."""

    def __init__(self, s: Settings, start: int, initial: int) -> None:
        self.s = s
        # Recorded recommendations as monotonic deques: `highs` keeps the max of the scale-down
        # window at its front, `lows` the min of the scale-up window. Seeded with the initial
        # replicas, as if the HPA had been recommending them.
        self.highs: deque[tuple[int, int]] = deque([(start, initial)])
        self.lows: deque[tuple[int, int]] = deque([(start, initial)])
        self.ups: deque[tuple[int, int]] = deque()  # (at, pods added)
        self.downs: deque[tuple[int, int]] = deque()  # (at, pods removed)
        self.longest = max(
            (p.period for p in (*s.scale_up.policies, *s.scale_down.policies)), default=0
        )

    def remember(self, at: int, desired: int) -> None:
        while self.highs and self.highs[-1][1] <= desired:
            self.highs.pop()
        self.highs.append((at, desired))
        while self.lows and self.lows[-1][1] >= desired:
            self.lows.pop()
        self.lows.append((at, desired))

    def desired(self, value: int, current: int) -> int:
        """Max over metrics: the calendar's (AverageValue 1, within tolerance -> current) and
        the other triggers' constant baseline."""
        ratio = value / current
        within = (1.0 - self.s.tolerance) <= ratio <= (1.0 + self.s.tolerance)
        return max(current if within else value, self.s.baseline)

    def _stabilize(self, at: int, desired: int, current: int) -> int:
        down_cut = at - self.s.scale_down.stabilization
        up_cut = at - self.s.scale_up.stabilization
        while self.highs and self.highs[0][0] <= down_cut:
            self.highs.popleft()
        while self.lows and self.lows[0][0] <= up_cut:
            self.lows.popleft()
        down_rec = max(desired, self.highs[0][1]) if self.highs else desired
        up_rec = min(desired, self.lows[0][1]) if self.lows else desired
        self.remember(at, desired)
        return min(max(current, up_rec), down_rec)

    def _period_start(self, at: int, period: int, current: int) -> int:
        cut = at - period
        added = sum(n for t, n in self.ups if t > cut)
        removed = sum(n for t, n in self.downs if t > cut)
        return current - added + removed

    def _up_limit(self, at: int, current: int) -> int:
        rules = self.s.scale_up
        if rules.select == "disabled":
            return current
        proposals = []
        for p in rules.policies:
            base = self._period_start(at, p.period, current)
            if p.kind == "pods":
                proposals.append(base + p.value)
            else:  # rounded up, or a small count could never grow
                proposals.append(math.ceil(base * (1 + p.value / 100)))
        return max(proposals) if rules.select == "max" else min(proposals)

    def _down_limit(self, at: int, current: int) -> int:
        rules = self.s.scale_down
        if rules.select == "disabled":
            return current
        proposals = []
        for p in rules.policies:
            base = self._period_start(at, p.period, current)
            if p.kind == "pods":
                proposals.append(base - p.value)
            else:
                proposals.append(int(base * (1 - p.value / 100)))
        return min(proposals) if rules.select == "max" else max(proposals)

    def sync(self, at: int, value: int, current: int) -> tuple[int, int]:
        """One reconcile with current > 0: (unstabilized desired, replicas to set)."""
        desired = self.desired(value, current)
        wanted = self._stabilize(at, desired, current)
        final = wanted
        if wanted > current:
            final = min(wanted, self.s.max_replicas, max(self._up_limit(at, current), current))
        elif wanted < current:
            final = max(wanted, self.s.hpa_min, min(self._down_limit(at, current), current))
        if final != current:
            events = self.ups if final > current else self.downs
            events.append((at, abs(final - current)))
            for queue in (self.ups, self.downs):
                while queue and queue[0][0] <= at - self.longest:
                    queue.popleft()
        return desired, final

    def hold(self, at: int, desired: int, current: int) -> int:
        """Until when syncs that see the same value keep `current`, after one that did.

        `at + 1` when the next sync may already differ: the history ages under it.
        """
        if desired == current:
            return _NEVER
        if desired > current:
            if current >= self.s.max_replicas or self.s.scale_up.select == "disabled":
                return _NEVER
            return at + 1
        if current <= self.s.hpa_min or self.s.scale_down.select == "disabled":
            return _NEVER
        if self.highs and self.highs[0][1] >= current:
            # Held by the scale-down stabilization window: until the last recommendation of
            # `current` or more leaves it (values fall from front to back).
            last = max(t for t, v in self.highs if v >= current)
            return last + self.s.scale_down.stabilization
        return at + 1


# -- one run ----------------------------------------------------------------------------------


_Series = tuple[list[int], list[int]]  # (times, values) of a step function


def _run(
    steps: _Steps,
    activity: _Activity,
    s: Settings,
    phase: int,
    end: int,
    initial: int,
    *,
    skip: bool = True,  # False: every sync, for tests that hold the fast path to the plain loop
) -> _Series:
    """Replicas over [start, end) with the HPA syncing at instants = phase (mod hpa_sync)."""
    start = steps.times[0]
    period = s.hpa_sync
    hpa = _Hpa(s, start, initial)
    current = initial
    times, counts = [start], [initial]
    now = start  # the last instant handled
    t_sync = start + (phase - start) % period
    while True:
        t_keda = _keda_next(activity, s, now, current)
        if t_keda <= t_sync:  # KEDA first when both act on the same second
            if t_keda >= end:
                break
            current = 1 if current == 0 else 0
            times.append(t_keda)
            counts.append(current)
            now = t_keda
            continue
        at = now = t_sync
        if at >= end:
            break
        desired, until = current, _NEVER
        if current > 0:  # at 0 the HPA is disabled ("the replica count of the target is zero")
            desired, final = hpa.sync(at, steps.at(at), current)
            if final != current:
                current = final
                times.append(at)
                counts.append(current)
                t_sync = at + period
                continue
            until = hpa.hold(at, desired, current)
        # Nothing changes before the calendar does, KEDA acts or the HPA's history lets go:
        # skip the syncs in between. Each would record `desired`; the last of them stands for
        # all of them in the stabilization windows.
        target = min(steps.next_change(at), t_keda, end, until) if skip else at + 1
        t_sync = at + period * max(1, -(-(target - at) // period))
        if current > 0 and t_sync - period > at:
            hpa.remember(t_sync - period, desired)
    return times, counts


def _ready(replicas: _Series, startup: int, end: int) -> _Series:
    """Ready pods from the replica count: new pods are ready `startup` later; a scale-down
    removes pods that are not ready yet first (the ReplicaSet controller's preference), youngest
    first, and they are gone at once."""
    times, counts = replicas
    ready_at: list[int] = [times[0]]  # batches of pods, in creation order
    sizes: list[int] = [counts[0]]
    done = 1  # batches [0, done) are ready
    ready = total = counts[0]
    out_t, out_v = [times[0]], [ready]

    def emit(at: int) -> None:
        if out_t[-1] == at:
            out_v[-1] = ready
            if len(out_v) > 1 and out_v[-2] == ready:
                out_t.pop()
                out_v.pop()
        elif out_v[-1] != ready:
            out_t.append(at)
            out_v.append(ready)

    def advance(until: int) -> None:
        nonlocal done, ready
        while done < len(ready_at) and ready_at[done] <= until:
            ready += sizes[done]
            done += 1
            emit(ready_at[done - 1])

    for at, count in zip(times[1:], counts[1:], strict=True):
        advance(at)
        if count > total:
            ready_at.append(at + startup)
            sizes.append(count - total)
            total = count
            advance(at)
            continue
        gone, total = total - count, count
        while gone:
            take = min(gone, sizes[-1])
            sizes[-1] -= take
            gone -= take
            if len(sizes) <= done:
                ready -= take
            if sizes[-1] == 0:
                ready_at.pop()
                sizes.pop()
                done = min(done, len(sizes))
        emit(at)
    advance(end - 1)
    return out_t, out_v


def _value(series: _Series, at: int) -> int:
    i = bisect_right(series[0], at) - 1
    return series[1][i] if i >= 0 else 0


def _lower_envelope(all_series: Sequence[_Series]) -> _Series:
    """Pointwise minimum of step functions that start at the same instant."""
    changes = sorted(
        (t, k, v)
        for k, (times, values) in enumerate(all_series)
        for t, v in zip(times, values, strict=True)
    )
    current = [values[0] for _, values in all_series]
    out_t: list[int] = []
    out_v: list[int] = []
    for i, (at, k, value) in enumerate(changes):
        current[k] = value
        if i + 1 < len(changes) and changes[i + 1][0] == at:
            continue  # settle every series' change at this instant first
        low = min(current)
        if not out_v or out_v[-1] != low:
            out_t.append(at)
            out_v.append(low)
    return out_t, out_v


# -- every phase, for one workload leadTime ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    """All HPA phases of one simulation: the calendar it saw and the worst case of each."""

    asked: _Steps
    initial: int
    replicas: _Series  # fewest over phases
    ready: _Series  # fewest over phases

    def ready_at(self, at: int) -> int:
        return _value(self.ready, at)

    def full_at(self, start: int, end: int, asked: int) -> int | None:
        """Since when ready >= asked holds through `start`, or when it first holds after it."""
        times, values = self.ready
        i = bisect_right(times, start) - 1
        if values[i] >= asked:
            while i > 0 and values[i - 1] >= asked:
                i -= 1
            return times[i]
        for j in range(i + 1, len(times)):
            if times[j] >= end:
                break
            if values[j] >= asked:
                return times[j]
        return None


def _prepare(
    calendars: Sequence[Calendar],
    workload: Workload,
    s: Settings,
    start: int,
    end: int,
    peaks: Peaks = None,
) -> tuple[_Steps, _Activity, int]:
    """The calendar's values from the warm-up on, KEDA's activity, and the initial replicas.

    Warm-up: start before the earliest ramp any event can have, so an event just after `start`
    is judged with its whole ramp, not from a steady state that already holds it.
    """
    before, _ = reach(calendars, workload)
    origin = start - before - 1
    points = plan(calendars, workload, origin, end, with_events=False, peaks=peaks).points
    steps = _Steps([p.at for p in points], [p.value for p in points])
    initial = s.steady(steps.values[0]) if s.initial_replicas is None else s.initial_replicas
    return steps, _Activity(steps, s.baseline), initial


class _Model:
    """Simulations of one calendar and workload, cached by the workload's leadTime."""

    def __init__(
        self,
        calendars: Sequence[Calendar],
        workload: Workload,
        s: Settings,
        start: int,
        end: int,
        peaks: Peaks = None,
    ) -> None:
        self.calendars = calendars
        self.peaks = peaks
        self.workload = workload
        self.s = s
        self.start = start
        self.end = end
        self.cache: dict[int, _Outcome] = {}

    def with_lead(self, lead: int) -> Workload:
        return dataclasses.replace(self.workload, lead_time=lead)

    def outcome(self, lead: int) -> _Outcome:
        found = self.cache.get(lead)
        if found is None:
            found = self.cache[lead] = self._simulate(self.with_lead(lead))
        return found

    def _simulate(self, workload: Workload) -> _Outcome:
        steps, activity, initial = _prepare(
            self.calendars, workload, self.s, self.start, self.end, self.peaks
        )
        runs = [
            _run(steps, activity, self.s, phase, self.end, initial)
            for phase in range(self.s.hpa_sync)
        ]
        readies = [_ready(r, self.s.pod_startup, self.end) for r in runs]
        return _Outcome(
            asked=steps,
            initial=initial,
            replicas=_lower_envelope(runs),
            ready=_lower_envelope(readies),
        )

    def ok(self, lead: int, start: int) -> bool:
        outcome = self.outcome(lead)
        return outcome.ready_at(start) >= outcome.asked.at(start)

    def shortfall(self, lead: int, start: int, end: int) -> int | None:
        outcome = self.outcome(lead)
        full = outcome.full_at(start, end, outcome.asked.at(start))
        return None if full is None or full <= start else full - start


def _search(model: _Model, row: Readiness) -> int | None:
    """The smallest workload leadTime that makes this occurrence ready at its start.

    Shifting every change earlier by the shortfall gives the same worst case over phases shifted
    by it, so `lead + shortfall` is exact when nothing else moves with it; it is checked, and
    the answer checked one second below. When other events or the warm-up interfere, a gallop
    upward and a bisection find it, assuming readiness does not get worse with more lead.
    """
    end = min(row.end, model.end)
    lo = row.lead_time  # known not enough
    cap = row.lead_time + SEARCH_HORIZON
    s = model.s
    step = row.late_by or (
        s.pod_startup + 2 * s.hpa_sync + (s.polling_interval if s.min_replicas == 0 else 0)
    )
    hi = min(lo + max(step, 1), cap)
    while not model.ok(hi, row.start):
        if hi >= cap:
            return None
        lo = hi
        more = model.shortfall(hi, row.start, end)
        hi = min(hi + max(more or (hi - row.lead_time), 1), cap)
    if hi - 1 <= lo or not model.ok(hi - 1, row.start):
        return hi
    hi -= 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if model.ok(mid, row.start):
            hi = mid
        else:
            lo = mid
    return hi


def _overall(model: _Model, rows: Sequence[Readiness]) -> int | None:
    """One workload leadTime for every late event, checked against all that can be ready."""
    wanted = [r.recommended_lead_time for r in rows if r.status == "late"]
    lead = max((w for w in wanted if w is not None), default=None)
    if lead is None:
        return None
    candidates = [r for r in rows if r.status in ("ready", "late")]
    for _ in range(8):
        failing = [r for r in candidates if not model.ok(lead, r.start)]
        if not failing:
            return lead
        lead += max(model.shortfall(lead, r.start, min(r.end, model.end)) or 1 for r in failing)
    return None


# -- the whole answer -------------------------------------------------------------------------


def simulate(
    calendars: Sequence[Calendar],
    workload: Workload,
    start: int,
    end: int,
    settings: Settings | None = None,
    *,
    advise: bool = True,
    peaks: Peaks = None,
) -> Simulation:
    """Every occurrence starting in [start, end) that concerns the workload, judged at its start.

    `advise` searches the leadTime that would make each late occurrence ready (it re-runs the
    simulation; off, late rows carry no recommendation). The workload's missing metadata keys
    are not checked here: call `check_workload` first, as `plan` does.
    """
    if end <= start:
        raise ValueError(f"simulation range is empty: end {format_instant(end)} is not after start")
    s = Settings() if settings is None else settings
    model = _Model(calendars, workload, s, start, end, peaks)
    base = model.outcome(workload.lead_time)

    rows: list[Readiness] = []
    for occ in occurrences(calendars, start, end):
        if not start <= occ.start < end or demand(occ.event, workload, peaks) is None:
            continue
        asked = base.asked.at(occ.start)
        ready = base.ready_at(occ.start)
        # Held within the tolerance at the start, or stalled there later in the event.
        held = [_value(base.replicas, at) for at in (occ.start, min(occ.end, end) - 1)]
        stuck = next((r for r in held if _stuck_in_tolerance(s, r, asked)), None)
        if ready >= asked:
            status: Status = "ready"
        elif asked > s.max_replicas:
            status = "capped"
        elif stuck is not None:
            status = "tolerance"
        else:
            status = "late"
        rows.append(
            Readiness(
                event=occ.event.name,
                start=occ.start,
                end=occ.end,
                lead_time=effective_timing(occ.event, workload).lead_time,
                asked=asked,
                ready=ready,
                full_at=base.full_at(occ.start, min(occ.end, end), asked),
                status=status,
                stuck_at=stuck if status == "tolerance" else None,
            )
        )

    if advise:
        for i, row in enumerate(rows):
            if row.status == "late":
                found = _search(model, row)
                rows[i] = dataclasses.replace(
                    row,
                    recommended_lead_time=found,
                    status="late" if found is not None else "unreachable",
                )
    overall = _overall(model, rows) if advise else None

    return Simulation(
        workload=workload.ref,
        start=start,
        end=end,
        simulated_from=base.asked.times[0],
        initial_replicas=base.initial,
        settings=s,
        events=tuple(rows),
        timeline=_timeline(base, start, end),
        recommended_lead_time=overall,
    )


def _stuck_in_tolerance(s: Settings, replicas: int, asked: int) -> bool:
    """The HPA holds `replicas` because `asked` is within its tolerance of them (KEDA #5263)."""
    return 0 < replicas < asked and asked / replicas <= 1.0 + s.tolerance


def _timeline(outcome: _Outcome, start: int, end: int) -> tuple[Sample, ...]:
    series = [(outcome.asked.times, outcome.asked.values), outcome.replicas, outcome.ready]
    instants = sorted({t for times, _ in series for t in times if start < t < end})
    samples: list[Sample] = []
    for at in (start, *instants):
        asked, replicas, ready = (_value(x, at) for x in series)
        last = samples[-1] if samples else None
        if last is None or (asked, replicas, ready) != (last.asked, last.replicas, last.ready):
            samples.append(Sample(at, asked, replicas, ready))
    return tuple(samples)
