"""`make soak`: steady load while the calendars keep changing and a remote source flaps.

    python -m bench.soak               # 10 minutes
    python -m bench.soak --minutes 3
    python -m bench.soak --quick       # 1 minute

On 127.0.0.1, against the real server (bench.serve_local, `calendar-scaler serve` bound to the
loopback) with two calendars:

- `file`: a generated calendar (1,000 events + probes, bench.gen_calendar) rewritten atomically
  every second; each rewrite changes only the constant `replicas` of the event that probe/
  reload-probe gets (1, 2, 3, ...);
- `remote`: a local HTTP server (with ETag, so 304s happen too) whose answer cycles every
  `--flap` seconds through: calendar version j (OK), HTTP 500, an invalid calendar (readable
  YAML, bad event), text that is not YAML at all, then version j+1. Each version j holds a few
  generated events and a constant for probe/remote-probe (100 + j). The server fetches it
  every second (`--refresh 1`) and must keep the last good version through the failures.

A grpc.aio client sends GetMetricSpec, GetMetrics and IsActive at a fixed rate (default 400
GetMetrics/s), round-robin over the 64 bench workloads and the two probes. Every answer is
checked against the calendar versions known to be in force: from each workload's plan of each
version (one plan, then a bisect per answer: the checker must keep up with 400 calls/s), with
every 50th answer also computed by the contract's definition, `value_at`, and compared:

- the file calendar version k written last is in force, or version k-1 during the
  `--window` (1 s) after version k was written; anything else (k-2: a reload slower than the
  window) is a mismatch;
- the remote version j served last is in force, or j-1 during the first `--remote-window`
  seconds (a fetch every second, plus retry jitter and parsing) after version j appeared;
- values are checked at the instants just before and after the call (a change point can fall
  in between: either side is accepted, nothing else).

Reported: RPC errors (must be 0), mismatches (must be 0), latency percentiles seen by the client,
server RSS at the start of the load and at the end (and its peak), reloads and fetches the server
reported. The figures go to the "soak" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc

from bench import gen_calendar as gen
from bench.common import (
    HOST,
    Reference,
    free_port,
    machine,
    machine_lines,
    metrics_request,
    replace_section,
    scaler_process,
    workload,
)
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.calendar.model import Calendar
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.workload import Workload

__all__ = ["main"]

FILE_EVENTS = 1_000
REMOTE_EVENTS = 20
REMOTE_PROBE = ("probe", "remote-probe", {"scalerAddress": "calendar-scaler.keda:9090"})


# -- the two calendars, and what is known to be in force -----------------------------------------


def remote_text(version: int, base: dt.datetime) -> str:
    text = gen.generate(REMOTE_EVENTS, seed=1000 + version, base=base, first=900_000,
                        probes=False)  # fmt: skip
    return text + (
        "  - name: remote-probe\n"
        f"    start: {(base - dt.timedelta(days=30)):%Y-%m-%d}\n"
        f"    end: {(base + dt.timedelta(days=400)):%Y-%m-%d}\n"
        "    leadTime: 0s\n    rampUp: 0s\n    rampDown: 0s\n"
        f"    scale: {{replicas: {100 + version}}}\n"
        "    targets:\n      - {namespace: probe, name: remote-probe}\n"
    )


INVALID = b"version: 1\nevents:\n  - name: broken\n    start: 2026-13-45T25:00\n    duration: 1h\n    scale: {replicas: 3}\n"  # noqa: E501
GARBAGE = b"<html><body>502 Bad Gateway</body></html>\n: : : [\n"


@dataclass
class Versions:
    """Versions of one calendar with when they appeared: (appeared, version, reference)."""

    window: float
    history: list[tuple[float, int, Reference]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, appeared: float, version: int, reference: Reference) -> None:
        with self.lock:
            self.history.append((appeared, version, reference))
            del self.history[:-3]

    def allowed(self, before: float) -> list[tuple[int, Reference]]:
        """Versions that may be in force for a call that started at `before`."""
        with self.lock:
            history = list(self.history)
        found = []
        for i in range(len(history) - 1, -1, -1):
            appeared, version, reference = history[i]
            if appeared <= before:
                found.append((version, reference))
                if before - appeared >= self.window:
                    break  # older versions are out of their window
            else:
                found.append((version, reference))  # written while the call was under way
        return found


def reference_for(calendar: Calendar, around: float) -> Reference:
    return Reference([calendar], around, margin=3 * 86400, planned=True)


# -- remote source: a local HTTP server that flaps ------------------------------------------------


class Flapper:
    def __init__(self, base: dt.datetime, remote: Versions) -> None:
        self.base = base
        self.remote = remote
        self.version = 0
        self.state = "ok"
        self.body = b""
        self.fetches: dict[str, int] = {}
        self.lock = threading.Lock()
        self.next_version()

    def next_version(self) -> None:
        self.version += 1
        text = remote_text(self.version, self.base)
        calendar = parse_calendar(text, name="remote", origin="remote.yaml")
        with self.lock:
            self.state, self.body = "ok", text.encode()
        self.remote.add(time.time(), self.version, reference_for(calendar, time.time()))

    def step(self, index: int) -> None:
        phase = index % 4
        if phase == 0:
            self.next_version()
            return
        with self.lock:
            self.state = ("500", "invalid", "garbage")[phase - 1]
            self.body = {"500": b"boom\n", "invalid": INVALID, "garbage": GARBAGE}[self.state]

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            state, body = self.state, self.body
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        key = state
        if state == "500":
            handler.send_response(500)
        elif handler.headers.get("If-None-Match") == etag:
            key = f"{state}-304"
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            self.fetches[key] = self.fetches.get(key, 0) + 1
            return
        else:
            handler.send_response(200)
            handler.send_header("ETag", etag)
        handler.send_header("Content-Type", "application/yaml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        self.fetches[key] = self.fetches.get(key, 0) + 1


def remote_server(flapper: Flapper) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            flapper.answer(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- the load and the checks ----------------------------------------------------------------------


@dataclass
class Tally:
    calls: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    error_count: int = 0
    mismatch_count: int = 0

    def error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < 10:
            self.errors.append(message)

    def mismatch(self, message: str) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < 10:
            self.mismatches.append(message)


class Checker:
    def __init__(self, file_versions: Versions, remote_versions: Versions) -> None:
        self.file = file_versions
        self.remote = remote_versions
        self._cache: dict[tuple[int, int, int, int], int] = {}

    def allowed(self, index: int, w: Workload, before: float, after: float) -> set[int]:
        values = set()
        for fv, fref in self.file.allowed(before):
            for rv, rref in self.remote.allowed(before):
                for instant in {int(before), int(after)}:
                    key = (index, fv, rv, instant)
                    value = self._cache.get(key)
                    if value is None:
                        value = max(fref.value(w, instant), rref.value(w, instant))
                        if len(self._cache) > 200_000:
                            self._cache.clear()
                        self._cache[key] = value
                    values.add(value)
        return values


async def load(port: int, rate: float, seconds: float, checker: Checker, tally: Tally) -> None:
    targets = [*gen.WORKLOADS, gen.RELOAD_PROBE, gen.STREAM_PROBE, REMOTE_PROBE]
    prepared = []
    for ns, name, meta in targets:
        request = metrics_request(ns, name, meta)
        prepared.append((request, workload(ns, name, meta)))
    async with grpc.aio.insecure_channel(f"{HOST}:{port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)

        async def one(i: int) -> None:
            request, w = prepared[i % len(prepared)]
            ref = request.scaledObjectRef
            try:
                if i % 8 == 0:  # KEDA asks for the spec on every poll, less often than values
                    spec = await stub.GetMetricSpec(ref, timeout=5)
                    tally.calls["GetMetricSpec"] = tally.calls.get("GetMetricSpec", 0) + 1
                    if [s.metricName for s in spec.metricSpecs] != [request.metricName]:
                        tally.mismatch(f"{w.ref}: spec {spec}")
                before = time.time()
                response = await stub.GetMetrics(request, timeout=5)
                after = time.time()
                tally.latencies_ms.append((after - before) * 1000)
                tally.calls["GetMetrics"] = tally.calls.get("GetMetrics", 0) + 1
                values = [v.metricValue for v in response.metricValues]
                allowed = checker.allowed(i % len(prepared), w, before, after)
                if len(values) != 1 or values[0] not in allowed:
                    tally.mismatch(f"{dt.datetime.now(dt.UTC):%H:%M:%S.%f} {w.ref}: served "
                                   f"{values}, allowed {sorted(allowed)}")  # fmt: skip
                if i % 4 == 0:
                    before = time.time()
                    active = (await stub.IsActive(ref, timeout=5)).result
                    after = time.time()
                    tally.calls["IsActive"] = tally.calls.get("IsActive", 0) + 1
                    allowed = checker.allowed(i % len(prepared), w, before, after)
                    if active not in {v > 0 for v in allowed}:
                        tally.mismatch(f"{w.ref}: IsActive {active}, allowed values {allowed}")
            except grpc.aio.AioRpcError as exc:
                tally.error(f"{w.ref}: {exc.code().name}: {exc.details()}")

        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        tick = 0.01  # send the calls due every 10 ms: a steady rate, not bursts
        i = 0
        ticks = 0
        while time.monotonic() - started < seconds:
            ticks += 1
            due = int(rate * tick * ticks)
            while i < due:
                task = asyncio.create_task(one(i))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            await asyncio.sleep(max(0.0, started + tick * ticks - time.monotonic()))
        if tasks:
            await asyncio.wait(tasks, timeout=10)


def pct(data: Sequence[float], q: float) -> float:
    ordered = sorted(data)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")


def scrape(http_port: int) -> tuple[dict[str, float], str]:
    """Loads and source errors per calendar (non-zero), and the server's own GetMetrics
    latency from its histogram: the bucket bounds holding p50, p99 and the maximum."""
    wanted = ("calendar_scaler_calendar_loads_total", "calendar_scaler_source_errors_total")
    found: dict[str, float] = {}
    buckets: list[tuple[float, float]] = []
    try:
        with urllib.request.urlopen(f"http://{HOST}:{http_port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                name, _, value = line.rpartition(" ")
                if line.startswith(wanted) and float(value) > 0:
                    found[name] = float(value)
                if line.startswith("calendar_scaler_grpc_request_duration_seconds_bucket") and (
                    'method="GetMetrics"' in line
                ):
                    le = name.split('le="', 1)[1].split('"', 1)[0]
                    buckets.append((float(le), float(value)))
    except OSError:
        pass
    buckets.sort()
    total = buckets[-1][1] if buckets else 0

    def bound(q: float) -> str:
        for le, count in buckets:
            if count >= q * total:
                return "> 2.5 s" if le == float("inf") else f"<= {le * 1000:g} ms"
        return "?"

    server = f"p50 {bound(0.5)}, p99 {bound(0.99)}, max {bound(1.0)}" if total else "n/a"
    return found, server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bounded soak test")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="1 minute")
    parser.add_argument("--rate", type=float, default=400.0, help="GetMetrics per second")
    parser.add_argument("--window", type=float, default=1.0,
                        help="seconds the old file version counts after a rewrite")  # fmt: skip
    parser.add_argument("--remote-window", type=float, default=3.0)
    parser.add_argument("--flap", type=float, default=4.0, help="seconds per remote state")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    minutes = 1.0 if args.quick else min(args.minutes, 10.0)
    seconds = minutes * 60

    info = machine()
    print("\n".join(machine_lines(info)), flush=True)
    work = Path(tempfile.mkdtemp(prefix="calendar-soak-"))
    today = dt.datetime.now(dt.UTC).date()
    base = dt.datetime(today.year, today.month, today.day)
    file_versions = Versions(window=args.window)
    remote_versions = Versions(window=args.remote_window)
    flapper = Flapper(base, remote_versions)
    http = remote_server(flapper)
    remote_url = f"http://{HOST}:{http.server_address[1]}/calendar.yaml"

    cal = work / "file.yaml"
    version = 1
    text = gen.generate(FILE_EVENTS, base=base, reload_value=version)
    gen.write_atomic(cal, text)
    file_versions.add(time.time(), version,
                      reference_for(parse_calendar(text, name="file", origin=str(cal)),
                                    time.time()))  # fmt: skip

    grpc_port, http_port = free_port(), free_port()
    server = scaler_process([("file", str(cal)), ("remote", remote_url)], grpc_port, http_port,
                            work / "server.log", "--refresh", "1",
                            "--state-dir", str(work / "state"))  # fmt: skip
    server.start()
    tally = Tally()
    stop = threading.Event()
    rss: list[tuple[float, float]] = []
    rewrites = [0]

    def rewrite() -> None:
        nonlocal version
        next_at = time.time() + 1
        while not stop.wait(max(0.0, next_at - time.time())):
            next_at += 1
            version += 1
            body = gen.generate(FILE_EVENTS, base=base, reload_value=version)
            calendar = parse_calendar(body, name="file", origin=str(cal))
            reference = reference_for(calendar, time.time())
            file_versions.add(time.time(), version, reference)  # before: never a false alarm
            gen.write_atomic(cal, body)
            rewrites[0] += 1

    def flap() -> None:
        index = 1
        while not stop.wait(args.flap):
            flapper.step(index)
            index += 1

    def sample() -> None:
        while not stop.wait(5):
            rss.append((time.time(), server.memory()[0]))

    try:
        server.wait_http(f"http://{HOST}:{http_port}/readyz", timeout=60)
        print(f"server ready; soaking for {minutes:g} min at {args.rate:g} GetMetrics/s",
              flush=True)  # fmt: skip
        threads = [threading.Thread(target=f, daemon=True) for f in (rewrite, flap, sample)]
        rss_start = server.memory()[0]
        for t in threads:
            t.start()
        checker = Checker(file_versions, remote_versions)
        began = time.time()
        asyncio.run(load(grpc_port, args.rate, seconds, checker, tally))
        elapsed = time.time() - began
        stop.set()
        for t in threads:
            t.join(10)
        rss_end, hwm = server.memory()
        counters, server_latency = scrape(http_port)
        alive = server.alive()
    finally:
        stop.set()
        server.stop()
        http.shutdown()

    calls = tally.calls
    rate = calls.get("GetMetrics", 0) / elapsed
    print(f"\nGetMetrics {calls.get('GetMetrics', 0)} ({rate:.0f}/s), IsActive "
          f"{calls.get('IsActive', 0)}, GetMetricSpec {calls.get('GetMetricSpec', 0)}")  # fmt: skip
    print(f"errors {tally.error_count}, mismatches {tally.mismatch_count}")
    for line in tally.errors + tally.mismatches:
        print("  " + line)
    growth = rss_end - rss_start
    print(f"RSS start {rss_start:.1f} MiB, end {rss_end:.1f} MiB ({growth:+.1f}), peak {hwm:.1f}")
    lat = tally.latencies_ms
    print(f"client latency p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms, "
          f"max {max(lat, default=float('nan')):.1f} ms")  # fmt: skip
    print(f"server-side GetMetrics latency (its histogram): {server_latency}")
    print(f"file rewrites {rewrites[0]}, remote versions {flapper.version}, remote answers "
          f"{dict(sorted(flapper.fetches.items()))}")  # fmt: skip
    for name, value in sorted(counters.items()):
        print(f"  {name} {value:g}")
    ok = tally.error_count == 0 and tally.mismatch_count == 0 and alive

    mid = [m for t, m in rss if t - began > 60]
    lines = [
        f"## `python -m bench.soak{' --quick' if args.quick else f' --minutes {minutes:g}'}`",
        "",
        *machine_lines(info),
        f"- {minutes:g} min, {rate:.0f} GetMetrics/s (+ IsActive every 4th, GetMetricSpec every "
        f"8th call) over {len(gen.WORKLOADS) + 3} workloads; file calendar ({FILE_EVENTS:,} "
        f"events) rewritten every second ({rewrites[0]} rewrites); remote calendar cycling OK / "
        f"500 / invalid / not YAML every {args.flap:g} s ({flapper.version} versions, answers "
        f"{dict(sorted(flapper.fetches.items()))})",
        "",
        "| RPC errors | mismatches vs value_at | RSS start / end / peak MiB "
        "| client p50 / p99 / max ms | server-side GetMetrics (histogram) |",
        "| ---: | ---: | ---: | ---: | --- |",
        f"| {tally.error_count} | {tally.mismatch_count} | {rss_start:.1f} / {rss_end:.1f} / "
        f"{hwm:.1f} | {pct(lat, 50):.2f} / {pct(lat, 99):.2f} / {max(lat, default=0):.1f} "
        f"| {server_latency} |",
        "",
        f"RSS growth {growth:+.1f} MiB"
        + (f" ({min(mid):.1f}-{max(mid):.1f} MiB after the first minute)" if mid else "")
        + "; server counters at the end: "
        + ", ".join(f"`{k} {v:g}`" for k, v in sorted(counters.items())),
    ]
    if tally.errors or tally.mismatches:
        lines += ["", "First problems:", *[f"- {x}" for x in tally.errors + tally.mismatches]]
    if not args.no_write:
        replace_section("soak:quick" if args.quick else "soak:run", "\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)
    print("\nPASS" if ok else "\nFAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
