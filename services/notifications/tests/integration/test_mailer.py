"""SmtpMailer against a real SMTP server (the local mail sink, aiosmtpd)."""

import email
import email.policy
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from junction.contracts.common import OrderLine
from junction.contracts.events import OrderConfirmed, OrderSummary
from junction_devtools.mailsink import Handler, MailStore, parse_stored, sink_controller
from junction_devtools.platform import free_ports
from notifications.domain import EmailKind, compose
from notifications.mailer import SmtpMailer

pytestmark = pytest.mark.integration

ITEMS = [OrderLine(sku="JNC-MUG", quantity=2, price_cents=1200)]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Controller, MailStore]]:
    store = MailStore(tmp_path / "mail")
    controller = sink_controller(store, "127.0.0.1", free_ports(["smtp"])["smtp"])
    controller.start()
    yield controller, store
    controller.stop()


def receipt(order_id: str, to: str, sender: str = "Junction Shop <shop@junction.local>") -> Message:
    event = OrderConfirmed(
        order_id=order_id,
        data=OrderSummary(customer_email=to, items=ITEMS, total_cents=2400),
    )
    return compose(event, EmailKind.RECEIPT, sender=sender, domain="junction.local")


def stored(store: MailStore) -> list[email.message.EmailMessage]:
    paths = sorted(store.folder.glob("*.eml"))
    return [parse_stored(p.read_bytes()) for p in paths]


async def test_messages_share_one_kept_open_connection(sink: tuple[Controller, MailStore]) -> None:
    controller, store = sink
    mailer = SmtpMailer("127.0.0.1", controller.port, timeout=5, connections=1)
    for i in range(3):
        await mailer.send(receipt(f"o{i}", "c@example.com"))
    await mailer.close()

    handler = controller.handler
    assert isinstance(handler, Handler)
    assert len(handler.peers) == 3 and len(set(handler.peers)) == 1  # one client port
    got = stored(store)
    assert [str(m["Message-ID"]) for m in got] == [
        f"<o{i}.receipt@junction.local>" for i in range(3)
    ]
    body = got[0].get_body()
    assert body is not None and "Total: 24.00" in body.get_content()


async def test_a_connection_the_server_dropped_is_replaced(tmp_path: Path) -> None:
    store = MailStore(tmp_path / "mail")
    port = free_ports(["smtp"])["smtp"]
    first = sink_controller(store, "127.0.0.1", port)
    first.start()
    mailer = SmtpMailer("127.0.0.1", port, timeout=5, connections=1)
    try:
        await mailer.send(receipt("o1", "c@example.com"))
    finally:
        first.stop()  # the server goes away, and with it the idle session
    second = sink_controller(store, "127.0.0.1", port)
    second.start()
    try:
        await mailer.send(receipt("o2", "c@example.com"))
        await mailer.close()
    finally:
        second.stop()
    assert [str(m["Message-ID"]) for m in stored(store)] == [
        "<o1.receipt@junction.local>",
        "<o2.receipt@junction.local>",
    ]


async def test_international_names_and_addresses_arrive_intact(
    sink: tuple[Controller, MailStore],
) -> None:
    controller, store = sink
    mailer = SmtpMailer("127.0.0.1", controller.port, timeout=5)
    await mailer.send(
        receipt("o1", "zoë@example.com", sender="Jünction Shop <shop@junction.local>")
    )
    await mailer.send(receipt("o2", "c@example.com", sender="Jünction Shop <shop@junction.local>"))
    await mailer.close()
    first, second = stored(store)
    assert first["To"].addresses[0].addr_spec == "zoë@example.com"
    assert second["From"].addresses[0].display_name == "Jünction Shop"
    assert second["From"].addresses[0].addr_spec == "shop@junction.local"
