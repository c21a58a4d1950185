"""The status page in a real browser: headless Chromium renders it, the DOM holds the chart's
event names, and a screenshot is written (look at it when you change the page).

Chromium is a system package: `make test` installs it (Debian `chromium`). Set
CALENDAR_SCALER_SCREENSHOT=path to keep a copy of the screenshot.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scaler.calendar.timefmt import format_instant
from tests.web.stack import WebStack

pytestmark = pytest.mark.slow

HOUR = 3600


def browser_calendar(now: int) -> str:
    """Events relative to the real clock, so the page shows them in its next 48 hours."""

    def at(offset: int) -> str:
        return format_instant(now - now % HOUR + offset)

    return f"""\
version: 1
timezone: Asia/Tokyo
defaults: {{leadTime: 15m, rampUp: 20m, rampDown: 10m, rampSteps: 4}}
events:
  - name: launch-party
    start: {at(3 * HOUR)}
    duration: 2h
    scale: {{replicas: 18}}
  - name: midnight-madness
    start: {at(20 * HOUR)}
    duration: 6h
    scale: {{factor: 4}}
    targets: [{{labels: {{tier: frontend}}}}]
  - name: encore-drop
    start: {at(36 * HOUR)}
    duration: 90m
    scale: {{replicas: 30}}
"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run `make test` (it installs chromium)")
    return path


def run_chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    env = {**os.environ, "HOME": str(profile)}  # Chromium writes under HOME; keep it in tmp
    return subprocess.run(command, capture_output=True, timeout=90, env=env, check=False)


class ChartText(HTMLParser):
    """The text inside <svg> elements of a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.svgs = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.depth += 1
            self.svgs += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth > 0 and data.strip():
            self.texts.append(data.strip())


@pytest.fixture
def page_url(stack: Callable[..., WebStack]) -> str:
    now = int(time.time())
    web = stack({"sales": browser_calendar(now)}, now=None)
    web.get_metrics("shop", "storefront", {"labels": "tier=frontend", "baseReplicas": "6"})
    web.get_metrics("shop", "search", {"leadTime": "30m"})
    return web.url + "/"


def test_chromium_renders_the_page_and_the_chart_holds_event_names(
    page_url: str, tmp_path: Path
) -> None:
    result = run_chromium(tmp_path / "profile", "--dump-dom", page_url)

    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    dom = ChartText()
    dom.feed(result.stdout.decode())
    assert dom.svgs == 2
    for name in ("launch-party", "midnight-madness", "encore-drop"):
        assert name in dom.texts
    assert "now" in dom.texts


def test_chromium_takes_a_screenshot_of_the_page(page_url: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "status.png"

    result = run_chromium(
        tmp_path / "profile", f"--screenshot={screenshot}", "--window-size=1280,1600", page_url
    )

    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 1600)  # IHDR width, height
    assert len(data) > 50_000, "a blank page compresses to a few kB"
    keep = os.environ.get("CALENDAR_SCALER_SCREENSHOT")
    if keep:
        shutil.copyfile(screenshot, keep)
