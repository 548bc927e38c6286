from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from machipay.schemas import Amount, StrictModel


class BankIn(StrictModel):
    bank_code: str = Field(min_length=1, max_length=4, examples=["0001"])
    branch_code: str = Field(min_length=1, max_length=3, examples=["001"])
    account_type: Literal["ordinary", "current", "savings"]
    account_number: str = Field(min_length=1, max_length=7)
    account_name_kana: str = Field(min_length=1, max_length=48, examples=["ｼﾓｷﾀﾔｵﾔ"])


class MerchantApplicationIn(StrictModel):
    name: str = Field(min_length=1, max_length=60, examples=["下北沢八百屋"])
    name_kana: str = Field(min_length=1, max_length=80, examples=["シモキタザワヤオヤ"])
    category: str = Field(min_length=1, max_length=32, examples=["grocery"])
    store_type: Literal["small", "chain", "large"]
    shopping_street_id: int | None = Field(default=None, strict=True)
    postal_code: str = Field(min_length=7, max_length=9, examples=["155-0031"])
    address: str = Field(min_length=1, max_length=200)
    owner_username: str = Field(min_length=3, max_length=64)
    owner_password: str = Field(min_length=1, max_length=256)
    bank: BankIn


class MerchantStatusOut(StrictModel):
    id: int
    status: str


class ChargeIn(StrictModel):
    amount: Amount


class ChargeOut(StrictModel):
    id: str
    qr_payload: str
    amount: int
    expires_at: datetime


class CpmPaymentIn(StrictModel):
    code: str = Field(min_length=1, max_length=32)
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


class MerchantPaymentOut(StrictModel):
    id: str
    amount: int
    points_used: int
    money_used: int
    method: str
    refunded_amount: int
    refund_status: Literal["none", "partial", "full"]
    created_at: datetime


class MerchantDayOut(StrictModel):
    date: str
    count: int
    gross: int
    refunded: int
    net: int
    payments: list[MerchantPaymentOut]
