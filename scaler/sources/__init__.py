"""Where calendars come from: files and URLs, reloaded live, with the last good one kept.

The names below are imported when first used: the parser processes (workers.py) import this
package too, and need none of the HTTP client and source machinery behind them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scaler.sources.config import SourceSpec, load_specs
    from scaler.sources.manager import SourceManager
    from scaler.sources.remote import FetchLimits
    from scaler.sources.reporting import REASONS
    from scaler.sources.store import CalendarStore, Snapshot, SourceHealth

__all__ = [
    "REASONS",
    "CalendarStore",
    "FetchLimits",
    "Snapshot",
    "SourceHealth",
    "SourceManager",
    "SourceSpec",
    "load_specs",
]

_HOMES = {
    "REASONS": "reporting",
    "CalendarStore": "store",
    "FetchLimits": "remote",
    "Snapshot": "store",
    "SourceHealth": "store",
    "SourceManager": "manager",
    "SourceSpec": "config",
    "load_specs": "config",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
