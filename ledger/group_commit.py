"""Group commit: the postings of one process's concurrent callers in one round trip and one
commit.

Every committed transaction pays a round trip per statement, a COMMIT and a WAL flush; at a
campaign's peak those, not the ledger's work, are most of a posting's cost. A
:class:`GroupCommitter` queues the drafts its callers hand it; each of its flushers (a few,
so one batch is on the wire while the next fills) takes what has queued, up to a cap, posts
it with one ``ledger_post_batch`` call and commits once. Each entry is still accepted or
refused on its own (a refused one undoes nothing of the others, keeps its idempotency key's
rules) and each caller is answered only after the commit that made its entry durable.

No artificial wait: a flusher takes whatever queued while the previous batch was on the
wire (batching grows with load by itself, and costs a lone caller nothing). ``window_ms``
adds a wait for more when a flusher finds fewer than ``max_batch`` queued.

When a whole batch fails (a lock timeout, a deadlock with another writer, a check at
COMMIT), the entries are posted again one by one, each in its own transaction, so one
bad entry never takes its neighbours down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.types import BigInteger, Integer, String

from ledger import _dberrors
from ledger.posting import EntryDraft, PostedEntry, post_draft
from machipay.db import UTCDateTime
from machipay.hotsql import HotStatement

# 64 subtransactions fill a backend's subtransaction cache; past it every snapshot in the
# server slows down (pg_subtrans lookups), so a batch stays below.
MAX_BATCH = 60

_POST_BATCH = HotStatement(
    text(
        "SELECT ord, entry_id, created, refusal, detail FROM ledger_post_batch("
        ":keys, :kinds, :memos, :fingerprints, :hashes, :created_ats, :leg_counts, :codes,"
        " :amounts)"
    ).bindparams(
        *(
            bindparam(name, type_=ARRAY(String()))
            for name in ("keys", "kinds", "memos", "fingerprints", "hashes", "codes")
        ),
        bindparam("created_ats", type_=ARRAY(UTCDateTime)),
        bindparam("leg_counts", type_=ARRAY(Integer())),
        bindparam("amounts", type_=ARRAY(BigInteger())),
    )
)


@dataclass
class GroupCommitStats:
    """What the batches looked like: their sizes, and how many fell back to one by one."""

    batch_sizes: Counter[int] = field(default_factory=Counter)
    fallbacks: int = 0

    @property
    def batches(self) -> int:
        return sum(self.batch_sizes.values())

    @property
    def entries(self) -> int:
        return sum(size * n for size, n in self.batch_sizes.items())

    def mean_batch(self) -> float:
        return self.entries / self.batches if self.batches else 0.0


@dataclass(slots=True)
class _Waiting:
    draft: EntryDraft
    answer: asyncio.Future[PostedEntry]


class GroupCommitter:
    """Post drafts for many concurrent callers, a batch per round trip and commit.

    Use as an async context manager (or call :meth:`close`): the flushers are tasks of the
    running loop. ``post`` answers with the entry or raises the ledger's error for that one
    draft, after its batch committed.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        flushers: int = 4,
        max_batch: int = 32,
        window_ms: float = 0.0,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1 to {MAX_BATCH}")
        if not 1 <= flushers <= 64 or not 0 <= window_ms <= 100:
            raise ValueError("flushers must be 1 to 64, window_ms 0 to 100")
        self._sessionmaker = sessionmaker
        self._max_batch = max_batch
        self._window = window_ms / 1000
        self._queue: list[_Waiting] = []
        self._ready = asyncio.Condition()
        self._closed = False
        self.stats = GroupCommitStats()
        self._tasks = [asyncio.create_task(self._flusher()) for _ in range(flushers)]

    async def __aenter__(self) -> GroupCommitter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def post(self, draft: EntryDraft) -> PostedEntry:
        if self._closed:
            raise RuntimeError("this group committer is closed")
        waiting = _Waiting(draft, asyncio.get_running_loop().create_future())
        async with self._ready:
            self._queue.append(waiting)
            self._ready.notify()
        return await waiting.answer

    async def close(self) -> None:
        """Post what is queued, then stop the flushers."""
        self._closed = True
        async with self._ready:
            self._ready.notify_all()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _take(self) -> list[_Waiting]:
        async with self._ready:
            await self._ready.wait_for(lambda: bool(self._queue) or self._closed)
        if self._window and len(self._queue) < self._max_batch and not self._closed:
            await asyncio.sleep(self._window)
        batch = self._queue[: self._max_batch]
        del self._queue[: len(batch)]
        return batch

    async def _flusher(self) -> None:
        while True:
            batch = await self._take()
            if not batch:
                if self._closed:
                    return
                continue
            try:
                await self._post(batch)
            except BaseException as exc:  # an answer for every caller, whatever happened
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _post(self, batch: list[_Waiting]) -> None:
        self.stats.batch_sizes[len(batch)] += 1
        try:
            async with self._sessionmaker() as session:
                rows = await _POST_BATCH.rows(session, batch_arguments([w.draft for w in batch]))
                await session.commit()
        except DBAPIError:
            # The whole batch failed (a lock timeout, a deadlock, a check at COMMIT): none
            # of it is written. One by one, each its own transaction and its own answer.
            self.stats.fallbacks += 1
            for waiting in batch:
                await self._post_alone(waiting)
            return
        for waiting, row in zip(batch, rows, strict=True):
            _ord, entry_id, created, refusal, detail = row
            if refusal is not None:
                waiting.answer.set_exception(
                    _dberrors.refusal(refusal, detail or "")
                    or RuntimeError(f"ledger_post_batch refused with {refusal}")
                )
            else:
                waiting.answer.set_result(PostedEntry(int(entry_id), bool(created)))

    async def _post_alone(self, waiting: _Waiting) -> None:
        try:
            async with self._sessionmaker() as session:
                posted = await post_draft(session, waiting.draft)
                await session.commit()
        except Exception as exc:
            with contextlib.suppress(asyncio.InvalidStateError):
                waiting.answer.set_exception(exc)
        else:
            waiting.answer.set_result(posted)


def batch_arguments(drafts: Sequence[EntryDraft]) -> dict[str, object]:
    """The arguments of ``ledger_post_batch`` for these drafts (legs flattened in order)."""
    if any(draft.reverses is not None for draft in drafts):
        raise ValueError("a reversal is posted on its own (reverse_entry), not in a batch")
    return {
        "keys": [d.key for d in drafts],
        "kinds": [d.kind for d in drafts],
        "memos": [d.memo for d in drafts],
        "fingerprints": [d.fingerprint for d in drafts],
        "hashes": [d.content_hash for d in drafts],
        "created_ats": [d.created_at for d in drafts],
        "leg_counts": [len(d.legs) for d in drafts],
        "codes": [leg.account for d in drafts for leg in d.legs],
        "amounts": [leg.amount for d in drafts for leg in d.legs],
    }
