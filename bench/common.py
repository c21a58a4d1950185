"""What bench.run and bench.soak share: server processes, gRPC bodies, reference values, the
machine description, and RESULTS.md sections."""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scaler._proto import externalscaler_pb2 as pb
from scaler.calendar.evaluation import occurrences, plan, value_at
from scaler.calendar.model import Calendar
from scaler.calendar.parsing import parse_calendar
from scaler.calendar.workload import Workload, parse_metadata

__all__ = [
    "RESULTS",
    "Reference",
    "ServerProcess",
    "free_port",
    "grpc_body",
    "machine",
    "metrics_request",
    "replace_section",
]

HOST = "127.0.0.1"
RESULTS = Path(__file__).with_name("RESULTS.md")
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def metrics_request(namespace: str, name: str, metadata: Mapping[str, str]) -> pb.GetMetricsRequest:
    """What KEDA sends: the ref with every metadata key, and the metric name without `sN-`."""
    metric = metadata.get("metricName", "").strip() or "sale-calendar"
    ref = pb.ScaledObjectRef(namespace=namespace, name=name, scalerMetadata=dict(metadata))
    return pb.GetMetricsRequest(scaledObjectRef=ref, metricName=metric)


def grpc_body(message: pb.GetMetricsRequest) -> bytes:
    """A gRPC message on the wire: flag byte 0 (not compressed), 4-byte length, the bytes."""
    data = message.SerializeToString()
    return bytes(struct.pack(">BI", 0, len(data)) + data)


@dataclass
class ServerProcess:
    """A server in its own process (the scaler via bench.serve_local, or the floor)."""

    argv: list[str]
    log: Path
    started: float = 0.0  # time.time() just before the process was created
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def start(self) -> None:
        self.started = time.time()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=ROOT, env=self.env)  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def memory(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) in MiB, from /proc."""
        fields: dict[str, float] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(rest.split()[0]) / 1024
        return fields["VmRSS"], fields["VmHWM"]

    def helpers_rss(self) -> float:
        """VmRSS in MiB of the server's child processes (calendar parsing workers and
        multiprocessing's forkserver and resource tracker), summed; 0 when it has none."""
        total, todo = 0.0, [self.pid]
        while todo:
            pid = todo.pop()
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in children.read_text().split()]
            if pid != self.pid:
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) / 1024
        return total

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, *, below: float = 0.1, timeout: float = 60.0) -> float:
        """Wait until the server uses less than `below` of a core over 0.3 s (background
        rebuilds after a reload are done); the seconds waited."""
        began = time.time()
        while time.time() - began < timeout:
            before = self.cpu_seconds()
            time.sleep(0.3)
            if self.cpu_seconds() - before < below * 0.3:
                break
        return time.time() - began

    def wait_http(self, url: str, *, timeout: float, every: float = 0.005) -> float:
        """Poll `url` every `every` seconds until it answers 200; the seconds since start()."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.alive():
                raise RuntimeError(f"server exited early; see {self.log}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=1) as response,
            ):
                if response.status == 200:
                    return time.time() - self.started
            time.sleep(every)
        raise RuntimeError(f"{url} not ready after {timeout}s; see {self.log}")

    def wait_line(self, prefix: str, *, timeout: float) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log.read_text().splitlines():
                if line.startswith(prefix):
                    return line
            if not self.alive():
                raise RuntimeError(f"server exited early; see {self.log}")
            time.sleep(0.01)
        raise RuntimeError(f"no {prefix!r} line after {timeout}s; see {self.log}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def scaler_process(calendars: Sequence[tuple[str, str]], grpc_port: int, http_port: int,
                   log: Path, *extra: str) -> ServerProcess:  # fmt: skip
    argv = [sys.executable, "-m", "bench.serve_local", "--grpc-port", str(grpc_port),
            "--http-port", str(http_port), *extra]  # fmt: skip
    for name, location in calendars:
        argv += ["--calendar", f"{name}={location}"]
    return ServerProcess(argv, log)


class Reference:
    """The value a workload must get, from the contract's own definition (`value_at`).

    To keep `value_at` cheap on 100,000 events, the calendars are first cut down to the events
    that have an occurrence within `margin` of `around`: no other event can reach that instant
    when every lead, ramp and duration of the bench's workloads is shorter than the margin.
    """

    def __init__(self, calendars: Sequence[Calendar], around: float, margin: int = 5 * 86400,
                 *, planned: bool = False) -> None:  # fmt: skip
        lo, hi = int(around) - margin, int(around) + margin
        self.calendars: list[Calendar] = []
        for calendar in calendars:
            seen: dict[int, object] = {}
            for occ in occurrences([calendar], lo, hi):
                seen.setdefault(id(occ.event), occ.event)
            kept = tuple(e for e in calendar.events if id(e) in seen)
            self.calendars.append(Calendar(name=calendar.name, origin=calendar.origin, events=kept))
        self.lo, self.hi = lo + margin // 2, hi - margin // 2
        self.planned = planned
        self._plans: dict[int, tuple[Workload, list[int], list[int]]] = {}
        self._asked = 0

    @classmethod
    def of_files(cls, files: Sequence[tuple[str, Path]], around: float) -> Reference:
        calendars = [parse_calendar(p.read_bytes(), name=n, origin=str(p)) for n, p in files]
        return cls(calendars, around)

    def value(self, workload: Workload, instant: float) -> int:
        """`value_at`; `planned`: from the workload's plan over the whole range (one plan per
        workload, then a bisect), with every PLANNED_CHECK-th answer also computed by
        `value_at` and compared: the soak checks thousands of answers a second."""
        if not self.lo <= instant <= self.hi:
            raise ValueError("the reference was cut for another time; build a new one")
        if not self.planned:
            return value_at(self.calendars, workload, int(instant))
        known = self._plans.get(id(workload))
        if known is None or known[0] is not workload:
            points = plan(self.calendars, workload, self.lo, self.hi + 1, with_events=False).points
            known = (workload, [p.at for p in points], [p.value for p in points])
            self._plans[id(workload)] = known
        value = known[2][bisect.bisect_right(known[1], int(instant)) - 1]
        self._asked += 1
        if self._asked % PLANNED_CHECK == 0:
            exact = value_at(self.calendars, workload, int(instant))
            if exact != value:
                raise AssertionError(f"{workload.ref} at {instant}: plan says {value}, "
                                     f"value_at {exact}")  # fmt: skip
        return value


PLANNED_CHECK = 50


def workload(namespace: str, name: str, metadata: Mapping[str, str]) -> Workload:
    return parse_metadata(namespace, name, metadata)


def machine() -> dict[str, str]:
    import google.protobuf  # type: ignore[import-untyped]
    import grpc

    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    h2load = "not installed"
    if shutil.which("h2load"):
        out = subprocess.run(["h2load", "--version"], capture_output=True, text=True).stdout
        h2load = out.split()[-1] if out.strip() else "unknown"
    mem = ""
    with contextlib.suppress(OSError):
        match = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        if match:
            mem = f"{int(match[1]) / 1024 / 1024:.1f} GiB"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "protobuf": google.protobuf.__version__,
        "h2load": h2load,
    }


def machine_lines(info: Mapping[str, str]) -> list[str]:
    return [
        f"- Date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} cores, {info['memory']} RAM, "
        f"Linux {info['kernel']}",
        f"- Python {info['python']}, grpcio {info['grpcio']}, protobuf {info['protobuf']}, "
        f"h2load {info['h2load']}",
    ]


def replace_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Put `body` between `<!-- NAME -->` and `<!-- /NAME -->` in RESULTS.md, keeping the rest
    (hand-written notes, the other tool's section)."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    box: list[float] = []
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - t0)
