"""The state directory: atomic copies that survive a restart, and damaged ones refused."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import (
    LIMITS,
    V1,
    V2,
    YAML_V1,
    YAML_V2,
    CalendarServer,
    file_size_limit,
    health,
    run,
    served,
    wait_until,
)

from scaler.errors import SourceError, UsageError
from scaler.sources import CalendarStore, SourceManager, SourceSpec
from scaler.sources.state import SavedContent, StateDir

SAVED = SavedContent(
    content=b"version: 1\nevents: []\n",
    origin="https://a.example/s.yaml",
    content_type="application/yaml",
    etag='"v1"',
    last_modified="Fri, 27 Nov 2026 00:00:00 GMT",
    saved_at=1795737600.0,
)


def test_saved_content_loads_back_exactly(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")

    state.save("sales", SAVED)

    assert StateDir(tmp_path / "state").load("sales") == SAVED


def test_save_leaves_one_file_per_calendar_and_no_temporaries(tmp_path: Path) -> None:
    state = StateDir(tmp_path)

    state.save("sales", SAVED)
    state.save("sales", SAVED)

    assert sorted(os.listdir(tmp_path)) == ["sales.last-good"]


def test_content_is_kept_raw_after_a_metadata_line(tmp_path: Path) -> None:
    state = StateDir(tmp_path)

    state.save("sales", SAVED)

    assert SAVED.content == (tmp_path / "sales.last-good").read_bytes().split(b"\n", 1)[1]


def test_no_copy_loads_as_none(tmp_path: Path) -> None:
    assert StateDir(tmp_path).load("sales") is None


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[:-3], id="truncated"),
        pytest.param(lambda raw: raw.replace(b"events", b"evenTs"), id="changed"),
        pytest.param(lambda raw: b"not json\n" + raw, id="no-metadata"),
    ],
)
def test_damaged_copy_is_refused(tmp_path: Path, damage: object) -> None:
    state = StateDir(tmp_path)
    state.save("sales", SAVED)
    path = tmp_path / "sales.last-good"
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]

    with pytest.raises(SourceError, match="damaged") as caught:
        state.load("sales")
    assert caught.value.reason == "io"


def test_state_dir_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    with pytest.raises(UsageError, match=r"--state-dir .*cannot create it"):
        StateDir(tmp_path / "file" / "state")


def test_stale_temporary_files_are_removed_at_start(tmp_path: Path) -> None:
    stale = tmp_path / ".sales.1.abcd.tmp"
    fresh = tmp_path / ".sales.2.abcd.tmp"
    stale.write_text("x")
    fresh.write_text("x")
    os.utime(stale, (0, 0))

    StateDir(tmp_path)

    assert (stale.exists(), fresh.exists()) == (False, True)


# -- a write that fails ---------------------------------------------------------------------


def test_a_failed_save_marks_the_older_copy_outdated_until_a_save_succeeds(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.save("sales", SAVED)
    newer = replace(SAVED, content=b"version: 1\nevents: []\n# newer\n", saved_at=1795741200.0)

    with file_size_limit(64), pytest.raises(OSError, match="File too large"):
        state.save("sales", newer)

    assert state.load("sales") == replace(SAVED, outdated=True)
    assert sorted(os.listdir(tmp_path)) == ["sales.last-good.outdated"]
    state.save("sales", newer)
    assert state.load("sales") == newer
    assert sorted(os.listdir(tmp_path)) == ["sales.last-good"]


def test_restart_after_a_failed_state_write_serves_the_older_copy_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with CalendarServer() as server:
        server.serve(YAML_V1, etag='"v1"')
        spec = SourceSpec(name="sales", location=server.url(), kind="url")
        store = CalendarStore({"sales": spec.origin})

        async def first_life() -> None:
            async with SourceManager([spec], store, state_dir=tmp_path, refresh=0.1, limits=LIMITS):
                await wait_until(lambda: (tmp_path / "sales.last-good").exists())
                with file_size_limit(64):  # the disk refuses from now on
                    server.serve(YAML_V2, etag='"v2"')
                    await wait_until(lambda: health(store).state_error is not None)
                assert served(store) == V2

        run(first_life())
    # the source is down now; the copy on disk is V1, older than the V2 served before
    store = CalendarStore({"sales": spec.origin})
    caplog.clear()

    async def second_life() -> None:
        async with SourceManager([spec], store, state_dir=tmp_path, refresh=0.1, limits=LIMITS):
            assert (served(store), health(store).loaded_from) == (V1, "state")

    run(second_life())
    (loaded,) = [r for r in caplog.records if "loaded from the state directory" in r.getMessage()]
    assert loaded.levelno == logging.WARNING
    assert re.search(r"fetched 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ, \d+s ago", loaded.getMessage())
    assert "it is outdated: a newer calendar was fetched later but could not be written" in (
        loaded.getMessage()
    )
