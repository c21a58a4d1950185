"""Real things for source tests: an HTTP server on 127.0.0.1 in a thread, calendars that tell
their version apart, and a watcher that sees every snapshot a reader could have seen.

Every wait here is bounded; a server stops its handler threads when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from scaler.sources.remote import FetchLimits
from scaler.sources.store import CalendarStore, SourceHealth

# Small and fast, so every fault test ends within a few seconds.
LIMITS = FetchLimits(
    connect_timeout=1.0,
    read_timeout=1.0,
    attempt_timeout=2.0,
    max_bytes=64 * 1024,
    retry_initial=0.05,
    state_grace=0.3,
)

T = TypeVar("T")

Version = tuple[str, ...]  # the event names of a calendar: which complete version it is


def calendar_text(*events: str) -> str:
    """A valid calendar whose events are named `events` (its version)."""
    lines = ["version: 1", "timezone: UTC", "events:"]
    for day, name in enumerate(events, start=1):
        lines += [
            f"  - name: {name}",
            f"    start: 2026-11-{day:02d}T00:00",
            "    duration: 1h",
            "    scale: {replicas: 5}",
        ]
    if not events:
        lines[-1] = "events: []"
    return "\n".join(lines) + "\n"


V1: Version = ("sale-one",)
V2: Version = ("sale-one", "sale-two")
V3: Version = ("sale-one", "sale-two", "sale-three")
YAML_V1 = calendar_text(*V1)
YAML_V2 = calendar_text(*V2)
YAML_V3 = calendar_text(*V3)
BROKEN_YAML = "version: 1\nevents: [\n  {name: oops\n"
INVALID_CALENDAR = (  # readable YAML, but the end is before the start
    "version: 1\ntimezone: UTC\nevents:\n  - name: backwards\n    start: 2026-11-27T10:00\n"
    "    end: 2026-11-27T09:00\n    scale: {replicas: 3}\n"
)

ICS = (  # a floating-time sale, and a VEVENT without numbers (not a sale unless a default scale)
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calendar-scaler tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:1@test\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20261127T100000\r\nDTEND:20261127T110000\r\nSUMMARY:Black Friday\r\n"
    "DESCRIPTION:replicas: 5\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:2@test\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20261128T100000\r\nDTEND:20261128T110000\r\nSUMMARY:Team lunch\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)
ICS_SALE_UTC = 1795773600  # 2026-11-27T10:00Z: the sale's start when floating times are UTC


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run a scenario on a fresh event loop, failing it if it takes longer than `timeout`."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "") -> float:
    """Poll every 5 ms until `predicate()`; return how long it took; AssertionError if never."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout}s: {what or predicate}")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


def served(store: CalendarStore, name: str = "sales") -> Version | None:
    calendar = store.snapshot.calendars.get(name)
    return None if calendar is None else tuple(e.name for e in calendar.events)


def health(store: CalendarStore, name: str = "sales") -> SourceHealth:
    return store.snapshot.health[name]


class SnapshotWatcher:
    """Sees every snapshot: as a store listener (each swap) and as a reader sampling the store.

    `check` asserts that every calendar anyone could have seen is one of the complete versions.
    """

    def __init__(self, store: CalendarStore, name: str = "sales") -> None:
        self.store = store
        self.name = name
        self.published: list[Version | None] = []  # in order, one per swap that changed calendars
        self.sampled: set[Version | None] = set()
        self._unsubscribe = store.subscribe(lambda snap: self.published.append(served(store, name)))
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            snapshot = self.store.snapshot  # one read, as a request handler does
            calendar = snapshot.calendars.get(self.name)
            self.sampled.add(None if calendar is None else tuple(e.name for e in calendar.events))
            await asyncio.sleep(0.001)

    async def __aenter__(self) -> SnapshotWatcher:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._unsubscribe()

    def check(self, allowed: Iterable[Version | None]) -> None:
        allowed = set(allowed) | {None}
        seen = set(self.published) | self.sampled
        assert seen <= allowed, f"a reader saw {seen - allowed}, not a complete version"


@dataclass
class Reply:
    """What the server answers to GET. `mode` picks a fault."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/yaml"
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # ok | hang (no answer for `delay` s) | cut (half the body, then close) | stream (no length,
    # `chunk` bytes at a time until `total` or the client leaves) | drop (close, no answer)
    mode: str = "ok"
    delay: float = 0.0
    chunk: int = 64 * 1024
    total: int = 0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: CalendarServer
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs in this connection's thread, bounded: done in accept(), a client
        # that stalls mid-handshake would block serve_forever and so shutdown() for ever.
        request.settimeout(10)
        with self.tls.wrap_socket(request, server_side=True) as conn:
            super().finish_request(conn, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner.errors += 1  # a client that went away mid-answer; expected in fault tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        reply = owner.routes.get(self.path, owner.reply)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status = reply.status
        if (reply.mode == "ok" and reply.etag and headers.get("if-none-match") == reply.etag) or (
            reply.mode == "ok"
            and reply.last_modified
            and not reply.etag
            and headers.get("if-modified-since") == reply.last_modified
        ):
            status = 304
        with owner.lock:
            owner.requests.append(Seen(self.path, headers, status))
        if reply.mode == "hang":
            owner.stopping.wait(reply.delay)
            self.close_connection = True
            return
        if reply.mode == "drop":
            self.close_connection = True
            return
        self.send_response(status)
        if reply.content_type and status != 304:
            self.send_header("Content-Type", reply.content_type)
        if reply.etag:
            self.send_header("ETag", reply.etag)
        if reply.last_modified:
            self.send_header("Last-Modified", reply.last_modified)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if status == 304:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if reply.mode == "stream":
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            sent = 0
            piece = b"#" * reply.chunk
            try:
                while sent < reply.total and not owner.stopping.is_set():
                    self.wfile.write(piece)
                    sent += len(piece)
            except OSError:
                pass
            with owner.lock:
                owner.streamed.append(sent)
            return
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.mode == "cut":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(reply.body)


class CalendarServer:
    """An HTTP server on 127.0.0.1 (port 0 unless given) that answers with `reply`."""

    def __init__(
        self, reply: Reply | None = None, *, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.reply = reply or Reply()
        self.routes: dict[str, Reply] = {}  # replies for these paths instead of `reply`
        self.requests: list[Seen] = []
        self.streamed: list[int] = []  # bytes each `stream` answer got out before it ended
        self.errors = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self.scheme = "http"
        if tls is not None:
            self._httpd.tls = tls
            self.scheme = "https"
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/sales.yaml", *, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"{self.scheme}://{at}127.0.0.1:{self.port}{path}"

    def serve(self, text: str | bytes, **fields: Any) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.reply = Reply(body=body, **fields)

    def count(self, status: int | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if status is None or r.status == status)

    def stop(self) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CalendarServer:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.stopping.is_set():
            self.stop()


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` as editors and `kubectl cp` tools that write safely do: new inode, rename."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


class ConfigMapDir:
    """A directory laid out as the kubelet mounts a ConfigMap or a Secret, with its atomic update.

    dir/..2026_<n>/sales.yaml, dir/..data -> ..2026_<n>, dir/sales.yaml -> ..data/sales.yaml;
    an update writes a new `..2026_<n+1>` directory, swaps `..data` with a rename of a temporary
    symlink, then removes the old directory.
    """

    def __init__(self, root: Path, files: dict[str, str | bytes]) -> None:
        self.root = root
        self.generation = 0
        root.mkdir(parents=True, exist_ok=True)
        data = self._write(files)
        os.symlink(data.name, root / "..data")
        for name in files:
            os.symlink(f"..data/{name}", root / name)

    def _write(self, files: dict[str, str | bytes]) -> Path:
        self.generation += 1
        data = self.root / f"..2026_11_27_00_00_{self.generation:02d}.{os.getpid()}"
        data.mkdir()
        for name, content in files.items():
            (data / name).write_bytes(content.encode() if isinstance(content, str) else content)
        return data

    def update(self, files: dict[str, str | bytes]) -> None:
        old = (self.root / "..data").resolve()
        data = self._write(files)
        temp = self.root / "..data_tmp"
        os.symlink(data.name, temp)
        os.replace(temp, self.root / "..data")
        for child in old.iterdir():
            child.unlink()
        old.rmdir()


@contextlib.contextmanager
def file_size_limit(size: int) -> Iterator[None]:
    """Writes past `size` bytes fail with EFBIG ("File too large"), as on a full disk a write
    fails and a rename still works. Process-wide (RLIMIT_FSIZE): keep the block short."""
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, previous)


def self_signed_certificate(directory: Path) -> tuple[Path, Path] | None:
    """(cert.pem, key.pem) for 127.0.0.1 made with the openssl command; None without it."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=20,
    )  # fmt: skip
    return cert, key
