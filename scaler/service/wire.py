"""Request bodies that are not valid messages: INVALID_ARGUMENT and one log line, never
UNKNOWN with a traceback.

grpc.aio decodes a request before any handler or interceptor sees it, and a body that does not
decode became UNKNOWN with protobuf's exception text and a traceback in the log per call (a log
flood anyone can cause). So the handlers' deserializers are wrapped (`lenient`): a bad body
decodes to `Undecodable`, which the handler answers with `reject`. GetMetrics takes its body
undecoded (see servicer) and decodes it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc

__all__ = ["Undecodable", "decode", "lenient", "log_undecodable", "reject", "undecodable_message"]

log = logging.getLogger("scaler.service")


class Undecodable:
    """What a request body that is not a valid message decodes to."""

    __slots__ = ("problem", "size")

    def __init__(self, problem: str, size: int) -> None:
        self.problem = problem  # the decoder's message, at most 200 characters
        self.size = size  # bytes received


def decode(deserializer: Callable[[bytes], Any], raw: bytes) -> Any:
    """`deserializer(raw)`, or `Undecodable` where it raises."""
    try:
        return deserializer(raw)
    except Exception as exc:  # protobuf's DecodeError, or whatever a deserializer raises
        return Undecodable(str(exc)[:200], len(raw))


def lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, giving `Undecodable` instead of raising."""
    if deserializer is None:
        return None
    return lambda raw: decode(deserializer, raw)


def log_undecodable(method: str, request: Undecodable) -> None:
    extra = {"method": method, "bytes": request.size, "problem": request.problem}
    log.warning("request body is not a valid message", extra=extra)


def undecodable_message(method: str, request: Undecodable) -> str:
    return (
        f"{method}: the request body ({request.size} bytes) is not a valid message "
        f"({request.problem}); send the request message of this method's .proto"
    )


async def reject(context: grpc.aio.ServicerContext, method: str, request: Undecodable) -> None:
    """Log once and end the call with INVALID_ARGUMENT (raises, as context.abort does)."""
    log_undecodable(method, request)
    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, undecodable_message(method, request))
