"""Start-up beside a JetStream cluster that is still electing: its timeouts and 503s are
waited out, anything else is not."""

import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError

from junction.connection import when_ready

pytestmark = pytest.mark.unit


async def test_jetstream_not_answering_yet_is_waited_out() -> None:
    calls = 0

    async def declare() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise NatsTimeoutError
        if calls == 2:
            raise NoStreamResponseError  # a bucket just created, its stream not settled
        return "declared"

    assert await when_ready(declare, timeout=5) == "declared"
    assert calls == 3


async def test_it_gives_up_after_the_timeout_and_does_not_retry_other_errors() -> None:
    async def never() -> None:
        raise NatsTimeoutError

    with pytest.raises(NatsTimeoutError):
        await when_ready(never, timeout=0.3)

    calls = 0

    async def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a real error")

    with pytest.raises(ValueError, match="a real error"):
        await when_ready(broken, timeout=5)
    assert calls == 1
