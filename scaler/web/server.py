"""The HTTP port: /metrics, /healthz, /readyz, the status page, /api/plan and /api/workloads.

A deliberately small HTTP/1.1 server on the same event loop as gRPC (GET and HEAD, one
request per connection): it reads the plan cache and the store without locks or threads,
and needs no web framework for six read-only routes. Requests it will not read whole (a
request line or headers over the limits) get their status (414, 431) before the connection
closes, and the rest of what the client sent is read and dropped first: closing with unread
input makes the kernel reset the connection, and the client may lose the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from scaler.calendar.evaluation import check_workload, plan
from scaler.calendar.history import check_likes, derivations
from scaler.errors import CalendarUnavailable, MetadataError
from scaler.service.plans import PlanCache
from scaler.service.problems import Problems
from scaler.sources.store import CalendarStore
from scaler.web.metrics import ScalerCollector
from scaler.web.outlook import Outlook
from scaler.web.page import StatusPage

__all__ = ["DEFAULT_PLAN_HOURS", "Response", "WebServer", "plan_json"]

log = logging.getLogger("scaler.web")
DEFAULT_PLAN_HOURS = 48
MAX_PLAN_HOURS = 24 * 31
MAX_REQUEST_LINE = 8 * 1024  # bytes; longer: 414
MAX_HEADERS = 100  # header lines; more, or more than MAX_HEADER_BYTES in all: 431
MAX_HEADER_BYTES = 16 * 1024
_DRAIN_BYTES = 1024 * 1024  # read and dropped before closing on a request not read whole
_DRAIN_SECONDS = 2.0
_HOURS = re.compile(r"[0-9]+(?:\.[0-9]+)?")  # plain ASCII decimals: no 1e-9, no 1_0

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            414: "URI Too Long", 431: "Request Header Fields Too Large",
            503: "Service Unavailable", 500: "Internal Server Error"}  # fmt: skip
_METHODS = "GET, HEAD"


# The status page needs its own inline CSS and nothing else: no script, no remote resource.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
}


class Response:
    def __init__(
        self,
        status: int,
        body: bytes | str,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or {}

    @classmethod
    def json(cls, status: int, data: Any) -> Response:
        return cls(status, json.dumps(data, indent=2) + "\n", "application/json")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def plan_json(
    store: CalendarStore,
    plans: PlanCache,
    query: list[tuple[str, str]],
    *,
    now: float,
) -> dict[str, object]:
    """The `plan --format json` object for /api/plan (SPEC section 8)."""
    params: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for key, value in query:
        if key == "meta":
            k, sep, v = value.partition("=")
            if not sep or not k:
                raise HttpError(
                    400, f"meta={value!r}: write meta=KEY=VALUE, e.g. meta=baseReplicas=4"
                )
            overrides[k] = v
        else:
            params[key] = value
    namespace, name = params.get("namespace", ""), params.get("name", "")
    if not namespace or not name:
        raise HttpError(400, "give namespace and name, e.g. /api/plan?namespace=shop&name=web")
    text = params.get("hours", str(DEFAULT_PLAN_HOURS))
    hours = Decimal(text) if _HOURS.fullmatch(text) else Decimal(-1)
    if not 0 < hours <= MAX_PLAN_HOURS or int(hours * 3600) < 1:
        raise HttpError(400, f"hours={text[:100]!r}: give a plain decimal number of hours, at "
                        f"least one second and at most {MAX_PLAN_HOURS}, e.g. hours=48 or "
                        "hours=0.5")  # fmt: skip
    metadata = {**plans.last_metadata(namespace, name), **overrides}
    try:
        workload = plans.workload(namespace, name, metadata)
    except MetadataError as exc:
        raise HttpError(400, str(exc)) from exc
    snapshot = store.snapshot
    names = workload.calendars or tuple(snapshot.calendars)
    missing = snapshot.missing(names)
    if missing:
        raise HttpError(503, str(CalendarUnavailable(missing)))
    calendars = snapshot.loaded(names)
    start = int(now)
    try:
        check_workload(calendars, workload, start)
    except MetadataError as exc:
        raise HttpError(400, str(exc)) from exc
    end = start + int(hours * 3600)
    peaks = plans.peaks_for(workload, calendars, start)
    try:
        check_likes(calendars, workload, peaks, start, end)
    except CalendarUnavailable as exc:  # a peak still unknown (section 9)
        raise HttpError(503, str(exc)) from exc
    except MetadataError as exc:
        raise HttpError(400, str(exc)) from exc
    document = plan(calendars, workload, start, end, peaks=peaks).to_json()
    history = derivations(calendars, workload, peaks, start)
    if history:  # additive: how `like` events were sized
        document["history"] = [d.to_json() for d in history]
    return document


class WebServer:
    def __init__(
        self,
        store: CalendarStore,
        plans: PlanCache,
        *,
        registry: CollectorRegistry,
        host: str = "[::]",
        port: int = 8080,
        problems: Problems | None = None,  # the servicer's: who gets errors
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.plans = plans
        self.registry = registry
        self.problems = problems or Problems(clock=clock)
        # asyncio binds "::" to IPv6 only; None listens on every IPv4 and IPv6 address, as
        # grpc does for [::]. 0.0.0.0 stays IPv4 only, as it is for grpc.
        bare = host.strip("[]")
        self.host: str | None = None if bare in ("::", "") else bare
        self.port = port
        self.clock = clock
        self._server: asyncio.Server | None = None
        # One expansion of each calendar around now, shared by scrapes and page views.
        outlook = Outlook()
        self.collector = ScalerCollector(
            store, plans, outlook=outlook, problems=self.problems, clock=clock
        )
        registry.register(self.collector)
        self._registered = True
        self.page = StatusPage(store, plans, outlook=outlook, problems=self.problems)
        self.routes: dict[str, Callable[[list[tuple[str, str]]], Response]] = {
            "/healthz": lambda q: Response(200, "ok\n"),
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/api/plan": self._api_plan,
            "/api/workloads": self._api_workloads,
            "/": self._status_page,
        }

    async def start(self) -> int:
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, self.port, limit=MAX_REQUEST_LINE
            )
        except OSError as exc:
            from scaler.errors import ScalerError

            raise ScalerError(
                f"--http-port {self.port}: cannot listen ({exc.strerror}); stop the other "
                "process or pick another port"
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("serving HTTP", extra={"port": self.port})
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._registered:
            self.registry.unregister(self.collector)
            self._registered = False

    # -- routes ------------------------------------------------------------------------------

    def _readyz(self, query: list[tuple[str, str]]) -> Response:
        missing = self.store.snapshot.missing()
        if missing:
            return Response(503, f"not ready: calendar {', '.join(missing)} has not loaded yet\n")
        return Response(200, "ready\n")

    def _metrics(self, query: list[tuple[str, str]]) -> Response:
        return Response(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)

    def _api_plan(self, query: list[tuple[str, str]]) -> Response:
        try:
            return Response.json(200, plan_json(self.store, self.plans, query, now=self.clock()))
        except HttpError as exc:
            return Response.json(exc.status, {"error": str(exc)})

    def _api_workloads(self, query: list[tuple[str, str]]) -> Response:
        return Response.json(200, {"workloads": [s.to_json() for s in self.problems.workloads()]})

    def _status_page(self, query: list[tuple[str, str]]) -> Response:
        html = self.page.render(self.clock())
        return Response(200, html, "text/html; charset=utf-8", _PAGE_HEADERS)

    # -- HTTP ----------------------------------------------------------------------------------

    def respond(self, method: str, target: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, f"only {_METHODS} are served\n", headers={"Allow": _METHODS})
        parts = urlsplit(target)
        route = self.routes.get(parts.path)
        if route is None:
            return Response(404, f"no page at {parts.path[:200]}; try /, /metrics, /readyz, "
                            "/api/plan, /api/workloads\n")  # fmt: skip
        try:
            return route(parse_qsl(parts.query, keep_blank_values=True))
        except Exception:
            log.exception("HTTP handler failed", extra={"path": parts.path[:200]})
            return Response(500, "internal error; see the scaler's logs\n")

    async def _read(self, reader: asyncio.StreamReader) -> tuple[str, Response, bool]:
        """(method, response, whether the request was read whole)."""
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            message = f"request line over {MAX_REQUEST_LINE} bytes; shorten the URL\n"
            return "GET", Response(414, message), False
        count = size = 0
        body = False  # a body follows the headers: it is not read, so drain it before closing
        while True:
            try:
                header = await reader.readuntil(b"\n")
            except asyncio.LimitOverrunError:
                header = b"x" * (MAX_HEADER_BYTES + 1)
            if header in (b"\r\n", b"\n"):
                break
            count, size = count + 1, size + len(header)
            name, _, value = header.partition(b":")
            name, value = name.strip().lower(), value.strip()
            body |= name == b"transfer-encoding" or (name == b"content-length" and value != b"0")
            if count > MAX_HEADERS or size > MAX_HEADER_BYTES:
                message = (f"request headers over {MAX_HEADERS} lines or {MAX_HEADER_BYTES} "
                           "bytes; send fewer or shorter headers\n")  # fmt: skip
                return "GET", Response(431, message), False
        fields = line.rstrip(b"\r\n").decode("latin-1").split(" ")
        if len(fields) != 3:
            return "GET", Response(400, "bad request line\n"), False
        method, target = fields[0], fields[1]
        return method, self.respond(method, target), not body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, response, whole = await asyncio.wait_for(self._read(reader), timeout=10)
            reason = _REASONS.get(response.status, "")
            headers = (
                f"HTTP/1.1 {response.status} {reason}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
                + "X-Content-Type-Options: nosniff\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            )
            writer.write(headers.encode("latin-1"))
            if method != "HEAD":
                writer.write(response.body)
            await writer.drain()
            if not whole:
                writer.write_eof()
                await asyncio.wait_for(_drain(reader), timeout=_DRAIN_SECONDS)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):  # fmt: skip
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def _drain(reader: asyncio.StreamReader) -> None:
    """Read what the client still sends, up to _DRAIN_BYTES, until it closes."""
    left = _DRAIN_BYTES
    while left > 0:
        chunk = await reader.read(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)
