"""Calendar URLs without their secrets, for logs, status pages and state files.

A URL may carry credentials (`https://user:pass@host/...`) or a token in its query
(`?token=...`, a presigned `X-Amz-Signature`). `redact` removes both from anything shown;
`split_credentials` takes the user and password out of the URL that is requested, so that even
httpx's own request log line never contains them: they travel as a Basic auth header instead.
Secrets inside the path (some providers' "private address" URLs) cannot be recognised: put
tokens in `CALENDAR_SCALER_HEADER_*` variables instead.
"""

from __future__ import annotations

import importlib
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "httpx", "redact", "split_credentials"]


class _OnFirstUse:
    """A module imported when one of its names is first used."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


# The HTTP client for URL sources and Prometheus, imported only by a server that has one:
# a server of calendar files starts ~0.1 s sooner without it.
httpx: Any = _OnFirstUse("httpx")

REDACTED = "REDACTED"
_SECRET_PARAM = re.compile(
    r"token|key|secret|sig|password|passwd|pwd|auth|credential|session|code", re.IGNORECASE
)


def _netloc_without_userinfo(netloc: str) -> str:
    return netloc.rpartition("@")[2]


def redact(url: str) -> str:
    """The URL as it may be shown: no user or password, secret-looking query values replaced."""
    parts = urlsplit(url)
    netloc = _netloc_without_userinfo(parts.netloc)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(URL to request without user and password, (user, password) or None)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return urlunsplit((*parts[:4], "")), None
    user, _, password = userinfo.partition(":")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, "")), (
        unquote(user),
        unquote(password),
    )
