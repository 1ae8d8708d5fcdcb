"""The checkout story through the public API: every answer a customer can get."""

import asyncio
import signal
import uuid

import pytest

from tests.e2e.client import Endpoints, Shop, events

pytestmark = pytest.mark.e2e


async def test_happy_path_confirms_the_order_and_sends_a_receipt(shop: Shop) -> None:
    sku = await shop.new_sku(stock=5, price_cents=1250)
    reply = await shop.checkout([{"sku": sku, "quantity": 2}])
    assert reply.status == 201, reply.body
    assert reply.body["payment_status"] == "approved" and reply.body["total_cents"] == 2500
    order_id = reply.body["order_id"]

    order = await shop.wait_for(
        order_id,
        lambda o: o["status"] == "CONFIRMED" and "email_sent:receipt" in events(o["timeline"]),
    )
    assert order["items"] == [{"sku": sku, "quantity": 2, "price_cents": 1250}]
    assert set(events(order["timeline"])) >= {
        "order_created",
        "stock_reserved",
        "payment_approved",
        "stock_committed",
        "order_confirmed",
        "email_sent:receipt",
    }
    assert f"{order_id}.receipt@junction.local" in await shop.emails_for(order_id)
    ledger = await shop.ledger(sku)
    assert (ledger["on_hand"], ledger["available"], ledger["committed_units"]) == (3, 3, 2)


async def test_products_list_the_catalogue(shop: Shop) -> None:
    reply = await shop.call("GET", f"{shop.ep.storefront}/api/products")
    assert reply.status == 200
    skus = {p["sku"] for p in reply.body}
    assert "JNC-MUG" in skus
    assert set(reply.body[0]) == {"sku", "name", "price_cents", "available"}


async def test_out_of_stock_names_the_skus_and_leaves_nothing_reserved(shop: Shop) -> None:
    plenty, short = await shop.new_sku(stock=10), await shop.new_sku(stock=1)
    reply = await shop.checkout([{"sku": plenty, "quantity": 2}, {"sku": short, "quantity": 2}])
    assert reply.status == 409
    assert reply.body.pop("trace_id")
    assert reply.body == {
        "error": "out_of_stock",
        "skus": [short],
        "message": f"not enough stock for {short}",
    }
    for sku, units in ((plenty, 10), (short, 1)):
        ledger = await shop.ledger(sku)
        assert (ledger["reserved"], ledger["available"]) == (0, units)


async def test_declined_payment_cancels_releases_stock_and_emails(shop: Shop) -> None:
    sku = await shop.new_sku(stock=4)
    reply = await shop.checkout([{"sku": sku, "quantity": 3}], token="tok_declined")
    assert reply.status == 402
    assert reply.body["error"] == "payment_declined"
    order_id = reply.body["order_id"]
    order = await shop.wait_for(
        order_id,
        lambda o: o["status"] == "CANCELLED" and "email_sent:cancellation" in events(o["timeline"]),
    )
    assert {"payment_declined", "stock_released", "order_cancelled"} <= set(
        events(order["timeline"])
    )
    ledger = await shop.ledger(sku)
    assert (ledger["on_hand"], ledger["available"], ledger["reserved"]) == (4, 4, 0)
    assert f"{order_id}.cancellation@junction.local" in await shop.emails_for(order_id)


async def test_a_retry_with_the_same_key_returns_the_first_answer(shop: Shop) -> None:
    sku = await shop.new_sku(stock=5)
    key = uuid.uuid4().hex
    email = "same@example.com"
    first = await shop.checkout([{"sku": sku, "quantity": 1}], key=key, email=email)
    again = await asyncio.gather(
        *(shop.checkout([{"sku": sku, "quantity": 1}], key=key, email=email) for _ in range(3))
    )
    assert first.status == 201
    for reply in again:
        assert (reply.status, reply.body) == (first.status, first.body)
    await shop.wait_for(first.body["order_id"], lambda o: o["status"] == "CONFIRMED")
    ledger = await shop.ledger(sku)
    assert ledger["committed_units"] == 1 and ledger["on_hand"] == 4


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "customer_email": "not-an-email",
                "items": [{"sku": "JNC-MUG", "quantity": 1}],
                "payment_token": "tok_visa",
            },
            "customer_email",
        ),
        ({"customer_email": "a@example.com", "items": [], "payment_token": "tok_visa"}, "items"),
        (
            {
                "customer_email": "a@example.com",
                "items": [{"sku": "JNC-MUG", "quantity": 0}],
                "payment_token": "tok_visa",
            },
            "items.0.quantity",
        ),
        (
            {
                "customer_email": "a@example.com",
                "items": [{"sku": "JNC-MUG", "quantity": 1}] * 51,
                "payment_token": "tok_visa",
            },
            "items",
        ),
        (
            {"customer_email": "a@example.com", "items": [{"sku": "JNC-MUG", "quantity": 1}]},
            "payment_token",
        ),
    ],
)
async def test_invalid_input_is_refused_naming_the_field(
    shop: Shop, body: dict[str, object], field: str
) -> None:
    before = (await shop.ledger("JNC-MUG"))["reserved"]
    reply = await shop.call("POST", f"{shop.ep.storefront}/api/checkout", body)
    assert reply.status == 422
    assert field in [f["field"] for f in reply.body["fields"]]
    assert (await shop.ledger("JNC-MUG"))["reserved"] == before


async def test_unknown_payment_token_and_sku_are_refused(shop: Shop) -> None:
    sku = await shop.new_sku(stock=3)
    reply = await shop.checkout([{"sku": sku, "quantity": 1}], token="tok_bogus")
    assert reply.status == 422 and "payment_token" in str(reply.body)
    reply = await shop.checkout([{"sku": "NO-SUCH-SKU", "quantity": 1}])
    assert reply.status == 422 and reply.body["skus"] == ["NO-SUCH-SKU"]


async def test_unknown_order_is_404(shop: Shop) -> None:
    reply = await shop.order(uuid.uuid4().hex)
    assert reply.status == 404 and reply.body["error"] == "not_found"


async def test_wrong_content_type_and_oversized_bodies_are_refused(shop: Shop) -> None:
    url = f"{shop.ep.storefront}/api/checkout"
    async with shop.http.post(
        url, data="customer_email=x", headers={"content-type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 415
    async with shop.http.post(
        url, data=b"{" + b" " * 200_000 + b"}", headers={"content-type": "application/json"}
    ) as r:
        assert r.status == 413


async def test_a_dependency_down_is_a_clear_503(endpoints: Endpoints, shop: Shop) -> None:
    platform = endpoints.platform
    if platform is None:
        pytest.skip("needs process control of a local platform")
    sku = await shop.new_sku(stock=3)
    platform.kill("payments", signal.SIGKILL)
    try:
        reply = await shop.checkout([{"sku": sku, "quantity": 1}], key=uuid.uuid4().hex)
    finally:
        await asyncio.to_thread(platform.restart, "payments")
    assert reply.status == 503
    assert reply.body["error"] == "dependency_unavailable"
    assert reply.body["dependency"] == "payments"
    assert "payments is unavailable" in reply.body["message"]
