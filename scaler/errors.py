"""Every error calendar-scaler raises on purpose.

    ScalerError
    ├── CalendarError            a calendar file or feed is invalid (rejected whole)
    │                            .problems: every `file:line: event 'x': ...` found
    ├── MetadataError            a ScaledObject's trigger metadata is wrong (-> INVALID_ARGUMENT)
    │                            .key: the metadata key to fix
    ├── CalendarUnavailable      a calendar a workload needs has never loaded (-> UNAVAILABLE)
    ├── PlanPending              a workload's plan is still being built (-> UNAVAILABLE)
    ├── SourceError              a source could not be read (network, file, size limit, ...)
    ├── HistoryError             Prometheus history could not be read (down, bad query, ...)
    │                            .reason: short label for metrics (fetch, timeout, query, ...)
    └── UsageError               a command-line argument is wrong (exit 1 / 2)

Messages name the place and the fix; gRPC status codes are chosen only at the servicer boundary.
"""

from __future__ import annotations

__all__ = [
    "CalendarError",
    "CalendarUnavailable",
    "HistoryError",
    "MetadataError",
    "PlanPending",
    "ScalerError",
    "SourceError",
    "UsageError",
]


class ScalerError(Exception):
    """Base of every error calendar-scaler raises on purpose."""


class CalendarError(ScalerError):
    """A calendar is invalid. It carries every problem found, each `place: what and how to fix`."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class MetadataError(ScalerError):
    """Trigger metadata is wrong; `key` names the metadata key the user has to fix."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


class CalendarUnavailable(ScalerError):
    """A calendar a workload needs has never loaded, from its source or the state directory."""

    def __init__(self, names: list[str]) -> None:
        self.names = sorted(names)
        listed = ", ".join(self.names)
        super().__init__(
            f"calendar {listed} has not loaded yet; check the source's logs and "
            "/readyz (the HPA holds its replicas meanwhile)"
        )


class PlanPending(ScalerError):
    """A workload's plan took longer to build than a call waits; the build goes on."""

    def __init__(self, workload: str, waited: float) -> None:
        self.workload = workload
        super().__init__(
            f"{workload}: the plan is still being computed (more than {waited:g} s so far); "
            "the next call gets it. If this keeps happening, shorten the workload's leadTime, "
            "rampUp or rampDown, or the calendar's frequent events"
        )


class SourceError(ScalerError):
    """A calendar source could not be read: the last good calendar stays in force."""

    def __init__(self, message: str, *, reason: str = "fetch") -> None:
        self.reason = reason  # short, bounded label for metrics: fetch, timeout, size, parse, ...
        super().__init__(message)


class HistoryError(ScalerError):
    """Prometheus could not answer a history query; the message carries Prometheus's own error
    text when Prometheus answered with one (a bad query, say)."""

    def __init__(self, message: str, *, reason: str = "fetch") -> None:
        self.reason = reason  # short, bounded label for metrics: fetch, timeout, size, query, ...
        super().__init__(message)


class UsageError(ScalerError):
    """A command-line argument is wrong."""
