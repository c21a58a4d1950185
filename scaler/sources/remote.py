"""A calendar at an http(s) URL, fetched every refresh interval, kept when the fetch goes wrong.

Each fetch is a conditional GET (If-None-Match / If-Modified-Since from the content in force);
304 confirms it. Failures are retried with exponential backoff and jitter, from
`retry_initial` doubling up to the refresh interval, so a source that comes back is picked up
within seconds while a dead one is not hammered (and many scaler replicas do not retry in step).

At start, with a state directory, the saved copy's validators go with the first request: a 304
then proves the copy current. If the source fails, or has not answered within `state_grace`
seconds, the saved copy is served (loaded_from "state") until the source answers again.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scaler.calendar.model import Calendar
from scaler.calendar.timefmt import format_duration
from scaler.errors import SourceError, UsageError
from scaler.sources.config import SourceSpec
from scaler.sources.content_encoding import ACCEPT_ENCODING, Decoder
from scaler.sources.decoding import THREADS, CalendarReader, Rereader, detect_format
from scaler.sources.reporting import Reporter, log
from scaler.sources.state import SavedContent, StateDir
from scaler.sources.store import CalendarStore
from scaler.sources.urls import split_credentials

if TYPE_CHECKING:
    import httpx
else:  # imported on first use: see urls.py
    from scaler.sources.urls import httpx

__all__ = ["FetchLimits", "UrlSource"]

_ACCEPT = "application/yaml, application/json, text/calendar;q=0.9, */*;q=0.5"
_USER_AGENT = "keda-calendar-scaler"
_MAX_REDIRECTS = 5


@dataclass(frozen=True, kw_only=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # between two reads of the body, not for the whole body
    attempt_timeout: float = 30.0  # the whole request, so a server trickling bytes cannot hold it
    max_bytes: int = 5 * 1024 * 1024  # decoded body; larger is rejected while it streams in
    retry_initial: float = 1.0  # first retry after a failure; doubles up to the refresh interval
    state_grace: float = 3.0  # at start, serve the saved copy if the source has not answered


class _StatusError(SourceError):
    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, reason="status")
        self.retry_after = retry_after  # seconds a 429 or 503 asked to wait


@dataclass(frozen=True, kw_only=True)
class _Current:
    content: bytes
    etag: str | None
    last_modified: str | None


class UrlSource:
    def __init__(
        self,
        spec: SourceSpec,
        store: CalendarStore,
        *,
        refresh: float = 60.0,
        limits: FetchLimits | None = None,
        state: StateDir | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        reader: CalendarReader = THREADS,
    ) -> None:
        """`reader`: what parses the content (the parser processes in `serve`)."""
        self.spec = spec
        self._reader = reader
        self.settled = asyncio.Event()  # set once the first fetch succeeded or failed
        self._store = store
        self._reporter = Reporter(store, spec.name, spec.origin)
        self._refresh = refresh
        self._limits = limits or FetchLimits()
        self._state = state
        self._rng = rng or random.Random()
        self._clock = clock
        self._url, credentials = split_credentials(spec.location)
        self._auth = httpx.BasicAuth(*credentials) if credentials else None
        self._verify: ssl.SSLContext | bool = True  # httpx's default: certifi, or SSL_CERT_FILE
        if spec.ca_bundle is not None:
            try:
                self._verify = ssl.create_default_context(cafile=str(spec.ca_bundle))
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(
                    f"calendar {spec.name!r}: caBundle {spec.ca_bundle} is not a readable PEM "
                    f"file of CA certificates ({exc})"
                ) from exc
        self._headers = {
            "Accept": _ACCEPT,
            "Accept-Encoding": ACCEPT_ENCODING,  # only what content_encoding decodes
            "User-Agent": _USER_AGENT,
            **dict(spec.headers),
        }
        own = httpx.URL(self._url)
        self._origin = (own.scheme, own.host, own.port)
        self._secret_headers = ["Authorization", *(name for name, _ in spec.headers)]
        self._current: _Current | None = None  # the content in force
        self._saved: SavedContent | None = None  # the state copy, until the source answers
        self._state_tried = False
        self._rejected: tuple[bytes, SourceError] | None = None  # last refused content, and why
        # A change re-reads only the events whose text changed.
        self._rereader = Rereader(spec, reader)
        self._state_failing = False

    def _client(self) -> httpx.AsyncClient:
        limits = self._limits
        return httpx.AsyncClient(
            headers=self._headers,
            auth=self._auth,
            verify=self._verify,
            timeout=httpx.Timeout(
                connect=limits.connect_timeout,
                read=limits.read_timeout,
                write=limits.read_timeout,
                pool=limits.connect_timeout,
            ),
            follow_redirects=True,
            max_redirects=_MAX_REDIRECTS,
            event_hooks={"request": [self._own_origin_only]},  # runs for every redirect too
        )

    async def _own_origin_only(self, request: httpx.Request) -> None:
        """Configured headers are secrets of the source's own origin: a redirect to another
        scheme, host or port gets none of them (httpx itself drops only Authorization, and
        keeps it on a redirect from http to https)."""
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            for name in self._secret_headers:
                request.headers.pop(name, None)

    async def run(self) -> None:
        self._saved = await self._load_state()
        async with self._client() as client:
            failures = 0
            while True:
                try:
                    if not self.settled.is_set() and self._saved is not None:
                        await self._first_attempt(client)
                    else:
                        await self._attempt(client)
                except SourceError as exc:
                    failures += 1
                    await self._serve_state(f"the source failed: {exc}")
                    self._reporter.failed(exc.reason, str(exc))
                    delay = self._backoff(failures, exc)
                else:
                    failures = 0
                    delay = self._refresh * self._rng.uniform(0.9, 1.0)
                self.settled.set()
                await asyncio.sleep(delay)

    def _backoff(self, failures: int, exc: SourceError) -> float:
        delay = min(self._refresh, self._limits.retry_initial * 2.0 ** min(failures - 1, 30))
        delay *= self._rng.uniform(0.5, 1.0)
        if isinstance(exc, _StatusError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, self._refresh))  # 429 / 503 said when
        return delay

    async def _first_attempt(self, client: httpx.AsyncClient) -> None:
        attempt = asyncio.create_task(self._attempt(client))
        try:
            done, _ = await asyncio.wait({attempt}, timeout=self._limits.state_grace)
            if not done:
                grace = self._limits.state_grace
                await self._serve_state(f"the source has not answered within {grace:g}s")
            await attempt
        finally:
            attempt.cancel()

    async def _attempt(self, client: httpx.AsyncClient) -> None:
        """One conditional GET; publishes or confirms, or raises SourceError."""
        validators = self._current or self._saved
        headers: dict[str, str] = {}
        if validators is not None and validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators is not None and validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        try:
            async with asyncio.timeout(self._limits.attempt_timeout):
                status, response_headers, content = await self._get(client, headers)
        except TimeoutError as exc:
            raise SourceError(
                f"{self.spec.origin}: no complete answer within "
                f"{self._limits.attempt_timeout:g}s; check the server's health",
                reason="timeout",
            ) from exc
        except httpx.TimeoutException as exc:
            kind = "connect" if isinstance(exc, httpx.ConnectTimeout) else "read"
            seconds = (
                self._limits.connect_timeout if kind == "connect" else self._limits.read_timeout
            )
            raise SourceError(
                f"{self.spec.origin}: {kind} timed out after {seconds:g}s; check that the "
                "server is up and reachable from the scaler (DNS, network policy, proxy)",
                reason="timeout",
            ) from exc
        except httpx.HTTPError as exc:
            raise SourceError(self._describe(exc), reason="fetch") from exc

        if status == 304:
            if not headers:
                raise SourceError(
                    f"{self.spec.origin}: HTTP 304 to a request that was not "
                    "conditional; check the server",
                    reason="status",
                )
            await self._not_modified(client, response_headers)
            return
        fmt = detect_format(response_headers.get("content-type"), self._url)
        etag, last_modified = response_headers.get("etag"), response_headers.get("last-modified")
        if self._current is not None and content == self._current.content:
            self._current = _Current(content=content, etag=etag, last_modified=last_modified)
            self._reporter.confirmed()  # same bytes, e.g. from a server without validators
            return
        if self._rejected is not None and self._rejected[0] == content:
            known = self._rejected[1]  # the same broken content again: no second parse
            raise SourceError(str(known), reason=known.reason)
        try:
            calendar, note = await self._rereader.decode(content, fmt)
        except SourceError as exc:
            self._rejected = (content, exc)
            raise
        self._rejected = None
        self._current = _Current(content=content, etag=etag, last_modified=last_modified)
        self._saved = None
        self._reporter.loaded(calendar, loaded_from="source", note=note)
        await self._save_state(
            SavedContent(
                content=content,
                origin=self.spec.origin,
                content_type=response_headers.get("content-type"),
                etag=etag,
                last_modified=last_modified,
                saved_at=self._clock(),
            )
        )

    async def _get(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> tuple[int, httpx.Headers, bytes]:
        max_bytes = self._limits.max_bytes
        async with client.stream("GET", self._url, headers=headers) as response:
            status = response.status_code
            if status == 304:
                return status, response.headers, b""
            if not response.is_success:
                raise _StatusError(
                    self._status_message(response), retry_after=_retry_after(response)
                )
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(
                    self._size_message(f"{int(declared)} bytes declared"), reason="size"
                )
            decoder = Decoder(response.headers.get("content-encoding", ""), self.spec.origin)
            chunks: list[bytes] = []
            received = total = 0
            async for raw in response.aiter_raw():  # httpx would decode each chunk whole
                received += len(raw)
                if received > max_bytes:  # stop reading: the rest never reaches memory
                    raise SourceError(
                        self._size_message(f"more than {max_bytes} bytes sent"), reason="size"
                    )
                for piece in decoder.feed(raw):
                    total += len(piece)
                    if total > max_bytes:  # a compression bomb stops here, not at 2 GB
                        raise SourceError(
                            self._size_message(f"more than {max_bytes} bytes once decompressed"),
                            reason="size",
                        )
                    chunks.append(piece)
                    await asyncio.sleep(0)  # one step of decoding at a time on the event loop
            decoder.finish()
            return status, response.headers, b"".join(chunks)

    async def _not_modified(self, client: httpx.AsyncClient, headers: httpx.Headers) -> None:
        if self._current is not None:
            self._saved = None
            self._reporter.confirmed()
            return
        saved = self._saved
        assert saved is not None  # validators came from it
        try:
            calendar = await self._decode_saved(saved)
        except SourceError as exc:  # the copy is current but unusable: fetch it whole
            log.warning(
                "calendar %s: the source says the saved copy is current, but it is rejected "
                "(%s); fetching the calendar again",
                self.spec.name,
                exc,
                extra={"calendar": self.spec.name, "reason": exc.reason},
            )
            self._saved = None
            await self._attempt(client)
            return
        if self._current is None:  # the state copy may have been served meanwhile
            self._current = _Current(
                content=saved.content, etag=saved.etag, last_modified=saved.last_modified
            )
            self._saved = None
            self._reporter.loaded(
                calendar,
                loaded_from="source",
                note=" (the saved copy, confirmed current by HTTP 304)",
            )
        else:
            self._saved = None
            self._reporter.confirmed()

    async def _decode_saved(self, saved: SavedContent) -> Calendar:
        """The state copy's calendar; SourceError if it is unusable (HTML included)."""
        fmt = detect_format(saved.content_type, self._url)
        calendar, _ = await self._reader.read(self.spec, saved.content, fmt)
        return calendar

    async def _load_state(self) -> SavedContent | None:
        if self._state is None:
            return None
        try:
            saved = await asyncio.to_thread(self._state.load, self.spec.name)
        except SourceError as exc:
            log.warning(
                "calendar %s: %s",
                self.spec.name,
                exc,
                extra={"calendar": self.spec.name, "reason": exc.reason},
            )
            return None
        if saved is not None and saved.origin != self.spec.origin:
            log.info(
                "calendar %s: the saved copy came from %s, not %s; it is not used",
                self.spec.name,
                saved.origin,
                self.spec.origin,
                extra={"calendar": self.spec.name},
            )
            return None
        return saved

    async def _serve_state(self, why: str) -> None:
        """Serve the saved copy if nothing was ever loaded: at most once per run."""
        saved = self._saved
        if self._current is not None or saved is None or self._state_tried:
            return
        self._state_tried = True
        try:
            calendar = await self._decode_saved(saved)
        except SourceError as exc:
            log.error(
                "calendar %s: the last good copy in %s is rejected: %s",
                self.spec.name,
                self._state.path if self._state else "",
                exc,
                extra={"calendar": self.spec.name, "reason": exc.reason},
            )
            return
        if self._current is not None:  # the source answered while the copy was parsed
            return
        self._current = _Current(
            content=saved.content, etag=saved.etag, last_modified=saved.last_modified
        )
        saved_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(saved.saved_at))
        age = format_duration(max(0, int(self._clock() - saved.saved_at)))
        if saved.outdated:
            staleness = (
                "it is outdated: a newer calendar was fetched later but could not be written "
                "to the state directory, so this one may lack changes made since"
            )
        else:
            staleness = "changes the source made since then are not in it"
        self._reporter.loaded(
            calendar,
            loaded_from="state",
            note=f" (the last good copy, fetched {saved_at}, {age} ago; {why}; {staleness})",
        )
        self.settled.set()

    async def _save_state(self, saved: SavedContent) -> None:
        if self._state is None:
            return
        try:
            await asyncio.to_thread(self._state.save, self.spec.name, saved)
        except OSError as exc:
            message = (
                f"cannot write the last good copy to {self._state.path} "
                f"({exc.strerror or exc}); a restart while the source is down would find "
                "only an older copy, if any (marked outdated); free space or fix the volume"
            )
            self._state_failing = True
            self._store.report_state_error(self.spec.name, message)
            log.warning(
                "calendar %s: %s",
                self.spec.name,
                message,
                extra={"calendar": self.spec.name, "reason": "io"},
            )
            return
        if self._state_failing:
            self._state_failing = False
            self._store.report_state_error(self.spec.name, None)

    def _status_message(self, response: httpx.Response) -> str:
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code in (401, 403):
            var = f"CALENDAR_SCALER_HEADER_{self.spec.name.upper().replace('-', '_')}_AUTHORIZATION"
            return f"{self.spec.origin}: {status}; check the credentials ({var} or similar)"
        if response.status_code == 404:
            return f"{self.spec.origin}: {status}; check the URL"
        return f"{self.spec.origin}: {status}; the last good calendar stays until it recovers"

    def _size_message(self, what: str) -> str:
        mib = self._limits.max_bytes / (1024 * 1024)
        return (
            f"{self.spec.origin}: the calendar is larger than the {mib:g} MiB limit ({what}); "
            "split it into several calendars"
        )

    def _describe(self, exc: httpx.HTTPError) -> str:
        text = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return (
                f"{self.spec.origin}: TLS certificate not trusted ({text}); if the server "
                "uses a private CA, set caBundle for this calendar in the config file"
            )
        if isinstance(exc, httpx.RemoteProtocolError):
            return f"{self.spec.origin}: the server broke the response off ({text})"
        if isinstance(exc, httpx.TooManyRedirects):
            return f"{self.spec.origin}: more than {_MAX_REDIRECTS} redirects; check the URL"
        return (
            f"{self.spec.origin}: {text}; check the URL, DNS and that the scaler may reach "
            "the server (network policy, proxy)"
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if response.status_code in (429, 503) and value.isdigit():
        return float(value)
    return None
