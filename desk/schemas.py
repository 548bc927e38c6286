from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from machipay.schemas import Amount, StrictModel
from merchant_api import BankIn

Reason = Field(min_length=1, max_length=200, examples=["ご本人来庁・スマホ紛失のため"])


class ReasonIn(StrictModel):
    reason: str = Reason


class DistrictIn(StrictModel):
    district: str = Field(min_length=1, max_length=32, examples=["kitazawa"])
    reason: str = Reason


class ClosureIn(StrictModel):
    reason: str = Reason
    bank: BankIn


class TopUpIn(StrictModel):
    wallet_id: str = Field(min_length=1, max_length=32)
    amount: Amount
    reason: str = Reason


class LotOut(StrictModel):
    amount: int
    expires_at: datetime


class HistoryLineOut(StrictModel):
    id: str
    kind: str
    amount: int
    money_change: int
    points_change: int
    created_at: datetime


class ClosureOut(StrictModel):
    id: int
    resident_id: int
    status: Literal["pending", "approved"]
    reason: str
    requested_by: int
    requested_at: datetime
    approved_by: int | None
    approved_at: datetime | None
    refund: int | None
    points_forfeited: int | None
    payout_id: int | None
    # The refund's bank transfer: pending → sent → paid | failed (None: nothing to send yet).
    payout_status: str | None = None


class ResidentSummaryOut(StrictModel):
    id: int
    wallet_id: str
    name: str
    phone: str | None
    # Whether the resident entered the SMS code sent to the phone, and when (Tokyo time).
    phone_verified: bool
    phone_verified_at: datetime | None
    district: str
    status: Literal["active", "frozen", "closed"]
    money: int
    points: int
    refund_in_transit: int
    points_lots: list[LotOut]
    history: list[HistoryLineOut]
    closures: list[ClosureOut]


class TopUpOut(StrictModel):
    id: str  # the transaction number on the receipt
    wallet_id: str
    amount: int
    office: str
    staff: str
    created_at: datetime
    receipt_url: str


class AccessLineOut(StrictModel):
    at: datetime
    action: Literal[
        "lookup", "freeze", "unfreeze", "district", "closure_request", "closure_approve", "top_up"
    ]
    reason: str
    staff: str
    office: str


class AccessLogOut(StrictModel):
    items: list[AccessLineOut]


class CashUpIn(StrictModel):
    day: date  # Tokyo
    # The cash counted in the counter's drawer from the day's top-ups, in yen.
    counted: int = Field(ge=0, le=100_000_000)
    note: str | None = Field(default=None, max_length=200)


class CashUpOut(StrictModel):
    id: int
    office: str
    day: date
    status: Literal["declared", "confirmed"]
    counted: int
    note: str | None
    declared_by: int
    declared_at: datetime
    confirmed_by: int | None
    confirmed_at: datetime | None
    # Shown once confirmed (the count is blind): the day's counter top-ups at this office,
    # how many, and counted − expected (過不足: + over, − short).
    expected: int | None
    top_ups: int | None
    difference: int | None
