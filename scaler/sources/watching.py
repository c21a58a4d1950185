"""Wake-ups for file sources: Linux inotify on the directories a calendar file lives in.

A file source still polls (files.py); a watch only makes it look at once when a file was
renamed into, or closed after writing in, one of those directories: an atomic replace (an
editor's save, `mv`, a ConfigMap's `..data` symlink swap) is read within milliseconds instead
of at the next poll. Only libc's three inotify calls are needed, through ctypes, so there is no
dependency to keep up; where inotify is missing (not Linux, or the per-user instance limit is
reached), `open_watch` returns None and the source polls as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import struct
from collections.abc import Iterable

__all__ = ["DirectoryWatch", "open_watch"]

_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_TO = 0x00000080
_IN_IGNORED = 0x00008000  # the watch is gone (its directory was removed)
_IN_ONLYDIR = 0x01000000
_MASK = _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_ONLYDIR
_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1  # noqa: B018  (AttributeError where there is no inotify)
    except (OSError, AttributeError):
        return None
    return libc


class DirectoryWatch:
    """One inotify instance watching a few directories; `wait` returns True on a change."""

    def __init__(self, libc: ctypes.CDLL, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        self._libc = libc
        self._fd = fd
        self._loop = loop
        self._watches: dict[str, int] = {}  # directory -> watch descriptor
        self._changed = asyncio.Event()
        loop.add_reader(fd, self._drain)

    def follow(self, directories: Iterable[str]) -> None:
        """Watch exactly these directories (cheap when they did not change)."""
        wanted = set(directories)
        for directory in set(self._watches) - wanted:
            self._libc.inotify_rm_watch(self._fd, self._watches.pop(directory))
        for directory in wanted - set(self._watches):
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(directory), _MASK)
            if wd >= 0:  # a directory that does not exist (yet) is left to polling
                self._watches[directory] = wd

    async def wait(self, timeout: float) -> bool:
        """True as soon as something was renamed or written in a watched directory; False
        after `timeout` seconds without."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)
        changed = self._changed.is_set()
        self._changed.clear()
        return changed

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError:  # not expected of inotify; polling still covers every change
                self._loop.remove_reader(self._fd)
                return
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size + length
                if mask & _IN_IGNORED:
                    self._watches = {d: w for d, w in self._watches.items() if w != wd}
            self._changed.set()

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)


def open_watch() -> DirectoryWatch | None:
    """A watch on the running loop, or None where inotify is not available."""
    libc = _libc()
    if libc is None:
        return None
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:  # EMFILE: fs.inotify.max_user_instances reached
        return None
    return DirectoryWatch(libc, fd, asyncio.get_running_loop())
