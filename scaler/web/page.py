"""Placeholder replaced by the status page work (issue 5)."""
from __future__ import annotations

from scaler.service.plans import PlanCache
from scaler.sources.store import CalendarStore


def render_status_page(store: CalendarStore, plans: PlanCache, *, now: float) -> str:
    names = ", ".join(store.names)
    return f"<!doctype html><title>calendar-scaler</title><h1>calendar-scaler</h1><p>{names}</p>"
