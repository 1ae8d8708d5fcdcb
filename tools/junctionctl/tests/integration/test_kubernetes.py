"""junctionctl's Kubernetes-facing code against a stand-in API server over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tools.junctionctl.tests.integration.fake_kube import (
    Cluster,
    FakeKube,
    deployment,
    job,
    pod,
    pod_template,
)
from typer.testing import CliRunner

from junctionctl.cli import app

pytestmark = pytest.mark.integration

runner = CliRunner()

JSZ = {
    "account_details": [
        {
            "stream_detail": [
                {
                    "name": "ORDERS",
                    "state": {"messages": 12},
                    "consumer_detail": [
                        {
                            "name": "notifications-OrderCreated",
                            "num_pending": 0,
                            "num_ack_pending": 1,
                            "num_redelivered": 2,
                            "config": {"durable_name": "notifications-OrderCreated"},
                        }
                    ],
                },
            ]
        }
    ]
}


@pytest.fixture
def cluster() -> Cluster:
    labels = {"app.kubernetes.io/part-of": "junction", "junction.io/e2e": "true"}
    c = Cluster(jsz=JSZ)
    c.deployments = [deployment("junction-orders", "junction", 2, 1)]
    c.pods = [
        pod(
            "junction-orders-1",
            "junction",
            "Running",
            {"app.kubernetes.io/part-of": "junction"},
            restarts=3,
        )
    ]
    c.jobs["junction-e2e"] = job("junction-e2e", "junction", labels, pod_template("e2e"))
    return c


@pytest.fixture
def kube(cluster: Cluster, tmp_path: Path) -> Iterator[FakeKube]:
    with FakeKube(cluster, tmp_path) as fake:
        yield fake


def test_status_lists_workloads_pods_and_consumers(kube: FakeKube) -> None:
    result = runner.invoke(
        app, ["status", "--kubeconfig", str(kube.kubeconfig)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "junction-orders" in result.output and "1/2" in result.output
    assert "junction-orders-1" in result.output
    row = next(line for line in result.output.splitlines() if "notifications-OrderCreated" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[-4:-1] == ["0", "1", "2"]  # pending, ack pending, redelivered
    assert any("/proxy/jsz" in r for r in kube.cluster.requests)


def test_a_missing_namespace_is_a_clear_error(kube: FakeKube) -> None:
    result = runner.invoke(app, ["status", "-n", "nope", "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 2
    assert "namespace nope: not found" in result.output


def test_e2e_creates_a_job_streams_its_log_and_cleans_up(kube: FakeKube) -> None:
    result = runner.invoke(app, ["e2e", "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 0, result.output
    created = [r for r in kube.cluster.requests if r.startswith("POST")]
    assert created == ["POST /apis/batch/v1/namespaces/junction/jobs"]
    assert "3 passed" in result.output and "e2e passed" in result.output
    assert len(kube.cluster.deleted_jobs) == 1
    assert kube.cluster.deleted_jobs[0].startswith("junction-e2e-")


def test_a_failing_e2e_job_fails_the_command_and_is_kept_on_request(kube: FakeKube) -> None:
    kube.cluster.job_outcome = "failed"
    kube.cluster.job_log = ["E   AssertionError: boom", "1 failed"]
    result = runner.invoke(app, ["e2e", "--keep", "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 1
    assert "1 failed" in result.output and "kept" in result.output
    assert kube.cluster.deleted_jobs == []
    result = runner.invoke(app, ["e2e", "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 1
    assert len(kube.cluster.deleted_jobs) == 1


def test_e2e_without_the_chart_template_says_how_to_get_it(kube: FakeKube) -> None:
    del kube.cluster.jobs["junction-e2e"]
    result = runner.invoke(app, ["e2e", "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 2
    assert "--set e2e.enabled=true" in result.output


def test_no_cluster_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    result = runner.invoke(
        app, ["status", "--kubeconfig", str(missing)], env={"KUBERNETES_SERVICE_HOST": ""}
    )
    assert result.exit_code == 2
    assert "no Kubernetes cluster configured" in result.output


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    with FakeKube(Cluster(), tmp_path) as fake:
        config = fake.kubeconfig
    result = runner.invoke(app, ["status", "--kubeconfig", str(config)])
    assert result.exit_code == 2
    assert "unreachable" in result.output
