"""Prometheus metrics read at scrape time: served values, calendars, source health, build.

Nothing here runs on the RPC path: the collector reads the plan cache, the store's snapshot
and the sources' health when Prometheus scrapes, on the event loop that owns them. (The RPC
counters and latency histograms live in scaler.service.telemetry, in an interceptor.)

Cardinality stays bounded: workloads appear only while KEDA asked about them in the last hour
(PlanCache.seen, Problems.workloads), calendars are configured, and failure reasons are a
fixed set, each exposed from 0 so that `increase()` sees the first failure.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from scaler.calendar.evaluation import demand, effective_timing
from scaler.calendar.model import Occurrence
from scaler.calendar.workload import Workload
from scaler.service.plans import PlanCache, Timeline
from scaler.service.problems import Problems
from scaler.sources import REASONS, CalendarStore, Snapshot
from scaler.web.outlook import Outlook

__all__ = ["ScalerCollector", "latest_by_workload", "version"]


def version() -> str:
    try:
        return metadata.version("keda-calendar-scaler")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def latest_by_workload(timelines: Iterable[Timeline]) -> list[Timeline]:
    """One timeline per (namespace, name, metricName): the one KEDA asked about last.

    A ScaledObject whose metadata changed has an old and a new entry for up to an hour; both
    would claim the same series. Timelines whose metadata did not parse have no workload.
    """
    latest: dict[tuple[str, str, str], Timeline] = {}
    for timeline in timelines:
        w = timeline.workload
        if w is None:
            continue
        key = (w.namespace, w.name, w.metric_name)
        if key not in latest or timeline.last_seen > latest[key].last_seen:
            latest[key] = timeline
    return [latest[k] for k in sorted(latest)]


class ScalerCollector(Collector):
    def __init__(
        self,
        store: CalendarStore,
        plans: PlanCache,
        *,
        outlook: Outlook | None = None,
        problems: Problems | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._plans = plans
        self._problems = problems or Problems(clock=clock)
        self._outlook = outlook or Outlook()
        self._clock = clock
        self._build = {"version": version(), "python": platform.python_version()}
        self._sales: dict[int, _Sale] = {}  # id(timeline) -> its next sale, see _next_sale

    def describe(self) -> Iterable[Metric]:
        return _Families().all()

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        f = _Families()
        f.build.add_metric([], self._build)
        snapshot = self._store.snapshot
        ahead: dict[str, list[Occurrence]] = {}  # per calendar, for _next_sale
        sales, self._sales = self._sales, {}

        for timeline in latest_by_workload(self._plans.seen()):
            w = timeline.workload
            assert w is not None
            if timeline.error is None:
                labels = [w.namespace, w.name, w.metric_name]
                f.replicas.add_metric(labels, timeline.value(now))
                known = sales.get(id(timeline))
                if (
                    known is None
                    or known.timeline is not timeline
                    or known.built != (timeline.version, timeline.valid_from)
                    or (known.sale is not None and known.sale[0] <= now)
                ):
                    found = self._next_sale(w, timeline, snapshot, int(now), ahead)
                    known = _Sale(timeline, (timeline.version, timeline.valid_from), found)
                self._sales[id(timeline)] = known
                sale = known.sale
                if sale is not None:
                    start, lead_point = sale
                    f.next_start_w.add_metric(labels, start)
                    f.next_lead.add_metric(labels, lead_point)
                    f.next_floor.add_metric(labels, timeline.value(start))
        for state in self._problems.workloads():
            labels = [state.namespace, state.name, state.metric]
            f.workload_error.add_metric(labels, 0 if state.error is None else 1)

        self._outlook.forget_others(set(snapshot.calendars))
        for name, calendar in snapshot.calendars.items():
            f.loaded.add_metric([name], 0 if calendar is None else 1)
            if calendar is not None:
                f.events.add_metric([name], len(calendar.events))
                active = {o.event.name for o in self._outlook.active(calendar, int(now))}
                f.active.add_metric([name], len(active))
                upcoming = self._outlook.next_start(calendar, int(now))
                if upcoming is not None:
                    f.next_start.add_metric([name], upcoming)
            health = snapshot.health.get(name)
            if health is None:
                continue
            f.from_state.add_metric([name], 1 if health.loaded_from == "state" else 0)
            f.loads.add_metric([name], health.loads)
            if health.last_success is not None:
                f.last_success.add_metric([name], health.last_success)
            if health.last_attempt is not None:
                f.last_attempt.add_metric([name], health.last_attempt)
            f.attempt_failed.add_metric([name], 0 if health.last_error is None else 1)
            for reason in sorted(set(REASONS) | set(health.failures)):
                f.errors.add_metric([name, reason], health.failures.get(reason, 0))
            f.state_failed.add_metric([name], 0 if health.state_error is None else 1)
        peaks = self._plans.peaks
        if peaks is not None:
            for result, count in peaks.lookups.items():
                f.history_lookups.add_metric([result], count)
            for kind, count in peaks.counts().items():
                f.history_peaks.add_metric([kind], count)
        return f.all()

    def _next_sale(
        self,
        workload: Workload,
        timeline: Timeline,
        snapshot: Snapshot,
        now: int,
        ahead: dict[str, list[Occurrence]],
    ) -> tuple[int, int] | None:
        """(S, S-L) of the next occurrence that starts after `now` and raises this workload.

        Only starts the timeline covers count (its value at S is the floor the alert compares
        with); of several occurrences starting at S, the earliest lead point wins. `ahead`
        keeps each calendar's occurrences starting after `now`, listed once per scrape. The
        answer holds until S passes or the timeline is rebuilt (`collect` keeps it till then):
        at 10,000 events it costs ~2 ms per workload, on the event loop.
        """
        found: tuple[int, int] | None = None
        demands: dict[int, int | None] = {}  # id(event) -> its demand: recurring events repeat
        names = workload.calendars or tuple(snapshot.calendars)
        peaks = self._plans.peaks_for(workload, snapshot.loaded(names), now)  # `like` events
        for name in names:
            calendar = snapshot.calendars.get(name)
            if calendar is None:
                continue
            if name not in ahead:
                ahead[name] = [o for o in self._outlook.upcoming(calendar, now) if o.start > now]
            for occ in ahead[name]:
                if occ.start >= timeline.valid_until or (found and occ.start > found[0]):
                    break
                key = id(occ.event)
                if key not in demands:
                    demands[key] = demand(occ.event, workload, peaks)
                if not demands[key]:
                    continue
                lead_point = occ.start - effective_timing(occ.event, workload).lead_time
                if found is None or (occ.start, lead_point) < found:
                    found = (occ.start, lead_point)
        return found


@dataclass(frozen=True, slots=True)
class _Sale:
    timeline: Timeline
    built: tuple[int, int]  # the timeline's (version, valid_from) when this was worked out
    sale: tuple[int, int] | None  # (S, S-L), or None: none within the timeline


_WORKLOAD = ["namespace", "name", "metric"]
_CALENDAR = ["calendar"]


class _Families:
    """The metric families of one scrape (the collector owns no state between scrapes)."""

    def __init__(self) -> None:
        self.build = InfoMetricFamily(
            "calendar_scaler_build", "calendar-scaler version and the Python running it."
        )
        self.replicas = GaugeMetricFamily(
            "calendar_scaler_workload_replicas",
            "Replica floor served now to each ScaledObject KEDA asked about in the last hour "
            "(the value GetMetrics returns).",
            labels=_WORKLOAD,
        )
        self.workload_error = GaugeMetricFamily(
            "calendar_scaler_workload_error",
            "1 while the scaler answers this ScaledObject with an error (INVALID_ARGUMENT for "
            "bad metadata, GetMetricSpec's included, UNAVAILABLE for a calendar never loaded); "
            "the status page and /api/workloads show the message.",
            labels=_WORKLOAD,
        )
        self.loaded = GaugeMetricFamily(
            "calendar_scaler_calendar_loaded",
            "1 once the calendar has loaded (from its source or the state directory).",
            labels=_CALENDAR,
        )
        self.from_state = GaugeMetricFamily(
            "calendar_scaler_calendar_loaded_from_state",
            "1 while the calendar in force is the last good copy from the state directory (the "
            "source has not answered since the scaler started).",
            labels=_CALENDAR,
        )
        self.events = GaugeMetricFamily(
            "calendar_scaler_calendar_events",
            "Events in the calendar in force (disabled ones included).",
            labels=_CALENDAR,
        )
        self.active = GaugeMetricFamily(
            "calendar_scaler_calendar_active_events",
            "Events with an occurrence in progress now (start <= now < end; lead time and ramps "
            "not counted).",
            labels=_CALENDAR,
        )
        self.next_start = GaugeMetricFamily(
            "calendar_scaler_calendar_next_event_start_timestamp_seconds",
            "Start of the next event occurrence (Unix time); absent when none starts in the "
            "next 8 days.",
            labels=_CALENDAR,
        )
        self.loads = CounterMetricFamily(
            "calendar_scaler_calendar_loads",
            "Calendars put in force since the scaler started (the first load and each change).",
            labels=_CALENDAR,
        )
        self.last_success = GaugeMetricFamily(
            "calendar_scaler_source_last_success_timestamp_seconds",
            "When the source was last read successfully, or its state copy loaded (Unix time); "
            "absent until then.",
            labels=_CALENDAR,
        )
        self.last_attempt = GaugeMetricFamily(
            "calendar_scaler_source_last_attempt_timestamp_seconds",
            "When the source was last tried (Unix time).",
            labels=_CALENDAR,
        )
        self.attempt_failed = GaugeMetricFamily(
            "calendar_scaler_source_last_attempt_failed",
            "1 when the latest attempt to read the source failed (the last good calendar stays "
            "in force).",
            labels=_CALENDAR,
        )
        self.errors = CounterMetricFamily(
            "calendar_scaler_source_errors",
            "Failed attempts to read a calendar source, by reason: fetch, timeout, status, size, "
            "parse, invalid, io, internal.",
            labels=["calendar", "reason"],
        )
        self.state_failed = GaugeMetricFamily(
            "calendar_scaler_state_write_failed",
            "1 when the last good copy could not be written to the state directory (a restart "
            "during a source outage would then serve an outdated copy, or no calendar).",
            labels=_CALENDAR,
        )
        # The next sale of each workload, for the alert that fires between its lead point and
        # its start while the HPA runs fewer replicas than the floor (deploy/monitoring).
        self.next_start_w = GaugeMetricFamily(
            "calendar_scaler_workload_next_start_timestamp_seconds",
            "Start S of the next event occurrence that raises this ScaledObject (Unix time); "
            "absent when none starts within its timeline (the next 2 days at least).",
            labels=_WORKLOAD,
        )
        self.next_lead = GaugeMetricFamily(
            "calendar_scaler_workload_next_lead_timestamp_seconds",
            "Lead point S-L of that occurrence (Unix time): from then on the full floor is "
            "served, and the replicas should be running by S.",
            labels=_WORKLOAD,
        )
        self.next_floor = GaugeMetricFamily(
            "calendar_scaler_workload_next_floor_replicas",
            "Replica floor this ScaledObject gets at that start (all events together, as "
            "`plan` gives it).",
            labels=_WORKLOAD,
        )

        self.history_lookups = CounterMetricFamily(
            "calendar_scaler_history_lookups",
            "Peak lookups in Prometheus for like events, by result: known (a peak), none (no "
            "sample: otherwise applies), error (Prometheus failed; retried with backoff).",
            labels=["result"],
        )
        self.history_peaks = GaugeMetricFamily(
            "calendar_scaler_history_peaks",
            "Peaks of like events by state: known, none (no history), pending (not answered "
            "yet), failing (the last lookup failed). Absent without --prometheus.",
            labels=["state"],
        )

    def all(self) -> list[Metric]:
        """Every family, in the order defined above: a new one cannot be left out."""
        return list(vars(self).values())
