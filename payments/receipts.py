"""A resident's receipt for one line of their history: what the app opens from a history
row. A payment's receipt names the shop and splits points from money; a refund's names the
shop too and says which reward points it took back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant_api import MerchantView, merchant_views
from payments.models import Payment, Refund
from wallet_api import HistoryLine, history_line, points_credited_for


@dataclass(frozen=True, slots=True)
class RefundDetail:
    payment_reference: str
    points_back: int
    money_back: int
    points_revoked: int  # reward points taken back, from points and (if spent) from money
    money_withheld: int  # the part of those already spent, kept from the money refunded


@dataclass(frozen=True, slots=True)
class Receipt:
    line: HistoryLine
    payment: Payment | None  # the payment itself, or the one a refund gives back
    merchant: MerchantView | None
    refund: RefundDetail | None
    rewards_granted: bool  # the payment's points credited (now, or by a deferred grant since)


async def _own_payment(session: AsyncSession, condition: Any, resident_id: int) -> Payment | None:
    return (
        await session.execute(select(Payment).where(condition, Payment.resident_id == resident_id))
    ).scalar_one_or_none()


async def receipt(session: AsyncSession, *, resident_id: int, reference: str) -> Receipt:
    """The caller's own line (another resident's: 404), with its payment and shop."""
    line = await history_line(session, resident_id, reference)
    payment: Payment | None = None
    detail: RefundDetail | None = None
    if line.kind == "payment":
        payment = await _own_payment(session, Payment.reference == line.reference, resident_id)
    elif line.kind == "refund":
        found = (
            await session.execute(select(Refund).where(Refund.reference == line.reference))
        ).scalar_one_or_none()
        if found is not None:
            payment = await _own_payment(session, Payment.id == found.payment_id, resident_id)
            # The line is what reached the resident: points and money back less the rewards
            # revoked (payments.refunds), so the difference is what was taken back.
            money_withheld = found.money_back - line.money_change
            detail = RefundDetail(
                payment_reference=payment.reference if payment else "",
                points_back=found.points_back,
                money_back=found.money_back,
                points_revoked=found.points_back - line.points_change + money_withheld,
                money_withheld=money_withheld,
            )
    merchant = None
    granted = False
    if payment is not None:
        merchant = (await merchant_views(session, [payment.merchant_id])).get(payment.merchant_id)
        granted = payment.rewards_granted or (
            payment.resident_reward > 0
            and await points_credited_for(
                session, resident_id=payment.resident_id, source_reference=payment.reference
            )
        )
    return Receipt(line, payment, merchant, detail, granted)
