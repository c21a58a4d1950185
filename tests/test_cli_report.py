"""`calendar-scaler report` against a real Prometheus holding the history the tests write.

One history covers every case, relative to the real clock (report judges up to now): a sale
ready before its start, one late, one never reached, two overlapping, one without any sample,
one in progress, plus events the report must leave out (disabled, older than 7 days, future).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scaler.calendar.timefmt import format_instant
from scaler.cli import main
from tests.prometheus import PrometheusServer, Sample, start_prometheus

Start = Callable[[Iterable[Sample]], PrometheusServer]
REPLICAS = "kube_horizontalpodautoscaler_status_current_replicas"
HPA = {"namespace": "shop", "horizontalpodautoscaler": "keda-hpa-web"}
MIN, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class Times:
    now: int  # the real clock, whole minutes, when the test starts
    ready: int  # each event's start S
    late: int
    never: int
    big: int
    flash: int
    dark: int
    running: int


def _times() -> Times:
    now = int(time.time()) // MIN * MIN
    hour = now // HOUR * HOUR
    return Times(now=now, ready=hour - 6 * DAY, late=hour - 5 * DAY, never=hour - 4 * DAY,
                 big=hour - 3 * DAY, flash=hour - 3 * DAY + 2 * HOUR, dark=hour - 2 * DAY,
                 running=now - 30 * MIN)  # fmt: skip


def _calendar(t: Times) -> str:
    def at(instant: int) -> str:
        return format_instant(instant)

    return f"""\
version: 1
timezone: UTC
events:
  - name: ready-sale       # ramp from S-15m30s: grids from S-L-R and from S differ
    start: {at(t.ready)}
    duration: 1h
    leadTime: 10m30s
    rampUp: 5m
    scale: {{replicas: 20}}
  - name: late-sale
    start: {at(t.late)}
    duration: 1h
    scale: {{replicas: 20}}
  - name: never-sale
    start: {at(t.never)}
    duration: 30m
    scale: {{replicas: 50}}
  - name: big-sale
    start: {at(t.big)}
    duration: 4h
    scale: {{replicas: 30}}
  - name: flash-sale       # inside big-sale: its floor is 30, not 10
    start: {at(t.flash)}
    duration: 1h
    scale: {{replicas: 10}}
  - name: dark-sale        # Prometheus has no sample of it
    start: {at(t.dark)}
    duration: 30m
    scale: {{replicas: 5}}
  - name: running-sale
    start: {at(t.running)}
    duration: 2h
    scale: {{replicas: 10}}
  - name: paused
    start: {at(t.dark + 6 * HOUR)}
    duration: 1h
    disabled: true
    scale: {{replicas: 99}}
  - name: old-sale         # more than 7 days ago
    start: {at(t.ready - 2 * DAY)}
    duration: 1h
    scale: {{replicas: 7}}
  - name: next-sale        # not begun
    start: {at(t.now + HOUR)}
    duration: 1h
    scale: {{replicas: 7}}
"""


def _history(t: Times) -> list[Sample]:
    """Replicas the HPA ran, one sample a minute around each event."""
    out: list[Sample] = []

    def run(start: int, end: int, value: Callable[[int], float]) -> None:
        out.extend((REPLICAS, HPA, value(at), at) for at in range(start, end + 1, MIN))

    # ready-sale: 20 from S-12m (reached at the grid instant S-11m30s), 25 once during it, 99
    # just before the start and at its end, neither of which is "during".
    run(t.ready - 20 * MIN, t.ready + HOUR, lambda at: 2 if at < t.ready - 12 * MIN
        else {t.ready - 5 * MIN: 99, t.ready + 30 * MIN: 25, t.ready + HOUR: 99}.get(at, 20))  # fmt: skip
    run(t.late - 10 * MIN, t.late + HOUR, lambda at: 5 if at < t.late + 4 * MIN else 20)
    run(t.never - 10 * MIN, t.never + 30 * MIN, lambda at: 30)
    # 30 through big-sale, but 12 for the first 3 minutes of flash-sale.
    run(t.big - 10 * MIN, t.big + 4 * HOUR,
        lambda at: 12 if t.flash <= at < t.flash + 3 * MIN else 30)  # fmt: skip
    run(t.running - 10 * MIN, t.now - MIN, lambda at: 4)
    return out


@pytest.fixture(scope="module")
def times() -> Times:
    return _times()


@pytest.fixture
def calendar_file(tmp_path: Path, times: Times) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(_calendar(times))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, times: Times) -> Iterator[PrometheusServer]:
    """One Prometheus for the module: the tests only read it."""
    started = start_prometheus(tmp_path_factory.mktemp("prometheus"), _history(times))
    yield started
    started.stop()


def report(calendar_file: Path, url: str, *args: str) -> int:
    return main(["report", str(calendar_file), "--prometheus", url,
                 "--namespace", "shop", "--name", "web", *args])  # fmt: skip


def _row(
    event: str,
    start: int,
    end: int,
    floor: int,
    reached: int | None,
    late: int | None,
    peak: int | None,
) -> dict[str, object]:
    return {
        "event": event,
        "start": format_instant(start),
        "end": format_instant(end),
        "floor": floor,
        "reached": None if reached is None else format_instant(reached),
        "ready_at_start": late == 0,
        "late_seconds": late,
        "peak": peak,
    }


@pytest.mark.slow
def test_report_json_judges_every_event_of_the_last_7_days(
    calendar_file: Path, server: PrometheusServer, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    t = times

    status = report(calendar_file, server.url, "--format", "json")

    document = json.loads(capsys.readouterr().out)
    assert 2 == status
    assert set(document) == {"workload", "from", "to", "events"}
    assert "shop/web" == document["workload"]
    assert [
        _row("ready-sale", t.ready, t.ready + HOUR, 20, t.ready - 11 * MIN - 30, 0, 25),
        _row("late-sale", t.late, t.late + HOUR, 20, t.late + 4 * MIN, 4 * MIN, 20),
        _row("never-sale", t.never, t.never + 30 * MIN, 50, None, None, 30),
        _row("big-sale", t.big, t.big + 4 * HOUR, 30, t.big, 0, 30),
        _row("flash-sale", t.flash, t.flash + HOUR, 30, t.flash + 3 * MIN, 3 * MIN, 30),
        _row("dark-sale", t.dark, t.dark + 30 * MIN, 5, None, None, None),
        _row("running-sale", t.running, t.running + 2 * HOUR, 10, None, None, 4),
    ] == document["events"]


@pytest.mark.slow
def test_report_default_range_is_the_7_days_before_now(
    calendar_file: Path, server: PrometheusServer, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    before = int(time.time())
    report(calendar_file, server.url, "--format", "json")
    after = int(time.time())

    document = json.loads(capsys.readouterr().out)
    ends = {format_instant(s) for s in range(before, after + 1)}
    starts = {format_instant(s - 7 * DAY) for s in range(before, after + 1)}
    assert document["to"] in ends
    assert document["from"] in starts


@pytest.mark.slow
def test_report_table_says_ready_late_never_and_in_progress(
    calendar_file: Path, server: PrometheusServer, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    t = times

    assert 2 == report(calendar_file, server.url)

    out = capsys.readouterr().out
    rows = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.partition(" ")[0].endswith("-sale")
    }
    assert (
        'history: max(kube_horizontalpodautoscaler_status_current_replicas{namespace="shop",horizontalpodautoscaler="keda-hpa-web"}) at '
        + server.url
        in out
    )
    assert rows["ready-sale"].split() == ["ready-sale", format_instant(t.ready), "20",
                                          format_instant(t.ready - 690), "25", "ready"]  # fmt: skip
    assert rows["late-sale"].split()[-3:] == ["late", "by", "4m"]
    assert rows["never-sale"].split()[3:] == ["never", "30", "never", "reached"]
    assert rows["dark-sale"].split()[3:] == ["never", "-", "never", "reached"]
    assert rows["running-sale"].endswith("not reached yet (in progress)")
    assert out.rstrip().endswith("5 of 7 events not ready at the start")


@pytest.mark.slow
def test_report_exits_0_when_every_event_in_range_was_ready(
    calendar_file: Path, server: PrometheusServer, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    start = format_instant(times.ready - HOUR)

    assert 0 == report(calendar_file, server.url, "--from", start, "--hours", "2")

    out = capsys.readouterr().out
    assert "ready-sale" in out and "late-sale" not in out
    assert out.rstrip().endswith("all 1 event ready at the start")


@pytest.mark.slow
def test_report_takes_the_history_query_and_the_workload_metadata(
    calendar_file: Path, server: PrometheusServer, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    """A query of its own (4 x the HPA's replicas) and a leadTime of the workload's own: the
    grid starts 10 minutes before late-sale, where 4 x 5 already makes its floor of 20."""
    query = (
        f'4 * max({REPLICAS}{{namespace="$namespace",horizontalpodautoscaler="keda-hpa-$name"}})'
    )
    window = [
        "--from",
        format_instant(times.late - HOUR),
        "--to",
        format_instant(times.late + HOUR),
    ]

    assert 0 == report(calendar_file, server.url, "--history-query", query, *window,
                       "--meta", "leadTime=10m", "--format", "json")  # fmt: skip

    [row] = json.loads(capsys.readouterr().out)["events"]
    assert (row["event"], row["reached"], row["ready_at_start"], row["peak"]) == (
        "late-sale",
        format_instant(times.late - 10 * MIN),
        True,
        80,
    )


def test_report_with_no_event_in_range_exits_0_without_asking_prometheus(
    calendar_file: Path, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--from", format_instant(times.ready - 3 * HOUR), "--hours", "1"]

    assert 0 == report(calendar_file, f"http://127.0.0.1:{_closed_port()}", *window)

    assert "no events for this workload in range" in capsys.readouterr().out


# --------------------------------------------------------------------------- errors


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: connecting is refused


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert "" == captured.out
    lines = captured.err.splitlines()
    assert 1 == len(lines), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.mark.slow
def test_unreachable_prometheus_is_one_line_and_exit_1(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    assert 1 == report(calendar_file, url)

    line = _one_error_line(capsys)
    assert line.startswith(f"error: {url}: ")
    assert line.endswith("check the URL, DNS and network policy")


@pytest.mark.slow
def test_bad_history_query_is_prometheus_own_error_and_exit_1(
    calendar_file: Path, server: PrometheusServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 1 == report(calendar_file, server.url, "--history-query", "max(")

    line = _one_error_line(capsys)
    assert line.startswith(f"error: {server.url}: Prometheus refused the query 'max(': bad_data: ")
    assert line.endswith("; fix --history-query")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(["--from", "2026-11-20T10:00", "--to", "2026-11-20T09:00"],
                     "error: --to 2026-11-20T09:00:00Z is not after --from 2026-11-20T10:00:00Z; "
                     "the range is [from, to) and defaults to the 7 days before now",
                     id="reversed"),
        pytest.param(["--to", "2026-11-20T09:00", "--hours", "3"],
                     "error: give either --to or --hours, not both", id="to-and-hours"),
        pytest.param(["--hours", "0"],
                     "error: --hours 0: give a number of hours > 0, e.g. --hours 24", id="hours"),
        pytest.param(["--from", "yesterday"], "error: --from: ", id="bad-time"),
    ],
)  # fmt: skip
def test_bad_range_is_one_line_and_exit_1(
    calendar_file: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Checked before Prometheus is asked: the URL would not answer.
    assert 1 == report(calendar_file, f"http://127.0.0.1:{_closed_port()}", *flags)

    assert _one_error_line(capsys).startswith(message)


def test_prometheus_url_must_be_http(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert 1 == report(calendar_file, "prometheus:9090")

    assert _one_error_line(capsys).startswith(
        "error: --prometheus 'prometheus:9090': give an http(s) URL"
    )


def test_prometheus_namespace_and_name_are_required(calendar_file: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(calendar_file), "--namespace", "shop", "--name", "web"])
    assert 2 == exit_.value.code
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(calendar_file), "--prometheus", "http://127.0.0.1:9"])
    assert 2 == exit_.value.code


@pytest.mark.slow
def test_floor_of_a_like_event_comes_from_the_peak_of_the_one_it_names(
    tmp_path: Path, prometheus: Start, times: Times, capsys: pytest.CaptureFixture[str]
) -> None:
    """last-year (disabled, peak 16 in history) sizes this-year: ceil(16 x 1.5) = 24."""
    last, this = times.ready - 2 * DAY, times.late
    path = tmp_path / "like.yaml"
    path.write_text(f"""\
version: 1
timezone: UTC
events:
  - name: last-year
    start: {format_instant(last)}
    duration: 1h
    disabled: true
    scale: {{replicas: 1}}
  - name: this-year
    start: {format_instant(this)}
    duration: 10m
    scale: {{like: last-year, growth: 1.5}}
""")
    history = [(REPLICAS, HPA, 16.0 if at == last + 20 * MIN else 8.0, at)
               for at in range(last, last + HOUR, MIN)]  # fmt: skip
    history += [(REPLICAS, HPA, 24.0, at) for at in range(this, this + 10 * MIN, MIN)]
    server = prometheus(history)

    assert 0 == report(path, server.url, "--format", "json")

    [row] = json.loads(capsys.readouterr().out)["events"]
    assert (row["event"], row["floor"], row["reached"]) == ("this-year", 24, format_instant(this))
    assert 0 == report(path, server.url)
    assert "sized from history:\n  this-year: " in capsys.readouterr().out
