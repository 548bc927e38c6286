"""Live payment events: a shop's dashboard sees each payment and refund as it commits.

Payments and refunds publish to the shop's channel after their transaction commits (so a
rolled-back payment is never announced); the dashboard reads the channel as Server-Sent
Events, with a comment line every few seconds so that proxies keep the stream open.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from machipay.events import Broker

HEARTBEAT_SECONDS = 15.0


def merchant_channel(merchant_id: int) -> str:
    return f"merchant-events:{merchant_id}"


async def merchant_event_stream(
    broker: Broker, merchant_id: int, is_disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[str]:
    """The shop's events as SSE text, one ``payment`` or ``refund`` event per movement."""
    async with broker.subscribe(merchant_channel(merchant_id)) as messages:
        yield ": connected\n\n"
        iterator = messages.__aiter__()
        while not await is_disconnected():
            try:
                message = await asyncio.wait_for(iterator.__anext__(), timeout=HEARTBEAT_SECONDS)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            data = json.dumps(message, ensure_ascii=False)
            yield f"event: {message['type']}\ndata: {data}\n\n"
