"""`simulate --node-startup --free-pods --headroom` and `plan` of a headroom trigger, as run.

The hand-computed case of tests/readiness/test_nodes.py through the command line: 10
replicas at 10:00 with leadTime 5m, 2 running; the HPA syncs every second without a rate limit,
KEDA polls every second, pods start in 60 s, nodes in 300 s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaler.cli import main

CALENDAR = """\
version: 1
timezone: UTC
events:
  - name: launch
    start: 2026-12-05T10:00
    duration: 1h
    leadTime: 5m
    scale: {replicas: 10}
"""
RANGE = ["--from", "2026-12-05T09:00", "--to", "2026-12-05T12:00"]
QUICK = ["--min-replicas", "2", "--hpa-sync", "1s", "--polling-interval", "1s",
         "--pod-startup", "1m", "--scale-up-policy", "pods=1000,period=15s"]  # fmt: skip
NODES = ["--free-pods", "0", "--node-startup", "5m"]


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    path = tmp_path / "launch.yaml"
    path.write_text(CALENDAR)
    return path


def simulate(calendar_file: Path, *args: str) -> int:
    return main(["simulate", str(calendar_file), "--namespace", "shop", "--name", "web",
                 *RANGE, *QUICK, *args])  # fmt: skip


def row_of(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("launch"))


def test_no_free_pods_is_late_for_nodes_and_names_the_headroom_lead(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file, *NODES) == 2
    out = capsys.readouterr().out
    assert row_of(out).split()[3:6] == ["10", "2", "2026-12-05T10:01:00Z"]
    assert row_of(out).endswith("late by 1m for nodes: needs headroomLead 1m (or leadTime 6m)")
    assert "headroomLead 1m has every event late for nodes ready: --headroom 1m" in out
    assert "leadTime 6m has every late one ready: --meta leadTime=6m" in out
    assert "nodes: 0 free pods, a node 5m after a pod is pending; no headroom trigger" in out


def test_the_headroom_it_names_makes_it_ready(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file, *NODES, "--headroom", "1m") == 0
    out = capsys.readouterr().out
    assert row_of(out).endswith("ready")
    assert "a headroom trigger with headroomLead 1m" in out
    assert simulate(calendar_file, *NODES, "--headroom", "59s") == 2
    assert row_of(capsys.readouterr().out).endswith(
        "late by 1s for nodes: needs headroomLead 1m (or leadTime 5m1s)"
    )


def test_free_pods_enough_exit_0(calendar_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(calendar_file, "--free-pods", "8", "--node-startup", "5m") == 0
    assert simulate(calendar_file, "--free-pods", "7", "--node-startup", "5m") == 2


def test_node_startup_alone_changes_nothing_and_says_why(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file, "--node-startup", "5m", "--headroom", "1m") == 0
    assert "(--node-startup and --headroom need --free-pods N)" in capsys.readouterr().out


def test_json_carries_the_node_verdict(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file, *NODES, "--format", "json") == 2
    data = json.loads(capsys.readouterr().out)
    [event] = data["events"]
    assert (event["lateBecauseOfNodes"], event["recommendedHeadroomLead"]) == (True, "1m")
    assert (data["recommendedHeadroomLead"], data["recommendedLeadTime"]) == ("1m", "6m")
    assert (data["settings"]["freePods"], data["settings"]["nodeStartup"]) == (0, "5m")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--free-pods", "-1"], "--free-pods '-1': give a whole number", id="free-negative"
        ),
        pytest.param(["--node-startup", "soon"], "--node-startup 'soon'", id="node-startup-text"),
        pytest.param(["--headroom", "32d"], "between 0s and 31d", id="headroom-too-long"),
        pytest.param(
            ["--meta", "headroomFor=shop/web"], "give --headroom DURATION", id="meta-headroom"
        ),
    ],
)
def test_bad_node_flags_exit_1_naming_the_flag(
    calendar_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert simulate(calendar_file, *args) == 1
    assert message in capsys.readouterr().err


def test_plan_of_a_headroom_trigger_shows_the_placeholders(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", str(calendar_file), "--namespace", "shop", "--name", "web-room", *RANGE]
    assert main([*args, "--meta", "headroomFor=shop/web", "--meta", "headroomLead=15m"]) == 0
    out = capsys.readouterr().out
    assert "workload shop/web-room" in out
    assert [line.split() for line in out.splitlines()[3:]] == [
        ["2026-12-05T09:00:00Z", "0"],
        ["2026-12-05T09:40:00Z", "10", "launch"],
        ["2026-12-05T09:55:00Z", "0"],
    ]


def test_plan_of_a_headroom_trigger_gives_no_lead_time_advice(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", str(calendar_file), "--namespace", "shop", "--name", "web-room", *RANGE]
    assert main([*args, "--meta", "podStartup=3m"]) == 0
    assert "lead time:" in capsys.readouterr().out
    assert main([*args, "--meta", "podStartup=3m", "--meta", "headroomFor=shop/web"]) == 0
    assert "lead time:" not in capsys.readouterr().out
