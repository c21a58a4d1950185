"""What the first calendar read would otherwise do once: done in the forkserver, at its start.

Imported by multiprocessing's forkserver only (workers.py), while the server goes on with its
own imports: the parser workers forked from it find the holidays package's country list
(~500 modules, ~0.2 s), the cron reader, the time zone reader and the parser's patterns ready.
"""

from __future__ import annotations

import holidays

from scaler.calendar.parsing import parse_yaml_calendar

__all__: list[str] = []

_SAMPLE = """\
version: 1
timezone: Asia/Tokyo
defaults: {leadTime: 15m, rampUp: 10m, rampDown: 10m, rampSteps: 5}
exclusions:
  year-end: [2026-12-31, 2027-01-01]
events:
  - name: one-off
    start: 2026-11-27T10:00
    end: 2026-11-28
    scale: {factor: 2.5}
    targets:
      - labels: {tier: frontend}
        namespace: "shop*"
  - name: recurring
    schedule: "0 21 * * *"
    duration: 1h
    from: 2026-12-01
    until: 2027-01-31
    exclude: [year-end, "holidays:JP"]
    scale: {load: 2000}
"""

holidays.list_supported_countries()
parse_yaml_calendar(_SAMPLE, name="warm-up", origin="warm-up")
