"""`calendar-scaler serve --prometheus` as a user runs it, with a real Prometheus and real time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import grpc
import httpx
import pytest

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.calendar.timefmt import format_instant
from tests.history.support import hpa
from tests.prometheus import PrometheusServer, Sample, free_port

Start = Callable[[Iterable[Sample]], PrometheusServer]
TOKEN = "Bearer n3ver-l0gged"


def _value(stub: pb_grpc.ExternalScalerStub) -> int | str:
    """What KEDA reads: the GetMetrics value, or the error's status."""
    ref = pb.ScaledObjectRef(namespace="shop", name="web")
    request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName="sale-calendar")
    try:
        return int(stub.GetMetrics(request, timeout=5).metricValues[0].metricValue)
    except grpc.RpcError as exc:
        return f"{exc.code()}: {exc.details()}"


@pytest.mark.slow
def test_serve_sizes_a_live_like_event_from_prometheus_and_keeps_the_token_out_of_logs(
    prometheus: Start, tmp_path: Path
) -> None:
    now = int(time.time())
    last_start, last_end = now - 30 * 86400, now - 29 * 86400
    server = prometheus([hpa("web", 8, last_start), hpa("web", 21, last_start + 7200)])
    calendar = tmp_path / "sales.yaml"
    calendar.write_text(
        "version: 1\nevents:\n"
        f"  - name: sale\n    start: {format_instant(now - 3600)}\n"
        f"    end: {format_instant(now + 3600)}\n    scale: {{like: last, growth: 1.5}}\n"
        f"  - name: last\n    start: {format_instant(last_start)}\n"
        f"    end: {format_instant(last_end)}\n    disabled: true\n    scale: {{replicas: 1}}\n"
    )
    grpc_port, http_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1",
           "CALENDAR_SCALER_PROMETHEUS_HEADER_AUTHORIZATION": TOKEN}  # fmt: skip
    serve = subprocess.Popen(
        [sys.executable, "-m", "scaler.cli", "serve", "--calendar", f"sales={calendar}",
         "--grpc-port", str(grpc_port), "--http-port", str(http_port), "--log-level", "debug",
         "--prometheus", server.url, "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    try:
        stub = pb_grpc.ExternalScalerStub(channel)
        answer: int | str = ""
        deadline = time.monotonic() + 60
        while answer != 32 and time.monotonic() < deadline:
            answer = _value(stub)
            time.sleep(0.1)
        assert 32 == answer  # ceil(21 x 1.5)
        page = httpx.get(f"http://127.0.0.1:{http_port}/", timeout=10).text
        assert "21 at peak during last x 1.5 = 32" in page
    finally:
        channel.close()
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    assert 0 == serve.returncode
    assert "n3ver-l0gged" not in err
    events = [json.loads(line).get("event", "") for line in err.splitlines() if line.strip()]
    assert any(e.startswith("peak of shop/web like last over") for e in events), events
    saved = json.loads((tmp_path / "state" / "peaks.json").read_text())
    assert ["21"] == [p["peak"] for p in saved["peaks"]]
