"""`calendar-scaler simulate`, and the lead-time line of `plan`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaler.cli import example_calendar, main

# One sale at 10:00 UTC, full from 09:59. From 2 replicas the HPA's worst phase sees it at
# 09:59:14 (2 -> 6) and 09:59:29 (-> 10); with 60 s start-up all are ready at 10:00:29.
CALENDAR = """\
version: 1
timezone: UTC
events:
  - name: launch
    start: 2026-12-05T10:00
    duration: 1h
    leadTime: 1m
    scale: {replicas: 10}
"""
RANGE = ["--from", "2026-12-05T09:00", "--to", "2026-12-05T12:00"]


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    path = tmp_path / "launch.yaml"
    path.write_text(CALENDAR)
    return path


def simulate(calendar_file: Path, *args: str) -> int:
    return main(["simulate", str(calendar_file), "--namespace", "shop", "--name", "web",
                 *RANGE, "--min-replicas", "2", *args])  # fmt: skip


def test_late_event_exits_2_and_says_by_how_much(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file) == 2
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("launch"))
    assert row.split()[:6] == ["launch", "2026-12-05T10:00:00Z", "1m", "10", "2",
                               "2026-12-05T10:00:29Z"]  # fmt: skip
    assert row.endswith("late by 29s: needs leadTime 1m29s")
    assert "leadTime 1m29s has every late one ready: --meta leadTime=1m29s" in out


def test_enough_lead_time_exits_0(calendar_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate(calendar_file, "--meta", "leadTime=1m29s") == 0
    assert "all 1 event ready at the start" in capsys.readouterr().out


def test_pod_startup_comes_from_the_metadata_unless_the_flag_says(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file, "--meta", "podStartup=10s") == 0
    assert simulate(calendar_file, "--meta", "podStartup=10s", "--pod-startup", "1m") == 2


def test_json_is_one_documented_object(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate(calendar_file, "--format", "json") == 2
    data = json.loads(capsys.readouterr().out)
    assert (data["workload"], data["from"], data["to"], data["ok"]) == (
        "shop/web", "2026-12-05T09:00:00Z", "2026-12-05T12:00:00Z", False,
    )  # fmt: skip
    assert data["recommendedLeadTime"] == "1m29s"
    assert data["events"] == [
        {
            "event": "launch",
            "start": "2026-12-05T10:00:00Z",
            "end": "2026-12-05T11:00:00Z",
            "leadTime": "1m",
            "asked": 10,
            "readyAtStart": 2,
            "fullCapacityAt": "2026-12-05T10:00:29Z",
            "status": "late",
            "stuckAt": None,
            "lateBySeconds": 29,
            "recommendedLeadTime": "1m29s",
            "lateBecauseOfNodes": False,
            "recommendedHeadroomLead": None,
        }
    ]
    assert data["settings"]["scaleUp"] == {
        "policy": "pods=4,percent=100,period=15s",
        "stabilization": "0s",
    }
    first, *rest = data["timeline"]
    assert first == {"at": "2026-12-05T09:00:00Z", "asked": 0, "replicas": 2, "ready": 2}
    assert {"at": "2026-12-05T10:00:29Z", "asked": 10, "replicas": 10, "ready": 10} in rest


def test_a_scale_up_policy_flag_slows_the_jump(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2 pods a minute from 09:59:14: 4, 6, 8 at 10:01:14, 10 at 10:02:14; ready 10:03:14.
    assert simulate(calendar_file, "--scale-up-policy", "pods=2,period=1m", "--format", "json") == 2
    (row,) = json.loads(capsys.readouterr().out)["events"]
    assert (row["fullCapacityAt"], row["recommendedLeadTime"]) == ("2026-12-05T10:03:14Z", "4m14s")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--scale-up-policy", "pods=lots"], "--scale-up-policy", id="bad-policy"),
        pytest.param(["--max-replicas", "1"], "error: --min-replicas 2 is above --max-replicas 1",
                     id="min-above-max"),
        pytest.param(["--min-replicas", "5", "--max-replicas", "2"],
                     "error: --min-replicas 5 is above --max-replicas 2", id="min-5-above-max-2"),
        pytest.param(["--initial-replicas", "200"],
                     "error: --initial-replicas 200 must be between --min-replicas 2 and "
                     "--max-replicas 100", id="initial-outside"),
        pytest.param(["--hpa-sync", "soon"], "--hpa-sync", id="bad-duration"),
        pytest.param(["--tolerance", "ten"], "--tolerance", id="bad-tolerance"),
        pytest.param(["--baseline", "-1"], "--baseline", id="negative-baseline"),
        pytest.param(["--to", "2026-12-05T08:00"], "not after", id="empty-range"),
    ],
)  # fmt: skip
def test_bad_values_exit_1_naming_the_flag(
    calendar_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert simulate(calendar_file, *args) == 1
    assert message in capsys.readouterr().err


def test_tolerance_names_the_count_the_hpa_holds(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 10 / 8 = 1.25 is within a tolerance of 0.25: the HPA stays at 8.
    assert simulate(calendar_file, "--min-replicas", "8", "--tolerance", "0.25") == 2
    out = capsys.readouterr().out
    assert "stuck at 8: 10 is within the HPA tolerance" in out
    assert "raise minReplicaCount, or lower behavior.scaleUp.tolerance" in out.replace("\n", " ")


def test_example_calendar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["simulate", str(example_calendar()), "--namespace", "shop", "--name", "web",
                   "--meta", "labels=tier=frontend", "--meta", "baseReplicas=10",
                   "--from", "2026-11-26T14:00Z", "--hours", "3"])  # fmt: skip
    assert status in (0, 2)
    assert "black-friday" in capsys.readouterr().out


# -- plan's lead-time line --------------------------------------------------------------------


def plan(calendar_file: Path, *args: str) -> int:
    return main(["plan", str(calendar_file), *RANGE, *args])


def test_plan_with_pod_startup_recommends_a_lead_time(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # KEDA defaults: minReplicaCount 0, so activation waits up to 29 s (09:59:29), the HPA up
    # to 14 s more (1 -> 5 at 09:59:43, -> 10 at 09:59:58); ready 10:00:58: 1m + 58s.
    assert plan(calendar_file, "--meta", "podStartup=60s") == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("lead time: set leadTime to 1m58s: 1 of 1 events")


def test_plan_says_when_the_lead_time_is_enough(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(calendar_file, "--meta", "podStartup=60s", "--meta", "leadTime=1m58s") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("lead time: enough")


def test_plan_json_keeps_the_contract_shape_and_puts_the_line_on_stderr(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(calendar_file, "--meta", "podStartup=60s", "--format", "json") == 0
    captured = capsys.readouterr()
    assert set(json.loads(captured.out)) == {"workload", "from", "to", "points"}
    assert captured.err.startswith("lead time: set leadTime to 1m58s")


def test_plan_without_pod_startup_has_no_lead_time_line(
    calendar_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan(calendar_file) == 0
    assert "lead time" not in capsys.readouterr().out
