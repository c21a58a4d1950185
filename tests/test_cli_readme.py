"""The README's quick start and worked example, run as a newcomer runs them.

What the README prints after a command is what the command prints: the quick-start `query`
against the example calendar served as `make run` serves it (at instants the text names), the
worked example's `plan` outputs, the Makefile's hint, and the `simulate` synopses.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaler.cli import build_parser, example_calendar, main
from tests.serverthread import Clock, ServerThread

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README text from `## title` (or `### title`) to the next heading of its level."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", README, re.MULTILINE)
    assert match, f"README has no section {title!r}"
    rest = README[match.end() :]
    end = re.search(rf"^#{{1,{len(match[1])}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of `text` opened with ```language ("" for plain fences)."""
    found, current, opened = [], [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if opened is None:
                opened, current = line[3:].strip(), []
            else:
                if opened == language:
                    found.append("".join(current))
                opened = None
        elif opened is not None:
            current.append(line)
    return found


def command(text: str) -> list[str]:
    """A shell command written over lines joined with `\\`, as argv."""
    return shlex.split(text.replace("\\\n", " "))


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


QUICK_START = README[: README.index("\n## ")]
QUERY, PLAN = (command(b) for b in blocks(QUICK_START, "sh")[1:3])
(QUERY_OUTPUT,) = blocks(QUICK_START, "")


def test_makefile_hint_is_the_readme_command() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    (hint,) = re.findall(r'@echo "try: (.*)"', makefile)
    assert QUERY == command(hint.replace("$(BIN)", ".venv/bin"))


def test_quick_start_commands_are_a_query_and_a_plan_of_the_example() -> None:
    assert [".venv/bin/calendar-scaler", "query"] == QUERY[:2]
    assert [".venv/bin/calendar-scaler", "plan", "scaler/examples/sales.yaml"] == PLAN[:3]
    assert QUERY[2:] == PLAN[3:], "the plan is of the workload the query asks about"


CLOCK = Clock()


def test_examples_sales_is_the_calendar_shipped_in_the_package() -> None:
    """The README's examples/sales.yaml and the one `serve` falls back to are one calendar."""
    assert example_calendar().read_text() == (ROOT / "examples" / "sales.yaml").read_text()


@pytest.fixture(scope="module")
def example_server() -> Iterator[ServerThread]:
    """The example calendar under the name `serve` gives it, on a clock the test sets."""
    CLOCK.now = utc("2026-12-02T10:30")
    server = ServerThread({"example": example_calendar().read_text()}, clock=CLOCK)
    yield server
    server.stop()


def query_at(server: ServerThread, when: str, capsys: pytest.CaptureFixture[str]) -> str:
    CLOCK.now = utc(when)
    assert 0 == main([*QUERY[1:], "--address", server.address])
    return capsys.readouterr().out


def test_quick_start_query_prints_what_the_readme_shows_between_sales(
    example_server: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert QUERY_OUTPUT == query_at(example_server, "2026-12-02T10:30", capsys)


@pytest.mark.parametrize(
    ("when", "value"),
    [
        pytest.param("2026-12-02T10:30", "0", id="between-sales"),
        pytest.param("2027-06-15T10:30", "0", id="any-later-day-between-sales"),
        pytest.param("2026-12-02T10:58", "4", id="two-minutes-before-the-hour"),
        pytest.param("2027-06-15T14:09", "4", id="until-ten-past"),
        pytest.param("2026-12-02T11:35", "8", id="time-sale-ramp-starts-11-35"),
        pytest.param("2026-12-02T11:43", "40", id="time-sale-40-from-11-43"),
        pytest.param("2026-12-02T12:59", "40", id="time-sale-40-until-13-00"),
        pytest.param("2026-12-02T13:10", "0", id="released-by-13-10"),
        pytest.param("2026-12-24T12:00", "4", id="no-time-sale-on-24-december"),
        pytest.param("2027-01-11T12:00", "4", id="no-time-sale-on-coming-of-age-day"),
        pytest.param("2027-01-12T12:00", "40", id="time-sale-the-day-after"),
        pytest.param("2027-01-01T00:43", "20", id="new-year-drop-from-00-43"),
        pytest.param("2027-01-01T02:59", "20", id="new-year-drop-until-03-00"),
    ],
)
def test_quick_start_query_value_is_what_the_readme_says_for_that_moment(
    example_server: ServerThread, capsys: pytest.CaptureFixture[str], when: str, value: str
) -> None:
    lines = query_at(example_server, when, capsys).splitlines()
    assert QUERY_OUTPUT.splitlines()[:2] == lines[:2]
    assert f"value:     {value}  (replica floor the calendar asks for now)" == lines[2]
    assert f"active:    {'true' if value != '0' else 'false'}" == lines[3]


def test_quick_start_plan_runs_from_now(capsys: pytest.CaptureFixture[str]) -> None:
    assert 0 == main(PLAN[1:])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("workload shop/storefront, ")
    assert "AT (UTC)               REPLICAS  EVENTS" == lines[2]
    assert any("hourly-flash-sale" in line for line in lines[3:]), "a sale every hour"


WORKED = blocks(section("A worked example"), "console")


@pytest.mark.parametrize("block", WORKED, ids=[f"block-{i}" for i in range(len(WORKED))])
def test_worked_example_output_is_what_the_command_prints(
    block: str, capsys: pytest.CaptureFixture[str]
) -> None:
    head, _, shown = block.partition("\n" + "workload ")
    argv = command(head.removeprefix("$ "))
    assert "calendar-scaler" == argv[0]
    assert 0 == main(argv[1:])
    printed = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    assert ("workload " + shown).rstrip("\n").splitlines() == printed


def test_worked_example_has_the_outputs_it_explains() -> None:
    assert 3 == len(WORKED)


def _flags(text: str) -> set[str]:
    return set(re.findall(r"--[a-z][a-z-]*", text))


def test_simulate_synopses_agree_with_each_other_and_with_help() -> None:
    (detailed,) = [b for b in blocks(section("Will we be ready?"), "") if "simulate FILE" in b]
    (summary,) = [
        line for line in blocks(section("Command line"), "")[0].splitlines() if " simulate " in line
    ]
    head = "calendar-scaler simulate FILE [--namespace NS --name NAME --meta KEY=VALUE ...]"
    assert detailed.startswith(head)
    assert summary.startswith(head)
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command")
    simulate = subcommands.choices["simulate"]  # type: ignore[index]
    options = {o for a in simulate._actions for o in a.option_strings if o.startswith("--")}
    assert options - {"--help"} == _flags(detailed)


def test_query_help_shows_no_default_for_required_flags() -> None:
    parser = build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command")
    text = subcommands.choices["query"].format_help()  # type: ignore[index]
    namespace = next(line for line in text.splitlines() if line.strip().startswith("--namespace"))
    rest = text[text.index(namespace) :].split("--meta")[0]
    assert "default" not in rest, rest
