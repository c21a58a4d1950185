"""`plan` and `simulate` with --prometheus against a real Prometheus (SPEC section 9)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scaler.calendar.timefmt import format_instant
from scaler.cli import main
from tests.history.support import LAST_END, LAST_START, hpa, sales
from tests.prometheus import PrometheusServer, start_prometheus

TARGETS = """\
    targets:
      - name: web
      - name: edge
      - name: nohist
      - name: cart
        scale: {like: black-friday-2025, growth: 1.1}
      - name: frac
        scale: {like: black-friday-2025}
      - name: checkout
        scale: {replicas: 60}
"""

HISTORY = [
    hpa("web", 10, LAST_START),
    hpa("web", 47, LAST_START + 3 * 3600),
    hpa("web", 30, LAST_START + 86400),
    hpa("cart", 50, LAST_START + 600),
    hpa("frac", 47.5, LAST_START + 600),
    # The window's edges: instants S' + 60k < E'. A sample at E' is never seen; one at S' is.
    hpa("edge", 99, LAST_START - 3600),
    hpa("edge", 30, LAST_START),
    hpa("edge", 90, LAST_END),
    hpa("checkout", 500, LAST_START + 600),  # its target sets replicas: never asked
]


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server: PrometheusServer = start_prometheus(tmp_path_factory.mktemp("prom"), HISTORY)
    yield server.url
    server.stop()


def plan_json(
    capsys: pytest.CaptureFixture[str], path: Path, name: str, *flags: str
) -> tuple[int, dict[str, object], str]:
    status = main(["plan", str(path), "--namespace", "shop", "--name", name,
                   "--from", "2026-11-27T12:00", "--hours", "1", "--format", "json", *flags])  # fmt: skip
    out, err = capsys.readouterr()
    return status, (json.loads(out) if out else {}), err


@pytest.fixture
def calendar_file(tmp_path: Path) -> Path:
    path = tmp_path / "sales.yaml"
    path.write_text(sales("{like: black-friday-2025, growth: 1.2, otherwise: {factor: 3}}",
                          TARGETS))  # fmt: skip
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "replicas", "text"),
    [
        pytest.param("web", 57, "47 at peak during black-friday-2025 x 1.2 = 57", id="peak-x-growth"),
        pytest.param("cart", 55, "50 at peak during black-friday-2025 x 1.1 = 55", id="exact-decimals"),
        pytest.param("frac", 48, "47.5 at peak during black-friday-2025 x 1 = 48", id="fractional-peak"),
        pytest.param("edge", 36, "30 at peak during black-friday-2025 x 1.2 = 36", id="window-edges"),
        pytest.param("nohist", 12, "no history during black-friday-2025; otherwise factor 3 = 12", id="otherwise"),
        pytest.param("checkout", 60, None, id="target-override"),
    ],
)  # fmt: skip
def test_plan_sizes_each_workload_from_its_peak(
    capsys: pytest.CaptureFixture[str], prometheus_url: str, calendar_file: Path,
    name: str, replicas: int, text: str | None,
) -> None:  # fmt: skip
    status, document, _ = plan_json(
        capsys, calendar_file, name, "--meta", "baseReplicas=4", "--prometheus", prometheus_url
    )

    assert 0 == status
    assert [replicas] == [p["replicas"] for p in document["points"]]  # type: ignore[attr-defined]
    texts = [h["text"] for h in document.get("history", [])]  # type: ignore[attr-defined]
    assert ([text] if text else []) == texts


@pytest.mark.slow
def test_no_history_without_otherwise_is_an_error_naming_event_and_query(
    capsys: pytest.CaptureFixture[str], prometheus_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(sales())

    status, _, err = plan_json(capsys, path, "nohist", "--prometheus", prometheus_url)

    assert 1 == status
    assert (
        "error: calendar 'sales' event 'black-friday-2026' is sized like 'black-friday-2025', "
        "but Prometheus has no history of shop/nohist during it (query "
        'max(kube_horizontalpodautoscaler_status_current_replicas{namespace="shop",'
        'horizontalpodautoscaler="keda-hpa-nohist"})); add otherwise:'
    ) in err


@pytest.mark.slow
def test_a_bad_history_query_shows_prometheus_error(
    capsys: pytest.CaptureFixture[str], prometheus_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(sales())

    status, _, err = plan_json(capsys, path, "web", "--prometheus", prometheus_url,
                               "--history-query", 'max(up{job="$name"')  # fmt: skip

    assert 1 == status
    assert "Prometheus refused the query 'max(up{job=\"web\"': bad_data: " in err
    assert "parse error" in err


def test_without_prometheus_a_like_event_without_otherwise_needs_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(sales())

    status, _, err = plan_json(capsys, path, "web")

    assert 1 == status
    assert "has no --prometheus; start it with --prometheus URL, or add otherwise:" in err


def test_without_prometheus_otherwise_applies(
    capsys: pytest.CaptureFixture[str], calendar_file: Path
) -> None:
    status, document, _ = plan_json(capsys, calendar_file, "web", "--meta", "baseReplicas=4")

    assert (0, [12]) == (status, [p["replicas"] for p in document["points"]])  # type: ignore[attr-defined]


def test_prometheus_down_with_otherwise_plans_the_otherwise(
    capsys: pytest.CaptureFixture[str], calendar_file: Path
) -> None:
    status, document, _ = plan_json(capsys, calendar_file, "web", "--meta", "baseReplicas=4",
                                    "--prometheus", "http://127.0.0.1:9")  # fmt: skip

    assert (0, [12]) == (status, [p["replicas"] for p in document["points"]])  # type: ignore[attr-defined]
    [history] = document["history"]  # type: ignore[misc]
    assert "failing" == history["state"]


@pytest.mark.slow
def test_simulate_sizes_the_event_from_the_peak(
    capsys: pytest.CaptureFixture[str], prometheus_url: str, calendar_file: Path
) -> None:
    status = main(["simulate", str(calendar_file), "--namespace", "shop", "--name", "web",
                   "--from", "2026-11-26T12:00", "--hours", "24", "--format", "json",
                   "--meta", "baseReplicas=4",
                   "--prometheus", prometheus_url])  # fmt: skip
    document = json.loads(capsys.readouterr().out)

    assert 2 == status  # no leadTime: late, whatever the size
    assert [("black-friday-2026", 57)] == [(e["event"], e["asked"]) for e in document["events"]]
    assert ["47 at peak during black-friday-2025 x 1.2 = 57"] == [
        h["text"] for h in document["history"]
    ]


README_HISTORY = [  # what the README's worked example says Prometheus holds (Tokyo times)
    hpa("storefront", 12, LAST_START - 9 * 3600 - 3600),
    hpa("storefront", 31, LAST_START - 9 * 3600 + 600),
    hpa("storefront", 47, LAST_START - 9 * 3600 + 5 * 3600),
    hpa("storefront", 20, LAST_START - 9 * 3600 + 86400),
    hpa("checkout", 9, LAST_START - 9 * 3600),
    hpa("checkout", 18, LAST_START - 9 * 3600 + 7200),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "meta", "expected"),
    [
        pytest.param("storefront", ["labels=tier=frontend"], 57, id="storefront"),
        pytest.param("checkout", [], 27, id="checkout"),
        pytest.param("search", ["labels=tier=frontend", "baseReplicas=4"], 12, id="search"),
    ],
)
def test_the_readme_example_gives_what_the_readme_says(
    capsys: pytest.CaptureFixture[str], prometheus: Any, name: str, meta: list[str],
    expected: int,
) -> None:  # fmt: skip
    server = prometheus(README_HISTORY)
    example = Path(__file__).parents[2] / "examples" / "black-friday-like.yaml"
    flags = [f for m in meta for f in ("--meta", m)]

    status = main(["plan", str(example), "--namespace", "shop", "--name", name, *flags,
                   "--from", "2026-11-26T15:00", "--hours", "1", "--format", "json",
                   "--prometheus", server.url])  # fmt: skip

    assert (0, [expected]) == (
        status,
        [p["replicas"] for p in json.loads(capsys.readouterr().out)["points"]],
    )


def test_a_referenced_event_not_over_is_not_asked_yet(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    now = int(time.time())
    path = tmp_path / "sales.yaml"
    path.write_text(
        "version: 1\nevents:\n"
        f"  - name: sale\n    start: {format_instant(now + 7200)}\n    duration: 1h\n"
        "    scale: {like: running, otherwise: {replicas: 3}}\n"
        f"  - name: running\n    start: {format_instant(now - 3600)}\n"
        f"    end: {format_instant(now + 3600)}\n    scale: {{replicas: 1}}\n"
    )

    status = main(["plan", str(path), "--from", format_instant(now + 7200), "--hours", "1",
                   "--format", "json", "--prometheus", "http://127.0.0.1:9"])  # fmt: skip
    document = json.loads(capsys.readouterr().out)

    assert (0, [3]) == (status, [p["replicas"] for p in document["points"]])
    assert (
        "peak during running pending: running ended less than 5 minutes ago; its peak is read "
        "then; otherwise replicas 3 = 3"
    ) == document["history"][0]["text"]
