"""TLS and mTLS on the gRPC port, as KEDA's TLS client (caCert, tlsClientCert, tlsClientKey)
meets it.

Real certificates from throwaway CAs, a real grpc.aio server, real channels. Each channel gets
its own subchannel pool, so every call below makes its own TLS handshake.
"""

from __future__ import annotations

import logging
import re
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
from tests.sources.helpers import ConfigMapDir
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


def test_certificates_rotated_by_a_kubernetes_secret_volume_swap_are_served(
    serve_tls: Callable[..., ServerThread], tmp_path: Path, pki: Pki
) -> None:
    # tls.crt -> ..data/tls.crt, ..data -> ..2026_...; the kubelet writes a new timestamped
    # directory, renames a new ..data link over the old one and removes the old directory.
    volume = ConfigMapDir(
        tmp_path / "tls",
        {"tls.crt": pki.server.cert_pem, "tls.key": pki.server.key_pem, "ca.crt": pki.ca.cert_pem},
    )
    server = serve_tls(volume.root / "tls.crt", volume.root / "tls.key", volume.root / "ca.crt")
    assert call(server, trust=pki.ca, client=pki.client) == OK

    volume.update(
        {
            "tls.crt": pki.other_server.cert_pem,
            "tls.key": pki.other_server.key_pem,
            "ca.crt": pki.other_ca.cert_pem,
        }
    )

    assert call(server, trust=pki.other_ca, client=pki.other_client) == OK
    assert call(server, trust=pki.ca, client=pki.client) == REFUSED  # old server cert, old CA


def test_tls_overlay_says_what_the_swap_test_shows() -> None:
    """The overlay once told users to restart the pods after a renewal; the test above shows
    the kubelet's swap is picked up without one."""
    overlay = (Path(__file__).parents[2] / "deploy/overlays/tls/kustomization.yaml").read_text()

    assert "rollout restart" not in overlay
    assert "A renewal needs no restart" in overlay


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


# -- files that do not parse are not applied -------------------------------------------------


def tls_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "scaler.service" and "TLS" in r.getMessage()
    ]


@pytest.mark.parametrize("content", [b"", b"garbage\n"], ids=["empty", "garbage"])
def test_broken_client_ca_is_refused_and_the_one_in_force_stays(
    serve_tls: Callable[..., ServerThread],
    files: Files,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    content: bytes,
) -> None:
    server = serve_tls(files.cert, files.key, files.client_ca)

    write_atomically(files.client_ca, content)

    assert call(server, trust=pki.ca, client=pki.client) == OK  # KEDA is not locked out
    assert call(server, trust=pki.ca, client=pki.other_client) == REFUSED
    (message,) = tls_log(caplog)
    assert f"refused --tls-client-ca {files.client_ca}: not a PEM certificate" in message
    assert "the client CA in force stays" in message and "reloaded" not in message


@pytest.mark.parametrize(
    ("cert", "key", "why"),
    [
        pytest.param(b"garbage", None, "--tls-cert .*: not a PEM certificate", id="garbage-cert"),
        pytest.param(None, b"garbage", "--tls-key .*: not an unencrypted PEM private key",
                     id="garbage-key"),
        pytest.param(None, "other", "--tls-key .* is not the key of the certificate",
                     id="key-of-another-certificate"),
    ],
)  # fmt: skip
def test_broken_certificate_or_key_is_refused_and_the_pair_in_force_stays(
    serve_tls: Callable[..., ServerThread],
    files: Files,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
    cert: bytes | None,
    key: bytes | str | None,
    why: str,
) -> None:
    server = serve_tls(files.cert, files.key)

    if cert is not None:
        write_atomically(files.cert, cert)
    if key is not None:
        write_atomically(files.key, pki.other_server.key_pem if key == "other" else key)

    assert call(server, trust=pki.ca) == OK  # still the first certificate
    (message,) = tls_log(caplog)
    assert re.search(f"refused {why}.*; the certificate and key in force stay", message)
    assert "applied" not in message and "reloaded" not in message


def test_good_certificate_is_applied_while_a_broken_client_ca_is_refused(
    serve_tls: Callable[..., ServerThread],
    files: Files,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = serve_tls(files.cert, files.key, files.client_ca)

    write_atomically(files.client_ca, b"")
    write_atomically(files.key, pki.other_server.key_pem)
    write_atomically(files.cert, pki.other_server.cert_pem)

    assert call(server, trust=pki.other_ca, client=pki.client) == OK
    (message,) = tls_log(caplog)
    assert f"applied certificate {files.cert} and key {files.key}; refused --tls-client-ca" in (
        message
    )


def test_refused_files_are_reported_once_and_a_fixed_file_is_applied(
    serve_tls: Callable[..., ServerThread],
    files: Files,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scaler.service")
    server = serve_tls(files.cert, files.key, files.client_ca)
    write_atomically(files.client_ca, b"")
    for _ in range(3):
        assert call(server, trust=pki.ca, client=pki.client) == OK

    write_atomically(files.client_ca, pki.other_ca.cert_pem)

    assert call(server, trust=pki.ca, client=pki.other_client) == OK
    refused, applied = tls_log(caplog)
    assert "refused --tls-client-ca" in refused
    assert applied == f"TLS files reloaded: client CA {files.client_ca}"


@pytest.mark.parametrize("flag", ["--tls-cert", "--tls-key", "--tls-client-ca"])
def test_file_that_does_not_parse_at_start_names_the_flag(files: Files, flag: str) -> None:
    broken = {"--tls-cert": files.cert, "--tls-key": files.key, "--tls-client-ca": files.client_ca}
    broken[flag].write_bytes(b"garbage")

    with pytest.raises(UsageError, match=f"^{flag} {re.escape(str(broken[flag]))}: not a"):
        server_credentials(files.cert, files.key, files.client_ca)


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
