"""Calendars parsed in a worker process, one process per calendar read (or per part of a
large one, `ParseWorkers.read`).

Parsing and validating 10,000 YAML events takes ~0.5 s of CPU and a node tree of ~70 MB. In the
server's own process (even in a thread) it held the GIL, so every RPC meanwhile waited up to
the 5 ms switch interval, and it left the allocator's high-water mark behind: CPython keeps an
arena while any object in it lives. A worker process does the whole `read_calendar`, sends
the Calendar (and its layout) back pickled (shared Scale/Timing/Target objects stay shared),
and exits, taking that memory with it; the server only unpickles the result. A change of a
calendar read before is worked out in a worker too (`changes_of`: the new text split and
hashed, its changed events read), the server applying it to the calendar in force.

Workers are forked from multiprocessing's forkserver (forkserver.py), a small process started
once with this module (and so the parser) imported: a fork costs a few ms, where a spawned
interpreter would import the parser anew (~0.3 s). Never a plain fork of the server: grpc's
threads make that unsafe. Where forkserver is missing, or a worker dies (killed for memory,
say), the calendar is parsed in a thread as before, so a reload is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import dataclasses
import io
import logging
import operator
import os
import pickle
from collections.abc import Awaitable, Callable, Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from scaler.calendar.incremental import Changes, Layout, Part, join
from scaler.calendar.model import Calendar, Event, Once, Target
from scaler.calendar.parsing import reading
from scaler.calendar.recurrence import CronSchedule
from scaler.errors import SourceError
from scaler.sources import forkserver
from scaler.sources.decoding import (
    THREADS,
    Format,
    changes_of,
    may_read_in_parts,
    read_calendar,
    read_part_of,
)

if TYPE_CHECKING:  # not at run time: the parser processes need none of the config reader
    from scaler.sources.config import SourceSpec

__all__ = ["SPLIT_BYTES", "ParseWorkers"]

log = logging.getLogger("scaler.sources")


def _maker(cls: type) -> Callable[..., Any]:
    """`make_<Class>(*field_values)`: the object made without __init__ (which sets each field
    through object.__setattr__) or __setstate__ (which looks the fields up for every object),
    one slot setter per field, unrolled as dataclasses writes its __init__."""
    names = [f.name for f in dataclasses.fields(cls)]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{n}": getattr(cls, n).__set__ for n in names})
    lines = [f"def make_{cls.__name__}({', '.join('v_' + n for n in names)}):"]
    lines += ["    made = new(cls)", *(f"    set_{n}(made, v_{n})" for n in names)]
    exec("\n".join([*lines, "    return made"]), scope)  # the text: field names only
    made: Callable[..., Any] = scope[f"make_{cls.__name__}"]
    made.__module__, made.__qualname__ = __name__, made.__name__  # pickled by this name
    return made


# What a calendar is made of, by the thousand: pickled as a maker (a module function, found
# by name) and the field values, made again by calling it: 10,000 events unpickled in ~35 ms,
# ~55 with one generic maker, ~80 through __setstate__.
_MAKERS: dict[type, tuple[Callable[..., Any], Callable[[Any], tuple[Any, ...]]]] = {
    cls: (_maker(cls), operator.attrgetter(*(f.name for f in dataclasses.fields(cls))))
    for cls in (Event, Once, Target, CronSchedule)
}
globals().update({made.__name__: made for made, _ in _MAKERS.values()})


def _reduce(made: Any) -> tuple[Any, ...]:
    maker, values = _MAKERS[type(made)]
    return maker, values(made)


_REDUCE: dict[type, Callable[[Any], Any]] = {
    **copyreg.dispatch_table,
    **dict.fromkeys(_MAKERS, _reduce),
}


def _answer(sender: Connection, job: Callable[..., Any], content: bytes, **kwargs: Any) -> None:
    """The worker: ("ok", what `job` gives) or ("error", message, reason), pickled, then
    exit."""
    answer: tuple[Any, ...]
    try:
        answer = ("ok", job(content, **kwargs))
    except SourceError as exc:
        answer = ("error", str(exc), exc.reason)
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCE
    pickler.dump(answer)
    sender.send_bytes(buffer.getbuffer())
    sender.close()


def _run(process: BaseProcess, receiver: Connection, sender: Connection) -> tuple[Any, ...]:
    """Start the worker, wait for its answer (EOFError if it died first), reap it."""
    try:
        try:
            process.start()
        finally:
            sender.close()  # the worker's end: only the worker may hold it, or EOF never comes
        answer = receiver.recv_bytes()
        with reading():  # ~40,000 objects per 10,000 events: no collections meanwhile
            return tuple(pickle.loads(answer))
    finally:
        receiver.close()
        if process.pid is not None:
            process.join()


SPLIT_BYTES = 256 * 1024  # ~1,500 events: a calendar this large is read on the free cores


class ParseWorkers:
    """At most `processes` parser processes run at once (by default one per core). A large
    calendar asked for while several are free is read in parts on all of them."""

    def __init__(self, processes: int | None = None) -> None:
        self._processes = processes or os.cpu_count() or 1
        self._slots = asyncio.Semaphore(self._processes)
        self._asked = 0  # processes asked for and not done: those running and those waiting
        forkserver.start()

    async def read(
        self, spec: SourceSpec, content: bytes, fmt: Format | None
    ) -> tuple[Calendar, Layout | None]:
        """`decoding.read_calendar` in a worker process (or in parts: `_read_in_parts`);
        SourceError when the content is rejected."""
        free = self._processes - self._asked if forkserver.context() else 0
        if free > 1 and len(content) >= SPLIT_BYTES and may_read_in_parts(content, fmt):
            with self._asking(free):  # now: another read looking next finds them taken
                joined = await self._read_in_parts(spec, content, fmt, free)
            if joined is not None:
                return joined
        with self._asking(1):
            result: tuple[Calendar, Layout | None] = await self._in_worker(
                spec, read_calendar, content, dict(fmt=fmt, ical=spec.ical),
                lambda: THREADS.read(spec, content, fmt),
            )  # fmt: skip
        return result

    @contextlib.contextmanager
    def _asking(self, processes: int) -> Iterator[None]:
        self._asked += processes
        try:
            yield
        finally:
            self._asked -= processes

    async def _read_in_parts(
        self, spec: SourceSpec, content: bytes, fmt: Format | None, count: int
    ) -> tuple[Calendar, Layout] | None:
        """The calendar read in `count` parts at once (calendar.incremental.read_part): 10,000
        events in about half the time on two cores. None: read it in full (a problem in it,
        `like` scales, or anything else a part cannot settle alone)."""

        async def part(index: int) -> Part | None:
            found: Part | None = await self._in_worker(
                spec, read_part_of, content, dict(fmt=fmt, index=index, count=count),
                _nothing, instead="reading it in full instead",
            )  # fmt: skip
            return found

        parts = await asyncio.gather(*(part(k) for k in range(count)))
        if any(p is None for p in parts):
            return None
        return join([p for p in parts if p is not None], name=spec.name, origin=spec.origin)

    async def changes(
        self, spec: SourceSpec, content: bytes, fmt: Format | None, layout: Layout
    ) -> Changes | None:
        """`decoding.changes_of` in a worker process: what changed, worked out from the texts
        (splitting and hashing 10,000 events' text held the server's interpreter lock for up
        to ~30 ms at a time: regular expressions run whole)."""
        with self._asking(1):
            result: Changes | None = await self._in_worker(
                spec, changes_of, content, dict(fmt=fmt, layout=layout),
                lambda: THREADS.changes(spec, content, fmt, layout),
            )  # fmt: skip
        return result

    async def _in_worker(
        self, spec: SourceSpec, job: Callable[..., Any], content: bytes, kwargs: dict[str, Any],
        here: Callable[[], Awaitable[Any]], instead: str = "parsing in the server process instead",
    ) -> Any:  # fmt: skip
        """`job(content, name=, origin=, **kwargs)` in a worker process; `here()` where
        there is none, or when the worker ends without an answer (logged, with `instead`)."""
        context = forkserver.context()
        if context is None:
            return await here()
        async with self._slots:
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_answer, args=(sender, job, content),
                kwargs=dict(name=spec.name, origin=spec.origin, **kwargs),
                name=f"calendar-parser-{spec.name}", daemon=True,
            )  # fmt: skip
            work = asyncio.ensure_future(asyncio.to_thread(_run, process, receiver, sender))
            try:
                answer = await asyncio.shield(work)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):  # not started yet: it ends by itself
                    process.terminate()
                raise
            except (EOFError, OSError) as exc:
                log.warning(
                    "calendar %s: the parser process ended without an answer (%s, exit "
                    "code %s); %s", spec.name, type(exc).__name__, process.exitcode, instead,
                    extra={"calendar": spec.name},
                )  # fmt: skip
                return await here()
        if answer[0] == "error":
            raise SourceError(answer[1], reason=answer[2])
        return answer[1]


async def _nothing() -> None:
    """A part's answer where its process ended without one: the calendar is read in full."""
    return None
