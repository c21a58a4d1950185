"""`calendar-scaler serve`: wire the store, the sources, the gRPC and HTTP servers; drain on
SIGTERM.

Start order matters: gRPC listens before the sources load, so GetMetricSpec answers (and
GetMetrics says UNAVAILABLE) while a slow source is still being fetched.

Both ports are tried before anything else happens: a port in use is then one error line,
not grpc's C-core log line or a half-started server's teardown. Trying is a bind of our own
socket, with SO_REUSEADDR as the servers set it (a port in TIME_WAIT after a restart is free)
and without SO_REUSEPORT (a listening process is found). Another process taking the port in
the instant between the try and the servers' own bind still gets an error, just a noisier one.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import itertools
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector

from scaler import logs
from scaler.errors import ScalerError, UsageError
from scaler.history.prometheus import DEFAULT_QUERY, PrometheusClient, headers_from_env
from scaler.service.peaks import PeakBook
from scaler.service.server import GrpcServer
from scaler.service.tls import server_credentials
from scaler.sources.config import SourceSpec, load_specs
from scaler.sources.manager import SourceManager
from scaler.sources.store import CalendarStore

__all__ = ["EXAMPLE_NAME", "ServeOptions", "run", "serve"]

log = logging.getLogger("scaler.service")
EXAMPLE_NAME = "example"  # the calendar's name when the shipped example is served


@dataclass(frozen=True, kw_only=True)
class ServeOptions:
    calendars: list[str] = field(default_factory=list)  # NAME=PATH_OR_URL pairs
    config_file: Path | None = None
    example: Path | None = None  # served when no calendar is configured anywhere
    host: str = "[::]"  # --listen-address, for both ports; [::] is every IPv4 and IPv6 address
    grpc_port: int = 9090
    http_port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    state_dir: Path | None = None
    refresh: float = 60.0
    prometheus: str | None = None  # section 9: history for `like` events
    history_query: str | None = None  # None: DEFAULT_QUERY
    prometheus_ca: Path | None = None
    grace: float = 10.0  # seconds calls get to finish after SIGTERM
    log_level: str = "info"


def _bare(host: str) -> str:
    return host.strip().removeprefix("[").removesuffix("]")


def _try_listen(host: str, port: int, flag: str) -> None:
    """Bind (and close) a socket on `host`:`port` as the servers will, or raise UsageError."""
    if port == 0:
        return
    bare = _bare(host)
    wildcard = bare in ("", "::")
    where = "" if wildcard else f" on {bare}"
    candidates: list[tuple[socket.AddressFamily, Any]]  # (family, socket address)
    if wildcard:  # one dual-stack socket meets every listener; IPv4 alone where IPv6 is off
        candidates = [(socket.AF_INET6, ("::", port)), (socket.AF_INET, ("0.0.0.0", port))]
    else:
        try:
            infos = socket.getaddrinfo(bare, port, type=socket.SOCK_STREAM,
                                       flags=socket.AI_PASSIVE)  # fmt: skip
        except socket.gaierror as exc:
            raise UsageError(
                f"--listen-address {bare}: not an address ({exc.strerror}); give an IP "
                "address of this machine, e.g. 127.0.0.1, or [::] for all"
            ) from exc
        candidates = [(family, address) for family, _, _, _, address in infos]
    for family, address in candidates:
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError:  # this machine has no IPv6
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if wildcard and family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                sock.bind(address)
            except OSError as exc:
                if wildcard and family == socket.AF_INET6 and exc.errno == errno.EADDRNOTAVAIL:
                    continue  # IPv6 configured off: grpc and asyncio fall back to IPv4 too
                raise UsageError(_bind_error(exc, flag, port, bare, where)) from exc
        if wildcard:
            return


def _bind_error(exc: OSError, flag: str, port: int, host: str, where: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"{flag} {port}{where}: address already in use; stop the other process or "
                "pick another port")  # fmt: skip
    if exc.errno == errno.EACCES:
        return (f"{flag} {port}{where}: permission denied (ports below 1024 need privileges); "
                "pick a port from 1024 up")  # fmt: skip
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"--listen-address {host}: not an address of this machine; give one of its "
                "addresses, or [::] for all")  # fmt: skip
    return f"{flag} {port}{where}: cannot listen ({exc.strerror}); pick another port or address"


def _specs(options: ServeOptions) -> list[SourceSpec]:
    specs = load_specs(options.calendars, os.environ, options.config_file)
    if not specs and options.example is not None:
        log.info("no --calendar given: serving the example calendar",
                 extra={"calendar": EXAMPLE_NAME, "path": str(options.example)})  # fmt: skip
        specs = [SourceSpec(name=EXAMPLE_NAME, location=str(options.example), kind="file")]
    if not specs:
        raise UsageError("no calendar configured; add --calendar NAME=PATH_OR_URL")
    return specs


def _peak_book(options: ServeOptions, store: CalendarStore) -> PeakBook | None:
    if options.prometheus is None:
        if options.history_query is not None or options.prometheus_ca is not None:
            raise UsageError("--history-query and --prometheus-ca need --prometheus URL")
        return None
    client = PrometheusClient(
        options.prometheus, headers=headers_from_env(os.environ), ca=options.prometheus_ca
    )
    log.info("history for like events from Prometheus", extra={"prometheus": client.origin})
    return PeakBook(
        client, template=options.history_query or DEFAULT_QUERY, state_dir=options.state_dir,
        on_change=store.republish,
    )  # fmt: skip


_FULL_COLLECTION_EVERY = 64  # swaps
_swaps = itertools.count(1)


def _freeze(_: object) -> None:
    """After every calendar swap: leave what is alive then (above all the calendars, hundreds
    of thousands of immutable objects) out of the cyclic garbage collector's later passes.
    Each full pass walked them all, holding the GIL: 40-80 ms at 10,000 events, ten times that
    at 100,000, at any moment, reloads included (bench/RESULTS.md).

    Frozen objects are still freed by reference counting when a calendar is replaced; a
    reference cycle frozen while alive is not, so the young generations are collected first,
    and every _FULL_COLLECTION_EVERY swaps everything is unfrozen and collected once."""
    if next(_swaps) % _FULL_COLLECTION_EVERY == 0:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()


async def serve(options: ServeOptions, *, stop: asyncio.Event | None = None) -> None:
    if (options.tls_cert is None) != (options.tls_key is None):
        raise UsageError("give --tls-cert and --tls-key together")
    if options.tls_client_ca is not None and options.tls_cert is None:
        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    if options.grpc_port == options.http_port != 0:
        raise UsageError(f"--grpc-port and --http-port are both {options.grpc_port}; give "
                         "each its own port")  # fmt: skip
    _try_listen(options.host, options.grpc_port, "--grpc-port")
    _try_listen(options.host, options.http_port, "--http-port")
    specs = _specs(options)
    store = CalendarStore({s.name: s.origin for s in specs})
    store.subscribe(_freeze)
    credentials = None
    if options.tls_cert is not None and options.tls_key is not None:
        credentials = server_credentials(options.tls_cert, options.tls_key, options.tls_client_ca)
    peaks = _peak_book(options, store)
    registry = CollectorRegistry()
    # Memory, CPU and fds, named calendar_scaler_process_* like every metric of ours.
    ProcessCollector(namespace="calendar_scaler", registry=registry)
    bare = _bare(options.host) or "::"
    grpc_host = f"[{bare}]" if ":" in bare else bare
    grpc_server = GrpcServer(
        store, address=f"{grpc_host}:{options.grpc_port}", credentials=credentials,
        registry=registry, peaks=peaks,
    )  # fmt: skip
    manager = SourceManager(specs, store, state_dir=options.state_dir, refresh=options.refresh)

    from scaler.web.server import WebServer

    web = WebServer(store, grpc_server.plans, registry=registry, host=bare,
                    port=options.http_port, problems=grpc_server.servicer.problems)  # fmt: skip
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if peaks is not None:  # known peaks read from --state-dir before the first call
        await peaks.start()
    await grpc_server.start()
    try:
        await web.start()
        await manager.start()
        await stop.wait()
        log.info("shutting down", extra={"grace_seconds": options.grace})
    finally:
        await grpc_server.stop(options.grace)
        await manager.stop()
        if peaks is not None:
            await peaks.stop()
        await web.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped")


# The event loop shares the GIL with worker threads (timeline rebuilds after a reload,
# unpickling a calendar from its parser process): a thread keeps the GIL for up to the switch
# interval before the loop gets it back, so each call waited up to 5 ms (the default) while
# one ran. At 100,000 events GetMetrics' p99 during a reload was 6-16x the idle p99 with 5 ms,
# 1.9x with 0.5 ms (bench/RESULTS.md); an idle server has no other thread to switch to.
SWITCH_INTERVAL = 0.0005


def run(options: ServeOptions) -> int:
    logs.configure(options.log_level)
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        asyncio.run(serve(options))
    except ScalerError as exc:
        log.error(str(exc))
        return 1
    return 0
