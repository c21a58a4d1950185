"""The forkserver the parser processes are forked from (workers.py), startable before anything
else is imported.

`serve` starts it first thing, importing only this module: the forkserver's interpreter then
imports the parser while the server imports grpc and the rest (importing workers.py first, as
`serve` once did, cost ~0.25 s before the forkserver even began).
"""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.forkserver
from multiprocessing.context import ForkServerContext

__all__ = ["context", "start"]


@functools.cache
def context() -> ForkServerContext | None:
    """The forkserver context, its preload set; None where there is no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    found = multiprocessing.get_context("forkserver")
    # Before the forkserver starts (it is started once): the parser, warmed up (warmup.py:
    # else every worker would import the holidays package's countries again, ~0.2 s). Not the
    # iCalendar reader: its import would delay the first YAML read at start-up by ~0.5 s; a
    # worker that reads an .ics file imports it itself.
    found.set_forkserver_preload(["scaler.sources.workers", "scaler.sources.warmup"])
    return found


def start() -> None:
    """Start the forkserver now, if it is not running: its interpreter imports the parser
    while this process goes on with its own imports and start-up."""
    if context() is not None:
        multiprocessing.forkserver.ensure_running()
