"""Cache and rate-limit backend: Redis when ``MACHIPAY_REDIS_URL`` is set, in-memory otherwise.

Both implementations keep the same semantics (TTL in seconds, atomic counters, set-if-absent),
so features built on them (rate limits, token deny-lists, one-time codes) behave the same in
the embedded demo and in production. The in-memory one is per process: fine for one worker,
and its TTLs run on the product's clock (``machipay.timeutil``), so a test can move time.

Where an expiry matters to the outcome (a one-time code, a sign-in lock) the feature stores
its deadline in the value and compares it with ``utcnow()``; the key's TTL, longer by
:data:`CLEAN_UP_GRACE_SECONDS`, only clears it away afterwards. Redis's TTL runs in real
time, and a decision must not depend on which of the two clocks a run reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import BlockingConnectionPool, Redis

from machipay.errors import RateLimited
from machipay.timeutil import utcnow

CLEAN_UP_GRACE_SECONDS = 60


class CacheBackend(Protocol):
    async def get(self, key: str) -> str | None: ...
    async def set(self, key: str, value: str, ttl_seconds: int | None = None) -> None: ...
    async def set_if_absent(self, key: str, value: str, ttl_seconds: int) -> bool: ...
    async def delete(self, key: str) -> None: ...
    async def take(self, key: str) -> str | None: ...
    async def incr_window(self, key: str, window_seconds: int) -> int: ...
    async def count_hits(self, windows: Sequence[tuple[str, int]]) -> list[tuple[int, int]]: ...
    async def push_recent(self, key: str, value: str, keep: int, ttl_seconds: int) -> None: ...
    async def recent(self, key: str) -> list[str]: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


def _seconds_now() -> float:
    return utcnow().timestamp()


class MemoryCache:
    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._lists: dict[str, tuple[list[str], float]] = {}
        self._lock = asyncio.Lock()

    def _live(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= _seconds_now():
            del self._data[key]
            return None
        return value

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        expires = _seconds_now() + ttl_seconds if ttl_seconds else None
        self._data[key] = (value, expires)
        if len(self._data) % 1024 == 0:
            self._sweep()

    async def set_if_absent(self, key: str, value: str, ttl_seconds: int) -> bool:
        async with self._lock:
            if self._live(key) is not None:
                return False
            await self.set(key, value, ttl_seconds)
            return True

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def take(self, key: str) -> str | None:
        """Get and delete at once: a one-time code can be taken by one caller only."""
        value = self._live(key)
        self._data.pop(key, None)
        return value

    async def incr_window(self, key: str, window_seconds: int) -> int:
        async with self._lock:
            current = self._live(key)
            if current is None:
                await self.set(key, "1", window_seconds)
                return 1
            _, expires = self._data[key]
            count = int(current) + 1
            self._data[key] = (str(count), expires)
            return count

    async def count_hits(self, windows: Sequence[tuple[str, int]]) -> list[tuple[int, int]]:
        """Count a hit on each key; each key's window starts at its first hit. Returns the
        counts and the whole seconds left in each window."""
        out = []
        for key, window_seconds in windows:
            count = await self.incr_window(key, window_seconds)
            _, expires = self._data[key]
            left = window_seconds if expires is None else int(expires - _seconds_now()) + 1
            out.append((count, min(left, window_seconds)))
        return out

    async def push_recent(self, key: str, value: str, keep: int, ttl_seconds: int) -> None:
        """Put ``value`` first in the list at ``key``, keep its ``keep`` newest items."""
        items = await self.recent(key)
        self._lists[key] = ([value, *items][:keep], _seconds_now() + ttl_seconds)

    async def recent(self, key: str) -> list[str]:
        """The list at ``key``, newest first."""
        items, expires = self._lists.get(key, ([], 0.0))
        if expires <= _seconds_now():
            self._lists.pop(key, None)
            return []
        return list(items)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()
        self._lists.clear()

    def _sweep(self) -> None:
        now = _seconds_now()
        for key in [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]:
            del self._data[key]


class RedisCache:
    def __init__(self, url: str, *, max_connections: int = 100) -> None:
        # A blocking pool: at a campaign peak a request waits a moment for a connection
        # instead of failing with "too many connections" (redis-py's default pool raises).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=2,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=2,
        )
        self._redis: Redis = Redis(connection_pool=pool)

    async def get(self, key: str) -> str | None:
        value = await self._redis.get(key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl_seconds: int | None = None) -> None:
        await self._redis.set(key, value, ex=ttl_seconds)

    async def set_if_absent(self, key: str, value: str, ttl_seconds: int) -> bool:
        return bool(await self._redis.set(key, value, ex=ttl_seconds, nx=True))

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)

    async def take(self, key: str) -> str | None:
        value = await self._redis.getdel(key)
        return None if value is None else str(value)

    async def incr_window(self, key: str, window_seconds: int) -> int:
        # INCR then EXPIRE NX in one round trip: the window starts at the first hit.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def count_hits(self, windows: Sequence[tuple[str, int]]) -> list[tuple[int, int]]:
        # Every limit of a request in one round trip: a payment checks its account and its
        # address without a second wait on Redis.
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, window_seconds in windows:
                pipe.incr(key)
                pipe.expire(key, window_seconds, nx=True)
                pipe.ttl(key)
            replies = await pipe.execute()
        out = []
        for (_, window_seconds), at in zip(windows, range(0, len(replies), 3), strict=True):
            count, ttl = int(replies[at]), int(replies[at + 2])
            out.append((count, ttl if 0 < ttl <= window_seconds else window_seconds))
        return out

    async def push_recent(self, key: str, value: str, keep: int, ttl_seconds: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, value)
            pipe.ltrim(key, 0, keep - 1)
            pipe.expire(key, ttl_seconds)
            await pipe.execute()

    async def recent(self, key: str) -> list[str]:
        return [str(item) for item in await self._redis.lrange(key, 0, -1)]

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)

    async def flush(self) -> None:
        """Empty this Redis database (tests use a dedicated db number)."""
        await self._redis.flushdb()


def make_cache(redis_url: str | None, *, max_connections: int = 100) -> CacheBackend:
    return RedisCache(redis_url, max_connections=max_connections) if redis_url else MemoryCache()


@dataclass(frozen=True)
class RateLimit:
    """A fixed-window limit: at most ``limit`` hits per ``window_seconds`` per subject, the
    window starting at the subject's first hit (so a burst cannot straddle a clock minute
    to get twice the limit through)."""

    name: str
    limit: int
    window_seconds: int = 60

    def key_for(self, subject: str) -> str:
        return f"rl:{self.name}:{subject}"

    async def hit(self, cache: CacheBackend, subject: str) -> None:
        await enforce(cache, (self, subject))


async def enforce(cache: CacheBackend, *hits: tuple[RateLimit, str]) -> None:
    """Count one hit against each (limit, subject) in one cache round trip; 429 with
    ``Retry-After`` if any of them is over."""
    counts = await cache.count_hits(
        [(limit.key_for(subject), limit.window_seconds) for limit, subject in hits]
    )
    for (limit, _), (count, seconds_left) in zip(hits, counts, strict=True):
        if count > limit.limit:
            raise RateLimited(
                f"Too many {limit.name} requests; try again in {seconds_left} s.",
                retry_after=seconds_left,
            )
