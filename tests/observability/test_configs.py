"""The observability configurations are consistent: every pipeline names components that
are defined, and Jaeger's memory is bounded."""

from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2] / "observability"


def load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return doc


@pytest.mark.parametrize("name", ["jaeger.yaml", "jaeger-badger.yaml", "otel-collector.yaml"])
def test_pipelines_reference_defined_components(name: str) -> None:
    doc = load(name)
    for pipeline in doc["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for component in pipeline.get(section, []):
                assert component in doc[section], f"{name}: {section}.{component} undefined"
    for extension in doc["service"].get("extensions", []):
        assert extension in doc["extensions"]


def test_jaeger_memory_is_bounded() -> None:
    doc = load("jaeger.yaml")
    memory = doc["extensions"]["jaeger_storage"]["backends"]["memstore"]["memory"]
    assert "max_traces" in memory
    assert doc["service"]["pipelines"]["traces"]["processors"][0] == "memory_limiter"


def test_collector_limits_memory_first_and_adds_kubernetes_attributes() -> None:
    processors = load("otel-collector.yaml")["service"]["pipelines"]["traces"]["processors"]
    assert processors[0] == "memory_limiter"
    assert "k8sattributes" in processors


@pytest.mark.parametrize("name", ["jaeger.yaml", "jaeger-badger.yaml"])
def test_jaeger_queries_and_exports_to_the_backend_it_declares(name: str) -> None:
    doc = load(name)
    backends = set(doc["extensions"]["jaeger_storage"]["backends"])
    assert doc["extensions"]["jaeger_query"]["storage"]["traces"] in backends
    assert doc["exporters"]["jaeger_storage_exporter"]["trace_storage"] in backends


def test_jaeger_on_badger_keeps_its_traces_on_the_volume() -> None:
    badger = load("jaeger-badger.yaml")["extensions"]["jaeger_storage"]["backends"]
    config = badger["badger_store"]["badger"]
    assert config["ephemeral"] is False
    assert all(d.startswith("/badger/") for d in config["directories"].values())
