"""High availability: two `serve` processes behind one round-robin channel, as KEDA dials a
headless Service, and one of them killed (SIGKILL, as when a node dies).

KEDA's fallback does not engage while the scaler cannot be reached (kedacore/keda#8056), so
this is what keeps the calendar metric answered: the client's round-robin drops the dead
address and keeps asking the live one, and a StreamIsActive client of the dead one opens a
new stream, which lands on the live one. The test prints what it measured (answers lost,
reconnect time of a push stream); it asserts only what must hold, never a duration.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from tests.processes import free_port, start_serve
from tests.service.support import CALL_TIMEOUT, metrics_request, ref

pytestmark = pytest.mark.slow

REPLICAS = 7  # what the calendar asks for during the whole test
REF = ref(namespace="shop", name="storefront")
DEADLINE = 20.0  # seconds for anything the test waits for


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[tuple[subprocess.Popen[str], int, int]]]:
    """Two scaler processes serving one calendar with a sale in progress: (process, grpc, http)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    calendar = tmp_path / "sales.yaml"
    calendar.write_text(
        "version: 1\nevents:\n  - name: sale\n"
        f"    start: {(now - dt.timedelta(hours=1)).isoformat()}\n"
        f"    duration: 1d\n    scale: {{replicas: {REPLICAS}}}\n"
    )
    started = []
    try:
        for _ in range(2):
            grpc_port, http_port = free_port(), free_port()
            started.append((start_serve(calendar, grpc_port, http_port), grpc_port, http_port))
        yield started
    finally:
        for process, _, _ in started:
            process.kill()
            process.communicate(timeout=10)


def keda_channel(grpc_ports: list[int]) -> grpc.Channel:
    """A channel as KEDA opens one to a headless Service: every address, round-robin."""
    target = "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in grpc_ports)
    return grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin")])


def ok_calls(http_port: int) -> float:
    """GetMetrics calls this replica answered with OK, from its own /metrics."""
    url = f"http://127.0.0.1:{http_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as page:
        for line in page.read().decode().splitlines():
            if line.startswith("calendar_scaler_grpc_requests_total{") and all(
                part in line for part in ('method="GetMetrics"', 'code="OK"')
            ):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


class PushClient:
    """KEDA's external-push loop: keep a StreamIsActive stream open, reopen it when it ends.

    KEDA waits 2 s after a clean end and backs off from there after an abrupt one; here the
    wait is short so the test stays quick, and the reconnect time measured is the rest:
    noticing the loss and the new stream's first answer.
    """

    BACKOFF = 0.1

    def __init__(self, stub: pb_grpc.ExternalScalerStub) -> None:
        self._stub = stub
        self.answers: list[tuple[float, bool]] = []  # (arrival, result) of every message
        self.losses: list[tuple[float, grpc.StatusCode]] = []  # when a stream ended, and how
        self._stop = threading.Event()
        self._call: grpc.Call | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            call = self._stub.StreamIsActive(REF)
            self._call = call
            try:
                for message in call:
                    self.answers.append((time.monotonic(), message.result))
                code = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                code = exc.code()
            if self._stop.is_set():
                return
            self.losses.append((time.monotonic(), code))
            self._stop.wait(self.BACKOFF)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + DEADLINE
        while len(self.answers) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.answers) >= count, f"push client got {self.answers}, wanted {count}"

    def close(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()  # type: ignore[attr-defined]
        self._thread.join(timeout=5)


def test_round_robin_client_keeps_its_answers_when_one_replica_is_killed(
    replicas: list[tuple[subprocess.Popen[str], int, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    (victim, _, victim_http), (_, _, survivor_http) = replicas
    with contextlib.closing(keda_channel([port for _, port, _ in replicas])) as channel:
        stub = pb_grpc.ExternalScalerStub(channel)
        spec = stub.GetMetricSpec(REF, timeout=CALL_TIMEOUT).metricSpecs[0]
        request = metrics_request(REF, spec.metricName)

        def poll() -> int | grpc.StatusCode:
            try:
                (value,) = stub.GetMetrics(request, timeout=CALL_TIMEOUT).metricValues
            except grpc.RpcError as exc:
                return exc.code()  # type: ignore[no-any-return]
            return int(value.metricValue)

        # Round-robin reaches both replicas: each has answered before anything is killed.
        deadline = time.monotonic() + DEADLINE
        while min(ok_calls(victim_http), ok_calls(survivor_http)) < 5:
            assert time.monotonic() < deadline, "round-robin never reached both replicas"
            assert REPLICAS == poll()

        # Push clients, as many as it takes to have some on each replica.
        pushers = [PushClient(stub) for _ in range(4)]
        try:
            for pusher in pushers:
                pusher.wait_for(1)
            assert all(pusher.answers == [(pusher.answers[0][0], True)] for pusher in pushers)

            answers: list[tuple[float, int | grpc.StatusCode]] = []
            for _ in range(200):  # before the kill
                answers.append((time.monotonic(), poll()))
            killed_at = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            # After the kill: until 200 answers in a row are right (bounded by the deadline).
            streak = 0
            while streak < 200:
                assert time.monotonic() < killed_at + DEADLINE, f"answers after kill: {answers}"
                answers.append((time.monotonic(), poll()))
                streak = streak + 1 if answers[-1][1] == REPLICAS else 0
            survivor_calls = ok_calls(survivor_http)

            broken = [p for p in pushers if p.losses]
            for pusher in broken:  # every stream of the killed replica comes back
                pusher.wait_for(2)
            for pusher in pushers:
                assert all(result for _, result in pusher.answers), "the sale is active"
        finally:
            for pusher in pushers:
                pusher.close()

    wrong = [a for _, a in answers if a != REPLICAS]
    assert all(isinstance(a, grpc.StatusCode) for a in wrong), f"a wrong value: {wrong}"
    assert broken, "no push stream was on the killed replica"
    assert len(broken) < len(pushers), "every push stream was on the killed replica"
    assert all(p.losses[0][1] == grpc.StatusCode.UNAVAILABLE for p in broken)
    assert survivor_calls > 0

    failed = [t for t, a in answers if a != REPLICAS]
    window = (max(failed) - min(failed)) if failed else 0.0
    after = [t for t, _ in answers if t >= killed_at]
    rate = len(after) / (after[-1] - killed_at) if len(after) > 1 else 0.0
    reconnects = [p.answers[1][0] - killed_at for p in broken]
    attempts = sum(len(p.losses) for p in broken)
    with capsys.disabled():
        print(
            f"\nHA: {len(answers)} GetMetrics calls over round-robin ({rate:.0f}/s after the kill), "
            f"{len(failed)} lost while one replica died (failing for {window * 1000:.0f} ms); "
            f"{len(broken)} of {len(pushers)} push streams were on it and reconnected to the other "
            f"in {', '.join(f'{r * 1000:.0f} ms' for r in reconnects)} after the kill "
            f"(loss noticed, {PushClient.BACKOFF * 1000:.0f} ms wait, first answer; "
            f"{attempts} failed stream(s) in all)"
        )
