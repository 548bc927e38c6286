"""Live payment events: a shop's dashboard sees each payment and refund as it commits.

Payments and refunds publish to the shop's channel after their transaction commits (so a
rolled-back payment is never announced); the dashboard reads the channel as Server-Sent
Events, with a comment line every few seconds so that proxies keep the stream open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from machipay.events import Broker

HEARTBEAT_SECONDS = 15.0


def merchant_channel(merchant_id: int) -> str:
    return f"merchant-events:{merchant_id}"


async def merchant_event_stream(
    broker: Broker, merchant_id: int, is_disconnected: Callable[[], Awaitable[bool]]
) -> AsyncGenerator[str, None]:
    """The shop's events as SSE text, one ``payment`` or ``refund`` event per movement."""
    async with broker.subscribe(merchant_channel(merchant_id)) as messages:
        yield ": connected\n\n"
        iterator = messages.__aiter__()
        # One read of the channel at a time, kept across heartbeats. Timing it out with
        # wait_for would cancel it, and a cancelled async generator is finished: the next
        # read raised StopAsyncIteration, which ended the stream with a traceback.
        reading: asyncio.Task[dict[str, Any]] | None = None
        try:
            while not await is_disconnected():
                if reading is None:
                    reading = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait({reading}, timeout=HEARTBEAT_SECONDS)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                message, reading = reading.result(), None
                data = json.dumps(message, ensure_ascii=False)
                yield f"event: {message['type']}\ndata: {data}\n\n"
        finally:
            # The tab closed (or the server stops): stop reading before unsubscribing.
            if reading is not None and not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await reading
