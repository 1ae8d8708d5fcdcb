"""NATS accounts for a local run: one user per service with least-privilege permissions
(its own event subjects, its own KV bucket, the JetStream API calls it makes), plus an
operator user for the tests and junctionctl. Passwords are generated per run."""

from __future__ import annotations

import json
import secrets

from junction.contracts.catalogue import STREAM_OF_SOURCE

# What each service consumes (stream names) and owns (event stream, KV bucket).
CONSUMES = {
    "storefront": [],
    "orders": ["PAYMENTS", "INVENTORY"],
    "inventory": ["PAYMENTS", "INVENTORY"],
    "payments": ["ORDERS"],
    "notifications": ["ORDERS"],
}
OPERATOR = "operator"
# Plain (not JetStream) subscriptions: the storefront's live order pages watch the events
# and notifications' email records pass, to know when to read an order again
# (storefront.live.SUBJECTS; a test holds the two equal).
WATCHES = {"storefront": ["orders.>", "inventory.>", "payments.>", "$KV.notifications.email.>"]}


def permissions(service: str) -> dict[str, dict[str, list[str]]]:
    """Publish/subscribe allow lists for one service's user."""
    bucket = f"KV_{service}"
    own = STREAM_OF_SOURCE.get(service)
    own_streams = ([own.name] if own else []) + ["DLQ", bucket]
    read_streams = CONSUMES[service] + [bucket]
    publish = [
        f"{own.subjects[0]}" if own else "",  # its own events, e.g. orders.>
        "dlq.>",  # dead letters
        f"$KV.{service}.>",  # writes to its own bucket
        "$JS.API.INFO",
    ]
    for stream in own_streams:
        publish += [
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.STREAM.CREATE.{stream}",
            f"$JS.API.STREAM.UPDATE.{stream}",
        ]
    for stream in CONSUMES[service]:
        publish.append(f"$JS.API.STREAM.INFO.{stream}")
    for stream in read_streams:
        publish += [
            f"$JS.API.CONSUMER.CREATE.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.INFO.{stream}.>",
            f"$JS.API.CONSUMER.DELETE.{stream}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>",
            f"$JS.ACK.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    publish += [
        f"$JS.API.DIRECT.GET.{bucket}",
        f"$JS.API.DIRECT.GET.{bucket}.>",
        f"$JS.API.STREAM.MSG.GET.{bucket}",
    ]
    subscribe = ["_INBOX.>", *WATCHES.get(service, [])]
    return {"publish": {"allow": [p for p in publish if p]}, "subscribe": {"allow": subscribe}}


def generate(services: list[str]) -> dict[str, str]:
    """A fresh password per user."""
    return {user: secrets.token_urlsafe(18) for user in [*services, OPERATOR]}


def authorization_block(passwords: dict[str, str]) -> str:
    """The `authorization { users = [...] }` section of nats.conf."""
    users = []
    for user, password in passwords.items():
        entry: dict[str, object] = {"user": user, "password": password}
        if user != OPERATOR:
            entry["permissions"] = permissions(user)
        users.append(entry)
    # nats.conf accepts JSON-style values.
    return "authorization {\n  users = " + json.dumps(users, indent=2) + "\n}\n"


def chart_permissions() -> dict[str, dict[str, dict[str, list[str]]]]:
    """The same permissions for the chart (charts/junction/files/nats-permissions.json)."""
    return {service: permissions(service) for service in CONSUMES}


def main() -> None:
    """Print the chart's permissions file (kept equal to it by a test)."""
    print(json.dumps(chart_permissions(), indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
