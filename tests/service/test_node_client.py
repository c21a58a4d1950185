"""A client that shares nothing with the Python stubs gets the same answers.

tests/node/keda_client.js loads proto/externalscaler.proto at run time (@grpc/proto-loader) and
calls with @grpc/grpc-js, in KEDA's order: GetMetricSpec, GetMetrics, IsActive, then the first
message of StreamIsActive. Each test compares its one JSON line with what the generated Python
stubs get from the same server, and with the value the calendar gives.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from tests.serverthread import Clock, ServerThread
from tests.service.support import (
    BF_END,
    BF_START,
    CALL_TIMEOUT,
    EXAMPLE,
    Client,
    metrics_request,
    ref,
)

pytestmark = pytest.mark.slow

Serve = Callable[..., ServerThread]
Connect = Callable[[ServerThread], Client]

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
FRONTEND = {"labels": "tier=frontend", "baseReplicas": "35"}  # Black Friday: factor 3 -> 105


@pytest.fixture(scope="module")
def node() -> str:
    executable = shutil.which("node")
    if executable is None or not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.fail(
            "the independent Node client needs `node` and tests/node/node_modules: "
            "run `make test` (it installs Node deps)"
        )
    return executable


def node_answer(
    node: str,
    server: ServerThread,
    namespace: str,
    name: str,
    metric: str,
    metadata: dict[str, str],
) -> dict[str, Any]:
    args = [node, str(NODE_DIR / "keda_client.js"), server.address, namespace, name, metric,
            json.dumps(metadata)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def python_answer(
    stub: pb_grpc.ExternalScalerStub,
    namespace: str,
    name: str,
    metric: str,
    metadata: dict[str, str],
) -> dict[str, Any]:
    """The same calls through the generated stubs, in the Node client's JSON shape."""

    def as_dicts(messages: Any) -> list[dict[str, Any]]:
        return [
            json_format.MessageToDict(
                m, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            for m in messages
        ]  # int64 as strings, like proto-loader's `longs: String`

    scaled_object = ref(namespace, name, **metadata)
    try:
        spec = stub.GetMetricSpec(scaled_object, timeout=CALL_TIMEOUT)
        metrics = stub.GetMetrics(metrics_request(scaled_object, metric), timeout=CALL_TIMEOUT)
        active = stub.IsActive(scaled_object, timeout=CALL_TIMEOUT)
        stream = stub.StreamIsActive(scaled_object, timeout=CALL_TIMEOUT)
        first = next(stream)
        stream.cancel()
    except grpc.RpcError as exc:
        error: Any = exc
        return {"error": {"code": error.code().value[0], "details": error.details()}}
    return {
        "spec": as_dicts(spec.metricSpecs),
        "metrics": as_dicts(metrics.metricValues),
        "active": active.result,
        "stream_first": first.result,
    }


def _spec(metric: str) -> list[dict[str, Any]]:
    return [{"metricName": metric, "targetSize": "1", "targetSizeFloat": 1.0}]


def _metrics(metric: str, value: int) -> list[dict[str, Any]]:
    return [{"metricName": metric, "metricValue": str(value), "metricValueFloat": float(value)}]


ANSWERS = [
    pytest.param(
        BF_START, "sale-calendar", FRONTEND,
        {"spec": _spec("sale-calendar"), "metrics": _metrics("sale-calendar", 105),
         "active": True, "stream_first": True},
        id="black-friday-frontend",
    ),
    pytest.param(
        BF_END + 3600 * 12 + 1800, "sale-calendar", FRONTEND,  # 12:30 Tokyo: no flash sale
        {"spec": _spec("sale-calendar"), "metrics": _metrics("sale-calendar", 0),
         "active": False, "stream_first": False},
        id="after-black-friday",
    ),
    pytest.param(
        BF_START, "web-floor", {**FRONTEND, "metricName": "web-floor", "scalerAddress": "x:9090"},
        {"spec": _spec("web-floor"), "metrics": _metrics("web-floor", 105),
         "active": True, "stream_first": True},
        id="custom-metric-name",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("instant", "metric", "metadata", "expected"), ANSWERS)
def test_node_client_gets_the_same_answers(
    node: str, serve: Serve, connect: Connect,
    instant: int, metric: str, metadata: dict[str, str], expected: dict[str, Any],
) -> None:  # fmt: skip
    server = serve({"sales": EXAMPLE}, clock=Clock(instant))

    from_node = node_answer(node, server, "shop", "web", metric, metadata)
    from_python = python_answer(connect(server).scaler, "shop", "web", metric, metadata)

    assert (from_node, from_python) == (expected, expected)


ERRORS = [
    pytest.param({"sales": EXAMPLE}, {"baseReplicas": "many"}, 3, id="invalid-argument-bad-number"),
    pytest.param({"sales": EXAMPLE}, {"labels": "tier=frontend"}, 3,
                 id="invalid-argument-factor-without-base-replicas"),
    pytest.param({"sales": None}, {}, 14, id="unavailable-never-loaded"),
]  # fmt: skip


@pytest.mark.parametrize(("calendars", "metadata", "code"), ERRORS)
def test_node_client_gets_the_same_errors(
    node: str, serve: Serve, connect: Connect,
    calendars: dict[str, str | None], metadata: dict[str, str], code: int,
) -> None:  # fmt: skip
    server = serve(calendars, clock=Clock(BF_START))

    from_node = node_answer(node, server, "shop", "web", "sale-calendar", metadata)
    from_python = python_answer(connect(server).scaler, "shop", "web", "sale-calendar", metadata)

    assert (code, from_python) == (from_node["error"]["code"], from_node)
