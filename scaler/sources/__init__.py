"""Where calendars come from: files and URLs, reloaded live, with the last good one kept."""

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
