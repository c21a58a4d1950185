"""TLS and mTLS on the gRPC port, as KEDA's TLS client (caCert, tlsClientCert, tlsClientKey)
meets it.

Real certificates from throwaway CAs, a real grpc.aio server, real channels. Each channel gets
its own subchannel pool, so every call below makes its own TLS handshake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from scaler._proto import externalscaler_pb2 as pb
from scaler._proto import externalscaler_pb2_grpc as pb_grpc
from scaler.errors import UsageError
from scaler.service.tls import server_credentials
from tests.serverthread import ServerThread
from tests.web.certs import Issued, issue, make_ca, write_atomically
from tests.web.stack import SALES

OK = grpc.StatusCode.OK
REFUSED = grpc.StatusCode.UNAVAILABLE  # the handshake fails: the channel never connects


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    client: Issued
    other_ca: Issued
    other_server: Issued  # same names, signed by other_ca
    other_client: Issued


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca, other_ca = make_ca("calendar-scaler test CA"), make_ca("another CA")
    return Pki(
        ca=ca,
        server=issue(ca, "calendar-scaler", server=True),
        client=issue(ca, "keda-operator", server=False),
        other_ca=other_ca,
        other_server=issue(other_ca, "calendar-scaler", server=True),
        other_client=issue(other_ca, "keda-operator", server=False),
    )


@dataclass(frozen=True)
class Files:
    cert: Path
    key: Path
    client_ca: Path


@pytest.fixture
def files(tmp_path: Path, pki: Pki) -> Files:
    found = Files(tmp_path / "tls.crt", tmp_path / "tls.key", tmp_path / "ca.crt")
    found.cert.write_bytes(pki.server.cert_pem)
    found.key.write_bytes(pki.server.key_pem)
    found.client_ca.write_bytes(pki.ca.cert_pem)
    return found


@pytest.fixture
def serve_tls() -> Iterator[Callable[..., ServerThread]]:
    """`serve_tls(cert, key, client_ca=None)`: a scaler on 127.0.0.1 with TLS; stopped after."""
    started: list[ServerThread] = []

    def start(cert: Path, key: Path, client_ca: Path | None = None) -> ServerThread:
        server = ServerThread(
            {"sales": SALES}, credentials=server_credentials(cert, key, client_ca)
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(grace=0.2)


def call(
    server: ServerThread,
    *,
    trust: Issued | None,
    client: Issued | None = None,
) -> grpc.StatusCode:
    """One GetMetricSpec over a new connection; `trust=None` means plaintext."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    if trust is None:
        channel = grpc.insecure_channel(server.address, options=options)
    else:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=trust.cert_pem,
            private_key=client.key_pem if client else None,
            certificate_chain=client.cert_pem if client else None,
        )
        channel = grpc.secure_channel(server.address, credentials, options=options)
    try:
        stub = pb_grpc.ExternalScalerStub(channel)
        stub.GetMetricSpec(pb.ScaledObjectRef(namespace="shop", name="web"), timeout=5)
        return OK
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    finally:
        channel.close()


# -- TLS ------------------------------------------------------------------------------------


def test_tls_client_trusting_the_ca_is_served(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key)

    assert call(server, trust=pki.ca) == OK


def test_plaintext_client_is_refused(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key)

    assert call(server, trust=None) == REFUSED


def test_client_that_does_not_trust_the_server_ca_is_refused(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key)

    assert call(server, trust=pki.other_ca) == REFUSED


# -- mTLS -----------------------------------------------------------------------------------


def test_mtls_client_with_a_certificate_from_the_client_ca_is_served(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key, files.client_ca)

    assert call(server, trust=pki.ca, client=pki.client) == OK


def test_mtls_client_without_a_certificate_is_refused(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key, files.client_ca)

    assert call(server, trust=pki.ca) == REFUSED


def test_mtls_client_with_a_certificate_from_another_ca_is_refused(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key, files.client_ca)

    assert call(server, trust=pki.ca, client=pki.other_client) == REFUSED


# -- rotation -------------------------------------------------------------------------------


def test_rotated_certificate_is_served_on_new_connections(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key)
    assert call(server, trust=pki.ca) == OK

    write_atomically(files.key, pki.other_server.key_pem)
    write_atomically(files.cert, pki.other_server.cert_pem)

    assert call(server, trust=pki.other_ca) == OK
    assert call(server, trust=pki.ca) == REFUSED


def test_certificate_rotated_by_a_kubernetes_secret_volume_swap_is_served(
    serve_tls: Callable[..., ServerThread], tmp_path: Path, pki: Pki
) -> None:
    # A mounted Secret: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>; the kubelet writes
    # a new timestamped directory and renames a new ..data link over the old one.
    volume = tmp_path / "secret"
    volume.mkdir()

    def publish(version: str, issued: Issued) -> None:
        directory = volume / f"..{version}"
        directory.mkdir()
        (directory / "tls.crt").write_bytes(issued.cert_pem)
        (directory / "tls.key").write_bytes(issued.key_pem)
        (volume / "..data_tmp").symlink_to(directory.name)
        os.replace(volume / "..data_tmp", volume / "..data")

    publish("2026_11_01", pki.server)
    for name in ("tls.crt", "tls.key"):
        (volume / name).symlink_to(f"..data/{name}")
    server = serve_tls(volume / "tls.crt", volume / "tls.key")
    assert call(server, trust=pki.ca) == OK

    publish("2026_11_27", pki.other_server)

    assert call(server, trust=pki.other_ca) == OK


def test_rotated_client_ca_decides_which_clients_are_admitted(
    serve_tls: Callable[..., ServerThread], files: Files, pki: Pki
) -> None:
    server = serve_tls(files.cert, files.key, files.client_ca)

    write_atomically(files.client_ca, pki.other_ca.cert_pem)

    assert call(server, trust=pki.ca, client=pki.other_client) == OK
    assert call(server, trust=pki.ca, client=pki.client) == REFUSED


def test_unreadable_certificate_names_the_flag(files: Files) -> None:
    with pytest.raises(UsageError, match=r"--tls-cert .*missing\.crt: cannot read"):
        server_credentials(files.cert.with_name("missing.crt"), files.key, None)


# -- the query command --------------------------------------------------------------------


def test_query_command_speaks_mtls(
    serve_tls: Callable[..., ServerThread],
    files: Files,
    pki: Pki,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scaler.cli import main

    server = serve_tls(files.cert, files.key, files.client_ca)
    client_cert, client_key = tmp_path / "client.crt", tmp_path / "client.key"
    client_cert.write_bytes(pki.client.cert_pem)
    client_key.write_bytes(pki.client.key_pem)
    base = ["query", "--address", server.address, "--namespace", "shop", "--name", "web",
            "--timeout", "5", "--tls-ca", str(files.client_ca)]  # fmt: skip

    assert main([*base, "--tls-cert", str(client_cert), "--tls-key", str(client_key)]) == 0
    assert "metric:    sale-calendar" in capsys.readouterr().out
    assert main(base) == 1  # no client certificate: refused
    assert "failed" in capsys.readouterr().err
