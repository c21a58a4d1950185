"""`calendar-scaler serve` and its ports, as a user starts it: a port in use or an address that
is not this machine's is one clear line on stderr and exit 1; --listen-address applies to both
ports. Every server here listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.slow

LOOPBACK = ["--listen-address", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another process listens on (127.0.0.1), as a second scaler or a proxy would."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def serve(
    *args: str, code: str = "from scaler.cli import main; sys.exit(main())"
) -> tuple[int, str]:
    """Run serve until it exits by itself: (exit status, stderr)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}", "serve", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.stdout == ""
    return done.returncode, done.stderr


def only_line(stderr: str) -> str:
    """The event of the one JSON log line stderr holds (and fail if it holds anything else)."""
    [line] = stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error"
    event: str = record["event"]
    return event


def test_http_port_in_use_is_one_line_and_exit_1(taken: int) -> None:
    status, stderr = serve(*LOOPBACK, "--grpc-port", str(free_port()), "--http-port", str(taken))

    assert status == 1
    assert only_line(stderr) == (
        f"--http-port {taken} on 127.0.0.1: address already in use; stop the other process or "
        "pick another port"
    )


def test_grpc_port_in_use_is_one_line_and_exit_1(taken: int) -> None:
    """Without the check before grpc binds, grpc's C-core logs its own line first."""
    status, stderr = serve(*LOOPBACK, "--grpc-port", str(taken), "--http-port", str(free_port()))

    assert status == 1
    assert only_line(stderr) == (
        f"--grpc-port {taken} on 127.0.0.1: address already in use; stop the other process or "
        "pick another port"
    )


@pytest.mark.parametrize("flag", ["--grpc-port", "--http-port"])
def test_port_in_use_with_the_default_address_is_one_line_and_exit_1(taken: int, flag: str) -> None:
    """The default listens on every address: a listener on 127.0.0.1 alone is in the way.
    (grpc's C-core used to log its own line first; a taken HTTP port left a traceback.)"""
    other = "--http-port" if flag == "--grpc-port" else "--grpc-port"

    status, stderr = serve(flag, str(taken), other, str(free_port()))

    assert status == 1
    assert only_line(stderr) == (
        f"{flag} {taken}: address already in use; stop the other process or pick another port"
    )


def test_http_port_lost_after_grpc_started_stops_grpc_without_a_traceback(taken: int) -> None:
    """The port taken between the check and the bind: the gRPC server already listening is
    stopped before the loop closes (it used to print Server.__del__'s traceback)."""
    skip_check = "import scaler.app; scaler.app._try_listen = lambda *a: None; "
    status, stderr = serve(
        *LOOPBACK, "--grpc-port", str(free_port()), "--http-port", str(taken),
        code=skip_check + "from scaler.cli import main; sys.exit(main())",
    )  # fmt: skip

    assert status == 1
    events = [json.loads(line)["event"] for line in stderr.splitlines()]
    assert events[-1].startswith(f"--http-port {taken}: cannot listen")
    assert "serving gRPC" in events


def test_listen_address_not_of_this_machine_is_one_line_and_exit_1() -> None:
    status, stderr = serve("--listen-address", "192.0.2.1", "--grpc-port", str(free_port()))

    assert status == 1
    assert only_line(stderr) == (
        "--listen-address 192.0.2.1: not an address of this machine; give one of its "
        "addresses, or [::] for all"
    )


def test_same_port_twice_is_one_line_and_exit_1() -> None:
    port = str(free_port())

    status, stderr = serve(*LOOPBACK, "--grpc-port", port, "--http-port", port)

    assert status == 1
    assert only_line(stderr) == (
        f"--grpc-port and --http-port are both {port}; give each its own port"
    )


def _answers(family: socket.AddressFamily, host: str, port: int) -> bool:
    with socket.socket(family) as sock:
        sock.settimeout(5)
        try:
            sock.connect((host, port))
        except OSError:
            return False
        return True


def test_listen_address_applies_to_both_ports() -> None:
    grpc_port, http_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "scaler.cli", "serve", *LOOPBACK, "--grpc-port", str(grpc_port),
         "--http-port", str(http_port)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _answers(socket.AF_INET, "127.0.0.1", http_port):
            assert time.monotonic() < deadline and server.poll() is None, "serve never listened"
            time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5) as page:
            assert page.status == 200
        assert _answers(socket.AF_INET, "127.0.0.1", grpc_port)
        if socket.has_ipv6 and _ipv6_loopback():
            # [::] would take these; 127.0.0.1 must not.
            assert not _answers(socket.AF_INET6, "::1", grpc_port)
            assert not _answers(socket.AF_INET6, "::1", http_port)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True
