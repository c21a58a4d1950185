"""HTTP content decoding (gzip, deflate, stacked) that never makes more than a step at a time.

httpx decodes every received chunk whole, in one call: 2.6 KB of `Content-Encoding: gzip,
gzip` took the process to 2.1 GB before any size limit could look at the result. Here each
layer inflates at most `STEP` bytes per call and hands them on lazily, so the caller counts
decoded bytes as they come, stops at its limit, and can yield to the event loop between steps.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from scaler.errors import SourceError

__all__ = ["ACCEPT_ENCODING", "STEP", "Decoder"]

ACCEPT_ENCODING = "gzip, deflate"
STEP = 64 * 1024  # most decoded bytes one call makes: about 0.1 ms of work
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


class _Layer:
    """One content coding, undone incrementally."""

    def __init__(self, coding: str, origin: str) -> None:
        self.coding = coding
        self.origin = origin
        self._z = zlib.decompressobj(_WBITS[coding])
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self._z.decompress(data, STEP)
            except zlib.error as exc:
                if self.coding == "deflate" and not self._started:
                    # Some servers send raw deflate (no zlib header) as "deflate", as httpx allows.
                    self._z, self._started = zlib.decompressobj(-zlib.MAX_WBITS), True
                    continue
                raise SourceError(
                    f"{self.origin}: the content is not valid {self.coding} "
                    f"(Content-Encoding: {self.coding}; {exc}); check the server",
                    reason="parse",
                ) from exc
            self._started = True
            data = self._z.unconsumed_tail
            if out:
                yield out
            if self._z.eof:
                rest = self._z.unused_data
                if not rest or self.coding != "gzip":
                    return  # anything after the end of a deflate stream is ignored, as by httpx
                self._z = zlib.decompressobj(_WBITS["gzip"])  # the next gzip member
                data = rest
            elif not data and len(out) < STEP:
                return  # all input taken and no output held back: wait for more

    def finish(self) -> None:
        if self._started and not self._z.eof:
            raise SourceError(
                f"{self.origin}: the {self.coding} content ends before its end "
                "(truncated); check the server",
                reason="parse",
            )


class Decoder:
    """Undoes a response's `Content-Encoding` as the body arrives, a step at a time."""

    def __init__(self, content_encoding: str, origin: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        unknown = [c for c in codings if c not in _WBITS]
        if unknown:
            raise SourceError(
                f"{origin}: the server sent Content-Encoding {', '.join(unknown)}, which is not "
                f"decoded here (asked for {ACCEPT_ENCODING}); serve the calendar plain, gzip or "
                "deflate",
                reason="parse",
            )
        self._layers = [_Layer(c, origin) for c in reversed(codings)]  # the last applied first

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes `data` adds, lazily, in pieces of at most STEP bytes."""
        return self._through(0, data)

    def _through(self, depth: int, data: bytes) -> Iterator[bytes]:
        if depth == len(self._layers):
            if data:
                yield data
            return
        for piece in self._layers[depth].feed(data):
            yield from self._through(depth + 1, piece)

    def finish(self) -> None:
        """SourceError if a layer's stream is incomplete once the body has ended."""
        for layer in self._layers:
            layer.finish()
