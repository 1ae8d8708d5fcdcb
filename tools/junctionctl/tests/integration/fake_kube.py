"""A stand-in Kubernetes API over HTTP, answering with the API's real object shapes, for
testing junctionctl's Kubernetes-facing code without a cluster."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

NOW = "2026-01-01T10:00:00Z"


def meta(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "resourceVersion": "1",
        "creationTimestamp": NOW,
        "labels": labels or {},
    }


def pod_template(component: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "junction", "app.kubernetes.io/component": component}
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": component, "image": f"junction/{component}:dev"}]},
    }


def deployment(name: str, namespace: str, replicas: int, ready: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "junction"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, namespace, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": pod_template(name),
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def pod(
    name: str,
    namespace: str,
    phase: str,
    labels: dict[str, str],
    restarts: int = 0,
    ready: bool = True,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, namespace, labels),
        "spec": {"containers": [{"name": "main", "image": "junction/x:dev"}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "main",
                    "ready": ready,
                    "restartCount": restarts,
                    "image": "x",
                    "imageID": "x",
                }
            ],
        },
    }


def job(
    name: str,
    namespace: str,
    labels: dict[str, str],
    template: dict[str, Any],
    result: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if result:
        kind = "Complete" if result == "succeeded" else "Failed"
        status = {
            "conditions": [
                {"type": kind, "status": "True", "lastProbeTime": NOW, "lastTransitionTime": NOW}
            ],
            ("succeeded" if result == "succeeded" else "failed"): 1,
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name, namespace, labels),
        "spec": {"template": template, "backoffLimit": 0},
        "status": status,
    }


@dataclass
class Cluster:
    namespaces: set[str] = field(default_factory=lambda: {"junction"})
    deployments: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    job_outcome: str = "succeeded"  # what a created Job ends with
    job_log: list[str] = field(default_factory=lambda: ["collected 3 items", "3 passed"])
    jsz: dict[str, Any] = field(default_factory=dict)
    deleted_jobs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class Handler(BaseHTTPRequestHandler):
    cluster: Cluster

    def log_message(self, *args: Any) -> None:  # quiet
        return None

    def send_json(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self, what: str) -> None:
        self.send_json(404, status_body(404, "NotFound", f"{what} not found"))

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        c = self.cluster
        c.requests.append(f"GET {url.path}")
        # /api/v1/namespaces/{ns}
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4:
            if parts[3] in c.namespaces:
                self.send_json(
                    200,
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": meta(parts[3], ""),
                        "spec": {},
                        "status": {"phase": "Active"},
                    },
                )
            else:
                self.not_found(f'namespaces "{parts[3]}"')
            return
        ns = parts[parts.index("namespaces") + 1] if "namespaces" in parts else ""
        if ns and ns not in c.namespaces:
            self.not_found(f'namespaces "{ns}"')
            return
        if url.path.endswith("/deployments"):
            self.send_json(
                200,
                {
                    "apiVersion": "apps/v1",
                    "kind": "DeploymentList",
                    "metadata": {},
                    "items": c.deployments,
                },
            )
        elif url.path.endswith("/statefulsets"):
            self.send_json(
                200,
                {"apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {}, "items": []},
            )
        elif url.path.endswith("/pods"):
            selector = query.get("labelSelector", [""])[0]
            wanted = dict(kv.split("=", 1) for kv in selector.split(",") if "=" in kv)
            items = [
                p
                for p in c.pods
                if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
            ]
            self.send_json(
                200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}
            )
        elif "/log" in url.path:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for line in c.job_log:
                self.wfile.write(line.encode() + b"\n")
                self.wfile.flush()
        elif "/proxy/" in url.path:
            self.send_json(200, c.jsz)
        elif url.path.endswith("/jobs") and query.get("watch") == ["true"]:
            name = query.get("fieldSelector", [""])[0].split("=", 1)[-1]
            found = c.jobs.get(name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            if found is not None:
                event = {"type": "MODIFIED", "object": found}
                self.wfile.write(json.dumps(event).encode() + b"\n")
        elif parts[-2:-1] == ["jobs"]:
            found = c.jobs.get(parts[-1])
            if found is None:
                self.not_found(f'jobs.batch "{parts[-1]}"')
            else:
                self.send_json(200, found)
        else:
            self.not_found(url.path)

    def do_POST(self) -> None:
        url = urlparse(self.path)
        c = self.cluster
        c.requests.append(f"POST {url.path}")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if url.path.endswith("/jobs"):
            parts = url.path.strip("/").split("/")
            ns = parts[parts.index("namespaces") + 1]
            name = body["metadata"]["name"]
            created = job(
                name,
                ns,
                body["metadata"].get("labels", {}),
                body["spec"]["template"],
                result=c.job_outcome,
            )
            c.jobs[name] = created
            c.pods.append(
                pod(
                    f"{name}-abcde",
                    ns,
                    "Succeeded" if c.job_outcome == "succeeded" else "Failed",
                    {"job-name": name},
                )
            )
            self.send_json(201, created)
        else:
            self.not_found(url.path)

    def do_DELETE(self) -> None:
        url = urlparse(self.path)
        c = self.cluster
        c.requests.append(f"DELETE {url.path}")
        name = url.path.rstrip("/").split("/")[-1]
        if name in c.jobs:
            del c.jobs[name]
            c.deleted_jobs.append(name)
            self.send_json(200, status_body(200, "", "deleted") | {"status": "Success"})
        else:
            self.not_found(f'jobs.batch "{name}"')


class FakeKube:
    """Serves a Cluster on a free loopback port; writes a kubeconfig that points at it."""

    def __init__(self, cluster: Cluster, tmp: Path) -> None:
        handler = type("BoundHandler", (Handler,), {"cluster": cluster})
        self.cluster = cluster
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.kubeconfig = tmp / "kubeconfig"
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "users": [{"name": "fake", "user": {"token": "test-token"}}],
                }
            )
        )

    def __enter__(self) -> FakeKube:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
