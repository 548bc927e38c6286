"""Paying a shop and refunding a payment.

A payment is one ledger entry: Dr the resident's points (oldest expiry first), Dr their
money for the rest / Cr the shop's payable (a hot account: no row lock, so a popular shop
never makes payments queue). Refunds give back points and money in the proportion the
payment was paid, each refund its own entry pointing (by payment) at the original.
Both write an outbox row in the same transaction and notify the shop after commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from ledger import Leg, credit, debit
from machipay.db import UTCDateTime
from machipay.errors import Conflict, NotFound, ValidationFailed
from machipay.events import publish_after_commit
from machipay.hotsql import HotStatement
from machipay.outbox import add_outbox_event, outbox_payload
from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import MerchantView
from wallet_api.models import Payment, PaymentLotUse, PointsLot, Refund, WalletTransaction
from wallet_api.points import (
    LotTake,
    choose_takes,
)
from wallet_api.rewards import (
    CampaignRewards,
    PaymentFacts,
    PointsLotGrant,
    RefundFacts,
    Revocation,
    RewardPlan,
    no_campaign_rewards,
)


class PaymentLimitExceeded(ValidationFailed):
    type_slug = "payment-limit-exceeded"
    title = "Payment above the single payment limit"


class PaymentNotFound(NotFound):
    type_slug = "payment-not-found"
    title = "Unknown payment"


class RefundRefused(Conflict):
    type_slug = "refund-refused"
    title = "This refund is not possible"


class RefundNotCovered(Conflict):
    type_slug = "refund-not-covered-by-sales"
    title = "Not enough unsettled sales to refund"


_LOCK_WITH_LOTS = HotStatement(
    text("SELECT lot_id, remaining FROM wallet_lock_lots(:resident, :now)").bindparams(
        bindparam("resident", type_=BigInteger()), bindparam("now", type_=UTCDateTime)
    )
)
_RECORD = HotStatement(
    text(
        "SELECT entry_id, created, payment_id FROM payment_record("
        ":key, :kind, :memo, :fingerprint, :hash, :created_at, :codes, :amounts,"
        " :paid_at, :payment_reference, :resident, :merchant, :amount, :points_used,"
        " :money_used, :method, :charge, :resident_reward, :merchant_cashback,"
        " :rewards_granted, :lot_ids, :lot_takes, :reward_lot_amount, :reward_lot_campaign,"
        " :reward_lot_expires, :reward_lot_reference, :history_references, :history_kinds,"
        " :history_amounts, :history_money, :history_points, :history_counterparties,"
        " :outbox_topic, :outbox_payload)"
    ).bindparams(
        *(
            bindparam(name, type_=UTCDateTime)
            for name in ("created_at", "paid_at", "reward_lot_expires")
        ),
        *(
            bindparam(name, type_=BigInteger())
            for name in (
                "resident",
                "merchant",
                "amount",
                "points_used",
                "money_used",
                "charge",
                "resident_reward",
                "merchant_cashback",
                "reward_lot_amount",
                "reward_lot_campaign",
            )
        ),
        bindparam("rewards_granted", type_=Boolean()),
        *(
            bindparam(name, type_=ARRAY(String()))
            for name in ("codes", "history_references", "history_kinds", "history_counterparties")
        ),
        *(
            bindparam(name, type_=ARRAY(BigInteger()))
            for name in (
                "amounts",
                "lot_ids",
                "lot_takes",
                "history_amounts",
                "history_money",
                "history_points",
            )
        ),
    )
)


def merchant_channel(merchant_id: int) -> str:
    return f"merchant-events:{merchant_id}"


@dataclass(frozen=True, slots=True)
class PaymentDone:
    payment: Payment
    merchant: MerchantView
    rewards: RewardPlan


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
    rewards: CampaignRewards = no_campaign_rewards,
) -> PaymentDone:
    if amount > settings.max_payment:
        raise PaymentLimitExceeded(f"One payment is at most ¥{settings.max_payment:,}.")
    now = utcnow()
    # One resident's payments run one at a time: points lots and (later) campaign caps are
    # read, then written. The lock and the live lots in one round trip; the lots are spent
    # by payment_record.
    lots = await _LOCK_WITH_LOTS.rows(session, {"resident": resident_id, "now": now})
    takes = choose_takes(lots, amount, at_most=True)
    points = sum(take.amount for take in takes)
    money = amount - points
    # The campaign engine reserves its budget and hands back the reward legs, so payment
    # and rewards are one entry and commit (or fail) together.
    reference = "pay_" + secrets.token_hex(10)
    plan = await rewards.plan(
        session,
        PaymentFacts(
            payment_reference=reference,
            resident_id=resident_id,
            merchant_id=merchant.id,
            shopping_street_id=merchant.shopping_street_id,
            district_id=merchant.district_id,
            category=merchant.category,
            store_type=merchant.store_type,
            amount=amount,
            points_used=points,
            money_used=money,
            paid_at=now,
        ),
    )
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
    entry_id, payment_id = await _record_in_one_call(
        session, _PaymentRows(draft, row, takes, plan.points_lot, lines, fact)
    )
    payment = Payment(id=payment_id, entry_id=entry_id, **row)
    publish_after_commit(
        session,
        merchant_channel(merchant.id),
        {
            "type": "payment",
            "id": reference,
            "amount": amount,
            "method": method,
            # The dashboard's open charge turns "paid" on exactly its own payment.
            "charge": charge_reference,
            "at": now.isoformat(),
        },
    )
    return PaymentDone(payment, merchant, plan)


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


async def _record_in_one_call(session: AsyncSession, rows: _PaymentRows) -> tuple[int, int]:
    """PostgreSQL: the entry and every row of the payment in one ``payment_record`` call."""
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
    )
    with ledger.ledger_errors():
        found = await _RECORD.row(session, params)
    assert found is not None
    return int(found[0]), int(found[2])


@dataclass(frozen=True, slots=True)
class RefundDone:
    refund: Refund
    payment: Payment
    revocation: Revocation


async def refund(
    session: AsyncSession,
    settings: Settings,
    *,
    merchant_id: int,
    payment_reference: str,
    amount: int,
    idempotency_key: str,
    rewards: CampaignRewards = no_campaign_rewards,
) -> RefundDone:
    """Refund all or part of a payment; only the shop that was paid may, within the window."""
    payment = (
        await session.execute(
            select(Payment).where(Payment.reference == payment_reference).with_for_update()
        )
    ).scalar_one_or_none()
    if payment is None or payment.merchant_id != merchant_id:
        # Another shop's payment is simply not there for this caller.
        raise PaymentNotFound(f"No payment {payment_reference!r} at this shop.")
    now = utcnow()
    if payment.created_at < now - timedelta(days=settings.refund_window_days):
        raise RefundRefused(f"Payments can be refunded for {settings.refund_window_days} days.")
    remaining = payment.amount - payment.refunded_amount
    if amount > remaining:
        raise RefundRefused(f"At most ¥{remaining:,} of this payment is left to refund.")
    # Points come back in the payment's own proportion; counting on the running total
    # makes partial refunds add up to exactly what was paid in points.
    points_total_after = (payment.refunded_amount + amount) * payment.points_used // payment.amount
    points_back = points_total_after - payment.refunded_points
    money_back = amount - points_back
    await _return_points(session, payment.id, points_back)
    # The refunded part's rewards go back too, in the same entry (DESIGN.md 3.2).
    revocation = await rewards.revoke(
        session,
        RefundFacts(
            payment_reference=payment.reference,
            resident_id=payment.resident_id,
            merchant_id=merchant_id,
            payment_amount=payment.amount,
            refunded_before=payment.refunded_amount,
            refund_amount=amount,
            money_back=money_back,
            at=now,
        ),
    )
    legs: list[Leg] = [debit(ledger.merchant_payable(merchant_id), amount)]
    if points_back:
        legs.append(credit(ledger.resident_points(payment.resident_id), points_back))
    if money_back:
        legs.append(credit(ledger.resident_money(payment.resident_id), money_back))
    legs.extend(revocation.legs)
    memo = f"refund of {payment.reference} (entry {payment.entry_id})"
    try:
        posted = await ledger.post_entry(
            session,
            idempotency_key=f"refund:{merchant_id}:{idempotency_key}",
            kind="refund",
            legs=legs,
            memo=f"{memo}; {revocation.memo}" if revocation.memo else memo,
        )
    except ledger.InsufficientFunds as exc:
        if exc.account != ledger.merchant_payable(merchant_id):
            raise
        # A refund is paid out of the shop's sales not yet settled (the payable never goes
        # negative): after a payout, it waits for new sales to cover it.
        raise RefundNotCovered(
            f"The shop's sales not yet settled do not cover a refund of ¥{amount:,}"
            " (its payment was already paid out). Try again after new sales."
        ) from exc
    record = Refund(
        reference="rf_" + secrets.token_hex(10),
        payment_id=payment.id,
        amount=amount,
        points_back=points_back,
        money_back=money_back,
        entry_id=posted.id,
        created_at=now,
    )
    session.add(record)
    payment.refunded_amount += amount
    payment.refunded_points += points_back
    session.add(
        WalletTransaction(
            resident_id=payment.resident_id,
            reference=record.reference,
            kind="refund",
            amount=amount,
            money_change=money_back - revocation.money_taken,
            points_change=points_back - revocation.points_taken,
            counterparty=None,
            entry_id=posted.id,
            created_at=now,
        )
    )
    await add_outbox_event(
        session,
        "payment.refunded",
        {
            "refund": record.reference,
            "payment": payment.reference,
            "resident_id": payment.resident_id,
            "merchant_id": merchant_id,
            "amount": amount,
            "points_back": points_back,
            "money_back": money_back,
            "reward_points_revoked": revocation.points_taken + revocation.money_taken,
            "reward_points_unrecovered": revocation.unrecovered,
            "merchant_cashback_revoked": revocation.cashback_taken,
            "at": now.isoformat(),
        },
    )
    publish_after_commit(
        session,
        merchant_channel(merchant_id),
        {
            "type": "refund",
            "id": record.reference,
            "payment": payment.reference,
            "amount": amount,
            "at": now.isoformat(),
        },
    )
    await session.flush()
    return RefundDone(record, payment, revocation)


async def _return_points(session: AsyncSession, payment_id: int, points: int) -> None:
    """Give points back to the lots they came from, latest expiry first (no lot is extended)."""
    if not points:
        return
    uses = (
        await session.execute(
            select(PaymentLotUse, PointsLot.expires_at)
            .join(PointsLot, PointsLot.id == PaymentLotUse.lot_id)
            .where(PaymentLotUse.payment_id == payment_id)
            .order_by(PointsLot.expires_at.desc(), PointsLot.id.desc())
            .with_for_update(of=PaymentLotUse)
        )
    ).all()
    left = points
    for use, _expires in uses:
        give = min(use.amount - use.returned, left)
        if give <= 0:
            continue
        use.returned += give
        await session.execute(
            update(PointsLot)
            .where(PointsLot.id == use.lot_id)
            .values(remaining=PointsLot.remaining + give)
            .execution_options(synchronize_session=False)
        )
        left -= give
        if left == 0:
            break
    if left:
        raise RuntimeError(f"payment {payment_id}: {left} refunded points have no lot to return to")


async def payments_on(
    session: AsyncSession, merchant_id: int, start: datetime, end: datetime
) -> list[Payment]:
    return list(
        (
            await session.execute(
                select(Payment)
                .where(
                    Payment.merchant_id == merchant_id,
                    Payment.created_at >= start,
                    Payment.created_at < end,
                )
                .order_by(Payment.id.desc())
            )
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class RefundLine:
    refund: Refund
    payment_reference: str


_CHUNK = 1000  # ids per IN (...): well under every driver's parameter limit


async def payments_by_entries(
    session: AsyncSession, entry_ids: Sequence[int]
) -> dict[int, Payment]:
    """The payments that the given ledger entries recorded, by entry id."""
    found: dict[int, Payment] = {}
    for start in range(0, len(entry_ids), _CHUNK):
        chunk = list(entry_ids[start : start + _CHUNK])
        rows = await session.execute(select(Payment).where(Payment.entry_id.in_(chunk)))
        found.update({p.entry_id: p for p in rows.scalars()})
    return found


async def refunds_by_entries(
    session: AsyncSession, entry_ids: Sequence[int]
) -> dict[int, RefundLine]:
    """The refunds that the given ledger entries recorded, by entry id."""
    found: dict[int, RefundLine] = {}
    for start in range(0, len(entry_ids), _CHUNK):
        chunk = list(entry_ids[start : start + _CHUNK])
        rows = await session.execute(
            select(Refund, Payment.reference)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Refund.entry_id.in_(chunk))
        )
        found.update({r.entry_id: RefundLine(r, ref) for r, ref in rows})
    return found
