"""The processes a hop benchmark runs: a downstream and a front that calls it, either raw
(FastAPI + a bare aiohttp session) or built with Junction (ServiceRuntime, ServiceClient:
timeouts, breaker, retries, and telemetry when it is on)."""

from __future__ import annotations

import argparse
import os

import aiohttp
import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from junction.config import ServiceSettings
from junction.service import ServiceRuntime


def raw_downstream() -> FastAPI:
    app = FastAPI()

    @app.get("/echo")
    async def echo() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def raw_front(downstream: str) -> FastAPI:
    state: dict[str, aiohttp.ClientSession] = {}
    app = FastAPI()

    @app.on_event("startup")
    async def open_session() -> None:
        state["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    @app.get("/hop")
    async def hop() -> dict[str, str]:
        async with state["s"].get(f"{downstream}/echo") as resp:
            body: dict[str, str] = await resp.json()
            return body

    return app


class Echo(BaseModel):
    ok: str


def junction_app(name: str, port: int, downstream: str | None) -> FastAPI:
    settings = ServiceSettings(service_name=name, port=port, log_level="WARNING")
    runtime = ServiceRuntime(settings)
    router = APIRouter()
    if downstream is None:

        @router.get("/echo")
        async def echo() -> dict[str, str]:
            return {"ok": "yes"}
    else:
        clients = {}

        @router.get("/hop")
        async def hop() -> dict[str, str]:
            if "c" not in clients:
                clients["c"] = runtime.client("bench-downstream", downstream)
            answer = await clients["c"].get("/echo", Echo)
            return answer.model_dump()

    return runtime.http_app(router)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "kind", choices=["raw-downstream", "raw-front", "junction-downstream", "junction-front"]
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--downstream", default=None)
    args = parser.parse_args()
    if args.kind == "raw-downstream":
        app = raw_downstream()
    elif args.kind == "raw-front":
        app = raw_front(args.downstream)
    else:
        name = "bench-" + args.kind.split("-")[1]
        app = junction_app(name, args.port, args.downstream)
    os.environ.setdefault("JUNCTION_LOG_LEVEL", "WARNING")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
