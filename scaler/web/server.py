"""The HTTP port: /metrics, /healthz, /readyz, the status page and /api/plan.

A deliberately small HTTP/1.1 server on the same event loop as gRPC (GET and HEAD, one
request per connection): it reads the plan cache and the store without locks or threads,
and needs no web framework for five read-only routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from scaler.calendar.evaluation import check_workload, plan
from scaler.calendar.history import check_likes, derivations
from scaler.errors import CalendarUnavailable, MetadataError
from scaler.service.plans import PlanCache
from scaler.sources.store import CalendarStore
from scaler.web.metrics import ScalerCollector
from scaler.web.outlook import Outlook
from scaler.web.page import StatusPage

__all__ = ["DEFAULT_PLAN_HOURS", "Response", "WebServer", "plan_json"]

log = logging.getLogger("scaler.web")
DEFAULT_PLAN_HOURS = 48
MAX_PLAN_HOURS = 24 * 31
_MAX_REQUEST = 16 * 1024

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            503: "Service Unavailable", 500: "Internal Server Error"}  # fmt: skip


# The status page needs its own inline CSS and nothing else: no script, no remote resource.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
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
    try:
        hours = Decimal(params.get("hours", str(DEFAULT_PLAN_HOURS)))
    except InvalidOperation:
        hours = Decimal(-1)
    if not hours.is_finite() or not 0 < hours <= MAX_PLAN_HOURS:
        raise HttpError(400, f"hours={params.get('hours')!r}: give a number of hours in "
                        f"(0, {MAX_PLAN_HOURS}], e.g. hours=48")  # fmt: skip
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.plans = plans
        self.registry = registry
        # asyncio binds "::" to IPv6 only; None listens on every IPv4 and IPv6 address.
        bare = host.strip("[]")
        self.host: str | None = None if bare in ("::", "", "0.0.0.0") else bare
        self.port = port
        self.clock = clock
        self._server: asyncio.Server | None = None
        # One expansion of each calendar around now, shared by scrapes and page views.
        outlook = Outlook()
        self.collector = ScalerCollector(store, plans, outlook=outlook, clock=clock)
        registry.register(self.collector)
        self._registered = True
        self.page = StatusPage(store, plans, outlook=outlook)
        self.routes: dict[str, Callable[[list[tuple[str, str]]], Response]] = {
            "/healthz": lambda q: Response(200, "ok\n"),
            "/readyz": self._readyz,
            "/metrics": self._metrics,
            "/api/plan": self._api_plan,
            "/": self._status_page,
        }

    async def start(self) -> int:
        try:
            self._server = await asyncio.start_server(self._handle, self.host, self.port)
        except OSError as exc:
            from scaler.errors import ScalerError

            raise ScalerError(
                f"cannot listen for HTTP on port {self.port} ({exc.strerror}); choose another "
                "with --http-port"
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

    def _status_page(self, query: list[tuple[str, str]]) -> Response:
        html = self.page.render(self.clock())
        return Response(200, html, "text/html; charset=utf-8", _PAGE_HEADERS)

    # -- HTTP ----------------------------------------------------------------------------------

    def respond(self, method: str, target: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, "only GET and HEAD are served\n")
        parts = urlsplit(target)
        route = self.routes.get(parts.path)
        if route is None:
            return Response(404, f"no page at {parts.path}; try /, /metrics, /readyz, /api/plan\n")
        try:
            return route(parse_qsl(parts.query, keep_blank_values=True))
        except Exception:
            log.exception("HTTP handler failed", extra={"path": parts.path})
            return Response(500, "internal error; see the scaler's logs\n")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            if len(head) > _MAX_REQUEST:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            fields = request_line.split(" ")
            if len(fields) != 3:
                response = Response(400, "bad request line\n")
                method = "GET"
            else:
                method, target = fields[0], fields[1]
                response = self.respond(method, target)
            reason = _REASONS.get(response.status, "")
            headers = (
                f"HTTP/1.1 {response.status} {reason}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in response.headers.items())
                + "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            )
            writer.write(headers.encode("latin-1"))
            if method != "HEAD":
                writer.write(response.body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):  # fmt: skip
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
