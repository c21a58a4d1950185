"""TLS and mTLS for the gRPC port, with certificates re-read when their files change.

cert-manager rotates certificates in place; grpc's dynamic credentials ask for the current
configuration at each new handshake, and we hand back a new one only when a file changed
(checked by mtime and size, so a handshake costs a few stat calls).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import grpc

from scaler.errors import UsageError

__all__ = ["server_credentials"]

log = logging.getLogger("scaler.service")


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read ({exc.strerror}); check the path") from exc


class _Reloader:
    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        self.files = [(cert, "--tls-cert"), (key, "--tls-key")]
        if client_ca is not None:
            self.files.append((client_ca, "--tls-client-ca"))
        self.client_ca = client_ca
        self.stamp = self._stamp()
        self.initial = self._config()

    def _stamp(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for path, _ in self.files:
            try:
                st = os.stat(path)
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append((0, 0))
        return tuple(stamps)

    def _config(self) -> grpc.ServerCertificateConfiguration:
        (cert, cert_flag), (key, key_flag) = self.files[0], self.files[1]
        root = _read(self.client_ca, "--tls-client-ca") if self.client_ca is not None else None
        return grpc.ssl_server_certificate_configuration(
            [(_read(key, key_flag), _read(cert, cert_flag))], root_certificates=root
        )

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        stamp = self._stamp()
        if stamp == self.stamp:
            return None
        try:
            config = self._config()
        except UsageError as exc:  # mid-rotation: keep the current certificate
            log.warning("TLS files changed but cannot be read yet; keeping the current ones",
                        extra={"error": str(exc)})  # fmt: skip
            return None
        self.stamp = stamp
        log.info("TLS certificates reloaded", extra={"files": [str(p) for p, _ in self.files]})
        return config


def server_credentials(cert: Path, key: Path, client_ca: Path | None) -> grpc.ServerCredentials:
    """TLS credentials; with `client_ca`, clients must present a certificate it signed."""
    reloader = _Reloader(cert, key, client_ca)
    return grpc.dynamic_ssl_server_credentials(
        reloader.initial, reloader, require_client_authentication=client_ca is not None
    )
