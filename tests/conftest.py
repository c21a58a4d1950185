"""Fixtures shared by every test package."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from tests.prometheus import PrometheusServer, Sample, start_prometheus

EXIT_WATCHDOG_S = 30


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run is over once pytest has reported it: a process that then does not exit (the
    interpreter waiting at exit for a thread, an executor's or a library's) would hold CI until
    its hard limit. After EXIT_WATCHDOG_S the watchdog prints every thread's stack, to find
    the cause, and ends the process with the run's own status. `serve`'s own shutdown is
    tested in subprocesses (tests/test_cli.py, tests/test_serve_ports.py)."""

    def watch() -> None:
        time.sleep(EXIT_WATCHDOG_S)
        sys.stderr.write(
            f"\ntests: the run ended {EXIT_WATCHDOG_S} s ago but the process has not exited; "
            "the threads it waits for:\n"
        )
        faulthandler.dump_traceback(file=sys.__stderr__, all_threads=True)
        sys.stderr.flush()
        os._exit(int(exitstatus))

    threading.Thread(target=watch, name="exit-watchdog", daemon=True).start()
    # Should even the daemon thread never run again (a hang late in finalization, where
    # daemon threads are frozen), faulthandler's own thread still prints and exits (status 1).
    faulthandler.dump_traceback_later(2 * EXIT_WATCHDOG_S, exit=True, file=os.dup(2))


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[Iterable[Sample]], PrometheusServer]]:
    """`prometheus(samples)`: a real Prometheus holding the samples, stopped after the test."""
    started: list[PrometheusServer] = []

    def start(samples: Iterable[Sample] = ()) -> PrometheusServer:
        server = start_prometheus(tmp_path, samples)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
