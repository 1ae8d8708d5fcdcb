"""Settings shared by every service; each service subclasses `ServiceSettings`."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Configuration common to every Junction service, read from `JUNCTION_*` variables."""

    model_config = SettingsConfigDict(env_prefix="JUNCTION_", extra="ignore")

    service_name: str = "junction"
    service_version: str = "0.1.0"
    environment: str = "local"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: str | None = None
    nats_connect_timeout_seconds: float = 2.0
    # A server that stops answering (cut off by the network, not closed) is given up after
    # this many unanswered pings, this far apart, and the client moves to another node
    # (nats-py's default, two minutes apart, left a client on a cut-off node that long).
    nats_ping_interval_seconds: float = Field(default=5.0, gt=0)
    nats_max_outstanding_pings: int = Field(default=2, ge=1)
    js_replicas: int = Field(default=1, ge=1, le=5)
    js_duplicate_window_seconds: float = 120.0
    streams_wait_seconds: float = 30.0

    # Sync calls: a timeout on every call, a cap on every retry, a breaker per downstream.
    http_timeout_seconds: float = Field(default=2.0, gt=0)
    http_retry_attempts: int = Field(default=3, ge=1, le=10)
    http_pool_size: int = Field(default=64, ge=1)
    # A server closes an HTTP connection idle this long; a client in the platform drops its
    # own pooled connections after half of it, so that a request never goes out on one the
    # server is closing at that moment (it would fail as "server disconnected", and a call
    # that is not idempotent is not retried).
    http_keepalive_seconds: int = Field(default=5, ge=2)
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=5.0, gt=0)

    # Consumers: explicit ack policy, bounded deliveries.
    consumer_max_deliver: int = Field(default=8, ge=2)
    consumer_ack_wait_seconds: float = Field(default=30.0, gt=0)
    consumer_workers: int = Field(default=16, ge=1)
    consumer_backoff_seconds: float = Field(default=0.5, gt=0)
    # How long an idle consumer's fetch waits for the next message (it returns as soon as
    # one arrives; shutdown does not wait for it).
    consumer_idle_wait_seconds: float = Field(default=1.0, gt=0)

    # The outbox relay publishes inline; the sweep recovers what a crash left behind.
    outbox_sweep_interval_seconds: float = Field(default=5.0, gt=0)
    # A published event leaves the stored outbox with the aggregate's next write when one
    # comes within this many seconds, or with a write of its own after it (0: at once).
    outbox_clear_delay_seconds: float = Field(default=2.0, ge=0)
    cas_attempts: int = Field(default=50, ge=1)

    # Once a service is up: the start-up heap frozen out of later garbage collections, and
    # a young collection every this many allocations instead of CPython's 700 (see
    # junction.service.tune_gc). 0 leaves the collector as CPython sets it.
    gc_young_threshold: int = Field(default=10_000, ge=0)

    shutdown_grace_seconds: float = Field(default=10.0, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    telemetry_enabled: bool = False
    # Head sampling: the share of new traces recorded (1.0: every checkout). A service
    # follows the decision of the trace it joins, so a checkout is traced whole or not at all.
    telemetry_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Bounds one OTLP export (retries included), so a collector that is down delays
    # neither requests (spans are batched) nor shutdown by more than this.
    telemetry_export_timeout_seconds: float = Field(default=2.0, gt=0)
    # Spans are exported in batches this often (or whenever 512 are waiting). Each export has
    # a fixed cost on both ends (an RPC, its threads woken): every 2 s rather than every
    # 0.5 s, the export threads and the trace store took about 0.85 ms less CPU per checkout
    # (decision 0018); a trace shows up in Jaeger up to this long after its last span ended.
    telemetry_export_delay_seconds: float = Field(default=2.0, gt=0, le=30)
    log_level: str = "INFO"
    log_json: bool = True
