"""Content decoding a step at a time: no call makes more than STEP bytes, whatever the input."""

from __future__ import annotations

import gzip
import os
import zlib
from itertools import islice

import pytest

from scaler.errors import SourceError
from scaler.sources.content_encoding import STEP, Decoder

ORIGIN = "https://calendars.example/sales.yaml"


def decode(encoding: str, body: bytes, chunk: int = 1000) -> list[bytes]:
    decoder = Decoder(encoding, ORIGIN)
    pieces = [p for i in range(0, len(body), chunk) for p in decoder.feed(body[i : i + chunk])]
    decoder.finish()
    return pieces


def test_stacked_encodings_come_back_whole_in_pieces_of_at_most_a_step() -> None:
    content = os.urandom(100_000) + bytes(1_000_000)  # some that does not compress, some that does
    body = zlib.compress(gzip.compress(content))  # gzip first, then deflate

    pieces = decode("gzip, deflate", body)

    assert b"".join(pieces) == content
    assert max(len(p) for p in pieces) <= STEP


def test_a_bomb_is_decoded_only_as_far_as_it_is_read() -> None:
    bomb = gzip.compress(gzip.compress(bytes(16 << 20), compresslevel=1))  # 16 MiB in < 1 KiB
    decoder = Decoder("gzip, gzip", ORIGIN)

    first = list(islice(decoder.feed(bomb), 3))  # the reader stops after three pieces

    assert [len(p) for p in first] == [STEP, STEP, STEP]


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param("", b"plain", id="none"),
        pytest.param("identity", b"plain", id="identity"),
        pytest.param("GZIP", gzip.compress(b"pla") + gzip.compress(b"in"), id="gzip-two-members"),
        pytest.param("deflate", zlib.compress(b"plain"), id="deflate-zlib"),
        pytest.param("deflate", zlib.compress(b"plain", wbits=-15), id="deflate-raw"),
    ],
)
def test_encodings_servers_send(encoding: str, body: bytes) -> None:
    assert b"".join(decode(encoding, body, chunk=3)) == b"plain"


def test_truncated_stream_is_an_error_at_the_end() -> None:
    with pytest.raises(SourceError, match=r"sales\.yaml: the gzip content ends before its end"):
        decode("gzip", gzip.compress(b"x" * 1000)[:-10])


def test_unknown_encoding_names_it_and_what_is_decoded() -> None:
    with pytest.raises(SourceError, match="Content-Encoding br, which is not decoded here"):
        Decoder("gzip, br", ORIGIN)
