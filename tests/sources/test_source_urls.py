"""URLs shown without their secrets; credentials moved out of the URL that is requested."""

from __future__ import annotations

import pytest

from scaler.sources.urls import redact, split_credentials


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("https://a.example/s.yaml", "https://a.example/s.yaml", id="plain"),
        pytest.param("https://u:p@a.example:8443/s", "https://a.example:8443/s", id="userinfo"),
        pytest.param(
            "https://a.example/s?token=t&page=2",
            "https://a.example/s?token=REDACTED&page=2",
            id="token",
        ),
        pytest.param(
            "https://b.s3.example/c.ics?X-Amz-Signature=abc&X-Amz-Credential=k",
            "https://b.s3.example/c.ics?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED",
            id="presigned",
        ),
        pytest.param("https://a.example/s#frag", "https://a.example/s", id="fragment"),
    ],
)
def test_redact_removes_credentials_and_secret_query_values(url: str, shown: str) -> None:
    assert shown == redact(url)


def test_split_credentials_moves_user_and_password_out_of_the_url() -> None:
    url, credentials = split_credentials("https://us%40r:p%3Ass@a.example/s.yaml?x=1")

    assert (url, credentials) == ("https://a.example/s.yaml?x=1", ("us@r", "p:ss"))


def test_split_credentials_without_userinfo() -> None:
    assert split_credentials("https://a.example/s") == ("https://a.example/s", None)
