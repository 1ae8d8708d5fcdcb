"""The event catalogue: the AsyncAPI 3.0 document generated from the event models is valid
against the official AsyncAPI schema, and says what the code does."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from junction.contracts.asyncapi import asyncapi_document
from junction.contracts.catalogue import CONSUMERS, subject_for
from junction.contracts.events import EVENT_BY_TYPE, EVENT_TYPES, event_type
from junction_devtools.tools import asyncapi_schema
from tests.e2e.traces import UNCONSUMED_SUBJECTS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document("0.1.0")


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    schema = json.loads(asyncapi_schema("3.0.0").read_text())
    jsonschema.Draft7Validator(schema).validate(document)


def test_the_validation_catches_a_broken_document(document: dict[str, Any]) -> None:
    schema = json.loads(asyncapi_schema("3.0.0").read_text())
    broken = {**document, "operations": {"x": {"action": "publish", "channel": {}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_every_event_has_its_channel_publisher_and_consumers(document: dict[str, Any]) -> None:
    for model in EVENT_TYPES:
        name = event_type(model)
        assert document["channels"][name]["address"].endswith(f".{name}")
        ops = {k: v for k, v in document["operations"].items() if k.endswith(f".{name}")}
        senders = {o["tags"][0]["name"] for o in ops.values() if o["action"] == "send"}
        receivers = {o["tags"][0]["name"] for o in ops.values() if o["action"] == "receive"}
        assert len(senders) == 1
        assert receivers == set(CONSUMERS[name])


def test_payload_schemas_are_the_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    created = schemas["OrderCreated"]
    assert created["properties"]["type"]["const"] == "OrderCreated"
    summary = schemas["OrderSummary"]
    assert set(summary["required"]) == {"customer_email", "total_cents", "items"}


def test_the_e2e_suite_knows_which_events_no_durable_consumer_reads() -> None:
    # tests/e2e runs in an image without the Junction library, so it keeps its own copy.
    unconsumed = {
        subject_for(EVENT_BY_TYPE[name].model_fields["source"].default, name)
        for name, consumers in CONSUMERS.items()
        if not consumers
    }
    assert unconsumed == UNCONSUMED_SUBJECTS
