"""A changed calendar re-read from its changed events equals the calendar read in full."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.gen_calendar import generate
from scaler.calendar.incremental import Layout, join, layout_of, read_part, reparse
from scaler.calendar.model import Calendar, Event
from scaler.calendar.parsing import parse_yaml_calendar
from scaler.calendar.recurrence import CronSchedule
from scaler.errors import CalendarError

ORIGIN = "sales.yaml"
BASE = generate(300, seed=3)  # zones, defaults, exclusions, holidays, crons, targets


def full(text: str) -> Calendar:
    return parse_yaml_calendar(text, name="sales", origin=ORIGIN)


def read(text: str) -> tuple[Calendar, Layout]:
    calendar = full(text)
    layout = layout_of(text, calendar)
    assert layout is not None
    return calendar, layout


def again(text: str, previous: tuple[Calendar, Layout]) -> tuple[Calendar, Layout, int] | None:
    return reparse(text, name="sales", origin=ORIGIN, previous=previous[0], layout=previous[1])


def schedule_key(event: Event) -> Any:
    s = event.schedule
    if isinstance(s, CronSchedule):  # compared by identity: compare what it is made of
        holidays = tuple((h.country, h.subdivision) for h in s.excluded_holidays)
        return (s.expression, str(s.zone), s.duration, s.start_from, s.until,
                s.excluded_dates, holidays)  # fmt: skip
    return s


def fingerprint(calendar: Calendar) -> list[Any]:
    return [
        (e.name, e.line, e.scale, e.targets, e.timing, e.disabled, schedule_key(e))
        for e in calendar.events
    ] + [calendar.name, calendar.origin]


def lines_of(text: str) -> list[str]:
    return text.split("\n")


def event_bounds(text: str) -> list[int]:
    """Indexes of the lines that start an event (`  - name:`)."""
    return [i for i, line in enumerate(lines_of(text)) if line.startswith("  - name: ")]


def test_one_changed_event_is_read_alone_and_the_rest_reused() -> None:
    before = read(BASE)
    text = BASE.replace("scale: {replicas: 1}", "scale: {replicas: 9}", 1)
    assert text != BASE
    found = again(text, before)
    assert found is not None
    calendar, _, changed = found
    assert changed == 1
    assert fingerprint(calendar) == fingerprint(full(text))
    reused = sum(a is b for a, b in zip(calendar.events, before[0].events, strict=True))
    assert reused == len(calendar.events) - 1  # the very objects: expansions stay shared


def test_inserted_lines_move_the_events_after_them() -> None:
    before = read(BASE)
    lines = lines_of(BASE)
    at = event_bounds(BASE)[40]
    lines[at:at] = ["  # the spring campaign", "  - name: spring-drop", "    start: 2027-03-01T10:00",
                    "    duration: 2h", "    scale: {replicas: 30}", ""]  # fmt: skip
    text = "\n".join(lines)
    found = again(text, before)
    assert found is not None
    calendar, layout, changed = found
    assert changed == 2  # the new event, and the one before it (the comment is in its text)
    assert fingerprint(calendar) == fingerprint(full(text))
    assert calendar.events[200].line == before[0].events[199].line + 6
    # The new layout serves the next change as well.
    drop = "spring-drop\n    start: 2027-03-01T10:00\n    duration: 2h\n    scale: {replicas: 3"
    text2 = text.replace(drop + "0}", drop + "1}")
    found2 = again(text2, (calendar, layout))
    assert found2 is not None and found2[2] == 1
    assert fingerprint(found2[0]) == fingerprint(full(text2))


def test_a_removed_event_and_an_appended_one() -> None:
    before = read(BASE)
    lines = lines_of(BASE)
    bounds = event_bounds(BASE)
    del lines[bounds[10] : bounds[11]]
    text = "\n".join(lines).rstrip("\n") + (
        "\n  - name: last-minute\n    start: 2027-05-01T00:00\n    duration: 1h\n"
        "    scale: {factor: 2}\n"
    )
    found = again(text, before)
    assert found is not None
    assert fingerprint(found[0]) == fingerprint(full(text))


@pytest.mark.parametrize(
    ("description", "edit"),
    [
        ("a new default zone", lambda t: t.replace("timezone: Asia/Tokyo", "timezone: UTC", 1)),
        ("a new default lead", lambda t: t.replace("leadTime: 15m", "leadTime: 20m", 1)),
        (
            "an anchor and alias",
            lambda t: t.replace("scale: {replicas: 1}", "scale: &one {replicas: 1}", 1),
        ),
        ("a tab", lambda t: t.replace("duration: 1h", "duration:\t1h", 1)),
        ("Windows line ends", lambda t: t.replace("\n", "\r\n")),
        ("a repeated name", lambda t: t.replace("name: sale-000002", "name: sale-000001", 1)),
        ("a problem", lambda t: t.replace("duration: 1h", "duration: 1 hour", 1)),
        ("every event changed", lambda t: t.replace("    start: ", "    start:  ")),
        ("events in flow style", lambda t: t.replace("events:\n", "events: [\n", 1) + "]\n"),
        (
            "a like scale",
            lambda t: (
                t + "  - name: sized\n    start: 2027-11-01T00:00\n"
                "    duration: 1h\n    scale: {like: sale-000001}\n"
            ),
        ),
    ],
)
def test_what_is_read_in_full(description: str, edit: Any) -> None:
    before = read(BASE)
    text = edit(BASE)
    assert text != BASE, description
    assert again(text, before) is None


def test_a_calendar_with_like_scales_keeps_no_layout() -> None:
    text = (
        "version: 1\nevents:\n"
        "  - name: bf-2025\n    start: 2025-11-28T00:00\n    duration: 1d\n    scale: {replicas: 5}\n"
        "  - name: bf-2026\n    start: 2026-11-27T00:00\n    duration: 1d\n"
        "    scale: {like: bf-2025, growth: 1.2}\n"
    )
    assert layout_of(text, full(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        'version: 1\nevents: [{name: a, start: "2026-12-01T00:00", duration: 1h, scale: {replicas: 2}}]\n',
        '{"version": 1, "events": []}',
        "version: 1\nevents: []\n",
        "version: 1\n",
    ],
)
def test_layouts_only_for_block_lists(text: str) -> None:
    assert layout_of(text, full(text)) is None


def test_an_indentless_list_and_top_level_keys_after_it() -> None:
    text = (
        "version: 1\nevents:\n"
        "- name: a\n  start: 2026-12-01T00:00\n  duration: 1h\n  scale: {replicas: 2}\n"
        "# between\n"
        "- name: b\n  start: 2026-12-02T00:00\n  duration: 1h\n  scale: {replicas: 3}\n"
        "timezone: Europe/Berlin\n"
    )
    before = read(text)
    changed = text.replace("replicas: 3", "replicas: 4")
    found = again(changed, before)
    assert found is not None and found[2] == 1
    assert fingerprint(found[0]) == fingerprint(full(changed))
    # The trailer is context too: the zone after the list applies to every event.
    assert again(text.replace("Europe/Berlin", "Asia/Tokyo"), before) is None


def _edit(text: str, rng: random.Random) -> str:
    lines = lines_of(text)
    bounds = event_bounds(text)
    at = rng.choice(bounds)
    kind = rng.randrange(5)
    if kind == 0:  # change a value
        for i in range(at, len(lines)):
            if "replicas: " in lines[i] or "factor: " in lines[i]:
                lines[i] = (
                    lines[i].replace(": ", ": 1", 1)
                    if "replicas" in lines[i]
                    else (lines[i].replace("factor: ", "factor: 1", 1))
                )
                break
    elif kind == 1:  # insert an event
        name = f"new-{rng.randrange(10**6)}"
        lines[at:at] = [f"  - name: {name}", f"    start: 2027-0{rng.randint(1, 9)}-01T00:00",
                        "    duration: 90m", f"    scale: {{replicas: {rng.randint(1, 50)}}}"]  # fmt: skip
    elif kind == 2:  # remove an event
        nxt = next((b for b in bounds if b > at), len(lines) - 1)
        del lines[at:nxt]
    elif kind == 3:  # a comment, blank lines
        lines[at:at] = ["", "  # moved here", ""]
    else:  # disable an event
        lines.insert(at + 1, "    disabled: true")
    return "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), edits=st.integers(1, 6))
def test_any_chain_of_edits_reads_as_the_full_read(seed: int, edits: int) -> None:
    rng = random.Random(seed)
    text = generate(60, seed=seed % 50)
    state = read(text)
    for _ in range(edits):
        text = _edit(text, rng)
        try:
            expected = full(text)
        except CalendarError:
            assert again(text, state) is None  # the full read reports the problems
            continue
        found = again(text, state)
        if found is None:  # read in full, as the server then does
            layout = layout_of(text, expected)
            assert layout is not None
            state = (expected, layout)
            continue
        assert fingerprint(found[0]) == fingerprint(expected)
        state = (found[0], found[1])


def test_at_most_max_100_or_a_tenth_of_the_events_are_read_in_the_server() -> None:
    """The bound on what a change makes the server itself parse: up to MIN_CHANGED events
    (or a tenth of a larger calendar) are read alone; one more and the file is read in full
    (in a worker process)."""
    from scaler.calendar import incremental

    before = read(BASE)
    lines = lines_of(BASE)
    starts = event_bounds(BASE)

    def change(count: int) -> str:
        changed = list(lines)
        for at in starts[:count]:
            changed[at + 1] += "  # edited"  # the line after `- name:` (its start)
        return "\n".join(changed)

    assert len(starts) * incremental.MAX_CHANGED_SHARE < incremental.MIN_CHANGED
    found = again(change(incremental.MIN_CHANGED), before)
    assert found is not None and found[2] == incremental.MIN_CHANGED
    assert fingerprint(found[0]) == fingerprint(full(change(incremental.MIN_CHANGED)))
    assert again(change(incremental.MIN_CHANGED + 1), before) is None


# -- a calendar read in parts (several cores) ---------------------------------------------------


def in_parts(text: str, count: int) -> tuple[Calendar, Layout] | None:
    parts = [read_part(text, name="sales", origin=ORIGIN, index=k, count=count)
             for k in range(count)]  # fmt: skip
    if any(p is None for p in parts):
        return None
    return join([p for p in parts if p is not None], name="sales", origin=ORIGIN)


@pytest.mark.parametrize("count", [2, 3, 7])
def test_a_calendar_read_in_parts_is_the_full_read(count: int) -> None:
    calendar, layout = read(BASE)
    found = in_parts(BASE, count)
    assert found is not None
    assert fingerprint(found[0]) == fingerprint(calendar)  # lines included
    assert found[1] == layout  # so its next change is read from the changed events


def test_parts_read_the_zone_and_exclusions_after_the_list() -> None:
    text = (
        "version: 1\nevents:\n"
        + "".join(
            f"- name: s{i}\n  schedule: '0 21 * * *'\n  duration: 1h\n"
            f"  exclude: [year-end]\n  scale: {{replicas: {i + 2}}}\n\n# note\n"
            for i in range(9)
        )
        + "timezone: Europe/Berlin\nexclusions:\n  year-end: [2026-12-31]\n"
    )
    found = in_parts(text, 4)
    assert found is not None and fingerprint(found[0]) == fingerprint(full(text))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), edits=st.integers(0, 4), count=st.integers(2, 5))
def test_parts_read_any_edited_calendar_as_the_full_read_or_not_at_all(
    seed: int, edits: int, count: int
) -> None:
    rng = random.Random(seed)
    text = generate(40, seed=seed % 50)
    for _ in range(edits):
        text = _edit(text, rng)
    found = in_parts(text, count)
    try:
        expected = full(text)
    except CalendarError:
        assert found is None  # the full read gives the messages
        return
    if found is not None:
        assert fingerprint(found[0]) == fingerprint(expected)
        assert found[1] == layout_of(text, expected)


@pytest.mark.parametrize(
    ("description", "edit"),
    [
        ("a problem in the last part", lambda t: "duration: x".join(t.rsplit("duration: ", 1))),
        ("a name used in two parts", lambda t: t + "  - name: sale-000001\n"
                                           "    start: 2027-11-01T00:00\n    duration: 1h\n"
                                           "    scale: {replicas: 2}\n"),
        ("a like scale", lambda t: t + "  - name: sized\n    start: 2027-11-01T00:00\n"
                                       "    duration: 1h\n    scale: {like: sale-000001}\n"),
        ("fewer events than parts", lambda t: t[: t.index("\n  - name: ", t.index("- name: ")) + 1]),
    ],
)  # fmt: skip
def test_what_parts_leave_to_the_full_read(description: str, edit: Any) -> None:
    text = edit(BASE)
    assert text != BASE, description
    assert in_parts(text, 3) is None
    if description in ("a problem in the last part", "a name used in two parts"):
        with pytest.raises(CalendarError):  # the full read reports it, with its line
            full(text)
    else:
        full(text)  # a good calendar, only not one for parts
