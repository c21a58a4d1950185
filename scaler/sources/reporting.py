"""The last-good rule, said once: what a source reports when it loads or fails.

A failed load never touches the calendar in force; it is recorded in the store's health (for
metrics, /readyz and the status page) and logged as one line a JSON formatter can print, with
`calendar`, `reason` and `origin` as fields. Reasons form a small fixed set, so a metric
labelled by reason stays bounded.
"""

from __future__ import annotations

import logging
from typing import Any

from scaler.calendar.model import Calendar
from scaler.sources.store import CalendarStore

__all__ = ["REASONS", "Reporter", "log"]

REASONS = (
    "fetch",  # the connection failed or broke (refused, reset, closed mid-body, TLS, DNS)
    "timeout",  # connect, read or the whole attempt took too long
    "status",  # the server answered with an HTTP status other than 2xx or 304
    "size",  # the content is larger than the limit
    "parse",  # not readable as YAML, JSON or iCalendar
    "invalid",  # readable, but the calendar breaks a rule of the format
    "io",  # a local file or the state directory could not be read
    "internal",  # a bug in calendar-scaler; the source is restarted
)

log = logging.getLogger("scaler.sources")


class Reporter:
    """Publishes and reports for one calendar, logging every change of what is in force."""

    def __init__(self, store: CalendarStore, name: str, origin: str) -> None:
        self._store = store
        self.name = name
        self.origin = origin

    def _extra(self, **fields: Any) -> dict[str, Any]:
        return {"calendar": self.name, "origin": self.origin, **fields}

    def loaded(self, calendar: Calendar, *, loaded_from: str, note: str = "") -> None:
        """Publish; logged as a warning when the calendar is a state copy: it may be stale."""
        self._store.publish(self.name, calendar, loaded_from=loaded_from)
        log.log(
            logging.WARNING if loaded_from == "state" else logging.INFO,
            "calendar %s loaded from %s: %d events%s",
            self.name,
            "the state directory" if loaded_from == "state" else self.origin,
            len(calendar.events),
            note,
            extra=self._extra(loaded_from=loaded_from, events=len(calendar.events)),
        )

    def confirmed(self, *, loaded_from: str = "source") -> None:
        """The source still holds the calendar in force (HTTP 304, an unchanged file)."""
        was_failing = self._store.snapshot.health[self.name].last_error is not None
        self._store.confirm(self.name, loaded_from=loaded_from)
        if was_failing:
            log.info(
                "calendar %s: %s is back; the calendar in force is current",
                self.name,
                self.origin,
                extra=self._extra(loaded_from=loaded_from),
            )

    def failed(self, reason: str, message: str, **fields: Any) -> None:
        assert reason in REASONS, reason
        self._store.report_failure(self.name, reason, message)
        health = self._store.snapshot.health[self.name]
        if self._store.snapshot.calendars.get(self.name) is None:
            level, kept = (
                logging.ERROR,
                ("it has never loaded: workloads that use it get UNAVAILABLE until it does"),
            )
        else:
            where = "the state directory" if health.loaded_from == "state" else "the source"
            level = logging.WARNING
            kept = f"keeping the last good calendar ({health.events} events, from {where})"
        log.log(
            level,
            "calendar %s: %s; %s",
            self.name,
            message,
            kept,
            extra=self._extra(reason=reason, kept=level == logging.WARNING, **fields),
        )
