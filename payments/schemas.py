"""Payments' requests and responses: residents paying by QR, shops charging, capturing
codes, refunding and reading their day."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, StrictBool

from machipay.schemas import Amount, DigitsText, StrictModel


class QrResolveRequest(StrictModel):
    payload: str = Field(min_length=1, max_length=512)
    # The amount the resident typed for a sticker (a dynamic code has its own): with it the
    # reward preview says how many points.
    amount: Amount | None = None
    use_points: StrictBool = True


class MerchantOut(StrictModel):
    id: int
    name: str
    shopping_street: str | None


class RewardPreviewOut(StrictModel):
    """What paying now would earn (the payment grants exactly this if nothing changes in
    between): ``resident_points`` null until the amount is known; ``cap_left`` null: no cap."""

    resident_points: int | None
    rate_bp: int
    cap_left: int | None
    campaign_id: int
    campaign_name: str


class QrResolved(StrictModel):
    merchant: MerchantOut
    amount: int | None
    charge_id: str | None
    reward: RewardPreviewOut | None = None


class PaymentRequest(StrictModel):
    qr_payload: str = Field(min_length=1, max_length=512)
    amount: Amount | None = None
    # False: keep the points, pay with money only (refused if the money is short).
    use_points: StrictBool = True


class OneTimeCodeIn(StrictModel):
    use_points: StrictBool = True


class PaidWith(StrictModel):
    points: int
    money: int


class RewardsOut(StrictModel):
    resident_points: int
    merchant_cashback: int
    granted: bool


class PaymentOut(StrictModel):
    id: str
    status: Literal["completed"] = "completed"
    amount: int
    paid_with: PaidWith
    rewards: RewardsOut
    merchant: MerchantOut
    created_at: datetime


class ReceiptRewardsOut(StrictModel):
    resident_points: int
    granted: bool  # False: a deferred campaign credits them after it closes


class ReceiptRefundOut(StrictModel):
    payment_id: str
    points_back: int
    money_back: int
    points_revoked: int  # reward points the refund took back
    money_withheld: int  # of those, already spent: kept from the money refunded


class ReceiptOut(StrictModel):
    """One line of the resident's history, as a receipt (GET /wallet/transactions/{id})."""

    id: str
    kind: str
    amount: int
    money_change: int
    points_change: int
    counterparty: str | None
    message: str | None
    created_at: datetime
    merchant: MerchantOut | None = None
    paid_with: PaidWith | None = None
    rewards: ReceiptRewardsOut | None = None
    refunded_amount: int | None = None
    refund: ReceiptRefundOut | None = None


class OneTimeCode(StrictModel):
    code: str
    qr_payload: str
    expires_at: datetime


class ChargeIn(StrictModel):
    amount: Amount


class ChargeOut(StrictModel):
    id: str
    qr_payload: str
    amount: int
    expires_at: datetime


class CpmPaymentIn(StrictModel):
    code: DigitsText = Field(min_length=1, max_length=32)
    amount: Amount


class RefundIn(StrictModel):
    amount: Amount


class RevokedRewardsOut(StrictModel):
    """The refunded part's campaign rewards, taken back with the refund."""

    resident_points: int  # points revoked in all, of which
    from_money: int  # were already spent and came out of the refunded money
    unrecovered: int  # spent and not coverable by this refund (the campaign bears them)
    merchant_cashback: int


class RefundOut(StrictModel):
    id: str
    amount: int
    payment_id: str
    points_back: int
    money_back: int
    rewards_revoked: RevokedRewardsOut
    created_at: datetime


class TakenByOut(StrictModel):
    id: int
    username: str


class MerchantPaymentOut(StrictModel):
    id: str
    amount: int
    points_used: int
    money_used: int
    method: str
    refunded_amount: int
    refund_status: Literal["none", "partial", "full"]
    created_at: datetime
    # The shop's login that took it at the till (a captured code, a charge it showed);
    # null for a resident paying at the sticker on their own (店頭QR).
    taken_by: TakenByOut | None = None


class MerchantDayOut(StrictModel):
    date: str
    count: int
    gross: int
    refunded: int
    net: int
    payments: list[MerchantPaymentOut]
