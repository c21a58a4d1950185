"""The generated gRPC code is current, and it speaks KEDA's externalscaler wire contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from scaler._proto import externalscaler_pb2, externalscaler_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
SERVICE = "externalscaler.ExternalScaler"

# name -> (input, output, server streaming), as KEDA 2.x calls them.
METHODS = {
    "IsActive": ("ScaledObjectRef", "IsActiveResponse", False),
    "StreamIsActive": ("ScaledObjectRef", "IsActiveResponse", True),
    "GetMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", False),
    "GetMetrics": ("GetMetricsRequest", "GetMetricsResponse", False),
    "StreamMetricSpec": ("ScaledObjectRef", "GetMetricSpecResponse", True),
}

_STR = FieldDescriptor.TYPE_STRING
_I64 = FieldDescriptor.TYPE_INT64
_F64 = FieldDescriptor.TYPE_DOUBLE
_BOOL = FieldDescriptor.TYPE_BOOL
_MSG = FieldDescriptor.TYPE_MESSAGE

# message -> {field: (number, type, repeated)}: KEDA decodes these by number.
FIELDS = {
    "ScaledObjectRef": {
        "name": (1, _STR, False),
        "namespace": (2, _STR, False),
        "scalerMetadata": (3, _MSG, True),  # map<string, string>
    },
    "IsActiveResponse": {"result": (1, _BOOL, False)},
    "GetMetricSpecResponse": {"metricSpecs": (1, _MSG, True)},
    "MetricSpec": {
        "metricName": (1, _STR, False),
        "targetSize": (2, _I64, False),
        "targetSizeFloat": (3, _F64, False),
    },
    "GetMetricsRequest": {
        "scaledObjectRef": (1, _MSG, False),
        "metricName": (2, _STR, False),
    },
    "GetMetricsResponse": {"metricValues": (1, _MSG, True)},
    "MetricValue": {
        "metricName": (1, _STR, False),
        "metricValue": (2, _I64, False),
        "metricValueFloat": (3, _F64, False),
    },
}


def test_generated_code_is_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_proto.py"), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"gen_proto.py --check failed:\n{proc.stdout}{proc.stderr}"


def test_service_full_name_and_methods() -> None:
    service = externalscaler_pb2.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert service.full_name == SERVICE
    got = {
        m.name: (m.input_type.name, m.output_type.name, m.server_streaming) for m in service.methods
    }
    assert got == METHODS
    assert not any(m.client_streaming for m in service.methods)


def test_stub_calls_keda_paths() -> None:
    calls: dict[str, str] = {}

    class RecordingChannel:
        def _record(self, kind: str) -> Any:
            def factory(path: str, **_: Any) -> None:
                calls[path] = kind

            return factory

        def __getattr__(self, kind: str) -> Any:
            return self._record(kind)

    externalscaler_pb2_grpc.ExternalScalerStub(RecordingChannel())
    assert calls == {
        f"/{SERVICE}/{name}": "unary_stream" if streaming else "unary_unary"
        for name, (_, _, streaming) in METHODS.items()
    }


def test_message_fields_match_keda() -> None:
    assert externalscaler_pb2.DESCRIPTOR.package == "externalscaler"
    for message, fields in FIELDS.items():
        desc = externalscaler_pb2.DESCRIPTOR.message_types_by_name[message]
        got = {f.name: (f.number, f.type, f.is_repeated) for f in desc.fields}
        assert got == fields, message
    metadata = externalscaler_pb2.ScaledObjectRef.DESCRIPTOR.fields_by_name["scalerMetadata"]
    assert metadata.message_type.GetOptions().map_entry
    key, value = metadata.message_type.fields
    assert (key.type, value.type) == (_STR, _STR)
