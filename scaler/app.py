"""`calendar-scaler serve`: wire the store, the sources, the gRPC and HTTP servers; drain on
SIGTERM.

Start order matters: gRPC listens before the sources load, so GetMetricSpec answers (and
GetMetrics says UNAVAILABLE) while a slow source is still being fetched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector

from scaler import logs
from scaler.errors import ScalerError, UsageError
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
    host: str = "[::]"
    grpc_port: int = 9090
    http_port: int = 8080
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    state_dir: Path | None = None
    refresh: float = 60.0
    grace: float = 10.0  # seconds calls get to finish after SIGTERM
    log_level: str = "info"


def _specs(options: ServeOptions) -> list[SourceSpec]:
    specs = load_specs(options.calendars, os.environ, options.config_file)
    if not specs and options.example is not None:
        log.info("no --calendar given: serving the example calendar",
                 extra={"calendar": EXAMPLE_NAME, "path": str(options.example)})  # fmt: skip
        specs = [SourceSpec(name=EXAMPLE_NAME, location=str(options.example), kind="file")]
    if not specs:
        raise UsageError("no calendar configured; add --calendar NAME=PATH_OR_URL")
    return specs


async def serve(options: ServeOptions, *, stop: asyncio.Event | None = None) -> None:
    if (options.tls_cert is None) != (options.tls_key is None):
        raise UsageError("give --tls-cert and --tls-key together")
    if options.tls_client_ca is not None and options.tls_cert is None:
        raise UsageError("--tls-client-ca needs --tls-cert and --tls-key")
    specs = _specs(options)
    store = CalendarStore({s.name: s.origin for s in specs})
    credentials = None
    if options.tls_cert is not None and options.tls_key is not None:
        credentials = server_credentials(options.tls_cert, options.tls_key, options.tls_client_ca)
    registry = CollectorRegistry()
    # Memory, CPU and fds, named calendar_scaler_process_* like every metric of ours.
    ProcessCollector(namespace="calendar_scaler", registry=registry)
    grpc_server = GrpcServer(
        store, address=f"{options.host}:{options.grpc_port}", credentials=credentials,
        registry=registry,
    )  # fmt: skip
    manager = SourceManager(specs, store, state_dir=options.state_dir, refresh=options.refresh)

    from scaler.web.server import WebServer

    web = WebServer(store, grpc_server.plans, registry=registry, host=options.host,
                    port=options.http_port)  # fmt: skip
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await grpc_server.start()
    await web.start()
    try:
        await manager.start()
        await stop.wait()
        log.info("shutting down", extra={"grace_seconds": options.grace})
    finally:
        await grpc_server.stop(options.grace)
        await manager.stop()
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
