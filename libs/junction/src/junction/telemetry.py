"""OpenTelemetry set-up: one tracer provider per process, OTLP export, W3C propagation."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from junction.config import ServiceSettings

logger = logging.getLogger(__name__)

# Downward-API variables the chart sets -> resource attributes.
K8S_ENV = {
    "k8s.pod.name": "K8S_POD_NAME",
    "k8s.namespace.name": "K8S_NAMESPACE_NAME",
    "k8s.node.name": "K8S_NODE_NAME",
}


def current_trace_id() -> str | None:
    """The current trace id in hex, or None outside a recorded trace."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def annotate_order(order_id: str) -> None:
    """Tag the current span with the order it is about (`order.id`)."""
    trace.get_current_span().set_attribute("order.id", order_id)


def resource_for(settings: ServiceSettings) -> Resource:
    """Resource attributes: service identity plus Kubernetes placement when known."""
    attrs: dict[str, str] = {
        "service.name": settings.service_name,
        "service.version": settings.service_version,
        "deployment.environment": settings.environment,
        "deployment.environment.name": settings.environment,
    }
    for attr, env in K8S_ENV.items():
        if value := os.environ.get(env):
            attrs[attr] = value
    return Resource.create(attrs)


def setup_telemetry(settings: ServiceSettings) -> TracerProvider | None:
    """Install the tracer provider (OTLP batch export) and W3C propagators; None when off."""
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
    )
    if not settings.telemetry_enabled:
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=resource_for(settings),
        sampler=ParentBased(TraceIdRatioBased(settings.telemetry_sample_ratio)),
    )
    # The endpoint comes from OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT; the exporter's own timeout
    # bounds a send, and the batch processor never blocks the request path (it drops instead).
    exporter = OTLPSpanExporter(timeout=settings.telemetry_export_timeout_seconds)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=8192, schedule_delay_millis=500)
    )
    trace.set_tracer_provider(provider)
    logger.info(
        "telemetry on",
        extra={
            "sample_ratio": settings.telemetry_sample_ratio,
            "otlp_endpoint": os.environ.get(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ),
        },
    )
    return provider
