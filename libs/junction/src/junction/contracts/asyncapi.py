"""The event catalogue as an AsyncAPI 3.0 document: every stream's subjects, the event each
carries with its payload schema, the service that publishes it and those that consume it.

Generated from the event models and the catalogue, not from FastStream's broker: FastStream
documents one application's own publishers and subscribers, where this document describes
five services at once, and Junction's consumers are its own pull loops, which FastStream
does not see (docs/decisions/0001-pull-consumer.md).
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from junction.contracts.catalogue import CONSUMERS, STREAM_OF_SOURCE, subject_for
from junction.contracts.events import EVENT_TYPES, event_source, event_type

HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": "The event id: JetStream drops a duplicate within its window.",
        },
        "traceparent": {
            "type": "string",
            "description": "W3C trace context of the publishing span (when traced).",
        },
        "tracestate": {"type": "string"},
    },
    "required": ["Nats-Msg-Id"],
}


def asyncapi_document(version: str, server: str = "nats:4222") -> dict[str, Any]:
    """The whole platform's AsyncAPI 3.0 document."""
    _, schemas = models_json_schema(
        [(e, "serialization") for e in EVENT_TYPES],
        ref_template="#/components/schemas/{model}",
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event in EVENT_TYPES:
        name, source = event_type(event), event_source(event)
        subject = subject_for(source, name)
        stream = STREAM_OF_SOURCE[source].name
        messages[name] = {
            "name": name,
            "title": name,
            "summary": " ".join((event.__doc__ or name).split()),
            "contentType": "application/json",
            "headers": HEADERS_SCHEMA,
            "payload": {"$ref": f"#/components/schemas/{name}"},
        }
        channels[name] = {
            "address": subject,
            "title": subject,
            "description": f"Stream {stream} (owned by {source}).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        message_ref = {"$ref": f"#/channels/{name}/messages/{name}"}
        operations[f"{source}.publish.{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"{source} publishes {name} (through its outbox).",
            "tags": [{"name": source}],
            "messages": [message_ref],
        }
        for consumer in CONSUMERS[name]:
            operations[f"{consumer}.consume.{name}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{name}"},
                "summary": f"{consumer} consumes {name} (durable {consumer}-{name}).",
                "tags": [{"name": consumer}],
                "messages": [message_ref],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Junction events",
            "version": version,
            "description": (
                "Every integration event of the Junction checkout, on NATS JetStream: which "
                "service publishes it, which consume it, and its payload. Events are "
                "published with Nats-Msg-Id = event id; consumers acknowledge explicitly, "
                "and a message no consumer can process goes to the DLQ stream "
                "(dlq.<subject>) with the reason in Junction-Dlq-Reason."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "nats": {
                "host": server,
                "protocol": "nats",
                "description": "The platform's NATS server with JetStream.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.get("$defs", {})},
    }
