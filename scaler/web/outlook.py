"""What each calendar holds around now: active occurrences, the next ones, and the
occurrences a chart needs.

Read at scrape time (metrics) and page view (status page), never on the RPC path. Expanding a
10,000-event calendar takes a good part of a second, so each calendar is expanded once over a
window from a day before now to HORIZON plus a day after, and reused until the calendar is
replaced or the clock moves a day on; answers for any `now` inside come from that list.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from scaler.calendar.evaluation import occurrences
from scaler.calendar.model import Calendar, Occurrence

__all__ = ["HORIZON", "Outlook"]

HORIZON = 8 * 86400  # how far ahead "next event" looks, seconds
_BEHIND = 86400  # expanded before now: ramps down and long events reaching into now
_REFRESH = 86400  # re-expand once the window's `now` is this far behind


@dataclass(frozen=True, slots=True)
class _Window:
    calendar: Calendar  # the object expanded; a reload publishes a new one
    now: int  # when it was expanded
    start: int  # every occurrence overlapping [start, end) is in `found`
    end: int
    found: tuple[Occurrence, ...]  # sorted by start
    starts: tuple[int, ...]
    reach: tuple[int, int]  # the largest lead+rampUp and rampDown of its events


class Outlook:
    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}

    def _window(self, calendar: Calendar, now: int) -> _Window:
        window = self._windows.get(calendar.name)
        if (
            window is None
            or window.calendar is not calendar
            or not (window.now <= now < window.now + _REFRESH)
        ):
            start, end = now - _BEHIND, now + HORIZON + _REFRESH
            found = tuple(occurrences([calendar], start, end))
            before = max(
                (e.timing.lead_time + e.timing.ramp_up for e in calendar.events), default=0
            )
            after = max((e.timing.ramp_down for e in calendar.events), default=0)
            window = _Window(
                calendar, now, start, end, found, tuple(o.start for o in found), (before, after)
            )
            self._windows[calendar.name] = window
        return window

    def forget_others(self, names: set[str]) -> None:
        for name in set(self._windows) - names:
            del self._windows[name]

    def active(self, calendar: Calendar, now: int) -> list[Occurrence]:
        """Occurrences of enabled events with start <= now < end."""
        window = self._window(calendar, now)
        upto = bisect.bisect_right(window.starts, now)
        return [o for o in window.found[:upto] if o.end > now]

    def upcoming(self, calendar: Calendar, now: int, within: int = HORIZON) -> list[Occurrence]:
        """Occurrences that are active at `now` or start in (now, now + within], by start."""
        window = self._window(calendar, now)
        upto = bisect.bisect_right(window.starts, now + min(within, HORIZON))
        return [o for o in window.found[:upto] if o.end > now]

    def next_start(self, calendar: Calendar, now: int) -> int | None:
        """The first occurrence start after `now` within HORIZON; None if there is none."""
        window = self._window(calendar, now)
        i = bisect.bisect_right(window.starts, now)
        if i < len(window.starts) and window.starts[i] <= now + HORIZON:
            return window.starts[i]
        return None

    def around(
        self, calendar: Calendar, now: int, start: int, end: int, *, lead: int, ramp_down: int
    ) -> list[Occurrence]:
        """Occurrences that can raise a workload during [start, end): a superset of what
        `evaluation.occurrences` gives for its reach, so `plan(expanded=...)` may use it.

        `lead` and `ramp_down` are the workload's own minimums (leadTime + rampUp, rampDown);
        the calendar's largest are added here. Falls back to a fresh expansion when the range
        does not fit the window (a lead time of days, say).
        """
        window = self._window(calendar, now)
        before = window.reach[0] + lead
        after = max(window.reach[1], ramp_down)
        low, high = start - after, end + before
        if not (window.start <= low and high <= window.end):
            return occurrences([calendar], start, end, before=before, after=after)
        upto = bisect.bisect_left(window.starts, high)
        return [o for o in window.found[:upto] if o.end > low]
