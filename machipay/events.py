"""Live events (payments arriving at a shop): published after commit, fanned out to
subscribers through Redis pub/sub (several API workers) or in memory (the demo).

A service never publishes directly: it calls :func:`publish_after_commit`, and the unit of
work publishes once the transaction has committed, so no one is told of a payment that
was then rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("machipay.events")
_PENDING = "machipay.after_commit_events"


class Broker(Protocol):
    async def publish(self, channel: str, message: dict[str, Any]) -> None: ...
    def subscribe(
        self, channel: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...
    async def close(self) -> None: ...


class MemoryBroker:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        for queue in list(self._queues.get(channel, ())):
            if queue.qsize() < 1000:  # a stalled listener must not grow memory without bound
                queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._queues.setdefault(channel, set()).add(queue)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._queues[channel].discard(queue)

    async def close(self) -> None:
        self._queues.clear()


class RedisBroker:
    def __init__(self, url: str) -> None:
        # Every live-event subscriber (a shop's open dashboard) holds a connection of its own.
        self._redis: Redis = Redis.from_url(url, decode_responses=True, max_connections=10_000)
        # Pub/sub ignores Redis' db number: without a prefix, two deployments sharing one
        # Redis (staging beside production) would see each other's shops' payments.
        self._prefix = f"db{self._redis.connection_pool.connection_kwargs.get('db', 0)}:"

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self._redis.publish(self._prefix + channel, json.dumps(message, ensure_ascii=False))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        pubsub = self._redis.pubsub()
        channel = self._prefix + channel
        await pubsub.subscribe(channel)

        async def messages() -> AsyncIterator[dict[str, Any]]:
            async for item in pubsub.listen():
                if item.get("type") == "message":
                    yield json.loads(item["data"])

        try:
            yield messages()
        finally:
            await pubsub.unsubscribe(channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()


def make_broker(redis_url: str | None) -> Broker:
    return RedisBroker(redis_url) if redis_url else MemoryBroker()


def publish_after_commit(session: AsyncSession, channel: str, message: dict[str, Any]) -> None:
    session.info.setdefault(_PENDING, []).append((channel, message))


def discard_pending(session: AsyncSession) -> None:
    session.info.pop(_PENDING, None)


async def flush_pending(session: AsyncSession, broker: Broker | None) -> None:
    pending = session.info.pop(_PENDING, [])
    if broker is None:
        return
    for channel, message in pending:
        try:
            await broker.publish(channel, message)
        except Exception:
            # The payment stands; a missed live notification is not a lost payment.
            log.exception("could not publish event", extra={"channel": channel})
