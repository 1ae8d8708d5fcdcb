"""What users of other charts expect, and the values the schema cannot relate to each other:
each option rendered with a real helm, validated, and checked where it lands."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.packaging.chart import CHART, PROFILES, pod_specs, render, run_helm

pytestmark = pytest.mark.integration


def template(*args: str) -> list[dict[str, Any]]:
    done = run_helm("template", "junction", str(CHART), "--namespace", "junction", *args)
    assert done.returncode == 0, done.stderr
    objects = [d for d in yaml.safe_load_all(done.stdout) if d]
    for obj in objects:
        kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
    return objects


def refused(*args: str) -> str:
    done = run_helm("template", "junction", str(CHART), *args)
    assert done.returncode != 0, "rendered, but should have been refused"
    return done.stderr


def test_an_existing_secret_keeps_passwords_out_of_the_release() -> None:
    objects = template(
        *PROFILES["production"][:2],
        "--set", "mailpit.smtp.host=smtp.example.org",
        "--set", "nats.auth.existingSecret=shop-nats",
    )  # fmt: skip
    assert not [o for o in objects if o["kind"] == "Secret"]
    for name, _, spec in pod_specs(tuple(objects)):
        for container in spec["containers"]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "shop-nats", name


def pod_annotations(objects: list[dict[str, Any]], name: str) -> dict[str, str]:
    obj = next(
        o for o in objects if o["metadata"]["name"] == name and "template" in o.get("spec", {})
    )
    annotations: dict[str, str] = obj["spec"]["template"]["metadata"].get("annotations", {})
    return annotations


@pytest.mark.parametrize("workload", ["junction-nats", "junction-orders"])
def test_pods_restart_when_the_nats_passwords_change(workload: str) -> None:
    before = pod_annotations(template(), workload)["checksum/nats-auth"]
    seed = pod_annotations(template("--set", "nats.auth.devPasswordSeed=other"), workload)
    given = pod_annotations(
        template("--set", "nats.auth.passwords.orders=abcdefghijklmnop1234"), workload
    )
    assert len({before, seed["checksum/nats-auth"], given["checksum/nats-auth"]}) == 3
    existing = ["--set", "nats.auth.existingSecret=s"]
    rotated = [*existing, "--set", "nats.auth.rotation=2026-11-30"]
    assert (
        pod_annotations(template(*existing), workload)["checksum/nats-auth"]
        != pod_annotations(template(*rotated), workload)["checksum/nats-auth"]
    )


def test_production_without_passwords_or_a_secret_is_refused_by_name() -> None:
    complaint = refused("--set", "nats.auth.devPasswordSeed=")
    assert "nats.auth.passwords.inventory is not set" in complaint
    assert "existingSecret" in complaint


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        (["--set", "nats.jetstreamReplicas=3"], "cannot exceed nats.replicas"),
        (["--set", "ingress.enabled=true"], "ingress.host is required"),
        (["-f", str(CHART / "values-production.yaml")], "mailpit.smtp.host is required"),
    ],
)
def test_values_that_cannot_work_together_are_refused(settings: list[str], complaint: str) -> None:
    args = list(settings)
    if "values-production.yaml" in " ".join(args):
        args += ["--set", "nats.auth.existingSecret=s"]
    assert complaint in refused(*args)


def test_without_mailpit_the_e2e_suite_is_not_given_a_mail_api() -> None:
    objects = template(
        "--set", "e2e.enabled=true", "--set", "mailpit.enabled=false",
        "--set", "mailpit.smtp.host=smtp.example.org",
    )  # fmt: skip
    job = next(o for o in objects if o["kind"] == "Job")
    names = {e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "JUNCTION_MAIL_API_URL" not in names and "JUNCTION_STOREFRONT_URL" in names


def test_every_pod_takes_the_placement_and_pull_secret_options() -> None:
    objects = template(
        "--set", "e2e.enabled=true",
        "--set", "pod.imagePullSecrets[0].name=regcred",
        "--set", "pod.nodeSelector.pool=shop",
        "--set", "pod.tolerations[0].key=dedicated",
        "--set", "pod.tolerations[0].operator=Exists",
        "--set", "pod.annotations.team=checkout",
        "--set", "extraEnv.TZ=UTC",
    )  # fmt: skip
    for name, _, spec in pod_specs(tuple(objects)):
        if name.startswith("Pod/"):
            continue
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], name
        assert spec["nodeSelector"] == {"pool": "shop"}, name
        assert spec["tolerations"][0]["key"] == "dedicated", name
    assert pod_annotations(objects, "junction-orders")["team"] == "checkout"
    orders = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "junction-orders"
    )
    env = orders["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "TZ", "value": "UTC"} in env


def test_the_storefront_can_have_an_ingress() -> None:
    objects = template(
        "--set", "ingress.enabled=true", "--set", "ingress.host=shop.example.org",
        "--set", "ingress.className=nginx", "--set", "ingress.tlsSecretName=shop-tls",
    )  # fmt: skip
    ingress = next(o for o in objects if o["kind"] == "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "junction-storefront"
    assert ingress["spec"]["tls"][0]["secretName"] == "shop-tls"


def nats_pod(profile: str) -> dict[str, Any]:
    sts = next(o for o in render(profile) if o["kind"] == "StatefulSet")
    spec: dict[str, Any] = sts["spec"]["template"]["spec"]
    return spec


def test_nats_is_probed_as_the_official_chart_probes_it() -> None:
    container = nats_pod("kind")["containers"][0]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz?js-server-only=true"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz?js-enabled-only=true"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GOMEMLIMIT"] == "230MiB"


def test_production_spreads_nats_one_pod_per_node() -> None:
    constraints = nats_pod("production")["topologySpreadConstraints"]
    by_key = {c["topologyKey"]: c for c in constraints}
    assert by_key["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert by_key["kubernetes.io/hostname"]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "junction",
        "app.kubernetes.io/instance": "junction",
        "app.kubernetes.io/component": "nats",
    }
    assert "topologySpreadConstraints" not in nats_pod("kind")


def test_dns_through_a_node_local_cache_and_nats_monitoring_through_the_api_server() -> None:
    objects = render("kind")
    dns = next(o for o in objects if o["metadata"]["name"] == "junction-allow-dns")
    cidrs = [
        t["ipBlock"]["cidr"] for rule in dns["spec"]["egress"] for t in rule["to"] if "ipBlock" in t
    ]
    assert cidrs == ["169.254.20.10/32"]
    monitoring = next(o for o in objects if o["metadata"]["name"] == "junction-nats-monitoring")
    assert monitoring["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8222}]


def test_production_keeps_traces_on_a_volume_with_badger() -> None:
    objects = render("production")
    claim = next(o for o in objects if o["kind"] == "PersistentVolumeClaim")
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    jaeger = next(
        o for o in objects if o["kind"] == "Deployment" and "jaeger" in o["metadata"]["name"]
    )
    assert jaeger["spec"]["strategy"] == {"type": "Recreate"}
    volumes = jaeger["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "traces",
        "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]},
    } in volumes
    config = next(
        o for o in objects if o["kind"] == "ConfigMap" and "jaeger" in o["metadata"]["name"]
    )
    assert "badger_store" in config["data"]["config.yaml"]
    assert not [o for o in render("kind") if o["kind"] == "PersistentVolumeClaim"]


def deployment_replicas(objects: list[dict[str, Any]]) -> dict[str, int]:
    return {
        o["metadata"]["name"]: o["spec"]["replicas"] for o in objects if o["kind"] == "Deployment"
    }


def test_switching_autoscaling_on_does_not_drop_the_replica_count() -> None:
    manual = deployment_replicas(template("--set", "services.orders.replicas=3"))
    scaled = deployment_replicas(
        template("--set", "services.orders.replicas=3", "--set", "autoscaling.enabled=true")
    )
    assert scaled["junction-orders"] == 3
    assert all(scaled[name] >= count for name, count in manual.items())


def test_the_storefront_reads_traces_from_jaeger_and_links_its_ui() -> None:
    objects = render("kind")
    storefront = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "junction-storefront"
    )
    env = {
        e["name"]: e.get("value")
        for e in storefront["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["JUNCTION_TRACE_QUERY_URL"] == "http://junction-jaeger:16686"
    assert env["JUNCTION_JAEGER_UI_URL"] == "http://localhost:16686"
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert {
        "junction-storefront-to-trace-query-egress",
        "junction-storefront-to-trace-query-ingress",
    } <= names
    orders = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "junction-orders"
    )
    assert "JUNCTION_TRACE_QUERY_URL" not in str(orders)
