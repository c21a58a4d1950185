"""The calendars in force: one immutable snapshot, swapped whole.

Sources publish a calendar only after it parsed and validated completely; readers take
`store.snapshot` once per request, so no request ever sees half of a reload. Listeners (the
service's plan cache, open StreamIsActive calls) are called on the event loop after each swap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from scaler.calendar.model import Calendar

__all__ = ["CalendarStore", "Snapshot", "SourceHealth"]


@dataclass(frozen=True, kw_only=True)
class SourceHealth:
    origin: str  # file path or URL (without credentials), for status and logs
    loaded_from: str | None = None  # "source" or "state" (last-good copy); None: never loaded
    last_success: float | None = None  # wall-clock time of the last good load
    last_attempt: float | None = None
    last_error: str | None = None  # why the latest attempt failed; None when it succeeded
    error_reason: str | None = None  # short label: fetch, timeout, size, parse, invalid, ...
    events: int = 0  # events in the calendar in force
    loads: int = 0  # calendars put in force since the process started
    failures: Mapping[str, int] = field(default_factory=dict)  # failed attempts by reason
    state_error: str | None = None  # why the last-good copy could not be written; None: fine


@dataclass(frozen=True, kw_only=True)
class Snapshot:
    version: int
    calendars: Mapping[str, Calendar | None]  # every configured name; None: never loaded
    health: Mapping[str, SourceHealth] = field(default_factory=dict)

    def loaded(self, names: Iterable[str] | None = None) -> list[Calendar]:
        chosen = self.calendars if names is None else names
        return [c for n in chosen if (c := self.calendars.get(n)) is not None]

    def missing(self, names: Iterable[str] | None = None) -> list[str]:
        chosen = self.calendars if names is None else names
        return [n for n in chosen if self.calendars.get(n) is None]


Listener = Callable[[Snapshot], None]


class CalendarStore:
    def __init__(self, origins: Mapping[str, str], *, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._listeners: list[Listener] = []
        self.snapshot = Snapshot(
            version=0,
            calendars=MappingProxyType(dict.fromkeys(origins)),
            health=MappingProxyType({n: SourceHealth(origin=o) for n, o in origins.items()}),
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.snapshot.calendars)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _swap(
        self,
        calendars: Mapping[str, Calendar | None],
        health: Mapping[str, SourceHealth],
        *,
        notify: bool = True,
    ) -> None:
        # The version numbers what answers depend on (calendars, peaks): a change of health
        # alone keeps it, so timelines built on the calendars stay valid.
        self.snapshot = Snapshot(
            version=self.snapshot.version + notify,
            calendars=MappingProxyType(dict(calendars)),
            health=MappingProxyType(dict(health)),
        )
        if not notify:  # only health changed: plans and streams stay as they are
            return
        for listener in list(self._listeners):
            listener(self.snapshot)

    def publish(self, name: str, calendar: Calendar, *, loaded_from: str = "source") -> None:
        """Put a fully validated calendar in force."""
        now = self._clock()
        calendars = dict(self.snapshot.calendars)
        calendars[name] = calendar
        health = dict(self.snapshot.health)
        health[name] = replace(
            health[name], loaded_from=loaded_from, last_success=now, last_attempt=now,
            last_error=None, error_reason=None, events=len(calendar.events),
            loads=health[name].loads + 1,
        )  # fmt: skip
        self._swap(calendars, health)

    def republish(self) -> None:
        """Something the answers depend on besides the calendars changed (a `like` event's
        peak arrived): a new version with the same calendars, so plans rebuild and open
        streams re-read at once."""
        self._swap(self.snapshot.calendars, self.snapshot.health)

    def confirm(self, name: str, *, loaded_from: str = "source") -> None:
        """The source answered and the calendar in force is still current (e.g. HTTP 304)."""
        now = self._clock()
        health = dict(self.snapshot.health)
        health[name] = replace(
            health[name], loaded_from=loaded_from, last_success=now, last_attempt=now,
            last_error=None, error_reason=None,
        )  # fmt: skip
        self._swap(self.snapshot.calendars, health, notify=False)

    def report_state_error(self, name: str, message: str | None) -> None:
        """The last-good copy could not be written (message), or was written again (None)."""
        health = dict(self.snapshot.health)
        health[name] = replace(health[name], state_error=message)
        self._swap(self.snapshot.calendars, health, notify=False)

    def report_failure(self, name: str, reason: str, message: str) -> None:
        """A load failed: the calendar in force (if any) stays; health records why."""
        health = dict(self.snapshot.health)
        failures = dict(health[name].failures)
        failures[reason] = failures.get(reason, 0) + 1
        health[name] = replace(
            health[name], last_attempt=self._clock(), last_error=message, error_reason=reason,
            failures=MappingProxyType(failures),
        )  # fmt: skip
        self._swap(self.snapshot.calendars, health, notify=False)
