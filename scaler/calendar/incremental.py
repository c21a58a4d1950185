"""A changed YAML calendar re-read from the events that changed, the others taken as they were.

Reading 10,000 events takes seconds of CPU here (libyaml's node tree, then every event
checked), while a GitOps change usually touches a few. A calendar written the usual way (block
style: `events:` at the top level, one `- ` item per event at one indentation) splits by its
text into a header (everything before the first event), one piece per event, and a trailer
(top-level keys after the list). What an event becomes depends only on its own text and on
the header and trailer (zone, defaults, exclusions), so when those are unchanged, an event
whose text is unchanged is the event read last time, moved to its new line; only the changed
pieces are read, all in one small document: the header, those pieces, the trailer. Anything
else and the whole calendar is read as before (`None`):

- a text the split does not understand (not block style, tabs, line breaks other than \\n,
  anchors or aliases, which tie one event's meaning to another's text);
- a different header or trailer, or more than a tenth of the events changed;
- any problem in the changed pieces (the full read gives the messages, in line order);
- `like` scales (they refer to other events' windows) or a repeated event name.

`layout_of` checks the split against a full read's events (one piece per event, each event's
line inside its piece) before anything is reused, so a piece is never mistaken for an event.

The same split reads a large calendar on several cores at once (`read_part`, then `join`):
part k is the header, blank lines in place of the events before its own, its share of the
events and the trailer, so every line keeps its number; what the parts read together is what
the full read gives. Anything a part cannot settle alone sends the calendar to the full read
(`None`): a problem anywhere (the full read gives the messages, in line order), `like` scales,
an event name used in two parts.
Pure: text in, calendar out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from scaler.calendar.model import Calendar, Event
from scaler.calendar.parsing import like_scales, parse_yaml_calendar
from scaler.errors import CalendarError

__all__ = [
    "Changes",
    "Layout",
    "Part",
    "apply",
    "changes",
    "join",
    "layout_of",
    "read_part",
    "reparse",
]

# Patterns start at a "\n" (fast to find) rather than at `^` (tried at every character).
_EVENTS = re.compile(r"\nevents:[ ]*(?:#[^\n]*)?(?=\n|$)")  # the top-level key, alone
_FIRST_ITEM = re.compile(r"(?:[ ]*(?:#[^\n]*)?\n)*( *)-(?: |\n|$)")  # after blanks, comments
_STAR = re.compile(r"[&*][^\s,\[\]{}]")  # may start an anchor or alias: see _anchors
# Line breaks YAML readers may count besides \n, and tabs: the split would count lines or
# indentation differently from libyaml.
_ODD = "\r\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # each looked for alone: 40x faster than a class
_DIGEST = 16
MAX_CHANGED_SHARE = 0.1  # beyond, reading the whole calendar (in a worker process) is better
MIN_CHANGED = 100  # ...but a small calendar may always change this many events


@dataclass(frozen=True, slots=True)
class Layout:
    """How a calendar's text was split when its events were read: one digest and first line
    per event, in the events' order, and the digest of the header and trailer."""

    context: bytes
    digests: bytes  # _DIGEST bytes per event
    starts: array[int]  # first line (1-based) of each event's piece

    def __len__(self) -> int:
        return len(self.starts)


@dataclass(frozen=True, slots=True)
class _Split:
    header: str
    pieces: list[str]
    starts: list[int]  # 1-based first line of each piece
    trailer: str
    header_lines: int

    def layout(self, lo: int = 0, hi: int | None = None) -> Layout:
        """The layout of the whole text, or of its events lo:hi (for `read_part`)."""
        context = hashlib.blake2b(self.header.encode(), digest_size=_DIGEST)
        context.update(b"\0" + self.trailer.encode())
        digests = b"".join(_digest(p) for p in self.pieces[lo:hi])
        return Layout(context.digest(), digests, array("I", self.starts[lo:hi]))


def _digest(piece: str) -> bytes:
    return hashlib.blake2b(piece.encode(), digest_size=_DIGEST).digest()


def _anchors(text: str) -> bool:
    """Whether `text` may hold an anchor or alias: a `&` or `*` that starts a node, at a
    line's start or after `- `, `: `, `? `, `[`, `{` or `,` (not `web-*` or `"*/5 * * * *"`).
    A false alarm only means the calendar is read whole."""
    for match in _STAR.finditer(text):
        at = match.start()
        if at and text[at - 1] not in " \n[{,":
            continue
        before = text[text.rfind("\n", 0, at) + 1 : at].rstrip(" ")
        if not before or before[-1] in "-:?[{,":
            return True
    return False


def _split(text: str) -> _Split | None:
    if any(odd in text for odd in _ODD) or _anchors(text):
        return None
    keys = list(_EVENTS.finditer("\n" + text))  # found at the "\n" before the line
    if len(keys) != 1:
        return None
    first = min(keys[0].end(), len(text))  # in text: where the line after `events:` starts
    item = _FIRST_ITEM.match(text, first)  # comments before the first event: in its piece
    if item is None:
        return None
    indent = len(item.group(1))
    # The list goes on while lines are deeper, blank, comments or its items; it ends at the
    # first other line (a top-level key, a document marker).
    over = re.compile(
        rf"\n(?! {{{indent + 1}}}|[ ]*(?:#[^\n]*)?(?:\n|$)| {{{indent}}}-(?: |\n|$))"
    ).search(text, item.end() - 1)
    end = len(text) if over is None else over.start() + 1
    item_at = re.compile(rf"\n {{{indent}}}-(?= |\n|$)")
    bounds = [first] + [m.start() + 1 for m in item_at.finditer(text, item.end() - 1, end)]
    bounds.append(end)
    header_lines = text.count("\n", 0, first)
    starts, line = [], header_lines + 1
    for a, b in itertools.pairwise(bounds):
        starts.append(line)
        line += text.count("\n", a, b)
    return _Split(
        header=text[:first],
        pieces=[text[a:b] for a, b in itertools.pairwise(bounds)],
        starts=starts,
        trailer=text[end:],
        header_lines=header_lines,
    )


def _lines(piece: str) -> int:
    return piece.count("\n") + (not piece.endswith("\n"))


def _likes(events: Sequence[Event]) -> bool:
    return any(like_scales(e) for e in events)


def _inside(events: Sequence[Event], starts: Sequence[int], pieces: Sequence[str]) -> bool:
    """One event per piece, each event's line inside its piece."""
    if len(events) != len(pieces):
        return False
    for event, start, piece in zip(events, starts, pieces, strict=True):
        if not start <= event.line < start + _lines(piece):
            return False
    return True


def layout_of(text: str, calendar: Calendar) -> Layout | None:
    """The layout of `calendar`, read in full from `text`; None when a later change of it
    must be read in full too."""
    split = _split(text)
    if split is None or _likes(calendar.events):
        return None
    return split.layout() if _inside(calendar.events, split.starts, split.pieces) else None


@dataclass(frozen=True, slots=True)
class Part:
    """The events of one part of a calendar's text (`read_part`), and their layout."""

    events: tuple[Event, ...]
    layout: Layout  # the whole text's context; the digests and starts of this part's events


def read_part(text: str, *, name: str, origin: str, index: int, count: int) -> Part | None:
    """The events of part `index` of `count` (consecutive events, as even as can be) read as
    the full read of `text` would read them; None when the calendar must be read in full."""
    split = _split(text)
    if split is None or len(split.pieces) < count:
        return None
    lo, hi = (len(split.pieces) * k // count for k in (index, index + 1))
    pieces = split.pieces[lo:hi]
    before = sum(piece.count("\n") for piece in split.pieces[:lo])  # all end with \n
    document = split.header + "\n" * before + "".join(pieces) + split.trailer
    try:
        events = parse_yaml_calendar(document, name=name, origin=origin).events
    except CalendarError:
        return None
    if _likes(events) or not _inside(events, split.starts[lo:hi], pieces):
        return None
    return Part(events, split.layout(lo, hi))


def join(parts: Sequence[Part], *, name: str, origin: str) -> tuple[Calendar, Layout] | None:
    """The calendar the parts of one text make (in order), and its layout; None when an
    event name is used in two parts (the full read reports it)."""
    events = tuple(itertools.chain.from_iterable(part.events for part in parts))
    if len({e.name for e in events}) != len(events):
        return None
    starts: array[int] = array("I")
    for part in parts:
        starts.extend(part.layout.starts)
    layout = Layout(parts[0].layout.context, b"".join(p.layout.digests for p in parts), starts)
    return Calendar(name=name, origin=origin, events=events), layout


@dataclass(frozen=True, slots=True)
class Changes:
    """A calendar's new text against the layout of the one in force, worked out from the two
    texts alone (so in a worker process, off the server's interpreter lock): `apply` makes
    the new calendar from the one in force."""

    layout: Layout  # of the new text
    reused: array[int]  # per event of the new text: the index of the event it repeats, or -1
    read: tuple[Event, ...]  # the events of the changed pieces, at their lines in the new text


def changes(text: str, *, name: str, origin: str, layout: Layout) -> Changes | None:
    """How `text` differs from the text `layout` is of; None: read it in full instead."""
    split = _split(text)
    if split is None:
        return None
    new = split.layout()
    if new.context != layout.context:
        return None
    known: dict[bytes, int] = {}
    for i in range(len(layout)):
        known.setdefault(layout.digests[i * _DIGEST : (i + 1) * _DIGEST], i)
    reused = array("i", (known.get(new.digests[i * _DIGEST : (i + 1) * _DIGEST], -1)
                         for i in range(len(split.pieces))))  # fmt: skip
    changed = [i for i, old in enumerate(reused) if old < 0]
    if len(changed) > max(MIN_CHANGED, MAX_CHANGED_SHARE * len(split.pieces)):
        return None
    read: list[Event] = []
    if changed:
        document = split.header + "".join(split.pieces[i] for i in changed) + split.trailer
        try:
            read = list(parse_yaml_calendar(document, name=name, origin=origin).events)
        except CalendarError:
            return None
        if len(read) != len(changed) or _likes(read):
            return None
    line = split.header_lines + 1  # where the next changed piece starts in `document`
    for k, i in enumerate(changed):
        moved = read[k].line - line + new.starts[i]
        if moved != read[k].line:
            read[k] = _at(read[k], moved)
        line += split.pieces[i].count("\n")
    return Changes(new, reused, tuple(read))


def apply(
    found: Changes, *, previous: Calendar, layout: Layout
) -> tuple[Calendar, Layout, int] | None:
    """The calendar of the new text: its unchanged events are those of `previous` (read from
    a text with `layout`), moved to their new lines. (calendar, its layout, events read), or
    None: read it in full instead."""
    if len(layout) != len(previous.events):
        return None
    events: list[Event] = []
    fresh = iter(found.read)
    starts = found.layout.starts
    for i, old in enumerate(found.reused):
        if old < 0:
            events.append(next(fresh))
            continue
        event = previous.events[old]
        moved = event.line - layout.starts[old] + starts[i]
        events.append(event if moved == event.line else _at(event, moved))
    if len({e.name for e in events}) != len(events):
        return None
    calendar = Calendar(name=previous.name, origin=previous.origin, events=tuple(events))
    return calendar, found.layout, len(found.read)


def reparse(
    text: str, *, name: str, origin: str, previous: Calendar, layout: Layout
) -> tuple[Calendar, Layout, int] | None:
    """`text` read as `parse_yaml_calendar` would, reusing the events of `previous` (read
    from a text with `layout`) whose text is unchanged: (calendar, its layout, events read).
    None: read it in full instead. `changes` then `apply`, in one place."""
    found = changes(text, name=name, origin=origin, layout=layout)
    return None if found is None else apply(found, previous=previous, layout=layout)


_OTHER_FIELDS = tuple(f.name for f in dataclasses.fields(Event) if f.name != "line")


def _at(event: Event, line: int) -> Event:
    """`dataclasses.replace(event, line=line)` in half the time (every event after an
    inserted line moves)."""
    return Event(line=line, **{name: getattr(event, name) for name in _OTHER_FIELDS})
