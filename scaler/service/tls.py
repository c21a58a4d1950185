"""TLS and mTLS for the gRPC port, with certificates re-read when their files change.

cert-manager rotates certificates in place, and the kubelet updates a mounted Secret by swapping
its `..data` symlink; grpc's dynamic credentials ask for the current configuration at each new
handshake, and we hand back a new one only when a file changed (checked by mtime and size of
the file the path leads to, so a handshake costs a few stat calls).

A changed file is applied only if it parses: the certificate chain with its key (which must
match) and the client CA are checked with the ssl module first, and what does not pass keeps
the one in force. grpc would take anything and fail every handshake after it: one empty ca.crt
would lock every client out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import grpc

from scaler.errors import UsageError

__all__ = ["server_credentials"]

log = logging.getLogger("scaler.service")

_Stamp = tuple[tuple[int, int], ...]


def _read(path: Path, flag: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read ({exc.strerror}); check the path") from exc


@contextlib.contextmanager
def _in_memory(data: bytes) -> Iterator[str]:
    """A path that reads `data`, for ssl's loaders that take only paths (the key stays in RAM)."""
    fd = os.memfd_create("calendar-scaler-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, data)
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def _certificates(data: bytes, flag: str, path: Path) -> None:
    """UsageError unless `data` holds at least one PEM certificate that loads."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=data.decode("ascii", errors="replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise UsageError(
            f"{flag} {path}: not a PEM certificate ({exc}); it must hold "
            "-----BEGIN CERTIFICATE----- blocks"
        ) from exc


def _pair(cert: Path, key: Path) -> tuple[bytes, bytes]:
    """(key, certificate chain) as grpc takes them, after checking they load and match."""
    cert_pem, key_pem = _read(cert, "--tls-cert"), _read(key, "--tls-key")
    _certificates(cert_pem, "--tls-cert", cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with _in_memory(cert_pem) as cert_file, _in_memory(key_pem) as key_file:
        try:  # the password callback refuses encrypted keys instead of prompting on a tty
            context.load_cert_chain(cert_file, key_file, password=lambda: b"")
        except ssl.SSLError as exc:
            if exc.reason == "KEY_VALUES_MISMATCH":
                raise UsageError(
                    f"--tls-key {key} is not the key of the certificate in --tls-cert {cert}; "
                    "give the key and certificate of one pair"
                ) from exc
            raise UsageError(
                f"--tls-key {key}: not an unencrypted PEM private key ({exc}); it must hold "
                "a -----BEGIN PRIVATE KEY----- (or EC/RSA PRIVATE KEY) block"
            ) from exc
    return key_pem, cert_pem


def _client_ca(path: Path) -> bytes:
    data = _read(path, "--tls-client-ca")
    _certificates(data, "--tls-client-ca", path)
    return data


class _Reloader:
    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self.stamp = self._stamp()
        self.pair = _pair(cert, key)  # what is in force
        self.root = _client_ca(client_ca) if client_ca is not None else None
        self.initial = self._config()

    def _stamp(self) -> _Stamp:
        stamps = []
        for path in (self.cert, self.key, self.client_ca):
            try:
                st = os.stat(path) if path is not None else None  # follows ..data symlinks
            except OSError:
                st = None
            stamps.append((st.st_mtime_ns, st.st_size) if st is not None else (0, 0))
        return tuple(stamps)

    def _config(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration([self.pair], root_certificates=self.root)

    def __call__(self) -> grpc.ServerCertificateConfiguration | None:
        stamp = self._stamp()
        if stamp == self.stamp:
            return None
        self.stamp = stamp  # looked at once per change: a refused file is not retried per handshake
        applied: list[str] = []
        refused: list[str] = []
        try:
            pair = _pair(self.cert, self.key)
            if pair != self.pair:
                self.pair = pair
                applied.append(f"certificate {self.cert} and key {self.key}")
        except UsageError as exc:
            refused.append(f"{exc}; the certificate and key in force stay")
        if self.client_ca is not None:
            try:
                root = _client_ca(self.client_ca)
                if root != self.root:
                    self.root = root
                    applied.append(f"client CA {self.client_ca}")
            except UsageError as exc:
                refused.append(f"{exc}; the client CA in force stays")
        if refused:
            log.warning(
                "TLS files changed; %s%s",
                f"applied {' and '.join(applied)}; " if applied else "",
                "; ".join(f"refused {r}" for r in refused),
                extra={"applied": applied, "refused": refused},
            )
        elif applied:
            log.info("TLS files reloaded: %s", " and ".join(applied), extra={"applied": applied})
        return self._config() if applied else None


def server_credentials(cert: Path, key: Path, client_ca: Path | None) -> grpc.ServerCredentials:
    """TLS credentials; with `client_ca`, clients must present a certificate it signed.

    UsageError (naming the flag) when a file cannot be read or does not parse at start.
    """
    reloader = _Reloader(cert, key, client_ca)
    return grpc.dynamic_ssl_server_credentials(
        reloader.initial, reloader, require_client_authentication=client_ca is not None
    )
