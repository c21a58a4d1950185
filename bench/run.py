"""`make bench`: GetMetrics against the gRPC floor, at 10, 10,000 and 100,000 events.

    python -m bench.run            # the full run (~6-8 minutes on 2 cores), writes RESULTS.md
    python -m bench.run --quick    # a smoke run (< 2 minutes): 10 and 10,000 events, short loads

What it does, all on 127.0.0.1:

1. Starts the floor (bench.floor_server: the scaler's grpcio setup answering a constant).
2. For each calendar size: writes a generated calendar (bench.gen_calendar; 100,000 events are
   10 files of 10,000, one `--calendar` each, because a file source refuses files over 5 MiB),
   starts the real server (bench.serve_local: `calendar-scaler serve` bound to 127.0.0.1) and
   times process start to the first GetMetrics answer for a workload that needs every
   calendar that is OK and equal to `value_at`, and to /readyz 200.
3. Checks the answers with a real gRPC stub for all 64 bench workloads (different namespaces,
   names, labels, baseReplicas, capacityPerReplica, loadShare, leadTime, rampDown, metricName)
   against `value_at`, the contract's definition: h2load ignores grpc-status, so an error
   answer would otherwise count as a fast success. This also puts all 64 workloads in the
   server's cache.
4. Drives GetMetrics with h2load over h2c, one connection as KEDA uses, with 1, 8 and 64
   streams in flight (`-c 1 -m 1|8|64`), a timed run each (`-D`, after a warm-up). h2load sends
   one body per run, so each run takes the next of the 64 workloads' pre-encoded requests
   (gRPC 5-byte prefix + GetMetricsRequest): the cache holds all of them while one is asked.
   Floor and scaler runs alternate (floor, scaler, floor, scaler) with the same body, and the
   repeats are pooled: spread between runs on these machines is up to 35%.
5. Reads VmRSS/VmHWM after the load (and the RSS of the server's child processes: parser
   workers, multiprocessing's forkserver and resource tracker), then times a calendar change
   (atomic rewrite of the file with a new constant for probe/reload-probe) until GetMetrics
   serves the new value; then, with h2load sending GetMetrics at a fixed 500/s on one
   connection, compares the p99 of the calls started in the 3 s after another atomic rewrite
   with the p99 of those in the 3 s before it; reads the RSS again after these reloads; and
   times the StreamIsActive transitions of probe/stream-probe (windows a few seconds ahead)
   from their scheduled instant to their arrival at a client.

Throughput is h2load's requests/s over the timed part; p50/p99 come from its per-request log
(third column, microseconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench import gen_calendar as gen
from bench.common import (
    HOST,
    Reference,
    ServerProcess,
    free_port,
    grpc_body,
    machine,
    machine_lines,
    metrics_request,
    replace_section,
    scaler_process,
    workload,
)
from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc

__all__ = ["main"]

METHOD = "/externalscaler.ExternalScaler/GetMetrics"
TARGET_THROUGHPUT = 0.9
TARGET_P99 = 1.5
TARGET_RSS_MIB = 150
TARGET_START_S = {10_000: 1.0, 100_000: 5.0}  # process start to the first correct answer
PROBE_MS = 20  # how often first_answer asks, and its reconnect backoff
TARGET_RELOAD_S = {10_000: 0.5, 100_000: 1.0}  # atomic replace to the new value served
TARGET_STREAM_MS = 50
TARGET_RELOAD_P99 = 2.0  # GetMetrics p99 while a file reloads / idle p99, same run
RELOAD_RATE = 500  # GetMetrics/s (one connection, one stream) for the p99 during a reload
RELOAD_WINDOW = 3.0  # seconds after the replace counted as "during the reload" (and before: idle)


@dataclass
class Load:
    """Pooled h2load runs of one server at one concurrency."""

    requests: int = 0
    seconds: float = 0.0
    latencies_us: list[int] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """Percentile q (0-100) in milliseconds."""
        data = sorted(self.latencies_us)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, int(q / 100 * len(data)))] / 1000


@dataclass
class SizeResult:
    events: int
    files: int
    startup_s: float = 0.0  # process start to /readyz 200
    first_answer_s: float = 0.0  # process start to the first correct GetMetrics answer
    loads: dict[tuple[str, int], Load] = field(default_factory=dict)
    rss_mib: float = 0.0
    hwm_mib: float = 0.0
    reload_s: list[float] = field(default_factory=list)
    stream_ms: list[float] = field(default_factory=list)
    checked: int = 0
    helpers_mib: float = 0.0  # RSS of the server's child processes after the load
    rss_reloads_mib: float = 0.0  # server RSS after every reload
    helpers_reloads_mib: float = 0.0
    idle: Load = field(default_factory=Load)  # fixed-rate GetMetrics before each replace
    reloading: Load = field(default_factory=Load)  # ... and in the RELOAD_WINDOW after it


def h2load_argv(port: int, body: Path, streams: int) -> list[str]:
    """h2load sending `body` as GetMetrics over h2c: one connection, `streams` in flight."""
    return ["h2load", "-c", "1", "-m", str(streams), "-t", "1",
            "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", str(body),
            f"http://{HOST}:{port}{METHOD}"]  # fmt: skip


def h2load(port: int, body: Path, streams: int, seconds: float, warmup: float, log: Path,
           into: Load) -> None:  # fmt: skip
    log.unlink(missing_ok=True)  # h2load appends
    argv = [
        *h2load_argv(port, body, streams),
        "-D", f"{int(seconds * 1000)}ms", "--warm-up-time", f"{int(warmup * 1000)}ms",
        "--log-file", str(log),
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + warmup + 30)
    if out.returncode != 0:
        raise RuntimeError(f"h2load failed ({out.returncode}): {out.stderr or out.stdout}")
    summary = next((ln for ln in out.stdout.splitlines() if ln.startswith("requests:")), "")
    parts = (p.strip().split(" ", 1) for p in summary.removeprefix("requests:").split(","))
    counts = {word: int(number) for number, word in parts}
    bad = counts.get("failed", 0) + counts.get("errored", 0) + counts.get("timeout", 0)
    if bad or counts.get("succeeded") != counts.get("done"):
        raise RuntimeError(f"h2load saw failures: {summary}")
    latencies = []
    for line in log.read_text().splitlines():
        _, status, micros = line.split("\t")
        if status != "200":
            raise RuntimeError(f"HTTP status {status} in {log}")
        latencies.append(int(micros))
    into.requests += len(latencies)
    into.seconds += seconds
    into.latencies_us += latencies
    log.unlink(missing_ok=True)


# -- checking answers with a real stub ----------------------------------------------------------


def get_value(stub: pb_grpc.ExternalScalerStub, request: pb.GetMetricsRequest) -> int:
    response = stub.GetMetrics(request, timeout=10)
    values = list(response.metricValues)
    if len(values) != 1 or values[0].metricName != request.metricName:
        raise AssertionError(f"GetMetrics must answer one value named {request.metricName!r}: "
                             f"{response}")  # fmt: skip
    if values[0].metricValueFloat != values[0].metricValue:
        raise AssertionError(f"metricValue and metricValueFloat differ: {response}")
    return int(values[0].metricValue)


def check_answers(port: int, reference: Reference) -> int:
    """Every bench workload and probe answers OK with the value `value_at` gives."""
    checked = 0
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        for ns, name, meta in [*gen.WORKLOADS, gen.RELOAD_PROBE, gen.STREAM_PROBE]:
            before = time.time()
            served = get_value(stub, metrics_request(ns, name, meta))
            after = time.time()
            w = workload(ns, name, meta)
            allowed = {reference.value(w, before), reference.value(w, after)}
            if served not in allowed:
                raise AssertionError(f"{ns}/{name}: served {served}, value_at says {allowed}")
            checked += 1
    return checked


def first_answer(server: ServerProcess, port: int, reference: Reference) -> float:
    """Seconds from process start to the first GetMetrics answer for a bench workload (it
    needs every calendar) that is OK and equal to `value_at`.

    The probe asks every 20 ms and reconnects at most 20 ms after a refused connection
    (grpc's default backoff is 1 s, longer than the start-up measured). KEDA asks far less
    often; a probe every 5 ms took a fifth to a third of a core from the server while it
    started, on the two cores its parser processes need."""
    ns, name, meta = gen.WORKLOADS[0]
    request, w = metrics_request(ns, name, meta), workload(ns, name, meta)
    deadline = time.time() + 300
    backoff = [(f"grpc.{k}_reconnect_backoff_ms", PROBE_MS) for k in ("initial", "min", "max")]
    with grpc.insecure_channel(f"{HOST}:{port}", options=backoff) as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        while time.time() < deadline:
            if not server.alive():
                raise RuntimeError(f"server exited early; see {server.log}")
            before = time.time()
            try:
                served = get_value(stub, request)
            except grpc.RpcError:  # not listening yet, or UNAVAILABLE until calendars load
                time.sleep(PROBE_MS / 1000)
                continue
            answered = time.time()
            allowed = {reference.value(w, before), reference.value(w, answered)}
            if served not in allowed:
                raise AssertionError(f"{ns}/{name}: first answer {served}, value_at says {allowed}")
            return answered - server.started
    raise RuntimeError("no correct GetMetrics answer within 300 s")


# -- reload and stream timings -----------------------------------------------------------------


def latency_during_reload(port: int, body: Path, first_file: Path, text: str, expect: int,
                          log: Path, idle: Load, reloading: Load) -> None:  # fmt: skip
    """GetMetrics at RELOAD_RATE/s (h2load, one connection, one stream) for RELOAD_WINDOW
    seconds, then an atomic replace of the calendar and RELOAD_WINDOW seconds more: requests
    started before the replace go to `idle`, those after it to `reloading`."""
    log.unlink(missing_ok=True)
    seconds = 2 * RELOAD_WINDOW + 1.0
    argv = [
        *h2load_argv(port, body, 1), "--rps", str(RELOAD_RATE),
        "-D", f"{int(seconds * 1000)}ms", "--warm-up-time", "500ms", "--log-file", str(log),
    ]  # fmt: skip
    h2 = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5 + RELOAD_WINDOW + 0.5)
    replaced = time.time()
    gen.write_atomic(first_file, text)
    out, _ = h2.communicate(timeout=seconds + 30)
    if h2.returncode != 0:
        raise RuntimeError(f"h2load failed ({h2.returncode}): {out}")
    for line in log.read_text().splitlines():
        started_us, status, micros = (int(x) for x in line.split("\t"))
        if status != 200:
            raise RuntimeError(f"HTTP status {status} in {log}")
        started = started_us / 1e6
        if replaced - RELOAD_WINDOW <= started < replaced:
            idle.latencies_us.append(micros)
            idle.requests += 1
        elif replaced <= started < replaced + RELOAD_WINDOW:
            reloading.latencies_us.append(micros)
            reloading.requests += 1
    idle.seconds += RELOAD_WINDOW
    reloading.seconds += RELOAD_WINDOW
    log.unlink(missing_ok=True)
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:  # the next run starts after it
        stub, request = pb_grpc.ExternalScalerStub(channel), metrics_request(*gen.RELOAD_PROBE)
        while get_value(stub, request) != expect:
            if time.time() - replaced > 120:
                raise RuntimeError(f"reload-probe never served {expect}")
            time.sleep(0.01)


def time_reload(port: int, first_file: Path, text: str, expect: int) -> float:
    """Seconds from an atomic rewrite of the calendar to GetMetrics serving `expect`."""
    request = metrics_request(*gen.RELOAD_PROBE)
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        get_value(stub, request)  # connected before the clock starts
        started = time.time()
        gen.write_atomic(first_file, text)
        while time.time() - started < 120:
            if get_value(stub, request) == expect:
                return time.time() - started
            time.sleep(0.001)
    raise RuntimeError(f"reload-probe never served {expect}")


def time_stream(port: int, first_file: Path, make_text: object, value: int,
                lead: float) -> list[float]:  # fmt: skip
    """Delays (ms) of StreamIsActive transitions: windows [t, t+1) and [t+2, t+3) where t is
    `lead` seconds ahead, written into the calendar while the stream is open."""
    assert callable(make_text)
    ref = pb.ScaledObjectRef(namespace=gen.STREAM_PROBE[0], name=gen.STREAM_PROBE[1],
                             scalerMetadata=gen.STREAM_PROBE[2])  # fmt: skip
    got: list[tuple[float, bool]] = []
    with grpc.insecure_channel(f"{HOST}:{port}") as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        call = stub.StreamIsActive(ref)

        def read() -> None:
            try:
                for message in call:
                    got.append((time.time(), message.result))
            except grpc.RpcError:
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while not got:
            time.sleep(0.01)
        t = int(time.time() + lead) + 1
        windows = [(t, t + 1), (t + 2, t + 3)]
        text = make_text(windows)
        gen.write_atomic(first_file, text)
        # Wait until the calendar with the windows is in force, then for the transitions.
        request = metrics_request(*gen.RELOAD_PROBE)
        mstub = stub
        while get_value(mstub, request) != value:
            if time.time() > t:
                raise RuntimeError("the calendar with the stream windows loaded too late")
            time.sleep(0.005)
        while time.time() < t + 4 and len(got) < 5:
            time.sleep(0.01)
        call.cancel()
        reader.join(5)
    expected = [(t, True), (t + 1, False), (t + 2, True), (t + 3, False)]
    arrivals = [(at, active) for at, active in got[1:]]
    if [a for _, a in arrivals] != [a for _, a in expected]:
        raise RuntimeError(f"unexpected StreamIsActive messages {got} (expected {expected})")
    return [(at - when) * 1000 for (at, _), (when, _) in zip(arrivals, expected, strict=True)]


# -- one calendar size -------------------------------------------------------------------------


def bench_size(events: int, work: Path, floor_port: int, args: argparse.Namespace,
               base: dt.datetime, counter: list[int]) -> SizeResult:  # fmt: skip
    directory = work / f"cal-{events}"
    paths = gen.write_calendars(directory, events, base=base, reload_value=1)
    names = [(p.stem, p) for p in paths]
    result = SizeResult(events=events, files=len(paths))
    grpc_port, http_port = free_port(), free_port()
    server = scaler_process([(n, str(p)) for n, p in names], grpc_port, http_port,
                            work / f"server-{events}.log")  # fmt: skip
    print(f"\n== {events:,} events ({len(paths)} file{'s' if len(paths) > 1 else ''}) ==",
          flush=True)  # fmt: skip
    reference = Reference.of_files(names, time.time())  # before the clock starts
    server.start()
    try:
        # /readyz polled meanwhile: after the probe, it would count the probe's channel close
        # (~1 s at 100,000 events).
        ready: list[float] = []
        poll = threading.Thread(
            target=lambda: ready.append(
                server.wait_http(
                    f"http://{HOST}:{http_port}/readyz", timeout=300, every=PROBE_MS / 1000
                )
            )
        )
        poll.start()
        result.first_answer_s = first_answer(server, grpc_port, reference)
        poll.join()
        if not ready:
            raise RuntimeError(f"/readyz never answered 200; see {server.log}")
        result.startup_s = ready[0]
        print(f"start-up to the first correct answer: {result.first_answer_s:.2f} s, to "
              f"/readyz 200: {result.startup_s:.2f} s", flush=True)  # fmt: skip
        result.checked = check_answers(grpc_port, reference)
        print(f"answers checked against value_at: {result.checked} workloads", flush=True)

        bodies = []
        for i, (ns, name, meta) in enumerate(gen.WORKLOADS):
            body = work / f"body-{i}.bin"
            body.write_bytes(grpc_body(metrics_request(ns, name, meta)))
            bodies.append(body)
        log = work / "h2load.tsv"
        for streams in args.streams:
            floor, scaler = Load(), Load()
            for _ in range(args.repeat):
                body = bodies[counter[0] % len(bodies)]
                counter[0] += 1
                h2load(floor_port, body, streams, args.seconds, args.warmup, log, floor)
                h2load(grpc_port, body, streams, args.seconds, args.warmup, log, scaler)
            result.loads[("floor", streams)] = floor
            result.loads[("scaler", streams)] = scaler
            print(f"  {streams:>2} streams: floor {floor.rps:8.0f} req/s p50 {floor.pct(50):.2f} "
                  f"p99 {floor.pct(99):.2f} ms | scaler {scaler.rps:8.0f} req/s p50 "
                  f"{scaler.pct(50):.2f} p99 {scaler.pct(99):.2f} ms | ratio "
                  f"{scaler.rps / floor.rps:.2f}, p99 x{scaler.pct(99) / floor.pct(99):.2f}",
                  flush=True)  # fmt: skip
        result.rss_mib, result.hwm_mib = server.memory()
        result.helpers_mib = server.helpers_rss()
        print(f"RSS after load {result.rss_mib:.0f} MiB (peak {result.hwm_mib:.0f} MiB), "
              f"child processes {result.helpers_mib:.0f} MiB", flush=True)  # fmt: skip

        first = paths[0]
        count = min(gen.PER_FILE, events)
        value = 2
        for _ in range(args.reloads):
            text = gen.generate(count, base=base, reload_value=value)
            server.wait_idle()  # not queued behind the previous reload's background rebuilds
            result.reload_s.append(time_reload(grpc_port, first, text, value))
            value += 1
        print("reload to new value served: "
              + ", ".join(f"{s * 1000:.0f} ms" for s in result.reload_s), flush=True)  # fmt: skip
        for _ in range(args.reloads):
            text = gen.generate(count, base=base, reload_value=value)
            server.wait_idle()
            latency_during_reload(grpc_port, bodies[0], first, text, value, log, result.idle,
                                  result.reloading)  # fmt: skip
            value += 1
        print(f"GetMetrics at {RELOAD_RATE}/s: p99 idle {result.idle.pct(99):.2f} ms, during "
              f"a reload {result.reloading.pct(99):.2f} ms (max {result.reloading.pct(100):.1f} "
              "ms)", flush=True)  # fmt: skip
        server.wait_idle()
        result.rss_reloads_mib, _ = server.memory()
        result.helpers_reloads_mib = server.helpers_rss()
        print(f"RSS after {2 * args.reloads} reloads {result.rss_reloads_mib:.0f} MiB, child "
              f"processes {result.helpers_reloads_mib:.0f} MiB", flush=True)  # fmt: skip

        lead = max(2.0, 3 * max(result.reload_s))

        def make_text(windows: Sequence[tuple[int, int]]) -> str:
            return gen.generate(count, base=base, reload_value=value, stream=windows)

        server.wait_idle()
        result.stream_ms = time_stream(grpc_port, first, make_text, value, lead)
        print("StreamIsActive transition delays: "
              + ", ".join(f"{ms:.1f} ms" for ms in result.stream_ms), flush=True)  # fmt: skip
    finally:
        server.stop()
    return result


# -- report ------------------------------------------------------------------------------------


def _mark(ok: bool) -> str:
    return "" if ok else " **(missed)**"


def report(results: Sequence[SizeResult], info: dict[str, str], args: argparse.Namespace,
           elapsed: float) -> str:  # fmt: skip
    lines = [
        f"## `python -m bench.run{' --quick' if args.quick else ''}`",
        "",
        *machine_lines(info),
        f"- Loads: h2load over h2c, 1 connection, `-m` = streams in flight, {args.seconds:g} s "
        f"timed after {args.warmup:g} s warm-up, x{args.repeat} per server alternating with the "
        f"floor and pooled; whole run {elapsed / 60:.1f} min; load average (1/5/15 min) "
        f"{info.get('load', '?')}",
        "",
        "### GetMetrics against the floor (no-op grpc.aio server, same grpcio setup)",
        "",
        "| events | streams | floor req/s | scaler req/s | ratio (>= 0.9) | floor p50 / p99 ms "
        "| scaler p50 / p99 ms | p99 ratio (<= 1.5) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        for streams in args.streams:
            f, s = r.loads[("floor", streams)], r.loads[("scaler", streams)]
            ratio, p99 = s.rps / f.rps, s.pct(99) / f.pct(99)
            lines.append(
                f"| {r.events:,} | {streams} | {f.rps:,.0f} | {s.rps:,.0f} | "
                f"{ratio:.2f}{_mark(ratio >= TARGET_THROUGHPUT)} | {f.pct(50):.2f} / "
                f"{f.pct(99):.2f} | {s.pct(50):.2f} / {s.pct(99):.2f} | "
                f"{p99:.2f}{_mark(p99 <= TARGET_P99)} |"
            )
    lines += [
        "",
        "### Start-up, memory, reload, StreamIsActive",
        "",
        "| events | files | start-up s: first correct answer (/readyz) | RSS MiB after load "
        "(peak) + child processes | RSS MiB after reloads + child processes | reload to new "
        "value ms (each) | GetMetrics p99 ms idle / during a reload (ratio) | StreamIsActive "
        "delay ms (each transition) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        start_ok = r.first_answer_s <= TARGET_START_S.get(r.events, 2**31)
        rss_ok = r.events < 100_000 or r.rss_mib <= TARGET_RSS_MIB
        rss_reloads_ok = r.events < 100_000 or r.rss_reloads_mib <= TARGET_RSS_MIB
        reload_ok = max(r.reload_s) <= TARGET_RELOAD_S.get(r.events, 1.0)
        idle_p99, reload_p99 = r.idle.pct(99), r.reloading.pct(99)
        p99_ok = reload_p99 <= TARGET_RELOAD_P99 * idle_p99
        stream_ok = max(r.stream_ms) <= TARGET_STREAM_MS
        lines.append(
            f"| {r.events:,} | {r.files} | {r.first_answer_s:.2f} ({r.startup_s:.2f})"
            f"{_mark(start_ok)} | {r.rss_mib:.0f} ({r.hwm_mib:.0f}) + {r.helpers_mib:.0f}"
            f"{_mark(rss_ok)} | {r.rss_reloads_mib:.0f} + {r.helpers_reloads_mib:.0f}"
            f"{_mark(rss_reloads_ok)} | "
            f"{', '.join(f'{s * 1000:.0f}' for s in r.reload_s)}{_mark(reload_ok)} | "
            f"{idle_p99:.2f} / {reload_p99:.2f} ({reload_p99 / idle_p99:.1f})"
            f"{_mark(p99_ok)} | {', '.join(f'{ms:.1f}' for ms in r.stream_ms)}"
            f"{_mark(stream_ok)} |"
        )
    lines += [
        "",
        f"Targets: throughput >= {TARGET_THROUGHPUT} of the floor and p99 <= {TARGET_P99}x the "
        f"floor's at every size and concurrency; at 100,000 events (10 files) RSS <= "
        f"{TARGET_RSS_MIB} MiB after the load and after the reloads, first correct answer <= "
        f"{TARGET_START_S[100_000]:g} s, reload <= {TARGET_RELOAD_S[100_000]:g} s; at 10,000 "
        f"events first correct answer <= {TARGET_START_S[10_000]:g} s, reload <= "
        f"{TARGET_RELOAD_S[10_000]:g} s; GetMetrics p99 during a reload <= "
        f"{TARGET_RELOAD_P99:g}x the idle p99 ({RELOAD_RATE} calls/s on one connection, the "
        f"{RELOAD_WINDOW:g} s before and after each atomic replace); StreamIsActive delay <= "
        f"{TARGET_STREAM_MS} ms. **(missed)** marks a miss. Child processes: what the server "
        "starts to parse calendars (workers, multiprocessing's forkserver and resource tracker).",
        f"Every answer was checked against `value_at` before timing "
        f"({', '.join(str(r.checked) for r in results)} workloads per size).",
    ]
    return "\n".join(lines)


def compile_scaler() -> None:
    """Bytecode for the scaler package, as the image has it (pip compiles at install): a
    checkout run with PYTHONDONTWRITEBYTECODE (this sandbox sets it) compiles every module of
    ours at each start, ~0.2 s of the server's start-up and some of each parser process's."""
    import compileall

    import scaler

    compileall.compile_dir(Path(scaler.__file__).parent, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GetMetrics against the gRPC floor")
    parser.add_argument("--quick", action="store_true", help="smoke run: < 2 minutes")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        help="calendar sizes, e.g. 10,10000,100000")  # fmt: skip
    parser.add_argument("--seconds", type=float, help="timed seconds per h2load run")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    args.streams = (1, 8, 64)
    if args.quick:
        args.sizes = args.sizes or [10, 10_000]
        args.seconds = args.seconds or 2.0
        args.warmup, args.repeat, args.reloads = 0.5, 1, 2
    else:
        args.sizes = args.sizes or [10, 10_000, 100_000]
        args.seconds = args.seconds or 2.5
        args.warmup, args.repeat, args.reloads = 0.5, 4, 3
    if shutil.which("h2load") is None:
        print("h2load is missing: apt-get install nghttp2-client (make bench does)",
              file=sys.stderr)  # fmt: skip
        return 2

    compile_scaler()
    began = time.time()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    info = machine()
    print("\n".join(machine_lines(info)), flush=True)
    work = Path(tempfile.mkdtemp(prefix="calendar-bench-"))
    today = dt.datetime.now(dt.UTC).date()
    base = dt.datetime(today.year, today.month, today.day)
    floor = ServerProcess([sys.executable, "-m", "bench.floor_server", "--port", "0"],
                          work / "floor.log")  # fmt: skip
    floor.start()
    results = []
    try:
        floor_port = int(floor.wait_line("ready ", timeout=30).split()[1])
        counter = [0]
        for events in args.sizes:
            results.append(bench_size(events, work, floor_port, args, base, counter))
    finally:
        floor.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    info["load"] = f"{' '.join(load_before)} before, {' '.join(load_after)} after"
    text = report(results, info, args, time.time() - began)
    print("\n" + text)
    if not args.no_write:
        replace_section("bench:quick" if args.quick else "bench:run", text)
    if args.keep:
        print(f"\nwork directory kept: {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
