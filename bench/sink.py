"""An OTLP/gRPC trace receiver that accepts every export and decodes nothing.

The telemetry-cost benchmarks export to this, so the figure is what tracing costs the
services (span creation, propagation, encoding, sending), not what a collector costs: in a
cluster the collector runs in its own pod, while here it would share the same two cores.
Prints one JSON line with the exports and bytes it took when stopped (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

import grpc


async def serve(port: int) -> None:
    received = {"exports": 0, "bytes": 0}

    async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        received["exports"] += 1
        received["bytes"] += len(request)
        return b""  # an empty ExportTraceServiceResponse: everything accepted

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)},  # raw bytes both ways
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    await server.stop(1)
    print(json.dumps(received), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
