"""YAML (and JSON) read by YAML 1.2 core-schema rules, with the line of every value kept.

PyYAML speaks YAML 1.1, where `off` is a boolean and `2026-11-27` a date: here only
true/false are booleans and dates stay text until the calendar parses them. Numbers with a
fraction become Decimal, exactly as written, so `factor: 1.1` times 100 is 110.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar

import yaml

__all__ = ["Map", "Seq", "YamlSyntaxError", "load", "plain_value"]

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is 2-3x faster


class _Loader(_Base):  # type: ignore[misc]
    # Replaced, not extended: only YAML 1.2 core-schema resolvers (added below) apply.
    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}

    def resolve(self, kind: type, value: str | None, implicit: tuple[bool, bool]) -> str:
        """PyYAML's `BaseResolver.resolve` without path resolvers (there are none): the same
        answers in a third of the time. libyaml calls it for every node (10,000 events:
        ~200,000 calls)."""
        if kind is yaml.ScalarNode:
            if implicit[0]:  # plain (unquoted)
                assert value is not None
                for tag, regexp in _BY_FIRST.get(value[:1], _WILDCARD):
                    if regexp.match(value):
                        return tag
            return _STR
        return _SEQ if kind is yaml.SequenceNode else _MAP

    def descend_resolver(self, *args: Any) -> None:
        """Nothing to track without path resolvers."""

    def ascend_resolver(self, *args: Any) -> None:
        """Nothing to track without path resolvers."""


def _resolver(tag: str, pattern: str, first: str) -> None:
    _Loader.add_implicit_resolver(tag, re.compile(pattern, re.X), list(first))


_resolver("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN\x00")
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), None)
_resolver("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF")
_resolver("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789")
_resolver(
    "tag:yaml.org,2002:float",
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    "-+0123456789.",
)

_Resolvers = tuple[tuple[str, re.Pattern[str]], ...]
_WILDCARD: _Resolvers = tuple(_Loader.yaml_implicit_resolvers.get(None, ()))
# By first character, with the wildcard ones appended: what PyYAML's `resolve` builds per scalar.
_BY_FIRST: dict[str, _Resolvers] = {
    first: (*resolvers, *_WILDCARD)
    for first, resolvers in _Loader.yaml_implicit_resolvers.items()
    if first is not None
}
_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
assert not _Loader.yaml_path_resolvers


# Far beyond any real calendar (1000 events are ~20,000 values); alias bombs go far past it.
_MAX_VALUES = 1_000_000


class YamlSyntaxError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


class Map(dict[str, Any]):
    """A mapping that remembers its line and the line of each key."""

    __slots__ = ("key_lines", "line")
    line: int
    key_lines: dict[str, int]


class Seq(list[Any]):
    """A sequence that remembers its line and the line of each item."""

    __slots__ = ("item_lines", "line")
    line: int
    item_lines: list[int]


def plain_value(text: str) -> Any:
    """What an unquoted scalar `text` (non-empty, as libyaml hands it over) reads as."""
    for tag, regexp in _BY_FIRST.get(text[:1], _WILDCARD):
        if regexp.match(text):
            return _scalar(tag, text)
    return text


def _scalar(tag: str, text: str) -> Any:
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        if text.lower() not in ("true", "false"):  # `!!bool yes`: YAML 1.2 has no such boolean
            raise ValueError(text)
        return text.lower() == "true"
    if tag.endswith(":int"):
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 0) if text.startswith("0x") else int(text)
    if tag.endswith(":float"):
        lowered = text.lower().lstrip("+")
        if lowered in (".inf", "-.inf"):
            return Decimal("-Infinity" if lowered.startswith("-") else "Infinity")
        if lowered == ".nan":
            return Decimal("NaN")
        return Decimal(text)
    return text


def _check_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases make it recursive (`&a [*a]`) or expand it past
    _MAX_VALUES (a billion laughs: a few lines that expand to millions of values)."""
    sizes: dict[int, int] = {}  # collection node -> its expanded size
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise YamlSyntaxError(node.start_mark.line + 1, "an alias refers to a collection "
                                  "that contains it; write the values out")  # fmt: skip
        open_nodes.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else [
            n for pair in node.value for n in pair
        ]  # fmt: skip
        total = 1
        for child in children:
            total += size(child)
            if total > _MAX_VALUES:
                raise YamlSyntaxError(node.start_mark.line + 1, f"the document expands to more "
                                      f"than {_MAX_VALUES} values (aliases?); write it out "
                                      "plainly")  # fmt: skip
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


class _Shared(Exception):
    """A collection node met twice: the document uses aliases."""


def _convert(node: yaml.Node, seen: set[int] | None) -> Any:
    """Plain values, Map and Seq. `seen`: ids of the collections met so far, to stop at the
    first alias (_Shared); None once the aliases are known to be harmless."""
    if type(node) is yaml.ScalarNode:
        if node.tag == _STR:
            return node.value
        try:
            return _scalar(node.tag, node.value)
        except (ValueError, ArithmeticError) as exc:  # `!!int 1.5`, `!!float abc`
            raise YamlSyntaxError(
                node.start_mark.line + 1,
                f"{node.value!r} is not a valid {node.tag.replace('tag:yaml.org,2002:', '!!')}",
            ) from exc
    if seen is not None:
        if id(node) in seen:
            raise _Shared
        seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        seq = Seq(_convert(item, seen) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq
    if isinstance(node, yaml.MappingNode):
        mapping = Map()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, seen)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                key = str(key).lower() if isinstance(key, bool) else str(key)
            if key in mapping:
                raise YamlSyntaxError(line, f"key {key!r} appears twice in this mapping; keep one")
            mapping[key] = _convert(value_node, seen)
            mapping.key_lines[key] = line
        return mapping
    raise YamlSyntaxError(node.start_mark.line + 1, f"unsupported YAML node {node.tag}")


def _checked(root: yaml.Node) -> Any:
    """`_convert` after `_check_size`, as if the size check came first, but walking the tree
    once when there are no aliases (the usual case): a problem the conversion finds is
    reported only after the size check passed, and the first alias starts the check."""
    try:
        return _convert(root, set())
    except _Shared:
        _check_size(root)
        return _convert(root, None)
    except YamlSyntaxError:
        _check_size(root)
        raise


def load(text: str) -> Any:
    """Parse one YAML or JSON document into plain values, Map and Seq."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(line, f"not valid YAML/JSON: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"not valid YAML/JSON: {exc}") from exc
    except RecursionError as exc:
        raise YamlSyntaxError(1, "not valid YAML/JSON: nested too deeply") from exc
    if node is None:
        return None
    try:
        return _checked(node)
    except RecursionError as exc:
        raise YamlSyntaxError(1, "not valid YAML/JSON: nested too deeply") from exc
