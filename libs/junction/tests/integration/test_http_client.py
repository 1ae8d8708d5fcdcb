"""The service-to-service client against a real HTTP server: typed answers, typed
refusals, retries, timeouts and the breaker."""

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from purgatory import AsyncCircuitBreakerFactory
from pydantic import BaseModel

from junction.client import ClientPolicy, ServiceClient, ServiceError
from junction.errors import DependencyUnavailable
from junction_devtools.platform import free_ports

pytestmark = pytest.mark.integration


class Downstream:
    def __init__(self) -> None:
        self.calls = 0
        self.fail_first = 0
        self.delay = 0.0
        self.refuse: tuple[int, dict[str, object]] | None = None
        self.bodies: list[bytes] = []
        self.traceparents: list[str | None] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        self.bodies.append(await request.read())
        self.traceparents.append(request.headers.get("traceparent"))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls <= self.fail_first:
            return web.json_response({"error": "busy"}, status=503)
        if self.refuse is not None:
            return web.json_response(self.refuse[1], status=self.refuse[0])
        return web.json_response({"ok": True, "calls": self.calls})


class Thing(BaseModel):
    ok: bool
    calls: int


class Ask(BaseModel):
    sku: str
    quantity: int | None = None


async def serve_downstream() -> tuple[Downstream, str, web.AppRunner]:
    """A real HTTP server on a free loopback port; its state, base URL and runner."""
    state = Downstream()
    app = web.Application()
    app.router.add_route("*", "/thing", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(["http"])["http"]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return state, f"http://127.0.0.1:{port}", runner


@pytest.fixture
async def downstream() -> AsyncIterator[tuple[Downstream, str]]:
    state, base, runner = await serve_downstream()
    yield state, base
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def client(
    base: str,
    session: aiohttp.ClientSession,
    *,
    timeout: float = 1.0,
    threshold: int = 5,
    tracer: trace.Tracer | None = None,
) -> ServiceClient:
    policy = ClientPolicy(
        timeout_seconds=timeout,
        retry_attempts=3,
        breaker_threshold=threshold,
        breaker_reset_seconds=30,
    )
    return ServiceClient(
        "thing", base, session, policy, AsyncCircuitBreakerFactory(), tracer=tracer
    )


async def test_idempotent_calls_are_retried_on_503(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.fail_first = 2
    answer = await client(base, session).post("/thing", Ask(sku="A"), Thing, idempotent=True)
    assert answer == Thing(ok=True, calls=3)
    assert state.bodies[-1] == b'{"sku":"A"}'  # unset optional fields are not sent


async def test_non_idempotent_calls_are_not_retried(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.fail_first = 1
    with pytest.raises(DependencyUnavailable):
        await client(base, session).post("/thing", Ask(sku="A"), Thing, idempotent=False)
    assert state.calls == 1


async def test_a_slow_downstream_times_out(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.delay = 1.0
    with pytest.raises(DependencyUnavailable, match=r"Timeout"):
        await client(base, session, timeout=0.1).get("/thing", Thing)


async def test_the_breaker_opens_and_stops_calling(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.fail_first = 1000
    c = client(base, session, threshold=2)
    for _ in range(3):
        with pytest.raises(DependencyUnavailable):
            await c.post("/thing", Ask(sku="A"), Thing, idempotent=False)
    calls = state.calls
    with pytest.raises(DependencyUnavailable, match="circuit breaker open"):
        await c.post("/thing", Ask(sku="A"), Thing, idempotent=False)
    assert state.calls == calls


async def test_an_unreachable_service_is_unavailable(session: aiohttp.ClientSession) -> None:
    port = free_ports(["closed"])["closed"]
    with pytest.raises(DependencyUnavailable, match="thing is unavailable"):
        await client(f"http://127.0.0.1:{port}", session).get("/thing", Thing)


async def test_a_refusal_is_a_typed_error_with_the_callees_body(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    state.refuse = (409, {"error": "out_of_stock", "skus": ["A"], "message": "short: A"})
    with pytest.raises(ServiceError) as raised:
        await client(base, session).post("/thing", Ask(sku="A"), Thing, idempotent=True)
    assert state.calls == 1  # a refusal is an answer: not retried
    refusal = raised.value.refusal()
    assert (refusal.status, refusal.code, refusal.details) == (409, "out_of_stock", {"skus": ["A"]})


async def test_an_answer_that_breaks_the_contract_is_a_dependency_failure(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    _, base = downstream

    class Other(BaseModel):
        missing: str

    with pytest.raises(DependencyUnavailable, match="unexpected answer"):
        await client(base, session).get("/thing", Other)


@pytest.fixture
async def two_downstreams() -> AsyncIterator[tuple[list[Downstream], list[str]]]:
    served = [await serve_downstream() for _ in range(2)]
    yield [state for state, _, _ in served], [base for _, base, _ in served]
    for _, _, runner in served:
        await runner.cleanup()


async def test_calls_are_spread_across_the_replicas_given(
    two_downstreams: tuple[list[Downstream], list[str]], session: aiohttp.ClientSession
) -> None:
    states, bases = two_downstreams
    c = client(",".join(bases), session)
    for _ in range(10):
        await c.get("/thing", Thing)
    assert [s.calls for s in states] == [5, 5]


async def test_a_replica_that_refuses_connections_is_passed_over(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession
) -> None:
    state, base = downstream
    closed = f"http://127.0.0.1:{free_ports(['closed'])['closed']}"
    c = client(f"{closed},{base}", session)
    with pytest.raises(DependencyUnavailable):  # not retried: it meets the closed one
        await c.post("/thing", Ask(sku="A"), Thing, idempotent=False)
    for _ in range(5):  # after one refusal the closed one is not tried again for a while
        await c.post("/thing", Ask(sku="A"), Thing, idempotent=False)
    assert state.calls == 5


CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"


@pytest.mark.usefixtures("junction_propagators")
@pytest.mark.parametrize("flags", ["01", "00"])
async def test_a_call_carries_its_trace_and_is_a_client_span_only_when_recorded(
    downstream: tuple[Downstream, str], session: aiohttp.ClientSession, flags: str
) -> None:
    state, base = downstream
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # parent-based: the caller's decision holds
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    c = client(base, session, tracer=provider.get_tracer("test"))
    token = otel_context.attach(propagate.extract({"traceparent": f"{CALLER}-{flags}"}))
    try:
        await c.get("/thing", Thing)
    finally:
        otel_context.detach(token)
    (sent,) = state.traceparents
    assert sent is not None
    spans = exporter.get_finished_spans()
    if flags == "01":  # one CLIENT span, its id the parent the callee sees
        (span,) = spans
        assert span.kind == trace.SpanKind.CLIENT and span.context is not None
        assert span.attributes is not None and span.attributes["http.response.status_code"] == 200
        assert sent == f"00-{CALLER[3:35]}-{span.context.span_id:016x}-01"
    else:  # nothing recorded; the caller's context passed on as it came
        assert spans == ()
        assert sent == f"{CALLER}-00"
