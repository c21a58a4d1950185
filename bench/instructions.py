"""Instructions per GetMetrics, the scaler against the floor, counted by callgrind.

    python -m bench.instructions [--calls N] [--no-write]

`bench.run`'s throughput ratio moves by 5-10% between runs on a shared 2-core machine: the
floor measured against a second floor gave 0.96-1.11 (bench/RESULTS.md). Instructions do not
move: valgrind's callgrind counts them, the same for the same build and input whatever else
the machine does. Each server runs under callgrind with counting off; once it answers (the
scaler: correctly, for a bench workload), h2load sends 200 calls to warm it up, counting is
switched on, IDLE_S seconds without calls are counted (then dumped), `--calls` calls are sent
(8 streams on one connection) and counted. The load's count includes everything the process
did meanwhile (grpcio, the event loop, our handler) less the idle rate times the load's
seconds: under callgrind a call lasts ~50x longer, and a timer or file poll with it. The
parser processes are not counted (valgrind does not follow the forkserver's exec). h2load
sends one body, so after the first call the scaler answers from its answers remembered per
request body (scaler/service/servicer.py); a body not seen yet costs the full path (1.08x
the floor's instructions when that was every call, bench/RESULTS.md item 41).

Throughput >= 0.9x the floor's, when the server is CPU-bound, means at most 1/0.9 = 1.11x the
floor's instructions per call (cache misses and system calls are not counted). A
callgrind run is ~50x slower: ~20 s per 2,000 calls.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import grpc

from bench import gen_calendar as gen
from bench.common import (
    HOST,
    ROOT,
    Reference,
    free_port,
    grpc_body,
    machine,
    machine_lines,
    metrics_request,
    replace_section,
    scaler_process,
    workload,
)
from bench.run import h2load_argv
from scaler._proto import externalscaler_pb2_grpc as pb_grpc

__all__ = ["main"]

STREAMS = 8
SIZES = (10, 10_000)
Ready = Callable[[subprocess.Popen[bytes], Path], None]  # returns once the server answers
IDLE_S = 5.0  # seconds counted without calls: what the server does anyway, per second
TARGET = 1 / 0.9  # instructions per call, scaler / floor: the throughput target's equivalent


def _counted(argv: list[str], port: int, calls: int, work: Path, ready: Ready
             ) -> tuple[float, float]:  # fmt: skip
    """(instructions per call, instructions per second idle) of the server `argv` (listening
    on `port`) under callgrind. What the server does without calls (timers, file polls) is
    counted for IDLE_S seconds and taken out of the load's count pro rata: under callgrind
    those seconds are ~50x as many per call as they would be."""
    out = work / "callgrind.out"
    for old in work.glob("callgrind.out*"):
        old.unlink()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                f"--callgrind-out-file={out}"]  # fmt: skip
    log = work / "server.log"
    with open(log, "wb") as sink:
        server = subprocess.Popen([*valgrind, *argv], stdout=sink, stderr=subprocess.STDOUT,
                                  cwd=ROOT)  # fmt: skip

    def control(*what: str) -> None:
        subprocess.run(["callgrind_control", *what, str(server.pid)], capture_output=True,
                       check=True, timeout=60)  # fmt: skip

    try:
        ready(server, log)
        ns, name, meta = gen.WORKLOADS[0]
        body = work / "body"
        body.write_bytes(grpc_body(metrics_request(ns, name, meta)))
        h2load = h2load_argv(port, body, STREAMS)
        subprocess.run([*h2load, "-n", "200"], capture_output=True, check=True, timeout=300)
        control("-i", "on")
        began = time.monotonic()
        time.sleep(IDLE_S)
        control("--dump=idle")
        idle_s = time.monotonic() - began
        began = time.monotonic()
        done = subprocess.run([*h2load, "-n", str(calls)], capture_output=True, text=True,
                              timeout=600)  # fmt: skip
        took = time.monotonic() - began
        control("--dump=load")
        control("-i", "off")
        if f"{calls} succeeded" not in done.stdout:
            raise RuntimeError(f"h2load: not every call succeeded:\n{done.stdout}")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    idle, load = _dumped(work, "idle"), _dumped(work, "load")
    return (load - idle / idle_s * took) / calls, idle / idle_s


def _dumped(work: Path, trigger: str) -> int:
    """The instructions counted in the callgrind dump made with --dump=`trigger`."""
    for part in work.glob("callgrind.out.*"):
        lines = part.read_text().splitlines()
        if f"desc: Trigger: dump {trigger}" in lines:
            return next(int(ln.split()[1]) for ln in lines if ln.startswith("totals:"))
    raise RuntimeError(f"no callgrind dump '{trigger}' in {work}")


def _floor_ready(server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 120
    while "ready" not in log.read_text():
        if server.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"the floor did not start; see {log}")
        time.sleep(0.2)


def _scaler_ready(port: int, reference: Reference) -> Ready:
    def ready(server: subprocess.Popen[bytes], log: Path) -> None:
        ns, name, meta = gen.WORKLOADS[0]
        request, w = metrics_request(ns, name, meta), workload(ns, name, meta)
        deadline = time.time() + 300
        with grpc.insecure_channel(f"{HOST}:{port}") as channel:
            stub = pb_grpc.ExternalScalerStub(channel)
            while time.time() < deadline:
                if server.poll() is not None:
                    raise RuntimeError(f"the scaler exited; see {log}")
                try:
                    response = stub.GetMetrics(request, timeout=30)
                except grpc.RpcError:
                    time.sleep(0.5)
                    continue
                served = response.metricValues[0].metricValue
                if served not in {reference.value(w, time.time() - 30),
                                  reference.value(w, time.time())}:  # fmt: skip
                    raise AssertionError(f"{ns}/{name}: {served}, value_at says otherwise")
                return
        raise RuntimeError(f"the scaler never answered; see {log}")

    return ready


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="counted calls per server")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args(argv)
    missing = [t for t in ("valgrind", "callgrind_control", "h2load") if not shutil.which(t)]
    if missing:
        print(f"missing: {', '.join(missing)}; apt-get install valgrind nghttp2-client "
              "(make bench does)", file=sys.stderr)  # fmt: skip
        return 2
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp:
        work = Path(tmp)
        port = free_port()
        floor_argv = [sys.executable, "-m", "bench.floor_server", "--port", str(port)]
        floor, floor_idle = _counted(floor_argv, port, args.calls, work, _floor_ready)
        print(f"floor: {floor:,.0f} instructions per call ({floor_idle:,.0f}/s idle)",
              flush=True)  # fmt: skip
        for events in SIZES:
            paths = gen.write_calendars(work / f"cal-{events}", events, reload_value=1)
            names = [(p.stem, p) for p in paths]
            port = free_port()
            server = scaler_process([(n, str(p)) for n, p in names], port, free_port(),
                                    work / "scaler.log").argv  # fmt: skip
            reference = Reference.of_files(names, time.time())
            count, idle = _counted(server, port, args.calls, work, _scaler_ready(port, reference))
            ratio = count / floor
            mark = "" if ratio <= TARGET else " **(missed)**"
            print(f"scaler, {events:,} events: {count:,.0f} instructions per call "
                  f"({idle:,.0f}/s idle), {ratio:.3f}x the floor", flush=True)  # fmt: skip
            rows.append(f"| {events:,} | {floor:,.0f} ({floor_idle:,.0f}) | {count:,.0f} "
                        f"({idle:,.0f}) | {ratio:.3f}{mark} |")  # fmt: skip
    text = "\n".join([
        "## `python -m bench.instructions`",
        "",
        *machine_lines(machine()),
        f"- {args.calls:,} GetMetrics per server, {STREAMS} streams on one connection (h2load), "
        f"counted by callgrind after 200 uncounted, less the idle rate over the load's "
        f"seconds; whole run {(time.time() - started) / 60:.1f} min",
        "",
        "| events | floor instructions per call (per second idle) | scaler instructions per "
        "call (per second idle) | ratio (<= 1.11) |",
        "| ---: | ---: | ---: | ---: |",
        *rows,
    ])  # fmt: skip
    print("\n" + text)
    if not args.no_write:
        replace_section("bench:instructions", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
