"""JetStream messaging.

- `publisher`: the one path every event leaves by, with its producer span.
- `consumer`: the durable pull consumer and its explicit ack policy.
- `dead_letters`: the DLQ stream, where what can never be processed goes with its reason.
"""
