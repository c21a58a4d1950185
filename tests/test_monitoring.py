"""deploy/monitoring: the alert rules under promtool, the dashboard's PromQL against a real
Prometheus, and the kustomize render.

`promtool test rules` runs tests/data/monitoring/alerts-test.yaml against the rule groups taken
from the PrometheusRule's spec (the file Prometheus would get from prometheus-operator). The
dashboard's queries run against a Prometheus holding series written here, shaped like the
scaler's /metrics and kube-state-metrics', so a renamed metric or a broken join fails here.
The PrometheusRule and ServiceMonitor CRD schemas are not vendored: their structure is checked
against the fields prometheus-operator's v1 schemas define (required ones, duration patterns,
string-valued labels), with unknown fields rejected.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.prometheus import PrometheusServer, Sample, start_prometheus
from tests.test_deploy import (
    BASE,
    K8S_VERSIONS,
    ROOT,
    Obj,
    _kubernetes_validate,
    _one,
    _render,
    _tool,
)

MONITORING = ROOT / "deploy" / "monitoring"
ALERT_TESTS = Path(__file__).resolve().parent / "data" / "monitoring" / "alerts-test.yaml"
DASHBOARD = MONITORING / "dashboard.json"

ALERTS = {
    "CalendarScalerCalendarNotLoaded",
    "CalendarScalerWorkloadError",
    "CalendarScalerSourceStale",
    "CalendarScalerSourceFailingBeforeSale",
    "CalendarScalerStateNotWritten",
    "CalendarScalerPeaksFailing",
    "CalendarScalerGrpcErrors",
    "CalendarScalerSlow",
    "CalendarScalerDown",
    "CalendarScalerFloorNotReached",
    "CalendarScalerLeadFloorNotReached",
}

_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": _STRINGS,
        "annotations": _STRINGS,
    },
}
PROMETHEUS_RULE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["alert", "expr"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "expr": {"type": "string"},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "labels": _STRINGS,
                                        "annotations": _STRINGS,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _STRINGS},
                },
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def rendered() -> tuple[Obj, ...]:
    return _render(MONITORING)


def _rule(rendered: tuple[Obj, ...]) -> Obj:
    return _one(rendered, "PrometheusRule")


def _rule_file(rendered: tuple[Obj, ...], directory: Path) -> Path:
    """The PrometheusRule's groups as the rule file prometheus-operator hands Prometheus."""
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": _rule(rendered)["spec"]["groups"]}))
    return path


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    promtool = _tool("promtool", "Debian package prometheus: make system-deps")
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


def _alerts(rendered: tuple[Obj, ...]) -> dict[str, Obj]:
    return {r["alert"]: r for g in _rule(rendered)["spec"]["groups"] for r in g["rules"]}


# --------------------------------------------------------------------------- rules


def test_rules_are_the_documented_alerts(rendered: tuple[Obj, ...]) -> None:
    assert set(_alerts(rendered)) == ALERTS


def test_readme_lists_every_alert(rendered: tuple[Obj, ...]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What to alert on", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`(CalendarScaler\w+)`", section)) == ALERTS


def test_promtool_check_rules_passes(rendered: tuple[Obj, ...], tmp_path: Path) -> None:
    rules = _rule_file(rendered, tmp_path)

    proc = _promtool("check", "rules", str(rules), cwd=tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout


def test_promtool_unit_tests_of_the_alerts_pass(rendered: tuple[Obj, ...], tmp_path: Path) -> None:
    _rule_file(rendered, tmp_path)
    tests = tmp_path / ALERT_TESTS.name
    tests.write_text(ALERT_TESTS.read_text(encoding="utf-8"))

    proc = _promtool("test", "rules", tests.name, cwd=tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_fail_when_a_rule_is_wrong(
    rendered: tuple[Obj, ...], tmp_path: Path
) -> None:
    """The unit tests can fail: with the HPA join broken, the floor alerts never fire."""
    rules = _rule_file(rendered, tmp_path)
    rules.write_text(rules.read_text().replace("keda-hpa-(.+)", "keda-(.+)"))
    tests = tmp_path / ALERT_TESTS.name
    tests.write_text(ALERT_TESTS.read_text(encoding="utf-8"))

    proc = _promtool("test", "rules", tests.name, cwd=tmp_path)

    assert proc.returncode == 1
    assert "alertname: CalendarScalerFloorNotReached" in proc.stdout + proc.stderr
    assert "alertname: CalendarScalerLeadFloorNotReached" in proc.stdout + proc.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    document = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    firing: set[str] = set()
    silent: set[str] = set()
    for case in document["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else silent).add(check["alertname"])

    assert firing == ALERTS
    assert silent == ALERTS


def test_every_alert_has_a_severity_summary_and_description(rendered: tuple[Obj, ...]) -> None:
    for name, rule in _alerts(rendered).items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert set(rule["annotations"]) == {"summary", "description"}, name
        assert rule.get("for"), f"{name}: without `for`, one bad scrape pages someone"


# --------------------------------------------------------------------------- kustomize


def test_monitoring_renders_expected_objects(rendered: tuple[Obj, ...]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in rendered)
    assert kinds == [
        ("ConfigMap", "calendar-scaler-dashboard"),
        ("PrometheusRule", "calendar-scaler"),
        ("ServiceMonitor", "calendar-scaler"),
    ]
    for obj in rendered:
        assert obj["metadata"]["namespace"] == "keda"


def test_prometheus_operator_objects_have_the_crd_structure(rendered: tuple[Obj, ...]) -> None:
    from jsonschema import Draft7Validator

    for obj, schema in [
        (_rule(rendered), PROMETHEUS_RULE_SCHEMA),
        (_one(rendered, "ServiceMonitor"), SERVICE_MONITOR_SCHEMA),
    ]:
        errors = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in Draft7Validator(schema).iter_errors(obj)
        ]
        assert not errors, f"{obj['kind']}:\n" + "\n".join(errors)


def test_structure_check_rejects_a_misspelt_field(rendered: tuple[Obj, ...]) -> None:
    from jsonschema import Draft7Validator

    rule = json.loads(json.dumps(_rule(rendered)))
    rule["spec"]["groups"][0]["rules"][0]["fore"] = "5m"

    assert list(Draft7Validator(PROMETHEUS_RULE_SCHEMA).iter_errors(rule))


def test_service_monitor_scrapes_the_scaler_http_port_keeping_its_labels(
    rendered: tuple[Obj, ...],
) -> None:
    monitor = _one(rendered, "ServiceMonitor")["spec"]
    service = _one(_render(BASE), "Service")
    labels = service["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in monitor["selector"]["matchLabels"].items())
    ports = {p["name"] for p in service["spec"]["ports"]}
    [endpoint] = monitor["endpoints"]
    assert endpoint["port"] in ports and endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    # The workload's `namespace` label must not become `exported_namespace`: the joins need it.
    assert endpoint["honorLabels"] is True


def test_dashboard_configmap_is_for_the_grafana_sidecar(rendered: tuple[Obj, ...]) -> None:
    configmap = _one(rendered, "ConfigMap", "calendar-scaler-dashboard")
    for version in K8S_VERSIONS:
        _kubernetes_validate(configmap, version)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(key, text)] = configmap["data"].items()
    assert key.endswith(".json")
    assert json.loads(text) == json.loads(DASHBOARD.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- dashboard


def _dashboard() -> Obj:
    dashboard: Obj = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def _panels() -> list[Obj]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _queries() -> list[tuple[str, str]]:
    """(panel title, expr) of every target."""
    return [(p["title"], t["expr"]) for p in _panels() for t in p["targets"]]


def _substitute(expr: str, namespace: str = "shop", name: str = "storefront") -> str:
    """What Grafana sends for one selected workload (a single value needs no regex escaping)."""
    expr = expr.replace("$__rate_interval", "5m")
    return expr.replace("$namespace", namespace).replace("$name", name)


def test_dashboard_shape() -> None:
    dashboard = _dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "namespace", "name"}
    for panel in _panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    # One row of panels per workload.
    assert [p.get("repeat") for p in dashboard["panels"] if p["type"] == "row"] == [None, "name"]


T = 1795704600  # 2026-11-26T14:50:00Z, between black-friday's lead point and its start
WORKLOAD = {"metric": "sale-calendar", "job": "calendar-scaler"}
KSM = {"job": "kube-state-metrics"}


def _series() -> list[Sample]:
    """Half an hour of what the scaler (two replicas) and kube-state-metrics expose."""
    out: list[Sample] = []
    for k in range(31):
        at = float(T - 1800 + 60 * k)
        for instance in ("a", "b"):
            sf = {**WORKLOAD, "namespace": "shop", "name": "storefront", "instance": instance}
            co = {**WORKLOAD, "namespace": "shop", "name": "checkout", "instance": instance}
            cal = {"calendar": "sales", "job": "calendar-scaler", "instance": instance}
            out += [
                ("calendar_scaler_workload_replicas", sf, 30, at),
                ("calendar_scaler_workload_replicas", co, 60, at),
                ("calendar_scaler_workload_error", sf, 0, at),
                ("calendar_scaler_workload_next_start_timestamp_seconds", sf, T + 600, at),
                ("calendar_scaler_workload_next_lead_timestamp_seconds", sf, T - 300, at),
                ("calendar_scaler_workload_next_floor_replicas", sf, 30, at),
                ("calendar_scaler_calendar_loaded", cal, 1, at),
                ("calendar_scaler_calendar_loaded_from_state", cal, 0, at),
                ("calendar_scaler_calendar_events", cal, 4, at),
                ("calendar_scaler_calendar_active_events", cal, 1, at),
                ("calendar_scaler_calendar_next_event_start_timestamp_seconds", cal, T + 600, at),
                ("calendar_scaler_source_last_success_timestamp_seconds", cal, at - 30, at),
                ("calendar_scaler_source_last_attempt_failed", cal, 0, at),
                ("calendar_scaler_state_write_failed", cal, 0, at),
                ("calendar_scaler_source_errors_total",
                 {**cal, "reason": "timeout"}, float(k), at),
                ("calendar_scaler_grpc_requests_total",
                 {"method": "GetMetrics", "code": "UNAVAILABLE", "instance": instance}, 6.0 * k,
                 at),
            ]  # fmt: skip
        hpa = {**KSM, "namespace": "shop"}
        out += [
            ("kube_horizontalpodautoscaler_status_desired_replicas",
             {**hpa, "horizontalpodautoscaler": "keda-hpa-storefront"}, 20, at),
            ("kube_horizontalpodautoscaler_status_current_replicas",
             {**hpa, "horizontalpodautoscaler": "keda-hpa-storefront"}, 12, at),
            ("kube_horizontalpodautoscaler_status_desired_replicas",
             {**hpa, "horizontalpodautoscaler": "keda-hpa-checkout"}, 60, at),
            ("kube_horizontalpodautoscaler_status_current_replicas",
             {**hpa, "horizontalpodautoscaler": "keda-hpa-checkout"}, 60, at),
        ]  # fmt: skip
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One Prometheus for the dashboard tests: they only read it."""
    started = start_prometheus(tmp_path_factory.mktemp("prometheus"), _series())
    yield started
    started.stop()


def _query(server: PrometheusServer, expr: str) -> list[Obj]:
    """The series of a range query over the last 10 minutes; fails on any Prometheus error."""
    response = httpx.get(
        f"{server.url}/api/v1/query_range",
        params={"query": expr, "start": T - 600, "end": T, "step": 60},
        timeout=30,
    )
    body: Any = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
    result: list[Obj] = body["data"]["result"]
    return result


def _last(series: Obj) -> float:
    return float(series["values"][-1][1])


@pytest.mark.slow
def test_every_dashboard_query_parses_and_finds_the_series(server: PrometheusServer) -> None:
    empty = [f"{title}: {expr}" for title, expr in _queries()
             if not _query(server, _substitute(expr))]  # fmt: skip

    assert not empty, "queries that found nothing:\n" + "\n".join(empty)


@pytest.mark.slow
def test_dashboard_variables_list_the_workloads(server: PrometheusServer) -> None:
    found = {}
    for variable in _dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["query"]["query"]
        selector, label = match.groups()
        found[variable["name"]] = {s["metric"][label] for s in
                                   _query(server, _substitute(selector, namespace=".*"))}  # fmt: skip

    assert found == {"namespace": {"shop"}, "name": {"storefront", "checkout"}}


@pytest.mark.slow
def test_workload_panels_show_floor_hpa_and_next_sale_of_that_workload_only(
    server: PrometheusServer,
) -> None:
    panels = {p["title"]: p for p in _panels()}

    def values(title: str) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for target in panels[title]["targets"]:
            out[target["legendFormat"] or target["refId"]] = [
                _last(s) for s in _query(server, _substitute(target["expr"]))
            ]
        return out

    assert values("Floor and HPA replicas") == {
        "floor served": [30.0],
        "HPA desired": [20.0],
        "HPA current": [12.0],
        "next sale's floor": [30.0],
    }
    assert values("Next sale") == {
        "A": [(T - 300) * 1000.0],
        "B": [(T + 600) * 1000.0],
        "C": [30.0],
        "D": [0.0],
    }


@pytest.mark.slow
def test_calendar_panels_show_upcoming_events_and_source_health(server: PrometheusServer) -> None:
    panels = {p["title"]: p for p in _panels()}

    def values(title: str) -> list[list[float]]:
        return [
            [_last(s) for s in _query(server, _substitute(t["expr"]))]
            for t in panels[title]["targets"]
        ]

    assert values("Upcoming events") == [[(T + 600) * 1000.0], [1.0], [4.0]]
    assert values("Source health") == [[1.0], [0.0], [30.0], [0.0], [0.0]]
    # Only shop/storefront has a next sale; the HPA join keeps checkout out.
    assert values("Next sale per workload") == [
        [(T - 300) * 1000.0],
        [(T + 600) * 1000.0],
        [30.0],
        [12.0],
    ]
