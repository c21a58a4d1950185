"""A calendar file, reloaded when it changes, including a ConfigMap volume's symlink swap.

Kubernetes updates a mounted ConfigMap by writing a new `..2026_...` directory and atomically
swapping the `..data` symlink to it; the watched path (`sales.yaml -> ..data/sales.yaml`)
never changes, so inotify on the file itself sees nothing. Polling `os.stat` of the resolved
path every quarter second catches that, an `os.replace`, and an edit in place alike, costs
microseconds, and needs no platform API. The identity of what was read is (real path, device,
inode, size, mtime): a new real path or inode is an atomic replacement and is read at once; the
same inode with a new size or mtime is a write in progress, read once it held still for one
poll, so a half-written file is never published.

Where Linux inotify is available (watching.py), a rename or a closed write in the file's
directory, or in its resolved directory, wakes the source at once: an atomic replacement is
then read without waiting for the poll. Everything else (an edit in place, a file that
vanished) is still left to the regular polls, so the rules above hold as they are.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass

from scaler.errors import SourceError
from scaler.sources.config import SourceSpec
from scaler.sources.decoding import THREADS, Rereader, detect_format
from scaler.sources.reporting import Reporter
from scaler.sources.store import CalendarStore
from scaler.sources.watching import open_watch
from scaler.sources.workers import ParseWorkers

__all__ = ["FileSource"]


@dataclass(frozen=True)
class _Identity:
    realpath: str
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, realpath: str, st: os.stat_result) -> _Identity:
        return cls(realpath, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def same_file(self, other: _Identity) -> bool:
        return (self.realpath, self.device, self.inode) == (
            other.realpath,
            other.device,
            other.inode,
        )


class FileSource:
    def __init__(
        self,
        spec: SourceSpec,
        store: CalendarStore,
        *,
        poll_interval: float = 0.25,
        max_bytes: int = 5 * 1024 * 1024,
        workers: ParseWorkers | None = None,
    ) -> None:
        """`workers`: parse in worker processes; None: in a thread of this process."""
        self.spec = spec
        self.settled = asyncio.Event()  # set once the first load succeeded or failed
        self._reporter = Reporter(store, spec.name, spec.origin)
        self._poll_interval = poll_interval
        self._max_bytes = max_bytes
        self._fmt = detect_format(None, spec.location)
        self._seen: _Identity | None = None  # what was last read
        self._pending: _Identity | None = None  # changed in place, waiting one poll to settle
        self._good_digest: bytes | None = None  # content of the calendar in force
        # A change re-reads only the events whose text changed.
        self._rereader = Rereader(spec, workers if workers is not None else THREADS)
        self._tried_digest: bytes | None = None  # content of the last attempt
        self._tried_failure: SourceError | None = None  # why that content was rejected
        # The failure reported last, with the digest of the content it is about (None: no
        # content, e.g. unreadable): a different broken file with the same message is new.
        self._error: tuple[bytes | None, str] | None = None

    async def run(self) -> None:
        watch = open_watch()
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.poll()
                next_poll = loop.time() + self._poll_interval
                while (left := next_poll - loop.time()) > 0:
                    if watch is None:
                        await asyncio.sleep(left)
                        continue
                    watch.follow(self._directories())
                    if await watch.wait(left):
                        await self.poll(replaced_only=True)
        finally:
            if watch is not None:
                watch.close()

    def _directories(self) -> set[str]:
        """The directory of the configured path (where `..data` is swapped) and that of the
        file it resolves to."""
        location = os.path.abspath(self.spec.location)
        return {os.path.dirname(location), os.path.dirname(os.path.realpath(location))}

    def _stat(self) -> _Identity:
        realpath = os.path.realpath(self.spec.location)
        return _Identity.of(realpath, os.stat(realpath))

    async def poll(self, *, replaced_only: bool = False) -> None:
        """Look once; load if the file changed. `replaced_only` (a wake-up between polls):
        load only a file that replaced the one read last, or appeared; leave the rest to the
        next poll."""
        try:
            identity = self._stat()
        except OSError as exc:
            if replaced_only:
                return
            self._seen = self._pending = None
            self._fail(
                SourceError(
                    f"{self.spec.origin}: cannot read it ({exc.strerror or exc}); "
                    "check the path and the volume mount",
                    reason="io",
                )
            )
            return
        if identity == self._seen:
            return
        if replaced_only and self._seen is not None and identity.same_file(self._seen):
            return
        if self._seen is not None and identity.same_file(self._seen) and identity != self._pending:
            self._pending = identity  # written in place: wait until it holds still
            return
        self._pending = None
        try:
            read = await asyncio.to_thread(self._read, identity)
        except SourceError as exc:
            if exc.reason != "io":  # io: retry every poll, a chmod does not change the identity
                self._seen = identity
            self._fail(exc)
            return
        if read is None:  # changed while being read: look again at the next poll
            return
        self._seen = identity
        await self._load(*read)

    def _read(self, identity: _Identity) -> tuple[bytes, bytes] | None:
        """(content, its digest), in a thread: hashing 5 MiB on the event loop takes ~20 ms."""
        try:
            with open(identity.realpath, "rb") as f:
                if _Identity.of(identity.realpath, os.fstat(f.fileno())) != identity:
                    return None
                content = f.read(self._max_bytes + 1)
                if _Identity.of(identity.realpath, os.fstat(f.fileno())) != identity:
                    return None
        except FileNotFoundError:
            return None  # swapped away between stat and open (kubelet removes the old dir)
        except OSError as exc:
            raise SourceError(
                f"{self.spec.origin}: cannot read it ({exc.strerror or exc}); "
                "check the file's permissions",
                reason="io",
            ) from exc
        if len(content) > self._max_bytes:
            raise SourceError(
                f"{self.spec.origin}: larger than the {self._max_bytes} byte limit; "
                "split the calendar into several files",
                reason="size",
            )
        return content, hashlib.sha256(content).digest()

    async def _load(self, content: bytes, digest: bytes) -> None:
        if digest == self._good_digest:  # touched, or restored to what is in force
            self._tried_digest, self._tried_failure = digest, None
            if self._error is not None:
                self._error = None
                self._reporter.confirmed()
            self.settled.set()
            return
        if digest == self._tried_digest and self._tried_failure is not None:
            self._fail(self._tried_failure, digest)  # the same broken content: no second parse
            return
        self._tried_digest = digest
        try:
            calendar, note = await self._rereader.decode(content, self._fmt)
        except SourceError as exc:
            self._tried_failure = exc
            self._fail(exc, digest)
            return
        self._tried_failure = None
        self._good_digest = digest
        self._error = None
        self._reporter.loaded(calendar, loaded_from="source", note=note)
        self.settled.set()

    def _fail(self, exc: SourceError, digest: bytes | None = None) -> None:
        problem = (digest, str(exc))
        if problem != self._error:  # report each new problem once, not every poll
            self._error = problem
            self._reporter.failed(exc.reason, problem[1])
        self.settled.set()
