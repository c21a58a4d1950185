"""The block-style reader gives exactly what libyaml's read gives, or steps aside (None)."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.gen_calendar import generate
from scaler.calendar import blockyaml
from scaler.calendar.yamlnodes import Map, Seq, YamlSyntaxError, load

ROOT = Path(__file__).resolve().parents[2]


def shape(value: Any) -> Any:
    """Everything `load` gives that a reader could get wrong: types, values, every line."""
    if isinstance(value, Map):
        return ("map", value.line, [(k, value.key_lines[k], shape(v)) for k, v in value.items()],
                len(value.key_lines))  # fmt: skip
    if isinstance(value, Seq):
        return ("seq", value.line, [(n, shape(v)) for n, v in zip(value.item_lines, value,
                                                                  strict=True)])  # fmt: skip
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return (type(value).__name__, value)


def check(text: str) -> Any:
    """The reader's answer, after checking that libyaml reads the same text the same way."""
    fast = blockyaml.read(text)
    if fast is not None:
        assert shape(fast) == shape(load(text)), text
    return fast


def test_the_example_and_generated_calendars_are_read_without_libyaml() -> None:
    texts = [p.read_text() for p in sorted((ROOT / "examples").glob("*.yaml"))]
    texts += [(ROOT / "scaler/examples/sales.yaml").read_text(), generate(2_000, seed=11)]
    for text in texts:
        assert check(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: -2\nc: +3\nd: 0x1f\ne: 0o17\nf: 017\ng: 1.5\nh: .5\ni: 1e3\nj: -.inf\nk: .nan",
        "a: true\nb: False\nc: yes\nd: off\ne: ~\nf: null\ng:\nh: 1_0\ni: 0b1\nj: 2026-12-01",
        "true: 1\nnull: 2\n1.0: 3\n~: 4\n07: 5\n1e3: 6",
        "name: sale #1\nnote: a#b\nurl: http://x/y?z=1#f\ntime: 12:30   # local",
        "a: 'it''s'  # c\nb: \"0 21 * * *\"\nc: ''\nd: \"\"\ne: '#'\nf: 'a: b'",
        "scale: {factor: 2.5}\nt: [a, b c, 'd', \"e\", -5, 1.5, true]\nx: []\ny: {}\nz: [a, b,]",
        "m: {a: [1, 2], b: {c: d}}\nn: [{a: 1}, [2, 3], {}]\no: {a: b,}",
        "events:\n- name: a\n  targets:\n  - labels: {tier: x}\n    namespace: shop\n  scale: 1",
        "events:\n  -\n    name: a\n  - name: b\n\n\n  # c\n  - [1]\n  - x",
        "a:\n  b:\n    c: 1\n  d:\n  - 1\n  -   - 2\ne: 3",
        "\n\n# leading comments\n  \na: 1   \n",
        "- a\n- b: 1\n  c: 2\n- - x",
        "a: 名前\nセール: [東京, 大阪]",
        "key with spaces: v\na:b: c\n-x: 1",
    ],
)
def test_values_and_lines_match_libyaml(text: str) -> None:
    check(text)


def test_what_it_takes_it_reads_and_what_it_does_not_it_leaves() -> None:
    taken = ["a: 1", "a: [1, 2]", "- a: 1\n  b: 2", "a: 'x' # c", "a:\n- 1"]
    for text in taken:
        assert check(text) is not None, text
    left = [
        "a: &x 1\nb: *x",
        "a: !!str 1",
        "a: |\n  x",
        "a: >\n  x",
        "? a\n: b",
        '"a": 1',
        'a: "x\\ty"',
        "a: b\n  c",
        "a: 'x\n  y'",
        "a: [1,\n  2]",
        "a: {b:c}",
        "a: [a: b]",
        "a: {b}",
        "a: {b: }",
        "a: b: c",
        "a: x:",
        "a: 1\na: 2",
        "a:\n\tb: 1",
        "a: 1\r\nb: 2",
        "---\na: 1",
        "%YAML 1.2\n---\na: 1",
        "{a: 1}",
        "[1]",
        "just text",
        "",
        "# only",
        "a:\n  b: 1\n c: 2",
        "a:\n    b: 1\n  c: 2",
        "- a\n  b",
        "-\n- a",
        "a: - b",
        "- - a",
        "a: [a #b]",
        "a: {a: b #c}",
        "a: 'x'y",
        "a: [1] x",
        "\ufeffa: 1",
        "a: \x85",
        "a: @x",
        "x" * 1001 + ": 1",
        "a: [,]",
        "a: [-]",
        "a:\n  - b\n c: 1",
    ]
    for text in left:
        assert check(text) is None, text


_TOKENS = [
    "a", "b", "name", "x y", "1", "-1", "0x1", "1.5", "1e3", ".5", "true", "no", "~", "null",
    "2026-12-01", "12:30", "a:b", "a#b", "-a", "it's", "'q'", '"q"', "''", "[]", "{}",
    "[a, b]", "{a: 1}", "[a, [b]]", "{a: {b: c}}", "[a,]", "&a", "*a", "!t", "|", ">", "?",
    "#c", " #c", ":", "-", ",", "[", "}", "@", "`", "%", "\\", "名",
]  # fmt: skip


@st.composite
def documents(draw: st.DrawFn) -> str:
    """Block-style YAML as people write it, then a few edits that may break it anywhere."""
    lines: list[str] = []

    def node(indent: int, depth: int) -> None:
        kind = draw(st.sampled_from(["map", "seq"]))
        for _ in range(draw(st.integers(1, 3))):
            pad = " " * indent
            value = draw(st.sampled_from(_TOKENS)) if depth >= 2 or draw(st.booleans()) else None
            if kind == "map":
                key = draw(st.sampled_from(["a", "b", "name", "k k", "1", "true", "a:b", "-k"]))
                lines.append(f"{pad}{key}:" + (f" {value}" if value is not None else ""))
            else:
                lines.append(f"{pad}-" + (f" {value}" if value is not None else ""))
            if value is None:
                if draw(st.integers(0, 5)) == 0:
                    lines.append(draw(st.sampled_from(["", "# c", "   # c"])))
                step = draw(st.sampled_from([0, 1, 2, 4])) if kind == "map" else 2
                node(indent + step, depth + 1)

    node(0, 0)
    text = "\n".join(lines)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "indent"]))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from([*_TOKENS, " ", "\n", ": ", "- "])) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 3)) :]
        else:
            start = text.rfind("\n", 0, at) + 1
            text = text[:start] + " " * draw(st.integers(1, 3)) + text[start:]
    return text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_random_documents_read_as_libyaml_reads_them(text: str) -> None:
    fast = blockyaml.read(text)
    if fast is None:
        return
    try:
        expected = load(text)
    except YamlSyntaxError as exc:  # the reader took a text libyaml refuses
        raise AssertionError(
            f"libyaml refuses it ({exc}) but the reader read it: {text!r}"
        ) from exc
    assert shape(fast) == shape(expected), text


def test_random_documents_mostly_take_the_fast_path() -> None:
    """Not a vacuous check: well-formed block documents are read by the reader."""
    rng = random.Random(5)
    read = 0
    for _ in range(200):
        rows = [f"k{i}: {rng.choice(['1', 'a b', '[x, 2]', '{f: 1.5}', 'true'])}"
                for i in range(rng.randint(1, 9))]  # fmt: skip
        read += check("\n".join(rows)) is not None
    assert read == 200


def test_edits_of_a_real_calendar_read_as_libyaml_reads_them() -> None:
    """Random small edits (characters YAML cares about, deletions, indentation) of a generated
    calendar: whatever the reader takes, it reads as libyaml does (a local run of 30,000
    such edits: ~7,800 taken, 0 differences)."""
    base = generate(40, seed=3)
    alphabet = [*" :#-'\"[]{},&*!|>%@`?\\\t\r~.0123456789abcTF名😀\u2028\x85\ufeff", "\n",
                ": ", "- ", " #", "\n  ", "\n    ", "''", '""', "{}", "[]", "null", "1e3",
                "0x1f", "2026-12-01", "12:30"]  # fmt: skip
    rng = random.Random(8)
    taken = 0
    for _ in range(600):
        text = base
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text))
            roll = rng.random()
            if roll < 0.6:
                text = text[:at] + rng.choice(alphabet) + text[at:]
            elif roll < 0.9:
                text = text[:at] + text[at + rng.randint(1, 4) :]
            else:
                start = text.rfind("\n", 0, at) + 1
                text = text[:start] + " " * rng.randint(1, 3) + text[start:]
        fast = blockyaml.read(text)
        if fast is None:
            continue
        taken += 1
        try:
            expected = load(text)
        except YamlSyntaxError as exc:
            raise AssertionError(f"libyaml refuses it ({exc}): {text!r}") from exc
        assert shape(fast) == shape(expected), text
    assert taken > 100


def test_nesting_past_the_interpreters_depth_is_left_to_libyaml() -> None:
    """A calendar controls how deep it nests: the reader never fails on it, it steps aside
    (libyaml's read then says what is wrong)."""
    deep_flow = "a: " + "[" * 5000 + "]" * 5000
    deep_block = "\n".join(" " * i + f"k{i}:" for i in range(3000)) + " 1"
    for text in (deep_flow, deep_block):
        assert blockyaml.read(text) is None
    with pytest.raises(YamlSyntaxError):
        load(deep_flow)
