"""Reading history from a Prometheus HTTP API (`/api/v1/query_range`), for `like` events.

Prometheus, Thanos, Mimir and VictoriaMetrics all serve the same API; `--prometheus URL` is the
base the API path is appended to (Mimir: `https://mimir.example/prometheus`). Request headers
(a bearer token, Mimir's `X-Scope-OrgID`) come from `CALENDAR_SCALER_PROMETHEUS_HEADER_<HEADER>`
and are never logged or shown; credentials in the URL travel as Basic auth and are shown
redacted.

A range query answers at the instants start + step*k; here `end` is exclusive (instants < end),
which is what both the peak of section 9 (instants < E') and `report` need. Long ranges are split
into requests of at most `_MAX_POINTS` instants: Prometheus refuses more than 11,000 per series.
Failures that may pass (connection, timeout, HTTP 5xx and 429) are retried with exponential
backoff and jitter; a refused query (HTTP 400 / 422, Prometheus's `bad_data`, `execution`) is not,
and its error text from Prometheus is what the user sees.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaler.errors import HistoryError, UsageError
from scaler.sources.urls import redact, split_credentials

if TYPE_CHECKING:
    import httpx
else:  # imported on first use: see urls.py
    from scaler.sources.urls import httpx

__all__ = [
    "DEFAULT_QUERY",
    "HEADER_ENV_PREFIX",
    "HistoryLimits",
    "PrometheusClient",
    "headers_from_env",
    "render_query",
]

# The replicas KEDA's HPA ran, from kube-state-metrics (SPEC section 9).
DEFAULT_QUERY = (
    "max(kube_horizontalpodautoscaler_status_current_replicas"
    '{namespace="$namespace",horizontalpodautoscaler="keda-hpa-$name"})'
)
HEADER_ENV_PREFIX = "CALENDAR_SCALER_PROMETHEUS_HEADER_"
_API = "/api/v1/query_range"
_MAX_POINTS = 10_000  # instants per request; Prometheus's own limit is 11,000 per series
_USER_AGENT = "keda-calendar-scaler"
_PLACEHOLDER = re.compile(r"\$(?:\{(namespace|name)\}|(namespace|name)(?![A-Za-z0-9_]))")
_RETRIED_STATUS = {429, 500, 502, 503, 504}


@dataclass(frozen=True, kw_only=True)
class HistoryLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 30.0  # between two reads; a heavy query may take a while to start
    attempt_timeout: float = 60.0  # one whole request, so a trickling server cannot hold it
    max_bytes: int = 16 * 1024 * 1024  # one response body; larger is refused as it streams in
    attempts: int = 4  # tries per request, the first included; 1: no retries
    retry_initial: float = 1.0  # first wait after a failure; doubles up to retry_max
    retry_max: float = 30.0


def headers_from_env(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """`CALENDAR_SCALER_PROMETHEUS_HEADER_<HEADER>` as (header, value); `_` in HEADER is `-`."""
    return tuple(
        (var[len(HEADER_ENV_PREFIX) :].replace("_", "-").title(), environ[var])
        for var in sorted(environ)
        if var.startswith(HEADER_ENV_PREFIX) and len(var) > len(HEADER_ENV_PREFIX)
    )


def _promql_string(value: str) -> str:
    """`value` escaped for the inside of a PromQL double-quoted string."""
    return (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )


def render_query(template: str, namespace: str, name: str) -> str:
    """The template with `$namespace` / `$name` (or `${namespace}` / `${name}`) replaced."""
    values = {"namespace": _promql_string(namespace), "name": _promql_string(name)}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1) or m.group(2)], template)


class _Retryable(HistoryError):
    pass


class PrometheusClient:
    """An async client for `query_range`; use `async with` or call `aclose()`."""

    def __init__(
        self,
        url: str,
        *,
        headers: tuple[tuple[str, str], ...] | Mapping[str, str] = (),
        ca: Path | str | None = None,
        limits: HistoryLimits | None = None,
        timeout: float | None = None,  # seconds for one whole request (limits.attempt_timeout)
        attempts: int | None = None,  # tries per request (limits.attempts); 1: no retries
        rng: random.Random | None = None,
    ) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise UsageError(
                f"--prometheus {redact(url)!r}: give an http(s) URL, e.g. "
                "--prometheus http://prometheus.monitoring:9090"
            )
        self.origin = redact(url).rstrip("/")  # what messages show
        self._url, credentials = split_credentials(url.rstrip("/"))
        self._limits = limits or HistoryLimits()
        if timeout is not None:
            self._limits = replace(self._limits, attempt_timeout=timeout)
        if attempts is not None:
            self._limits = replace(self._limits, attempts=attempts)
        self._rng = rng or random.Random()
        verify: ssl.SSLContext | bool = True
        if ca is not None:
            try:
                verify = ssl.create_default_context(cafile=str(ca))
            except (OSError, ssl.SSLError) as exc:
                raise UsageError(
                    f"--prometheus-ca {ca}: not a readable PEM file of CA certificates ({exc})"
                ) from exc
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        limits_ = self._limits
        self._client = httpx.AsyncClient(
            headers={"User-Agent": _USER_AGENT, "Accept": "application/json", **dict(pairs)},
            auth=httpx.BasicAuth(*credentials) if credentials else None,
            verify=verify,
            timeout=httpx.Timeout(
                connect=limits_.connect_timeout,
                read=limits_.read_timeout,
                write=limits_.read_timeout,
                pool=limits_.connect_timeout,
            ),
            follow_redirects=False,  # headers must not travel to another origin
        )

    def __repr__(self) -> str:  # header values stay out of logs and tracebacks
        return f"PrometheusClient({self.origin!r})"

    async def __aenter__(self) -> PrometheusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def query_range(
        self, query: str, start: int, end: int, step: int = 60
    ) -> list[tuple[int, float]]:
        """(instant, value) for the instants start + step*k < end where the query has a value;
        the max over series when it gives several. Non-finite values are left out.
        Raises HistoryError."""
        if step <= 0:
            raise ValueError("step must be > 0")
        samples: dict[int, float] = {}
        chunk = step * _MAX_POINTS
        first = start
        while first < end:
            last = min(first + chunk, end)  # exclusive
            final = first + step * ((last - 1 - first) // step)  # the last instant < last
            for at, value in await self._retrying(query, first, final, step):
                if first <= at < end and (at not in samples or value > samples[at]):
                    samples[at] = value
            first = final + step
        return sorted(samples.items())

    async def _retrying(
        self, query: str, start: int, end: int, step: int
    ) -> list[tuple[int, float]]:
        limits = self._limits
        for attempt in range(1, max(1, limits.attempts) + 1):
            try:
                return await self._request(query, start, end, step)
            except _Retryable as exc:
                if attempt >= limits.attempts:
                    raise HistoryError(str(exc), reason=exc.reason) from exc
                delay = min(limits.retry_max, limits.retry_initial * 2.0 ** (attempt - 1))
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
        raise AssertionError("unreachable")

    async def _request(
        self, query: str, start: int, end: int, step: int
    ) -> list[tuple[int, float]]:
        params = {"query": query, "start": str(start), "end": str(end), "step": str(step)}
        limits = self._limits
        try:
            async with asyncio.timeout(limits.attempt_timeout):
                status, body = await self._get(params)
        except TimeoutError as exc:
            raise _Retryable(
                f"{self.origin}: no complete answer within {limits.attempt_timeout:g}s; "
                "check Prometheus's health and the query's cost",
                reason="timeout",
            ) from exc
        except httpx.TimeoutException as exc:
            raise _Retryable(
                f"{self.origin}: timed out ({type(exc).__name__}); check that Prometheus is up "
                "and reachable from the scaler",
                reason="timeout",
            ) from exc
        except httpx.HTTPError as exc:
            text = str(exc) or type(exc).__name__
            hint = (
                "; if it uses a private CA, pass --prometheus-ca"
                if "CERTIFICATE_VERIFY_FAILED" in text
                else "; check the URL, DNS and network policy"
            )
            raise _Retryable(f"{self.origin}: {text}{hint}", reason="fetch") from exc
        return self._decode(status, body, query)

    async def _get(self, params: dict[str, str]) -> tuple[int, bytes]:
        max_bytes = self._limits.max_bytes
        async with self._client.stream("GET", self._url + _API, params=params) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise HistoryError(self._size_message(), reason="size")
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise HistoryError(self._size_message(), reason="size")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    def _size_message(self) -> str:
        mib = self._limits.max_bytes / (1024 * 1024)
        return (
            f"{self.origin}: the answer is larger than {mib:g} MiB; the history query must "
            "return one series (wrap it in max(...))"
        )

    def _decode(self, status: int, body: bytes, query: str) -> list[tuple[int, float]]:
        try:
            document: Any = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            document = {}
        if document.get("status") == "error" or status >= 300:
            error = str(document.get("error") or "").strip()[:500]
            kind = str(document.get("errorType") or "").strip()[:50]
            said = f"{kind}: {error}" if error else f"HTTP {status}"
            if status in _RETRIED_STATUS or (status < 300 and kind == "unavailable"):
                raise _Retryable(f"{self.origin}: Prometheus answered {said}", reason="status")
            if status in (401, 403):
                raise HistoryError(
                    f"{self.origin}: HTTP {status}; check the credentials "
                    f"({HEADER_ENV_PREFIX}AUTHORIZATION or similar)",
                    reason="status",
                )
            if status == 404:
                raise HistoryError(
                    f"{self.origin}: HTTP 404 for {_API}; --prometheus must be the API base "
                    "(Prometheus: http://host:9090, Mimir: https://host/prometheus)",
                    reason="status",
                )
            raise HistoryError(
                f"{self.origin}: Prometheus refused the query {query!r}: {said}; "
                "fix --history-query",
                reason="query",
            )
        data = document.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise HistoryError(
                f"{self.origin}: not a Prometheus query_range answer (no matrix); check that "
                "--prometheus points at the Prometheus API base",
                reason="parse",
            )
        samples: list[tuple[int, float]] = []
        try:
            for series in data.get("result") or []:
                for at, raw in series.get("values") or []:
                    value = float(raw)
                    if math.isfinite(value):
                        samples.append((int(float(at)), value))
        except (TypeError, ValueError, AttributeError) as exc:
            raise HistoryError(
                f"{self.origin}: a sample in the answer is malformed ({exc})", reason="parse"
            ) from exc
        return samples
