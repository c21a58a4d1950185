"""The manager: bounded start and stop, the state directory across restarts, isolated sources."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from helpers import (
    LIMITS,
    V1,
    V2,
    YAML_V1,
    YAML_V2,
    CalendarServer,
    Reply,
    SnapshotWatcher,
    health,
    run,
    served,
    wait_until,
)

from scaler.sources import CalendarStore, SourceManager, SourceSpec
from scaler.sources.remote import UrlSource
from scaler.sources.state import StateDir


def manager_for(specs: list[SourceSpec], **options: object) -> tuple[CalendarStore, SourceManager]:
    store = CalendarStore({s.name: s.origin for s in specs})
    options.setdefault("refresh", 0.3)
    options.setdefault("limits", LIMITS)
    return store, SourceManager(specs, store, **options)  # type: ignore[arg-type]


def url_spec(url: str, name: str = "sales") -> SourceSpec:
    return SourceSpec(name=name, location=url, kind="url")


def fill_state(server: CalendarServer, state_dir: Path) -> None:
    """A first scaler process that loads V1 from the server, saves it, and stops."""
    store, manager = manager_for([url_spec(server.url())], state_dir=state_dir)

    async def first_life() -> None:
        async with manager:
            assert served(store) == V1

    run(first_life())


def test_restart_while_the_source_is_down_serves_the_state_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = CalendarServer()
    server.serve(YAML_V1, etag='"v1"')
    port = server.port
    fill_state(server, tmp_path)
    server.stop()
    caplog.clear()
    caplog.set_level(logging.INFO, logger="scaler.sources")
    store, manager = manager_for([url_spec(server.url())], state_dir=tmp_path)

    async def second_life() -> None:
        async with manager, SnapshotWatcher(store) as watcher:
            assert served(store) == V1
            assert (health(store).loaded_from, health(store).error_reason) == ("state", "fetch")
            with CalendarServer(port=port) as back:
                back.serve(YAML_V2, etag='"v2"')
                await wait_until(lambda: served(store) == V2, timeout=2.0)
            assert (health(store).loaded_from, health(store).last_error) == ("source", None)
        watcher.check({V1, V2})

    run(second_life())
    messages = [r.getMessage() for r in caplog.records if r.name == "scaler.sources"]
    assert any("loaded from the state directory" in m and "last good copy" in m for m in messages)
    failure = next(r for r in caplog.records if getattr(r, "reason", None) == "fetch")
    assert "keeping the last good calendar (1 events, from the state directory)" in (
        failure.getMessage()
    )


def test_restart_while_the_source_hangs_serves_the_state_copy_after_the_grace(
    tmp_path: Path,
) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        fill_state(server, tmp_path)
        server.reply = Reply(mode="hang", delay=5.0)
        store, manager = manager_for([url_spec(server.url())], state_dir=tmp_path)

        async def second_life() -> float:
            started = time.monotonic()
            async with manager:
                took = time.monotonic() - started
                assert (served(store), health(store).loaded_from) == (V1, "state")
            return took

        assert run(second_life()) < LIMITS.state_grace + 1.0


def test_restart_with_the_source_unchanged_confirms_the_copy_with_a_304(tmp_path: Path) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        fill_state(server, tmp_path)
        store, manager = manager_for([url_spec(server.url())], state_dir=tmp_path)

        async def second_life() -> None:
            async with manager:
                assert (served(store), health(store).loaded_from) == (V1, "source")

        run(second_life())
        assert server.count(200) == 1  # the second life never downloaded the body
        assert server.requests[1].headers["if-none-match"] == '"v1"'


def test_without_a_state_dir_a_restart_while_down_has_no_calendar(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = CalendarServer()
    server.stop()
    store, manager = manager_for([url_spec(server.url())])

    async def scenario() -> None:
        async with manager:
            assert (served(store), health(store).error_reason) == (None, "fetch")

    run(scenario())
    failure = next(r for r in caplog.records if getattr(r, "reason", None) == "fetch")
    assert failure.levelno == logging.ERROR
    assert "never loaded" in failure.getMessage()


def test_a_state_copy_from_another_url_is_not_used(tmp_path: Path) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1)
        fill_state(server, tmp_path)
        server.reply = Reply(status=500)
        moved = url_spec(server.url("/moved.yaml"))
        store, manager = manager_for([moved], state_dir=tmp_path)

        async def scenario() -> None:
            async with manager:
                assert (served(store), health(store).error_reason) == (None, "status")

        run(scenario())


def test_a_damaged_state_copy_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1)
        fill_state(server, tmp_path)
        (tmp_path / "sales.last-good").write_bytes(b"garbage")
        server.reply = Reply(status=500)
        store, manager = manager_for([url_spec(server.url())], state_dir=tmp_path)

        async def scenario() -> None:
            async with manager:
                assert None is served(store)

        run(scenario())
    assert any("damaged" in r.getMessage() for r in caplog.records)


def test_start_returns_after_initial_wait_when_a_source_hangs() -> None:
    with CalendarServer(Reply(mode="hang", delay=5.0)) as server:
        store, manager = manager_for([url_spec(server.url())], initial_wait=0.2)

        async def scenario() -> tuple[float, float]:
            started = time.monotonic()
            await manager.start()
            start_took = time.monotonic() - started
            assert None is served(store)
            started = time.monotonic()
            await manager.stop()
            return start_took, time.monotonic() - started

        start_took, stop_took = run(scenario())
    assert start_took < 1.0 and stop_took < 1.0


def test_a_failing_source_leaves_the_others_alone(tmp_path: Path) -> None:
    path = tmp_path / "drops.yaml"
    path.write_text(YAML_V1)
    with CalendarServer() as server:
        server.serve(YAML_V1)
        specs = [
            url_spec(server.url()),
            SourceSpec(name="drops", location=str(path), kind="file"),
        ]
        store, manager = manager_for(specs, poll_interval=0.05)

        async def scenario() -> None:
            async with manager:
                server.reply = Reply(status=503)
                path.write_text(YAML_V2)
                await wait_until(lambda: served(store, "drops") == V2)
                await wait_until(lambda: health(store).error_reason == "status")
                assert (served(store), health(store, "drops").last_error) == (V1, None)

        run(scenario())


def test_a_bug_in_a_source_is_reported_and_the_source_restarted(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []
    real_run = UrlSource.run

    async def flaky_run(self: UrlSource) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        await real_run(self)

    monkeypatch.setattr(UrlSource, "run", flaky_run)
    with CalendarServer() as server:
        server.serve(YAML_V1)
        store, manager = manager_for([url_spec(server.url())])

        async def scenario() -> None:
            async with manager:
                assert health(store).error_reason == "internal"
                await wait_until(lambda: served(store) == V1)

        run(scenario())
    assert any(r.exc_info and getattr(r, "reason", None) == "internal" for r in caplog.records)


def test_a_state_dir_that_cannot_be_written_shows_in_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: StateDir, name: str, saved: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(StateDir, "save", refuse)
    with CalendarServer() as server:
        server.serve(YAML_V1)
        store, manager = manager_for([url_spec(server.url())], state_dir=tmp_path)

        async def scenario() -> None:
            async with manager:
                assert served(store) == V1

        run(scenario())
    assert "No space left on device" in (health(store).state_error or "")


def test_stop_right_after_start_is_clean_and_idempotent(tmp_path: Path) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1)
        _, manager = manager_for([url_spec(server.url())], state_dir=tmp_path)

        async def scenario() -> None:
            await manager.start()
            await asyncio.sleep(0)
            await manager.stop()
            await manager.stop()  # twice is harmless

        run(scenario())
