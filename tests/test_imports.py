"""What the server and its parser processes import at start: nothing they do not use."""

from __future__ import annotations

import subprocess
import sys

import pytest


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_a_server_of_calendar_files_does_not_import_the_http_client() -> None:
    """httpx (URL sources, Prometheus) is imported on first use: ~0.1 s of start-up."""
    modules = imported_after("import scaler.app")
    assert "scaler.service.server" in modules  # the server itself is there
    assert "httpx" not in modules


@pytest.mark.parametrize("heavy", ["httpx", "grpc", "prometheus_client", "scaler.service"])
def test_the_parser_processes_import_the_parser_only(heavy: str) -> None:
    """What the forkserver preloads (and every parser worker inherits)."""
    modules = imported_after("import scaler.sources.workers, scaler.sources.warmup")
    assert "scaler.calendar.blockyaml" in modules
    assert heavy not in modules


def test_serve_starts_the_forkserver_before_importing_the_parser() -> None:
    """`serve` starts the parser processes' forkserver first thing: what that takes must
    not import the parser (~0.25 s), which the forkserver's interpreter imports meanwhile."""
    modules = imported_after("import scaler.sources.forkserver")
    assert "multiprocessing.forkserver" in modules
    assert not {m for m in modules if m.startswith("scaler.calendar")}
