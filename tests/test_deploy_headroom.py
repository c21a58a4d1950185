"""deploy/examples/headroom: placeholders for shop/storefront, validated like the other manifests.

kustomize renders the folder; Kubernetes' schemas (kubernetes-validate) check the PriorityClass
and the Deployment, KEDA's CRD schema the ScaledObject; the rest is what makes placeholders
work: a negative priority, pause pods without privileges, and a trigger calendar-scaler
accepts that carries storefront's own metadata.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scaler.calendar.workload import parse_metadata
from tests.test_deploy import (
    EXAMPLES,
    K8S_VERSIONS,
    _crd_schemas,
    _kubernetes_validate,
    _render,
    _strict,
)

HEADROOM = EXAMPLES / "headroom"
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def objs() -> dict[str, Obj]:
    return {o["kind"]: o for o in _render(HEADROOM)}


def _storefront_trigger() -> Obj:
    doc = yaml.safe_load((EXAMPLES / "scaledobject-external.yaml").read_text(encoding="utf-8"))
    trigger: Obj = next(t for t in doc["spec"]["triggers"] if t["type"] == "external")
    return trigger


def test_renders_a_priority_class_a_deployment_and_its_scaled_object(objs: dict[str, Obj]) -> None:
    assert sorted(objs) == ["Deployment", "PriorityClass", "ScaledObject"]
    kustomization = yaml.safe_load((HEADROOM / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in HEADROOM.glob("*.yaml")} - {"kustomization.yaml"}
    assert files == set(kustomization["resources"])


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_match_kubernetes_schemas(objs: dict[str, Obj], version: str) -> None:
    for kind in ("PriorityClass", "Deployment"):
        _kubernetes_validate(objs[kind], version)


def test_scaled_object_matches_the_keda_crd_schema(objs: dict[str, Obj]) -> None:
    from jsonschema import Draft7Validator

    obj = objs["ScaledObject"]
    validator = Draft7Validator(_strict(_crd_schemas()[(obj["apiVersion"], obj["kind"])]))
    assert [e.message for e in validator.iter_errors(obj)] == []


def test_placeholders_have_a_negative_priority_that_never_preempts(objs: dict[str, Obj]) -> None:
    priority = objs["PriorityClass"]
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    assert priority["value"] < 0
    assert (priority["preemptionPolicy"], priority["globalDefault"]) == ("Never", False)
    assert pod["priorityClassName"] == priority["metadata"]["name"]
    assert pod["terminationGracePeriodSeconds"] == 0


def test_placeholder_pods_are_pause_containers_without_privileges(objs: dict[str, Obj]) -> None:
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"].startswith("registry.k8s.io/pause:")
    assert pod["automountServiceAccountToken"] is False
    assert (pod["securityContext"]["runAsNonRoot"], pod["securityContext"]["seccompProfile"]) == (
        True,
        {"type": "RuntimeDefault"},
    )
    security = container["securityContext"]
    assert (security["privileged"], security["allowPrivilegeEscalation"]) == (False, False)
    assert (security["readOnlyRootFilesystem"], security["capabilities"]) == (
        True,
        {"drop": ["ALL"]},
    )
    assert "hostNetwork" not in pod and "volumes" not in pod


def test_placeholders_request_room_like_one_pod(objs: dict[str, Obj]) -> None:
    resources = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert resources["limits"]["memory"] == resources["requests"]["memory"]


def test_scaled_object_drives_the_placeholders_from_zero(objs: dict[str, Obj]) -> None:
    spec = objs["ScaledObject"]["spec"]
    deployment = objs["Deployment"]["metadata"]
    assert (spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"]) == (
        "Deployment",
        deployment["name"],
    )
    assert objs["ScaledObject"]["metadata"]["namespace"] == deployment["namespace"]
    assert spec["minReplicaCount"] == 0


def test_trigger_is_storefronts_metadata_plus_headroom_for_and_the_scaler_accepts_it(
    objs: dict[str, Obj],
) -> None:
    [trigger] = objs["ScaledObject"]["spec"]["triggers"]
    meta = trigger["metadata"]
    storefront = _storefront_trigger()["metadata"]
    assert trigger["type"] == "external"
    assert {k: v for k, v in meta.items() if not k.startswith("headroom")} == storefront
    workload = parse_metadata("shop", "storefront-headroom", meta)
    assert (workload.headroom_for, workload.headroom_lead) == (("shop", "storefront"), 600)
