"""junctionctl: look at and operate Junction, in the current kube context or locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from junctionctl import cluster, jetstream, traces
from junctionctl.errors import CtlError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
dlq_app = typer.Typer(
    help="Dead letters: messages no consumer could process.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")
console = Console()

SERVICES = ("storefront", "orders", "inventory", "payments", "notifications")
LOCAL_PORTS = {
    "storefront": 8080,
    "orders": 8082,
    "inventory": 8083,
    "payments": 8084,
    "notifications": 8085,
}

Namespace = Annotated[str, typer.Option("--namespace", "-n", help="Kubernetes namespace")]
Release = Annotated[str, typer.Option(help="Helm release name")]
Local = Annotated[bool, typer.Option("--local", help="the platform of `make run`")]
Context = Annotated[str | None, typer.Option(help="kube context (default: current)")]
NatsUrl = Annotated[
    str | None,
    typer.Option(
        "--nats",
        envvar="JUNCTION_NATS_URL",
        help="NATS URL (default: the local platform's; port-forward 4222 for a cluster)",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CtlError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc

    return wrapper  # type: ignore[return-value]


def local_urls() -> dict[str, str]:
    """URLs of the local platform: `.run/urls.json` written by `make run`, else defaults."""
    state = Path(os.environ.get("JUNCTION_STATE_DIR", ".run")) / "urls.json"
    if state.exists():
        urls: dict[str, str] = json.loads(state.read_text())
        return urls
    urls = {name: f"http://127.0.0.1:{port}" for name, port in LOCAL_PORTS.items()}
    urls.update(
        nats="nats://127.0.0.1:4222",
        nats_monitor="http://127.0.0.1:8222",
        trace_query="http://127.0.0.1:16686",
    )
    return urls


def nats_address(given: str | None) -> str:
    """The NATS URL given, else the local platform's (with its per-run credentials)."""
    return given or local_urls().get("nats", "nats://127.0.0.1:4222")


def readiness(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
            return "ready" if resp.status == 200 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"not ready ({exc.code})"
    except (urllib.error.URLError, OSError):
        return "down"


def print_streams(rows: list[jetstream.StreamRow]) -> None:
    table = Table(title="JetStream")
    for col in ("stream", "messages", "consumer", "pending", "ack pending", "redelivered"):
        table.add_column(col, justify="right" if col not in ("stream", "consumer") else "left")
    for row in rows:
        if not row.consumers:
            table.add_row(row.stream, str(row.messages), "-", "", "", "")
        for i, c in enumerate(row.consumers):
            table.add_row(
                row.stream if i == 0 else "",
                str(row.messages) if i == 0 else "",
                c.name,
                str(c.pending),
                str(c.ack_pending),
                str(c.redelivered),
            )
    console.print(table)


@app.command()
@reports_errors
def status(
    local: Local = False,
    namespace: Namespace = "junction",
    release: Release = "junction",
    context: Context = None,
    kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig file")] = None,
) -> None:
    """Services (deployments and pods, or local processes) and every stream and consumer."""
    if local:
        urls = local_urls()
        table = Table(title="local platform")
        table.add_column("service")
        table.add_column("url")
        table.add_column("state")
        for name in SERVICES:
            table.add_row(name, urls[name], readiness(urls[name]))
        console.print(table)
        print_streams(jetstream.streams_from_jsz(jetstream.jsz_from_url(urls["nats_monitor"])))
        return
    api = cluster.connect(context, kubeconfig)
    cluster.ensure_namespace(api, namespace)
    table = Table(title=f"workloads in {namespace}")
    for col in ("kind", "name", "ready", "age"):
        table.add_column(col)
    for w in cluster.workloads(api, namespace):
        table.add_row(w.kind, w.name, w.ready, w.age)
    console.print(table)
    table = Table(title=f"pods in {namespace}")
    for col in ("pod", "ready", "status", "restarts", "age"):
        table.add_column(col)
    for p in cluster.pods(api, namespace):
        table.add_row(p.name, p.ready, p.status, str(p.restarts), p.age)
    console.print(table)
    jsz = cluster.nats_monitoring(
        api, namespace, release, "jsz", {"streams": "true", "consumers": "true", "config": "true"}
    )
    print_streams(jetstream.streams_from_jsz(jsz))


def run_e2e_locally(timeout: int) -> int:
    """The e2e suite from this checkout against `make run`, as the Job runs it in a cluster."""
    suite = Path("tests/e2e")
    if not suite.is_dir():
        raise CtlError("e2e --local runs from the repository root (tests/e2e not found here)")
    urls = local_urls()
    env = dict(os.environ)
    for name in ("storefront", "orders", "inventory", "payments", "notifications"):
        env[f"JUNCTION_{name.upper()}_URL"] = urls[name]
    env["JUNCTION_NATS_URL"] = urls.get("nats", "nats://127.0.0.1:4222")
    for key, variable in (("mail_api", "MAIL_API"), ("trace_query", "TRACE_QUERY")):
        if key in urls:
            env[f"JUNCTION_{variable}_URL"] = urls[key]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(suite)], env=env, timeout=timeout, check=False
    )
    return done.returncode


@app.command()
@reports_errors
def e2e(
    namespace: Namespace = "junction",
    release: Release = "junction",
    context: Context = None,
    kubeconfig: Annotated[str | None, typer.Option(help="kubeconfig file")] = None,
    image: Annotated[str | None, typer.Option(help="another e2e image to run")] = None,
    keep: Annotated[bool, typer.Option(help="keep the Job when it fails")] = False,
    timeout: Annotated[int, typer.Option(help="seconds to wait for the result")] = 900,
    local: Local = False,
) -> None:
    """Run the e2e suite as a Job in the cluster, stream its log, exit with its result
    (--local: run it here, from the repository, against the platform of `make run`)."""
    if local:
        raise typer.Exit(run_e2e_locally(timeout))
    api = cluster.connect(context, kubeconfig)
    cluster.ensure_namespace(api, namespace)
    name = cluster.create_job(
        api, namespace, cluster.e2e_job_from_template(api, namespace, release, image)
    )
    console.print(f"created Job [bold]{name}[/bold] in {namespace}")
    result = None
    try:
        with console.status("waiting for the e2e pod to start"):
            pod = cluster.job_pod(api, namespace, name)
        console.print(f"pod {pod}: streaming its log")
        for line in cluster.stream_logs(api, namespace, pod):
            console.print(line, markup=False, highlight=False)
        deadline = time.monotonic() + timeout
        while result is None and time.monotonic() < deadline:
            for _, obj in cluster.job_events(api, namespace, name, timeout=30):
                result = cluster.job_result(obj)
                if result:
                    break
    finally:
        if result == "succeeded" or (result == "failed" and not keep):
            cluster.delete_job(api, namespace, name)
    if result is None:
        raise CtlError(f"Job {name} did not finish in {timeout}s (kept)")
    if result == "failed":
        kept = f" (kept: kubectl -n {namespace} describe job {name})" if keep else ""
        console.print(f"[red]e2e failed[/red]{kept}")
        raise typer.Exit(1)
    console.print("[green]e2e passed[/green]")


@app.command()
@reports_errors
def trace(
    ident: Annotated[str, typer.Argument(help="a trace id, or an order id")],
    local: Local = False,
    storefront: Annotated[
        str | None, typer.Option(envvar="JUNCTION_STOREFRONT_URL", help="default: local")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(
            envvar="JUNCTION_TRACE_QUERY_URL",
            help="Jaeger query (or the local trace store); default: local",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="every span as JSON")] = False,
) -> None:
    """Print a checkout's trace as a waterfall: service, span, sync/async, timing."""
    urls = local_urls()
    if local:  # the platform of `make run`, whatever the environment says
        storefront, query = urls["storefront"], urls.get("trace_query")
    storefront = storefront or urls["storefront"]
    query = query or urls.get("trace_query", "http://127.0.0.1:16686")
    trace_id = traces.resolve_trace_id(ident, storefront)
    spans = traces.fetch(query, trace_id)
    if as_json:
        sys.stdout.write(json.dumps(traces.as_json(trace_id, spans), indent=2) + "\n")
        return
    # Never cut a name: where the terminal is narrower than the names need, lines run long
    # (a terminal wraps them; a pipe keeps them whole for grep).
    out = console
    if console.width < traces.needed_room(spans):
        out = Console(width=traces.needed_room(spans), file=console.file)
    out.print(traces.waterfall(trace_id, spans, room=out.width))


@dlq_app.command("list")
@reports_errors
def dlq_list(nats_url: NatsUrl = None, local: Local = False) -> None:
    """Every dead letter: sequence, where it came from, which consumer gave up, and why."""
    letters = jetstream.run(jetstream.dead_letters(nats_address(None if local else nats_url)))
    table = Table(title=f"dead letters ({len(letters)})")
    for col in ("seq", "subject", "consumer", "deliveries", "reason"):
        table.add_column(col)
    for d in letters:
        table.add_row(str(d.seq), d.original_subject, d.consumer, d.deliveries, d.reason)
    console.print(table)


@dlq_app.command("show")
@reports_errors
def dlq_show(seq: int, nats_url: NatsUrl = None, local: Local = False) -> None:
    """One dead letter in full: headers and body."""
    url = nats_address(None if local else nats_url)
    found = [d for d in jetstream.run(jetstream.dead_letters(url)) if d.seq == seq]
    if not found:
        raise CtlError(f"no dead letter with sequence {seq}")
    d = found[0]
    console.print(f"[bold]dead letter {d.seq}[/bold] from {d.original_subject}")
    for key, value in sorted(d.headers.items()):
        console.print(f"  {key}: {value}", markup=False, highlight=False)
    try:
        body: Any = json.loads(d.data)
        console.print_json(data=body)
    except ValueError:
        console.print(repr(d.data), markup=False)


@dlq_app.command("replay")
@reports_errors
def dlq_replay(
    seqs: Annotated[list[int] | None, typer.Argument(help="sequences to replay")] = None,
    all_: Annotated[bool, typer.Option("--all", help="replay every dead letter")] = False,
    nats_url: NatsUrl = None,
    local: Local = False,
) -> None:
    """Publish dead letters to their original subjects again (after a fix), then drop them."""
    nats_url = nats_address(None if local else nats_url)
    if all_:
        seqs = [d.seq for d in jetstream.run(jetstream.dead_letters(nats_url))]
    if not seqs:
        raise CtlError("name the sequences to replay, or --all")
    for seq, subject in jetstream.run(jetstream.replay(nats_url, seqs)):
        console.print(f"replayed {seq} to {subject}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
