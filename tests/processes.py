"""`calendar-scaler serve` as a real process on loopback ports, for tests that stop or kill it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["free_port", "start_serve", "wait_ready"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered 200")


def start_serve(calendar: Path, grpc_port: int, http_port: int) -> subprocess.Popen[str]:
    """`serve` with one calendar `sales`, ready (its /readyz answers 200) when this returns."""
    server = subprocess.Popen(
        [sys.executable, "-m", "scaler.cli", "serve", "--calendar", f"sales={calendar}",
         "--grpc-port", str(grpc_port), "--http-port", str(http_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{http_port}/readyz", time.monotonic() + 30)
    except AssertionError:
        server.kill()
        raise AssertionError(f"server never became ready: {server.communicate()[1]}") from None
    return server
