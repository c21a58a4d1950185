"""URL sources against a real HTTP server on 127.0.0.1: every fault keeps the last good calendar.

Each test checks which calendar is served, what health (the metrics' source) and the log say,
and that no reader ever saw anything but a complete calendar.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import gzip
import json
import logging
import multiprocessing
import ssl
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest
from helpers import (
    BROKEN_YAML,
    ICS,
    ICS_SALE_UTC,
    INVALID_CALENDAR,
    LIMITS,
    V1,
    V2,
    YAML_V1,
    YAML_V2,
    CalendarServer,
    Reply,
    SnapshotWatcher,
    health,
    run,
    self_signed_certificate,
    served,
    wait_until,
)

from scaler.sources import CalendarStore, SourceManager, SourceSpec, load_specs


def url_source(
    url: str, *, environ: dict[str, str] | None = None, **options: object
) -> tuple[CalendarStore, SourceManager]:
    specs = load_specs([f"sales={url}"], environ or {}, None)
    store = CalendarStore({s.name: s.origin for s in specs})
    options.setdefault("refresh", 0.3)
    options.setdefault("limits", LIMITS)
    return store, SourceManager(specs, store, **options)  # type: ignore[arg-type]


def failures(caplog: pytest.LogCaptureFixture, reason: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "scaler.sources" and getattr(r, "reason", None) == reason
    ]


def test_url_is_loaded_at_start_then_refreshed_with_if_none_match() -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager, SnapshotWatcher(store) as watcher:
                assert (served(store), health(store).loaded_from) == (V1, "source")
                await wait_until(lambda: server.count(304) >= 2)
            assert watcher.published == []  # 304 changes nothing a reader could see

        run(scenario())
        assert server.requests[-1].headers["if-none-match"] == '"v1"'


def test_changed_etag_serves_the_new_calendar_and_then_304_holds_it() -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager, SnapshotWatcher(store) as watcher:
                server.serve(YAML_V2, etag='"v2"')
                await wait_until(lambda: served(store) == V2)
                before = server.count(304)
                await wait_until(lambda: server.count(304) > before)
                assert served(store) == V2
            watcher.check({V1, V2})
            assert watcher.published == [V2]

        run(scenario())
        assert server.requests[-1].headers["if-none-match"] == '"v2"'


def test_last_modified_is_sent_back_as_if_modified_since() -> None:
    stamp = "Fri, 27 Nov 2026 00:00:00 GMT"
    with CalendarServer() as server:
        server.serve(YAML_V1, last_modified=stamp)
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager:
                await wait_until(lambda: server.count(304) >= 1)
                assert served(store) == V1

        run(scenario())
        assert stamp == server.requests[-1].headers["if-modified-since"]


def test_server_without_validators_is_refetched_without_republishing() -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1)
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager, SnapshotWatcher(store) as watcher:
                await wait_until(lambda: server.count(200) >= 3)
            assert (watcher.published, health(store).loads) == ([], 1)

        run(scenario())


@pytest.mark.parametrize(
    ("fault", "reason", "message"),
    [
        pytest.param(Reply(status=500, body=b"oops"), "status", "HTTP 500", id="http-500"),
        pytest.param(
            Reply(mode="hang", delay=3.0), "timeout", "read timed out after 1s", id="timeout"
        ),
        pytest.param(
            Reply(body=YAML_V2.encode(), mode="cut"), "fetch", "broke the response off",
            id="closes-mid-body",
        ),
        pytest.param(Reply(mode="drop"), "fetch", "Server disconnected", id="no-answer"),
        pytest.param(
            Reply(body=b"x" * (65 * 1024)), "size", "larger than the 0.0625 MiB limit",
            id="declared-too-large",
        ),
        pytest.param(
            Reply(mode="stream", total=32 * 1024 * 1024), "size", "more than 65536 bytes",
            id="streams-too-much",
        ),
        pytest.param(Reply(body=BROKEN_YAML.encode()), "parse", "sales.yaml:", id="invalid-yaml"),
        pytest.param(
            Reply(body=INVALID_CALENDAR.encode()), "invalid", "event 'backwards'",
            id="semantic-error",
        ),
        pytest.param(
            Reply(body=b"<html>login</html>", content_type="text/html"), "parse",
            "login or error page", id="html-login-page",
        ),
        pytest.param(Reply(status=401), "status", "check the credentials", id="http-401"),
    ],
)  # fmt: skip
def test_fault_keeps_the_last_good_calendar_and_says_why(
    caplog: pytest.LogCaptureFixture, fault: Reply, reason: str, message: str
) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager, SnapshotWatcher(store) as watcher:
                server.reply = fault
                await wait_until(lambda: health(store).error_reason == reason, timeout=3.0)
                assert served(store) == V1
                assert message in (health(store).last_error or "")
                assert health(store).failures[reason] >= 1
                server.serve(YAML_V2, etag='"v2"')  # and it recovers
                await wait_until(lambda: served(store) == V2, timeout=3.0)
                assert (health(store).last_error, health(store).loaded_from) == (None, "source")
            watcher.check({V1, V2})

        run(scenario())
        if fault.mode == "stream":  # stopped reading: the rest never came
            assert max(server.streamed) < fault.total
    record = failures(caplog, reason)[0]
    assert record.levelno == logging.WARNING
    assert "keeping the last good calendar (1 events, from the source)" in record.getMessage()
    assert (record.calendar, record.kept) == ("sales", True)  # type: ignore[attr-defined]


def test_source_that_comes_back_after_being_down_is_served_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = CalendarServer()
    server.serve(YAML_V1, etag='"v1"')
    port = server.port
    store, manager = url_source(server.url())

    async def scenario() -> float:
        async with manager, SnapshotWatcher(store) as watcher:
            server.stop()  # connection refused from now on
            await wait_until(lambda: health(store).error_reason == "fetch")
            await asyncio.sleep(0.5)  # retries back off, capped at the refresh interval
            assert served(store) == V1
            with CalendarServer(port=port) as back:
                back.serve(YAML_V2, etag='"v2"')
                took = await wait_until(lambda: served(store) == V2, timeout=2.0)
        watcher.check({V1, V2})
        return took

    assert run(scenario()) < 1.0
    assert failures(caplog, "fetch")


def test_json_calendar_by_content_type() -> None:
    document = {
        "version": 1,
        "timezone": "UTC",
        "events": [
            {"name": "sale-one", "start": "2026-11-01T00:00", "duration": "1h",
             "scale": {"replicas": 5}},
        ],
    }  # fmt: skip
    with CalendarServer() as server:
        server.serve(json.dumps(document, indent="\t"), content_type="application/json")
        store, manager = url_source(server.url("/calendar"))

        async def scenario() -> None:
            async with manager:
                assert served(store) == V1, health(store).last_error

        run(scenario())


def test_ical_feed_by_content_type_with_the_zone_from_the_config_file(tmp_path: Path) -> None:
    with CalendarServer() as server:
        server.serve(ICS, content_type="text/calendar; charset=utf-8")
        config = tmp_path / "scaler.yaml"
        config.write_text(
            f"calendars:\n  sales: {{source: '{server.url('/feed')}', timezone: Asia/Tokyo}}\n"
        )
        specs = load_specs([], {}, config)
        store = CalendarStore({s.name: s.origin for s in specs})
        manager = SourceManager(specs, store, refresh=0.3, limits=LIMITS)

        async def scenario() -> None:
            async with manager:
                calendar = store.snapshot.calendars["sales"]
                assert calendar is not None, health(store).last_error
                (event,) = calendar.events
                start = next(iter(event.schedule.overlapping(0, 2**40)))[0]
                assert (event.name, start) == ("black-friday", ICS_SALE_UTC - 9 * 3600)

        run(scenario())


def test_header_variables_are_sent_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore too
    secret = "Bearer s3cret-t0ken"
    environ = {
        "CALENDAR_SCALER_HEADER_SALES_AUTHORIZATION": secret,
        "CALENDAR_SCALER_HEADER_SALES_X_TENANT": "shop-1",
    }
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        store, manager = url_source(server.url(), environ=environ)

        async def scenario() -> None:
            async with manager:
                server.reply = Reply(status=403)
                await wait_until(lambda: health(store).error_reason == "status")

        run(scenario())
        first = server.requests[0].headers
    assert (secret, "shop-1") == (first["authorization"], first["x-tenant"])
    assert "CALENDAR_SCALER_HEADER_SALES_AUTHORIZATION" in (health(store).last_error or "")
    logged = "".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "s3cret" not in logged and "s3cret" not in repr(store.snapshot)


def test_url_credentials_go_as_basic_auth_and_are_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with CalendarServer() as server:
        server.serve(YAML_V1)
        store, manager = url_source(server.url(userinfo="reader:pa55w0rd"))

        async def scenario() -> None:
            async with manager:
                server.reply = Reply(status=500)
                await wait_until(lambda: health(store).error_reason == "status")

        run(scenario())
        authorization = server.requests[0].headers["authorization"]
    assert authorization == "Basic cmVhZGVyOnBhNTV3MHJk"
    assert server.url() == health(store).origin
    logged = "".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "pa55w0rd" not in logged and "pa55w0rd" not in repr(store.snapshot)


@pytest.mark.filterwarnings("ignore:unclosed:ResourceWarning")
def test_tls_is_verified_by_default_and_a_ca_bundle_is_trusted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = self_signed_certificate(tmp_path)
    if made is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = made
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with CalendarServer(tls=tls) as server:
        server.serve(YAML_V1)
        untrusted = SourceSpec(name="sales", location=server.url(), kind="url")
        trusted = SourceSpec(name="own-ca", location=server.url(), kind="url", ca_bundle=cert)
        store = CalendarStore({"sales": untrusted.origin, "own-ca": trusted.origin})
        manager = SourceManager([untrusted, trusted], store, refresh=0.3, limits=LIMITS)

        async def scenario() -> None:
            async with manager:
                assert (served(store), health(store).error_reason) == (None, "fetch")
                assert served(store, "own-ca") == V1

        run(scenario())
    # A handshake that failed verification, or that the attempt's timeout cancelled, can leave
    # its socket or transport to the garbage collector (asyncio, CPython #90476; httpcore on
    # cancellation): collect them here, where they are expected (see the mark), so their
    # ResourceWarning does not fail whichever later test happens to run the collector.
    gc.collect()
    assert "certificate not trusted" in (health(store).last_error or "")
    assert "set caBundle" in (health(store).last_error or "")


# -- content encodings ------------------------------------------------------------------------


def gzip_of_zeros(size: int) -> bytes:
    """`size` zero bytes, gzip-compressed (fast level: zeros shrink ~200x anyway)."""
    z = zlib.compressobj(1, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    return b"".join(z.compress(block) for _ in range(size >> 20)) + z.flush()


async def _loop_stalls(stalls: list[float]) -> None:
    """Record how late each 1 ms sleep wakes: how long the event loop was held."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append(time.perf_counter() - started - 0.001)


def test_stacked_gzip_bomb_stops_at_the_limit_as_it_decodes() -> None:
    bomb = gzip.compress(gzip_of_zeros(32 << 20))  # 32 MiB of zeros in well under 1 KiB
    assert len(bomb) < 1024
    stalls: list[float] = []
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        store, manager = url_source(server.url())

        async def scenario() -> int:
            async with manager:
                ticker = asyncio.create_task(_loop_stalls(stalls))
                tracemalloc.start()
                try:
                    server.serve(bomb, headers={"Content-Encoding": "gzip, gzip"})
                    await wait_until(lambda: health(store).error_reason == "size")
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                    ticker.cancel()
                assert served(store) == V1
            return peak

        peak = run(scenario())
    # Measured, not asserted (the machine is shared): 2.4 s for a 256 MiB bomb before the fix.
    print(f"\nlongest event-loop stall during the bomb: {max(stalls) * 1000:.1f} ms")
    assert peak < 8 << 20  # decoding stopped near the 64 KiB limit, not at 32 MiB
    assert "more than 65536 bytes once decompressed" in (health(store).last_error or "")


def test_stacked_encodings_are_decoded() -> None:
    body = zlib.compress(gzip.compress(YAML_V2.encode()))  # gzip first, then deflate
    with CalendarServer() as server:
        server.serve(body, headers={"Content-Encoding": "gzip, deflate"})
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager:
                assert served(store) == V2, health(store).last_error

        run(scenario())
        assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    ("body", "encoding", "message"),
    [
        pytest.param(gzip.compress(YAML_V2.encode())[:-12], "gzip", "ends before its end",
                     id="truncated"),
        pytest.param(b"not gzip at all", "gzip", "not valid gzip", id="garbage"),
        pytest.param(YAML_V2.encode(), "br", "Content-Encoding br, which is not decoded",
                     id="unknown-coding"),
    ],
)  # fmt: skip
def test_content_that_does_not_decode_keeps_the_last_good_calendar(
    body: bytes, encoding: str, message: str
) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        store, manager = url_source(server.url())

        async def scenario() -> None:
            async with manager:
                server.serve(body, headers={"Content-Encoding": encoding})
                await wait_until(lambda: health(store).error_reason == "parse")
                assert served(store) == V1

        run(scenario())
    assert message in (health(store).last_error or "")


# -- redirects --------------------------------------------------------------------------------

SECRETS = {
    "CALENDAR_SCALER_HEADER_SALES_AUTHORIZATION": "Bearer s3cret-t0ken",
    "CALENDAR_SCALER_HEADER_SALES_X_API_KEY": "k3y",
}


@pytest.mark.parametrize(
    ("userinfo", "authorization"),
    [
        pytest.param("", "Bearer s3cret-t0ken", id="header-variables"),
        pytest.param("reader:pa55w0rd", "Basic cmVhZGVyOnBhNTV3MHJk", id="url-credentials"),
    ],
)
def test_redirect_to_another_origin_carries_none_of_the_configured_headers(
    userinfo: str, authorization: str
) -> None:
    with CalendarServer() as own, CalendarServer() as other:  # 127.0.0.1, two ports
        other.serve(YAML_V1)
        own.serve(b"", status=302, headers={"Location": other.url("/moved.yaml")})
        store, manager = url_source(own.url(userinfo=userinfo), environ=SECRETS)

        async def scenario() -> None:
            async with manager:
                assert served(store) == V1, health(store).last_error

        run(scenario())
        sent, redirected = own.requests[0].headers, other.requests[0].headers
    assert (sent["authorization"], sent["x-api-key"]) == (authorization, "k3y")
    assert "authorization" not in redirected and "x-api-key" not in redirected
    assert redirected["user-agent"] == "keda-calendar-scaler"  # the request itself went on


def test_redirect_within_the_origin_keeps_the_configured_headers() -> None:
    with CalendarServer() as server:
        server.serve(b"", status=302, headers={"Location": "/moved.yaml"})
        server.routes["/moved.yaml"] = Reply(body=YAML_V1.encode())
        store, manager = url_source(server.url(), environ=SECRETS)

        async def scenario() -> None:
            async with manager:
                assert served(store) == V1, health(store).last_error

        run(scenario())
        first, moved = server.requests[0], server.requests[1]
    assert moved.path == "/moved.yaml"
    assert (moved.headers["authorization"], moved.headers["x-api-key"]) == (
        first.headers["authorization"],
        first.headers["x-api-key"],
    )


def test_a_changed_remote_calendar_is_read_from_its_changed_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """calendar.incremental for URL sources too: the calendar served is the full read's, and
    the log line says how many events were read."""
    from bench.gen_calendar import generate
    from scaler.calendar.parsing import parse_yaml_calendar

    text = generate(300, seed=11)  # under the tests' 64 KiB fetch limit
    changed = text.replace("scale: {replicas: 1}", "scale: {replicas: 4}", 1)
    with CalendarServer() as server:
        server.serve(text, etag='"1"', content_type="application/yaml")
        store, manager = url_source(server.url())

        def events() -> object:
            calendar = store.snapshot.calendars["sales"]
            assert calendar is not None
            return [(e.name, e.line, e.scale, e.targets, e.timing) for e in calendar.events]

        expected = [
            (e.name, e.line, e.scale, e.targets, e.timing)
            for e in parse_yaml_calendar(changed, name="sales", origin=server.url()).events
        ]

        async def scenario() -> None:
            async with manager:
                server.serve(changed, etag='"2"', content_type="application/yaml")
                await wait_until(lambda: events() == expected)

        with caplog.at_level(logging.INFO, logger="scaler.sources"):
            run(scenario(), timeout=60)
    loads = [r.getMessage() for r in caplog.records if "loaded from" in r.getMessage()]
    assert loads[-1].endswith(": 301 events (1 new or changed, the others as they were)"), loads


def test_a_url_calendar_is_parsed_in_a_parser_process() -> None:
    """As file calendars are: the server's interpreter lock and memory stay out of it."""
    events = "".join(
        f"  - name: e{i}\n    start: 2026-12-01T00:00:00Z\n    duration: 1h\n"
        f"    scale: {{replicas: {i % 50}}}\n"
        for i in range(20_000)
    )
    with CalendarServer() as server:
        server.serve(f"version: 1\nevents:\n{events}")
        limits = dataclasses.replace(LIMITS, max_bytes=5 * 2**20, read_timeout=10.0,
                                     attempt_timeout=30.0)  # fmt: skip
        store, manager = url_source(server.url(), limits=limits, initial_wait=60.0)
        parsers: set[str] = set()

        async def scenario() -> None:
            async with manager:
                pass

        async def watch() -> None:
            loading = asyncio.ensure_future(scenario())
            while not loading.done():
                parsers.update(p.name for p in multiprocessing.active_children())
                await asyncio.sleep(0.005)
            await loading

        run(watch(), timeout=120)
        assert "calendar-parser-sales" in parsers
        assert health(store).events == 20_000
