"""Open-loop load for the harnesses: start one call per slot at a fixed rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any


async def at_rate(count: int, rate: float, one: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """Start `one(0)` .. `one(count - 1)` at `rate` per second (open loop: a slow call
    does not delay the next start; the starts keep to the clock, not to the sleeps), then
    wait for all."""
    began = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for i in range(count):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
    await asyncio.gather(*tasks)
