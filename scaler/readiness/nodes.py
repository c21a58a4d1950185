"""Pods wait for nodes: the workload's and the placeholders' pods on a cluster that grows.

The model (SPEC section 10, README "Nodes too: headroom"): the nodes there at the start hold
the pods running then plus `free` more. A pod that finds no room when it is created, or that
is preempted, is pending and asks for a node; the node arrives `node_startup` later and holds
one pod (whichever pending pod is first in line then). Room beyond `free` that nothing uses
for UNNEEDED (the cluster autoscaler's `--scale-down-unneeded-time`, 10 minutes) goes away:
after a sale the cluster shrinks back to `free` spare pods, and the next sale waits again.
Workload pods are placed first, oldest first; when no room is left a workload pod preempts a
placeholder (negative priority), which then waits for a node of its own like any other
pending pod. A workload pod is ready `pod_startup` after it got its place. Scale-down removes
the workload pods that are not ready yet first, youngest first (the ReplicaSet controller's
preference), and pending placeholders before placed ones; the room they free is reused at once.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

__all__ = ["UNNEEDED", "Series", "ready_with_nodes"]

Series = tuple[list[int], list[int]]  # (times, values) of a step function, from its first time

_NEVER = 1 << 62
UNNEEDED = 600  # seconds a node stays empty before the cluster autoscaler removes it


@dataclass(slots=True)
class _Pod:
    created: int
    placed: int | None = None  # when it got room on a node; None: pending
    removed: int | None = None
    asked: bool = False  # it asked for a node (once, when it first found no room)


def ready_with_nodes(
    replicas: Series,
    placeholders: Series,
    *,
    pod_startup: int,
    node_startup: int,
    free: int,
    end: int,
) -> Series:
    """Ready workload pods over [start, end), given the replica counts both HPAs set."""
    start = replicas[0][0]
    alive = [_Pod(created=start - pod_startup, placed=start - pod_startup)
             for _ in range(replicas[1][0])]  # fmt: skip
    every = list(alive)  # removed ones too: they were ready for a while
    waiting: list[_Pod] = []  # pending workload pods, oldest first
    room = len(alive) + placeholders[1][0] + free  # places on the nodes there
    placed_holders, pending_holders = placeholders[1][0], 0
    arrivals: list[int] = []  # instants nodes arrive, a heap
    idle: list[int] = []  # since when each place beyond `free` is unused, oldest first

    changes = sorted(
        (t, kind, v)
        for kind, series in enumerate((replicas, placeholders))
        for t, v in zip(*series, strict=True)
        if t > start
    )  # the workload's change first where both change on one second
    i = 0
    while True:
        at = min(
            changes[i][0] if i < len(changes) else _NEVER,
            arrivals[0] if arrivals else _NEVER,
            idle[0] + UNNEEDED if idle else _NEVER,
        )
        if at >= end:
            break
        gone = sum(1 for since in idle if since + UNNEEDED <= at)
        room -= gone
        del idle[:gone]
        while arrivals and arrivals[0] == at:
            heapq.heappop(arrivals)
            room += 1
        fresh_holders = 0  # placeholders that became pending at this instant
        while i < len(changes) and changes[i][0] == at:
            _, kind, count = changes[i]
            i += 1
            if kind == 0:
                if count > len(alive):
                    new = [_Pod(created=at) for _ in range(count - len(alive))]
                    alive += new
                    every += new
                    waiting += new
                elif count < len(alive):
                    alive = _scale_down(alive, count, at, pod_startup)
                    waiting = [p for p in waiting if p.removed is None]
                continue
            have = placed_holders + pending_holders
            if count > have:
                pending_holders += count - have
                fresh_holders += count - have
            else:
                drop = min(have - count, pending_holders)
                pending_holders -= drop
                fresh_holders = max(0, fresh_holders - drop)
                placed_holders -= have - count - drop

        # Place pending pods: the workload's first, oldest first, preempting placeholders.
        spare = room - (len(alive) - len(waiting)) - placed_holders
        placed = 0
        for pod in waiting:
            if spare > 0:
                spare -= 1
            elif placed_holders > 0:
                placed_holders -= 1
                pending_holders += 1
                fresh_holders += 1
            else:
                break
            pod.placed = at
            placed += 1
        waiting = waiting[placed:]
        for pod in waiting:
            if not pod.asked:
                pod.asked = True
                heapq.heappush(arrivals, at + node_startup)
        taken = min(spare, pending_holders)
        placed_holders += taken
        pending_holders -= taken
        # The longest-waiting placeholders got the room; the fresh ones still pending ask.
        for _ in range(min(fresh_holders, pending_holders)):
            heapq.heappush(arrivals, at + node_startup)
        # Places used again are the most recently emptied ones; the oldest go first.
        excess = max(0, spare - taken - free)
        if excess > len(idle):
            idle += [at] * (excess - len(idle))
        else:
            del idle[excess:]

    return _ready_series(every, start, end, pod_startup)


def _scale_down(alive: list[_Pod], count: int, at: int, pod_startup: int) -> list[_Pod]:
    """Remove pods down to `count`: not ready first, youngest first; then ready, youngest
    first. Returns the pods left, in creation order."""

    def ready(p: _Pod) -> bool:
        return p.placed is not None and p.placed + pod_startup <= at

    for pod in sorted(alive, key=lambda p: (ready(p), -p.created))[: len(alive) - count]:
        pod.removed = at
    return [p for p in alive if p.removed is None]


def _ready_series(pods: list[_Pod], start: int, end: int, pod_startup: int) -> Series:
    deltas: dict[int, int] = {}
    for pod in pods:
        if pod.placed is None:
            continue
        ready = max(pod.placed + pod_startup, start)
        gone = end if pod.removed is None else pod.removed
        if ready < gone:
            deltas[ready] = deltas.get(ready, 0) + 1
            if gone < end:
                deltas[gone] = deltas.get(gone, 0) - 1
    times, values = [start], [deltas.pop(start, 0)]
    for at in sorted(deltas):
        value = values[-1] + deltas[at]
        if value != values[-1]:
            times.append(at)
            values.append(value)
    return times, values
