"""The pure core: calendars as values, parsing and validation, recurrence, evaluation.

Nothing here reads the clock or does I/O: every function that depends on time takes `now`
(or a range) as an argument.
"""

from scaler.calendar.evaluation import Plan, Point, check_workload, plan, value_at
from scaler.calendar.model import Calendar, Event, Occurrence, Scale, Target, Timing
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.workload import Workload, parse_metadata

__all__ = [
    "Calendar",
    "Event",
    "Occurrence",
    "Plan",
    "Point",
    "Scale",
    "Target",
    "Timing",
    "Workload",
    "check_workload",
    "parse_calendar",
    "parse_metadata",
    "plan",
    "value_at",
]
