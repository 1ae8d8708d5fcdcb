"""Payments' routes through its ASGI app, and the fault injection in front of them."""

import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware

from junction.store.outbox import OutboxRelay
from junction.web.app import AlwaysReady, build_app
from junction_devtools.fakes import FakeKV, RecordingPublisher
from junction_devtools.testing import http_client, service_app
from payments import api
from payments.faults import ChargeFaults
from payments.main import build_deps
from payments.settings import PaymentsSettings

pytestmark = pytest.mark.unit

CHARGE = {
    "order_id": "o1",
    "amount_cents": 500,
    "payment_token": "tok_visa",
    "customer_email": "c@example.com",
}


def app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings(log_json=False)
    relay = OutboxRelay(RecordingPublisher())
    return service_app(api.router, deps=build_deps(settings, FakeKV(), relay), settings=settings)


async def test_an_order_is_charged_once() -> None:
    async with http_client(app()) as http:
        first = await http.post("/payments", json=CHARGE)
        again = await http.post("/payments", json={**CHARGE, "payment_token": "tok_declined"})
        fetched = await http.get("/payments/o1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {
        "order_id": "o1",
        "status": "approved",
        "amount_cents": 500,
        "decline_reason": None,
    }
    assert again.json() == first.json() == fetched.json()


async def test_an_unknown_token_names_the_field_and_an_unknown_payment_is_404() -> None:
    async with http_client(app()) as http:
        invalid = await http.post("/payments", json={**CHARGE, "payment_token": "tok_nope"})
        missing = await http.get("/payments/none")
    assert invalid.status_code == 422 and invalid.json()["fields"][0]["field"] == "payment_token"
    assert missing.status_code == 404


async def test_injected_faults_answer_503_before_the_route() -> None:
    settings = PaymentsSettings(log_json=False, fault_error_rate=1.0)
    faulty = build_app(
        [api.router],
        title="payments",
        version="0",
        readiness=AlwaysReady(),
        max_body_bytes=settings.max_body_bytes,
        middleware=[Middleware(ChargeFaults, settings=settings)],
    )
    faulty.state.deps = build_deps(settings, FakeKV())
    async with http_client(faulty) as http:
        answer = await http.post("/payments", json=CHARGE)
        read = await http.get("/payments/o1")
    assert (answer.status_code, answer.json()["error"]) == (503, "provider_unavailable")
    assert read.status_code == 404  # nothing was charged
