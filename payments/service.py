"""Paying a shop: the one function every way of paying ends in (QR, one-time code).

A payment is one ledger entry: Dr the resident's points (oldest expiry first), Dr their
money for the rest / Cr the shop's payable (a hot account: no row lock, so a popular shop
never makes payments queue). It writes an outbox row in the same transaction and notifies
the shop after commit. Refunds are in :mod:`payments.refunds`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Integer, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

import ledger
from ledger import Leg, credit, debit
from machipay.db import UTCDateTime
from machipay.errors import ValidationFailed
from machipay.events import publish_after_commit
from machipay.hotsql import HotStatement
from machipay.idempotency import IdempotentRequest
from machipay.outbox import outbox_payload
from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import MerchantView
from payments.live import merchant_channel
from payments.models import Payment
from payments.rewards import (
    CampaignRewards,
    PaymentFacts,
    PointsLotGrant,
    RewardPlan,
    RewardPreview,
    no_campaign_rewards,
)
from wallet_api import (
    LotTake,
    choose_takes,
    live_lots,
    wallet_lock_refusals,
)


class PaymentLimitExceeded(ValidationFailed):
    type_slug = "payment-limit-exceeded"
    title = "Payment above the single payment limit"


_LOCK_WITH_LOTS = HotStatement(
    text("SELECT lot_id, remaining FROM wallet_lock_lots(:resident, :now)").bindparams(
        bindparam("resident", type_=BigInteger()), bindparam("now", type_=UTCDateTime)
    )
)
# payment_record's arguments in order, with their types.
_TEXT, _BIGINT, _AT = String(), BigInteger(), UTCDateTime()
_RECORD_ARGUMENTS: dict[str, TypeEngine[Any]] = {
    "key": _TEXT, "kind": _TEXT, "memo": _TEXT, "fingerprint": _TEXT, "hash": _TEXT,
    "created_at": _AT, "codes": ARRAY(_TEXT), "amounts": ARRAY(_BIGINT), "paid_at": _AT,
    "payment_reference": _TEXT, "resident": _BIGINT, "merchant": _BIGINT, "amount": _BIGINT,
    "points_used": _BIGINT, "money_used": _BIGINT, "method": _TEXT, "charge": _BIGINT,
    "taken_by": _BIGINT, "resident_reward": _BIGINT, "merchant_cashback": _BIGINT,
    "rewards_granted": Boolean(), "lot_ids": ARRAY(_BIGINT), "lot_takes": ARRAY(_BIGINT),
    "reward_lot_amount": _BIGINT, "reward_lot_campaign": _BIGINT, "reward_lot_expires": _AT,
    "reward_lot_reference": _TEXT, "history_references": ARRAY(_TEXT),
    "history_kinds": ARRAY(_TEXT), "history_amounts": ARRAY(_BIGINT),
    "history_money": ARRAY(_BIGINT), "history_points": ARRAY(_BIGINT),
    "history_counterparties": ARRAY(_TEXT), "outbox_topic": _TEXT, "outbox_payload": _TEXT,
    "answer_record": _BIGINT, "answer_status": Integer(), "answer_body": _TEXT,
}  # fmt: skip
# payment_record_batch takes the same arguments, one array per payment argument, except: the
# list arguments of all payments flattened into one, each group after a count per payment;
# the outbox topic, the same for all.
_FLATTENED = {
    "leg_counts": ("codes", "amounts"),
    "lot_counts": ("lot_ids", "lot_takes"),
    "line_counts": (
        "history_references", "history_kinds", "history_amounts", "history_money",
        "history_points", "history_counterparties",
    ),
}  # fmt: skip
_SHARED = ("outbox_topic",)
_PER_PAYMENT = tuple(
    name
    for name in _RECORD_ARGUMENTS
    if name not in _SHARED and not any(name in names for names in _FLATTENED.values())
)


def _batch_argument_types() -> dict[str, TypeEngine[Any]]:
    types: dict[str, TypeEngine[Any]] = {}
    for name, type_ in _RECORD_ARGUMENTS.items():
        for count, names in _FLATTENED.items():
            if name == names[0]:
                types[count] = ARRAY(Integer())
        flat = name in _SHARED or any(name in names for names in _FLATTENED.values())
        types[name] = type_ if flat else ARRAY(type_)
    return types


_RECORD = HotStatement.function_call(
    "entry_id, created, payment_id", "payment_record", _RECORD_ARGUMENTS
)
_RECORD_BATCH = HotStatement.function_call(
    "ord, entry_id, created, payment_id", "payment_record_batch", _batch_argument_types()
)


@dataclass(frozen=True, slots=True)
class PaymentDone:
    payment: Payment
    merchant: MerchantView
    rewards: RewardPlan


@dataclass(frozen=True, slots=True)
class PaymentClaim:
    """The resident's Idempotency-Key for this payment, claimed by its first call
    (``payment_open``), and the answer to store with it by its last (``payment_record``):
    the HTTP shape of a done payment, which is known before that call."""

    request: IdempotentRequest
    answer: Callable[[PaymentDone], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class LockedPayer:
    """The payer's lock is held; these are the live points lots it may spend (lot id,
    remaining), oldest expiry first, as of ``at``."""

    at: datetime
    lots: Sequence[tuple[int, int]]


async def lock_payer(session: AsyncSession, resident_id: int, now: datetime) -> LockedPayer:
    """One resident's payments run one at a time: points lots and campaign caps are read,
    then written. The lock, the gate on the payer (verified phone, wallet neither frozen nor
    closed: wallet_lock_lots reads them under the lock) and the live lots in one round trip;
    the lots are spent by payment_record."""
    with wallet_lock_refusals():
        rows = await _LOCK_WITH_LOTS.rows(session, {"resident": resident_id, "now": now})
    return LockedPayer(now, [(int(lot_id), int(remaining)) for lot_id, remaining in rows])


async def pay(
    session: AsyncSession,
    settings: Settings,
    *,
    resident_id: int,
    merchant: MerchantView,
    amount: int,
    method: str,
    idempotency_key: str,
    charge_id: int | None = None,
    charge_reference: str | None = None,
    taken_by: int | None = None,
    rewards: CampaignRewards = no_campaign_rewards,
    use_points: bool = True,
    locked: LockedPayer | None = None,
    claim: PaymentClaim | None = None,
) -> PaymentDone:
    """Pay ``amount`` to the shop: points first (unless the resident keeps them with
    ``use_points=False``: then money only, and too little money is refused even when points
    would have covered it), then money.

    ``locked``: the caller's first call already took the payer's lock and read the lots
    (``payment_open``). ``claim``: the Idempotency-Key that call claimed; the answer is
    stored by the payment's own last call."""
    check_payment_limit(settings, amount)
    if locked is None:
        locked = await lock_payer(session, resident_id, utcnow())
    takes = choose_takes(locked.lots, amount, at_most=True) if use_points else []
    points = sum(take.amount for take in takes)
    # The campaign engine reserves its budget and hands back the reward legs, so payment
    # and rewards are one entry and commit (or fail) together.
    reference = new_payment_reference()
    plan = await rewards.plan(
        session, payment_facts(reference, resident_id, merchant, amount, points, locked.at)
    )
    rows, done = _payment_rows(
        _Payer(resident_id, locked.at, takes),
        merchant,
        amount,
        method,
        reference,
        plan,
        idempotency_key=idempotency_key,
        charge_id=charge_id,
        taken_by=taken_by,
    )
    answer: dict[str, Any] = {"answer_record": None, "answer_status": None, "answer_body": None}
    if claim is not None:
        # The answer does not depend on the ids the database is about to choose.
        answer = claim.request.answer_arguments(*claim.answer(done))
    with ledger.ledger_errors():
        found = await _RECORD.row(session, _record_arguments(rows, answer))
    assert found is not None
    done.payment.entry_id, done.payment.id = int(found[0]), int(found[2])
    _notify_shop(session, done, charge_reference)
    return done


@dataclass(frozen=True, slots=True)
class PaymentAsk:
    """One payment of a group commit (:func:`pay_many`): a sticker's payment whose payer the
    batch's first call has locked (``locked``) and whose key it has claimed (``claim``)."""

    resident_id: int
    merchant: MerchantView
    amount: int
    use_points: bool
    locked: LockedPayer
    claim: PaymentClaim


async def pay_many(
    session: AsyncSession,
    settings: Settings,
    asks: Sequence[PaymentAsk],
    *,
    rewards: CampaignRewards = no_campaign_rewards,
) -> list[PaymentDone]:
    """Pay several payers' stickers in one transaction: the same rules as :func:`pay`, the
    campaign's work in one call (``rewards.plan_many``) and every payment's rows and answer
    in one more (``payment_record_batch``). The caller checked that each payer's points
    and money cover the amount, so any failure here fails them all (the caller then pays
    each on its own)."""
    payers: list[_Payer] = []
    references: list[str] = []
    facts: list[PaymentFacts] = []
    for ask in asks:
        check_payment_limit(settings, ask.amount)
        takes = choose_takes(ask.locked.lots, ask.amount, at_most=True) if ask.use_points else []
        payers.append(_Payer(ask.resident_id, ask.locked.at, takes))
        references.append(new_payment_reference())
        points = sum(take.amount for take in takes)
        facts.append(
            payment_facts(
                references[-1], ask.resident_id, ask.merchant, ask.amount, points, ask.locked.at
            )
        )
    plans = await rewards.plan_many(session, facts)
    dones: list[PaymentDone] = []
    arguments: list[dict[str, Any]] = []
    for ask, payer, reference, plan in zip(asks, payers, references, plans, strict=True):
        rows, done = _payment_rows(
            payer,
            ask.merchant,
            ask.amount,
            "static",
            reference,
            plan,
            idempotency_key=ask.claim.request.key,
        )
        answer = ask.claim.request.answer_arguments(*ask.claim.answer(done))
        arguments.append(_record_arguments(rows, answer))
        dones.append(done)
    with ledger.ledger_errors():
        found = await _RECORD_BATCH.rows(session, _batch_arguments(arguments))
    for row in found:
        payment = dones[int(row[0]) - 1].payment
        payment.entry_id, payment.id = int(row[1]), int(row[3])
    for done in dones:
        _notify_shop(session, done, None)
    return dones


async def rehearse_record_batch(session: AsyncSession) -> None:
    """Send ``payment_record_batch`` once with no payment in it: the connection prepares the
    statement, and its backend compiles the function, before a batch needs either."""
    await _RECORD_BATCH.rows(
        session, {name: "" if name in _SHARED else [] for name in _RECORD_BATCH.names}
    )


def check_payment_limit(settings: Settings, amount: int) -> None:
    if amount > settings.max_payment:
        raise PaymentLimitExceeded(f"One payment is at most ¥{settings.max_payment:,}.")


def new_payment_reference() -> str:
    return "pay_" + secrets.token_hex(10)


@dataclass(frozen=True, slots=True)
class _Payer:
    """The payer, locked as of ``at``, and the points the payment takes from each lot."""

    resident_id: int
    at: datetime
    takes: list[LotTake]


def _payment_rows(
    payer: _Payer,
    merchant: MerchantView,
    amount: int,
    method: str,
    reference: str,
    plan: RewardPlan,
    *,
    idempotency_key: str,
    charge_id: int | None = None,
    taken_by: int | None = None,
) -> tuple[_PaymentRows, PaymentDone]:
    """Everything the payment writes, and the payment as answered (ids still to come)."""
    resident_id, now, takes = payer.resident_id, payer.at, payer.takes
    points = sum(take.amount for take in takes)
    money = amount - points
    legs: list[Leg] = []
    if points:
        legs.append(debit(ledger.resident_points(resident_id), points))
    if money:
        legs.append(debit(ledger.resident_money(resident_id), money))
    legs.append(credit(ledger.merchant_payable(merchant.id), amount))
    legs.extend(plan.legs)
    draft = ledger.draft_entry(
        idempotency_key=f"pay:{resident_id}:{idempotency_key}",
        kind="payment",
        legs=legs,
        memo=plan.memo,
    )
    row = {
        "reference": reference,
        "resident_id": resident_id,
        "merchant_id": merchant.id,
        "amount": amount,
        "points_used": points,
        "money_used": money,
        "method": method,
        "charge_id": charge_id,
        "taken_by": taken_by,
        "resident_reward": plan.resident_points,
        "merchant_cashback": plan.merchant_cashback,
        "rewards_granted": plan.granted,
        "refunded_amount": 0,
        "refunded_points": 0,
        "created_at": now,
    }
    # Newest first: the reward's points line (if any) is listed first, so the payment is
    # the newer line of the two.
    lines = [
        _Line(reference, "payment", amount, -money, -points, merchant.name),
    ]
    if plan.points_lot is not None:
        grant = plan.points_lot
        lines.insert(
            0,
            _Line(
                "cr_" + reference, "points_grant", grant.amount, 0, grant.amount, grant.counterparty
            ),
        )
    fact = {
        "payment": reference,
        "resident_id": resident_id,
        "merchant_id": merchant.id,
        "amount": amount,
        "points_used": points,
        "money_used": money,
        "resident_reward": plan.resident_points,
        "merchant_cashback": plan.merchant_cashback,
        "rewards_granted": plan.granted,
        "campaign_id": plan.campaign_id,
        "method": method,
        "at": now.isoformat(),
    }
    rows = _PaymentRows(draft, row, takes, plan.points_lot, lines, fact)
    return rows, PaymentDone(Payment(**row), merchant, plan)


def _notify_shop(session: AsyncSession, done: PaymentDone, charge_reference: str | None) -> None:
    payment = done.payment
    publish_after_commit(
        session,
        merchant_channel(payment.merchant_id),
        {
            "type": "payment",
            "id": payment.reference,
            "amount": payment.amount,
            "method": payment.method,
            # The dashboard's open charge turns "paid" on exactly its own payment.
            "charge": charge_reference,
            "at": payment.created_at.isoformat(),
        },
    )


def payment_facts(
    reference: str,
    resident_id: int,
    merchant: MerchantView,
    amount: int,
    points_used: int,
    at: datetime,
) -> PaymentFacts:
    """What the campaign rules look at: the same for a payment and for its preview."""
    return PaymentFacts(
        payment_reference=reference,
        resident_id=resident_id,
        merchant_id=merchant.id,
        shopping_street_id=merchant.shopping_street_id,
        district_id=merchant.district_id,
        category=merchant.category,
        store_type=merchant.store_type,
        amount=amount,
        points_used=points_used,
        money_used=amount - points_used,
        paid_at=at,
    )


async def preview_reward(
    session: AsyncSession,
    *,
    resident_id: int,
    merchant: MerchantView,
    amount: int | None,
    use_points: bool,
    rewards: CampaignRewards,
) -> RewardPreview | None:
    """What paying ``amount`` here now would earn: the points it would spend are chosen as
    :func:`pay` chooses them (read without the payment's lock; nothing is reserved)."""
    now = utcnow()
    points = 0
    if amount is not None and use_points:
        lots = await live_lots(session, resident_id, now=now)
        takes = choose_takes([(lot.id, lot.remaining) for lot in lots], amount, at_most=True)
        points = sum(take.amount for take in takes)
    return await rewards.preview(
        session,
        payment_facts("preview", resident_id, merchant, amount or 0, points, now),
        amount_known=amount is not None,
    )


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of the payer's history, before the entry's id is known."""

    reference: str
    kind: str
    amount: int
    money_change: int
    points_change: int
    counterparty: str | None


@dataclass(frozen=True, slots=True)
class _PaymentRows:
    """Everything a payment writes, decided before the first write."""

    draft: ledger.EntryDraft
    row: dict[str, Any]  # the payments row, without its entry id
    takes: list[LotTake]  # points spent from each lot
    grant: PointsLotGrant | None  # the reward's new lot (immediate grants)
    lines: list[_Line]  # the payer's history, newest first
    fact: dict[str, Any]  # the outbox fact


def _record_arguments(rows: _PaymentRows, answer: dict[str, Any]) -> dict[str, Any]:
    """``payment_record``'s arguments: the entry, every row of the payment and (``answer``)
    the stored HTTP answer."""
    row, takes, grant, lines = rows.row, rows.takes, rows.grant, rows.lines
    params = ledger.ledger_post_arguments(rows.draft)
    params.update(
        paid_at=row["created_at"],
        payment_reference=row["reference"],
        resident=row["resident_id"],
        merchant=row["merchant_id"],
        amount=row["amount"],
        points_used=row["points_used"],
        money_used=row["money_used"],
        method=row["method"],
        charge=row["charge_id"],
        taken_by=row["taken_by"],
        resident_reward=row["resident_reward"],
        merchant_cashback=row["merchant_cashback"],
        rewards_granted=row["rewards_granted"],
        lot_ids=[t.lot_id for t in takes],
        lot_takes=[t.amount for t in takes],
        reward_lot_amount=grant.amount if grant else None,
        reward_lot_campaign=grant.campaign_id if grant else None,
        reward_lot_expires=grant.expires_at if grant else None,
        reward_lot_reference=row["reference"] if grant else None,
        history_references=[line.reference for line in lines],
        history_kinds=[line.kind for line in lines],
        history_amounts=[line.amount for line in lines],
        history_money=[line.money_change for line in lines],
        history_points=[line.points_change for line in lines],
        history_counterparties=[line.counterparty for line in lines],
        outbox_topic="payment.completed",
        outbox_payload=outbox_payload(rows.fact),
        **answer,
    )
    return params


def _batch_arguments(payments: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``payment_record_batch``'s arguments for these payments' ``payment_record`` ones."""
    batch: dict[str, Any] = {name: [p[name] for p in payments] for name in _PER_PAYMENT}
    for count, names in _FLATTENED.items():
        batch[count] = [len(p[names[0]]) for p in payments]
        for name in names:
            batch[name] = [value for p in payments for value in p[name]]
    for name in _SHARED:
        batch[name] = payments[0][name]
    return batch
