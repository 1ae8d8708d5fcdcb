"""A local trace store for runs without a cluster: receives OTLP over gRPC and answers
Jaeger v2's query API for one trace (`GET /api/v3/traces/{trace_id}`), in Jaeger's shape:
OTLP JSON with hex ids. Bounded: the oldest traces are dropped past `--max-traces`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import signal
from collections import OrderedDict
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

logger = logging.getLogger("tracestore")

ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def hex_ids(span: dict[str, Any]) -> dict[str, Any]:
    """protobuf's JSON has base64 ids; Jaeger's API answers with hex, as OTLP/JSON says."""
    for key in ID_FIELDS:
        if span.get(key):
            span[key] = base64.b64decode(span[key]).hex()
    for link in span.get("links", []):
        for key in ("traceId", "spanId"):
            if link.get(key):
                link[key] = base64.b64decode(link[key]).hex()
    return span


class TraceStore:
    def __init__(self, max_traces: int) -> None:
        self.max_traces = max_traces
        # trace id -> list of (resource, scope, span): spans kept as their protobuf bytes
        # (a few hundred bytes each) and turned into JSON only when a trace is asked for.
        self.traces: OrderedDict[str, list[tuple[str, str, bytes]]] = OrderedDict()
        self.resources: dict[str, dict[str, Any]] = {}
        self.scopes: dict[str, dict[str, Any]] = {}
        self.spans_received = 0

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        for rs in request.resource_spans:
            resource = MessageToDict(rs.resource, use_integers_for_enums=True)
            rkey = repr(
                sorted((a["key"], repr(a["value"])) for a in resource.get("attributes", []))
            )
            self.resources.setdefault(rkey, resource)
            for ss in rs.scope_spans:
                scope = MessageToDict(ss.scope, use_integers_for_enums=True)
                skey = f"{scope.get('name', '')}@{scope.get('version', '')}"
                self.scopes.setdefault(skey, scope)
                for span in ss.spans:
                    trace_id = span.trace_id.hex()
                    raw = span.SerializeToString()
                    self.traces.setdefault(trace_id, []).append((rkey, skey, raw))
                    self.traces.move_to_end(trace_id)
                    self.spans_received += 1
        while len(self.traces) > self.max_traces:
            self.traces.popitem(last=False)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        spans = self.traces.get(trace_id.lower())
        if spans is None:
            return None
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for rkey, skey, raw in spans:
            span = hex_ids(MessageToDict(Span.FromString(raw), use_integers_for_enums=True))
            grouped.setdefault(rkey, {}).setdefault(skey, []).append(span)
        return {
            "result": {
                "resourceSpans": [
                    {
                        "resource": self.resources[rkey],
                        "scopeSpans": [
                            {"scope": self.scopes[skey], "spans": s} for skey, s in by_scope.items()
                        ],
                    }
                    for rkey, by_scope in grouped.items()
                ]
            }
        }


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, store: TraceStore) -> None:
        self.store = store

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.store.add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


def http_app(store: TraceStore) -> web.Application:
    async def get_trace(request: web.Request) -> web.Response:
        found = store.trace(request.match_info["trace_id"])
        if found is None:
            return web.json_response(
                {"error": {"httpCode": 404, "message": "trace not found"}}, status=404
            )
        return web.json_response(found)

    async def livez(_: web.Request) -> web.Response:
        return web.json_response(
            {"status": "alive", "traces": len(store.traces), "spans_received": store.spans_received}
        )

    app = web.Application()
    app.router.add_get("/api/v3/traces/{trace_id}", get_trace)
    app.router.add_get("/livez", livez)
    return app


async def serve(host: str, otlp_port: int, http_port: int, max_traces: int) -> None:
    store = TraceStore(max_traces)
    server = grpc.aio.server()
    add_servicer = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
    add_servicer(Receiver(store), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"{host}:{otlp_port}")
    await server.start()
    runner = web.AppRunner(http_app(store), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, http_port).start()
    logger.info(
        "trace store: OTLP gRPC on %s:%d, query API on http://%s:%d",
        host,
        otlp_port,
        host,
        http_port,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=1)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--otlp-port", type=int, default=4317)
    parser.add_argument("--http-port", type=int, default=16686)
    parser.add_argument("--max-traces", type=int, default=5_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(args.host, args.otlp_port, args.http_port, args.max_traces))


if __name__ == "__main__":
    main()
