"""The usual shape of a calendar file read without libyaml's node tree, or `None`.

libyaml composes a Python node (and two position marks) for every value, and PyYAML then
asks for each node's tag: at 10,000 events ~1 s of the ~1.5 s a full read took here. Calendars
are written in a small part of YAML: block mappings and sequences, one value per line (plain,
'single' or "double" quoted without escapes, or a one-line [flow] / {flow} collection), full-
line and trailing comments. `read` reads exactly that part, line by line, into the values
`yamlnodes.load` gives (Map and Seq with the same lines, scalars resolved by the same rules),
and answers `None` for anything else, so the caller reads the text with libyaml as before:

- characters a YAML reader may treat specially (tabs, line breaks other than \\n, control
  characters, a byte-order mark), documents markers and directives;
- anchors, aliases, tags, block scalars (`|`, `>`), `?` keys, quoted keys, escapes, a value
  or a flow collection that goes on to the next line, `:` or `#` inside a flow collection;
- anything YAML rejects (wrong indentation, `a: b: c`, a repeated key): libyaml's message
  and line are the ones users see.

So the output is always what the full read would give; the tests compare both on generated
documents. Pure: text in, values out.
"""

from __future__ import annotations

import re
from typing import Any

from scaler.calendar.yamlnodes import Map, Seq, plain_value

__all__ = ["read"]

# Anything outside printable ASCII, \n and the usual printable Unicode (libyaml's own set,
# without NEL, the line and paragraph separators and the byte-order mark), or a tab.
_ODD = re.compile(
    r"[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_ASCII_OK = b"\n" + bytes(range(0x20, 0x7F))  # the same set, for ASCII text: 4x faster


def _odd(text: str) -> bool:
    if text.isascii():
        return bool(text.encode().translate(None, _ASCII_OK))
    return _ODD.search(text) is not None


# A plain scalar may not start with an indicator (here, "-" only before a non-space).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
# A plain scalar inside a flow collection: stops at a flow indicator, ":" or "#".
_FLOW_PLAIN = re.compile(r"[^,\[\]{}:#]*")


class _Unusual(Exception):
    """The text leaves the part of YAML this reader knows: read it with libyaml."""


def read(text: str) -> Any:
    """The values `yamlnodes.load(text)` gives, or None when the text is unusual (above)."""
    if _odd(text):
        return None
    try:
        return _Reader(text).document()
    except (_Unusual, RecursionError):
        return None


class _Reader:
    __slots__ = ("at", "contents", "end", "indents", "keys", "numbers", "values")

    def __init__(self, text: str) -> None:
        self.indents: list[int] = []
        self.contents: list[str] = []
        self.numbers: list[int] = []  # 1-based line numbers
        for number, line in enumerate(text.split("\n"), 1):
            content = line.lstrip(" ")
            if not content or content[0] == "#":
                continue
            indent = len(line) - len(content)
            if (indent == 0 and content[:3] in ("---", "...")) or content[0] == "%":
                raise _Unusual
            self.indents.append(indent)
            self.contents.append(content.rstrip(" "))
            self.numbers.append(number)
        self.indents.append(-1)  # a last line, less indented than any: the end
        self.at = 0
        self.end = len(self.contents)
        # Keys and values repeat from event to event (`scale: {factor: 2}`): each text is read
        # once. A flow collection is kept as its parts, made into a new Map or Seq each time.
        self.keys: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def document(self) -> Any:
        if not self.end:
            raise _Unusual  # empty or comments only: libyaml says what that is
        value = self.block(self.indents[0], self.contents[0])
        if self.at != self.end:
            raise _Unusual  # a line outside the root collection: an error
        return value

    def block(self, indent: int, content: str) -> Any:
        """The collection starting at the current line, whose text is `content` at column
        `indent` (for the first key of a `- key: value` item, the column after "- ")."""
        if _is_item(content):
            return self.sequence(indent)
        return self.mapping(indent, content)

    def sequence(self, indent: int) -> Seq:
        indents, contents, numbers = self.indents, self.contents, self.numbers
        seq = Seq()
        seq.line = numbers[self.at]
        lines: list[int] = []
        seq.item_lines = lines
        while indents[self.at] == indent:
            content = contents[self.at]
            if not _is_item(content):
                break  # the mapping this sequence is a value of goes on
            rest = content[1:].lstrip(" ")
            if not rest:
                self.at += 1
                if indents[self.at] <= indent:
                    raise _Unusual  # an empty item
                lines.append(numbers[self.at])
                seq.append(self.block(indents[self.at], contents[self.at]))
                continue
            number = numbers[self.at]
            lines.append(number)
            if _is_item(rest):
                raise _Unusual  # `- - a`
            if _key_end(rest) >= 0:
                seq.append(self.mapping(indent + len(content) - len(rest), rest))
                continue
            seq.append(self.value(rest, number))
            self.at += 1
            if indents[self.at] > indent:
                raise _Unusual  # the value goes on to the next line
        if indents[self.at] > indent:
            raise _Unusual
        return seq

    def mapping(self, indent: int, content: str) -> Map:
        """A block mapping at column `indent`; its first key is `content` (on the current
        line), the next ones are the following lines at that column."""
        indents, contents, numbers, keys = self.indents, self.contents, self.numbers, self.keys
        mapping = Map()
        number = numbers[self.at]
        mapping.line = number
        key_lines: dict[str, int] = {}
        mapping.key_lines = key_lines
        while True:
            colon = _key_end(content)
            if colon < 0:
                raise _Unusual  # not a `key: value` line: a scalar or an error
            text = content[:colon]
            key = keys.get(text)
            if key is None:
                key = keys[text] = _key(text)
            if key in key_lines:
                raise _Unusual  # libyaml's reader names the repeated key
            key_lines[key] = number
            rest = content[colon + 1 :].lstrip(" ")
            self.at += 1
            following = indents[self.at]
            if rest and rest[0] != "#":
                mapping[key] = self.value(rest, number)
                if following > indent:
                    raise _Unusual  # the value goes on to the next line
            elif following > indent or (following == indent and _is_item(contents[self.at])):
                mapping[key] = self.block(following, contents[self.at])
                following = indents[self.at]
            else:
                mapping[key] = None
            if following != indent:
                break
            content, number = contents[self.at], numbers[self.at]
        if following > indent:
            raise _Unusual
        return mapping

    def value(self, rest: str, line: int) -> Any:
        """A value that is the rest of a line: a scalar or a one-line flow collection."""
        known = self.values.get(rest, _UNKNOWN)
        if known is _UNKNOWN:
            known = self.values[rest] = _value(rest)
        if type(known) is tuple:  # a flow collection's parts
            return _collection(known, line)
        return known


def _is_item(content: str) -> bool:
    """Whether a line's text (after its indentation) is a `- ` sequence entry."""
    return content[0] == "-" and (len(content) == 1 or content[1] == " ")


_UNKNOWN = object()


def _collection(parts: tuple[Any, ...], line: int) -> Any:
    kind, items, nested = parts
    collection: Any
    if kind == "seq":
        collection = Seq(_collection(v, line) if type(v) is tuple else v for v in items) if (
            nested) else Seq(items)  # fmt: skip
        collection.item_lines = [line] * len(items)
    else:
        collection = Map((k, _collection(v, line) if type(v) is tuple else v)
                         for k, v in items) if nested else Map(items)  # fmt: skip
        collection.key_lines = dict.fromkeys(collection, line)
    collection.line = line
    return collection


def _key_end(content: str) -> int:
    """Where the ": " (or a final ":") after a plain key is, or -1."""
    if content[0] in _INDICATORS:
        return -1  # a quoted, complex or flow key, an anchor, a tag: rare in calendars
    colon = content.find(": ")
    if colon < 0:
        colon = len(content) - 1 if content[-1] == ":" else -1
    return colon


def _key(text: str) -> str:
    if not text or text[-1] == " " or " #" in text or len(text) > 1000:
        raise _Unusual  # libyaml decides what these are
    value = plain_value(text)
    if type(value) is str:
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def _value(rest: str) -> Any:
    """A scalar, or a flow collection's parts (see _collection)."""
    first = rest[0]
    if first == "[" or first == "{":
        parts, end = _flow(rest, 0)
        _trailing(rest, end)
        return parts
    if first == '"' or first == "'":
        value, end = _quoted(rest, 0)
        _trailing(rest, end)
        return value
    if first in _INDICATORS and (first != "-" or len(rest) == 1 or rest[1] == " "):
        raise _Unusual  # an anchor, alias, tag, block scalar, `- x`, ...
    comment = rest.find(" #")
    if comment >= 0:
        rest = rest[:comment].rstrip(" ")
    if ": " in rest or rest[-1] == ":":
        raise _Unusual  # `a: b: c` is an error; libyaml words it
    return plain_value(rest)


def _trailing(rest: str, end: int) -> None:
    """After a quoted scalar or flow collection: nothing but spaces and a comment."""
    tail = rest[end:]
    if tail and not (tail[0] == " " and tail.lstrip(" ")[:1] in ("", "#")):
        raise _Unusual


def _quoted(text: str, at: int) -> tuple[str, int]:
    """The quoted scalar starting at `at`, and where it ends."""
    quote = text[at]
    if quote == '"':
        end = text.find('"', at + 1)
        if end < 0 or "\\" in text[at + 1 : end]:
            raise _Unusual  # goes on to the next line, or has escapes
        return text[at + 1 : end], end + 1
    parts = []
    start = at + 1
    while True:
        end = text.find("'", start)
        if end < 0:
            raise _Unusual
        parts.append(text[start:end])
        if text[end + 1 : end + 2] != "'":
            return "'".join(parts), end + 1
        start = end + 2


def _flow(text: str, at: int) -> tuple[tuple[str, tuple[Any, ...], bool], int]:
    """The parts of the flow collection opening at `at` ("seq" and its items, or "map" and
    its (key, value) pairs; a nested collection is its parts; whether there is one), and
    where it ends. One line
    only; no `:` keys without a space, no `?`, no single-pair mappings in sequences, no empty
    entries."""
    closing = "]" if text[at] == "[" else "}"
    items: list[Any] = []
    keys: set[str] = set()
    at = _skip(text, at + 1)
    while text[at : at + 1] != closing:
        if closing == "}":
            key, at = _flow_node(text, at, key=True)
            if text[at : at + 2] != ": ":
                raise _Unusual  # `{a}`, `{a:b}`, `{a: }` and the like
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in keys:
                raise _Unusual
            keys.add(key)
            value, at = _flow_node(text, _skip(text, at + 1), key=False)
            items.append((key, value))
        else:
            value, at = _flow_node(text, at, key=False)
            items.append(value)
        at = _skip(text, at)
        if text[at : at + 1] == ",":
            at = _skip(text, at + 1)
        elif text[at : at + 1] != closing:
            raise _Unusual
    values = items if closing == "]" else [value for _, value in items]
    nested = any(type(value) is tuple for value in values)
    return ("seq" if closing == "]" else "map", tuple(items), nested), at + 1


def _flow_node(text: str, at: int, *, key: bool) -> tuple[Any, int]:
    first = text[at : at + 1]
    if first in ("[", "{"):
        if key:
            raise _Unusual
        return _flow(text, at)
    if first in ('"', "'"):
        return _quoted(text, at)
    if not first or (first in _INDICATORS and (first != "-" or text[at + 1 : at + 2] in " ,]}")):
        raise _Unusual  # an empty entry, `- x`, `?`, an anchor, ...
    end = _FLOW_PLAIN.match(text, at).end()  # type: ignore[union-attr]
    if (
        end == len(text)
        or text[end] in "[{"
        or (text[end] in "#:" and not (key and text[end : end + 2] == ": "))
    ):
        raise _Unusual  # unclosed, `a[`, a comment, `a:b`, `a: b` in a sequence
    value = text[at:end].rstrip(" ")
    return plain_value(value), at + len(value)


def _skip(text: str, at: int) -> int:
    while text[at : at + 1] == " ":
        at += 1
    return at
