"""Logs: one JSON object per line with time, level, event and the record's context."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.logs import JsonFormatter


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("scaler.test_logs")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, stream
    log.removeHandler(handler)
    log.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_with_time_level_event(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger

    log.info("calendar %s loaded", "sales", extra={"calendar": "sales", "events": 4})
    log.warning("second")

    first, second = lines(stream)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first["time"]))
    assert {k: v for k, v in first.items() if k != "time"} == {
        "level": "info",
        "logger": "scaler.test_logs",
        "event": "calendar sales loaded",
        "calendar": "sales",
        "events": 4,
    }
    assert (second["level"], second["event"]) == ("warning", "second")


def test_exception_and_multiline_text_stay_on_one_line(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = logger

    try:
        raise ValueError("line one\nline two")
    except ValueError:
        log.exception("source failed", extra={"path": Path("/etc/x.yaml")})

    [record] = lines(stream)
    assert (
        record["level"],
        record["event"],
        record["path"],
    ) == ("error", "source failed", "/etc/x.yaml")
    assert "ValueError: line one\nline two" in str(record["error"])
