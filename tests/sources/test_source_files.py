"""File sources: served within a second of a change, ConfigMap swaps included, last good kept."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import (
    BROKEN_YAML,
    INVALID_CALENDAR,
    V1,
    V2,
    V3,
    YAML_V1,
    YAML_V2,
    YAML_V3,
    ConfigMapDir,
    SnapshotWatcher,
    Version,
    calendar_text,
    health,
    run,
    served,
    wait_until,
    write_atomically,
)

from scaler.sources import CalendarStore, FetchLimits, SourceManager, SourceSpec
from scaler.sources.files import FileSource


def file_source(path: Path, **options: object) -> tuple[CalendarStore, SourceManager]:
    spec = SourceSpec(name="sales", location=str(path), kind="file")
    store = CalendarStore({"sales": spec.origin})
    options.setdefault("poll_interval", 0.05)
    return store, SourceManager([spec], store, **options)  # type: ignore[arg-type]


def records(caplog: pytest.LogCaptureFixture, reason: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "scaler.sources" and getattr(r, "reason", None) == reason
    ]


def test_file_is_loaded_at_start(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path)

    async def scenario() -> None:
        async with manager:
            assert served(store) == V1
            assert (health(store).loaded_from, health(store).last_error) == ("source", None)

    run(scenario())


def test_replaced_file_is_served_within_a_second_at_the_default_poll(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path, poll_interval=0.25)

    async def scenario() -> float:
        async with manager, SnapshotWatcher(store) as watcher:
            temp = tmp_path / "new.yaml"
            temp.write_text(YAML_V2)
            os.replace(temp, path)
            latency = await wait_until(lambda: served(store) == V2, timeout=1.0)
        watcher.check({V1, V2})
        return latency

    assert run(scenario()) < 1.0


@pytest.mark.parametrize(
    ("broken", "reason"),
    [pytest.param(BROKEN_YAML, "parse", id="invalid-yaml"),
     pytest.param(INVALID_CALENDAR, "invalid", id="semantic-error")],
)  # fmt: skip
def test_broken_file_keeps_the_last_good_calendar_until_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, broken: str, reason: str
) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path)

    async def scenario() -> None:
        async with manager, SnapshotWatcher(store) as watcher:
            (tmp_path / "tmp").write_text(broken)
            os.replace(tmp_path / "tmp", path)
            await wait_until(lambda: health(store).error_reason == reason)
            await asyncio.sleep(0.2)  # several more polls: reported once, still V1
            assert served(store) == V1
            assert health(store).failures[reason] == 1
            (tmp_path / "tmp").write_text(YAML_V2)
            os.replace(tmp_path / "tmp", path)
            await wait_until(lambda: served(store) == V2)
            assert (health(store).last_error, health(store).error_reason) == (None, None)
        watcher.check({V1, V2})
        assert watcher.published[-2:] == [V1, V2] or watcher.published == [V2]

    run(scenario())
    (failure,) = records(caplog, reason)
    assert failure.levelno == logging.WARNING
    assert "keeping the last good calendar (1 events, from the source)" in failure.getMessage()
    assert (failure.calendar, failure.kept) == ("sales", True)  # type: ignore[attr-defined]


def test_a_different_broken_file_with_the_same_error_is_reported_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path)
    first, second = INVALID_CALENDAR, INVALID_CALENDAR + "# fixed the typo below, not the end\n"

    async def scenario() -> None:
        async with manager:
            (tmp_path / "tmp").write_text(first)
            os.replace(tmp_path / "tmp", path)
            await wait_until(lambda: health(store).failures.get("invalid") == 1)
            (tmp_path / "tmp").write_text(second)
            os.replace(tmp_path / "tmp", path)
            await wait_until(lambda: health(store).failures.get("invalid") == 2)
            await asyncio.sleep(0.2)  # several more polls of the second: still reported once
            assert health(store).failures["invalid"] == 2
            assert served(store) == V1

    run(scenario())
    one, two = records(caplog, "invalid")
    assert one.getMessage() == two.getMessage()  # same text; two different files, two reports


def test_configmap_symlink_swap_is_served_and_a_broken_update_is_not(tmp_path: Path) -> None:
    volume = ConfigMapDir(tmp_path / "config", {"sales.yaml": YAML_V1})
    store, manager = file_source(volume.root / "sales.yaml", poll_interval=0.25)

    async def scenario() -> list[float]:
        latencies = []
        async with manager, SnapshotWatcher(store) as watcher:
            assert served(store) == V1
            volume.update({"sales.yaml": YAML_V2})
            latencies.append(await wait_until(lambda: served(store) == V2, timeout=1.0))
            volume.update({"sales.yaml": BROKEN_YAML})
            await wait_until(lambda: health(store).error_reason == "parse", timeout=1.0)
            assert served(store) == V2
            volume.update({"sales.yaml": YAML_V3})
            latencies.append(await wait_until(lambda: served(store) == V3, timeout=1.0))
        watcher.check({V1, V2, V3})
        return latencies

    assert all(latency < 1.0 for latency in run(scenario()))


def test_file_written_in_place_is_read_only_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(calendar_text("initial"))
    store, manager = file_source(path, poll_interval=0.2)
    full = YAML_V3
    prefix = full[: full.index("  - name: sale-two")]  # a valid calendar by itself: V1

    async def scenario() -> None:
        async with manager, SnapshotWatcher(store) as watcher:
            with open(path, "w") as f:  # same inode: an edit in place, not a rename
                f.write(prefix)
                f.flush()
                await asyncio.sleep(0.05)
                f.write(full[len(prefix) :])
            await wait_until(lambda: served(store) == V3, timeout=2.0)
        watcher.check({("initial",), V3})

    run(scenario())


def test_an_edit_in_place_is_published_only_after_it_held_still_for_a_poll(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(calendar_text("initial"))
    spec = SourceSpec(name="sales", location=str(path), kind="file")
    store = CalendarStore({"sales": spec.origin})
    source = FileSource(spec, store)
    full = YAML_V3
    prefix = full[: full.index("  - name: sale-two")]  # a valid calendar by itself: V1

    async def scenario() -> list[Version | None]:
        seen = []
        await source.poll()
        seen.append(served(store))
        with open(path, "w") as f:
            f.write(prefix)
            f.flush()
            await source.poll()  # the write is in progress: wait
            seen.append(served(store))
            f.write(full[len(prefix) :])
        await source.poll()  # changed again since the last look: wait
        seen.append(served(store))
        await source.poll()  # held still: read it
        seen.append(served(store))
        return seen

    assert run(scenario()) == [("initial",), ("initial",), ("initial",), V3]


def touch(path: Path) -> None:
    os.utime(path, (time.time() + 5, time.time() + 5))


def edit_in_place(path: Path) -> None:
    path.write_text(YAML_V2)  # same inode, closed after writing: that wakes the source


@pytest.mark.parametrize(
    ("change", "poll_interval"),
    [
        pytest.param(touch, 0.05, id="touching-a-file-does-not-reload-it"),
        # Only the polls (none within the test) read an edit in place, never a wake-up.
        pytest.param(edit_in_place, 3600, id="a-wake-up-leaves-an-edit-in-place-to-the-poll"),
    ],
)
def test_nothing_is_published(
    tmp_path: Path, change: Callable[[Path], None], poll_interval: float
) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path, poll_interval=poll_interval)

    async def scenario() -> None:
        async with manager, SnapshotWatcher(store) as watcher:
            change(path)
            await asyncio.sleep(0.3)
        assert watcher.published == []

    run(scenario())


def test_missing_file_is_reported_and_loaded_once_it_appears(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "sales.yaml"
    store, manager = file_source(path)

    async def scenario() -> None:
        async with manager:
            assert None is served(store)
            assert health(store).error_reason == "io"
            path.write_text(YAML_V1)
            await wait_until(lambda: served(store) == V1)

    run(scenario())
    (failure,) = records(caplog, "io")
    assert failure.levelno == logging.ERROR
    assert "never loaded" in failure.getMessage()


def test_deleted_file_keeps_the_last_good_calendar_and_recovers(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path)

    async def scenario() -> None:
        async with manager:
            path.unlink()
            await wait_until(lambda: health(store).error_reason == "io")
            assert served(store) == V1
            path.write_text(YAML_V1)  # the same content back: confirmed, not republished
            await wait_until(lambda: health(store).last_error is None)
            assert (served(store), health(store).loads) == (V1, 1)

    run(scenario())


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path, limits=FetchLimits(max_bytes=1024))

    async def scenario() -> None:
        async with manager:
            path.write_text(YAML_V1 + "#" * 2048 + "\n")
            await wait_until(lambda: health(store).error_reason == "size")
            assert served(store) == V1

    run(scenario())


# -- inotify wake-ups: a poll interval far longer than the waits below, so only a wake-up can
# -- explain a reload within them.


def test_an_atomic_replace_is_read_without_waiting_for_the_poll(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path, poll_interval=3600)

    async def scenario() -> None:
        async with manager:
            write_atomically(path, YAML_V2)
            await wait_until(lambda: served(store) == V2, timeout=20, what="V2 served")

    run(scenario(), timeout=30)


def test_a_configmap_swap_is_read_without_waiting_for_the_poll(tmp_path: Path) -> None:
    mount = ConfigMapDir(tmp_path / "calendars", {"sales.yaml": YAML_V1})
    store, manager = file_source(mount.root / "sales.yaml", poll_interval=3600)

    async def scenario() -> None:
        async with manager:
            mount.update({"sales.yaml": YAML_V2})
            await wait_until(lambda: served(store) == V2, timeout=20, what="V2 served")
            mount.update({"sales.yaml": YAML_V3})  # the resolved directory changed: still woken
            await wait_until(lambda: served(store) == V3, timeout=20, what="V3 served")

    run(scenario(), timeout=45)


def test_without_inotify_changes_are_still_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scaler.sources.files.open_watch", lambda: None)
    path = tmp_path / "sales.yaml"
    path.write_text(YAML_V1)
    store, manager = file_source(path)

    async def scenario() -> None:
        async with manager:
            write_atomically(path, YAML_V2)
            await wait_until(lambda: served(store) == V2, timeout=20, what="V2 served")

    run(scenario(), timeout=30)


def test_a_changed_event_is_read_alone_and_a_broken_change_still_reads_in_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """calendar.incremental through a real file source: the calendar served is the full
    read's, one changed event of 2,000 is all that is read, and a broken change gets the full
    read's messages (file:line) while the last good calendar stays."""
    from bench.gen_calendar import generate
    from scaler.calendar.parsing import parse_yaml_calendar

    path = tmp_path / "sales.yaml"
    text = generate(2000, seed=5)
    path.write_text(text)
    store, manager = file_source(path)
    changed = text.replace("scale: {replicas: 1}", "scale: {replicas: 6}", 1)
    broken = changed.replace("duration: 1h", "duration: 1 hour", 1)
    line = changed[: changed.index("duration: 1h")].count("\n") + 1

    def events() -> object:
        calendar = store.snapshot.calendars["sales"]
        assert calendar is not None
        return [(e.name, e.line, e.scale, e.targets, e.timing) for e in calendar.events]

    async def scenario() -> None:
        async with manager:
            for content in (changed, broken, changed.replace("replicas: 6}", "replicas: 7}", 1)):
                (tmp_path / "tmp").write_text(content)
                os.replace(tmp_path / "tmp", path)
                if content is broken:
                    await wait_until(lambda: health(store).last_error is not None)
                    assert f"{path}:{line}: " in str(health(store).last_error)
                    continue
                expected = [
                    (e.name, e.line, e.scale, e.targets, e.timing)
                    for e in parse_yaml_calendar(content, name="sales", origin=str(path)).events
                ]
                await wait_until(lambda x=expected: events() == x)  # type: ignore[misc]

    with caplog.at_level(logging.INFO, logger="scaler.sources"):
        run(scenario(), timeout=60)
    loads = [r.getMessage() for r in caplog.records if "loaded from" in r.getMessage()]
    assert len(loads) == 3, loads
    assert loads[0].endswith(": 2001 events")  # the first read is a full one
    assert loads[1].endswith(": 2001 events (1 new or changed, the others as they were)")
    assert loads[2].endswith(": 2001 events (1 new or changed, the others as they were)")
