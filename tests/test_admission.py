"""The admission gate on its own (machipay/admission.py): slots, the FIFO hand-over, the
bounded wait, clients that go away, and what /readyz reads from it. No server, no database;
each step waits for a state the gate reaches, never for a duration."""

from __future__ import annotations

import asyncio

import pytest

from machipay.admission import AdmissionGate
from machipay.settings import GROUP_COMMIT_IN_FLIGHT, Settings


async def settle() -> None:
    """Let every ready task run until none is (the gate's hand-overs are loop callbacks)."""
    for _ in range(10):
        await asyncio.sleep(0)


def acquiring(gate: AdmissionGate) -> asyncio.Task[bool]:
    return asyncio.ensure_future(gate.acquire())


async def test_up_to_the_limit_at_once_then_refused_without_a_wait() -> None:
    gate = AdmissionGate(2, 0)
    assert await gate.acquire() and await gate.acquire()
    assert gate.in_flight == 2 and gate.saturated()
    assert await gate.acquire() is False
    assert (gate.in_flight, gate.admitted, gate.refused) == (2, 2, 1)
    gate.release()
    assert await gate.acquire()
    assert gate.in_flight == 2


async def test_a_released_slot_goes_to_the_oldest_waiter() -> None:
    gate = AdmissionGate(1, 3600)
    assert await gate.acquire()
    second, third = acquiring(gate), acquiring(gate)
    await settle()
    assert gate.waiting == 2 and not second.done()

    gate.release()
    await settle()
    assert second.done() and second.result() is True
    assert not third.done() and gate.in_flight == 1  # handed over, never dropped to 0

    gate.release()
    await settle()
    assert third.result() is True
    gate.release()
    assert gate.in_flight == 0 and gate.waiting == 0


async def test_a_waiter_is_refused_when_its_wait_runs_out() -> None:
    gate = AdmissionGate(1, 0.001)
    assert await gate.acquire()
    assert await gate.acquire() is False  # nobody released within the wait
    assert (gate.in_flight, gate.waiting, gate.refused) == (1, 0, 1)
    gate.release()
    assert gate.in_flight == 0
    assert await gate.acquire()  # the expired waiter left no trace in the queue


async def test_a_waiter_that_goes_away_takes_no_slot() -> None:
    gate = AdmissionGate(1, 3600)
    assert await gate.acquire()
    leaver = acquiring(gate)
    await settle()
    leaver.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaver
    gate.release()
    assert gate.in_flight == 0 and gate.waiting == 0


async def test_a_slot_handed_to_a_waiter_that_went_away_passes_on() -> None:
    gate = AdmissionGate(1, 3600)
    assert await gate.acquire()
    leaver, next_in_line = acquiring(gate), acquiring(gate)
    await settle()
    gate.release()  # the slot is the leaver's now ...
    leaver.cancel()  # ... but its client disconnected before it ran
    with pytest.raises(asyncio.CancelledError):
        await leaver
    await settle()
    assert next_in_line.result() is True
    assert gate.in_flight == 1
    gate.release()
    assert gate.in_flight == 0


async def test_saturation_is_remembered_for_a_second_after_a_refusal() -> None:
    now = [100.0]
    gate = AdmissionGate(1, 0, monotonic=lambda: now[0])
    assert not gate.saturated()
    assert await gate.acquire()
    assert gate.saturated()  # at the limit
    assert await gate.acquire() is False
    gate.release()
    assert gate.saturated()  # refused within the last second
    now[0] += 1.5
    assert not gate.saturated()


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        AdmissionGate(0, 1)


def test_the_default_limit_follows_group_commit() -> None:
    # Group-committed payments wait for their batch without a connection of their own, so
    # their default is not the pool's size; each payment on its own holds one.
    batched = Settings(environment="test", db_pool_size=7)
    assert batched.payment_admission_limit == GROUP_COMMIT_IN_FLIGHT
    alone = Settings(environment="test", db_pool_size=7, payment_group_commit=False)
    assert alone.payment_admission_limit == 7
    chosen = Settings(environment="test", payments_in_flight=3)
    assert chosen.payment_admission_limit == 3


def test_a_payment_batch_stays_below_the_subtransaction_cache() -> None:
    from pydantic import ValidationError

    from payments.group_commit import MAX_BATCH

    # Up to three subtransactions with an id per payment (its open, a reservation per
    # rewarding campaign); PostgreSQL caches 64 per backend before every snapshot slows.
    assert MAX_BATCH * 3 < 64
    assert Settings(environment="test").payment_batch_max <= MAX_BATCH
    with pytest.raises(ValidationError):
        Settings(environment="test", payment_batch_max=MAX_BATCH + 1)
