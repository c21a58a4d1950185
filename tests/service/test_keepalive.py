"""Keepalive: the server pings connections so that a dead KEDA connection and its streams close.

KEDA's client sets no keepalive, and StreamIsActive writes only on change. These tests speak
HTTP/2 by hand over a plain socket, the frames KEDA's client exchanges for one StreamIsActive,
so they see every PING frame the server sends and decide whether to answer it.

Telling keepalive pings from grpc's own: C-core also sends a BDP (bandwidth-delay product) probe
PING right after it receives DATA, and both kinds carry random opaque data, so the opaque bytes
cannot tell them apart. Timing can: a BDP ping follows received DATA within milliseconds, and
this client sends DATA once (the request) and then only SETTINGS and PING acknowledgements,
which trigger no BDP probe. A ping counts as keepalive when at least half the keepalive interval
passed since the request was sent and since the previous ping; with C-core's default keepalive
(two hours) no ping qualifies, so the first test fails without the server's keepalive options.
A busy machine only stretches gaps: a late BDP ping could qualify, but grpc sent one per request
here and the test asks for three.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from scaler._proto import externalscaler_pb2 as pb
from scaler.calendar.parsing import parse_calendar
from scaler.service.server import GrpcServer, Keepalive
from scaler.sources.store import CalendarStore

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
ACK, END_STREAM, END_HEADERS = 0x1, 0x1, 0x4
STREAM = 1  # the client's first stream
CALENDAR = "version: 1\ntimezone: UTC\nevents: []\n"


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([kind, flags])
        + struct.pack(">I", stream)
        + payload
    )


def _header(name: str, value: str) -> bytes:
    """HPACK literal without indexing, new name, no Huffman (names and values < 127 bytes)."""
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


class RawClient:
    """One HTTP/2 connection holding one StreamIsActive call, with every frame seen."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.answer_pings = True
        self.request_sent = 0.0
        self.responses = 0  # StreamIsActive messages received
        self.stream_ended = False  # trailers, RST_STREAM or GOAWAY seen
        self.pings: list[float] = []  # monotonic arrival time of each PING (not ACKs)

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        headers = b"".join(
            _header(name, value)
            for name, value in [
                (":method", "POST"), (":scheme", "http"), (":authority", "127.0.0.1"),
                (":path", "/externalscaler.ExternalScaler/StreamIsActive"),
                ("content-type", "application/grpc"), ("te", "trailers"),
            ]
        )  # fmt: skip
        message = pb.ScaledObjectRef(namespace="shop", name="web").SerializeToString()
        writer.write(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            + _frame(SETTINGS, 0, 0)
            + _frame(HEADERS, END_HEADERS, STREAM, headers)
            + _frame(DATA, END_STREAM, STREAM, b"\x00" + struct.pack(">I", len(message)) + message)
        )
        await writer.drain()
        client.request_sent = time.monotonic()
        return client

    async def read_frame(self) -> int | None:
        """Read and handle one frame; its type, or None when the server closed the socket."""
        try:
            head = await self.reader.readexactly(9)
            payload = await self.reader.readexactly(int.from_bytes(head[:3], "big"))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        kind, flags, stream = head[3], head[4], int.from_bytes(head[5:], "big") & 0x7FFFFFFF
        if kind == SETTINGS and not flags & ACK:
            self.writer.write(_frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            self.pings.append(time.monotonic())
            if self.answer_pings:
                self.writer.write(_frame(PING, ACK, 0, payload))
        elif kind == DATA and stream == STREAM and payload:
            self.responses += 1
        if (kind in (HEADERS, DATA) and stream == STREAM and flags & END_STREAM) or kind in (
            RST_STREAM,
            GOAWAY,
        ):
            self.stream_ended = True
        return kind

    def keepalive_pings(self, interval: float) -> int:
        """Pings that came late enough after the request and the previous ping (module doc)."""
        quiet, count, previous = interval / 2, 0, self.request_sent
        for at in self.pings:
            if at - previous >= quiet:
                count += 1
            previous = at
        return count

    async def read_until(self, done: Callable[[], bool], limit: float = 10.0) -> str:
        """Read frames until `done()` ("done") or the socket closes ("closed"), or "timeout"."""
        try:
            async with asyncio.timeout(limit):
                while not done():
                    if await self.read_frame() is None:
                        return "closed"
        except TimeoutError:
            return "timeout"
        return "done"

    def close(self) -> None:
        self.writer.close()


@asynccontextmanager
async def scaler(keepalive: Keepalive) -> AsyncIterator[GrpcServer]:
    store = CalendarStore({"sales": "sales.yaml"})
    store.publish("sales", parse_calendar(CALENDAR, name="sales", origin="sales.yaml"))
    server = GrpcServer(store, address="127.0.0.1:0", keepalive=keepalive)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(0)


def test_default_keepalive_is_a_ping_every_60s_answered_within_20s() -> None:
    options = dict(Keepalive().options())

    assert options["grpc.keepalive_time_ms"] == 60_000
    assert options["grpc.keepalive_timeout_ms"] == options["grpc.http2.ping_timeout_ms"] == 20_000


def test_server_pings_a_connection_that_holds_an_open_stream() -> None:
    interval = 0.2

    async def scenario() -> RawClient:
        async with scaler(Keepalive(interval=interval, timeout=5.0)) as server:
            client = await RawClient.open(server.port)
            try:
                assert await client.read_until(lambda: client.responses == 1) == "done"
                assert "done" == await client.read_until(
                    lambda: client.keepalive_pings(interval) >= 3 or client.stream_ended
                )
            finally:
                client.close()
            return client

    client = asyncio.run(scenario())
    assert (client.responses, client.stream_ended) == (1, False)  # the stream is open throughout
    assert client.keepalive_pings(interval) >= 3


def test_connection_that_stops_answering_pings_is_closed_with_its_stream() -> None:
    async def scenario() -> tuple[RawClient, float | None]:
        async with scaler(Keepalive(interval=0.2, timeout=0.2)) as server:
            client = await RawClient.open(server.port)
            try:
                assert await client.read_until(lambda: client.responses == 1) == "done"
                client.answer_pings = False  # the peer is gone; only its kernel still ACKs TCP
                assert await client.read_until(lambda: False) == "closed"
                cancelled = None
                for _ in range(200):  # the handler's end is counted once grpc cancelled it
                    cancelled = server.registry.get_sample_value(
                        "calendar_scaler_grpc_requests_total",
                        {"method": "StreamIsActive", "code": "CANCELLED"},
                    )
                    if cancelled:
                        break
                    await asyncio.sleep(0.01)
            finally:
                client.close()
            return client, cancelled

    client, cancelled = asyncio.run(scenario())
    assert client.responses == 1
    assert cancelled == 1
