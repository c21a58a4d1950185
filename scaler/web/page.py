"""The status page at `/`: what an SRE looks at during a sale, rendered on the server.

One HTML document with inline CSS and inline SVG: no script, no CDN, no font download, so it
works from a read-only container behind a port-forward. Everything that comes from calendars,
sources or KEDA is escaped. Workload cards show only the metadata keys the contract defines,
never the raw trigger metadata: KEDA forwards every key, and `...FromEnv` keys arrive resolved
from the workload's environment, which may hold secrets.

Charts are cached per workload, snapshot and minute: a page refreshed every 30 s by several
people during a sale costs one plan per workload per minute on the event loop.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from scaler.calendar.evaluation import demand, effective_timing, plan
from scaler.calendar.history import Peaks, derivations, uses_history
from scaler.calendar.model import Calendar, Event, Occurrence, Scale
from scaler.calendar.workload import Workload
from scaler.service.plans import REFRESH_BEFORE_END, PlanCache, Timeline
from scaler.service.problems import Problems, WorkloadState
from scaler.sources import CalendarStore, Snapshot, SourceHealth
from scaler.web.chart import Lane, Span, timeline_svg
from scaler.web.metrics import latest_by_workload, version
from scaler.web.outlook import Outlook

__all__ = ["StatusPage", "render_status_page"]

CHART_HOURS = 48
UPCOMING_DAYS = 7
MAX_LANES = 8
MAX_UPCOMING_ROWS = 60
REFRESH_SECONDS = 30
_CACHE_LIMIT = 512


# -- formatting -----------------------------------------------------------------------------


def _utc(instant: float) -> str:
    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%a %d %b %H:%M")


def _utc_full(instant: float) -> str:
    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _relative(instant: float, now: float) -> str:
    delta = instant - now
    if abs(delta) < 1:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


def _time(instant: float, now: float) -> str:
    """A <time> element: UTC text, the relative time as its tooltip."""
    iso = dt.datetime.fromtimestamp(instant, dt.UTC).isoformat().replace("+00:00", "Z")
    return (
        f'<time datetime="{iso}" title="{escape(_relative(instant, now))}">'
        f"{escape(_utc(instant))}</time>"
    )


def _zone(event: Event) -> dt.tzinfo | None:
    """The event's own zone when its schedule carries one (cron rules do), else None."""
    zone = getattr(event.schedule, "zone", None)
    if isinstance(zone, dt.tzinfo) and zone is not dt.UTC and str(zone) != "UTC":
        return zone
    return None


def _local(instant: int, zone: dt.tzinfo | None) -> str:
    if zone is None:
        return '<span class="muted">–</span>'
    local = dt.datetime.fromtimestamp(instant, zone)
    return escape(f"{local:%a %d %b %H:%M} {local.tzname() or ''} ({zone})")


def _amount(scale: Scale) -> str:
    amount = format(scale.amount.normalize(), "f")
    if scale.kind == "replicas":
        return f"{amount} replicas"
    if scale.kind == "factor":
        return f"×{amount} baseReplicas"
    if scale.like is not None:
        return f"like {scale.like.event} ×{amount}"
    return f"load {amount}"


def _targets(event: Event) -> str:
    if not event.targets:
        return "every workload"
    parts = []
    for target in event.targets:
        bits = []
        if target.namespace is not None or target.name is not None:
            bits.append(f"{target.namespace or '*'}/{target.name or '*'}")
        bits.extend(f"{k}={v}" for k, v in sorted(target.labels.items()))
        text = " ".join(bits) or "any"
        if target.scale is not None:
            text += f" → {_amount(target.scale)}"
        parts.append(text)
    return "; ".join(parts)


def _badge(kind: str, text: str, title: str = "") -> str:
    tip = f' title="{escape(title)}"' if title else ""
    return f'<span class="badge {kind}"{tip}>{escape(text)}</span>'


# -- the page -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Chart:
    """One workload's chart and what it was drawn from; valid while both are the same."""

    timeline: Timeline  # identity check: the cache is keyed by id()
    calendars: tuple[Calendar, ...]  # identity: a reload publishes new calendar objects
    per_event: dict[int, tuple[int | None, int, int, int]]  # id(event) -> demand, reach, lead
    times: list[int] | None = None  # the timeline's change points the svg was drawn from
    minute: int = -1
    svg: str = ""


class StatusPage:
    def __init__(
        self,
        store: CalendarStore,
        plans: PlanCache,
        *,
        outlook: Outlook | None = None,
        problems: Problems | None = None,
    ) -> None:
        self._store = store
        self._plans = plans
        self._problems = problems or Problems()
        self._outlook = outlook or Outlook()
        self._charts: dict[int, _Chart] = {}

    def render(self, now: float) -> str:
        snapshot = self._store.snapshot
        self._outlook.forget_others(set(snapshot.calendars))
        workloads = latest_by_workload(self._plans.seen())
        upcoming = self._upcoming(snapshot, int(now))
        failing = self._problems.failing()
        body = [
            self._header(snapshot, now),
            self._banners(snapshot, now),
            self._summary(snapshot, upcoming, now),
            _problems(failing, now),
            self._workloads(snapshot, workloads, now),
            self._events(upcoming, now),
            self._sources(snapshot, now),
            "<footer>Read-only. Times in UTC; hover a time for how far away it is. "
            f"Refreshes every {REFRESH_SECONDS} s. JSON: <code>/api/plan?namespace=NS&amp;"
            'name=NAME</code>, <a href="/api/workloads">/api/workloads</a> · metrics: '
            '<a href="/metrics">/metrics</a> · '
            '<a href="/readyz">/readyz</a></footer>',
        ]
        return _document("".join(body))

    # -- sections ----------------------------------------------------------------------------

    def _header(self, snapshot: Snapshot, now: float) -> str:
        missing = snapshot.missing()
        if missing:
            ready = _badge("bad", "not ready", f"not loaded: {', '.join(missing)}")
        else:
            ready = _badge("good", "ready")
        return (
            "<header><div><h1>calendar-scaler</h1>"
            '<p class="sub">KEDA external scaler · replica floors from the sale calendar</p>'
            f'</div><div class="meta">{ready}<span>{escape(_utc_full(now))}</span>'
            f"<span>v{escape(version())}</span></div></header>"
        )

    def _banners(self, snapshot: Snapshot, now: float) -> str:
        out = []
        for name, calendar in snapshot.calendars.items():
            health = snapshot.health.get(name)
            if calendar is None:
                why = f": {health.last_error}" if health and health.last_error else ""
                out.append(
                    f'<div class="banner bad"><b>Calendar {escape(name)} has not loaded</b>'
                    f"{escape(why)}. Workloads that use it get UNAVAILABLE, and the HPA holds "
                    "their replicas.</div>"
                )
            elif health is not None and health.last_error is not None:
                since = (
                    f" (last success {escape(_relative(health.last_success, now))})"
                    if health.last_success is not None else ""
                )  # fmt: skip
                out.append(
                    f'<div class="banner warn"><b>Source of {escape(name)} is failing</b>'
                    f"{since}: {escape(health.last_error)}. The last good calendar "
                    f"({health.events} events) stays in force.</div>"
                )
            if health is not None and health.state_error is not None:
                out.append(
                    f'<div class="banner warn"><b>State copy of {escape(name)} not written</b>: '
                    f"{escape(health.state_error)}</div>"
                )
        return "".join(out)

    def _summary(
        self,
        snapshot: Snapshot,
        upcoming: Sequence[tuple[str, Occurrence, int]],
        now: float,
    ) -> str:
        total = len(snapshot.calendars)
        loaded = total - len(snapshot.missing())
        active = sorted({o.event.name for _, o, _ in upcoming if o.start <= now})
        future = [o for _, o, _ in upcoming if o.start > now]
        nxt = min(future, key=lambda o: o.start, default=None)
        seen = self._problems.workloads()  # every call counts, a failing GetMetricSpec too
        failing = sum(1 for w in seen if w.error is not None)
        tiles = [
            ("Calendars loaded", f"{loaded} / {total}", "good" if loaded == total else "bad", ""),
            (
                "Events active now",
                str(len(active)),
                "hot" if active else "",
                ", ".join(active) or "none",
            ),
            (
                "Next event",
                _relative(nxt.start, now) if nxt else "none in 7 days",
                "",
                f"{nxt.event.name} at {_utc(nxt.start)} UTC" if nxt else "",
            ),
            (
                "Workloads seen (1 h)",
                str(len(seen)),
                "bad" if failing else "",
                f"{failing} failing: see Problems" if failing else "ScaledObjects KEDA asked about",
            ),
        ]
        cells = "".join(
            f'<div class="tile {kind}"><div class="label">{escape(label)}</div>'
            f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
            for label, value, kind, note in tiles
        )
        return f'<section class="tiles">{cells}</section>'

    def _workloads(self, snapshot: Snapshot, workloads: Sequence[Timeline], now: float) -> str:
        head = f"<h2>Workloads <small>planned replicas, next {CHART_HOURS} h</small></h2>"
        if not workloads:
            return (
                f'<section>{head}<p class="empty">No ScaledObject has asked in the last hour. '
                "KEDA calls GetMetrics every polling interval once a ScaledObject points its "
                "<code>external</code> trigger here.</p></section>"
            )
        # Workloads in error first: during a sale they are what needs a look.
        ordered = _beside(sorted(workloads, key=lambda t: t.error is None))
        cards = [self._workload(snapshot, timeline, now) for timeline in ordered]
        live = {id(t) for t in workloads}
        for key in [k for k in self._charts if k not in live]:
            del self._charts[key]
        return f"<section>{head}{''.join(cards)}</section>"

    def _workload(self, snapshot: Snapshot, timeline: Timeline, now: float) -> str:
        w = timeline.workload
        assert w is not None
        title = (
            f'<div class="wl-title"><h3>{escape(w.namespace)}/<b>{escape(w.name)}</b></h3>'
            f'<span class="muted">metric {escape(w.metric_name)} · asked '
            f"{escape(_relative(timeline.last_seen, now))}</span></div>"
        )
        chips = "".join(f'<span class="chip">{escape(c)}</span>' for c in _workload_chips(w))
        history = self._history(snapshot, w, now)
        if timeline.error is not None:
            return (
                f'<article class="card error">{title}<div class="chips">{chips}</div>'
                f'<p class="errmsg">{_badge("bad", "error")} {escape(str(timeline.error))}</p>'
                f"{history}</article>"
            )
        value = timeline.value(now)
        i = bisect.bisect_right(timeline.times, now)
        if i < len(timeline.times):
            at = timeline.times[i]
            change = (
                f"→ <b>{timeline.values[i]}</b> at {_time(at, now)} UTC "
                f'<span class="muted">({escape(_relative(at, now))})</span>'
            )
        else:
            change = '<span class="muted">no change in the next days</span>'
        now_line = (
            f'<div class="now-value"><span class="big">{value}</span> replicas now '
            f'<span class="next">{change}</span></div>'
        )
        chart = self._chart(snapshot, timeline, w, now)
        kind = "card headroom" if w.headroom_for is not None else "card"
        return (
            f'<article class="{kind}">{title}<div class="chips">{chips}</div>{now_line}'
            f'{history}<div class="chartbox">{chart}</div></article>'
        )

    def _history(self, snapshot: Snapshot, w: Workload, now: float) -> str:
        """How each `like` event sizes this workload: "47 at peak during ... = 57", or why
        the peak is pending or failing (section 9)."""
        calendars = snapshot.loaded(w.calendars or tuple(snapshot.calendars))
        peaks = self._plans.peaks_for(w, calendars, int(now))
        found = derivations(calendars, w, peaks, int(now))
        if not found:
            return ""
        kinds = {"known": "good", "none": "warn", "pending": "warn", "failing": "bad"}
        rows = "".join(
            f"<li>{_badge(kinds[d.state], d.state)} <b>{escape(d.event)}</b>: {escape(d.text)}</li>"
            for d in found
        )
        return f'<ul class="history">{rows}</ul>'

    def _chart(self, snapshot: Snapshot, timeline: Timeline, w: Workload, now: float) -> str:
        minute = int(now) // 60
        calendars = tuple(snapshot.loaded(w.calendars or tuple(snapshot.calendars)))
        chart = self._charts.get(id(timeline))
        if (
            chart is None
            or chart.timeline is not timeline
            or len(chart.calendars) != len(calendars)
            or any(a is not b for a, b in zip(chart.calendars, calendars, strict=True))
        ):
            if len(self._charts) >= _CACHE_LIMIT:
                self._charts.clear()
            chart = self._charts[id(timeline)] = _Chart(timeline, calendars, {})
        if chart.minute == minute and chart.times is timeline.times:
            return chart.svg
        start = minute * 60
        end = start + CHART_HOURS * 3600
        peaks = self._plans.peaks_for(w, list(calendars), int(now))
        lanes = self._lanes(chart, w, start, end, int(now), peaks)
        chart.svg = timeline_svg(
            label=f"{w.namespace}/{w.name}: planned replicas over the next {CHART_HOURS} h",
            points=self._points(snapshot, chart, w, start, end, int(now), peaks),
            start=start,
            end=end,
            lanes=lanes[:MAX_LANES],
            hidden_lanes=max(0, len(lanes) - MAX_LANES),
        )
        chart.minute, chart.times = minute, timeline.times
        return chart.svg

    def _points(
        self,
        snapshot: Snapshot,
        chart: _Chart,
        w: Workload,
        start: int,
        end: int,
        now: int,
        peaks: Peaks = None,
    ) -> list[tuple[int, int]]:
        """The change points over [start, end): the ones KEDA is served, when the workload's
        timeline is current and covers the range, else a plan from the shared expansion."""
        t = chart.timeline
        window_end = t.valid_until + REFRESH_BEFORE_END  # the timeline's changes reach this far
        if t.version == snapshot.version and t.valid_from <= start and end <= window_end:
            first = bisect.bisect_right(t.times, start)
            value = t.values[first - 1] if first > 0 else 0
            points = [(start, value)]
            for at, value in zip(t.times[first:], t.values[first:], strict=True):
                if at >= end:
                    break
                points.append((at, value))
            return points
        expanded = [o for c in chart.calendars for o in self._around(c, w, start, end, now)]
        result = plan(
            chart.calendars, w, start, end, with_events=False, expanded=expanded, peaks=peaks
        )
        return [(p.at, p.value) for p in result.points]

    def _around(
        self, calendar: Calendar, w: Workload, start: int, end: int, now: int
    ) -> list[Occurrence]:
        lead, down = w.lead_time + w.ramp_up + w.headroom_reach, w.ramp_down
        return self._outlook.around(calendar, now, start, end, lead=lead, ramp_down=down)

    def _lanes(
        self, chart: _Chart, w: Workload, start: int, end: int, now: int, peaks: Peaks = None
    ) -> list[Lane]:
        """One lane per event that raises this workload within [start, end), by first start.

        Demand and timing are computed once per event and workload (exact decimal arithmetic
        is the expensive part); each minute only moves the window over them.
        """
        lanes: list[Lane] = []
        served = w.served  # a headroom trigger's lanes are the served workload's events
        for calendar in chart.calendars:
            spans: dict[str, list[Span]] = {}
            for occ in self._around(calendar, w, start, end, now):
                known = chart.per_event.get(id(occ.event))
                if known is None:
                    timing = effective_timing(occ.event, served)
                    known = (
                        demand(occ.event, served, peaks),
                        timing.lead_time + timing.ramp_up + w.headroom_reach,
                        timing.ramp_down,
                        timing.lead_time,
                    )
                    if not uses_history(occ.event):  # a peak may still arrive: not kept
                        chart.per_event[id(occ.event)] = known
                d, before, after, lead = known
                # The value is > 0 from the first ramp step (S - L - R) to the end of the
                # ramp down (E + Q): see evaluation.occurrence_steps. A headroom trigger's
                # is from headroomLead before that to the lead point S - L.
                last = occ.end + after if w.headroom_for is None else occ.start - lead
                if not d or last <= start or occ.start - before >= end:
                    continue
                spans.setdefault(occ.event.name, []).append(
                    Span(
                        start=occ.start - before,
                        end=last,
                        core_start=occ.start,
                        core_end=occ.end,
                        peak=d,
                    )
                )
            lanes.extend(
                Lane(name=n, calendar=calendar.name, spans=tuple(s)) for n, s in spans.items()
            )
        lanes.sort(key=lambda lane: (lane.spans[0].start, lane.name))
        return lanes

    def _upcoming(self, snapshot: Snapshot, now: int) -> list[tuple[str, Occurrence, int]]:
        """(calendar, first occurrence active or upcoming, occurrences in the window) per event."""
        rows: list[tuple[str, Occurrence, int]] = []
        for name, calendar in snapshot.calendars.items():
            if calendar is None:
                continue
            by_event: dict[str, list[Occurrence]] = {}
            for occ in self._outlook.upcoming(calendar, now, UPCOMING_DAYS * 86400):
                by_event.setdefault(occ.event.name, []).append(occ)
            rows.extend((name, found[0], len(found)) for found in by_event.values())
        rows.sort(key=lambda r: (r[1].start, r[1].event.name, r[0]))
        return rows

    def _events(self, upcoming: Sequence[tuple[str, Occurrence, int]], now: float) -> str:
        head = (
            f"<h2>Upcoming events <small>active now and the next {UPCOMING_DAYS} days</small></h2>"
        )
        if not upcoming:
            return (
                f'<section>{head}<p class="empty">No event is active or starts in the next '
                f"{UPCOMING_DAYS} days.</p></section>"
            )
        shown = upcoming[:MAX_UPCOMING_ROWS]
        zoned = any(_zone(occ.event) is not None for _, occ, _ in shown)
        rows = []
        for calendar, occ, count in shown:
            event = occ.event
            if occ.start <= now:
                status = _badge("hot", "active", f"ends {_relative(occ.end, now)}")
                status += f' <span class="muted">ends {escape(_relative(occ.end, now))}</span>'
            else:
                status = escape(_relative(occ.start, now))
            more = (
                f'<br><span class="more">then {count - 1} more in {UPCOMING_DAYS} days</span>'
                if count > 1 else ""
            )  # fmt: skip
            scale = _amount(event.scale) if event.scale is not None else "per target"
            local = f'<td class="local">{_local(occ.start, _zone(event))}</td>' if zoned else ""
            rows.append(
                f'<tr class="{"active" if occ.start <= now else ""}">'
                f'<td class="ev">{escape(event.name)}{more}</td>'
                f"<td>{escape(calendar)}</td>"
                f"<td>{status}</td>"
                f"<td>{_time(occ.start, now)}</td><td>{_time(occ.end, now)}</td>{local}"
                f"<td>{escape(scale)}</td>"
                f'<td class="targets">{escape(_targets(event))}</td></tr>'
            )
        hidden = len(upcoming) - MAX_UPCOMING_ROWS
        extra = (
            f'<p class="muted">{hidden} more events not shown.</p>' if hidden > 0 else ""
        )  # fmt: skip
        return (
            f'<section>{head}<div class="tablewrap"><table><thead><tr><th>Event</th>'
            "<th>Calendar</th><th>When</th><th>Start (UTC)</th><th>End (UTC)</th>"
            + ("<th>Start (event's zone)</th>" if zoned else "")
            + "<th>Scale</th><th>Targets</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>{extra}</section>"
        )

    def _sources(self, snapshot: Snapshot, now: float) -> str:
        rows = []
        for name, calendar in snapshot.calendars.items():
            health = snapshot.health.get(name) or SourceHealth(origin="?")
            rows.append(_source_row(name, calendar, health, now))
        return (
            '<section><h2>Calendars and sources</h2><div class="tablewrap"><table><thead><tr>'
            "<th>Calendar</th><th>Source</th><th>State</th><th>Events</th>"
            "<th>Last success</th><th>Last attempt</th><th>Last error</th><th>Failures</th>"
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
        )


def _problems(failing: Sequence[WorkloadState], now: float) -> str:
    """Every workload whose last call failed. KEDA shows a failing GetMetricSpec only as
    "got empty metric spec": this is where the reason is."""
    head = "<h2>Problems <small>ScaledObjects whose last call failed</small></h2>"
    if not failing:
        return (
            f'<section>{head}<p class="empty">None: every ScaledObject asked about in the '
            "last hour got an answer.</p></section>"
        )
    rows = []
    for state in failing:
        error = state.error
        assert error is not None
        rows.append(
            f'<tr><td class="ev">{escape(state.namespace)}/{escape(state.name)}</td>'
            f"<td>{escape(state.metric)}</td><td>{escape(error.method)}</td>"
            f'<td class="errtext">{escape(error.message)}</td>'
            f'<td>{_time(error.since, now)}<br><span class="muted">'
            f"{escape(_relative(error.since, now))}</span></td>"
            f"<td>{escape(_relative(state.last_seen, now))}</td></tr>"
        )
    return (
        f'<section class="problems">{head}<div class="tablewrap"><table><thead><tr>'
        "<th>ScaledObject</th><th>Metric</th><th>Call</th><th>Error</th><th>Since (UTC)</th>"
        f"<th>Last asked</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _source_row(name: str, calendar: Calendar | None, health: SourceHealth, now: float) -> str:
    if calendar is None:
        state = _badge("bad", "not loaded")
    elif health.loaded_from == "state":
        state = _badge("warn", "last good copy", "loaded from the state directory")
    else:
        state = _badge("good", "loaded")
    if calendar is not None and health.last_error is not None:
        state += " " + _badge("warn", "source failing")

    def when(instant: float | None) -> str:
        if instant is None:
            return '<span class="muted">never</span>'
        return (
            f'{_time(instant, now)}<br><span class="muted">{escape(_relative(instant, now))}</span>'
        )

    if health.last_error is not None:
        reason = _badge("warn", health.error_reason or "error")
        error = f'{reason} <span class="errtext">{escape(health.last_error)}</span>'
    else:
        error = '<span class="muted">–</span>'
    if health.state_error is not None:
        error += f"<br>{_badge('warn', 'state')} {escape(health.state_error)}"
    failures = ", ".join(f"{k} {v}" for k, v in sorted(health.failures.items()) if v)
    events = str(len(calendar.events)) if calendar is not None else "–"
    failed = escape(failures) if failures else '<span class="muted">none</span>'
    return (
        f'<tr><td class="ev">{escape(name)}</td><td class="origin">{escape(health.origin)}</td>'
        f"<td>{state}</td><td>{events}</td><td>{when(health.last_success)}</td>"
        f"<td>{when(health.last_attempt)}</td><td>{error}</td>"
        f"<td>{failed}</td></tr>"
    )


def _workload_chips(w: Workload) -> list[str]:
    chips = [f"calendars: {', '.join(w.calendars) if w.calendars else 'all'}"]
    if w.labels:
        chips.append("labels: " + ",".join(f"{k}={v}" for k, v in sorted(w.labels.items())))
    if w.base_replicas is not None:
        chips.append(f"baseReplicas {w.base_replicas}")
    if w.capacity_per_replica is not None:
        chips.append(f"capacityPerReplica {w.capacity_per_replica}")
    if w.load_share != 1:
        chips.append(f"loadShare {w.load_share}")
    for label, seconds in (("leadTime", w.lead_time), ("rampUp", w.ramp_up),
                           ("rampDown", w.ramp_down)):  # fmt: skip
        if seconds:
            chips.append(f"{label} {_span(seconds)}")
    if w.headroom_for is not None:
        chips.insert(0, f"headroom for {'/'.join(w.headroom_for)}")
        chips.append(f"headroomLead {_span(w.headroom_lead)}")
    return chips


def _beside(timelines: Sequence[Timeline]) -> list[Timeline]:
    """The same cards, each headroom trigger's right after the workload it makes room for
    (when that workload is on the page; else where it was)."""
    refs = {(w.namespace, w.name) for t in timelines if (w := t.workload) and not w.headroom_for}
    rooms: dict[tuple[str, str], list[Timeline]] = {}
    for t in timelines:
        if t.workload is not None and t.workload.headroom_for in refs:
            rooms.setdefault(t.workload.headroom_for, []).append(t)
    ordered: list[Timeline] = []
    for t in timelines:
        w = t.workload
        if w is None or w.headroom_for not in refs:
            ordered.append(t)
            if w is not None and w.headroom_for is None:
                ordered.extend(rooms.get((w.namespace, w.name), ()))
    return ordered


def render_status_page(store: CalendarStore, plans: PlanCache, *, now: float) -> str:
    """The page without a chart cache (for one-off rendering)."""
    return StatusPage(store, plans).render(now)


def _document(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        "<title>calendar-scaler status</title>"
        f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>"
    )


_CSS = """
:root{--bg:#f4f6fa;--card:#fff;--ink:#1b2430;--muted:#6b7686;--line:#e3e8ef;--grid:#edf0f5;
--accent:#2563eb;--good:#0f7b4f;--good-bg:#dcf5e8;--warn:#8a5a00;--warn-bg:#fff1cc;
--bad:#b42318;--bad-bg:#fde4e1;--hot:#9a3412;--hot-bg:#ffe7d6;--band:#f7f9fc}
@media (prefers-color-scheme:dark){:root{--bg:#0f141b;--card:#171e27;--ink:#e6ebf2;
--muted:#93a0b2;--line:#273241;--grid:#222c38;--accent:#60a5fa;--good:#6ee7b7;
--good-bg:#0f3b2c;--warn:#fcd34d;--warn-bg:#3d2f0b;--bad:#fca5a5;--bad-bg:#4a1717;
--hot:#fdba74;--hot-bg:#47230b;--band:#1b232e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,
sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 24px 40px}
header{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;
padding-bottom:14px;border-bottom:1px solid var(--line);margin-bottom:16px}
h1{margin:0;font-size:24px;letter-spacing:-.01em}
h2{font-size:17px;margin:28px 0 10px}
h2 small{font-weight:400;color:var(--muted);font-size:13px;margin-left:6px}
h3{margin:0;font-size:16px;font-weight:500}
.sub{margin:2px 0 0;color:var(--muted)}
.meta{display:flex;gap:12px;align-items:center;color:var(--muted);font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;
white-space:nowrap;vertical-align:1px}
.badge.good{background:var(--good-bg);color:var(--good)}
.badge.warn{background:var(--warn-bg);color:var(--warn)}
.badge.bad{background:var(--bad-bg);color:var(--bad)}
.badge.hot{background:var(--hot-bg);color:var(--hot)}
.banner{padding:10px 14px;border-radius:8px;margin:8px 0;border:1px solid}
.banner.bad{background:var(--bad-bg);color:var(--bad);border-color:var(--bad)}
.banner.warn{background:var(--warn-bg);color:var(--warn);border-color:var(--warn)}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-top:12px}
.tile{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px 14px}
.tile .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile .value{font-size:24px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.tile .note{color:var(--muted);font-size:12px;min-height:1.2em;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.tile.good .value{color:var(--good)}.tile.bad .value{color:var(--bad)}
.tile.hot .value{color:var(--hot)}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:14px 16px 8px;margin-bottom:14px}
.card.error{border-color:var(--bad)}
.card.headroom{margin-left:28px;border-style:dashed}
.wl-title{display:flex;justify-content:space-between;align-items:baseline;gap:12px}
.chips{margin:6px 0 4px}
.chip{display:inline-block;background:var(--band);border:1px solid var(--line);border-radius:6px;
padding:0 7px;margin:0 6px 4px 0;font-size:12px;color:var(--muted)}
.now-value{margin:4px 0 2px}.now-value .big{font-size:26px;font-weight:700;
font-variant-numeric:tabular-nums;color:var(--accent)}
.next{margin-left:14px}
.errmsg{margin:8px 0 10px}
.history{margin:6px 0;padding-left:18px}.history li{margin:2px 0}
.chartbox{margin:4px -4px 0}
svg.chart{width:100%;height:auto;display:block;font-family:inherit}
svg .grid{stroke:var(--grid);stroke-width:1}
svg .axis{stroke:var(--muted);stroke-width:1}
svg .ytick{fill:var(--muted);font-size:11px;text-anchor:end;font-variant-numeric:tabular-nums}
svg .xtick{fill:var(--muted);font-size:11px;text-anchor:middle}
svg .xdate{fill:var(--ink);font-size:11px;font-weight:600;text-anchor:middle}
svg .xunit{fill:var(--muted);font-size:11px;text-anchor:end}
svg .area{fill:var(--accent);fill-opacity:.14}
svg .step{fill:none;stroke:var(--accent);stroke-width:2;stroke-linejoin:round}
svg .vlabel{fill:var(--accent);font-size:11px;font-weight:700}
svg .now{stroke:var(--hot);stroke-width:1.5;stroke-dasharray:3 3}
svg .nowlabel{fill:var(--hot);font-size:11px;font-weight:600}
svg .empty{fill:var(--muted);font-size:13px;text-anchor:middle}
svg .laneband{fill:var(--band)}
svg .ramp{fill-opacity:.35}
svg .lanename{font-size:11px;font-weight:600}
svg .lanepeak{fill:var(--muted);font-weight:400}
svg .lanemore{fill:var(--muted);font-size:11px}
.tablewrap{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);font-weight:600;background:var(--band);white-space:nowrap}
tbody tr:last-child td{border-bottom:0}
tr.active td{background:var(--hot-bg)}
td{font-variant-numeric:tabular-nums}
td.ev{font-weight:600;white-space:nowrap}
td time{white-space:nowrap}
td.origin{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
overflow-wrap:anywhere;min-width:120px;max-width:280px}
td .more{font-weight:400;color:var(--muted);font-size:12px}
td.targets{color:var(--muted);font-size:12px;max-width:260px}
td.local{white-space:nowrap;color:var(--muted)}
.errtext{font-size:12px}
.muted{color:var(--muted)}
.empty{color:var(--muted)}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
a{color:var(--accent)}
footer{margin-top:32px;color:var(--muted);font-size:12px}
@media (max-width:800px){.tiles{grid-template-columns:repeat(2,1fr)}header{flex-wrap:wrap}}
"""
