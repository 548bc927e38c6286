"""Group commit for residents' QR payments: one worker's concurrent payments in one
transaction, three database calls and one COMMIT.

At a campaign's peak a worker has tens of payments in flight, and each paid on its own costs
a transaction: a connection, BEGIN, its calls, COMMIT and the WAL flush, each with its Python
on the worker's one core. :class:`PaymentGroupCommit` queues the sticker payments the route
hands it; each of its flushers (a few, so one batch is on the wire while the next fills)
takes what has queued, one payment per payer (payers already in a batch wait for the next),
and pays them with :func:`payments.qr_pay.pay_stickers` in one unit of work.

Each payment is still accepted or refused on its own and keeps its Idempotency-Key's rules:
- the batch's first call routes a payment that would be refused (a shop that cannot be paid,
  a frozen wallet, too little money) out of the batch with nothing of it kept, and it is paid
  on its own straight after, by the same path as an unbatched payment, which refuses it with
  its exact answer;
- when the batch as a whole fails (a deadlock, a check at COMMIT), none of it is written and
  every payment of it is paid on its own in the same way;
- every caller is answered only after the COMMIT that made its payment (or its refusal)
  durable.

No artificial wait: a flusher takes whatever queued while the previous batch was on the wire,
so batches grow with load by themselves and a lone payment waits for nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger import GroupCommitStats
from machipay.db import unit_of_work
from machipay.events import Broker
from machipay.idempotency import StoredResponse
from machipay.metrics import (
    PAYMENT_BATCH_DURATION,
    PAYMENT_BATCH_SIZE,
    PAYMENT_BATCH_WAIT,
    PAYMENTS_PAID_ALONE,
)
from machipay.settings import Settings
from merchant_api import ParsedQr
from payments.qr_pay import QrPayment, pay_qr_idempotently, pay_stickers, rehearse_stickers
from payments.rewards import CampaignRewards

log = logging.getLogger(__name__)

# 64 subtransactions with a transaction id fill a backend's subtransaction cache; past it
# every snapshot in the server slows down (pg_subtrans lookups). A batch's payment keeps up to
# three: its open (payment_open_batch) and one budget reservation per rewarding campaign
# (campaign_reserve, a resident's and a shop's campaign). 21 x 3 = 63.
MAX_BATCH = 21


@dataclass
class PaymentBatchStats(GroupCommitStats):
    """What the batches looked like (their sizes, the batches that failed as a whole), and the
    payments paid on their own after their batch."""

    alone: int = 0


@dataclass(slots=True)
class _Waiting:
    payment: QrPayment
    sticker: ParsedQr
    answer: asyncio.Future[StoredResponse]
    queued_at: float = field(default_factory=time.monotonic)


class PaymentGroupCommit:
    """Pay residents' sticker payments in batches, answered each after its COMMIT.

    Start it on the running loop, and :meth:`close` it before the engine goes away.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broker: Broker | None,
        settings: Settings,
        rewards: CampaignRewards,
        *,
        flushers: int = 4,
        max_batch: int = 20,
    ) -> None:
        if not 1 <= max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be 1 to {MAX_BATCH}")
        if not 1 <= flushers <= 64:
            raise ValueError("flushers must be 1 to 64")
        self._sessionmaker = sessionmaker
        self._broker = broker
        self._settings = settings
        self._rewards = rewards
        self._max_batch = max_batch
        self._queue: list[_Waiting] = []
        # Payers with a payment in a batch or being paid on its own: their next one waits, so a
        # batch never waits on a lock another batch of this worker holds.
        self._busy: set[int] = set()
        self._ready = asyncio.Condition()
        self._closed = False
        self._alone: set[asyncio.Task[None]] = set()
        self.stats = PaymentBatchStats()
        self._tasks = [
            asyncio.create_task(self._flusher(), name=f"payment-group-commit-{n}")
            for n in range(flushers)
        ]

    async def pay(self, payment: QrPayment, sticker: ParsedQr) -> StoredResponse:
        """Pay it in the next batch; its stored answer once committed (a refusal is raised,
        as paying it on its own raises it)."""
        if self._closed:
            raise RuntimeError("the payment group commit is closed")
        waiting = _Waiting(payment, sticker, asyncio.get_running_loop().create_future())
        async with self._ready:
            self._queue.append(waiting)
            self._ready.notify()
        return await waiting.answer

    async def warm(self) -> None:
        """Open a connection for each flusher and rehearse a batch's statements on it, so
        the first batches (and a burst that needs every flusher) wait for no connection to
        open and no statement to prepare. A cold connection took tens of milliseconds
        before its first statement (BENCHMARKS.md, session 14)."""

        async def rehearse() -> None:
            async with self._sessionmaker() as session:
                await rehearse_stickers(session, self._rewards)
                await session.rollback()

        await asyncio.gather(*(rehearse() for _ in self._tasks))

    async def close(self) -> None:
        """Pay what is queued, then stop."""
        self._closed = True
        async with self._ready:
            self._ready.notify_all()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._alone, return_exceptions=True)

    @property
    def queued(self) -> int:
        """Payments waiting for a batch."""
        return len(self._queue)

    def paying(self, resident_id: int) -> bool:
        """Whether a payment of this payer is in a batch (or being paid on its own)."""
        return resident_id in self._busy

    def _takeable(self) -> bool:
        return any(w.payment.resident_id not in self._busy for w in self._queue)

    async def _take(self) -> list[_Waiting]:
        async with self._ready:
            await self._ready.wait_for(
                lambda: self._takeable() or (self._closed and not self._queue)
            )
            batch: list[_Waiting] = []
            rest: list[_Waiting] = []
            for waiting in self._queue:
                resident = waiting.payment.resident_id
                if len(batch) < self._max_batch and resident not in self._busy:
                    self._busy.add(resident)
                    batch.append(waiting)
                else:
                    rest.append(waiting)
            self._queue = rest
        # Payers in id order: two batches lock their payers in one order.
        batch.sort(key=lambda w: w.payment.resident_id)
        return batch

    async def _done_with(self, residents: list[int]) -> None:
        async with self._ready:
            self._busy.difference_update(residents)
            self._ready.notify_all()

    async def _flusher(self) -> None:
        while True:
            batch = await self._take()
            if not batch:
                return  # closed, and nothing left
            alone: list[_Waiting] = []
            try:
                alone = await self._pay(batch)
            except BaseException as exc:  # an answer for every caller, whatever happened
                for waiting in batch:
                    _settle(waiting.answer, error=exc)
                await self._done_with([w.payment.resident_id for w in batch])
                if not isinstance(exc, Exception):
                    raise
                continue
            await self._done_with([w.payment.resident_id for w in batch if w not in alone])
            for waiting in alone:
                task = asyncio.create_task(self._pay_alone(waiting))
                self._alone.add(task)
                task.add_done_callback(self._alone.discard)

    async def _pay(self, batch: list[_Waiting]) -> list[_Waiting]:
        """Pay the batch; answer what it settled; return those to pay on their own."""
        self.stats.batch_sizes[len(batch)] += 1
        PAYMENT_BATCH_SIZE.observe(len(batch))
        began = time.monotonic()
        for waiting in batch:
            PAYMENT_BATCH_WAIT.observe(began - waiting.queued_at)
        try:
            async with unit_of_work(self._sessionmaker, self._broker) as session:
                answers = await pay_stickers(
                    session,
                    self._settings,
                    [(w.payment, w.sticker) for w in batch],
                    rewards=self._rewards,
                )
            PAYMENT_BATCH_DURATION.observe(time.monotonic() - began)
        except Exception:
            # Nothing of the batch was written: each is paid on its own, from the start.
            log.warning(
                "payment batch failed; paying its %d payments one by one", len(batch), exc_info=True
            )
            self.stats.fallbacks += 1
            PAYMENTS_PAID_ALONE.labels("batch-failed").inc(len(batch))
            return batch
        alone = []
        for waiting, answer in zip(batch, answers, strict=True):
            if answer.alone:
                PAYMENTS_PAID_ALONE.labels("routed-out").inc()
                alone.append(waiting)
            elif answer.refusal is not None:
                _settle(waiting.answer, error=answer.refusal)
            else:
                assert answer.stored is not None
                _settle(waiting.answer, answer.stored)
        return alone

    async def _pay_alone(self, waiting: _Waiting) -> None:
        self.stats.alone += 1
        request = waiting.payment.claim.request
        request.record_id, request.answer = None, None  # whatever the batch had claimed
        try:
            async with unit_of_work(self._sessionmaker, self._broker) as session:
                stored = await pay_qr_idempotently(
                    session, self._settings, waiting.payment, rewards=self._rewards
                )
        except Exception as exc:
            _settle(waiting.answer, error=exc)
        else:
            _settle(waiting.answer, stored)
        finally:
            await self._done_with([waiting.payment.resident_id])


def _settle(
    answer: asyncio.Future[StoredResponse],
    result: StoredResponse | None = None,
    *,
    error: BaseException | None = None,
) -> None:
    """Answer a caller, unless it is gone (its request was cancelled) or already answered."""
    if answer.done():
        return
    if error is not None:
        answer.set_exception(error)
    else:
        assert result is not None
        answer.set_result(result)
