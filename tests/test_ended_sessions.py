"""The token check's memory of the deny-list (machipay/auth/ended_sessions.py): a worker
trusts its own "not ended" for at most ``memo_s``, sees its own sign-outs at once, and never
remembers an ended session as alive. A fake clock; the in-memory cache as the deny-list."""

from __future__ import annotations

import uuid

from machipay.auth.ended_sessions import deny_sessions, ended_key, session_ended
from machipay.cache import MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_another_workers_sign_out_is_seen_within_the_memo() -> None:
    cache, clock, sid = MemoryCache(), Clock(), uuid.uuid4().hex
    assert await session_ended(cache, sid, memo_s=1.0, monotonic=clock) is False
    # Another worker ends the session: it writes the deny-list, not this worker's memory.
    await cache.set(ended_key(sid), "1", ttl_seconds=60)
    clock.now += 0.9
    assert await session_ended(cache, sid, memo_s=1.0, monotonic=clock) is False
    clock.now += 0.2
    assert await session_ended(cache, sid, memo_s=1.0, monotonic=clock) is True


async def test_a_sign_out_in_this_worker_is_seen_at_once() -> None:
    cache, clock, sid = MemoryCache(), Clock(), uuid.uuid4().hex
    assert await session_ended(cache, sid, memo_s=1.0, monotonic=clock) is False
    await deny_sessions(cache, [sid], ttl_seconds=60)
    assert await session_ended(cache, sid, memo_s=1.0, monotonic=clock) is True


async def test_an_ended_session_stays_ended_and_no_memo_asks_every_time() -> None:
    cache, clock, sid = MemoryCache(), Clock(), uuid.uuid4().hex
    await cache.set(ended_key(sid), "1", ttl_seconds=60)
    for _ in range(3):
        assert await session_ended(cache, sid, memo_s=1.0, monotonic=clock) is True
    other = uuid.uuid4().hex
    assert await session_ended(cache, other, monotonic=clock) is False
    await cache.set(ended_key(other), "1", ttl_seconds=60)
    # Without a memo (a refresh) the deny-list is asked again at the same instant.
    assert await session_ended(cache, other, monotonic=clock) is True
