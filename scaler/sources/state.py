"""The last good content of each URL source, kept on disk for a restart while the source is down.

One file per calendar, `<name>.last-good`: a line of JSON metadata (where the content came
from, its validators, a checksum), then the content exactly as the server sent it, so an SRE can
read it with `tail -n +2`. The raw content is kept rather than a parsed form so that a newer
scaler re-validates it by its own rules. Writes are atomic (temporary file, fsync, rename,
fsync of the directory): a crash leaves the old copy or the new one, never half of one.

A write that fails leaves an older copy behind, which a restart would serve as if it were the
last good one. So a failed write renames that copy to `<name>.last-good.outdated` (a rename
needs no free space, the usual reason a write fails); a restart still serves it, the best there
is while the source is down, but knows and says that a newer calendar was lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from scaler.errors import SourceError, UsageError

__all__ = ["SavedContent", "StateDir", "write_atomically"]

_FORMAT = 1
_SUFFIX = ".last-good"
_OUTDATED = ".outdated"
_STALE_TEMP = 3600.0  # temporary files older than this are leftovers of a crash


@dataclass(frozen=True, kw_only=True)
class SavedContent:
    content: bytes
    origin: str  # the URL without credentials; a copy from another URL is never used
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    saved_at: float = 0.0  # wall-clock time it was fetched
    outdated: bool = False  # a newer calendar was fetched later but could not be saved over it


def write_atomically(path: Path, *parts: bytes) -> None:
    """Replace `path` with the parts, atomically: a crash leaves the old file or the new one.
    OSError when the disk refuses. Its temporary file matches what StateDir clears up."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(temp, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"--state-dir {path}: cannot create it ({exc.strerror or exc}); mount a "
                "writable volume there (emptyDir, or a PersistentVolumeClaim to survive "
                "rescheduling) or leave --state-dir out"
            ) from exc
        self._remove_stale_temporaries()

    def file(self, name: str) -> Path:
        return self.path / f"{name}{_SUFFIX}"

    def _outdated(self, name: str) -> Path:
        return self.path / f"{name}{_SUFFIX}{_OUTDATED}"

    def save(self, name: str, saved: SavedContent) -> None:
        """Replace the copy of `name` atomically; OSError when the disk refuses (and then the
        older copy is marked outdated if the disk lets us)."""
        meta = {
            "format": _FORMAT,
            "origin": saved.origin,
            "contentType": saved.content_type,
            "etag": saved.etag,
            "lastModified": saved.last_modified,
            "savedAt": saved.saved_at,
            "size": len(saved.content),
            "sha256": hashlib.sha256(saved.content).hexdigest(),
        }
        header = json.dumps(meta, sort_keys=True).encode() + b"\n"
        try:
            write_atomically(self.file(name), header, saved.content)
        except OSError:  # the disk refused: what is left there is older
            with contextlib.suppress(OSError):
                os.replace(self.file(name), self._outdated(name))
            raise
        with contextlib.suppress(OSError):
            self._outdated(name).unlink(missing_ok=True)

    def load(self, name: str) -> SavedContent | None:
        """The copy of `name`; None if there is none; SourceError(reason="io") if unusable."""
        path = self.file(name)
        outdated = not path.exists() and self._outdated(name).exists()
        if outdated:
            path = self._outdated(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SourceError(
                f"{path}: cannot read the last good copy ({exc.strerror or exc})", reason="io"
            ) from exc
        header, newline, content = raw.partition(b"\n")
        try:
            meta = json.loads(header) if newline else None
        except ValueError:
            meta = None
        if (
            not isinstance(meta, dict)
            or meta.get("format") != _FORMAT
            or meta.get("size") != len(content)
            or meta.get("sha256") != hashlib.sha256(content).hexdigest()
        ):
            raise SourceError(
                f"{path}: the last good copy is damaged or from another version; "
                "it is ignored and replaced at the next good fetch",
                reason="io",
            )
        return SavedContent(
            content=content,
            origin=str(meta.get("origin") or ""),
            content_type=meta.get("contentType"),
            etag=meta.get("etag"),
            last_modified=meta.get("lastModified"),
            saved_at=float(meta.get("savedAt") or 0.0),
            outdated=outdated,
        )

    def _remove_stale_temporaries(self) -> None:
        now = time.time()
        for temp in self.path.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                if now - temp.stat().st_mtime > _STALE_TEMP:
                    temp.unlink()
