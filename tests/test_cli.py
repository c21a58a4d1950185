"""The command line as a user runs it: validate, plan, query and serve end to end."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from scaler.cli import example_calendar, main
from tests.processes import free_port, start_serve

CALENDAR = """\
version: 1
timezone: Europe/Amsterdam
defaults: {leadTime: 10m, rampUp: 4m, rampSteps: 2}
events:
  - name: winter-sale
    start: 2026-12-05T09:00
    duration: 2h
    scale: {replicas: 10}
  - name: flash
    start: 2026-12-05T10:00
    duration: 30m
    leadTime: 0s
    rampUp: 0s
    scale: {factor: 4}
    targets: [{labels: {tier: web}}]
"""


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(CALENDAR)
    return path


def test_validate_good_file_prints_ok_and_event_count(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(calendar_file)]) == 0
    assert capsys.readouterr().out == f"{calendar_file}: ok, 2 events\n"


def test_validate_broken_file_exits_1_with_file_and_line(
    tmp_path: Path, calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(CALENDAR.replace("duration: 2h", "end: 2026-12-05T08:00"))
    assert main(["validate", str(calendar_file), str(broken)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{calendar_file}: ok, 2 events\n"
    assert err.startswith(f"{broken}:7: event 'winter-sale': end 2026-12-05T08:00 is not after")


def test_validate_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_plan_json_has_the_contract_shape(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([
        "plan", str(calendar_file), "--namespace", "shop", "--name", "web",
        "--meta", "labels=tier=web", "--meta", "baseReplicas=5",
        "--from", "2026-12-05T07:40", "--to", "2026-12-05T10:00:00Z", "--format", "json",
    ])  # fmt: skip
    assert status == 0
    assert json.loads(capsys.readouterr().out) == {
        "workload": "shop/web",
        "from": "2026-12-05T07:40:00Z",
        "to": "2026-12-05T10:00:00Z",
        "points": [
            {"at": "2026-12-05T07:40:00Z", "replicas": 0, "events": []},
            # 09:00 Amsterdam is 08:00Z; lead 10m, ramp 4m in 2 steps: 07:46 and 07:48.
            {"at": "2026-12-05T07:46:00Z", "replicas": 5, "events": ["winter-sale"]},
            {"at": "2026-12-05T07:48:00Z", "replicas": 10, "events": ["winter-sale"]},
            # flash: 4 x 5 = 20 from 10:00 Amsterdam (09:00Z), no lead
            {"at": "2026-12-05T09:00:00Z", "replicas": 20, "events": ["flash", "winter-sale"]},
            {"at": "2026-12-05T09:30:00Z", "replicas": 10, "events": ["winter-sale"]},
        ],
    }


def test_plan_hours_sets_the_range(calendar_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(calendar_file), "--from", "2026-12-05T00:00", "--hours", "1.5",
                 "--format", "json"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["to"] == "2026-12-05T01:30:00Z"


def test_plan_table_lists_changes(calendar_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(calendar_file), "--from", "2026-12-05T07:40", "--hours", "4"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[-1].split() == ["2026-12-05T10:00:00Z", "0"]
    assert ["2026-12-05T07:48:00Z", "10", "winter-sale"] in [row.split() for row in rows]


def test_plan_targeted_factor_event_without_base_replicas_exits_1(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["plan", str(calendar_file), "--meta", "labels=tier=web",
                   "--from", "2026-12-01T00:00"])  # fmt: skip
    assert status == 1
    assert "baseReplicas" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        pytest.param(["--meta", "baseReplicas=x"], "baseReplicas", id="bad-number"),
        pytest.param(["--meta", "novalue"], "KEY=VALUE", id="bad-meta"),
        pytest.param(["--from", "yesterday"], "--from", id="bad-from"),
        pytest.param(["--from", "2026-12-02", "--to", "2026-12-01"], "not after", id="empty-range"),
        pytest.param(["--to", "2026-12-02", "--hours", "3"], "not both", id="to-and-hours"),
        pytest.param(["--hours", "0"], "error: --hours 0: give a number of hours > 0",
                     id="hours-0-as-written"),
        pytest.param(["--hours", "-1.5"], "error: --hours -1.5: give", id="negative-hours"),
        pytest.param(["--from", "2026-13-01"],
                     "; here a time without an offset is UTC, e.g. 2026-11-27T00:00 is midnight UTC",
                     id="from-says-utc"),
        pytest.param(["--to", "tomorrow"], "or RFC 3339 with an offset, e.g. "
                     "2026-11-27T00:00:00+09:00; here a time without an offset is UTC",
                     id="to-says-utc-not-local"),
    ],
)  # fmt: skip
def test_plan_usage_errors_exit_1(
    calendar_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["plan", str(calendar_file), *args]) == 1
    assert message in capsys.readouterr().err


def test_example_calendar_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(example_calendar())]) == 0


@pytest.mark.slow
def test_serve_then_query_then_sigterm(calendar_file: Path) -> None:
    """`make run` as a user does it: serve, query, stop with SIGTERM (exit 0, streams OK)."""
    grpc_port, http_port = free_port(), free_port()
    server = start_serve(calendar_file, grpc_port, http_port)
    try:
        query = subprocess.run(
            [sys.executable, "-m", "scaler.cli", "query", "--address", f"127.0.0.1:{grpc_port}",
             "--namespace", "shop", "--name", "web", "--meta", "calendars=sales"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert query.returncode == 0, query.stderr
        assert "metric:    sale-calendar (targetSize 1, targetSizeFloat 1)" in query.stdout
        assert "value:" in query.stdout and "active:" in query.stdout
        bad = subprocess.run(
            [sys.executable, "-m", "scaler.cli", "query", "--address", f"127.0.0.1:{grpc_port}",
             "--namespace", "shop", "--name", "web", "--meta", "calendars=nope"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert bad.returncode == 1
        assert "INVALID_ARGUMENT" in bad.stderr and "calendars" in bad.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as page:
            samples = [ln for ln in page.read().decode().splitlines() if not ln.startswith("#")]
        assert samples
        assert [s for s in samples if not s.startswith("calendar_scaler_")] == []
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=30)
    assert server.returncode == 0
    logs = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert {"time", "level", "event"} <= set(logs[0])
    assert logs[-1]["event"] == "stopped"


def test_query_without_server_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    status = main(["query", "--address", f"127.0.0.1:{port}", "--namespace", "a", "--name", "b",
                   "--timeout", "2"])  # fmt: skip
    assert status == 1
    assert "is `calendar-scaler serve` running" in capsys.readouterr().err
