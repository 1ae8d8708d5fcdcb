"""State in JetStream key-value buckets.

- `bucket`: one service's bucket, through nats-py's public API (and the protocol fakes meet).
- `aggregates`: typed aggregates written with compare-and-set, each with its outbox.
- `outbox`: the relay that publishes what the aggregates' outboxes hold.
"""
