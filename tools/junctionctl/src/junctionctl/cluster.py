"""The Kubernetes side of junctionctl, on the official client: workloads and pods, the e2e
Job (create, watch, stream logs, clean up), and NATS monitoring through the API server's
service proxy (no port-forward needed)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from junctionctl.errors import CtlError

PART_OF = "app.kubernetes.io/part-of=junction"
REQUEST_TIMEOUT = 15  # seconds for one API call (a log stream has none)


def connect(context: str | None = None, kubeconfig: str | None = None) -> client.ApiClient:
    """An API client for the current (or given) kube context; CtlError when there is none."""
    try:
        config.load_kube_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
    except (ConfigException, FileNotFoundError) as exc:
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except ConfigException:
            raise CtlError(
                f"no Kubernetes cluster configured ({exc}); use --local for the local platform"
            ) from exc
    return client.ApiClient()


def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404:
            raise CtlError(f"{what}: not found") from exc
        if exc.status in (401, 403):
            raise CtlError(f"{what}: not allowed ({exc.reason})") from exc
        raise CtlError(f"{what}: the API server answered {exc.status} {exc.reason}") from exc
    except urllib3.exceptions.HTTPError as exc:
        raise CtlError(f"{what}: the cluster is unreachable ({exc})") from exc


def age(ts: datetime | None) -> str:
    if ts is None:
        return "-"
    seconds = max(0, int((datetime.now(UTC) - ts).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class WorkloadRow:
    kind: str
    name: str
    ready: str
    age: str


@dataclass(frozen=True)
class PodRow:
    name: str
    ready: str
    status: str
    restarts: int
    age: str


def ensure_namespace(api: client.ApiClient, namespace: str) -> None:
    _call(f"namespace {namespace}", client.CoreV1Api(api).read_namespace, namespace)


def workloads(api: client.ApiClient, namespace: str) -> list[WorkloadRow]:
    apps = client.AppsV1Api(api)
    rows = []
    for kind, lister in (
        ("Deployment", apps.list_namespaced_deployment),
        ("StatefulSet", apps.list_namespaced_stateful_set),
    ):
        found = _call(f"{kind}s in {namespace}", lister, namespace, label_selector=PART_OF)
        for item in found.items:
            ready = item.status.ready_replicas or 0
            rows.append(
                WorkloadRow(
                    kind,
                    item.metadata.name,
                    f"{ready}/{item.spec.replicas}",
                    age(item.metadata.creation_timestamp),
                )
            )
    return rows


def pods(api: client.ApiClient, namespace: str, selector: str = PART_OF) -> list[PodRow]:
    found = _call(
        f"pods in {namespace}",
        client.CoreV1Api(api).list_namespaced_pod,
        namespace,
        label_selector=selector,
    )
    rows = []
    for pod in found.items:
        statuses = pod.status.container_statuses or []
        ready = sum(1 for s in statuses if s.ready)
        rows.append(
            PodRow(
                pod.metadata.name,
                f"{ready}/{len(pod.spec.containers)}",
                pod.status.phase or "-",
                sum(s.restart_count for s in statuses),
                age(pod.metadata.creation_timestamp),
            )
        )
    return rows


def nats_monitoring(
    api: client.ApiClient, namespace: str, release: str, endpoint: str, query: dict[str, str]
) -> dict[str, Any]:
    """GET a NATS monitoring endpoint through the API server's service proxy."""
    path = f"/api/v1/namespaces/{namespace}/services/{release}-nats:8222/proxy/{endpoint}"
    method, url, headers, body, post = api.param_serialize(
        "GET", path, query_params=list(query.items()), auth_settings=["BearerToken"]
    )
    response = _call(
        f"NATS monitoring in {namespace}",
        api.call_api,
        method,
        url,
        headers,
        body,
        post,
        _request_timeout=10,
    )
    response.read()
    data: dict[str, Any] = json.loads(response.data)
    return data


# -- the e2e Job ---------------------------------------------------------------------------


def e2e_job_from_template(
    api: client.ApiClient, namespace: str, release: str, image: str | None = None
) -> client.V1Job:
    """A new Job with the chart's e2e Job as its template (same image, env, account)."""
    batch = client.BatchV1Api(api)
    try:
        template = batch.read_namespaced_job(f"{release}-e2e", namespace)
    except ApiException as exc:
        if exc.status == 404:
            raise CtlError(
                f"no e2e Job template {release}-e2e in {namespace}: install the "
                "chart with --set e2e.enabled=true"
            ) from exc
        raise CtlError(f"reading the e2e Job template: {exc.status} {exc.reason}") from exc
    name = f"{release}-e2e-{uuid.uuid4().hex[:6]}"
    assert template.spec is not None and template.metadata is not None
    pod = template.spec.template
    assert pod.metadata is not None and pod.spec is not None
    labels = {
        k: v
        for k, v in (pod.metadata.labels or {}).items()
        if not k.startswith(("controller-uid", "batch.kubernetes.io", "job-name"))
    }
    pod.metadata = client.V1ObjectMeta(labels={**labels, "junction.io/e2e-run": name})
    if image:
        pod.spec.containers[0].image = image
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=name, labels={**(template.metadata.labels or {}), "junction.io/e2e-run": name}
        ),
        spec=client.V1JobSpec(
            backoff_limit=0,
            active_deadline_seconds=900,
            ttl_seconds_after_finished=3600,
            template=pod,
        ),
    )


def create_job(api: client.ApiClient, namespace: str, job: client.V1Job) -> str:
    """Create the Job; its name."""
    assert job.metadata is not None and job.metadata.name is not None
    name: str = job.metadata.name
    _call(f"creating Job {name}", client.BatchV1Api(api).create_namespaced_job, namespace, job)
    return name


def job_events(
    api: client.ApiClient, namespace: str, name: str, timeout: int
) -> Iterator[tuple[str, client.V1Job]]:
    """Watch one Job: (event type, job) until the watch times out."""
    w = watch.Watch()  # type: ignore[no-untyped-call]
    yield from (
        (e["type"], e["object"])
        for e in w.stream(  # type: ignore[no-untyped-call]
            client.BatchV1Api(api).list_namespaced_job,
            namespace,
            field_selector=f"metadata.name={name}",
            timeout_seconds=timeout,
        )
    )


def job_result(job: client.V1Job) -> str | None:
    """'succeeded', 'failed', or None while it runs."""
    status = job.status
    if status is None:
        return None
    for cond in status.conditions or []:
        if cond.status == "True" and cond.type in ("Complete", "Failed"):
            return "succeeded" if cond.type == "Complete" else "failed"
    if status.succeeded:
        return "succeeded"
    if status.failed:
        return "failed"
    return None


def job_pod(api: client.ApiClient, namespace: str, job: str, timeout: float = 120) -> str:
    """The name of the Job's pod once it has started (or finished)."""
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _call(
            "the e2e pod", core.list_namespaced_pod, namespace, label_selector=f"job-name={job}"
        )
        for pod in found.items:
            if pod.status.phase in ("Running", "Succeeded", "Failed"):
                return str(pod.metadata.name)
        time.sleep(1)
    raise CtlError(f"the pod of Job {job} did not start in {timeout:.0f}s")


def stream_logs(api: client.ApiClient, namespace: str, pod: str) -> Iterator[str]:
    """The pod's log, line by line, as it is written."""
    resp = _call(
        "the e2e log",
        client.CoreV1Api(api).read_namespaced_pod_log,
        pod,
        namespace,
        follow=True,
        _preload_content=False,
        _request_timeout=None,
    )
    buffer = b""
    for chunk in resp.stream(4096):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode(errors="replace")
    if buffer:
        yield buffer.decode(errors="replace")


def delete_job(api: client.ApiClient, namespace: str, name: str) -> None:
    _call(
        f"deleting Job {name}",
        client.BatchV1Api(api).delete_namespaced_job,
        name,
        namespace,
        propagation_policy="Background",
    )
