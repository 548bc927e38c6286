"""Refunding a payment, all or part, and who at a shop may.

Refunds give back points and money in the proportion the payment was paid, each refund
its own entry pointing (by payment) at the original, and take back the refunded part's
campaign rewards in the same entry. Each writes an outbox row in the same transaction and
notifies the shop after commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import ledger
from ledger import Leg, credit, debit
from machipay.auth import Role
from machipay.errors import Conflict, Forbidden, NotFound
from machipay.events import publish_after_commit
from machipay.outbox import add_outbox_event
from machipay.settings import Settings
from machipay.timeutil import utcnow
from merchant_api import merchant_by_id, staff_refund_limit
from payments.live import merchant_channel
from payments.models import Payment, PaymentLotUse, Refund
from payments.rewards import CampaignRewards, RefundFacts, Revocation, no_campaign_rewards
from wallet_api import give_points_back, history_row, write_history


class PaymentNotFound(NotFound):
    type_slug = "payment-not-found"
    title = "Unknown payment"


class RefundRefused(Conflict):
    type_slug = "refund-refused"
    title = "This refund is not possible"


class RefundNotCovered(Conflict):
    type_slug = "refund-not-covered-by-sales"
    title = "Not enough unsettled sales to refund"


class RefundOverStaffLimit(Forbidden):
    type_slug = "refund-over-staff-limit"
    title = "This refund needs the shop's owner"


async def check_refund_power(
    session: AsyncSession, settings: Settings, *, role: str, user_id: int, amount: int
) -> None:
    """Staff take payments and refunds up to their own limit (the owner sets it; the
    platform's default until then); a larger refund is the owner's decision."""
    if role != Role.MERCHANT_STAFF:
        return
    limit = await staff_refund_limit(session, settings, user_id)
    if amount > limit:
        raise RefundOverStaffLimit(
            f"You may refund at most ¥{limit:,} at a time; the shop's owner can refund more.",
            refund_limit=limit,
        )


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
    shop = await merchant_by_id(session, merchant_id)
    await write_history(
        session,
        [
            history_row(
                resident_id=payment.resident_id,
                reference=record.reference,
                kind="refund",
                amount=amount,
                money_change=money_back - revocation.money_taken,
                points_change=points_back - revocation.points_taken,
                # The resident's line names the shop, as the payment's does.
                counterparty=shop.name,
                entry_id=posted.id,
                at=now,
            )
        ],
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
    """Give points back to the lots they came from (the wallet decides the order)."""
    if not points:
        return
    uses = list(
        (
            await session.execute(
                select(PaymentLotUse)
                .where(PaymentLotUse.payment_id == payment_id)
                .with_for_update()
            )
        ).scalars()
    )
    given = await give_points_back(
        session, {use.lot_id: use.amount - use.returned for use in uses}, points
    )
    for use in uses:
        use.returned += given.get(use.lot_id, 0)
    left = points - sum(given.values())
    if left:
        raise RuntimeError(f"payment {payment_id}: {left} refunded points have no lot to return to")
