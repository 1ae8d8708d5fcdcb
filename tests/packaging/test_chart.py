"""The chart, rendered with a real helm: lint, Kubernetes schemas, and the policies every
pod must meet (Pod Security "restricted", probes, limits, network policies)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from junction_devtools import natsauth
from junction_devtools.platform import nats_server_binary
from tests.packaging.chart import (
    CHART,
    NATS_USERS,
    PROFILES,
    ROOT,
    memory_mib,
    pod_specs,
    render,
    run_helm,
)

pytestmark = pytest.mark.integration

KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_helm_lint_strict(profile: str) -> None:
    done = run_helm("lint", "--strict", str(CHART), *PROFILES[profile])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_object_validates_strictly(profile: str, version: str) -> None:
    for obj in render(profile):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            raise AssertionError(
                f"{obj['kind']}/{obj['metadata']['name']} on {version}: {err.message}"
            ) from err


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_pod_meets_pod_security_restricted(profile: str) -> None:
    for name, _, spec in pod_specs(render(profile)):
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, name
        assert isinstance(pod_sc.get("runAsUser"), int) and pod_sc["runAsUser"] > 0, name
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for c in containers(spec):
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, (name, c["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], (name, c["name"])
            assert not sc.get("capabilities", {}).get("add"), (name, c["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (name, c["name"])
            assert not sc.get("privileged"), (name, c["name"])
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, name


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_container_has_probes_requests_limits_and_a_pinned_image(profile: str) -> None:
    for name, _, spec in pod_specs(render(profile)):
        for c in containers(spec):
            image = c["image"]
            assert ":" in image.rsplit("/", 1)[-1], (name, image)
            assert not image.endswith(":latest"), (name, image)
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (name, kind)
            if name.startswith(("Deployment/", "StatefulSet/")):
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    assert probe in c, (name, probe)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_pod_is_selected_by_a_network_policy(profile: str) -> None:
    objects = render(profile)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if p["metadata"]["name"].endswith("default-deny")]
    assert len(deny) == 1 and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    for name, labels, _ in pod_specs(objects):
        selecting = [
            p
            for p in policies
            if all(labels.get(k) == v for k, v in p["spec"]["podSelector"]["matchLabels"].items())
        ]
        assert deny[0] in selecting, name
        assert any(
            "Egress" in p["spec"]["policyTypes"] and p["spec"].get("egress")
            for p in selecting
            if p is not deny[0]
        ), f"{name} may not send anywhere"


def test_each_http_edge_has_its_allow_policy() -> None:
    names = {o["metadata"]["name"] for o in render("kind") if o["kind"] == "NetworkPolicy"}
    for edge in (
        "storefront-to-orders",
        "storefront-to-inventory",
        "storefront-to-payments",
        "storefront-to-notifications",
        "orders-to-inventory",
        "nats-clients-to-nats",
        "services-to-otlp",
        "notifications-to-smtp",
    ):
        assert {f"junction-{edge}-egress", f"junction-{edge}-ingress"} <= names, edge
    assert "junction-inventory-to-orders-egress" not in names  # no such call


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_service_port_matches_a_container_port(profile: str) -> None:
    objects = render(profile)
    pods = pod_specs(objects)
    for svc in (o for o in objects if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        matching = [
            spec for _, labels, spec in pods if all(labels.get(k) == v for k, v in selector.items())
        ]
        assert matching, f"Service/{svc['metadata']['name']} selects no pod"
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            names = {
                p.get("name") for s in matching for c in s["containers"] for p in c.get("ports", [])
            }
            numbers = {
                p["containerPort"]
                for s in matching
                for c in s["containers"]
                for p in c.get("ports", [])
            }
            assert target in names | numbers, (svc["metadata"]["name"], target)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_shutdown_timings_add_up(profile: str) -> None:
    for obj in render(profile):
        if obj["kind"] != "Deployment" or not obj["metadata"]["name"].endswith(
            ("storefront", "orders", "inventory", "payments", "notifications")
        ):
            continue
        spec = obj["spec"]["template"]["spec"]
        container = spec["containers"][0]
        pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        drain = float(env["JUNCTION_SHUTDOWN_GRACE_SECONDS"])
        assert pre_stop + drain < spec["terminationGracePeriodSeconds"], obj["metadata"]["name"]
        assert {"K8S_POD_NAME", "K8S_NAMESPACE_NAME", "K8S_NODE_NAME"} <= set(env)


def test_production_runs_a_three_node_jetstream_with_r3_and_budgets() -> None:
    objects = render("production")
    nats = next(o for o in objects if o["kind"] == "StatefulSet")
    assert nats["spec"]["replicas"] == 3
    config = next(
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "junction-nats"
    )["data"]["nats.conf"]
    assert "cluster {" in config and config.count("nats://junction-nats-") == 3
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("orders"):
            env = {
                e["name"]: e.get("value")
                for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]
            }
            assert env["JUNCTION_JS_REPLICAS"] == "3"
    kinds = [o["kind"] for o in objects]
    assert kinds.count("HorizontalPodAutoscaler") == 5
    assert kinds.count("PodDisruptionBudget") == 6  # five services and NATS


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("services.orders.replicas=many", "replicas"),
        ("image.tag=latest", "tag"),
        ("nats.replicas=2", "replicas"),
        ("services.orders.resources.limits.memory=lots", "memory"),
        ("telemetry.sampleRatio=2", "sampleRatio"),
        ("telemetry.sampleRatio=half", "sampleRatio"),
    ],
)
def test_the_values_schema_refuses_wrong_values(setting: str, complaint: str) -> None:
    done = run_helm("template", "junction", str(CHART), "--set", setting)
    assert done.returncode != 0
    assert complaint in done.stderr


@pytest.mark.parametrize(("ratio", "rendered"), [(None, "1"), ("0.05", "0.05"), ("0", "0")])
def test_every_service_gets_the_sampling_ratio(ratio: str | None, rendered: str) -> None:
    extra = ["--set", f"telemetry.sampleRatio={ratio}"] if ratio is not None else []
    done = run_helm("template", "junction", str(CHART), *extra)
    assert done.returncode == 0, done.stderr
    objects = [d for d in yaml.safe_load_all(done.stdout) if d]
    services = [
        o
        for o in objects
        if o["kind"] == "Deployment" and "JUNCTION_TELEMETRY_SAMPLE_RATIO" in str(o)
    ]
    assert len(services) == 5
    for deployment in services:
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["JUNCTION_TELEMETRY_SAMPLE_RATIO"] == rendered


@pytest.mark.parametrize("name", ["jaeger.yaml", "jaeger-badger.yaml"])
def test_jaeger_config_in_the_chart_is_the_observability_one(name: str) -> None:
    assert (CHART / "files" / name).read_text() == (ROOT / "observability" / name).read_text()


def total_memory_mib(profile: str) -> float:
    """Memory limits of everything that runs (workloads times replicas, HPAs at minimum)."""
    objects = render(profile)
    hpa_min = {
        o["spec"]["scaleTargetRef"]["name"]: o["spec"]["minReplicas"]
        for o in objects
        if o["kind"] == "HorizontalPodAutoscaler"
    }
    total = 0.0
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name = obj["metadata"]["name"]
        replicas = obj["spec"].get("replicas", hpa_min.get(name, 1))
        spec = obj["spec"]["template"]["spec"]
        total += replicas * sum(
            memory_mib(c["resources"]["limits"]["memory"]) for c in containers(spec)
        )
    return total


def test_total_memory_limits(capsys: pytest.CaptureFixture[str]) -> None:
    totals = {profile: total_memory_mib(profile) for profile in PROFILES}
    with capsys.disabled():
        for profile, total in totals.items():
            line = f"\n{profile} profile: memory limits of everything running: {total:.0f} MiB"
            print(line)  # noqa: T201 (the figure the packaging issue asks to see)
    assert totals["kind"] <= 1536, "the kind profile should fit in 1.5 GiB"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_namespace_enforces_pod_security_restricted(version: str) -> None:
    namespace = yaml.safe_load((ROOT / "k8s" / "namespace.yaml").read_text())
    kubernetes_validate.validate(namespace, version, strict=True)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_e2e_job_is_granted_only_what_its_cases_use() -> None:
    objects = render("kind")
    role = next(o for o in objects if o["kind"] == "Role")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get", "delete"]}
    ]
    binding = next(o for o in objects if o["kind"] == "RoleBinding")
    job = next(o for o in objects if o["kind"] == "Job")
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"][0]["name"] == account == role["metadata"]["name"]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    # The services themselves get no API token at all.
    for name, _, spec in pod_specs(objects):
        if name.startswith("Deployment/"):
            assert spec["automountServiceAccountToken"] is False, name


@pytest.mark.parametrize("profile", list(PROFILES))
def test_the_nats_configuration_is_valid_for_a_real_nats_server(
    profile: str, tmp_path: Path
) -> None:
    conf = next(
        o
        for o in render(profile)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "junction-nats"
    )["data"]["nats.conf"]
    conf = conf.replace("/data/jetstream", str(tmp_path / "js")).replace(
        "/var/run/nats/nats.pid", str(tmp_path / "nats.pid")
    )
    (tmp_path / "nats.conf").write_text(conf)
    env = {"POD_NAME": "junction-nats-0", "PATH": os.environ.get("PATH", "")}
    env.update({f"{user.upper()}_NATS_PASSWORD": "x" * 20 for user in NATS_USERS})
    done = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(tmp_path / "nats.conf")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "authorization" in conf


def test_production_refuses_placeholder_passwords() -> None:
    done = run_helm("template", "junction", str(CHART), "-f", str(CHART / "values-production.yaml"))
    assert done.returncode != 0
    assert "still the placeholder CHANGE-ME" in done.stderr


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_service_connects_as_its_own_nats_user(profile: str) -> None:
    objects = render(profile)
    secret = next(o for o in objects if o["kind"] == "Secret")
    assert set(secret["data"]) == set(NATS_USERS)
    for obj in objects:
        if obj["kind"] != "Deployment" or obj["metadata"]["name"].split("-", 1)[1] not in (
            "storefront",
            "orders",
            "inventory",
            "payments",
            "notifications",
        ):
            continue
        service = obj["metadata"]["name"].split("-", 1)[1]
        env = {e["name"]: e for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["JUNCTION_NATS_USER"]["value"] == service
        ref = env["JUNCTION_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == (secret["metadata"]["name"], service)


def test_the_charts_nats_permissions_are_the_platforms() -> None:
    shipped = json.loads((CHART / "files" / "nats-permissions.json").read_text())
    assert shipped == natsauth.chart_permissions()


def test_nats_jaeger_and_mailpit_can_each_be_replaced_by_existing_ones() -> None:
    done = run_helm(
        "template",
        "junction",
        str(CHART),
        "--namespace",
        "junction",
        "--set",
        "nats.enabled=false",
        "--set",
        "nats.url=nats://nats.shared:4222",
        "--set",
        "jaeger.enabled=false",
        "--set",
        "telemetry.otlpEndpoint=http://collector.observability:4317",
        "--set",
        "mailpit.enabled=false",
        "--set",
        "mailpit.smtp.host=smtp.example.org",
    )
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    components = {o["metadata"]["labels"].get("app.kubernetes.io/component") for o in objects}
    assert not components & {"nats", "jaeger", "mailpit"}
    env = {
        e["name"]: e.get("value")
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "junction-notifications"
        for e in o["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["JUNCTION_NATS_URL"] == "nats://nats.shared:4222"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.observability:4317"
    assert env["JUNCTION_SMTP_HOST"] == "smtp.example.org"
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
