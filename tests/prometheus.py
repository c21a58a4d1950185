"""A real Prometheus for the tests: history written with promtool, served on 127.0.0.1.

`start_prometheus(tmp_path, samples)` writes the samples as OpenMetrics, turns them into TSDB
blocks with `promtool tsdb create-blocks-from openmetrics`, and starts Debian's `prometheus` on a
free loopback port with no scrape targets, so it holds exactly what the test wrote. It returns
once `/-/ready` answers. `.stop()` terminates it (kill after a grace period).

The `prometheus` fixture in tests/conftest.py starts one per call and stops them all afterwards.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

__all__ = ["PrometheusServer", "Sample", "free_port", "openmetrics", "start_prometheus"]

Sample = tuple[str, Mapping[str, str], float, float]  # metric name, labels, value, unix seconds

_READY_WITHIN = 30.0  # seconds; 1-3 s is usual, the machine is shared
_STOP_GRACE = 10.0


def _binaries() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        pytest.fail("prometheus/promtool not installed: run `make system-deps` (Debian package)")
    return prometheus, promtool


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(samples: Iterable[Sample]) -> str:
    """The samples as an OpenMetrics text: families together, each series in time order."""
    ordered = sorted(samples, key=lambda s: (s[0], sorted(s[1].items()), s[3]))
    lines: list[str] = []
    family = None
    for name, labels, value, at in ordered:
        if name != family:
            lines.append(f"# TYPE {name} gauge")
            family = name
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f"{name}{{{pairs}}} {value!r} {at!r}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def free_port() -> int:
    """A loopback port free right now (another process may still take it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrometheusServer:
    url: str  # http://127.0.0.1:PORT, no trailing slash
    process: subprocess.Popen[bytes]
    log: Path  # its stderr, for failures

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=_STOP_GRACE)


def start_prometheus(tmp_path: Path, samples: Iterable[Sample] = ()) -> PrometheusServer:
    """A started Prometheus holding `samples`; the caller stops it (the fixture does)."""
    prometheus, promtool = _binaries()
    base = Path(tmp_path) / f"prometheus-{time.monotonic_ns()}"
    data = base / "data"
    data.mkdir(parents=True)
    samples = list(samples)
    if samples:
        source = base / "history.om"
        source.write_text(openmetrics(samples))
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    config = base / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\n")
    log = base / "prometheus.log"
    for _ in range(5):  # another process may take the free port between probe and bind
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=3650d",
                ],
                stdout=subprocess.DEVNULL,
                stderr=out,
                cwd=base,
            )
        server = PrometheusServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
        if _wait_ready(server):
            return server
        server.stop()
        if "address already in use" not in log.read_text(errors="replace"):
            break
    pytest.fail(f"prometheus did not become ready:\n{log.read_text(errors='replace')[-3000:]}")


def _wait_ready(server: PrometheusServer) -> bool:
    deadline = time.monotonic() + _READY_WITHIN
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False
